//! What the lane shows and reports about itself: readers and the scale
//! going down or coming back (inputs for the lane), admission from the
//! outbox pressure, the view (gatectl, the simulator) and the status sent
//! to the platform.
//!
//! Layer: agent runtime; reads driver health, writes nothing but channels.

use std::collections::BTreeMap;

use gate_core::identified::Device;
use gate_core::lane::Input;
use gate_proto::messages::{DeviceStatus, Severity};
use tracing::{info, warn};

use super::{LaneView, Runner};

impl Runner {
    /// RFID readers that went down (their reading withdrawn after failed
    /// polls) or came back since last asked: `DeviceFault` / `DeviceOk` for
    /// the lane, which raises `device_fault` / `device_recovered` once and
    /// does not wait for a reader it knows is down.
    pub(super) fn reader_changes(&self, told: &mut BTreeMap<Device, bool>) -> Vec<Input> {
        let mut out = Vec::new();
        for (role, (name, reader)) in &self.devs.readers {
            let up = reader.subscribe().borrow().is_some();
            let h = reader.health().get();
            let state = if up {
                true
            } else if h.consecutive_errors > 0 {
                false
            } else {
                continue; // not polled yet
            };
            if told.insert(*role, state) == Some(state) {
                continue;
            }
            if state {
                out.push(Input::DeviceOk(*role));
            } else {
                out.push(Input::DeviceFault {
                    device: *role,
                    detail: format!(
                        "reader {name} not answering ({} failed poll(s) in a row{})",
                        h.consecutive_errors,
                        h.last_error
                            .as_ref()
                            .map(|e| format!(", last: {e}"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        out
    }

    /// The weighbridge is down (its reading withdrawn, or, with
    /// `min_errors` > 0, that many failed requests in a row and no reading):
    /// tell the lane once (`device_fault` alarm; it stops waiting for a
    /// weight). A reading again clears it (`device_recovered`).
    /// `has_reading`: the driver holds a reading now (the lane task's own
    /// receiver says so; no new subscription per check).
    pub(super) fn scale_fault(
        &self,
        told: &mut Option<bool>,
        min_errors: u32,
        has_reading: bool,
    ) -> Option<Input> {
        let wb = self.devs.weighbridge.as_ref()?;
        if *told == Some(false) {
            return None;
        }
        let h = wb.health().get();
        if min_errors > 0 && (h.consecutive_errors < min_errors || has_reading) {
            return None;
        }
        *told = Some(false);
        let detail = format!(
            "weighbridge not answering ({} failed request(s) in a row{})",
            h.consecutive_errors,
            h.last_error
                .as_ref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        );
        warn!("{detail}");
        Some(Input::DeviceFault {
            device: Device::Scale,
            detail,
        })
    }

    /// Stop admitting vehicles while the outbox holds more events, alarms
    /// and replies than its quota (no photo left to evict: every further
    /// passage would grow the disk use; docs/store.md), resume once the
    /// link has drained it below.
    pub(super) fn admission(&mut self, p: gate_store::Pressure) -> Option<Input> {
        let critical = p == gate_store::Pressure::Critical;
        let store_failing = self.stats.store_failing.is_some() || !self.unfinished.is_empty();
        match (
            critical || store_failing,
            self.lane.admission_stopped().is_some(),
        ) {
            (true, false) if store_failing => {
                let why =
                    format!(
                    "the lane database cannot be written ({}): no vehicle admitted until it can",
                    self.stats.store_failing.as_deref().unwrap_or("events waiting to be journaled")
                );
                warn!("{why}");
                let link = self.link.clone();
                let alarm = why.clone();
                tokio::spawn(async move {
                    link.alarm("store_error", Severity::Critical, alarm).await;
                });
                Some(Input::Admission(Some(why)))
            }
            (true, false) => {
                let why = "outbox over its quota with events alone: no vehicle admitted until the platform takes them";
                warn!("{why}");
                let link = self.link.clone();
                tokio::spawn(async move {
                    link.alarm("outbox_filling", Severity::Critical, why).await;
                });
                Some(Input::Admission(Some(why.into())))
            }
            (false, true) => {
                info!(pressure = ?p, "outbox below its quota and the store writable: admitting vehicles again");
                Some(Input::Admission(None))
            }
            _ => None,
        }
    }

    /// Called after every lane input: no I/O here (the whitelist version
    /// comes from the link's state, which follows every applied batch).
    pub(super) fn update_view(&self) {
        let link = self.link.state();
        let seq = self.lane.current_seq();
        let v = LaneView {
            state: self.lane.state().name().to_owned(),
            seq,
            event_id: self.current_event_id(),
            board: Some(self.lane.board()),
            led: self.stats.led.clone(),
            link_connected: link.connected,
            whitelist_version: link.whitelist_version,
            clock_synced: self.clock.synced(),
            decisions: self.stats.decisions,
            last_decision_us: self.stats.last_decision_us,
            finished: self.stats.finished,
            admission_stopped: self.lane.admission_stopped().map(str::to_owned),
            hold: self.hold_status(),
            passage: self.lane.passage().cloned(),
        };
        // Watchers (the console's event streams, the control server, the
        // service status) wake only when something they show changed, not
        // at every input of the lane.
        self.view_tx.send_if_modified(|cur| {
            if *cur == v {
                false
            } else {
                *cur = v;
                true
            }
        });
        // The console's photos: replaced when the passage or its photo
        // count changes (photos are only ever added to a passage).
        let photos = seq.and_then(|s| self.seqs.get(&s)).map(|c| &c.photos);
        self.photos_tx.send_if_modified(|p| {
            let n = photos.map_or(0, Vec::len);
            if p.seq == seq && p.photos.len() == n {
                return false;
            }
            p.seq = seq;
            p.photos = photos.cloned().unwrap_or_default();
            true
        });
    }

    /// The hold in progress, if the lane holds a vehicle.
    pub(super) fn hold_status(&self) -> Option<gate_proto::messages::HoldStatus> {
        if !matches!(self.lane.state(), gate_core::lane::State::Hold { .. }) {
            return None;
        }
        let seq = self.lane.current_seq()?;
        Some(gate_proto::messages::HoldStatus {
            seq,
            event_id: self.seqs.get(&seq).map(|c| c.event_id.clone()),
            reasons: self
                .lane
                .decision()
                .map(|d| d.reasons.clone())
                .unwrap_or_default(),
            led: self.stats.led.clone(),
        })
    }

    pub(super) fn publish_status(&self) {
        let devices = self
            .devs
            .registry
            .snapshot()
            .into_iter()
            .map(|(name, h)| DeviceStatus {
                // Down = its last exchange failed. An entry with no traffic
                // (an idle bus, a camera between vehicles, an unused
                // device) has nothing wrong with it: `last_ok_at` says how
                // fresh it is.
                ok: h.consecutive_errors == 0,
                last_ok_at: h.last_success_wall.map(|t| {
                    gate_proto::time::format_unix_ms(
                        t.duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(0),
                    )
                }),
                errors: h.total_errors,
                detail: h.last_error.clone(),
                name,
            })
            .collect();
        self.link.set_status(gate_link::StatusInput {
            devices,
            clock_synced: Some(self.clock.synced()),
            lane_state: Some(self.lane.state().name().to_owned()),
            barrier: Some(format!("{:?}", self.lane.board().barrier).to_lowercase()),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            hold: self.hold_status(),
        });
        self.update_view();
    }
}

impl LaneView {
    /// One line for the service manager (`systemctl status gate-agent`):
    /// lane state, platform, whitelist, passages, admission.
    pub fn service_status(&self) -> String {
        let mut s = format!("lane {}", self.state);
        if let Some(seq) = self.seq {
            s.push_str(&format!(" (vehicle {seq})"));
        }
        s.push_str(if self.link_connected {
            "; platform connected"
        } else {
            "; platform unreachable"
        });
        s.push_str(&format!(
            "; whitelist v{}; {} passages since start",
            self.whitelist_version, self.finished
        ));
        if let Some(why) = &self.admission_stopped {
            s.push_str(&format!("; admission stopped: {why}"));
        }
        s
    }
}
