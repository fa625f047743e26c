//! The scenario runner: brings up a broker (embedded, or a given one behind a
//! relay that can be cut), the simulated lane devices, the simulated
//! platform and a real `gate-agent` (in-process, over the real protocols),
//! plays the scenario's timeline, and checks every truck's event against its
//! expectation.
//!
//! The agent is configured exactly as a lane computer would be: a generated
//! TOML configuration naming the devices' TCP ports / serial lines, the
//! register profiles under `config/profiles/` and the platform's public key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use gate_proto::messages::{LaneEvent, Outcome, Reason};
use serde::Serialize;

use crate::broker::{BrokerAddr, BrokerRelay, EmbeddedBroker};
use crate::clock::SimClock;
use crate::devices::camera::CameraPosition;
use crate::fixture::Fixture;
use crate::lane::{DeviceId, Endpoints, LaneConfig, SimLane};
use crate::platform::{CommandRequest, Platform, PlatformConfig, PlatformKey, PlatformReport};
use crate::scenario::{self, CommandVia, FaultKind, Scenario, Timed, Transport};

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

fn norm(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The simulator's lane configuration for a scenario.
pub fn lane_config(s: &Scenario) -> LaneConfig {
    use crate::devices::weighbridge::WeighbridgeConfig;
    let mut c = LaneConfig {
        name: s.lane.lane.clone(),
        seed: s.scenario.seed,
        ..LaneConfig::default()
    };
    c.board.rtu = s.lane.board.transport == Transport::Serial;
    c.board.rtu_unit_id = s.lane.board.unit;
    c.weighbridges = vec![WeighbridgeConfig::new("wb", s.lane.weighbridge.profile)];
    if !s.lane.etag_reader {
        c.etag_reader = None;
    }
    if !s.lane.eseal_reader {
        c.eseal_reader = None;
    }
    c.cameras
        .retain(|p, _| s.lane.cameras.iter().any(|sc| camera_pos(*sc) == *p));
    c
}

fn camera_pos(c: scenario::Camera) -> CameraPosition {
    match c {
        scenario::Camera::PlateFront => CameraPosition::PlateFront,
        scenario::Camera::PlateRear => CameraPosition::PlateRear,
        scenario::Camera::ContainerFront => CameraPosition::ContainerFront,
        scenario::Camera::ContainerBack => CameraPosition::ContainerBack,
    }
}

fn device_id(d: scenario::Device) -> DeviceId {
    match d {
        scenario::Device::Board => DeviceId::Board,
        scenario::Device::Weighbridge => DeviceId::Weighbridge(None),
        scenario::Device::EtagReader => DeviceId::EtagReader,
        scenario::Device::EsealReader => DeviceId::EsealReader,
        other => match other.camera() {
            Some(c) => DeviceId::Camera(camera_pos(c)),
            None => DeviceId::Board,
        },
    }
}

/// The agent's configuration (TOML text) for a lane of the simulator.
pub fn agent_config(
    s: &Scenario,
    lane_id: &str,
    ep: &Endpoints,
    broker: &BrokerAddr,
    dir: &Path,
    time_scale: f64,
) -> Result<String> {
    use std::fmt::Write as _;
    let mut t = String::new();
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    writeln!(
        t,
        "# Generated by gate-sim for scenario `{}`.",
        s.scenario.name
    )?;
    writeln!(t, "[lane]\nsite = {:?}\nlane = {:?}", s.lane.site, lane_id)?;
    writeln!(
        t,
        "direction = {:?}\ntime_scale = {time_scale}\n",
        format!("{:?}", s.lane.direction).to_lowercase()
    )?;
    writeln!(t, "[store]\npath = {}\n", q(&dir.join("lane.db")))?;
    writeln!(
        t,
        "[platform]\nbroker = \"mqtt://{}:{}\"\nstatus_interval_s = 5\nkeys = {{ {:?} = {:?} }}\n",
        broker.host,
        broker.port,
        PlatformKey::test_key().kid(),
        PlatformKey::test_public_b64()
    )?;
    writeln!(t, "[control]\nsocket = {}\n", q(&dir.join("control.sock")))?;
    writeln!(t, "[clock]\nassume_synced = true\n")?;
    if let Some(h) = s.agent.hold_timeout_s {
        writeln!(
            t,
            "[sequence]\nhold_timeout_ms = {}\n",
            (h * 1000.0).round() as u64
        )?;
    }
    writeln!(
        t,
        "[policy]\nweight_tolerance_pct = {}\nfocus_action = {:?}\n",
        s.agent.weight_tolerance_pct,
        format!("{:?}", s.agent.focus_action).to_lowercase()
    )?;
    writeln!(
        t,
        "[policy.scale]\nmax_kg = {}\ndivision_kg = {}\n",
        s.lane.weighbridge.capacity_kg, s.lane.weighbridge.division_kg
    )?;
    if s.lane.recognition == scenario::RecognitionSetup::Onboard {
        // A lane computer has at least two cores: two recognition workers.
        writeln!(t, "[recognition]\nworkers = 2\n")?;
    }
    writeln!(
        t,
        "[devices]\nprofiles_dir = {}\n",
        q(&dir.join("profiles"))
    )?;
    // Buses.
    match (&ep.board_rtu, s.lane.board.transport) {
        (Some(path), Transport::Serial) => writeln!(
            t,
            "[[devices.buses]]\nname = \"board\"\nrtu = {{ path = {}, baud = 19200 }}\n",
            q(path)
        )?,
        _ => writeln!(
            t,
            "[[devices.buses]]\nname = \"board\"\ntcp = \"{}\"\n",
            ep.board_tcp
        )?,
    }
    writeln!(
        t,
        "[devices.board]\nbus = \"board\"\nunit_id = {}\n",
        s.lane.board.unit
    )?;
    if let Some(wb) = ep.weighbridges.first() {
        if let Some(addr) = wb.tcp {
            writeln!(t, "[[devices.buses]]\nname = \"wb\"\ntcp = \"{addr}\"\n")?;
            writeln!(
                t,
                "[devices.weighbridge]\nmodbus = {{ bus = \"wb\", unit_id = 1, profile = {:?} }}\nstability = {{ division_kg = {} }}\n",
                s.lane.weighbridge.profile.as_str(),
                s.lane.weighbridge.division_kg
            )?;
        } else if let Some(path) = &wb.serial {
            writeln!(
                t,
                "[devices.weighbridge]\nascii = {{ port = {{ path = {}, baud = 9600 }}, protocol = {:?}, checksum = true }}\nstability = {{ division_kg = {} }}\n",
                q(path),
                s.lane.weighbridge.profile.as_str(),
                s.lane.weighbridge.division_kg
            )?;
        }
    }
    let mut roles = String::from("[roles]\n");
    for (name, addr, kind, profile) in [
        ("etag-reader", ep.etag_reader, "e-tag", "rfid-etag"),
        ("eseal-reader", ep.eseal_reader, "e-seal", "rfid-eseal"),
    ] {
        if let Some(addr) = addr {
            writeln!(
                t,
                "[[devices.buses]]\nname = \"{name}\"\ntcp = \"{addr}\"\n"
            )?;
            writeln!(
                t,
                "[[devices.rfid]]\nname = \"{name}\"\nkind = \"{kind}\"\nbus = \"{name}\"\nunit_id = 1\nprofile = \"{profile}\"\n"
            )?;
            let role = if kind == "e-tag" { "etag" } else { "eseal" };
            writeln!(roles, "{role} = \"{name}\"")?;
        }
    }
    for (pos, url) in &ep.cameras {
        let role = match pos {
            CameraPosition::PlateFront => "plate_front",
            CameraPosition::PlateRear => "plate_rear",
            CameraPosition::ContainerFront => "container_front",
            CameraPosition::ContainerBack => "container_back",
        };
        match s.lane.recognition {
            // The agent reads the frames itself: it is not told where the
            // camera's own results are.
            scenario::RecognitionSetup::Onboard => writeln!(
                t,
                "[[devices.cameras]]\nname = \"{role}\"\nsnapshot_url = \"{url}/snapshot.jpg\"\nrecognition = \"onboard\"\n"
            )?,
            scenario::RecognitionSetup::Camera => writeln!(
                t,
                "[[devices.cameras]]\nname = \"{role}\"\nsnapshot_url = \"{url}/snapshot.jpg\"\nrecognition_url = \"{url}/recognition\"\nrecognition = \"camera\"\n"
            )?,
        }
        writeln!(roles, "{role} = \"{role}\"")?;
    }
    t.push_str(&roles);
    Ok(t)
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

/// The devices, the broker relay and an agent configuration for one lane:
/// the configuration goes to `cfg_path`, the register profiles it names to
/// `profiles/` beside it, the lane's database and control socket are in
/// the same directory.
async fn lane_parts(
    s: &Scenario,
    broker: &BrokerAddr,
    opts: &RunOptions,
    cfg_path: &Path,
) -> Result<(String, SimClock, SimLane, BrokerRelay, PathBuf)> {
    let dir = cfg_path
        .parent()
        .ok_or_else(|| anyhow!("{}: no directory", cfg_path.display()))?;
    let scale = opts.time_scale.unwrap_or(s.lane.time_scale);
    let lane_id = opts
        .lane_override
        .clone()
        .unwrap_or_else(|| s.lane.lane.clone());
    let clock = SimClock::new(scale).map_err(|e| anyhow!("time scale: {e}"))?;
    let mut lc = lane_config(s);
    lc.name = lane_id.clone();
    let sim = SimLane::spawn(lc, clock.clone())
        .await
        .context("starting the simulated devices")?;
    let relay = BrokerRelay::start(broker).context("starting the broker relay")?;
    write_profiles(dir)?;
    let text = agent_config(
        s,
        &lane_id,
        sim.endpoints(),
        &relay.broker_addr(),
        dir,
        scale,
    )?;
    std::fs::write(cfg_path, &text).with_context(|| format!("writing {}", cfg_path.display()))?;
    Ok((lane_id, clock, sim, relay, cfg_path.to_owned()))
}

/// The register profiles the generated configurations name, into
/// `dir/profiles/`.
pub fn write_profiles(dir: &Path) -> Result<()> {
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles)
        .with_context(|| format!("creating {}", profiles.display()))?;
    for (name, text) in PROFILES {
        std::fs::write(profiles.join(name), text)
            .with_context(|| format!("writing {}", profiles.join(name).display()))?;
    }
    Ok(())
}

/// Start everything for one lane (broker already running).
pub async fn start_lane(
    s: &Scenario,
    broker: &BrokerAddr,
    opts: &RunOptions,
    platform: std::rc::Rc<Platform>,
    primary: bool,
) -> Result<LaneRun> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let (lane_id, clock, sim, relay, cfg_path) =
        lane_parts(s, broker, opts, &dir.path().join("lane.toml")).await?;
    // The console: asked for (`demo --console`), or needed by the
    // scenario's console steps (on a free loopback port, its officers
    // given accounts).
    let console_officers: Vec<String> = s
        .commands
        .iter()
        .filter(|c| c.via == crate::scenario::CommandVia::Console)
        .filter_map(|c| c.officer.clone())
        .collect();
    let console_addr = match (opts.console, primary) {
        (Some(addr), true) => Some(addr),
        _ if !console_officers.is_empty() => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        _ => None,
    };
    let demo_login = match console_addr {
        Some(addr) => Some(add_demo_console(&cfg_path, addr, &console_officers)?),
        None => None,
    };
    let cfg = gate_agent::config::Config::load(&cfg_path).map_err(|errs| {
        anyhow!(
            "generated agent configuration is invalid:\n{}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let console_cfg = cfg.clone();
    let handle = gate_agent::runtime::start(cfg, &cfg_path)
        .await
        .context("starting gate-agent")?;
    let console = match &demo_login {
        Some(password) => {
            let c = gate_agent::console::serve(&handle, &console_cfg)
                .await
                .context("starting the officer console")?;
            if let (Some(c), Some(_)) = (&c, opts.console) {
                println!(
                    "officer console: {}://{}/  (officer DEMO, password {password})",
                    if c.https { "https" } else { "http" },
                    c.addr
                );
            }
            c
        }
        None => None,
    };
    let agent = Agent::InProcess(Box::new(handle));
    Ok(LaneRun {
        scenario: s.clone(),
        lane_id,
        sim,
        primary,
        platform,
        agent,
        relay,
        broker: broker.clone(),
        dir: Some(dir),
        clock,
        commands_sent: Vec::new(),
        trucks: Vec::new(),
        console,
        console_password: demo_login,
    })
}

/// Add a `[console]` on `addr` with a demo officer account (and one per
/// officer of the scenario's console steps) to the agent configuration at
/// `cfg_path`; the accounts' password (random, printed for the demo).
fn add_demo_console(
    cfg_path: &std::path::Path,
    addr: std::net::SocketAddr,
    officers: &[String],
) -> Result<String> {
    let password = format!("{:08x}", rand::random::<u32>());
    let hash = gate_agent::console::auth::hash_password(&password).map_err(|e| anyhow!(e))?;
    let mut text = std::fs::read_to_string(cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    text.push_str(&format!(
        "\n[console]\nlisten = \"{addr}\"\n\n[[console.accounts]]\nid = \"DEMO\"\nname = \"演示关员 Demo officer\"\nrole = \"officer\"\npassword_hash = \"{hash}\"\n"
    ));
    let mut seen = std::collections::BTreeSet::from(["DEMO".to_owned()]);
    for o in officers.iter().filter(|o| seen.insert((*o).clone())) {
        text.push_str(&format!(
            "\n[[console.accounts]]\nid = \"{o}\"\nrole = \"officer\"\npassword_hash = \"{hash}\"\n"
        ));
    }
    std::fs::write(cfg_path, text).with_context(|| format!("writing {}", cfg_path.display()))?;
    Ok(password)
}

/// Drive an agent the runner does not start (issue 16): the scenario's
/// devices, platform and broker relay come up, the agent configuration for
/// them is written to `cfg_path` (profiles in `profiles/` beside it, the
/// database and control socket in the same directory; `cfg_path` absolute),
/// and the run waits (up to
/// [`EXTERNAL_AGENT_WAIT`]) for an agent started with it, by hand or as a
/// service, to report the scenario's whitelist; then it plays and checks
/// the scenario as `run` does. `ready` is told the configuration's path.
pub async fn run_external(
    s: &Scenario,
    opts: &RunOptions,
    cfg_path: &Path,
    ready: impl FnOnce(&Path),
) -> Result<RunReport> {
    let dir = cfg_path
        .parent()
        .ok_or_else(|| anyhow!("{}: no directory", cfg_path.display()))?;
    let (_embedded, addr) = broker(opts)?;
    let lane = opts
        .lane_override
        .clone()
        .unwrap_or_else(|| s.lane.lane.clone());
    let central = opts.platform_broker.clone().unwrap_or_else(|| addr.clone());
    let site = Site::start(s, &addr, &central, vec![lane]).await?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (lane_id, clock, sim, relay, cfg_path) = lane_parts(s, &addr, opts, cfg_path).await?;
    ready(&cfg_path);
    let run = LaneRun {
        scenario: s.clone(),
        lane_id,
        sim,
        primary: true,
        platform: site.platform.clone(),
        agent: Agent::External {
            socket: dir.join("control.sock"),
        },
        relay,
        broker: addr.clone(),
        dir: None,
        clock,
        commands_sent: Vec::new(),
        trucks: Vec::new(),
        console: None,
        console_password: None,
    };
    let report = run_lane(run, opts).await;
    site.end(s, &addr, &central).await;
    report
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

/// How long a run waits for an external agent to come up.
pub const EXTERNAL_AGENT_WAIT: Duration = Duration::from_secs(600);

/// An officer action on an external agent through its control socket (the
/// console offers raise and lower, as `gatectl barrier`).
async fn external_officer(
    socket: &Path,
    c: &crate::scenario::CommandEntry,
    officer: String,
) -> Result<(bool, String)> {
    use crate::scenario::Action;
    use gate_agent::control::protocol::{
        BarrierAction, BarrierArgs, EntryArgs, OfficerActionKind, OfficerArgs, Request,
    };
    let reason = c.note.clone().unwrap_or_else(|| "scenario".into());
    let officer_req = |action| {
        Request::Officer(OfficerArgs {
            action,
            officer: officer.clone(),
            reason: reason.clone(),
            entry: c.entry.as_ref().map(|e| EntryArgs {
                plate: e.plate.clone(),
                trailer_plate: e.trailer_plate.clone(),
                containers: e.containers.clone(),
                etag: e.etag.clone(),
                pass_no: e.pass_no.clone(),
            }),
        })
    };
    let req = match c.kind {
        Action::Raise | Action::Lower => Request::Barrier(BarrierArgs {
            action: if c.kind == Action::Raise {
                BarrierAction::Raise
            } else {
                BarrierAction::Lower
            },
            officer: officer.clone(),
            reason: reason.clone(),
        }),
        Action::Release => officer_req(OfficerActionKind::Release),
        Action::Hold => officer_req(OfficerActionKind::Hold),
        Action::Inspect => officer_req(OfficerActionKind::Inspect),
        Action::Regather => officer_req(OfficerActionKind::Regather),
        Action::Entry => officer_req(OfficerActionKind::Entry),
        other => return Err(anyhow!("{other:?} is a platform command")),
    };
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut c = gate_agent::gatectl::client::Client::connect(&socket)
            .map_err(|e| anyhow!("{}: {e:?}", socket.display()))?;
        let r = c
            .call(&req, Duration::from_secs(10))
            .map_err(|e| anyhow!("{}: {e:?}", socket.display()))?;
        Ok((r.ok, r.error.unwrap_or_default()))
    })
    .await?
}

/// Bound on fetching + loading the models before a run starts.
const RECOGNISER_LOAD_TIMEOUT: Duration = Duration::from_secs(900);

async fn play(run: &mut LaneRun, s: &Scenario, what: Timed, start_unix: i64) -> Result<()> {
    match what {
        Timed::Truck(i) => {
            let id = run
                .sim
                .add_truck(s.trucks[i].to_spec())
                .map_err(|e| anyhow!("{e}"))?;
            run.trucks.push((id, i));
        }
        // Site-wide: the first lane of the run publishes it.
        Timed::Delta(_) | Timed::Stray(_) if !run.primary => {}
        Timed::Stray(i) => {
            run.platform
                .publish_stray(s.stray[i].kind, &run.lane_id, s.scenario.seed ^ i as u64)
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        Timed::Delta(i) => {
            run.platform
                .publish_delta(s.whitelist.deltas[i].to_delta(start_unix))
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        Timed::FaultStart(i) | Timed::FaultEnd(i) => {
            let f = &s.faults[i];
            let on = matches!(what, Timed::FaultStart(_));
            match f.kind {
                FaultKind::BrokerDown => run.relay.set_down(on),
                FaultKind::BrokerRestart => {
                    run.relay.set_down(on);
                    if on {
                        // The restarted broker has forgotten the lane's session.
                        let id = gate_proto::topics::LaneTopics::new(&s.lane.site, &run.lane_id)
                            .client_id();
                        crate::isolation::clear_session(&run.broker, &id).await?;
                    }
                }
                FaultKind::CameraDark => {
                    let cam = f
                        .device
                        .and_then(|d| d.camera())
                        .context("camera_dark needs a camera device")?;
                    run.sim
                        .camera_dark(camera_pos(cam), on)
                        .map_err(|e| anyhow!("{e}"))?;
                }
                FaultKind::DeviceOffline | FaultKind::DeviceTimeout => {
                    let dev = f.device.context("device fault without a device")?;
                    let mode = match (on, f.kind) {
                        (false, _) => lane_io_host::FaultMode::Normal,
                        (true, FaultKind::DeviceOffline) => lane_io_host::FaultMode::Offline,
                        _ => lane_io_host::FaultMode::Silent,
                    };
                    run.sim
                        .set_fault(&device_id(dev), mode)
                        .map_err(|e| anyhow!("{e}"))?;
                }
            }
        }
        Timed::Command(i) => {
            let c = &s.commands[i];
            match c.via {
                CommandVia::Platform => {
                    let kind = c
                        .kind
                        .platform()
                        .ok_or_else(|| anyhow!("{:?} is not a platform command", c.kind))?;
                    let mut req = CommandRequest::new(&run.lane_id, kind);
                    if let Some(o) = &c.officer {
                        req = req.officer(o);
                    }
                    if let Some(n) = &c.note {
                        req = req.note(n);
                    }
                    if let Some(d) = c.device {
                        req = req.device(d.as_str());
                    }
                    let sent = run
                        .platform
                        .send_command(req)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    run.commands_sent.push((sent.id, i));
                }
                CommandVia::Officer | CommandVia::Console => {
                    use gate_core::lane::OfficerAction;
                    let kind = officer_kind(c)?;
                    let officer = c.officer.clone().unwrap_or_else(|| "OFFICER".into());
                    let (ok, detail) = match (&run.agent, c.via) {
                        (_, CommandVia::Console) => {
                            let (Some(console), Some(password)) =
                                (&run.console, &run.console_password)
                            else {
                                return Err(anyhow!(
                                    "a console step needs the in-process agent's console"
                                ));
                            };
                            console_action(console.addr, &officer, password, c).await?
                        }
                        (Agent::InProcess(agent), _) => {
                            use gate_agent::runtime::{submit_officer_action, OfficerRefusal};
                            let action = OfficerAction {
                                officer,
                                note: c.note.clone(),
                                kind,
                            };
                            let until = std::time::Instant::now() + Duration::from_secs(10);
                            match submit_officer_action(&agent.officer, action, until).await {
                                Ok(detail) => (true, detail),
                                Err(OfficerRefusal::Refused(m) | OfficerRefusal::Expired(m)) => {
                                    (false, m)
                                }
                                Err(OfficerRefusal::Unavailable(m)) => return Err(anyhow!(m)),
                            }
                        }
                        (Agent::External { socket }, _) => {
                            external_officer(socket, c, officer).await?
                        }
                    };
                    if ok != c.expect_ok {
                        return Err(anyhow!(
                            "{:?} {:?}: ok={ok} ({detail}), expected ok={}",
                            c.via,
                            c.kind,
                            c.expect_ok
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The lane's officer action for a scenario command.
fn officer_kind(c: &crate::scenario::CommandEntry) -> Result<gate_core::lane::OfficerKind> {
    use crate::scenario::Action;
    use gate_core::lane::OfficerKind;
    Ok(match c.kind {
        Action::Raise => OfficerKind::Raise,
        Action::Lower => OfficerKind::Lower,
        Action::Release => OfficerKind::Release,
        Action::Hold => OfficerKind::Hold,
        Action::Inspect => OfficerKind::Inspect,
        Action::Regather => OfficerKind::Regather,
        Action::Entry => OfficerKind::Manual(c.entry.clone().unwrap_or_default()),
        other @ (Action::Resync | Action::RestartDevice) => {
            return Err(anyhow!("{other:?} is not an officer action"))
        }
    })
}

/// An officer action through the lane's web console, as the page sends it:
/// log in (the runner's account for `officer`), then `POST /api/action`
/// with the session cookie and CSRF token. Ok(false, why) is the lane's (or
/// the console's) refusal.
async fn console_action(
    addr: std::net::SocketAddr,
    officer: &str,
    password: &str,
    c: &crate::scenario::CommandEntry,
) -> Result<(bool, String)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .context("console client")?;
    let base = format!("http://{addr}");
    let login = http
        .post(format!("{base}/api/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"officer": officer, "password": password}).to_string())
        .send()
        .await
        .context("console login")?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let session: serde_json::Value =
        serde_json::from_slice(&login.bytes().await?).context("console login answer")?;
    let (Some(cookie), Some(csrf)) = (cookie, session["csrf"].as_str()) else {
        return Err(anyhow!("console login refused: {session}"));
    };
    let mut body = serde_json::json!({
        "kind": c.kind.as_str(),
        "reason": c.note.clone().unwrap_or_default(),
    });
    if let Some(e) = &c.entry {
        body["plate"] = serde_json::json!(e.plate);
        body["trailer_plate"] = serde_json::json!(e.trailer_plate);
        body["containers"] = serde_json::json!(e.containers);
        body["etag"] = serde_json::json!(e.etag);
        body["pass_no"] = serde_json::json!(e.pass_no);
    }
    let r = http
        .post(format!("{base}/api/action"))
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .body(body.to_string())
        .send()
        .await
        .context("console action")?;
    let status = r.status().as_u16();
    let answer: serde_json::Value =
        serde_json::from_slice(&r.bytes().await?).unwrap_or(serde_json::Value::Null);
    match status {
        200 => Ok((
            true,
            answer["detail"].as_str().unwrap_or_default().to_owned(),
        )),
        400 | 409 => Ok((
            false,
            answer["error"].as_str().unwrap_or_default().to_owned(),
        )),
        other => Err(anyhow!(
            "console action {:?}: HTTP {other}: {answer}",
            c.kind
        )),
    }
}

/// This lane's events as the platform collected them.
fn lane_events(run: &LaneRun) -> Vec<LaneEvent> {
    run.platform
        .events()
        .into_iter()
        .filter(|e| e.lane == run.lane_id)
        .collect()
}

fn print_new(run: &LaneRun, printed: &mut BTreeSet<String>) {
    let mut evs = lane_events(run);
    evs.sort_by_key(|e| e.seq);
    let mut obs = None;
    let weighs = !run.sim.endpoints().weighbridges.is_empty();
    for e in evs {
        if !printed.insert(e.event_id.clone()) {
            continue;
        }
        let obs = obs.get_or_insert_with(|| run.sim.observations());
        let floor = e
            .vehicle
            .as_ref()
            .and_then(|v| v.plate.as_deref())
            .and_then(|p| data_floor_s(obs, p, weighs));
        let mut l = line(&e, run.clock.scale(), &run.lane_id);
        if let (Some(f), Some(d)) = (floor, decided_after_arrival_s(&e, run.clock.scale())) {
            l.push_str(&format!(
                "  (data complete at {f:.1} s: decided {:+.2} s after)",
                d - f
            ));
        }
        println!("{l}");
    }
}

/// Lane seconds from the event's arrival to its decision.
pub fn decided_after_arrival_s(e: &LaneEvent, scale: f64) -> Option<f64> {
    let a = gate_proto::time::parse_unix_ms(&e.arrived_at)?;
    let d = gate_proto::time::parse_unix_ms(&e.decided_at)?;
    Some((d - a) as f64 / 1000.0 * scale)
}

/// The physical floor of a truck's decision time: lane seconds from its
/// arrival on the loop to the last datum the decision uses, as the
/// simulated devices saw it (the indicator's first stable reading of the
/// truck when the lane `weighs`, the readers' first reports of its e-tag and
/// e-seal when it carries them; plates and codes are in view at arrival).
/// `None`: the truck never arrived or its weight never settled.
pub fn data_floor_s(obs: &[crate::lane::Observation], plate: &str, weighs: bool) -> Option<f64> {
    use crate::lane::ObservationKind as K;
    let want = norm(plate);
    let mine: Vec<_> = obs.iter().filter(|o| norm(&o.plate) == want).collect();
    let arrived = mine
        .iter()
        .find(|o| matches!(o.kind, K::ArrivedAtArrivalLoop))?
        .t_ms;
    let settled = mine
        .iter()
        .find(|o| matches!(o.kind, K::ScaleSettled { .. }))
        .map(|o| o.t_ms);
    if weighs && settled.is_none() {
        return None;
    }
    let last = mine
        .iter()
        .filter(|o| matches!(o.kind, K::TagFirstRead { .. }))
        .map(|o| o.t_ms)
        .chain(settled)
        .fold(arrived, u64::max);
    Some(last.saturating_sub(arrived) as f64 / 1000.0)
}

/// One readable line per truck. Event times are wall-clock; `scale` turns
/// their differences back into lane seconds.
pub fn line(e: &LaneEvent, scale: f64, lane: &str) -> String {
    let plate = e
        .vehicle
        .as_ref()
        .and_then(|v| v.plate.clone())
        .unwrap_or_else(|| "(unread)".into());
    let reasons: Vec<&str> = e.decision.reasons.iter().map(|r| r.as_str()).collect();
    let arrived = gate_proto::time::parse_unix_ms(&e.arrived_at).unwrap_or(0);
    let decided = gate_proto::time::parse_unix_ms(&e.decided_at).unwrap_or(0);
    let finished = gate_proto::time::parse_unix_ms(&e.finished_at).unwrap_or(0);
    let weight = e
        .weight
        .as_ref()
        .map(|w| format!("{:>6.0} kg", w.gross_kg))
        .unwrap_or_else(|| "     - kg".into());
    format!(
        "{lane} #{:<3} {:<10} {:<8} {:<12} {:<10} {weight}  decided {:>5.1} s after arrival, done at {:>5.1} s  wl v{}{}",
        e.seq,
        plate,
        format!("{:?}", e.decision.result).to_uppercase(),
        reasons.join(","),
        format!("{:?}", e.outcome).to_lowercase(),
        (decided - arrived) as f64 / 1000.0 * scale,
        (finished - arrived) as f64 / 1000.0 * scale,
        e.decision.whitelist_version,
        if e.decision.offline { " OFFLINE" } else { "" },
    )
}

/// Match events to trucks (by plate, then in order) and compare.
fn check(
    run: &LaneRun,
    s: &Scenario,
    mut problems: Vec<String>,
    lane_seconds: f64,
    start_ms: i64,
) -> RunReport {
    let mut events = lane_events(run);
    events.sort_by_key(|e| e.seq);
    let lane_alarms: Vec<gate_proto::messages::Alarm> = run
        .platform
        .report()
        .alarms
        .into_iter()
        .filter(|a| a.lane == run.lane_id)
        .map(|a| a.alarm)
        .collect();
    let mut used = vec![false; events.len()];
    let mut results = Vec::new();
    let mut unmatched = Vec::new();
    for (i, t) in s.trucks.iter().enumerate() {
        let want = norm(&t.plate);
        let found = events.iter().enumerate().position(|(j, e)| {
            !used[j]
                && e.vehicle
                    .as_ref()
                    .and_then(|v| v.plate.as_deref())
                    .map(norm)
                    .as_deref()
                    == Some(want.as_str())
        });
        match found {
            Some(j) => {
                used[j] = true;
                results.push((i, Some(j)));
            }
            None => {
                unmatched.push(results.len());
                results.push((i, None));
            }
        }
    }
    // Trucks whose plate was not read: the remaining events, in order.
    let mut rest = (0..events.len()).filter(|j| !used[*j]);
    for k in unmatched {
        if let Some(j) = rest.next() {
            results[k].1 = Some(j);
        }
    }
    let observations = run.sim.observations();
    let weighs = !run.sim.endpoints().weighbridges.is_empty();
    // Each truck's alarm window (docs/scenarios.md, "Alarms").
    let grace_ms = (scenario::alarms::GRACE_S * 1000.0 / run.clock.scale()).round() as i64;
    let closes: Vec<Option<i64>> = results
        .iter()
        .map(|(_, j)| {
            j.and_then(|j| gate_proto::time::parse_unix_ms(&events[j].finished_at))
                .map(|ms| ms + grace_ms)
        })
        .collect();
    let windows = scenario::alarms::windows(start_ms, &closes);
    let trucks: Vec<TruckResult> = results
        .into_iter()
        .zip(windows)
        .map(|((i, j), window)| {
            let t = &s.trucks[i];
            let id = if t.id.is_empty() {
                format!("truck-{}", i + 1)
            } else {
                t.id.clone()
            };
            let mut r = TruckResult {
                truck: id,
                plate: t.plate.clone(),
                expected: t.expect.clone(),
                event_id: None,
                seq: None,
                decision: None,
                reasons: Vec::new(),
                outcome: None,
                alarms: Vec::new(),
                decided_after_arrival_s: None,
                data_after_arrival_s: data_floor_s(&observations, &t.plate, weighs),
                ok: false,
                problems: Vec::new(),
            };
            let passage_alarms: Vec<&gate_proto::messages::Alarm> = window
                .map(|(opens, closes)| scenario::alarms::in_window(&lane_alarms, opens, closes))
                .unwrap_or_default()
                .into_iter()
                .map(|k| &lane_alarms[k])
                .collect();
            r.alarms = passage_alarms
                .iter()
                .map(|a| scenario::alarms::describe(a))
                .collect();
            match j.map(|j| &events[j]) {
                None => r.problems.push("no event reached the platform".into()),
                Some(e) => {
                    r.event_id = Some(e.event_id.clone());
                    r.seq = Some(e.seq);
                    // An officer's decision (or one on an officer's data)
                    // waited for a person: not the lane's speed.
                    r.decided_after_arrival_s = if e.decision.officer.is_none() {
                        decided_after_arrival_s(e, run.clock.scale())
                    } else {
                        None
                    };
                    r.decision = Some(format!("{:?}", e.decision.result).to_lowercase());
                    r.reasons = e.decision.reasons.clone();
                    r.outcome = Some(e.outcome);
                    if e.decision.result != t.expect.decision {
                        r.problems.push(format!(
                            "decision {:?}, expected {:?}",
                            e.decision.result, t.expect.decision
                        ));
                    }
                    let want: BTreeSet<Reason> = t.expect.reasons.iter().copied().collect();
                    let got: BTreeSet<Reason> = e.decision.reasons.iter().copied().collect();
                    if !want.is_subset(&got) {
                        r.problems.push(format!(
                            "reasons {:?}, expected {:?}",
                            e.decision.reasons, t.expect.reasons
                        ));
                    }
                    if e.outcome != t.expect.outcome {
                        r.problems.push(format!(
                            "outcome {:?}, expected {:?}",
                            e.outcome, t.expect.outcome
                        ));
                    }
                    if let Some(by) = t.expect.by {
                        if e.decision.by != by {
                            r.problems
                                .push(format!("decided by {:?}, expected {by:?}", e.decision.by));
                        }
                    }
                    if let Some(off) = t.expect.offline {
                        if e.decision.offline != off {
                            r.problems
                                .push(format!("offline {}, expected {off}", e.decision.offline));
                        }
                    }
                    if let Some(p) = &t.expect.gate_pass {
                        if e.gate_pass.as_deref() != Some(p.as_str()) {
                            r.problems
                                .push(format!("gate pass {:?}, expected {p}", e.gate_pass));
                        }
                    }
                    if let Some(want) = &t.expect.alarms {
                        r.problems
                            .extend(scenario::alarms::compare(want, &passage_alarms));
                    }
                }
            }
            r.ok = r.problems.is_empty();
            r
        })
        .collect();
    let mut platform = run.platform.report();
    platform.events.retain(|e| e.lane == run.lane_id);
    platform.gaps.retain(|g| g.lane == run.lane_id);
    problems.extend(platform.problems());
    // Every platform command's reply says what the scenario expects
    // (a missing reply is one of the platform's problems above).
    for (id, i) in &run.commands_sent {
        let c = &s.commands[*i];
        if let Some(r) = platform.replies.iter().find(|r| r.reply.command_id == *id) {
            if r.reply.ok != c.expect_ok {
                problems.push(format!(
                    "platform {:?} at {} s: ok={} ({}), expected ok={}",
                    c.kind, c.at_s, r.reply.ok, r.reply.detail, c.expect_ok
                ));
            }
        }
    }
    let violations: Vec<String> = run
        .sim
        .violations()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect();
    let passed = trucks.iter().all(|t| t.ok) && problems.is_empty() && violations.is_empty();
    RunReport {
        scenario: s.scenario.name.clone(),
        lane: run.lane_id.clone(),
        passed,
        trucks,
        platform,
        violations,
        problems,
        lane_seconds,
        recognition: None,
    }
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

/// Print a human summary of reports.
pub fn summary(reports: &[RunReport]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for r in reports {
        let ok = r.trucks.iter().filter(|t| t.ok).count();
        let _ = writeln!(
            s,
            "\n{} lane {}: {}/{} trucks as expected, {} events, {} duplicates, {} gaps, {:.0} lane-seconds: {}",
            r.scenario,
            r.lane,
            ok,
            r.trucks.len(),
            r.platform.events.len(),
            r.platform.duplicates,
            r.platform.gaps.len(),
            r.lane_seconds,
            if r.passed { "PASS" } else { "FAIL" }
        );
        for t in r.trucks.iter().filter(|t| !t.ok) {
            let _ = writeln!(s, "  {} {}: {}", t.truck, t.plate, t.problems.join("; "));
        }
        let mut lags: Vec<f64> = r
            .trucks
            .iter()
            .filter(|t| !t.reasons.contains(&Reason::H08))
            .filter_map(|t| Some(t.decided_after_arrival_s? - t.data_after_arrival_s?))
            .collect();
        if !lags.is_empty() {
            lags.sort_by(f64::total_cmp);
            let _ = writeln!(
                s,
                "  decided after the last datum (device side): median {:+.2} s, max {:+.2} s over {} trucks (goal <= 0.5 s; trucks held H08 and officers' decisions left out)",
                lags[lags.len() / 2],
                lags[lags.len() - 1],
                lags.len()
            );
        }
        if let Some(rec) = &r.recognition {
            let _ = writeln!(
                s,
                "  on-board recognition: {} frames read ({} dropped, {} failed), {:.0} ms per frame (max {:.0}), models ready in {:.1} s",
                rec.frames_read,
                rec.frames_dropped,
                rec.frames_failed,
                rec.mean_frame_ms,
                rec.max_frame_ms,
                rec.load_s
            );
        }
        for p in &r.problems {
            let _ = writeln!(s, "  {p}");
        }
        for v in &r.violations {
            let _ = writeln!(s, "  SAFETY VIOLATION: {v}");
        }
    }
    s
}

/// Write a report file.
pub fn write_report(path: &PathBuf, reports: &[RunReport]) -> Result<()> {
    let text = serde_json::to_string_pretty(reports)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
