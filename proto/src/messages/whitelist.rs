//! The whitelist batch body (`gate/v1/{site}/whitelist`, the signed
//! envelope's `body`): passes, vehicles, enterprises and risk controls.

use serde::{Deserialize, Serialize};

use super::{PlateColour, WHITELIST_SCHEMA};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    Snapshot,
    Delta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u32,
    pub count: u32,
}

/// A whitelist batch body (the signed envelope's `body`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhitelistBatch {
    pub schema: String,
    pub site: String,
    pub kind: BatchKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    pub version: u64,
    pub chunk: Chunk,
    pub issued_at: String,
    #[serde(default)]
    pub upserts: Upserts,
    #[serde(default)]
    pub deletes: Deletes,
}

impl WhitelistBatch {
    /// How many records the batch carries: upserts + deletes.
    pub fn records(&self) -> u64 {
        let (u, d) = (&self.upserts, &self.deletes);
        (u.gate_passes.len()
            + u.vehicles.len()
            + u.enterprises.len()
            + u.controls.len()
            + d.gate_passes.len()
            + d.vehicles.len()
            + d.enterprises.len()
            + d.controls.len()) as u64
    }

    /// Structural checks beyond serde: schema name, chunk bounds, versions.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.schema != WHITELIST_SCHEMA {
            return Err(BatchError::Schema(self.schema.clone()));
        }
        if self.chunk.count == 0 || self.chunk.index >= self.chunk.count {
            return Err(BatchError::ChunkRange(self.chunk));
        }
        if self.chunk.count > 100_000 {
            return Err(BatchError::ChunkCount(self.chunk.count));
        }
        match (self.kind, self.from_version) {
            (BatchKind::Delta, None) => return Err(BatchError::DeltaWithoutFrom),
            (BatchKind::Delta, Some(f)) if f >= self.version => {
                return Err(BatchError::DeltaNotAdvancing {
                    from: f,
                    to: self.version,
                })
            }
            (BatchKind::Delta, Some(_)) if self.chunk.count != 1 => {
                return Err(BatchError::DeltaChunked(self.chunk.count))
            }
            (BatchKind::Snapshot, Some(f)) => return Err(BatchError::SnapshotWithFrom(f)),
            _ => {}
        }
        if crate::time::parse_unix_ms(&self.issued_at).is_none() {
            return Err(BatchError::IssuedAt(self.issued_at.clone()));
        }
        Ok(())
    }
}

/// A whitelist batch that breaks the contract's structure
/// ([`WhitelistBatch::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("schema `{0}` is not `{WHITELIST_SCHEMA}`")]
    Schema(String),
    #[error("chunk {}/{} out of range", .0.index, .0.count)]
    ChunkRange(Chunk),
    #[error("chunk count {0} too large")]
    ChunkCount(u32),
    #[error("delta without from_version")]
    DeltaWithoutFrom,
    #[error("delta from {from} to {to} does not advance")]
    DeltaNotAdvancing { from: u64, to: u64 },
    /// A delta in several chunks (the chunk count).
    #[error("a delta is a single chunk")]
    DeltaChunked(u32),
    /// A snapshot with a `from_version` (its value).
    #[error("snapshot with from_version")]
    SnapshotWithFrom(u64),
    #[error("issued_at `{0}` is not RFC 3339")]
    IssuedAt(String),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Upserts {
    #[serde(default)]
    pub gate_passes: Vec<GatePass>,
    #[serde(default)]
    pub vehicles: Vec<Vehicle>,
    #[serde(default)]
    pub enterprises: Vec<Enterprise>,
    #[serde(default)]
    pub controls: Vec<Control>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletes {
    #[serde(default)]
    pub gate_passes: Vec<String>,
    #[serde(default)]
    pub vehicles: Vec<String>,
    #[serde(default)]
    pub enterprises: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassStatus {
    Approved,
    Used,
    Void,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    Goods,
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodsCategory {
    ZeroTariff,
    Relaxed,
    ValueAdded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassUses {
    Single,
    Multi,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatePass {
    pub pass_no: String,
    pub status: PassStatus,
    pub kind: PassKind,
    pub plate: String,
    pub etag: Option<String>,
    pub trailer_plate: Option<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    pub declared_total_kg: Option<f64>,
    pub enterprise: Option<String>,
    pub goods_category: Option<GoodsCategory>,
    pub va_code: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub uses: PassUses,
    /// Extension: the e-seal id bound to the pass, when the declaration has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eseal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vehicle {
    pub plate: String,
    pub plate_colour: Option<PlateColour>,
    pub etag: Option<String>,
    pub tare_kg: Option<f64>,
    pub enterprise: Option<String>,
    /// Extension: driver/vehicle credit ("whitelist" | "focus"), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credit {
    Aeo,
    Whitelist,
    General,
    Focus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enterprise {
    pub id: String,
    pub name: String,
    pub credit: Credit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Plate,
    PassNo,
    Enterprise,
    Container,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    Inspect,
    Hold,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: String,
    pub target_kind: TargetKind,
    pub target: String,
    pub action: ControlAction,
    pub note: Option<String>,
    pub valid_until: Option<String>,
}
