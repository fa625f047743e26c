//! Modbus TCP server: accepts connections, frames MBAP ADUs from each byte
//! stream, answers them through [`lane_io::modbus::mbap::process`].
//!
//! Layer: socket I/O. Framing and semantics are the core's; this module owns
//! connections, unit-id policy, back-pressure and fault injection.
//!
//! - One task per connection, at most [`MAX_TCP_CONNECTIONS`] at a time
//!   (more are reset at once).
//! - A stream that is not Modbus TCP (length field out of range) is closed:
//!   a TCP byte stream cannot be resynchronised.
//! - Several requests in one segment (pipelining) are answered in order.
//! - [`FaultMode::Silent`]: requests are read and dropped, never executed
//!   nor answered. [`FaultMode::Offline`]: new connections are reset at
//!   once and existing ones are reset within [`FAULT_POLL`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lane_io::modbus::mbap::{self, MAX_ADU_LEN};
use lane_io::modbus::pdu::{self, MAX_PDU_LEN};
use lane_io::modbus::{DataModel, Exception};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::{FaultMode, FaultSwitch, Shared};

/// Concurrent connections served by one [`serve_tcp`].
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// How often an idle connection looks at its fault switch.
pub(crate) const FAULT_POLL: Duration = Duration::from_millis(20);
/// A client that does not take its response within this time is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve `model` over Modbus TCP on `listener` until the listener fails.
///
/// `unit`: `None` answers every unit id; `Some(u)` answers only requests for
/// unit `u` (others get no answer, as behind a gateway whose target does not
/// respond). Transient accept errors (e.g. too many open files) are logged
/// and retried; the function only returns on a listener error it cannot
/// recover from.
pub async fn serve_tcp<M: DataModel + Send + 'static>(
    listener: TcpListener,
    model: Shared<M>,
    unit: Option<u8>,
    faults: Arc<FaultSwitch>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let local = listener.local_addr()?;
    tracing::debug!(%local, ?unit, "Modbus TCP server listening");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if is_transient_accept_error(&e) => {
                tracing::warn!(%local, error = %e, "accept failed, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if faults.get() == FaultMode::Offline {
            tracing::debug!(%peer, "offline: resetting new connection");
            reset(stream);
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = MAX_TCP_CONNECTIONS, "too many connections, resetting");
            reset(stream);
            continue;
        };
        let (model, faults) = (model.clone(), faults.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match connection(stream, peer, &model, unit, &faults).await {
                Ok(()) => tracing::debug!(%peer, "connection closed"),
                Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
            }
        });
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    // EMFILE/ENFILE/ENOBUFS/ENOMEM and aborted handshakes: the listener is fine.
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105))
}

/// Close with a RST rather than a FIN: the peer sees "connection reset".
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn connection<M: DataModel + Send + 'static>(
    mut stream: TcpStream,
    peer: SocketAddr,
    model: &Shared<M>,
    unit: Option<u8>,
    faults: &FaultSwitch,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    // Room for one whole ADU after any incomplete one.
    let mut buf = [0u8; 2 * MAX_ADU_LEN];
    let mut filled = 0;
    let mut out = [0u8; MAX_ADU_LEN];
    let mut tick = tokio::time::interval(FAULT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if faults.get() == FaultMode::Offline {
            tracing::debug!(%peer, "offline: resetting connection");
            reset(stream);
            return Ok(());
        }
        let free = buf.get_mut(filled..).unwrap_or(&mut []);
        tokio::select! {
            r = stream.read(free) => {
                let n = r?;
                if n == 0 {
                    return Ok(());
                }
                filled += n;
            }
            _ = tick.tick() => continue,
        }
        // Answer every complete ADU in the buffer.
        loop {
            let have = buf.get(..filled).unwrap_or(&[]);
            let len = match mbap::adu_len(have) {
                Err(e) => {
                    tracing::warn!(%peer, error = ?e, "not Modbus TCP, closing");
                    return Ok(());
                }
                Ok(Some(n)) if n <= filled => n,
                Ok(_) => break,
            };
            let adu = have.get(..len).unwrap_or(&[]);
            let answer = match faults.get() {
                FaultMode::Normal => respond(adu, model, unit, &mut out),
                FaultMode::Silent | FaultMode::Offline => None,
            };
            if let Some(n) = answer {
                let resp = out.get(..n).unwrap_or(&[]);
                match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(resp)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "client not reading",
                        ))
                    }
                }
            }
            buf.copy_within(len..filled, 0);
            filled -= len;
        }
    }
}

/// The response ADU for one request ADU, or `None` when nothing is to be sent.
fn respond<M: DataModel + ?Sized>(
    adu: &[u8],
    model: &Shared<M>,
    unit: Option<u8>,
    out: &mut [u8; MAX_ADU_LEN],
) -> Option<usize> {
    let req = mbap::Packet::new_unchecked(adu);
    if unit.is_some_and(|u| u != req.unit_id()) {
        return None;
    }
    let result = match model.lock() {
        Ok(mut m) => mbap::process(adu, &mut *m, out),
        Err(_) => {
            // A thread panicked holding the model: report a device failure
            // rather than serve possibly half-updated state.
            tracing::error!("data model mutex poisoned");
            return device_failure(adu, out);
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = ?e, "bad ADU");
            None
        }
    }
}

fn device_failure(adu: &[u8], out: &mut [u8; MAX_ADU_LEN]) -> Option<usize> {
    let req = mbap::Packet::new_checked(adu).ok()?;
    let &function = req.pdu().first()?;
    let mut pdu_out = [0u8; MAX_PDU_LEN];
    let n = pdu::emit_exception(function, Exception::ServerDeviceFailure, &mut pdu_out);
    let header = mbap::Header::for_pdu(req.transaction_id(), req.unit_id(), n).ok()?;
    header.emit(out).ok()?;
    let end = mbap::HEADER_LEN + n;
    out.get_mut(mbap::HEADER_LEN..end)?
        .copy_from_slice(pdu_out.get(..n)?);
    Some(end)
}
