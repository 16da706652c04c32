//! Face quality for the embedder's gate: is this view worth an embedding? Each factor is
//! 0..1 and the quality is their product, so one bad factor (tiny, blurred, turned away,
//! half hidden, cut by the frame edge) is enough to reject a face.

use super::align::CHIP;
use crate::detect::geometry::{BBox, Face};

/// Eye distance (frame px) at which a face has full resolution for the 150 px chip (the
/// template's eyes are 55 chip px apart; at ~25 px the chip is upsampled ~2x).
const FULL_RES_EYE_DIST: f32 = 25.0;
/// Detector score range mapped to 0..1.
const SCORE_LOW: f32 = 0.6;
const SCORE_HIGH: f32 = 0.9;
/// Laplacian variance of a sharp chip (grey 0..255); blurred chips fall well below.
const SHARP_VARIANCE: f32 = 10.0;
/// The quality factor of the blurriest chip: blur ranks views but never rejects a face by
/// itself (see [`blur_factor`]).
const BLURRED_FACTOR: f32 = 0.5;
/// |nose offset from the eye midpoint| / eye distance of a face turned far enough to reject.
const MAX_YAW_RATIO: f32 = 0.45;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    pub size: f32,
    pub score: f32,
    pub sharpness: f32,
    pub pose: f32,
    /// 1 when no other face covers this one.
    pub unoccluded: f32,
    /// 1 when the whole box is inside the frame.
    pub inside: f32,
}

impl Quality {
    pub fn total(&self) -> f32 {
        self.size * self.score * self.sharpness * self.pose * self.unoccluded * self.inside
    }
}

fn unit(v: f32) -> f32 {
    if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Geometry-only factors: needs no pixels, so faces can be rejected before any chip is cut.
pub fn geometric(
    face: &Face,
    others: impl IntoIterator<Item = BBox>,
    frame_w: u32,
    frame_h: u32,
) -> Quality {
    let l = &face.landmarks;
    let eye = dist(l[0], l[1]);
    let mid = [(l[0][0] + l[1][0]) / 2.0, (l[0][1] + l[1][1]) / 2.0];
    // Yaw proxy: how far the nose leaves the face's mid line (eye midpoint → mouth
    // midpoint), relative to the eye distance; independent of in-plane rotation.
    let mouth = [(l[3][0] + l[4][0]) / 2.0, (l[3][1] + l[4][1]) / 2.0];
    let axis = [mouth[0] - mid[0], mouth[1] - mid[1]];
    let to_nose = [l[2][0] - mid[0], l[2][1] - mid[1]];
    let off_axis = (axis[0] * to_nose[1] - axis[1] * to_nose[0]).abs() / dist(mouth, mid).max(1e-3);
    let yaw = off_axis / eye.max(1e-3);
    let b = &face.bbox;
    let area = b.area().max(1e-3);
    let covered = others
        .into_iter()
        .map(|o| {
            let iw = (b.x2.min(o.x2) - b.x1.max(o.x1)).max(0.0);
            let ih = (b.y2.min(o.y2) - b.y1.max(o.y1)).max(0.0);
            iw * ih / area
        })
        .fold(0.0f32, f32::max);
    let clipped = BBox::new(
        b.x1.max(0.0),
        b.y1.max(0.0),
        b.x2.min(frame_w as f32),
        b.y2.min(frame_h as f32),
    );
    let inside = clipped.area() / area;
    Quality {
        size: unit(eye / FULL_RES_EYE_DIST),
        score: unit((face.score - SCORE_LOW) / (SCORE_HIGH - SCORE_LOW)),
        sharpness: 1.0,
        pose: unit(1.0 - yaw / MAX_YAW_RATIO),
        unoccluded: unit(1.0 - 2.0 * covered),
        inside: unit((inside - 0.9) / 0.1),
    }
}

/// Sharpness of an aligned chip (planar RGB 0..255): variance of the 4-neighbour Laplacian of
/// the grey image over the central face area, mapped to 0..1.
pub fn sharpness(chip: &[f32]) -> f32 {
    let plane = CHIP * CHIP;
    let grey = |x: usize, y: usize| {
        let i = y * CHIP + x;
        0.299 * chip[i] + 0.587 * chip[plane + i] + 0.114 * chip[2 * plane + i]
    };
    let (lo, hi) = (35, 115);
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in lo..hi {
        for x in lo..hi {
            let lap = grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1)
                - 4.0 * grey(x, y);
            sum += lap as f64;
            sum2 += (lap * lap) as f64;
            n += 1.0;
        }
    }
    let var = (sum2 / n - (sum / n).powi(2)) as f32;
    unit(var / SHARP_VARIANCE)
}

/// The quality factor for a chip of this [`sharpness`]: from `BLURRED_FACTOR` (no detail
/// at all) to 1 (sharp). Blur costs identity little (BENCHMARKS.md, distance table: 32-px
/// faces blurred by sigma 1 still match 88 % of same-person pairs with 0.4 % false merges)
/// while an entrance camera's small, motion-blurred, compressed faces have sharpness
/// 0.1-0.5; as a full factor it kept most of them from ever being embedded (they then
/// counted as unidentified, so each return as a new visitor). Sharper views still rank
/// first for the re-embedding policy.
pub fn blur_factor(sharpness: f32) -> f32 {
    BLURRED_FACTOR + (1.0 - BLURRED_FACTOR) * unit(sharpness)
}

/// How much of the lower face (mouth and chin) looks like the skin around the eyes, 0..1
/// (planar RGB chip, 0..255): about 1 on a bare face, near 0 behind a surgical or cloth
/// mask. Masked faces look alike to the embedder (different people come within the match
/// threshold: BENCHMARKS.md's distance table), so a masked view identifies nobody.
pub fn lower_face_skin(chip: &[f32]) -> f32 {
    let plane = CHIP * CHIP;
    let skin_fraction = |y0: usize, y1: usize, x0: usize, x1: usize| {
        let mut n = 0u32;
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * CHIP + x;
                let (r, g, b) = (chip[i], chip[plane + i], chip[2 * plane + i]);
                // Skin under most lights: red leads, blue trails (masks are blue, white, grey).
                if r > g && g >= b * 0.9 && r - b > 12.0 {
                    n += 1;
                }
            }
        }
        n as f32 / ((y1 - y0) * (x1 - x0)) as f32
    };
    let eyes = skin_fraction(55, 70, 35, 115); // cheeks just under the eyes
    let mouth = skin_fraction(92, 118, 50, 100);
    if eyes <= 0.05 {
        return 1.0; // no skin to compare with (grey light, monochrome camera): no opinion
    }
    unit(mouth / eyes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal(x: f32, y: f32, eye: f32, score: f32) -> Face {
        let s = eye / 55.2; // template eye distance
        let lm = super::super::align::TEMPLATE.map(|p| [x + p[0] * s, y + p[1] * s]);
        Face {
            bbox: BBox::new(x, y, x + 150.0 * s, y + 150.0 * s),
            score,
            landmarks: lm,
        }
    }

    #[test]
    fn frontal_large_confident_face_is_perfect_geometrically() {
        let q = geometric(&frontal(100.0, 100.0, 40.0, 0.95), [], 640, 480);
        assert_eq!(q.size, 1.0);
        assert_eq!(q.score, 1.0);
        assert!(q.pose > 0.95, "{q:?}");
        assert_eq!(q.unoccluded, 1.0);
        assert_eq!(q.inside, 1.0);
    }

    #[test]
    fn small_weak_turned_covered_and_clipped_faces_lose_quality() {
        let base = geometric(&frontal(100.0, 100.0, 40.0, 0.95), [], 640, 480).total();
        assert!(geometric(&frontal(100.0, 100.0, 10.0, 0.95), [], 640, 480).total() < base * 0.5);
        assert!(geometric(&frontal(100.0, 100.0, 40.0, 0.65), [], 640, 480).total() < base * 0.2);
        let mut turned = frontal(100.0, 100.0, 40.0, 0.95);
        turned.landmarks[2][0] += 18.0; // nose far to one side
        assert!(geometric(&turned, [], 640, 480).pose < 0.2);
        let f = frontal(100.0, 100.0, 40.0, 0.95);
        let cover = BBox::new(
            f.bbox.x1,
            f.bbox.y1,
            f.bbox.x1 + f.bbox.width() * 0.6,
            f.bbox.y2,
        );
        assert_eq!(geometric(&f, [cover], 640, 480).unoccluded, 0.0);
        assert_eq!(
            geometric(&frontal(-30.0, 100.0, 40.0, 0.95), [], 640, 480).inside,
            0.0
        );
    }

    #[test]
    fn blurred_chips_are_less_sharp() {
        let plane = CHIP * CHIP;
        let mut sharp = vec![0.0f32; 3 * plane];
        for c in 0..3 {
            for i in 0..plane {
                sharp[c * plane + i] = if (i % CHIP / 3 + i / CHIP / 3).is_multiple_of(2) {
                    200.0
                } else {
                    40.0
                };
            }
        }
        let flat = vec![128.0f32; 3 * plane];
        assert_eq!(sharpness(&sharp), 1.0);
        assert_eq!(sharpness(&flat), 0.0);
        assert_eq!(blur_factor(sharpness(&sharp)), 1.0);
        assert_eq!(blur_factor(sharpness(&flat)), BLURRED_FACTOR);
    }
}
