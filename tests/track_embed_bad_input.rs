//! Bad input for `facetracker` and `faceembedder`: wrong models, no tracker upstream, and
//! frames with 0 or 200 faces — a clear error or a correct result, never a panic.

mod common;

use common::{run_pipeline, shared};

fn chain(embedder_props: &str, src: &str) -> String {
    format!(
        "{src} ! facedetector model={} ! facetracker ! faceembedder {embedder_props} ! fakesink name=sink",
        common::detector_model().display()
    )
}

const CLIP_SRC: &str = "filesrc location=CLIP ! decodebin ! videoconvert";

fn clip_src() -> String {
    CLIP_SRC.replace(
        "CLIP",
        shared("media/real/head-pose-face-detection-male.mp4")
            .to_str()
            .unwrap(),
    )
}

#[test]
fn embedder_model_with_the_wrong_contract() {
    let run = run_pipeline(
        &chain(
            &format!("model={}", common::detector_model().display()),
            &clip_src(),
        ),
        60,
    );
    let e = run.error.expect("error");
    assert!(
        e.contains("does not match the face embedder contract") && e.contains("chip_rgb"),
        "{e}"
    );
}

#[test]
fn embedder_model_missing() {
    let run = run_pipeline(&chain("model=/nonexistent/emb.onnx", &clip_src()), 60);
    let e = run.error.expect("error");
    assert!(
        e.contains("/nonexistent/emb.onnx") && e.contains("not found"),
        "{e}"
    );
}

#[test]
fn embedder_without_tracker_warns_and_embeds_nothing() {
    let run = run_pipeline(
        &format!(
            "{} ! facedetector model={} ! faceembedder model={} ! fakesink name=sink",
            clip_src(),
            common::detector_model().display(),
            shared("models/face_embedder.onnx").display()
        ),
        60,
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(
        run.warnings.iter().any(|w| w.contains("facetracker")),
        "{:?}",
        run.warnings
    );
    assert_eq!(run.embeddings.iter().flatten().count(), 0);
}

#[test]
fn zero_faces_pass_untouched() {
    let run = run_pipeline(
        &chain(
            &format!("model={}", shared("models/face_embedder.onnx").display()),
            "videotestsrc num-buffers=30 pattern=snow ! video/x-raw,width=320,height=240",
        ),
        60,
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.frames.len(), 30);
    assert!(run.frames.iter().all(|f| f.2.is_empty()));
    assert!(run.embeddings.iter().all(|e| e.is_empty()));
}

/// The 200-face mosaic of the detector's bad-input test, held for 4 frames: every face gets
/// a track, the embedder batches them, and no track is embedded twice within the interval.
#[test]
fn two_hundred_faces_tracked_and_embedded() {
    let mosaic = std::env::temp_dir().join(format!("footfall-mosaic-{}.png", std::process::id()));
    common::write_mosaic_of_200_faces(&mosaic);
    let run = run_pipeline(
        &format!(
            "filesrc location={} ! pngdec ! videoconvert ! imagefreeze num-buffers=4 ! facedetector inference-width=1280 max-faces=0 model={} \
             ! facetracker ! faceembedder batch-size=16 min-quality=0 model={} ! fakesink name=sink",
            mosaic.display(),
            common::detector_model().display(),
            shared("models/face_embedder.onnx").display()
        ),
        300,
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    let faces = run.frames[3].2.len();
    let tracked: std::collections::BTreeSet<u64> =
        run.frames[3].2.iter().filter_map(|f| f.track_id).collect();
    assert!(
        faces >= 190 && tracked.len() == faces,
        "{faces} faces, {} tracked",
        tracked.len()
    );
    assert!(run.frames[3]
        .2
        .iter()
        .all(|f| f.state.map(|s| s.as_str()) == Some("tracked")));
    let first: Vec<u64> = run.embeddings[0].iter().map(|e| e.0).collect();
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len(), "one embedding per track");
    assert_eq!(
        first.len(),
        faces,
        "min-quality=0: every face embedded in one frame"
    );
    assert!(
        run.embeddings[1..].iter().all(|e| e.is_empty()),
        "re-embedding before reembed-interval"
    );
    println!(
        "mosaic: {faces} faces, {} tracks, {} embedded on the first frame",
        tracked.len(),
        first.len()
    );
}
