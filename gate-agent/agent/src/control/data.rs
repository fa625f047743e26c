//! From the agent's own types (drivers, link) to the control protocol's
//! answer types ([`super::protocol`]); what the lane database answers is
//! `gate_control::db`'s, shared with `gatectl`.
//!
//! Layer: pure conversions. Nothing here knows sockets or the lane task.

use std::time::{Duration, Instant, SystemTime};

use gate_control::db::serde_name;

use super::protocol::{BoardIo, DeviceRow, IoCounters, IoStatus, LinkView, WeightView};
use crate::drivers::board::BoardSnapshot;
use crate::drivers::health::DeviceHealth;
use crate::drivers::weighbridge::WeightReading;

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
