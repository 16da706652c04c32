//! `footfall-bench`: what the counting chain costs next to decoding, how many cameras one
//! process counts in real time, the peers on the same clips, embedding distances by face
//! size and the accuracy table (BENCHMARKS.md). A developer's tool: not installed for users,
//! and the `footfall` binary it drives (`count`, `camera`, `enroll`) is found beside it.

mod bench;
mod bench_child;
mod bench_cost;
mod bench_counter;
mod bench_distances;
mod bench_peers;
mod bench_streams;
mod proc_stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "footfall-bench",
    version,
    about = "Measure the Footfall chain against decoding, cameras per process, the peers and accuracy (BENCHMARKS.md)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    child: Option<Child>,
    #[command(flatten)]
    suites: bench::Args,
}

/// The processes the suites start, each measured on its own.
#[derive(Subcommand)]
enum Child {
    /// One benchmark pipeline, measured in a process of its own (used by the suites)
    #[command(hide = true)]
    One(bench_child::Args),
    /// Count N RTSP cameras in this process and report whether it kept up (streams suite)
    #[command(hide = true)]
    CountCameras(bench_streams::ChildArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = footfall_app::init() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let result = match cli.child {
        None => bench::run(cli.suites),
        Some(Child::One(a)) => bench_child::run(a),
        Some(Child::CountCameras(a)) => bench_streams::run_child(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The `footfall` binary the counter, streams and staff steps run: `$FOOTFALL_BIN`, else the
/// one built beside this binary (`cargo build --release` builds both).
pub fn footfall_exe() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FOOTFALL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me =
        std::env::current_exe().map_err(|e| format!("cannot find footfall-bench itself: {e}"))?;
    let beside = me.with_file_name("footfall");
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build --release` (or set FOOTFALL_BIN)",
            beside.display()
        ))
    }
}
