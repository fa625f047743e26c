//! `gate-config`: the lane configuration (TOML): identity, store, platform
//! link, policy, timeouts, devices ([`devices`]), cameras, control socket.
//!
//! Layer: data and checks only (sans-IO besides reading the file; the
//! `serial` feature adds the tokio-serial builder of a serial port,
//! `password` the console accounts' argon2 hashes ([`password`]), `cli`
//! the agent's command line ([`cli`])). The
//! agent re-exports this crate as `gate_agent::config` and [`devices`] /
//! [`backoff`] as `gate_agent::drivers::{config, backoff}`.
//!
//! Unknown keys are errors everywhere; every error names file, line and column
//! ([`toml_load`]). [`Config::check`] adds the semantic checks that serde
//! cannot express (ids, key material, exclusive resources such as two devices
//! on one TCP port with the same unit id).

pub mod backoff;
pub mod build;
#[cfg(feature = "cli")]
pub mod cli;
pub mod devices;
#[cfg(feature = "password")]
pub mod password;
pub mod toml_load;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use toml_load::ConfigError;

/// Lane identity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LaneIdentity {
    /// Port (site) id, `[A-Z0-9-]{1,16}`, e.g. `HK-XINHAI`.
    pub site: String,
    /// Lane (channel) id, `[A-Z0-9-]{1,16}`, e.g. `L03`.
    pub lane: String,
    /// "exit" (Hainan -> mainland, the controlled direction) or "entry".
    #[serde(default = "default_direction")]
    pub direction: gate_proto::messages::Direction,
    /// Simulation only: lane time runs this many times faster than real time
    /// (the simulator's devices run at the same scale). 1.0 on a real lane.
    #[serde(default = "one")]
    pub time_scale: f64,
}

fn default_direction() -> gate_proto::messages::Direction {
    gate_proto::messages::Direction::Exit
}

fn one() -> f64 {
    1.0
}

/// Where the lane database lives and how big the outbox may grow.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// SQLite file (created when missing).
    pub path: PathBuf,
    /// Disk quota of the outbox in MiB (default 2048: > 72 h of a busy lane's
    /// events and photos). At 80 % an alarm rises; photos are evicted before
    /// events; events are never dropped.
    #[serde(default = "default_quota_mb")]
    pub outbox_quota_mb: u64,
}

fn default_quota_mb() -> u64 {
    2048
}

/// TLS material for the MQTT connection (production).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM file of the CA that signs the broker's certificate.
    pub ca: PathBuf,
    /// PEM client certificate and key (mutual TLS).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The platform link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlatformSection {
    /// `mqtt://host:port` (plain TCP: loopback, tests) or `mqtts://host:port` (TLS).
    pub broker: String,
    #[serde(default = "default_keepalive")]
    pub keepalive_s: u64,
    pub tls: Option<TlsSection>,
    /// The platform's Ed25519 public keys by key id (base64 of 32 bytes).
    /// Signed whitelist batches and commands must verify with one of them.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Allowed clock skew when checking command expiry, seconds (default 30).
    #[serde(default = "default_skew")]
    pub clock_skew_s: u64,
    /// Period of the retained status message, seconds (default 10).
    #[serde(default = "default_status_interval")]
    pub status_interval_s: u64,
}

fn default_keepalive() -> u64 {
    30
}
fn default_skew() -> u64 {
    30
}
fn default_status_interval() -> u64 {
    10
}

/// The local control endpoint used by `gatectl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Unix socket path; its permissions decide who may use it.
    pub socket: PathBuf,
    /// File mode of the socket (default 0o660: owner and group).
    #[serde(default = "default_socket_mode")]
    pub mode: u32,
}

fn default_socket_mode() -> u32 {
    0o660
}

/// The officer's booth console (docs/console.md): a web page served by the
/// agent. Plain HTTP only on a loopback address; otherwise `tls` is needed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Address and port, e.g. "127.0.0.1:8080" or "0.0.0.0:8443" (with TLS).
    pub listen: std::net::SocketAddr,
    /// Certificate chain and key (PEM) for HTTPS.
    #[serde(default)]
    pub tls: Option<ConsoleTls>,
    /// A session unused this long ends (default 30 min).
    #[serde(default = "default_idle_min")]
    pub session_idle_min: u32,
    /// A session ends this long after the login whatever happens (default 12 h).
    #[serde(default = "default_session_h")]
    pub session_max_h: u32,
    /// Who may log in (`gatectl officer add` prints an entry).
    #[serde(default)]
    pub accounts: Vec<ConsoleAccount>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What a console account may do.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleRole {
    /// Every officer action (entry, re-gather, overrides, the arm).
    Officer,
    /// Read-only, plus restarting a device.
    Engineer,
    /// Read-only.
    Viewer,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleAccount {
    /// Officer id, audited with every action (1..=64 printable characters).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    pub role: ConsoleRole,
    /// Argon2 password hash in PHC format (`$argon2id$...`).
    pub password_hash: String,
}

fn default_idle_min() -> u32 {
    30
}
fn default_session_h() -> u32 {
    12
}

/// The metrics and health endpoint (Prometheus text at `/metrics`,
/// `/healthz`, `/readyz`; docs/operations.md). Plain HTTP, read-only: bind
/// it to loopback or to the port's monitoring network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address and port to listen on, e.g. "127.0.0.1:9464".
    pub listen: std::net::SocketAddr,
}

impl ConsoleSection {
    /// Semantic checks: (dotted key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            p.push((
                "console.listen".into(),
                format!(
                    "{} is not a loopback address: the console needs [console.tls] (passwords and sessions must not cross a network in clear)",
                    self.listen
                ),
            ));
        }
        if !(1..=24 * 60).contains(&self.session_idle_min) {
            p.push((
                "console.session_idle_min".into(),
                "must be within 1..=1440".into(),
            ));
        }
        if !(1..=72).contains(&self.session_max_h) {
            p.push((
                "console.session_max_h".into(),
                "must be within 1..=72".into(),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = format!("console.accounts.{i}");
            if a.id.is_empty() || a.id.chars().count() > 64 || a.id.chars().any(char::is_control) {
                p.push((
                    format!("{key}.id"),
                    "must be 1..=64 printable characters".into(),
                ));
            }
            if !ids.insert(a.id.as_str()) {
                p.push((format!("{key}.id"), format!("`{}` defined twice", a.id)));
            }
            if !a.password_hash.starts_with("$argon2") {
                p.push((
                    format!("{key}.password_hash"),
                    "not an argon2 hash in PHC format (`gatectl officer add` makes one)".into(),
                ));
            }
        }
        p
    }
}

/// A broker URL that [`parse_broker_url`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    #[error("broker `{url}` must start with mqtt:// or mqtts://")]
    Scheme { url: String },
    #[error("broker `{url}`: bad port `{port}`")]
    Port {
        url: String,
        port: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("broker `{url}` has no host")]
    NoHost { url: String },
}

/// Parse a broker URL `mqtt://host:port` / `mqtts://host:port` into (tls, host, port).
pub fn parse_broker_url(url: &str) -> Result<(bool, String, u16), BrokerUrlError> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(BrokerUrlError::Scheme {
            url: url.to_owned(),
        });
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|source| BrokerUrlError::Port {
                url: url.to_owned(),
                port: p.to_owned(),
                source,
            })?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(BrokerUrlError::NoHost {
            url: url.to_owned(),
        });
    }
    Ok((tls, host.to_owned(), port))
}

/// Where a file named in the configuration is, relative to the config file.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[cfg(test)]
mod tests;

// ------------------------------------------------------------ the whole file

use crate::devices::{
    CameraSection, ConfigCheckError, DriversConfig, ModbusBusConfig, RawDrivers, Typed,
    WeighbridgeConfig,
};
use gate_core::lane::LaneConfig;
use gate_core::policy::Policy;

/// Which configured device plays which role in the lane sequence.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// Camera names (`[[devices.cameras]] name`).
    pub plate_front: Option<String>,
    pub plate_rear: Option<String>,
    pub container_front: Option<String>,
    pub container_back: Option<String>,
    /// RFID reader names (`[[devices.rfid]] name`).
    pub etag: Option<String>,
    pub eseal: Option<String>,
}

impl Roles {
    /// (role, device name) for every role filled.
    pub fn assigned(&self) -> Vec<(gate_core::identified::Device, &str)> {
        use gate_core::identified::Device as D;
        [
            (D::PlateFront, &self.plate_front),
            (D::PlateRear, &self.plate_rear),
            (D::ContainerFront, &self.container_front),
            (D::ContainerBack, &self.container_back),
            (D::Etag, &self.etag),
            (D::Eseal, &self.eseal),
        ]
        .into_iter()
        .filter_map(|(d, n)| n.as_deref().map(|n| (d, n)))
        .collect()
    }

    /// The role of an identification device (`None` for the scale and the
    /// barrier, which have no role to fill).
    pub fn slot_mut(
        &mut self,
        device: gate_core::identified::Device,
    ) -> Option<&mut Option<String>> {
        use gate_core::identified::Device as D;
        match device {
            D::PlateFront => Some(&mut self.plate_front),
            D::PlateRear => Some(&mut self.plate_rear),
            D::ContainerFront => Some(&mut self.container_front),
            D::ContainerBack => Some(&mut self.container_back),
            D::Etag => Some(&mut self.etag),
            D::Eseal => Some(&mut self.eseal),
            D::Scale | D::Barrier => None,
        }
    }
}

/// How the agent writes its log (stdout; the journal under systemd).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` (default: one human-readable line per event, colours only on
    /// a terminal) or `json` (one JSON object per line, for a log shipper).
    /// `gate-agent --log-format` overrides it.
    #[serde(default)]
    pub format: LogFormat,
}

/// The log's line format.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Wall-clock trust.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClockSection {
    /// Treat the wall clock as synchronised without asking the kernel
    /// (simulation, or a lane with a trusted RTC). Default false: the agent
    /// asks the kernel (adjtimex) and flags events stamped before sync.
    #[serde(default)]
    pub assume_synced: bool,
}

/// On-board recognition (cameras with `recognition = "onboard"`): the
/// gate-ocr models and the recognition worker (docs/drivers.md, Cameras).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecognitionSection {
    /// Where the models are (relative: to the config file). Default:
    /// `$GATE_OCR_MODELS`, else `$XDG_CACHE_HOME/gate-agent/models`, else
    /// `~/.cache/gate-agent/models`.
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// Fetch missing models at start (`python3 -m pip download` of the
    /// pinned wheel, sha256-checked). Default true; false on a lane without
    /// internet access (models put in `models_dir` beforehand).
    #[serde(default = "yes")]
    pub fetch: bool,
    /// Frames read per camera and vehicle, combined by voting (default 3).
    #[serde(default = "default_frames")]
    pub frames: u32,
    /// Frames a camera may submit per vehicle at most, read or not (default
    /// 8): bounds the work spent on a camera that sees nothing.
    #[serde(default = "default_max_frames")]
    pub max_frames: u32,
    /// Recognition worker threads (default 1).
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Frames waiting for a worker, at most (default 8). When full, the
    /// oldest waiting frame is dropped (its camera is told) and counted.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
}

fn yes() -> bool {
    true
}
fn default_frames() -> u32 {
    3
}
fn default_max_frames() -> u32 {
    8
}
fn default_workers() -> u32 {
    1
}
fn default_queue_depth() -> usize {
    8
}

impl Default for RecognitionSection {
    fn default() -> Self {
        Self {
            models_dir: None,
            fetch: true,
            frames: default_frames(),
            max_frames: default_max_frames(),
            workers: default_workers(),
            queue_depth: default_queue_depth(),
        }
    }
}

/// A lane's whole configuration (`gate-agent --config FILE`).
///
/// `Devices` is the typed [`DriversConfig`]; [`Config::parse`] reads the
/// file with `[devices]` as written first (`RawDrivers`), checks it and
/// types it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config<Devices = DriversConfig> {
    pub lane: LaneIdentity,
    pub store: StoreSection,
    pub platform: PlatformSection,
    /// The gatectl endpoint (absent: no local control).
    #[serde(default)]
    pub control: Option<ControlSection>,
    /// The metrics and health endpoint (absent: off).
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
    /// The officer's booth console (absent: off).
    #[serde(default)]
    pub console: Option<ConsoleSection>,
    /// The decision policy (docs/reasons.md).
    #[serde(default)]
    pub policy: Policy,
    /// Lane sequence timeouts (docs/lane-sequence.md), in lane milliseconds.
    #[serde(default)]
    pub sequence: LaneConfig,
    #[serde(default)]
    pub roles: Roles,
    #[serde(default)]
    pub clock: ClockSection,
    /// Buses, the board, the weighbridge, RFID readers, cameras (docs/drivers.md).
    #[serde(default)]
    pub devices: Devices,
    /// On-board recognition of plates and container codes.
    #[serde(default)]
    pub recognition: RecognitionSection,
    /// The log's format.
    #[serde(default)]
    pub log: LogSection,
}

impl Config {
    /// Read, parse and check a configuration file. Errors carry file, line and
    /// column; every semantic problem is reported, not only the first.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::at(path, None, format!("cannot read: {e}"))])?;
        Self::parse(path, &text)
    }

    /// Parse and check configuration text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
        let mut cfg: Config<RawDrivers> = toml_load::parse_all(path, text)?;
        if cfg.devices.profiles_dir.is_relative() {
            cfg.devices.profiles_dir = resolve(path, &cfg.devices.profiles_dir);
        }
        if cfg.store.path.is_relative() {
            cfg.store.path = resolve(path, &cfg.store.path);
        }
        if let Some(dir) = cfg.recognition.models_dir.as_mut() {
            if dir.is_relative() {
                *dir = resolve(path, dir);
            }
        }
        let mut problems = problems(&cfg);
        if problems.is_empty() {
            match cfg.into_typed() {
                Ok(cfg) => return Ok(cfg),
                Err(e) => problems.push(("devices".into(), e.to_string())),
            }
        }
        let doc = text.parse::<toml_edit::ImDocument<String>>().ok();
        Err(problems
            .into_iter()
            .map(|(key, msg)| {
                let offset = doc.as_ref().and_then(|d| locate(d, &key));
                ConfigError::at(path, offset.map(|o| (text, o)), format!("{key}: {msg}"))
            })
            .collect())
    }

    /// Semantic checks serde cannot express: (dotted key, message) pairs.
    pub fn check(&self) -> Vec<(String, String)> {
        problems(self)
    }

    /// The MQTT topics of this lane.
    pub fn topics(&self) -> gate_proto::topics::LaneTopics {
        gate_proto::topics::LaneTopics::new(&self.lane.site, &self.lane.lane)
    }
}

impl Config<RawDrivers> {
    /// The configuration with its `[devices]` typed (see
    /// [`RawDrivers::into_typed`]).
    fn into_typed(self) -> Result<Config, ConfigCheckError> {
        Ok(Config {
            devices: self.devices.into_typed()?,
            lane: self.lane,
            store: self.store,
            platform: self.platform,
            control: self.control,
            metrics: self.metrics,
            console: self.console,
            policy: self.policy,
            sequence: self.sequence,
            roles: self.roles,
            clock: self.clock,
            recognition: self.recognition,
            log: self.log,
        })
    }
}

/// [`Config::check`] of the file as read or typed (the same problems in the
/// same order: a section whose choice the file got wrong is one of them).
fn problems<Bus, Scale, Camera>(
    cfg: &Config<DriversConfig<Bus, Scale, Camera>>,
) -> Vec<(String, String)>
where
    Bus: Typed<ModbusBusConfig>,
    Scale: Typed<WeighbridgeConfig>,
    Camera: CameraSection,
{
    let mut p: Vec<(String, String)> = Vec::new();
    if !gate_proto::valid_id(&cfg.lane.site) {
        p.push((
            "lane.site".into(),
            format!("`{}` is not [A-Z0-9-]{{1,16}}", cfg.lane.site),
        ));
    }
    if !gate_proto::valid_id(&cfg.lane.lane) {
        p.push((
            "lane.lane".into(),
            format!("`{}` is not [A-Z0-9-]{{1,16}}", cfg.lane.lane),
        ));
    }
    if !(cfg.lane.time_scale.is_finite() && (0.1..=100.0).contains(&cfg.lane.time_scale)) {
        p.push(("lane.time_scale".into(), "must be within 0.1..=100".into()));
    }
    if cfg.store.outbox_quota_mb == 0 {
        p.push(("store.outbox_quota_mb".into(), "must be > 0".into()));
    }
    match parse_broker_url(&cfg.platform.broker) {
        Ok((tls, _, _)) if tls && cfg.platform.tls.is_none() => p.push((
            "platform.broker".into(),
            "mqtts:// needs a [platform.tls] section".into(),
        )),
        Ok(_) => {}
        Err(e) => p.push(("platform.broker".into(), e.to_string())),
    }
    if cfg.platform.keys.is_empty() {
        p.push((
            "platform.keys".into(),
            "no platform public key: signed whitelist batches and commands could never be accepted"
                .into(),
        ));
    }
    for (kid, key) in &cfg.platform.keys {
        if let Err(e) = gate_proto::sign::parse_public_key(key) {
            p.push((format!("platform.keys.{kid}"), e.to_string()));
        }
    }
    if let Some(c) = &cfg.console {
        p.extend(c.check());
    }
    if cfg.platform.keepalive_s == 0 || cfg.platform.keepalive_s > 3600 {
        p.push((
            "platform.keepalive_s".into(),
            "must be within 1..=3600".into(),
        ));
    }
    let pol = &cfg.policy;
    if !(pol.weight_tolerance_pct.is_finite() && (0.0..=50.0).contains(&pol.weight_tolerance_pct)) {
        p.push((
            "policy.weight_tolerance_pct".into(),
            "must be within 0..=50".into(),
        ));
    }
    if !(pol.scale.max_kg > 0.0
        && pol.scale.division_kg > 0.0
        && pol.scale.division_kg < pol.scale.max_kg)
    {
        p.push((
            "policy.scale".into(),
            "max_kg and division_kg must be > 0, division < max".into(),
        ));
    }
    for (k, v) in [
        ("policy.min_plate_confidence", pol.min_plate_confidence),
        (
            "policy.min_container_confidence",
            pol.min_container_confidence,
        ),
    ] {
        if !(0.0..=1.0).contains(&v) {
            p.push((k.into(), "must be within 0..=1".into()));
        }
    }
    let s = &cfg.sequence;
    for (k, v) in [
        ("sequence.identify_timeout_ms", s.identify_timeout_ms),
        ("sequence.weigh_timeout_ms", s.weigh_timeout_ms),
        ("sequence.decide_timeout_ms", s.decide_timeout_ms),
        ("sequence.pass_timeout_ms", s.pass_timeout_ms),
        ("sequence.clear_timeout_ms", s.clear_timeout_ms),
        ("sequence.hold_timeout_ms", s.hold_timeout_ms),
    ] {
        if !(100..=86_400_000).contains(&v) {
            p.push((k.into(), "must be within 100..=86400000 ms".into()));
        }
    }
    let r = &cfg.recognition;
    if !(1..=16).contains(&r.frames) {
        p.push(("recognition.frames".into(), "must be within 1..=16".into()));
    }
    if !(r.frames..=64).contains(&r.max_frames) {
        p.push((
            "recognition.max_frames".into(),
            "must be within frames..=64".into(),
        ));
    }
    if !(1..=8).contains(&r.workers) {
        p.push(("recognition.workers".into(), "must be within 1..=8".into()));
    }
    if !(1..=256).contains(&r.queue_depth) {
        p.push((
            "recognition.queue_depth".into(),
            "must be within 1..=256".into(),
        ));
    }
    // Camera recognition problems at the camera's own line.
    let mut camera_problems = Vec::new();
    for (i, c) in cfg.devices.cameras.iter().enumerate() {
        let recognition = c.recognition();
        if let Err(e) = recognition.validate() {
            let key = if recognition.mode.is_some() {
                format!("devices.cameras[{i}].recognition")
            } else {
                format!("devices.cameras[{i}]")
            };
            let e = e.to_string();
            camera_problems.push(e.clone());
            p.push((key, e));
        }
    }
    if let Err(e) = devices::check(&cfg.devices) {
        let e = e.to_string();
        if !camera_problems.contains(&e) {
            p.push(("devices".into(), e));
        }
    }
    if cfg.devices.board.is_none() {
        p.push(("devices.board".into(), "a lane needs its I/O board".into()));
    }
    let cams: Vec<&str> = cfg.devices.cameras.iter().map(|c| c.name()).collect();
    let readers: Vec<(&str, crate::devices::RfidKind)> = cfg
        .devices
        .rfid
        .iter()
        .map(|r| (r.name.as_str(), r.kind))
        .collect();
    for (role, name) in cfg.roles.assigned() {
        use crate::devices::RfidKind;
        use gate_core::identified::Device as D;
        let ok = match role {
            D::Etag => readers.contains(&(name, RfidKind::ETag)),
            D::Eseal => readers.contains(&(name, RfidKind::ESeal)),
            _ => cams.contains(&name),
        };
        if !ok {
            p.push((
                format!("roles.{}", role.as_str()),
                format!(
                    "no {} named `{name}` in [devices]",
                    if matches!(role, D::Etag | D::Eseal) {
                        "RFID reader of that kind"
                    } else {
                        "camera"
                    }
                ),
            ));
        }
    }
    p
}

/// Byte offset of a dotted key (`a.b.c`, `a.b[2].c` for the third table
/// of an array of tables) in a parsed document: the deepest part found.
fn locate(doc: &toml_edit::ImDocument<String>, key: &str) -> Option<usize> {
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut best = None;
    for part in key.split('.') {
        let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((n, i)) => (n, i.parse::<usize>().ok()),
            None => (part, None),
        };
        let Some((k, next)) = table.get_key_value(name) else {
            break;
        };
        best = k.span().map(|s| s.start).or(best);
        let next = match (index, next) {
            (Some(i), toml_edit::Item::ArrayOfTables(a)) => match a.get(i) {
                Some(t) => {
                    best = t.span().map(|s| s.start).or(best);
                    Some(t as &dyn toml_edit::TableLike)
                }
                None => None,
            },
            (None, item) => item.as_table_like(),
            _ => None,
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod file_tests;
