//! Inputs and references shared by the ranks of a job, so each is computed once, not once
//! per rank (the ranks are threads of this process whatever the transport).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Entry = (usize, Arc<dyn Any + Send + Sync>);

/// Values keyed by a case's seed and the size of the communicator that uses them.
#[derive(Default)]
pub(crate) struct Cache {
    map: Mutex<HashMap<(u64, usize), Entry>>,
}

impl Cache {
    /// The value for `seed` on a communicator of `ranks` ranks, made by `make` for the first
    /// rank that asks; dropped once `ranks` ranks have fetched it.
    pub(crate) fn get<V: Any + Send + Sync>(
        &self,
        seed: u64,
        ranks: usize,
        make: impl FnOnce() -> V,
    ) -> Arc<V> {
        // Made under the lock: the other ranks want the same value next anyway.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (seed, ranks);
        let (fetched, value) = map
            .entry(key)
            .or_insert_with(|| (0, Arc::new(make()) as Arc<dyn Any + Send + Sync>));
        *fetched += 1;
        let value = Arc::clone(value);
        if *fetched >= ranks {
            map.remove(&key);
        }
        value
            .downcast::<V>()
            .expect("one value type per seed (seeds name the collective)")
    }
}
