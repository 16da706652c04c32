//! ONNX Runtime: finding and loading the shared library once per process, and creating
//! sessions with the requested device and thread count.
//!
//! The library is loaded dynamically (`ort` feature `load-dynamic`) from, in order:
//! 1. `ORT_DYLIB_PATH`;
//! 2. the path compiled in by build.rs (what `scripts/setup.sh` recorded after installing
//!    the `onnxruntime` wheel, or the meson option `ort-dylib`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::SystemTime;

use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::registry::WeakRegistry;

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

/// The sessions of one model in this process, used by every element that runs the same
/// model file on the same device with the same thread count. A session holds its own copy
/// of the weights and its own memory arena, so one per camera would cost memory per stream
/// for nothing; but one session runs one inference at a time (`ort` runs need `&mut`), so a
/// process with one session per model uses at most one core per model for inference,
/// whatever the box. A small pool ([`sessions_per_model`]) lets cameras' runs overlap.
pub struct SessionPool {
    sessions: Vec<Mutex<Session>>,
    /// Where the next run starts looking for a free session (round robin).
    next: AtomicUsize,
}

/// A handle on a model's [`SessionPool`]; clones share the pool.
#[derive(Clone)]
pub struct SharedSession(Arc<SessionPool>);

impl SharedSession {
    /// A session of the pool for one run: the first free one, else (all busy) the next in
    /// turn, waited for. A run that panicked elsewhere does not poison it for good.
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        let pool = &self.0;
        let n = pool.sessions.len();
        let first = pool.next.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            match pool.sessions[(first + k) % n].try_lock() {
                Ok(free) => return free,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        pool.sessions[first]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions the pool holds.
    pub fn sessions(&self) -> usize {
        self.0.sessions.len()
    }

    /// Whether `self` and `other` are the same pool (tests, logs).
    pub fn same_as(&self, other: &SharedSession) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Sessions per model when `FOOTFALL_SESSIONS_PER_MODEL` is not set. Measured in
/// BENCHMARKS.md ("Sessions per model"): on a 2-core machine, cameras per process in real
/// time with 1 and 2 sessions.
pub const DEFAULT_SESSIONS_PER_MODEL: usize = 1;
/// The most sessions per model the environment setting may ask for.
pub const MAX_SESSIONS_PER_MODEL: usize = 16;

/// Sessions per model: `FOOTFALL_SESSIONS_PER_MODEL` (1..=16), else the default. Read
/// when an element opens its model; a bad value is an error naming the setting.
pub fn sessions_per_model() -> Result<usize, String> {
    match std::env::var("FOOTFALL_SESSIONS_PER_MODEL") {
        Err(_) => Ok(DEFAULT_SESSIONS_PER_MODEL),
        Ok(v) => parse_sessions(&v),
    }
}

fn parse_sessions(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_SESSIONS_PER_MODEL).contains(&n) => Ok(n),
        _ => Err(format!(
            "FOOTFALL_SESSIONS_PER_MODEL={v:?}: expected a whole number from 1 to {MAX_SESSIONS_PER_MODEL}"
        )),
    }
}

/// What makes two loads the same pool: the file (by canonical path, and by size and
/// modification time, so a model replaced on disk is loaded afresh), device, threads and
/// the number of sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    model: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    device: Device,
    threads: u32,
    sessions: usize,
}

/// Live pools by key; a pool goes away with the last element holding it.
static SESSIONS: WeakRegistry<SessionKey, SessionPool> = WeakRegistry::new();

/// The process's sessions of `model` on `device` with `threads`, opened (the first checked
/// with `check`, which sees only freshly opened sessions) if no element holds them yet.
pub fn shared_session(
    model: &Path,
    device: Device,
    threads: u32,
    check: impl FnOnce(&Session) -> Result<(), String>,
) -> Result<SharedSession, String> {
    let meta = std::fs::metadata(model)
        .map_err(|e| format!("model file '{}' not found: {e}", model.display()))?;
    let sessions = sessions_per_model()?;
    let key = SessionKey {
        model: std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf()),
        len: meta.len(),
        modified: meta.modified().ok(),
        device,
        threads,
        sessions,
    };
    let pool = SESSIONS.get_or_open(key, || {
        let first = open_session(model, device, threads)?;
        check(&first)?;
        let mut all = vec![Mutex::new(first)];
        for _ in 1..sessions {
            all.push(Mutex::new(open_session(model, device, threads)?));
        }
        Ok::<_, String>(SessionPool {
            sessions: all,
            next: AtomicUsize::new(0),
        })
    })?;
    Ok(SharedSession(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_per_model_setting() {
        assert_eq!(parse_sessions("2"), Ok(2));
        assert_eq!(parse_sessions(" 1 "), Ok(1));
        for bad in ["0", "17", "two", "", "-1"] {
            let e = parse_sessions(bad).unwrap_err();
            assert!(e.contains("FOOTFALL_SESSIONS_PER_MODEL"), "{e}");
        }
    }

    #[test]
    fn device_parsing() {
        assert_eq!(Device::parse("CPU").unwrap(), Device::Cpu);
        assert_eq!(Device::parse("cuda").unwrap(), Device::Cuda);
        assert!(Device::parse("tpu").unwrap_err().contains("'tpu'"));
    }
}
