//! Shared helpers of the lane-io-host integration tests: external tools,
//! socat pty pairs, a seeded MemoryModel, bounded waits.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lane_io_host::{FaultSwitch, MemoryModel, Shared};

/// Every wait in these tests is bounded by this.
pub const STEP: Duration = Duration::from_secs(5);
/// How long a request to a silent device is given before we call it a timeout.
pub const SHORT: Duration = Duration::from_millis(400);

/// Panics with a clear message when `tool` is not on PATH (CI installs it).
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .expect("running sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "`{tool}` is required by this test but is not installed (apt-get install {package})"
    );
    PathBuf::from(path)
}

/// Run `fut`, panicking if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// 32 coils, 32 discrete inputs (even addresses on), 64 holding registers
/// (zero), 16 input registers (100 + address).
pub fn seeded_model() -> MemoryModel {
    let mut m = MemoryModel::new(32, 32, 64, 16);
    for (i, d) in m.discrete_inputs.iter_mut().enumerate() {
        *d = i % 2 == 0;
    }
    for (i, r) in m.input_registers.iter_mut().enumerate() {
        *r = 100 + i as u16;
    }
    m
}

pub fn shared<M>(m: M) -> Shared<M> {
    Arc::new(Mutex::new(m))
}

pub fn faults() -> Arc<FaultSwitch> {
    Arc::new(FaultSwitch::default())
}

/// A socat-made pty pair `dir/a` <-> `dir/b`, killed on drop.
pub struct PtyPair {
    child: Child,
    _dir: tempfile::TempDir,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    pub fn new() -> Self {
        let socat = require_tool("socat", "socat");
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let child = Command::new(socat)
            .arg("-d")
            .arg("-d")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning socat");
        let pair = Self {
            child,
            _dir: dir,
            a,
            b,
        };
        let deadline = Instant::now() + STEP;
        while !(pair.a.exists() && pair.b.exists()) {
            assert!(Instant::now() < deadline, "socat did not create its ptys");
            std::thread::sleep(Duration::from_millis(10));
        }
        pair
    }

    pub fn a(&self) -> &str {
        path_str(&self.a)
    }
    pub fn b(&self) -> &str {
        path_str(&self.b)
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (by its own handle) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
