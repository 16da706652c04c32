//! Counting science, free of GStreamer: the de-duplicating gallery. (The `facecounter`
//! element that drives it is the next step; see the README status.)

pub mod gallery;
