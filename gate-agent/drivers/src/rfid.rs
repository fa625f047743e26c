//! RFID readers (vehicle e-tags, container e-seals) over Modbus.
//!
//! Layer: device driver. The register layout comes from a profile
//! (config/profiles/rfid-*.toml); this module only knows point names.
//! A reader reports one tag (points `epc`, `tid`, ...) or several slots
//! (points `slot0.epc`, `slot0.tid`, ..., `slot1.epc`, ...): every point
//! whose name ends in `epc` starts a slot, and the slot's other points share
//! its prefix. Per slot: `epc` (hex, required), `present` (flag), `tid`
//! (hex), `rssi` (dBm after scale), `reads` (read count), `seal_state`
//! (0 none, 1 intact, 2 tampered, 3 opened), `age_ms`. Reader-wide: `rf_on`
//! (flag). It publishes an [`RfidReading`] on a `watch` channel and decides
//! nothing about what a tag means.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use super::bus::{BusHandle, ModbusDevice};
use super::config::{RfidConfig, RfidKind};
use super::error::{DeviceError, SpawnError};
use super::health::{HealthCell, HealthRegistry};
use super::profile::{Profile, Sample};
use super::restart::RestartVerdict;

/// State of an electronic seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealState {
    Intact,
    Tampered,
    Opened,
    /// A code this agent does not know.
    Unknown(u16),
}

impl SealState {
    /// From the register code; 0 = not a seal / no state.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => return None,
            1 => Self::Intact,
            2 => Self::Tampered,
            3 => Self::Opened,
            other => Self::Unknown(other),
        })
    }
}

/// One tag in the reader's field.
#[derive(Clone, Debug, PartialEq)]
pub struct TagRead {
    /// EPC as upper-case hex.
    pub epc: String,
    /// TID as upper-case hex.
    pub tid: Option<String>,
    /// Signal strength, dBm.
    pub rssi: Option<f64>,
    /// Reads of this tag since it entered the field.
    pub count: Option<u32>,
    /// The reader reports the tag as present.
    pub present: bool,
    /// E-seal state, for seals.
    pub seal: Option<SealState>,
    /// Time since the reader last read the tag, ms.
    pub age_ms: Option<u32>,
}

impl TagRead {
    /// The tag's id as tag registries write it: when the EPC bytes are
    /// printable ASCII padded with zero bytes (e.g. `ES00012345`), that
    /// text; otherwise the EPC hex.
    pub fn id(&self) -> String {
        let bytes: Option<Vec<u8>> = (0..self.epc.len() / 2)
            .map(|i| {
                self.epc
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        if let Some(b) = bytes {
            let text_len = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            let (text, pad) = b.split_at(text_len);
            if !text.is_empty()
                && text.iter().all(u8::is_ascii_graphic)
                && pad.iter().all(|c| *c == 0)
            {
                return String::from_utf8_lossy(text).into_owned();
            }
        }
        self.epc.clone()
    }
}

/// One poll of a reader.
#[derive(Clone, Debug, PartialEq)]
pub struct RfidReading {
    pub at: Instant,
    /// Reader name.
    pub reader: String,
    pub kind: RfidKind,
    /// Tags present, in slot order.
    pub tags: Vec<TagRead>,
    /// Whether the RF field is on, if the reader says.
    pub rf_on: Option<bool>,
}

/// Slot prefixes of a profile ("" or "slot0." ...), in point order.
pub fn slot_prefixes(profile: &Profile) -> Vec<String> {
    profile
        .points
        .iter()
        .filter_map(|p| p.name.strip_suffix("epc").map(str::to_owned))
        .collect()
}

fn as_u32(x: f64) -> Option<u32> {
    (x.is_finite() && x >= 0.0).then(|| x.min(f64::from(u32::MAX)) as u32)
}

/// Tags in a sample (only those present; a slot without a `present` flag
/// counts as present when its EPC is not all zeros).
pub fn tags_from_sample(s: &Sample, prefixes: &[String]) -> Vec<TagRead> {
    let mut tags = Vec::new();
    for p in prefixes {
        let get = |n: &str| format!("{p}{n}");
        let Some(epc) = s.text(&get("epc")) else {
            continue;
        };
        let blank = epc.is_empty() || epc.bytes().all(|c| c == b'0');
        let present = s.flag(&get("present")).unwrap_or(!blank);
        if !present || blank {
            continue;
        }
        tags.push(TagRead {
            epc: epc.to_owned(),
            tid: s.text(&get("tid")).map(str::to_owned),
            rssi: s.number(&get("rssi")),
            count: s
                .number(&get("reads"))
                .or_else(|| s.number(&get("count")))
                .and_then(as_u32),
            present,
            seal: s
                .number(&get("seal_state"))
                .and_then(|c| SealState::from_code(c.clamp(0.0, 65535.0) as u16)),
            age_ms: s.number(&get("age_ms")).and_then(as_u32),
        });
    }
    tags
}

/// Handle on a running reader driver.
#[derive(Clone, Debug)]
pub struct RfidHandle {
    rx: watch::Receiver<Option<RfidReading>>,
    health: HealthCell,
    bus: BusHandle,
    /// How many identifications watch the reader now (its poll pace).
    watchers: Arc<watch::Sender<usize>>,
}

/// While alive, the reader is polled at its `poll_interval_ms` (at once
/// when the first one is taken); with none, at its idle period. Taken by
/// each identification that watches the reader, dropped with it (also when
/// its task is aborted).
#[derive(Debug)]
pub struct FastPoll(Arc<watch::Sender<usize>>);

impl Drop for FastPoll {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl RfidHandle {
    /// Poll the reader at once and then at its fast period while the
    /// returned guard lives.
    pub fn fast_poll(&self) -> FastPoll {
        self.watchers.send_modify(|n| *n += 1);
        FastPoll(self.watchers.clone())
    }

    /// The latest poll; `None` until the first and while the reader is offline.
    pub fn subscribe(&self) -> watch::Receiver<Option<RfidReading>> {
        self.rx.clone()
    }
    pub fn health(&self) -> &HealthCell {
        &self.health
    }
    /// Restart the reader's connection: its bus is reopened (with every
    /// other device on it).
    pub async fn restart(&self) -> RestartVerdict {
        self.bus.restart().await
    }
}

/// Start a reader: the profile is resolved in `profiles_dir`.
pub fn spawn_rfid(
    cfg: &RfidConfig,
    profiles_dir: &Path,
    bus: &BusHandle,
    registry: &HealthRegistry,
) -> Result<(RfidHandle, JoinHandle<()>), SpawnError> {
    let profile = super::profile::resolve(profiles_dir, &cfg.profile)?;
    spawn_rfid_with_profile(cfg, profile, bus, registry)
}

/// Start a reader with an already loaded profile.
pub fn spawn_rfid_with_profile(
    cfg: &RfidConfig,
    profile: Profile,
    bus: &BusHandle,
    registry: &HealthRegistry,
) -> Result<(RfidHandle, JoinHandle<()>), SpawnError> {
    cfg.validate()?;
    let prefixes = slot_prefixes(&profile);
    if prefixes.is_empty() {
        return Err(SpawnError::NoEpc {
            profile: profile.name,
        });
    }
    let health = registry.register(&cfg.name);
    let dev = bus.device(cfg.unit_id, health.clone());
    let (tx, rx) = watch::channel(None);
    let (watchers, pace) = watch::channel(0usize);
    let task = tokio::spawn(poll_task(cfg.clone(), profile, prefixes, dev, tx, pace));
    Ok((
        RfidHandle {
            rx,
            health,
            bus: bus.clone(),
            watchers: Arc::new(watchers),
        },
        task,
    ))
}

async fn poll_task(
    cfg: RfidConfig,
    profile: Profile,
    prefixes: Vec<String>,
    dev: ModbusDevice,
    tx: watch::Sender<Option<RfidReading>>,
    mut pace: watch::Receiver<usize>,
) {
    let fast = Duration::from_millis(cfg.poll_interval_ms);
    let idle = Duration::from_millis(cfg.idle_poll_ms());
    let every = |period: Duration, first: tokio::time::Instant| {
        let mut t = tokio::time::interval_at(first, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    };
    let mut active = *pace.borrow_and_update() > 0;
    let mut tick = every(
        if active { fast } else { idle },
        tokio::time::Instant::now(),
    );
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = pace.changed() => {
                if r.is_err() {
                    break;
                }
                let now_active = *pace.borrow_and_update() > 0;
                if now_active == active {
                    continue;
                }
                active = now_active;
                let period = if active { fast } else { idle };
                tick = every(period, tokio::time::Instant::now() + period);
                if !active {
                    continue;
                }
                // A vehicle's identification began: poll at once.
            }
            () = tx.closed() => break,
        }
        match dev.read_profile(&profile).await {
            Ok(sample) => {
                failures = 0;
                if let Some(p) = sample.problems.first() {
                    dev.health().err(&DeviceError::Decode(p.clone()));
                }
                tx.send_replace(Some(RfidReading {
                    at: Instant::now(),
                    reader: cfg.name.clone(),
                    kind: cfg.kind,
                    tags: tags_from_sample(&sample, &prefixes),
                    rf_on: sample.flag("rf_on"),
                }));
            }
            Err(e) => {
                failures += 1;
                if failures == cfg.offline_after_errors {
                    warn!(reader = %cfg.name, error = %e, "RFID reader offline");
                    tx.send_replace(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Value;

    #[test]
    fn slots_become_tags() {
        let mut s = Sample::default();
        let mut put = |k: &str, v: Value| {
            s.values.insert(k.into(), v);
        };
        put("slot0.epc", Value::Text("E20034120000000000000001".into()));
        put("slot0.tid", Value::Text("E2801160AABBCCDD".into()));
        put("slot0.rssi", Value::Number(-52.5));
        put("slot0.reads", Value::Number(12.0));
        put("slot0.seal_state", Value::Number(2.0));
        put("slot1.epc", Value::Text("000000000000000000000000".into()));
        put("slot2.epc", Value::Text("E20034120000000000000002".into()));
        s.flags.insert("slot0.present".into(), true);
        s.flags.insert("slot1.present".into(), false);
        s.flags.insert("slot2.present".into(), false);
        let prefixes = vec!["slot0.".to_string(), "slot1.".into(), "slot2.".into()];
        let tags = tags_from_sample(&s, &prefixes);
        assert_eq!(tags.len(), 1);
        let t = &tags[0];
        assert_eq!(t.epc, "E20034120000000000000001");
        assert_eq!(t.tid.as_deref(), Some("E2801160AABBCCDD"));
        assert_eq!(
            (t.rssi, t.count, t.seal),
            (Some(-52.5), Some(12), Some(SealState::Tampered))
        );
        // Without a present flag, a non-zero EPC is a tag.
        s.flags.remove("slot2.present");
        assert_eq!(tags_from_sample(&s, &prefixes).len(), 2);
        assert_eq!(SealState::from_code(0), None);
        // Ids: ASCII zero-padded EPCs read as text, others as hex.
        let mut t = tags[0].clone();
        assert_eq!(t.id(), "E20034120000000000000001");
        t.epc = "455330303031323334350000".into();
        assert_eq!(t.id(), "ES00012345");
        t.epc = "450030303031323334350000".into();
        assert_eq!(t.id(), "450030303031323334350000");
        assert_eq!(SealState::from_code(9), Some(SealState::Unknown(9)));
    }
}
