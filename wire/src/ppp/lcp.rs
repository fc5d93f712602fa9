//! LCP Configuration Options (RFC 1661 §6, RFC 1662 §7.1 for ACCM).
//! Packets are [`cp::Repr`](super::cp::Repr) parsed with [`CodeSet::Lcp`].

use super::chap::Algorithm;
use super::cp::{CodeSet, ConfigOption, ControlProtocol, EmitOption, RawOption};
use super::frame::Protocol;
use crate::{Error, Result};

enum_with_unknown! {
    /// LCP Configuration Option types (RFC 1661 §6 and later RFCs).
    pub enum OptionType(u8) {
        /// Maximum-Receive-Unit (RFC 1661 §6.1).
        MaximumReceiveUnit = 1,
        /// Async-Control-Character-Map (RFC 1662 §7.1).
        AsyncControlCharacterMap = 2,
        /// Authentication-Protocol (RFC 1661 §6.2).
        AuthenticationProtocol = 3,
        /// Quality-Protocol (RFC 1661 §6.3).
        QualityProtocol = 4,
        /// Magic-Number (RFC 1661 §6.4).
        MagicNumber = 5,
        /// Protocol-Field-Compression (RFC 1661 §6.5).
        ProtocolFieldCompression = 7,
        /// Address-and-Control-Field-Compression (RFC 1661 §6.6).
        AddressControlFieldCompression = 8,
        /// Callback (RFC 1570 §2.3); kept raw.
        Callback = 13,
        /// Multilink MRRU (RFC 1990 §5.1.1); kept raw.
        Mrru = 17,
        /// Multilink Short-Sequence-Number-Header-Format (RFC 1990 §5.1.2); kept raw.
        ShortSequenceNumber = 18,
        /// Endpoint-Discriminator (RFC 1990 §5.1.3); kept raw.
        EndpointDiscriminator = 19,
    }
}

/// The Authentication-Protocol option's value (RFC 1661 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthenticationProtocol<'a> {
    /// PAP, 0xc023, no data (RFC 1334 §3.1).
    Pap,
    /// CHAP, 0xc223, with its Algorithm octet (RFC 1994 §3; 0x81 is
    /// MS-CHAPv2, RFC 2759 §2).
    Chap(Algorithm),
    /// Any other protocol (EAP, ...), data kept raw. Not for PAP or CHAP.
    Other { protocol: Protocol, data: &'a [u8] },
}

/// The Quality-Protocol option's value (RFC 1661 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualityProtocol<'a> {
    /// Link Quality Report, 0xc025, with its Reporting-Period in hundredths
    /// of a second (RFC 1989 §2.5).
    Lqr { reporting_period: u32 },
    /// Any other protocol, data kept raw. Not for LQR.
    Other { protocol: Protocol, data: &'a [u8] },
}

/// An LCP Configuration Option.
///
/// `Unknown` must not carry a type named here (1–5, 7, 8), or it would not
/// parse back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LcpOption<'a> {
    /// Maximum-Receive-Unit.
    MaximumReceiveUnit(u16),
    /// Async-Control-Character-Map.
    AsyncControlCharacterMap(u32),
    /// Authentication-Protocol.
    AuthenticationProtocol(AuthenticationProtocol<'a>),
    /// Quality-Protocol.
    QualityProtocol(QualityProtocol<'a>),
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    ProtocolFieldCompression,
    /// Address-and-Control-Field-Compression.
    AddressControlFieldCompression,
    /// Any other option, kept raw.
    Unknown { option_type: u8, data: &'a [u8] },
}

/// Splits a leading protocol number off an option's data, or
/// [`Error::Malformed`] (the option's Length is below 4).
pub(crate) fn split_protocol(data: &[u8]) -> Result<(Protocol, &[u8])> {
    let (p, rest) = data.split_first_chunk::<2>().ok_or(Error::Malformed)?;
    Ok((Protocol::from(u16::from_be_bytes(*p)), rest))
}

/// The data as exactly `N` octets, or [`Error::Malformed`].
pub(crate) fn fixed<const N: usize>(data: &[u8]) -> Result<[u8; N]> {
    data.try_into().map_err(|_| Error::Malformed)
}

impl<'a> ConfigOption<'a> for LcpOption<'a> {
    fn parse(option: RawOption<'a>) -> Result<Self> {
        let data = option.data;
        Ok(match OptionType::from(option.option_type) {
            OptionType::MaximumReceiveUnit => {
                LcpOption::MaximumReceiveUnit(u16::from_be_bytes(fixed(data)?))
            }
            OptionType::AsyncControlCharacterMap => {
                LcpOption::AsyncControlCharacterMap(u32::from_be_bytes(fixed(data)?))
            }
            OptionType::AuthenticationProtocol => {
                let auth = match split_protocol(data)? {
                    (Protocol::Pap, []) => AuthenticationProtocol::Pap,
                    (Protocol::Chap, &[algorithm]) => {
                        AuthenticationProtocol::Chap(Algorithm::from(algorithm))
                    }
                    (Protocol::Pap | Protocol::Chap, _) => return Err(Error::Malformed),
                    (protocol, data) => AuthenticationProtocol::Other { protocol, data },
                };
                LcpOption::AuthenticationProtocol(auth)
            }
            OptionType::QualityProtocol => {
                let quality = match split_protocol(data)? {
                    (Protocol::Lqr, period) => QualityProtocol::Lqr {
                        reporting_period: u32::from_be_bytes(fixed(period)?),
                    },
                    (protocol, data) => QualityProtocol::Other { protocol, data },
                };
                LcpOption::QualityProtocol(quality)
            }
            OptionType::MagicNumber => LcpOption::MagicNumber(u32::from_be_bytes(fixed(data)?)),
            OptionType::ProtocolFieldCompression => {
                fixed::<0>(data)?;
                LcpOption::ProtocolFieldCompression
            }
            OptionType::AddressControlFieldCompression => {
                fixed::<0>(data)?;
                LcpOption::AddressControlFieldCompression
            }
            _ => LcpOption::Unknown {
                option_type: option.option_type,
                data,
            },
        })
    }
}

impl EmitOption for LcpOption<'_> {
    fn option_type(&self) -> u8 {
        match *self {
            LcpOption::MaximumReceiveUnit(_) => OptionType::MaximumReceiveUnit.into(),
            LcpOption::AsyncControlCharacterMap(_) => OptionType::AsyncControlCharacterMap.into(),
            LcpOption::AuthenticationProtocol(_) => OptionType::AuthenticationProtocol.into(),
            LcpOption::QualityProtocol(_) => OptionType::QualityProtocol.into(),
            LcpOption::MagicNumber(_) => OptionType::MagicNumber.into(),
            LcpOption::ProtocolFieldCompression => OptionType::ProtocolFieldCompression.into(),
            LcpOption::AddressControlFieldCompression => {
                OptionType::AddressControlFieldCompression.into()
            }
            LcpOption::Unknown { option_type, .. } => option_type,
        }
    }

    fn data_len(&self) -> usize {
        match *self {
            LcpOption::MaximumReceiveUnit(_) => 2,
            LcpOption::AsyncControlCharacterMap(_) | LcpOption::MagicNumber(_) => 4,
            LcpOption::AuthenticationProtocol(auth) => match auth {
                AuthenticationProtocol::Pap => 2,
                AuthenticationProtocol::Chap(_) => 3,
                AuthenticationProtocol::Other { data, .. } => 2 + data.len(),
            },
            LcpOption::QualityProtocol(quality) => match quality {
                QualityProtocol::Lqr { .. } => 6,
                QualityProtocol::Other { data, .. } => 2 + data.len(),
            },
            LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => 0,
            LcpOption::Unknown { data, .. } => data.len(),
        }
    }

    fn emit_data(&self, out: &mut [u8]) {
        match *self {
            LcpOption::MaximumReceiveUnit(mru) => out.copy_from_slice(&mru.to_be_bytes()),
            LcpOption::AsyncControlCharacterMap(v) | LcpOption::MagicNumber(v) => {
                out.copy_from_slice(&v.to_be_bytes())
            }
            LcpOption::AuthenticationProtocol(auth) => match auth {
                AuthenticationProtocol::Pap => {
                    out.copy_from_slice(&u16::from(Protocol::Pap).to_be_bytes())
                }
                AuthenticationProtocol::Chap(algorithm) => {
                    out[..2].copy_from_slice(&u16::from(Protocol::Chap).to_be_bytes());
                    out[2] = algorithm.into();
                }
                AuthenticationProtocol::Other { protocol, data } => {
                    out[..2].copy_from_slice(&u16::from(protocol).to_be_bytes());
                    out[2..].copy_from_slice(data);
                }
            },
            LcpOption::QualityProtocol(quality) => match quality {
                QualityProtocol::Lqr { reporting_period } => {
                    out[..2].copy_from_slice(&u16::from(Protocol::Lqr).to_be_bytes());
                    out[2..].copy_from_slice(&reporting_period.to_be_bytes());
                }
                QualityProtocol::Other { protocol, data } => {
                    out[..2].copy_from_slice(&u16::from(protocol).to_be_bytes());
                    out[2..].copy_from_slice(data);
                }
            },
            LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => {}
            LcpOption::Unknown { data, .. } => out.copy_from_slice(data),
        }
    }
}

/// LCP (RFC 1661), for code generic over control protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lcp;

impl ControlProtocol for Lcp {
    const PROTOCOL: Protocol = Protocol::Lcp;
    const CODES: CodeSet = CodeSet::Lcp;
    type OptionRepr<'a> = LcpOption<'a>;
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ppp::cp::test::{bytes, make_repr, plausible, repr_parts};
    use crate::ppp::cp::{emit_configure, Code, OptionIter, Packet, Repr};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // chap capture frame 11: l2tpns's LCP Configure-Request (PPP payload).
    static LNS_CHAP_REQ: [u8; 30] = [
        0x01, 0x01, 0x00, 0x1e, 0x01, 0x04, 0x05, 0xb6, 0x03, 0x05, 0xc2, 0x23, 0x05, 0x05, 0x06,
        0x6b, 0x02, 0x51, 0x65, 0x11, 0x04, 0x06, 0x4e, 0x13, 0x07, 0x02, 0xc6, 0x12, 0x00, 0x01,
    ];
    // chap capture frame 13: l2tpns acks the LAC's request (frame 12).
    static LNS_ACK: [u8; 14] = [
        0x02, 0x01, 0x00, 0x0e, 0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0xdd, 0xec, 0x33, 0x3b,
    ];
    // pap capture frame 12: l2tpns's LCP Configure-Request asking for PAP.
    static LNS_PAP_REQ: [u8; 29] = [
        0x01, 0x01, 0x00, 0x1d, 0x01, 0x04, 0x05, 0xb6, 0x03, 0x04, 0xc0, 0x23, 0x05, 0x06, 0x6b,
        0x02, 0x51, 0x5f, 0x11, 0x04, 0x06, 0x4e, 0x13, 0x07, 0x02, 0xc6, 0x12, 0x00, 0x01,
    ];

    fn chap_req_options() -> [LcpOption<'static>; 5] {
        [
            LcpOption::MaximumReceiveUnit(1462),
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(Algorithm::Md5)),
            LcpOption::MagicNumber(0x6b025165),
            LcpOption::Unknown {
                option_type: 17,
                data: &[0x06, 0x4e],
            },
            LcpOption::Unknown {
                option_type: 19,
                data: &[0x02, 0xc6, 0x12, 0x00, 0x01],
            },
        ]
    }

    #[test]
    fn deconstruct_chap_request() {
        let repr = Lcp::parse(&LNS_CHAP_REQ).unwrap();
        assert_eq!(
            repr,
            Repr::ConfigureRequest {
                identifier: 1,
                options: &LNS_CHAP_REQ[4..]
            }
        );
        let opts: Vec<_> = repr.options::<LcpOption>().map(Result::unwrap).collect();
        assert_eq!(opts, chap_req_options());
        assert_eq!(OptionType::from(opts[3].option_type()), OptionType::Mrru);
        assert_eq!(
            OptionType::from(opts[4].option_type()),
            OptionType::EndpointDiscriminator
        );
    }

    #[test]
    fn deconstruct_ack_and_pap_request() {
        let repr = Lcp::parse(&LNS_ACK).unwrap();
        assert_eq!(repr.code(), Code::ConfigureAck);
        let opts: Vec<_> = repr.options::<LcpOption>().map(Result::unwrap).collect();
        assert_eq!(
            opts,
            [
                LcpOption::MaximumReceiveUnit(1400),
                LcpOption::MagicNumber(0xddec333b)
            ]
        );
        let repr = Lcp::parse(&LNS_PAP_REQ).unwrap();
        let opts: Vec<_> = repr.options::<LcpOption>().map(Result::unwrap).collect();
        assert_eq!(
            opts[1],
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap)
        );
        assert_eq!(opts[2], LcpOption::MagicNumber(0x6b02515f));
        assert_eq!(opts.len(), 5);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 40];
        let n = emit_configure(Code::ConfigureRequest, 1, &chap_req_options(), &mut buf).unwrap();
        assert_eq!(&buf[..n], &LNS_CHAP_REQ);
        assert!(buf[n..].iter().all(|&b| b == 0xa5));

        // Ack by echoing the received options verbatim.
        let req = Lcp::parse(&LNS_CHAP_REQ).unwrap();
        let ack = Repr::ConfigureAck {
            identifier: req.identifier(),
            options: req.options_bytes(),
        };
        let mut buf = [0xa5u8; 30];
        ack.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let mut expected = LNS_CHAP_REQ;
        expected[0] = 2;
        assert_eq!(buf, expected);
    }

    #[test]
    fn construct_each_option() {
        let cases: [(LcpOption, &[u8]); 11] = [
            (LcpOption::MaximumReceiveUnit(1500), &[1, 4, 0x05, 0xdc]),
            (LcpOption::AsyncControlCharacterMap(0), &[2, 6, 0, 0, 0, 0]),
            (
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
                &[3, 4, 0xc0, 0x23],
            ),
            (
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(
                    Algorithm::MsChapV2,
                )),
                &[3, 5, 0xc2, 0x23, 0x81],
            ),
            (
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Other {
                    protocol: Protocol::Unknown(0xc227),
                    data: &[],
                }),
                &[3, 4, 0xc2, 0x27],
            ),
            (
                LcpOption::QualityProtocol(QualityProtocol::Lqr {
                    reporting_period: 1000,
                }),
                &[4, 8, 0xc0, 0x25, 0, 0, 0x03, 0xe8],
            ),
            (
                LcpOption::QualityProtocol(QualityProtocol::Other {
                    protocol: Protocol::Unknown(0xc02b),
                    data: &[9],
                }),
                &[4, 5, 0xc0, 0x2b, 9],
            ),
            (LcpOption::MagicNumber(0x01020304), &[5, 6, 1, 2, 3, 4]),
            (LcpOption::ProtocolFieldCompression, &[7, 2]),
            (LcpOption::AddressControlFieldCompression, &[8, 2]),
            (
                LcpOption::Unknown {
                    option_type: 13,
                    data: &[6],
                },
                &[13, 3, 6],
            ),
        ];
        for (opt, bytes) in cases {
            let mut buf = [0xa5u8; 12];
            assert_eq!(opt.buffer_len(), bytes.len());
            opt.emit(&mut buf);
            assert_eq!(&buf[..bytes.len()], bytes);
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5));
            let parsed: Vec<_> = OptionIter::<LcpOption>::new(bytes).collect();
            assert_eq!(parsed, [Ok(opt)]);
        }
    }

    #[test]
    fn wrong_lengths() {
        let bad: [&[u8]; 14] = [
            &[1, 3, 5],
            &[1, 5, 5, 0xdc, 0],
            &[2, 5, 0, 0, 0],
            &[3, 2],
            &[3, 3, 0xc0],
            &[3, 5, 0xc0, 0x23, 0],
            &[3, 4, 0xc2, 0x23],
            &[3, 6, 0xc2, 0x23, 5, 0],
            &[4, 3, 0xc0],
            &[4, 7, 0xc0, 0x25, 0, 0, 0],
            &[5, 2],
            &[5, 7, 0, 0, 0, 0, 0],
            &[7, 3, 0],
            &[8, 4, 0, 0],
        ];
        for b in bad {
            let parsed: Vec<_> = OptionIter::<LcpOption>::new(b).collect();
            assert_eq!(parsed, [Err(Error::Malformed)], "{b:?}");
        }
        // A bad option ends the typed iteration; raw iteration goes on.
        let list = [1, 3, 5, 7, 2];
        assert_eq!(OptionIter::<LcpOption>::new(&list).count(), 1);
        let raw: Vec<_> = OptionIter::<RawOption>::new(&list)
            .map(|r| LcpOption::parse(r.unwrap()))
            .collect();
        assert_eq!(
            raw,
            [
                Err(Error::Malformed),
                Ok(LcpOption::ProtocolFieldCompression)
            ]
        );
    }

    fn protocol() -> impl Strategy<Value = Protocol> {
        any::<u16>().prop_map(Protocol::from)
    }

    fn lcp_option() -> impl Strategy<Value = (u8, u32, Protocol, Vec<u8>)> {
        (0u8..10, any::<u32>(), protocol(), bytes(12))
    }

    fn make_option(parts: &(u8, u32, Protocol, Vec<u8>)) -> LcpOption<'_> {
        let (kind, v, protocol, ref data) = *parts;
        match kind {
            0 => LcpOption::MaximumReceiveUnit(v as u16),
            1 => LcpOption::AsyncControlCharacterMap(v),
            2 => LcpOption::AuthenticationProtocol(match v % 3 {
                0 => AuthenticationProtocol::Pap,
                1 => AuthenticationProtocol::Chap(Algorithm::from(v as u8)),
                _ if matches!(protocol, Protocol::Pap | Protocol::Chap) => {
                    AuthenticationProtocol::Pap
                }
                _ => AuthenticationProtocol::Other { protocol, data },
            }),
            3 => LcpOption::QualityProtocol(match protocol {
                Protocol::Lqr => QualityProtocol::Lqr {
                    reporting_period: v,
                },
                _ => QualityProtocol::Other { protocol, data },
            }),
            4 => LcpOption::MagicNumber(v),
            5 => LcpOption::ProtocolFieldCompression,
            6 => LcpOption::AddressControlFieldCompression,
            _ => {
                let t = v as u8;
                let t = if matches!(t, 1..=5 | 7 | 8) {
                    t + 100
                } else {
                    t
                };
                LcpOption::Unknown {
                    option_type: t,
                    data,
                }
            }
        }
    }

    proptest! {
        #[test]
        fn option_roundtrip(parts in lcp_option()) {
            let opt = make_option(&parts);
            let mut buf = vec![0xa5u8; opt.buffer_len()];
            opt.emit(&mut buf);
            let parsed: Vec<_> = OptionIter::<LcpOption>::new(&buf).collect();
            prop_assert_eq!(parsed, [Ok(opt)]);
        }

        #[test]
        fn configure_roundtrip(
            code in 1u8..=4,
            id in any::<u8>(),
            parts in proptest::collection::vec(lcp_option(), 0..6),
        ) {
            let opts: Vec<_> = parts.iter().map(make_option).collect();
            let mut buf = vec![0xa5u8; 300];
            let n = emit_configure(Code::from(code), id, &opts, &mut buf).unwrap();
            let repr = Lcp::parse(&buf[..n]).unwrap();
            prop_assert_eq!(repr.code(), Code::from(code));
            prop_assert_eq!(repr.identifier(), id);
            let back: Vec<_> = repr.options::<LcpOption>().map(Result::unwrap).collect();
            prop_assert_eq!(back, opts);
            let mut again = vec![0u8; repr.buffer_len()];
            prop_assert_eq!(repr.emit_into(&mut again), Ok(n));
            prop_assert_eq!(&again[..], &buf[..n]);
        }

        #[test]
        fn packet_roundtrip(parts in repr_parts()) {
            let repr = make_repr(&parts, CodeSet::Lcp);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(Lcp::parse(&buf), Ok(repr));
        }

        #[test]
        fn parse_never_panics(bytes in bytes(256)) {
            // Every option that decodes re-emits to its exact bytes.
            let mut rest = &bytes[..];
            for raw in OptionIter::<RawOption>::new(&bytes) {
                let Ok(raw) = raw else { break };
                let len = raw.buffer_len();
                if let Ok(o) = LcpOption::parse(raw) {
                    let mut out = vec![0u8; o.buffer_len()];
                    o.emit(&mut out);
                    prop_assert_eq!(&out[..], &rest[..len]);
                }
                rest = &rest[len..];
            }
            if let Ok(repr) = Lcp::parse(&plausible(&bytes)) {
                for o in repr.options::<LcpOption>() {
                    let _ = o;
                }
            }
        }
    }
}
