//! A small RTSP server (gst-rtsp-server) on its own thread and main context: serves
//! recorded clips as cameras (`footfall camera`, the tests) and re-serves the counted,
//! overlaid video to an NVR (`footfall serve`).

use std::path::Path;
use std::thread::JoinHandle;

use gst::glib;
use gst_rtsp_server::prelude::*;

/// One mount of the server: `/name` plays `launch` (a gst-launch line whose payloader is
/// named `pay0`). A shared mount runs one media for every client (a live feed); an
/// unshared one starts a fresh playback per client, as a recorded camera session. A
/// record mount receives a stream instead (RTSP RECORD, e.g. from `rtspclientsink`): its
/// launch line starts at a depayloader named `depay0`.
#[derive(Default)]
pub struct Mount {
    pub name: String,
    pub launch: String,
    pub shared: bool,
    pub record: bool,
}

pub struct RtspServer {
    pub address: String,
    pub port: u16,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

/// The media line that serves a recorded clip's own H.264 (no re-encoding) in RTP, paced
/// in real time by the RTSP media's clock, as an IP camera sends it.
pub fn clip_launch(clip: &Path) -> String {
    let demux = if clip.extension().is_some_and(|e| e == "mkv") {
        "matroskademux"
    } else {
        "qtdemux"
    };
    format!(
        "filesrc location=\"{}\" ! {demux} ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96",
        clip.display()
    )
}

impl RtspServer {
    /// Listens on `address:port` (port 0 = any free one) and serves `mounts`. `configure`
    /// sees each new media (e.g. to attach an `appsrc`), with its mount's name.
    pub fn start(
        address: &str,
        port: u16,
        mounts: &[Mount],
        configure: impl Fn(&str, &gst_rtsp_server::RTSPMedia) + Send + Sync + Clone + 'static,
    ) -> Result<RtspServer, String> {
        let ctx = glib::MainContext::new();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(address);
        server.set_service(&port.to_string());
        let points = server
            .mount_points()
            .ok_or("RTSP server has no mount points")?;
        for m in mounts {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            factory.set_launch(&format!("( {} )", m.launch));
            factory.set_shared(m.shared);
            if m.record {
                factory.set_transport_mode(gst_rtsp_server::RTSPTransportMode::RECORD);
            }
            let name = m.name.clone();
            let configure = configure.clone();
            factory.connect_media_configure(move |_, media| configure(&name, media));
            points.add_factory(&format!("/{}", m.name), factory);
        }
        let source = server
            .attach(Some(&ctx))
            .map_err(|e| format!("cannot listen on {address}:{port}: {e}"))?;
        let port = server.bound_port() as u16;
        if port == 0 {
            return Err(format!("RTSP server bound no port on {address}"));
        }
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let thread = std::thread::spawn(move || {
            ml.run();
            // Stopping: drop every client session, as a camera that goes away does.
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
            // The listening socket's source lives in our context, not the default one.
            if let Some(s) = ctx.find_source_by_id(&source) {
                s.destroy();
            }
        });
        Ok(RtspServer {
            address: address.to_string(),
            port,
            main_loop,
            thread: Some(thread),
        })
    }

    /// The URL of a mount, with a host a client on this machine can reach.
    pub fn url(&self, name: &str) -> String {
        let host = match self.address.as_str() {
            "0.0.0.0" | "::" => "127.0.0.1",
            a => a,
        };
        format!("rtsp://{host}:{}/{name}", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
