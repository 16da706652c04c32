//! The staff gallery file: embeddings of consenting staff (never images), made by
//! `footfall enroll` and loaded by `facecounter staff-gallery=FILE`.
//!
//! JSON: `{"schema": "footfall-staff/1", "dim": 128, "staff": [{"label": "…",
//! "embeddings": [[128 floats], …]}]}`.

use serde::{Deserialize, Serialize};

use super::gallery::Gallery;
use crate::embed::embedder::{Embedding, DIM};

pub const SCHEMA: &str = "footfall-staff/1";

#[derive(Debug, Serialize, Deserialize)]
pub struct StaffFile {
    pub schema: String,
    pub dim: usize,
    pub staff: Vec<StaffMember>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StaffMember {
    pub label: String,
    pub embeddings: Vec<Vec<f32>>,
}

/// Reads a staff file into a gallery (one identity per member). Errors name the file and
/// what is wrong: unreadable, not JSON, another schema, or embeddings of another dimension
/// (a gallery made with a different embedder).
pub fn load(path: &std::path::Path) -> Result<Gallery, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read staff gallery '{}': {e}", path.display()))?;
    let file: StaffFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "staff gallery '{}' is not a valid staff file: {e}",
            path.display()
        )
    })?;
    if file.schema != SCHEMA {
        return Err(format!(
            "staff gallery '{}' has schema '{}', expected '{SCHEMA}'",
            path.display(),
            file.schema
        ));
    }
    let mut g = Gallery::new();
    for m in &file.staff {
        let mut views = Vec::new();
        for e in &m.embeddings {
            if e.len() != DIM || file.dim != DIM {
                return Err(format!(
                    "staff gallery '{}': '{}' has {}-d embeddings, this embedder makes {DIM}-d ones (made with a different model?)",
                    path.display(),
                    m.label,
                    e.len()
                ));
            }
            if e.iter().any(|v| !v.is_finite()) {
                return Err(format!(
                    "staff gallery '{}': '{}' has a non-finite value",
                    path.display(),
                    m.label
                ));
            }
            let mut a: Embedding = [0.0; DIM];
            a.copy_from_slice(e);
            views.push((a, 1.0));
        }
        if !views.is_empty() {
            g.insert(&views, 0);
        }
    }
    Ok(g)
}

/// Writes a staff file readable by the owner only (0600), atomically (write + rename).
pub fn save(path: &std::path::Path, file: &StaffFile) -> Result<(), String> {
    let text = serde_json::to_string(file).map_err(|e| e.to_string())?;
    super::persist::write_private_atomically(path, text.as_bytes())
        .map_err(|e| format!("cannot write staff gallery {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("footfall-staff-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trip_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let p = tmp("ok.json");
        let file = StaffFile {
            schema: SCHEMA.into(),
            dim: DIM,
            staff: vec![StaffMember {
                label: "a".into(),
                embeddings: vec![vec![0.5; DIM]],
            }],
        };
        save(&p, &file).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let g = load(&p).unwrap();
        assert_eq!(g.len(), 1);
        assert!(g.search(&[[0.5; DIM]], 0.1).is_some());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert!(load(&tmp("missing.json"))
            .unwrap_err()
            .contains("cannot read"));
        let p = tmp("garbage.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(load(&p).unwrap_err().contains("not a valid staff file"));
        let p = tmp("dim.json");
        std::fs::write(&p, format!(r#"{{"schema":"{SCHEMA}","dim":512,"staff":[{{"label":"x","embeddings":[[0.1,0.2]]}}]}}"#)).unwrap();
        assert!(load(&p).unwrap_err().contains("different model"));
        let p = tmp("schema.json");
        std::fs::write(&p, r#"{"schema":"other/1","dim":128,"staff":[]}"#).unwrap();
        assert!(load(&p)
            .unwrap_err()
            .contains("expected 'footfall-staff/1'"));
    }
}
