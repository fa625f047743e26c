//! The end of a run: draining the lane, stopping everything, the analysis
//! and the human summary of the report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::lane::SimLane;

use super::procs::StateDir;
use super::{analysis, Chaos, ChaosReport};

impl Chaos {
    /// Drain the lane, collect, stop everything, analyse.
    pub(super) async fn finish(
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
