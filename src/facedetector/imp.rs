//! GStreamer glue of `facedetector`: properties, caps, and per-frame calls into
//! [`crate::detect`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::detect::geometry::{auto_inference_width, Face, Letterbox};
use crate::detect::motion_gate::{GateDecision, MotionGate};
use crate::detect::preprocess::Preprocessor;
use crate::detect::yunet::{DetectParams, YuNet};
use crate::latency::{stats_spec, LatencyHistogram};
use crate::meta;
use crate::model_element::ModelSettings;
use crate::models;
use crate::video_frame::VideoLayout;
use crate::worker_slot::{Lent, WorkerSlot};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "facedetector",
        gst::DebugColorFlags::empty(),
        Some("Footfall face detector"),
    )
});

const DEFAULT_THRESHOLD: f32 = 0.6;
const DEFAULT_NMS: f32 = 0.3;
const DEFAULT_MIN_FACE: u32 = 0;
const DEFAULT_MAX_FACES: u32 = 256;
/// 0: follow the frame ([`auto_inference_width`]).
const DEFAULT_INFER_W: u32 = 0;
const DEFAULT_INFER_H: u32 = 0;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_THREADS: u32 = 1;
/// Off for a bare detector (faces on every frame it runs); footfallbin turns it on.
const DEFAULT_MOTION: f32 = 0.0;

#[derive(Debug, Clone)]
struct Settings {
    /// `model`, `device`, `threads`.
    onnx: ModelSettings,
    threshold: f32,
    nms_threshold: f32,
    min_face_size: u32,
    max_faces: u32,
    inference_width: u32,
    inference_height: u32,
    inference_interval: u32,
    motion_threshold: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            onnx: ModelSettings::new(DEFAULT_THREADS),
            threshold: DEFAULT_THRESHOLD,
            nms_threshold: DEFAULT_NMS,
            min_face_size: DEFAULT_MIN_FACE,
            max_faces: DEFAULT_MAX_FACES,
            inference_width: DEFAULT_INFER_W,
            inference_height: DEFAULT_INFER_H,
            inference_interval: DEFAULT_INTERVAL,
            motion_threshold: DEFAULT_MOTION,
        }
    }
}

/// The per-stream worker, lent to the streaming thread for each frame.
struct Detector {
    yunet: YuNet,
    pre: Preprocessor,
    faces: Vec<Face>,
    gate: MotionGate,
    /// Frames seen since the element started.
    frames: u64,
}

#[derive(Default)]
pub struct FaceDetector {
    settings: Mutex<Settings>,
    /// Locked only to lend the detector out and take it back: never across inference.
    state: Mutex<WorkerSlot<Detector>>,
    /// Time per detector run (motion-gated skips excluded), for the `stats` property.
    inference: LatencyHistogram,
    frames: AtomicU64,
}

/// What one detector slot did.
enum Slot {
    /// The detector ran and attached this many faces.
    Detected(usize),
    /// The motion gate skipped it: nobody was found last time and nothing has moved.
    Still,
}

impl FaceDetector {
    fn detect_frame(
        &self,
        buf: &mut gst::BufferRef,
        lent: &mut Lent<Detector>,
        params: &DetectParams,
        size: (u32, u32),
        motion: (f32, u32),
    ) -> Result<Slot, String> {
        let (det, video) = (&mut lent.worker, &lent.video);
        let (w, h) = (video.info.width(), video.info.height());
        let width = if size.0 == 0 {
            auto_inference_width(w)
        } else {
            size.0
        };
        let lb = Letterbox::fit(w, h, width, size.1);
        let (threshold, interval) = motion;
        // The gate's forced detection: at least one run per second of video.
        let fps = video.info.fps();
        let per_second = if fps.numer() > 0 && fps.denom() > 0 {
            (fps.numer() as f64 / fps.denom() as f64 / interval.max(1) as f64).ceil() as u32
        } else {
            5
        };
        let still = video.with_frame(buf, |fr| {
            if det.gate.decide(fr, threshold, per_second.max(1)) == GateDecision::Skip {
                return Ok(true);
            }
            let input = det.yunet.input(&lb)?;
            det.pre
                .prepare(fr, &lb, input)
                .map(|_| false)
                .map_err(|e| format!("cannot prepare the frame: {e}"))
        })??;
        if still {
            return Ok(Slot::Still);
        }
        det.faces.clear();
        det.yunet.detect(&lb, params, &mut det.faces)?;
        let mut attached = 0i32;
        for face in &det.faces {
            if meta::faces::attach_face(buf, face, attached, w, h) {
                attached += 1;
            }
        }
        det.gate.detected(det.faces.len());
        Ok(Slot::Detected(attached as usize))
    }
}

/// The properties of which detections are faces: score, overlap, size, how many.
fn face_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecFloat::builder("threshold")
            .nick("Score threshold")
            .blurb("Minimum face score sqrt(cls*obj) to report a face")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_THRESHOLD)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("nms-threshold")
            .nick("NMS IoU threshold")
            .blurb("Overlapping faces with IoU above this are merged into the best-scoring one")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_NMS)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("min-face-size")
            .nick("Minimum face size")
            .blurb("Faces narrower than this many frame pixels are ignored")
            .default_value(DEFAULT_MIN_FACE)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-faces")
            .nick("Maximum faces")
            .blurb("At most this many faces per frame, best scores first (0 = no limit)")
            .default_value(DEFAULT_MAX_FACES)
            .mutable_playing()
            .build(),
    ]
}

/// The properties of when the detector runs and at which size.
fn schedule_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("inference-width")
            .nick("Inference width")
            .blurb(
                "Width the frame is scaled to for the detector, keeping aspect ratio \
                 (0 = automatic: half the frame width, at least 320 and at most 1920, \
                 so a 24-pixel face reaches the model at 12 pixels)",
            )
            .maximum(4096)
            .default_value(DEFAULT_INFER_W)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("inference-height")
            .nick("Inference height")
            .blurb(
                "Maximum height for the detector input, keeping aspect ratio \
                 (0 = follow inference-width)",
            )
            .maximum(4096)
            .default_value(DEFAULT_INFER_H)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("inference-interval")
            .nick("Inference interval")
            .blurb(
                "Run the detector on every Nth frame; other frames pass with no faces \
                 and a detection meta saying detected=false (facetracker fills them)",
            )
            .minimum(1)
            .default_value(DEFAULT_INTERVAL)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("motion-threshold")
            .nick("Motion threshold")
            .blurb(
                "Skip the detector while its last run found no face and no part of \
                 the picture changed by more than this many brightness levels (0-255, \
                 beyond the change of the whole picture); it still runs once a second. \
                 0 = detect on every slot",
            )
            .minimum(0.0)
            .maximum(255.0)
            .default_value(DEFAULT_MOTION)
            .mutable_playing()
            .build(),
    ]
}

#[glib::object_subclass]
impl ObjectSubclass for FaceDetector {
    const NAME: &'static str = "GstFootfallFaceDetector";
    type Type = super::FaceDetector;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceDetector {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = ModelSettings::properties(
                "Path of the YuNet face detector ONNX model; default: face_detector.onnx in $FOOTFALL_MODELS_DIR, else in the project's models/ folder",
                DEFAULT_THREADS,
            );
            props.extend(face_specs());
            props.extend(schedule_specs());
            props.push(stats_spec(
                "frames (guint64) and inference-count, inference-seconds-sum, \
                 inference-bucket-bounds, inference-bucket-counts: a histogram of the \
                 time per detector run",
            ));
            props
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            name if s.onnx.set(name, value) => {}
            "threshold" => s.threshold = value.get().expect("type checked upstream"),
            "nms-threshold" => s.nms_threshold = value.get().expect("type checked upstream"),
            "min-face-size" => s.min_face_size = value.get().expect("type checked upstream"),
            "max-faces" => s.max_faces = value.get().expect("type checked upstream"),
            "inference-width" => s.inference_width = value.get().expect("type checked upstream"),
            "inference-height" => s.inference_height = value.get().expect("type checked upstream"),
            "inference-interval" => {
                s.inference_interval = value.get().expect("type checked upstream")
            }
            "motion-threshold" => s.motion_threshold = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "stats" {
            let mut st = gst::Structure::new_empty("footfall-detector-stats");
            st.set("frames", self.frames.load(Ordering::Relaxed));
            self.inference.write_into("inference", &mut st);
            return st.to_value();
        }
        let s = self.settings.lock().unwrap();
        if let Some(v) = s.onnx.get(pspec.name()) {
            return v;
        }
        match pspec.name() {
            "threshold" => s.threshold.to_value(),
            "nms-threshold" => s.nms_threshold.to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "inference-width" => s.inference_width.to_value(),
            "inference-height" => s.inference_height.to_value(),
            "inference-interval" => s.inference_interval.to_value(),
            "motion-threshold" => s.motion_threshold.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceDetector {}

impl ElementImpl for FaceDetector {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face detector",
                "Filter/Analyzer/Video",
                "Detects faces with the YuNet ONNX model and attaches a GstVideoRegionOfInterestMeta \
                 (type 'face': score, 5 landmarks) per face",
                "Footfall developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = crate::video_frame::caps();
            crate::video_frame::filter_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceDetector {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let (yunet, model, device) = s.onnx.open(models::DETECTOR_FILE, YuNet::load)?;
        gst::info!(
            CAT,
            imp = self,
            "loaded detector '{}' on {}",
            model.display(),
            device.as_str()
        );
        let detector = Detector {
            yunet,
            pre: Preprocessor::new(),
            faces: Vec::new(),
            gate: MotionGate::new(),
            frames: 0,
        };
        let previous = self.state.lock().unwrap().start(detector);
        drop(previous); // a session's teardown, outside the lock
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let detector = self.state.lock().unwrap().stop();
        drop(detector);
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let video =
            VideoLayout::from_caps(incaps).map_err(|e| gst::loggable_error!(CAT, "{}", e))?;
        self.state.lock().unwrap().set_caps(video);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Only the per-frame values, copied under the lock (no per-frame allocation).
        let (params, size, interval, motion) = {
            let s = self.settings.lock().unwrap();
            let params = DetectParams {
                score_threshold: s.threshold,
                nms_iou: s.nms_threshold,
                min_face_size: s.min_face_size as f32,
                max_faces: s.max_faces as usize,
            };
            (
                params,
                (s.inference_width, s.inference_height),
                s.inference_interval,
                s.motion_threshold,
            )
        };
        let mut lent = match self.state.lock().unwrap().lend() {
            Ok(lent) => lent,
            Err(e) => {
                gst::element_imp_error!(self, gst::CoreError::Negotiation, ("{}", e));
                return Err(gst::FlowError::NotNegotiated);
            }
        };
        if lent.new_caps {
            lent.worker.gate.reset();
        }
        let frame = lent.worker.frames;
        lent.worker.frames += 1;
        let run = frame % interval.max(1) as u64 == 0;
        let started = Instant::now();
        let outcome =
            run.then(|| self.detect_frame(buf, &mut lent, &params, size, (motion, interval)));
        if let Some(Ok(Slot::Detected(_))) = outcome {
            self.inference.record(started.elapsed());
        }
        self.frames.fetch_add(1, Ordering::Relaxed);
        let stale = self.state.lock().unwrap().give_back(lent);
        drop(stale);
        let detected = match outcome {
            None => false,
            Some(Ok(Slot::Detected(n))) => {
                gst::trace!(CAT, imp = self, "frame {}: {} faces", frame, n);
                true
            }
            Some(Ok(Slot::Still)) => {
                gst::trace!(CAT, imp = self, "frame {}: no motion, not detected", frame);
                false
            }
            Some(Err(e)) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Face detection failed: {}", e)
                );
                return Err(gst::FlowError::Error);
            }
        };
        meta::detection::mark_detection(buf, detected, frame);
        Ok(gst::FlowSuccess::Ok)
    }
}
