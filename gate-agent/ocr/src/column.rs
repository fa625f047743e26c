//! Vertical container codes found by their ink when the text detector sees
//! none: PP-OCR's detector is trained on lines of text and often misses a
//! column of single characters, above all faint paint on a light door.
//! The frame's local contrast is thresholded (bright and dark ink apart),
//! connected components of a character's size and shape are stacked into
//! columns, and each column of eight or more is laid out as one line for
//! the recogniser, with the boxed check digit under it (its box erased)
//! as the line's last cell.
//!
//! Layer: pure pixel work over `imgops`; the reading is done by the
//! caller.

use image::{Rgb, RgbImage};

use crate::container;
use crate::engine::REC_H;
use crate::imgops;
use crate::Rect;

/// Neighbourhood radius and gain of the local contrast.
const LC_RADIUS: u32 = 12;
const LC_GAIN: f32 = 3.0;
/// Ink: this far from mid-grey in the contrast image.
const INK_DELTA: i16 = 48;
/// Character heights looked for, pixels.
const MIN_H: u32 = 10;
const MAX_H: u32 = 80;
/// A column has at least this many characters (of 11), at most this many.
const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 14;
/// Components looked at per polarity (bounds the work on texture).
const MAX_COMPONENTS: usize = 4000;

/// One character-sized blob.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Blob {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Blob {
    fn h(&self) -> u32 {
        self.y1 - self.y0
    }
    fn cx(&self) -> f32 {
        (self.x0 + self.x1) as f32 / 2.0
    }
}

/// A column of characters: its box in the frame and its line image.
pub struct Column {
    pub rect: Rect,
    pub line: RgbImage,
    /// Characters found.
    pub chars: usize,
    /// The region below the column, where a boxed check digit the
    /// blob filter left out (a digit touching its box) would be.
    /// Contrast image first, then the frame itself.
    pub below: [Option<RgbImage>; 2],
}

/// A column's box with a character's height of room on either side.
fn widen(r: &Rect) -> Rect {
    let m = (r.h / 11).max(4);
    Rect {
        x: r.x.saturating_sub(m),
        y: r.y,
        w: r.w + 2 * m,
        h: r.h,
    }
}

/// Overlap of two rectangles over the smaller one's area.
fn overlap(a: &Rect, b: &Rect) -> f32 {
    let w = (a.x + a.w).min(b.x + b.w).saturating_sub(a.x.max(b.x));
    let h = (a.y + a.h).min(b.y + b.h).saturating_sub(a.y.max(b.y));
    (w * h) as f32 / (a.w * a.h).min(b.w * b.h).max(1) as f32
}

/// What the ink of a frame shows.
#[derive(Default)]
pub struct Ink {
    /// Columns of characters, each laid out as one line.
    pub columns: Vec<Column>,
    /// Character-sized blobs below the top tenth of the frame (where
    /// cameras stamp their caption): a frame with few has no code to read.
    pub blobs: usize,
}

/// Every column of character-sized blobs in a frame, each as one line,
/// and how many such blobs the frame has.
pub fn find(frame: &RgbImage) -> Ink {
    let (w, h) = frame.dimensions();
    let mut ink = Ink::default();
    if w < 32 || h < 32 {
        return ink;
    }
    let caption = h / 10;
    let lc = imgops::local_contrast(frame, LC_RADIUS, LC_GAIN);
    for bright in [true, false] {
        let mask: Vec<bool> = lc
            .pixels()
            .map(|p| {
                let d = i16::from(p.0[0]) - 128;
                if bright {
                    d > INK_DELTA
                } else {
                    d < -INK_DELTA
                }
            })
            .collect();
        let blobs = blobs(&mask, w as usize, h as usize);
        ink.blobs += blobs.iter().filter(|b| b.y0 >= caption).count();
        for stack in stacks(blobs) {
            let Some(c) = column(frame, &lc, &stack) else {
                continue;
            };
            // The halo of bright ink is dark ink of the other polarity:
            // of two overlapping columns keep the one with more characters.
            // The halos flank the ink: compare with some room on each side,
            // and keep the column with more and wider characters.
            let near = |o: &Column| overlap(&widen(&o.rect), &widen(&c.rect)) > 0.5;
            let out = &mut ink.columns;
            match out.iter().position(near) {
                Some(i) if (out[i].chars, out[i].rect.w) >= (c.chars, c.rect.w) => {}
                Some(i) => out[i] = c,
                None => out.push(c),
            }
        }
    }
    ink
}

/// Character-sized connected components (4-connected) of a mask.
fn blobs(mask: &[bool], w: usize, h: usize) -> Vec<Blob> {
    let labels: Vec<u8> = mask.iter().map(|&m| u8::from(m)).collect();
    let mut out = Vec::new();
    for c in imgops::components(&labels, w, h, false, MAX_COMPONENTS, |_| 0.0) {
        let (x0, y0, x1, y1, n) = (c.x0, c.y0, c.x1, c.y1, c.n);
        let (bw, bh) = ((x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32);
        // A character: not a stripe, not a speck, not a box.
        if !(MIN_H..=MAX_H).contains(&bh) || bw > bh + bh / 5 || bw < 2 {
            continue;
        }
        if (n as f32) < 0.12 * (bw * bh) as f32 {
            continue;
        }
        out.push(Blob {
            x0: x0 as u32,
            y0: y0 as u32,
            x1: x1 as u32 + 1,
            y1: y1 as u32 + 1,
        });
    }
    out
}

/// Blobs stacked top to bottom: centred over each other, of one height,
/// with small gaps.
fn stacks(mut blobs: Vec<Blob>) -> Vec<Vec<Blob>> {
    blobs.sort_by_key(|b| (b.y0, b.x0));
    let mut stacks: Vec<Vec<Blob>> = Vec::new();
    for b in blobs {
        let fits = |s: &Vec<Blob>| {
            s.last().is_some_and(|l| {
                let hm = l.h().max(b.h()) as f32;
                let ratio = b.h() as f32 / l.h().max(1) as f32;
                (b.cx() - l.cx()).abs() < 0.5 * hm
                    && (0.6..=1.6).contains(&ratio)
                    && b.y0 as f32 >= l.y1 as f32 - 2.0
                    && (b.y0 as f32) < l.y1 as f32 + 1.3 * hm
            })
        };
        match stacks.iter_mut().rev().find(|s| fits(s)) {
            Some(s) => s.push(b),
            None => stacks.push(vec![b]),
        }
    }
    stacks.retain(|s| (MIN_CHARS..=MAX_CHARS).contains(&s.len()));
    stacks
}

/// Lay a stack's characters side by side on mid-grey, each scaled to three
/// quarters of the line height.
fn column(frame: &RgbImage, lc: &RgbImage, stack: &[Blob]) -> Option<Column> {
    let x0 = stack.iter().map(|b| b.x0).min()?;
    let y0 = stack.iter().map(|b| b.y0).min()?;
    let x1 = stack.iter().map(|b| b.x1).max()?;
    let y1 = stack.iter().map(|b| b.y1).max()?;
    let mut cells = Vec::new();
    for b in stack {
        let pad = 2u32;
        let (cx0, cy0) = (b.x0.saturating_sub(pad), b.y0.saturating_sub(pad));
        let (cx1, cy1) = ((b.x1 + pad).min(lc.width()), (b.y1 + pad).min(lc.height()));
        cells.push(image::imageops::crop_imm(lc, cx0, cy0, cx1 - cx0, cy1 - cy0).to_image());
    }
    // The boxed check digit under the column (the blob filter leaves a
    // digit in its box out): its cell, strokes erased, read in the line.
    let below_lc = below(lc, stack);
    if let Some(digit) = below_lc
        .as_ref()
        .and_then(|b| container::box_digit_cell(b, 0))
    {
        cells.push(digit);
    }
    let line = imgops::cells_to_line(&cells, REC_H, Rgb([128u8, 128, 128]));
    Some(Column {
        rect: Rect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        },
        line,
        chars: stack.len(),
        below: [below_lc, below(frame, stack)],
    })
}

/// The region of `img` under a column's last character, two characters
/// high and three wide, centred on it.
fn below(img: &RgbImage, stack: &[Blob]) -> Option<RgbImage> {
    let lc = img;
    let last = stack.last()?;
    let h = last.h();
    let cx = last.cx() as u32;
    let x0 = cx.saturating_sub(3 * h / 2);
    let x1 = (cx + 3 * h / 2).min(lc.width());
    let y0 = last.y1.min(lc.height());
    let y1 = (last.y1 + 2 * h + h / 4).min(lc.height());
    (x1 > x0 + 8 && y1 > y0 + 8)
        .then(|| image::imageops::crop_imm(lc, x0, y0, x1 - x0, y1 - y0).to_image())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_of_blobs_is_found_and_stripes_are_not() {
        // Grey 200x400 with long bright stripes, and a column of 11 bright
        // 12x20 blocks (the "characters") at x 100.
        let mut img = RgbImage::from_pixel(200, 400, Rgb([150, 150, 150]));
        for x in (5..200).step_by(30) {
            for y in 0..400 {
                img.put_pixel(x, y, Rgb([200, 200, 200]));
            }
        }
        for k in 0..11u32 {
            let y = 20 + k * 32;
            for yy in y..y + 20 {
                for xx in 100..112 {
                    // A character with a counter (hole) in it.
                    if !((104..108).contains(&xx) && (y + 6..y + 14).contains(&yy)) {
                        img.put_pixel(xx, yy, Rgb([235, 235, 235]));
                    }
                }
            }
        }
        let found = find(&img);
        // Ten of the eleven are below the caption band (top tenth).
        assert!(found.blobs >= 10, "{}", found.blobs);
        let cols = found.columns;
        assert_eq!(cols.len(), 1, "one column");
        let r = cols[0].rect;
        assert!(r.x >= 95 && r.x <= 101 && r.h > 300, "{r:?}");
        assert!(cols[0].line.width() > 11 * 10, "laid out as a line");
    }
}
