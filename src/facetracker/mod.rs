//! `facetracker`: gives every face region a stable track id across frames and fills the
//! frames `facedetector` skipped with predicted boxes.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceTracker(ObjectSubclass<imp::FaceTracker>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "facetracker",
        gst::Rank::NONE,
        FaceTracker::static_type(),
    )
}
