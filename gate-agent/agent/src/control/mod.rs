//! The agent's local control endpoint: a Unix socket that `gatectl` (the
//! field engineer's CLI) talks to with the line protocol of [`protocol`]
//! (docs/control-protocol.md).
//!
//! Layer: beside the runtime, never inside it. The server holds clones of
//! what [`AgentHandle`] exposes (the lane view, the officer queue, the
//! store, the link, the drivers' handles) and nothing else. It never takes
//! a lock the lane task needs and never waits on the lane task except for
//! an officer action's answer, which is bounded: every client has its own
//! task, every read, write and request has a deadline, store calls run on
//! blocking threads, and a slow or stuck client only ever stalls itself.
//! Officer actions go through the lane (`AgentHandle::officer`) so the
//! lane's safety rules apply and the runtime audits them; this module does
//! not decide anything about the barrier.
//!
//! - [`protocol`]: wire format and answer types (shared with `gatectl`).
//! - [`data`]: conversions from agent/store types to answer types.
//! - `server`: socket setup (stale socket removal, file mode), connections.
//! - `handlers`: one function per request.
//! - `alarms`: the bounded ring of what the server observed itself.

mod alarms;
pub mod data;
mod handlers;
pub use gate_wire::control as protocol;
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::ControlSection;
use crate::drivers::board::BoardHandle;
use crate::drivers::camera::Camera;
use crate::drivers::weighbridge::WeighbridgeHandle;
use crate::drivers::HealthRegistry;
use crate::runtime::{AgentHandle, LaneView, OfficerRequest};

pub use server::bind_socket;

/// What the server keeps of the agent: clones, no ownership.
#[derive(Clone)]
pub(crate) struct Parts {
    pub view: watch::Receiver<LaneView>,
    pub officer: mpsc::Sender<OfficerRequest>,
    pub store: gate_store::Store,
    pub link: gate_link::LinkHandle,
    pub registry: HealthRegistry,
    pub cameras: BTreeMap<String, Arc<Camera>>,
    pub board: BoardHandle,
    pub weighbridge: Option<WeighbridgeHandle>,
    pub restarts: crate::runtime::devices::RestartTargets,
    pub alarms: Arc<alarms::AlarmRing>,
    pub reload: mpsc::Sender<crate::runtime::reload::ReloadRequest>,
    pub config_path: std::path::PathBuf,
}

impl Parts {
    fn from_agent(agent: &AgentHandle) -> Self {
        Self {
            view: agent.view.clone(),
            officer: agent.officer.clone(),
            store: agent.store.clone(),
            link: agent.link.clone(),
            registry: agent.registry.clone(),
            cameras: agent.cameras.clone(),
            board: agent.board.clone(),
            weighbridge: agent.weighbridge.clone(),
            restarts: agent.restarts.clone(),
            alarms: Arc::new(alarms::AlarmRing::new(alarms::RING_CAPACITY)),
            reload: agent.reload.clone(),
            config_path: agent.config_path.clone(),
        }
    }
}

/// Start the control endpoint of a running agent on `cfg.socket` with file
/// mode `cfg.mode`. A stale socket left by a dead agent is removed; a live
/// one (another agent answers on it) or a path that is not a socket is an
/// error. Returns the server task, which ends (and removes its socket) when
/// the agent's lane task stops or the task is aborted; `None` when the
/// socket path is empty (control disabled).
pub fn serve(agent: &AgentHandle, cfg: &ControlSection) -> anyhow::Result<Option<JoinHandle<()>>> {
    if cfg.socket.as_os_str().is_empty() {
        tracing::info!("control socket disabled (empty path)");
        return Ok(None);
    }
    let socket = bind_socket(&cfg.socket, cfg.mode)?;
    let parts = Parts::from_agent(agent);
    tokio::spawn(alarms::observe(parts.clone()));
    tracing::info!(socket = %cfg.socket.display(), mode = format!("{:o}", cfg.mode), "control socket listening");
    Ok(Some(tokio::spawn(server::run(socket, parts))))
}
