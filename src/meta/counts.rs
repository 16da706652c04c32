//! `FootfallCountsMeta`, written by `facecounter` on every buffer, and the structure of its
//! bus message: `footfall-counts` with `unique-visitors`, `visits`, `returning-visits`,
//! `staff-visits`, `unidentified-visits`, `in-view` (guint each) and `window-start`
//! (guint64, wall-clock ns since the Unix epoch when the site's counting window started).
//! The bus message also has `running-time`.

use std::ffi::CStr;

use super::custom::{add_custom_structure, custom_structure};

/// Name of the per-buffer custom meta and of the bus message structure carrying the counts.
pub const COUNTS_META: &str = "FootfallCountsMeta";
pub(super) const COUNTS_META_C: &CStr = c"FootfallCountsMeta";
/// Name of the structure inside [`COUNTS_META`] and of the bus message's structure.
pub const COUNTS_STRUCT: &str = "footfall-counts";

/// The counts one buffer (or bus message) carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub unique_visitors: u32,
    pub visits: u32,
    pub returning_visits: u32,
    pub staff_visits: u32,
    pub unidentified_visits: u32,
    /// Faces in view on this frame.
    pub in_view: u32,
    /// When the site's counting window started, wall-clock ns since the Unix epoch.
    pub window_start: u64,
}

impl Counts {
    /// Sets the fields of `s` in place (its name included). Field names are static strings:
    /// no allocation on the Rust side.
    pub fn write_into(&self, s: &mut gst::StructureRef) {
        s.set_name(COUNTS_STRUCT);
        s.set("unique-visitors", self.unique_visitors);
        s.set("visits", self.visits);
        s.set("returning-visits", self.returning_visits);
        s.set("staff-visits", self.staff_visits);
        s.set("unidentified-visits", self.unidentified_visits);
        s.set("in-view", self.in_view);
        s.set("window-start", self.window_start);
    }

    /// The counts in `s` (a counts meta's or bus message's structure), if it has them all.
    pub fn read_from(s: &gst::StructureRef) -> Option<Counts> {
        Some(Counts {
            unique_visitors: s.get("unique-visitors").ok()?,
            visits: s.get("visits").ok()?,
            returning_visits: s.get("returning-visits").ok()?,
            staff_visits: s.get("staff-visits").ok()?,
            unidentified_visits: s.get("unidentified-visits").ok()?,
            in_view: s.get("in-view").ok()?,
            window_start: s.get("window-start").ok()?,
        })
    }

    /// Attaches these counts to `buffer` as its counts meta.
    pub fn attach(&self, buffer: &mut gst::BufferRef) {
        if let Some(s) = add_custom_structure(buffer, COUNTS_META_C) {
            self.write_into(s);
        }
    }

    /// The counts a buffer carries after `facecounter`.
    pub fn read(buffer: &gst::BufferRef) -> Option<Counts> {
        Counts::read_from(custom_structure(buffer, COUNTS_META_C)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_back_as_written() {
        gst::init().unwrap();
        super::super::register();
        let c = Counts {
            unique_visitors: 9,
            visits: 17,
            returning_visits: 8,
            staff_visits: 2,
            unidentified_visits: 1,
            in_view: 3,
            window_start: 42,
        };
        let mut buffer = gst::Buffer::new();
        c.attach(buffer.get_mut().unwrap());
        assert_eq!(Counts::read(&buffer), Some(c));
        assert_eq!(Counts::read(&gst::Buffer::new()), None);
    }
}
