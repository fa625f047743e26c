//! What a run prints and writes: the event lines, the summary and the JSON
//! report.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gate_proto::messages::{LaneEvent, Reason};

use super::{norm, LaneRun, RunReport};

/// This lane's events as the platform collected them.
pub(super) fn lane_events(run: &LaneRun) -> Vec<LaneEvent> {
    run.platform
        .events()
        .into_iter()
        .filter(|e| e.lane == run.lane_id)
        .collect()
}

pub(super) fn print_new(run: &LaneRun, printed: &mut BTreeSet<String>) {
    let mut evs = lane_events(run);
    evs.sort_by_key(|e| e.seq);
    let mut obs = None;
    let weighs = !run.sim.endpoints().weighbridges.is_empty();
    for e in evs {
        if !printed.insert(e.event_id.clone()) {
            continue;
        }
        let obs = obs.get_or_insert_with(|| run.sim.observations());
        let floor = e
            .vehicle
            .as_ref()
            .and_then(|v| v.plate.as_deref())
            .and_then(|p| data_floor_s(obs, p, weighs));
        let mut l = line(&e, run.clock.scale(), &run.lane_id);
        if let (Some(f), Some(d)) = (floor, decided_after_arrival_s(&e, run.clock.scale())) {
            l.push_str(&format!(
                "  (data complete at {f:.1} s: decided {:+.2} s after)",
                d - f
            ));
        }
        println!("{l}");
    }
}

/// Lane seconds from the event's arrival to its decision.
pub fn decided_after_arrival_s(e: &LaneEvent, scale: f64) -> Option<f64> {
    let a = gate_proto::time::parse_unix_ms(&e.arrived_at)?;
    let d = gate_proto::time::parse_unix_ms(&e.decided_at)?;
    Some((d - a) as f64 / 1000.0 * scale)
}

/// The physical floor of a truck's decision time: lane seconds from its
/// arrival on the loop to the last datum the decision uses, as the
/// simulated devices saw it (the indicator's first stable reading of the
/// truck when the lane `weighs`, the readers' first reports of its e-tag and
/// e-seal when it carries them; plates and codes are in view at arrival).
/// `None`: the truck never arrived or its weight never settled.
pub fn data_floor_s(obs: &[crate::lane::Observation], plate: &str, weighs: bool) -> Option<f64> {
    use crate::lane::ObservationKind as K;
    let want = norm(plate);
    let mine: Vec<_> = obs.iter().filter(|o| norm(&o.plate) == want).collect();
    let arrived = mine
        .iter()
        .find(|o| matches!(o.kind, K::ArrivedAtArrivalLoop))?
        .t_ms;
    let settled = mine
        .iter()
        .find(|o| matches!(o.kind, K::ScaleSettled { .. }))
        .map(|o| o.t_ms);
    if weighs && settled.is_none() {
        return None;
    }
    let last = mine
        .iter()
        .filter(|o| matches!(o.kind, K::TagFirstRead { .. }))
        .map(|o| o.t_ms)
        .chain(settled)
        .fold(arrived, u64::max);
    Some(last.saturating_sub(arrived) as f64 / 1000.0)
}

/// One readable line per truck. Event times are wall-clock; `scale` turns
/// their differences back into lane seconds.
pub fn line(e: &LaneEvent, scale: f64, lane: &str) -> String {
    let plate = e
        .vehicle
        .as_ref()
        .and_then(|v| v.plate.clone())
        .unwrap_or_else(|| "(unread)".into());
    let reasons: Vec<&str> = e.decision.reasons.iter().map(|r| r.as_str()).collect();
    let arrived = gate_proto::time::parse_unix_ms(&e.arrived_at).unwrap_or(0);
    let decided = gate_proto::time::parse_unix_ms(&e.decided_at).unwrap_or(0);
    let finished = gate_proto::time::parse_unix_ms(&e.finished_at).unwrap_or(0);
    let weight = e
        .weight
        .as_ref()
        .map(|w| format!("{:>6.0} kg", w.gross_kg))
        .unwrap_or_else(|| "     - kg".into());
    format!(
        "{lane} #{:<3} {:<10} {:<8} {:<12} {:<10} {weight}  decided {:>5.1} s after arrival, done at {:>5.1} s  wl v{}{}",
        e.seq,
        plate,
        format!("{:?}", e.decision.result).to_uppercase(),
        reasons.join(","),
        format!("{:?}", e.outcome).to_lowercase(),
        (decided - arrived) as f64 / 1000.0 * scale,
        (finished - arrived) as f64 / 1000.0 * scale,
        e.decision.whitelist_version,
        if e.decision.offline { " OFFLINE" } else { "" },
    )
}

/// Print a human summary of reports.
pub fn summary(reports: &[RunReport]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for r in reports {
        let ok = r.trucks.iter().filter(|t| t.ok).count();
        let _ = writeln!(
            s,
            "\n{} lane {}: {}/{} trucks as expected, {} events, {} duplicates, {} gaps, {:.0} lane-seconds: {}",
            r.scenario,
            r.lane,
            ok,
            r.trucks.len(),
            r.platform.events.len(),
            r.platform.duplicates,
            r.platform.gaps.len(),
            r.lane_seconds,
            if r.passed { "PASS" } else { "FAIL" }
        );
        for t in r.trucks.iter().filter(|t| !t.ok) {
            let _ = writeln!(s, "  {} {}: {}", t.truck, t.plate, t.problems.join("; "));
        }
        let mut lags: Vec<f64> = r
            .trucks
            .iter()
            .filter(|t| !t.reasons.contains(&Reason::H08))
            .filter_map(|t| Some(t.decided_after_arrival_s? - t.data_after_arrival_s?))
            .collect();
        if !lags.is_empty() {
            lags.sort_by(f64::total_cmp);
            let _ = writeln!(
                s,
                "  decided after the last datum (device side): median {:+.2} s, max {:+.2} s over {} trucks (goal <= 0.5 s; trucks held H08 and officers' decisions left out)",
                lags[lags.len() / 2],
                lags[lags.len() - 1],
                lags.len()
            );
        }
        if let Some(rec) = &r.recognition {
            let _ = writeln!(
                s,
                "  on-board recognition: {} frames read ({} dropped, {} failed), {:.0} ms per frame (max {:.0}), models ready in {:.1} s",
                rec.frames_read,
                rec.frames_dropped,
                rec.frames_failed,
                rec.mean_frame_ms,
                rec.max_frame_ms,
                rec.load_s
            );
        }
        for p in &r.problems {
            let _ = writeln!(s, "  {p}");
        }
        for v in &r.violations {
            let _ = writeln!(s, "  SAFETY VIOLATION: {v}");
        }
    }
    s
}

/// Write a report file.
pub fn write_report(path: &PathBuf, reports: &[RunReport]) -> Result<()> {
    let text = serde_json::to_string_pretty(reports)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
