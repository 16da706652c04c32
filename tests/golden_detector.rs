//! Golden test: the detector on the 45 eval photos, prepared as PROVENANCE.md §1 says
//! (fitted into 640x640, zero-padded to /32, score 0.6, NMS 0.3, largest face), matches
//! eval/reference_outputs.json: same face count, box IoU >= 0.95, landmarks within 1 px.
//! Runs the same preprocessing, decoding and NMS code as the `facedetector` element.
//!
//! "1 px" is 1 photo px, or 1 px at the detector input resolution (the 640x640 fit) where that
//! is coarser: photos up to
//! 2048 px wide are shrunk ~3x, and JPEG decoder or resize rounding differences of one grey
//! level move a landmark of a 500 px face by ~0.5 input px = 1.5-2 photo px. Landmarks are
//! also counted within 1 photo px, and that count must cover all but at most 2 photos.

mod common;

use gstfootfall::detect::geometry::{BBox, Letterbox};
use gstfootfall::detect::preprocess::{FrameRef, PixelLayout, Preprocessor};
use gstfootfall::detect::yunet::{DetectParams, YuNet};
use gstfootfall::onnx_runtime::{ensure_loaded, Device};

#[test]
fn detector_matches_reference_outputs_on_eval_photos() {
    ensure_loaded().expect("ONNX Runtime");
    let eval = common::shared("models/eval");
    let reference = common::reference_faces();
    assert_eq!(reference.len(), 45);
    let mut yunet = YuNet::load(&common::detector_model(), Device::Cpu, 1).unwrap();
    let mut pre = Preprocessor::new();
    let params = DetectParams::default();
    let (mut worst_iou, mut worst_lm, mut worst_score) = (1.0f32, 0.0f32, 0.0f32);
    let mut failures = vec![];
    let mut within_1px_photo = 0;
    for r in &reference {
        let img = image::open(eval.join(&r.path)).unwrap().to_rgb8();
        assert_eq!([img.width(), img.height()], r.image_wh, "{}", r.path);
        let frame = FrameRef::packed(
            PixelLayout::Rgb,
            img.width(),
            img.height(),
            img.as_raw(),
            img.width() as usize * 3,
        );
        let lb = Letterbox::fit(img.width(), img.height(), 640, 640);
        pre.prepare(&frame, &lb, yunet.input(&lb).unwrap()).unwrap();
        let mut faces = vec![];
        yunet.detect(&lb, &params, &mut faces).unwrap();
        if faces.len() != r.faces_found {
            failures.push(format!(
                "{}: {} faces, reference {}",
                r.path,
                faces.len(),
                r.faces_found
            ));
            continue;
        }
        let largest = faces
            .iter()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
            .unwrap();
        let rb = BBox::new(r.box_xyxy[0], r.box_xyxy[1], r.box_xyxy[2], r.box_xyxy[3]);
        let iou = largest.bbox.iou(&rb);
        let lm = largest
            .landmarks
            .iter()
            .zip(&r.landmarks_xy)
            .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
            .fold(0.0f32, f32::max);
        let lm_input = lm * lb.scale;
        if lm <= 1.0 {
            within_1px_photo += 1;
        }
        worst_iou = worst_iou.min(iou);
        worst_lm = worst_lm.max(lm);
        worst_score = worst_score.max((largest.score - r.score).abs());
        if iou < 0.95 || (lm > 1.0 && lm_input > 1.0) {
            failures.push(format!(
                "{}: IoU {iou:.3}, landmark error {lm:.2} px",
                r.path
            ));
        }
    }
    println!(
        "golden detector: worst IoU {worst_iou:.4}, worst landmark error {worst_lm:.3} photo px, \
         {within_1px_photo}/45 photos with all landmarks within 1 photo px, worst score diff {worst_score:.4}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        within_1px_photo >= 43,
        "only {within_1px_photo}/45 within 1 photo px"
    );
}

/// Detectors (one per camera) loading the same model share one ONNX Runtime session; another
/// thread count is another session, and the session closes with its last user.
#[test]
fn detectors_of_one_model_share_one_session() {
    ensure_loaded().expect("ONNX Runtime");
    let model = common::detector_model();
    let a = YuNet::load(&model, Device::Cpu, 1).unwrap();
    let b = YuNet::load(&model, Device::Cpu, 1).unwrap();
    assert!(a.session().same_as(b.session()));
    let c = YuNet::load(&model, Device::Cpu, 2).unwrap();
    assert!(!a.session().same_as(c.session()));
    let weak = a.session().clone();
    drop((a, b));
    let d = YuNet::load(&model, Device::Cpu, 1).unwrap();
    assert!(d.session().same_as(&weak), "a session still held is reused");
    drop((d, weak, c));
    // A malformed file is still refused, shared registry or not.
    let bad = std::env::temp_dir().join(format!("footfall-bad-{}.onnx", std::process::id()));
    std::fs::write(&bad, b"not a model").unwrap();
    assert!(YuNet::load(&bad, Device::Cpu, 1).is_err());
    let _ = std::fs::remove_file(bad);
}
