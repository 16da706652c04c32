//! The dlib ResNet face embedder (PROVENANCE.md §2) as an ONNX Runtime session: contract
//! check at load time and batched inference on aligned chips.

use std::path::Path;

use ort::value::TensorRef;

use super::align::CHIP;
use crate::model_contract::{Contract, TensorSpec};
use crate::onnx_runtime::{shared_session, Device, SharedSession};

/// Length of an embedding.
pub const DIM: usize = 128;
const INPUT: &str = "chip_rgb";
const OUTPUT: &str = "embedding";

pub type Embedding = [f32; DIM];

/// Euclidean distance, the metric the embedder was trained for.
pub fn distance(a: &Embedding, b: &Embedding) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

pub struct Embedder {
    session: SharedSession,
}

/// The embedder contract (PROVENANCE.md §2): input `chip_rgb` float32 `[N,3,150,150]` and
/// output `embedding` float32 `[N,128]`.
pub const CONTRACT: Contract = Contract {
    what: "the face embedder contract (PROVENANCE.md §2)",
    inputs: &[TensorSpec {
        name: INPUT,
        dims: &[None, Some(3), Some(CHIP as i64), Some(CHIP as i64)],
    }],
    outputs: &[TensorSpec {
        name: OUTPUT,
        dims: &[None, Some(DIM as i64)],
    }],
};

impl Embedder {
    pub fn load(model: &Path, device: Device, threads: u32) -> Result<Embedder, String> {
        let session = shared_session(model, device, threads, |s| {
            CONTRACT
                .check(s)
                .map_err(|e| format!("'{}': {e}", model.display()))
        })?;
        Ok(Embedder { session })
    }

    /// The ONNX Runtime session this embedder runs on (shared by the process).
    pub fn session(&self) -> &SharedSession {
        &self.session
    }

    /// Embeds `chips` (N planar RGB 150x150 chips, 0..255, back to back) as one batch and
    /// appends the N embeddings to `out`.
    pub fn embed(&mut self, chips: &[f32], out: &mut Vec<Embedding>) -> Result<(), String> {
        let per = 3 * CHIP * CHIP;
        if chips.is_empty() {
            return Ok(());
        }
        if !chips.len().is_multiple_of(per) {
            return Err(format!(
                "chip buffer of {} floats is not a whole number of chips",
                chips.len()
            ));
        }
        let n = chips.len() / per;
        let input = TensorRef::from_array_view(([n, 3, CHIP, CHIP], chips))
            .map_err(|e| format!("cannot wrap the embedder input: {e}"))?;
        let mut session = self.session.lock();
        let outputs = session
            .run(ort::inputs![INPUT => input])
            .map_err(|e| format!("embedder inference failed: {e}"))?;
        let (_, data) = outputs
            .get(OUTPUT)
            .ok_or("embedder produced no 'embedding'")?
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("embedder output: {e}"))?;
        if data.len() != n * DIM {
            return Err(format!(
                "embedder returned {} values for {n} faces",
                data.len()
            ));
        }
        for row in data.chunks_exact(DIM) {
            let mut e = [0.0f32; DIM];
            e.copy_from_slice(row);
            out.push(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euclidean_distance() {
        let mut a = [0.0f32; DIM];
        let mut b = [0.0f32; DIM];
        a[0] = 3.0;
        b[1] = 4.0;
        assert_eq!(distance(&a, &b), 5.0);
        assert_eq!(distance(&a, &a), 0.0);
    }
}
