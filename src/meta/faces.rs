//! Faces on buffers: one `GstVideoRegionOfInterestMeta` per face, `roi_type` = `"face"`,
//! rect in frame pixels, ROI `id` numbering the faces of the buffer from 0, with a param
//! structure named `"face"` holding `score` (double) and `landmarks` (GstValueArray of 10
//! doubles: x0,y0 … x4,y4 in frame pixels; order right eye, left eye, nose tip, right mouth
//! corner, left mouth corner of the person). After `facetracker` the param also holds
//! `track-id` (guint64, absent for untracked faces), `state` (string: `tentative`, `new`,
//! `tracked`, `untracked`) and `predicted` (boolean: the box is the tracker's prediction on
//! a frame the detector skipped).

use std::ffi::CStr;

use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;

use crate::detect::geometry::{BBox, Face};
use crate::track::tracker::{TrackState, TrackedFace};

/// `roi_type` of every face region.
pub const ROI_TYPE: &str = "face";
pub(super) const ROI_TYPE_C: &CStr = c"face";
/// Name of the param structure on a face region.
pub const PARAM_NAME: &str = "face";

/// A face region as read back from a buffer (plain data: reading one allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceRegion {
    /// Clipped integer rectangle (x, y, w, h) in frame pixels.
    pub rect: (u32, u32, u32, u32),
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    /// Set by `facetracker`.
    pub track_id: Option<u64>,
    /// Track state set by `facetracker` (`tentative`, `new`, `tracked`, `untracked`).
    pub state: Option<TrackState>,
    /// True for boxes `facetracker` predicted on frames the detector skipped.
    pub predicted: bool,
}

impl FaceRegion {
    pub fn bbox(&self) -> BBox {
        let (x, y, w, h) = self.rect;
        BBox::from_xywh(x as f32, y as f32, w as f32, h as f32)
    }

    /// The region as a detector face (box from the integer rect).
    pub fn face(&self) -> Face {
        Face {
            bbox: self.bbox(),
            score: self.score,
            landmarks: self.landmarks,
        }
    }
}

/// Adds `face` as a ROI meta with ROI id `id`; faces entirely outside the frame are skipped
/// (returns false). Ids number the faces of one buffer 0, 1, … so applications can fetch them
/// with `gst_buffer_get_video_region_of_interest_meta_id()`.
pub fn attach_face(
    buffer: &mut gst::BufferRef,
    face: &Face,
    id: i32,
    width: u32,
    height: u32,
) -> bool {
    attach(
        buffer,
        face_param(face).build(),
        &face.bbox,
        id,
        width,
        height,
    )
}

fn face_param(face: &Face) -> gst::structure::Builder {
    let landmarks = gst::Array::new(face.landmarks.iter().flatten().map(|v| *v as f64));
    gst::Structure::builder(PARAM_NAME)
        .field("score", face.score as f64)
        .field("landmarks", landmarks)
}

/// Adds a tracked face (box, score, landmarks plus track id, state and predicted flag).
pub fn attach_tracked_face(
    buffer: &mut gst::BufferRef,
    t: &TrackedFace,
    id: i32,
    width: u32,
    height: u32,
) -> bool {
    let mut param = face_param(&t.face)
        .field("state", t.state.as_str())
        .field("predicted", t.predicted);
    if let Some(track) = t.track_id {
        param = param.field("track-id", track);
    }
    attach(buffer, param.build(), &t.face.bbox, id, width, height)
}

fn attach(
    buffer: &mut gst::BufferRef,
    param: gst::Structure,
    bbox: &BBox,
    id: i32,
    width: u32,
    height: u32,
) -> bool {
    let Some(rect) = bbox.to_clipped_rect(width, height) else {
        return false;
    };
    // `VideoRegionOfInterestMeta::add` copies the `&str` type into a new C string per face
    // and frame; the C call with a constant does not.
    // SAFETY: a valid writable buffer and a NUL-terminated type; the meta returned belongs
    // to `buffer`, which the exclusive reference keeps alive and unshared.
    let mut meta = unsafe {
        let m = gst_video::ffi::gst_buffer_add_video_region_of_interest_meta(
            buffer.as_mut_ptr(),
            ROI_TYPE_C.as_ptr(),
            rect.0,
            rect.1,
            rect.2,
            rect.3,
        );
        VideoRegionOfInterestMeta::from_mut_ptr::<gst::meta::Standalone>(buffer, m)
    };
    meta.set_id(id);
    meta.add_param(param);
    true
}

/// Removes every face region from a buffer (other ROI types stay).
pub fn remove_faces(buffer: &mut gst::BufferRef) {
    buffer.foreach_meta_mut(|mut meta| {
        let is_face = meta
            .downcast_ref::<VideoRegionOfInterestMeta>()
            .is_some_and(|m| m.roi_type() == ROI_TYPE);
        if is_face {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
        } else {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep)
        }
    });
}

/// Fills `out` with the rectangle of every face region (roi_type `face`): what an element
/// that only needs where faces are reads per frame, without the param structures.
pub fn face_rects(buffer: &gst::BufferRef, out: &mut Vec<(u32, u32, u32, u32)>) {
    out.clear();
    out.extend(
        buffer
            .iter_meta::<VideoRegionOfInterestMeta>()
            .filter(|m| m.roi_type() == ROI_TYPE)
            .map(|m| m.rect()),
    );
}

/// Fills `out` with every face region (roi_type `face`) of a buffer: what the elements
/// read per frame, into a buffer they keep.
pub fn read_faces_into(buffer: &gst::BufferRef, out: &mut Vec<FaceRegion>) {
    out.clear();
    out.extend(
        buffer
            .iter_meta::<VideoRegionOfInterestMeta>()
            .filter(|m| m.roi_type() == ROI_TYPE)
            .map(|m| {
                let mut region = FaceRegion {
                    rect: m.rect(),
                    score: 0.0,
                    landmarks: [[0.0; 2]; 5],
                    track_id: None,
                    state: None,
                    predicted: false,
                };
                if let Some(p) = m.param(PARAM_NAME) {
                    read_param(p, &mut region);
                }
                region
            }),
    );
}

fn read_param(p: &gst::StructureRef, region: &mut FaceRegion) {
    region.score = p.get::<f64>("score").unwrap_or(0.0) as f32;
    region.track_id = p.get::<u64>("track-id").ok();
    region.state = p.get::<&str>("state").ok().and_then(TrackState::parse);
    region.predicted = p.get::<bool>("predicted").unwrap_or(false);
    let Ok(arr) = p.get::<gst::ArrayRef>("landmarks") else {
        return;
    };
    if arr.len() != 10 {
        return;
    }
    let mut vals = [0f32; 10];
    for (v, value) in vals.iter_mut().zip(arr.iter()) {
        match value.get::<f64>() {
            Ok(x) => *v = x as f32,
            Err(_) => return,
        }
    }
    for (k, l) in region.landmarks.iter_mut().enumerate() {
        *l = [vals[2 * k], vals[2 * k + 1]];
    }
}

/// Reads every face region (roi_type `face`) from a buffer (a new `Vec`: for applications
/// and tests; the elements use [`read_faces_into`]).
pub fn read_faces(buffer: &gst::BufferRef) -> Vec<FaceRegion> {
    let mut v = Vec::new();
    read_faces_into(buffer, &mut v);
    v
}
