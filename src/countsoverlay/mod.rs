//! `countsoverlay`: draws the current counts (from the `facecounter` counts meta on each
//! buffer) on the video — a `textoverlay` child whose text follows the meta. For the video
//! re-served to an NVR; any `textoverlay` property is reachable as `text::property`.

use gst::glib;
use gst::prelude::*;

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

/// Counts as `facecounter`'s meta carries them: unique, visits, returning, staff, in view.
pub type Counts = (u32, u32, u32, u32, u32);

/// The text drawn for `counts`.
pub fn counts_text(counts: Counts) -> String {
    let (unique, visits, returning, _staff, in_view) = counts;
    format!(
        "unique visitors {unique}   visits {visits}   returning {returning}   in view {in_view}"
    )
}
