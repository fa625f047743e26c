//! `gate-ocr`: on-lane recognition of number plates (GA 36) and container
//! codes (ISO 6346) from camera frames, with PaddleOCR's PP-OCRv4 detection
//! and recognition models run in pure Rust by tract.
//!
//! Layer: a library below the agent's drivers. It knows images, models and
//! the identifier formats of `gate-proto`; it knows nothing about lanes,
//! devices, tokio, the store or the platform. Load an [`Ocr`] once and share
//! it by `Arc` (it is `Send + Sync`); every call is synchronous CPU work.

mod error;
pub mod models;
pub mod vote;

use serde::Serialize;

pub use error::OcrError;
pub use gate_proto::messages::PlateColour;
pub use models::ModelPaths;

/// One text line read by the recognition model alone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineRead {
    pub text: String,
    /// Mean of the per-character maximum probabilities, 0..1.
    pub confidence: f32,
    /// Time taken, microseconds.
    pub micros: u64,
}

/// An axis-aligned rectangle in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A plate read from a frame or a crop.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateRead {
    /// Normalised plate, e.g. `琼A12345` (after repair if any).
    pub text: String,
    /// What the model read.
    pub raw: String,
    pub colour: PlateColour,
    /// 0..1.
    pub confidence: f32,
    /// Passes the GA 36 grammar.
    pub valid: bool,
    pub repaired: bool,
    pub bbox: Option<Rect>,
    /// Time taken, microseconds.
    pub micros: u64,
}

/// How a container code is painted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Owner, serial and check digit on one or two horizontal lines.
    Horizontal,
    /// One character per row.
    Vertical,
}

/// A container code read from a frame or a crop.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeRead {
    /// 11 characters, e.g. `CSQU3054383` (after repair if any).
    pub text: String,
    /// What the model read.
    pub raw: String,
    /// 0..1.
    pub confidence: f32,
    pub layout: Layout,
    /// The ISO 6346 check digit matches.
    pub check_ok: bool,
    pub repaired: bool,
    pub bbox: Option<Rect>,
    /// Time taken, microseconds.
    pub micros: u64,
}

/// The recogniser: the detection and recognition plans, optimised once at
/// load. `Send + Sync`; share it by `Arc`.
pub struct Ocr {
    _paths: ModelPaths,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").finish_non_exhaustive()
    }
}

impl Ocr {
    /// Load and plan both models.
    pub fn load(paths: &ModelPaths) -> Result<Ocr, OcrError> {
        Ok(Ocr {
            _paths: paths.clone(),
        })
    }

    /// Recognition only, on one text-line crop (any size; resized to height 48).
    pub fn read_line(&self, _crop: &image::RgbImage) -> Result<LineRead, OcrError> {
        Err(OcrError::NotReady("read_line".into()))
    }

    /// Full frame: find the plate, read, validate (GA 36) and repair, classify colour.
    pub fn read_plate(&self, _frame: &image::RgbImage) -> Result<Option<PlateRead>, OcrError> {
        Err(OcrError::NotReady("read_plate".into()))
    }

    /// A plate crop (already located): read, validate, colour.
    pub fn read_plate_crop(&self, _crop: &image::RgbImage) -> Result<Option<PlateRead>, OcrError> {
        Err(OcrError::NotReady("read_plate_crop".into()))
    }

    /// Full frame: every container code (horizontal and vertical), check digit validated/repaired.
    pub fn read_containers(&self, _frame: &image::RgbImage) -> Result<Vec<CodeRead>, OcrError> {
        Err(OcrError::NotReady("read_containers".into()))
    }

    /// A code crop (already located), layout given.
    pub fn read_container_crop(
        &self,
        _crop: &image::RgbImage,
        _layout: Layout,
    ) -> Result<Option<CodeRead>, OcrError> {
        Err(OcrError::NotReady("read_container_crop".into()))
    }
}
