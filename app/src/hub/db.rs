//! The head office's PostgreSQL: visit events and per-minute aggregates of every site, in
//! the on-device store's shape (`minute_counts`, `visits`) plus the site's local day, and
//! the messages rejected. The schema is made and migrated by the hub (`footfall_meta`).
//!
//! Idempotent: a visit is keyed by (site, camera, counter start, number), and its minute is
//! added to only when its row was inserted, in one statement, so a message delivered twice
//! (at-least-once, a replay, a hub killed before its ack) never counts twice.

use postgres::{Client, NoTls};

use super::message::Visit;

/// The schema this hub writes; a database of a newer one is refused.
const SCHEMA: i64 = 1;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS footfall_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS visits (
    site TEXT NOT NULL,
    camera TEXT NOT NULL,
    counter_start_ms BIGINT NOT NULL,   -- Unix ms the counter started
    number BIGINT NOT NULL,             -- the visit's number on its counter
    at TIMESTAMPTZ NOT NULL,
    local_day DATE NOT NULL,            -- the site's day of the visit
    kind TEXT NOT NULL,                 -- new | returning | staff | unidentified
    dwell_ms BIGINT,
    PRIMARY KEY (site, camera, counter_start_ms, number)
);
CREATE TABLE IF NOT EXISTS minute_counts (
    site TEXT NOT NULL,
    camera TEXT NOT NULL,
    minute TIMESTAMPTZ NOT NULL,
    local_day DATE NOT NULL,
    unique_visitors BIGINT NOT NULL DEFAULT 0,
    visits BIGINT NOT NULL DEFAULT 0,
    returning_visits BIGINT NOT NULL DEFAULT 0,
    staff_visits BIGINT NOT NULL DEFAULT 0,
    unidentified_visits BIGINT NOT NULL DEFAULT 0,
    dwell_ms_sum BIGINT NOT NULL DEFAULT 0,
    dwell_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, camera, minute)
);
CREATE INDEX IF NOT EXISTS minute_counts_day ON minute_counts (local_day, site);
CREATE TABLE IF NOT EXISTS rejected (  -- what was refused: never the payload itself
    id BIGSERIAL PRIMARY KEY,
    received TIMESTAMPTZ NOT NULL DEFAULT now(),
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
";

/// One statement per visit: its row if new, and only then its minute's sums.
const INSERT_VISIT: &str = "
WITH inserted AS (
    INSERT INTO visits (site, camera, counter_start_ms, number, at, local_day, kind, dwell_ms)
    VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6::text::date, $7, $8)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO minute_counts (site, camera, minute, local_day, unique_visitors, visits,
    returning_visits, staff_visits, unidentified_visits, dwell_ms_sum, dwell_count)
SELECT $1, $2, date_trunc('minute', $5::text::timestamptz), $6::text::date, $9, $10, $11,
    $12, $13, coalesce($8, 0), ($8 IS NOT NULL)::int::bigint
FROM inserted
ON CONFLICT (site, camera, minute) DO UPDATE SET
    unique_visitors = minute_counts.unique_visitors + excluded.unique_visitors,
    visits = minute_counts.visits + excluded.visits,
    returning_visits = minute_counts.returning_visits + excluded.returning_visits,
    staff_visits = minute_counts.staff_visits + excluded.staff_visits,
    unidentified_visits = minute_counts.unidentified_visits + excluded.unidentified_visits,
    dwell_ms_sum = minute_counts.dwell_ms_sum + excluded.dwell_ms_sum,
    dwell_count = minute_counts.dwell_count + excluded.dwell_count";

/// A message refused: its topic, why, and its size.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub topic: String,
    pub reason: String,
    pub bytes: usize,
}

pub struct Db {
    client: Client,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Written {
    pub inserted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl Db {
    /// Connects to `url` (postgres://…) and makes or checks the schema.
    pub fn open(url: &str) -> Result<Db, String> {
        let mut client =
            Client::connect(url, NoTls).map_err(|e| format!("database {}: {e}", redacted(url)))?;
        client
            .batch_execute(CREATE)
            .map_err(|e| format!("database schema: {e}"))?;
        client
            .execute(
                "INSERT INTO footfall_meta (key, value) VALUES ('schema', $1) ON CONFLICT DO NOTHING",
                &[&SCHEMA.to_string()],
            )
            .map_err(|e| format!("database schema: {e}"))?;
        let found: String = client
            .query_one("SELECT value FROM footfall_meta WHERE key = 'schema'", &[])
            .map_err(|e| format!("database schema: {e}"))?
            .get(0);
        match found.parse::<i64>() {
            Ok(v) if v <= SCHEMA => Ok(Db { client }),
            _ => Err(format!(
                "the database holds schema {found}, newer than this hub's {SCHEMA}: upgrade the hub"
            )),
        }
    }

    /// Writes a batch in one transaction; on an error nothing of it is kept (and the
    /// messages stay unacknowledged, so the broker sends them again).
    pub fn write(&mut self, visits: &[Visit], rejected: &[Rejected]) -> Result<Written, String> {
        let fail = |e: postgres::Error| format!("database: {e}");
        let mut tx = self.client.transaction().map_err(fail)?;
        let insert = tx.prepare(INSERT_VISIT).map_err(fail)?;
        let mut w = Written::default();
        for v in visits {
            let a = &v.added;
            let n = tx
                .execute(
                    &insert,
                    &[
                        &v.site,
                        &v.camera,
                        &v.counter_start_ms,
                        &v.number,
                        &v.at,
                        &v.local_day(),
                        &v.kind,
                        &v.dwell_ms,
                        &a[0],
                        &a[1],
                        &a[2],
                        &a[3],
                        &a[4],
                    ],
                )
                .map_err(fail)?;
            // The minute row is written only for a new visit: 1, else 0.
            if n > 0 {
                w.inserted += 1;
            } else {
                w.duplicates += 1;
            }
        }
        for r in rejected {
            tx.execute(
                "INSERT INTO rejected (topic, reason, bytes) VALUES ($1, $2, $3)",
                &[
                    &r.topic,
                    &r.reason,
                    &(r.bytes.min(i32::MAX as usize) as i32),
                ],
            )
            .map_err(fail)?;
            w.rejected += 1;
        }
        tx.commit().map_err(fail)?;
        Ok(w)
    }

    /// Whether the connection is gone (the server restarted): open a new one.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            let user = cred.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
