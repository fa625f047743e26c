//! Issue 5: the link process killed with SIGKILL at random points during a
//! burst of events, many times, loses nothing and keeps `seq` gapless.
//!
//! harness = false: `main` is the orchestrator; run with `--child` it is the
//! lane process (a SQLite outbox + the link + an "agent" enqueueing events)
//! that the orchestrator starts and kills.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

// The support module of the `it` suites (this binary cannot join them: it
// has its own `main`).
#[path = "it/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gate_link::memory::{MemCommandLog, MemOutbox, MemWhitelist};
use gate_link::{Link, LinkConfig, LinkDeps, Outbox};
use rand::Rng;
use support::sqlite_outbox::SqliteOutbox;
use support::*;

const EVENTS: u64 = 1_500;
const KILLS: usize = 15;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child") {
        child(&args);
        return;
    }
    // `cargo test` passes harness flags (e.g. `--list`, filters): honour a
    // listing request and run otherwise.
    if args.iter().any(|a| a == "--list") {
        println!("link_killed_during_burst: test");
        return;
    }
    orchestrate();
}

/// The lane process: enqueue events (seq from the outbox db, atomically)
/// about one per millisecond until EVENTS, keep draining, exit 0 when all
/// are enqueued and acknowledged.
fn child(args: &[String]) {
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| panic!("child needs {k}"))
    };
    let port: u16 = get("--port").parse().expect("port");
    let db = PathBuf::from(get("--db"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let outbox = Arc::new(SqliteOutbox::open(&db).expect("open outbox"));
        let mut cfg = LinkConfig::new(SITE, LANE, "127.0.0.1", port);
        cfg.backoff_base_ms = 20;
        cfg.backoff_cap_ms = 200;
        cfg.window = 32;
        let mem = MemOutbox::new();
        let (handle, _rx) = Link::spawn(
            cfg,
            LinkDeps {
                outbox: outbox.clone(),
                whitelist: MemWhitelist::new(1),
                commands: MemCommandLog::new(mem),
                keyring: keyring(),
            },
        )
        .expect("link");
        let topic = handle.topics().event();
        loop {
            let o = outbox.clone();
            let t = topic.clone();
            let seq = tokio::task::spawn_blocking(move || -> u64 {
                let last = o.last_seq().expect("seq");
                if last >= EVENTS {
                    return last;
                }
                o.enqueue_event(&t, event_payload).expect("enqueue")
            })
            .await
            .expect("enqueue task");
            handle.notify_outbox();
            if seq >= EVENTS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        loop {
            if outbox.depth().expect("depth").count == 0 && handle.state().in_flight == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        handle.shutdown().await;
        println!("DRAINED");
    });
}

fn spawn_child(port: u16, db: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .arg("--child")
        .arg("--port")
        .arg(port.to_string())
        .arg("--db")
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the lane process")
}

fn orchestrate() {
    let t_start = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::start(dir.path());
        let ev_topic = format!("gate/v1/{SITE}/{LANE}/event");
        let status_topic = format!("gate/v1/{SITE}/{LANE}/status");
        let seen = Collector::spawn(broker.port, "platform-crash", &[&ev_topic, &status_topic], false);
        assert!(wait_for(Duration::from_secs(5), || seen.is_connected()).await);
        let db = dir.path().join("lane.db");
        let mut rng = rand::thread_rng();
        let mut offline_wills = 0;
        for k in 0..KILLS {
            let mut c = spawn_child(broker.port, &db);
            let ms = rng.gen_range(30..400);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let before = offline_count(&seen, &status_topic);
            c.kill().expect("SIGKILL the lane process");
            let _ = c.wait();
            // The broker publishes the will (retained offline status) when
            // the killed connection drops, if the link had connected.
            if wait_for(Duration::from_millis(500), || offline_count(&seen, &status_topic) > before).await {
                offline_wills += 1;
            }
            println!("kill {k}: after {ms} ms");
        }
        // Last run: let it finish.
        let mut c = spawn_child(broker.port, &db);
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "final lane process did not drain");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "final lane process failed: {status}");
        assert!(
            wait_for(Duration::from_secs(10), || {
                let (seqs, _) = dedup_events(&seen.json_on(&ev_topic));
                seqs.len() as u64 >= EVENTS
            })
            .await,
            "not every event arrived"
        );
        let got = seen.json_on(&ev_topic);
        let (seqs, dups) = dedup_events(&got);
        let expected: std::collections::BTreeSet<u64> = (1..=EVENTS).collect();
        assert_eq!(seqs, expected, "after de-duplication by event_id every seq 1..={EVENTS} is there, once");
        assert_first_arrivals_in_order(&got);
        assert!(offline_wills >= 1, "the will (retained offline status) was never seen");
        println!(
            "link_killed_during_burst: ok: {EVENTS} events, {KILLS} kills, {dups} duplicates, {offline_wills} wills seen, {:.1} s",
            t_start.elapsed().as_secs_f64()
        );
        println!("\ntest result: ok. 1 passed; 0 failed");
    });
}

fn offline_count(seen: &Collector, topic: &str) -> usize {
    seen.json_on(topic)
        .iter()
        .filter(|s| s["state"] == "offline")
        .count()
}
