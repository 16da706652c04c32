//! `footfall detect`: faces per second of stream time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use footfall_app::pipeline_util::play_to_eos;
use gst::prelude::*;
use gstfootfall::meta;

#[derive(clap::Args)]
pub struct Args {
    /// Video file path or URI (file://, rtsp://, http://)
    source: String,
    /// Detector model (default: face_detector.onnx in $FOOTFALL_MODELS_DIR or models/)
    #[arg(long)]
    model: Option<String>,
    /// Width the detector sees (0 = automatic: half the frame width, 320 to 1920)
    #[arg(long, default_value_t = 0)]
    inference_width: u32,
    /// Run the detector on every Nth frame
    #[arg(long, default_value_t = 1)]
    interval: u32,
    /// ONNX Runtime threads
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// cpu or cuda
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Default)]
struct Second {
    index: Option<u64>,
    frames: u64,
    faces: u64,
    max_in_frame: usize,
}

impl Second {
    fn print(&self) {
        if let Some(i) = self.index {
            println!(
                "second {i:>4}: {:>3} frames, {:>4} faces, at most {} in one frame",
                self.frames, self.faces, self.max_in_frame
            );
        }
    }
}

pub fn run(a: Args) -> Result<(), String> {
    let uri = footfall_app::pipeline_util::to_uri(&a.source)?;
    let pipeline = gst::Pipeline::new();
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|e| format!("{name}: {e}"))
    };
    let src = make("uridecodebin")?;
    src.set_property("uri", &uri);
    let convert = make("videoconvert")?;
    let detector = gst::ElementFactory::make("facedetector")
        .property("inference-width", a.inference_width)
        .property("inference-interval", a.interval.max(1))
        .property("threads", a.threads)
        .property("device", &a.device)
        .build()
        .map_err(|e| format!("facedetector: {e}"))?;
    if let Some(m) = &a.model {
        detector.set_property("model", m);
    }
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    pipeline
        .add_many([&src, &convert, &detector, &sink])
        .map_err(|e| e.to_string())?;
    gst::Element::link_many([&convert, &detector, &sink]).map_err(|e| e.to_string())?;
    let convert_weak = convert.downgrade();
    src.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if let (true, Some(convert)) = (is_video, convert_weak.upgrade()) {
            let sinkpad = convert.static_pad("sink").unwrap();
            if !sinkpad.is_linked() {
                let _ = pad.link(&sinkpad);
            }
        }
    });

    let totals = Arc::new(Mutex::new((Second::default(), 0u64, 0u64)));
    let t2 = totals.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buf) = info.buffer() {
                let n = meta::faces::read_faces(buf).len();
                let sec = buf.pts().map(|t| t.seconds()).unwrap_or(0);
                let mut t = t2.lock().unwrap();
                if t.0.index != Some(sec) {
                    t.0.print();
                    t.0 = Second {
                        index: Some(sec),
                        ..Second::default()
                    };
                }
                t.0.frames += 1;
                t.0.faces += n as u64;
                t.0.max_in_frame = t.0.max_in_frame.max(n);
                t.1 += 1;
                t.2 += n as u64;
            }
            gst::PadProbeReturn::Ok
        });

    let started = Instant::now();
    let result = play_to_eos(&pipeline, None);
    let _ = pipeline.set_state(gst::State::Null);
    let t = totals.lock().unwrap();
    t.0.print();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "total: {} frames, {} faces, {:.1} frames/s wall clock",
        t.1,
        t.2,
        t.1 as f64 / secs.max(1e-9)
    );
    result.map(|_| ())
}
