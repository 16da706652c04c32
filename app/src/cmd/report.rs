//! `footfall report`: the count store's counts per camera and period, as CSV or JSON for a
//! spreadsheet or a script, or an SVG bar chart for a report.

use std::path::PathBuf;

use gst::glib;
use gstfootfall::count::store::query::{self, Period, Query, Resolution};

#[derive(clap::Args)]
pub struct Args {
    /// Count store to read [default: the one `footfall count` keeps in the user's data folder]
    #[arg(long)]
    store: Option<PathBuf>,
    /// Start: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local time) or Unix seconds [default: today 00:00]
    #[arg(long)]
    from: Option<String>,
    /// End, excluded (same forms) [default: now]
    #[arg(long)]
    to: Option<String>,
    /// Period of each row: minute, hour or day (local hours and days)
    #[arg(long, default_value = "hour")]
    resolution: String,
    /// csv, json, or svg (a bar chart of every camera's visits per period)
    #[arg(long, default_value = "csv")]
    format: String,
    /// Only this site (gallery)
    #[arg(long)]
    site: Option<String>,
    /// Only this camera
    #[arg(long)]
    camera: Option<String>,
}

pub fn run(a: Args) -> Result<(), String> {
    let resolution = Resolution::parse(&a.resolution)?;
    let store = match a.store {
        Some(p) => p,
        None => super::input::default_store().ok_or("no data folder: give --store")?,
    };
    if !store.is_file() {
        return Err(format!("no count store at '{}'", store.display()));
    }
    let now = glib::DateTime::now_local().map_err(|_| "no local time")?;
    let from_s = match a.from.as_deref() {
        Some(t) => parse_time(t)?,
        None => now.to_unix() - (now.hour() * 3600 + now.minute() * 60 + now.second()) as i64,
    };
    let to_s = match a.to.as_deref() {
        Some(t) => parse_time(t)?,
        None => now.to_unix() + 1,
    };
    let q = Query {
        from_s,
        to_s,
        site: a.site,
        camera: a.camera,
    };
    let periods = query::periods(&store, &q, resolution)?;
    match a.format.as_str() {
        "csv" => {
            println!("{}", query::CSV_HEADER);
            for p in &periods {
                println!("{}", query::csv_row(&local_iso(p), p));
            }
        }
        "json" => {
            let rows: Vec<_> = periods
                .iter()
                .map(|p| query::json_row(&local_iso(p), p))
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        "svg" => {
            let title = format!("Visits per {} from {}", a.resolution, local_iso_of(from_s));
            print!("{}", super::report_svg::chart(&title, &periods, local_iso));
        }
        other => return Err(format!("format '{other}': expected csv, json or svg")),
    }
    Ok(())
}

/// A period's start in local time, ISO 8601 with its offset.
fn local_iso(p: &Period) -> String {
    local_iso_of(p.start_s)
}

fn local_iso_of(unix_s: i64) -> String {
    glib::DateTime::from_unix_local(unix_s)
        .ok()
        .and_then(|d| d.format("%FT%T%:z").ok())
        .map(|s| s.to_string())
        .unwrap_or_else(|| unix_s.to_string())
}

/// Unix seconds of `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (local time, or with an offset)
/// or a plain number of seconds.
fn parse_time(t: &str) -> Result<i64, String> {
    if let Ok(s) = t.parse::<i64>() {
        return Ok(s);
    }
    let full = match t.len() {
        10 => format!("{t}T00:00:00"),
        16 => format!("{t}:00"),
        _ => t.to_string(),
    };
    glib::DateTime::from_iso8601(&full, Some(&glib::TimeZone::local()))
        .map(|d| d.to_unix())
        .map_err(|_| {
            format!("time '{t}': expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or Unix seconds")
        })
}
