//! RADIUS (RFC 2865), Accounting (RFC 2866), tunnel attributes (RFC 2868),
//! extensions (RFC 2869), Dynamic Authorization (RFC 5176) and the IPv6
//! attributes (RFC 3162, 4818, 6911).
//!
//! - [`Packet`] / [`PacketRepr`]: the 20-octet header and the raw attribute
//!   list. Octets past Length are padding and ignored (RFC 2865 §3).
//! - [`AttrIter`] / [`AttrRepr`]: zero-copy attributes with typed helpers;
//!   [`VendorSpecific`] for Vendor-Specific (26).
//! - [`PacketBuilder`]: writes a packet into a caller buffer.
//! - Authenticators and attribute hiding: methods on [`Packet`]
//!   (`verify_response_authenticator`, `fill_message_authenticator`, ...)
//!   and the functions [`hide_user_password`], [`hide_tunnel_password`].

mod attr;
mod builder;
mod crypto;
mod dict;

pub use attr::{
    AttrIter, AttrRepr, AttrType, Ipv6Prefix, VendorAttr, VendorAttrIter, VendorSpecific,
    ATTR_HEADER_LEN, MAX_TAG, MAX_VALUE_LEN, VENDOR_ID_LEN,
};
pub use builder::PacketBuilder;
pub use crypto::{
    hidden_user_password_len, hide_tunnel_password, hide_user_password, tunnel_password_len,
    unhide_tunnel_password, unhide_user_password, ChapPassword, MAX_TUNNEL_PASSWORD_LEN,
    MAX_USER_PASSWORD_LEN,
};
pub use dict::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, ErrorCause, FramedProtocol, NasPortType,
    ServiceType, TunnelMediumType, TunnelType,
};

use crate::{Error, Result};

/// Octets of Code, Identifier, Length and Authenticator.
pub const HEADER_LEN: usize = 20;
/// Largest Length a packet may declare (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Octets of the Authenticator field.
pub const AUTHENTICATOR_LEN: usize = 16;

enum_with_unknown! {
    /// Packet Code (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3).
    pub enum Code(u8) {
        AccessRequest = 1,
        AccessAccept = 2,
        AccessReject = 3,
        AccountingRequest = 4,
        AccountingResponse = 5,
        AccessChallenge = 11,
        StatusServer = 12,
        StatusClient = 13,
        DisconnectRequest = 40,
        DisconnectAck = 41,
        DisconnectNak = 42,
        CoaRequest = 43,
        CoaAck = 44,
        CoaNak = 45,
    }
}

impl Code {
    /// A reply whose Authenticator is a Response Authenticator computed
    /// over the request's Request Authenticator.
    pub fn is_response(self) -> bool {
        matches!(
            self,
            Code::AccessAccept
                | Code::AccessReject
                | Code::AccessChallenge
                | Code::AccountingResponse
                | Code::DisconnectAck
                | Code::DisconnectNak
                | Code::CoaAck
                | Code::CoaNak
        )
    }

    /// A request whose Request Authenticator is an MD5 over the packet
    /// with the field zeroed (RFC 2866 §3, RFC 5176 §2.3), not random.
    pub fn has_computed_request_authenticator(self) -> bool {
        matches!(
            self,
            Code::AccountingRequest | Code::DisconnectRequest | Code::CoaRequest
        )
    }
}

mod field {
    use core::ops::Range;

    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const AUTHENTICATOR: Range<usize> = 4..20;
    pub const ATTRIBUTES: usize = 20;
}

/// A read/write view of a RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and runs [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header fits and Length is sane.
    ///
    /// Buffer under 20 octets -> `Truncated`; Length < 20 or Length past
    /// the buffer -> `LengthMismatch`; Length > 4096 -> `Malformed`.
    /// A buffer longer than Length is fine: the rest is padding (§3).
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.length());
        if len < HEADER_LEN {
            return Err(Error::LengthMismatch);
        }
        if len > MAX_PACKET_LEN {
            return Err(Error::Malformed);
        }
        if len > buf.len() {
            return Err(Error::LengthMismatch);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref()[field::CODE])
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    /// The Length field: header plus attributes, excluding padding.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The Authenticator field (Request or Response Authenticator).
    pub fn authenticator(&self) -> [u8; AUTHENTICATOR_LEN] {
        let mut a = [0u8; AUTHENTICATOR_LEN];
        a.copy_from_slice(&self.buffer.as_ref()[field::AUTHENTICATOR]);
        a
    }

    /// The attribute octets, from the header to Length.
    pub fn attributes(&self) -> &[u8] {
        self.packet_bytes().get(field::ATTRIBUTES..).unwrap_or(&[])
    }

    /// Iterates the attributes.
    pub fn attrs(&self) -> AttrIter<'_> {
        AttrIter::new(self.attributes())
    }

    /// The first attribute of type `attr_type`, if one parses before any
    /// malformed attribute.
    pub fn find(&self, attr_type: AttrType) -> Option<AttrRepr<'_>> {
        self.attrs()
            .map_while(|a| a.ok())
            .find(|a| a.attr_type == attr_type)
    }

    /// The packet up to Length (clamped to the buffer, so never panics).
    fn packet_bytes(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let len = match buf.get(field::LENGTH) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => 0,
        };
        buf.get(..len).unwrap_or(buf)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field.
    pub fn set_code(&mut self, value: Code) {
        self.buffer.as_mut()[field::CODE] = u8::from(value);
    }

    /// Sets the Identifier field.
    pub fn set_identifier(&mut self, value: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = value;
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Authenticator field.
    pub fn set_authenticator(&mut self, value: &[u8; AUTHENTICATOR_LEN]) {
        self.buffer.as_mut()[field::AUTHENTICATOR].copy_from_slice(value);
    }

    /// The attribute octets, mutable, from the header to Length.
    pub fn attributes_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.length());
        let buf = self.buffer.as_mut();
        let end = len.min(buf.len());
        buf.get_mut(field::ATTRIBUTES..end).unwrap_or(&mut [])
    }
}

/// A RADIUS packet: header fields and the raw, validated attribute list.
///
/// Parse then emit reproduces the first Length octets exactly; padding
/// past Length is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRepr<'a> {
    /// Code.
    pub code: Code,
    /// Identifier, matching requests and replies.
    pub identifier: u8,
    /// Request or Response Authenticator.
    pub authenticator: [u8; AUTHENTICATOR_LEN],
    /// The encoded attributes (see [`AttrIter`], [`PacketBuilder`]).
    pub attributes: &'a [u8],
}

impl<'a> PacketRepr<'a> {
    /// Parses a packet, checking its length and every attribute's (an
    /// attribute error is returned as is).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<PacketRepr<'a>> {
        packet.check_len()?;
        let buf: &'a [u8] = packet.buffer.as_ref();
        let attributes = buf
            .get(field::ATTRIBUTES..usize::from(packet.length()))
            .ok_or(Error::LengthMismatch)?;
        AttrIter::validate(attributes)?;
        Ok(PacketRepr {
            code: packet.code(),
            identifier: packet.identifier(),
            authenticator: packet.authenticator(),
            attributes,
        })
    }

    /// Octets `emit` writes (and the Length it sets).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.attributes.len()
    }

    /// Iterates the attributes.
    pub fn attrs(&self) -> AttrIter<'a> {
        AttrIter::new(self.attributes)
    }

    /// Writes the packet. Panics if the buffer is shorter than
    /// `buffer_len()` or `buffer_len()` exceeds 65535 (caller bugs).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let len = self.buffer_len();
        let len16 = u16::try_from(len).expect("RADIUS packet over 65535 octets");
        packet.set_code(self.code);
        packet.set_identifier(self.identifier);
        packet.set_length(len16);
        packet.set_authenticator(&self.authenticator);
        packet.buffer.as_mut()[field::ATTRIBUTES..len].copy_from_slice(self.attributes);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    pub(crate) const SECRET: &[u8] = b"xyzzy5461";

    /// RFC 2865 §7.1 Access-Request.
    pub(crate) static REQUEST_7_1: [u8; 56] = [
        0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5,
        0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12, 0x0d, 0xbe,
        0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a, 0x0a, 0xee, 0x04,
        0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
    ];

    /// RFC 2865 §7.1 Access-Accept.
    pub(crate) static ACCEPT_7_1: [u8; 38] = [
        0x02, 0x00, 0x00, 0x26, 0x86, 0xfe, 0x22, 0x0e, 0x76, 0x24, 0xba, 0x2a, 0x10, 0x05, 0xf6,
        0xbf, 0x9b, 0x55, 0xe0, 0xb2, 0x06, 0x06, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x06, 0x00, 0x00,
        0x00, 0x00, 0x0e, 0x06, 0xc0, 0xa8, 0x01, 0x03,
    ];

    /// RFC 2865 §7.2 Access-Request (CHAP).
    pub(crate) static REQUEST_7_2: [u8; 71] = [
        0x01, 0x01, 0x00, 0x47, 0x2a, 0xee, 0x86, 0xf0, 0x8d, 0x0d, 0x55, 0x96, 0x9c, 0xa5, 0x97,
        0x8e, 0x0d, 0x33, 0x67, 0xa2, 0x01, 0x08, 0x66, 0x6c, 0x6f, 0x70, 0x73, 0x79, 0x03, 0x13,
        0x16, 0xe9, 0x75, 0x57, 0xc3, 0x16, 0x18, 0x58, 0x95, 0xf2, 0x93, 0xff, 0x63, 0x44, 0x07,
        0x72, 0x75, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x14, 0x06,
        0x06, 0x00, 0x00, 0x00, 0x02, 0x07, 0x06, 0x00, 0x00, 0x00, 0x01,
    ];

    /// RFC 2865 §7.2 Access-Accept.
    pub(crate) static ACCEPT_7_2: [u8; 56] = [
        0x02, 0x01, 0x00, 0x38, 0x15, 0xef, 0xbc, 0x7d, 0xab, 0x26, 0xcf, 0xa3, 0xdc, 0x34, 0xd9,
        0xc0, 0x3c, 0x86, 0x01, 0xa4, 0x06, 0x06, 0x00, 0x00, 0x00, 0x02, 0x07, 0x06, 0x00, 0x00,
        0x00, 0x01, 0x08, 0x06, 0xff, 0xff, 0xff, 0xfe, 0x0a, 0x06, 0x00, 0x00, 0x00, 0x02, 0x0d,
        0x06, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x06, 0x00, 0x00, 0x05, 0xdc,
    ];

    /// RFC 2865 §7.3 first Access-Request ("challenge").
    pub(crate) static REQUEST_7_3: [u8; 57] = [
        0x01, 0x02, 0x00, 0x39, 0xf3, 0xa4, 0x7a, 0x1f, 0x6a, 0x6d, 0x76, 0x71, 0x0b, 0x94, 0x7a,
        0xb9, 0x30, 0x41, 0xa0, 0x39, 0x01, 0x07, 0x6d, 0x6f, 0x70, 0x73, 0x79, 0x02, 0x12, 0x33,
        0x65, 0x75, 0x73, 0x77, 0x82, 0x89, 0xb5, 0x70, 0x88, 0x5e, 0x15, 0x08, 0x48, 0x25, 0xc5,
        0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x07,
    ];

    /// RFC 2865 §7.3 Access-Challenge.
    pub(crate) static CHALLENGE_7_3: [u8; 78] = [
        0x0b, 0x02, 0x00, 0x4e, 0x36, 0xf3, 0xc8, 0x76, 0x4a, 0xe8, 0xc7, 0x11, 0x57, 0x40, 0x3c,
        0x0c, 0x71, 0xff, 0x9c, 0x45, 0x12, 0x30, 0x43, 0x68, 0x61, 0x6c, 0x6c, 0x65, 0x6e, 0x67,
        0x65, 0x20, 0x33, 0x32, 0x37, 0x36, 0x39, 0x34, 0x33, 0x30, 0x2e, 0x20, 0x20, 0x45, 0x6e,
        0x74, 0x65, 0x72, 0x20, 0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x20, 0x61, 0x74,
        0x20, 0x70, 0x72, 0x6f, 0x6d, 0x70, 0x74, 0x2e, 0x18, 0x0a, 0x33, 0x32, 0x37, 0x36, 0x39,
        0x34, 0x33, 0x30,
    ];

    /// RFC 2865 §7.3 second Access-Request, exactly as printed: its State
    /// attribute says Length 0x10 but carries 8 octets (a known erratum).
    pub(crate) static REQUEST_7_3_B: [u8; 67] = [
        0x01, 0x03, 0x00, 0x43, 0xb1, 0x22, 0x55, 0x6d, 0x42, 0x8a, 0x13, 0xd0, 0xd6, 0x25, 0x38,
        0x07, 0xc4, 0x57, 0xec, 0xf0, 0x01, 0x07, 0x6d, 0x6f, 0x70, 0x73, 0x79, 0x02, 0x12, 0x69,
        0x2c, 0x1f, 0x20, 0x5f, 0xc0, 0x81, 0xb9, 0x19, 0xb9, 0x51, 0x95, 0xf5, 0x61, 0xa5, 0x81,
        0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x07, 0x18, 0x10, 0x33,
        0x32, 0x37, 0x36, 0x39, 0x34, 0x33, 0x30,
    ];

    /// RFC 2865 §7.3 Access-Reject.
    pub(crate) static REJECT_7_3: [u8; 20] = [
        0x03, 0x03, 0x00, 0x14, 0xa4, 0x2f, 0x4f, 0xca, 0x45, 0x91, 0x6c, 0x4e, 0x09, 0xc8, 0x34,
        0x0f, 0x9e, 0x74, 0x6a, 0xa0,
    ];

    pub(crate) fn auth_of(bytes: &[u8]) -> [u8; 16] {
        bytes[4..20].try_into().unwrap()
    }

    #[test]
    fn deconstruct_7_1_request() {
        let p = Packet::new_checked(&REQUEST_7_1[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 0);
        assert_eq!(p.length(), 56);
        assert_eq!(
            p.authenticator(),
            [
                0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4,
                0x22, 0x7a
            ]
        );
        let attrs: Vec<_> = p.attrs().collect::<Result<_>>().unwrap();
        assert_eq!(attrs.len(), 4);
        assert_eq!(attrs[0], AttrRepr::new(AttrType::UserName, b"nemo"));
        assert_eq!(attrs[0].as_str(), Ok("nemo"));
        assert_eq!(attrs[1].attr_type, AttrType::UserPassword);
        assert_eq!(attrs[1].value, &REQUEST_7_1[28..44]);
        assert_eq!(attrs[2].attr_type, AttrType::NasIpAddress);
        assert_eq!(attrs[2].as_ipv4(), Ok(Ipv4Addr::new(192, 168, 1, 16)));
        assert_eq!(attrs[3].attr_type, AttrType::NasPort);
        assert_eq!(attrs[3].as_u32(), Ok(3));
        assert_eq!(p.find(AttrType::NasPort), Some(attrs[3]));
        assert_eq!(p.find(AttrType::State), None);

        let repr = PacketRepr::parse(&p).unwrap();
        assert_eq!(repr.code, Code::AccessRequest);
        assert_eq!(repr.identifier, 0);
        assert_eq!(repr.authenticator, auth_of(&REQUEST_7_1));
        assert_eq!(repr.attributes, &REQUEST_7_1[20..]);
        assert_eq!(repr.buffer_len(), 56);
    }

    #[test]
    fn deconstruct_7_1_accept() {
        let p = Packet::new_checked(&ACCEPT_7_1[..]).unwrap();
        assert_eq!(p.code(), Code::AccessAccept);
        assert_eq!(p.identifier(), 0);
        assert_eq!(p.length(), 38);
        let attrs: Vec<_> = p.attrs().collect::<Result<_>>().unwrap();
        assert_eq!(attrs.len(), 3);
        assert_eq!(attrs[0].attr_type, AttrType::ServiceType);
        assert_eq!(
            ServiceType::from(attrs[0].as_u32().unwrap()),
            ServiceType::Login
        );
        assert_eq!(attrs[1].attr_type, AttrType::LoginService);
        assert_eq!(attrs[1].as_u32(), Ok(0));
        assert_eq!(attrs[2].attr_type, AttrType::LoginIpHost);
        assert_eq!(attrs[2].as_ipv4(), Ok(Ipv4Addr::new(192, 168, 1, 3)));
    }

    #[test]
    fn deconstruct_7_2() {
        let p = Packet::new_checked(&REQUEST_7_2[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 71);
        let attrs: Vec<_> = p.attrs().collect::<Result<_>>().unwrap();
        assert_eq!(attrs.len(), 6);
        assert_eq!(attrs[0].as_str(), Ok("flopsy"));
        assert_eq!(attrs[1].attr_type, AttrType::ChapPassword);
        let chap = ChapPassword::parse(attrs[1].value).unwrap();
        assert_eq!(chap.ident, 22);
        assert_eq!(chap.response[..], REQUEST_7_2[31..47]);
        assert_eq!(attrs[2].as_ipv4(), Ok(Ipv4Addr::new(192, 168, 1, 16)));
        assert_eq!(attrs[3].attr_type, AttrType::NasPort);
        assert_eq!(attrs[3].as_u32(), Ok(20));
        assert_eq!(attrs[4].attr_type, AttrType::ServiceType);
        assert_eq!(
            ServiceType::from(attrs[4].as_u32().unwrap()),
            ServiceType::Framed
        );
        assert_eq!(attrs[5].attr_type, AttrType::FramedProtocol);
        assert_eq!(
            FramedProtocol::from(attrs[5].as_u32().unwrap()),
            FramedProtocol::Ppp
        );

        let p = Packet::new_checked(&ACCEPT_7_2[..]).unwrap();
        assert_eq!(p.code(), Code::AccessAccept);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 56);
        assert_eq!(p.attrs().count(), 6);
        assert_eq!(
            p.find(AttrType::FramedIpAddress).unwrap().as_ipv4(),
            Ok(Ipv4Addr::new(255, 255, 255, 254))
        );
    }

    #[test]
    fn deconstruct_7_3() {
        let p = Packet::new_checked(&CHALLENGE_7_3[..]).unwrap();
        assert_eq!(p.code(), Code::AccessChallenge);
        assert_eq!(p.identifier(), 2);
        assert_eq!(p.length(), 78);
        assert_eq!(
            p.find(AttrType::ReplyMessage).unwrap().as_str(),
            Ok("Challenge 32769430.  Enter response at prompt.")
        );
        assert_eq!(p.find(AttrType::State).unwrap().value, b"32769430");

        let p = Packet::new_checked(&REJECT_7_3[..]).unwrap();
        assert_eq!(p.code(), Code::AccessReject);
        assert_eq!(p.identifier(), 3);
        assert_eq!(p.attrs().count(), 0);
        assert_eq!(PacketRepr::parse(&p).unwrap().attributes, &[] as &[u8]);

        // The printed second request has a broken State; the header is fine
        // but the attribute list is rejected, without panicking or looping.
        let p = Packet::new_checked(&REQUEST_7_3_B[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.length(), 67);
        let attrs: Vec<_> = p.attrs().collect();
        assert_eq!(attrs.len(), 5);
        assert_eq!(attrs[4], Err(Error::LengthMismatch));
        assert_eq!(p.find(AttrType::NasPort).unwrap().as_u32(), Ok(7));
        assert_eq!(p.find(AttrType::State), None);
        assert_eq!(PacketRepr::parse(&p), Err(Error::LengthMismatch));
    }

    #[test]
    fn construct_7_1_request() {
        let repr = PacketRepr {
            code: Code::AccessRequest,
            identifier: 0,
            authenticator: auth_of(&REQUEST_7_1),
            attributes: &REQUEST_7_1[20..],
        };
        let mut buf = [0xa5u8; 60];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p);
        assert_eq!(&buf[..56], &REQUEST_7_1[..]);
        assert_eq!(&buf[56..], &[0xa5; 4]);
    }

    #[test]
    fn roundtrip_rfc_examples() {
        for bytes in [
            &REQUEST_7_1[..],
            &ACCEPT_7_1[..],
            &REQUEST_7_2[..],
            &ACCEPT_7_2[..],
            &REQUEST_7_3[..],
            &CHALLENGE_7_3[..],
            &REJECT_7_3[..],
        ] {
            let repr = PacketRepr::parse(&Packet::new_checked(bytes).unwrap()).unwrap();
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut out = vec![0xa5u8; bytes.len()];
            repr.emit(&mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(&out[..], bytes);
        }
    }

    #[test]
    fn padding_is_ignored() {
        let mut padded = REJECT_7_3.to_vec();
        padded.extend_from_slice(&[0xee; 7]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.attributes(), &[] as &[u8]);
        let repr = PacketRepr::parse(&p).unwrap();
        assert_eq!(repr.buffer_len(), 20);
        assert_eq!(
            p.verify_response_authenticator(SECRET, &auth_of(&REQUEST_7_3_B)),
            Ok(())
        );
        let mut padded = ACCEPT_7_1.to_vec();
        padded.extend_from_slice(&[0x01]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.attrs().count(), 3);
    }

    #[test]
    fn truncated_and_bad_length() {
        for cut in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&ACCEPT_7_1[..cut]).err(),
                Some(Error::Truncated),
                "cut {cut}"
            );
        }
        for cut in HEADER_LEN..ACCEPT_7_1.len() {
            assert_eq!(
                Packet::new_checked(&ACCEPT_7_1[..cut]).err(),
                Some(Error::LengthMismatch),
                "cut {cut}"
            );
        }
        let mut bytes = ACCEPT_7_1;
        for (len, err) in [
            (0u16, Error::LengthMismatch),
            (19, Error::LengthMismatch),
            (39, Error::LengthMismatch),
            (4097, Error::Malformed),
            (0xffff, Error::Malformed),
        ] {
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            assert_eq!(
                Packet::new_checked(&bytes[..]).err(),
                Some(err),
                "len {len}"
            );
        }
        // Length shorter than the buffer but cutting an attribute in half.
        bytes[2..4].copy_from_slice(&30u16.to_be_bytes());
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(PacketRepr::parse(&p), Err(Error::LengthMismatch));
        // Length 4096 over a 4096-octet buffer is fine.
        let mut big = vec![0u8; 4096];
        big[0] = 4;
        big[2..4].copy_from_slice(&4096u16.to_be_bytes());
        for chunk in big[20..].chunks_mut(254) {
            let n = chunk.len();
            chunk[0] = 25;
            chunk[1] = n as u8;
        }
        let p = Packet::new_checked(&big[..]).unwrap();
        assert!(PacketRepr::parse(&p).is_ok());
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 24];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_code(Code::CoaNak);
        p.set_identifier(9);
        p.set_length(24);
        p.set_authenticator(&[7; 16]);
        p.attributes_mut().copy_from_slice(&[101, 4, 1, 2]);
        assert_eq!(p.code(), Code::CoaNak);
        assert_eq!(p.identifier(), 9);
        assert_eq!(p.length(), 24);
        assert_eq!(p.authenticator(), [7; 16]);
        assert_eq!(p.attributes(), &[101, 4, 1, 2]);
        assert_eq!(buf[0], 45);
        assert_eq!(Code::from(40), Code::DisconnectRequest);
        assert_eq!(Code::from(99), Code::Unknown(99));
        assert!(Code::CoaAck.is_response());
        assert!(!Code::CoaRequest.is_response());
        assert!(Code::CoaRequest.has_computed_request_authenticator());
        assert!(!Code::AccessRequest.has_computed_request_authenticator());
    }

    fn attr_list() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)),
            0..12,
        )
        .prop_map(|attrs| {
            let mut out = Vec::new();
            for (t, v) in attrs {
                out.push(t);
                out.push((v.len() + 2) as u8);
                out.extend_from_slice(&v);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn roundtrip(code in any::<u8>(), identifier in any::<u8>(),
                     authenticator in any::<[u8; 16]>(), attributes in attr_list(),
                     padding in proptest::collection::vec(any::<u8>(), 0..8)) {
            let repr = PacketRepr { code: Code::from(code), identifier, authenticator,
                                    attributes: &attributes };
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            buf.extend_from_slice(&padding);
            let parsed = PacketRepr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
            prop_assert_eq!(parsed, repr);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Packet::new_unchecked(&bytes[..]);
            let _ = p.attributes();
            let _ = p.compute_request_authenticator(SECRET);
            let _ = p.verify_message_authenticator(SECRET, None);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.code(), p.identifier(), p.length(), p.authenticator());
                for a in p.attrs() { let _ = a; }
                let _ = p.find(AttrType::UserName);
                let _ = PacketRepr::parse(&p);
                let _ = p.verify_response_authenticator(SECRET, &[0; 16]);
                let _ = p.verify_request_authenticator(SECRET);
                let _ = p.verify_message_authenticator(SECRET, Some(&[1; 16]));
            }
        }

        #[test]
        fn parse_never_panics_with_valid_header(code in any::<u8>(),
                                                body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = vec![code, 0];
            bytes.extend_from_slice(&((body.len() + 20) as u16).to_be_bytes());
            bytes.extend_from_slice(&[0; 16]);
            bytes.extend_from_slice(&body);
            let p = Packet::new_checked(&bytes[..]).unwrap();
            let _ = PacketRepr::parse(&p);
            for a in p.attrs() { let _ = a; }
            let _ = p.verify_message_authenticator(SECRET, None);
        }
    }
}
