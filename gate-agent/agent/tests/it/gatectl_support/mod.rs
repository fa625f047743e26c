//! Support for the gatectl tests: simulated lane devices served for real
//! (the board firmware core and a weighbridge register bank over Modbus
//! TCP through lane-io-host, a raw HTTP camera), a lane configuration
//! pointing at them, and a runner for the real `gatectl` binary with a
//! deadline. The platform broker is a closed port: the agent runs offline.

#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lane_io::board::{Board, RawInputs};
use lane_io_host::{serve_tcp, Arm, FaultSwitch, MemoryModel, Shared};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const GATECTL: &str = env!("CARGO_BIN_EXE_gatectl");
pub const PLATFORM_KEY: &str = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=";
/// The weighbridge register bank's reading (HR 0..1 u32 ABCD, HR 2 bit 0 stable).
pub const GROSS_KG: u32 = 32_460;

/// What a gatectl run gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
    /// Each stdout line as JSON (following modes).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "gatectl failed: stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run gatectl with `args`, killed after `limit`. Its output is read while
/// it runs (an answer larger than a pipe's buffer must not block it).
pub fn gatectl(args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(GATECTL)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gatectl");
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    );
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(s) => break s,
            None if t0.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "gatectl {args:?} did not finish within {limit:?}; stdout:\n{}\nstderr:\n{}",
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default()
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Retry `f` until it returns Some, at most `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP port nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A JPEG-looking body (SOI, APP0, SOF0 with `w`x`h`, padding, EOI).
pub fn jpeg(w: u16, h: u16, len: usize) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
    j.extend_from_slice(&h.to_be_bytes());
    j.extend_from_slice(&w.to_be_bytes());
    j.extend_from_slice(&[0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    while j.len() + 2 < len {
        j.push(0x5A);
    }
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// A raw HTTP camera: `/snapshot.jpg` answers `body`, `/recognition`
/// `null` (nothing read), anything else 404. Returns the base URL.
pub async fn camera_server(body: Vec<u8>) -> String {
    camera_with_recognition(body, Arc::new(Mutex::new("null".into()))).await
}

/// An HTTP camera with its own recognition: `/snapshot.jpg` answers
/// `frame`, `/recognition` whatever the test puts in `recognition` (JSON),
/// anything else 404. Returns the base URL.
pub async fn camera_with_recognition(frame: Vec<u8>, recognition: Arc<Mutex<String>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind camera");
    let addr = l.local_addr().expect("addr");
    let frame = Arc::new(frame);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (frame, rec) = (frame.clone(), recognition.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                    if req.len() > 16 * 1024 {
                        return;
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, ctype, body) = match path.as_str() {
                    "/snapshot.jpg" => ("200 OK", "image/jpeg", frame.as_ref().clone()),
                    "/recognition" => (
                        "200 OK",
                        "application/json",
                        rec.lock().expect("recognition").clone().into_bytes(),
                    ),
                    _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}")
}

/// The lane I/O board firmware core served over Modbus TCP, ticked every
/// 10 ms, with an arm that follows the motor (300 ms between the limits)
/// and field inputs the test sets.
pub struct BoardSim {
    pub port: u16,
    pub board: Shared<Board>,
    /// Loops, photocell, manual key, motor fault (the limits follow the arm).
    pub inputs: Arc<Mutex<RawInputs>>,
    /// Makes the board stop answering (Silent) or go offline.
    pub fault: Arc<FaultSwitch>,
}

pub async fn board_sim() -> BoardSim {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind board");
    let port = l.local_addr().expect("addr").port();
    let board: Shared<Board> = Arc::new(Mutex::new(Board::new()));
    let inputs = Arc::new(Mutex::new(RawInputs::default()));
    let fault = Arc::new(FaultSwitch::default());
    tokio::spawn(serve_tcp(l, board.clone(), None, fault.clone()));
    let (b, i) = (board.clone(), inputs.clone());
    tokio::spawn(async move {
        let t0 = Instant::now();
        let mut arm = Arm::new(300);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            let now = t0.elapsed().as_millis() as u64;
            let field = *i.lock().expect("inputs");
            arm.tick(&mut b.lock().expect("board"), now, field);
        }
    });
    BoardSim {
        port,
        board,
        inputs,
        fault,
    }
}

/// A weighbridge indicator's register bank over Modbus TCP: gross
/// [`GROSS_KG`] (u32 ABCD at HR 0), stable (HR 2 bit 0), unit 1.
pub async fn weighbridge_sim() -> (u16, Shared<MemoryModel>) {
    let (port, m, _) = weighbridge_sim_switchable().await;
    (port, m)
}

/// [`weighbridge_sim`] with the switch that makes it stop answering.
pub async fn weighbridge_sim_switchable() -> (u16, Shared<MemoryModel>, Arc<FaultSwitch>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind wb");
    let port = l.local_addr().expect("addr").port();
    let mut m = MemoryModel::new(0, 0, 8, 0);
    m.holding_registers[0] = (GROSS_KG >> 16) as u16;
    m.holding_registers[1] = (GROSS_KG & 0xFFFF) as u16;
    m.holding_registers[2] = 1;
    let m = Arc::new(Mutex::new(m));
    let switch = Arc::new(FaultSwitch::default());
    tokio::spawn(serve_tcp(l, m.clone(), Some(1), switch.clone()));
    (port, m, switch)
}

pub const WB_PROFILE: &str = r#"
name = "wb-gatectl-test"
description = "gatectl test indicator: u32 gross kg at HR 0 (ABCD), status HR 2 bit 0 stable"

[[points]]
name = "gross"
function = "holding"
address = 0
type = "u32"
order = "ABCD"
unit = "kg"

[[points]]
name = "status"
function = "holding"
address = 2
type = "u16"
bits = [{ name = "stable", mask = 0x0001 }]
"#;

/// A whitelist snapshot with one approved pass for 琼A12345.
pub fn seed_whitelist(db: &Path) {
    let batch: gate_proto::messages::WhitelistBatch = serde_json::from_value(serde_json::json!({
        "schema": "gate.whitelist/1",
        "site": "HK-XINHAI",
        "kind": "snapshot",
        "version": 7,
        "chunk": {"index": 0, "count": 1},
        "issued_at": "2026-01-10T08:00:00Z",
        "upserts": {
            "gate_passes": [{
                "pass_no": "GP2026000123", "status": "approved", "kind": "goods",
                "plate": "琼A12345", "etag": "E2801160600002054A3B1C2D", "trailer_plate": null,
                "containers": ["CSQU3054383"], "declared_total_kg": 32400.0,
                "enterprise": "91460000MA5T000001", "goods_category": "zero_tariff",
                "va_code": null, "valid_from": null, "valid_until": "2027-01-01T00:00:00Z",
                "uses": "single"
            }],
            "vehicles": [{
                "plate": "琼A12345", "plate_colour": "yellow",
                "etag": "E2801160600002054A3B1C2D", "tare_kg": 15000.0,
                "enterprise": "91460000MA5T000001"
            }],
            "enterprises": [{"id": "91460000MA5T000001", "name": "海南测试物流有限公司", "credit": "aeo"}]
        }
    }))
    .expect("batch");
    let store = gate_store::Store::open(db, gate_store::StoreConfig::default()).expect("store");
    store.apply_batch(&batch).expect("apply");
    assert_eq!(store.whitelist_version().expect("version"), 7);
}

/// Paths of a test lane.
pub struct LanePaths {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub db: PathBuf,
}

/// Write the lane configuration for the simulated devices (with the lane
/// configuration builder, as the simulator and the bench do).
/// `broker`: an MQTT broker's port, or `None` for a closed port (offline lane).
pub fn write_config(
    dir: &Path,
    board_port: u16,
    wb_port: u16,
    camera_base: &str,
    broker: Option<u16>,
) -> LanePaths {
    use gate_agent::config::build::ConfigBuilder;
    use gate_agent::config::devices::{RecognitionMode, ScaleSource};
    let profile = dir.join("wb-gatectl-test.toml");
    std::fs::write(&profile, WB_PROFILE).expect("profile");
    let socket = dir.join("gatectl.sock");
    let db = dir.join("lane.db");
    let broker = format!("mqtt://127.0.0.1:{}", broker.unwrap_or_else(closed_port));
    let mut b = ConfigBuilder::new("HK-XINHAI", "L03", &db, &broker);
    b.key("platform-test-1", PLATFORM_KEY)
        .control(&socket)
        .assume_synced()
        .tcp_bus("board", &format!("127.0.0.1:{board_port}"))
        .tcp_bus("wb", &format!("127.0.0.1:{wb_port}"))
        .board("board", 1)
        .modbus_scale("wb", 1, &profile.display().to_string());
    if let Some(board) = b.board_mut() {
        board.poll_interval_ms = 50;
    }
    if let Some(ScaleSource::Modbus(modbus)) = b.scale_mut().map(|w| &mut w.source) {
        modbus.poll_interval_ms = 100;
    }
    b.snapshot_camera(
        "plate-front",
        &format!("{camera_base}/snapshot.jpg"),
        RecognitionMode::None,
        None,
    );
    b.role(gate_core::identified::Device::PlateFront, "plate-front");
    let config = dir.join("lane.toml");
    b.write(&config).expect("config");
    LanePaths {
        dir: dir.to_owned(),
        config,
        socket,
        db,
    }
}

impl LanePaths {
    /// Change the lane's configuration file, typed: read, edit, write back.
    pub fn edit_config(&self, f: impl FnOnce(&mut gate_agent::config::Config)) {
        let mut cfg = gate_agent::config::Config::load(&self.config).expect("config");
        f(&mut cfg);
        std::fs::write(&self.config, cfg.to_toml().expect("toml")).expect("config");
    }

    /// The plate camera reads itself: its recognition results at
    /// `camera_base/recognition` (snapshots from `camera_base` too).
    pub fn camera_reads_itself(&self, camera_base: &str) {
        self.edit_config(|c| {
            for cam in &mut c.devices.cameras {
                cam.source = Some(gate_agent::config::devices::CameraSource::Snapshot(
                    format!("{camera_base}/snapshot.jpg"),
                ));
                cam.recognition_url = Some(format!("{camera_base}/recognition"));
                cam.recognition = None;
            }
        });
    }
}

/// A configuration section from its TOML (keys relative to the section).
pub fn section<T: serde::de::DeserializeOwned>(toml_text: &str) -> T {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("section: {e}\n{toml_text}"))
}

/// The two-worker runtime the simulated devices (and an in-process agent)
/// run on.
pub fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Fail clearly when a tool the test needs is missing (CI installs it).
pub fn require(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "this test needs `{tool}`: install it (CI does)");
}

/// A socat pty pair (`a`, `b`), killed on drop.
pub struct PtyPair {
    child: std::process::Child,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    pub fn new(dir: &Path) -> Self {
        require("socat", &["-V"]);
        let (a, b) = (dir.join("pty-a"), dir.join("pty-b"));
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        let t0 = Instant::now();
        while !(a.exists() && b.exists()) {
            assert!(t0.elapsed() < Duration::from_secs(5), "socat made no ptys");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, a, b }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mosquitto broker on a free port, killed on drop.
pub struct Mosquitto {
    child: std::process::Child,
    pub port: u16,
}

impl Mosquitto {
    pub fn start(dir: &Path) -> Self {
        // `mosquitto -h` exits non-zero: look it up on PATH instead.
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("mosquitto").is_file()));
        assert!(
            found,
            "this test needs `mosquitto` (apt-get install mosquitto; CI does)"
        );
        let port = closed_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .expect("mosquitto.conf");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "mosquitto does not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
