//! GStreamer glue of `faceembedder`: picks the faces worth embedding, cuts their chips from
//! the full-resolution frame, runs the embedder once per frame as a batch and attaches
//! [`EmbeddingMeta`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::detect::geometry::BBox;
use crate::embed::align::{ChipExtractor, CHIP};
use crate::embed::embedder::{Embedder, Embedding};
use crate::embed::policy::{EmbedPolicy, EmbedScheduler};
use crate::embed::quality;
use crate::latency::{stats_spec, LatencyHistogram};
use crate::meta::embeddings::{EmbeddingMeta, FaceEmbedding};
use crate::meta::{self, faces::FaceRegion};
use crate::model_element::ModelSettings;
use crate::models;
use crate::video_frame::VideoLayout;
use crate::worker_slot::{Lent, WorkerSlot};

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
    /// `model`, `device`, `threads`.
    onnx: ModelSettings,
    batch_size: u32,
    policy: EmbedPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            onnx: ModelSettings::new(DEFAULT_THREADS),
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
    frames: u64,
    warned_untracked: bool,
}

#[derive(Default)]
pub struct FaceEmbedder {
    settings: Mutex<Settings>,
    /// Lent to the streaming thread for each frame: never locked across inference.
    state: Mutex<WorkerSlot<Worker>>,
    /// Time per embedder call (a batch of faces), for the `stats` property.
    inference: LatencyHistogram,
    /// Faces embedded since start.
    embedded: AtomicU64,
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
        lent: &mut Lent<Worker>,
        policy: &EmbedPolicy,
        batch_size: u32,
    ) -> Result<usize, String> {
        let (worker, video) = (&mut lent.worker, &lent.video);
        let frame_no = worker.frames;
        worker.frames += 1;
        worker.forget_gone_tracks(buf, frame_no);
        meta::faces::read_faces_into(buf, &mut worker.faces);
        // A tracker marks every face with its state (tentative ones have no id yet).
        let faces = &worker.faces;
        if !faces.is_empty() && faces.iter().all(|f| f.state.is_none()) && !worker.warned_untracked
        {
            worker.warned_untracked = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("faces without track ids: put facetracker before faceembedder (untracked faces are not embedded)")
            );
        }
        self.choose_candidates(worker, policy, frame_no, video);
        if worker.candidates.is_empty() {
            return Ok(0);
        }
        self.cut_chips(worker, policy, video, buf)?;
        worker.embeddings.clear();
        for part in worker
            .batch
            .chunks(CHIP_FLOATS * batch_size.max(1) as usize)
        {
            let started = Instant::now();
            worker.embedder.embed(part, &mut worker.embeddings)?;
            self.inference.record(started.elapsed());
        }
        self.embedded
            .fetch_add(worker.embeddings.len() as u64, Ordering::Relaxed);
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

    /// Fills `worker.candidates` with the tracked, detected faces of this frame whose
    /// geometric quality the scheduler wants embedded now.
    fn choose_candidates(
        &self,
        worker: &mut Worker,
        policy: &EmbedPolicy,
        frame_no: u64,
        video: &VideoLayout,
    ) {
        let (w, h) = (video.info.width(), video.info.height());
        let faces = &worker.faces;
        worker.boxes.clear();
        worker.boxes.extend(faces.iter().map(|f| f.bbox()));
        let boxes = &worker.boxes;
        worker.candidates.clear();
        for (i, f) in faces.iter().enumerate() {
            let Some(track) = f.track_id else { continue };
            if f.predicted {
                continue; // no detection on this frame: landmarks are guesses
            }
            let others = boxes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| *b);
            let factors = quality::geometric(&f.face(), others, w, h);
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
                worker.candidates.push(Candidate {
                    track,
                    landmarks: f.landmarks,
                    geometric: q,
                });
            }
        }
    }

    /// Cuts the candidates' chips into `worker.batch` (the only copy of face pixels, inside
    /// this element) and keeps those sharp enough and unmasked, in `worker.chosen`.
    fn cut_chips(
        &self,
        worker: &mut Worker,
        policy: &EmbedPolicy,
        video: &VideoLayout,
        buf: &gst::BufferRef,
    ) -> Result<(), String> {
        worker.batch.clear();
        worker.chosen.clear();
        let Worker {
            candidates,
            chips,
            batch,
            chosen,
            ..
        } = worker;
        video.with_frame(buf, |fr| {
            for c in candidates.iter() {
                let start = batch.len();
                batch.resize(start + CHIP_FLOATS, 0.0);
                if chips
                    .extract(fr, &c.landmarks, &mut batch[start..])
                    .is_none()
                {
                    batch.truncate(start);
                    continue;
                }
                let chip = &batch[start..];
                let sharp = quality::sharpness(chip);
                let q = c.geometric * quality::blur_factor(sharp);
                let skin = quality::lower_face_skin(chip);
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
        })
    }
}

impl Worker {
    /// Forgets the scheduler's record of tracks that ended or were dropped on this buffer.
    fn forget_gone_tracks(&mut self, buf: &gst::BufferRef, frame_no: u64) {
        for read in [
            meta::tracks::ended_tracks_into,
            meta::tracks::dropped_tracks_into,
        ] {
            read(buf, &mut self.gone);
            for &track in &self.gone {
                self.scheduler.forget(track);
            }
        }
        if frame_no.is_multiple_of(1000) {
            self.scheduler.prune(frame_no);
        }
    }
}

/// Floats in one planar RGB chip.
const CHIP_FLOATS: usize = 3 * CHIP * CHIP;

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
            let mut props = ModelSettings::properties(
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
                stats_spec(
                    "faces-embedded (guint64) and inference-count, inference-seconds-sum, \
                     inference-bucket-bounds, inference-bucket-counts: a histogram of the \
                     time per embedder call",
                ),
            ]);
            props
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            name if s.onnx.set(name, value) => {}
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
        if pspec.name() == "stats" {
            let mut st = gst::Structure::new_empty("footfall-embedder-stats");
            st.set("faces-embedded", self.embedded.load(Ordering::Relaxed));
            self.inference.write_into("inference", &mut st);
            return st.to_value();
        }
        let s = self.settings.lock().unwrap();
        if let Some(v) = s.onnx.get(pspec.name()) {
            return v;
        }
        match pspec.name() {
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
        let (embedder, model, device) = s.onnx.open(models::EMBEDDER_FILE, Embedder::load)?;
        gst::info!(
            CAT,
            imp = self,
            "loaded embedder '{}' on {}",
            model.display(),
            device.as_str()
        );
        let worker = Worker {
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
            frames: 0,
            warned_untracked: false,
        };
        let previous = self.state.lock().unwrap().start(worker);
        drop(previous); // a session's teardown, outside the lock
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let worker = self.state.lock().unwrap().stop();
        drop(worker);
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let video =
            VideoLayout::from_caps(incaps).map_err(|e| gst::loggable_error!(CAT, "{}", e))?;
        self.state.lock().unwrap().set_caps(video);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (policy, batch_size) = {
            let s = self.settings.lock().unwrap();
            (s.policy, s.batch_size)
        };
        let lent = self.state.lock().unwrap().lend();
        let result = lent.map_err(|e| e.to_string()).and_then(|mut lent| {
            let embedded = self.embed_frame(buf, &mut lent, &policy, batch_size);
            let stale = self.state.lock().unwrap().give_back(lent);
            drop(stale);
            embedded
        });
        match result {
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
