//! What the chaos run saw, and the figures it prints: every truck's passage
//! from the simulated lane's observations, every event from the persistent
//! subscriber, the faults with their recovery times.
//!
//! Definitions (docs/reliability.md, Chaos):
//! - a *passage* is a truck that reached the arrival loop and then either
//!   left under the arm or backed out; trucks still in the lane at the end
//!   are *unfinished* and not judged;
//! - events are attributed to trucks by plate, then e-tag, then gate pass;
//!   events carrying none of them are given, in `seq` order, to the
//!   passages that have no event yet, in arrival order; what is left is
//!   *unattributed*;
//! - *lost*: a passage with no event; *duplicated*: a passage with more than
//!   one event (distinct `event_id`s); an `event_id` received again with the
//!   same bytes is *redelivered* (shown, not a failure: the contract is
//!   at-least-once and the platform de-duplicates by `event_id`,
//!   shared/spec/platform.md), with other content *conflicting*;
//! - *missing identity*: an event attributed to a passage lacks (or
//!   differs in) a field the lane had every chance to know: the plate unless
//!   the front plate camera was faulted while the truck was in the lane
//!   before the arm, the e-tag unless the e-tag reader was, and the gate pass
//!   whenever the lane raised the arm for the truck (it only can with the
//!   truck's pass).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gate_proto::messages::LaneEvent;
use serde::Serialize;

use crate::lane::{Observation, ObservationKind};
use crate::physics::{TruckId, ViolationKind};

use super::fleet::Identity;
use super::witness::Received;

/// One truck through the lane (lane milliseconds).
#[derive(Clone, Debug, Serialize)]
pub struct Passage {
    pub index: usize,
    #[serde(skip)]
    pub truck: TruckId,
    pub plate: String,
    pub etag: String,
    pub pass_no: String,
    pub arrived_ms: Option<u64>,
    pub stopped_ms: Option<u64>,
    pub started_ms: Option<u64>,
    pub passed_ms: Option<u64>,
    pub left_ms: Option<u64>,
    pub reversing_ms: Option<u64>,
    pub reversed_ms: Option<u64>,
    /// Told to back out by the harness (held, or the lane did not serve it).
    pub sent_back: bool,
}

impl Passage {
    pub fn finished(&self) -> bool {
        self.arrived_ms.is_some()
            && (self.passed_ms.is_some() || self.left_ms.is_some() || self.reversed_ms.is_some())
    }

    fn before_arm_end(&self) -> Option<u64> {
        self.started_ms.or(self.reversing_ms).or(self.reversed_ms)
    }
}

/// The passages, from the lane's observations.
#[derive(Default)]
pub struct Tracker {
    pub passages: Vec<Passage>,
    by_truck: HashMap<TruckId, usize>,
    /// Observations missed (broadcast lag): the figures are then unsure.
    pub lagged: u64,
    pub arrivals: u64,
    pub starts: u64,
}

impl Tracker {
    pub fn add(&mut self, index: usize, truck: TruckId, id: &Identity) {
        self.by_truck.insert(truck, self.passages.len());
        self.passages.push(Passage {
            index,
            truck,
            plate: id.plate.clone(),
            etag: id.etag.clone(),
            pass_no: id.pass_no.clone(),
            arrived_ms: None,
            stopped_ms: None,
            started_ms: None,
            passed_ms: None,
            left_ms: None,
            reversing_ms: None,
            reversed_ms: None,
            sent_back: false,
        });
    }

    pub fn get_mut(&mut self, truck: TruckId) -> Option<&mut Passage> {
        let i = *self.by_truck.get(&truck)?;
        self.passages.get_mut(i)
    }

    pub fn on(&mut self, o: &Observation) {
        let t = o.t_ms;
        let Some(p) = self.get_mut(o.truck) else {
            return;
        };
        let mut arrival = false;
        let mut start = false;
        match o.kind {
            ObservationKind::ArrivedAtArrivalLoop => {
                p.arrived_ms.get_or_insert(t);
                arrival = true;
            }
            ObservationKind::StoppedAtLine { .. } => {
                // The latest stop counts (a truck can stop again).
                p.stopped_ms = Some(t);
            }
            ObservationKind::StartedThrough => {
                p.started_ms.get_or_insert(t);
                start = true;
            }
            ObservationKind::PassedUnderArm => {
                p.passed_ms.get_or_insert(t);
            }
            ObservationKind::LeftExitLoop => {
                p.left_ms.get_or_insert(t);
            }
            ObservationKind::ReversingStarted => {
                p.reversing_ms.get_or_insert(t);
            }
            ObservationKind::ReversedOut => {
                p.reversed_ms.get_or_insert(t);
            }
            _ => {}
        }
        if arrival {
            self.arrivals += 1;
        }
        if start {
            self.starts += 1;
        }
    }

    /// The first passage that started through the arm at or after `ms`.
    pub fn served_after(&self, ms: u64) -> Option<&Passage> {
        self.passages
            .iter()
            .filter(|p| p.started_ms.is_some_and(|s| s >= ms))
            .min_by_key(|p| p.started_ms)
    }

    /// The truck waiting at the line (stopped, not started, not backing out).
    pub fn waiting(&self) -> Option<&Passage> {
        self.passages.iter().find(|p| {
            p.stopped_ms.is_some()
                && p.started_ms.is_none()
                && p.reversing_ms.is_none()
                && p.reversed_ms.is_none()
        })
    }
}

/// A device fault window (lane ms), for the identity rules.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceWindow {
    pub device: String,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// One injected fault and what followed.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    pub n: usize,
    pub kind: String,
    pub detail: String,
    /// Lane ms of the injection, of the end of its cause, of the first truck
    /// served after.
    pub injected_ms: u64,
    pub cause_gone_ms: u64,
    pub served_ms: Option<u64>,
    /// Real seconds from the cause gone (or the served truck's stop, if later)
    /// to that truck starting through the arm. None: not served in time.
    pub recovery_s: Option<f64>,
    pub problems: Vec<String>,
}

/// The figures of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub faults: usize,
    pub faults_by_kind: BTreeMap<String, usize>,
    pub passages: usize,
    pub unfinished: usize,
    pub released: usize,
    pub sent_back: usize,
    pub events_received: usize,
    pub unique_events: usize,
    pub malformed: usize,
    pub lost: usize,
    pub duplicated_trucks: usize,
    pub extra_events: usize,
    pub redelivered: usize,
    pub conflicting: usize,
    pub unattributed: usize,
    pub seq_first: Option<u64>,
    pub seq_last: Option<u64>,
    pub seq_gaps: usize,
    pub seq_reused: usize,
    pub missing_identity: usize,
    pub missing_plate: usize,
    pub missing_etag: usize,
    pub missing_pass: usize,
    pub arm_struck_vehicle: usize,
    pub arm_down_on_occupied: u64,
    pub other_violations: usize,
    pub recovery_median_s: Option<f64>,
    pub recovery_max_s: Option<f64>,
    pub not_recovered: usize,
    pub baseline_median_s: Option<f64>,
    pub agent_starts: u64,
    pub agent_exits: usize,
    pub alarms_received: usize,
    pub observations_lagged: u64,
    /// Examples of each problem (bounded), for the log.
    pub examples: Vec<String>,
    pub fault_problems: Vec<String>,
    pub fault_problem_count: usize,
}

const MAX_EXAMPLES: usize = 40;

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Everything the analysis needs.
pub struct Inputs<'a> {
    pub tracker: &'a Tracker,
    pub events: &'a [Received],
    pub alarms: usize,
    pub event_topic: &'a str,
    pub faults: &'a [FaultRecord],
    pub windows: &'a [DeviceWindow],
    pub violations: &'a [ViolationKind],
    pub arm_down_on_occupied: u64,
    pub scale: f64,
    pub agent_starts: u64,
    pub agent_exits: usize,
}

pub fn analyse(i: &Inputs<'_>) -> Figures {
    let mut f = Figures {
        faults: i.faults.len(),
        observations_lagged: i.tracker.lagged,
        agent_starts: i.agent_starts,
        agent_exits: i.agent_exits,
        alarms_received: i.alarms,
        arm_down_on_occupied: i.arm_down_on_occupied,
        ..Figures::default()
    };
    let ex = |f: &mut Figures, s: String| {
        if f.examples.len() < MAX_EXAMPLES {
            f.examples.push(s);
        }
    };
    for r in i.faults {
        *f.faults_by_kind.entry(r.kind.clone()).or_default() += 1;
        for p in &r.problems {
            f.fault_problem_count += 1;
            if f.fault_problems.len() < MAX_EXAMPLES {
                f.fault_problems
                    .push(format!("fault #{} {}: {p}", r.n, r.kind));
            }
        }
    }

    // Events: unique by id, redeliveries and conflicts.
    let mut first: BTreeMap<String, (serde_json::Value, LaneEvent)> = BTreeMap::new();
    for m in i.events.iter().filter(|m| m.topic == i.event_topic) {
        f.events_received += 1;
        let parsed = serde_json::from_slice::<serde_json::Value>(&m.payload)
            .ok()
            .and_then(|v| {
                serde_json::from_value::<LaneEvent>(v.clone())
                    .ok()
                    .map(|e| (v, e))
            });
        let Some((v, e)) = parsed else {
            f.malformed += 1;
            ex(
                &mut f,
                format!("malformed event: {}", String::from_utf8_lossy(&m.payload)),
            );
            continue;
        };
        match first.get(&e.event_id) {
            None => {
                first.insert(e.event_id.clone(), (v, e));
            }
            Some((v0, _)) if *v0 == v => f.redelivered += 1,
            Some(_) => {
                f.conflicting += 1;
                ex(
                    &mut f,
                    format!(
                        "conflicting content for event_id {} (seq {})",
                        e.event_id, e.seq
                    ),
                );
            }
        }
    }
    let mut events: Vec<LaneEvent> = first.into_values().map(|(_, e)| e).collect();
    events.sort_by_key(|e| e.seq);
    f.unique_events = events.len();

    // Seq: gapless from 1, one event per number.
    let mut by_seq: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for e in &events {
        by_seq.entry(e.seq).or_default().insert(&e.event_id);
    }
    f.seq_first = by_seq.keys().next().copied();
    f.seq_last = by_seq.keys().next_back().copied();
    if let Some(last) = f.seq_last {
        let missing: Vec<u64> = (1..=last).filter(|s| !by_seq.contains_key(s)).collect();
        f.seq_gaps = missing.len();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(u64::to_string).collect();
            ex(
                &mut f,
                format!("seq numbers never received: {}", shown.join(", ")),
            );
        }
    }
    for (s, ids) in &by_seq {
        if ids.len() > 1 {
            f.seq_reused += 1;
            ex(
                &mut f,
                format!("seq {s} carried by {} different events", ids.len()),
            );
        }
    }

    // Attribution.
    let ps = &i.tracker.passages;
    let mut by_plate = HashMap::new();
    let mut by_etag = HashMap::new();
    let mut by_pass = HashMap::new();
    for (k, p) in ps.iter().enumerate() {
        by_plate.insert(norm(&p.plate), k);
        by_etag.insert(norm(&p.etag), k);
        by_pass.insert(norm(&p.pass_no), k);
    }
    let mut matched: Vec<Vec<&LaneEvent>> = vec![Vec::new(); ps.len()];
    let mut orphans = Vec::new();
    for e in &events {
        let v = e.vehicle.as_ref();
        let k = v
            .and_then(|v| v.plate.as_deref())
            .and_then(|x| by_plate.get(&norm(x)))
            .or_else(|| {
                v.and_then(|v| v.etag.as_deref())
                    .and_then(|x| by_etag.get(&norm(x)))
            })
            .or_else(|| e.gate_pass.as_deref().and_then(|x| by_pass.get(&norm(x))));
        match k {
            Some(&k) => matched[k].push(e),
            None => orphans.push(e),
        }
    }
    let mut order: Vec<usize> = (0..ps.len())
        .filter(|&k| ps[k].finished() && matched[k].is_empty())
        .collect();
    order.sort_by_key(|&k| ps[k].arrived_ms);
    let mut orphans = orphans.into_iter();
    for k in order {
        match orphans.next() {
            Some(e) => matched[k].push(e),
            None => break,
        }
    }
    for e in orphans {
        f.unattributed += 1;
        ex(
            &mut f,
            format!("event seq {} ({}) matches no truck", e.seq, e.event_id),
        );
    }

    // Per passage.
    let faulted = |device: &str, from: u64, to: u64| {
        i.windows
            .iter()
            .any(|w| w.device == device && w.from_ms <= to && w.to_ms >= from)
    };
    for (k, p) in ps.iter().enumerate() {
        if p.arrived_ms.is_none() {
            continue;
        }
        if !p.finished() {
            f.unfinished += 1;
            continue;
        }
        f.passages += 1;
        if p.started_ms.is_some() {
            f.released += 1;
        }
        if p.sent_back {
            f.sent_back += 1;
        }
        let evs = &matched[k];
        if evs.is_empty() {
            f.lost += 1;
            ex(
                &mut f,
                format!("lost: {} (truck {}) has no event", p.plate, p.index + 1),
            );
            continue;
        }
        if evs.len() > 1 {
            f.duplicated_trucks += 1;
            f.extra_events += evs.len() - 1;
            let seqs: Vec<String> = evs.iter().map(|e| e.seq.to_string()).collect();
            ex(
                &mut f,
                format!(
                    "duplicated: {} has {} events (seq {})",
                    p.plate,
                    evs.len(),
                    seqs.join(", ")
                ),
            );
        }
        let from = p.arrived_ms.unwrap_or(0);
        let to = p.before_arm_end().unwrap_or(u64::MAX);
        let want_plate = !faulted("camera.plate_front", from, to);
        let want_etag = !faulted("etag_reader", from, to);
        let want_pass = p.started_ms.is_some();
        for e in evs {
            let v = e.vehicle.as_ref();
            let mut miss = Vec::new();
            if want_plate && v.and_then(|v| v.plate.as_deref()).map(norm) != Some(norm(&p.plate)) {
                f.missing_plate += 1;
                miss.push("plate");
            }
            if want_etag && v.and_then(|v| v.etag.as_deref()).map(norm) != Some(norm(&p.etag)) {
                f.missing_etag += 1;
                miss.push("etag");
            }
            if want_pass && e.gate_pass.as_deref().map(norm) != Some(norm(&p.pass_no)) {
                f.missing_pass += 1;
                miss.push("gate pass");
            }
            if !miss.is_empty() {
                f.missing_identity += 1;
                ex(
                    &mut f,
                    format!(
                    "missing identity: event seq {} for {} lacks {} (outcome {:?}, reasons {:?})",
                    e.seq,
                    p.plate,
                    miss.join(", "),
                    e.outcome,
                    e.decision.reasons
                ),
                );
            }
        }
    }

    for v in i.violations {
        match v {
            ViolationKind::ArmStruckTruck => f.arm_struck_vehicle += 1,
            _ => f.other_violations += 1,
        }
    }

    // Recovery.
    let mut rec: Vec<f64> = i.faults.iter().filter_map(|r| r.recovery_s).collect();
    f.not_recovered = i.faults.iter().filter(|r| r.recovery_s.is_none()).count();
    f.recovery_max_s = rec.iter().copied().reduce(f64::max);
    f.recovery_median_s = median(&mut rec);
    // Baseline: stop -> start of passages untouched by any fault.
    let mut base: Vec<f64> = ps
        .iter()
        .filter_map(|p| {
            let (s, t) = (p.stopped_ms?, p.started_ms?);
            let clean = i.faults.iter().all(|r| {
                let end = r.served_ms.unwrap_or(u64::MAX);
                t < r.injected_ms || s > end
            });
            (clean && t >= s).then(|| (t - s) as f64 / 1000.0 / i.scale)
        })
        .collect();
    f.baseline_median_s = median(&mut base);
    f
}

/// The goals of a run; each violated one as a line.
pub fn violated(f: &Figures, goal_s: f64) -> Vec<String> {
    let mut v = Vec::new();
    let mut check = |bad: bool, what: String| {
        if bad {
            v.push(what);
        }
    };
    check(f.lost > 0, format!("{} lost", f.lost));
    // An identical redelivery of one event_id is QoS 1 at work (the
    // platform de-duplicates by event_id): not a second event for a truck.
    check(
        f.duplicated_trucks > 0 || f.unattributed > 0,
        format!(
            "duplicates: {} trucks with more than one event, {} unattributed events (want one event per truck)",
            f.duplicated_trucks, f.unattributed
        ),
    );
    check(f.conflicting > 0, format!("{} conflicting", f.conflicting));
    check(
        f.seq_gaps > 0 || f.seq_reused > 0 || f.seq_first.is_some_and(|s| s != 1),
        format!(
            "seq: {} gaps, {} numbers reused, first {:?}",
            f.seq_gaps, f.seq_reused, f.seq_first
        ),
    );
    check(f.malformed > 0, format!("{} malformed events", f.malformed));
    check(
        f.missing_identity > 0,
        format!("{} events missing identity", f.missing_identity),
    );
    check(
        f.arm_struck_vehicle > 0 || f.arm_down_on_occupied > 0 || f.other_violations > 0,
        format!(
            "arm onto a vehicle: {} struck, {} driven down on an occupied loop/photocell, {} other safety violations",
            f.arm_struck_vehicle, f.arm_down_on_occupied, f.other_violations
        ),
    );
    check(
        f.not_recovered > 0 || f.recovery_max_s.is_some_and(|m| m > goal_s),
        format!(
            "back to serving: max {:.2} s (goal {goal_s} s), {} faults not recovered",
            f.recovery_max_s.unwrap_or(0.0),
            f.not_recovered
        ),
    );
    check(
        f.fault_problem_count > 0,
        format!("{} fault handling problems", f.fault_problem_count),
    );
    check(
        f.observations_lagged > 0,
        format!(
            "{} lane observations missed by the harness",
            f.observations_lagged
        ),
    );
    v
}
