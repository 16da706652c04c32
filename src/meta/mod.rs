//! Every buffer contract of the plugin, with typed writers and readers. What C, Python and
//! other GStreamer applications read is documented field by field in `README.md` here
//! (`src/meta/README.md`); the Rust readers below fill a caller's buffer (`*_into`) so the
//! elements read them per frame without allocating.
//!
//! * [`faces`]: one `GstVideoRegionOfInterestMeta` per face (`roi_type` `face`, param
//!   structure `face`), written by `facedetector`, enriched by `facetracker`;
//! * [`detection`]: `FootfallDetectionMeta`, did the detector look at this frame;
//! * [`tracks`]: `FootfallTrackMeta`, tracks ended or dropped on this frame;
//! * [`embeddings`]: `FootfallEmbeddingMeta`, Rust-only, never readable from C or Python;
//! * [`counts`]: `FootfallCountsMeta`, the counts after `facecounter` (and its bus message).

mod custom;

pub mod counts;
pub mod detection;
pub mod embeddings;
pub mod faces;
pub mod tracks;

/// Registers the plugin's custom metas (idempotent). Called from plugin init.
pub fn register() {
    for name in [
        detection::DETECTION_META,
        tracks::TRACK_META,
        counts::COUNTS_META,
    ] {
        custom::register(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_names_are_the_documented_names() {
        assert_eq!(tracks::TRACK_META_C.to_str().unwrap(), tracks::TRACK_META);
        assert_eq!(faces::ROI_TYPE_C.to_str().unwrap(), faces::ROI_TYPE);
        assert_eq!(
            detection::DETECTION_META_C.to_str().unwrap(),
            detection::DETECTION_META
        );
        assert_eq!(counts::COUNTS_META_C.to_str().unwrap(), counts::COUNTS_META);
    }
}
