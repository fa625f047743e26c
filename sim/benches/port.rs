//! `cargo xtask bench port --lanes 10,30[,100] [--outage-s S]` (issue 21,
//! item 2): a whole port on this machine. For each N of `--lanes`:
//!
//! - a port Mosquitto bridged to a central Mosquitto, both on the files
//!   shipped in `config/mosquitto/` made runnable on loopback without TLS
//!   ([`sim::bridge`], as tests/tests/it/port_bridge.rs), the bridge through
//!   a relay (the uplink, which `--outage-s` cuts);
//! - N lanes of simulated devices (board, weighbridge, readers, four
//!   cameras giving their own recognition) and the site's simulated
//!   platform at the centre, all in this process;
//! - N `gate-agent` processes (the release binary), each with its own
//!   directory, store and control socket, talking to the port broker;
//! - every lane plays the scenario (default sim/scenarios/demo.toml with
//!   the cameras' recognition), lane k starting k x stagger after the
//!   first (lanes are not in step).
//!
//! Printed per N, every figure measured in that run: CPU (share of one
//! core, from /proc/PID/stat) and RSS (/proc/PID/status VmRSS, sampled
//! every second) of each agent process, idle (all lanes ready, no truck)
//! and while the trucks pass, beside the simulator process (every lane's
//! devices, their relays and the platform) and the two brokers; event
//! latency from the lane's `finished_at` to the platform's receipt at the
//! centre (p50/p99/max); decisions per second; events lost (trucks
//! without an event at the centre, seq gaps) and duplicated (copies the
//! platform received beyond the first); trucks not as the scenario
//! expects. With `--outage-s S` the largest N's run cuts the uplink for S
//! lane-seconds once every lane's first event is at the centre: printed
//! are the events held back, the time from the restoration to the last
//! of them at the centre, and whether anything was lost or reordered.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use sim::bridge::{BridgedPort, SHIPPED_SITE};
use sim::chaos::procs::AgentProc;
use sim::platform::Receipt;
use sim::runner::{PortLanes, RunOptions, RunReport};
use sim::scenario::{RecognitionSetup, Scenario};

const USAGE: &str = "usage: port [--lanes N[,N...]] [--scenario FILE] [--time-scale X] [--idle-s S] [--stagger-s S] [--outage-s LANE_S] [--agent-bin FILE] [--keep]";

struct Args {
    lanes: Vec<usize>,
    scenario: PathBuf,
    time_scale: f64,
    idle_s: f64,
    stagger_s: Option<f64>,
    outage_s: Option<f64>,
    agent_bin: PathBuf,
    keep: bool,
}

fn parse_lanes(v: &str) -> Result<Vec<usize>> {
    let lanes: Vec<usize> = v
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=999).contains(n))
                .ok_or_else(|| anyhow!("--lanes: `{n}` is not a lane count 1..=999"))
        })
        .collect::<Result<_>>()?;
    if lanes.is_empty() {
        bail!("--lanes: empty");
    }
    Ok(lanes)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn args() -> Result<Args> {
    let mut a = Args {
        lanes: vec![10, 30],
        scenario: workspace_root().join("sim/scenarios/demo.toml"),
        time_scale: 5.0,
        idle_s: 10.0,
        stagger_s: None,
        outage_s: None,
        // target/release/deps/port-HASH -> target/release/gate-agent.
        agent_bin: std::env::current_exe()
            .ok()
            .and_then(|p| Some(p.parent()?.parent()?.join("gate-agent")))
            .unwrap_or_default(),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |k: &str, v: Option<String>| -> Result<f64> {
        v.as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| anyhow!("{k} needs a number\n{USAGE}"))
    };
    while let Some(k) = it.next() {
        match k.as_str() {
            // cargo bench passes --bench to harness-less benches.
            "--bench" => {}
            "--lanes" => a.lanes = parse_lanes(&it.next().unwrap_or_default())?,
            "--scenario" => {
                let p = PathBuf::from(it.next().unwrap_or_default());
                // cargo runs a bench in its package directory: a relative
                // path is taken from the workspace root when not found.
                a.scenario = if p.is_relative() && !p.exists() {
                    workspace_root().join(p)
                } else {
                    p
                };
            }
            "--time-scale" => a.time_scale = num(&k, it.next())?.max(0.1),
            "--idle-s" => a.idle_s = num(&k, it.next())?,
            "--stagger-s" => a.stagger_s = Some(num(&k, it.next())?),
            "--outage-s" => a.outage_s = Some(num(&k, it.next())?),
            "--agent-bin" => a.agent_bin = PathBuf::from(it.next().unwrap_or_default()),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if !a.agent_bin.is_file() {
        bail!(
            "no gate-agent binary at {} (cargo build --release -p gate-agent --bin gate-agent, or --agent-bin FILE)",
            a.agent_bin.display()
        );
    }
    Ok(a)
}

// ---------------------------------------------------------------- /proc

/// utime + stime of a process, clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// VmRSS, kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU (share of one core) and RSS (MB) of each process over a phase.
struct Phase {
    secs: f64,
    cpu: Vec<f64>,
    rss_median: Vec<f64>,
    rss_max: Vec<f64>,
}

/// Run `fut` while sampling `pids` (RSS every second, CPU ticks at both
/// ends).
async fn measure<T>(
    pids: &[u32],
    tck: f64,
    fut: impl std::future::Future<Output = T>,
) -> (T, Phase) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let pids = pids.to_vec();
        std::thread::spawn(move || {
            let mut samples: Vec<Vec<u64>> = vec![Vec::new(); pids.len()];
            loop {
                for (s, p) in samples.iter_mut().zip(&pids) {
                    if let Some(kb) = rss_kb(*p) {
                        s.push(kb);
                    }
                }
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        return samples;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };
    let t0: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let start = Instant::now();
    let out = fut.await;
    let secs = start.elapsed().as_secs_f64();
    let t1: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    let cpu = t0
        .iter()
        .zip(&t1)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => (b.saturating_sub(*a)) as f64 / tck / secs.max(1e-3),
            _ => f64::NAN,
        })
        .collect();
    let mb = |kb: u64| kb as f64 / 1024.0;
    let rss_median = samples
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.sort_unstable();
            s.get(s.len() / 2).map_or(f64::NAN, |k| mb(*k))
        })
        .collect();
    let rss_max = samples
        .iter()
        .map(|s| s.iter().max().map_or(f64::NAN, |k| mb(*k)))
        .collect();
    (
        out,
        Phase {
            secs,
            cpu,
            rss_median,
            rss_max,
        },
    )
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

// ---------------------------------------------------------------- one N

struct Outage {
    lane_s: f64,
}

/// What the cut saw: wall times (Unix ms) of the cut and the restoration,
/// and the restoration's instant.
struct Cut {
    cut_ms: i64,
    restored_ms: i64,
}

async fn one(a: &Args, s: &Scenario, n: usize, outage: Option<Outage>, dir: &Path) -> Result<()> {
    let tck = clock_ticks();
    let load_before = loadavg();
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let bridged = BridgedPort::start(&dir.join("brokers"))?;
    bridged.wait_connected(Duration::from_secs(30)).await?;
    let opts = RunOptions {
        broker: Some(bridged.port.clone()),
        platform_broker: Some(bridged.central.clone()),
        time_scale: Some(a.time_scale),
        ..RunOptions::new()
    };
    let lanes = PortLanes::prepare(s, &opts, n, dir).await?;
    let mut agents = Vec::new();
    for (lane, cfg) in lanes.configs() {
        let log = cfg.with_file_name("agent.log");
        let mut p = AgentProc::new(a.agent_bin.clone(), cfg, log, None);
        p.spawn().with_context(|| format!("lane {lane}"))?;
        agents.push((lane, p));
    }
    let agent_pids: Vec<u32> = agents.iter().filter_map(|(_, p)| p.pid()).collect();
    let t_ready = Instant::now();
    {
        // Every agent syncs its whitelist through the bridge; on 2 cores
        // 30 agents starting at once take a while.
        let ready = lanes.wait_ready(Duration::from_secs(60 + 2 * n as u64));
        tokio::pin!(ready);
        loop {
            tokio::select! {
                r = &mut ready => { r?; break; }
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    for (lane, p) in &mut agents {
                        if let Some(st) = p.exited() {
                            bail!(
                                "the agent of lane {lane} exited at start ({st}); see {}",
                                dir.join(lane.as_str()).join("agent.log").display()
                            );
                        }
                    }
                }
            }
        }
    }
    let ready_s = t_ready.elapsed().as_secs_f64();
    let mut pids = agent_pids.clone();
    pids.push(std::process::id());
    pids.push(bridged.port_broker.pid());
    pids.push(bridged.central_broker.pid());
    let na = agent_pids.len();

    // Idle: every lane up with its whitelist, no truck.
    let ((), idle) = measure(
        &pids,
        tck,
        tokio::time::sleep(Duration::from_secs_f64(a.idle_s)),
    )
    .await;

    // Trucks on every lane (and the cut, if asked).
    let scale = a.time_scale;
    let mut gaps: Vec<f64> = {
        let mut at: Vec<f64> = s.trucks.iter().map(|t| t.at_s).collect();
        at.sort_by(f64::total_cmp);
        at.windows(2).map(|w| w[1] - w[0]).collect()
    };
    gaps.sort_by(f64::total_cmp);
    let spacing_lane_s = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let stagger = a.stagger_s.unwrap_or(spacing_lane_s / scale / n as f64);
    let platform = lanes.platform();
    let cutter = async {
        let o = outage.as_ref()?;
        // Once every lane's first event is at the centre.
        loop {
            let seen: std::collections::BTreeSet<String> =
                platform.receipts().into_iter().map(|r| r.lane).collect();
            if seen.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bridged.uplink.set_down(true);
        let cut_ms = gate_proto::time::now_unix_ms();
        tokio::time::sleep(Duration::from_secs_f64(o.lane_s / scale)).await;
        bridged.uplink.set_down(false);
        Some(Cut {
            cut_ms,
            restored_ms: gate_proto::time::now_unix_ms(),
        })
    };
    let ((played, cut), busy) = measure(&pids, tck, async {
        // After a cut the port broker's backlog drains for a while.
        let drain = Duration::from_secs(if outage.is_some() { 600 } else { 60 });
        tokio::join!(
            lanes.play(&opts, Duration::from_secs_f64(stagger), drain),
            cutter
        )
    })
    .await;
    drop(platform);
    let load_after = loadavg();
    let (reports, receipts) = played?;
    for (_, p) in &mut agents {
        p.stop().await.ok();
    }

    // ------------------------------------------------------------ figures
    let trucks = s.trucks.len();
    println!(
        "\n== port, {n} lanes: scenario `{}` ({trucks} trucks per lane, {} recognition), time x{scale}, lane k starts k x {stagger:.2} s after the first; {cores} CPUs, load average {load_before} before, {load_after} after",
        s.scenario.name,
        if s.lane.recognition == RecognitionSetup::Camera { "cameras' own" } else { "on-board" },
    );
    println!(
        "  agents: {na} gate-agent processes, all with whitelist v{} {ready_s:.1} s after they were started",
        s.whitelist.version
    );
    for (name, ph) in [("idle", &idle), ("trucks", &busy)] {
        let cpu: Vec<f64> = ph.cpu[..na].iter().map(|c| c * 100.0).collect();
        let med = &ph.rss_median[..na];
        println!(
            "  per agent, {name} ({:.0} s): CPU mean {:.2} % max {:.2} % of a core; RSS (median of 1 s samples) mean {:.1} MB, max {:.1} MB; highest sample {:.1} MB",
            ph.secs,
            mean(&cpu),
            max(&cpu),
            mean(med),
            max(med),
            max(&ph.rss_max[..na])
        );
        println!(
            "    all agents: CPU {:.1} % of a core; simulator process (devices of {n} lanes, their relays, platform): CPU {:.1} %, RSS {:.0} MB; port broker CPU {:.1} %, RSS {:.1} MB; central broker CPU {:.1} %, RSS {:.1} MB",
            cpu.iter().sum::<f64>(),
            ph.cpu[na] * 100.0,
            ph.rss_max[na],
            ph.cpu[na + 1] * 100.0,
            ph.rss_max[na + 1],
            ph.cpu[na + 2] * 100.0,
            ph.rss_max[na + 2],
        );
    }
    // Events.
    let expected = n * trucks;
    let at_centre: usize = reports.iter().map(|r| r.platform.events.len()).sum();
    let missing: usize = reports
        .iter()
        .map(|r| trucks.saturating_sub(r.platform.events.len()))
        .sum();
    let gap_seqs: u64 = reports
        .iter()
        .flat_map(|r| &r.platform.gaps)
        .map(|g| g.to - g.from + 1)
        .sum();
    let copies: u64 = receipts.iter().map(|r| r.extra_copies).sum();
    let conflicts: usize = reports
        .iter()
        .map(|r| {
            r.platform
                .conflicts
                .iter()
                .filter(|c| c.lane == r.lane)
                .count()
        })
        .sum();
    let as_expected: usize = reports
        .iter()
        .map(|r| r.trucks.iter().filter(|t| t.ok).count())
        .sum();
    println!(
        "  events (as each lane's run ended, 10 s after its scenario): {expected} trucks, {at_centre} distinct events at the centre; lost: {missing} trucks without an event, {gap_seqs} seqs missing (gaps); duplicated: {copies} extra copies received (de-duplicated by event id), {conflicts} conflicting; {as_expected}/{expected} trucks as the scenario expects"
    );
    let mut shown = 0;
    for r in &reports {
        for t in r.trucks.iter().filter(|t| !t.ok) {
            if shown < 8 {
                println!(
                    "    {} {} {}: {}",
                    r.lane,
                    t.truck,
                    t.plate,
                    t.problems.join("; ")
                );
            }
            shown += 1;
        }
        for p in &r.problems {
            if shown < 8 {
                println!("    {}: {p}", r.lane);
            }
            shown += 1;
        }
    }
    if shown > 8 {
        println!("    ... {} more", shown - 8);
    }
    // Latency, finish -> centre.
    let held = |r: &Receipt| {
        cut.as_ref().is_some_and(|c| {
            r.finished_at_ms
                .is_some_and(|f| f >= c.cut_ms && f < c.restored_ms)
        })
    };
    let mut lat: Vec<i64> = receipts
        .iter()
        .filter(|r| !held(r))
        .filter_map(|r| Some(r.received_ms - r.finished_at_ms?))
        .collect();
    lat.sort_unstable();
    println!(
        "  finish -> centre (event's finished_at to the platform's receipt{}): p50 {} ms, p99 {} ms, max {} ms over {} events",
        if cut.is_some() { ", events held by the cut left out" } else { "" },
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        lat.len()
    );
    let decided: Vec<i64> = receipts.iter().filter_map(|r| r.decided_at_ms).collect();
    if let (Some(lo), Some(hi)) = (decided.iter().min(), decided.iter().max()) {
        let span = (hi - lo) as f64 / 1000.0;
        println!(
            "  decisions: {} in {span:.1} s real from the first to the last = {:.2}/s (the scenario's offered rate: {n} lanes x {trucks} trucks over {:.0} lane-s at x{scale})",
            decided.len(),
            decided.len() as f64 / span.max(1e-3),
            s.trucks.iter().map(|t| t.at_s).fold(0.0, f64::max)
                - s.trucks.iter().map(|t| t.at_s).fold(f64::INFINITY, f64::min),
        );
    }
    if let (Some(o), Some(c)) = (&outage, &cut) {
        outage_figures(o, c, &receipts, &reports, trucks, scale);
    } else if outage.is_some() {
        println!(
            "  outage: the uplink was never cut (not every lane's first event reached the centre)"
        );
    }
    if a.keep {
        println!("  kept: {}", dir.display());
    }
    drop(bridged);
    Ok(())
}

fn outage_figures(
    o: &Outage,
    c: &Cut,
    receipts: &[Receipt],
    reports: &[RunReport],
    trucks: usize,
    scale: f64,
) {
    let held: Vec<&Receipt> = receipts
        .iter()
        .filter(|r| {
            r.finished_at_ms
                .is_some_and(|f| f >= c.cut_ms && f < c.restored_ms)
        })
        .collect();
    let early = held
        .iter()
        .filter(|r| r.received_ms < c.restored_ms)
        .count();
    let drained = held
        .iter()
        .map(|r| r.received_ms - c.restored_ms)
        .max()
        .unwrap_or(0);
    // Order: per lane, seq increasing in the order first received.
    let mut out_of_order = Vec::new();
    for r in reports {
        let seqs: Vec<u64> = receipts
            .iter()
            .filter(|x| x.lane == r.lane)
            .map(|x| x.seq)
            .collect();
        if !seqs.windows(2).all(|w| w[0] < w[1]) {
            out_of_order.push(r.lane.clone());
        }
    }
    // From the receipts, taken once the backlog drained (or the drain
    // bound passed), not from the lanes' checks at their runs' ends.
    let lost: usize = reports
        .iter()
        .map(|r| trucks.saturating_sub(receipts.iter().filter(|x| x.lane == r.lane).count()))
        .sum();
    let lanes_held = held
        .iter()
        .map(|r| r.lane.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    println!(
        "  outage: uplink cut {:.1} s real ({:.0} lane-s at x{scale}) once every lane's first event was at the centre; {} events finished during the cut on {lanes_held}/{} lanes ({early} of them reached the centre before the restoration); the last at the centre {:.2} s after the uplink returned; {} of {} events at the centre after the drain, lost: {lost}; order per lane kept: {}",
        (c.restored_ms - c.cut_ms) as f64 / 1000.0,
        o.lane_s,
        held.len(),
        reports.len(),
        drained as f64 / 1000.0,
        receipts.len(),
        reports.len() * trucks,
        if out_of_order.is_empty() {
            "yes".to_string()
        } else {
            format!("NO ({})", out_of_order.join(", "))
        }
    );
}

fn main() -> Result<()> {
    let a = args()?;
    let mut s = Scenario::load(&a.scenario).map_err(|e| anyhow!("{e}"))?;
    if s.lane.site != SHIPPED_SITE {
        bail!(
            "{}: site {} (the shipped bridge configuration maps {SHIPPED_SITE})",
            a.scenario.display(),
            s.lane.site
        );
    }
    // At this scale each real lane has its own computer: the cameras'
    // own recognition (issue 21).
    if s.lane.recognition != RecognitionSetup::Camera {
        println!(
            "{}: recognition set to the cameras' own (the scenario asks for on-board)",
            a.scenario.display()
        );
        s.lane.recognition = RecognitionSetup::Camera;
    }
    let rt = tokio::runtime::Runtime::new().context("runtime")?;
    let root = std::env::temp_dir().join(format!("gate-port-bench-{}", std::process::id()));
    let largest = a.lanes.iter().copied().max().unwrap_or(0);
    let mut failed = 0;
    for (i, &n) in a.lanes.iter().enumerate() {
        let outage = a
            .outage_s
            .filter(|_| n == largest && a.lanes.iter().position(|&m| m == largest) == Some(i))
            .map(|lane_s| Outage { lane_s });
        let dir = root.join(format!("n{n}-{i}"));
        let started = Instant::now();
        let r = rt.block_on(one(&a, &s, n, outage, &dir));
        println!(
            "  ({n} lanes: {:.0} s wall)",
            started.elapsed().as_secs_f64()
        );
        if let Err(e) = r {
            failed += 1;
            println!("  {n} lanes FAILED: {e:#}");
        }
        if !a.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if !a.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    if failed > 0 {
        bail!("{failed} of {} runs failed", a.lanes.len());
    }
    Ok(())
}
