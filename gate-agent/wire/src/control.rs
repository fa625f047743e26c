//! The control-socket protocol (docs/control-protocol.md): one JSON object
//! per line each way, a version field, bounded request size.
//!
//! Layer: wire format only (sans-IO). [`parse_request`] turns one received
//! line into a validated [`Envelope`] or a [`ProtocolError`] that already
//! knows its error code and the request id when it could be read;
//! [`Response`] is what goes back; [`line`] frames both (one bounded line
//! each way). The data types of the answers are here too, shared by the
//! server (which fills them) and `gatectl` (which reads them), so both ends
//! agree by construction. Nothing here does I/O or knows the agent.

mod data;
pub mod line;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use data::{
    AlarmRow, AlarmsData, BarrierData, BoardIo, CaptureData, CheckRow, DeviceRow, DevicesData,
    EventRow, EventsData, HoldRow, IoCounters, IoData, IoStatus, LaneBoard, LinkView, LookupData,
    OutboxData, ReloadData, RestartData, SelftestData, Source, StagingView, StatusData, SyncData,
    VersionData, WeighData, WeightView, WhitelistCountsView,
};

/// Protocol version spoken by this build (`"v"` of every line).
pub const VERSION: u32 = 1;
/// Longest request line accepted, bytes (newline included).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest response line a client should accept, bytes: a camera frame of
/// the largest configurable size (64 MiB) in base64, plus room.
pub const MAX_RESPONSE_BYTES: usize = 96 * 1024 * 1024;
/// Longest officer id and reason accepted by `barrier`.
pub const MAX_OFFICER_LEN: usize = 64;
pub const MAX_REASON_LEN: usize = 256;
/// Most events one `events` request returns.
pub const MAX_EVENTS: usize = 1000;

// ------------------------------------------------------------------ requests

/// The envelope of a request line, before its arguments are typed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    args: Option<Value>,
    /// Unix ms after which the request must not be carried out (the client
    /// has given up on it by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline_ms: Option<i64>,
}

/// A validated request with the id the answer must carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub id: Option<u64>,
    pub request: Request,
    /// Unix ms after which the request must not be carried out: a client
    /// that timed out has given up, and its action must never happen later
    /// (an agent stopped with SIGSTOP, then resumed).
    pub deadline_ms: Option<i64>,
}

/// What a client may ask.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Agent and protocol version, site and lane.
    Version,
    /// Lane state, board, LED, link, whitelist, outbox, clock, decisions.
    Status,
    /// Health of every device.
    Devices,
    /// Board inputs and outputs.
    Io,
    /// Raise or lower the barrier as an officer action.
    Barrier(BarrierArgs),
    /// An officer's action on the vehicle in the lane: release or hold
    /// override, re-read, or typed data the lane decides again on.
    Officer(OfficerArgs),
    /// Close a device's connection and open it again (audited).
    Restart(RestartArgs),
    /// Read the configuration file again: checked first (a bad file changes
    /// nothing); policy and sequence settings apply between passages, other
    /// changed sections are listed as needing a restart (audited).
    Reload(ReloadArgs),
    /// Live weight.
    Weigh,
    /// One JPEG from a configured camera.
    Capture(CaptureArgs),
    /// Whitelist records for one key.
    Lookup(LookupArgs),
    /// Recent finished events.
    Events(EventsArgs),
    /// Outbox figures.
    Outbox,
    /// Whitelist sync state; optionally ask the platform for a resync.
    Sync(SyncArgs),
    /// Recent alarms.
    Alarms(AlarmsArgs),
    /// Check every configured device.
    Selftest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BarrierAction {
    Raise,
    Lower,
}

impl BarrierAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raise => "raise",
            Self::Lower => "lower",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierArgs {
    pub action: BarrierAction,
    /// Officer id (audited), 1..=64 printable characters.
    pub officer: String,
    /// Why (audited, kept as the event's note), 1..=256 characters.
    pub reason: String,
}

/// What an officer does to the vehicle in the lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficerActionKind {
    /// Exceptional release (O01).
    Release,
    /// Hold (O02).
    Hold,
    /// Send to the inspection area (O01, result inspect).
    Inspect,
    /// Re-trigger the identification devices.
    Regather,
    /// Typed data (`entry`): the lane decides again on it.
    Entry,
}

impl OfficerActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Hold => "hold",
            Self::Inspect => "inspect",
            Self::Regather => "regather",
            Self::Entry => "entry",
        }
    }
}

/// Data an officer typed (at least one value; each at most 32 characters,
/// at most 4 containers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailer_plate: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_no: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerArgs {
    pub action: OfficerActionKind,
    /// Officer id (audited), 1..=64 printable characters.
    pub officer: String,
    /// Why (audited, kept as the event's note), 1..=256 characters.
    pub reason: String,
    /// The typed data, for `entry` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryArgs>,
}

/// The answer to `officer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerData {
    pub action: OfficerActionKind,
    pub officer: String,
    /// The lane's answer.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartArgs {
    /// A device name (as `devices` lists it), `bus/<name>`, or a lane role
    /// (`plate_front`, `etag`, `scale`, `barrier`, ...), 1..=64 characters.
    pub device: String,
    /// Officer id (audited), 1..=64 printable characters.
    pub officer: String,
    /// Why (audited), 1..=256 characters.
    pub reason: String,
}

/// Who reloads and why (audited).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadArgs {
    /// Officer id (audited), 1..=64 printable characters.
    pub officer: String,
    /// Why (audited), 1..=256 characters.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureArgs {
    pub camera: String,
}

/// Which whitelist key a lookup uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupBy {
    Plate,
    Etag,
    PassNo,
    Container,
}

impl LookupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plate => "plate",
            Self::Etag => "etag",
            Self::PassNo => "pass_no",
            Self::Container => "container",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupArgs {
    pub by: LookupBy,
    /// 1..=64 characters.
    pub key: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsArgs {
    /// How many (newest first), 1..=1000, default 20.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only events with a larger seq (for polling).
    #[serde(default)]
    pub after_seq: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncArgs {
    #[serde(default)]
    pub resync: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsArgs {
    /// How many, newest first, default 50, at most 1000.
    #[serde(default)]
    pub limit: Option<usize>,
}

impl Request {
    /// The `cmd` string of this request.
    pub fn cmd(&self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Status => "status",
            Self::Devices => "devices",
            Self::Io => "io",
            Self::Barrier(_) => "barrier",
            Self::Officer(_) => "officer",
            Self::Restart(_) => "restart",
            Self::Reload(_) => "reload",
            Self::Weigh => "weigh",
            Self::Capture(_) => "capture",
            Self::Lookup(_) => "lookup",
            Self::Events(_) => "events",
            Self::Outbox => "outbox",
            Self::Sync(_) => "sync",
            Self::Alarms(_) => "alarms",
            Self::Selftest => "selftest",
        }
    }

    /// The arguments as sent (`None` for commands without any).
    fn args(&self) -> Option<Value> {
        let v = match self {
            Self::Barrier(a) => serde_json::to_value(a),
            Self::Officer(a) => serde_json::to_value(a),
            Self::Restart(a) => serde_json::to_value(a),
            Self::Reload(a) => serde_json::to_value(a),
            Self::Capture(a) => serde_json::to_value(a),
            Self::Lookup(a) => serde_json::to_value(a),
            Self::Events(a) => serde_json::to_value(a),
            Self::Sync(a) => serde_json::to_value(a),
            Self::Alarms(a) => serde_json::to_value(a),
            _ => return None,
        };
        v.ok()
    }

    /// The request line (with its newline) for `id`, without a deadline.
    pub fn emit(&self, id: Option<u64>) -> Vec<u8> {
        self.emit_until(id, None)
    }

    /// The request line for `id` that must not be carried out after
    /// `deadline_ms` (Unix ms).
    pub fn emit_until(&self, id: Option<u64>, deadline_ms: Option<i64>) -> Vec<u8> {
        let raw = RawRequest {
            v: VERSION,
            id,
            cmd: self.cmd().to_owned(),
            args: self.args(),
            deadline_ms,
        };
        let mut line = serde_json::to_vec(&raw).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// Check argument values serde cannot (lengths, ranges, characters).
    fn validate(&self) -> Result<(), ArgError> {
        match self {
            Self::Barrier(a) => {
                check_text("officer", &a.officer, MAX_OFFICER_LEN, false)?;
                check_text("reason", &a.reason, MAX_REASON_LEN, true)
            }
            Self::Officer(a) => {
                check_text("officer", &a.officer, MAX_OFFICER_LEN, false)?;
                check_text("reason", &a.reason, MAX_REASON_LEN, true)?;
                match (a.action, &a.entry) {
                    (OfficerActionKind::Entry, None) => Err(ArgError::EntryMissing),
                    (OfficerActionKind::Entry, Some(e)) => {
                        let values: Vec<&String> =
                            [&e.plate, &e.trailer_plate, &e.etag, &e.pass_no]
                                .into_iter()
                                .flatten()
                                .chain(&e.containers)
                                .collect();
                        if values.is_empty() {
                            return Err(ArgError::EntryEmpty);
                        }
                        if e.containers.len() > 4 {
                            return Err(ArgError::TooManyContainers(e.containers.len()));
                        }
                        for v in values {
                            check_text("entry value", v, 32, false)?;
                        }
                        Ok(())
                    }
                    (_, Some(_)) => Err(ArgError::EntryNotExpected),
                    (_, None) => Ok(()),
                }
            }
            Self::Restart(a) => {
                check_text("device", &a.device, 64, false)?;
                check_text("officer", &a.officer, MAX_OFFICER_LEN, false)?;
                check_text("reason", &a.reason, MAX_REASON_LEN, true)
            }
            Self::Reload(a) => {
                check_text("officer", &a.officer, MAX_OFFICER_LEN, false)?;
                check_text("reason", &a.reason, MAX_REASON_LEN, true)
            }
            Self::Capture(a) => check_text("camera", &a.camera, 64, false),
            Self::Lookup(a) => check_text("key", &a.key, 64, false),
            Self::Events(a) => match a.limit {
                Some(n) if n == 0 || n > MAX_EVENTS => Err(ArgError::Limit {
                    limit: n,
                    max: MAX_EVENTS,
                }),
                _ => Ok(()),
            },
            Self::Alarms(a) => match a.limit {
                Some(n) if n == 0 || n > 1000 => Err(ArgError::Limit {
                    limit: n,
                    max: 1000,
                }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// An argument value that serde accepts and the protocol does not
/// ([`Request::validate`]; the request is refused with `bad_request`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum ArgError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains control characters")]
    Control { field: &'static str },
    #[error("{field} contains white space")]
    WhiteSpace { field: &'static str },
    #[error("entry needs `entry` data")]
    EntryMissing,
    #[error("entry needs at least one value")]
    EntryEmpty,
    /// More than 4 containers (how many).
    #[error("at most 4 containers")]
    TooManyContainers(usize),
    #[error("`entry` data only with action entry")]
    EntryNotExpected,
    #[error("limit must be within 1..={max}")]
    Limit { limit: usize, max: usize },
}

/// Non-empty after trimming, at most `max` characters, no control
/// characters (spaces allowed only where `spaces`).
fn check_text(field: &'static str, s: &str, max: usize, spaces: bool) -> Result<(), ArgError> {
    if s.trim().is_empty() {
        return Err(ArgError::Empty { field });
    }
    if s.chars().count() > max {
        return Err(ArgError::TooLong { field, max });
    }
    if s.chars().any(char::is_control) {
        return Err(ArgError::Control { field });
    }
    if !spaces && s.chars().any(char::is_whitespace) {
        return Err(ArgError::WhiteSpace { field });
    }
    Ok(())
}

/// Why a request line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The request id, when the line was readable enough to have one.
    pub id: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    fn new(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The answer to send back.
    pub fn response(&self) -> Response {
        Response::err(self.id, self.code, self.message.clone())
    }
}

fn typed<T: DeserializeOwned + Default>(
    id: Option<u64>,
    cmd: &str,
    args: Option<Value>,
) -> Result<T, ProtocolError> {
    match args {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => required(id, cmd, Some(v)),
    }
}

fn required<T: DeserializeOwned>(
    id: Option<u64>,
    cmd: &str,
    args: Option<Value>,
) -> Result<T, ProtocolError> {
    let v = args.unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| {
        ProtocolError::new(
            id,
            ErrorCode::BadRequest,
            format!("bad args for `{cmd}`: {e}"),
        )
    })
}

/// Parse one request line (the trailing newline, if any, is ignored).
pub fn parse_request(line: &[u8]) -> Result<Envelope, ProtocolError> {
    if line.len() > MAX_REQUEST_BYTES {
        return Err(ProtocolError::new(
            None,
            ErrorCode::TooLarge,
            format!("request longer than {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        ProtocolError::new(
            None,
            ErrorCode::BadRequest,
            format!("not a JSON object: {e}"),
        )
    })?;
    // The id first, so that even a refused request gets an answer it can match.
    let id = value.get("id").and_then(Value::as_u64);
    if !value.is_object() {
        return Err(ProtocolError::new(
            None,
            ErrorCode::BadRequest,
            "a request is a JSON object",
        ));
    }
    match value.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(ProtocolError::new(
                id,
                ErrorCode::UnsupportedVersion,
                format!("protocol version {v} not supported; this agent speaks {VERSION}"),
            ))
        }
        None => {
            return Err(ProtocolError::new(
                id,
                ErrorCode::BadRequest,
                "missing or non-integer `v` (protocol version)",
            ))
        }
    }
    let raw: RawRequest = serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(id, ErrorCode::BadRequest, format!("bad request: {e}")))?;
    let cmd = raw.cmd.as_str();
    let no_args = |args: &Option<Value>| -> Result<(), ProtocolError> {
        match args {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(m)) if m.is_empty() => Ok(()),
            Some(_) => Err(ProtocolError::new(
                id,
                ErrorCode::BadRequest,
                format!("`{cmd}` takes no args"),
            )),
        }
    };
    let request = match cmd {
        "version" => no_args(&raw.args).map(|()| Request::Version)?,
        "status" => no_args(&raw.args).map(|()| Request::Status)?,
        "devices" => no_args(&raw.args).map(|()| Request::Devices)?,
        "io" => no_args(&raw.args).map(|()| Request::Io)?,
        "weigh" => no_args(&raw.args).map(|()| Request::Weigh)?,
        "outbox" => no_args(&raw.args).map(|()| Request::Outbox)?,
        "selftest" => no_args(&raw.args).map(|()| Request::Selftest)?,
        "barrier" => Request::Barrier(required(id, cmd, raw.args)?),
        "officer" => Request::Officer(required(id, cmd, raw.args)?),
        "restart" => Request::Restart(required(id, cmd, raw.args)?),
        "reload" => Request::Reload(required(id, cmd, raw.args)?),
        "capture" => Request::Capture(required(id, cmd, raw.args)?),
        "lookup" => Request::Lookup(required(id, cmd, raw.args)?),
        "events" => Request::Events(typed(id, cmd, raw.args)?),
        "sync" => Request::Sync(typed(id, cmd, raw.args)?),
        "alarms" => Request::Alarms(typed(id, cmd, raw.args)?),
        other => {
            return Err(ProtocolError::new(
                id,
                ErrorCode::UnknownCommand,
                format!("unknown command `{}`", printable(other, 40)),
            ))
        }
    };
    request
        .validate()
        .map_err(|m| ProtocolError::new(id, ErrorCode::BadRequest, format!("{cmd}: {m}")))?;
    Ok(Envelope {
        id,
        request,
        deadline_ms: raw.deadline_ms,
    })
}

/// At most `max` characters of `s`, control characters replaced.
fn printable(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

// ------------------------------------------------------------------ responses

/// Machine-readable class of an error answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not a valid request (JSON, fields, argument values).
    BadRequest,
    /// `v` is not a version this agent speaks.
    UnsupportedVersion,
    /// The request line exceeds [`MAX_REQUEST_BYTES`]; the connection closes.
    TooLarge,
    UnknownCommand,
    /// The lane refused the action (safety rule, state); `error` says why.
    Refused,
    /// The thing asked about is not configured or not known (camera name...).
    NotFound,
    /// The device or the lane task did not answer (in time).
    Unavailable,
    /// Too many clients connected; try again.
    Busy,
    /// The request arrived (or reached the lane) after its `deadline_ms`:
    /// not carried out.
    Expired,
    /// Something failed inside the agent (store error...).
    Internal,
}

/// One response line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

impl Response {
    pub fn ok<T: Serialize>(id: Option<u64>, data: &T) -> Self {
        match serde_json::to_value(data) {
            Ok(v) => Self {
                v: VERSION,
                id,
                ok: true,
                data: Some(v),
                error: None,
                code: None,
            },
            Err(e) => Self::err(id, ErrorCode::Internal, format!("answer not encoded: {e}")),
        }
    }

    pub fn err(id: Option<u64>, code: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            v: VERSION,
            id,
            ok: false,
            data: None,
            error: Some(error.into()),
            code: Some(code),
        }
    }

    /// The line to send (with its newline).
    pub fn emit(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"v":1,"ok":false,"error":"answer not encoded","code":"internal"}"#.to_vec()
        });
        line.push(b'\n');
        line
    }

    /// Parse a response line.
    pub fn parse(line: &[u8]) -> Result<Self, ResponseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let r: Self = serde_json::from_slice(line).map_err(ResponseError::Json)?;
        if r.v != VERSION {
            return Err(ResponseError::Version(r.v));
        }
        Ok(r)
    }

    /// The typed data of a successful answer.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, ResponseError> {
        let v = self.data.clone().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(ResponseError::Data)
    }
}

/// A response line `gatectl` cannot use ([`Response::parse`],
/// [`Response::data`]).
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Not JSON, or not a response.
    #[error("bad response from the agent: {0}")]
    Json(#[source] serde_json::Error),
    /// Another protocol version (the agent's).
    #[error("the agent speaks protocol version {0}, this gatectl {VERSION}")]
    Version(u32),
    /// The data is not what the command answers.
    #[error("unexpected answer from the agent: {0}")]
    Data(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests;
