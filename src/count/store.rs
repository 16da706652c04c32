//! The count store: what was counted, per site, camera and minute, and one row per decided
//! visit, in an SQLite file (WAL), so counts outlive the process and can be exported.
//!
//! It holds aggregates and visit events only: never an embedding, a face, a crop or an
//! identity (a visit row says new / returning / staff / unidentified, when, and how long,
//! not who); and the MQTT messages (the same counts and visit JSON) not yet acknowledged
//! by a broker ([`crate::publish::durable`]). A thread of its own writes it; the element queues visits through a bounded
//! channel and never waits. Queued visits are committed within [`COMMIT_EVERY`], so a
//! process killed at any moment loses at most that much, and SQLite's journal keeps the
//! file whole.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::visits::Counts;

pub mod query;

/// The schema this build writes. A file of a newer one is set aside, never written.
pub const SCHEMA: i64 = 1;
/// Longest a queued visit waits before it is committed.
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Visits the channel holds before new ones are dropped (and counted).
pub const QUEUE_VISITS: usize = 4096;
/// Default for how long rows are kept.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// How often rows past the retention are deleted (also once at open).
const PURGE_EVERY: Duration = Duration::from_secs(3600);

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS minute_counts (
    site TEXT NOT NULL,
    camera TEXT NOT NULL,
    minute INTEGER NOT NULL,            -- start of the minute, Unix seconds
    unique_visitors INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    returning_visits INTEGER NOT NULL DEFAULT 0,
    staff_visits INTEGER NOT NULL DEFAULT 0,
    unidentified_visits INTEGER NOT NULL DEFAULT 0,
    dwell_ms_sum INTEGER NOT NULL DEFAULT 0,
    dwell_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, camera, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS visits (
    site TEXT NOT NULL,
    camera TEXT NOT NULL,
    number INTEGER NOT NULL,            -- the visit's number on its camera, across restarts
    at_ms INTEGER NOT NULL,             -- Unix milliseconds the visit was decided
    kind TEXT NOT NULL,                 -- new | returning | staff | unidentified
    dwell_ms INTEGER,
    PRIMARY KEY (site, camera, number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS visits_at ON visits (at_ms);
CREATE TABLE IF NOT EXISTS mqtt_outbox (  -- MQTT messages the broker has not acknowledged
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    base TEXT NOT NULL,                 -- the publisher's topic base (one camera)
    kind INTEGER NOT NULL,              -- 1 counts snapshot, 2 visit event
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,              -- the counts or visit JSON, as published
    retain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mqtt_outbox_base ON mqtt_outbox (base, id);
";

/// What a decided visit was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitKind {
    New,
    Returning,
    Staff,
    Unidentified,
}

impl VisitKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            VisitKind::New => "new",
            VisitKind::Returning => "returning",
            VisitKind::Staff => "staff",
            VisitKind::Unidentified => "unidentified",
        }
    }
}

/// One decided visit as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVisit {
    pub site: String,
    pub camera: String,
    pub number: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub kind: VisitKind,
    /// What the visit added to the site's counts.
    pub added: Counts,
    /// First to last seen of the visit's track, if known.
    pub dwell_ms: Option<u64>,
}

/// Where a camera stands in the store when its counter starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resume {
    /// The number for the camera's next visit (1 for a new camera).
    pub next_visit: u64,
    /// The site's counts stored for today (every camera), before the given time.
    pub today: Counts,
}

/// What the store thread did that the element should say.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreReport {
    /// A commit failed (disk full, file gone): `lost` visits were not stored.
    Failed { error: String, lost: u64 },
}

/// A visit could not be queued: the store thread is behind (or gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

enum Job {
    Visit(Box<StoredVisit>),
    /// Answered once every visit queued before it is committed.
    Flush(SyncSender<()>),
}

/// An open store and its writer thread.
pub struct CountStore {
    path: PathBuf,
    jobs: Option<SyncSender<Job>>,
    reports: Receiver<StoreReport>,
    thread: Option<JoinHandle<()>>,
}

/// A store opened: the store, and what was wrong with the file found there, if anything.
pub struct Opened {
    pub store: CountStore,
    /// Set when the file there could not be used and was set aside (the message says where).
    pub set_aside: Option<String>,
}

impl CountStore {
    /// Opens the store at `path` (created with its folder if missing) and starts its thread.
    /// A file that is not a store, is damaged or has a newer schema is renamed to
    /// `<path>.aside-<unix seconds>` and a new store is started. An error if the place
    /// cannot be written.
    pub fn open(path: &Path, retention_days: u32) -> Result<Opened, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!("count store: cannot create folder '{}': {e}", dir.display())
            })?;
        }
        let (conn, set_aside) = match connect(path) {
            Ok(conn) => (conn, None),
            Err(Unusable::Unwritable(e)) => return Err(e),
            Err(Unusable::Bad(why)) => {
                let aside = set_aside(path)?;
                let conn = connect(path).map_err(|e| e.message())?;
                let text = format!(
                    "count store '{}' could not be used ({why}): kept as '{}', counting into a new store",
                    path.display(),
                    aside.display()
                );
                (conn, Some(text))
            }
        };
        purge(&conn, retention_days).map_err(|e| format!("count store: {e}"))?;
        let (jobs, queue) = mpsc::sync_channel(QUEUE_VISITS);
        let (report, reports) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("footfall-store".into())
            .spawn(move || work(conn, queue, report, retention_days))
            .map_err(|e| format!("cannot start the count store thread: {e}"))?;
        Ok(Opened {
            store: CountStore {
                path: path.to_path_buf(),
                jobs: Some(jobs),
                reports,
                thread: Some(thread),
            },
            set_aside,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `camera` of `site` stands: its next visit number, and the site's counts of
    /// the day that began at `day_start_s` (Unix seconds) stored before `before_s`. Reads
    /// through a connection of its own (called when the element starts, not per frame).
    pub fn resume(
        &self,
        site: &str,
        camera: &str,
        day_start_s: i64,
        before_s: i64,
    ) -> Result<Resume, String> {
        let conn = Connection::open(&self.path).map_err(|e| format!("count store: {e}"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| format!("count store: {e}"))?;
        resume(&conn, site, camera, day_start_s, before_s).map_err(|e| format!("count store: {e}"))
    }

    /// Queues a visit (never blocks).
    pub fn visit(&self, v: StoredVisit) -> Result<(), Dropped> {
        let jobs = self.jobs.as_ref().ok_or(Dropped)?;
        jobs.try_send(Job::Visit(Box::new(v))).map_err(|_| Dropped)
    }

    /// Waits up to `wait` until every visit queued so far is committed. False if not.
    pub fn flush(&self, wait: Duration) -> bool {
        super::writer::flush_queue(self.jobs.as_ref(), wait, Job::Flush)
    }

    /// The next thing the thread reported, if any (never blocks).
    pub fn next_report(&self) -> Option<StoreReport> {
        self.reports.try_recv().ok()
    }

    /// Commits what is queued, ends the thread, and returns what it reported since.
    pub fn finish(mut self) -> Vec<StoreReport> {
        self.stop();
        std::iter::from_fn(|| self.next_report()).collect()
    }

    fn stop(&mut self) {
        self.jobs = None; // the thread commits what it has and ends
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CountStore {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why a file could not be opened as a store.
enum Unusable {
    /// Not a store, damaged, or a newer schema: set it aside and start afresh.
    Bad(String),
    /// The place cannot be written: no store at all.
    Unwritable(String),
}

impl Unusable {
    fn message(self) -> String {
        match self {
            Unusable::Bad(e) | Unusable::Unwritable(e) => e,
        }
    }
}

/// Opens `path`, checks it is a whole store of a schema this build knows, creates the
/// tables when new.
fn connect(path: &Path) -> Result<Connection, Unusable> {
    let shown = path.display();
    let unwritable = |e: rusqlite::Error| {
        Unusable::Unwritable(format!("count store '{shown}' cannot be written: {e}"))
    };
    let conn = Connection::open(path).map_err(unwritable)?;
    let bad_or_unwritable = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            Unusable::Bad(e.to_string())
        }
        _ => Unusable::Unwritable(format!("count store '{shown}' cannot be written: {e}")),
    };
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(bad_or_unwritable)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(bad_or_unwritable)?;
    if check != "ok" {
        return Err(Unusable::Bad(format!("integrity check: {check}")));
    }
    let schema = stored_schema(&conn).map_err(bad_or_unwritable)?;
    match schema {
        Some(v) if v > SCHEMA => {
            return Err(Unusable::Bad(format!(
                "schema {v} is newer than this build's {SCHEMA}"
            )))
        }
        None if has_foreign_tables(&conn).map_err(bad_or_unwritable)? => {
            return Err(Unusable::Bad(
                "it holds tables that are not a count store's".into(),
            ))
        }
        _ => {}
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(bad_or_unwritable)?;
    // NORMAL in WAL mode: a commit survives the process being killed (not a power cut).
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(bad_or_unwritable)?;
    conn.execute_batch(CREATE).map_err(bad_or_unwritable)?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
        [SCHEMA.to_string()],
    )
    .map_err(bad_or_unwritable)?;
    Ok(conn)
}

fn stored_schema(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()))
}

fn has_foreign_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table'
         AND name NOT IN ('meta', 'minute_counts', 'visits', 'mqtt_outbox')
         AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )
}

/// Renames the file at `path` (and its WAL and shared-memory files) aside; returns the new
/// name.
fn set_aside(path: &Path) -> Result<PathBuf, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let aside = with(&format!(".aside-{stamp}"));
    std::fs::rename(path, &aside).map_err(|e| {
        format!(
            "count store '{}' is unusable and cannot be set aside: {e}",
            path.display()
        )
    })?;
    for extra in ["-wal", "-shm"] {
        if with(extra).exists() {
            let _ = std::fs::rename(with(extra), with(&format!(".aside-{stamp}{extra}")));
        }
    }
    Ok(aside)
}

fn resume(
    conn: &Connection,
    site: &str,
    camera: &str,
    day_start_s: i64,
    before_s: i64,
) -> rusqlite::Result<Resume> {
    let last: Option<i64> = conn.query_row(
        "SELECT max(number) FROM visits WHERE site = ?1 AND camera = ?2",
        params![site, camera],
        |r| r.get(0),
    )?;
    let today = conn.query_row(
        "SELECT coalesce(sum(unique_visitors), 0), coalesce(sum(visits), 0),
                coalesce(sum(returning_visits), 0), coalesce(sum(staff_visits), 0),
                coalesce(sum(unidentified_visits), 0)
         FROM minute_counts WHERE site = ?1 AND minute >= ?2 AND minute < ?3",
        params![site, day_start_s, before_s],
        |r| {
            Ok(Counts {
                unique_visitors: r.get::<_, i64>(0)? as u64,
                visits: r.get::<_, i64>(1)? as u64,
                returning_visits: r.get::<_, i64>(2)? as u64,
                staff_visits: r.get::<_, i64>(3)? as u64,
                unidentified_visits: r.get::<_, i64>(4)? as u64,
            })
        },
    )?;
    Ok(Resume {
        next_visit: last.unwrap_or(0) as u64 + 1,
        today,
    })
}

/// Deletes what is older than the retention.
fn purge(conn: &Connection, retention_days: u32) -> rusqlite::Result<()> {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let cutoff_s = now_s - retention_days as i64 * 86_400;
    conn.execute("DELETE FROM minute_counts WHERE minute < ?1", [cutoff_s])?;
    conn.execute("DELETE FROM visits WHERE at_ms < ?1", [cutoff_s * 1000])?;
    Ok(())
}

/// Writes the visits in one transaction: their rows, and their minutes' aggregates.
fn commit(conn: &mut Connection, visits: &[StoredVisit]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut minute = tx.prepare_cached(
            "INSERT INTO minute_counts (site, camera, minute, unique_visitors, visits,
                 returning_visits, staff_visits, unidentified_visits, dwell_ms_sum, dwell_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (site, camera, minute) DO UPDATE SET
                 unique_visitors = unique_visitors + excluded.unique_visitors,
                 visits = visits + excluded.visits,
                 returning_visits = returning_visits + excluded.returning_visits,
                 staff_visits = staff_visits + excluded.staff_visits,
                 unidentified_visits = unidentified_visits + excluded.unidentified_visits,
                 dwell_ms_sum = dwell_ms_sum + excluded.dwell_ms_sum,
                 dwell_count = dwell_count + excluded.dwell_count",
        )?;
        let mut visit = tx.prepare_cached(
            "INSERT OR REPLACE INTO visits (site, camera, number, at_ms, kind, dwell_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for v in visits {
            let a = &v.added;
            minute.execute(params![
                v.site,
                v.camera,
                v.at_ms.div_euclid(60_000) * 60,
                a.unique_visitors as i64,
                a.visits as i64,
                a.returning_visits as i64,
                a.staff_visits as i64,
                a.unidentified_visits as i64,
                v.dwell_ms.unwrap_or(0) as i64,
                v.dwell_ms.is_some() as i64,
            ])?;
            visit.execute(params![
                v.site,
                v.camera,
                v.number as i64,
                v.at_ms,
                v.kind.as_str(),
                v.dwell_ms.map(|d| d as i64),
            ])?;
        }
    }
    tx.commit()
}

/// The store thread: commits queued visits within [`COMMIT_EVERY`], answers flushes,
/// purges old rows every [`PURGE_EVERY`], commits what it holds when the channel closes.
fn work(
    mut conn: Connection,
    queue: Receiver<Job>,
    report: mpsc::Sender<StoreReport>,
    retention_days: u32,
) {
    let mut pending: Vec<StoredVisit> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let mut purged = Instant::now();
    let write = |pending: &mut Vec<StoredVisit>, conn: &mut Connection| {
        if pending.is_empty() {
            return;
        }
        if let Err(e) = commit(conn, pending) {
            let _ = report.send(StoreReport::Failed {
                error: format!("count store: {e}"),
                lost: pending.len() as u64,
            });
        }
        pending.clear();
    };
    loop {
        let wait = oldest.map_or(PURGE_EVERY, |t| COMMIT_EVERY.saturating_sub(t.elapsed()));
        match queue.recv_timeout(wait) {
            Ok(Job::Visit(v)) => {
                pending.push(*v);
                oldest.get_or_insert_with(Instant::now);
            }
            Ok(Job::Flush(done)) => {
                write(&mut pending, &mut conn);
                oldest = None;
                let _ = done.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                write(&mut pending, &mut conn);
                return;
            }
        }
        if oldest.is_some_and(|t| t.elapsed() >= COMMIT_EVERY) {
            write(&mut pending, &mut conn);
            oldest = None;
        }
        if purged.elapsed() >= PURGE_EVERY {
            purged = Instant::now();
            let _ = purge(&conn, retention_days);
        }
    }
}

#[cfg(test)]
mod tests;
