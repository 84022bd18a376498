//! The MQTT connection to the gateway: connect, register, serve commands, send triggers and
//! heartbeats, and reconnect with backoff when anything fails. The protocol decisions live in
//! `lua_device::mqtt` (host-tested); this file only moves bytes and waits.

use alloc::vec::Vec;

use defmt::{info, warn};
use embassy_futures::select::{select3, Either3};
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, Stack};
use embassy_rp::clocks::RoscRng;
use embassy_time::{with_timeout, Duration, Timer};
use embedded_io_async::Write;
use lua_device::backoff::{Backoff, BackoffPolicy};
use lua_device::mqtt::device::HEARTBEAT_MS;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_device::LocalDispatch;

use crate::clock::{now_ms, timestamp};
use crate::config;
use crate::device::Device;

/// Socket buffers. They do not bound message sizes: the MQTT client reassembles packets on
/// the heap and `write_all` streams larger ones.
const RX_BYTES: usize = 2048;
const TX_BYTES: usize = 2048;

#[derive(defmt::Format)]
enum Failure {
    Dns,
    Connect,
    Io,
    Closed,
    Timeout,
    Mqtt,
}

/// Keep the device connected, forever.
pub async fn run(stack: Stack<'static>, device: &'static Device) -> ! {
    let mut session = DeviceSession::new(DeviceConfig {
        agent_id: config::AGENT_ID,
        device_name: config::DEVICE_NAME,
        api_key: config::API_KEY,
        group: config::GROUP,
        dedup: config::DEDUP,
    });
    let mut client = Client::new(lua_device::mqtt::device::KEEP_ALIVE_S);
    let mut backoff = Backoff::new(BackoffPolicy::default());
    let mut rx = [0u8; RX_BYTES];
    let mut tx = [0u8; TX_BYTES];
    loop {
        stack.wait_config_up().await;
        if !crate::clock::is_set() {
            crate::clock::sync(stack).await;
        }
        let failure = serve(stack, device, &mut session, &mut client, &mut backoff, &mut rx, &mut tx).await;
        client.disconnected();
        device.link_down();
        backoff.disconnected(now_ms());
        let delay = backoff.next_delay(RoscRng.next_u32());
        warn!("connection lost ({}); reconnecting in {} ms", failure, delay);
        Timer::after_millis(delay).await;
    }
}

async fn resolve(stack: Stack<'static>) -> Result<IpAddress, Failure> {
    if let Ok(ip) = config::MQTT_HOST.parse::<core::net::Ipv4Addr>() {
        return Ok(IpAddress::Ipv4(ip));
    }
    let found = stack
        .dns_query(config::MQTT_HOST, embassy_net::dns::DnsQueryType::A)
        .await
        .map_err(|_| Failure::Dns)?;
    found.first().copied().ok_or(Failure::Dns)
}

async fn flush(socket: &mut TcpSocket<'_>, out: &mut Vec<u8>) -> Result<(), Failure> {
    if !out.is_empty() {
        socket.write_all(out).await.map_err(|_| Failure::Io)?;
        out.clear();
    }
    Ok(())
}

async fn serve(
    stack: Stack<'static>,
    device: &'static Device,
    session: &mut DeviceSession,
    client: &mut Client,
    backoff: &mut Backoff,
    rx: &mut [u8],
    tx: &mut [u8],
) -> Failure {
    match serve_inner(stack, device, session, client, backoff, rx, tx).await {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

async fn serve_inner(
    stack: Stack<'static>,
    device: &'static Device,
    session: &mut DeviceSession,
    client: &mut Client,
    backoff: &mut Backoff,
    rx: &mut [u8],
    tx: &mut [u8],
) -> Result<core::convert::Infallible, Failure> {
    let address = resolve(stack).await?;
    let mut socket = TcpSocket::new(stack, rx, tx);
    // Twice the keep-alive: the MQTT ping notices a dead link first.
    socket.set_timeout(Some(Duration::from_secs(120)));
    socket
        .connect((address, config::MQTT_PORT))
        .await
        .map_err(|_| Failure::Connect)?;
    info!("TCP connected to {}:{}", config::MQTT_HOST, config::MQTT_PORT);

    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    let will = session.will_payload(&timestamp());
    client.connect(&session.connect(&will), now_ms(), &mut out);
    flush(&mut socket, &mut out).await?;

    // CONNACK within ten seconds, or the attempt failed.
    let connack = async {
        loop {
            let n = socket.read(&mut buf).await.map_err(|_| Failure::Io)?;
            if n == 0 {
                return Err(Failure::Closed);
            }
            let events = client.receive(&buf[..n], now_ms(), &mut out).map_err(|e| {
                warn!("{}", defmt::Display2Format(&e));
                Failure::Mqtt
            })?;
            if events.iter().any(|e| matches!(e, Incoming::Connected { .. })) {
                return Ok(());
            }
        }
    };
    with_timeout(Duration::from_secs(10), connack)
        .await
        .map_err(|_| Failure::Timeout)??;
    backoff.connected(now_ms());
    info!("MQTT session up");

    for step in session.after_connack(device.commands(), &timestamp()) {
        match step {
            Step::Subscribe(subs) => client.subscribe(&subs, now_ms(), &mut out),
            Step::Publish(p) => client.publish(&p, now_ms(), &mut out),
        }
    }
    flush(&mut socket, &mut out).await?;
    device.link_up();

    let mut next_heartbeat = now_ms() + HEARTBEAT_MS;
    loop {
        let now = now_ms();
        let wait = next_heartbeat.saturating_sub(now).min(client.poll_in(now)).max(1);
        match select3(
            socket.read(&mut buf),
            Timer::after_millis(wait),
            device.next_trigger(),
        )
        .await
        {
            Either3::First(Ok(0)) => return Err(Failure::Closed),
            Either3::First(Err(_)) => return Err(Failure::Io),
            Either3::First(Ok(n)) => {
                let events = client
                    .receive(&buf[..n], now_ms(), &mut out)
                    .map_err(|e| {
                        warn!("{}", defmt::Display2Format(&e));
                        Failure::Mqtt
                    })?;
                flush(&mut socket, &mut out).await?;
                for event in events {
                    if let Incoming::Message { topic, payload } = event {
                        handle(device, session, client, &topic, &payload, &mut out).await;
                        flush(&mut socket, &mut out).await?;
                    }
                }
            }
            Either3::Second(()) => {
                let now = now_ms();
                if now >= next_heartbeat {
                    client.publish(&session.heartbeat(), now, &mut out);
                    next_heartbeat = now + HEARTBEAT_MS;
                }
                client.poll(now, &mut out).map_err(|_| Failure::Timeout)?;
                flush(&mut socket, &mut out).await?;
            }
            Either3::Third(request) => {
                let p = session.trigger(request.name, Some(request.payload));
                client.publish(&p, now_ms(), &mut out);
                flush(&mut socket, &mut out).await?;
            }
        }
    }
}

async fn handle(
    device: &'static Device,
    session: &mut DeviceSession,
    client: &mut Client,
    topic: &str,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    match session.on_message(topic, payload, now_ms()) {
        Inbound::Run(command) => {
            let result = device.dispatch(&command.command, command.payload).await;
            for p in session.complete(&command.command_id, result, now_ms()) {
                client.publish(&p, now_ms(), out);
            }
        }
        Inbound::Publish(p) => client.publish(&p, now_ms(), out),
        Inbound::TriggerAck(ack) => device.trigger_acked(ack),
        Inbound::TriggerResult(result) => {
            info!("trigger result for {}", result.trigger_name.as_str());
        }
        Inbound::ServerError(e) => warn!(
            "gateway error {}: {}",
            e.code.as_deref().unwrap_or("-"),
            e.message.as_deref().unwrap_or("-")
        ),
        Inbound::Connected(_) => info!("gateway confirmed the connection"),
        Inbound::Ignored => {}
    }
}
