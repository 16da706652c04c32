//! Publishes counts and visit events to an MQTT broker from a thread of its own, so the
//! video thread only appends to a bounded [`Outbox`] and never waits for the network.
//!
//! Delivery: QoS 1 by default. Messages stay ours until the broker acknowledges them
//! (rumqttc's own queue is cleared when a clean session reconnects, and a restarted
//! broker has no session anyway): on a broken connection the unacknowledged ones go back
//! to the head of the outbox and are resent after reconnecting (at least once). The
//! outbox is bounded (`queue_size`); what it has to drop is counted, published on
//! `<base>/status` and reported through `notify`. With a count store, this thread moves
//! counts and visits to its outbox on disk ([`super::durable`]) and sends from there, so
//! outages and restarts lose nothing within the disk quota.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, RecvTimeoutError,
    Transport,
};

use super::config::{discovery_messages, parse_url, Today};
use super::durable::DurableOutbox;
use super::queue::{Kind, Message, Outbox};
use crate::count::visits::Counts;

/// Messages handed to the client and not yet acknowledged, at most.
const MAX_IN_FLIGHT: usize = 32;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub url: String,
    /// Topic base: `<base>/counts`, `<base>/visit`, … (see [`super::config`]).
    pub base_topic: String,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// 0, 1 or 2.
    pub qos: u8,
    /// Retain the latest counts (and today's counts) on the broker.
    pub retain: bool,
    pub queue_size: usize,
    /// Home Assistant discovery prefix; `None`: no discovery messages.
    pub discovery_prefix: Option<String>,
    /// PEM CA certificate for `mqtts://` to a broker with a private CA; `None`: the
    /// system's roots.
    pub ca_file: Option<String>,
    /// Keep unacknowledged counts and visits on disk, in this count store, within this
    /// many payload bytes ([`super::durable`]); `None`: in memory only (`queue_size`).
    pub durable: Option<(std::path::PathBuf, u64)>,
}

/// What the publisher tells its owner (the element turns these into bus warnings).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The broker cannot be reached or dropped the connection; events are queued.
    Unreachable(String),
    /// Connected again after an outage; `dropped` messages (`dropped_visits` of them visit
    /// events) were lost in total because the outbox was full.
    Reconnected { dropped: u64, dropped_visits: u64 },
    /// The outbox on disk failed (full disk?): from now on messages are kept in memory.
    DiskOutboxFailed(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages the broker acknowledged (QoS 1/2) or that were written out (QoS 0).
    pub delivered: u64,
    pub dropped: u64,
    pub dropped_visits: u64,
    /// Queued or in flight.
    pub pending: usize,
    pub connected: bool,
}

struct State {
    outbox: Outbox,
    stats: Stats,
    /// Set by `close`: finish sending until this instant, then stop.
    closing: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

pub struct MqttPublisher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    base: String,
    retain: bool,
    today: Today,
}

/// Checks the topics and the QoS of `s`; returns the QoS.
fn check(s: &MqttSettings) -> Result<QoS, String> {
    // The client refuses wildcards in a topic it publishes to: catch them here, once.
    for (what, topic) in [
        ("mqtt-topic", Some(&s.base_topic)),
        ("mqtt-discovery-prefix", s.discovery_prefix.as_ref()),
    ] {
        if let Some(t) = topic.filter(|t| t.is_empty() || t.contains(['+', '#', '\0'])) {
            return Err(format!(
                "{what} '{t}' must be non-empty and hold no '+', '#' or NUL"
            ));
        }
    }
    match s.qos {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        q => Err(format!("mqtt-qos must be 0, 1 or 2, not {q}")),
    }
}

/// The client's options: broker, keep-alive, last will, credentials and TLS.
fn client_options(s: &MqttSettings, qos: QoS) -> Result<MqttOptions, String> {
    let broker = parse_url(&s.url)?;
    let mut opts = MqttOptions::new(s.client_id.clone(), broker.host.clone(), broker.port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_clean_session(true);
    opts.set_last_will(LastWill::new(
        format!("{}/availability", s.base_topic),
        "offline",
        qos,
        true,
    ));
    let user = s.username.clone().or(broker.username);
    let password = s.password.clone().or(broker.password);
    if let Some(u) = user {
        opts.set_credentials(u, password.unwrap_or_default());
    }
    if broker.tls {
        // One process-wide crypto provider; already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        opts.set_transport(match &s.ca_file {
            Some(path) => {
                let ca = std::fs::read(path)
                    .map_err(|e| format!("cannot read mqtt-ca-file '{path}': {e}"))?;
                Transport::tls(ca, None, None)
            }
            None => Transport::tls_with_default_config(),
        });
    } else if s.ca_file.is_some() {
        return Err("mqtt-ca-file is set but mqtt-url is not mqtts://".into());
    }
    Ok(opts)
}

impl MqttPublisher {
    /// Validates the settings and starts the connection thread. An unreachable broker is
    /// not an error here (it may come later); a malformed URL or unreadable CA file is.
    pub fn start(
        s: MqttSettings,
        notify: Box<dyn Fn(Notice) + Send>,
    ) -> Result<MqttPublisher, String> {
        let qos = check(&s)?;
        let opts = client_options(&s, qos)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                outbox: Outbox::new(s.queue_size),
                stats: Stats::default(),
                closing: None,
            }),
            changed: Condvar::new(),
        });
        let durable = match &s.durable {
            Some((path, quota)) => Some(DurableOutbox::open(path, &s.base_topic, *quota)?),
            None => None,
        };
        let (client, connection) = Client::new(opts, MAX_IN_FLIGHT * 2);
        let worker = Worker {
            shared: shared.clone(),
            client,
            qos,
            base: s.base_topic.clone(),
            discovery_prefix: s.discovery_prefix.clone(),
            in_flight: VecDeque::new(),
            connected: false,
            notify,
            durable,
            handed_through: 0,
        };
        let thread = std::thread::Builder::new()
            .name("footfall-mqtt".into())
            .spawn(move || worker.run(connection))
            .map_err(|e| format!("cannot start the MQTT thread: {e}"))?;
        Ok(MqttPublisher {
            shared,
            thread: Some(thread),
            base: s.base_topic,
            retain: s.retain,
            today: Today::default(),
        })
    }

    fn push(&self, kind: Kind, topic: String, payload: String, retain: bool) {
        let mut st = self.shared.state.lock().unwrap();
        st.outbox.push(Message {
            kind,
            topic,
            payload: payload.into_bytes(),
            retain,
        });
        st.stats.dropped = st.outbox.dropped;
        st.stats.dropped_visits = st.outbox.dropped_events;
        drop(st);
        self.shared.changed.notify_all();
    }

    /// Adds what the count store holds for today from earlier runs to `<base>/today`.
    pub fn resume_today(&mut self, day: &str, stored: Counts) {
        self.today.resume(
            day,
            [
                stored.unique_visitors,
                stored.visits,
                stored.returning_visits,
                stored.staff_visits,
            ],
        );
    }

    /// Queues a counts object (`<base>/counts`) and today's counts (`<base>/today`).
    /// `cumulative`: unique visitors, visits, returning, staff.
    pub fn counts(&mut self, counts: &serde_json::Value, cumulative: [u64; 4]) {
        let day = local_date();
        let mut today = self.today.update(&day, cumulative);
        // Who counted and the site's clock, as in the counts: a head office files today's
        // counts under the site's own name and day.
        for origin in ["site", "camera", "counter_start", "at"] {
            if let Some(v) = counts.get(origin) {
                today[origin] = v.clone();
            }
        }
        self.push(
            Kind::Counts,
            format!("{}/counts", self.base),
            counts.to_string(),
            self.retain,
        );
        self.push(
            Kind::Counts,
            format!("{}/today", self.base),
            today.to_string(),
            self.retain,
        );
    }

    /// Queues a visit event (`<base>/visit`, never retained).
    pub fn visit(&self, visit: &serde_json::Value) {
        self.push(
            Kind::Event,
            format!("{}/visit", self.base),
            visit.to_string(),
            false,
        );
    }

    pub fn stats(&self) -> Stats {
        self.shared.state.lock().unwrap().stats
    }

    /// Waits until everything queued so far is delivered, at most `timeout`. True if it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        while st.stats.pending > 0 || !st.outbox.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap().0;
        }
        true
    }

    /// Sends what is queued (for at most `timeout`), marks the camera offline and
    /// disconnects. Returns the final statistics.
    pub fn close(&mut self, timeout: Duration) -> Stats {
        self.shared.state.lock().unwrap().closing = Some(Instant::now() + timeout);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.close(Duration::from_secs(2));
        }
    }
}

fn local_date() -> String {
    gst::glib::DateTime::now_local()
        .and_then(|d| d.format("%F"))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

struct Worker {
    shared: Arc<Shared>,
    client: Client,
    qos: QoS,
    base: String,
    discovery_prefix: Option<String>,
    /// Handed to the client, not yet acknowledged.
    in_flight: VecDeque<Flying>,
    connected: bool,
    notify: Box<dyn Fn(Notice) + Send>,
    /// The outbox on disk, when the counter keeps a count store.
    durable: Option<DurableOutbox>,
    /// The last row of `durable` handed to the client.
    handed_through: i64,
}

/// A message handed to the client: its packet id once sent, its row on disk if stored.
struct Flying {
    message: Message,
    pkid: Option<u16>,
    row: Option<i64>,
}

impl Worker {
    fn run(mut self, mut connection: Connection) {
        let mut retry = FIRST_RETRY;
        let mut outage_reported = false;
        loop {
            if self.finished() {
                break;
            }
            self.persist_new();
            if self.connected {
                self.hand_over();
            }
            match connection.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    self.connected = true;
                    retry = FIRST_RETRY;
                    self.queue_control();
                    if outage_reported {
                        outage_reported = false;
                        let st = self.shared.state.lock().unwrap();
                        (self.notify)(Notice::Reconnected {
                            dropped: st.outbox.dropped,
                            dropped_visits: st.outbox.dropped_events,
                        });
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => self.sent(pkid),
                Ok(Ok(Event::Incoming(Packet::PubAck(a)))) => self.acknowledged(a.pkid),
                Ok(Ok(Event::Incoming(Packet::PubComp(c)))) => self.acknowledged(c.pkid),
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    if !outage_reported {
                        outage_reported = true;
                        (self.notify)(Notice::Unreachable(e.to_string()));
                    }
                    self.connection_lost();
                    self.sleep(retry);
                    retry = (retry * 2).min(LAST_RETRY);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.publish_stats();
        }
        self.goodbye(&mut connection);
    }

    /// Closing and either everything is delivered or the close deadline passed.
    fn finished(&self) -> bool {
        let st = self.shared.state.lock().unwrap();
        match st.closing {
            Some(deadline) => {
                let on_disk = self.durable.as_ref().map_or(0, |d| d.rows());
                (st.outbox.is_empty() && self.in_flight.is_empty() && on_disk == 0)
                    || Instant::now() >= deadline
            }
            None => false,
        }
    }

    /// Moves the counts and visits that came in to the outbox on disk (one transaction),
    /// making room under its quota. On a disk failure they stay in memory from now on.
    fn persist_new(&mut self) {
        let Some(durable) = self.durable.as_mut() else {
            return;
        };
        let data = {
            let mut st = self.shared.state.lock().unwrap();
            let data = st.outbox.take_data();
            // Still pending while on their way to the disk (a flush must not see nothing).
            st.stats.pending += data.len();
            data
        };
        if data.is_empty() {
            return;
        }
        match durable.store(&data, self.handed_through) {
            Ok(evicted) => {
                let mut st = self.shared.state.lock().unwrap();
                st.outbox.dropped += evicted.counts + evicted.events;
                st.outbox.dropped_events += evicted.events;
            }
            Err(e) => {
                self.durable = None;
                self.shared
                    .state
                    .lock()
                    .unwrap()
                    .outbox
                    .requeue_front(data.into_iter());
                (self.notify)(Notice::DiskOutboxFailed(e));
            }
        }
    }

    /// Moves messages to the client, keeping a bounded number in flight: the control ones
    /// (and, without a disk outbox, all) from memory, then the stored ones in order.
    fn hand_over(&mut self) {
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(m) = self.shared.state.lock().unwrap().outbox.pop() else {
                break;
            };
            if !self.publish(m.clone(), None) {
                // The client's channel is full: try again after the next event.
                self.shared
                    .state
                    .lock()
                    .unwrap()
                    .outbox
                    .requeue_front(std::iter::once(m));
                return;
            }
        }
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len());
        let flying_rows = self.flying_rows();
        let stored = match (&self.durable, room) {
            // Read the disk only when rows wait there that are not in flight already.
            (Some(d), 1..) if d.rows() > flying_rows => {
                d.next(self.handed_through, room).unwrap_or_default()
            }
            _ => return,
        };
        for (row, m) in stored {
            if !self.publish(m, Some(row)) {
                return;
            }
            self.handed_through = row;
        }
    }

    /// Messages in flight that have a row on disk.
    fn flying_rows(&self) -> u64 {
        self.in_flight.iter().filter(|f| f.row.is_some()).count() as u64
    }

    /// Hands `m` to the client; false when its channel is full.
    fn publish(&mut self, m: Message, row: Option<i64>) -> bool {
        let handed = self
            .client
            .try_publish(m.topic.clone(), self.qos, m.retain, m.payload.clone())
            .is_ok();
        if handed {
            self.in_flight.push_back(Flying {
                message: m,
                pkid: None,
                row,
            });
        }
        handed
    }

    /// The client wrote a publish: the oldest message without a packet id is that one
    /// (the client sends in the order it was given them).
    fn sent(&mut self, pkid: u16) {
        if let Some(i) = self.in_flight.iter().position(|f| f.pkid.is_none()) {
            if self.qos == QoS::AtMostOnce {
                let f = self.in_flight.remove(i).expect("index from position");
                self.delivered(f);
            } else {
                self.in_flight[i].pkid = Some(pkid);
            }
        }
    }

    fn acknowledged(&mut self, pkid: u16) {
        if let Some(i) = self.in_flight.iter().position(|f| f.pkid == Some(pkid)) {
            let f = self.in_flight.remove(i).expect("index from position");
            self.delivered(f);
        }
    }

    /// The broker has `f`: count it, and forget its row on disk.
    fn delivered(&mut self, f: Flying) {
        if let (Some(d), Some(row)) = (self.durable.as_mut(), f.row) {
            if let Err(e) = d.acknowledged(row, f.message.payload.len()) {
                (self.notify)(Notice::DiskOutboxFailed(e));
            }
        }
        self.shared.state.lock().unwrap().stats.delivered += 1;
    }

    /// Availability, discovery and (after losses) status go first on every connection:
    /// a restarted broker without persistence has forgotten the retained ones.
    fn queue_control(&mut self) {
        let mut control =
            vec![self.control(format!("{}/availability", self.base), "online".into())];
        if let Some(prefix) = &self.discovery_prefix {
            for (topic, config) in discovery_messages(prefix, &self.base) {
                control.push(self.control(topic, config.to_string()));
            }
        }
        let mut st = self.shared.state.lock().unwrap();
        if st.outbox.dropped > 0 {
            let status = serde_json::json!({
                "dropped": st.outbox.dropped,
                "dropped_visits": st.outbox.dropped_events,
            });
            control.push(self.control(format!("{}/status", self.base), status.to_string()));
        }
        st.outbox.forget_control();
        st.outbox.requeue_front(control.into_iter());
    }

    fn control(&self, topic: String, payload: String) -> Message {
        Message {
            kind: Kind::Control,
            topic,
            payload: payload.into_bytes(),
            retain: true,
        }
    }

    /// Unacknowledged messages go back to the head of the outbox, to be resent; stored ones
    /// are read again from the disk.
    fn connection_lost(&mut self) {
        self.connected = false;
        let flying: Vec<Flying> = self.in_flight.drain(..).collect();
        if let Some(first_row) = flying.iter().filter_map(|f| f.row).min() {
            self.handed_through = first_row - 1;
        }
        let back: Vec<Message> = flying
            .into_iter()
            .filter(|f| f.row.is_none())
            .map(|f| f.message)
            .collect();
        let mut st = self.shared.state.lock().unwrap();
        st.outbox.requeue_front(back.into_iter());
        st.stats.dropped = st.outbox.dropped;
        st.stats.dropped_visits = st.outbox.dropped_events;
    }

    /// Waits before the next connection attempt, cut short by a close deadline.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            let now = Instant::now();
            if now >= until || st.closing.is_some_and(|c| now >= c) {
                return;
            }
            st = self.shared.changed.wait_timeout(st, until - now).unwrap().0;
        }
    }

    fn publish_stats(&self) {
        let flying_rows = self.flying_rows();
        let waiting_on_disk = self
            .durable
            .as_ref()
            .map_or(0, |d| d.rows().saturating_sub(flying_rows));
        let mut st = self.shared.state.lock().unwrap();
        st.stats.pending = st.outbox.len() + self.in_flight.len() + waiting_on_disk as usize;
        st.stats.connected = self.connected;
        drop(st);
        self.shared.changed.notify_all();
    }

    /// A clean goodbye: `offline` (the last will only fires on an unclean loss), then
    /// DISCONNECT, waiting briefly for both to go out.
    fn goodbye(mut self, connection: &mut Connection) {
        if self.connected {
            let _ = self.client.try_publish(
                format!("{}/availability", self.base),
                QoS::AtMostOnce,
                true,
                "offline",
            );
            let _ = self.client.try_disconnect();
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                match connection.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => break,
                    Err(RecvTimeoutError::Disconnected) => break,
                    _ => {}
                }
            }
        }
        self.connected = false;
        self.publish_stats();
    }
}
