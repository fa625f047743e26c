//! Issue 5: the link against a real mosquitto: signed whitelist sync,
//! commands with exactly one reply, refusals (forged, unsigned, unknown key,
//! replayed, expired, wrong lane) raising alarms without any change of state,
//! status and alarms.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use gate_link::memory::{MemCommandLog, MemOutbox, MemWhitelist};
use gate_link::{
    CommandLog, Link, LinkConfig, LinkDeps, LinkHandle, LinkReceivers, Outbox, OutboxKind,
    OutboxMessage, StatusInput,
};
use gate_proto::messages::{DeviceStatus, Severity};
use gate_proto::topics::LaneTopics;
use serde_json::{json, Value};
use support::*;

struct Rig {
    _dir: tempfile::TempDir,
    broker: Broker,
    outbox: Arc<MemOutbox>,
    whitelist: Arc<MemWhitelist>,
    log: Arc<MemCommandLog>,
    handle: LinkHandle,
    rx: LinkReceivers,
    seen: Collector,
    topics: LaneTopics,
}

fn config(port: u16) -> LinkConfig {
    let mut c = LinkConfig::new(SITE, LANE, "127.0.0.1", port);
    c.backoff_base_ms = 50;
    c.backoff_cap_ms = 500;
    c.status_min_interval_ms = 100;
    c.resync_interval_ms = 60_000;
    c.command_timeout_ms = 800;
    c
}

/// A broker, the link with in-memory stores at whitelist `version`, and a
/// collector of everything the lane publishes. `prepare` runs on the stores
/// before the link starts.
async fn rig(
    version: u64,
    tune: impl FnOnce(&mut LinkConfig),
    prepare: impl FnOnce(&MemCommandLog),
) -> Rig {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let topics = LaneTopics::new(SITE, LANE);
    let seen = Collector::spawn(
        broker.port,
        "test-platform",
        &[&format!("gate/v1/{SITE}/{LANE}/#")],
        true,
    );
    assert!(wait_for(Duration::from_secs(5), || seen.is_connected()).await);
    let outbox = MemOutbox::new();
    let whitelist = MemWhitelist::new(version);
    let log = MemCommandLog::new(outbox.clone());
    prepare(&log);
    let mut cfg = config(broker.port);
    tune(&mut cfg);
    let (handle, rx) = Link::spawn(
        cfg,
        LinkDeps {
            outbox: outbox.clone(),
            whitelist: whitelist.clone(),
            commands: log.clone(),
            keyring: keyring(),
        },
    )
    .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || handle.state().connected).await,
        "link connects: {:?}",
        handle.state()
    );
    Rig {
        _dir: dir,
        broker,
        outbox,
        whitelist,
        log,
        handle,
        rx,
        seen,
        topics,
    }
}

impl Rig {
    async fn platform(&self) -> Publisher {
        Publisher::connect(self.broker.port, "test-platform-pub").await
    }
    fn alarms(&self) -> Vec<Value> {
        self.seen.json_on(&self.topics.alarm())
    }
    fn replies(&self) -> Vec<Value> {
        self.seen.json_on(&self.topics.reply())
    }
    fn replies_for(&self, id: &str) -> Vec<Value> {
        self.replies()
            .into_iter()
            .filter(|r| r["command_id"] == id)
            .collect()
    }
    fn rejected_alarms(&self) -> usize {
        self.alarms()
            .iter()
            .filter(|a| a["kind"] == "rejected_message")
            .count()
    }
    /// Wait until the outbox is empty and nothing is in flight.
    async fn drained(&self) -> bool {
        wait_for(Duration::from_secs(5), || {
            self.outbox.depth().unwrap().count == 0 && self.handle.state().in_flight == 0
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitelist_snapshot_request_chunks_delta_and_gap() {
    let r = rig(0, |_| {}, |_| {}).await;
    // Version 0 at startup: a snapshot is asked for.
    let sync = r.topics.sync();
    assert!(
        wait_for(Duration::from_secs(5), || r
            .seen
            .json_on(&sync)
            .contains(&json!({"have_version": 0})))
        .await,
        "snapshot request on .../sync"
    );
    let p = r.platform().await;
    let key = platform_key();
    let wl = r.topics.whitelist();
    // A two-chunk snapshot, out of order: applies only when both are in.
    p.send(&wl, signed(&snapshot_body(5, 1, 2), KID, &key))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.whitelist.applied(),
        Vec::<u64>::new(),
        "one chunk applies nothing"
    );
    p.send(&wl, signed(&snapshot_body(5, 0, 2), KID, &key))
        .await;
    p.send(&wl, signed(&delta_body(5, 6), KID, &key)).await;
    assert!(
        wait_for(Duration::from_secs(5), || r.whitelist.applied()
            == vec![5, 6])
        .await,
        "applied {:?}",
        r.whitelist.applied()
    );
    assert!(
        wait_for(Duration::from_secs(2), || r
            .handle
            .state()
            .whitelist_version
            == 6)
        .await
    );
    assert!(!r.handle.state().whitelist_out_of_date);
    // A delta that skips version 7: not applied, resync asked from 6.
    p.send(&wl, signed(&delta_body(7, 8), KID, &key)).await;
    assert!(
        wait_for(Duration::from_secs(5), || r
            .seen
            .json_on(&sync)
            .contains(&json!({"have_version": 6})))
        .await,
        "resync request after a gap"
    );
    assert_eq!(r.whitelist.applied(), vec![5, 6]);
    assert!(r.handle.state().whitelist_out_of_date);
    // The version is reported in the retained status.
    let status = r.topics.status();
    assert!(
        wait_for(Duration::from_secs(5), || r
            .seen
            .json_on(&status)
            .iter()
            .any(|s| s["state"] == "online" && s["whitelist_version"] == 6))
        .await
    );
    // None of this was refused.
    assert_eq!(r.rejected_alarms(), 0);
    r.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_whitelist_batches_change_nothing() {
    let r = rig(3, |_| {}, |_| {}).await;
    let p = r.platform().await;
    let key = platform_key();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let wl = r.topics.whitelist();
    let good = delta_body(3, 4);
    // Forged: body changed after signing.
    let mut env: Value = serde_json::from_slice(&signed(&good, KID, &key)).unwrap();
    env["body"] = Value::String(delta_body(3, 9).to_string());
    let forged = serde_json::to_vec(&env).unwrap();
    let mut wrong_site = good.clone();
    wrong_site["site"] = json!("HK-YANGPU");
    let mut bad_schema = good.clone();
    bad_schema["chunk"] = json!({"index": 1, "count": 1});
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("forged", forged),
        ("unsigned", good.to_string().into_bytes()),
        ("unknown key", signed(&good, "platform-9", &key)),
        ("wrong key", signed(&good, KID, &other)),
        ("garbage", b"\x00\xffnot json".to_vec()),
        ("wrong site", signed(&wrong_site, KID, &key)),
        ("invalid body", signed(&bad_schema, KID, &key)),
    ];
    let n = refused.len();
    for (_, payload) in refused {
        p.send(&wl, payload).await;
    }
    assert!(
        wait_for(Duration::from_secs(5), || r.rejected_alarms() == n).await,
        "one rejected_message alarm per refused batch: {:?}",
        r.alarms()
    );
    assert_eq!(r.whitelist.applied(), Vec::<u64>::new());
    assert_eq!(r.handle.state().whitelist_version, 3);
    assert_eq!(r.handle.state().rejected, n as u64);
    for a in r.alarms() {
        assert_eq!(a["severity"], "warning");
        assert!(a["alarm_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(gate_proto::time::parse_unix_ms(a["at"].as_str().unwrap()).is_some());
    }
    // A stale batch (replay of an old version) changes nothing and is not an
    // alarm: lanes of a site share the topic and see each other's resyncs.
    p.send(&wl, signed(&delta_body(2, 3), KID, &key)).await;
    // The genuine batch still applies afterwards.
    p.send(&wl, signed(&good, KID, &key)).await;
    assert!(wait_for(Duration::from_secs(5), || r.whitelist.applied() == vec![4]).await);
    // Replaying it now is stale: nothing changes.
    p.send(&wl, signed(&good, KID, &key)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.whitelist.applied(), vec![4]);
    assert_eq!(r.rejected_alarms(), n);
    r.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_get_exactly_one_reply_and_refusals_change_nothing() {
    let mut r = rig(1, |_| {}, |_| {}).await;
    // The agent: lowers, but refuses to raise (safety rule), records what it got.
    let got = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let got2 = got.clone();
    let mut cmds = std::mem::replace(&mut r.rx.commands, tokio::sync::mpsc::channel(1).1);
    tokio::spawn(async move {
        while let Some(req) = cmds.recv().await {
            got2.lock().unwrap().push(req.command.id.clone());
            match req.command.kind {
                gate_proto::messages::CommandKind::Raise => {
                    req.respond(false, "safety: vehicle on the safety loop")
                }
                _ => req.respond(true, "done"),
            }
        }
    });
    let p = r.platform().await;
    let key = platform_key();
    let t = r.topics.command();
    let now = now_ms();
    let c1 = signed(&command_body("C1", "lower"), KID, &key);
    let c2 = signed(&command_body("C2", "raise"), KID, &key);
    let mut expired = command_body("C3", "lower");
    expired["issued_at"] = json!(ts(now - 120_000));
    expired["expires_at"] = json!(ts(now - 60_000));
    let expired = signed(&expired, KID, &key);
    let mut future = command_body("C4", "lower");
    future["issued_at"] = json!(ts(now + 300_000));
    future["expires_at"] = json!(ts(now + 360_000));
    let mut wrong_lane = command_body("C5", "lower");
    wrong_lane["lane"] = json!("L04");
    let mut env: Value =
        serde_json::from_slice(&signed(&command_body("C6", "lower"), KID, &key)).unwrap();
    env["body"] = Value::String(command_body("C6", "raise").to_string());
    let forged = serde_json::to_vec(&env).unwrap();
    let mut no_officer = command_body("C9", "raise");
    no_officer["officer"] = Value::Null;

    p.send(&t, c1.clone()).await;
    p.send(&t, c2).await;
    p.send(&t, expired.clone()).await;
    p.send(&t, signed(&future, KID, &key)).await;
    p.send(&t, signed(&wrong_lane, KID, &key)).await;
    p.send(&t, forged).await;
    p.send(&t, command_body("C7", "raise").to_string().into_bytes())
        .await;
    p.send(&t, signed(&command_body("C8", "raise"), "platform-9", &key))
        .await;
    p.send(&t, signed(&no_officer, KID, &key)).await;
    // Replays of a executed and of a refused command.
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.send(&t, c1).await;
    p.send(&t, expired).await;

    let answered = ["C1", "C2", "C3", "C4", "C5", "C9"];
    assert!(
        wait_for(Duration::from_secs(5), || answered
            .iter()
            .all(|id| !r.replies_for(id).is_empty()))
        .await,
        "replies: {:?}",
        r.replies()
    );
    // Refused: expired, future, wrong lane, invalid (4); forged, unsigned,
    // unknown key (3, unanswered); two replays.
    assert!(
        wait_for(Duration::from_secs(5), || r.rejected_alarms() == 9).await,
        "alarms: {:?}",
        r.alarms()
    );
    assert!(r.drained().await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in answered {
        assert_eq!(
            r.replies_for(id).len(),
            1,
            "exactly one reply for {id}: {:?}",
            r.replies()
        );
    }
    for id in ["C6", "C7", "C8"] {
        assert!(
            r.replies_for(id).is_empty(),
            "no reply to unauthenticated {id}"
        );
        assert!(!r.log.seen(id), "an unauthenticated id is not recorded");
    }
    let one = |id: &str| r.replies_for(id)[0].clone();
    assert_eq!(
        one("C1"),
        json!({"command_id": "C1", "ok": true, "detail": "done"})
    );
    assert_eq!(one("C2")["ok"], false);
    assert_eq!(one("C2")["detail"], "safety: vehicle on the safety loop");
    assert!(one("C3")["detail"].as_str().unwrap().starts_with("expired"));
    assert!(one("C4")["detail"]
        .as_str()
        .unwrap()
        .starts_with("issued in the future"));
    assert!(one("C5")["detail"]
        .as_str()
        .unwrap()
        .starts_with("wrong lane"));
    assert!(one("C9")["detail"].as_str().unwrap().contains("officer"));
    for id in ["C3", "C4", "C5", "C9"] {
        assert_eq!(one(id)["ok"], false);
    }
    // Only the two valid commands reached the agent, once each.
    assert_eq!(*got.lock().unwrap(), vec!["C1".to_owned(), "C2".to_owned()]);
    let replay_alarms = r
        .alarms()
        .iter()
        .filter(|a| a["detail"].as_str().unwrap().contains("replayed"))
        .count();
    assert_eq!(replay_alarms, 2);
    r.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_commands_get_one_reply() {
    // A command begun before a restart, and an agent that never answers or
    // drops the request: each still gets exactly one reply.
    let mut r = rig(
        1,
        |c| c.command_timeout_ms = 400,
        |log| {
            assert!(log.begin("C-OLD", 1).unwrap());
        },
    )
    .await;
    let p = r.platform().await;
    let key = platform_key();
    p.send(
        &r.topics.command(),
        signed(&command_body("C-SLOW", "lower"), KID, &key),
    )
    .await;
    p.send(
        &r.topics.command(),
        signed(&command_body("C-DROP", "lower"), KID, &key),
    )
    .await;
    let first = r.rx.commands.recv().await.unwrap();
    assert_eq!(first.command.id, "C-SLOW");
    let second = r.rx.commands.recv().await.unwrap();
    drop(second);
    assert!(
        wait_for(Duration::from_secs(5), || ["C-OLD", "C-SLOW", "C-DROP"]
            .iter()
            .all(|id| r.replies_for(id).len() == 1))
        .await,
        "{:?}",
        r.replies()
    );
    // Answering after the timeout does not make a second reply.
    first.respond(true, "late");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.replies_for("C-SLOW").len(), 1);
    assert!(r.replies_for("C-OLD")[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("interrupted"));
    assert!(r.replies_for("C-SLOW")[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("timeout"));
    assert!(r.replies_for("C-DROP")[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("dropped"));
    r.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_alarms_oversize_items_and_clean_shutdown() {
    let r = rig(2, |c| c.max_packet_out = 4096, |_| {}).await;
    let status = r.topics.status();
    r.handle.set_status(StatusInput {
        devices: vec![DeviceStatus {
            name: "plate_front".into(),
            ok: false,
            last_ok_at: None,
            errors: 3,
            detail: Some("timeout".into()),
        }],
        clock_synced: Some(true),
        lane_state: Some("idle".into()),
        barrier: Some("down".into()),
        version: Some("0.1.0".into()),
        hold: None,
    });
    assert!(
        wait_for(Duration::from_secs(5), || r
            .seen
            .json_on(&status)
            .iter()
            .any(|s| {
                s["state"] == "online"
                    && s["devices"][0]["name"] == "plate_front"
                    && s["whitelist_version"] == 2
                    && s["clock_synced"] == true
                    && s["outbox"]["depth"].is_u64()
            }))
        .await,
        "{:?}",
        r.seen.json_on(&status)
    );
    let id = r
        .handle
        .alarm("device_fault", Severity::Critical, "plate camera down")
        .await
        .unwrap();
    // An item too big to ever send is dropped with an alarm; the next goes out.
    let ev = r.topics.event();
    r.outbox
        .enqueue(&OutboxMessage::new(
            OutboxKind::Event,
            ev.clone(),
            vec![b'x'; 10_000],
        ))
        .unwrap();
    r.outbox
        .enqueue(&OutboxMessage::event(&r.topics, event_payload(1)))
        .unwrap();
    r.handle.notify_outbox();
    assert!(r.drained().await);
    assert!(
        wait_for(Duration::from_secs(5), || {
            let a = r.alarms();
            a.iter()
                .any(|a| a["alarm_id"] == id.as_str() && a["kind"] == "device_fault")
                && a.iter()
                    .any(|a| a["kind"] == "outbox_item_dropped" && a["severity"] == "critical")
        })
        .await,
        "{:?}",
        r.alarms()
    );
    assert!(wait_for(Duration::from_secs(5), || r.seen.count_on(&ev) == 1).await);
    assert_eq!(r.seen.json_on(&ev)[0]["seq"], 1);
    assert_eq!(r.handle.state().dropped, 1);
    assert!(r.handle.state().acked >= 3);
    // A clean shutdown leaves the retained offline status.
    r.handle.shutdown().await;
    assert!(!r.handle.state().connected);
    let late = Collector::spawn(r.broker.port, "late-reader", &[&status], true);
    assert!(
        wait_for(Duration::from_secs(5), || {
            late.inbox
                .lock()
                .unwrap()
                .iter()
                .any(|(_, p, retained)| *retained && p == br#"{"state":"offline"}"#)
        })
        .await
    );
}
