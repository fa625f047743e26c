//! Checking every truck's events against its expectation, and the run's
//! platform-side findings.

use std::collections::BTreeSet;

use gate_proto::messages::Reason;

use crate::scenario::{self, Scenario};

use super::{
    data_floor_s, decided_after_arrival_s, lane_events, norm, LaneRun, RunReport, TruckResult,
};

/// Match events to trucks (by plate, then in order) and compare.
pub(super) fn check(
    run: &LaneRun,
    s: &Scenario,
    mut problems: Vec<String>,
    lane_seconds: f64,
    start_ms: i64,
) -> RunReport {
    let mut events = lane_events(run);
    events.sort_by_key(|e| e.seq);
    let lane_alarms: Vec<gate_proto::messages::Alarm> = run
        .platform
        .report()
        .alarms
        .into_iter()
        .filter(|a| a.lane == run.lane_id)
        .map(|a| a.alarm)
        .collect();
    let mut used = vec![false; events.len()];
    let mut results = Vec::new();
    let mut unmatched = Vec::new();
    for (i, t) in s.trucks.iter().enumerate() {
        let want = norm(&t.plate);
        let found = events.iter().enumerate().position(|(j, e)| {
            !used[j]
                && e.vehicle
                    .as_ref()
                    .and_then(|v| v.plate.as_deref())
                    .map(norm)
                    .as_deref()
                    == Some(want.as_str())
        });
        match found {
            Some(j) => {
                used[j] = true;
                results.push((i, Some(j)));
            }
            None => {
                unmatched.push(results.len());
                results.push((i, None));
            }
        }
    }
    // Trucks whose plate was not read: the remaining events, in order.
    let mut rest = (0..events.len()).filter(|j| !used[*j]);
    for k in unmatched {
        if let Some(j) = rest.next() {
            results[k].1 = Some(j);
        }
    }
    let observations = run.sim.observations();
    let weighs = !run.sim.endpoints().weighbridges.is_empty();
    // Each truck's alarm window (docs/scenarios.md, "Alarms").
    let grace_ms = (scenario::alarms::GRACE_S * 1000.0 / run.clock.scale()).round() as i64;
    let closes: Vec<Option<i64>> = results
        .iter()
        .map(|(_, j)| {
            j.and_then(|j| gate_proto::time::parse_unix_ms(&events[j].finished_at))
                .map(|ms| ms + grace_ms)
        })
        .collect();
    let windows = scenario::alarms::windows(start_ms, &closes);
    let trucks: Vec<TruckResult> = results
        .into_iter()
        .zip(windows)
        .map(|((i, j), window)| {
            let t = &s.trucks[i];
            let id = if t.id.is_empty() {
                format!("truck-{}", i + 1)
            } else {
                t.id.clone()
            };
            let mut r = TruckResult {
                truck: id,
                plate: t.plate.clone(),
                expected: t.expect.clone(),
                event_id: None,
                seq: None,
                decision: None,
                reasons: Vec::new(),
                outcome: None,
                alarms: Vec::new(),
                decided_after_arrival_s: None,
                data_after_arrival_s: data_floor_s(&observations, &t.plate, weighs),
                ok: false,
                problems: Vec::new(),
            };
            let passage_alarms: Vec<&gate_proto::messages::Alarm> = window
                .map(|(opens, closes)| scenario::alarms::in_window(&lane_alarms, opens, closes))
                .unwrap_or_default()
                .into_iter()
                .map(|k| &lane_alarms[k])
                .collect();
            r.alarms = passage_alarms
                .iter()
                .map(|a| scenario::alarms::describe(a))
                .collect();
            match j.map(|j| &events[j]) {
                None => r.problems.push("no event reached the platform".into()),
                Some(e) => {
                    r.event_id = Some(e.event_id.clone());
                    r.seq = Some(e.seq);
                    // An officer's decision (or one on an officer's data)
                    // waited for a person: not the lane's speed.
                    r.decided_after_arrival_s = if e.decision.officer.is_none() {
                        decided_after_arrival_s(e, run.clock.scale())
                    } else {
                        None
                    };
                    r.decision = Some(format!("{:?}", e.decision.result).to_lowercase());
                    r.reasons = e.decision.reasons.clone();
                    r.outcome = Some(e.outcome);
                    if e.decision.result != t.expect.decision {
                        r.problems.push(format!(
                            "decision {:?}, expected {:?}",
                            e.decision.result, t.expect.decision
                        ));
                    }
                    let want: BTreeSet<Reason> = t.expect.reasons.iter().copied().collect();
                    let got: BTreeSet<Reason> = e.decision.reasons.iter().copied().collect();
                    if !want.is_subset(&got) {
                        r.problems.push(format!(
                            "reasons {:?}, expected {:?}",
                            e.decision.reasons, t.expect.reasons
                        ));
                    }
                    if e.outcome != t.expect.outcome {
                        r.problems.push(format!(
                            "outcome {:?}, expected {:?}",
                            e.outcome, t.expect.outcome
                        ));
                    }
                    if let Some(by) = t.expect.by {
                        if e.decision.by != by {
                            r.problems
                                .push(format!("decided by {:?}, expected {by:?}", e.decision.by));
                        }
                    }
                    if let Some(off) = t.expect.offline {
                        if e.decision.offline != off {
                            r.problems
                                .push(format!("offline {}, expected {off}", e.decision.offline));
                        }
                    }
                    if let Some(p) = &t.expect.gate_pass {
                        if e.gate_pass.as_deref() != Some(p.as_str()) {
                            r.problems
                                .push(format!("gate pass {:?}, expected {p}", e.gate_pass));
                        }
                    }
                    if let Some(want) = &t.expect.alarms {
                        r.problems
                            .extend(scenario::alarms::compare(want, &passage_alarms));
                    }
                }
            }
            r.ok = r.problems.is_empty();
            r
        })
        .collect();
    let mut platform = run.platform.report();
    platform.events.retain(|e| e.lane == run.lane_id);
    platform.gaps.retain(|g| g.lane == run.lane_id);
    problems.extend(platform.problems());
    // Every platform command's reply says what the scenario expects
    // (a missing reply is one of the platform's problems above).
    for (id, i) in &run.commands_sent {
        let c = &s.commands[*i];
        if let Some(r) = platform.replies.iter().find(|r| r.reply.command_id == *id) {
            if r.reply.ok != c.expect_ok {
                problems.push(format!(
                    "platform {:?} at {} s: ok={} ({}), expected ok={}",
                    c.kind, c.at_s, r.reply.ok, r.reply.detail, c.expect_ok
                ));
            }
        }
    }
    let violations: Vec<String> = run
        .sim
        .violations()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect();
    let passed = trucks.iter().all(|t| t.ok) && problems.is_empty() && violations.is_empty();
    RunReport {
        scenario: s.scenario.name.clone(),
        lane: run.lane_id.clone(),
        passed,
        trucks,
        platform,
        violations,
        problems,
        lane_seconds,
        recognition: None,
    }
}
