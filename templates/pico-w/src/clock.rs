//! Wall-clock time for status timestamps: one SNTP query after DHCP, then the monotonic timer.
//! Without an answer the clock counts from the Unix epoch, which the gateway still accepts.

use portable_atomic::{AtomicU64, Ordering};

use alloc::string::String;
use defmt::{info, warn};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration, Instant};

use crate::config;

/// Unix milliseconds at boot (`Instant` zero); 0 until an SNTP answer arrived.
static BOOT_UNIX_MS: AtomicU64 = AtomicU64::new(0);
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_TO_UNIX_S: u64 = 2_208_988_800;

/// Monotonic milliseconds since boot.
pub fn now_ms() -> u64 {
    Instant::now().as_millis()
}

/// ISO-8601 UTC, e.g. `2025-01-15T10:30:00.000Z`.
pub fn timestamp() -> String {
    lua_device::timestamp::iso8601(BOOT_UNIX_MS.load(Ordering::Relaxed) + now_ms())
}

/// The wall clock for TLS certificate validity: Unix seconds, once SNTP has set it.
#[cfg(feature = "tls")]
pub struct Wall;

#[cfg(feature = "tls")]
impl embedded_tls::TlsClock for Wall {
    fn now() -> Option<u64> {
        is_set().then(|| (BOOT_UNIX_MS.load(Ordering::Relaxed) + now_ms()) / 1000)
    }
}

/// Whether an SNTP answer has set the clock.
pub fn is_set() -> bool {
    BOOT_UNIX_MS.load(Ordering::Relaxed) != 0
}

/// Ask the configured SNTP server for the time, once, for up to five seconds.
pub async fn sync(stack: Stack<'static>) {
    match query(stack).await {
        Some(unix_ms) => {
            BOOT_UNIX_MS.store(unix_ms.saturating_sub(now_ms()), Ordering::Relaxed);
            info!("clock set from {}", config::NTP_SERVER);
        }
        None => warn!("no SNTP answer; timestamps count from 1970"),
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
    let mut request = [0u8; 48];
    request[0] = 0x23; // LI 0, version 4, mode 3 (client)
    socket.send_to(&request, (server, 123)).await.ok()?;
    let mut answer = [0u8; 48];
    let (n, _) = with_timeout(Duration::from_secs(5), socket.recv_from(&mut answer))
        .await
        .ok()?
        .ok()?;
    if n < 48 {
        return None;
    }
    // Transmit timestamp: seconds and 2^-32 fractions since 1900.
    let secs = u64::from(u32::from_be_bytes([
        answer[40], answer[41], answer[42], answer[43],
    ]));
    let frac = u64::from(u32::from_be_bytes([
        answer[44], answer[45], answer[46], answer[47],
    ]));
    let unix_s = secs.checked_sub(NTP_TO_UNIX_S)?;
    Some(unix_s * 1000 + (frac * 1000 >> 32))
}
