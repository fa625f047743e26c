//! From the agent's and the store's types to the control protocol's answer
//! types ([`super::protocol`]).
//!
//! Layer: pure conversions plus the few store reads that both the control
//! server and `gatectl` (reading the database while the agent is down) need,
//! so both give the same answer. Blocking: the store calls here must run on
//! a blocking thread (the server uses `spawn_blocking`). Nothing here knows
//! sockets or the lane task.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use gate_store::{EventRecord, LookupKey, OutboxStats, Store, StoreConfig};
use serde::Serialize;

use super::protocol::{
    BoardIo, DeviceRow, EventRow, EventsArgs, EventsData, IoCounters, IoStatus, LinkView, LookupBy,
    LookupData, OutboxData, Source, StagingView, StatusData, SyncData, WeightView,
    WhitelistCountsView, MAX_EVENTS,
};
use crate::drivers::board::BoardSnapshot;
use crate::drivers::health::DeviceHealth;
use crate::drivers::weighbridge::WeightReading;

/// The serde name of a unit enum value (`"release"`, `"R00"`...).
pub fn serde_name<T: Serialize + std::fmt::Debug>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{v:?}").to_lowercase(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn wall(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    gate_proto::time::format_unix_ms(ms)
}

/// A finished event for listings.
pub fn event_row(r: &EventRecord) -> EventRow {
    let ev = &r.event;
    EventRow {
        seq: r.seq,
        event_id: r.event_id.clone(),
        lane: r.lane.clone(),
        finished_at: ev.finished_at.clone(),
        plate: ev.vehicle.as_ref().and_then(|v| v.plate.clone()),
        result: serde_name(&ev.decision.result),
        reasons: ev.decision.reasons.iter().map(serde_name).collect(),
        outcome: serde_name(&ev.outcome),
        offline: ev.decision.offline,
        event: ev.clone(),
    }
}

/// Recent finished events, newest first.
pub fn events(store: &Store, args: &EventsArgs, source: Source) -> gate_store::Result<EventsData> {
    let limit = args.limit.unwrap_or(20).clamp(1, MAX_EVENTS);
    let rows = store.recent_events(limit)?;
    let events = rows
        .iter()
        .filter(|r| args.after_seq.is_none_or(|a| r.seq > a))
        .map(event_row)
        .collect();
    Ok(EventsData { source, events })
}

/// Whitelist records for one key.
pub fn lookup(
    store: &Store,
    by: LookupBy,
    key: &str,
    source: Source,
) -> gate_store::Result<LookupData> {
    let k = match by {
        LookupBy::Plate => LookupKey::Plate(key.to_owned()),
        LookupBy::Etag => LookupKey::Etag(key.to_owned()),
        LookupBy::PassNo => LookupKey::PassNo(key.to_owned()),
        LookupBy::Container => LookupKey::Container(key.to_owned()),
    };
    let v = store.lookup_by(k)?;
    Ok(LookupData {
        source,
        by: by.as_str().to_owned(),
        key: key.to_owned(),
        whitelist_version: v.version,
        passes: v.passes,
        vehicles: v.vehicles,
        enterprises: v.enterprises,
        controls: v.controls,
    })
}

/// Outbox figures (the link's part when the agent runs).
pub fn outbox(s: &OutboxStats, link: Option<&gate_link::LinkState>, source: Source) -> OutboxData {
    let now = gate_proto::time::now_unix_ms();
    OutboxData {
        source,
        depth: s.depth,
        bytes: s.bytes,
        events: s.events,
        event_bytes: s.event_bytes,
        photos: s.photos,
        photo_bytes: s.photo_bytes,
        other: s.others(),
        oldest_at: s.oldest_ms.map(gate_proto::time::format_unix_ms),
        oldest_age_s: s
            .oldest_age_ms(now)
            .map(|ms| u64::try_from(ms / 1000).unwrap_or(0)),
        quota_bytes: s.quota_bytes,
        // One decimal.
        used_percent: (s.used_ratio() * 1000.0).round() / 10.0,
        pressure: format!("{:?}", s.pressure).to_lowercase(),
        evicted_photos: s.evicted_photos,
        link: link.map(link_view),
    }
}

pub fn link_view(l: &gate_link::LinkState) -> LinkView {
    LinkView {
        connected: l.connected,
        connects: l.connects,
        in_flight: l.in_flight,
        acked: l.acked,
        dropped: l.dropped,
        rejected: l.rejected,
        last_error: l.last_error.clone(),
    }
}

/// Whitelist sync figures from the store (the link's flags are the caller's).
pub fn sync(store: &Store) -> gate_store::Result<SyncData> {
    let staging = store.staging_status()?.map(|s| StagingView {
        version: s.version,
        received: s.received,
        count: s.count,
        missing: s.missing,
    });
    let c = store.whitelist_counts()?;
    Ok(SyncData {
        whitelist_version: c.version,
        out_of_date: false,
        link_connected: false,
        staging,
        counts: Some(WhitelistCountsView {
            passes: c.passes,
            containers: c.containers,
            vehicles: c.vehicles,
            enterprises: c.enterprises,
            controls: c.controls,
        }),
        resync_requested: false,
    })
}

/// Health of one device for `devices`.
pub fn device_row(name: &str, kind: &str, h: &DeviceHealth, now: Instant) -> DeviceRow {
    DeviceRow {
        name: name.to_owned(),
        kind: kind.to_owned(),
        up: h.is_up(now, Duration::from_secs(10)),
        last_success_at: h.last_success_wall.map(wall),
        last_success_ago_ms: h.last_success.map(|t| ms(now.saturating_duration_since(t))),
        consecutive_errors: h.consecutive_errors,
        total_errors: h.total_errors,
        total_ok: h.total_ok,
        last_error: h.last_error.clone(),
        last_error_class: h.last_error_class.map(|c| serde_name(&c)),
        last_error_ago_ms: h
            .last_error_at
            .map(|t| ms(now.saturating_duration_since(t))),
        latency_ms: h
            .last_latency
            .map(|d| (d.as_secs_f64() * 100_000.0).round() / 100.0),
    }
}

fn named<T: std::fmt::Debug>(v: Option<T>, raw: u16) -> String {
    match v {
        Some(v) => format!("{v:?}").to_lowercase(),
        None => format!("unknown({raw})"),
    }
}

/// One board poll for `io`.
pub fn board_io(s: &BoardSnapshot, now: Instant) -> BoardIo {
    BoardIo {
        age_ms: ms(now.saturating_duration_since(s.at)),
        inputs: s.inputs,
        outputs: s.outputs,
        barrier: named(s.barrier, s.barrier_raw),
        fault: named(s.fault, s.fault_raw),
        last_command: named(s.last_command, s.last_command_raw),
        counters: IoCounters {
            vehicles: s.counters.vehicles,
            raises: s.counters.raises,
            tailgates: s.counters.tailgates,
            reversals: s.counters.reversals,
            faults: s.counters.faults,
        },
        status: IoStatus {
            heartbeat_lost: s.status.heartbeat_lost,
            tailgate: s.status.tailgate,
            held_by_occupancy: s.status.held_by_occupancy,
            admit_pending: s.status.admit_pending,
            manual: s.status.manual,
            raw: s.status.raw,
        },
        firmware: format!("{}.{}", s.fw_version >> 8, s.fw_version & 0xFF),
        uptime_s: s.uptime_s,
    }
}

/// A weighbridge reading for `weigh`.
pub fn weight_view(w: &WeightReading, now: Instant) -> WeightView {
    WeightView {
        gross_kg: w.gross_kg,
        stable: w.stable,
        tare_kg: w.tare_kg,
        device_stable: w.device_stable,
        detected_stable: w.detected_stable,
        overload: w.overload,
        underload: w.underload,
        seq: w.seq,
        age_ms: ms(now.saturating_duration_since(w.at)),
    }
}

/// Open the lane database of a stopped agent for reading. Refuses to create
/// anything: both files must exist. "Read-only-ish": [`Store::open`] opens a
/// writer connection (and would migrate an older schema), but nothing here
/// writes. `quota_bytes`: the lane's outbox quota (from its configuration;
/// the store's default otherwise), so pressure is judged as the agent does.
pub fn open_for_reading(path: &Path, quota_bytes: Option<u64>) -> Result<Store, OpenDbError> {
    let defaults = StoreConfig::default();
    let cfg = StoreConfig {
        outbox_quota_bytes: quota_bytes.unwrap_or(defaults.outbox_quota_bytes),
        readers: 1,
        writer_cache_kib: 1024,
        reader_cache_kib: 4096,
        busy_timeout: Duration::from_secs(2),
        ..defaults
    };
    let wl = cfg.whitelist_path_for(path);
    for p in [path, wl.as_path()] {
        if !p.is_file() {
            return Err(OpenDbError::Missing(p.to_path_buf()));
        }
    }
    Store::open(path, cfg).map_err(|source| OpenDbError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Why [`open_for_reading`] gives no store.
#[derive(Debug, thiserror::Error)]
pub enum OpenDbError {
    /// The database file, or its whitelist file beside it, is missing.
    #[error("no lane database at {}", .0.display())]
    Missing(std::path::PathBuf),
    #[error("opening {}: {source}", .path.display())]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: gate_store::StoreError,
    },
}

/// What the database alone says about the lane (the agent is down).
pub fn status_from_db(store: &Store, lane: Option<&str>) -> StatusData {
    let mut st = StatusData {
        source: Source::Database,
        lane: lane.map(str::to_owned),
        ..StatusData::default()
    };
    match store.whitelist_version() {
        Ok(v) => st.whitelist_version = v,
        Err(e) => st.notes.push(format!("whitelist version: {e}")),
    }
    match store.outbox_stats() {
        Ok(s) => {
            st.outbox_depth = Some(s.depth);
            st.outbox_pressure = Some(format!("{:?}", s.pressure).to_lowercase());
        }
        Err(e) => st.notes.push(format!("outbox: {e}")),
    }
    match store.last_seqs() {
        Ok(seqs) => {
            st.last_seq = seqs
                .iter()
                .find(|(l, _)| lane.is_none_or(|want| want == l))
                .map(|(_, n)| *n);
        }
        Err(e) => st.notes.push(format!("sequence: {e}")),
    }
    match store.recent_events(1) {
        Ok(ev) => st.last_event = ev.first().map(event_row),
        Err(e) => st.notes.push(format!("events: {e}")),
    }
    st.notes
        .push("agent not running: lane state, board, LED, link and clock are unknown".to_owned());
    st
}
