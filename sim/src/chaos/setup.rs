//! Setting a chaos run up: the state directory, Mosquitto, the simulated lane
//! and platform, the witness subscriber and the agent.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::broker::BrokerAddr;
use crate::clock::SimClock;
use crate::fixture::Fixture;
use crate::lane::SimLane;
use crate::platform::{Platform, PlatformConfig, PlatformKey};
use crate::runner;

use super::analysis::Tracker;
use super::procs::{AgentProc, FakeTime, Mosquitto, StateDir};
use super::witness::Witness;
use super::{find_agent, fleet, procs, Chaos, ChaosOptions, STATE_MB};

impl Chaos {
    pub(super) async fn setup(opts: &ChaosOptions) -> Result<Chaos> {
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
}
