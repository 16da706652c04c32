//! `footfall enroll`: builds the staff gallery from photos of consenting staff. Only the
//! embeddings are written (file mode 0600); the photos are read and forgotten.

use std::path::PathBuf;

use gstfootfall::count::staff::{self, StaffFile, StaffMember, SCHEMA};
use gstfootfall::detect::geometry::Letterbox;
use gstfootfall::detect::preprocess::{FrameRef, PixelLayout, Preprocessor};
use gstfootfall::detect::yunet::{DetectParams, YuNet};
use gstfootfall::embed::align::{ChipExtractor, CHIP};
use gstfootfall::embed::embedder::{Embedder, DIM};
use gstfootfall::models;
use gstfootfall::onnx_runtime::{ensure_loaded, Device};

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
    let mut yunet = YuNet::load(
        &models::resolve(None, models::DETECTOR_FILE)?,
        Device::Cpu,
        1,
    )?;
    let mut embedder = Embedder::load(
        &models::resolve(None, models::EMBEDDER_FILE)?,
        Device::Cpu,
        1,
    )?;
    let (mut pre, mut chips) = (Preprocessor::new(), ChipExtractor::default());
    let (mut tensor, mut chip) = (Vec::new(), vec![0.0f32; 3 * CHIP * CHIP]);
    let mut embeddings = Vec::new();
    for photo in &a.photos {
        let img = image::open(photo)
            .map_err(|e| format!("cannot read '{}': {e}", photo.display()))?
            .to_rgb8();
        let frame = FrameRef::packed(
            PixelLayout::Rgb,
            img.width(),
            img.height(),
            img.as_raw(),
            img.width() as usize * 3,
        );
        let lb = Letterbox::fit(img.width(), img.height(), 640, 640);
        pre.prepare(&frame, &lb, &mut tensor)
            .map_err(|e| e.to_string())?;
        let mut faces = Vec::new();
        yunet.detect(&tensor, &lb, &DetectParams::default(), &mut faces)?;
        let Some(face) = faces
            .iter()
            .max_by(|x, y| x.bbox.area().total_cmp(&y.bbox.area()))
        else {
            eprintln!("warning: no face in '{}', skipped", photo.display());
            continue;
        };
        chips
            .extract(&frame, &face.landmarks, &mut chip)
            .ok_or_else(|| format!("cannot align the face in '{}'", photo.display()))?;
        let mut out = Vec::new();
        embedder.embed(&chip, &mut out)?;
        embeddings.extend(out.into_iter().map(|e| e.to_vec()));
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
