//! Just enough TCP (RFC 9293) for MSS clamping: a header view, an option
//! iterator, and an in-place MSS rewrite with an incremental checksum fix
//! (RFC 1624).
//!
//! TCP has no length field: the view's buffer must be exactly the segment
//! (the IP payload), since the checksum covers all of it.

use core::net::IpAddr;

use crate::checksum;
use crate::{Error, Result};

/// A view of a TCP segment.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    // Data Offset (4 bits), reserved (3), AE (1), then the flags byte.
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header: Data Offset 15.
pub const MAX_HEADER_LEN: usize = 60;

/// FIN: no more data from sender.
pub const FLAG_FIN: u16 = 0x001;
/// SYN: synchronize sequence numbers.
pub const FLAG_SYN: u16 = 0x002;
/// RST: reset the connection.
pub const FLAG_RST: u16 = 0x004;
/// PSH: push.
pub const FLAG_PSH: u16 = 0x008;
/// ACK: the acknowledgment field is significant.
pub const FLAG_ACK: u16 = 0x010;
/// URG: the urgent pointer is significant.
pub const FLAG_URG: u16 = 0x020;
/// ECE: ECN echo (RFC 3168).
pub const FLAG_ECE: u16 = 0x040;
/// CWR: congestion window reduced (RFC 3168).
pub const FLAG_CWR: u16 = 0x080;
/// AE: accurate ECN (formerly NS, RFC 3540).
pub const FLAG_AE: u16 = 0x100;

// IP protocol number of TCP, for the pseudo-header.
const PROTOCOL: u8 = 6;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and runs `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than 20 bytes or than Data
    /// Offset says; `Malformed` if Data Offset is below 5.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            Err(Error::Malformed)
        } else if hl > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[at], d[at + 1]])
    }

    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT.start)
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM.start)
    }

    /// Header length in bytes (Data Offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The nine flag bits (`FLAG_*`).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS.start) & 0x01ff
    }

    /// FIN.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    /// SYN.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    /// RST.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    /// PSH.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & FLAG_PSH != 0
    }

    /// ACK.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    /// URG.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & FLAG_URG != 0
    }

    /// ECE.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flags() & FLAG_ECE != 0
    }

    /// CWR.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flags() & FLAG_CWR != 0
    }

    /// Window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WIN_SIZE.start)
    }

    /// Checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT.start)
    }

    /// The options (bytes 20 to the header length), padding included.
    #[inline]
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(HEADER_LEN..hl).unwrap_or(&[])
    }

    /// An iterator over the options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }

    /// The payload after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(hl..).unwrap_or(&[])
    }

    /// The value of the first MSS option; `None` if there is none or the
    /// options are malformed before it.
    #[inline]
    pub fn mss(&self) -> Option<u16> {
        let at = self.mss_at()?;
        Some(self.u16_at(at))
    }

    /// Offset in the buffer of the first MSS option's value.
    #[inline]
    fn mss_at(&self) -> Option<usize> {
        let mut it = self.options_iter();
        loop {
            let before = it.pos;
            match it.next()? {
                Ok(TcpOption::MaxSegmentSize(_)) => return Some(HEADER_LEN + before + 2),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Whether the checksum is right for the pseudo-header of `src`/`dst`
    /// (the whole buffer is the segment).
    #[inline]
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let d = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTOCOL, d.len() as u32);
        checksum::combine(&[ph, checksum::data(d)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    fn set_u32_at(&mut self, at: usize, value: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        self.set_u16_at(field::SRC_PORT.start, value);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        self.set_u16_at(field::DST_PORT.start, value);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        self.set_u32_at(field::SEQ_NUM.start, value);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        self.set_u32_at(field::ACK_NUM.start, value);
    }

    /// Sets the header length in bytes (rounded down to 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        let d = self.buffer.as_mut();
        let off = ((value / 4) as u8) & 0x0f;
        d[field::FLAGS.start] = (d[field::FLAGS.start] & 0x0f) | (off << 4);
    }

    /// Sets the nine flag bits, keeping Data Offset and the reserved bits.
    #[inline]
    pub fn set_flags(&mut self, value: u16) {
        let v = (self.u16_at(field::FLAGS.start) & !0x01ff) | (value & 0x01ff);
        self.set_u16_at(field::FLAGS.start, v);
    }

    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        self.set_u16_at(field::WIN_SIZE.start, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM.start, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        self.set_u16_at(field::URGENT.start, value);
    }

    /// The options, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..hl)
            .unwrap_or(&mut [])
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(hl..).unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the pseudo-header of
    /// `src`/`dst` and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTOCOL, d.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(d)]);
        self.set_checksum(c);
    }

    /// Lowers the first MSS option to `max` if it is larger, fixing the
    /// checksum incrementally (RFC 1624), and returns whether it did.
    ///
    /// Callers normally check `syn()` first: MSS only appears on SYNs
    /// (RFC 9293 §3.7.1). Malformed options before the MSS leave the
    /// segment untouched. A checksum that was wrong stays wrong.
    #[inline]
    pub fn clamp_mss(&mut self, max: u16) -> bool {
        let Some(at) = self.mss_at() else {
            return false;
        };
        let old = self.u16_at(at);
        if old <= max {
            return false;
        }
        self.set_u16_at(at, max);
        // The checksum sums 16-bit words at even offsets: a value at an odd
        // offset straddles two words and counts byte-swapped.
        let (o, n) = if at.is_multiple_of(2) {
            (old, max)
        } else {
            (old.swap_bytes(), max.swap_bytes())
        };
        let c = checksum::update_u16(self.checksum(), o, n);
        self.set_checksum(c);
        true
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A TCP option.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0): the rest is padding.
    EndOfList,
    /// No-Operation (kind 1).
    NoOperation,
    /// Maximum Segment Size (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Any other kind, with its data (after kind and length). `kind` must
    /// not be 0, 1 or 2.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data, without kind and length.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Reads one option from the front of `buffer`, returning it and the
    /// bytes after it. A length below 2 or past the end, or an MSS whose
    /// length is not 4, is `Malformed`.
    pub fn parse(buffer: &'a [u8]) -> Result<(TcpOption<'a>, &'a [u8])> {
        let (&kind, rest) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            OPT_EOL => Ok((TcpOption::EndOfList, rest)),
            OPT_NOP => Ok((TcpOption::NoOperation, rest)),
            _ => {
                let len = usize::from(*rest.first().ok_or(Error::Malformed)?);
                if len < 2 || len > buffer.len() {
                    return Err(Error::Malformed);
                }
                let data = &buffer[2..len];
                let opt = if kind == OPT_MSS {
                    if len != 4 {
                        return Err(Error::Malformed);
                    }
                    TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]]))
                } else {
                    TcpOption::Unknown { kind, data }
                };
                Ok((opt, &buffer[len..]))
            }
        }
    }

    /// Bytes this option takes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the front of `buffer` and returns its length.
    /// `Err(BufferTooSmall)` if it does not fit; `Err(Malformed)` if an
    /// unknown option's data exceeds 253 bytes.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let len_byte = u8::try_from(len).map_err(|_| Error::Malformed)?;
        let out = buffer.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        match *self {
            TcpOption::EndOfList => out[0] = OPT_EOL,
            TcpOption::NoOperation => out[0] = OPT_NOP,
            TcpOption::MaxSegmentSize(v) => {
                out[0] = OPT_MSS;
                out[1] = 4;
                out[2..4].copy_from_slice(&v.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                out[0] = kind;
                out[1] = len_byte;
                out[2..].copy_from_slice(data);
            }
        }
        Ok(len)
    }
}

/// Iterates over TCP options. Yields `Err(Malformed)` once and stops on a
/// bad length; stops after End of Option List.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates over the options in `data` (the bytes after the fixed
    /// header).
    #[inline]
    pub const fn new(data: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { data, pos: 0 }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        match TcpOption::parse(rest) {
            Ok((opt, after)) => {
                self.pos = if opt == TcpOption::EndOfList {
                    self.data.len()
                } else {
                    self.data.len() - after.len()
                };
                Some(Ok(opt))
            }
            Err(e) => {
                self.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// A Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window
    /// scale 7. Checksum filled by the test.
    const SYN: [u8; 40] = [
        0xa4, 0x1e, 0x00, 0x50, 0x3c, 0x0c, 0x6c, 0x9b, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x9d, 0x2b,
        0x6e, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn syn() -> [u8; 40] {
        let mut b = SYN;
        Packet::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn deconstruct() {
        let b = syn();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 0xa41e);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0x3c0c6c9b);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), FLAG_SYN);
        assert!(p.syn());
        assert!(!(p.ack() || p.fin() || p.rst() || p.psh() || p.urg() || p.ece() || p.cwr()));
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &SYN[20..]);
        assert_eq!(p.payload(), &[] as &[u8]);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.mss(), Some(1460));
        let opts: Vec<_> = p.options_iter().collect();
        assert_eq!(
            opts,
            [
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::Unknown { kind: 4, data: &[] }),
                Ok(TcpOption::Unknown {
                    kind: 8,
                    data: &[0x9d, 0x2b, 0x6e, 0x0d, 0, 0, 0, 0]
                }),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::Unknown {
                    kind: 3,
                    data: &[7]
                }),
            ]
        );
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(0xa41e);
        p.set_dst_port(80);
        p.set_seq_number(0x3c0c6c9b);
        p.set_ack_number(0);
        p.buffer[12] = 0;
        p.set_header_len(40);
        p.set_flags(FLAG_SYN);
        p.set_window_len(64240);
        p.set_urgent_at(0);
        let mut at = 0;
        let opts = p.options_mut();
        for o in [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::Unknown { kind: 4, data: &[] },
            TcpOption::Unknown {
                kind: 8,
                data: &[0x9d, 0x2b, 0x6e, 0x0d, 0, 0, 0, 0],
            },
            TcpOption::NoOperation,
            TcpOption::Unknown {
                kind: 3,
                data: &[7],
            },
        ] {
            at += o.emit(&mut opts[at..]).unwrap();
        }
        assert_eq!(at, 20);
        p.fill_checksum(SRC, DST);
        assert_eq!(buf, syn());
    }

    #[test]
    fn clamp() {
        let mut b = syn();
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert!(!p.clamp_mss(1460));
        assert!(!p.clamp_mss(1500));
        assert!(p.clamp_mss(1412));
        assert_eq!(p.mss(), Some(1412));
        assert!(p.verify_checksum(SRC, DST));
        let inc = p.checksum();
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), inc);
    }

    #[test]
    fn clamp_odd_offset_ipv6() {
        // NOP then MSS: the value sits at an odd offset (23).
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&SYN[..20]);
        b[12] = 0x70;
        b[20..28].copy_from_slice(&[1, 2, 4, 0x23, 0x28, 1, 1, 0]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(s, d);
        assert_eq!(p.mss(), Some(9000));
        assert!(p.clamp_mss(1440));
        assert_eq!(p.mss(), Some(1440));
        assert!(p.verify_checksum(s, d));
        let inc = p.checksum();
        p.fill_checksum(s, d);
        assert_eq!(p.checksum(), inc);
    }

    #[test]
    fn no_mss_or_malformed() {
        let mut b = syn();
        b[20] = 1; // MSS kind -> NOP; then 04 05 b4 ... reads SACK-perm with length 5
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert_eq!(p.mss(), None);
        assert!(!p.clamp_mss(100));

        // Bad lengths end iteration with Malformed, once.
        for opts in [
            &[2u8, 4, 5][..],
            &[3, 0],
            &[3, 1],
            &[3],
            &[2, 3, 0],
            &[9, 40, 0, 0],
        ] {
            let v: Vec<_> = TcpOptionIter::new(opts).collect();
            assert_eq!(v.last(), Some(&Err(Error::Malformed)), "{opts:?}");
            assert_eq!(v.iter().filter(|r| r.is_err()).count(), 1);
        }
        // EOL stops; the padding after is not read.
        let v: Vec<_> = TcpOptionIter::new(&[1, 0, 2, 4, 1, 1]).collect();
        assert_eq!(v, [Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]);
        // An MSS after EOL is not an MSS.
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&SYN[..20]);
        b[12] = 0x70;
        b[20..24].copy_from_slice(&[0, 2, 4, 5]);
        assert_eq!(Packet::new_checked(&b[..]).unwrap().mss(), None);
    }

    #[test]
    fn truncated() {
        for n in 0..20 {
            assert_eq!(Packet::new_checked(&SYN[..n]).err(), Some(Error::Truncated));
        }
        for n in 20..40 {
            assert_eq!(Packet::new_checked(&SYN[..n]).err(), Some(Error::Truncated));
        }
        for off in 0..5u8 {
            let mut b = SYN;
            b[12] = off << 4;
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        }
        let big = [0u8; 254];
        let mut out = [0xa5u8; 300];
        let o = TcpOption::Unknown {
            kind: 9,
            data: &big[..],
        };
        assert_eq!(o.emit(&mut out[..]), Err(Error::Malformed));
        assert_eq!(out, [0xa5; 300]);
        assert_eq!(
            TcpOption::MaxSegmentSize(1).emit(&mut out[..3]),
            Err(Error::BufferTooSmall)
        );
    }

    fn option() -> impl Strategy<Value = (u8, Vec<u8>)> {
        prop_oneof![
            Just((0u8, vec![])),
            Just((1u8, vec![])),
            any::<u16>().prop_map(|v| (2u8, v.to_be_bytes().to_vec())),
            (3u8..=255, proptest::collection::vec(any::<u8>(), 0..38)),
        ]
    }

    fn to_option(o: &(u8, Vec<u8>)) -> TcpOption<'_> {
        match o.0 {
            0 => TcpOption::EndOfList,
            1 => TcpOption::NoOperation,
            2 => TcpOption::MaxSegmentSize(u16::from_be_bytes([o.1[0], o.1[1]])),
            kind => TcpOption::Unknown { kind, data: &o.1 },
        }
    }

    fn addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, d)| (
                IpAddr::from(Ipv4Addr::from(s)),
                IpAddr::from(Ipv4Addr::from(d))
            )),
            (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(s, d)| (
                IpAddr::from(Ipv6Addr::from(s)),
                IpAddr::from(Ipv6Addr::from(d))
            )),
        ]
    }

    proptest! {
        #[test]
        fn option_roundtrip(o in option()) {
            let opt = to_option(&o);
            let mut buf = vec![0xa5; opt.buffer_len()];
            prop_assert_eq!(opt.emit(&mut buf).unwrap(), buf.len());
            let (back, rest) = TcpOption::parse(&buf).unwrap();
            prop_assert_eq!(back, opt);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn clamp_matches_recompute(
            header in any::<[u8; 20]>(),
            nops in 0usize..4,
            before in proptest::collection::vec((3u8..=255, proptest::collection::vec(any::<u8>(), 0..6)), 0..3),
            mss in any::<u16>(),
            max in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            (s, d) in addrs(),
        ) {
            let mut opts = vec![1u8; nops];
            for (kind, data) in &before {
                let o = TcpOption::Unknown { kind: *kind, data };
                let at = opts.len();
                opts.resize(at + o.buffer_len(), 0);
                o.emit(&mut opts[at..]).unwrap();
            }
            opts.extend_from_slice(&[2, 4]);
            opts.extend_from_slice(&mss.to_be_bytes());
            while !opts.len().is_multiple_of(4) { opts.push(0); }
            let mut b = header.to_vec();
            b.extend_from_slice(&opts);
            b.extend_from_slice(&payload);
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.set_header_len(HEADER_LEN + opts.len());
            p.fill_checksum(s, d);
            prop_assert_eq!(p.mss(), Some(mss));
            let clamped = p.clamp_mss(max);
            prop_assert_eq!(clamped, mss > max);
            prop_assert_eq!(p.mss(), Some(mss.min(max)));
            prop_assert!(p.verify_checksum(s, d));
            let inc = p.checksum();
            p.fill_checksum(s, d);
            prop_assert_eq!(inc, p.checksum());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), max in any::<u16>()) {
            let p = Packet::new_unchecked(&bytes[..]);
            if bytes.len() >= HEADER_LEN {
                let _ = (p.options(), p.payload(), p.mss());
            }
            for o in TcpOptionIter::new(&bytes) {
                let _ = o;
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.seq_number(), p.ack_number(), p.flags(), p.window_len(), p.urgent_at());
                let _ = p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
                let mut b = bytes.clone();
                let mut q = Packet::new_unchecked(&mut b[..]);
                let _ = q.clamp_mss(max);
            }
        }
    }
}
