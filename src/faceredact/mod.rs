//! `faceredact`: blurs, pixelates or fills every face region on the buffer (the ROI metas
//! of `facedetector`/`facetracker`, predicted boxes included), in place, so the video that
//! continues to an NVR shows no face.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceRedact(ObjectSubclass<imp::FaceRedact>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// The `mode` property's values.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstFootfallRedactMode")]
pub enum RedactMode {
    #[default]
    #[enum_value(name = "Blur: three box-blur passes each way", nick = "blur")]
    Blur = 0,
    #[enum_value(name = "Pixelate: blocks of one average colour", nick = "pixelate")]
    Pixelate = 1,
    #[enum_value(name = "Fill: one flat dark colour", nick = "fill")]
    Fill = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "faceredact",
        gst::Rank::NONE,
        FaceRedact::static_type(),
    )
}
