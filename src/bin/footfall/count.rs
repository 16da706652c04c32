//! `footfall count`: the whole chain on a file or camera, printing visit and count events
//! as JSON lines (the `facecounter location=-` output).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use gstfootfall::camera::{self, CameraOptions};
use gstfootfall::pipeline_util::{launch, play_to_eos};

#[derive(clap::Args)]
pub struct Args {
    /// Video file path or URI (file://, rtsp://, http://)
    source: String,
    /// Staff gallery file made by `footfall enroll`
    #[arg(long)]
    staff_gallery: Option<String>,
    /// Gallery name (counters sharing a name share identities)
    #[arg(long, default_value = "default")]
    gallery: String,
    /// Run the detector on every Nth frame
    #[arg(long, default_value_t = 1)]
    interval: u32,
    /// rtsp:// only: transport (tcp, udp, tcp+udp)
    #[arg(long, default_value = "tcp")]
    transport: String,
    /// rtsp:// only: give up if the camera delivers no video for this many seconds at start
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
}

pub fn run(a: Args) -> Result<(), String> {
    if a.source.starts_with("rtsp://") || a.source.starts_with("rtsps://") {
        return run_camera(&a);
    }
    let uri = crate::to_uri(&a.source)?;
    let desc = format!("uridecodebin uri=\"{uri}\" ! {}", counting_chain(&a));
    let pipeline = launch(&desc)?;
    let result = play_to_eos(&pipeline, None);
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|_| ())
}

/// Everything after the decoder, counts as JSON lines on stdout.
fn counting_chain(a: &Args) -> String {
    let staff = a
        .staff_gallery
        .as_deref()
        .map(|s| format!("staff-gallery=\"{s}\""))
        .unwrap_or_default();
    format!(
        "footfallbin name=counting inference-interval={} gallery=\"{}\" location=- {staff} ! fakesink sync=false",
        a.interval.max(1),
        a.gallery
    )
}

/// A live camera: reconnects with back-off when it drops (warnings on stderr), counts go
/// on; Ctrl-C ends the stream cleanly so the final counts line is written.
fn run_camera(a: &Args) -> Result<(), String> {
    let pipeline = launch(&counting_chain(a))?;
    let counting = pipeline.by_name("counting").ok_or("no counting bin")?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    ctrlc::set_handler(move || s2.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    bus.enable_sync_message_emission();
    bus.connect_sync_message(None, |_, msg| {
        if let gst::MessageView::Warning(w) = msg.view() {
            eprintln!("warning: {}", w.error());
        }
    });
    let mut o = CameraOptions::new(&a.source);
    o.protocols = a.transport.clone();
    o.first_frame_timeout = Duration::from_secs(a.connect_timeout);
    let r = camera::run(&pipeline, &counting, &o, &stop);
    let _ = pipeline.set_state(gst::State::Null);
    r.map(|rep| {
        eprintln!(
            "camera: {} frames, {} reconnects",
            rep.frames, rep.reconnects
        )
    })
}
