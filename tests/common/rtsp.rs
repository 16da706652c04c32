//! The loopback RTSP "camera" of the tests: the product's own server
//! ([`gstfootfall::rtsp_server`]) on 127.0.0.1, serving recorded clips as an IP camera does
//! (their own H.264 in RTP, real time, TCP or UDP as the client asks; each client from the
//! start). Dropping it drops every client session, as a camera that goes away does.

#![allow(dead_code)]

use std::path::Path;

use gstfootfall::rtsp_server::{clip_launch, Mount, RtspServer};

pub struct LoopbackCamera(RtspServer);

impl LoopbackCamera {
    /// Serves each `(name, clip)` at `/name` on a free port.
    pub fn serve(clips: &[(&str, &Path)]) -> LoopbackCamera {
        Self::serve_on(0, clips)
    }

    /// Serves on `port` (0 = any free one): a camera restarted on its old port.
    pub fn serve_on(port: u16, clips: &[(&str, &Path)]) -> LoopbackCamera {
        let mounts: Vec<(&str, String)> = clips
            .iter()
            .map(|(name, clip)| (*name, clip_launch(clip)))
            .collect();
        Self::serve_launch(port, &mounts)
    }

    /// Serves arbitrary media pipelines (`… ! <payloader> name=pay0`), e.g. a broken camera.
    pub fn serve_launch(port: u16, mounts: &[(&str, String)]) -> LoopbackCamera {
        super::init();
        let mounts: Vec<Mount> = mounts
            .iter()
            .map(|(name, launch)| Mount {
                name: name.to_string(),
                launch: launch.clone(),
                ..Default::default()
            })
            .collect();
        LoopbackCamera(
            RtspServer::start("127.0.0.1", port, &mounts, |_, _| {}).expect("RTSP server starts"),
        )
    }

    pub fn port(&self) -> u16 {
        self.0.port
    }

    pub fn url(&self, name: &str) -> String {
        self.0.url(name)
    }
}
