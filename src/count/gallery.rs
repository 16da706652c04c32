//! The de-duplicating gallery: identities made of a few embeddings each, matched by the
//! minimum pairwise Euclidean distance (the metric the dlib embedder was trained for),
//! expiring `retention` after they were last seen, bounded by a capacity.
//!
//! Time is passed in explicitly (nanoseconds on any monotonic clock), so tests use a fake
//! clock and the element uses the pipeline clock.
//!
//! Storage is one flat `Vec<f32>` of all embeddings plus an owner per row, so a search is a
//! single pass over contiguous memory that the compiler vectorises.

use super::quantized::{self, Quantized, QuantizedRows};
use crate::embed::embedder::{Embedding, DIM};

/// Embeddings kept per identity (the best views).
pub const MAX_EMBEDDINGS_PER_IDENTITY: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: u64,
    pub last_seen: u64,
    pub first_seen: u64,
    pub visits: u32,
    /// (row, quality) of the stored views.
    views: Vec<(u32, f32)>,
}

/// Result of a search: the closest identity, its visit distance to the probe and when it
/// was last seen (so the caller needs no second look-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub id: u64,
    pub distance: f32,
    pub last_seen: u64,
}

/// How far a set of probe views (one visit) is from a set of stored views (one identity):
/// the mean of the closest pair and of each probe view's nearest stored view. The closest
/// pair alone lets one lucky frame merge look-alikes; the per-view mean alone punishes a
/// single bad frame. Averaging both asks for a close pair *and* agreement of the visit's
/// other views. Never below the closest pair distance (the search's pruning relies on it).
pub fn visit_distance(pair_distances: &[f32], probe_views: usize) -> f32 {
    let stored = pair_distances.len() / probe_views.max(1);
    let mut closest = f32::INFINITY;
    let mut sum_nearest = 0.0;
    for per_probe in pair_distances.chunks_exact(stored.max(1)) {
        let nearest = per_probe.iter().copied().fold(f32::INFINITY, f32::min);
        closest = closest.min(nearest);
        sum_nearest += nearest;
    }
    (closest + sum_nearest / probe_views.max(1) as f32) / 2.0
}

/// What [`Gallery::flat_copy`] took: unpacked into records off the video thread.
#[derive(Debug, Clone, Default)]
pub struct GalleryCopy {
    /// The gallery's rows as they were, `DIM` floats each.
    rows: Vec<f32>,
    /// (last seen, index of its first view in `views`, number of views) per identity.
    identities: Vec<(u64, u32, u32)>,
    /// The row of each view.
    views: Vec<u32>,
}

impl GalleryCopy {
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// Each identity's last-seen time and stored views, in gallery order.
    pub fn identities(&self) -> impl Iterator<Item = (u64, Vec<Embedding>)> + '_ {
        self.identities.iter().map(|&(last_seen, first, n)| {
            let rows = &self.views[first as usize..(first + n) as usize];
            let views = rows
                .iter()
                .map(|&row| {
                    let r = row as usize;
                    let mut e = [0.0; DIM];
                    e.copy_from_slice(&self.rows[r * DIM..(r + 1) * DIM]);
                    e
                })
                .collect();
            (last_seen, views)
        })
    }
}

#[derive(Debug, Default)]
pub struct Gallery {
    identities: Vec<Identity>,
    /// Row-major embeddings, `DIM` floats per row.
    rows: Vec<f32>,
    /// The same rows quantised to 8 bits (first pass of a search) and their rounding errors.
    rows_q: QuantizedRows,
    row_err: Vec<f32>,
    /// Largest of `row_err` (rows are only ever re-quantised, so a stale maximum is still
    /// an upper bound; it is recomputed when rows are erased).
    max_row_err: f32,
    /// Index into `identities` of each row's owner.
    owner: Vec<u32>,
    next_id: u64,
}

impl Gallery {
    pub fn new() -> Self {
        Gallery {
            next_id: 1,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.identities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    pub fn embedding_count(&self) -> usize {
        self.owner.len()
    }

    /// The identity with the smallest [`visit_distance`] to `probe`, if it is below `radius`.
    ///
    /// First pass: every stored row against every probe view in 8 bits, one sweep over
    /// memory; identities with no row that could be within `radius` are skipped (exact lower
    /// bound, see [`quantized`]). Second pass: the remaining identities in `f32`.
    pub fn search(&self, probe: &[Embedding], radius: f32) -> Option<Match> {
        self.search_except(probe, radius, &[])
    }

    /// [`Gallery::search`] among the identities not in `excluded` (people known to be
    /// someone else than the probe: seen beside it).
    pub fn search_except(
        &self,
        probe: &[Embedding],
        radius: f32,
        excluded: &[u64],
    ) -> Option<Match> {
        if probe.is_empty() || self.rows.is_empty() {
            return None;
        }
        let (probe_q, probe_err): (Vec<Quantized>, Vec<f32>) =
            probe.iter().map(quantized::quantize).unzip();
        let limits: Vec<i32> = probe_err
            .iter()
            .map(|&e| quantized::limit_for(radius, e, self.max_row_err))
            .collect();
        let mut candidates: Vec<u32> = Vec::new();
        self.rows_q.scan(&probe_q, &limits, &mut |row, _| {
            candidates.push(self.owner[row]);
        });
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<Match> = None;
        let mut pairs = Vec::new();
        for idx in candidates {
            let ident = &self.identities[idx as usize];
            if excluded.contains(&ident.id) {
                continue;
            }
            pairs.clear();
            for p in probe {
                for &(row, _) in &ident.views {
                    pairs.push(squared_distance(self.row(row), p).sqrt());
                }
            }
            let distance = visit_distance(&pairs, probe.len());
            if distance < radius && best.is_none_or(|b| distance < b.distance) {
                best = Some(Match {
                    id: ident.id,
                    distance,
                    last_seen: ident.last_seen,
                });
            }
        }
        best
    }

    fn row(&self, row: u32) -> &[f32] {
        let r = row as usize * DIM;
        &self.rows[r..r + DIM]
    }

    /// Adds a new identity made of `embeddings` (best first is not required; the best
    /// [`MAX_EMBEDDINGS_PER_IDENTITY`] by quality are kept). Returns its id.
    pub fn insert(&mut self, embeddings: &[(Embedding, f32)], now: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.identities.push(Identity {
            id,
            last_seen: now,
            first_seen: now,
            visits: 1,
            views: Vec::new(),
        });
        self.add_embeddings(self.identities.len() - 1, embeddings);
        id
    }

    /// A flat copy of every identity's views for the gallery file: three copies of
    /// contiguous memory, cheap enough under the site lock that all cameras share.
    pub fn flat_copy(&self) -> GalleryCopy {
        let mut views = Vec::with_capacity(self.owner.len());
        let identities = self
            .identities
            .iter()
            .map(|i| {
                let first = views.len() as u32;
                views.extend(i.views.iter().map(|&(row, _)| row));
                (i.last_seen, first, i.views.len() as u32)
            })
            .collect();
        GalleryCopy {
            rows: self.rows.clone(),
            identities,
            views,
        }
    }

    /// Marks a returning visit of `id` at `now` and merges its new views.
    pub fn revisit(&mut self, id: u64, embeddings: &[(Embedding, f32)], now: u64, new_visit: bool) {
        if let Some(i) = self.identities.iter().position(|i| i.id == id) {
            let ident = &mut self.identities[i];
            ident.last_seen = ident.last_seen.max(now);
            if new_visit {
                ident.visits += 1;
            }
            self.add_embeddings(i, embeddings);
        }
    }

    /// Stores views of identity `idx`, keeping its best [`MAX_EMBEDDINGS_PER_IDENTITY`].
    fn add_embeddings(&mut self, idx: usize, embeddings: &[(Embedding, f32)]) {
        for (e, q) in embeddings {
            let views = &self.identities[idx].views;
            if views.len() < MAX_EMBEDDINGS_PER_IDENTITY {
                let row = self.owner.len() as u32;
                self.rows.extend_from_slice(e);
                let (eq, err) = quantized::quantize(e);
                self.rows_q.push(&eq);
                self.row_err.push(err);
                self.max_row_err = self.max_row_err.max(err);
                self.owner.push(idx as u32);
                self.identities[idx].views.push((row, *q));
                continue;
            }
            // Replace the worst stored view if this one is better.
            let (k, &(row, worst_q)) = views
                .iter()
                .enumerate()
                .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .expect("non-empty");
            if *q > worst_q {
                self.write_row(row, e);
                self.identities[idx].views[k].1 = *q;
            }
        }
    }

    fn write_row(&mut self, row: u32, e: &Embedding) {
        let r = row as usize;
        self.rows[r * DIM..(r + 1) * DIM].copy_from_slice(e);
        let (eq, err) = quantized::quantize(e);
        self.rows_q.set(r, &eq);
        self.row_err[r] = err;
        self.max_row_err = self.max_row_err.max(err);
    }

    /// Erases identities not seen since `now - retention`; returns how many.
    pub fn expire(&mut self, now: u64, retention: u64) -> usize {
        let cutoff = now.saturating_sub(retention);
        // Nothing expires on almost every call (the counter calls this once a second):
        // decide that without allocating.
        if !self.identities.iter().any(|i| i.last_seen < cutoff) {
            return 0;
        }
        self.remove_where(|i| i.last_seen < cutoff)
    }

    /// Erases the least recently seen identities until at most `capacity` remain; returns
    /// how many were erased.
    pub fn enforce_capacity(&mut self, capacity: usize) -> usize {
        if self.identities.len() <= capacity {
            return 0;
        }
        let mut seen: Vec<u64> = self.identities.iter().map(|i| i.last_seen).collect();
        seen.sort_unstable();
        let excess = self.identities.len() - capacity;
        let cutoff = seen[excess - 1];
        // Ties at the cutoff: erase oldest ids first, exactly `excess` identities.
        let mut budget = excess;
        let mut doomed = vec![false; self.identities.len()];
        for (k, i) in self.identities.iter().enumerate() {
            if budget > 0 && i.last_seen < cutoff {
                doomed[k] = true;
                budget -= 1;
            }
        }
        for (k, i) in self.identities.iter().enumerate() {
            if budget > 0 && !doomed[k] && i.last_seen == cutoff {
                doomed[k] = true;
                budget -= 1;
            }
        }
        let mut k = 0;
        self.remove_where(|_| {
            let d = doomed[k];
            k += 1;
            d
        })
    }

    /// Removes identities for which `pred` holds (called once per identity, in order) and
    /// their embeddings; rebuilds the flat storage.
    fn remove_where(&mut self, mut pred: impl FnMut(&Identity) -> bool) -> usize {
        let keep: Vec<bool> = self.identities.iter().map(|i| !pred(i)).collect();
        let removed = keep.iter().filter(|k| !**k).count();
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut rows_q = QuantizedRows::default();
        let mut row_err = Vec::with_capacity(self.row_err.len());
        let mut owner = Vec::with_capacity(self.owner.len());
        let mut identities = Vec::with_capacity(self.identities.len() - removed);
        for (ident, _) in self.identities.drain(..).zip(&keep).filter(|(_, k)| **k) {
            let idx = identities.len() as u32;
            let mut moved = ident;
            for view in moved.views.iter_mut() {
                let r = view.0 as usize;
                rows.extend_from_slice(&self.rows[r * DIM..(r + 1) * DIM]);
                rows_q.push(&self.rows_q.get(r));
                row_err.push(self.row_err[r]);
                view.0 = owner.len() as u32;
                owner.push(idx);
            }
            identities.push(moved);
        }
        // Erased embeddings are overwritten, not just forgotten.
        self.rows.iter_mut().for_each(|v| *v = 0.0);
        self.rows_q.wipe();
        self.max_row_err = row_err.iter().copied().fold(0.0, f32::max);
        self.rows = rows;
        self.rows_q = rows_q;
        self.row_err = row_err;
        self.owner = owner;
        self.identities = identities;
        removed
    }
}

/// Squared Euclidean distance with 8 independent partial sums, so the compiler can keep
/// them in SIMD lanes (a single running sum forces strict sequential adds).
#[inline]
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            let d = ca[k] - cb[k];
            acc[k] += d * d;
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(seed: u32) -> Embedding {
        // Deterministic pseudo-random unit-ish vectors far apart from each other.
        let mut e = [0.0f32; DIM];
        let mut x = seed.wrapping_mul(2654435761).wrapping_add(12345);
        for v in e.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = (x % 1000) as f32 / 1000.0 - 0.5;
        }
        let n = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        e.map(|v| v / n * 1.4)
    }

    fn near(e: &Embedding, by: f32) -> Embedding {
        let mut o = *e;
        o[0] += by;
        o
    }

    #[test]
    fn match_new_and_returning() {
        let mut g = Gallery::new();
        assert!(
            g.search(&[emb(1)], 0.5).is_none(),
            "empty gallery matches nothing"
        );
        let a = g.insert(&[(emb(1), 0.9)], 0);
        let b = g.insert(&[(emb(2), 0.9)], 0);
        let m = g.search(&[near(&emb(1), 0.3)], 0.5).unwrap();
        assert_eq!(m.id, a);
        assert!((m.distance - 0.3).abs() < 1e-4);
        assert_eq!(g.search(&[near(&emb(2), 0.1)], 0.5).unwrap().id, b);
        assert!(g.search(&[emb(3)], 0.5).is_none(), "a stranger");
        // several probe views: the closest pair and every view's nearest both count
        let m = g
            .search(&[near(&emb(2), 0.1), near(&emb(2), 0.3)], 0.5)
            .unwrap();
        assert_eq!(m.id, b);
        assert!((m.distance - 0.15).abs() < 1e-4, "{}", m.distance);
    }

    #[test]
    fn one_lucky_view_does_not_merge_a_visit() {
        let mut g = Gallery::new();
        g.insert(&[(emb(2), 0.9)], 0);
        // one view at 0.45 (under 0.5) but the visit's other view is someone else
        assert!(g.search(&[emb(3), near(&emb(2), 0.45)], 0.5).is_none());
        // the visit distance: closest pair 0.1; nearest per view 0.1 and 0.7 (mean 0.4)
        assert!((visit_distance(&[0.1, 0.9, 0.7, 0.8], 2) - 0.25).abs() < 1e-6);
        assert!((visit_distance(&[0.3], 1) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn search_agrees_with_brute_force_at_scale() {
        // 3,000 identities of 1-3 views: the 8-bit first pass never changes the answer
        let mut g = Gallery::new();
        let mut stored: Vec<(u64, Vec<Embedding>)> = Vec::new();
        for i in 0..3000u32 {
            let views: Vec<Embedding> = (0..1 + i % 3)
                .map(|k| near(&emb(i), k as f32 * 0.2))
                .collect();
            let with_q: Vec<(Embedding, f32)> = views.iter().map(|v| (*v, 0.5)).collect();
            stored.push((g.insert(&with_q, 0), views));
        }
        for probe_seed in [7u32, 1500, 2999, 9999] {
            let probe = [near(&emb(probe_seed), 0.3), near(&emb(probe_seed), -0.25)];
            for radius in [0.5f32, 1.0, 2.0] {
                let mut expect: Option<Match> = None;
                for (id, views) in &stored {
                    let pairs: Vec<f32> = probe
                        .iter()
                        .flat_map(|p| views.iter().map(move |v| squared_distance(v, p).sqrt()))
                        .collect();
                    let d = visit_distance(&pairs, probe.len());
                    if d < radius && expect.is_none_or(|b| d < b.distance) {
                        expect = Some(Match {
                            id: *id,
                            distance: d,
                            last_seen: 0,
                        });
                    }
                }
                assert_eq!(
                    g.search(&probe, radius),
                    expect,
                    "seed {probe_seed} radius {radius}"
                );
            }
        }
    }

    #[test]
    fn expiry_with_a_fake_clock() {
        let hour = 3_600_000_000_000u64;
        let mut g = Gallery::new();
        let a = g.insert(&[(emb(1), 0.9)], 0);
        g.insert(&[(emb(2), 0.9)], 5 * hour);
        g.revisit(a, &[], 6 * hour, true);
        assert_eq!(g.expire(13 * hour, 12 * hour), 0);
        assert_eq!(
            g.expire(17 * hour + 1, 12 * hour),
            1,
            "identity 2 last seen at 5 h"
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g.embedding_count(), 1);
        assert_eq!(g.search(&[emb(1)], 0.5).unwrap().id, a);
        assert!(
            g.search(&[emb(2)], 0.5).is_none(),
            "expired identities are erased"
        );
        assert_eq!(g.identities()[0].visits, 2);
    }

    #[test]
    fn capacity_erases_the_least_recently_seen() {
        let mut g = Gallery::new();
        for i in 0..10u32 {
            g.insert(&[(emb(i), 0.9)], i as u64 * 10);
        }
        // identity 1 (seen at 0) comes back: now the oldest is identity 2
        g.revisit(1, &[], 1000, true);
        assert_eq!(g.enforce_capacity(7), 3);
        let ids: Vec<u64> = g.identities().iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![1, 5, 6, 7, 8, 9, 10]);
        assert_eq!(g.embedding_count(), 7);
        assert_eq!(g.search(&[emb(0)], 0.5).unwrap().id, 1);
        assert!(g.search(&[emb(1)], 0.5).is_none());
    }

    #[test]
    fn keeps_the_best_views_per_identity() {
        let mut g = Gallery::new();
        let views: Vec<(Embedding, f32)> = (0..12)
            .map(|i| (near(&emb(1), i as f32 * 0.01), i as f32 / 12.0))
            .collect();
        let a = g.insert(&views, 0);
        assert_eq!(g.embedding_count(), MAX_EMBEDDINGS_PER_IDENTITY);
        // the worst views (offsets 0.00..0.03) were replaced by better ones
        let m = g.search(&[emb(1)], 0.5).unwrap();
        assert_eq!(m.id, a);
        assert!((m.distance - 0.04).abs() < 1e-4, "{}", m.distance);
    }
}
