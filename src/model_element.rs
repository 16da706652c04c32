//! What `facedetector` and `faceembedder` share as elements that run an ONNX model: the
//! `model`, `device` and `threads` properties, and opening the model when the element
//! starts (device parsed, runtime loaded, file resolved, session pool joined), every failure
//! the element error that fails READY→PAUSED.

use std::path::{Path, PathBuf};

use gst::glib;
use gst::prelude::*;

use crate::onnx_runtime::{ensure_loaded, Device};

/// The model properties' values.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// `model`: a path, or none for the default file resolved by [`crate::models`].
    pub model: Option<String>,
    /// `device`: `cpu` or `cuda`, parsed when the element starts.
    pub device: String,
    /// `threads`: ONNX Runtime intra-op threads (0 = ONNX Runtime's default).
    pub threads: u32,
}

impl ModelSettings {
    pub fn new(default_threads: u32) -> ModelSettings {
        ModelSettings {
            model: None,
            device: "cpu".into(),
            threads: default_threads,
        }
    }

    /// The `model`, `device` and `threads` property specs; `model_blurb` says which model
    /// and where its default comes from.
    pub fn properties(model_blurb: &'static str, default_threads: u32) -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb(model_blurb)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("device")
                .nick("Device")
                .blurb("Inference device: cpu, or cuda (needs an ONNX Runtime built with CUDA)")
                .default_value(Some("cpu"))
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("ONNX Runtime intra-op threads (0 = one per core)")
                .maximum(256)
                .default_value(default_threads)
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets property `name` if it is one of these; false for the element's own properties.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "model" => self.model = value.get().expect("type checked upstream"),
            "device" => {
                self.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| "cpu".into())
            }
            "threads" => self.threads = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    /// The value of property `name` if it is one of these.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        match name {
            "model" => Some(self.model.to_value()),
            "device" => Some(self.device.to_value()),
            "threads" => Some(self.threads.to_value()),
            _ => None,
        }
    }

    /// What the element does when it starts: parse `device`, load the runtime, resolve the
    /// model (`default_file` when `model` is unset) and open it with `open(path, device,
    /// threads)`. Returns what `open` made, the file and the device.
    pub fn open<T>(
        &self,
        default_file: &str,
        open: impl FnOnce(&Path, Device, u32) -> Result<T, String>,
    ) -> Result<(T, PathBuf, Device), gst::ErrorMessage> {
        let device = Device::parse(&self.device)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
        ensure_loaded().map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{}", e)))?;
        let model = crate::models::resolve(self.model.as_deref(), default_file)
            .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ("{}", e)))?;
        let opened = open(&model, device, self.threads)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
        Ok((opened, model, device))
    }
}
