//! IPv4 headers (RFC 791), with options, and the per-hop edits a router
//! makes (RFC 1812 §5.3.1) with incremental checksum updates (RFC 1624).

use core::net::Ipv4Addr;

use crate::checksum;
use crate::{Error, Result};

enum_with_unknown! {
    /// IP protocol numbers (IPv4 Protocol, IPv6 Next Header).
    pub enum IpProtocol(u8) {
        /// IPv6 Hop-by-Hop Options (RFC 8200).
        HopByHop = 0,
        /// ICMP (RFC 792).
        Icmp = 1,
        /// IGMP (RFC 3376).
        Igmp = 2,
        /// TCP (RFC 9293).
        Tcp = 6,
        /// UDP (RFC 768).
        Udp = 17,
        /// IPv6 encapsulated in IP (RFC 4213, "6in4").
        Ipv6 = 41,
        /// IPv6 Routing header.
        Ipv6Route = 43,
        /// IPv6 Fragment header.
        Ipv6Frag = 44,
        /// GRE (RFC 2784).
        Gre = 47,
        /// ESP (RFC 4303).
        Esp = 50,
        /// AH (RFC 4302).
        Ah = 51,
        /// ICMPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 No Next Header.
        Ipv6NoNxt = 59,
        /// IPv6 Destination Options.
        Ipv6Opts = 60,
        /// L2TPv3 over IP (RFC 3931).
        L2tp = 115,
    }
}

/// A view of an IPv4 datagram.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header: IHL 15.
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

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

    /// Checks the lengths: `Truncated` if the buffer is shorter than 20
    /// bytes or than IHL says, `Malformed` if IHL < 5, `LengthMismatch` if
    /// Total Length is below the header length or beyond the buffer.
    ///
    /// The buffer may be longer than Total Length (Ethernet padding);
    /// `payload()` stops at Total Length. The version is not checked here
    /// (`Repr::parse` does).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < hl {
            return Err(Error::Truncated);
        }
        let tl = usize::from(self.total_len());
        if tl < hl || tl > len {
            return Err(Error::LengthMismatch);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole second byte: DSCP (6 bits) and ECN (2 bits).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Differentiated Services Code Point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// Explicit Congestion Notification (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total Length: header plus payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::IDENT.start], d[field::IDENT.start + 1]])
    }

    #[inline]
    fn flg_off(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::FLG_OFF.start], d[field::FLG_OFF.start + 1]])
    }

    /// The reserved flag bit (RFC 791: must be zero).
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flg_off() & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a nonzero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to Live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[12], d[13], d[14], d[15])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[16], d[17], d[18], d[19])
    }

    /// The options (between byte 20 and the header length), padding
    /// included.
    #[inline]
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(HEADER_LEN..hl).unwrap_or(&[])
    }

    /// The whole header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(..hl).unwrap_or(&[])
    }

    /// The payload, bounded by Total Length (not by the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        self.buffer.as_ref().get(hl..tl).unwrap_or(&[])
    }

    /// Whether the header checksum is right. False if the header does not
    /// fit the buffer.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let h = self.header();
        h.len() >= HEADER_LEN && checksum::data(h) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version (the high nibble of byte 0).
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_IHL] = (d[field::VER_IHL] & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes (rounded down to 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        let d = self.buffer.as_mut();
        let ihl = ((value / 4) as u8) & 0x0f;
        d[field::VER_IHL] = (d[field::VER_IHL] & 0xf0) | ihl;
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets Total Length (the checksum is not touched).
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    fn set_flg_off(&mut self, value: u16) {
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&value.to_be_bytes());
    }

    /// Clears the three flag bits and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        self.set_flg_off(0);
    }

    /// Sets the reserved flag bit.
    #[inline]
    pub fn set_reserved_flag(&mut self, value: bool) {
        let v = (self.flg_off() & !FLAG_RESERVED) | if value { FLAG_RESERVED } else { 0 };
        self.set_flg_off(v);
    }

    /// Sets Don't Fragment.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let v = (self.flg_off() & !FLAG_DF) | if value { FLAG_DF } else { 0 };
        self.set_flg_off(v);
    }

    /// Sets More Fragments.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = (self.flg_off() & !FLAG_MF) | if value { FLAG_MF } else { 0 };
        self.set_flg_off(v);
    }

    /// Sets the fragment offset in bytes (a multiple of 8; low bits dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let v = (self.flg_off() & !OFFSET_MASK) | (value >> 3);
        self.set_flg_off(v);
    }

    /// Sets Time to Live (the checksum is not touched).
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets Protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = u8::from(value);
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the source address (the checksum is not touched).
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address (the checksum is not touched).
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
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

    /// The payload, bounded by Total Length, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        self.buffer.as_mut().get_mut(hl..tl).unwrap_or(&mut [])
    }

    /// Computes and writes the header checksum. Does nothing if the header
    /// does not fit the buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let h = self.header();
        if h.len() < HEADER_LEN {
            return;
        }
        let c = !checksum::data(h);
        self.set_checksum(c);
    }

    /// Forwarding step of RFC 1812 §5.3.1: decrements TTL and fixes the
    /// checksum incrementally (RFC 1624).
    ///
    /// Returns false, leaving the packet untouched, when TTL is 0 or 1: the
    /// datagram must not be forwarded, and the Time Exceeded message
    /// (RFC 1812 §4.3.2.3) quotes it unchanged.
    #[inline]
    pub fn decrement_ttl(&mut self) -> bool {
        let d = self.buffer.as_mut();
        let ttl = d[field::TTL];
        if ttl <= 1 {
            return false;
        }
        // TTL is the high byte of the word it shares with Protocol.
        let proto = d[field::PROTOCOL];
        let old = u16::from_be_bytes([ttl, proto]);
        let new = u16::from_be_bytes([ttl - 1, proto]);
        d[field::TTL] = ttl - 1;
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
        true
    }

    /// Sets Total Length and fixes the checksum incrementally (RFC 1624).
    #[inline]
    pub fn set_total_len_incremental(&mut self, value: u16) {
        let old = self.total_len();
        self.set_total_len(value);
        let c = checksum::update_u16(self.checksum(), old, value);
        self.set_checksum(c);
    }

    /// Sets the source address and fixes the checksum incrementally.
    #[inline]
    pub fn set_src_addr_incremental(&mut self, value: Ipv4Addr) {
        let old = u32::from(self.src_addr());
        self.set_src_addr(value);
        let c = checksum::update_u32(self.checksum(), old, u32::from(value));
        self.set_checksum(c);
    }

    /// Sets the destination address and fixes the checksum incrementally.
    #[inline]
    pub fn set_dst_addr_incremental(&mut self, value: Ipv4Addr) {
        let old = u32::from(self.dst_addr());
        self.set_dst_addr(value);
        let c = checksum::update_u32(self.checksum(), old, u32::from(value));
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An IPv4 header, with everything needed to write it again byte for byte
/// (the checksum excepted: `emit` computes it).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr<'a> {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length: Total Length minus the header length.
    pub payload_len: usize,
    /// Time to Live.
    pub hop_limit: u8,
    /// DSCP and ECN, the whole second byte.
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Options with their padding: a multiple of 4 bytes, at most 40.
    pub options: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a header. With `verify_checksum`, a wrong header checksum is
    /// `Err(Checksum)`; without, the checksum is not looked at (as for a
    /// NIC that already verified it).
    ///
    /// A version other than 4, or the reserved flag set, is `Malformed`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        verify_checksum: bool,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        if packet.version() != 4 || packet.reserved_flag() {
            return Err(Error::Malformed);
        }
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let data: &'a [u8] = packet.buffer.as_ref();
        let hl = packet.header_len();
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - hl,
            hop_limit: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            options: data.get(HEADER_LEN..hl).unwrap_or(&[]),
        })
    }

    /// Header length: 20 plus the options.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Header plus payload (the Total Length written).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header and its checksum; the payload is left to the
    /// caller (`packet.payload_mut()` afterwards).
    ///
    /// Panics if the buffer is shorter than `header_len()`, if the options
    /// are longer than 40 bytes or not a multiple of 4, or if `buffer_len()`
    /// exceeds 65,535: all caller bugs.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        assert!(
            self.options.len() <= MAX_HEADER_LEN - HEADER_LEN
                && self.options.len().is_multiple_of(4)
        );
        let total = u16::try_from(self.buffer_len()).expect("IPv4 datagram over 65535 bytes");
        let d: &mut [u8] = packet.buffer.as_mut();
        d[field::VER_IHL] = 0x40 | (self.header_len() / 4) as u8;
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total);
        packet.set_ident(self.ident);
        let mut fo = (self.frag_offset >> 3) & OFFSET_MASK;
        if self.dont_frag {
            fo |= FLAG_DF;
        }
        if self.more_frags {
            fo |= FLAG_MF;
        }
        packet.set_flg_off(fo);
        packet.set_ttl(self.hop_limit);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.buffer.as_mut()[HEADER_LEN..self.header_len()].copy_from_slice(self.options);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// IPv4 + UDP of frame 3 of l2tpns-lns_chap_session.pcap (a ZLB),
    /// Ethernet header stripped.
    const ZLB: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0xfa, 0x19, 0x40, 0x00, 0x40, 0x11, 0xb4, 0x83, 0xc6, 0x12, 0x00,
        0x02, 0xc6, 0x12, 0x00, 0x01, 0xce, 0x32, 0x06, 0xa5, 0x00, 0x14, 0x8c, 0x4d, 0xc8, 0x02,
        0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    /// The ICMP echo request inside PPP in frame 24: no DF, ident 1.
    const PING: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0xed, 0xa9, 0xc6, 0x12, 0x01,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00, 0xcb, 0xc5, 0x00, 0x77, 0x00, 0x01, 0x70, 0x65,
        0x2d, 0x70, 0x69, 0x6e, 0x67, 0x2d, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x21,
    ];

    /// A made-up header with a Router Alert option (RFC 2113), MF, offset
    /// 24, DSCP EF, TTL 1, protocol IGMP, and 4 payload bytes (checksum
    /// computed independently).
    const WITH_OPTIONS: [u8; 28] = [
        0x46, 0xb8, 0x00, 0x1c, 0x12, 0x34, 0x20, 0x03, 0x01, 0x02, 0x07, 0xd6, 0x0a, 0x00, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    fn zlb_repr() -> Repr<'static> {
        Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 2),
            dst_addr: Ipv4Addr::new(198, 18, 0, 1),
            protocol: IpProtocol::Udp,
            payload_len: 20,
            hop_limit: 64,
            dscp_ecn: 0,
            ident: 0xfa19,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: &[],
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ZLB[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0xfa19);
        assert!(!p.reserved_flag());
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.checksum(), 0xb483);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.header(), &ZLB[..20]);
        assert_eq!(p.payload(), &ZLB[20..]);
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p, true).unwrap(), zlb_repr());
    }

    #[test]
    fn deconstruct_options() {
        let p = Packet::new_checked(&WITH_OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 24);
        assert!(p.is_fragment());
        assert_eq!(p.ttl(), 1);
        assert_eq!(p.protocol(), IpProtocol::Igmp);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.verify_checksum());
        let r = Repr::parse(&p, true).unwrap();
        assert_eq!(r.options, &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(r.payload_len, 4);
        assert_eq!(r.frag_offset, 24);
        assert_eq!(r.header_len(), 24);
        assert_eq!(r.buffer_len(), 28);
    }

    #[test]
    fn construct() {
        let r = zlb_repr();
        assert_eq!(r.buffer_len(), 40);
        let mut buf = vec![0xa5; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut p);
        p.payload_mut().copy_from_slice(&ZLB[20..]);
        assert_eq!(buf, ZLB);
    }

    #[test]
    fn roundtrip_real() {
        for bytes in [&ZLB[..], &PING[..], &WITH_OPTIONS[..]] {
            let p = Packet::new_checked(bytes).unwrap();
            let r = Repr::parse(&p, true).unwrap();
            let mut buf = vec![0xa5; r.buffer_len()];
            let mut q = Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut q);
            q.payload_mut().copy_from_slice(p.payload());
            assert_eq!(&buf[..], bytes);
        }
        let p = Packet::new_checked(&PING[..]).unwrap();
        let r = Repr::parse(&p, true).unwrap();
        assert_eq!(r.protocol, IpProtocol::Icmp);
        assert_eq!(r.ident, 1);
        assert!(!r.dont_frag);
        assert_eq!(r.src_addr, Ipv4Addr::new(198, 18, 1, 1));
    }

    #[test]
    fn padded_buffer() {
        // Ethernet padding after Total Length is not payload.
        let mut b = PING.to_vec();
        b.extend_from_slice(&[0; 6]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &PING[20..]);
        assert_eq!(Repr::parse(&p, true).unwrap().payload_len, 24);
    }

    #[test]
    fn truncated_and_mismatched() {
        for n in 0..20 {
            assert_eq!(Packet::new_checked(&ZLB[..n]).err(), Some(Error::Truncated));
        }
        // Options beyond the buffer.
        for n in 20..24 {
            assert_eq!(
                Packet::new_checked(&WITH_OPTIONS[..n]).err(),
                Some(Error::Truncated)
            );
        }
        // Total Length beyond the buffer.
        for n in 24..28 {
            assert_eq!(
                Packet::new_checked(&WITH_OPTIONS[..n]).err(),
                Some(Error::LengthMismatch)
            );
        }
        // Total Length below the header.
        let mut b = WITH_OPTIONS;
        b[3] = 23;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(Error::LengthMismatch)
        );
        b[3] = 24;
        assert!(Packet::new_checked(&b[..]).is_ok());
        // IHL < 5.
        for ihl in 0..5 {
            let mut b = ZLB;
            b[0] = 0x40 | ihl;
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        }
    }

    #[test]
    fn parse_rejects() {
        let mut b = ZLB;
        b[11] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Repr::parse(&p, true), Err(Error::Checksum));
        assert!(Repr::parse(&p, false).is_ok());

        let mut b = ZLB;
        b[0] = 0x65;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, false), Err(Error::Malformed));

        let mut b = ZLB;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_reserved_flag(true);
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.reserved_flag());
        assert_eq!(Repr::parse(&p, true), Err(Error::Malformed));
    }

    #[test]
    fn decrement_ttl() {
        let mut b = ZLB;
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert!(p.decrement_ttl());
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), inc);

        for ttl in [0, 1] {
            let mut b = ZLB;
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.set_ttl(ttl);
            p.fill_checksum();
            let before = b;
            let mut p = Packet::new_unchecked(&mut b[..]);
            assert!(!p.decrement_ttl());
            assert_eq!(b, before);
        }
    }

    #[test]
    fn incremental_setters() {
        let mut b = ZLB;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_total_len_incremental(36);
        assert!(p.verify_checksum());
        p.set_src_addr_incremental(Ipv4Addr::new(198, 19, 2, 3));
        assert!(p.verify_checksum());
        p.set_dst_addr_incremental(Ipv4Addr::new(255, 255, 255, 254));
        assert!(p.verify_checksum());
        assert_eq!(p.total_len(), 36);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 19, 2, 3));
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 24];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_dscp_ecn(0xb8);
        p.set_total_len(24);
        p.set_ident(7);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(8 * 100);
        p.set_dont_frag(false);
        p.set_ttl(9);
        p.set_protocol(IpProtocol::Tcp);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst_addr(Ipv4Addr::new(5, 6, 7, 8));
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 800);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[] as &[u8]);
        let mut b2 = b;
        let mut q = Packet::new_unchecked(&mut b2[..]);
        q.clear_flags();
        assert!(!q.more_frags() && q.frag_offset() == 0);
    }

    fn strategy() -> impl Strategy<Value = (Repr<'static>, Vec<u8>)> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0usize..1500,
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            0u16..0x2000,
            (0usize..=10).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), 4 * n)),
        )
            .prop_map(|(s, d, proto, len, ttl, tos, ident, df, mf, off, opts)| {
                let opts: &'static [u8] = std::boxed::Box::leak(opts.into_boxed_slice());
                (
                    Repr {
                        src_addr: Ipv4Addr::from(s),
                        dst_addr: Ipv4Addr::from(d),
                        protocol: IpProtocol::from(proto),
                        payload_len: len,
                        hop_limit: ttl,
                        dscp_ecn: tos,
                        ident,
                        dont_frag: df,
                        more_frags: mf,
                        frag_offset: off << 3,
                        options: opts,
                    },
                    opts.to_vec(),
                )
            })
    }

    proptest! {
        #[test]
        fn roundtrip((repr, _opts) in strategy()) {
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Repr::parse(&p, true).unwrap(), repr);
        }

        #[test]
        fn decrement_ttl_matches_recompute((repr, _opts) in strategy()) {
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let mut p = Packet::new_unchecked(&mut buf[..]);
            let ttl = p.ttl();
            prop_assert_eq!(p.decrement_ttl(), ttl > 1);
            let inc = p.checksum();
            p.fill_checksum();
            prop_assert_eq!(inc, p.checksum());
            p.set_total_len_incremental(repr.header_len() as u16);
            let inc = p.checksum();
            p.fill_checksum();
            prop_assert_eq!(inc, p.checksum());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if bytes.len() >= HEADER_LEN {
                let _ = (p.options(), p.payload(), p.header(), p.verify_checksum());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.version(), p.dscp(), p.ecn(), p.ident(), p.frag_offset());
                let _ = (p.ttl(), p.protocol(), p.src_addr(), p.dst_addr());
                // Random bytes rarely hold a right checksum: parse without
                // verifying, and compare all but the checksum.
                if let Ok(r) = Repr::parse(&p, false) {
                    let mut out = vec![0; r.buffer_len()];
                    let mut q = Packet::new_unchecked(&mut out[..]);
                    r.emit(&mut q);
                    prop_assert!(q.verify_checksum());
                    q.payload_mut().copy_from_slice(p.payload());
                    q.set_checksum(p.checksum());
                    prop_assert_eq!(&out[..], &bytes[..r.buffer_len()]);
                }
            }
        }
    }
}
