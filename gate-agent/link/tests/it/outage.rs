//! Issue 5: the broker killed (SIGKILL) and restarted several times during a
//! burst of events: after de-duplication by event_id none is missing, `seq`
//! is gapless, and first arrivals are in order.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use crate::support;

use std::time::{Duration, Instant};

use gate_link::memory::{MemCommandLog, MemOutbox, MemWhitelist};
use gate_link::{Link, LinkConfig, LinkDeps, Outbox, OutboxKind, OutboxMessage};
use support::*;

const EVENTS: u64 = 3_000;
const OUTAGES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_during_burst() {
    init_tracing();
    let t_start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    let ev_topic = format!("gate/v1/{SITE}/{LANE}/event");
    // The platform's subscriber: persistent session, saved by the broker's
    // autosave before the first kill.
    let seen = Collector::spawn(broker.port, "platform-outage", &[&ev_topic], false);
    assert!(wait_for(Duration::from_secs(5), || seen.is_connected()).await);
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let outbox = MemOutbox::new();
    let mut cfg = LinkConfig::new(SITE, LANE, "127.0.0.1", broker.port);
    cfg.backoff_base_ms = 20;
    cfg.backoff_cap_ms = 300;
    cfg.window = 32;
    let (handle, _rx) = Link::spawn(
        cfg,
        LinkDeps {
            outbox: outbox.clone(),
            whitelist: MemWhitelist::new(1),
            commands: MemCommandLog::new(MemOutbox::new()),
            keyring: keyring(),
        },
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(5), || handle.state().connected).await);

    // The agent: one event per millisecond or so, through the outbox.
    let enqueued = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let agent = {
        let (outbox, handle, enqueued) = (outbox.clone(), handle.clone(), enqueued.clone());
        let topic = ev_topic.clone();
        tokio::spawn(async move {
            for seq in 1..=EVENTS {
                outbox
                    .enqueue(&OutboxMessage::new(
                        OutboxKind::Event,
                        topic.clone(),
                        event_payload(seq),
                    ))
                    .unwrap();
                enqueued.store(seq, std::sync::atomic::Ordering::SeqCst);
                handle.notify_outbox();
                if seq % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }
        })
    };
    for k in 0..OUTAGES {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A broker that acknowledged a message and is killed before handing
        // it on loses it (mosquitto keeps it in memory): that is the broker's
        // durability, not the link's. So kill only once the platform has
        // every message the broker acknowledged so far; the link keeps
        // publishing meanwhile, so the kill still lands mid-burst.
        assert!(
            wait_for(Duration::from_secs(5), || {
                let enq = enqueued.load(std::sync::atomic::Ordering::SeqCst);
                let acked = enq.saturating_sub(outbox.depth().unwrap().count);
                dedup_events(&seen.json_on(&ev_topic)).0.len() as u64 >= acked
            })
            .await,
            "platform keeps up before a kill: missing {:?}",
            {
                let (seqs, _) = dedup_events(&seen.json_on(&ev_topic));
                let max = seqs.iter().max().copied().unwrap_or(0);
                (1..=max).filter(|s| !seqs.contains(s)).collect::<Vec<_>>()
            }
        );
        let in_flight = handle.state().in_flight;
        broker.kill();
        tokio::time::sleep(Duration::from_millis(150 + 100 * k as u64)).await;
        broker.restart();
        // Next kill only once the platform's subscriber is back, so that the
        // broker has delivered what it accepted (it forgets unsaved messages
        // of offline sessions when killed).
        assert!(
            wait_for(Duration::from_secs(5), || seen.is_connected()).await,
            "subscriber reconnects"
        );
        println!("outage {k}: {in_flight} in flight when killed");
    }
    agent.await.unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || outbox.depth().unwrap().count
            == 0)
        .await,
        "outbox drains after the last restart: {:?}",
        handle.state()
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            dedup_events(&seen.json_on(&ev_topic)).0.len() as u64 >= EVENTS
        })
        .await,
        "every event reaches the platform: got {}",
        dedup_events(&seen.json_on(&ev_topic)).0.len()
    );
    let got = seen.json_on(&ev_topic);
    let (seqs, dups) = dedup_events(&got);
    let expected: std::collections::BTreeSet<u64> = (1..=EVENTS).collect();
    let missing: Vec<u64> = expected.difference(&seqs).copied().collect();
    assert!(missing.is_empty(), "missing seqs: {missing:?}");
    assert_eq!(seqs, expected);
    assert_first_arrivals_in_order(&got);
    let st = handle.state();
    assert!(
        st.connects > OUTAGES as u64,
        "reconnected after each outage: {st:?}"
    );
    assert!(st.acked >= EVENTS);
    println!(
        "{EVENTS} events through {OUTAGES} broker kills: {dups} duplicates, {} connects, {:.1} s",
        st.connects,
        t_start.elapsed().as_secs_f64()
    );
    handle.shutdown().await;
}
