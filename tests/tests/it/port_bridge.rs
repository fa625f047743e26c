//! Issue 21: a port with real parts. A port broker and a central broker,
//! both Mosquitto, run the configuration shipped in `config/mosquitto/`
//! (port-bridge.conf, central.conf) with only what a test machine needs
//! changed: loopback ports, a temporary persistence directory, a log file,
//! anonymous plain MQTT instead of TLS with client certificates (the TLS
//! lines are dropped; docs/deployment.md shows them in use), and the
//! bridge's `address` pointed at a relay in front of the central broker,
//! the uplink this test cuts.
//!
//! Five lanes (`--lanes 5`): each agent talks to the port broker, the
//! simulated platform subscribes at the central broker, everything between
//! them goes through the bridge (whitelist snapshot down, sync requests,
//! status, photos and events up). Once every lane's first truck has
//! reached the centre the uplink is cut for one lane-minute while trucks
//! keep passing, then restored. The test fails when a truck's event does
//! not reach the centre or differs from the scenario, when the platform
//! sees a seq gap, a conflicting copy or a schema error, when a lane's
//! events reach the centre out of order, or when no event was held back
//! by the cut (the outage must matter). Copies of an event are allowed
//! (delivery is at-least-once, platform.md, Lane event): they are counted,
//! printed and must carry the same event (no conflict). The time from
//! the restoration to the last held-back event at the centre is printed.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sim::bridge::BridgedPort;
use sim::broker::BrokerAddr;
use sim::runner::{self, RunOptions};
use sim::scenario::Scenario;

const SITE: &str = "HK-XINHAI";
const LANES: usize = 5;
/// Lane time scale of the run; the outage is one lane-minute.
const SCALE: f64 = 5.0;
const OUTAGE_LANE_S: f64 = 60.0;

/// Six released trucks per lane, one every 20 lane seconds, camera-side
/// recognition (the cameras' own reads, as ANPR cameras give).
const SCENARIO: &str = r#"
[scenario]
name = "port-bridge"
seed = 21

[lane]
site = "HK-XINHAI"
lane = "P"
direction = "exit"
time_scale = 5.0
recognition = "camera"
weighbridge = { profile = "wb-f32-cdab" }

[platform]
expect_first_seq = 1

[whitelist]
version = 2100

[[whitelist.enterprises]]
id = "91460100MA5RCK7Q2N"
name = "海南椰风国际贸易有限公司"
credit = "aeo"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000801"
plate = "琼A11P28"
etag = "E2801160600002154017CDF8"
trailer_plate = "琼A1128挂"
containers = ["PONU5993702"]
declared_total_kg = 40300
enterprise = "91460100MA5RCK7Q2N"
goods_category = "zero_tariff"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000806"
plate = "琼A22Q39"
etag = "E280116060000213FD989E60"
trailer_plate = "琼A2239挂"
containers = ["TLLU6849959"]
declared_total_kg = 41800
enterprise = "91460100MA5RCK7Q2N"
goods_category = "zero_tariff"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000811"
plate = "琼B33R40"
etag = "E28011606000021F21040236"
trailer_plate = "琼B3340挂"
containers = ["UETU7410293"]
declared_total_kg = 39200
enterprise = "91460100MA5RCK7Q2N"
goods_category = "relaxed"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000815"
plate = "琼A44S51"
etag = "E280116060000212D53C9EFC"
trailer_plate = "琼A4451挂"
containers = ["APHU3493627"]
declared_total_kg = 42500
enterprise = "91460100MA5RCK7Q2N"
goods_category = "relaxed"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000822"
plate = "琼A55T62"
etag = "E280116060000216D892AA68"
trailer_plate = "琼A5562挂"
containers = ["BSIU2525377"]
declared_total_kg = 38600
enterprise = "91460100MA5RCK7Q2N"
goods_category = "relaxed"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKIS251218000001"
plate = "琼A10B27"
etag = "E28011606000021080F56C5A"
trailer_plate = "琼A1027挂"
containers = ["CSLU9379330"]
declared_total_kg = 41100
enterprise = "91460100MA5RCK7Q2N"
goods_category = "zero_tariff"
uses = "multi"
valid_from = "-1d"
valid_until = "+1d"

[[trucks]]
at_s = 5
plate = "琼A11P28"
etag = "E2801160600002154017CDF8"
tare_kg = 8700
trailer = { plate = "琼A1128挂", tare_kg = 6500 }
containers = [{ number = "PONU5993702", size_type = "45G1", position = "front" }]
cargo_kg = 21200
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }

[[trucks]]
at_s = 25
plate = "琼A22Q39"
etag = "E280116060000213FD989E60"
tare_kg = 8800
trailer = { plate = "琼A2239挂", tare_kg = 6600 }
containers = [{ number = "TLLU6849959", size_type = "45G1", position = "front" }]
cargo_kg = 22500
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }

[[trucks]]
at_s = 45
plate = "琼B33R40"
etag = "E28011606000021F21040236"
tare_kg = 8650
trailer = { plate = "琼B3340挂", tare_kg = 6450 }
containers = [{ number = "UETU7410293", size_type = "45G1", position = "front" }]
cargo_kg = 20350
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }

[[trucks]]
at_s = 65
plate = "琼A44S51"
etag = "E280116060000212D53C9EFC"
tare_kg = 8750
trailer = { plate = "琼A4451挂", tare_kg = 6550 }
containers = [{ number = "APHU3493627", size_type = "45G1", position = "front" }]
cargo_kg = 23400
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }

[[trucks]]
at_s = 85
plate = "琼A55T62"
etag = "E280116060000216D892AA68"
tare_kg = 8600
trailer = { plate = "琼A5562挂", tare_kg = 6400 }
containers = [{ number = "BSIU2525377", size_type = "45G1", position = "front" }]
cargo_kg = 19800
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }

[[trucks]]
at_s = 105
plate = "琼A10B27"
etag = "E28011606000021080F56C5A"
tare_kg = 8700
trailer = { plate = "琼A1027挂", tare_kg = 6500 }
containers = [{ number = "CSLU9379330", size_type = "45G1", position = "front" }]
cargo_kg = 22000
expect = { decision = "release", reasons = ["R00"], outcome = "passed" }
"#;

/// An event as the centre saw it, in arrival order.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    lane: String,
    event_id: String,
    seq: u64,
    finished_at_ms: i64,
}

#[derive(Default)]
struct Centre {
    events: Vec<Seen>,
    /// Bridge state notifications ("1" connected, "0" gone), with when.
    bridge: Vec<(Instant, String)>,
}

/// An independent subscriber at the central broker: every lane event of
/// the site (QoS 1) and the bridge's state, with their arrival times.
fn observe(central: &BrokerAddr, centre: Arc<Mutex<Centre>>) -> tokio::task::JoinHandle<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut o = MqttOptions::new("test-centre-observer", central.host.clone(), central.port);
    o.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(64 << 20, 64 << 10);
    let (client, mut ev) = AsyncClient::new(o, 16);
    tokio::spawn(async move {
        let _keep = client.clone();
        client
            .subscribe_many([
                rumqttc::SubscribeFilter::new(format!("gate/v1/{SITE}/+/event"), QoS::AtLeastOnce),
                rumqttc::SubscribeFilter::new(
                    format!("$SYS/broker/connection/bridge-{SITE}/state"),
                    QoS::AtLeastOnce,
                ),
            ])
            .await
            .expect("subscribe");
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now = Instant::now();
                    let mut c = centre.lock().expect("centre");
                    if p.topic.starts_with("$SYS") {
                        c.bridge
                            .push((now, String::from_utf8_lossy(&p.payload).into_owned()));
                        continue;
                    }
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).expect("an event is JSON");
                    c.events.push(Seen {
                        at: now,
                        lane: v["lane"].as_str().unwrap_or_default().to_owned(),
                        event_id: v["event_id"].as_str().unwrap_or_default().to_owned(),
                        seq: v["seq"].as_u64().unwrap_or(0),
                        finished_at_ms: v["finished_at"]
                            .as_str()
                            .and_then(gate_proto::time::parse_unix_ms)
                            .unwrap_or(0),
                    });
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// This suite's tests (see main.rs); five agents load the CPU.
pub const TESTS: &[crate::Test] = &[(
    "port_bridge::five_lanes_through_the_bridge_survive_a_cut_uplink",
    || crate::cpu_heavy(five_lanes_through_the_bridge_survive_a_cut_uplink),
)];

fn five_lanes_through_the_bridge_survive_a_cut_uplink() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = Scenario::parse(SCENARIO, "port-bridge.toml").expect("scenario");
    assert_eq!(s.lane.time_scale, SCALE);
    let dir = std::env::temp_dir().join(format!("gate-port-bridge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The shipped files made runnable on loopback, the bridge through the
    // uplink relay this test cuts (sim::bridge).
    let ports = BridgedPort::start(&dir).expect("the port and central brokers");
    let (central_addr, port_addr, uplink) = (&ports.central, &ports.port, &ports.uplink);

    let centre = Arc::new(Mutex::new(Centre::default()));
    let outcome = rt.block_on(async {
        let observer = observe(central_addr, centre.clone());
        // The bridge up before the lanes start (their first sync goes
        // through it).
        let t0 = Instant::now();
        while centre
            .lock()
            .expect("centre")
            .bridge
            .last()
            .is_none_or(|(_, s)| s != "1")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the bridge did not connect: {}",
                ports.port_broker.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let opts = RunOptions {
            broker: Some(port_addr.clone()),
            platform_broker: Some(central_addr.clone()),
            ..RunOptions::new()
        };
        let outage = Duration::from_secs_f64(OUTAGE_LANE_S / SCALE);
        // Cut the uplink once every lane's first event is at the centre;
        // restore it one lane-minute later.
        let cutter = async {
            loop {
                let lanes: BTreeSet<String> = centre
                    .lock()
                    .expect("centre")
                    .events
                    .iter()
                    .map(|e| e.lane.clone())
                    .collect();
                if lanes.len() >= LANES {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            uplink.set_down(true);
            let cut = (Instant::now(), SystemTime::now());
            tokio::time::sleep(outage).await;
            uplink.set_down(false);
            (cut, (Instant::now(), SystemTime::now()))
        };
        let limit = Duration::from_secs(240);
        let (reports, window) = tokio::time::timeout(limit, async {
            tokio::join!(runner::run(&s, &opts, LANES), cutter)
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the run did not finish within {} s; port broker log:\n{}",
                limit.as_secs(),
                ports.port_broker.logs()
            )
        });
        // Late copies (a resend after the reconnect) still count.
        tokio::time::sleep(Duration::from_millis(500)).await;
        observer.abort();
        (reports, window)
    });
    let (reports, ((cut_at, cut_wall), (restored_at, restored_wall))) = outcome;
    let reports = reports.unwrap_or_else(|e| {
        panic!(
            "run failed: {e:#}\nport broker log:\n{}",
            ports.port_broker.logs()
        )
    });
    let c = centre.lock().expect("centre");

    // The platform's collector: every truck as the scenario expects, one
    // event each after de-duplication by event id, no gap, no conflicting
    // copy, no schema error, its photos complete.
    assert_eq!(reports.len(), LANES);
    let mut platform_copies = 0;
    for r in &reports {
        let bad: Vec<_> = r.trucks.iter().filter(|t| !t.ok).collect();
        assert!(
            bad.is_empty(),
            "{}: trucks not as expected: {bad:?}",
            r.lane
        );
        assert_eq!(
            r.platform.events.len(),
            s.trucks.len(),
            "{}: one event per truck at the centre",
            r.lane
        );
        let ids: BTreeSet<_> = r.platform.events.iter().map(|e| &e.event_id).collect();
        assert_eq!(ids.len(), s.trucks.len(), "{}: distinct event ids", r.lane);
        assert!(
            r.platform.gaps.is_empty(),
            "{}: {:?}",
            r.lane,
            r.platform.gaps
        );
        let own = |l: &str| l == r.lane;
        let conflicts: Vec<_> = r
            .platform
            .conflicts
            .iter()
            .filter(|c| own(&c.lane))
            .collect();
        assert!(conflicts.is_empty(), "{}: {conflicts:?}", r.lane);
        let schema: Vec<_> = r
            .platform
            .schema_errors
            .iter()
            .filter(|e| e.lane.as_deref().is_some_and(own))
            .collect();
        assert!(schema.is_empty(), "{}: {schema:?}", r.lane);
        let photos: Vec<_> = r
            .platform
            .photos_bad
            .iter()
            .chain(&r.platform.photos_missing)
            .filter(|p| own(&p.lane))
            .collect();
        assert!(photos.is_empty(), "{}: {photos:?}", r.lane);
        assert!(r.violations.is_empty(), "{}: {:?}", r.lane, r.violations);
        // Order kept per lane: seq increasing in the order first received.
        let seqs: Vec<u64> = r.platform.events.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{}: events reached the platform out of order: {seqs:?}",
            r.lane
        );
        platform_copies += r
            .platform
            .duplicate_events
            .iter()
            .filter(|d| own(&d.lane))
            .map(|d| d.extra_copies)
            .sum::<u64>();
    }

    // The independent observer at the centre: the same events, in order
    // per lane (first copies), and copies counted.
    let mut first: BTreeMap<String, &Seen> = BTreeMap::new();
    let mut copies = 0u64;
    for e in &c.events {
        if first.contains_key(&e.event_id) {
            copies += 1;
        } else {
            first.insert(e.event_id.clone(), e);
        }
    }
    assert_eq!(
        first.len(),
        LANES * s.trucks.len(),
        "distinct events seen at the centre"
    );
    let mut per_lane: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for e in &c.events {
        if std::ptr::eq(first[&e.event_id], e) {
            per_lane.entry(e.lane.as_str()).or_default().push(e);
        }
    }
    for (lane, evs) in &per_lane {
        let seqs: Vec<u64> = evs.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{lane}: first copies out of order at the centre: {seqs:?}"
        );
    }

    // The cut mattered: on every lane at least one truck finished while the
    // uplink was down, and its event reached the centre only after it
    // came back.
    let (cut_ms, restored_ms) = (unix_ms(cut_wall), unix_ms(restored_wall));
    let held: Vec<&&Seen> = first
        .values()
        .filter(|e| e.finished_at_ms >= cut_ms && e.finished_at_ms < restored_ms)
        .collect();
    for lane in per_lane.keys() {
        assert!(
            held.iter().any(|e| e.lane == *lane),
            "{lane}: no truck finished during the outage (it did not test the queue)"
        );
    }
    let early: Vec<_> = held
        .iter()
        .filter(|e| e.at < restored_at)
        .map(|e| (&e.lane, e.seq))
        .collect();
    assert!(
        early.is_empty(),
        "events reached the centre while the uplink was cut (was it?): {early:?}"
    );
    let drained = held
        .iter()
        .map(|e| e.at)
        .max()
        .expect("held events")
        .duration_since(restored_at);
    let reconnected = c
        .bridge
        .iter()
        .find(|(t, s)| *t > restored_at && s == "1")
        .map(|(t, _)| t.duration_since(restored_at));
    println!(
        "port bridge: {LANES} lanes x {} trucks; uplink cut {:.1} s real ({OUTAGE_LANE_S:.0} lane-s at x{SCALE}) once every lane's first event was in; {} events held back at the port broker, all at the centre {:.2} s after the uplink returned (bridge reconnected after {}); copies: {copies} seen at the centre, {platform_copies} counted by the platform (de-duplicated by event id)",
        s.trucks.len(),
        restored_at.duration_since(cut_at).as_secs_f64(),
        held.len(),
        drained.as_secs_f64(),
        reconnected.map_or_else(|| "?".into(), |d| format!("{:.2} s", d.as_secs_f64())),
    );
    drop(c);
    drop(ports);
    let _ = std::fs::remove_dir_all(&dir);
}
