//! `footfall-bench --suite distances`: how far apart the embeddings of one person and of two
//! people are when the face is as small and degraded as an entrance camera gives it. The
//! eval photos (`../shared/models/eval`, labelled identities) are scaled so the face is
//! 24/32/48/64/96 px wide (and degraded: blur, JPEG, a surgical mask over the lower face),
//! re-detected and re-embedded as the chain would; every pair of views in one condition is
//! then a same-person or a different-person distance. The table is what the match threshold
//! and the quality gate are calibrated on (README, BENCHMARKS.md).

use std::path::Path;

use gstfootfall::embed::photo::PhotoEmbedder;
use gstfootfall::models;
use gstfootfall::onnx_runtime::ensure_loaded;
use image::{imageops, Rgb, RgbImage};

use crate::bench::Args;

/// The counter's default match threshold (Euclidean on the raw embeddings).
const THRESHOLD: f32 = 0.52;
const SIZES: [u32; 5] = [24, 32, 48, 64, 96];

#[derive(Clone, Copy)]
enum Degrade {
    None,
    Blur(f32),
    Jpeg(u8),
    Mask,
}

impl Degrade {
    fn label(&self) -> String {
        match self {
            Degrade::None => "clean".into(),
            Degrade::Blur(s) => format!("blur σ{s}"),
            Degrade::Jpeg(q) => format!("JPEG q{q}"),
            Degrade::Mask => "mask".into(),
        }
    }
}

struct Photo {
    identity: String,
    image: RgbImage,
    /// Face box of the full-size photo: x, y, width, height.
    face: (f32, f32, f32, f32),
}

/// One condition's views: (identity, embedding, quality).
type Views = Vec<(String, Vec<f32>, f32)>;

fn load_photos(models_dir: &Path, embedder: &mut PhotoEmbedder) -> Result<Vec<Photo>, String> {
    let manifest = std::fs::read_to_string(models_dir.join("eval/manifest.csv"))
        .map_err(|e| format!("eval manifest: {e}"))?;
    let mut photos = Vec::new();
    for line in manifest.lines().skip(1) {
        let mut cols = line.split(',');
        let (Some(path), Some(identity)) = (cols.next(), cols.next()) else {
            continue;
        };
        let Ok(img) = image::open(models_dir.join("eval").join(path)) else {
            continue;
        };
        let img = img.to_rgb8();
        if let Some(v) = embedder.largest(img.as_raw(), img.width(), img.height())? {
            let b = v.face.bbox;
            photos.push(Photo {
                identity: identity.to_string(),
                image: img,
                face: (b.x1, b.y1, b.width(), b.height()),
            });
        }
    }
    Ok(photos)
}

/// The photo scaled so its face is `face_px` wide, then degraded as a camera would.
fn render(p: &Photo, face_px: u32, how: Degrade) -> Result<RgbImage, String> {
    let k = face_px as f32 / p.face.2;
    let (w, h) = (
        ((p.image.width() as f32 * k).round() as u32).max(8),
        ((p.image.height() as f32 * k).round() as u32).max(8),
    );
    let mut img = imageops::resize(&p.image, w, h, imageops::FilterType::Triangle);
    match how {
        Degrade::None => {}
        Degrade::Blur(sigma) => img = imageops::blur(&img, sigma),
        Degrade::Jpeg(q) => img = reencode_jpeg(&img, q)?,
        Degrade::Mask => {
            // A surgical mask: light blue from just under the eyes' line to the chin.
            let (x, y, fw, fh) = (p.face.0 * k, p.face.1 * k, p.face.2 * k, p.face.3 * k);
            let top = (y + fh * 0.5) as u32;
            for yy in top..((y + fh) as u32).min(h) {
                for xx in (x.max(0.0) as u32)..((x + fw) as u32).min(w) {
                    img.put_pixel(xx, yy, Rgb([170, 200, 220]));
                }
            }
        }
    }
    Ok(img)
}

fn reencode_jpeg(img: &RgbImage, quality: u8) -> Result<RgbImage, String> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .map_err(|e| e.to_string())?;
    image::load_from_memory(&bytes)
        .map(|i| i.to_rgb8())
        .map_err(|e| e.to_string())
}

fn views(
    photos: &[Photo],
    embedder: &mut PhotoEmbedder,
    face_px: u32,
    how: Degrade,
) -> Result<Views, String> {
    let mut out = Vec::new();
    for p in photos {
        let img = render(p, face_px, how)?;
        if let Some(v) = embedder.largest(img.as_raw(), img.width(), img.height())? {
            out.push((p.identity.clone(), v.embedding.to_vec(), v.quality));
        }
    }
    Ok(out)
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

fn quantile(v: &mut [f32], q: f32) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * q).round() as usize]
}

fn row(label: &str, found: usize, total: usize, v: &Views) -> String {
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for (i, a) in v.iter().enumerate() {
        for b in &v[i + 1..] {
            let d = distance(&a.1, &b.1);
            if a.0 == b.0 {
                same.push(d)
            } else {
                diff.push(d)
            }
        }
    }
    let rate = |v: &[f32], below: bool| {
        let n = v.iter().filter(|d| (**d < THRESHOLD) == below).count();
        100.0 * n as f32 / v.len().max(1) as f32
    };
    let (tar, far) = (rate(&same, true), rate(&diff, true));
    let mut q: Vec<f32> = v.iter().map(|x| x.2).collect();
    format!(
        "| {label} | {found}/{total} | {:.2} | {:.2} | {:.2} | {:.2} | {tar:.0} % | {far:.1} % | {:.2} |",
        quantile(&mut same.clone(), 0.5),
        quantile(&mut same, 0.9),
        quantile(&mut diff.clone(), 0.1),
        quantile(&mut diff, 0.01),
        quantile(&mut q, 0.5),
    )
}

pub fn distances_suite(a: &Args) -> Result<(), String> {
    ensure_loaded()?;
    let mut embedder = PhotoEmbedder::load(
        &models::resolve(None, models::DETECTOR_FILE)?,
        &models::resolve(None, models::EMBEDDER_FILE)?,
    )?;
    let photos = load_photos(&a.models, &mut embedder)?;
    println!("\n### Embedding distances by face size and degradation\n");
    println!(
        "{} eval photos of {} people; every pair of views in one condition; threshold {THRESHOLD}.\n",
        photos.len(),
        {
            let mut ids: Vec<&str> = photos.iter().map(|p| p.identity.as_str()).collect();
            ids.sort();
            ids.dedup();
            ids.len()
        }
    );
    println!("| face width, condition | faces found | same person median | same p90 | different p10 | different p1 | same matched (< threshold) | different matched | median quality |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut conditions: Vec<(u32, Degrade)> = SIZES.iter().map(|s| (*s, Degrade::None)).collect();
    for s in [32, 48] {
        conditions.extend([
            (s, Degrade::Blur(1.0)),
            (s, Degrade::Jpeg(20)),
            (s, Degrade::Mask),
        ]);
    }
    for (px, how) in conditions {
        let v = views(&photos, &mut embedder, px, how)?;
        let label = format!("{px} px, {}", how.label());
        println!("{}", row(&label, v.len(), photos.len(), &v));
    }
    Ok(())
}
