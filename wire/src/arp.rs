//! ARP (RFC 826). The view reads any hardware/protocol pair; the `Repr`
//! covers Ethernet + IPv4 only.

use core::net::Ipv4Addr;

use crate::ethernet::{EtherType, EthernetAddress};
use crate::{Error, Result};

enum_with_unknown! {
    /// ARP hardware type (ar$hrd).
    pub enum Hardware(u16) {
        /// 10 Mb Ethernet, and every Ethernet since.
        Ethernet = 1,
    }
}

enum_with_unknown! {
    /// ARP operation (ar$op).
    pub enum Operation(u16) {
        /// Who has this protocol address?
        Request = 1,
        /// This protocol address is at this hardware address.
        Reply = 2,
    }
}

/// A view of an ARP packet.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;

    // Address ranges depend on hlen and plen.
    pub const fn sha(hlen: u8, _plen: u8) -> Range<usize> {
        let start = ADDRESSES;
        start..start + hlen as usize
    }
    pub const fn spa(hlen: u8, plen: u8) -> Range<usize> {
        let start = ADDRESSES + hlen as usize;
        start..start + plen as usize
    }
    pub const fn tha(hlen: u8, plen: u8) -> Range<usize> {
        let start = ADDRESSES + hlen as usize + plen as usize;
        start..start + hlen as usize
    }
    pub const fn tpa(hlen: u8, plen: u8) -> Range<usize> {
        let start = ADDRESSES + 2 * hlen as usize + plen as usize;
        start..start + plen as usize
    }
}

/// Length of the fixed part before the addresses.
pub const HEADER_LEN: usize = field::ADDRESSES;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = HEADER_LEN + 2 * (6 + 4);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks that the fixed part and the four
    /// addresses fit.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Err(Truncated)` if the buffer ends before the last address that
    /// hlen/plen declare. Bytes after it (Ethernet padding) are allowed.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.packet_len() {
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

    /// Length of the packet that hlen/plen declare.
    #[inline]
    pub fn packet_len(&self) -> usize {
        HEADER_LEN + 2 * (usize::from(self.hardware_len()) + usize::from(self.protocol_len()))
    }

    /// Hardware type (ar$hrd).
    #[inline]
    pub fn hardware_type(&self) -> Hardware {
        let d = self.buffer.as_ref();
        Hardware::from(u16::from_be_bytes([
            d[field::HTYPE.start],
            d[field::HTYPE.start + 1],
        ]))
    }

    /// Protocol type (ar$pro), an EtherType.
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        let d = self.buffer.as_ref();
        EtherType::from(u16::from_be_bytes([
            d[field::PTYPE.start],
            d[field::PTYPE.start + 1],
        ]))
    }

    /// Hardware address length (ar$hln).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length (ar$pln).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (ar$op).
    #[inline]
    pub fn operation(&self) -> Operation {
        let d = self.buffer.as_ref();
        Operation::from(u16::from_be_bytes([
            d[field::OPER.start],
            d[field::OPER.start + 1],
        ]))
    }

    #[inline]
    fn addr(&self, r: core::ops::Range<usize>) -> &[u8] {
        self.buffer.as_ref().get(r).unwrap_or(&[])
    }

    /// Sender hardware address (ar$sha).
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.addr(field::sha(self.hardware_len(), self.protocol_len()))
    }

    /// Sender protocol address (ar$spa).
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.addr(field::spa(self.hardware_len(), self.protocol_len()))
    }

    /// Target hardware address (ar$tha).
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.addr(field::tha(self.hardware_len(), self.protocol_len()))
    }

    /// Target protocol address (ar$tpa).
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.addr(field::tpa(self.hardware_len(), self.protocol_len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: Hardware) {
        let v = u16::from(value);
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        let v = u16::from(value);
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: Operation) {
        let v = u16::from(value);
        self.buffer.as_mut()[field::OPER].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the sender hardware address; its length must equal hlen.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        let r = field::sha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value);
    }

    /// Sets the sender protocol address; its length must equal plen.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        let r = field::spa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value);
    }

    /// Sets the target hardware address; its length must equal hlen.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        let r = field::tha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value);
    }

    /// Sets the target protocol address; its length must equal plen.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        let r = field::tpa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Request, Reply, or a code kept as received.
    pub operation: Operation,
    /// Sender hardware address.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

fn v4(b: &[u8]) -> Result<Ipv4Addr> {
    let a: [u8; 4] = b.try_into().map_err(|_| Error::Truncated)?;
    Ok(Ipv4Addr::from(a))
}

impl Repr {
    /// Reads an Ethernet/IPv4 ARP packet; any other hardware type, protocol
    /// type or address length is `Err(Malformed)`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != Hardware::Ethernet
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: EthernetAddress::from_bytes(packet.source_hardware_addr())
                .ok_or(Error::Truncated)?,
            source_protocol_addr: v4(packet.source_protocol_addr())?,
            target_hardware_addr: EthernetAddress::from_bytes(packet.target_hardware_addr())
                .ok_or(Error::Truncated)?,
            target_protocol_addr: v4(packet.target_protocol_addr())?,
        })
    }

    /// 28 bytes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet. Panics if the buffer is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        packet.set_hardware_type(Hardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    /// A request: who has 198.18.0.1? tell 198.18.0.2 (c6:56:30:db:7f:25).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25, 0xc6,
        0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01,
    ];

    fn request_repr() -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: EthernetAddress([0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), Hardware::Ethernet);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(
            p.source_hardware_addr(),
            &[0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25]
        );
        assert_eq!(p.source_protocol_addr(), &[198, 18, 0, 2]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[198, 18, 0, 1]);
        assert_eq!(p.packet_len(), 28);
        assert_eq!(Repr::parse(&p).unwrap(), request_repr());
    }

    #[test]
    fn construct() {
        let r = request_repr();
        assert_eq!(r.buffer_len(), 28);
        let mut buf = vec![0xa5; 28];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn padded_frame_parses() {
        // Ethernet pads ARP to 46 bytes.
        let mut b = [0u8; 46];
        b[..28].copy_from_slice(&REQUEST);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), request_repr());
    }

    #[test]
    fn truncated() {
        for n in 0..28 {
            assert_eq!(
                Packet::new_checked(&REQUEST[..n]).err(),
                Some(Error::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn other_types_view_but_no_repr() {
        // A made-up hardware type 6 (IEEE 802) with IPv6 (16-byte) addresses.
        let mut b = [0u8; 8 + 2 * (6 + 16)];
        b[..8].copy_from_slice(&[0x00, 0x06, 0x86, 0xdd, 6, 16, 0, 2]);
        b[8 + 6] = 0x20; // first byte of spa
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.hardware_type(), Hardware::Unknown(6));
        assert_eq!(p.protocol_type(), EtherType::Ipv6);
        assert_eq!(p.operation(), Operation::Reply);
        assert_eq!(p.source_protocol_addr().len(), 16);
        assert_eq!(p.source_protocol_addr()[0], 0x20);
        assert_eq!(p.target_protocol_addr().len(), 16);
        assert_eq!(Repr::parse(&p), Err(Error::Malformed));
        assert_eq!(
            Packet::new_checked(&b[..b.len() - 1]).err(),
            Some(Error::Truncated)
        );

        let mut b = REQUEST;
        b[5] = 6; // plen 6: the view still reads, the Repr refuses
        let mut long = [0u8; 32];
        long[..28].copy_from_slice(&b);
        let p = Packet::new_checked(&long[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Malformed));
    }

    fn strategy() -> impl Strategy<Value = Repr> {
        (
            any::<u16>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        )
            .prop_map(|(op, sha, spa, tha, tpa)| Repr {
                operation: Operation::from(op),
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
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
                let _ = (p.source_hardware_addr(), p.target_protocol_addr());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.hardware_type(), p.protocol_type(), p.operation());
                let _ = (p.source_hardware_addr(), p.source_protocol_addr());
                let _ = (p.target_hardware_addr(), p.target_protocol_addr());
                if let Ok(r) = Repr::parse(&p) {
                    let mut out = vec![0; r.buffer_len()];
                    r.emit(&mut Packet::new_unchecked(&mut out[..]));
                    prop_assert_eq!(&out[..], &bytes[..28]);
                }
            }
        }
    }
}
