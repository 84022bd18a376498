//! The Pico W firmware's recovery on the host: `templates/pico-w/src/watchdog.rs` compiled as it
//! is, driven by a simulated board: the RP2040 watchdog (a counter each feed reloads, a reset
//! when it runs out, scratch registers that survive it), the feeder task as `main.rs` runs it,
//! and a main loop that makes progress, stalls, or stops the executor.

#[path = "../../../templates/pico-w/src/watchdog.rs"]
mod watchdog;

use std::sync::Mutex;

use watchdog::{Cause, Decision, FEED_MS, PERIOD_MS, STALL_S};

/// The module keeps the main loop's progress in a static, as the firmware does: one simulation
/// at a time.
static BOARD: Mutex<()> = Mutex::new(());

/// How the simulated firmware behaves at a given millisecond.
struct Behaviour {
    /// The main loop marks progress at this time (its loop went round).
    progress: fn(u64) -> bool,
    /// The executor runs tasks at this time (false: something keeps the CPU).
    executor_runs: fn(u64) -> bool,
}

/// Run the board from boot (after a power-on) until `until_ms` or its first reset; the reset's
/// time and the cause the next boot reads.
fn simulate(behaviour: Behaviour, until_ms: u64) -> Option<(u64, Cause)> {
    let _one = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    watchdog::progress(0);
    let mut scratch0 = 0u32;
    let mut counter_deadline = PERIOD_MS;
    let mut feeder_next = 0u64;
    let mut feeder_starved = false;
    for now in 0..until_ms {
        if now >= counter_deadline {
            return Some((now, watchdog::cause(true, false, scratch0)));
        }
        if !(behaviour.executor_runs)(now) {
            continue;
        }
        if (behaviour.progress)(now) {
            watchdog::progress((now / 1000) as u32);
        }
        if now >= feeder_next && !feeder_starved {
            match watchdog::decide((now / 1000) as u32) {
                Decision::Feed => counter_deadline = now + PERIOD_MS,
                Decision::Starve(quiet) => {
                    assert!(quiet >= STALL_S);
                    scratch0 = watchdog::MARK_STALL;
                    feeder_starved = true;
                }
            }
            feeder_next = now + FEED_MS;
        }
    }
    None
}

#[test]
fn a_healthy_board_is_never_reset() {
    // The connection loop goes round at least every heartbeat (30 s).
    let healthy = Behaviour {
        progress: |now| now % 30_000 == 0,
        executor_runs: |_| true,
    };
    assert_eq!(simulate(healthy, 3_600_000), None);
}

#[test]
fn the_longest_legitimate_waits_are_no_stall() {
    // A TCP connect that times out (120 s), a TLS handshake that keeps the CPU for 5.3 s (the
    // slowest chain measured), then the longest reconnection delay (30 s), over and over.
    let reconnecting = Behaviour {
        progress: |now| now % 156_000 == 0,
        executor_runs: |now| {
            let t = now % 156_000;
            !(120_000..125_300).contains(&t)
        },
    };
    assert_eq!(simulate(reconnecting, 3_600_000), None);
}

#[test]
fn a_main_loop_that_stops_making_progress_resets_the_board() {
    // DHCP that never answers after a router restart: tasks run, the loop waits forever.
    let stalled = Behaviour {
        progress: |now| now < 100_000 && now % 30_000 == 0,
        executor_runs: |_| true,
    };
    let (at, cause) = simulate(stalled, 3_600_000).expect("the watchdog resets the board");
    assert_eq!(cause, Cause::Stalled);
    let last_progress = 90_000;
    let earliest = last_progress + u64::from(STALL_S) * 1000;
    assert!(
        (earliest..=earliest + 1_000 + FEED_MS + PERIOD_MS).contains(&at),
        "reset at {at} ms"
    );
}

#[test]
fn a_handler_that_keeps_the_cpu_resets_the_board_within_the_period() {
    // A handler spins in a busy loop from t = 100 s: nothing else runs, not even the feeder.
    let hung = Behaviour {
        progress: |now| now % 30_000 == 0,
        executor_runs: |now| now < 100_000,
    };
    let (at, cause) = simulate(hung, 3_600_000).expect("the watchdog resets the board");
    assert_eq!(cause, Cause::Hung);
    assert!(
        (100_000..=100_000 + PERIOD_MS).contains(&at),
        "reset at {at} ms"
    );
}

#[test]
fn the_next_boot_reads_what_reset_the_board() {
    assert_eq!(watchdog::cause(false, false, 0), Cause::PowerOn);
    // A power-on clears the scratch registers, but a stale word must not name a cause.
    assert_eq!(
        watchdog::cause(false, false, watchdog::MARK_PANIC),
        Cause::PowerOn
    );
    assert_eq!(
        watchdog::cause(false, true, watchdog::MARK_PANIC),
        Cause::Panic
    );
    assert_eq!(
        watchdog::cause(true, false, watchdog::MARK_STALL),
        Cause::Stalled
    );
    assert_eq!(watchdog::cause(true, false, 0), Cause::Hung);
    assert_eq!(watchdog::cause(false, true, 0), Cause::Forced);
    for cause in [
        Cause::PowerOn,
        Cause::Panic,
        Cause::Stalled,
        Cause::Hung,
        Cause::Forced,
    ] {
        assert!(!cause.describe().is_empty());
    }
}
