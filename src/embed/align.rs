//! Face alignment for the embedder (PROVENANCE.md §3): a least-squares similarity transform
//! from the 5 YuNet landmarks to the chip template, dlib-style pyramid anti-aliasing for large
//! faces, and bilinear sampling of a 150x150 RGB chip (black outside the frame).

use crate::detect::preprocess::{FrameRef, PixelLayout, YuvToRgb};

/// Side of the embedder's input chip.
pub const CHIP: usize = 150;

/// Chip positions of the 5 YuNet points (right eye, left eye, nose tip, right and left
/// mouth corner), in 150x150 chip pixels (PROVENANCE.md §3).
pub const TEMPLATE: [[f32; 2]; 5] = [
    [46.4, 45.0],
    [101.6, 45.0],
    [74.0, 78.8],
    [49.0, 100.8],
    [99.0, 100.8],
];

/// `chip = [[a, -b, tx], [b, a, ty]] · (x, y, 1)`: rotation + uniform scale + translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    /// Closed-form least squares (Umeyama in 2D, no reflection) mapping `src` onto `dst`.
    /// `None` when the source points coincide or are not finite.
    pub fn estimate(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Option<Similarity> {
        let mean = |p: &[[f32; 2]; 5]| {
            let (mut x, mut y) = (0.0f64, 0.0f64);
            for q in p {
                x += q[0] as f64;
                y += q[1] as f64;
            }
            (x / 5.0, y / 5.0)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        let (mut n2, mut sa, mut sb) = (0.0f64, 0.0f64, 0.0f64);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (s[0] as f64 - msx, s[1] as f64 - msy);
            let (dx, dy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
            n2 += sx * sx + sy * sy;
            sa += sx * dx + sy * dy;
            sb += sx * dy - sy * dx;
        }
        if !(n2.is_finite() && n2 > 1e-9) {
            return None;
        }
        let (a, b) = (sa / n2, sb / n2);
        Some(Similarity {
            a,
            b,
            tx: mdx - (a * msx - b * msy),
            ty: mdy - (b * msx + a * msy),
        })
    }

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }

    /// Chip pixels per frame pixel.
    pub fn scale(&self) -> f64 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Number of 2x pyramid steps dlib would take: halve while the chip is less than half the
/// face's resolution (PROVENANCE.md §3.2 step 3).
pub fn pyramid_levels(m: &Similarity) -> u32 {
    let mut c = m.scale();
    let mut levels = 0;
    while c < 0.5 && levels < 16 {
        c *= 2.0;
        levels += 1;
    }
    levels
}

/// An RGB float image (interleaved), used for the face region and its pyramid levels.
#[derive(Debug, Default, Clone)]
pub struct RgbF32 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl RgbF32 {
    fn at(&self, x: isize, y: isize) -> [f32; 3] {
        if x < 0 || y < 0 || x >= self.width as isize || y >= self.height as isize {
            return [0.0; 3];
        }
        let i = (y as usize * self.width + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Copies the frame rectangle `[x0, x0+w) x [y0, y0+h)` (inside the frame) into RGB floats.
pub fn copy_region(frame: &FrameRef, x0: usize, y0: usize, w: usize, h: usize, out: &mut RgbF32) {
    out.width = w;
    out.height = h;
    out.data.clear();
    out.data.reserve(w * h * 3);
    let p0 = &frame.planes[0];
    let conv = YuvToRgb::new(frame.yuv);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let rgb = match frame.layout {
                PixelLayout::Rgb | PixelLayout::Bgr | PixelLayout::Rgbx | PixelLayout::Bgrx => {
                    let bpp = if matches!(frame.layout, PixelLayout::Rgb | PixelLayout::Bgr) {
                        3
                    } else {
                        4
                    };
                    let i = y * p0.stride + x * bpp;
                    let px = &p0.data[i..i + 3];
                    let v = [px[0] as f32, px[1] as f32, px[2] as f32];
                    if matches!(frame.layout, PixelLayout::Bgr | PixelLayout::Bgrx) {
                        [v[2], v[1], v[0]]
                    } else {
                        v
                    }
                }
                PixelLayout::I420 => {
                    let yy = p0.data[y * p0.stride + x];
                    let (p1, p2) = (&frame.planes[1], &frame.planes[2]);
                    let ci = (y / 2) * p1.stride + x / 2;
                    let cj = (y / 2) * p2.stride + x / 2;
                    conv.apply(yy, p1.data[ci], p2.data[cj])
                }
                PixelLayout::Nv12 => {
                    let yy = p0.data[y * p0.stride + x];
                    let p1 = &frame.planes[1];
                    let ci = (y / 2) * p1.stride + (x / 2) * 2;
                    conv.apply(yy, p1.data[ci], p1.data[ci + 1])
                }
            };
            out.data.extend_from_slice(&rgb);
        }
    }
}

/// OpenCV `pyrDown`: 5-tap [1 4 6 4 1]/16 Gaussian in x and y (borders reflected, 101),
/// then every second row and column; output `ceil(w/2) x ceil(h/2)`.
pub fn pyr_down(src: &RgbF32, dst: &mut RgbF32) {
    const K: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];
    let (w, h) = (src.width, src.height);
    let (ow, oh) = (w.div_ceil(2), h.div_ceil(2));
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        if n == 1 {
            return 0;
        }
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n {
            i = 2 * (n - 1) - i;
        }
        i.clamp(0, n - 1) as usize
    };
    // Horizontal pass on the rows, keeping even columns only.
    let mut tmp = vec![0.0f32; ow * h * 3];
    for y in 0..h {
        for ox in 0..ow {
            let cx = (ox * 2) as isize;
            let mut acc = [0.0f32; 3];
            for (k, wgt) in K.iter().enumerate() {
                let sx = reflect(cx + k as isize - 2, w);
                let i = (y * w + sx) * 3;
                for (a, v) in acc.iter_mut().zip(&src.data[i..i + 3]) {
                    *a += wgt * v;
                }
            }
            tmp[(y * ow + ox) * 3..(y * ow + ox) * 3 + 3].copy_from_slice(&acc);
        }
    }
    dst.width = ow;
    dst.height = oh;
    dst.data.clear();
    dst.data.resize(ow * oh * 3, 0.0);
    for oy in 0..oh {
        let cy = (oy * 2) as isize;
        for ox in 0..ow {
            let mut acc = [0.0f32; 3];
            for (k, wgt) in K.iter().enumerate() {
                let sy = reflect(cy + k as isize - 2, h);
                let i = (sy * ow + ox) * 3;
                for (a, v) in acc.iter_mut().zip(&tmp[i..i + 3]) {
                    *a += wgt * v;
                }
            }
            dst.data[(oy * ow + ox) * 3..(oy * ow + ox) * 3 + 3].copy_from_slice(&acc);
        }
    }
}

/// Reusable buffers of the chip extractor (face-region sized, never the whole frame).
#[derive(Default)]
pub struct ChipExtractor {
    region: RgbF32,
    level: RgbF32,
}

impl ChipExtractor {
    /// Writes the aligned 150x150 chip as planar RGB floats 0..255 (the embedder's NCHW
    /// layout for one face) into `out` (length 3*150*150). Returns the frame→chip transform,
    /// or `None` for degenerate landmarks.
    pub fn extract(
        &mut self,
        frame: &FrameRef,
        landmarks: &[[f32; 2]; 5],
        out: &mut [f32],
    ) -> Option<Similarity> {
        assert_eq!(out.len(), 3 * CHIP * CHIP);
        let m = Similarity::estimate(landmarks, &TEMPLATE)?;
        let levels = pyramid_levels(&m);
        let step = 1usize << levels;
        let inv = m.inverse();
        // Frame area the chip samples from, with room for the pyramid filter.
        let corners = [
            [0.0, 0.0],
            [CHIP as f64, 0.0],
            [0.0, CHIP as f64],
            [CHIP as f64, CHIP as f64],
        ];
        let (mut xmin, mut ymin, mut xmax, mut ymax) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for c in corners {
            let p = inv.apply(c);
            xmin = xmin.min(p[0]);
            ymin = ymin.min(p[1]);
            xmax = xmax.max(p[0]);
            ymax = ymax.max(p[1]);
        }
        let margin = (4 * step + 2) as f64;
        let (fw, fh) = (frame.width as f64, frame.height as f64);
        // Region origin on the pyramid grid, so level pixel i is frame pixel (x0 + i*step).
        let x0 = ((xmin - margin).max(0.0) as usize) / step * step;
        let y0 = ((ymin - margin).max(0.0) as usize) / step * step;
        let x1 = (xmax + margin).min(fw).max(0.0) as usize;
        let y1 = (ymax + margin).min(fh).max(0.0) as usize;
        out.iter_mut().for_each(|v| *v = 0.0);
        if x1 <= x0 || y1 <= y0 {
            return Some(m); // entirely outside the frame: a black chip
        }
        copy_region(frame, x0, y0, x1 - x0, y1 - y0, &mut self.region);
        for _ in 0..levels {
            pyr_down(&self.region, &mut self.level);
            std::mem::swap(&mut self.region, &mut self.level);
        }
        // chip = A·(x0 + step·u) + t  →  transform of region-level pixel u.
        let lm = Similarity {
            a: m.a * step as f64,
            b: m.b * step as f64,
            tx: m.a * x0 as f64 - m.b * y0 as f64 + m.tx,
            ty: m.b * x0 as f64 + m.a * y0 as f64 + m.ty,
        };
        let li = lm.inverse();
        let plane = CHIP * CHIP;
        let img = &self.region;
        for cy in 0..CHIP {
            for cx in 0..CHIP {
                let p = li.apply([cx as f64, cy as f64]);
                let (fx, fy) = (p[0].floor(), p[1].floor());
                let (dx, dy) = ((p[0] - fx) as f32, (p[1] - fy) as f32);
                let (ix, iy) = (fx as isize, fy as isize);
                let q00 = img.at(ix, iy);
                let q10 = img.at(ix + 1, iy);
                let q01 = img.at(ix, iy + 1);
                let q11 = img.at(ix + 1, iy + 1);
                for c in 0..3 {
                    let top = q00[c] + (q10[c] - q00[c]) * dx;
                    let bottom = q01[c] + (q11[c] - q01[c]) * dx;
                    out[c * plane + cy * CHIP + cx] = top + (bottom - top) * dy;
                }
            }
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(p: &[[f32; 2]; 5], s: &Similarity) -> [[f32; 2]; 5] {
        p.map(|q| {
            let r = s.apply([q[0] as f64, q[1] as f64]);
            [r[0] as f32, r[1] as f32]
        })
    }

    #[test]
    fn known_landmarks_map_onto_the_template() {
        // Frame landmarks = template moved by a known similarity (rotated 12°, scaled 2.3).
        let (ang, sc) = (12f64.to_radians(), 2.3);
        let known = Similarity {
            a: sc * ang.cos(),
            b: sc * ang.sin(),
            tx: 310.0,
            ty: -45.0,
        };
        let frame_pts = transform(&TEMPLATE, &known);
        let m = Similarity::estimate(&frame_pts, &TEMPLATE).unwrap();
        let back = transform(&frame_pts, &m);
        for (b, t) in back.iter().zip(&TEMPLATE) {
            assert!(
                (b[0] - t[0]).abs() < 0.5 && (b[1] - t[1]).abs() < 0.5,
                "{b:?} vs {t:?}"
            );
        }
        assert!((m.scale() - 1.0 / sc).abs() < 1e-5);
        // inverse round-trips
        let r = m.inverse().apply(m.apply([10.0, 20.0]));
        assert!((r[0] - 10.0).abs() < 1e-9 && (r[1] - 20.0).abs() < 1e-9);
    }

    #[test]
    fn face_entirely_outside_the_frame_gives_a_black_chip() {
        let data = vec![200u8; 64 * 48 * 3];
        let frame = FrameRef::packed(PixelLayout::Rgb, 64, 48, &data, 64 * 3);
        let far = TEMPLATE.map(|p| [p[0] - 5000.0, p[1] + 3000.0]);
        let mut out = vec![1.0; 3 * CHIP * CHIP];
        assert!(ChipExtractor::default()
            .extract(&frame, &far, &mut out)
            .is_some());
        assert!(out.iter().all(|v| *v == 0.0));
        // A huge face (pyramid levels) half outside the frame works too.
        let huge = TEMPLATE.map(|p| [p[0] * 20.0 - 1000.0, p[1] * 20.0 - 900.0]);
        assert!(ChipExtractor::default()
            .extract(&frame, &huge, &mut out)
            .is_some());
    }

    #[test]
    fn degenerate_landmarks_are_rejected() {
        assert!(Similarity::estimate(&[[5.0, 5.0]; 5], &TEMPLATE).is_none());
        assert!(Similarity::estimate(&[[f32::NAN, 5.0]; 5], &TEMPLATE).is_none());
    }

    #[test]
    fn pyramid_levels_follow_face_size() {
        let m = |c: f64| Similarity {
            a: c,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert_eq!(pyramid_levels(&m(1.0)), 0);
        assert_eq!(pyramid_levels(&m(0.5)), 0);
        assert_eq!(pyramid_levels(&m(0.49)), 1);
        assert_eq!(pyramid_levels(&m(0.2)), 2);
    }

    #[test]
    fn pyr_down_of_flat_image_is_flat_and_halves() {
        let src = RgbF32 {
            width: 7,
            height: 5,
            data: vec![100.0; 7 * 5 * 3],
        };
        let mut dst = RgbF32::default();
        pyr_down(&src, &mut dst);
        assert_eq!((dst.width, dst.height), (4, 3));
        assert!(dst.data.iter().all(|v| (v - 100.0).abs() < 1e-4));
    }

    #[test]
    fn chip_of_identity_transform_copies_pixels_and_blacks_outside() {
        // A 150x150 gradient frame whose landmarks are the template: the chip is the frame.
        let (w, h) = (150usize, 150usize);
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % w) as u8, (i / w) as u8, 7])
            .collect();
        let frame = FrameRef::packed(PixelLayout::Rgb, w as u32, h as u32, &data, w * 3);
        let mut out = vec![0.0; 3 * CHIP * CHIP];
        let m = ChipExtractor::default()
            .extract(&frame, &TEMPLATE, &mut out)
            .unwrap();
        assert!((m.a - 1.0).abs() < 1e-9 && m.b.abs() < 1e-9);
        assert!((out[10 * CHIP + 20] - 20.0).abs() < 1e-3); // R = x
        assert!((out[CHIP * CHIP + 10 * CHIP + 20] - 10.0).abs() < 1e-3); // G = y
        assert!((out[2 * CHIP * CHIP + 149 * CHIP + 149] - 7.0).abs() < 1e-3); // B
                                                                               // Landmarks 40 px further left: chip x samples frame x - 40, so the chip's left
                                                                               // columns fall outside the frame and are black.
        let shifted = TEMPLATE.map(|p| [p[0] - 40.0, p[1]]);
        ChipExtractor::default()
            .extract(&frame, &shifted, &mut out)
            .unwrap();
        assert_eq!(out[2 * CHIP * CHIP + 5 * CHIP + 5], 0.0);
        assert!((out[5 * CHIP + 100] - 60.0).abs() < 1e-3);
    }
}
