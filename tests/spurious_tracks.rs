//! Thousands of spurious one- and two-frame faces (noise, reflections, a passing bag) on a
//! 24/7 camera: `facetracker` reports every tentative track it drops, `facecounter` forgets
//! the views the embedder gave it for them, so its state stays bounded and none of them
//! becomes a visit.

mod common;

use gst::prelude::*;
use gstfootfall::detect::geometry::{BBox, Face};
use gstfootfall::meta;
use gstfootfall::meta::counts::Counts;
use gstfootfall::meta::embeddings::{EmbeddingMeta, FaceEmbedding};

const FRAME: u64 = 66_666_667;
const W: u32 = 640;
const H: u32 = 480;
const FRAMES: u64 = 3000;

/// A face somewhere new on every frame (never near the last one), as noise gives.
fn spurious_face(frame: u64) -> Face {
    let x = ((frame * 7919) % 560) as f32;
    let y = ((frame * 104_729) % 400) as f32;
    Face {
        bbox: BBox::new(x, y, x + 40.0, y + 40.0),
        score: 0.9,
        landmarks: [[x + 20.0, y + 20.0]; 5],
    }
}

fn harness(factory: &str) -> gst_check::Harness {
    let mut h = gst_check::Harness::new(factory);
    h.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={W},height={H},framerate=15/1"
    ));
    h
}

/// What `faceembedder` does for every tracked face, tentative ones included: one view each.
fn embed_every_face(buf: &mut gst::BufferRef, frame: u64) {
    let items: Vec<FaceEmbedding> = meta::faces::read_faces(buf)
        .iter()
        .filter_map(|f| f.track_id)
        .map(|track_id| {
            let mut embedding = [0.0f32; 128];
            embedding[(frame % 128) as usize] = 1.0;
            FaceEmbedding {
                track_id,
                embedding,
                quality: 0.9,
            }
        })
        .collect();
    if !items.is_empty() {
        EmbeddingMeta::add(buf, items);
    }
}

#[test]
fn thousands_of_spurious_tracks_keep_the_counter_bounded_and_count_nobody() {
    common::init();
    let mut tracker = harness("facetracker");
    let mut counter = harness("facecounter");
    counter
        .element()
        .unwrap()
        .set_property("gallery", "spurious-tracks");
    let (mut dropped, mut most_open) = (Vec::new(), 0u32);
    let mut last = None;
    for frame in 0..FRAMES {
        let mut buf = gst::Buffer::from_mut_slice(vec![0u8; (W * H) as usize]);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(frame * FRAME));
            meta::detection::mark_detection(b, true, frame);
            // Every 5th face lingers a second frame (a two-frame track), the rest flash once.
            let f = if frame % 5 == 1 { frame - 1 } else { frame };
            meta::faces::attach_face(b, &spurious_face(f), 0, W, H);
        }
        let mut out = tracker.push_and_pull(buf).unwrap();
        dropped.extend(meta::tracks::dropped_tracks(&out));
        assert!(
            meta::tracks::ended_tracks(&out).is_empty(),
            "no track confirmed"
        );
        embed_every_face(out.make_mut(), frame);
        let counted = counter.push_and_pull(out).unwrap();
        let open: u32 = counter.element().unwrap().property("open-tracks");
        most_open = most_open.max(open);
        last = Counts::read(&counted);
    }
    let mut unique = dropped.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), dropped.len(), "each dropped once");
    assert!(
        dropped.len() as u64 >= FRAMES * 3 / 4,
        "{} of ~{} spurious tracks reported dropped",
        dropped.len(),
        FRAMES * 4 / 5
    );
    println!(
        "{} spurious tracks dropped; at most {most_open} open in the counter",
        dropped.len()
    );
    assert!(
        most_open <= 4,
        "counter state grows: {most_open} open tracks"
    );
    let Counts {
        unique_visitors,
        visits,
        ..
    } = last.expect("counts on every buffer");
    assert_eq!((unique_visitors, visits), (0, 0), "no spurious visit");
    // End of stream decides whatever is left: still nobody.
    assert!(counter.push_event(gst::event::Eos::new()));
}
