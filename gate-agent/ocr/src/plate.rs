//! Plates: locate the plate among the detected text (boxes grouped into a
//! plate-coloured region), read it (two-row plates row by row), validate
//! and repair with the GA 36 grammar of `gate_proto::formats::plate`, and
//! classify the plate colour from its background pixels.
//!
//! Layer: recognition logic over the engine; knows the plate format, not
//! lanes or devices.

use gate_proto::formats::plate as ga36;
use gate_proto::messages::PlateColour;
use image::RgbImage;

use crate::det::{self, TextBox};
use crate::engine::{ClassSet, Decoded, Rec};
use crate::imgops;
use crate::{OcrError, PlateRead, Rect};

/// Plate colour from the pixels of a plate region (text included); `None`
/// when it does not look like a plate background.
pub fn colour(region: &RgbImage) -> Option<PlateColour> {
    let [black, white, blue, yellow, green, _other] = imgops::hue_fractions(region);
    if blue > 0.3 {
        return Some(PlateColour::Blue);
    }
    if yellow > 0.12 && green > 0.12 {
        return Some(PlateColour::YellowGreen);
    }
    if yellow > 0.3 {
        return Some(PlateColour::Yellow);
    }
    if green > 0.15 && white > 0.1 {
        return Some(PlateColour::Green);
    }
    if white + black > 0.6 {
        return Some(if white > black {
            PlateColour::White
        } else {
            PlateColour::Black
        });
    }
    None
}

/// A plate region darker than this (95th percentile of the brightest
/// channel) is brightened before its colour is judged.
const LIFT_FOR_COLOUR: u8 = 160;

/// What the pixels of a plate region say of its colour: the class when
/// clear, and whether it is bluer than it is yellow (for an ordinary plate
/// whose pixels are not clear: ordinary plates are blue or yellow). A dark
/// region is brightened first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColourEvidence {
    pub pixels: Option<PlateColour>,
    pub bluer: bool,
}

impl ColourEvidence {
    pub fn of(region: &RgbImage) -> ColourEvidence {
        let lifted = imgops::lift(region, LIFT_FOR_COLOUR);
        let img = lifted.as_ref().unwrap_or(region);
        let f = imgops::hue_fractions(img);
        ColourEvidence {
            pixels: colour(img),
            bluer: f[2] >= f[3],
        }
    }

    /// The plate's colour once its text is known: GA 36 fixes it for every
    /// kind but ordinary plates (blue or yellow), where the pixels decide.
    pub fn decide(self, kind: Option<ga36::PlateKind>) -> PlateColour {
        use ga36::PlateKind as K;
        let by_pixels = || {
            self.pixels.unwrap_or(if self.bluer {
                PlateColour::Blue
            } else {
                PlateColour::Yellow
            })
        };
        match kind {
            Some(K::Police) => PlateColour::White,
            Some(K::HongKong | K::Macau | K::Consulate | K::Embassy) => PlateColour::Black,
            Some(K::NewEnergySmall) => PlateColour::Green,
            Some(K::NewEnergyLarge) => PlateColour::YellowGreen,
            Some(K::Trailer | K::Learner) => PlateColour::Yellow,
            Some(K::Ordinary) => match self.pixels {
                Some(c @ (PlateColour::Blue | PlateColour::Yellow)) => c,
                _ if self.bluer => PlateColour::Blue,
                _ => PlateColour::Yellow,
            },
            None => by_pixels(),
        }
    }
}

/// Steps before a line's first character searched for a dropped province
/// character.
const PROVINCE_LOOKBACK: usize = 8;
/// Least probability of the best province character where a look-alike
/// was read, and where none was read, for the mended read to be tried.
const PROVINCE_IN_PLACE: f32 = 0.01;
const PROVINCE_DROPPED: f32 = 0.02;

/// A line's reads: as decoded, and with the province character mended when
/// the decoding read something else in its place (`球` or `J` for `琼`
/// or `辽`) or nothing before the authority letter. The mended reads carry
/// the province's own probability in their confidence; the grammar then
/// decides which read stands.
fn with_province(d: &Decoded) -> Vec<(String, f32)> {
    let mut out = vec![(d.text.clone(), d.confidence)];
    let chars: Vec<char> = d.text.chars().collect();
    if d.watched.is_empty() || chars.len() != d.spans.len() || chars.len() != d.probs.len() {
        return out;
    }
    let Some(j) = chars.iter().position(|c| c.is_alphanumeric()) else {
        return out;
    };
    if ga36::PROVINCES.contains(chars[j]) {
        return out;
    }
    let mean = |probs: &[f32]| probs.iter().sum::<f32>() / probs.len().max(1) as f32;
    let (s0, s1) = d.spans[j];
    if let Some((p, pp)) = d.watched_best(s0, s1).filter(|w| w.1 >= PROVINCE_IN_PLACE) {
        let mut c = chars.clone();
        c[j] = p;
        let mut probs = d.probs.clone();
        probs[j] = pp;
        out.push((c.into_iter().collect(), mean(&probs)));
    }
    if chars[j].is_ascii_alphabetic() {
        let from = s0.saturating_sub(PROVINCE_LOOKBACK);
        if let Some((p, pp)) = d.watched_best(from, s0).filter(|w| w.1 >= PROVINCE_DROPPED) {
            let mut c = chars.clone();
            c.insert(j, p);
            let mut probs = d.probs.clone();
            probs.insert(j, pp);
            out.push((c.into_iter().collect(), mean(&probs)));
        }
    }
    out
}

/// The text a read stands for: normalised, then the GA 36 repair; extra
/// characters at either end (a border read as `1`, a screw as `.`) are
/// trimmed when a trimmed read is valid. Returns (text, valid, fixes).
pub fn interpret(raw: &str) -> (String, bool, usize) {
    // Separators a model may read for the dot (`·`, `:`, `：`, `-`) and
    // other punctuation never belong to a plate.
    let n: String = ga36::normalise(raw)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let chars: Vec<char> = n.chars().collect();
    let mut best: Option<(String, usize, usize)> = None; // (text, fixes, trimmed)
    let starts: Vec<usize> = (0..chars.len().min(3)).collect();
    for &s in &starts {
        for len in [7usize, 8] {
            if s + len > chars.len() {
                continue;
            }
            let trimmed = chars.len() - len;
            let sub: String = chars[s..s + len].iter().collect();
            let r = ga36::repair(&sub);
            if let Some(c) = r.unique() {
                let cand = (c.plate.as_str().to_string(), c.fixes.len(), trimmed);
                let better = match &best {
                    None => true,
                    Some(b) => (cand.2, cand.1) < (b.2, b.1),
                };
                if better {
                    best = Some(cand);
                }
            }
        }
    }
    match best {
        Some((t, fixes, _)) => (t, true, fixes),
        None => (n, false, 0),
    }
}

/// Split a two-row plate crop into its rows at the widest ink gap between
/// 25 % and 55 % of its height. The upper row (province and letter, in
/// smaller characters) is cut to its text band: with the plate's border and
/// the tops of the lower row left in, its characters would be too small
/// for the line model.
fn split_rows(crop: &RgbImage) -> Option<(RgbImage, RgbImage)> {
    let (w, h) = crop.dimensions();
    if h < 8 {
        return None;
    }
    let ink = imgops::ink_mask_centred(crop);
    let (x0, x1) = ((w / 8) as usize, (w - w / 8) as usize);
    let prof: Vec<f32> = (0..h as usize)
        .map(|y| {
            let row = &ink[y * w as usize..(y + 1) * w as usize];
            row[x0..x1].iter().filter(|&&b| b).count() as f32 / (x1 - x0).max(1) as f32
        })
        .collect();
    let (lo, hi) = ((h as f32 * 0.25) as usize, (h as f32 * 0.55) as usize);
    let mut best = (f32::MAX, (h as f32 * 0.38) as usize);
    for (y, &p) in prof.iter().enumerate().take(hi).skip(lo) {
        if p < best.0 {
            best = (p, y);
        }
    }
    let y = best.1 as u32;
    let top = text_band(crop, &ink, &prof[..y as usize])
        .unwrap_or_else(|| image::imageops::crop_imm(crop, 0, 0, w, y.max(1)).to_image());
    let bottom = image::imageops::crop_imm(crop, 0, y, w, (h - y).max(1)).to_image();
    Some((top, bottom))
}

/// The band of text among rows `0..prof.len()` of a crop (`prof`: each
/// row's ink fraction): the run of rows partly inked (not background, not
/// a border or margin) with the most ink, then its inked columns, with a
/// margin. `None` when there is no such band.
fn text_band(crop: &RgbImage, ink: &[bool], prof: &[f32]) -> Option<RgbImage> {
    let w = crop.width() as usize;
    let texty: Vec<bool> = prof.iter().map(|&p| p > 0.03 && p < 0.6).collect();
    let (a, b) = imgops::runs(&texty, 2).into_iter().max_by(|r, s| {
        let mass = |r: &(usize, usize)| prof[r.0..r.1].iter().sum::<f32>();
        mass(r).total_cmp(&mass(s))
    })?;
    let bh = b - a;
    if bh < 4 {
        return None;
    }
    let cols: Vec<bool> = (0..w)
        .map(|x| {
            let n = (a..b).filter(|&y| ink[y * w + x]).count() as f32 / bh as f32;
            n > 0.02
        })
        .collect();
    // Characters are column runs about as wide as the band is high; the
    // plate's border strokes are thin runs, and the margins touch the
    // crop's sides.
    let chars: Vec<(usize, usize)> = imgops::runs(&cols, (bh / 2).max(1))
        .into_iter()
        .filter(|r| (r.1 - r.0) as f32 >= bh as f32 * 0.3 && r.0 > 0 && r.1 < w)
        .collect();
    let first = chars.first()?.0;
    let last = chars.last()?.1 - 1;
    let (py, px) = (bh as f32 * 0.25, bh as f32 * 0.6);
    imgops::crop(
        crop,
        first as f32 - px,
        a as f32 - py,
        (last + 1) as f32 + px,
        b as f32 + py,
    )
    .map(|c| c.0)
}

/// A plate crop narrower than this (width over height) is read as two rows
/// first; wider ones as one row first, and as two rows only below
/// [`TWO_ROW_MAX_ASPECT`] when one row gave nothing sure. Single-row plates
/// are 3.1:1 and two-row ones 2:1; a crop's margins lower both.
const TWO_ROW_FIRST_ASPECT: f32 = 2.2;
const TWO_ROW_MAX_ASPECT: f32 = 2.6;
/// A grammatical read at least this confident ends the reading of a crop.
pub const READ_SURE: f32 = 0.8;

/// Read a plate crop: as one row and, when it is not clearly one row, as
/// two rows (the upper one holds the province and the letter), stopping at
/// the first sure read. The colour comes from the pixels and the grammar.
pub fn read_crop(
    rec: &Rec,
    crop: &RgbImage,
    bbox: Option<Rect>,
) -> Result<Option<PlateRead>, OcrError> {
    let t0 = std::time::Instant::now();
    let (w, h) = crop.dimensions();
    if w < 8 || h < 8 {
        return Err(OcrError::Image(format!("plate crop {w}x{h} too small")));
    }
    let colour = ColourEvidence::of(crop);
    let provinces = rec.class_set(ga36::PROVINCES.chars());
    let sure = |reads: &[(String, f32)]| {
        best_read(reads.to_vec(), colour, bbox, t0)
            .is_some_and(|r| r.valid && r.confidence >= READ_SURE)
    };
    // A plate seen at an angle is read straightened first; the crop as it
    // is when that gives nothing sure.
    let straight = rectify(crop);
    let mut reads = Vec::new();
    for img in straight.iter().chain([crop]) {
        let (w, h) = img.dimensions();
        let aspect = w as f32 / h as f32;
        let one_row_first = aspect >= TWO_ROW_FIRST_ASPECT;
        if one_row_first {
            reads.extend(with_province(&rec.read_watching(img, &provinces)?));
            if sure(&reads) {
                break;
            }
        }
        if !one_row_first || aspect < TWO_ROW_MAX_ASPECT {
            if let Some((top, bottom)) = split_rows(img) {
                reads.extend(two_rows(rec, &top, &bottom, &provinces)?);
            }
            if !one_row_first && !sure(&reads) {
                reads.extend(with_province(&rec.read_watching(img, &provinces)?));
            }
        }
        if sure(&reads) {
            break;
        }
    }
    Ok(best_read(reads, colour, bbox, t0))
}

/// A plate seen at an angle, straightened ([`imgops::straighten`]): the
/// plate is told from its surroundings by colour (far from the mean colour
/// of the crop's border), with a tenth of its height kept above and below.
/// `None` when the plate is already level, or its edges are not clear
/// enough to fit (a black plate on a black bumper).
pub fn rectify(crop: &RgbImage) -> Option<RgbImage> {
    let lifted = imgops::lift(crop, LIFT_FOR_COLOUR);
    let img = lifted.as_ref().unwrap_or(crop);
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 24 || h < 12 {
        return None;
    }
    let border = imgops::mean_colour(img.enumerate_pixels().filter_map(|(x, y, p)| {
        let (x, y) = (x as usize, y as usize);
        (x < 2 || y < 2 || x + 2 >= w || y + 2 >= h).then_some(p)
    }));
    let plate: Vec<bool> = img
        .pixels()
        .map(|p| {
            let d: i32 =
                p.0.iter()
                    .zip(border.0)
                    .map(|(&a, b)| (i32::from(a) - i32::from(b)).abs())
                    .sum();
            d > 90
        })
        .collect();
    imgops::straighten(crop, &plate, 0.1)
}

/// The reads of a two-row plate: the upper row (province mended) joined
/// to the lower, confidence weighted by each row's characters.
fn two_rows(
    rec: &Rec,
    top: &RgbImage,
    bottom: &RgbImage,
    provinces: &ClassSet,
) -> Result<Vec<(String, f32)>, OcrError> {
    let a = rec.read_watching(top, provinces)?;
    let b = rec.read(bottom)?;
    let (na, nb) = (a.probs.len() as f32, b.probs.len() as f32);
    Ok(with_province(&a)
        .into_iter()
        .map(|(text, conf)| {
            let conf = (conf * na + b.confidence * nb) / (na + nb).max(1.0);
            (format!("{text}{}", b.text), conf)
        })
        .collect())
}

/// Whether read `a` beats `b`: grammatical first, then confidence.
pub fn better(a: &PlateRead, b: &PlateRead) -> bool {
    (a.valid, a.confidence) > (b.valid, b.confidence)
}

fn best_read(
    reads: Vec<(String, f32)>,
    colour: ColourEvidence,
    bbox: Option<Rect>,
    t0: std::time::Instant,
) -> Option<PlateRead> {
    let mut best: Option<PlateRead> = None;
    for (raw, conf) in reads {
        if raw.trim().is_empty() {
            continue;
        }
        let (text, valid, fixes) = interpret(&raw);
        let kind = ga36::parse(&text).ok().map(|p| p.kind());
        let confidence = if valid {
            conf * 0.9f32.powi(fixes as i32)
        } else {
            conf * 0.5
        };
        let cand = PlateRead {
            text,
            raw,
            colour: colour.decide(kind),
            confidence: confidence.clamp(0.0, 1.0),
            valid,
            repaired: fixes > 0,
            bbox,
            micros: 0,
        };
        if best.as_ref().is_none_or(|b| better(&cand, b)) {
            best = Some(cand);
        }
    }
    best.map(|mut b| {
        b.micros = t0.elapsed().as_micros() as u64;
        b
    })
}

/// Candidate plates in a frame: groups of text boxes close to each other
/// (the rows of a two-row plate, the halves of a row split at the dot),
/// each with a plate-coloured background.
pub fn locate(frame: &RgbImage, boxes: &[TextBox]) -> Vec<(TextBox, Vec<TextBox>, PlateColour)> {
    let groups = det::cluster(boxes, |a, b| {
        let hm = a.h().max(b.h());
        // Same row, small gap; or stacked rows, centred, small gap.
        (a.v_overlap(b) > 0.5 && a.h_gap(b) < 0.8 * hm)
            || (a.h_overlap(b) > 0.6
                && a.v_gap(b) < 0.5 * hm
                && (a.cx() - b.cx()).abs() < 0.25 * a.w().max(b.w()))
    });
    let mut out = Vec::new();
    for (u, members) in groups {
        // Plates are wider than tall (two-row plates 2:1, text boxes more).
        if u.w() < 1.2 * u.h() || u.w() < 24.0 {
            continue;
        }
        let Some((region, _)) = imgops::crop(frame, u.x0, u.y0, u.x1, u.y1) else {
            continue;
        };
        if let Some(c) = colour(&region) {
            out.push((u, members, c));
        }
    }
    out
}

/// Downscale factor of the colour search.
const COLOUR_STEP: u32 = 4;

/// Plate-coloured regions of a frame, most plate-like first: connected
/// components of saturated blue, yellow or green (yellow and green joined,
/// for the yellow-green and new-energy plates) on a 1/4 grid, kept when
/// their box has a plate's shape and is mostly filled. A cheap first look
/// that spares the detection network on coloured plates; white and black
/// plates (and a plate on a cab of its own colour) are left to detection.
pub fn colour_candidates(frame: &RgbImage) -> Vec<Rect> {
    let (fw, fh) = frame.dimensions();
    let (gw, gh) = ((fw / COLOUR_STEP) as usize, (fh / COLOUR_STEP) as usize);
    if gw < 8 || gh < 4 {
        return Vec::new();
    }
    // 0: nothing, 1: blue, 2: yellow or green.
    let mut class = vec![0u8; gw * gh];
    for gy in 0..gh {
        for gx in 0..gw {
            let p = frame.get_pixel(
                gx as u32 * COLOUR_STEP + COLOUR_STEP / 2,
                gy as u32 * COLOUR_STEP + COLOUR_STEP / 2,
            );
            class[gy * gw + gx] = match imgops::hue_class(p) {
                imgops::Hue::Blue => 1,
                imgops::Hue::Yellow | imgops::Hue::Green => 2,
                _ => 0,
            };
        }
    }
    // Close small holes (the characters) along rows: a cell between two
    // cells of one class within 3 cells takes that class.
    let mut filled = class.clone();
    for gy in 0..gh {
        let row = &class[gy * gw..(gy + 1) * gw];
        let mut last: Option<(usize, u8)> = None;
        for (gx, &c) in row.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if let Some((lx, lc)) = last {
                if lc == c && gx - lx <= 4 {
                    for f in &mut filled[gy * gw + lx + 1..gy * gw + gx] {
                        *f = c;
                    }
                }
            }
            last = Some((gx, c));
        }
    }
    let mut out: Vec<(f32, Rect)> = Vec::new();
    for c in imgops::components(&filled, gw, gh, false, usize::MAX, |_| 0.0) {
        let (x0, y0, x1, y1, n) = (c.x0, c.y0, c.x1, c.y1, c.n);
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let fill = n as f32 / (bw * bh);
        let aspect = bw / bh;
        // At least ~48 px wide, at most half the frame; single-row plates
        // are ~3:1, two-row ~2:1; the component mostly fills its box.
        if bw * (COLOUR_STEP as f32) < 48.0
            || bw > gw as f32 * 0.5
            || !(1.4..=6.0).contains(&aspect)
            || fill < 0.5
        {
            continue;
        }
        let s = COLOUR_STEP;
        let r = Rect {
            x: x0 as u32 * s,
            y: y0 as u32 * s,
            w: (x1 - x0 + 1) as u32 * s,
            h: (y1 - y0 + 1) as u32 * s,
        };
        // Prefer the shapes most like a plate: filled, about 3:1.
        let score = fill - (aspect - 3.0).abs() * 0.05;
        out.push((score, r));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.truncate(MAX_COLOUR_CANDIDATES);
    out.into_iter().map(|(_, r)| r).collect()
}

/// At most this many colour candidates are read per frame.
const MAX_COLOUR_CANDIDATES: usize = 3;

/// Read the plate in one colour candidate: the region with a margin of a
/// tenth of its size (the search grid is coarse; the border is trimmed by
/// the reader's grammar).
pub fn read_candidate(rec: &Rec, frame: &RgbImage, r: Rect) -> Result<Option<PlateRead>, OcrError> {
    let (mx, my) = (r.w as f32 * 0.06 + 2.0, r.h as f32 * 0.12 + 2.0);
    let Some((crop, rect)) = imgops::crop(
        frame,
        r.x as f32 - mx,
        r.y as f32 - my,
        (r.x + r.w) as f32 + mx,
        (r.y + r.h) as f32 + my,
    ) else {
        return Ok(None);
    };
    read_crop(rec, &crop, Some(rect))
}

/// Read the plate of a full frame: the best read among the located
/// candidates (valid first, then confidence).
pub fn read_frame(
    rec: &Rec,
    frame: &RgbImage,
    boxes: &[TextBox],
    t0: std::time::Instant,
) -> Result<Option<PlateRead>, OcrError> {
    let mut best: Option<PlateRead> = None;
    let provinces = rec.class_set(ga36::PROVINCES.chars());
    for (u, members, located) in locate(frame, boxes) {
        let Some((crop, rect)) = imgops::crop(frame, u.x0, u.y0, u.x1, u.y1) else {
            continue;
        };
        let mut colour = ColourEvidence::of(&crop);
        colour.pixels = colour.pixels.or(Some(located));
        let mut reads = Vec::new();
        // Two rows: boxes stacked with little vertical overlap.
        let mut rows = det::cluster(&members, |a, b| a.v_overlap(b) > 0.4);
        rows.sort_by(|a, b| a.0.y0.total_cmp(&b.0.y0));
        let row_crop = |r: &TextBox| imgops::crop(frame, r.x0, r.y0, r.x1, r.y1).map(|c| c.0);
        match (
            rows.first().and_then(|r| row_crop(&r.0)),
            rows.get(1).and_then(|r| row_crop(&r.0)),
        ) {
            (Some(top), Some(bottom)) if rows.len() == 2 => {
                reads.extend(two_rows(rec, &top, &bottom, &provinces)?);
            }
            _ => reads.extend(with_province(&rec.read_watching(&crop, &provinces)?)),
        }
        if let Some(r) = best_read(reads, colour, Some(rect), t0) {
            if best.as_ref().is_none_or(|b| better(&r, b)) {
                best = Some(r);
            }
        }
    }
    Ok(best.map(|mut b| {
        b.micros = t0.elapsed().as_micros() as u64;
        b
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpret_trims_and_repairs() {
        assert_eq!(interpret("琼A·12345"), ("琼A12345".into(), true, 0));
        assert_eq!(interpret("1琼A12345"), ("琼A12345".into(), true, 0));
        assert_eq!(interpret("琼E：80B69"), ("琼E80B69".into(), true, 0));
        let (t, v, f) = interpret("琼AI2345");
        assert!(v && f == 1 && t == "琼A12345", "{t} {v} {f}");
        assert!(!interpret("HELLO").1);
    }

    #[test]
    fn colours_of_flat_plates() {
        let mk = |c: [u8; 3], ink: [u8; 3]| {
            let mut img = RgbImage::from_pixel(40, 12, image::Rgb(c));
            for x in (0..40).step_by(4) {
                for y in 3..9 {
                    img.put_pixel(x, y, image::Rgb(ink));
                }
            }
            img
        };
        assert_eq!(
            colour(&mk([20, 70, 190], [250; 3])),
            Some(PlateColour::Blue)
        );
        assert_eq!(
            colour(&mk([250, 200, 20], [15; 3])),
            Some(PlateColour::Yellow)
        );
        assert_eq!(colour(&mk([245; 3], [15; 3])), Some(PlateColour::White));
        assert_eq!(colour(&mk([15; 3], [245; 3])), Some(PlateColour::Black));
        assert_eq!(colour(&mk([170, 30, 30], [245; 3])), None);
    }

    fn decoded(text: &str, watched: Vec<(char, f32)>) -> Decoded {
        let n = text.chars().count();
        Decoded {
            text: text.into(),
            confidence: 0.9,
            probs: vec![0.9; n],
            // One character every two steps, from step 4.
            spans: (0..n).map(|i| (4 + 2 * i, 5 + 2 * i)).collect(),
            watched,
        }
    }

    #[test]
    fn province_mended_in_place_and_when_dropped() {
        // A look-alike (`球`) where `琼` was second likeliest.
        let mut w = vec![(' ', 0.0); 24];
        w[4] = ('琼', 0.3);
        let reads = with_province(&decoded("球A12345", w));
        assert!(reads.iter().any(|r| r.0 == "琼A12345"), "{reads:?}");
        let best = best_read(
            reads,
            ColourEvidence::of(&RgbImage::new(8, 8)),
            None,
            std::time::Instant::now(),
        );
        assert_eq!(best.map(|b| b.text), Some("琼A12345".into()));
        // Dropped before the letter.
        let mut w = vec![(' ', 0.0); 24];
        w[2] = ('琼', 0.05);
        let reads = with_province(&decoded("A12345", w));
        assert!(reads.iter().any(|r| r.0 == "琼A12345"), "{reads:?}");
        // Too faint: nothing is made up.
        let mut w = vec![(' ', 0.0); 24];
        w[2] = ('琼', 0.001);
        w[4] = ('琼', 0.001);
        assert_eq!(with_province(&decoded("A12345", w)).len(), 1);
        // A province already read is left alone.
        let w = vec![('琼', 0.5); 24];
        assert_eq!(with_province(&decoded("粤A12345", w)).len(), 1);
    }

    #[test]
    fn colour_follows_the_plate_kind() {
        let unclear = ColourEvidence {
            pixels: None,
            bluer: false,
        };
        let blue = ColourEvidence {
            pixels: Some(PlateColour::Blue),
            bluer: true,
        };
        let kind = |t: &str| ga36::parse(t).ok().map(|p| p.kind());
        assert_eq!(unclear.decide(kind("琼A1234警")), PlateColour::White);
        assert_eq!(blue.decide(kind("粤Z1234港")), PlateColour::Black);
        assert_eq!(blue.decide(kind("琼AD12345")), PlateColour::Green);
        assert_eq!(blue.decide(kind("琼A12345D")), PlateColour::YellowGreen);
        assert_eq!(blue.decide(kind("琼A1234挂")), PlateColour::Yellow);
        assert_eq!(blue.decide(kind("琼A12345")), PlateColour::Blue);
        assert_eq!(unclear.decide(kind("琼A12345")), PlateColour::Yellow);
        let white = ColourEvidence {
            pixels: Some(PlateColour::White),
            bluer: true,
        };
        // An ordinary plate is blue or yellow whatever the pixels say.
        assert_eq!(white.decide(kind("琼A12345")), PlateColour::Blue);
        assert_eq!(white.decide(None), PlateColour::White);
    }

    #[test]
    fn two_rows_split_on_a_dark_bumper() {
        // A yellow two-row plate (small upper row, tall lower row) on a
        // dark red bumper that covers most of the crop.
        let (w, h) = (200u32, 120u32);
        let mut img = RgbImage::from_pixel(w, h, image::Rgb([90, 20, 20]));
        for y in 20..100 {
            for x in 25..175 {
                img.put_pixel(x, y, image::Rgb([240, 200, 30]));
            }
        }
        let ink = image::Rgb([10, 10, 10]);
        for x in (70..130).filter(|x| x % 10 < 6) {
            for y in 28..42 {
                img.put_pixel(x, y, ink);
            }
        }
        for x in (35..165).filter(|x| x % 14 < 8) {
            for y in 52..92 {
                img.put_pixel(x, y, ink);
            }
        }
        let (top, bottom) = split_rows(&img).expect("split");
        // The upper row is cut to its band of text, not the plate's top.
        assert!(
            top.height() < 30,
            "upper row {}x{}",
            top.width(),
            top.height()
        );
        assert!(
            top.width() < 110,
            "upper row {}x{}",
            top.width(),
            top.height()
        );
        // The split falls in the gap between the rows (42..52).
        let split = h - bottom.height();
        assert!((42..=52).contains(&split), "split at {split}");
    }
}
