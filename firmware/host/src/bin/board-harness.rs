//! board-harness: runs the lane I/O board firmware core (`lane_io::board::Board`)
//! on a host and serves it over Modbus RTU (a serial device or pty) and/or
//! Modbus TCP, for interop tests with real masters (mbpoll, pymodbus, the
//! agent's driver).
//!
//! The board is ticked every `--tick-ms` with time from a monotonic clock.
//! Field inputs are all inactive except the limit switches, which follow a
//! simple arm model driven by the board's motor outputs (the arm starts
//! down). `--travel-ms 0` disables the arm model: then every input stays
//! inactive.
//!
//! Prints `tcp listening on ADDR` on stdout once the TCP port is bound and
//! `ready` once everything is up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use lane_io::board::{Board, RawInputs};
use lane_io::regmap;
use lane_io_host::{open_serial, serve_rtu, serve_tcp, Arm, FaultSwitch, Shared};

#[derive(Parser, Debug)]
#[command(
    name = "board-harness",
    about = "Serve the lane I/O board core over Modbus RTU and/or TCP"
)]
struct Args {
    /// Serial device or pty path to serve Modbus RTU on.
    #[arg(long)]
    rtu: Option<String>,
    /// RTU baud rate.
    #[arg(long, default_value_t = 19200)]
    baud: u32,
    /// RTU unit id.
    #[arg(long, default_value_t = regmap::DEFAULT_UNIT_ID)]
    unit: u8,
    /// TCP address to serve Modbus TCP on, e.g. 127.0.0.1:1502 (port 0 picks one).
    #[arg(long)]
    tcp: Option<String>,
    /// Answer only this unit id on TCP (default: any).
    #[arg(long)]
    tcp_unit: Option<u8>,
    /// Board tick period in ms.
    #[arg(long, default_value_t = 10)]
    tick_ms: u64,
    /// Time the simulated arm takes between its limits, in ms (0: no arm model).
    #[arg(long, default_value_t = 3000)]
    travel_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.rtu.is_none() && args.tcp.is_none() {
        anyhow::bail!("nothing to serve: give --rtu PATH and/or --tcp ADDR");
    }
    let board: Shared<Board> = Arc::new(Mutex::new(Board::new()));
    let faults = Arc::new(FaultSwitch::default());
    let mut tasks = tokio::task::JoinSet::new();

    if let Some(addr) = &args.tcp {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        println!("tcp listening on {}", listener.local_addr()?);
        let (b, f, unit) = (board.clone(), faults.clone(), args.tcp_unit);
        tasks.spawn(async move {
            serve_tcp(listener, b, unit, f)
                .await
                .context("Modbus TCP server")
        });
    }
    if let Some(path) = &args.rtu {
        let port = open_serial(path, args.baud)?;
        let (b, f, unit, baud) = (board.clone(), faults.clone(), args.unit, args.baud);
        tasks.spawn(async move {
            serve_rtu(port, b, unit, baud, f)
                .await
                .context("Modbus RTU server")
        });
    }
    {
        let board = board.clone();
        let (tick_ms, travel_ms) = (args.tick_ms.max(1), args.travel_ms);
        tasks.spawn(async move {
            let start = Instant::now();
            let mut arm = Arm::new(travel_ms);
            let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
            loop {
                tick.tick().await;
                let now_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                match board.lock() {
                    Ok(mut b) => arm.tick(&mut b, now_ms, RawInputs::default()),
                    Err(_) => anyhow::bail!("board mutex poisoned"),
                };
            }
        });
    }
    println!("ready");
    tokio::select! {
        r = tasks.join_next() => match r {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(anyhow::anyhow!("task failed: {e}")),
        },
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted");
            Ok(())
        }
    }
}
