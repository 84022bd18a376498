//! The MQTT connection to the gateway: connect, register, serve commands, send triggers and
//! heartbeats, and reconnect with backoff when anything fails. The protocol decisions live in
//! `lua_device::mqtt` (host-tested); this file only moves bytes and waits. The URL decides the
//! link at build time: TCP, TLS over it (`tls.rs`, `tls` feature), and for `ws://` and `wss://`
//! WebSocket frames over either (`ws.rs`).
//!
//! Handlers run in the worker task (`worker.rs`), so this loop keeps pinging, sending
//! heartbeats and triggers while one runs. Work in flight is bounded: commands run one at a
//! time, and while one waits its turn nothing more is read, so the inbox pipe, then the TCP
//! window, fill and the broker holds the rest (its in-flight window is only ever as full as
//! those buffers let it be); the MQTT client is told (`hold_reads`) so that a ping answer
//! queued behind them is not taken for a dead link. The MQTT client keeps at most one packet
//! of `MAX_PACKET_BYTES` and one read of `INBOX_BYTES`; a larger command is read through,
//! acknowledged and answered with an error naming the limit.

use alloc::vec::Vec;
#[cfg(mqtt_tls)]
use core::cell::RefCell;

use defmt::{info, warn};
use embassy_futures::select::{select, select4, Either, Either4};
use embassy_net::tcp::{TcpReader, TcpSocket, TcpWriter};
use embassy_net::{IpAddress, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
#[cfg(mqtt_ws)]
use embassy_sync::mutex::Mutex;
use embassy_sync::pipe::Pipe;
use embassy_time::{with_timeout, Duration, Timer};
use embedded_io_async::Write;
use lua_device::backoff::{Backoff, BackoffPolicy};
use lua_device::mqtt::device::HEARTBEAT_MS;
use lua_device::mqtt::{
    Client, ClientError, DeviceConfig, DeviceSession, Inbound, Incoming, Skipped,
};
use lua_device::session::Step;

use crate::chip::Rng;
use crate::clock::{now_ms, timestamp};
use crate::config;
use crate::device::Device;
#[cfg(mqtt_tls)]
use crate::tls;
use crate::watchdog;
use crate::worker::{Done, Job, Work, WORKER};
use crate::ws::{self, Rx, Tx};
#[cfg(mqtt_ws)]
use crate::ws::{WsReader, WsWriter};

/// Socket buffers. They do not bound message sizes: the MQTT client reassembles packets on
/// the heap and `write_all` streams larger ones.
const RX_BYTES: usize = 2048;
const TX_BYTES: usize = 2048;
/// Bytes read from the broker but not yet given to the MQTT client.
const INBOX_BYTES: usize = 512;

#[derive(defmt::Format)]
pub(crate) enum Failure {
    Dns,
    Connect,
    Io,
    Closed,
    Timeout,
    Mqtt,
    WebSocket,
    #[cfg(mqtt_tls)]
    Tls,
    /// Not a failure: the clock was set after a handshake that could not check the broker
    /// certificate's dates, so the link is closed to check them at once.
    #[cfg(mqtt_tls)]
    Undated,
    /// Not a failure: the broker refused TLS 1.3, so the link is made again at once with 1.2.
    #[cfg(mqtt_tls)]
    Fallback,
}

/// What outlives one connection: the session (topics, answered ids), the client (publishes
/// in flight), the reconnection delays, and the handlers' work.
struct Lasting {
    session: DeviceSession,
    client: Client,
    backoff: Backoff,
    work: Work,
}

/// Keep the device connected, forever, as `name` (this unit's, made at boot).
pub async fn run(stack: Stack<'static>, device: &'static Device, name: &'static str) -> ! {
    let mut lasting = Lasting {
        session: DeviceSession::new(DeviceConfig {
            agent_id: config::AGENT_ID,
            device_name: name,
            api_key: config::API_KEY,
            group: config::GROUP,
            dedup: config::DEDUP,
        }),
        client: Client::new(
            lua_device::mqtt::device::KEEP_ALIVE_S,
            config::MAX_PACKET_BYTES,
        ),
        backoff: Backoff::new(BackoffPolicy::default()),
        work: Work::new(),
    };
    let mut rx = [0u8; RX_BYTES];
    let mut tx = [0u8; TX_BYTES];
    #[cfg(mqtt_tls)]
    let (mut tls_read, mut tls_write) = ([0u8; tls::READ_BUFFER], [0u8; tls::WRITE_BUFFER]);
    loop {
        stack.wait_config_up().await;
        watchdog::progress(crate::now_s());
        let failure = serve(
            stack,
            device,
            &mut lasting,
            &mut rx,
            &mut tx,
            #[cfg(mqtt_tls)]
            (&mut tls_read, &mut tls_write),
        )
        .await;
        lasting.client.disconnected();
        device.link_down();
        #[cfg(mqtt_tls)]
        match failure {
            Failure::Undated => {
                info!("clock set: reconnecting to check the broker certificate's dates");
                continue;
            }
            Failure::Fallback => {
                info!("the broker refused TLS 1.3: reconnecting with TLS 1.2");
                continue;
            }
            _ => {}
        }
        lasting.backoff.disconnected(now_ms());
        let delay = lasting.backoff.next_delay(Rng.next_u32());
        warn!(
            "connection lost ({}); reconnecting in {} ms",
            failure, delay
        );
        Timer::after_millis(delay).await;
    }
}

async fn resolve(stack: Stack<'static>) -> Result<IpAddress, Failure> {
    if let Some(ip) = config::MQTT_IPV4 {
        return Ok(IpAddress::Ipv4(ip.into()));
    }
    let found = stack
        .dns_query(config::MQTT_HOST, embassy_net::dns::DnsQueryType::A)
        .await
        .map_err(|_| Failure::Dns)?;
    found.first().copied().ok_or(Failure::Dns)
}

async fn flush<W: Tx>(writer: &mut W, out: &mut Vec<u8>) -> Result<(), Failure>
where
    Failure: From<W::Error>,
{
    if !out.is_empty() {
        writer.write(out).await?;
        writer.flush().await?;
        out.clear();
    }
    Ok(())
}

impl Rx for TcpReader<'_> {
    type Error = Failure;

    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        self.read(buf).await.map_err(|_| Failure::Io)
    }
}

impl Tx for TcpWriter<'_> {
    type Error = Failure;

    async fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.write_all(data).await.map_err(|_| Failure::Io)
    }

    // The stack sends what it holds on its own; its flush would wait for the peer's ACK.
    async fn flush(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

#[cfg(mqtt_tls)]
impl<'a, S: embedded_io_async_07::Read + 'a> Rx for tls::LinkReader<'a, S> {
    type Error = Failure;

    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        embedded_io_async_07::Read::read(self, buf)
            .await
            .map_err(|e| {
                warn!("TLS: {}", defmt::Display2Format(&e));
                Failure::Tls
            })
    }
}

#[cfg(mqtt_tls)]
impl<'a, S: embedded_io_async_07::Write + 'a> Tx for tls::LinkWriter<'a, S> {
    type Error = Failure;

    async fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        embedded_io_async_07::Write::write_all(self, data)
            .await
            .map_err(|_| Failure::Tls)
    }

    // A record goes out at flush: before it, the data only sits in the TLS buffer.
    async fn flush(&mut self) -> Result<(), Failure> {
        embedded_io_async_07::Write::flush(self)
            .await
            .map_err(|_| Failure::Tls)
    }
}

impl From<ws::Error<Failure>> for Failure {
    fn from(e: ws::Error<Failure>) -> Self {
        match e {
            ws::Error::Link(f) => f,
            ws::Error::Ws(e) => {
                warn!("WebSocket: {=str}", e.text().as_str());
                Failure::WebSocket
            }
            ws::Error::Eof => Failure::Closed,
            ws::Error::Closed(close) => {
                warn!(
                    "the broker closed the WebSocket: {} {}",
                    close.code,
                    close.reason()
                );
                Failure::Closed
            }
        }
    }
}

/// A masking key for a client WebSocket frame.
#[cfg(mqtt_ws)]
fn mask() -> [u8; 4] {
    Rng.next_u32().to_le_bytes()
}

async fn serve(
    stack: Stack<'static>,
    device: &'static Device,
    lasting: &mut Lasting,
    rx: &mut [u8],
    tx: &mut [u8],
    #[cfg(mqtt_tls)] tls_buffers: (&mut [u8], &mut [u8]),
) -> Failure {
    match serve_inner(
        stack,
        device,
        lasting,
        rx,
        tx,
        #[cfg(mqtt_tls)]
        tls_buffers,
    )
    .await
    {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

async fn serve_inner(
    stack: Stack<'static>,
    device: &'static Device,
    lasting: &mut Lasting,
    rx: &mut [u8],
    tx: &mut [u8],
    #[cfg(mqtt_tls)] tls_buffers: (&mut [u8], &mut [u8]),
) -> Result<core::convert::Infallible, Failure> {
    let address = resolve(stack).await?;
    let mut socket = TcpSocket::new(stack, rx, tx);
    // Twice the keep-alive: the MQTT ping notices a dead link first.
    socket.set_timeout(Some(Duration::from_secs(120)));
    socket
        .connect((address, config::MQTT_PORT))
        .await
        .map_err(|_| Failure::Connect)?;
    info!(
        "TCP connected to {}:{}",
        config::MQTT_HOST,
        config::MQTT_PORT
    );
    let (reader, writer) = socket.split();

    #[cfg(mqtt_tls)]
    {
        let (reader, writer) = (RefCell::new(reader), RefCell::new(writer));
        // Read before the handshake: a clock set during it may or may not have been used.
        let undated = !crate::clock::is_set();
        if undated {
            warn!("clock not set: the broker certificate's validity dates are not checked until it is");
        }
        let rng = tls::rng(|bytes| Rng.fill_bytes(bytes));
        let (read, write) = tls_buffers;
        let mut link = tls::connect::<_, crate::clock::Wall>(
            tls::Duplex::new(&reader, &writer),
            config::MQTT_HOST,
            config::MQTT_CA_DER,
            rng,
            read,
            write,
        )
        .await
        .map_err(|e| {
            warn!(
                "TLS handshake with {} failed: {}",
                config::MQTT_HOST,
                defmt::Display2Format(&e)
            );
            match e {
                tls::Error::Fallback(_) => Failure::Fallback,
                _ => Failure::Tls,
            }
        })?;
        match &link {
            tls::Link::Tls12(c) => info!(
                "TLS 1.2 up (suite {=u16:#06x}), broker certificate verified",
                c.suite()
            ),
            tls::Link::Tls13(_) => info!("TLS 1.3 up, broker certificate verified"),
        }
        let (reader, writer) = link.split();
        Err(open(reader, writer, device, lasting, undated).await)
    }
    #[cfg(not(mqtt_tls))]
    Err(open(reader, writer, device, lasting, false).await)
}

/// The MQTT session over a connected link (TCP or TLS), in WebSocket frames for `ws://` and
/// `wss://`. The URL picks one link at build time (build.rs sets `mqtt_tls` and `mqtt_ws`), so
/// the session's code is compiled for that link alone.
async fn open<R: Rx, W: Tx<Error = R::Error>>(
    reader: R,
    writer: W,
    device: &'static Device,
    lasting: &mut Lasting,
    undated: bool,
) -> Failure
where
    Failure: From<R::Error> + From<ws::Error<R::Error>>,
{
    #[cfg(not(mqtt_ws))]
    return converse(reader, writer, device, lasting, undated).await;
    #[cfg(mqtt_ws)]
    {
        let (mut reader, mut writer) = (reader, writer);
        let mut nonce = [0u8; 16];
        Rng.fill_bytes(&mut nonce);
        let target = (
            config::MQTT_HOST,
            config::MQTT_PORT,
            cfg!(mqtt_tls),
            config::MQTT_PATH,
        );
        match with_timeout(
            Duration::from_secs(10),
            ws::upgrade(&mut reader, &mut writer, target, nonce),
        )
        .await
        {
            Err(_) => return Failure::Timeout,
            Ok(Err(e)) => return e.into(),
            Ok(Ok(())) => info!("WebSocket up at {}", config::MQTT_PATH),
        }
        let writer = Mutex::new(writer);
        converse(
            WsReader::new(reader, &writer, mask),
            WsWriter::new(&writer, mask),
            device,
            lasting,
            undated,
        )
        .await
    }
}

/// Bytes from the broker, read by [`converse`]'s pump: TLS reads are not cancel-safe (a record
/// half read is lost), so one future reads without ever being cancelled and the session loop
/// waits on this pipe instead, which is.
type Inbox = Pipe<NoopRawMutex, INBOX_BYTES>;

/// One MQTT session over a connected link, until it fails; `undated`: the link's certificate
/// dates were not checked, so it ends once the clock is set.
async fn converse<R: Rx, W: Tx>(
    mut reader: R,
    mut writer: W,
    device: &'static Device,
    lasting: &mut Lasting,
    undated: bool,
) -> Failure
where
    Failure: From<R::Error> + From<W::Error>,
{
    let inbox = Inbox::new();
    let pump = async {
        let mut buf = [0u8; 256];
        loop {
            match reader.recv(&mut buf).await {
                Ok(0) => return Failure::Closed,
                Ok(n) => inbox.write_all(&buf[..n]).await,
                Err(e) => return e.into(),
            }
        }
    };
    let session = async {
        match talk(&mut writer, &inbox, device, lasting, undated).await {
            Ok(never) => match never {},
            Err(f) => f,
        }
    };
    match select(pump, session).await {
        Either::First(f) | Either::Second(f) => f,
    }
}

async fn talk<W: Tx>(
    writer: &mut W,
    inbox: &Inbox,
    device: &'static Device,
    lasting: &mut Lasting,
    undated: bool,
) -> Result<core::convert::Infallible, Failure>
where
    Failure: From<W::Error>,
{
    let Lasting {
        session,
        client,
        backoff,
        work,
    } = lasting;
    let mut out = Vec::new();
    let mut buf = [0u8; INBOX_BYTES];
    let will = session.will_payload(&timestamp());
    client.connect(&session.connect(&will), now_ms(), &mut out);
    flush(writer, &mut out).await?;

    // CONNACK within ten seconds, or the attempt failed.
    let connack = async {
        loop {
            let n = inbox.read(&mut buf).await;
            let events = client
                .receive(&buf[..n], now_ms(), &mut out)
                .map_err(broken)?;
            if events
                .iter()
                .any(|e| matches!(e, Incoming::Connected { .. }))
            {
                return Ok::<(), Failure>(());
            }
        }
    };
    with_timeout(Duration::from_secs(10), connack)
        .await
        .map_err(|_| Failure::Timeout)??;
    backoff.connected(now_ms());
    info!("MQTT session up");

    for step in session.after_connack(crate::device::COMMANDS_JSON, &timestamp()) {
        match step {
            Step::Subscribe(subs) => client.subscribe(&subs, now_ms(), &mut out),
            Step::Publish(p) => client.publish(&p, now_ms(), &mut out),
        }
    }
    flush(writer, &mut out).await?;
    device.link_up();

    let mut next_heartbeat = now_ms() + HEARTBEAT_MS;
    loop {
        watchdog::progress(crate::now_s());
        work.start(&WORKER);
        let reading = work.reading();
        let now = now_ms();
        client.hold_reads(!reading, now);
        let wait = next_heartbeat
            .saturating_sub(now)
            .min(client.poll_in(now))
            .max(1);
        match select4(
            async {
                if reading {
                    inbox.read(&mut buf).await
                } else {
                    core::future::pending().await
                }
            },
            Timer::after_millis(wait),
            device.next_trigger(),
            WORKER.finished(),
        )
        .await
        {
            Either4::First(n) => {
                let events = client
                    .receive(&buf[..n], now_ms(), &mut out)
                    .map_err(broken)?;
                for event in events {
                    handle(device, session, client, work, &event, &mut out);
                }
            }
            Either4::Second(()) => {
                let now = now_ms();
                if now >= next_heartbeat {
                    client.publish(&session.heartbeat(), now, &mut out);
                    next_heartbeat = now + HEARTBEAT_MS;
                }
                client.poll(now, &mut out).map_err(|_| Failure::Timeout)?;
                // Checked here, within a heartbeat of the clock being set; the session goes
                // down cleanly (no last will), and a handler running meanwhile is answered on
                // the next connection.
                #[cfg(mqtt_tls)]
                if undated && crate::clock::is_set() {
                    client.disconnect(&mut out);
                    flush(writer, &mut out).await?;
                    return Err(Failure::Undated);
                }
                #[cfg(not(mqtt_tls))]
                let _ = undated;
            }
            Either4::Third(request) => {
                let p = session.trigger(request.name, Some(request.payload));
                client.publish(&p, now_ms(), &mut out);
            }
            Either4::Fourth(done) => {
                work.finished();
                if let Done::Command { id, result } = done {
                    for p in session.complete(&id, result, now_ms()) {
                        client.publish(&p, now_ms(), &mut out);
                    }
                }
            }
        }
        // One send for whatever the event queued (nothing, often): one await in this loop
        // instead of one per event is a few hundred bytes of state machine less.
        flush(writer, &mut out).await?;
    }
}

/// The session cannot go on: the broker broke the protocol (logged) or refused us. Out of
/// line: inlined, the log and the error's text are copied into each `map_err`.
#[inline(never)]
fn broken(e: ClientError) -> Failure {
    warn!("{=str}", e.text().as_str());
    Failure::Mqtt
}

fn handle(
    device: &'static Device,
    session: &mut DeviceSession,
    client: &mut Client,
    work: &mut Work,
    event: &Incoming,
    out: &mut Vec<u8>,
) {
    if let Incoming::TooLarge(Skipped {
        topic,
        payload_len,
        payload_limit,
        ..
    }) = event
    {
        warn!(
            "dropped a {}-byte message on {} (at most {} bytes fit)",
            payload_len,
            topic.as_str(),
            payload_limit
        );
    }
    match session.on_incoming(event, now_ms()) {
        Inbound::Run(command) => work.push(Job::Command(command)),
        Inbound::Publish(p) => client.publish(&p, now_ms(), out),
        Inbound::TriggerAck(ack) => device.trigger_acked(ack),
        Inbound::TriggerResult(result) => work.push(Job::TriggerResult(result)),
        Inbound::ServerError(e) => warn!(
            "gateway error {}: {}",
            e.code.as_deref().unwrap_or("-"),
            e.message.as_deref().unwrap_or("-")
        ),
        Inbound::Connected(_) => info!("gateway confirmed the connection"),
        Inbound::RetainedCommand => {
            warn!("ignored a retained command: a retained message would run at every start")
        }
        Inbound::Ignored => {}
    }
}
