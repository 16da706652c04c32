//! Visits from face tracks alone. This is the evidence that a person was seen, in both
//! modes: the biometric mode identifies the visits it finds here (and counts those it
//! cannot identify as unidentified visitors); `facecounter mode=tracks`, for sites without
//! consent for biometric processing, counts them without identifying anyone. No embedding is read or kept, so
//! nobody can be recognised — and so a returning visitor counts again: `unique_visitors`
//! equals `visits` here (an upper bound of the people who came).
//!
//! What keeps it honest without identities: a track must stay in view long enough with a
//! confident face (flickers, backs of heads and passing non-faces do not count), and a
//! track that starts where another ended moments before continues that visit (the tracker
//! lost the face behind someone; it is not a new person).

use std::collections::HashMap;

use super::visits::{Counts, Outcome};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackParams {
    /// Frames a track must be in view to be a visit.
    pub min_frames: u32,
    /// The track's best detection score must reach this…
    pub min_best_score: f32,
    /// …unless it was in view this many frames: a face followed that long is a person
    /// even if no single detection was confident (masked, pitched, blurred faces score
    /// 0.8-0.85; backs of heads and non-faces flicker out within a few frames).
    pub long_track_frames: u32,
    /// The best score a long track still needs (one-by-one-person-detection's back of a
    /// head followed for 117 frames peaks at 0.78; masked corridor faces at 0.82-0.85).
    pub long_track_min_score: f32,
    /// A track starting within this long (ns) of another's end…
    pub merge_window: u64,
    /// …and this many face widths from where it ended continues that visit.
    pub merge_distance: f32,
}

impl Default for TrackParams {
    fn default() -> Self {
        TrackParams {
            min_frames: 15,
            min_best_score: 0.85,
            long_track_frames: 45,
            long_track_min_score: 0.8,
            merge_window: 1_000_000_000,
            merge_distance: 0.5,
        }
    }
}

/// The detector's and tracker's verdict on a finished track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// In view long enough with a confident face: a person was here.
    Visit,
    /// Started where a counted track ended moments before: the same person.
    Continues,
    /// A flicker, the back of a head, a passing non-face.
    NotAVisit,
}

/// Frames two tracks must be seen apart (boxes disjoint, same frame) to be two people. One
/// face can carry two tracks for a while (a duplicate detection, a re-acquired track before
/// the old one is given up), but then the boxes overlap.
pub const APART_FRAMES: u32 = 5;

#[derive(Debug, Clone)]
struct Span {
    frames: u32,
    first_seen: u64,
    /// Last frame the face was in view (the tracker ends a track some time after that).
    last_seen: u64,
    best_score: f32,
    first_center: (f32, f32),
    last_center: (f32, f32),
    width: f32,
    /// Other tracks seen in the same frames with a disjoint box, and on how many frames.
    apart: Vec<(u64, u32)>,
}

/// Where and when a track that counted (or continued one) was last seen.
#[derive(Debug, Clone, Copy)]
struct Ending {
    at: u64,
    center: (f32, f32),
    width: f32,
}

#[derive(Debug, Default)]
pub struct TrackVisits {
    live: HashMap<u64, Span>,
    recent: Vec<Ending>,
    /// The faces observed on the current frame (reused: no allocation per frame).
    this_frame: Vec<(u64, (u32, u32, u32, u32))>,
}

fn disjoint(a: (u32, u32, u32, u32), b: (u32, u32, u32, u32)) -> bool {
    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1
}

fn center((x, y, w, h): (u32, u32, u32, u32)) -> (f32, f32) {
    (x as f32 + w as f32 / 2.0, y as f32 + h as f32 / 2.0)
}

impl TrackVisits {
    /// The confirmed track was in view at `now` with this face box and detection score.
    pub fn observe(&mut self, track: u64, now: u64, rect: (u32, u32, u32, u32), score: f32) {
        let c = center(rect);
        let s = self.live.entry(track).or_insert(Span {
            frames: 0,
            first_seen: now,
            last_seen: now,
            best_score: 0.0,
            first_center: c,
            last_center: c,
            width: rect.2 as f32,
            apart: Vec::new(),
        });
        s.frames += 1;
        s.last_seen = now;
        s.best_score = s.best_score.max(score);
        s.last_center = c;
        s.width = s.width.max(rect.2 as f32);
    }

    /// The detector found the face of `track` at `rect` on this frame (not a box the tracker
    /// predicted: a track coasting on its motion model drifts away from its face, which would
    /// look like two people).
    pub fn detected(&mut self, track: u64, rect: (u32, u32, u32, u32)) {
        self.this_frame.push((track, rect));
    }

    /// Ends the frame whose faces were [`TrackVisits::detected`]: tracks detected on it with
    /// disjoint boxes are noted as different people.
    pub fn frame_done(&mut self) {
        for i in 0..self.this_frame.len() {
            for j in i + 1..self.this_frame.len() {
                let ((a, ra), (b, rb)) = (self.this_frame[i], self.this_frame[j]);
                if disjoint(ra, rb) {
                    self.note_apart(a, b);
                    self.note_apart(b, a);
                }
            }
        }
        self.this_frame.clear();
    }

    fn note_apart(&mut self, track: u64, other: u64) {
        if let Some(s) = self.live.get_mut(&track) {
            match s.apart.iter_mut().find(|(t, _)| *t == other) {
                Some((_, n)) => *n += 1,
                None => s.apart.push((other, 1)),
            }
        }
    }

    /// Live tracks seen apart from `track` for [`APART_FRAMES`]: other people than it.
    pub fn others_than(&self, track: u64) -> Vec<u64> {
        self.live.get(&track).map_or_else(Vec::new, |s| {
            s.apart
                .iter()
                .filter(|(t, n)| *n >= APART_FRAMES && self.live.contains_key(t))
                .map(|(t, _)| *t)
                .collect()
        })
    }

    pub fn live(&self) -> Vec<u64> {
        self.live.keys().copied().collect()
    }

    /// Tracks in view whose visit is not decided yet.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Forgets a track that died unconfirmed (never a visit).
    /// How long the live `track` has been in view: first to last seen (ns).
    pub fn dwell(&self, track: u64) -> Option<u64> {
        self.live
            .get(&track)
            .map(|s| s.last_seen.saturating_sub(s.first_seen))
    }

    pub fn forget(&mut self, track: u64) {
        self.live.remove(&track);
    }

    /// What the detector and tracker say of the finished track, with no face recognition:
    /// a person seen, the continuation of one seen moments before, or not a visit.
    pub fn judge(&mut self, track: u64, now: u64, p: &TrackParams) -> Evidence {
        let Some(s) = self.live.remove(&track) else {
            return Evidence::NotAVisit;
        };
        self.recent
            .retain(|e| now.saturating_sub(e.at) <= p.merge_window.saturating_mul(4));
        let continues = self.recent.iter().any(|e| {
            let gap_ok = s.first_seen >= e.at.saturating_sub(p.merge_window / 4)
                && s.first_seen <= e.at + p.merge_window;
            let (dx, dy) = (s.first_center.0 - e.center.0, s.first_center.1 - e.center.1);
            gap_ok && (dx * dx + dy * dy).sqrt() <= p.merge_distance * e.width.max(s.width)
        });
        let seen = s.frames >= p.min_frames
            && (s.best_score >= p.min_best_score
                || (s.frames >= p.long_track_frames && s.best_score >= p.long_track_min_score));
        if continues || seen {
            // Either way the person was here until now: a later fragment continues this.
            self.recent.push(Ending {
                at: s.last_seen,
                center: s.last_center,
                width: s.width,
            });
        }
        if continues {
            Evidence::Continues
        } else if seen {
            Evidence::Visit
        } else {
            Evidence::NotAVisit
        }
    }

    /// Decides the finished track in `mode=tracks`: a visit (counted as
    /// [`Outcome::Unidentified`], a visitor that cannot be de-duplicated), or nothing.
    pub fn end(&mut self, track: u64, now: u64, p: &TrackParams, counts: &mut Counts) -> Outcome {
        if self.judge(track, now, p) != Evidence::Visit {
            return Outcome::Ignored;
        }
        counts.count_unidentified();
        Outcome::Unidentified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn walk(v: &mut TrackVisits, track: u64, from: u64, frames: u32, x: u32, score: f32) -> u64 {
        let mut t = from;
        for i in 0..frames {
            t = from + i as u64 * S / 15;
            v.observe(track, t, (x + i, 100, 40, 40), score);
        }
        t
    }

    #[test]
    fn a_long_confident_track_is_a_visit_a_flicker_is_not() {
        let (mut v, mut c, p) = (
            TrackVisits::default(),
            Counts::default(),
            TrackParams::default(),
        );
        let end = walk(&mut v, 1, 0, 30, 10, 0.95);
        assert_eq!(v.end(1, end, &p, &mut c), Outcome::Unidentified);
        let end = walk(&mut v, 2, 10 * S, 5, 400, 0.95);
        assert_eq!(v.end(2, end, &p, &mut c), Outcome::Ignored, "too short");
        let end = walk(&mut v, 3, 20 * S, 40, 400, 0.6);
        assert_eq!(
            v.end(3, end, &p, &mut c),
            Outcome::Ignored,
            "never a confident face"
        );
        assert_eq!((c.unique_visitors, c.visits, c.returning_visits), (1, 1, 0));
    }

    #[test]
    fn a_fragment_where_a_track_just_ended_continues_the_visit() {
        let (mut v, mut c, p) = (
            TrackVisits::default(),
            Counts::default(),
            TrackParams::default(),
        );
        let end = walk(&mut v, 1, 0, 30, 10, 0.95);
        v.end(1, end, &p, &mut c);
        // Reappears 0.5 s later 20 px on: the same person.
        let end2 = walk(&mut v, 2, end + S / 2, 30, 50, 0.95);
        assert_eq!(v.end(2, end2, &p, &mut c), Outcome::Ignored);
        // Someone at the far side of the frame at the same moment is another visit.
        let end3 = walk(&mut v, 3, end + S / 2, 30, 600, 0.95);
        assert_eq!(v.end(3, end3, &p, &mut c), Outcome::Unidentified);
        // The same place but 10 s later: a new visit (nothing ties them without a face).
        let end4 = walk(&mut v, 4, end2 + 10 * S, 30, 90, 0.95);
        assert_eq!(v.end(4, end4, &p, &mut c), Outcome::Unidentified);
        assert_eq!(c.visits, 3);
    }

    #[test]
    fn tracks_detected_apart_are_other_people_overlapping_ones_are_not() {
        let mut v = TrackVisits::default();
        for f in 0..APART_FRAMES as u64 {
            let t = f * S / 15;
            for (track, x) in [(1, 100), (2, 400), (3, 110)] {
                v.observe(track, t, (x, 100, 40, 40), 0.95);
                v.detected(track, (x, 100, 40, 40));
            }
            v.frame_done();
        }
        // 1 and 3 overlap (one face, two tracks for a while): no evidence either way.
        assert_eq!(v.others_than(1), vec![2]);
        let mut of_2 = v.others_than(2);
        of_2.sort_unstable();
        assert_eq!(of_2, vec![1, 3]);
        // Once a track is decided it is no longer anyone's "other".
        v.judge(2, S, &TrackParams::default());
        assert!(v.others_than(1).is_empty());
    }

    #[test]
    fn too_few_frames_apart_are_no_evidence() {
        let mut v = TrackVisits::default();
        for f in 0..(APART_FRAMES - 1) as u64 {
            for (track, x) in [(1, 100), (2, 400)] {
                v.observe(track, f, (x, 100, 40, 40), 0.95);
                v.detected(track, (x, 100, 40, 40));
            }
            v.frame_done();
        }
        assert!(v.others_than(1).is_empty());
    }
}
