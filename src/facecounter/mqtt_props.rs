//! `facecounter`'s MQTT properties and the publisher they configure (kept apart from the
//! counting glue in `imp.rs`).

use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;

use crate::publish::config::default_base_topic;
use crate::publish::durable::DEFAULT_QUOTA_BYTES;
use crate::publish::mqtt::{MqttPublisher, MqttSettings, Notice};

#[derive(Debug, Clone)]
pub struct MqttProps {
    url: Option<String>,
    topic: Option<String>,
    username: Option<String>,
    password: Option<String>,
    qos: u32,
    retain: bool,
    queue_size: u32,
    discovery_prefix: Option<String>,
    ca_file: Option<String>,
    store_quota_mib: u32,
}

impl Default for MqttProps {
    fn default() -> Self {
        MqttProps {
            url: None,
            topic: None,
            username: None,
            password: None,
            qos: 1,
            retain: true,
            queue_size: 1000,
            discovery_prefix: Some("homeassistant".into()),
            ca_file: None,
            store_quota_mib: (DEFAULT_QUOTA_BYTES >> 20) as u32,
        }
    }
}

pub fn specs() -> &'static [glib::ParamSpec] {
    static SPECS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
        let d = MqttProps::default();
        let string = |name: &str, nick: &str, blurb: &str| {
            glib::ParamSpecString::builder(name)
                .nick(nick)
                .blurb(blurb)
                .mutable_ready()
                .build()
        };
        vec![
            string("mqtt-url", "MQTT broker", "Publish counts and visit events to this broker: mqtt://[user[:password]@]host[:port] or mqtts://…; unset = no MQTT"),
            string("mqtt-topic", "MQTT topic", "Topic base; counts go to <base>/counts, visits to <base>/visit, today's counts to <base>/today (unset = footfall/<gallery>/<element name>)"),
            string("mqtt-username", "MQTT user name", "User name for the broker (overrides one in mqtt-url)"),
            glib::ParamSpecString::builder("mqtt-password")
                .nick("MQTT password")
                .blurb("Password for the broker (write-only)")
                .write_only()
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("mqtt-qos")
                .nick("MQTT QoS")
                .blurb("Quality of service of published messages (0, 1 or 2); 1 resends what the broker did not acknowledge")
                .maximum(2)
                .default_value(d.qos)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("mqtt-retain")
                .nick("MQTT retain counts")
                .blurb("Retain the latest counts on the broker so new subscribers get them at once")
                .default_value(d.retain)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("mqtt-queue-size")
                .nick("MQTT queue size")
                .blurb("Messages kept while the broker is unreachable; beyond it older counts, then older visits are dropped (counted, reported on <base>/status and as a warning)")
                .minimum(1)
                .default_value(d.queue_size)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("mqtt-discovery-prefix")
                .nick("Home Assistant discovery prefix")
                .blurb("Publish Home Assistant MQTT discovery for 'Unique visitors today', 'Visits today' and 'People in view' under this prefix; empty = none")
                .default_value(d.discovery_prefix.as_deref())
                .mutable_ready()
                .build(),
            string("mqtt-ca-file", "MQTT CA file", "PEM CA certificate for an mqtts:// broker with a private CA (unset = the system's roots)"),
            glib::ParamSpecUInt::builder("mqtt-store-quota")
                .nick("MQTT outbox quota on disk")
                .blurb("With a count store, counts and visits the broker has not acknowledged are kept in it (through outages and restarts) up to this many MiB; beyond it older counts, then older visits are dropped (counted)")
                .minimum(1)
                .default_value(d.store_quota_mib)
                .mutable_ready()
                .build(),
        ]
    });
    SPECS.as_ref()
}

/// Sets `name` if it is an MQTT property; false otherwise.
pub fn set(p: &mut MqttProps, name: &str, value: &glib::Value) -> bool {
    let text = || {
        value
            .get::<Option<String>>()
            .expect("type checked upstream")
    };
    match name {
        "mqtt-url" => p.url = text(),
        "mqtt-topic" => p.topic = text(),
        "mqtt-username" => p.username = text(),
        "mqtt-password" => p.password = text(),
        "mqtt-qos" => p.qos = value.get().expect("type checked upstream"),
        "mqtt-retain" => p.retain = value.get().expect("type checked upstream"),
        "mqtt-queue-size" => p.queue_size = value.get().expect("type checked upstream"),
        "mqtt-discovery-prefix" => p.discovery_prefix = text(),
        "mqtt-ca-file" => p.ca_file = text(),
        "mqtt-store-quota" => p.store_quota_mib = value.get().expect("type checked upstream"),
        _ => return false,
    }
    true
}

/// The value of MQTT property `name`, if it is one.
pub fn get(p: &MqttProps, name: &str) -> Option<glib::Value> {
    Some(match name {
        "mqtt-url" => p.url.to_value(),
        "mqtt-topic" => p.topic.to_value(),
        "mqtt-username" => p.username.to_value(),
        "mqtt-password" => None::<String>.to_value(),
        "mqtt-qos" => p.qos.to_value(),
        "mqtt-retain" => p.retain.to_value(),
        "mqtt-queue-size" => p.queue_size.to_value(),
        "mqtt-discovery-prefix" => p.discovery_prefix.to_value(),
        "mqtt-ca-file" => p.ca_file.to_value(),
        "mqtt-store-quota" => p.store_quota_mib.to_value(),
        _ => return None,
    })
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// Starts the publisher when `mqtt-url` is set; its notices become warnings from `element`.
/// `store`: the count store, where unacknowledged messages are kept.
pub fn publisher(
    p: &MqttProps,
    gallery: &str,
    element: &gst::Element,
    store: Option<&std::path::Path>,
) -> Result<Option<MqttPublisher>, String> {
    let Some(url) = non_empty(&p.url) else {
        return Ok(None);
    };
    let name = element.name();
    let base_topic = non_empty(&p.topic)
        .map(|t| t.trim_end_matches('/').to_string())
        .unwrap_or_else(|| default_base_topic(gallery, &name));
    let settings = MqttSettings {
        url,
        client_id: client_id(&name),
        base_topic,
        username: non_empty(&p.username),
        password: non_empty(&p.password),
        qos: p.qos as u8,
        retain: p.retain,
        queue_size: p.queue_size as usize,
        discovery_prefix: non_empty(&p.discovery_prefix),
        ca_file: non_empty(&p.ca_file),
        durable: store.map(|path| (path.to_path_buf(), p.store_quota_mib as u64 * (1 << 20))),
    };
    let weak = element.downgrade();
    let notify = Box::new(move |n: Notice| {
        let Some(e) = weak.upgrade() else { return };
        match n {
            Notice::Unreachable(why) => gst::element_warning!(
                e,
                gst::ResourceError::Write,
                ("MQTT broker unreachable ({}); queueing events and retrying", why)
            ),
            Notice::Reconnected { dropped: 0, .. } => gst::element_info!(
                e,
                gst::ResourceError::Write,
                ("MQTT broker reachable again; nothing lost")
            ),
            Notice::Reconnected {
                dropped,
                dropped_visits,
            } => gst::element_warning!(
                e,
                gst::ResourceError::Write,
                (
                    "MQTT broker reachable again; {} messages dropped in total because the queue was full ({} visit events)",
                    dropped,
                    dropped_visits
                )
            ),
            Notice::DiskOutboxFailed(why) => gst::element_warning!(
                e,
                gst::ResourceError::Write,
                ("MQTT outbox on disk failed ({}); keeping messages in memory", why)
            ),
        }
    });
    MqttPublisher::start(settings, notify).map(Some)
}

/// A client id of its own for each publisher: the broker disconnects a client when another
/// connects with its id, and several counters of one process (one per camera, each named
/// `counter` inside its footfallbin) publish side by side.
fn client_id(element_name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("footfall-{}-{n}-{element_name}", std::process::id())
}
