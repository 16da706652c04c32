//! Every shared clip served by a loopback RTSP "camera" and counted through `rtspsrc`: the
//! counts from the bus and the JSON output against the truth, and against the same chain
//! on the file.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::rtsp::LoopbackCamera;
use common::shared;
use gst::prelude::*;

const CHAIN: &str = "videoconvert ! facedetector ! facetracker ! faceembedder";

fn clips_with_truth() -> Vec<(String, PathBuf, serde_json::Value)> {
    let mut v = Vec::new();
    for dir in ["real", "synth"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shared(&format!("media/{dir}")))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .collect();
        files.sort();
        for clip in files {
            let truth = clip.with_extension("truth.json");
            if let Ok(text) = std::fs::read_to_string(&truth) {
                let name = clip.file_stem().unwrap().to_string_lossy().to_string();
                v.push((name, clip, serde_json::from_str(&text).unwrap()));
            }
        }
    }
    v
}

/// Final counts of `source ! CHAIN ! facecounter`: (unique, visits, returning) from the
/// JSON file's last line, checked against the last bus message. A live source never ends
/// by itself when the camera keeps the session open, so after `max` an EOS is sent (the
/// counter then decides the tracks still in view, as at the end of a file).
fn count(source: &str, gallery: &str, max: Duration) -> (u64, u64, u64) {
    let json = std::env::temp_dir().join(format!(
        "footfall-rtsp-{}-{gallery}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&json);
    let desc = format!(
        "{source} ! {CHAIN} ! facecounter gallery={gallery} location={} ! fakesink sync=false",
        json.display()
    );
    let p = gst::parse::launch(&desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let bus = p.bus().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let started = Instant::now();
    let mut bus_counts = None;
    let mut eos_sent = false;
    loop {
        let left = (max + Duration::from_secs(if eos_sent { 60 } else { 0 }))
            .saturating_sub(started.elapsed());
        if left.is_zero() {
            assert!(!eos_sent, "{gallery}: no EOS 60 s after sending one");
            eos_sent = true;
            p.send_event(gst::event::Eos::new());
            continue;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{gallery}: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "footfall-counts") {
                    bus_counts = Some((
                        s.get::<u32>("unique-visitors").unwrap() as u64,
                        s.get::<u32>("visits").unwrap() as u64,
                    ));
                }
            }
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let last = common::last_json_line(&json);
    let f = (
        last["unique_visitors"].as_u64().unwrap(),
        last["visits"].as_u64().unwrap(),
        last["returning_visits"].as_u64().unwrap(),
    );
    assert_eq!(
        bus_counts,
        Some((f.0, f.1)),
        "{gallery}: bus agrees with JSON"
    );
    f
}

fn rtsp_source(url: &str, protocol: &str) -> String {
    format!(
        "rtspsrc location={url} protocols={protocol} latency=300 ! rtph264depay ! h264parse ! avdec_h264"
    )
}

fn file_source(clip: &Path) -> String {
    format!("filesrc location={} ! decodebin", clip.display())
}

/// Sessions counted at the same time: enough that the test takes little longer than the
/// longest clip (they play in real time), few enough that 2 cores keep every chain real time.
const PARALLEL_SESSIONS: usize = 4;

/// Every clip over TCP, longest first on a few workers: counts within the counter issue's
/// targets and equal to the counts from the file.
#[test]
fn every_clip_over_rtsp_counts_like_the_file() {
    // A stuck RTSP session must fail CI, not hang it (once, with 13 sessions at once, one
    // short clip's session never delivered data nor EOS).
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(15 * 60));
        eprintln!(
            "every_clip_over_rtsp_counts_like_the_file: still running after 15 min, aborting"
        );
        std::process::abort();
    });
    let mut clips = clips_with_truth();
    clips.sort_by(|a, b| {
        let d =
            |c: &(String, PathBuf, serde_json::Value)| c.2["video"]["duration_s"].as_f64().unwrap();
        d(b).total_cmp(&d(a))
    });
    let mounts: Vec<(&str, &Path)> = clips
        .iter()
        .map(|(n, c, _)| (n.as_str(), c.as_path()))
        .collect();
    let camera = LoopbackCamera::serve(&mounts);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(
        clips
            .iter()
            .map(|(n, c, t)| (n.clone(), c.clone(), t.clone(), camera.url(n)))
            .collect::<Vec<_>>(),
    ));
    let workers: Vec<_> = (0..PARALLEL_SESSIONS)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut done = Vec::new();
                loop {
                    let next = {
                        let mut q = queue.lock().unwrap();
                        if q.is_empty() {
                            break;
                        }
                        q.remove(0)
                    };
                    let (name, clip, truth, url) = next;
                    let duration = truth["video"]["duration_s"].as_f64().unwrap();
                    let max = Duration::from_secs_f64(duration + 20.0);
                    let over_rtsp = count(&rtsp_source(&url, "tcp"), &format!("rtsp-{name}"), max);
                    let from_file = count(&file_source(&clip), &format!("file-{name}"), max);
                    done.push((name, truth, over_rtsp, from_file));
                }
                done
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (name, truth, rtsp, file) in workers.into_iter().flat_map(|w| w.join().unwrap()) {
        let e = &truth["expected"];
        let lo = e["unique_visitors_range"][0].as_u64().unwrap();
        let hi = e["unique_visitors_range"][1].as_u64().unwrap();
        let target = e["unique_visitors"].as_u64().unwrap();
        // The counter issue's targets: ±5 % on the long clip, otherwise the truth range.
        let ok_range = if name == "synth_long_benchmark" {
            (target as f64 * 0.95).floor() as u64..=(target as f64 * 1.05).ceil() as u64
        } else {
            lo..=hi
        };
        println!(
            "{name}: rtsp unique/visits/returning {rtsp:?}, file {file:?}, truth {target} ({lo}-{hi}), visits {}",
            e["total_visits"]
        );
        if !ok_range.contains(&rtsp.0) {
            failures.push(format!("{name}: {} outside {ok_range:?}", rtsp.0));
        }
        if rtsp != file {
            failures.push(format!("{name}: rtsp {rtsp:?} != file {file:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The same camera over UDP (the default transport of most NVRs on a LAN).
#[test]
fn udp_transport_counts_too() {
    let clip = shared("media/real/face-demographics-walking-and-pause.mp4");
    let camera = LoopbackCamera::serve(&[("walking", clip.as_path())]);
    let f = count(
        &rtsp_source(&camera.url("walking"), "udp"),
        "rtsp-udp-walking",
        Duration::from_secs(30),
    );
    assert_eq!(f.0, 3, "{f:?}");
}
