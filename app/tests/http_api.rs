//! `footfall count --http`: the API, `/metrics` (read by a real Prometheus text parser), the
//! probes and the dashboard (in headless chromium) against a clip's known counts, and the
//! access rules (a token beyond loopback, an address in use).

#[path = "http_api/client.rs"]
mod client;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "http_api/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use client::{footfall_ok, get, json, start_serving, wait_for, Serving};
use common::shared;
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    client::scratch("http", name)
}

/// `footfall count ARGS` with `--http`.
fn count(args: &[&str]) -> Serving {
    let mut all = vec!["count"];
    all.extend_from_slice(args);
    start_serving(&all)
}

/// Waits for the clip's end; returns its last JSON line (the final counts).
fn final_counts(run: &Serving) -> Value {
    wait_for(&run.stderr, "still serving", Duration::from_secs(300));
    let last = run.stdout.try_iter().last().expect("JSON lines on stdout");
    serde_json::from_str(&last).unwrap()
}

const FIELDS: [&str; 5] = [
    "unique_visitors",
    "visits",
    "returning_visits",
    "staff_visits",
    "unidentified_visits",
];

fn enrol_staff(dir: &Path) -> PathBuf {
    let staff = dir.join("staff.json");
    let photos: Vec<String> = std::fs::read_dir(shared("models/eval/angelina_jolie"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec![
        "enroll",
        "--out",
        staff.to_str().unwrap(),
        "--label",
        "staff-1",
    ];
    args.extend(photos.iter().map(String::as_str));
    footfall_ok(&args);
    staff
}

#[test]
fn the_api_metrics_and_dashboard_show_a_clip_s_counts() {
    let dir = scratch("clip");
    let staff = enrol_staff(&dir);
    let store = dir.join("counts.sqlite");
    let clip = shared("media/synth/synth_staff.mp4");
    let args = [
        "--store",
        store.to_str().unwrap(),
        "--staff-gallery",
        staff.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--keep-serving",
        clip.to_str().unwrap(),
    ];
    let run = count(&args);
    let last = final_counts(&run);
    assert_eq!(last["event"], "counts", "{last}");
    // synth_staff's truth with its staff enrolled: 7 visitors, 12 visits, staff seen 9 times.
    let known = ["unique_visitors", "visits", "staff_visits"].map(|k| last[k].as_u64().unwrap());
    assert_eq!(known, [7, 12, 9], "{last}");

    // Today: the store's totals equal the counter's final line, per camera and for the site.
    let today = json(&run.url("/api/today"));
    println!("/api/today: {today}");
    for f in FIELDS {
        assert_eq!(today["total"][f], last[f], "{f}: {today}");
        assert_eq!(today["cameras"][0][f], last[f], "{f}: {today}");
    }
    let hours: u64 = today["hourly_visits"]["today"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(hours, known[1], "the hourly chart holds today's visits");
    assert!(
        today["total"]["mean_dwell_s"].as_f64().unwrap() > 0.0,
        "{today}"
    );

    check_counts(&run, &last);
    check_metrics(&run, &last, &clip);
    check_probes(&run);
    check_dashboard(&run, &today, &store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/api/counts`: per minute as JSON and CSV (by `format=` and by `Accept`), the same sums;
/// bad ranges and resolutions are 400 with a message.
fn check_counts(run: &Serving, last: &Value) {
    let minutes = json(&run.url("/api/counts?resolution=minute"));
    let periods = minutes["periods"].as_array().unwrap();
    for f in FIELDS {
        let sum: u64 = periods.iter().map(|p| p[f].as_u64().unwrap()).sum();
        assert_eq!(Some(sum), last[f].as_u64(), "{f} per minute: {minutes}");
    }
    let day = json(&run.url("/api/counts?resolution=day&camera=camera"));
    assert_eq!(day["periods"][0]["visits"], last["visits"], "{day}");
    let (status, csv) = get(
        &run.url("/api/counts?resolution=hour"),
        &[("Accept", "text/csv")],
    );
    assert_eq!(status, 200);
    let (_, csv2) = get(&run.url("/api/counts?resolution=hour&format=csv"), &[]);
    assert_eq!(csv, csv2);
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("start,site,camera,unique_visitors,visits"),
        "{csv}"
    );
    let visits: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(Some(visits), last["visits"].as_u64(), "{csv}");
    for (query, says) in [
        ("resolution=week", "minute, hour or day"),
        ("from=2026-12-04&to=2026-12-03", "before it starts"),
        ("from=yesterday", "YYYY-MM-DD"),
        ("format=xml", "json or csv"),
    ] {
        let (status, body) = get(&run.url(&format!("/api/counts?{query}")), &[]);
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
}

/// `/metrics` parses with a Prometheus text parser and says what the clip did.
fn check_metrics(run: &Serving, last: &Value, clip: &Path) {
    let (status, body) = get(&run.url("/metrics"), &[]);
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no {name} in\n{body}"));
        assert_eq!(s.labels.get("camera"), Some("camera"));
        assert_eq!(s.labels.get("site"), Some("default"));
        match &s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(
        value("footfall_visits_today"),
        last["visits"].as_f64().unwrap()
    );
    assert_eq!(
        value("footfall_unique_visitors_today"),
        last["unique_visitors"].as_f64().unwrap()
    );
    assert_eq!(
        value("footfall_staff_visits_today"),
        last["staff_visits"].as_f64().unwrap()
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(clip.with_extension("truth.json")).unwrap())
            .unwrap();
    let frames = truth["video"]["frame_count"].as_f64().unwrap();
    assert_eq!(
        value("footfall_frames_processed_total"),
        frames,
        "every frame went through"
    );
    assert_eq!(
        value("footfall_frames_dropped_total"),
        0.0,
        "a file never drops frames"
    );
    assert_eq!(value("footfall_camera_up"), 0.0, "the clip has ended");
    for name in [
        "footfall_detector_inference_seconds",
        "footfall_embedder_inference_seconds",
    ] {
        let h = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no {name}"));
        let prometheus_parse::Value::Histogram(buckets) = &h.value else {
            panic!("{name} is not a histogram: {:?}", h.value)
        };
        let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "{name}: cumulative {counts:?}"
        );
        let inf = buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .expect("+Inf bucket");
        assert!(inf.count > 0.0, "{name}: the clip ran the model");
        let count = scrape
            .samples
            .iter()
            .find(|s| s.metric == format!("{name}_count"))
            .map(|s| &s.value);
        assert!(
            matches!(count, Some(prometheus_parse::Value::Untyped(c) | prometheus_parse::Value::Counter(c)) if *c == inf.count),
            "{name}_count {count:?}"
        );
    }
    println!("/metrics: {} samples parsed", scrape.samples.len());
}

fn check_probes(run: &Serving) {
    assert_eq!(get(&run.url("/livez"), &[]), (200, "ok\n".into()));
    let (status, body) = get(&run.url("/readyz"), &[]);
    assert_eq!(status, 503);
    assert!(body.contains("camera camera: its stream ended"), "{body}");
}

/// The dashboard in headless chromium shows the API's numbers, then updates without a
/// reload when another counter adds visits to the same store.
fn check_dashboard(run: &Serving, today: &Value, store: &Path) {
    let browser = webdriver::Browser::start();
    browser.open(&run.url("/"));
    let t = &today["total"];
    let visits = t["visits"].to_string();
    let shown = browser.wait_text("#visits", |s| s == visits, Duration::from_secs(20));
    assert_eq!(shown, visits);
    assert_eq!(
        browser.text("#unique_visitors"),
        t["unique_visitors"].to_string()
    );
    assert_eq!(browser.text("#staff_visits"), t["staff_visits"].to_string());
    assert_eq!(browser.text("#in_view"), t["in_view"].to_string());
    let share = (t["returning_share"].as_f64().unwrap() * 100.0).round();
    assert_eq!(browser.text("#returning_share"), format!("{share} %"));
    assert!(browser.text("#mean_dwell_s").ends_with(" s"));
    let bars: u64 = browser
        .attributes("rect[data-series=today]", "data-visits")
        .iter()
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        bars.to_string(),
        visits,
        "the hourly bars hold today's visits"
    );
    assert_eq!(browser.text("#cameras tbody tr td"), "camera");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("footfall-dashboard.png");
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(&shot, &png).unwrap();
    println!("dashboard screenshot: {}", shot.display());

    // A second camera of the same site counts a clip into the same store: the open page
    // follows (no reload).
    let clip = shared("media/real/face-demographics-walking-and-pause.mp4");
    let (store, clip) = (store.to_str().unwrap(), clip.to_str().unwrap());
    let out = footfall_ok(&["count", "--store", store, "--camera", "door-2", clip]);
    let added: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let more = (t["visits"].as_u64().unwrap() + added["visits"].as_u64().unwrap()).to_string();
    let shown = browser.wait_text("#visits", |s| s == more, Duration::from_secs(20));
    assert_eq!(shown, more, "the page updated live to the site's visits");
}

#[test]
fn beyond_loopback_a_token_is_needed_and_a_busy_address_is_an_error() {
    let dir = scratch("access");
    let store = dir.join("counts.sqlite");
    let clip = shared("media/real/face-demographics-walking-and-pause.mp4");
    let (store, clip) = (store.to_str().unwrap(), clip.to_str().unwrap());
    let no_token = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["count", "--store", store, "--http", "0.0.0.0:0", clip])
        .env_remove("FOOTFALL_HTTP_TOKEN")
        .output()
        .unwrap();
    assert!(!no_token.status.success());
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("give a token"));

    let run = count(&[
        "--store",
        store,
        "--http",
        "0.0.0.0:0",
        "--http-token",
        "s3cret",
        "--keep-serving",
        clip,
    ]);
    final_counts(&run);
    let port = run.addr.rsplit(':').next().unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert_eq!(get(&url("/api/today"), &[]).0, 401);
    assert_eq!(
        get(&url("/metrics"), &[("Authorization", "Bearer wrong")]).0,
        401
    );
    assert_eq!(
        get(&url("/api/today"), &[("Authorization", "Bearer s3cret")]).0,
        200
    );
    assert_eq!(get(&url("/?token=s3cret"), &[]).0, 200);
    assert_eq!(get(&url("/livez"), &[]).0, 200, "probes need no token");

    let busy = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args([
            "count",
            "--store",
            store,
            "--http",
            &format!("127.0.0.1:{port}"),
            "--http-token",
            "x",
            clip,
        ])
        .output()
        .unwrap();
    assert!(!busy.status.success());
    let said = String::from_utf8_lossy(&busy.stderr);
    assert!(said.contains("the address is in use"), "{said}");
    let no_store = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["count", "--no-store", "--http", "127.0.0.1:0", clip])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&no_store.stderr).contains("drop --no-store"));
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}
