//! What the lane identified about one vehicle: the input of the decision and
//! the source of the whitelist lookup keys.
//!
//! Data only (plus [`LookupKeys`] from it). This module knows nothing about
//! the devices that produced the reads, nor about the whitelist.

use std::collections::BTreeSet;

use gate_proto::formats::{iso6346, plate};
use gate_proto::messages::{ContainerPosition, EsealRead, PlateColour, WeightRead};
use serde::{Deserialize, Serialize};

use crate::view::LookupKeys;

/// The lane devices the core knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    PlateFront,
    PlateRear,
    Etag,
    ContainerFront,
    ContainerBack,
    Eseal,
    Scale,
    Barrier,
}

impl Device {
    /// The identification devices (everything but the scale and the barrier).
    pub const IDENTIFY: [Device; 6] = [
        Device::PlateFront,
        Device::PlateRear,
        Device::Etag,
        Device::ContainerFront,
        Device::ContainerBack,
        Device::Eseal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Device::PlateFront => "plate_front",
            Device::PlateRear => "plate_rear",
            Device::Etag => "etag",
            Device::ContainerFront => "container_front",
            Device::ContainerBack => "container_back",
            Device::Eseal => "eseal",
            Device::Scale => "scale",
            Device::Barrier => "barrier",
        }
    }
}

/// One plate read by a camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateSeen {
    /// As the camera reported it (normalised and repaired by the decision).
    pub text: String,
    /// 0.0 ..= 1.0.
    pub confidence: f32,
    pub colour: Option<PlateColour>,
    pub camera: Device,
}

/// One container number read by a container camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerSeen {
    /// As the OCR reported it (the decision repairs it with ISO 6346).
    pub number: String,
    pub position: ContainerPosition,
    /// 0.0 ..= 1.0.
    pub confidence: f32,
}

/// Data an officer typed (the contract's extension type: one shape from
/// the console to the event).
pub use gate_proto::messages::ManualEntry as ManualData;

/// Manual data with who typed it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficerEntry {
    pub officer: String,
    pub note: Option<String>,
    pub data: ManualData,
}

/// Everything the lane read about one vehicle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identified {
    /// Tractor (or rigid truck) plate reads, front and rear cameras.
    pub plates: Vec<PlateSeen>,
    /// Vehicle e-tag ids (EPC hex).
    pub etags: Vec<String>,
    /// The trailer plate (a rear read whose grammar is a trailer plate).
    pub trailer_plate: Option<PlateSeen>,
    pub trailer_etag: Option<String>,
    pub containers: Vec<ContainerSeen>,
    pub eseal: Option<EsealRead>,
    /// The last scale reading (stable or not).
    pub weight: Option<WeightRead>,
    /// Devices that were at fault while identifying.
    pub faults: Vec<Device>,
    pub officer: Option<OfficerEntry>,
}

/// Normalise an e-tag id: upper-case hex, no separators.
pub fn normalise_etag(s: &str) -> String {
    s.chars()
        .map(plate::to_half_width)
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Normalise a pass number or an e-seal id: trimmed, half-width, upper case.
pub fn normalise_id(s: &str) -> String {
    s.chars()
        .map(plate::to_half_width)
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Every plate text a read may stand for: repair candidates, else the
/// normalised read itself (so that a lookup still finds an odd record).
pub fn plate_keys(text: &str) -> Vec<String> {
    let r = plate::repair(text);
    if r.candidates.is_empty() {
        let n = plate::normalise(text);
        if n.is_empty() {
            Vec::new()
        } else {
            vec![n]
        }
    } else {
        r.candidates
            .into_iter()
            .map(|c| c.plate.as_str().to_string())
            .collect()
    }
}

/// Every container code a read may stand for: the valid or repaired code,
/// the ambiguous candidates, else the normalised read.
pub fn container_keys(text: &str) -> Vec<String> {
    let cands = iso6346::repair(text).candidates();
    if cands.is_empty() {
        let n = iso6346::normalise(text);
        if n.is_empty() {
            Vec::new()
        } else {
            vec![n]
        }
    } else {
        cands.into_iter().map(|c| c.as_str().to_string()).collect()
    }
}

impl From<&Identified> for LookupKeys {
    /// The whitelist keys for what was identified: every plate read
    /// (tractor, trailer, typed) with its repair candidates, e-tags, every
    /// container with its ISO 6346 repair candidates, typed pass numbers.
    /// Sorted and de-duplicated.
    fn from(id: &Identified) -> Self {
        let mut plates = BTreeSet::new();
        let mut etags = BTreeSet::new();
        let mut containers = BTreeSet::new();
        let mut pass_nos = BTreeSet::new();
        let manual = id.officer.as_ref().map(|o| &o.data);
        let typed_plates = manual
            .into_iter()
            .flat_map(|m| [m.plate.as_deref(), m.trailer_plate.as_deref()])
            .flatten();
        for t in id
            .plates
            .iter()
            .chain(id.trailer_plate.iter())
            .map(|p| p.text.as_str())
            .chain(typed_plates)
        {
            plates.extend(plate_keys(t));
        }
        let typed_etag = manual.and_then(|m| m.etag.as_deref());
        for e in id
            .etags
            .iter()
            .map(String::as_str)
            .chain(id.trailer_etag.as_deref())
            .chain(typed_etag)
        {
            let n = normalise_etag(e);
            if !n.is_empty() {
                etags.insert(n);
            }
        }
        let typed_containers = manual.into_iter().flat_map(|m| m.containers.iter());
        for c in id
            .containers
            .iter()
            .map(|c| &c.number)
            .chain(typed_containers)
        {
            containers.extend(container_keys(c));
        }
        if let Some(p) = manual.and_then(|m| m.pass_no.as_deref()) {
            let n = normalise_id(p);
            if !n.is_empty() {
                pass_nos.insert(n);
            }
        }
        LookupKeys {
            plates: plates.into_iter().collect(),
            etags: etags.into_iter().collect(),
            containers: containers.into_iter().collect(),
            pass_nos: pass_nos.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(text: &str, camera: Device) -> PlateSeen {
        PlateSeen {
            text: text.into(),
            confidence: 0.9,
            colour: Some(PlateColour::Yellow),
            camera,
        }
    }

    #[test]
    fn keys_include_repairs() {
        let id = Identified {
            plates: vec![
                plate("琼A·1234O", Device::PlateFront),
                plate("琼012345", Device::PlateRear),
            ],
            etags: vec!["e2 80 11 60".into()],
            trailer_plate: Some(plate("琼B1234挂", Device::PlateRear)),
            containers: vec![ContainerSeen {
                number: "CSQU 3O5438 [3]".into(),
                position: ContainerPosition::Front,
                confidence: 0.9,
            }],
            officer: Some(OfficerEntry {
                officer: "O7".into(),
                note: None,
                data: ManualData {
                    pass_no: Some(" p-001 ".into()),
                    containers: vec!["garbage".into()],
                    ..ManualData::default()
                },
            }),
            ..Identified::default()
        };
        let k = LookupKeys::from(&id);
        assert_eq!(
            k.plates,
            vec!["琼A12340", "琼B1234挂", "琼D12345", "琼Q12345"]
        );
        assert_eq!(k.etags, vec!["E2801160"]);
        assert_eq!(k.containers, vec!["CSQU3054383", "GARBAGE"]);
        assert_eq!(k.pass_nos, vec!["P-001"]);
    }

    #[test]
    fn keys_empty_for_nothing() {
        let k = LookupKeys::from(&Identified::default());
        assert_eq!(k, LookupKeys::default());
        let id = Identified {
            etags: vec!["  ".into()],
            ..Identified::default()
        };
        assert!(LookupKeys::from(&id).etags.is_empty());
    }
}
