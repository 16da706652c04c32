//! A process-wide registry of things shared by key and held weakly: the first element that
//! asks opens the thing, later ones with the same key share it, and it goes away with the
//! last element holding it (nothing outlives its pipelines). ONNX sessions (by model file,
//! device and threads) and counting sites (by gallery name) are kept this way.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, LazyLock, Mutex, Weak};

type Live<K, V> = Mutex<HashMap<K, Weak<V>>>;

impl<K: Eq + Hash, V> Default for WeakRegistry<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

pub struct WeakRegistry<K, V> {
    live: LazyLock<Live<K, V>>,
}

impl<K: Eq + Hash, V> WeakRegistry<K, V> {
    /// An empty registry, for a `static`.
    pub const fn new() -> Self {
        WeakRegistry {
            live: LazyLock::new(Live::<K, V>::default),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Weak<V>>> {
        // A panic elsewhere while the map was held leaves it consistent: no poisoning.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live value under `key`, or the one `open` makes, registered under `key`. The
    /// registry is held while `open` runs, so elements starting together open it once; an
    /// error from `open` registers nothing.
    pub fn get_or_open<E>(&self, key: K, open: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        let mut live = self.entries();
        live.retain(|_, v| v.strong_count() > 0);
        if let Some(v) = live.get(&key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        let v = Arc::new(open()?);
        live.insert(key, Arc::downgrade(&v));
        Ok(v)
    }

    /// The live value under `key`, if an element holds one.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries().get(key).and_then(Weak::upgrade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NUMBERS: WeakRegistry<&'static str, Mutex<u32>> = WeakRegistry::new();

    #[test]
    fn same_key_shares_and_the_last_holder_frees() {
        let a = NUMBERS
            .get_or_open("a", || Ok::<_, ()>(Mutex::new(1)))
            .unwrap();
        *a.lock().unwrap() = 7;
        let again = NUMBERS
            .get_or_open("a", || Ok::<_, ()>(Mutex::new(1)))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(*NUMBERS.get("a").unwrap().lock().unwrap(), 7);
        drop((a, again));
        assert!(NUMBERS.get("a").is_none(), "nobody holds it: gone");
        let fresh = NUMBERS
            .get_or_open("a", || Ok::<_, ()>(Mutex::new(1)))
            .unwrap();
        assert_eq!(*fresh.lock().unwrap(), 1);
    }

    #[test]
    fn a_failed_open_registers_nothing() {
        assert_eq!(NUMBERS.get_or_open("b", || Err("no")).err(), Some("no"));
        assert!(NUMBERS.get("b").is_none());
    }
}
