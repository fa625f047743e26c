//! The chaos run's trucks and whitelist: a generated scenario (parsed and
//! checked by [`Scenario::parse`] like any scenario file) with one vehicle,
//! one multi-use gate pass and one container per truck, every identity
//! unique so each event can be traced back to the truck it reports.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};

use crate::scenario::Scenario;

/// Site and lane of the chaos lane.
pub const SITE: &str = "HK-XINHAI";
pub const LANE: &str = "L09";
/// Whitelist version the platform starts at.
pub const WHITELIST_VERSION: u64 = 100;
/// Most trucks a run can generate (unique 4-digit trailer plates).
pub const MAX_TRUCKS: usize = 9_999;

/// What the simulator knows of one truck's identity.
#[derive(Clone, Debug)]
pub struct Identity {
    pub plate: String,
    pub etag: String,
    pub pass_no: String,
}

/// The identity of truck `i` (0-based).
pub fn identity(i: usize) -> Identity {
    let n = i + 1;
    Identity {
        plate: format!("琼A{n:05}"),
        etag: format!("E28011606000{:012X}", 0xC4A0_0000_u64 + n as u64),
        pass_no: format!("HKCH25{n:08}"),
    }
}

fn container(i: usize) -> Result<String> {
    let base = format!("CHSU{:06}", i + 1);
    let d = gate_proto::formats::iso6346::check_digit(&base)
        .ok_or_else(|| anyhow!("no check digit for {base}"))?;
    Ok(format!("{base}{d}"))
}

/// The scenario of a chaos run with `trucks` trucks.
pub fn scenario(trucks: usize, seed: u64, time_scale: f64) -> Result<Scenario> {
    if trucks == 0 || trucks > MAX_TRUCKS {
        bail!("chaos fleet: {trucks} trucks (1..={MAX_TRUCKS})");
    }
    let mut t = String::new();
    writeln!(
        t,
        "[scenario]\nname = \"chaos\"\ndescription = \"trucks through a lane under injected faults\"\nseed = {seed}\n"
    )?;
    writeln!(
        t,
        "[lane]\nsite = \"{SITE}\"\nlane = \"{LANE}\"\ndirection = \"exit\"\ntime_scale = {time_scale}\nboard = {{ transport = \"tcp\", unit = 1 }}\nweighbridge = {{ profile = \"wb-f32-cdab\", transport = \"tcp\" }}\n"
    )?;
    writeln!(t, "[platform]\nrecords_per_chunk = 500\n")?;
    writeln!(t, "[whitelist]\nversion = {WHITELIST_VERSION}\n")?;
    writeln!(
        t,
        "[[whitelist.enterprises]]\nid = \"91460100MA5RCK7Q2N\"\nname = \"海南椰风国际贸易有限公司\"\ncredit = \"aeo\"\n"
    )?;
    let mut trucks_toml = String::new();
    for i in 0..trucks {
        let id = identity(i);
        let n = i + 1;
        let trailer = format!("琼A{n:04}挂");
        let code = container(i)?;
        let (tare, trailer_tare, box_tare) = (8700.0, 6500.0, 3800.0);
        let cargo = 18_000.0 + ((i * 37) % 5000) as f64;
        let declared = tare + trailer_tare + box_tare + cargo;
        writeln!(
            t,
            "[[whitelist.gate_passes]]\npass_no = \"{}\"\nplate = \"{}\"\netag = \"{}\"\ntrailer_plate = \"{trailer}\"\ncontainers = [\"{code}\"]\ndeclared_total_kg = {declared}\nenterprise = \"91460100MA5RCK7Q2N\"\ngoods_category = \"zero_tariff\"\nvalid_from = \"-30d\"\nvalid_until = \"+30d\"\nuses = \"multi\"\n",
            id.pass_no, id.plate, id.etag
        )?;
        writeln!(
            trucks_toml,
            "[[trucks]]\nid = \"c{n}\"\nat_s = {n}\nplate = \"{}\"\netag = \"{}\"\ntare_kg = {tare}\ntrailer = {{ plate = \"{trailer}\", tare_kg = {trailer_tare} }}\ncontainers = [{{ number = \"{code}\", size_type = \"45G1\", position = \"front\" }}]\ncargo_kg = {cargo}\nexpect = {{ decision = \"release\", reasons = [\"R00\"], outcome = \"passed\" }}\n",
            id.plate, id.etag
        )?;
    }
    t.push_str(&trucks_toml);
    Scenario::parse(&t, "chaos (generated)").map_err(|e| anyhow!("chaos scenario: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_fleet_is_a_valid_scenario() {
        let s = scenario(30, 7, 10.0).expect("valid");
        assert_eq!(s.trucks.len(), 30);
        assert_eq!(s.trucks[4].plate, identity(4).plate);
        assert_eq!(s.whitelist.gate_passes.len(), 30);
        assert!(scenario(0, 1, 10.0).is_err());
    }
}
