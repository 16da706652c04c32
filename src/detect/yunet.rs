//! The YuNet face detector as an ONNX Runtime session: contract check at load time,
//! inference on a prepared tensor, decoding + NMS + mapping back to frame pixels.

use std::path::Path;

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::geometry::{Face, Letterbox};
use super::nms::nms;
use super::yunet_decode::{decode_stride, StrideOutputs, STRIDES};
use crate::onnx_runtime::{shared_session, Device, SharedSession};

/// Post-processing settings (PROVENANCE.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectParams {
    /// Minimum `sqrt(cls*obj)` score.
    pub score_threshold: f32,
    /// NMS drops boxes overlapping a kept one by more than this IoU.
    pub nms_iou: f32,
    /// Faces narrower than this many frame pixels are dropped.
    pub min_face_size: f32,
    /// At most this many faces per frame, best scores first (0 = no limit).
    pub max_faces: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            min_face_size: 0.0,
            max_faces: 0,
        }
    }
}

pub struct YuNet {
    session: SharedSession,
    /// Decoded candidates, reused between frames.
    scratch: Vec<Face>,
}

const INPUT: &str = "input";

fn output_name(kind: &str, stride: u32) -> String {
    format!("{kind}_{stride}")
}

/// Last dimension each output kind must have.
const OUTPUT_KINDS: [(&str, i64); 4] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)];

/// Checks that a session has the YuNet contract: one float input `input` `[N,3,H,W]` and the
/// 12 float outputs `{cls,obj,bbox,kps}_{8,16,32}` with last dimensions 1, 1, 4, 10.
pub fn check_contract(session: &Session) -> Result<(), String> {
    let bad = |what: String| {
        Err(format!(
            "model does not match the YuNet detector contract (PROVENANCE.md §1): {what}"
        ))
    };
    let input = session.inputs().iter().find(|i| i.name() == INPUT);
    match input.map(|i| i.dtype()) {
        Some(ValueType::Tensor { ty, shape, .. })
            if *ty == TensorElementType::Float32
                && shape.len() == 4
                && (shape[1] == 3 || shape[1] < 0) => {}
        Some(other) => {
            return bad(format!(
                "input '{INPUT}' is {other}, expected float32 [N,3,H,W]"
            ))
        }
        None => {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            return bad(format!("no input named '{INPUT}' (inputs: {names:?})"));
        }
    }
    for stride in STRIDES {
        for (kind, last) in OUTPUT_KINDS {
            let name = output_name(kind, stride);
            let out = session.outputs().iter().find(|o| o.name() == name);
            match out.map(|o| o.dtype()) {
                Some(ValueType::Tensor { ty, shape, .. })
                    if *ty == TensorElementType::Float32
                        && shape.len() == 3
                        && (shape[2] == last || shape[2] < 0) => {}
                Some(other) => {
                    return bad(format!(
                        "output '{name}' is {other}, expected float32 [N,A,{last}]"
                    ))
                }
                None => return bad(format!("no output named '{name}'")),
            }
        }
    }
    Ok(())
}

impl YuNet {
    /// Loads the model (or joins the process's session of it) and verifies its inputs/outputs.
    pub fn load(model: &Path, device: Device, threads: u32) -> Result<YuNet, String> {
        let session = shared_session(model, device, threads, |s| {
            check_contract(s).map_err(|e| format!("'{}': {e}", model.display()))
        })?;
        Ok(YuNet {
            session,
            scratch: Vec::new(),
        })
    }

    /// The ONNX Runtime session this detector runs on (shared by the process).
    pub fn session(&self) -> &SharedSession {
        &self.session
    }

    /// Runs the detector on `tensor` (NCHW BGR 0..255, `lb.tensor_w` x `lb.tensor_h`, batch 1)
    /// and appends the faces, in frame pixels, to `out`.
    pub fn detect(
        &mut self,
        tensor: &[f32],
        lb: &Letterbox,
        params: &DetectParams,
        out: &mut Vec<Face>,
    ) -> Result<(), String> {
        let (w, h) = (lb.tensor_w, lb.tensor_h);
        let shape = [1usize, 3, h as usize, w as usize];
        let input = TensorRef::from_array_view((shape, tensor))
            .map_err(|e| format!("cannot wrap the detector input: {e}"))?;
        let mut session = self.session.lock();
        let outputs = session
            .run(ort::inputs![INPUT => input])
            .map_err(|e| format!("detector inference failed: {e}"))?;

        self.scratch.clear();
        for stride in STRIDES {
            let get = |kind: &str| -> Result<&[f32], String> {
                let name = output_name(kind, stride);
                let v = outputs
                    .get(&name)
                    .ok_or_else(|| format!("detector produced no '{name}'"))?;
                v.try_extract_tensor::<f32>()
                    .map(|(_, data)| data)
                    .map_err(|e| format!("detector output '{name}': {e}"))
            };
            let so = StrideOutputs {
                stride,
                cls: get("cls")?,
                obj: get("obj")?,
                bbox: get("bbox")?,
                kps: get("kps")?,
            };
            decode_stride(&so, w, h, params.score_threshold, &mut self.scratch)?;
        }
        nms(&mut self.scratch, params.nms_iou, 0);
        let max = if params.max_faces == 0 {
            usize::MAX
        } else {
            params.max_faces
        };
        out.extend(
            self.scratch
                .iter()
                .map(|f| lb.to_frame(f))
                .filter(|f| f.bbox.width() >= params.min_face_size)
                .take(max),
        );
        Ok(())
    }
}
