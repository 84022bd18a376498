//! The time and randomness the protocol core asks its caller for.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on a monotonic clock, for TTLs and backoff.
pub(crate) fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// `2025-01-15T10:30:00.000Z` for now.
pub(crate) fn now_iso() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    crate::timestamp::iso8601(ms)
}

/// A random u32 for jitter. `RandomState` is seeded from the OS per instance, which is all
/// reconnect jitter needs; not for anything secret.
pub(crate) fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(monotonic_ms());
    h.finish() as u32
}
