//! Greedy non-maximum suppression over all strides together (PROVENANCE.md §1.4).

use super::geometry::Face;

/// Sorts `faces` by score (descending) and drops every face whose IoU with an already kept
/// face is greater than `iou_threshold`. At most `max_keep` faces are kept (0 = no limit).
/// Runs in place; O(n·k) where k is the number of kept faces.
pub fn nms(faces: &mut Vec<Face>, iou_threshold: f32, max_keep: usize) {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..faces.len() {
        if max_keep > 0 && kept == max_keep {
            break;
        }
        let candidate = faces[i];
        if faces[..kept]
            .iter()
            .all(|k| k.bbox.iou(&candidate.bbox) <= iou_threshold)
        {
            faces[kept] = candidate;
            kept += 1;
        }
    }
    faces.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::geometry::BBox;

    fn face(x: f32, y: f32, s: f32, score: f32) -> Face {
        Face {
            bbox: BBox::new(x, y, x + s, y + s),
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn keeps_best_of_overlapping_and_all_disjoint() {
        let mut v = vec![
            face(0.0, 0.0, 10.0, 0.7),
            face(1.0, 0.0, 10.0, 0.9), // IoU with first = 9*10/(200-90) = 0.818
            face(50.0, 50.0, 10.0, 0.65),
            face(100.0, 0.0, 10.0, 0.95),
        ];
        nms(&mut v, 0.3, 0);
        let scores: Vec<f32> = v.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.95, 0.9, 0.65]);
    }

    #[test]
    fn threshold_is_strictly_greater() {
        // IoU exactly 1/3 survives a 1/3 threshold, is dropped by 0.3
        let a = face(0.0, 0.0, 10.0, 0.9);
        let mut b = face(5.0, 0.0, 10.0, 0.8);
        b.bbox = BBox::new(5.0, 0.0, 15.0, 10.0);
        let mut v = vec![a, b];
        nms(&mut v, 1.0 / 3.0, 0);
        assert_eq!(v.len(), 2);
        let mut v = vec![a, b];
        nms(&mut v, 0.3, 0);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn max_keep_limits_and_empty_is_fine() {
        let mut v: Vec<Face> = (0..200)
            .map(|i| face(i as f32 * 20.0, 0.0, 10.0, i as f32 / 1000.0))
            .collect();
        nms(&mut v, 0.3, 5);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].score, 0.199);
        let mut e: Vec<Face> = vec![];
        nms(&mut e, 0.3, 5);
        assert!(e.is_empty());
    }
}
