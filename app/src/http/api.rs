//! `GET /api/counts` (per period, from the count store) and `GET /api/today` (today's
//! totals per camera and for the site, people in view, hourly visits against the same
//! weekday last week). Both read the store in a blocking task: SQLite may wait on a
//! writer's lock.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gstfootfall::count::store::query::{self, Period, Resolution};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Served;
use crate::local_time;

#[derive(Debug, Deserialize)]
pub(super) struct CountsParams {
    from: Option<String>,
    to: Option<String>,
    resolution: Option<String>,
    camera: Option<String>,
    format: Option<String>,
}

/// An answer the client got wrong (400) or the server could not give (500).
pub(crate) struct Failure(pub StatusCode, pub String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.1 }).to_string();
        (self.0, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
}

/// What `/api/counts` was asked, checked.
struct CountsQuery {
    query: query::Query,
    resolution: Resolution,
    csv: bool,
}

fn check(p: CountsParams, headers: &HeaderMap, site: &str) -> Result<CountsQuery, Failure> {
    let (now, midnight) = local_time::now_and_midnight().map_err(bad)?;
    let time = |t: Option<&str>, default: i64| t.map_or(Ok(default), local_time::parse);
    let from_s = time(p.from.as_deref(), midnight).map_err(bad)?;
    let to_s = time(p.to.as_deref(), now + 1).map_err(bad)?;
    if to_s <= from_s {
        return Err(bad(format!(
            "the range ends ({}) before it starts ({})",
            local_time::iso(to_s),
            local_time::iso(from_s)
        )));
    }
    let resolution = Resolution::parse(p.resolution.as_deref().unwrap_or("hour")).map_err(bad)?;
    let csv = wants_csv(p.format.as_deref(), headers)?;
    Ok(CountsQuery {
        query: query::Query {
            from_s,
            to_s,
            site: Some(site.to_string()),
            camera: p.camera,
        },
        resolution,
        csv,
    })
}

/// `format=csv|json`, else what the client accepts.
pub(crate) fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, Failure> {
    let accepts_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    match format {
        None => Ok(accepts_csv),
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(bad(format!("format '{other}': expected json or csv"))),
    }
}

/// Periods, each with its start in its site's local time, as CSV, or as `head` (a JSON
/// object) with them under `periods`.
pub(crate) fn render_periods(rows: &[(String, Period)], csv: bool, mut head: Value) -> Response {
    if csv {
        let mut body = format!("{}\n", query::CSV_HEADER);
        for (start, p) in rows {
            body.push_str(&query::csv_row(start, p));
            body.push('\n');
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    }
    head["periods"] = rows.iter().map(|(s, p)| query::json_row(s, p)).collect();
    axum::Json(head).into_response()
}

/// Reads the store off the runtime's thread.
async fn periods(s: &Served, q: query::Query, r: Resolution) -> Result<Vec<Period>, Failure> {
    let store = s.site.store.clone().ok_or(Failure(
        StatusCode::SERVICE_UNAVAILABLE,
        "no count store".into(),
    ))?;
    let fail = |e: String| Failure(StatusCode::INTERNAL_SERVER_ERROR, e);
    if !store.is_file() {
        // Nothing counted yet: the store is made on the first commit.
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || query::periods(&store, &q, r))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(fail)
}

pub(super) async fn counts(
    State(s): State<Arc<Served>>,
    headers: HeaderMap,
    Query(p): Query<CountsParams>,
) -> Result<Response, Failure> {
    let q = check(p, &headers, &s.site.name)?;
    let rows = periods(&s, q.query.clone(), q.resolution).await?;
    let head = json!({
        "site": s.site.name,
        "from": local_time::iso(q.query.from_s),
        "to": local_time::iso(q.query.to_s),
        "resolution": format!("{:?}", q.resolution).to_lowercase(),
    });
    let rows: Vec<_> = rows
        .into_iter()
        .map(|p| (local_time::iso(p.start_s), p))
        .collect();
    Ok(render_periods(&rows, q.csv, head))
}

/// Sums of periods (cameras or hours), with the mean dwell over all their visits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Total {
    unique_visitors: u64,
    pub visits: u64,
    returning_visits: u64,
    staff_visits: u64,
    unidentified_visits: u64,
    dwell_s_sum: f64,
    dwell_count: u64,
    pub in_view: u64,
}

impl Total {
    pub fn add(&mut self, p: &Period) {
        let c = &p.counts;
        self.unique_visitors += c.unique_visitors;
        self.visits += c.visits;
        self.returning_visits += c.returning_visits;
        self.staff_visits += c.staff_visits;
        self.unidentified_visits += c.unidentified_visits;
        self.dwell_s_sum += p.mean_dwell_s.unwrap_or(0.0) * p.dwell_count as f64;
        self.dwell_count += p.dwell_count;
    }

    pub fn json(&self) -> Value {
        let round = |x: f64, by: f64| (x * by).round() / by;
        json!({
            "unique_visitors": self.unique_visitors,
            "visits": self.visits,
            "returning_visits": self.returning_visits,
            "staff_visits": self.staff_visits,
            "unidentified_visits": self.unidentified_visits,
            "returning_share": (self.visits > 0)
                .then(|| round(self.returning_visits as f64 / self.visits as f64, 1000.0)),
            "mean_dwell_s": (self.dwell_count > 0)
                .then(|| round(self.dwell_s_sum / self.dwell_count as f64, 10.0)),
            "in_view": self.in_view,
        })
    }
}

/// The site's counts from local midnight until now (and now, Unix seconds).
pub(super) fn today_query(site: &str) -> Result<(query::Query, i64), String> {
    let (now, midnight) = local_time::now_and_midnight()?;
    let q = query::Query {
        from_s: midnight,
        to_s: now + 1,
        site: Some(site.to_string()),
        camera: None,
    };
    Ok((q, now))
}

/// Visits per local hour of the day in `[from_s, from_s + 1 day)`.
async fn hourly_visits(s: &Served, from_s: i64) -> Result<Vec<u64>, Failure> {
    let q = query::Query {
        from_s,
        to_s: from_s + 86_400,
        site: Some(s.site.name.clone()),
        camera: None,
    };
    let mut hours = vec![0u64; 24];
    for p in periods(s, q, Resolution::Hour).await? {
        let hour = ((p.start_s - from_s).max(0) / 3600).min(23) as usize;
        hours[hour] += p.counts.visits;
    }
    Ok(hours)
}

pub(super) async fn today(State(s): State<Arc<Served>>) -> Result<Response, Failure> {
    let (q, now) = today_query(&s.site.name).map_err(bad)?;
    let midnight = q.from_s;
    let rows = periods(&s, q, Resolution::Day).await?;
    let mut site_total = Total::default();
    let mut cameras = Vec::new();
    for cam in &s.site.cameras {
        let mut t = Total::default();
        rows.iter()
            .filter(|p| p.camera == cam.name)
            .for_each(|p| t.add(p));
        // People in view: what the camera's counter reported last.
        t.in_view = cam
            .stats("counter")
            .and_then(|st| st.get::<u32>("in-view").ok())
            .unwrap_or(0) as u64;
        site_total.in_view += t.in_view;
        let mut row = t.json();
        row["camera"] = json!(cam.name);
        row["health"] = json!(s.site.health(cam, s.options.stall).to_string());
        cameras.push(row);
    }
    rows.iter().for_each(|p| site_total.add(p));
    let body = json!({
        "site": s.site.name,
        "date": local_time::iso(midnight)[..10],
        "updated": local_time::iso(now),
        "total": site_total.json(),
        "cameras": cameras,
        "hourly_visits": {
            "today": hourly_visits(&s, midnight).await?,
            "same_day_last_week": hourly_visits(&s, midnight - 7 * 86_400).await?,
        },
    });
    Ok(axum::Json(body).into_response())
}
