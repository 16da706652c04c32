//! A loopback RTSP server that serves recorded clips the way an IP camera does: the clip's
//! own H.264 (no re-encoding) in RTP, paced in real time, on 127.0.0.1 at a free port, over
//! TCP or UDP as the client asks. One mount per clip: `rtsp://127.0.0.1:PORT/NAME`.

use std::path::Path;
use std::thread::JoinHandle;

use gst::glib;
use gst_rtsp_server::prelude::*;

pub struct LoopbackCamera {
    pub port: u16,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackCamera {
    /// Serves each `(name, clip)` at `/name` on a free port.
    pub fn serve(clips: &[(&str, &Path)]) -> LoopbackCamera {
        Self::serve_on(0, clips)
    }

    /// Serves on `port` (0 = any free one): a camera restarted on its old port.
    pub fn serve_on(port: u16, clips: &[(&str, &Path)]) -> LoopbackCamera {
        let mounts: Vec<(&str, String)> = clips
            .iter()
            .map(|(name, clip)| {
                let demux = if clip.extension().is_some_and(|e| e == "mkv") {
                    "matroskademux"
                } else {
                    "qtdemux"
                };
                (
                    *name,
                    format!(
                        "filesrc location=\"{}\" ! {demux} ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96",
                        clip.display()
                    ),
                )
            })
            .collect();
        Self::serve_launch(port, &mounts)
    }

    /// Serves arbitrary media pipelines (`… ! <payloader> name=pay0`), e.g. a broken camera.
    pub fn serve_launch(port: u16, mounts: &[(&str, String)]) -> LoopbackCamera {
        super::init();
        let ctx = glib::MainContext::new();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let points = server.mount_points().expect("mount points");
        for (name, launch) in mounts {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            factory.set_launch(&format!("( {launch} )"));
            // Each client gets its own playback from the start, like a fresh camera session.
            factory.set_shared(false);
            points.add_factory(&format!("/{name}"), factory);
        }
        let source = server.attach(Some(&ctx)).expect("RTSP server attaches");
        let port = server.bound_port() as u16;
        assert!(port > 0, "RTSP server bound no port");
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
        LoopbackCamera {
            port,
            main_loop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for LoopbackCamera {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
