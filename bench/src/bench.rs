//! `footfall-bench`: detector speed on the shared clips, next to decode-only speed measured
//! in the same run. Prints a Markdown table (BENCHMARKS.md holds a copy).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use footfall_app::pipeline_util::play_to_eos;
use gst::prelude::*;

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding real/ and synth/ clips
    #[arg(long, default_value = "../shared/media")]
    pub media: PathBuf,
    /// Repetitions per case; the median is reported
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Only clips whose name contains this
    #[arg(long)]
    pub only: Option<String>,
    /// Which measurements: chain (cost against decoding), streams (cameras in real time), peers (OpenCV facedetect, face_recognition), counter (accuracy table), distances (embedding distances by face size), detector, embedder, gallery, all
    #[arg(long, default_value = "all")]
    suite: String,
    /// Folder holding face_embedder.onnx (embedder suite)
    #[arg(long, default_value = "../shared/models")]
    pub models: PathBuf,
    /// Where the 720p/1080p copies of the long clip are encoded (once)
    #[arg(long, default_value = "target/bench-media")]
    pub cache: PathBuf,
    /// Numbers of simultaneous cameras the streams suite tries (it stops after two that do
    /// not keep up)
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,12,16,20,24")]
    pub streams: Vec<usize>,
    /// Frame height of the camera copy the streams suite serves: 720 or 1080
    #[arg(long, default_value_t = 720)]
    pub stream_height: u32,
    /// Seconds each streams run is judged
    #[arg(long, default_value_t = 40)]
    pub stream_seconds: u64,
    /// Python with face_recognition (peers suite; bench/peers/setup.sh makes it)
    #[arg(long, default_value = "target/peers-venv/bin/python")]
    pub peers_python: PathBuf,
}

pub struct Timing {
    pub frames: u64,
    pub wall: Duration,
    /// Wall time and process CPU seconds when the first frame reached the sink: what came
    /// before is start-up (loading models, prerolling), not the cost per frame.
    pub first_frame: Option<(Duration, f64)>,
    /// Time spent inside each named element (between its sink and src pads), in the order of
    /// the names asked for.
    pub inside: Vec<Duration>,
}

/// Adds probes on `el`'s pads that add up the time buffers spend inside it (in-place
/// elements process a buffer between its sink and src pad on one thread).
fn time_inside(el: &gst::Element) -> Arc<Mutex<(Option<Instant>, Duration)>> {
    let spent = Arc::new(Mutex::new((None::<Instant>, Duration::ZERO)));
    let s1 = spent.clone();
    el.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            s1.lock().unwrap().0 = Some(Instant::now());
            gst::PadProbeReturn::Ok
        });
    let s2 = spent.clone();
    el.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut s = s2.lock().unwrap();
            if let Some(t) = s.0.take() {
                s.1 += t.elapsed();
            }
            gst::PadProbeReturn::Ok
        });
    spent
}

pub fn run_once(desc: &str, names: &[&str]) -> Result<Timing, String> {
    let pipeline = footfall_app::pipeline_util::launch(desc)?;
    let frames = Arc::new(Mutex::new(0u64));
    let first = Arc::new(Mutex::new(None));
    let (f2, first2) = (frames.clone(), first.clone());
    let start = Instant::now();
    let sink = pipeline.by_name("sink").ok_or("no sink")?;
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut n = f2.lock().unwrap();
            if *n == 0 {
                *first2.lock().unwrap() = Some((start.elapsed(), crate::proc_stats::cpu_seconds()));
            }
            *n += 1;
            gst::PadProbeReturn::Ok
        });
    let spent: Vec<_> = names
        .iter()
        .filter_map(|n| pipeline.by_name(n))
        .map(|e| time_inside(&e))
        .collect();
    let r = play_to_eos(&pipeline, Some(Duration::from_secs(600)));
    let wall = start.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    r?;
    let frames = *frames.lock().unwrap();
    let inside = spent.iter().map(|s| s.lock().unwrap().1).collect();
    let first_frame = *first.lock().unwrap();
    Ok(Timing {
        frames,
        wall,
        first_frame,
        inside,
    })
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Case {
    label: String,
    file: PathBuf,
    scale: Option<(u32, u32)>,
    threads: u32,
}

fn measure(c: &Case, repeat: usize) -> Result<String, String> {
    let loc = c.file.display();
    let scale = c
        .scale
        .map(|(w, h)| format!("videoscale ! video/x-raw,width={w},height={h} ! "))
        .unwrap_or_default();
    let decode =
        format!("filesrc location=\"{loc}\" ! decodebin ! {scale}fakesink name=sink sync=false");
    let full = format!(
        "filesrc location=\"{loc}\" ! decodebin ! {scale}videoconvert ! facedetector name=det threads={} ! fakesink name=sink sync=false",
        c.threads
    );
    let (mut dec_fps, mut full_fps, mut det_fps, mut det_ms) = (vec![], vec![], vec![], vec![]);
    let mut frames = 0;
    for _ in 0..repeat.max(1) {
        let d = run_once(&decode, &[])?;
        let f = run_once(&full, &["det"])?;
        frames = f.frames;
        dec_fps.push(d.frames as f64 / d.wall.as_secs_f64());
        full_fps.push(f.frames as f64 / f.wall.as_secs_f64());
        det_fps.push(f.frames as f64 / f.inside[0].as_secs_f64());
        det_ms.push(f.inside[0].as_secs_f64() * 1000.0 / f.frames.max(1) as f64);
    }
    Ok(format!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2} |",
        c.label,
        frames,
        c.threads,
        median(dec_fps),
        median(full_fps),
        median(det_fps),
        median(det_ms)
    ))
}

pub fn clips(media: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["real", "synth", "entrance"]
        .iter()
        .flat_map(|d| std::fs::read_dir(media.join(d)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    v.sort();
    v
}

fn detector_suite(a: &Args) -> Result<(), String> {
    let mut cases = vec![];
    for clip in clips(&a.media) {
        let name = clip.file_name().unwrap().to_string_lossy().to_string();
        cases.push(Case {
            label: name,
            file: clip,
            scale: None,
            threads: 1,
        });
    }
    let long = a.media.join("synth/synth_long_benchmark.mp4");
    for (w, h) in [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)] {
        for threads in [1, 2] {
            if ((w, h) == (640, 480) && threads == 1) || (w == 3840 && threads == 2) {
                continue; // 640x480 at 1 thread is in the per-clip list; 4K at 1 thread only
            }
            let label = if (w, h) == (640, 480) {
                "synth_long_benchmark.mp4".to_string()
            } else {
                format!("synth_long_benchmark.mp4 scaled to {w}x{h}")
            };
            cases.push(Case {
                label,
                file: long.clone(),
                scale: ((w, h) != (640, 480)).then_some((w, h)),
                threads,
            });
        }
    }
    if let Some(only) = &a.only {
        cases.retain(|c| c.label.contains(only.as_str()));
    }
    println!("\n### facedetector\n");
    println!("| input | frames | threads | decode-only fps | decode+detect fps | detector-only fps | detector ms/frame |");
    println!("|---|---|---|---|---|---|---|");
    for c in &cases {
        println!("{}", measure(c, a.repeat)?);
    }
    Ok(())
}

/// Embedder milliseconds per face at batch 1 and 8 (1 thread).
fn embedder_suite(a: &Args) -> Result<(), String> {
    use gstfootfall::embed::align::CHIP;
    use gstfootfall::embed::embedder::Embedder;
    gstfootfall::onnx_runtime::ensure_loaded()?;
    // Timing input only: a dense network costs the same whatever the chip shows.
    let one: Vec<f32> = (0..3 * CHIP * CHIP).map(|i| (i % 251) as f32).collect();
    println!("\n### faceembedder model\n");
    println!("| batch | threads | ms per call (median) | ms per face |");
    println!("|---|---|---|---|");
    let mut e = Embedder::load(
        &a.models.join("face_embedder.onnx"),
        gstfootfall::onnx_runtime::Device::Cpu,
        1,
    )?;
    for batch in [1usize, 8] {
        let input: Vec<f32> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * batch)
            .collect();
        let mut out = Vec::new();
        let mut times = Vec::new();
        for i in 0..25 {
            out.clear();
            let t = Instant::now();
            e.embed(&input, &mut out)?;
            if i >= 5 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let m = median(times);
        println!("| {batch} | 1 | {m:.2} | {:.2} |", m / batch as f64);
    }
    Ok(())
}

/// Gallery search time (one probe embedding, brute force) at 1k/10k/100k identities with
/// 1 and 3 stored views each.
fn gallery_suite() -> Result<(), String> {
    use gstfootfall::count::gallery::Gallery;
    use gstfootfall::embed::embedder::DIM;
    let mut x = 0x2545_f491_u32;
    let mut rand_emb = move || {
        let mut e = [0.0f32; DIM];
        for v in e.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = (x % 2000) as f32 / 10000.0 - 0.1;
        }
        e
    };
    println!("\n### gallery search (8-bit first pass, f32 re-check)\n");
    println!("| identities | views each | probe views | ms per search (median of 50) |");
    println!("|---|---|---|---|");
    for n in [1_000usize, 10_000, 100_000] {
        for views in [1usize, 3] {
            let mut g = Gallery::new();
            for i in 0..n {
                let v: Vec<_> = (0..views).map(|_| (rand_emb(), 0.5)).collect();
                g.insert(&v, i as u64);
            }
            for probes in [1usize, 5] {
                let probe: Vec<_> = (0..probes).map(|_| rand_emb()).collect();
                let indexed = median(
                    (0..50)
                        .map(|_| {
                            let t = Instant::now();
                            std::hint::black_box(g.search(std::hint::black_box(&probe), 0.5));
                            t.elapsed().as_secs_f64() * 1000.0
                        })
                        .collect(),
                );
                println!("| {n} | {views} | {probes} | {indexed:.3} |");
            }
        }
    }
    Ok(())
}

pub fn run(a: Args) -> Result<(), String> {
    let all = a.suite == "all";
    if all || a.suite == "gallery" {
        gallery_suite()?;
    }
    if all || a.suite == "embedder" {
        embedder_suite(&a)?;
    }
    if all || a.suite == "detector" {
        detector_suite(&a)?;
    }
    if all || a.suite == "chain" {
        crate::bench_cost::cost_suite(&a)?;
    }
    if all || a.suite == "streams" {
        crate::bench_streams::streams_suite(&a)?;
    }
    if all || a.suite == "peers" {
        crate::bench_peers::peers_suite(&a)?;
    }
    if all || a.suite == "distances" {
        crate::bench_distances::distances_suite(&a)?;
    }
    if all || a.suite == "counter" {
        crate::bench_counter::counter_suite(&a)?;
    }
    Ok(())
}
