//! The whitelist records relevant to one vehicle, as the store found them.
//! The decision engine reads only this; the store fills it in one read
//! transaction so it shows one whitelist version, never a mix.

use gate_proto::messages::{Control, Enterprise, GatePass, Vehicle};

/// The keys the lane identified, used to look the whitelist up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupKeys {
    /// Plates read (tractor, trailer), normalised (upper case, no spaces).
    pub plates: Vec<String>,
    /// E-tag ids read (EPC hex, upper case).
    pub etags: Vec<String>,
    /// Container numbers read (may include repaired candidates).
    pub containers: Vec<String>,
    /// Pass numbers typed by an officer during a re-gather.
    pub pass_nos: Vec<String>,
}

/// Everything in the whitelist that relates to the keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WhitelistView {
    /// The whitelist version the view was read from.
    pub version: u64,
    /// Gate passes whose plate, e-tag, trailer plate, pass number or one of
    /// whose containers matches a key, whatever their status.
    pub passes: Vec<GatePass>,
    /// Vehicles whose plate or e-tag matches a key or a pass's plate.
    pub vehicles: Vec<Vehicle>,
    /// Enterprises of those passes and vehicles.
    pub enterprises: Vec<Enterprise>,
    /// Controls targeting any of the plates, pass numbers, enterprises or
    /// containers above (expired ones included: the engine checks validity).
    pub controls: Vec<Control>,
}
