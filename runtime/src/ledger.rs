//! The command state machine: which incoming command ids to run, replay or hold.
//!
//! MQTT QoS 1 delivers at least once, so an id can arrive again while its first delivery is
//! still running or after it was answered. The ledger makes every id run at most once (while
//! its response is cached) and tells the driver how many answers it owes.

use alloc::string::String;
use alloc::vec::Vec;

use crate::dedup::{Dedup, DedupConfig};

/// What to do with a command id that just arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// New id: run the handler, then call [`Ledger::complete`].
    Run,
    /// Already answered: publish this cached response again, do not run.
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

    /// Decide what to do with a delivery of `id` at monotonic time `now_ms`.
    pub fn admit(&mut self, id: &str, now_ms: u64) -> Admission {
        if let Some((_, waiting)) = self.running.iter_mut().find(|(r, _)| r == id) {
            *waiting += 1;
            return Admission::Running;
        }
        if let Some(response) = self.answered.get(id, now_ms) {
            return Admission::Replay(response.into());
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
