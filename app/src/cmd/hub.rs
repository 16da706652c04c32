//! `footfall hub`: every site's visits and cameras' state from the head-office broker into
//! PostgreSQL, and (`--http`) the chain's API and dashboard from there.
//!
//! A reader thread drives the MQTT connection (rumqttc) and hands each message over; the
//! main thread gathers them in batches (200 ms or 500 messages), writes a batch in one
//! transaction and only then acknowledges its messages. So the broker keeps what the
//! database has not committed — across a database restart, a broker restart or the hub's
//! own SIGKILL — and sends it again, which the database takes once (see `hub::db`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use footfall_app::hub::db::{redacted, Db, Rejected, Written};
use footfall_app::hub::http::{HubHttp, HubHttpOptions};
use footfall_app::hub::message::{self, Message, State, Visit};
use gstfootfall::publish::config::parse_url;
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, Publish, QoS};

use super::input;

#[derive(clap::Args)]
pub struct Args {
    /// The head-office broker (mqtt://[user:password@]host[:port])
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt: String,
    /// PostgreSQL (postgres://user[:password]@host[:port]/db) [default: $FOOTFALL_HUB_DB]
    #[arg(long)]
    db: Option<String>,
    /// Topic prefix the sites publish under: <prefix>/<site>/<camera>/{visit,counts,today,availability}
    #[arg(long, default_value = "footfall")]
    topic: String,
    /// Serve the chain's API and dashboard on HOST:PORT (a token is always required)
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// The token the API asks for [default: $FOOTFALL_HUB_TOKEN]
    #[arg(long)]
    http_token: Option<String>,
    /// MQTT client id: the broker keeps this session's unacknowledged messages
    #[arg(long, default_value = "footfall-hub")]
    client_id: String,
}

const BATCH_TIME: Duration = Duration::from_millis(200);
const BATCH_MAX: usize = 500;
/// A batch also ends once nothing came for this long: the broker sends only so many
/// unacknowledged messages (its `max_inflight_messages`, 20 by default) and waits for
/// their acks, so waiting out [`BATCH_TIME`] would cap the rate at a window per 200 ms.
const BATCH_IDLE: Duration = Duration::from_millis(5);
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What the reader thread hands over.
enum FromBroker {
    Connected { session_present: bool },
    Message(Publish),
    Down(String),
}

/// Totals since start, said on stderr.
#[derive(Default)]
struct Totals {
    written: Written,
    batches: u64,
}

pub fn run(a: Args) -> Result<(), String> {
    let url =
        a.db.clone()
            .or_else(|| std::env::var("FOOTFALL_HUB_DB").ok())
            .ok_or("--db postgres://… (or FOOTFALL_HUB_DB) is needed")?;
    let mut db = Db::open(&url)?;
    eprintln!("hub: database {} ready", redacted(&url));
    let _http = serve_http(&a, &url)?;
    let stop = input::ctrl_c_stop()?;
    let (client, connection) = Client::new(options(&a)?, 1000);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("hub-mqtt".into())
        .spawn(move || read(connection, tx))
        .map_err(|e| format!("cannot start the MQTT thread: {e}"))?;
    let prefix = a.topic.trim_end_matches('/');
    let mut totals = Totals::default();
    let mut last_report = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let batch = gather(&rx, &client, prefix)?;
        if !batch.is_empty() {
            let w = write_until_done(&mut db, &url, &a.topic, &batch, &stop);
            let Some(w) = w else { break };
            for p in &batch {
                // Only now may the broker forget them.
                let _ = client.ack(p);
            }
            add(&mut totals, w);
        }
        if last_report.elapsed() >= REPORT_EVERY && totals.batches > 0 {
            report(&totals);
            last_report = Instant::now();
        }
    }
    let _ = client.disconnect();
    report(&totals);
    Ok(())
}

/// The API and dashboard, if asked for: started before the broker so a bad address or a
/// missing token stops the hub at once.
fn serve_http(a: &Args, db_url: &str) -> Result<Option<HubHttp>, String> {
    let Some(addr) = a.http.clone() else {
        return Ok(None);
    };
    let token = a
        .http_token
        .clone()
        .or_else(|| std::env::var("FOOTFALL_HUB_TOKEN").ok())
        .filter(|t| !t.is_empty())
        .ok_or("--http: the hub's API needs a token (--http-token or FOOTFALL_HUB_TOKEN)")?;
    let options = HubHttpOptions {
        addr,
        token,
        db: db_url.to_string(),
    };
    let server = HubHttp::start(&options)?;
    eprintln!("hub: serving http://{}/", server.local_addr);
    Ok(Some(server))
}

fn options(a: &Args) -> Result<MqttOptions, String> {
    let broker = parse_url(&a.mqtt)?;
    if broker.tls {
        return Err("--mqtt: the hub speaks mqtt:// (put the TLS bridge on the broker)".into());
    }
    let mut o = MqttOptions::new(a.client_id.clone(), broker.host, broker.port);
    o.set_keep_alive(Duration::from_secs(15));
    // A persistent session: what arrives while the hub is down waits in the broker.
    o.set_clean_session(false);
    o.set_manual_acks(true);
    if let Some(user) = broker.username {
        o.set_credentials(user, broker.password.unwrap_or_default());
    }
    Ok(o)
}

fn read(mut connection: Connection, tx: Sender<FromBroker>) {
    for event in connection.iter() {
        let sent = match event {
            Ok(Event::Incoming(Packet::ConnAck(c))) => tx.send(FromBroker::Connected {
                session_present: c.session_present,
            }),
            Ok(Event::Incoming(Packet::Publish(p))) => tx.send(FromBroker::Message(p)),
            Ok(_) => Ok(()),
            Err(e) => {
                let sent = tx.send(FromBroker::Down(e.to_string()));
                std::thread::sleep(Duration::from_secs(1));
                sent
            }
        };
        if sent.is_err() {
            return; // the hub is ending
        }
    }
}

/// Messages for up to [`BATCH_TIME`] (or [`BATCH_MAX`] of them, or until [`BATCH_IDLE`]
/// passes without one); (re)subscribes on a new session, says when the broker is gone.
fn gather(
    rx: &Receiver<FromBroker>,
    client: &Client,
    prefix: &str,
) -> Result<Vec<Publish>, String> {
    let mut batch = Vec::new();
    let until = Instant::now() + BATCH_TIME;
    while batch.len() < BATCH_MAX {
        let mut left = until.saturating_duration_since(Instant::now());
        if !batch.is_empty() {
            left = left.min(BATCH_IDLE);
        }
        match rx.recv_timeout(left) {
            Ok(FromBroker::Message(p)) => batch.push(p),
            Ok(FromBroker::Connected { session_present }) => {
                // Again on a resumed session too: subscribing anew makes the broker send
                // every retained state again (an `offline` sent at QoS 0 while the hub was
                // away is not queued for it); the session's queued visits stay queued.
                subscribe(client, prefix)?;
                let resumed = if session_present {
                    " (session resumed)"
                } else {
                    ""
                };
                eprintln!(
                    "hub: connected{resumed}, subscribed to {prefix}/+/+/{{{}}}",
                    message::KINDS.join(",")
                );
            }
            Ok(FromBroker::Down(e)) => eprintln!("warning: hub: broker: {e}"),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => return Err("the MQTT thread ended".into()),
        }
    }
    Ok(batch)
}

/// Every camera's visits and state, at least once (QoS 1).
fn subscribe(client: &Client, prefix: &str) -> Result<(), String> {
    let filters = message::KINDS.map(|kind| {
        rumqttc::SubscribeFilter::new(format!("{prefix}/+/+/{kind}"), QoS::AtLeastOnce)
    });
    client
        .subscribe_many(filters)
        .map_err(|e| format!("cannot subscribe under {prefix}/: {e}"))
}

/// What a batch holds: visits, camera states, and what was refused.
type Parsed = ((Vec<Visit>, Vec<State>), Vec<Rejected>);

fn parse(prefix: &str, batch: &[Publish]) -> Parsed {
    let (mut visits, mut states, mut rejected) = (Vec::new(), Vec::new(), Vec::new());
    for p in batch {
        match message::read(prefix, &p.topic, &p.payload) {
            Ok(Message::Visit(v)) => visits.push(v),
            Ok(Message::State(st)) => states.push(st),
            Err(why) => {
                eprintln!("warning: hub: rejected a message on {}: {why}", p.topic);
                rejected.push(Rejected {
                    topic: p.topic.clone(),
                    reason: why.to_string(),
                    bytes: p.payload.len(),
                });
            }
        }
    }
    ((visits, states), rejected)
}

/// Writes the batch, reconnecting to the database every second until it is written or
/// the hub is stopped (`None`: stopped; the batch stays unacknowledged).
fn write_until_done(
    db: &mut Db,
    url: &str,
    prefix: &str,
    batch: &[Publish],
    stop: &AtomicBool,
) -> Option<Written> {
    let ((visits, states), rejected) = parse(prefix, batch);
    loop {
        match db.write((&visits, &states), &rejected) {
            Ok(w) => return Some(w),
            Err(e) => eprintln!("warning: hub: {e}; retrying"),
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_secs(1));
            if !db.is_closed() {
                break;
            }
            match Db::open(url) {
                Ok(fresh) => {
                    *db = fresh;
                    eprintln!("hub: database back");
                    break;
                }
                Err(e) => eprintln!("warning: hub: {e}"),
            }
        }
    }
}

fn add(t: &mut Totals, w: Written) {
    t.written.inserted += w.inserted;
    t.written.duplicates += w.duplicates;
    t.written.states += w.states;
    t.written.rejected += w.rejected;
    t.batches += 1;
}

fn report(t: &Totals) {
    let w = &t.written;
    eprintln!(
        "hub: {} visits written, {} duplicates ignored, {} camera states, {} messages rejected",
        w.inserted, w.duplicates, w.states, w.rejected
    );
}
