//! Reading the count store: counts per site, camera and period (minute, local hour or
//! local day), for `footfall report` and the HTTP API. Periods follow the local time zone
//! (SQLite's `localtime`, i.e. `TZ`), so a day is the shop's day.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::count::visits::Counts;

/// How long a period of the report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub fn parse(s: &str) -> Result<Resolution, String> {
        match s {
            "minute" => Ok(Resolution::Minute),
            "hour" => Ok(Resolution::Hour),
            "day" => Ok(Resolution::Day),
            other => Err(format!(
                "resolution '{other}': expected minute, hour or day"
            )),
        }
    }

    /// SQL giving the start (Unix seconds) of the period that holds the row's `minute`.
    fn period_start_sql(&self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => {
                "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', minute, 'unixepoch', 'localtime'), 'utc') AS INTEGER)"
            }
            Resolution::Day => {
                "CAST(strftime('%s', minute, 'unixepoch', 'localtime', 'start of day', 'utc') AS INTEGER)"
            }
        }
    }
}

/// What to read: `[from_s, to_s)` in Unix seconds, optionally one site and one camera.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from_s: i64,
    pub to_s: i64,
    pub site: Option<String>,
    pub camera: Option<String>,
}

/// One period of one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// Start of the period, Unix seconds.
    pub start_s: i64,
    pub site: String,
    pub camera: String,
    pub counts: Counts,
    /// Mean dwell of the period's visits with a known dwell, seconds.
    pub mean_dwell_s: Option<f64>,
    /// How many visits the mean dwell is over (to combine periods or cameras).
    pub dwell_count: u64,
}

/// The periods holding any count in the query's range, in time order, then site and camera.
/// Opens the file read-only (a store being written by a counter is fine: WAL).
pub fn periods(store: &Path, q: &Query, resolution: Resolution) -> Result<Vec<Period>, String> {
    if q.to_s < q.from_s {
        return Err(format!(
            "the range ends ({}) before it starts ({})",
            q.to_s, q.from_s
        ));
    }
    let fail = |e: rusqlite::Error| format!("count store '{}': {e}", store.display());
    let conn =
        Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
    let sql = format!(
        "SELECT {start} AS period, site, camera, sum(unique_visitors), sum(visits),
                sum(returning_visits), sum(staff_visits), sum(unidentified_visits),
                sum(dwell_ms_sum), sum(dwell_count)
         FROM minute_counts
         WHERE minute >= ?1 AND minute < ?2
           AND (?3 IS NULL OR site = ?3) AND (?4 IS NULL OR camera = ?4)
         GROUP BY period, site, camera
         ORDER BY period, site, camera",
        start = resolution.period_start_sql()
    );
    let mut stmt = conn.prepare(&sql).map_err(fail)?;
    let rows = stmt
        .query_map(rusqlite::params![q.from_s, q.to_s, q.site, q.camera], |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            let (dwell_sum, dwell_count) = (n(8)?, n(9)?);
            Ok(Period {
                start_s: r.get(0)?,
                site: r.get(1)?,
                camera: r.get(2)?,
                counts: Counts {
                    unique_visitors: n(3)?,
                    visits: n(4)?,
                    returning_visits: n(5)?,
                    staff_visits: n(6)?,
                    unidentified_visits: n(7)?,
                },
                mean_dwell_s: (dwell_count > 0)
                    .then(|| dwell_sum as f64 / dwell_count as f64 / 1000.0),
                dwell_count,
            })
        })
        .map_err(fail)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(fail)
}

/// The CSV header of [`csv_row`].
pub const CSV_HEADER: &str = "start,site,camera,unique_visitors,visits,returning_visits,staff_visits,unidentified_visits,mean_dwell_s";

/// One period as a CSV line (`start` as given, e.g. a local ISO time); site and camera
/// quoted when they hold a comma, a quote or a line break.
pub fn csv_row(start: &str, p: &Period) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let c = &p.counts;
    format!(
        "{start},{},{},{},{},{},{},{},{}",
        quote(&p.site),
        quote(&p.camera),
        c.unique_visitors,
        c.visits,
        c.returning_visits,
        c.staff_visits,
        c.unidentified_visits,
        p.mean_dwell_s
            .map(|d| format!("{d:.1}"))
            .unwrap_or_default()
    )
}

/// One period as a JSON object (`start`: as given; `start_unix`: seconds).
pub fn json_row(start: &str, p: &Period) -> serde_json::Value {
    let c = &p.counts;
    serde_json::json!({
        "start": start,
        "start_unix": p.start_s,
        "site": p.site,
        "camera": p.camera,
        "unique_visitors": c.unique_visitors,
        "visits": c.visits,
        "returning_visits": c.returning_visits,
        "staff_visits": c.staff_visits,
        "unidentified_visits": c.unidentified_visits,
        "mean_dwell_s": p.mean_dwell_s.map(|d| (d * 10.0).round() / 10.0),
    })
}
