//! Wall-clock time for status timestamps and certificate validity: SNTP (`sntp.rs`) asked
//! once after DHCP, then from a task of its own, retried with backoff until a server answers
//! and again once a day, so a slow or absent server never holds up a command. Until the first
//! answer the clock counts from the Unix epoch (the gateway still accepts such timestamps)
//! and TLS cannot check the broker certificate's validity dates (`connection.rs` reconnects
//! once the time is known, so that it does).

use portable_atomic::{AtomicU64, Ordering};

use alloc::string::String;
use defmt::{info, warn};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration, Instant, Timer};

use crate::chip::Rng;
use crate::config;
use crate::sntp::{self, Schedule};

/// Unix milliseconds at boot (`Instant` zero); 0 until an SNTP answer arrived.
static BOOT_UNIX_MS: AtomicU64 = AtomicU64::new(0);
/// How long one query waits for its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Monotonic milliseconds since boot.
pub fn now_ms() -> u64 {
    Instant::now().as_millis()
}

/// ISO-8601 UTC, e.g. `2025-01-15T10:30:00.000Z`.
pub fn timestamp() -> String {
    lua_device::timestamp::iso8601(BOOT_UNIX_MS.load(Ordering::Relaxed) + now_ms())
}

/// The wall clock for TLS certificate validity: Unix seconds, once SNTP has set it.
/// embedded-tls checks the broker certificate's notBefore/notAfter only when this is `Some`.
#[cfg(any(mqtt_tls, cdn_tls))]
pub struct Wall;

#[cfg(any(mqtt_tls, cdn_tls))]
impl embedded_tls::TlsClock for Wall {
    fn now() -> Option<u64> {
        is_set().then(|| (BOOT_UNIX_MS.load(Ordering::Relaxed) + now_ms()) / 1000)
    }
}

/// Whether an SNTP answer has set the clock.
pub fn is_set() -> bool {
    BOOT_UNIX_MS.load(Ordering::Relaxed) != 0
}

/// Ask the configured SNTP server for the time, once; true when it answered.
pub async fn sync(stack: Stack<'static>) -> bool {
    match query(stack).await {
        Some(unix_ms) => {
            BOOT_UNIX_MS.store(unix_ms.saturating_sub(now_ms()), Ordering::Relaxed);
            info!("clock set from {}", config::NTP_SERVER);
            true
        }
        None => false,
    }
}

/// Keep the clock set, forever: after the first attempt (`answered`), retry with backoff
/// until a server answers, then resynchronise once a day.
pub async fn keep_set(stack: Stack<'static>, answered: bool) -> ! {
    let mut schedule = Schedule::new();
    if answered {
        schedule.answered(now_ms());
    } else {
        unanswered(&mut schedule);
    }
    loop {
        Timer::after_millis(schedule.wait_ms(now_ms())).await;
        stack.wait_config_up().await;
        if sync(stack).await {
            schedule.answered(now_ms());
        } else {
            unanswered(&mut schedule);
        }
    }
}

fn unanswered(schedule: &mut Schedule) {
    let delay = schedule.failed(now_ms(), Rng.next_u32());
    if is_set() {
        warn!(
            "no SNTP answer; keeping the time, asking again in {} ms",
            delay
        );
    } else {
        warn!(
            "no SNTP answer: timestamps count from 1970, certificate dates are not checked; asking again in {} ms",
            delay
        );
    }
}

async fn query(stack: Stack<'static>) -> Option<u64> {
    let server = *stack
        .dns_query(config::NTP_SERVER, embassy_net::dns::DnsQueryType::A)
        .await
        .ok()?
        .first()?;
    let mut rx_meta = [PacketMetadata::EMPTY; 1];
    let mut tx_meta = [PacketMetadata::EMPTY; 1];
    let mut rx = [0u8; 64];
    let mut tx = [0u8; 64];
    let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx, &mut tx_meta, &mut tx);
    socket.bind(0).ok()?;
    let nonce = Rng.next_u64() | 1;
    socket
        .send_to(&sntp::request(nonce), (server, 123))
        .await
        .ok()?;
    let mut answer = [0u8; 48];
    let (n, _) = with_timeout(ANSWER_TIMEOUT, socket.recv_from(&mut answer))
        .await
        .ok()?
        .ok()?;
    sntp::answer_unix_ms(&answer[..n], nonce)
}
