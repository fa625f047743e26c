//! Trucks' identities, driver behaviours and bodies (axles, trailer, the solid
//! segments a body covers).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies a truck within one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(transparent)]
pub struct TruckId(pub u64);

impl fmt::Display for TruckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "truck#{}", self.0)
    }
}

/// How a driver behaves at the gate (identity faults such as a missing e-tag
/// are not behaviours; they live in the truck's identity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Normal,
    /// Stops a few metres before the stop line (off the arrival loop, maybe
    /// partly off the platform) and waits there.
    StopsShort,
    /// Backs away after waiting at the gate for a while.
    ReversesOut,
    /// Follows the truck in front through the open arm.
    Tailgate,
    /// Released (arm up), the driver backs out instead of driving through.
    ReversesWhenReleased,
}

/// One axle: distance behind the truck's front and static load.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct Axle {
    pub offset_m: f64,
    pub load_kg: f64,
}

/// A trailer behind the tractor.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct TrailerBody {
    /// Horizontal distance from the tractor's rear to the trailer's front;
    /// negative when the semi-trailer overlaps the tractor (fifth wheel).
    pub gap_m: f64,
    pub length_m: f64,
}

/// A truck's shape and mass.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct TruckBody {
    pub tractor_length_m: f64,
    pub trailer: Option<TrailerBody>,
    pub axles: Vec<Axle>,
}

impl TruckBody {
    /// Default tractor length of a semi-trailer combination, metres.
    pub const TRACTOR_LENGTH_M: f64 = 6.0;
    /// Default overlap of a semi-trailer over its tractor (negative gap).
    pub const SEMI_GAP_M: f64 = -1.5;
    /// Default length of a rigid truck, metres.
    pub const RIGID_LENGTH_M: f64 = 9.0;

    /// A tractor with a semi-trailer: steer axle, tandem drive axles, tri-axle
    /// trailer bogie. Load shares of the gross mass: 14 %, 21 % + 21 %,
    /// 3 x 14.67 %.
    pub fn semi(tractor_length_m: f64, gap_m: f64, trailer_length_m: f64, gross_kg: f64) -> Self {
        let t = tractor_length_m;
        let trailer_front = t + gap_m;
        let l = trailer_length_m;
        let bogie = [l - 3.8, l - 2.5, l - 1.2].map(|o| trailer_front + o.max(0.5));
        let per_trailer_axle = gross_kg * 0.44 / 3.0;
        let mut axles = vec![
            Axle {
                offset_m: 1.4_f64.min(t * 0.5),
                load_kg: gross_kg * 0.14,
            },
            Axle {
                offset_m: (t - 1.95).max(t * 0.6),
                load_kg: gross_kg * 0.21,
            },
            Axle {
                offset_m: (t - 0.65).max(t * 0.7),
                load_kg: gross_kg * 0.21,
            },
        ];
        axles.extend(bogie.iter().map(|&o| Axle {
            offset_m: o,
            load_kg: per_trailer_axle,
        }));
        Self {
            tractor_length_m: t,
            trailer: Some(TrailerBody { gap_m, length_m: l }),
            axles,
        }
    }

    /// A rigid truck: steer axle and tandem rear axles, 30 % / 35 % / 35 %.
    pub fn rigid(length_m: f64, gross_kg: f64) -> Self {
        let l = length_m;
        Self {
            tractor_length_m: l,
            trailer: None,
            axles: vec![
                Axle {
                    offset_m: 1.4_f64.min(l * 0.3),
                    load_kg: gross_kg * 0.30,
                },
                Axle {
                    offset_m: (l - 2.6).max(l * 0.5),
                    load_kg: gross_kg * 0.35,
                },
                Axle {
                    offset_m: (l - 1.3).max(l * 0.6),
                    load_kg: gross_kg * 0.35,
                },
            ],
        }
    }

    /// Overall length, front bumper to rear.
    pub fn length(&self) -> f64 {
        match self.trailer {
            Some(tr) => (self.tractor_length_m + tr.gap_m + tr.length_m).max(self.tractor_length_m),
            None => self.tractor_length_m,
        }
    }

    /// Sum of the axle loads.
    pub fn gross_kg(&self) -> f64 {
        self.axles.iter().map(|a| a.load_kg).sum()
    }

    /// The solid parts as `(rear_x, front_x)` intervals for a truck whose front is at `front`.
    pub fn segments(&self, front: f64) -> ([(f64, f64); 2], usize) {
        let tractor = (front - self.tractor_length_m, front);
        match self.trailer {
            Some(tr) => {
                let tf = front - self.tractor_length_m - tr.gap_m;
                ([tractor, (tf - tr.length_m, tf)], 2)
            }
            None => ([tractor, tractor], 1),
        }
    }

    /// Offset behind the front of the trailer's front face (where a trailer
    /// e-tag sits), if there is a trailer.
    pub fn trailer_front_offset(&self) -> Option<f64> {
        self.trailer.map(|tr| self.tractor_length_m + tr.gap_m)
    }
}
