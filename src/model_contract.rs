//! The tensor contract of a model, as a table: which float32 inputs and outputs it must
//! have, with which dimensions. Both models' checks (PROVENANCE.md §1, §2) are one table
//! each and this one function, run when an element opens a model.

use ort::session::Session;
use ort::value::{Outlet, TensorElementType, ValueType};

/// One float32 tensor of the contract: its name and dimensions (`None`: any size, the batch
/// for instance; a model may also leave a fixed dimension dynamic).
pub struct TensorSpec {
    pub name: &'static str,
    pub dims: &'static [Option<i64>],
}

impl TensorSpec {
    fn matches(&self, dtype: &ValueType) -> bool {
        let ValueType::Tensor { ty, shape, .. } = dtype else {
            return false;
        };
        *ty == TensorElementType::Float32
            && shape.len() == self.dims.len()
            && shape
                .iter()
                .zip(self.dims)
                .all(|(&got, want)| want.is_none_or(|w| got == w || got < 0))
    }

    /// `float32 [N,3,150,150]`: what the error says was expected.
    fn expected(&self) -> String {
        let dims: Vec<String> = self
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Some(d) => d.to_string(),
                None if i == 0 => "N".into(),
                None => "?".into(),
            })
            .collect();
        format!("float32 [{}]", dims.join(","))
    }
}

/// A model's contract: `what` names it in errors ("the face embedder contract
/// (PROVENANCE.md §2)").
pub struct Contract {
    pub what: &'static str,
    pub inputs: &'static [TensorSpec],
    pub outputs: &'static [TensorSpec],
}

impl Contract {
    /// Checks `session` against the table; the error names the first tensor that is missing
    /// or of the wrong type or shape.
    pub fn check(&self, session: &Session) -> Result<(), String> {
        let sides = [
            ("input", self.inputs, session.inputs()),
            ("output", self.outputs, session.outputs()),
        ];
        for (side, specs, outlets) in sides {
            for spec in specs {
                spec.check_among(side, outlets)
                    .map_err(|detail| format!("model does not match {}: {detail}", self.what))?;
            }
        }
        Ok(())
    }
}

impl TensorSpec {
    /// This tensor among the model's `side` ("input" or "output") tensors `outlets`.
    fn check_among(&self, side: &str, outlets: &[Outlet]) -> Result<(), String> {
        match outlets.iter().find(|o| o.name() == self.name) {
            Some(o) if self.matches(o.dtype()) => Ok(()),
            Some(o) => Err(format!(
                "{side} '{}' is {}, expected {}",
                self.name,
                o.dtype(),
                self.expected()
            )),
            None => {
                let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
                Err(format!(
                    "no {side} named '{}' ({side}s: {names:?})",
                    self.name
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHIP: TensorSpec = TensorSpec {
        name: "chip_rgb",
        dims: &[None, Some(3), Some(150), Some(150)],
    };

    fn tensor(dims: &[i64], ty: TensorElementType) -> ValueType {
        ValueType::Tensor {
            ty,
            shape: ort::value::Shape::new(dims.iter().copied()),
            dimension_symbols: ort::value::SymbolicDimensions::empty(dims.len()),
        }
    }

    #[test]
    fn dimensions_fixed_dynamic_and_wrong() {
        let f = TensorElementType::Float32;
        assert!(CHIP.matches(&tensor(&[1, 3, 150, 150], f)));
        assert!(
            CHIP.matches(&tensor(&[-1, 3, -1, -1], f)),
            "dynamic is fine"
        );
        assert!(!CHIP.matches(&tensor(&[1, 3, 112, 112], f)));
        assert!(!CHIP.matches(&tensor(&[1, 3, 150], f)), "rank");
        assert!(!CHIP.matches(&tensor(&[1, 3, 150, 150], TensorElementType::Uint8)));
        assert_eq!(CHIP.expected(), "float32 [N,3,150,150]");
    }
}
