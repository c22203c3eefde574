//! The most recent entries of a map, in bounded memory: what the store transports remember
//! of the objects and counters a rank made, so that its close removes those nobody removed.
//!
//! An algorithm removes its objects and counters when its call ends, often from another
//! rank than the one that made them, which then cannot tell. Remembering every entry would
//! grow with the number of calls; remembering the last [`Recent::LIMIT`] covers the calls
//! that can still be unfinished at close. Older keys that a failed call left behind expire
//! on the server by themselves.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map that keeps only its [`Recent::LIMIT`] most recently inserted keys.
pub(crate) struct Recent<K, V> {
    map: HashMap<K, V>,
    /// Keys in the order of insertion; may hold keys removed since (skipped when evicting).
    order: VecDeque<K>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Recent<K, V> {
    /// How many entries the map keeps.
    pub(crate) const LIMIT: usize = 1024;

    /// The value of `key`, inserted with `make` if absent (forgetting the oldest entry
    /// beyond [`Recent::LIMIT`]).
    pub(crate) fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            self.order.push_back(key.clone());
            self.map.insert(key.clone(), make());
            self.forget_oldest();
        }
        self.map.get_mut(&key).expect("inserted above")
    }

    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        let mut value = Some(value);
        let slot = self.entry(key, || value.take().expect("taken once"));
        if let Some(value) = value {
            *slot = value;
        }
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let value = self.map.remove(key);
        // Removed keys leave the order lazily: from its front at once, from elsewhere
        // once they are as many as the limit.
        while self
            .order
            .front()
            .is_some_and(|k| !self.map.contains_key(k))
        {
            self.order.pop_front();
        }
        if self.order.len() > 2 * Self::LIMIT {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
        value
    }

    /// The entries.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Takes every entry out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.order.clear();
        self.map.drain()
    }

    /// How many entries the map holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn forget_oldest(&mut self) {
        while self.map.len() > Self::LIMIT {
            let Some(oldest) = self.order.pop_front() else {
                return;
            };
            self.map.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_entries_and_forgets_the_oldest() {
        let mut r: Recent<u64, u64> = Recent::default();
        let limit = Recent::<u64, u64>::LIMIT as u64;
        for k in 0..3 * limit {
            r.insert(k, k * 10);
        }
        assert_eq!(r.len(), limit as usize);
        assert_eq!(r.remove(&(2 * limit - 1)), None, "forgotten");
        assert_eq!(r.remove(&(3 * limit - 1)), Some((3 * limit - 1) * 10));
        r.insert(5, 1);
        r.insert(5, 2);
        assert_eq!(*r.entry(5, || 0), 2);
    }

    #[test]
    fn removed_entries_do_not_pile_up_in_the_order() {
        let mut r: Recent<u64, ()> = Recent::default();
        let limit = Recent::<u64, ()>::LIMIT as u64;
        // One entry stays while many come and go behind it (not at the front).
        r.insert(u64::MAX, ());
        for k in 0..100 * limit {
            r.insert(k, ());
            assert_eq!(r.remove(&k), Some(()));
            assert!(r.order.len() <= 2 * limit as usize + 1);
        }
        assert_eq!(r.iter().count(), 1);
        assert_eq!(r.drain().count(), 1);
        assert_eq!(r.len(), 0);
    }
}
