//! The loopback RTSP "camera" of the tests: the product's own server
//! ([`footfall_app::rtsp_server`]) on 127.0.0.1, serving recorded clips as an IP camera does
//! (their own H.264 in RTP, real time, TCP or UDP as the client asks; each client from the
//! start). Dropping it drops every client session, as a camera that goes away does.

#![allow(dead_code)]

use std::path::Path;

use footfall_app::rtsp_server::{clip_launch, Mount, RtspServer};

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
        crate::common::init();
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

/// A TCP relay in front of a camera whose open connections can be frozen: bytes stop
/// flowing both ways while the sockets stay open, as with a camera or link that hangs
/// silently. Connections made after a freeze flow normally.
pub struct FreezingLink {
    pub port: u16,
    /// Connections numbered below this are frozen.
    frozen_below: std::sync::Arc<std::sync::atomic::AtomicU64>,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FreezingLink {
    /// Relays 127.0.0.1:`port` (a free one) to 127.0.0.1:`upstream`.
    pub fn to(upstream: u16) -> FreezingLink {
        use std::sync::atomic::Ordering::Relaxed;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let link = FreezingLink {
            port: listener.local_addr().unwrap().port(),
            frozen_below: Default::default(),
            closed: Default::default(),
            next: Default::default(),
        };
        let (frozen_below, closed, next) = (
            link.frozen_below.clone(),
            link.closed.clone(),
            link.next.clone(),
        );
        std::thread::spawn(move || {
            while !closed.load(Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                };
                let Ok(camera) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let id = next.fetch_add(1, Relaxed);
                let pump = |from: std::net::TcpStream, to: std::net::TcpStream| {
                    let (frozen_below, closed) = (frozen_below.clone(), closed.clone());
                    std::thread::spawn(move || pump(from, to, id, &frozen_below, &closed));
                };
                pump(client.try_clone().unwrap(), camera.try_clone().unwrap());
                pump(camera, client);
            }
        });
        link
    }

    /// Freezes every connection open now.
    pub fn freeze(&self) {
        let n = self.next.load(std::sync::atomic::Ordering::Relaxed);
        self.frozen_below
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either closes, holding both open without a byte moving once
/// connection `id` is frozen, until the link is dropped.
fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    id: u64,
    frozen_below: &std::sync::atomic::AtomicU64,
    closed: &std::sync::atomic::AtomicBool,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering::Relaxed;
    let _ = from.set_read_timeout(Some(std::time::Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    while !closed.load(Relaxed) {
        if id < frozen_below.load(Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for FreezingLink {
    fn drop(&mut self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
