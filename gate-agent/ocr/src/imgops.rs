//! Small image operations for the recognisers: clamped crops, colour
//! classes (HSV), Otsu binarisation and projection profiles.
//!
//! Layer: pure pixel functions; nothing here knows about models or formats.

use image::{Rgb, RgbImage};

use crate::Rect;

/// Crop `[x0,x1) x [y0,y1)` clamped to the image; `None` when empty.
pub fn crop(img: &RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<(RgbImage, Rect)> {
    let (w, h) = img.dimensions();
    let cx0 = x0.floor().clamp(0.0, w as f32) as u32;
    let cy0 = y0.floor().clamp(0.0, h as f32) as u32;
    let cx1 = x1.ceil().clamp(0.0, w as f32) as u32;
    let cy1 = y1.ceil().clamp(0.0, h as f32) as u32;
    if cx1 <= cx0 + 1 || cy1 <= cy0 + 1 {
        return None;
    }
    let r = Rect {
        x: cx0,
        y: cy0,
        w: cx1 - cx0,
        h: cy1 - cy0,
    };
    Some((
        image::imageops::crop_imm(img, r.x, r.y, r.w, r.h).to_image(),
        r,
    ))
}

/// Colour class of one pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hue {
    Black,
    White,
    Blue,
    Yellow,
    Green,
    Other,
}

/// HSV: hue in degrees, saturation and value in 0..1.
pub fn hsv(p: &Rgb<u8>) -> (f32, f32, f32) {
    let [r, g, b] = p.0.map(|c| f32::from(c) / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d <= f32::EPSILON {
        0.0
    } else if max == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let s = if max <= f32::EPSILON { 0.0 } else { d / max };
    (h, s, max)
}

pub fn hue_class(p: &Rgb<u8>) -> Hue {
    let (h, s, v) = hsv(p);
    if v < 0.22 {
        return Hue::Black;
    }
    if s >= 0.3 && v >= 0.25 {
        return match h {
            h if (195.0..=255.0).contains(&h) => Hue::Blue,
            h if (35.0..=68.0).contains(&h) => Hue::Yellow,
            h if (68.0..=170.0).contains(&h) => Hue::Green,
            _ => Hue::Other,
        };
    }
    if s < 0.3 && v >= 0.45 {
        // Pale green (the new-energy gradient's upper half) counts as white.
        return Hue::White;
    }
    Hue::Other
}

/// Fractions of each class in an image: [black, white, blue, yellow, green, other].
pub fn hue_fractions(img: &RgbImage) -> [f32; 6] {
    let mut n = [0u32; 6];
    for p in img.pixels() {
        let i = match hue_class(p) {
            Hue::Black => 0,
            Hue::White => 1,
            Hue::Blue => 2,
            Hue::Yellow => 3,
            Hue::Green => 4,
            Hue::Other => 5,
        };
        n[i] += 1;
    }
    let t = n.iter().sum::<u32>().max(1) as f32;
    n.map(|c| c as f32 / t)
}

/// A dark image brightened: gain so that the 95th percentile of the
/// pixels' brightest channel reaches 200 (at most x6); `None` when that
/// percentile is already `dark` or more (bright enough as it is).
pub fn lift(img: &RgbImage, dark: u8) -> Option<RgbImage> {
    let mut hist = [0u32; 256];
    for p in img.pixels() {
        hist[usize::from(p.0[0].max(p.0[1]).max(p.0[2]))] += 1;
    }
    let total: u32 = hist.iter().sum();
    let mut seen = 0u32;
    let mut p95 = 255usize;
    for (v, &n) in hist.iter().enumerate() {
        seen += n;
        if seen as f32 >= total as f32 * 0.95 {
            p95 = v;
            break;
        }
    }
    if p95 >= usize::from(dark) {
        return None;
    }
    let gain = (200.0 / p95.max(1) as f32).min(6.0);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 = p.0.map(|c| (c as f32 * gain).min(255.0) as u8);
    }
    Some(out)
}

/// Bilinear sample at `(x, y)` (pixel centres at integer + 0.5 are not
/// assumed: pixel `(i, j)` is at `(i, j)`), clamped to the image.
pub fn sample(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Rgb([0, 0, 0]);
    }
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |x: u32, y: u32| img.get_pixel(x, y).0.map(f32::from);
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let mut out = [0u8; 3];
    for i in 0..3 {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bot = c[i] + (d[i] - c[i]) * fx;
        out[i] = (top + (bot - top) * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// Least slope of an object's top or bottom edge (about 1.7 degrees), or
/// difference of its height from end to end (keystone, as a fraction of
/// its height), for [`straighten`] to act.
const STRAIGHTEN_MIN_SLOPE: f32 = 0.03;
const STRAIGHTEN_MIN_KEYSTONE: f32 = 0.1;

/// An object seen at an angle (a plate, a painted text line), straightened:
/// `mask` marks its pixels; straight lines are fitted to its top and bottom
/// edges (per column, the first and last two marked rows; outliers such as
/// a taller box dropped), and each column is resampled between them, with
/// `margin` of the height kept above and below. `None` when the object is
/// already level or its edges do not fit lines.
pub fn straighten(img: &RgbImage, mask: &[bool], margin: f32) -> Option<RgbImage> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 16 || h < 8 || mask.len() != w * h {
        return None;
    }
    let m = |x: usize, y: usize| mask[y * w + x];
    let mut edges: Vec<(f32, f32, f32)> = Vec::new(); // (x, top, bottom)
    for x in 0..w {
        let top = (0..h - 1).find(|&y| m(x, y) && m(x, y + 1));
        let bottom = (1..h).rev().find(|&y| m(x, y) && m(x, y - 1));
        if let (Some(t), Some(b)) = (top, bottom) {
            if b > t + 4 {
                edges.push((x as f32, t as f32, b as f32 + 1.0));
            }
        }
    }
    if edges.len() < 8 {
        return None;
    }
    let mut heights: Vec<f32> = edges.iter().map(|e| e.2 - e.1).collect();
    heights.sort_by(f32::total_cmp);
    let hm = heights[heights.len() / 2];
    // The object's columns: most of its height; the inner 80 % for the fit.
    edges.retain(|e| e.2 - e.1 >= 0.6 * hm);
    let (x0, x1) = (edges.first()?.0, edges.last()?.0);
    let inner: Vec<&(f32, f32, f32)> = edges
        .iter()
        .filter(|e| e.0 >= x0 + 0.1 * (x1 - x0) && e.0 <= x1 - 0.1 * (x1 - x0))
        .collect();
    let top = fit_line(inner.iter().map(|e| (e.0, e.1)))?;
    let bottom = fit_line(inner.iter().map(|e| (e.0, e.2)))?;
    let height = |x: f32| (bottom.0 + bottom.1 * x) - (top.0 + top.1 * x);
    let (h0, h1) = (height(x0), height(x1));
    if h0 < 6.0 || h1 < 6.0 {
        return None;
    }
    let keystone = (h1 - h0).abs() / h0.max(h1);
    if top.1.abs().max(bottom.1.abs()) < STRAIGHTEN_MIN_SLOPE && keystone < STRAIGHTEN_MIN_KEYSTONE
    {
        return None;
    }
    let span = 1.0 + 2.0 * margin;
    let out_h = (hm * span).round().max(8.0) as u32;
    let pad = (hm * margin).round();
    let (ox0, ox1) = ((x0 - pad).max(0.0), (x1 + pad).min(w as f32 - 1.0));
    let out_w = (ox1 - ox0 + 1.0).max(8.0) as u32;
    let mut out = RgbImage::new(out_w, out_h);
    for (ox, oy, p) in out.enumerate_pixels_mut() {
        let x = ox0 + ox as f32;
        let t = (oy as f32 + 0.5) / out_h as f32 * span - margin;
        *p = sample(img, x, top.0 + top.1 * x + t * height(x));
    }
    Some(out)
}

/// Least-squares line `y = a + b x` through points, refitted once without
/// the points further than 2 px plus three median deviations from it.
/// `None` for fewer than 8 points, or when the inliers are fewer than 60 %
/// of them.
fn fit_line(points: impl Iterator<Item = (f32, f32)>) -> Option<(f32, f32)> {
    let pts: Vec<(f32, f32)> = points.collect();
    if pts.len() < 8 {
        return None;
    }
    let ls = |pts: &[(f32, f32)]| -> Option<(f32, f32)> {
        let n = pts.len() as f32;
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        let (mx, my) = (sx / n, sy / n);
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for p in pts {
            sxx += (p.0 - mx) * (p.0 - mx);
            sxy += (p.0 - mx) * (p.1 - my);
        }
        if sxx <= f32::EPSILON {
            return None;
        }
        let b = sxy / sxx;
        Some((my - b * mx, b))
    };
    let (a, b) = ls(&pts)?;
    let dev: Vec<f32> = pts.iter().map(|p| (p.1 - a - b * p.0).abs()).collect();
    let limit = {
        let mut d = dev.clone();
        d.sort_by(f32::total_cmp);
        2.0 + 3.0 * d[d.len() / 2]
    };
    let inliers: Vec<(f32, f32)> = pts
        .iter()
        .zip(&dev)
        .filter(|(_, d)| **d <= limit)
        .map(|(p, _)| *p)
        .collect();
    if (inliers.len() as f32) < 0.6 * pts.len() as f32 {
        return None;
    }
    ls(&inliers)
}

/// Grey levels (ITU-R BT.601 luma).
pub fn luma(img: &RgbImage) -> Vec<u8> {
    img.pixels().map(|p| luma_of(*p)).collect()
}

/// The grey level (ITU-R BT.601 luma) of one colour.
pub fn luma_of(p: Rgb<u8>) -> u8 {
    let [r, g, b] = p.0.map(u32::from);
    ((299 * r + 587 * g + 114 * b) / 1000) as u8
}

/// Otsu's threshold of grey levels.
pub fn otsu(grey: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &g in grey {
        hist[usize::from(g)] += 1;
    }
    let total = grey.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut wb, mut sb, mut best, mut thr) = (0f64, 0f64, -1f64, 127u8);
    for (t, &c) in hist.iter().enumerate() {
        wb += c as f64;
        if wb == 0.0 {
            continue;
        }
        let wf = total - wb;
        if wf == 0.0 {
            break;
        }
        sb += t as f64 * c as f64;
        let mb = sb / wb;
        let mf = (sum_all - sb) / wf;
        let between = wb * wf * (mb - mf) * (mb - mf);
        if between > best {
            best = between;
            thr = t as u8;
        }
    }
    thr
}

/// Ink mask of an image: the minority side of Otsu's threshold.
pub fn ink_mask(img: &RgbImage) -> Vec<bool> {
    let g = luma(img);
    let t = otsu(&g);
    let dark = g.iter().filter(|&&v| v <= t).count();
    let ink_dark = dark * 2 < g.len();
    g.iter().map(|&v| (v <= t) == ink_dark).collect()
}

/// [`ink_mask`] for a crop with margins around the object (a plate on its
/// bumper): the background is the majority of the central half, not of
/// the whole crop, whose margins may be darker than the ink.
pub fn ink_mask_centred(img: &RgbImage) -> Vec<bool> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let g = luma(img);
    let t = otsu(&g);
    let (mut dark, mut n) = (0usize, 0usize);
    for y in h / 4..h - h / 4 {
        for x in w / 4..w - w / 4 {
            n += 1;
            dark += usize::from(g[y * w + x] <= t);
        }
    }
    let ink_dark = dark * 2 < n;
    g.iter().map(|&v| (v <= t) == ink_dark).collect()
}

/// Local contrast: each pixel's luma minus the mean of its
/// `(2r+1)^2` neighbourhood, times `gain`, around mid-grey (a grey RGB
/// image). Faint text on a light surface (white paint on a grey door)
/// stands out as strongly as dark text on white; flat areas turn grey.
pub fn local_contrast(img: &RgbImage, r: u32, gain: f32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let g = luma(img);
    // Integral image with a zero row and column.
    let mut ii = vec![0u64; (wu + 1) * (hu + 1)];
    for y in 0..hu {
        let mut row = 0u64;
        for x in 0..wu {
            row += u64::from(g[y * wu + x]);
            ii[(y + 1) * (wu + 1) + x + 1] = ii[y * (wu + 1) + x + 1] + row;
        }
    }
    let r = r as usize;
    let mut out = RgbImage::new(w, h);
    for y in 0..hu {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(hu));
        for x in 0..wu {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(wu));
            let sum = ii[y1 * (wu + 1) + x1] + ii[y0 * (wu + 1) + x0]
                - ii[y0 * (wu + 1) + x1]
                - ii[y1 * (wu + 1) + x0];
            let mean = sum as f32 / ((x1 - x0) * (y1 - y0)) as f32;
            let v = (128.0 + gain * (f32::from(g[y * wu + x]) - mean)).clamp(0.0, 255.0) as u8;
            out.put_pixel(x as u32, y as u32, Rgb([v, v, v]));
        }
    }
    out
}

/// The mean colour of some pixels (black when there are none).
pub fn mean_colour<'a>(pixels: impl Iterator<Item = &'a Rgb<u8>>) -> Rgb<u8> {
    let (mut sum, mut n) = ([0u64; 3], 0u64);
    for p in pixels {
        for (acc, v) in sum.iter_mut().zip(p.0) {
            *acc += u64::from(v);
        }
        n += 1;
    }
    Rgb(sum.map(|s| (s / n.max(1)) as u8))
}

/// Character cells laid side by side into one text line `line_h` high on
/// `bg`: each scaled to three quarters of the height (aspect kept, at most
/// twice as wide as high), a quarter of the height apart. This is how a
/// vertical code is given to a recogniser that reads horizontal lines.
pub fn cells_to_line(cells: &[RgbImage], line_h: u32, bg: Rgb<u8>) -> RgbImage {
    let inner = line_h * 3 / 4;
    let gap = line_h / 4;
    let parts: Vec<RgbImage> = cells
        .iter()
        .map(|cell| {
            let cw = ((inner as f32 * cell.width() as f32 / cell.height().max(1) as f32).ceil()
                as u32)
                .clamp(2, 2 * inner);
            image::imageops::resize(cell, cw, inner, image::imageops::FilterType::Triangle)
        })
        .collect();
    let total: u32 = parts.iter().map(|p| p.width() + gap).sum::<u32>() + gap;
    let mut line = RgbImage::from_pixel(total, line_h, bg);
    let mut x = gap;
    for p in &parts {
        image::imageops::replace(&mut line, p, i64::from(x), i64::from((line_h - inner) / 2));
        x += p.width() + gap;
    }
    line
}

/// A connected component of equal non-zero labels: its bounding box
/// (inclusive), pixel count and the sum of a weight over its pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub n: usize,
    pub sum: f32,
}

/// Connected components of a `w` x `h` label image (0 is background;
/// neighbours join when their labels are equal), 4- or 8-connected, in
/// scan order of their first pixel; at most `max` are labelled (bounds the
/// work on noise). `weight(i)` is summed over each component's pixels.
pub fn components(
    labels: &[u8],
    w: usize,
    h: usize,
    eight: bool,
    max: usize,
    weight: impl Fn(usize) -> f32,
) -> Vec<Component> {
    let mut out = Vec::new();
    if labels.len() != w * h {
        return out;
    }
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    for start in 0..w * h {
        let label = labels[start];
        if label == 0 || seen[start] {
            continue;
        }
        if out.len() == max {
            break;
        }
        let mut c = Component {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            n: 0,
            sum: 0.0,
        };
        seen[start] = true;
        stack.clear();
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y);
            c.n += 1;
            c.sum += weight(i);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    if (dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0) {
                        continue;
                    }
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if labels[j] == label && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(c);
    }
    out
}

/// Runs of `true` in `v` as `[start, end)`, joined across gaps shorter than `min_gap`.
pub fn runs(v: &[bool], min_gap: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        if !v[i] {
            i += 1;
            continue;
        }
        let s = i;
        while i < v.len() && v[i] {
            i += 1;
        }
        match out.last_mut() {
            Some(last) if s - last.1 < min_gap => last.1 = i,
            _ => out.push((s, i)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_brightens_only_dark_images() {
        let mut dark = RgbImage::from_pixel(20, 20, Rgb([20, 30, 40]));
        dark.put_pixel(0, 0, Rgb([255, 255, 255]));
        let lifted = lift(&dark, 110).expect("dark: lifted");
        // x5 (200 / 40), clamped at 255.
        assert_eq!(lifted.get_pixel(5, 5).0, [100, 150, 200]);
        assert_eq!(lifted.get_pixel(0, 0).0, [255, 255, 255]);
        assert!(lift(&RgbImage::from_pixel(20, 20, Rgb([120, 120, 120])), 110).is_none());
        // Never more than x6.
        let black = lift(&RgbImage::from_pixel(4, 4, Rgb([10, 10, 10])), 110).expect("lifted");
        assert_eq!(black.get_pixel(0, 0).0, [60, 60, 60]);
    }

    #[test]
    fn straighten_levels_a_slanted_bar_and_leaves_a_level_one() {
        // A dark bar 16 px high whose top runs from y 10 to y 25 over
        // x 10..110 (slope 0.15), on white.
        let bar = |slope: f32| {
            let mut img = RgbImage::from_pixel(120, 60, Rgb([250, 250, 250]));
            for x in 10..110u32 {
                let top = 10.0 + slope * (x - 10) as f32;
                for y in top as u32..top as u32 + 16 {
                    img.put_pixel(x, y, Rgb([10, 10, 10]));
                }
            }
            let mask: Vec<bool> = img.pixels().map(|p| p.0[0] < 128).collect();
            (img, mask)
        };
        let (img, mask) = bar(0.15);
        let out = straighten(&img, &mask, 0.25).expect("slanted: straightened");
        let (w, h) = out.dimensions();
        assert!((22..=26).contains(&h), "height {h}");
        let dark = |x: u32, y: u32| out.get_pixel(x, y).0[0] < 128;
        let inner = 6..w - 6;
        // Level: the middle row is dark all along, the margins light.
        assert!(inner.clone().all(|x| dark(x, h / 2)));
        assert!(inner.clone().all(|x| !dark(x, 0) && !dark(x, h - 1)));
        let (img, mask) = bar(0.0);
        assert!(straighten(&img, &mask, 0.25).is_none());
    }

    #[test]
    fn plate_colours_classify() {
        assert_eq!(hue_class(&Rgb([20, 70, 190])), Hue::Blue);
        assert_eq!(hue_class(&Rgb([250, 200, 20])), Hue::Yellow);
        assert_eq!(hue_class(&Rgb([150, 120, 12])), Hue::Yellow);
        assert_eq!(hue_class(&Rgb([80, 200, 110])), Hue::Green);
        assert_eq!(hue_class(&Rgb([245, 245, 245])), Hue::White);
        assert_eq!(hue_class(&Rgb([15, 15, 15])), Hue::Black);
        assert_eq!(hue_class(&Rgb([170, 30, 30])), Hue::Other);
    }

    #[test]
    fn otsu_splits_two_levels_and_runs_join_small_gaps() {
        let g = [[10u8; 50], [200u8; 50]].concat();
        let t = otsu(&g);
        assert!((10..200).contains(&t));
        let v = [false, true, true, false, true, false, false, false, true];
        assert_eq!(runs(&v, 2), vec![(1, 5), (8, 9)]);
        assert!(crop(&RgbImage::new(10, 10), 8.0, 8.0, 30.0, 30.0).is_some());
        assert!(crop(&RgbImage::new(10, 10), 20.0, 8.0, 30.0, 30.0).is_none());
    }

    #[test]
    fn components_by_label_and_connectivity() {
        // 4x3: a diagonal pair of 1s, a 2 beside a 1.
        #[rustfmt::skip]
        let l = [
            1, 0, 0, 2,
            0, 1, 0, 1,
            0, 0, 0, 0,
        ];
        let four = components(&l, 4, 3, false, usize::MAX, |_| 1.0);
        assert_eq!(four.len(), 4);
        let eight = components(&l, 4, 3, true, usize::MAX, |_| 1.0);
        assert_eq!(eight.len(), 3, "diagonal 1s join; the 2 stays apart");
        assert_eq!((eight[0].x0, eight[0].y1, eight[0].n), (0, 1, 2));
        assert_eq!(eight[0].sum, 2.0);
        assert_eq!(components(&l, 4, 3, true, 1, |_| 0.0).len(), 1);
    }
}
