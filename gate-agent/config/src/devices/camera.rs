//! Cameras (HTTP snapshot, MJPEG, USB) and how their frames are recognised.

use serde::{Deserialize, Serialize};

use crate::backoff::BackoffConfig;

use super::{
    check_interval, default_read_window, in_section, ConfigCheckError, Problem, Section,
    DEFAULT_READ_WINDOW_MS,
};

/// A USB (UVC) camera, found by name or serial (feature `usb-camera`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbCameraConfig {
    /// Substring of the device's human name (e.g. "HD USB Camera").
    #[serde(default)]
    pub name: Option<String>,
    /// Substring of the device's serial / misc field (bus path on Linux).
    #[serde(default)]
    pub serial: Option<String>,
    /// Requested resolution (default 1280x720) and frame rate (default 15).
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default = "default_fps")]
    pub fps: u32,
    /// JPEG quality when the camera delivers raw frames, 1..=100 (default 85).
    #[serde(default = "default_quality")]
    pub jpeg_quality: u8,
}

fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_fps() -> u32 {
    15
}
fn default_quality() -> u8 {
    85
}

/// Who reads the plate / container codes a camera sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecognitionMode {
    /// The agent reads the camera's frames itself (gate-ocr, the lane
    /// configuration's `[recognition]` section). Needs a frame source.
    Onboard,
    /// The camera's own recognition results (`recognition_url`).
    Camera,
    /// Nobody: the camera gives evidence photos only and reports "nothing read".
    None,
}

impl RecognitionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboard => "onboard",
            Self::Camera => "camera",
            Self::None => "none",
        }
    }
}

/// A camera: exactly one of `snapshot_url`, `mjpeg_url` and `usb`, plus an
/// optional recognition endpoint (a camera may also give recognition only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Camera name (e.g. "plate-front", "container-back").
    pub name: String,
    /// HTTP URL returning one JPEG per GET (e.g. `http://cam/snapshot.jpg`).
    #[serde(default)]
    pub snapshot_url: Option<String>,
    /// HTTP URL of a multipart/x-mixed-replace MJPEG stream.
    #[serde(default)]
    pub mjpeg_url: Option<String>,
    /// A USB camera (needs the `usb-camera` feature).
    #[serde(default)]
    pub usb: Option<UsbCameraConfig>,
    /// HTTP URL of the camera's recognition results (ANPR / container OCR JSON).
    #[serde(default)]
    pub recognition_url: Option<String>,
    /// Who reads this camera's frames: `onboard` (the agent, from the
    /// frames), `camera` (the camera's `recognition_url`) or `none`.
    /// Default: `camera` when `recognition_url` is set, else `onboard`.
    /// See [`CameraConfig::recognition_mode`].
    #[serde(default)]
    pub recognition: Option<RecognitionMode>,
    /// Time allowed for one HTTP request / one frame, ms (default 2000).
    #[serde(default = "default_http_timeout")]
    pub timeout_ms: u64,
    /// Largest accepted JPEG, bytes (default 4 MiB).
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// MJPEG: a frame older than this is not returned by `grab`, ms (default 1000).
    #[serde(default = "default_max_age")]
    pub max_frame_age_ms: u64,
    /// Reconnect delays of the stream.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Read window, ms (default 1500): once the camera's own recognition
    /// has answered "nothing" for this long after a vehicle's
    /// identification started, the camera reports "nothing" for it (a
    /// container camera with no container in view), so the lane does not
    /// wait out its identification bound. Mode `none` reports "nothing"
    /// right after its photo.
    #[serde(default = "default_read_window")]
    pub read_window_ms: u64,
}

fn default_http_timeout() -> u64 {
    2000
}
fn default_max_frame() -> usize {
    4 * 1024 * 1024
}
fn default_max_age() -> u64 {
    1000
}

impl CameraConfig {
    /// A snapshot camera with defaults.
    pub fn snapshot(name: &str, url: &str) -> Self {
        let mut c = Self::blank(name);
        c.snapshot_url = Some(url.to_owned());
        c
    }

    /// An MJPEG camera with defaults.
    pub fn mjpeg(name: &str, url: &str) -> Self {
        let mut c = Self::blank(name);
        c.mjpeg_url = Some(url.to_owned());
        c
    }

    fn blank(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            snapshot_url: None,
            mjpeg_url: None,
            usb: None,
            recognition_url: None,
            recognition: None,
            timeout_ms: default_http_timeout(),
            max_frame_bytes: default_max_frame(),
            max_frame_age_ms: default_max_age(),
            backoff: BackoffConfig::default(),
            read_window_ms: DEFAULT_READ_WINDOW_MS,
        }
    }

    /// Whether the camera gives frames (snapshot, MJPEG or USB).
    pub fn has_frames(&self) -> bool {
        self.snapshot_url.is_some() || self.mjpeg_url.is_some() || self.usb.is_some()
    }

    /// The effective recognition mode: as configured, else `camera` when the
    /// camera has a `recognition_url`, else `onboard`.
    pub fn recognition_mode(&self) -> RecognitionMode {
        match (self.recognition, &self.recognition_url) {
            (Some(m), _) => m,
            (None, Some(_)) => RecognitionMode::Camera,
            (None, None) => RecognitionMode::Onboard,
        }
    }

    /// The recognition mode's own requirements (a problem here is reported
    /// at the camera's `recognition` key by the lane configuration check).
    pub fn validate_recognition(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Camera, &self.name);
        match self.recognition_mode() {
            RecognitionMode::Camera if self.recognition_url.is_none() => {
                Err(ctx(Problem::RecognitionNeedsUrl))
            }
            RecognitionMode::Onboard if !self.has_frames() => {
                Err(ctx(Problem::RecognitionNeedsFrames))
            }
            _ => Ok(()),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Camera, &self.name);
        let n = usize::from(self.snapshot_url.is_some())
            + usize::from(self.mjpeg_url.is_some())
            + usize::from(self.usb.is_some());
        if n != 1 && !(n == 0 && self.recognition_url.is_some()) {
            return Err(ctx(Problem::CameraSource));
        }
        if !(100..=60_000).contains(&self.read_window_ms) {
            return Err(ctx(Problem::CameraReadWindow(self.read_window_ms)));
        }
        for u in [&self.snapshot_url, &self.mjpeg_url, &self.recognition_url]
            .into_iter()
            .flatten()
        {
            if !u.starts_with("http://") {
                return Err(ctx(Problem::Url(u.clone())));
            }
        }
        if let Some(usb) = &self.usb {
            if usb.name.is_none() && usb.serial.is_none() {
                return Err(ctx(Problem::UsbSelector));
            }
            if !(1..=100).contains(&usb.jpeg_quality)
                || usb.width == 0
                || usb.height == 0
                || usb.fps == 0
            {
                return Err(ctx(Problem::UsbFormat));
            }
        }
        self.validate_recognition()?;
        check_interval("timeout_ms", self.timeout_ms).map_err(ctx)?;
        if !(1024..=64 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return Err(ctx(Problem::MaxFrameBytes(self.max_frame_bytes)));
        }
        self.backoff.validate().map_err(|e| ctx(e.into()))
    }
}
