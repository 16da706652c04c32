//! What `count` and `serve` share: where the video comes from (a file or URI, or a camera
//! supervised by [`footfall_app::camera`]) and the counting options.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use footfall_app::camera::{self, CameraOptions};
use footfall_app::http::{HttpOptions, HttpServer};
use footfall_app::pipeline_util::{launch, play_to_eos_or_stop};
use footfall_app::telemetry::{Camera, Site, COUNTING, LAG_QUEUE};
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
    /// Serve the counts API, /metrics, /livez, /readyz and the dashboard on HOST:PORT
    /// (127.0.0.1:8080; another address than loopback needs --http-token)
    #[arg(long)]
    pub http: Option<String>,
    /// Token every API, metrics and dashboard request must carry (Authorization: Bearer, or
    /// ?token=) [default: $FOOTFALL_HTTP_TOKEN]
    #[arg(long)]
    pub http_token: Option<String>,
    /// With --http: keep serving after the source ends, until Ctrl-C
    #[arg(long, requires = "http")]
    pub keep_serving: bool,
    /// rtsp:// only: most seconds counting may lag behind the camera; older frames are
    /// dropped (and counted in /metrics)
    #[arg(long, default_value_t = 5.0)]
    pub max_lag: f64,
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
        let store = self
            .store_path()
            .map(|p| format!("store=\"{}\" camera=\"{}\"", p.display(), self.camera))
            .unwrap_or_default();
        format!(
            "footfallbin name={COUNTING} inference-interval={} gallery=\"{}\" location=\"{location}\" {staff} {mqtt} {store}",
            self.interval.max(1),
            self.gallery
        )
    }

    /// The count store used, if any.
    pub fn store_path(&self) -> Option<PathBuf> {
        match (&self.store, self.no_store) {
            (_, true) => None,
            (Some(p), false) => Some(PathBuf::from(p)),
            (None, false) => default_store(),
        }
    }

    /// The site this run counts (one camera) and, with `--http`, its server.
    pub fn site(&self, src: &SourceArgs) -> Result<(Arc<Site>, Option<HttpServer>), String> {
        let site = Site::new(
            &self.gallery,
            self.store_path(),
            std::slice::from_ref(&self.camera),
        );
        let Some(addr) = self.http.clone() else {
            return Ok((site, None));
        };
        let o = HttpOptions {
            addr,
            token: self
                .http_token
                .clone()
                .or_else(|| std::env::var("FOOTFALL_HTTP_TOKEN").ok()),
            stall: Duration::from_secs(src.stall_timeout.max(1)),
        };
        let server = HttpServer::start(&o, site.clone())?;
        eprintln!("http: dashboard at http://{}/", server.local_addr);
        Ok((site, Some(server)))
    }

    pub fn lag_queue(&self) -> String {
        lag_queue(self.max_lag)
    }
}

/// In front of a camera's counting bin: a queue that drops the oldest frames once counting
/// lags `max_lag_s` behind, so a slow moment never delays the count for long.
pub fn lag_queue(max_lag_s: f64) -> String {
    let ns = (max_lag_s.max(0.1) * 1e9) as u64;
    format!(
        "queue name={LAG_QUEUE} leaky=downstream max-size-buffers=0 max-size-bytes=0 \
         max-size-time={ns} ! "
    )
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
/// stderr); `lag_queue` goes in front of its counting bin. The run is `camera`'s of `site`
/// (which watches it); `wire` is called on the built pipeline before it starts.
pub fn run(
    src: &SourceArgs,
    (chain, lag_queue): (&str, &str),
    (site, camera): (&Arc<Site>, &Arc<Camera>),
    stop: &AtomicBool,
    wire: impl FnOnce(&gst::Pipeline) -> Result<(), String>,
) -> Result<(), String> {
    // Several cameras in one process: each line says whose it is.
    let who = match site.cameras.len() {
        1 => String::new(),
        _ => format!("camera {}: ", camera.name),
    };
    if !is_camera(&src.source) {
        let uri = footfall_app::pipeline_util::to_uri(&src.source)?;
        let pipeline = launch(&format!("uridecodebin uri=\"{uri}\" ! {chain}"))?;
        site.attach(camera, pipeline.upcast_ref())?;
        wire(&pipeline)?;
        let result = play_to_eos_or_stop(&pipeline, stop);
        camera.mark_ended();
        let _ = pipeline.set_state(gst::State::Null);
        return result.map(|warnings| warnings.iter().for_each(|w| eprintln!("warning: {who}{w}")));
    }
    let pipeline = launch(&format!("{lag_queue}{chain}"))?;
    site.attach(camera, pipeline.upcast_ref())?;
    wire(&pipeline)?;
    let downstream = pipeline.by_name(LAG_QUEUE).ok_or("no lag queue")?;
    let bus = pipeline.bus().ok_or("no bus")?;
    bus.enable_sync_message_emission();
    let said = who.clone();
    bus.connect_sync_message(None, move |_, msg| {
        if let gst::MessageView::Warning(w) = msg.view() {
            eprintln!("warning: {said}{}", w.error());
        }
    });
    let mut o = CameraOptions::new(&src.source);
    o.protocols = src.transport.clone();
    o.first_frame_timeout = Duration::from_secs(src.connect_timeout);
    o.stall_timeout = Duration::from_secs(src.stall_timeout.max(1));
    o.ends_with_stream = src.end_with_stream;
    o.telemetry = Some(camera.clone());
    let r = camera::run(&pipeline, &downstream, &o, stop);
    camera.mark_ended();
    let _ = pipeline.set_state(gst::State::Null);
    r.map(|rep| {
        eprintln!(
            "{who}camera: {} frames, {} reconnects",
            rep.frames, rep.reconnects
        )
    })
}

/// A flag set once `a` or `b` is (watched every 50 ms by a thread of its own).
pub fn either(a: &Arc<AtomicBool>, b: &Arc<AtomicBool>) -> Arc<AtomicBool> {
    let (a, b, both) = (a.clone(), b.clone(), Arc::new(AtomicBool::new(false)));
    let set = both.clone();
    std::thread::spawn(move || {
        while !(a.load(Ordering::Relaxed) || b.load(Ordering::Relaxed)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        set.store(true, Ordering::Relaxed);
    });
    both
}

/// After the source ended: when `wanted` (`--keep-serving`), the HTTP server stays up until
/// Ctrl-C.
pub fn keep_serving(server: Option<HttpServer>, wanted: bool, stop: &AtomicBool) {
    if let Some(server) = server.filter(|_| wanted) {
        eprintln!(
            "http: still serving at http://{}/ (Ctrl-C ends)",
            server.local_addr
        );
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
