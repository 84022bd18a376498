//! Uploads to the Lua CDN (`cdn` feature): a handler hands over a buffer, the CDN keeps it and
//! answers with its id; `Upload::url` is the file's public URL, for a command's result or a
//! trigger. The request is the official client's contract (`POST {LUA_CDN_URL}/upload`,
//! multipart/form-data, the file in the part `file`, `Authorization: Bearer` with this
//! device's API key), sent by `cdn/http.rs` with an exact Content-Length, the buffer written
//! in place, never copied whole.
//!
//! `https://` goes through the firmware's own TLS (`tls.rs`: TLS 1.3, or the 1.2 fallback this
//! boot settled on) and trust store (`roots.der`, or `LUA_MQTT_CA` in its place), checked as
//! the broker is; the URL picks the link at build time, as `LUA_MQTT_URL` does. One upload runs
//! at a time, in a TCP socket and buffers of its own (static: 24 KiB with TLS, 4 KiB without),
//! while the MQTT connection goes on beside it.

mod http;

use alloc::string::String;
use core::cell::Cell;
#[cfg(cdn_tls)]
use core::cell::RefCell;

use embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use embassy_net::{IpAddress, Stack};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::ThreadModeMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::Write;

pub use self::http::{CdnError, Upload};
use crate::chip::Rng;
use crate::config;
#[cfg(cdn_tls)]
use crate::tls;
use crate::ws::{Rx, Tx};

/// An upload's time limit: 30 s (the connection and the TLS handshake, 2-5 s of the M0+'s
/// time, with the answer) and a second for every 8 KiB of the file.
pub fn time_limit(file_len: usize) -> Duration {
    Duration::from_secs(30 + (file_len / 8192) as u64)
}
/// How long the link may go quiet before the socket gives up.
const IDLE: Duration = Duration::from_secs(20);

const RX_BYTES: usize = 2048;
const TX_BYTES: usize = 2048;

/// The upload's socket and TLS buffers, one upload at a time.
struct Buffers {
    rx: [u8; RX_BYTES],
    tx: [u8; TX_BYTES],
    #[cfg(cdn_tls)]
    tls_read: [u8; tls::READ_BUFFER],
    #[cfg(cdn_tls)]
    tls_write: [u8; tls::WRITE_BUFFER],
}

static BUFFERS: Mutex<CriticalSectionRawMutex, Buffers> = Mutex::new(Buffers {
    rx: [0; RX_BYTES],
    tx: [0; TX_BYTES],
    #[cfg(cdn_tls)]
    tls_read: [0; tls::READ_BUFFER],
    #[cfg(cdn_tls)]
    tls_write: [0; tls::WRITE_BUFFER],
});

/// The network stack, handed over by `main` once it is up (every task runs in thread mode).
static STACK: ThreadModeMutex<Cell<Option<Stack<'static>>>> = ThreadModeMutex::new(Cell::new(None));

/// Called once by `main`: uploads use this stack.
pub fn init(stack: Stack<'static>) {
    STACK.lock(|s| s.set(Some(stack)));
}

impl Upload {
    /// The file's public URL: `LUA_CDN_URL`, a slash, its id.
    pub fn url(&self) -> String {
        let mut url = String::from(config::CDN_URL);
        url.push('/');
        url.push_str(&self.file_id);
        url
    }
}

/// Upload `file` to the CDN as `filename` (`content_type`, e.g. `image/jpeg`), and wait for
/// its answer, at most [`time_limit`]. Another upload waits for this one to end.
pub async fn upload(file: &[u8], filename: &str, content_type: &str) -> Result<Upload, CdnError> {
    let Some(stack) = STACK.lock(Cell::get) else {
        return Err(CdnError::Io);
    };
    let mut buffers = BUFFERS.lock().await;
    let mut random = [0u8; 12];
    let boundary = loop {
        Rng.fill_bytes(&mut random);
        if let Some(b) = http::boundary(random, file) {
            break b;
        }
    };
    let request = http::Request {
        host: config::CDN_HOST,
        port: config::CDN_PORT,
        tls: cfg!(cdn_tls),
        path: config::CDN_UPLOAD_PATH,
        api_key: config::API_KEY,
        filename,
        content_type,
        boundary: &boundary,
    };
    let attempt = async {
        // A CDN that refuses TLS 1.3 is asked again at once, in 1.2 (`tls::connect`).
        for _ in 0..2 {
            match attempt(stack, &mut buffers, &request, file).await {
                Err(Attempt::Again) => continue,
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(upload) => return Ok(upload),
            }
        }
        Err(CdnError::Tls)
    };
    let result = with_timeout(time_limit(file.len()), attempt)
        .await
        .unwrap_or(Err(CdnError::Timeout));
    match &result {
        Ok(upload) => defmt::info!(
            "CDN: stored {=usize} bytes as {=str}",
            file.len(),
            upload.file_id.as_str()
        ),
        Err(e) => defmt::warn!("CDN: upload of {=usize} bytes failed: {}", file.len(), e),
    }
    result
}

enum Attempt {
    /// The CDN refused TLS 1.3: again, in 1.2.
    Again,
    Failed(CdnError),
}

impl From<CdnError> for Attempt {
    fn from(e: CdnError) -> Self {
        Attempt::Failed(e)
    }
}

async fn attempt(
    stack: Stack<'static>,
    buffers: &mut Buffers,
    request: &http::Request<'_>,
    file: &[u8],
) -> Result<Upload, Attempt> {
    let address = resolve(stack).await?;
    let mut socket = TcpSocket::new(stack, &mut buffers.rx, &mut buffers.tx);
    socket.set_timeout(Some(IDLE));
    socket
        .connect((address, config::CDN_PORT))
        .await
        .map_err(|_| CdnError::Io)?;
    let (reader, writer) = socket.split();
    #[cfg(not(cdn_tls))]
    let result = http::exchange(&mut Tcp(reader), &mut Tcp(writer), request, file).await;
    #[cfg(cdn_tls)]
    let result = {
        let (reader, writer) = (RefCell::new(reader), RefCell::new(writer));
        let rng = tls::rng(|bytes| Rng.fill_bytes(bytes));
        let mut link = tls::connect::<_, crate::clock::Wall>(
            tls::Duplex::new(&reader, &writer),
            config::CDN_HOST,
            config::MQTT_CA_DER,
            rng,
            &mut buffers.tls_read,
            &mut buffers.tls_write,
        )
        .await
        .map_err(|e| {
            defmt::warn!(
                "CDN: TLS handshake with {} failed: {}",
                config::CDN_HOST,
                defmt::Display2Format(&e)
            );
            match e {
                tls::Error::Fallback(_) => Attempt::Again,
                _ => Attempt::Failed(CdnError::Tls),
            }
        })?;
        let (reader, writer) = link.split();
        http::exchange(&mut Tls(reader), &mut Tls(writer), request, file).await
    };
    // A moment for the FIN to go out before the socket is dropped (which forgets it).
    socket.close();
    let _ = with_timeout(Duration::from_secs(2), socket.flush()).await;
    Ok(result?)
}

async fn resolve(stack: Stack<'static>) -> Result<IpAddress, CdnError> {
    if let Some(ip) = config::CDN_IPV4 {
        return Ok(IpAddress::Ipv4(ip.into()));
    }
    let found = stack
        .dns_query(config::CDN_HOST, embassy_net::dns::DnsQueryType::A)
        .await
        .map_err(|_| CdnError::Io)?;
    found.first().copied().ok_or(CdnError::Io)
}

/// The TCP link's halves as `cdn/http.rs` reads and writes them.
struct Tcp<T>(T);

impl Rx for Tcp<TcpReader<'_>> {
    type Error = CdnError;

    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, CdnError> {
        embedded_io_async::Read::read(&mut self.0, buf)
            .await
            .map_err(|_| CdnError::Io)
    }
}

impl Tx for Tcp<TcpWriter<'_>> {
    type Error = CdnError;

    async fn write(&mut self, data: &[u8]) -> Result<(), CdnError> {
        self.0.write_all(data).await.map_err(|_| CdnError::Io)
    }

    // The stack sends what it holds on its own; its flush would wait for the peer's ACK.
    async fn flush(&mut self) -> Result<(), CdnError> {
        Ok(())
    }
}

/// The TLS session's halves as `cdn/http.rs` reads and writes them.
#[cfg(cdn_tls)]
struct Tls<T>(T);

#[cfg(cdn_tls)]
impl<'a, S: embedded_io_async_07::Read + 'a> Rx for Tls<tls::LinkReader<'a, S>> {
    type Error = CdnError;

    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, CdnError> {
        embedded_io_async_07::Read::read(&mut self.0, buf)
            .await
            .map_err(|_| CdnError::Tls)
    }
}

#[cfg(cdn_tls)]
impl<'a, S: embedded_io_async_07::Write + 'a> Tx for Tls<tls::LinkWriter<'a, S>> {
    type Error = CdnError;

    async fn write(&mut self, data: &[u8]) -> Result<(), CdnError> {
        embedded_io_async_07::Write::write_all(&mut self.0, data)
            .await
            .map_err(|_| CdnError::Tls)
    }

    // A record goes out at flush: before it, the data only sits in the TLS buffer.
    async fn flush(&mut self) -> Result<(), CdnError> {
        embedded_io_async_07::Write::flush(&mut self.0)
            .await
            .map_err(|_| CdnError::Tls)
    }
}

impl defmt::Format for CdnError {
    fn format(&self, f: defmt::Formatter) {
        match self {
            CdnError::Unauthorized(m) => defmt::write!(f, "the API key was refused: {=str}", m),
            CdnError::TooLarge(m) => defmt::write!(f, "too large: {=str}", m),
            CdnError::Http(status, m) => defmt::write!(f, "HTTP {=u16}: {=str}", status, m),
            CdnError::BadResponse => defmt::write!(f, "not the CDN's answer"),
            CdnError::Io => defmt::write!(f, "connection failed"),
            CdnError::Tls => defmt::write!(f, "TLS failed"),
            CdnError::Timeout => defmt::write!(f, "timed out"),
        }
    }
}
