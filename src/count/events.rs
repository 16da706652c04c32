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
//!
//! Both also say where and when they come from ([`Origin`]): `"site"`, `"camera"`,
//! `"counter_start"` (Unix ms this counter started: with the visit number, a visit's key
//! across restarts and replays) and `"at"` (the site's local time with its UTC offset, so
//! a head office knows the site's day). A visit adds `"added"`: what it added to the counts.

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

/// Who counted, and the site's clock.
#[derive(Debug, Clone)]
pub struct Origin {
    pub site: String,
    pub camera: String,
    /// Unix milliseconds the counter started.
    pub counter_start_ms: i64,
    /// The site's UTC offset, seconds, at a Unix-ms time (the element asks the time zone).
    pub utc_offset: fn(i64) -> i32,
}

impl Origin {
    /// Adds the origin fields to an event object, `at_ms` being its wall-clock time.
    fn stamp(&self, j: &mut serde_json::Value, at_ms: i64) {
        j["site"] = json!(self.site);
        j["camera"] = json!(self.camera);
        j["counter_start"] = json!(self.counter_start_ms);
        j["at"] = json!(local_iso_ms(at_ms, (self.utc_offset)(at_ms)));
    }
}

/// `unix_ms` as local ISO 8601 with milliseconds and the offset, e.g.
/// `2026-12-07T14:05:09.120+01:00`.
pub fn local_iso_ms(unix_ms: i64, offset_s: i32) -> String {
    let local_ms = unix_ms + offset_s as i64 * 1000;
    let (days, ms_of_day) = (
        local_ms.div_euclid(86_400_000),
        local_ms.rem_euclid(86_400_000),
    );
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let sign = if offset_s < 0 { '-' } else { '+' };
    let off = offset_s.unsigned_abs() / 60;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000,
        off / 60,
        off % 60
    )
}

/// [`local_iso_ms`]'s text back: (Unix ms, UTC offset s); `None` if it is not that form.
pub fn parse_local_iso_ms(text: &str) -> Option<(i64, i32)> {
    let b = text.as_bytes();
    let fixed = b.len() == 29
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (26, b':'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c)
        && matches!(b[23], b'+' | b'-');
    if !fixed {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let t = text.get(from..to)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    let (oh, om) = (num(24, 26)?, num(27, 29)?);
    let valid = (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 60;
    if !valid || oh > 18 || om > 59 {
        return None;
    }
    let sign = if b[23] == b'-' { -1 } else { 1 };
    let offset_s = sign * (oh * 3600 + om * 60);
    let days = days_from_civil(y, mo as u32, d as u32);
    if civil_from_days(days) != (y, mo as u32, d as u32) {
        return None; // 31 February
    }
    let local_ms = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms;
    Some((local_ms - offset_s * 1000, offset_s as i32))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn counts_object(c: &Counts) -> serde_json::Value {
    json!({
        "unique_visitors": c.unique_visitors,
        "visits": c.visits,
        "returning_visits": c.returning_visits,
        "staff_visits": c.staff_visits,
        "unidentified_visits": c.unidentified_visits,
    })
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
        "added": counts_object(&v.added),
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
    origin: Origin,
}

/// The count store and the names its rows of this element carry.
pub struct StoreOutput {
    pub store: CountStore,
    pub site: String,
    pub camera: String,
    /// Visits lost: the store thread was behind, or a commit failed.
    pub lost: u64,
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl EventOutputs {
    /// `file`: the JSON-lines file, if any; the writer thread starts either way (it also
    /// writes the gallery file).
    /// `first_visit`: the number the first visit gets (a store resumes its numbering);
    /// `origin`: the site, camera and clock every event carries.
    pub fn new(
        file: Option<EventWriter>,
        mqtt: Option<MqttPublisher>,
        store: Option<StoreOutput>,
        (first_visit, origin): (u64, Origin),
    ) -> Result<Self, String> {
        Ok(EventOutputs {
            json_lines: file.is_some(),
            writer: BackgroundWriter::spawn(file)?,
            mqtt,
            store,
            visits: first_visit.saturating_sub(1),
            dropped_lines: 0,
            origin,
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
        let mut j = visit_json(self.visits, v);
        self.origin.stamp(&mut j, v.at_ms);
        if let Some(m) = self.mqtt.as_ref() {
            m.visit(&j);
        }
        self.line(&j)
    }

    pub fn counts(&mut self, c: &Counts, in_view: u32, pts_s: f64) -> Result<(), Dropped> {
        if !self.any() {
            return Ok(());
        }
        let mut j = counts_json(c, in_view, pts_s);
        self.origin.stamp(&mut j, now_ms());
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

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn local_times_carry_their_offset() {
        // 2025-12-07T14:05:09.120Z
        let t = 1_765_116_309_120;
        assert_eq!(local_iso_ms(t, 0), "2025-12-07T14:05:09.120+00:00");
        assert_eq!(local_iso_ms(t, 3600), "2025-12-07T15:05:09.120+01:00");
        assert_eq!(
            local_iso_ms(t, -5 * 3600 - 1800),
            "2025-12-07T08:35:09.120-05:30"
        );
        assert_eq!(local_iso_ms(0, 0), "1970-01-01T00:00:00.000+00:00");
        // A leap day, and the day before the epoch.
        assert_eq!(
            local_iso_ms(951_782_400_000, 0),
            "2000-02-29T00:00:00.000+00:00"
        );
        assert_eq!(local_iso_ms(-1, 0), "1969-12-31T23:59:59.999+00:00");
    }

    #[test]
    fn local_times_read_back_and_bad_ones_do_not() {
        for (t, off) in [
            (1_765_116_309_120, 3600),
            (951_782_400_000, -19_800),
            (-1, 0),
        ] {
            assert_eq!(parse_local_iso_ms(&local_iso_ms(t, off)), Some((t, off)));
        }
        for bad in [
            "2025-12-07T14:05:09.120Z",
            "2025-02-31T14:05:09.120+00:00",
            "2025-12-07T24:05:09.120+00:00",
            "2025-12-07T14:05:09.1x0+00:00",
            "yesterday",
        ] {
            assert_eq!(parse_local_iso_ms(bad), None, "{bad}");
        }
    }
}
