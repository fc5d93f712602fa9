//! The data plane's upstream classification: one pass from an Ethernet
//! frame to the inner IP packet of an L2TP data message.
//!
//! The common frame (no 802.1Q tag, an IPv4 header without options) is read
//! at fixed offsets from one bounds-checked 44-byte prefix; anything else
//! takes the general path built from the per-layer views. Both paths make
//! the same checks and give the same answer for every input, which the
//! tests check differentially.

use crate::l2tp::DataHeader;
use crate::{ethernet, ipv4, ppp, udp, Error, Result};

/// What an upstream L2TP data frame carries, as the data plane needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    /// Outer IPv4 source: the LAC.
    pub peer_addr: [u8; 4],
    /// Outer UDP source port: the LAC's.
    pub peer_port: u16,
    /// L2TP Tunnel ID (ours).
    pub tunnel_id: u16,
    /// L2TP Session ID (ours).
    pub session_id: u16,
    /// Ns, for sequenced data messages.
    pub ns: Option<u16>,
    /// PPP protocol: 0x0021 (IPv4) or 0x0057 (IPv6).
    pub protocol: u16,
    /// Where the inner IP packet starts in the frame.
    pub inner_offset: usize,
    /// The inner IP packet's length (its own total length; trailing bytes
    /// inside the PPP frame are not counted).
    pub inner_len: usize,
}

const ETH_IPV4: u16 = 0x0800;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// Ethernet (14) + IPv4 without options (20) + UDP (8) + L2TP flags (2).
const PREFIX: usize = 44;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Classifies a frame received on the access side.
///
/// - `Ok(Some(_))`: an L2TP data message to `l2tp_port` carrying PPP IPv4 or
///   IPv6, every header consistent.
/// - `Ok(None)`: not for the data plane (another EtherType or protocol or
///   port, an outer fragment, an L2TP control message, a PPP control
///   protocol); XDP passes these to the kernel.
/// - `Err(_)`: it claims to be such a frame but a header is truncated or
///   inconsistent; the error says how.
#[inline]
pub fn upstream(frame: &[u8], l2tp_port: u16) -> Result<Option<Upstream>> {
    let Some(h) = frame.first_chunk::<PREFIX>() else {
        return upstream_general(frame, l2tp_port);
    };
    if be16(h, 12) != ETH_IPV4 || h[14] != 0x45 {
        return upstream_general(frame, l2tp_port);
    }
    let total_len = usize::from(be16(h, 16));
    if total_len < 20 || total_len > frame.len() - 14 {
        return Err(Error::LengthMismatch);
    }
    if h[23] != 17 || be16(h, 20) & 0x3fff != 0 {
        return Ok(None);
    }
    let udp_len = usize::from(be16(h, 38));
    if total_len < 28 {
        return Err(Error::Truncated);
    }
    if udp_len < 8 || udp_len > total_len - 20 {
        return Err(Error::LengthMismatch);
    }
    if be16(h, 36) != l2tp_port {
        return Ok(None);
    }
    let l2tp = &frame[42..34 + udp_len];
    finish([h[26], h[27], h[28], h[29]], be16(h, 34), 42, l2tp)
}

/// The L2TP, PPP and inner-IP part, shared by both paths.
#[inline(always)]
fn finish(
    peer_addr: [u8; 4],
    peer_port: u16,
    l2tp_at: usize,
    l2tp: &[u8],
) -> Result<Option<Upstream>> {
    // The usual data message: flags 0x0002 (no Length, Ns/Nr, Offset or
    // priority), then FF03 and a two-byte protocol. Read at fixed offsets;
    // anything else goes through the general header and PPP parsers.
    let common = match l2tp.first_chunk::<10>() {
        Some(b) if be16(b, 0) == 0x0002 && be16(b, 6) == 0xff03 && b[8] == 0 => {
            Some((be16(b, 2), be16(b, 4), u16::from(b[9])))
        }
        _ => None,
    };
    let (tunnel_id, session_id, ns, protocol, inner_at, ppp_payload) = match common {
        Some((t, s, p)) if p == PPP_IPV4 || p == PPP_IPV6 => (t, s, None, p, 10, &l2tp[10..]),
        _ => {
            if crate::l2tp::is_control_message(l2tp) {
                return Ok(None);
            }
            let hdr = DataHeader::parse(l2tp)?;
            let ppp = hdr.payload(l2tp);
            let (protocol, off) = ppp::protocol_and_offset(ppp)?;
            let at = hdr.payload_offset + off;
            (
                hdr.tunnel_id,
                hdr.session_id,
                hdr.ns,
                protocol,
                at,
                &ppp[off..],
            )
        }
    };
    let inner = ppp_payload;
    let inner_len = match protocol {
        PPP_IPV4 => {
            let Some(b) = inner.first_chunk::<20>() else {
                return Err(Error::Truncated);
            };
            let ihl = usize::from(b[0] & 0x0f) * 4;
            let total = usize::from(be16(b, 2));
            if b[0] >> 4 != 4 || ihl < 20 {
                return Err(Error::Malformed);
            }
            if total < ihl || total > inner.len() {
                return Err(Error::LengthMismatch);
            }
            total
        }
        PPP_IPV6 => {
            let Some(b) = inner.first_chunk::<40>() else {
                return Err(Error::Truncated);
            };
            if b[0] >> 4 != 6 {
                return Err(Error::Malformed);
            }
            let total = 40 + usize::from(be16(b, 4));
            if total > inner.len() {
                return Err(Error::LengthMismatch);
            }
            total
        }
        _ => return Ok(None),
    };
    Ok(Some(Upstream {
        peer_addr,
        peer_port,
        tunnel_id,
        session_id,
        ns,
        protocol,
        inner_offset: l2tp_at + inner_at,
        inner_len,
    }))
}

/// Any frame: 802.1Q tags, IPv4 options, short frames. Built from the views.
fn upstream_general(frame: &[u8], l2tp_port: u16) -> Result<Option<Upstream>> {
    let eth = ethernet::Frame::new_checked(frame)?;
    if eth.ethertype() != ethernet::EtherType::Ipv4 {
        return Ok(None);
    }
    let ip_at = eth.header_len();
    let ip = ipv4::Packet::new_checked(eth.payload())?;
    if ip.version() != 4 {
        return Err(Error::Malformed);
    }
    if ip.protocol() != ipv4::IpProtocol::Udp || ip.is_fragment() {
        return Ok(None);
    }
    let udp_at = ip_at + ip.header_len();
    let udp = udp::Packet::new_checked(ip.payload())?;
    if udp.dst_port() != l2tp_port {
        return Ok(None);
    }
    let src = ip.src_addr().octets();
    finish(src, udp.src_port(), udp_at + udp::HEADER_LEN, udp.payload())
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Eth/IPv4/UDP 1701/L2TP (no L, S, O)/FF03 0021/IPv4 (28 bytes).
    fn frame() -> Vec<u8> {
        let hex = "020000000001020000000002080045000042000100004011ee82c6120002c6120001\
                   06a506a5002e0000000212340042ff0300214500001c000100004011ed9fc612010a\
                   c613000104d2162e00080000";
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn common_frame() {
        let f = frame();
        let up = upstream(&f, 1701).unwrap().unwrap();
        assert_eq!(
            up,
            Upstream {
                peer_addr: [198, 18, 0, 2],
                peer_port: 1701,
                tunnel_id: 0x1234,
                session_id: 0x42,
                ns: None,
                protocol: 0x21,
                inner_offset: 52,
                inner_len: 28,
            }
        );
        assert_eq!(upstream_general(&f, 1701), Ok(Some(up)));
    }

    #[test]
    fn not_for_us() {
        let f = frame();
        assert_eq!(upstream(&f, 1702), Ok(None));
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(upstream(&arp, 1701), Ok(None));
        let mut lcp = f.clone();
        lcp[50..52].copy_from_slice(&[0xc0, 0x21]);
        assert_eq!(upstream(&lcp, 1701), Ok(None));
        let mut control = f.clone();
        control[42] = 0xc8;
        assert_eq!(upstream(&control, 1701), Ok(None));
    }

    #[test]
    fn every_truncation_is_an_error_or_none_and_paths_agree() {
        let f = frame();
        for n in 0..f.len() {
            let cut = &f[..n];
            assert_eq!(
                upstream(cut, 1701),
                upstream_general(cut, 1701),
                "cut at {n}"
            );
            assert!(!matches!(upstream(cut, 1701), Ok(Some(_))), "cut at {n}");
        }
    }

    /// A tagged frame with IPv4 options takes the general path.
    #[test]
    fn vlan_and_options() {
        let f = frame();
        let mut g = Vec::new();
        g.extend_from_slice(&f[..12]);
        g.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        g.extend_from_slice(&f[12..14]);
        // IHL 6 with one 4-byte option (NOP NOP NOP EOL), total length + 4.
        g.push(0x46);
        g.push(f[15]);
        let tl = u16::from_be_bytes([f[16], f[17]]) + 4;
        g.extend_from_slice(&tl.to_be_bytes());
        g.extend_from_slice(&f[18..34]);
        g.extend_from_slice(&[1, 1, 1, 0]);
        g.extend_from_slice(&f[34..]);
        let up = upstream(&g, 1701).unwrap().unwrap();
        assert_eq!(up.inner_offset, 52 + 8);
        assert_eq!(
            &g[up.inner_offset..up.inner_offset + up.inner_len],
            &f[52..80]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The fast path and the general path agree on every input.
        #[test]
        fn paths_agree_on_mutations(
            flips in proptest::collection::vec((0usize..96, any::<u8>()), 0..4),
            cut in 0usize..96,
        ) {
            let mut f = frame();
            for (at, v) in flips {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            f.truncate(cut.max(1));
            prop_assert_eq!(upstream(&f, 1701), upstream_general(&f, 1701));
        }

        #[test]
        fn paths_agree_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            prop_assert_eq!(upstream(&bytes, 1701), upstream_general(&bytes, 1701));
        }
    }
}
