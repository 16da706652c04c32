//! `footfallbin`: the whole counting chain as one element to put after a decoder —
//! `videoconvert ! facedetector ! facetracker ! faceembedder ! facecounter` — with the
//! properties an installer sets most forwarded to the children. Every other child property
//! is reachable by name through the bin's child proxy, e.g. `counter::report-interval=10`.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FootfallBin(ObjectSubclass<imp::FootfallBin>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "footfallbin",
        gst::Rank::NONE,
        FootfallBin::static_type(),
    )
}
