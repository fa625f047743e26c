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
use image::RgbImage;

use crate::det::{self, TextBox};
use crate::engine::{Rec, REC_H};
use crate::imgops;
use crate::{CodeRead, Layout, OcrError, Rect};

/// The code a read stands for: the first 11-character window of its
/// letters and digits that is valid or uniquely repaired; else the read
/// normalised. Returns (text, check_ok, fixes).
pub fn interpret(raw: &str) -> (String, bool, usize) {
    // Words of letters and digits (spaces, brackets, punctuation split them).
    // A boxed check digit is often read as a circled or parenthesised one.
    let raw: String = raw.chars().map(enclosed_digit).collect();
    let mut best: Option<(String, usize)> = None;
    // A code is painted with spaces and a box around its check digit; any
    // other separator (`:` `-` `/` `#` `.` ...) ends it, so the digits of an
    // on-screen date and time never join into a code.
    for group in raw.split(|c: char| !(c.is_alphanumeric() || c.is_whitespace() || is_box(c))) {
        if let Some(found) = best_in_group(group) {
            if best.as_ref().is_none_or(|b| found.1 < b.1) {
                best = Some(found);
            }
        }
    }
    match best {
        Some((t, f)) => (t, true, f),
        None => (code_chars(&raw).collect(), false, 0),
    }
}

/// The characters of `s` a code is made of: half-width, upper-case ASCII
/// letters and digits.
fn code_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars()
        .map(gate_proto::formats::plate::to_half_width)
        .flat_map(char::to_uppercase)
        .filter(char::is_ascii_alphanumeric)
}

/// Characters a model may read for the check digit's box.
fn is_box(c: char) -> bool {
    matches!(
        c,
        '[' | ']' | '(' | ')' | '|' | '【' | '】' | '（' | '）' | '［' | '］' | '口'
    )
}

/// Most characters a read may have changed to become a code: more, and
/// unrelated text (a row of digits) is "repaired" into codes.
const MAX_FIXES: usize = 2;

/// The best code in one group of words: (code, fixes).
fn best_in_group(group: &str) -> Option<(String, usize)> {
    let words: Vec<Vec<char>> = group
        .split(|c: char| !c.is_alphanumeric())
        .map(|w| code_chars(w).collect::<Vec<char>>())
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
                if fixes <= MAX_FIXES && best.as_ref().is_none_or(|b| fixes < b.1) {
                    best = Some((code.as_str().to_string(), fixes));
                }
            }
        }
    }
    best
}

/// The plain digit for an enclosed one (`①`, `⑴`, `⒈`, `❶`, `➀`, `➊`, `⓪`,
/// `⓿`); any other character unchanged.
fn enclosed_digit(c: char) -> char {
    let u = c as u32;
    let d = match u {
        0x2460..=0x2468 => u - 0x2460 + 1,        // ① .. ⑨
        0x2474..=0x247C => u - 0x2474 + 1,        // ⑴ .. ⑼
        0x2488..=0x2490 => u - 0x2488 + 1,        // ⒈ .. ⒐
        0x2776..=0x277E => u - 0x2776 + 1,        // ❶ .. ❾
        0x2780..=0x2788 => u - 0x2780 + 1,        // ➀ .. ➈
        0x278A..=0x2792 => u - 0x278A + 1,        // ➊ .. ➒
        0x24EA | 0x24FF | 0x1F10B | 0x1F10C => 0, // ⓪ ⓿ 🄋 🄌
        _ => return c,
    };
    char::from_digit(d, 10).unwrap_or(c)
}

/// Longest run of letters and digits a code is looked for in.
const MAX_SPAN: usize = 13;

pub fn code_read(
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
/// crop's background colour; also with the last cell's box (the check
/// digit's) erased around its digit, and the last cell as cut from the
/// crop, for [`boxed_digit`]: laid in the line, a box is scaled down with
/// its digit too small to read.
pub fn vertical_to_line(crop: &RgbImage) -> Option<Vertical> {
    let (w, h) = crop.dimensions();
    if w < 4 || h < 8 {
        return None;
    }
    let ink = imgops::ink_mask(crop);
    let (wu, hu) = (w as usize, h as usize);
    let counts: Vec<usize> = (0..hu)
        .map(|y| ink[y * wu..(y + 1) * wu].iter().filter(|&&b| b).count())
        .collect();
    let rows: Vec<bool> = counts.iter().map(|&n| n >= 2).collect();
    let mut cells = imgops::runs(&rows, 2);
    cells.retain(|(a, b)| b - a >= 3);
    if cells.len() < 4 {
        return None;
    }
    // Characters are of one height: a run much taller than most is two
    // cells that touch (the box drawn close under the last character,
    // blur or dirt bridging a gap), split at its thinnest row.
    let med = median_height(&cells);
    cells = cells
        .into_iter()
        .flat_map(|c| split_tall(c, &counts, med))
        .collect();
    let med = median_height(&cells);
    // Drop what is still much taller or flatter than a character.
    cells.retain(|(a, b)| {
        let h = (b - a) as f32;
        h >= 0.5 * med && h <= 2.0 * med
    });
    // Background: the mean colour of non-ink pixels.
    let bg = imgops::mean_colour(crop.pixels().zip(&ink).filter(|(_, &k)| !k).map(|(p, _)| p));
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
        parts.push(cell);
    }
    // The last cell on a margin of background a third of its size (the
    // box finder wants the box's strokes clear of the image's edge).
    let cell = parts.last()?;
    let m = cell.width().max(cell.height()) / 3;
    let mut last = RgbImage::from_pixel(cell.width() + 2 * m, cell.height() + 2 * m, bg);
    image::imageops::overlay(&mut last, cell, i64::from(m), i64::from(m));
    let line = imgops::cells_to_line(&parts, REC_H, bg);
    // The box's digit in the line in place of the box.
    let unboxed = box_digit_cell(&last, 0).map(|digit| {
        let n = parts.len();
        parts[n - 1] = digit;
        imgops::cells_to_line(&parts, REC_H, bg)
    });
    Some(Vertical {
        line,
        unboxed,
        last,
    })
}

/// A vertical code laid out as a line by [`vertical_to_line`].
pub struct Vertical {
    /// The cells side by side, the last (the check digit's box) as drawn.
    pub line: RgbImage,
    /// The same with the last cell's box erased around its digit, when a
    /// box was found there.
    pub unboxed: Option<RgbImage>,
    /// The last cell as cut from the crop, on a margin of background.
    pub last: RgbImage,
}

fn median_height(cells: &[(usize, usize)]) -> f32 {
    let mut hs: Vec<usize> = cells.iter().map(|(a, b)| b - a).collect();
    hs.sort_unstable();
    hs.get(hs.len() / 2).copied().unwrap_or(0) as f32
}

/// A run of rows `[a, b)` as cells: split at its thinnest row (fewest ink
/// pixels, at least half a character from either end; the most central of
/// equals) while it is more than 1.75 characters tall.
fn split_tall((a, b): (usize, usize), counts: &[usize], med: f32) -> Vec<(usize, usize)> {
    let half = (0.5 * med).ceil() as usize;
    if ((b - a) as f32) <= 1.75 * med || b < a + 2 * half + 1 || med < 3.0 {
        return vec![(a, b)];
    }
    let mid = (a + b) / 2;
    let Some(cut) = (a + half..b - half)
        .min_by_key(|&y| (counts.get(y).copied().unwrap_or(0), y.abs_diff(mid)))
    else {
        return vec![(a, b)];
    };
    let mut out = split_tall((a, cut), counts, med);
    out.extend(split_tall((cut + 1, b), counts, med));
    out
}

/// `(x0, x1, y0, y1)` of a box's outer edge, pixels.
type BoxEdges = (usize, usize, usize, usize);

/// The check-digit box right of column `from` of a code line, as
/// `[x0, x1) x [y0, y1)` of its outer edge: two long horizontal ink runs
/// (top and bottom strokes) about a box's height apart, over the same
/// columns, joined by upright sides. Door bars and corrugations are
/// vertical, so they do not make such a pair.
fn find_box(ink: &[bool], w: usize, h: usize, from: usize) -> Option<BoxEdges> {
    let min_run = ((h as f32 * 0.3) as usize).max(8);
    // (y, a, b) of every long run.
    let mut long = Vec::new();
    for y in 0..h {
        let row = &ink[y * w..(y + 1) * w];
        let mut x = from;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let a = x;
            while x < w && row[x] {
                x += 1;
            }
            if x - a >= min_run {
                long.push((y, a, x));
            }
        }
    }
    let col_frac = |x: usize, y0: usize, y1: usize| {
        (y0..y1).filter(|&y| ink[y * w + x]).count() as f32 / (y1 - y0).max(1) as f32
    };
    let side = |x0: usize, x1: usize, y0: usize, y1: usize| {
        (x0..x1.min(w)).any(|x| col_frac(x, y0, y1) >= 0.8)
    };
    let mut best: Option<(usize, usize, BoxEdges)> = None;
    for (i, &(ty, ta, tb)) in long.iter().enumerate() {
        for &(by, ba, bb) in &long[i + 1..] {
            let len = (tb - ta).min(bb - ba);
            let dy = by - ty;
            let overlap = tb.min(bb).saturating_sub(ta.max(ba));
            // Horizontal codes box the digit about square, vertical ones
            // about 3:2.
            if (dy as f32) < 0.4 * len as f32
                || (dy as f32) > 1.6 * len as f32
                || (overlap as f32) < 0.8 * len as f32
            {
                continue;
            }
            let (x0, x1) = (ta.max(ba), tb.min(bb));
            let edge = (len / 6).max(2);
            if !side(x0, x0 + edge, ty, by + 1) || !side(x1.saturating_sub(edge), x1, ty, by + 1) {
                continue;
            }
            // The strokes that run the box's full width, outermost first.
            let cand = (len, dy, (x0, x1, ty, by + 1));
            if best.is_none_or(|b| (cand.0, cand.1) > (b.0, b.1)) {
                best = Some(cand);
            }
        }
    }
    best.map(|b| b.2)
}

/// The inside of the check-digit box of a code line, its strokes erased:
/// the cell, where it goes in the line (`x, y`), the whole box's columns
/// `[x0, x1)` and rows `[y0, y1)`, and the background colour. Only the part
/// of `line` right of column `from` is searched.
struct BoxInside {
    cell: RgbImage,
    at: (u32, u32),
    cols: (u32, u32),
    rows: (u32, u32),
    bg: image::Rgb<u8>,
}

fn box_inside(line: &RgbImage, from: u32) -> Option<BoxInside> {
    let (w, h) = line.dimensions();
    if w < 16 || h < 12 {
        return None;
    }
    let ink = imgops::ink_mask(line);
    let (wu, hu) = (w as usize, h as usize);
    let (bx0, bx1, by0, by1) = find_box(&ink, wu, hu, from as usize)?;
    let at = |x: usize, y: usize| ink[y * wu + x];
    let col_frac =
        |x: usize| (by0..by1).filter(|&y| at(x, y)).count() as f32 / (by1 - by0).max(1) as f32;
    // Step inside the strokes.
    let (mut l, mut r) = (bx0, bx1);
    while l < r && col_frac(l) >= 0.6 {
        l += 1;
    }
    while r > l && col_frac(r - 1) >= 0.6 {
        r -= 1;
    }
    let stroke = (l - bx0).max(2);
    let pad = 1 + hu / 40;
    let (ix0, ix1) = (l + pad, r.saturating_sub(pad));
    // The slanted top and bottom strokes may reach past the pair of runs.
    let (iy0, iy1) = (by0.saturating_sub(stroke), (by1 + stroke).min(hu));
    if ix1 <= ix0 + 2 || iy1 <= iy0 + 8 {
        return None;
    }
    // Background: the inside's non-ink colour.
    let bg = imgops::mean_colour(
        (by0..by1)
            .flat_map(|y| (ix0..ix1).map(move |x| (x, y)))
            .filter(|&(x, y)| !at(x, y))
            .map(|(x, y)| line.get_pixel(x as u32, y as u32)),
    );
    let mut cell = image::imageops::crop_imm(
        line,
        ix0 as u32,
        iy0 as u32,
        (ix1 - ix0) as u32,
        (iy1 - iy0) as u32,
    )
    .to_image();
    // Erase the strokes column by column (a perspective view slants them):
    // the first ink from the top and from the bottom, one stroke thick.
    let ch = iy1 - iy0;
    let reach = ch * 2 / 5;
    for x in ix0..ix1 {
        let cx = (x - ix0) as u32;
        if let Some(y) = (iy0..iy0 + reach).find(|&y| at(x, y)) {
            for yy in y..(y + stroke + 1).min(iy1) {
                cell.put_pixel(cx, (yy - iy0) as u32, bg);
            }
        }
        if let Some(y) = (iy1 - reach..iy1).rev().find(|&y| at(x, y)) {
            for yy in (y + 1).saturating_sub(stroke + 1).max(iy0)..=y {
                cell.put_pixel(cx, (yy - iy0) as u32, bg);
            }
        }
    }
    Some(BoxInside {
        cell,
        at: (ix0 as u32, iy0 as u32),
        cols: (bx0.saturating_sub(1) as u32, (bx1 + 1).min(wu) as u32),
        rows: (iy0 as u32, iy1 as u32),
        bg,
    })
}

/// The digit inside a check-digit box found in `img` (right of column
/// `from`), its strokes erased and cut to its ink with a small margin: a
/// cell to lay after a vertical code's characters, so that the digit is
/// read in the line with them.
pub fn box_digit_cell(img: &RgbImage, from: u32) -> Option<RgbImage> {
    digit_in(&box_inside(img, from)?)
}

/// The digit inside a box, cut to its ink with a small margin.
fn digit_in(b: &BoxInside) -> Option<RgbImage> {
    let (cell, bg) = (&b.cell, b.bg);
    let (w, h) = (cell.width() as usize, cell.height() as usize);
    // Ink is what is on the other side of Otsu's threshold from the box's
    // background (a digit fills most of a tight box: the majority rule of
    // an ink mask would take it for the background).
    let g = imgops::luma(cell);
    let t = imgops::otsu(&g);
    let bg_dark = imgops::luma_of(bg) <= t;
    let ink: Vec<bool> = g.iter().map(|&v| (v <= t) != bg_dark).collect();
    // The digit is the tallest band of inked rows, and within it the
    // widest band of inked columns: what is left of the box's strokes
    // (thin lines at the edges) is cut off, so the digit is scaled in the
    // line like the characters beside it.
    let rows: Vec<bool> = (0..h)
        .map(|y| ink[y * w..(y + 1) * w].iter().any(|&b| b))
        .collect();
    let (y0, y1) = imgops::runs(&rows, 2)
        .into_iter()
        .max_by_key(|(a, b)| b - a)?;
    let cols: Vec<bool> = (0..w).map(|x| (y0..y1).any(|y| ink[y * w + x])).collect();
    let (x0, x1) = imgops::runs(&cols, 2)
        .into_iter()
        .max_by_key(|(a, b)| b - a)?;
    if y1 - y0 < 4 {
        return None;
    }
    let m = 2.0;
    imgops::crop(
        cell,
        x0 as f32 - m,
        y0 as f32 - m,
        x1 as f32 + m,
        y1 as f32 + m,
    )
    .map(|c| c.0)
}

/// The line with its check-digit box erased and the digit left in place,
/// so that one read gives the whole code. `None` when no box is found.
pub fn without_box(line: &RgbImage, from: u32) -> Option<RgbImage> {
    let b = box_inside(line, from)?;
    let mut out = line.clone();
    for y in b.rows.0..b.rows.1 {
        for x in b.cols.0..b.cols.1 {
            out.put_pixel(x, y, b.bg);
        }
    }
    image::imageops::replace(&mut out, &b.cell, i64::from(b.at.0), i64::from(b.at.1));
    Some(out)
}

/// The digit inside the check-digit box at the right end of a horizontal
/// code line, read on its own with the frame stripped. The recogniser,
/// given the whole line, often drops a boxed digit or reads it as a
/// circled one.
/// Only the part of `line` right of column `from` is searched.
pub fn boxed_digit(rec: &Rec, line: &RgbImage, from: u32) -> Result<Option<(char, f32)>, OcrError> {
    let Some(b) = box_inside(line, from) else {
        return Ok(None);
    };
    // The digit cut to its ink (the strokes' traces cut off); the whole
    // inside when that gives no digit.
    if let Some(digit) = digit_in(&b) {
        if let Some(d) = read_thrice(rec, &digit, b.bg)? {
            return Ok(Some(d));
        }
    }
    read_thrice(rec, &b.cell, b.bg)
}

/// A lone character read three times in a row on `bg` (a line model
/// reads one alone poorly): the digit at least two copies agree on.
fn read_thrice(
    rec: &Rec,
    cell: &RgbImage,
    bg: image::Rgb<u8>,
) -> Result<Option<(char, f32)>, OcrError> {
    let m = cell.height() / 6 + 2;
    let gap = cell.width() / 3 + 2;
    let mut padded = RgbImage::from_pixel(
        3 * cell.width() + 2 * gap + 2 * m,
        cell.height() + 2 * m,
        bg,
    );
    for k in 0..3u32 {
        let x = m + k * (cell.width() + gap);
        image::imageops::replace(&mut padded, cell, i64::from(x), i64::from(m));
    }
    let d = rec.read(&padded)?;
    let digits: Vec<(char, f32)> = d
        .text
        .chars()
        .map(enclosed_digit)
        .zip(d.probs.iter().copied())
        .filter(|(c, _)| c.is_ascii_digit())
        .collect();
    if digits.len() > 3 {
        return Ok(None);
    }
    let mut agreed = None;
    for &(c, _) in &digits {
        let same: Vec<f32> = digits.iter().filter(|d| d.0 == c).map(|d| d.1).collect();
        if same.len() >= 2 {
            agreed = Some((c, same.iter().sum::<f32>() / same.len() as f32));
        }
    }
    Ok(agreed)
}

/// A read whose check digit failed or went missing, completed with the
/// digit read inside the box on its own when that makes a valid code.
/// The box is looked for in `line` right of column `from`.
pub fn with_boxed_digit(
    rec: &Rec,
    line: &RgbImage,
    from: u32,
    r: CodeRead,
    t0: std::time::Instant,
) -> Result<CodeRead, OcrError> {
    if r.check_ok || !(10..=11).contains(&r.text.len()) {
        return Ok(r);
    }
    let Some((digit, p)) = boxed_digit(rec, line, from)? else {
        return Ok(r);
    };
    let head: String = r.text.chars().take(10).collect();
    let raw = format!("{} [{digit}]", r.raw);
    let conf = (r.confidence * 2.0 * 10.0 + p) / 11.0; // undo the invalid-read halving
    let joined = format!("{head}{digit}");
    match code_read(joined.clone(), conf, r.layout, r.bbox, t0) {
        Some(c) if c.check_ok && !same_class_fix(&joined, &c.text) => Ok(CodeRead { raw, ..c }),
        _ => Ok(r),
    }
}

/// Whether `to` differs from `from` by a letter read as another letter or
/// a digit as another digit: a change only the check digit asked for. A
/// check digit read alone in its box is not trusted to ask for one (a
/// misread digit would turn a read into another valid code).
fn same_class_fix(from: &str, to: &str) -> bool {
    if from.chars().count() != to.chars().count() {
        return true;
    }
    from.chars().zip(to.chars()).any(|(a, b)| {
        a != b
            && ((a.is_ascii_alphabetic() && b.is_ascii_alphabetic())
                || (a.is_ascii_digit() && b.is_ascii_digit()))
    })
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
    match layout {
        Layout::Horizontal => {
            // A line painted at an angle is read straightened first (its
            // ink's cap line and baseline fitted); the crop as it is when
            // that does not validate.
            let straight = imgops::straighten(crop, &imgops::ink_mask(crop), 0.5);
            let mut best: Option<CodeRead> = None;
            for img in straight.iter().chain([crop]) {
                // The box erased around its digit: one read for the code.
                let unboxed = without_box(img, img.width() / 2);
                let d = rec.read(unboxed.as_ref().unwrap_or(img))?;
                let Some(r) = code_read(d.text, d.confidence, layout, bbox, t0) else {
                    continue;
                };
                let r = with_boxed_digit(rec, img, img.width() / 2, r, t0)?;
                if r.check_ok {
                    return Ok(Some(r));
                }
                if best.as_ref().is_none_or(|b| r.confidence > b.confidence) {
                    best = Some(r);
                }
            }
            Ok(best)
        }
        Layout::Vertical => {
            let Some(v) = vertical_to_line(crop) else {
                return Ok(None);
            };
            // The box erased around its digit: one read for the code.
            let mut first = None;
            if let Some(unboxed) = &v.unboxed {
                let d = rec.read(unboxed)?;
                first = code_read(d.text, d.confidence, layout, bbox, t0);
                if first.as_ref().is_some_and(|r| r.check_ok) {
                    return Ok(first);
                }
            }
            // The line with its box, the digit then read in the box alone.
            let d = rec.read(&v.line)?;
            let Some(r) = code_read(d.text, d.confidence, layout, bbox, t0) else {
                return Ok(first);
            };
            let r = with_boxed_digit(rec, &v.line, v.line.width() / 2, r, t0)?;
            let r = with_boxed_digit(rec, &v.last, 0, r, t0)?;
            Ok(match first {
                Some(f) if !r.check_ok && f.confidence > r.confidence => Some(f),
                _ => Some(r),
            })
        }
    }
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
        if let Some(v) = vertical_to_line(&crop) {
            // The box erased around its digit first, the line as cut then.
            for line in v.unboxed.iter().chain([&v.line]) {
                let d = rec.read(line)?;
                if let Some(r) = code_read(d.text, d.confidence, Layout::Vertical, Some(rect), t0) {
                    let done = r.check_ok;
                    out.push(r);
                    if done {
                        break;
                    }
                }
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
                } else if let Some(prev) = r.take() {
                    r = Some(with_boxed_digit(rec, &wide, wide.width() / 2, prev, t0)?);
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
mod tests;
