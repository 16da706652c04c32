//! 8-bit copies of the gallery's embeddings for the first pass of a search.
//!
//! A 100,000-identity gallery in `f32` is 51 MB per stored view, and a brute-force pass is
//! bound by memory bandwidth (2.4 ms here). The `i8` copy is a quarter of that. Each
//! quantised vector remembers its own rounding error (the Euclidean norm of `v - q/SCALE`),
//! so the quantised distance minus both errors is a true lower bound of the real distance
//! (triangle inequality): rows whose bound is above the search radius can be skipped
//! without ever changing a result, and the few rows below it are re-checked in `f32`.

use crate::embed::embedder::{Embedding, DIM};

/// Quantisation step: 1/256, so components in ±0.496 are represented (dlib's components
/// stay within ±0.35); larger ones are clamped, which the stored error accounts for.
pub const SCALE: f32 = 256.0;

pub type Quantized = [i8; DIM];

/// The 8-bit copy of `e` and its rounding error (Euclidean norm, in embedding units).
pub fn quantize(e: &Embedding) -> (Quantized, f32) {
    let mut q = [0i8; DIM];
    let mut err2 = 0.0f32;
    for (o, &v) in q.iter_mut().zip(e) {
        let r = (v * SCALE).round().clamp(-127.0, 127.0);
        *o = r as i8;
        let d = v - r / SCALE;
        err2 += d * d;
    }
    (q, err2.sqrt())
}

/// Squared distance between two quantised slices of equal length, in quantised units.
#[inline(always)]
fn partial_squared_distance_q(a: &[i8], b: &[i8]) -> i32 {
    // i16 products summed pairwise map onto the multiply-add instructions (pmaddwd /
    // vpdpwssd); the compiler vectorises this loop for the enabled target features.
    let mut acc = 0i32;
    for (x, y) in a.iter().zip(b) {
        let d = *x as i16 - *y as i16;
        acc += d as i32 * d as i32;
    }
    acc
}

#[cfg(test)]
fn squared_distance_q(a: &Quantized, b: &[i8]) -> i32 {
    partial_squared_distance_q(a, b)
}

/// Dimensions in the first pass; stored apart from the rest (see [`QuantizedRows`]).
pub const HEAD: usize = DIM / 2;

/// 8-bit rows split in two arrays: the first [`HEAD`] dimensions of every row, contiguous,
/// and the remaining ones. A partial sum of squares is already a lower bound, and most
/// rows (other people) exceed the limit on the head alone, so a search streams half the
/// bytes and reads a row's tail only when its head is close.
#[derive(Debug, Default, Clone)]
pub struct QuantizedRows {
    head: Vec<i8>,
    tail: Vec<i8>,
}

impl QuantizedRows {
    pub fn push(&mut self, q: &Quantized) {
        self.head.extend_from_slice(&q[..HEAD]);
        self.tail.extend_from_slice(&q[HEAD..]);
    }

    pub fn set(&mut self, row: usize, q: &Quantized) {
        self.head[row * HEAD..(row + 1) * HEAD].copy_from_slice(&q[..HEAD]);
        self.tail[row * (DIM - HEAD)..(row + 1) * (DIM - HEAD)].copy_from_slice(&q[HEAD..]);
    }

    pub fn get(&self, row: usize) -> Quantized {
        let mut q = [0i8; DIM];
        q[..HEAD].copy_from_slice(&self.head[row * HEAD..(row + 1) * HEAD]);
        q[HEAD..].copy_from_slice(&self.tail[row * (DIM - HEAD)..(row + 1) * (DIM - HEAD)]);
        q
    }

    pub fn len(&self) -> usize {
        self.head.len() / HEAD
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// Overwrites every byte (erased embeddings must not linger in freed memory).
    pub fn wipe(&mut self) {
        self.head.iter_mut().for_each(|v| *v = 0);
        self.tail.iter_mut().for_each(|v| *v = 0);
    }

    /// For every row and every probe, calls `hit(row, probe)` when the quantised squared
    /// distance is at most `limits[probe]`. Uses the widest SIMD this CPU runs, chosen at
    /// run time (the binary itself targets baseline x86-64).
    pub fn scan(&self, probes: &[Quantized], limits: &[i32], hit: &mut dyn FnMut(usize, usize)) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                // SAFETY: the features were detected on this CPU just above.
                return unsafe { scan_avx512(self, probes, limits, hit) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { scan_avx2(self, probes, limits, hit) };
            }
        }
        scan_generic(self, probes, limits, hit)
    }
}

#[inline(always)]
fn scan_generic(
    rows: &QuantizedRows,
    probes: &[Quantized],
    limits: &[i32],
    hit: &mut dyn FnMut(usize, usize),
) {
    const TAIL: usize = DIM - HEAD;
    for (r, head) in rows.head.chunks_exact(HEAD).enumerate() {
        for (p, (probe, &limit)) in probes.iter().zip(limits).enumerate() {
            let first = partial_squared_distance_q(&probe[..HEAD], head);
            if first <= limit
                && first
                    + partial_squared_distance_q(
                        &probe[HEAD..],
                        &rows.tail[r * TAIL..(r + 1) * TAIL],
                    )
                    <= limit
            {
                hit(r, p);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn scan_avx512(
    rows: &QuantizedRows,
    probes: &[Quantized],
    limits: &[i32],
    hit: &mut dyn FnMut(usize, usize),
) {
    scan_generic(rows, probes, limits, hit)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2(
    rows: &QuantizedRows,
    probes: &[Quantized],
    limits: &[i32],
    hit: &mut dyn FnMut(usize, usize),
) {
    scan_generic(rows, probes, limits, hit)
}

/// The largest quantised squared distance that can still hide a real distance below
/// `radius`, given the probe's and the row's worst rounding errors.
pub fn limit_for(radius: f32, probe_err: f32, max_row_err: f32) -> i32 {
    let d = (radius + probe_err + max_row_err) * SCALE;
    (d * d).ceil().min(i32::MAX as f32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(seed: u32, spread: f32) -> Embedding {
        let mut x = seed.wrapping_mul(747796405).wrapping_add(2891336453);
        let mut e = [0.0f32; DIM];
        for v in e.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = ((x % 20001) as f32 / 10000.0 - 1.0) * spread;
        }
        e
    }

    fn dist(a: &Embedding, b: &Embedding) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    }

    #[test]
    fn rounding_error_is_what_it_says_and_clamping_is_counted() {
        let e = vector(1, 0.3);
        let (q, err) = quantize(&e);
        let back: Vec<f32> = q.iter().map(|&v| v as f32 / SCALE).collect();
        let real = e
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        assert!((real - err).abs() < 1e-6);
        assert!(err <= (DIM as f32).sqrt() * 0.5 / SCALE + 1e-6);
        let mut big = e;
        big[0] = 3.0;
        let (qb, eb) = quantize(&big);
        assert_eq!(qb[0], 127);
        assert!(eb > 2.0, "a clamped component shows in the error: {eb}");
    }

    #[test]
    fn the_bound_never_skips_a_row_within_the_radius() {
        let rows: Vec<Embedding> = (0..400).map(|i| vector(i, 0.12)).collect();
        let probes: Vec<Embedding> = (1000..1004).map(|i| vector(i, 0.12)).collect();
        let mut flat = QuantizedRows::default();
        let mut max_err = 0.0f32;
        for r in &rows {
            let (q, e) = quantize(r);
            flat.push(&q);
            max_err = max_err.max(e);
        }
        // a radius that splits the rows roughly in half
        let mut all: Vec<f32> = rows.iter().map(|r| dist(r, &probes[0])).collect();
        all.sort_by(f32::total_cmp);
        let radius = all[all.len() / 2];
        let (pq, perr): (Vec<Quantized>, Vec<f32>) = probes.iter().map(quantize).unzip();
        let limits: Vec<i32> = perr
            .iter()
            .map(|&e| limit_for(radius, e, max_err))
            .collect();
        let mut hits = std::collections::HashSet::new();
        flat.scan(&pq, &limits, &mut |r, p| {
            hits.insert((r, p));
        });
        let mut within = 0;
        for (r, row) in rows.iter().enumerate() {
            for (p, probe) in probes.iter().enumerate() {
                if dist(row, probe) < radius {
                    within += 1;
                    assert!(hits.contains(&(r, p)), "row {r} probe {p} skipped");
                }
            }
        }
        assert!(within > 100);
        // and it is a filter: far rows are skipped
        assert!(hits.len() < rows.len() * probes.len());
    }

    #[test]
    fn every_simd_variant_agrees_with_the_plain_loop() {
        let mut rows = QuantizedRows::default();
        for r in 0..37 {
            rows.push(&std::array::from_fn(|k| {
                (((r * DIM + k) * 7919) % 255) as i8
            }));
        }
        assert_eq!(rows.len(), 37);
        assert_eq!(rows.get(5)[70], (((5 * DIM + 70) * 7919) % 255) as i8);
        let probes: Vec<Quantized> = (0..3)
            .map(|p| std::array::from_fn(|k| ((k * 31 + p * 17) % 255) as i8))
            .collect();
        let limits = [i32::MAX, 600_000, 0];
        let mut plain = Vec::new();
        scan_generic(&rows, &probes, &limits, &mut |r, p| plain.push((r, p)));
        let mut dispatched = Vec::new();
        rows.scan(&probes, &limits, &mut |r, p| dispatched.push((r, p)));
        assert_eq!(plain, dispatched);
        assert!(plain.len() >= 37, "limit i32::MAX keeps every row");
        // exact integer distance, including the extremes (-128 vs 127)
        let a = [127i8; DIM];
        let b = [-128i8; DIM];
        assert_eq!(squared_distance_q(&a, &b), 255 * 255 * DIM as i32);
    }
}
