//! The link's two halves, and MQTT over WebSocket (`ws://`, `wss://`) on top of either TCP or
//! TLS: the HTTP upgrade, then every MQTT write sent as one masked binary frame and the
//! broker's frames read back as the MQTT byte stream. The protocol is `lua_device::ws`
//! (host-tested); this file only moves its bytes.
//!
//! Nothing here depends on the chip: luagen's host tests compile this file as it is and run it
//! against mosquitto's WebSocket listeners over tokio.

use alloc::vec::Vec;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use lua_device::ws::{apply_mask, binary_header, Close, Decoder, Handshake};

/// The receiving half of the link to the broker.
pub(crate) trait Rx {
    type Error;
    /// Some bytes; 0 when the broker closed the connection.
    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

/// The sending half of the link to the broker.
pub(crate) trait Tx {
    type Error;
    /// All of `data`, queued (with TLS, into the record being built).
    async fn write(&mut self, data: &[u8]) -> Result<(), Self::Error>;
    /// Everything queued, handed to the network stack.
    async fn flush(&mut self) -> Result<(), Self::Error>;
}

/// Why the WebSocket failed.
#[derive(Debug)]
pub enum Error<E> {
    /// The link under it failed.
    Link(E),
    /// The server broke the protocol, or refused the upgrade.
    Ws(lua_device::ws::Error),
    /// The connection ended during the upgrade.
    Eof,
    /// The server closed the WebSocket (the close was answered).
    Closed(Close),
}

/// The masking key of each client frame: fresh randomness every time, as RFC 6455 asks.
pub type Mask = fn() -> [u8; 4];

/// Ask the server to switch to WebSocket with the `mqtt` subprotocol, and check its answer.
/// `tls`: the URL is `wss://`, whose default port (443) `Host` leaves out.
pub async fn upgrade<R: Rx, W: Tx<Error = R::Error>>(
    reader: &mut R,
    writer: &mut W,
    (host, port, tls, path): (&str, u16, bool, &str),
    nonce: [u8; 16],
) -> Result<(), Error<R::Error>> {
    let mut handshake = Handshake::new(nonce);
    let mut request = Vec::new();
    handshake
        .request(host, port, tls, path, &mut request)
        .map_err(Error::Ws)?;
    writer.write(&request).await.map_err(Error::Link)?;
    writer.flush().await.map_err(Error::Link)?;
    // Byte by byte: the head is short (and bounded by the handshake), and the frames right
    // after it stay in the link for the reader.
    let mut byte = [0u8];
    loop {
        if reader.recv(&mut byte).await.map_err(Error::Link)? == 0 {
            return Err(Error::Eof);
        }
        if handshake.receive(&byte).map_err(Error::Ws)?.is_some() {
            return Ok(());
        }
    }
}

/// The broker's frames as the MQTT byte stream; pings are answered through the shared writer.
pub struct WsReader<'w, R, W> {
    inner: R,
    writer: &'w Mutex<NoopRawMutex, W>,
    mask: Mask,
    decoder: Decoder,
}

impl<'w, R, W> WsReader<'w, R, W> {
    pub fn new(inner: R, writer: &'w Mutex<NoopRawMutex, W>, mask: Mask) -> Self {
        Self {
            inner,
            writer,
            mask,
            decoder: Decoder::new(),
        }
    }
}

impl<R: Rx, W: Tx<Error = R::Error>> WsReader<'_, R, W> {
    async fn send(&mut self, frame: &[u8]) -> Result<(), Error<R::Error>> {
        let mut writer = self.writer.lock().await;
        writer.write(frame).await.map_err(Error::Link)?;
        writer.flush().await.map_err(Error::Link)
    }
}

impl<R: Rx, W: Tx<Error = R::Error>> Rx for WsReader<'_, R, W> {
    type Error = Error<R::Error>;

    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        loop {
            let n = self.inner.recv(buf).await.map_err(Error::Link)?;
            if n == 0 {
                return Ok(0);
            }
            // Frames are unwrapped where they were read: no copy, no buffer of their own.
            let data = self
                .decoder
                .decode_in_place(&mut buf[..n])
                .map_err(Error::Ws)?;
            if let Some(pong) = self.decoder.take_pong((self.mask)()) {
                self.send(pong.as_bytes()).await?;
            }
            if let Some(close) = self.decoder.close().copied() {
                self.send(close.reply((self.mask)()).as_bytes()).await?;
                return Err(Error::Closed(close));
            }
            if data > 0 {
                return Ok(data);
            }
        }
    }
}

/// MQTT bytes out, one masked binary frame per write.
pub struct WsWriter<'w, W> {
    writer: &'w Mutex<NoopRawMutex, W>,
    mask: Mask,
}

impl<'w, W> WsWriter<'w, W> {
    pub fn new(writer: &'w Mutex<NoopRawMutex, W>, mask: Mask) -> Self {
        Self { writer, mask }
    }
}

impl<W: Tx> Tx for WsWriter<'_, W> {
    type Error = Error<W::Error>;

    async fn write(&mut self, data: &[u8]) -> Result<(), Self::Error> {
        let mask = (self.mask)();
        // Held for the whole frame, so a pong never lands inside it.
        let mut writer = self.writer.lock().await;
        writer
            .write(binary_header(data.len(), mask).as_bytes())
            .await
            .map_err(Error::Link)?;
        // Masked through a small copy: the caller's bytes stay as they are.
        let mut chunk = [0u8; 128];
        for (i, piece) in data.chunks(chunk.len()).enumerate() {
            let masked = &mut chunk[..piece.len()];
            masked.copy_from_slice(piece);
            apply_mask(masked, mask, i * 128);
            writer.write(masked).await.map_err(Error::Link)?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.writer.lock().await.flush().await.map_err(Error::Link)
    }
}
