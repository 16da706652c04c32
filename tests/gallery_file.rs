//! `facecounter gallery-file`: off by default; when set, a restart within the retention
//! remembers visitors, the file is the owner's alone, expired identities are purged on
//! load, and a process killed with SIGKILL in the middle of writing never leaves a file
//! that cannot be loaded (nor its partial temporary copy for long).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gstfootfall::count::persist;
use gstfootfall::count::site::wall_now;
use serde_json::Value;

fn chain(clip: &str, gallery: &str, json: &Path, props: &str) -> String {
    common::counting_chain(
        clip,
        "",
        true,
        &format!("gallery={gallery} location={} {props}", json.display()),
    )
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("footfall-galfile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Final counts of one run (a gallery name of its own: a fresh site, as after a restart).
fn run(clip: &str, gallery: &str, props: &str) -> Value {
    let json = tmp(&format!("{gallery}.json"));
    let r = common::run_pipeline(&chain(clip, gallery, &json, props), 300);
    assert!(r.error.is_none(), "{gallery}: {:?}", r.error);
    common::last_json_line(&json)
}

#[test]
fn a_restart_within_the_retention_remembers_visitors() {
    let file = tmp("remember.gal");
    let props = format!("gallery-file={}", file.display());
    let first = run("synth/synth_groups_lighting", "remember-1", &props);
    assert_eq!(first["unique_visitors"], 9);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "the gallery file is readable by its owner only"
    );
    let stored = persist::load(&file, wall_now()).unwrap();
    assert_eq!(stored.len(), 9, "one record per identity");
    // "Restart": a new site, same file. Everyone is known already.
    let second = run("synth/synth_groups_lighting", "remember-2", &props);
    println!("first run {first}\nafter a restart {second}");
    assert_eq!(second["unique_visitors"], 0, "{second}");
    assert!(
        second["returning_visits"].as_u64().unwrap() >= 15,
        "{second}"
    );
    // Off by default: without the property nothing is written anywhere.
    let none = run("synth/synth_groups_lighting", "remember-3", "");
    assert_eq!(none["unique_visitors"], 9);
}

#[test]
fn expired_identities_are_purged_on_load_and_count_again() {
    let file = tmp("expire.gal");
    let props = format!("gallery-file={} retention=2", file.display());
    let first = run("real/head-pose-face-detection-male", "expire-1", &props);
    assert_eq!(first["unique_visitors"], 1);
    assert_eq!(persist::load(&file, wall_now()).unwrap().len(), 1);
    // Stream time of a file runs ahead of the wall clock: wait out the clip and retention.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        persist::load(&file, wall_now()).unwrap().len(),
        0,
        "expired"
    );
    let again = run("real/head-pose-face-detection-male", "expire-2", &props);
    assert_eq!(
        again["unique_visitors"], 1,
        "counted again after the retention"
    );
    assert_eq!(again["returning_visits"], 0);
}

#[test]
fn sigkill_while_writing_never_leaves_an_unloadable_file() {
    let file = tmp("kill.gal");
    let tmp_prefix = format!("{}.tmp-", file.file_name().unwrap().to_string_lossy());
    let json = tmp("kill.json");
    // A floor of 1 ms a frame (3 s over the clip), so a fast machine does not finish the
    // clip before the second save starts.
    let desc = common::counting_chain(
        "synth/synth_long_benchmark",
        "identity sleep-time=1000 !",
        true,
        &format!(
            "gallery=kill location={} gallery-file={} gallery-save-interval=1",
            json.display(),
            file.display()
        ),
    );
    let mut killed_mid_write = 0;
    for round in 0..4 {
        let mut child = Command::new("gst-launch-1.0")
            .args(["-q"])
            .args(desc.split_whitespace())
            .env("GST_PLUGIN_PATH", common::plugin_dir())
            .env("FOOTFALL_GALLERY_WRITE_DELAY_MS", "15")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let partial = file.with_file_name(format!("{tmp_prefix}{}", child.id()));
        // Kill as soon as the third write of the run is under way: the second, complete,
        // holds the identities seen in the run's first seconds.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen_saves = 0;
        let mut was_writing = false;
        loop {
            let writing = partial.exists();
            if writing && !was_writing {
                seen_saves += 1;
            }
            was_writing = writing;
            if writing && seen_saves >= 3 && file.exists() {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: no write seen");
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: ended before a kill"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let partial_len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        let full_len = std::fs::metadata(&file).unwrap().len();
        if partial.exists() {
            killed_mid_write += 1;
        }
        let records = persist::load(&file, wall_now())
            .unwrap_or_else(|e| panic!("round {round}: the file is unusable after SIGKILL: {e}"));
        println!(
            "round {round}: killed mid-write (partial {partial_len} bytes), file {full_len} bytes loads with {} identities",
            records.len()
        );
        assert!(
            !records.is_empty(),
            "round {round}: the file lost its identities"
        );
        assert!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777 == 0o600);
    }
    assert!(killed_mid_write >= 3, "the kills hit writes in progress");
    // The next start loads the file and deletes the partial copies (they hold embeddings).
    let after = run(
        "real/head-pose-face-detection-male",
        "kill-after",
        &format!("gallery-file={}", file.display()),
    );
    assert!(after["event"] == "counts");
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&tmp_prefix))
        .collect();
    assert!(leftovers.is_empty(), "partial copies left: {leftovers:?}");
}
