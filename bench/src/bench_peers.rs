//! `footfall-bench --suite peers`: the same clips, in the same run, through the peers — the
//! OpenCV `facedetect` element (detection speed, every frame, against `facedetector` on every
//! frame) and a Python `face_recognition` unique-visitor script (speed and count, against
//! `footfallbin` at its defaults). `bench/peers/setup.sh` installs the peers.

use std::process::Command;

use crate::bench::Args;
use crate::bench_child::in_child;

/// Final counts line of a JSON-lines events file.
fn last_counts(path: &std::path::Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v["event"] == "counts")
        })
        .unwrap_or(serde_json::Value::Null)
}

/// The face_recognition peer's result on `clip`: frames, fps, unique.
fn face_recognition(a: &Args, clip: &std::path::Path) -> Result<serde_json::Value, String> {
    let out = Command::new(&a.peers_python)
        .arg("bench/peers/face_recognition_count.py")
        .arg(clip)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} (run bench/peers/setup.sh): {e}",
                a.peers_python.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).map_err(|e| {
        format!(
            "face_recognition peer failed on {} ({e}): {}",
            clip.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

pub fn peers_suite(a: &Args) -> Result<(), String> {
    if Command::new("gst-inspect-1.0")
        .arg("facedetect")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Err("the OpenCV facedetect element is missing: run bench/peers/setup.sh".into());
    }
    println!("\n### Peers on the same clips, same run\n");
    println!(
        "| input | frames | truth unique (range) | footfallbin fps | counted | face_recognition fps | counted \
         | footfallbin ÷ face_recognition fps | facedetector fps (every frame) | OpenCV facedetect fps |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let events = std::env::temp_dir().join(format!("footfall-peers-{}.jsonl", std::process::id()));
    for (label, file) in crate::bench_cost::inputs(a)? {
        let loc = file.display();
        let ours = format!(
            "filesrc location=\"{loc}\" ! decodebin ! footfallbin gallery=bench-peers location=\"{}\" \
             ! fakesink name=sink sync=false",
            events.display()
        );
        let chain = in_child(&ours, &[])?;
        let counted = last_counts(&events)["unique_visitors"].clone();
        let _ = std::fs::remove_file(&events);
        let detect = |element: &str| {
            in_child(
                &format!(
                    "filesrc location=\"{loc}\" ! decodebin ! videoconvert ! {element} ! fakesink name=sink sync=false"
                ),
                &[],
            )
        };
        let ours_det = detect("facedetector")?;
        let opencv = detect("facedetect display=false")?;
        let truth: serde_json::Value = std::fs::read_to_string(file.with_extension("truth.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let e = &truth["expected"];
        let truth_cell = if e.is_null() {
            "as synth_long_benchmark".to_string()
        } else {
            let r = &e["unique_visitors_range"];
            format!("{} ({}-{})", e["unique_visitors"], r[0], r[1])
        };
        // The Python peer takes 0.5-1 s per 720p/1080p frame (25-50 min per copy of the long
        // clip): the shared clips only.
        let (fr_fps, fr_count, ratio) = if label.contains(" at ") {
            ("not run".to_string(), "-".to_string(), "-".to_string())
        } else {
            let fr = face_recognition(a, &file)?;
            let fps = fr["fps"].as_f64().unwrap_or(f64::NAN);
            (
                format!("{fps:.1}"),
                fr["unique"].to_string(),
                format!("{:.0}×", chain.fps() / fps),
            )
        };
        println!(
            "| {label} | {} | {truth_cell} | {:.0} | {counted} | {fr_fps} | {fr_count} | {ratio} | {:.0} | {:.0} |",
            chain.frames,
            chain.fps(),
            ours_det.fps(),
            opencv.fps(),
        );
    }
    Ok(())
}
