//! `footfall hub`: three shops count clips and publish their visits to a real mosquitto;
//! the hub writes them into a real PostgreSQL. Each shop's totals in the database equal
//! its own final counts and the chain's are their sum, through a hub killed with SIGKILL
//! (its shop counted meanwhile) and a PostgreSQL restart; every visit replayed is taken
//! once; messages that are not JSON, lack fields or come from outside their site's prefix
//! are rejected and counted.

#[path = "http_api/client.rs"]
mod client;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use client::{footfall_ok, lines, wait_for};
use common::mqtt::Broker;
use common::postgres::Postgres;
use common::shared;
use serde_json::Value;

/// A running `footfall hub` and its stderr lines.
struct Hub {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

fn start_hub(broker: &Broker, pg: &Postgres) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["hub", "--mqtt", &broker.url(), "--db", &pg.url()])
        .args(["--client-id", "test-hub"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    wait_for(
        &stderr,
        "subscribed to footfall/+/+/visit",
        Duration::from_secs(30),
    );
    Hub { child, stderr }
}

impl Hub {
    /// Ctrl-C: the hub says its totals and ends.
    fn end(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        assert!(self.child.wait().unwrap().success());
        self.stderr.try_iter().collect()
    }
}

/// `footfall count` of a shared clip as `site`'s door, publishing to the broker; its final
/// counts line.
fn count_shop(site: &str, clip: &str, broker: &Broker, dir: &Path) -> Value {
    let store = dir.join(format!("{site}.sqlite"));
    let (url, topic) = (broker.url(), format!("footfall/{site}/door"));
    let clip = shared(&format!("media/{clip}.mp4"));
    let out = footfall_ok(&[
        "count",
        "--gallery",
        site,
        "--camera",
        "door",
        "--store",
        store.to_str().unwrap(),
        "--mqtt",
        &url,
        "--mqtt-topic",
        &topic,
        clip.to_str().unwrap(),
    ]);
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    serde_json::from_str(&last).unwrap()
}

fn db(pg: &Postgres) -> postgres::Client {
    postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap()
}

/// (unique visitors, visits) of `site` in the database's minutes; all sites with `None`.
fn totals(pg: &Postgres, site: Option<&str>) -> (i64, i64) {
    let row = db(pg)
        .query_one(
            "SELECT coalesce(sum(unique_visitors), 0)::bigint, coalesce(sum(visits), 0)::bigint
             FROM minute_counts WHERE $1::text IS NULL OR site = $1",
            &[&site],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn visit_rows(pg: &Postgres) -> i64 {
    db(pg)
        .query_one("SELECT count(*) FROM visits", &[])
        .unwrap()
        .get(0)
}

fn rejected(pg: &Postgres) -> Vec<String> {
    db(pg)
        .query("SELECT reason FROM rejected ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Waits until `done` holds of the database.
fn wait_db(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < until, "the database never had {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn counted(last: &Value) -> (i64, i64) {
    (
        last["unique_visitors"].as_i64().unwrap(),
        last["visits"].as_i64().unwrap(),
    )
}

#[test]
fn every_shop_s_visits_reach_the_database_once() {
    let dir = client::scratch("hub", "chain");
    let pg = Postgres::start("hub");
    let broker = Broker::start("hub");
    let seen = broker.subscribe("hub-test-witness", &["footfall/+/+/visit"]);
    let hub = start_hub(&broker, &pg);

    let a = count_shop("shop-a", "synth/synth_returns", &broker, &dir);
    wait_db("shop-a's visits", || {
        totals(&pg, Some("shop-a")).1 == counted(&a).1
    });
    assert_eq!(totals(&pg, Some("shop-a")), counted(&a), "shop-a: {a}");

    // The hub killed: shop-b counts meanwhile; its visits wait in the broker's session.
    let mut killed = hub;
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let b = count_shop(
        "shop-b",
        "real/face-demographics-walking-and-pause",
        &broker,
        &dir,
    );
    let hub = start_hub(&broker, &pg);
    wait_db("shop-b's visits", || {
        totals(&pg, Some("shop-b")).1 == counted(&b).1
    });
    assert_eq!(totals(&pg, Some("shop-b")), counted(&b), "shop-b: {b}");

    // PostgreSQL restarted under the hub: it reconnects, nothing is lost.
    pg.restart();
    let c = count_shop(
        "shop-c",
        "real/head-pose-face-detection-female-and-male",
        &broker,
        &dir,
    );
    wait_db("shop-c's visits", || {
        totals(&pg, Some("shop-c")).1 == counted(&c).1
    });
    assert_eq!(totals(&pg, Some("shop-c")), counted(&c), "shop-c: {c}");
    let chain = [&a, &b, &c].map(counted);
    let sum = chain.iter().fold((0, 0), |s, t| (s.0 + t.0, s.1 + t.1));
    assert_eq!(totals(&pg, None), sum, "the chain is the sum of its shops");
    println!("shops (unique, visits): {chain:?}; chain {sum:?}");

    // Every visit sent again: the database takes none twice.
    let sent = seen.messages();
    assert_eq!(sent.len() as i64, sum.1, "the witness saw every visit");
    for (topic, payload) in &sent {
        broker.publish(topic, payload);
    }
    // Refused: not JSON, a visit without its number, shop-b's visit on shop-a's topic.
    let (_, b_visit) = sent.iter().find(|(t, _)| t.contains("/shop-b/")).unwrap();
    let no_number = b_visit.replacen("\"visit\":", "\"was\":", 1);
    broker.publish("footfall/shop-a/door/visit", "{not json");
    broker.publish("footfall/shop-b/door/visit", &no_number);
    broker.publish("footfall/shop-a/door/visit", b_visit);
    wait_db("three rejected messages", || rejected(&pg).len() == 3);
    assert_eq!(
        rejected(&pg),
        [
            "not JSON",
            "bad visit: 'visit' missing or not the right type",
            "site outside its topic prefix"
        ]
    );
    assert_eq!(visit_rows(&pg), sum.1, "one row per visit");
    assert_eq!(totals(&pg, None), sum, "the replay changed nothing");
    let said = hub.end();
    let last = said.last().unwrap();
    println!("{last}");
    // The replay, and any visit the killed hub had written but not yet acknowledged.
    let duplicates: usize = last
        .split(" duplicates ignored")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said:?}"));
    assert!(duplicates >= sent.len(), "{last}");
    assert!(last.ends_with("3 messages rejected"), "{last}");
    let _ = std::fs::remove_dir_all(&dir);
}
