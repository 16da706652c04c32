//! Face detection science, free of GStreamer: frame preprocessing, YuNet decoding, NMS and
//! the coordinate mapping between frame and detector input.

pub mod geometry;
pub mod motion_gate;
pub mod nms;
pub mod preprocess;
pub mod resample;
pub mod yunet;
pub mod yunet_decode;
