//! One benchmark pipeline in a process of its own (`footfall-bench one`, hidden): its CPU
//! time and peak memory are then the pipeline's alone, whatever ran before it.

use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::bench::run_once;
use crate::proc_stats::{cpu_seconds, peak_rss_mib};

#[derive(clap::Args)]
pub struct Args {
    /// gst-launch description; its sink is named `sink`
    #[arg(long)]
    pipeline: String,
    /// Comma-separated names of elements whose time per frame is wanted
    #[arg(long, default_value = "")]
    time: String,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub frames: u64,
    pub wall_s: f64,
    /// CPU seconds of the whole process, start-up included.
    pub cpu_s: f64,
    /// CPU and wall seconds from the first frame at the sink to the end: the steady state.
    pub steady_cpu_s: f64,
    pub steady_wall_s: f64,
    pub peak_rss_mib: f64,
    /// Milliseconds per frame inside each element asked for (same order).
    pub inside_ms: Vec<f64>,
}

impl Measured {
    /// Frames per wall-clock second in the steady state.
    pub fn fps(&self) -> f64 {
        self.frames.saturating_sub(1) as f64 / self.steady_wall_s.max(1e-9)
    }

    /// CPU seconds per frame in the steady state.
    pub fn cpu_per_frame(&self) -> f64 {
        self.steady_cpu_s / self.frames.saturating_sub(1).max(1) as f64
    }
}

pub fn run(a: Args) -> Result<(), String> {
    let names: Vec<&str> = a.time.split(',').filter(|n| !n.is_empty()).collect();
    let t = run_once(&a.pipeline, &names)?;
    let cpu_s = cpu_seconds();
    let (first_wall, first_cpu) = t.first_frame.ok_or("no frame reached the sink")?;
    let m = Measured {
        frames: t.frames,
        wall_s: t.wall.as_secs_f64(),
        cpu_s,
        steady_cpu_s: cpu_s - first_cpu,
        steady_wall_s: (t.wall - first_wall).as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        inside_ms: t
            .inside
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0 / t.frames.max(1) as f64)
            .collect(),
    };
    println!(
        "{}",
        serde_json::to_string(&m).map_err(|e| format!("cannot write the result: {e}"))?
    );
    Ok(())
}

/// Runs `pipeline` in a new `footfall-bench one` process and returns what it measured.
pub fn in_child(pipeline: &str, time: &[&str]) -> Result<Measured, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find footfall-bench itself: {e}"))?;
    let out = Command::new(exe)
        .args(["one", "--pipeline", pipeline, "--time", &time.join(",")])
        .output()
        .map_err(|e| format!("cannot start a benchmark process: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    if !out.status.success() {
        return Err(format!(
            "benchmark pipeline failed ({}): {}\n{pipeline}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_str(last).map_err(|e| format!("unreadable benchmark result '{last}': {e}"))
}
