//! serve_rtu / serve_rtu_multi on a socat pty pair against tokio-modbus'
//! RTU client and raw bytes: every function code, exceptions, broadcast,
//! several units on one line, garbage and slow byte-by-byte masters, fault
//! modes.

use crate::common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use common::{faults, seeded_model, shared, within, PtyPair, SHORT, STEP};
use lane_io::modbus::DataModel;
use lane_io_host::{
    open_serial, serve_rtu, serve_rtu_multi, FaultMode, FaultSwitch, MemoryModel, RtuDevice, Shared,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_modbus::client::{rtu, Context};
use tokio_modbus::prelude::*;

const BAUD: u32 = 19200;

struct Line {
    pair: PtyPair,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for Line {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn single(unit: u8) -> (Line, Shared<MemoryModel>, Arc<FaultSwitch>) {
    let pair = PtyPair::new();
    let port = open_serial(pair.a(), BAUD).expect("open pty a");
    let model = shared(seeded_model());
    let f = faults();
    let task = tokio::spawn(serve_rtu(port, model.clone(), unit, BAUD, f.clone()));
    (Line { pair, task }, model, f)
}

fn master(line: &Line, unit: u8) -> Context {
    let port = open_serial(line.pair.b(), BAUD).expect("open pty b");
    rtu::attach_slave(port, Slave(unit))
}

#[tokio::test]
async fn every_function_code_over_a_pty() {
    let (line, model, _) = single(1);
    let mut c = master(&line, 1);
    let ir = within(STEP, "FC04", c.read_input_registers(0, 4)).await;
    assert_eq!(ir.expect("transport").expect("ok"), [100, 101, 102, 103]);
    let di = within(STEP, "FC02", c.read_discrete_inputs(0, 3)).await;
    assert_eq!(di.expect("t").expect("ok"), [true, false, true]);
    within(STEP, "FC05", c.write_single_coil(2, true))
        .await
        .expect("t")
        .expect("ok");
    within(
        STEP,
        "FC15",
        c.write_multiple_coils(4, &[true, true, false, true]),
    )
    .await
    .expect("t")
    .expect("ok");
    let coils = within(STEP, "FC01", c.read_coils(0, 8))
        .await
        .expect("t")
        .expect("ok");
    assert_eq!(coils, [false, false, true, false, true, true, false, true]);
    within(STEP, "FC06", c.write_single_register(1, 0x1234))
        .await
        .expect("t")
        .expect("ok");
    let regs: Vec<u16> = (0..60).collect();
    within(STEP, "FC16", c.write_multiple_registers(4, &regs))
        .await
        .expect("t")
        .expect("ok");
    let hr = within(STEP, "FC03", c.read_holding_registers(0, 64))
        .await
        .expect("t")
        .expect("ok");
    assert_eq!(hr[1], 0x1234);
    assert_eq!(&hr[4..], &regs[..]);
    assert_eq!(model.lock().expect("lock").holding_registers[63], 59);
}

#[tokio::test]
async fn exceptions_over_a_pty() {
    let (line, _, _) = single(1);
    let mut c = master(&line, 1);
    let r = within(STEP, "02", c.read_input_registers(15, 2)).await;
    assert_eq!(r.expect("t"), Err(ExceptionCode::IllegalDataAddress));
    let r = within(STEP, "03", c.read_coils(0, 2001)).await;
    assert_eq!(r.expect("t"), Err(ExceptionCode::IllegalDataValue));
    let r = within(
        STEP,
        "01 custom",
        c.call(Request::Custom(0x41, Cow::Borrowed(&[0x0E, 0x01]))),
    )
    .await;
    assert_eq!(r.expect("t"), Err(ExceptionCode::IllegalFunction));
    let r = within(
        STEP,
        "01 MEI",
        c.read_device_identification(ReadCode::Basic, 0),
    )
    .await;
    assert_eq!(r.expect("t"), Err(ExceptionCode::IllegalFunction));
    let r = within(
        STEP,
        "01 mask write",
        c.masked_write_register(0, 0xFF00, 0x0012),
    )
    .await;
    assert_eq!(r.expect("t"), Err(ExceptionCode::IllegalFunction));
    // the line is still in sync
    let r = within(STEP, "after", c.read_input_registers(15, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [115]);
}

#[tokio::test]
async fn broadcast_is_executed_and_not_answered() {
    let (line, model, _) = single(1);
    let mut c = master(&line, 0);
    let r = tokio::time::timeout(SHORT, c.write_single_register(7, 4242)).await;
    assert!(r.is_err(), "broadcast answered: {r:?}");
    c.set_slave(Slave(1));
    let r = within(STEP, "read back", c.read_holding_registers(7, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [4242]);
    assert_eq!(model.lock().expect("lock").holding_registers[7], 4242);
}

fn multi() -> (Line, [Shared<MemoryModel>; 2], [Arc<FaultSwitch>; 2]) {
    let pair = PtyPair::new();
    let port = open_serial(pair.a(), BAUD).expect("open pty a");
    let m1 = shared(seeded_model());
    let mut other = seeded_model();
    other.input_registers[0] = 2000;
    let m2 = shared(other);
    let (f1, f2) = (faults(), faults());
    let d1: Shared<dyn DataModel + Send> = m1.clone();
    let d2: Shared<dyn DataModel + Send> = m2.clone();
    let devices = vec![
        RtuDevice {
            unit_id: 1,
            model: d1,
            faults: f1.clone(),
        },
        RtuDevice {
            unit_id: 2,
            model: d2,
            faults: f2.clone(),
        },
    ];
    let task = tokio::spawn(serve_rtu_multi(port, BAUD, devices));
    (Line { pair, task }, [m1, m2], [f1, f2])
}

#[tokio::test]
async fn two_units_share_one_line() {
    let (line, [m1, m2], [_, f2]) = multi();
    let mut c = master(&line, 1);
    let r = within(STEP, "unit 1", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [100]);
    c.set_slave(Slave(2));
    let r = within(STEP, "unit 2", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [2000]);
    within(STEP, "write unit 2", c.write_single_register(0, 22))
        .await
        .expect("t")
        .expect("ok");
    assert_eq!(m1.lock().expect("lock").holding_registers[0], 0);
    assert_eq!(m2.lock().expect("lock").holding_registers[0], 22);
    // nobody is unit 3
    c.set_slave(Slave(3));
    let r = tokio::time::timeout(SHORT, c.read_input_registers(0, 1)).await;
    assert!(r.is_err(), "unit 3 answered: {r:?}");
    // a broadcast reaches both
    c.set_slave(Slave(0));
    let _ = tokio::time::timeout(SHORT, c.write_single_coil(1, true)).await;
    assert!(m1.lock().expect("lock").coils[1]);
    assert!(m2.lock().expect("lock").coils[1]);
    // unit 2 goes silent, unit 1 still answers
    f2.set(FaultMode::Silent);
    c.set_slave(Slave(2));
    let r = tokio::time::timeout(SHORT, c.write_single_register(0, 23)).await;
    assert!(r.is_err(), "silent unit answered: {r:?}");
    assert_eq!(
        m2.lock().expect("lock").holding_registers[0],
        22,
        "silent: not executed"
    );
    c.set_slave(Slave(1));
    let r = within(STEP, "unit 1 still", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [100]);
    f2.set(FaultMode::Offline);
    c.set_slave(Slave(2));
    let r = tokio::time::timeout(SHORT, c.read_input_registers(0, 1)).await;
    assert!(r.is_err(), "offline unit answered: {r:?}");
    f2.set(FaultMode::Normal);
    let r = within(STEP, "unit 2 back", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [2000]);
}

/// CRC-16/MODBUS (bitwise, independent of the core's table).
fn crc(data: &[u8]) -> [u8; 2] {
    let mut c: u16 = 0xFFFF;
    for &b in data {
        c ^= u16::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
        }
    }
    c.to_le_bytes()
}

fn frame(pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![1u8];
    f.extend_from_slice(pdu);
    let c = crc(&f);
    f.extend_from_slice(&c);
    f
}

async fn read_frame(port: &mut tokio_serial::SerialStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within(STEP, "response", port.read_exact(&mut buf))
        .await
        .expect("read");
    buf
}

#[tokio::test]
async fn garbage_then_request_and_slow_byte_by_byte_master() {
    let (line, _, _) = single(1);
    let mut port = open_serial(line.pair.b(), BAUD).expect("open pty b");
    let req = frame(&[0x04, 0x00, 0x03, 0x00, 0x02]);
    let rsp = frame(&[0x04, 0x04, 0x00, 103, 0x00, 104]);
    // noise glued to the front of the request
    let mut noisy = vec![0xFF, 0x00, 0x37, 0x99];
    noisy.extend_from_slice(&req);
    port.write_all(&noisy).await.expect("write");
    assert_eq!(read_frame(&mut port, rsp.len()).await, rsp);
    // a master (or adapter) delivering one byte every 5 ms, longer than
    // the 2 ms spec gap at 19200 baud
    for b in &req {
        port.write_all(std::slice::from_ref(b))
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(read_frame(&mut port, rsp.len()).await, rsp);
    // a corrupted request is not answered; the next good one is
    let mut bad = req.clone();
    bad[3] ^= 0x10;
    port.write_all(&bad).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    port.write_all(&req).await.expect("write");
    assert_eq!(read_frame(&mut port, rsp.len()).await, rsp);
}

#[tokio::test]
async fn duplicate_or_invalid_unit_ids_are_refused() {
    let pair = PtyPair::new();
    let model: Shared<dyn DataModel + Send> = shared(seeded_model());
    for units in [vec![1u8, 1], vec![0], vec![248]] {
        let port = open_serial(pair.a(), BAUD).expect("open pty a");
        let devices = units
            .iter()
            .map(|&u| RtuDevice {
                unit_id: u,
                model: model.clone(),
                faults: faults(),
            })
            .collect();
        let r = within(STEP, "refusal", serve_rtu_multi(port, BAUD, devices)).await;
        assert_eq!(
            r.expect_err("must be refused").kind(),
            std::io::ErrorKind::InvalidInput,
            "{units:?}"
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift), none in `avoid`.
fn noise(seed: u64, len: usize, avoid: &[u8]) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = (x >> 24) as u8;
        if !avoid.contains(&b) {
            v.push(b);
        }
    }
    v
}

/// Nothing arrives on `port` within SHORT.
async fn expect_silence(port: &mut tokio_serial::SerialStream, what: &str) {
    let mut buf = [0u8; 64];
    if let Ok(r) = tokio::time::timeout(SHORT, port.read(&mut buf)).await {
        panic!("{what}: the slave sent {r:?} {:02X?}", &buf[..]);
    }
}

/// A request answered correctly within a second on the raw port.
async fn answered_promptly(port: &mut tokio_serial::SerialStream, what: &str) {
    let req = frame(&[0x04, 0x00, 0x03, 0x00, 0x02]);
    let rsp = frame(&[0x04, 0x04, 0x00, 103, 0x00, 104]);
    let t0 = std::time::Instant::now();
    port.write_all(&req).await.expect("write");
    let mut buf = vec![0u8; rsp.len()];
    within(Duration::from_secs(1), what, port.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(buf, rsp, "{what}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{what}");
}

/// Issue 15 (bad input at every port), Modbus RTU over a socat pty: a
/// 1 MiB blob of noise (no byte 0x00 or 0x01, so no frame in it can be
/// addressed to this slave or broadcast), truncated frames followed by a
/// silence, an FC 16 header announcing 246 data bytes that never come,
/// and half a frame with a stall. Nothing is answered to any of it, and
/// the next good request (raw, then a tokio-modbus master) is answered
/// correctly within a second: the framer resynchronises on the silence.
/// Its buffers are bounded (one ADU), board-harness' resident memory under
/// the same input is measured in harness.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_at_the_rtu_port() {
    let (line, model, _) = single(1);
    let mut port = open_serial(line.pair.b(), BAUD).expect("open pty b");

    // 1 MiB of noise: taken as fast as the pty carries it, nothing answered.
    let blob = noise(3, 1 << 20, &[0x00, 0x01]);
    let t0 = std::time::Instant::now();
    within(STEP * 3, "1 MiB of noise taken", async {
        port.write_all(&blob).await.expect("write blob");
        port.flush().await.expect("flush");
    })
    .await;
    expect_silence(&mut port, "noise").await;
    answered_promptly(&mut port, "after 1 MiB of noise").await;
    eprintln!("1 MiB of noise taken in {:?}", t0.elapsed());

    // Truncated frames (each followed by a silence longer than the gap).
    let good = frame(&[0x03, 0x00, 0x00, 0x00, 0x02]);
    for cut in [1usize, 2, 3, 5, 7] {
        port.write_all(&good[..cut]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    expect_silence(&mut port, "truncated frames").await;
    answered_promptly(&mut port, "after truncated frames").await;

    // A write that announces 246 bytes of data and stops after 10: a
    // plausible request in progress, then a silence, then a good request.
    let mut fc16 = vec![0x01, 0x10, 0x00, 0x00, 0x00, 123, 246];
    fc16.extend_from_slice(&[0x55; 10]);
    port.write_all(&fc16).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    answered_promptly(&mut port, "after an unfinished FC 16").await;
    assert_eq!(
        model.lock().expect("lock").holding_registers[0],
        0,
        "the unfinished write was not executed"
    );

    // Half a frame, a long stall, then a tokio-modbus master.
    port.write_all(&good[..4]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(port);
    let mut c = master(&line, 1);
    let t0 = std::time::Instant::now();
    let r = within(STEP, "master after a stall", c.read_input_registers(0, 4)).await;
    assert_eq!(r.expect("t").expect("ok"), [100, 101, 102, 103]);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(!line.task.is_finished(), "the RTU server stopped");
}

/// A master that floods valid requests and does not read the answers: on
/// a pty the answers back up (and socat, relaying both ways, blocks both
/// ways). The slave must not queue them without bound nor give up the
/// line (it used to end serve_rtu with a write timeout after 2 s, the
/// device dead until restarted): answers that cannot be written are
/// dropped, and once the master reads again it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_that_does_not_read_answers() {
    let (line, _, _) = single(1);
    let mut port = open_serial(line.pair.b(), BAUD).expect("open pty b");
    let req = frame(&[0x04, 0x00, 0x00, 0x00, 0x10]);
    let burst: Vec<u8> = req.iter().copied().cycle().take(req.len() * 1000).collect();
    // Write for a while without reading (each write bounded).
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        if tokio::time::timeout(Duration::from_millis(200), port.write_all(&burst))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Drain what was answered (the backlog of requests is answered as the
    // answers are taken) until the line is quiet for a second, then it
    // must still serve.
    let mut buf = vec![0u8; 64 * 1024];
    within(STEP * 3, "the backlog answered", async {
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1000), port.read(&mut buf)).await
        {
            assert!(n > 0);
        }
    })
    .await;
    assert!(!line.task.is_finished(), "the RTU server gave up the line");
    // Our own request is answered (behind any answers still on their way).
    let req = frame(&[0x04, 0x00, 0x03, 0x00, 0x02]);
    let rsp = frame(&[0x04, 0x04, 0x00, 103, 0x00, 104]);
    within(STEP * 2, "answered after the flood", async {
        let mut got = Vec::new();
        loop {
            port.write_all(&req).await.expect("write");
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_millis(300) {
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(100), port.read(&mut buf)).await
                {
                    got.extend_from_slice(&buf[..n]);
                }
            }
            if got.ends_with(&rsp) {
                return;
            }
            got.clear();
        }
    })
    .await;
}
