//! The PP-OCRv4 model files: where they live, fetching them reproducibly
//! (the pinned `rapidocr_onnxruntime` wheel from PyPI through pip), sha256
//! verification and atomic extraction.
//!
//! Layer: file system and one child process (`python3 -m pip download`);
//! knows nothing about inference, images or lanes.
//!
//! The models are PaddleOCR's PP-OCRv4 Chinese detection and recognition
//! models (Apache-2.0) as converted to ONNX and shipped by RapidOCR in the
//! wheel `rapidocr_onnxruntime` 1.4.4 (Apache-2.0); see the crate README.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::OcrError;

/// The wheel and its files, pinned.
pub const WHEEL: &str = "rapidocr_onnxruntime==1.4.4";
/// The wheel's file name on PyPI.
pub const WHEEL_FILE: &str = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl";
/// sha256 of [`WHEEL_FILE`].
pub const WHEEL_SHA256: &str = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf";
/// The detection model (DBNet): file name in the models directory.
pub const DET_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
/// sha256 of [`DET_FILE`].
pub const DET_SHA256: &str = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9";
/// The recognition model (SVTR-LCNet, CTC): file name in the models directory.
pub const REC_FILE: &str = "ch_PP-OCRv4_rec_infer.onnx";
/// sha256 of [`REC_FILE`].
pub const REC_SHA256: &str = "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b";
/// Where the models sit inside the wheel.
const MEMBER_DIR: &str = "rapidocr_onnxruntime/models/";
/// Largest model member accepted from the archive (bounds the extraction).
const MAX_MEMBER: u64 = 64 << 20;

/// The two model files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    pub det: PathBuf,
    pub rec: PathBuf,
}

/// Where the `gate-agent-models` package installs the models.
pub const SYSTEM_DIR: &str = "/usr/share/gate-agent/models";

/// `$GATE_OCR_MODELS`, else `$XDG_CACHE_HOME/gate-agent/models`, else
/// `~/.cache/gate-agent/models`: where models are fetched or installed to
/// when no directory is named.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GATE_OCR_MODELS").filter(|s| !s.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(d).join("gate-agent").join("models");
    }
    let home = std::env::var_os("HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("gate-agent").join("models")
}

/// Where models are looked for when no directory is configured, in order:
/// [`default_dir`] (where they are fetched or installed to), then the
/// packaged [`SYSTEM_DIR`].
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![default_dir()];
    let system = PathBuf::from(SYSTEM_DIR);
    if !dirs.contains(&system) {
        dirs.push(system);
    }
    dirs
}

/// Where to look for the models: a configured directory only, else
/// [`search_dirs`].
pub fn dirs_for(configured: Option<&Path>) -> Vec<PathBuf> {
    match configured {
        Some(d) => vec![d.to_path_buf()],
        None => search_dirs(),
    }
}

/// The models from the first of `dirs` that holds them verified; when none
/// does, fetched into the first (`fetch`), else an error naming every
/// place and why it was not used.
pub fn obtain(dirs: &[PathBuf], fetch: bool) -> Result<ModelPaths, ObtainError> {
    let first = dirs.first().ok_or(ObtainError::NoDirectory)?;
    match locate(dirs) {
        Ok(p) => Ok(p),
        Err(_) if fetch => ensure(first).map_err(|source| ObtainError::Fetch {
            dir: first.clone(),
            source,
        }),
        Err(tried) => Err(ObtainError::NotInstalled { tried }),
    }
}

/// Why [`obtain`] gives no models.
#[derive(Debug, thiserror::Error)]
pub enum ObtainError {
    /// No directory to look in.
    #[error("no models directory")]
    NoDirectory,
    /// Fetching into the first directory failed.
    #[error("models in {}: {source}", .dir.display())]
    Fetch {
        dir: PathBuf,
        #[source]
        source: OcrError,
    },
    /// No directory holds them verified, and fetching is off: every
    /// directory with why it was not used.
    #[error(
        "no verified models ({}); install them: the gate-agent-models package, or `gate-agent models install FILE|DIR`",
        tried_list(.tried)
    )]
    NotInstalled { tried: Vec<(PathBuf, OcrError)> },
}

fn tried_list(tried: &[(PathBuf, OcrError)]) -> String {
    tried
        .iter()
        .map(|(d, e)| format!("{}: {e}", d.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first of `dirs` that holds both models, verified; else every
/// directory with why it was not used.
pub fn locate(dirs: &[PathBuf]) -> Result<ModelPaths, Vec<(PathBuf, OcrError)>> {
    let mut why = Vec::new();
    for d in dirs {
        match find(d) {
            Ok(p) => return Ok(p),
            Err(e) => why.push((d.clone(), e)),
        }
    }
    Err(why)
}

/// Install the models into `dir` from `from`: the pinned wheel (a file,
/// sha256-checked, the two models extracted) or a directory holding the
/// two model files (each sha256-checked, copied). Atomic per file (a
/// temporary name, then a rename); what was there already and verifies is
/// kept. No network.
pub fn install(from: &Path, dir: &Path) -> Result<ModelPaths, OcrError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let tmp = dir.join(format!(".install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let result = if from.is_dir() {
        copy_models(from, dir, &tmp)
    } else {
        extract_wheel(from, dir, &tmp)
    };
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    find(dir)
}

fn copy_models(from: &Path, dir: &Path, tmp: &Path) -> Result<(), OcrError> {
    for (name, sum) in [(DET_FILE, DET_SHA256), (REC_FILE, REC_SHA256)] {
        let src = from.join(name);
        verify(&src, sum)?;
        let part = tmp.join(name);
        std::fs::copy(&src, &part).map_err(|e| io(&part, e))?;
        std::fs::File::open(&part)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&part, e))?;
        verify(&part, sum)?;
        let dest = dir.join(name);
        std::fs::rename(&part, &dest).map_err(|e| io(&dest, e))?;
        tracing::info!(path = %dest.display(), "model installed and verified");
    }
    Ok(())
}

/// One fetch at a time in this process (tests call `ensure` in parallel).
static FETCH: Mutex<()> = Mutex::new(());

/// Present and sha256-verified -> paths; else fetch the wheel with
/// `python3 -m pip download --no-deps`, check its sha256, extract the two
/// `.onnx`, check theirs.
///
/// `$GATE_OCR_WHEEL` may name a local copy of the wheel (checked against the
/// same sha256) for machines without PyPI; `$GATE_OCR_PYTHON` overrides
/// `python3`.
pub fn ensure(dir: &Path) -> Result<ModelPaths, OcrError> {
    if let Ok(p) = find(dir) {
        return Ok(p);
    }
    let _one = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    // Another thread may have fetched while this one waited.
    if let Ok(p) = find(dir) {
        return Ok(p);
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let tmp = dir.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let result = fetch_into(dir, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    find(dir)
}

/// Only look, never fetch: both files present with their pinned sha256.
pub fn find(dir: &Path) -> Result<ModelPaths, OcrError> {
    let paths = ModelPaths {
        det: dir.join(DET_FILE),
        rec: dir.join(REC_FILE),
    };
    for (p, sum) in [(&paths.det, DET_SHA256), (&paths.rec, REC_SHA256)] {
        if !p.is_file() {
            return Err(OcrError::Missing(p.clone()));
        }
        verify(p, sum)?;
    }
    Ok(paths)
}

/// sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, OcrError> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn verify(path: &Path, expected: &str) -> Result<(), OcrError> {
    let found = sha256_file(path)?;
    if found == expected {
        Ok(())
    } else {
        Err(OcrError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found,
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn io(path: &Path, source: std::io::Error) -> OcrError {
    OcrError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn fetch_into(dir: &Path, tmp: &Path) -> Result<(), OcrError> {
    let wheel = match std::env::var_os("GATE_OCR_WHEEL").filter(|s| !s.is_empty()) {
        Some(w) => PathBuf::from(w),
        None => pip_download(tmp)?,
    };
    extract_wheel(&wheel, dir, tmp)
}

/// Check the wheel's sha256 and extract the two models from it.
fn extract_wheel(wheel: &Path, dir: &Path, tmp: &Path) -> Result<(), OcrError> {
    let wheel = wheel.to_path_buf();
    verify(&wheel, WHEEL_SHA256)?;
    let f = std::fs::File::open(&wheel).map_err(|e| io(&wheel, e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| OcrError::Archive {
        path: wheel.clone(),
        msg: e.to_string(),
    })?;
    for (name, sum) in [(DET_FILE, DET_SHA256), (REC_FILE, REC_SHA256)] {
        let member = format!("{MEMBER_DIR}{name}");
        let archive_err = |msg: String| OcrError::Archive {
            path: wheel.clone(),
            msg: format!("{member}: {msg}"),
        };
        let mut entry = zip
            .by_name(&member)
            .map_err(|e| archive_err(e.to_string()))?;
        if entry.size() > MAX_MEMBER {
            return Err(archive_err(format!("{} bytes, too large", entry.size())));
        }
        let part = tmp.join(name);
        let mut out = std::fs::File::create(&part).map_err(|e| io(&part, e))?;
        std::io::copy(&mut (&mut entry).take(MAX_MEMBER), &mut out).map_err(|e| io(&part, e))?;
        out.sync_all().map_err(|e| io(&part, e))?;
        drop(out);
        verify(&part, sum)?;
        let dest = dir.join(name);
        std::fs::rename(&part, &dest).map_err(|e| io(&dest, e))?;
        tracing::info!(path = %dest.display(), "model extracted and verified");
    }
    Ok(())
}

fn pip_download(tmp: &Path) -> Result<PathBuf, OcrError> {
    let python = std::env::var("GATE_OCR_PYTHON").unwrap_or_else(|_| "python3".into());
    tracing::warn!(
        wheel = WHEEL,
        "fetching the recognition models with pip from the Python package index: a developer \
         convenience; a lane computer gets them from the gate-agent-models package or \
         `gate-agent models install FILE|DIR` (README, \"Recognition models\")"
    );
    let started = std::time::Instant::now();
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--only-binary=:all:",
        ])
        .arg("--disable-pip-version-check")
        .arg("-d")
        .arg(tmp)
        .arg(WHEEL)
        .output()
        .map_err(|e| OcrError::Fetch(format!("cannot run `{python} -m pip`: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(OcrError::Fetch(format!(
            "`{python} -m pip download {WHEEL}` failed ({}): {tail}",
            out.status
        )));
    }
    let wheel = tmp.join(WHEEL_FILE);
    if wheel.is_file() {
        let bytes = std::fs::metadata(&wheel).map(|m| m.len()).unwrap_or(0);
        tracing::info!(
            bytes,
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            "models wheel downloaded"
        );
        Ok(wheel)
    } else {
        Err(OcrError::Fetch(format!(
            "pip did not leave {WHEEL_FILE} in {}",
            tmp.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_refuses_what_does_not_verify_and_leaves_nothing() {
        let base = std::env::temp_dir().join(format!("gate-ocr-install-{}", std::process::id()));
        let (src, dest) = (base.join("src"), base.join("dest"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(DET_FILE), b"not a model").unwrap();
        std::fs::write(src.join(REC_FILE), b"not a model").unwrap();
        assert!(matches!(
            install(&src, &dest),
            Err(OcrError::Checksum { .. })
        ));
        let wheel = base.join(WHEEL_FILE);
        std::fs::write(&wheel, b"not a wheel").unwrap();
        assert!(matches!(
            install(&wheel, &dest),
            Err(OcrError::Checksum { .. })
        ));
        assert!(matches!(
            install(&base.join("absent.whl"), &dest),
            Err(OcrError::Io { .. })
        ));
        let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
        assert!(
            left.is_empty(),
            "nothing installed, no temporary left: {left:?}"
        );
        assert!(locate(std::slice::from_ref(&dest)).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn find_refuses_a_missing_or_altered_model() {
        let dir = std::env::temp_dir().join(format!("gate-ocr-find-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(find(&dir), Err(OcrError::Missing(_))));
        std::fs::write(dir.join(DET_FILE), b"not a model").unwrap();
        std::fs::write(dir.join(REC_FILE), b"not a model").unwrap();
        match find(&dir) {
            Err(OcrError::Checksum {
                expected, found, ..
            }) => {
                assert_eq!(expected, DET_SHA256);
                assert_ne!(found, expected);
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
