//! `FootfallDetectionMeta`, written by `facedetector` on every buffer: structure
//! `footfall-detection` with `detected` (boolean: false on frames skipped by
//! `inference-interval`) and `frame` (guint64, the element's frame counter), so later
//! stages can tell "no faces" from "not looked at".

use std::ffi::CStr;

use super::custom::{add_custom_structure, custom_structure};

/// Name of the per-buffer custom meta written by `facedetector`.
pub const DETECTION_META: &str = "FootfallDetectionMeta";
pub(super) const DETECTION_META_C: &CStr = c"FootfallDetectionMeta";
/// Name of the structure inside [`DETECTION_META`].
pub const DETECTION_STRUCT: &str = "footfall-detection";

/// Marks whether the detector looked at this buffer.
pub fn mark_detection(buffer: &mut gst::BufferRef, detected: bool, frame: u64) {
    if let Some(s) = add_custom_structure(buffer, DETECTION_META_C) {
        s.set_name(DETECTION_STRUCT);
        s.set("detected", detected);
        s.set("frame", frame);
    }
}

/// `Some(true)` if `facedetector` ran on this buffer, `Some(false)` if it skipped it,
/// `None` if the buffer never went through a `facedetector`.
pub fn detection_ran(buffer: &gst::BufferRef) -> Option<bool> {
    custom_structure(buffer, DETECTION_META_C)?
        .get::<bool>("detected")
        .ok()
}
