//! Face redaction on raw pixels, no GStreamer: regions grown by a margin, then blurred,
//! pixelated or filled one colour component at a time, so one code path serves packed RGB
//! and planar/semi-planar YUV alike (a component is addressed by plane offset, pixel stride
//! and row stride).

/// How a region is made unrecognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Three box-blur passes each way (close to a Gaussian).
    Blur,
    /// Blocks of one average colour.
    Pixelate,
    /// One flat colour.
    Fill,
}

/// A rectangle `[x0, x1) × [y0, y1)` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    pub fn width(&self) -> usize {
        self.x1.saturating_sub(self.x0)
    }

    pub fn height(&self) -> usize {
        self.y1.saturating_sub(self.y0)
    }

    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }
}

/// The face box `(x, y, w, h)` grown by `margin` × its size on every side (hair, ears,
/// chin), clipped to a `width` × `height` frame.
pub fn grow(face: (u32, u32, u32, u32), margin: f32, width: usize, height: usize) -> Rect {
    let (x, y, w, h) = (face.0 as f32, face.1 as f32, face.2 as f32, face.3 as f32);
    let (mx, my) = (w * margin, h * margin);
    let clip = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    Rect {
        x0: clip((x - mx).floor(), width),
        y0: clip((y - my).floor(), height),
        x1: clip((x + w + mx).ceil(), width),
        y1: clip((y + h + my).ceil(), height),
    }
}

/// One colour component of a frame: sample `(x, y)` is `data[offset + y * stride + x * pixel_stride]`.
pub struct Component<'a> {
    pub data: &'a mut [u8],
    pub offset: usize,
    pub stride: usize,
    pub pixel_stride: usize,
    /// Size in this component's samples (chroma planes are subsampled).
    pub width: usize,
    pub height: usize,
}

impl Component<'_> {
    fn index(&self, x: usize, y: usize) -> usize {
        self.offset + y * self.stride + x * self.pixel_stride
    }

    fn get(&self, x: usize, y: usize) -> u8 {
        self.data[self.index(x, y)]
    }

    fn set(&mut self, x: usize, y: usize, v: u8) {
        let i = self.index(x, y);
        self.data[i] = v;
    }

    /// Redacts `r` (in this component's samples, clipped to it). `size` is the blur radius
    /// or pixel block, `fill` the flat value. `scratch` is reused across calls.
    pub fn redact(&mut self, r: Rect, mode: Mode, size: usize, fill: u8, scratch: &mut Vec<u32>) {
        let r = Rect {
            x0: r.x0.min(self.width),
            y0: r.y0.min(self.height),
            x1: r.x1.min(self.width),
            y1: r.y1.min(self.height),
        };
        if r.is_empty() {
            return;
        }
        match mode {
            Mode::Fill => self.fill(r, fill),
            Mode::Pixelate => self.pixelate(r, size.max(1)),
            Mode::Blur => self.blur(r, size.max(1), scratch),
        }
    }

    fn fill(&mut self, r: Rect, v: u8) {
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                self.set(x, y, v);
            }
        }
    }

    fn pixelate(&mut self, r: Rect, block: usize) {
        for by in (r.y0..r.y1).step_by(block) {
            for bx in (r.x0..r.x1).step_by(block) {
                let b = Rect {
                    x0: bx,
                    y0: by,
                    x1: (bx + block).min(r.x1),
                    y1: (by + block).min(r.y1),
                };
                let mut sum = 0u32;
                for y in b.y0..b.y1 {
                    for x in b.x0..b.x1 {
                        sum += self.get(x, y) as u32;
                    }
                }
                let n = (b.width() * b.height()) as u32;
                self.fill(b, ((sum + n / 2) / n) as u8);
            }
        }
    }

    /// Three passes of a box of radius `radius` along rows, then columns, then half the
    /// contrast; samples beyond the region repeat its edge, so nothing outside the region
    /// leaks in or is touched.
    fn blur(&mut self, r: Rect, radius: usize, scratch: &mut Vec<u32>) {
        let (w, h) = (r.width(), r.height());
        scratch.clear();
        scratch.resize(w * h + w.max(h), 0);
        let (img, line) = scratch.split_at_mut(w * h);
        for y in 0..h {
            for x in 0..w {
                img[y * w + x] = self.get(r.x0 + x, r.y0 + y) as u32;
            }
        }
        for _ in 0..3 {
            for y in 0..h {
                box_pass(img, y * w, 1, w, radius, line);
            }
            for x in 0..w {
                box_pass(img, x, w, h, radius, line);
            }
        }
        // A blurred face keeps its silhouette (dark hair over a lighter face), which a
        // modern detector can still take for a face: halve the contrast around the mean.
        let mean = img.iter().sum::<u32>() / (w * h) as u32;
        for y in 0..h {
            for x in 0..w {
                let v = (img[y * w + x] + mean) / 2;
                self.set(r.x0 + x, r.y0 + y, v.min(255) as u8);
            }
        }
    }
}

/// Box average of radius `radius` over `n` samples `img[start + i * step]`, edges repeated;
/// `line` holds a copy of the input.
fn box_pass(img: &mut [u32], start: usize, step: usize, n: usize, radius: usize, line: &mut [u32]) {
    for i in 0..n {
        line[i] = img[start + i * step];
    }
    let at = |i: isize| line[i.clamp(0, n as isize - 1) as usize];
    let r = radius as isize;
    let width = 2 * radius as u32 + 1;
    let mut sum: u32 = (-r..=r).map(at).sum();
    for i in 0..n as isize {
        img[start + i as usize * step] = (sum + width / 2) / width;
        sum = sum + at(i + r + 1) - at(i - r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` × `h` single-component image with a hard-edged pattern.
    fn checker(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                if (i % w / 2 + i / w / 2).is_multiple_of(2) {
                    250
                } else {
                    5
                }
            })
            .collect()
    }

    fn comp(data: &mut [u8], w: usize, h: usize) -> Component<'_> {
        Component {
            data,
            offset: 0,
            stride: w,
            pixel_stride: 1,
            width: w,
            height: h,
        }
    }

    const R: Rect = Rect {
        x0: 8,
        y0: 6,
        x1: 24,
        y1: 20,
    };

    fn outside_untouched(before: &[u8], after: &[u8], w: usize) {
        for (i, (a, b)) in before.iter().zip(after).enumerate() {
            let (x, y) = (i % w, i / w);
            if !(R.x0..R.x1).contains(&x) || !(R.y0..R.y1).contains(&y) {
                assert_eq!(a, b, "({x},{y}) outside the region changed");
            }
        }
    }

    fn spread(img: &[u8], w: usize) -> u8 {
        let inside: Vec<u8> = (R.y0..R.y1)
            .flat_map(|y| (R.x0..R.x1).map(move |x| img[y * w + x]))
            .collect();
        inside.iter().max().unwrap() - inside.iter().min().unwrap()
    }

    #[test]
    fn grow_adds_the_margin_and_clips() {
        assert_eq!(
            grow((10, 10, 20, 40), 0.25, 100, 100),
            Rect {
                x0: 5,
                y0: 0,
                x1: 35,
                y1: 60
            }
        );
        assert_eq!(grow((90, 90, 20, 20), 0.5, 100, 100).x1, 100);
    }

    #[test]
    fn fill_paints_exactly_the_region() {
        let (w, h) = (32, 24);
        let before = checker(w, h);
        let mut img = before.clone();
        comp(&mut img, w, h).redact(R, Mode::Fill, 4, 16, &mut Vec::new());
        outside_untouched(&before, &img, w);
        assert_eq!(spread(&img, w), 0);
        assert_eq!(img[R.y0 * w + R.x0], 16);
    }

    #[test]
    fn pixelate_makes_uniform_blocks() {
        let (w, h) = (32, 24);
        let before = checker(w, h);
        let mut img = before.clone();
        comp(&mut img, w, h).redact(R, Mode::Pixelate, 8, 0, &mut Vec::new());
        outside_untouched(&before, &img, w);
        // 2×2 checker cells averaged over 8×8 blocks: mid grey everywhere.
        let v = img[R.y0 * w + R.x0];
        assert!((120..=135).contains(&v), "{v}");
    }

    #[test]
    fn blur_flattens_the_pattern_inside_only() {
        let (w, h) = (32, 24);
        let before = checker(w, h);
        let mut img = before.clone();
        comp(&mut img, w, h).redact(R, Mode::Blur, 3, 0, &mut Vec::new());
        outside_untouched(&before, &img, w);
        assert_eq!(spread(&before, w), 245);
        assert!(spread(&img, w) < 40, "{}", spread(&img, w));
    }

    #[test]
    fn interleaved_components_are_redacted_one_at_a_time() {
        // RGB, 4 × 2: redact only G (offset 1, pixel stride 3) of the left 2 × 2.
        let mut px: Vec<u8> = (0..24).map(|i| i as u8 * 10).collect();
        let before = px.clone();
        let mut g = Component {
            data: &mut px,
            offset: 1,
            stride: 12,
            pixel_stride: 3,
            width: 4,
            height: 2,
        };
        let r = Rect {
            x0: 0,
            y0: 0,
            x1: 2,
            y1: 2,
        };
        g.redact(r, Mode::Fill, 1, 7, &mut Vec::new());
        for (i, (a, b)) in before.iter().zip(&px).enumerate() {
            let (x, y, c) = (i % 12 / 3, i / 12, i % 3);
            if c == 1 && x < 2 && y < 2 {
                assert_eq!(*b, 7);
            } else {
                assert_eq!(a, b, "byte {i}");
            }
        }
    }

    #[test]
    fn a_region_outside_the_frame_is_a_no_op() {
        let mut img = vec![9u8; 16];
        let r = Rect {
            x0: 10,
            y0: 10,
            x1: 20,
            y1: 20,
        };
        comp(&mut img, 4, 4).redact(r, Mode::Blur, 2, 0, &mut Vec::new());
        assert!(img.iter().all(|&v| v == 9));
    }
}
