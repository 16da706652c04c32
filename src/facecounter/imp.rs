//! GStreamer glue of `facecounter`: reads tracks, embeddings and ended visits from each
//! buffer, removes the embeddings (they go no further downstream), drives
//! [`crate::count`], and reports the counts.

use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::count::events::{EventOutputs, EventWriter, Origin, VisitEvent};
use crate::count::gallery::Gallery;
use crate::count::site::{self, Site, Snapshot};
use crate::count::staff;
use crate::count::store::StoreReport;
use crate::count::track_visits::{TrackParams, TrackVisits};
use crate::count::visits::{CountParams, Counts, Outcome, TrackEnd, VisitBuilder};
use crate::count::writer::Report;
use crate::meta;
use crate::meta::embeddings::{EmbeddingMeta, FaceEmbedding};

use super::mqtt_props::{self, MqttProps};
use super::store_props::{self, StoreProps};
use super::CountMode;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "facecounter",
        gst::DebugColorFlags::empty(),
        Some("Footfall visitor counter"),
    )
});

const NS: u64 = 1_000_000_000;
/// How long end of stream waits for queued JSON lines to be written and queued MQTT
/// messages to reach the broker.
const EOS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Settings {
    gallery: String,
    params: CountParams,
    staff_gallery: Option<String>,
    report_interval_s: u32,
    location: Option<String>,
    mqtt: MqttProps,
    mode: CountMode,
    gallery_file: Option<String>,
    save_interval_s: u32,
    store: StoreProps,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gallery: "default".into(),
            params: CountParams::default(),
            staff_gallery: None,
            report_interval_s: 60,
            location: None,
            mqtt: MqttProps::default(),
            mode: CountMode::default(),
            gallery_file: None,
            save_interval_s: 60,
            store: StoreProps::default(),
        }
    }
}

/// What the counter reads off each buffer, into buffers it keeps (no allocation per frame).
#[derive(Default)]
struct PerFrame {
    faces: Vec<meta::faces::FaceRegion>,
    embeddings: Vec<FaceEmbedding>,
    ended: Vec<u64>,
    dropped: Vec<u64>,
}

struct Running {
    read: PerFrame,
    site: Arc<Mutex<Site>>,
    staff: Option<Gallery>,
    visits: VisitBuilder,
    mode: CountMode,
    /// Visits from tracks alone (`mode=tracks`).
    tracks: TrackVisits,
    warned_embeddings: bool,
    events: EventOutputs,
    last_counts: Option<(Counts, u32)>,
    last_report: Option<u64>,
    in_view: u32,
    last_pts_s: f64,
    /// Running time (ns) of the latest buffer.
    last_now: u64,
    /// When expired identities were last erased.
    last_expiry: Option<u64>,
    /// Site clock minus running time, fixed at the first timed buffer.
    offset: Option<i64>,
    /// Running time (ns) of the latest timed buffer, as reported on the bus.
    last_running: u64,
}

#[derive(Default)]
pub struct FaceCounter {
    settings: Mutex<Settings>,
    state: Mutex<Option<Running>>,
}

impl FaceCounter {
    /// Time of a buffer on the site clock (ns): its running time plus an offset fixed at the
    /// first timed buffer. Within a stream, time is stream time (files processed faster
    /// than real time still age identities by what the camera saw); across counters of one
    /// site started at different moments, the offset puts them on one clock. Without a
    /// timestamp, the last known time.
    fn now(&self, r: &mut Running, pts: Option<gst::ClockTime>) -> u64 {
        let running = pts.and_then(|p| {
            let seg = self.obj().segment();
            seg.downcast_ref::<gst::ClockTime>()
                .and_then(|s| s.to_running_time(p))
        });
        let Some(running) = running.map(|t| t.nseconds()) else {
            return r.last_now;
        };
        r.last_running = running;
        let offset = *r.offset.get_or_insert_with(|| {
            let site_now = r.site.lock().unwrap().clock_now();
            site_now as i64 - running as i64
        });
        (running as i64 + offset).max(0) as u64
    }

    /// Queues the counts as JSON and their bus message in `posts` (posted by the caller once
    /// its locks are released) when they changed or the report interval passed (or `force`).
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        r: &mut Running,
        counts: Counts,
        window_start: u64,
        now: u64,
        force: bool,
        interval: u64,
        posts: &mut Vec<gst::Message>,
    ) {
        let changed = r.last_counts != Some((counts, r.in_view));
        let due = r
            .last_report
            .is_none_or(|t| now.saturating_sub(t) >= interval);
        if !(changed || due || force) {
            return;
        }
        r.last_counts = Some((counts, r.in_view));
        r.last_report = Some(now);
        let mut s = gst::Structure::new_empty(meta::counts::COUNTS_STRUCT);
        counts_meta(&counts, r.in_view, window_start).write_into(&mut s);
        s.set("running-time", r.last_running);
        posts.push(gst::message::Element::builder(s).src(&*self.obj()).build());
        if r.events.counts(&counts, r.in_view, r.last_pts_s).is_err() {
            self.lines_dropped(r, posts);
        }
    }

    /// A warning from this element, to be posted once no lock is held.
    fn warning<E: gst::MessageErrorDomain>(&self, error: E, text: &str) -> gst::Message {
        gst::message::Warning::builder(error, text)
            .src(&*self.obj())
            .build()
    }

    /// Says that JSON lines were lost (the writer thread is behind: a slow or full disk), at
    /// the 1st, 10th, 100th… loss so a stuck disk does not flood the bus.
    fn lines_dropped(&self, r: &Running, posts: &mut Vec<gst::Message>) {
        let n = r.events.dropped_lines;
        if n > 0 && 10u64.pow(n.ilog10()) == n {
            let text =
                format!("{n} JSON lines dropped: the file writer is behind (slow or full disk)");
            posts.push(self.warning(gst::ResourceError::Write, &text));
        }
    }

    /// Says that visits did not reach the count store (its thread is behind, or a commit
    /// failed: a full disk), at the 1st, 10th, 100th… loss.
    fn visits_not_stored(&self, r: &Running, posts: &mut Vec<gst::Message>) {
        let Some(store) = r.events.store.as_ref() else {
            return;
        };
        let n = store.lost;
        if n > 0 && 10u64.pow(n.ilog10()) == n {
            let text = format!(
                "{n} visits not stored in the count store '{}' (slow or full disk)",
                store.store.path().display()
            );
            posts.push(self.warning(gst::ResourceError::Write, &text));
        }
    }

    /// What the writer thread reported since the last look: failures become warnings.
    fn writer_reports(&self, r: &mut Running, posts: &mut Vec<gst::Message>) {
        while let Some(report) = r.events.writer.next_report() {
            self.writer_report(report, posts);
        }
        let Some(store) = r.events.store.as_mut() else {
            return;
        };
        while let Some(StoreReport::Failed { error, lost }) = store.store.next_report() {
            let before = store.lost;
            store.lost += lost;
            // Said at the 1st, 10th, 100th… lost visit, with the reason.
            if (before + 1..=store.lost).any(|n| 10u64.pow(n.ilog10()) == n) {
                let text = format!("{error}: {} visits not stored so far", store.lost);
                posts.push(self.warning(gst::ResourceError::Write, &text));
            }
        }
    }

    fn writer_report(&self, report: Report, posts: &mut Vec<gst::Message>) {
        match report {
            Report::GallerySaved { path, identities } => gst::debug!(
                CAT,
                imp = self,
                "{} identities written to {}",
                identities,
                path.display()
            ),
            Report::Failed(e) => posts.push(self.warning(gst::ResourceError::Write, &e)),
        }
    }

    /// The `stats` property: what the element reported last and what its outputs lost.
    fn stats(&self) -> gst::Structure {
        let mut st = gst::Structure::new_empty("footfall-counter-stats");
        let state = self.state.lock().unwrap();
        let Some(r) = state.as_ref() else {
            return st;
        };
        if let Some((counts, in_view)) = r.last_counts {
            counts_meta(&counts, in_view, 0).write_into(&mut st);
            st.set_name("footfall-counter-stats");
            st.remove_field("window-start");
        }
        st.set("lines-dropped", r.events.dropped_lines);
        st.set("store-lost", r.events.store.as_ref().map_or(0, |s| s.lost));
        if let Some(m) = r.events.mqtt.as_ref() {
            let m = m.stats();
            st.set("mqtt-connected", m.connected);
            st.set("mqtt-pending", m.pending as u64);
            st.set("mqtt-delivered", m.delivered);
            st.set("mqtt-dropped", m.dropped);
            st.set("mqtt-dropped-visits", m.dropped_visits);
        }
        st
    }

    fn post_all(&self, posts: Vec<gst::Message>) {
        for m in posts {
            let _ = self.obj().post_message(m);
        }
    }

    /// Hands a gallery snapshot (a flat copy taken under the site lock) to the writer thread.
    fn save_gallery(&self, r: &Running, snapshot: Option<Snapshot>, posts: &mut Vec<gst::Message>) {
        let Some(snapshot) = snapshot else {
            return;
        };
        let shown = snapshot.path.display().to_string();
        if r.events
            .writer
            .save_gallery(snapshot, site::wall_now())
            .is_err()
        {
            let text =
                format!("gallery file {shown} not written this time: the file writer is behind");
            posts.push(self.warning(gst::ResourceError::Write, &text));
        }
    }

    /// Ends every live track (end of stream) and reports the final counts.
    fn finish(&self) {
        let mut posts = Vec::new();
        self.finish_counting(&mut posts);
        self.post_all(posts);
    }

    fn finish_counting(&self, posts: &mut Vec<gst::Message>) {
        let params = self.settings.lock().unwrap().params;
        let mut guard = self.state.lock().unwrap();
        let Some(r) = guard.as_mut() else { return };
        let now = r.last_now;
        let live = match r.mode {
            CountMode::Biometric => r.visits.live(),
            CountMode::Tracks => r.tracks.live(),
        };
        for track in live {
            self.decide(r, &params, track, now, posts);
        }
        r.in_view = 0;
        let (counts, start) = {
            let s = r.site.lock().unwrap();
            (s.counts, s.window_start)
        };
        self.report(r, counts, start, now, true, 0, posts);
        // The last JSON line is in the file before EOS goes on (readers open it then).
        if !r.events.writer.flush(EOS_WAIT) {
            let text = "JSON lines: not all written at end of stream (slow disk)";
            posts.push(self.warning(gst::ResourceError::Write, text));
        }
        if let Some(store) = r.events.store.as_ref() {
            if !store.store.flush(EOS_WAIT) {
                let text = "count store: not all visits committed at end of stream (slow disk)";
                posts.push(self.warning(gst::ResourceError::Write, text));
            }
        }
        self.writer_reports(r, posts);
        // The final counts reach the broker before EOS goes on (the application usually
        // stops the pipeline on the EOS message), unless the broker stays away.
        if let Some(m) = r.events.mqtt.as_ref() {
            if !m.flush(EOS_WAIT) {
                let text = format!(
                    "MQTT: {} messages not delivered at end of stream",
                    m.stats().pending
                );
                posts.push(self.warning(gst::ResourceError::Write, &text));
            }
        }
    }

    /// This frame's embeddings: views of their track's visit, or, counting by tracks
    /// alone, discarded with a warning (once) that the embedder is of no use.
    fn take_embeddings(&self, r: &mut Running, now: u64, posts: &mut Vec<gst::Message>) {
        if r.mode == CountMode::Tracks {
            if !r.read.embeddings.is_empty() && !r.warned_embeddings {
                r.warned_embeddings = true;
                let text = "mode=tracks uses no embeddings: remove faceembedder (its embeddings are discarded here)";
                posts.push(self.warning(gst::StreamError::Format, text));
            }
            return;
        }
        for e in &r.read.embeddings {
            r.visits.add_view(e.track_id, e.embedding, e.quality, now);
        }
    }

    fn decide(
        &self,
        r: &mut Running,
        params: &CountParams,
        track: u64,
        now: u64,
        posts: &mut Vec<gst::Message>,
    ) {
        let dwell_ns = r.tracks.dwell(track);
        let ended = end_track(r, params, track, now);
        gst::debug!(
            CAT,
            imp = self,
            "track {} ended: {:?}",
            track,
            ended.outcome
        );
        let kind = match ended.outcome {
            Outcome::New { .. } => Some((false, false)),
            Outcome::Returning { .. } => Some((true, false)),
            Outcome::Staff { .. } => Some((false, true)),
            Outcome::Unidentified => Some((false, false)),
            Outcome::Continued { .. } | Outcome::Ignored => None,
        };
        if let Some((returning, staff)) = kind {
            let event = VisitEvent {
                returning,
                staff,
                pts_s: r.last_pts_s,
                distance: ended.outcome.distance(),
                threshold: params.match_threshold,
                identified: ended.outcome != Outcome::Unidentified,
                dwell_ns,
                at_ms: ended.at_ms,
                added: ended.added,
            };
            let lost_before = r.events.store.as_ref().map_or(0, |s| s.lost);
            if r.events.visit(&event).is_err() {
                self.lines_dropped(r, posts);
            }
            if r.events
                .store
                .as_ref()
                .is_some_and(|s| s.lost > lost_before)
            {
                self.visits_not_stored(r, posts);
            }
        }
    }
}

/// A finished track decided: what it was, what it added to the site's counts, and when
/// (wall clock, Unix ms, from the site clock, at the latest now).
struct Ended {
    outcome: Outcome,
    added: Counts,
    at_ms: i64,
}

fn end_track(r: &mut Running, params: &CountParams, track: u64, now: u64) -> Ended {
    let mut site = r.site.lock().unwrap();
    let site = &mut *site;
    let before = site.counts;
    let tp = TrackParams::default();
    let outcome = match r.mode {
        CountMode::Biometric => {
            let others = r.tracks.others_than(track);
            let ended = TrackEnd {
                track,
                now,
                evidence: r.tracks.judge(track, now, &tp),
                others,
            };
            r.visits.end(
                ended,
                params,
                &mut site.gallery,
                r.staff.as_ref(),
                &mut site.counts,
            )
        }
        CountMode::Tracks => r.tracks.end(track, now, &tp, &mut site.counts),
    };
    Ended {
        outcome,
        added: site.counts.since(&before),
        // A file counted faster than real time would date its visits in the future: a visit
        // is never later than when it was decided.
        at_ms: (site.wall_of(now).min(site::wall_now()) / 1_000_000) as i64,
    }
}

/// Records this frame's confirmed faces as track evidence (and, counting biometrically,
/// as views of their visit), forgets the tracks dropped unconfirmed, and returns how many
/// confirmed faces are in view.
fn observe_faces(r: &mut Running, now: u64) -> u32 {
    let mut in_view = 0;
    for f in &r.read.faces {
        let confirmed = f.state.is_some_and(|s| s.is_confirmed());
        if let (Some(track), true) = (f.track_id, confirmed) {
            in_view += 1;
            // The track evidence (was a person seen?) in both modes; who, only here.
            r.tracks.observe(track, now, f.rect, f.score);
            if r.mode == CountMode::Biometric {
                r.visits.observe(track, now);
                // Who was seen beside whom only matters to identification.
                if !f.predicted {
                    r.tracks.detected(track, f.rect);
                }
            }
        }
    }
    r.tracks.frame_done();
    // Tentative tracks that died unconfirmed: their views were of no visit.
    for &track in &r.read.dropped {
        r.visits.forget(track);
        r.tracks.forget(track);
    }
    r.in_view = in_view;
    in_view
}

/// The site's upkeep for this frame, under its lock: expiry (once a second), capacity, and
/// a snapshot of the gallery when a save is due. Returns the counts, the window start,
/// how many identities capacity erased, and the snapshot for the writer thread.
fn site_housekeeping(
    r: &mut Running,
    params: &CountParams,
    now: u64,
    save_every: std::time::Duration,
) -> (Counts, u64, usize, Option<Snapshot>) {
    let mut site = r.site.lock().unwrap();
    // Once a second is precise enough for hours of retention and keeps a pass over a large
    // gallery off most frames.
    if r.last_expiry.is_none_or(|t| now.saturating_sub(t) >= NS) {
        r.last_expiry = Some(now);
        site.gallery.expire(now, params.retention);
    }
    let evicted = site.gallery.enforce_capacity(params.capacity);
    let due = site.file.is_some() && site.saved.is_none_or(|t| t.elapsed() >= save_every);
    let snapshot = if due {
        site.snapshot(params.retention)
    } else {
        None
    };
    (site.counts, site.window_start, evicted, snapshot)
}

/// The counts as the meta and the bus message carry them.
fn counts_meta(c: &Counts, in_view: u32, window_start: u64) -> meta::counts::Counts {
    meta::counts::Counts {
        unique_visitors: c.unique_visitors as u32,
        visits: c.visits as u32,
        returning_visits: c.returning_visits as u32,
        staff_visits: c.staff_visits as u32,
        unidentified_visits: c.unidentified_visits as u32,
        in_view,
        window_start,
    }
}

/// The properties of what is counted and how: gallery, matching, retention, staff, mode.
fn counting_specs(p: &CountParams) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("gallery")
            .nick("Gallery")
            .blurb("Name of the identity gallery; counters in one process naming the same gallery share identities and totals")
            .default_value(Some("default"))
            .mutable_ready()
            .build(),
        glib::ParamSpecFloat::builder("match-threshold")
            .nick("Match threshold")
            .blurb("Visit distance (mean of the closest pair and of each view's nearest, Euclidean on the embeddings) under which a visit is someone already seen")
            .minimum(0.0)
            .maximum(2.0)
            .default_value(p.match_threshold)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("retention")
            .nick("Retention")
            .blurb("Seconds after which an identity not seen again is erased; a person seen after that counts again")
            .minimum(1)
            .default_value((p.retention / NS) as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("capacity")
            .nick("Capacity")
            .blurb("Most identities kept; the least recently seen are erased first (with a warning)")
            .minimum(1)
            .default_value(p.capacity as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("count-unidentified")
            .nick("Count unidentified")
            .blurb("Count a person seen (a confident face track) whose face never gave a usable view (mask, blur, pitch, small) as an unidentified visitor, not de-duplicated; false leaves such visits out")
            .default_value(p.count_unidentified)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("staff-gallery")
            .nick("Staff gallery")
            .blurb("Staff gallery file made by `footfall enroll` (consenting staff only); matches are excluded from visitor counts")
            .mutable_ready()
            .build(),
    ]
}

/// The properties of where counts and the gallery go, and the read-only `open-tracks`.
fn output_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("report-interval")
            .nick("Report interval")
            .blurb("Seconds between periodic count reports (bus and JSON), besides every change")
            .minimum(1)
            .default_value(60)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("location")
            .nick("Location")
            .blurb("Write visit and count events as JSON lines to this file ('-' = stdout); unset = none")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("gallery-file")
            .nick("Gallery file")
            .blurb("Persist the gallery's embeddings (with their expiry only; file mode 0600, replaced atomically, expired entries purged on load and write) so a restart within the retention does not count everyone again; unset = memory only (the default)")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("gallery-save-interval")
            .nick("Gallery save interval")
            .blurb("Seconds between writes of gallery-file (it is also written when the element stops)")
            .minimum(1)
            .default_value(60)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("open-tracks")
            .nick("Open tracks")
            .blurb("Tracks whose visit is not decided yet (read-only): in view, or tentative ones the tracker has not dropped yet")
            .read_only()
            .build(),
        glib::ParamSpecEnum::builder_with_default("mode", CountMode::default())
            .nick("Mode")
            .blurb("biometric: de-duplicate visits by face embeddings; tracks: count visits from face tracks alone (no embeddings, for sites without consent; a returning visitor counts again)")
            .mutable_ready()
            .build(),
    ]
}

#[glib::object_subclass]
impl ObjectSubclass for FaceCounter {
    const NAME: &'static str = "GstFootfallFaceCounter";
    type Type = super::FaceCounter;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceCounter {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = counting_specs(&CountParams::default());
            props.extend(output_specs());
            props.extend_from_slice(store_props::specs());
            props.extend_from_slice(mqtt_props::specs());
            props.push(crate::latency::stats_spec(
                "the counts as on the bus (unique-visitors, visits, returning-visits, \
                 staff-visits, unidentified-visits, in-view), lines-dropped, store-lost, \
                 mqtt-connected, mqtt-pending, mqtt-delivered, mqtt-dropped, \
                 mqtt-dropped-visits",
            ));
            props
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "gallery" => {
                s.gallery = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| "default".into())
            }
            "match-threshold" => {
                s.params.match_threshold = value.get().expect("type checked upstream")
            }
            "retention" => {
                s.params.retention = value.get::<u32>().expect("type checked upstream") as u64 * NS
            }
            "capacity" => {
                s.params.capacity = value.get::<u32>().expect("type checked upstream") as usize
            }
            "count-unidentified" => {
                s.params.count_unidentified = value.get().expect("type checked upstream")
            }
            "staff-gallery" => s.staff_gallery = value.get().expect("type checked upstream"),
            "report-interval" => s.report_interval_s = value.get().expect("type checked upstream"),
            "location" => s.location = value.get().expect("type checked upstream"),
            "mode" => s.mode = value.get().expect("type checked upstream"),
            "gallery-file" => s.gallery_file = value.get().expect("type checked upstream"),
            "gallery-save-interval" => {
                s.save_interval_s = value.get().expect("type checked upstream")
            }
            other => {
                let known = store_props::set(&mut s.store, other, value)
                    || mqtt_props::set(&mut s.mqtt, other, value);
                assert!(known, "unknown property {other}");
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "gallery" => s.gallery.to_value(),
            "match-threshold" => s.params.match_threshold.to_value(),
            "retention" => ((s.params.retention / NS) as u32).to_value(),
            "capacity" => (s.params.capacity as u32).to_value(),
            "count-unidentified" => s.params.count_unidentified.to_value(),
            "staff-gallery" => s.staff_gallery.to_value(),
            "report-interval" => s.report_interval_s.to_value(),
            "location" => s.location.to_value(),
            "mode" => s.mode.to_value(),
            "gallery-file" => s.gallery_file.to_value(),
            "gallery-save-interval" => s.save_interval_s.to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            "open-tracks" => {
                drop(s);
                let state = self.state.lock().unwrap();
                let open = state.as_ref().map_or(0, |r| match r.mode {
                    CountMode::Biometric => r.visits.len(),
                    CountMode::Tracks => r.tracks.len(),
                });
                (open as u32).to_value()
            }
            other => store_props::get(&s.store, other)
                .or_else(|| mqtt_props::get(&s.mqtt, other))
                .unwrap_or_else(|| unreachable!("unknown property {other}")),
        }
    }
}

impl GstObjectImpl for FaceCounter {}

impl ElementImpl for FaceCounter {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face counter",
                "Filter/Analyzer/Video",
                "Counts unique visitors by de-duplicating face embeddings over a retention window; \
                 emits counts as buffer meta, 'footfall-counts' bus messages and JSON lines",
                "Footfall developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = crate::video_frame::any_video_caps();
            crate::video_frame::filter_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceCounter {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        if s.mode == CountMode::Tracks && s.staff_gallery.as_deref().is_some_and(|p| !p.is_empty())
        {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("staff-gallery needs mode=biometric: without embeddings staff cannot be recognised")
            ));
        }
        let staff = match s.staff_gallery.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(
                staff::load(std::path::Path::new(p))
                    .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)))?,
            ),
            None => None,
        };
        let file = match s.location.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(
                EventWriter::open(p)
                    .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ("{}", e)))?,
            ),
            None => None,
        };
        let site = site::site(&s.gallery);
        let window_start = site.lock().unwrap().window_start;
        let camera = store_props::camera_name(&s.store, self.obj().upcast_ref());
        let store = store_props::open(&s.store, &s.gallery, &camera, window_start);
        for text in &store.warnings {
            gst::element_imp_warning!(self, gst::ResourceError::OpenWrite, ("{}", text));
        }
        let store_path = store.output.as_ref().map(|o| o.store.path().to_path_buf());
        let mut mqtt = mqtt_props::publisher(
            &s.mqtt,
            &s.gallery,
            self.obj().upcast_ref(),
            store_path.as_deref(),
        )
        .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        if let (Some(m), Some(day)) = (mqtt.as_mut(), store.day.as_deref()) {
            m.resume_today(day, store.resume.today);
        }
        let origin = Origin {
            site: s.gallery.clone(),
            camera,
            counter_start_ms: (glib::real_time() / 1000),
            utc_offset: store_props::utc_offset_at,
        };
        let events = EventOutputs::new(file, mqtt, store.output, (store.resume.next_visit, origin))
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ("{}", e)))?;
        if let Some(path) = s.gallery_file.as_deref().filter(|p| !p.is_empty()) {
            if s.mode == CountMode::Tracks {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("gallery-file needs mode=biometric (mode=tracks keeps no embeddings)")
                ));
            }
            let loaded = site
                .lock()
                .unwrap()
                .attach_file(std::path::Path::new(path), s.params.retention)
                .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)))?;
            gst::info!(
                CAT,
                imp = self,
                "{} identities loaded from {}",
                loaded,
                path
            );
        }
        *self.state.lock().unwrap() = Some(Running {
            read: PerFrame::default(),
            site,
            staff,
            visits: VisitBuilder::default(),
            mode: s.mode,
            tracks: TrackVisits::default(),
            warned_embeddings: false,
            events,
            last_counts: None,
            last_report: None,
            in_view: 0,
            last_pts_s: 0.0,
            last_now: 0,
            last_expiry: None,
            offset: None,
            last_running: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let retention = self.settings.lock().unwrap().params.retention;
        let running = self.state.lock().unwrap().take();
        if let Some(r) = running {
            let last = r
                .site
                .lock()
                .unwrap()
                .snapshot(retention)
                .map(|snapshot| (snapshot, site::wall_now()));
            let mut posts = Vec::new();
            for report in r.events.writer.finish(last) {
                self.writer_report(report, &mut posts);
            }
            if let Some(store) = r.events.store {
                for StoreReport::Failed { error, lost } in store.store.finish() {
                    let text = format!("{error}: {lost} visits not stored");
                    posts.push(self.warning(gst::ResourceError::Write, &text));
                }
            }
            self.post_all(posts);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            self.finish();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (params, report_interval_s, save_interval_s) = {
            let s = self.settings.lock().unwrap();
            (s.params, s.report_interval_s, s.save_interval_s)
        };
        let mut guard = self.state.lock().unwrap();
        let Some(r) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("counter not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let read = &mut r.read;
        meta::faces::read_faces_into(buf, &mut read.faces);
        EmbeddingMeta::read_into(buf, &mut read.embeddings);
        // Embeddings stop here: nothing downstream (encoders, NVR) ever sees them.
        EmbeddingMeta::strip(buf);
        meta::tracks::ended_tracks_into(buf, &mut read.ended);
        meta::tracks::dropped_tracks_into(buf, &mut read.dropped);
        let now = self.now(r, buf.pts());
        r.last_now = now;
        r.last_pts_s = buf
            .pts()
            .map(|p| p.nseconds() as f64 / 1e9)
            .unwrap_or(r.last_pts_s);
        // Messages to post once the locks are released (none on most frames: no allocation).
        let mut posts = Vec::new();
        let in_view = observe_faces(r, now);
        self.take_embeddings(r, now, &mut posts);
        for i in 0..r.read.ended.len() {
            let track = r.read.ended[i];
            self.decide(r, &params, track, now, &mut posts);
        }
        let save_every = std::time::Duration::from_secs(save_interval_s as u64);
        let (counts, window_start, evicted, snapshot) =
            site_housekeeping(r, &params, now, save_every);
        self.save_gallery(r, snapshot, &mut posts);
        self.writer_reports(r, &mut posts);
        if evicted > 0 {
            let text = format!(
                "gallery full: erased the {} least recently seen identities (capacity {})",
                evicted, params.capacity
            );
            posts.push(self.warning(gst::ResourceError::NoSpaceLeft, &text));
        }
        self.report(
            r,
            counts,
            window_start,
            now,
            false,
            report_interval_s as u64 * NS,
            &mut posts,
        );
        drop(guard);
        self.post_all(posts);
        counts_meta(&counts, in_view, window_start).attach(buf);
        Ok(gst::FlowSuccess::Ok)
    }
}
