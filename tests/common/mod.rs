//! Helpers shared by the integration tests: locating ../shared, initialising GStreamer with
//! the plugin registered statically, and running pipelines while collecting face metadata.
#![allow(dead_code)]

pub mod leaks;
pub mod mqtt;
pub mod postgres;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;
use gstfootfall::meta::embeddings::EmbeddingMeta;
use gstfootfall::meta::{self, faces::FaceRegion};

/// The checkout's root (the workspace: it holds Cargo.lock), whichever crate's tests run;
/// this file is shared by the plugin's tests and the application's (`app/tests`).
pub fn project_root() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(&crate_dir)
        .to_path_buf()
}

/// `../shared` beside the checkout, or `$FOOTFALL_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FOOTFALL_SHARED_DIR") {
        return PathBuf::from(p);
    }
    project_root().join("..").join("shared")
}

pub fn shared(rel: &str) -> PathBuf {
    let p = shared_dir().join(rel);
    assert!(
        p.exists(),
        "test material {} is missing (../shared must sit beside the checkout)",
        p.display()
    );
    p
}

/// The detector model the tests use: the shared copy, unless FOOTFALL_MODELS_DIR says otherwise.
pub fn detector_model() -> PathBuf {
    match std::env::var_os("FOOTFALL_MODELS_DIR") {
        Some(d) => PathBuf::from(d).join("face_detector.onnx"),
        None => shared("models/face_detector.onnx"),
    }
}

/// The detector settings of the counting job (`footfallbin`, `footfall count`): detect on
/// every 3rd frame, skip still empty scenes. The counting tests run at the defaults users get.
pub const COUNTING_DETECTOR: &str = "inference-interval=3 motion-threshold=8";

/// The counting chain on shared clip `clip` (e.g. `synth/synth_returns`): `pre` goes before
/// the detector (e.g. `identity sleep-time=… !`), `embed` adds `faceembedder` (mode=tracks
/// needs none), `counter` holds facecounter's properties; the sink is named `sink`.
pub fn counting_chain(clip: &str, pre: &str, embed: bool, counter: &str) -> String {
    let embedder = if embed {
        format!(
            "! faceembedder model={}",
            shared("models/face_embedder.onnx").display()
        )
    } else {
        String::new()
    };
    format!(
        "filesrc location={} ! decodebin ! videoconvert ! {pre} facedetector model={} {COUNTING_DETECTOR} ! facetracker {embedder} \
         ! facecounter {counter} ! fakesink name=sink sync=false",
        shared(&format!("media/{clip}.mp4")).display(),
        detector_model().display(),
    )
}

/// Every shared clip (real, synthetic and entrance, `.mp4`), sorted.
pub fn every_clip() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["real", "synth", "entrance"] {
        for e in std::fs::read_dir(shared(&format!("media/{dir}"))).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "mp4") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gst::init().unwrap();
        gstfootfall::plugin_register_static().expect("register footfall plugin");
    });
}

/// The last line of a JSON-lines file (the counter's final counts), parsed.
pub fn last_json_line(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let last = text
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{} is empty", path.display()));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{}: {e}: {last}", path.display()))
}

/// Builds a pipeline from a gst-launch description, the error naming what failed.
pub fn launch(desc: &str) -> Result<gst::Pipeline, String> {
    init();
    gst::parse::launch(desc)
        .map_err(|e| format!("parse: {e} ('{desc}')"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| format!("'{desc}' is a single element, not a pipeline"))
}

/// Sets `pipeline` to PLAYING and waits for EOS, an error or `timeout` (None: 600 s).
/// Returns the warnings seen on the way, or the error: the first element error, with every
/// other error posted together with a failed state change. Leaves the pipeline running:
/// the caller sets NULL.
pub fn play_to_eos(
    pipeline: &gst::Pipeline,
    timeout: Option<std::time::Duration>,
) -> Result<Vec<String>, String> {
    let (error, warnings) = play(pipeline, timeout);
    error.map_or(Ok(warnings), Err)
}

/// [`play_to_eos`]'s run: the error, if any, and the warnings, also those before an error.
fn play(
    pipeline: &gst::Pipeline,
    timeout: Option<std::time::Duration>,
) -> (Option<String>, Vec<String>) {
    let started = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let deadline =
        std::time::Instant::now() + timeout.unwrap_or(std::time::Duration::from_secs(600));
    let (mut error, mut warnings) = (None, Vec::new());
    if let Err(e) = started {
        error = Some(format!("state change failed: {e}"));
    }
    while error.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            error = Some("timeout".into());
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    // Drain the bus for an error posted together with the failed state change.
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            let text = format!("{} ({:?})", e.error(), e.debug());
            error = Some(match error.take() {
                Some(prev) if !prev.contains(&text) => format!("{prev}; {text}"),
                _ => text,
            });
        }
    }
    (error, warnings)
}

/// What a pipeline run produced.
#[derive(Debug, Default)]
pub struct Run {
    /// Per buffer reaching the sink: (pts ns, detector ran?, faces).
    pub frames: Vec<(Option<u64>, Option<bool>, Vec<FaceRegion>)>,
    /// Per buffer: (track id, quality) of the embeddings it carries.
    pub embeddings: Vec<Vec<(u64, f32)>>,
    /// Per buffer: tracks whose visit ended.
    pub ended: Vec<Vec<u64>>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// Runs `desc` (which must contain an element named `sink` whose sink pad sees the faces)
/// until EOS, error or `timeout_s`, and collects per-buffer face metadata.
pub fn run_pipeline(desc: &str, timeout_s: u64) -> Run {
    init();
    let pipeline = match gst::parse::launch(desc) {
        Ok(p) => p.downcast::<gst::Pipeline>().unwrap(),
        Err(e) => {
            return Run {
                error: Some(format!("parse: {e}")),
                ..Default::default()
            }
        }
    };
    let frames = Arc::new(Mutex::new(Vec::new()));
    let extra = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let x2 = extra.clone();
    let sink = pipeline
        .by_name("sink")
        .expect("pipeline needs an element named sink");
    let pad = sink.static_pad("sink").unwrap();
    let f2 = frames.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            f2.lock().unwrap().push((
                buf.pts().map(|t| t.nseconds()),
                meta::detection::detection_ran(buf),
                meta::faces::read_faces(buf),
            ));
            let e = EmbeddingMeta::read(buf)
                .iter()
                .map(|e| (e.track_id, e.quality))
                .collect();
            let mut x = x2.lock().unwrap();
            x.0.push(e);
            x.1.push(meta::tracks::ended_tracks(buf));
        }
        gst::PadProbeReturn::Ok
    });
    let (error, warnings) = play(&pipeline, Some(std::time::Duration::from_secs(timeout_s)));
    let mut run = Run {
        error,
        warnings,
        ..Default::default()
    };
    pipeline.set_state(gst::State::Null).unwrap();
    run.frames = std::mem::take(&mut *frames.lock().unwrap());
    let mut x = extra.lock().unwrap();
    run.embeddings = std::mem::take(&mut x.0);
    run.ended = std::mem::take(&mut x.1);
    run
}

/// One face of `models/eval/reference_outputs.json` (PROVENANCE.md §4).
#[derive(Debug, serde::Deserialize)]
pub struct RefFace {
    pub path: String,
    pub image_wh: [u32; 2],
    pub faces_found: usize,
    pub box_xyxy: [f32; 4],
    pub score: f32,
    pub landmarks_xy: [[f32; 2]; 5],
    pub chip_from_image_affine_2x3: [[f64; 3]; 2],
    pub embedding: Vec<f32>,
}

#[derive(Debug, serde::Deserialize)]
struct Reference {
    faces: Vec<RefFace>,
}

/// The 45 reference faces of the eval photos.
pub fn reference_faces() -> Vec<RefFace> {
    let f = std::fs::File::open(shared("models/eval/reference_outputs.json")).unwrap();
    serde_json::from_reader::<_, Reference>(f).unwrap().faces
}

/// Writes a 20x10 mosaic of 200 real faces (the eval photos' faces, cycled, 64 px cells)
/// to `path`.
pub fn write_mosaic_of_200_faces(path: &std::path::Path) {
    use image::{imageops, RgbImage};
    let eval = shared("models/eval");
    let cell = 64u32;
    let mut canvas = RgbImage::new(20 * cell, 10 * cell);
    let crops: Vec<RgbImage> = reference_faces()
        .iter()
        .map(|f| {
            let img = image::open(eval.join(&f.path)).unwrap().to_rgb8();
            let [x1, y1, x2, y2] = f.box_xyxy;
            // square crop around the face box with a margin, inside the photo
            let side = (((x2 - x1).max(y2 - y1) * 1.4) as u32)
                .min(img.width())
                .min(img.height());
            let cx = (((x1 + x2) / 2.0) as i64 - side as i64 / 2)
                .clamp(0, (img.width() - side) as i64) as u32;
            let cy = (((y1 + y2) / 2.0) as i64 - side as i64 / 2)
                .clamp(0, (img.height() - side) as i64) as u32;
            let crop = imageops::crop_imm(&img, cx, cy, side, side).to_image();
            imageops::resize(&crop, cell, cell, imageops::FilterType::Triangle)
        })
        .collect();
    for i in 0..200u32 {
        let c = &crops[i as usize % crops.len()];
        imageops::replace(
            &mut canvas,
            c,
            ((i % 20) * cell) as i64,
            ((i / 20) * cell) as i64,
        );
    }
    canvas.save(path).unwrap();
}

/// A folder holding only the plugin built for this test run, for GST_PLUGIN_PATH of child
/// processes. Not the test binary's own folder: it also holds the proc-macro libraries,
/// which GStreamer's plugin scanner loads as well (with them on the path a child once
/// never got past start-up).
pub fn plugin_dir() -> PathBuf {
    let built = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("libgstfootfall.so");
    assert!(built.is_file(), "{} not built", built.display());
    let dir = std::env::temp_dir().join(format!("footfall-plugin-{}", std::process::id()));
    let link = dir.join("libgstfootfall.so");
    std::fs::create_dir_all(&dir).unwrap();
    if std::fs::read_link(&link).ok().as_deref() != Some(built.as_path()) {
        let _ = std::fs::remove_file(&link);
        // Two tests of one binary may race here: the loser finds the link made.
        let _ = std::os::unix::fs::symlink(&built, &link);
    }
    dir
}

/// A TCP port free on 127.0.0.1 right now (for a server that must keep its port across a
/// restart, or a child process told where to listen).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
