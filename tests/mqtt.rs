//! `facecounter` publishing to a real mosquitto on 127.0.0.1: the same objects as the JSON
//! file, retained counts, Home Assistant discovery, and no loss (or counted loss) when the
//! broker is stopped and restarted in the middle of a run.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::mqtt::Broker;
use serde_json::Value;

/// The counting chain on a clip, events to `json` and to the broker; `pace_us` slows each
/// frame down so a broker can be stopped and restarted during the run.
/// Each test counts on a gallery of its own (tests of one binary run in one process, where
/// counters naming one gallery share it): the topic base is `footfall/<gallery>/door`.
fn chain(clip: &str, json: &std::path::Path, gallery: &str, mqtt: &str, pace_us: u64) -> String {
    common::counting_chain(
        clip,
        &format!("identity sleep-time={pace_us} !"),
        true,
        &format!(
            "name=door gallery={gallery} location={} {mqtt}",
            json.display()
        ),
    )
}

/// Runs the chain (unpaced) to the end; it must not fail.
fn run_ok(clip: &str, json: &std::path::Path, gallery: &str, mqtt: &str) -> common::Run {
    let run = common::run_pipeline(&chain(clip, json, gallery, mqtt, 0), 300);
    assert!(run.error.is_none(), "{gallery}: {:?}", run.error);
    run
}

fn assert_warned(run: &common::Run, text: &str) {
    assert!(
        run.warnings.iter().any(|w| w.contains(text)),
        "no warning with '{text}': {:?}",
        run.warnings
    );
}

fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn payloads(msgs: &[(String, String)], topic: &str) -> Vec<Value> {
    msgs.iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, p)| serde_json::from_str(p).unwrap_or_else(|e| panic!("{topic}: {e}: {p}")))
        .collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("footfall-mqtt-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn base(gallery: &str) -> String {
    format!("footfall/{gallery}/door")
}

#[test]
fn counts_and_visits_reach_the_broker_as_in_the_json_file() {
    let b = base("plain");
    let broker = Broker::start("plain");
    let sub = broker.subscribe("plain-sub", &["footfall/#", "homeassistant/#"]);
    let json = tmp("plain");
    run_ok(
        "synth/synth_groups_lighting",
        &json,
        "plain",
        &format!("mqtt-url={}", broker.url()),
    );
    let file = json_lines(&json);
    let final_counts = file.last().unwrap().clone();
    let msgs = sub.wait_for(Duration::from_secs(10), |m| {
        m.iter()
            .any(|(t, p)| t == &format!("{b}/availability") && p == "offline")
    });

    // Same objects, same order, as the file.
    let file_visits: Vec<&Value> = file.iter().filter(|v| v["event"] == "visit").collect();
    let mqtt_visits = payloads(&msgs, &format!("{b}/visit"));
    assert_eq!(mqtt_visits.iter().collect::<Vec<_>>(), file_visits);
    let file_counts: Vec<&Value> = file.iter().filter(|v| v["event"] == "counts").collect();
    let mqtt_counts = payloads(&msgs, &format!("{b}/counts"));
    assert_eq!(mqtt_counts.iter().collect::<Vec<_>>(), file_counts);
    println!(
        "{} visits, {} counts on MQTT; final {final_counts}",
        mqtt_visits.len(),
        mqtt_counts.len()
    );
    assert_eq!(final_counts["unique_visitors"], 9);

    // Today's counts follow the cumulative ones (the run starts today).
    let today = payloads(&msgs, &format!("{b}/today"));
    let last_today = today.last().unwrap();
    assert_eq!(
        last_today["unique_visitors"],
        final_counts["unique_visitors"]
    );
    assert_eq!(last_today["visits"], final_counts["visits"]);

    // Retained: a dashboard connecting later gets the final counts and today's at once.
    let retained = broker.retained(&format!("{b}/counts")).unwrap();
    let retained: Value = serde_json::from_str(&retained).unwrap();
    assert_eq!(retained, final_counts);

    // Home Assistant discovery: a "Unique visitors today" sensor on the today topic.
    let config_topic = "homeassistant/sensor/footfall_plain_door/unique_visitors_today/config";
    let config = payloads(&msgs, config_topic);
    let config = config.first().expect("discovery config published");
    assert_eq!(config["name"], "Unique visitors today");
    assert_eq!(config["state_topic"], format!("{b}/today"));
    assert_eq!(config["value_template"], "{{ value_json.unique_visitors }}");
    assert_eq!(config["availability_topic"], format!("{b}/availability"));
    assert!(
        broker.retained(config_topic).is_some(),
        "discovery config is retained"
    );
    // Availability: online while running, offline (retained) after a clean stop.
    let avail: Vec<&str> = msgs
        .iter()
        .filter(|(t, _)| t == &format!("{b}/availability"))
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(avail, ["online", "offline"]);
    assert_eq!(
        broker.retained(&format!("{b}/availability")).as_deref(),
        Some("offline")
    );
}

/// Runs the paced chain, stops the broker after `down_at` and restarts it after
/// `up_at`; returns the JSON file's lines, the messages received and the warnings.
fn run_with_outage(
    name: &str,
    props: &str,
    down_at: Duration,
    up_at: Duration,
) -> (Vec<Value>, Vec<(String, String)>, Vec<String>) {
    let b = base(name);
    let mut broker = Broker::start(name);
    let sub = broker.subscribe(&format!("{name}-sub"), &["footfall/#"]);
    let json = tmp(name);
    let desc = chain(
        "synth/synth_groups_lighting",
        &json,
        name,
        &format!("mqtt-url={} {props}", broker.url()),
        15_000,
    );
    let runner = std::thread::spawn(move || common::run_pipeline(&desc, 300));
    std::thread::sleep(down_at);
    broker.stop();
    println!("{name}: broker stopped at {down_at:?}");
    std::thread::sleep(up_at - down_at);
    broker.restart();
    println!("{name}: broker restarted at {up_at:?}");
    let run = runner.join().unwrap();
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(!run.frames.is_empty());
    let file = json_lines(&json);
    let final_counts = file.last().unwrap().clone();
    let msgs = sub.wait_for(Duration::from_secs(15), |m| {
        payloads(m, &format!("{b}/counts")).last() == Some(&final_counts)
    });
    assert_eq!(
        payloads(&msgs, &format!("{b}/counts")).last(),
        Some(&final_counts),
        "{name}: the final counts arrive after the restart"
    );
    (file, msgs, run.warnings)
}

fn visits_in(file: &[Value]) -> Vec<Value> {
    file.iter()
        .filter(|v| v["event"] == "visit")
        .cloned()
        .collect()
}

fn visit_numbers(v: &[Value]) -> BTreeSet<u64> {
    v.iter().map(|v| v["visit"].as_u64().unwrap()).collect()
}

#[test]
fn broker_restart_mid_run_loses_nothing() {
    let b = base("restart");
    let (file, msgs, warnings) = run_with_outage(
        "restart",
        "",
        Duration::from_secs(4),
        Duration::from_secs(10),
    );
    let mqtt_counts = payloads(&msgs, &format!("{b}/counts"));
    // Every visit arrives (at least once: one sent just before the stop may come twice).
    let file_visits = visits_in(&file);
    let mqtt_visits = payloads(&msgs, &format!("{b}/visit"));
    assert_eq!(visit_numbers(&mqtt_visits), visit_numbers(&file_visits));
    let file_counts = file.iter().filter(|v| v["event"] == "counts").count();
    println!(
        "restart: {} of {} visits, {} of {} counts messages received ({} duplicates); warnings {warnings:?}",
        visit_numbers(&mqtt_visits).len(),
        file_visits.len(),
        mqtt_counts.len(),
        file_counts,
        mqtt_visits.len() - visit_numbers(&mqtt_visits).len(),
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("MQTT broker unreachable")),
        "the outage is reported: {warnings:?}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("dropped")),
        "{warnings:?}"
    );
    assert!(
        !msgs.iter().any(|(t, _)| t == &format!("{b}/status")),
        "nothing lost, no loss status"
    );
}

#[test]
fn a_full_queue_drops_old_messages_and_reports_the_loss() {
    let b = base("full");
    let (file, msgs, warnings) = run_with_outage(
        "full",
        "mqtt-queue-size=4",
        Duration::from_secs(2),
        Duration::from_secs(10),
    );
    let file_visits = visits_in(&file);
    let got = visit_numbers(&payloads(&msgs, &format!("{b}/visit")));
    let lost_visits = file_visits.len() - got.len();
    let status = payloads(&msgs, &format!("{b}/status"));
    let status = status.last().expect("a loss is published on <base>/status");
    println!(
        "full queue: {} of {} visits received, status {status}; warnings {warnings:?}",
        got.len(),
        file_visits.len()
    );
    assert!(status["dropped"].as_u64().unwrap() > 0);
    // Every lost visit is counted. A counted one may still have arrived: it was sent but
    // not acknowledged when the broker stopped, went back to the queue, and was dropped
    // there (at least once delivery cannot know) — at most the 32 messages in flight.
    let dropped_visits = status["dropped_visits"].as_u64().unwrap();
    assert!(
        (lost_visits as u64..=lost_visits as u64 + 32).contains(&dropped_visits),
        "{dropped_visits} counted as dropped, {lost_visits} lost"
    );
    assert!(
        warnings.iter().any(|w| w.contains("dropped in total")),
        "{warnings:?}"
    );
}

#[test]
fn mqtts_to_a_broker_with_a_private_ca() {
    let b = base("tls");
    let broker = Broker::start_tls("tls");
    let sub = broker.subscribe("tls-sub", &["footfall/#"]);
    let json = tmp("tls");
    let ca = broker.ca.clone().unwrap();
    let run = run_ok(
        "real/face-demographics-walking-and-pause",
        &json,
        "tls",
        &format!("mqtt-url={} mqtt-ca-file={}", broker.url(), ca.display()),
    );
    assert!(
        !run.warnings.iter().any(|w| w.contains("MQTT")),
        "{:?}",
        run.warnings
    );
    let final_counts = common::last_json_line(&json);
    let msgs = sub.wait_for(Duration::from_secs(10), |m| {
        payloads(m, &format!("{b}/counts")).last() == Some(&final_counts)
    });
    assert_eq!(
        payloads(&msgs, &format!("{b}/counts")).last(),
        Some(&final_counts)
    );
    println!("mqtts: final counts {final_counts} received over TLS");
    // Without the CA the broker's certificate is not trusted: an outage, not a leak.
    let json = tmp("tls-untrusted");
    let run = run_ok(
        "real/head-pose-face-detection-male",
        &json,
        "tls-untrusted",
        &format!("mqtt-url={}", broker.url()),
    );
    assert_warned(&run, "MQTT broker unreachable");
}

#[test]
fn bad_mqtt_settings_are_a_clear_error_at_start() {
    let json = tmp("bad");
    for (props, expect) in [
        ("mqtt-url=http://127.0.0.1", "invalid mqtt-url"),
        ("mqtt-url=mqtt://127.0.0.1:99999", "invalid mqtt-url"),
        (
            "mqtt-url=mqtt://127.0.0.1 mqtt-topic=shop/+/door",
            "mqtt-topic 'shop/+/door'",
        ),
        (
            "mqtt-url=mqtt://127.0.0.1 mqtt-qos=2 mqtt-ca-file=/nonexistent.pem",
            "not mqtts",
        ),
        (
            "mqtt-url=mqtts://127.0.0.1 mqtt-ca-file=/nonexistent.pem",
            "cannot read mqtt-ca-file",
        ),
    ] {
        let run = common::run_pipeline(
            &chain("real/head-pose-face-detection-male", &json, "bad", props, 0),
            60,
        );
        let err = run.error.unwrap_or_default();
        assert!(err.contains(expect), "{props}: {err}");
    }
    // A broker that is not there is not an error: the run counts, the events wait.
    let port = common::free_port();
    let run = run_ok(
        "real/head-pose-face-detection-male",
        &json,
        "absent",
        &format!("mqtt-url=mqtt://127.0.0.1:{port}"),
    );
    assert_warned(&run, "MQTT broker unreachable");
    assert_warned(&run, "not delivered at end of stream");
    assert_eq!(common::last_json_line(&json)["unique_visitors"], 1);
}

#[test]
fn a_restart_resumes_today_from_the_count_store() {
    let b = base("resume");
    let broker = Broker::start("resume");
    let store = std::env::temp_dir().join(format!(
        "footfall-mqtt-{}-resume.sqlite",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&store);
    let props = format!("mqtt-url={} store={}", broker.url(), store.display());
    for run in 0..2 {
        let json = tmp(&format!("resume-{run}"));
        run_ok("synth/synth_returns", &json, "resume", &props);
        let last = json_lines(&json).last().unwrap().clone();
        assert_eq!(
            (last["unique_visitors"].as_u64(), last["visits"].as_u64()),
            (Some(8), Some(17))
        );
        // The counts are this run's; today's add what the store kept from the run before.
        let want = (Some(8 * (run + 1)), Some(17 * (run + 1)));
        // The last update may reach the broker a moment after the end of stream.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let today = loop {
            let t: Value =
                serde_json::from_str(&broker.retained(&format!("{b}/today")).unwrap()).unwrap();
            let got = (t["unique_visitors"].as_u64(), t["visits"].as_u64());
            if got == want || std::time::Instant::now() >= until {
                break t;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(
            (today["unique_visitors"].as_u64(), today["visits"].as_u64()),
            want,
            "run {run}: {today}"
        );
    }
    let _ = std::fs::remove_file(&store);
}

#[test]
fn with_a_store_an_outage_over_a_whole_run_and_a_restart_lose_no_visit() {
    let b = base("durable");
    let mut broker = Broker::start("durable");
    let store = std::env::temp_dir().join(format!(
        "footfall-mqtt-{}-durable.sqlite",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&store);
    let props = format!("mqtt-url={} store={}", broker.url(), store.display());
    // Run 1: the broker is down from start to end; its messages wait in the store.
    broker.stop();
    let first = tmp("durable-0");
    let run = common::run_pipeline(
        &chain("synth/synth_returns", &first, "durable", &props, 0),
        300,
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_warned(&run, "unreachable");
    // The counter restarts with the broker back: run 1's visits go first, then its own.
    broker.restart();
    let sub = broker.subscribe("durable-sub", &["footfall/#"]);
    let second = tmp("durable-1");
    run_ok("synth/synth_returns", &second, "durable", &props);
    let mut want = visits_in(&json_lines(&first));
    want.extend(visits_in(&json_lines(&second)));
    assert_eq!(want.len(), 34);
    let msgs = sub.wait_for(Duration::from_secs(20), |m| {
        visit_numbers(&payloads(m, &format!("{b}/visit"))).len() >= want.len()
    });
    let got = payloads(&msgs, &format!("{b}/visit"));
    // Each visit by its key (site and camera are the topic): exactly the runs' visits.
    let mut by_key = std::collections::BTreeMap::new();
    for v in &got {
        let earlier = by_key.insert(v["visit"].as_u64().unwrap(), v.clone());
        assert!(earlier.is_none_or(|e| &e == v), "one key, two visits: {v}");
    }
    let want_by_key: std::collections::BTreeMap<u64, Value> = want
        .iter()
        .map(|v| (v["visit"].as_u64().unwrap(), v.clone()))
        .collect();
    assert_eq!(by_key, want_by_key);
    println!(
        "{} visits of two runs arrived ({} messages, resends included)",
        by_key.len(),
        got.len()
    );
    let _ = std::fs::remove_file(&store);
}
