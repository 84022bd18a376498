//! The idempotency cache: recent command ids and the exact response each one got.
//!
//! A least-recently-used map with a time to live, bounded both in entries and in bytes, so a
//! flood of large responses cannot grow it past what the device can spare.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

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

/// A cached response and when it expires.
#[derive(Debug)]
pub struct Entry {
    response: String,
    expires_at: u64,
}

/// LRU + TTL map from command id to its serialized response. Time is the caller's monotonic
/// milliseconds.
#[derive(Debug)]
pub struct Dedup<S = DefaultStore> {
    config: DedupConfig,
    store: S,
    bytes: usize,
}

impl<S: Store> Dedup<S> {
    /// An empty cache with `config`'s limits.
    pub fn new(config: DedupConfig) -> Self {
        Self {
            config,
            store: S::default(),
            bytes: 0,
        }
    }

    /// The cached response for `id`, marking it recently used; `None` when absent or expired.
    pub fn get(&mut self, id: &str, now_ms: u64) -> Option<&str> {
        if self.store.peek(id)?.expires_at <= now_ms {
            self.remove(id);
            return None;
        }
        self.store.touch(id).map(|e| e.response.as_str())
    }

    /// Whether `id` has a live response, without touching its recency.
    pub fn contains(&self, id: &str, now_ms: u64) -> bool {
        self.store.peek(id).is_some_and(|e| e.expires_at > now_ms)
    }

    /// Store `response` for `id`, evicting least recently used entries to stay in bounds.
    /// Returns false when the response alone exceeds the byte bound and was not stored.
    pub fn insert(&mut self, id: String, response: String, now_ms: u64) -> bool {
        self.remove(&id);
        let size = cost(&id, &response);
        if size > self.config.max_bytes || self.config.max_entries == 0 {
            return false;
        }
        while self.store.count() >= self.config.max_entries
            || self.bytes + size > self.config.max_bytes
        {
            match self.store.pop_oldest() {
                Some((id, entry)) => self.bytes -= cost(&id, &entry.response),
                None => break,
            }
        }
        let expires_at = now_ms.saturating_add(self.config.ttl_ms);
        self.store.push_newest(
            id,
            Entry {
                response,
                expires_at,
            },
        );
        self.bytes += size;
        true
    }

    /// Number of ids held (expired ones included until they are touched or evicted).
    pub fn len(&self) -> usize {
        self.store.count()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.store.count() == 0
    }

    /// Bytes held, as counted against [`DedupConfig::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn remove(&mut self, id: &str) {
        if let Some((key, entry)) = self.store.remove(id) {
            self.bytes -= cost(&key, &entry.response);
        }
    }
}

/// How the cache keeps its entries in recency order. Two layouts, one contract: hosts keep
/// 1000 ids, where [`TreeStore`] makes every operation O(log n); a chip keeps a few dozen,
/// where [`ListStore`] scans them as fast and takes a fraction of the flash (each `BTreeMap`
/// instantiation is about 3.5 KiB of Thumb code).
pub trait Store: Default {
    #[doc(hidden)]
    fn count(&self) -> usize;
    #[doc(hidden)]
    fn peek(&self, id: &str) -> Option<&Entry>;
    /// Marks `id` most recently used.
    #[doc(hidden)]
    fn touch(&mut self, id: &str) -> Option<&Entry>;
    #[doc(hidden)]
    fn push_newest(&mut self, id: String, entry: Entry);
    #[doc(hidden)]
    fn pop_oldest(&mut self) -> Option<(String, Entry)>;
    #[doc(hidden)]
    fn remove(&mut self, id: &str) -> Option<(String, Entry)>;
}

/// The store the crate's build uses: the tree with `std`, the list without.
#[cfg(feature = "std")]
pub type DefaultStore = TreeStore;
/// The store the crate's build uses: the tree with `std`, the list without.
#[cfg(not(feature = "std"))]
pub type DefaultStore = ListStore;

/// Ordered maps from id to entry and from a recency tick to id.
#[derive(Debug, Default)]
pub struct TreeStore {
    entries: BTreeMap<String, (Entry, u64)>,
    recency: BTreeMap<u64, String>,
    next_tick: u64,
}

impl TreeStore {
    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

impl Store for TreeStore {
    fn count(&self) -> usize {
        self.entries.len()
    }

    fn peek(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id).map(|(e, _)| e)
    }

    fn touch(&mut self, id: &str) -> Option<&Entry> {
        let tick = self.tick();
        let (_, old) = self.entries.get_mut(id)?;
        let old = core::mem::replace(old, tick);
        let key = self
            .recency
            .remove(&old)
            .expect("every entry has a recency tick");
        self.recency.insert(tick, key);
        self.peek(id)
    }

    fn push_newest(&mut self, id: String, entry: Entry) {
        let tick = self.tick();
        self.recency.insert(tick, id.clone());
        self.entries.insert(id, (entry, tick));
    }

    fn pop_oldest(&mut self) -> Option<(String, Entry)> {
        let (_, id) = self.recency.pop_first()?;
        let (entry, _) = self.entries.remove(&id)?;
        Some((id, entry))
    }

    fn remove(&mut self, id: &str) -> Option<(String, Entry)> {
        let (key, (entry, tick)) = self.entries.remove_entry(id)?;
        self.recency.remove(&tick);
        Some((key, entry))
    }
}

/// Entries in a list, least recently used first.
#[derive(Debug, Default)]
pub struct ListStore {
    entries: Vec<(String, Entry)>,
}

impl ListStore {
    fn position(&self, id: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == id)
    }
}

impl Store for ListStore {
    fn count(&self) -> usize {
        self.entries.len()
    }

    fn peek(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, e)| e)
    }

    fn touch(&mut self, id: &str) -> Option<&Entry> {
        let i = self.position(id)?;
        let item = self.entries.remove(i);
        self.entries.push(item);
        self.entries.last().map(|(_, e)| e)
    }

    fn push_newest(&mut self, id: String, entry: Entry) {
        self.entries.push((id, entry));
    }

    fn pop_oldest(&mut self) -> Option<(String, Entry)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    fn remove(&mut self, id: &str) -> Option<(String, Entry)> {
        let i = self.position(id)?;
        Some(self.entries.remove(i))
    }
}

// The id counts twice, as the tree store keeps it (map key and recency value), so that a
// bound means the same with either store.
fn cost(id: &str, response: &str) -> usize {
    2 * id.len() + response.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn cache<S: Store>(max_entries: usize, max_bytes: usize, ttl_ms: u64) -> Dedup<S> {
        Dedup::new(DedupConfig {
            max_entries,
            max_bytes,
            ttl_ms,
        })
    }

    fn evicts_least_recently_used_first<S: Store>() {
        let mut d = cache::<S>(3, 1 << 20, 1000);
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

    fn entries_expire_after_ttl_from_insertion<S: Store>() {
        let mut d = cache::<S>(10, 1 << 20, 100);
        d.insert("a".to_string(), "A".to_string(), 0);
        assert_eq!(d.get("a", 99), Some("A"));
        assert_eq!(d.get("a", 100), None);
        assert!(d.is_empty());
        assert_eq!(d.bytes(), 0);
    }

    fn byte_bound_evicts_and_rejects_oversized<S: Store>() {
        let mut d = cache::<S>(100, 30, 1000);
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

    fn reinsert_replaces_and_keeps_accounting<S: Store>() {
        let mut d = cache::<S>(10, 1000, 1000);
        d.insert("a".to_string(), "one".to_string(), 0);
        d.insert("a".to_string(), "three".to_string(), 0);
        assert_eq!(d.len(), 1);
        assert_eq!(d.bytes(), 2 + 5);
        assert_eq!(d.get("a", 0), Some("three"));
    }

    fn stays_bounded_under_many_ids<S: Store>() {
        let mut d = Dedup::<S>::new(DedupConfig::default());
        for i in 0..5000u64 {
            d.insert(alloc::format!("id-{i}"), "{}".to_string(), i);
        }
        assert_eq!(d.len(), 1000);
        assert!(d.contains("id-4999", 5000) && !d.contains("id-3999", 5000));
    }

    // Both layouts keep one contract: every test runs on each.
    macro_rules! on_each_store {
        ($($test:ident),*) => {
            mod tree {
                $(#[test] fn $test() { super::$test::<super::TreeStore>() })*
            }
            mod list {
                $(#[test] fn $test() { super::$test::<super::ListStore>() })*
            }
        };
    }

    on_each_store!(
        evicts_least_recently_used_first,
        entries_expire_after_ttl_from_insertion,
        byte_bound_evicts_and_rejects_oversized,
        reinsert_replaces_and_keeps_accounting,
        stays_bounded_under_many_ids
    );
}
