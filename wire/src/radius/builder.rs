//! Writing a RADIUS packet attribute by attribute into a caller buffer.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::attr::{
    AttrRepr, AttrType, Ipv6Prefix, ATTR_HEADER_LEN, MAX_TAG, MAX_VALUE_LEN, VENDOR_ID_LEN,
};
use super::crypto::{
    hidden_user_password_len, hide_tunnel_password, hide_user_password, tunnel_password_len,
    ChapPassword, MAX_TUNNEL_PASSWORD_LEN, MAX_USER_PASSWORD_LEN,
};
use super::{Code, Packet, AUTHENTICATOR_LEN, HEADER_LEN, MAX_PACKET_LEN};
use crate::{Error, Result};

/// Builds a packet in place: header first, then attributes, then
/// [`PacketBuilder::finish`] sets Length.
///
/// Every `push` either appends a whole attribute or fails and leaves the
/// packet as it was: a value over 253 octets (or a bad tag, ...) ->
/// `Malformed`; no room left in the buffer or the 4096-octet limit ->
/// `BufferTooSmall`.
///
/// Typical order: push attributes (with a Message-Authenticator
/// placeholder), `finish`, then on the returned [`Packet`]
/// `fill_message_authenticator` and last `fill_request_authenticator` /
/// `fill_response_authenticator` where the code computes one.
#[derive(Debug)]
pub struct PacketBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PacketBuilder<'a> {
    /// Writes the header into `buf` (Length is set by `finish`). For
    /// computed authenticators pass zeros; for replies passing the
    /// request's Authenticator is harmless. `buf` under 20 octets ->
    /// `BufferTooSmall`.
    pub fn new(
        buf: &'a mut [u8],
        code: Code,
        identifier: u8,
        authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Result<Self> {
        if buf.len() < HEADER_LEN {
            return Err(Error::BufferTooSmall);
        }
        let mut p = Packet::new_unchecked(&mut *buf);
        p.set_code(code);
        p.set_identifier(identifier);
        p.set_length(HEADER_LEN as u16);
        p.set_authenticator(authenticator);
        Ok(PacketBuilder {
            buf,
            len: HEADER_LEN,
        })
    }

    /// Octets written so far (header included).
    pub fn written_len(&self) -> usize {
        self.len
    }

    /// Octets still available for attributes (headers included).
    pub fn remaining(&self) -> usize {
        self.buf.len().min(MAX_PACKET_LEN) - self.len
    }

    /// Reserves an attribute of `value_len` octets, lets `fill` write the
    /// value, and commits only if it succeeds.
    fn push_with(
        &mut self,
        attr_type: AttrType,
        value_len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        if value_len > MAX_VALUE_LEN {
            return Err(Error::Malformed);
        }
        let total = ATTR_HEADER_LEN + value_len;
        if total > self.remaining() {
            return Err(Error::BufferTooSmall);
        }
        let out = &mut self.buf[self.len..self.len + total];
        out[0] = u8::from(attr_type);
        out[1] = total as u8;
        fill(&mut out[ATTR_HEADER_LEN..])?;
        self.len += total;
        Ok(())
    }

    /// Appends an attribute with a raw value.
    pub fn push(&mut self, attr_type: AttrType, value: &[u8]) -> Result<()> {
        self.push_with(attr_type, value.len(), |out| {
            out.copy_from_slice(value);
            Ok(())
        })
    }

    /// Appends a parsed or hand-made attribute.
    pub fn push_attr(&mut self, attr: &AttrRepr<'_>) -> Result<()> {
        self.push(attr.attr_type, attr.value)
    }

    /// Appends every attribute of a list (e.g. another packet's, to copy
    /// Proxy-State); stops at the first error.
    pub fn push_all<'b>(
        &mut self,
        attrs: impl IntoIterator<Item = Result<AttrRepr<'b>>>,
    ) -> Result<()> {
        attrs.into_iter().try_for_each(|a| self.push_attr(&a?))
    }

    /// Appends a 32-bit `integer`/`time` attribute (the named value enums
    /// convert with `.into()`).
    pub fn push_u32(&mut self, attr_type: AttrType, value: u32) -> Result<()> {
        self.push(attr_type, &value.to_be_bytes())
    }

    /// Appends an IPv4 `address` attribute.
    pub fn push_ipv4(&mut self, attr_type: AttrType, addr: Ipv4Addr) -> Result<()> {
        self.push(attr_type, &addr.octets())
    }

    /// Appends a 16-octet IPv6 address attribute.
    pub fn push_ipv6(&mut self, attr_type: AttrType, addr: Ipv6Addr) -> Result<()> {
        self.push(attr_type, &addr.octets())
    }

    /// Appends an RFC 3162 §2.3 prefix: Reserved 0, Prefix-Length, and
    /// ceil(len / 8) octets with the bits past the length cleared.
    /// Prefix-Length over 128 -> `Malformed`.
    pub fn push_ipv6_prefix(&mut self, attr_type: AttrType, prefix: &Ipv6Prefix) -> Result<()> {
        if prefix.prefix_len > 128 {
            return Err(Error::Malformed);
        }
        let n = prefix.wire_prefix_octets();
        let bits = u128::from(prefix.prefix);
        let masked = bits
            & u128::MAX
                .checked_shl(128 - u32::from(prefix.prefix_len))
                .unwrap_or(0);
        self.push_with(attr_type, 2 + n, |out| {
            out[0] = 0;
            out[1] = prefix.prefix_len;
            out[2..].copy_from_slice(&masked.to_be_bytes()[..n]);
            Ok(())
        })
    }

    /// Appends a tagged string attribute (RFC 2868 §3.3): the Tag octet,
    /// then `value`. Tag over 0x1F -> `Malformed`.
    pub fn push_tagged(&mut self, attr_type: AttrType, tag: u8, value: &[u8]) -> Result<()> {
        if tag > MAX_TAG {
            return Err(Error::Malformed);
        }
        self.push_with(attr_type, 1 + value.len(), |out| {
            out[0] = tag;
            out[1..].copy_from_slice(value);
            Ok(())
        })
    }

    /// Appends a tagged integer (Tunnel-Type, Tunnel-Medium-Type,
    /// Tunnel-Preference; RFC 2868 §3.1): Tag then a 24-bit value. Tag
    /// over 0x1F or value over 0xFF_FFFF -> `Malformed`.
    pub fn push_tagged_u32(&mut self, attr_type: AttrType, tag: u8, value: u32) -> Result<()> {
        if tag > MAX_TAG || value > 0x00ff_ffff {
            return Err(Error::Malformed);
        }
        self.push(attr_type, &((u32::from(tag) << 24) | value).to_be_bytes())
    }

    /// Appends a Vendor-Specific attribute holding one sub-attribute in
    /// the RFC 2865 §5.26 layout. Value over 247 octets -> `Malformed`.
    pub fn push_vsa(&mut self, vendor_id: u32, vendor_type: u8, value: &[u8]) -> Result<()> {
        if value.len() > MAX_VALUE_LEN - VENDOR_ID_LEN - ATTR_HEADER_LEN {
            return Err(Error::Malformed);
        }
        let sub_len = ATTR_HEADER_LEN + value.len();
        self.push_with(AttrType::VendorSpecific, VENDOR_ID_LEN + sub_len, |out| {
            out[..VENDOR_ID_LEN].copy_from_slice(&vendor_id.to_be_bytes());
            out[VENDOR_ID_LEN] = vendor_type;
            out[VENDOR_ID_LEN + 1] = sub_len as u8;
            out[VENDOR_ID_LEN + ATTR_HEADER_LEN..].copy_from_slice(value);
            Ok(())
        })
    }

    /// Appends a Vendor-Specific attribute with raw vendor data (any
    /// layout). Data over 249 octets -> `Malformed`.
    pub fn push_vsa_raw(&mut self, vendor_id: u32, data: &[u8]) -> Result<()> {
        self.push_with(
            AttrType::VendorSpecific,
            VENDOR_ID_LEN + data.len(),
            |out| {
                out[..VENDOR_ID_LEN].copy_from_slice(&vendor_id.to_be_bytes());
                out[VENDOR_ID_LEN..].copy_from_slice(data);
                Ok(())
            },
        )
    }

    /// Appends User-Password hidden with `secret` and this packet's
    /// Request Authenticator (RFC 2865 §5.2). Over 128 octets -> `Malformed`.
    pub fn push_user_password(
        &mut self,
        password: &[u8],
        secret: &[u8],
        request_authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Result<()> {
        if password.len() > MAX_USER_PASSWORD_LEN {
            return Err(Error::Malformed);
        }
        let len = hidden_user_password_len(password.len());
        self.push_with(AttrType::UserPassword, len, |out| {
            hide_user_password(password, secret, request_authenticator, out).map(|_| ())
        })
    }

    /// Appends Tunnel-Password (RFC 2868 §3.5); see
    /// [`hide_tunnel_password`]. `salt` must differ per attribute in a
    /// packet; its MSB is set here.
    pub fn push_tunnel_password(
        &mut self,
        tag: u8,
        salt: [u8; 2],
        password: &[u8],
        secret: &[u8],
        request_authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Result<()> {
        if tag > MAX_TAG || password.len() > MAX_TUNNEL_PASSWORD_LEN {
            return Err(Error::Malformed);
        }
        let len = tunnel_password_len(password.len());
        self.push_with(AttrType::TunnelPassword, len, |out| {
            hide_tunnel_password(tag, salt, password, secret, request_authenticator, out)
                .map(|_| ())
        })
    }

    /// Appends CHAP-Password (RFC 2865 §5.3): CHAP Ident and response.
    pub fn push_chap_password(&mut self, ident: u8, response: &[u8; 16]) -> Result<()> {
        self.push(
            AttrType::ChapPassword,
            &ChapPassword {
                ident,
                response: *response,
            }
            .to_bytes(),
        )
    }

    /// Appends a zeroed Message-Authenticator for
    /// [`Packet::fill_message_authenticator`] to fill. BlastRADIUS
    /// guidance is to push it first.
    pub fn push_message_authenticator(&mut self) -> Result<()> {
        self.push(AttrType::MessageAuthenticator, &[0; AUTHENTICATOR_LEN])
    }

    /// Sets Length and returns the packet, trimmed to it.
    pub fn finish(self) -> Packet<&'a mut [u8]> {
        let len = self.len;
        let buf = self.buf;
        let mut p = Packet::new_unchecked(&mut buf[..len]);
        // len <= MAX_PACKET_LEN, so it fits.
        p.set_length(len as u16);
        p
    }
}

#[cfg(test)]
mod test {
    use super::super::test::*;
    use super::super::{
        unhide_tunnel_password, unhide_user_password, AcctStatusType, NasPortType, PacketRepr,
        TunnelMediumType, TunnelType, VendorAttr,
    };
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn construct_7_1_request() {
        let ra = auth_of(&REQUEST_7_1);
        let mut buf = [0xa5u8; 64];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &ra).unwrap();
        b.push(AttrType::UserName, b"nemo").unwrap();
        b.push_user_password(b"arctangent", SECRET, &ra).unwrap();
        b.push_ipv4(AttrType::NasIpAddress, Ipv4Addr::new(192, 168, 1, 16))
            .unwrap();
        b.push_u32(AttrType::NasPort, 3).unwrap();
        assert_eq!(b.written_len(), 56);
        let p = b.finish();
        assert_eq!(p.into_inner(), &REQUEST_7_1[..]);
        assert_eq!(&buf[56..], &[0xa5; 8]);
    }

    #[test]
    fn construct_7_2_accept_with_authenticator() {
        let ra = auth_of(&REQUEST_7_2);
        let mut buf = [0xa5u8; 56];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 1, &ra).unwrap();
        b.push_u32(
            AttrType::ServiceType,
            crate::radius::ServiceType::Framed.into(),
        )
        .unwrap();
        b.push_u32(AttrType::FramedProtocol, 1).unwrap();
        b.push_ipv4(AttrType::FramedIpAddress, Ipv4Addr::new(255, 255, 255, 254))
            .unwrap();
        b.push_u32(AttrType::FramedRouting, 2).unwrap();
        b.push_u32(AttrType::FramedCompression, 1).unwrap();
        b.push_u32(AttrType::FramedMtu, 1500).unwrap();
        assert_eq!(b.remaining(), 0);
        assert_eq!(b.push(AttrType::Class, b""), Err(Error::BufferTooSmall));
        let mut p = b.finish();
        p.fill_response_authenticator(SECRET, &ra);
        assert_eq!(buf, ACCEPT_7_2);
    }

    #[test]
    fn construct_7_2_request_chap() {
        let ra = auth_of(&REQUEST_7_2);
        let mut buf = [0xa5u8; 71];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &ra).unwrap();
        b.push(AttrType::UserName, b"flopsy").unwrap();
        let response: [u8; 16] = REQUEST_7_2[31..47].try_into().unwrap();
        b.push_chap_password(22, &response).unwrap();
        b.push_ipv4(AttrType::NasIpAddress, Ipv4Addr::new(192, 168, 1, 16))
            .unwrap();
        b.push_u32(AttrType::NasPort, 20).unwrap();
        b.push_u32(AttrType::ServiceType, 2).unwrap();
        b.push_u32(AttrType::FramedProtocol, 1).unwrap();
        b.finish();
        assert_eq!(buf, REQUEST_7_2);
    }

    #[test]
    fn construct_typed() {
        let mut buf = [0xa5u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccountingRequest, 0x42, &[0; 16]).unwrap();
        b.push_u32(AttrType::AcctStatusType, AcctStatusType::Start.into())
            .unwrap();
        b.push_u32(AttrType::NasPortType, NasPortType::Virtual.into())
            .unwrap();
        b.push_tagged_u32(AttrType::TunnelType, 1, TunnelType::L2tp.into())
            .unwrap();
        b.push_tagged_u32(AttrType::TunnelMediumType, 1, TunnelMediumType::Ipv4.into())
            .unwrap();
        b.push_tagged(AttrType::TunnelClientEndpoint, 1, b"198.18.0.1")
            .unwrap();
        b.push_vsa(9, 1, b"a=b").unwrap();
        b.push_ipv6_prefix(
            AttrType::DelegatedIpv6Prefix,
            &Ipv6Prefix {
                prefix_len: 56,
                prefix: "2001:db8:0:12ff:ffff::".parse().unwrap(),
            },
        )
        .unwrap();
        let len = b.finish().into_inner().len();
        #[rustfmt::skip]
        let want: [u8; 79] = [
            0x04, 0x42, 0x00, 79,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            40, 6, 0, 0, 0, 1,
            61, 6, 0, 0, 0, 5,
            64, 6, 1, 0, 0, 3,
            65, 6, 1, 0, 0, 1,
            66, 13, 1, b'1', b'9', b'8', b'.', b'1', b'8', b'.', b'0', b'.', b'1',
            26, 11, 0, 0, 0, 9, 1, 5, b'a', b'=', b'b',
            123, 11, 0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x12,
        ];
        assert_eq!(len, 79);
        assert_eq!(&buf[..79], &want[..]);
        assert_eq!(&buf[79..], &[0xa5; 49][..]);

        let p = Packet::new_checked(&buf[..79]).unwrap();
        let a: Vec<_> = p.attrs().collect::<Result<_>>().unwrap();
        assert_eq!(a[2].as_tagged_u32(), Ok((1, 3)));
        assert_eq!(a[4].as_tagged_bytes(), (Some(1), &b"198.18.0.1"[..]));
        let vsa = a[5].as_vendor_specific().unwrap();
        assert_eq!(
            vsa.sub_attributes().next(),
            Some(Ok(VendorAttr {
                vendor_type: 1,
                value: b"a=b"
            }))
        );
        let prefix = a[6].as_ipv6_prefix().unwrap();
        assert_eq!(prefix.prefix_len, 56);
        assert_eq!(
            prefix.prefix,
            "2001:db8:0:1200::".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn push_errors_leave_packet_unchanged() {
        let mut buf = [0xa5u8; 40];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &[1; 16]).unwrap();
        assert_eq!(b.push(AttrType::Class, &[0; 254]), Err(Error::Malformed));
        assert_eq!(
            b.push(AttrType::Class, &[0; 19]),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            b.push_tagged(AttrType::TunnelAssignmentId, 0x20, b"x"),
            Err(Error::Malformed)
        );
        assert_eq!(
            b.push_tagged_u32(AttrType::TunnelType, 1, 0x0100_0000),
            Err(Error::Malformed)
        );
        assert_eq!(b.push_vsa(9, 1, &[0; 248]), Err(Error::Malformed));
        assert_eq!(b.push_vsa_raw(9, &[0; 250]), Err(Error::Malformed));
        assert_eq!(
            b.push_user_password(&[1; 129], SECRET, &[0; 16]),
            Err(Error::Malformed)
        );
        assert_eq!(
            b.push_user_password(&[1; 17], SECRET, &[0; 16]),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            b.push_ipv6_prefix(
                AttrType::FramedIpv6Prefix,
                &Ipv6Prefix {
                    prefix_len: 129,
                    prefix: Ipv6Addr::UNSPECIFIED
                }
            ),
            Err(Error::Malformed)
        );
        assert_eq!(b.written_len(), 20);
        b.push(AttrType::Class, &[0; 18]).unwrap();
        assert_eq!(b.remaining(), 0);
        let p = b.finish();
        assert_eq!(p.length(), 40);
        assert!(PacketBuilder::new(&mut [0u8; 19], Code::AccessRequest, 0, &[0; 16]).is_err());
    }

    #[test]
    fn builder_caps_at_4096() {
        let mut buf = vec![0u8; 5000];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]).unwrap();
        while b.push(AttrType::Class, &[7; 253]).is_ok() {}
        assert!(b.written_len() <= MAX_PACKET_LEN);
        while b.push(AttrType::Class, b"").is_ok() {}
        // 15 * 255 + 125 * 2 octets of attributes; one octet stays free.
        assert_eq!(b.written_len(), 4095);
        let p = b.finish();
        let len = usize::from(p.length());
        assert!(PacketRepr::parse(&Packet::new_checked(&buf[..len]).unwrap()).is_ok());
    }

    #[test]
    fn passwords_through_builder() {
        let ra = [9u8; 16];
        let mut buf = [0u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &ra).unwrap();
        b.push_tunnel_password(2, [0x01, 0x02], b"tunnel", SECRET, &ra)
            .unwrap();
        b.push_user_password(b"secret", SECRET, &ra).unwrap();
        let p = b.finish();
        let p = Packet::new_checked(&p.into_inner()[..]).unwrap();
        let tp = p.find(AttrType::TunnelPassword).unwrap();
        assert_eq!(tp.value.len(), 19);
        let mut out = [0u8; 32];
        assert_eq!(
            unhide_tunnel_password(tp.value, SECRET, &ra, &mut out),
            Ok((2, &b"tunnel"[..]))
        );
        let up = p.find(AttrType::UserPassword).unwrap();
        assert_eq!(
            unhide_user_password(up.value, SECRET, &ra, &mut out),
            Ok(&b"secret"[..])
        );
    }

    #[test]
    fn push_all_copies() {
        let src = Packet::new_checked(&ACCEPT_7_1[..]).unwrap();
        let mut buf = [0u8; 38];
        let mut b =
            PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &auth_of(&ACCEPT_7_1)).unwrap();
        b.push_all(src.attrs()).unwrap();
        b.finish();
        assert_eq!(buf, ACCEPT_7_1);
        let bad = Packet::new_checked(&REQUEST_7_3_B[..]).unwrap();
        let mut buf = [0u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &[0; 16]).unwrap();
        assert_eq!(b.push_all(bad.attrs()), Err(Error::LengthMismatch));
    }

    proptest! {
        #[test]
        fn roundtrip(code in any::<u8>(), id in any::<u8>(), auth in any::<[u8; 16]>(),
                     attrs in proptest::collection::vec(
                         (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=MAX_VALUE_LEN)),
                         0..20)) {
            let mut buf = vec![0xa5u8; 4096];
            let mut b = PacketBuilder::new(&mut buf, Code::from(code), id, &auth).unwrap();
            let mut pushed = Vec::new();
            for (t, v) in &attrs {
                if b.push(AttrType::from(*t), v).is_ok() {
                    pushed.push(AttrRepr::new(AttrType::from(*t), v));
                }
            }
            let len = b.finish().into_inner().len();
            let p = Packet::new_checked(&buf[..len]).unwrap();
            let repr = PacketRepr::parse(&p).unwrap();
            prop_assert_eq!(repr.code, Code::from(code));
            prop_assert_eq!(repr.identifier, id);
            prop_assert_eq!(repr.authenticator, auth);
            let parsed: Vec<_> = repr.attrs().collect::<Result<_>>().unwrap();
            prop_assert_eq!(parsed, pushed);
        }

        #[test]
        fn ipv6_prefix_roundtrip(len in 0u8..=128, addr in any::<u128>()) {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            let prefix = Ipv6Prefix { prefix_len: len, prefix: Ipv6Addr::from(addr & mask) };
            let mut buf = [0u8; 64];
            let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]).unwrap();
            b.push_ipv6_prefix(AttrType::FramedIpv6Prefix, &prefix).unwrap();
            let p = b.finish();
            let p = Packet::new_checked(&p.into_inner()[..]).unwrap();
            let a = p.find(AttrType::FramedIpv6Prefix).unwrap();
            prop_assert_eq!(a.value.len(), 2 + prefix.wire_prefix_octets());
            prop_assert_eq!(a.as_ipv6_prefix(), Ok(prefix));
        }
    }
}
