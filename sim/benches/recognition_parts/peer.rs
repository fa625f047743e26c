//! The peer: RapidOCR (onnxruntime) in its own venv, run by ocr_peer.py on
//! the same files, and its lines scored by the plate and code grammars.

use super::*;

/// Makes the peer's venv when missing; returns its python.
pub(super) fn peer_python() -> Result<PathBuf> {
    let venv = target_dir().join("ocr-peer-venv");
    let py = venv.join("bin/python");
    let probe = format!(
        "import rapidocr_onnxruntime, PIL, numpy; assert PIL.__version__ == '{PILLOW_VERSION}'"
    );
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", &probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        return Ok(py);
    }
    eprintln!(
        "peer: creating {} with {PEER_WHEEL} {PILLOW_WHEEL} (once)",
        venv.display()
    );
    if !py.exists() {
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 -m venv (python3 with the venv module is needed for the peer)")?;
        if !st.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    let st = Command::new(&py)
        .args(["-m", "pip", "install", "-q", PEER_WHEEL, PILLOW_WHEEL])
        .status()
        .context("pip install")?;
    if !st.success() {
        bail!(
            "pip install {PEER_WHEEL} {PILLOW_WHEEL} into {} failed",
            venv.display()
        );
    }
    Ok(py)
}

#[derive(Debug, Default)]
pub(super) struct PeerRead {
    pub(super) text: String,
    pub(super) ms: f64,
    /// (text, score) per detected line, in RapidOCR's reading order.
    pub(super) lines: Vec<(String, f64)>,
    pub(super) error: Option<String>,
}

pub(super) struct PeerRun {
    pub(super) header: serde_json::Value,
    pub(super) reads: BTreeMap<String, PeerRead>,
    pub(super) cpu_per_wall: f64,
    /// Peak RSS of the peer's process over its timed loop, MiB.
    pub(super) peak_rss_mib: f64,
}

pub(super) fn run_peer(dir: &Path) -> Result<PeerRun> {
    let py = peer_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ocr_peer.py");
    let mut child = Command::new(&py)
        .arg(&script)
        .arg("--set")
        .arg(dir)
        .arg("--warmup")
        .arg(WARMUP.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{} {}", py.display(), script.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("peer: no stdout"))?;
    let mut header = serde_json::Value::Null;
    let mut reads = BTreeMap::new();
    let mut cpu_per_wall = f64::NAN;
    let mut peak_rss_mib = f64::NAN;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("peer output")?;
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v.get("peer").is_some() {
            header = v;
            continue;
        }
        if let Some(c) = v.get("cpu_per_wall").and_then(|c| c.as_f64()) {
            cpu_per_wall = c;
            if let Some(k) = v.get("peak_rss_kib").and_then(|k| k.as_f64()) {
                peak_rss_mib = k / 1024.0;
            }
            continue;
        }
        let Some(id) = v.get("id").and_then(|i| i.as_str()) else {
            continue;
        };
        let lines = v
            .get("lines")
            .and_then(|l| l.as_array())
            .map(|a| {
                a.iter()
                    .map(|l| {
                        (
                            l.get("text")
                                .and_then(|t| t.as_str())
                                .unwrap_or_default()
                                .to_string(),
                            l.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        reads.insert(
            id.to_string(),
            PeerRead {
                text: v
                    .get("text")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_string(),
                ms: v.get("ms").and_then(|m| m.as_f64()).unwrap_or(f64::NAN),
                lines,
                error: v.get("error").and_then(|e| e.as_str()).map(str::to_string),
            },
        );
    }
    let st = child.wait().context("peer")?;
    if !st.success() {
        bail!("the peer exited with {st}");
    }
    Ok(PeerRun {
        header,
        reads,
        cpu_per_wall,
        peak_rss_mib,
    })
}

/// The plate a generic OCR's lines stand for, by our grammar: every line and
/// run of up to 3 consecutive lines; valid-as-read first, then uniquely
/// repaired; best mean score.
pub(super) fn peer_plate_by_grammar(lines: &[(String, f64)]) -> Option<String> {
    let mut best: Option<(u8, f64, String)> = None;
    for i in 0..lines.len() {
        for j in i + 1..=(i + 3).min(lines.len()) {
            let text: String = lines[i..j].iter().map(|l| l.0.as_str()).collect();
            let score = lines[i..j].iter().map(|l| l.1).sum::<f64>() / (j - i) as f64;
            let r = plate_fmt::repair(&text);
            let Some(c) = r.unique() else { continue };
            let rank = if c.repaired() { 1 } else { 2 };
            let cand = (rank, score, c.plate.as_str().to_string());
            if best.as_ref().is_none_or(|b| (cand.0, cand.1) > (b.0, b.1)) {
                best = Some(cand);
            }
        }
    }
    best.map(|b| b.2)
}

/// Every code the lines may stand for by our grammar (runs of up to 12 lines).
pub(super) fn peer_codes_by_grammar(lines: &[(String, f64)]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..lines.len() {
        for j in i + 1..=(i + 12).min(lines.len()) {
            let text: String = lines[i..j].iter().map(|l| l.0.as_str()).collect();
            let n = iso6346::normalise(&text);
            if n.chars().count() > 14 {
                break;
            }
            if let Some(c) = iso6346::repair(&n).code() {
                out.push(c.as_str().to_string());
            }
        }
    }
    out
}

pub(super) fn score_peer(category: Category, truth: &str, p: &PeerRead) -> Outcome {
    let mut o = Outcome {
        ms: p.ms,
        error: p.error.clone(),
        ..Outcome::default()
    };
    let plate = category.is_plate();
    let norm = |s: &str| {
        if plate {
            plate_fmt::normalise(s)
        } else {
            iso6346::normalise(s)
        }
    };
    o.raw = norm(&p.text);
    if category.is_frame() {
        o.exact_raw = p.lines.iter().any(|(t, _)| norm(t) == truth);
        if plate {
            o.text = peer_plate_by_grammar(&p.lines).unwrap_or_default();
            o.exact = o.text == truth;
            // The grammar's pick is a valid plate: a wrong one is confident.
            o.wrong_valid = usize::from(!o.text.is_empty() && !o.exact);
        } else {
            let codes = peer_codes_by_grammar(&p.lines);
            o.exact = codes.iter().any(|c| c == truth);
            o.false_codes = codes.iter().filter(|c| *c != truth).count();
            o.wrong_valid = o.false_codes;
            o.text = codes.join(" ");
        }
    } else {
        o.exact_raw = o.raw == truth;
        o.text = if plate {
            plate_fmt::repair(&o.raw)
                .unique()
                .map(|c| c.plate.as_str().to_string())
                .unwrap_or_default()
        } else {
            iso6346::repair(&o.raw)
                .code()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default()
        };
        o.exact = o.text == truth;
    }
    o
}
