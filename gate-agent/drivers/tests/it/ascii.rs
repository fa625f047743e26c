//! Issue 4 (drivers): ASCII weighbridge indicators on a serial line (a socat
//! pty pair): byte-exact Toledo and XK3190 frames written by the test, split
//! across writes and mixed with garbage and bad checksums; XK3190 stability
//! detected by the agent (window >= 1.5 s); stale line withdraws the
//! reading; the driver reopens the port after the line disappears.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use gate_drivers::config::{
    AsciiProtocol, AsciiScaleConfig, ScaleSource, SerialPortConfig, StabilityConfig,
    WeighbridgeConfig,
};
use gate_drivers::error::ErrorClass;
use gate_drivers::weighbridge::spawn_ascii_weighbridge;
use gate_drivers::weighbridge::xk3190::Xk3190Repr;
use gate_drivers::HealthRegistry;
use tokio::sync::watch;

const LIMIT: Duration = Duration::from_secs(10);

// 32460 kg gross, stable, kg, XXXXX0 x2, with checksum 0x21.
const TOLEDO_STABLE: [u8; 18] = [
    0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0', b'0', b'0',
    0x0D, 0x21,
];

/// The same weight in motion (SWB bit 3), checksum recomputed.
fn toledo_motion() -> Vec<u8> {
    let mut f = TOLEDO_STABLE.to_vec();
    f[2] |= 1 << 3;
    let sum = f[..17].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    f[17] = sum.wrapping_neg() & 0x7F;
    f
}

fn config(path: &Path, protocol: AsciiProtocol, checksum: bool) -> WeighbridgeConfig {
    let backoff = gate_drivers::backoff::BackoffConfig {
        initial_ms: 50,
        max_ms: 200,
        ..Default::default()
    };
    WeighbridgeConfig {
        name: "wb".into(),
        source: ScaleSource::Ascii(AsciiScaleConfig {
            port: SerialPortConfig::new(path),
            protocol,
            checksum,
            kg_per_unit: 1.0,
            stale_after_ms: 500,
            backoff,
        }),
        stability: StabilityConfig::default(),
        offline_after_errors: 3,
    }
}

/// Writes `frames` to the pty end `b` every `period` until `stop` turns true,
/// each frame split in two writes 5 ms apart.
fn writer(
    b: PathBuf,
    period: Duration,
    frames: impl Fn(u64) -> Vec<u8> + Send + 'static,
) -> watch::Sender<bool> {
    let (stop_tx, stop) = watch::channel(false);
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&b)
            .expect("open pty");
        let mut n = 0u64;
        while !*stop.borrow() {
            let bytes = frames(n);
            let (x, y) = bytes.split_at(bytes.len() / 2);
            if f.write_all(x).and_then(|()| f.flush()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
            if f.write_all(y).and_then(|()| f.flush()).is_err() {
                return;
            }
            n += 1;
            std::thread::sleep(period);
        }
    });
    stop_tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toledo_frames_garbage_checksums_and_staleness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = PtyPair::new(dir.path());
    let reg = HealthRegistry::new();
    let (wb, _task) =
        spawn_ascii_weighbridge(&config(&pty.a, AsciiProtocol::Toledo, true), &reg).expect("start");
    let mut rx = wb.subscribe();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the driver open the port

    // Stable frames, every third one preceded by garbage, every fifth with a bad checksum.
    let stop = writer(pty.b.clone(), Duration::from_millis(50), |n| {
        let mut v = Vec::new();
        if n % 3 == 0 {
            v.extend_from_slice(b"\xFF\x00garbage\r\n\x02\x31");
        }
        let mut f = TOLEDO_STABLE.to_vec();
        if n % 5 == 4 {
            f[17] ^= 0x01;
        }
        v.extend(f);
        v
    });
    let r = wait_for(&mut rx, LIMIT, "stable 32460", |r| {
        r.as_ref().is_some_and(|r| r.stable)
    })
    .await
    .expect("some");
    assert_eq!(r.gross_kg, 32_460.0);
    assert_eq!(r.device_stable, Some(true));
    wait_for(&mut rx, LIMIT, "several readings", |r| {
        r.as_ref().is_some_and(|r| r.seq >= 12)
    })
    .await;
    let h = reg.get("wb").expect("health");
    assert!(h.total_ok >= 12);
    assert!(h.total_errors >= 2, "bad checksums are counted: {h:?}");
    stop.send_replace(true);

    // Motion frames: not stable.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = writer(pty.b.clone(), Duration::from_millis(50), |_| {
        toledo_motion()
    });
    let r = wait_for(&mut rx, LIMIT, "motion", |r| {
        r.as_ref().is_some_and(|r| !r.stable)
    })
    .await
    .expect("some");
    assert_eq!(r.device_stable, Some(false));
    stop.send_replace(true);

    // Silence: withdrawn after stale_after_ms.
    let t0 = Instant::now();
    wait_for(&mut rx, LIMIT, "withdrawn", Option::is_none).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    let h = reg.get("wb").expect("health");
    assert_eq!(h.last_error_class, Some(ErrorClass::Timeout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xk3190_stability_is_detected_by_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = PtyPair::new(dir.path());
    let reg = HealthRegistry::new();
    let (wb, _task) = spawn_ascii_weighbridge(&config(&pty.a, AsciiProtocol::Xk3190, false), &reg)
        .expect("start");
    let mut rx = wb.subscribe();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A truck driving on: the weight climbs, then settles within +-1 division (20 kg).
    let stop = writer(pty.b.clone(), Duration::from_millis(50), |n| {
        let kg = if n < 20 {
            n as i64 * 1500
        } else {
            30_000 + if n % 2 == 0 { 20 } else { 0 }
        };
        Xk3190Repr {
            value: kg,
            decimals: 0,
        }
        .emit()
        .to_vec()
    });
    let first = wait_for(&mut rx, LIMIT, "first reading", Option::is_some)
        .await
        .expect("some");
    assert_eq!(first.device_stable, None, "XK3190 has no stable flag");
    let settled = wait_for(&mut rx, LIMIT, "settled weight", |r| {
        r.as_ref().is_some_and(|r| r.gross_kg >= 30_000.0)
    })
    .await
    .expect("some");
    assert!(!settled.stable, "not stable at once");
    let t_settled = Instant::now();
    let r = wait_for(&mut rx, LIMIT, "stable", |r| {
        r.as_ref().is_some_and(|r| r.stable)
    })
    .await
    .expect("some");
    let waited = t_settled.elapsed();
    assert!(
        waited >= Duration::from_millis(1300),
        "stable after only {waited:?}"
    );
    assert!(
        r.detected_stable && (r.gross_kg - 30_010.0).abs() <= 10.0,
        "{r:?}"
    );
    stop.send_replace(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_is_reopened_after_the_line_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pty = PtyPair::new(dir.path());
    let reg = HealthRegistry::new();
    let (wb, _task) =
        spawn_ascii_weighbridge(&config(&pty.a, AsciiProtocol::Toledo, true), &reg).expect("start");
    let mut rx = wb.subscribe();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = writer(pty.b.clone(), Duration::from_millis(50), |_| {
        TOLEDO_STABLE.to_vec()
    });
    wait_for(&mut rx, LIMIT, "reading", Option::is_some).await;
    stop.send_replace(true);

    // The adapter disappears (both pty ends vanish), then comes back.
    pty.stop();
    wait_for(&mut rx, LIMIT, "withdrawn", Option::is_none).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = reg.get("wb").expect("health");
    assert!(h.consecutive_errors >= 1, "{h:?}");
    pty.start();
    let _stop = writer(pty.b.clone(), Duration::from_millis(50), |_| {
        TOLEDO_STABLE.to_vec()
    });
    let r = wait_for(&mut rx, LIMIT, "reading after reopen", Option::is_some)
        .await
        .expect("some");
    assert_eq!(r.gross_kg, 32_460.0);
    pty.stop();
}

/// `restart_device` on a serial scale: the port is closed and opened again
/// at once (the verdict names it), the reading is withdrawn meanwhile and
/// comes back from the reopened port; with the adapter gone the verdict is
/// the open error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reopens_the_serial_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pty = PtyPair::new(dir.path());
    let reg = HealthRegistry::new();
    let mut cfg = config(&pty.a, AsciiProtocol::Toledo, true);
    if let ScaleSource::Ascii(a) = &mut cfg.source {
        // Only a restart reopens the port quickly.
        a.backoff.initial_ms = 20_000;
        a.backoff.max_ms = 20_000;
    }
    let (wb, _task) = spawn_ascii_weighbridge(&cfg, &reg).expect("start");
    let mut rx = wb.subscribe();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = writer(pty.b.clone(), Duration::from_millis(50), |_| {
        TOLEDO_STABLE.to_vec()
    });
    wait_for(&mut rx, LIMIT, "reading", Option::is_some).await;
    let verdict = wb.restart().await.expect("restarted");
    assert!(
        verdict.contains("reopened") && verdict.contains(&pty.a.display().to_string()),
        "{verdict}"
    );
    let seq = rx.borrow().as_ref().map_or(0, |r| r.seq);
    wait_for(&mut rx, LIMIT, "readings from the reopened port", |r| {
        r.as_ref().is_some_and(|r| r.seq > seq + 3)
    })
    .await;
    stop.send_replace(true);

    pty.stop();
    wait_for(&mut rx, LIMIT, "withdrawn", Option::is_none).await;
    let t0 = Instant::now();
    let err = wb.restart().await.expect_err("no port").to_string();
    assert!(err.contains("open "), "{err}");
    assert!(t0.elapsed() < LIMIT);
}

/// A Toledo frame (status as TOLEDO_STABLE) for `kg` (0..=999_999).
fn toledo(kg: u32) -> Vec<u8> {
    let mut f = TOLEDO_STABLE.to_vec();
    f[4..10].copy_from_slice(format!("{kg:06}").as_bytes());
    let sum = f[..17].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    f[17] = sum.wrapping_neg() & 0x7F;
    f
}

/// The process' resident set, KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Writes `total` bytes made by `fill` to the pty end `b` as fast as the
/// line takes them (blocking writes on a thread); returns how long it took.
async fn flood(
    b: &Path,
    total: usize,
    fill: impl Fn(usize) -> Vec<u8> + Send + 'static,
) -> Duration {
    let b = b.to_owned();
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&b)
            .expect("open pty");
        let mut sent = 0;
        let mut i = 0;
        while sent < total {
            let chunk = fill(i);
            f.write_all(&chunk).expect("write flood");
            sent += chunk.len();
            i += 1;
        }
    });
    let joined = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || writer.join()),
    )
    .await;
    assert!(
        matches!(joined, Ok(Ok(Ok(())))),
        "the flood was not taken within 30 s: the driver stopped reading"
    );
    t0.elapsed()
}

/// Issue 15 (bad input at every port), an ASCII weighbridge line that
/// floods: continuous garbage (8 MiB without STX: the reading is withdrawn
/// as stale, health says timeout), an STX storm with frame-shaped junk
/// (bad frames counted as data errors), a frame that never ends (STX and
/// digits without CR, 2 MiB), continuous valid frames at the line's full
/// speed (about 2 MiB of frames). The driver keeps up (the last frame of
/// the flood is the reading within a second after it), resident memory
/// grows by far less than what was sent, and good frames at the normal
/// rate give readings again after each flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_floods_stay_bounded_and_readings_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = PtyPair::new(dir.path());
    let reg = HealthRegistry::new();
    let (wb, task) =
        spawn_ascii_weighbridge(&config(&pty.a, AsciiProtocol::Toledo, true), &reg).expect("start");
    let mut rx = wb.subscribe();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let good_again = |what: &'static str, kg: u32| {
        let b = pty.b.clone();
        let wb = wb.clone();
        async move {
            let stop = writer(b, Duration::from_millis(50), move |_| toledo(kg));
            let mut rx = wb.subscribe();
            let r = wait_for(&mut rx, Duration::from_secs(3), what, |r| {
                r.as_ref().is_some_and(|r| r.gross_kg == f64::from(kg))
            })
            .await;
            stop.send_replace(true);
            tokio::time::sleep(Duration::from_millis(100)).await;
            r
        }
    };
    good_again("start", 1000).await;
    let rss0 = rss_kib();

    // Continuous garbage without STX: no frame for stale_after: withdrawn.
    let took = flood(&pty.b, 8 << 20, |i| {
        (0..4096u32)
            .map(|k| {
                let b = (k.wrapping_mul(2_654_435_761).wrapping_add(i as u32) >> 13) as u8;
                if b & 0x7F == 0x02 {
                    b'x'
                } else {
                    b
                }
            })
            .collect()
    })
    .await;
    eprintln!("8 MiB of garbage taken in {took:?}");
    wait_for(&mut rx, LIMIT, "withdrawn under garbage", Option::is_none).await;
    let h = reg.get("wb").expect("health");
    assert_eq!(h.last_error_class, Some(ErrorClass::Timeout), "{h:?}");
    good_again("after garbage", 2000).await;

    // An STX storm with frame-shaped junk: every candidate is a bad frame.
    let errors0 = reg.get("wb").expect("health").total_errors;
    flood(&pty.b, 2 << 20, |_| {
        let mut v = Vec::with_capacity(4096);
        while v.len() < 4096 {
            v.extend_from_slice(b"\x0210 0324\x02\x02\r\x21\x82");
        }
        v
    })
    .await;
    let h = reg.get("wb").expect("health");
    assert!(h.total_errors > errors0 + 1000, "bad frames counted: {h:?}");
    assert_eq!(h.last_error_class, Some(ErrorClass::Data), "{h:?}");
    good_again("after the STX storm", 3000).await;

    // A frame that never ends: STX, then digits without CR.
    flood(&pty.b, 2 << 20, |i| {
        let mut v = if i == 0 { vec![0x02] } else { Vec::new() };
        v.extend(std::iter::repeat_n(b'1', 4096));
        v
    })
    .await;
    good_again("after a never-ending frame", 4000).await;

    // Valid frames at full speed, the weight counting up: the driver keeps
    // up and ends on the flood's last frame.
    const FRAMES: usize = 256 * 470;
    let took = flood(&pty.b, FRAMES * 18, |i| {
        (0..256)
            .flat_map(|k| toledo(((i * 256 + k) % 900_000) as u32))
            .collect()
    })
    .await;
    let last = ((FRAMES - 1) % 900_000) as u32;
    let t0 = Instant::now();
    let r = wait_for(
        &mut rx,
        Duration::from_secs(2),
        "the flood's last frame",
        |r| r.as_ref().is_some_and(|r| r.gross_kg == f64::from(last)),
    )
    .await
    .expect("some");
    eprintln!(
        "{FRAMES} frames taken in {took:?}, last one read {:?} later, seq {}",
        t0.elapsed(),
        r.seq
    );
    assert!(r.seq > FRAMES as u64 / 2, "readings published: {}", r.seq);
    good_again("after the frame flood", 5000).await;

    let grown = rss_kib().saturating_sub(rss0);
    assert!(
        grown < 4 * 1024,
        "14 MiB sent: resident memory grew by {grown} KiB"
    );
    assert!(!task.is_finished(), "the driver task ended");
}
