//! From tracks to visits: collects each track's best embeddings while it is in view and,
//! when the track ends, decides whether it was a staff visit, a new visitor, a returning
//! visitor, or the continuation of a visit that an occlusion split.

use std::collections::HashMap;

use super::gallery::{Gallery, Match};
use super::track_visits::Evidence;
use crate::embed::embedder::Embedding;

/// Best views kept per track for the decision.
const VIEWS_PER_TRACK: usize = 5;

/// How far past `match_threshold` the search still looks, so a new visitor's event can say
/// how close the nearest known identity was (the decision's margin).
pub const REPORT_BEYOND_THRESHOLD: f32 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountParams {
    /// Visit distance ([`crate::count::gallery::visit_distance`], Euclidean on the raw
    /// embeddings) under which a visit is someone already in the gallery.
    pub match_threshold: f32,
    /// Identities are erased this long after they were last seen (ns).
    pub retention: u64,
    /// Most identities in the gallery; the least recently seen go first.
    pub capacity: usize,
    /// A track matching an identity last seen less than this before the track started
    /// continues that visit (an occlusion or a detector gap split it) (ns).
    pub merge_window: u64,
    /// Embedded tracks in view for fewer frames than this open no new identity unless the
    /// track evidence ([`Evidence::Visit`]) says a person was seen.
    pub min_track_frames: u32,
    /// Count visits that could not be identified (no usable view: mask, blur, pitch, a
    /// small face) as unidentified visitors; false leaves them out of every count.
    pub count_unidentified: bool,
}

impl Default for CountParams {
    fn default() -> Self {
        CountParams {
            // Tuned on the synth clips (0.51-0.53 all give exact counts on the short ones).
            match_threshold: 0.52,
            retention: 12 * 3600 * 1_000_000_000,
            capacity: 100_000,
            merge_window: 2_000_000_000,
            min_track_frames: 5,
            count_unidentified: true,
        }
    }
}

/// Site totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub unique_visitors: u64,
    pub visits: u64,
    pub returning_visits: u64,
    pub staff_visits: u64,
    /// Visits of people seen but not identified (counted in `visits` and, one person each,
    /// in `unique_visitors`: they cannot be de-duplicated).
    pub unidentified_visits: u64,
}

impl Counts {
    /// What was added since `before` (each field; `self` never goes below `before`).
    pub fn since(&self, before: &Counts) -> Counts {
        Counts {
            unique_visitors: self.unique_visitors.saturating_sub(before.unique_visitors),
            visits: self.visits.saturating_sub(before.visits),
            returning_visits: self
                .returning_visits
                .saturating_sub(before.returning_visits),
            staff_visits: self.staff_visits.saturating_sub(before.staff_visits),
            unidentified_visits: self
                .unidentified_visits
                .saturating_sub(before.unidentified_visits),
        }
    }

    /// A person seen but not identified: one visit, and one visitor (an upper bound).
    pub fn count_unidentified(&mut self) {
        self.unique_visitors += 1;
        self.visits += 1;
        self.unidentified_visits += 1;
    }
}

/// What a finished track turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// First visit of someone not in the gallery; `nearest` is the visit distance to the
    /// closest identity when one was within the threshold + [`REPORT_BEYOND_THRESHOLD`].
    New { identity: u64, nearest: Option<f32> },
    /// Someone seen before (within the retention window).
    Returning { identity: u64, distance: f32 },
    /// The same visit as an identity seen moments before: not counted again.
    Continued { identity: u64, distance: f32 },
    /// Matches the staff gallery: excluded from the visitor counts.
    Staff { distance: f32 },
    /// A person seen (track evidence) but never identified (no usable view): a new visitor
    /// that cannot be matched later.
    Unidentified,
    /// No visit: never confirmed, no track evidence and no identity, or a fragment.
    Ignored,
}

#[derive(Debug, Default, Clone)]
struct TrackViews {
    views: Vec<(Embedding, f32)>,
    /// Frames the track was in view confirmed (0: only ever tentative).
    frames: u32,
    first_seen: u64,
    /// Identities of tracks seen beside this one (other people): never this one's.
    not: Vec<u64>,
}

/// A finished track: its id, when it ended (ns) and what the tracker says of it.
#[derive(Debug, Clone)]
pub struct TrackEnd {
    pub track: u64,
    pub now: u64,
    pub evidence: Evidence,
    /// Tracks still in view that were seen beside this one
    /// ([`super::track_visits::TrackVisits::others_than`]): whoever this was, they are not.
    pub others: Vec<u64>,
}

/// Per-element state: the tracks in view and their views so far.
#[derive(Debug, Default)]
pub struct VisitBuilder {
    tracks: HashMap<u64, TrackViews>,
}

impl VisitBuilder {
    /// The confirmed track was in view on a frame at `now`.
    pub fn observe(&mut self, track: u64, now: u64) {
        let t = self.tracks.entry(track).or_insert_with(|| TrackViews {
            first_seen: now,
            ..Default::default()
        });
        t.frames += 1;
    }

    /// Forgets a track that died unconfirmed (its views were of no visit).
    pub fn forget(&mut self, track: u64) {
        self.tracks.remove(&track);
    }

    /// Tracks held (confirmed or not), for tests of boundedness.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// A new embedding of `track` (kept if among its best views).
    pub fn add_view(&mut self, track: u64, embedding: Embedding, quality: f32, now: u64) {
        let t = self.tracks.entry(track).or_insert_with(|| TrackViews {
            first_seen: now,
            ..Default::default()
        });
        t.views.push((embedding, quality));
        t.views.sort_by(|a, b| b.1.total_cmp(&a.1));
        t.views.truncate(VIEWS_PER_TRACK);
    }

    /// Live track ids (to end them all at end of stream).
    pub fn live(&self) -> Vec<u64> {
        self.tracks.keys().copied().collect()
    }

    /// Decides the visit of a finished track and updates `gallery` and `counts`.
    /// `evidence` is the track's own verdict ([`super::track_visits::TrackVisits::judge`]):
    /// whether a person was seen is decided there; the views only say who.
    pub fn end(
        &mut self,
        ended: TrackEnd,
        p: &CountParams,
        gallery: &mut Gallery,
        staff: Option<&Gallery>,
        counts: &mut Counts,
    ) -> Outcome {
        let TrackEnd {
            track,
            now,
            evidence,
            others,
        } = ended;
        let Some(t) = self.tracks.remove(&track) else {
            return Outcome::Ignored;
        };
        if t.frames == 0 {
            return Outcome::Ignored; // never confirmed: no visit, whatever it looked like
        }
        if t.views.is_empty() {
            if evidence == Evidence::Visit && p.count_unidentified {
                counts.count_unidentified();
                return Outcome::Unidentified;
            }
            return Outcome::Ignored;
        }
        let outcome = Self::identify(&t, evidence, now, p, gallery, staff, counts);
        if let Some(id) = outcome.identity() {
            for other in others {
                if let Some(o) = self.tracks.get_mut(&other) {
                    o.not.push(id);
                }
            }
        }
        outcome
    }

    /// Who the finished, confirmed, embedded track `t` was: staff, someone in the gallery
    /// (not one of the people seen beside it), or someone new.
    fn identify(
        t: &TrackViews,
        evidence: Evidence,
        now: u64,
        p: &CountParams,
        gallery: &mut Gallery,
        staff: Option<&Gallery>,
        counts: &mut Counts,
    ) -> Outcome {
        let probe: Vec<Embedding> = t.views.iter().map(|v| v.0).collect();
        if let Some(m) = staff.and_then(|s| s.search(&probe, p.match_threshold)) {
            counts.staff_visits += 1;
            return Outcome::Staff {
                distance: m.distance,
            };
        }
        let radius = p.match_threshold + REPORT_BEYOND_THRESHOLD;
        let nearest = gallery.search_except(&probe, radius, &t.not);
        match nearest {
            Some(Match {
                id,
                distance,
                last_seen,
            }) if distance < p.match_threshold => {
                let continued = t.first_seen <= last_seen.saturating_add(p.merge_window);
                gallery.revisit(id, &t.views, now, !continued);
                if continued {
                    Outcome::Continued {
                        identity: id,
                        distance,
                    }
                } else {
                    counts.visits += 1;
                    counts.returning_visits += 1;
                    Outcome::Returning {
                        identity: id,
                        distance,
                    }
                }
            }
            _ if evidence == Evidence::Continues => Outcome::Ignored,
            _ if t.frames < p.min_track_frames && evidence != Evidence::Visit => Outcome::Ignored,
            _ => {
                let id = gallery.insert(&t.views, now);
                counts.unique_visitors += 1;
                counts.visits += 1;
                Outcome::New {
                    identity: id,
                    nearest: nearest.map(|m| m.distance),
                }
            }
        }
    }
}

impl Outcome {
    /// The gallery identity the visit was found to be, if any.
    pub fn identity(&self) -> Option<u64> {
        match *self {
            Outcome::New { identity, .. }
            | Outcome::Returning { identity, .. }
            | Outcome::Continued { identity, .. } => Some(identity),
            Outcome::Staff { .. } | Outcome::Unidentified | Outcome::Ignored => None,
        }
    }

    /// The visit distance behind the decision, if there was a candidate: to the matched
    /// identity, or to the nearest one for a new visitor.
    pub fn distance(&self) -> Option<f32> {
        match *self {
            Outcome::New { nearest, .. } => nearest,
            Outcome::Returning { distance, .. }
            | Outcome::Continued { distance, .. }
            | Outcome::Staff { distance } => Some(distance),
            Outcome::Unidentified | Outcome::Ignored => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::embedder::DIM;

    const SEEN: Evidence = Evidence::Visit;

    fn ended(track: u64, now: u64, evidence: Evidence) -> TrackEnd {
        TrackEnd {
            track,
            now,
            evidence,
            others: Vec::new(),
        }
    }

    fn person(k: usize) -> Embedding {
        let mut e = [0.0f32; DIM];
        e[k] = 1.0;
        e
    }

    fn visit(b: &mut VisitBuilder, track: u64, who: Embedding, from: u64, frames: u32) {
        for f in 0..frames as u64 {
            b.observe(track, from + f);
        }
        b.add_view(track, who, 0.8, from);
    }

    #[test]
    fn new_returning_staff_and_ignored() {
        let p = CountParams {
            merge_window: 10,
            ..CountParams::default()
        };
        let (mut g, mut staff, mut c) = (Gallery::new(), Gallery::new(), Counts::default());
        staff.insert(&[(person(9), 1.0)], 0);
        let mut b = VisitBuilder::default();
        visit(&mut b, 1, person(0), 0, 10);
        assert!(matches!(
            b.end(ended(1, 10, SEEN), &p, &mut g, Some(&staff), &mut c),
            Outcome::New { .. }
        ));
        visit(&mut b, 2, person(0), 1000, 10);
        assert!(matches!(
            b.end(ended(2, 1010, SEEN), &p, &mut g, Some(&staff), &mut c),
            Outcome::Returning { .. }
        ));
        visit(&mut b, 3, person(9), 2000, 10);
        assert!(matches!(
            b.end(ended(3, 2010, SEEN), &p, &mut g, Some(&staff), &mut c),
            Outcome::Staff { .. }
        ));
        // observed but never embedded, and no track evidence (the back of a head)
        b.observe(4, 3000);
        let none = Evidence::NotAVisit;
        assert_eq!(
            b.end(ended(4, 3001, none), &p, &mut g, Some(&staff), &mut c),
            Outcome::Ignored
        );
        // a short unmatched fragment with no track evidence opens no identity
        visit(&mut b, 5, person(1), 4000, 2);
        assert_eq!(
            b.end(ended(5, 4002, none), &p, &mut g, Some(&staff), &mut c),
            Outcome::Ignored
        );
        assert_eq!(
            c,
            Counts {
                unique_visitors: 1,
                visits: 2,
                returning_visits: 1,
                staff_visits: 1,
                unidentified_visits: 0,
            }
        );
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn a_person_seen_but_never_identified_is_an_unidentified_visit() {
        let p = CountParams::default();
        let (mut g, mut c) = (Gallery::new(), Counts::default());
        let mut b = VisitBuilder::default();
        for f in 0..20 {
            b.observe(1, f); // masked, blurred or small: never a usable view
            b.observe(2, f); // the same, but no track evidence
        }
        assert_eq!(
            b.end(ended(1, 20, SEEN), &p, &mut g, None, &mut c),
            Outcome::Unidentified
        );
        let none = Evidence::NotAVisit;
        assert_eq!(
            b.end(ended(2, 20, none), &p, &mut g, None, &mut c),
            Outcome::Ignored
        );
        let cont = Evidence::Continues;
        b.observe(3, 30);
        assert_eq!(
            b.end(ended(3, 31, cont), &p, &mut g, None, &mut c),
            Outcome::Ignored
        );
        assert_eq!(
            (c.unique_visitors, c.visits, c.unidentified_visits),
            (1, 1, 1)
        );
        assert!(
            g.is_empty(),
            "nothing to remember of an unidentified visitor"
        );
        let off = CountParams {
            count_unidentified: false,
            ..p
        };
        b.observe(4, 40);
        assert_eq!(
            b.end(ended(4, 41, SEEN), &off, &mut g, None, &mut c),
            Outcome::Ignored
        );
    }

    #[test]
    fn a_track_never_confirmed_is_no_visit_and_can_be_forgotten() {
        let p = CountParams::default();
        let (mut g, mut c) = (Gallery::new(), Counts::default());
        g.insert(&[(person(0), 1.0)], 0);
        let mut b = VisitBuilder::default();
        // the embedder embeds tentative faces too: views, but never observed confirmed
        b.add_view(1, person(0), 0.9, 10);
        assert_eq!(
            b.end(ended(1, 20, SEEN), &p, &mut g, None, &mut c),
            Outcome::Ignored
        );
        for track in 2..1002 {
            b.add_view(track, person(1), 0.9, track);
            b.forget(track);
        }
        assert!(b.is_empty());
        assert_eq!(c, Counts::default());
    }

    /// Parameters with a 50-ns merge window, an empty gallery, counts and builder.
    fn short_window() -> (CountParams, Gallery, Counts, VisitBuilder) {
        let p = CountParams {
            merge_window: 50,
            ..CountParams::default()
        };
        (
            p,
            Gallery::new(),
            Counts::default(),
            VisitBuilder::default(),
        )
    }

    #[test]
    fn a_split_visit_is_continued_not_counted_again() {
        let (p, mut g, mut c, mut b) = short_window();
        visit(&mut b, 1, person(0), 0, 20);
        b.end(ended(1, 20, SEEN), &p, &mut g, None, &mut c);
        // reappears 30 ns later (inside the merge window) as a new track
        visit(&mut b, 2, person(0), 50, 3);
        assert!(matches!(
            b.end(ended(2, 53, Evidence::NotAVisit), &p, &mut g, None, &mut c),
            Outcome::Continued { .. }
        ));
        assert_eq!((c.unique_visitors, c.visits), (1, 1));
        assert_eq!(g.identities()[0].visits, 1);
    }

    #[test]
    fn a_track_seen_beside_another_is_not_that_identity() {
        let (p, mut g, mut c, mut b) = short_window();
        // Two people in view together; the second looks like the first to the embedder
        // (a small, compressed face), but they were seen side by side.
        visit(&mut b, 1, person(0), 0, 20);
        visit(&mut b, 2, person(0), 0, 20);
        let first = TrackEnd {
            others: vec![2],
            ..ended(1, 20, SEEN)
        };
        assert!(matches!(
            b.end(first, &p, &mut g, None, &mut c),
            Outcome::New { .. }
        ));
        assert!(
            matches!(
                b.end(ended(2, 21, SEEN), &p, &mut g, None, &mut c),
                Outcome::New { .. }
            ),
            "not a continuation of the person beside it"
        );
        assert_eq!((c.unique_visitors, c.visits), (2, 2));
        // Without that evidence the same views continue one visit.
        visit(&mut b, 3, person(1), 100, 20);
        visit(&mut b, 4, person(1), 100, 20);
        b.end(ended(3, 120, SEEN), &p, &mut g, None, &mut c);
        assert!(matches!(
            b.end(ended(4, 121, SEEN), &p, &mut g, None, &mut c),
            Outcome::Continued { .. }
        ));
    }
}
