//! Small helpers for applications and tests that drive Footfall pipelines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Builds a pipeline from a gst-launch description, the error naming what failed.
pub fn launch(desc: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(desc)
        .map_err(|e| format!("cannot build the pipeline '{desc}': {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| format!("'{desc}' is a single element, not a pipeline"))
}

/// Sets `pipeline` to PLAYING and waits for EOS, an error, or `timeout`. Returns the warning
/// texts seen on the way, or the error text (element error with its debug detail, or a
/// failed state change). Leaves the pipeline in PLAYING/PAUSED: the caller sets NULL.
pub fn play_to_eos(
    pipeline: &gst::Pipeline,
    timeout: Option<Duration>,
) -> Result<Vec<String>, String> {
    play(pipeline, timeout, None)
}

/// As [`play_to_eos`], but once `stop` is set (Ctrl-C) an EOS is sent into the pipeline so
/// it finishes cleanly: sinks write their last output (the final counts line).
pub fn play_to_eos_or_stop(
    pipeline: &gst::Pipeline,
    stop: &AtomicBool,
) -> Result<Vec<String>, String> {
    play(pipeline, None, Some(stop))
}

fn play(
    pipeline: &gst::Pipeline,
    timeout: Option<Duration>,
    stop: Option<&AtomicBool>,
) -> Result<Vec<String>, String> {
    let bus = pipeline.bus().ok_or("pipeline has no bus")?;
    let state_change = pipeline.set_state(gst::State::Playing);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut warnings = Vec::new();
    let mut eos_sent = false;
    loop {
        if !eos_sent && stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            eos_sent = true;
            pipeline.send_event(gst::event::Eos::new());
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("timed out after {:?}", timeout.unwrap()));
                }
                gst::ClockTime::from_nseconds(left.as_nanos() as u64)
            }
            None => gst::ClockTime::from_mseconds(100),
        };
        let Some(msg) = bus.timed_pop(wait) else {
            if state_change.is_err() {
                return Err("the pipeline failed to start".into());
            }
            continue;
        };
        use gst::MessageView;
        match msg.view() {
            MessageView::Eos(..) => return Ok(warnings),
            MessageView::Error(e) => {
                let src = e
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                return Err(match e.debug() {
                    Some(d) => format!("{src}: {} ({d})", e.error()),
                    None => format!("{src}: {}", e.error()),
                });
            }
            MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    }
}

/// A `uri=` value for uridecodebin: URIs pass through, paths become file:// URIs.
pub fn to_uri(source: &str) -> Result<String, String> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let path = std::fs::canonicalize(source).map_err(|e| format!("cannot open '{source}': {e}"))?;
    gst::glib::filename_to_uri(&path, None)
        .map(|u| u.to_string())
        .map_err(|e| format!("cannot make a URI of '{}': {e}", path.display()))
}
