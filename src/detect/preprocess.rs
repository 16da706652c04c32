//! Frame → detector tensor: resize straight from the mapped video planes (no full-size copy),
//! convert to BGR, write planar float 0..255 into the top-left of a zero tensor padded to
//! multiples of 32 (PROVENANCE.md §1.2).
//!
//! YUV formats are resized plane by plane (Y, then chroma directly to the target size) and
//! converted to BGR only at the small inference size, so the cost of colour conversion does
//! not grow with the camera resolution.

use super::geometry::Letterbox;
use super::resample::{Resampler, Source};

/// Raw video layouts the detector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    Rgb,
    Bgr,
    /// 4 bytes per pixel, R G B then padding (RGBx) or alpha (RGBA).
    Rgbx,
    /// 4 bytes per pixel, B G R then padding (BGRx) or alpha (BGRA).
    Bgrx,
    /// Planar Y, U, V; chroma halved in both directions.
    I420,
    /// Planar Y plus interleaved UV; chroma halved in both directions.
    Nv12,
}

impl PixelLayout {
    pub fn plane_count(&self) -> usize {
        match self {
            PixelLayout::I420 => 3,
            PixelLayout::Nv12 => 2,
            _ => 1,
        }
    }
}

/// YUV → RGB matrix: luma weights of red and blue, and whether Y/UV use the full 0..255 range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvMatrix {
    pub kr: f32,
    pub kb: f32,
    pub full_range: bool,
}

impl YuvMatrix {
    pub const BT601: YuvMatrix = YuvMatrix {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
    };
    pub const BT709: YuvMatrix = YuvMatrix {
        kr: 0.2126,
        kb: 0.0722,
        full_range: false,
    };
}

/// One plane of a mapped frame.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    /// Bytes from the start of one row to the next.
    pub stride: usize,
}

/// A borrowed raw video frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub layout: PixelLayout,
    pub width: u32,
    pub height: u32,
    /// Only the first `layout.plane_count()` entries are used.
    pub planes: [Plane<'a>; 3],
    pub yuv: YuvMatrix,
}

impl<'a> FrameRef<'a> {
    /// A frame made of one packed plane (RGB-like layouts).
    pub fn packed(
        layout: PixelLayout,
        width: u32,
        height: u32,
        data: &'a [u8],
        stride: usize,
    ) -> Self {
        let p = Plane { data, stride };
        FrameRef {
            layout,
            width,
            height,
            planes: [p, p, p],
            yuv: YuvMatrix::BT601,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreprocessError {
    #[error("plane {plane} is too small: {len} bytes for {rows} rows of {row_bytes} bytes with stride {stride}")]
    PlaneTooSmall {
        plane: usize,
        len: usize,
        rows: usize,
        row_bytes: usize,
        stride: usize,
    },
    #[error("empty frame ({0}x{1})")]
    Empty(u32, u32),
    #[error("the tensor holds {len} values, not 3 planes of {w}x{h}")]
    TensorSize { len: usize, w: usize, h: usize },
}

/// Plane `plane` of `width` x `height` pixels of `channels` bytes, checked to be
/// within the mapped memory, whatever its row padding.
fn source<'a>(
    plane: usize,
    p: &Plane<'a>,
    width: u32,
    height: u32,
    channels: usize,
) -> Result<Source<'a>, PreprocessError> {
    let row_bytes = width as usize * channels;
    let rows = height as usize;
    let needed = if rows == 0 {
        0
    } else {
        p.stride * (rows - 1) + row_bytes
    };
    if p.stride < row_bytes || p.data.len() < needed {
        return Err(PreprocessError::PlaneTooSmall {
            plane,
            len: p.data.len(),
            rows,
            row_bytes,
            stride: p.stride,
        });
    }
    Ok(Source {
        data: p.data,
        width,
        height,
        stride: p.stride,
    })
}

/// Resized planes (tightly packed), kept between frames so steady-state preprocessing
/// allocates nothing.
#[derive(Default)]
struct Scratch {
    luma: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    uv: Vec<u8>,
    packed: Vec<u8>,
}

/// `buf` holding `w` x `h` pixels of `channels` bytes (grown once per geometry).
fn sized(buf: &mut Vec<u8>, w: u32, h: u32, channels: usize) -> &mut [u8] {
    buf.resize(w as usize * h as usize * channels, 0);
    buf
}

/// Reusable frame → tensor converter.
///
/// Resizing is plain bilinear interpolation, as OpenCV's `INTER_LINEAR` that produced the
/// reference outputs (PROVENANCE.md §1): the golden test reproduces the reference
/// landmarks with it (a widening convolution kernel moved them by up to 19 px on 2048 px
/// photos).
#[derive(Default)]
pub struct Preprocessor {
    resampler: Resampler,
    scratch: Scratch,
    /// Scaled size, tensor size and tensor buffer of the last frame: that buffer's padding is zero.
    geometry: Option<(u32, u32, usize, usize, usize)>,
}

impl Preprocessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills `tensor` (`3 * lb.tensor_w * lb.tensor_h` values, zero where no earlier
    /// frame wrote) with the `[1, 3, lb.tensor_h, lb.tensor_w]` BGR float input for `frame`.
    pub fn prepare(
        &mut self,
        frame: &FrameRef,
        lb: &Letterbox,
        tensor: &mut [f32],
    ) -> Result<(), PreprocessError> {
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 {
            return Err(PreprocessError::Empty(w, h));
        }
        let mut out = self.planar_tensor(lb, tensor)?;
        match frame.layout {
            PixelLayout::Rgb | PixelLayout::Bgr => self.packed3(frame, lb, &mut out),
            PixelLayout::Rgbx | PixelLayout::Bgrx => self.packed4(frame, lb, &mut out),
            PixelLayout::I420 | PixelLayout::Nv12 => self.yuv(frame, lb, &mut out),
        }
    }

    /// The tensor for `lb`, as three planes to fill in raster order. The padding right of
    /// and below the scaled image stays zero between frames of one geometry written into
    /// the same buffer, so only a new geometry or buffer pays for zeroing the whole tensor.
    fn planar_tensor<'t>(
        &mut self,
        lb: &Letterbox,
        tensor: &'t mut [f32],
    ) -> Result<PlanarBgr<'t>, PreprocessError> {
        let (sw, sh) = (lb.scaled_w, lb.scaled_h);
        let (tw, th) = (lb.tensor_w as usize, lb.tensor_h as usize);
        let plane = tw * th;
        if tensor.len() != 3 * plane {
            return Err(PreprocessError::TensorSize {
                len: tensor.len(),
                w: tw,
                h: th,
            });
        }
        let geometry = (sw, sh, tw, th, tensor.as_ptr() as usize);
        if self.geometry != Some(geometry) {
            tensor.fill(0.0);
            self.geometry = Some(geometry);
        }
        let (b, rest) = tensor.split_at_mut(plane);
        let (g, r) = rest.split_at_mut(plane);
        Ok(PlanarBgr {
            b,
            g,
            r,
            x: 0,
            row: 0,
            width: sw as usize,
            stride: tw,
        })
    }

    /// RGB or BGR, 3 bytes a pixel.
    fn packed3(
        &mut self,
        frame: &FrameRef,
        lb: &Letterbox,
        out: &mut PlanarBgr,
    ) -> Result<(), PreprocessError> {
        let src = source(0, &frame.planes[0], frame.width, frame.height, 3)?;
        let dst = sized(&mut self.scratch.packed, lb.scaled_w, lb.scaled_h, 3);
        self.resampler
            .resize::<3>(&src, dst, lb.scaled_w, lb.scaled_h);
        let swap = frame.layout == PixelLayout::Rgb;
        for p in dst.chunks_exact(3) {
            let [a, b, c] = [p[0], p[1], p[2]];
            out.put((if swap { [c, b, a] } else { [a, b, c] }).map(f32::from));
        }
        Ok(())
    }

    /// RGBx, BGRx (and RGBA, BGRA, alpha ignored), 4 bytes a pixel.
    fn packed4(
        &mut self,
        frame: &FrameRef,
        lb: &Letterbox,
        out: &mut PlanarBgr,
    ) -> Result<(), PreprocessError> {
        // The 4th byte is padding or alpha, resized with the others and ignored.
        let src = source(0, &frame.planes[0], frame.width, frame.height, 4)?;
        let dst = sized(&mut self.scratch.packed, lb.scaled_w, lb.scaled_h, 4);
        self.resampler
            .resize::<4>(&src, dst, lb.scaled_w, lb.scaled_h);
        let swap = frame.layout == PixelLayout::Rgbx;
        for p in dst.chunks_exact(4) {
            let [a, b, c] = [p[0], p[1], p[2]];
            out.put((if swap { [c, b, a] } else { [a, b, c] }).map(f32::from));
        }
        Ok(())
    }

    /// I420 or NV12: each plane resized straight from the mapped frame, then only the small
    /// result converted to BGR.
    fn yuv(
        &mut self,
        frame: &FrameRef,
        lb: &Letterbox,
        out: &mut PlanarBgr,
    ) -> Result<(), PreprocessError> {
        let (w, h) = (frame.width, frame.height);
        let (sw, sh) = (lb.scaled_w, lb.scaled_h);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (rs, sc) = (&mut self.resampler, &mut self.scratch);
        let luma = sized(&mut sc.luma, sw, sh, 1);
        rs.resize::<1>(&source(0, &frame.planes[0], w, h, 1)?, luma, sw, sh);
        let to_rgb = YuvToRgb::new(frame.yuv);
        let bgr = |y: u8, u: u8, v: u8| {
            let [r, g, b] = to_rgb.apply(y, u, v);
            [b, g, r]
        };
        if frame.layout == PixelLayout::I420 {
            let u = sized(&mut sc.u, sw, sh, 1);
            rs.resize::<1>(&source(1, &frame.planes[1], cw, ch, 1)?, u, sw, sh);
            let v = sized(&mut sc.v, sw, sh, 1);
            rs.resize::<1>(&source(2, &frame.planes[2], cw, ch, 1)?, v, sw, sh);
            for ((&yy, &uu), &vv) in luma.iter().zip(u.iter()).zip(v.iter()) {
                out.put(bgr(yy, uu, vv));
            }
        } else {
            let uv = sized(&mut sc.uv, sw, sh, 2);
            rs.resize::<2>(&source(1, &frame.planes[1], cw, ch, 2)?, uv, sw, sh);
            for (&yy, uv) in luma.iter().zip(uv.chunks_exact(2)) {
                out.put(bgr(yy, uv[0], uv[1]));
            }
        }
        Ok(())
    }
}

/// The tensor's three planes, filled pixel by pixel in raster order of the scaled image:
/// `x`/`row` walk it without a division per pixel; `stride` is the tensor's width.
struct PlanarBgr<'t> {
    b: &'t mut [f32],
    g: &'t mut [f32],
    r: &'t mut [f32],
    x: usize,
    row: usize,
    width: usize,
    stride: usize,
}

impl PlanarBgr<'_> {
    fn put(&mut self, bgr: [f32; 3]) {
        let i = self.row + self.x;
        self.b[i] = bgr[0];
        self.g[i] = bgr[1];
        self.r[i] = bgr[2];
        self.x += 1;
        if self.x == self.width {
            self.x = 0;
            self.row += self.stride;
        }
    }
}

/// Precomputed YUV → RGB coefficients.
pub struct YuvToRgb {
    y_off: f32,
    y_gain: f32,
    c_gain: f32,
    r_cr: f32,
    b_cb: f32,
    g_cb: f32,
    g_cr: f32,
}

impl YuvToRgb {
    pub fn new(m: YuvMatrix) -> Self {
        let kg = 1.0 - m.kr - m.kb;
        let (y_off, y_gain, c_gain) = if m.full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 255.0 / 219.0, 255.0 / 224.0)
        };
        let r_cr = 2.0 * (1.0 - m.kr);
        let b_cb = 2.0 * (1.0 - m.kb);
        YuvToRgb {
            y_off,
            y_gain,
            c_gain,
            r_cr,
            b_cb,
            g_cb: -m.kb * b_cb / kg,
            g_cr: -m.kr * r_cr / kg,
        }
    }

    /// R, G, B (0..255) of one YUV sample.
    #[inline]
    pub fn apply(&self, y: u8, u: u8, v: u8) -> [f32; 3] {
        let yf = (y as f32 - self.y_off) * self.y_gain;
        let cb = (u as f32 - 128.0) * self.c_gain;
        let cr = (v as f32 - 128.0) * self.c_gain;
        let r = yf + self.r_cr * cr;
        let g = yf + self.g_cb * cb + self.g_cr * cr;
        let b = yf + self.b_cb * cb;
        [
            r.clamp(0.0, 255.0),
            g.clamp(0.0, 255.0),
            b.clamp(0.0, 255.0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed tensor of `lb`'s size.
    fn tensor(lb: &Letterbox) -> Vec<f32> {
        vec![0.0; 3 * (lb.tensor_w * lb.tensor_h) as usize]
    }

    fn at(t: &[f32], lb: &Letterbox, c: usize, x: usize, y: usize) -> f32 {
        t[c * (lb.tensor_w * lb.tensor_h) as usize + y * lb.tensor_w as usize + x]
    }

    #[test]
    fn rgb_is_swapped_to_bgr_and_padded_with_zeros() {
        // 4x2 frame, stride 16 (row padding), one colour everywhere
        let mut data = vec![0u8; 32];
        for y in 0..2 {
            for x in 0..4 {
                data[y * 16 + x * 3..y * 16 + x * 3 + 3].copy_from_slice(&[10, 20, 30]);
            }
        }
        let f = FrameRef::packed(PixelLayout::Rgb, 4, 2, &data, 16);
        let lb = Letterbox::fit(4, 2, 0, 0);
        let mut t = tensor(&lb);
        Preprocessor::new().prepare(&f, &lb, &mut t).unwrap();
        assert_eq!(t.len(), 3 * 32 * 32);
        assert_eq!(
            [
                at(&t, &lb, 0, 3, 1),
                at(&t, &lb, 1, 3, 1),
                at(&t, &lb, 2, 3, 1)
            ],
            [30.0, 20.0, 10.0]
        );
        // padding (outside the 4x2 image) stays 0
        assert_eq!(at(&t, &lb, 0, 4, 0), 0.0);
        assert_eq!(at(&t, &lb, 2, 0, 2), 0.0);
    }

    #[test]
    fn bgrx_downscale_keeps_flat_colour() {
        let data: Vec<u8> = (0..64 * 32).flat_map(|_| [50u8, 100, 150, 255]).collect();
        let f = FrameRef::packed(PixelLayout::Bgrx, 64, 32, &data, 64 * 4);
        let lb = Letterbox::fit(64, 32, 32, 0);
        assert_eq!((lb.scaled_w, lb.scaled_h), (32, 16));
        let mut t = tensor(&lb);
        Preprocessor::new().prepare(&f, &lb, &mut t).unwrap();
        assert_eq!(
            [
                at(&t, &lb, 0, 31, 15),
                at(&t, &lb, 1, 31, 15),
                at(&t, &lb, 2, 31, 15)
            ],
            [50.0, 100.0, 150.0]
        );
    }

    #[test]
    fn i420_and_nv12_grey_and_colour() {
        // BT.601 limited: Y=16 black, Y=235 white; (Y=81, U=90, V=240) is about pure red.
        let (w, h) = (8u32, 4u32);
        let y = vec![81u8; 32];
        let u = vec![90u8; 8];
        let v = vec![240u8; 8];
        let mut f = FrameRef::packed(PixelLayout::I420, w, h, &y, 8);
        f.planes[1] = Plane {
            data: &u,
            stride: 4,
        };
        f.planes[2] = Plane {
            data: &v,
            stride: 4,
        };
        let lb = Letterbox::fit(w, h, 0, 0);
        let mut t = tensor(&lb);
        let mut pp = Preprocessor::new();
        pp.prepare(&f, &lb, &mut t).unwrap();
        let bgr = [
            at(&t, &lb, 0, 2, 2),
            at(&t, &lb, 1, 2, 2),
            at(&t, &lb, 2, 2, 2),
        ];
        assert!(bgr[0] < 3.0 && bgr[1] < 3.0 && bgr[2] > 250.0, "{bgr:?}");

        let uv: Vec<u8> = (0..8).flat_map(|_| [90u8, 240]).collect();
        let mut f2 = FrameRef::packed(PixelLayout::Nv12, w, h, &y, 8);
        f2.planes[1] = Plane {
            data: &uv,
            stride: 8,
        };
        let mut t2 = tensor(&lb);
        pp.prepare(&f2, &lb, &mut t2).unwrap();
        assert_eq!(t, t2);

        let white = vec![235u8; 32];
        let grey = vec![128u8; 8];
        let mut f3 = FrameRef::packed(PixelLayout::I420, w, h, &white, 8);
        f3.planes[1] = Plane {
            data: &grey,
            stride: 4,
        };
        f3.planes[2] = Plane {
            data: &grey,
            stride: 4,
        };
        pp.prepare(&f3, &lb, &mut t).unwrap();
        assert!((at(&t, &lb, 1, 0, 0) - 255.0).abs() < 0.01);
    }

    #[test]
    fn odd_sized_i420_uses_rounded_up_chroma() {
        let (w, h) = (5u32, 3u32);
        let y = vec![128u8; 15];
        let c = vec![128u8; 6]; // 3x2 chroma
        let mut f = FrameRef::packed(PixelLayout::I420, w, h, &y, 5);
        f.planes[1] = Plane {
            data: &c,
            stride: 3,
        };
        f.planes[2] = Plane {
            data: &c,
            stride: 3,
        };
        let lb = Letterbox::fit(w, h, 0, 0);
        Preprocessor::new()
            .prepare(&f, &lb, &mut tensor(&lb))
            .unwrap();
    }

    #[test]
    fn short_planes_are_an_error_not_a_panic() {
        let data = vec![0u8; 10];
        let f = FrameRef::packed(PixelLayout::Rgb, 4, 4, &data, 12);
        let lb = Letterbox::fit(4, 4, 0, 0);
        let e = Preprocessor::new()
            .prepare(&f, &lb, &mut tensor(&lb))
            .unwrap_err();
        assert!(matches!(e, PreprocessError::PlaneTooSmall { plane: 0, .. }));
        let e = Preprocessor::new()
            .prepare(&f, &lb, &mut [0.0; 7])
            .unwrap_err();
        assert!(matches!(e, PreprocessError::TensorSize { len: 7, .. }));
        let e = Preprocessor::new()
            .prepare(
                &FrameRef::packed(PixelLayout::Rgb, 0, 4, &data, 12),
                &Letterbox::fit(1, 1, 0, 0),
                &mut [],
            )
            .unwrap_err();
        assert_eq!(e, PreprocessError::Empty(0, 4));
    }
}
