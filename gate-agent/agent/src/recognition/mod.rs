//! On-board recognition: the agent reads plates and container codes from
//! its cameras' frames itself (cameras with `recognition = "onboard"`).
//!
//! Layer: between the camera drivers and the runtime. It knows JPEG frames,
//! images and reads (gate-ocr's [`PlateRead`] / [`CodeRead`]); it knows
//! nothing about lanes, sequences, decisions, the store or the platform.
//!
//! - [`FrameReader`]: what a recogniser does to one decoded frame;
//!   implemented for [`gate_ocr::Ocr`] (production) and by test doubles.
//! - [`worker::Recogniser`]: the recognition worker(s) (blocking OS
//!   threads, default one) that own the reader, fed through a **bounded**
//!   queue: when it is full the oldest waiting frame is dropped (its caller
//!   gets [`RecogniseError::Dropped`]) and counted. The models are loaded
//!   once, at start, on the worker's thread ([`load_gate_ocr`]: fetched with
//!   pip on a fresh machine); until then, or if that fails, every request is
//!   refused at once ([`RecogniseError::NotReady`]) and the agent runs on.
//! - [`collect`]: one camera's work for one vehicle: grab frames, have them
//!   read, vote over up to N frames, keep the frame that gave the voted read
//!   as evidence.

pub mod collect;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use gate_ocr::{CodeRead, PlateRead};
use image::RgbImage;

pub use collect::{read_vehicle, CollectOptions, Verdict};
pub use worker::{FrameOutcome, RecogniseError, Recogniser, RecogniserState, RecogniserStats};

/// Reads one decoded camera frame. Implementations must be cheap to share
/// (`Arc`) and safe to call from several worker threads.
pub trait FrameReader: Send + Sync {
    /// The plate in a full frame, if any.
    fn plate(&self, frame: &RgbImage) -> Result<Option<PlateRead>, String>;
    /// Every container code in a full frame.
    fn codes(&self, frame: &RgbImage) -> Result<Vec<CodeRead>, String>;
}

impl FrameReader for gate_ocr::Ocr {
    fn plate(&self, frame: &RgbImage) -> Result<Option<PlateRead>, String> {
        self.read_plate(frame).map_err(|e| e.to_string())
    }

    fn codes(&self, frame: &RgbImage) -> Result<Vec<CodeRead>, String> {
        self.read_containers(frame).map_err(|e| e.to_string())
    }
}

/// What a camera looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Plate,
    Codes,
}

/// What one frame gave.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameReads {
    Plate(Option<PlateRead>),
    Codes(Vec<CodeRead>),
}

impl FrameReads {
    /// Whether the frame gave anything.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Plate(p) => p.is_none(),
            Self::Codes(c) => c.is_empty(),
        }
    }
}

/// Why [`load_gate_ocr`] gives no reader.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No directory holds the models (and they could not be fetched).
    #[error(transparent)]
    Obtain(#[from] gate_ocr::models::ObtainError),
    /// The models are there but do not load.
    #[error("loading the models in {}: {source}", .dir.display())]
    Load {
        dir: PathBuf,
        #[source]
        source: gate_ocr::OcrError,
    },
}

/// Loaded models, shared by every lane of the process that uses the same
/// directory (the simulator runs several agents in one process).
static LOADED: Mutex<Vec<(PathBuf, Weak<gate_ocr::Ocr>)>> = Mutex::new(Vec::new());

/// The production reader: the models from the first of `dirs` that holds
/// them verified (when none does and `fetch`: fetched into the first),
/// loaded once. Blocking (pip download, model optimisation): call it on a
/// worker thread.
pub fn load_gate_ocr(dirs: &[PathBuf], fetch: bool) -> Result<Arc<dyn FrameReader>, LoadError> {
    let paths = gate_ocr::models::obtain(dirs, fetch)?;
    let dir = paths
        .det
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut cache = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(_, w)| w.strong_count() > 0);
    if let Some(ocr) = cache
        .iter()
        .find(|(d, _)| *d == dir)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(ocr);
    }
    let ocr = Arc::new(
        gate_ocr::Ocr::load(&paths).map_err(|source| LoadError::Load {
            dir: dir.clone(),
            source,
        })?,
    );
    cache.push((dir, Arc::downgrade(&ocr)));
    Ok(ocr)
}
