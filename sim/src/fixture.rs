//! The simulated platform's whitelist: one versioned set of gate passes,
//! vehicles, enterprises and controls for a site, turned into the batches of
//! shared/spec/platform.md ("Whitelist batches"): snapshots split into chunks
//! and single-chunk deltas.
//!
//! Layer: simulator data, pure. It knows the contract's record and batch types
//! (gate-proto) but nothing about MQTT, signatures or clocks: the caller passes
//! `issued_at` in and signs and publishes what it gets back.

use std::collections::{BTreeMap, VecDeque};

use gate_proto::messages::{
    BatchKind, Chunk, Control, Deletes, Enterprise, GatePass, Upserts, Vehicle, WhitelistBatch,
    WHITELIST_SCHEMA,
};

/// Deltas kept to answer `have_version = N` with "the deltas after N";
/// older requests get a snapshot.
pub const DEFAULT_HISTORY: usize = 1000;

/// Errors building or changing a fixture.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FixtureError {
    #[error("site `{0}` is not [A-Z0-9-]{{1,16}}")]
    BadSite(String),
    #[error("whitelist version must be >= 1 (0 means \"nothing\" to a lane)")]
    ZeroVersion,
    #[error("duplicate {kind} `{key}` in the same batch")]
    Duplicate { kind: &'static str, key: String },
    #[error("{kind} with an empty key")]
    EmptyKey { kind: &'static str },
    #[error("records_per_chunk must be >= 1")]
    ZeroChunk,
    #[error("snapshot needs more than u32::MAX chunks")]
    TooManyChunks,
    #[error("whitelist version overflow")]
    VersionOverflow,
}

/// A change to the whitelist: what a delta batch carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    pub upserts: Upserts,
    pub deletes: Deletes,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        let u = &self.upserts;
        let d = &self.deletes;
        u.gate_passes.is_empty()
            && u.vehicles.is_empty()
            && u.enterprises.is_empty()
            && u.controls.is_empty()
            && d.gate_passes.is_empty()
            && d.vehicles.is_empty()
            && d.enterprises.is_empty()
            && d.controls.is_empty()
    }
}

/// What a lane asking for batches after a version should get.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncAnswer {
    /// The lane is current: nothing to send.
    UpToDate,
    /// The deltas after the lane's version, in order.
    Deltas(Vec<WhitelistBatch>),
    /// A full snapshot of the current version (all chunks).
    Snapshot(Vec<WhitelistBatch>),
}

/// A site's versioned whitelist.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    site: String,
    version: u64,
    gate_passes: BTreeMap<String, GatePass>,
    vehicles: BTreeMap<String, Vehicle>,
    enterprises: BTreeMap<String, Enterprise>,
    controls: BTreeMap<String, Control>,
    /// Deltas already issued, oldest first (bounded by `history_limit`).
    history: VecDeque<WhitelistBatch>,
    history_limit: usize,
}

impl Fixture {
    /// An empty whitelist at `version` (>= 1).
    pub fn new(site: &str, version: u64) -> Result<Self, FixtureError> {
        if !gate_proto::valid_id(site) {
            return Err(FixtureError::BadSite(site.to_owned()));
        }
        if version == 0 {
            return Err(FixtureError::ZeroVersion);
        }
        Ok(Self {
            site: site.to_owned(),
            version,
            gate_passes: BTreeMap::new(),
            vehicles: BTreeMap::new(),
            enterprises: BTreeMap::new(),
            controls: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY,
        })
    }

    /// A whitelist holding `records` at `version`.
    pub fn with_records(site: &str, version: u64, records: Upserts) -> Result<Self, FixtureError> {
        let mut f = Self::new(site, version)?;
        check_unique(&records)?;
        f.upsert(records);
        Ok(f)
    }

    /// The initial whitelist of a scenario (its timed deltas are applied
    /// later, by the runner, through [`Fixture::apply`] and
    /// [`crate::scenario::DeltaSpec::to_delta`]). Relative validity times
    /// resolve against `start_unix_ms`.
    pub fn from_scenario(
        s: &crate::scenario::Scenario,
        start_unix_ms: i64,
    ) -> Result<Self, FixtureError> {
        Self::with_records(
            &s.lane.site,
            s.whitelist.version,
            s.whitelist.initial_records(start_unix_ms),
        )
    }

    /// How many deltas are kept for incremental sync (at least 1).
    pub fn set_history_limit(&mut self, n: usize) {
        self.history_limit = n.max(1);
        while self.history.len() > self.history_limit {
            self.history.pop_front();
        }
    }

    pub fn site(&self) -> &str {
        &self.site
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn gate_pass(&self, pass_no: &str) -> Option<&GatePass> {
        self.gate_passes.get(pass_no)
    }
    pub fn vehicle(&self, plate: &str) -> Option<&Vehicle> {
        self.vehicles.get(plate)
    }
    pub fn enterprise(&self, id: &str) -> Option<&Enterprise> {
        self.enterprises.get(id)
    }
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.get(id)
    }
    pub fn gate_passes(&self) -> impl Iterator<Item = &GatePass> {
        self.gate_passes.values()
    }
    pub fn vehicles(&self) -> impl Iterator<Item = &Vehicle> {
        self.vehicles.values()
    }
    pub fn enterprises(&self) -> impl Iterator<Item = &Enterprise> {
        self.enterprises.values()
    }
    pub fn controls(&self) -> impl Iterator<Item = &Control> {
        self.controls.values()
    }
    /// Gate passes whose plate is `plate`.
    pub fn passes_for_plate<'a>(&'a self, plate: &'a str) -> impl Iterator<Item = &'a GatePass> {
        self.gate_passes.values().filter(move |p| p.plate == plate)
    }
    /// Number of records (all four kinds).
    pub fn record_count(&self) -> usize {
        self.gate_passes.len() + self.vehicles.len() + self.enterprises.len() + self.controls.len()
    }

    /// Every record of the current version, as a snapshot split into chunks
    /// of at most `records_per_chunk` records. An empty whitelist is one empty
    /// chunk. Records are ordered enterprises, vehicles, gate passes,
    /// controls, each by key, so the output is deterministic.
    pub fn snapshot(
        &self,
        records_per_chunk: usize,
        issued_at: &str,
    ) -> Result<Vec<WhitelistBatch>, FixtureError> {
        if records_per_chunk == 0 {
            return Err(FixtureError::ZeroChunk);
        }
        enum Rec<'a> {
            E(&'a Enterprise),
            V(&'a Vehicle),
            P(&'a GatePass),
            C(&'a Control),
        }
        let all: Vec<Rec<'_>> = self
            .enterprises
            .values()
            .map(Rec::E)
            .chain(self.vehicles.values().map(Rec::V))
            .chain(self.gate_passes.values().map(Rec::P))
            .chain(self.controls.values().map(Rec::C))
            .collect();
        let groups: Vec<&[Rec<'_>]> = if all.is_empty() {
            vec![&[]]
        } else {
            all.chunks(records_per_chunk).collect()
        };
        let count = u32::try_from(groups.len()).map_err(|_| FixtureError::TooManyChunks)?;
        let mut out = Vec::with_capacity(groups.len());
        for (index, group) in (0u32..).zip(groups) {
            let mut up = Upserts::default();
            for r in group {
                match r {
                    Rec::E(e) => up.enterprises.push((*e).clone()),
                    Rec::V(v) => up.vehicles.push((*v).clone()),
                    Rec::P(p) => up.gate_passes.push((*p).clone()),
                    Rec::C(c) => up.controls.push((*c).clone()),
                }
            }
            out.push(WhitelistBatch {
                schema: WHITELIST_SCHEMA.to_owned(),
                site: self.site.clone(),
                kind: BatchKind::Snapshot,
                from_version: None,
                version: self.version,
                chunk: Chunk { index, count },
                issued_at: issued_at.to_owned(),
                upserts: up,
                deletes: Deletes::default(),
            });
        }
        Ok(out)
    }

    /// Apply `delta` as version `version() + 1` and return the delta batch
    /// (kept in the history for incremental sync). Deleting a key that does
    /// not exist is allowed (the lane ignores it too); upserting the same key
    /// twice in one delta is an error.
    pub fn apply(&mut self, delta: Delta, issued_at: &str) -> Result<WhitelistBatch, FixtureError> {
        check_unique(&delta.upserts)?;
        let next = self
            .version
            .checked_add(1)
            .ok_or(FixtureError::VersionOverflow)?;
        let batch = WhitelistBatch {
            schema: WHITELIST_SCHEMA.to_owned(),
            site: self.site.clone(),
            kind: BatchKind::Delta,
            from_version: Some(self.version),
            version: next,
            chunk: Chunk { index: 0, count: 1 },
            issued_at: issued_at.to_owned(),
            upserts: delta.upserts.clone(),
            deletes: delta.deletes.clone(),
        };
        let d = delta.deletes;
        for k in &d.gate_passes {
            self.gate_passes.remove(k);
        }
        for k in &d.vehicles {
            self.vehicles.remove(k);
        }
        for k in &d.enterprises {
            self.enterprises.remove(k);
        }
        for k in &d.controls {
            self.controls.remove(k);
        }
        self.upsert(delta.upserts);
        self.version = next;
        self.history.push_back(batch.clone());
        while self.history.len() > self.history_limit {
            self.history.pop_front();
        }
        Ok(batch)
    }

    /// The deltas after `from` (in order), or `None` when the history does
    /// not reach back to `from` or `from` is not a version this whitelist had
    /// (then only a snapshot helps). `Some(vec![])` when `from` is current.
    pub fn deltas_after(&self, from: u64) -> Option<Vec<WhitelistBatch>> {
        if from == self.version {
            return Some(Vec::new());
        }
        if from == 0 || from > self.version {
            return None;
        }
        let start = self
            .history
            .iter()
            .position(|b| b.from_version == Some(from))?;
        Some(self.history.iter().skip(start).cloned().collect())
    }

    /// What to send a lane that reports `have_version` on `.../sync`
    /// (shared/spec/platform.md): 0 -> a snapshot; N < current -> the deltas
    /// after N if still held, else a snapshot; N == current -> nothing;
    /// N > current (a lane ahead of the platform) -> a snapshot.
    pub fn answer_sync(
        &self,
        have_version: u64,
        records_per_chunk: usize,
        issued_at: &str,
    ) -> Result<SyncAnswer, FixtureError> {
        if have_version == self.version {
            return Ok(SyncAnswer::UpToDate);
        }
        if have_version != 0 {
            if let Some(d) = self.deltas_after(have_version) {
                return Ok(SyncAnswer::Deltas(d));
            }
        }
        Ok(SyncAnswer::Snapshot(
            self.snapshot(records_per_chunk, issued_at)?,
        ))
    }

    fn upsert(&mut self, up: Upserts) {
        for p in up.gate_passes {
            self.gate_passes.insert(p.pass_no.clone(), p);
        }
        for v in up.vehicles {
            self.vehicles.insert(v.plate.clone(), v);
        }
        for e in up.enterprises {
            self.enterprises.insert(e.id.clone(), e);
        }
        for c in up.controls {
            self.controls.insert(c.id.clone(), c);
        }
    }
}

fn check_unique(up: &Upserts) -> Result<(), FixtureError> {
    fn keys<'a>(kind: &'static str, it: impl Iterator<Item = &'a str>) -> Result<(), FixtureError> {
        let mut seen = std::collections::BTreeSet::new();
        for k in it {
            if k.is_empty() {
                return Err(FixtureError::EmptyKey { kind });
            }
            if !seen.insert(k) {
                return Err(FixtureError::Duplicate {
                    kind,
                    key: k.to_owned(),
                });
            }
        }
        Ok(())
    }
    keys(
        "gate pass",
        up.gate_passes.iter().map(|p| p.pass_no.as_str()),
    )?;
    keys("vehicle", up.vehicles.iter().map(|v| v.plate.as_str()))?;
    keys("enterprise", up.enterprises.iter().map(|e| e.id.as_str()))?;
    keys("control", up.controls.iter().map(|c| c.id.as_str()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_proto::messages::{
        ControlAction, Credit, PassKind, PassStatus, PassUses, PlateColour, TargetKind,
    };

    const T: &str = "2026-11-27T10:00:00.000Z";

    fn ent(id: &str) -> Enterprise {
        Enterprise {
            id: id.into(),
            name: format!("企业{id}"),
            credit: Credit::Aeo,
        }
    }
    fn veh(plate: &str) -> Vehicle {
        Vehicle {
            plate: plate.into(),
            plate_colour: Some(PlateColour::Yellow),
            etag: None,
            tare_kg: Some(8600.0),
            enterprise: Some("E1".into()),
            credit: None,
        }
    }
    fn pass(no: &str, plate: &str) -> GatePass {
        GatePass {
            pass_no: no.into(),
            status: PassStatus::Approved,
            kind: PassKind::Goods,
            plate: plate.into(),
            etag: None,
            trailer_plate: None,
            containers: vec![],
            declared_total_kg: Some(30000.0),
            enterprise: Some("E1".into()),
            goods_category: None,
            va_code: None,
            valid_from: None,
            valid_until: None,
            uses: PassUses::Single,
            eseal: None,
        }
    }
    fn ctl(id: &str) -> Control {
        Control {
            id: id.into(),
            target_kind: TargetKind::Plate,
            target: "琼A12345".into(),
            action: ControlAction::Inspect,
            note: None,
            valid_until: None,
        }
    }
    fn sample() -> Fixture {
        Fixture::with_records(
            "HK-XINHAI",
            5,
            Upserts {
                gate_passes: vec![pass("P1", "琼A12345"), pass("P2", "琼B23456")],
                vehicles: vec![veh("琼A12345"), veh("琼B23456")],
                enterprises: vec![ent("E1")],
                controls: vec![ctl("C1")],
            },
        )
        .unwrap()
    }

    #[test]
    fn snapshot_chunks_cover_every_record_once() {
        let f = sample();
        for per in [1usize, 2, 3, 6, 100] {
            let chunks = f.snapshot(per, T).unwrap();
            let n = chunks.len();
            assert_eq!(n, 6usize.div_ceil(per), "per={per}");
            let mut total = 0;
            for (i, c) in chunks.iter().enumerate() {
                c.validate().unwrap();
                assert_eq!(c.kind, BatchKind::Snapshot);
                assert_eq!(c.version, 5);
                assert_eq!(c.chunk.index as usize, i);
                assert_eq!(c.chunk.count as usize, n);
                let u = &c.upserts;
                let k =
                    u.gate_passes.len() + u.vehicles.len() + u.enterprises.len() + u.controls.len();
                assert!(k <= per && k > 0);
                total += k;
            }
            assert_eq!(total, 6);
        }
        assert_eq!(f.snapshot(0, T), Err(FixtureError::ZeroChunk));
        let empty = Fixture::new("HK", 1).unwrap().snapshot(10, T).unwrap();
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].chunk, Chunk { index: 0, count: 1 });
    }

    #[test]
    fn deltas_and_sync_answers() {
        let mut f = sample();
        assert_eq!(f.answer_sync(5, 10, T).unwrap(), SyncAnswer::UpToDate);
        let d1 = f
            .apply(
                Delta {
                    upserts: Upserts {
                        controls: vec![ctl("C2")],
                        ..Upserts::default()
                    },
                    deletes: Deletes {
                        gate_passes: vec!["P2".into()],
                        ..Deletes::default()
                    },
                },
                T,
            )
            .unwrap();
        d1.validate().unwrap();
        assert_eq!((d1.from_version, d1.version), (Some(5), 6));
        assert!(f.gate_pass("P2").is_none());
        assert!(f.control("C2").is_some());
        let d2 = f.apply(Delta::default(), T).unwrap();
        assert_eq!((d2.from_version, d2.version), (Some(6), 7));
        assert_eq!(f.deltas_after(5).unwrap(), vec![d1.clone(), d2.clone()]);
        assert_eq!(f.deltas_after(6).unwrap(), vec![d2.clone()]);
        assert_eq!(f.deltas_after(7).unwrap(), vec![]);
        // Before the first delta we hold, after the current, and 0: snapshots.
        for v in [0, 4, 8] {
            match f.answer_sync(v, 10, T).unwrap() {
                SyncAnswer::Snapshot(s) => assert_eq!(s[0].version, 7),
                other => panic!("{v}: {other:?}"),
            }
        }
        assert_eq!(
            f.answer_sync(6, 10, T).unwrap(),
            SyncAnswer::Deltas(vec![d2])
        );
        // A short history forgets old deltas: then a snapshot.
        f.set_history_limit(1);
        assert!(f.deltas_after(5).is_none());
        assert!(matches!(
            f.answer_sync(5, 10, T).unwrap(),
            SyncAnswer::Snapshot(_)
        ));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Fixture::new("hk", 1),
            Err(FixtureError::BadSite("hk".into()))
        );
        assert_eq!(Fixture::new("HK", 0), Err(FixtureError::ZeroVersion));
        let dup = Upserts {
            vehicles: vec![veh("琼A12345"), veh("琼A12345")],
            ..Upserts::default()
        };
        assert!(matches!(
            Fixture::with_records("HK", 1, dup.clone()),
            Err(FixtureError::Duplicate { .. })
        ));
        let mut f = sample();
        let before = f.clone();
        assert!(f
            .apply(
                Delta {
                    upserts: dup,
                    deletes: Deletes::default()
                },
                T
            )
            .is_err());
        assert_eq!(f, before, "a refused delta changes nothing");
    }
}
