//! The PPP frame as it travels inside an L2TP data message (RFC 2661 §3.1):
//! HDLC-like framing removed, so what remains is the optional Address and
//! Control fields (RFC 1662 §3.1), the Protocol field (RFC 1661 §2) and the
//! information field.

use crate::{Error, Result};

enum_with_unknown! {
    /// The PPP Protocol field (RFC 1661 §2; assigned numbers in RFC 1700).
    pub enum Protocol(u16) {
        /// Internet Protocol version 4 (RFC 1332).
        Ipv4 = 0x0021,
        /// Van Jacobson compressed TCP/IP (RFC 1144, RFC 1332 §4).
        VjCompressedTcp = 0x002d,
        /// Van Jacobson uncompressed TCP/IP (RFC 1144, RFC 1332 §4).
        VjUncompressedTcp = 0x002f,
        /// Internet Protocol version 6 (RFC 5072).
        Ipv6 = 0x0057,
        /// IP Control Protocol (RFC 1332).
        Ipcp = 0x8021,
        /// IPv6 Control Protocol (RFC 5072).
        Ipv6cp = 0x8057,
        /// Compression Control Protocol (RFC 1962).
        Ccp = 0x80fd,
        /// Link Control Protocol (RFC 1661).
        Lcp = 0xc021,
        /// Password Authentication Protocol (RFC 1334).
        Pap = 0xc023,
        /// Link Quality Report (RFC 1989).
        Lqr = 0xc025,
        /// Callback Control Protocol (Microsoft CBCP).
        Cbcp = 0xc029,
        /// Challenge Handshake Authentication Protocol (RFC 1994).
        Chap = 0xc223,
    }
}

/// The Address (0xff, All-Stations) and Control (0x03, UI) octets.
pub const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];

/// Fast path for the data plane: the Protocol field and the offset of the
/// information field within an L2TP payload.
///
/// Accepts Address/Control present or absent (RFC 1662 §3.1 ACFC) and a
/// one- or two-octet Protocol field (RFC 1661 §6.5 PFC). Two-octet fields
/// have an even first and an odd second octet; an even second octet is
/// [`Error::Malformed`]. A leading 0xff must be followed by 0x03: the
/// only compressed protocol it could otherwise be, 0x00ff, is reserved.
#[inline(always)]
pub fn protocol_and_offset(buf: &[u8]) -> Result<(u16, usize)> {
    let (off, rest) = match buf {
        [0xff, 0x03, rest @ ..] => (2, rest),
        [0xff] => return Err(Error::Truncated),
        [0xff, ..] => return Err(Error::Malformed),
        _ => (0, buf),
    };
    match *rest {
        [b0, ..] if b0 & 1 == 1 => Ok((u16::from(b0), off + 1)),
        [b0, b1, ..] if b1 & 1 == 1 => Ok((u16::from_be_bytes([b0, b1]), off + 2)),
        [_, _, ..] => Err(Error::Malformed),
        _ => Err(Error::Truncated),
    }
}

/// A read/write view of a PPP frame (an L2TP data message payload).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that its header is complete and valid.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the Address/Control and Protocol fields: [`Error::Truncated`]
    /// if the buffer ends inside them, [`Error::Malformed`] if they are invalid.
    pub fn check_len(&self) -> Result<()> {
        protocol_and_offset(self.buffer.as_ref()).map(|_| ())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Whether the Address and Control fields (0xff 0x03) are present.
    pub fn address_control(&self) -> bool {
        self.buffer.as_ref().starts_with(&ADDRESS_CONTROL)
    }

    /// Whether the Protocol field is compressed to one octet (RFC 1661 §6.6).
    pub fn protocol_compressed(&self) -> bool {
        let off = if self.address_control() { 2 } else { 0 };
        self.buffer.as_ref().get(off).is_some_and(|b| b & 1 == 1)
    }

    /// The Protocol field (0 if the header does not check).
    pub fn protocol(&self) -> Protocol {
        Protocol::from(protocol_and_offset(self.buffer.as_ref()).map_or(0, |(p, _)| p))
    }

    /// Length of the Address/Control and Protocol fields.
    pub fn header_len(&self) -> usize {
        let ac = if self.address_control() { 2 } else { 0 };
        ac + if self.protocol_compressed() { 1 } else { 2 }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The information field (the inner packet).
    pub fn payload(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// The information field, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let off = self.header_len();
        self.buffer.as_mut().get_mut(off..).unwrap_or(&mut [])
    }
}

/// The header of a PPP frame: what the wire may vary, kept for byte-exact
/// re-emission.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct FrameRepr {
    /// Address and Control fields present (not compressed by ACFC).
    pub address_control: bool,
    /// The Protocol field.
    pub protocol: Protocol,
    /// The Protocol field sent as one octet. Only valid for protocols
    /// below 0x100 (odd, as all assigned ones are).
    pub protocol_compressed: bool,
}

impl FrameRepr {
    /// Parses the header of a checked frame.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<FrameRepr> {
        let (protocol, _) = protocol_and_offset(frame.buffer.as_ref())?;
        Ok(FrameRepr {
            address_control: frame.address_control(),
            protocol: Protocol::from(protocol),
            protocol_compressed: frame.protocol_compressed(),
        })
    }

    /// Header length: what [`emit`](Self::emit) writes.
    pub const fn header_len(&self) -> usize {
        let ac = if self.address_control { 2 } else { 0 };
        ac + if self.protocol_compressed { 1 } else { 2 }
    }

    /// Same as [`header_len`](Self::header_len).
    pub const fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header into `buf[..header_len()]`; the caller writes the
    /// payload after it. Panics if `buf` is shorter than `header_len()`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut off = 0;
        if self.address_control {
            buf[..2].copy_from_slice(&ADDRESS_CONTROL);
            off = 2;
        }
        let p = u16::from(self.protocol).to_be_bytes();
        if self.protocol_compressed {
            debug_assert!(p[0] == 0, "only protocols below 0x100 compress");
            buf[off] = p[1];
        } else {
            buf[off..off + 2].copy_from_slice(&p);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // chap capture frame 24: PPP header of an upstream IPv4 packet.
    static IPV4_FRAME: [u8; 8] = [0xff, 0x03, 0x00, 0x21, 0x45, 0x00, 0x00, 0x2c];
    // chap capture frame 11: start of l2tpns's LCP Configure-Request.
    static LCP_FRAME: [u8; 8] = [0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x1e];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&IPV4_FRAME[..]).unwrap();
        assert!(f.address_control());
        assert!(!f.protocol_compressed());
        assert_eq!(f.protocol(), Protocol::Ipv4);
        assert_eq!(f.header_len(), 4);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x2c]);
        assert_eq!(protocol_and_offset(&IPV4_FRAME), Ok((0x0021, 4)));

        let f = Frame::new_checked(&LCP_FRAME[..]).unwrap();
        assert_eq!(f.protocol(), Protocol::Lcp);
        assert_eq!(f.payload(), &LCP_FRAME[4..]);
        assert_eq!(
            FrameRepr::parse(&f),
            Ok(FrameRepr {
                address_control: true,
                protocol: Protocol::Lcp,
                protocol_compressed: false
            })
        );
    }

    #[test]
    fn compressed_forms() {
        // ACFC + PFC: just 0x21.
        let b = [0x21, 0x45];
        let f = Frame::new_checked(&b[..]).unwrap();
        assert!(!f.address_control());
        assert!(f.protocol_compressed());
        assert_eq!(f.protocol(), Protocol::Ipv4);
        assert_eq!(f.header_len(), 1);
        assert_eq!(protocol_and_offset(&b), Ok((0x21, 1)));
        // Address/Control with PFC.
        let b = [0xff, 0x03, 0x57, 0x60];
        assert_eq!(protocol_and_offset(&b), Ok((0x57, 3)));
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(f.protocol(), Protocol::Ipv6);
        assert_eq!(f.payload(), &[0x60]);
        // ACFC, uncompressed protocol.
        let b = [0xc2, 0x23, 0x01];
        assert_eq!(protocol_and_offset(&b), Ok((0xc223, 2)));
        assert_eq!(
            Frame::new_checked(&b[..]).unwrap().protocol(),
            Protocol::Chap
        );
        // Uncompressed form of a compressible protocol is kept as such.
        let b = [0x00, 0x21];
        let r = FrameRepr::parse(&Frame::new_checked(&b[..]).unwrap()).unwrap();
        assert!(!r.protocol_compressed);
        assert_eq!(r.protocol, Protocol::Ipv4);
    }

    #[test]
    fn construct() {
        let cases: [(FrameRepr, &[u8]); 4] = [
            (
                FrameRepr {
                    address_control: true,
                    protocol: Protocol::Lcp,
                    protocol_compressed: false,
                },
                &[0xff, 0x03, 0xc0, 0x21],
            ),
            (
                FrameRepr {
                    address_control: false,
                    protocol: Protocol::Ipcp,
                    protocol_compressed: false,
                },
                &[0x80, 0x21],
            ),
            (
                FrameRepr {
                    address_control: true,
                    protocol: Protocol::Ipv4,
                    protocol_compressed: true,
                },
                &[0xff, 0x03, 0x21],
            ),
            (
                FrameRepr {
                    address_control: false,
                    protocol: Protocol::Ipv6,
                    protocol_compressed: true,
                },
                &[0x57],
            ),
        ];
        for (repr, bytes) in cases {
            let mut buf = [0xa5u8; 6];
            assert_eq!(repr.header_len(), bytes.len());
            repr.emit(&mut buf);
            assert_eq!(&buf[..bytes.len()], bytes);
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5));
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(protocol_and_offset(&[]), Err(Error::Truncated));
        assert_eq!(protocol_and_offset(&[0xff]), Err(Error::Truncated));
        assert_eq!(protocol_and_offset(&[0xff, 0x03]), Err(Error::Truncated));
        assert_eq!(
            protocol_and_offset(&[0xff, 0x03, 0xc0]),
            Err(Error::Truncated)
        );
        assert_eq!(protocol_and_offset(&[0xc0]), Err(Error::Truncated));
        // Even, even: neither a compressed nor a valid two-octet field.
        assert_eq!(protocol_and_offset(&[0x00, 0x20]), Err(Error::Malformed));
        assert_eq!(
            protocol_and_offset(&[0xff, 0x03, 0xc0, 0x22]),
            Err(Error::Malformed)
        );
        // 0xff not followed by 0x03.
        assert_eq!(
            protocol_and_offset(&[0xff, 0x05, 0x21]),
            Err(Error::Malformed)
        );
        assert_eq!(Frame::new_checked(&[0xc0u8][..]), Err(Error::Truncated));
        for n in 0..4 {
            assert_eq!(
                Frame::new_checked(&LCP_FRAME[..n]).unwrap_err(),
                Error::Truncated
            );
        }
    }

    #[test]
    fn payload_mut() {
        let mut b = [0xff, 0x03, 0x00, 0x21, 0, 0];
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        f.payload_mut().copy_from_slice(&[1, 2]);
        assert_eq!(f.into_inner(), &[0xff, 0x03, 0x00, 0x21, 1, 2]);
    }

    pub(crate) fn frame_repr() -> impl Strategy<Value = FrameRepr> {
        (any::<bool>(), any::<bool>(), any::<u16>()).prop_map(|(ac, comp, p)| {
            // A valid two-octet protocol: even high octet, odd low octet.
            let p = if comp { p & 0x00ff | 1 } else { p & 0xfeff | 1 };
            // A bare 0xff would read as the Address field (0x00ff is reserved).
            let p = if comp && !ac && p == 0xff { 0xfd } else { p };
            FrameRepr {
                address_control: ac,
                protocol: Protocol::from(p),
                protocol_compressed: comp,
            }
        })
    }

    proptest! {
        #[test]
        fn roundtrip(repr in frame_repr(), payload in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut buf = vec![0xa5u8; repr.header_len() + payload.len()];
            repr.emit(&mut buf);
            buf[repr.header_len()..].copy_from_slice(&payload);
            let f = Frame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(FrameRepr::parse(&f), Ok(repr));
            prop_assert_eq!(f.payload(), &payload[..]);
            prop_assert_eq!(
                protocol_and_offset(&buf),
                Ok((u16::from(repr.protocol), repr.header_len()))
            );
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let f = Frame::new_unchecked(&bytes[..]);
            let _ = (f.protocol(), f.header_len(), f.payload(), f.address_control());
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let repr = FrameRepr::parse(&f).unwrap();
                let mut out: Vec<u8> = vec![0; repr.header_len()];
                repr.emit(&mut out);
                prop_assert_eq!(&out[..], &bytes[..repr.header_len()]);
                prop_assert_eq!(protocol_and_offset(&bytes).unwrap().1, f.header_len());
            }
        }
    }
}
