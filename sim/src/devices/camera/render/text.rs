//! The markings as patches: licence plates (colours, one or two rows, glyphs
//! fitted to their cells) and container codes (the code line and the full
//! painted mask, horizontal or vertical).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

use crate::devices::camera::{ContainerMark, Plate, PlateColour};

use super::{fill_rect, stroke_rect, Px};

/// Plate background and ink colours.
fn plate_colours(c: PlateColour) -> (Px, Px, Px) {
    // (background top, background bottom, ink)
    match c {
        PlateColour::Blue => (Rgb([20, 70, 190]), Rgb([20, 70, 190]), Rgb([250, 250, 250])),
        PlateColour::Yellow => (Rgb([250, 200, 20]), Rgb([250, 200, 20]), Rgb([15, 15, 15])),
        PlateColour::Green => (Rgb([245, 250, 245]), Rgb([80, 200, 110]), Rgb([15, 15, 15])),
        PlateColour::YellowGreen => (Rgb([250, 210, 40]), Rgb([90, 200, 100]), Rgb([15, 15, 15])),
        PlateColour::White => (
            Rgb([245, 245, 245]),
            Rgb([245, 245, 245]),
            Rgb([15, 15, 15]),
        ),
        PlateColour::Black => (Rgb([15, 15, 15]), Rgb([15, 15, 15]), Rgb([245, 245, 245])),
    }
}

/// Size in pixels of [`plate_patch`] for this plate, width and layout.
pub fn plate_size(p: &Plate, width: u32, two_row: bool) -> (u32, u32) {
    let mm_w = if p.text.chars().count() >= 8 {
        480.0
    } else {
        440.0
    };
    let s = width as f32 / mm_w;
    let mm_h = if two_row { 220.0 } else { 140.0 };
    (width.max(16), (mm_h * s).round().max(8.0) as u32)
}

/// A plate as an image `width` pixels wide (440 x 140 mm single row, 440 x 220 two rows).
pub fn plate_patch(p: &Plate, width: u32, two_row: bool, font: Option<&FontRef<'_>>) -> RgbImage {
    let chars: Vec<char> = p.text.chars().collect();
    let mm_w = if chars.len() >= 8 { 480.0 } else { 440.0 };
    let s = width as f32 / mm_w;
    let mm_h = if two_row { 220.0 } else { 140.0 };
    let ph = plate_size(p, width, two_row).1;
    let (top, bottom, ink) = plate_colours(p.colour);
    let mut img = RgbImage::new(width.max(16), ph);
    for y in 0..ph {
        let t = y as f32 / ph as f32;
        let c =
            Rgb([0, 1, 2]
                .map(|i| (f32::from(top.0[i]) * (1.0 - t) + f32::from(bottom.0[i]) * t) as u8));
        for x in 0..img.width() {
            img.put_pixel(x, y, c);
        }
    }
    // Border line 5 mm in from the edge.
    stroke_rect(
        &mut img,
        5.0 * s,
        5.0 * s,
        (mm_w - 10.0) * s,
        (mm_h - 10.0) * s,
        (2.5 * s).max(1.0),
        ink,
    );
    let Some(font) = font else { return img };
    if two_row && chars.len() >= 3 {
        // Top row: province + letter, 80 x 60 mm cells; bottom row: 65 x 110 mm cells.
        let top_x = (mm_w - 2.0 * 80.0 - 20.0) / 2.0;
        for (i, &c) in chars[..2].iter().enumerate() {
            glyph_in_cell(
                &mut img,
                font,
                c,
                (top_x + i as f32 * 100.0) * s,
                15.0 * s,
                80.0 * s,
                60.0 * s,
                ink,
            );
        }
        let rest = &chars[2..];
        let cell = 65.0;
        let gap = 10.0;
        let total = rest.len() as f32 * cell + (rest.len().saturating_sub(1)) as f32 * gap;
        let x0 = (mm_w - total) / 2.0;
        for (i, &c) in rest.iter().enumerate() {
            glyph_in_cell(
                &mut img,
                font,
                c,
                (x0 + i as f32 * (cell + gap)) * s,
                90.0 * s,
                cell * s,
                110.0 * s,
                ink,
            );
        }
    } else {
        // Single row: 45 x 90 mm cells, 12 mm gaps, a separator dot after the second character.
        let cell = if chars.len() >= 8 { 43.0 } else { 45.0 };
        let gap = if chars.len() >= 8 { 9.0 } else { 12.0 };
        let sep = 22.0;
        let n = chars.len() as f32;
        let total = n * cell + (n - 1.0).max(0.0) * gap + sep;
        let mut x = (mm_w - total) / 2.0;
        for (i, &c) in chars.iter().enumerate() {
            glyph_in_cell(&mut img, font, c, x * s, 25.0 * s, cell * s, 90.0 * s, ink);
            x += cell + gap;
            if i == 1 {
                let d = 10.0 * s;
                fill_rect(
                    &mut img,
                    (x - gap + sep / 2.0) * s - d / 2.0,
                    67.0 * s,
                    d,
                    d,
                    ink,
                );
                x += sep;
            }
        }
    }
    img
}

/// Draws `c` stretched to fill the cell (plate fonts are tall and narrow).
#[allow(clippy::too_many_arguments)]
fn glyph_in_cell(
    img: &mut RgbImage,
    font: &FontRef<'_>,
    c: char,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    ink: Px,
) {
    let probe = font
        .glyph_id(c)
        .with_scale_and_position(PxScale::from(100.0), ab_glyph::point(0.0, 0.0));
    let Some(o) = font.outline_glyph(probe) else {
        return;
    };
    let b = o.px_bounds();
    let (bw, bh) = (b.width().max(1.0), b.height().max(1.0));
    let scale = PxScale {
        x: 100.0 * w / bw,
        y: 100.0 * h / bh,
    };
    // Position so the glyph's bounds start at the cell origin.
    let kx = scale.x / 100.0;
    let ky = scale.y / 100.0;
    let pos = ab_glyph::point(x - b.min.x * kx, y - b.min.y * ky);
    let g = font.glyph_id(c).with_scale_and_position(scale, pos);
    draw_outline(img, font, g, ink);
}

fn draw_outline(img: &mut RgbImage, font: &FontRef<'_>, g: ab_glyph::Glyph, ink: Px) {
    let Some(o) = font.outline_glyph(g) else {
        return;
    };
    let b = o.px_bounds();
    let (iw, ih) = img.dimensions();
    o.draw(|gx, gy, cov| {
        let x = b.min.x as i64 + i64::from(gx);
        let y = b.min.y as i64 + i64::from(gy);
        if x < 0 || y < 0 || x >= i64::from(iw) || y >= i64::from(ih) {
            return;
        }
        let p = img.get_pixel_mut(x as u32, y as u32);
        let a = cov.clamp(0.0, 1.0);
        for i in 0..3 {
            p.0[i] = (f32::from(p.0[i]) * (1.0 - a) + f32::from(ink.0[i]) * a) as u8;
        }
    });
}

/// Draws a text run at natural proportions; returns the advance in pixels.
pub(super) fn text(
    img: &mut RgbImage,
    font: &FontRef<'_>,
    px: f32,
    x: f32,
    baseline: f32,
    s: &str,
    ink: Px,
) -> f32 {
    let sf = font.as_scaled(PxScale::from(px));
    let mut cx = x;
    for ch in s.chars() {
        let id = font.glyph_id(ch);
        let g = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(cx, baseline));
        draw_outline(img, font, g, ink);
        cx += sf.h_advance(id);
    }
    cx - x
}

/// Size in pixels of the code block mask drawn by [`code_mask`].
pub(super) fn code_mask_size(vertical: bool) -> (u32, u32) {
    if vertical {
        (100, 11 * 36 + 40)
    } else {
        (470, 130)
    }
}

/// Only the 11-character code of [`code_mask`] (its first line, or its
/// first column when vertical), without the size/type code: the region a
/// code reader is given as a crop. Same coverage-mask convention.
pub fn code_line_mask(mark: &ContainerMark, font: Option<&FontRef<'_>>) -> RgbImage {
    let full = code_mask(mark, font);
    let (w, h) = full.dimensions();
    // The size/type code starts at x = 66 (vertical) or at its baseline
    // 58 px below the code's, i.e. below y ~ 8 + 0.85 asc + 58 - 0.8 * 0.8 px asc.
    let (cw, ch) = if mark.vertical {
        (62.min(w), h)
    } else {
        let asc = font
            .map(|f| f.as_scaled(PxScale::from(46.0)).ascent())
            .unwrap_or(40.0);
        let second_top = 8.0 + asc * 0.85 + 58.0 - asc * 0.8 * 0.8;
        (w, (second_top - 2.0).clamp(1.0, h as f32) as u32)
    };
    image::imageops::crop_imm(&full, 0, 0, cw, ch).to_image()
}

/// The painted code block as a coverage mask (red channel, 255 = paint):
/// `CSQU 305438 [3]` over `45G1`, or one character per line when vertical.
pub(super) fn code_mask(mark: &ContainerMark, font: Option<&FontRef<'_>>) -> RgbImage {
    let code: Vec<char> = mark.code.chars().filter(|c| !c.is_whitespace()).collect();
    let ink = Rgb([255, 255, 255]);
    let px = if mark.vertical { 34.0 } else { 46.0 };
    let (w, h) = code_mask_size(mark.vertical);
    let mut img = RgbImage::new(w, h);
    let Some(font) = font else { return img };
    let sf = font.as_scaled(PxScale::from(px));
    let asc = sf.ascent();
    if mark.vertical {
        let mut y = 4.0 + asc * 0.8;
        for (i, &c) in code.iter().enumerate() {
            let adv = sf.h_advance(font.glyph_id(c));
            let x = 12.0 + (30.0 - adv) / 2.0;
            text(&mut img, font, px, x, y, &c.to_string(), ink);
            if i == 10 {
                stroke_rect(&mut img, 6.0, y - asc * 0.8, 42.0, asc * 0.95, 3.0, ink);
            }
            y += 36.0;
            if i == 3 {
                y += 8.0;
            }
        }
        // Size/type code beside it, also vertical.
        let mut y2 = 4.0 + asc * 0.8;
        for c in mark.size_type.chars() {
            text(&mut img, font, px * 0.6, 66.0, y2, &c.to_string(), ink);
            y2 += 26.0;
        }
    } else {
        let baseline = 8.0 + asc * 0.85;
        let (head, tail): (String, String) = if code.len() == 11 {
            (
                format!(
                    "{} {}",
                    code[..4].iter().collect::<String>(),
                    code[4..10].iter().collect::<String>()
                ),
                code[10].to_string(),
            )
        } else {
            (code.iter().collect(), String::new())
        };
        let adv = text(&mut img, font, px, 10.0, baseline, &head, ink);
        if let Some(t) = tail.chars().next() {
            let bx = 10.0 + adv + 14.0;
            text(&mut img, font, px, bx + 8.0, baseline, &tail, ink);
            let tw = sf.h_advance(font.glyph_id(t));
            stroke_rect(
                &mut img,
                bx,
                baseline - asc * 0.8,
                tw + 16.0,
                asc * 0.95,
                3.0,
                ink,
            );
        }
        text(
            &mut img,
            font,
            px * 0.8,
            10.0,
            baseline + 58.0,
            &mark.size_type,
            ink,
        );
    }
    img
}
