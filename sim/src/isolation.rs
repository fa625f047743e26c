//! Run isolation on a shared broker (issue 16): a scenario run must not see
//! what an earlier run, or another platform, left on the broker.
//!
//! - Persistent sessions: the agent's client id is fixed by the contract
//!   (`gate-{site}-{lane}`), so a run clears that session before the agent
//!   connects (a connection with `clean_session = true`, then a clean
//!   disconnect): messages queued for an earlier run's agent are dropped.
//!   The platform simulator connects under a client id of its own run and
//!   clears it when the run ends.
//! - Retained messages: a retained whitelist batch or command on the lane's
//!   topics would be delivered to the agent as if this run's platform had
//!   sent it. The run looks for them first and stops with an error that
//!   names the topic and says how to clear it; it never deletes another
//!   party's retained message itself. The lane's own retained `status` is
//!   cleared when the run ends.
//!
//! Layer: simulator harness, network edge (rumqttc).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::broker::BrokerAddr;

/// How long a retained message takes to arrive after SUBSCRIBE (a broker
/// sends them right after the SUBACK).
const RETAINED_WAIT: Duration = Duration::from_millis(700);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh id for one run's own clients.
pub fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}",
        (t as u64 ^ u64::from(std::process::id()) << 32) as u32
    )
}

fn options(broker: &BrokerAddr, client_id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(16 * 1024 * 1024, 64 * 1024);
    o
}

/// Connect as `client_id` with a clean session and disconnect: the broker
/// drops whatever session (subscriptions, queued messages) it kept.
pub async fn clear_session(broker: &BrokerAddr, client_id: &str) -> Result<()> {
    let (client, mut ev) = AsyncClient::new(options(broker, client_id), 8);
    wait_for(&mut ev, "CONNACK", |p| matches!(p, Packet::ConnAck(_)))
        .await
        .with_context(|| format!("clearing the session of `{client_id}` on {broker}"))?;
    disconnect(client, ev).await;
    Ok(())
}

/// Poll until an incoming packet matches `want` (at most
/// [`CONNECT_TIMEOUT`]).
async fn wait_for(ev: &mut EventLoop, what: &str, want: impl Fn(&Packet) -> bool) -> Result<()> {
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(p)) if want(&p) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
    })
    .await
    .map_err(|_| anyhow!("no {what} within {} s", CONNECT_TIMEOUT.as_secs()))?
}

/// Disconnect cleanly: let the DISCONNECT go out before dropping.
async fn disconnect(client: AsyncClient, mut ev: EventLoop) {
    client.disconnect().await.ok();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while ev.poll().await.is_ok() {}
    })
    .await;
}

/// Retained messages on `topics` (filters allowed): (topic, payload).
pub async fn retained(
    broker: &BrokerAddr,
    client_id: &str,
    topics: &[String],
) -> Result<Vec<(String, Vec<u8>)>> {
    let (client, mut ev) = AsyncClient::new(options(broker, client_id), 8);
    // One SUBSCRIBE for every topic: one request in the client's queue
    // however many lanes (a subscribe per topic filled the queue of 8
    // before the event loop ran, and a port of 8 lanes hung here).
    client
        .subscribe_many(
            topics
                .iter()
                .map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtMostOnce)),
        )
        .await
        .context("subscribe")?;
    let mut found = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    let overall = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        let until = deadline.unwrap_or(overall);
        match tokio::time::timeout_at(until, ev.poll()).await {
            Err(_) if deadline.is_some() => break,
            Err(_) => bail!("{broker}: no SUBACK within {} s", CONNECT_TIMEOUT.as_secs()),
            Ok(Err(e)) => return Err(anyhow!("{broker}: {e}")),
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                deadline = Some(tokio::time::Instant::now() + RETAINED_WAIT);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.retain => {
                found.push((p.topic.clone(), p.payload.to_vec()));
            }
            Ok(Ok(_)) => {}
        }
    }
    client.disconnect().await.ok();
    Ok(found)
}

/// Remove the retained message of `topic` (an empty retained publish).
pub async fn clear_retained(broker: &BrokerAddr, client_id: &str, topic: &str) -> Result<()> {
    let (client, mut ev) = AsyncClient::new(options(broker, client_id), 8);
    client
        .publish(topic, QoS::AtLeastOnce, true, Vec::new())
        .await
        .context("publish")?;
    wait_for(&mut ev, "PUBACK", |p| matches!(p, Packet::PubAck(_))).await?;
    disconnect(client, ev).await;
    Ok(())
}

/// Before a run on `site`/`lanes`: refuse to start when the broker holds a
/// retained whitelist batch or command a lane would take for this run's,
/// then clear the lanes' agent sessions.
pub async fn prepare(broker: &BrokerAddr, run: &str, site: &str, lanes: &[String]) -> Result<()> {
    let mut topics = vec![gate_proto::topics::whitelist(site)];
    for l in lanes {
        topics.push(gate_proto::topics::LaneTopics::new(site, l).command());
    }
    let found = retained(broker, &format!("sim-{run}-probe"), &topics).await?;
    if let Some((topic, payload)) = found.into_iter().find(|(_, p)| !p.is_empty()) {
        let what = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| {
                let body: serde_json::Value =
                    serde_json::from_str(v.get("body")?.as_str()?).ok()?;
                Some(format!(
                    "{} version {}",
                    body.get("kind")?.as_str().unwrap_or("?"),
                    body.get("version")?
                ))
            })
            .unwrap_or_else(|| format!("{} bytes", payload.len()));
        bail!(
            "the broker {broker} holds a RETAINED message on {topic} ({what}), left by another run \
             or platform: the lane would take it for this run's. Clear it \
             (mosquitto_pub -h {} -p {} -r -n -t '{topic}') or run on another site.",
            broker.host,
            broker.port
        );
    }
    for l in lanes {
        let id = gate_proto::topics::LaneTopics::new(site, l).client_id();
        clear_session(broker, &id).await?;
    }
    Ok(())
}

/// After a run: clear the lanes' retained status (on the lanes' broker; a
/// bridge carries the clearing to the centre) and the run's own platform
/// session (on the platform's broker, `central`: the same one unless the
/// port is bridged).
pub async fn finish(
    broker: &BrokerAddr,
    central: &BrokerAddr,
    run: &str,
    site: &str,
    lanes: &[String],
    platform_id: &str,
) {
    for l in lanes {
        let topic = gate_proto::topics::LaneTopics::new(site, l).status();
        if let Err(e) = clear_retained(broker, &format!("sim-{run}-clean"), &topic).await {
            tracing::warn!("clearing {topic}: {e:#}");
        }
    }
    if let Err(e) = clear_session(central, platform_id).await {
        tracing::warn!("clearing the platform session: {e:#}");
    }
}
