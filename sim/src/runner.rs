//! The scenario runner: brings up a broker (embedded, or a given one behind a
//! relay that can be cut), the simulated lane devices, the simulated
//! platform and a real `gate-agent` (in-process, over the real protocols),
//! plays the scenario's timeline, and checks every truck's event against its
//! expectation.
//!
//! The agent is configured exactly as a lane computer would be: a generated
//! TOML configuration naming the devices' TCP ports / serial lines, the
//! register profiles under `config/profiles/` and the platform's public key.

mod check;
mod config;
mod play;
mod port;
mod report;
mod start;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use gate_proto::messages::{Outcome, Reason};
use serde::Serialize;

use crate::broker::{BrokerAddr, BrokerRelay, EmbeddedBroker};
use crate::clock::SimClock;
use crate::fixture::Fixture;
use crate::lane::SimLane;
use crate::platform::{Platform, PlatformConfig, PlatformKey, PlatformReport};
use crate::scenario::{self, Scenario};

use check::check;
pub use config::{agent_config, lane_config};
use config::{camera_pos, device_id, norm};
pub use play::EXTERNAL_AGENT_WAIT;
use play::{play, RECOGNISER_LOAD_TIMEOUT};
pub use port::PortLanes;
pub use report::{data_floor_s, decided_after_arrival_s, line, summary, write_report};
use report::{lane_events, print_new};
pub use start::{run_external, start_lane, write_profiles};

/// The register profiles the agent uses for the simulator's devices, embedded
/// so a run needs no files beside the binary.
pub const PROFILES: &[(&str, &str)] = &[
    (
        "wb-f32-cdab.toml",
        include_str!("../../config/profiles/wb-f32-cdab.toml"),
    ),
    (
        "wb-i32-scaled.toml",
        include_str!("../../config/profiles/wb-i32-scaled.toml"),
    ),
    (
        "rfid-etag.toml",
        include_str!("../../config/profiles/rfid-etag.toml"),
    ),
    (
        "rfid-eseal.toml",
        include_str!("../../config/profiles/rfid-eseal.toml"),
    ),
];

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A real broker (`--broker`); None: an embedded one.
    pub broker: Option<BrokerAddr>,
    /// The broker the simulated platform uses (`--platform-broker`), when
    /// it is not the agents' own: the central broker of a port bridged to
    /// it (docs/deployment.md). None: the agents' broker.
    pub platform_broker: Option<BrokerAddr>,
    /// Print one line per truck as its event reaches the platform.
    pub live: bool,
    /// Override the scenario's time scale.
    pub time_scale: Option<f64>,
    /// Lane id suffix for `--lanes N` (None: the scenario's lane id).
    pub lane_override: Option<String>,
    /// Serve the (first) lane's officer console here (`demo --console`),
    /// with a demo officer account whose password is printed.
    pub console: Option<std::net::SocketAddr>,
}

impl RunOptions {
    /// Defaults: embedded broker, quiet, the scenario's time scale.
    pub fn new() -> Self {
        Self {
            broker: None,
            platform_broker: None,
            live: false,
            time_scale: None,
            lane_override: None,
            console: None,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Per truck: what was expected and what happened.
#[derive(Clone, Debug, Serialize)]
pub struct TruckResult {
    pub truck: String,
    pub plate: String,
    pub expected: scenario::Expect,
    pub event_id: Option<String>,
    pub seq: Option<u64>,
    pub decision: Option<String>,
    pub reasons: Vec<Reason>,
    pub outcome: Option<Outcome>,
    /// Alarms received during the passage (docs/scenarios.md, "Alarms").
    pub alarms: Vec<String>,
    /// Lane seconds from the arrival to the decision (the event's times).
    pub decided_after_arrival_s: Option<f64>,
    /// Lane seconds from the arrival to the last datum the decision uses,
    /// seen on the device side (the physical floor; [`data_floor_s`]).
    pub data_after_arrival_s: Option<f64>,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// The machine-readable report of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub lane: String,
    pub passed: bool,
    pub trucks: Vec<TruckResult>,
    pub platform: PlatformReport,
    pub violations: Vec<String>,
    pub problems: Vec<String>,
    pub lane_seconds: f64,
    /// On-board recognition in the agent (scenarios with `recognition = "onboard"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognition: Option<RecognitionReport>,
}

/// What the agent's on-board recogniser did during a run (real time).
#[derive(Clone, Debug, Serialize)]
pub struct RecognitionReport {
    /// Time the models took to be ready (fetch on a fresh machine + load), s.
    pub load_s: f64,
    /// Frames read, dropped from the full queue, failed.
    pub frames_read: u64,
    pub frames_dropped: u64,
    pub frames_failed: u64,
    /// Decode + recognition time per frame, ms.
    pub mean_frame_ms: f64,
    pub max_frame_ms: f64,
}

/// The agent a run drives.
pub enum Agent {
    /// Started by the runner, in this process.
    InProcess(Box<gate_agent::runtime::AgentHandle>),
    /// Started by someone else (by hand, or installed as a service) with
    /// the configuration the runner wrote: seen through the platform
    /// (its status, events, alarms) and its control socket.
    External {
        /// The control socket named in the configuration (officer raise
        /// and lower go through it, as `gatectl barrier` does).
        socket: PathBuf,
    },
}

/// What the runner needs to know of the agent's lane now.
#[derive(Clone, Debug, Default)]
pub struct AgentView {
    pub state: String,
    pub whitelist_version: u64,
    pub seq: Option<u64>,
    pub led: String,
}

impl LaneRun {
    /// The lane as the agent shows it: in process, its view; external, the
    /// status it published (at start, every `status_interval_s` and at once
    /// when a hold begins or ends).
    pub fn agent_view(&self) -> AgentView {
        match &self.agent {
            Agent::InProcess(a) => {
                let v = a.view.borrow();
                AgentView {
                    state: v.state.clone(),
                    whitelist_version: v.whitelist_version,
                    seq: v.seq,
                    led: v.led.clone(),
                }
            }
            Agent::External { .. } => {
                let Some(st) = self.platform.status(&self.lane_id) else {
                    return AgentView::default();
                };
                AgentView {
                    state: st.lane_state.clone().unwrap_or_default(),
                    whitelist_version: st.whitelist_version.unwrap_or(0),
                    seq: st.hold.as_ref().map(|h| h.seq),
                    led: st.hold.as_ref().map(|h| h.led.clone()).unwrap_or_default(),
                }
            }
        }
    }
}

/// One lane of a run.
pub struct LaneRun {
    pub scenario: Scenario,
    pub lane_id: String,
    pub sim: SimLane,
    /// The site's platform (shared by the lanes of a run).
    pub platform: std::rc::Rc<Platform>,
    /// The first lane of a run plays the site-wide items (whitelist deltas).
    pub primary: bool,
    pub agent: Agent,
    pub relay: BrokerRelay,
    /// The broker behind the relay.
    pub broker: BrokerAddr,
    /// The run's own directory (in-process agent), kept until the end.
    pub dir: Option<tempfile::TempDir>,
    pub clock: SimClock,
    /// Platform commands sent: (command id, index in the scenario).
    pub commands_sent: Vec<(String, usize)>,
    /// The simulated trucks and their index in the scenario.
    pub trucks: Vec<(crate::physics::TruckId, usize)>,
    /// The officer console, when `--console` asked for it or the
    /// scenario has console steps.
    pub console: Option<gate_agent::console::ConsoleServer>,
    /// The password of the console's accounts (DEMO and the scenario's
    /// console officers).
    pub console_password: Option<String>,
}

/// Run a scenario to its end on one lane.
pub async fn run_lane(mut run: LaneRun, opts: &RunOptions) -> Result<RunReport> {
    let s = run.scenario.clone();
    // The agent asks for a snapshot at start; wait until it decides with it.
    let want = s.whitelist.version;
    let t0 = std::time::Instant::now();
    // An external agent is started by someone after the devices are up.
    let limit = match run.agent {
        Agent::InProcess(_) => Duration::from_secs(30),
        Agent::External { .. } => EXTERNAL_AGENT_WAIT,
    };
    loop {
        if run.agent_view().whitelist_version >= want {
            break;
        }
        if t0.elapsed() > limit {
            return Err(anyhow!(
                "the agent did not report whitelist version {want} within {} s",
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load_s = wait_for_recogniser(&run, opts).await?;
    let base_ms = run.clock.now_ms();
    let lane_s = |c: &SimClock| (c.now_ms().saturating_sub(base_ms)) as f64 / 1000.0;
    let mut printed: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    let start_unix = gate_proto::time::now_unix_ms();
    let timeline = s.timeline();
    let end_s = s.end_s();
    let mut idx = 0;
    let mut hold_since: Option<f64> = None;
    loop {
        let now_s = lane_s(&run.clock);
        while idx < timeline.len() && timeline[idx].at_s <= now_s {
            if let Err(e) = play(&mut run, &s, timeline[idx].what, start_unix).await {
                problems.push(format!("{}: {e:#}", timeline[idx].what));
            }
            idx += 1;
        }
        // A held truck stays held until the scenario ends the hold: its
        // driver turns back after `leaves_after_hold_s` (the truck's, else
        // the scenario's), an officer or platform command acts, or the
        // agent's hold timeout runs out.
        let state = run.agent_view().state;
        if state == "hold" {
            let since = *hold_since.get_or_insert(now_s);
            if let Some(id) = run.sim.waiting_truck() {
                let leave = run
                    .trucks
                    .iter()
                    .find(|(t, _)| *t == id)
                    .and_then(|(_, i)| s.trucks[*i].leaves_after_hold_s)
                    .or(s.scenario.leaves_after_hold_s);
                if leave.is_some_and(|after| now_s - since >= after) {
                    run.sim.reverse(id).ok();
                    hold_since = None;
                }
            }
        } else {
            hold_since = None;
        }
        if opts.live {
            print_new(&run, &mut printed);
        }
        let done =
            idx >= timeline.len() && lane_events(&run).len() >= s.trucks.len() && state == "idle";
        if done || now_s > end_s {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the outbox drain.
    let t1 = std::time::Instant::now();
    while lane_events(&run).len() < s.trucks.len() && t1.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if opts.live {
        print_new(&run, &mut printed);
    }
    let lane_seconds = lane_s(&run.clock);
    let view = run.agent_view();
    if view.state == "hold" {
        problems.push(format!(
            "the run ended with seq {} still held (LED {:?}): nothing in the scenario ends its hold \
             (set leaves_after_hold_s, an officer or platform command, or [agent] hold_timeout_s)",
            view.seq.map_or_else(|| "?".to_string(), |s| s.to_string()),
            view.led
        ));
    }
    let mut report = check(&run, &s, problems, lane_seconds, start_unix);
    let rec = match &run.agent {
        Agent::InProcess(a) => a.recogniser.clone(),
        Agent::External { .. } => None,
    };
    if let (Some(rec), Some(load_s)) = (&rec, load_s) {
        let st = rec.stats();
        report.recognition = Some(RecognitionReport {
            load_s,
            frames_read: st.read,
            frames_dropped: st.dropped,
            frames_failed: st.failed,
            mean_frame_ms: st.total_us as f64 / st.read.max(1) as f64 / 1000.0,
            max_frame_ms: st.max_us as f64 / 1000.0,
        });
    }
    let LaneRun { sim, agent, .. } = run;
    if let Agent::InProcess(agent) = agent {
        agent.shutdown().await.ok();
    }
    sim.shutdown().await;
    Ok(report)
}

/// The first trucks must meet a working recogniser: wait until the agent's
/// models are loaded (on a fresh machine they are downloaded first). Returns
/// the real seconds waited, or `None` when the agent has no recogniser.
async fn wait_for_recogniser(run: &LaneRun, opts: &RunOptions) -> Result<Option<f64>> {
    use gate_agent::recognition::RecogniserState;
    let Agent::InProcess(agent) = &run.agent else {
        return Ok(None);
    };
    let Some(rec) = agent.recogniser.clone() else {
        return Ok(None);
    };
    let t0 = std::time::Instant::now();
    let mut st = rec.subscribe();
    if opts.live && rec.state() == RecogniserState::Loading {
        println!("waiting for the agent's recognition models (downloaded on first use)...");
    }
    let state = tokio::time::timeout(
        RECOGNISER_LOAD_TIMEOUT,
        st.wait_for(|s| *s != RecogniserState::Loading),
    )
    .await
    .map_err(|_| {
        anyhow!(
            "the agent's recognition models were not ready within {} s",
            RECOGNISER_LOAD_TIMEOUT.as_secs()
        )
    })?
    .map_err(|_| anyhow!("the agent's recogniser stopped"))?
    .clone();
    if let RecogniserState::Failed(e) = state {
        return Err(anyhow!(
            "on-board recognition unavailable in the agent: {e}"
        ));
    }
    let waited = t0.elapsed().as_secs_f64();
    if opts.live {
        println!("recognition models ready ({waited:.1} s)");
    }
    Ok(Some(waited))
}

/// Start the broker a run uses: the given one, or an embedded one.
pub fn broker(opts: &RunOptions) -> Result<(Option<EmbeddedBroker>, BrokerAddr)> {
    match &opts.broker {
        Some(b) => Ok((None, b.clone())),
        None => {
            let b = EmbeddedBroker::start(None).map_err(|e| anyhow!("embedded broker: {e}"))?;
            let addr = b.broker_addr();
            Ok((Some(b), addr))
        }
    }
}

/// Run a scenario on `lanes` independent lanes (ids `L01`.. when > 1).
pub async fn run(s: &Scenario, opts: &RunOptions, lanes: usize) -> Result<Vec<RunReport>> {
    let (_embedded, addr) = broker(opts)?;
    let lane_ids: Vec<String> = (0..lanes.max(1))
        .map(|n| {
            if lanes > 1 {
                format!("{}-{}", s.lane.lane, n + 1)
            } else {
                opts.lane_override
                    .clone()
                    .unwrap_or_else(|| s.lane.lane.clone())
            }
        })
        .collect();
    // One platform per site, as in a real port: every lane of the run talks
    // to it (at the centre, through a bridge, with --platform-broker).
    let central = opts.platform_broker.clone().unwrap_or_else(|| addr.clone());
    let site = Site::start(s, &addr, &central, lane_ids).await?;
    let mut runs = Vec::new();
    for (n, lane) in site.lanes.iter().enumerate() {
        let mut o = opts.clone();
        o.lane_override = Some(lane.clone());
        let addr = addr.clone();
        let platform = site.platform.clone();
        runs.push(async move {
            let lr = start_lane(s, &addr, &o, platform, n == 0).await?;
            run_lane(lr, &o).await
        });
    }
    // The lanes run concurrently on this task (the platform client is not Send).
    let mut out = Vec::new();
    for r in futures_util::future::join_all(runs).await {
        out.push(r?);
    }
    site.end(s, &addr, &central).await;
    Ok(out)
}

/// The site side of a run: its lanes and the platform they talk to, under
/// client ids of this run, the broker made ready for them first
/// ([`crate::isolation`]). The lanes' broker (`addr`) is where the agents'
/// sessions and retained messages are looked at; the platform connects to
/// `central` (the same broker, or the centre of a bridged port).
struct Site {
    platform: std::rc::Rc<Platform>,
    lanes: Vec<String>,
    run_id: String,
    platform_id: String,
}

impl Site {
    async fn start(
        s: &Scenario,
        addr: &BrokerAddr,
        central: &BrokerAddr,
        lanes: Vec<String>,
    ) -> Result<Site> {
        Self::start_with(s, addr, central, lanes, true).await
    }

    /// [`Site::start`]; `consume_single_use_passes` as in
    /// [`PlatformConfig`] (false when every lane plays the same trucks on
    /// the same passes).
    async fn start_with(
        s: &Scenario,
        addr: &BrokerAddr,
        central: &BrokerAddr,
        lanes: Vec<String>,
        consume_single_use_passes: bool,
    ) -> Result<Site> {
        let run_id = crate::isolation::run_id();
        crate::isolation::prepare(addr, &run_id, &s.lane.site, &lanes).await?;
        let platform_id = format!("platform-sim-{}-{run_id}", s.lane.site);
        let start_ms = gate_proto::time::now_unix_ms();
        let fixture =
            Fixture::from_scenario(s, start_ms).map_err(|e| anyhow!("whitelist fixture: {e}"))?;
        let mut pc = PlatformConfig::new(central.clone(), &s.lane.site, PlatformKey::test_key());
        pc.records_per_chunk = s.platform.records_per_chunk;
        pc.command_ttl = Duration::from_secs_f64(s.platform.command_ttl_s);
        pc.expect_first_seq = s.platform.expect_first_seq;
        pc.client_id = Some(platform_id.clone());
        pc.consume_single_use_passes = consume_single_use_passes;
        let platform = std::rc::Rc::new(
            Platform::start_with(pc, fixture)
                .await
                .context("starting the platform")?,
        );
        Ok(Site {
            platform,
            lanes,
            run_id,
            platform_id,
        })
    }

    /// Stop the platform (once the lanes let go of it) and clear what the
    /// run left on the broker.
    async fn end(self, s: &Scenario, addr: &BrokerAddr, central: &BrokerAddr) {
        if let Ok(p) = std::rc::Rc::try_unwrap(self.platform) {
            p.shutdown().await;
        }
        crate::isolation::finish(
            addr,
            central,
            &self.run_id,
            &s.lane.site,
            &self.lanes,
            &self.platform_id,
        )
        .await;
    }
}

/// Where the bundled scenarios are (for `demo`).
pub const DEMO: &str = include_str!("../scenarios/demo.toml");

pub fn demo_scenario() -> Result<Scenario> {
    Scenario::parse(DEMO, "sim/scenarios/demo.toml").map_err(|e| anyhow!("{e}"))
}
