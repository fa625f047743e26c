//! A typed builder of lane configurations, for programs that start an agent
//! on devices they serve themselves: the simulator's scenario runner, the
//! agent bench and the agent's integration tests. One place knows the file's
//! shape: the builder fills [`Config`] (every default comes from the same
//! serde defaults as a file's), and [`Config::to_toml`] writes it; the agent
//! reads it back with [`Config::load`] like any lane's file.
//!
//! ```
//! use gate_config::{build::ConfigBuilder, devices::RfidKind, Config};
//! let mut b = ConfigBuilder::new("HK-XINHAI", "L03", "/var/lib/gate/lane.db", "mqtt://127.0.0.1:1883");
//! b.key("platform-test-1", "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=")
//!     .tcp_bus("board", "127.0.0.1:5020")
//!     .board("board", 1)
//!     .assume_synced();
//! b.tcp_bus("etag", "127.0.0.1:5021")
//!     .rfid("etag-reader", RfidKind::ETag, "etag", 1, "rfid-etag");
//! let text = b.to_toml().expect("serialisable");
//! let back = Config::parse("lane.toml".as_ref(), &text).expect("valid");
//! assert_eq!(back.devices.rfid[0].profile, "rfid-etag");
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::devices::{
    AsciiProtocol, BoardConfig, CameraConfig, ModbusBusConfig, RecognitionMode, RfidConfig,
    RfidKind, SerialPortConfig, WeighbridgeConfig,
};
use crate::Config;

/// A value of a configuration type built from its required keys, every
/// other field at its documented default (the type's serde defaults, as in
/// a file). A key the type does not have is a bug of this module, caught by
/// its tests.
fn with_defaults<T: DeserializeOwned>(required: toml::Table) -> T {
    T::deserialize(toml::Value::Table(required))
        .unwrap_or_else(|e| panic!("config builder: {e} (a bug of gate_config::build)"))
}

fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Table {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn path_value(p: &Path) -> toml::Value {
    toml::Value::String(p.display().to_string())
}

/// Builds a [`Config`]; see the module documentation.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    cfg: Config,
}

impl ConfigBuilder {
    /// A lane with its identity, database and broker URL, every section at
    /// its defaults and no device.
    pub fn new(site: &str, lane: &str, store: impl AsRef<Path>, broker: &str) -> Self {
        let cfg = with_defaults(table([
            (
                "lane",
                toml::Value::Table(table([("site", site.into()), ("lane", lane.into())])),
            ),
            (
                "store",
                toml::Value::Table(table([("path", path_value(store.as_ref()))])),
            ),
            (
                "platform",
                toml::Value::Table(table([("broker", broker.into())])),
            ),
        ]));
        Self { cfg }
    }

    /// The configured device `name` plays `device`'s role in the lane
    /// sequence (the scale and the barrier have none: ignored).
    pub fn role(&mut self, device: gate_core::identified::Device, name: &str) -> &mut Self {
        if let Some(slot) = self.cfg.roles.slot_mut(device) {
            *slot = Some(name.to_owned());
        }
        self
    }

    /// Any field, typed (for what has no method of its own).
    pub fn edit(&mut self, f: impl FnOnce(&mut Config)) -> &mut Self {
        f(&mut self.cfg);
        self
    }

    /// Lane time runs `scale` times faster than real time (simulation).
    pub fn time_scale(&mut self, scale: f64) -> &mut Self {
        self.cfg.lane.time_scale = scale;
        self
    }

    /// A platform signing key (key id, base64 of the Ed25519 public key).
    pub fn key(&mut self, kid: &str, public_b64: &str) -> &mut Self {
        self.cfg
            .platform
            .keys
            .insert(kid.to_owned(), public_b64.to_owned());
        self
    }

    /// The gatectl socket, owner-only (mode 0o600).
    pub fn control(&mut self, socket: impl AsRef<Path>) -> &mut Self {
        let mut c: crate::ControlSection =
            with_defaults(table([("socket", path_value(socket.as_ref()))]));
        c.mode = 0o600;
        self.cfg.control = Some(c);
        self
    }

    /// Trust the wall clock (simulation, tests).
    pub fn assume_synced(&mut self) -> &mut Self {
        self.cfg.clock.assume_synced = true;
        self
    }

    /// Where device profiles named without a path are looked up.
    pub fn profiles_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cfg.devices.profiles_dir = dir.into();
        self
    }

    /// A Modbus TCP bus.
    pub fn tcp_bus(&mut self, name: &str, address: &str) -> &mut Self {
        self.cfg
            .devices
            .buses
            .push(ModbusBusConfig::tcp(name, address));
        self
    }

    /// A Modbus RTU bus on a serial port (8N1).
    pub fn rtu_bus(&mut self, name: &str, port: impl AsRef<Path>, baud: u32) -> &mut Self {
        let port = serial_port(port.as_ref(), baud);
        self.cfg
            .devices
            .buses
            .push(ModbusBusConfig::rtu(name, port));
        self
    }

    /// The lane I/O board on `bus`.
    pub fn board(&mut self, bus: &str, unit_id: u8) -> &mut Self {
        self.cfg.devices.board = Some(with_defaults(table([
            ("bus", bus.into()),
            ("unit_id", i64::from(unit_id).into()),
        ])));
        self
    }

    /// The board, typed (after [`Self::board`]).
    pub fn board_mut(&mut self) -> Option<&mut BoardConfig> {
        self.cfg.devices.board.as_mut()
    }

    /// A Modbus weighbridge indicator on `bus` with a register-map profile
    /// (a name in the profiles directory, or a file).
    pub fn modbus_scale(&mut self, bus: &str, unit_id: u8, profile: &str) -> &mut Self {
        let modbus = table([
            ("bus", bus.into()),
            ("unit_id", i64::from(unit_id).into()),
            ("profile", profile.into()),
        ]);
        self.cfg.devices.weighbridge = Some(with_defaults(table([(
            "modbus",
            toml::Value::Table(modbus),
        )])));
        self
    }

    /// A continuous-output (ASCII) weighbridge indicator on a serial port.
    pub fn ascii_scale(
        &mut self,
        port: impl AsRef<Path>,
        baud: u32,
        protocol: AsciiProtocol,
        checksum: bool,
    ) -> &mut Self {
        let port = toml::Value::try_from(serial_port(port.as_ref(), baud))
            .unwrap_or_else(|e| panic!("config builder: serial port: {e}"));
        let protocol = toml::Value::try_from(protocol)
            .unwrap_or_else(|e| panic!("config builder: protocol: {e}"));
        let ascii = table([
            ("port", port),
            ("protocol", protocol),
            ("checksum", checksum.into()),
        ]);
        self.cfg.devices.weighbridge =
            Some(with_defaults(table([("ascii", toml::Value::Table(ascii))])));
        self
    }

    /// The weighbridge, typed (after [`Self::modbus_scale`] or
    /// [`Self::ascii_scale`]).
    pub fn scale_mut(&mut self) -> Option<&mut WeighbridgeConfig> {
        self.cfg.devices.weighbridge.as_mut()
    }

    /// An RFID reader on `bus` with its profile; returns it for the
    /// optional settings.
    pub fn rfid(
        &mut self,
        name: &str,
        kind: RfidKind,
        bus: &str,
        unit_id: u8,
        profile: &str,
    ) -> &mut RfidConfig {
        let kind = toml::Value::try_from(kind)
            .unwrap_or_else(|e| panic!("config builder: rfid kind: {e}"));
        self.cfg.devices.rfid.push(with_defaults(table([
            ("name", name.into()),
            ("kind", kind),
            ("bus", bus.into()),
            ("unit_id", i64::from(unit_id).into()),
            ("profile", profile.into()),
        ])));
        let last = self.cfg.devices.rfid.len() - 1;
        &mut self.cfg.devices.rfid[last]
    }

    /// A network camera grabbed by HTTP snapshots, with its recognition
    /// (`recognition_url`: where a camera that reads itself publishes its
    /// results); returns it for the optional settings.
    pub fn snapshot_camera(
        &mut self,
        name: &str,
        snapshot_url: &str,
        recognition: RecognitionMode,
        recognition_url: Option<&str>,
    ) -> &mut CameraConfig {
        let mut c: CameraConfig = with_defaults(table([
            ("name", name.into()),
            ("snapshot_url", snapshot_url.into()),
        ]));
        c.recognition = Some(recognition);
        c.recognition_url = recognition_url.map(str::to_owned);
        self.cfg.devices.cameras.push(c);
        let last = self.cfg.devices.cameras.len() - 1;
        &mut self.cfg.devices.cameras[last]
    }

    /// The built configuration (not checked: [`Config::check`] and
    /// [`Config::parse`] do that, as for a file).
    pub fn build(&self) -> Config {
        self.cfg.clone()
    }

    /// The configuration as a lane's TOML file.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        self.cfg.to_toml()
    }

    /// Write the file to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let text = self
            .to_toml()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        std::fs::write(path, text)
    }
}

fn serial_port(path: &Path, baud: u32) -> SerialPortConfig {
    let mut p: SerialPortConfig = with_defaults(table([("path", path_value(path))]));
    p.baud = baud;
    p
}

impl Config {
    /// This configuration as TOML that [`Config::parse`] reads back equal
    /// (every field written, defaults included).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

#[cfg(test)]
mod tests;
