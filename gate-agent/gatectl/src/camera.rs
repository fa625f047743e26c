//! `gatectl camera list|capture`: cameras without the agent.
//!
//! Layer: commissioning tool. `list` shows the cameras of `--config` (and,
//! with the `usb-camera` feature, the USB cameras the system sees);
//! `capture` grabs one frame from a URL through the agent's own camera
//! driver (same timeouts, size bound and JPEG check as on the lane).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cli::CameraCmd;
use super::out::{or_dash, Style};
use super::{exit, render, show, Ctx, Failure};
use gate_config::devices::{CameraConfig, CameraSource, RecognitionMode};
use gate_drivers::camera::spawn_camera;
use gate_drivers::HealthRegistry;

/// A JPEG written to a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub camera: String,
    pub file: String,
    pub bytes: usize,
    pub width: Option<u16>,
    pub height: Option<u16>,
    pub at: Option<String>,
}

impl Written {
    pub fn new(camera: &str, file: &Path, jpeg: &[u8], at: Option<String>) -> Self {
        let dims = jpeg_size(jpeg);
        Self {
            camera: camera.to_owned(),
            file: file.display().to_string(),
            bytes: jpeg.len(),
            width: dims.map(|d| d.0),
            height: dims.map(|d| d.1),
            at,
        }
    }
}

/// Width and height from a JPEG's first SOFn marker (never panics).
pub fn jpeg_size(b: &[u8]) -> Option<(u16, u16)> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let s = b.get(i + 4..i + 9)?;
            return Some((
                u16::from_be_bytes([s[3], s[4]]),
                u16::from_be_bytes([s[1], s[2]]),
            ));
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraRow {
    pub name: String,
    /// snapshot, mjpeg, usb, recognition-only; `usb-device` for enumerated ones.
    pub source: String,
    pub address: Option<String>,
    pub recognition: Option<String>,
    pub role: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraList {
    pub cameras: Vec<CameraRow>,
    pub usb_enumerated: bool,
    pub note: Option<String>,
}

pub(super) fn run(ctx: &Ctx, c: CameraCmd) -> Result<u8, Failure> {
    match c {
        CameraCmd::List => list(ctx),
        CameraCmd::Capture {
            url,
            mjpeg,
            output,
            timeout_ms,
        } => capture(ctx, &url, mjpeg, &output, timeout_ms),
    }
}

fn list(ctx: &Ctx) -> Result<u8, Failure> {
    let mut l = CameraList::default();
    match &ctx.config {
        Some(cfg) => {
            let roles = cfg.roles.assigned();
            for c in &cfg.devices.cameras {
                let (source, address) = match &c.source {
                    Some(CameraSource::Snapshot(u)) => ("snapshot", Some(u.clone())),
                    Some(CameraSource::Mjpeg(u)) => ("mjpeg", Some(u.clone())),
                    Some(CameraSource::Usb(u)) => (
                        "usb",
                        Some(format!(
                            "name~{:?} serial~{:?} {}x{}@{}",
                            u.name.as_deref().unwrap_or(""),
                            u.serial.as_deref().unwrap_or(""),
                            u.width,
                            u.height,
                            u.fps
                        )),
                    ),
                    None => ("recognition-only", None),
                };
                let role: Vec<&str> = roles
                    .iter()
                    .filter(|(_, n)| *n == c.name)
                    .map(|(d, _)| d.as_str())
                    .collect();
                l.cameras.push(CameraRow {
                    name: c.name.clone(),
                    source: source.into(),
                    address,
                    // The camera's recognition URL, or who else reads it.
                    recognition: match c.recognition_mode() {
                        RecognitionMode::Camera => c.recognition_url.clone(),
                        m => Some(m.as_str().to_owned()),
                    },
                    role: if role.is_empty() {
                        None
                    } else {
                        Some(role.join(","))
                    },
                });
            }
        }
        None => l.note = Some("no --config: configured cameras unknown".into()),
    }
    usb(&mut l);
    show(ctx, &l, None, |o, l| {
        if let Some(n) = &l.note {
            o.notice(n);
        }
        if l.cameras.is_empty() {
            o.line("no cameras");
            return;
        }
        let rows: Vec<Vec<(String, Style)>> = l
            .cameras
            .iter()
            .map(|c| {
                vec![
                    (c.name.clone(), Style::Bold),
                    (c.source.clone(), Style::Plain),
                    (or_dash(c.role.as_deref()), Style::Plain),
                    (or_dash(c.address.as_deref()), Style::Plain),
                    (or_dash(c.recognition.as_deref()), Style::Dim),
                ]
            })
            .collect();
        o.table(
            &["CAMERA", "SOURCE", "ROLE", "ADDRESS", "RECOGNITION"],
            &rows,
        );
    });
    Ok(exit::OK)
}

#[cfg(feature = "usb-camera")]
fn usb(l: &mut CameraList) {
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cams) => {
            l.usb_enumerated = true;
            for c in cams {
                l.cameras.push(CameraRow {
                    name: c.human_name(),
                    source: "usb-device".into(),
                    address: Some(c.misc()),
                    recognition: None,
                    role: None,
                });
            }
        }
        Err(e) => {
            let n = l.note.take().map(|n| format!("{n}; ")).unwrap_or_default();
            l.note = Some(format!("{n}USB enumeration failed: {e}"));
        }
    }
}

#[cfg(not(feature = "usb-camera"))]
fn usb(l: &mut CameraList) {
    let n = l.note.take().map(|n| format!("{n}; ")).unwrap_or_default();
    l.note = Some(format!(
        "{n}USB cameras not enumerated (gatectl built without the usb-camera feature)"
    ));
}

fn capture(
    ctx: &Ctx,
    url: &str,
    mjpeg: bool,
    output: &Path,
    timeout_ms: u64,
) -> Result<u8, Failure> {
    let mut cfg = if mjpeg {
        CameraConfig::mjpeg("capture", url)
    } else {
        CameraConfig::snapshot("capture", url)
    };
    cfg.timeout_ms = timeout_ms.clamp(10, 600_000);
    cfg.max_frame_age_ms = cfg.timeout_ms;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("async runtime: {e}")))?;
    let jpeg = rt.block_on(async {
        let cam = spawn_camera(&cfg, &HealthRegistry::new())
            .map_err(|e| Failure::Usage(e.to_string()))?;
        let src = cam
            .source
            .ok_or_else(|| Failure::Usage("no image source".into()))?;
        let limit = Duration::from_millis(cfg.timeout_ms + 500);
        match tokio::time::timeout(limit, src.grab()).await {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(Failure::Failed(format!("{url}: {e}"))),
            Err(_) => Err(Failure::Failed(format!(
                "{url}: no frame within {} ms",
                cfg.timeout_ms
            ))),
        }
    })?;
    super::write_file(output, &jpeg.jpeg)?;
    let at = jpeg
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| gate_proto::time::format_unix_ms(i64::try_from(d.as_millis()).unwrap_or(0)))
        .ok();
    let w = Written::new(url, output, &jpeg.jpeg, at);
    show(ctx, &w, None, render::written);
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_dimensions() {
        // SOI, APP0 (len 16), SOF0 (len 17: precision 8, height 0x01E0=480, width 0x0280=640).
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        j.extend_from_slice(&[0u8; 14]);
        j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03]);
        j.extend_from_slice(&[0u8; 9]);
        assert_eq!(jpeg_size(&j), Some((640, 480)));
        assert_eq!(jpeg_size(&j[..25]), None, "truncated");
        assert_eq!(jpeg_size(b"\xFF\xD8"), None);
        assert_eq!(jpeg_size(b"GIF89a"), None);
        // Garbage after SOI never panics.
        for n in 0..64u8 {
            let g: Vec<u8> = [0xFF, 0xD8]
                .iter()
                .copied()
                .chain((0..n).map(|i| i.wrapping_mul(37)))
                .collect();
            let _ = jpeg_size(&g);
        }
    }
}
