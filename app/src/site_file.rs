//! The site file of `footfall run SITE.toml`: one shop's cameras, each with its source and
//! counting options, plus the store, HTTP and MQTT settings they share. Read with serde
//! (`deny_unknown_fields`, so a misspelt key is an error naming it and its line); the
//! per-camera `options` are footfallbin properties, checked against a real footfallbin
//! before anything runs, so a wrong name or value is refused at start, not in a thread.
//!
//! The format is documented in `examples/site.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gst::glib;
use gst::prelude::*;
use gstfootfall::publish::config::topic_level;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub site: SiteSection,
    pub http: Option<HttpSection>,
    pub mqtt: Option<MqttSection>,
    /// footfallbin properties every camera gets (a camera's own `options` win).
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
    #[serde(rename = "camera", default)]
    pub cameras: Vec<CameraSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// The site's name: the gallery its cameras share, the `site` of its counts.
    pub name: String,
    /// Count store path; `"none"` keeps none. Default: the user's data folder.
    pub store: Option<String>,
    /// Days the store keeps counts and visit events.
    pub store_retention_days: Option<u32>,
    /// Staff gallery file made by `footfall enroll`.
    pub staff_gallery: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// HOST:PORT of the API, metrics and dashboard.
    pub listen: String,
    /// Required of clients beyond loopback; default `$FOOTFALL_HTTP_TOKEN`.
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// mqtt://host[:port] or mqtts://…
    pub url: String,
    /// Topic base; each camera publishes under `<topic>/<camera>`. Default `footfall/<site>`.
    pub topic: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Unique within the site: the `camera` of its counts, topics and metrics.
    pub name: String,
    /// Video file path or URI (file://, rtsp://, http://).
    pub source: String,
    /// JSON-lines file of this camera's visit and count events.
    pub events: Option<String>,
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout_s: u64,
    #[serde(default)]
    pub end_with_stream: bool,
    #[serde(default = "default_max_lag")]
    pub max_lag_s: f64,
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

fn default_transport() -> String {
    "tcp".into()
}
fn default_connect_timeout() -> u64 {
    30
}
fn default_stall_timeout() -> u64 {
    10
}
fn default_max_lag() -> f64 {
    5.0
}

/// footfallbin properties (or the counter's, as `counter::NAME`) the site file sets itself
/// from its own keys: an option may not set them behind its back.
const OWNED: &[(&str, &str)] = &[
    ("name", "the camera's name"),
    ("gallery", "[site] name"),
    ("location", "the camera's events"),
    ("store", "[site] store"),
    ("camera", "the camera's name"),
    ("staff-gallery", "[site] staff_gallery"),
    ("store-retention", "[site] store_retention_days"),
];

/// Checked footfallbin properties: (name, value as text), in the order they are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties(pub Vec<(String, String)>);

/// Where the store goes.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreChoice {
    Default,
    None,
    At(PathBuf),
}

impl SiteFile {
    /// Reads and checks `path`; relative paths in it are relative to the file's folder.
    pub fn load(path: &Path) -> Result<SiteFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("site file '{}': {e}", path.display()))?;
        let mut site =
            SiteFile::parse(&text).map_err(|e| format!("site file '{}': {e}", path.display()))?;
        site.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(site)
    }

    /// Parses and checks a site file's text (paths left as written).
    pub fn parse(text: &str) -> Result<SiteFile, String> {
        let site: SiteFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        site.check()?;
        Ok(site)
    }

    fn check(&self) -> Result<(), String> {
        if self.site.name.trim().is_empty() {
            return Err("[site] name is empty".into());
        }
        if self.cameras.is_empty() {
            return Err("no [[camera]]: a site counts at least one".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.cameras {
            if c.name.trim().is_empty() {
                return Err(format!("a [[camera]] of source '{}' has no name", c.source));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(format!("two cameras are named '{}'", c.name));
            }
            if !["tcp", "udp", "tcp+udp"].contains(&c.transport.as_str()) {
                return Err(format!(
                    "camera '{}': transport = '{}': use tcp, udp or tcp+udp",
                    c.name, c.transport
                ));
            }
            if c.events.as_deref() == Some("-") {
                return Err(format!(
                    "camera '{}': events = '-': give a file (stdout carries the run's summary)",
                    c.name
                ));
            }
            if !(c.max_lag_s.is_finite() && c.max_lag_s > 0.0) {
                return Err(format!(
                    "camera '{}': max_lag_s = {}: a number of seconds above 0",
                    c.name, c.max_lag_s
                ));
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let under = |p: &mut String| {
            let path = Path::new(p.as_str());
            if path.is_relative() && p != "-" && !p.contains("://") {
                *p = dir.join(path).display().to_string();
            }
        };
        if let Some(s) = self.site.store.as_mut().filter(|s| *s != "none") {
            under(s);
        }
        self.site.staff_gallery.as_mut().map(under);
        for c in &mut self.cameras {
            under(&mut c.source);
            c.events.as_mut().map(under);
        }
    }

    pub fn store(&self) -> StoreChoice {
        match self.site.store.as_deref() {
            None => StoreChoice::Default,
            Some("none") => StoreChoice::None,
            Some(p) => StoreChoice::At(PathBuf::from(p)),
        }
    }

    /// The MQTT topic base of `camera`.
    pub fn mqtt_topic(&self, camera: &str) -> Option<String> {
        let m = self.mqtt.as_ref()?;
        let base = m
            .topic
            .clone()
            .unwrap_or_else(|| format!("footfall/{}", topic_level(&self.site.name)));
        Some(format!(
            "{}/{}",
            base.trim_end_matches('/'),
            topic_level(camera)
        ))
    }

    /// Every camera's options (site-wide ones first, its own after), checked against
    /// `probe`, a footfallbin.
    pub fn camera_properties(&self, probe: &gst::Element) -> Result<Vec<Properties>, String> {
        self.cameras
            .iter()
            .map(|c| {
                let mut merged = self.options.clone();
                merged.extend(c.options.clone());
                check_options(&merged, probe)
                    .map_err(|e| format!("camera '{}': options: {e}", c.name))
            })
            .collect()
    }
}

fn check_options(
    options: &BTreeMap<String, toml::Value>,
    probe: &gst::Element,
) -> Result<Properties, String> {
    let proxy = probe
        .dynamic_cast_ref::<gst::ChildProxy>()
        .ok_or("the probe is not a bin")?;
    let mut out = Vec::new();
    for (key, value) in options {
        let bare = key.strip_prefix("counter::").unwrap_or(key);
        if let Some((_, from)) = OWNED.iter().find(|(k, _)| *k == bare) {
            return Err(format!("'{key}' is set by {from}, not in options"));
        }
        if key.starts_with("counter::mqtt-") {
            return Err(format!("'{key}': MQTT is set in [mqtt]"));
        }
        let (_, pspec) = proxy
            .lookup(key)
            .map_err(|_| format!("'{key}' is not a footfallbin property (gst-inspect-1.0 footfallbin lists them; a child's as counter::NAME)"))?;
        let settable = pspec.flags().contains(glib::ParamFlags::WRITABLE)
            && !pspec.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
            && pspec.owner_type() != gst::Object::static_type()
            && pspec.owner_type() != gst::Bin::static_type()
            && pspec.owner_type() != gst::Element::static_type();
        if !settable {
            return Err(format!("'{key}' cannot be set"));
        }
        let text = value_text(key, value)?;
        parse_value(&text, &pspec).map_err(|takes| {
            format!("{key} = {value}: '{text}' is not a value '{key}' takes ({takes})")
        })?;
        out.push((key.clone(), text));
    }
    Ok(Properties(out))
}

/// A TOML scalar as the text GStreamer parses.
fn value_text(key: &str, v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "{key} = {other}: a property takes a string, number or boolean"
        )),
    }
}

/// `text` as a value of `pspec`, within its range; else what it takes, in words.
fn parse_value(text: &str, pspec: &glib::ParamSpec) -> Result<glib::Value, String> {
    parse_strict(text, pspec)
        .filter(|v| in_range(v, pspec))
        .ok_or_else(|| describe(pspec))
}

/// Whether a number lies in the property's range (GLib would clamp it silently).
fn in_range(v: &glib::Value, pspec: &glib::ParamSpec) -> bool {
    macro_rules! check {
        ($spec:ty, $ty:ty) => {
            if let Some(p) = pspec.downcast_ref::<$spec>() {
                return v
                    .get::<$ty>()
                    .is_ok_and(|x| x >= p.minimum() && x <= p.maximum());
            }
        };
    }
    check!(glib::ParamSpecDouble, f64);
    check!(glib::ParamSpecFloat, f32);
    check!(glib::ParamSpecUInt, u32);
    check!(glib::ParamSpecInt, i32);
    check!(glib::ParamSpecUInt64, u64);
    check!(glib::ParamSpecInt64, i64);
    true
}

/// Numbers and booleans parsed by Rust (GStreamer's parser takes "3abc" as 3); other
/// types (enums, flags, caps…) by GStreamer.
fn parse_strict(text: &str, pspec: &glib::ParamSpec) -> Option<glib::Value> {
    let t = pspec.value_type();
    let text = text.trim();
    Some(if t == glib::Type::BOOL {
        text.parse::<bool>().ok()?.to_value()
    } else if t == glib::Type::U32 {
        text.parse::<u32>().ok()?.to_value()
    } else if t == glib::Type::I32 {
        text.parse::<i32>().ok()?.to_value()
    } else if t == glib::Type::U64 {
        text.parse::<u64>().ok()?.to_value()
    } else if t == glib::Type::I64 {
        text.parse::<i64>().ok()?.to_value()
    } else if t == glib::Type::F64 {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())?
            .to_value()
    } else if t == glib::Type::F32 {
        text.parse::<f32>()
            .ok()
            .filter(|f| f.is_finite())?
            .to_value()
    } else if t == glib::Type::STRING {
        text.to_value()
    } else {
        glib::Value::deserialize_with_pspec(text, pspec).ok()?
    })
}

/// What a property takes, e.g. "a number from 0 to 1".
fn describe(pspec: &glib::ParamSpec) -> String {
    macro_rules! range {
        ($ty:ty, $what:expr) => {
            if let Some(p) = pspec.downcast_ref::<$ty>() {
                return format!("{} from {} to {}", $what, p.minimum(), p.maximum());
            }
        };
    }
    range!(glib::ParamSpecDouble, "a number");
    range!(glib::ParamSpecFloat, "a number");
    range!(glib::ParamSpecUInt, "a whole number");
    range!(glib::ParamSpecInt, "a whole number");
    range!(glib::ParamSpecUInt64, "a whole number");
    range!(glib::ParamSpecInt64, "a whole number");
    if pspec.value_type() == glib::Type::BOOL {
        return "true or false".into();
    }
    if let Some(e) = pspec.downcast_ref::<glib::ParamSpecEnum>() {
        let names: Vec<String> = e
            .enum_class()
            .values()
            .iter()
            .map(|v| v.nick().to_string())
            .collect();
        return format!("one of {}", names.join(", "));
    }
    format!("a {}", pspec.value_type().name())
}

impl Properties {
    /// Sets every property on `bin` (a footfallbin, checked by [`SiteFile::camera_properties`]).
    pub fn apply(&self, bin: &gst::Element) -> Result<(), String> {
        let proxy = bin
            .dynamic_cast_ref::<gst::ChildProxy>()
            .ok_or("the counting element is not a bin")?;
        for (key, text) in &self.0 {
            let (obj, pspec) = proxy
                .lookup(key)
                .map_err(|_| format!("'{key}' is not a footfallbin property"))?;
            let value = parse_value(text, &pspec).map_err(|t| format!("{key}: {t}"))?;
            obj.set_property_from_value(pspec.name(), &value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
