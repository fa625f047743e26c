//! Bringing a lane up: its devices, broker relay, agent (in process or external)
//! and the officer console.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::broker::{BrokerAddr, BrokerRelay};
use crate::clock::SimClock;
use crate::lane::SimLane;
use crate::platform::Platform;
use crate::scenario::Scenario;

use super::{
    agent_config, broker, lane_config, run_lane, Agent, LaneRun, RunOptions, RunReport, Site,
    PROFILES,
};

/// The devices, the broker relay and an agent configuration for one lane:
/// the configuration goes to `cfg_path`, the register profiles it names to
/// `profiles/` beside it, the lane's database and control socket are in
/// the same directory.
pub(super) async fn lane_parts(
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
    let hash =
        gate_agent::config::password::hash_password(&password).map_err(|e| anyhow!("{e}"))?;
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
/// [`EXTERNAL_AGENT_WAIT`](super::EXTERNAL_AGENT_WAIT)) for an agent started with it, by hand or as a
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
