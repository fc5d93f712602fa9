//! ICMPv4 (RFC 792): echo, the two errors a router hop sends (Time
//! Exceeded, and Fragmentation Needed from RFC 1191), and every other
//! message kept as raw fields so that it re-emits exactly.
//!
//! ICMP has no length field: the view's buffer must be exactly the message
//! (the IP payload), since the checksum covers all of it.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::ipv4::{self, IpProtocol};
use crate::{Error, Result};

enum_with_unknown! {
    /// ICMP message type.
    pub enum Message(u8) {
        /// Echo Reply.
        EchoReply = 0,
        /// Destination Unreachable.
        DstUnreachable = 3,
        /// Source Quench (deprecated, RFC 6633).
        SourceQuench = 4,
        /// Redirect.
        Redirect = 5,
        /// Echo Request.
        EchoRequest = 8,
        /// Router Advertisement (RFC 1256).
        RouterAdvert = 9,
        /// Router Solicitation (RFC 1256).
        RouterSolicit = 10,
        /// Time Exceeded.
        TimeExceeded = 11,
        /// Parameter Problem.
        ParamProblem = 12,
        /// Timestamp.
        Timestamp = 13,
        /// Timestamp Reply.
        TimestampReply = 14,
    }
}

impl Message {
    /// Whether this is an error message (one that quotes a datagram), to
    /// which no ICMP error may answer (RFC 1812 §4.3.2.7).
    #[inline]
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Message::DstUnreachable
                | Message::SourceQuench
                | Message::Redirect
                | Message::TimeExceeded
                | Message::ParamProblem
        )
    }
}

enum_with_unknown! {
    /// Destination Unreachable codes (RFC 792, RFC 1812 §5.2.7.1).
    pub enum DstUnreachable(u8) {
        /// Net unreachable.
        NetUnreachable = 0,
        /// Host unreachable.
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set (RFC 1191: carries the MTU).
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for TOS.
        NetUnreachToS = 11,
        /// Host unreachable for TOS.
        HostUnreachToS = 12,
        /// Communication administratively prohibited.
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedViol = 14,
        /// Precedence cutoff in effect.
        PrecedCutoff = 15,
    }
}

enum_with_unknown! {
    /// Time Exceeded codes.
    pub enum TimeExceeded(u8) {
        /// TTL exceeded in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

/// A view of an ICMPv4 message.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    // The four bytes whose meaning depends on the type.
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const MTU: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = field::DATA;

/// How many payload bytes of the offending datagram an error quotes after
/// its IP header (RFC 792: "the first 64 bits").
pub const QUOTED_PAYLOAD_LEN: usize = 8;

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

    /// `Truncated` if the buffer is shorter than the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// Type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Code (its meaning depends on the type).
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// The four type-dependent bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        let d = self.buffer.as_ref();
        let r = field::REST.start;
        u32::from_be_bytes([d[r], d[r + 1], d[r + 2], d[r + 3]])
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT.start)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQNO.start)
    }

    /// Next-hop MTU of a Fragmentation Needed message (RFC 1191 §4).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.u16_at(field::MTU.start)
    }

    /// Everything after the 8-byte header: echo data, or the quoted
    /// datagram of an error.
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::DATA..).unwrap_or(&[])
    }

    /// Whether the checksum over the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = u8::from(value);
    }

    /// Sets the code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM.start, value);
    }

    /// Sets the four type-dependent bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        self.set_u16_at(field::ECHO_IDENT.start, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        self.set_u16_at(field::ECHO_SEQNO.start, value);
    }

    /// Sets the next-hop MTU (the preceding two bytes are not touched).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        self.set_u16_at(field::MTU.start, value);
    }

    /// The data after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::DATA..)
            .unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !checksum::data(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An ICMPv4 message. Anything that is not exactly one of the named shapes
/// (a nonzero code on an echo, nonzero unused bytes) is `Other`, so parse
/// then emit is exact for every message.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Repr<'a> {
    /// Echo Request (type 8, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back.
        data: &'a [u8],
    },
    /// Echo Reply (type 0, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, as in the request.
        data: &'a [u8],
    },
    /// Destination Unreachable, Fragmentation Needed and DF set (type 3,
    /// code 4), unused bytes zero (RFC 1191 §4).
    FragNeeded {
        /// MTU of the next-hop link.
        next_hop_mtu: u16,
        /// The quoted datagram: IP header and the start of its payload.
        data: &'a [u8],
    },
    /// Time Exceeded, TTL exceeded in transit (type 11, code 0), unused
    /// bytes zero.
    TimeExceeded {
        /// The quoted datagram: IP header and the start of its payload.
        data: &'a [u8],
    },
    /// Any other message, field by field.
    Other {
        /// Type.
        msg_type: Message,
        /// Code.
        code: u8,
        /// The four type-dependent bytes.
        rest_of_header: u32,
        /// Everything after the header.
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Reads a message. With `verify_checksum`, a wrong checksum is
    /// `Err(Checksum)`; without, it is not looked at. `emit` always
    /// computes the checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        verify_checksum: bool,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let data = buf.get(field::DATA..).unwrap_or(&[]);
        let code = packet.msg_code();
        let rest = packet.rest_of_header();
        let repr = match (packet.msg_type(), code) {
            (Message::EchoRequest, 0) => Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (Message::EchoReply, 0) => Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (Message::DstUnreachable, 4) if rest >> 16 == 0 => Repr::FragNeeded {
                next_hop_mtu: packet.next_hop_mtu(),
                data,
            },
            (Message::TimeExceeded, 0) if rest == 0 => Repr::TimeExceeded { data },
            (msg_type, code) => Repr::Other {
                msg_type,
                code,
                rest_of_header: rest,
                data,
            },
        };
        Ok(repr)
    }

    /// The data after the header.
    #[inline]
    pub const fn data(&self) -> &'a [u8] {
        match *self {
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::FragNeeded { data, .. }
            | Repr::TimeExceeded { data }
            | Repr::Other { data, .. } => data,
        }
    }

    /// Header plus data.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Type, code and rest of header as written.
    fn fields(&self) -> (Message, u8, u32) {
        match *self {
            Repr::EchoRequest { ident, seq_no, .. } => (
                Message::EchoRequest,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
            ),
            Repr::EchoReply { ident, seq_no, .. } => (
                Message::EchoReply,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
            ),
            Repr::FragNeeded { next_hop_mtu, .. } => (
                Message::DstUnreachable,
                u8::from(DstUnreachable::FragRequired),
                u32::from(next_hop_mtu),
            ),
            Repr::TimeExceeded { .. } => {
                (Message::TimeExceeded, u8::from(TimeExceeded::TtlExpired), 0)
            }
            Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        }
    }

    /// Writes the message and its checksum into the first `buffer_len()`
    /// bytes of the buffer (bytes after them are not covered). Panics if
    /// the buffer is shorter (a caller bug).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let len = self.buffer_len();
        let buf = &mut packet.buffer.as_mut()[..len];
        let mut p = Packet::new_unchecked(buf);
        let (t, c, rest) = self.fields();
        p.set_msg_type(t);
        p.set_msg_code(c);
        p.set_rest_of_header(rest);
        p.data_mut().copy_from_slice(self.data());
        p.fill_checksum();
    }
}

/// The ICMP error a router hop sends about a datagram it cannot forward.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ErrorKind {
    /// Time Exceeded, TTL exceeded in transit (RFC 1812 §5.3.1).
    TimeExceeded,
    /// Destination Unreachable, Fragmentation Needed (RFC 1191 §4).
    FragNeeded {
        /// MTU of the link the datagram did not fit.
        next_hop_mtu: u16,
    },
}

/// The part of `original` (an IPv4 datagram) an error quotes: its header
/// and the first 8 bytes of its payload, or less if shorter (RFC 792,
/// RFC 1812 §4.3.2.3).
fn quote(original: &[u8]) -> Result<&[u8]> {
    let ip = ipv4::Packet::new_checked(original)?;
    let n = ip.header_len() + ip.payload().len().min(QUOTED_PAYLOAD_LEN);
    original.get(..n).ok_or(Error::Truncated)
}

/// Writes an ICMP error message about `original` (an IPv4 datagram as
/// received, TTL undecremented) into `buffer` and returns its length. The
/// message quotes the original's IP header and 8 bytes of its payload.
///
/// Errors: `original` does not pass `ipv4::Packet::check_len`, or
/// `BufferTooSmall`. Whether an error may be sent at all is
/// `error_allowed`'s question.
pub fn build_error(kind: ErrorKind, original: &[u8], buffer: &mut [u8]) -> Result<usize> {
    let data = quote(original)?;
    let repr = match kind {
        ErrorKind::TimeExceeded => Repr::TimeExceeded { data },
        ErrorKind::FragNeeded { next_hop_mtu } => Repr::FragNeeded { next_hop_mtu, data },
    };
    let len = repr.buffer_len();
    let out = buffer.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    repr.emit(&mut Packet::new_unchecked(out));
    Ok(len)
}

/// DSCP/ECN byte of the errors built here: precedence 6, internetwork
/// control (RFC 1812 §4.3.2.5).
pub const ERROR_DSCP_ECN: u8 = 0xc0;

/// TTL of the errors built here.
pub const ERROR_TTL: u8 = 64;

/// Writes a whole IPv4 datagram carrying an ICMP error about `original`
/// into `buffer`, from `src_addr` (this router) back to the original's
/// source, and returns its length. The IP header has no options, TTL 64,
/// DSCP CS6, DF clear and Identification `ident`.
pub fn build_error_packet(
    kind: ErrorKind,
    original: &[u8],
    src_addr: Ipv4Addr,
    ident: u16,
    buffer: &mut [u8],
) -> Result<usize> {
    let dst_addr = ipv4::Packet::new_checked(original)?.src_addr();
    let icmp_len = HEADER_LEN + quote(original)?.len();
    let ip = ipv4::Repr {
        src_addr,
        dst_addr,
        protocol: IpProtocol::Icmp,
        payload_len: icmp_len,
        hop_limit: ERROR_TTL,
        dscp_ecn: ERROR_DSCP_ECN,
        ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    let len = ip.buffer_len();
    let out = buffer.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let mut p = ipv4::Packet::new_unchecked(&mut *out);
    ip.emit(&mut p);
    build_error(kind, original, p.payload_mut())?;
    Ok(len)
}

/// Whether RFC 1812 §4.3.2.7 allows an ICMP error about this datagram: not
/// about an ICMP error (or an ICMP message too short to tell), a non-first
/// fragment, a multicast or limited-broadcast destination, or a source that
/// is not one host (zero, loopback, broadcast, multicast, class E).
///
/// Directed broadcasts and link-layer broadcasts are the caller's to check.
pub fn error_allowed<T: AsRef<[u8]>>(original: &ipv4::Packet<T>) -> bool {
    let src = original.src_addr();
    let dst = original.dst_addr();
    if original.frag_offset() != 0
        || dst.is_multicast()
        || dst.is_broadcast()
        || src.is_unspecified()
        || src.is_loopback()
        || src.is_broadcast()
        || src.is_multicast()
        || src.octets()[0] >= 240
    {
        return false;
    }
    if original.protocol() == IpProtocol::Icmp {
        return match original.payload().first() {
            Some(&t) => !Message::from(t).is_error(),
            None => false,
        };
    }
    true
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The echo request inside PPP in frame 24 of
    /// l2tpns-lns_chap_session.pcap, with its IPv4 header.
    const PING: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0xed, 0xa9, 0xc6, 0x12, 0x01,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00, 0xcb, 0xc5, 0x00, 0x77, 0x00, 0x01, 0x70, 0x65,
        0x2d, 0x70, 0x69, 0x6e, 0x67, 0x2d, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x21,
    ];

    /// The echo reply of frame 25 (ICMP only).
    const PONG: [u8; 24] = [
        0x00, 0x00, 0xd3, 0xc5, 0x00, 0x77, 0x00, 0x01, 0x70, 0x65, 0x2d, 0x70, 0x69, 0x6e, 0x67,
        0x2d, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x21,
    ];

    const PAYLOAD: &[u8] = b"pe-ping-payload!";

    /// Time Exceeded about PING (checksum computed independently).
    const TIME_EXCEEDED: [u8; 36] = [
        0x0b, 0x00, 0x20, 0xc2, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00,
        0x00, 0x40, 0x01, 0xed, 0xa9, 0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00,
        0xcb, 0xc5, 0x00, 0x77, 0x00, 0x01,
    ];

    /// Fragmentation Needed, MTU 1400, about PING.
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0x23, 0x46, 0x00, 0x00, 0x05, 0x78, 0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00,
        0x00, 0x40, 0x01, 0xed, 0xa9, 0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00,
        0xcb, 0xc5, 0x00, 0x77, 0x00, 0x01,
    ];

    /// IPv4 header of the Time Exceeded datagram: 198.18.0.1 -> 198.18.1.1,
    /// ident 0x1234.
    const TE_IP: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x38, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0xda, 0xaa, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x12, 0x01, 0x01,
    ];

    #[test]
    fn deconstruct_echo() {
        let p = Packet::new_checked(&PING[20..]).unwrap();
        assert_eq!(p.msg_type(), Message::EchoRequest);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0xcbc5);
        assert_eq!(p.rest_of_header(), 0x0077_0001);
        assert_eq!(p.echo_ident(), 0x77);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), PAYLOAD);
        assert!(p.verify_checksum());
        assert_eq!(
            Repr::parse(&p, true).unwrap(),
            Repr::EchoRequest {
                ident: 0x77,
                seq_no: 1,
                data: PAYLOAD
            }
        );
        let p = Packet::new_checked(&PONG[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(
            Repr::parse(&p, true).unwrap(),
            Repr::EchoReply {
                ident: 0x77,
                seq_no: 1,
                data: PAYLOAD
            }
        );
    }

    #[test]
    fn construct_echo() {
        let r = Repr::EchoReply {
            ident: 0x77,
            seq_no: 1,
            data: PAYLOAD,
        };
        assert_eq!(r.buffer_len(), 24);
        let mut buf = vec![0xa5; 24];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, PONG);
        // A longer buffer: only buffer_len() bytes are written.
        let mut buf = [0xa5; 30];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..24], PONG);
        assert_eq!(&buf[24..], &[0xa5; 6]);
    }

    #[test]
    fn deconstruct_errors() {
        let p = Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
        assert_eq!(p.msg_type(), Message::DstUnreachable);
        assert_eq!(
            DstUnreachable::from(p.msg_code()),
            DstUnreachable::FragRequired
        );
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.verify_checksum());
        assert_eq!(
            Repr::parse(&p, true).unwrap(),
            Repr::FragNeeded {
                next_hop_mtu: 1400,
                data: &PING[..28]
            }
        );
        let p = Packet::new_checked(&TIME_EXCEEDED[..]).unwrap();
        assert_eq!(p.msg_type(), Message::TimeExceeded);
        assert_eq!(TimeExceeded::from(p.msg_code()), TimeExceeded::TtlExpired);
        assert!(p.msg_type().is_error());
        assert_eq!(
            Repr::parse(&p, true).unwrap(),
            Repr::TimeExceeded { data: &PING[..28] }
        );
        // The quoted datagram reads as IPv4 (header only checked: it is cut).
        let q = ipv4::Packet::new_unchecked(p.data());
        assert_eq!(q.src_addr(), Ipv4Addr::new(198, 18, 1, 1));
    }

    #[test]
    fn other_shapes_are_other() {
        // Echo with a nonzero code, Time Exceeded code 1, Frag Needed with
        // nonzero unused bytes: all kept field by field.
        for (t, c, rest) in [
            (8u8, 1u8, 0u32),
            (11, 1, 0),
            (11, 0, 0x0100_0000),
            (3, 4, 0x0001_0578),
            (3, 3, 0),
            (13, 0, 5),
        ] {
            let mut b = vec![t, c, 0, 0];
            b.extend_from_slice(&rest.to_be_bytes());
            b.extend_from_slice(&[1, 2, 3]);
            Packet::new_unchecked(&mut b[..]).fill_checksum();
            let p = Packet::new_checked(&b[..]).unwrap();
            let r = Repr::parse(&p, true).unwrap();
            assert_eq!(
                r,
                Repr::Other {
                    msg_type: Message::from(t),
                    code: c,
                    rest_of_header: rest,
                    data: &[1, 2, 3]
                }
            );
            let mut out = vec![0xa5; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(out, b);
        }
    }

    #[test]
    fn roundtrip_real() {
        for bytes in [&PING[20..], &PONG[..], &TIME_EXCEEDED[..], &FRAG_NEEDED[..]] {
            let p = Packet::new_checked(bytes).unwrap();
            let r = Repr::parse(&p, true).unwrap();
            let mut out = vec![0xa5; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(&out[..], bytes);
        }
    }

    #[test]
    fn checksum_and_truncation() {
        for n in 0..8 {
            assert_eq!(
                Packet::new_checked(&PONG[..n]).err(),
                Some(Error::Truncated)
            );
        }
        let mut b = PONG;
        b[23] ^= 0x40;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, true), Err(Error::Checksum));
        assert!(Repr::parse(&p, false).is_ok());
    }

    #[test]
    fn build_time_exceeded() {
        let mut buf = vec![0xa5; 64];
        let n = build_error(ErrorKind::TimeExceeded, &PING, &mut buf).unwrap();
        assert_eq!(&buf[..n], TIME_EXCEEDED);
        let n = build_error(
            ErrorKind::FragNeeded { next_hop_mtu: 1400 },
            &PING,
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..n], FRAG_NEEDED);

        let mut buf = vec![0xa5; 80];
        let n = build_error_packet(
            ErrorKind::TimeExceeded,
            &PING,
            Ipv4Addr::new(198, 18, 0, 1),
            0x1234,
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, 56);
        assert_eq!(&buf[..20], TE_IP);
        assert_eq!(&buf[20..n], TIME_EXCEEDED);
        assert_eq!(&buf[n..], &[0xa5; 24]);
        let ip = ipv4::Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
    }

    #[test]
    fn build_short_and_bad() {
        // A datagram with less than 8 payload bytes is quoted whole.
        let mut short = PING[..24].to_vec();
        short[3] = 24;
        let mut ipp = ipv4::Packet::new_unchecked(&mut short[..]);
        ipp.fill_checksum();
        let mut buf = [0u8; 64];
        let n = build_error(ErrorKind::TimeExceeded, &short, &mut buf).unwrap();
        assert_eq!(n, 8 + 24);
        assert_eq!(&buf[8..n], &short[..]);
        // Options are quoted too, and Ethernet padding is not.
        let mut padded = PING.to_vec();
        padded.extend_from_slice(&[0; 10]);
        let n = build_error(ErrorKind::TimeExceeded, &padded, &mut buf).unwrap();
        assert_eq!(n, 36);

        assert_eq!(
            build_error(ErrorKind::TimeExceeded, &PING[..10], &mut buf),
            Err(Error::Truncated)
        );
        assert_eq!(
            build_error(ErrorKind::TimeExceeded, &PING, &mut buf[..35]),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            build_error_packet(
                ErrorKind::TimeExceeded,
                &PING,
                Ipv4Addr::LOCALHOST,
                0,
                &mut buf[..55]
            ),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn allowed() {
        let ok = |b: &[u8]| error_allowed(&ipv4::Packet::new_checked(b).unwrap());
        assert!(ok(&PING));

        let edit = |f: &dyn Fn(&mut ipv4::Packet<&mut [u8]>)| {
            let mut b = PING.to_vec();
            f(&mut ipv4::Packet::new_unchecked(&mut b[..]));
            b
        };
        // Not about an ICMP error...
        assert!(!ok(&edit(&|p| p.payload_mut()[0] = 11)));
        assert!(!ok(&edit(&|p| p.payload_mut()[0] = 3)));
        // ...but about an echo reply, yes.
        assert!(ok(&edit(&|p| p.payload_mut()[0] = 0)));
        assert!(!ok(&edit(&|p| p.set_frag_offset(8))));
        assert!(ok(&edit(&|p| p.set_more_frags(true))));
        assert!(!ok(&edit(&|p| p.set_dst_addr(Ipv4Addr::new(224, 0, 0, 1)))));
        assert!(!ok(&edit(&|p| p.set_dst_addr(Ipv4Addr::BROADCAST))));
        for s in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(239, 1, 1, 1),
            Ipv4Addr::new(240, 0, 0, 1),
        ] {
            assert!(!ok(&edit(&|p| p.set_src_addr(s))), "{s}");
        }
        // ICMP with no payload byte: cannot tell, so no.
        let mut b = PING[..20].to_vec();
        b[3] = 20;
        assert!(!ok(&b));
        // Not ICMP: the first payload byte does not matter.
        assert!(ok(&edit(&|p| {
            p.set_protocol(IpProtocol::Udp);
            p.payload_mut()[0] = 3;
        })));
    }

    fn strategy() -> impl Strategy<Value = (u8, u8, u16, u16, u32, Vec<u8>)> {
        (
            0u8..5,
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
    }

    fn to_repr(v: &(u8, u8, u16, u16, u32, Vec<u8>)) -> Repr<'_> {
        let (which, t, a, b, rest, data) = v;
        match which {
            0 => Repr::EchoRequest {
                ident: *a,
                seq_no: *b,
                data,
            },
            1 => Repr::EchoReply {
                ident: *a,
                seq_no: *b,
                data,
            },
            2 => Repr::FragNeeded {
                next_hop_mtu: *a,
                data,
            },
            3 => Repr::TimeExceeded { data },
            // Only shapes that do not parse as a named variant.
            _ => {
                let msg_type = Message::from(*t);
                let code = (*b & 0xff) as u8;
                let named = matches!(
                    (msg_type, code),
                    (Message::EchoRequest, 0) | (Message::EchoReply, 0)
                ) || (msg_type, code) == (Message::DstUnreachable, 4)
                    && rest >> 16 == 0
                    || (msg_type, code) == (Message::TimeExceeded, 0) && *rest == 0;
                Repr::Other {
                    msg_type,
                    code: if named { 200 } else { code },
                    rest_of_header: *rest,
                    data,
                }
            }
        }
    }

    proptest! {
        #[test]
        fn roundtrip(v in strategy()) {
            let repr = to_repr(&v);
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Repr::parse(&p, true).unwrap(), repr);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Packet::new_unchecked(&bytes[..]);
            let _ = (p.data(), p.verify_checksum());
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.next_hop_mtu(), p.echo_ident());
                let r = Repr::parse(&p, false).unwrap();
                let mut out = vec![0; r.buffer_len()];
                r.emit(&mut Packet::new_unchecked(&mut out[..]));
                prop_assert!(Packet::new_unchecked(&out[..]).verify_checksum());
                out[2..4].copy_from_slice(&bytes[2..4]);
                prop_assert_eq!(out, bytes.clone());
            }
            let mut buf = [0u8; 128];
            if let Ok(n) = build_error(ErrorKind::TimeExceeded, &bytes, &mut buf) {
                prop_assert!(n <= 8 + 60 + 8);
            }
            let _ = build_error_packet(ErrorKind::FragNeeded { next_hop_mtu: 1 }, &bytes, Ipv4Addr::LOCALHOST, 0, &mut buf);
            if let Ok(ip) = ipv4::Packet::new_checked(&bytes[..]) {
                let _ = error_allowed(&ip);
            }
        }
    }
}
