//! Independent masters against the host transports over socat ptys:
//! pymodbus (tests/peers/pymodbus_master.py, Debian python3-pymodbus) and
//! mbpoll (libmodbus). Both tools are required (CI installs them); a
//! missing tool fails the test with the package to install.

use crate::common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{faults, require_tool, seeded_model, shared, within, PtyPair};
use lane_io_host::{open_serial, serve_rtu, MemoryModel, Shared};
use tokio::process::Command;

const BAUD: u32 = 19200;
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

pub fn python() -> PathBuf {
    let py = PathBuf::from("/usr/bin/python3");
    assert!(
        py.exists(),
        "/usr/bin/python3 is required (apt-get install python3 python3-pymodbus)"
    );
    let ok = std::process::Command::new(&py)
        .args(["-c", "import pymodbus"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3-pymodbus is required by this test (apt-get install python3-pymodbus)"
    );
    py
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pymodbus_master.py")
}

async fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.kill_on_drop(true);
    let out = within(TOOL_TIMEOUT, what, cmd.output())
        .await
        .expect("spawn");
    eprintln!(
        "--- {what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct Served {
    pair: PtyPair,
    model: Shared<MemoryModel>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn serve_memory() -> Served {
    let pair = PtyPair::new();
    let port = open_serial(pair.a(), BAUD).expect("open pty a");
    let model = shared(seeded_model());
    let task = tokio::spawn(serve_rtu(port, model.clone(), 1, BAUD, faults()));
    Served { pair, model, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_master_against_serve_rtu() {
    let py = python();
    let s = serve_memory();
    let out = run(
        Command::new(py)
            .arg(script())
            .arg(s.pair.b())
            .arg("memory")
            .arg("1"),
        "pymodbus memory scenario",
    )
    .await;
    assert!(out.status.success(), "pymodbus scenario failed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
    let m = s.model.lock().expect("lock").clone();
    assert_eq!(m.holding_registers[3], 0xBEEF);
    assert_eq!(&m.holding_registers[10..15], &[1, 2, 3, 4, 5]);
    assert!(m.coils[5] && m.coils[8] && !m.coils[9] && m.coils[16] && !m.coils[17]);
}

/// `mbpoll [options] device [values to write]`, 0-based addresses.
fn mbpoll(port: &str, args: &[&str], values: &[&str]) -> Command {
    let mut c = Command::new(require_tool("mbpoll", "mbpoll"));
    c.args([
        "-m", "rtu", "-b", "19200", "-P", "none", "-a", "1", "-o", "1", "-0",
    ]);
    c.args(args);
    c.arg(port);
    c.args(values);
    c
}

/// Values printed by mbpoll as `[addr]: \tvalue` lines.
fn mbpoll_values(out: &Output) -> Vec<(u32, i64)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (addr, val) = rest.split_once("]:")?;
            let val = val.split_whitespace().next()?;
            Some((addr.trim().parse().ok()?, val.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbpoll_against_serve_rtu() {
    let s = serve_memory();
    let b = s.pair.b().to_string();
    // FC04: input registers 0..4
    let out = run(
        &mut mbpoll(&b, &["-t", "3", "-r", "0", "-c", "4", "-1"], &[]),
        "mbpoll FC04",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(
        mbpoll_values(&out),
        [(0, 100), (1, 101), (2, 102), (3, 103)]
    );
    // FC16 then FC03
    let out = run(
        &mut mbpoll(&b, &["-t", "4", "-r", "20"], &["11", "22", "33"]),
        "mbpoll FC16",
    )
    .await;
    assert!(out.status.success());
    let out = run(
        &mut mbpoll(&b, &["-t", "4", "-r", "20", "-c", "3", "-1"], &[]),
        "mbpoll FC03",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(mbpoll_values(&out), [(20, 11), (21, 22), (22, 33)]);
    // FC05 then FC01
    let out = run(
        &mut mbpoll(&b, &["-t", "0", "-r", "7"], &["1"]),
        "mbpoll FC05",
    )
    .await;
    assert!(out.status.success());
    let out = run(
        &mut mbpoll(&b, &["-t", "0", "-r", "6", "-c", "3", "-1"], &[]),
        "mbpoll FC01",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(mbpoll_values(&out), [(6, 0), (7, 1), (8, 0)]);
    // FC02
    let out = run(
        &mut mbpoll(&b, &["-t", "1", "-r", "0", "-c", "3", "-1"], &[]),
        "mbpoll FC02",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(mbpoll_values(&out), [(0, 1), (1, 0), (2, 1)]);
    // out of the map: mbpoll reports the exception and prints no values
    let out = run(
        &mut mbpoll(&b, &["-t", "3", "-r", "15", "-c", "2", "-1"], &[]),
        "mbpoll 02",
    )
    .await;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.to_lowercase().contains("illegal data address"),
        "{text}"
    );
    assert!(mbpoll_values(&out).is_empty());
    let m = s.model.lock().expect("lock").clone();
    assert_eq!(&m.holding_registers[20..23], &[11, 22, 33]);
    assert!(m.coils[7]);
}
