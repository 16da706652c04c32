//! `footfallbin`: the chain in one element counts like the explicit chain, forwards its
//! properties, and exposes every child property through the child proxy.

mod common;

use common::play_to_eos;
use common::shared;
use gst::prelude::*;

#[test]
fn one_element_after_the_decoder_counts_like_the_chain() {
    common::init();
    let json = std::env::temp_dir().join(format!("footfall-bin-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&json);
    let p = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! footfallbin name=ff gallery=bin-test location={} \
         detector-model={} embedder-model={} counter::report-interval=5 ! fakesink sync=false",
        shared("media/synth/synth_returns.mp4").display(),
        json.display(),
        common::detector_model().display(),
        shared("models/face_embedder.onnx").display(),
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bin = p.by_name("ff").unwrap();
    let counter = bin
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("counter")
        .unwrap();
    assert_eq!(counter.property::<u32>("report-interval"), 5, "child proxy");
    assert_eq!(
        counter.property::<Option<String>>("gallery").as_deref(),
        Some("bin-test")
    );
    play_to_eos(&p, Some(std::time::Duration::from_secs(600))).unwrap();
    p.set_state(gst::State::Null).unwrap();
    let last = common::last_json_line(&json);
    println!("footfallbin on synth_returns: {last}");
    // The explicit chain's result on this clip (tests/facecounter.rs): 8 unique, 17 visits.
    assert_eq!(
        (last["unique_visitors"].as_u64(), last["visits"].as_u64()),
        (Some(8), Some(17))
    );
}

#[test]
fn forwarded_properties_reach_every_child_that_has_them() {
    common::init();
    let bin = gst::ElementFactory::make("footfallbin").build().unwrap();
    let child = |name: &str| {
        bin.downcast_ref::<gst::Bin>()
            .unwrap()
            .by_name(name)
            .unwrap()
    };
    assert_eq!(bin.property::<f32>("match-threshold"), 0.52);
    bin.set_property("match-threshold", 0.45f32);
    assert_eq!(child("counter").property::<f32>("match-threshold"), 0.45);
    bin.set_property("device", "cuda");
    assert_eq!(child("detector").property::<String>("device"), "cuda");
    assert_eq!(child("embedder").property::<String>("device"), "cuda");
    // The bin detects on every 3rd frame by default (its tracker fills the others); a bare
    // facedetector on every frame.
    assert_eq!(bin.property::<u32>("inference-interval"), 3);
    assert_eq!(child("detector").property::<u32>("inference-interval"), 3);
    let spec = bin.find_property("inference-interval").unwrap();
    assert_eq!(spec.default_value().get::<u32>().unwrap(), 3);
    let bare = gst::ElementFactory::make("facedetector").build().unwrap();
    assert_eq!(bare.property::<u32>("inference-interval"), 1);
    bin.set_property("inference-interval", 1u32);
    assert_eq!(child("detector").property::<u32>("inference-interval"), 1);
    assert_eq!(bin.property::<u32>("inference-interval"), 1);
}

#[test]
fn a_bad_model_is_a_clear_error_not_a_crash() {
    let run = common::run_pipeline(
        "videotestsrc num-buffers=3 ! footfallbin detector-model=/nonexistent/model.onnx ! fakesink name=sink",
        30,
    );
    let e = run.error.unwrap_or_default();
    assert!(e.contains("/nonexistent/model.onnx"), "{e}");
}
