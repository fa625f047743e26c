//! `gatectl recognize plate|container FILE...`: the on-board recogniser
//! (`gate-ocr`) on image files, to check a camera's aim or to try the
//! recogniser on one's own photos. Fetches the models on first use.
//!
//! Layer: commissioning tool over `gate_ocr`; needs no agent and no
//! configuration.

use std::path::{Path, PathBuf};

use gate_ocr::{models, CodeRead, Ocr, PlateRead};
use serde::Serialize;

use super::cli::RecognizeKind;
use super::out::Style;
use super::{exit, Ctx, Failure};

/// One file's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileResult {
    pub file: String,
    /// The plate (plate mode; null when none was found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<PlateRead>,
    /// The codes (container mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<CodeRead>>,
    /// Whole recognition time of this file, ms (decoding excluded).
    pub ms: f64,
    /// Why the file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The models as the agent finds them (the named directory, else its
/// places), fetched into the first when none holds them.
fn load(models_dir: Option<&Path>) -> Result<Ocr, Failure> {
    let paths = models::obtain(&models::dirs_for(models_dir), true)
        .map_err(|e| Failure::Failed(e.to_string()))?;
    Ocr::load(&paths).map_err(|e| Failure::Failed(format!("loading the models: {e}")))
}

fn one(ocr: &Ocr, kind: RecognizeKind, file: &Path) -> FileResult {
    let mut r = FileResult {
        file: file.display().to_string(),
        plate: None,
        codes: None,
        ms: 0.0,
        error: None,
    };
    let img = match image::open(file) {
        Ok(i) => i.to_rgb8(),
        Err(e) => {
            r.error = Some(format!("cannot decode: {e}"));
            return r;
        }
    };
    let t0 = std::time::Instant::now();
    let res = match kind {
        RecognizeKind::Plate => ocr.read_plate(&img).map(|p| r.plate = p),
        RecognizeKind::Container => ocr.read_containers(&img).map(|c| r.codes = Some(c)),
    };
    r.ms = t0.elapsed().as_secs_f64() * 1e3;
    if let Err(e) = res {
        r.error = Some(e.to_string());
    }
    r
}

/// Run `gatectl recognize`. Exit 0 when every file was processed (a file
/// with no read, or an invalid read, is a result, not a failure), 1 when a
/// file could not be (not an image, unreadable, a recognition error).
pub(crate) fn run(
    ctx: &Ctx,
    kind: RecognizeKind,
    files: &[PathBuf],
    models_dir: Option<&Path>,
) -> Result<u8, Failure> {
    if files.is_empty() {
        return Err(Failure::Usage("no image file given".into()));
    }
    let t0 = std::time::Instant::now();
    let ocr = load(models_dir)?;
    let load_ms = t0.elapsed().as_millis();
    let results: Vec<FileResult> = files.iter().map(|f| one(&ocr, kind, f)).collect();
    let all_processed = results.iter().all(|r| r.error.is_none());
    let out = &ctx.out;
    if out.json {
        for r in &results {
            out.json(r, None);
        }
    } else {
        let mut rows = Vec::new();
        for r in &results {
            let name = Path::new(&r.file)
                .file_name()
                .map_or_else(|| r.file.clone(), |n| n.to_string_lossy().into_owned());
            let ms = format!("{:.0}", r.ms);
            if let Some(e) = &r.error {
                rows.push(vec![
                    (name, Style::Plain),
                    (format!("error: {e}"), Style::Bad),
                    (String::new(), Style::Plain),
                    (String::new(), Style::Plain),
                    (String::new(), Style::Plain),
                    (ms, Style::Plain),
                ]);
                continue;
            }
            match (&r.plate, &r.codes) {
                (Some(p), _) => rows.push(vec![
                    (name, Style::Plain),
                    (
                        p.text.clone(),
                        if p.valid { Style::Good } else { Style::Warn },
                    ),
                    (p.colour.as_str().to_owned(), Style::Plain),
                    (format!("{:.2}", p.confidence), Style::Plain),
                    (validity(p.valid, p.repaired, &p.raw), Style::Dim),
                    (ms, Style::Plain),
                ]),
                (None, Some(codes)) if !codes.is_empty() => {
                    for c in codes {
                        rows.push(vec![
                            (name.clone(), Style::Plain),
                            (
                                c.text.clone(),
                                if c.check_ok { Style::Good } else { Style::Warn },
                            ),
                            (format!("{:?}", c.layout).to_lowercase(), Style::Plain),
                            (format!("{:.2}", c.confidence), Style::Plain),
                            (validity(c.check_ok, c.repaired, &c.raw), Style::Dim),
                            (ms.clone(), Style::Plain),
                        ]);
                    }
                }
                _ => rows.push(vec![
                    (name, Style::Plain),
                    ("(nothing found)".into(), Style::Bad),
                    (String::new(), Style::Plain),
                    (String::new(), Style::Plain),
                    (String::new(), Style::Plain),
                    (ms, Style::Plain),
                ]),
            }
        }
        let second = match kind {
            RecognizeKind::Plate => "COLOUR",
            RecognizeKind::Container => "LAYOUT",
        };
        out.table(&["FILE", "TEXT", second, "CONF", "CHECK", "MS"], &rows);
        out.line(&out.paint(&format!("models loaded in {load_ms} ms"), Style::Dim));
    }
    Ok(if all_processed {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn validity(valid: bool, repaired: bool, raw: &str) -> String {
    match (valid, repaired) {
        (true, false) => "valid".into(),
        (true, true) => format!("repaired (read {raw})"),
        (false, _) => format!("invalid (read {raw})"),
    }
}
