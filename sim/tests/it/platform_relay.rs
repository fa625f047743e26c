//! Issue 3: the `broker_down` fault as the runner plays it. A lane (a plain
//! rumqttc client with a persistent session, as the contract asks) connects
//! through a `BrokerRelay`; the platform connects to the embedded broker
//! directly. While the relay is down the lane publishes an event and the
//! platform sends a command; after it comes back both arrive: the event at
//! the platform (queued by the client), the command at the lane (queued by
//! the broker for the persistent session).

use std::time::Duration;

use gate_proto::messages::CommandKind;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use sim::broker::{BrokerRelay, EmbeddedBroker};
use sim::fixture::Fixture;
use sim::platform::{CommandRequest, Platform, PlatformKey};
use tokio::sync::mpsc;

const SITE: &str = "HK-XINHAI";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_behind_a_cut_relay_catches_up_both_ways() {
    let broker = EmbeddedBroker::start(None).expect("embedded broker");
    let platform = Platform::start(
        broker.broker_addr(),
        SITE,
        Fixture::new(SITE, 1).expect("fixture"),
        PlatformKey::test_key(),
    )
    .await
    .expect("platform");
    let relay = BrokerRelay::start(&broker.broker_addr()).expect("relay");

    let mut o = MqttOptions::new("gate-HK-XINHAI-L03", "127.0.0.1", relay.addr().port());
    o.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(5));
    let (lane, mut el) = AsyncClient::new(o, 64);
    let (tx, mut rx) = mpsc::channel::<Result<(String, Vec<u8>), ()>>(64);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(Ok(("suback".into(), Vec::new()))).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(Ok((p.topic.clone(), p.payload.to_vec()))).await;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = tx.try_send(Err(()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    lane.subscribe("gate/v1/HK-XINHAI/L03/command", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("suback in time");
    assert!(
        matches!(first, Some(Ok((ref t, _))) if t == "suback"),
        "{first:?}"
    );
    assert_eq!(relay.connections(), 1);

    // Broker "down" for the lane.
    relay.set_down(true);
    let err = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Err(())) = rx.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(err.is_ok(), "the lane saw its connection drop");

    let cmd = platform
        .send_command(CommandRequest::new("L03", CommandKind::Lower))
        .await
        .expect("command while the lane is away");
    let event = json!({
        "schema": "gate.event/1", "event_id": "01JOFFLINE0001", "seq": 1,
        "site": SITE, "lane": "L03", "direction": "exit",
        "arrived_at": "2025-12-18T02:00:00.000Z", "decided_at": "2025-12-18T02:00:04.000Z",
        "finished_at": "2025-12-18T02:00:35.000Z",
        "vehicle": {"plate": "琼A22Q39", "plate_colour": "yellow", "plate_confidence": 0.96,
                    "etag": "E280116060000213FD989E60"},
        "trailer": null, "containers": [], "eseal": null,
        "weight": {"gross_kg": 41700.0, "stable": true}, "gate_pass": null,
        "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null,
                     "offline": true, "whitelist_version": 1},
        "outcome": "passed", "photos": []
    });
    lane.publish(
        "gate/v1/HK-XINHAI/L03/event",
        QoS::AtLeastOnce,
        false,
        serde_json::to_vec(&event).expect("json"),
    )
    .await
    .expect("queued while offline");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        platform.events().is_empty(),
        "nothing gets through a cut relay"
    );
    assert!(relay.refused() >= 1, "reconnects were refused while down");

    relay.set_down(false);
    let got = platform
        .wait_for_event(|e| e.event_id == "01JOFFLINE0001", Duration::from_secs(15))
        .await
        .expect("the offline event arrives after reconnection");
    assert!(got.decision.offline);
    let delivered = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match rx.recv().await {
                Some(Ok((t, payload))) if t == "gate/v1/HK-XINHAI/L03/command" => return payload,
                Some(_) => {}
                None => panic!("lane task ended"),
            }
        }
    })
    .await
    .expect("the command queued for the persistent session arrives");
    let body = PlatformKey::test_key()
        .keyring()
        .open(&delivered)
        .expect("signed");
    assert!(body.contains(&cmd.id), "{body}");
    platform.shutdown().await;
}
