//! Cameras (HTTP snapshot, MJPEG, USB) and how their frames are recognised.
//! The frames are read as three keys (`snapshot_url`, `mjpeg_url`, `usb`:
//! `RawCamera`) and held as one optional [`CameraSource`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::backoff::BackoffConfig;

use super::{
    at_most_one, check_interval, default_read_window, in_section, CameraSection, ConfigCheckError,
    Problem, Section, Typed, DEFAULT_READ_WINDOW_MS,
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

/// A camera: its frames (an HTTP snapshot URL, an MJPEG stream or a USB
/// camera) and an optional recognition endpoint; a camera may also give
/// recognition only.
///
/// The file gives the frames as at most one of the keys `snapshot_url`,
/// `mjpeg_url` and `usb` (`RawCamera`, typed by `TryFrom`); written back,
/// [`CameraSource`] is that key again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCamera")]
pub struct CameraConfig {
    /// Camera name (e.g. "plate-front", "container-back").
    pub name: String,
    /// Where the frames come from; none: the camera gives recognition only
    /// (then `recognition_url` is required).
    #[serde(flatten)]
    pub source: Option<CameraSource>,
    /// HTTP URL of the camera's recognition results (ANPR / container OCR JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognition_url: Option<String>,
    /// Who reads this camera's frames: `onboard` (the agent, from the
    /// frames), `camera` (the camera's `recognition_url`) or `none`.
    /// Default: `camera` when `recognition_url` is set, else `onboard`.
    /// See [`CameraConfig::recognition_mode`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognition: Option<RecognitionMode>,
    /// Time allowed for one HTTP request / one frame, ms (default 2000).
    pub timeout_ms: u64,
    /// Largest accepted JPEG, bytes (default 4 MiB).
    pub max_frame_bytes: usize,
    /// MJPEG: a frame older than this is not returned by `grab`, ms (default 1000).
    pub max_frame_age_ms: u64,
    /// Reconnect delays of the stream.
    pub backoff: BackoffConfig,
    /// Read window, ms (default 1500): once the camera's own recognition
    /// has answered "nothing" for this long after a vehicle's
    /// identification started, the camera reports "nothing" for it (a
    /// container camera with no container in view), so the lane does not
    /// wait out its identification bound. Mode `none` reports "nothing"
    /// right after its photo.
    pub read_window_ms: u64,
}

/// Where a camera's frames come from: in the file, the key `snapshot_url`,
/// `mjpeg_url` or `usb`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum CameraSource {
    /// HTTP URL returning one JPEG per GET (e.g. `http://cam/snapshot.jpg`).
    #[serde(rename = "snapshot_url")]
    Snapshot(String),
    /// HTTP URL of a multipart/x-mixed-replace MJPEG stream.
    #[serde(rename = "mjpeg_url")]
    Mjpeg(String),
    /// A USB camera (needs the `usb-camera` feature).
    #[serde(rename = "usb")]
    Usb(UsbCameraConfig),
}

/// A camera as the file writes it: its frames as three keys, at most one
/// of them given.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCamera {
    name: String,
    #[serde(default)]
    snapshot_url: Option<String>,
    #[serde(default)]
    mjpeg_url: Option<String>,
    #[serde(default)]
    usb: Option<UsbCameraConfig>,
    #[serde(default)]
    recognition_url: Option<String>,
    #[serde(default)]
    recognition: Option<RecognitionMode>,
    #[serde(default = "default_http_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_max_frame")]
    max_frame_bytes: usize,
    #[serde(default = "default_max_age")]
    max_frame_age_ms: u64,
    #[serde(default)]
    backoff: BackoffConfig,
    #[serde(default = "default_read_window")]
    read_window_ms: u64,
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

impl TryFrom<RawCamera> for CameraConfig {
    type Error = ConfigCheckError;

    /// Fails when the file gives more than one of `snapshot_url`,
    /// `mjpeg_url` and `usb` (none is for [`CameraConfig::validate`]: a
    /// camera with recognition only).
    fn try_from(raw: RawCamera) -> Result<Self, ConfigCheckError> {
        let source = at_most_one(
            [
                raw.snapshot_url.map(CameraSource::Snapshot),
                raw.mjpeg_url.map(CameraSource::Mjpeg),
                raw.usb.map(CameraSource::Usb),
            ],
            || in_section(Section::Camera, &raw.name)(Problem::CameraSource),
        )?;
        Ok(Self {
            name: raw.name,
            source,
            recognition_url: raw.recognition_url,
            recognition: raw.recognition,
            timeout_ms: raw.timeout_ms,
            max_frame_bytes: raw.max_frame_bytes,
            max_frame_age_ms: raw.max_frame_age_ms,
            backoff: raw.backoff,
            read_window_ms: raw.read_window_ms,
        })
    }
}

impl Typed<CameraConfig> for RawCamera {
    fn typed(&self) -> Result<Cow<'_, CameraConfig>, ConfigCheckError> {
        CameraConfig::try_from(self.clone()).map(Cow::Owned)
    }
}

impl CameraSection for RawCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn recognition(&self) -> CameraRecognition<'_> {
        // Frames given twice are frames: the recognition's check does not
        // repeat the choice's.
        let frames = self.snapshot_url.is_some() || self.mjpeg_url.is_some() || self.usb.is_some();
        CameraRecognition::of(&self.name, self.recognition, &self.recognition_url, frames)
    }
}

impl CameraSection for CameraConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn recognition(&self) -> CameraRecognition<'_> {
        let frames = self.source.is_some();
        CameraRecognition::of(&self.name, self.recognition, &self.recognition_url, frames)
    }
}

/// What a camera's recognition depends on: its name (for errors), the
/// mode the file names, whether it has a recognition URL and frames.
pub(crate) struct CameraRecognition<'a> {
    pub(crate) name: &'a str,
    /// `recognition = ...`, when the file names it.
    pub(crate) mode: Option<RecognitionMode>,
    pub(crate) has_url: bool,
    pub(crate) has_frames: bool,
}

impl<'a> CameraRecognition<'a> {
    fn of(
        name: &'a str,
        mode: Option<RecognitionMode>,
        url: &Option<String>,
        has_frames: bool,
    ) -> Self {
        Self {
            name,
            mode,
            has_url: url.is_some(),
            has_frames,
        }
    }

    /// As configured, else `camera` when the camera has a recognition URL,
    /// else `onboard`.
    fn mode(&self) -> RecognitionMode {
        match (self.mode, self.has_url) {
            (Some(m), _) => m,
            (None, true) => RecognitionMode::Camera,
            (None, false) => RecognitionMode::Onboard,
        }
    }

    /// The mode's own requirements: a recognition URL for `camera`, frames
    /// for `onboard`.
    pub(crate) fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Camera, self.name);
        match self.mode() {
            RecognitionMode::Camera if !self.has_url => Err(ctx(Problem::RecognitionNeedsUrl)),
            RecognitionMode::Onboard if !self.has_frames => {
                Err(ctx(Problem::RecognitionNeedsFrames))
            }
            _ => Ok(()),
        }
    }
}

impl CameraConfig {
    /// A snapshot camera with defaults.
    pub fn snapshot(name: &str, url: &str) -> Self {
        Self::with(name, CameraSource::Snapshot(url.to_owned()))
    }

    /// An MJPEG camera with defaults.
    pub fn mjpeg(name: &str, url: &str) -> Self {
        Self::with(name, CameraSource::Mjpeg(url.to_owned()))
    }

    fn with(name: &str, source: CameraSource) -> Self {
        Self {
            name: name.to_owned(),
            source: Some(source),
            recognition_url: None,
            recognition: None,
            timeout_ms: default_http_timeout(),
            max_frame_bytes: default_max_frame(),
            max_frame_age_ms: default_max_age(),
            backoff: BackoffConfig::default(),
            read_window_ms: DEFAULT_READ_WINDOW_MS,
        }
    }

    /// The effective recognition mode: as configured, else `camera` when the
    /// camera has a `recognition_url`, else `onboard`.
    pub fn recognition_mode(&self) -> RecognitionMode {
        CameraSection::recognition(self).mode()
    }

    /// The recognition mode's own requirements (a problem here is reported
    /// at the camera's `recognition` key by the lane configuration check).
    pub fn validate_recognition(&self) -> Result<(), ConfigCheckError> {
        CameraSection::recognition(self).validate()
    }

    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Camera, &self.name);
        if self.source.is_none() && self.recognition_url.is_none() {
            return Err(ctx(Problem::CameraSource));
        }
        if !(100..=60_000).contains(&self.read_window_ms) {
            return Err(ctx(Problem::CameraReadWindow(self.read_window_ms)));
        }
        let frames_url = match &self.source {
            Some(CameraSource::Snapshot(url) | CameraSource::Mjpeg(url)) => Some(url),
            Some(CameraSource::Usb(_)) | None => None,
        };
        for u in [frames_url, self.recognition_url.as_ref()]
            .into_iter()
            .flatten()
        {
            if !u.starts_with("http://") {
                return Err(ctx(Problem::Url(u.clone())));
            }
        }
        if let Some(CameraSource::Usb(usb)) = &self.source {
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
