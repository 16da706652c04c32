//! Where model files come from: the element's `model` property, else
//! `$FOOTFALL_MODELS_DIR/<file>`, else the models folder compiled in by build.rs
//! (the project's `models/`, or the meson option `models-dir`).

use std::path::PathBuf;

/// File name of the default face detector (YuNet-n) inside a models folder.
pub const DETECTOR_FILE: &str = "face_detector.onnx";
/// File name of the default face embedder (dlib ResNet, 128-d) inside a models folder.
pub const EMBEDDER_FILE: &str = "face_embedder.onnx";

/// The folder default model files are looked up in.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("FOOTFALL_MODELS_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("FOOTFALL_MODELS_DIR_DEFAULT")),
    }
}

/// Resolves a model: an explicit property value wins; otherwise `file` in [`models_dir`].
/// Fails with a message that names every place looked at.
pub fn resolve(property: Option<&str>, file: &str) -> Result<PathBuf, String> {
    if let Some(p) = property.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "model file '{}' (from the 'model' property) not found",
                path.display()
            ))
        };
    }
    let path = models_dir().join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "model file '{}' not found: set the element's 'model' property, or \
             FOOTFALL_MODELS_DIR to a folder holding {file}, or run models/fetch.sh \
             to put the models into the project's models/ folder",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_model_names_the_property() {
        let e = resolve(Some("/nonexistent/x.onnx"), DETECTOR_FILE).unwrap_err();
        assert!(e.contains("/nonexistent/x.onnx") && e.contains("'model' property"));
    }

    #[test]
    fn explicit_existing_file_wins() {
        let p = std::env::current_exe().unwrap();
        let r = resolve(Some(p.to_str().unwrap()), DETECTOR_FILE).unwrap();
        assert_eq!(r, p);
    }
}
