use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;

use crate::meta::counts::Counts;
use gst::subclass::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "countsoverlay",
        gst::DebugColorFlags::empty(),
        Some("Footfall counts drawn on the video"),
    )
});

const DEFAULT_FONT: &str = "Sans 14";

#[derive(Default)]
pub struct CountsOverlay {
    /// Why the overlay could not be built (textoverlay, from the pango plugin, missing); the
    /// bin then refuses to start with this message.
    broken: crate::filter_bin::Broken,
}

#[glib::object_subclass]
impl ObjectSubclass for CountsOverlay {
    const NAME: &'static str = "GstFootfallCountsOverlay";
    type Type = super::CountsOverlay;
    type ParentType = gst::Bin;
}

impl CountsOverlay {
    fn text(&self) -> Option<gst::Element> {
        self.obj().by_name("text")
    }

    fn build(&self, sink: &gst::GhostPad, src: &gst::GhostPad) -> Result<(), String> {
        let text = gst::ElementFactory::make("textoverlay")
            .name("text")
            .property_from_str("valignment", "top")
            .property_from_str("halignment", "left")
            .property("shaded-background", true)
            .property("font-desc", DEFAULT_FONT)
            .build()
            .map_err(|e| {
                format!("cannot make textoverlay (Debian/Ubuntu package gstreamer1.0-x): {e}")
            })?;
        self.obj().add(&text).map_err(|e| e.to_string())?;
        let video_sink = text.static_pad("video_sink").ok_or("no video_sink pad")?;
        // The text follows each buffer's counts; set before the buffer is drawn, and only
        // when they change (a new text makes textoverlay lay it out again).
        let t = text.downgrade();
        let shown: Mutex<Option<Counts>> = Mutex::new(None);
        video_sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let counts = info.buffer().and_then(|b| Counts::read(b));
            let mut shown = shown.lock().unwrap();
            if let (Some(text), Some(c)) = (t.upgrade(), counts.filter(|c| *shown != Some(*c))) {
                text.set_property("text", super::counts_text(c));
                *shown = Some(c);
            }
            gst::PadProbeReturn::Ok
        });
        sink.set_target(Some(&video_sink))
            .map_err(|e| e.to_string())?;
        src.set_target(text.static_pad("src").as_ref())
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl ObjectImpl for CountsOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecString::builder("font-desc")
                .nick("Font")
                .blurb("Pango font description of the counts text (text::font-desc)")
                .default_value(Some(DEFAULT_FONT))
                .mutable_playing()
                .build()]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if let Some(t) = self.text() {
            t.set_property_from_value(pspec.name(), value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match self.text() {
            Some(t) => t.property_value(pspec.name()),
            None => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let (sink, src) = crate::filter_bin::add_ghost_pads(self.obj().upcast_ref());
        if let Err(e) = self.build(&sink, &src) {
            gst::error!(CAT, imp = self, "{e}");
            self.broken.set(e);
        }
    }
}

impl GstObjectImpl for CountsOverlay {}

impl ElementImpl for CountsOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Footfall counts overlay",
                "Filter/Editor/Video/Bin",
                "Draws the current unique visitors, visits, returning visits and faces in view \
                 (facecounter's counts meta) on the video; child: text (textoverlay)",
                "Footfall developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::filter_bin::pad_templates()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.broken
            .refuse_start(self.obj().upcast_ref(), transition)?;
        self.parent_change_state(transition)
    }
}

impl BinImpl for CountsOverlay {}
