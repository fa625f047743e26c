//! The camera's recognition endpoint: what a smart camera read itself
//! (plate + colour, or container codes), as JSON.
//!
//! Layer: device driver + its JSON format (docs/devices/camera.md): `null`
//! (nothing recognised), `{"plate", "colour", "confidence", "frame"}` from
//! plate cameras, `{"codes": [{"text", "confidence", "layout"}], "frame"}`
//! from container cameras. Unknown fields are ignored (vendors add their
//! own); missing optional fields are `None`. The results are raw camera
//! opinions: checking plates and ISO 6346 codes is the lane core's job.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gate_proto::messages::PlateColour;
use serde_json::Value;

use super::http::{client, get_bounded, record};
use super::CameraError;
use crate::config::CameraConfig;
use crate::error::SpawnError;
use crate::health::HealthCell;

/// Largest recognition document accepted, bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A plate read by the camera.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateRecognition {
    pub plate: String,
    /// The colour mapped to our enum (None if absent or unknown).
    pub colour: Option<PlateColour>,
    /// The colour as the camera named it.
    pub colour_raw: Option<String>,
    /// 0..=1 as reported.
    pub confidence: Option<f64>,
    /// The camera's frame number the result belongs to.
    pub frame: Option<u64>,
}

/// A container code read by the camera.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeRecognition {
    pub text: String,
    pub confidence: Option<f64>,
    /// e.g. "horizontal" / "vertical".
    pub layout: Option<String>,
}

/// One recognition result.
#[derive(Clone, Debug, PartialEq)]
pub enum Recognition {
    /// The camera recognised nothing (`null`).
    Nothing,
    Plate(PlateRecognition),
    Codes {
        codes: Vec<CodeRecognition>,
        frame: Option<u64>,
    },
}

/// A recognition result with its reception time.
#[derive(Clone, Debug, PartialEq)]
pub struct RecognitionRead {
    pub camera: Arc<str>,
    pub at: SystemTime,
    pub result: Recognition,
}

/// A recognition document that is not one ([`parse_recognition`]).
#[derive(Debug, thiserror::Error)]
pub enum RecognitionError {
    /// Not JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("expected an object or null")]
    NotObject,
    #[error("`plate` is not a string")]
    PlateNotString,
    /// A field that must be a (finite) number.
    #[error("`{0}` is not a number")]
    NotNumber(&'static str),
    #[error("`codes` is not an array")]
    CodesNotArray,
    #[error("code without `text`")]
    CodeWithoutText,
    #[error("neither `plate` nor `codes`")]
    Unknown,
}

fn opt_f64(v: &Value, k: &'static str) -> Result<Option<f64>, RecognitionError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => match x.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(RecognitionError::NotNumber(k)),
        },
    }
}

fn opt_str(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Parse a recognition document.
pub fn parse_recognition(body: &[u8]) -> Result<Recognition, RecognitionError> {
    let v: Value = serde_json::from_slice(body)?;
    if v.is_null() {
        return Ok(Recognition::Nothing);
    }
    if !v.is_object() {
        return Err(RecognitionError::NotObject);
    }
    let frame = v.get("frame").and_then(Value::as_u64);
    if let Some(p) = v.get("plate") {
        let plate = p
            .as_str()
            .ok_or(RecognitionError::PlateNotString)?
            .trim()
            .to_owned();
        if plate.is_empty() {
            return Ok(Recognition::Nothing);
        }
        let colour_raw = opt_str(&v, "colour").or_else(|| opt_str(&v, "color"));
        return Ok(Recognition::Plate(PlateRecognition {
            colour: colour_raw.as_deref().and_then(PlateColour::parse),
            colour_raw,
            plate,
            confidence: opt_f64(&v, "confidence")?,
            frame,
        }));
    }
    if let Some(c) = v.get("codes") {
        let arr = c.as_array().ok_or(RecognitionError::CodesNotArray)?;
        let mut codes = Vec::with_capacity(arr.len().min(16));
        for item in arr.iter().take(16) {
            let text = item
                .get("text")
                .and_then(Value::as_str)
                .ok_or(RecognitionError::CodeWithoutText)?;
            codes.push(CodeRecognition {
                text: text.trim().to_owned(),
                confidence: opt_f64(item, "confidence")?,
                layout: opt_str(item, "layout"),
            });
        }
        return Ok(Recognition::Codes { codes, frame });
    }
    Err(RecognitionError::Unknown)
}

/// Client of one camera's recognition endpoint.
#[derive(Clone, Debug)]
pub struct RecognitionClient {
    camera: Arc<str>,
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    health: HealthCell,
}

impl RecognitionClient {
    pub fn new(cfg: &CameraConfig, url: &str, health: HealthCell) -> Result<Self, SpawnError> {
        let timeout = Duration::from_millis(cfg.timeout_ms);
        Ok(Self {
            camera: cfg.name.as_str().into(),
            url: url.to_owned(),
            client: client(timeout)?,
            timeout,
            health,
        })
    }

    /// Ask the camera what it sees now.
    pub async fn fetch(&self) -> Result<RecognitionRead, CameraError> {
        let started = Instant::now();
        let r = get_bounded(&self.client, &self.url, MAX_JSON_BYTES, self.timeout)
            .await
            .and_then(|body| {
                parse_recognition(&body).map_err(|e| CameraError::Recognition(e.to_string()))
            })
            .map(|result| RecognitionRead {
                camera: Arc::clone(&self.camera),
                at: SystemTime::now(),
                result,
            });
        record(&self.health, started, &r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert_eq!(parse_recognition(b"null").ok(), Some(Recognition::Nothing));
        let r = parse_recognition(
            "{\"plate\":\"琼A12345\",\"colour\":\"yellow\",\"confidence\":0.93,\"frame\":42,\"vendor\":1}".as_bytes(),
        )
        .expect("plate");
        assert_eq!(
            r,
            Recognition::Plate(PlateRecognition {
                plate: "琼A12345".into(),
                colour: Some(PlateColour::Yellow),
                colour_raw: Some("yellow".into()),
                confidence: Some(0.93),
                frame: Some(42),
            })
        );
        let r = parse_recognition(
            br#"{"codes":[{"text":"CSQU3054383","confidence":0.8,"layout":"vertical"},{"text":"45G1"}],"frame":7}"#,
        )
        .expect("codes");
        match r {
            Recognition::Codes { codes, frame } => {
                assert_eq!(frame, Some(7));
                assert_eq!(codes.len(), 2);
                assert_eq!(codes[0].layout.as_deref(), Some("vertical"));
                assert_eq!(codes[1].confidence, None);
            }
            other => panic!("{other:?}"),
        }
        // An unknown colour is kept raw.
        match parse_recognition(br#"{"plate":"X","colour":"purple"}"#).expect("plate") {
            Recognition::Plate(p) => {
                assert_eq!((p.colour, p.colour_raw.as_deref()), (None, Some("purple")))
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_recognition(b"[1]").is_err());
        assert!(parse_recognition(b"{\"plate\":3}").is_err());
        assert!(parse_recognition(br#"{"plate":"X","confidence":"high"}"#).is_err());
        assert!(parse_recognition(b"{\"other\":1}").is_err());
        assert!(parse_recognition(b"{").is_err());
    }
}
