//! `facedetector`: runs the YuNet face detector on raw video and attaches one
//! `GstVideoRegionOfInterestMeta` (type `face`) per face.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceDetector(ObjectSubclass<imp::FaceDetector>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "facedetector",
        gst::Rank::NONE,
        FaceDetector::static_type(),
    )
}
