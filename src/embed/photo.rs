//! Still photos → one embedding: the detector on the photo fitted into 640x640
//! (PROVENANCE.md §4), the largest face, alignment on the full-resolution photo, the
//! embedder. Used by `footfall enroll` and the verification test.

use std::path::Path;

use super::align::{ChipExtractor, CHIP};
use super::embedder::{Embedder, Embedding};
use super::quality::{blur_factor, geometric, sharpness};
use crate::detect::geometry::{Face, Letterbox};
use crate::detect::preprocess::{FrameRef, PixelLayout, Preprocessor};
use crate::detect::yunet::{DetectParams, YuNet};
use crate::onnx_runtime::Device;

pub struct PhotoEmbedder {
    yunet: YuNet,
    embedder: Embedder,
    pre: Preprocessor,
    chips: ChipExtractor,
    chip: Vec<f32>,
}

impl PhotoEmbedder {
    pub fn load(detector: &Path, embedder: &Path) -> Result<PhotoEmbedder, String> {
        Ok(PhotoEmbedder {
            yunet: YuNet::load(detector, Device::Cpu, 1)?,
            embedder: Embedder::load(embedder, Device::Cpu, 1)?,
            pre: Preprocessor::new(),
            chips: ChipExtractor::default(),
            chip: vec![0.0; 3 * CHIP * CHIP],
        })
    }

    /// The embedding of the largest face of an RGB photo, or `None` when it has no face.
    pub fn largest_face(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Option<Embedding>, String> {
        Ok(self.largest(rgb, width, height)?.map(|v| v.embedding))
    }

    /// The largest face of an RGB photo with its embedding and the chain's quality of that
    /// view (geometry × chip sharpness, as `faceembedder` gates it), or `None`.
    pub fn largest(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Option<PhotoView>, String> {
        let frame = FrameRef::packed(PixelLayout::Rgb, width, height, rgb, width as usize * 3);
        let lb = Letterbox::fit(width, height, 640, 640);
        let input = self.yunet.input(&lb)?;
        self.pre
            .prepare(&frame, &lb, input)
            .map_err(|e| e.to_string())?;
        let mut faces = Vec::new();
        self.yunet
            .detect(&lb, &DetectParams::default(), &mut faces)?;
        let Some(face) = faces
            .iter()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
        else {
            return Ok(None);
        };
        if self
            .chips
            .extract(&frame, &face.landmarks, &mut self.chip)
            .is_none()
        {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.embedder.embed(&self.chip, &mut out)?;
        let quality =
            geometric(face, [], width, height).total() * blur_factor(sharpness(&self.chip));
        Ok(out.pop().map(|embedding| PhotoView {
            embedding,
            face: *face,
            quality,
        }))
    }
}

/// One photo's largest face.
pub struct PhotoView {
    pub embedding: Embedding,
    /// Box and landmarks in photo pixels.
    pub face: Face,
    pub quality: f32,
}
