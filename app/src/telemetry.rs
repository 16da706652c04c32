//! What the HTTP API and `/metrics` read about a running site: each camera's counting bin
//! (whose elements' `stats` properties say what they counted, queued and how long
//! inference took), plus what the application itself sees — frames through the counter,
//! frames dropped by a camera's lag queue, reconnects, and when the last frame came.
//!
//! The streaming threads only touch atomics here (buffer probe, queue `overrun` signal);
//! readers take a property under the element's own short lock, never across inference.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstfootfall::latency::LatencySnapshot;

/// Name of the counting bin (a `footfallbin`) in every pipeline the app builds.
pub const COUNTING: &str = "counting";
/// Name of the leaky queue in front of a camera's counting bin.
pub const LAG_QUEUE: &str = "camera-lag";

/// The site one process counts: its cameras, gallery (site) name and count store.
#[derive(Debug)]
pub struct Site {
    pub name: String,
    pub store: Option<PathBuf>,
    pub cameras: Vec<Arc<Camera>>,
    started: Instant,
}

#[derive(Debug)]
pub struct Camera {
    pub name: String,
    counting: OnceLock<gst::Element>,
    frames: AtomicU64,
    dropped: Arc<AtomicU64>,
    reconnects: AtomicU64,
    /// Milliseconds after the site started when the last frame left the counter; 0: never.
    last_frame_ms: AtomicU64,
    ended: AtomicBool,
    /// The counter's `stats` as its stream ended (the element forgets them when stopped).
    final_stats: OnceLock<Option<gst::Structure>>,
}

/// How one camera is doing now.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// No frame yet.
    Waiting,
    Delivering,
    /// No frame for this long.
    Silent(Duration),
    /// Its stream (a file) ended.
    Ended,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Waiting => write!(f, "waiting for video"),
            Health::Delivering => write!(f, "live"),
            Health::Silent(d) => write!(f, "no video for {:.0} s", d.as_secs_f64()),
            Health::Ended => write!(f, "ended"),
        }
    }
}

impl Site {
    pub fn new(name: &str, store: Option<PathBuf>, cameras: &[String]) -> Arc<Site> {
        Arc::new(Site {
            name: name.to_string(),
            store,
            cameras: cameras.iter().map(|c| Arc::new(Camera::new(c))).collect(),
            started: Instant::now(),
        })
    }

    pub fn camera(&self, name: &str) -> Option<&Arc<Camera>> {
        self.cameras.iter().find(|c| c.name == name)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// Watches `pipeline`'s counting bin (and lag queue, if any) as `camera`'s.
    pub fn attach(
        self: &Arc<Self>,
        camera: &Arc<Camera>,
        pipeline: &gst::Bin,
    ) -> Result<(), String> {
        let counting = pipeline
            .by_name(COUNTING)
            .ok_or("the pipeline has no counting bin")?;
        let pad = counting
            .static_pad("src")
            .ok_or("counting bin without src")?;
        let (site, cam) = (Arc::downgrade(self), camera.clone());
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            cam.frames.fetch_add(1, Ordering::Relaxed);
            if let Some(site) = site.upgrade() {
                cam.last_frame_ms.store(site.now_ms(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        if let Some(queue) = pipeline.by_name(LAG_QUEUE) {
            let dropped = camera.dropped.clone();
            // Emitted for each buffer pushed into the full queue, which then leaks its oldest.
            queue.connect("overrun", false, move |_| {
                dropped.fetch_add(1, Ordering::Relaxed);
                None
            });
        }
        camera
            .counting
            .set(counting)
            .map_err(|_| format!("camera {} attached twice", camera.name))
    }

    /// Each camera's health now; `stall` is how long without a frame counts as silent.
    pub fn health(&self, camera: &Camera, stall: Duration) -> Health {
        if camera.ended.load(Ordering::Relaxed) {
            return Health::Ended;
        }
        match camera.last_frame_ms.load(Ordering::Relaxed) {
            0 => Health::Waiting,
            at => {
                let quiet = Duration::from_millis(self.now_ms().saturating_sub(at));
                if quiet > stall {
                    Health::Silent(quiet)
                } else {
                    Health::Delivering
                }
            }
        }
    }
}

impl Camera {
    fn new(name: &str) -> Camera {
        Camera {
            name: name.to_string(),
            counting: OnceLock::new(),
            frames: AtomicU64::new(0),
            dropped: Arc::new(AtomicU64::new(0)),
            reconnects: AtomicU64::new(0),
            last_frame_ms: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            final_stats: OnceLock::new(),
        }
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// The camera's stream has ended (a file, or the run stopped); it no longer counts
    /// against readiness. Call before the pipeline stops: the counter's last counts are kept.
    pub fn mark_ended(&self) {
        let _ = self.final_stats.set(self.stats("counter"));
        self.ended.store(true, Ordering::Relaxed);
    }

    /// What the counter reported last before its stream ended.
    pub fn final_stats(&self) -> Option<&gst::Structure> {
        self.final_stats.get()?.as_ref()
    }

    /// The `stats` structure of the counting bin's child `child` (detector, embedder,
    /// counter), once attached.
    pub fn stats(&self, child: &str) -> Option<gst::Structure> {
        let bin = self.counting.get()?.downcast_ref::<gst::Bin>()?.clone();
        bin.by_name(child)?
            .property::<Option<gst::Structure>>("stats")
    }

    /// A histogram in the `stats` of `child`.
    pub fn latency(&self, child: &str) -> Option<LatencySnapshot> {
        LatencySnapshot::read_from("inference", self.stats(child)?.as_ref())
    }
}
