//! The bookkeeping of the loaded-component cache ([`super::ComponentCache`]).

use std::collections::HashMap;

/// At most `capacity` values by key; inserting past it drops the least recently
/// used (read or inserted) one. Pure bookkeeping: O(n) eviction, for small n.
#[derive(Debug)]
pub struct Lru<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (V, u64)>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// Holds at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The value under `key`, now the most recently used.
    pub fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(v, used)| {
            *used = tick;
            v.clone()
        })
    }

    /// Stores `value` under `key`; returns the key evicted to make room, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<K> {
        self.tick += 1;
        self.entries.insert(key, (value, self.tick));
        if self.entries.len() <= self.capacity {
            return None;
        }
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())?;
        self.entries.remove(&oldest);
        Some(oldest)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_the_least_recently_used_version_when_full() {
        let mut lru = Lru::new(2);
        assert_eq!(lru.insert("a", 1), None);
        assert_eq!(lru.insert("b", 2), None);
        assert_eq!(lru.get(&"a"), Some(1), "a is now the most recently used");
        assert_eq!(lru.insert("c", 3), Some("b"));
        assert_eq!(
            (lru.get(&"b"), lru.get(&"a"), lru.get(&"c")),
            (None, Some(1), Some(3))
        );
        assert_eq!(lru.len(), 2);
        // A capacity of zero still holds the one being used.
        let mut one = Lru::new(0);
        assert_eq!(one.insert("x", 1), None);
        assert_eq!(one.insert("y", 2), Some("x"));
    }
}
