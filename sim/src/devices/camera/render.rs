//! Frame rendering for the simulated cameras: a grey lane scene with the
//! truck in view, its licence plate (Chinese plate colours and layout, CJK
//! province character) or its container door with the painted ISO 6346 code
//! (check digit boxed, size/type code below, optionally vertical), with blur,
//! noise, lighting and a sheared/keystoned view of the markings.
//!
//! Layer: pure drawing (pixels in, pixels out); no I/O, no clock, no HTTP.
//! The font is a subset of Noto Sans CJK SC Bold embedded from assets/fonts/
//! (SIL OFL 1.1, assets/fonts/OFL.txt).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

use super::{ContainerMark, Plate, PlateColour};

static FONT_BYTES: &[u8] =
    include_bytes!("../../../../assets/fonts/NotoSansCJKsc-Bold-lane-subset.otf");

/// The embedded font, or None if it cannot be parsed (then no text is drawn).
pub fn font() -> Option<FontRef<'static>> {
    FontRef::try_from_slice(FONT_BYTES).ok()
}

/// Image effects.
#[derive(Clone, Debug, PartialEq)]
pub struct Effects {
    /// Gaussian blur sigma in pixels (0 = none).
    pub blur: f32,
    /// Uniform noise amplitude in grey levels (0 = none).
    pub noise: u8,
    /// Brightness multiplier (1 = as drawn).
    pub brightness: f32,
    /// Viewing angle in degrees: markings are sheared and keystoned by it.
    pub angle_deg: f32,
    /// Seed of the noise.
    pub seed: u64,
}

/// What to draw.
pub enum Content<'a> {
    Empty,
    /// Front of a truck with its plate.
    TruckFront {
        plate: Option<&'a Plate>,
        body_seed: u64,
    },
    /// Rear of a truck with its plate.
    TruckRear {
        plate: Option<&'a Plate>,
        body_seed: u64,
    },
    /// A container door with its code.
    Container {
        mark: &'a ContainerMark,
        body_seed: u64,
    },
}

type Px = Rgb<u8>;

const CAB_COLOURS: [[u8; 3]; 6] = [
    [170, 30, 30],
    [30, 70, 150],
    [225, 225, 220],
    [40, 110, 60],
    [200, 120, 20],
    [90, 90, 95],
];
/// Container door paints (also the evaluation set's, `crate::eval`).
pub const BOX_COLOURS: [[u8; 3]; 7] = [
    [120, 40, 35],
    [30, 60, 120],
    [40, 100, 60],
    [150, 150, 150],
    [200, 90, 30],
    [230, 230, 225],
    [60, 60, 60],
];

/// Renders one frame: [`render_base`], then noise, then the on-screen text.
pub fn render(
    width: u32,
    height: u32,
    content: &Content<'_>,
    osd: &str,
    fx: &Effects,
    font: Option<&FontRef<'_>>,
) -> RgbImage {
    let mut img = render_base(width, height, content, fx, font);
    add_noise(&mut img, fx.noise, fx.seed);
    if let Some(f) = font {
        stamp_osd(&mut img, f, osd);
    }
    img
}

/// The scene with lighting and blur applied, before noise and on-screen text
/// (what stays the same from frame to frame while the subject stands still).
pub fn render_base(
    width: u32,
    height: u32,
    content: &Content<'_>,
    fx: &Effects,
    font: Option<&FontRef<'_>>,
) -> RgbImage {
    let (w, h) = (width.max(64), height.max(48));
    let mut img = RgbImage::new(w, h);
    background(&mut img);
    match content {
        Content::Empty => {}
        Content::TruckFront { plate, body_seed } => {
            truck_front(&mut img, *plate, *body_seed, fx, font)
        }
        Content::TruckRear { plate, body_seed } => {
            truck_rear(&mut img, *plate, *body_seed, fx, font)
        }
        Content::Container { mark, body_seed } => {
            container_door(&mut img, mark, *body_seed, fx, font)
        }
    }
    light_and_blur(img, fx.brightness, fx.blur)
}

/// Lighting (brightness multiplier) then blur (sigma, pixels), as
/// [`render_base`] applies them to a whole frame.
pub fn light_and_blur(mut img: RgbImage, brightness: f32, blur: f32) -> RgbImage {
    if (brightness - 1.0).abs() > 1e-3 {
        let b = brightness.max(0.0);
        for c in img.iter_mut() {
            *c = (f32::from(*c) * b).min(255.0) as u8;
        }
    }
    if blur > 0.05 {
        // Through DynamicImage: its blur is compiled (optimised) in the image crate.
        image::DynamicImage::ImageRgb8(img)
            .fast_blur(blur)
            .into_rgb8()
    } else {
        img
    }
}

/// Adds uniform noise of +-`amp` grey levels (seeded).
pub fn add_noise(img: &mut RgbImage, amp: u8, seed: u64) {
    if amp == 0 {
        return;
    }
    let mut s = seed | 1;
    let span = u64::from(amp) * 2 + 1;
    for chunk in img.chunks_mut(8) {
        // xorshift64: one draw per 8 samples, one byte of it per sample.
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        for (k, v) in chunk.iter_mut().enumerate() {
            let r = (s >> (8 * k)) & 0xFF;
            let n = (r % span) as i16 - i16::from(amp);
            *v = (i16::from(*v) + n).clamp(0, 255) as u8;
        }
    }
}

/// Draws the camera's on-screen text (position, time, frame) at the top left.
pub fn stamp_osd(img: &mut RgbImage, font: &FontRef<'_>, s: &str) {
    let px = 22.0;
    let sf = font.as_scaled(PxScale::from(px));
    let w: f32 = s.chars().map(|c| sf.h_advance(font.glyph_id(c))).sum();
    fill_rect(img, 6.0, 6.0, w + 12.0, 30.0, Rgb([0, 0, 0]));
    text(img, font, px, 12.0, 6.0 + 22.0, s, Rgb([255, 255, 255]));
}

/// An all-black frame (a dark camera).
pub fn black(width: u32, height: u32) -> RgbImage {
    RgbImage::new(width.max(64), height.max(48))
}

/// Encodes a frame as JPEG.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::with_capacity(128 * 1024);
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(10, 100));
    img.write_with_encoder(enc)?;
    Ok(out)
}

fn background(img: &mut RgbImage) {
    let (w, h) = img.dimensions();
    let horizon = h * 2 / 5;
    for y in 0..h {
        let v = if y < horizon {
            // Canopy / sky: light grey, darker towards the horizon.
            (178 - (y * 30 / horizon.max(1))) as u8
        } else {
            // Road surface.
            (92 + ((y - horizon) * 20 / (h - horizon).max(1))) as u8
        };
        for x in 0..w {
            img.put_pixel(x, y, Rgb([v, v, v.saturating_add(4)]));
        }
    }
    // Lane edge lines converging to the horizon.
    let cx = w as f32 / 2.0;
    for y in horizon..h {
        let t = (y - horizon) as f32 / (h - horizon).max(1) as f32;
        let half = 40.0 + t * w as f32 * 0.45;
        let lw = 1.0 + t * 8.0;
        for side in [-1.0f32, 1.0] {
            let x0 = cx + side * half;
            fill_rect(img, x0 - lw / 2.0, y as f32, lw, 1.0, Rgb([220, 220, 210]));
        }
    }
}

fn fill_rect(img: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, c: Px) {
    let (iw, ih) = img.dimensions();
    let x0 = x.max(0.0) as u32;
    let y0 = y.max(0.0) as u32;
    let x1 = ((x + w).max(0.0) as u32).min(iw);
    let y1 = ((y + h).max(0.0) as u32).min(ih);
    for yy in y0..y1 {
        for xx in x0..x1 {
            img.put_pixel(xx, yy, c);
        }
    }
}

fn stroke_rect(img: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, t: f32, c: Px) {
    fill_rect(img, x, y, w, t, c);
    fill_rect(img, x, y + h - t, w, t, c);
    fill_rect(img, x, y, t, h, c);
    fill_rect(img, x + w - t, y, t, h, c);
}

fn shade(c: [u8; 3], f: f32) -> Px {
    Rgb(c.map(|v| (f32::from(v) * f).clamp(0.0, 255.0) as u8))
}

fn pick<const N: usize>(table: &[[u8; 3]; N], seed: u64) -> [u8; 3] {
    table[(seed % N as u64) as usize]
}

fn truck_front(
    img: &mut RgbImage,
    plate: Option<&Plate>,
    seed: u64,
    fx: &Effects,
    font: Option<&FontRef<'_>>,
) {
    let (w, h) = img.dimensions();
    let (w, h) = (w as f32, h as f32);
    let cab = pick(&CAB_COLOURS, seed);
    let (cx0, cw) = (w * 0.2, w * 0.6);
    // Cab body.
    fill_rect(img, cx0, h * 0.08, cw, h * 0.80, shade(cab, 1.0));
    // Windscreen.
    fill_rect(
        img,
        cx0 + cw * 0.06,
        h * 0.13,
        cw * 0.88,
        h * 0.28,
        Rgb([55, 70, 85]),
    );
    fill_rect(
        img,
        cx0 + cw * 0.06,
        h * 0.13,
        cw * 0.88,
        h * 0.03,
        Rgb([90, 105, 120]),
    );
    // Grille.
    let gy = h * 0.47;
    fill_rect(
        img,
        cx0 + cw * 0.25,
        gy,
        cw * 0.5,
        h * 0.2,
        Rgb([35, 35, 38]),
    );
    for i in 0..6 {
        fill_rect(
            img,
            cx0 + cw * 0.25,
            gy + i as f32 * h * 0.034,
            cw * 0.5,
            h * 0.008,
            Rgb([80, 80, 85]),
        );
    }
    // Headlights.
    for x in [cx0 + cw * 0.04, cx0 + cw * 0.80] {
        fill_rect(
            img,
            x,
            gy + h * 0.02,
            cw * 0.16,
            h * 0.07,
            Rgb([235, 235, 215]),
        );
    }
    // Bumper and wheels.
    fill_rect(
        img,
        cx0 - w * 0.01,
        h * 0.72,
        cw + w * 0.02,
        h * 0.1,
        Rgb([45, 45, 48]),
    );
    for x in [cx0 + cw * 0.02, cx0 + cw * 0.83] {
        fill_rect(img, x, h * 0.82, cw * 0.15, h * 0.13, Rgb([20, 20, 20]));
    }
    if let Some(p) = plate {
        let (cx, cy, pw, two_row) = plate_place(false, p, w, h);
        let patch = plate_patch(p, pw, two_row, font);
        composite_warped(img, &patch, cx, cy, fx.angle_deg);
    }
}

/// Where a truck's plate is drawn: (centre x, centre y, patch width, two
/// rows) for the front (`rear` false) or the rear of a frame `w` x `h`.
fn plate_place(rear: bool, p: &Plate, w: f32, h: f32) -> (i64, i64, u32, bool) {
    if rear {
        // Large vehicles carry a two-row plate at the rear (yellow plates).
        let two_row = p.colour == PlateColour::Yellow && p.text.chars().count() == 7;
        (
            (w / 2.0) as i64,
            (h * 0.86) as i64,
            (w * 0.19).round() as u32,
            two_row,
        )
    } else {
        (
            (w / 2.0) as i64,
            (h * 0.77) as i64,
            (w * 0.22).round() as u32,
            false,
        )
    }
}

fn truck_rear(
    img: &mut RgbImage,
    plate: Option<&Plate>,
    seed: u64,
    fx: &Effects,
    font: Option<&FontRef<'_>>,
) {
    let (w, h) = img.dimensions();
    let (w, h) = (w as f32, h as f32);
    let body = pick(&BOX_COLOURS, seed.rotate_left(7));
    // Load / container rear.
    fill_rect(
        img,
        w * 0.18,
        h * 0.05,
        w * 0.64,
        h * 0.62,
        shade(body, 0.9),
    );
    stroke_rect(
        img,
        w * 0.18,
        h * 0.05,
        w * 0.64,
        h * 0.62,
        6.0,
        shade(body, 0.6),
    );
    // Chassis beam, under-run bar, lights.
    fill_rect(
        img,
        w * 0.16,
        h * 0.67,
        w * 0.68,
        h * 0.05,
        Rgb([30, 30, 30]),
    );
    fill_rect(
        img,
        w * 0.22,
        h * 0.78,
        w * 0.56,
        h * 0.03,
        Rgb([200, 60, 40]),
    );
    for x in [w * 0.17, w * 0.76] {
        fill_rect(img, x, h * 0.70, w * 0.07, h * 0.05, Rgb([200, 20, 20]));
    }
    for x in [w * 0.2, w * 0.68] {
        fill_rect(img, x, h * 0.72, w * 0.12, h * 0.2, Rgb([18, 18, 18]));
    }
    if let Some(p) = plate {
        let (cx, cy, pw, two_row) = plate_place(true, p, w, h);
        let patch = plate_patch(p, pw, two_row, font);
        composite_warped(img, &patch, cx, cy, fx.angle_deg);
    }
}

fn container_door(
    img: &mut RgbImage,
    mark: &ContainerMark,
    seed: u64,
    fx: &Effects,
    font: Option<&FontRef<'_>>,
) {
    let (w, h) = img.dimensions();
    let (wf, hf) = (w as f32, h as f32);
    let c = pick(&BOX_COLOURS, seed.rotate_left(13) ^ hash_str(&mark.code));
    let (x0, y0, cw, ch) = (wf * 0.12, hf * 0.04, wf * 0.76, hf * 0.9);
    fill_rect(img, x0, y0, cw, ch, shade(c, 1.0));
    // Door corrugation and frame.
    let mut x = x0 + 12.0;
    while x < x0 + cw - 12.0 {
        fill_rect(img, x, y0 + 10.0, 4.0, ch - 20.0, shade(c, 0.8));
        x += 26.0;
    }
    stroke_rect(img, x0, y0, cw, ch, 10.0, shade(c, 0.55));
    fill_rect(img, x0 + cw / 2.0 - 3.0, y0, 6.0, ch, shade(c, 0.45));
    // Locking bars with handles.
    for i in 0..4 {
        let bx = x0 + cw * (0.12 + 0.22 * i as f32);
        fill_rect(img, bx, y0 + 8.0, 8.0, ch - 16.0, Rgb([175, 175, 170]));
        fill_rect(
            img,
            bx - 6.0,
            y0 + ch * 0.55,
            20.0,
            40.0,
            Rgb([150, 150, 145]),
        );
    }
    let light = u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]) > 540;
    let ink = if light {
        Rgb([25, 25, 25])
    } else {
        Rgb([240, 240, 235])
    };
    let mask = code_mask(mark, font);
    let (cx, cy) = code_place(mark, wf, hf);
    paint_warped(img, &mask, cx, cy, fx.angle_deg, ink);
}

/// Where a container door's code block is centred in a frame `w` x `h`:
/// at the upper right of the right door (vertical codes down its right edge).
fn code_place(mark: &ContainerMark, w: f32, h: f32) -> (i64, i64) {
    let (x0, y0, cw, ch) = (w * 0.12, h * 0.04, w * 0.76, h * 0.9);
    let cx = (x0 + cw * if mark.vertical { 0.86 } else { 0.75 }) as i64;
    let cy = (y0 + ch * if mark.vertical { 0.45 } else { 0.2 }) as i64;
    (cx, cy)
}

/// The box `[x0, y0, x1, y1]` (pixels, clipped to the frame) that the plate
/// or the painted code block of `content` covers in a frame drawn by
/// [`render_base`] with these effects; `None` when there is no marking.
pub fn marking_box(
    width: u32,
    height: u32,
    content: &Content<'_>,
    fx: &Effects,
) -> Option<[f32; 4]> {
    let (w, h) = (width.max(64) as f32, height.max(48) as f32);
    let (cx, cy, pw, ph) = match content {
        Content::Empty => return None,
        Content::TruckFront { plate, .. } | Content::TruckRear { plate, .. } => {
            let p = (*plate)?;
            let rear = matches!(content, Content::TruckRear { .. });
            let (cx, cy, pw, two_row) = plate_place(rear, p, w, h);
            let (pw, ph) = plate_size(p, pw, two_row);
            (cx, cy, pw, ph)
        }
        Content::Container { mark, .. } => {
            let (cx, cy) = code_place(mark, w, h);
            let (mw, mh) = code_mask_size(mark.vertical);
            (cx, cy, mw, mh)
        }
    };
    let (ow, oh) = warped_size(pw as f32, ph as f32, fx.angle_deg);
    let x0 = (cx as f32 - ow / 2.0).max(0.0);
    let y0 = (cy as f32 - oh / 2.0).max(0.0);
    let x1 = (cx as f32 + ow / 2.0).min(w);
    let y1 = (cy as f32 + oh / 2.0).min(h);
    (x1 > x0 && y1 > y0).then_some([x0, y0, x1, y1])
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

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
fn text(
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
fn code_mask_size(vertical: bool) -> (u32, u32) {
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
fn code_mask(mark: &ContainerMark, font: Option<&FontRef<'_>>) -> RgbImage {
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

/// Paints `ink` through a coverage mask (its red channel) centred at
/// (cx, cy), warped like [`composite_warped`].
pub fn paint_warped(
    img: &mut RgbImage,
    mask: &RgbImage,
    cx: i64,
    cy: i64,
    angle_deg: f32,
    ink: Px,
) {
    warp(img, mask, cx, cy, angle_deg, |dst, m| {
        let a = f32::from(m.0[0]) / 255.0;
        Rgb([0, 1, 2].map(|i| (f32::from(dst.0[i]) * (1.0 - a) + f32::from(ink.0[i]) * a) as u8))
    });
}

/// Composites `patch` centred at (cx, cy) through a shear (tan angle) and a
/// keystone (the far side shorter), bilinear sampled.
pub fn composite_warped(img: &mut RgbImage, patch: &RgbImage, cx: i64, cy: i64, angle_deg: f32) {
    warp(img, patch, cx, cy, angle_deg, |_, p| p);
}

/// Writes `put(destination, sample)` at every pixel the warped `patch` covers.
fn warp(
    img: &mut RgbImage,
    patch: &RgbImage,
    cx: i64,
    cy: i64,
    angle_deg: f32,
    put: impl Fn(Px, Px) -> Px,
) {
    let (pw, ph) = (patch.width() as f32, patch.height() as f32);
    let (shear, keystone) = warp_params(angle_deg);
    let (out_w, out_h) = warped_size(pw, ph, angle_deg);
    let (iw, ih) = img.dimensions();
    let x0 = cx as f32 - out_w / 2.0;
    let y0 = cy as f32 - out_h / 2.0;
    for oy in 0..out_h.ceil() as i64 {
        for ox in 0..out_w.ceil() as i64 {
            let dx = x0 as i64 + ox;
            let dy = y0 as i64 + oy;
            if dx < 0 || dy < 0 || dx >= i64::from(iw) || dy >= i64::from(ih) {
                continue;
            }
            // Inverse map: u across the patch, v down it.
            let u = ox as f32 / out_w;
            let vscale = 1.0 - keystone * (u - 0.5);
            let yc = oy as f32 - out_h / 2.0 - shear * (ox as f32 - out_w / 2.0);
            let v = yc / (ph * vscale) + 0.5;
            if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                continue;
            }
            let p = bilinear(patch, u * (pw - 1.0), v * (ph - 1.0));
            let d = *img.get_pixel(dx as u32, dy as u32);
            img.put_pixel(dx as u32, dy as u32, put(d, p));
        }
    }
}

/// Shear and keystone factors of [`warp`] for a viewing angle.
fn warp_params(angle_deg: f32) -> (f32, f32) {
    let shear = angle_deg.to_radians().tan().clamp(-1.0, 1.0) * 0.35;
    let keystone = (angle_deg / 90.0).clamp(-0.5, 0.5) * 0.6;
    (shear, keystone)
}

/// Width and height in pixels that a `pw` x `ph` patch covers once warped
/// by [`composite_warped`] / [`paint_warped`] at this viewing angle.
pub fn warped_size(pw: f32, ph: f32, angle_deg: f32) -> (f32, f32) {
    let (shear, keystone) = warp_params(angle_deg);
    let cos = angle_deg.to_radians().cos().max(0.3);
    let out_w = pw * cos;
    let out_h = ph + shear.abs() * out_w + ph * keystone.abs();
    (out_w, out_h)
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Px {
    let (w, h) = img.dimensions();
    let x0 = (x.floor().max(0.0) as u32).min(w - 1);
    let y0 = (y.floor().max(0.0) as u32).min(h - 1);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let (a, b, c, d) = (
        img.get_pixel(x0, y0),
        img.get_pixel(x1, y0),
        img.get_pixel(x0, y1),
        img.get_pixel(x1, y1),
    );
    Rgb([0, 1, 2].map(|i| {
        let top = f32::from(a.0[i]) * (1.0 - fx) + f32::from(b.0[i]) * fx;
        let bot = f32::from(c.0[i]) * (1.0 - fx) + f32::from(d.0[i]) * fx;
        (top * (1.0 - fy) + bot * fy).round() as u8
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::camera::ContainerPosition;

    fn fx() -> Effects {
        Effects {
            blur: 0.8,
            noise: 6,
            brightness: 1.0,
            angle_deg: 8.0,
            seed: 1,
        }
    }

    #[test]
    fn the_font_parses_and_has_the_plate_characters() {
        let f = font().expect("embedded font");
        for c in "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼挂学警港澳使领ABCDEFGHJKLMNPQRSTUVWXYZ0123456789".chars() {
            assert_ne!(f.glyph_id(c).0, 0, "missing glyph for {c}");
        }
    }

    #[test]
    fn plates_draw_ink_on_their_background() {
        let f = font().unwrap();
        let p = Plate {
            text: "琼A12345".into(),
            colour: PlateColour::Blue,
        };
        let img = plate_patch(&p, 440, false, Some(&f));
        assert_eq!(img.dimensions(), (440, 140));
        let white = img
            .pixels()
            .filter(|p| p.0[0] > 200 && p.0[2] > 200 && p.0[1] > 200)
            .count();
        let blue = img.pixels().filter(|p| p.0[2] > 150 && p.0[0] < 60).count();
        assert!(white > 440 * 140 / 10, "characters drawn: {white}");
        assert!(blue > 440 * 140 / 3, "background: {blue}");
        let img2 = plate_patch(
            &Plate {
                text: "琼B12345".into(),
                colour: PlateColour::Blue,
            },
            440,
            false,
            Some(&f),
        );
        assert_ne!(img, img2, "the text shows");
    }

    #[test]
    fn frames_render_and_encode() {
        let f = font().unwrap();
        let plate = Plate {
            text: "琼E12345".into(),
            colour: PlateColour::Yellow,
        };
        let img = render(
            1280,
            720,
            &Content::TruckRear {
                plate: Some(&plate),
                body_seed: 3,
            },
            "PLATE_REAR #1",
            &fx(),
            Some(&f),
        );
        assert_eq!(img.dimensions(), (1280, 720));
        let jpg = encode_jpeg(&img, 80).unwrap();
        assert_eq!(&jpg[..2], &[0xFF, 0xD8]);
        let back = image::load_from_memory(&jpg).unwrap();
        assert_eq!((back.width(), back.height()), (1280, 720));
        let mark = ContainerMark {
            code: "CSQU3054383".into(),
            slot: ContainerPosition::Front,
            vertical: true,
            size_type: "45G1".into(),
        };
        let img = render(
            640,
            360,
            &Content::Container {
                mark: &mark,
                body_seed: 1,
            },
            "",
            &fx(),
            Some(&f),
        );
        assert_eq!(img.dimensions(), (640, 360));
        let b = black(1280, 720);
        assert!(b.pixels().all(|p| p.0 == [0, 0, 0]));
    }
}
