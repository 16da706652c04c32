//! Footfall: GStreamer elements that count unique visitors from faces, on the edge.
//!
//! The science (preprocessing, detector decoding, NMS, geometry) lives in plain modules
//! under [`detect`]; the element folders hold only the GStreamer glue.

pub mod count;
pub mod countsoverlay;
pub mod detect;
pub mod embed;
pub mod facecounter;
mod facedetector;
mod faceembedder;
pub mod faceredact;
mod facetracker;
mod filter_bin;
mod footfallbin;
pub mod latency;
pub mod meta;
pub mod model_contract;
pub mod model_element;
pub mod models;
pub mod onnx_runtime;
pub mod publish;
pub mod redact;
pub mod registry;
pub mod track;
pub mod video_frame;
mod worker_slot;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    facedetector::register(plugin)?;
    facetracker::register(plugin)?;
    faceembedder::register(plugin)?;
    facecounter::register(plugin)?;
    footfallbin::register(plugin)?;
    countsoverlay::register(plugin)?;
    faceredact::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    footfall,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

use gst::glib;
