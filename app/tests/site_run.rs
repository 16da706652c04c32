//! `footfall run SITE.toml`: three clips as three doors of one site plus a camera that is
//! not there, one process. The working doors count alone (the dead one fails alone, named
//! in the exit); the run's summary, the API (per camera and site total), the MQTT visits
//! (a topic per camera) and the dashboard's rows say the same; and a wrong key or value in
//! the file is an error naming it before anything runs.

#[path = "http_api/client.rs"]
mod client;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "http_api/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use client::{json, start_serving, wait_for};
use common::{free_port, shared};
use serde_json::Value;

/// The doors: (camera, clip, its options), and each clip's people.
const DOORS: [(&str, &str, &str, u64); 3] = [
    ("door-1", "face-demographics-walking-and-pause", "", 3),
    // A small face: the detector at a larger width, set in the file.
    (
        "door-2",
        "head-pose-face-detection-male",
        "[camera.options]\n\"detector::inference-width\" = 640\n",
        1,
    ),
    ("door-3", "head-pose-face-detection-female", "", 1),
];

fn site_file(dir: &Path, mqtt: &str) -> String {
    let mut text = format!(
        "[site]\nname = \"high-street\"\nstore = \"counts.sqlite\"\n\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\n[mqtt]\nurl = \"{mqtt}\"\n"
    );
    for (camera, clip, options, _) in DOORS {
        let clip = shared(&format!("media/real/{clip}.mp4"));
        text += &format!(
            "\n[[camera]]\nname = \"{camera}\"\nsource = \"{}\"\n{options}",
            clip.display()
        );
    }
    // Nothing listens there: the camera gives up after its connect timeout.
    text += &format!(
        "\n[[camera]]\nname = \"dead\"\nsource = \"rtsp://127.0.0.1:{}/none\"\nconnect_timeout_s = 2\n",
        free_port()
    );
    let path = dir.join("site.toml");
    std::fs::write(&path, &text).unwrap();
    path.display().to_string()
}

#[test]
fn a_site_file_counts_its_cameras_in_one_process() {
    let dir = client::scratch("site", "run");
    let broker = common::mqtt::Broker::start("site-run");
    let sub = broker.subscribe("site-run-test", &["footfall/high-street/#"]);
    let file = site_file(&dir, &broker.url());
    let mut run = start_serving(&["run", &file, "--keep-serving"]);
    wait_for(&run.stderr, "still serving", Duration::from_secs(300));
    let summary: Value = serde_json::from_str(&run.stdout.recv().unwrap()).unwrap();
    println!("summary: {summary}");

    let today = json(&run.url("/api/today"));
    println!("/api/today: {today}");
    let cameras = summary["cameras"].as_array().unwrap();
    assert_eq!(cameras.len(), 4, "{summary}");
    let mut unique = 0;
    for ((camera, _, _, people), row) in DOORS.iter().zip(cameras) {
        assert_eq!(row["camera"], *camera);
        let u = row["unique_visitors"].as_u64().unwrap();
        // Each door sees its clip's people; one seen at an earlier door is not new here.
        assert!(u <= *people, "{camera} counted {u} of {people}: {summary}");
        assert!(row["visits"].as_u64().unwrap() >= 1, "{camera}: {summary}");
        assert!(row.get("error").is_none(), "{camera}: {summary}");
        let api = &today["cameras"].as_array().unwrap();
        let api = api.iter().find(|c| c["camera"] == *camera).unwrap();
        for f in ["unique_visitors", "visits"] {
            assert_eq!(api[f], row[f], "{camera} {f}: API {api} vs summary {row}");
        }
        unique += u;
    }
    assert_eq!(summary["unique_visitors"], unique);
    assert_eq!(
        today["total"]["unique_visitors"],
        summary["unique_visitors"]
    );
    assert_eq!(today["total"]["visits"], summary["visits"]);
    assert!(unique >= 3, "the doors' people were counted: {summary}");
    let dead = &cameras[3];
    assert_eq!(dead["camera"], "dead");
    assert!(dead["error"].as_str().is_some(), "{summary}");

    // MQTT: each camera's visits under its own topic, as many as the store holds.
    let visits = summary["visits"].as_u64().unwrap() as usize;
    let messages = sub.wait_for(Duration::from_secs(20), |m| {
        m.iter().filter(|(t, _)| t.ends_with("/visit")).count() >= visits
    });
    for (camera, ..) in DOORS {
        let topic = format!("footfall/high-street/{camera}/visit");
        let got = messages.iter().filter(|(t, _)| *t == topic).count();
        let row = cameras.iter().find(|c| c["camera"] == camera).unwrap();
        assert_eq!(Some(got as u64), row["visits"].as_u64(), "{topic}");
    }

    // The dashboard lists every camera.
    let browser = webdriver::Browser::start();
    browser.open(&run.url("/"));
    browser.wait_text(
        "#cameras tbody tr td",
        |s| !s.is_empty(),
        Duration::from_secs(20),
    );
    let rows = browser.attributes("#cameras tbody tr", "data-camera");
    assert_eq!(rows, ["door-1", "door-2", "door-3", "dead"]);

    // Ctrl-C ends the serving; the exit names the camera that failed.
    let _ = Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status();
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let said: Vec<String> = run.stderr.try_iter().collect();
    assert!(
        said.iter()
            .any(|l| l.contains("1 of 4 cameras failed: dead")),
        "{said:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `footfall run --check FILE`: its stderr, and whether it passed.
fn check(text: &str) -> (bool, String) {
    let dir = client::scratch("site", "check");
    let path = dir.join("site.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.join("a.mp4"), b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["run", "--check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_wrong_key_or_value_is_an_error_naming_it() {
    let camera = "[[camera]]\nname = \"c\"\nsource = \"a.mp4\"\n";
    let (ok, said) = check(&format!("[site]\nname = \"s\"\n{camera}"));
    assert!(ok, "{said}");
    for (text, says) in [
        (
            format!("[site]\nname = \"s\"\n{camera}trasport = \"tcp\"\n"),
            "unknown field `trasport`",
        ),
        (
            format!("[site]\nname = \"s\"\n{camera}[camera.options]\nmin-quality = 3.0\n"),
            "'3' is not a value 'min-quality' takes (a number from 0 to 1)",
        ),
        (
            format!("[site]\nname = \"s\"\n{camera}[camera.options]\nstore = \"x\"\n"),
            "'store' is set by [site] store",
        ),
        (
            "[site]\nname = \"s\"\n[[camera]]\nname = \"c\"\nsource = \"gone.mp4\"\n".to_string(),
            "source '",
        ),
        (
            format!("[site]\nname = \"s\"\nstore = \"none\"\n[http]\nlisten = \"127.0.0.1:0\"\n{camera}"),
            "set [site] store",
        ),
    ] {
        let (ok, said) = check(&text);
        assert!(!ok, "{text} was taken");
        assert!(said.contains(says), "{text}: said {said}");
    }
}

#[test]
fn without_a_store_the_summary_gives_the_site_totals() {
    let dir = client::scratch("site", "no-store");
    let mut text = "[site]\nname = \"kiosk\"\nstore = \"none\"\n".to_string();
    for (camera, clip, options, _) in &DOORS[1..] {
        let clip = shared(&format!("media/real/{clip}.mp4"));
        text += &format!(
            "\n[[camera]]\nname = \"{camera}\"\nsource = \"{}\"\n{options}",
            clip.display()
        );
    }
    let file = dir.join("site.toml");
    std::fs::write(&file, text).unwrap();
    let out = client::footfall_ok(&["run", file.to_str().unwrap()]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("summary: {summary}");
    // One man, one woman: each door's clip has one person.
    let unique = summary["unique_visitors"].as_u64().unwrap();
    assert!((1..=2).contains(&unique), "{summary}");
    assert_eq!(summary["visits"].as_u64(), Some(unique), "{summary}");
    for row in summary["cameras"].as_array().unwrap() {
        assert!(row.get("visits").is_none(), "no per-camera split: {row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
