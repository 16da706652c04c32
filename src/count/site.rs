//! Galleries shared by name inside one process: every `facecounter` naming the same
//! `gallery` (two entrances of one shop) uses one [`Site`], so a visitor crossing both is
//! counted once. Held weakly: when the last element using a site stops, its identities are
//! dropped with it (nothing outlives the pipeline unless persisted on purpose).

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use std::path::{Path, PathBuf};

use super::gallery::{Gallery, GalleryCopy};
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

/// Wall-clock time (ns since the epoch) of a site-clock time, on a site whose counting
/// window started at `window_start`.
fn wall_time(window_start: u64, site_time: u64) -> u64 {
    (window_start + site_time).saturating_sub(CLOCK_BASE)
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
    pub fn wall_of(&self, site_time: u64) -> u64 {
        wall_time(self.window_start, site_time)
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

    /// What to write to the gallery file now, if the site persists; marks it saved. Only a
    /// flat copy is taken here, under the site lock: [`Snapshot::records`] unpacks it.
    pub fn snapshot(&mut self, retention: u64) -> Option<Snapshot> {
        let path = self.file.clone()?;
        self.saved = Some(Instant::now());
        Some(Snapshot {
            path,
            gallery: self.gallery.flat_copy(),
            window_start: self.window_start,
            retention,
        })
    }
}

/// A site's gallery as it was when a save fell due, for the writer thread.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The gallery file.
    pub path: PathBuf,
    gallery: GalleryCopy,
    /// The site's [`Site::window_start`] then, which places its clock on the wall clock.
    window_start: u64,
    retention: u64,
}

impl Snapshot {
    /// The snapshot of an empty gallery that persists to `path`.
    #[cfg(test)]
    pub(crate) fn empty(path: PathBuf) -> Snapshot {
        Snapshot {
            path,
            gallery: GalleryCopy::default(),
            window_start: 0,
            retention: 0,
        }
    }

    /// Identities in the snapshot.
    pub fn len(&self) -> usize {
        self.gallery.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gallery.is_empty()
    }

    /// Every identity with its expiry on the wall clock, as the gallery file holds them.
    pub fn records(&self) -> Vec<Record> {
        self.gallery
            .identities()
            .map(|(last_seen, views)| Record {
                expiry_ns: wall_time(self.window_start, last_seen) + self.retention,
                views,
            })
            .collect()
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
    use crate::embed::embedder::Embedding;

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

    fn view(seed: f32) -> Embedding {
        let mut e = [0.0; crate::embed::embedder::DIM];
        for (i, v) in e.iter_mut().enumerate() {
            *v = ((i as f32 + 1.0) * seed).sin() / 16.0;
        }
        e
    }

    #[test]
    fn a_snapshot_holds_the_gallery_as_it_was_and_round_trips() {
        let retention = 3_600_000_000_000;
        let shop = site("test-snapshot");
        let dir = std::env::temp_dir().join(format!("footfall-site-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gallery.bin");
        let _ = std::fs::remove_file(&path);
        let snapshot = {
            let mut s = shop.lock().unwrap();
            s.attach_file(&path, retention).unwrap();
            let now = s.clock_now();
            s.gallery.insert(&[(view(1.0), 0.9), (view(1.5), 0.8)], now);
            s.gallery.insert(&[(view(2.0), 0.7)], now);
            let snapshot = s.snapshot(retention).unwrap();
            // Later changes are not in the snapshot.
            s.gallery.insert(&[(view(3.0), 0.7)], now);
            snapshot
        };
        let records = snapshot.records();
        assert_eq!((snapshot.len(), records.len()), (2, 2));
        assert_eq!(records[0].views, vec![view(1.0), view(1.5)]);
        assert_eq!(records[1].views, vec![view(2.0)]);
        let expiry = wall_now() + retention;
        for r in &records {
            assert!(
                r.expiry_ns.abs_diff(expiry) < 60_000_000_000,
                "{}",
                r.expiry_ns
            );
        }
        persist::save(&path, &records, wall_now()).unwrap();
        drop(shop);
        let reopened = site("test-snapshot");
        assert_eq!(
            reopened.lock().unwrap().attach_file(&path, retention),
            Ok(2)
        );
    }
}
