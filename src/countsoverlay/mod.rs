//! `countsoverlay`: draws the current counts (from the `facecounter` counts meta on each
//! buffer) on the video — a `textoverlay` child whose text follows the meta. For the video
//! re-served to an NVR; any `textoverlay` property is reachable as `text::property`.

use gst::glib;
use gst::prelude::*;

use crate::meta::counts::Counts;

mod imp;

glib::wrapper! {
    pub struct CountsOverlay(ObjectSubclass<imp::CountsOverlay>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "countsoverlay",
        gst::Rank::NONE,
        CountsOverlay::static_type(),
    )
}

/// The text drawn for `counts`.
pub fn counts_text(c: Counts) -> String {
    format!(
        "unique visitors {}   visits {}   returning {}   in view {}",
        c.unique_visitors, c.visits, c.returning_visits, c.in_view
    )
}
