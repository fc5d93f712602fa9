//! Ethernet II frames (IEEE 802.3 with an EtherType), with at most one
//! IEEE 802.1Q VLAN tag.
//!
//! Only TPID 0x8100 is read as a tag. A second 0x8100 after the tag, or an
//! 802.1ad (QinQ, 0x88A8) outer tag, is reported as the EtherType of a
//! payload that starts right after the tag or the addresses.

use core::fmt;

use crate::{Error, Result};

enum_with_unknown! {
    /// EtherType: what the payload of a frame is.
    pub enum EtherType(u16) {
        /// IPv4 (RFC 894).
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// IEEE 802.1Q VLAN tag (its TPID).
        Vlan = 0x8100,
        /// IPv6 (RFC 2464).
        Ipv6 = 0x86dd,
        /// IEEE 802.1ad service VLAN tag (QinQ); not parsed as a tag here.
        QinQ = 0x88a8,
    }
}

/// A 48-bit Ethernet (MAC) address.
#[derive(Debug, Hash, PartialEq, Eq, PartialOrd, Ord, Clone, Copy, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from the first six bytes of `data`; `None` if
    /// shorter.
    #[inline]
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        let b: [u8; 6] = data.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(b))
    }

    /// The address as bytes.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is ff:ff:ff:ff:ff:ff.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit (I/G, bit 0 of the first byte) is set; true of
    /// broadcast too.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is a unicast address.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the U/L bit marks a locally administered address.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The tag control information of an 802.1Q tag.
#[derive(Debug, Hash, PartialEq, Eq, Clone, Copy, Default)]
pub struct VlanTag {
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

impl VlanTag {
    /// Decodes the 16-bit TCI.
    #[inline]
    pub const fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// Encodes the 16-bit TCI; out-of-range `pcp`/`vid` bits are dropped.
    #[inline]
    pub const fn tci(&self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// A view of an Ethernet II frame.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
    pub const TAGGED_PAYLOAD: usize = 18;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of an Ethernet II header with one 802.1Q tag.
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_PAYLOAD;

const TPID_8021Q: u16 = 0x8100;

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that the header (with its tag) fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header, including
    /// the 802.1Q tag when the TPID announces one.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
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

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        let mut a = [0; 6];
        a.copy_from_slice(&d[field::DESTINATION]);
        EthernetAddress(a)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let d = self.buffer.as_ref();
        let mut a = [0; 6];
        a.copy_from_slice(&d[field::SOURCE]);
        EthernetAddress(a)
    }

    /// The EtherType right after the addresses: `Vlan` for a tagged frame.
    #[inline]
    pub fn outer_ethertype(&self) -> EtherType {
        let d = self.buffer.as_ref();
        EtherType::from(u16::from_be_bytes([d[12], d[13]]))
    }

    /// Whether the frame carries an 802.1Q tag.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        let d = self.buffer.as_ref();
        d.get(field::ETHERTYPE) == Some(&TPID_8021Q.to_be_bytes()[..])
    }

    /// The 802.1Q tag, if present.
    #[inline]
    pub fn vlan(&self) -> Option<VlanTag> {
        if !self.is_tagged() {
            return None;
        }
        let t = self.buffer.as_ref().get(field::TCI)?;
        Some(VlanTag::from_tci(u16::from_be_bytes([t[0], t[1]])))
    }

    /// The EtherType of the payload: after the tag when there is one.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let d = self.buffer.as_ref();
        let r = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        match d.get(r) {
            Some(t) => EtherType::from(u16::from_be_bytes([t[0], t[1]])),
            None => EtherType::from(0),
        }
    }

    /// Header length: 14, or 18 with an 802.1Q tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload after the header (and tag).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(hl..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0);
    }

    /// Sets the EtherType after the addresses (the TPID of a tagged frame).
    #[inline]
    pub fn set_outer_ethertype(&mut self, value: EtherType) {
        let v = u16::from(value);
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes the tag (TPID 0x8100 and TCI), or nothing for `None`. The
    /// payload EtherType must be set after this, with `set_ethertype`.
    #[inline]
    pub fn set_vlan(&mut self, value: Option<VlanTag>) {
        if let Some(tag) = value {
            let d = self.buffer.as_mut();
            d[field::ETHERTYPE].copy_from_slice(&TPID_8021Q.to_be_bytes());
            d[field::TCI].copy_from_slice(&tag.tci().to_be_bytes());
        }
    }

    /// Sets the payload EtherType: after the tag when the frame is tagged.
    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        let r = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        let v = u16::from(value);
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(hl..).unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header of an Ethernet II frame.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTag>,
    /// The payload's EtherType (after the tag).
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a frame.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length: 14, or 18 with a tag. The payload follows.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        if self.vlan.is_some() {
            TAGGED_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header. Panics if the buffer is shorter than
    /// `buffer_len()`; the payload is left to the caller.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut Frame<&mut T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        match self.vlan {
            Some(tag) => {
                frame.set_vlan(Some(tag));
                frame.set_ethertype(self.ethertype);
            }
            None => frame.set_outer_ethertype(self.ethertype),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Frame 3 of l2tpns-lns_chap_session.pcap: a ZLB from the LAC.
    const FRAME: [u8; 54] = [
        0x12, 0x5f, 0x3b, 0x8b, 0x61, 0x5c, 0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x28, 0xfa, 0x19, 0x40, 0x00, 0x40, 0x11, 0xb4, 0x83, 0xc6, 0x12, 0x00, 0x02,
        0xc6, 0x12, 0x00, 0x01, 0xce, 0x32, 0x06, 0xa5, 0x00, 0x14, 0x8c, 0x4d, 0xc8, 0x02, 0x00,
        0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    const DST: EthernetAddress = EthernetAddress([0x12, 0x5f, 0x3b, 0x8b, 0x61, 0x5c]);
    const SRC: EthernetAddress = EthernetAddress([0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25]);

    /// A tagged ARP frame: VID 100, PCP 5, DEI set.
    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0xb0,
        0x64, 0x08, 0x06, 0xde, 0xad,
    ];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), DST);
        assert_eq!(f.src_addr(), SRC);
        assert_eq!(f.outer_ethertype(), EtherType::Ipv4);
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert!(!f.is_tagged());
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &FRAME[14..]);
        assert_eq!(f.as_ref(), &FRAME[..]);
        assert!(f.src_addr().is_local());
        assert!(!f.src_addr().is_multicast());
        assert!(f.dst_addr().is_unicast());
        assert_eq!(std::format!("{}", f.src_addr()), "c6:56:30:db:7f:25");
    }

    #[test]
    fn deconstruct_tagged() {
        let f = Frame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert!(f.dst_addr().is_multicast());
        assert_eq!(f.outer_ethertype(), EtherType::Vlan);
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(
            f.vlan(),
            Some(VlanTag {
                pcp: 5,
                dei: true,
                vid: 100
            })
        );
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0xde, 0xad]);
    }

    #[test]
    fn qinq_is_an_ethertype() {
        let mut b = TAGGED;
        b[12] = 0x88;
        b[13] = 0xa8;
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::QinQ);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        let r = Repr::parse(&f).unwrap();
        let mut out = vec![0xa5; b.len()];
        r.emit(&mut Frame::new_unchecked(&mut out[..]));
        out[14..].copy_from_slice(f.payload());
        assert_eq!(out, b);
    }

    #[test]
    fn construct() {
        let repr = Repr {
            src_addr: SRC,
            dst_addr: DST,
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        assert_eq!(repr.buffer_len(), 14);
        let mut buf = vec![0xa5; FRAME.len()];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&FRAME[14..]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn construct_tagged() {
        let repr = Repr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress::BROADCAST,
            vlan: Some(VlanTag {
                pcp: 5,
                dei: true,
                vid: 100,
            }),
            ethertype: EtherType::Arp,
        };
        assert_eq!(repr.buffer_len(), 18);
        let mut buf = vec![0xa5; TAGGED.len()];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0xde, 0xad]);
        assert_eq!(buf, TAGGED);
    }

    #[test]
    fn roundtrip_real() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        let r = Repr::parse(&f).unwrap();
        assert_eq!(
            r,
            Repr {
                src_addr: SRC,
                dst_addr: DST,
                vlan: None,
                ethertype: EtherType::Ipv4
            }
        );
        let mut out = vec![0xa5; FRAME.len()];
        r.emit(&mut Frame::new_unchecked(&mut out[..]));
        out[r.buffer_len()..].copy_from_slice(f.payload());
        assert_eq!(out, FRAME);
    }

    #[test]
    fn truncated() {
        for n in 0..14 {
            assert_eq!(
                Frame::new_checked(&FRAME[..n]).err(),
                Some(Error::Truncated)
            );
        }
        assert!(Frame::new_checked(&FRAME[..14]).is_ok());
        for n in 14..18 {
            assert_eq!(
                Frame::new_checked(&TAGGED[..n]).err(),
                Some(Error::Truncated)
            );
        }
        assert!(Frame::new_checked(&TAGGED[..18]).is_ok());
        // Unchecked accessors beyond the header never panic on short tags.
        let f = Frame::new_unchecked(&TAGGED[..15]);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.payload(), &[] as &[u8]);
    }

    #[test]
    fn address_helpers() {
        assert_eq!(
            EthernetAddress::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(EthernetAddress([1, 2, 3, 4, 5, 6]))
        );
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
        assert!(EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(!EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]).is_broadcast());
        assert_eq!(VlanTag::from_tci(0xb064).tci(), 0xb064);
    }

    fn addr() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    fn strategy() -> impl Strategy<Value = Repr> {
        let tag = (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| VlanTag {
            pcp,
            dei,
            vid,
        });
        // An untagged frame cannot say 0x8100: that would be a tag.
        (addr(), addr(), proptest::option::of(tag), any::<u16>())
            .prop_filter("0x8100 untagged is a tag", |(_, _, v, e)| {
                v.is_some() || *e != 0x8100
            })
            .prop_map(|(src_addr, dst_addr, vlan, e)| Repr {
                src_addr,
                dst_addr,
                vlan,
                ethertype: EtherType::from(e),
            })
    }

    proptest! {
        #[test]
        fn roundtrip(repr in strategy(), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut buf = vec![0xa5; repr.buffer_len() + payload.len()];
            let mut f = Frame::new_unchecked(&mut buf[..]);
            repr.emit(&mut f);
            f.payload_mut().copy_from_slice(&payload);
            let f = Frame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&f).unwrap(), repr);
            prop_assert_eq!(f.payload(), &payload[..]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let f = Frame::new_unchecked(&bytes[..]);
            let _ = (f.vlan(), f.ethertype(), f.payload(), f.header_len());
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.outer_ethertype());
                let r = Repr::parse(&f).unwrap();
                let mut out: Vec<u8> = vec![0; bytes.len()];
                r.emit(&mut Frame::new_unchecked(&mut out[..]));
                out[r.buffer_len()..].copy_from_slice(f.payload());
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
