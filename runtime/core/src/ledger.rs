//! The command state machine: which incoming command ids to run, replay or hold.
//!
//! MQTT QoS 1 delivers at least once, and the gateway resends a late command with the same id,
//! so an id can arrive again while its first delivery is still running or after it was
//! answered. The ledger makes every id run at most once while the cache remembers it (at
//! least the retry horizon, within the cache's byte budget) and tells the driver how many
//! answers it owes.

use alloc::string::String;
use alloc::vec::Vec;

use crate::dedup::{Dedup, DedupConfig, Seen};
use crate::dispatch::{CommandError, Retry};
use crate::message::Response;

/// How long after a command was sent the gateway may still resend it, per `PROTOCOL.md`:
/// `maxAttempts × backoffMs + timeoutMs` (just `timeoutMs` without a retry policy).
pub const fn retry_horizon_ms(timeout_ms: u64, retry: Option<Retry>) -> u64 {
    let retries = match retry {
        Some(r) => (r.max_attempts as u64).saturating_mul(r.backoff_ms),
        None => 0,
    };
    retries.saturating_add(timeout_ms)
}

/// The longest [`retry_horizon_ms`] of `commands` (`(timeoutMs, retry)` each), and never less
/// than `at_least`: a `const` so a firmware sizes its cache's time to live at compile time.
pub const fn longest_retry_horizon_ms(commands: &[(u64, Option<Retry>)], at_least: u64) -> u64 {
    let mut longest = at_least;
    let mut i = 0;
    while i < commands.len() {
        let horizon = retry_horizon_ms(commands[i].0, commands[i].1);
        if horizon > longest {
            longest = horizon;
        }
        i += 1;
    }
    longest
}

/// The error a duplicate gets when its id ran but its response was dropped for room.
pub const ALREADY_RAN: &str =
    "this command already ran; its response is no longer held, so it was not run again";

/// What to do with a command id that just arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// New id: run the handler, then call [`Ledger::complete`].
    Run,
    /// Already answered: publish this response again, do not run. It is the cached response,
    /// or an error saying the command already ran when only its id was still remembered.
    Replay(String),
    /// Still running: do nothing now; [`Ledger::complete`] counts this extra answer.
    Running,
}

/// Running command ids plus the idempotency cache of answered ones.
#[derive(Debug)]
pub struct Ledger {
    answered: Dedup,
    // Each running id with the deliveries that arrived while it ran (each is owed one more
    // answer). A list: it holds at most the concurrency limit, a scan of which costs less
    // flash on a chip than a tree and no more time.
    running: Vec<(String, u32)>,
}

impl Ledger {
    /// An empty ledger whose cache has `config`'s limits.
    pub fn new(config: DedupConfig) -> Self {
        Self {
            answered: Dedup::new(config),
            running: Vec::new(),
        }
    }

    /// Remember ids for at least `horizon_ms` (the longest [`retry_horizon_ms`] of the
    /// device's commands) when that is longer than the configured time to live.
    pub fn with_horizon(mut self, horizon_ms: u64) -> Self {
        self.answered.extend_ttl(horizon_ms);
        self
    }

    /// Decide what to do with a delivery of `id` at monotonic time `now_ms`.
    pub fn admit(&mut self, id: &str, now_ms: u64) -> Admission {
        if let Some((_, waiting)) = self.running.iter_mut().find(|(r, _)| r == id) {
            *waiting += 1;
            return Admission::Running;
        }
        match self.answered.seen(id, now_ms) {
            Seen::Answered(response) => return Admission::Replay(response.into()),
            Seen::Ran => {
                let error = CommandError::handler(ALREADY_RAN);
                return Admission::Replay(Response::failure(id, &error).to_json());
            }
            Seen::No => {}
        }
        self.running.push((id.into(), 0));
        Admission::Run
    }

    /// Record `response` (the exact JSON published) for `id`; returns how many times to
    /// publish it: once, plus once per duplicate that arrived while it ran.
    pub fn complete(&mut self, id: &str, response: String, now_ms: u64) -> u32 {
        let waiting = match self.running.iter().position(|(r, _)| r == id) {
            Some(i) => self.running.swap_remove(i).1,
            None => 0,
        };
        self.answered.insert(id.into(), response, now_ms);
        1 + waiting
    }

    /// Ids whose handlers are running.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// The cache of answered ids.
    pub fn answered(&self) -> &Dedup {
        &self.answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn runs_once_replays_after_and_counts_duplicates_during() {
        let mut l = Ledger::new(DedupConfig::default());
        assert_eq!(l.admit("c1", 0), Admission::Run);
        assert_eq!(l.admit("c1", 1), Admission::Running);
        assert_eq!(l.admit("c1", 2), Admission::Running);
        assert_eq!(l.running(), 1);
        assert_eq!(l.complete("c1", "R".to_string(), 3), 3);
        assert_eq!(l.admit("c1", 4), Admission::Replay("R".to_string()));
        assert_eq!(l.running(), 0);
    }

    #[test]
    fn an_id_whose_response_was_dropped_gets_an_error_not_a_second_run() {
        // Room for one response of this size; the other ids stay as ids.
        let mut l = Ledger::new(DedupConfig {
            max_entries: 1000,
            max_bytes: 64,
            ttl_ms: 1000,
        });
        let big = "x".repeat(40);
        for id in ["c1", "c2"] {
            assert_eq!(l.admit(id, 0), Admission::Run);
            assert_eq!(l.complete(id, big.clone(), 0), 1);
        }
        assert_eq!(l.admit("c2", 1), Admission::Replay(big));
        let Admission::Replay(error) = l.admit("c1", 1) else {
            panic!("c1 ran: it must not run again")
        };
        assert_eq!(
            error,
            Response::failure("c1", &CommandError::handler(ALREADY_RAN)).to_json()
        );
        assert!(error.contains("\"success\":false"));
    }

    #[test]
    fn the_horizon_keeps_ids_past_the_default_ttl() {
        let horizon = retry_horizon_ms(
            30_000,
            Some(Retry {
                max_attempts: 3,
                backoff_ms: 200_000,
            }),
        );
        assert_eq!(horizon, 630_000);
        assert_eq!(retry_horizon_ms(5_000, None), 5_000);
        let mut l = Ledger::new(DedupConfig::default()).with_horizon(horizon);
        assert_eq!(l.admit("c1", 0), Admission::Run);
        l.complete("c1", "R".to_string(), 0);
        assert_eq!(l.admit("c1", 629_999), Admission::Replay("R".to_string()));
        assert_eq!(l.admit("c1", 630_000), Admission::Run);
    }

    #[test]
    fn expired_ids_run_again() {
        let mut l = Ledger::new(DedupConfig {
            ttl_ms: 10,
            ..DedupConfig::default()
        });
        assert_eq!(l.admit("c1", 0), Admission::Run);
        assert_eq!(l.complete("c1", "R".to_string(), 0), 1);
        assert_eq!(l.admit("c1", 10), Admission::Run);
    }
}
