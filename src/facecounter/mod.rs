//! `facecounter`: the de-duplicating gallery as an element. Turns finished tracks with
//! embeddings into visits, counts unique visitors, visits, returning and staff visits and
//! faces in view, and emits them as buffer meta, bus messages and JSON lines.

use gst::glib;
use gst::prelude::*;

mod imp;
mod mqtt_props;
mod store_props;

glib::wrapper! {
    pub struct FaceCounter(ObjectSubclass<imp::FaceCounter>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// The `mode` property's values.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstFootfallCountMode")]
pub enum CountMode {
    #[default]
    #[enum_value(
        name = "Biometric: visits de-duplicated by face embeddings (needs faceembedder)",
        nick = "biometric"
    )]
    Biometric = 0,
    #[enum_value(
        name = "Tracks: visits from face tracks alone, no embeddings, returning visitors count again",
        nick = "tracks"
    )]
    Tracks = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "facecounter",
        gst::Rank::NONE,
        FaceCounter::static_type(),
    )
}
