//! What the filter-like bins (`footfallbin`, `countsoverlay`) share: `sink`/`src` ghost
//! pads on any raw video, and refusing to start — with the reason — when a child could not
//! be made (an element missing from the installation) instead of crashing.

use std::sync::{LazyLock, Mutex};

use gst::prelude::*;

/// The bins' pad templates: any raw video, as their first child takes.
pub fn pad_templates() -> &'static [gst::PadTemplate] {
    static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
        crate::video_frame::filter_templates(&crate::video_frame::any_video_caps())
    });
    TEMPLATES.as_ref()
}

/// Adds the `sink` and `src` ghost pads (targets unset: the children are linked to them
/// afterwards).
pub fn add_ghost_pads(bin: &gst::Bin) -> (gst::GhostPad, gst::GhostPad) {
    let ghost = |name: &str| {
        let templ = bin.pad_template(name).expect("templates are static");
        gst::GhostPad::builder_from_template(&templ)
            .name(name)
            .build()
    };
    let (sink, src) = (ghost("sink"), ghost("src"));
    bin.add_pad(&sink).expect("fresh ghost pad");
    bin.add_pad(&src).expect("fresh ghost pad");
    (sink, src)
}

/// Why the bin's children could not be built, if they could not.
#[derive(Default)]
pub struct Broken(Mutex<Option<String>>);

impl Broken {
    pub fn set(&self, why: String) {
        *self.0.lock().unwrap() = Some(why);
    }

    /// On NULL→READY: an element error with the reason and a failed state change.
    pub fn refuse_start(
        &self,
        bin: &gst::Element,
        transition: gst::StateChange,
    ) -> Result<(), gst::StateChangeError> {
        if transition != gst::StateChange::NullToReady {
            return Ok(());
        }
        match self.0.lock().unwrap().clone() {
            Some(e) => {
                gst::element_error!(bin, gst::CoreError::MissingPlugin, ("{}", e));
                Err(gst::StateChangeError)
            }
            None => Ok(()),
        }
    }
}
