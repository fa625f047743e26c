//! One simulated lane: the physics and every device of the lane started
//! together on localhost (ephemeral ports unless given), driven by one task
//! that steps the physics with lane time, ticks the real board firmware with
//! the loop/photocell/limit inputs and feeds the devices what they sense.
//!
//! Layer: simulator composition. It maps truck identities ([`TruckSpec`]:
//! plates, tags, containers, seals) onto what each device senses, and
//! physical events onto [`Observation`]s. It knows nothing about the agent,
//! the platform or scenarios: the scenario runner drives it through
//! [`SimLane`]'s methods. No globals: several lanes can run in one process.

mod spawn;
mod step;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use lane_io_host::{FaultMode, FaultSwitch, Shared};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::clock::SimClock;
use crate::devices::board::{BoardConfig, BoardDevice};
use crate::devices::camera::{Camera, CameraConfig, CameraPosition, VisualIdentity};
use crate::devices::pty::PtyHold;
use crate::devices::rfid::{RfidConfig, RfidReader, SealState};
use crate::devices::weighbridge::{
    ScaleModel, ScaleReading, WbModbus, WbModbusProfile, WbProtocol, WeighbridgeConfig,
};
use crate::physics::{Physics, PhysicsConfig, TruckId, Violation};

/// Errors of the lane API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("bad lane configuration: {0}")]
    Config(String),
    #[error("bad truck: {0}")]
    Truck(String),
    #[error("unknown device {0:?}")]
    UnknownDevice(String),
    #[error("{0} is not in the lane or cannot do that now")]
    Truck404(TruckId),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SimError {
    let context = context.into();
    move |source| SimError::Io { context, source }
}

// ---------------------------------------------------------------------------
// Configuration

/// Everything a lane needs. Defaults: all devices on 127.0.0.1 ephemeral
/// ports, one `wb-f32-cdab` weighbridge, both RFID readers, four cameras,
/// board RTU on a pty.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaneConfig {
    /// Lane name (logs).
    pub name: String,
    /// Address the TCP/HTTP devices bind. Default 127.0.0.1.
    pub bind_ip: IpAddr,
    /// Seed of every random source of the lane (physics, scales, readers, cameras).
    pub seed: u64,
    /// Real milliseconds between lane task steps. Default 10.
    pub tick_ms: u64,
    pub physics: PhysicsConfig,
    pub board: BoardConfig,
    pub weighbridges: Vec<WeighbridgeConfig>,
    /// Vehicle e-tag reader (absent: none).
    pub etag_reader: Option<RfidConfig>,
    /// E-seal reader (absent: none).
    pub eseal_reader: Option<RfidConfig>,
    /// Cameras by position (only those listed exist).
    pub cameras: BTreeMap<CameraPosition, CameraConfig>,
}

impl Default for LaneConfig {
    fn default() -> Self {
        Self {
            name: "lane-1".into(),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            seed: 1,
            tick_ms: 10,
            physics: PhysicsConfig::default(),
            board: BoardConfig::default(),
            weighbridges: vec![WeighbridgeConfig::new(
                "wb",
                WbProtocol::Modbus(WbModbusProfile::F32Cdab),
            )],
            etag_reader: Some(RfidConfig::etag_default()),
            eseal_reader: Some(RfidConfig::eseal_default()),
            cameras: CameraPosition::ALL
                .into_iter()
                .map(|p| (p, CameraConfig::default()))
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// Trucks

pub use crate::truck::{ContainerSpec, EsealSpec, TrailerSpec, TruckSpec};

/// A truck the lane knows.
struct Entry {
    spec: Arc<TruckSpec>,
    ident: Arc<VisualIdentity>,
    /// (EPC, offset behind the front) of the vehicle tags.
    etags: Vec<([u8; 12], f64)>,
    /// (EPC, state) of the e-seal, at the rear.
    eseal: Option<([u8; 12], SealState)>,
    /// Data observations already made for it (scale, e-tag, e-seal).
    seen: [bool; 3],
}

/// Bound on remembered trucks (oldest forgotten first).
const MAX_ENTRIES: usize = 1024;

// ---------------------------------------------------------------------------
// Observations, endpoints, device ids

pub use crate::physics::EventKind as ObservationKind;

/// A physical observation about a truck.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// Lane time.
    pub t_ms: u64,
    /// Virtual wall-clock time, Unix ms (see [`SimClock::wall_time`]).
    pub wall_ms: u64,
    pub truck: TruckId,
    pub plate: String,
    #[serde(flatten)]
    pub kind: ObservationKind,
}

/// A violation with the plate of the truck involved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LaneViolation {
    #[serde(flatten)]
    pub violation: Violation,
    pub plate: Option<String>,
}

/// How to reach one weighbridge indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WeighbridgeEndpoint {
    pub name: String,
    pub protocol: WbProtocol,
    /// Modbus TCP address (Modbus profiles).
    pub tcp: Option<SocketAddr>,
    /// Serial line (pty symlink) of the continuous-output protocols.
    pub serial: Option<PathBuf>,
}

/// How to reach every device of the lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    pub board_tcp: SocketAddr,
    /// Board Modbus RTU serial line (pty symlink), if enabled.
    pub board_rtu: Option<PathBuf>,
    pub weighbridges: Vec<WeighbridgeEndpoint>,
    pub etag_reader: Option<SocketAddr>,
    pub eseal_reader: Option<SocketAddr>,
    /// Camera base URLs (`http://127.0.0.1:port`) by position.
    pub cameras: BTreeMap<CameraPosition, String>,
}

/// A device of the lane, for fault injection. Text forms: `board`,
/// `weighbridge` (the first) or `weighbridge.<name>`, `etag_reader`,
/// `eseal_reader`, `camera.<position>` (or the bare position, e.g. `plate_front`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DeviceId {
    Board,
    Weighbridge(Option<String>),
    EtagReader,
    EsealReader,
    Camera(CameraPosition),
}

impl FromStr for DeviceId {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        let s = s.trim();
        Ok(match s {
            "board" => Self::Board,
            "weighbridge" => Self::Weighbridge(None),
            "etag_reader" | "etag" => Self::EtagReader,
            "eseal_reader" | "eseal" => Self::EsealReader,
            _ => {
                if let Some(n) = s.strip_prefix("weighbridge.") {
                    Self::Weighbridge(Some(n.to_string()))
                } else if let Some(p) =
                    CameraPosition::from_name(s.strip_prefix("camera.").unwrap_or(s))
                {
                    Self::Camera(p)
                } else {
                    return Err(SimError::UnknownDevice(s.to_string()));
                }
            }
        })
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Board => write!(f, "board"),
            Self::Weighbridge(None) => write!(f, "weighbridge"),
            Self::Weighbridge(Some(n)) => write!(f, "weighbridge.{n}"),
            Self::EtagReader => write!(f, "etag_reader"),
            Self::EsealReader => write!(f, "eseal_reader"),
            Self::Camera(p) => write!(f, "camera.{}", p.name()),
        }
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A snapshot of the lane's physical state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LaneSnapshot {
    pub t_ms: u64,
    pub arm_angle_deg: f64,
    pub arrival_loop: bool,
    pub safety_loop: bool,
    pub exit_loop: bool,
    pub photocell: bool,
    pub up_limit: bool,
    pub down_limit: bool,
    pub platform_load_kg: f64,
    /// (truck, plate, front x, speed m/s) of the trucks in the lane.
    pub trucks: Vec<(TruckId, String, f64, f64)>,
    pub pending_trucks: usize,
}

// ---------------------------------------------------------------------------
// The lane

enum ScaleOut {
    Modbus(Shared<WbModbus>),
    Ascii(watch::Sender<ScaleReading>),
}

struct ScaleSlot {
    name: String,
    model: ScaleModel,
    out: ScaleOut,
    fault: Arc<FaultSwitch>,
}

struct Reader {
    reader: Shared<RfidReader>,
    fault: Arc<FaultSwitch>,
}

struct State {
    physics: Physics,
    scales: Vec<ScaleSlot>,
    trucks: BTreeMap<TruckId, Entry>,
    last_ms: u64,
    /// Times the board started driving the arm down while the safety loop
    /// or the photocell (as fed to the board) was occupied.
    down_on_occupied: u64,
    down_on_occupied_prev: bool,
}

struct Inner {
    name: String,
    clock: SimClock,
    state: Mutex<State>,
    board: BoardDevice,
    etag: Option<Reader>,
    eseal: Option<Reader>,
    cameras: Vec<Camera>,
    next_id: AtomicU64,
    obs_tx: broadcast::Sender<Observation>,
    history: Mutex<VecDeque<Observation>>,
}

/// Bound on the observation history.
const MAX_HISTORY: usize = 8192;
/// Capacity of the observation broadcast channel (slow receivers lag).
const OBS_CHANNEL: usize = 1024;

/// A running simulated lane. Dropping it stops its tasks; [`SimLane::shutdown`] also waits for them.
pub struct SimLane {
    inner: Arc<Inner>,
    endpoints: Endpoints,
    tasks: Vec<JoinHandle<()>>,
    _ptys: Vec<Arc<PtyHold>>,
    _dir: tempfile::TempDir,
}

impl fmt::Debug for SimLane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLane")
            .field("name", &self.inner.name)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sub_seed(seed: u64, what: &str) -> u64 {
    what.bytes().fold(seed ^ 0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SimLane {
    /// How to reach the devices.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn clock(&self) -> &SimClock {
        &self.inner.clock
    }

    /// Queues a truck upstream of the lane; it drives in as soon as there is room.
    pub fn add_truck(&self, spec: TruckSpec) -> Result<TruckId, SimError> {
        let [etag, trailer_etag, eseal] = spec.validate()?;
        let id = TruckId(self.inner.next_id.fetch_add(1, Ordering::SeqCst));
        let body = spec.body();
        let mut etags = Vec::new();
        if let Some(e) = etag {
            etags.push((e, 0.3)); // windscreen
        }
        if let (Some(e), Some(off)) = (trailer_etag, body.trailer_front_offset()) {
            etags.push((e, off + 0.2));
        }
        let entry = Entry {
            ident: Arc::new(spec.visual(id.0)),
            eseal: eseal.map(|e| (e, spec.eseal.as_ref().map(|s| s.state).unwrap_or_default())),
            etags,
            spec: Arc::new(spec),
            seen: [false; 3],
        };
        let cruise = entry.spec.speed.map(|kmh| kmh / 3.6);
        let behaviour = entry.spec.behaviour;
        let mut st = lock(&self.inner.state);
        st.physics.add_truck(id, body, behaviour, cruise);
        if st.trucks.len() >= MAX_ENTRIES {
            let present: Vec<TruckId> = st.physics.trucks().map(|t| t.id).collect();
            if let Some(old) = st.trucks.keys().copied().find(|k| !present.contains(k)) {
                st.trucks.remove(&old);
            }
        }
        st.trucks.insert(id, entry);
        Ok(id)
    }

    /// Injects a fault into a device (Normal clears it).
    pub fn set_fault(&self, device: &DeviceId, mode: FaultMode) -> Result<(), SimError> {
        let unknown = || SimError::UnknownDevice(device.to_string());
        match device {
            DeviceId::Board => self.inner.board.fault().set(mode),
            DeviceId::Weighbridge(name) => {
                let st = lock(&self.inner.state);
                let slot = match name {
                    None => st.scales.first(),
                    Some(n) => st.scales.iter().find(|s| &s.name == n),
                }
                .ok_or_else(unknown)?;
                slot.fault.set(mode);
            }
            DeviceId::EtagReader => self
                .inner
                .etag
                .as_ref()
                .ok_or_else(unknown)?
                .fault
                .set(mode),
            DeviceId::EsealReader => self
                .inner
                .eseal
                .as_ref()
                .ok_or_else(unknown)?
                .fault
                .set(mode),
            DeviceId::Camera(p) => self.camera(*p).ok_or_else(unknown)?.set_fault(mode),
        }
        tracing::info!(lane = %self.inner.name, device = %device, ?mode, "fault injected");
        Ok(())
    }

    /// Makes a camera dark (black frames, no recognition) or lights it again.
    pub fn camera_dark(&self, position: CameraPosition, dark: bool) -> Result<(), SimError> {
        let cam = self
            .camera(position)
            .ok_or_else(|| SimError::UnknownDevice(position.name().into()))?;
        cam.set_dark(dark);
        Ok(())
    }

    fn camera(&self, p: CameraPosition) -> Option<&Camera> {
        self.inner.cameras.iter().find(|c| c.position() == p)
    }

    /// Tells the truck waiting at the gate to back out; returns it.
    /// The truck waiting at the gate, if one is.
    pub fn waiting_truck(&self) -> Option<TruckId> {
        lock(&self.inner.state).physics.waiting_truck()
    }

    pub fn reverse_held(&self) -> Option<TruckId> {
        lock(&self.inner.state).physics.reverse_held()
    }

    /// Tells a truck that has not reached the arm to back out.
    pub fn reverse(&self, truck: TruckId) -> Result<(), SimError> {
        if lock(&self.inner.state).physics.reverse(truck) {
            Ok(())
        } else {
            Err(SimError::Truck404(truck))
        }
    }

    /// Waves a truck that stopped short forward to the stop line.
    pub fn pull_forward(&self, truck: TruckId) -> Result<(), SimError> {
        if lock(&self.inner.state).physics.pull_forward(truck) {
            Ok(())
        } else {
            Err(SimError::Truck404(truck))
        }
    }

    /// The officer's manual key switch on the board.
    pub fn set_manual_key(&self, on: bool) {
        self.inner.board.set_manual_key(on);
    }

    /// The motor drive's fault input on the board.
    pub fn set_motor_fault(&self, on: bool) {
        self.inner.board.set_motor_fault(on);
    }

    /// A live stream of observations (a slow receiver lags and skips).
    pub fn subscribe(&self) -> broadcast::Receiver<Observation> {
        self.inner.obs_tx.subscribe()
    }

    /// Every observation so far (bounded: the latest 8192).
    pub fn observations(&self) -> Vec<Observation> {
        lock(&self.inner.history).iter().cloned().collect()
    }

    /// Safety violations so far (a correct lane has none).
    pub fn violations(&self) -> Vec<LaneViolation> {
        let st = lock(&self.inner.state);
        st.physics
            .violations()
            .iter()
            .map(|v| LaneViolation {
                violation: *v,
                plate: v
                    .truck
                    .and_then(|t| st.trucks.get(&t))
                    .map(|e| e.spec.plate.clone()),
            })
            .collect()
    }

    /// How many times the board started driving the arm down while the
    /// safety loop or the photocell it was fed was occupied (a correct lane:
    /// never).
    pub fn arm_down_on_occupied(&self) -> u64 {
        lock(&self.inner.state).down_on_occupied
    }

    /// The lane's physical state now.
    pub fn snapshot(&self) -> LaneSnapshot {
        let st = lock(&self.inner.state);
        let p = &st.physics;
        let s = p.sensors();
        LaneSnapshot {
            t_ms: p.now_ms(),
            arm_angle_deg: p.arm_angle_deg(),
            arrival_loop: s.arrival_loop,
            safety_loop: s.safety_loop,
            exit_loop: s.exit_loop,
            photocell: s.photocell,
            up_limit: s.up_limit,
            down_limit: s.down_limit,
            platform_load_kg: p.platform_load_kg(),
            trucks: p
                .trucks()
                .map(|t| {
                    let plate = st
                        .trucks
                        .get(&t.id)
                        .map(|e| e.spec.plate.clone())
                        .unwrap_or_default();
                    (t.id, plate, t.front_x, t.speed)
                })
                .collect(),
            pending_trucks: p.pending_count(),
        }
    }

    /// The board's LED message (as written by the agent).
    pub fn led_text(&self) -> String {
        let b = lock(self.inner.board.board());
        String::from_utf8_lossy(b.led_bytes()).into_owned()
    }

    /// The latest reading of weighbridge `name` (None: the first).
    pub fn scale_reading(&self, name: Option<&str>) -> Option<ScaleReading> {
        let st = lock(&self.inner.state);
        st.scales
            .iter()
            .find(|s| name.is_none_or(|n| n == s.name))
            .map(|s| s.model.reading())
    }

    /// Stops every task and waits for them; removes the pty links.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        tracing::info!(lane = %self.inner.name, "simulated lane stopped");
    }
}

impl Drop for SimLane {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of a wall-clock time, as a camera
/// stamps its frames: the contract's RFC 3339 format
/// (`gate_proto::time`) with a space for the `T` and no `Z`.
pub fn format_wall(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    gate_proto::time::format_unix_ms(ms)
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests;
