//! What `count` and `serve` share: where the video comes from (a file or URI, or a camera
//! supervised by [`footfall_app::camera`]) and the counting options.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use footfall_app::camera::{self, CameraOptions};
use footfall_app::pipeline_util::{launch, play_to_eos_or_stop};
use gst::prelude::*;

#[derive(clap::Args)]
pub struct SourceArgs {
    /// Video file path or URI (file://, rtsp://, http://)
    pub source: String,
    /// rtsp:// only: transport (tcp, udp, tcp+udp)
    #[arg(long, default_value = "tcp")]
    pub transport: String,
    /// rtsp:// only: give up if the camera delivers no video for this many seconds at start
    #[arg(long, default_value_t = 30)]
    pub connect_timeout: u64,
    /// rtsp:// only: reconnect when the camera has sent no video for this many seconds
    #[arg(long, default_value_t = 10)]
    pub stall_timeout: u64,
    /// rtsp:// only: the camera's end of stream ends the run instead of a reconnect (a
    /// recorded clip served as a camera)
    #[arg(long)]
    pub end_with_stream: bool,
}

#[derive(clap::Args)]
pub struct CountingArgs {
    /// Staff gallery file made by `footfall enroll`
    #[arg(long)]
    pub staff_gallery: Option<String>,
    /// Gallery name (counters sharing a name share identities)
    #[arg(long, default_value = "default")]
    pub gallery: String,
    /// Run the detector on every Nth frame (the tracker fills the others)
    #[arg(long, default_value_t = 3)]
    pub interval: u32,
    /// Also publish counts and visits to this MQTT broker (mqtt://host[:port] or mqtts://…)
    #[arg(long)]
    pub mqtt: Option<String>,
    /// MQTT topic base (default footfall/<gallery>/counter)
    #[arg(long)]
    pub mqtt_topic: Option<String>,
    /// Count store (SQLite: per-minute counts and visit events, nothing that identifies
    /// anyone) [default: footfall/counts.sqlite in the user's data folder]
    #[arg(long, conflicts_with = "no_store")]
    pub store: Option<String>,
    /// Keep no count store
    #[arg(long)]
    pub no_store: bool,
    /// Camera name in the count store
    #[arg(long, default_value = "camera")]
    pub camera: String,
}

/// Where `footfall count/serve` keep their count store by default.
pub fn default_store() -> Option<std::path::PathBuf> {
    dirs::data_dir().map(|d| d.join("footfall").join("counts.sqlite"))
}

impl CountingArgs {
    /// `footfallbin name=counting …` writing JSON lines to `location`.
    pub fn footfallbin(&self, location: &str) -> String {
        let staff = self
            .staff_gallery
            .as_deref()
            .map(|s| format!("staff-gallery=\"{s}\""))
            .unwrap_or_default();
        // The bin's counter child takes the MQTT properties (child proxy).
        let mqtt = [("mqtt-url", &self.mqtt), ("mqtt-topic", &self.mqtt_topic)]
            .iter()
            .filter_map(|(p, v)| v.as_deref().map(|v| format!("counter::{p}=\"{v}\"")))
            .collect::<Vec<_>>()
            .join(" ");
        let store = match (&self.store, self.no_store) {
            (_, true) => None,
            (Some(p), false) => Some(p.clone()),
            (None, false) => default_store().map(|p| p.display().to_string()),
        }
        .map(|p| format!("store=\"{p}\" camera=\"{}\"", self.camera))
        .unwrap_or_default();
        format!(
            "footfallbin name=counting inference-interval={} gallery=\"{}\" location=\"{location}\" {staff} {mqtt} {store}",
            self.interval.max(1),
            self.gallery
        )
    }
}

pub fn is_camera(source: &str) -> bool {
    source.starts_with("rtsp://") || source.starts_with("rtsps://")
}

/// A stop flag set by Ctrl-C (once per process).
pub fn ctrl_c_stop() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    Ok(stop)
}

/// Runs `chain` (a gst-launch line whose first element is named `counting`) fed by the
/// source until its end, or until `stop` is set: then the stream is ended cleanly so the
/// final counts are written. A camera reconnects with back-off when it drops (warnings on
/// stderr).
pub fn run(src: &SourceArgs, chain: &str, stop: &AtomicBool) -> Result<(), String> {
    run_with(src, chain, stop, |_| Ok(()))
}

/// As [`run`], with `wire` called on the built pipeline before it starts.
pub fn run_with(
    src: &SourceArgs,
    chain: &str,
    stop: &AtomicBool,
    wire: impl FnOnce(&gst::Pipeline) -> Result<(), String>,
) -> Result<(), String> {
    if !is_camera(&src.source) {
        let uri = footfall_app::pipeline_util::to_uri(&src.source)?;
        let pipeline = launch(&format!("uridecodebin uri=\"{uri}\" ! {chain}"))?;
        wire(&pipeline)?;
        let result = play_to_eos_or_stop(&pipeline, stop);
        let _ = pipeline.set_state(gst::State::Null);
        return result.map(|_| ());
    }
    let pipeline = launch(chain)?;
    wire(&pipeline)?;
    let counting = pipeline.by_name("counting").ok_or("no counting bin")?;
    let bus = pipeline.bus().ok_or("no bus")?;
    bus.enable_sync_message_emission();
    bus.connect_sync_message(None, |_, msg| {
        if let gst::MessageView::Warning(w) = msg.view() {
            eprintln!("warning: {}", w.error());
        }
    });
    let mut o = CameraOptions::new(&src.source);
    o.protocols = src.transport.clone();
    o.first_frame_timeout = Duration::from_secs(src.connect_timeout);
    o.stall_timeout = Duration::from_secs(src.stall_timeout.max(1));
    o.ends_with_stream = src.end_with_stream;
    let r = camera::run(&pipeline, &counting, &o, stop);
    let _ = pipeline.set_state(gst::State::Null);
    r.map(|rep| {
        eprintln!(
            "camera: {} frames, {} reconnects",
            rep.frames, rep.reconnects
        )
    })
}
