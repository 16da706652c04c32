//! `facecounter store=`: the count store keeps every decided visit and the per-minute
//! counts; a restart resumes the camera's visit numbers; a process killed with SIGKILL at
//! any moment leaves a whole store missing at most the visits of its last second.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("footfall-store-{}-{name}", std::process::id()));
    for extra in ["", "-wal", "-shm"] {
        let mut n = p.as_os_str().to_os_string();
        n.push(extra);
        let _ = std::fs::remove_file(PathBuf::from(n));
    }
    p
}

fn chain(clip: &str, pre: &str, store: &Path, json: &Path) -> String {
    common::counting_chain(
        clip,
        pre,
        true,
        &format!(
            "name=door gallery=store-{} location={} store={}",
            std::process::id(),
            json.display(),
            store.display()
        ),
    )
}

fn visit_numbers(json: &Path) -> Vec<u64> {
    std::fs::read_to_string(json)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "visit")
        .map(|v| v["visit"].as_u64().unwrap())
        .collect()
}

/// (number, kind) of the stored visits of camera `door`, and the stored minutes' sums.
fn stored(store: &Path) -> (Vec<(u64, String)>, [i64; 4]) {
    let conn = Connection::open(store).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut q = conn
        .prepare("SELECT number, kind FROM visits WHERE camera = 'door' ORDER BY number")
        .unwrap();
    let visits = q
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .unwrap()
        .map(|v| v.unwrap())
        .collect();
    let sums = conn
        .query_row(
            "SELECT coalesce(sum(unique_visitors), 0), coalesce(sum(visits), 0),
                    coalesce(sum(returning_visits), 0), coalesce(sum(dwell_count), 0)
             FROM minute_counts WHERE camera = 'door'",
            [],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )
        .unwrap();
    (visits, sums)
}

#[test]
fn a_clip_is_stored_and_a_restart_continues_its_numbers() {
    let store = tmp("restart.sqlite");
    let mut totals = Vec::new();
    for round in 0..2 {
        let json = tmp(&format!("restart-{round}.json"));
        let r = common::run_pipeline(&chain("synth/synth_returns", "", &store, &json), 300);
        assert!(r.error.is_none(), "{:?}", r.error);
        let last = common::last_json_line(&json);
        totals.push((
            last["unique_visitors"].as_i64().unwrap(),
            last["visits"].as_i64().unwrap(),
            last["returning_visits"].as_i64().unwrap(),
        ));
        let numbers = visit_numbers(&json);
        let first = 1 + round as u64 * numbers.len() as u64;
        assert_eq!(
            numbers,
            (first..first + numbers.len() as u64).collect::<Vec<_>>(),
            "round {round}: numbers go on from the stored ones"
        );
    }
    // synth_returns: 8 visitors, 17 visits (media/README.md), each run a site of its own.
    assert_eq!(totals[0], (8, 17, 9));
    assert_eq!(totals[0], totals[1]);
    let (visits, sums) = stored(&store);
    assert_eq!(visits.len(), 34);
    assert_eq!(visits.iter().filter(|(_, k)| k == "new").count(), 16);
    assert_eq!(visits.iter().filter(|(_, k)| k == "returning").count(), 18);
    assert_eq!(
        sums,
        [16, 34, 18, 34],
        "minutes: unique, visits, returning, dwells"
    );
}

#[test]
fn sigkill_never_corrupts_the_store_and_loses_at_most_the_last_second() {
    let store = tmp("kill.sqlite");
    let mut checked = 0;
    for round in 0..4 {
        let json = tmp(&format!("kill-{round}.json"));
        // About real time (the clip's 25 fps), so visits are decided while we watch.
        let desc = chain(
            "synth/synth_long_benchmark",
            "identity sleep-time=40000 !",
            &store,
            &json,
        );
        let mut child = Command::new("gst-launch-1.0")
            .args(["-q"])
            .args(desc.split_whitespace())
            .env("GST_PLUGIN_PATH", common::plugin_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // When each visit's JSON line was first seen; kill a moment after the (2+round)th.
        let mut seen: HashMap<u64, Instant> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        let kill_after = 2 + round;
        loop {
            for n in visit_numbers(&json) {
                seen.entry(n).or_insert_with(Instant::now);
            }
            if seen.len() >= kill_after {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: too few visits");
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: ended early"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100 * round as u64 + 300));
        let killed_at = Instant::now();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for n in visit_numbers(&json) {
            seen.entry(n).or_insert(killed_at);
        }
        let (visits, _) = stored(&store);
        let kept: Vec<u64> = visits.iter().map(|(n, _)| *n).collect();
        for (n, at) in &seen {
            if killed_at.duration_since(*at) > Duration::from_secs(1) {
                assert!(
                    kept.contains(n),
                    "round {round}: visit {n}, decided {:?} before the kill, was lost",
                    killed_at.duration_since(*at)
                );
                checked += 1;
            }
        }
        println!(
            "round {round}: {} visits in the store after SIGKILL, {} decided in this run",
            kept.len(),
            seen.len()
        );
    }
    assert!(
        checked >= 4,
        "visits older than a second were checked ({checked})"
    );
}
