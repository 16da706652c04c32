//! JSON-lines event output: one object per line, flushed per line, no face data in any.
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

pub struct EventWriter {
    out: Box<dyn Write + Send>,
    visits: u64,
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
        Ok(EventWriter { out, visits: 0 })
    }

    /// Writes one whole line and flushes it, so a reader never sees half an object.
    fn line(&mut self, v: serde_json::Value) -> Result<(), String> {
        let mut text = v.to_string();
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| format!("cannot write event: {e}"))
    }

    pub fn visit(&mut self, v: &VisitEvent) -> Result<(), String> {
        self.visits += 1;
        // Three decimals: enough to tune a threshold, no more precision than that.
        let round = |x: f32| (x as f64 * 1000.0).round() / 1000.0;
        self.line(json!({
            "event": "visit",
            "visit": self.visits,
            "returning": v.returning,
            "staff": v.staff,
            "identified": v.identified,
            "pts": v.pts_s,
            "distance": v.distance.map(round),
            "margin": v.distance.map(|d| round(v.threshold - d)),
        }))
    }

    pub fn counts(&mut self, c: &Counts, in_view: u32, pts_s: f64) -> Result<(), String> {
        self.line(json!({
            "event": "counts",
            "unique_visitors": c.unique_visitors,
            "visits": c.visits,
            "returning_visits": c.returning_visits,
            "staff_visits": c.staff_visits,
            "in_view": in_view,
            "pts": pts_s,
        }))
    }
}
