//! What an MQTT publisher connects to and where it publishes: the broker URL, the topic
//! layout and the Home Assistant discovery documents.
//!
//! Topics under the base (default `footfall/<site>/<camera>`):
//! - `<base>/counts`: every counts object (the same JSON as the `location` file), retained
//!   so a new subscriber gets the latest counts at once;
//! - `<base>/visit`: every visit event, not retained;
//! - `<base>/today`: counts since local midnight (retained), for "today" dashboards;
//! - `<base>/availability`: `online` / `offline` (retained; `offline` is the last will);
//! - `<base>/status`: `{"dropped":N,"dropped_visits":M}` (retained) after messages were lost.

use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Parses `mqtt://[user[:password]@]host[:port][/]` or `mqtts://…` (default ports 1883 and
/// 8883).
pub fn parse_url(url: &str) -> Result<Broker, String> {
    let bad = |why: &str| format!("invalid mqtt-url '{url}': {why}");
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(bad("expected mqtt://host[:port] or mqtts://host[:port]"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '?', '#']) {
        return Err(bad(
            "a broker URL has no path or query (topics are set by mqtt-topic)",
        ));
    }
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (username, password) = match user.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        Some((u, p)) => (
            Some(u.to_string()),
            Some(p.to_string()).filter(|p| !p.is_empty()),
        ),
        None => (None, None),
    };
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        // [IPv6]:port
        let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (h, p.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("port is not a number 1-65535"))?,
        None => default_port,
    };
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok(Broker {
        tls,
        host: host.to_string(),
        port,
        username,
        password,
    })
}

/// MQTT topic levels may not hold wildcards or separators: a site or element name with
/// them would publish somewhere else than documented.
pub fn topic_level(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

pub fn default_base_topic(site: &str, camera: &str) -> String {
    format!("footfall/{}/{}", topic_level(site), topic_level(camera))
}

/// Home Assistant MQTT discovery: one retained config message per sensor under
/// `<prefix>/sensor/<node>/<object>/config`; the sensors read `<base>/today` and
/// `<base>/counts`, and go unavailable with `<base>/availability`.
pub fn discovery_messages(prefix: &str, base: &str) -> Vec<(String, serde_json::Value)> {
    let node = topic_level(&base.replace('/', "_"));
    let device = json!({
        "identifiers": [node.clone()],
        "name": format!("Footfall {base}"),
        "manufacturer": "Footfall",
        "model": "facecounter",
    });
    let sensors = [
        (
            "unique_visitors_today",
            "Unique visitors today",
            "today",
            "unique_visitors",
            "total_increasing",
        ),
        (
            "visits_today",
            "Visits today",
            "today",
            "visits",
            "total_increasing",
        ),
        (
            "in_view",
            "People in view",
            "counts",
            "in_view",
            "measurement",
        ),
    ];
    sensors
        .iter()
        .map(|(object, name, sub, field, class)| {
            let topic = format!("{prefix}/sensor/{node}/{object}/config");
            let config = json!({
                "name": name,
                "unique_id": format!("{node}_{object}"),
                "object_id": format!("{node}_{object}"),
                "state_topic": format!("{base}/{sub}"),
                "value_template": format!("{{{{ value_json.{field} }}}}"),
                "state_class": class,
                "unit_of_measurement": "people",
                "icon": "mdi:account-group",
                "availability_topic": format!("{base}/availability"),
                "device": device,
            });
            (topic, config)
        })
        .collect()
}

/// Counts since the start of the local day, from the cumulative counts: the cumulative
/// values at the last report of the previous day are the baseline.
#[derive(Debug, Default)]
pub struct Today {
    day: Option<String>,
    baseline: [u64; 4],
    last: [u64; 4],
    /// Counted today before this process started (from the count store), on `resumed_day`.
    resumed: [u64; 4],
    resumed_day: Option<String>,
}

impl Today {
    /// Adds what earlier runs stored for `day` (unique visitors, visits, returning, staff)
    /// to today's counts, as long as it is that day.
    pub fn resume(&mut self, day: &str, stored: [u64; 4]) {
        self.resumed = stored;
        self.resumed_day = Some(day.to_string());
    }

    /// `counts`: unique visitors, visits, returning visits, staff visits (cumulative);
    /// `day`: the local date. Returns the `<base>/today` object.
    pub fn update(&mut self, day: &str, counts: [u64; 4]) -> serde_json::Value {
        if self.day.as_deref() != Some(day) {
            // First report (the window starts now) or a new day.
            self.baseline = if self.day.is_some() {
                self.last
            } else {
                [0; 4]
            };
            self.day = Some(day.to_string());
        }
        self.last = counts;
        let resumed = match self.resumed_day.as_deref() == Some(day) {
            true => self.resumed,
            false => [0; 4],
        };
        let d = |i: usize| counts[i].saturating_sub(self.baseline[i]) + resumed[i];
        json!({
            "date": day,
            "unique_visitors": d(0),
            "visits": d(1),
            "returning_visits": d(2),
            "staff_visits": d(3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = parse_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (false, "127.0.0.1", 1884));
        assert_eq!(b.username, None);
        let b = parse_url("mqtts://shop:s3cr:t@broker.lan/").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "broker.lan", 8883));
        assert_eq!(b.username.as_deref(), Some("shop"));
        assert_eq!(b.password.as_deref(), Some("s3cr:t"));
        let b = parse_url("mqtt://[::1]:1999").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1999));
        assert_eq!(parse_url("mqtt://h").unwrap().port, 1883);
        for bad in [
            "http://h",
            "mqtt://",
            "mqtt://h:x",
            "mqtt://h:70000",
            "mqtt://h/topic",
            "mqtt://h:0",
        ] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.contains("invalid mqtt-url"), "{bad}: {e}");
        }
    }

    #[test]
    fn topics_hold_no_wildcards() {
        assert_eq!(
            default_base_topic("shop/1", "door#+"),
            "footfall/shop_1/door__"
        );
    }

    #[test]
    fn discovery_points_at_the_published_topics() {
        let m = discovery_messages("homeassistant", "footfall/shop/door");
        assert_eq!(m.len(), 3);
        let (topic, cfg) = &m[0];
        assert_eq!(
            topic,
            "homeassistant/sensor/footfall_shop_door/unique_visitors_today/config"
        );
        assert_eq!(cfg["state_topic"], "footfall/shop/door/today");
        assert_eq!(cfg["value_template"], "{{ value_json.unique_visitors }}");
        assert_eq!(cfg["availability_topic"], "footfall/shop/door/availability");
    }

    #[test]
    fn today_restarts_at_midnight() {
        let mut t = Today::default();
        assert_eq!(t.update("2026-11-29", [3, 5, 2, 0])["unique_visitors"], 3);
        assert_eq!(t.update("2026-11-29", [4, 7, 3, 1])["visits"], 7);
        let first = t.update("2026-11-30", [6, 10, 4, 1]);
        assert_eq!(first["unique_visitors"], 2);
        assert_eq!(first["visits"], 3);
        assert_eq!(first["staff_visits"], 0);
        assert_eq!(first["date"], "2026-11-30");
    }

    #[test]
    fn today_resumes_what_the_store_holds_for_that_day_only() {
        let mut t = Today::default();
        t.resume("2026-11-29", [10, 20, 5, 2]);
        let now = t.update("2026-11-29", [1, 2, 1, 0]);
        assert_eq!(
            (now["unique_visitors"].as_u64(), now["visits"].as_u64()),
            (Some(11), Some(22))
        );
        assert_eq!(now["staff_visits"], 2);
        let next_day = t.update("2026-11-30", [3, 5, 1, 0]);
        assert_eq!(
            next_day["unique_visitors"], 2,
            "yesterday's stored counts are not today's"
        );
    }
}
