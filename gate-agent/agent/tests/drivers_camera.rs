//! Issue 4 (drivers): HTTP cameras against a raw local HTTP server: snapshot
//! (JPEG kept byte-exact, size limit, non-JPEG, silent server), MJPEG
//! (multipart split at odd places, parts with and without Content-Length,
//! stream drops and reconnects), and the recognition JSON endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gate_agent::drivers::camera::recognition::Recognition;
use gate_agent::drivers::camera::{spawn_camera, CameraError};
use gate_agent::drivers::config::CameraConfig;
use gate_agent::drivers::HealthRegistry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn jpeg(tag: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, tag];
    v.resize(len - 2, tag);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

struct Server {
    base: String,
    mjpeg_connections: Arc<AtomicUsize>,
}

async fn respond(mut s: TcpStream, conns: Arc<AtomicUsize>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let head = |ct: &str, len: Option<usize>| {
        let mut h = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nConnection: close\r\n");
        if let Some(l) = len {
            h.push_str(&format!("Content-Length: {l}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    };
    match path.as_str() {
        "/snapshot.jpg" => {
            let body = jpeg(1, 3000);
            let _ = s.write_all(&head("image/jpeg", Some(body.len()))).await;
            // Two writes with a pause: the body arrives in pieces.
            let _ = s.write_all(&body[..1000]).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = s.write_all(&body[1000..]).await;
        }
        "/big.jpg" => {
            let body = jpeg(2, 20_000);
            let _ = s.write_all(&head("image/jpeg", None)).await;
            let _ = s.write_all(&body).await;
        }
        "/page.html" => {
            let body = b"<html>login</html>".to_vec();
            let _ = s.write_all(&head("text/html", Some(body.len()))).await;
            let _ = s.write_all(&body).await;
        }
        "/silent" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        "/recognition" => {
            let body =
                "{\"plate\":\"琼B23456\",\"colour\":\"blue\",\"confidence\":0.91,\"frame\":17}"
                    .as_bytes();
            let _ = s
                .write_all(&head("application/json", Some(body.len())))
                .await;
            let _ = s.write_all(body).await;
        }
        "/mjpeg" => {
            // Sends 6 frames then closes (the driver must reconnect); frame
            // n carries tag n; odd frames have no Content-Length; every part
            // is written in 3 pieces cut at odd places.
            let c = conns.fetch_add(1, Ordering::SeqCst) as u8;
            let _ = s
                .write_all(&head("multipart/x-mixed-replace; boundary=\"cam-b\"", None))
                .await;
            for n in 0..6u8 {
                let body = jpeg(c * 10 + n, 1500 + usize::from(n) * 7);
                let mut part = b"--cam-b\r\nContent-Type: image/jpeg\r\n".to_vec();
                if n % 2 == 0 {
                    part.extend_from_slice(
                        format!("Content-Length: {}\r\n", body.len()).as_bytes(),
                    );
                }
                part.extend_from_slice(b"\r\n");
                part.extend_from_slice(&body);
                part.extend_from_slice(b"\r\n");
                for piece in [&part[..7], &part[7..600], &part[600..]] {
                    if s.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            // The next boundary ends the last open-length part.
            let _ = s.write_all(b"--cam-b\r\n").await;
        }
        "/mjpeg-long" => {
            // A steady stream (a frame every 40 ms for 20 s); frame tags
            // carry the connection number.
            let c = conns.fetch_add(1, Ordering::SeqCst) as u8;
            let _ = s
                .write_all(&head("multipart/x-mixed-replace; boundary=b", None))
                .await;
            for _ in 0..500 {
                let body = jpeg(c, 1200);
                let mut part = format!(
                    "--b\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                part.extend_from_slice(&body);
                part.extend_from_slice(b"\r\n");
                if s.write_all(&part).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }
        _ => {
            let _ = s
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    }
    let _ = s.shutdown().await;
}

async fn server() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    let conns = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&conns);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(respond(s, Arc::clone(&c)));
        }
    });
    Server {
        base,
        mjpeg_connections: conns,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_limits_and_recognition() {
    let srv = server().await;
    let reg = HealthRegistry::new();
    let mut cfg = CameraConfig::snapshot("front", &format!("{}/snapshot.jpg", srv.base));
    cfg.recognition_url = Some(format!("{}/recognition", srv.base));
    cfg.max_frame_bytes = 8192;
    cfg.timeout_ms = 500;
    let cam = spawn_camera(&cfg, &reg).expect("camera");
    let src = cam.source.as_ref().expect("source");
    assert_eq!(src.name(), "front");
    let f = src.grab().await.expect("frame");
    assert_eq!(
        f.jpeg.as_ref(),
        jpeg(1, 3000).as_slice(),
        "evidence bytes kept as sent"
    );
    assert_eq!(f.seq, 1);
    assert_eq!(src.grab().await.expect("frame").seq, 2);

    let rec = cam
        .recognition
        .as_ref()
        .expect("recognition")
        .fetch()
        .await
        .expect("json");
    match rec.result {
        Recognition::Plate(p) => {
            assert_eq!(p.plate, "琼B23456");
            assert_eq!(p.colour, Some(gate_proto::messages::PlateColour::Blue));
            assert_eq!(p.frame, Some(17));
        }
        other => panic!("{other:?}"),
    }

    let bad = |path: &str| {
        let mut c = cfg.clone();
        c.recognition_url = None;
        c.snapshot_url = Some(format!("{}{path}", srv.base));
        spawn_camera(&c, &reg)
            .expect("camera")
            .source
            .expect("source")
    };
    assert_eq!(
        bad("/big.jpg").grab().await.expect_err("too big"),
        CameraError::TooLarge(8192)
    );
    assert_eq!(
        bad("/page.html").grab().await.expect_err("html"),
        CameraError::NotJpeg
    );
    assert_eq!(
        bad("/nope.jpg").grab().await.expect_err("404"),
        CameraError::Status(404)
    );
    let t0 = Instant::now();
    let e = bad("/silent").grab().await.expect_err("silent");
    assert!(matches!(e, CameraError::Timeout(_)), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let h = reg.get("front").expect("health");
    assert_eq!(h.total_ok, 2);
    assert_eq!(h.consecutive_errors, 4);
    assert_eq!(
        reg.get("front/recognition").expect("rec health").total_ok,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mjpeg_stream_frames_and_reconnect() {
    let srv = server().await;
    let reg = HealthRegistry::new();
    let mut cfg = CameraConfig::mjpeg("rear", &format!("{}/mjpeg", srv.base));
    cfg.timeout_ms = 1000;
    cfg.max_frame_age_ms = 200;
    cfg.backoff.initial_ms = 50;
    cfg.backoff.max_ms = 100;
    let cam = spawn_camera(&cfg, &reg).expect("camera");
    let src = cam.source.expect("source");

    let mut seen = Vec::new();
    let t0 = Instant::now();
    while srv.mjpeg_connections.load(Ordering::SeqCst) < 3 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no reconnects");
        let f = src.grab().await.expect("frame");
        assert!(f.jpeg.starts_with(&[0xFF, 0xD8]) && f.jpeg.ends_with(&[0xFF, 0xD9]));
        assert!(
            f.received.elapsed() <= Duration::from_millis(250),
            "stale frame"
        );
        let tag = f.jpeg[4];
        let n = usize::from(tag % 10);
        assert_eq!(f.jpeg.len(), 1500 + n * 7, "frame {tag} cut wrong");
        if seen.last() != Some(&tag) {
            seen.push(tag);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Frames from at least two connections, with and without Content-Length.
    assert!(
        seen.iter().any(|t| t / 10 == 0) && seen.iter().any(|t| t / 10 >= 1),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|t| t % 2 == 1) && seen.iter().any(|t| t % 2 == 0),
        "{seen:?}"
    );
    let h = reg.get("rear").expect("health");
    assert!(h.total_ok >= 6, "{h:?}");
}

/// `restart_device` on cameras: an MJPEG camera closes its stream and opens
/// a new one at once (the verdict comes when the new one is open); a
/// snapshot camera has no standing connection and checks itself with one
/// grab; a camera that cannot be reached says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reopens_a_stream_and_checks_a_snapshot_camera() {
    let srv = server().await;
    let reg = HealthRegistry::new();
    let mut cfg = CameraConfig::mjpeg("rear", &format!("{}/mjpeg-long", srv.base));
    cfg.timeout_ms = 1000;
    cfg.max_frame_age_ms = 200;
    // A long backoff: only a restart can make the reader reconnect fast.
    cfg.backoff.initial_ms = 20_000;
    cfg.backoff.max_ms = 20_000;
    let cam = spawn_camera(&cfg, &reg).expect("camera");
    let src = cam.source.clone().expect("source");
    assert_eq!(src.grab().await.expect("first frame").jpeg[4], 0);
    assert_eq!(srv.mjpeg_connections.load(Ordering::SeqCst), 1);

    let t0 = Instant::now();
    let verdict = cam.restart().await.expect("restarted");
    assert!(verdict.contains("stream reopened"), "{verdict}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(srv.mjpeg_connections.load(Ordering::SeqCst), 2);
    // Frames now come from the second connection.
    let t1 = Instant::now();
    loop {
        let f = src.grab().await.expect("frame after the restart");
        if f.jpeg[4] == 1 {
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(3),
            "still the old stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let snap = spawn_camera(
        &CameraConfig::snapshot("front", &format!("{}/snapshot.jpg", srv.base)),
        &reg,
    )
    .expect("snapshot camera");
    let verdict = snap.restart().await.expect("snapshot checked");
    assert!(
        verdict.contains("no standing connection") && verdict.contains("3000 bytes"),
        "{verdict}"
    );

    // Nobody listens: the restart says so, within its limit.
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    let mut cfg = CameraConfig::mjpeg("side", &format!("http://{addr}/mjpeg"));
    cfg.timeout_ms = 500;
    cfg.backoff.initial_ms = 20_000;
    cfg.backoff.max_ms = 20_000;
    let gone = spawn_camera(&cfg, &reg).expect("camera");
    let t0 = Instant::now();
    let err = gone.restart().await.expect_err("nothing to reopen");
    assert!(err.contains("reopening the stream failed"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}
