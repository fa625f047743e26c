//! The control protocol's answers read from the lane database, the same
//! for the agent's server and for `gatectl` reading the database while the
//! agent is down; and opening that database for reading.
//!
//! Layer: pure conversions from the store's types plus the store reads
//! behind them. Blocking: the store calls here must run on a blocking thread
//! in async code (the server uses `spawn_blocking`). Nothing here knows
//! sockets, the agent's runtime or its drivers.

use std::path::Path;
use std::time::Duration;

use gate_store::{EventRecord, LookupKey, OutboxStats, Store, StoreConfig};
use serde::Serialize;

use crate::protocol::{
    EventRow, EventsArgs, EventsData, LookupBy, LookupData, OutboxData, Source, StagingView,
    StatusData, SyncData, WhitelistCountsView, MAX_EVENTS,
};

/// The serde name of a unit enum value (`"release"`, `"R00"`...).
pub fn serde_name<T: Serialize + std::fmt::Debug>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{v:?}").to_lowercase(),
    }
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

/// Outbox figures from the store (the link's part, when the agent runs, is
/// the caller's).
pub fn outbox(s: &OutboxStats, source: Source) -> OutboxData {
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
        link: None,
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
