//! `footfall hub`: three shops count clips and publish their visits to a real mosquitto;
//! the hub writes them into a real PostgreSQL. Each shop's totals in the database equal
//! its own final counts and the chain's are their sum, through a hub killed with SIGKILL
//! (its shop counted meanwhile) and a PostgreSQL restart; every visit replayed is taken
//! once; messages that are not JSON, lack fields or come from outside their site's prefix
//! are rejected and counted. The hub's API (with its token) gives the same totals per shop
//! and for the chain, each shop's own tally of its day, and its cameras' state.

#[path = "http_api/client.rs"]
mod client;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "http_api/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use client::{footfall_ok, get, json, lines, wait_for};
use common::mqtt::Broker;
use common::postgres::Postgres;
use common::shared;
use serde_json::Value;

/// A running `footfall hub`, its stderr lines and its API's address.
struct Hub {
    child: Child,
    stderr: mpsc::Receiver<String>,
    http: String,
}

const TOKEN: &str = "chain-token";

fn start_hub(broker: &Broker, pg: &Postgres) -> Hub {
    start_hub_at(&broker.url(), pg)
}

/// The hub on the broker at `url` (credentials in it, if any).
fn start_hub_at(url: &str, pg: &Postgres) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(["hub", "--mqtt", url, "--db", &pg.url()])
        .args(["--client-id", "test-hub", "--http", "127.0.0.1:0"])
        .env("FOOTFALL_HUB_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let serving = wait_for(&stderr, "hub: serving http://", Duration::from_secs(30));
    let http = serving
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/');
    wait_for(
        &stderr,
        "subscribed to footfall/+/+/{visit,counts,today,availability}",
        Duration::from_secs(30),
    );
    Hub {
        child,
        stderr,
        http: format!("http://{http}"),
    }
}

impl Hub {
    /// `path` of the hub's API, with the token.
    fn api(&self, path: &str) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        json(&format!("{}{path}{sep}token={TOKEN}", self.http))
    }

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
    check_api(&hub, &[("shop-a", &a), ("shop-b", &b), ("shop-c", &c)], sum);

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
            "bad message: 'visit' missing or not the right type",
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

/// The hub's API: the token is required; per shop and for the chain it gives what the
/// shops counted; a shop's day holds its own tally and its camera, offline after its run.
fn check_api(hub: &Hub, shops: &[(&str, &Value)], chain_sum: (i64, i64)) {
    let (status, _) = get(&format!("{}/api/chain", hub.http), &[]);
    assert_eq!(status, 401, "no token, no counts");
    let bearer = format!("Bearer {TOKEN}");
    let (status, _) = get(
        &format!("{}/api/chain", hub.http),
        &[("Authorization", &bearer)],
    );
    assert_eq!(status, 200);
    let (status, _) = get(&format!("{}/readyz", hub.http), &[]);
    assert_eq!(status, 200, "the database answers");
    let (status, css) = get(&format!("{}/style.css", hub.http), &[]);
    assert!(
        status == 200 && css.contains("font-family"),
        "the dashboards' look is open"
    );
    let chain = hub.api("/api/chain");
    assert_eq!(counted(&chain["total"]), chain_sum, "{chain}");
    for (site, last) in shops {
        let row = chain["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["site"] == *site)
            .unwrap_or_else(|| panic!("{site} not in {chain}"));
        assert_eq!(counted(&row["total"]), counted(last), "{site}: {row}");
        let today = hub.api(&format!("/api/today?site={site}"));
        assert_eq!(counted(&today["total"]), counted(last), "{site}: {today}");
        let reported = &today["reported_by_site"];
        assert_eq!(counted(reported), counted(last), "{site}: {today}");
        assert_eq!(reported["not_yet_here"], 0, "{today}");
        assert_eq!(today["cameras"][0]["health"], "offline", "{today}");
        let hours: i64 = today["hourly_visits"]["today"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_i64().unwrap())
            .sum();
        assert_eq!(hours, counted(last).1, "{today}");
        let days = hub.api(&format!("/api/counts?site={site}&resolution=day"));
        let periods = days["periods"].as_array().unwrap();
        let visits: i64 = periods.iter().map(|p| p["visits"].as_i64().unwrap()).sum();
        assert_eq!(visits, counted(last).1, "{site}: {days}");
    }
    println!("hub API: chain {}", chain["total"]);
    check_dashboards(hub, shops, chain_sum);
}

/// The chain dashboard in a headless Chromium: a row per shop with its visits, the chain's
/// total; a shop's link opens its own dashboard with its counts.
fn check_dashboards(hub: &Hub, shops: &[(&str, &Value)], chain_sum: (i64, i64)) {
    let browser = webdriver::Browser::start();
    browser.open(&format!("{}/?token={TOKEN}", hub.http));
    let total = chain_sum.1.to_string();
    browser.wait_text("#visits", |t| t == total, Duration::from_secs(20));
    let names = browser.attributes("#chain tbody tr", "data-site");
    let visits = browser.attributes("#chain tbody tr", "data-visits");
    let expected: Vec<(String, String)> = shops
        .iter()
        .map(|(site, last)| (site.to_string(), counted(last).1.to_string()))
        .collect();
    let shown: Vec<(String, String)> = names.into_iter().zip(visits).collect();
    assert_eq!(shown, expected, "the chain dashboard's rows");
    let (site, last) = shops[0];
    let link = browser.attributes("#chain tbody tr a", "href");
    assert!(link[0].contains(&format!("site?site={site}")), "{link:?}");
    browser.open(&format!("{}/site?site={site}&token={TOKEN}", hub.http));
    let visits = counted(last).1.to_string();
    browser.wait_text("#visits", |t| t == visits, Duration::from_secs(20));
    assert_eq!(browser.text("#site"), site);
    assert_eq!(browser.text("#cameras tbody tr td"), "door");
}

/// `pipelines/NAME` as a test runs it: its folders and ports made this test's.
fn pipeline_conf(name: &str, replace: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name);
    let mut conf = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replace {
        assert!(conf.contains(from), "{name} no longer holds '{from}'");
        conf = conf.replace(from, to);
    }
    conf
}

/// Makes `path` readable by the broker (started as root, it reads as `mosquitto`).
fn readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// The head office's broker of `pipelines/head-office/`: users with passwords, shops that
/// may write only under their own prefix, the bridges' listener on TLS (returned: its port
/// and the CA a shop trusts), the hub's on loopback.
fn head_office(users: &[(&str, &str)]) -> (Broker, u16, std::path::PathBuf) {
    let tls_port = common::free_port();
    let hq_dir = std::cell::RefCell::new(std::path::PathBuf::new());
    let broker = Broker::start_from("hq", |folder, port| {
        *hq_dir.borrow_mut() = folder.to_path_buf();
        common::mqtt::make_certificates(folder);
        common::mqtt::password_file(folder, users);
        let acl = folder.join("acl");
        std::fs::write(&acl, pipeline_conf("head-office/acl", &[])).unwrap();
        readable(&acl);
        let folder = format!("{}/", folder.display());
        let mut conf = pipeline_conf(
            "head-office/mosquitto.conf",
            &[
                ("/etc/mosquitto/footfall/", folder.clone()),
                ("/var/lib/mosquitto/", folder.clone()),
                (
                    "listener 1883 127.0.0.1",
                    format!("listener {port} 127.0.0.1"),
                ),
                ("listener 8883", format!("listener {tls_port} 127.0.0.1")),
            ],
        );
        conf.push_str(&format!("log_dest file {folder}broker.log\n"));
        conf
    });
    let ca = hq_dir.into_inner().join("ca.pem");
    (broker, tls_port, ca)
}

/// A shop's own broker of `pipelines/shop/`, bridged over TLS to the head office as the
/// shop's user.
fn shop_broker(shop: &str, password: &str, (hq_tls_port, ca): (u16, &Path)) -> Broker {
    Broker::start_from(shop, |folder, port| {
        let mut conf = pipeline_conf(
            "shop/mosquitto.conf",
            &[
                (
                    "listener 1883 127.0.0.1",
                    format!("listener {port} 127.0.0.1"),
                ),
                ("/var/lib/mosquitto/", format!("{}/", folder.display())),
                ("hq.example.com:8883", format!("127.0.0.1:{hq_tls_port}")),
                ("/etc/mosquitto/footfall/ca.pem", ca.display().to_string()),
                (
                    "remote_clientid shop-0042",
                    format!("remote_clientid {shop}"),
                ),
                (
                    "remote_username shop-0042",
                    format!("remote_username {shop}"),
                ),
                ("CHANGE-ME", password.to_string()),
                // Back within 2 s of the head office, not 30: the test waits for it.
                ("restart_timeout 2 30", "restart_timeout 1 2".to_string()),
            ],
        );
        conf.push_str(&format!("log_dest file {}/broker.log\n", folder.display()));
        conf
    })
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
    let (mut hq, tls_port, ca) = head_office(&users);
    let shop_a = shop_broker("shop-a", "a-pw", (tls_port, &ca));
    let shop_b = shop_broker("shop-b", "b-pw", (tls_port, &ca));
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

/// A database the first hub made (schema 1) is migrated in place, its rows kept; one of a
/// newer hub is refused.
#[test]
fn an_older_schema_is_migrated_and_a_newer_one_refused() {
    use footfall_app::hub::db::Db;
    let pg = Postgres::start("migrate");
    drop(Db::open(&pg.url()).unwrap());
    // Back to schema 1 as the first hub left it, with a minute of its counts.
    db(&pg)
        .batch_execute(
            "DROP TABLE cameras;
             ALTER TABLE visits DROP COLUMN utc_offset_s;
             ALTER TABLE minute_counts DROP COLUMN utc_offset_s;
             UPDATE footfall_meta SET value = '1' WHERE key = 'schema';
             INSERT INTO minute_counts (site, camera, minute, local_day, visits)
                 VALUES ('old-shop', 'door', '2026-12-01T10:00:00Z', '2026-12-01', 4);",
        )
        .unwrap();
    drop(Db::open(&pg.url()).unwrap());
    let mut c = db(&pg);
    let schema: String = c
        .query_one("SELECT value FROM footfall_meta WHERE key = 'schema'", &[])
        .unwrap()
        .get(0);
    assert_eq!(schema, "2");
    let row = c
        .query_one(
            "SELECT visits, utc_offset_s FROM minute_counts WHERE site = 'old-shop'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, Option<i32>>(1)),
        (4, None)
    );
    let cameras: i64 = c
        .query_one("SELECT count(*) FROM cameras", &[])
        .unwrap()
        .get(0);
    assert_eq!(cameras, 0);
    c.execute(
        "UPDATE footfall_meta SET value = '3' WHERE key = 'schema'",
        &[],
    )
    .unwrap();
    let e = Db::open(&pg.url()).err().unwrap();
    assert!(e.contains("newer than this hub's 2"), "{e}");
}
