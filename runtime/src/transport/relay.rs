//! Oversized commands never become a connection error.
//!
//! rumqttc's codec turns a packet past the size limit into an error: the device reconnects,
//! the broker sends the unacknowledged command again, and the device is wedged for good. So
//! rumqttc talks to the broker through this relay, over a Unix socket of the process's own.
//! Towards the device the relay passes every packet within the limit untouched, and turns an
//! oversized PUBLISH into a small one with the same topic, flags and packet id, whose payload
//! says how large the original was and what `commandId` and `command` a streaming scan of it
//! found ([`crate::scan`]). The excess is read and dropped as it arrives: the relay never
//! holds more than a buffer of it (over WebSocket, one message: see [`super::websocket`]). The
//! device then acknowledges the stub like any command and answers it with an error naming the
//! limit.
//!
//! Every scheme goes through the relay: for `ws://` and `wss://` it opens the WebSocket itself
//! and relays the bytes inside it. Without Unix sockets rumqttc connects straight to the broker.

#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
#[cfg(unix)]
use std::sync::Mutex;

#[cfg(unix)]
use rumqttc::tokio_rustls::TlsConnector;
#[cfg(unix)]
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
#[cfg(unix)]
use tokio::net::{TcpStream, UnixListener, UnixStream};
#[cfg(unix)]
use tokio::task::JoinHandle;

use crate::scan::CommandScan;

use super::url::BrokerUrl;
#[cfg(unix)]
use super::{url::Scheme, websocket};

/// First byte of a stub's payload: no JSON text starts with it, so no real command is one.
pub(crate) const STUB_MARK: u8 = 0;

/// Where the relay listens, and its accept loop; both go when it is dropped.
#[cfg(unix)]
pub(crate) struct Relay {
    path: PathBuf,
    task: JoinHandle<()>,
    // Why the last connection to the broker failed (refused, certificate...): rumqttc only
    // sees its Unix socket close, so the driver reports this instead.
    failure: Arc<Mutex<Option<std::io::Error>>>,
    // The connections still relaying: what rumqttc wrote last (its DISCONNECT) must reach the
    // broker before the process may exit.
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// No relay without Unix sockets.
#[cfg(not(unix))]
pub(crate) enum Relay {}

#[cfg(not(unix))]
impl Relay {
    pub(crate) fn start(
        _url: BrokerUrl,
        _tls: Option<Arc<ClientConfig>>,
        _max_packet: usize,
    ) -> std::io::Result<Self> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub(crate) fn path(&self) -> String {
        match *self {}
    }

    pub(crate) fn take_failure(&self) -> Option<std::io::Error> {
        match *self {}
    }

    pub(crate) async fn drain(&self, _limit: std::time::Duration) {
        match *self {}
    }
}

#[cfg(unix)]
impl Relay {
    /// Listen on a fresh Unix socket and relay each connection to the broker at `url`, over
    /// TLS when `tls` is given, with packets over `max_packet` bytes cut down to stubs.
    pub(crate) fn start(
        url: BrokerUrl,
        tls: Option<Arc<ClientConfig>>,
        max_packet: usize,
    ) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "lua-device-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        let connections = Arc::new(Mutex::new(Vec::<JoinHandle<()>>::new()));
        let live = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((device, _)) = listener.accept().await {
                let (url, tls, failed) = (url.clone(), tls.clone(), Arc::clone(&failed));
                let mut live = live.lock().expect("relay connections");
                live.retain(|c| !c.is_finished());
                live.push(tokio::spawn(async move {
                    let broker = match connect(&url, tls).await {
                        Ok(broker) => broker,
                        Err(e) => {
                            tracing::debug!(error = %e, "relay could not reach the broker");
                            *failed.lock().expect("relay failure") = Some(e);
                            return;
                        }
                    };
                    if let Err(e) = pipe(device, broker, max_packet).await {
                        tracing::debug!(error = %e, "relay connection ended");
                    }
                }));
            }
        });
        Ok(Self {
            path,
            task,
            failure,
            connections,
        })
    }

    /// Wait, at most `limit`, for the connections rumqttc has closed to pass on what it wrote
    /// last and close towards the broker.
    pub(crate) async fn drain(&self, limit: std::time::Duration) {
        let connections = std::mem::take(&mut *self.connections.lock().expect("relay connections"));
        let deadline = tokio::time::Instant::now() + limit;
        for connection in connections {
            let _ = tokio::time::timeout_at(deadline, connection).await;
        }
    }

    /// Why the last attempt to reach the broker failed, if it did.
    pub(crate) fn take_failure(&self) -> Option<std::io::Error> {
        self.failure.lock().expect("relay failure").take()
    }

    /// The socket rumqttc connects to.
    pub(crate) fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

#[cfg(unix)]
impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Either side of the broker connection.
#[cfg(unix)]
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
#[cfg(unix)]
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

#[cfg(unix)]
async fn connect(
    url: &BrokerUrl,
    tls: Option<Arc<ClientConfig>>,
) -> std::io::Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
    // As rumqttc's own sockets: small responses must not wait on Nagle's algorithm.
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = ServerName::try_from(url.host.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Box::new(TlsConnector::from(config).connect(name, tcp).await?)
        }
    };
    match url.scheme {
        Scheme::Tcp | Scheme::Tls => Ok(stream),
        Scheme::Ws | Scheme::Wss => Ok(Box::new(websocket::open(url, stream).await?)),
    }
}

/// Both directions until either ends; the device's side is copied as is.
#[cfg(unix)]
async fn pipe<S: AsyncRead + AsyncWrite + Unpin>(
    device: UnixStream,
    broker: S,
    max_packet: usize,
) -> std::io::Result<()> {
    let (mut device_rx, mut device_tx) = device.into_split();
    let (mut broker_rx, mut broker_tx) = tokio::io::split(broker);
    tokio::select! {
        // rumqttc closed its side: pass the close on (TLS close_notify, FIN) once its last
        // bytes, a DISCONNECT, are out.
        r = tokio::io::copy(&mut device_rx, &mut broker_tx) => {
            r?;
            broker_tx.shutdown().await
        }
        r = filter(&mut broker_rx, &mut device_tx, max_packet) => r,
    }
}

/// Packets from the broker to the device, oversized PUBLISHes cut down to stubs.
pub(crate) async fn filter<R, W>(rx: &mut R, tx: &mut W, max_packet: usize) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let first = match rx.read_u8().await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let (len, header) = remaining_length(rx, first).await?;
        if len + header.len() <= max_packet || first >> 4 != 3 {
            tx.write_all(&header).await?;
            let copied = tokio::io::copy(&mut (&mut *rx).take(len as u64), tx).await?;
            if copied < len as u64 {
                return Ok(());
            }
            tx.flush().await?;
            continue;
        }
        let stub = cut_down(rx, first, len, max_packet, &mut buf).await?;
        tx.write_all(&stub).await?;
        tx.flush().await?;
    }
}

/// The remaining length that follows `first`, and the fixed header's bytes.
async fn remaining_length<R: AsyncRead + Unpin>(
    rx: &mut R,
    first: u8,
) -> std::io::Result<(usize, Vec<u8>)> {
    let mut header = vec![first];
    let mut len = 0usize;
    for shift in (0..4).map(|i| 7 * i) {
        let b = rx.read_u8().await?;
        header.push(b);
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok((len, header));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "malformed remaining length",
    ))
}

/// Read an oversized PUBLISH of `len` remaining bytes to its end and return the stub packet.
async fn cut_down<R: AsyncRead + Unpin>(
    rx: &mut R,
    first: u8,
    len: usize,
    max_packet: usize,
    buf: &mut [u8],
) -> std::io::Result<Vec<u8>> {
    let topic_len = usize::from(rx.read_u16().await?);
    let mut topic = vec![0; topic_len];
    rx.read_exact(&mut topic).await?;
    let qos = (first >> 1) & 3;
    let pkid = if qos > 0 {
        Some(rx.read_u16().await?)
    } else {
        None
    };
    let head = 2 + topic_len + if pkid.is_some() { 2 } else { 0 };
    let payload_len = len.saturating_sub(head);
    let mut scanner = CommandScan::new();
    let mut left = payload_len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = rx.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        scanner.feed(&buf[..n]);
        left -= n;
    }
    let found = scanner.finish();
    tracing::warn!(
        bytes = payload_len,
        limit = max_packet,
        "a message over the size limit was read and dropped"
    );
    let mut payload = vec![STUB_MARK];
    payload.extend_from_slice(
        json!({
            "bytes": payload_len,
            "limit": max_packet,
            "commandId": found.command_id,
            "command": found.command,
        })
        .to_string()
        .as_bytes(),
    );
    Ok(publish_packet(first, &topic, pkid, &payload))
}

/// A PUBLISH packet: fixed header `first`, then topic, packet id and payload.
fn publish_packet(first: u8, topic: &[u8], pkid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + topic.len() + payload.len());
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic);
    if let Some(pkid) = pkid {
        body.extend_from_slice(&pkid.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut packet = vec![first];
    let mut n = body.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        packet.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    packet
}

/// What a stub says, for the command path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Oversized {
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
    pub(crate) command_id: Option<String>,
    pub(crate) command: Option<String>,
}

/// The stub's content when `payload` is one.
pub(crate) fn oversized(payload: &[u8]) -> Option<Oversized> {
    let (&STUB_MARK, json) = payload.split_first()? else {
        return None;
    };
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let text = |key: &str| v[key].as_str().map(str::to_string);
    Some(Oversized {
        bytes: v["bytes"].as_u64()?,
        limit: v["limit"].as_u64()?,
        command_id: text("commandId"),
        command: text("command"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // QoS 1 PUBLISH, and the same retained.
    const QOS1: u8 = 0x32;
    const QOS1_RETAINED: u8 = 0x33;

    /// (first byte, topic, packet id, payload) of each QoS 1 PUBLISH in `wire`.
    fn read_all(mut wire: &[u8]) -> Vec<(u8, Vec<u8>, u16, Vec<u8>)> {
        let mut packets = Vec::new();
        while let Some((&first, rest)) = wire.split_first() {
            let (mut len, mut shift, mut i) = (0usize, 0, 0);
            loop {
                len |= usize::from(rest[i] & 0x7f) << shift;
                shift += 7;
                i += 1;
                if rest[i - 1] & 0x80 == 0 {
                    break;
                }
            }
            let body = &rest[i..i + len];
            let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let topic = body[2..2 + topic_len].to_vec();
            let pkid = u16::from_be_bytes([body[2 + topic_len], body[3 + topic_len]]);
            packets.push((first, topic, pkid, body[4 + topic_len..].to_vec()));
            wire = &rest[i + len..];
        }
        packets
    }

    #[tokio::test]
    async fn small_packets_pass_and_an_oversized_publish_becomes_a_stub() {
        let big_payload = format!(
            r#"{{"commandId":"c-1","command":"print","payload":"{}"}}"#,
            "x".repeat(100_000)
        );
        let small = publish_packet(QOS1, b"t/command", Some(7), b"{}");
        let mut wire = small.clone();
        wire.extend(publish_packet(
            QOS1_RETAINED,
            b"t/command",
            Some(8),
            big_payload.as_bytes(),
        ));
        wire.extend(&small);
        let mut out = Vec::new();
        filter(&mut &wire[..], &mut out, 1000).await.unwrap();

        let packets = read_all(&out);
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0], packets[2]);
        assert_eq!(packets[0], (QOS1, b"t/command".to_vec(), 7, b"{}".to_vec()));
        let (first, topic, pkid, payload) = &packets[1];
        assert_eq!(
            (*first, &topic[..], *pkid),
            (QOS1_RETAINED, &b"t/command"[..], 8)
        );
        assert!(payload.len() < 200);
        assert_eq!(
            oversized(payload),
            Some(Oversized {
                bytes: big_payload.len() as u64,
                limit: 1000,
                command_id: Some("c-1".into()),
                command: Some("print".into()),
            })
        );
        assert_eq!(
            oversized(br#"{"commandId":"x"}"#),
            None,
            "a command is no stub"
        );
    }

    #[tokio::test]
    async fn a_stream_cut_inside_an_oversized_publish_is_an_error_not_a_stub() {
        let wire = publish_packet(QOS1, b"t", Some(1), &[b'x'; 5000]);
        let mut out = Vec::new();
        assert!(filter(&mut &wire[..3000], &mut out, 1000).await.is_err());
        assert!(out.is_empty());
    }
}
