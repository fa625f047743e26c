//! The faults: injecting one, waiting for its cause to be gone and for the
//! lane to serve a truck again, and the lane database's corruption.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rand::Rng;

use crate::lane::DeviceId;

use super::analysis::{DeviceWindow, FaultRecord};
use super::{Chaos, Kind, DEVICES, RECOVERY_TIMEOUT};

impl Chaos {
    /// Injects one fault, waits for its cause to be gone and for the lane to
    /// serve a truck again.
    pub(super) async fn fault(&mut self, n: usize, kind: Kind) -> Result<FaultRecord> {
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
    pub(super) async fn moment(&mut self) -> Result<&'static str> {
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
}
