//! SNTP (RFC 4330) without I/O: the request, the time in an answer, and when to ask again.
//! Pure, so luagen's host tests compile this file as it is (`pico_w_clock.rs`).

/// Seconds from 1900 (NTP era 0) to 1970 (Unix).
const NTP_TO_UNIX_S: u64 = 2_208_988_800;
/// No answer means a time before 2024 (the firmware was built later), which tells NTP era 1
/// (from February 2036, when the 32-bit seconds wrap) from era 0.
const EARLIEST_UNIX_S: u64 = 1_704_067_200;
/// The first retry after an unanswered query; each failure doubles it up to [`MAX_RETRY_MS`].
pub const FIRST_RETRY_MS: u64 = 5_000;
/// The longest wait between queries while the time is unknown.
pub const MAX_RETRY_MS: u64 = 10 * 60 * 1000;
/// Once set, the clock is set again this often: the crystal drifts a few seconds a day.
pub const RESYNC_MS: u64 = 24 * 60 * 60 * 1000;

/// A client request (version 4, mode 3) whose transmit timestamp is `nonce`; a server copies
/// it into its answer's originate timestamp, which ties the answer to this request.
pub fn request(nonce: u64) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = 0x23; // LI 0, version 4, mode 3 (client)
    packet[40..48].copy_from_slice(&nonce.to_be_bytes());
    packet
}

/// Unix milliseconds from a server's `answer` to [`request`]`(nonce)`: `None` unless it is a
/// server's reply (mode 4) to that request with a time in it, not a kiss-o'-death (stratum 0).
pub fn answer_unix_ms(answer: &[u8], nonce: u64) -> Option<u64> {
    let answer: &[u8; 48] = answer.get(..48)?.try_into().ok()?;
    let be32 = |at: usize| {
        u64::from(u32::from_be_bytes([
            answer[at],
            answer[at + 1],
            answer[at + 2],
            answer[at + 3],
        ]))
    };
    let mode = answer[0] & 0x07;
    let stratum = answer[1];
    if mode != 4 || stratum == 0 || answer[24..32] != nonce.to_be_bytes() {
        return None;
    }
    // Transmit timestamp: seconds and 2^-32 fractions since the era's start. A second count
    // below 2024's is era 1, which starts when the 32 bits wrap in February 2036.
    let mut secs = be32(40);
    if secs == 0 {
        return None;
    }
    if secs < EARLIEST_UNIX_S + NTP_TO_UNIX_S {
        secs += 1 << 32;
    }
    let unix_s = secs - NTP_TO_UNIX_S;
    Some(unix_s * 1000 + ((be32(44) * 1000) >> 32))
}

/// When to ask for the time: at once, then after each failure with a growing, jittered
/// delay, and once a day after an answer. Time is the caller's monotonic milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    next_ms: u64,
    retry_ms: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new()
    }
}

impl Schedule {
    /// Due now.
    pub const fn new() -> Self {
        Self {
            next_ms: 0,
            retry_ms: FIRST_RETRY_MS,
        }
    }

    /// Milliseconds from `now_ms` until the next query (0: now).
    pub fn wait_ms(&self, now_ms: u64) -> u64 {
        self.next_ms.saturating_sub(now_ms)
    }

    /// An answer arrived at `now_ms`: ask again in [`RESYNC_MS`], and start retries over.
    pub fn answered(&mut self, now_ms: u64) {
        self.retry_ms = FIRST_RETRY_MS;
        self.next_ms = now_ms + RESYNC_MS;
    }

    /// A query went unanswered at `now_ms`: the next is due after a delay between half and
    /// all of the current retry interval (`random` picks where, so a fleet that lost its
    /// server together does not ask again together), and the interval doubles. Returns the
    /// delay.
    pub fn failed(&mut self, now_ms: u64, random: u32) -> u64 {
        let half = self.retry_ms / 2;
        let delay = half + u64::from(random) % (self.retry_ms - half + 1);
        self.next_ms = now_ms + delay;
        self.retry_ms = (self.retry_ms * 2).min(MAX_RETRY_MS);
        delay
    }
}
