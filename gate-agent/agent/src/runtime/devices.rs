//! Starting the configured drivers, scaled to lane time in simulation, and
//! mapping their readings to the lane core's inputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use gate_core::identified::{ContainerSeen, Device, PlateSeen};
use gate_core::lane::{BarrierPos, BoardSnapshot as CoreBoard, Read};
use gate_proto::messages::{ContainerPosition, EsealRead, WeightRead};
use lane_io::regmap::BarrierState;

use crate::config::Config;
use crate::drivers::board::{spawn_board, BoardHandle, BoardSnapshot};
use crate::drivers::camera::recognition::Recognition;
use crate::drivers::camera::{spawn_camera, Camera};
use crate::drivers::config::{DriversConfig, RfidKind, ScaleSource};
use crate::drivers::restart::RestartVerdict;
use crate::drivers::rfid::{spawn_rfid, RfidHandle, RfidReading, SealState};
use crate::drivers::weighbridge::{spawn_weighbridge, WeighbridgeHandle, WeightReading};
use crate::drivers::{spawn_bus, BusHandle, HealthRegistry};

/// The running drivers of one lane.
pub struct Devices {
    pub registry: HealthRegistry,
    pub buses: BTreeMap<String, BusHandle>,
    pub board: BoardHandle,
    pub weighbridge: Option<WeighbridgeHandle>,
    /// RFID readers by role (Etag, Eseal).
    pub readers: BTreeMap<Device, (String, RfidHandle)>,
    /// Cameras by role.
    pub cameras: BTreeMap<Device, (String, Arc<Camera>)>,
    /// Every camera by name (gatectl capture).
    pub all_cameras: BTreeMap<String, Arc<Camera>>,
    /// What a restart can name.
    pub restarts: RestartTargets,
}

/// One device (or bus) whose connection can be restarted.
#[derive(Clone, Debug)]
pub enum RestartTarget {
    Bus(BusHandle),
    Board(BoardHandle),
    Weighbridge(WeighbridgeHandle),
    Reader(RfidHandle),
    Camera(Arc<Camera>),
}

impl RestartTarget {
    /// Close the device's connection and open it again; the driver's
    /// verdict (what was reopened, or why it could not be).
    pub async fn restart(&self) -> RestartVerdict {
        match self {
            Self::Bus(b) => b.restart().await,
            Self::Board(b) => b.restart().await,
            Self::Weighbridge(w) => w.restart().await,
            Self::Reader(r) => r.restart().await,
            Self::Camera(c) => c.restart().await,
        }
    }
}

/// Every restartable device of the lane by its configured name (as in
/// health reports), every bus as `bus/<name>`, and the lane roles
/// (`plate_front`, `etag`, `scale`, `barrier`, ...) for the device that
/// fills them (a device's own name wins over a role). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RestartTargets {
    by_name: BTreeMap<String, RestartTarget>,
    /// Role name -> device name.
    roles: BTreeMap<String, String>,
}

impl RestartTargets {
    /// The device `name` names, with its configured name.
    pub fn find(&self, name: &str) -> Result<(String, RestartTarget), UnknownDevice> {
        let name = name.trim();
        let device = if self.by_name.contains_key(name) {
            name
        } else {
            self.roles.get(name).map_or(name, String::as_str)
        };
        match self.by_name.get(device) {
            Some(t) => Ok((device.to_owned(), t.clone())),
            None => Err(UnknownDevice {
                name: name.to_owned(),
                devices: self.by_name.keys().cloned().collect(),
                roles: self.roles.keys().cloned().collect(),
            }),
        }
    }
}

/// A restart names no device or role of this lane ([`RestartTargets::find`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no device `{name}` on this lane (devices: {}; roles: {})",
    .devices.join(", "),
    .roles.join(", ")
)]
pub struct UnknownDevice {
    /// The name asked for.
    pub name: String,
    /// The restartable devices (and `bus/<name>`), by name.
    pub devices: Vec<String>,
    /// The role names.
    pub roles: Vec<String>,
}

/// Why a person's device restart was not done.
#[derive(Debug)]
pub enum RestartRefusal {
    /// No such device or role on this lane.
    NotFound(String),
    /// The audit log could not be written: not done (every restart names
    /// who asked for it).
    NotAudited(String),
    /// Audited, tried, and the driver could not reopen.
    Failed(String),
}

/// A device restart done for someone (gatectl, the console, a platform
/// command): the device found, the request audited (`RestartDevice`, who,
/// device and reason; a failed audit refuses the restart), then the
/// driver's close-and-reopen. The one path of the three. Returns the
/// device's name and the driver's answer.
pub async fn restart_audited(
    targets: &RestartTargets,
    store: &gate_store::Store,
    device: &str,
    officer: &str,
    reason: &str,
    event_id: Option<String>,
) -> Result<(String, String), RestartRefusal> {
    let (name, target) = targets
        .find(device)
        .map_err(|e| RestartRefusal::NotFound(e.to_string()))?;
    let (store, who, detail) = (
        store.clone(),
        officer.to_owned(),
        format!("{name}: {reason}"),
    );
    match tokio::task::spawn_blocking(move || {
        store.audit(&who, "RestartDevice", &detail, event_id.as_deref())
    })
    .await
    {
        Ok(Ok(_)) => {}
        other => {
            return Err(RestartRefusal::NotAudited(format!(
                "{name}: not restarted, the audit log cannot be written ({other:?})"
            )))
        }
    }
    tracing::info!(device = %name, officer, "device restart");
    match target.restart().await {
        Ok(d) => Ok((name, d)),
        Err(e) => {
            tracing::warn!(device = %name, error = %e, "device restart failed");
            Err(RestartRefusal::Failed(format!("{name}: {e}")))
        }
    }
}

fn scaled(ms: u64, scale: f64) -> u64 {
    ((ms as f64 / scale) as u64).max(10)
}

/// Device intervals are configured in lane time; drivers run in real time.
pub fn scale_drivers(d: &DriversConfig, scale: f64) -> DriversConfig {
    let mut d = d.clone();
    if (scale - 1.0).abs() < f64::EPSILON {
        return d;
    }
    let scale_backoff = |b: &mut crate::drivers::backoff::BackoffConfig| {
        b.initial_ms = scaled(b.initial_ms, scale);
        b.max_ms = scaled(b.max_ms, scale);
    };
    for bus in &mut d.buses {
        scale_backoff(&mut bus.backoff);
    }
    if let Some(b) = d.board.as_mut() {
        b.poll_interval_ms = scaled(b.poll_interval_ms, scale);
        b.heartbeat_interval_ms = scaled(b.heartbeat_interval_ms, scale);
    }
    if let Some(w) = d.weighbridge.as_mut() {
        match &mut w.source {
            ScaleSource::Modbus(m) => m.poll_interval_ms = scaled(m.poll_interval_ms, scale),
            ScaleSource::Ascii(a) => {
                a.stale_after_ms = scaled(a.stale_after_ms, scale);
                scale_backoff(&mut a.backoff);
            }
        }
        w.stability.window_ms = (w.stability.window_ms as f64 / scale) as u64;
        w.stability.max_gap_ms = scaled(w.stability.max_gap_ms, scale);
    }
    for r in &mut d.rfid {
        r.poll_interval_ms = scaled(r.poll_interval_ms, scale);
    }
    for c in &mut d.cameras {
        c.max_frame_age_ms = scaled(c.max_frame_age_ms, scale);
        scale_backoff(&mut c.backoff);
    }
    d
}

impl Devices {
    /// Start every driver (inside a tokio runtime).
    pub fn spawn(cfg: &Config, metrics: &Arc<crate::metrics::Metrics>) -> Result<Devices> {
        let d = scale_drivers(&cfg.devices, cfg.lane.time_scale);
        // Every device's health cell also updates its metrics.
        let registry = HealthRegistry::observed(metrics.clone());
        let mut buses = BTreeMap::new();
        for b in &d.buses {
            let (h, _task) = spawn_bus(b.clone(), &registry).map_err(|e| anyhow!("{e}"))?;
            buses.insert(b.name.clone(), h);
        }
        let board_cfg = d.board.clone().context("no [devices.board]")?;
        let bus = buses
            .get(&board_cfg.bus)
            .with_context(|| format!("board: no bus `{}`", board_cfg.bus))?;
        let (board, _tasks) = spawn_board(board_cfg, bus, &registry).map_err(|e| anyhow!("{e}"))?;
        let weighbridge = match &d.weighbridge {
            Some(w) => Some(
                spawn_weighbridge(w, &d.profiles_dir, |n| buses.get(n).cloned(), &registry)
                    .map_err(|e| anyhow!("{e}"))?
                    .0,
            ),
            None => None,
        };
        let mut readers_by_name = BTreeMap::new();
        for r in &d.rfid {
            let bus = buses
                .get(&r.bus)
                .with_context(|| format!("rfid `{}`: no bus `{}`", r.name, r.bus))?;
            let (h, _t) =
                spawn_rfid(r, &d.profiles_dir, bus, &registry).map_err(|e| anyhow!("{e}"))?;
            readers_by_name.insert(r.name.clone(), (r.kind, h));
        }
        let mut all_cameras = BTreeMap::new();
        for c in &d.cameras {
            let cam = spawn_camera(c, &registry).map_err(|e| anyhow!("{e}"))?;
            all_cameras.insert(c.name.clone(), Arc::new(cam));
        }
        let mut restarts = RestartTargets::default();
        for (name, bus) in &buses {
            restarts
                .by_name
                .insert(format!("bus/{name}"), RestartTarget::Bus(bus.clone()));
        }
        restarts
            .by_name
            .insert(board_name(&d), RestartTarget::Board(board.clone()));
        restarts.roles.insert("barrier".into(), board_name(&d));
        if let (Some(w), Some(cfg)) = (&weighbridge, &d.weighbridge) {
            restarts
                .by_name
                .insert(cfg.name.clone(), RestartTarget::Weighbridge(w.clone()));
            restarts.roles.insert("scale".into(), cfg.name.clone());
        }
        for (name, (_, h)) in &readers_by_name {
            restarts
                .by_name
                .insert(name.clone(), RestartTarget::Reader(h.clone()));
        }
        for (name, c) in &all_cameras {
            restarts
                .by_name
                .insert(name.clone(), RestartTarget::Camera(c.clone()));
        }
        let mut readers = BTreeMap::new();
        let mut cameras = BTreeMap::new();
        for (role, name) in cfg.roles.assigned() {
            match role {
                Device::Etag | Device::Eseal => {
                    let want = if role == Device::Etag {
                        RfidKind::ETag
                    } else {
                        RfidKind::ESeal
                    };
                    match readers_by_name.get(name) {
                        Some((kind, h)) if *kind == want => {
                            readers.insert(role, (name.to_owned(), h.clone()));
                            restarts.roles.insert(role.as_str().into(), name.to_owned());
                        }
                        _ => {
                            return Err(anyhow!("roles.{}: no such reader `{name}`", role.as_str()))
                        }
                    }
                }
                _ => {
                    let cam = all_cameras
                        .get(name)
                        .with_context(|| format!("roles.{}: no camera `{name}`", role.as_str()))?;
                    cameras.insert(role, (name.to_owned(), cam.clone()));
                    restarts.roles.insert(role.as_str().into(), name.to_owned());
                }
            }
        }
        Ok(Devices {
            registry,
            buses,
            board,
            weighbridge,
            readers,
            cameras,
            all_cameras,
            restarts,
        })
    }

    /// The identification devices this lane has.
    pub fn roles(&self) -> Vec<Device> {
        self.cameras
            .keys()
            .chain(self.readers.keys())
            .copied()
            .collect()
    }

    /// The lane's sequence settings as configured, fitted to the devices
    /// this lane has: it waits only for the readings of fitted devices, and
    /// weighs only with a weighbridge (at start and at a reload).
    pub fn lane_config(
        &self,
        configured: &gate_core::lane::LaneConfig,
    ) -> gate_core::lane::LaneConfig {
        let mut c = configured.clone();
        let roles = self.roles();
        c.expect.retain(|d| roles.contains(d));
        c.weigh &= self.weighbridge.is_some();
        c
    }
}

fn board_name(d: &DriversConfig) -> String {
    d.board
        .as_ref()
        .map_or_else(|| "board".into(), |b| b.name.clone())
}

/// The lane core's view of a board poll.
pub fn core_board(s: &BoardSnapshot) -> CoreBoard {
    CoreBoard {
        arrival: s.inputs.arrival_loop,
        safety: s.inputs.safety_loop,
        exit: s.inputs.exit_loop,
        photocell: s.inputs.photocell,
        barrier: match s.barrier {
            Some(BarrierState::Closed) => BarrierPos::Closed,
            Some(BarrierState::Opening) => BarrierPos::Opening,
            Some(BarrierState::Open) => BarrierPos::Open,
            Some(BarrierState::Closing) => BarrierPos::Closing,
            Some(BarrierState::Stopped) => BarrierPos::Stopped,
            Some(BarrierState::Fault) => BarrierPos::Fault,
            None => BarrierPos::Unknown,
        },
        tailgates: s.counters.tailgates,
        vehicles: s.counters.vehicles,
    }
}

/// A weighbridge reading as the lane core wants it.
pub fn weight_read(w: &WeightReading) -> Read {
    Read::Weight(WeightRead {
        gross_kg: w.gross_kg,
        stable: w.stable,
    })
}

/// Reads from one RFID poll for the given role.
pub fn rfid_reads(role: Device, r: &RfidReading) -> Vec<Read> {
    r.tags
        .iter()
        .filter(|t| t.present && !t.epc.is_empty())
        .map(|t| match role {
            Device::Eseal => Read::Eseal(EsealRead {
                id: seal_id(&t.epc),
                intact: matches!(t.seal, Some(SealState::Intact)),
            }),
            _ => Read::Etag {
                id: t.epc.clone(),
                trailer: false,
            },
        })
        .collect()
}

/// Reads from one camera recognition result for the given role.
pub fn recognition_reads(role: Device, r: &Recognition) -> Vec<Read> {
    match r {
        Recognition::Nothing => Vec::new(),
        Recognition::Plate(p) => vec![Read::Plate(PlateSeen {
            text: p.plate.clone(),
            confidence: p.confidence.unwrap_or(0.0) as f32,
            colour: p.colour,
            camera: role,
        })],
        Recognition::Codes { codes, .. } => {
            let position = if role == Device::ContainerBack {
                ContainerPosition::Back
            } else {
                ContainerPosition::Front
            };
            codes
                .iter()
                .map(|c| {
                    Read::Container(ContainerSeen {
                        number: c.text.clone(),
                        position,
                        confidence: c.confidence.unwrap_or(0.0) as f32,
                    })
                })
                .collect()
        }
    }
}

/// Reads from one camera's on-board recognition of a vehicle (voted over
/// several frames; the confidence is the voted one).
pub fn onboard_reads(role: Device, v: &crate::recognition::Verdict) -> Vec<Read> {
    let position = if role == Device::ContainerBack {
        ContainerPosition::Back
    } else {
        ContainerPosition::Front
    };
    let conf = |c: f32| {
        if c.is_finite() {
            c.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    v.plate
        .iter()
        .map(|p| {
            Read::Plate(PlateSeen {
                text: p.text.clone(),
                confidence: conf(p.confidence),
                colour: Some(p.colour),
                camera: role,
            })
        })
        .chain(v.codes.iter().map(|c| {
            Read::Container(ContainerSeen {
                number: c.text.clone(),
                position,
                confidence: conf(c.confidence),
            })
        }))
        .collect()
}

/// An e-seal id as printed on the seal: readers report the tag memory as
/// hex; seal ids are ASCII stored left-aligned and zero-padded, so a memory
/// that decodes to printable ASCII is shown as that text, else as hex.
pub fn seal_id(epc_hex: &str) -> String {
    let bytes: Option<Vec<u8>> = (0..epc_hex.len() / 2)
        .map(|i| {
            epc_hex
                .get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    match bytes {
        Some(b) => {
            let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            let text = &b[..end];
            if !text.is_empty() && text.iter().all(|c| c.is_ascii_graphic()) {
                String::from_utf8_lossy(text).into_owned()
            } else {
                epc_hex.to_owned()
            }
        }
        None => epc_hex.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_ids() {
        assert_eq!(seal_id("455330303031323334350000"), "ES00012345");
        assert_eq!(
            seal_id("E2801160600002055CB3FC2F"),
            "E2801160600002055CB3FC2F"
        );
        assert_eq!(seal_id("zz"), "zz");
    }
}
