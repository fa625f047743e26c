//! Issue 3: what the simulated platform publishes is what
//! shared/spec/platform.md says, as seen by an independent client
//! (mosquitto_sub) on a real broker (a Mosquitto the test starts on a free
//! port): the whitelist topic, the signed envelope `{"body","kid","sig"}`
//! verifying with the public key shipped in config/keys/, snapshot chunks,
//! deltas, answers to `.../sync`, signed commands, and a single-use pass
//! marked used once a truck went through on it.
//!
//! Needs `mosquitto` and `mosquitto_sub`/`mosquitto_pub` (Debian packages
//! mosquitto, mosquitto-clients); fails with a clear message without them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gate_proto::messages::{
    BatchKind, CommandKind, Control, ControlAction, Credit, Deletes, Enterprise, GatePass,
    PassKind, PassStatus, PassUses, PlateColour, TargetKind, Upserts, Vehicle, WhitelistBatch,
};
use gate_proto::sign::{parse_public_key, Keyring};
use sim::broker::{free_port, BrokerAddr};
use sim::fixture::{Delta, Fixture};
use sim::platform::{CommandRequest, Platform, PlatformConfig, PlatformKey, TEST_KID};
use tokio::sync::mpsc;

const SITE: &str = "HK-XINHAI";
const WL_TOPIC: &str = "gate/v1/HK-XINHAI/whitelist";
const CMD_TOPIC: &str = "gate/v1/HK-XINHAI/L03/command";

/// Kills the child process when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str) {
    let found = Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed: this test needs Mosquitto (apt-get install mosquitto mosquitto-clients)"
    );
}

fn start_mosquitto() -> (Proc, u16) {
    need("mosquitto");
    let port = free_port().expect("free port");
    let child = Command::new("mosquitto")
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosquitto");
    let proc = Proc(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, port)
}

/// mosquitto_sub on `topics`; returns (process, receiver of (topic, payload)).
/// Waits until the subscription works: a probe published on an extra topic
/// comes back (mosquitto_sub flushes each message, not its debug output).
fn start_sub(port: u16, topics: &[&str]) -> (Proc, mpsc::Receiver<(String, String)>) {
    need("mosquitto_sub");
    const PROBE: &str = "sim-test/probe";
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-q",
        "1",
        "-v",
        "-t",
        PROBE,
    ]);
    for t in topics {
        cmd.args(["-t", t]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosquitto_sub");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel(1024);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // -v prints "topic payload".
            let Some((topic, payload)) = line.split_once(' ') else {
                continue;
            };
            if topic == PROBE {
                let _ = ready_tx.send(());
            } else if tx
                .blocking_send((topic.to_owned(), payload.to_owned()))
                .is_err()
            {
                break;
            }
        }
    });
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        mosquitto_pub(port, PROBE, "probe");
        if ready_rx.recv_timeout(Duration::from_millis(300)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "mosquitto_sub did not subscribe");
    }
    // Later probes (if any were still in flight) are dropped by the reader.
    (proc, rx)
}

fn mosquitto_pub(port: u16, topic: &str, payload: &str) {
    need("mosquitto_pub");
    let ok = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status()
        .expect("run mosquitto_pub")
        .success();
    assert!(ok, "mosquitto_pub failed");
}

/// The public key as shipped for lanes to trust.
fn shipped_keyring() -> Keyring {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/keys/platform-test.pub"
    );
    let text = std::fs::read_to_string(path).expect("config/keys/platform-test.pub");
    let mut k = Keyring::new();
    k.insert(TEST_KID, parse_public_key(&text).expect("public key"));
    k
}

/// Receive the next message and check it is a signed envelope, exactly
/// `{"body","kid","sig"}`, verifying with the shipped key; return (topic, body).
async fn next_signed(rx: &mut mpsc::Receiver<(String, String)>) -> (String, String) {
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("mosquitto_sub still running");
    let v: serde_json::Value = serde_json::from_str(&payload).expect("payload is JSON");
    let keys: BTreeSet<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["body", "kid", "sig"]),
        "envelope form"
    );
    assert_eq!(v["kid"], TEST_KID);
    let body = shipped_keyring()
        .open(payload.as_bytes())
        .expect("signature verifies with config/keys/platform-test.pub");
    (topic, body)
}

async fn next_batch(rx: &mut mpsc::Receiver<(String, String)>) -> WhitelistBatch {
    let (topic, body) = next_signed(rx).await;
    assert_eq!(topic, WL_TOPIC);
    let b: WhitelistBatch = serde_json::from_str(&body).expect("whitelist batch body");
    b.validate().expect("batch valid");
    assert_eq!(b.site, SITE);
    b
}

async fn snapshot(rx: &mut mpsc::Receiver<(String, String)>, version: u64) -> Upserts {
    let mut all = Upserts::default();
    let first = next_batch(rx).await;
    let count = first.chunk.count;
    let mut batches = vec![first];
    for _ in 1..count {
        batches.push(next_batch(rx).await);
    }
    for (i, b) in batches.into_iter().enumerate() {
        assert_eq!(b.kind, BatchKind::Snapshot);
        assert_eq!(b.from_version, None);
        assert_eq!(b.version, version);
        assert_eq!((b.chunk.index as usize, b.chunk.count), (i, count));
        all.gate_passes.extend(b.upserts.gate_passes);
        all.vehicles.extend(b.upserts.vehicles);
        all.enterprises.extend(b.upserts.enterprises);
        all.controls.extend(b.upserts.controls);
        assert_eq!(b.deletes, Deletes::default());
    }
    all
}

fn records() -> Upserts {
    let pass = |no: &str, plate: &str| GatePass {
        pass_no: no.into(),
        status: PassStatus::Approved,
        kind: PassKind::Goods,
        plate: plate.into(),
        etag: Some("E2801160600002094A7F3C21".into()),
        trailer_plate: Some("琼A0736挂".into()),
        containers: vec!["CSQU3054383".into()],
        declared_total_kg: Some(33_500.0),
        enterprise: Some("91460100MA5TXH0001".into()),
        goods_category: None,
        va_code: None,
        valid_from: None,
        valid_until: None,
        uses: PassUses::Single,
        eseal: None,
    };
    Upserts {
        gate_passes: vec![
            pass("HK2025120100137", "琼A53821"),
            pass("HK2025120100138", "琼B20917"),
        ],
        vehicles: vec![Vehicle {
            plate: "琼A53821".into(),
            plate_colour: Some(PlateColour::Yellow),
            etag: Some("E2801160600002094A7F3C21".into()),
            tare_kg: Some(8_700.0),
            enterprise: Some("91460100MA5TXH0001".into()),
            credit: None,
        }],
        enterprises: vec![Enterprise {
            id: "91460100MA5TXH0001".into(),
            name: "海南椰岛供应链有限公司".into(),
            credit: Credit::Aeo,
        }],
        controls: vec![Control {
            id: "RC-0001".into(),
            target_kind: TargetKind::Plate,
            target: "琼B20917".into(),
            action: ControlAction::Inspect,
            note: Some("H986".into()),
            valid_until: None,
        }],
    }
}

fn sorted_keys(u: &Upserts) -> Vec<String> {
    let mut v: Vec<String> = u
        .gate_passes
        .iter()
        .map(|p| format!("p:{}", p.pass_no))
        .chain(u.vehicles.iter().map(|x| format!("v:{}", x.plate)))
        .chain(u.enterprises.iter().map(|x| format!("e:{}", x.id)))
        .chain(u.controls.iter().map(|x| format!("c:{}", x.id)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sub_sees_signed_whitelist_sync_answers_and_commands() {
    let (_mosq, port) = start_mosquitto();
    let (_sub, mut rx) = start_sub(port, &[WL_TOPIC, CMD_TOPIC]);

    let fixture = Fixture::with_records(SITE, 7, records()).expect("fixture");
    let mut cfg = PlatformConfig::new(
        BrokerAddr::new("127.0.0.1", port),
        SITE,
        PlatformKey::test_key(),
    );
    cfg.records_per_chunk = 2;
    let platform = Platform::start_with(cfg, fixture.clone())
        .await
        .expect("platform on mosquitto");

    // On start: a snapshot of version 7 in ceil(5 / 2) = 3 chunks holding
    // exactly the fixture's records.
    let snap = snapshot(&mut rx, 7).await;
    assert_eq!(sorted_keys(&snap), sorted_keys(&records()));
    assert_eq!(snap, records(), "records survive the trip unchanged");

    // A delta: 7 -> 8.
    let delta = Delta {
        upserts: Upserts {
            controls: vec![Control {
                id: "RC-0002".into(),
                target_kind: TargetKind::PassNo,
                target: "HK2025120100137".into(),
                action: ControlAction::Hold,
                note: None,
                valid_until: None,
            }],
            ..Upserts::default()
        },
        deletes: Deletes {
            controls: vec!["RC-0001".into()],
            ..Deletes::default()
        },
    };
    platform.publish_delta(delta.clone()).await.expect("delta");
    let d = next_batch(&mut rx).await;
    assert_eq!(
        (d.kind, d.from_version, d.version),
        (BatchKind::Delta, Some(7), 8)
    );
    assert_eq!(
        (d.upserts.clone(), d.deletes.clone()),
        (delta.upserts, delta.deletes)
    );

    // A lane at 7 asks: it gets the delta after 7.
    mosquitto_pub(port, "gate/v1/HK-XINHAI/L03/sync", r#"{"have_version": 7}"#);
    let again = next_batch(&mut rx).await;
    assert_eq!(again, d);

    // A lane with nothing asks: a snapshot of version 8.
    mosquitto_pub(port, "gate/v1/HK-XINHAI/L04/sync", r#"{"have_version": 0}"#);
    let snap8 = snapshot(&mut rx, 8).await;
    assert_eq!(snap8.controls.len(), 1);
    assert_eq!(snap8.controls[0].id, "RC-0002");

    // A signed command.
    let sent = platform
        .send_command(
            CommandRequest::new("L03", CommandKind::Raise)
                .officer("HK0231")
                .note("manual check at the arm"),
        )
        .await
        .expect("command");
    let (topic, body) = next_signed(&mut rx).await;
    assert_eq!(topic, CMD_TOPIC);
    let cmd: gate_proto::messages::Command = serde_json::from_str(&body).expect("command body");
    assert_eq!(cmd, sent);
    cmd.validate().expect("valid command");
    let issued = gate_proto::time::parse_unix_ms(&cmd.issued_at).expect("issued_at");
    let expires = gate_proto::time::parse_unix_ms(&cmd.expires_at).expect("expires_at");
    assert_eq!(expires - issued, 60_000);

    // A truck goes through on single-use pass HK2025120100137: the platform marks it
    // used (8 -> 9), once, however often the event is delivered.
    let event = serde_json::json!({
        "schema": "gate.event/1", "event_id": "01JEVPASS137", "seq": 41,
        "site": SITE, "lane": "L03", "direction": "exit",
        "arrived_at": "2025-12-18T02:00:00.000Z", "decided_at": "2025-12-18T02:00:05.000Z",
        "finished_at": "2025-12-18T02:00:40.000Z",
        "vehicle": {"plate": "琼A53821", "plate_colour": "yellow", "plate_confidence": 0.97, "etag": null},
        "trailer": null, "containers": [], "eseal": null, "weight": null,
        "gate_pass": "HK2025120100137",
        "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null,
                     "offline": false, "whitelist_version": 8},
        "outcome": "passed", "photos": []
    })
    .to_string();
    mosquitto_pub(port, "gate/v1/HK-XINHAI/L03/event", &event);
    mosquitto_pub(port, "gate/v1/HK-XINHAI/L03/event", &event);
    let used = next_batch(&mut rx).await;
    assert_eq!(
        (used.kind, used.from_version, used.version),
        (BatchKind::Delta, Some(8), 9)
    );
    assert_eq!(used.upserts.gate_passes.len(), 1);
    assert_eq!(used.upserts.gate_passes[0].pass_no, "HK2025120100137");
    assert_eq!(used.upserts.gate_passes[0].status, PassStatus::Used);

    // A lane that is current gets nothing; nothing else was sent either.
    mosquitto_pub(port, "gate/v1/HK-XINHAI/L03/sync", r#"{"have_version": 9}"#);
    let quiet = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(quiet.is_err(), "unexpected message: {quiet:?}");

    let r = platform.report();
    let syncs: Vec<(String, u64)> = r
        .sync_requests
        .iter()
        .map(|s| (s.lane.clone(), s.have_version))
        .collect();
    assert_eq!(
        syncs,
        vec![("L03".into(), 7), ("L04".into(), 0), ("L03".into(), 9)]
    );
    assert_eq!(r.whitelist_version, 9);
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.commands_without_reply, vec![sent.id]);
    platform.shutdown().await;
}
