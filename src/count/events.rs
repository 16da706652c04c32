//! Event output: JSON lines (one object per line, flushed per line, by the writer thread) and MQTT, the same
//! objects in both, no face data in any.
//!
//! `{"event":"visit","visit":N,"returning":bool,"staff":bool,"identified":bool,"pts":S,
//! "distance":D,"margin":M,"dwell_s":T}` when a visit is decided (`dwell_s`: first to last
//! seen of its track, `null` if unknown) (`distance`: visit distance to the matched identity,
//! or to the nearest one for a new visitor, `null` when none was near; `margin`:
//! `match-threshold - distance`, positive for a match, negative for a new visitor — how
//! safe the decision was; `identified` false: a face too small to identify, counted but
//! never matched), `{"event":"counts","unique_visitors":…,"visits":…,"returning_visits":…,
//! "staff_visits":…,"in_view":…,"pts":S}` on change, periodically and at end of stream.

use std::io::Write;

use serde_json::json;

use super::store::{CountStore, StoredVisit, VisitKind};
use super::visits::Counts;
use super::writer::{BackgroundWriter, Dropped};
use crate::publish::mqtt::MqttPublisher;

/// A decided visit as the JSON line reports it.
#[derive(Debug, Clone, Copy)]
pub struct VisitEvent {
    pub returning: bool,
    pub staff: bool,
    pub pts_s: f64,
    pub distance: Option<f32>,
    pub threshold: f32,
    /// False for a person too far away to identify (counted, never matched).
    pub identified: bool,
    /// First to last seen of the visit's track (ns), if known.
    pub dwell_ns: Option<u64>,
    /// Wall-clock time of the decision, Unix milliseconds.
    pub at_ms: i64,
    /// What the visit added to the site's counts.
    pub added: Counts,
}

impl VisitEvent {
    pub fn kind(&self) -> VisitKind {
        match (self.staff, self.returning, self.identified) {
            (true, _, _) => VisitKind::Staff,
            (_, true, _) => VisitKind::Returning,
            (_, _, false) => VisitKind::Unidentified,
            _ => VisitKind::New,
        }
    }
}

/// The JSON object of a decided visit (`number`: its order in this element's output).
pub fn visit_json(number: u64, v: &VisitEvent) -> serde_json::Value {
    // Three decimals: enough to tune a threshold, no more precision than that.
    let round = |x: f32| (x as f64 * 1000.0).round() / 1000.0;
    json!({
        "event": "visit",
        "visit": number,
        "returning": v.returning,
        "staff": v.staff,
        "identified": v.identified,
        "pts": v.pts_s,
        "distance": v.distance.map(round),
        "margin": v.distance.map(|d| round(v.threshold - d)),
        "dwell_s": v.dwell_ns.map(|d| (d as f64 / 1e6).round() / 1000.0),
    })
}

pub fn counts_json(c: &Counts, in_view: u32, pts_s: f64) -> serde_json::Value {
    json!({
        "event": "counts",
        "unique_visitors": c.unique_visitors,
        "visits": c.visits,
        "returning_visits": c.returning_visits,
        "staff_visits": c.staff_visits,
        "unidentified_visits": c.unidentified_visits,
        "in_view": in_view,
        "pts": pts_s,
    })
}

/// JSON lines to a file or stdout.
pub struct EventWriter {
    out: Box<dyn Write + Send>,
    /// The line being written, reused.
    line: Vec<u8>,
}

impl EventWriter {
    /// `-` is stdout; anything else a file, created or appended to.
    pub fn open(location: &str) -> Result<EventWriter, String> {
        let out: Box<dyn Write + Send> = if location == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(location)
                    .map_err(|e| format!("cannot open '{location}' for writing: {e}"))?,
            )
        };
        Ok(EventWriter {
            out,
            line: Vec::new(),
        })
    }

    /// Writes `text` and its newline in one write and flushes it, so a reader never sees
    /// half an object.
    pub fn write_line(&mut self, text: &str) -> Result<(), String> {
        self.line.clear();
        self.line.extend_from_slice(text.as_bytes());
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .and_then(|_| self.out.flush())
            .map_err(|e| format!("cannot write event: {e}"))
    }
}

/// Every place events go: the JSON-lines file (written by the writer thread) and the MQTT
/// broker, each optional; one object built once for all of them. Queueing never blocks.
pub struct EventOutputs {
    /// The file thread: JSON lines when there is a file, gallery snapshots.
    pub writer: BackgroundWriter,
    json_lines: bool,
    pub mqtt: Option<MqttPublisher>,
    pub store: Option<StoreOutput>,
    /// The number of the last visit (the store's numbering continues across restarts).
    visits: u64,
    /// JSON lines lost because the writer thread was behind.
    pub dropped_lines: u64,
}

/// The count store and the names its rows of this element carry.
pub struct StoreOutput {
    pub store: CountStore,
    pub site: String,
    pub camera: String,
    /// Visits lost: the store thread was behind, or a commit failed.
    pub lost: u64,
}

impl EventOutputs {
    /// `file`: the JSON-lines file, if any; the writer thread starts either way (it also
    /// writes the gallery file).
    /// `first_visit`: the number the first visit gets (a store resumes its numbering).
    pub fn new(
        file: Option<EventWriter>,
        mqtt: Option<MqttPublisher>,
        store: Option<StoreOutput>,
        first_visit: u64,
    ) -> Result<Self, String> {
        Ok(EventOutputs {
            json_lines: file.is_some(),
            writer: BackgroundWriter::spawn(file)?,
            mqtt,
            store,
            visits: first_visit.saturating_sub(1),
            dropped_lines: 0,
        })
    }

    fn any(&self) -> bool {
        self.json_lines || self.mqtt.is_some() || self.store.is_some()
    }

    fn line(&mut self, j: &serde_json::Value) -> Result<(), Dropped> {
        if !self.json_lines {
            return Ok(());
        }
        let queued = self.writer.line(j.to_string());
        if queued.is_err() {
            self.dropped_lines += 1;
        }
        queued
    }

    pub fn visit(&mut self, v: &VisitEvent) -> Result<(), Dropped> {
        if !self.any() {
            return Ok(());
        }
        self.visits += 1;
        if let Some(s) = self.store.as_mut() {
            let stored = StoredVisit {
                site: s.site.clone(),
                camera: s.camera.clone(),
                number: self.visits,
                at_ms: v.at_ms,
                kind: v.kind(),
                added: v.added,
                dwell_ms: v.dwell_ns.map(|d| d / 1_000_000),
            };
            if s.store.visit(stored).is_err() {
                s.lost += 1;
            }
        }
        let j = visit_json(self.visits, v);
        if let Some(m) = self.mqtt.as_ref() {
            m.visit(&j);
        }
        self.line(&j)
    }

    pub fn counts(&mut self, c: &Counts, in_view: u32, pts_s: f64) -> Result<(), Dropped> {
        if !self.any() {
            return Ok(());
        }
        let j = counts_json(c, in_view, pts_s);
        if let Some(m) = self.mqtt.as_mut() {
            m.counts(
                &j,
                [
                    c.unique_visitors,
                    c.visits,
                    c.returning_visits,
                    c.staff_visits,
                ],
            );
        }
        self.line(&j)
    }
}
