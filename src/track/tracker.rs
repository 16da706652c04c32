//! Multi-face tracker: stable ids across frames from IoU association on motion-predicted
//! boxes, two-stage matching of high- then low-score detections in the spirit of ByteTrack.
//!
//! Call [`Tracker::update`] on frames the detector ran on and [`Tracker::predict`] on the
//! others; both return every face to show on that frame plus the confirmed tracks that ended.

use crate::detect::geometry::{BBox, Face};

use super::velocity::VelocityModel;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerParams {
    /// Minimum IoU between a predicted track box and a detection to associate them.
    pub iou_threshold: f32,
    /// Detections at or above this score may start tracks and are matched first; weaker ones
    /// only continue existing confirmed tracks (ByteTrack's second stage).
    pub high_score: f32,
    /// Matched detections a track needs before it is confirmed.
    pub min_hits: u32,
    /// Frames a confirmed track survives without a matching detection before it ends.
    pub max_age: u32,
    /// Most simultaneous tracks; further faces stay untracked.
    pub max_tracks: usize,
}

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            iou_threshold: 0.2,
            high_score: 0.75,
            min_hits: 3,
            max_age: 30,
            max_tracks: 256,
        }
    }
}

/// What a face on the current frame is, track-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Seen fewer than `min_hits` times: may be spurious.
    Tentative,
    /// Confirmed on this very frame.
    New,
    /// Confirmed earlier and still followed.
    Tracked,
    /// No track (tracker full, or a low-score detection continuing nothing).
    Untracked,
}

impl TrackState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrackState::Tentative => "tentative",
            TrackState::New => "new",
            TrackState::Tracked => "tracked",
            TrackState::Untracked => "untracked",
        }
    }

    /// The state named `name` (as [`TrackState::as_str`] writes it), if any.
    pub fn parse(name: &str) -> Option<TrackState> {
        [
            TrackState::Tentative,
            TrackState::New,
            TrackState::Tracked,
            TrackState::Untracked,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// A confirmed track followed on this frame (`new` or `tracked`): a person in view.
    pub fn is_confirmed(&self) -> bool {
        matches!(self, TrackState::New | TrackState::Tracked)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFace {
    /// `None` for [`TrackState::Untracked`].
    pub track_id: Option<u64>,
    pub face: Face,
    pub state: TrackState,
    /// True when the box is the motion prediction, not a detection of this frame.
    pub predicted: bool,
    /// Index into the detections passed to `update` (None when predicted).
    pub detection: Option<usize>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct FrameTracks {
    pub faces: Vec<TrackedFace>,
    /// Confirmed tracks that ended on this frame (the visit is over).
    pub ended: Vec<u64>,
    /// Tentative tracks that died unconfirmed on this frame (never a visit): later stages
    /// forget whatever they kept for them.
    pub dropped: Vec<u64>,
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    motion: VelocityModel,
    hits: u32,
    confirmed: bool,
    /// Frame of the last matched detection.
    last_seen: u64,
    /// Last matched face (landmarks are carried along predicted boxes).
    last_face: Face,
    /// Matched at the most recent detection frame: shown (predicted) on skipped frames.
    visible: bool,
}

impl Track {
    fn predicted_face(&self, now: u64) -> Face {
        let b = self.motion.predicted((now - self.last_seen) as u32);
        let l = &self.last_face;
        let (sx, sy) = (
            b.width() / l.bbox.width().max(1.0),
            b.height() / l.bbox.height().max(1.0),
        );
        let mut landmarks = l.landmarks;
        for p in &mut landmarks {
            p[0] = b.x1 + (p[0] - l.bbox.x1) * sx;
            p[1] = b.y1 + (p[1] - l.bbox.y1) * sy;
        }
        Face {
            bbox: b,
            score: l.score,
            landmarks,
        }
    }
}

pub struct Tracker {
    params: TrackerParams,
    tracks: Vec<Track>,
    scratch: Scratch,
    next_id: u64,
    /// Frames seen so far (update + predict calls).
    frame: u64,
}

/// Centre distance a detection may be from a track's predicted box, in box widths, per frame
/// since the track was last seen (capped): the fallback when boxes no longer overlap
/// because a face moved more than its own width between detections (low frame rates,
/// `inference-interval`, young tracks whose velocity is not known yet).
const DIST_GATE_PER_FRAME: f32 = 0.8;
const DIST_GATE_MAX: f32 = 2.0;
/// Most vertical centre distance (box widths) from the predicted box for that fallback:
/// faces cross a camera's view sideways or grow as they approach; a face one row higher in
/// a group is someone else (synth_groups_lighting: a track whose face was missed jumped to
/// the face above it, and the two people became three identities).
const VERTICAL_GATE: f32 = 0.75;

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0)
}

/// Working memory of one association, kept between frames (no allocation per frame).
#[derive(Debug, Default)]
struct Association {
    /// (tier, score, track, detection); tier 0 by IoU, tier 1 by closeness.
    pairs: Vec<(u8, f32, usize, usize)>,
    used_t: Vec<usize>,
    used_d: Vec<usize>,
}

/// A pair of boxes as association sees it: tier 0 with its IoU when they overlap by at
/// least `min_iou`, else tier 1 with minus the centre distance when within the distance
/// gate; `None` when they cannot be one face.
fn pair_score(tb: &BBox, gap: u32, db: &BBox, min_iou: f32) -> Option<(u8, f32)> {
    let iou = tb.iou(db);
    if iou >= min_iou {
        return Some((0, iou));
    }
    let size = tb.width().max(db.width()).max(1.0);
    let ratio = db.width() / tb.width().max(1.0);
    let ((tx, ty), (dx, dy)) = (centre(tb), centre(db));
    let d = ((tx - dx).powi(2) + (ty - dy).powi(2)).sqrt() / size;
    let gate = (DIST_GATE_PER_FRAME * gap as f32).min(DIST_GATE_MAX);
    let vertical = (ty - dy).abs() / size;
    let plausible = d <= gate && vertical <= VERTICAL_GATE && (2.0 / 3.0..=1.5).contains(&ratio);
    plausible.then_some((1, -d))
}

/// Greedy assignment: pairs overlapping by at least `min_iou` first, by descending IoU; then
/// the remaining pairs within the distance gate, nearest first. Each entry of `tracks` is
/// (track index, predicted box, frames since last seen). Appends (track, detection) pairs
/// to `out`.
fn associate(
    tracks: &[(usize, BBox, u32)],
    dets: &[(usize, BBox)],
    min_iou: f32,
    work: &mut Association,
    out: &mut Vec<(usize, usize)>,
) {
    let Association {
        pairs,
        used_t,
        used_d,
    } = work;
    pairs.clear();
    used_t.clear();
    used_d.clear();
    for (ti, tb, gap) in tracks {
        for (di, db) in dets {
            if let Some((tier, score)) = pair_score(tb, *gap, db, min_iou) {
                pairs.push((tier, score, *ti, *di));
            }
        }
    }
    // Unstable sort (no allocation) with ties broken in the order the pairs were made
    // (track, then detection): the same order a stable sort gives.
    pairs.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    for &(_, _, t, d) in pairs.iter() {
        if !used_t.contains(&t) && !used_d.contains(&d) {
            used_t.push(t);
            used_d.push(d);
            out.push((t, d));
        }
    }
}

/// Per-frame working memory of [`Tracker::update`].
#[derive(Debug, Default)]
struct Scratch {
    predicted: Vec<(usize, BBox, u32)>,
    high: Vec<(usize, BBox)>,
    low: Vec<(usize, BBox)>,
    left: Vec<(usize, BBox, u32)>,
    matches: Vec<(usize, usize)>,
    det_taken: Vec<bool>,
    association: Association,
}

impl FrameTracks {
    fn clear(&mut self) {
        self.faces.clear();
        self.ended.clear();
        self.dropped.clear();
    }
}

impl Tracker {
    pub fn new(params: TrackerParams) -> Self {
        Tracker {
            params,
            tracks: Vec::new(),
            scratch: Scratch::default(),
            next_id: 1,
            frame: 0,
        }
    }

    pub fn params(&self) -> &TrackerParams {
        &self.params
    }

    pub fn set_params(&mut self, params: TrackerParams) {
        self.params = params;
    }

    /// Number of live tracks (tentative and confirmed).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// A frame the detector ran on, with its detections (frame pixels).
    pub fn update(&mut self, dets: &[Face]) -> FrameTracks {
        let mut out = FrameTracks::default();
        self.update_into(dets, &mut out);
        out
    }

    /// [`Tracker::update`] into `out` (cleared first): what the element calls per frame, so
    /// that once its buffers have grown a frame allocates nothing.
    pub fn update_into(&mut self, dets: &[Face], out: &mut FrameTracks) {
        out.clear();
        self.frame += 1;
        self.match_detections(dets);
        self.continue_matched(dets, out);
        self.end_unmatched(out);
        self.start_tracks(dets, out);
    }

    /// Fills `scratch.matches` with (track index, detection index): confident detections
    /// against every track, then weak ones against the confirmed tracks left unmatched.
    fn match_detections(&mut self, dets: &[Face]) {
        let now = self.frame;
        let p = self.params;
        let Scratch {
            predicted,
            high,
            low,
            left,
            matches,
            association,
            ..
        } = &mut self.scratch;
        predicted.clear();
        predicted.extend(self.tracks.iter().enumerate().map(|(i, t)| {
            let gap = (now - t.last_seen) as u32;
            (i, t.motion.predicted(gap), gap)
        }));
        high.clear();
        low.clear();
        for (i, d) in dets.iter().enumerate() {
            let side = if d.score >= p.high_score {
                &mut *high
            } else {
                &mut *low
            };
            side.push((i, d.bbox));
        }
        matches.clear();
        // Stage 1: confident detections against every track.
        associate(predicted, high, p.iou_threshold, association, matches);
        // Stage 2: weak detections only continue confirmed tracks left unmatched.
        left.clear();
        left.extend(
            predicted.iter().copied().filter(|(t, _, _)| {
                self.tracks[*t].confirmed && !matches.iter().any(|m| m.0 == *t)
            }),
        );
        associate(left, low, p.iou_threshold, association, matches);
    }

    /// Moves the matched tracks to their detections and reports them.
    fn continue_matched(&mut self, dets: &[Face], out: &mut FrameTracks) {
        let now = self.frame;
        let min_hits = self.params.min_hits;
        let Scratch {
            matches, det_taken, ..
        } = &mut self.scratch;
        det_taken.clear();
        det_taken.resize(dets.len(), false);
        for t in self.tracks.iter_mut() {
            t.visible = false;
        }
        for &(ti, di) in matches.iter() {
            let t = &mut self.tracks[ti];
            let d = &dets[di];
            t.motion.update(&d.bbox, (now - t.last_seen) as u32);
            t.last_seen = now;
            t.last_face = *d;
            t.hits += 1;
            t.visible = true;
            let state = if t.confirmed {
                TrackState::Tracked
            } else if t.hits >= min_hits {
                t.confirmed = true;
                TrackState::New
            } else {
                TrackState::Tentative
            };
            det_taken[di] = true;
            out.faces.push(TrackedFace {
                track_id: Some(t.id),
                face: *d,
                state,
                predicted: false,
                detection: Some(di),
            });
        }
    }

    /// Unmatched tracks: tentative ones were probably spurious (dropped); confirmed ones
    /// age and end after `max_age` frames unseen.
    fn end_unmatched(&mut self, out: &mut FrameTracks) {
        let now = self.frame;
        let max_age = self.params.max_age as u64;
        self.tracks.retain(|t| {
            if t.last_seen == now {
                return true;
            }
            if !t.confirmed {
                out.dropped.push(t.id);
                return false;
            }
            if now - t.last_seen > max_age {
                out.ended.push(t.id);
                return false;
            }
            true
        });
    }

    /// New tracks from confident leftovers; every other leftover is an untracked face.
    fn start_tracks(&mut self, dets: &[Face], out: &mut FrameTracks) {
        let now = self.frame;
        let p = self.params;
        for (i, d) in dets.iter().enumerate() {
            if self.scratch.det_taken[i] {
                continue;
            }
            let can_start = d.score >= p.high_score && self.tracks.len() < p.max_tracks;
            let (track_id, state) = if can_start {
                let id = self.next_id;
                self.next_id += 1;
                let confirmed = p.min_hits <= 1;
                self.tracks.push(Track {
                    id,
                    motion: VelocityModel::new(&d.bbox),
                    hits: 1,
                    confirmed,
                    last_seen: now,
                    last_face: *d,
                    visible: true,
                });
                let state = if confirmed {
                    TrackState::New
                } else {
                    TrackState::Tentative
                };
                (Some(id), state)
            } else {
                (None, TrackState::Untracked)
            };
            out.faces.push(TrackedFace {
                track_id,
                face: *d,
                state,
                predicted: false,
                detection: Some(i),
            });
        }
    }

    /// A frame the detector skipped: faces matched at the last detection frame are shown at
    /// their predicted positions.
    pub fn predict(&mut self) -> FrameTracks {
        let mut out = FrameTracks::default();
        self.predict_into(&mut out);
        out
    }

    /// [`Tracker::predict`] into `out` (cleared first).
    pub fn predict_into(&mut self, out: &mut FrameTracks) {
        out.clear();
        self.frame += 1;
        let now = self.frame;
        let max_age = self.params.max_age as u64;
        self.tracks.retain(|t| {
            if t.confirmed && now - t.last_seen > max_age {
                out.ended.push(t.id);
                return false;
            }
            true
        });
        for t in self.tracks.iter().filter(|t| t.visible) {
            out.faces.push(TrackedFace {
                track_id: Some(t.id),
                face: t.predicted_face(now),
                state: if t.confirmed {
                    TrackState::Tracked
                } else {
                    TrackState::Tentative
                },
                predicted: true,
                detection: None,
            });
        }
    }

    /// Ends every track (end of stream, a break in the video): the confirmed ones in
    /// `ended`, the tentative ones in `dropped`.
    pub fn finish(&mut self) -> FrameTracks {
        let mut out = FrameTracks::default();
        for t in self.tracks.drain(..) {
            if t.confirmed {
                out.ended.push(t.id);
            } else {
                out.dropped.push(t.id);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, s: f32, score: f32) -> Face {
        Face {
            bbox: BBox::from_xywh(x, y, s, s),
            score,
            landmarks: [[x + s * 0.3, y + s * 0.4]; 5],
        }
    }

    #[test]
    fn spurious_single_detection_is_never_confirmed() {
        let mut t = Tracker::new(TrackerParams::default());
        let out = t.update(&[face(100.0, 100.0, 40.0, 0.9)]);
        assert_eq!(out.faces[0].state, TrackState::Tentative);
        let id = out.faces[0].track_id.unwrap();
        let mut dropped = vec![];
        for _ in 0..40 {
            let out = t.update(&[]);
            assert!(out.ended.is_empty(), "a tentative track is no visit");
            dropped.extend(out.dropped);
        }
        assert!(t.is_empty());
        assert_eq!(dropped, vec![id], "reported dropped exactly once");
    }

    #[test]
    fn confirmation_after_min_hits_then_end_after_max_age() {
        let mut t = Tracker::new(TrackerParams::default());
        let states: Vec<TrackState> = (0..4)
            .map(|i| t.update(&[face(100.0 + i as f32, 100.0, 40.0, 0.9)]).faces[0].state)
            .collect();
        assert_eq!(
            states,
            vec![
                TrackState::Tentative,
                TrackState::Tentative,
                TrackState::New,
                TrackState::Tracked
            ]
        );
        let mut ended_at = None;
        for i in 1..=40 {
            let out = t.update(&[]);
            if !out.ended.is_empty() {
                assert_eq!(out.ended, vec![1]);
                ended_at = Some(i);
                break;
            }
        }
        assert_eq!(
            ended_at,
            Some(31),
            "ends on the first frame past max-age 30"
        );
    }

    /// Two faces walk towards each other on the same line, cross, and go on. While they
    /// overlap only the front one (A) is detected. Ids must follow the people.
    #[test]
    fn two_people_crossing_keep_their_ids() {
        let mut t = Tracker::new(TrackerParams::default());
        let (mut id_a, mut id_b) = (None, None);
        for i in 0..80 {
            let xa = 20.0 + 6.0 * i as f32;
            let xb = 500.0 - 6.0 * i as f32;
            let a = face(xa, 200.0, 60.0, 0.9);
            let b = face(xb, 205.0, 60.0, 0.9);
            let dets = if a.bbox.iou(&b.bbox) > 0.3 {
                vec![a]
            } else {
                vec![a, b]
            };
            let out = t.update(&dets);
            let ia = out
                .faces
                .iter()
                .find(|f| f.detection == Some(0))
                .and_then(|f| f.track_id);
            let ib = out
                .faces
                .iter()
                .find(|f| f.detection == Some(1))
                .and_then(|f| f.track_id);
            if i == 5 {
                id_a = ia;
                id_b = ib;
            }
            if i > 5 {
                assert_eq!(ia, id_a, "frame {i}: A switched id");
                if dets.len() == 2 {
                    assert_eq!(ib, id_b, "frame {i}: B switched id");
                }
            }
        }
        assert!(id_a.is_some() && id_b.is_some() && id_a != id_b);
    }

    #[test]
    fn short_occlusion_keeps_the_id() {
        let mut t = Tracker::new(TrackerParams::default());
        let mut id = None;
        for i in 0..40 {
            let x = 50.0 + 4.0 * i as f32;
            let occluded = (15..22).contains(&i);
            let dets = if occluded {
                vec![]
            } else {
                vec![face(x, 100.0, 50.0, 0.9)]
            };
            let out = t.update(&dets);
            if occluded {
                continue;
            }
            let got = out.faces[0].track_id;
            if i == 3 {
                id = got;
            } else if i > 3 {
                assert_eq!(got, id, "frame {i}");
            }
        }
    }

    #[test]
    fn leaving_and_reentering_gets_a_new_id() {
        let mut t = Tracker::new(TrackerParams::default());
        for _ in 0..10 {
            t.update(&[face(100.0, 100.0, 50.0, 0.9)]);
        }
        let mut ended = vec![];
        for _ in 0..40 {
            ended.extend(t.update(&[]).ended);
        }
        assert_eq!(ended, vec![1]);
        let out = t.update(&[face(100.0, 100.0, 50.0, 0.9)]);
        assert_eq!(out.faces[0].track_id, Some(2));
    }

    #[test]
    fn detection_every_third_frame_with_predicted_boxes() {
        let mut t = Tracker::new(TrackerParams::default());
        let mut ids = vec![];
        for i in 0..60u32 {
            let x = 10.0 + 5.0 * i as f32;
            let out = if i % 3 == 0 {
                t.update(&[face(x, 100.0, 50.0, 0.9)])
            } else {
                t.predict()
            };
            assert_eq!(
                out.faces.len(),
                1,
                "frame {i}: the face is shown on every frame"
            );
            let f = &out.faces[0];
            assert_eq!(f.predicted, i % 3 != 0);
            ids.push(f.track_id.unwrap());
            if i > 30 {
                assert!(
                    (f.face.bbox.x1 - x).abs() < 3.0,
                    "frame {i}: predicted {} vs {x}",
                    f.face.bbox.x1
                );
                assert!((f.face.landmarks[0][0] - (x + 15.0)).abs() < 3.0);
            }
        }
        assert!(ids.iter().all(|&i| i == ids[0]));
    }

    #[test]
    fn low_score_detections_continue_but_never_start_tracks() {
        let mut t = Tracker::new(TrackerParams::default());
        let out = t.update(&[face(0.0, 0.0, 40.0, 0.65)]);
        assert_eq!(out.faces[0].state, TrackState::Untracked);
        assert!(t.is_empty());
        for i in 0..5 {
            t.update(&[face(100.0 + i as f32, 0.0, 40.0, 0.9)]);
        }
        let out = t.update(&[face(106.0, 0.0, 40.0, 0.62)]);
        assert_eq!(
            out.faces[0].track_id,
            Some(1),
            "the weak first face used no id"
        );
        assert_eq!(out.faces[0].state, TrackState::Tracked);
    }

    #[test]
    fn max_tracks_and_two_hundred_faces() {
        let mut t = Tracker::new(TrackerParams {
            max_tracks: 150,
            ..TrackerParams::default()
        });
        let dets: Vec<Face> = (0..200)
            .map(|i| face((i % 20) as f32 * 60.0, (i / 20) as f32 * 60.0, 50.0, 0.9))
            .collect();
        for _ in 0..3 {
            let out = t.update(&dets);
            assert_eq!(out.faces.len(), 200);
            assert_eq!(
                out.faces.iter().filter(|f| f.track_id.is_some()).count(),
                150
            );
        }
        assert_eq!(t.len(), 150);
        assert!(t.update(&[]).faces.is_empty());
        assert_eq!(t.finish().ended.len(), 150);
    }

    /// A track whose face was missed does not take over the face of someone one row above
    /// or below it (a group: the two would become one identity and a fragment); a face that
    /// moved sideways further than its width between detections is still followed.
    #[test]
    fn a_missed_face_does_not_jump_to_the_next_row() {
        // Track 1 walks right 10 px a frame, then its face is missed once.
        let walked_then_missed = || {
            let mut t = Tracker::new(TrackerParams::default());
            for i in 0..5 {
                t.update(&[face(100.0 + 10.0 * i as f32, 100.0, 40.0, 0.9)]);
            }
            t.update(&[]);
            t
        };
        let below = walked_then_missed().update(&[face(170.0, 145.0, 40.0, 0.9)]);
        assert_ne!(below.faces[0].track_id, Some(1), "{below:?}");
        let ahead = walked_then_missed().update(&[face(215.0, 100.0, 40.0, 0.9)]);
        assert_eq!(ahead.faces[0].track_id, Some(1), "{ahead:?}");
    }
}
