//! `footfall count`: the whole chain on a file or camera, printing visit and count events
//! as JSON lines (the `facecounter location=-` output).

use gst::prelude::*;
use gstfootfall::pipeline_util::play_to_eos;

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
}

pub fn run(a: Args) -> Result<(), String> {
    let uri = crate::to_uri(&a.source)?;
    let staff = a
        .staff_gallery
        .as_deref()
        .map(|s| format!("staff-gallery=\"{s}\""))
        .unwrap_or_default();
    let desc = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! facedetector inference-interval={} ! facetracker ! faceembedder \
         ! facecounter gallery=\"{}\" location=- {staff} ! fakesink sync=false",
        a.interval.max(1),
        a.gallery
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("cannot build the pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let result = play_to_eos(&pipeline, None);
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|_| ())
}
