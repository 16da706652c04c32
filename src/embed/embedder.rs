//! The dlib ResNet face embedder (PROVENANCE.md §2) as an ONNX Runtime session: contract
//! check at load time and batched inference on aligned chips.

use std::path::Path;

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::align::CHIP;
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

/// Checks input `chip_rgb` float32 `[N,3,150,150]` and output `embedding` float32 `[N,128]`.
pub fn check_contract(session: &Session) -> Result<(), String> {
    let bad = |what: String| {
        Err(format!(
            "model does not match the face embedder contract (PROVENANCE.md §2): {what}"
        ))
    };
    let dim_ok = |d: i64, want: i64| d == want || d < 0;
    match session
        .inputs()
        .iter()
        .find(|i| i.name() == INPUT)
        .map(|i| i.dtype())
    {
        Some(ValueType::Tensor { ty, shape, .. })
            if *ty == TensorElementType::Float32
                && shape.len() == 4
                && dim_ok(shape[1], 3)
                && dim_ok(shape[2], CHIP as i64)
                && dim_ok(shape[3], CHIP as i64) => {}
        Some(other) => {
            return bad(format!(
                "input '{INPUT}' is {other}, expected float32 [N,3,150,150]"
            ))
        }
        None => {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            return bad(format!("no input named '{INPUT}' (inputs: {names:?})"));
        }
    }
    match session
        .outputs()
        .iter()
        .find(|o| o.name() == OUTPUT)
        .map(|o| o.dtype())
    {
        Some(ValueType::Tensor { ty, shape, .. })
            if *ty == TensorElementType::Float32
                && shape.len() == 2
                && dim_ok(shape[1], DIM as i64) => {}
        Some(other) => {
            return bad(format!(
                "output '{OUTPUT}' is {other}, expected float32 [N,128]"
            ))
        }
        None => return bad(format!("no output named '{OUTPUT}'")),
    }
    Ok(())
}

impl Embedder {
    pub fn load(model: &Path, device: Device, threads: u32) -> Result<Embedder, String> {
        let session = shared_session(model, device, threads, |s| {
            check_contract(s).map_err(|e| format!("'{}': {e}", model.display()))
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
