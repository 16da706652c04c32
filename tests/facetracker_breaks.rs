//! `facetracker` across breaks in the video (a camera reconnect's new stream, a flush, a
//! long gap in timestamps): the tracks in view end there, reported ended on the next
//! buffer so the counter decides their visits, and nobody after the break inherits them.

mod common;

use gstfootfall::detect::geometry::{BBox, Face};
use gstfootfall::meta;

const FRAME: u64 = 66_666_667;

fn face_at(x: f32) -> Face {
    Face {
        bbox: BBox::new(x, 40.0, x + 60.0, 100.0),
        score: 0.9,
        landmarks: [[x + 20.0, 60.0]; 5],
    }
}

/// One 320×240 GRAY8 frame at `pts` holding a detected face at `x`; returns the tracked
/// face ids and the ended track ids on the tracker's output.
fn push(h: &mut gst_check::Harness, pts: u64, x: f32) -> (Vec<u64>, Vec<u64>) {
    let mut buf = gst::Buffer::from_mut_slice(vec![0u8; 320 * 240]);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        meta::detection::mark_detection(b, true, pts / FRAME);
        meta::faces::attach_face(b, &face_at(x), 0, 320, 240);
    }
    let out = h.push_and_pull(buf).unwrap();
    let ids = meta::faces::read_faces(&out)
        .iter()
        .filter_map(|f| f.track_id)
        .collect();
    (ids, meta::tracks::ended_tracks(&out))
}

fn harness() -> gst_check::Harness {
    common::init();
    let mut h = gst_check::Harness::new("facetracker");
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=320,height=240,framerate=15/1");
    h
}

/// Tracks one face for 10 frames from `start`; returns its track id.
fn follow(h: &mut gst_check::Harness, start: u64) -> u64 {
    let mut id = None;
    for i in 0..10 {
        let (ids, ended) = push(h, (start + i) * FRAME, 20.0 + i as f32);
        assert!(ended.is_empty() || i == 0, "{ended:?}");
        id = ids.first().copied().or(id);
    }
    id.expect("the face is tracked")
}

#[test]
fn a_new_stream_ends_the_tracks_in_view() {
    let mut h = harness();
    let first = follow(&mut h, 0);
    // A camera reconnect: a new stream starts; the face seen next (same place) is someone new.
    assert!(h.push_event(gst::event::StreamStart::new("camera-again")));
    let (ids, ended) = push(&mut h, 10 * FRAME, 30.0);
    assert_eq!(
        ended,
        vec![first],
        "the old track ends on the first buffer after"
    );
    assert!(!ids.contains(&first), "{ids:?}");
    let second = follow(&mut h, 11);
    assert!(
        second > first,
        "ids are never reused: {first} then {second}"
    );
}

#[test]
fn a_long_gap_in_timestamps_ends_the_tracks_in_view() {
    let mut h = harness();
    let first = follow(&mut h, 0);
    // 3 s with no frame (the camera froze), then the same spot again.
    let (ids, ended) = push(&mut h, 10 * FRAME + 3_000_000_000, 30.0);
    assert_eq!(ended, vec![first]);
    assert!(!ids.contains(&first), "{ids:?}");
}

#[test]
fn frames_without_a_break_keep_their_track() {
    let mut h = harness();
    let first = follow(&mut h, 0);
    // Half a second apart is no break (a dropped frame or two on a busy machine).
    let (ids, ended) = push(&mut h, 10 * FRAME + 500_000_000, 30.0);
    assert!(ended.is_empty(), "{ended:?}");
    assert_eq!(ids, vec![first]);
}
