//! Face embedding science, free of GStreamer: alignment to the chip template, the quality
//! gate, the per-track embedding policy and the ONNX embedder.

pub mod align;
pub mod embedder;
pub mod photo;
pub mod policy;
pub mod quality;
