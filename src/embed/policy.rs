//! When to embed: once per track, then again only when a clearly better view arrives, never
//! more often than every `reembed_interval` frames and at most `max_per_track` times.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedPolicy {
    /// Faces below this quality are never embedded.
    pub min_quality: f32,
    /// Views whose lower face is less skin-like than this ([`super::quality::lower_face_skin`])
    /// are taken for masked and not embedded; 0 turns the gate off.
    pub mask_gate: f32,
    /// Minimum frames between two embeddings of one track.
    pub reembed_interval: u64,
    /// A new view must beat the track's best embedded quality by this factor.
    pub improvement: f32,
    /// Most embeddings per track.
    pub max_per_track: u32,
}

impl Default for EmbedPolicy {
    fn default() -> Self {
        EmbedPolicy {
            min_quality: 0.25,
            mask_gate: 0.5,
            reembed_interval: 5,
            improvement: 1.15,
            max_per_track: 5,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    best: f32,
    count: u32,
    last_frame: u64,
}

/// Per-track embedding history.
#[derive(Debug, Default)]
pub struct EmbedScheduler {
    records: HashMap<u64, Record>,
}

/// Records idle this long (frames) are dropped even without an `ended` notice.
const STALE_FRAMES: u64 = 10_000;

impl EmbedScheduler {
    /// Whether a face of `track` with `quality` on `frame` should be embedded.
    pub fn wants(&self, p: &EmbedPolicy, track: u64, quality: f32, frame: u64) -> bool {
        if quality.is_nan() || quality < p.min_quality {
            return false;
        }
        match self.records.get(&track) {
            None => true,
            Some(r) => {
                r.count < p.max_per_track
                    && frame.saturating_sub(r.last_frame) >= p.reembed_interval
                    && quality >= r.best * p.improvement
            }
        }
    }

    /// Notes that `track` was embedded at `quality` on `frame`.
    pub fn record(&mut self, track: u64, quality: f32, frame: u64) {
        let r = self.records.entry(track).or_insert(Record {
            best: 0.0,
            count: 0,
            last_frame: frame,
        });
        r.best = r.best.max(quality);
        r.count += 1;
        r.last_frame = frame;
    }

    /// The track ended: its history is no longer needed.
    pub fn forget(&mut self, track: u64) {
        self.records.remove(&track);
    }

    /// Drops histories of tracks not embedded for a long time.
    pub fn prune(&mut self, frame: u64) {
        self.records
            .retain(|_, r| frame.saturating_sub(r.last_frame) < STALE_FRAMES);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_then_only_clearly_better_views() {
        let p = EmbedPolicy::default();
        let mut s = EmbedScheduler::default();
        assert!(!s.wants(&p, 1, 0.1, 0), "below min-quality");
        assert!(!s.wants(&p, 1, f32::NAN, 0));
        assert!(s.wants(&p, 1, 0.5, 0));
        s.record(1, 0.5, 0);
        assert!(!s.wants(&p, 1, 0.9, 2), "too soon");
        assert!(!s.wants(&p, 1, 0.55, 10), "not clearly better");
        assert!(s.wants(&p, 1, 0.6, 10));
        assert!(s.wants(&p, 2, 0.3, 10), "other tracks are independent");
    }

    #[test]
    fn capped_per_track_and_forgotten_on_end() {
        let p = EmbedPolicy {
            improvement: 1.0,
            ..EmbedPolicy::default()
        };
        let mut s = EmbedScheduler::default();
        for i in 0..5 {
            assert!(s.wants(&p, 7, 0.9, i * 10));
            s.record(7, 0.9, i * 10);
        }
        assert!(!s.wants(&p, 7, 0.95, 100));
        s.forget(7);
        assert!(s.is_empty());
        s.record(8, 0.5, 0);
        s.prune(20_000);
        assert!(s.is_empty());
    }
}
