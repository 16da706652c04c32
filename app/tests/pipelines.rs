//! Each script in pipelines/ run against the loopback RTSP camera (or a file) for a bounded
//! time: it must produce counts.

#[path = "../../tests/common/mod.rs"]
mod common;
mod rtsp_camera;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::shared;
use gst::prelude::*;
use gst_video::prelude::*;
use rtsp_camera::LoopbackCamera;

type Grey = (usize, usize, Vec<u8>);

/// A GRAY8 sample as (width, height, tightly packed rows).
fn grey(sample: &gst::Sample) -> Grey {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .unwrap();
    let (w, h, stride) = (
        info.width() as usize,
        info.height() as usize,
        frame.plane_stride()[0] as usize,
    );
    let data = frame.plane_data(0).unwrap();
    let rows = (0..h)
        .flat_map(|y| data[y * stride..y * stride + w].iter().copied())
        .collect();
    (w, h, rows)
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("footfall-pipelines-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The turn of one test of this binary: its camera, script and checks run alone, so each
/// live pipeline has the machine's cores to itself (on 2 cores, two side by side ran late
/// enough to stall an RTSP push now and then) and the binary ends sooner than in parallel.
fn script_turn() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a test accepts from a script that has not stopped 30 s after SIGINT (it is killed).
#[derive(Clone, Copy, PartialEq)]
enum OnHang {
    Fail,
    /// Known problem (in the issue note): gst-launch ending in rtspclientsink now and then
    /// never finishes its EOS after SIGINT, or ends it with rtspclientsink's "Could not send
    /// message (Received end-of-file)" error as the server closes the session. Its counts
    /// are flushed per line and its video is checked by the test, so only its clean stop is
    /// not asserted; a failure before the SIGINT still fails.
    Tolerate,
    /// Known problem (in the issue note): now and then rtspsrc never sees a camera end its
    /// stream (it times out, that EOS never reaches the sinks, gst-launch then ignores
    /// SIGINT, every footfall thread idle in gdb). Such a run is run again once; a second
    /// hang fails the test.
    RunAgain,
}

/// Waits until `deadline` for `child` to end: its exit status success, None if still running.
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> Option<bool> {
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Runs `pipelines/<script>` with `env`; after `stop_after` (if it has not ended) sends
/// SIGINT as an operator's Ctrl-C would. Returns the exit status success, or None when it
/// had not stopped 30 s after SIGINT (it is killed then).
fn run_script_once(script: &str, env: &[(&str, &Path)], stop_after: Duration) -> Option<Ended> {
    let mut cmd = Command::new(common::project_root().join("pipelines").join(script));
    cmd.env("GST_PLUGIN_PATH", common::plugin_dir())
        .env("FOOTFALL_MODELS_DIR", shared("models"))
        .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("script runs");
    if let Some(ok) = wait_until(&mut child, Instant::now() + stop_after) {
        return Some(Ended::ByItself(ok));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let ended = wait_until(&mut child, Instant::now() + Duration::from_secs(30));
    if ended.is_none() {
        let _ = child.kill();
        let _ = child.wait(); // reap it
    }
    ended.map(Ended::AfterSigint)
}

/// How a script ended: by itself or after our SIGINT, and whether it exited successfully.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Ended {
    ByItself(bool),
    AfterSigint(bool),
}

/// [`run_script_once`] with `on_hang` deciding what a hang after SIGINT means (a run again
/// appends to the same counts files: the tests read their last line).
fn run_script(script: &str, env: &[(&str, &Path)], stop_after: Duration, on_hang: OnHang) -> bool {
    let mut tries = if on_hang == OnHang::RunAgain { 2 } else { 1 };
    loop {
        match run_script_once(script, env, stop_after) {
            Some(Ended::AfterSigint(false)) if on_hang == OnHang::Tolerate => {
                eprintln!("{script}: failed while stopping after SIGINT (tolerated)");
                return true;
            }
            Some(Ended::ByItself(ok) | Ended::AfterSigint(ok)) => return ok,
            None => {}
        }
        eprintln!("{script}: did not stop 30 s after SIGINT; killed");
        tries -= 1;
        match on_hang {
            OnHang::Tolerate => return true,
            OnHang::RunAgain if tries > 0 => {}
            _ => panic!("{script}: did not stop 30 s after SIGINT"),
        }
    }
}

#[test]
fn camera_to_json_stops_cleanly_on_ctrl_c() {
    let _turn = script_turn();
    // A 80 s "camera" stopped after 12 s: the counts so far, final line written.
    let clip = shared("media/synth/synth_returns.mp4");
    let camera = LoopbackCamera::serve(&[("cam", clip.as_path())]);
    let out = tmp("camera.jsonl");
    let url = PathBuf::from(camera.url("cam"));
    assert!(run_script(
        "camera-to-json.sh",
        &[("CAMERA_URL", &url), ("COUNTS_FILE", &out)],
        Duration::from_secs(12),
        OnHang::Fail
    ));
    let last = common::last_json_line(&out);
    println!("camera-to-json after 12 s: {last}");
    assert_eq!(last["event"], "counts");
    // truth checkpoint: 2-3 visitors have come in by 12 s (5 by 20 s)
    assert!(last["unique_visitors"].as_u64().unwrap() >= 1, "{last}");
}

#[test]
fn two_cameras_share_one_site() {
    let _turn = script_turn();
    let clip = shared("media/real/face-demographics-walking-and-pause.mp4");
    let camera = LoopbackCamera::serve(&[("a", clip.as_path()), ("b", clip.as_path())]);
    let (oa, ob) = (tmp("a.jsonl"), tmp("b.jsonl"));
    let (ua, ub) = (
        PathBuf::from(camera.url("a")),
        PathBuf::from(camera.url("b")),
    );
    let env = [
        ("CAMERA_A", ua.as_path()),
        ("CAMERA_B", ub.as_path()),
        ("COUNTS_A", oa.as_path()),
        ("COUNTS_B", ob.as_path()),
    ];
    // The 3 s clip ends the camera's stream: the script ends by itself in ~4 s.
    assert!(run_script(
        "two-cameras-one-site.sh",
        &env,
        Duration::from_secs(20),
        OnHang::RunAgain
    ));
    let (a, b) = (common::last_json_line(&oa), common::last_json_line(&ob));
    println!("two cameras: A {a}, B {b}");
    // The same 3 people pass both cameras: the site counts 3, not 6.
    let site = a["unique_visitors"]
        .as_u64()
        .max(b["unique_visitors"].as_u64());
    assert_eq!(site, Some(3));
}

#[test]
fn camera_to_mqtt_publishes_counts_and_discovery() {
    let _turn = script_turn();
    let clip = shared("media/synth/synth_returns.mp4");
    let camera = LoopbackCamera::serve(&[("cam", clip.as_path())]);
    let broker = common::mqtt::Broker::start("pipelines");
    let sub = broker.subscribe("pipelines-sub", &["footfall/#", "homeassistant/#"]);
    let url = PathBuf::from(camera.url("cam"));
    let mqtt = PathBuf::from(broker.url());
    assert!(run_script(
        "camera-to-mqtt.sh",
        &[
            ("CAMERA_URL", &url),
            ("MQTT_URL", &mqtt),
            ("GALLERY", Path::new("door"))
        ],
        Duration::from_secs(15),
        OnHang::Fail
    ));
    let msgs = sub.wait_for(Duration::from_secs(10), |m| {
        m.iter()
            .any(|(t, p)| t == "footfall/door/counter/availability" && p == "offline")
    });
    let counts: Vec<serde_json::Value> = msgs
        .iter()
        .filter(|(t, _)| t == "footfall/door/counter/counts")
        .map(|(_, p)| serde_json::from_str(p).unwrap())
        .collect();
    let last = counts.last().expect("counts published");
    println!(
        "camera-to-mqtt after 15 s: {} counts messages, last {last}",
        counts.len()
    );
    assert!(last["unique_visitors"].as_u64().unwrap() >= 1, "{last}");
    assert!(msgs.iter().any(
        |(t, _)| t == "homeassistant/sensor/footfall_door_counter/unique_visitors_today/config"
    ));
}

#[test]
fn file_to_json_counts_a_recording() {
    let _turn = script_turn();
    let out = tmp("file.jsonl");
    let input = shared("media/synth/synth_groups_lighting.mp4");
    assert!(run_script(
        "file-to-json.sh",
        &[("INPUT", &input), ("COUNTS_FILE", &out)],
        Duration::from_secs(300),
        OnHang::Fail
    ));
    let last = common::last_json_line(&out);
    println!("file-to-json: {last}");
    assert_eq!(last["unique_visitors"], 9);
    assert_eq!(last["visits"], 17);
}

/// `n` decoded frames (grey, tightly packed rows) from `source` (a gst-launch fragment
/// ending in raw video), after skipping the first `skip`.
fn grey_frames(source: &str, skip: usize, n: usize) -> Vec<Grey> {
    let desc = format!(
        "{source} ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=frames sync=false"
    );
    let p = common::launch(&desc).unwrap();
    let sink = p
        .by_name("frames")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    let mut seen = 0;
    while out.len() < n {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) else {
            break;
        };
        seen += 1;
        if seen <= skip {
            continue;
        }
        out.push(grey(&sample));
    }
    p.set_state(gst::State::Null).unwrap();
    out
}

/// (mean luma, share of near-white pixels) of the band where `countsoverlay` draws: white
/// text on a darkened box at the top left.
fn overlay_band(frames: &[Grey]) -> (f64, f64) {
    let (mut sum, mut white, mut count) = (0.0, 0.0, 0.0);
    for (w, _, px) in frames {
        for y in 26..50 {
            for x in 28..440 {
                let v = px[y * w + x] as f64;
                sum += v;
                white += (v >= 200.0) as u8 as f64;
                count += 1.0;
            }
        }
    }
    (sum / count, white / count)
}

/// The re-served (or pushed) video decodes, and carries the counts box the original clip
/// does not have.
fn assert_counts_drawn(name: &str, served: &[Grey], clip: &Path) {
    assert!(
        served.len() >= 10,
        "{name}: only {} frames decoded",
        served.len()
    );
    let original = grey_frames(
        &format!("filesrc location={} ! decodebin", clip.display()),
        60,
        30,
    );
    let (served_mean, served_white) = overlay_band(served);
    let (clip_mean, clip_white) = overlay_band(&original);
    println!(
        "{name}: overlay band mean {served_mean:.0} (clip {clip_mean:.0}), white {:.1} % (clip {:.1} %)",
        served_white * 100.0,
        clip_white * 100.0
    );
    assert_eq!(served[0].0, original[0].0, "{name}: width");
    assert!(
        served_mean < clip_mean - 25.0,
        "{name}: no darkened counts box"
    );
    assert!(served_white > clip_white + 0.03, "{name}: no counts text");
}

fn wait_for_port(port: u16, within: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < within, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn camera_to_nvr_reserves_the_counted_video() {
    let _turn = script_turn();
    common::init();
    let clip = shared("media/synth/synth_groups_lighting.mp4");
    let camera = LoopbackCamera::serve(&[("cam", clip.as_path())]);
    let out = tmp("nvr.jsonl");
    let port = common::free_port();
    let (url, port_s) = (
        PathBuf::from(camera.url("cam")),
        PathBuf::from(port.to_string()),
    );
    let env: Vec<(&str, PathBuf)> = vec![
        ("CAMERA_URL", url),
        ("COUNTS_FILE", out.clone()),
        ("RTSP_PORT", port_s),
        ("FOOTFALL", PathBuf::from(env!("CARGO_BIN_EXE_footfall"))),
    ];
    let script = std::thread::spawn(move || {
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        run_script(
            "camera-to-nvr.sh",
            &env,
            Duration::from_secs(25),
            OnHang::Fail,
        )
    });
    wait_for_port(port, Duration::from_secs(20));
    // An NVR's view: the re-served stream over RTSP, decoded.
    let served = grey_frames(
        &format!(
            "rtspsrc location=rtsp://127.0.0.1:{port}/footfall protocols=tcp latency=300 \
             ! rtph264depay ! h264parse ! avdec_h264"
        ),
        30,
        30,
    );
    assert!(script.join().unwrap(), "camera-to-nvr.sh failed");
    assert_counts_drawn("camera-to-nvr", &served, &clip);
    let last = common::last_json_line(&out);
    println!("camera-to-nvr counts: {last}");
    assert_eq!(last["event"], "counts");
    assert!(last["unique_visitors"].as_u64().unwrap() >= 1, "{last}");
}

#[test]
fn camera_to_rtsp_server_pushes_the_counted_video() {
    let _turn = script_turn();
    use gst_rtsp_server::prelude::*;
    common::init();
    let clip = shared("media/synth/synth_groups_lighting.mp4");
    let camera = LoopbackCamera::serve(&[("cam", clip.as_path())]);
    // The existing RTSP server an NVR reads from: accepts the pushed stream (RECORD) and
    // decodes it, as its clients would.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r2 = received.clone();
    let server = footfall_app::rtsp_server::RtspServer::start(
        "127.0.0.1",
        0,
        &[footfall_app::rtsp_server::Mount {
            name: "push".into(),
            launch: "rtph264depay name=depay0 ! h264parse ! avdec_h264 ! videoconvert \
                     ! video/x-raw,format=GRAY8 ! appsink name=frames sync=false"
                .into(),
            record: true,
            ..Default::default()
        }],
        move |_, media| {
            let sink = media
                .element()
                .downcast::<gst::Bin>()
                .unwrap()
                .by_name("frames")
                .unwrap()
                .downcast::<gst_app::AppSink>()
                .unwrap();
            let r3 = r2.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let mut r = r3.lock().unwrap();
                        if r.len() < 90 {
                            r.push(grey(&sample));
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        },
    )
    .unwrap();
    let out = tmp("push.jsonl");
    let (url, push) = (
        PathBuf::from(camera.url("cam")),
        PathBuf::from(server.url("push")),
    );
    assert!(run_script(
        "camera-to-rtsp-server.sh",
        &[
            ("CAMERA_URL", &url),
            ("PUSH_URL", &push),
            ("COUNTS_FILE", &out)
        ],
        Duration::from_secs(20),
        OnHang::Tolerate
    ));
    let frames = std::mem::take(&mut *received.lock().unwrap());
    assert_counts_drawn(
        "camera-to-rtsp-server",
        &frames[30.min(frames.len())..],
        &clip,
    );
    let last = common::last_json_line(&out);
    println!("camera-to-rtsp-server counts: {last}");
    assert_eq!(last["event"], "counts");
}
