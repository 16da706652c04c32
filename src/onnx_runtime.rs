//! ONNX Runtime: finding and loading the shared library once per process, and creating
//! sessions with the requested device and thread count.
//!
//! The library is loaded dynamically (`ort` feature `load-dynamic`) from, in order:
//! 1. `ORT_DYLIB_PATH`;
//! 2. the path compiled in by build.rs (what `scripts/setup.sh` recorded after installing
//!    the `onnxruntime` wheel, or the meson option `ort-dylib`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, Weak};
use std::time::SystemTime;

use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

impl Device {
    pub fn parse(s: &str) -> Result<Device, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            other => Err(format!("unknown device '{other}': use 'cpu' or 'cuda'")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

struct Runtime {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

const HOW_TO_FIX: &str =
    "Install it with `scripts/setup.sh` (puts the onnxruntime==1.31.1 wheel in \
the project's .venv and records the path), or `pip install onnxruntime==1.31.1` and set \
ORT_DYLIB_PATH to the wheel's onnxruntime/capi/libonnxruntime.so.1.31.1";

/// The library path that will be (or was) loaded: `ORT_DYLIB_PATH`, else the build default.
pub fn dylib_candidate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let built_in = env!("FOOTFALL_ORT_DYLIB_DEFAULT");
    if !built_in.is_empty() {
        return Ok(PathBuf::from(built_in));
    }
    Err(format!(
        "ONNX Runtime library not configured: ORT_DYLIB_PATH is unset and the plugin was built \
         without a recorded path. {HOW_TO_FIX}"
    ))
}

fn load() -> Result<Runtime, String> {
    let path = dylib_candidate()?;
    if !path.is_file() {
        return Err(format!(
            "ONNX Runtime library '{}' does not exist. {HOW_TO_FIX}",
            path.display()
        ));
    }
    let builder = ort::init_from(&path).map_err(|e| {
        format!(
            "could not load ONNX Runtime from '{}': {e}. {HOW_TO_FIX}",
            path.display()
        )
    })?;
    let env = builder
        .with_name("footfall")
        .build()
        .map_err(|e| format!("could not create the ONNX Runtime environment: {e}"))?;
    Ok(Runtime { path, env })
}

fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Loads the library (first call only) and returns the path it came from.
pub fn ensure_loaded() -> Result<&'static Path, String> {
    runtime().map(|r| r.path.as_path())
}

/// Opens `model` as an inference session: `threads` intra-op threads (0 = ONNX Runtime's
/// default), one inter-op thread, full graph optimisation, on `device`.
pub fn open_session(model: &Path, device: Device, threads: u32) -> Result<Session, String> {
    let rt = runtime()?;
    if !model.is_file() {
        return Err(format!("model file '{}' not found", model.display()));
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let mut builder = Session::builder(&rt.env)
        .map_err(|e| fail("cannot create an ONNX Runtime session", &e))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail("cannot set the optimisation level", &e))?
        .with_inter_threads(1)
        .map_err(|e| fail("cannot set inter-op threads", &e))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads as usize)
            .map_err(|e| fail("cannot set intra-op threads", &e))?;
    }
    if device == Device::Cuda {
        let cuda = ort::ep::CUDA::default();
        let available = ort::ep::CUDA::is_available().unwrap_or(false);
        if !available {
            return Err(format!(
                "device=cuda: the ONNX Runtime library '{}' has no CUDAExecutionProvider. Point \
                 ORT_DYLIB_PATH at the library of the onnxruntime-gpu wheel (with CUDA and cuDNN \
                 installed), or use device=cpu",
                rt.path.display()
            ));
        }
        builder = builder
            .with_execution_providers([cuda.build().error_on_failure()])
            .map_err(|e| {
                fail(
                    "device=cuda: the CUDA execution provider failed to start",
                    &e,
                )
            })?;
    }
    builder.commit_from_file(model).map_err(|e| {
        format!(
            "cannot load model '{}' (is it a valid ONNX file?): {e}",
            model.display()
        )
    })
}

/// One ONNX Runtime session used by every element of the process that runs the same model
/// file on the same device with the same thread count. A session holds the model's weights
/// and its own memory arena, so one per camera would cost memory per stream for nothing;
/// runs are short (milliseconds) and take turns through the mutex (`ort` runs need `&mut`).
#[derive(Clone)]
pub struct SharedSession(Arc<Mutex<Session>>);

impl SharedSession {
    /// The session, for one run; a run that panicked elsewhere does not poison it for good.
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `self` and `other` are the same session (tests, logs).
    pub fn same_as(&self, other: &SharedSession) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What makes two loads the same session: the file (by canonical path, and by size and
/// modification time, so a model replaced on disk is loaded afresh), device and threads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    model: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    device: Device,
    threads: u32,
}

/// Live sessions by key; a session goes away with the last element holding it.
static SESSIONS: LazyLock<Mutex<HashMap<SessionKey, Weak<Mutex<Session>>>>> =
    LazyLock::new(Default::default);

/// The process's session for `model` on `device` with `threads`, opened (and checked with
/// `check`, which sees only freshly opened sessions) if no element holds one yet.
pub fn shared_session(
    model: &Path,
    device: Device,
    threads: u32,
    check: impl FnOnce(&Session) -> Result<(), String>,
) -> Result<SharedSession, String> {
    let meta = std::fs::metadata(model)
        .map_err(|e| format!("model file '{}' not found: {e}", model.display()))?;
    let key = SessionKey {
        model: std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf()),
        len: meta.len(),
        modified: meta.modified().ok(),
        device,
        threads,
    };
    // Held while opening, so elements starting together open the model once.
    let mut sessions = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    sessions.retain(|_, s| s.strong_count() > 0);
    if let Some(live) = sessions.get(&key).and_then(Weak::upgrade) {
        return Ok(SharedSession(live));
    }
    let session = open_session(model, device, threads)?;
    check(&session)?;
    let shared = Arc::new(Mutex::new(session));
    sessions.insert(key, Arc::downgrade(&shared));
    Ok(SharedSession(shared))
}

/// What an element does when it starts (READY→PAUSED): parse its `device` property, load the
/// runtime, resolve its model file and open it with `load`. Every failure becomes the
/// element error that fails the state change, with the reason as its message.
pub fn load_for_element<T>(
    model_property: Option<&str>,
    default_file: &str,
    device: &str,
    load: impl FnOnce(&Path, Device) -> Result<T, String>,
) -> Result<(T, PathBuf, Device), gst::ErrorMessage> {
    let device = Device::parse(device)
        .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
    ensure_loaded().map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{}", e)))?;
    let model = crate::models::resolve(model_property, default_file)
        .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ("{}", e)))?;
    let loaded = load(&model, device)
        .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
    Ok((loaded, model, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_parsing() {
        assert_eq!(Device::parse("CPU").unwrap(), Device::Cpu);
        assert_eq!(Device::parse("cuda").unwrap(), Device::Cuda);
        assert!(Device::parse("tpu").unwrap_err().contains("'tpu'"));
    }
}
