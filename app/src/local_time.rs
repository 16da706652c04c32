//! Times as people and the API write them, in the shop's local time zone: `YYYY-MM-DD`,
//! `YYYY-MM-DDTHH:MM[:SS]` (local, or with an offset) or Unix seconds.

use gst::glib;

/// Unix seconds of `t`.
pub fn parse(t: &str) -> Result<i64, String> {
    parse_in(t, &glib::TimeZone::local())
}

/// `t` (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`) as wall-clock seconds: what Unix seconds
/// it would be in UTC. A chain's shops compare their own local times with it.
pub fn parse_wall(t: &str) -> Result<i64, String> {
    parse_in(t, &glib::TimeZone::utc())
}

/// `unix_s` in a site's local time (`offset_s` from UTC), ISO 8601 with the offset.
pub fn iso_at(unix_s: i64, offset_s: i32) -> String {
    let ms = gstfootfall::count::events::local_iso_ms(unix_s * 1000, offset_s);
    // Without the milliseconds: 2026-12-07T14:00:00.000+01:00 → …T14:00:00+01:00.
    format!("{}{}", &ms[..19], &ms[23..])
}

fn parse_in(t: &str, zone: &glib::TimeZone) -> Result<i64, String> {
    if let Ok(s) = t.parse::<i64>() {
        return Ok(s);
    }
    let full = match t.len() {
        10 => format!("{t}T00:00:00"),
        16 => format!("{t}:00"),
        _ => t.to_string(),
    };
    glib::DateTime::from_iso8601(&full, Some(zone))
        .map(|d| d.to_unix())
        .map_err(|_| {
            format!("time '{t}': expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or Unix seconds")
        })
}

/// `unix_s` in local time, ISO 8601 with its offset.
pub fn iso(unix_s: i64) -> String {
    glib::DateTime::from_unix_local(unix_s)
        .ok()
        .and_then(|d| d.format("%FT%T%:z").ok())
        .map(|s| s.to_string())
        .unwrap_or_else(|| unix_s.to_string())
}

/// Today's date here (`YYYY-MM-DD`).
pub fn today() -> Result<String, String> {
    let now = glib::DateTime::now_local().map_err(|_| "no local time")?;
    Ok(now.format("%F").map_err(|_| "no local time")?.to_string())
}

/// Unix seconds now and at the start of today (local midnight).
pub fn now_and_midnight() -> Result<(i64, i64), String> {
    let now = glib::DateTime::now_local().map_err(|_| "no local time")?;
    let midnight = now.to_unix() - (now.hour() * 3600 + now.minute() * 60 + now.second()) as i64;
    Ok((now.to_unix(), midnight))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_forms_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(super::parse("1700000000"), Ok(1_700_000_000));
        let day = super::parse("2026-12-03").unwrap();
        assert_eq!(super::parse("2026-12-03T01:00").unwrap(), day + 3600);
        assert_eq!(super::parse("2026-12-03T00:00:30").unwrap(), day + 30);
        assert!(super::parse("yesterday")
            .unwrap_err()
            .contains("YYYY-MM-DD"));
    }

    #[test]
    fn wall_clock_times_and_a_site_s_iso() {
        assert_eq!(super::parse_wall("1970-01-02T01:00"), Ok(90_000));
        assert_eq!(super::iso_at(90_000, -5400), "1970-01-01T23:30:00-01:30");
    }
}
