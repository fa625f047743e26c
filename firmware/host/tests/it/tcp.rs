//! serve_tcp against tokio-modbus' TCP client and raw sockets: every
//! function code, exceptions, framing edge cases, many clients, unit-id
//! policy and fault modes.

use crate::common;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use common::{faults, seeded_model, shared, within, SHORT, STEP};
use lane_io_host::{serve_tcp, FaultMode, FaultSwitch, MemoryModel, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::client::{tcp, Context};
use tokio_modbus::prelude::*;

struct Server {
    addr: SocketAddr,
    model: Shared<MemoryModel>,
    faults: Arc<FaultSwitch>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(unit: Option<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let model = shared(seeded_model());
    let faults = faults();
    let task = tokio::spawn(serve_tcp(listener, model.clone(), unit, faults.clone()));
    Server {
        addr,
        model,
        faults,
        task,
    }
}

async fn client(addr: SocketAddr, unit: u8) -> Context {
    within(STEP, "connect", tcp::connect_slave(addr, Slave(unit)))
        .await
        .expect("connect")
}

#[tokio::test]
async fn every_function_code() {
    let s = start(None).await;
    let mut c = client(s.addr, 1).await;
    let ir = within(STEP, "FC04", c.read_input_registers(0, 4)).await;
    assert_eq!(
        ir.expect("transport").expect("no exception"),
        [100, 101, 102, 103]
    );
    let di = within(STEP, "FC02", c.read_discrete_inputs(1, 5)).await;
    assert_eq!(
        di.expect("transport").expect("ok"),
        [false, true, false, true, false]
    );
    within(STEP, "FC05", c.write_single_coil(5, true))
        .await
        .expect("t")
        .expect("ok");
    let bits = [
        true, false, true, true, false, false, true, true, true, false,
    ];
    within(STEP, "FC15", c.write_multiple_coils(8, &bits))
        .await
        .expect("t")
        .expect("ok");
    let coils = within(STEP, "FC01", c.read_coils(0, 20))
        .await
        .expect("t")
        .expect("ok");
    let mut want = vec![false; 20];
    want[5] = true;
    want[8..18].copy_from_slice(&bits);
    assert_eq!(coils, want);
    within(STEP, "FC06", c.write_single_register(3, 0xBEEF))
        .await
        .expect("t")
        .expect("ok");
    within(
        STEP,
        "FC16",
        c.write_multiple_registers(10, &[1, 2, 3, 4, 5]),
    )
    .await
    .expect("t")
    .expect("ok");
    let hr = within(STEP, "FC03", c.read_holding_registers(0, 16))
        .await
        .expect("t")
        .expect("ok");
    assert_eq!(hr, [0, 0, 0, 0xBEEF, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 0]);
    // the model saw the same
    let m = s.model.lock().expect("lock").clone();
    assert_eq!(&m.holding_registers[10..15], &[1, 2, 3, 4, 5]);
    assert!(m.coils[5] && m.coils[8] && !m.coils[9]);
}

#[tokio::test]
async fn exceptions() {
    let s = start(None).await;
    let mut c = client(s.addr, 1).await;
    let r = within(STEP, "out of map", c.read_holding_registers(60, 10)).await;
    assert_eq!(
        r.expect("transport"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    let r = within(
        STEP,
        "write out of map",
        c.write_multiple_registers(63, &[1, 2]),
    )
    .await;
    assert_eq!(
        r.expect("transport"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    let r = within(STEP, "too many", c.read_input_registers(0, 126)).await;
    assert_eq!(r.expect("transport"), Err(ExceptionCode::IllegalDataValue));
    let r = within(
        STEP,
        "unknown fc",
        c.call(Request::Custom(0x41, Cow::Borrowed(&[1, 2, 3]))),
    )
    .await;
    assert_eq!(r.expect("transport"), Err(ExceptionCode::IllegalFunction));
    let r = within(
        STEP,
        "mask write",
        c.masked_write_register(0, 0xFF00, 0x0012),
    )
    .await;
    assert_eq!(r.expect("transport"), Err(ExceptionCode::IllegalFunction));
    assert_eq!(s.model.lock().expect("lock").holding_registers[63], 0);
}

async fn read_exact_within(sock: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within(STEP, "response", sock.read_exact(&mut buf))
        .await
        .expect("read");
    buf
}

/// Nothing arrives within SHORT: Ok(()) means silent, otherwise the bytes.
async fn expect_nothing(sock: &mut TcpStream) -> Result<(), Vec<u8>> {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(SHORT, sock.read(&mut buf)).await {
        Err(_) => Ok(()),
        Ok(Ok(n)) => Err(buf[..n].to_vec()),
        Ok(Err(e)) => panic!("read error {e}"),
    }
}

const READ_IR: [u8; 12] = [
    0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01,
];
const READ_IR_RSP: [u8; 11] = [
    0x00, 0x07, 0x00, 0x00, 0x00, 0x05, 0x01, 0x04, 0x02, 0x00, 102,
];

#[tokio::test]
async fn raw_split_pipelined_and_foreign_protocol() {
    let s = start(None).await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    // byte by byte
    for b in READ_IR {
        sock.write_all(&[b]).await.expect("write");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(read_exact_within(&mut sock, 11).await, READ_IR_RSP);
    // two requests in one segment
    let mut two = READ_IR.to_vec();
    two.extend_from_slice(&READ_IR);
    two[12 + 1] = 0x08;
    sock.write_all(&two).await.expect("write");
    let got = read_exact_within(&mut sock, 22).await;
    assert_eq!(&got[..11], READ_IR_RSP);
    assert_eq!(got[12], 0x08, "second transaction id echoed");
    // protocol id 1: not Modbus, ignored; the connection stays usable
    let mut foreign = READ_IR;
    foreign[3] = 0x01;
    sock.write_all(&foreign).await.expect("write");
    assert_eq!(expect_nothing(&mut sock).await, Ok(()));
    sock.write_all(&READ_IR).await.expect("write");
    assert_eq!(read_exact_within(&mut sock, 11).await, READ_IR_RSP);
}

#[tokio::test]
async fn garbage_closes_the_connection() {
    let s = start(None).await;
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 16];
    let r = within(STEP, "close", sock.read(&mut buf)).await;
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    // the server keeps serving others
    let mut c = client(s.addr, 1).await;
    let r = within(STEP, "read", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [100]);
}

#[tokio::test]
async fn unit_filter() {
    let s = start(Some(3)).await;
    let mut c = client(s.addr, 3).await;
    let r = within(STEP, "unit 3", c.read_input_registers(1, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [101]);
    let mut other = client(s.addr, 4).await;
    let r = tokio::time::timeout(SHORT, other.read_input_registers(1, 1)).await;
    assert!(r.is_err(), "unit 4 must not be answered: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once() {
    let s = start(None).await;
    let mut tasks = Vec::new();
    for i in 0..16u16 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = client(addr, 1).await;
            for k in 0..30u16 {
                let v = i * 1000 + k;
                within(STEP, "write", c.write_single_register(i, v))
                    .await
                    .expect("t")
                    .expect("ok");
                let r = within(STEP, "read", c.read_holding_registers(i, 1)).await;
                assert_eq!(r.expect("t").expect("ok"), [v]);
            }
        }));
    }
    for t in tasks {
        within(STEP * 4, "client task", t)
            .await
            .expect("client task");
    }
    let m = s.model.lock().expect("lock").clone();
    for i in 0..16u16 {
        assert_eq!(m.holding_registers[usize::from(i)], i * 1000 + 29);
    }
}

#[tokio::test]
async fn silent_mode_times_out_and_executes_nothing() {
    let s = start(None).await;
    s.faults.set(FaultMode::Silent);
    let mut c = client(s.addr, 1).await;
    let r = tokio::time::timeout(SHORT, c.write_single_register(0, 77)).await;
    assert!(r.is_err(), "silent device answered: {r:?}");
    assert_eq!(s.model.lock().expect("lock").holding_registers[0], 0);
    s.faults.set(FaultMode::Normal);
    let mut c = client(s.addr, 1).await;
    within(STEP, "after silent", c.write_single_register(0, 78))
        .await
        .expect("t")
        .expect("ok");
    assert_eq!(s.model.lock().expect("lock").holding_registers[0], 78);
}

#[tokio::test]
async fn offline_resets_new_and_existing_connections() {
    let s = start(None).await;
    let mut existing = client(s.addr, 1).await;
    within(STEP, "before", existing.read_input_registers(0, 1))
        .await
        .expect("t")
        .expect("ok");
    s.faults.set(FaultMode::Offline);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // the existing connection was dropped
    let r = within(STEP, "existing", existing.read_input_registers(0, 1)).await;
    assert!(r.is_err(), "existing connection still served: {r:?}");
    // a new one is reset before any request is answered
    if let Ok(Ok(mut c)) = tokio::time::timeout(STEP, tcp::connect_slave(s.addr, Slave(1))).await {
        let r = within(STEP, "new", c.read_input_registers(0, 1)).await;
        assert!(r.is_err(), "offline device answered: {r:?}");
    }
    s.faults.set(FaultMode::Normal);
    let mut c = client(s.addr, 1).await;
    let r = within(STEP, "back online", c.read_input_registers(0, 1)).await;
    assert_eq!(r.expect("t").expect("ok"), [100]);
}

#[tokio::test]
async fn poisoned_model_reports_device_failure() {
    let s = start(None).await;
    let m = s.model.clone();
    let _ = std::thread::spawn(move || {
        let _guard = m.lock().expect("lock");
        panic!("poisoning the model on purpose");
    })
    .join();
    let mut c = client(s.addr, 1).await;
    let r = within(STEP, "poisoned", c.read_input_registers(0, 1)).await;
    assert_eq!(
        r.expect("transport"),
        Err(ExceptionCode::ServerDeviceFailure)
    );
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

/// The server closed (or reset) `sock` within STEP; panics if it answered
/// or kept it open.
async fn expect_closed(sock: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 256];
    let r = within(STEP, what, async {
        match sock.read(&mut buf).await {
            Ok(0) => Ok(()),
            Ok(n) => Err(buf[..n].to_vec()),
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ),
                    "{what}: {e}"
                );
                Ok(())
            }
        }
    })
    .await;
    assert_eq!(r, Ok(()), "{what}: answered instead of closing");
}

/// A normal tokio-modbus client is answered correctly and promptly.
async fn served_promptly(addr: SocketAddr, what: &str) {
    let t0 = std::time::Instant::now();
    let mut c = client(addr, 1).await;
    let r = within(STEP, what, c.read_input_registers(0, 4)).await;
    assert_eq!(
        r.expect("transport").expect("no exception"),
        [100, 101, 102, 103],
        "{what}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(1),
        "{what}: took {:?}",
        t0.elapsed()
    );
}

/// Issue 15 (bad input at every port), Modbus TCP: garbage, a 1 MiB blob,
/// an MBAP header announcing a huge length, truncated frames and a client
/// that sends half a frame and stalls. A stream that is not Modbus TCP is
/// closed at once (it cannot be resynchronised); a truncated frame or a
/// stalled client only holds its own connection; after each, a normal
/// client reads registers correctly within a second. The connection
/// buffers are fixed arrays (2 ADUs), so memory cannot grow with the
/// input; board-harness' resident memory under the same input is measured
/// in harness.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_at_the_tcp_port() {
    let s = start(None).await;

    // Garbage (pseudo-random, then all-ones: length 0xFFFF).
    for (i, junk) in [noise(7, 4096, &[]), vec![0xFF; 4096]].iter().enumerate() {
        let mut sock = TcpStream::connect(s.addr).await.expect("connect");
        let _ = sock.write_all(junk).await;
        expect_closed(&mut sock, &format!("garbage {i}")).await;
        served_promptly(s.addr, "after garbage").await;
    }

    // A 1 MiB blob in one write: closed after its first header, the write
    // fails (reset) or completes into the socket buffers, never blocks.
    let mut sock = TcpStream::connect(s.addr).await.expect("connect");
    let blob = noise(11, 1 << 20, &[]);
    let _ = within(STEP, "1 MiB write", sock.write_all(&blob)).await;
    expect_closed(&mut sock, "1 MiB blob").await;
    served_promptly(s.addr, "after the 1 MiB blob").await;

    // MBAP headers announcing lengths the protocol does not allow (0, 1,
    // 255, 0xFFFF): closed at once, before any body arrives.
    for len in [0u16, 1, 255, 0xFFFF] {
        let mut sock = TcpStream::connect(s.addr).await.expect("connect");
        let mut h = READ_IR;
        h[4..6].copy_from_slice(&len.to_be_bytes());
        sock.write_all(&h[..7]).await.expect("write header");
        let t0 = std::time::Instant::now();
        expect_closed(&mut sock, &format!("length {len}")).await;
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
    }
    served_promptly(s.addr, "after huge lengths").await;

    // Truncated frames, then the client hangs up: nothing answered.
    for cut in [1usize, 5, 6, 7, 11] {
        let mut sock = TcpStream::connect(s.addr).await.expect("connect");
        sock.write_all(&READ_IR[..cut]).await.expect("write");
        assert_eq!(expect_nothing(&mut sock).await, Ok(()), "cut at {cut}");
        drop(sock);
    }
    served_promptly(s.addr, "after truncated frames").await;

    // Half a frame, then a stall: the others are served meanwhile; when the
    // staller finally sends the rest it gets its answer (nothing wedged).
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut sock = TcpStream::connect(s.addr).await.expect("connect");
        sock.write_all(&READ_IR[..8]).await.expect("half a frame");
        stalled.push(sock);
    }
    for _ in 0..3 {
        served_promptly(s.addr, "while clients stall").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for sock in &mut stalled {
        sock.write_all(&READ_IR[8..])
            .await
            .expect("rest of the frame");
        assert_eq!(read_exact_within(sock, 11).await, READ_IR_RSP);
    }
}

/// A client that pipelines requests and never reads the answers fills its
/// socket: the server does not queue answers (it waits at most its write
/// timeout, 5 s, then drops the connection); other clients are served
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped() {
    let s = start(None).await;
    // A small receive buffer: the kernel may let one grow to tens of MB
    // (net.ipv4.tcp_rmem; 32 MB on a CI machine), enough to take every
    // answer to what the flood could send, and then the server is never
    // kept waiting to write, which is what this test is about.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut flood = socket.connect(s.addr).await.expect("connect");
    let burst: Vec<u8> = READ_IR.iter().copied().cycle().take(12 * 4096).collect();
    // Write until the socket is full both ways (bounded by the write timeout).
    let mut sent = 0usize;
    while let Ok(Ok(())) = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        flood.write_all(&burst),
    )
    .await
    {
        sent += burst.len();
        assert!(sent < 256 << 20, "the server takes requests without bound");
    }
    served_promptly(s.addr, "while a client does not read").await;
    // Not reading: the server must give up on this client once a write has
    // waited its write timeout (5 s). It may still be answering what it had
    // read when the flood stopped (seconds of work on a loaded machine), so
    // the test watches without reading (a read would unblock it) for the
    // reset the server's close sends (its socket holds unread requests),
    // as the socket's pending error. Then reading drains what it sent
    // before and sees the end; a server still waiting would be unblocked
    // by the reads and answer until the requests run out, then wait.
    let watched = std::time::Instant::now();
    while watched.elapsed() < std::time::Duration::from_secs(30) {
        if flood.take_error().expect("SO_ERROR").is_some() {
            break;
        }
        tokio::time::sleep(SHORT).await;
    }
    served_promptly(s.addr, "while a client does not read, later").await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut answered = 0usize;
    within(STEP, "the server dropped the flooding client", async {
        loop {
            match flood.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answered += n,
            }
        }
    })
    .await;
    // Answers are 11 bytes per 12-byte request: a server that answered
    // them all would have kept the connection.
    assert!(
        answered < sent / 12 * 11,
        "answered {answered} bytes for {sent} request bytes"
    );
    served_promptly(s.addr, "after the flood").await;
}
