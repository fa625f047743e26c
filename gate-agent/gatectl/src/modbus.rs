//! `gatectl modbus read|write|scan`: Modbus commissioning without the agent.
//!
//! Layer: commissioning tool over the agent's own bus driver
//! ([`gate_drivers::bus`]: tokio-modbus with a deadline on every request,
//! RTU silence after a timeout, exceptions kept apart from timeouts), with
//! no retries so what is printed is what the wire did.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cli::{KindArg, LineArgs, ModbusCmd, ModbusRw, ParityArg, ScanArgs, TransportArgs};
use super::out::Style;
use super::{exit, show, Ctx, Failure};
use gate_config::devices::{ModbusBusConfig, Parity, SerialPortConfig};
use gate_drivers::bus::{Request, Response};
use gate_drivers::health::HealthCell;
use gate_drivers::{spawn_bus, DeviceError, HealthRegistry};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModbusResult {
    pub transport: String,
    pub unit: u8,
    pub kind: String,
    pub addr: u16,
    /// Registers as read/written; bits as 0/1.
    pub values: Vec<u16>,
    pub written: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRow {
    pub unit: u8,
    /// `ok` (holding register 0 read) or `exception` (the unit answered "no").
    pub result: String,
    pub value: Option<u16>,
    pub exception: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub transport: String,
    pub from: u8,
    pub to: u8,
    pub timeout_ms: u64,
    /// Units that answered, in order.
    pub found: Vec<ScanRow>,
}

fn kind_name(k: KindArg) -> &'static str {
    match k {
        KindArg::Coil => "coil",
        KindArg::Discrete => "discrete",
        KindArg::Holding => "holding",
        KindArg::Input => "input",
    }
}

fn bus_config(
    t: &TransportArgs,
    line: &LineArgs,
    timeout_ms: u64,
) -> Result<(ModbusBusConfig, String), Failure> {
    let mut c = match (&t.tcp, &t.rtu) {
        (Some(a), None) => ModbusBusConfig::tcp("gatectl", a),
        (None, Some(p)) => ModbusBusConfig::rtu(
            "gatectl",
            SerialPortConfig {
                path: p.clone(),
                baud: line.baud,
                parity: match line.parity {
                    ParityArg::None => Parity::None,
                    ParityArg::Even => Parity::Even,
                    ParityArg::Odd => Parity::Odd,
                },
                data_bits: line.data_bits,
                stop_bits: line.stop_bits,
            },
        ),
        _ => return Err(Failure::Usage("give exactly one of --tcp and --rtu".into())),
    };
    c.request_timeout_ms = timeout_ms.clamp(10, 60_000);
    c.connect_timeout_ms = c.request_timeout_ms.max(1000);
    c.retries = 0;
    c.queue_timeout_ms = 1000;
    c.backoff.initial_ms = 50;
    c.backoff.max_ms = 200;
    c.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    let shown = match (&t.tcp, &t.rtu) {
        (Some(a), _) => format!("tcp {a}"),
        (_, Some(p)) => format!(
            "rtu {} {} baud {}{}{}",
            p.display(),
            line.baud,
            line.data_bits,
            match line.parity {
                ParityArg::None => "N",
                ParityArg::Even => "E",
                ParityArg::Odd => "O",
            },
            line.stop_bits
        ),
        _ => String::new(),
    };
    Ok((c, shown))
}

fn device_failure(unit: u8, e: DeviceError) -> Failure {
    let kind = match &e {
        DeviceError::Exception(_) => "exception",
        DeviceError::Timeout(_) | DeviceError::Expired(_) => "timeout",
        _ => "transport",
    };
    Failure::Device(kind, format!("unit {unit}: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("async runtime: {e}")))
}

pub(super) fn run(ctx: &Ctx, m: ModbusCmd) -> Result<u8, Failure> {
    match m {
        ModbusCmd::Read(a) => read_write(ctx, a, false),
        ModbusCmd::Write(a) => read_write(ctx, a, true),
        ModbusCmd::Scan(a) => scan(ctx, a),
    }
}

/// A register value: decimal, 0x hex, or a negative i16.
fn parse_register(s: &str) -> Result<u16, String> {
    let t = s.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u16::from_str_radix(h, 16).ok()
    } else if let Some(n) = t.strip_prefix('-') {
        n.parse::<u16>()
            .ok()
            .filter(|v| *v <= 32768)
            .map(|v| (-(i32::from(v))) as i16 as u16)
    } else {
        t.parse::<u16>().ok()
    };
    r.ok_or_else(|| {
        format!("`{s}` is not a register value (0..65535, 0x0000..0xFFFF or -32768..-1)")
    })
}

fn parse_bit(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(format!(
            "`{s}` is not a coil value (0/1, true/false, on/off)"
        )),
    }
}

fn read_write(ctx: &Ctx, a: ModbusRw, write: bool) -> Result<u8, Failure> {
    let (cfg, shown) = bus_config(&a.transport, &a.line, a.timeout_ms)?;
    let bits = matches!(a.kind, KindArg::Coil | KindArg::Discrete);
    let request = if write {
        if a.value.is_empty() {
            return Err(Failure::Usage("write needs --value V [V...]".into()));
        }
        match a.kind {
            KindArg::Coil => {
                let v = a
                    .value
                    .iter()
                    .map(|s| parse_bit(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Failure::Usage)?;
                if v.len() > 1968 {
                    return Err(Failure::Usage("at most 1968 coils per write".into()));
                }
                if v.len() == 1 {
                    Request::WriteSingleCoil(a.addr, v[0])
                } else {
                    Request::WriteMultipleCoils(a.addr, v)
                }
            }
            KindArg::Holding => {
                let v = a
                    .value
                    .iter()
                    .map(|s| parse_register(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Failure::Usage)?;
                if v.len() > 123 {
                    return Err(Failure::Usage("at most 123 registers per write".into()));
                }
                if v.len() == 1 {
                    Request::WriteSingleRegister(a.addr, v[0])
                } else {
                    Request::WriteMultipleRegisters(a.addr, v)
                }
            }
            _ => {
                return Err(Failure::Usage(
                    "only coils and holding registers can be written".into(),
                ))
            }
        }
    } else {
        if !a.value.is_empty() {
            return Err(Failure::Usage("--value is for `modbus write`".into()));
        }
        let max = if bits { 2000 } else { 125 };
        if a.count == 0 || a.count > max {
            return Err(Failure::Usage(format!("--count must be within 1..={max}")));
        }
        if u32::from(a.addr) + u32::from(a.count) > 0x1_0000 {
            return Err(Failure::Usage("addr + count beyond 65536".into()));
        }
        match a.kind {
            KindArg::Coil => Request::ReadCoils(a.addr, a.count),
            KindArg::Discrete => Request::ReadDiscreteInputs(a.addr, a.count),
            KindArg::Holding => Request::ReadHoldingRegisters(a.addr, a.count),
            KindArg::Input => Request::ReadInputRegisters(a.addr, a.count),
        }
    };
    let written_values: Vec<u16> = match &request {
        Request::WriteSingleCoil(_, v) => vec![u16::from(*v)],
        Request::WriteMultipleCoils(_, v) => v.iter().map(|b| u16::from(*b)).collect(),
        Request::WriteSingleRegister(_, v) => vec![*v],
        Request::WriteMultipleRegisters(_, v) => v.clone(),
        _ => Vec::new(),
    };
    let unit = a.unit;
    let rt = runtime()?;
    let resp = rt.block_on(async move {
        let (bus, _task) =
            spawn_bus(cfg, &HealthRegistry::new()).map_err(|e| Failure::Usage(e.to_string()))?;
        let dev = bus.device(unit, HealthCell::detached("gatectl"));
        // Writes are sent once: never retried (a momentary coil could act twice).
        dev.call(request, false)
            .await
            .map_err(|e| device_failure(unit, e))
    })?;
    let values = match resp {
        Response::Bits(mut b) => {
            b.truncate(usize::from(a.count));
            b.into_iter().map(u16::from).collect()
        }
        Response::Words(w) => w,
        Response::Written => written_values,
    };
    let r = ModbusResult {
        transport: shown,
        unit,
        kind: kind_name(a.kind).to_owned(),
        addr: a.addr,
        values,
        written: write,
    };
    show(ctx, &r, None, |o, r| {
        let what = if r.written { "wrote" } else { "read" };
        o.line(&o.paint(
            &format!(
                "{what} {} {}(s) at {} on unit {} ({})",
                r.values.len(),
                r.kind,
                r.addr,
                r.unit,
                r.transport
            ),
            Style::Dim,
        ));
        let bits = r.kind == "coil" || r.kind == "discrete";
        let rows: Vec<Vec<(String, Style)>> = r
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let addr = (u32::from(r.addr) + i as u32).to_string();
                if bits {
                    vec![
                        (addr, Style::Plain),
                        (
                            v.to_string(),
                            if *v != 0 { Style::Bold } else { Style::Dim },
                        ),
                    ]
                } else {
                    vec![
                        (addr, Style::Plain),
                        (v.to_string(), Style::Bold),
                        (format!("0x{v:04X}"), Style::Plain),
                        ((*v as i16).to_string(), Style::Dim),
                    ]
                }
            })
            .collect();
        if bits {
            o.table(&["ADDR", "VALUE"], &rows);
        } else {
            o.table(&["ADDR", "VALUE", "HEX", "SIGNED"], &rows);
        }
    });
    Ok(exit::OK)
}

fn scan(ctx: &Ctx, a: ScanArgs) -> Result<u8, Failure> {
    if a.from == 0 || a.to > 247 || a.from > a.to {
        return Err(Failure::Usage(
            "scan range must be within 1..=247, --from <= --to".into(),
        ));
    }
    let (cfg, shown) = bus_config(&a.transport, &a.line, a.timeout_ms)?;
    let (from, to) = (a.from, a.to);
    let rt = runtime()?;
    let found = rt.block_on(async move {
        let (bus, _task) =
            spawn_bus(cfg, &HealthRegistry::new()).map_err(|e| Failure::Usage(e.to_string()))?;
        let mut found = Vec::new();
        let mut transport_errors = 0u32;
        for unit in from..=to {
            let r = bus
                .call(unit, Request::ReadHoldingRegisters(0, 1), true)
                .await;
            match r {
                Ok((Response::Words(w), _)) => found.push(ScanRow {
                    unit,
                    result: "ok".into(),
                    value: w.first().copied(),
                    exception: None,
                }),
                Ok(_) => found.push(ScanRow {
                    unit,
                    result: "ok".into(),
                    value: None,
                    exception: None,
                }),
                Err(DeviceError::Exception(code)) => found.push(ScanRow {
                    unit,
                    result: "exception".into(),
                    value: None,
                    exception: Some(DeviceError::Exception(code).to_string()),
                }),
                Err(DeviceError::Timeout(_) | DeviceError::Expired(_)) => {}
                Err(e) => {
                    // The line or the connection itself fails: say so
                    // instead of reporting 247 silent units.
                    transport_errors += 1;
                    if transport_errors >= 3 {
                        return Err(Failure::Device(
                            "transport",
                            format!("scan stopped at unit {unit}: {e}"),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(found)
    })?;
    let r = ScanResult {
        transport: shown,
        from,
        to,
        timeout_ms: a.timeout_ms,
        found,
    };
    show(ctx, &r, None, |o, r| {
        if !r.found.is_empty() {
            let rows: Vec<Vec<(String, Style)>> = r
                .found
                .iter()
                .map(|f| {
                    vec![
                        (f.unit.to_string(), Style::Bold),
                        (
                            f.result.clone(),
                            if f.result == "ok" {
                                Style::Good
                            } else {
                                Style::Warn
                            },
                        ),
                        (
                            match (&f.value, &f.exception) {
                                (Some(v), _) => format!("HR0 = {v} (0x{v:04X})"),
                                (_, Some(e)) => format!("answers: {e}"),
                                _ => String::new(),
                            },
                            Style::Plain,
                        ),
                    ]
                })
                .collect();
            o.table(&["UNIT", "RESULT", "DETAIL"], &rows);
        }
        o.line(&o.paint(
            &format!(
                "{} of {} unit ids answered ({}, {} ms per unit)",
                r.found.len(),
                u16::from(r.to) - u16::from(r.from) + 1,
                r.transport,
                r.timeout_ms
            ),
            Style::Dim,
        ));
    });
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_register("42"), Ok(42));
        assert_eq!(parse_register("0x00ff"), Ok(255));
        assert_eq!(parse_register("-1"), Ok(0xFFFF));
        assert_eq!(parse_register("-32768"), Ok(0x8000));
        assert!(parse_register("-32769").is_err());
        assert!(parse_register("65536").is_err());
        assert!(parse_register("x").is_err());
        assert_eq!(parse_bit("on"), Ok(true));
        assert_eq!(parse_bit("0"), Ok(false));
        assert!(parse_bit("2").is_err());
    }
}
