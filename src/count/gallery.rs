//! The de-duplicating gallery: identities made of a few embeddings each, matched by the
//! minimum pairwise Euclidean distance (the metric the dlib embedder was trained for),
//! expiring `retention` after they were last seen, bounded by a capacity.
//!
//! Time is passed in explicitly (nanoseconds on any monotonic clock), so tests use a fake
//! clock and the element uses the pipeline clock.
//!
//! Storage is one flat `Vec<f32>` of all embeddings plus an owner per row, so a search is a
//! single pass over contiguous memory that the compiler vectorises.

use crate::embed::embedder::{Embedding, DIM};

/// Embeddings kept per identity (the best views).
pub const MAX_EMBEDDINGS_PER_IDENTITY: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: u64,
    pub last_seen: u64,
    pub first_seen: u64,
    pub visits: u32,
    /// Qualities of the stored embeddings, in row order.
    qualities: Vec<f32>,
}

/// Result of a search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub id: u64,
    pub distance: f32,
}

#[derive(Debug, Default)]
pub struct Gallery {
    identities: Vec<Identity>,
    /// Row-major embeddings, `DIM` floats per row.
    rows: Vec<f32>,
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

    /// The identity closest to any of `probe` (minimum over all probe × stored pairs), if any
    /// is closer than `threshold`.
    pub fn search(&self, probe: &[Embedding], threshold: f32) -> Option<Match> {
        let mut best: Option<(usize, f32)> = None;
        let t2 = threshold * threshold;
        for p in probe {
            for (row, v) in self.rows.chunks_exact(DIM).enumerate() {
                let d2 = squared_distance(v, p);
                if d2 < t2 && best.is_none_or(|(_, b)| d2 < b) {
                    best = Some((row, d2));
                }
            }
        }
        best.map(|(row, d2)| Match {
            id: self.identities[self.owner[row] as usize].id,
            distance: d2.sqrt(),
        })
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
            qualities: Vec::new(),
        });
        self.add_embeddings(id, embeddings);
        id
    }

    /// Marks a returning visit of `id` at `now` and merges its new views.
    pub fn revisit(&mut self, id: u64, embeddings: &[(Embedding, f32)], now: u64, new_visit: bool) {
        if let Some(i) = self.index_of(id) {
            let ident = &mut self.identities[i];
            ident.last_seen = ident.last_seen.max(now);
            if new_visit {
                ident.visits += 1;
            }
            self.add_embeddings(id, embeddings);
        }
    }

    fn index_of(&self, id: u64) -> Option<usize> {
        self.identities.iter().position(|i| i.id == id)
    }

    /// Stores views of `id`, keeping its best [`MAX_EMBEDDINGS_PER_IDENTITY`] by quality.
    fn add_embeddings(&mut self, id: u64, embeddings: &[(Embedding, f32)]) {
        let Some(idx) = self.index_of(id) else { return };
        for (e, q) in embeddings {
            let n = self.identities[idx].qualities.len();
            if n < MAX_EMBEDDINGS_PER_IDENTITY {
                self.rows.extend_from_slice(e);
                self.owner.push(idx as u32);
                self.identities[idx].qualities.push(*q);
                continue;
            }
            // Replace the worst stored view if this one is better.
            let (worst_k, worst_q) = self.identities[idx]
                .qualities
                .iter()
                .copied()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("non-empty");
            if *q > worst_q {
                let row = self
                    .owner
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| **o as usize == idx)
                    .nth(worst_k)
                    .map(|(r, _)| r)
                    .expect("row of a stored view");
                self.rows[row * DIM..(row + 1) * DIM].copy_from_slice(e);
                self.identities[idx].qualities[worst_k] = *q;
            }
        }
    }

    /// Erases identities not seen since `now - retention`; returns how many.
    pub fn expire(&mut self, now: u64, retention: u64) -> usize {
        let cutoff = now.saturating_sub(retention);
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
        if removed == 0 {
            return 0;
        }
        let mut new_index = vec![u32::MAX; keep.len()];
        let mut n = 0u32;
        for (k, &kept) in keep.iter().enumerate() {
            if kept {
                new_index[k] = n;
                n += 1;
            }
        }
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut owner = Vec::with_capacity(self.owner.len());
        for (r, o) in self.owner.iter().enumerate() {
            let ni = new_index[*o as usize];
            if ni != u32::MAX {
                rows.extend_from_slice(&self.rows[r * DIM..(r + 1) * DIM]);
                owner.push(ni);
            }
        }
        // Erased embeddings are overwritten, not just forgotten.
        self.rows.iter_mut().for_each(|v| *v = 0.0);
        self.rows = rows;
        self.owner = owner;
        let mut k = 0;
        self.identities.retain(|_| {
            let kept = keep[k];
            k += 1;
            kept
        });
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
        // minimum over several probe views
        let m = g.search(&[emb(3), near(&emb(2), 0.45)], 0.5).unwrap();
        assert_eq!(m.id, b);
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
