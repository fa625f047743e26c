//! `gatectl serial monitor`: what an indicator sends, frame by frame.
//!
//! Layer: commissioning tool. Frames are found and parsed by the agent's
//! own framer and parsers (`gate-wire`'s [`AsciiFramer`], `toledo`,
//! `xk3190`), so what is printed is what the lane would read.
//! `raw` prints each read as hex and text.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::cli::{ParityArg, ProtocolArg, SerialCmd};
use super::out::Style;
use super::{exit, Ctx, Failure};
use gate_config::devices::{Parity, SerialPortConfig};
use gate_wire::weighbridge::{AsciiEvent, AsciiFramer, AsciiProtocol};

/// One thing seen on the line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SerialLine {
    /// Milliseconds since the monitor started.
    pub t_ms: u64,
    /// frame, bad, garbage, raw.
    pub kind: String,
    pub gross_kg: Option<f64>,
    pub tare_kg: Option<f64>,
    /// The indicator's own stable flag (Toledo: not in motion).
    pub stable: Option<bool>,
    pub overload: Option<bool>,
    pub underload: Option<bool>,
    pub error: Option<String>,
    pub bytes: Option<usize>,
    pub hex: Option<String>,
    pub text: Option<String>,
}

pub(super) fn run(ctx: &Ctx, c: SerialCmd) -> Result<u8, Failure> {
    let SerialCmd::Monitor {
        port,
        line,
        protocol,
        checksum,
        kg_per_unit,
        count,
        seconds,
    } = c;
    let pc = SerialPortConfig {
        path: port.clone(),
        baud: line.baud,
        parity: match line.parity {
            ParityArg::None => Parity::None,
            ParityArg::Even => Parity::Even,
            ParityArg::Odd => Parity::Odd,
        },
        data_bits: line.data_bits,
        stop_bits: line.stop_bits,
    };
    pc.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    if !(kg_per_unit.is_finite() && kg_per_unit > 0.0) {
        return Err(Failure::Usage("--kg-per-unit must be > 0".into()));
    }
    let mut framer = match protocol {
        ProtocolArg::Toledo => Some(AsciiFramer::new(
            AsciiProtocol::Toledo,
            checksum,
            kg_per_unit,
        )),
        ProtocolArg::Xk3190 => Some(AsciiFramer::new(AsciiProtocol::Xk3190, true, kg_per_unit)),
        ProtocolArg::Raw => None,
    };
    let out = ctx.out;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("async runtime: {e}")))?;
    rt.block_on(async move {
        let mut port_s = tokio_serial::SerialStream::open(&pc.builder())
            .map_err(|e| Failure::Failed(format!("opening {}: {e}", port.display())))?;
        if !out.json {
            out.line(&out.paint(
                &format!(
                    "monitoring {} at {} baud ({:?}); Ctrl-C to stop",
                    port.display(),
                    pc.baud,
                    protocol
                ),
                Style::Dim,
            ));
        }
        let t0 = Instant::now();
        let until = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut buf = [0u8; 512];
        let mut frames = 0u64;
        loop {
            if count.is_some_and(|c| frames >= c) {
                return Ok(exit::OK);
            }
            let read = match until {
                Some(u) => match tokio::time::timeout_at(u, port_s.read(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => return Ok(exit::OK),
                },
                None => port_s.read(&mut buf).await,
            };
            let n = match read {
                Ok(0) => return Err(Failure::Failed(format!("{}: end of file", port.display()))),
                Ok(n) => n,
                Err(e) => return Err(Failure::Failed(format!("reading {}: {e}", port.display()))),
            };
            let t_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
            let lines: Vec<SerialLine> = match framer.as_mut() {
                None => vec![raw_line(t_ms, &buf[..n])],
                Some(f) => f
                    .push(&buf[..n])
                    .into_iter()
                    .map(|e| event_line(t_ms, e))
                    .collect(),
            };
            for l in lines {
                if l.kind == "frame" || l.kind == "raw" {
                    frames += 1;
                }
                print(&out, &l);
                if count.is_some_and(|c| frames >= c) {
                    break;
                }
            }
        }
    })
}

fn raw_line(t_ms: u64, b: &[u8]) -> SerialLine {
    SerialLine {
        t_ms,
        kind: "raw".into(),
        bytes: Some(b.len()),
        hex: Some(
            b.iter()
                .map(|x| format!("{x:02X}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        text: Some(
            b.iter()
                .map(|x| {
                    let c = x & 0x7F;
                    if (0x20..0x7F).contains(&c) {
                        c as char
                    } else {
                        '.'
                    }
                })
                .collect(),
        ),
        ..SerialLine::default()
    }
}

fn event_line(t_ms: u64, e: AsciiEvent) -> SerialLine {
    match e {
        AsciiEvent::Weight(w) => SerialLine {
            t_ms,
            kind: "frame".into(),
            gross_kg: Some(w.gross_kg),
            tare_kg: w.tare_kg,
            stable: w.device_stable,
            overload: Some(w.overload),
            underload: Some(w.underload),
            ..SerialLine::default()
        },
        AsciiEvent::Bad(m) => SerialLine {
            t_ms,
            kind: "bad".into(),
            error: Some(m.to_string()),
            ..SerialLine::default()
        },
        AsciiEvent::Garbage(n) => SerialLine {
            t_ms,
            kind: "garbage".into(),
            bytes: Some(n),
            ..SerialLine::default()
        },
    }
}

fn print(o: &super::out::Out, l: &SerialLine) {
    if o.json {
        o.json(l, None);
        return;
    }
    let t = format!("{:>8.3}s", l.t_ms as f64 / 1000.0);
    let s = match l.kind.as_str() {
        "frame" => {
            let st = match (l.overload, l.stable) {
                (Some(true), _) => o.paint("OVERLOAD", Style::Bad),
                _ if l.underload == Some(true) => o.paint("UNDERLOAD", Style::Bad),
                (_, Some(true)) => o.paint("stable", Style::Good),
                (_, Some(false)) => o.paint("motion", Style::Warn),
                _ => o.paint("(no stable flag)", Style::Dim),
            };
            format!(
                "{t}  {} kg  {st}{}",
                o.paint(
                    &l.gross_kg.map(|g| g.to_string()).unwrap_or_default(),
                    Style::Bold
                ),
                l.tare_kg
                    .map(|t| format!("  tare {t} kg"))
                    .unwrap_or_default()
            )
        }
        "bad" => format!(
            "{t}  {}",
            o.paint(
                &format!("bad frame: {}", l.error.as_deref().unwrap_or("")),
                Style::Bad
            )
        ),
        "garbage" => format!(
            "{t}  {}",
            o.paint(
                &format!("skipped {} byte(s) outside frames", l.bytes.unwrap_or(0)),
                Style::Dim
            )
        ),
        _ => format!(
            "{t}  {:>3} B  {}  |{}|",
            l.bytes.unwrap_or(0),
            l.hex.as_deref().unwrap_or(""),
            l.text.as_deref().unwrap_or("")
        ),
    };
    o.line(&s);
}
