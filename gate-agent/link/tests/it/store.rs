//! Issue 5: the link over the real lane store (`gate_store::Store` as outbox,
//! whitelist and command log): snapshot request and apply, a command with
//! one reply and a refused replay, events drained, status from the store.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use gate_link::{Link, LinkConfig, LinkDeps, Outbox, OutboxMessage, WhitelistSink};
use gate_proto::topics::LaneTopics;
use gate_store::{Store, StoreConfig};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_over_gate_store() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let t = LaneTopics::new(SITE, LANE);
    let seen = Collector::spawn(
        broker.port,
        "platform-store",
        &[&format!("gate/v1/{SITE}/{LANE}/#")],
        true,
    );
    assert!(wait_for(Duration::from_secs(5), || seen.is_connected()).await);
    let store = Arc::new(Store::open(dir.path().join("lane.db"), StoreConfig::default()).unwrap());
    let mut cfg = LinkConfig::new(SITE, LANE, "127.0.0.1", broker.port);
    cfg.status_min_interval_ms = 100;
    let (handle, mut rx) = Link::spawn(
        cfg,
        LinkDeps {
            outbox: store.clone(),
            whitelist: store.clone(),
            commands: store.clone(),
            keyring: keyring(),
        },
    )
    .unwrap();
    // An empty store asks for a snapshot; the snapshot applies in the store.
    assert!(
        wait_for(Duration::from_secs(5), || seen
            .json_on(&t.sync())
            .contains(&json!({"have_version": 0})))
        .await
    );
    let p = Publisher::connect(broker.port, "platform-store-pub").await;
    let key = platform_key();
    p.send(&t.whitelist(), signed(&snapshot_body(3, 0, 1), KID, &key))
        .await;
    assert!(wait_for(Duration::from_secs(5), || store.version().unwrap() == 3).await);
    assert!(
        wait_for(Duration::from_secs(5), || handle.state().whitelist_version
            == 3)
        .await
    );

    // A command: one reply through the store's command log and outbox.
    let c1 = signed(&command_body("S-C1", "lower"), KID, &key);
    p.send(&t.command(), c1.clone()).await;
    let req = tokio::time::timeout(Duration::from_secs(5), rx.commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.command.id, "S-C1");
    req.respond(true, "lowered");
    p.send(&t.command(), c1).await;

    // Events through the store's outbox.
    for seq in 1..=200 {
        store
            .enqueue(&OutboxMessage::event(&t, event_payload(seq)))
            .unwrap();
    }
    handle.notify_outbox();
    assert!(wait_for(Duration::from_secs(10), || seen.count_on(&t.event()) >= 200).await);
    let (seqs, _) = dedup_events(&seen.json_on(&t.event()));
    assert_eq!(seqs, (1..=200).collect());
    assert!(
        wait_for(Duration::from_secs(5), || {
            seen.json_on(&t.reply())
                == vec![json!({"command_id": "S-C1", "ok": true, "detail": "lowered"})]
                && seen
                    .json_on(&t.alarm())
                    .iter()
                    .any(|a| a["detail"].as_str().unwrap().contains("replayed"))
        })
        .await,
        "replies {:?} alarms {:?}",
        seen.json_on(&t.reply()),
        seen.json_on(&t.alarm())
    );
    assert!(wait_for(Duration::from_secs(5), || store.depth().unwrap().count == 0).await);
    assert!(
        wait_for(Duration::from_secs(5), || seen
            .json_on(&t.status())
            .iter()
            .any(|s| {
                s["whitelist_version"] == 3 && s["outbox"]["quota_bytes"].as_u64().unwrap_or(0) > 0
            }))
        .await
    );
    handle.shutdown().await;
}
