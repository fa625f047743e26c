//! USB (UVC) cameras through nokhwa (feature `usb-camera`).
//!
//! Layer: device driver. nokhwa's `Camera` is not `Send`, so each USB
//! camera lives on its own OS thread, which owns it from open to drop and
//! hands frames to async code through a `watch` channel. The thread finds the
//! camera by a substring of its name or of its serial/bus string (never by
//! index: indexes move when devices are replugged), reopens it after any
//! error (replug) with backoff, and ends when every receiver is dropped.
//! MJPEG frames are kept as the camera encoded them; YUYV, RGB and grey
//! frames are encoded to JPEG here.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{is_jpeg, CameraError, Frame, LatestFrame};
use crate::backoff::Backoff;
use crate::config::{CameraConfig, UsbCameraConfig};
use crate::error::{ErrorClass, SpawnError};
use crate::health::HealthCell;
use crate::restart::{restart_channel, RestartError, RestartRequests};

/// A USB camera: starts the dedicated thread that reads it and keeps the
/// latest frame.
pub fn spawn_usb(
    cfg: &CameraConfig,
    usb: &UsbCameraConfig,
    health: HealthCell,
) -> Result<LatestFrame, SpawnError> {
    let name: Arc<str> = cfg.name.as_str().into();
    let (tx, rx) = watch::channel(None);
    let (restarter, restarts) = restart_channel();
    let thread = Worker {
        name: Arc::clone(&name),
        usb: usb.clone(),
        max_bytes: cfg.max_frame_bytes,
        backoff: Backoff::new(cfg.backoff.clone()),
        health,
        tx,
        restarts,
    };
    std::thread::Builder::new()
        .name(format!("usb-cam-{}", cfg.name))
        .spawn(move || thread.run())
        .map_err(|source| SpawnError::Thread {
            camera: cfg.name.clone(),
            source,
        })?;
    Ok(LatestFrame::new(
        name,
        rx,
        cfg,
        || CameraError::Unavailable("camera thread stopped".into()),
        restarter,
    ))
}

struct Worker {
    name: Arc<str>,
    usb: UsbCameraConfig,
    max_bytes: usize,
    backoff: Backoff,
    health: HealthCell,
    tx: watch::Sender<Option<Frame>>,
    /// A pending restart is answered once the camera streams again (or not).
    restarts: RestartRequests,
}

/// How a streaming session ended.
enum End {
    /// Every receiver is gone.
    Closed,
    /// A restart was asked for: reopen at once.
    Restart,
    Failed(String),
}

impl Worker {
    fn run(mut self) {
        let mut seq = 0u64;
        while !self.tx.is_closed() {
            match self.session(&mut seq) {
                End::Closed => return,
                End::Restart => {
                    info!(camera = %self.name, "restart requested: reopening the camera");
                    self.tx.send_if_modified(|f| f.take().is_some());
                    self.backoff.reset();
                }
                End::Failed(e) => {
                    warn!(camera = %self.name, error = %e, "usb camera failed");
                    self.restarts
                        .answer(Err(RestartError::UsbCamera(e.clone())));
                    self.health.err_text(ErrorClass::Transport, e);
                    self.tx.send_if_modified(|f| f.take().is_some());
                    std::thread::sleep(self.backoff.next_delay());
                    // A restart asked for while waiting: reopen now.
                    if self.restarts.try_requested() {
                        self.backoff.reset();
                    }
                }
            }
        }
    }

    /// Find, open and stream the camera until an error, a restart or until
    /// every receiver is gone.
    fn session(&mut self, seq: &mut u64) -> End {
        match self.stream(seq) {
            Ok(end) => end,
            Err(e) => End::Failed(e),
        }
    }

    fn stream(&mut self, seq: &mut u64) -> Result<End, String> {
        let index = find_camera(&self.usb)?;
        let format = CameraFormat::new(
            Resolution::new(self.usb.width, self.usb.height),
            FrameFormat::MJPEG,
            self.usb.fps,
        );
        let requested = RequestedFormat::with_formats(
            RequestedFormatType::Closest(format),
            &[
                FrameFormat::MJPEG,
                FrameFormat::YUYV,
                FrameFormat::RAWRGB,
                FrameFormat::GRAY,
            ],
        );
        let mut cam = nokhwa::Camera::with_backend(index, requested, ApiBackend::Auto)
            .map_err(|e| e.to_string())?;
        cam.open_stream().map_err(|e| e.to_string())?;
        info!(camera = %self.name, format = ?cam.camera_format(), "usb camera streaming");
        self.restarts.answer(Ok("usb camera reopened".into()));
        let mut last = Instant::now();
        loop {
            if self.tx.is_closed() {
                let _ = cam.stop_stream();
                return Ok(End::Closed);
            }
            if self.restarts.try_requested() {
                let _ = cam.stop_stream();
                return Ok(End::Restart);
            }
            let buf = cam.frame().map_err(|e| format!("frame: {e}"))?;
            let res = buf.resolution();
            let jpeg = to_jpeg(
                buf.source_frame_format(),
                buf.buffer(),
                res.width(),
                res.height(),
                self.usb.jpeg_quality,
            )?;
            if jpeg.len() > self.max_bytes {
                self.health.err_text(
                    ErrorClass::Data,
                    format!("frame of {} bytes over the limit", jpeg.len()),
                );
                continue;
            }
            *seq += 1;
            self.health.ok(last.elapsed());
            last = Instant::now();
            self.backoff.reset();
            self.tx.send_replace(Some(Frame {
                camera: Arc::clone(&self.name),
                jpeg: Bytes::from(jpeg),
                at: SystemTime::now(),
                received: Instant::now(),
                seq: *seq,
            }));
        }
    }
}

/// The index of the first camera whose name contains `usb.name` and whose
/// serial/bus string (`misc`, or the description) contains `usb.serial`.
fn find_camera(usb: &UsbCameraConfig) -> Result<CameraIndex, String> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| format!("query cameras: {e}"))?;
    cams.iter()
        .find(|c| {
            let name_ok = usb
                .name
                .as_ref()
                .is_none_or(|n| c.human_name().contains(n.as_str()));
            let serial_ok = usb.serial.as_ref().is_none_or(|s| {
                c.misc().contains(s.as_str()) || c.description().contains(s.as_str())
            });
            name_ok && serial_ok
        })
        .map(|c| c.index().clone())
        .ok_or_else(|| {
            let seen: Vec<String> = cams
                .iter()
                .map(|c| format!("`{}` ({})", c.human_name(), c.misc()))
                .collect();
            format!(
                "no camera matches name {:?} serial {:?}; found: {}",
                usb.name,
                usb.serial,
                seen.join(", ")
            )
        })
}

/// A frame as JPEG: MJPEG passes through; YUYV, RGB and grey are encoded.
pub fn to_jpeg(
    format: FrameFormat,
    data: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let pixels = (width as usize) * (height as usize);
    let encode = |buf: &[u8], color: image::ExtendedColorType| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(buf, width, height, color)
            .map_err(|e| format!("jpeg encode: {e}"))?;
        Ok(out)
    };
    match format {
        FrameFormat::MJPEG => {
            if is_jpeg(data) {
                Ok(data.to_vec())
            } else {
                Err("MJPEG frame without a JPEG header".into())
            }
        }
        FrameFormat::YUYV => {
            if data.len() < pixels * 2 {
                return Err(format!(
                    "YUYV frame of {} bytes for {width}x{height}",
                    data.len()
                ));
            }
            encode(
                &yuyv_to_rgb(&data[..pixels * 2]),
                image::ExtendedColorType::Rgb8,
            )
        }
        FrameFormat::RAWRGB if data.len() >= pixels * 3 => {
            encode(&data[..pixels * 3], image::ExtendedColorType::Rgb8)
        }
        FrameFormat::GRAY if data.len() >= pixels => {
            encode(&data[..pixels], image::ExtendedColorType::L8)
        }
        other => Err(format!(
            "unsupported frame format {other:?} ({} bytes)",
            data.len()
        )),
    }
}

/// YUYV 4:2:2 to packed RGB (BT.601, limited range).
pub fn yuyv_to_rgb(yuyv: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(yuyv.len() / 2 * 3);
    for q in yuyv.chunks_exact(4) {
        let (u, v) = (f32::from(q[1]) - 128.0, f32::from(q[3]) - 128.0);
        for y in [q[0], q[2]] {
            let c = 1.164 * (f32::from(y) - 16.0);
            let px = [c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u];
            out.extend(px.iter().map(|x| x.round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        // Black, white, and a neutral grey in YUYV.
        let rgb = yuyv_to_rgb(&[16, 128, 235, 128]);
        assert_eq!(rgb, vec![0, 0, 0, 255, 255, 255]);
        let jpeg = to_jpeg(FrameFormat::YUYV, &[128; 16 * 8 * 2], 16, 8, 80).expect("encode");
        assert!(is_jpeg(&jpeg));
        assert!(to_jpeg(FrameFormat::YUYV, &[0; 10], 16, 8, 80).is_err());
        assert!(to_jpeg(FrameFormat::MJPEG, b"not a jpeg", 1, 1, 80).is_err());
        let j = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xD9];
        assert_eq!(
            to_jpeg(FrameFormat::MJPEG, &j, 1, 1, 80).expect("pass"),
            j.to_vec()
        );
        assert!(is_jpeg(
            &to_jpeg(FrameFormat::GRAY, &[7; 64], 8, 8, 80).expect("grey")
        ));
    }
}
