//! The face metadata is readable without Footfall code: examples/read_faces.py (PyGObject,
//! GStreamer's own ROI and custom-meta APIs) loads the built plugin and prints the faces.

mod common;

use std::process::Command;

#[test]
fn python_reads_faces_and_detection_meta() {
    let plugin_dir = common::plugin_dir();
    let out = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/read_faces.py"
        ))
        .arg(common::shared(
            "media/real/head-pose-face-detection-female-and-male.mp4",
        ))
        .env("GST_PLUGIN_PATH", &plugin_dir)
        .env("FOOTFALL_MODELS_DIR", common::shared("models"))
        .output()
        .expect("/usr/bin/python3 (scripts/setup.sh installs python3-gi and python3-gst-1.0)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 56, "one line per frame");
    assert!(
        lines[0].starts_with("frame=0 detected=True ["),
        "{}",
        lines[0]
    );
    // two people in this clip: two faces with scores and landmarks on most frames
    let two = lines
        .iter()
        .filter(|l| l.matches("score=0.").count() == 2 && l.contains("right_eye=("))
        .count();
    assert!(two >= 50, "{two} frames with two faces\n{stdout}");
}
