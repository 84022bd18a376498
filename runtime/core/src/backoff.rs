//! Reconnect delays: exponential growth, a cap, jitter, and a reset once a connection proved
//! stable. Pure logic; the caller supplies time and randomness.

/// How a delay is randomised within its exponential ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the ceiling (tests, or a single device where herds cannot form).
    None,
    /// Uniform in `[0, ceiling]` ("full jitter"): spreads a fleet out the most.
    Full,
    /// Uniform in `[initial, 3 * previous]`, capped ("decorrelated jitter").
    Decorrelated,
}

/// Reconnect policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first ceiling, in milliseconds.
    pub initial_ms: u64,
    /// No delay exceeds this.
    pub max_ms: u64,
    /// Randomisation.
    pub jitter: Jitter,
    /// A connection that lasted this long resets the sequence on its loss.
    pub stable_after_ms: u64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial_ms: 250,
            max_ms: 30_000,
            jitter: Jitter::Full,
            stable_after_ms: 30_000,
        }
    }
}

/// The state of one reconnecting client.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    previous_ms: u64,
    connected_at: Option<u64>,
}

impl Backoff {
    /// A fresh sequence under `policy`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            attempt: 0,
            previous_ms: 0,
            connected_at: None,
        }
    }

    /// The delay before the next connection attempt; `random` is any uniformly random u32.
    pub fn next_delay(&mut self, random: u32) -> u64 {
        let p = &self.policy;
        let max = p.max_ms.max(p.initial_ms);
        let ceiling = p
            .initial_ms
            .saturating_mul(1u64.checked_shl(self.attempt).unwrap_or(u64::MAX))
            .min(max);
        let delay = match p.jitter {
            Jitter::None => ceiling,
            Jitter::Full => uniform(random, 0, ceiling),
            Jitter::Decorrelated => {
                let high = self.previous_ms.saturating_mul(3).clamp(p.initial_ms, max);
                uniform(random, p.initial_ms, high)
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        self.previous_ms = delay.max(p.initial_ms);
        delay
    }

    /// A connection was established at monotonic `now_ms`.
    pub fn connected(&mut self, now_ms: u64) {
        self.connected_at = Some(now_ms);
    }

    /// The connection was lost at `now_ms`: a stable one starts the sequence over, a flapping
    /// one keeps growing the delay.
    pub fn disconnected(&mut self, now_ms: u64) {
        if let Some(since) = self.connected_at.take() {
            if now_ms.saturating_sub(since) >= self.policy.stable_after_ms {
                self.reset();
            }
        }
    }

    /// Start over from the initial delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.previous_ms = 0;
    }

    /// Attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

fn uniform(random: u32, low: u64, high: u64) -> u64 {
    if high <= low {
        return low;
    }
    low + u64::from(random) % (high - low + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> BackoffPolicy {
        BackoffPolicy {
            initial_ms: 100,
            max_ms: 1000,
            jitter,
            stable_after_ms: 5000,
        }
    }

    #[test]
    fn grows_exponentially_to_the_cap() {
        let mut b = Backoff::new(policy(Jitter::None));
        let delays: [u64; 7] = core::array::from_fn(|_| b.next_delay(0));
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        for _ in 0..100 {
            assert_eq!(
                b.next_delay(u32::MAX),
                1000,
                "no overflow past many attempts"
            );
        }
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling() {
        let mut b = Backoff::new(policy(Jitter::Full));
        assert_eq!(b.next_delay(0), 0);
        assert_eq!(b.next_delay(200), 200);
        assert_eq!(b.next_delay(401), 0, "uniform in [0, 400]");
        for r in [0, 7, 12345, u32::MAX] {
            assert!(b.next_delay(r) <= 1000);
        }
    }

    #[test]
    fn decorrelated_jitter_is_bounded_by_three_times_previous() {
        let mut b = Backoff::new(policy(Jitter::Decorrelated));
        assert_eq!(b.next_delay(u32::MAX), 100, "first is the initial delay");
        let d = b.next_delay(u32::MAX);
        assert!((100..=300).contains(&d));
        for r in [0, 99, 12345, u32::MAX] {
            let d = b.next_delay(r);
            assert!((100..=1000).contains(&d));
        }
    }

    #[test]
    fn resets_only_after_a_stable_connection() {
        let mut b = Backoff::new(policy(Jitter::None));
        b.next_delay(0);
        b.next_delay(0);
        b.connected(1000);
        b.disconnected(2000);
        assert_eq!(b.next_delay(0), 400, "a short connection keeps growing");
        b.connected(10_000);
        b.disconnected(15_000);
        assert_eq!(b.next_delay(0), 100);
        assert_eq!(b.attempt(), 1);
    }
}
