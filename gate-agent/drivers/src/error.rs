//! Errors of a device request, shared by every driver.
//!
//! Layer: driver plumbing. The one rule here is that a device that answered
//! with a Modbus exception ([`DeviceError::Exception`]) stays distinct from a
//! device or link that did not answer properly (timeouts, transport and
//! protocol errors), as in tokio-modbus's two-layer `Result`.

use std::time::Duration;

pub use tokio_modbus::ExceptionCode;

/// Why a request to a device failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// The device answered with a Modbus exception: the link works, the
    /// request was refused (bad address, bad value, device busy...).
    #[error("modbus exception 0x{code:02X} ({0:?})", code = u8::from(*.0))]
    Exception(ExceptionCode),
    /// No (complete) answer within the request timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection or serial line failed (I/O error, closed, not connected).
    #[error("transport: {0}")]
    Transport(String),
    /// An answer came but did not match the request (stale or foreign frame).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The bus queue is full: the bus is saturated or stuck.
    #[error("bus `{0}` queue full")]
    QueueFull(String),
    /// The request waited in the queue past its deadline and was not sent.
    #[error("request expired in the bus queue after {} ms", .0.as_millis())]
    Expired(Duration),
    /// The bus task has stopped.
    #[error("bus task stopped")]
    BusClosed,
    /// The device's answer could not be turned into a reading.
    #[error("bad data: {0}")]
    Decode(String),
}

/// Why a driver could not be started (nothing of it runs).
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The device's configuration fails its checks.
    #[error(transparent)]
    Config(#[from] gate_config::devices::ConfigCheckError),
    /// Its register profile cannot be loaded.
    #[error(transparent)]
    Profile(#[from] gate_wire::profile::ProfileError),
    /// A device names a bus that is not running.
    #[error("no bus `{0}`")]
    NoBus(String),
    /// The weighbridge names a bus that is not running.
    #[error("weighbridge `{weighbridge}`: no bus `{bus}`")]
    WeighbridgeNoBus { weighbridge: String, bus: String },
    #[error("weighbridge: not a Modbus weighbridge")]
    NotModbus,
    #[error("weighbridge: not an ASCII weighbridge")]
    NotAscii,
    /// A weighbridge profile without its weight.
    #[error("profile `{profile}` has no numeric point `gross`")]
    NoGross { profile: String },
    /// Stability mode `device` with a profile that has no stability flag.
    #[error(
        "weighbridge `{weighbridge}`: stability mode \"device\" but profile `{profile}` has no `stable` or `motion` flag"
    )]
    NoStabilityFlag {
        weighbridge: String,
        profile: String,
    },
    /// Stability mode `device` on an XK3190 indicator (it has no flag).
    #[error(
        "weighbridge `{0}`: XK3190 has no stable flag; use stability mode \"auto\" or \"detect\""
    )]
    Xk3190Stability(String),
    /// An RFID profile without an `epc` point.
    #[error("profile `{profile}` has no `epc` point")]
    NoEpc { profile: String },
    /// A USB camera in a build without the `usb-camera` feature.
    #[error("camera `{0}`: USB cameras need the `usb-camera` feature")]
    UsbCameraFeature(String),
    /// A camera's reader thread could not be started.
    #[error("camera `{camera}`: cannot start thread: {source}")]
    Thread {
        camera: String,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client of a camera could not be built.
    #[error("http client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Coarse class of a [`DeviceError`], for counters and health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The device refused the request (Modbus exception).
    Exception,
    /// Nobody answered in time.
    Timeout,
    /// Link-level failure (I/O, connection, framing, stale answer).
    Transport,
    /// The agent side is saturated (queue full or expired in queue).
    Overload,
    /// The answer was received but made no sense.
    Data,
}

impl DeviceError {
    /// The coarse class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Exception(_) => ErrorClass::Exception,
            Self::Timeout(_) => ErrorClass::Timeout,
            Self::Transport(_) | Self::Protocol(_) | Self::BusClosed => ErrorClass::Transport,
            Self::QueueFull(_) | Self::Expired(_) => ErrorClass::Overload,
            Self::Decode(_) => ErrorClass::Data,
        }
    }

    /// True when the device answered with a Modbus exception.
    pub fn is_exception(&self) -> bool {
        matches!(self, Self::Exception(_))
    }

    /// Whether retrying the same request may help (not for exceptions: the
    /// device will refuse again; not for agent-side overload).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Transport(_) | Self::Protocol(_)
        )
    }
}

impl From<tokio_modbus::Error> for DeviceError {
    fn from(e: tokio_modbus::Error) -> Self {
        match e {
            tokio_modbus::Error::Transport(io) => Self::Transport(io.to_string()),
            tokio_modbus::Error::Protocol(p) => Self::Protocol(p.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_not_transport_errors() {
        let ex = DeviceError::Exception(ExceptionCode::IllegalDataAddress);
        assert!(ex.is_exception());
        assert!(!ex.is_retryable());
        assert_eq!(ex.class(), ErrorClass::Exception);
        assert_eq!(ex.to_string(), "modbus exception 0x02 (IllegalDataAddress)");
        let t = DeviceError::Timeout(Duration::from_millis(250));
        assert!(!t.is_exception());
        assert!(t.is_retryable());
        assert_eq!(t.class(), ErrorClass::Timeout);
        assert_eq!(t.to_string(), "no answer within 250 ms");
        let io = tokio_modbus::Error::Transport(std::io::Error::other("boom"));
        assert_eq!(DeviceError::from(io).class(), ErrorClass::Transport);
    }
}
