//! The head office's PostgreSQL: visit events and per-minute aggregates of every site, in
//! the on-device store's shape (`minute_counts`, `visits`) plus the site's local day, and
//! the messages rejected. The schema is made and migrated by the hub (`footfall_meta`).
//!
//! Idempotent: a visit is keyed by (site, camera, counter start, number), and its minute is
//! added to only when its row was inserted, in one statement, so a message delivered twice
//! (at-least-once, a replay, a hub killed before its ack) never counts twice.

use postgres::types::ToSql;
use postgres::{Client, NoTls};

use super::message::{Names, State, StateKind, Visit};

/// The schema this hub writes; a database of a newer one is refused, an older one migrated.
const SCHEMA: i64 = 2;

/// Schema 1, as the first hub made it; [`MIGRATIONS`] take it to [`SCHEMA`].
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

/// (schema, what takes the one before to it), in order.
const MIGRATIONS: [(i64, &str); 1] = [(
    2,
    // The site's UTC offset (local hours of the chain's reports; rows of schema 1 have
    // none and count as UTC for hours, their days being right), and each camera's state.
    "
ALTER TABLE visits ADD COLUMN IF NOT EXISTS utc_offset_s INTEGER;
ALTER TABLE minute_counts ADD COLUMN IF NOT EXISTS utc_offset_s INTEGER;
CREATE TABLE IF NOT EXISTS cameras (
    site_topic TEXT NOT NULL,           -- the topic's levels: what availability is known by
    camera_topic TEXT NOT NULL,
    site TEXT,                          -- the names its payloads carry
    camera TEXT,
    online BOOLEAN,
    online_changed TIMESTAMPTZ,         -- the hub's clock
    in_view BIGINT,
    counts_at TIMESTAMPTZ,              -- the site's clock
    utc_offset_s INTEGER,
    today_date DATE,                    -- the site's own tally of its day
    today_unique_visitors BIGINT,
    today_visits BIGINT,
    today_at TIMESTAMPTZ,
    PRIMARY KEY (site_topic, camera_topic)
);
",
)];

/// Any number, so two hubs starting on one database migrate it once.
const MIGRATION_LOCK: i64 = 0x666f_6f74;

/// One statement per visit: its row if new, and only then its minute's sums.
const INSERT_VISIT: &str = "
WITH inserted AS (
    INSERT INTO visits (site, camera, counter_start_ms, number, at, local_day, kind, dwell_ms,
        utc_offset_s)
    VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6::text::date, $7, $8, $14)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO minute_counts (site, camera, minute, local_day, unique_visitors, visits,
    returning_visits, staff_visits, unidentified_visits, dwell_ms_sum, dwell_count,
    utc_offset_s)
SELECT $1, $2, date_trunc('minute', $5::text::timestamptz), $6::text::date, $9, $10, $11,
    $12, $13, coalesce($8, 0), ($8 IS NOT NULL)::int::bigint, $14
FROM inserted
ON CONFLICT (site, camera, minute) DO UPDATE SET
    utc_offset_s = excluded.utc_offset_s,
    unique_visitors = minute_counts.unique_visitors + excluded.unique_visitors,
    visits = minute_counts.visits + excluded.visits,
    returning_visits = minute_counts.returning_visits + excluded.returning_visits,
    staff_visits = minute_counts.staff_visits + excluded.staff_visits,
    unidentified_visits = minute_counts.unidentified_visits + excluded.unidentified_visits,
    dwell_ms_sum = minute_counts.dwell_ms_sum + excluded.dwell_ms_sum,
    dwell_count = minute_counts.dwell_count + excluded.dwell_count";

/// A camera's state: the latest of each kind wins (by the site's clock where it has one),
/// so a retained message sent again, or late, changes nothing.
const ONLINE: &str = "
INSERT INTO cameras (site_topic, camera_topic, online, online_changed)
VALUES ($1, $2, $3, now())
ON CONFLICT (site_topic, camera_topic) DO UPDATE SET
    online = excluded.online,
    online_changed = CASE WHEN cameras.online IS DISTINCT FROM excluded.online
        THEN excluded.online_changed ELSE cameras.online_changed END";
const COUNTS: &str = "
INSERT INTO cameras (site_topic, camera_topic, site, camera, utc_offset_s, counts_at, in_view)
VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7)
ON CONFLICT (site_topic, camera_topic) DO UPDATE SET
    site = excluded.site, camera = excluded.camera, utc_offset_s = excluded.utc_offset_s,
    counts_at = excluded.counts_at, in_view = excluded.in_view
WHERE cameras.counts_at IS NULL OR cameras.counts_at <= excluded.counts_at";
const TODAY: &str = "
INSERT INTO cameras (site_topic, camera_topic, site, camera, utc_offset_s, today_at, today_date,
    today_unique_visitors, today_visits)
VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::date, $8, $9)
ON CONFLICT (site_topic, camera_topic) DO UPDATE SET
    site = excluded.site, camera = excluded.camera, utc_offset_s = excluded.utc_offset_s,
    today_at = excluded.today_at, today_date = excluded.today_date,
    today_unique_visitors = excluded.today_unique_visitors, today_visits = excluded.today_visits
WHERE cameras.today_at IS NULL OR cameras.today_at <= excluded.today_at";

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
    pub states: u64,
    pub rejected: u64,
}

impl Db {
    /// Connects to `url` (postgres://…) and makes, migrates or checks the schema.
    pub fn open(url: &str) -> Result<Db, String> {
        let mut client = connect(url)?;
        migrate(&mut client).map_err(|e| format!("database schema: {e}"))??;
        Ok(Db { client })
    }

    /// Writes a batch in one transaction; on an error nothing of it is kept (and the
    /// messages stay unacknowledged, so the broker sends them again).
    pub fn write(
        &mut self,
        (visits, states): (&[Visit], &[State]),
        rejected: &[Rejected],
    ) -> Result<Written, String> {
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
                        &v.utc_offset_s,
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
        for st in states {
            write_state(&mut tx, st).map_err(fail)?;
            w.states += 1;
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

/// A client of the database at `url`.
pub fn connect(url: &str) -> Result<Client, String> {
    Client::connect(url, NoTls).map_err(|e| format!("database {}: {e}", redacted(url)))
}

/// Makes schema 1 if there is none and applies the migrations past the database's schema,
/// in one transaction under a lock; `Ok(Err)`: the database's schema is newer than ours.
fn migrate(client: &mut Client) -> Result<Result<(), String>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(CREATE)?;
    tx.execute(
        "INSERT INTO footfall_meta (key, value) VALUES ('schema', '1') ON CONFLICT DO NOTHING",
        &[],
    )?;
    let found: String = tx
        .query_one("SELECT value FROM footfall_meta WHERE key = 'schema'", &[])?
        .get(0);
    let found = match found.parse::<i64>() {
        Ok(v) if v <= SCHEMA => v,
        _ => {
            return Ok(Err(format!(
                "the database holds schema {found}, newer than this hub's {SCHEMA}: upgrade the hub"
            )))
        }
    };
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE footfall_meta SET value = $1 WHERE key = 'schema'",
            &[&version.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(Ok(()))
}

fn write_state(tx: &mut postgres::Transaction, st: &State) -> Result<u64, postgres::Error> {
    match &st.what {
        StateKind::Online(on) => tx.execute(ONLINE, &[&st.site_topic, &st.camera_topic, on]),
        StateKind::Counts { names, in_view } => {
            let mut params = named(st, names);
            params.push(in_view);
            tx.execute(COUNTS, &params)
        }
        StateKind::Today {
            names,
            date,
            unique_visitors,
            visits,
        } => {
            let mut params = named(st, names);
            params.extend([date as &(dyn ToSql + Sync), unique_visitors, visits]);
            tx.execute(TODAY, &params)
        }
    }
}

/// What COUNTS and TODAY start with: the camera's key, its names and the site's clock.
fn named<'a>(st: &'a State, n: &'a Names) -> Vec<&'a (dyn ToSql + Sync)> {
    let (site, camera) = (&st.site_topic, &st.camera_topic);
    vec![site, camera, &n.site, &n.camera, &n.utc_offset_s, &n.at]
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
