//! detect → track → embed on the synthetic clips: confirmed tracks against the truth's
//! visits (within ±20 % of `total_visits`), how purely each visit maps to one track (id
//! switches), and how many tracks got an embedding.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{run_pipeline, shared};
use gstfootfall::detect::geometry::BBox;
use serde::Deserialize;

#[derive(Deserialize)]
struct Truth {
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    total_visits: usize,
}

struct Row {
    visit: String,
    bbox: BBox,
    visible: bool,
}

fn boxes(clip: &str) -> HashMap<usize, Vec<Row>> {
    let text = std::fs::read_to_string(shared(&format!("media/synth/{clip}.boxes.csv"))).unwrap();
    let mut out: HashMap<usize, Vec<Row>> = HashMap::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let f = |i: usize| c[i].parse::<f32>().unwrap();
        out.entry(c[0].parse().unwrap()).or_default().push(Row {
            visit: c[1].to_string(),
            bbox: BBox::from_xywh(f(3), f(4), f(5), f(6)),
            visible: c[10] == "1",
        });
    }
    out
}

struct Report {
    confirmed: usize,
    truth_visits: usize,
    id_switches: usize,
    mean_purity: f64,
    mixed_tracks: usize,
    embedded_tracks: usize,
    embeddings: usize,
}

fn run_clip(clip: &str, interval: u32) -> Report {
    let truth: Truth = serde_json::from_reader(
        std::fs::File::open(shared(&format!("media/synth/{clip}.truth.json"))).unwrap(),
    )
    .unwrap();
    let rows = boxes(clip);
    let run = run_pipeline(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! facedetector inference-interval={interval} model={} \
             ! facetracker ! faceembedder model={} ! fakesink name=sink sync=false",
            shared(&format!("media/synth/{clip}.mp4")).display(),
            common::detector_model().display(),
            shared("models/face_embedder.onnx").display()
        ),
        900,
    );
    assert!(run.error.is_none(), "{clip}: {:?}", run.error);
    let mut confirmed = BTreeSet::new();
    // visit → sequence of matched track ids (frame order); track → visit → frames
    let mut visit_tracks: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut track_visits: HashMap<u64, HashMap<String, usize>> = HashMap::new();
    for (i, (_, _, faces)) in run.frames.iter().enumerate() {
        for f in faces {
            if matches!(f.state.map(|s| s.as_str()), Some("new") | Some("tracked")) {
                confirmed.insert(f.track_id.unwrap());
            }
        }
        let Some(truth) = rows.get(&i) else { continue };
        let mut used = vec![false; faces.len()];
        for t in truth.iter().filter(|t| t.visible) {
            let best = faces
                .iter()
                .enumerate()
                .filter(|(j, f)| !used[*j] && f.track_id.is_some())
                .map(|(j, f)| (j, f.bbox().iou(&t.bbox)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((j, iou)) = best {
                if iou >= 0.4 {
                    used[j] = true;
                    let id = faces[j].track_id.unwrap();
                    visit_tracks.entry(t.visit.clone()).or_default().push(id);
                    *track_visits
                        .entry(id)
                        .or_default()
                        .entry(t.visit.clone())
                        .or_default() += 1;
                }
            }
        }
    }
    let mut id_switches = 0;
    let mut purity_sum = 0.0;
    for seq in visit_tracks.values() {
        id_switches += seq.windows(2).filter(|w| w[0] != w[1]).count();
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for id in seq {
            *counts.entry(*id).or_default() += 1;
        }
        purity_sum += *counts.values().max().unwrap() as f64 / seq.len() as f64;
    }
    // a track whose frames are split between two visits mixes people
    let mixed_tracks = track_visits
        .values()
        .filter(|v| {
            let total: usize = v.values().sum();
            let top = *v.values().max().unwrap();
            (total - top) * 10 > total
        })
        .count();
    let embedded: BTreeSet<u64> = run.embeddings.iter().flatten().map(|e| e.0).collect();
    let r = Report {
        confirmed: confirmed.len(),
        truth_visits: truth.expected.total_visits,
        id_switches,
        mean_purity: purity_sum / visit_tracks.len().max(1) as f64,
        mixed_tracks,
        embedded_tracks: confirmed.iter().filter(|t| embedded.contains(t)).count(),
        embeddings: run.embeddings.iter().map(|v| v.len()).sum(),
    };
    println!(
        "{clip} interval {interval}: confirmed tracks {} vs truth visits {}; visits found {}; id switches {}; \
         mean visit purity {:.3}; tracks mixing visits {}; confirmed tracks embedded {}/{}; embeddings {}",
        r.confirmed,
        r.truth_visits,
        visit_tracks.len(),
        r.id_switches,
        r.mean_purity,
        r.mixed_tracks,
        r.embedded_tracks,
        r.confirmed,
        r.embeddings
    );
    r
}

fn check(clip: &str, interval: u32) {
    let r = run_clip(clip, interval);
    let (lo, hi) = (r.truth_visits as f64 * 0.8, r.truth_visits as f64 * 1.2);
    assert!(
        (lo..=hi).contains(&(r.confirmed as f64)),
        "{clip}: {} confirmed tracks, truth {} visits",
        r.confirmed,
        r.truth_visits
    );
    assert!(
        r.mean_purity >= 0.9,
        "{clip}: visits split over tracks (purity {:.3})",
        r.mean_purity
    );
    assert!(
        r.embedded_tracks * 10 >= r.confirmed * 9,
        "{clip}: too few tracks embedded"
    );
}

#[test]
fn synth_returns() {
    check("synth_returns", 1);
}

#[test]
fn synth_staff() {
    check("synth_staff", 1);
}

#[test]
fn synth_groups_lighting() {
    check("synth_groups_lighting", 1);
}

#[test]
fn synth_long_benchmark() {
    check("synth_long_benchmark", 1);
}

#[test]
fn synth_returns_detecting_every_third_frame() {
    check("synth_returns", 3);
}
