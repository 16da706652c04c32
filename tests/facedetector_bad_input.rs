//! Bad input for `facedetector`: clear element errors (asserted by text) or correct results,
//! never a panic or a hang.

mod common;

use std::path::PathBuf;

use common::{run_pipeline, shared};
use gst::prelude::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("footfall-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn detector_with(props: &str) -> String {
    format!("videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 ! facedetector {props} ! fakesink name=sink")
}

fn expect_error(desc: &str, needles: &[&str]) -> String {
    let run = run_pipeline(desc, 60);
    let err = run
        .error
        .unwrap_or_else(|| panic!("expected an error from: {desc}"));
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
    err
}

#[test]
fn missing_model_file() {
    expect_error(
        &detector_with("model=/nonexistent/face.onnx"),
        &["/nonexistent/face.onnx", "not found"],
    );
}

#[test]
fn model_that_is_not_onnx() {
    let p = tmp("not-a-model.onnx");
    std::fs::write(&p, b"this is plain text, not a protobuf").unwrap();
    expect_error(
        &detector_with(&format!("model={}", p.display())),
        &["cannot load model", "not-a-model.onnx", "valid ONNX"],
    );
}

#[test]
fn onnx_model_with_the_wrong_contract() {
    // The embedder is a valid ONNX model, but not a YuNet detector.
    let embedder = shared("models/face_embedder.onnx");
    expect_error(
        &detector_with(&format!("model={}", embedder.display())),
        &[
            "does not match the YuNet detector contract",
            "no input named 'input'",
        ],
    );
}

#[test]
fn unknown_device() {
    expect_error(
        &detector_with(&format!(
            "device=tpu model={}",
            common::detector_model().display()
        )),
        &["unknown device 'tpu'"],
    );
}

#[test]
fn cuda_without_a_cuda_runtime_is_a_clear_error() {
    gstfootfall::onnx_runtime::ensure_loaded().unwrap();
    let run = run_pipeline(
        &detector_with(&format!(
            "device=cuda model={}",
            common::detector_model().display()
        )),
        60,
    );
    match run.error {
        // CPU-only onnxruntime wheel (CI): must say what is missing and what to do.
        Some(e) => assert!(
            e.contains("CUDAExecutionProvider") && e.contains("device=cpu"),
            "{e}"
        ),
        // A CUDA-enabled runtime on a GPU machine: it simply works.
        None => assert_eq!(run.frames.len(), 5),
    }
}

#[test]
fn unsupported_caps_do_not_negotiate() {
    // Linked without a caps check (as an application might), negotiation fails at run time.
    common::init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 5)
        .build()
        .unwrap();
    let filter = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "GRAY8")
                .build(),
        )
        .build()
        .unwrap();
    let det = gst::ElementFactory::make("facedetector")
        .property("model", common::detector_model().to_str().unwrap())
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &filter, &det, &sink]).unwrap();
    src.link(&filter).unwrap();
    det.link(&sink).unwrap();
    filter
        .static_pad("src")
        .unwrap()
        .link_full(&det.static_pad("sink").unwrap(), gst::PadLinkCheck::empty())
        .unwrap();
    let err = common::play_to_eos(&pipeline, Some(std::time::Duration::from_secs(30))).unwrap_err();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(err.contains("not-negotiated"), "{err}");
    // Linked directly, gst-launch refuses the link and says why.
    expect_error(
        &format!(
            "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=320,height=240 ! facedetector model={} ! fakesink name=sink",
            common::detector_model().display()
        ),
        &["can't handle caps", "GRAY8"],
    );
}

#[test]
fn tiny_and_odd_frames_work() {
    for (w, h, fmt) in [
        (1, 1, "I420"),
        (7, 5, "I420"),
        (33, 17, "NV12"),
        (3, 100, "RGB"),
        (2000, 8, "BGRx"),
    ] {
        let run = run_pipeline(
            &format!(
                "videotestsrc num-buffers=3 ! video/x-raw,format={fmt},width={w},height={h} ! facedetector model={} ! fakesink name=sink",
                common::detector_model().display()
            ),
            60,
        );
        assert!(run.error.is_none(), "{w}x{h} {fmt}: {:?}", run.error);
        assert_eq!(run.frames.len(), 3, "{w}x{h} {fmt}");
    }
}

/// The mosaic of 200 faces, written once per test process.
fn mosaic_of_200_faces() -> PathBuf {
    let path = tmp("mosaic200.png");
    common::write_mosaic_of_200_faces(&path);
    path
}

#[test]
fn two_hundred_faces_in_one_frame() {
    let mosaic = mosaic_of_200_faces();
    let pipeline = |props: &str| {
        format!(
            "filesrc location={} ! pngdec ! videoconvert ! imagefreeze num-buffers=2 ! facedetector inference-width=1280 {props} model={} ! fakesink name=sink",
            mosaic.display(),
            common::detector_model().display()
        )
    };
    let run = run_pipeline(&pipeline("max-faces=0"), 120);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.frames.len(), 2);
    let n = run.frames[0].2.len();
    println!("mosaic: {n} of 200 faces found");
    assert!((190..=200).contains(&n), "{n} faces of 200");
    // every face lies in its own cell: no duplicates, nothing in between
    let mut cells: Vec<(u32, u32)> = run.frames[0]
        .2
        .iter()
        .map(|f| {
            let b = f.bbox();
            (
                ((b.x1 + b.x2) / 2.0 / 64.0) as u32,
                ((b.y1 + b.y2) / 2.0 / 64.0) as u32,
            )
        })
        .collect();
    cells.sort();
    cells.dedup();
    assert_eq!(cells.len(), n, "one face per mosaic cell");

    let run = run_pipeline(&pipeline("max-faces=50"), 120);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.frames[0].2.len(), 50);
    let scores: Vec<f32> = run.frames[0].2.iter().map(|f| f.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best faces first");
}
