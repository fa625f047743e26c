//! Issue 6 (gatectl): the commissioning commands, which work without the
//! agent, run as the real binary against lane-io-host servers: Modbus
//! read/write/exception/timeout/scan over TCP and over RTU on a socat pty
//! pair (two units on one line), the serial monitor on a pty fed Toledo and
//! XK3190 frames, camera capture from a raw HTTP server, completions and
//! usage errors. Every wait is bounded.

use crate::gatectl_support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatectl_support::*;
use lane_io_host::{open_serial, serve_rtu_multi, serve_tcp, FaultSwitch, MemoryModel, RtuDevice};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

fn run_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let v = gatectl(&a, T).ok().json();
    assert_eq!(v["ok"], true, "{v}");
    v
}

fn bank() -> MemoryModel {
    let mut m = MemoryModel::new(16, 8, 32, 8);
    m.discrete_inputs[2] = true;
    m.input_registers[1] = 0xBEEF;
    m
}

#[test]
fn modbus_tcp_read_write_exception_timeout_and_scan() {
    let rt = test_runtime();
    let (addr, model, filtered) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let model = Arc::new(Mutex::new(bank()));
        tokio::spawn(serve_tcp(
            l,
            model.clone(),
            None,
            Arc::new(FaultSwitch::default()),
        ));
        // A gateway that only answers unit 7.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let filtered = l.local_addr().expect("addr").to_string();
        let m = Arc::new(Mutex::new(bank()));
        tokio::spawn(serve_tcp(l, m, Some(7), Arc::new(FaultSwitch::default())));
        (addr, model, filtered)
    });
    let tcp = addr.as_str();

    // Holding registers: write several (FC 16), one (FC 06), read back.
    let v = run_json(&[
        "modbus", "write", "--tcp", tcp, "--kind", "holding", "--addr", "10", "--value", "1",
        "0x00ff", "-2",
    ]);
    assert_eq!(v["written"], true);
    assert_eq!(v["values"], json!([1, 255, 65534]));
    assert_eq!(
        model.lock().expect("model").holding_registers[10..13],
        [1, 255, 0xFFFE]
    );
    run_json(&[
        "modbus", "write", "--tcp", tcp, "--kind", "holding", "--addr", "13", "--value", "4242",
    ]);
    let v = run_json(&[
        "modbus", "read", "--tcp", tcp, "--kind", "holding", "--addr", "10", "--count", "4",
    ]);
    assert_eq!(v["values"], json!([1, 255, 65534, 4242]));
    assert_eq!(
        (v["unit"].as_u64(), v["addr"].as_u64()),
        (Some(1), Some(10))
    );
    let human = gatectl(
        &[
            "modbus", "read", "--tcp", tcp, "--kind", "holding", "--addr", "12",
        ],
        T,
    )
    .ok()
    .stdout;
    assert!(human.contains("0xFFFE") && human.contains("-2"), "{human}");

    // Coils (FC 05 / FC 15), discrete inputs, input registers.
    run_json(&[
        "modbus", "write", "--tcp", tcp, "--kind", "coil", "--addr", "3", "--value", "on",
    ]);
    run_json(&[
        "modbus", "write", "--tcp", tcp, "--kind", "coil", "--addr", "5", "--value", "1", "0", "1",
    ]);
    let v = run_json(&[
        "modbus", "read", "--tcp", tcp, "--kind", "coil", "--addr", "2", "--count", "6",
    ]);
    assert_eq!(v["values"], json!([0, 1, 0, 1, 0, 1]));
    let v = run_json(&[
        "modbus", "read", "--tcp", tcp, "--kind", "discrete", "--addr", "0", "--count", "4",
    ]);
    assert_eq!(v["values"], json!([0, 0, 1, 0]));
    let v = run_json(&[
        "modbus", "read", "--tcp", tcp, "--kind", "input", "--addr", "1",
    ]);
    assert_eq!(v["values"], json!([0xBEEF]));

    // An exception is the device saying no: exit 1, code "exception".
    let r = gatectl(
        &[
            "modbus", "read", "--tcp", tcp, "--kind", "holding", "--addr", "40", "--json",
        ],
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["code"], "exception");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("0x02")),
        "{r:?}"
    );
    // Nobody answers unit 1 behind the filtered gateway: a timeout.
    let r = gatectl(
        &[
            "modbus",
            "read",
            "--tcp",
            &filtered,
            "--kind",
            "holding",
            "--addr",
            "0",
            "--timeout-ms",
            "200",
            "--json",
        ],
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["code"], "timeout");
    // Nothing listens: a transport error, reported as such.
    let r = gatectl(
        &[
            "modbus",
            "read",
            "--tcp",
            &format!("127.0.0.1:{}", closed_port()),
            "--kind",
            "coil",
            "--addr",
            "0",
            "--json",
        ],
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_ne!(r.json()["code"], "exception");

    // Scan the gateway: only unit 7 answers.
    let v = run_json(&[
        "modbus",
        "scan",
        "--tcp",
        &filtered,
        "--from",
        "1",
        "--to",
        "9",
        "--timeout-ms",
        "100",
    ]);
    assert_eq!(
        v["found"],
        json!([{"unit": 7, "result": "ok", "value": 0, "exception": null}])
    );
    let human = gatectl(
        &[
            "modbus",
            "scan",
            "--tcp",
            &filtered,
            "--from",
            "6",
            "--to",
            "8",
            "--timeout-ms",
            "100",
        ],
        T,
    )
    .ok()
    .stdout;
    assert!(human.contains("1 of 3 unit ids answered"), "{human}");

    // Usage errors are exit 2.
    for bad in [
        vec!["modbus", "read", "--kind", "coil", "--addr", "0"],
        vec![
            "modbus",
            "read",
            "--tcp",
            tcp,
            "--rtu",
            "/dev/null",
            "--kind",
            "coil",
            "--addr",
            "0",
        ],
        vec![
            "modbus", "write", "--tcp", tcp, "--kind", "input", "--addr", "0", "--value", "1",
        ],
        vec![
            "modbus", "write", "--tcp", tcp, "--kind", "holding", "--addr", "0",
        ],
        vec![
            "modbus", "write", "--tcp", tcp, "--kind", "holding", "--addr", "0", "--value", "70000",
        ],
        vec![
            "modbus", "read", "--tcp", tcp, "--kind", "holding", "--addr", "0", "--count", "126",
        ],
        vec!["modbus", "scan", "--tcp", tcp, "--from", "0"],
    ] {
        let r = gatectl(&bad, T);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
    }
}

#[test]
fn modbus_rtu_over_a_pty_pair() {
    let dir = tempfile::tempdir().expect("tmp");
    let pty = PtyPair::new(dir.path());
    let rt = test_runtime();
    let a = pty.a.to_str().expect("p").to_owned();
    let unit3 = {
        let mut m = bank();
        m.holding_registers[0] = 1234;
        Arc::new(Mutex::new(m))
    };
    // Unit 9 has no holding registers: it answers with an exception.
    let unit9 = Arc::new(Mutex::new(MemoryModel::new(4, 4, 0, 4)));
    let m3 = unit3.clone();
    rt.spawn(async move {
        let port = open_serial(&a, 19200).expect("open pty a");
        let devices = vec![
            RtuDevice {
                unit_id: 3,
                model: m3,
                faults: Arc::new(FaultSwitch::default()),
            },
            RtuDevice {
                unit_id: 9,
                model: unit9,
                faults: Arc::new(FaultSwitch::default()),
            },
        ];
        let _ = serve_rtu_multi(port, 19200, devices).await;
    });
    let b = pty.b.to_str().expect("p");
    let v = run_json(&[
        "modbus",
        "scan",
        "--rtu",
        b,
        "--baud",
        "19200",
        "--from",
        "1",
        "--to",
        "12",
        "--timeout-ms",
        "100",
    ]);
    let found = v["found"].as_array().expect("found");
    assert_eq!(found.len(), 2, "{v}");
    assert_eq!(
        (found[0]["unit"].as_u64(), found[0]["result"].as_str()),
        (Some(3), Some("ok"))
    );
    assert_eq!(found[0]["value"], 1234);
    assert_eq!(
        (found[1]["unit"].as_u64(), found[1]["result"].as_str()),
        (Some(9), Some("exception"))
    );
    assert!(
        found[1]["exception"]
            .as_str()
            .is_some_and(|e| e.contains("0x02")),
        "{v}"
    );
    assert!(
        v["transport"]
            .as_str()
            .is_some_and(|t| t.contains("19200 baud 8N1")),
        "{v}"
    );

    run_json(&[
        "modbus", "write", "--rtu", b, "--baud", "19200", "--unit", "3", "--kind", "holding",
        "--addr", "5", "--value", "7", "8",
    ]);
    assert_eq!(unit3.lock().expect("m").holding_registers[5..7], [7, 8]);
    let v = run_json(&[
        "modbus", "read", "--rtu", b, "--baud", "19200", "--unit", "3", "--kind", "holding",
        "--addr", "4", "--count", "3",
    ]);
    assert_eq!(v["values"], json!([0, 7, 8]));
    let r = gatectl(
        &[
            "modbus", "read", "--rtu", b, "--baud", "19200", "--unit", "9", "--kind", "holding",
            "--addr", "0", "--json",
        ],
        T,
    );
    assert_eq!((r.code, r.json()["code"].as_str()), (1, Some("exception")));
    let r = gatectl(
        &[
            "modbus",
            "read",
            "--rtu",
            b,
            "--baud",
            "19200",
            "--unit",
            "5",
            "--kind",
            "holding",
            "--addr",
            "0",
            "--timeout-ms",
            "150",
            "--json",
        ],
        T,
    );
    assert_eq!((r.code, r.json()["code"].as_str()), (1, Some("timeout")));
}

/// Toledo, with checksum: 32460 kg, stable (from the driver's own tests).
const TOLEDO_32460: [u8; 18] = [
    0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0', b'0', b'0',
    0x0D, 0x21,
];
const XK_32460: [u8; 12] = [
    0x02, b'+', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'1', b'8', 0x03,
];

/// Write `chunk` to `path` every 50 ms until `stop`.
fn feeder(
    path: std::path::PathBuf,
    chunk: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open pty");
        while !stop.load(Ordering::Relaxed) {
            let _ = f.write_all(&chunk);
            let _ = f.flush();
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[test]
fn serial_monitor_parses_frames_with_the_agent_parsers() {
    let dir = tempfile::tempdir().expect("tmp");
    let pty = PtyPair::new(dir.path());
    let b = pty.b.to_str().expect("p");

    // Toledo: good frames, noise and a corrupted frame in between.
    let mut chunk = TOLEDO_32460.to_vec();
    chunk.extend_from_slice(b"\xFFnoise");
    let mut bad = TOLEDO_32460;
    bad[17] ^= 0x01;
    chunk.extend_from_slice(&bad);
    let stop = Arc::new(AtomicBool::new(false));
    let f = feeder(pty.a.clone(), chunk, stop.clone());
    let r = gatectl(
        &[
            "serial",
            "monitor",
            "--port",
            b,
            "--baud",
            "9600",
            "--protocol",
            "toledo",
            "--checksum",
            "--count",
            "3",
            "--json",
        ],
        T,
    )
    .ok();
    stop.store(true, Ordering::Relaxed);
    f.join().expect("feeder");
    let lines = r.json_lines();
    let frames: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "frame").collect();
    assert_eq!(frames.len(), 3, "{lines:?}");
    for fr in &frames {
        assert_eq!(fr["gross_kg"], 32460.0);
        assert_eq!(fr["stable"], true);
        assert_eq!(fr["overload"], false);
    }
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "bad"
                && l["error"].as_str().is_some_and(|e| e.contains("checksum"))),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l["kind"] == "garbage"), "{lines:?}");

    // XK3190 in tonnes, human output.
    let stop = Arc::new(AtomicBool::new(false));
    let f = feeder(pty.a.clone(), XK_32460.to_vec(), stop.clone());
    let r = gatectl(
        &[
            "serial",
            "monitor",
            "--port",
            b,
            "--protocol",
            "xk3190",
            "--kg-per-unit",
            "1000",
            "--count",
            "2",
        ],
        T,
    )
    .ok();
    stop.store(true, Ordering::Relaxed);
    f.join().expect("feeder");
    assert!(r.stdout.contains("32460000 kg"), "{}", r.stdout);

    // Raw: bytes as hex and text, bounded by --seconds.
    let stop = Arc::new(AtomicBool::new(false));
    let f = feeder(
        pty.a.clone(),
        b"ST,GS,+0012340kg\r\n".to_vec(),
        stop.clone(),
    );
    let r = gatectl(
        &[
            "serial",
            "monitor",
            "--port",
            b,
            "--protocol",
            "raw",
            "--seconds",
            "1",
            "--json",
        ],
        T,
    )
    .ok();
    stop.store(true, Ordering::Relaxed);
    f.join().expect("feeder");
    let lines = r.json_lines();
    assert!(!lines.is_empty());
    let text: String = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(text.contains("+0012340kg"), "{text}");
    assert!(
        lines[0]["hex"]
            .as_str()
            .is_some_and(|h| h.starts_with("53 54")),
        "{lines:?}"
    );

    let r = gatectl(
        &[
            "serial",
            "monitor",
            "--port",
            "/nonexistent/tty",
            "--protocol",
            "raw",
            "--json",
        ],
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn camera_capture_list_and_completions() {
    let rt = test_runtime();
    let frame = jpeg(1280, 720, 6000);
    let base = rt.block_on(camera_server(frame.clone()));
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("cam.jpg");
    let v = run_json(&[
        "camera",
        "capture",
        "--url",
        &format!("{base}/snapshot.jpg"),
        "-o",
        out.to_str().expect("p"),
    ]);
    assert_eq!(v["bytes"], frame.len());
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(std::fs::read(&out).expect("jpeg"), frame);
    let human = gatectl(
        &[
            "camera",
            "capture",
            "--url",
            &format!("{base}/snapshot.jpg"),
            "-o",
            out.to_str().expect("p"),
        ],
        T,
    )
    .ok()
    .stdout;
    assert!(human.contains("(1280x720)"), "{human}");
    let r = gatectl(
        &[
            "camera",
            "capture",
            "--url",
            &format!("{base}/missing"),
            "-o",
            out.to_str().expect("p"),
            "--json",
        ],
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("404")),
        "{r:?}"
    );
    let r = gatectl(
        &["camera", "capture", "--url", "ftp://x", "-o", "/dev/null"],
        T,
    );
    assert_eq!(r.code, 2, "{r:?}");

    // camera list without --config says what it cannot know.
    let v = run_json(&["camera", "list"]);
    assert_eq!(v["cameras"], json!([]));
    assert!(
        v["note"]
            .as_str()
            .is_some_and(|n| n.contains("no --config")),
        "{v}"
    );

    // Completions for every shell clap_complete knows; usage errors are 2.
    for shell in ["bash", "zsh", "fish"] {
        let r = gatectl(&["completions", shell], T).ok();
        assert!(
            r.stdout.contains("gatectl") && r.stdout.contains("selftest"),
            "{shell}"
        );
    }
    assert_eq!(gatectl(&["completions", "tcsh"], T).code, 2);
    assert_eq!(gatectl(&["frobnicate"], T).code, 2);
    let help = gatectl(&["--help"], T).ok().stdout;
    assert!(help.contains("Exit codes"), "{help}");
}
