//! A shop enrols its staff with `footfall enroll` and counts with `footfall count
//! --staff-gallery`: staff visits are counted apart and never as visitors.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::shared;

fn footfall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(args)
        .env("FOOTFALL_MODELS_DIR", shared("models"))
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
    let _ = std::fs::remove_file(&staff);
}
