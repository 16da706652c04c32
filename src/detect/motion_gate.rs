//! Motion gate: skip the detector while the picture has not changed since a detection that
//! found nobody — an empty entrance stays empty until something moves (the same idea as
//! Frigate's motion detection ahead of its object detector).
//!
//! The frame is reduced to a coarse grid of cell brightness means, each from a sparse
//! lattice of luma samples (a few thousand reads per frame, whatever the resolution). A
//! cell "moved" when its mean differs from the reference — the grid of the last detection —
//! by more than `threshold` levels beyond the change of the whole picture, so exposure
//! drift and camera gain do not count as motion, while a person (tens of levels against the
//! background over several cells) does. Comparing against the last detection rather than
//! the previous frame lets slow changes (a fade-in) add up until they trigger.

use super::preprocess::{FrameRef, PixelLayout};

/// Grid cells across and down.
pub const GRID_W: usize = 32;
pub const GRID_H: usize = 18;
/// Luma samples per cell, across and down.
const SAMPLES: usize = 4;

/// Whether the detector must run on this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    /// Run it (something moved, faces were present, no reference yet, or too long since).
    Detect,
    /// The last detection found nobody and nothing has moved since.
    Skip,
}

/// Per-stream gate state.
#[derive(Debug, Default)]
pub struct MotionGate {
    /// Cell means at the last detection that found no face, when `has_reference`.
    reference: Vec<f32>,
    has_reference: bool,
    current: Vec<f32>,
    /// Detector slots skipped in a row.
    skipped: u32,
}

impl MotionGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides for `frame`: skip only with an empty reference scene, no cell moved more than
    /// `threshold` levels, and fewer than `max_skips` slots skipped in a row (a detection
    /// now and then catches what the grid is too coarse to see, e.g. a tiny far face).
    pub fn decide(&mut self, frame: &FrameRef, threshold: f32, max_skips: u32) -> GateDecision {
        if threshold <= 0.0 {
            return GateDecision::Detect;
        }
        cell_means(frame, &mut self.current);
        let skip = self.skipped < max_skips
            && self.has_reference
            && largest_local_change(&self.reference, &self.current) <= threshold;
        if skip {
            self.skipped += 1;
            GateDecision::Skip
        } else {
            GateDecision::Detect
        }
    }

    /// Records the outcome of a detection run on the frame last passed to [`decide`]: with
    /// no face found, that frame becomes the reference; otherwise there is none.
    pub fn detected(&mut self, faces: usize) {
        self.skipped = 0;
        self.has_reference = faces == 0 && !self.current.is_empty();
        if self.has_reference {
            // Swap, not copy: `current` is refilled on the next decision.
            std::mem::swap(&mut self.reference, &mut self.current);
        }
    }

    /// Forgets the reference (new caps, flush): the next slot detects.
    pub fn reset(&mut self) {
        self.has_reference = false;
        self.skipped = 0;
    }
}

/// Largest change of one cell beyond the mean change of all cells.
fn largest_local_change(reference: &[f32], current: &[f32]) -> f32 {
    if reference.len() != current.len() || current.is_empty() {
        return f32::INFINITY;
    }
    let n = current.len() as f32;
    let shift = current
        .iter()
        .zip(reference)
        .map(|(c, r)| c - r)
        .sum::<f32>()
        / n;
    current
        .iter()
        .zip(reference)
        .map(|(c, r)| (c - r - shift).abs())
        .fold(0.0, f32::max)
}

/// Luma-like value of pixel (x, y): Y for YUV, green (the largest luma weight) otherwise.
fn luma(frame: &FrameRef, x: usize, y: usize) -> Option<u8> {
    let p = &frame.planes[0];
    let (offset, bytes) = match frame.layout {
        PixelLayout::I420 | PixelLayout::Nv12 => (0, 1),
        PixelLayout::Rgb | PixelLayout::Bgr => (1, 3),
        PixelLayout::Rgbx | PixelLayout::Bgrx => (1, 4),
    };
    p.data.get(y * p.stride + x * bytes + offset).copied()
}

/// Fills `out` with the `GRID_W` x `GRID_H` cell means of `frame` (row-major); a frame whose
/// planes are too short gives an empty grid (which never matches a reference).
pub fn cell_means(frame: &FrameRef, out: &mut Vec<f32>) {
    out.clear();
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 {
        return;
    }
    for gy in 0..GRID_H {
        for gx in 0..GRID_W {
            let mut sum = 0u32;
            for sy in 0..SAMPLES {
                // Sample at the centres of a SAMPLES x SAMPLES lattice inside the cell.
                let y = ((gy * SAMPLES + sy) * 2 + 1) * h / (GRID_H * SAMPLES * 2);
                for sx in 0..SAMPLES {
                    let x = ((gx * SAMPLES + sx) * 2 + 1) * w / (GRID_W * SAMPLES * 2);
                    match luma(frame, x, y) {
                        Some(v) => sum += v as u32,
                        None => {
                            out.clear();
                            return;
                        }
                    }
                }
            }
            out.push(sum as f32 / (SAMPLES * SAMPLES) as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::preprocess::{Plane, YuvMatrix};

    fn grey_frame(data: &[u8], w: u32, h: u32) -> FrameRef<'_> {
        let y = Plane {
            data,
            stride: w as usize,
        };
        FrameRef {
            layout: PixelLayout::I420,
            width: w,
            height: h,
            planes: [y, y, y],
            yuv: YuvMatrix::BT601,
        }
    }

    fn scene(w: usize, h: usize, level: u8, noise: u32) -> Vec<u8> {
        let mut x = 0x1234_5678u32;
        (0..w * h)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let n = if noise == 0 {
                    0
                } else {
                    (x % (2 * noise + 1)) as i32 - noise as i32
                };
                (level as i32 + n).clamp(0, 255) as u8
            })
            .collect()
    }

    fn paint(img: &mut [u8], w: usize, x0: usize, y0: usize, side: usize, v: u8) {
        for y in y0..y0 + side {
            img[y * w + x0..y * w + x0 + side].fill(v);
        }
    }

    #[test]
    fn skips_an_unchanged_empty_scene_and_detects_when_someone_enters() {
        let (w, h) = (640usize, 360usize);
        let mut g = MotionGate::new();
        let empty = scene(w, h, 90, 6);
        let f = grey_frame(&empty, w as u32, h as u32);
        assert_eq!(
            g.decide(&f, 8.0, 100),
            GateDecision::Detect,
            "no reference yet"
        );
        g.detected(0);
        // Noise and a global exposure change are not motion.
        let noisy = scene(w, h, 110, 8);
        let f = grey_frame(&noisy, w as u32, h as u32);
        assert_eq!(g.decide(&f, 8.0, 100), GateDecision::Skip);
        // A 40 px head-sized blob is.
        let mut person = empty.clone();
        paint(&mut person, w, 300, 100, 40, 200);
        let f = grey_frame(&person, w as u32, h as u32);
        assert_eq!(g.decide(&f, 8.0, 100), GateDecision::Detect);
    }

    #[test]
    fn never_skips_after_faces_were_found_or_too_many_skips() {
        let (w, h) = (320usize, 180usize);
        let img = scene(w, h, 100, 0);
        let f = grey_frame(&img, w as u32, h as u32);
        let mut g = MotionGate::new();
        g.decide(&f, 8.0, 2);
        g.detected(1);
        assert_eq!(g.decide(&f, 8.0, 2), GateDecision::Detect, "faces present");
        g.detected(0);
        assert_eq!(g.decide(&f, 8.0, 2), GateDecision::Skip);
        assert_eq!(g.decide(&f, 8.0, 2), GateDecision::Skip);
        assert_eq!(g.decide(&f, 8.0, 2), GateDecision::Detect, "max skips");
        g.detected(0);
        assert_eq!(
            g.decide(&f, 0.0, 2),
            GateDecision::Detect,
            "threshold 0 = off"
        );
        g.reset();
        assert_eq!(g.decide(&f, 8.0, 2), GateDecision::Detect, "after reset");
    }

    #[test]
    fn slow_changes_add_up_against_the_reference() {
        let (w, h) = (320usize, 180usize);
        let base = scene(w, h, 80, 0);
        let mut g = MotionGate::new();
        g.decide(&grey_frame(&base, w as u32, h as u32), 8.0, 1000);
        g.detected(0);
        let mut decisions = vec![];
        for step in 1..=6u8 {
            let mut img = base.clone();
            // A blob fading in by 3 levels a frame: each frame alone changes little.
            paint(&mut img, w, 100, 60, 40, 80 + 3 * step);
            decisions.push(g.decide(&grey_frame(&img, w as u32, h as u32), 8.0, 1000));
        }
        assert_eq!(decisions[0], GateDecision::Skip);
        assert_eq!(decisions[5], GateDecision::Detect, "{decisions:?}");
    }

    #[test]
    fn short_planes_give_no_grid_and_never_skip() {
        let data = [0u8; 10];
        let f = grey_frame(&data, 64, 64);
        let mut out = vec![1.0];
        cell_means(&f, &mut out);
        assert!(out.is_empty());
        let mut g = MotionGate::new();
        g.decide(&f, 8.0, 10);
        g.detected(0);
        assert_eq!(g.decide(&f, 8.0, 10), GateDecision::Detect);
    }
}
