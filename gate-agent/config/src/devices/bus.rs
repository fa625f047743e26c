//! Transports: serial ports and Modbus buses (TCP or RTU), with their
//! timeouts, retries and queue. A bus's transport is read as two keys
//! (`tcp`, `rtu`: `RawBus`) and held as one [`Transport`].

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::BackoffConfig;

use super::{exactly_one, in_section, ConfigCheckError, Problem, Section, Typed};

/// Serial parity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// A serial port: an RS-485/RS-232 adapter or a pseudo-terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialPortConfig {
    /// Device path, e.g. `/dev/ttyUSB0` or a pty link made by socat.
    pub path: PathBuf,
    /// Baud rate (default 9600).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// "none" (default), "even" or "odd".
    #[serde(default)]
    pub parity: Parity,
    /// Data bits, 5..=8 (default 8; Toledo indicators often use 7 with even parity).
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Stop bits, 1 or 2 (default 1).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}

impl SerialPortConfig {
    /// A port with the defaults (9600 8N1).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            baud: default_baud(),
            parity: Parity::None,
            data_bits: default_data_bits(),
            stop_bits: default_stop_bits(),
        }
    }

    pub fn validate(&self) -> Result<(), SerialPortError> {
        if self.path.as_os_str().is_empty() {
            return Err(SerialPortError::EmptyPath);
        }
        if !(50..=4_000_000).contains(&self.baud) {
            return Err(SerialPortError::Baud(self.baud));
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(SerialPortError::DataBits(self.data_bits));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(SerialPortError::StopBits(self.stop_bits));
        }
        Ok(())
    }

    /// Bits on the wire per character (start + data + parity + stop).
    pub fn bits_per_char(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// The tokio-serial builder for this port.
    #[cfg(feature = "serial")]
    pub fn builder(&self) -> tokio_serial::SerialPortBuilder {
        let path = self.path.to_string_lossy().into_owned();
        tokio_serial::new(path, self.baud)
            .parity(match self.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
            })
            .data_bits(match self.data_bits {
                5 => tokio_serial::DataBits::Five,
                6 => tokio_serial::DataBits::Six,
                7 => tokio_serial::DataBits::Seven,
                _ => tokio_serial::DataBits::Eight,
            })
            .stop_bits(if self.stop_bits == 2 {
                tokio_serial::StopBits::Two
            } else {
                tokio_serial::StopBits::One
            })
    }
}

/// A [`SerialPortConfig`] value out of range ([`SerialPortConfig::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SerialPortError {
    #[error("serial port path is empty")]
    EmptyPath,
    #[error("baud {0} not in 50..=4000000")]
    Baud(u32),
    #[error("data_bits {0} not in 5..=8")]
    DataBits(u8),
    #[error("stop_bits {0} must be 1 or 2")]
    StopBits(u8),
}

/// One Modbus bus: a TCP connection or an RS-485 line. One task serves it
/// and serialises the requests of every device on it.
///
/// ```toml
/// [[buses]]
/// name = "rs485-1"
/// rtu = { path = "/dev/ttyUSB0", baud = 19200, parity = "even" }
///
/// [[buses]]
/// name = "board"
/// tcp = "127.0.0.1:1502"
/// ```
///
/// The file gives the transport as exactly one of the keys `tcp` and `rtu`
/// (`RawBus`, typed by `TryFrom`); written back, [`Transport`] is that key
/// again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBus")]
pub struct ModbusBusConfig {
    /// Bus name, referenced by devices (`bus = "..."`).
    pub name: String,
    /// `tcp` (Modbus TCP: `host:port` of the device or gateway) or `rtu`
    /// (Modbus RTU on a serial line).
    #[serde(flatten)]
    pub transport: Transport,
    /// Time allowed for one request's answer, ms (default 300).
    pub request_timeout_ms: u64,
    /// Time allowed to open the connection / port, ms (default 2000).
    pub connect_timeout_ms: u64,
    /// Extra attempts after a timeout or transport error (default 1). Never
    /// after a Modbus exception, never for momentary commands (a retried
    /// "raise" could admit two vehicles). A unit that timed out 3 times in a
    /// row gets no retries until it answers again, so a dead unit does not
    /// slow the rest of the line.
    pub retries: u8,
    /// Requests waiting for the bus, at most (default 32). A full queue
    /// fails new requests at once.
    pub queue_depth: usize,
    /// A request not started within this time is dropped (default 1000 ms):
    /// a late write (e.g. a raise) is worse than none.
    pub queue_timeout_ms: u64,
    /// RTU only: silence kept between two transactions, ms. Default: 3.5
    /// characters at the line's speed, at least 2 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_gap_ms: Option<u64>,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
}

/// The transport of a bus: in the file, the key `tcp` or the key `rtu`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Modbus TCP: `host:port` of the device or gateway.
    Tcp(String),
    /// Modbus RTU on a serial line.
    Rtu(SerialPortConfig),
}

/// A bus as the file writes it: the transport as two keys, exactly one of
/// them given (the defaults are the documented ones of [`ModbusBusConfig`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBus {
    name: String,
    #[serde(default)]
    tcp: Option<String>,
    #[serde(default)]
    rtu: Option<SerialPortConfig>,
    #[serde(default = "default_request_timeout")]
    request_timeout_ms: u64,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u8,
    #[serde(default = "default_queue_depth")]
    queue_depth: usize,
    #[serde(default = "default_queue_timeout")]
    queue_timeout_ms: u64,
    #[serde(default)]
    frame_gap_ms: Option<u64>,
    #[serde(default)]
    backoff: BackoffConfig,
}

fn default_request_timeout() -> u64 {
    300
}
fn default_connect_timeout() -> u64 {
    2000
}
fn default_retries() -> u8 {
    1
}
fn default_queue_depth() -> usize {
    32
}
fn default_queue_timeout() -> u64 {
    1000
}

impl TryFrom<RawBus> for ModbusBusConfig {
    type Error = ConfigCheckError;

    /// Fails when the file gives both of `tcp` and `rtu`, or neither.
    fn try_from(raw: RawBus) -> Result<Self, ConfigCheckError> {
        let transport = exactly_one(
            [raw.tcp.map(Transport::Tcp), raw.rtu.map(Transport::Rtu)],
            || in_section(Section::Bus, &raw.name)(Problem::BusTransport),
        )?;
        Ok(Self {
            name: raw.name,
            transport,
            request_timeout_ms: raw.request_timeout_ms,
            connect_timeout_ms: raw.connect_timeout_ms,
            retries: raw.retries,
            queue_depth: raw.queue_depth,
            queue_timeout_ms: raw.queue_timeout_ms,
            frame_gap_ms: raw.frame_gap_ms,
            backoff: raw.backoff,
        })
    }
}

impl Typed<ModbusBusConfig> for RawBus {
    /// A bus's checks begin with its name: an unnamed bus is that problem
    /// before its transport is.
    fn typed(&self) -> Result<Cow<'_, ModbusBusConfig>, ConfigCheckError> {
        if self.name.trim().is_empty() {
            return Err(ConfigCheckError::EmptyBusName);
        }
        ModbusBusConfig::try_from(self.clone()).map(Cow::Owned)
    }
}

impl ModbusBusConfig {
    /// A TCP bus with default timings.
    pub fn tcp(name: &str, address: &str) -> Self {
        Self::with(name, Transport::Tcp(address.to_owned()))
    }

    /// An RTU bus with default timings.
    pub fn rtu(name: &str, port: SerialPortConfig) -> Self {
        Self::with(name, Transport::Rtu(port))
    }

    fn with(name: &str, transport: Transport) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            request_timeout_ms: default_request_timeout(),
            connect_timeout_ms: default_connect_timeout(),
            retries: default_retries(),
            queue_depth: default_queue_depth(),
            queue_timeout_ms: default_queue_timeout(),
            frame_gap_ms: None,
            backoff: BackoffConfig::default(),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }

    /// RTU inter-transaction silence (see `frame_gap_ms`).
    pub fn frame_gap(&self) -> Duration {
        if let Some(ms) = self.frame_gap_ms {
            return Duration::from_millis(ms);
        }
        match &self.transport {
            Transport::Rtu(p) => {
                let secs = 3.5 * f64::from(p.bits_per_char()) / f64::from(p.baud.max(1));
                Duration::from_secs_f64(secs).max(Duration::from_millis(2))
            }
            Transport::Tcp(_) => Duration::ZERO,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Bus, &self.name);
        if self.name.trim().is_empty() {
            return Err(ConfigCheckError::EmptyBusName);
        }
        match &self.transport {
            Transport::Tcp(a) => {
                let ok = a
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                if !ok {
                    return Err(ctx(Problem::TcpAddress(a.clone())));
                }
            }
            Transport::Rtu(p) => p.validate().map_err(|e| ctx(e.into()))?,
        }
        if !(10..=60_000).contains(&self.request_timeout_ms) {
            return Err(ctx(Problem::RequestTimeout(self.request_timeout_ms)));
        }
        if !(10..=60_000).contains(&self.connect_timeout_ms) {
            return Err(ctx(Problem::ConnectTimeout(self.connect_timeout_ms)));
        }
        if self.retries > 5 {
            return Err(ctx(Problem::Retries(self.retries)));
        }
        if !(1..=1024).contains(&self.queue_depth) {
            return Err(ctx(Problem::QueueDepth(self.queue_depth)));
        }
        if self.queue_timeout_ms == 0 {
            return Err(ctx(Problem::QueueTimeout));
        }
        if let Some(gap) = self.frame_gap_ms.filter(|g| *g > 1000) {
            return Err(ctx(Problem::FrameGap(gap)));
        }
        self.backoff.validate().map_err(|e| ctx(e.into()))
    }
}
