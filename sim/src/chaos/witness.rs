//! The persistent subscriber: an MQTT client of its own (clean session
//! false, QoS 1) that receives every message on the lane's event and alarm
//! topics, independent of the simulated platform's collection. Mosquitto
//! queues what it misses while it is disconnected and delivers it when it
//! comes back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::task::JoinHandle;

/// One message as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Real time of receipt.
    pub at: Instant,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// The subscriber; its task stops when dropped.
pub struct Witness {
    got: Arc<Mutex<Vec<Received>>>,
    subscribed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// Bound on stored messages (a run of 1,000 faults publishes a few thousand).
const MAX_MESSAGES: usize = 1_000_000;

impl Witness {
    /// Connects as `client_id` to 127.0.0.1:`port` and subscribes to `topics`
    /// (again after every connection); waits up to 10 s for the first SUBACK.
    pub async fn start(client_id: &str, port: u16, topics: Vec<String>) -> Result<Self> {
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let got = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), subscribed.clone());
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        tracing::info!(session_present = ack.session_present, "witness connected");
                        // A broker killed before it saved its state has
                        // forgotten the session: subscribe every time.
                        let c = client.clone();
                        let t = topics.clone();
                        tokio::spawn(async move {
                            for topic in t {
                                if let Err(e) = c.subscribe(topic, QoS::AtLeastOnce).await {
                                    tracing::warn!(error = %e, "witness subscribe");
                                }
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => s.store(true, Ordering::SeqCst),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let mut v = g.lock().unwrap_or_else(|e| e.into_inner());
                        if v.len() < MAX_MESSAGES {
                            v.push(Received {
                                at: Instant::now(),
                                topic: p.topic.clone(),
                                payload: p.payload.to_vec(),
                            });
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "witness connection error; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        let w = Self {
            got,
            subscribed,
            task,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w.subscribed.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                bail!("the persistent subscriber was not subscribed within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(w)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many messages so far.
    pub fn count(&self) -> usize {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}
