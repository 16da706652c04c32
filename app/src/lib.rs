//! The application side of Footfall, kept out of the plugin: camera supervision (an RTSP
//! source rebuilt when the camera drops), the loopback RTSP server and the relay that
//! re-serves counted video to an NVR, the HTTP API with its dashboard and metrics, the site
//! file of `footfall run`, and the pipeline helpers the `footfall` binary, the benchmarks
//! and the tests share.

pub mod camera;
pub mod http;
pub mod hub;
pub mod local_time;
pub mod pipeline_util;
pub mod rtsp_relay;
pub mod rtsp_server;
pub mod site_file;
pub mod telemetry;

/// Initialises GStreamer and registers the footfall plugin statically (the binaries run
/// the elements without looking for the plugin on GST_PLUGIN_PATH).
pub fn init() -> Result<(), String> {
    gst::init().map_err(|e| format!("cannot initialise GStreamer: {e}"))?;
    gstfootfall::plugin_register_static()
        .map_err(|e| format!("cannot register the footfall plugin: {e}"))
}
