//! Outbox drain rate after an outage, to a local mosquitto.
//!
//! `cargo bench -p gate-link --bench drain -- [--events N] [--runs R] [--window W] [--gate-store]`
//!
//! Each run: fill a SQLite outbox with N lane events (about 1 KB each) while
//! the link is not running, start the link, and time from its CONNACK until
//! the broker has acknowledged every event and the link has deleted them
//! all. Beside it, in the same run and against the same broker, the
//! baseline: a bare rumqttc client publishing the same N payloads at QoS 1
//! with the same in-flight limit and no outbox, timed from the first publish
//! to the last PUBACK. Prints both rates per run, their medians and the ratio.
//! The outbox is the tests' SQLite outbox, or the lane's `gate_store::Store`
//! with `--gate-store`.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gate_link::memory::{MemCommandLog, MemOutbox, MemWhitelist};
use gate_link::{Link, LinkConfig, LinkDeps, Outbox, OutboxKind, OutboxMessage};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use support::sqlite_outbox::SqliteOutbox;
use support::{event_payload, Broker, LANE, SITE};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

async fn baseline(port: u16, payloads: &[Vec<u8>], topic: &str, inflight: u16) -> f64 {
    let mut o = MqttOptions::new("bench-baseline", "127.0.0.1", port);
    o.set_inflight(inflight)
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(o, 1024);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.expect("baseline connects") {
            break;
        }
    }
    let n = payloads.len();
    let owned: Vec<Vec<u8>> = payloads.to_vec();
    let topic = topic.to_owned();
    let t0 = Instant::now();
    let pubber = tokio::spawn(async move {
        for p in owned {
            client
                .publish(topic.clone(), QoS::AtLeastOnce, false, p)
                .await
                .expect("publish");
        }
        client
    });
    let mut acks = 0;
    while acks < n {
        if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.expect("baseline poll") {
            acks += 1;
        }
    }
    let dt = t0.elapsed();
    let client = pubber.await.expect("publisher");
    let _ = client.disconnect().await;
    n as f64 / dt.as_secs_f64()
}

/// The outbox under test, filled with `msgs`: the test SQLite outbox, or
/// with `--gate-store` the lane's real store.
fn filled_outbox(dir: &std::path::Path, run: usize, msgs: &[OutboxMessage]) -> Arc<dyn Outbox> {
    if std::env::args().any(|a| a == "--gate-store") {
        let path = dir.join(format!("lane-{run}.db"));
        let store = gate_store::Store::open(&path, gate_store::StoreConfig::default())
            .expect("open gate-store");
        for m in msgs {
            store.outbox_enqueue(m).expect("enqueue");
        }
        Arc::new(store)
    } else {
        let path = dir.join(format!("outbox-{run}.db"));
        let outbox = SqliteOutbox::open(&path).expect("open outbox");
        outbox.enqueue_many(msgs).expect("fill outbox");
        Arc::new(outbox)
    }
}

async fn link_drain(
    port: u16,
    dir: &std::path::Path,
    run: usize,
    msgs: &[OutboxMessage],
    window: usize,
) -> f64 {
    let outbox = filled_outbox(dir, run, msgs);
    let mem = MemOutbox::new();
    let mut cfg = LinkConfig::new(SITE, LANE, "127.0.0.1", port);
    cfg.window = window;
    let (handle, _rx) = Link::spawn(
        cfg,
        LinkDeps {
            outbox: outbox.clone(),
            whitelist: MemWhitelist::new(1),
            commands: MemCommandLog::new(mem),
            keyring: support::keyring(),
        },
    )
    .expect("link");
    let mut state = handle.watch_state();
    let n = msgs.len() as u64;
    let t0 = loop {
        if state.borrow_and_update().connected {
            break Instant::now();
        }
        state.changed().await.expect("link state");
    };
    loop {
        if state.borrow_and_update().acked >= n {
            break;
        }
        tokio::time::timeout(Duration::from_secs(60), state.changed())
            .await
            .expect("drain finishes within 60 s")
            .expect("link state");
    }
    let dt = t0.elapsed();
    handle.shutdown().await;
    n as f64 / dt.as_secs_f64()
}

fn main() {
    let events = arg("--events", 20_000);
    let runs = arg("--runs", 5).max(1);
    let window = arg("--window", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(dir.path());
    let topic = format!("gate/v1/{SITE}/{LANE}/event");
    let payloads: Vec<Vec<u8>> = (1..=events as u64).map(event_payload).collect();
    let msgs: Vec<OutboxMessage> = payloads
        .iter()
        .map(|p| OutboxMessage::new(OutboxKind::Event, topic.clone(), p.clone()))
        .collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "drain bench: {events} events ({} bytes avg), window {window}, {runs} runs, mosquitto on 127.0.0.1:{}",
        bytes / events.max(1),
        broker.port
    );
    let inflight = u16::try_from(window + 8).unwrap_or(u16::MAX);
    let (mut base, mut link) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let b = rt.block_on(baseline(broker.port, &payloads, &topic, inflight));
        let l = rt.block_on(link_drain(broker.port, dir.path(), run, &msgs, window));
        println!("run {run}: baseline {b:>9.0} msg/s   link {l:>9.0} events/s");
        base.push(b);
        link.push(l);
    }
    let (mb, ml) = (median(base), median(link));
    println!(
        "median: baseline {mb:.0} msg/s, link {ml:.0} events/s, link/baseline {:.2}",
        ml / mb
    );
}
