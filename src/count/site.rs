//! Galleries shared by name inside one process: every `facecounter` naming the same
//! `gallery` (two entrances of one shop) uses one [`Site`], so a visitor crossing both is
//! counted once. Held weakly: when the last element using a site stops, its identities are
//! dropped with it (nothing outlives the pipeline unless persisted on purpose).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::gallery::Gallery;
use super::visits::Counts;

/// One site's identities and totals.
#[derive(Debug, Default)]
pub struct Site {
    pub gallery: Gallery,
    pub counts: Counts,
    /// Clock time (ns) the counting window started.
    pub window_start: u64,
}

static SITES: LazyLock<Mutex<HashMap<String, Weak<Mutex<Site>>>>> = LazyLock::new(Default::default);

/// The site named `name`, created (empty, window starting at `now`) if no element holds it.
pub fn site(name: &str, now: u64) -> Arc<Mutex<Site>> {
    let mut sites = SITES.lock().unwrap();
    if let Some(s) = sites.get(name).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Mutex::new(Site {
        gallery: Gallery::new(),
        counts: Counts::default(),
        window_start: now,
    }));
    sites.insert(name.to_string(), Arc::downgrade(&s));
    sites.retain(|_, w| w.strong_count() > 0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_shares_and_last_user_frees() {
        let a = site("test-shop", 5);
        let b = site("test-shop", 9);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.lock().unwrap().window_start, 5);
        let other = site("test-other", 0);
        assert!(!Arc::ptr_eq(&a, &other));
        drop((a, b));
        let fresh = site("test-shop", 7);
        assert_eq!(
            fresh.lock().unwrap().window_start,
            7,
            "a site without users starts afresh"
        );
    }
}
