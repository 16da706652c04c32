//! `FootfallTrackMeta`, written by `facetracker` on every buffer: structure
//! `footfall-tracks` with `ended` (GstValueArray of guint64: confirmed tracks whose visit
//! ended on this frame), `dropped` (GstValueArray of guint64: tentative tracks that died
//! unconfirmed on this frame; whatever was kept for them can go) and `active` (guint, live
//! tracks).

use std::ffi::CStr;

use super::custom::{add_custom_structure, custom_structure};

/// Name of the per-buffer custom meta written by `facetracker`.
pub const TRACK_META: &str = "FootfallTrackMeta";
pub(super) const TRACK_META_C: &CStr = c"FootfallTrackMeta";
/// Name of the structure inside [`TRACK_META`].
pub const TRACK_STRUCT: &str = "footfall-tracks";

/// Records the confirmed tracks that ended on this buffer, the tentative ones dropped on
/// it, and the number of live tracks.
pub fn mark_tracks(buffer: &mut gst::BufferRef, ended: &[u64], dropped: &[u64], active: u32) {
    if let Some(s) = add_custom_structure(buffer, TRACK_META_C) {
        s.set_name(TRACK_STRUCT);
        s.set("ended", gst::Array::new(ended.iter().copied()));
        s.set("dropped", gst::Array::new(dropped.iter().copied()));
        s.set("active", active);
    }
}

fn track_ids_into(buffer: &gst::BufferRef, field: &str, out: &mut Vec<u64>) {
    out.clear();
    let Some(s) = custom_structure(buffer, TRACK_META_C) else {
        return;
    };
    if let Ok(ids) = s.get::<gst::ArrayRef>(field) {
        out.extend(ids.iter().filter_map(|v| v.get::<u64>().ok()));
    }
}

/// Fills `out` with the track ids whose visit ended on this buffer (empty without
/// `facetracker`).
pub fn ended_tracks_into(buffer: &gst::BufferRef, out: &mut Vec<u64>) {
    track_ids_into(buffer, "ended", out)
}

/// Fills `out` with the tentative track ids dropped unconfirmed on this buffer.
pub fn dropped_tracks_into(buffer: &gst::BufferRef, out: &mut Vec<u64>) {
    track_ids_into(buffer, "dropped", out)
}

/// Track ids whose visit ended on this buffer (empty without `facetracker`).
pub fn ended_tracks(buffer: &gst::BufferRef) -> Vec<u64> {
    let mut v = Vec::new();
    ended_tracks_into(buffer, &mut v);
    v
}

/// Tentative track ids dropped unconfirmed on this buffer (empty without `facetracker`).
pub fn dropped_tracks(buffer: &gst::BufferRef) -> Vec<u64> {
    let mut v = Vec::new();
    dropped_tracks_into(buffer, &mut v);
    v
}
