//! Build script: plugin version info plus the compiled-in defaults the elements fall back to
//! when neither a property nor an environment variable names the ONNX Runtime library or the
//! models folder.
use std::path::PathBuf;

fn main() {
    gst_plugin_version_helper::info();

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());

    // ONNX Runtime shared library: meson (or the user) may pass it explicitly; otherwise
    // the path scripts/setup.sh recorded after installing the onnxruntime wheel.
    let recorded = root.join(".venv").join("ort-dylib-path");
    println!("cargo:rerun-if-changed={}", recorded.display());
    println!("cargo:rerun-if-env-changed=FOOTFALL_ORT_DYLIB_DEFAULT");
    let ort = std::env::var("FOOTFALL_ORT_DYLIB_DEFAULT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string(&recorded).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=FOOTFALL_ORT_DYLIB_DEFAULT={ort}");

    println!("cargo:rerun-if-env-changed=FOOTFALL_MODELS_DIR_DEFAULT");
    let models = std::env::var("FOOTFALL_MODELS_DIR_DEFAULT")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| root.join("models").display().to_string());
    println!("cargo:rustc-env=FOOTFALL_MODELS_DIR_DEFAULT={models}");
}
