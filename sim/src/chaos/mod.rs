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
pub mod fleet;
pub mod procs;
pub mod witness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::broker::BrokerAddr;
use crate::clock::SimClock;
use crate::fixture::Fixture;
use crate::lane::{DeviceId, Observation, SimLane};
use crate::platform::{Platform, PlatformConfig, PlatformKey};
use crate::runner;
use crate::scenario::Scenario;

use analysis::{DeviceWindow, FaultRecord, Figures, Tracker};
use procs::{AgentProc, FakeTime, Mosquitto, StateDir};
use witness::Witness;

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
    async fn setup(opts: &ChaosOptions) -> Result<Chaos> {
        let agent_bin = find_agent(opts.agent_bin.as_deref())?;
        let dir = tempfile::Builder::new()
            .prefix("gate-chaos-")
            .tempdir()
            .context("creating the run directory")?;
        let root = dir.path().to_path_buf();
        let trucks = (opts.faults * 3 + 40).min(fleet::MAX_TRUCKS);
        let scenario = fleet::scenario(trucks, opts.seed, opts.time_scale)?;

        let port = procs::free_port()?;
        let broker = Mosquitto::start(&root.join("broker"), port).await?;
        let addr = BrokerAddr::new("127.0.0.1", port);
        let topics = gate_proto::topics::LaneTopics::new(fleet::SITE, fleet::LANE);
        let (event_topic, alarm_topic) = (topics.event(), topics.alarm());
        let witness = Witness::start(
            "chaos-witness",
            port,
            vec![event_topic.clone(), alarm_topic.clone()],
        )
        .await?;

        let fixture = Fixture::from_scenario(&scenario, gate_proto::time::now_unix_ms())
            .map_err(|e| anyhow!("whitelist fixture: {e}"))?;
        let mut pc = PlatformConfig::new(addr.clone(), fleet::SITE, PlatformKey::test_key());
        pc.records_per_chunk = scenario.platform.records_per_chunk;
        pc.consume_single_use_passes = false;
        let platform = Platform::start_with(pc, fixture)
            .await
            .context("starting the simulated platform")?;

        let clock = SimClock::new(opts.time_scale).map_err(|e| anyhow!("time scale: {e}"))?;
        let sim = SimLane::spawn(runner::lane_config(&scenario), clock.clone())
            .await
            .context("starting the simulated devices")?;
        let obs = sim.subscribe();

        let state = StateDir::new(&root.join("state"), STATE_MB)?;
        let profiles = state.path.join("profiles");
        std::fs::create_dir_all(&profiles)?;
        for (name, text) in runner::PROFILES {
            std::fs::write(profiles.join(name), text)?;
        }
        let text = runner::agent_config(
            &scenario,
            fleet::LANE,
            sim.endpoints(),
            &addr,
            &state.path,
            opts.time_scale,
        )?;
        let cfg_path = root.join("lane.toml");
        std::fs::write(&cfg_path, &text)?;
        gate_agent::config::Config::load(&cfg_path).map_err(|errs| {
            anyhow!(
                "generated agent configuration is invalid:\n{}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        let mut skipped = Vec::new();
        let faketime = match FakeTime::find_lib() {
            Some(lib) => Some(FakeTime::new(lib, root.join("faketime.offset"))?),
            None => {
                skipped.push(
                    "clock_jump: libfaketime not found (Debian package `faketime`)".to_string(),
                );
                None
            }
        };
        if !state.mounted {
            skipped.push(format!(
                "disk_full: no tmpfs for the state directory ({})",
                state.mount_error.clone().unwrap_or_default()
            ));
        }
        let agent = AgentProc::new(agent_bin, cfg_path, root.join("agent.log"), faketime);
        let socket = state.path.join("control.sock");
        let rng = StdRng::seed_from_u64(opts.seed);
        tracing::info!(dir = %root.display(), port, "chaos run set up");
        Ok(Chaos {
            opts: opts.clone(),
            rng,
            dir: Some(dir),
            scenario,
            clock,
            sim: Some(sim),
            obs,
            platform: Some(platform),
            broker,
            witness,
            state,
            agent,
            agent_wanted: true,
            restart_at: None,
            exits: Vec::new(),
            socket,
            event_topic,
            alarm_topic,
            tracker: Tracker::default(),
            next_truck: 0,
            feeding: false,
            last_poll: Instant::now(),
            lane_state: None,
            hold_since: None,
            faults: Vec::new(),
            windows: Vec::new(),
            skipped,
            clock_offset_s: 0,
        })
    }

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

    /// Injects one fault, waits for its cause to be gone and for the lane to
    /// serve a truck again.
    async fn fault(&mut self, n: usize, kind: Kind) -> Result<FaultRecord> {
        let mut problems = Vec::new();
        let (detail, injected_ms, cause_gone_ms) = match kind {
            Kind::AgentKill => {
                let moment = self.moment().await?;
                let state = self.lane_state.clone().unwrap_or_else(|| "?".into());
                self.agent_wanted = false;
                self.agent.kill().await;
                let inj = self.now_ms();
                let down = self.rand_s(0.2, 1.0);
                self.sleep(down).await?;
                self.agent_wanted = true;
                self.agent.spawn()?;
                (
                    format!(
                        "SIGKILL {moment} (lane {state}), down {:.1} s",
                        down.as_secs_f64()
                    ),
                    inj,
                    self.now_ms(),
                )
            }
            Kind::BrokerRestart | Kind::BrokerKill => {
                let moment = self.moment().await?;
                let inj = self.now_ms();
                if kind == Kind::BrokerKill {
                    self.broker.kill().await;
                } else {
                    self.broker.stop().await?;
                }
                let down = self.rand_s(0.2, 1.5);
                self.sleep(down).await?;
                self.broker.spawn().await?;
                (
                    format!(
                        "{} {moment}, down {:.1} s",
                        if kind == Kind::BrokerKill {
                            "SIGKILL"
                        } else {
                            "SIGTERM"
                        },
                        down.as_secs_f64()
                    ),
                    inj,
                    self.now_ms(),
                )
            }
            Kind::DeviceDown => {
                let moment = self.moment().await?;
                let name = DEVICES[self.rng.gen_range(0..DEVICES.len())];
                let dev: DeviceId = name.parse().map_err(|e| anyhow!("{e}"))?;
                let silent = self.rng.gen_bool(0.5);
                let mode = if silent {
                    lane_io_host::FaultMode::Silent
                } else {
                    lane_io_host::FaultMode::Offline
                };
                self.sim()?
                    .set_fault(&dev, mode)
                    .map_err(|e| anyhow!("{e}"))?;
                let inj = self.now_ms();
                let down = self.rand_s(0.5, 2.0);
                self.sleep(down).await?;
                self.sim()?
                    .set_fault(&dev, lane_io_host::FaultMode::Normal)
                    .map_err(|e| anyhow!("{e}"))?;
                let gone = self.now_ms();
                self.windows.push(DeviceWindow {
                    device: dev.to_string(),
                    from_ms: inj,
                    to_ms: gone,
                });
                (
                    format!(
                        "{name} {} {moment}, {:.1} s",
                        if silent { "silent" } else { "offline" },
                        down.as_secs_f64()
                    ),
                    inj,
                    gone,
                )
            }
            Kind::DiskFull => {
                let moment = self.moment().await?;
                let bytes = self.state.fill()?;
                let inj = self.now_ms();
                let down = self.rand_s(1.0, 2.0);
                self.sleep(down).await?;
                self.state.clear()?;
                (
                    format!(
                        "{:.1} MiB ballast {moment}, {:.1} s",
                        bytes as f64 / 1048576.0,
                        down.as_secs_f64()
                    ),
                    inj,
                    self.now_ms(),
                )
            }
            Kind::DbCorrupt => {
                let since = Instant::now();
                self.agent_wanted = false;
                self.agent.stop().await?;
                let inj = self.now_ms();
                let what = self.corrupt_db()?;
                self.agent_wanted = true;
                self.agent.spawn()?;
                let gone = self.now_ms();
                // The agent must serve again by itself; if it cannot, the
                // harness repairs by hand (moves lane.db away) so the run can
                // go on, and says so.
                let exits0 = self.exits.len();
                let ok = self
                    .wait(RECOVERY_TIMEOUT, |c| c.tracker.served_after(gone).is_some())
                    .await?;
                if !ok {
                    problems.push(format!(
                        "the agent did not serve again by itself with a corrupt lane.db ({} exits in {:.0} s; see agent.log); the harness moved lane.db away by hand",
                        self.exits.len() - exits0,
                        RECOVERY_TIMEOUT.as_secs_f64()
                    ));
                    self.agent_wanted = false;
                    self.agent.stop().await?;
                    self.move_db_away(n)?;
                    self.agent_wanted = true;
                    self.agent.spawn()?;
                } else {
                    let quarantined = self.quarantined();
                    if quarantined.is_empty() {
                        problems.push(
                            "no quarantined copy of the corrupt lane.db in the state directory"
                                .into(),
                        );
                    }
                    let alarms = self.alarms_since(since);
                    if alarms.is_empty() {
                        problems.push("no alarm received after the corruption".into());
                    }
                }
                (what, inj, gone)
            }
            Kind::ClockJump => {
                let choices: [i64; 8] = [-7200, -600, -60, 0, 60, 600, 3600, 86_400];
                let mut off = self.clock_offset_s;
                while off == self.clock_offset_s {
                    off = choices[self.rng.gen_range(0..choices.len())];
                }
                let moment = self.moment().await?;
                let from = self.clock_offset_s;
                if let Some(ft) = &self.agent.faketime {
                    ft.set(off)?;
                }
                self.clock_offset_s = off;
                let inj = self.now_ms();
                (
                    format!("agent wall clock {from:+} s -> {off:+} s {moment}"),
                    inj,
                    inj,
                )
            }
        };
        let mut rec = FaultRecord {
            n,
            kind: kind.name().to_string(),
            detail,
            injected_ms,
            cause_gone_ms,
            served_ms: None,
            recovery_s: None,
            problems,
        };
        let gone = cause_gone_ms;
        let served = self
            .wait(RECOVERY_TIMEOUT, |c| c.tracker.served_after(gone).is_some())
            .await?;
        if served {
            if let Some(p) = self.tracker.served_after(gone) {
                let start = p.started_ms.unwrap_or(gone);
                let from = p.stopped_ms.unwrap_or(gone).max(gone);
                rec.served_ms = Some(start);
                rec.recovery_s = Some(self.lane_to_real_s(start.saturating_sub(from)));
            }
        } else {
            rec.problems.push(format!(
                "no truck served within {} s after the cause was gone (lane state {:?})",
                RECOVERY_TIMEOUT.as_secs(),
                self.lane_state
            ));
            // The waiting driver gives up so the run can go on.
            self.send_back();
        }
        Ok(rec)
    }

    /// Waits for a random kind of moment: now-ish, a truck being identified,
    /// or a truck passing under the arm. Returns its description.
    async fn moment(&mut self) -> Result<&'static str> {
        match self.rng.gen_range(0..3) {
            0 => {
                let d = self.rand_s(0.0, 1.5);
                self.sleep(d).await?;
                Ok("at a random moment")
            }
            1 => {
                let a = self.tracker.arrivals;
                self.wait(Duration::from_secs(20), |c| c.tracker.arrivals > a)
                    .await?;
                let d = self.rand_s(0.0, 0.8);
                self.sleep(d).await?;
                Ok("while identifying")
            }
            _ => {
                let s = self.tracker.starts;
                self.wait(Duration::from_secs(20), |c| c.tracker.starts > s)
                    .await?;
                let d = self.rand_s(0.0, 1.2);
                self.sleep(d).await?;
                Ok("while passing")
            }
        }
    }

    fn db_path(&self) -> PathBuf {
        self.state.path.join("lane.db")
    }

    /// Overwrites bytes of lane.db: the b-tree page header of page 1 (the
    /// schema) and a random later page.
    fn corrupt_db(&mut self) -> Result<String> {
        use std::io::{Seek, SeekFrom, Write};
        let path = self.db_path();
        let len = std::fs::metadata(&path)
            .with_context(|| format!("{}", path.display()))?
            .len();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let n1 = self.rng.gen_range(64..512usize);
        let junk: Vec<u8> = (0..n1).map(|_| self.rng.gen()).collect();
        f.seek(SeekFrom::Start(100))?;
        f.write_all(&junk)?;
        let pages = len / 4096;
        let mut extra = String::new();
        if pages > 2 {
            let page = self.rng.gen_range(1..pages);
            let junk: Vec<u8> = (0..512).map(|_| self.rng.gen()).collect();
            f.seek(SeekFrom::Start(page * 4096))?;
            f.write_all(&junk)?;
            extra = format!(" + 512 B of page {}", page + 1);
        }
        f.sync_all()?;
        Ok(format!("{n1} B at offset 100{extra} of a {len} B lane.db"))
    }

    /// Files beside lane.db that look like a quarantined copy.
    fn quarantined(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.state.path) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with("lane.db")
                    && !matches!(
                        n.as_str(),
                        "lane.db" | "lane.db-wal" | "lane.db-shm" | "lane.db-journal"
                    )
                    && !n.contains("harness-removed")
            })
            .collect()
    }

    fn move_db_away(&self, n: usize) -> Result<()> {
        for suffix in ["", "-wal", "-shm"] {
            let p = self.state.path.join(format!("lane.db{suffix}"));
            if p.exists() {
                let to = self
                    .state
                    .path
                    .join(format!("lane.db{suffix}.harness-removed-{n}"));
                std::fs::rename(&p, &to).with_context(|| format!("moving {} away", p.display()))?;
            }
        }
        Ok(())
    }

    fn alarms_since(&self, t: Instant) -> Vec<String> {
        self.witness
            .received()
            .into_iter()
            .filter(|m| m.topic == self.alarm_topic && m.at >= t)
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect()
    }

    /// Drain the lane, collect, stop everything, analyse.
    async fn finish(
        &mut self,
        started: Instant,
        err: Option<anyhow::Error>,
    ) -> Result<ChaosReport> {
        let mut harness_error = err.map(|e| format!("{e:#}"));
        if harness_error.is_none() {
            if let Err(e) = self.drain().await {
                harness_error = Some(format!("{e:#}"));
            }
        }
        let violations: Vec<_> = self
            .sim
            .as_ref()
            .map(|s| s.violations().iter().map(|v| v.violation.kind).collect())
            .unwrap_or_default();
        let down_on_occupied = self
            .sim
            .as_ref()
            .map(SimLane::arm_down_on_occupied)
            .unwrap_or(0);
        if let Err(e) = self.agent.stop().await {
            tracing::warn!(error = %e, "stopping the agent");
        }
        self.agent.kill().await;
        if let Some(p) = self.platform.take() {
            p.shutdown().await;
        }
        if let Some(s) = self.sim.take() {
            s.shutdown().await;
        }
        if let Err(e) = self.broker.stop().await {
            tracing::warn!(error = %e, "stopping mosquitto");
        }
        let received = self.witness.received();
        let alarms = received
            .iter()
            .filter(|m| m.topic == self.alarm_topic)
            .count();
        let figures = analysis::analyse(&analysis::Inputs {
            tracker: &self.tracker,
            events: &received,
            alarms,
            event_topic: &self.event_topic,
            faults: &self.faults,
            windows: &self.windows,
            violations: &violations,
            arm_down_on_occupied: down_on_occupied,
            scale: self.opts.time_scale,
            agent_starts: self.agent.starts,
            agent_exits: self.exits.len(),
        });
        let mut violated = analysis::violated(&figures, self.opts.recovery_goal_s);
        if self.faults.len() < self.opts.faults {
            violated.push(format!(
                "only {} of {} faults injected",
                self.faults.len(),
                self.opts.faults
            ));
        }
        if let Some(e) = harness_error {
            violated.push(format!("harness error: {e}"));
        }
        let dir = match self.dir.take() {
            Some(d) if self.opts.keep || !violated.is_empty() => {
                let p = d.keep();
                Some(p.display().to_string())
            }
            Some(d) => {
                // The tmpfs must be unmounted before the directory goes.
                drop(std::mem::replace(
                    &mut self.state,
                    StateDir {
                        path: PathBuf::new(),
                        mounted: false,
                        size_mb: 0,
                        mount_error: None,
                    },
                ));
                drop(d);
                None
            }
            None => None,
        };
        Ok(ChaosReport {
            seed: self.opts.seed,
            time_scale: self.opts.time_scale,
            wall_s: started.elapsed().as_secs_f64(),
            figures,
            violated,
            skipped_kinds: self.skipped.clone(),
            faults: self.faults.clone(),
            dir,
        })
    }

    /// No new trucks; let the ones in the lane finish and the events arrive.
    async fn drain(&mut self) -> Result<()> {
        self.feeding = false;
        self.agent_wanted = true;
        if !self.broker.running() {
            self.broker.spawn().await?;
        }
        let _ = self.state.clear();
        let ok = self
            .wait(Duration::from_secs(90), |c| {
                c.sim
                    .as_ref()
                    .map(|s| {
                        let snap = s.snapshot();
                        snap.trucks.is_empty() && snap.pending_trucks == 0
                    })
                    .unwrap_or(true)
            })
            .await?;
        if !ok {
            tracing::warn!("trucks still in the lane at the end");
        }
        // Events: until every finished passage could have one and nothing
        // new came for 3 s (at most 30 s).
        let end = Instant::now() + Duration::from_secs(30);
        let mut last = (self.witness.count(), Instant::now());
        loop {
            self.sleep(Duration::from_millis(200)).await?;
            let n = self.witness.count();
            if n != last.0 {
                last = (n, Instant::now());
            }
            let finished = self
                .tracker
                .passages
                .iter()
                .filter(|p| p.finished())
                .count();
            if (n >= finished && last.1.elapsed() > Duration::from_secs(3)) || Instant::now() > end
            {
                break;
            }
        }
        Ok(())
    }
}

/// The human summary of a report.
pub fn summary(r: &ChaosReport) -> String {
    use std::fmt::Write as _;
    let f = &r.figures;
    let mut s = String::new();
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.2} s")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        s,
        "\nchaos: seed {}, time scale {}, {:.0} s wall",
        r.seed, r.time_scale, r.wall_s
    );
    let kinds: Vec<String> = f
        .faults_by_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "  faults injected           {} ({})",
        f.faults,
        kinds.join(", ")
    );
    for k in &r.skipped_kinds {
        let _ = writeln!(s, "  fault kind skipped        {k}");
    }
    let _ = writeln!(
        s,
        "  passages driven           {} ({} released, {} backed out; {} unfinished at the end)",
        f.passages,
        f.released,
        f.passages - f.released,
        f.unfinished
    );
    let _ = writeln!(
        s,
        "  events received           {} ({} distinct event_ids, {} malformed; {} alarms)",
        f.events_received, f.unique_events, f.malformed, f.alarms_received
    );
    let _ = writeln!(s, "  lost                      {}", f.lost);
    let _ = writeln!(
        s,
        "  duplicated                {} trucks with >1 event ({} extra), {} event_ids received again, {} unattributed",
        f.duplicated_trucks, f.extra_events, f.redelivered, f.unattributed
    );
    let _ = writeln!(s, "  conflicting               {}", f.conflicting);
    let _ = writeln!(
        s,
        "  seq gaps                  {} (seq {:?}..{:?}, {} numbers reused)",
        f.seq_gaps, f.seq_first, f.seq_last, f.seq_reused
    );
    let _ = writeln!(
        s,
        "  missing identity          {} events (plate {}, e-tag {}, gate pass {})",
        f.missing_identity, f.missing_plate, f.missing_etag, f.missing_pass
    );
    let _ = writeln!(
        s,
        "  arm onto a vehicle        {} (struck {}, driven down on occupied loop/photocell {}; other safety violations {})",
        f.arm_struck_vehicle as u64 + f.arm_down_on_occupied,
        f.arm_struck_vehicle,
        f.arm_down_on_occupied,
        f.other_violations
    );
    let _ = writeln!(
        s,
        "  back to serving           median {}, max {} ({} not recovered; fault-free stop-to-go median {})",
        opt(f.recovery_median_s),
        opt(f.recovery_max_s),
        f.not_recovered,
        opt(f.baseline_median_s)
    );
    let _ = writeln!(
        s,
        "  agent processes           {} started, {} exited by themselves",
        f.agent_starts, f.agent_exits
    );
    for e in &f.examples {
        let _ = writeln!(s, "    - {e}");
    }
    for e in &f.fault_problems {
        let _ = writeln!(s, "    - {e}");
    }
    if let Some(d) = &r.dir {
        let _ = writeln!(s, "  run directory kept        {d}");
    }
    if r.violated.is_empty() {
        let _ = writeln!(s, "  PASS: every goal met");
    } else {
        let _ = writeln!(s, "  FAIL:");
        for v in &r.violated {
            let _ = writeln!(s, "    * {v}");
        }
    }
    s
}
