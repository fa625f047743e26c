//! Turning the lane core's [`EventRecord`] into the platform contract's
//! [`LaneEvent`]: wall-clock times, ids, photos, whitelist version.
//! Pure: no I/O.

use gate_core::decision::Decision;
use gate_core::lane::EventRecord;
use gate_proto::formats::iso6346;
use gate_proto::messages::{
    ContainerRead, DecidedBy, DecisionResult, DeviceReads, Direction, EventDecision, LaneEvent,
    OfficerEntryReport, Outcome, PhotoRef, PlateReadReport, Reason, TrailerIds, VehicleIds,
    EVENT_SCHEMA,
};
use sha2::{Digest, Sha256};

/// One photo kept as evidence for an event.
#[derive(Clone, Debug)]
pub struct Photo {
    pub camera: String,
    pub jpeg: bytes::Bytes,
}

impl Photo {
    pub fn reference(&self) -> PhotoRef {
        PhotoRef {
            camera: self.camera.clone(),
            sha256: hex(&Sha256::digest(&self.jpeg)),
            bytes: self.jpeg.len() as u64,
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// What the runtime knows beside the record.
pub struct EventContext<'a> {
    pub event_id: &'a str,
    pub site: &'a str,
    pub lane: &'a str,
    pub direction: Direction,
    /// Lane ms -> Unix ms.
    pub wall_ms: &'a (dyn Fn(u64) -> i64 + Sync),
    pub clock_synced: bool,
    pub photos: &'a [Photo],
    /// The whitelist version when no decision carries one.
    pub whitelist_version: u64,
}

/// The decision part of an event. A vehicle that left before any decision
/// is reported as a local hold for incomplete data (H08): the contract
/// needs a result and at least one reason.
pub fn event_decision(d: Option<&Decision>, whitelist_version: u64) -> EventDecision {
    match d {
        Some(d) => EventDecision {
            result: d.result,
            reasons: d.reasons.clone(),
            by: d.by,
            officer: d.officer.clone(),
            offline: d.offline,
            whitelist_version: if d.whitelist_version > 0 {
                d.whitelist_version
            } else {
                whitelist_version
            },
        },
        None => EventDecision {
            result: DecisionResult::Hold,
            reasons: vec![Reason::H08],
            by: DecidedBy::Local,
            officer: None,
            offline: false,
            whitelist_version,
        },
    }
}

/// Build the lane event. `seq` is a placeholder: the store assigns the
/// gapless per-lane number when it finishes the event.
pub fn lane_event(rec: &EventRecord, ctx: &EventContext<'_>) -> LaneEvent {
    let wall = |ms: u64| gate_proto::time::format_unix_ms((ctx.wall_ms)(ms));
    let id = &rec.identified;
    let decision = rec.decision.as_ref();
    // The best plate read: the decision's (normalised, repaired), else the most confident read.
    let best_read = id
        .plates
        .iter()
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
    let plate = decision
        .and_then(|d| d.plate.clone())
        .or_else(|| best_read.map(|p| p.text.clone()));
    let vehicle = VehicleIds {
        plate_colour: best_read.and_then(|p| p.colour),
        plate_confidence: best_read.map(|p| p.confidence),
        plate,
        etag: id.etags.first().cloned(),
    };
    let trailer = if id.trailer_plate.is_some() || id.trailer_etag.is_some() {
        Some(TrailerIds {
            plate: id.trailer_plate.as_ref().map(|p| p.text.clone()),
            etag: id.trailer_etag.clone(),
        })
    } else {
        None
    };
    let containers: Vec<ContainerRead> = match decision {
        Some(d) if !d.containers.is_empty() => d
            .containers
            .iter()
            .map(|c| ContainerRead {
                number: c.number.clone().unwrap_or_else(|| c.read.clone()),
                position: c
                    .position
                    .unwrap_or(gate_proto::messages::ContainerPosition::Front),
                check_digit_ok: c.check_digit_ok,
                confidence: c.confidence,
            })
            .collect(),
        _ => id
            .containers
            .iter()
            .map(|c| ContainerRead {
                number: c.number.clone(),
                position: c.position,
                check_digit_ok: iso6346::parse(&c.number).is_ok(),
                confidence: c.confidence,
            })
            .collect(),
    };
    let decided_ms = rec.decided_ms.unwrap_or(rec.finished_ms);
    LaneEvent {
        schema: EVENT_SCHEMA.into(),
        event_id: ctx.event_id.to_owned(),
        seq: 0,
        site: ctx.site.to_owned(),
        lane: ctx.lane.to_owned(),
        direction: ctx.direction,
        arrived_at: wall(rec.arrived_ms),
        decided_at: wall(decided_ms),
        finished_at: wall(rec.finished_ms),
        vehicle: Some(vehicle),
        trailer,
        containers,
        eseal: id.eseal.clone(),
        weight: id.weight.clone(),
        gate_pass: decision.and_then(|d| d.gate_pass.clone()),
        decision: event_decision(decision, ctx.whitelist_version),
        outcome: rec.outcome,
        photos: ctx.photos.iter().map(Photo::reference).collect(),
        clock_synced: ctx.clock_synced,
        led_text: decision
            .map(|d| d.led_text.clone())
            .filter(|t| !t.is_empty()),
        note: rec.note.clone(),
        officer_entry: officer_entry(&rec.identified),
    }
}

/// The officer's entry with the devices' own reads beside it.
fn officer_entry(id: &gate_core::identified::Identified) -> Option<OfficerEntryReport> {
    let o = id.officer.as_ref()?;
    Some(OfficerEntryReport {
        officer: o.officer.clone(),
        note: o.note.clone(),
        entered: o.data.clone(),
        read: DeviceReads {
            plates: id
                .plates
                .iter()
                .map(|p| PlateReadReport {
                    text: p.text.clone(),
                    confidence: p.confidence,
                    camera: p.camera.as_str().to_owned(),
                })
                .collect(),
            trailer_plate: id.trailer_plate.as_ref().map(|p| p.text.clone()),
            etags: id.etags.clone(),
            containers: id.containers.iter().map(|c| c.number.clone()).collect(),
            gross_kg: id.weight.as_ref().map(|w| w.gross_kg),
        },
    })
}

/// The record of a passage that has just begun: what the journal keeps as
/// the draft event (recovery after a crash finishes it as a timeout with
/// what was known).
pub fn draft_record(arrived_ms: u64) -> EventRecord {
    EventRecord {
        seq: 0,
        arrived_ms,
        decided_ms: None,
        finished_ms: arrived_ms,
        identified: Default::default(),
        decision: None,
        outcome: Outcome::Timeout,
        officer: None,
        note: None,
        tailgating: false,
        stopped_short: false,
        alarms: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_core::identified::{Device, Identified, PlateSeen};

    fn ctx<'a>(photos: &'a [Photo], wall: &'a (dyn Fn(u64) -> i64 + Sync)) -> EventContext<'a> {
        EventContext {
            event_id: "01JTEST",
            site: "HK-XINHAI",
            lane: "L03",
            direction: Direction::Exit,
            wall_ms: wall,
            clock_synced: true,
            photos,
            whitelist_version: 7,
        }
    }

    #[test]
    fn reversed_before_decision_is_a_valid_event() {
        let wall = |ms: u64| 1_764_028_800_000 + ms as i64;
        let mut rec = EventRecord {
            seq: 1,
            arrived_ms: 1000,
            decided_ms: None,
            finished_ms: 5000,
            identified: Identified::default(),
            decision: None,
            outcome: Outcome::Reversed,
            officer: None,
            note: None,
            tailgating: false,
            stopped_short: false,
            alarms: vec![],
        };
        rec.identified.plates.push(PlateSeen {
            text: "琼A12345".into(),
            confidence: 0.9,
            colour: None,
            camera: Device::PlateFront,
        });
        let photos = [Photo {
            camera: "plate_front".into(),
            jpeg: bytes::Bytes::from_static(b"\xff\xd8abc"),
        }];
        let ev = lane_event(&rec, &ctx(&photos, &wall));
        let v = serde_json::to_value(&ev).expect("json");
        let back = gate_proto::messages::validate_event(&v).expect("valid event");
        assert_eq!(back.decision.reasons, vec![Reason::H08]);
        assert_eq!(back.decision.whitelist_version, 7);
        assert_eq!(back.arrived_at, "2025-11-25T00:00:01.000Z");
        assert_eq!(back.decided_at, back.finished_at);
        assert_eq!(back.photos[0].bytes, 5);
        assert_eq!(back.photos[0].sha256.len(), 64);
        assert_eq!(
            back.vehicle.and_then(|v| v.plate).as_deref(),
            Some("琼A12345")
        );
    }
}
