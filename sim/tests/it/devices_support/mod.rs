//! Helpers shared by the simulated-device tests (sim/tests/devices_*.rs):
//! external peers (pymodbus scripts in sim/tests/peers/), bounded waits on
//! lane observations, a standard truck.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sim::clock::SimClock;
use sim::lane::{ObservationKind, SimLane, TruckSpec};
use sim::physics::TruckId;
use tokio::io::AsyncWriteExt;

/// The Debian python with python3-pymodbus (not a pyenv shim).
pub const PYTHON: &str = "/usr/bin/python3";

pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
}

/// Fails the test with a clear message if pymodbus is not installed.
pub fn require_pymodbus() {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import pymodbus.client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs {PYTHON} with pymodbus (Debian package python3-pymodbus); CI installs it"
    );
}

/// Fails the test with a clear message if `tool` is not on PATH.
pub fn require_tool(tool: &str, package: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `{tool}` (Debian package {package}); CI installs it"
    );
}

/// Runs a peer script with `args`, feeding `stdin`, and parses its JSON output.
pub async fn run_peer(script: &str, args: &[String], stdin: &str, limit: Duration) -> Value {
    let mut child = tokio::process::Command::new(PYTHON)
        .arg(peers_dir().join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python peer");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write peer stdin");
    drop(input);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("peer {script} {args:?} did not finish within {limit:?}"))
        .expect("peer output");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "peer {script} printed no JSON ({e}); status {:?}\nstdout: {text}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs Modbus operations with modbus_peer.py over TCP.
pub async fn modbus_tcp(addr: std::net::SocketAddr, unit: u8, ops: Value) -> Value {
    let args = vec![
        "tcp".into(),
        addr.ip().to_string(),
        addr.port().to_string(),
        unit.to_string(),
    ];
    run_peer(
        "modbus_peer.py",
        &args,
        &ops.to_string(),
        Duration::from_secs(30),
    )
    .await
}

/// Runs Modbus operations with modbus_peer.py over RTU on a serial path.
pub async fn modbus_rtu(path: &std::path::Path, unit: u8, ops: Value) -> Value {
    let args = vec![
        "rtu".into(),
        path.display().to_string(),
        "19200".into(),
        unit.to_string(),
    ];
    run_peer(
        "modbus_peer.py",
        &args,
        &ops.to_string(),
        Duration::from_secs(30),
    )
    .await
}

/// The register values of result `i`, or a panic naming the failure.
pub fn values(out: &Value, i: usize) -> Vec<u16> {
    let r = &out["results"][i];
    assert_eq!(
        r["ok"],
        Value::Bool(true),
        "operation {i} failed: {r} (all: {out})"
    );
    r["values"]
        .as_array()
        .unwrap_or_else(|| panic!("operation {i} has no values: {r}"))
        .iter()
        .map(|v| v.as_u64().expect("number") as u16)
        .collect()
}

/// A lane clock running 10x faster than real time.
pub fn fast_clock() -> SimClock {
    SimClock::new(10.0).expect("clock")
}

/// Waits (bounded, in real time) until the lane has observed `kind` for `truck`.
pub async fn wait_for(
    lane: &SimLane,
    truck: TruckId,
    kind: fn(&ObservationKind) -> bool,
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if lane
            .observations()
            .iter()
            .any(|o| o.truck == truck && kind(&o.kind))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such observation for {truck} within {limit:?}; seen: {:?}; snapshot: {:?}",
            lane.observations(),
            lane.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sleeps for a lane duration.
pub async fn lane_sleep(lane: &SimLane, lane_ms: u64) {
    lane.clock().sleep(Duration::from_millis(lane_ms)).await;
}

/// A container semi-trailer truck: 15 t tare (tractor, trailer, a 45' box) + 20 t cargo, two e-tags, one e-seal.
pub fn container_truck(plate: &str) -> TruckSpec {
    toml::from_str(&format!(
        r#"
        plate = "{plate}"
        plate_colour = "yellow"
        etag = "E2801160600002054CC2A1B3"
        tare_kg = 4700
        cargo_kg = 20000
        trailer = {{ length_m = 12.4, plate = "琼A0001挂", tare_kg = 6500, etag = "TRL-0001" }}
        containers = [{{ number = "CSQU3054383", size_type = "45G1", position = "front" }}]
        eseal = {{ id = "ES00012345", state = "tampered" }}
        "#
    ))
    .expect("truck spec")
}
