//! How faces travel on buffers, readable by any GStreamer application:
//!
//! * one `GstVideoRegionOfInterestMeta` per face, `roi_type` = `"face"`, rect in frame
//!   pixels, ROI `id` numbering the faces of the buffer from 0, with a param structure named `"face"` holding `score` (double) and
//!   `landmarks` (GstValueArray of 10 doubles: x0,y0 … x4,y4 in frame pixels; order right
//!   eye, left eye, nose tip, right mouth corner, left mouth corner of the person);
//! * one custom meta `FootfallDetectionMeta` per buffer that went through `facedetector`,
//!   whose structure `footfall-detection` says whether the detector ran on this frame
//!   (`detected`, boolean: false on frames skipped by `inference-interval`) and
//!   `frame` (guint64, the element's frame counter), so later stages can tell
//!   "no faces" from "not looked at".

use gst::meta::CustomMeta;
use gst_video::VideoRegionOfInterestMeta;

use crate::detect::geometry::{BBox, Face};

/// `roi_type` of every face region.
pub const ROI_TYPE: &str = "face";
/// Name of the param structure on a face region.
pub const PARAM_NAME: &str = "face";
/// Name of the per-buffer custom meta written by `facedetector`.
pub const DETECTION_META: &str = "FootfallDetectionMeta";
/// Name of the structure inside [`DETECTION_META`].
pub const DETECTION_STRUCT: &str = "footfall-detection";

/// Registers the plugin's custom metas (idempotent). Called from plugin init.
pub fn register_metas() {
    if !CustomMeta::is_registered(DETECTION_META) {
        CustomMeta::register(DETECTION_META, &[]);
    }
}

/// A face region as read back from a buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRegion {
    /// Clipped integer rectangle (x, y, w, h) in frame pixels.
    pub rect: (u32, u32, u32, u32),
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
}

impl FaceRegion {
    pub fn bbox(&self) -> BBox {
        let (x, y, w, h) = self.rect;
        BBox::from_xywh(x as f32, y as f32, w as f32, h as f32)
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
    let Some(rect) = face.bbox.to_clipped_rect(width, height) else {
        return false;
    };
    let landmarks = gst::Array::new(face.landmarks.iter().flatten().map(|v| *v as f64));
    let param = gst::Structure::builder(PARAM_NAME)
        .field("score", face.score as f64)
        .field("landmarks", landmarks)
        .build();
    let mut meta = VideoRegionOfInterestMeta::add(buffer, ROI_TYPE, rect);
    meta.set_id(id);
    meta.add_param(param);
    true
}

/// Marks whether the detector looked at this buffer.
pub fn mark_detection(buffer: &mut gst::BufferRef, detected: bool, frame: u64) {
    if let Ok(mut meta) = CustomMeta::add(buffer, DETECTION_META) {
        let s = meta.mut_structure();
        s.set_name(DETECTION_STRUCT);
        s.set("detected", detected);
        s.set("frame", frame);
    }
}

/// `Some(true)` if `facedetector` ran on this buffer, `Some(false)` if it skipped it,
/// `None` if the buffer never went through a `facedetector`.
pub fn detection_ran(buffer: &gst::BufferRef) -> Option<bool> {
    let meta = CustomMeta::from_buffer(buffer, DETECTION_META).ok()?;
    meta.structure().get::<bool>("detected").ok()
}

/// Reads every face region (roi_type `face`) from a buffer.
pub fn read_faces(buffer: &gst::BufferRef) -> Vec<FaceRegion> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == ROI_TYPE)
        .map(|m| {
            let mut region = FaceRegion {
                rect: m.rect(),
                score: 0.0,
                landmarks: [[0.0; 2]; 5],
            };
            if let Some(p) = m.param(PARAM_NAME) {
                region.score = p.get::<f64>("score").unwrap_or(0.0) as f32;
                if let Ok(arr) = p.get::<gst::Array>("landmarks") {
                    let vals: Vec<f32> = arr
                        .iter()
                        .filter_map(|v| v.get::<f64>().ok())
                        .map(|v| v as f32)
                        .collect();
                    if vals.len() == 10 {
                        for (k, p) in region.landmarks.iter_mut().enumerate() {
                            *p = [vals[2 * k], vals[2 * k + 1]];
                        }
                    }
                }
            }
            region
        })
        .collect()
}
