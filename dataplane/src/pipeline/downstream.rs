//! Downstream: Eth/IP from the core becomes the session's
//! Eth/IPv4/UDP/L2TP/PPP template followed by the same inner packet, the
//! template written into the headroom in front of it. The session comes
//! from the slot hint `core_steer` put in the XDP metadata, verified, or
//! from the table's address index.

use l2tpx_table::{DownstreamSession, SessionLookup, TEMPLATE_MAX};
use l2tpx_wire::ipv4;

use super::counters::{count_hint, Direction, SessionAccumulator};
use super::upstream::decrement_ttl_v4;
use super::{
    clamp_mss, ipv4_header_sum, put16, DropReason, Frame, HintOutcome, OuterChecksum,
    PipelineConfig, PuntReason, Verdict, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN,
};
use crate::ebpf::Meta;

use DropReason as D;

const IPPROTO_TCP: u8 = 6;
const PPP_IPV6: u16 = 0x0057;
/// L2TP flag bits (RFC 2661 §3.1).
const L2TP_L: u16 = 0x4000;
const L2TP_S: u16 = 0x0800;
/// Outer IPv4 (20) + UDP (8) in front of the L2TP header.
const IP_UDP_LEN: usize = 28;
/// Smallest L2TP data header (6) + PPP protocol (2).
const MIN_L2TP_PPP: usize = 8;
/// What `patch` rewrites at fixed offsets: IPv4, UDP, and the L2TP flags
/// and Length (within the smallest L2TP/PPP header `layout` allows).
const OUTER: usize = IP_UDP_LEN + MIN_L2TP_PPP;
/// Half of the template copy: two overlapping fixed-size copies cover any
/// template of 32 to 64 bytes without a variable-length memcpy.
const HALF: usize = TEMPLATE_MAX / 2;

#[inline]
pub(super) fn process<T: SessionLookup>(
    frame: &mut Frame<'_>,
    table: &T,
    cfg: &PipelineConfig,
    acc: &mut SessionAccumulator,
) -> Verdict {
    match encap(frame.buf, frame.offset, frame.len, table, cfg, acc) {
        Ok((offset, len)) => {
            frame.offset = offset;
            frame.len = len;
            Verdict::TxAccess
        }
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

/// The layout of a session's template, checked.
#[derive(Clone, Copy)]
struct Layout {
    len: usize,
    ip: usize,
    udp: usize,
    l2tp: usize,
}

/// Checks that the template's fields lie where the patching expects them:
/// IPv4 (no options) and UDP right before the L2TP header, the PPP Protocol
/// in the last two bytes, an Ethernet header (14 bytes at least) first.
#[inline(always)]
fn layout(sess: &DownstreamSession) -> Option<Layout> {
    let len = usize::from(sess.template_len);
    let l2tp = usize::from(sess.l2tp_offset);
    if len > TEMPLATE_MAX || l2tp < ETH_LEN + IP_UDP_LEN || l2tp + MIN_L2TP_PPP > len {
        return None;
    }
    Some(Layout {
        len,
        ip: l2tp - IP_UDP_LEN,
        udp: l2tp - 8,
        l2tp,
    })
}

/// What the rewrite needs to know about the inner packet.
#[derive(Clone, Copy)]
struct Inner {
    /// Where it starts in the chunk, and its length (IP length, so any
    /// Ethernet padding is left behind).
    start: usize,
    len: usize,
    v6: bool,
    /// IP header length (where TCP starts).
    ihl: usize,
    proto: u8,
    ttl: u8,
    /// Not a fragment, or the first one: TCP's header is there.
    first_fragment: bool,
}

/// Returns the new packet's offset and length in `buf`.
#[inline(always)]
fn encap<T: SessionLookup>(
    buf: &mut [u8],
    base: usize,
    len: usize,
    table: &T,
    cfg: &PipelineConfig,
    acc: &mut SessionAccumulator,
) -> Result<(usize, usize), Verdict> {
    let end = base.checked_add(len).ok_or(drop(D::Malformed))?;
    let pkt = buf.get(base..end).ok_or(drop(D::Malformed))?;
    let (l3, ethertype) = match *pkt {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, _, _, t0, t1, ..] => {
            (18, u16::from_be_bytes([t0, t1]))
        }
        [_, _, _, _, _, _, _, _, _, _, _, _, t0, t1, ..] => (ETH_LEN, u16::from_be_bytes([t0, t1])),
        _ => return Err(drop(D::Malformed)),
    };
    let ip = pkt.get(l3..).ok_or(drop(D::Malformed))?;
    let start = base + l3;

    // Parse, look up, and check everything before touching the frame.
    match ethertype {
        ETHERTYPE_IPV4 => {
            let [vihl, _, tl0, tl1, _, _, fo0, fo1, ttl, proto, _, _, _, _, _, _, d0, d1, d2, d3, ..] =
                *ip
            else {
                return Err(drop(D::Malformed));
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([tl0, tl1]));
            if vihl >> 4 != 4 || ihl < ipv4::HEADER_LEN || total < ihl || total > ip.len() {
                return Err(drop(D::Malformed));
            }
            let (sess, hints) = acc.lookup_parts();
            if !session_v4(buf, base, [d0, d1, d2, d3], table, hints, sess) {
                return Err(drop(D::UnknownSubscriber));
            }
            if ttl <= 1 {
                return Err(punt(PuntReason::TtlExpired));
            }
            let flags = u16::from_be_bytes([fo0, fo1]);
            let lay = layout(sess).ok_or(drop(D::BadTemplate))?;
            if total > max_inner(sess, &lay) {
                return Err(punt(if flags & 0x4000 != 0 {
                    PuntReason::FragNeeded
                } else {
                    PuntReason::NeedsFragment
                }));
            }
            let inner = Inner {
                start,
                len: total,
                v6: false,
                ihl,
                proto,
                ttl,
                first_fragment: flags & 0x1fff == 0,
            };
            let slot = sess.slot;
            let done = rewrite(buf, inner, sess, &lay, table, cfg)?;
            acc.count(slot, Direction::Down, inner.len);
            Ok(done)
        }
        ETHERTYPE_IPV6 => {
            let Some(h) = ip.first_chunk::<40>() else {
                return Err(drop(D::Malformed));
            };
            let total = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
            if h[0] >> 4 != 6 || total > ip.len() {
                return Err(drop(D::Malformed));
            }
            let (next, hop) = (h[6], h[7]);
            let dst: &[u8; 16] = h[24..40].try_into().map_err(|_| drop(D::Malformed))?;
            let (sess, hints) = acc.lookup_parts();
            if !session_v6(buf, base, dst, table, hints, sess) {
                return Err(drop(D::UnknownSubscriber));
            }
            if hop <= 1 {
                return Err(punt(PuntReason::TtlExpired));
            }
            let lay = layout(sess).ok_or(drop(D::BadTemplate))?;
            if total > max_inner(sess, &lay) {
                // IPv6 routers never fragment: Packet Too Big.
                return Err(punt(PuntReason::FragNeeded));
            }
            let inner = Inner {
                start,
                len: total,
                v6: true,
                ihl: 40,
                proto: next,
                ttl: hop,
                first_fragment: true,
            };
            let slot = sess.slot;
            let done = rewrite(buf, inner, sess, &lay, table, cfg)?;
            acc.count(slot, Direction::Down, inner.len);
            Ok(done)
        }
        _ => Err(drop(D::NotIp)),
    }
}

/// The session of IPv4 `dst`, read into `out`: the slot `core_steer` left
/// in front of the packet at `base` if that slot is up with this address
/// (the XDP map may lag the table by a sync: a withdrawn or reused slot
/// must not take the traffic), else through the address index. Whether
/// there is one.
#[inline(always)]
fn session_v4<T: SessionLookup>(
    buf: &[u8],
    base: usize,
    dst: [u8; 4],
    table: &T,
    hints: &mut [u32; HintOutcome::COUNT],
    out: &mut DownstreamSession,
) -> bool {
    let addr = core::net::Ipv4Addr::from(dst);
    let Some(slot) = Meta::hint_v4(buf, base, dst) else {
        count_hint(hints, HintOutcome::Absent);
        return table.by_ipv4_downstream_into(addr, out);
    };
    if table.by_slot_downstream_into(slot, out) && out.subscriber_v4 == Some(addr) {
        count_hint(hints, HintOutcome::Hit);
        return true;
    }
    count_hint(hints, HintOutcome::Stale);
    table.by_ipv4_downstream_into(addr, out)
}

/// [`session_v4`] for IPv6: the hinted slot must hold `dst`'s /64.
#[inline(always)]
fn session_v6<T: SessionLookup>(
    buf: &[u8],
    base: usize,
    dst: &[u8; 16],
    table: &T,
    hints: &mut [u32; HintOutcome::COUNT],
    out: &mut DownstreamSession,
) -> bool {
    let Some(slot) = Meta::hint_v6(buf, base, dst) else {
        count_hint(hints, HintOutcome::Absent);
        return table.by_ipv6_downstream_into(dst, out);
    };
    if table.by_slot_downstream_into(slot, out)
        && out.subscriber_v6_prefix.is_some_and(|p| p[..] == dst[..8])
    {
        count_hint(hints, HintOutcome::Hit);
        return true;
    }
    count_hint(hints, HintOutcome::Stale);
    table.by_ipv6_downstream_into(dst, out)
}

/// TTL, MSS, then the template in front: the packet passed every check.
#[inline(always)]
fn rewrite<T: SessionLookup>(
    buf: &mut [u8],
    inner: Inner,
    sess: &DownstreamSession,
    lay: &Layout,
    table: &T,
    cfg: &PipelineConfig,
) -> Result<(usize, usize), Verdict> {
    let start = inner
        .start
        .checked_sub(lay.len)
        .ok_or(drop(D::NoHeadroom))?;
    let (hdr, rest) = buf
        .get_mut(start..)
        .ok_or(drop(D::NoHeadroom))?
        .split_at_mut_checked(lay.len)
        .ok_or(drop(D::Malformed))?;
    let ip = rest.get_mut(..inner.len).ok_or(drop(D::Malformed))?;

    if inner.v6 {
        if let Some(h) = ip.get_mut(7) {
            *h = inner.ttl - 1;
        }
    } else {
        decrement_ttl_v4(ip, inner.ttl);
    }
    if sess.mss_clamp != 0 && inner.proto == IPPROTO_TCP && inner.first_fragment {
        let mss = if inner.v6 {
            sess.mss_clamp.saturating_sub(20)
        } else {
            sess.mss_clamp
        };
        if let Some(seg) = ip.get_mut(inner.ihl..) {
            clamp_mss(seg, mss);
        }
    }

    write_template(hdr, sess, lay);
    patch(
        hdr,
        &sess.template,
        lay,
        inner.len,
        inner.v6,
        cfg.outer_checksum,
        || table.next_ns(sess.slot),
    );
    Ok((start, lay.len + inner.len))
}

/// The largest inner packet the session takes: its MTU, and never more than
/// fits an outer IPv4 Total Length.
#[inline(always)]
fn max_inner(sess: &DownstreamSession, lay: &Layout) -> usize {
    usize::from(sess.mtu).min(0xffff - (lay.len - lay.ip))
}

/// Copies `sess.template[..lay.len]` into `hdr` (of that length) with two
/// overlapping fixed-size copies.
#[inline(always)]
fn write_template(hdr: &mut [u8], sess: &DownstreamSession, lay: &Layout) {
    if lay.len >= HALF {
        let tail = lay.len - HALF;
        if let (Some(d), Some(s)) = (hdr.get_mut(tail..lay.len), sess.template.get(tail..lay.len)) {
            d.copy_from_slice(s);
        }
        if let (Some(d), Some(s)) = (
            hdr.first_chunk_mut::<HALF>(),
            sess.template.first_chunk::<HALF>(),
        ) {
            *d = *s;
        }
    } else if let (Some(d), Some(s)) = (hdr.get_mut(..lay.len), sess.template.get(..lay.len)) {
        d.copy_from_slice(s);
    }
}

/// Patches the copied template for an inner packet of `inner_len` bytes.
/// Template fields are read from `template` (the source of the copy), not
/// back from `hdr`: a narrow load from the wide stores just made may not
/// be forwarded, and stalls.
#[inline(always)]
fn patch(
    hdr: &mut [u8],
    template: &[u8],
    lay: &Layout,
    inner_len: usize,
    is_v6: bool,
    csum: OuterChecksum,
    next_ns: impl FnOnce() -> u16,
) {
    // IPv4, UDP and the first 8 bytes of L2TP as one fixed-size window
    // (`layout` checked that they lie inside the template): the fields at
    // constant offsets, one bounds check.
    let (Some(h), Some(t)) = (
        hdr.get_mut(lay.ip..)
            .and_then(|h| h.first_chunk_mut::<OUTER>()),
        template
            .get(lay.ip..)
            .and_then(|t| t.first_chunk::<OUTER>()),
    ) else {
        return;
    };
    // Lengths fit u16: inner_len <= max_inner.
    let ip_total = (lay.len - lay.ip + inner_len) as u16;
    h[2..4].copy_from_slice(&ip_total.to_be_bytes());
    let c = match csum {
        OuterChecksum::Incremental => length_checksum(u16::from_be_bytes([t[10], t[11]]), ip_total),
        OuterChecksum::Full => {
            h[10..12].fill(0);
            h.first_chunk::<20>().map_or(0, |ip| !ipv4_header_sum(ip))
        }
    };
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let udp_len = (lay.len - lay.udp + inner_len) as u16;
    h[IP_UDP_LEN - 4..IP_UDP_LEN - 2].copy_from_slice(&udp_len.to_be_bytes());
    let flags = u16::from_be_bytes([t[IP_UDP_LEN], t[IP_UDP_LEN + 1]]);
    let l = usize::from(flags & L2TP_L != 0);
    if l != 0 {
        let l2tp_len = (lay.len - lay.l2tp + inner_len) as u16;
        h[IP_UDP_LEN + 2..IP_UDP_LEN + 4].copy_from_slice(&l2tp_len.to_be_bytes());
    }
    if flags & L2TP_S != 0 {
        // Flags, [Length], Tunnel ID, Session ID, then Ns.
        put16(hdr, lay.l2tp + 2 + 2 * l + 4, next_ns());
    }
    if is_v6 {
        put16(hdr, lay.len - 2, PPP_IPV6);
    }
}

/// The outer IPv4 checksum once Total Length goes from 0 (the template's)
/// to `total` ≥ 1: RFC 1624 eqn. 3, `~(~HC + ~0 + total)`, which for
/// `total` ≥ 1 is `HC − total` with an end-around borrow (the same as
/// `checksum::update_u16(hc, 0, total)`, with no fold).
#[inline(always)]
pub(super) fn length_checksum(hc: u16, total: u16) -> u16 {
    let (d, borrow) = hc.overflowing_sub(total);
    d.wrapping_sub(u16::from(borrow))
}
