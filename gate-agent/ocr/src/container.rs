//! Container codes: horizontal lines (owner + serial + boxed check digit,
//! joined across neighbouring boxes) and vertical columns (one character
//! per row, cut into cells by the row projection profile and laid side by
//! side into one horizontal line, since the recogniser reads horizontal
//! text only); every read is validated and repaired with the ISO 6346 check
//! digit of `gate_proto::formats::iso6346`.
//!
//! Layer: recognition logic over the engine; knows the code format, not
//! lanes or devices.

use gate_proto::formats::iso6346;
use image::{Rgb, RgbImage};

use crate::det::{self, TextBox};
use crate::engine::{Rec, REC_H};
use crate::imgops;
use crate::{CodeRead, Layout, OcrError, Rect};

/// The code a read stands for: the first 11-character window of its
/// letters and digits that is valid or uniquely repaired; else the read
/// normalised. Returns (text, check_ok, fixes).
pub fn interpret(raw: &str) -> (String, bool, usize) {
    // Words of letters and digits (spaces, brackets, punctuation split them).
    let words: Vec<Vec<char>> = raw
        .split(|c: char| !c.is_alphanumeric())
        .map(|w| {
            w.chars()
                .map(gate_proto::formats::plate::to_half_width)
                .flat_map(char::to_uppercase)
                .filter(char::is_ascii_alphanumeric)
                .collect::<Vec<char>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut best: Option<(String, usize)> = None;
    // Runs of consecutive words at most MAX_SPAN characters long: a code
    // and a stray character or two (the check digit's box), never a
    // window cut out of a longer text (an on-screen date).
    for i in 0..words.len() {
        let mut run: Vec<char> = Vec::new();
        for w in &words[i..] {
            run.extend_from_slice(w);
            if run.len() > MAX_SPAN {
                break;
            }
            if run.len() < 11 {
                continue;
            }
            for s in 0..=run.len() - 11 {
                let w: String = run[s..s + 11].iter().collect();
                let (code, fixes) = match iso6346::repair(&w) {
                    iso6346::Repair::Valid(c) => (c, 0),
                    iso6346::Repair::Repaired { code, fixes } => (code, fixes.len()),
                    _ => continue,
                };
                if best.as_ref().is_none_or(|b| fixes < b.1) {
                    best = Some((code.as_str().to_string(), fixes));
                }
            }
        }
    }
    match best {
        Some((t, f)) => (t, true, f),
        None => (words.concat().into_iter().collect(), false, 0),
    }
}

/// Longest run of letters and digits a code is looked for in.
const MAX_SPAN: usize = 13;

fn code_read(
    raw: String,
    conf: f32,
    layout: Layout,
    bbox: Option<Rect>,
    t0: std::time::Instant,
) -> Option<CodeRead> {
    if raw.trim().is_empty() {
        return None;
    }
    let (text, check_ok, fixes) = interpret(&raw);
    let confidence = if check_ok {
        conf * 0.9f32.powi(fixes as i32)
    } else {
        conf * 0.5
    };
    Some(CodeRead {
        text,
        raw,
        confidence: confidence.clamp(0.0, 1.0),
        layout,
        check_ok,
        repaired: fixes > 0,
        bbox,
        micros: t0.elapsed().as_micros() as u64,
    })
}

/// Cut a vertical code crop into per-character cells (row projection of the
/// ink) and lay them side by side, each scaled to the line height, on the
/// crop's background colour.
pub fn vertical_to_line(crop: &RgbImage) -> Option<RgbImage> {
    let (w, h) = crop.dimensions();
    if w < 4 || h < 8 {
        return None;
    }
    let ink = imgops::ink_mask(crop);
    let (wu, hu) = (w as usize, h as usize);
    let rows: Vec<bool> = (0..hu)
        .map(|y| ink[y * wu..(y + 1) * wu].iter().filter(|&&b| b).count() >= 2)
        .collect();
    let mut cells = imgops::runs(&rows, 2);
    cells.retain(|(a, b)| b - a >= 3);
    if cells.len() < 4 {
        return None;
    }
    // Characters are of one height: drop much taller or flatter runs.
    let mut hs: Vec<usize> = cells.iter().map(|(a, b)| b - a).collect();
    hs.sort_unstable();
    let med = hs[hs.len() / 2] as f32;
    cells.retain(|(a, b)| {
        let h = (b - a) as f32;
        h >= 0.5 * med && h <= 2.0 * med
    });
    // Background: the mean colour of non-ink pixels.
    let (mut sum, mut n) = ([0u64; 3], 0u64);
    for (p, &k) in crop.pixels().zip(&ink) {
        if !k {
            for (acc, v) in sum.iter_mut().zip(p.0) {
                *acc += u64::from(v);
            }
            n += 1;
        }
    }
    let bg = Rgb(sum.map(|s| (s / n.max(1)) as u8));
    let line_h = REC_H;
    let inner = line_h * 3 / 4;
    let gap = line_h / 4;
    let mut parts = Vec::new();
    for (y0, y1) in cells {
        // Horizontal extent of this cell's ink.
        let cols: Vec<bool> = (0..wu).map(|x| (y0..y1).any(|y| ink[y * wu + x])).collect();
        let r = imgops::runs(&cols, wu);
        let (x0, x1) = match (r.first(), r.last()) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => continue,
        };
        let pad = 2usize;
        let (cx0, cx1) = (x0.saturating_sub(pad), (x1 + pad).min(wu));
        let (cy0, cy1) = (y0.saturating_sub(pad), (y1 + pad).min(hu));
        let cell = image::imageops::crop_imm(
            crop,
            cx0 as u32,
            cy0 as u32,
            (cx1 - cx0) as u32,
            (cy1 - cy0) as u32,
        )
        .to_image();
        let cw = ((inner as f32 * cell.width() as f32 / cell.height().max(1) as f32).ceil() as u32)
            .clamp(2, 2 * inner);
        parts.push(image::imageops::resize(
            &cell,
            cw,
            inner,
            image::imageops::FilterType::Triangle,
        ));
    }
    let total: u32 = parts.iter().map(|p| p.width() + gap).sum::<u32>() + gap;
    let mut line = RgbImage::from_pixel(total, line_h, bg);
    let mut x = gap;
    for p in &parts {
        image::imageops::replace(&mut line, p, i64::from(x), i64::from((line_h - inner) / 2));
        x += p.width() + gap;
    }
    Some(line)
}

/// Read a located code crop.
pub fn read_crop(
    rec: &Rec,
    crop: &RgbImage,
    layout: Layout,
    bbox: Option<Rect>,
) -> Result<Option<CodeRead>, OcrError> {
    let t0 = std::time::Instant::now();
    let (w, h) = crop.dimensions();
    if w < 4 || h < 4 {
        return Err(OcrError::Image(format!("code crop {w}x{h} too small")));
    }
    let d = match layout {
        Layout::Horizontal => rec.read(crop)?,
        Layout::Vertical => match vertical_to_line(crop) {
            Some(line) => rec.read(&line)?,
            None => return Ok(None),
        },
    };
    Ok(code_read(d.text, d.confidence, layout, bbox, t0))
}

/// Every code in a frame: horizontal lines and vertical columns of boxes.
pub fn read_frame(
    rec: &Rec,
    frame: &RgbImage,
    boxes: &[TextBox],
) -> Result<Vec<CodeRead>, OcrError> {
    let t0 = std::time::Instant::now();
    let mut out: Vec<CodeRead> = Vec::new();
    // Vertical columns: narrow boxes stacked with small gaps, or one tall box.
    let columns = det::cluster(boxes, |a, b| {
        let wm = a.w().max(b.w());
        a.h_overlap(b) > 0.5 && a.v_gap(b) < 0.6 * wm && a.w() < 2.0 * a.h() && b.w() < 2.0 * b.h()
    });
    let mut used = vec![false; boxes.len()];
    for (u, members) in &columns {
        if u.h() < 4.0 * u.w() {
            continue;
        }
        for m in members {
            if let Some(i) = boxes.iter().position(|b| b == m) {
                used[i] = true;
            }
        }
        // The detector often finds only part of a column of single
        // characters: look above and below it too (cells come from the ink).
        let (dx, dy) = (0.3 * u.w(), 1.5 * u.h());
        let Some((crop, rect)) = imgops::crop(frame, u.x0 - dx, u.y0 - dy, u.x1 + dx, u.y1 + dy)
        else {
            continue;
        };
        if let Some(line) = vertical_to_line(&crop) {
            let d = rec.read(&line)?;
            if let Some(r) = code_read(d.text, d.confidence, Layout::Vertical, Some(rect), t0) {
                out.push(r);
            }
        }
    }
    // Horizontal lines: the rest, joined along a row.
    let rest: Vec<TextBox> = boxes
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(b, _)| *b)
        .collect();
    let lines = det::cluster(&rest, |a, b| {
        a.v_overlap(b) > 0.5 && a.h_gap(b) < 1.2 * a.h().max(b.h())
    });
    for (u, _) in lines {
        if u.w() < 2.5 * u.h() {
            continue;
        }
        let Some((crop, rect)) = imgops::crop(frame, u.x0, u.y0, u.x1, u.y1) else {
            continue;
        };
        let d = rec.read(&crop)?;
        let mut r = code_read(d.text, d.confidence, Layout::Horizontal, Some(rect), t0);
        // Owner and serial read but not the boxed check digit: the detector
        // often leaves the box out of the line; read again with room for it.
        if r.as_ref()
            .is_some_and(|r| !r.check_ok && (10..=11).contains(&r.text.len()))
        {
            if let Some((wide, wrect)) = imgops::crop(frame, u.x0, u.y0, u.x1 + 1.2 * u.h(), u.y1) {
                let d = rec.read(&wide)?;
                let again = code_read(d.text, d.confidence, Layout::Horizontal, Some(wrect), t0);
                if again.as_ref().is_some_and(|a| a.check_ok) {
                    r = again;
                }
            }
        }
        if let Some(r) = r {
            if r.check_ok || r.text.len() >= 10 {
                out.push(r);
            }
        }
    }
    // One read per code, the most confident; codes first, then by position.
    out.sort_by(|a, b| {
        b.check_ok
            .cmp(&a.check_ok)
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let mut seen: Vec<String> = Vec::new();
    out.retain(|r| {
        if seen.contains(&r.text) {
            false
        } else {
            seen.push(r.text.clone());
            true
        }
    });
    // Keep invalid reads only when no code was found at all.
    if out.iter().any(|r| r.check_ok) {
        out.retain(|r| r.check_ok);
    }
    let micros = t0.elapsed().as_micros() as u64;
    for r in &mut out {
        r.micros = micros;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpret_finds_and_repairs_the_code() {
        assert_eq!(
            interpret("CSQU 305438 [3]"),
            ("CSQU3054383".into(), true, 0)
        );
        assert_eq!(interpret("CSQU 3O5438 3"), ("CSQU3054383".into(), true, 1));
        assert_eq!(interpret("xCSQU3054383"), ("CSQU3054383".into(), true, 0));
        assert!(!interpret("CSQU 305438").1);
        // A window of a longer text is not a code.
        assert!(!interpret("PLATE_FRONT 2026-11-27 10:00:00 #1").1);
    }
}
