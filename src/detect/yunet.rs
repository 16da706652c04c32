//! The YuNet face detector as an ONNX Runtime session: contract check at load time,
//! inference on a prepared tensor, decoding + NMS + mapping back to frame pixels.

use std::path::Path;

use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions};
use ort::value::Tensor;

use super::geometry::{Face, Letterbox};
use super::nms::nms;
use super::yunet_decode::{decode_stride, StrideOutputs, STRIDES};
use crate::model_contract::{Contract, TensorSpec};
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
    /// The input and outputs of runs for one tensor size, made once per size.
    io: Option<RunIo>,
    /// Decoded candidates, reused between frames.
    scratch: Vec<Face>,
    /// The 12 raw outputs copied out of the run (per stride: cls, obj, bbox, kps), reused
    /// between frames: decoding and NMS run on them after the session is released.
    raw: [[Vec<f32>; 4]; 3],
}

/// What a run needs that `ort` would otherwise allocate on every run: the input tensor
/// (the preprocessor writes into it) and the 12 outputs, preallocated in the run options
/// so ONNX Runtime writes into them.
struct RunIo {
    size: (u32, u32),
    input: Tensor<f32>,
    options: RunOptions<HasSelectedOutputs>,
}

impl RunIo {
    fn new(w: u32, h: u32) -> Result<RunIo, String> {
        let fail = |e: ort::Error| format!("cannot allocate the detector's tensors: {e}");
        let cpu = Allocator::default();
        let mut input =
            Tensor::<f32>::new(&cpu, [1usize, 3, h as usize, w as usize]).map_err(fail)?;
        // Padding right of and below the picture must read as black (zero).
        input.extract_tensor_mut().1.fill(0.0);
        let mut outputs = OutputSelector::default();
        for (stride, names) in STRIDES.into_iter().zip(OUTPUT_NAMES) {
            let anchors = ((w / stride) * (h / stride)) as usize;
            for (name, (_, last)) in names.into_iter().zip(OUTPUT_KINDS) {
                let output = Tensor::<f32>::new(&cpu, [1, anchors, last as usize]).map_err(fail)?;
                outputs = outputs.preallocate(name, output);
            }
        }
        let options = RunOptions::new().map_err(fail)?.with_outputs(outputs);
        Ok(RunIo {
            size: (w, h),
            input,
            options,
        })
    }
}

const INPUT: &str = "input";

/// The output names per stride (in [`STRIDES`] order) and kind (in [`OUTPUT_KINDS`] order):
/// constants, so a run looks them up without formatting names per frame.
const OUTPUT_NAMES: [[&str; 4]; 3] = [
    ["cls_8", "obj_8", "bbox_8", "kps_8"],
    ["cls_16", "obj_16", "bbox_16", "kps_16"],
    ["cls_32", "obj_32", "bbox_32", "kps_32"],
];

/// Last dimension of each output kind (`[1, anchors, last]`).
const OUTPUT_KINDS: [(&str, i64); 4] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)];

/// An output `[N, A, last]`: batch, anchors, the kind's values.
const fn output(name: &'static str, last: &'static [Option<i64>]) -> TensorSpec {
    TensorSpec { name, dims: last }
}
const SCORE: &[Option<i64>] = &[None, None, Some(1)];
const BOX: &[Option<i64>] = &[None, None, Some(4)];
const KPS: &[Option<i64>] = &[None, None, Some(10)];

/// The YuNet contract (PROVENANCE.md §1): one float input `input` `[N,3,H,W]` and the 12
/// float outputs `{cls,obj,bbox,kps}_{8,16,32}` with last dimensions 1, 1, 4, 10.
pub const CONTRACT: Contract = Contract {
    what: "the YuNet detector contract (PROVENANCE.md §1)",
    inputs: &[TensorSpec {
        name: INPUT,
        dims: &[None, Some(3), None, None],
    }],
    outputs: &[
        output("cls_8", SCORE),
        output("obj_8", SCORE),
        output("bbox_8", BOX),
        output("kps_8", KPS),
        output("cls_16", SCORE),
        output("obj_16", SCORE),
        output("bbox_16", BOX),
        output("kps_16", KPS),
        output("cls_32", SCORE),
        output("obj_32", SCORE),
        output("bbox_32", BOX),
        output("kps_32", KPS),
    ],
};

impl YuNet {
    /// Loads the model (or joins the process's session of it) and verifies its inputs/outputs.
    pub fn load(model: &Path, device: Device, threads: u32) -> Result<YuNet, String> {
        let session = shared_session(model, device, threads, |s| {
            CONTRACT
                .check(s)
                .map_err(|e| format!("'{}': {e}", model.display()))
        })?;
        Ok(YuNet {
            session,
            io: None,
            scratch: Vec::new(),
            raw: Default::default(),
        })
    }

    /// The ONNX Runtime session this detector runs on (shared by the process).
    pub fn session(&self) -> &SharedSession {
        &self.session
    }

    /// The input tensor for `lb` (NCHW BGR 0..255, `lb.tensor_w` x `lb.tensor_h`, batch 1,
    /// zero outside the picture) to fill before [`YuNet::detect`]. Made on the first frame
    /// of a size, then the same buffer every frame.
    pub fn input(&mut self, lb: &Letterbox) -> Result<&mut [f32], String> {
        let size = (lb.tensor_w, lb.tensor_h);
        if self.io.as_ref().map(|io| io.size) != Some(size) {
            self.io = Some(RunIo::new(size.0, size.1)?);
        }
        let io = self.io.as_mut().expect("just made");
        io.input
            .try_extract_tensor_mut()
            .map(|(_, data)| data)
            .map_err(|e| format!("detector input: {e}"))
    }

    /// Runs the detector on the input filled through [`YuNet::input`] for `lb` and appends
    /// the faces, in frame pixels, to `out`.
    pub fn detect(
        &mut self,
        lb: &Letterbox,
        params: &DetectParams,
        out: &mut Vec<Face>,
    ) -> Result<(), String> {
        let (w, h) = (lb.tensor_w, lb.tensor_h);
        self.run_into_raw((w, h))?;
        self.scratch.clear();
        for (stride, [cls, obj, bbox, kps]) in STRIDES.into_iter().zip(&self.raw) {
            let so = StrideOutputs {
                stride,
                cls,
                obj,
                bbox,
                kps,
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

    /// One run of a session of the pool, its outputs copied into `raw`; the session is
    /// free again for another camera's frame as soon as the copy is made.
    fn run_into_raw(&mut self, size: (u32, u32)) -> Result<(), String> {
        let io = self
            .io
            .as_ref()
            .filter(|io| io.size == size)
            .ok_or("the detector input was not filled for this size")?;
        let mut session = self.session.lock();
        let outputs = session
            .run_with_options(ort::inputs![&io.input], &io.options)
            .map_err(|e| format!("detector inference failed: {e}"))?;
        for (names, raw) in OUTPUT_NAMES.iter().zip(&mut self.raw) {
            for (name, copy) in names.iter().zip(raw) {
                let (_, data) = outputs
                    .get(name)
                    .ok_or_else(|| format!("detector produced no '{name}'"))?
                    .try_extract_tensor::<f32>()
                    .map_err(|e| format!("detector output '{name}': {e}"))?;
                copy.clear();
                copy.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_strides_and_kinds() {
        let mut contract = CONTRACT.outputs.iter();
        for (stride, names) in STRIDES.into_iter().zip(OUTPUT_NAMES) {
            for (name, (kind, last)) in names.into_iter().zip(OUTPUT_KINDS) {
                assert_eq!(name, format!("{kind}_{stride}"));
                let spec = contract.next().unwrap();
                assert_eq!((spec.name, spec.dims[2]), (name, Some(last)));
            }
        }
    }
}
