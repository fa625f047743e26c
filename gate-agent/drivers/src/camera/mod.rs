//! Cameras: JPEG frames kept as evidence, and the camera's own recognition
//! results (ANPR plate, container code OCR).
//!
//! Layer: device driver. Every kind of camera sits behind one trait,
//! [`FrameSource`]: HTTP snapshot ([`http::SnapshotSource`]), and the
//! sources whose background reader keeps the latest frame ([`LatestFrame`]):
//! HTTP MJPEG ([`http::spawn_mjpeg`], parser in [`mjpeg`]) and, with the
//! `usb-camera` feature, USB/UVC cameras (`usb::spawn_usb`). [`recognition`] reads the
//! camera's recognition JSON. Frames are returned as the camera encoded
//! them (bytes untouched, size bounded) with the time they were received; the
//! driver neither stores them nor interprets them.

pub mod http;
pub mod mjpeg;
pub mod recognition;
#[cfg(feature = "usb-camera")]
pub mod usb;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::timeout;

use super::config::{CameraConfig, CameraSource};
use super::error::SpawnError;
use super::health::HealthRegistry;
use super::restart::{RestartVerdict, Restarter};

/// One JPEG image from a camera.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Camera name.
    pub camera: Arc<str>,
    /// The JPEG as received (starts with FF D8).
    pub jpeg: Bytes,
    /// Wall-clock time of reception (evidence timestamp).
    pub at: SystemTime,
    /// Monotonic time of reception (freshness checks).
    pub received: Instant,
    /// Frames received from this source so far (1 = first).
    pub seq: u64,
}

/// Why a frame could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("http: {0}")]
    Http(String),
    #[error("http status {0}")]
    Status(u16),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("frame larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a JPEG")]
    NotJpeg,
    #[error("stream: {0}")]
    Stream(String),
    #[error("bad recognition data: {0}")]
    Recognition(String),
    #[error("camera unavailable: {0}")]
    Unavailable(String),
}

/// Anything that gives JPEG frames on demand.
pub trait FrameSource: Send + Sync {
    /// Camera name.
    fn name(&self) -> &str;
    /// A current frame: fetched now (snapshot) or the latest fresh one
    /// (streams). Never waits longer than the camera's timeout.
    fn grab(&self) -> BoxFuture<'_, Result<Frame, CameraError>>;
    /// Reopen the camera's connection (`restart_device`): `Ok(what was
    /// done)` once frames can come again. A source without a standing
    /// connection (one request per frame) has nothing to reopen: it checks
    /// the camera with one grab instead.
    fn restart(&self) -> BoxFuture<'_, RestartVerdict> {
        Box::pin(async move {
            let t0 = Instant::now();
            let f = self.grab().await?;
            Ok(format!(
                "no standing connection to reopen; a frame came ({} bytes in {} ms)",
                f.jpeg.len(),
                t0.elapsed().as_millis()
            ))
        })
    }
}

/// A camera whose background reader (a stream task, a camera thread)
/// publishes every frame it receives: a grab takes the latest one while it
/// is fresh, else waits for the next one, never longer than the timeout.
#[derive(Debug)]
pub struct LatestFrame {
    name: Arc<str>,
    rx: watch::Receiver<Option<Frame>>,
    timeout: Duration,
    max_age: Duration,
    /// The error when the reader has stopped.
    stopped: fn() -> CameraError,
    /// Asks the reader to reopen its connection.
    restarter: Restarter,
}

impl LatestFrame {
    /// A source over the reader's channel (`None` until the first frame);
    /// the reader answers restarts on the other end of `restarter`.
    pub fn new(
        name: Arc<str>,
        rx: watch::Receiver<Option<Frame>>,
        cfg: &CameraConfig,
        stopped: fn() -> CameraError,
        restarter: Restarter,
    ) -> Self {
        Self {
            name,
            rx,
            timeout: Duration::from_millis(cfg.timeout_ms),
            max_age: Duration::from_millis(cfg.max_frame_age_ms),
            stopped,
            restarter,
        }
    }

    /// Every frame as it arrives (`None` before the first).
    pub fn subscribe(&self) -> watch::Receiver<Option<Frame>> {
        self.rx.clone()
    }

    async fn latest(&self) -> Result<Frame, CameraError> {
        let mut rx = self.rx.clone();
        if let Some(f) = rx.borrow_and_update().as_ref() {
            if f.received.elapsed() <= self.max_age {
                return Ok(f.clone());
            }
        }
        let wait = async {
            loop {
                if rx.changed().await.is_err() {
                    return Err((self.stopped)());
                }
                if let Some(f) = rx.borrow_and_update().as_ref() {
                    return Ok(f.clone());
                }
            }
        };
        match timeout(self.timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(CameraError::Timeout(self.timeout.as_millis() as u64)),
        }
    }
}

impl FrameSource for LatestFrame {
    fn name(&self) -> &str {
        &self.name
    }
    fn grab(&self) -> BoxFuture<'_, Result<Frame, CameraError>> {
        Box::pin(self.latest())
    }
    fn restart(&self) -> BoxFuture<'_, RestartVerdict> {
        // Reopening takes at most the connect/answer timeout; a second more
        // for the reader to get there.
        let limit = self.timeout + Duration::from_secs(1);
        Box::pin(self.restarter.restart(limit))
    }
}

/// Whether bytes look like a JPEG (SOI marker).
pub fn is_jpeg(b: &[u8]) -> bool {
    b.len() >= 4 && b[0] == 0xFF && b[1] == 0xD8
}

/// A running camera: its frame source and optional recognition endpoint.
#[derive(Clone)]
pub struct Camera {
    pub source: Option<Arc<dyn FrameSource>>,
    pub recognition: Option<recognition::RecognitionClient>,
}

impl Camera {
    /// Restart the camera's frame source (see [`FrameSource::restart`]).
    pub async fn restart(&self) -> RestartVerdict {
        match &self.source {
            Some(s) => s.restart().await,
            None => {
                Ok("no frame source; its recognition requests open their own connection".into())
            }
        }
    }
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("source", &self.source.as_ref().map(|s| s.name().to_owned()))
            .field("recognition", &self.recognition)
            .finish()
    }
}

/// Start a camera from its configuration (inside a tokio runtime: MJPEG
/// and USB sources run a background reader).
pub fn spawn_camera(cfg: &CameraConfig, registry: &HealthRegistry) -> Result<Camera, SpawnError> {
    cfg.validate()?;
    let health = registry.register(&cfg.name);
    let source: Option<Arc<dyn FrameSource>> = match &cfg.source {
        Some(CameraSource::Snapshot(url)) => {
            Some(Arc::new(http::SnapshotSource::new(cfg, url, health)?))
        }
        Some(CameraSource::Mjpeg(url)) => Some(Arc::new(http::spawn_mjpeg(cfg, url, health)?)),
        Some(CameraSource::Usb(usb)) => {
            #[cfg(feature = "usb-camera")]
            {
                Some(Arc::new(usb::spawn_usb(cfg, usb, health)?))
            }
            #[cfg(not(feature = "usb-camera"))]
            {
                let _ = (usb, health);
                return Err(SpawnError::UsbCameraFeature(cfg.name.clone()));
            }
        }
        None => None,
    };
    let recognition = match &cfg.recognition_url {
        Some(url) => Some(recognition::RecognitionClient::new(
            cfg,
            url,
            registry.register(&format!("{}/recognition", cfg.name)),
        )?),
        None => None,
    };
    Ok(Camera {
        source,
        recognition,
    })
}
