//! PAP packets (RFC 1334 §2.2).
//!
//! The header is the control-protocol one, viewed with
//! [`cp::Packet`](super::cp::Packet); its length rules apply. A
//! Peer-ID/Passwd/Msg-Length octet missing or overrunning Length, or octets
//! left over after the last field, are [`Error::LengthMismatch`] (keeping
//! parse→emit exact); unknown codes are [`Error::Malformed`].

use super::cp::{Packet, HEADER_LEN};
use crate::{Error, Result};

enum_with_unknown! {
    /// PAP codes (RFC 1334 §2.2).
    pub enum Code(u8) {
        /// Authenticate-Request (RFC 1334 §2.2.1).
        AuthenticateRequest = 1,
        /// Authenticate-Ack (RFC 1334 §2.2.2).
        AuthenticateAck = 2,
        /// Authenticate-Nak (RFC 1334 §2.2.2).
        AuthenticateNak = 3,
    }
}

/// A parsed PAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// Authenticate-Request.
    AuthenticateRequest {
        identifier: u8,
        peer_id: &'a [u8],
        password: &'a [u8],
    },
    /// Authenticate-Ack.
    AuthenticateAck { identifier: u8, message: &'a [u8] },
    /// Authenticate-Nak.
    AuthenticateNak { identifier: u8, message: &'a [u8] },
}

/// Splits a one-octet-length-prefixed field off `data`.
fn counted(data: &[u8]) -> Result<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first().ok_or(Error::LengthMismatch)?;
    rest.split_at_checked(usize::from(len))
        .ok_or(Error::LengthMismatch)
}

impl<'a> Repr<'a> {
    /// Parses a PAP packet (the PPP information field of protocol 0xc023).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let data = packet.data();
        let repr = match Code::from(u8::from(packet.code())) {
            Code::AuthenticateRequest => {
                let (peer_id, rest) = counted(data)?;
                let (password, rest) = counted(rest)?;
                if !rest.is_empty() {
                    return Err(Error::LengthMismatch);
                }
                Repr::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                }
            }
            code @ (Code::AuthenticateAck | Code::AuthenticateNak) => {
                let (message, rest) = counted(data)?;
                if !rest.is_empty() {
                    return Err(Error::LengthMismatch);
                }
                if code == Code::AuthenticateAck {
                    Repr::AuthenticateAck {
                        identifier,
                        message,
                    }
                } else {
                    Repr::AuthenticateNak {
                        identifier,
                        message,
                    }
                }
            }
            Code::Unknown(_) => return Err(Error::Malformed),
        };
        Ok(repr)
    }

    /// Parses a PAP packet from bytes.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Repr<'a>> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        match self {
            Repr::AuthenticateRequest { .. } => Code::AuthenticateRequest,
            Repr::AuthenticateAck { .. } => Code::AuthenticateAck,
            Repr::AuthenticateNak { .. } => Code::AuthenticateNak,
        }
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::AuthenticateRequest { identifier, .. }
            | Repr::AuthenticateAck { identifier, .. }
            | Repr::AuthenticateNak { identifier, .. } => identifier,
        }
    }

    /// Length of the emitted packet (the Length field).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match *self {
                Repr::AuthenticateRequest {
                    peer_id, password, ..
                } => 2 + peer_id.len() + password.len(),
                Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                    1 + message.len()
                }
            }
    }

    /// Writes the packet. Panics if the buffer is shorter than
    /// [`buffer_len`](Self::buffer_len); a field over 255 octets is a
    /// caller bug (see [`emit_into`](Self::emit_into)).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        fn put<'b>(out: &'b mut [u8], field: &[u8]) -> &'b mut [u8] {
            debug_assert!(field.len() <= 255);
            out[0] = field.len() as u8;
            let (f, rest) = out[1..].split_at_mut(field.len());
            f.copy_from_slice(field);
            rest
        }
        let len = self.buffer_len();
        packet.set_code(u8::from(self.code()).into());
        packet.set_identifier(self.identifier());
        packet.set_length(len as u16);
        let data = packet.data_mut();
        match *self {
            Repr::AuthenticateRequest {
                peer_id, password, ..
            } => {
                let rest = put(data, peer_id);
                put(rest, password);
            }
            Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                put(data, message);
            }
        }
    }

    /// Writes the packet into `buf`, returning its length:
    /// [`Error::BufferTooSmall`] if it does not fit, [`Error::Malformed`]
    /// if a field exceeds 255 octets.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<usize> {
        let too_long = match *self {
            Repr::AuthenticateRequest {
                peer_id, password, ..
            } => peer_id.len() > 255 || password.len() > 255,
            Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                message.len() > 255
            }
        };
        if too_long {
            return Err(Error::Malformed);
        }
        let len = self.buffer_len();
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

    // pap capture frame 15: testuser/testpass.
    static REQUEST: [u8; 22] = [
        0x01, 0x01, 0x00, 0x16, 0x08, b't', b'e', b's', b't', b'u', b's', b'e', b'r', 0x08, b't',
        b'e', b's', b't', b'p', b'a', b's', b's',
    ];
    // pap capture frame 16: Authenticate-Ack with an empty message.
    static ACK: [u8; 5] = [0x02, 0x01, 0x00, 0x05, 0x00];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(u8::from(p.code()), 1);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Repr::AuthenticateRequest {
                identifier: 1,
                peer_id: b"testuser",
                password: b"testpass"
            }
        );
        assert_eq!(repr.code(), Code::AuthenticateRequest);
        assert_eq!(repr.identifier(), 1);
        let ack = Repr::parse_bytes(&ACK).unwrap();
        assert_eq!(
            ack,
            Repr::AuthenticateAck {
                identifier: 1,
                message: &[]
            }
        );
        assert_eq!(ack.code(), Code::AuthenticateAck);
    }

    #[test]
    fn construct() {
        let cases: [(Repr, &[u8]); 3] = [
            (
                Repr::AuthenticateRequest {
                    identifier: 1,
                    peer_id: b"testuser",
                    password: b"testpass",
                },
                &REQUEST,
            ),
            (
                Repr::AuthenticateAck {
                    identifier: 1,
                    message: &[],
                },
                &ACK,
            ),
            (
                Repr::AuthenticateNak {
                    identifier: 7,
                    message: b"no",
                },
                &[3, 7, 0, 7, 2, b'n', b'o'],
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
        let repr = Repr::AuthenticateNak {
            identifier: 0,
            message: &long,
        };
        assert_eq!(repr.emit_into(&mut [0u8; 300]), Err(Error::Malformed));
    }

    #[test]
    fn malformed() {
        for n in 0..HEADER_LEN {
            assert_eq!(Repr::parse_bytes(&REQUEST[..n]), Err(Error::Truncated));
        }
        for n in HEADER_LEN..REQUEST.len() {
            assert_eq!(Repr::parse_bytes(&REQUEST[..n]), Err(Error::LengthMismatch));
        }
        // Length cut at every point inside the packet: fields overrun it.
        for length in 4..22u8 {
            let mut b = REQUEST;
            b[3] = length;
            assert_eq!(
                Repr::parse_bytes(&b),
                Err(Error::LengthMismatch),
                "{length}"
            );
        }
        // Peer-ID Length overrunning.
        let mut b = REQUEST;
        b[4] = 20;
        assert_eq!(Repr::parse_bytes(&b), Err(Error::LengthMismatch));
        // Passwd-Length overrunning.
        let mut b = REQUEST;
        b[13] = 9;
        assert_eq!(Repr::parse_bytes(&b), Err(Error::LengthMismatch));
        // Octets after Passwd within Length.
        let mut b = REQUEST;
        b[13] = 7;
        assert_eq!(Repr::parse_bytes(&b), Err(Error::LengthMismatch));
        // Ack without Msg-Length, Ack with a Msg-Length overrunning.
        assert_eq!(Repr::parse_bytes(&[2, 1, 0, 4]), Err(Error::LengthMismatch));
        assert_eq!(
            Repr::parse_bytes(&[2, 1, 0, 5, 1]),
            Err(Error::LengthMismatch)
        );
        assert_eq!(Repr::parse_bytes(&[4, 1, 0, 5, 0]), Err(Error::Malformed));
        // Padding beyond Length is fine.
        assert_eq!(
            Repr::parse_bytes(&[2, 1, 0, 5, 0, 0xee]),
            Ok(Repr::AuthenticateAck {
                identifier: 1,
                message: &[]
            })
        );
    }

    fn strategy() -> impl Strategy<Value = (u8, u8, Vec<u8>, Vec<u8>)> {
        (
            1u8..=3,
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
    }

    fn make(parts: &(u8, u8, Vec<u8>, Vec<u8>)) -> Repr<'_> {
        let (code, identifier, ref a, ref b) = *parts;
        match code {
            1 => Repr::AuthenticateRequest {
                identifier,
                peer_id: a,
                password: b,
            },
            2 => Repr::AuthenticateAck {
                identifier,
                message: a,
            },
            _ => Repr::AuthenticateNak {
                identifier,
                message: a,
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
