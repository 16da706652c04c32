//! `footfall serve`: counts a camera (or file) and re-serves its video, with the current
//! counts drawn on it, as an RTSP stream an NVR adds like any camera. Counting runs
//! whether or not a client watches; clients attach to the encoded stream through
//! [`footfall_app::rtsp_relay`].

use std::sync::Arc;

use footfall_app::rtsp_relay::{Relay, RELAY_LAUNCH};
use footfall_app::rtsp_server::{Mount, RtspServer};
use gst::prelude::*;

use super::input::{self, CountingArgs, SourceArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    counting: CountingArgs,
    /// Address the RTSP server listens on (0.0.0.0: every interface)
    #[arg(long, default_value = "0.0.0.0")]
    address: String,
    /// RTSP port
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Mount path: the stream is rtsp://HOST:PORT/PATH
    #[arg(long, default_value = "footfall")]
    path: String,
    /// Where the JSON-lines events go (file path; - for stdout)
    #[arg(long, default_value = "-")]
    location: String,
    /// H.264 bit rate of the re-served stream, kbit/s
    #[arg(long, default_value_t = 2048)]
    bitrate: u32,
    /// How faces are redacted in the re-served video (faceredact mode): blur, pixelate,
    /// fill, or none (only where everyone filmed has consented to being recorded)
    #[arg(long, default_value = "blur")]
    redact: String,
}

pub fn run(a: Args) -> Result<(), String> {
    let redact = match a.redact.as_str() {
        "none" => String::new(),
        mode @ ("blur" | "pixelate" | "fill") => format!("faceredact mode={mode} ! "),
        other => {
            return Err(format!(
                "--redact {other}: use blur, pixelate, fill or none"
            ))
        }
    };
    let chain = format!(
        "{} ! {redact}videoconvert ! countsoverlay ! videoconvert \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate={} \
         ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au \
         ! appsink name=encoded sync=true max-buffers=30 drop=true emit-signals=false",
        a.counting.footfallbin(&a.location),
        a.bitrate
    );
    let relay = Arc::new(Relay::default());
    let r2 = relay.clone();
    let mounts = [Mount {
        name: a.path.trim_matches('/').to_string(),
        launch: RELAY_LAUNCH.to_string(),
        shared: true,
        ..Default::default()
    }];
    let server = RtspServer::start(&a.address, a.port, &mounts, move |_, media| {
        r2.attach(media)
    })?;
    eprintln!(
        "serving the counted video at {}",
        server.url(&mounts[0].name)
    );
    let stop = input::ctrl_c_stop()?;
    let (site, http) = a.counting.site(&a.source)?;
    let lag = a.counting.lag_queue();
    let r = input::run(
        &a.source,
        (&chain, &lag),
        (&site, &site.cameras[0]),
        &stop,
        |pipeline| wire(pipeline, relay.clone()),
    );
    drop(server);
    if r.is_ok() {
        input::keep_serving(http, a.counting.keep_serving, &stop);
    }
    r
}

/// Connects the appsink to the relay.
fn wire(pipeline: &gst::Pipeline, relay: Arc<Relay>) -> Result<(), String> {
    let sink = pipeline
        .by_name("encoded")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                relay.push(&sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}
