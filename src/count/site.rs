//! Galleries shared by name inside one process: every `facecounter` naming the same
//! `gallery` (two entrances of one shop) uses one [`Site`], so a visitor crossing both is
//! counted once. Held weakly: when the last element using a site stops, its identities are
//! dropped with it (nothing outlives the pipeline unless persisted on purpose).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Instant, SystemTime};

use super::gallery::Gallery;
use super::visits::Counts;

/// One site's identities and totals.
#[derive(Debug)]
pub struct Site {
    pub gallery: Gallery,
    pub counts: Counts,
    /// Wall-clock time (ns since the Unix epoch) the counting window started.
    pub window_start: u64,
    /// Monotonic origin of the site clock: counters in separate pipelines, started at
    /// different times, place their stream time on this one clock (see `facecounter`).
    pub opened: Instant,
}

impl Site {
    /// Nanoseconds on the site clock now.
    pub fn clock_now(&self) -> u64 {
        self.opened.elapsed().as_nanos() as u64
    }
}

static SITES: LazyLock<Mutex<HashMap<String, Weak<Mutex<Site>>>>> = LazyLock::new(Default::default);

/// The site named `name`, created (empty, window starting now) if no element holds it.
pub fn site(name: &str) -> Arc<Mutex<Site>> {
    let mut sites = SITES.lock().unwrap();
    if let Some(s) = sites.get(name).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Mutex::new(Site {
        gallery: Gallery::new(),
        counts: Counts::default(),
        window_start: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        opened: Instant::now(),
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
        let a = site("test-shop");
        a.lock().unwrap().counts.visits = 3;
        let b = site("test-shop");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.lock().unwrap().counts.visits, 3);
        let other = site("test-other");
        assert!(!Arc::ptr_eq(&a, &other));
        drop((a, b));
        let fresh = site("test-shop");
        assert_eq!(
            fresh.lock().unwrap().counts.visits,
            0,
            "a site without users starts afresh"
        );
    }
}
