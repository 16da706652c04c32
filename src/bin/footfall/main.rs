//! `footfall`: command-line front end of the Footfall plugin (statically registered).
//!
//! * `footfall count SOURCE` — count unique visitors, printing JSON-lines events.
//! * `footfall serve SOURCE` — count, and re-serve the video with the counts drawn on it
//!   over RTSP for an NVR.
//! * `footfall camera CLIP…` — serve recorded clips as RTSP cameras.
//! * `footfall detect SOURCE` — run the face detector on a file or URI (file, rtsp, http)
//!   and print the faces found per second of stream time.
//! * `footfall bench` — cost against decoding, cameras per process, peers, accuracy
//!   (BENCHMARKS.md).
//! * `footfall enroll` — add a consenting staff member to a staff gallery file.

mod bench;
mod bench_child;
mod bench_cost;
mod bench_counter;
mod bench_distances;
mod bench_peers;
mod bench_streams;
mod camera;
mod count;
mod detect;
mod enroll;
mod input;
mod proc_stats;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "footfall",
    version,
    about = "Count unique visitors from faces, on the edge"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Count unique visitors in a clip or camera stream; prints visit and count events as JSON lines
    Count(count::Args),
    /// Count a camera and re-serve its video, faces blurred and counts drawn on it, over RTSP (for an NVR)
    Serve(serve::Args),
    /// Serve recorded clips as RTSP cameras (each from the start for every client), until Ctrl-C
    Camera(camera::Args),
    /// Detect faces in a clip or camera stream and print how many were found per second
    Detect(detect::Args),
    /// Measure the chain against decoding, cameras per process, the peers and accuracy (BENCHMARKS.md)
    Bench(bench::Args),
    /// One benchmark pipeline, measured in a process of its own (used by `bench`)
    #[command(hide = true)]
    BenchOne(bench_child::Args),
    /// Count N RTSP cameras in this process and report whether it kept up (used by `bench`)
    #[command(hide = true)]
    BenchStreams(bench_streams::ChildArgs),
    /// Add a consenting staff member to a staff gallery file (embeddings only, no images)
    Enroll(enroll::Args),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = gst::init() {
        eprintln!("error: cannot initialise GStreamer: {e}");
        std::process::exit(2);
    }
    if let Err(e) = gstfootfall::plugin_register_static() {
        eprintln!("error: cannot register the footfall plugin: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Count(a) => count::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Camera(a) => camera::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Bench(a) => bench::run(a),
        Command::BenchOne(a) => bench_child::run(a),
        Command::BenchStreams(a) => bench_streams::run_child(a),
        Command::Enroll(a) => enroll::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// A `uri=` value for uridecodebin: URIs pass through, paths become file:// URIs.
pub fn to_uri(source: &str) -> Result<String, String> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let path = std::fs::canonicalize(source).map_err(|e| format!("cannot open '{source}': {e}"))?;
    gst::glib::filename_to_uri(&path, None)
        .map(|u| u.to_string())
        .map_err(|e| format!("cannot make a URI of '{}': {e}", path.display()))
}
