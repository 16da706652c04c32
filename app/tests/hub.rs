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
    start_hub_at(&broker.url(), pg)
}

/// The hub on the broker at `url` (credentials in it, if any).
fn start_hub_at(url: &str, pg: &Postgres) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["hub", "--mqtt", url, "--db", &pg.url()])
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
    count_at(site, "door", site, clip, broker, dir)
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

/// The head office's broker: users with passwords, and shops that may write only under
/// their own prefix (the README's ACL).
fn head_office(dir: &Path, users: &[(&str, &str)]) -> Broker {
    let passwords = common::mqtt::password_file(dir, users);
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "user footfall-hub\ntopic read footfall/#\n\npattern write footfall/%u/#\n",
    )
    .unwrap();
    // mosquitto started as root reads it as the `mosquitto` user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&acl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let extra = format!(
        "password_file {}\nacl_file {}\n",
        passwords.display(),
        acl.display()
    );
    Broker::start_configured("hq", false, &extra)
}

/// A shop's own broker, bridged to the head office as the shop's user (the README's
/// bridge, without TLS on loopback).
fn shop_broker(shop: &str, password: &str, hq: &Broker) -> Broker {
    let bridge = format!(
        "max_queued_messages 100000\n\
         connection head-office\naddress 127.0.0.1:{}\nremote_clientid {shop}\n\
         remote_username {shop}\nremote_password {password}\ncleansession false\n\
         restart_timeout 1 2\ntopic footfall/# out 1\n",
        hq.port
    );
    Broker::start_configured(shop, true, &bridge)
}

/// `shop`'s camera `camera` counts `clip`, publishing to the shop's broker under `prefix`.
fn count_at(
    shop: &str,
    camera: &str,
    prefix: &str,
    clip: &str,
    broker: &Broker,
    dir: &Path,
) -> Value {
    let store = dir.join(format!("{shop}-{camera}.sqlite"));
    let (url, topic) = (broker.url(), format!("footfall/{prefix}/{camera}"));
    let clip = shared(&format!("media/{clip}.mp4"));
    let out = footfall_ok(&[
        "count",
        "--gallery",
        shop,
        "--camera",
        camera,
        "--store",
        store.to_str().unwrap(),
        "--mqtt",
        &url,
        "--mqtt-topic",
        &topic,
        clip.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn camera_visits(pg: &Postgres, site: &str, camera: &str) -> i64 {
    db(pg)
        .query_one(
            "SELECT count(*) FROM visits WHERE site = $1 AND camera = $2",
            &[&site, &camera],
        )
        .unwrap()
        .get(0)
}

#[test]
fn bridged_shops_reach_the_hub_through_an_outage_and_stay_in_their_prefix() {
    let dir = client::scratch("hub", "bridged");
    let pg = Postgres::start("bridged");
    let users = [
        ("footfall-hub", "hub-pw"),
        ("shop-a", "a-pw"),
        ("shop-b", "b-pw"),
    ];
    let mut hq = head_office(&dir, &users);
    let shop_a = shop_broker("shop-a", "a-pw", &hq);
    let shop_b = shop_broker("shop-b", "b-pw", &hq);
    let hub_url = format!("mqtt://footfall-hub:hub-pw@127.0.0.1:{}", hq.port);
    let hub = start_hub_at(&hub_url, &pg);

    let a = count_at(
        "shop-a",
        "door",
        "shop-a",
        "synth/synth_returns",
        &shop_a,
        &dir,
    );
    wait_db("shop-a's visits", || {
        totals(&pg, Some("shop-a")) == counted(&a)
    });

    // The head office's broker down for 30 s: shop-b counts meanwhile; its bridge queues.
    let down = Instant::now();
    hq.stop();
    let clip = "real/face-demographics-walking-and-pause";
    let b = count_at("shop-b", "door", "shop-b", clip, &shop_b, &dir);
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down.elapsed()));
    hq.restart();
    wait_db("shop-b's visits after the outage", || {
        totals(&pg, Some("shop-b")) == counted(&b)
    });
    println!("head office down {:.0} s", down.elapsed().as_secs_f64());

    // Shop a's box publishing as shop b: the head office's ACL drops it. Shop a's next
    // camera, bridged after it, arrives: the bridge worked, the rogue messages did not pass.
    let rogue = count_at(
        "shop-b",
        "rogue",
        "shop-b",
        "real/head-pose-face-detection-male",
        &shop_a,
        &dir,
    );
    let till = count_at(
        "shop-a",
        "till",
        "shop-a",
        "real/head-pose-face-detection-female",
        &shop_a,
        &dir,
    );
    wait_db("shop-a's till", || {
        camera_visits(&pg, "shop-a", "till") == counted(&till).1
    });
    assert!(counted(&rogue).1 > 0, "the rogue camera counted: {rogue}");
    assert_eq!(
        camera_visits(&pg, "shop-b", "rogue"),
        0,
        "outside its prefix"
    );
    let shops = [&a, &b].map(counted);
    let sum = (
        shops[0].0 + shops[1].0 + counted(&till).0,
        shops[0].1 + shops[1].1 + counted(&till).1,
    );
    assert_eq!(totals(&pg, None), sum, "the chain is its shops' sum");
    println!(
        "bridged shops (unique, visits): a {:?} + till {:?}, b {:?}",
        shops[0],
        counted(&till),
        shops[1]
    );
    let said = hub.end();
    println!("{}", said.last().unwrap());
    drop((shop_a, shop_b));
    let _ = std::fs::remove_dir_all(&dir);
}
