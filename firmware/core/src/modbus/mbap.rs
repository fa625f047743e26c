//! Modbus TCP framing: the MBAP header (transaction id, protocol id,
//! length, unit id) around a PDU.
//!
//! Layer: stream framing for Modbus TCP. It knows the 7-byte header and how
//! long an ADU is; it knows nothing about sockets, connections or unit-id
//! policy (the transport decides which unit ids it answers). Function
//! semantics live in [`super::pdu`].
//!
//! A stream reader calls [`adu_len`] on what it has buffered: `Ok(None)`
//! means "read more", `Ok(Some(n))` means the ADU is `n` bytes long (wait
//! for all of them), `Err` means the stream is not Modbus TCP and the
//! connection should be closed (there is no way to resynchronise a TCP
//! stream). [`process`] answers one complete ADU. Nothing here panics.

use super::pdu::{self, MAX_PDU_LEN};
use super::DataModel;

/// Bytes before the PDU: transaction id, protocol id, length, unit id.
pub const HEADER_LEN: usize = 7;
/// Largest ADU: header plus a 253-byte PDU.
pub const MAX_ADU_LEN: usize = HEADER_LEN + MAX_PDU_LEN;
/// The length field counts the unit id and the PDU: at least a function code...
pub const MIN_LENGTH: u16 = 2;
/// ... and at most a 253-byte PDU.
pub const MAX_LENGTH: u16 = 1 + MAX_PDU_LEN as u16;
/// Protocol id of Modbus.
pub const PROTOCOL_MODBUS: u16 = 0;

mod field {
    use core::ops::Range;
    pub const TRANSACTION: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const UNIT: usize = 6;
    /// Bytes before the ones the length field counts.
    pub const COUNTED_FROM: usize = 6;
}

/// Framing errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header or its length field say.
    Truncated,
    /// More bytes than the length field says.
    Overlong,
    /// Length field outside [`MIN_LENGTH`]..=[`MAX_LENGTH`].
    BadLength(u16),
}

/// How long the ADU at the front of `buf` is. `Ok(None)`: the length field
/// has not arrived yet. Checks only the length field: a foreign protocol id
/// still frames (and is ignored by [`process`]).
pub fn adu_len(buf: &[u8]) -> Result<Option<usize>, Error> {
    let Some(&[hi, lo]) = buf.get(field::LENGTH) else {
        return Ok(None);
    };
    let length = u16::from_be_bytes([hi, lo]);
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(Error::BadLength(length));
    }
    Ok(Some(field::COUNTED_FROM + usize::from(length)))
}

/// A view of an MBAP ADU. Accessors never panic; missing fields read as 0
/// or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap `buffer` after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds exactly one ADU as its length field says.
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        match adu_len(buf)? {
            None => Err(Error::Truncated),
            Some(n) if buf.len() < n => Err(Error::Truncated),
            Some(n) if buf.len() > n => Err(Error::Overlong),
            Some(_) => Ok(()),
        }
    }

    fn u16_at(&self, at: core::ops::Range<usize>) -> u16 {
        match self.buffer.as_ref().get(at) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    pub fn transaction_id(&self) -> u16 {
        self.u16_at(field::TRANSACTION)
    }
    pub fn protocol_id(&self) -> u16 {
        self.u16_at(field::PROTOCOL)
    }
    pub fn length(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    pub fn unit_id(&self) -> u8 {
        self.buffer.as_ref().get(field::UNIT).copied().unwrap_or(0)
    }
    pub fn pdu(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The validated header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub transaction_id: u16,
    pub protocol_id: u16,
    /// Unit id plus PDU length.
    pub length: u16,
    pub unit_id: u8,
}

impl Header {
    /// Parse the header at the front of `buf` (the PDU need not be there).
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        adu_len(buf)?;
        let p = Packet::new_unchecked(buf);
        Ok(Self {
            transaction_id: p.transaction_id(),
            protocol_id: p.protocol_id(),
            length: p.length(),
            unit_id: p.unit_id(),
        })
    }

    /// The header of an ADU carrying `pdu_len` bytes of PDU.
    pub fn for_pdu(transaction_id: u16, unit_id: u8, pdu_len: usize) -> Result<Self, Error> {
        let length = u16::try_from(pdu_len + 1).map_err(|_| Error::BadLength(u16::MAX))?;
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return Err(Error::BadLength(length));
        }
        Ok(Self {
            transaction_id,
            protocol_id: PROTOCOL_MODBUS,
            length,
            unit_id,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the 7 header bytes into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let out = buf.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        out[field::TRANSACTION].copy_from_slice(&self.transaction_id.to_be_bytes());
        out[field::PROTOCOL].copy_from_slice(&self.protocol_id.to_be_bytes());
        out[field::LENGTH].copy_from_slice(&self.length.to_be_bytes());
        out[field::UNIT] = self.unit_id;
        Ok(())
    }
}

/// Answer one complete ADU (exactly one; see [`adu_len`]).
///
/// Returns the length of the response ADU written to `out`, `Ok(None)` when
/// there is nothing to answer (protocol id not Modbus), or a framing error.
/// The response echoes the transaction id and unit id. Unit-id policy is the
/// caller's: this answers whatever unit id it is given.
pub fn process<M: DataModel + ?Sized>(
    adu: &[u8],
    model: &mut M,
    out: &mut [u8; MAX_ADU_LEN],
) -> Result<Option<usize>, Error> {
    let req = Packet::new_checked(adu)?;
    if req.protocol_id() != PROTOCOL_MODBUS {
        return Ok(None);
    }
    let mut pdu_out = [0u8; MAX_PDU_LEN];
    let Some(resp) = pdu::process(req.pdu(), model, &mut pdu_out) else {
        return Ok(None);
    };
    let header = Header::for_pdu(req.transaction_id(), req.unit_id(), resp.len)?;
    header.emit(out)?;
    let total = HEADER_LEN + resp.len;
    let (dst, src) = (
        out.get_mut(HEADER_LEN..total).ok_or(Error::Overlong)?,
        pdu_out.get(..resp.len).ok_or(Error::Overlong)?,
    );
    dst.copy_from_slice(src);
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read holding registers 0x006B x3, transaction 0x1501, unit 0xFF.
    static REQUEST: [u8; 12] = [
        0x15, 0x01, 0x00, 0x00, 0x00, 0x06, 0xFF, 0x03, 0x00, 0x6B, 0x00, 0x03,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).expect("valid");
        assert_eq!(p.transaction_id(), 0x1501);
        assert_eq!(p.protocol_id(), 0);
        assert_eq!(p.length(), 6);
        assert_eq!(p.unit_id(), 0xFF);
        assert_eq!(p.pdu(), &REQUEST[7..]);
    }

    #[test]
    fn header_parse_emit_round_trip() {
        let h = Header::parse(&REQUEST).expect("valid");
        assert_eq!(
            h,
            Header {
                transaction_id: 0x1501,
                protocol_id: 0,
                length: 6,
                unit_id: 0xFF
            }
        );
        let mut buf = [0u8; HEADER_LEN];
        h.emit(&mut buf).expect("fits");
        assert_eq!(buf, REQUEST[..HEADER_LEN]);
        assert_eq!(h.emit(&mut buf[..6]), Err(Error::Truncated));
        assert_eq!(Header::for_pdu(0x1501, 0xFF, 5), Ok(h));
        assert_eq!(Header::for_pdu(0, 0, 0), Err(Error::BadLength(1)));
        assert_eq!(Header::for_pdu(0, 0, 254), Err(Error::BadLength(255)));
    }

    #[test]
    fn adu_len_and_check_len() {
        assert_eq!(adu_len(&REQUEST[..5]), Ok(None));
        assert_eq!(adu_len(&REQUEST[..6]), Ok(Some(12)));
        assert_eq!(adu_len(&[0, 0, 0, 0, 0, 1]), Err(Error::BadLength(1)));
        assert_eq!(adu_len(&[0, 0, 0, 0, 0, 255]), Err(Error::BadLength(255)));
        assert_eq!(adu_len(&[0, 0, 0, 0, 0, 254]), Ok(Some(260)));
        assert_eq!(
            Packet::new_checked(&REQUEST[..11]).err(),
            Some(Error::Truncated)
        );
        let mut long = [0u8; 13];
        long[..12].copy_from_slice(&REQUEST);
        assert_eq!(Packet::new_checked(&long[..]).err(), Some(Error::Overlong));
        assert_eq!(Header::parse(&REQUEST[..6]), Err(Error::Truncated));
    }
}
