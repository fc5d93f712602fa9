//! PPP inside L2TP: the frame header (RFC 1661 §2, RFC 1662 §3.1), the
//! control-protocol packet and option formats shared by LCP, IPCP and
//! IPv6CP (RFC 1661 §5–6), their options (RFC 1661, 1332, 1877, 5072), and
//! the PAP (RFC 1334) and CHAP (RFC 1994) packets.
//!
//! Layout: [`frame`] (Protocol field, data-plane fast path), [`cp`] (the
//! shared packet view, [`cp::Repr`], option iteration and building, and the
//! [`ControlProtocol`] trait), [`lcp`], [`ipcp`], [`ipv6cp`] (typed options),
//! [`pap`] and [`chap`].
//!
//! A negotiation automaton generic over `P: ControlProtocol` parses with
//! `P::parse(bytes)`, walks `repr.options::<RawOption>()` and decodes each
//! with `P::OptionRepr::parse(raw)` (so one bad option can be rejected
//! without losing the rest), acks with the received options slice verbatim,
//! and builds Naks and Rejects with [`emit_configure`].

pub mod chap;
pub mod cp;
pub mod frame;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod pap;

pub use chap::md5_response as chap_md5_response;
pub use cp::{
    check_options, emit_configure, emit_options, CodeSet, ConfigOption, ControlProtocol,
    EmitOption, OptionIter, RawOption,
};
pub use frame::{protocol_and_offset, Frame, FrameRepr, Protocol};
pub use ipcp::{IpCompressionProtocol, Ipcp, IpcpOption};
pub use ipv6cp::{Ipv6cp, Ipv6cpOption};
pub use lcp::{AuthenticationProtocol, Lcp, LcpOption, QualityProtocol};

#[cfg(test)]
mod test {
    use super::*;
    use crate::Error;
    use std::vec;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every PPP frame (L2TP payload) of l2tpns-lns_chap_session.pcap and
    /// l2tpns-lns_pap_session.pcap, with its pcap frame number.
    const FRAMES: &[(&str, u32, &str)] = &[
        ("chap", 11, "ff03c0210101001e010405b60305c2230505066b0251651104064e130702c6120001"),
        ("chap", 12, "ff03c0210101000e010405780506ddec333b"),
        ("chap", 13, "ff03c0210201000e010405780506ddec333b"),
        ("chap", 14, "ff03c0210201001e010405b60305c2230505066b0251651104064e130702c6120001"),
        ("chap", 15, "ff03c2230101001a1019db25783821efa0e2cea758e0bef0d370656c6e73"),
        ("chap", 16, "ff03c2230201001d10835c2b3acbffed188a9ea9b655001b3e706f6f6c75736572"),
        ("chap", 17, "ff03c22303010004"),
        ("chap", 18, "ff0380210102000a0306c6120001"),
        ("chap", 19, "ff03802101010010030600000000810600000000"),
        ("chap", 20, "ff038021030100100306c61201018106c6120135"),
        ("chap", 21, "ff0380210202000a0306c6120001"),
        ("chap", 22, "ff038021010200100306c61201018106c6120135"),
        ("chap", 23, "ff038021020200100306c61201018106c6120135"),
        ("chap", 24, "ff0300214500002c000100004001eda9c6120101c61200010800cbc50077000170652d70696e672d7061796c6f616421"),
        ("pap", 11, "ff03c0210101000e010405780506591b3daf"),
        ("pap", 12, "ff03c0210101001d010405b60304c02305066b02515f1104064e130702c6120001"),
        ("pap", 13, "ff03c0210201000e010405780506591b3daf"),
        ("pap", 14, "ff03c0210201001d010405b60304c02305066b02515f1104064e130702c6120001"),
        ("pap", 15, "ff03c02301010016087465737475736572087465737470617373"),
        ("pap", 16, "ff03c0230201000500"),
        ("pap", 17, "ff0380210101000a0306c6120001"),
        ("pap", 18, "ff03802101010010030600000000810600000000"),
        ("pap", 19, "ff038021030100100306c612010a8106c6120135"),
        ("pap", 20, "ff0380210201000a0306c6120001"),
        ("pap", 21, "ff038021010200100306c612010a8106c6120135"),
        ("pap", 22, "ff038021020200100306c612010a8106c6120135"),
        ("pap", 23, "ff0300214500002c000100004001eda0c612010ac61200010800cbc50077000170652d70696e672d7061796c6f616421"),
    ];

    /// Parses one PPP frame fully and re-emits it; returns the bytes.
    fn replay(frame_bytes: &[u8]) -> Vec<u8> {
        let frame = Frame::new_checked(frame_bytes).unwrap();
        let header = FrameRepr::parse(&frame).unwrap();
        let payload = frame.payload();
        let mut out = vec![0xa5u8; frame_bytes.len()];
        header.emit(&mut out);
        let body = &mut out[header.header_len()..];
        let n = match header.protocol {
            Protocol::Lcp => replay_cp::<Lcp>(payload, body),
            Protocol::Ipcp => replay_cp::<Ipcp>(payload, body),
            Protocol::Ipv6cp => replay_cp::<Ipv6cp>(payload, body),
            Protocol::Pap => pap::Repr::parse_bytes(payload)
                .unwrap()
                .emit_into(body)
                .unwrap(),
            Protocol::Chap => chap::Repr::parse_bytes(payload)
                .unwrap()
                .emit_into(body)
                .unwrap(),
            _ => {
                body.copy_from_slice(payload);
                payload.len()
            }
        };
        out.truncate(header.header_len() + n);
        out
    }

    /// What a generic negotiation automaton does: parse, decode every
    /// option through the raw iterator, rebuild the packet from the typed
    /// options.
    fn replay_cp<P: ControlProtocol>(payload: &[u8], out: &mut [u8]) -> usize {
        let repr = P::parse(payload).unwrap();
        if repr.options_bytes().is_empty() {
            return repr.emit_into(out).unwrap();
        }
        let mut typed: [Option<P::OptionRepr<'_>>; 8] = [None; 8];
        for (slot, raw) in typed.iter_mut().zip(repr.options::<RawOption>()) {
            *slot = Some(P::OptionRepr::parse(raw.unwrap()).unwrap());
        }
        emit_configure(repr.code(), repr.identifier(), typed.iter().flatten(), out).unwrap()
    }

    #[test]
    fn replay_captures() {
        for &(file, number, h) in FRAMES {
            let bytes = hex(h);
            assert_eq!(replay(&bytes), bytes, "{file} frame {number}");
            let (p, off) = protocol_and_offset(&bytes).unwrap();
            assert_eq!(
                (p, off),
                (
                    u16::from(Frame::new_checked(&bytes[..]).unwrap().protocol()),
                    4
                )
            );
        }
    }

    #[test]
    fn malformed_sample_frame() {
        // malformed_samples.pcap frame 3: LCP Configure-Request with
        // Length 0x20 in a 6-octet packet.
        let bytes = hex("ff03c021010100200104");
        let (p, off) = protocol_and_offset(&bytes).unwrap();
        assert_eq!(Protocol::from(p), Protocol::Lcp);
        assert_eq!(Lcp::parse(&bytes[off..]), Err(Error::LengthMismatch));
    }

    #[test]
    fn chap_md5_from_capture() {
        let challenge = hex("19db25783821efa0e2cea758e0bef0d3");
        let response = hex("835c2b3acbffed188a9ea9b655001b3e");
        assert_eq!(
            chap_md5_response(1, b"poolpass", &challenge)[..],
            response[..]
        );
    }
}
