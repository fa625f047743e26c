//! Alarms for `gatectl alarms`.
//!
//! Layer: control server. Two sources, each labelled:
//! - the lane's alarm log (gate-store: every alarm queued for the platform,
//!   the newest 10,000, with its acknowledgement), each marked delivered or
//!   still in the outbox by a bounded outbox scan ([`undelivered`]);
//! - a bounded ring of what this server itself observed since it started
//!   ([`observe`]): devices going down and up, the platform link dropping
//!   and returning, board faults, the board's tailgate counter moving.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gate_store::{OutboxKind, Store};
use lane_io::regmap::FaultCode;

use super::protocol::AlarmRow;
use super::Parts;

/// Observed alarms kept, at most.
pub(crate) const RING_CAPACITY: usize = 256;

/// What `alarms` says about its sources.
pub(crate) const NOTE: &str = "sources: `log` is the lane's alarm log (every alarm raised for \
the platform, kept after delivery, newest 10,000; `undelivered` while still in the outbox, \
`acked by ID` once acknowledged at the console); `observed` is what this control server saw \
since the agent started (devices down/up, link down/up, board faults, tailgating).";

/// The outbox scan stops after this many items or payload bytes (photos
/// are large; a deep outbox after days offline is not read whole).
const SCAN_MAX_ITEMS: u64 = 4096;
const SCAN_MAX_BYTES: u64 = 64 * 1024 * 1024;
const SCAN_PAGE: usize = 8;

/// A bounded ring of observed alarms.
#[derive(Debug)]
pub(crate) struct AlarmRing {
    cap: usize,
    rows: Mutex<VecDeque<AlarmRow>>,
}

impl AlarmRing {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            rows: Mutex::new(VecDeque::new()),
        }
    }

    pub fn push(&self, kind: &str, severity: &str, detail: String) {
        tracing::debug!(kind, severity, %detail, "control: observed");
        let row = AlarmRow {
            at: gate_proto::time::format_unix_ms(gate_proto::time::now_unix_ms()),
            kind: kind.to_owned(),
            severity: severity.to_owned(),
            detail,
            source: "observed".to_owned(),
        };
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if rows.len() == self.cap {
            rows.pop_front();
        }
        rows.push_back(row);
    }

    /// Up to `n`, newest first.
    pub fn recent(&self, n: usize) -> Vec<AlarmRow> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter().rev().take(n).cloned().collect()
    }
}

/// Result of the outbox scan.
pub(crate) struct Scan {
    /// `alarm_id`s of the alarms still in the outbox.
    pub ids: std::collections::HashSet<String>,
    /// Outbox alarm items that do not decode.
    pub unreadable: Vec<AlarmRow>,
    pub scanned: u64,
    pub complete: bool,
}

/// Alarms waiting in the outbox (blocking; bounded in items and bytes).
pub(crate) fn undelivered(store: &Store) -> gate_store::Result<Scan> {
    let mut scan = Scan {
        ids: Default::default(),
        unreadable: Vec::new(),
        scanned: 0,
        complete: false,
    };
    let mut after = None;
    let mut bytes = 0u64;
    loop {
        let items = store.outbox_peek(after, SCAN_PAGE)?;
        if items.is_empty() {
            scan.complete = true;
            break;
        }
        for it in items {
            after = Some(it.id);
            scan.scanned += 1;
            bytes += it.payload.len() as u64;
            if it.kind != OutboxKind::Alarm {
                continue;
            }
            match serde_json::from_slice::<gate_proto::messages::Alarm>(&it.payload) {
                Ok(a) => {
                    scan.ids.insert(a.alarm_id);
                }
                Err(e) => scan.unreadable.push(AlarmRow {
                    at: gate_proto::time::format_unix_ms(it.created_ms),
                    kind: "unreadable".into(),
                    severity: "warning".into(),
                    detail: format!("outbox item {} is not an alarm message: {e}", it.id),
                    source: "outbox".into(),
                }),
            }
        }
        if scan.scanned >= SCAN_MAX_ITEMS || bytes >= SCAN_MAX_BYTES {
            break;
        }
    }
    Ok(scan)
}

/// The log's rows, each marked delivered or not and acknowledged or not.
pub(crate) fn log_rows(log: Vec<gate_store::AlarmLogEntry>, scan: &Scan) -> Vec<AlarmRow> {
    log.into_iter()
        .map(|a| {
            let mut source = String::from("log");
            if scan.ids.contains(&a.alarm_id) {
                source.push_str(", undelivered");
            }
            if let Some(by) = &a.acked_by {
                source.push_str(&format!(", acked by {by}"));
            }
            AlarmRow {
                at: a.at,
                kind: a.kind,
                severity: a.severity,
                detail: a.detail,
                source,
            }
        })
        .collect()
}

/// Watch the agent and record what looks like an alarm. Ends when the lane
/// task stops.
pub(crate) async fn observe(p: Parts) {
    let mut lane_alive = p.view.clone();
    let mut board_rx = p.board.subscribe();
    let mut link_rx = p.link.watch_state();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut link_up: Option<bool> = None;
    let mut tailgates: Option<u16> = None;
    let mut fault: Option<u16> = None;
    let mut up: BTreeMap<String, bool> = BTreeMap::new();
    loop {
        tokio::select! {
            r = lane_alive.changed() => if r.is_err() { break },
            r = board_rx.changed() => {
                if r.is_err() { break }
                let snap = board_rx.borrow_and_update().clone();
                if let Some(s) = snap {
                    if let Some(prev) = tailgates {
                        let n = s.counters.tailgates.wrapping_sub(prev);
                        if n > 0 {
                            p.alarms.push("tailgating", "critical", format!(
                                "board counted {n} tailgating vehicle(s) (counter {})", s.counters.tailgates));
                        }
                    }
                    tailgates = Some(s.counters.tailgates);
                    if fault != Some(s.fault_raw) {
                        if s.fault != Some(FaultCode::None) {
                            p.alarms.push("barrier_fault", "critical", format!(
                                "board fault: {}", s.fault.map(|f| format!("{f:?}")).unwrap_or_else(|| format!("code {}", s.fault_raw))));
                        } else if fault.is_some() {
                            p.alarms.push("barrier_fault_cleared", "info", "board fault cleared".into());
                        }
                        fault = Some(s.fault_raw);
                    }
                }
            }
            r = link_rx.changed() => {
                if r.is_err() { break }
                let st = link_rx.borrow_and_update().clone();
                if link_up != Some(st.connected) {
                    match (link_up, st.connected) {
                        (Some(true), false) => p.alarms.push("link_down", "warning", format!(
                            "platform link lost{}", st.last_error.map(|e| format!(": {e}")).unwrap_or_default())),
                        (_, true) => p.alarms.push("link_up", "info", "platform link connected".into()),
                        _ => {}
                    }
                    link_up = Some(st.connected);
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for (name, h) in p.registry.snapshot() {
                    // Up, failing, or unknown (never polled, or idle: a
                    // snapshot camera is only asked when needed).
                    let state = if h.is_up(now, Duration::from_secs(10)) {
                        Some(true)
                    } else if h.consecutive_errors > 0 {
                        Some(false)
                    } else {
                        None
                    };
                    let Some(state) = state else { continue };
                    match (up.insert(name.clone(), state), state) {
                        (Some(true) | None, false) => p.alarms.push(
                            "device_down",
                            "warning",
                            format!("{name}: {}", h.last_error.unwrap_or_else(|| "not answering".into())),
                        ),
                        (Some(false), true) => {
                            p.alarms.push("device_up", "info", format!("{name} answers again"))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_newest_first() {
        let r = AlarmRing::new(3);
        for i in 0..5 {
            r.push("k", "info", format!("{i}"));
        }
        let got: Vec<String> = r.recent(10).into_iter().map(|a| a.detail).collect();
        assert_eq!(got, ["4", "3", "2"]);
        assert_eq!(r.recent(1)[0].source, "observed");
    }
}
