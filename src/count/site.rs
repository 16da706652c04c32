//! Galleries shared by name inside one process: every `facecounter` naming the same
//! `gallery` (two entrances of one shop) uses one [`Site`], so a visitor crossing both is
//! counted once. Held weakly: when the last element using a site stops, its identities are
//! dropped with it (nothing outlives the pipeline unless persisted on purpose).

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use std::path::{Path, PathBuf};

use super::gallery::Gallery;
use super::persist::{self, Record};
use super::visits::Counts;
use crate::registry::WeakRegistry;

/// The site clock starts here rather than at 0, so identities loaded from a gallery file,
/// last seen before this process started, still have a place on it (400 days).
const CLOCK_BASE: u64 = 400 * 24 * 3600 * 1_000_000_000;

/// Nanoseconds since the Unix epoch, now.
pub fn wall_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

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
    /// The gallery file, when one counter of the site asked for persistence.
    pub file: Option<PathBuf>,
    /// When the gallery file was last written.
    pub saved: Option<Instant>,
}

impl Site {
    /// Nanoseconds on the site clock now.
    pub fn clock_now(&self) -> u64 {
        CLOCK_BASE + self.opened.elapsed().as_nanos() as u64
    }

    /// Wall-clock time (ns since the epoch) of a site-clock time.
    fn wall_of(&self, t: u64) -> u64 {
        (self.window_start + t).saturating_sub(CLOCK_BASE)
    }

    /// Site-clock time of a wall-clock time (0 if before the clock's range).
    fn site_time_of(&self, wall: u64) -> u64 {
        (wall + CLOCK_BASE).saturating_sub(self.window_start)
    }

    /// Persists this site's gallery in `path`, loading the identities it holds that have
    /// not expired. One file per site: a second, different file is an error. Returns how
    /// many identities were loaded.
    pub fn attach_file(&mut self, path: &Path, retention: u64) -> Result<usize, String> {
        match &self.file {
            Some(f) if f == path => return Ok(0),
            Some(f) => {
                return Err(format!(
                    "this gallery already persists to {}, not {}",
                    f.display(),
                    path.display()
                ))
            }
            None => {}
        }
        persist::remove_stale_temporaries(path);
        let records = persist::load(path, wall_now())?;
        for r in &records {
            // Seen before this process started (a file's stream time can run ahead of the
            // wall clock; nothing is seen in the future).
            let last_seen = self
                .site_time_of(r.expiry_ns.saturating_sub(retention))
                .min(self.clock_now());
            let views: Vec<_> = r.views.iter().map(|v| (*v, 0.0)).collect();
            self.gallery.insert(&views, last_seen);
        }
        self.file = Some(path.to_path_buf());
        Ok(records.len())
    }

    /// What to write to the gallery file now (every identity with its expiry), if the site
    /// persists; marks it saved.
    pub fn snapshot(&mut self, retention: u64) -> Option<(PathBuf, Vec<Record>)> {
        let path = self.file.clone()?;
        self.saved = Some(Instant::now());
        let records = self
            .gallery
            .export()
            .into_iter()
            .map(|(last_seen, views)| Record {
                expiry_ns: self.wall_of(last_seen) + retention,
                views: views.into_iter().map(|(e, _)| e).collect(),
            })
            .collect();
        Some((path, records))
    }
}

static SITES: WeakRegistry<String, Mutex<Site>> = WeakRegistry::new();

/// The site named `name`, created (empty, window starting now) if no element holds it.
pub fn site(name: &str) -> Arc<Mutex<Site>> {
    let Ok(site) = SITES.get_or_open(name.to_string(), || {
        Ok::<_, std::convert::Infallible>(Mutex::new(Site {
            gallery: Gallery::new(),
            counts: Counts::default(),
            window_start: wall_now(),
            opened: Instant::now(),
            file: None,
            saved: None,
        }))
    });
    site
}

/// How many identities the site `name` holds in memory now; `None` when no element holds
/// the site (then nothing of it is kept). For operators' checks and the retention tests.
pub fn identity_count(name: &str) -> Option<usize> {
    let site = SITES.get(name)?;
    let n = site.lock().unwrap().gallery.len();
    Some(n)
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
