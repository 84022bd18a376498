//! The gateway's listeners. Every client connects here, never to the broker directly: the
//! front door reads each MQTT packet the client sends, authenticates the CONNECT against the
//! key policy (answering a refusal with a proper CONNACK return code), confines the client's
//! PUBLISH and SUBSCRIBE packets to its principal's topics, logs the traffic, and relays the
//! rest to rumqttd on a private loopback port. On the way back it reads every PUBLISH the
//! broker delivers and withholds what the client may not see (registrations, which carry API
//! keys, and anything outside its topics), acknowledging it to the broker on the client's
//! behalf so that nothing stalls. See [`crate::principal`] for the rules and
//! [`crate::limits`] for what an unauthenticated peer can make the door hold.
//!
//! rumqttd's auth hook admits only connections that carry the front door's per-process
//! ticket, so the broker's own port gives no way around these checks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use bytes::{Buf, Bytes, BytesMut};
use lua_device::topic::{self, Suffix, Topics};
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Login, Packet, PubAck, Publish, SubAck,
    SubscribeReasonCode,
};
use rumqttc::mqttbytes::QoS;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout_at;
use tokio_rustls::TlsAcceptor;
use ws_stream_tungstenite::WsStream;

use crate::delivery::{client_acked, deliver, Acks};
use crate::frame::{encode, parse, read_frame, Frame};
use crate::keys::{loggable_payload, mask, KeyPolicy};
use crate::limits::{relay_limit, size, Limits};
use crate::principal::Principal;

/// Shared by every connection.
pub(crate) struct FrontDoor {
    keys: Arc<KeyPolicy>,
    /// The broker's private listener.
    upstream: SocketAddr,
    /// The password rumqttd's auth hook wants; the client's own key never reaches the broker.
    ticket: Arc<str>,
    limits: Limits,
    /// The largest packet relayed ([`relay_limit`]).
    max_packet: usize,
    /// One permit per connection.
    open: Arc<Semaphore>,
    /// One permit per connection not yet authenticated.
    pending: Arc<Semaphore>,
    turned_away: TurnedAway,
}

/// Which listener a connection came through, for the log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Transport {
    Tcp,
    WebSocket,
}

/// What a connection holds of the caps: its place, and its pre-auth place until it
/// authenticates.
struct Slot {
    _open: OwnedSemaphorePermit,
    pending: Option<OwnedSemaphorePermit>,
}

impl FrontDoor {
    pub(crate) fn new(
        keys: Arc<KeyPolicy>,
        upstream: SocketAddr,
        ticket: Arc<str>,
        limits: Limits,
    ) -> Self {
        Self {
            keys,
            upstream,
            ticket,
            open: Arc::new(Semaphore::new(limits.max_connections)),
            pending: Arc::new(Semaphore::new(limits.max_pending)),
            limits,
            max_packet: relay_limit(),
            turned_away: TurnedAway::default(),
        }
    }

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
            let Some(slot) = self.slot() else {
                // Closed at once: a peer over the cap costs a socket for a moment, no more.
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let door = Arc::clone(&self);
            let tls = tls.clone();
            tokio::spawn(async move {
                if let Err(e) = door.serve(tcp, peer, transport, tls, slot).await {
                    tracing::debug!(%peer, error = format!("{e:#}"), "connection ended");
                }
            });
        }
    }

    /// A place for a new connection, or `None` (logged) when a cap is reached.
    fn slot(&self) -> Option<Slot> {
        let Ok(open) = Arc::clone(&self.open).try_acquire_owned() else {
            self.turned_away.note(&format!(
                "{} open, the most the gateway serves",
                self.limits.max_connections
            ));
            return None;
        };
        let Ok(pending) = Arc::clone(&self.pending).try_acquire_owned() else {
            self.turned_away.note(&format!(
                "{} connections not yet authenticated, the most allowed at once",
                self.limits.max_pending
            ));
            return None;
        };
        Some(Slot {
            _open: open,
            pending: Some(pending),
        })
    }

    /// Handshakes (TLS, WebSocket) and the relay, the handshakes and the CONNECT within
    /// [`Limits::auth_timeout`] of the accept.
    async fn serve(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        transport: Transport,
        tls: Option<TlsAcceptor>,
        slot: Slot,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.limits.auth_timeout;
        let late = || {
            tracing::warn!(%peer, "closed: not authenticated within {:?}", self.limits.auth_timeout);
        };
        let Some(tls) = tls else {
            return match transport {
                Transport::Tcp => self.relay(tcp, peer, deadline, slot).await,
                Transport::WebSocket => {
                    let Ok(ws) = timeout_at(deadline, self.websocket(tcp)).await else {
                        late();
                        return Ok(());
                    };
                    self.relay(ws?, peer, deadline, slot).await
                }
            };
        };
        let Ok(stream) = timeout_at(deadline, tls.accept(tcp)).await else {
            late();
            return Ok(());
        };
        let stream = stream.context("TLS handshake")?;
        match transport {
            Transport::Tcp => self.relay(stream, peer, deadline, slot).await,
            Transport::WebSocket => {
                let Ok(ws) = timeout_at(deadline, self.websocket(stream)).await else {
                    late();
                    return Ok(());
                };
                self.relay(ws?, peer, deadline, slot).await
            }
        }
    }

    async fn websocket<S>(
        &self,
        stream: S,
    ) -> Result<impl AsyncRead + AsyncWrite + Unpin + Send + 'static>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // A frame is read whole: no larger than one relayed packet and its framing.
        let mut config = WebSocketConfig::default();
        config.max_frame_size = Some(self.max_packet + 64 * 1024);
        config.max_message_size = Some(self.max_packet + 64 * 1024);
        let ws = async_tungstenite::tokio::accept_hdr_async_with_config(
            stream,
            offer_mqtt_subprotocol,
            Some(config),
        )
        .await
        .context("WebSocket handshake")?;
        Ok(WsStream::new(ws))
    }

    /// Serve one client connection from its CONNECT to its end.
    async fn relay<S>(
        &self,
        client: S,
        peer: SocketAddr,
        deadline: tokio::time::Instant,
        mut slot: Slot,
    ) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut from_client, mut to_client) = tokio::io::split(client);
        let mut buf = BytesMut::with_capacity(4096);
        let read = read_frame(&mut from_client, &mut buf, self.limits.max_connect);
        let first = match timeout_at(deadline, read).await {
            Err(_) => {
                tracing::warn!(%peer, "closed: not authenticated within {:?}", self.limits.auth_timeout);
                return Ok(());
            }
            Ok(read) => match read?.context("closed before CONNECT")? {
                Frame::Whole(frame) => frame,
                Frame::TooLarge { len, .. } => {
                    tracing::warn!(%peer, "refused: a first packet of {len} bytes; a CONNECT may have at most {}",
                        size(self.limits.max_connect));
                    return Ok(());
                }
            },
        };
        let Packet::Connect(connect) = parse(&first, self.limits.max_connect)? else {
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
        slot.pending = None;
        let who = principal.label();

        let upstream = TcpStream::connect(self.upstream)
            .await
            .context("connecting to the embedded broker")?;
        let _ = upstream.set_nodelay(true);
        let (from_broker, mut to_broker) = upstream.into_split();
        let mut forwarded: Connect = connect.clone();
        // An empty id stays empty: the broker then makes up a unique one.
        if !connect.client_id.is_empty() {
            forwarded.client_id = principal.upstream_client_id(&connect.client_id);
        }
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
        // Both directions write to the broker (the door acknowledges what it withholds), a
        // whole frame at a time.
        let to_broker = Arc::new(tokio::sync::Mutex::new(to_broker));

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
        let acks = Arc::new(Mutex::new(Acks::default()));
        let mut down = tokio::spawn(deliver(
            principal.clone(),
            QuickAck(from_broker),
            Arc::clone(&to_broker),
            Arc::clone(&acks),
            out_tx.clone(),
            self.max_packet,
        ));
        let up = confine(
            &principal,
            &mut from_client,
            buf,
            Upstream {
                to_broker: &to_broker,
                acks: &acks,
            },
            &out_tx,
            self.max_packet,
        );
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
        // The broker publishes the will on the client's behalf: it obeys the same confinement.
        if let Some(will) = &connect.last_will {
            if !principal.may_publish(&will.topic, will.retain) {
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

/// Connections closed on accept, logged at most once a second so that a flood does not
/// flood the log too.
#[derive(Default)]
struct TurnedAway {
    since_last: AtomicUsize,
    last: Mutex<Option<Instant>>,
}

impl TurnedAway {
    fn note(&self, why: &str) {
        let n = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().expect("turned away");
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            self.since_last.store(0, Ordering::Relaxed);
            tracing::warn!("closed {} on accept: {why}", crate::count(n, "connection"));
        }
    }
}

/// The broker's side of one connection, as the client-to-broker direction writes to it.
struct Upstream<'a, W> {
    to_broker: &'a tokio::sync::Mutex<W>,
    /// The order the client's PUBACKs must reach the broker in.
    acks: &'a Mutex<Acks>,
}

/// Relay the client's packets to the broker, refusing what the principal may not do.
async fn confine<R, W>(
    principal: &Principal,
    from_client: &mut R,
    mut buf: BytesMut,
    upstream: Upstream<'_, W>,
    to_client: &mpsc::Sender<Bytes>,
    max_packet: usize,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let who = principal.label();
    let to_broker = upstream.to_broker;
    while let Some(frame) = read_frame(from_client, &mut buf, max_packet).await? {
        let frame = match frame {
            Frame::Whole(frame) => frame,
            Frame::TooLarge { byte1, len } if byte1 >> 4 == 3 => {
                let refused = skip_publish(from_client, &mut buf, byte1, len).await?;
                refuse_too_large(principal, refused, len, max_packet, to_broker, to_client).await?;
                continue;
            }
            Frame::TooLarge { len, .. } => bail!(
                "a packet of {len} bytes; the gateway relays at most {}",
                size(max_packet)
            ),
        };
        let mut frame = frame;
        match frame[0] >> 4 {
            // PUBACK: to the broker in delivery order, among the door's own.
            4 => {
                let Packet::PubAck(ack) = parse(&frame, max_packet)? else {
                    bail!("malformed PUBACK");
                };
                client_acked(ack.pkid, upstream.acks, to_broker).await?;
                continue;
            }
            // PUBLISH
            3 => {
                let Packet::Publish(publish) = parse(&frame, max_packet)? else {
                    bail!("malformed PUBLISH");
                };
                if !principal.may_publish(&publish.topic, publish.retain) {
                    let retained = if publish.retain { " retained" } else { "" };
                    tracing::warn!(client = %who, topic = %publish.topic,
                        "DENIED{retained} publish outside what the client may publish (dropped)");
                    acknowledge_dropped(publish.qos, publish.pkid, to_client).await?;
                    continue;
                }
                log_publish(&who, &publish.topic, &publish.payload, publish.retain);
            }
            // SUBSCRIBE
            8 => {
                let Packet::Subscribe(mut subscribe) = parse(&frame, max_packet)? else {
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
                // Granted at most QoS 1, so that a withheld delivery is one PUBACK (see
                // `delivery`); the SUBACK says so, as MQTT allows.
                if subscribe.filters.iter().any(|f| f.qos == QoS::ExactlyOnce) {
                    for f in &mut subscribe.filters {
                        if f.qos == QoS::ExactlyOnce {
                            f.qos = QoS::AtLeastOnce;
                        }
                    }
                    frame = encode(Packet::Subscribe(subscribe));
                }
            }
            // A second CONNECT is a protocol violation.
            1 => bail!("second CONNECT"),
            _ => {}
        }
        to_broker.lock().await.write_all(&frame).await?;
    }
    Ok(())
}

/// Acknowledge a dropped QoS 1 PUBLISH, so the client does not resend it forever (as brokers
/// with ACLs do); nobody receives it. QoS 2 would need the whole exchange: the connection
/// ends instead.
async fn acknowledge_dropped(qos: QoS, pkid: u16, to_client: &mpsc::Sender<Bytes>) -> Result<()> {
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            let _ = to_client
                .send(encode(Packet::PubAck(PubAck::new(pkid))))
                .await;
        }
        QoS::ExactlyOnce => bail!("QoS 2 publish refused"),
    }
    Ok(())
}

/// What is known of a PUBLISH too large to relay, read without buffering its payload.
struct Oversized {
    topic: String,
    qos: QoS,
    pkid: u16,
}

/// A PUBLISH too large to relay: acknowledged (a client that resent it at every reconnect
/// would wedge, as devices did), logged with the limit, and reported on the `error` topic of
/// the device it concerns when that is the sender's own, so `luagen monitor` and the device
/// see it too. Closing the connection instead would tell the sender nothing it can read.
async fn refuse_too_large<W: AsyncWrite + Unpin>(
    principal: &Principal,
    refused: Oversized,
    len: usize,
    max_packet: usize,
    to_broker: &tokio::sync::Mutex<W>,
    to_client: &mpsc::Sender<Bytes>,
) -> Result<()> {
    let limit = size(max_packet);
    tracing::warn!(client = %principal.label(), topic = %refused.topic,
        "REFUSED a publish of {len} bytes: the gateway relays at most {limit}, what devices accept");
    acknowledge_dropped(refused.qos, refused.pkid, to_client).await?;
    let Some(t) = topic::parse(&refused.topic) else {
        return Ok(());
    };
    let error_topic = Topics::new(t.agent_id, t.device_name).topic(Suffix::Error);
    if !principal.may_subscribe(&error_topic) {
        return Ok(());
    }
    let body = json!({
        "code": "PACKET_TOO_LARGE",
        "message": format!("{} refused a publish of {len} bytes on {}: the gateway relays at most {limit}",
            principal.label(), refused.topic),
        "limit": max_packet,
    });
    let notice = Publish::new(error_topic, QoS::AtMostOnce, body.to_string());
    to_broker
        .lock()
        .await
        .write_all(&encode(Packet::Publish(notice)))
        .await?;
    Ok(())
}

/// Read a PUBLISH's topic and packet id, then discard the rest of it as it arrives.
async fn skip_publish<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    byte1: u8,
    len: usize,
) -> Result<Oversized> {
    let header = 1 + remaining_length_size(len);
    let qos = rumqttc::mqttbytes::qos((byte1 >> 1) & 3)
        .map_err(|e| anyhow::anyhow!("malformed PUBLISH: {e:?}"))?;
    let id_len = if qos == QoS::AtMostOnce { 0 } else { 2 };
    while buf.len() < header + 2 {
        if r.read_buf(buf).await? == 0 {
            bail!("closed mid-packet");
        }
    }
    let topic_len = u16::from_be_bytes([buf[header], buf[header + 1]]) as usize;
    let variable = header + 2 + topic_len + id_len;
    while buf.len() < variable {
        if r.read_buf(buf).await? == 0 {
            bail!("closed mid-packet");
        }
    }
    let topic = String::from_utf8_lossy(&buf[header + 2..header + 2 + topic_len]).into_owned();
    let pkid = if id_len == 0 {
        0
    } else {
        u16::from_be_bytes([buf[variable - 2], buf[variable - 1]])
    };
    let mut rest = header + len;
    let held = rest.min(buf.len());
    buf.advance(held);
    rest -= held;
    let mut scratch = vec![0u8; 64 * 1024];
    while rest > 0 {
        let want = rest.min(scratch.len());
        let n = r.read(&mut scratch[..want]).await?;
        if n == 0 {
            bail!("closed mid-packet");
        }
        rest -= n;
    }
    Ok(Oversized { topic, qos, pkid })
}

/// Bytes of the fixed header's remaining-length field for `len`.
fn remaining_length_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
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
