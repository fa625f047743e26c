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

mod draw;
use draw::*;

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
mod tests;
