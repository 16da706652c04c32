//! `footfall-bench --suite streams`: how many 720p@15 (or `--stream-height 1080`) cameras one
//! process counts in real time.
//! The recorded 720p clip is served as N RTSP cameras (its own H.264, paced in real time, by a
//! `footfall camera` process); a `footfall-bench count-cameras` process counts all N, each through
//! `rtspsrc ! depay ! avdec_h264 ! queue leaky ! footfallbin`. Real time means the leaky queue
//! never dropped a frame, every frame sent arrived, and latency stayed bounded.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bench::Args;
use crate::proc_stats::{cpu_seconds, peak_rss_mib, rss_mib};

/// Frames per second of a clip (from its decoded caps).
pub fn clip_fps(file: &Path) -> f64 {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! fakesink name=sink",
        file.display()
    );
    let fallback = 15.0;
    let Ok(p) = footfall_app::pipeline_util::launch(&desc) else {
        return fallback;
    };
    let _ = p.set_state(gst::State::Paused);
    let _ = p.state(gst::ClockTime::from_seconds(10));
    let fps = p
        .by_name("sink")
        .and_then(|s| s.static_pad("sink"))
        .and_then(|pad| pad.current_caps())
        .and_then(|c| {
            c.structure(0)
                .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
        })
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f.numer() as f64 / f.denom() as f64)
        .unwrap_or(fallback);
    let _ = p.set_state(gst::State::Null);
    fps
}

#[derive(clap::Args)]
pub struct ChildArgs {
    /// Number of simultaneous streams
    #[arg(long)]
    n: usize,
    /// Camera URL (each client gets its own playback from the start)
    #[arg(long)]
    url: String,
    /// Seconds to count
    #[arg(long, default_value_t = 40)]
    seconds: u64,
    /// Seconds at the start not judged (connecting, first keyframe, loading models)
    #[arg(long, default_value_t = 8)]
    warmup: u64,
    /// Frames per second the camera sends
    #[arg(long, default_value_t = 15.0)]
    fps: f64,
}

/// What one N-stream run saw, judged after the warm-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamsResult {
    pub n: usize,
    pub frames: u64,
    pub expected: u64,
    pub dropped: u64,
    pub max_latency_ms: f64,
    /// Process CPU seconds per wall second (cores) after the warm-up.
    pub cores: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    dropped: AtomicU64,
    max_latency_us: AtomicU64,
}

/// One camera's counting pipeline; its frames, drops and latency are added to `c` while
/// `judge` is set.
fn camera_pipeline(
    url: &str,
    c: Arc<Counters>,
    judge: Arc<Mutex<bool>>,
) -> Result<gst::Pipeline, String> {
    // max-threads=1: with many cameras the parallelism is across streams, and each frame
    // thread of the decoder would hold frames of its own.
    let desc = format!(
        "rtspsrc location={url} protocols=tcp latency=200 ! rtph264depay ! h264parse ! avdec_h264 max-threads=1 \
         ! queue name=q max-size-buffers=15 max-size-bytes=0 max-size-time=0 leaky=downstream \
         ! footfallbin gallery=bench-streams location=/dev/null ! fakesink name=sink sync=false"
    );
    let p = footfall_app::pipeline_util::launch(&desc)?;
    let q = p.by_name("q").ok_or("no queue")?;
    let (c1, j1) = (c.clone(), judge.clone());
    q.connect("overrun", false, move |_| {
        if *j1.lock().unwrap() {
            c1.dropped.fetch_add(1, Ordering::Relaxed);
        }
        None
    });
    let sink = p.by_name("sink").ok_or("no sink")?;
    let pad = sink.static_pad("sink").ok_or("no sink pad")?;
    let el = sink.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if !*judge.lock().unwrap() {
            return gst::PadProbeReturn::Ok;
        }
        c.frames.fetch_add(1, Ordering::Relaxed);
        let late = (|| {
            let buf = info.buffer()?;
            let seg = pad.sticky_event::<gst::event::Segment>(0)?;
            let seg = seg.segment().downcast_ref::<gst::ClockTime>()?.clone();
            let rt = seg.to_running_time(buf.pts()?)?;
            let now = el.clock()?.time();
            Some(
                now.checked_sub(el.base_time()? + rt)
                    .unwrap_or(gst::ClockTime::ZERO),
            )
        })();
        if let Some(l) = late {
            c.max_latency_us.fetch_max(l.useconds(), Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(p)
}

/// The `count-cameras` process: counts N cameras and prints a [`StreamsResult`] line.
pub fn run_child(a: ChildArgs) -> Result<(), String> {
    let counters = Arc::new(Counters::default());
    let judge = Arc::new(Mutex::new(false));
    let mut pipelines = vec![];
    for i in 0..a.n {
        let p = camera_pipeline(&a.url, counters.clone(), judge.clone())?;
        p.set_state(gst::State::Playing)
            .map_err(|e| format!("stream {i} does not start: {e}"))?;
        pipelines.push(p);
        // Cameras are not in step: stagger the starts over one frame time each.
        std::thread::sleep(Duration::from_millis(67));
    }
    let check = |pipelines: &[gst::Pipeline]| -> Result<(), String> {
        for (i, p) in pipelines.iter().enumerate() {
            if let Some(m) = p
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
            {
                if let gst::MessageView::Error(e) = m.view() {
                    return Err(format!("stream {i}: {}", e.error()));
                }
            }
        }
        Ok(())
    };
    let until = |t: Duration| -> Result<(), String> {
        let end = Instant::now() + t;
        while Instant::now() < end {
            check(&pipelines)?;
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    };
    until(Duration::from_secs(a.warmup))?;
    *judge.lock().unwrap() = true;
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    until(Duration::from_secs(a.seconds))?;
    *judge.lock().unwrap() = false;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let r = StreamsResult {
        n: a.n,
        frames: counters.frames.load(Ordering::Relaxed),
        expected: (a.fps * wall).round() as u64 * a.n as u64,
        dropped: counters.dropped.load(Ordering::Relaxed),
        max_latency_ms: counters.max_latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
        cores: cpu / wall,
        rss_mib: rss_mib(),
        peak_rss_mib: peak_rss_mib(),
    };
    for p in &pipelines {
        let _ = p.set_state(gst::State::Null);
    }
    println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
    Ok(())
}

/// Busy and total jiffies of the whole machine (/proc/stat), to report machine load.
fn machine_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Starts `footfall camera` serving `clip` on a free port; returns it and the URL.
fn start_camera(clip: &Path) -> Result<(Child, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(crate::footfall_exe()?)
        .args(["camera", "--port", &port.to_string()])
        .arg(clip)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start footfall camera: {e}"))?;
    let stem = clip.file_stem().unwrap().to_string_lossy();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("footfall camera did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, format!("rtsp://127.0.0.1:{port}/{stem}")))
}

pub fn streams_suite(a: &Args) -> Result<(), String> {
    let (w, h) = match a.stream_height {
        720 => (1280, 720),
        1080 => (1920, 1080),
        other => return Err(format!("--stream-height {other}: 720 or 1080")),
    };
    let clip = crate::bench_cost::scaled_copy(&a.media, &a.cache, w, h)?;
    let (mut camera, url) = start_camera(&clip)?;
    println!("\n### Simultaneous {h}p@15 cameras counted by one process\n");
    println!(
        "| streams | frames counted / sent | dropped by the leaky queue | max latency ms | process CPU (cores) \
         | machine CPU busy (of 2 cores) | RSS MiB | MiB per stream beyond the first | real time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut first_rss = None;
    let mut failures = 0;
    let result = (|| -> Result<(), String> {
        for n in a.streams.iter().copied() {
            let (b0, t0) = machine_jiffies();
            let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
                .args(["count-cameras", "--n", &n.to_string(), "--url", &url])
                .args(["--seconds", &a.stream_seconds.to_string()])
                .output()
                .map_err(|e| e.to_string())?;
            let (b1, t1) = machine_jiffies();
            let last = String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .to_string();
            let r: StreamsResult = serde_json::from_str(&last).map_err(|e| {
                format!(
                    "{n} streams: no result ({e}): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            })?;
            let machine = 2.0 * (b1 - b0) as f64 / (t1 - t0).max(1) as f64;
            let per_stream = match first_rss {
                None => {
                    first_rss = Some(r.rss_mib);
                    "-".to_string()
                }
                Some(f) if n > 1 => format!("{:.1}", (r.rss_mib - f) / (n - 1) as f64),
                Some(_) => "-".to_string(),
            };
            let ok = r.dropped == 0
                && r.frames as f64 >= 0.97 * r.expected as f64
                && r.max_latency_ms < 2000.0;
            println!(
                "| {n} | {} / {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {per_stream} | {} |",
                r.frames,
                r.expected,
                r.dropped,
                r.max_latency_ms,
                r.cores,
                machine,
                r.rss_mib,
                if ok { "yes" } else { "no" }
            );
            failures += usize::from(!ok);
            if failures >= 2 {
                break;
            }
        }
        Ok(())
    })();
    let _ = camera.kill();
    let _ = camera.wait();
    result
}
