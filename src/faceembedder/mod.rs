//! `faceembedder`: aligns tracked faces and computes their embeddings, once per track plus
//! when a clearly better view arrives, behind a quality gate.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceEmbedder(ObjectSubclass<imp::FaceEmbedder>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "faceembedder",
        gst::Rank::NONE,
        FaceEmbedder::static_type(),
    )
}
