//! `GET /metrics`: the site's numbers in the Prometheus (OpenMetrics) text format, written by
//! `prometheus-client`. Every series has the labels `site` and `camera`. A scrape reads the
//! count store once (today's totals) and each camera's element `stats`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use gstfootfall::count::store::query::{self, Resolution};
use gstfootfall::latency::LatencySnapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::Served;
use crate::telemetry::{Camera, Health};

type Labels = [(&'static str, String); 2];

/// One camera's numbers at the scrape.
#[derive(Debug, Default)]
struct CameraScrape {
    labels: Labels,
    /// Today's totals from the store: unique visitors, visits, returning, staff, unidentified.
    today: [u64; 5],
    in_view: u64,
    up: bool,
    frames: u64,
    dropped: u64,
    reconnects: u64,
    /// From the counter's `stats`: connected, queue depth, delivered, dropped, dropped visits.
    mqtt: Option<(bool, u64, u64, u64, u64)>,
    store_lost: u64,
    lines_dropped: u64,
    detector: Option<LatencySnapshot>,
    embedder: Option<LatencySnapshot>,
}

#[derive(Debug)]
struct Scrape(Vec<CameraScrape>);

const TODAY: [(&str, &str); 5] = [
    (
        "footfall_unique_visitors_today",
        "Unique visitors first seen today (local day)",
    ),
    (
        "footfall_visits_today",
        "Visits today (local day), staff excluded",
    ),
    (
        "footfall_returning_visits_today",
        "Visits today by someone seen before in the retention window",
    ),
    (
        "footfall_staff_visits_today",
        "Visits by enrolled staff today (not in visits)",
    ),
    (
        "footfall_unidentified_visits_today",
        "Visits today with no usable face embedding",
    ),
];

fn scrape_camera(s: &Served, cam: &Camera, today: &[query::Period]) -> CameraScrape {
    let mut c = CameraScrape {
        labels: [("site", s.site.name.clone()), ("camera", cam.name.clone())],
        up: s.site.health(cam, s.options.stall) == Health::Delivering,
        frames: cam.frames(),
        dropped: cam.dropped(),
        reconnects: cam.reconnects(),
        detector: cam.latency("detector"),
        embedder: cam.latency("embedder"),
        ..Default::default()
    };
    for p in today.iter().filter(|p| p.camera == cam.name) {
        let n = &p.counts;
        let add = [
            n.unique_visitors,
            n.visits,
            n.returning_visits,
            n.staff_visits,
            n.unidentified_visits,
        ];
        c.today.iter_mut().zip(add).for_each(|(t, a)| *t += a);
    }
    if let Some(st) = cam.stats("counter") {
        let n = |f: &str| st.get::<u64>(f).unwrap_or(0);
        c.in_view = st.get::<u32>("in-view").unwrap_or(0) as u64;
        c.store_lost = n("store-lost");
        c.lines_dropped = n("lines-dropped");
        c.mqtt = st.get::<bool>("mqtt-connected").ok().map(|connected| {
            (
                connected,
                n("mqtt-pending"),
                n("mqtt-delivered"),
                n("mqtt-dropped"),
                n("mqtt-dropped-visits"),
            )
        });
    }
    c
}

fn scrape(s: &Served) -> Result<Scrape, String> {
    let today = match s.site.store.as_deref().filter(|p| p.is_file()) {
        Some(store) => {
            let (q, _) = super::api::today_query(&s.site.name)?;
            query::periods(store, &q, Resolution::Day)?
        }
        None => Vec::new(),
    };
    Ok(Scrape(
        s.site
            .cameras
            .iter()
            .map(|c| scrape_camera(s, c, &today))
            .collect(),
    ))
}

pub(super) async fn metrics(State(s): State<Arc<Served>>) -> Response {
    let scraped = tokio::task::spawn_blocking(move || scrape(&s)).await;
    let scrape = match scraped {
        Ok(Ok(scrape)) => scrape,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// One family: a value per camera (skipped where `value` gives none).
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    cams: &[CameraScrape],
    (name, help): (&str, &str),
    kind: MetricType,
    value: impl Fn(&CameraScrape) -> Option<M>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for c in cams {
        if let Some(v) = value(c) {
            v.encode(m.encode_family(&c.labels)?)?;
        }
    }
    Ok(())
}

fn histogram(
    enc: &mut DescriptorEncoder,
    cams: &[CameraScrape],
    (name, help): (&str, &str),
    value: impl Fn(&CameraScrape) -> Option<&LatencySnapshot>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for c in cams {
        if let Some(h) = value(c) {
            // The encoder takes each bucket's own count (it sums them) and writes the f64::MAX
            // bucket as +Inf.
            let mut below = 0;
            let mut own: Vec<(f64, u64)> = h
                .buckets
                .iter()
                .map(|&(bound, n)| (bound, n - std::mem::replace(&mut below, n)))
                .collect();
            own.push((f64::MAX, h.count.saturating_sub(below)));
            m.encode_family(&c.labels)?
                .encode_histogram::<NoLabelSet>(h.sum_s, h.count, &own, None)?;
        }
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let cams = &self.0;
        let gauge = |v: u64| Some(ConstGauge::new(v as i64));
        let counter = |v: u64| Some(ConstCounter::new(v));
        for (i, desc) in TODAY.iter().enumerate() {
            family(&mut enc, cams, *desc, MetricType::Gauge, |c| {
                gauge(c.today[i])
            })?;
        }
        let g = MetricType::Gauge;
        let k = MetricType::Counter;
        family(
            &mut enc,
            cams,
            ("footfall_in_view", "Faces in view now"),
            g,
            |c| gauge(c.in_view),
        )?;
        family(
            &mut enc,
            cams,
            ("footfall_camera_up", "1 while the camera delivers frames"),
            g,
            |c| gauge(c.up as u64),
        )?;
        family(
            &mut enc,
            cams,
            ("footfall_frames_processed", "Frames through the counter"),
            k,
            |c| counter(c.frames),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_frames_dropped",
                "Camera frames dropped because counting lagged behind",
            ),
            k,
            |c| counter(c.dropped),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_camera_reconnects",
                "Times the camera dropped and was reconnected",
            ),
            k,
            |c| counter(c.reconnects),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_store_lost_visits",
                "Visits that did not reach the count store",
            ),
            k,
            |c| counter(c.store_lost),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_json_lines_dropped",
                "JSON lines lost (writer behind)",
            ),
            k,
            |c| counter(c.lines_dropped),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_mqtt_connected",
                "1 while the MQTT broker is connected",
            ),
            g,
            |c| c.mqtt.and_then(|m| gauge(m.0 as u64)),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_mqtt_queue_depth",
                "MQTT messages queued or in flight",
            ),
            g,
            |c| c.mqtt.and_then(|m| gauge(m.1)),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_mqtt_delivered",
                "MQTT messages the broker acknowledged",
            ),
            k,
            |c| c.mqtt.and_then(|m| counter(m.2)),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_mqtt_dropped",
                "MQTT messages dropped (queue or disk quota full)",
            ),
            k,
            |c| c.mqtt.and_then(|m| counter(m.3)),
        )?;
        family(
            &mut enc,
            cams,
            (
                "footfall_mqtt_dropped_visits",
                "Visit events among the dropped MQTT messages",
            ),
            k,
            |c| c.mqtt.and_then(|m| counter(m.4)),
        )?;
        histogram(
            &mut enc,
            cams,
            (
                "footfall_detector_inference_seconds",
                "Time per face detector run",
            ),
            |c| c.detector.as_ref(),
        )?;
        histogram(
            &mut enc,
            cams,
            (
                "footfall_embedder_inference_seconds",
                "Time per face embedder call (a batch of faces)",
            ),
            |c| c.embedder.as_ref(),
        )?;
        Ok(())
    }
}
