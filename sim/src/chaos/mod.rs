//! `gate-sim chaos`: trucks go through a simulated lane while faults are
//! injected at random (seeded, reproducible), with real parts: a Mosquitto
//! broker as a child process, the simulated lane devices and platform of
//! this crate, and the real `gate-agent` binary as a child process (so it
//! can be SIGKILLed and restarted). A persistent subscriber of its own
//! receives every lane event; at the end the run prints what was lost,
//! duplicated, conflicting or incomplete, the safety record of the arm, and
//! how long the lane took to serve trucks again after each fault.
//!
//! Faults: SIGKILL of the agent (at a random moment, while a truck is being
//! identified, or while one is passing) then restart; Mosquitto restart and
//! SIGKILL + restart; a device offline or silent, then back; a full disk
//! (the state directory is a size-limited tmpfs filled with a ballast file,
//! later removed); a corrupted `lane.db` (agent stopped, bytes overwritten,
//! agent started); the agent's wall clock jumping forward and back
//! (libfaketime). docs/reliability.md, Chaos.
//!
//! The harness acts as the lane computer's service manager: an agent that
//! exits by itself is started again after [`RESTART_DELAY`] and counted.

pub mod analysis;
mod faults;
mod finish;
pub mod fleet;
pub mod procs;
mod setup;
pub mod witness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::SimClock;
use crate::lane::{Observation, SimLane};
use crate::platform::Platform;
use crate::scenario::Scenario;

use analysis::{DeviceWindow, FaultRecord, Figures, Tracker};
use procs::{AgentProc, Mosquitto, StateDir};
use witness::Witness;

pub use finish::summary;

/// How to run.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    pub faults: usize,
    pub seed: u64,
    /// Lane seconds per real second.
    pub time_scale: f64,
    /// The `gate-agent` binary (default: beside the current executable).
    pub agent_bin: Option<PathBuf>,
    /// Goal for the time back to serving, real seconds.
    pub recovery_goal_s: f64,
    /// Keep the run's directory (logs, databases) instead of deleting it.
    pub keep: bool,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            faults: 50,
            seed: 1,
            time_scale: 10.0,
            agent_bin: None,
            recovery_goal_s: 5.0,
            keep: false,
        }
    }
}

/// The machine-readable result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosReport {
    pub seed: u64,
    pub time_scale: f64,
    pub wall_s: f64,
    pub figures: Figures,
    pub violated: Vec<String>,
    pub skipped_kinds: Vec<String>,
    pub faults: Vec<FaultRecord>,
    pub dir: Option<String>,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.violated.is_empty()
    }
}

/// The kinds of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AgentKill,
    BrokerRestart,
    BrokerKill,
    DeviceDown,
    DiskFull,
    DbCorrupt,
    ClockJump,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::AgentKill,
        Kind::BrokerRestart,
        Kind::BrokerKill,
        Kind::DeviceDown,
        Kind::DiskFull,
        Kind::DbCorrupt,
        Kind::ClockJump,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::AgentKill => "agent_kill",
            Kind::BrokerRestart => "broker_restart",
            Kind::BrokerKill => "broker_kill",
            Kind::DeviceDown => "device_down",
            Kind::DiskFull => "disk_full",
            Kind::DbCorrupt => "db_corrupt",
            Kind::ClockJump => "clock_jump",
        }
    }

    /// Relative frequency after the first round (which has one of each).
    fn weight(self) -> u32 {
        match self {
            Kind::AgentKill => 30,
            Kind::BrokerRestart => 8,
            Kind::BrokerKill => 8,
            Kind::DeviceDown => 22,
            Kind::DiskFull => 10,
            Kind::DbCorrupt => 7,
            Kind::ClockJump => 15,
        }
    }
}

/// Delay before the harness starts an agent that exited by itself.
pub const RESTART_DELAY: Duration = Duration::from_millis(500);
/// Size of the state directory's tmpfs.
const STATE_MB: u64 = 64;
/// Real seconds a fault may take to be recovered from before the harness
/// gives up on it (and moves on).
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// Lane seconds a held truck waits before its driver backs out.
const HOLD_PATIENCE_MS: u64 = 20_000;
/// Real time between control-socket polls of the agent's state.
const POLL: Duration = Duration::from_millis(150);

/// The devices a device fault picks from.
const DEVICES: [&str; 8] = [
    "board",
    "weighbridge",
    "etag_reader",
    "eseal_reader",
    "camera.plate_front",
    "camera.plate_rear",
    "camera.container_front",
    "camera.container_back",
];

/// The `gate-agent` binary: the given one, `$GATE_AGENT_BIN`, or the one
/// beside the current executable (cargo puts both in `target/<profile>/`).
pub fn find_agent(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("GATE_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("current executable")?;
    let dir = exe.parent().context("executable directory")?;
    for d in [Some(dir), dir.parent()] {
        let Some(d) = d else { continue };
        let p = d.join("gate-agent");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "gate-agent not found beside {} (build it: cargo build -p gate-agent --bins; or pass --agent-bin)",
        exe.display()
    )
}

/// Run the chaos test. The result says what happened; errors are the
/// harness's own failures.
pub async fn run(opts: &ChaosOptions) -> Result<ChaosReport> {
    let started = Instant::now();
    let mut c = Chaos::setup(opts).await?;
    let res = c.drive().await;
    c.finish(started, res.err()).await
}

struct Chaos {
    opts: ChaosOptions,
    rng: StdRng,
    dir: Option<tempfile::TempDir>,
    scenario: Scenario,
    clock: SimClock,
    sim: Option<SimLane>,
    obs: broadcast::Receiver<Observation>,
    platform: Option<Platform>,
    broker: Mosquitto,
    witness: Witness,
    state: StateDir,
    agent: AgentProc,
    /// The harness wants the agent running (false while it keeps it down).
    agent_wanted: bool,
    restart_at: Option<Instant>,
    exits: Vec<(u64, String)>,
    socket: PathBuf,
    event_topic: String,
    alarm_topic: String,
    tracker: Tracker,
    next_truck: usize,
    feeding: bool,
    last_poll: Instant,
    lane_state: Option<String>,
    hold_since: Option<u64>,
    faults: Vec<FaultRecord>,
    windows: Vec<DeviceWindow>,
    skipped: Vec<String>,
    clock_offset_s: i64,
}

impl Chaos {
    fn sim(&self) -> Result<&SimLane> {
        self.sim.as_ref().context("the simulated lane is stopped")
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn lane_to_real_s(&self, lane_ms: u64) -> f64 {
        lane_ms as f64 / 1000.0 / self.opts.time_scale
    }

    /// One round of the harness's background duties.
    async fn pump(&mut self) -> Result<()> {
        loop {
            match self.obs.try_recv() {
                Ok(o) => self.tracker.on(&o),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.tracker.lagged += n,
                Err(_) => break,
            }
        }
        if self.feeding && self.next_truck < self.scenario.trucks.len() {
            let snap = self.sim()?.snapshot();
            if snap.pending_trucks == 0 && snap.trucks.len() < 3 {
                let i = self.next_truck;
                let spec = self.scenario.trucks[i].to_spec();
                let id = self.sim()?.add_truck(spec).map_err(|e| anyhow!("{e}"))?;
                self.tracker.add(i, id, &fleet::identity(i));
                self.next_truck += 1;
            }
        }
        // The service manager.
        if let Some(st) = self.agent.exited() {
            let at = self.now_ms();
            tracing::warn!(status = %st, "gate-agent exited by itself");
            self.exits.push((at, st.to_string()));
            self.restart_at = Some(Instant::now() + RESTART_DELAY);
        }
        if self.agent_wanted && !self.agent.running() {
            match self.restart_at {
                Some(t) if Instant::now() < t => {}
                _ => {
                    self.restart_at = None;
                    self.agent.spawn()?;
                }
            }
        }
        // The driver of a held truck backs out after a while.
        if self.last_poll.elapsed() >= POLL {
            self.last_poll = Instant::now();
            let st = if self.agent.running() {
                procs::control(&self.socket, "status").await
            } else {
                None
            };
            self.lane_state = st
                .as_ref()
                .and_then(|d| d.get("state"))
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            let now = self.now_ms();
            if self.lane_state.as_deref() == Some("hold") {
                let since = *self.hold_since.get_or_insert(now);
                if now.saturating_sub(since) > HOLD_PATIENCE_MS {
                    self.send_back();
                    self.hold_since = None;
                }
            } else {
                self.hold_since = None;
            }
        }
        Ok(())
    }

    /// Tells the truck waiting at the line to back out.
    fn send_back(&mut self) {
        let Some(sim) = self.sim.as_ref() else { return };
        if let Some(t) = sim.reverse_held() {
            if let Some(p) = self.tracker.get_mut(t) {
                p.sent_back = true;
            }
            tracing::info!(truck = %t, "driver backs out");
        }
    }

    async fn sleep(&mut self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            self.pump().await?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            tokio::time::sleep((end - now).min(Duration::from_millis(20))).await;
        }
    }

    /// Waits until `f` holds (checked after each pump), at most `timeout`.
    async fn wait(&mut self, timeout: Duration, f: impl Fn(&Chaos) -> bool) -> Result<bool> {
        let end = Instant::now() + timeout;
        loop {
            self.pump().await?;
            if f(self) {
                return Ok(true);
            }
            if Instant::now() >= end {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn rand_s(&mut self, lo: f64, hi: f64) -> Duration {
        Duration::from_secs_f64(self.rng.gen_range(lo..hi))
    }

    async fn drive(&mut self) -> Result<()> {
        // The agent up with the platform's whitelist.
        self.agent.spawn()?;
        let want = fleet::WHITELIST_VERSION;
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            self.pump().await?;
            let v = procs::control(&self.socket, "status").await;
            let have = v
                .as_ref()
                .and_then(|d| d.get("whitelist_version"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            if have >= want {
                break;
            }
            if Instant::now() > end {
                bail!(
                    "the agent did not reach whitelist version {want} within 60 s (see agent.log)"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.feeding = true;
        // A first truck served before any fault.
        let t0 = self.now_ms();
        if !self
            .wait(Duration::from_secs(60), |c| {
                c.tracker.served_after(t0).is_some()
            })
            .await?
        {
            bail!("no truck was served within 60 s before any fault (see agent.log)");
        }
        let mut avail: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| match k {
                Kind::DiskFull => self.state.mounted,
                Kind::ClockJump => self.agent.faketime.is_some(),
                _ => true,
            })
            .collect();
        avail.shuffle(&mut self.rng);
        let total_w: u32 = avail.iter().map(|k| k.weight()).sum();
        for n in 1..=self.opts.faults {
            let kind = if n <= avail.len() {
                avail[n - 1]
            } else {
                let mut x = self.rng.gen_range(0..total_w);
                let mut pick = avail[0];
                for k in &avail {
                    if x < k.weight() {
                        pick = *k;
                        break;
                    }
                    x -= k.weight();
                }
                pick
            };
            let rec = self.fault(n, kind).await?;
            let line = format!(
                "fault {n:>4}/{} {:<14} {:<48} back to serving: {}",
                self.opts.faults,
                rec.kind,
                rec.detail,
                rec.recovery_s
                    .map(|s| format!("{s:.2} s"))
                    .unwrap_or_else(|| "NOT RECOVERED".into())
            );
            println!("{line}");
            for p in &rec.problems {
                println!("           problem: {p}");
            }
            self.faults.push(rec);
            let gap = self.rand_s(0.0, 0.5);
            self.sleep(gap).await?;
        }
        Ok(())
    }
}
