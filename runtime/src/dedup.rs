//! The idempotency cache: recent command ids and the exact response each one got.
//!
//! A least-recently-used map with a time to live, bounded both in entries and in bytes, so a
//! flood of large responses cannot grow it past what the device can spare. Every operation is
//! O(log n): one ordered map from id to entry, one from a recency tick to id.

use alloc::collections::BTreeMap;
use alloc::string::String;

/// Limits of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupConfig {
    /// Most ids kept (the official client keeps 1000).
    pub max_entries: usize,
    /// Most bytes kept, counting ids and responses. A response larger than this on its own
    /// is not cached, so a duplicate of it would run again: size the bound above the
    /// largest response the device sends.
    pub max_bytes: usize,
    /// How long a response stays valid after it was stored (the official client: 5 min).
    pub ttl_ms: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            max_entries: 1000,
            max_bytes: 16 * 1024 * 1024,
            ttl_ms: 5 * 60 * 1000,
        }
    }
}

#[derive(Debug)]
struct Entry {
    response: String,
    expires_at: u64,
    tick: u64,
}

/// LRU + TTL map from command id to its serialized response. Time is the caller's monotonic
/// milliseconds.
#[derive(Debug)]
pub struct Dedup {
    config: DedupConfig,
    entries: BTreeMap<String, Entry>,
    recency: BTreeMap<u64, String>,
    next_tick: u64,
    bytes: usize,
}

impl Dedup {
    /// An empty cache with `config`'s limits.
    pub fn new(config: DedupConfig) -> Self {
        Self {
            config,
            entries: BTreeMap::new(),
            recency: BTreeMap::new(),
            next_tick: 0,
            bytes: 0,
        }
    }

    /// The cached response for `id`, marking it recently used; `None` when absent or expired.
    pub fn get(&mut self, id: &str, now_ms: u64) -> Option<&str> {
        let expired = self.entries.get(id)?.expires_at <= now_ms;
        if expired {
            self.remove(id);
            return None;
        }
        let tick = self.tick();
        let entry = self.entries.get_mut(id)?;
        let old = core::mem::replace(&mut entry.tick, tick);
        let key = self
            .recency
            .remove(&old)
            .expect("every entry has a recency tick");
        self.recency.insert(tick, key);
        Some(self.entries.get(id)?.response.as_str())
    }

    /// Whether `id` has a live response, without touching its recency.
    pub fn contains(&self, id: &str, now_ms: u64) -> bool {
        self.entries.get(id).is_some_and(|e| e.expires_at > now_ms)
    }

    /// Store `response` for `id`, evicting least recently used entries to stay in bounds.
    /// Returns false when the response alone exceeds the byte bound and was not stored.
    pub fn insert(&mut self, id: String, response: String, now_ms: u64) -> bool {
        self.remove(&id);
        let size = cost(&id, &response);
        if size > self.config.max_bytes || self.config.max_entries == 0 {
            return false;
        }
        while self.entries.len() >= self.config.max_entries
            || self.bytes + size > self.config.max_bytes
        {
            self.evict_oldest();
        }
        let tick = self.tick();
        self.recency.insert(tick, id.clone());
        self.entries.insert(
            id,
            Entry {
                response,
                expires_at: now_ms.saturating_add(self.config.ttl_ms),
                tick,
            },
        );
        self.bytes += size;
        true
    }

    /// Number of ids held (expired ones included until they are touched or evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held, as counted against [`DedupConfig::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn evict_oldest(&mut self) {
        if let Some((_, id)) = self.recency.pop_first() {
            if let Some(entry) = self.entries.remove(&id) {
                self.bytes -= cost(&id, &entry.response);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some((key, entry)) = self.entries.remove_entry(id) {
            self.recency.remove(&entry.tick);
            self.bytes -= cost(&key, &entry.response);
        }
    }
}

// The id is stored twice (map key and recency value).
fn cost(id: &str, response: &str) -> usize {
    2 * id.len() + response.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn cache(max_entries: usize, max_bytes: usize, ttl_ms: u64) -> Dedup {
        Dedup::new(DedupConfig {
            max_entries,
            max_bytes,
            ttl_ms,
        })
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut d = cache(3, 1 << 20, 1000);
        for id in ["a", "b", "c"] {
            d.insert(id.to_string(), id.to_uppercase(), 0);
        }
        assert_eq!(d.get("a", 1), Some("A"));
        d.insert("d".to_string(), "D".to_string(), 2);
        assert!(!d.contains("b", 2), "b was least recently used");
        assert!(d.contains("a", 2) && d.contains("c", 2) && d.contains("d", 2));
        d.insert("e".to_string(), "E".to_string(), 3);
        assert!(!d.contains("c", 3));
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn entries_expire_after_ttl_from_insertion() {
        let mut d = cache(10, 1 << 20, 100);
        d.insert("a".to_string(), "A".to_string(), 0);
        assert_eq!(d.get("a", 99), Some("A"));
        assert_eq!(d.get("a", 100), None);
        assert!(d.is_empty());
        assert_eq!(d.bytes(), 0);
    }

    #[test]
    fn byte_bound_evicts_and_rejects_oversized() {
        let mut d = cache(100, 30, 1000);
        d.insert("a".to_string(), "x".repeat(10), 0);
        d.insert("b".to_string(), "y".repeat(10), 0);
        assert_eq!(d.bytes(), 24);
        d.insert("c".to_string(), "z".repeat(10), 0);
        assert!(!d.contains("a", 0) && d.contains("b", 0) && d.contains("c", 0));
        assert!(d.bytes() <= 30);
        assert!(!d.insert("big".to_string(), "w".repeat(40), 0));
        assert!(!d.contains("big", 0));
        assert!(d.contains("c", 0), "a rejected insert evicts nothing");
    }

    #[test]
    fn reinsert_replaces_and_keeps_accounting() {
        let mut d = cache(10, 1000, 1000);
        d.insert("a".to_string(), "one".to_string(), 0);
        d.insert("a".to_string(), "three".to_string(), 0);
        assert_eq!(d.len(), 1);
        assert_eq!(d.bytes(), 2 + 5);
        assert_eq!(d.get("a", 0), Some("three"));
    }

    #[test]
    fn stays_bounded_under_many_ids() {
        let mut d = Dedup::new(DedupConfig::default());
        for i in 0..5000u64 {
            d.insert(alloc::format!("id-{i}"), "{}".to_string(), i);
        }
        assert_eq!(d.len(), 1000);
        assert!(d.contains("id-4999", 5000) && !d.contains("id-3999", 5000));
    }
}
