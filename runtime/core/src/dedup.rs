//! The idempotency cache: the command ids a device ran, and the exact response each got.
//!
//! Two least-recently-used maps with a time to live, under one byte budget. Ids are small and
//! outlive responses: when the budget is short, the oldest responses go first and their ids
//! stay, so a late retry of an id whose response was dropped is still known to have run (the
//! ledger answers it with an error instead of running it again). Only when no response is
//! left do the oldest ids go. The time to live covers the gateway's retry horizon (see
//! [`crate::ledger::retry_horizon_ms`]); a count bound is kept for responses alone.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// Limits of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupConfig {
    /// Most responses kept: unbounded by default, the byte bound being the one that matters
    /// (the official client keeps 1000, which a backlog of retried commands outruns). A chip
    /// sets a small count, as its store scans a list. Ids of ran commands are not counted:
    /// they are bounded by bytes and time alone.
    pub max_entries: usize,
    /// Most bytes kept, counting ids (of responses and of ran commands) and responses. A
    /// response larger than this on its own is not cached; its id still is, so a duplicate
    /// gets the "already ran" error rather than a second execution.
    pub max_bytes: usize,
    /// How long an id and its response stay after they were stored (the official client:
    /// 5 min). A device raises it to its commands' retry horizon when that is longer.
    pub ttl_ms: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            max_entries: usize::MAX,
            // About 200,000 ids of 36-character UUIDs, or fewer with their responses.
            max_bytes: 16 * 1024 * 1024,
            ttl_ms: 5 * 60 * 1000,
        }
    }
}

/// A cached response (empty for an id-only entry) and when it expires.
#[derive(Debug)]
pub struct Entry {
    response: String,
    expires_at: u64,
}

/// Whether an id is known, and how much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Never ran, or forgotten (expired or evicted): run it.
    No,
    /// Ran, and this is its response.
    Answered(&'a str),
    /// Ran, but its response was dropped to stay within the byte budget.
    Ran,
}

/// Ids of ran commands and their responses; time is the caller's monotonic milliseconds.
#[derive(Debug)]
pub struct Dedup<S = DefaultStore> {
    config: DedupConfig,
    responses: S,
    // Ids without their response: dropped for room, or too large to keep.
    ran: S,
    bytes: usize,
}

impl<S: Store> Dedup<S> {
    /// An empty cache with `config`'s limits.
    pub fn new(config: DedupConfig) -> Self {
        Self {
            config,
            responses: S::default(),
            ran: S::default(),
            bytes: 0,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> DedupConfig {
        self.config
    }

    /// Keep ids (and responses) for at least `ttl_ms`: the device's retry horizon.
    pub fn extend_ttl(&mut self, ttl_ms: u64) {
        self.config.ttl_ms = self.config.ttl_ms.max(ttl_ms);
    }

    /// What is known about `id`, marking its response recently used.
    pub fn seen(&mut self, id: &str, now_ms: u64) -> Seen<'_> {
        if self.ran.peek(id).is_some_and(|e| e.expires_at > now_ms) {
            return Seen::Ran;
        }
        self.remove_from(Which::Ran, id);
        match self.get(id, now_ms) {
            Some(response) => Seen::Answered(response),
            None => Seen::No,
        }
    }

    /// The cached response for `id`, marking it recently used; `None` when absent or expired.
    pub fn get(&mut self, id: &str, now_ms: u64) -> Option<&str> {
        if self.responses.peek(id)?.expires_at <= now_ms {
            self.remove_from(Which::Responses, id);
            return None;
        }
        self.responses.touch(id).map(|e| e.response.as_str())
    }

    /// Whether `id` has a live response, without touching its recency.
    pub fn contains(&self, id: &str, now_ms: u64) -> bool {
        self.responses
            .peek(id)
            .is_some_and(|e| e.expires_at > now_ms)
    }

    /// Whether `id` ran and is still remembered, with or without its response.
    pub fn has_run(&self, id: &str, now_ms: u64) -> bool {
        self.contains(id, now_ms) || self.ran.peek(id).is_some_and(|e| e.expires_at > now_ms)
    }

    /// Store `response` for `id`, dropping expired entries, then the least recently used
    /// responses (their ids stay), then the oldest ids, to stay in bounds. Returns false when
    /// the response was not stored (alone larger than the byte bound, or no entries allowed);
    /// its id is remembered all the same when it fits.
    pub fn insert(&mut self, id: String, response: String, now_ms: u64) -> bool {
        self.remove_from(Which::Responses, &id);
        self.remove_from(Which::Ran, &id);
        self.drop_expired(now_ms);
        let expires_at = now_ms.saturating_add(self.config.ttl_ms);
        let size = cost(&id, &response);
        if size > self.config.max_bytes || self.config.max_entries == 0 {
            let size = cost(&id, "");
            if self.make_room(size) {
                self.ran.push_newest(
                    id,
                    Entry {
                        response: String::new(),
                        expires_at,
                    },
                );
                self.bytes += size;
            }
            return false;
        }
        while self.responses.count() >= self.config.max_entries {
            self.demote_oldest_response();
        }
        self.make_room(size);
        self.responses.push_newest(
            id,
            Entry {
                response,
                expires_at,
            },
        );
        self.bytes += size;
        true
    }

    /// Number of responses held (expired ones included until they are touched or dropped).
    pub fn len(&self) -> usize {
        self.responses.count()
    }

    /// Number of ids held without their response.
    pub fn ran_len(&self) -> usize {
        self.ran.count()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.responses.count() == 0 && self.ran.count() == 0
    }

    /// Bytes held, as counted against [`DedupConfig::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    // Frees room for `size` more bytes: responses first (keeping their ids while those fit),
    // then ids. False when even an empty cache could not hold `size`.
    fn make_room(&mut self, size: usize) -> bool {
        if size > self.config.max_bytes {
            return false;
        }
        while self.bytes + size > self.config.max_bytes && self.responses.count() > 0 {
            self.demote_oldest_response();
        }
        while self.bytes + size > self.config.max_bytes {
            match self.ran.pop_oldest() {
                Some((id, entry)) => self.bytes -= cost(&id, &entry.response),
                None => break,
            }
        }
        true
    }

    // The oldest response goes; its id stays while there is room for it.
    fn demote_oldest_response(&mut self) {
        let Some((id, entry)) = self.responses.pop_oldest() else {
            return;
        };
        self.bytes -= cost(&id, &entry.response);
        let size = cost(&id, "");
        if self.bytes + size <= self.config.max_bytes {
            self.bytes += size;
            self.ran.push_newest(
                id,
                Entry {
                    response: String::new(),
                    expires_at: entry.expires_at,
                },
            );
        }
    }

    // Ids only age (they are never touched), so the expired ones are the oldest.
    fn drop_expired(&mut self, now_ms: u64) {
        while self
            .ran
            .peek_oldest()
            .is_some_and(|e| e.expires_at <= now_ms)
        {
            if let Some((id, entry)) = self.ran.pop_oldest() {
                self.bytes -= cost(&id, &entry.response);
            }
        }
    }

    fn remove_from(&mut self, which: Which, id: &str) {
        let store = match which {
            Which::Responses => &mut self.responses,
            Which::Ran => &mut self.ran,
        };
        if let Some((key, entry)) = store.remove(id) {
            self.bytes -= cost(&key, &entry.response);
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Responses,
    Ran,
}

/// How the cache keeps its entries in recency order. Two layouts, one contract: hosts keep
/// thousands of ids, where [`TreeStore`] makes every operation O(log n); a chip keeps a few dozen,
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
    fn peek_oldest(&self) -> Option<&Entry>;
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

    fn peek_oldest(&self) -> Option<&Entry> {
        let (_, id) = self.recency.first_key_value()?;
        self.peek(id)
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

    fn peek_oldest(&self) -> Option<&Entry> {
        self.entries.first().map(|(_, e)| e)
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

    fn byte_bound_drops_responses_first_and_keeps_their_ids<S: Store>() {
        let mut d = cache::<S>(100, 30, 1000);
        d.insert("a".to_string(), "x".repeat(10), 0);
        d.insert("b".to_string(), "y".repeat(10), 0);
        assert_eq!(d.bytes(), 24);
        d.insert("c".to_string(), "z".repeat(10), 0);
        assert!(!d.contains("a", 0) && d.contains("b", 0) && d.contains("c", 0));
        assert_eq!(d.seen("a", 0), Seen::Ran, "a's id outlives its response");
        assert_eq!(d.bytes(), 2 + 12 + 12);
        assert!(!d.insert("big".to_string(), "w".repeat(40), 0));
        assert!(!d.contains("big", 0));
        assert_eq!(
            d.seen("big", 0),
            Seen::Ran,
            "a response too large still leaves its id"
        );
        assert!(d.contains("c", 0) && d.has_run("a", 0) && d.has_run("b", 0));
        assert!(d.bytes() <= 30);
    }

    fn ids_go_only_when_no_response_is_left<S: Store>() {
        // Ids cost 2 bytes, ids with their response 3: a, b, c and d leave two ids and two
        // responses; e then takes both responses' room and the oldest id's.
        let mut d = cache::<S>(100, 10, 1000);
        for id in ["a", "b", "c", "d", "e"] {
            d.insert(id.to_string(), "R".to_string(), 0);
        }
        assert_eq!(d.bytes(), 9);
        assert_eq!(d.seen("a", 0), Seen::No, "the oldest id went last");
        assert_eq!(d.seen("e", 0), Seen::Answered("R"));
        assert!(["b", "c", "d"].iter().all(|id| d.has_run(id, 0)));
    }

    fn ids_expire_and_free_their_bytes<S: Store>() {
        let mut d = cache::<S>(0, 1000, 100);
        assert!(
            !d.insert("a".to_string(), "A".to_string(), 0),
            "no responses allowed"
        );
        assert_eq!(d.seen("a", 99), Seen::Ran);
        assert_eq!(d.seen("a", 100), Seen::No);
        d.insert("b".to_string(), "B".to_string(), 50);
        d.insert("c".to_string(), "C".to_string(), 200);
        assert!(!d.has_run("b", 200) && d.has_run("c", 200));
        assert_eq!(
            (d.ran_len(), d.bytes()),
            (1, 2),
            "expired ids are dropped on insert"
        );
    }

    fn ttl_extends_to_the_retry_horizon<S: Store>() {
        let mut d = cache::<S>(10, 1000, 100);
        d.extend_ttl(50);
        assert_eq!(d.config().ttl_ms, 100, "never shortened");
        d.extend_ttl(10_000);
        d.insert("a".to_string(), "A".to_string(), 0);
        assert_eq!(d.seen("a", 9_999), Seen::Answered("A"));
        assert_eq!(d.seen("a", 10_000), Seen::No);
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
        let mut d = Dedup::<S>::new(DedupConfig {
            max_entries: 1000,
            ..DedupConfig::default()
        });
        for i in 0..5000u64 {
            d.insert(alloc::format!("id-{i}"), "{}".to_string(), i);
        }
        assert_eq!(d.len(), 1000);
        assert!(d.contains("id-4999", 5000) && !d.contains("id-3999", 5000));
        assert_eq!(d.ran_len(), 4000, "the count bounds responses, not ids");
        assert_eq!(d.seen("id-0", 5000), Seen::Ran);
        // By default only bytes count: every response stays.
        let mut d = Dedup::<S>::new(DedupConfig::default());
        for i in 0..5000u64 {
            d.insert(alloc::format!("id-{i}"), "{}".to_string(), i);
        }
        assert_eq!((d.len(), d.ran_len()), (5000, 0));
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
        byte_bound_drops_responses_first_and_keeps_their_ids,
        ids_go_only_when_no_response_is_left,
        ids_expire_and_free_their_bytes,
        ttl_extends_to_the_retry_horizon,
        reinsert_replaces_and_keeps_accounting,
        stays_bounded_under_many_ids
    );
}
