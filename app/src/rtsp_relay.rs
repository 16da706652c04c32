//! Hands encoded H.264 from the counting pipeline's `appsink` to the `appsrc` of every RTSP
//! media that serves it. The counting pipeline runs whether or not an NVR is connected;
//! clients come and go without touching it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The media line of a relayed mount: the `appsrc` this relay feeds.
pub const RELAY_LAUNCH: &str = "appsrc name=feed is-live=true format=time do-timestamp=true \
     max-bytes=4000000 leaky-type=downstream \
     ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1";

struct Feed {
    src: gst::glib::WeakRef<gst_app::AppSrc>,
    /// Set when the media is torn down (its last client left).
    gone: Arc<AtomicBool>,
    /// A new client can only decode from a key frame: nothing is sent before one.
    started: bool,
}

#[derive(Default)]
pub struct Relay {
    feeds: Mutex<Vec<Feed>>,
    caps: Mutex<Option<gst::Caps>>,
}

impl Relay {
    /// Called for each new RTSP media of the relayed mount (`media-configure`).
    pub fn attach(&self, media: &gst_rtsp_server::RTSPMedia) {
        use gst_rtsp_server::prelude::*;
        let Some(src) = media
            .element()
            .downcast::<gst::Bin>()
            .ok()
            .and_then(|b| b.by_name("feed"))
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            return;
        };
        if let Some(caps) = self.caps.lock().unwrap().as_ref() {
            src.set_caps(Some(caps));
        }
        let gone = Arc::new(AtomicBool::new(false));
        let g = gone.clone();
        media.connect_unprepared(move |_| g.store(true, Ordering::Relaxed));
        self.feeds.lock().unwrap().push(Feed {
            src: src.downgrade(),
            gone,
            started: false,
        });
    }

    /// Number of media currently fed (clients watching a shared mount count once).
    pub fn feeds(&self) -> usize {
        self.feeds.lock().unwrap().len()
    }

    /// One encoded access unit from the `appsink`: to every feed; feeds whose media has
    /// gone (client left) are dropped.
    pub fn push(&self, sample: &gst::Sample) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        if let Some(caps) = sample.caps_owned() {
            let mut known = self.caps.lock().unwrap();
            if known.as_ref() != Some(&caps) {
                *known = Some(caps.clone());
                for src in self
                    .feeds
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|f| f.src.upgrade())
                {
                    src.set_caps(Some(&caps));
                }
            }
        }
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let mut feeds = self.feeds.lock().unwrap();
        feeds.retain_mut(|f| {
            let Some(src) = f.src.upgrade().filter(|_| !f.gone.load(Ordering::Relaxed)) else {
                return false;
            };
            if f.started || key {
                // The media timestamps on arrival (do-timestamp): its clock is not ours.
                let mut b = buffer.copy();
                {
                    let b = b.make_mut();
                    b.set_pts(gst::ClockTime::NONE);
                    b.set_dts(gst::ClockTime::NONE);
                }
                // Refused while the media is still starting: wait for the next key frame.
                f.started = src.push_buffer(b).is_ok();
            }
            true
        });
    }
}
