//! The gateway's listeners. Every client connects here, never to the broker directly: the
//! front door reads each MQTT packet the client sends, authenticates the CONNECT against the
//! key policy (answering a refusal with a proper CONNACK return code), confines a device's
//! PUBLISH and SUBSCRIBE packets to its own topic prefix, logs the traffic, and relays the rest
//! unchanged to rumqttd on a private loopback port.
//!
//! rumqttd's auth hook admits only connections that carry the front door's per-process
//! ticket, so the broker's own port gives no way around these checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Login, Packet, PubAck, SubAck, SubscribeReasonCode,
};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use ws_stream_tungstenite::WsStream;

use crate::keys::{loggable_payload, mask, KeyPolicy};
use crate::principal::Principal;

/// Largest packet relayed: a 4 MiB payload and its envelope.
const MAX_PACKET: usize = 4 * 1024 * 1024 + 64 * 1024;
/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared by every connection.
pub(crate) struct FrontDoor {
    pub(crate) keys: Arc<KeyPolicy>,
    /// The broker's private listener.
    pub(crate) upstream: SocketAddr,
    /// The password rumqttd's auth hook wants; the client's own key never reaches the broker.
    pub(crate) ticket: Arc<str>,
}

/// Which listener a connection came through, for the log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Transport {
    Tcp,
    WebSocket,
}

impl FrontDoor {
    /// Accept connections forever; each is served on its own task.
    pub(crate) async fn listen(
        self: Arc<Self>,
        listener: TcpListener,
        transport: Transport,
        tls: Option<TlsAcceptor>,
    ) {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let door = Arc::clone(&self);
            let tls = tls.clone();
            tokio::spawn(async move {
                let served = match (tls, transport) {
                    (None, Transport::Tcp) => door.relay(tcp, peer).await,
                    (None, Transport::WebSocket) => door.relay_ws(tcp, peer).await,
                    (Some(tls), transport) => match tls.accept(tcp).await {
                        Ok(stream) => match transport {
                            Transport::Tcp => door.relay(stream, peer).await,
                            Transport::WebSocket => door.relay_ws(stream, peer).await,
                        },
                        Err(e) => Err(anyhow::Error::new(e).context("TLS handshake")),
                    },
                };
                if let Err(e) = served {
                    tracing::debug!(%peer, error = format!("{e:#}"), "connection ended");
                }
            });
        }
    }

    async fn relay_ws<S>(&self, stream: S, peer: SocketAddr) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ws = async_tungstenite::tokio::accept_hdr_async(stream, offer_mqtt_subprotocol)
            .await
            .context("WebSocket handshake")?;
        self.relay(WsStream::new(ws), peer).await
    }

    /// Serve one client connection from its CONNECT to its end.
    async fn relay<S>(&self, client: S, peer: SocketAddr) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut from_client, mut to_client) = tokio::io::split(client);
        let mut buf = BytesMut::with_capacity(4096);
        let first = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut from_client, &mut buf))
            .await
            .context("no CONNECT in time")??
            .context("closed before CONNECT")?;
        let Packet::Connect(connect) = parse(&first)? else {
            bail!("the first packet is not CONNECT");
        };
        let principal = match self.admit(&connect, peer) {
            Ok(principal) => principal,
            Err(code) => {
                to_client
                    .write_all(&encode(Packet::ConnAck(ConnAck::new(code, false))))
                    .await?;
                to_client.flush().await?;
                return Ok(());
            }
        };
        let who = principal.label();

        let upstream = TcpStream::connect(self.upstream)
            .await
            .context("connecting to the embedded broker")?;
        let _ = upstream.set_nodelay(true);
        let (from_broker, mut to_broker) = upstream.into_split();
        let mut forwarded: Connect = connect.clone();
        let username = connect
            .login
            .as_ref()
            .map(|l| l.username.clone())
            .unwrap_or_default();
        forwarded.login = Some(Login {
            username,
            password: self.ticket.to_string(),
        });
        to_broker
            .write_all(&encode(Packet::Connect(forwarded)))
            .await?;

        // One writer owns the client's socket: broker packets and the door's own answers
        // (acks of refused packets) are whole frames, so they never interleave mid-packet.
        let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(256);
        let writer = tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if to_client.write_all(&frame).await.is_err() {
                    break;
                }
                if out_rx.is_empty() && to_client.flush().await.is_err() {
                    break;
                }
            }
            let _ = to_client.shutdown().await;
        });
        let down_tx = out_tx.clone();
        let mut down = tokio::spawn(async move {
            let mut from_broker = QuickAck(from_broker);
            let mut buf = BytesMut::with_capacity(4096);
            while let Ok(Some(frame)) = read_frame(&mut from_broker, &mut buf).await {
                if down_tx.send(frame).await.is_err() {
                    break;
                }
            }
        });
        let up = confine(&principal, &mut from_client, buf, &mut to_broker, &out_tx);
        tokio::select! {
            result = up => {
                if let Err(e) = result {
                    tracing::warn!(client = %who, error = format!("{e:#}"), "dropping connection");
                }
                down.abort();
            }
            _ = &mut down => {}
        }
        drop(out_tx);
        let _ = writer.await;
        tracing::info!(client = %who, "disconnected");
        Ok(())
    }

    /// Check a CONNECT; the error is the CONNACK return code of the refusal.
    fn admit(&self, connect: &Connect, peer: SocketAddr) -> Result<Principal, ConnectReturnCode> {
        let Some(login) = &connect.login else {
            tracing::warn!(%peer, client_id = %connect.client_id, "refused: no username/password");
            return Err(ConnectReturnCode::NotAuthorized);
        };
        let Some(principal) = Principal::from_username(&login.username) else {
            tracing::warn!(%peer, username = %login.username,
                "refused: username is neither `agentId:deviceName` nor `agentId`");
            return Err(ConnectReturnCode::BadUserNamePassword);
        };
        if let Some(wanted) = principal.required_client_id() {
            if connect.client_id != wanted {
                tracing::warn!(%peer, client = %principal.label(), client_id = %connect.client_id,
                    "refused: a device's client id must be {wanted}");
                return Err(ConnectReturnCode::BadClientId);
            }
        }
        // The broker publishes the will on the device's behalf: it obeys the same confinement.
        if let Some(will) = &connect.last_will {
            if !principal.may_publish(&will.topic) {
                tracing::warn!(%peer, client = %principal.label(), topic = %will.topic,
                    "refused: last will outside the client's topics");
                return Err(ConnectReturnCode::NotAuthorized);
            }
        }
        if !self.keys.accepts(principal.agent_id(), &login.password) {
            tracing::warn!(%peer, client = %principal.label(), key = %mask(&login.password),
                "refused: API key not accepted");
            return Err(ConnectReturnCode::NotAuthorized);
        }
        tracing::info!(%peer, client = %principal.label(), client_id = %connect.client_id,
            clean_session = connect.clean_session, key = %mask(&login.password), "connected");
        Ok(principal)
    }
}

/// Relay the client's packets to the broker, refusing what the principal may not do.
async fn confine<R, W>(
    principal: &Principal,
    from_client: &mut R,
    mut buf: BytesMut,
    to_broker: &mut W,
    to_client: &mpsc::Sender<Bytes>,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let who = principal.label();
    while let Some(frame) = read_frame(from_client, &mut buf).await? {
        match frame[0] >> 4 {
            // PUBLISH
            3 => {
                let Packet::Publish(publish) = parse(&frame)? else {
                    bail!("malformed PUBLISH");
                };
                if !principal.may_publish(&publish.topic) {
                    tracing::warn!(client = %who, topic = %publish.topic,
                        "DENIED publish outside the client's topics (dropped)");
                    match publish.qos {
                        QoS::AtMostOnce => {}
                        // Acknowledged so the client does not resend it forever, as brokers
                        // with ACLs do; nobody receives it.
                        QoS::AtLeastOnce => {
                            let _ = to_client
                                .send(encode(Packet::PubAck(PubAck::new(publish.pkid))))
                                .await;
                        }
                        QoS::ExactlyOnce => bail!("QoS 2 publish to a forbidden topic"),
                    }
                    continue;
                }
                log_publish(&who, &publish.topic, &publish.payload, publish.retain);
            }
            // SUBSCRIBE
            8 => {
                let Packet::Subscribe(subscribe) = parse(&frame)? else {
                    bail!("malformed SUBSCRIBE");
                };
                let denied: Vec<&str> = subscribe
                    .filters
                    .iter()
                    .filter(|f| !principal.may_subscribe(&f.path))
                    .map(|f| f.path.as_str())
                    .collect();
                if !denied.is_empty() {
                    tracing::warn!(client = %who, filters = ?denied,
                        "DENIED subscription outside the client's topics");
                    let codes = vec![SubscribeReasonCode::Failure; subscribe.filters.len()];
                    let _ = to_client
                        .send(encode(Packet::SubAck(SubAck::new(subscribe.pkid, codes))))
                        .await;
                    continue;
                }
                let filters: Vec<&str> =
                    subscribe.filters.iter().map(|f| f.path.as_str()).collect();
                tracing::debug!(client = %who, ?filters, "subscribed");
            }
            // A second CONNECT is a protocol violation.
            1 => bail!("second CONNECT"),
            _ => {}
        }
        to_broker.write_all(&frame).await?;
    }
    Ok(())
}

fn log_publish(who: &str, topic: &str, payload: &[u8], retain: bool) {
    let shown = loggable_payload(payload);
    let retained = if retain { " (retained)" } else { "" };
    if topic.ends_with("/heartbeat") {
        tracing::debug!("{who} → {topic}{retained} {shown}");
    } else {
        tracing::info!("{who} → {topic}{retained} {shown}");
    }
}

/// The next whole MQTT packet, raw; `None` at end of stream.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> Result<Option<Bytes>> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), MAX_PACKET) {
            Ok(header) => return Ok(Some(buf.split_to(header.frame_length()).freeze())),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => bail!("malformed MQTT packet: {e:?}"),
        }
        if r.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

fn parse(frame: &Bytes) -> Result<Packet> {
    let mut bytes = BytesMut::from(&frame[..]);
    Packet::read(&mut bytes, MAX_PACKET)
        .map_err(|e| anyhow::anyhow!("malformed MQTT packet: {e:?}"))
}

fn encode(packet: Packet) -> Bytes {
    let mut out = BytesMut::new();
    packet
        .write(&mut out, usize::MAX)
        .expect("packets the door builds always encode");
    out.freeze()
}

/// The broker's side of the relay, acknowledging every read at once. rumqttd leaves Nagle on
/// for its sockets, so without this a response that follows a PUBACK on the same connection
/// waits for the door's delayed ACK: about 40 ms per call.
struct QuickAck(tokio::net::tcp::OwnedReadHalf);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            quick_ack(self.0.as_ref());
        }
        polled
    }
}

#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int that outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}

// The signature is the handshake callback's, fixed by tungstenite.
#[allow(clippy::result_large_err)]
fn offer_mqtt_subprotocol(
    _request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    response
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    Ok(response)
}
