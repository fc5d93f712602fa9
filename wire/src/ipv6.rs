//! The IPv6 fixed header (RFC 8200 §3). Extension headers are payload here.

use core::net::Ipv6Addr;

pub use crate::ipv4::IpProtocol;
use crate::{Error, Result};

/// A view of an IPv6 packet.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    // Version (4 bits), Traffic Class (8), Flow Label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

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

    /// `Truncated` if the buffer is shorter than 40 bytes, `LengthMismatch`
    /// if Payload Length runs past the buffer. A longer buffer (padding) is
    /// fine: `payload()` stops at Payload Length. Jumbograms (RFC 2675,
    /// Payload Length 0) are not supported: their payload reads as empty.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else if HEADER_LEN + usize::from(self.payload_len()) > len {
            Err(Error::LengthMismatch)
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
    fn word0(&self) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// Version (6 for IPv6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic Class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// Flow Label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// Payload Length: everything after the fixed header.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    /// Next Header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Hop Limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }

    /// The payload, bounded by Payload Length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer.as_ref().get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_word0(&mut self, value: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the version.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let w = (self.word0() & 0x0fff_ffff) | (u32::from(value & 0x0f) << 28);
        self.set_word0(w);
    }

    /// Sets Traffic Class.
    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_word0(w);
    }

    /// Sets Flow Label (high bits beyond 20 are dropped).
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let w = (self.word0() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_word0(w);
    }

    /// Sets Payload Length.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Next Header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = u8::from(value);
    }

    /// Sets Hop Limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Forwarding step (RFC 8200 §3): decrements Hop Limit. Returns false,
    /// leaving the packet untouched, when it is 0 or 1 (the packet must be
    /// dropped and an ICMPv6 Time Exceeded sent). There is no checksum.
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> bool {
        let h = self.hop_limit();
        if h <= 1 {
            return false;
        }
        self.set_hop_limit(h - 1);
        true
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// The payload, bounded by Payload Length, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An IPv6 fixed header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next Header.
    pub next_header: IpProtocol,
    /// Payload Length.
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Reads the fixed header; a version other than 6 is `Malformed`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the fixed header (40).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header; the payload is left to the caller.
    ///
    /// Panics if the buffer is shorter than 40 bytes or `payload_len`
    /// exceeds 65,535 (caller bugs).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let len = u16::try_from(self.payload_len).expect("IPv6 payload over 65535 bytes");
        packet.set_word0(
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff),
        );
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    /// An ICMPv6 echo request 2001:db8::1 -> 2001:db8::2, TC 0xb8, flow
    /// 0x12345, hop limit 64, with its 8-byte payload.
    const PACKET: [u8; 48] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::Icmpv6,
            payload_len: 8,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol::Icmpv6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &PACKET[40..]);
        assert_eq!(Repr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn construct() {
        let r = repr();
        assert_eq!(r.buffer_len(), 48);
        assert_eq!(r.header_len(), 40);
        let mut buf = vec![0xa5; 48];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut p);
        p.payload_mut().copy_from_slice(&PACKET[40..]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0xfff12345);
        p.set_payload_len(0);
        p.set_next_header(IpProtocol::Ipv6NoNxt);
        p.set_hop_limit(2);
        assert!(p.decrement_hop_limit());
        assert!(!p.decrement_hop_limit());
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.next_header(), IpProtocol::Ipv6NoNxt);
        assert_eq!(p.payload(), &[] as &[u8]);
    }

    #[test]
    fn padded_buffer() {
        let mut b = PACKET.to_vec();
        b.extend_from_slice(&[0; 4]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &PACKET[40..]);
    }

    #[test]
    fn truncated_and_mismatched() {
        for n in 0..40 {
            assert_eq!(
                Packet::new_checked(&PACKET[..n]).err(),
                Some(Error::Truncated)
            );
        }
        for n in 40..48 {
            assert_eq!(
                Packet::new_checked(&PACKET[..n]).err(),
                Some(Error::LengthMismatch)
            );
        }
        let mut b = PACKET;
        b[0] = 0x4b;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Malformed));
    }

    fn strategy() -> impl Strategy<Value = Repr> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            0usize..1500,
            any::<u8>(),
            any::<u8>(),
            0u32..0x10_0000,
        )
            .prop_map(|(s, d, nh, len, hl, tc, fl)| Repr {
                src_addr: Ipv6Addr::from(s),
                dst_addr: Ipv6Addr::from(d),
                next_header: IpProtocol::from(nh),
                payload_len: len,
                hop_limit: hl,
                traffic_class: tc,
                flow_label: fl,
            })
    }

    proptest! {
        #[test]
        fn roundtrip(repr in strategy()) {
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if bytes.len() >= HEADER_LEN {
                let _ = p.payload();
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.traffic_class(), p.flow_label(), p.next_header(), p.hop_limit());
                if let Ok(r) = Repr::parse(&p) {
                    let mut out = vec![0; r.buffer_len()];
                    let mut q = Packet::new_unchecked(&mut out[..]);
                    r.emit(&mut q);
                    q.payload_mut().copy_from_slice(p.payload());
                    prop_assert_eq!(&out[..], &bytes[..r.buffer_len()]);
                }
            }
        }
    }
}
