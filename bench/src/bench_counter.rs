//! `footfall-bench --suite counter`: `footfall count` on every clip with a truth file, at the
//! default detector interval and at every frame — the accuracy table — with the peak memory
//! of each `footfall count` process.

use std::path::Path;
use std::process::Command;

use crate::bench::{clips, Args};

/// Final counts and peak RSS (MiB) of `footfall count <clip> [extra]` run as a child under
/// `/usr/bin/time` (a separate process, so each clip's peak is its own).
fn count_in_child(clip: &Path, extra: &[&str]) -> Result<(serde_json::Value, f64), String> {
    let me = crate::footfall_exe()?;
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(me)
        .arg("count")
        .args(extra)
        .arg(clip)
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time (apt package `time`): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("footfall count {}: {stderr}", clip.display()));
    }
    let last = stdout.lines().last().unwrap_or("{}");
    let counts: serde_json::Value = serde_json::from_str(last).map_err(|e| e.to_string())?;
    let kib: f64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no peak RSS from /usr/bin/time")?;
    Ok((counts, kib / 1024.0))
}

/// Enrols the consenting-staff stand-in (the eval photos of the synth_staff staff member).
fn staff_gallery(a: &Args) -> Result<String, String> {
    let out =
        std::env::temp_dir().join(format!("footfall-bench-staff-{}.json", std::process::id()));
    let photos: Vec<String> = std::fs::read_dir(a.models.join("eval/angelina_jolie"))
        .map_err(|e| format!("staff photos: {e}"))?
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    let status = Command::new(crate::footfall_exe()?)
        .args(["enroll", "--label", "staff-1", "--out"])
        .arg(&out)
        .args(&photos)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("footfall enroll failed".into());
    }
    Ok(out.display().to_string())
}

pub fn counter_suite(a: &Args) -> Result<(), String> {
    println!("\n### facecounter: counts against the truth at the default detector interval (3) and at 1\n");
    println!("| clip | truth unique (range) | counted, interval 3 | counted, interval 1 | truth visits | visits, interval 3 | visits, interval 1 | staff visits (3 / 1) | peak RSS MiB (3 / 1) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let staff = staff_gallery(a)?;
    for clip in clips(&a.media) {
        let name = clip.file_name().unwrap().to_string_lossy().to_string();
        if a.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let truth_path = clip.with_extension("truth.json");
        let Ok(text) = std::fs::read_to_string(&truth_path) else {
            continue;
        };
        let truth: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let e = &truth["expected"];
        let variants: Vec<(String, Vec<&str>)> = if name.starts_with("synth_staff") {
            vec![
                (name.clone(), vec![]),
                (
                    format!("{name} + staff gallery"),
                    vec!["--staff-gallery", staff.as_str()],
                ),
            ]
        } else {
            vec![(name.clone(), vec![])]
        };
        for (label, extra) in variants {
            let mut at = vec![];
            for interval in ["3", "1"] {
                let mut args = extra.clone();
                args.extend(["--interval", interval]);
                at.push(count_in_child(&clip, &args)?);
            }
            let [(c3, r3), (c1, r1)] = [at[0].clone(), at[1].clone()];
            // With the staff gallery the truth is the customers only.
            let with_staff = !extra.is_empty();
            let (truth_unique, range, truth_visits) = if with_staff {
                let u = e["unique_visitors_excluding_staff"].as_u64().unwrap_or(0);
                let v = e["total_visits"].as_u64().unwrap_or(0)
                    - e["visits_by_staff"].as_u64().unwrap_or(0);
                (u, (u, u), v)
            } else {
                let r = &e["unique_visitors_range"];
                (
                    e["unique_visitors"].as_u64().unwrap_or(0),
                    (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0)),
                    e["total_visits"].as_u64().unwrap_or(0),
                )
            };
            println!(
                "| {label} | {truth_unique} ({}-{}) | {} | {} | {truth_visits} | {} | {} | {} / {} | {r3:.0} / {r1:.0} |",
                range.0, range.1,
                c3["unique_visitors"], c1["unique_visitors"], c3["visits"], c1["visits"],
                c3["staff_visits"], c1["staff_visits"],
            );
        }
    }
    Ok(())
}
