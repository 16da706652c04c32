//! `footfall`: command-line front end of the Footfall plugin (statically registered).
//! The benchmarks are a binary of their own, `footfall-bench` (crate `bench/`).
//!
//! * `footfall count SOURCE` — count unique visitors, printing JSON-lines events.
//! * `footfall run SITE.toml` — count a site's cameras in one process, sharing its gallery,
//!   count store, MQTT broker and HTTP server.
//! * `footfall serve SOURCE` — count, and re-serve the video with the counts drawn on it
//!   over RTSP for an NVR.
//! * `footfall camera CLIP…` — serve recorded clips as RTSP cameras.
//! * `footfall detect SOURCE` — run the face detector on a file or URI (file, rtsp, http)
//!   and print the faces found per second of stream time.
//! * `footfall enroll` — add a consenting staff member to a staff gallery file.
//! * `footfall hub` — the head office: every site's visits from the broker into PostgreSQL.
//! * `footfall report` — counts per camera and minute, hour or day from the count store.

mod cmd;

use cmd::{camera, count, detect, enroll, hub, report, run, serve};

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
    /// Count every camera of a site file (TOML) in one process, sharing the site's gallery, store, MQTT and HTTP
    Run(run::Args),
    /// Count a camera and re-serve its video, faces blurred and counts drawn on it, over RTSP (for an NVR)
    Serve(serve::Args),
    /// Serve recorded clips as RTSP cameras (each from the start for every client), until Ctrl-C
    Camera(camera::Args),
    /// Detect faces in a clip or camera stream and print how many were found per second
    Detect(detect::Args),
    /// Add a consenting staff member to a staff gallery file (embeddings only, no images)
    Enroll(enroll::Args),
    /// Head office: every site's visits from the (bridged) MQTT broker into PostgreSQL, each once
    Hub(hub::Args),
    /// Counts per camera and minute, hour or day from the count store, as CSV or JSON
    Report(report::Args),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = footfall_app::init() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Count(a) => count::run(a),
        Command::Run(a) => run::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Camera(a) => camera::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Enroll(a) => enroll::run(a),
        Command::Hub(a) => hub::run(a),
        Command::Report(a) => report::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
