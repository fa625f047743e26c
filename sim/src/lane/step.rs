//! The lane task's work: stepping the physics with lane time, ticking the board
//! firmware and feeding every device what it senses, and the data observations.

use std::time::UNIX_EPOCH;

use crate::devices::camera::SceneTruck;
use crate::devices::rfid::TagInLane;
use crate::physics::{Actuators, EventKind, TruckId};

use super::{lock, Inner, Observation, ScaleOut, State, MAX_HISTORY};

impl Inner {
    /// When the data a decision needs became available, device side: the
    /// indicator's first stable reading of the truck waiting at the line
    /// (within two divisions of the load on the platform), each reader's
    /// first report of the truck's tags. Uses the devices' state of the
    /// previous step (observed once per truck each).
    fn data_observations(&self, st: &mut State, now: u64) -> Vec<crate::physics::Event> {
        let mut out = Vec::new();
        let waiting = st.physics.waiting_truck();
        let load = st.physics.platform_load_kg();
        if let (Some(id), Some(scale)) = (waiting, st.scales.first()) {
            let r = scale.model.reading();
            let d = f64::from(scale.model.config().division_kg.max(1));
            if let Some(e) = st.trucks.get_mut(&id) {
                if !e.seen[0]
                    && r.stable
                    && load > 0.0
                    && (r.weight_kg as f64 - load).abs() <= 2.0 * d
                {
                    e.seen[0] = true;
                    out.push(crate::physics::Event {
                        t_ms: now,
                        truck: id,
                        kind: EventKind::ScaleSettled {
                            gross_kg: r.weight_kg as f64,
                        },
                    });
                }
            }
        }
        // Only the trucks in the lane can be read (the map also remembers
        // trucks gone long ago), and only those not yet seen by a reader.
        let State {
            physics, trucks, ..
        } = st;
        let unseen: Vec<TruckId> = physics
            .trucks()
            .map(|t| t.id)
            .filter(|id| trucks.get(id).is_some_and(|e| !(e.seen[1] && e.seen[2])))
            .collect();
        if unseen.is_empty() {
            return out;
        }
        let etags = self.etag.as_ref().map(|r| lock(&r.reader).reported());
        let seals = self.eseal.as_ref().map(|r| lock(&r.reader).reported());
        for id in &unseen {
            let Some(e) = trucks.get_mut(id) else {
                continue;
            };
            if let Some(rep) = &etags {
                if !e.seen[1] && e.etags.iter().any(|(epc, _)| rep.contains(epc)) {
                    e.seen[1] = true;
                    out.push(crate::physics::Event {
                        t_ms: now,
                        truck: *id,
                        kind: EventKind::TagFirstRead { eseal: false },
                    });
                }
            }
            if let (Some(rep), Some((epc, _))) = (&seals, e.eseal) {
                if !e.seen[2] && rep.contains(&epc) {
                    e.seen[2] = true;
                    out.push(crate::physics::Event {
                        t_ms: now,
                        truck: *id,
                        kind: EventKind::TagFirstRead { eseal: true },
                    });
                }
            }
        }
        out
    }

    /// Steps the lane from its last time to the clock's now.
    pub(super) fn step(&self) {
        let now = self.clock.now_ms();
        let mut st = lock(&self.state);
        if now <= st.last_ms {
            return;
        }
        let st = &mut *st;
        // Physics and board, in lock-step sub-steps of at most 10 lane ms.
        {
            let mut board = lock(self.board.board());
            let mut t = st.last_ms;
            while t < now {
                let dt = (now - t).min(10);
                t += dt;
                let sensors = st.physics.sensors();
                let raw = self.board.raw_inputs(&sensors);
                let out = board.tick(t, raw);
                let bad = out.motor_down && (sensors.safety_loop || sensors.photocell);
                if bad && !st.down_on_occupied_prev {
                    st.down_on_occupied += 1;
                    tracing::error!(lane = %self.name, t_ms = t, "arm driven down onto an occupied safety loop / photocell");
                }
                st.down_on_occupied_prev = bad;
                st.physics.set_actuators(Actuators {
                    motor_up: out.motor_up,
                    motor_down: out.motor_down,
                    light_green: out.light_green,
                });
                st.physics.step(dt);
            }
        }
        st.last_ms = now;

        // Observations.
        let mut events = st.physics.drain_events();
        events.extend(self.data_observations(st, now));
        if !events.is_empty() {
            let mut hist = lock(&self.history);
            for e in events {
                let plate = st
                    .trucks
                    .get(&e.truck)
                    .map(|x| x.spec.plate.clone())
                    .unwrap_or_default();
                let wall_ms = self
                    .clock
                    .wall_time(e.t_ms)
                    .duration_since(UNIX_EPOCH)
                    .map(crate::clock::duration_ms)
                    .unwrap_or(0);
                let o = Observation {
                    t_ms: e.t_ms,
                    wall_ms,
                    truck: e.truck,
                    plate,
                    kind: e.kind,
                };
                tracing::debug!(lane = %self.name, truck = %o.truck, plate = %o.plate, kind = ?o.kind, "observation");
                if matches!(o.kind, EventKind::StruckByArm | EventKind::HitArm) {
                    tracing::error!(lane = %self.name, truck = %o.truck, plate = %o.plate, kind = ?o.kind, "SAFETY VIOLATION");
                }
                let _ = self.obs_tx.send(o.clone());
                if hist.len() >= MAX_HISTORY {
                    hist.pop_front();
                }
                hist.push_back(o);
            }
        }

        // Weighbridges.
        let load = st.physics.platform_load_kg();
        for s in &mut st.scales {
            s.model.advance(now, load);
            let r = s.model.reading();
            match &s.out {
                ScaleOut::Modbus(m) => lock(m).set_reading(r),
                ScaleOut::Ascii(tx) => {
                    tx.send_replace(r);
                }
            }
        }

        // Tags in the lane.
        let mut etags = Vec::new();
        let mut seals = Vec::new();
        let mut scene = Vec::new();
        for t in st.physics.trucks() {
            let Some(e) = st.trucks.get(&t.id) else {
                continue;
            };
            for &(epc, off) in &e.etags {
                etags.push(TagInLane {
                    epc,
                    x: t.front_x - off,
                    seal: None,
                });
            }
            if let Some((epc, state)) = e.eseal {
                seals.push(TagInLane {
                    epc,
                    x: t.rear_x() + 0.1,
                    seal: Some(state),
                });
            }
            scene.push(SceneTruck {
                front_x: t.front_x,
                rear_x: t.rear_x(),
                speed: t.speed,
                ident: e.ident.clone(),
            });
        }
        if let Some(r) = &self.etag {
            lock(&r.reader).advance(now, &etags);
        }
        if let Some(r) = &self.eseal {
            lock(&r.reader).advance(now, &seals);
        }
        for c in &self.cameras {
            c.update_scene(&scene);
        }
    }
}
