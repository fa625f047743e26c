//! Shared helpers of the driver tests: external peers (pymodbus slave,
//! socat pty pairs) started as child processes and killed on drop, free
//! ports, bounded waits. A missing tool fails the test with a clear message.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub const PYTHON: &str = "/usr/bin/python3";

/// Panic with an explanation if an external tool is missing.
pub fn require(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs `{tool}` ({}): install it (CI does)",
        probe.join(" ")
    );
}

pub fn require_pymodbus() {
    require(
        PYTHON,
        &["-c", "import pymodbus.server.async_io, serial_asyncio"],
    );
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// A child process killed (by its pid) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pymodbus peer (tests/peers/modbus_slave.py).
pub fn modbus_peer(args: &[&str]) -> Proc {
    let script = peers_dir().join("modbus_slave.py");
    let child = Command::new(PYTHON)
        .arg(script)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pymodbus peer");
    Proc(child)
}

/// Wait until something listens on `port` (at most `limit`).
pub fn wait_listening(port: u16, limit: Duration) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < limit,
            "nothing listens on port {port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A socat pty pair with links `<dir>/a` and `<dir>/b`.
pub struct PtyPair {
    pub proc: Option<Proc>,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    pub fn new(dir: &Path) -> Self {
        require("socat", &["-V"]);
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut p = Self { proc: None, a, b };
        p.start();
        p
    }

    pub fn start(&mut self) {
        self.unlink();
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", self.a.display()))
            .arg(format!("pty,raw,echo=0,link={}", self.b.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        self.proc = Some(Proc(child));
        let t0 = Instant::now();
        while !(self.a.exists() && self.b.exists()) {
            assert!(t0.elapsed() < Duration::from_secs(5), "socat made no ptys");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The adapter disappears: socat is killed (SIGKILL: it cannot remove
    /// its links) and the links are removed here. A stale link would point
    /// at a pty number the kernel soon gives to another test's pair.
    pub fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
        self.unlink();
    }

    fn unlink(&self) {
        for l in [&self.a, &self.b] {
            let _ = std::fs::remove_file(l);
        }
    }
}

/// Wait until the watched value satisfies `pred` (at most `limit`); returns it.
pub async fn wait_for<T: Clone>(
    rx: &mut watch::Receiver<T>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&T) -> bool,
) -> T {
    let r = tokio::time::timeout(limit, async {
        loop {
            {
                let v = rx.borrow_and_update();
                if pred(&v) {
                    return v.clone();
                }
            }
            if rx.changed().await.is_err() {
                panic!("{what}: the driver stopped");
            }
        }
    })
    .await;
    match r {
        Ok(v) => v,
        Err(_) => panic!("{what}: not seen within {limit:?}"),
    }
}
