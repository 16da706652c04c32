//! `footfall camera`: serves recorded clips as RTSP cameras (their own H.264, real time),
//! to try the pipelines and an NVR set-up without a camera.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use footfall_app::rtsp_server::{clip_launch, Mount, RtspServer};

#[derive(clap::Args)]
pub struct Args {
    /// Recorded clips (H.264 in MP4 or MKV); each is served at /<file name without extension>
    #[arg(required = true)]
    clips: Vec<String>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// RTSP port
    #[arg(long, default_value_t = 8554)]
    port: u16,
}

pub fn run(a: Args) -> Result<(), String> {
    let mut mounts = Vec::new();
    for clip in &a.clips {
        let path = Path::new(clip);
        if !path.is_file() {
            return Err(format!("'{clip}' is not a file"));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .ok_or_else(|| format!("'{clip}' has no file name"))?;
        mounts.push(Mount {
            name,
            launch: clip_launch(path),
            ..Default::default()
        });
    }
    let server = RtspServer::start(&a.address, a.port, &mounts, |_, _| {})?;
    for m in &mounts {
        println!("{}", server.url(&m.name));
    }
    let stop = super::input::ctrl_c_stop()?;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
