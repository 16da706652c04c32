//! YuNet anchor decoding, exactly as PROVENANCE.md §1.4 specifies.

use super::geometry::{BBox, Face};

/// The three feature-map strides of YuNet, in output order.
pub const STRIDES: [u32; 3] = [8, 16, 32];

/// The four output tensors of one stride, flattened (batch 1), row-major anchors.
#[derive(Debug, Clone, Copy)]
pub struct StrideOutputs<'a> {
    pub stride: u32,
    /// `[A]` class probability (sigmoid already applied in the graph).
    pub cls: &'a [f32],
    /// `[A]` objectness probability.
    pub obj: &'a [f32],
    /// `[A, 4]` raw `(dx, dy, dw, dh)`.
    pub bbox: &'a [f32],
    /// `[A, 10]` raw landmark offsets.
    pub kps: &'a [f32],
}

/// Decodes every anchor of one stride whose score `sqrt(cls*obj)` reaches `score_threshold`
/// and appends the faces (in tensor pixels) to `out`. `tensor_w` is the network input width.
/// Returns an error when the tensor lengths do not match the anchor grid.
pub fn decode_stride(
    o: &StrideOutputs,
    tensor_w: u32,
    tensor_h: u32,
    score_threshold: f32,
    out: &mut Vec<Face>,
) -> Result<(), String> {
    let s = o.stride;
    let fw = (tensor_w / s) as usize;
    let fh = (tensor_h / s) as usize;
    let anchors = fw * fh;
    if o.cls.len() != anchors
        || o.obj.len() != anchors
        || o.bbox.len() != anchors * 4
        || o.kps.len() != anchors * 10
    {
        return Err(format!(
            "stride {s}: expected {anchors} anchors for a {tensor_w}x{tensor_h} input, got cls {} obj {} bbox {} kps {} values",
            o.cls.len(),
            o.obj.len(),
            o.bbox.len(),
            o.kps.len()
        ));
    }
    let sf = s as f32;
    for i in 0..anchors {
        let score = (o.cls[i].clamp(0.0, 1.0) * o.obj[i].clamp(0.0, 1.0)).sqrt();
        // A NaN score from a broken model is rejected too.
        if score.is_nan() || score < score_threshold {
            continue;
        }
        // Anchor point: top-left of the cell (offset 0, not +0.5).
        let ax = (i % fw) as f32 * sf;
        let ay = (i / fw) as f32 * sf;
        let b = &o.bbox[i * 4..i * 4 + 4];
        let cx = ax + b[0] * sf;
        let cy = ay + b[1] * sf;
        let w = b[2].exp() * sf;
        let h = b[3].exp() * sf;
        let k = &o.kps[i * 10..i * 10 + 10];
        let mut landmarks = [[0.0f32; 2]; 5];
        for (j, p) in landmarks.iter_mut().enumerate() {
            *p = [ax + k[2 * j] * sf, ay + k[2 * j + 1] * sf];
        }
        let face = Face {
            bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
            score,
            landmarks,
        };
        if face.bbox.x1.is_finite()
            && face.bbox.y1.is_finite()
            && face.bbox.x2.is_finite()
            && face.bbox.y2.is_finite()
        {
            out.push(face);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64x32 input at stride 32 has a 2x1 grid; put one confident anchor in column 1.
    #[test]
    fn decodes_one_anchor_by_hand() {
        let cls = [0.1, 0.81];
        let obj = [0.1, 1.0];
        // anchor 1: ax = 32, ay = 0
        let bbox = [0.0, 0.0, 0.0, 0.0, 0.5, 0.25, 0.0, (2.0f32).ln()];
        let mut kps = [0.0f32; 20];
        kps[10..20].copy_from_slice(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        let o = StrideOutputs {
            stride: 32,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        let mut out = vec![];
        decode_stride(&o, 64, 32, 0.6, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert!((f.score - 0.9).abs() < 1e-6); // sqrt(0.81 * 1.0)
                                               // cx = 32 + 0.5*32 = 48, cy = 0 + 0.25*32 = 8, w = 32, h = 64
        assert_eq!(f.bbox, BBox::new(32.0, -24.0, 64.0, 40.0));
        assert!((f.landmarks[0][0] - (32.0 + 3.2)).abs() < 1e-4);
        assert!((f.landmarks[0][1] - 6.4).abs() < 1e-4);
        assert!((f.landmarks[4][0] - (32.0 + 28.8)).abs() < 1e-4);
        assert!((f.landmarks[4][1] - 32.0).abs() < 1e-4);
    }

    #[test]
    fn threshold_and_nan_are_skipped() {
        let cls = [0.35, f32::NAN];
        let obj = [1.0, 1.0];
        let bbox = [0.0; 8];
        let kps = [0.0; 20];
        let o = StrideOutputs {
            stride: 32,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        let mut out = vec![];
        // sqrt(0.35) = 0.5916 < 0.6
        decode_stride(&o, 64, 32, 0.6, &mut out).unwrap();
        assert!(out.is_empty());
        decode_stride(&o, 64, 32, 0.59, &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn row_major_anchor_index() {
        // 64x64 at stride 32: 2x2 grid; anchor 2 is row 1, col 0 -> (0, 32)
        let mut cls = [0.0f32; 4];
        cls[2] = 1.0;
        let obj = [1.0f32; 4];
        let bbox = [0.0f32; 16];
        let kps = [0.0f32; 40];
        let o = StrideOutputs {
            stride: 32,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        let mut out = vec![];
        decode_stride(&o, 64, 64, 0.5, &mut out).unwrap();
        assert_eq!(out[0].landmarks[2], [0.0, 32.0]);
        assert_eq!(out[0].bbox, BBox::new(-16.0, 16.0, 16.0, 48.0));
    }

    #[test]
    fn wrong_lengths_are_an_error() {
        let o = StrideOutputs {
            stride: 8,
            cls: &[0.0; 3],
            obj: &[0.0; 3],
            bbox: &[0.0; 12],
            kps: &[0.0; 30],
        };
        let err = decode_stride(&o, 64, 64, 0.5, &mut vec![]).unwrap_err();
        assert!(err.contains("expected 64 anchors"), "{err}");
    }
}
