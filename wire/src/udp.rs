//! UDP (RFC 768), with its pseudo-header checksum over IPv4 and IPv6.
//!
//! Over IPv4 a zero checksum field means "no checksum" and is valid
//! (RFC 768); over IPv6 it is invalid (RFC 8200 §8.1). A computed checksum
//! of zero is sent as 0xffff in both.

use core::net::IpAddr;

use crate::checksum;
use crate::{Error, Result};

/// A view of a UDP datagram.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

// IP protocol number of UDP, for the pseudo-header.
const PROTOCOL: u8 = 17;

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

    /// `Truncated` if the buffer is shorter than 8 bytes; `LengthMismatch`
    /// if the Length field is below 8 or beyond the buffer. A longer buffer
    /// is fine: `payload()` stops at Length.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || field_len > len {
            return Err(Error::LengthMismatch);
        }
        Ok(())
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

    /// Length: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    /// Whether the Length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field as carried (0: none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// The payload, bounded by Length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = usize::from(self.len());
        self.buffer.as_ref().get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The datagram as covered by Length.
    #[inline]
    fn datagram(&self) -> &[u8] {
        let end = usize::from(self.len());
        self.buffer.as_ref().get(..end).unwrap_or(&[])
    }

    /// Checks the checksum against the pseudo-header of `src`/`dst`.
    ///
    /// A zero field is valid over IPv4 (no checksum) and invalid over IPv6.
    /// False if Length does not fit the buffer.
    #[inline]
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let (src, dst) = (src.into(), dst.into());
        if self.checksum() == 0 {
            return src.is_ipv4() && dst.is_ipv4();
        }
        let d = self.datagram();
        if d.len() < HEADER_LEN {
            return false;
        }
        let ph = checksum::pseudo_header(src, dst, PROTOCOL, d.len() as u32);
        checksum::combine(&[ph, checksum::data(d)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
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

    /// Sets Length (the checksum is not touched).
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        self.set_u16_at(field::LENGTH.start, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM.start, value);
    }

    /// The payload, bounded by Length, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the pseudo-header, header and
    /// payload (up to Length); a computed 0 is written as 0xffff. Leaves
    /// the field zero if Length does not fit the buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let d = self.datagram();
        if d.len() < HEADER_LEN {
            return;
        }
        let ph = checksum::pseudo_header(src.into(), dst.into(), PROTOCOL, d.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(d)]);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// What to put in the checksum field when emitting.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Checksum {
    /// Zero: no checksum. Valid over IPv4 only.
    None,
    /// Compute it over the pseudo-header and the payload.
    Compute,
    /// Write this exact nonzero value: what `Repr::parse` keeps, so that a
    /// datagram re-emits byte for byte even when its checksum is wrong
    /// (captures taken before checksum offload hold a partial sum).
    Value(u16),
}

/// A UDP header.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length: Length minus 8.
    pub payload_len: usize,
    /// The checksum field.
    pub checksum: Checksum,
}

impl Repr {
    /// Reads the header. The checksum is kept as it is (`None` for zero,
    /// `Value` otherwise) and not verified here: call
    /// `Packet::verify_checksum` with the IP addresses for that.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        let c = packet.checksum();
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
            checksum: if c == 0 {
                Checksum::None
            } else {
                Checksum::Value(c)
            },
        })
    }

    /// Length of the header (8).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload (the Length written).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, lets `emit_payload` fill the payload (pass
    /// `|_| {}` if it is already in place), then writes the checksum as
    /// `self.checksum` says. `src`/`dst` are only used by
    /// `Checksum::Compute`.
    ///
    /// Panics if the buffer is shorter than `buffer_len()` or that exceeds
    /// 65,535 (caller bugs).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        emit_payload: impl FnOnce(&mut [u8]),
    ) {
        let len = u16::try_from(self.buffer_len()).expect("UDP datagram over 65535 bytes");
        assert!(packet.buffer.as_ref().len() >= self.buffer_len());
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        emit_payload(packet.payload_mut());
        match self.checksum {
            Checksum::None => packet.set_checksum(0),
            Checksum::Value(v) => packet.set_checksum(v),
            Checksum::Compute => packet.fill_checksum(src, dst),
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

    const LAC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const LNS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// UDP of frame 3 of l2tpns-lns_chap_session.pcap (a ZLB). Its checksum
    /// 0x8c4d is the pseudo-header sum that the sender left for offload
    /// (CHECKSUM_PARTIAL): the capture was taken before the NIC filled it.
    const ZLB: [u8; 20] = [
        0xce, 0x32, 0x06, 0xa5, 0x00, 0x14, 0x8c, 0x4d, 0xc8, 0x02, 0x00, 0x0c, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    /// The same with the checksum the wire carries (tshark: 0xd6b1).
    fn zlb_fixed() -> [u8; 20] {
        let mut b = ZLB;
        b[6] = 0xd6;
        b[7] = 0xb1;
        b
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ZLB[..]).unwrap();
        assert_eq!(p.src_port(), 52786);
        assert_eq!(p.dst_port(), 1701);
        assert_eq!(p.len(), 20);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x8c4d);
        assert_eq!(p.payload(), &ZLB[8..]);
        assert!(!p.verify_checksum(LAC, LNS));
        assert_eq!(checksum::pseudo_header_v4(LAC, LNS, 17, 20), 0x8c4d);
        assert_eq!(
            Repr::parse(&p).unwrap(),
            Repr {
                src_port: 52786,
                dst_port: 1701,
                payload_len: 12,
                checksum: Checksum::Value(0x8c4d),
            }
        );

        let b = zlb_fixed();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(LAC, LNS));
        assert!(!p.verify_checksum(LNS, Ipv4Addr::new(198, 18, 0, 3)));
    }

    #[test]
    fn construct() {
        let r = Repr {
            src_port: 52786,
            dst_port: 1701,
            payload_len: 12,
            checksum: Checksum::Compute,
        };
        assert_eq!(r.buffer_len(), 20);
        assert_eq!(r.header_len(), 8);
        let mut buf = vec![0xa5; 20];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut p, LAC, LNS, |pl| pl.copy_from_slice(&ZLB[8..]));
        assert_eq!(buf, zlb_fixed());

        // Payload already in place.
        let mut buf = ZLB.to_vec();
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), LAC, LNS, |_| {});
        assert_eq!(buf, zlb_fixed());

        let r = Repr {
            checksum: Checksum::None,
            ..r
        };
        let mut buf = vec![0xa5; 20];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), LAC, LNS, |pl| {
            pl.copy_from_slice(&ZLB[8..])
        });
        let mut expect = ZLB;
        expect[6] = 0;
        expect[7] = 0;
        assert_eq!(buf, expect);
    }

    #[test]
    fn roundtrip_real() {
        // Re-emitting keeps the offload-partial checksum as captured.
        let p = Packet::new_checked(&ZLB[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut buf = vec![0xa5; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), LAC, LNS, |pl| {
            pl.copy_from_slice(p.payload())
        });
        assert_eq!(buf, ZLB);
    }

    #[test]
    fn zero_checksum() {
        let mut b = ZLB;
        b[6] = 0;
        b[7] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(LAC, LNS));
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(!p.verify_checksum(v6, v6));
        assert_eq!(Repr::parse(&p).unwrap().checksum, Checksum::None);
    }

    #[test]
    fn computed_zero_is_ffff() {
        // Find a payload word that makes the sum 0xffff: its checksum is 0.
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x00, 0x0a, 0x00, 0x00]);
        let partial = checksum::combine(&[
            checksum::pseudo_header_v4(LAC, LNS, 17, 10),
            checksum::data(&b),
        ]);
        let w = !partial; // adding it makes the sum 0xffff
        b[8..].copy_from_slice(&w.to_be_bytes());
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(LAC, LNS);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(LAC, LNS));
    }

    #[test]
    fn ipv6_checksum() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b = ZLB;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(s, d);
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(LAC, LNS));
        // Independent sum: pseudo-header bytes then the datagram.
        let mut all = Vec::new();
        all.extend_from_slice(&s.octets());
        all.extend_from_slice(&d.octets());
        all.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 17]);
        all.extend_from_slice(&b);
        assert_eq!(checksum::data(&all), 0xffff);
    }

    #[test]
    fn truncated_and_mismatched() {
        for n in 0..8 {
            assert_eq!(Packet::new_checked(&ZLB[..n]).err(), Some(Error::Truncated));
        }
        for n in 8..20 {
            assert_eq!(
                Packet::new_checked(&ZLB[..n]).err(),
                Some(Error::LengthMismatch)
            );
        }
        for l in 0..8 {
            let mut b = ZLB;
            b[5] = l;
            assert_eq!(
                Packet::new_checked(&b[..]).err(),
                Some(Error::LengthMismatch)
            );
        }
        let mut b = ZLB;
        b[5] = 8;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_empty());
        assert_eq!(p.payload(), &[] as &[u8]);
        // Trailing bytes beyond Length are not payload.
        let mut b = ZLB.to_vec();
        b.push(0xff);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &ZLB[8..]);
    }

    fn strategy() -> impl Strategy<Value = Repr> {
        let cs = prop_oneof![
            Just(Checksum::None),
            (1u16..=0xffff).prop_map(Checksum::Value),
        ];
        (any::<u16>(), any::<u16>(), 0usize..1500, cs).prop_map(|(s, d, len, checksum)| Repr {
            src_port: s,
            dst_port: d,
            payload_len: len,
            checksum,
        })
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

    /// Every frame of l2tpns-lns_chap_session.pcap, in hex, one blank line
    /// between frames (from `tshark -r FILE -x`).
    const CHAP_FRAMES: &str = "\
125f3b8b615cc65630db7f2508004500006afa1840004011b442c6120002c6120001ce3206a50056
8c8fc802004e000000000000000080080000000000018008000000020100800a0000000300000003
800a0000000400000003800e0000000770652d70796c6163800800000009123400080000000a0004

c65630db7f25125f3b8b615c08004500005515bf4000401198b1c6120001c612000206a5ce320041
8c7ac8020039123400000000000180080000000000028008000000020100800a0000000300000003
800b0000000770656c6e738008000000090004

125f3b8b615cc65630db7f25080045000028fa1940004011b483c6120002c6120001ce3206a50014
8c4dc802000c0004000000010001

125f3b8b615cc65630db7f25080045000030fa1a40004011b47ac6120002c6120001ce3206a5001c
8c55c802001400040000000100018008000000000003

c65630db7f25125f3b8b615c08004500002815c04000401198ddc6120001c612000206a5ce320014
8c4dc802000c1234000000010002

125f3b8b615cc65630db7f2508004500004cfa1b40004011b45dc6120002c6120001ce3206a50038
8c71c80200300004000000020001800800000000000a80080000000e0042800a0000000f00000001
800a0000001200000001

c65630db7f25125f3b8b615c08004500003815c14000401198ccc6120001c612000206a5ce320024
8c5dc802001c1234004200010003800800000000000b80080000000e0001

125f3b8b615cc65630db7f25080045000028fa1c40004011b480c6120002c6120001ce3206a50014
8c4dc802000c0004000000030002

125f3b8b615cc65630db7f25080045000044fa1d40004011b463c6120002c6120001ce3206a50030
8c69c80200280004000100030002800800000000000c800a0000001805f5e100800a000000130000
0001

c65630db7f25125f3b8b615c08004500002815c24000401198dbc6120001c612000206a5ce320014
8c4dc802000c1234000000020004

c65630db7f25125f3b8b615c08004500004415c34000401198bec6120001c612000206a5ce320030
8c69000212340042ff03c0210101001e010405b60305c2230505066b0251651104064e130702c612
0001

125f3b8b615cc65630db7f25080045000034fa1e40004011b472c6120002c6120001ce3206a50020
8c59000200040001ff03c0210101000e010405780506ddec333b

c65630db7f25125f3b8b615c08004500003415c44000401198cdc6120001c612000206a5ce320020
8c59000212340042ff03c0210201000e010405780506ddec333b

125f3b8b615cc65630db7f25080045000044fa1f40004011b461c6120002c6120001ce3206a50030
8c69000200040001ff03c0210201001e010405b60305c2230505066b0251651104064e130702c612
0001

c65630db7f25125f3b8b615c08004500004015c54000401198c0c6120001c612000206a5ce32002c
8c65000212340042ff03c2230101001a1019db25783821efa0e2cea758e0bef0d370656c6e73

125f3b8b615cc65630db7f25080045000043fa2040004011b461c6120002c6120001ce3206a5002f
8c68000200040001ff03c2230201001d10835c2b3acbffed188a9ea9b655001b3e706f6f6c757365
72

c65630db7f25125f3b8b615c08004500002a15c64000401198d5c6120001c612000206a5ce320016
8c4f000212340042ff03c22303010004

c65630db7f25125f3b8b615c08004500003015c74000401198cec6120001c612000206a5ce32001c
8c55000212340042ff0380210102000a0306c6120001

125f3b8b615cc65630db7f25080045000036fa2140004011b46dc6120002c6120001ce3206a50022
8c5b000200040001ff03802101010010030600000000810600000000

c65630db7f25125f3b8b615c08004500003615c84000401198c7c6120001c612000206a5ce320022
8c5b000212340042ff038021030100100306c61201018106c6120135

125f3b8b615cc65630db7f25080045000030fa2240004011b472c6120002c6120001ce3206a5001c
8c55000200040001ff0380210202000a0306c6120001

125f3b8b615cc65630db7f25080045000036fa2340004011b46bc6120002c6120001ce3206a50022
8c5b000200040001ff038021010200100306c61201018106c6120135

c65630db7f25125f3b8b615c08004500003615c94000401198c6c6120001c612000206a5ce320022
8c5b000212340042ff038021020200100306c61201018106c6120135

125f3b8b615cc65630db7f25080045000052fa2440004011b44ec6120002c6120001ce3206a5003e
8c77000200040001ff0300214500002c000100004001eda9c6120101c61200010800cbc500770001
70652d70696e672d7061796c6f616421

c65630db7f25125f3b8b615c08004500005215ca4000401198a9c6120001c612000206a5ce32003e
8c77000212340042ff0300214500002cc20c000040012b9ec6120001c61201010000d3c500770001
70652d70696e672d7061796c6f616421

125f3b8b615cc65630db7f25080045000040fa2e40004011b456c6120002c6120001ce3206a5002c
8c65c80200240004000100040002800800000000000e800800000001000380080000000e0042

c65630db7f25125f3b8b615c0800450000281604400040119899c6120001c612000206a5ce320014
8c4dc802000c1234000000020005

125f3b8b615cc65630db7f25080045000040faeb40004011b399c6120002c6120001ce3206a5002c
8c65c80200240004000000050002800800000000000480080000000100018008000000091234

c65630db7f25125f3b8b615c08004500002816a94000401197f4c6120001c612000206a5ce320014
8c4dc802000c1234000000020006
";

    fn unhex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    /// Parses every captured frame layer by layer (Ethernet, IPv4, UDP and,
    /// for the ping inside PPP, IPv4 and ICMP again) and re-emits it: the
    /// bytes must come back exactly, offload-partial UDP checksums included.
    #[test]
    fn captured_frames_reemit_exactly() {
        use crate::{ethernet, icmpv4, ipv4};
        let frames: Vec<Vec<u8>> = CHAP_FRAMES.split("\n\n").map(unhex).collect();
        assert_eq!(frames.len(), 29);
        let mut pings = 0;
        for (i, frame) in frames.iter().enumerate() {
            let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
            let eth_repr = ethernet::Repr::parse(&eth).unwrap();
            assert_eq!(eth_repr.ethertype, ethernet::EtherType::Ipv4);
            let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
            let ip_repr = ipv4::Repr::parse(&ip, true).unwrap();
            assert_eq!(ip_repr.protocol, ipv4::IpProtocol::Udp);
            let udp = Packet::new_checked(ip.payload()).unwrap();
            let udp_repr = Repr::parse(&udp).unwrap();
            assert!(udp_repr.src_port == 1701 || udp_repr.dst_port == 1701);
            // The capture was taken before checksum offload: the field
            // holds the pseudo-header sum, not the checksum.
            let (s, d) = (ip_repr.src_addr, ip_repr.dst_addr);
            assert!(!udp.verify_checksum(s, d), "frame {}", i + 1);
            assert_eq!(
                udp.checksum(),
                checksum::pseudo_header_v4(s, d, 17, u32::from(udp.len()))
            );

            let mut out = vec![0xa5; frame.len()];
            let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
            eth_repr.emit(&mut f);
            let mut q = ipv4::Packet::new_unchecked(f.payload_mut());
            ip_repr.emit(&mut q);
            let mut u = Packet::new_unchecked(q.payload_mut());
            udp_repr.emit(&mut u, s, d, |p| p.copy_from_slice(udp.payload()));
            assert_eq!(&out, frame, "frame {}", i + 1);

            // L2TP data message (flags 0x0002), PPP ff 03 0021: IPv4 inside.
            let l2tp = udp.payload();
            if l2tp[..2] == [0x00, 0x02] && l2tp[6..10] == [0xff, 0x03, 0x00, 0x21] {
                let inner = ipv4::Packet::new_checked(&l2tp[10..]).unwrap();
                let inner_repr = ipv4::Repr::parse(&inner, true).unwrap();
                assert_eq!(inner_repr.protocol, ipv4::IpProtocol::Icmp);
                let icmp = icmpv4::Packet::new_checked(inner.payload()).unwrap();
                let icmp_repr = icmpv4::Repr::parse(&icmp, true).unwrap();
                assert!(matches!(
                    icmp_repr,
                    icmpv4::Repr::EchoRequest {
                        ident: 0x77,
                        seq_no: 1,
                        ..
                    } | icmpv4::Repr::EchoReply {
                        ident: 0x77,
                        seq_no: 1,
                        ..
                    }
                ));
                let mut out = vec![0xa5; inner_repr.buffer_len()];
                let mut q = ipv4::Packet::new_unchecked(&mut out[..]);
                inner_repr.emit(&mut q);
                icmp_repr.emit(&mut icmpv4::Packet::new_unchecked(q.payload_mut()));
                assert_eq!(&out[..], &l2tp[10..]);
                pings += 1;
            }
        }
        assert_eq!(pings, 2);
    }

    proptest! {
        #[test]
        fn roundtrip(repr in strategy(), (s, d) in addrs()) {
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), s, d, |_| {});
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn compute_verifies(
            repr in strategy(),
            (s, d) in addrs(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let repr = Repr { payload_len: payload.len(), checksum: Checksum::Compute, ..repr };
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), s, d, |p| p.copy_from_slice(&payload));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.checksum() != 0);
            prop_assert!(p.verify_checksum(s, d));
            // Parsing keeps the computed value, which re-emits the same bytes.
            let r = Repr::parse(&p).unwrap();
            let mut out = vec![0; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut out[..]), s, d, |p| p.copy_from_slice(&payload));
            prop_assert_eq!(out, buf);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if bytes.len() >= HEADER_LEN {
                let _ = (p.payload(), p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let r = Repr::parse(&p).unwrap();
                let mut out = vec![0; r.buffer_len()];
                r.emit(&mut Packet::new_unchecked(&mut out[..]), Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, |o| o.copy_from_slice(p.payload()));
                prop_assert_eq!(&out[..], &bytes[..r.buffer_len()]);
            }
        }
    }
}
