//! docs/register-map.md against the register map in src/regmap.rs: every
//! constant documented at its address (bit, value), no extra rows, and the
//! documented defaults are what a fresh board reads.
//!
//! The constant names are taken from the regmap source text, so a constant
//! added there without a row here (and in the document) fails this test.

use std::collections::BTreeMap;

use lane_io::board::Board;
use lane_io::modbus::DataModel;
use lane_io::regmap::{coil, di, hr, ir, BarrierState, CommandResult, FaultCode};

const DOC: &str = include_str!("../../../../docs/register-map.md");
const SRC: &str = include_str!("../../src/regmap.rs");

/// A table row: first cell (address / bit / value) and the rest.
#[derive(Debug)]
struct Row {
    key: String,
    name: String,
    cells: Vec<String>,
}

/// Tables by the heading they stand under.
fn tables(doc: &str) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut heading = String::new();
    let mut header_seen = false;
    for line in doc.lines() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('#') {
            heading = h.trim_start_matches('#').trim().to_string();
            header_seen = false;
            continue;
        }
        if !line.starts_with('|') {
            header_seen = false;
            continue;
        }
        // Split on unescaped pipes.
        let mut cells = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cur.push('|');
                    chars.next();
                }
                '|' => {
                    cells.push(cur.trim().to_string());
                    cur.clear();
                }
                _ => cur.push(c),
            }
        }
        let cells: Vec<String> = cells.into_iter().skip(1).collect();
        if !header_seen {
            header_seen = true; // the header row
            continue;
        }
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue; // the separator row
        }
        assert!(cells.len() >= 2, "short row under {heading}: {line}");
        let name = cells[1].trim_matches('`').to_string();
        out.entry(heading.clone()).or_default().push(Row {
            key: cells[0].clone(),
            name,
            cells: cells[2..].to_vec(),
        });
    }
    out
}

/// The `pub const NAME` names declared in `pub mod <module>` of regmap.rs.
fn src_consts(module: &str) -> Vec<String> {
    let start = SRC
        .find(&format!("pub mod {module} {{"))
        .unwrap_or_else(|| panic!("no module {module} in regmap.rs"));
    let body = &SRC[start..];
    let end = body.find("\n}").expect("module end");
    body[..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

/// The variants of `pub enum <name>` in regmap.rs.
fn src_variants(name: &str) -> Vec<String> {
    let start = SRC.find(&format!("pub enum {name} {{")).expect("enum");
    let body = &SRC[start..];
    let end = body.find("\n}").expect("enum end");
    body[..end]
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(" = ") && !l.starts_with("//"))
        .map(|l| l.split(" = ").next().unwrap_or_default().to_string())
        .collect()
}

fn section<'a>(t: &'a BTreeMap<String, Vec<Row>>, prefix: &str) -> &'a [Row] {
    let hits: Vec<_> = t.keys().filter(|k| k.starts_with(prefix)).collect();
    assert_eq!(
        hits.len(),
        1,
        "exactly one table under a heading starting `{prefix}`: {hits:?}"
    );
    &t[hits[0]]
}

/// Checks rows against (name, first, last) and the source's name list.
fn check_kind(rows: &[Row], expected: &[(&str, u16, u16)], src: &[String], what: &str) {
    for n in src {
        assert!(
            expected.iter().any(|(e, ..)| e == n),
            "{what}: regmap constant {n} is not listed in this test (add it here and to the document)"
        );
    }
    for (name, first, last) in expected {
        assert!(
            src.iter().any(|s| s == name),
            "{what}: {name} is not in regmap.rs"
        );
        let row = rows
            .iter()
            .find(|r| r.name == *name)
            .unwrap_or_else(|| panic!("{what}: {name} is not documented"));
        let want = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        assert_eq!(
            row.key, want,
            "{what}: {name} documented at the wrong address"
        );
    }
    for r in rows {
        assert!(
            expected.iter().any(|(e, ..)| *e == r.name),
            "{what}: extra row {} in the document",
            r.name
        );
    }
    assert_eq!(rows.len(), expected.len(), "{what}: duplicate rows");
}

fn bit(mask: u16) -> u16 {
    assert_eq!(mask.count_ones(), 1);
    mask.trailing_zeros() as u16
}

/// The non-address constants of a module (counts, bits, masks).
fn addresses_only(module: &str) -> Vec<String> {
    src_consts(module)
        .into_iter()
        .filter(|n| {
            n != "COUNT"
                && n != "LED_TEXT_REGS"
                && n != "FLAGS_DEFINED"
                && !n.starts_with("OUT_")
                && !n.starts_with("ST_")
                && !n.starts_with("FLAG_")
        })
        .collect()
}

fn bits_only(module: &str, prefix: &str) -> Vec<String> {
    src_consts(module)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn discrete_inputs_match() {
    let t = tables(DOC);
    let e = [
        ("ARRIVAL_LOOP", di::ARRIVAL_LOOP, di::ARRIVAL_LOOP),
        ("SAFETY_LOOP", di::SAFETY_LOOP, di::SAFETY_LOOP),
        ("EXIT_LOOP", di::EXIT_LOOP, di::EXIT_LOOP),
        ("PHOTOCELL", di::PHOTOCELL, di::PHOTOCELL),
        ("UP_LIMIT", di::UP_LIMIT, di::UP_LIMIT),
        ("DOWN_LIMIT", di::DOWN_LIMIT, di::DOWN_LIMIT),
        ("MANUAL_KEY", di::MANUAL_KEY, di::MANUAL_KEY),
        ("MOTOR_FAULT", di::MOTOR_FAULT, di::MOTOR_FAULT),
    ];
    check_kind(
        section(&t, "Discrete inputs"),
        &e,
        &addresses_only("di"),
        "discrete inputs",
    );
    assert_eq!(e.len(), usize::from(di::COUNT));
}

#[test]
fn coils_match_with_defaults() {
    let t = tables(DOC);
    let e = [
        ("RAISE", coil::RAISE, coil::RAISE),
        ("LOWER", coil::LOWER, coil::LOWER),
        ("STOP", coil::STOP, coil::STOP),
        ("LIGHT_GREEN", coil::LIGHT_GREEN, coil::LIGHT_GREEN),
        ("BUZZER", coil::BUZZER, coil::BUZZER),
        ("FAULT_RESET", coil::FAULT_RESET, coil::FAULT_RESET),
    ];
    let rows = section(&t, "Coils");
    check_kind(rows, &e, &addresses_only("coil"), "coils");
    assert_eq!(e.len(), usize::from(coil::COUNT));
    let board = Board::new();
    for r in rows {
        let addr: u16 = r.key.parse().expect("coil address");
        let default = r.cells.last().expect("default column");
        let want = u8::from(board.read_coil(addr).expect("coil"));
        assert_eq!(default, &want.to_string(), "default of coil {}", r.name);
    }
}

#[test]
fn holding_registers_match_with_defaults() {
    let t = tables(DOC);
    let e = [
        ("HEARTBEAT", hr::HEARTBEAT, hr::HEARTBEAT),
        (
            "HEARTBEAT_TIMEOUT_MS",
            hr::HEARTBEAT_TIMEOUT_MS,
            hr::HEARTBEAT_TIMEOUT_MS,
        ),
        (
            "AUTO_CLOSE_DELAY_MS",
            hr::AUTO_CLOSE_DELAY_MS,
            hr::AUTO_CLOSE_DELAY_MS,
        ),
        (
            "MOTOR_RUN_TIMEOUT_MS",
            hr::MOTOR_RUN_TIMEOUT_MS,
            hr::MOTOR_RUN_TIMEOUT_MS,
        ),
        ("DEBOUNCE_MS", hr::DEBOUNCE_MS, hr::DEBOUNCE_MS),
        ("FLAGS", hr::FLAGS, hr::FLAGS),
        ("LED_LEN", hr::LED_LEN, hr::LED_LEN),
        ("CLEAR_DELAY_MS", hr::CLEAR_DELAY_MS, hr::CLEAR_DELAY_MS),
        (
            "LED_TEXT",
            hr::LED_TEXT,
            hr::LED_TEXT + hr::LED_TEXT_REGS - 1,
        ),
    ];
    let rows = section(&t, "Holding registers");
    check_kind(rows, &e, &addresses_only("hr"), "holding registers");
    let board = Board::new();
    for (name, first, last) in e {
        let row = rows.iter().find(|r| r.name == name).expect("row");
        let default = row.cells.last().expect("default column");
        for a in first..=last {
            let v = board.read_holding_register(a).expect("holding register");
            assert_eq!(default, &v.to_string(), "default of {name} (address {a})");
        }
    }
    // The map has no other holding register than those documented.
    for a in 0..hr::COUNT {
        let documented = e.iter().any(|(_, f, l)| (*f..=*l).contains(&a));
        assert_eq!(
            board.read_holding_register(a).is_ok(),
            documented,
            "holding register {a}"
        );
    }
}

#[test]
fn input_registers_match() {
    let t = tables(DOC);
    let e = [
        ("BARRIER_STATE", ir::BARRIER_STATE, ir::BARRIER_STATE),
        ("FAULT_CODE", ir::FAULT_CODE, ir::FAULT_CODE),
        ("VEHICLE_COUNT", ir::VEHICLE_COUNT, ir::VEHICLE_COUNT),
        ("RAISE_COUNT", ir::RAISE_COUNT, ir::RAISE_COUNT),
        ("TAILGATE_COUNT", ir::TAILGATE_COUNT, ir::TAILGATE_COUNT),
        ("REVERSAL_COUNT", ir::REVERSAL_COUNT, ir::REVERSAL_COUNT),
        ("FAULT_COUNT", ir::FAULT_COUNT, ir::FAULT_COUNT),
        ("FW_VERSION", ir::FW_VERSION, ir::FW_VERSION),
        ("OUTPUTS", ir::OUTPUTS, ir::OUTPUTS),
        ("STATUS", ir::STATUS, ir::STATUS),
        ("UPTIME_LO", ir::UPTIME_LO, ir::UPTIME_LO),
        ("UPTIME_HI", ir::UPTIME_HI, ir::UPTIME_HI),
        ("LAST_COMMAND", ir::LAST_COMMAND, ir::LAST_COMMAND),
    ];
    check_kind(
        section(&t, "Input registers"),
        &e,
        &addresses_only("ir"),
        "input registers",
    );
    assert_eq!(e.len(), usize::from(ir::COUNT));
}

/// (heading, regmap module, name prefix, (name, mask) pairs)
type BitCase<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, u16)>);

#[test]
fn bit_tables_match() {
    let t = tables(DOC);
    let cases: [BitCase; 3] = [
        (
            "OUTPUTS bits",
            "ir",
            "OUT_",
            vec![
                ("OUT_MOTOR_UP", ir::OUT_MOTOR_UP),
                ("OUT_MOTOR_DOWN", ir::OUT_MOTOR_DOWN),
                ("OUT_LIGHT_GREEN", ir::OUT_LIGHT_GREEN),
                ("OUT_BUZZER", ir::OUT_BUZZER),
            ],
        ),
        (
            "STATUS bits",
            "ir",
            "ST_",
            vec![
                ("ST_HEARTBEAT_LOST", ir::ST_HEARTBEAT_LOST),
                ("ST_TAILGATE", ir::ST_TAILGATE),
                ("ST_HELD_BY_OCCUPANCY", ir::ST_HELD_BY_OCCUPANCY),
                ("ST_ADMIT_PENDING", ir::ST_ADMIT_PENDING),
                ("ST_MANUAL", ir::ST_MANUAL),
            ],
        ),
        (
            "FLAGS bits",
            "hr",
            "FLAG_",
            vec![("FLAG_AUTO_CLOSE", hr::FLAG_AUTO_CLOSE)],
        ),
    ];
    for (heading, module, prefix, bits) in cases {
        let e: Vec<(&str, u16, u16)> = bits.iter().map(|(n, m)| (*n, bit(*m), bit(*m))).collect();
        check_kind(
            section(&t, heading),
            &e,
            &bits_only(module, prefix),
            heading,
        );
    }
    assert_eq!(
        hr::FLAGS_DEFINED,
        hr::FLAG_AUTO_CLOSE,
        "a new FLAGS bit needs a row"
    );
}

#[test]
fn enum_tables_match() {
    let t = tables(DOC);
    let check = |heading: &str, enum_name: &str, decode: &dyn Fn(u16) -> Option<String>| {
        let rows = section(&t, heading);
        let variants = src_variants(enum_name);
        assert_eq!(rows.len(), variants.len(), "{heading}: one row per variant");
        for v in &variants {
            let row = rows
                .iter()
                .find(|r| &r.name == v)
                .unwrap_or_else(|| panic!("{heading}: {v} missing"));
            let value: u16 = row.key.parse().expect("value");
            assert_eq!(
                decode(value).as_deref(),
                Some(v.as_str()),
                "{heading}: {v} has the wrong value"
            );
        }
    };
    check("BARRIER_STATE values", "BarrierState", &|v| {
        BarrierState::from_u16(v).map(|s| format!("{s:?}"))
    });
    check("FAULT_CODE values", "FaultCode", &|v| {
        FaultCode::from_u16(v).map(|s| format!("{s:?}"))
    });
    check("LAST_COMMAND values", "CommandResult", &|v| {
        CommandResult::from_u16(v).map(|s| format!("{s:?}"))
    });
}

#[test]
fn parser_sees_a_wrong_address() {
    // The checker itself must be able to fail: a document with a renumbered row.
    let bad = DOC.replace("| 2 | `EXIT_LOOP` |", "| 9 | `EXIT_LOOP` |");
    assert_ne!(bad, DOC);
    let t = tables(&bad);
    let rows = section(&t, "Discrete inputs");
    let r = std::panic::catch_unwind(|| {
        check_kind(
            rows,
            &[("EXIT_LOOP", di::EXIT_LOOP, di::EXIT_LOOP)],
            &["EXIT_LOOP".into()],
            "di",
        )
    });
    assert!(r.is_err());
}
