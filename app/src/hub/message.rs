//! What the hub reads off the head-office broker under `<prefix>/<site>/<camera>/`:
//! `visit` events (stored once each) and the camera's state — `counts` (people in view),
//! `today` (the site's own tally of its day) and `availability` (`online`/`offline`) —
//! checked before they reach the database. A message that is not JSON, lacks a field, or
//! names another site than its topic's is rejected (and counted), never guessed.

use gstfootfall::count::events::parse_local_iso_ms;
use gstfootfall::publish::config::topic_level;
use serde_json::Value;

/// The topics the hub subscribes to under each camera's base.
pub const KINDS: [&str; 4] = ["visit", "counts", "today", "availability"];

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
    /// The site's UTC offset at the visit, seconds.
    pub utc_offset_s: i32,
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
    /// Not `<prefix>/<site>/<camera>/<kind>` with a kind of [`KINDS`].
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
            Reject::Topic => write!(f, "not a footfall topic"),
            Reject::NotJson => write!(f, "not JSON"),
            Reject::Fields(why) => write!(f, "bad message: {why}"),
            Reject::OutsidePrefix => write!(f, "site outside its topic prefix"),
        }
    }
}

/// The (site, camera, kind) levels of a topic under `prefix`.
pub fn topic_levels<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut levels = rest.split('/');
    let (site, camera, kind) = (levels.next()?, levels.next()?, levels.next()?);
    let whole = levels.next().is_none() && !site.is_empty() && !camera.is_empty();
    (whole && KINDS.contains(&kind)).then_some((site, camera, kind))
}

/// A camera's state as its retained topics tell it; the latest of each kind is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The topic's site and camera levels (what `availability`, a bare word, is known by).
    pub site_topic: String,
    pub camera_topic: String,
    pub what: StateKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    Online(bool),
    /// `counts`: people in view when the site sent it.
    Counts {
        names: Names,
        in_view: i64,
    },
    /// `today`: the site's own tally of its day so far.
    Today {
        names: Names,
        date: String,
        unique_visitors: i64,
        visits: i64,
    },
}

/// The site and camera names a message carries, and the site's clock when it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub site: String,
    pub camera: String,
    pub at: String,
    pub at_ms: i64,
    pub utc_offset_s: i32,
}

/// One message the hub takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Visit(Visit),
    State(State),
}

/// Reads one message published on `topic`.
pub fn read(prefix: &str, topic: &str, payload: &[u8]) -> Result<Message, Reject> {
    let (site_level, camera_level, kind) = topic_levels(prefix, topic).ok_or(Reject::Topic)?;
    let state = |what| {
        Ok(Message::State(State {
            site_topic: site_level.to_string(),
            camera_topic: camera_level.to_string(),
            what,
        }))
    };
    if kind == "availability" {
        return match payload {
            b"online" => state(StateKind::Online(true)),
            b"offline" => state(StateKind::Online(false)),
            _ => Err(Reject::Fields("availability is online or offline".into())),
        };
    }
    let j: Value = serde_json::from_slice(payload).map_err(|_| Reject::NotJson)?;
    let f = Fields(&j);
    match kind {
        "visit" => visit(&f, site_level).map(Message::Visit),
        "counts" => state(StateKind::Counts {
            names: names(&f, site_level)?,
            in_view: f.int("in_view")?,
        }),
        _ => state(StateKind::Today {
            names: names(&f, site_level)?,
            date: f.text("date")?.to_string(),
            unique_visitors: f.int("unique_visitors")?,
            visits: f.int("visits")?,
        }),
    }
}

/// A payload's fields, each missing one named.
struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn missing(f: &str) -> Reject {
        Reject::Fields(format!("'{f}' missing or not the right type"))
    }
    fn text(&self, f: &str) -> Result<&str, Reject> {
        self.0[f]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Self::missing(f))
    }
    fn int(&self, f: &str) -> Result<i64, Reject> {
        self.0[f].as_i64().ok_or_else(|| Self::missing(f))
    }
    fn flag(&self, f: &str) -> Result<bool, Reject> {
        self.0[f].as_bool().ok_or_else(|| Self::missing(f))
    }
}

/// Site, camera and clock of a payload on `site_level`'s topic: its site must be the topic's.
fn names(f: &Fields, site_level: &str) -> Result<Names, Reject> {
    let site = f.text("site")?;
    if topic_level(site) != site_level {
        return Err(Reject::OutsidePrefix);
    }
    let at = f.text("at")?;
    let (at_ms, utc_offset_s) = parse_local_iso_ms(at)
        .ok_or_else(|| Reject::Fields(format!("'at' is not a local ISO time: {at:?}")))?;
    Ok(Names {
        site: site.to_string(),
        camera: f.text("camera")?.to_string(),
        at: at.to_string(),
        at_ms,
        utc_offset_s,
    })
}

fn visit(f: &Fields, site_level: &str) -> Result<Visit, Reject> {
    if f.0["event"] != "visit" {
        return Err(Fields::missing("event"));
    }
    let origin = names(f, site_level)?;
    let mut counts = [0i64; 5];
    for (n, name) in counts.iter_mut().zip([
        "unique_visitors",
        "visits",
        "returning_visits",
        "staff_visits",
        "unidentified_visits",
    ]) {
        *n = f.0["added"][name]
            .as_i64()
            .ok_or_else(|| Fields::missing("added"))?;
    }
    let kind = match (
        f.flag("staff")?,
        f.flag("returning")?,
        f.flag("identified")?,
    ) {
        (true, _, _) => "staff",
        (_, true, _) => "returning",
        (_, _, false) => "unidentified",
        _ => "new",
    };
    let dwell_ms = f.0["dwell_s"].as_f64().map(|s| (s * 1000.0).round() as i64);
    Ok(Visit {
        site: origin.site,
        camera: origin.camera,
        counter_start_ms: f.int("counter_start")?,
        number: f.int("visit")?,
        at: origin.at,
        at_ms: origin.at_ms,
        utc_offset_s: origin.utc_offset_s,
        kind,
        added: counts,
        dwell_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(prefix: &str, topic: &str, payload: &[u8]) -> Result<Visit, Reject> {
        match read(prefix, topic, payload)? {
            Message::Visit(v) => Ok(v),
            other => panic!("not a visit: {other:?}"),
        }
    }

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
        assert_eq!(v.utc_offset_s, 3600);
    }

    #[test]
    fn bad_messages_are_rejected_with_the_reason() {
        let topic = "footfall/shop 1/door/visit";
        assert_eq!(visit("footfall", topic, b"{not json"), Err(Reject::NotJson));
        assert_eq!(
            visit("footfall", "footfall/shop 1/door/status", GOOD.as_bytes()),
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

    #[test]
    fn a_camera_s_state_reads_from_its_three_topics() {
        let read = |kind: &str, payload: &str| {
            let topic = format!("footfall/shop 1/door/{kind}");
            match read("footfall", &topic, payload.as_bytes()) {
                Ok(Message::State(s)) => Ok(s.what),
                Ok(other) => panic!("not a state: {other:?}"),
                Err(e) => Err(e),
            }
        };
        assert_eq!(
            read("availability", "offline"),
            Ok(StateKind::Online(false))
        );
        assert!(read("availability", "gone").is_err());
        let at = r#""site":"shop 1","camera":"door","at":"2025-12-07T15:05:09.120+01:00""#;
        let names = Names {
            site: "shop 1".into(),
            camera: "door".into(),
            at: "2025-12-07T15:05:09.120+01:00".into(),
            at_ms: 1_765_116_309_120,
            utc_offset_s: 3600,
        };
        let counts = format!(r#"{{"event":"counts","visits":4,"in_view":2,{at}}}"#);
        assert_eq!(
            read("counts", &counts),
            Ok(StateKind::Counts {
                names: names.clone(),
                in_view: 2
            })
        );
        let today = format!(r#"{{"date":"2025-12-07","unique_visitors":3,"visits":4,{at}}}"#);
        assert_eq!(
            read("today", &today),
            Ok(StateKind::Today {
                names,
                date: "2025-12-07".into(),
                unique_visitors: 3,
                visits: 4
            })
        );
        let elsewhere = today.replace("shop 1", "shop 2");
        assert_eq!(read("today", &elsewhere), Err(Reject::OutsidePrefix));
    }
}
