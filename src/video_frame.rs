//! Glue between GStreamer video frames and the science modules' [`FrameRef`]: which raw
//! formats the pixel-reading elements accept and how a mapped frame is described.

use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoFrameRef, VideoInfo};

use crate::detect::preprocess::{FrameRef, PixelLayout, Plane, YuvMatrix};

/// Raw formats `facedetector` and `faceembedder` read.
pub const FORMATS: [VideoFormat; 8] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::I420,
    VideoFormat::Nv12,
];

/// Caps of the pad templates of pixel-reading elements.
pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .build()
}

/// Caps of elements that never read pixels: any raw video, in any memory.
pub fn any_video_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw").any_features().build()
}

/// The always-present `src` and `sink` templates of an in-place filter with `caps`.
pub fn filter_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, dir)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps)
            .expect("valid static pad template")
    })
    .collect()
}

/// What the science modules need to know about negotiated video.
#[derive(Debug, Clone)]
pub struct VideoLayout {
    pub info: VideoInfo,
    pub layout: PixelLayout,
    pub yuv: YuvMatrix,
}

impl VideoLayout {
    pub fn from_caps(caps: &gst::CapsRef) -> Result<VideoLayout, String> {
        let info = VideoInfo::from_caps(caps).map_err(|_| format!("invalid video caps {caps}"))?;
        let layout = match info.format() {
            VideoFormat::Rgb => PixelLayout::Rgb,
            VideoFormat::Bgr => PixelLayout::Bgr,
            VideoFormat::Rgbx | VideoFormat::Rgba => PixelLayout::Rgbx,
            VideoFormat::Bgrx | VideoFormat::Bgra => PixelLayout::Bgrx,
            VideoFormat::I420 => PixelLayout::I420,
            VideoFormat::Nv12 => PixelLayout::Nv12,
            other => return Err(format!("unsupported format {other:?}")),
        };
        let c = info.colorimetry();
        let mut yuv = match c.matrix() {
            VideoColorMatrix::Bt709 => YuvMatrix::BT709,
            _ => YuvMatrix::BT601,
        };
        yuv.full_range = c.range() == VideoColorRange::Range0_255;
        Ok(VideoLayout { info, layout, yuv })
    }

    /// Maps `buf` for reading and hands its planes to `f`.
    pub fn with_frame<R>(
        &self,
        buf: &gst::BufferRef,
        f: impl FnOnce(&FrameRef) -> R,
    ) -> Result<R, String> {
        let frame = VideoFrameRef::from_buffer_ref_readable(buf, &self.info)
            .map_err(|_| "cannot map the video frame for reading".to_string())?;
        let plane = |i: u32| Plane {
            data: frame.plane_data(i).unwrap_or(&[]),
            stride: frame
                .plane_stride()
                .get(i as usize)
                .copied()
                .unwrap_or(0)
                .max(0) as usize,
        };
        let mut planes = [plane(0); 3];
        for (i, p) in planes
            .iter_mut()
            .enumerate()
            .take(self.layout.plane_count())
            .skip(1)
        {
            *p = plane(i as u32);
        }
        let fr = FrameRef {
            layout: self.layout,
            width: self.info.width(),
            height: self.info.height(),
            planes,
            yuv: self.yuv,
        };
        Ok(f(&fr))
    }
}
