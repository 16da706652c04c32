//! `footfall enroll`: builds the staff gallery from photos of consenting staff. Only the
//! embeddings are written (file mode 0600); the photos are read and forgotten.

use std::path::PathBuf;

use gstfootfall::count::staff::{self, StaffFile, StaffMember, SCHEMA};
use gstfootfall::embed::embedder::DIM;
use gstfootfall::embed::photo::PhotoEmbedder;
use gstfootfall::models;
use gstfootfall::onnx_runtime::ensure_loaded;

#[derive(clap::Args)]
pub struct Args {
    /// Staff gallery file to create or add to
    #[arg(long)]
    out: PathBuf,
    /// Name of the staff member (stored in the file; use a pseudonym if you prefer)
    #[arg(long)]
    label: String,
    /// Photos of this staff member, one face each (the largest face is used)
    #[arg(required = true)]
    photos: Vec<PathBuf>,
}

pub fn run(a: Args) -> Result<(), String> {
    ensure_loaded()?;
    let mut photos = PhotoEmbedder::load(
        &models::resolve(None, models::DETECTOR_FILE)?,
        &models::resolve(None, models::EMBEDDER_FILE)?,
    )?;
    let mut embeddings = Vec::new();
    for photo in &a.photos {
        let img = image::open(photo)
            .map_err(|e| format!("cannot read '{}': {e}", photo.display()))?
            .to_rgb8();
        match photos.largest_face(img.as_raw(), img.width(), img.height())? {
            Some(e) => embeddings.push(e.to_vec()),
            None => eprintln!("warning: no face in '{}', skipped", photo.display()),
        }
    }
    if embeddings.is_empty() {
        return Err("no face found in any photo: nothing enrolled".into());
    }
    let mut file = if a.out.exists() {
        let text = std::fs::read_to_string(&a.out)
            .map_err(|e| format!("cannot read '{}': {e}", a.out.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("'{}' is not a staff file: {e}", a.out.display()))?
    } else {
        StaffFile {
            schema: SCHEMA.into(),
            dim: DIM,
            staff: Vec::new(),
        }
    };
    file.staff.retain(|m| m.label != a.label);
    let n = embeddings.len();
    file.staff.push(StaffMember {
        label: a.label.clone(),
        embeddings,
    });
    staff::save(&a.out, &file)?;
    println!(
        "enrolled '{}' with {n} embeddings into {} ({} staff)",
        a.label,
        a.out.display(),
        file.staff.len()
    );
    Ok(())
}
