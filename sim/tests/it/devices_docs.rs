//! Issue 3: the device documents in docs/devices/ agree with the code: every
//! register table row matches the register constants (address and name, in
//! order), and every example frame parses with the shared codecs (gate-wire,
//! the agent's and the simulator's one implementation) and re-encodes byte
//! for byte.

use std::path::PathBuf;

use gate_wire::weighbridge::{toledo, xk3190};
use sim::devices::rfid;
use sim::devices::weighbridge::{WbModbus, WbModbusProfile};

fn doc(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("devices")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `(address, name)` rows of the register tables in `text`: rows whose first
/// cell is a decimal address and whose second is a `NAME` in backticks.
fn rows(text: &str) -> Vec<(u16, String)> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < 4 || !cells[0].is_empty() {
                return None;
            }
            let addr = cells[1].parse::<u16>().ok()?;
            let name = cells[2].strip_prefix('`')?.strip_suffix('`')?;
            Some((addr, name.to_string()))
        })
        .collect()
}

/// The part of `text` under the level-2 heading `heading`, up to the next one.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading}"));
    let rest = &text[start + heading.len()..];
    match rest.find("\n## ") {
        Some(end) => &rest[..end],
        None => rest,
    }
}

fn examples(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Example: `")?.strip_suffix('`'))
        .map(|hex| {
            hex.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                .collect()
        })
        .collect()
}

#[test]
fn weighbridge_modbus_tables_match_the_code() {
    let text = doc("weighbridge-modbus.md");
    for profile in [WbModbusProfile::F32Cdab, WbModbusProfile::I32Scaled] {
        let got = rows(section(&text, &format!("## `{}`", profile.name())));
        let want: Vec<(u16, String)> = WbModbus::register_table(profile)
            .iter()
            .map(|&(a, n)| (a, n.to_string()))
            .collect();
        assert_eq!(got, want, "{}", profile.name());
    }
}

#[test]
fn rfid_tables_match_the_code() {
    let got = rows(&doc("rfid.md"));
    assert_eq!(got, rfid::register_table());
}

#[test]
fn toledo_examples_parse_and_reencode() {
    let ex = examples(&doc("weighbridge-toledo.md"));
    assert_eq!(ex.len(), 2, "two examples");
    let a = toledo::parse(&ex[0], true).expect("example 1");
    assert_eq!(a.weight_kg(), 32_460.0);
    assert!(!a.motion);
    assert_eq!(a.to_vec(true), ex[0]);
    let b = toledo::parse(&ex[1], false).expect("example 2");
    assert_eq!(b.weight_kg(), -120.0);
    assert!(b.motion);
    assert_eq!(b.to_vec(false), ex[1]);
}

#[test]
fn xk3190_examples_parse_and_reencode() {
    let ex = examples(&doc("weighbridge-xk3190.md"));
    assert_eq!(ex.len(), 2, "two examples");
    for (bytes, kg) in ex.iter().zip([32_460.0, -120.0]) {
        let r = xk3190::parse(bytes).expect("example");
        assert_eq!(r.display_value(), kg);
        assert_eq!(&r.emit()[..], &bytes[..]);
    }
}

/// The ```toml blocks of `text`.
fn toml_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for l in text.lines() {
        match (&mut cur, l.trim_end()) {
            (None, "```toml") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(b), _) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn readme_examples_deserialize() {
    let blocks = toml_blocks(&doc("README.md"));
    assert_eq!(blocks.len(), 2, "a truck and a lane configuration");
    let truck: sim::lane::TruckSpec = toml::from_str(&blocks[0]).expect("truck example");
    assert_eq!(truck.plate, "琼A12345");
    assert_eq!(truck.containers.len(), 1);
    let lane: sim::lane::LaneConfig = toml::from_str(&blocks[1]).expect("lane example");
    assert_eq!(lane.weighbridges.len(), 2);
    assert_eq!(
        lane.weighbridges[0].protocol,
        sim::devices::weighbridge::WbProtocol::Ascii(gate_wire::weighbridge::AsciiProtocol::Toledo)
    );
    assert_eq!(lane.cameras.len(), 2);
    assert_eq!(lane.seed, 7);
    // Unknown keys are refused.
    let typo = blocks[1].replace("angle_deg = 12.0", "angel_deg = 12.0");
    assert!(toml::from_str::<sim::lane::LaneConfig>(&typo).is_err());
}
