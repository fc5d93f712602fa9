//! IPCP Configuration Options (RFC 1332 §3, RFC 1877 §1).
//! Packets are [`cp::Repr`](super::cp::Repr) parsed with [`CodeSet::Ncp`].

use core::net::Ipv4Addr;

use super::cp::{CodeSet, ConfigOption, ControlProtocol, EmitOption, RawOption};
use super::frame::Protocol;
use super::lcp::{fixed, split_protocol};
use crate::Result;

enum_with_unknown! {
    /// IPCP Configuration Option types.
    pub enum OptionType(u8) {
        /// IP-Addresses, deprecated (RFC 1332 §3.1, RFC 1172 §5.1).
        IpAddresses = 1,
        /// IP-Compression-Protocol (RFC 1332 §3.2).
        IpCompressionProtocol = 2,
        /// IP-Address (RFC 1332 §3.3).
        IpAddress = 3,
        /// Primary-DNS-Server-Address (RFC 1877 §1.1).
        PrimaryDns = 129,
        /// Primary-NBNS-Server-Address (RFC 1877 §1.2).
        PrimaryNbns = 130,
        /// Secondary-DNS-Server-Address (RFC 1877 §1.3).
        SecondaryDns = 131,
        /// Secondary-NBNS-Server-Address (RFC 1877 §1.4).
        SecondaryNbns = 132,
    }
}

/// The IP-Compression-Protocol option's value (RFC 1332 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpCompressionProtocol<'a> {
    /// Van Jacobson compressed TCP/IP, 0x002d (RFC 1332 §4.1; Length 6).
    VanJacobson { max_slot_id: u8, comp_slot_id: u8 },
    /// Any other protocol (e.g. IPHC, RFC 2509), data kept raw. Not for VJ.
    Other { protocol: Protocol, data: &'a [u8] },
}

/// An IPCP Configuration Option.
///
/// `Unknown` must not carry a type named here, or it would not parse back
/// the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpcpOption<'a> {
    /// IP-Addresses (deprecated): source then destination address.
    IpAddresses {
        source: Ipv4Addr,
        destination: Ipv4Addr,
    },
    /// IP-Compression-Protocol.
    IpCompressionProtocol(IpCompressionProtocol<'a>),
    /// IP-Address (0.0.0.0 in a request asks the peer to assign one).
    IpAddress(Ipv4Addr),
    /// Primary-DNS-Server-Address.
    PrimaryDns(Ipv4Addr),
    /// Primary-NBNS-Server-Address.
    PrimaryNbns(Ipv4Addr),
    /// Secondary-DNS-Server-Address.
    SecondaryDns(Ipv4Addr),
    /// Secondary-NBNS-Server-Address.
    SecondaryNbns(Ipv4Addr),
    /// Any other option, kept raw.
    Unknown { option_type: u8, data: &'a [u8] },
}

fn addr(data: &[u8]) -> Result<Ipv4Addr> {
    fixed::<4>(data).map(Ipv4Addr::from)
}

impl<'a> ConfigOption<'a> for IpcpOption<'a> {
    fn parse(option: RawOption<'a>) -> Result<Self> {
        let data = option.data;
        Ok(match OptionType::from(option.option_type) {
            OptionType::IpAddresses => {
                let both = fixed::<8>(data)?;
                let (source, destination) = both.split_at(4);
                IpcpOption::IpAddresses {
                    source: addr(source)?,
                    destination: addr(destination)?,
                }
            }
            OptionType::IpCompressionProtocol => {
                let compression = match split_protocol(data)? {
                    (Protocol::VjCompressedTcp, slots) => {
                        let [max_slot_id, comp_slot_id] = fixed(slots)?;
                        IpCompressionProtocol::VanJacobson {
                            max_slot_id,
                            comp_slot_id,
                        }
                    }
                    (protocol, data) => IpCompressionProtocol::Other { protocol, data },
                };
                IpcpOption::IpCompressionProtocol(compression)
            }
            OptionType::IpAddress => IpcpOption::IpAddress(addr(data)?),
            OptionType::PrimaryDns => IpcpOption::PrimaryDns(addr(data)?),
            OptionType::PrimaryNbns => IpcpOption::PrimaryNbns(addr(data)?),
            OptionType::SecondaryDns => IpcpOption::SecondaryDns(addr(data)?),
            OptionType::SecondaryNbns => IpcpOption::SecondaryNbns(addr(data)?),
            OptionType::Unknown(option_type) => IpcpOption::Unknown { option_type, data },
        })
    }
}

impl EmitOption for IpcpOption<'_> {
    fn option_type(&self) -> u8 {
        let t = match *self {
            IpcpOption::IpAddresses { .. } => OptionType::IpAddresses,
            IpcpOption::IpCompressionProtocol(_) => OptionType::IpCompressionProtocol,
            IpcpOption::IpAddress(_) => OptionType::IpAddress,
            IpcpOption::PrimaryDns(_) => OptionType::PrimaryDns,
            IpcpOption::PrimaryNbns(_) => OptionType::PrimaryNbns,
            IpcpOption::SecondaryDns(_) => OptionType::SecondaryDns,
            IpcpOption::SecondaryNbns(_) => OptionType::SecondaryNbns,
            IpcpOption::Unknown { option_type, .. } => return option_type,
        };
        t.into()
    }

    fn data_len(&self) -> usize {
        match *self {
            IpcpOption::IpAddresses { .. } => 8,
            IpcpOption::IpCompressionProtocol(IpCompressionProtocol::VanJacobson { .. }) => 4,
            IpcpOption::IpCompressionProtocol(IpCompressionProtocol::Other { data, .. }) => {
                2 + data.len()
            }
            IpcpOption::IpAddress(_)
            | IpcpOption::PrimaryDns(_)
            | IpcpOption::PrimaryNbns(_)
            | IpcpOption::SecondaryDns(_)
            | IpcpOption::SecondaryNbns(_) => 4,
            IpcpOption::Unknown { data, .. } => data.len(),
        }
    }

    fn emit_data(&self, out: &mut [u8]) {
        match *self {
            IpcpOption::IpAddresses {
                source,
                destination,
            } => {
                out[..4].copy_from_slice(&source.octets());
                out[4..].copy_from_slice(&destination.octets());
            }
            IpcpOption::IpCompressionProtocol(IpCompressionProtocol::VanJacobson {
                max_slot_id,
                comp_slot_id,
            }) => {
                out[..2].copy_from_slice(&u16::from(Protocol::VjCompressedTcp).to_be_bytes());
                out[2] = max_slot_id;
                out[3] = comp_slot_id;
            }
            IpcpOption::IpCompressionProtocol(IpCompressionProtocol::Other { protocol, data }) => {
                out[..2].copy_from_slice(&u16::from(protocol).to_be_bytes());
                out[2..].copy_from_slice(data);
            }
            IpcpOption::IpAddress(a)
            | IpcpOption::PrimaryDns(a)
            | IpcpOption::PrimaryNbns(a)
            | IpcpOption::SecondaryDns(a)
            | IpcpOption::SecondaryNbns(a) => out.copy_from_slice(&a.octets()),
            IpcpOption::Unknown { data, .. } => out.copy_from_slice(data),
        }
    }
}

/// IPCP (RFC 1332), for code generic over control protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipcp;

impl ControlProtocol for Ipcp {
    const PROTOCOL: Protocol = Protocol::Ipcp;
    const CODES: CodeSet = CodeSet::Ncp;
    type OptionRepr<'a> = IpcpOption<'a>;
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

    // chap capture frame 18: l2tpns's IPCP Configure-Request (its address).
    static LNS_REQ: [u8; 10] = [0x01, 0x02, 0x00, 0x0a, 0x03, 0x06, 0xc6, 0x12, 0x00, 0x01];
    // chap capture frame 19: the LAC asks for an address and a DNS server.
    static LAC_REQ: [u8; 16] = [
        0x01, 0x01, 0x00, 0x10, 0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0,
    ];
    // chap capture frame 20: l2tpns naks with 198.18.1.1 and DNS 198.18.1.53.
    static LNS_NAK: [u8; 16] = [
        0x03, 0x01, 0x00, 0x10, 0x03, 0x06, 0xc6, 0x12, 0x01, 0x01, 0x81, 0x06, 0xc6, 0x12, 0x01,
        0x35,
    ];
    // chap capture frame 23: l2tpns acks the LAC's second request.
    static LNS_ACK: [u8; 16] = [
        0x02, 0x02, 0x00, 0x10, 0x03, 0x06, 0xc6, 0x12, 0x01, 0x01, 0x81, 0x06, 0xc6, 0x12, 0x01,
        0x35,
    ];

    fn opts(packet: &[u8]) -> (Repr<'_>, Vec<IpcpOption<'_>>) {
        let repr = Ipcp::parse(packet).unwrap();
        let opts = repr.options::<IpcpOption>().map(Result::unwrap).collect();
        (repr, opts)
    }

    #[test]
    fn deconstruct() {
        let (repr, o) = opts(&LNS_REQ);
        assert_eq!(
            (repr.code(), repr.identifier()),
            (Code::ConfigureRequest, 2)
        );
        assert_eq!(o, [IpcpOption::IpAddress(Ipv4Addr::new(198, 18, 0, 1))]);

        let (repr, o) = opts(&LAC_REQ);
        assert_eq!(
            (repr.code(), repr.identifier()),
            (Code::ConfigureRequest, 1)
        );
        assert_eq!(
            o,
            [
                IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED)
            ]
        );

        let nak = [
            IpcpOption::IpAddress(Ipv4Addr::new(198, 18, 1, 1)),
            IpcpOption::PrimaryDns(Ipv4Addr::new(198, 18, 1, 53)),
        ];
        let (repr, o) = opts(&LNS_NAK);
        assert_eq!((repr.code(), repr.identifier()), (Code::ConfigureNak, 1));
        assert_eq!(o, nak);
        let (repr, o) = opts(&LNS_ACK);
        assert_eq!((repr.code(), repr.identifier()), (Code::ConfigureAck, 2));
        assert_eq!(o, nak);
    }

    #[test]
    fn construct() {
        let nak = [
            IpcpOption::IpAddress(Ipv4Addr::new(198, 18, 1, 1)),
            IpcpOption::PrimaryDns(Ipv4Addr::new(198, 18, 1, 53)),
        ];
        let mut buf = [0xa5u8; 20];
        let n = emit_configure(Code::ConfigureNak, 1, &nak, &mut buf).unwrap();
        assert_eq!(&buf[..n], &LNS_NAK);
        assert!(buf[n..].iter().all(|&b| b == 0xa5));

        let mut buf = [0xa5u8; 10];
        let n = emit_configure(
            Code::ConfigureRequest,
            2,
            [IpcpOption::IpAddress(Ipv4Addr::new(198, 18, 0, 1))],
            &mut buf,
        )
        .unwrap();
        assert_eq!((n, buf), (10, LNS_REQ));
    }

    #[test]
    fn construct_each_option() {
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let b = Ipv4Addr::new(198, 18, 0, 2);
        let cases: [(IpcpOption, &[u8]); 9] = [
            (
                IpcpOption::IpAddresses {
                    source: a,
                    destination: b,
                },
                &[1, 10, 198, 18, 0, 1, 198, 18, 0, 2],
            ),
            (
                IpcpOption::IpCompressionProtocol(IpCompressionProtocol::VanJacobson {
                    max_slot_id: 15,
                    comp_slot_id: 1,
                }),
                &[2, 6, 0x00, 0x2d, 15, 1],
            ),
            (
                IpcpOption::IpCompressionProtocol(IpCompressionProtocol::Other {
                    protocol: Protocol::Unknown(0x0061),
                    data: &[0, 15],
                }),
                &[2, 6, 0x00, 0x61, 0, 15],
            ),
            (IpcpOption::IpAddress(a), &[3, 6, 198, 18, 0, 1]),
            (IpcpOption::PrimaryDns(a), &[129, 6, 198, 18, 0, 1]),
            (IpcpOption::PrimaryNbns(a), &[130, 6, 198, 18, 0, 1]),
            (IpcpOption::SecondaryDns(b), &[131, 6, 198, 18, 0, 2]),
            (IpcpOption::SecondaryNbns(b), &[132, 6, 198, 18, 0, 2]),
            (
                IpcpOption::Unknown {
                    option_type: 4,
                    data: &[1, 2],
                },
                &[4, 4, 1, 2],
            ),
        ];
        for (opt, bytes) in cases {
            let mut buf = [0xa5u8; 12];
            assert_eq!(opt.buffer_len(), bytes.len());
            opt.emit(&mut buf);
            assert_eq!(&buf[..bytes.len()], bytes);
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5));
            let parsed: Vec<_> = OptionIter::<IpcpOption>::new(bytes).collect();
            assert_eq!(parsed, [Ok(opt)]);
        }
    }

    #[test]
    fn wrong_lengths() {
        let bad: [&[u8]; 9] = [
            &[1, 6, 0, 0, 0, 0],
            &[2, 3, 0],
            &[2, 4, 0x00, 0x2d],
            &[2, 7, 0x00, 0x2d, 1, 1, 0],
            &[3, 5, 0, 0, 0],
            &[3, 7, 0, 0, 0, 0, 0],
            &[3, 2],
            &[129, 4, 0, 0],
            &[132, 8, 0, 0, 0, 0, 0, 0],
        ];
        for b in bad {
            let parsed: Vec<_> = OptionIter::<IpcpOption>::new(b).collect();
            assert_eq!(parsed, [Err(Error::Malformed)], "{b:?}");
        }
        // Truncation at each boundary of the LAC's request.
        for n in 0..4 {
            assert_eq!(Ipcp::parse(&LAC_REQ[..n]), Err(Error::Truncated));
        }
        for n in 4..LAC_REQ.len() {
            assert_eq!(Ipcp::parse(&LAC_REQ[..n]), Err(Error::LengthMismatch));
        }
        // Length cut inside an option: framing errors.
        let mut b = LAC_REQ;
        b[3] = 15;
        assert_eq!(Ipcp::parse(&b), Err(Error::LengthMismatch));
        b[3] = 11;
        assert_eq!(Ipcp::parse(&b), Err(Error::Truncated));
    }

    fn ipcp_option() -> impl Strategy<Value = (u8, u32, u32, Vec<u8>)> {
        (0u8..9, any::<u32>(), any::<u32>(), bytes(12))
    }

    fn make_option(parts: &(u8, u32, u32, Vec<u8>)) -> IpcpOption<'_> {
        let (kind, x, y, ref data) = *parts;
        let a = Ipv4Addr::from(x);
        match kind {
            0 => IpcpOption::IpAddresses {
                source: a,
                destination: Ipv4Addr::from(y),
            },
            1 => IpcpOption::IpCompressionProtocol(IpCompressionProtocol::VanJacobson {
                max_slot_id: y as u8,
                comp_slot_id: (y >> 8) as u8,
            }),
            2 => IpcpOption::IpCompressionProtocol(match Protocol::from(y as u16) {
                Protocol::VjCompressedTcp => IpCompressionProtocol::Other {
                    protocol: Protocol::Ipv4,
                    data,
                },
                protocol => IpCompressionProtocol::Other { protocol, data },
            }),
            3 => IpcpOption::IpAddress(a),
            4 => IpcpOption::PrimaryDns(a),
            5 => IpcpOption::PrimaryNbns(a),
            6 => IpcpOption::SecondaryDns(a),
            7 => IpcpOption::SecondaryNbns(a),
            _ => {
                let t = y as u8;
                let t = if matches!(t, 1..=3 | 129..=132) {
                    200
                } else {
                    t
                };
                IpcpOption::Unknown {
                    option_type: t,
                    data,
                }
            }
        }
    }

    proptest! {
        #[test]
        fn option_roundtrip(parts in ipcp_option()) {
            let opt = make_option(&parts);
            let mut buf = vec![0xa5u8; opt.buffer_len()];
            opt.emit(&mut buf);
            let parsed: Vec<_> = OptionIter::<IpcpOption>::new(&buf).collect();
            prop_assert_eq!(parsed, [Ok(opt)]);
        }

        #[test]
        fn configure_roundtrip(
            code in 1u8..=4,
            id in any::<u8>(),
            parts in proptest::collection::vec(ipcp_option(), 0..6),
        ) {
            let opts: Vec<_> = parts.iter().map(make_option).collect();
            let mut buf = vec![0xa5u8; 300];
            let n = emit_configure(Code::from(code), id, &opts, &mut buf).unwrap();
            let repr = Ipcp::parse(&buf[..n]).unwrap();
            prop_assert_eq!(repr.identifier(), id);
            let back: Vec<_> = repr.options::<IpcpOption>().map(Result::unwrap).collect();
            prop_assert_eq!(back, opts);
        }

        #[test]
        fn packet_roundtrip(parts in repr_parts()) {
            let repr = make_repr(&parts, CodeSet::Ncp);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Ipcp::parse(&buf), Ok(repr));
        }

        #[test]
        fn parse_never_panics(bytes in bytes(256)) {
            // Every option that decodes re-emits to its exact bytes.
            let mut rest = &bytes[..];
            for raw in OptionIter::<RawOption>::new(&bytes) {
                let Ok(raw) = raw else { break };
                let len = raw.buffer_len();
                if let Ok(o) = IpcpOption::parse(raw) {
                    let mut out = vec![0u8; o.buffer_len()];
                    o.emit(&mut out);
                    prop_assert_eq!(&out[..], &rest[..len]);
                }
                rest = &rest[len..];
            }
            let _ = Ipcp::parse(&plausible(&bytes)).map(|r| r.options::<IpcpOption>().count());
        }
    }
}
