//! RADIUS attributes (RFC 2865 §5): zero-copy TLVs, their iterator, typed
//! value helpers and Vendor-Specific sub-attributes.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// Largest attribute value: the Length octet covers Type and Length too.
pub const MAX_VALUE_LEN: usize = 253;

/// Type and Length octets before every attribute value.
pub const ATTR_HEADER_LEN: usize = 2;

/// Largest tag of the RFC 2868 tunnel attributes; above it, the first
/// octet of a string attribute is data (RFC 2868 §3.3).
pub const MAX_TAG: u8 = 0x1f;

enum_with_unknown! {
    /// Attribute Type (RFC 2865 §5 and the extensions named per variant).
    pub enum AttrType(u8) {
        UserName = 1,
        UserPassword = 2,
        ChapPassword = 3,
        NasIpAddress = 4,
        NasPort = 5,
        ServiceType = 6,
        FramedProtocol = 7,
        FramedIpAddress = 8,
        FramedIpNetmask = 9,
        FramedRouting = 10,
        FilterId = 11,
        FramedMtu = 12,
        FramedCompression = 13,
        LoginIpHost = 14,
        LoginService = 15,
        LoginTcpPort = 16,
        ReplyMessage = 18,
        CallbackNumber = 19,
        CallbackId = 20,
        FramedRoute = 22,
        FramedIpxNetwork = 23,
        State = 24,
        Class = 25,
        VendorSpecific = 26,
        SessionTimeout = 27,
        IdleTimeout = 28,
        TerminationAction = 29,
        CalledStationId = 30,
        CallingStationId = 31,
        NasIdentifier = 32,
        ProxyState = 33,
        LoginLatService = 34,
        LoginLatNode = 35,
        LoginLatGroup = 36,
        FramedAppleTalkLink = 37,
        FramedAppleTalkNetwork = 38,
        FramedAppleTalkZone = 39,
        /// RFC 2866 §5.1.
        AcctStatusType = 40,
        AcctDelayTime = 41,
        AcctInputOctets = 42,
        AcctOutputOctets = 43,
        AcctSessionId = 44,
        AcctAuthentic = 45,
        AcctSessionTime = 46,
        AcctInputPackets = 47,
        AcctOutputPackets = 48,
        AcctTerminateCause = 49,
        AcctMultiSessionId = 50,
        AcctLinkCount = 51,
        /// RFC 2869 §5.1.
        AcctInputGigawords = 52,
        AcctOutputGigawords = 53,
        EventTimestamp = 55,
        ChapChallenge = 60,
        NasPortType = 61,
        PortLimit = 62,
        LoginLatPort = 63,
        /// RFC 2868 §3.1 (tagged integer).
        TunnelType = 64,
        /// RFC 2868 §3.2 (tagged integer).
        TunnelMediumType = 65,
        /// RFC 2868 §3.3 (optionally tagged string).
        TunnelClientEndpoint = 66,
        /// RFC 2868 §3.4 (optionally tagged string).
        TunnelServerEndpoint = 67,
        /// RFC 2867 §4.1.
        AcctTunnelConnection = 68,
        /// RFC 2868 §3.5 (tag, salt, encrypted string).
        TunnelPassword = 69,
        ArapPassword = 70,
        ArapFeatures = 71,
        ArapZoneAccess = 72,
        ArapSecurity = 73,
        ArapSecurityData = 74,
        PasswordRetry = 75,
        Prompt = 76,
        ConnectInfo = 77,
        ConfigurationToken = 78,
        EapMessage = 79,
        /// RFC 2869 §5.14 (HMAC-MD5, 16 octets).
        MessageAuthenticator = 80,
        /// RFC 2868 §3.6 (optionally tagged string).
        TunnelPrivateGroupId = 81,
        /// RFC 2868 §3.7 (optionally tagged string).
        TunnelAssignmentId = 82,
        /// RFC 2868 §3.8 (tagged integer).
        TunnelPreference = 83,
        ArapChallengeResponse = 84,
        AcctInterimInterval = 85,
        /// RFC 2867 §4.2.
        AcctTunnelPacketsLost = 86,
        NasPortId = 87,
        FramedPool = 88,
        /// RFC 4372.
        ChargeableUserIdentity = 89,
        /// RFC 2868 §3.9 (optionally tagged string).
        TunnelClientAuthId = 90,
        /// RFC 2868 §3.10 (optionally tagged string).
        TunnelServerAuthId = 91,
        /// RFC 3162 §2.1.
        NasIpv6Address = 95,
        FramedInterfaceId = 96,
        FramedIpv6Prefix = 97,
        LoginIpv6Host = 98,
        FramedIpv6Route = 99,
        FramedIpv6Pool = 100,
        /// RFC 5176 §3.5.
        ErrorCause = 101,
        /// RFC 4818.
        DelegatedIpv6Prefix = 123,
        /// RFC 6911 §3.1.
        FramedIpv6Address = 168,
        DnsServerIpv6Address = 169,
        RouteIpv6Information = 170,
        DelegatedIpv6PrefixPool = 171,
        StatefulIpv6AddressPool = 172,
    }
}

impl AttrType {
    /// Whether the value starts with an RFC 2868 Tag octet: always for the
    /// integer ones and Tunnel-Password, optionally (<= 0x1F) for strings.
    pub fn is_tunnel_tagged(self) -> bool {
        matches!(
            self,
            AttrType::TunnelType
                | AttrType::TunnelMediumType
                | AttrType::TunnelClientEndpoint
                | AttrType::TunnelServerEndpoint
                | AttrType::TunnelPassword
                | AttrType::TunnelPrivateGroupId
                | AttrType::TunnelAssignmentId
                | AttrType::TunnelPreference
                | AttrType::TunnelClientAuthId
                | AttrType::TunnelServerAuthId
        )
    }
}

/// One attribute: its Type and its value (the octets after Length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrRepr<'a> {
    /// The Type octet.
    pub attr_type: AttrType,
    /// The value, at most [`MAX_VALUE_LEN`] octets.
    pub value: &'a [u8],
}

/// An IPv6 prefix in the RFC 3162 §2.3 layout (Framed-IPv6-Prefix,
/// Delegated-IPv6-Prefix, Route-IPv6-Information).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    /// Prefix-Length, 0..=128.
    pub prefix_len: u8,
    /// The prefix, bits past `prefix_len` as received (zero when built).
    pub prefix: Ipv6Addr,
}

impl Ipv6Prefix {
    /// Octets of prefix sent on the wire when building: ceil(len / 8).
    pub fn wire_prefix_octets(&self) -> usize {
        usize::from(self.prefix_len).div_ceil(8)
    }
}

impl<'a> AttrRepr<'a> {
    /// An attribute from its type and value.
    pub const fn new(attr_type: AttrType, value: &'a [u8]) -> Self {
        AttrRepr { attr_type, value }
    }

    /// Parses the attribute at the front of `bytes`, returning it and the
    /// bytes after it.
    ///
    /// Only a Type octet -> `Truncated`; Length < 2 or past the end of
    /// `bytes` -> `LengthMismatch`.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let (&attr_type, &length) = match bytes {
            [t, l, ..] => (t, l),
            _ => return Err(Error::Truncated),
        };
        let length = usize::from(length);
        if length < ATTR_HEADER_LEN {
            return Err(Error::LengthMismatch);
        }
        let value = bytes
            .get(ATTR_HEADER_LEN..length)
            .ok_or(Error::LengthMismatch)?;
        let rest = bytes.get(length..).ok_or(Error::LengthMismatch)?;
        Ok((AttrRepr::new(AttrType::from(attr_type), value), rest))
    }

    /// Octets `emit` writes: Type, Length and the value.
    pub fn buffer_len(&self) -> usize {
        ATTR_HEADER_LEN + self.value.len()
    }

    /// Writes the attribute at the front of `buf`, returning its length.
    ///
    /// A value over 253 octets -> `Malformed`; `buf` too short ->
    /// `BufferTooSmall`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.value.len() > MAX_VALUE_LEN {
            return Err(Error::Malformed);
        }
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        out[0] = u8::from(self.attr_type);
        out[1] = len as u8;
        out[ATTR_HEADER_LEN..].copy_from_slice(self.value);
        Ok(len)
    }

    /// The value as raw octets (`string`/`text`/`octets` attributes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.value
    }

    /// The value as UTF-8 text (RFC 2865 `text`); invalid -> `Malformed`.
    pub fn as_str(&self) -> Result<&'a str> {
        core::str::from_utf8(self.value).map_err(|_| Error::Malformed)
    }

    /// A 32-bit `integer` (or `time`) value; not 4 octets -> `Malformed`.
    pub fn as_u32(&self) -> Result<u32> {
        let b: [u8; 4] = self.value.try_into().map_err(|_| Error::Malformed)?;
        Ok(u32::from_be_bytes(b))
    }

    /// An IPv4 `address` value; not 4 octets -> `Malformed`.
    pub fn as_ipv4(&self) -> Result<Ipv4Addr> {
        let b: [u8; 4] = self.value.try_into().map_err(|_| Error::Malformed)?;
        Ok(Ipv4Addr::from(b))
    }

    /// An IPv6 address value (NAS-IPv6-Address, Framed-IPv6-Address, ...);
    /// not 16 octets -> `Malformed`.
    pub fn as_ipv6(&self) -> Result<Ipv6Addr> {
        let b: [u8; 16] = self.value.try_into().map_err(|_| Error::Malformed)?;
        Ok(Ipv6Addr::from(b))
    }

    /// Framed-Interface-Id (RFC 3162 §2.2); not 8 octets -> `Malformed`.
    pub fn as_interface_id(&self) -> Result<[u8; 8]> {
        self.value.try_into().map_err(|_| Error::Malformed)
    }

    /// An RFC 3162 §2.3 prefix: Reserved, Prefix-Length, then at least
    /// ceil(Prefix-Length / 8) and at most 16 octets of prefix.
    pub fn as_ipv6_prefix(&self) -> Result<Ipv6Prefix> {
        let (&prefix_len, bytes) = match self.value {
            [_reserved, len, rest @ ..] => (len, rest),
            _ => return Err(Error::Malformed),
        };
        if prefix_len > 128 || bytes.len() > 16 {
            return Err(Error::Malformed);
        }
        if bytes.len() < usize::from(prefix_len).div_ceil(8) {
            return Err(Error::Malformed);
        }
        let mut octets = [0u8; 16];
        octets[..bytes.len()].copy_from_slice(bytes);
        Ok(Ipv6Prefix {
            prefix_len,
            prefix: Ipv6Addr::from(octets),
        })
    }

    /// A tagged integer (Tunnel-Type, Tunnel-Medium-Type,
    /// Tunnel-Preference; RFC 2868 §3.1): the Tag octet and the 24-bit
    /// value after it. Not 4 octets -> `Malformed`. Tags above 0x1F are
    /// returned as received (RFC 2868 says to ignore them).
    pub fn as_tagged_u32(&self) -> Result<(u8, u32)> {
        let v = self.as_u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// A tunnel string attribute (RFC 2868 §3.3): the tag if the first
    /// octet is <= 0x1F (0 meaning "no tunnel grouping"), and the string.
    pub fn as_tagged_bytes(&self) -> (Option<u8>, &'a [u8]) {
        match self.value {
            [tag, rest @ ..] if *tag <= MAX_TAG => (Some(*tag), rest),
            all => (None, all),
        }
    }

    /// Vendor-Specific (26): the Vendor-Id and the raw vendor data.
    /// Fewer than 4 octets -> `Truncated`. Another type -> `Malformed`.
    pub fn as_vendor_specific(&self) -> Result<VendorSpecific<'a>> {
        if self.attr_type != AttrType::VendorSpecific {
            return Err(Error::Malformed);
        }
        VendorSpecific::parse(self.value)
    }
}

/// Iterator over the attributes of a packet, zero-copy.
///
/// Yields `Err` once for a malformed attribute and then ends, so a bad
/// Length never loops or reads past the list.
#[derive(Debug, Clone)]
pub struct AttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> AttrIter<'a> {
    /// Iterates the attribute list `bytes` (the packet after its header).
    pub const fn new(bytes: &'a [u8]) -> Self {
        AttrIter { rest: bytes }
    }

    /// Checks the whole list: `Ok` when every attribute parses.
    pub fn validate(bytes: &'a [u8]) -> Result<()> {
        AttrIter::new(bytes).try_for_each(|a| a.map(|_| ()))
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<AttrRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match AttrRepr::parse(self.rest) {
            Ok((attr, rest)) => {
                self.rest = rest;
                Some(Ok(attr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for AttrIter<'_> {}

/// Octets of Vendor-Id before the vendor data.
pub const VENDOR_ID_LEN: usize = 4;

/// A Vendor-Specific attribute's value (RFC 2865 §5.26): Vendor-Id and
/// the vendor data, kept raw so non-conforming layouts round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorSpecific<'a> {
    /// SMI Network Management Private Enterprise Code (high octet 0).
    pub vendor_id: u32,
    /// The octets after Vendor-Id.
    pub data: &'a [u8],
}

/// One sub-attribute in the RFC 2865 §5.26 recommended layout:
/// vendor type (1 octet), vendor length (1 octet, covering both), value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttr<'a> {
    /// The vendor type octet.
    pub vendor_type: u8,
    /// The value after the vendor length octet.
    pub value: &'a [u8],
}

impl<'a> VendorSpecific<'a> {
    /// Parses a Vendor-Specific value. Fewer than 4 octets -> `Truncated`.
    pub fn parse(value: &'a [u8]) -> Result<Self> {
        let id: [u8; 4] = value
            .get(..VENDOR_ID_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::Truncated)?;
        Ok(VendorSpecific {
            vendor_id: u32::from_be_bytes(id),
            data: value.get(VENDOR_ID_LEN..).unwrap_or(&[]),
        })
    }

    /// Octets `emit` writes (the attribute value, not its header).
    pub fn buffer_len(&self) -> usize {
        VENDOR_ID_LEN + self.data.len()
    }

    /// Writes the value at the front of `buf`; too short -> `BufferTooSmall`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        out[..VENDOR_ID_LEN].copy_from_slice(&self.vendor_id.to_be_bytes());
        out[VENDOR_ID_LEN..].copy_from_slice(self.data);
        Ok(len)
    }

    /// Iterates the sub-attributes, assuming the recommended layout; a
    /// non-conforming payload yields one `Err` and ends.
    pub fn sub_attributes(&self) -> VendorAttrIter<'a> {
        VendorAttrIter { rest: self.data }
    }

    /// Whether the data is a non-empty list of well-formed sub-attributes.
    pub fn is_conforming(&self) -> bool {
        !self.data.is_empty() && self.sub_attributes().all(|a| a.is_ok())
    }
}

impl<'a> VendorAttr<'a> {
    /// Parses the sub-attribute at the front of `bytes`; like
    /// [`AttrRepr::parse`] (vendor length < 2 or overrunning ->
    /// `LengthMismatch`).
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let (attr, rest) = AttrRepr::parse(bytes)?;
        Ok((
            VendorAttr {
                vendor_type: u8::from(attr.attr_type),
                value: attr.value,
            },
            rest,
        ))
    }

    /// Octets `emit` writes: vendor type, vendor length, value.
    pub fn buffer_len(&self) -> usize {
        ATTR_HEADER_LEN + self.value.len()
    }

    /// Writes the sub-attribute; value over 247 octets (it must fit in a
    /// Vendor-Specific) -> `Malformed`, `buf` short -> `BufferTooSmall`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.value.len() > MAX_VALUE_LEN - VENDOR_ID_LEN - ATTR_HEADER_LEN {
            return Err(Error::Malformed);
        }
        AttrRepr::new(AttrType::from(self.vendor_type), self.value).emit(buf)
    }
}

/// Iterator over Vendor-Specific sub-attributes; ends after an error.
#[derive(Debug, Clone)]
pub struct VendorAttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for VendorAttrIter<'a> {
    type Item = Result<VendorAttr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match VendorAttr::parse(self.rest) {
            Ok((attr, rest)) => {
                self.rest = rest;
                Some(Ok(attr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for VendorAttrIter<'_> {}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // Attributes of the RFC 2865 §7.2 Access-Accept.
    static ACCEPT_7_2_ATTRS: [u8; 36] = [
        0x06, 0x06, 0x00, 0x00, 0x00, 0x02, 0x07, 0x06, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0xff,
        0xff, 0xff, 0xfe, 0x0a, 0x06, 0x00, 0x00, 0x00, 0x02, 0x0d, 0x06, 0x00, 0x00, 0x00, 0x01,
        0x0c, 0x06, 0x00, 0x00, 0x05, 0xdc,
    ];

    #[test]
    fn deconstruct_rfc2865_7_2_accept() {
        let attrs: Vec<_> = AttrIter::new(&ACCEPT_7_2_ATTRS)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(attrs.len(), 6);
        assert_eq!(attrs[0].attr_type, AttrType::ServiceType);
        assert_eq!(
            crate::radius::ServiceType::from(attrs[0].as_u32().unwrap()),
            crate::radius::ServiceType::Framed
        );
        assert_eq!(attrs[1].attr_type, AttrType::FramedProtocol);
        assert_eq!(attrs[1].as_u32(), Ok(1));
        assert_eq!(attrs[2].attr_type, AttrType::FramedIpAddress);
        assert_eq!(attrs[2].as_ipv4(), Ok(Ipv4Addr::new(255, 255, 255, 254)));
        assert_eq!(attrs[3].attr_type, AttrType::FramedRouting);
        assert_eq!(attrs[3].as_u32(), Ok(2));
        assert_eq!(attrs[4].attr_type, AttrType::FramedCompression);
        assert_eq!(attrs[4].as_u32(), Ok(1));
        assert_eq!(attrs[5].attr_type, AttrType::FramedMtu);
        assert_eq!(attrs[5].as_u32(), Ok(1500));
        assert_eq!(attrs[5].as_ipv6(), Err(Error::Malformed));
    }

    #[test]
    fn construct_attrs() {
        let mut buf = [0xa5u8; 10];
        let n = AttrRepr::new(AttrType::UserName, b"nemo")
            .emit(&mut buf)
            .unwrap();
        assert_eq!(n, 6);
        assert_eq!(
            buf,
            [0x01, 0x06, b'n', b'e', b'm', b'o', 0xa5, 0xa5, 0xa5, 0xa5]
        );
        let mut small = [0xa5u8; 5];
        assert_eq!(
            AttrRepr::new(AttrType::UserName, b"nemo").emit(&mut small),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(small, [0xa5; 5]);
        let long = [0u8; 254];
        assert_eq!(
            AttrRepr::new(AttrType::Class, &long).emit(&mut [0u8; 300]),
            Err(Error::Malformed)
        );
        let max = [7u8; 253];
        let mut out = [0xa5u8; 256];
        assert_eq!(AttrRepr::new(AttrType::Class, &max).emit(&mut out), Ok(255));
        assert_eq!(&out[..2], &[25, 255]);
    }

    #[test]
    fn malformed_lists_end_iteration() {
        // Type only.
        let mut it = AttrIter::new(&[0x01]);
        assert_eq!(it.next(), Some(Err(Error::Truncated)));
        assert_eq!(it.next(), None);
        // Length 0 and 1 must not loop.
        for l in [0u8, 1] {
            let bytes = [0x01, l, 0x01, 0x03, 0x41];
            let mut it = AttrIter::new(&bytes);
            assert_eq!(it.next(), Some(Err(Error::LengthMismatch)));
            assert_eq!(it.next(), None);
        }
        // Overruns the list after a good attribute: the RFC 2865 §7.3
        // erratum (State Length 0x10 over 8 octets).
        let bytes = [
            0x05, 0x06, 0, 0, 0, 7, 0x18, 0x10, 0x33, 0x32, 0x37, 0x36, 0x39, 0x34, 0x33, 0x30,
        ];
        let mut it = AttrIter::new(&bytes);
        assert_eq!(it.next().unwrap().unwrap().as_u32(), Ok(7));
        assert_eq!(it.next(), Some(Err(Error::LengthMismatch)));
        assert_eq!(it.next(), None);
        assert_eq!(AttrIter::validate(&bytes), Err(Error::LengthMismatch));
        // Empty values are fine (Length 2).
        assert_eq!(AttrIter::validate(&[0x18, 0x02]), Ok(()));
        // Every truncation of a good list either parses a prefix or errors.
        for cut in 0..ACCEPT_7_2_ATTRS.len() {
            let r = AttrIter::validate(&ACCEPT_7_2_ATTRS[..cut]);
            if cut % 6 == 0 {
                assert_eq!(r, Ok(()));
            } else if cut % 6 == 1 {
                assert_eq!(r, Err(Error::Truncated));
            } else {
                assert_eq!(r, Err(Error::LengthMismatch));
            }
        }
    }

    #[test]
    fn typed_helpers() {
        let a = AttrRepr::new(AttrType::TunnelType, &[0x01, 0x00, 0x00, 0x03]);
        assert_eq!(a.as_tagged_u32(), Ok((1, 3)));
        assert_eq!(
            crate::radius::TunnelType::from(a.as_tagged_u32().unwrap().1),
            crate::radius::TunnelType::L2tp
        );
        let a = AttrRepr::new(AttrType::TunnelMediumType, &[0x00, 0x00, 0x00, 0x02]);
        assert_eq!(a.as_tagged_u32(), Ok((0, 2)));
        assert_eq!(
            AttrRepr::new(AttrType::TunnelType, &[1, 0, 3]).as_tagged_u32(),
            Err(Error::Malformed)
        );
        let a = AttrRepr::new(AttrType::TunnelServerEndpoint, b"\x05198.18.0.1");
        assert_eq!(a.as_tagged_bytes(), (Some(5), &b"198.18.0.1"[..]));
        let a = AttrRepr::new(AttrType::TunnelServerEndpoint, b"198.18.0.1");
        assert_eq!(a.as_tagged_bytes(), (None, &b"198.18.0.1"[..]));
        let a = AttrRepr::new(AttrType::TunnelServerEndpoint, b"\x1f");
        assert_eq!(a.as_tagged_bytes(), (Some(0x1f), &b""[..]));
        assert_eq!(
            AttrRepr::new(AttrType::TunnelClientEndpoint, b"").as_tagged_bytes(),
            (None, &b""[..])
        );
        assert!(AttrType::TunnelPassword.is_tunnel_tagged());
        assert!(!AttrType::UserPassword.is_tunnel_tagged());

        assert_eq!(
            AttrRepr::new(AttrType::ReplyMessage, b"hi").as_str(),
            Ok("hi")
        );
        assert_eq!(
            AttrRepr::new(AttrType::ReplyMessage, &[0xff]).as_str(),
            Err(Error::Malformed)
        );
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            AttrRepr::new(AttrType::FramedIpv6Address, &v6).as_ipv6(),
            Ok("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            AttrRepr::new(AttrType::FramedInterfaceId, &[1, 2, 3, 4, 5, 6, 7, 8]).as_interface_id(),
            Ok([1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(
            AttrRepr::new(AttrType::FramedInterfaceId, &[1, 2, 3]).as_interface_id(),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn ipv6_prefixes() {
        // Delegated-IPv6-Prefix 2001:db8:1200::/40, RFC 4818 layout.
        let v = [0x00, 40, 0x20, 0x01, 0x0d, 0xb8, 0x12];
        let p = AttrRepr::new(AttrType::DelegatedIpv6Prefix, &v)
            .as_ipv6_prefix()
            .unwrap();
        assert_eq!(p.prefix_len, 40);
        assert_eq!(p.prefix, "2001:db8:1200::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.wire_prefix_octets(), 5);
        // Too few prefix octets for the length.
        let v = [0x00, 48, 0x20, 0x01, 0x0d, 0xb8, 0x12];
        assert_eq!(
            AttrRepr::new(AttrType::FramedIpv6Prefix, &v).as_ipv6_prefix(),
            Err(Error::Malformed)
        );
        // ::/0 with no prefix octets is Length 4.
        let p = AttrRepr::new(AttrType::FramedIpv6Prefix, &[0, 0])
            .as_ipv6_prefix()
            .unwrap();
        assert_eq!(p.prefix_len, 0);
        assert_eq!(
            AttrRepr::new(AttrType::FramedIpv6Prefix, &[0, 129, 0, 0]).as_ipv6_prefix(),
            Err(Error::Malformed)
        );
        assert_eq!(
            AttrRepr::new(AttrType::FramedIpv6Prefix, &[0]).as_ipv6_prefix(),
            Err(Error::Malformed)
        );
        assert_eq!(
            AttrRepr::new(AttrType::FramedIpv6Prefix, &[0u8; 19]).as_ipv6_prefix(),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn vendor_specific() {
        // Vendor 9 (Cisco), sub-attribute 1 "a=b", then a second one.
        let v = [0, 0, 0, 9, 1, 5, b'a', b'=', b'b', 2, 2];
        let attr = AttrRepr::new(AttrType::VendorSpecific, &v);
        let vsa = attr.as_vendor_specific().unwrap();
        assert_eq!(vsa.vendor_id, 9);
        assert!(vsa.is_conforming());
        let subs: Vec<_> = vsa.sub_attributes().collect::<Result<_>>().unwrap();
        assert_eq!(
            subs,
            vec![
                VendorAttr {
                    vendor_type: 1,
                    value: b"a=b"
                },
                VendorAttr {
                    vendor_type: 2,
                    value: b""
                }
            ]
        );
        let mut out = [0xa5u8; 12];
        assert_eq!(vsa.emit(&mut out), Ok(11));
        assert_eq!(&out[..11], &v);
        assert_eq!(out[11], 0xa5);
        let mut sub = [0xa5u8; 6];
        assert_eq!(subs[0].emit(&mut sub), Ok(5));
        assert_eq!(sub, [1, 5, b'a', b'=', b'b', 0xa5]);

        // Non-conforming payload is kept raw; the sub-iterator reports it once.
        let v = [0, 0, 0x01, 0x37, 0xde, 0xad, 0xbe];
        let vsa = VendorSpecific::parse(&v).unwrap();
        assert_eq!(vsa.vendor_id, 0x137);
        assert_eq!(vsa.data, &[0xde, 0xad, 0xbe]);
        assert!(!vsa.is_conforming());
        let mut it = vsa.sub_attributes();
        assert_eq!(it.next(), Some(Err(Error::LengthMismatch)));
        assert_eq!(it.next(), None);

        assert_eq!(VendorSpecific::parse(&[0, 0, 9]), Err(Error::Truncated));
        assert_eq!(
            AttrRepr::new(AttrType::Class, &[0, 0, 0, 9]).as_vendor_specific(),
            Err(Error::Malformed)
        );
        assert!(!VendorSpecific::parse(&[0, 0, 0, 9])
            .unwrap()
            .is_conforming());
        assert_eq!(
            VendorAttr {
                vendor_type: 1,
                value: &[0; 248]
            }
            .emit(&mut [0; 300]),
            Err(Error::Malformed)
        );
    }

    fn attr_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
        (
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_VALUE_LEN),
        )
    }

    proptest! {
        #[test]
        fn roundtrip((t, value) in attr_strategy()) {
            let repr = AttrRepr::new(AttrType::from(t), &value);
            let mut buf = vec![0xa5u8; repr.buffer_len() + 3];
            let n = repr.emit(&mut buf).unwrap();
            prop_assert_eq!(n, repr.buffer_len());
            let (parsed, rest) = AttrRepr::parse(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(rest, &[0xa5u8; 3][..]);
        }

        #[test]
        fn vsa_roundtrip(id in any::<u32>(), vt in any::<u8>(),
                         value in proptest::collection::vec(any::<u8>(), 0..=247)) {
            let sub = VendorAttr { vendor_type: vt, value: &value };
            let mut data = vec![0u8; sub.buffer_len()];
            sub.emit(&mut data).unwrap();
            let vsa = VendorSpecific { vendor_id: id, data: &data };
            let mut buf = vec![0u8; vsa.buffer_len()];
            vsa.emit(&mut buf).unwrap();
            let attr = AttrRepr::new(AttrType::VendorSpecific, &buf);
            let mut wire = vec![0u8; attr.buffer_len()];
            attr.emit(&mut wire).unwrap();
            let (back, _) = AttrRepr::parse(&wire).unwrap();
            let back = back.as_vendor_specific().unwrap();
            prop_assert_eq!(back, vsa);
            let subs: Vec<_> = back.sub_attributes().collect::<Result<_>>().unwrap();
            prop_assert_eq!(subs, vec![sub]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut n = 0;
            for a in AttrIter::new(&bytes) {
                n += 1;
                prop_assert!(n <= bytes.len());
                if let Ok(a) = a {
                    let _ = a.as_u32();
                    let _ = a.as_ipv4();
                    let _ = a.as_ipv6();
                    let _ = a.as_ipv6_prefix();
                    let _ = a.as_tagged_u32();
                    let _ = a.as_tagged_bytes();
                    let _ = a.as_str();
                    let _ = a.as_interface_id();
                    if let Ok(v) = VendorSpecific::parse(a.value) {
                        for s in v.sub_attributes() { let _ = s; }
                    }
                }
            }
        }
    }
}
