//! A shop enrols its staff with `footfall enroll` and counts with `footfall count
//! --staff-gallery`: staff visits are counted apart and never as visitors, and the count
//! store `footfall count` keeps by default in the user's data folder says the same.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::shared;

/// The data folder the commands run with (their default count store is in it).
fn data_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("footfall-staff-data-{}", std::process::id()))
}

fn footfall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(args)
        .env("FOOTFALL_MODELS_DIR", shared("models"))
        .env("XDG_DATA_HOME", data_home())
        .output()
        .unwrap()
}

#[test]
fn staff_are_never_counted() {
    let staff = std::env::temp_dir().join(format!("footfall-staff-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&staff);
    let photos: Vec<String> = std::fs::read_dir(shared("models/eval/angelina_jolie"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut enroll = vec![
        "enroll",
        "--out",
        staff.to_str().unwrap(),
        "--label",
        "staff-1",
    ];
    enroll.extend(photos.iter().map(String::as_str));
    let out = footfall(&enroll);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clip = shared("media/synth/synth_staff.mp4");
    let out = footfall(&[
        "count",
        "--staff-gallery",
        staff.to_str().unwrap(),
        clip.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    println!("synth_staff with the staff gallery: {last}");
    assert_eq!(last["event"], "counts", "the last line is the final counts");
    // synth_staff truth: 7 visitors without staff, 12 customer visits, staff seen 9 times.
    let got = ["unique_visitors", "visits", "staff_visits"].map(|k| last[k].as_u64());
    assert_eq!(got, [Some(7), Some(12), Some(9)]);
    let store = data_home().join("footfall/counts.sqlite");
    let conn = rusqlite::Connection::open(&store).unwrap();
    let kinds: Vec<(String, i64)> = conn
        .prepare(
            "SELECT kind, count(*) FROM visits WHERE camera = 'camera' GROUP BY kind ORDER BY kind",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let sum = |k: &str| {
        kinds
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, c)| c)
            .sum::<i64>()
    };
    assert_eq!(
        (
            sum("new") + sum("unidentified"),
            sum("new") + sum("returning") + sum("unidentified"),
            sum("staff")
        ),
        (7, 12, 9),
        "the default store holds the same counts: {kinds:?}"
    );
    drop(conn);
    // `footfall report` reads the same store: today's one row per camera says the same.
    let out = footfall(&["report", "--resolution", "day", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let day = &rows.as_array().unwrap()[0];
    let got = ["unique_visitors", "visits", "staff_visits"].map(|k| day[k].as_u64());
    assert_eq!(got, [Some(7), Some(12), Some(9)], "{rows}");
    let csv = footfall(&["report", "--resolution", "hour"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(
        text.starts_with("start,site,camera,unique_visitors,visits"),
        "{text}"
    );
    let svg = footfall(&["report", "--resolution", "day", "--format", "svg"]);
    let svg = String::from_utf8_lossy(&svg.stdout);
    assert!(
        svg.starts_with("<svg") && svg.contains(": 12 visits</title>"),
        "{svg}"
    );
    let bad = footfall(&["report", "--resolution", "fortnight"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("minute, hour or day"));
    let _ = std::fs::remove_dir_all(data_home());
    let _ = std::fs::remove_file(&staff);
}
