//! The hub's API handlers. Times: a site's periods start at its own local time (with its
//! offset); `from`/`to` are wall-clock times or days, applied to each site's own clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gstfootfall::count::store::query::{Period, Resolution};
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::Served;
use super::query::{self, CameraState, WallQuery};
use crate::http::api::{bad, render_periods, wants_csv, Failure, Total};
use crate::local_time;

const DAY_S: i64 = 86_400;

#[derive(Debug, Deserialize)]
pub(super) struct CountsParams {
    from: Option<String>,
    to: Option<String>,
    resolution: Option<String>,
    site: Option<String>,
    camera: Option<String>,
    format: Option<String>,
}

/// A wall-clock time of `t` (a day or a local time, no offset), or `default`.
fn wall(t: Option<&str>, default: i64) -> Result<i64, Failure> {
    match t {
        None => Ok(default),
        Some(t) if t.len() == 10 || t.len() == 16 || t.len() == 19 => {
            local_time::parse_wall(t).map_err(bad)
        }
        Some(t) => Err(bad(format!(
            "time '{t}': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], each site's own time"
        ))),
    }
}

/// Wall-clock seconds at the start of the hub's today.
fn hub_today_wall() -> Result<i64, Failure> {
    local_time::parse_wall(&local_time::today().map_err(bad)?).map_err(bad)
}

/// `wall_s` as `YYYY-MM-DDTHH:MM:SS` (no offset: each site's own time).
fn wall_iso(wall_s: i64) -> String {
    local_time::iso_at(wall_s, 0)[..19].to_string()
}

pub(super) async fn counts(
    State(s): State<Arc<Served>>,
    headers: HeaderMap,
    Query(p): Query<CountsParams>,
) -> Result<Response, Failure> {
    let today = hub_today_wall()?;
    let from_wall_s = wall(p.from.as_deref(), today)?;
    let to_wall_s = wall(p.to.as_deref(), from_wall_s + DAY_S)?;
    if to_wall_s <= from_wall_s {
        return Err(bad(format!(
            "the range ends ({}) before it starts ({})",
            wall_iso(to_wall_s),
            wall_iso(from_wall_s)
        )));
    }
    let resolution = Resolution::parse(p.resolution.as_deref().unwrap_or("hour")).map_err(bad)?;
    let csv = wants_csv(p.format.as_deref(), &headers)?;
    let q = WallQuery {
        from_wall_s,
        to_wall_s,
        site: p.site.clone(),
        camera: p.camera,
    };
    let rows = s.read(move |db| query::periods(db, &q, resolution)).await?;
    let rows: Vec<(String, Period)> = rows
        .into_iter()
        .map(|r| {
            (
                local_time::iso_at(r.period.start_s, r.utc_offset_s),
                r.period,
            )
        })
        .collect();
    let head = json!({
        "site": p.site,
        "from": wall_iso(from_wall_s),
        "to": wall_iso(to_wall_s),
        "resolution": format!("{resolution:?}").to_lowercase(),
    });
    Ok(render_periods(&rows, csv, head))
}

#[derive(Debug, Deserialize)]
pub(super) struct SiteParam {
    site: Option<String>,
}

/// One shop's day so far in its own time: the site dashboard's `/api/today`, from the
/// database, with what the shop itself says it counted today.
pub(super) async fn today(
    State(s): State<Arc<Served>>,
    Query(p): Query<SiteParam>,
) -> Result<Response, Failure> {
    let site = p
        .site
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("site=… is needed (/api/chain gives every shop)"))?;
    let name = site.clone();
    let offset = s.read(move |db| query::site_offset(db, &name)).await?;
    let offset = offset.ok_or_else(|| {
        Failure(
            StatusCode::NOT_FOUND,
            format!("no shop '{site}' has sent anything"),
        )
    })?;
    let now = now_s();
    let day_start = (now + offset as i64).div_euclid(DAY_S) * DAY_S - offset as i64;
    let day = local_time::iso_at(day_start, offset)[..10].to_string();
    let (name, d) = (site.clone(), day.clone());
    let (rows, cameras, hours) = s
        .read(move |db| {
            let rows = query::day_by_camera(db, &name, &d, day_start)?;
            let cameras = query::cameras(db, Some(&name))?;
            let hours = [0, 7].map(|back| query::hourly_visits(db, &name, &d, back));
            let [today, last_week] = hours;
            Ok((rows, cameras, (today?, last_week?)))
        })
        .await?;
    let (site_total, camera_rows) = today_cameras(&rows, &cameras);
    let reported = reported_today(&cameras, &day);
    let stored_visits = site_total.visits as i64;
    let body = json!({
        "site": site,
        "date": day,
        "updated": local_time::iso_at(now, offset),
        "total": site_total.json(),
        "cameras": camera_rows,
        "hourly_visits": { "today": hours.0, "same_day_last_week": hours.1 },
        // The shop's own tally: more visits there than here are still on their way.
        "reported_by_site": reported.map(|(u, v)| json!({
            "unique_visitors": u,
            "visits": v,
            "not_yet_here": (v - stored_visits).max(0),
        })),
    });
    Ok(axum::Json(body).into_response())
}

/// The site's total and a row per camera (stored counts, people in view, online), every
/// camera with counts or a state.
fn today_cameras(rows: &[Period], cameras: &[CameraState]) -> (Total, Vec<Value>) {
    let mut names: Vec<&str> = rows.iter().map(|p| p.camera.as_str()).collect();
    names.extend(cameras.iter().map(|c| c.camera.as_str()));
    names.sort_unstable();
    names.dedup();
    let mut site_total = Total::default();
    rows.iter().for_each(|p| site_total.add(p));
    let camera_rows = names
        .iter()
        .map(|name| {
            let state = cameras.iter().find(|c| c.camera == *name);
            let row = camera_row(name, rows, state);
            site_total.in_view += row["in_view"].as_u64().unwrap_or(0);
            row
        })
        .collect();
    (site_total, camera_rows)
}

/// One camera's stored counts of the day, its people in view (none while offline) and
/// its health.
fn camera_row(name: &str, rows: &[Period], state: Option<&CameraState>) -> Value {
    let mut t = Total::default();
    rows.iter()
        .filter(|p| p.camera == name)
        .for_each(|p| t.add(p));
    let online = state.and_then(|c| c.online);
    if online != Some(false) {
        t.in_view = state.and_then(|c| c.in_view).unwrap_or(0).max(0) as u64;
    }
    let mut row = t.json();
    row["camera"] = json!(name);
    row["health"] = json!(match online {
        Some(true) => "online",
        Some(false) => "offline",
        None => "unknown",
    });
    row
}

/// The site's own tally of `day` (unique visitors, visits): the most any of its cameras
/// said, a site's counters sharing one count.
fn reported_today(cameras: &[CameraState], day: &str) -> Option<(i64, i64)> {
    cameras
        .iter()
        .filter_map(|c| c.today.as_ref())
        .filter(|(d, _, _)| d == day)
        .map(|(_, u, v)| (*u, *v))
        .reduce(|a, b| (a.0.max(b.0), a.1.max(b.1)))
}

#[derive(Debug, Deserialize)]
pub(super) struct DaysParams {
    from: Option<String>,
    to: Option<String>,
}

/// Every shop per day of its own (`from..=to`, the last 7 days by default), with the
/// totals per shop, per day and for the chain.
pub(super) async fn chain(
    State(s): State<Arc<Served>>,
    Query(p): Query<DaysParams>,
) -> Result<Response, Failure> {
    let day = |t: Option<&str>, default: i64| match t {
        Some(t) if t.len() != 10 => Err(bad(format!("day '{t}': expected YYYY-MM-DD"))),
        t => wall(t, default),
    };
    let to = day(p.to.as_deref(), hub_today_wall()?)?;
    let from = day(p.from.as_deref(), to - 6 * DAY_S)?;
    if to < from || to - from > 366 * DAY_S {
        return Err(bad("from..to: at most 367 days, from first"));
    }
    let (from, to) = (
        wall_iso(from)[..10].to_string(),
        wall_iso(to)[..10].to_string(),
    );
    let (f, t) = (from.clone(), to.clone());
    let (rows, cameras) = s
        .read(move |db| Ok((query::chain_days(db, &f, &t)?, query::cameras(db, None)?)))
        .await?;
    let mut days: BTreeMap<&str, Total> = BTreeMap::new();
    let mut shops: BTreeMap<&str, (Total, serde_json::Map<String, Value>)> = BTreeMap::new();
    let mut chain = Total::default();
    for c in &cameras {
        shops.entry(c.site.as_str()).or_default();
    }
    for (d, p) in &rows {
        days.entry(d).or_default().add(p);
        let shop = shops.entry(p.site.as_str()).or_default();
        shop.0.add(p);
        let mut one = Total::default();
        one.add(p);
        shop.1.insert(d.clone(), one.json());
        chain.add(p);
    }
    let shops: Vec<Value> = shops
        .into_iter()
        .map(|(site, (total, by_day))| {
            let mine = cameras.iter().filter(|c| c.site == site);
            let online = mine.clone().filter(|c| c.online == Some(true)).count();
            json!({
                "site": site,
                "cameras": mine.count(),
                "cameras_online": online,
                "total": total.json(),
                "days": by_day,
            })
        })
        .collect();
    let per_day: Vec<Value> = days
        .iter()
        .map(|(d, t)| json!({ "day": d, "total": t.json() }))
        .collect();
    let body = json!({
        "from": from,
        "to": to,
        "total": chain.json(),
        "per_day": per_day,
        "sites": shops,
    });
    Ok(axum::Json(body).into_response())
}

/// Every camera's state, by shop.
pub(super) async fn sites(
    State(s): State<Arc<Served>>,
    Query(p): Query<SiteParam>,
) -> Result<Response, Failure> {
    let cameras = s
        .read(move |db| query::cameras(db, p.site.as_deref()))
        .await?;
    let mut shops: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for c in &cameras {
        shops.entry(&c.site).or_default().push(json!({
            "camera": c.camera,
            "online": c.online,
            "online_changed_s_ago": c.online_for_s,
            "in_view": c.in_view,
            "counts_s_ago": c.counts_age_s,
            "utc_offset_s": c.utc_offset_s,
            "today": c.today.as_ref().map(|(d, u, v)| json!({
                "date": d, "unique_visitors": u, "visits": v,
            })),
        }));
    }
    let sites: Vec<Value> = shops
        .into_iter()
        .map(|(site, cameras)| json!({ "site": site, "cameras": cameras }))
        .collect();
    Ok(axum::Json(json!({ "sites": sites })).into_response())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
