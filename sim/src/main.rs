//! `gate-sim`: the lane simulator. Thin: parse arguments, call the runner.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use sim::broker::BrokerAddr;
use sim::runner::{self, RunOptions};
use sim::scenario::Scenario;

/// Customs lane simulator: devices, platform and a real gate-agent.
#[derive(Parser, Debug)]
#[command(name = "gate-sim", version, about)]
struct Args {
    /// Use this MQTT broker (mqtt://HOST:PORT) instead of an embedded one.
    #[arg(long, global = true, value_name = "URL")]
    broker: Option<String>,
    /// The simulated platform's broker (mqtt://HOST:PORT), when it is not
    /// the agents' (--broker): the central broker a port broker is
    /// bridged to (docs/deployment.md).
    #[arg(long, global = true, value_name = "URL", requires = "broker")]
    platform_broker: Option<String>,
    /// Run N independent lanes in one process (a whole port).
    #[arg(long, global = true, default_value_t = 1)]
    lanes: usize,
    /// Override the scenario's time scale (lane seconds per real second).
    #[arg(long, global = true)]
    time_scale: Option<f64>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Bring up a demo lane (broker, devices, platform, gate-agent) and show
    /// one line per truck, then a summary.
    Demo {
        /// Also serve the lane's officer console here (e.g. 127.0.0.1:8080),
        /// with a demo officer account whose password is printed.
        #[arg(long, value_name = "ADDR:PORT")]
        console: Option<std::net::SocketAddr>,
    },
    /// Run a scenario to its end, check every expectation; exit 1 on failure.
    Run {
        #[arg(long, value_name = "FILE")]
        scenario: PathBuf,
        /// Write a machine-readable report (JSON).
        #[arg(long, value_name = "OUT.json")]
        report: Option<PathBuf>,
        /// Print one line per truck as it happens.
        #[arg(long)]
        live: bool,
    },
    /// Serve only the devices and the platform of a scenario (for an agent
    /// started by hand or installed as a service); prints the endpoints and
    /// an agent configuration. With --drive, also play the scenario's
    /// trucks, faults and commands against that agent once it is up, and
    /// check every expectation (exit 1 on failure).
    Devices {
        #[arg(long, value_name = "FILE")]
        scenario: PathBuf,
        /// Write the matching gate-agent configuration here (the register
        /// profiles it names go to `profiles/` beside it; the lane database
        /// and control socket are in the same directory).
        #[arg(long, value_name = "FILE")]
        agent_config: Option<PathBuf>,
        /// Drive the agent started with that configuration through the
        /// scenario (waits up to 10 minutes for it to come up).
        #[arg(long, requires = "agent_config")]
        drive: bool,
        /// Write a machine-readable report (JSON) of a --drive run.
        #[arg(long, value_name = "OUT.json", requires = "drive")]
        report: Option<PathBuf>,
    },
    /// Trucks through a lane while faults are injected at random (a real
    /// Mosquitto and the real gate-agent binary as child processes); prints
    /// what was lost, duplicated or incomplete and the time back to serving;
    /// exit 1 when a goal is missed (docs/reliability.md, Chaos).
    Chaos {
        #[arg(long, default_value_t = 50)]
        faults: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The gate-agent binary (default: beside gate-sim).
        #[arg(long, value_name = "FILE")]
        agent_bin: Option<PathBuf>,
        /// Write a machine-readable report (JSON).
        #[arg(long, value_name = "OUT.json")]
        report: Option<PathBuf>,
        /// Keep the run directory (logs, databases) even when every goal is met.
        #[arg(long)]
        keep: bool,
    },
    /// Write the recognition evaluation set (PNG files + labels.json; same
    /// seed, same bytes): N plate crops, N code crops, N/10 frames of each.
    Eval {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Frames of each kind (default: count / 10).
        #[arg(long)]
        frames: Option<usize>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Cmd::Eval {
        out,
        seed,
        count,
        frames,
    } = &args.cmd
    {
        return eval(out, *seed, *count, *frames);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // Chaos: connection errors are what it causes; say only
                // what goes wrong beyond that.
                // The embedded broker (zero-setup runs) logs every client
                // that goes away as an ERROR: not the lane's business.
                tracing_subscriber::EnvFilter::new(if matches!(args.cmd, Cmd::Chaos { .. }) {
                    "error,rumqttd=off"
                } else {
                    "warn,rumqttd=off"
                })
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gate-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("gate-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `gate-sim eval`: no runtime needed, only drawing and files.
fn eval(out: &std::path::Path, seed: u64, count: usize, frames: Option<usize>) -> ExitCode {
    let mut counts = sim::eval::Counts::from_count(count);
    if let Some(f) = frames {
        counts.plate_frames = f;
        counts.code_frames = f;
    }
    match sim::eval::write_set(out, seed, counts) {
        Ok(set) => {
            println!(
                "wrote {} samples (seed {seed}) to {}",
                set.samples.len(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gate-sim eval: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool> {
    let broker = match &args.broker {
        Some(u) => Some(BrokerAddr::parse(u).map_err(|e| anyhow!("--broker: {e}"))?),
        None => None,
    };
    let platform_broker = match &args.platform_broker {
        Some(u) => Some(BrokerAddr::parse(u).map_err(|e| anyhow!("--platform-broker: {e}"))?),
        None => None,
    };
    let mut opts = RunOptions {
        broker,
        platform_broker,
        live: true,
        time_scale: args.time_scale,
        lane_override: None,
        console: None,
    };
    match args.cmd {
        Cmd::Demo { console } => {
            opts.console = console;
            let s = runner::demo_scenario()?;
            println!(
                "gate-sim demo: {} — {} trucks at {} {}, time x{}",
                s.scenario.name,
                s.trucks.len(),
                s.lane.site,
                s.lane.lane,
                opts.time_scale.unwrap_or(s.lane.time_scale)
            );
            let reports = runner::run(&s, &opts, args.lanes).await?;
            print!("{}", runner::summary(&reports));
            Ok(reports.iter().all(|r| r.passed))
        }
        Cmd::Run {
            scenario,
            report,
            live,
        } => {
            let s = Scenario::load(&scenario).map_err(|e| anyhow!("{e}"))?;
            opts.live = live;
            let reports = runner::run(&s, &opts, args.lanes).await?;
            print!("{}", runner::summary(&reports));
            if let Some(path) = report {
                runner::write_report(&path, &reports)?;
            }
            Ok(reports.iter().all(|r| r.passed))
        }
        Cmd::Eval { .. } => Ok(true),
        Cmd::Chaos {
            faults,
            seed,
            agent_bin,
            report,
            keep,
        } => {
            let o = sim::chaos::ChaosOptions {
                faults,
                seed,
                time_scale: args.time_scale.unwrap_or(10.0),
                agent_bin,
                keep,
                ..sim::chaos::ChaosOptions::default()
            };
            println!(
                "gate-sim chaos: {faults} faults, seed {seed}, time x{}",
                o.time_scale
            );
            // Ctrl-C drops the run: every child process is killed on the way.
            let r = tokio::select! {
                r = sim::chaos::run(&o) => r?,
                _ = tokio::signal::ctrl_c() => return Err(anyhow!("interrupted")),
            };
            print!("{}", sim::chaos::summary(&r));
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_string_pretty(&r)?)?;
            }
            Ok(r.passed())
        }
        Cmd::Devices {
            scenario,
            agent_config: Some(cfg),
            drive: true,
            report,
        } => {
            let s = Scenario::load(&scenario).map_err(|e| anyhow!("{e}"))?;
            let path = config_dir(&cfg)?.join(cfg.file_name().unwrap_or_default());
            let mut o = opts.clone();
            o.live = true;
            let r = runner::run_external(&s, &o, &path, |path| {
                println!(
                    "devices and platform up; start the agent with this configuration:\n    gate-agent --config {}\n(waiting up to {} s for it; gatectl -c {} status shows it)",
                    path.display(),
                    runner::EXTERNAL_AGENT_WAIT.as_secs(),
                    path.display()
                );
            })
            .await?;
            let reports = vec![r];
            print!("{}", runner::summary(&reports));
            if let Some(p) = report {
                runner::write_report(&p, &reports)?;
            }
            Ok(reports.iter().all(|r| r.passed))
        }
        Cmd::Devices {
            scenario,
            agent_config,
            ..
        } => {
            let s = Scenario::load(&scenario).map_err(|e| anyhow!("{e}"))?;
            let (_embedded, addr) = runner::broker(&opts)?;
            let scale = opts.time_scale.unwrap_or(s.lane.time_scale);
            let clock = sim::clock::SimClock::new(scale).map_err(|e| anyhow!("{e}"))?;
            let lane = sim::lane::SimLane::spawn(runner::lane_config(&s), clock).await?;
            let fixture = sim::fixture::Fixture::from_scenario(&s, gate_proto::time::now_unix_ms())
                .map_err(|e| anyhow!("{e}"))?;
            let _platform = sim::platform::Platform::start(
                opts.platform_broker.clone().unwrap_or_else(|| addr.clone()),
                &s.lane.site,
                fixture,
                sim::platform::PlatformKey::test_key(),
            )
            .await?;
            println!("broker: mqtt://{}:{}", addr.host, addr.port);
            println!("{}", serde_json::to_string_pretty(lane.endpoints())?);
            let dir = match &agent_config {
                Some(p) => config_dir(p)?,
                None => std::env::current_dir()?,
            };
            runner::write_profiles(&dir)?;
            let text =
                runner::agent_config(&s, &s.lane.lane, lane.endpoints(), &addr, &dir, scale)?;
            match agent_config {
                Some(p) => {
                    std::fs::write(&p, text)?;
                    println!(
                        "agent configuration written to {} (profiles in {}); start the agent with\n    gate-agent --config {}",
                        p.display(),
                        dir.join("profiles").display(),
                        p.display()
                    );
                }
                None => println!("\n{text}"),
            }
            println!("serving; Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
            Ok(true)
        }
    }
}

/// The absolute directory of a configuration file to be written (created).
fn config_dir(cfg: &std::path::Path) -> Result<PathBuf> {
    let abs = if cfg.is_absolute() {
        cfg.to_path_buf()
    } else {
        std::env::current_dir()?.join(cfg)
    };
    let dir = abs
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| anyhow!("{}: no directory", cfg.display()))?;
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
