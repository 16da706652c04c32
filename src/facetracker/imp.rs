//! GStreamer glue of `facetracker`: reads the face regions, runs [`crate::track`], writes
//! the regions back with track id, state and predicted flag.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::detect::geometry::Face;
use crate::meta::{self, faces::FaceRegion};
use crate::track::tracker::{FrameTracks, Tracker, TrackerParams};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "facetracker",
        gst::DebugColorFlags::empty(),
        Some("Footfall face tracker"),
    )
});

#[derive(Debug, Clone, Copy, Default)]
struct Settings(TrackerParams);

#[derive(Default)]
struct State {
    tracker: Option<Tracker>,
    size: (u32, u32),
    /// Tracks ended (`ended`) or dropped unconfirmed (`dropped`) by a break in the video,
    /// reported on the next buffer.
    broken_off: FrameTracks,
    last_pts: Option<gst::ClockTime>,
    /// Per-frame buffers, kept between frames (no allocation per frame): the regions read,
    /// the detections handed to the tracker, its answer, and the ended and dropped ids
    /// written on the buffer.
    regions: Vec<FaceRegion>,
    detections: Vec<Face>,
    frame: FrameTracks,
    ended: Vec<u64>,
    dropped: Vec<u64>,
}

/// A gap in timestamps longer than this breaks motion continuity (a camera that froze
/// and resumed): whoever is in view then is a new track.
const MAX_GAP: gst::ClockTime = gst::ClockTime::from_seconds(2);

impl State {
    /// The video jumped (a flush, a new stream such as a camera reconnect, a long gap):
    /// positions before and after are unrelated, so every track ends here and is reported
    /// ended (the counter decides its visit) instead of coasting onto someone else. Track
    /// ids keep counting up, so none is reused.
    fn break_continuity(&mut self) {
        if let Some(t) = self.tracker.as_mut() {
            let out = t.finish();
            self.broken_off.ended.extend(out.ended);
            self.broken_off.dropped.extend(out.dropped);
        }
        self.last_pts = None;
    }
}

#[derive(Default)]
pub struct FaceTracker {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceTracker {
    const NAME: &'static str = "GstFootfallFaceTracker";
    type Type = super::FaceTracker;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceTracker {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = TrackerParams::default();
            vec![
                glib::ParamSpecUInt::builder("max-age")
                    .nick("Maximum age")
                    .blurb("Frames a confirmed track survives without a detection before its visit ends")
                    .minimum(1)
                    .default_value(d.max_age)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("iou-threshold")
                    .nick("IoU threshold")
                    .blurb("Minimum overlap of a predicted track box and a detection to associate them")
                    .minimum(0.01)
                    .maximum(1.0)
                    .default_value(d.iou_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("high-threshold")
                    .nick("High score threshold")
                    .blurb("Faces scoring at least this start tracks and are matched first; weaker ones only continue confirmed tracks")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.high_score)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-hits")
                    .nick("Minimum hits")
                    .blurb("Detections a track needs before it is confirmed (state 'new')")
                    .minimum(1)
                    .default_value(d.min_hits)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-tracks")
                    .nick("Maximum tracks")
                    .blurb("Most simultaneous tracks; further faces pass untracked")
                    .minimum(1)
                    .default_value(d.max_tracks as u32)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let p = &mut s.0;
        match pspec.name() {
            "max-age" => p.max_age = value.get().expect("type checked upstream"),
            "iou-threshold" => p.iou_threshold = value.get().expect("type checked upstream"),
            "high-threshold" => p.high_score = value.get().expect("type checked upstream"),
            "min-hits" => p.min_hits = value.get().expect("type checked upstream"),
            "max-tracks" => {
                p.max_tracks = value.get::<u32>().expect("type checked upstream") as usize
            }
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let p = self.settings.lock().unwrap().0;
        match pspec.name() {
            "max-age" => p.max_age.to_value(),
            "iou-threshold" => p.iou_threshold.to_value(),
            "high-threshold" => p.high_score.to_value(),
            "min-hits" => p.min_hits.to_value(),
            "max-tracks" => (p.max_tracks as u32).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceTracker {}

impl ElementImpl for FaceTracker {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face tracker",
                "Filter/Analyzer/Video",
                "Gives each face region a stable track id (IoU + motion, two-stage matching) and \
                 predicts boxes on frames the detector skipped",
                "Footfall developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = crate::video_frame::any_video_caps();
            crate::video_frame::filter_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceTracker {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let params = self.settings.lock().unwrap().0;
        self.state.lock().unwrap().tracker = Some(Tracker::new(params));
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        // The frame size is all the tracker needs; VideoInfo reads caps as every element does.
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|e| gst::loggable_error!(CAT, "caps without video info: {}", e))?;
        self.state.lock().unwrap().size = (info.width(), info.height());
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(
            event.view(),
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)
        ) {
            let mut state = self.state.lock().unwrap();
            state.break_continuity();
            if !state.broken_off.ended.is_empty() {
                gst::debug!(
                    CAT,
                    imp = self,
                    "{:?} ends tracks {:?}",
                    event.type_(),
                    state.broken_off.ended
                );
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let params = self.settings.lock().unwrap().0;
        let mut state = self.state.lock().unwrap();
        if let (Some(pts), Some(last)) = (buf.pts(), state.last_pts) {
            if pts.saturating_sub(last) > MAX_GAP {
                gst::debug!(CAT, imp = self, "{} gap in timestamps", pts - last);
                state.break_continuity();
            }
        }
        state.last_pts = buf.pts().or(state.last_pts);
        let (w, h) = state.size;
        let st = &mut *state;
        let Some(tracker) = st.tracker.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("tracker not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        tracker.set_params(params);
        // No detection meta: some other producer of `face` regions; every frame is detected.
        if meta::detection::detection_ran(buf).unwrap_or(true) {
            meta::faces::read_faces_into(buf, &mut st.regions);
            st.detections.clear();
            st.detections.extend(st.regions.iter().map(|r| r.face()));
            tracker.update_into(&st.detections, &mut st.frame);
        } else {
            tracker.predict_into(&mut st.frame);
        }
        let active = tracker.len() as u32;
        meta::faces::remove_faces(buf);
        let mut id = 0;
        for t in &st.frame.faces {
            if meta::faces::attach_tracked_face(buf, t, id, w, h) {
                id += 1;
            }
        }
        // Tracks a break in the video ended go out first, with this frame's.
        for (all, broken, now) in [
            (&mut st.ended, &mut st.broken_off.ended, &st.frame.ended),
            (
                &mut st.dropped,
                &mut st.broken_off.dropped,
                &st.frame.dropped,
            ),
        ] {
            all.clear();
            all.append(broken);
            all.extend_from_slice(now);
        }
        meta::tracks::mark_tracks(buf, &st.ended, &st.dropped, active);
        if !st.ended.is_empty() {
            gst::debug!(CAT, imp = self, "tracks ended: {:?}", st.ended);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
