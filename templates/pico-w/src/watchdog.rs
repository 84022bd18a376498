//! Recovery without a person at the board: the RP2040's hardware watchdog resets the chip when
//! it is not fed for `PERIOD_MS`. A task feeds it only while the main loop (the WiFi join, the
//! connection loop) has shown progress within `STALL_S`, so both kinds of hang end in a reset:
//! the executor stopped (a handler that blocks the CPU, a fault loop: nothing feeds), or the
//! main loop stuck on an await that never ends (DHCP that never answers, a lost wake-up: the
//! feeder sees no progress and lets it bite). A panic or a hard fault resets at once.
//!
//! What caused the last reset survives it in a watchdog scratch register (scratch 4 to 7 are
//! the boot ROM's), so the next boot can say. This file does no I/O: `main.rs` does, and the
//! host tests run this file as it is.

use core::sync::atomic::{AtomicU32, Ordering};

/// The hardware period: the RP2040 counts at most 0xffffff / 2 µs (8.39 s, erratum RP2040-E1).
pub const PERIOD_MS: u64 = 8_000;
/// How often the feeder looks: well inside the period, so a late wake-up is no reset.
pub const FEED_MS: u64 = 1_000;
// The counter has 24 bits and counts down twice per microsecond (RP2040-E1).
const _: () = assert!(PERIOD_MS * 1000 <= 0xff_ffff / 2 && FEED_MS * 2 < PERIOD_MS);
/// The longest the main loop may go without progress. Its longest legitimate waits are a TCP
/// connect or read (120 s), a TLS handshake and a WebSocket upgrade (seconds each), and a
/// reconnection delay (30 s at most); nothing it does waits five minutes.
pub const STALL_S: u32 = 300;

/// Scratch register 0's words for what is about to reset the board.
pub const MARK_PANIC: u32 = 0x4c55_4150; // "LUAP"
pub const MARK_STALL: u32 = 0x4c55_4153; // "LUAS"

/// Seconds since boot at the main loop's last progress.
static PROGRESS_S: AtomicU32 = AtomicU32::new(0);

/// The main loop made progress at `now_s` (seconds since boot).
pub fn progress(now_s: u32) {
    PROGRESS_S.store(now_s, Ordering::Relaxed);
}

/// What the feeder does at `now_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Feed,
    /// The main loop has made no progress for this many seconds: mark the cause and stop
    /// feeding, so the watchdog resets the board within its period.
    Starve(u32),
}

pub fn decide(now_s: u32) -> Decision {
    let quiet = now_s.saturating_sub(PROGRESS_S.load(Ordering::Relaxed));
    if quiet >= STALL_S {
        Decision::Starve(quiet)
    } else {
        Decision::Feed
    }
}

/// Why the board last started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Power-on, the RUN pin, or a debugger: not the watchdog.
    PowerOn,
    /// A panic or a hard fault reset the board.
    Panic,
    /// The main loop made no progress for `STALL_S`.
    Stalled,
    /// Nothing fed the watchdog for `PERIOD_MS`: the executor itself stopped (a handler or a
    /// task that kept the CPU, or an interrupt storm).
    Hung,
    /// Something else asked the watchdog to reset the board (a reboot into the firmware).
    Forced,
}

/// The cause from the watchdog's REASON register (`timer`: it ran out; `forced`: its trigger
/// was set) and scratch register 0 as the reset left it.
pub fn cause(timer: bool, forced: bool, mark: u32) -> Cause {
    match (timer, forced, mark) {
        (false, false, _) => Cause::PowerOn,
        (_, _, MARK_PANIC) => Cause::Panic,
        (true, _, MARK_STALL) => Cause::Stalled,
        (true, _, _) => Cause::Hung,
        (false, true, _) => Cause::Forced,
    }
}

impl Cause {
    /// For the boot log.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::PowerOn => "power-on or reset pin",
            Cause::Panic => "reset after a panic or a hard fault",
            Cause::Stalled => "reset by the watchdog: the main loop stopped making progress",
            Cause::Hung => "reset by the watchdog: nothing fed it (a handler or task kept the CPU)",
            Cause::Forced => "reset by a watchdog trigger",
        }
    }
}
