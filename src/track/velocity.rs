//! Constant-velocity motion model of a face box: an alpha-beta filter on the box centre and
//! size. Cheap, allocation-free, and enough to carry a box across skipped or missed frames
//! and to keep two crossing faces apart.

use crate::detect::geometry::BBox;

/// Position gain: how far an update moves the state towards the measurement.
const ALPHA: f32 = 0.6;
/// Velocity gain.
const BETA: f32 = 0.2;
/// Frames predicted at full velocity; after that each frame keeps this share of the speed.
const FULL_SPEED_FRAMES: u32 = 5;
const DAMPING: f32 = 0.9;

/// Frames of motion applied after `n` frames: `n` up to [`FULL_SPEED_FRAMES`], then a
/// geometric tail that converges (at most 9 more frames' worth).
fn effective_frames(n: u32) -> f32 {
    if n <= FULL_SPEED_FRAMES {
        return n as f32;
    }
    let tail = n - FULL_SPEED_FRAMES;
    FULL_SPEED_FRAMES as f32 + DAMPING * (1.0 - DAMPING.powi(tail as i32)) / (1.0 - DAMPING)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VelocityModel {
    /// cx, cy, w, h
    x: [f32; 4],
    /// their change per frame
    v: [f32; 4],
    /// Measurements taken so far.
    updates: u32,
}

impl VelocityModel {
    pub fn new(b: &BBox) -> Self {
        VelocityModel {
            x: to_state(b),
            v: [0.0; 4],
            updates: 1,
        }
    }

    /// The box `frames` frames after the last measurement (without changing state). Beyond
    /// a few frames the velocity decays, so a face that stopped being detected is not
    /// carried far away.
    pub fn predicted(&self, frames: u32) -> BBox {
        let f = effective_frames(frames);
        let mut s = self.x;
        for (s, v) in s.iter_mut().zip(&self.v) {
            *s += v * f;
        }
        s[2] = s[2].max(1.0);
        s[3] = s[3].max(1.0);
        to_box(&s)
    }

    pub fn current(&self) -> BBox {
        to_box(&self.x)
    }

    /// Takes a measurement `frames` frames after the last one.
    pub fn update(&mut self, b: &BBox, frames: u32) {
        let dt = frames.max(1) as f32;
        let z = to_state(b);
        self.updates += 1;
        if self.updates == 2 {
            // Second measurement: the velocity is simply the observed displacement.
            for ((x, v), z) in self.x.iter_mut().zip(self.v.iter_mut()).zip(z) {
                *v = (z - *x) / dt;
                *x = z;
            }
            return;
        }
        for ((x, v), z) in self.x.iter_mut().zip(self.v.iter_mut()).zip(z) {
            let pred = *x + *v * dt;
            let r = z - pred;
            *x = pred + ALPHA * r;
            *v += BETA * r / dt;
        }
    }

    /// Velocity of the centre in pixels per frame.
    pub fn velocity(&self) -> (f32, f32) {
        (self.v[0], self.v[1])
    }
}

fn to_state(b: &BBox) -> [f32; 4] {
    [
        (b.x1 + b.x2) / 2.0,
        (b.y1 + b.y2) / 2.0,
        b.width(),
        b.height(),
    ]
}

fn to_box(s: &[f32; 4]) -> BBox {
    BBox::new(
        s[0] - s[2] / 2.0,
        s[1] - s[3] / 2.0,
        s[0] + s[2] / 2.0,
        s[1] + s[3] / 2.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_constant_velocity() {
        let mut m = VelocityModel::new(&BBox::from_xywh(0.0, 0.0, 20.0, 20.0));
        for i in 1..30 {
            m.update(&BBox::from_xywh(5.0 * i as f32, 0.0, 20.0, 20.0), 1);
        }
        let (vx, vy) = m.velocity();
        assert!((vx - 5.0).abs() < 0.1 && vy.abs() < 0.1, "{vx} {vy}");
        let p = m.predicted(3);
        assert!((p.x1 - 5.0 * 32.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn measurements_every_third_frame() {
        let mut m = VelocityModel::new(&BBox::from_xywh(0.0, 0.0, 20.0, 20.0));
        for i in 1..20 {
            m.update(
                &BBox::from_xywh(6.0 * i as f32, 3.0 * i as f32, 20.0, 20.0),
                3,
            );
        }
        let (vx, vy) = m.velocity();
        assert!(
            (vx - 2.0).abs() < 0.1 && (vy - 1.0).abs() < 0.1,
            "{vx} {vy}"
        );
    }

    #[test]
    fn long_predictions_slow_down_and_keep_size() {
        let mut m = VelocityModel::new(&BBox::from_xywh(0.0, 0.0, 20.0, 20.0));
        for i in 1..10 {
            m.update(&BBox::from_xywh(4.0 * i as f32, 0.0, 20.0, 20.0), 1);
        }
        let x0 = m.current().x1;
        let near = m.predicted(5).x1 - x0;
        let far = m.predicted(100).x1 - x0;
        assert!((near - 5.0 * m.velocity().0).abs() < 1e-3);
        assert!(far < 15.0 * m.velocity().0, "{far}");
        assert!((m.predicted(100).width() - 20.0).abs() < 1.0);
    }
}
