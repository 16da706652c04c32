//! Bilinear resampling of 8-bit images, with the weights of each axis computed once per
//! geometry and kept: steady-state resizing allocates nothing.
//!
//! Why not `fast_image_resize` itself: it rebuilds its weights on every call (a `Vec` per
//! output row and per output column, ~560 heap allocations for a 320-px-wide tensor),
//! and the streaming thread must not allocate per frame. The arithmetic here is the same
//! fixed-point scheme (Pillow's, which `fast_image_resize` uses): triangle weights in f64
//! normalised per output pixel, rounded to i16 at the highest precision that fits, the
//! vertical pass first into 8-bit rows, round half up, clamp. So the detector's tensor is
//! bit for bit what `ResizeAlg::Interpolation(FilterType::Bilinear)` produced; a test
//! compares the two over many sizes and channel counts.

use std::ops::Range;

/// A strided source image: pixels of `C` interleaved bytes (the `C` of
/// [`Resampler::resize`]), rows `stride` bytes apart. The caller checked that `data` holds
/// `height` rows of `width * C` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
}

/// The fixed-point weights of one axis (`in_size` → `out_size`): each output position is
/// a weighted sum of two neighbouring inputs.
#[derive(Debug, Clone, PartialEq)]
struct AxisWeights {
    in_size: u32,
    out_size: u32,
    /// Weights are integers scaled by `1 << precision`.
    precision: u8,
    taps: Vec<Tap>,
    /// The weights again, once per byte of an output row of `channels` bytes a pixel: the
    /// horizontal pass blends whole rows of bytes with them.
    channels: usize,
    byte_weights: [Vec<i16>; 2],
}

/// The two inputs of one output position and their weights. A triangle filter of support
/// 1 gives any position one or two non-zero weights; with one, the second input is a
/// neighbour weighted 0, which changes no sum and lets every position read exactly two.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    inputs: [u32; 2],
    weights: [i16; 2],
}

/// A bilinear (triangle, support 1) window spans at most this many inputs.
const WINDOW: usize = 3;

/// Sums are i32 and 8 bits of result plus two of overflow must fit (as in Pillow).
const PRECISION_BITS: u8 = 32 - 8 - 2;
/// The largest weight must fit an i16.
const MAX_WEIGHT_BITS: u8 = 16 - 1;

fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

impl AxisWeights {
    fn bilinear(in_size: u32, out_size: u32, channels: usize) -> AxisWeights {
        let scale = in_size as f64 / out_size as f64;
        let windows: Vec<(u32, [f64; 2])> = (0..out_size)
            .map(|out| Self::window(out, scale, in_size))
            .collect();
        let precision = Self::precision(windows.iter().flat_map(|(_, w)| *w));
        let unit = (1u32 << precision) as f64;
        let last = in_size.saturating_sub(1);
        let taps = windows
            .iter()
            .map(|&(first, w)| Tap {
                inputs: [first.min(last), (first + 1).min(last)],
                weights: w.map(|w| (w * unit).round() as i16),
            })
            .collect::<Vec<Tap>>();
        let per_byte = |k: usize| {
            taps.iter()
                .flat_map(|t| std::iter::repeat_n(t.weights[k], channels))
                .collect()
        };
        let byte_weights = [per_byte(0), per_byte(1)];
        AxisWeights {
            in_size,
            out_size,
            precision,
            taps,
            channels,
            byte_weights,
        }
    }

    /// The first input an output position reads (zero weights at either end left out)
    /// and the weights of it and the next, normalised to a sum of 1.
    fn window(out: u32, scale: f64, in_size: u32) -> (u32, [f64; 2]) {
        let in_center = (out as f64 + 0.5) * scale;
        let first = (in_center - 1.0).floor().max(0.0) as u32;
        let end = (in_center + 1.0).ceil().min(in_size as f64) as u32;
        let center = in_center - 0.5;
        let mut weights = [0.0; WINDOW];
        let (mut start, mut count, mut sum) = (first, 0usize, 0.0);
        for x in first..end {
            let w = triangle(x as f64 - center);
            if x == start && w == 0.0 {
                start += 1;
            } else {
                weights[count] = w;
                count += 1;
                sum += w;
            }
        }
        if sum != 0.0 {
            weights[..count].iter_mut().for_each(|w| *w /= sum);
        }
        // Non-zero weights need |x - center| < 1: at most two neighbours, so a third
        // weight, if any, is a trailing zero.
        debug_assert!(weights[2] == 0.0);
        (start, [weights[0], weights[1]])
    }

    /// The most fractional bits that keep the largest weight within an i16.
    fn precision(weights: impl Iterator<Item = f64>) -> u8 {
        let max = weights.fold(0.0f64, f64::max);
        let mut precision = 0;
        for bits in 0..PRECISION_BITS {
            precision = bits;
            let next = (max * (1u32 << (bits + 1)) as f64).round() as i64;
            if next >= 1 << MAX_WEIGHT_BITS {
                break;
            }
        }
        precision
    }

    /// Inputs this axis reads: from the first position's first input to the last one's.
    fn span(&self) -> Range<usize> {
        let first = self.taps.first().map_or(0, |t| t.inputs[0]) as usize;
        let last = self.taps.last().map_or(0, |t| t.inputs[1]) as usize;
        first..last + 1
    }

    fn rounding(&self) -> i32 {
        1 << (self.precision - 1)
    }
}

/// `round + a * wa + b * wb`, scaled back to 8 bits and clamped.
#[inline(always)]
fn blend(a: u8, b: u8, w: [i16; 2], round: i32, precision: u8) -> u8 {
    let sum = round + a as i32 * w[0] as i32 + b as i32 * w[1] as i32;
    (sum >> precision).clamp(0, 255) as u8
}

/// Reusable resizer: weights per geometry and the intermediate rows, kept between frames.
#[derive(Default)]
pub struct Resampler {
    axes: Vec<AxisWeights>,
    /// The vertical pass's output when both axes change: rows of the columns the
    /// horizontal pass reads.
    between: Vec<u8>,
    /// One output row's two inputs per byte, gathered for the horizontal blend.
    gathered: [Vec<u8>; 2],
}

/// More geometries than this (a camera changing size again and again) start the cache over.
const MAX_AXES: usize = 8;

impl Resampler {
    /// Resizes `src` (`C` bytes a pixel) to `dst_w` x `dst_h` into `dst`, tightly packed.
    pub fn resize<const C: usize>(&mut self, src: &Source, dst: &mut [u8], dst_w: u32, dst_h: u32) {
        let (w, h) = (src.width, src.height);
        if w == 0 || h == 0 || dst_w == 0 || dst_h == 0 {
            return;
        }
        let dst_row = dst_w as usize * C;
        let dst = &mut dst[..dst_row * dst_h as usize];
        // Room for this call's two axes, so neither index below goes stale.
        if self.axes.len() + 2 > MAX_AXES {
            self.axes.clear();
        }
        let horizontal = (dst_w != w).then(|| self.axis(w, dst_w, C));
        // The vertical pass blends bytes whatever the pixel: one weight set serves all.
        let vertical = (dst_h != h).then(|| self.axis(h, dst_h, 0));
        let (axes, between, gathered) = (&self.axes, &mut self.between, &mut self.gathered);
        for g in gathered.iter_mut() {
            g.resize(dst_row, 0);
        }
        match (horizontal.map(|i| &axes[i]), vertical.map(|i| &axes[i])) {
            (Some(hz), Some(vt)) => {
                // Vertical first, as fast_image_resize does for 8-bit pixels, over only
                // the columns the horizontal pass reads.
                let columns = hz.span();
                let row = columns.len() * C;
                between.resize(row * dst_h as usize, 0);
                let bytes = columns.start * C..columns.end * C;
                vertical_pass(src, bytes, vt, between, row);
                let mid = Source {
                    data: between,
                    width: columns.len() as u32,
                    height: dst_h,
                    stride: row,
                };
                horizontal_pass::<C>(&mid, columns.start, hz, dst, gathered);
            }
            (None, Some(vt)) => vertical_pass(src, 0..dst_row, vt, dst, dst_row),
            (Some(hz), None) => horizontal_pass::<C>(src, 0, hz, dst, gathered),
            (None, None) => {
                for (y, out) in dst.chunks_exact_mut(dst_row).enumerate() {
                    out.copy_from_slice(&src.data[y * src.stride..][..dst_row]);
                }
            }
        }
    }

    /// The index of the weights for `in_size` → `out_size`, computed on first use.
    fn axis(&mut self, in_size: u32, out_size: u32, channels: usize) -> usize {
        let key = (in_size, out_size, channels);
        let known = self
            .axes
            .iter()
            .position(|a| (a.in_size, a.out_size, a.channels) == key);
        known.unwrap_or_else(|| {
            if self.axes.len() == MAX_AXES {
                self.axes.clear();
            }
            self.axes
                .push(AxisWeights::bilinear(in_size, out_size, channels));
            self.axes.len() - 1
        })
    }
}

/// Each output row blends two source rows, byte by byte over `columns` (bytes of a source
/// row); written `dst_stride` bytes apart. Straight loops over bytes, which the compiler
/// vectorises.
fn vertical_pass(
    src: &Source,
    columns: Range<usize>,
    axis: &AxisWeights,
    dst: &mut [u8],
    dst_stride: usize,
) {
    let (round, precision) = (axis.rounding(), axis.precision);
    for (out, tap) in dst.chunks_exact_mut(dst_stride).zip(&axis.taps) {
        let [ra, rb] = tap
            .inputs
            .map(|y| &src.data[y as usize * src.stride..][columns.clone()]);
        for ((o, &a), &b) in out[..columns.len()].iter_mut().zip(ra).zip(rb) {
            *o = blend(a, b, tap.weights, round, precision);
        }
    }
}

/// Each output pixel of a row blends two neighbouring pixels of the same row, channel by
/// channel; `offset` is the source column `src`'s first column stands for. The two inputs
/// of every output byte are gathered first, so the blend runs over whole rows of bytes
/// (vectorised) rather than pixel by pixel.
fn horizontal_pass<const C: usize>(
    src: &Source,
    offset: usize,
    axis: &AxisWeights,
    dst: &mut [u8],
    gathered: &mut [Vec<u8>; 2],
) {
    let (round, precision) = (axis.rounding(), axis.precision);
    let [wa, wb] = &axis.byte_weights;
    let [ga, gb] = gathered;
    let row_bytes = ga.len();
    for (y, out) in dst.chunks_exact_mut(row_bytes).enumerate() {
        let row = &src.data[y * src.stride..][..src.width as usize * C];
        let pixels = ga.chunks_exact_mut(C).zip(gb.chunks_exact_mut(C));
        for ((a, b), tap) in pixels.zip(&axis.taps) {
            let [ia, ib] = tap.inputs.map(|x| (x as usize - offset) * C);
            a.copy_from_slice(&row[ia..ia + C]);
            b.copy_from_slice(&row[ib..ib + C]);
        }
        let inputs = ga.iter().zip(gb.iter()).zip(wa.iter().zip(wb.iter()));
        for (o, ((&a, &b), (&wa, &wb))) in out.iter_mut().zip(inputs) {
            *o = blend(a, b, [wa, wb], round, precision);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fast_image_resize::images::Image;
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

    /// A deterministic noisy image with row padding.
    fn noise(w: u32, h: u32, c: usize, stride: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut data = vec![0u8; stride * h as usize];
        for row in data.chunks_exact_mut(stride) {
            for b in &mut row[..w as usize * c] {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *b = (state >> 24) as u8;
            }
        }
        data
    }

    /// One resize: source size, channels, source row stride, target size.
    #[derive(Clone, Copy)]
    struct Case {
        w: u32,
        h: u32,
        c: usize,
        stride: usize,
        dw: u32,
        dh: u32,
    }

    /// fast_image_resize's `Interpolation(Bilinear)` of the same image, the reference.
    fn reference(src: &[u8], k: Case) -> Vec<u8> {
        let packed: Vec<u8> = src
            .chunks_exact(k.stride)
            .flat_map(|r| r[..k.w as usize * k.c].iter().copied())
            .collect();
        let kind = [
            PixelType::U8,
            PixelType::U8x2,
            PixelType::U8x3,
            PixelType::U8x4,
        ][k.c - 1];
        let from = Image::from_vec_u8(k.w, k.h, packed, kind).unwrap();
        let mut to = Image::new(k.dw, k.dh, kind);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear))
            .use_alpha(false);
        Resizer::new().resize(&from, &mut to, &options).unwrap();
        to.into_vec()
    }

    fn ours(r: &mut Resampler, src: &[u8], k: Case) -> Vec<u8> {
        let s = Source {
            data: src,
            width: k.w,
            height: k.h,
            stride: k.stride,
        };
        let mut dst = vec![0u8; k.dw as usize * k.dh as usize * k.c];
        match k.c {
            1 => r.resize::<1>(&s, &mut dst, k.dw, k.dh),
            2 => r.resize::<2>(&s, &mut dst, k.dw, k.dh),
            3 => r.resize::<3>(&s, &mut dst, k.dw, k.dh),
            _ => r.resize::<4>(&s, &mut dst, k.dw, k.dh),
        }
        dst
    }

    fn case(w: u32, h: u32, c: usize, dw: u32, dh: u32) -> Case {
        Case {
            w,
            h,
            c,
            stride: w as usize * c + 5,
            dw,
            dh,
        }
    }

    #[test]
    fn same_bytes_as_fast_image_resize_bilinear_interpolation() {
        // Downscales as the detector does them (camera sizes to inference sizes, chroma
        // planes), upscales, one axis only, odd sizes, single rows and columns.
        let geometries = [
            (1920, 1080, 320, 180),
            (1280, 720, 320, 180),
            (960, 540, 320, 180),
            (640, 480, 320, 240),
            (641, 479, 97, 211),
            (320, 240, 320, 240),
            (320, 240, 320, 100),
            (320, 240, 100, 240),
            (100, 60, 333, 190),
            (7, 5, 3, 2),
            (1, 9, 4, 3),
            (9, 1, 2, 5),
            (5, 3, 1, 1),
        ];
        let mut resampler = Resampler::default();
        for (i, &(w, h, dw, dh)) in geometries.iter().enumerate() {
            for c in 1..=4 {
                let k = case(w, h, c, dw, dh);
                let src = noise(w, h, c, k.stride, (i * 4 + c) as u32);
                let got = ours(&mut resampler, &src, k);
                assert!(
                    got == reference(&src, k),
                    "{w}x{h} -> {dw}x{dh}, {c} channels differ"
                );
            }
        }
    }

    #[test]
    fn weights_are_computed_once_per_geometry() {
        let mut r = Resampler::default();
        let src = noise(64, 48, 1, 69, 1);
        for _ in 0..3 {
            ours(&mut r, &src, case(64, 48, 1, 32, 24));
            ours(&mut r, &src, case(64, 48, 1, 16, 12));
        }
        assert_eq!(r.axes.len(), 4);
        assert!(r.axes.iter().any(|a| a.byte_weights[0].len() == 32));
        // Every position reads two inputs within the source.
        for a in &r.axes {
            assert!(a.taps.iter().all(|t| t.inputs[1] < a.in_size));
        }
    }

    #[test]
    fn many_geometries_start_the_cache_over_without_mixing_them_up() {
        let mut r = Resampler::default();
        for i in 0..20u32 {
            let k = case(40 + i, 30 + i, 3, 17 + i, 9 + i);
            let src = noise(k.w, k.h, 3, k.stride, i);
            assert!(ours(&mut r, &src, k) == reference(&src, k), "geometry {i}");
            assert!(r.axes.len() <= MAX_AXES);
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let src = vec![77u8; 95 * 20];
        let out = ours(&mut Resampler::default(), &src, case(30, 20, 3, 11, 7));
        assert!(out.iter().all(|&b| b == 77));
    }
}
