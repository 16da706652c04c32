//! How long inference takes, as a fixed-bucket histogram the streaming thread records into
//! without a lock or an allocation (atomics) and anyone may read at any time: the
//! detector's and embedder's `stats` property, which an application turns into metrics
//! (`footfall count --http` serves them as Prometheus histograms).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::glib::prelude::*;

/// Upper bounds of the buckets, seconds: from a fast GPU's 1 ms to a struggling CPU's
/// 2.5 s per frame.
pub const BOUNDS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations at or below each bound (not cumulative; the last slot: above them all).
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// A copy of the histogram at one moment, in the Prometheus form (cumulative buckets).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    pub count: u64,
    pub sum_s: f64,
    /// `(upper bound s, observations at or below it)`, cumulative, without `+Inf` (that is
    /// `count`).
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    pub fn record(&self, took: Duration) {
        let s = took.as_secs_f64();
        let slot = BOUNDS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BOUNDS_S.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            took.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let buckets = BOUNDS_S
            .iter()
            .zip(&self.buckets)
            .map(|(&b, n)| {
                running += n.load(Ordering::Relaxed);
                (b, running)
            })
            .collect();
        // Read after the buckets, so `count` is never below the last bucket.
        let count = self.count.load(Ordering::Relaxed).max(running);
        LatencySnapshot {
            count,
            sum_s: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
        }
    }

    /// The histogram as the fields of an element's `stats` structure: `<prefix>-count`
    /// (guint64), `<prefix>-seconds-sum` (gdouble), `<prefix>-bucket-bounds` (array of
    /// gdouble seconds) and `<prefix>-bucket-counts` (array of guint64, cumulative).
    pub fn write_into(&self, prefix: &str, s: &mut gst::StructureRef) {
        let snap = self.snapshot();
        s.set(format!("{prefix}-count").as_str(), snap.count);
        s.set(format!("{prefix}-seconds-sum").as_str(), snap.sum_s);
        let bounds = gst::Array::new(snap.buckets.iter().map(|b| b.0));
        let counts = gst::Array::new(snap.buckets.iter().map(|b| b.1));
        s.set(format!("{prefix}-bucket-bounds").as_str(), bounds);
        s.set(format!("{prefix}-bucket-counts").as_str(), counts);
    }
}

impl LatencySnapshot {
    /// Reads what [`LatencyHistogram::write_into`] wrote under `prefix`.
    pub fn read_from(prefix: &str, s: &gst::StructureRef) -> Option<LatencySnapshot> {
        let bounds = s
            .get::<gst::Array>(format!("{prefix}-bucket-bounds").as_str())
            .ok()?;
        let counts = s
            .get::<gst::Array>(format!("{prefix}-bucket-counts").as_str())
            .ok()?;
        let buckets = bounds
            .iter()
            .zip(counts.iter())
            .map(|(b, n)| Some((b.get::<f64>().ok()?, n.get::<u64>().ok()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(LatencySnapshot {
            count: s.get(format!("{prefix}-count").as_str()).ok()?,
            sum_s: s.get(format!("{prefix}-seconds-sum").as_str()).ok()?,
            buckets,
        })
    }
}

/// The read-only `stats` property of an element (a `GstStructure`); `holds` says what it
/// holds.
pub fn stats_spec(holds: &str) -> gst::glib::ParamSpec {
    gst::glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
        .nick("Statistics")
        .blurb(&format!("Read-only, since start: {holds}"))
        .read_only()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_and_round_trip_a_structure() {
        gst::init().unwrap();
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(800));
        h.record(Duration::from_millis(30));
        h.record(Duration::from_millis(30));
        h.record(Duration::from_secs(9));
        let snap = h.snapshot();
        assert_eq!(snap.count, 4);
        assert!((snap.sum_s - 9.0608).abs() < 1e-9);
        let at = |bound: f64| snap.buckets.iter().find(|b| b.0 == bound).unwrap().1;
        assert_eq!((at(0.001), at(0.025), at(0.05), at(5.0)), (1, 1, 3, 3));
        let mut s = gst::Structure::new_empty("stats");
        h.write_into("inference", &mut s);
        assert_eq!(LatencySnapshot::read_from("inference", &s), Some(snap));
        assert_eq!(LatencySnapshot::read_from("other", &s), None);
    }
}
