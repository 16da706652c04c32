//! The set-up: models/fetch.py verifies checksums, the elements resolve models
//! from the `model` property, else FOOTFALL_MODELS_DIR, else the project's models/ folder, and
//! a missing ONNX Runtime library is named in `footfall`'s error.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;

use common::shared;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("footfall-models-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fetch(
    dest: &std::path::Path,
    from: &std::path::Path,
    url: Option<&str>,
) -> std::process::Output {
    let mut c = Command::new("python3");
    c.arg(common::project_root().join("models/fetch.py"))
        .arg("--dest")
        .arg(dest)
        .arg("--from")
        .arg(from)
        .env_remove("FOOTFALL_MODELS_URL");
    if let Some(u) = url {
        c.env("FOOTFALL_MODELS_URL", u);
    }
    c.output().unwrap()
}

#[test]
fn fetch_verifies_sha256_and_names_the_sources() {
    // A corrupt copy in --from is rejected; ../shared/models then supplies the real file.
    let bad = tmpdir("bad");
    std::fs::write(bad.join("face_detector.onnx"), b"corrupt").unwrap();
    let dest = tmpdir("dest");
    let out = fetch(&dest, &bad, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("MISMATCH face_detector.onnx"), "{stderr}");
    let a = std::fs::read(dest.join("face_detector.onnx")).unwrap();
    let b = std::fs::read(shared("models/face_detector.onnx")).unwrap();
    assert_eq!(a, b);
    // A second run leaves correct files alone.
    let out = fetch(&dest, &bad, None);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("ok       face_detector.onnx (already in place)"));
}

#[test]
fn fetch_from_a_base_url() {
    let dest = tmpdir("url");
    let url = format!(
        "file://{}",
        shared("models").canonicalize().unwrap().display()
    );
    let out = fetch(&dest, std::path::Path::new("/nonexistent"), Some(&url));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dest.join("face_embedder.onnx").is_file());
}

fn detect_with_env(models_dir: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_footfall"));
    c.args([
        "detect",
        shared("media/real/head-pose-face-detection-female.mp4")
            .to_str()
            .unwrap(),
    ]);
    match models_dir {
        Some(d) => c.env("FOOTFALL_MODELS_DIR", d),
        None => c.env_remove("FOOTFALL_MODELS_DIR"),
    };
    c.output().unwrap()
}

#[test]
fn models_dir_env_is_used_and_named_in_errors() {
    let out = detect_with_env(Some("/nonexistent-models"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent-models/face_detector.onnx")
            && stderr.contains("FOOTFALL_MODELS_DIR"),
        "{stderr}"
    );

    let shared_models = shared("models");
    let out = detect_with_env(Some(shared_models.to_str().unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("total: 23 frames, 23 faces"));
}

#[test]
fn project_models_folder_is_the_default() {
    // scripts/setup.sh (run by .ci/run) puts the models into models/.
    let out = detect_with_env(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("total: 23 frames"));
}

#[test]
fn missing_onnx_runtime_library_is_a_clear_error() {
    // A fresh process, since the runtime is loaded once per process.
    let out = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args([
            "detect",
            shared("media/real/head-pose-face-detection-female.mp4")
                .to_str()
                .unwrap(),
        ])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .env("FOOTFALL_MODELS_DIR", shared("models"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/libonnxruntime.so.1.31.1")
            && stderr.contains("ORT_DYLIB_PATH")
            && stderr.contains("onnxruntime==1.31.1"),
        "{stderr}"
    );
}
