//! Event output: JSON lines (one object per line, flushed per line) and MQTT, the same
//! objects in both, no face data in any.
//!
//! `{"event":"visit","visit":N,"returning":bool,"staff":bool,"identified":bool,"pts":S,
//! "distance":D,"margin":M}` when a visit is decided (`distance`: visit distance to the matched identity,
//! or to the nearest one for a new visitor, `null` when none was near; `margin`:
//! `match-threshold - distance`, positive for a match, negative for a new visitor — how
//! safe the decision was; `identified` false: a face too small to identify, counted but
//! never matched), `{"event":"counts","unique_visitors":…,"visits":…,"returning_visits":…,
//! "staff_visits":…,"in_view":…,"pts":S}` on change, periodically and at end of stream.

use std::io::Write;

use serde_json::json;

use super::visits::Counts;
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
        Ok(EventWriter { out })
    }

    /// Writes one whole line and flushes it, so a reader never sees half an object.
    pub fn line(&mut self, v: &serde_json::Value) -> Result<(), String> {
        let mut text = v.to_string();
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| format!("cannot write event: {e}"))
    }
}

/// Every place events go: the JSON-lines file and the MQTT broker, each optional; one
/// object built once for all of them.
#[derive(Default)]
pub struct EventOutputs {
    pub file: Option<EventWriter>,
    pub mqtt: Option<MqttPublisher>,
    visits: u64,
}

impl EventOutputs {
    pub fn new(file: Option<EventWriter>, mqtt: Option<MqttPublisher>) -> EventOutputs {
        EventOutputs {
            file,
            mqtt,
            visits: 0,
        }
    }

    fn any(&self) -> bool {
        self.file.is_some() || self.mqtt.is_some()
    }

    pub fn visit(&mut self, v: &VisitEvent) -> Result<(), String> {
        if !self.any() {
            return Ok(());
        }
        self.visits += 1;
        let j = visit_json(self.visits, v);
        if let Some(m) = self.mqtt.as_ref() {
            m.visit(&j);
        }
        self.file.as_mut().map_or(Ok(()), |f| f.line(&j))
    }

    pub fn counts(&mut self, c: &Counts, in_view: u32, pts_s: f64) -> Result<(), String> {
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
        self.file.as_mut().map_or(Ok(()), |f| f.line(&j))
    }
}
