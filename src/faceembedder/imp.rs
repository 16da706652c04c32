//! GStreamer glue of `faceembedder`: picks the faces worth embedding, cuts their chips from
//! the full-resolution frame, runs the embedder once per frame as a batch and attaches
//! [`EmbeddingMeta`].

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::detect::geometry::BBox;
use crate::embed::align::{ChipExtractor, CHIP};
use crate::embed::embedder::{Embedder, Embedding};
use crate::embed::policy::{EmbedPolicy, EmbedScheduler};
use crate::embed::quality;
use crate::embedding_meta::{EmbeddingMeta, FaceEmbedding};
use crate::face_meta::{self, FaceRegion};
use crate::models;
use crate::onnx_runtime::load_for_element;
use crate::video_frame::VideoLayout;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "faceembedder",
        gst::DebugColorFlags::empty(),
        Some("Footfall face embedder"),
    )
});

const DEFAULT_BATCH: u32 = 8;
const DEFAULT_THREADS: u32 = 1;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    device: String,
    threads: u32,
    batch_size: u32,
    policy: EmbedPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            device: "cpu".into(),
            threads: DEFAULT_THREADS,
            batch_size: DEFAULT_BATCH,
            policy: EmbedPolicy::default(),
        }
    }
}

struct Worker {
    embedder: Embedder,
    chips: ChipExtractor,
    scheduler: EmbedScheduler,
    /// Chips of this frame's batch, planar RGB, back to back (never leave the element).
    batch: Vec<f32>,
    embeddings: Vec<Embedding>,
    /// Per-frame reading and selection, kept between frames (no allocation per frame).
    faces: Vec<FaceRegion>,
    boxes: Vec<BBox>,
    gone: Vec<u64>,
    candidates: Vec<Candidate>,
    /// (track, quality) of the chips in `batch`.
    chosen: Vec<(u64, f32)>,
}

#[derive(Default)]
struct State {
    worker: Option<Worker>,
    video: Option<VideoLayout>,
    frames: u64,
    warned_untracked: bool,
}

#[derive(Default)]
pub struct FaceEmbedder {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

/// A face chosen for embedding on this frame.
struct Candidate {
    track: u64,
    landmarks: [[f32; 2]; 5],
    geometric: f32,
}

impl FaceEmbedder {
    fn embed_frame(
        &self,
        buf: &mut gst::BufferRef,
        policy: &EmbedPolicy,
        batch_size: u32,
    ) -> Result<usize, String> {
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let frame_no = state.frames;
        state.frames += 1;
        let video = state
            .video
            .as_ref()
            .ok_or("no caps negotiated before the first buffer")?;
        let worker = state.worker.as_mut().ok_or("embedder not started")?;
        for read in [face_meta::ended_tracks_into, face_meta::dropped_tracks_into] {
            read(buf, &mut worker.gone);
            for &track in &worker.gone {
                worker.scheduler.forget(track);
            }
        }
        if frame_no.is_multiple_of(1000) {
            worker.scheduler.prune(frame_no);
        }
        face_meta::read_faces_into(buf, &mut worker.faces);
        let faces = &worker.faces;
        // A tracker marks every face with its state (tentative ones have no id yet).
        if !faces.is_empty() && faces.iter().all(|f| f.state.is_none()) && !state.warned_untracked {
            state.warned_untracked = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("faces without track ids: put facetracker before faceembedder (untracked faces are not embedded)")
            );
        }
        let (w, h) = (video.info.width(), video.info.height());
        worker.boxes.clear();
        worker.boxes.extend(faces.iter().map(|f| f.bbox()));
        let boxes = &worker.boxes;
        let candidates = &mut worker.candidates;
        candidates.clear();
        for (i, f) in faces.iter().enumerate() {
            let Some(track) = f.track_id else { continue };
            if f.predicted {
                continue; // no detection on this frame: landmarks are guesses
            }
            let factors = quality::geometric(
                &f.face(),
                boxes
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, b)| *b),
                w,
                h,
            );
            let q = factors.total();
            gst::trace!(
                CAT,
                imp = self,
                "track {} quality {:.3} {:?}",
                track,
                q,
                factors
            );
            if worker.scheduler.wants(policy, track, q, frame_no) {
                candidates.push(Candidate {
                    track,
                    landmarks: f.landmarks,
                    geometric: q,
                });
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        // Cut chips (the only copy of face pixels, inside this element), gate on sharpness.
        let per = 3 * CHIP * CHIP;
        worker.batch.clear();
        let chosen = &mut worker.chosen;
        chosen.clear();
        let candidates = &worker.candidates;
        let chips = &mut worker.chips;
        let batch = &mut worker.batch;
        video.with_frame(buf, |fr| {
            for c in candidates.iter() {
                let start = batch.len();
                batch.resize(start + per, 0.0);
                if chips
                    .extract(fr, &c.landmarks, &mut batch[start..])
                    .is_none()
                {
                    batch.truncate(start);
                    continue;
                }
                let sharp = quality::sharpness(&batch[start..]);
                let q = c.geometric * quality::blur_factor(sharp);
                let skin = quality::lower_face_skin(&batch[start..]);
                gst::trace!(
                    CAT,
                    imp = self,
                    "track {} sharpness {:.3} quality {:.3} lower-face skin {:.2}",
                    c.track,
                    sharp,
                    q,
                    skin
                );
                // A masked view identifies nobody (masked faces look alike): no embedding.
                if q >= policy.min_quality && skin >= policy.mask_gate {
                    chosen.push((c.track, q));
                } else {
                    batch.truncate(start);
                }
            }
        })?;
        worker.embeddings.clear();
        for part in worker.batch.chunks(per * batch_size.max(1) as usize) {
            worker.embedder.embed(part, &mut worker.embeddings)?;
        }
        // The meta owns its Vec: the one allocation, on frames that carry embeddings.
        let items: Vec<FaceEmbedding> = worker
            .chosen
            .iter()
            .zip(&worker.embeddings)
            .map(|(&(track_id, quality), e)| FaceEmbedding {
                track_id,
                embedding: *e,
                quality,
            })
            .collect();
        for it in &items {
            worker.scheduler.record(it.track_id, it.quality, frame_no);
        }
        worker.batch.clear(); // drop face pixels as soon as they are embedded
        let n = items.len();
        if n > 0 {
            EmbeddingMeta::add(buf, items);
        }
        Ok(n)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FaceEmbedder {
    const NAME: &'static str = "GstFootfallFaceEmbedder";
    type Type = super::FaceEmbedder;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceEmbedder {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let p = EmbedPolicy::default();
            let mut props = crate::video_frame::model_properties(
                "Path of the face embedder ONNX model; default: face_embedder.onnx in $FOOTFALL_MODELS_DIR, else in the project's models/ folder",
                DEFAULT_THREADS,
            );
            props.extend([
                glib::ParamSpecFloat::builder("min-quality")
                    .nick("Minimum quality")
                    .blurb("Faces below this quality (size x score x sharpness x pose x unoccluded x inside frame, 0..1) are not embedded")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(p.min_quality)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("mask-gate")
                    .nick("Mask gate")
                    .blurb("Faces whose mouth and chin look less like skin than this fraction of the cheeks (a surgical or cloth mask) are not embedded: masked faces look alike and would merge people; they count as unidentified visitors (0 = off)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(p.mask_gate)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("reembed-interval")
                    .nick("Re-embed interval")
                    .blurb("Minimum frames between two embeddings of one track (a new one needs a clearly better view)")
                    .default_value(p.reembed_interval as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-embeddings")
                    .nick("Maximum embeddings per track")
                    .blurb("Most embeddings computed for one track")
                    .minimum(1)
                    .default_value(p.max_per_track)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most faces per embedder call; the faces of a frame go in as few calls as this allows")
                    .minimum(1)
                    .maximum(256)
                    .default_value(DEFAULT_BATCH)
                    .mutable_playing()
                    .build(),
            ]);
            props
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = value.get().expect("type checked upstream"),
            "device" => {
                s.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| "cpu".into())
            }
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "min-quality" => s.policy.min_quality = value.get().expect("type checked upstream"),
            "mask-gate" => s.policy.mask_gate = value.get().expect("type checked upstream"),
            "reembed-interval" => {
                s.policy.reembed_interval =
                    value.get::<u32>().expect("type checked upstream") as u64
            }
            "max-embeddings" => {
                s.policy.max_per_track = value.get().expect("type checked upstream")
            }
            "batch-size" => s.batch_size = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "min-quality" => s.policy.min_quality.to_value(),
            "mask-gate" => s.policy.mask_gate.to_value(),
            "reembed-interval" => (s.policy.reembed_interval as u32).to_value(),
            "max-embeddings" => s.policy.max_per_track.to_value(),
            "batch-size" => s.batch_size.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceEmbedder {}

impl ElementImpl for FaceEmbedder {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face embedder",
                "Filter/Analyzer/Video",
                "Aligns tracked faces from their landmarks and computes 128-d embeddings (dlib ResNet) \
                 once per track and for clearly better views; attaches them as FootfallEmbeddingMeta",
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

impl BaseTransformImpl for FaceEmbedder {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let (embedder, model, device) = load_for_element(
            s.model.as_deref(),
            models::EMBEDDER_FILE,
            &s.device,
            |m, d| Embedder::load(m, d, s.threads),
        )?;
        gst::info!(
            CAT,
            imp = self,
            "loaded embedder '{}' on {}",
            model.display(),
            device.as_str()
        );
        *self.state.lock().unwrap() = State {
            worker: Some(Worker {
                embedder,
                chips: ChipExtractor::default(),
                scheduler: EmbedScheduler::default(),
                batch: Vec::new(),
                embeddings: Vec::new(),
                faces: Vec::new(),
                boxes: Vec::new(),
                gone: Vec::new(),
                candidates: Vec::new(),
                chosen: Vec::new(),
            }),
            ..State::default()
        };
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let video =
            VideoLayout::from_caps(incaps).map_err(|e| gst::loggable_error!(CAT, "{}", e))?;
        self.state.lock().unwrap().video = Some(video);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (policy, batch_size) = {
            let s = self.settings.lock().unwrap();
            (s.policy, s.batch_size)
        };
        match self.embed_frame(buf, &policy, batch_size) {
            Ok(n) => {
                if n > 0 {
                    gst::trace!(CAT, imp = self, "{} embeddings", n);
                }
                Ok(gst::FlowSuccess::Ok)
            }
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Face embedding failed: {}", e)
                );
                Err(gst::FlowError::Error)
            }
        }
    }
}
