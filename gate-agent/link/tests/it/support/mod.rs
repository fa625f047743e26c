//! Test support: a real mosquitto on a free port (killable, restartable), an
//! MQTT collector, a platform publisher, signing helpers and sample events.
#![allow(dead_code, clippy::unwrap_used)]

pub mod sqlite_outbox;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use gate_proto::messages::{
    ContainerPosition, ContainerRead, DecidedBy, DecisionResult, Direction, EsealRead,
    EventDecision, LaneEvent, Outcome, PhotoRef, PlateColour, Reason, VehicleIds, WeightRead,
    EVENT_SCHEMA,
};
use gate_proto::sign::Keyring;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

pub const SITE: &str = "HK-XINHAI";
pub const LANE: &str = "L03";
pub const KID: &str = "platform-1";

/// Fail clearly when a tool the test needs is missing (CI installs it).
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: this test needs it (apt-get install mosquitto mosquitto-clients)"
    );
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A mosquitto broker in a temp dir, with persistence (saved every second).
pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    extra: String,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        Self::start_with(dir, free_port(), "")
    }

    /// `extra` is appended to the configuration, after the plain listener
    /// on `port` (e.g. a TLS listener).
    pub fn start_with(dir: &Path, port: u16, extra: &str) -> Broker {
        require_tool("mosquitto");
        let mut b = Broker {
            port,
            dir: dir.to_owned(),
            child: None,
            extra: extra.to_owned(),
        };
        b.restart();
        b
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                // `user root`: when the tests run as root, mosquitto would
                // otherwise drop to its own user and could not write its
                // database or log in the (root-owned) temp dir.
                "user root\nallow_anonymous true\n\
                 persistence true\npersistence_location {dir}/\nautosave_interval 1\n\
                 max_queued_messages 1000000\nmax_inflight_messages 0\nset_tcp_nodelay true\n\
                 log_dest file {dir}/mosquitto.log\nlistener {port} 127.0.0.1\n{extra}\n",
                port = self.port,
                extra = self.extra,
                dir = self.dir.display()
            ),
        )
        .expect("write mosquitto.conf");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on {} (see {}/mosquitto.log)",
                self.port,
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the broker loses what it had not saved.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Messages received by a collector: (topic, payload, retained).
pub type Inbox = Arc<Mutex<Vec<(String, Vec<u8>, bool)>>>;

/// An MQTT subscriber (persistent session unless `clean`) that keeps every
/// message it receives, reconnecting quickly forever.
pub struct Collector {
    pub inbox: Inbox,
    pub connected: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub fn spawn(port: u16, client_id: &str, filters: &[&str], clean: bool) -> Collector {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_clean_session(clean)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(64 << 20, 64 << 20);
        let filters: Vec<String> = filters.iter().map(|s| (*s).to_owned()).collect();
        let inbox: Inbox = Arc::default();
        let connected = Arc::new(Mutex::new(false));
        let (inb, conn) = (inbox.clone(), connected.clone());
        let task = tokio::spawn(async move {
            // One event loop for ever: after an error it reconnects on the
            // next poll, and packets it had already read before the error
            // are still delivered (a new event loop would lose them).
            let (client, mut el) = AsyncClient::new(o, 1024);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for f in &filters {
                            let _ = client.try_subscribe(f.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        *conn.lock().unwrap() = true;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        inb.lock()
                            .unwrap()
                            .push((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        *conn.lock().unwrap() = false;
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                }
            }
        });
        Collector {
            inbox,
            connected,
            task,
        }
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.lock().unwrap()
    }

    /// Payloads received on `topic`, parsed as JSON.
    pub fn json_on(&self, topic: &str) -> Vec<Value> {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == topic)
            .map(|(_, p, _)| serde_json::from_slice(p).expect("JSON payload"))
            .collect()
    }

    pub fn count_on(&self, topic: &str) -> usize {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == topic)
            .count()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Poll `f` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain MQTT client standing in for the platform (or an attacker).
pub struct Publisher {
    pub client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    pub async fn connect(port: u16, id: &str) -> Publisher {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_max_packet_size(64 << 20, 64 << 20);
        let (client, mut el) = AsyncClient::new(o, 256);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("publisher connects")
            .expect("connack");
        Publisher { client, task }
    }

    pub async fn send(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn platform_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

pub fn keyring() -> Keyring {
    let mut k = Keyring::new();
    k.insert(KID, platform_key().verifying_key());
    k
}

/// A signed envelope of `body`.
pub fn signed(body: &Value, kid: &str, key: &SigningKey) -> Vec<u8> {
    let env = gate_proto::sign::sign(&body.to_string(), kid, key);
    serde_json::to_vec(&env).expect("envelope")
}

pub fn now_ms() -> i64 {
    gate_proto::time::now_unix_ms()
}

pub fn ts(ms: i64) -> String {
    gate_proto::time::format_unix_ms(ms)
}

/// A command body valid for the next minute.
pub fn command_body(id: &str, kind: &str) -> Value {
    let now = now_ms();
    json!({
        "schema": "gate.command/1", "id": id, "site": SITE, "lane": LANE,
        "issued_at": ts(now - 1_000), "expires_at": ts(now + 60_000),
        "kind": kind, "officer": "O-17", "note": "checked by hand"
    })
}

pub fn delta_body(from: u64, to: u64) -> Value {
    json!({
        "schema": "gate.whitelist/1", "site": SITE, "kind": "delta",
        "from_version": from, "version": to, "chunk": {"index": 0, "count": 1},
        "issued_at": ts(now_ms()),
        "upserts": {"vehicles": [{"plate": "琼A12345", "plate_colour": "yellow", "etag": null, "tare_kg": 15000.0, "enterprise": "E1"}]},
        "deletes": {}
    })
}

pub fn snapshot_body(version: u64, index: u32, count: u32) -> Value {
    json!({
        "schema": "gate.whitelist/1", "site": SITE, "kind": "snapshot",
        "version": version, "chunk": {"index": index, "count": count},
        "issued_at": ts(now_ms()), "upserts": {}, "deletes": {}
    })
}

/// A realistic lane event (about 1 KB of JSON).
pub fn event_payload(seq: u64) -> Vec<u8> {
    let at = ts(1_795_000_000_000 + seq as i64 * 1000);
    let ev = LaneEvent {
        schema: EVENT_SCHEMA.into(),
        event_id: format!("01JEVENT{seq:018}"),
        seq,
        site: SITE.into(),
        lane: LANE.into(),
        direction: Direction::Exit,
        arrived_at: at.clone(),
        decided_at: at.clone(),
        finished_at: at,
        vehicle: Some(VehicleIds {
            plate: Some("琼A12345".into()),
            plate_colour: Some(PlateColour::Yellow),
            plate_confidence: Some(0.98),
            etag: Some("E2801160600002084B0C1D2E".into()),
        }),
        trailer: None,
        containers: vec![ContainerRead {
            number: "CSQU3054383".into(),
            position: ContainerPosition::Front,
            check_digit_ok: true,
            confidence: 0.97,
        }],
        eseal: Some(EsealRead {
            id: "ES-0001".into(),
            intact: true,
        }),
        weight: Some(WeightRead {
            gross_kg: 31_240.0,
            stable: true,
        }),
        gate_pass: Some("HP2026000123".into()),
        decision: EventDecision {
            result: DecisionResult::Release,
            reasons: vec![Reason::R00],
            by: DecidedBy::Local,
            officer: None,
            offline: false,
            whitelist_version: 12,
        },
        outcome: Outcome::Passed,
        photos: (0..4)
            .map(|i| PhotoRef {
                camera: format!("cam{i}"),
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
                bytes: 180_000,
            })
            .collect(),
        clock_synced: true,
        led_text: None,
        note: None,
        officer_entry: None,
    };
    serde_json::to_vec(&ev).expect("event JSON")
}

/// Check a set of received event payloads: returns (distinct seqs, duplicates).
/// Panics if two payloads share an event_id but differ in seq.
pub fn dedup_events(payloads: &[Value]) -> (std::collections::BTreeSet<u64>, usize) {
    let mut by_id = std::collections::HashMap::new();
    let mut dups = 0;
    for p in payloads {
        let id = p["event_id"].as_str().expect("event_id").to_owned();
        let seq = p["seq"].as_u64().expect("seq");
        if let Some(prev) = by_id.insert(id, seq) {
            assert_eq!(prev, seq, "one event_id, two seqs");
            dups += 1;
        }
    }
    (by_id.into_values().collect(), dups)
}

/// First-arrival order of seqs must be increasing (no reordering).
pub fn assert_first_arrivals_in_order(payloads: &[Value]) {
    let mut seen = std::collections::HashSet::new();
    let mut last = 0u64;
    for p in payloads {
        let seq = p["seq"].as_u64().expect("seq");
        if seen.insert(seq) {
            assert!(
                seq > last,
                "seq {seq} arrived first after {last}: reordered"
            );
            last = seq;
        }
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
