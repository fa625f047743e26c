//! The platform's whitelist in a scenario: the initial records, the timed
//! deltas, and their conversion to contract records.

use gate_proto::messages::{
    Control, ControlAction, Credit, Deletes, Enterprise, GatePass, GoodsCategory, PassKind,
    PassStatus, PassUses, PlateColour, TargetKind, Upserts, Vehicle,
};
use serde::{Deserialize, Serialize};

use crate::fixture::Delta;

use super::{approved, goods, one, resolve_time, single};

// ---------------------------------------------------------------- whitelist

/// The platform's whitelist at the start and its timed changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhitelistSpec {
    /// Version of the initial whitelist (>= 1); each delta adds 1.
    #[serde(default = "one")]
    pub version: u64,
    #[serde(default)]
    pub enterprises: Vec<EnterpriseSpec>,
    #[serde(default)]
    pub vehicles: Vec<VehicleSpec>,
    #[serde(default)]
    pub gate_passes: Vec<GatePassSpec>,
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
    #[serde(default)]
    pub deltas: Vec<DeltaSpec>,
}

impl Default for WhitelistSpec {
    fn default() -> Self {
        Self {
            version: 1,
            enterprises: Vec::new(),
            vehicles: Vec::new(),
            gate_passes: Vec::new(),
            controls: Vec::new(),
            deltas: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseSpec {
    pub id: String,
    pub name: String,
    pub credit: Credit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleSpec {
    pub plate: String,
    #[serde(default)]
    pub plate_colour: Option<PlateColour>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub tare_kg: Option<f64>,
    #[serde(default)]
    pub enterprise: Option<String>,
    #[serde(default)]
    pub credit: Option<Credit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatePassSpec {
    pub pass_no: String,
    #[serde(default = "approved")]
    pub status: PassStatus,
    #[serde(default = "goods")]
    pub kind: PassKind,
    pub plate: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub trailer_plate: Option<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub declared_total_kg: Option<f64>,
    #[serde(default)]
    pub enterprise: Option<String>,
    #[serde(default)]
    pub goods_category: Option<GoodsCategory>,
    #[serde(default)]
    pub va_code: Option<String>,
    /// RFC 3339, or relative to the start of the run: `+2h`, `-30m`, `now`.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// As `valid_from`.
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default = "single")]
    pub uses: PassUses,
    #[serde(default)]
    pub eseal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    pub id: String,
    pub target_kind: TargetKind,
    pub target: String,
    pub action: ControlAction,
    #[serde(default)]
    pub note: Option<String>,
    /// As `GatePassSpec::valid_from`.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// A timed whitelist change, published as one delta batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaSpec {
    pub at_s: f64,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub upserts: UpsertsSpec,
    #[serde(default)]
    pub deletes: DeletesSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertsSpec {
    #[serde(default)]
    pub enterprises: Vec<EnterpriseSpec>,
    #[serde(default)]
    pub vehicles: Vec<VehicleSpec>,
    #[serde(default)]
    pub gate_passes: Vec<GatePassSpec>,
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletesSpec {
    #[serde(default)]
    pub enterprises: Vec<String>,
    #[serde(default)]
    pub vehicles: Vec<String>,
    #[serde(default)]
    pub gate_passes: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
}

// ---------------------------------------------------------------- to contract records

impl WhitelistSpec {
    /// The initial records as contract types; relative times are resolved
    /// against `start_unix_ms` (the run's start on the platform's clock).
    pub fn initial_records(&self, start_unix_ms: i64) -> Upserts {
        UpsertsSpec {
            enterprises: self.enterprises.clone(),
            vehicles: self.vehicles.clone(),
            gate_passes: self.gate_passes.clone(),
            controls: self.controls.clone(),
        }
        .to_records(start_unix_ms)
    }
}

impl UpsertsSpec {
    pub fn to_records(&self, start_unix_ms: i64) -> Upserts {
        Upserts {
            gate_passes: self
                .gate_passes
                .iter()
                .map(|g| g.to_record(start_unix_ms))
                .collect(),
            vehicles: self.vehicles.iter().map(VehicleSpec::to_record).collect(),
            enterprises: self
                .enterprises
                .iter()
                .map(EnterpriseSpec::to_record)
                .collect(),
            controls: self
                .controls
                .iter()
                .map(|c| c.to_record(start_unix_ms))
                .collect(),
        }
    }
}

impl DeltaSpec {
    pub fn to_delta(&self, start_unix_ms: i64) -> Delta {
        Delta {
            upserts: self.upserts.to_records(start_unix_ms),
            deletes: Deletes {
                gate_passes: self.deletes.gate_passes.clone(),
                vehicles: self.deletes.vehicles.clone(),
                enterprises: self.deletes.enterprises.clone(),
                controls: self.deletes.controls.clone(),
            },
        }
    }
}

impl EnterpriseSpec {
    pub fn to_record(&self) -> Enterprise {
        Enterprise {
            id: self.id.clone(),
            name: self.name.clone(),
            credit: self.credit,
        }
    }
}

impl VehicleSpec {
    pub fn to_record(&self) -> Vehicle {
        Vehicle {
            plate: self.plate.clone(),
            plate_colour: self.plate_colour,
            etag: self.etag.clone(),
            tare_kg: self.tare_kg,
            enterprise: self.enterprise.clone(),
            credit: self.credit,
        }
    }
}

/// A time spec as RFC 3339 (relative ones resolved); kept verbatim if it does
/// not parse (the checks refuse such files, so only hand-built specs get here).
fn time_field(spec: &Option<String>, start_unix_ms: i64) -> Option<String> {
    spec.as_ref().map(|s| {
        resolve_time(s, start_unix_ms).map_or_else(|| s.clone(), gate_proto::time::format_unix_ms)
    })
}

impl GatePassSpec {
    pub fn to_record(&self, start_unix_ms: i64) -> GatePass {
        GatePass {
            pass_no: self.pass_no.clone(),
            status: self.status,
            kind: self.kind,
            plate: self.plate.clone(),
            etag: self.etag.clone(),
            trailer_plate: self.trailer_plate.clone(),
            containers: self.containers.clone(),
            declared_total_kg: self.declared_total_kg,
            enterprise: self.enterprise.clone(),
            goods_category: self.goods_category,
            va_code: self.va_code.clone(),
            valid_from: time_field(&self.valid_from, start_unix_ms),
            valid_until: time_field(&self.valid_until, start_unix_ms),
            uses: self.uses,
            eseal: self.eseal.clone(),
        }
    }
}

impl ControlSpec {
    pub fn to_record(&self, start_unix_ms: i64) -> Control {
        Control {
            id: self.id.clone(),
            target_kind: self.target_kind,
            target: self.target.clone(),
            action: self.action,
            note: self.note.clone(),
            valid_until: time_field(&self.valid_until, start_unix_ms),
        }
    }
}
