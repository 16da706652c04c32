//! What the hub reads off the head-office broker: `<prefix>/<site>/<camera>/visit`
//! messages, checked before they reach the database. A message that is not JSON, lacks a
//! field, or names another site than its topic's is rejected (and counted), never guessed.

use gstfootfall::count::events::parse_local_iso_ms;
use gstfootfall::publish::config::topic_level;
use serde_json::Value;

/// A visit as the hub stores it: keyed by (site, camera, counter start, number).
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub site: String,
    pub camera: String,
    pub counter_start_ms: i64,
    pub number: i64,
    /// The site's local time of the visit, with its offset (ISO 8601, as sent).
    pub at: String,
    pub at_ms: i64,
    /// new | returning | staff | unidentified
    pub kind: &'static str,
    /// unique visitors, visits, returning, staff, unidentified it added.
    pub added: [i64; 5],
    pub dwell_ms: Option<i64>,
}

impl Visit {
    /// The site's local day of the visit (`YYYY-MM-DD`): "today" is the site's day.
    pub fn local_day(&self) -> &str {
        &self.at[..10]
    }
}

/// Why a message was not stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Reject {
    /// Not `<prefix>/<site>/<camera>/visit`.
    Topic,
    NotJson,
    /// A field missing or of the wrong type (named).
    Fields(String),
    /// The payload's site is not its topic's: a site publishing outside its prefix.
    OutsidePrefix,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Topic => write!(f, "not a visit topic"),
            Reject::NotJson => write!(f, "not JSON"),
            Reject::Fields(why) => write!(f, "bad visit: {why}"),
            Reject::OutsidePrefix => write!(f, "site outside its topic prefix"),
        }
    }
}

/// The site level of a visit topic under `prefix`.
pub fn topic_site<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut levels = rest.split('/');
    let (site, camera, kind) = (levels.next()?, levels.next()?, levels.next()?);
    let whole = levels.next().is_none() && !site.is_empty() && !camera.is_empty();
    (whole && kind == "visit").then_some(site)
}

/// Reads one message published on `topic`.
pub fn visit(prefix: &str, topic: &str, payload: &[u8]) -> Result<Visit, Reject> {
    let site_level = topic_site(prefix, topic).ok_or(Reject::Topic)?;
    let j: Value = serde_json::from_slice(payload).map_err(|_| Reject::NotJson)?;
    let missing = |f: &str| Reject::Fields(format!("'{f}' missing or not the right type"));
    let text = |f: &'static str| j[f].as_str().filter(|s| !s.is_empty()).ok_or(missing(f));
    let int = |f: &'static str| j[f].as_i64().ok_or(missing(f));
    let flag = |f: &'static str| j[f].as_bool().ok_or(missing(f));
    if j["event"] != "visit" {
        return Err(missing("event"));
    }
    let site = text("site")?;
    if topic_level(site) != site_level {
        return Err(Reject::OutsidePrefix);
    }
    let at = text("at")?;
    let (at_ms, _) = parse_local_iso_ms(at)
        .ok_or_else(|| Reject::Fields(format!("'at' is not a local ISO time: {at:?}")))?;
    let added = &j["added"];
    let mut counts = [0i64; 5];
    for (n, f) in counts.iter_mut().zip([
        "unique_visitors",
        "visits",
        "returning_visits",
        "staff_visits",
        "unidentified_visits",
    ]) {
        *n = added[f].as_i64().ok_or(missing("added"))?;
    }
    let kind = match (flag("staff")?, flag("returning")?, flag("identified")?) {
        (true, _, _) => "staff",
        (_, true, _) => "returning",
        (_, _, false) => "unidentified",
        _ => "new",
    };
    let dwell_ms = j["dwell_s"].as_f64().map(|s| (s * 1000.0).round() as i64);
    Ok(Visit {
        site: site.to_string(),
        camera: text("camera")?.to_string(),
        counter_start_ms: int("counter_start")?,
        number: int("visit")?,
        at: at.to_string(),
        at_ms,
        kind,
        added: counts,
        dwell_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event":"visit","visit":3,"returning":true,"staff":false,"identified":true,"pts":2.5,"distance":0.3,"margin":0.2,"dwell_s":1.25,"added":{"unique_visitors":0,"visits":1,"returning_visits":1,"staff_visits":0,"unidentified_visits":0},"site":"shop 1","camera":"door","counter_start":1765116000000,"at":"2025-12-07T15:05:09.120+01:00"}"#;

    #[test]
    fn a_visit_reads_with_its_key_and_local_day() {
        let v = visit("footfall", "footfall/shop 1/door/visit", GOOD.as_bytes()).unwrap();
        assert_eq!(
            (
                v.site.as_str(),
                v.camera.as_str(),
                v.counter_start_ms,
                v.number
            ),
            ("shop 1", "door", 1_765_116_000_000, 3)
        );
        assert_eq!(
            (v.kind, v.added, v.dwell_ms),
            ("returning", [0, 1, 1, 0, 0], Some(1250))
        );
        assert_eq!((v.at_ms, v.local_day()), (1_765_116_309_120, "2025-12-07"));
    }

    #[test]
    fn bad_messages_are_rejected_with_the_reason() {
        let topic = "footfall/shop 1/door/visit";
        assert_eq!(visit("footfall", topic, b"{not json"), Err(Reject::NotJson));
        assert_eq!(
            visit("footfall", "footfall/shop 1/door/counts", GOOD.as_bytes()),
            Err(Reject::Topic)
        );
        assert_eq!(
            visit("footfall", "footfall/shop 2/door/visit", GOOD.as_bytes()),
            Err(Reject::OutsidePrefix)
        );
        let no_number = GOOD.replace("\"visit\":3,", "");
        let e = visit("footfall", topic, no_number.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            Reject::Fields("'visit' missing or not the right type".into())
        );
        let utc = GOOD.replace("+01:00", "Z");
        assert!(matches!(
            visit("footfall", topic, utc.as_bytes()),
            Err(Reject::Fields(_))
        ));
    }
}
