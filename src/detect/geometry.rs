//! Boxes, faces and the mapping between frame pixels and detector-input pixels.

/// Axis-aligned box in continuous pixel coordinates (x1, y1 top-left; x2, y2 bottom-right).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self::new(x, y, x + w, y + h)
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union without the "+1" pixel convention (PROVENANCE.md §1.4).
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    pub fn scaled(&self, f: f32) -> BBox {
        BBox::new(self.x1 * f, self.y1 * f, self.x2 * f, self.y2 * f)
    }

    /// Integer rectangle (x, y, w, h) clipped to a `width` x `height` frame; `None` when
    /// nothing of the box lies inside the frame.
    pub fn to_clipped_rect(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let x1 = self.x1.max(0.0).floor();
        let y1 = self.y1.max(0.0).floor();
        let x2 = self.x2.min(width as f32).ceil();
        let y2 = self.y2.min(height as f32).ceil();
        if !(x2 > x1 && y2 > y1) {
            return None;
        }
        Some((x1 as u32, y1 as u32, (x2 - x1) as u32, (y2 - y1) as u32))
    }
}

/// One detected face: box, detector score and the 5 YuNet landmarks
/// (right eye, left eye, nose tip, right mouth corner, left mouth corner; PROVENANCE.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
}

impl Face {
    pub fn scaled(&self, f: f32) -> Face {
        let mut landmarks = self.landmarks;
        for p in &mut landmarks {
            p[0] *= f;
            p[1] *= f;
        }
        Face {
            bbox: self.bbox.scaled(f),
            score: self.score,
            landmarks,
        }
    }
}

/// How a frame is placed in the detector input: scaled by `scale` (both axes), copied to
/// the top-left corner of a zero tensor whose sides are rounded up to multiples of 32.
/// Padding only at the bottom/right means mapping back is a plain division by `scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    /// Size of the scaled frame inside the tensor.
    pub scaled_w: u32,
    pub scaled_h: u32,
    /// Tensor size (multiples of 32, as YuNet's FPN requires).
    pub tensor_w: u32,
    pub tensor_h: u32,
}

impl Letterbox {
    /// Fits a `frame_w` x `frame_h` frame into `max_w` x `max_h`, keeping the aspect ratio.
    /// A zero `max_w` or `max_h` leaves that side unconstrained; both zero keeps scale 1.
    /// Upscaling is allowed: a frame smaller than the inference size is enlarged.
    pub fn fit(frame_w: u32, frame_h: u32, max_w: u32, max_h: u32) -> Letterbox {
        let fw = frame_w.max(1) as f64;
        let fh = frame_h.max(1) as f64;
        let sx = if max_w > 0 {
            max_w as f64 / fw
        } else {
            f64::INFINITY
        };
        let sy = if max_h > 0 {
            max_h as f64 / fh
        } else {
            f64::INFINITY
        };
        let mut scale = sx.min(sy);
        if !scale.is_finite() {
            scale = 1.0;
        }
        let scaled_w = ((fw * scale).round() as u32).max(1);
        let scaled_h = ((fh * scale).round() as u32).max(1);
        Letterbox {
            scale: scale as f32,
            scaled_w,
            scaled_h,
            tensor_w: round_up_32(scaled_w),
            tensor_h: round_up_32(scaled_h),
        }
    }

    /// Maps a face from tensor pixels back to frame pixels.
    pub fn to_frame(&self, face: &Face) -> Face {
        face.scaled(1.0 / self.scale)
    }
}

/// The automatic detector width (`inference-width=0`): half the frame width, so a face of
/// 24 frame pixels (the smallest worth counting) reaches YuNet at 12 px, above its ~10 px
/// floor; never below 320 (small frames keep the size the model was tuned at) nor above 1920
/// (the cost cap: a 4K frame is detected at 1920×1088, about 34× the pixels of 320×192).
pub fn auto_inference_width(frame_w: u32) -> u32 {
    (frame_w / 2).clamp(AUTO_MIN_WIDTH, AUTO_MAX_WIDTH)
}

pub const AUTO_MIN_WIDTH: u32 = 320;
pub const AUTO_MAX_WIDTH: u32 = 1920;

fn round_up_32(v: u32) -> u32 {
    v.div_ceil(32) * 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_inference_width_brings_a_24px_face_to_12px_up_to_4k() {
        for (frame_w, want) in [(480, 320), (640, 320), (960, 480), (1280, 640), (1920, 960)] {
            assert_eq!(auto_inference_width(frame_w), want, "{frame_w}");
        }
        assert_eq!(auto_inference_width(2560), 1280);
        assert_eq!(auto_inference_width(3840), 1920);
        assert_eq!(auto_inference_width(7680), 1920, "cost cap");
        for frame_w in [1280, 1920, 2560, 3840] {
            let scale = auto_inference_width(frame_w) as f32 / frame_w as f32;
            assert!(24.0 * scale >= 12.0, "{frame_w}");
        }
    }

    #[test]
    fn iou_hand_computed() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        // intersection 50, union 150
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert_eq!(a.iou(&a), 1.0);
        // degenerate boxes never divide by zero
        let z = BBox::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(z.iou(&z), 0.0);
    }

    #[test]
    fn letterbox_320_wide_from_640x480() {
        let lb = Letterbox::fit(640, 480, 320, 0);
        assert_eq!(lb.scale, 0.5);
        assert_eq!((lb.scaled_w, lb.scaled_h), (320, 240));
        // 240 is not a multiple of 32: pad to 256 (PROVENANCE.md §1.2)
        assert_eq!((lb.tensor_w, lb.tensor_h), (320, 256));
    }

    #[test]
    fn letterbox_fit_into_square() {
        // 910x1137 photo fitted into 640x640: height limits
        let lb = Letterbox::fit(910, 1137, 640, 640);
        assert!((lb.scale - 640.0 / 1137.0).abs() < 1e-6);
        assert_eq!(lb.scaled_h, 640);
        assert_eq!(lb.scaled_w, 512);
        assert_eq!((lb.tensor_w, lb.tensor_h), (512, 640));
    }

    #[test]
    fn letterbox_odd_sizes_and_upscale() {
        let lb = Letterbox::fit(480, 270, 320, 0);
        assert_eq!((lb.scaled_w, lb.scaled_h), (320, 180));
        assert_eq!((lb.tensor_w, lb.tensor_h), (320, 192));
        let up = Letterbox::fit(160, 120, 320, 0);
        assert_eq!(up.scale, 2.0);
        assert_eq!((up.tensor_w, up.tensor_h), (320, 256));
        let none = Letterbox::fit(100, 50, 0, 0);
        assert_eq!(none.scale, 1.0);
        assert_eq!((none.tensor_w, none.tensor_h), (128, 64));
    }

    #[test]
    fn mapping_back_divides_by_scale() {
        let lb = Letterbox::fit(640, 480, 320, 0);
        let f = Face {
            bbox: BBox::new(10.0, 20.0, 30.0, 40.0),
            score: 0.9,
            landmarks: [[15.0, 25.0]; 5],
        };
        let m = lb.to_frame(&f);
        assert_eq!(m.bbox, BBox::new(20.0, 40.0, 60.0, 80.0));
        assert_eq!(m.landmarks[3], [30.0, 50.0]);
        assert_eq!(m.score, 0.9);
    }

    #[test]
    fn clipped_rect() {
        let b = BBox::new(-5.2, 10.5, 20.1, 500.0);
        assert_eq!(b.to_clipped_rect(640, 480), Some((0, 10, 21, 470)));
        assert_eq!(
            BBox::new(700.0, 0.0, 710.0, 5.0).to_clipped_rect(640, 480),
            None
        );
    }
}
