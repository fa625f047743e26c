//! Drawing the evaluation samples: plate and code crops and frames (the
//! camera renderer's patches placed, warped and distorted), and the
//! surface marks (dirt, occlusion bars, noise) each condition adds.

use super::*;

/// Where the text sits in a patch or frame, for dirt and occlusion.
#[derive(Clone, Copy, Debug)]
pub(super) struct TextArea {
    pub(super) x0: f32,
    pub(super) y0: f32,
    pub(super) x1: f32,
    pub(super) y1: f32,
    /// Character cell size along the reading direction, pixels.
    pub(super) cell: f32,
    pub(super) char_h: f32,
    pub(super) vertical: bool,
}

/// Soft dark blotches over the text area.
pub(super) fn add_dirt(img: &mut RgbImage, r: &mut Rng, area: TextArea, n: u32, faint: bool) {
    let (w, h) = img.dimensions();
    for _ in 0..n {
        let cx = r.range(area.x0, area.x1);
        let cy = r.range(area.y0, area.y1);
        let rx = r.range(0.1, 0.3) * area.char_h;
        let ry = r.range(0.1, 0.3) * area.char_h;
        let alpha = if faint {
            r.range(0.2, 0.35)
        } else {
            r.range(0.3, 0.6)
        };
        let tone = [
            r.range(50.0, 80.0),
            r.range(42.0, 65.0),
            r.range(30.0, 50.0),
        ];
        let xa = (cx - rx).floor().max(0.0) as u32;
        let xb = ((cx + rx).ceil().max(0.0) as u32).min(w);
        let ya = (cy - ry).floor().max(0.0) as u32;
        let yb = ((cy + ry).ceil().max(0.0) as u32).min(h);
        for y in ya..yb {
            for x in xa..xb {
                let dx = (x as f32 + 0.5 - cx) / rx.max(0.5);
                let dy = (y as f32 + 0.5 - cy) / ry.max(0.5);
                let d2 = dx * dx + dy * dy;
                if d2 >= 1.0 {
                    continue;
                }
                // Soft edge: full opacity in the middle, fading out.
                let a = alpha * (1.0 - d2).sqrt();
                let p = img.get_pixel_mut(x, y);
                for (i, t) in tone.iter().enumerate() {
                    p.0[i] = (f32::from(p.0[i]) * (1.0 - a) + t * a) as u8;
                }
            }
        }
    }
}

/// One opaque bar across the text, perpendicular to the reading direction,
/// `frac` of a character cell thick.
pub(super) fn add_bar(img: &mut RgbImage, r: &mut Rng, area: TextArea, frac: f32) {
    let (w, h) = img.dimensions();
    let t = (frac * area.cell).max(1.0);
    let v = r.range(25.0, 70.0) as u8;
    let c = Rgb([v, v, v.saturating_add(3)]);
    // Slightly beyond the text band on both sides, like a rod in front of it.
    let (xa, xb, ya, yb) = if area.vertical {
        let y = r.range(area.y0 + t, area.y1 - 2.0 * t);
        let m = (area.x1 - area.x0) * 0.15;
        (area.x0 - m, area.x1 + m, y, y + t)
    } else {
        let x = r.range(area.x0 + t, area.x1 - 2.0 * t);
        let m = (area.y1 - area.y0) * 0.15;
        (x, x + t, area.y0 - m, area.y1 + m)
    };
    let xa = xa.round().max(0.0) as u32;
    let xb = (xb.round().max(0.0) as u32).min(w);
    let ya = ya.round().max(0.0) as u32;
    let yb = (yb.round().max(0.0) as u32).min(h);
    for y in ya..yb {
        for x in xa..xb {
            img.put_pixel(x, y, c);
        }
    }
}

/// Surface distortions (dirt, occlusion) as the parameters say.
pub(super) fn add_surface(
    img: &mut RgbImage,
    r: &mut Rng,
    area: TextArea,
    p: &Params,
    d: Distortion,
) {
    if p.dirt > 0 {
        add_dirt(img, r, area, p.dirt, d == Distortion::Mixed);
    }
    if p.occlusion > 0.0 {
        add_bar(img, r, area, p.occlusion);
    }
}

/// Lighting, blur and noise of the parameters.
pub(super) fn finish(img: RgbImage, p: &Params, noise_seed: u64) -> RgbImage {
    let mut img = render::light_and_blur(img, p.brightness, p.blur);
    render::add_noise(&mut img, p.noise, noise_seed);
    img
}

pub(super) fn solid(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w.max(1), h.max(1), Rgb(c))
}

/// Places a flat patch, warped by the angle, on a canvas of `bg` with random
/// margins (as a detector's box is never tight), and returns the canvas.
pub(super) fn place_warped(r: &mut Rng, patch: &RgbImage, bg: &RgbImage, angle: f32) -> RgbImage {
    let (ow, oh) = render::warped_size(patch.width() as f32, patch.height() as f32, angle);
    let ml = r.range(0.03, 0.1) * ow;
    let mr = r.range(0.03, 0.1) * ow;
    let mt = r.range(0.06, 0.2) * oh;
    let mb = r.range(0.06, 0.2) * oh;
    let cw = (ow + ml + mr).ceil() as u32;
    let ch = (oh + mt + mb).ceil() as u32;
    let mut canvas = tile(bg, cw, ch);
    let cx = (ml + ow / 2.0) as i64;
    let cy = (mt + oh / 2.0) as i64;
    render::composite_warped(&mut canvas, patch, cx, cy, angle);
    canvas
}

/// `bg` repeated to `w` x `h`.
pub(super) fn tile(bg: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (bw, bh) = bg.dimensions();
    RgbImage::from_fn(w.max(1), h.max(1), |x, y| {
        *bg.get_pixel(x % bw.max(1), y % bh.max(1))
    })
}

pub(super) fn plate_crop(
    r: &mut Rng,
    d: Distortion,
    id: String,
    ns: u64,
    font: &FontRef<'_>,
) -> Sample {
    let (plate, two_row) = random_plate(r);
    let pw = r.range(150.0, 300.0).round() as u32;
    let mut patch = render::plate_patch(&plate, pw, two_row, Some(font));
    let (w, h) = (patch.width() as f32, patch.height() as f32);
    let n = plate.text.chars().count() as f32;
    let mm = w / if n >= 8.0 { 480.0 } else { 440.0 };
    // Characters: 90 mm tall (two rows: 110 mm lower row, 15-200 mm band).
    let (char_h, y0, y1) = if two_row {
        (110.0 * mm, 15.0 * mm, 200.0 * mm)
    } else {
        (90.0 * mm, 25.0 * mm, 115.0 * mm)
    };
    let area = TextArea {
        x0: 0.08 * w,
        y0,
        x1: 0.92 * w,
        y1: y1.min(h),
        cell: (if two_row { 65.0 } else { 45.0 }) * mm,
        char_h,
        vertical: false,
    };
    let p = draw_params(r, d, char_h);
    add_surface(&mut patch, r, area, &p, d);
    let bg = solid(8, 8, BUMPER_COLOURS[r.below(BUMPER_COLOURS.len())]);
    let canvas = place_warped(r, &patch, &bg, p.angle_deg);
    let image = finish(canvas, &p, ns);
    let label = plate_label(id, Category::PlateCrop, &image, d, p, &plate, two_row);
    Sample { label, image }
}

/// A flat door surface `w` x `h` with corrugation, in `c`.
pub(super) fn door_surface(w: u32, h: u32, c: [u8; 3], pitch: f32, phase: f32) -> RgbImage {
    let dark = c.map(|v| (f32::from(v) * 0.8) as u8);
    RgbImage::from_fn(w.max(1), h.max(1), |x, _| {
        let t = (x as f32 + phase).rem_euclid(pitch.max(4.0));
        if t < pitch * 0.15 {
            Rgb(dark)
        } else {
            Rgb(c)
        }
    })
}

pub(super) fn random_mark(r: &mut Rng, vertical: bool) -> ContainerMark {
    ContainerMark {
        code: random_code(r),
        slot: ContainerPosition::Front,
        vertical,
        size_type: SIZE_TYPES[r.below(SIZE_TYPES.len())].to_string(),
    }
}

pub(super) fn ink_for(c: [u8; 3]) -> [u8; 3] {
    let light = u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]) > 540;
    if light {
        [25, 25, 25]
    } else {
        [240, 240, 235]
    }
}

/// Bounding box `[x0, y0, x1, y1)` of the painted pixels of a mask.
pub(super) fn ink_box(mask: &RgbImage) -> Option<[u32; 4]> {
    let mut b: Option<[u32; 4]> = None;
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] > 40 {
            let v = b.get_or_insert([x, y, x + 1, y + 1]);
            v[0] = v[0].min(x);
            v[1] = v[1].min(y);
            v[2] = v[2].max(x + 1);
            v[3] = v[3].max(y + 1);
        }
    }
    b
}

pub(super) fn code_crop(
    r: &mut Rng,
    d: Distortion,
    id: String,
    ns: u64,
    font: &FontRef<'_>,
) -> Sample {
    let vertical = r.chance(0.3);
    let mark = random_mark(r, vertical);
    let mask = render::code_line_mask(&mark, Some(font));
    // Keep the painted part only.
    let mask = match ink_box(&mask) {
        Some([x0, y0, x1, y1]) => {
            image::imageops::crop_imm(&mask, x0, y0, x1 - x0, y1 - y0).to_image()
        }
        None => mask,
    };
    let scale = r.range(0.7, 1.3);
    let (mw, mh) = (
        (mask.width() as f32 * scale).round().max(1.0) as u32,
        (mask.height() as f32 * scale).round().max(1.0) as u32,
    );
    let mask = image::imageops::resize(&mask, mw, mh, image::imageops::FilterType::Triangle);
    let door = DOOR_COLOURS[r.below(DOOR_COLOURS.len())];
    let ink = ink_for(door);
    let pitch = 26.0 * scale;
    let phase = r.range(0.0, pitch);
    // The painted code on a piece of door much larger than the code, so that
    // the crop taken around the warped code lies inside the warped door.
    let pad = mw.max(mh) / 2;
    let mut patch = door_surface(mw + 2 * pad, mh + 2 * pad, door, pitch, phase);
    for (x, y, m) in mask.enumerate_pixels() {
        let a = f32::from(m.0[0]) / 255.0;
        if a <= 0.0 {
            continue;
        }
        let p = patch.get_pixel_mut(x + pad, y + pad);
        for (v, k) in p.0.iter_mut().zip(ink) {
            *v = (f32::from(*v) * (1.0 - a) + f32::from(k) * a) as u8;
        }
    }
    // Glyphs: 46 px (34 px vertical) font, caps about 0.73 of it.
    let char_h = if vertical { 34.0 } else { 46.0 } * 0.73 * scale;
    let area = TextArea {
        x0: pad as f32,
        y0: pad as f32,
        x1: (pad + mw) as f32,
        y1: (pad + mh) as f32,
        cell: if vertical { 36.0 } else { 30.0 } * scale,
        char_h,
        vertical,
    };
    let p = draw_params(r, d, char_h);
    add_surface(&mut patch, r, area, &p, d);
    // Warp the door piece, then crop around the warped code with margins.
    let (pw, ph) = render::warped_size(patch.width() as f32, patch.height() as f32, p.angle_deg);
    let mut canvas = door_surface(pw.ceil() as u32, ph.ceil() as u32, door, pitch, phase);
    render::composite_warped(
        &mut canvas,
        &patch,
        (pw / 2.0) as i64,
        (ph / 2.0) as i64,
        p.angle_deg,
    );
    let (tw, th) = render::warped_size(mw as f32, mh as f32, p.angle_deg);
    let (along, across) = if vertical { (th, tw) } else { (tw, th) };
    let m_along = [r.range(0.02, 0.06) * along, r.range(0.02, 0.06) * along];
    let m_across = [r.range(0.15, 0.4) * across, r.range(0.15, 0.4) * across];
    let (ml, mr, mt, mb) = if vertical {
        (m_across[0], m_across[1], m_along[0], m_along[1])
    } else {
        (m_along[0], m_along[1], m_across[0], m_across[1])
    };
    let x0 = (pw / 2.0 - tw / 2.0 - ml).max(0.0);
    let y0 = (ph / 2.0 - th / 2.0 - mt).max(0.0);
    let x1 = (pw / 2.0 + tw / 2.0 + mr).min(canvas.width() as f32);
    let y1 = (ph / 2.0 + th / 2.0 + mb).min(canvas.height() as f32);
    let crop = image::imageops::crop_imm(
        &canvas,
        x0 as u32,
        y0 as u32,
        ((x1 - x0) as u32).max(1),
        ((y1 - y0) as u32).max(1),
    )
    .to_image();
    let image = finish(crop, &p, ns);
    let label = code_label(id, Category::CodeCrop, &image, d, p, &mark);
    Sample { label, image }
}

/// The frame's text area from the renderer's marking box.
pub(super) fn frame_area(bx: [f32; 4], cell: f32, char_h: f32, vertical: bool) -> TextArea {
    let (w, h) = (bx[2] - bx[0], bx[3] - bx[1]);
    TextArea {
        x0: bx[0] + 0.06 * w,
        y0: bx[1] + 0.1 * h,
        x1: bx[2] - 0.06 * w,
        y1: bx[3] - 0.1 * h,
        cell,
        char_h,
        vertical,
    }
}

pub(super) fn osd_text(r: &mut Rng, name: &str) -> String {
    format!(
        "{name} 2025-{:02}-{:02} {:02}:{:02}:{:02}",
        1 + r.below(12),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60)
    )
}

pub(super) fn plate_frame(
    r: &mut Rng,
    d: Distortion,
    id: String,
    ns: u64,
    font: &FontRef<'_>,
) -> Sample {
    let (plate, _) = random_plate(r);
    // Trailers carry their plate at the rear only.
    let rear = plate.text.ends_with('挂') || r.chance(0.5);
    let body_seed = r.next();
    let content = if rear {
        Content::TruckRear {
            plate: Some(&plate),
            body_seed,
        }
    } else {
        Content::TruckFront {
            plate: Some(&plate),
            body_seed,
        }
    };
    // As the renderer places them: front 0.22, rear 0.19 of the frame width.
    let pw = FRAME_W as f32 * if rear { 0.19 } else { 0.22 };
    let two_row = rear && plate.colour == PlateColour::Yellow && plate.text.chars().count() == 7;
    let mm = pw
        / if plate.text.chars().count() >= 8 {
            480.0
        } else {
            440.0
        };
    let char_h = if two_row { 110.0 } else { 90.0 } * mm;
    let cell = if two_row { 65.0 } else { 45.0 } * mm;
    let p = draw_params(r, d, char_h);
    let fx = Effects {
        blur: 0.0,
        noise: 0,
        brightness: 1.0,
        angle_deg: p.angle_deg,
        seed: ns,
    };
    let mut img = render::render_base(FRAME_W, FRAME_H, &content, &fx, Some(font));
    if let Some(bx) = render::marking_box(FRAME_W, FRAME_H, &content, &fx) {
        let cos = p.angle_deg.to_radians().cos();
        add_surface(
            &mut img,
            r,
            frame_area(bx, cell * cos, char_h, false),
            &p,
            d,
        );
    }
    let mut image = finish(img, &p, ns);
    let osd = osd_text(r, if rear { "PLATE_REAR" } else { "PLATE_FRONT" });
    render::stamp_osd(&mut image, font, &osd);
    let mut label = plate_label(id, Category::PlateFrame, &image, d, p, &plate, two_row);
    label.view = Some(if rear { "rear" } else { "front" }.to_string());
    Sample { label, image }
}

pub(super) fn code_frame(
    r: &mut Rng,
    d: Distortion,
    id: String,
    ns: u64,
    font: &FontRef<'_>,
) -> Sample {
    let vertical = r.chance(0.3);
    let mark = random_mark(r, vertical);
    let body_seed = r.next();
    let content = Content::Container {
        mark: &mark,
        body_seed,
    };
    let char_h = if vertical { 34.0 } else { 46.0 } * 0.73;
    let cell = if vertical { 36.0 } else { 30.0 };
    let p = draw_params(r, d, char_h);
    let fx = Effects {
        blur: 0.0,
        noise: 0,
        brightness: 1.0,
        angle_deg: p.angle_deg,
        seed: ns,
    };
    let mut img = render::render_base(FRAME_W, FRAME_H, &content, &fx, Some(font));
    if let Some(bx) = render::marking_box(FRAME_W, FRAME_H, &content, &fx) {
        // The block holds the size/type code too: keep to the code's part.
        let bx = if vertical {
            [bx[0], bx[1], bx[0] + (bx[2] - bx[0]) * 0.55, bx[3]]
        } else {
            [bx[0], bx[1], bx[2], bx[1] + (bx[3] - bx[1]) * 0.45]
        };
        let cos = p.angle_deg.to_radians().cos();
        let cell = if vertical { cell } else { cell * cos };
        add_surface(&mut img, r, frame_area(bx, cell, char_h, vertical), &p, d);
    }
    let mut image = finish(img, &p, ns);
    let osd = osd_text(r, "CONTAINER_FRONT");
    render::stamp_osd(&mut image, font, &osd);
    let label = code_label(id, Category::CodeFrame, &image, d, p, &mark);
    Sample { label, image }
}
