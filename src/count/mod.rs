//! Counting science, free of GStreamer: the de-duplicating gallery, visit decisions, shared
//! sites and the staff gallery file.

pub mod events;
pub mod gallery;
pub mod persist;
pub mod quantized;
pub mod site;
pub mod staff;
pub mod store;
pub mod track_visits;
pub mod visits;
pub mod writer;
