//! Upstream: Eth[/802.1Q]/IPv4/UDP/L2TP data/PPP/IP from a LAC becomes
//! Eth/IP towards the core next hop, without moving the inner packet.

use l2tpx_table::{slot_index, SessionLookup};
use l2tpx_wire::checksum;
use l2tpx_wire::l2tp::DataHeader;
use l2tpx_wire::ppp::protocol_and_offset;
use l2tpx_wire::{ipv4, Error};

use super::counters::{Direction, SessionAccumulator};
use super::{
    clamp_mss, ipv4_header_ok, DropReason, Frame, PipelineConfig, PuntReason, Verdict,
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_LEN,
};

const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_TCP: u8 = 6;

use DropReason as D;

/// The core Ethernet header's addresses (the next hop's, then ours), put
/// together once per batch so that each frame copies 12 bytes in two
/// moves.
pub(super) type CoreMacs = [u8; 12];

/// [`CoreMacs`] of `cfg`.
#[inline]
pub(super) fn core_macs(cfg: &PipelineConfig) -> CoreMacs {
    let mut m = [0u8; 12];
    m[..6].copy_from_slice(&cfg.core_gateway_mac);
    m[6..].copy_from_slice(&cfg.core_mac);
    m
}

#[inline]
pub(super) fn process<T: SessionLookup>(
    frame: &mut Frame<'_>,
    table: &T,
    cfg: &PipelineConfig,
    macs: &CoreMacs,
    acc: &mut SessionAccumulator,
) -> Verdict {
    match decap(frame, table, cfg, macs, acc) {
        Ok(v) => v,
        Err(v) => v,
    }
}

#[inline(always)]
fn drop(r: DropReason) -> Verdict {
    Verdict::Drop(r)
}

#[inline(always)]
fn punt(r: PuntReason) -> Verdict {
    Verdict::Punt(r)
}

/// Everything but the rewrite returns `Err(verdict)` early; the frame is
/// only modified once every check has passed.
#[inline(always)]
fn decap<T: SessionLookup>(
    frame: &mut Frame<'_>,
    table: &T,
    cfg: &PipelineConfig,
    macs: &CoreMacs,
    acc: &mut SessionAccumulator,
) -> Result<Verdict, Verdict> {
    let base = frame.offset;
    let end = base.checked_add(frame.len).ok_or(drop(D::Malformed))?;
    let pkt: &mut [u8] = frame.buf.get_mut(base..end).ok_or(drop(D::Malformed))?;

    // Ethernet, with at most one 802.1Q tag.
    let (l3, ethertype) = match *pkt {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, _, _, t0, t1, ..] => {
            (18, u16::from_be_bytes([t0, t1]))
        }
        [_, _, _, _, _, _, _, _, _, _, _, _, t0, t1, ..] => (ETH_LEN, u16::from_be_bytes([t0, t1])),
        _ => return Err(drop(D::Malformed)),
    };
    if ethertype != ETHERTYPE_IPV4 {
        return Err(drop(if ethertype == ETHERTYPE_VLAN {
            D::Malformed
        } else {
            D::NotIp
        }));
    }
    // The usual frame (untagged, outer IPv4 without options) gets a copy
    // of the code below with its offsets constant: fewer bounds checks and
    // registers. Same code, so the same verdict for every input.
    let (eth_start, len) = if l3 == ETH_LEN && pkt.get(ETH_LEN) == Some(&0x45) {
        from_ip(pkt, ETH_LEN, table, cfg, macs, acc)?
    } else {
        from_ip(pkt, l3, table, cfg, macs, acc)?
    };
    frame.offset = base + eth_start;
    frame.len = len;
    Ok(Verdict::TxCore)
}

/// [`decap`] from the outer IPv4 header at `l3` on; returns where the new
/// Ethernet header starts in `pkt` and the new length.
#[inline(always)]
fn from_ip<T: SessionLookup>(
    pkt: &mut [u8],
    l3: usize,
    table: &T,
    cfg: &PipelineConfig,
    macs: &CoreMacs,
    acc: &mut SessionAccumulator,
) -> Result<(usize, usize), Verdict> {
    // Outer IPv4.
    let ip = pkt.get(l3..).ok_or(drop(D::Malformed))?;
    let [vihl, _, tl0, tl1, _, _, fo0, fo1, _, proto, _, _, s0, s1, s2, s3, ..] = *ip else {
        return Err(drop(D::Malformed));
    };
    if vihl >> 4 != 4 {
        return Err(drop(D::Malformed));
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([tl0, tl1]));
    if ihl < ipv4::HEADER_LEN || total < ihl || total > ip.len() {
        return Err(drop(D::Malformed));
    }
    if proto != IPPROTO_UDP {
        return Err(drop(D::NotL2tp));
    }
    if u16::from_be_bytes([fo0, fo1]) & 0x3fff != 0 {
        return Err(punt(PuntReason::OuterFragment));
    }
    let outer_src = u32::from_be_bytes([s0, s1, s2, s3]);
    let ip_hdr = ip.get(..ihl).ok_or(drop(D::Malformed))?;
    if !ipv4_header_ok(ip_hdr) {
        return Err(drop(D::BadChecksum));
    }

    // UDP.
    let udp = ip.get(ihl..total).ok_or(drop(D::Malformed))?;
    let [sp0, sp1, dp0, dp1, ul0, ul1, uc0, uc1, ..] = *udp else {
        return Err(drop(D::Malformed));
    };
    if u16::from_be_bytes([dp0, dp1]) != cfg.l2tp_port {
        return Err(drop(D::NotL2tp));
    }
    let src_port = u16::from_be_bytes([sp0, sp1]);
    let ulen = usize::from(u16::from_be_bytes([ul0, ul1]));
    let udp = udp.get(..ulen).ok_or(drop(D::Malformed))?;
    if ulen < 8 {
        return Err(drop(D::Malformed));
    }
    if cfg.verify_udp_checksum && u16::from_be_bytes([uc0, uc1]) != 0 {
        let dst = ip_hdr.get(16..20).ok_or(drop(D::Malformed))?;
        let ph = checksum::pseudo_header_v4(
            outer_src,
            u32::from_be_bytes([dst[0], dst[1], dst[2], dst[3]]),
            IPPROTO_UDP,
            ulen as u32,
        );
        if checksum::combine(&[ph, checksum::data(udp)]) != 0xffff {
            return Err(drop(D::BadChecksum));
        }
    }

    // L2TP data header.
    let l2tp = udp.get(8..).ok_or(drop(D::Malformed))?;
    // The flags word as one 16-bit compare.
    let flags = l2tp.first_chunk::<2>().map(|b| u16::from_be_bytes(*b));
    let hdr = match (flags, l2tp) {
        // Fast path: flags word 0x0002 (data, no Length, Ns or offset).
        (Some(0x0002), &[_, _, t0, t1, s0, s1, ..]) => DataHeader {
            tunnel_id: u16::from_be_bytes([t0, t1]),
            session_id: u16::from_be_bytes([s0, s1]),
            ns: None,
            priority: false,
            payload_offset: 6,
            payload_end: l2tp.len(),
        },
        // Fast path: 0x4002 (Length only), Length covering the header.
        (Some(0x4002), &[_, _, l0, l1, t0, t1, s0, s1, ..])
            if (8..=l2tp.len()).contains(&usize::from(u16::from_be_bytes([l0, l1]))) =>
        {
            DataHeader {
                tunnel_id: u16::from_be_bytes([t0, t1]),
                session_id: u16::from_be_bytes([s0, s1]),
                ns: None,
                priority: false,
                payload_offset: 8,
                payload_end: usize::from(u16::from_be_bytes([l0, l1])),
            }
        }
        _ => parse_data_header(l2tp)?,
    };

    // The session, by index.
    let slot = slot_index(hdr.tunnel_id, hdr.session_id, table.bank_bits());
    let Some(sess) = table.by_slot_upstream(slot) else {
        return Err(drop(D::UnknownSession));
    };
    if sess.our_session_id != hdr.session_id {
        return Err(drop(D::UnknownSession));
    }
    if sess.our_tunnel_id != hdr.tunnel_id {
        return Err(drop(D::TunnelMismatch));
    }
    if u32::from(sess.peer_addr) != outer_src {
        return Err(drop(D::WrongPeer));
    }
    if sess.peer_port != src_port {
        return Err(drop(D::WrongPeerPort));
    }

    // PPP.
    let ppp = l2tp
        .get(hdr.payload_offset..hdr.payload_end)
        .ok_or(drop(D::Malformed))?;
    // Fast path, one 32-bit compare each: Address/Control and an
    // uncompressed IPv4/IPv6 protocol.
    let (protocol, ppp_len) = match ppp.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) {
        Some(0xff03_0021) => (PPP_IPV4, 4),
        Some(0xff03_0057) => (PPP_IPV6, 4),
        _ => protocol_and_offset(ppp).map_err(|_| drop(D::Malformed))?,
    };
    // Where the inner packet starts and where the PPP frame ends, in `pkt`.
    let inner_start = l3 + ihl + 8 + hdr.payload_offset + ppp_len;
    let inner_end = l3 + ihl + 8 + hdr.payload_end;

    let (inner_len, ethertype) = match protocol {
        PPP_IPV4 => (
            inner_v4(pkt, inner_start, inner_end, &sess)?,
            ETHERTYPE_IPV4,
        ),
        PPP_IPV6 => (
            inner_v6(pkt, inner_start, inner_end, &sess)?,
            ETHERTYPE_IPV6,
        ),
        _ => return Err(punt(PuntReason::ToControlPlane)),
    };

    // The core Ethernet header goes right in front of the inner packet: it
    // overwrites the tail of the PPP/L2TP/UDP headers (at least 35 bytes).
    let eth_start = inner_start.checked_sub(ETH_LEN).ok_or(drop(D::Malformed))?;
    let eth = pkt
        .get_mut(eth_start..inner_start)
        .and_then(|e| e.first_chunk_mut::<ETH_LEN>())
        .ok_or(drop(D::Malformed))?;
    eth[..12].copy_from_slice(macs);
    eth[12..].copy_from_slice(&ethertype.to_be_bytes());
    acc.count(slot, Direction::Up, inner_len);
    Ok((eth_start, ETH_LEN + inner_len))
}

/// The general L2TP data header parse, and what its errors mean here.
#[inline]
fn parse_data_header(l2tp: &[u8]) -> Result<DataHeader, Verdict> {
    match DataHeader::parse(l2tp) {
        Ok(h) => Ok(h),
        // T bit set (and version 2): a control message.
        Err(Error::Malformed) if l2tp.first().is_some_and(|b| b & 0x80 != 0) => {
            Err(punt(PuntReason::ToControlPlane))
        }
        Err(Error::WrongVersion(_)) => Err(drop(D::NotL2tp)),
        Err(_) => Err(drop(D::Malformed)),
    }
}

/// Checks and rewrites an inner IPv4 packet at `pkt[start..end]`; returns
/// its length (Total Length, so PPP padding is dropped).
#[inline(always)]
fn inner_v4(
    pkt: &mut [u8],
    start: usize,
    end: usize,
    sess: &l2tpx_table::UpstreamSession,
) -> Result<usize, Verdict> {
    let ip = pkt.get_mut(start..end).ok_or(drop(D::Malformed))?;
    let [vihl, _, tl0, tl1, _, _, fo0, fo1, ttl, proto, _, _, s0, s1, s2, s3, ..] = *ip else {
        return Err(drop(D::Malformed));
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([tl0, tl1]));
    if vihl >> 4 != 4 || ihl < ipv4::HEADER_LEN || total < ihl || total > ip.len() {
        return Err(drop(D::Malformed));
    }
    match sess.subscriber_v4 {
        Some(a) if a.octets() == [s0, s1, s2, s3] => {}
        _ => return Err(drop(D::SpoofedSource)),
    }
    if ttl <= 1 {
        return Err(punt(PuntReason::TtlExpired));
    }
    let ip = ip.get_mut(..total).ok_or(drop(D::Malformed))?;
    decrement_ttl_v4(ip, ttl);
    let first_fragment = u16::from_be_bytes([fo0, fo1]) & 0x1fff == 0;
    if sess.mss_clamp != 0 && proto == IPPROTO_TCP && first_fragment {
        if let Some(seg) = ip.get_mut(ihl..) {
            clamp_mss(seg, sess.mss_clamp);
        }
    }
    Ok(total)
}

/// TTL − 1 with the RFC 1624 checksum update (`ip` has at least 20 bytes
/// and `ttl` > 1 is its TTL).
#[inline(always)]
pub(super) fn decrement_ttl_v4(ip: &mut [u8], ttl: u8) {
    if let Some(h) = ip.get_mut(8..12) {
        h[0] = ttl - 1;
        let c = ttl_checksum(u16::from_be_bytes([h[2], h[3]]));
        h[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// The IPv4 header checksum after the TTL drops by one: RFC 1624 eqn. 3,
/// `~(~HC + ~m + m')`, where `m' = m − 0x0100` makes `~m + m'` the
/// constant 0xfeff, so the sum is `HC + 0x0100` with an end-around carry,
/// and 0xffff (−0) becomes 0x0000 as eqn. 3 gives (the same as
/// `checksum::update_u16(hc, m, m − 0x0100)`, with no fold).
#[inline(always)]
pub(super) fn ttl_checksum(hc: u16) -> u16 {
    let c = u32::from(hc) + 0x0100;
    (c + u32::from(c >= 0xffff)) as u16
}

/// Checks and rewrites an inner IPv6 packet at `pkt[start..end]`; returns
/// its length.
#[inline(always)]
fn inner_v6(
    pkt: &mut [u8],
    start: usize,
    end: usize,
    sess: &l2tpx_table::UpstreamSession,
) -> Result<usize, Verdict> {
    let ip = pkt.get_mut(start..end).ok_or(drop(D::Malformed))?;
    let Some(h) = ip.first_chunk::<40>() else {
        return Err(drop(D::Malformed));
    };
    let total = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
    if h[0] >> 4 != 6 || total > ip.len() {
        return Err(drop(D::Malformed));
    }
    let (next, hop) = (h[6], h[7]);
    // Link-local source or destination, or multicast destination: router
    // solicitations, neighbour discovery, DHCPv6, for the LNS itself.
    if is_link_local(h[8], h[9]) || is_link_local(h[24], h[25]) || h[24] == 0xff {
        return Err(punt(PuntReason::ToControlPlane));
    }
    match sess.subscriber_v6_prefix {
        Some(p) if h[8..16] == p => {}
        _ => return Err(drop(D::SpoofedSource)),
    }
    if hop <= 1 {
        return Err(punt(PuntReason::TtlExpired));
    }
    if let Some(b) = ip.get_mut(7) {
        *b = hop - 1;
    }
    if sess.mss_clamp != 0 && next == IPPROTO_TCP {
        if let Some(seg) = ip.get_mut(40..total) {
            clamp_mss(seg, sess.mss_clamp.saturating_sub(20));
        }
    }
    Ok(total)
}

#[inline(always)]
pub(super) fn is_link_local(b0: u8, b1: u8) -> bool {
    b0 == 0xfe && b1 & 0xc0 == 0x80
}
