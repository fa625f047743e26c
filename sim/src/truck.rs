//! One truck as the simulator knows it: plates, tags, trailer, containers,
//! seal, masses and the driver's behaviour ([`TruckSpec`]), in the one TOML
//! shape of a scenario's `[[trucks]]` entry (docs/scenarios.md; the entry
//! adds its name, time and expectation), and what the lane's devices make of
//! it: the physical body, the tag EPCs and what the cameras see.
//!
//! Layer: simulator data, shared by the scenario format and the simulated
//! lane. It knows the devices' identity formats (EPCs, painted codes), not
//! how the lane drives a truck nor what a scenario expects of it.

use serde::{Deserialize, Serialize};

use crate::devices::camera::{
    ContainerMark, ContainerPosition, Plate, PlateColour, VisualIdentity,
};
use crate::devices::rfid::{self, SealState};
use crate::lane::SimError;
use crate::physics::{Behaviour, TruckBody};

/// A truck arriving at the lane (a scenario's `[[trucks]]` entry without its
/// name, time and expectation).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TruckSpec {
    /// Front plate, e.g. "琼A12345".
    pub plate: String,
    /// Default yellow (a goods vehicle's plate).
    #[serde(default = "yellow")]
    pub plate_colour: PlateColour,
    /// EPC of the customs e-tag, 24 hex digits; absent: no tag fitted.
    #[serde(default)]
    pub etag: Option<String>,
    /// Tractor (or rigid truck) tare.
    pub tare_kg: f64,
    #[serde(default)]
    pub trailer: Option<TrailerSpec>,
    #[serde(default)]
    pub containers: Vec<ContainerSpec>,
    #[serde(default)]
    pub eseal: Option<EsealSpec>,
    /// Goods in the containers or on the deck.
    #[serde(default)]
    pub cargo_kg: f64,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Approach speed, km/h (default: the lane's driver setting).
    #[serde(default)]
    pub speed: Option<f64>,
    /// Tractor length, m (default 6.0 with a trailer, 9.0 rigid).
    #[serde(default)]
    pub tractor_length_m: Option<f64>,
}

/// A semi-trailer behind the tractor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailerSpec {
    /// Trailer plate, shown to the rear plate camera.
    pub plate: String,
    /// Trailer e-tag id (24 hex digits, or up to 12 ASCII characters), at
    /// the trailer's front.
    #[serde(default)]
    pub etag: Option<String>,
    pub tare_kg: f64,
    /// Default 12.4 m (a 40' skeletal semi-trailer).
    #[serde(default = "trailer_length")]
    pub length_m: f64,
}

/// A container on the trailer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// ISO 6346 code painted on the box (check digit must be right).
    pub number: String,
    /// ISO 6346 size/type code, e.g. 22G1 (20' GP), 45G1 (40' HC).
    #[serde(default = "g22")]
    pub size_type: String,
    pub position: ContainerPosition,
    /// Default 2200 kg for 20', 3800 kg for 40'/45'.
    #[serde(default)]
    pub tare_kg: Option<f64>,
    /// What is painted instead of `number` (a damaged or wrongly painted
    /// code): what the container cameras show and the OCR reads.
    #[serde(default)]
    pub read_as: Option<String>,
    /// Painted vertically, one character per line.
    #[serde(default)]
    pub vertical: bool,
}

impl ContainerSpec {
    /// 40-foot or longer (size code starts with 4, L or M).
    pub fn is_long(&self) -> bool {
        matches!(self.size_type.as_bytes().first(), Some(b'4' | b'L' | b'M'))
    }
    pub fn tare_kg(&self) -> f64 {
        self.tare_kg
            .unwrap_or(if self.is_long() { 3800.0 } else { 2200.0 })
    }
    /// What is painted (and read by the OCR).
    pub fn read(&self) -> &str {
        self.read_as.as_deref().unwrap_or(&self.number)
    }
}

/// An electronic seal on the (rear) container door.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsealSpec {
    /// 24 hex digits, or up to 12 printable ASCII characters.
    pub id: String,
    #[serde(default)]
    pub state: SealState,
}

impl TruckSpec {
    /// Everything but the cargo: tractor + trailer + container tares.
    pub fn vehicle_tare_kg(&self) -> f64 {
        self.tare_kg
            + self.trailer.as_ref().map_or(0.0, |t| t.tare_kg)
            + self
                .containers
                .iter()
                .map(ContainerSpec::tare_kg)
                .sum::<f64>()
    }

    /// Gross weight on the scale: tractor + trailer + containers + cargo.
    pub fn gross_kg(&self) -> f64 {
        self.vehicle_tare_kg() + self.cargo_kg
    }

    /// The physical body this spec describes.
    pub fn body(&self) -> TruckBody {
        match &self.trailer {
            Some(tr) => TruckBody::semi(
                self.tractor_length_m.unwrap_or(TruckBody::TRACTOR_LENGTH_M),
                TruckBody::SEMI_GAP_M,
                tr.length_m,
                self.gross_kg(),
            ),
            None => TruckBody::rigid(
                self.tractor_length_m.unwrap_or(TruckBody::RIGID_LENGTH_M),
                self.gross_kg(),
            ),
        }
    }

    /// Checks what the lane needs of the spec; returns the EPCs of (e-tag,
    /// trailer e-tag, e-seal). The scenario's own checks are stricter.
    pub(crate) fn validate(&self) -> Result<[Option<[u8; 12]>; 3], SimError> {
        let bad = |m: String| Err(SimError::Truck(format!("{}: {m}", self.plate)));
        if self.plate.trim().is_empty() {
            return bad("empty plate".into());
        }
        for (v, what) in [
            (self.vehicle_tare_kg(), "vehicle tare_kg"),
            (self.cargo_kg, "cargo_kg"),
        ] {
            if !v.is_finite() || !(0.0..=200_000.0).contains(&v) {
                return bad(format!("{what} {v} out of range"));
            }
        }
        if let Some(s) = self.speed {
            if !s.is_finite() || !(1.0..=80.0).contains(&s) {
                return bad(format!("speed {s} km/h out of range"));
            }
        }
        if let Some(l) = self.tractor_length_m {
            if !l.is_finite() || !(2.0..=14.0).contains(&l) {
                return bad(format!("tractor_length_m {l} out of range"));
            }
        }
        if let Some(tr) = &self.trailer {
            if !tr.length_m.is_finite() || !(3.0..=18.0).contains(&tr.length_m) {
                return bad(format!("trailer length_m {} out of range", tr.length_m));
            }
        }
        if self.plate.chars().count() > 16 {
            return bad("plate longer than 16 characters".into());
        }
        if let Some(p) = self.trailer.as_ref().map(|t| &t.plate) {
            if p.trim().is_empty() || p.chars().count() > 16 {
                return bad(format!(
                    "trailer plate {p:?} empty or longer than 16 characters"
                ));
            }
        }
        if let Some(c) = self.containers.iter().find(|c| {
            let n = painted_code(c).chars().count();
            n == 0 || n > 20
        }) {
            return bad(format!(
                "container number {:?} has no or too many characters",
                c.read()
            ));
        }
        if self.containers.len() > 2 {
            return bad("at most two containers".into());
        }
        let epc = |id: Option<&String>| -> Result<Option<[u8; 12]>, SimError> {
            id.map(|s| rfid::epc_from_id(s))
                .transpose()
                .map_err(|e| SimError::Truck(format!("{}: {e}", self.plate)))
        };
        Ok([
            epc(self.etag.as_ref())?,
            epc(self.trailer.as_ref().and_then(|t| t.etag.as_ref()))?,
            epc(self.eseal.as_ref().map(|s| &s.id))?,
        ])
    }

    /// What the cameras see of the truck.
    pub(crate) fn visual(&self, key: u64) -> VisualIdentity {
        let front_plate = Some(Plate {
            text: self.plate.clone(),
            colour: self.plate_colour,
        });
        let rear_plate = match &self.trailer {
            Some(tr) => Some(Plate {
                text: tr.plate.clone(),
                colour: PlateColour::Yellow,
            }),
            None => front_plate.clone(),
        };
        let containers = self
            .containers
            .iter()
            .map(|c| ContainerMark {
                code: painted_code(c),
                slot: c.position,
                vertical: c.vertical,
                size_type: c.size_type.clone(),
            })
            .collect();
        VisualIdentity {
            key,
            front_plate,
            rear_plate,
            containers,
        }
    }
}

/// The painted code without spaces or punctuation.
fn painted_code(c: &ContainerSpec) -> String {
    c.read()
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric())
        .collect()
}

fn yellow() -> PlateColour {
    PlateColour::Yellow
}
fn trailer_length() -> f64 {
    12.4
}
fn g22() -> String {
    "22G1".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truck_spec_from_toml() {
        let spec: TruckSpec = toml::from_str(
            r#"
            plate = "琼A12345"
            plate_colour = "yellow"
            etag = "E2801160600002054CC2A1B3"
            tare_kg = 4700
            cargo_kg = 20000
            behaviour = "tailgate"
            speed = 12
            trailer = { length_m = 12.4, plate = "琼A1234挂", tare_kg = 6500, etag = "TRL-0001" }
            containers = [{ number = "CSQU 305438 3", size_type = "45G1", position = "front", vertical = true }]
            eseal = { id = "ES00012345", state = "tampered" }
            "#,
        )
        .unwrap();
        assert_eq!(spec.behaviour, Behaviour::Tailgate);
        assert_eq!(spec.eseal.as_ref().unwrap().state, SealState::Tampered);
        let [a, b, c] = spec.validate().unwrap();
        assert!(a.is_some() && b.is_some() && c.is_some());
        assert!((spec.vehicle_tare_kg() - 15_000.0).abs() < 1e-6);
        assert!((spec.body().gross_kg() - 35_000.0).abs() < 1e-6);
        let v = spec.visual(7);
        assert_eq!(v.containers[0].code, "CSQU3054383");
        assert_eq!(v.containers[0].size_type, "45G1");
        assert_eq!(v.rear_plate.unwrap().text, "琼A1234挂");
        let bad: Result<TruckSpec, _> = toml::from_str("plate = \"x\"\ntare_kg = 1\nwings = 2\n");
        assert!(bad.is_err(), "unknown fields are refused");
        let mut s2 = spec.clone();
        s2.etag = Some("not a tag id at all".into());
        assert!(s2.validate().is_err());
        // What is painted is what the cameras show.
        let mut s3 = spec.clone();
        s3.containers[0].read_as = Some("CSQU3054384".into());
        assert_eq!(s3.visual(7).containers[0].code, "CSQU3054384");
    }
}
