//! Frame rendering for the simulated cameras: a grey lane scene with the
//! truck in view, its licence plate (Chinese plate colours and layout, CJK
//! province character) or its container door with the painted ISO 6346 code
//! (check digit boxed, size/type code below, optionally vertical), with blur,
//! noise, lighting and a sheared/keystoned view of the markings.
//!
//! Layer: pure drawing (pixels in, pixels out); no I/O, no clock, no HTTP.
//! The font is a subset of Noto Sans CJK SC Bold embedded from assets/fonts/
//! (SIL OFL 1.1, assets/fonts/OFL.txt).

mod text;
mod warp;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

use super::{ContainerMark, Plate, PlateColour};

pub use text::{code_line_mask, plate_patch, plate_size};
use text::{code_mask, code_mask_size, text};
pub use warp::{composite_warped, paint_warped, warped_size};

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

#[cfg(test)]
mod tests;
