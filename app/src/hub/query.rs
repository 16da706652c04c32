//! Reading the chain's counts out of the hub's PostgreSQL: periods in each site's own local
//! time (a chain compares "Monday 9-10" across its shops), a site's day by hour, the chain
//! per shop and day, and every camera's state.

use gstfootfall::count::store::query::{Period, Resolution};
use gstfootfall::count::visits::Counts;
use postgres::{Client, Row};

/// What to read: wall-clock seconds `[from, to)` of each site's own time, optionally one
/// site and one camera.
#[derive(Debug, Clone)]
pub struct WallQuery {
    pub from_wall_s: i64,
    pub to_wall_s: i64,
    pub site: Option<String>,
    pub camera: Option<String>,
}

/// The sums every read returns, after its own leading columns (from `first`).
const SUMS: &str = "sum(unique_visitors)::bigint, sum(visits)::bigint,
    sum(returning_visits)::bigint, sum(staff_visits)::bigint, sum(unidentified_visits)::bigint,
    sum(dwell_ms_sum)::bigint, sum(dwell_count)::bigint";

/// A minute's wall-clock seconds at its site (rows of schema 1 have no offset: UTC).
const WALL_S: &str = "(extract(epoch FROM minute)::bigint + coalesce(utc_offset_s, 0))";

/// A period's counts and dwell, read from [`SUMS`] starting at column `first`.
fn sums(row: &Row, first: usize) -> (Counts, Option<f64>, u64) {
    let n = |i: usize| row.get::<_, Option<i64>>(first + i).unwrap_or(0).max(0) as u64;
    let counts = Counts {
        unique_visitors: n(0),
        visits: n(1),
        returning_visits: n(2),
        staff_visits: n(3),
        unidentified_visits: n(4),
    };
    let (dwell_sum, dwell_count) = (n(5), n(6));
    let mean = (dwell_count > 0).then(|| dwell_sum as f64 / dwell_count as f64 / 1000.0);
    (counts, mean, dwell_count)
}

/// A period of a site's camera and the site's UTC offset at its start.
pub struct SitePeriod {
    pub period: Period,
    pub utc_offset_s: i32,
}

/// The periods holding any count in the range, in time order, then site and camera.
pub fn periods(
    db: &mut Client,
    q: &WallQuery,
    resolution: Resolution,
) -> Result<Vec<SitePeriod>, postgres::Error> {
    let step: i64 = match resolution {
        Resolution::Minute => 60,
        Resolution::Hour => 3600,
        Resolution::Day => 86_400,
    };
    // The bounds on `minute` let the index narrow the scan: no site is more than 14 h
    // from UTC.
    let sql = format!(
        "SELECT wall_s - wall_s % $5::bigint AS period, site, camera, min(off), {SUMS}
         FROM (SELECT *, {WALL_S} AS wall_s, coalesce(utc_offset_s, 0) AS off
               FROM minute_counts
               WHERE minute >= to_timestamp($1::bigint - 50400)
                 AND minute < to_timestamp($2::bigint + 50400)
                 AND ($3::text IS NULL OR site = $3) AND ($4::text IS NULL OR camera = $4)) m
         WHERE wall_s >= $1 AND wall_s < $2
         GROUP BY period, site, camera
         ORDER BY period, site, camera"
    );
    let rows = db.query(
        &sql,
        &[&q.from_wall_s, &q.to_wall_s, &q.site, &q.camera, &step],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let (counts, mean_dwell_s, dwell_count) = sums(r, 4);
            let utc_offset_s: i32 = r.get(3);
            SitePeriod {
                period: Period {
                    start_s: r.get::<_, i64>(0) - utc_offset_s as i64,
                    site: r.get(1),
                    camera: r.get(2),
                    counts,
                    mean_dwell_s,
                    dwell_count,
                },
                utc_offset_s,
            }
        })
        .collect())
}

/// A site's day (`YYYY-MM-DD`, its own) per camera, as periods starting at `day_start_s`.
pub fn day_by_camera(
    db: &mut Client,
    site: &str,
    day: &str,
    day_start_s: i64,
) -> Result<Vec<Period>, postgres::Error> {
    let sql = format!(
        "SELECT camera, {SUMS} FROM minute_counts
         WHERE site = $1 AND local_day = $2::text::date GROUP BY camera ORDER BY camera"
    );
    let rows = db.query(&sql, &[&site, &day])?;
    Ok(rows
        .iter()
        .map(|r| {
            let (counts, mean_dwell_s, dwell_count) = sums(r, 1);
            Period {
                start_s: day_start_s,
                site: site.to_string(),
                camera: r.get(0),
                counts,
                mean_dwell_s,
                dwell_count,
            }
        })
        .collect())
}

/// A site's visits per hour of its own day `day` (the day `days_back` before it).
pub fn hourly_visits(
    db: &mut Client,
    site: &str,
    day: &str,
    days_back: i32,
) -> Result<Vec<u64>, postgres::Error> {
    let sql = format!(
        "SELECT ({WALL_S} % 86400 / 3600)::int AS hour, sum(visits)::bigint FROM minute_counts
         WHERE site = $1 AND local_day = $2::text::date - $3::int GROUP BY hour"
    );
    let mut hours = vec![0u64; 24];
    for r in db.query(&sql, &[&site, &day, &days_back])? {
        let hour = r.get::<_, i32>(0).clamp(0, 23) as usize;
        hours[hour] = r.get::<_, Option<i64>>(1).unwrap_or(0).max(0) as u64;
    }
    Ok(hours)
}

/// Every shop's counts per day of its own, for the days `from..=to` (`YYYY-MM-DD`): (day,
/// the shop's period of it, camera empty).
pub fn chain_days(
    db: &mut Client,
    from: &str,
    to: &str,
) -> Result<Vec<(String, Period)>, postgres::Error> {
    let sql = format!(
        "SELECT local_day::text, site, {SUMS} FROM minute_counts
         WHERE local_day BETWEEN $1::text::date AND $2::text::date
         GROUP BY local_day, site ORDER BY local_day, site"
    );
    let rows = db.query(&sql, &[&from, &to])?;
    Ok(rows
        .iter()
        .map(|r| {
            let (counts, mean_dwell_s, dwell_count) = sums(r, 2);
            let period = Period {
                start_s: 0,
                site: r.get(1),
                camera: String::new(),
                counts,
                mean_dwell_s,
                dwell_count,
            };
            (r.get(0), period)
        })
        .collect())
}

/// A camera as its state topics last told it.
#[derive(Debug, Clone)]
pub struct CameraState {
    pub site: String,
    pub camera: String,
    pub online: Option<bool>,
    /// Seconds since its availability last changed, by the hub's clock.
    pub online_for_s: Option<i64>,
    pub in_view: Option<i64>,
    /// Seconds since it last sent its counts (the site's clock against the hub's).
    pub counts_age_s: Option<i64>,
    pub utc_offset_s: Option<i32>,
    /// The site's own tally of its day: (day, unique visitors, visits).
    pub today: Option<(String, i64, i64)>,
}

/// Every camera known, by site and camera.
pub fn cameras(db: &mut Client, site: Option<&str>) -> Result<Vec<CameraState>, postgres::Error> {
    let rows = db.query(
        "SELECT coalesce(site, site_topic), coalesce(camera, camera_topic), online,
                extract(epoch FROM now() - online_changed)::bigint, in_view,
                extract(epoch FROM now() - counts_at)::bigint, utc_offset_s,
                today_date::text, today_unique_visitors, today_visits
         FROM cameras WHERE $1::text IS NULL OR coalesce(site, site_topic) = $1
         ORDER BY 1, 2",
        &[&site],
    )?;
    Ok(rows
        .iter()
        .map(|r| CameraState {
            site: r.get(0),
            camera: r.get(1),
            online: r.get(2),
            online_for_s: r.get(3),
            in_view: r.get(4),
            counts_age_s: r.get(5),
            utc_offset_s: r.get(6),
            today: r.get::<_, Option<String>>(7).map(|d| {
                (
                    d,
                    r.get::<_, Option<i64>>(8).unwrap_or(0),
                    r.get::<_, Option<i64>>(9).unwrap_or(0),
                )
            }),
        })
        .collect())
}

/// The site's latest UTC offset: its cameras' state, else its latest minute; `None`:
/// nothing is known of the site.
pub fn site_offset(db: &mut Client, site: &str) -> Result<Option<i32>, postgres::Error> {
    let row = db.query_opt(
        "SELECT off FROM (
            SELECT utc_offset_s AS off, counts_at AS at FROM cameras
                WHERE coalesce(site, site_topic) = $1 AND utc_offset_s IS NOT NULL
            UNION ALL
            (SELECT coalesce(utc_offset_s, 0), minute FROM minute_counts WHERE site = $1
                ORDER BY minute DESC LIMIT 1)) known
         ORDER BY at DESC NULLS LAST LIMIT 1",
        &[&site],
    )?;
    Ok(row.map(|r| r.get(0)))
}
