//! `facecounter`'s count-store properties, and opening the store when the element starts
//! (kept apart from the counting glue in `imp.rs`).

use std::path::Path;
use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;

use crate::count::events::StoreOutput;
use crate::count::store::{CountStore, Resume, DEFAULT_RETENTION_DAYS};

#[derive(Debug, Clone)]
pub struct StoreProps {
    path: Option<String>,
    retention_days: u32,
    camera: Option<String>,
}

impl Default for StoreProps {
    fn default() -> Self {
        StoreProps {
            path: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            camera: None,
        }
    }
}

pub fn specs() -> &'static [glib::ParamSpec] {
    static SPECS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
        vec![
            glib::ParamSpecString::builder("store")
                .nick("Count store")
                .blurb("SQLite file keeping per-minute counts and visit events (never a face, an embedding or an identity), so counts survive a restart and can be exported; unset = none")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("store-retention")
                .nick("Count store retention")
                .blurb("Days the count store keeps its rows")
                .minimum(1)
                .default_value(DEFAULT_RETENTION_DAYS)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("camera")
                .nick("Camera")
                .blurb("Camera name the count store's rows carry (unset = the footfallbin around the counter, else the element's name)")
                .mutable_ready()
                .build(),
        ]
    });
    SPECS.as_ref()
}

/// Sets `name` if it is a store property; false otherwise.
pub fn set(p: &mut StoreProps, name: &str, value: &glib::Value) -> bool {
    match name {
        "store" => {
            p.path = value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .filter(|s| !s.is_empty())
        }
        "store-retention" => p.retention_days = value.get().expect("type checked upstream"),
        "camera" => {
            p.camera = value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .filter(|s| !s.is_empty())
        }
        _ => return false,
    }
    true
}

/// The value of store property `name`, if it is one.
pub fn get(p: &StoreProps, name: &str) -> Option<glib::Value> {
    Some(match name {
        "store" => p.path.to_value(),
        "store-retention" => p.retention_days.to_value(),
        "camera" => p.camera.to_value(),
        _ => return None,
    })
}

/// The camera a counter's rows carry: `camera` when set, else the `footfallbin` around it
/// (its counter child is always called "counter"), else the element's own name.
pub fn camera_name(p: &StoreProps, element: &gst::Element) -> String {
    if let Some(c) = &p.camera {
        return c.clone();
    }
    let bin = element
        .parent()
        .filter(|p| p.type_() == crate::footfallbin::FootfallBin::static_type());
    bin.map(|b| b.name().to_string())
        .unwrap_or_else(|| element.name().to_string())
}

/// The local time zone's UTC offset at `unix_ms`, seconds (0 if GLib cannot say).
pub fn utc_offset_at(unix_ms: i64) -> i32 {
    glib::DateTime::from_unix_local(unix_ms.div_euclid(1000))
        .map_or(0, |t| (t.utc_offset().as_seconds()) as i32)
}

/// Today's local date (`YYYY-MM-DD`) and the Unix second its local midnight was.
pub fn local_day() -> Option<(String, i64)> {
    let now = glib::DateTime::now_local().ok()?;
    let midnight =
        glib::DateTime::from_local(now.year(), now.month(), now.day_of_month(), 0, 0, 0.0).ok()?;
    Some((now.format("%F").ok()?.to_string(), midnight.to_unix()))
}

/// What opening the store gave: the output for the events, where the camera resumes, and
/// what to warn about (a file set aside, or no store at all: counting goes on either way).
pub struct OpenedStore {
    pub output: Option<StoreOutput>,
    pub resume: Resume,
    /// Today's date the resumed counts are of.
    pub day: Option<String>,
    pub warnings: Vec<String>,
}

/// Opens the store if `store` is set. `window_start_ns`: when the site's counting window
/// began (wall clock); rows from before it are what earlier runs counted today.
pub fn open(p: &StoreProps, site: &str, camera: &str, window_start_ns: u64) -> OpenedStore {
    let mut opened = OpenedStore {
        output: None,
        resume: Resume {
            next_visit: 1,
            ..Resume::default()
        },
        day: None,
        warnings: Vec::new(),
    };
    let Some(path) = p.path.as_deref() else {
        return opened;
    };
    let store = match CountStore::open(Path::new(path), p.retention_days) {
        Ok(o) => {
            opened.warnings.extend(o.set_aside);
            o.store
        }
        Err(e) => {
            opened
                .warnings
                .push(format!("{e}; counting without a store"));
            return opened;
        }
    };
    let before_s = (window_start_ns / 1_000_000_000) as i64;
    match local_day() {
        Some((day, start_s)) => match store.resume(site, camera, start_s, before_s) {
            Ok(r) => {
                opened.resume = r;
                opened.day = Some(day);
            }
            Err(e) => opened
                .warnings
                .push(format!("{e}: today's stored counts not resumed")),
        },
        None => opened
            .warnings
            .push("no local time: today's stored counts not resumed".into()),
    }
    opened.output = Some(StoreOutput {
        store,
        site: site.to_string(),
        camera: camera.to_string(),
        lost: 0,
    });
    opened
}
