//! `footfall count`: the whole chain on a file or camera, printing visit and count events
//! as JSON lines (the `facecounter location=-` output).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use footfall_app::rtsp_server::{clip_launch, Mount, RtspServer};
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use super::input::{self, CountingArgs, SourceArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    counting: CountingArgs,
    /// Serve the recorded clip SOURCE as an RTSP camera on 127.0.0.1 and count it through
    /// rtspsrc, as a live camera (ends with the clip)
    #[arg(long)]
    via_rtsp: bool,
}

pub fn run(mut a: Args) -> Result<(), String> {
    let chain = format!("{} ! fakesink sync=false", a.counting.footfallbin("-"));
    let lag = a.counting.lag_queue();
    let stop = input::ctrl_c_stop()?;
    let (site, http) = a.counting.site(&a.source)?;
    let mut camera = None;
    let mut run_stop = stop.clone();
    if a.via_rtsp {
        // The count ends shortly after the clip was sent, or at Ctrl-C.
        let clip_sent = Arc::new(AtomicBool::new(false));
        let (server, url) = serve_clip(&a.source.source, clip_sent.clone())?;
        eprintln!("serving {} as the camera {url}", a.source.source);
        a.source.source = url;
        a.source.end_with_stream = true;
        run_stop = input::either(&stop, &clip_sent);
        camera = Some(server);
    }
    let r = input::run(
        &a.source,
        (&chain, &lag),
        (&site, &site.cameras[0]),
        &run_stop,
        |_| Ok(()),
    );
    drop(camera);
    if r.is_ok() {
        input::keep_serving(http, a.counting.keep_serving, &stop);
    }
    r
}

/// Time between the clip's last frame leaving the server and the end of the count, should
/// the client miss the camera's end of stream (an RTCP BYE, lost over UDP): the client's
/// jitter buffer (300 ms) and the chain catch up by then.
const CLIP_END_GRACE: Duration = Duration::from_secs(5);

/// Serves `clip` as a loopback camera; `stop` is set shortly after the clip has been sent.
fn serve_clip(clip: &str, stop: Arc<AtomicBool>) -> Result<(RtspServer, String), String> {
    let path = std::path::Path::new(clip);
    if !path.is_file() {
        return Err(format!(
            "--via-rtsp serves a recorded file: '{clip}' is not one"
        ));
    }
    let mounts = [Mount {
        name: "sample".into(),
        launch: clip_launch(path),
        ..Default::default()
    }];
    let server = RtspServer::start("127.0.0.1", 0, &mounts, move |_, media| {
        let stop = stop.clone();
        let pay = media
            .element()
            .downcast::<gst::Bin>()
            .ok()
            .and_then(|b| b.by_name("pay0"));
        if let Some(pad) = pay.and_then(|p| p.static_pad("src")) {
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if matches!(&info.data, Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos)
                {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(CLIP_END_GRACE);
                        stop.store(true, Ordering::Relaxed);
                    });
                }
                gst::PadProbeReturn::Ok
            });
        }
    })?;
    let url = server.url("sample");
    Ok((server, url))
}
