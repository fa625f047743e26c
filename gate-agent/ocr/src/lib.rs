//! `gate-ocr`: on-lane recognition of number plates (GA 36) and container
//! codes (ISO 6346) from camera frames, with PaddleOCR's PP-OCRv4 detection
//! and recognition models run in pure Rust by tract.
//!
//! Layer: a library below the agent's drivers. It knows images, models and
//! the identifier formats of `gate-proto`; it knows nothing about lanes,
//! devices, tokio, the store or the platform. Load an [`Ocr`] once and share
//! it by `Arc` (it is `Send + Sync`); every call is synchronous CPU work.

mod column;
mod container;
mod det;
mod engine;
mod error;
mod imgops;
pub mod models;
mod plate;
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
    rec: engine::Rec,
    det: engine::Det,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").finish_non_exhaustive()
    }
}

/// Character-sized blobs a frame needs before the fine detection pass is
/// worth running on it (a code has 11 characters, plus its size/type).
const MIN_CODE_BLOBS: usize = 8;

/// Reads with the frame's total time.
fn finish(mut reads: Vec<CodeRead>, t0: std::time::Instant) -> Vec<CodeRead> {
    let micros = t0.elapsed().as_micros() as u64;
    for r in &mut reads {
        r.micros = micros;
    }
    reads
}

/// A grammatical plate read by colour alone at this confidence or more is
/// taken without running the detector.
const COLOUR_SURE: f32 = 0.8;

/// A frame darker than this (95th percentile of the brightest channel:
/// night, a shadowed lane) is brightened before detection, which does not
/// see faint text. Dim frames above it are left alone: brightening them
/// only amplifies their noise.
const DARK_FRAME: u8 = 110;

fn check_frame(img: &image::RgbImage) -> Result<(), OcrError> {
    let (w, h) = img.dimensions();
    if w < 8 || h < 8 {
        return Err(OcrError::Image(format!("image {w}x{h} too small")));
    }
    Ok(())
}

impl Ocr {
    /// Load and plan both models (a few seconds; do it once).
    pub fn load(paths: &ModelPaths) -> Result<Ocr, OcrError> {
        let t0 = std::time::Instant::now();
        let rec = engine::Rec::load(&paths.rec)?;
        let det = engine::Det::load(&paths.det)?;
        tracing::info!(
            ms = t0.elapsed().as_millis() as u64,
            "recognition models loaded"
        );
        Ok(Ocr { rec, det })
    }

    /// Recognition only, on one text-line crop (any size; resized to height 48).
    pub fn read_line(&self, crop: &image::RgbImage) -> Result<LineRead, OcrError> {
        let t0 = std::time::Instant::now();
        let d = self.rec.read(crop)?;
        Ok(LineRead {
            text: d.text,
            confidence: d.confidence,
            micros: t0.elapsed().as_micros() as u64,
        })
    }

    fn boxes(
        &self,
        frame: &image::RgbImage,
        pass: engine::Pass,
    ) -> Result<Vec<det::TextBox>, OcrError> {
        check_frame(frame)?;
        let map = self.det.run(frame, pass)?;
        Ok(det::boxes(&map, frame.width(), frame.height()))
    }

    /// Full frame: find the plate, read, validate (GA 36) and repair, classify colour.
    ///
    /// Coloured plates are looked for first by colour alone (a few
    /// milliseconds); a confident grammatical read there spares the
    /// detection network. Otherwise (white or black plates, a plate on a
    /// cab of its own colour, a doubtful read) the text detector runs on
    /// the whole frame (half resolution first, the finer size when that
    /// gave no grammatical read) and the best read is kept.
    pub fn read_plate(&self, frame: &image::RgbImage) -> Result<Option<PlateRead>, OcrError> {
        let t0 = std::time::Instant::now();
        check_frame(frame)?;
        // A dark frame (night, a shadowed lane) is brightened first: the
        // detector does not see faint text.
        let lifted = imgops::lift(frame, DARK_FRAME);
        let frame = lifted.as_ref().unwrap_or(frame);
        let mut best: Option<PlateRead> = None;
        for r in plate::colour_candidates(frame) {
            if let Some(p) = plate::read_candidate(&self.rec, frame, r)? {
                if best.as_ref().is_none_or(|b| plate::better(&p, b)) {
                    best = Some(p);
                }
            }
        }
        let sure = best
            .as_ref()
            .is_some_and(|b| b.valid && b.confidence >= COLOUR_SURE);
        if !sure {
            for pass in [engine::Pass::Fast, engine::Pass::Fine] {
                let boxes = self.boxes(frame, pass)?;
                if let Some(p) = plate::read_frame(&self.rec, frame, &boxes, t0)? {
                    if best.as_ref().is_none_or(|b| plate::better(&p, b)) {
                        best = Some(p);
                    }
                }
                if best.as_ref().is_some_and(|b| b.valid) {
                    break;
                }
            }
        }
        Ok(best.map(|mut b| {
            b.micros = t0.elapsed().as_micros() as u64;
            b
        }))
    }

    /// A plate crop (already located): read, validate, colour.
    pub fn read_plate_crop(&self, crop: &image::RgbImage) -> Result<Option<PlateRead>, OcrError> {
        plate::read_crop(&self.rec, crop, None)
    }

    /// Full frame: every container code (horizontal and vertical), check
    /// digit validated/repaired. Detection runs at half resolution; when
    /// that finds nothing shaped like a code, columns of characters are
    /// looked for by their ink, and a column that does not read sends the
    /// frame to detection at the finer size.
    pub fn read_containers(&self, frame: &image::RgbImage) -> Result<Vec<CodeRead>, OcrError> {
        let t0 = std::time::Instant::now();
        let lifted = imgops::lift(frame, DARK_FRAME);
        let frame = lifted.as_ref().unwrap_or(frame);
        let boxes = self.boxes(frame, engine::Pass::Fast)?;
        let mut reads = container::read_frame(&self.rec, frame, &boxes)?;
        let shaped = |reads: &[CodeRead]| {
            reads
                .iter()
                .any(|r| r.check_ok || (10..=12).contains(&r.text.len()))
        };
        if shaped(&reads) {
            return Ok(finish(reads, t0));
        }
        // Nothing like a code at half resolution: look for columns of
        // single characters by their ink (the detector often misses them).
        let ink = column::find(frame);
        for c in &ink.columns {
            let d = self.rec.read(&c.line)?;
            if let Some(mut r) =
                container::code_read(d.text, d.confidence, Layout::Vertical, Some(c.rect), t0)
            {
                for below in c.below.iter().flatten() {
                    r = container::with_boxed_digit(&self.rec, below, 0, r, t0)?;
                }
                if r.check_ok {
                    reads.retain(|o| o.check_ok);
                    reads.push(r);
                }
            }
        }
        // Characters that did not read as a code: detection at the finer
        // size, which sees small and faint text better. A frame with
        // hardly any character-sized ink (an empty lane) does not pay for it.
        let inky = !ink.columns.is_empty() || ink.blobs >= MIN_CODE_BLOBS;
        if inky && !reads.iter().any(|r| r.check_ok) {
            let boxes = self.boxes(frame, engine::Pass::Fine)?;
            reads = container::read_frame(&self.rec, frame, &boxes)?;
        }
        Ok(finish(reads, t0))
    }

    /// A code crop (already located), layout given.
    pub fn read_container_crop(
        &self,
        crop: &image::RgbImage,
        layout: Layout,
    ) -> Result<Option<CodeRead>, OcrError> {
        container::read_crop(&self.rec, crop, layout, None)
    }
}

#[cfg(test)]
mod send_sync {
    #[test]
    fn ocr_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Ocr>();
    }
}
