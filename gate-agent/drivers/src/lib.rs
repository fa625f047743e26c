//! Device drivers: the agent's I/O edge towards the lane's field devices.
//!
//! Layer: below the runtime, above the wire. Drivers turn bytes on a Modbus
//! bus, a serial line or an HTTP connection into typed readings
//! ([`board::BoardSnapshot`], [`weighbridge::WeightReading`], [`rfid::TagRead`],
//! [`camera::Frame`]) published on tokio `watch` channels, and turn commands
//! into writes. They know nothing about the lane sequence, decisions, the
//! store or the platform link: the runtime wires them together.
//!
//! Structure:
//! - [`config`]: serde structs for transports, buses and devices (what the
//!   runtime embeds in the lane configuration).
//! - [`profile`]: register profiles (reusable TOML files under
//!   `config/profiles/`) and the sans-IO value codec (word/byte orders,
//!   scale, offset, status bits).
//! - [`bus`]: one task per Modbus bus (a TCP connection or an RS-485 line)
//!   that owns the tokio-modbus context, serialises requests of every device
//!   on it, times every request out and reconnects with capped backoff.
//! - [`health`]: per-device health shared with the runtime.
//! - [`board`], [`weighbridge`], [`rfid`], [`camera`]: the device drivers.
//!
//! Invariants: a dead or stuck device never stalls a caller (bounded queues,
//! deadlines on every request); a Modbus exception (the device answered "no")
//! is never confused with a transport failure (nobody answered); bad input
//! from a device never panics.

pub use gate_config::backoff;
pub mod board;
pub mod bus;
pub mod camera;
pub use gate_config::devices as config;
pub mod error;
pub mod health;
pub use gate_wire::profile;
pub mod restart;
pub mod rfid;
pub mod weighbridge;

pub use bus::{spawn_bus, BusHandle, ModbusDevice};
pub use error::{DeviceError, SpawnError};
pub use health::{DeviceHealth, HealthRegistry, HealthReport};

use std::collections::BTreeMap;
use std::path::Path;

use tokio::task::JoinHandle;

use config::ScaleSource;

/// Every driver of a [`config::DriversConfig`], running.
#[derive(Debug)]
pub struct Drivers {
    /// Health of every device and bus (`bus/<name>`).
    pub registry: HealthRegistry,
    pub buses: BTreeMap<String, BusHandle>,
    pub board: Option<board::BoardHandle>,
    pub weighbridge: Option<weighbridge::WeighbridgeHandle>,
    /// RFID readers by name.
    pub rfid: BTreeMap<String, rfid::RfidHandle>,
    /// Cameras by name.
    pub cameras: BTreeMap<String, camera::Camera>,
    /// The driver tasks (polls, buses); they also end on their own when
    /// every handle is dropped.
    pub tasks: Vec<JoinHandle<()>>,
}

impl Drivers {
    /// Validate `cfg`, load every profile (from `profiles_dir`, already
    /// resolved by the caller) and start every bus and device. Nothing is
    /// started if anything is wrong. Must run inside a tokio runtime.
    pub fn spawn(
        cfg: &config::DriversConfig,
        profiles_dir: &Path,
        registry: HealthRegistry,
    ) -> Result<Self, SpawnError> {
        cfg.validate()?;
        // Load profiles first: a bad profile must not leave half the lane running.
        let wb_profile = match cfg.weighbridge.as_ref().map(|w| &w.source) {
            Some(ScaleSource::Modbus(m)) => Some(profile::resolve(profiles_dir, &m.profile)?),
            Some(ScaleSource::Ascii(_)) | None => None,
        };
        let mut rfid_profiles = Vec::new();
        for r in &cfg.rfid {
            rfid_profiles.push(profile::resolve(profiles_dir, &r.profile)?);
        }
        let mut d = Self {
            registry,
            buses: BTreeMap::new(),
            board: None,
            weighbridge: None,
            rfid: BTreeMap::new(),
            cameras: BTreeMap::new(),
            tasks: Vec::new(),
        };
        for b in &cfg.buses {
            let (h, t) = spawn_bus(b.clone(), &d.registry)?;
            d.buses.insert(b.name.clone(), h);
            d.tasks.push(t);
        }
        let bus = |name: &str| -> Result<BusHandle, SpawnError> {
            d.buses
                .get(name)
                .cloned()
                .ok_or_else(|| SpawnError::NoBus(name.to_owned()))
        };
        if let Some(b) = &cfg.board {
            let (h, t) = board::spawn_board(b.clone(), &bus(&b.bus)?, &d.registry)?;
            d.board = Some(h);
            d.tasks.extend(t);
        }
        if let Some(w) = &cfg.weighbridge {
            let (h, t) = match (&w.source, wb_profile) {
                (ScaleSource::Modbus(m), Some(p)) => {
                    weighbridge::spawn_modbus_weighbridge(w, p, &bus(&m.bus)?, &d.registry)?
                }
                _ => weighbridge::spawn_ascii_weighbridge(w, &d.registry)?,
            };
            d.weighbridge = Some(h);
            d.tasks.push(t);
        }
        for (r, p) in cfg.rfid.iter().zip(rfid_profiles) {
            let (h, t) = rfid::spawn_rfid_with_profile(r, p, &bus(&r.bus)?, &d.registry)?;
            d.rfid.insert(r.name.clone(), h);
            d.tasks.push(t);
        }
        for c in &cfg.cameras {
            d.cameras
                .insert(c.name.clone(), camera::spawn_camera(c, &d.registry)?);
        }
        Ok(d)
    }

    /// Stop every task now (normally they end when the handles are dropped).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
