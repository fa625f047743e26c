//! Starting a lane: every device of the configuration on localhost, the board
//! firmware and the lane task.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lane_io_host::{FaultSwitch, Shared};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::clock::SimClock;
use crate::devices::board::BoardDevice;
use crate::devices::camera::Camera;
use crate::devices::pty::{self};
use crate::devices::rfid::{ReaderKind, RfidConfig, RfidReader};
use crate::devices::weighbridge::{self, ScaleModel, ScaleReading, WbModbus};
use crate::physics::{Physics, PhysicsConfig};

use super::{
    io_err, sub_seed, Endpoints, Inner, LaneConfig, Reader, ScaleOut, ScaleSlot, SimError, SimLane,
    State, WeighbridgeEndpoint, OBS_CHANNEL,
};

impl SimLane {
    /// Starts every device of `config` and the lane task. Must run inside a tokio runtime.
    pub async fn spawn(config: LaneConfig, clock: SimClock) -> Result<SimLane, SimError> {
        let cfg = config;
        let ip = cfg.bind_ip;
        let dir = tempfile::Builder::new()
            .prefix("gate-sim-")
            .tempdir()
            .map_err(io_err("creating the pty directory"))?;
        let mut tasks = Vec::new();
        let mut ptys = Vec::new();
        let now = clock.now_ms();

        let (board, t) = BoardDevice::start(&cfg.board, ip, dir.path())
            .await
            .map_err(io_err("starting the board"))?;
        tasks.extend(t);

        let mut names = std::collections::HashSet::new();
        let mut scales = Vec::new();
        let mut wb_endpoints = Vec::new();
        for (i, wb) in cfg.weighbridges.iter().enumerate() {
            if !names.insert(wb.name.clone()) {
                return Err(SimError::Config(format!(
                    "two weighbridges named {:?}",
                    wb.name
                )));
            }
            wb.scale
                .validate()
                .map_err(|e| SimError::Config(format!("weighbridge {}: {e}", wb.name)))?;
            let model =
                ScaleModel::new(wb.scale.clone(), sub_seed(cfg.seed, &format!("wb{i}")), now);
            let fault = Arc::new(FaultSwitch::default());
            let mut ep = WeighbridgeEndpoint {
                name: wb.name.clone(),
                protocol: wb.protocol,
                tcp: None,
                serial: None,
            };
            let out = if let Some(profile) = wb.protocol.modbus_profile() {
                let m: Shared<WbModbus> = Arc::new(Mutex::new(WbModbus::new(
                    profile,
                    wb.scale.division_kg,
                    wb.scale.capacity_kg,
                    wb.scale_kg,
                )));
                let listener = TcpListener::bind(SocketAddr::new(ip, wb.port.unwrap_or(0)))
                    .await
                    .map_err(io_err(format!("binding weighbridge {}", wb.name)))?;
                ep.tcp = Some(listener.local_addr().map_err(io_err("local_addr"))?);
                let (m2, f2, unit, name) = (m.clone(), fault.clone(), wb.unit_id, wb.name.clone());
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = lane_io_host::serve_tcp(listener, m2, unit, f2).await {
                        tracing::warn!(weighbridge = %name, error = ?e, "Modbus TCP server stopped");
                    }
                }));
                ScaleOut::Modbus(m)
            } else {
                let (master, hold) = pty::open(dir.path(), &format!("wb-{}", wb.name)).map_err(
                    io_err(format!("opening the pty of weighbridge {}", wb.name)),
                )?;
                ep.serial = Some(hold.link_path().to_path_buf());
                let hold = Arc::new(hold);
                ptys.push(hold.clone());
                let (tx, rx) = watch::channel(ScaleReading::default());
                tasks.push(tokio::spawn(weighbridge::run_ascii_output(
                    master,
                    hold,
                    wb.clone(),
                    rx,
                    clock.clone(),
                    fault.clone(),
                )));
                ScaleOut::Ascii(tx)
            };
            wb_endpoints.push(ep);
            scales.push(ScaleSlot {
                name: wb.name.clone(),
                model,
                out,
                fault,
            });
        }

        let start_reader = |kind: ReaderKind, rc: &RfidConfig| {
            let reader = RfidReader::new(
                kind,
                rc.clone(),
                sub_seed(cfg.seed, &format!("{kind:?}")),
                now,
            );
            (
                Arc::new(Mutex::new(reader)),
                Arc::new(FaultSwitch::default()),
            )
        };
        let mut reader_eps = [None, None];
        let mut readers = [None, None];
        for (slot, (kind, rc)) in [
            (ReaderKind::Etag, &cfg.etag_reader),
            (ReaderKind::Eseal, &cfg.eseal_reader),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(rc) = rc else { continue };
            let (reader, fault) = start_reader(kind, rc);
            let listener = TcpListener::bind(SocketAddr::new(ip, rc.port.unwrap_or(0)))
                .await
                .map_err(io_err(format!("binding the {kind:?} reader")))?;
            reader_eps[slot] = Some(listener.local_addr().map_err(io_err("local_addr"))?);
            let (r2, f2, unit) = (reader.clone(), fault.clone(), rc.unit_id);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = lane_io_host::serve_tcp(listener, r2, unit, f2).await {
                    tracing::warn!(reader = ?kind, error = ?e, "Modbus TCP server stopped");
                }
            }));
            readers[slot] = Some(Reader { reader, fault });
        }
        let [etag, eseal] = readers;

        let mut cameras = Vec::new();
        let mut cam_eps = BTreeMap::new();
        for (pos, cc) in &cfg.cameras {
            let (cam, t) = Camera::start(
                *pos,
                cc.clone(),
                ip,
                clock.clone(),
                sub_seed(cfg.seed, pos.name()),
            )
            .await
            .map_err(io_err(format!("starting camera {}", pos.name())))?;
            cam_eps.insert(*pos, cam.base_url());
            cameras.push(cam);
            tasks.push(t);
        }

        let endpoints = Endpoints {
            board_tcp: board.tcp_addr(),
            board_rtu: board.rtu_path().map(|p| p.to_path_buf()),
            weighbridges: wb_endpoints,
            etag_reader: reader_eps[0],
            eseal_reader: reader_eps[1],
            cameras: cam_eps,
        };
        let physics_cfg = PhysicsConfig {
            seed: sub_seed(cfg.seed, "physics") ^ cfg.physics.seed,
            ..cfg.physics.clone()
        };
        let (obs_tx, _) = broadcast::channel(OBS_CHANNEL);
        let inner = Arc::new(Inner {
            name: cfg.name.clone(),
            clock: clock.clone(),
            state: Mutex::new(State {
                physics: Physics::new(physics_cfg, now),
                scales,
                trucks: BTreeMap::new(),
                last_ms: now,
                down_on_occupied: 0,
                down_on_occupied_prev: false,
            }),
            board,
            etag,
            eseal,
            cameras,
            next_id: AtomicU64::new(1),
            obs_tx,
            history: Mutex::new(VecDeque::new()),
        });
        let tick = Duration::from_millis(cfg.tick_ms.clamp(1, 100));
        let inner2 = inner.clone();
        tasks.push(tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                inner2.step();
            }
        }));
        tracing::info!(lane = %cfg.name, ?endpoints, "simulated lane started");
        Ok(SimLane {
            inner,
            endpoints,
            tasks,
            _ptys: ptys,
            _dir: dir,
        })
    }
}
