//! Issue 3: the simulated platform collects what a lane publishes and checks
//! it against the contract. A plain rumqttc client plays the lane against the
//! embedded broker: a valid event, a duplicate, a seq gap, a conflicting
//! duplicate, a schema-invalid event, photos (good and bad), a retained
//! status, an alarm and a command reply.

use std::time::Duration;

use gate_proto::messages::{CommandKind, Outcome};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sim::broker::EmbeddedBroker;
use sim::fixture::Fixture;
use sim::platform::{CommandRequest, Platform, PlatformConfig, PlatformKey};

const SITE: &str = "HK-XINHAI";
const LANE: &str = "L03";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn event(id: &str, seq: u64, photo: &[u8]) -> Value {
    json!({
        "schema": "gate.event/1", "event_id": id, "seq": seq,
        "site": SITE, "lane": LANE, "direction": "exit",
        "arrived_at": "2026-11-27T10:00:00.000Z",
        "decided_at": "2026-11-27T10:00:04.200Z",
        "finished_at": "2026-11-27T10:00:31.000Z",
        "vehicle": {"plate": "琼A53821", "plate_colour": "yellow", "plate_confidence": 0.97,
                    "etag": "E2801160600002094A7F3C21"},
        "trailer": {"plate": "琼A0736挂", "etag": null},
        "containers": [{"number": "CSQU3054383", "position": "front", "check_digit_ok": true, "confidence": 0.96}],
        "eseal": {"id": "HKES2025000137", "intact": true},
        "weight": {"gross_kg": 33560.0, "stable": true},
        "gate_pass": "HK2025120100137",
        "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null,
                     "offline": false, "whitelist_version": 1},
        "outcome": "passed",
        "photos": [{"camera": "plate_front", "sha256": hex(&Sha256::digest(photo)), "bytes": photo.len()}]
    })
}

/// A lane stand-in: a rumqttc client whose event loop runs in a task and
/// forwards received publishes.
async fn lane_client(
    addr: std::net::SocketAddr,
) -> (AsyncClient, tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    let mut o = MqttOptions::new("gate-HK-XINHAI-L03", addr.ip().to_string(), addr.port());
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (c, mut el) = AsyncClient::new(o, 64);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec())).await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    (c, rx)
}

async fn publish(c: &AsyncClient, topic: &str, payload: Vec<u8>, retain: bool) {
    c.publish(topic, QoS::AtLeastOnce, retain, payload)
        .await
        .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_collects_dedups_and_reports_gaps_and_schema_errors() {
    let broker = EmbeddedBroker::start(None).expect("embedded broker");
    let fixture = Fixture::new(SITE, 1).expect("fixture");
    let mut cfg = PlatformConfig::new(broker.broker_addr(), SITE, PlatformKey::test_key());
    cfg.expect_first_seq = Some(1);
    let platform = Platform::start_with(cfg, fixture)
        .await
        .expect("platform starts");

    let (lane, mut inbox) = lane_client(broker.addr()).await;
    lane.subscribe(format!("gate/v1/{SITE}/{LANE}/command"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let ev_topic = format!("gate/v1/{SITE}/{LANE}/event");
    let jpeg: &[u8] = b"\xff\xd8\xff\xe0 simulated plate photo \xff\xd9";

    publish(
        &lane,
        &format!("gate/v1/{SITE}/{LANE}/status"),
        br#"{"state":"online","whitelist_version":1}"#.to_vec(),
        true,
    )
    .await;
    publish(
        &lane,
        &format!("gate/v1/{SITE}/{LANE}/photo/01JEV1/plate_front"),
        jpeg.to_vec(),
        false,
    )
    .await;
    let e1 = serde_json::to_vec(&event("01JEV1", 1, jpeg)).expect("json");
    publish(&lane, &ev_topic, e1.clone(), false).await;
    // At-least-once: the same event again.
    publish(&lane, &ev_topic, e1, false).await;
    // seq 2 never comes; seq 3 does, with a photo whose bytes do not match.
    publish(
        &lane,
        &format!("gate/v1/{SITE}/{LANE}/photo/01JEV3/plate_front"),
        b"truncated".to_vec(),
        false,
    )
    .await;
    publish(
        &lane,
        &ev_topic,
        serde_json::to_vec(&event("01JEV3", 3, jpeg)).expect("json"),
        false,
    )
    .await;
    // Same id as E1 with another outcome: a conflicting duplicate.
    let mut conflicting = event("01JEV1", 1, jpeg);
    conflicting["outcome"] = json!("held");
    publish(
        &lane,
        &ev_topic,
        serde_json::to_vec(&conflicting).expect("json"),
        false,
    )
    .await;
    // Schema-invalid: no `decision`.
    let mut invalid = event("01JEV4", 4, jpeg);
    invalid.as_object_mut().expect("object").remove("decision");
    publish(
        &lane,
        &ev_topic,
        serde_json::to_vec(&invalid).expect("json"),
        false,
    )
    .await;
    publish(
        &lane,
        &format!("gate/v1/{SITE}/{LANE}/alarm"),
        serde_json::to_vec(
            &json!({"alarm_id": "A1", "kind": "tailgating", "severity": "warning",
            "at": "2026-11-27T10:00:20.000Z", "detail": "second vehicle under the arm"}),
        )
        .expect("json"),
        false,
    )
    .await;

    // Events arrive in order on one connection: once the invalid one is
    // recorded everything before it is in.
    let done = platform
        .wait_until(Duration::from_secs(10), |c| {
            (c.report(1).schema_errors.len() == 1 && !c.alarms().is_empty()).then_some(())
        })
        .await;
    assert!(
        done.is_some(),
        "platform did not collect everything: {:#?}",
        platform.report()
    );

    let ev = platform
        .wait_for_event(|e| e.seq == 3, Duration::from_secs(1))
        .await
        .expect("event seq 3");
    assert_eq!(ev.event_id, "01JEV3");
    assert_eq!(ev.outcome, Outcome::Passed);

    let r = platform.report();
    assert_eq!(r.events.len(), 2, "{:#?}", r.events);
    assert_eq!(platform.events().len(), 2);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.duplicate_events[0].event_id, "01JEV1");
    assert_eq!(r.gaps.len(), 1);
    assert_eq!((r.gaps[0].from, r.gaps[0].to), (2, 2));
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(r.conflicts[0].event_id, "01JEV1");
    assert_eq!(r.schema_errors.len(), 1);
    assert!(
        r.schema_errors[0]
            .errors
            .iter()
            .any(|e| e.contains("`decision`")),
        "{:?}",
        r.schema_errors
    );
    assert_eq!(r.photos_ok, 1);
    assert_eq!(r.photos_bad.len(), 1);
    assert_eq!(r.photos_bad[0].event_id, "01JEV3");
    assert_eq!(r.alarms.len(), 1);
    assert_eq!(r.status[LANE].whitelist_version, Some(1));
    assert!(!r.is_clean());

    // A command gets exactly one reply; the lane answers on .../reply.
    let cmd = platform
        .send_command(CommandRequest::new(LANE, CommandKind::Lower))
        .await
        .expect("command");
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
        .await
        .expect("command received in time")
        .expect("command");
    assert_eq!(topic, format!("gate/v1/{SITE}/{LANE}/command"));
    let body = PlatformKey::test_key()
        .keyring()
        .open(&payload)
        .expect("signed by the platform key");
    let got: gate_proto::messages::Command = serde_json::from_str(&body).expect("command body");
    assert_eq!(got, cmd);
    assert_eq!(
        platform.report().commands_without_reply,
        vec![cmd.id.clone()]
    );
    let reply = json!({"command_id": cmd.id, "ok": true, "detail": "lowered"});
    publish(
        &lane,
        &format!("gate/v1/{SITE}/{LANE}/reply"),
        serde_json::to_vec(&reply).expect("json"),
        false,
    )
    .await;
    let rep = platform
        .wait_for_reply(&cmd.id, Duration::from_secs(5))
        .await
        .expect("reply");
    assert!(rep.ok);
    let r = platform.report();
    assert!(r.commands_without_reply.is_empty());
    assert!(r.extra_replies.is_empty());
    platform.shutdown().await;
}

/// The embedded broker carries payloads of >= 16 MiB (photos, big snapshot
/// chunks) between two ordinary clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_carries_16_mib() {
    let broker = EmbeddedBroker::start(None).expect("embedded broker");
    let big = 17 * 1024 * 1024;
    let mut o = MqttOptions::new("sub", "127.0.0.1", broker.addr().port());
    o.set_max_packet_size(big + 1024, big + 1024);
    let (sub, mut sel) = AsyncClient::new(o, 16);
    let mut o = MqttOptions::new("pub", "127.0.0.1", broker.addr().port());
    o.set_max_packet_size(big + 1024, big + 1024);
    let (publ, mut pel) = AsyncClient::new(o, 16);
    tokio::spawn(async move { while pel.poll().await.is_ok() {} });
    sub.subscribe("big/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let got = tokio::time::timeout(Duration::from_secs(30), async move {
        let mut published = false;
        loop {
            match sel.poll().await.expect("subscriber connection") {
                Event::Incoming(Packet::SubAck(_)) if !published => {
                    published = true;
                    let payload: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
                    publ.publish("big/photo", QoS::AtLeastOnce, false, payload)
                        .await
                        .expect("publish");
                }
                Event::Incoming(Packet::Publish(p)) => return p.payload.to_vec(),
                _ => {}
            }
        }
    })
    .await
    .expect("17 MiB message delivered within 30 s");
    assert_eq!(got.len(), big);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}
