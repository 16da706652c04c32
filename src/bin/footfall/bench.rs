//! `footfall bench`: detector speed on the shared clips, next to decode-only speed measured
//! in the same run. Prints a Markdown table (BENCHMARKS.md holds a copy).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstfootfall::pipeline_util::play_to_eos;

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding real/ and synth/ clips
    #[arg(long, default_value = "../shared/media")]
    media: PathBuf,
    /// Repetitions per case; the median is reported
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Only clips whose name contains this
    #[arg(long)]
    only: Option<String>,
}

struct Timing {
    frames: u64,
    wall: Duration,
    /// Time spent inside facedetector (between its sink and src pads).
    detector: Duration,
}

fn run_once(desc: &str) -> Result<Timing, String> {
    let pipeline = gst::parse::launch(desc)
        .map_err(|e| format!("{desc}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let frames = Arc::new(Mutex::new(0u64));
    let f2 = frames.clone();
    let sink = pipeline.by_name("sink").ok_or("no sink")?;
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *f2.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
    let spent = Arc::new(Mutex::new((None::<Instant>, Duration::ZERO)));
    if let Some(det) = pipeline.by_name("det") {
        let s1 = spent.clone();
        det.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                s1.lock().unwrap().0 = Some(Instant::now());
                gst::PadProbeReturn::Ok
            });
        let s2 = spent.clone();
        det.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let mut s = s2.lock().unwrap();
                if let Some(t) = s.0.take() {
                    s.1 += t.elapsed();
                }
                gst::PadProbeReturn::Ok
            });
    }
    let start = Instant::now();
    let r = play_to_eos(&pipeline, Some(Duration::from_secs(600)));
    let wall = start.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    r?;
    let frames = *frames.lock().unwrap();
    let detector = spent.lock().unwrap().1;
    Ok(Timing {
        frames,
        wall,
        detector,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
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
        let d = run_once(&decode)?;
        let f = run_once(&full)?;
        frames = f.frames;
        dec_fps.push(d.frames as f64 / d.wall.as_secs_f64());
        full_fps.push(f.frames as f64 / f.wall.as_secs_f64());
        det_fps.push(f.frames as f64 / f.detector.as_secs_f64());
        det_ms.push(f.detector.as_secs_f64() * 1000.0 / f.frames.max(1) as f64);
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

fn clips(media: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["real", "synth"]
        .iter()
        .flat_map(|d| std::fs::read_dir(media.join(d)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    v.sort();
    v
}

pub fn run(a: Args) -> Result<(), String> {
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
    for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
        for threads in [1, 2] {
            let label = if (w, h) == (640, 480) {
                "synth_long_benchmark.mp4".to_string()
            } else {
                format!("synth_long_benchmark.mp4 scaled to {w}x{h}")
            };
            if (w, h) == (640, 480) && threads == 1 {
                continue; // already in the per-clip list
            }
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
    println!("| input | frames | threads | decode-only fps | decode+detect fps | detector-only fps | detector ms/frame |");
    println!("|---|---|---|---|---|---|---|");
    for c in &cases {
        println!("{}", measure(c, a.repeat)?);
    }
    Ok(())
}
