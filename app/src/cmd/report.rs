//! `footfall report`: the count store's counts per camera and period, as CSV or JSON for a
//! spreadsheet or a script, or an SVG bar chart for a report.

use std::path::PathBuf;

use footfall_app::local_time;
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
    let (now, midnight) = local_time::now_and_midnight()?;
    let from_s = match a.from.as_deref() {
        Some(t) => local_time::parse(t)?,
        None => midnight,
    };
    let to_s = match a.to.as_deref() {
        Some(t) => local_time::parse(t)?,
        None => now + 1,
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
            let title = format!(
                "Visits per {} from {}",
                a.resolution,
                local_time::iso(from_s)
            );
            print!("{}", super::report_svg::chart(&title, &periods, local_iso));
        }
        other => return Err(format!("format '{other}': expected csv, json or svg")),
    }
    Ok(())
}

/// A period's start in local time, ISO 8601 with its offset.
fn local_iso(p: &Period) -> String {
    local_time::iso(p.start_s)
}
