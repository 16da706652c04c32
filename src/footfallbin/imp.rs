use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "footfallbin",
        gst::DebugColorFlags::empty(),
        Some("Footfall counting chain in one bin"),
    )
});

/// The children, in stream order: (name, factory).
const CHAIN: [(&str, &str); 5] = [
    ("convert", "videoconvert"),
    ("detector", "facedetector"),
    ("tracker", "facetracker"),
    ("embedder", "faceembedder"),
    ("counter", "facecounter"),
];

/// Bin property → (children, child property). `device` goes to both models.
const FORWARDED: &[(&str, &[&str], &str)] = &[
    ("gallery", &["counter"], "gallery"),
    ("location", &["counter"], "location"),
    ("staff-gallery", &["counter"], "staff-gallery"),
    ("match-threshold", &["counter"], "match-threshold"),
    ("retention", &["counter"], "retention"),
    ("capacity", &["counter"], "capacity"),
    ("report-interval", &["counter"], "report-interval"),
    ("count-unidentified", &["counter"], "count-unidentified"),
    ("store", &["counter"], "store"),
    ("camera", &["counter"], "camera"),
    ("min-quality", &["embedder"], "min-quality"),
    ("mask-gate", &["embedder"], "mask-gate"),
    ("inference-interval", &["detector"], "inference-interval"),
    ("inference-width", &["detector"], "inference-width"),
    ("motion-threshold", &["detector"], "motion-threshold"),
    ("detector-model", &["detector"], "model"),
    ("embedder-model", &["embedder"], "model"),
    ("device", &["detector", "embedder"], "device"),
];

/// Where the bin's default differs from its child's: the bin always has the tracker, which
/// fills the frames the detector skips, so it detects on every 3rd frame (BENCHMARKS.md: the
/// same counts on every clip as every frame, at less than half the detector's CPU; every 5th
/// frame loses people), and skips the detector on still, empty scenes. A bare
/// `facedetector` stays at every frame. Numbers, converted to the property's type.
const BIN_DEFAULTS: &[(&str, f64)] = &[("inference-interval", 3.0), ("motion-threshold", 8.0)];

fn bin_default(name: &str) -> Option<f64> {
    BIN_DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

fn child_type(child: &str) -> glib::Type {
    match child {
        "detector" => crate::facedetector::FaceDetector::static_type(),
        "embedder" => crate::faceembedder::FaceEmbedder::static_type(),
        _ => crate::facecounter::FaceCounter::static_type(),
    }
}

/// A property of the bin mirroring a child's: same type, range, default and description.
fn mirror(name: &str, child: &str, prop: &str) -> glib::ParamSpec {
    let class = glib::object::ObjectClass::from_type(child_type(child)).expect("child class");
    let p = class
        .find_property(prop)
        .unwrap_or_else(|| panic!("{child} has no property {prop}"));
    let blurb = format!("{} ({child}::{prop})", p.blurb().unwrap_or_default());
    if let Some(s) = p.downcast_ref::<glib::ParamSpecString>() {
        glib::ParamSpecString::builder(name)
            .nick(p.nick())
            .blurb(&blurb)
            .default_value(s.default_value())
            .mutable_ready()
            .build()
    } else if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
        glib::ParamSpecUInt::builder(name)
            .nick(p.nick())
            .blurb(&blurb)
            .minimum(u.minimum())
            .maximum(u.maximum())
            .default_value(bin_default(name).map_or(u.default_value(), |v| v as u32))
            .mutable_ready()
            .build()
    } else if let Some(f) = p.downcast_ref::<glib::ParamSpecFloat>() {
        glib::ParamSpecFloat::builder(name)
            .nick(p.nick())
            .blurb(&blurb)
            .minimum(f.minimum())
            .maximum(f.maximum())
            .default_value(bin_default(name).map_or(f.default_value(), |v| v as f32))
            .mutable_ready()
            .build()
    } else if let Some(b) = p.downcast_ref::<glib::ParamSpecBoolean>() {
        glib::ParamSpecBoolean::builder(name)
            .nick(p.nick())
            .blurb(&blurb)
            .default_value(b.default_value())
            .mutable_ready()
            .build()
    } else {
        unreachable!("forwarded property {prop} of an unhandled type")
    }
}

#[derive(Default)]
pub struct FootfallBin {
    /// Why the chain could not be built (an element missing from the installation); the
    /// bin then refuses to start with this message instead of crashing the application.
    broken: crate::filter_bin::Broken,
}

#[glib::object_subclass]
impl ObjectSubclass for FootfallBin {
    const NAME: &'static str = "GstFootfallBin";
    type Type = super::FootfallBin;
    type ParentType = gst::Bin;
}

impl FootfallBin {
    fn child(&self, name: &str) -> Option<gst::Element> {
        self.obj().by_name(name)
    }

    /// Makes, adds and links the children; ghost pads target the ends.
    fn build_chain(&self, sink: &gst::GhostPad, src: &gst::GhostPad) -> Result<(), String> {
        let bin = self.obj();
        let mut elements = Vec::new();
        for (name, factory) in CHAIN {
            elements.push(
                gst::ElementFactory::make(factory)
                    .name(name)
                    .build()
                    .map_err(|e| format!("cannot make {factory} (is it installed?): {e}"))?,
            );
        }
        bin.add_many(&elements).map_err(|e| e.to_string())?;
        gst::Element::link_many(&elements).map_err(|e| e.to_string())?;
        // The children start at the bin's defaults where those differ (the mirrored
        // properties carry them, in the children's types).
        for (name, _) in BIN_DEFAULTS {
            let (_, children, prop) = FORWARDED
                .iter()
                .find(|(n, _, _)| n == name)
                .expect("bin defaults are forwarded properties");
            let value = bin
                .find_property(name)
                .expect("forwarded properties are mirrored")
                .default_value()
                .clone();
            for c in children.iter().filter_map(|c| bin.by_name(c)) {
                c.set_property_from_value(prop, &value);
            }
        }
        sink.set_target(elements[0].static_pad("sink").as_ref())
            .map_err(|e| e.to_string())?;
        src.set_target(elements[CHAIN.len() - 1].static_pad("src").as_ref())
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl ObjectImpl for FootfallBin {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            FORWARDED
                .iter()
                .map(|(name, children, prop)| mirror(name, children[0], prop))
                .collect()
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let (_, children, prop) = FORWARDED
            .iter()
            .find(|(n, _, _)| *n == pspec.name())
            .expect("only forwarded properties are installed");
        for c in children.iter().filter_map(|c| self.child(c)) {
            c.set_property_from_value(prop, value);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let (_, children, prop) = FORWARDED
            .iter()
            .find(|(n, _, _)| *n == pspec.name())
            .expect("only forwarded properties are installed");
        match self.child(children[0]) {
            Some(c) => c.property_value(prop),
            None => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let (sink, src) = crate::filter_bin::add_ghost_pads(self.obj().upcast_ref());
        if let Err(e) = self.build_chain(&sink, &src) {
            gst::error!(CAT, imp = self, "{e}");
            self.broken.set(e);
        }
    }
}

impl GstObjectImpl for FootfallBin {}

impl ElementImpl for FootfallBin {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Footfall counting chain",
                "Filter/Analyzer/Video/Bin",
                "Counts unique visitors in decoded video: videoconvert ! facedetector ! facetracker ! \
                 faceembedder ! facecounter in one element (children: convert, detector, tracker, \
                 embedder, counter; any child property as child::property)",
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

impl BinImpl for FootfallBin {}
