//! `footfall-bench --suite chain`: what the counting chain costs next to the limit (decoding),
//! measured in the same run: per input, decode-only, decode + convert and the chain at its
//! defaults (`footfallbin`), each in a process of its own — frames per second, CPU per
//! frame and per second of video, peak memory, and the time inside each element.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench::{clips, median, Args};
use crate::bench_child::{in_child, Measured};

/// Camera-like copies of the long synthetic clip (the 720p and 1080p inputs): H.264
/// High, a keyframe every second, a typical camera bit rate. Encoded once and kept in
/// `cache` (not in git: they are derived from ../shared).
pub fn scaled_copy(media: &Path, cache: &Path, w: u32, h: u32) -> Result<PathBuf, String> {
    let out = cache.join(format!("synth_long_benchmark_{w}x{h}.mp4"));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let src = media.join("synth/synth_long_benchmark.mp4");
    let kbps = if w >= 1920 { 4500 } else { 2500 };
    let tmp = out.with_extension("part.mp4");
    eprintln!("encoding {} (once)…", out.display());
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "filesrc location={} ! decodebin ! videoscale ! video/x-raw,width={w},height={h} \
                 ! x264enc speed-preset=veryfast key-int-max=15 bitrate={kbps} ! video/x-h264,profile=high \
                 ! h264parse ! mp4mux ! filesink location={}",
                src.display(),
                tmp.display()
            )
            .split_whitespace(),
        )
        .status()
        .map_err(|e| format!("cannot run gst-launch-1.0: {e}"))?;
    if !status.success() {
        return Err(format!("encoding {} failed", out.display()));
    }
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Inputs: every shared clip, then the long clip at 1280x720 and 1920x1080.
pub fn inputs(a: &Args) -> Result<Vec<(String, PathBuf)>, String> {
    let mut v: Vec<(String, PathBuf)> = clips(&a.media)
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), p))
        .collect();
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let p = scaled_copy(&a.media, &a.cache, w, h)?;
        v.push((format!("synth_long_benchmark at {w}x{h}"), p));
    }
    if let Some(only) = &a.only {
        v.retain(|(l, _)| l.contains(only.as_str()));
    }
    Ok(v)
}

const ELEMENTS: [&str; 4] = ["detector", "tracker", "embedder", "counter"];

/// Median of each field over the runs.
fn med(runs: &[Measured], f: impl Fn(&Measured) -> f64) -> f64 {
    median(runs.iter().map(f).collect())
}

pub fn cost_suite(a: &Args) -> Result<(), String> {
    println!("\n### The chain at its defaults against the limit (decoding)\n");
    println!(
        "| input | frames | decode-only fps | decode+convert fps | chain fps | decode+convert CPU ms/frame | chain CPU ms/frame \
         | chain ÷ decode+convert CPU | chain CPU s per video s | decode+convert / chain peak MiB \
         | detector / tracker / embedder / counter ms/frame |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, file) in inputs(a)? {
        let loc = file.display();
        let fps = crate::bench_streams::clip_fps(&file);
        let decode = format!(
            "filesrc location=\"{loc}\" ! qtdemux ! h264parse ! avdec_h264 ! fakesink name=sink sync=false"
        );
        let convert = format!(
            "filesrc location=\"{loc}\" ! decodebin ! videoconvert ! fakesink name=sink sync=false"
        );
        let events =
            std::env::temp_dir().join(format!("footfall-bench-{}.jsonl", std::process::id()));
        let chain = format!(
            "filesrc location=\"{loc}\" ! decodebin ! footfallbin gallery=bench-cost location=\"{}\" \
             ! fakesink name=sink sync=false",
            events.display()
        );
        let (mut d, mut c, mut f) = (vec![], vec![], vec![]);
        for _ in 0..a.repeat.max(1) {
            d.push(in_child(&decode, &[])?);
            c.push(in_child(&convert, &[])?);
            f.push(in_child(&chain, &ELEMENTS)?);
        }
        let _ = std::fs::remove_file(&events);
        let cpu_c = med(&c, Measured::cpu_per_frame);
        let cpu_f = med(&f, Measured::cpu_per_frame);
        let inside: Vec<String> = (0..ELEMENTS.len())
            .map(|i| format!("{:.2}", med(&f, |m| m.inside_ms[i])))
            .collect();
        println!(
            "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.3} | {:.0} / {:.0} | {} |",
            f[0].frames,
            med(&d, Measured::fps),
            med(&c, Measured::fps),
            med(&f, Measured::fps),
            cpu_c * 1000.0,
            cpu_f * 1000.0,
            cpu_f / cpu_c,
            cpu_f * fps,
            med(&c, |m| m.peak_rss_mib),
            med(&f, |m| m.peak_rss_mib),
            inside.join(" / "),
        );
    }
    Ok(())
}
