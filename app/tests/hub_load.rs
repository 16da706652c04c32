//! `footfall hub` under load: a generator stands in for 500 shops for 60 s at a busy shop's
//! rate (a visit every 12 s per shop, counts every minute), then sends a burst of 20,000
//! visits as fast as it can. Every visit sent is one row; the backlog (sent, not yet in
//! the database) is printed each second, and the burst's drain rate gives the per-message
//! cost the README's capacity figures come from. Timings are printed, never asserted.

#[path = "http_api/client.rs"]
mod client;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{lines, wait_for};
use common::mqtt::Broker;
use common::postgres::Postgres;
use gstfootfall::count::events::local_iso_ms;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::json;

const SHOPS: u64 = 500;
/// Seconds between a shop's visits on average (300 an hour: a busy shop's door).
const VISIT_EVERY_S: f64 = 12.0;
const STEADY: Duration = Duration::from_secs(60);
const BURST: u64 = 20_000;

/// A publisher standing in for every shop's bridge, and how many of its messages the
/// broker acknowledged.
struct Generator {
    client: Client,
    acked: Arc<AtomicU64>,
    counter_start: i64,
    sent: u64,
    next_visit: Vec<u64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Generator {
    fn connect(port: u16) -> Generator {
        let mut o = MqttOptions::new("load-generator", "127.0.0.1", port);
        o.set_credentials("load-generator", "gen-pw");
        o.set_keep_alive(Duration::from_secs(30));
        o.set_inflight(500);
        let (client, mut connection) = Client::new(o, 10_000);
        let acked = Arc::new(AtomicU64::new(0));
        let a2 = acked.clone();
        std::thread::spawn(move || {
            for e in connection.iter() {
                match e {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        a2.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Generator {
            client,
            acked,
            counter_start: now_ms(),
            sent: 0,
            next_visit: vec![1; SHOPS as usize],
        }
    }

    /// One visit of `shop`, as a counter sends it (a third of them returning).
    fn visit(&mut self, shop: u64) {
        let number = self.next_visit[shop as usize];
        self.next_visit[shop as usize] += 1;
        let returning = number.is_multiple_of(3);
        let payload = json!({
            "event": "visit", "visit": number, "returning": returning, "staff": false,
            "identified": true, "pts": 1.0, "distance": 0.3, "margin": 0.2, "dwell_s": 4.2,
            "added": {"unique_visitors": u64::from(!returning), "visits": 1,
                      "returning_visits": u64::from(returning), "staff_visits": 0,
                      "unidentified_visits": 0},
            "site": format!("shop-{shop:03}"), "camera": "door",
            "counter_start": self.counter_start, "at": local_iso_ms(now_ms(), 3600),
        });
        let topic = format!("footfall/shop-{shop:03}/door/visit");
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .unwrap();
        self.sent += 1;
    }

    /// Every shop's counts and today's tally, as a counter sends them each minute (the hub
    /// keeps the latest of each per camera).
    fn counts(&mut self) {
        for shop in 0..SHOPS {
            let visits = self.next_visit[shop as usize] - 1;
            let origin = json!({
                "site": format!("shop-{shop:03}"), "camera": "door",
                "counter_start": self.counter_start, "at": local_iso_ms(now_ms(), 3600),
            });
            let mut counts = json!({
                "event": "counts", "unique_visitors": visits - visits / 3, "visits": visits,
                "returning_visits": visits / 3, "staff_visits": 0, "unidentified_visits": 0,
                "in_view": 1, "pts": 60.0,
            });
            let mut today = json!({
                "date": &local_iso_ms(now_ms(), 3600)[..10], "unique_visitors": visits - visits / 3,
                "visits": visits, "returning_visits": visits / 3, "staff_visits": 0,
            });
            for (k, v) in origin.as_object().unwrap() {
                counts[k] = v.clone();
                today[k] = v.clone();
            }
            for (kind, payload) in [("counts", counts), ("today", today)] {
                let topic = format!("footfall/shop-{shop:03}/door/{kind}");
                self.client
                    .publish(topic, QoS::AtLeastOnce, true, payload.to_string())
                    .unwrap();
            }
        }
    }
}

/// The chain dashboard's read (every shop's last 7 days) and one shop's day, over the 500
/// shops: the median of 5 of each, printed.
fn chain_view_cost(http: &str) {
    for path in ["/api/chain", "/api/today?site=shop-007"] {
        let mut took: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let url = format!("http://{http}{path}");
                let sep = if path.contains('?') { '&' } else { '?' };
                let body = client::json(&format!("{url}{sep}token=load-token"));
                assert!(body.is_object());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        took.sort_by(f64::total_cmp);
        println!("{path}: {:.1} ms (median of 5)", took[2]);
    }
}

fn stored(db: &mut postgres::Client) -> u64 {
    let n: i64 = db
        .query_one("SELECT count(*) FROM visits", &[])
        .unwrap()
        .get(0);
    n as u64
}

/// Waits until the database holds `sent` visits; how long that took.
fn drain(db: &mut postgres::Client, sent: u64) -> Duration {
    let t = Instant::now();
    while stored(db) < sent {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the hub never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// A deterministic coin: true with probability `p` (xorshift).
fn coin(state: &mut u64, p: f64) -> bool {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    ((*state >> 11) as f64 / (1u64 << 53) as f64) < p
}

#[test]
fn one_hub_keeps_up_with_500_shops() {
    let dir = client::scratch("hub", "load");
    let users = [("footfall-hub", "hub-pw"), ("load-generator", "gen-pw")];
    let passwords = common::mqtt::password_file(&dir, &users);
    // The head office's broker as the README sets it up for a hub.
    let extra = format!(
        "password_file {}\nmax_queued_messages 1000000\nmax_inflight_messages 500\n",
        passwords.display()
    );
    let broker = Broker::start_configured("hq-load", false, &extra);
    let pg = Postgres::start("load");
    let url = format!("mqtt://footfall-hub:hub-pw@127.0.0.1:{}", broker.port);
    let mut hub = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args([
            "hub",
            "--mqtt",
            &url,
            "--db",
            &pg.url(),
            "--http",
            "127.0.0.1:0",
        ])
        .env("FOOTFALL_HUB_TOKEN", "load-token")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = lines(hub.stderr.take().unwrap());
    let serving = wait_for(&said, "hub: serving http://", Duration::from_secs(30));
    let http = serving
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    wait_for(
        &said,
        "subscribed to footfall/+/+/{visit,counts,today,availability}",
        Duration::from_secs(30),
    );
    let mut db = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let mut generator = Generator::connect(broker.port);

    // 60 s of a busy day: per 100 ms tick each shop has a visit with p = 0.1 s / 12 s.
    let start = Instant::now();
    let (mut rng, mut max_backlog, mut next_sample) = (0x9e37_79b9_7f4a_7c15u64, 0, 1);
    generator.counts();
    let mut tick = 0u32;
    while start.elapsed() < STEADY {
        tick += 1;
        for shop in 0..SHOPS {
            if coin(&mut rng, 0.1 / VISIT_EVERY_S) {
                generator.visit(shop);
            }
        }
        if start.elapsed() >= Duration::from_secs(next_sample) {
            let backlog = generator.sent - stored(&mut db);
            max_backlog = max_backlog.max(backlog);
            next_sample += 1;
        }
        let next = Duration::from_millis(100 * tick as u64);
        std::thread::sleep(next.saturating_sub(start.elapsed()));
    }
    generator.counts();
    let steady_sent = generator.sent;
    let steady_drain = drain(&mut db, steady_sent);
    println!(
        "steady: {SHOPS} shops, {steady_sent} visits in {:.0} s ({:.1}/s); backlog at most \
         {max_backlog} visits (sampled each second); the last in the database {:.2} s after the end",
        STEADY.as_secs_f64(),
        steady_sent as f64 / STEADY.as_secs_f64(),
        steady_drain.as_secs_f64()
    );

    // The burst: as fast as the generator can send.
    let burst_start = Instant::now();
    for i in 0..BURST {
        generator.visit(i % SHOPS);
    }
    let sent_in = burst_start.elapsed();
    drain(&mut db, generator.sent);
    let took = burst_start.elapsed();
    let rate = BURST as f64 / took.as_secs_f64();
    println!(
        "burst: {BURST} visits sent in {:.2} s, all in the database after {:.2} s: {rate:.0} \
         visits/s, {:.2} ms each (hub, broker, PostgreSQL and the generator on this machine's cores)",
        sent_in.as_secs_f64(),
        took.as_secs_f64(),
        1000.0 / rate
    );
    assert_eq!(stored(&mut db), generator.sent, "one row per visit sent");
    let rejected: i64 = db
        .query_one("SELECT count(*) FROM rejected", &[])
        .unwrap()
        .get(0);
    assert_eq!(rejected, 0);
    // The last counts of every shop reached its camera's row.
    let tallied: i64 = db
        .query_one(
            "SELECT coalesce(sum(today_visits), 0)::bigint FROM cameras",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        tallied as u64, steady_sent,
        "each shop's last tally is its visits"
    );
    assert!(
        generator.acked.load(Ordering::Relaxed) >= generator.sent,
        "the broker acknowledged every visit"
    );
    chain_view_cost(&http);
    let _ = Command::new("kill")
        .args(["-INT", &hub.id().to_string()])
        .status();
    let _ = hub.wait();
    println!("{}", said.try_iter().last().unwrap_or_default());
    let _ = std::fs::remove_dir_all(&dir);
}
