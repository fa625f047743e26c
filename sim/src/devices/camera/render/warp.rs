//! Pasting a patch into a frame under a sheared/keystoned view: the warp, its
//! size, and bilinear sampling.

use image::{Rgb, RgbImage};

use super::Px;

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
pub(super) fn warp(
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
