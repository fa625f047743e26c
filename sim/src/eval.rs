//! Recognition evaluation set (issue #7): labelled plate crops, container-code
//! crops (horizontal and vertical) and full 1280x720 frames (truck front/rear
//! with its plate, container door with its code), drawn by the camera
//! renderer ([`crate::devices::camera::render`]) under one distortion each,
//! generated reproducibly from a seed.
//!
//! Every sample draws its own random stream from (seed, category, index): the
//! same seed gives the same bytes, and sample `i` of a category does not
//! depend on how many samples the other categories have.
//!
//! Distortions (sample `i` of a category gets condition `i % 8`, so each is
//! 1/8 of the set; "char height" is the height of one character in pixels):
//!
//! | condition     | what                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | `clean`       | blur sigma <= 0.01 char height, noise <= 4, brightness 0.9-1.1, angle <= 5 deg |
//! | `blur`        | Gaussian blur sigma 0.03-0.055 char height (1.2-2.2 px on 40 px characters) |
//! | `noise`       | uniform noise +-14..30 grey levels per channel                       |
//! | `perspective` | viewing angle 12-28 deg (shear + keystone of the renderer)           |
//! | `low_light`   | brightness x0.2-0.4, noise +-3..8                                    |
//! | `dirt`        | 3-7 soft dark blotches, radius 0.1-0.3 char height, opacity 0.3-0.6, over the text |
//! | `occlusion`   | one opaque bar across the text, perpendicular to the reading direction, 8-14 % of a character cell thick (thinner than a stroke of the bold plate/code font: it cuts strokes, never removes one) |
//! | `mixed`       | mild of all: blur 0.015-0.03 char height, noise 6-14, angle 5-15 deg, brightness 0.5-0.8, 2-3 faint blotches |
//!
//! Plates follow GA 36 (checked against `gate_proto::formats::plate`): blue
//! and yellow ordinary plates, yellow two-row plates (rear of large
//! vehicles), trailer `挂` plates (two rows), green new-energy small
//! (`琼AD12345`), yellow-green new-energy large (`琼A12345D`), black
//! `粤Z....港/澳`, white `警`. Province `琼` for 40 %, the other 30 evenly.
//! Container codes are valid ISO 6346 (check digit from
//! `gate_proto::formats::iso6346::check_digit`), category `U` (94 %), `J`, `Z`.
//!
//! Layer: test tooling (pure drawing plus writing the set); no clock, no
//! network, nothing of the agent or of the recogniser under test.

use std::fs;
use std::path::{Path, PathBuf};

use ab_glyph::FontRef;
use gate_proto::formats::{iso6346, plate as plate_fmt};
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::devices::camera::render::{self, Content, Effects};
use crate::devices::camera::{ContainerMark, ContainerPosition, Plate, PlateColour};

/// Frame size of the full-frame samples.
pub const FRAME_W: u32 = 1280;
pub const FRAME_H: u32 = 720;

/// Version of the labels.json layout.
pub const LABELS_VERSION: u32 = 1;

/// Why the set cannot be generated or read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the embedded font cannot be parsed")]
    NoFont,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The four categories of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    PlateCrop,
    CodeCrop,
    PlateFrame,
    CodeFrame,
}

impl Category {
    pub const ALL: [Self; 4] = [
        Self::PlateCrop,
        Self::CodeCrop,
        Self::PlateFrame,
        Self::CodeFrame,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::PlateCrop => "plate_crop",
            Self::CodeCrop => "code_crop",
            Self::PlateFrame => "plate_frame",
            Self::CodeFrame => "code_frame",
        }
    }

    /// Prefix of the sample ids and folder of the files.
    fn short(self) -> (&'static str, &'static str) {
        match self {
            Self::PlateCrop => ("pc", "plate_crops"),
            Self::CodeCrop => ("cc", "code_crops"),
            Self::PlateFrame => ("pf", "plate_frames"),
            Self::CodeFrame => ("cf", "code_frames"),
        }
    }

    pub fn is_plate(self) -> bool {
        matches!(self, Self::PlateCrop | Self::PlateFrame)
    }

    pub fn is_frame(self) -> bool {
        matches!(self, Self::PlateFrame | Self::CodeFrame)
    }

    fn salt(self) -> u64 {
        match self {
            Self::PlateCrop => 0x5043,
            Self::CodeCrop => 0x4343,
            Self::PlateFrame => 0x5046,
            Self::CodeFrame => 0x4346,
        }
    }
}

/// The distortion a sample was drawn under (see the module docs for levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distortion {
    Clean,
    Blur,
    Noise,
    Perspective,
    LowLight,
    Dirt,
    Occlusion,
    Mixed,
}

impl Distortion {
    pub const ALL: [Self; 8] = [
        Self::Clean,
        Self::Blur,
        Self::Noise,
        Self::Perspective,
        Self::LowLight,
        Self::Dirt,
        Self::Occlusion,
        Self::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Blur => "blur",
            Self::Noise => "noise",
            Self::Perspective => "perspective",
            Self::LowLight => "low_light",
            Self::Dirt => "dirt",
            Self::Occlusion => "occlusion",
            Self::Mixed => "mixed",
        }
    }
}

/// Layout of a container code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeLayout {
    Horizontal,
    Vertical,
}

/// The distortion parameters actually applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Blur sigma, pixels.
    pub blur: f32,
    /// Noise amplitude, grey levels.
    pub noise: u8,
    pub brightness: f32,
    /// Viewing angle, degrees.
    pub angle_deg: f32,
    /// Number of dirt blotches.
    pub dirt: u32,
    /// Occluding bar thickness as a fraction of a character cell (0: none).
    pub occlusion: f32,
    /// Character height in pixels the levels were scaled by.
    pub char_h: f32,
}

/// Ground truth of one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// e.g. `pc-00042`.
    pub id: String,
    pub category: Category,
    /// Path of the PNG, relative to the set folder.
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub distortion: Distortion,
    pub params: Params,
    /// Plate text (normalised, e.g. `琼A12345`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// Plate colour as `gate_proto::messages::PlateColour::as_str`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_row: Option<bool>,
    /// Frames: `front` or `rear` of the truck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// 11-character container code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<CodeLayout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_type: Option<String>,
}

impl Label {
    /// The expected text: the plate or the container code.
    pub fn truth(&self) -> &str {
        self.plate
            .as_deref()
            .or(self.code.as_deref())
            .unwrap_or_default()
    }
}

/// How many samples of each category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub plate_crops: usize,
    pub code_crops: usize,
    pub plate_frames: usize,
    pub code_frames: usize,
}

impl Counts {
    /// `n` crops of each kind and `n / 10` (at least 1) frames of each kind.
    pub fn from_count(n: usize) -> Self {
        let f = (n / 10).max(1);
        Self {
            plate_crops: n,
            code_crops: n,
            plate_frames: f,
            code_frames: f,
        }
    }

    pub fn of(&self, c: Category) -> usize {
        match c {
            Category::PlateCrop => self.plate_crops,
            Category::CodeCrop => self.code_crops,
            Category::PlateFrame => self.plate_frames,
            Category::CodeFrame => self.code_frames,
        }
    }
}

/// Contents of labels.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelSet {
    pub version: u32,
    pub seed: u64,
    pub counts: Counts,
    pub samples: Vec<Label>,
}

/// One generated sample.
#[derive(Clone, Debug)]
pub struct Sample {
    pub label: Label,
    pub image: RgbImage,
}

/// SplitMix64: small, stable across crate versions (the set must not change
/// when a dependency does).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, cat: Category, index: usize) -> Self {
        let mut r = Rng(seed ^ cat.salt().rotate_left(40) ^ (index as u64).wrapping_mul(0x9E37));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
    fn sign(&mut self) -> f32 {
        if self.chance(0.5) {
            1.0
        } else {
            -1.0
        }
    }
    fn pick(&mut self, s: &str) -> char {
        let v: Vec<char> = s.chars().collect();
        v.get(self.below(v.len())).copied().unwrap_or('A')
    }
}

const LETTERS: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// A random plate valid under GA 36, and whether it is drawn in two rows
/// when it is a crop.
fn random_plate(r: &mut Rng) -> (Plate, bool) {
    let prov = if r.chance(0.4) {
        '琼'
    } else {
        let others: String = plate_fmt::PROVINCES
            .chars()
            .filter(|&c| c != '琼')
            .collect();
        r.pick(&others)
    };
    let alnum = |r: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| {
                if r.chance(0.75) {
                    r.pick(DIGITS)
                } else {
                    r.pick(LETTERS)
                }
            })
            .collect::<String>()
    };
    let digits = |r: &mut Rng, n: usize| -> String { (0..n).map(|_| r.pick(DIGITS)).collect() };
    let letter = r.pick(LETTERS);
    let roll = r.below(100);
    let (text, colour, two_row) = match roll {
        0..=21 => (
            format!("{prov}{letter}{}", alnum(r, 5)),
            PlateColour::Blue,
            false,
        ),
        22..=43 => (
            format!("{prov}{letter}{}", alnum(r, 5)),
            PlateColour::Yellow,
            false,
        ),
        44..=55 => (
            format!("{prov}{letter}{}", alnum(r, 5)),
            PlateColour::Yellow,
            true,
        ),
        56..=65 => (
            format!("{prov}{letter}{}挂", alnum(r, 4)),
            PlateColour::Yellow,
            true,
        ),
        66..=79 => {
            let df = r.pick("DF");
            let a = alnum(r, 1);
            (
                format!("{prov}{letter}{df}{a}{}", digits(r, 4)),
                PlateColour::Green,
                false,
            )
        }
        80..=89 => {
            let d = digits(r, 5);
            (
                format!("{prov}{letter}{d}{}", r.pick("DF")),
                PlateColour::YellowGreen,
                false,
            )
        }
        90..=94 => (
            format!("粤Z{}{}", alnum(r, 4), r.pick("港澳")),
            PlateColour::Black,
            false,
        ),
        _ => (
            format!("{prov}{letter}{}警", alnum(r, 4)),
            PlateColour::White,
            false,
        ),
    };
    (Plate { text, colour }, two_row)
}

/// A random valid ISO 6346 code.
fn random_code(r: &mut Rng) -> String {
    let owner: String = (0..3)
        .map(|_| r.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        .collect();
    let cat = match r.below(100) {
        0..=93 => 'U',
        94..=96 => 'J',
        _ => 'Z',
    };
    let serial: String = (0..6).map(|_| r.pick(DIGITS)).collect();
    let head = format!("{owner}{cat}{serial}");
    let cd = iso6346::check_digit(&head).unwrap_or(0);
    format!("{head}{cd}")
}

const SIZE_TYPES: [&str; 6] = ["22G1", "42G1", "45G1", "45R1", "22T1", "L5G1"];

/// Door and bumper colours of the crops' surroundings.
/// The cameras' door paints, so the set and the lane paint the same doors.
const DOOR_COLOURS: [[u8; 3]; 7] = crate::devices::camera::render::BOX_COLOURS;
const BUMPER_COLOURS: [[u8; 3]; 5] = [
    [45, 45, 48],
    [170, 30, 30],
    [30, 70, 150],
    [225, 225, 220],
    [90, 90, 95],
];

/// Draws the distortion parameters of a condition; `char_h` scales blur and
/// dirt, `bar` says whether occlusion applies.
fn draw_params(r: &mut Rng, d: Distortion, char_h: f32) -> Params {
    let mut p = Params {
        blur: r.range(0.0, 0.01) * char_h,
        noise: r.range(0.0, 4.99) as u8,
        brightness: r.range(0.9, 1.1),
        angle_deg: r.range(-5.0, 5.0),
        dirt: 0,
        occlusion: 0.0,
        char_h,
    };
    match d {
        Distortion::Clean => {}
        Distortion::Blur => p.blur = r.range(0.03, 0.055) * char_h,
        Distortion::Noise => p.noise = r.range(14.0, 30.99) as u8,
        Distortion::Perspective => p.angle_deg = r.sign() * r.range(12.0, 28.0),
        Distortion::LowLight => {
            p.brightness = r.range(0.2, 0.4);
            p.noise = r.range(3.0, 8.99) as u8;
        }
        Distortion::Dirt => p.dirt = 3 + r.below(5) as u32,
        Distortion::Occlusion => p.occlusion = r.range(0.08, 0.14),
        Distortion::Mixed => {
            p.blur = r.range(0.015, 0.03) * char_h;
            p.noise = r.range(6.0, 14.99) as u8;
            p.angle_deg = r.sign() * r.range(5.0, 15.0);
            p.brightness = r.range(0.5, 0.8);
            p.dirt = 2 + r.below(2) as u32;
        }
    }
    p
}

/// Where the text sits in a patch or frame, for dirt and occlusion.
#[derive(Clone, Copy, Debug)]
struct TextArea {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    /// Character cell size along the reading direction, pixels.
    cell: f32,
    char_h: f32,
    vertical: bool,
}

/// Soft dark blotches over the text area.
fn add_dirt(img: &mut RgbImage, r: &mut Rng, area: TextArea, n: u32, faint: bool) {
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
fn add_bar(img: &mut RgbImage, r: &mut Rng, area: TextArea, frac: f32) {
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
fn add_surface(img: &mut RgbImage, r: &mut Rng, area: TextArea, p: &Params, d: Distortion) {
    if p.dirt > 0 {
        add_dirt(img, r, area, p.dirt, d == Distortion::Mixed);
    }
    if p.occlusion > 0.0 {
        add_bar(img, r, area, p.occlusion);
    }
}

/// Lighting, blur and noise of the parameters.
fn finish(img: RgbImage, p: &Params, noise_seed: u64) -> RgbImage {
    let mut img = render::light_and_blur(img, p.brightness, p.blur);
    render::add_noise(&mut img, p.noise, noise_seed);
    img
}

fn solid(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w.max(1), h.max(1), Rgb(c))
}

/// Places a flat patch, warped by the angle, on a canvas of `bg` with random
/// margins (as a detector's box is never tight), and returns the canvas.
fn place_warped(r: &mut Rng, patch: &RgbImage, bg: &RgbImage, angle: f32) -> RgbImage {
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
fn tile(bg: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (bw, bh) = bg.dimensions();
    RgbImage::from_fn(w.max(1), h.max(1), |x, y| {
        *bg.get_pixel(x % bw.max(1), y % bh.max(1))
    })
}

fn noise_seed(seed: u64, cat: Category, index: usize) -> u64 {
    seed.rotate_left(17) ^ cat.salt() ^ ((index as u64) << 20) ^ 0xA5A5
}

fn plate_label(
    id: String,
    cat: Category,
    img: &RgbImage,
    d: Distortion,
    p: Params,
    plate: &Plate,
    two_row: bool,
) -> Label {
    Label {
        file: format!("{}/{id}.png", cat.short().1),
        id,
        category: cat,
        width: img.width(),
        height: img.height(),
        distortion: d,
        params: p,
        plate: Some(plate.text.clone()),
        colour: Some(plate.colour.as_str().to_string()),
        two_row: Some(two_row),
        view: None,
        code: None,
        layout: None,
        size_type: None,
    }
}

fn code_label(
    id: String,
    cat: Category,
    img: &RgbImage,
    d: Distortion,
    p: Params,
    mark: &ContainerMark,
) -> Label {
    Label {
        file: format!("{}/{id}.png", cat.short().1),
        id,
        category: cat,
        width: img.width(),
        height: img.height(),
        distortion: d,
        params: p,
        plate: None,
        colour: None,
        two_row: None,
        view: None,
        code: Some(mark.code.clone()),
        layout: Some(if mark.vertical {
            CodeLayout::Vertical
        } else {
            CodeLayout::Horizontal
        }),
        size_type: Some(mark.size_type.clone()),
    }
}

/// Sample `index` of `cat` for `seed`.
pub fn sample(seed: u64, cat: Category, index: usize, font: &FontRef<'_>) -> Sample {
    let mut r = Rng::new(seed, cat, index);
    let d = Distortion::ALL[index % Distortion::ALL.len()];
    let id = format!("{}-{index:05}", cat.short().0);
    let ns = noise_seed(seed, cat, index);
    match cat {
        Category::PlateCrop => plate_crop(&mut r, d, id, ns, font),
        Category::CodeCrop => code_crop(&mut r, d, id, ns, font),
        Category::PlateFrame => plate_frame(&mut r, d, id, ns, font),
        Category::CodeFrame => code_frame(&mut r, d, id, ns, font),
    }
}

fn plate_crop(r: &mut Rng, d: Distortion, id: String, ns: u64, font: &FontRef<'_>) -> Sample {
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
fn door_surface(w: u32, h: u32, c: [u8; 3], pitch: f32, phase: f32) -> RgbImage {
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

fn random_mark(r: &mut Rng, vertical: bool) -> ContainerMark {
    ContainerMark {
        code: random_code(r),
        slot: ContainerPosition::Front,
        vertical,
        size_type: SIZE_TYPES[r.below(SIZE_TYPES.len())].to_string(),
    }
}

fn ink_for(c: [u8; 3]) -> [u8; 3] {
    let light = u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]) > 540;
    if light {
        [25, 25, 25]
    } else {
        [240, 240, 235]
    }
}

/// Bounding box `[x0, y0, x1, y1)` of the painted pixels of a mask.
fn ink_box(mask: &RgbImage) -> Option<[u32; 4]> {
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

fn code_crop(r: &mut Rng, d: Distortion, id: String, ns: u64, font: &FontRef<'_>) -> Sample {
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
fn frame_area(bx: [f32; 4], cell: f32, char_h: f32, vertical: bool) -> TextArea {
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

fn osd_text(r: &mut Rng, name: &str) -> String {
    format!(
        "{name} 2025-{:02}-{:02} {:02}:{:02}:{:02}",
        1 + r.below(12),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60)
    )
}

fn plate_frame(r: &mut Rng, d: Distortion, id: String, ns: u64, font: &FontRef<'_>) -> Sample {
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

fn code_frame(r: &mut Rng, d: Distortion, id: String, ns: u64, font: &FontRef<'_>) -> Sample {
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

/// Every sample of the set, in category order, generated lazily.
pub fn samples<'a>(
    seed: u64,
    counts: Counts,
    font: &'a FontRef<'a>,
) -> impl Iterator<Item = Sample> + 'a {
    Category::ALL
        .into_iter()
        .flat_map(move |c| (0..counts.of(c)).map(move |i| sample(seed, c, i, font)))
}

/// Encodes an image as PNG (deterministic for a given image).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::with_capacity(64 * 1024);
    img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))?;
    Ok(out)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Generates the set into `dir` (PNG files in one folder per category, then
/// `labels.json`) and returns the labels.
pub fn write_set(dir: &Path, seed: u64, counts: Counts) -> Result<LabelSet, EvalError> {
    let font = render::font().ok_or(EvalError::NoFont)?;
    for c in Category::ALL {
        let sub = dir.join(c.short().1);
        fs::create_dir_all(&sub).map_err(io_err(&sub))?;
    }
    let mut labels = Vec::new();
    for s in samples(seed, counts, &font) {
        let path = dir.join(&s.label.file);
        let bytes = encode_png(&s.image).map_err(|source| EvalError::Image {
            path: path.clone(),
            source,
        })?;
        fs::write(&path, bytes).map_err(io_err(&path))?;
        labels.push(s.label);
    }
    let set = LabelSet {
        version: LABELS_VERSION,
        seed,
        counts,
        samples: labels,
    };
    let path = dir.join("labels.json");
    let json = serde_json::to_vec_pretty(&set).map_err(|source| EvalError::Json {
        path: path.clone(),
        source,
    })?;
    fs::write(&path, json).map_err(io_err(&path))?;
    Ok(set)
}

/// Reads `dir/labels.json`.
pub fn read_labels(dir: &Path) -> Result<LabelSet, EvalError> {
    let path = dir.join("labels.json");
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    serde_json::from_slice(&bytes).map_err(|source| EvalError::Json { path, source })
}

/// Loads one sample's image from the set folder.
pub fn load_image(dir: &Path, label: &Label) -> Result<RgbImage, EvalError> {
    let path = dir.join(&label.file);
    let img = image::open(&path).map_err(|source| EvalError::Image {
        path: path.clone(),
        source,
    })?;
    Ok(img.into_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ab_glyph::Font;
    use gate_proto::messages::PlateColour as ProtoColour;

    fn small() -> Counts {
        Counts {
            plate_crops: 16,
            code_crops: 16,
            plate_frames: 2,
            code_frames: 2,
        }
    }

    #[test]
    fn same_seed_same_bytes_and_other_seed_other_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        let la = write_set(a.path(), 7, small()).unwrap();
        let lb = write_set(b.path(), 7, small()).unwrap();
        let lc = write_set(c.path(), 8, small()).unwrap();
        assert_eq!(la, lb);
        assert_eq!(la.samples.len(), 36);
        let mut differ = 0;
        for l in &la.samples {
            let x = fs::read(a.path().join(&l.file)).unwrap();
            let y = fs::read(b.path().join(&l.file)).unwrap();
            assert_eq!(x, y, "{} differs between two runs", l.file);
            if fs::read(c.path().join(&l.file)).unwrap() != x {
                differ += 1;
            }
        }
        assert_eq!(differ, la.samples.len(), "another seed, other images");
        assert_eq!(
            fs::read(a.path().join("labels.json")).unwrap(),
            fs::read(b.path().join("labels.json")).unwrap()
        );
        assert_ne!(la.samples, lc.samples);
        assert_eq!(read_labels(a.path()).unwrap(), la);
    }

    #[test]
    fn a_sample_does_not_depend_on_the_other_counts() {
        let f = render::font().unwrap();
        let x = sample(3, Category::CodeCrop, 5, &f);
        let all: Vec<Sample> = samples(3, small(), &f).collect();
        let y = all.iter().find(|s| s.label.id == "cc-00005").unwrap();
        assert_eq!(x.image, y.image);
        assert_eq!(x.label, y.label);
    }

    #[test]
    fn labels_are_valid_plates_and_codes() {
        let f = render::font().unwrap();
        let mut kinds = std::collections::HashSet::new();
        let mut hainan = 0;
        for i in 0..400 {
            let s = sample(11, Category::PlateCrop, i, &f);
            let text = s.label.plate.clone().unwrap();
            let p = plate_fmt::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p.as_str(), text, "labels are normalised");
            kinds.insert(p.kind());
            hainan += usize::from(p.is_hainan());
            let colour = s.label.colour.clone().unwrap();
            assert!(ProtoColour::parse(&colour).is_some(), "{colour}");
            for c in text.chars() {
                assert_ne!(f.glyph_id(c).0, 0, "{c} missing from the font");
            }
        }
        assert!(kinds.len() >= 7, "plate kinds: {kinds:?}");
        assert!((100..=220).contains(&hainan), "Hainan share: {hainan}/400");
        let mut vertical = 0;
        for i in 0..400 {
            let s = sample(11, Category::CodeCrop, i, &f);
            let code = s.label.code.clone().unwrap();
            let parsed = iso6346::parse(&code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(parsed.as_str(), code);
            vertical += usize::from(s.label.layout == Some(CodeLayout::Vertical));
        }
        assert!(
            (60..=180).contains(&vertical),
            "vertical share {vertical}/400"
        );
    }

    #[test]
    fn every_distortion_occurs_and_changes_the_pixels() {
        let f = render::font().unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..8 {
            let s = sample(5, Category::PlateCrop, i, &f);
            seen.insert(s.label.distortion);
            let p = &s.label.params;
            match s.label.distortion {
                Distortion::Blur => assert!(p.blur >= 0.03 * p.char_h),
                Distortion::Noise => assert!(p.noise >= 14),
                Distortion::Perspective => assert!(p.angle_deg.abs() >= 12.0),
                Distortion::LowLight => assert!(p.brightness <= 0.4),
                Distortion::Dirt => assert!(p.dirt >= 3),
                Distortion::Occlusion => assert!(p.occlusion >= 0.08),
                _ => {}
            }
        }
        assert_eq!(seen.len(), 8);
        // Low light really is darker than clean.
        let mean = |img: &RgbImage| {
            img.iter().map(|&v| u64::from(v)).sum::<u64>() / img.len().max(1) as u64
        };
        let clean = sample(5, Category::PlateFrame, 0, &f);
        let dark = sample(5, Category::PlateFrame, 4, &f);
        assert!(mean(&dark.image) * 2 < mean(&clean.image));
        assert_eq!(clean.image.dimensions(), (FRAME_W, FRAME_H));
    }

    #[test]
    fn occlusion_is_one_thin_bar_and_dirt_stays_near_the_text() {
        let area = TextArea {
            x0: 20.0,
            y0: 10.0,
            x1: 180.0,
            y1: 50.0,
            cell: 30.0,
            char_h: 40.0,
            vertical: false,
        };
        let white = solid(200, 60, [255, 255, 255]);
        let mut r = Rng(1);
        let mut img = white.clone();
        add_bar(&mut img, &mut r, area, 0.14);
        let cols: std::collections::BTreeSet<u32> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0 != [255, 255, 255])
            .map(|(x, _, _)| x)
            .collect();
        // 0.14 of a 30 px cell: 4 px wide, one run of columns.
        assert!((4..=5).contains(&cols.len()), "bar columns {cols:?}");
        let (a, b) = (*cols.first().unwrap(), *cols.last().unwrap());
        assert_eq!(b - a + 1, cols.len() as u32, "one bar");
        let mut img = white.clone();
        add_dirt(&mut img, &mut r, area, 5, false);
        let changed: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0 != [255, 255, 255])
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(!changed.is_empty());
        // Radius at most 0.3 char height = 12 px around the text area.
        for (x, y) in &changed {
            assert!((8..=192).contains(x) && *y <= 62, "blotch at {x},{y}");
        }
        assert!(
            changed.len() < 200 * 60 / 2,
            "dirt covers {}",
            changed.len()
        );
    }

    #[test]
    fn crops_have_the_text_and_frames_the_marking() {
        let f = render::font().unwrap();
        for i in 0..8 {
            let s = sample(2, Category::CodeCrop, i, &f);
            let (w, h) = s.image.dimensions();
            // A sheared line has a taller box: only the others are checked.
            if !matches!(
                s.label.distortion,
                Distortion::Perspective | Distortion::Mixed
            ) {
                if s.label.layout == Some(CodeLayout::Vertical) {
                    assert!(h > 3 * w, "vertical crop {w}x{h}");
                } else {
                    assert!(w > 3 * h, "horizontal crop {w}x{h}");
                }
            }
            let p = sample(2, Category::PlateCrop, i, &f);
            let (w, h) = p.image.dimensions();
            assert!((120..=360).contains(&w) && h >= 40, "plate crop {w}x{h}");
        }
    }
}
