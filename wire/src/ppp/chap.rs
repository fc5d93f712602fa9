//! CHAP packets (RFC 1994 §4) and the MD5 response (RFC 1994 §4.1).
//!
//! The header is the control-protocol one, viewed with
//! [`cp::Packet`](super::cp::Packet); its length rules apply. Fields the
//! Length does not cover (Value-Size, or a Value past the end) are
//! [`Error::LengthMismatch`]; unknown codes are [`Error::Malformed`]
//! (RFC 1994 has no Code-Reject: such packets are silently discarded).

use md5::{Digest, Md5};

use super::cp::{Packet, HEADER_LEN};
use crate::{Error, Result};

enum_with_unknown! {
    /// CHAP codes (RFC 1994 §4).
    pub enum Code(u8) {
        /// Challenge (RFC 1994 §4.1).
        Challenge = 1,
        /// Response (RFC 1994 §4.1).
        Response = 2,
        /// Success (RFC 1994 §4.2).
        Success = 3,
        /// Failure (RFC 1994 §4.2).
        Failure = 4,
    }
}

enum_with_unknown! {
    /// The CHAP Algorithm octet of LCP's Authentication-Protocol option
    /// (RFC 1994 §3).
    pub enum Algorithm(u8) {
        /// MD5 (RFC 1994 §4.1).
        Md5 = 5,
        /// MS-CHAP (RFC 2433).
        MsChap = 0x80,
        /// MS-CHAPv2 (RFC 2759 §2).
        MsChapV2 = 0x81,
    }
}

/// Length of an MD5 CHAP Value (RFC 1994 §4.1).
pub const MD5_VALUE_LEN: usize = 16;

/// The CHAP-MD5 Response Value: MD5 over Identifier, secret and Challenge
/// Value, in that order (RFC 1994 §4.1).
pub fn md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; MD5_VALUE_LEN] {
    let mut md5 = Md5::new();
    md5.update([identifier]);
    md5.update(secret);
    md5.update(challenge);
    md5.finalize().into()
}

/// A parsed CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// Challenge: Value-Size, Value, and the authenticator's Name.
    Challenge {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    /// Response: Value-Size, Value, and the peer's Name.
    Response {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    /// Success with an optional message.
    Success { identifier: u8, message: &'a [u8] },
    /// Failure with an optional message.
    Failure { identifier: u8, message: &'a [u8] },
}

impl<'a> Repr<'a> {
    /// Parses a CHAP packet (the PPP information field of protocol 0xc223).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let data = packet.data();
        let value_name = || -> Result<(&'a [u8], &'a [u8])> {
            let (&size, rest) = data.split_first().ok_or(Error::LengthMismatch)?;
            rest.split_at_checked(usize::from(size))
                .ok_or(Error::LengthMismatch)
        };
        match Code::from(u8::from(packet.code())) {
            Code::Challenge => {
                let (value, name) = value_name()?;
                Ok(Repr::Challenge {
                    identifier,
                    value,
                    name,
                })
            }
            Code::Response => {
                let (value, name) = value_name()?;
                Ok(Repr::Response {
                    identifier,
                    value,
                    name,
                })
            }
            Code::Success => Ok(Repr::Success {
                identifier,
                message: data,
            }),
            Code::Failure => Ok(Repr::Failure {
                identifier,
                message: data,
            }),
            Code::Unknown(_) => Err(Error::Malformed),
        }
    }

    /// Parses a CHAP packet from bytes.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Repr<'a>> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        match self {
            Repr::Challenge { .. } => Code::Challenge,
            Repr::Response { .. } => Code::Response,
            Repr::Success { .. } => Code::Success,
            Repr::Failure { .. } => Code::Failure,
        }
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::Challenge { identifier, .. }
            | Repr::Response { identifier, .. }
            | Repr::Success { identifier, .. }
            | Repr::Failure { identifier, .. } => identifier,
        }
    }

    /// Length of the emitted packet (the Length field).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match *self {
                Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                    1 + value.len() + name.len()
                }
                Repr::Success { message, .. } | Repr::Failure { message, .. } => message.len(),
            }
    }

    /// Writes the packet. Panics if the buffer is shorter than
    /// [`buffer_len`](Self::buffer_len); a Value over 255 octets or a
    /// packet over 65535 is a caller bug (see [`emit_into`](Self::emit_into)).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let len = self.buffer_len();
        debug_assert!(len <= usize::from(u16::MAX));
        packet.set_code(u8::from(self.code()).into());
        packet.set_identifier(self.identifier());
        packet.set_length(len as u16);
        let data = packet.data_mut();
        match *self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                debug_assert!(value.len() <= 255);
                data[0] = value.len() as u8;
                let (v, n) = data[1..].split_at_mut(value.len());
                v.copy_from_slice(value);
                n.copy_from_slice(name);
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => {
                data.copy_from_slice(message)
            }
        }
    }

    /// Writes the packet into `buf`, returning its length:
    /// [`Error::BufferTooSmall`] if it does not fit, [`Error::Malformed`]
    /// if a Value exceeds 255 octets or the packet 65535.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let value_ok = match *self {
            Repr::Challenge { value, .. } | Repr::Response { value, .. } => value.len() <= 255,
            _ => true,
        };
        if !value_ok || len > usize::from(u16::MAX) {
            return Err(Error::Malformed);
        }
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        self.emit(&mut Packet::new_unchecked(buf));
        Ok(len)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ppp::cp::test::plausible;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // chap capture frame 15: l2tpns challenges with name "pelns".
    static CHALLENGE: [u8; 26] = [
        0x01, 0x01, 0x00, 0x1a, 0x10, 0x19, 0xdb, 0x25, 0x78, 0x38, 0x21, 0xef, 0xa0, 0xe2, 0xce,
        0xa7, 0x58, 0xe0, 0xbe, 0xf0, 0xd3, b'p', b'e', b'l', b'n', b's',
    ];
    // chap capture frame 16: "pooluser" answers.
    static RESPONSE: [u8; 29] = [
        0x02, 0x01, 0x00, 0x1d, 0x10, 0x83, 0x5c, 0x2b, 0x3a, 0xcb, 0xff, 0xed, 0x18, 0x8a, 0x9e,
        0xa9, 0xb6, 0x55, 0x00, 0x1b, 0x3e, b'p', b'o', b'o', b'l', b'u', b's', b'e', b'r',
    ];
    // chap capture frame 17: Success with no message.
    static SUCCESS: [u8; 4] = [0x03, 0x01, 0x00, 0x04];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&CHALLENGE[..]).unwrap();
        let challenge = Repr::parse(&p).unwrap();
        assert_eq!(
            challenge,
            Repr::Challenge {
                identifier: 1,
                value: &CHALLENGE[5..21],
                name: b"pelns"
            }
        );
        assert_eq!(challenge.code(), Code::Challenge);
        assert_eq!(challenge.identifier(), 1);
        let response = Repr::parse_bytes(&RESPONSE).unwrap();
        assert_eq!(
            response,
            Repr::Response {
                identifier: 1,
                value: &RESPONSE[5..21],
                name: b"pooluser"
            }
        );
        assert_eq!(
            Repr::parse_bytes(&SUCCESS),
            Ok(Repr::Success {
                identifier: 1,
                message: &[]
            })
        );
    }

    #[test]
    fn md5_matches_capture() {
        // The RADIUS user "pooluser" has the Cleartext-Password "poolpass".
        let Repr::Challenge {
            identifier,
            value: challenge,
            ..
        } = Repr::parse_bytes(&CHALLENGE).unwrap()
        else {
            panic!("not a challenge")
        };
        let Repr::Response { value, .. } = Repr::parse_bytes(&RESPONSE).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(md5_response(identifier, b"poolpass", challenge), value);
        assert_ne!(md5_response(identifier, b"testpass", challenge), value);
        assert_ne!(md5_response(2, b"poolpass", challenge), value);
    }

    #[test]
    fn construct() {
        let cases: [(Repr, &[u8]); 4] = [
            (
                Repr::Challenge {
                    identifier: 1,
                    value: &CHALLENGE[5..21],
                    name: b"pelns",
                },
                &CHALLENGE,
            ),
            (
                Repr::Response {
                    identifier: 1,
                    value: &RESPONSE[5..21],
                    name: b"pooluser",
                },
                &RESPONSE,
            ),
            (
                Repr::Success {
                    identifier: 1,
                    message: &[],
                },
                &SUCCESS,
            ),
            (
                Repr::Failure {
                    identifier: 9,
                    message: b"E=691",
                },
                &[4, 9, 0, 9, b'E', b'=', b'6', b'9', b'1'],
            ),
        ];
        for (repr, bytes) in cases {
            let mut buf = vec![0xa5u8; bytes.len() + 2];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..bytes.len()], bytes);
            assert_eq!(&buf[bytes.len()..], &[0xa5, 0xa5]);
            assert_eq!(repr.buffer_len(), bytes.len());
            assert_eq!(Repr::parse_bytes(bytes), Ok(repr));
            let mut small = vec![0u8; bytes.len() - 1];
            assert_eq!(repr.emit_into(&mut small), Err(Error::BufferTooSmall));
        }
        let long = [0u8; 256];
        let repr = Repr::Response {
            identifier: 0,
            value: &long,
            name: &[],
        };
        assert_eq!(repr.emit_into(&mut [0u8; 300]), Err(Error::Malformed));
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(Repr::parse_bytes(&CHALLENGE[..n]), Err(Error::Truncated));
        }
        for n in HEADER_LEN..CHALLENGE.len() {
            assert_eq!(
                Repr::parse_bytes(&CHALLENGE[..n]),
                Err(Error::LengthMismatch)
            );
        }
        // Length cut at each field boundary: before Value-Size, inside Value.
        for length in [4u8, 5, 20] {
            let mut b = CHALLENGE;
            b[3] = length;
            assert_eq!(
                Repr::parse_bytes(&b),
                Err(Error::LengthMismatch),
                "{length}"
            );
        }
        // Value ends exactly at Length: empty name.
        let mut b = CHALLENGE;
        b[3] = 21;
        assert_eq!(
            Repr::parse_bytes(&b),
            Ok(Repr::Challenge {
                identifier: 1,
                value: &CHALLENGE[5..21],
                name: &[]
            })
        );
        assert_eq!(Repr::parse_bytes(&[5, 1, 0, 4]), Err(Error::Malformed));
    }

    fn strategy() -> impl Strategy<Value = (u8, u8, Vec<u8>, Vec<u8>)> {
        (
            1u8..=4,
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
    }

    fn make(parts: &(u8, u8, Vec<u8>, Vec<u8>)) -> Repr<'_> {
        let (code, identifier, ref value, ref name) = *parts;
        match code {
            1 => Repr::Challenge {
                identifier,
                value,
                name,
            },
            2 => Repr::Response {
                identifier,
                value,
                name,
            },
            3 => Repr::Success {
                identifier,
                message: name,
            },
            _ => Repr::Failure {
                identifier,
                message: name,
            },
        }
    }

    proptest! {
        #[test]
        fn roundtrip(parts in strategy()) {
            let repr = make(&parts);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            prop_assert_eq!(repr.emit_into(&mut buf), Ok(buf.len()));
            prop_assert_eq!(Repr::parse_bytes(&buf), Ok(repr));
        }

        #[test]
        fn parse_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            for bytes in [input.clone(), plausible(&input)] {
                if let Ok(repr) = Repr::parse_bytes(&bytes) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out[..]));
                    let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                    prop_assert_eq!(&out[..], &bytes[..length]);
                }
            }
        }
    }
}
