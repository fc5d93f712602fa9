//! IPv6CP Configuration Options (RFC 5072 §4; RFC 2472 §4.2 for the
//! IPv6-Compression-Protocol option that RFC 5072 dropped).
//! Packets are [`cp::Repr`](super::cp::Repr) parsed with [`CodeSet::Ncp`].

use super::cp::{CodeSet, ConfigOption, ControlProtocol, EmitOption, RawOption};
use super::frame::Protocol;
use super::lcp::{fixed, split_protocol};
use crate::Result;

enum_with_unknown! {
    /// IPv6CP Configuration Option types.
    pub enum OptionType(u8) {
        /// Interface-Identifier (RFC 5072 §4.1).
        InterfaceIdentifier = 1,
        /// IPv6-Compression-Protocol (RFC 2472 §4.2).
        Ipv6CompressionProtocol = 2,
    }
}

/// Length of an Interface-Identifier (RFC 5072 §4.1).
pub const INTERFACE_IDENTIFIER_LEN: usize = 8;

/// An IPv6CP Configuration Option.
///
/// `Unknown` must not carry type 1 or 2, or it would not parse back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6cpOption<'a> {
    /// Interface-Identifier: the low 64 bits of the link-local address.
    InterfaceIdentifier([u8; INTERFACE_IDENTIFIER_LEN]),
    /// IPv6-Compression-Protocol: protocol and raw data (Length >= 4).
    Ipv6CompressionProtocol { protocol: Protocol, data: &'a [u8] },
    /// Any other option, kept raw.
    Unknown { option_type: u8, data: &'a [u8] },
}

impl<'a> ConfigOption<'a> for Ipv6cpOption<'a> {
    fn parse(option: RawOption<'a>) -> Result<Self> {
        let data = option.data;
        Ok(match OptionType::from(option.option_type) {
            OptionType::InterfaceIdentifier => Ipv6cpOption::InterfaceIdentifier(fixed(data)?),
            OptionType::Ipv6CompressionProtocol => {
                let (protocol, data) = split_protocol(data)?;
                Ipv6cpOption::Ipv6CompressionProtocol { protocol, data }
            }
            OptionType::Unknown(option_type) => Ipv6cpOption::Unknown { option_type, data },
        })
    }
}

impl EmitOption for Ipv6cpOption<'_> {
    fn option_type(&self) -> u8 {
        match *self {
            Ipv6cpOption::InterfaceIdentifier(_) => OptionType::InterfaceIdentifier.into(),
            Ipv6cpOption::Ipv6CompressionProtocol { .. } => {
                OptionType::Ipv6CompressionProtocol.into()
            }
            Ipv6cpOption::Unknown { option_type, .. } => option_type,
        }
    }

    fn data_len(&self) -> usize {
        match *self {
            Ipv6cpOption::InterfaceIdentifier(_) => INTERFACE_IDENTIFIER_LEN,
            Ipv6cpOption::Ipv6CompressionProtocol { data, .. } => 2 + data.len(),
            Ipv6cpOption::Unknown { data, .. } => data.len(),
        }
    }

    fn emit_data(&self, out: &mut [u8]) {
        match *self {
            Ipv6cpOption::InterfaceIdentifier(id) => out.copy_from_slice(&id),
            Ipv6cpOption::Ipv6CompressionProtocol { protocol, data } => {
                out[..2].copy_from_slice(&u16::from(protocol).to_be_bytes());
                out[2..].copy_from_slice(data);
            }
            Ipv6cpOption::Unknown { data, .. } => out.copy_from_slice(data),
        }
    }
}

/// IPv6CP (RFC 5072), for code generic over control protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipv6cp;

impl ControlProtocol for Ipv6cp {
    const PROTOCOL: Protocol = Protocol::Ipv6cp;
    const CODES: CodeSet = CodeSet::Ncp;
    type OptionRepr<'a> = Ipv6cpOption<'a>;
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ppp::cp::test::{bytes, make_repr, plausible, repr_parts};
    use crate::ppp::cp::{emit_configure, Code, OptionIter, Packet, Repr};
    use crate::Error;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const IID: [u8; 8] = [0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
    // Configure-Request with an Interface-Identifier (RFC 5072 §4.1 layout).
    static REQ: [u8; 14] = [
        0x01, 0x05, 0x00, 0x0e, 0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    ];

    #[test]
    fn deconstruct() {
        let repr = Ipv6cp::parse(&REQ).unwrap();
        assert_eq!(
            repr,
            Repr::ConfigureRequest {
                identifier: 5,
                options: &REQ[4..]
            }
        );
        let o: Vec<_> = repr.options::<Ipv6cpOption>().collect();
        assert_eq!(o, [Ok(Ipv6cpOption::InterfaceIdentifier(IID))]);
        // LCP-only codes are unknown to IPv6CP (to be Code-Rejected).
        let echo = [9, 1, 0, 8, 0, 0, 0, 0];
        assert_eq!(
            Ipv6cp::parse(&echo),
            Ok(Repr::Unknown {
                code: 9,
                identifier: 1,
                data: &[0, 0, 0, 0]
            })
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 16];
        let n = emit_configure(
            Code::ConfigureRequest,
            5,
            [Ipv6cpOption::InterfaceIdentifier(IID)],
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..n], &REQ);
        assert_eq!(&buf[n..], &[0xa5, 0xa5]);

        let cases: [(Ipv6cpOption, &[u8]); 2] = [
            (
                Ipv6cpOption::Ipv6CompressionProtocol {
                    protocol: Protocol::Unknown(0x004f),
                    data: &[0, 15],
                },
                &[2, 6, 0x00, 0x4f, 0, 15],
            ),
            (
                Ipv6cpOption::Unknown {
                    option_type: 3,
                    data: &[],
                },
                &[3, 2],
            ),
        ];
        for (opt, bytes) in cases {
            let mut buf = [0xa5u8; 8];
            opt.emit(&mut buf);
            assert_eq!(&buf[..bytes.len()], bytes);
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5));
            let parsed: Vec<_> = OptionIter::<Ipv6cpOption>::new(bytes).collect();
            assert_eq!(parsed, [Ok(opt)]);
        }
    }

    #[test]
    fn malformed() {
        let bad: [&[u8]; 4] = [&[1, 9, 0, 0, 0, 0, 0, 0, 0], &[1, 2], &[2, 3, 0], &[2, 2]];
        for b in bad {
            let parsed: Vec<_> = OptionIter::<Ipv6cpOption>::new(b).collect();
            assert_eq!(parsed, [Err(Error::Malformed)], "{b:?}");
        }
        for n in 0..4 {
            assert_eq!(Ipv6cp::parse(&REQ[..n]), Err(Error::Truncated));
        }
        for n in 4..REQ.len() {
            assert_eq!(Ipv6cp::parse(&REQ[..n]), Err(Error::LengthMismatch));
        }
        // Length shortened into the option: its Length overruns.
        let mut b = REQ;
        b[3] = 13;
        assert_eq!(Ipv6cp::parse(&b), Err(Error::LengthMismatch));
    }

    fn ipv6cp_option() -> impl Strategy<Value = (u8, [u8; 8], u16, Vec<u8>)> {
        (0u8..3, any::<[u8; 8]>(), any::<u16>(), bytes(12))
    }

    fn make_option(parts: &(u8, [u8; 8], u16, Vec<u8>)) -> Ipv6cpOption<'_> {
        let (kind, iid, p, ref data) = *parts;
        match kind {
            0 => Ipv6cpOption::InterfaceIdentifier(iid),
            1 => Ipv6cpOption::Ipv6CompressionProtocol {
                protocol: Protocol::from(p),
                data,
            },
            _ => Ipv6cpOption::Unknown {
                option_type: (p as u8).max(3),
                data,
            },
        }
    }

    proptest! {
        #[test]
        fn option_roundtrip(parts in ipv6cp_option()) {
            let opt = make_option(&parts);
            let mut buf = vec![0xa5u8; opt.buffer_len()];
            opt.emit(&mut buf);
            let parsed: Vec<_> = OptionIter::<Ipv6cpOption>::new(&buf).collect();
            prop_assert_eq!(parsed, [Ok(opt)]);
        }

        #[test]
        fn configure_roundtrip(
            code in 1u8..=4,
            id in any::<u8>(),
            parts in proptest::collection::vec(ipv6cp_option(), 0..6),
        ) {
            let opts: Vec<_> = parts.iter().map(make_option).collect();
            let mut buf = vec![0xa5u8; 300];
            let n = emit_configure(Code::from(code), id, &opts, &mut buf).unwrap();
            let repr = Ipv6cp::parse(&buf[..n]).unwrap();
            let back: Vec<_> = repr.options::<Ipv6cpOption>().map(Result::unwrap).collect();
            prop_assert_eq!(back, opts);
        }

        #[test]
        fn packet_roundtrip(parts in repr_parts()) {
            let repr = make_repr(&parts, CodeSet::Ncp);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Ipv6cp::parse(&buf), Ok(repr));
        }

        #[test]
        fn parse_never_panics(bytes in bytes(256)) {
            // Every option that decodes re-emits to its exact bytes.
            let mut rest = &bytes[..];
            for raw in OptionIter::<RawOption>::new(&bytes) {
                let Ok(raw) = raw else { break };
                let len = raw.buffer_len();
                if let Ok(o) = Ipv6cpOption::parse(raw) {
                    let mut out = vec![0u8; o.buffer_len()];
                    o.emit(&mut out);
                    prop_assert_eq!(&out[..], &rest[..len]);
                }
                rest = &rest[len..];
            }
            let _ = Ipv6cp::parse(&plausible(&bytes)).map(|r| r.options::<Ipv6cpOption>().count());
        }
    }
}
