//! DBNet post-processing (as RapidOCR/PaddleOCR do it, with axis-aligned
//! boxes): binarise the probability map at 0.3, dilate 2x2, 8-connected
//! components, keep those whose mean probability is at least 0.5, expand
//! each box by `area * 1.6 / perimeter` (the "unclip"), scale to the frame;
//! then group boxes into text lines and vertical columns.
//!
//! Layer: pure geometry on a probability map; knows nothing about models or
//! what the text means.

use crate::engine::ProbMap;
use crate::imgops;

const THRESH: f32 = 0.3;
const BOX_THRESH: f32 = 0.5;
const UNCLIP: f32 = 1.6;
const MIN_SIDE: f32 = 3.0;
/// At most this many components are looked at (bounds the work on noise).
const MAX_CANDIDATES: usize = 1000;

/// A text box in frame pixels (x0,y0 inclusive; x1,y1 exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
}

impl TextBox {
    pub fn w(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> f32 {
        self.y1 - self.y0
    }
    pub fn cx(&self) -> f32 {
        (self.x0 + self.x1) / 2.0
    }
    pub fn union(&self, o: &TextBox) -> TextBox {
        TextBox {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
            score: self.score.max(o.score),
        }
    }
    /// Overlap of the vertical extents over the smaller height.
    pub fn v_overlap(&self, o: &TextBox) -> f32 {
        let ov = self.y1.min(o.y1) - self.y0.max(o.y0);
        ov.max(0.0) / self.h().min(o.h()).max(1.0)
    }
    /// Overlap of the horizontal extents over the smaller width.
    pub fn h_overlap(&self, o: &TextBox) -> f32 {
        let ov = self.x1.min(o.x1) - self.x0.max(o.x0);
        ov.max(0.0) / self.w().min(o.w()).max(1.0)
    }
    /// Horizontal gap between the boxes (negative when they overlap).
    pub fn h_gap(&self, o: &TextBox) -> f32 {
        self.x0.max(o.x0) - self.x1.min(o.x1)
    }
    /// Vertical gap between the boxes (negative when they overlap).
    pub fn v_gap(&self, o: &TextBox) -> f32 {
        self.y0.max(o.y0) - self.y1.min(o.y1)
    }
}

/// Text boxes of a probability map, in frame pixels, clipped to `fw` x `fh`.
pub fn boxes(map: &ProbMap, fw: u32, fh: u32) -> Vec<TextBox> {
    let (w, h) = (map.w, map.h);
    if map.data.len() != w * h {
        return Vec::new();
    }
    // Binarise and dilate with a 2x2 kernel.
    let bin: Vec<bool> = map.data.iter().map(|&p| p > THRESH).collect();
    let mut mask = bin.clone();
    for y in 0..h {
        for x in 0..w {
            if bin[y * w + x] {
                continue;
            }
            let l = x > 0 && bin[y * w + x - 1];
            let u = y > 0 && bin[(y - 1) * w + x];
            let ul = x > 0 && y > 0 && bin[(y - 1) * w + x - 1];
            mask[y * w + x] = l || u || ul;
        }
    }
    let labels: Vec<u8> = mask.iter().map(|&m| u8::from(m)).collect();
    let mut out = Vec::new();
    for c in imgops::components(&labels, w, h, true, MAX_CANDIDATES, |i| map.data[i]) {
        let (x0, y0, x1, y1) = (c.x0, c.y0, c.x1, c.y1);
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        if bw.min(bh) < MIN_SIDE {
            continue;
        }
        let score = c.sum / c.n.max(1) as f32;
        if score < BOX_THRESH {
            continue;
        }
        let d = bw * bh * UNCLIP / (2.0 * (bw + bh));
        let (ex0, ey0, ex1, ey1) = (
            x0 as f32 - d,
            y0 as f32 - d,
            x1 as f32 + 1.0 + d,
            y1 as f32 + 1.0 + d,
        );
        if (ex1 - ex0).min(ey1 - ey0) < MIN_SIDE + 2.0 {
            continue;
        }
        let s = map.scale;
        out.push(TextBox {
            x0: (ex0 * s).clamp(0.0, fw as f32),
            y0: (ey0 * s).clamp(0.0, fh as f32),
            x1: (ex1 * s).clamp(0.0, fw as f32),
            y1: (ey1 * s).clamp(0.0, fh as f32),
            score,
        });
    }
    out.retain(|b| b.w() >= 2.0 && b.h() >= 2.0);
    out
}

/// Groups of boxes joined by `near` (transitively), each as its union box
/// and its members.
pub fn cluster(
    boxes: &[TextBox],
    near: impl Fn(&TextBox, &TextBox) -> bool,
) -> Vec<(TextBox, Vec<TextBox>)> {
    let n = boxes.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if near(&boxes[i], &boxes[j]) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[a] = b;
                }
            }
        }
    }
    let mut groups: Vec<(usize, Vec<TextBox>)> = Vec::new();
    for (i, b) in boxes.iter().enumerate() {
        let r = root(&mut parent, i);
        match groups.iter_mut().find(|(k, _)| *k == r) {
            Some((_, v)) => v.push(*b),
            None => groups.push((r, vec![*b])),
        }
    }
    groups
        .into_iter()
        .filter_map(|(_, v)| {
            let first = *v.first()?;
            let u = v.iter().fold(first, |a, b| a.union(b));
            Some((u, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_give_two_boxes_in_frame_pixels() {
        let (w, h) = (64usize, 32usize);
        let mut data = vec![0f32; w * h];
        for y in 10..20 {
            for x in 5..25 {
                data[y * w + x] = 0.9;
            }
            for x in 40..60 {
                data[y * w + x] = 0.35; // above the threshold, below box_thresh
            }
        }
        let map = ProbMap {
            w,
            h,
            data,
            scale: 2.0,
        };
        let b = boxes(&map, 128, 64);
        assert_eq!(b.len(), 1, "{b:?}");
        let b = b[0];
        // 20 x 10 (+1 px of dilation) blob, unclipped by ~ 21*11*1.6/64 = 5.8 px, times 2.
        assert!(b.x0 < 10.0 && b.x0 > -0.1, "{b:?}");
        assert!(b.x1 > 50.0 && b.x1 < 65.0, "{b:?}");
        assert!(b.score > 0.7 && b.score < 0.9, "{b:?}");
    }

    #[test]
    fn clusters_join_transitively() {
        let mk = |x0: f32, x1: f32| TextBox {
            x0,
            y0: 0.0,
            x1,
            y1: 10.0,
            score: 1.0,
        };
        let b = [
            mk(0.0, 10.0),
            mk(12.0, 20.0),
            mk(22.0, 30.0),
            mk(100.0, 110.0),
        ];
        let c = cluster(&b, |a, o| a.h_gap(o) < 5.0);
        assert_eq!(c.len(), 2);
        assert!(c
            .iter()
            .any(|(u, m)| m.len() == 3 && u.x0 == 0.0 && u.x1 == 30.0));
    }
}
