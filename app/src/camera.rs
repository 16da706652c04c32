//! A camera that comes back: runs a pipeline whose RTSP source part is rebuilt, with
//! back-off, whenever the camera drops (error or end of stream), while everything after it —
//! the counter and its gallery — keeps running. Counts therefore continue across reconnects:
//! nothing is reset and nobody is counted twice because of one.
//!
//! The source part is `rtspsrc ! rtph264depay ! h264parse ! avdec_h264` in a bin whose
//! ghost `src` pad feeds `downstream`. The camera's own EOS is held back at that pad (a
//! reconnect follows); an operator's stop sends EOS straight into `downstream`, so the
//! counter writes its final counts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

#[derive(Debug, Clone)]
pub struct CameraOptions {
    pub url: String,
    /// `tcp`, `udp` or `tcp+udp` (rtspsrc `protocols`).
    pub protocols: String,
    pub latency_ms: u32,
    /// First wait before reconnecting; doubles per failed attempt up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Give up (error) if the camera has not delivered a frame this long after start.
    pub first_frame_timeout: Duration,
    /// A connection that has not delivered a frame for this long counts as a drop and is
    /// rebuilt: a camera (or link) can stop sending while its TCP session stays open, and
    /// neither `rtspsrc` nor the server reports that.
    pub stall_timeout: Duration,
    /// The camera's end of stream ends the run (a recorded clip served as a camera)
    /// instead of counting as a drop to reconnect after.
    pub ends_with_stream: bool,
    /// Told of every reconnect (the HTTP API's metrics).
    pub telemetry: Option<std::sync::Arc<crate::telemetry::Camera>>,
}

impl CameraOptions {
    pub fn new(url: &str) -> Self {
        CameraOptions {
            url: url.to_string(),
            protocols: "tcp".into(),
            latency_ms: 300,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            first_frame_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(10),
            ends_with_stream: false,
            telemetry: None,
        }
    }
}

/// What a supervised run saw.
#[derive(Debug, Default, Clone)]
pub struct CameraReport {
    pub reconnects: u32,
    pub frames: u64,
}

const SOURCE_NAME: &str = "camera";

fn make_source(
    o: &CameraOptions,
    frames: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
) -> Result<gst::Element, String> {
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|e| format!("cannot make {factory}: {e}"))
    };
    let rtsp = make("rtspsrc")?;
    rtsp.set_property("location", &o.url);
    rtsp.set_property_from_str("protocols", &o.protocols);
    rtsp.set_property("latency", o.latency_ms);
    let (depay, parse, decode) = (
        make("rtph264depay")?,
        make("h264parse")?,
        make("avdec_h264")?,
    );
    let ends_with_stream = o.ends_with_stream;
    let bin = gst::Bin::builder().name(SOURCE_NAME).build();
    bin.add_many([&rtsp, &depay, &parse, &decode])
        .map_err(|e| e.to_string())?;
    gst::Element::link_many([&depay, &parse, &decode]).map_err(|e| e.to_string())?;
    // rtspsrc makes its pads once the camera has described its streams: link the video one.
    let depay_sink = depay.static_pad("sink").expect("depayloader sink");
    rtsp.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("media").ok()))
            .is_none_or(|m| m == "video");
        if is_video && !depay_sink.is_linked() {
            if let Err(e) = pad.link(&depay_sink) {
                gst::warning!(gst::CAT_DEFAULT, "camera pad does not link: {e:?}");
            }
        }
    });
    let ghost = gst::GhostPad::with_target(&decode.static_pad("src").expect("decoder src"))
        .map_err(|e| e.to_string())?;
    bin.add_pad(&ghost).map_err(|e| e.to_string())?;
    let src = bin
        .static_pad("src")
        .ok_or("camera source has no src pad")?;
    src.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| match &mut info.data {
            Some(gst::PadProbeData::Buffer(_)) => {
                frames.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            }
            // The camera ended its stream: hold the EOS back (the counter must go on) and
            // let the supervisor reconnect. It is swapped for an event every element passes
            // on and ignores rather than dropped: GStreamer 1.22 logs a CRITICAL for a
            // dropped sticky event.
            Some(gst::PadProbeData::Event(e))
                if e.type_() == gst::EventType::Eos && !ends_with_stream =>
            {
                dropped.store(true, Ordering::Relaxed);
                *e = gst::event::CustomDownstreamOob::new(gst::Structure::new_empty(
                    "footfall-camera-ended",
                ));
                gst::PadProbeReturn::Ok
            }
            _ => gst::PadProbeReturn::Ok,
        },
    );
    Ok(bin.upcast())
}

fn is_inside(msg_src: Option<&gst::Object>, source: &gst::Element) -> bool {
    let mut cur = msg_src.cloned();
    while let Some(o) = cur {
        if o == *source.upcast_ref::<gst::Object>() {
            return true;
        }
        cur = o.parent();
    }
    false
}

/// Takes the camera part out of `pipeline` and stops it on a thread of its own: a wedged
/// `rtspsrc` can block its state change indefinitely, and the counting must go on.
fn discard(pipeline: &gst::Pipeline, source: gst::Element) {
    let _ = pipeline.remove(&source);
    let _ = std::thread::Builder::new()
        .name("camera-teardown".into())
        .spawn(move || {
            let _ = source.set_state(gst::State::Null);
        });
}

/// What tells a camera drop apart from a quiet moment: the source part's frame counter,
/// its drop flag (an end of stream from the camera), and when the count last moved.
struct Watch {
    frames: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
    /// The frame count last seen and when it last changed (or the connection was made).
    progress: (u64, Instant),
}

impl Watch {
    /// Why the camera counts as dropped now, if it does: its stream ended, or no frame came
    /// for `stall_timeout` (a camera or link can stop sending while its TCP session stays
    /// open, and neither `rtspsrc` nor the server reports that).
    fn camera_drop(&mut self, stall_timeout: Duration) -> Option<String> {
        if self.dropped.swap(false, Ordering::Relaxed) {
            return Some("end of stream".into());
        }
        let now_frames = self.frames.load(Ordering::Relaxed);
        if now_frames != self.progress.0 {
            self.progress = (now_frames, Instant::now());
        } else if now_frames > 0 && self.progress.1.elapsed() > stall_timeout {
            // Before the first frame ever, `first_frame_timeout` decides instead.
            return Some(format!("no video for {stall_timeout:?}"));
        }
        None
    }
}

/// What the bus said in the last 100 ms.
enum BusNews {
    Nothing,
    /// The whole pipeline ended (the operator's stop reached the sinks).
    Eos,
    /// The camera part failed, with the error's text.
    CameraError(String),
}

/// Waits up to 100 ms for a bus message; an error outside the camera part is the run's
/// error.
fn poll_bus(
    bus: &gst::Bus,
    pipeline: &gst::Pipeline,
    source: &gst::Element,
) -> Result<BusNews, String> {
    let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
        return Ok(BusNews::Nothing);
    };
    Ok(match msg.view() {
        gst::MessageView::Eos(_) => BusNews::Eos,
        // Late news from a camera part already removed (its reconnect is under way).
        gst::MessageView::Error(e) if !is_inside(e.src(), pipeline.upcast_ref()) => {
            BusNews::Nothing
        }
        gst::MessageView::Error(e) if is_inside(e.src(), source) => {
            BusNews::CameraError(e.error().to_string())
        }
        gst::MessageView::Error(e) => return Err(format!("{} ({:?})", e.error(), e.debug())),
        _ => BusNews::Nothing,
    })
}

/// The warning every drop posts on the pipeline's bus.
fn warn_dropped(pipeline: &gst::Pipeline, o: &CameraOptions, reason: &str, backoff: Duration) {
    let warning = format!(
        "camera {} dropped ({reason}); reconnecting in {:.1} s",
        o.url,
        backoff.as_secs_f64()
    );
    let _ = pipeline.post_message(
        gst::message::Warning::builder(gst::ResourceError::Read, &warning)
            .src(pipeline)
            .build(),
    );
}

/// Runs `pipeline` (which holds `downstream` and no source) fed by the camera until `stop`
/// is set (then EOS is sent into `downstream` and the run ends at the pipeline's EOS), an
/// error outside the camera part, or the camera never delivering a first frame. Every
/// camera drop (an error, its end of stream, or no frame for `stall_timeout`) posts a
/// warning on the pipeline's bus and reconnects after back-off.
pub fn run(
    pipeline: &gst::Pipeline,
    downstream: &gst::Element,
    o: &CameraOptions,
    stop: &AtomicBool,
) -> Result<CameraReport, String> {
    let frames = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let attach = |pipeline: &gst::Pipeline| -> Result<gst::Element, String> {
        let s = make_source(o, frames.clone(), dropped.clone())?;
        pipeline.add(&s).map_err(|e| e.to_string())?;
        s.link(downstream)
            .map_err(|e| format!("camera source does not link: {e}"))?;
        Ok(s)
    };
    let mut source = attach(pipeline)?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| "the pipeline failed to start".to_string())?;
    let bus = pipeline.bus().ok_or("pipeline has no bus")?;
    let started = Instant::now();
    let mut report = CameraReport::default();
    let mut backoff = o.backoff_initial;
    let mut eos_sent = false;
    let mut frames_at_attach = 0;
    let mut watch = Watch {
        frames: frames.clone(),
        dropped: dropped.clone(),
        progress: (0, Instant::now()),
    };
    loop {
        if stop.load(Ordering::Relaxed) && !eos_sent {
            eos_sent = true;
            downstream.send_event(gst::event::Eos::new());
        }
        if frames.load(Ordering::Relaxed) == 0 && started.elapsed() > o.first_frame_timeout {
            return Err(format!(
                "camera {} delivered no video within {:?}",
                o.url, o.first_frame_timeout
            ));
        }
        let mut reason = watch.camera_drop(o.stall_timeout);
        match poll_bus(&bus, pipeline, &source)? {
            BusNews::Eos => break,
            BusNews::CameraError(e) => reason = Some(e),
            BusNews::Nothing => {}
        }
        let Some(reason) = reason.filter(|_| !eos_sent) else {
            continue;
        };
        // A connection that delivered frames resets the back-off; each failed attempt in a
        // row doubles it.
        if frames.load(Ordering::Relaxed) > frames_at_attach {
            backoff = o.backoff_initial;
        }
        discard(pipeline, source);
        warn_dropped(pipeline, o, &reason, backoff);
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(o.backoff_max);
        source = attach(pipeline)?;
        source
            .sync_state_with_parent()
            .map_err(|e| format!("camera source does not start: {e}"))?;
        frames_at_attach = frames.load(Ordering::Relaxed);
        watch.progress = (frames_at_attach, Instant::now());
        report.reconnects += 1;
        if let Some(t) = &o.telemetry {
            t.count_reconnect();
        }
    }
    report.frames = frames.load(Ordering::Relaxed);
    // The counts are final: the camera part goes on a thread of its own, so a wedged
    // rtspsrc (seen in GStreamer 1.22 when a session is cut at EOS) cannot block the
    // caller's `set_state(Null)` and with it the final counts and the exit.
    discard(pipeline, source);
    Ok(report)
}
