//! A whole port of lanes whose agents run as their own processes (issue 21,
//! `cargo xtask bench port`): the devices of N lanes and the site's
//! platform come up here, each lane's agent configuration (own directory,
//! own store, own control socket) is written, and someone else starts the
//! agents; once every lane reports the scenario's whitelist the lanes play
//! the scenario together and are checked as `run` checks them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::broker::{BrokerAddr, BrokerRelay};
use crate::clock::SimClock;
use crate::lane::SimLane;
use crate::platform::{Platform, Receipt};
use crate::scenario::Scenario;

use super::start::lane_parts;
use super::{run_lane, Agent, LaneRun, RunOptions, RunReport, Site};

struct Prepared {
    lane_id: String,
    clock: SimClock,
    sim: SimLane,
    relay: BrokerRelay,
    cfg_path: PathBuf,
}

/// N lanes' devices and configurations, and the site's platform, waiting
/// for their external agents.
pub struct PortLanes {
    scenario: Scenario,
    site: Site,
    addr: BrokerAddr,
    central: BrokerAddr,
    lanes: Vec<Prepared>,
}

impl PortLanes {
    /// Bring up `lanes` lanes (ids `<lane>-1`.., as `run`) under `dir`
    /// (one directory per lane), their agents' broker `opts.broker` (none:
    /// an error, the port needs a real one), the platform at
    /// `opts.platform_broker` (else the same broker). Every lane plays the
    /// same trucks on the same passes, so the platform does not mark
    /// single-use passes used (a real pass is used at one lane).
    pub async fn prepare(
        s: &Scenario,
        opts: &RunOptions,
        lanes: usize,
        dir: &Path,
    ) -> Result<PortLanes> {
        let addr = opts
            .broker
            .clone()
            .ok_or_else(|| anyhow!("a port run needs the port broker (RunOptions::broker)"))?;
        let central = opts.platform_broker.clone().unwrap_or_else(|| addr.clone());
        let ids: Vec<String> = (0..lanes.max(1))
            .map(|n| format!("{}-{}", s.lane.lane, n + 1))
            .collect();
        let site = Site::start_with(s, &addr, &central, ids.clone(), false).await?;
        let mut prepared = Vec::new();
        for id in ids {
            let mut o = opts.clone();
            o.lane_override = Some(id.clone());
            let ldir = dir.join(&id);
            std::fs::create_dir_all(&ldir)
                .with_context(|| format!("creating {}", ldir.display()))?;
            let (lane_id, clock, sim, relay, cfg_path) =
                lane_parts(s, &addr, &o, &ldir.join("lane.toml")).await?;
            prepared.push(Prepared {
                lane_id,
                clock,
                sim,
                relay,
                cfg_path,
            });
        }
        Ok(PortLanes {
            scenario: s.clone(),
            site,
            addr,
            central,
            lanes: prepared,
        })
    }

    /// (lane id, agent configuration file) of every lane.
    pub fn configs(&self) -> Vec<(String, PathBuf)> {
        self.lanes
            .iter()
            .map(|l| (l.lane_id.clone(), l.cfg_path.clone()))
            .collect()
    }

    /// The site's platform (at the centre when bridged). Let go of it
    /// before [`PortLanes::play`] ends, or the platform is not shut down
    /// cleanly (it still stops when the last handle goes).
    pub fn platform(&self) -> std::rc::Rc<Platform> {
        self.site.platform.clone()
    }

    /// Lanes whose status does not report the scenario's whitelist yet.
    pub fn not_ready(&self) -> Vec<String> {
        let want = self.scenario.whitelist.version;
        self.lanes
            .iter()
            .filter(|l| {
                self.site
                    .platform
                    .status(&l.lane_id)
                    .and_then(|st| st.whitelist_version)
                    .is_none_or(|v| v < want)
            })
            .map(|l| l.lane_id.clone())
            .collect()
    }

    /// Wait until every lane's agent reports the scenario's whitelist.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        loop {
            let missing = self.not_ready();
            if missing.is_empty() {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                return Err(anyhow!(
                    "{} lanes did not report whitelist version {} within {} s: {}",
                    missing.len(),
                    self.scenario.whitelist.version,
                    timeout.as_secs(),
                    missing.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Play the scenario on every lane at once, lane k starting `k *
    /// stagger` after the first (lanes of a port are not in step), check
    /// each as `run` does, then wait up to `drain` for every truck's event
    /// to reach the platform (a lane's run ends 10 s after its scenario;
    /// after an uplink cut the backlog takes longer), then stop the
    /// platform. The agents stay up. Returns the lanes' reports (checked
    /// when each lane's run ended) and when each event first reached the
    /// platform (by the end of the drain).
    pub async fn play(
        self,
        opts: &RunOptions,
        stagger: Duration,
        drain: Duration,
    ) -> Result<(Vec<RunReport>, Vec<Receipt>)> {
        let expected = self.lanes.len() * self.scenario.trucks.len();
        let PortLanes {
            scenario,
            site,
            addr,
            central,
            lanes,
        } = self;
        let mut runs = Vec::new();
        for (n, l) in lanes.into_iter().enumerate() {
            let mut o = opts.clone();
            o.lane_override = Some(l.lane_id.clone());
            let socket = l
                .cfg_path
                .parent()
                .map(|d| d.join("control.sock"))
                .unwrap_or_default();
            let run = LaneRun {
                scenario: scenario.clone(),
                lane_id: l.lane_id,
                sim: l.sim,
                primary: n == 0,
                platform: site.platform.clone(),
                agent: Agent::External { socket },
                relay: l.relay,
                broker: addr.clone(),
                dir: None,
                clock: l.clock,
                commands_sent: Vec::new(),
                trucks: Vec::new(),
                console: None,
                console_password: None,
            };
            let delay = stagger.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
            runs.push(async move {
                tokio::time::sleep(delay).await;
                run_lane(run, &o).await
            });
        }
        // One task: the platform handle is not Send (as in `run`).
        let mut out = Vec::new();
        let mut first_err = None;
        for r in futures_util::future::join_all(runs).await {
            match r {
                Ok(r) => out.push(r),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let t0 = Instant::now();
        while site.platform.receipts().len() < expected && t0.elapsed() < drain {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let receipts = site.platform.receipts();
        site.end(&scenario, &addr, &central).await;
        match first_err {
            Some(e) => Err(e),
            None => Ok((out, receipts)),
        }
    }
}
