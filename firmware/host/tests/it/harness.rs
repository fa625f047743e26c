//! The board-harness binary serving the real lane_io::board::Board over RTU
//! (socat pty) and TCP at once, driven by tokio-modbus, pymodbus and mbpoll.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{require_tool, within, PtyPair, STEP};
use lane_io::regmap::{self, coil, hr, ir, BarrierState, CommandResult};
use lane_io_host::open_serial;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_modbus::client::{rtu, tcp, Context};
use tokio_modbus::prelude::*;

struct Harness {
    /// Killed on drop (`kill_on_drop`).
    _child: Child,
    pair: PtyPair,
    tcp: std::net::SocketAddr,
}

/// Starts board-harness with RTU on side a of a fresh pty pair and TCP on
/// an ephemeral port; waits for its "ready" line.
async fn start() -> Harness {
    let pair = PtyPair::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_board-harness"))
        .args(["--rtu", pair.a(), "--baud", "19200", "--unit", "1"])
        .args(["--tcp", "127.0.0.1:0", "--travel-ms", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn board-harness");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut tcp = None;
    within(STEP, "board-harness ready", async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(addr) = line.strip_prefix("tcp listening on ") {
                tcp = Some(addr.parse().expect("address"));
            }
            if line == "ready" {
                return;
            }
        }
        panic!("board-harness exited before ready");
    })
    .await;
    Harness {
        _child: child,
        pair,
        tcp: tcp.expect("tcp address printed"),
    }
}

fn rtu_master(h: &Harness) -> Context {
    rtu::attach_slave(
        open_serial(h.pair.b(), 19200).expect("open pty b"),
        Slave(1),
    )
}

async fn ir_read(c: &mut Context, addr: u16) -> u16 {
    let r = within(STEP, "read input register", c.read_input_registers(addr, 1)).await;
    r.expect("transport").expect("no exception")[0]
}

async fn wait_state(c: &mut Context, want: BarrierState) {
    within(STEP, "barrier state", async {
        loop {
            if BarrierState::from_u16(ir_read(c, ir::BARRIER_STATE).await) == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_over_rtu_and_tcp_at_once() {
    let h = start().await;
    let mut r = rtu_master(&h);
    let mut t = within(STEP, "tcp connect", tcp::connect_slave(h.tcp, Slave(1)))
        .await
        .expect("connect");
    assert_eq!(ir_read(&mut r, ir::FW_VERSION).await, regmap::FW_VERSION);
    assert_eq!(ir_read(&mut t, ir::FW_VERSION).await, regmap::FW_VERSION);
    // The simulated arm starts on its down limit.
    wait_state(&mut r, BarrierState::Closed).await;
    // Heartbeat over TCP, raise over RTU; watch the arm open over both.
    within(STEP, "heartbeat", t.write_single_register(hr::HEARTBEAT, 1))
        .await
        .expect("t")
        .expect("ok");
    within(STEP, "raise", r.write_single_coil(coil::RAISE, true))
        .await
        .expect("t")
        .expect("ok");
    wait_state(&mut t, BarrierState::Open).await;
    assert_eq!(
        CommandResult::from_u16(ir_read(&mut r, ir::LAST_COMMAND).await),
        Some(CommandResult::Accepted)
    );
    assert_eq!(ir_read(&mut r, ir::RAISE_COUNT).await, 1);
    let di = within(STEP, "inputs", r.read_discrete_inputs(0, regmap::di::COUNT)).await;
    let di = di.expect("t").expect("ok");
    assert!(di[usize::from(regmap::di::UP_LIMIT)] && !di[usize::from(regmap::di::DOWN_LIMIT)]);
    // LED text written over TCP reads back over RTU.
    let text = "琼B·请稍候".as_bytes();
    let mut padded = text.to_vec();
    padded.resize(text.len().div_ceil(2) * 2, 0);
    let regs: Vec<u16> = padded
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    within(
        STEP,
        "LED text",
        t.write_multiple_registers(hr::LED_TEXT, &regs),
    )
    .await
    .expect("t")
    .expect("ok");
    within(
        STEP,
        "LED len",
        t.write_single_register(hr::LED_LEN, text.len() as u16),
    )
    .await
    .expect("t")
    .expect("ok");
    let back = within(
        STEP,
        "LED back",
        r.read_holding_registers(hr::LED_TEXT, regs.len() as u16),
    )
    .await;
    assert_eq!(back.expect("t").expect("ok"), regs);
    // The board's own checks come back as exceptions over both transports.
    let e = within(STEP, "bad value", r.write_single_register(hr::LED_LEN, 65)).await;
    assert_eq!(e.expect("t"), Err(ExceptionCode::IllegalDataValue));
    let e = within(STEP, "bad address", t.read_input_registers(ir::COUNT, 1)).await;
    assert_eq!(e.expect("t"), Err(ExceptionCode::IllegalDataAddress));
}

fn peers_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pymodbus_master.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_and_mbpoll_against_the_board() {
    let py = PathBuf::from("/usr/bin/python3");
    assert!(
        py.exists(),
        "/usr/bin/python3 with python3-pymodbus is required"
    );
    let mbpoll = require_tool("mbpoll", "mbpoll");
    let h = start().await;
    let out = within(
        Duration::from_secs(30),
        "pymodbus board scenario",
        Command::new(py)
            .arg(peers_script())
            .args([h.pair.b(), "board", "1"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run pymodbus");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pymodbus board scenario failed");

    // mbpoll: the firmware version (input register 7) and the LED length
    // pymodbus wrote (holding register 6).
    let out = within(
        Duration::from_secs(30),
        "mbpoll",
        Command::new(mbpoll)
            .args([
                "-m", "rtu", "-b", "19200", "-P", "none", "-a", "1", "-o", "1", "-0",
            ])
            .args(["-t", "3", "-r", "7", "-c", "1", "-1", h.pair.b()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run mbpoll");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success());
    assert!(text.contains("[7]: \t256"), "{text}");
    // and the state pymodbus left behind is visible over TCP
    let mut t = within(STEP, "tcp", tcp::connect_slave(h.tcp, Slave(1)))
        .await
        .expect("connect");
    let len = within(STEP, "LED len", t.read_holding_registers(hr::LED_LEN, 1)).await;
    assert_eq!(
        len.expect("t").expect("ok"),
        ["琼A12345 请通行".len() as u16]
    );
}

/// Resident set of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Issue 15 (bad input at every port), measured on board-harness (a
/// process of its own): 32 TCP clients sending a 1 MiB blob each, 48
/// clients holding half a frame, a client pipelining requests without
/// reading the answers, and 1 MiB of noise on the RTU line. Its resident
/// memory grows by less than 8 MiB (34 MiB and more were sent), and both
/// ports still answer a tokio-modbus master correctly afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_leaves_board_harness_bounded_and_serving() {
    use tokio::io::AsyncWriteExt;
    let h = start().await;
    let pid = h._child.id().expect("board-harness pid");
    let mut r = rtu_master(&h);
    assert_eq!(ir_read(&mut r, ir::FW_VERSION).await, regmap::FW_VERSION);
    let rss0 = rss_kib(pid);
    drop(r);

    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = |n: usize, avoid: &[u8]| -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            if !avoid.contains(&b) {
                v.push(b);
            }
        }
        v
    };
    let blob = noise(1 << 20, &[]);
    for _ in 0..32 {
        let mut s = within(STEP, "connect", tokio::net::TcpStream::connect(h.tcp))
            .await
            .expect("connect");
        let _ = within(STEP, "1 MiB", s.write_all(&blob)).await;
    }
    let mut stalled = Vec::new();
    for _ in 0..48 {
        let mut s = within(STEP, "connect", tokio::net::TcpStream::connect(h.tcp))
            .await
            .expect("connect");
        s.write_all(&[0, 1, 0, 0, 0, 6, 1, 4]).await.expect("half");
        stalled.push(s);
    }
    let mut flood = tokio::net::TcpStream::connect(h.tcp)
        .await
        .expect("connect");
    let req = [0u8, 7, 0, 0, 0, 6, 1, 4, 0, 7, 0, 1];
    let burst: Vec<u8> = req.iter().copied().cycle().take(12 * 4096).collect();
    while let Ok(Ok(())) =
        tokio::time::timeout(Duration::from_millis(300), flood.write_all(&burst)).await
    {}
    let mut line = open_serial(h.pair.b(), 19200).expect("open pty b");
    let rtu_noise = noise(1 << 20, &[0x00, 0x01]);
    within(
        STEP * 3,
        "1 MiB on the RTU line",
        line.write_all(&rtu_noise),
    )
    .await
    .expect("write");
    drop(line);

    let grown = rss_kib(pid).saturating_sub(rss0);
    eprintln!("board-harness resident memory grew by {grown} KiB");
    assert!(grown < 8 * 1024, "board-harness grew by {grown} KiB");
    let mut t = within(STEP, "tcp", tcp::connect_slave(h.tcp, Slave(1)))
        .await
        .expect("connect");
    let t0 = std::time::Instant::now();
    assert_eq!(ir_read(&mut t, ir::FW_VERSION).await, regmap::FW_VERSION);
    let mut r = rtu_master(&h);
    assert_eq!(ir_read(&mut r, ir::FW_VERSION).await, regmap::FW_VERSION);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    drop((stalled, flood));
}
