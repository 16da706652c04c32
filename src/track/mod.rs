//! Face tracking science, free of GStreamer: a constant-velocity motion model and the
//! two-stage IoU tracker.

pub mod tracker;
pub mod velocity;
