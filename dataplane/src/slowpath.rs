//! The slow path: what a worker does with the frames the pipeline punts
//! (issue 5 §3, decision D20). Pure like the pipeline: no I/O, no clock
//! (`now_ns` is a parameter), no allocation per packet; the frames it needs
//! for fragments come from a [`FrameAlloc`] (the worker's UMEM free list).
//!
//! | punt | side | what happens |
//! |------|------|--------------|
//! | [`PuntReason::TtlExpired`] | access (upstream) | ICMP Time Exceeded (v4 type 11/0, v6 type 3/0) to the subscriber, encapsulated with the session's template, TX access |
//! | [`PuntReason::TtlExpired`] | core (downstream) | ICMP Time Exceeded to the Internet sender, Ethernet to the core gateway, TX core |
//! | [`PuntReason::FragNeeded`] | core | IPv4: Destination Unreachable code 4, next-hop MTU = session MTU (RFC 1191); IPv6: Packet Too Big, MTU = session MTU (RFC 8201); TX core |
//! | [`PuntReason::NeedsFragment`] | core | IPv4 fragments of at most the session MTU (RFC 791), each run through the pipeline's own encapsulation, TX access |
//! | [`PuntReason::ToControlPlane`], [`PuntReason::OuterFragment`] | any | XDP passes these to the kernel; one that reaches a worker is counted and recycled |
//!
//! An ICMP error is built in a scratch buffer and written back into the
//! punted frame's own chunk (no extra frame): [`SlowAction::Tx`]. An error
//! towards a subscriber is written as a plain Eth/IP packet and handed to
//! [`process_frame`] as if it came from the core, so the template is
//! copied and patched by exactly the code that encapsulates every other
//! downstream packet; fragments go the same way.
//!
//! Errors obey RFC 1812 §4.3.2.7 ([`icmpv4::error_allowed`]; for IPv6,
//! RFC 4443 §2.4 (e)) and a per-worker token bucket (RFC 1812 §4.3.2.8),
//! checked in that order so that refused packets spend no tokens.

use core::net::{Ipv4Addr, Ipv6Addr};

use l2tpx_table::{slot_index, SessionLookup};
use l2tpx_wire::checksum;
use l2tpx_wire::icmpv4::{self, ErrorKind};
use l2tpx_wire::ipv4;
use l2tpx_wire::l2tp::DataHeader;
use l2tpx_wire::ppp::protocol_and_offset;

use crate::pipeline::{
    process_frame, CounterSink, Frame, PipelineConfig, PuntReason, SessionAccumulator, Side,
    Verdict,
};

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const IPPROTO_ICMPV6: u8 = 58;
/// The IPv6 minimum MTU: an ICMPv6 error quotes as much of the offending
/// packet as fits in it (RFC 4443 §2.4 (c)).
const IPV6_MIN_MTU: usize = 1280;
const IPV6_HEADER_LEN: usize = 40;
const ICMP_HEADER_LEN: usize = 8;
/// Hop limit of the ICMPv6 errors built here.
const ICMPV6_HOP_LIMIT: u8 = 64;
/// Scratch space for one generated packet: Ethernet + 1280 bytes.
const SCRATCH_LEN: usize = 2048;

/// ICMPv6 types (RFC 4443 §2.1).
const ICMPV6_PACKET_TOO_BIG: u8 = 2;
const ICMPV6_TIME_EXCEEDED: u8 = 3;

/// The slow path's settings (from the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowPathConfig {
    /// Source address of the ICMPv4 errors. `None`: errors towards the
    /// core are not sent ([`SlowOutcome::NoSource`]) and errors towards a
    /// subscriber come from the session's tunnel address (the template's
    /// outer source). The backend fills it from `icmp_source` in the
    /// configuration, or the core interface's first IPv4 address.
    pub source_v4: Option<Ipv4Addr>,
    /// Source address of the ICMPv6 errors; `None`: none are sent. From
    /// `icmp_source_v6`, or the core interface's first global IPv6 address.
    pub source_v6: Option<Ipv6Addr>,
    /// ICMP errors per second per worker (0: never send any).
    pub rate: u32,
    /// The token bucket's depth: how many may go at once after a quiet
    /// period.
    pub burst: u32,
}

impl Default for SlowPathConfig {
    fn default() -> Self {
        SlowPathConfig {
            source_v4: None,
            source_v6: None,
            rate: DEFAULT_ICMP_RATE,
            burst: DEFAULT_ICMP_BURST,
        }
    }
}

/// Default ICMP errors per second per worker.
pub const DEFAULT_ICMP_RATE: u32 = 1000;
/// Default token bucket depth.
pub const DEFAULT_ICMP_BURST: u32 = 100;

/// Declares the outcome enum with `COUNT`, `ALL`, `name()`, `index()`.
macro_rules! outcomes {
    ( $( $(#[$vattr:meta])* $variant:ident => $text:literal, )+ ) => {
        /// What the slow path did with a punted frame; each has a counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum SlowOutcome {
            $( $(#[$vattr])* $variant, )+
        }

        impl SlowOutcome {
            /// Every outcome, in counter order.
            pub const ALL: &'static [SlowOutcome] = &[$(SlowOutcome::$variant),+];
            /// How many outcomes there are.
            pub const COUNT: usize = Self::ALL.len();

            /// A stable name for metrics.
            pub const fn name(self) -> &'static str {
                match self {
                    $( SlowOutcome::$variant => $text, )+
                }
            }

            /// The counter index.
            #[inline]
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

outcomes! {
    /// ICMPv4 Time Exceeded sent.
    IcmpTimeExceeded => "icmp_time_exceeded",
    /// ICMPv4 Fragmentation Needed sent.
    IcmpFragNeeded => "icmp_frag_needed",
    /// ICMPv6 Time Exceeded sent.
    Icmp6TimeExceeded => "icmp6_time_exceeded",
    /// ICMPv6 Packet Too Big sent.
    Icmp6PacketTooBig => "icmp6_packet_too_big",
    /// An IPv4 packet fragmented (its fragments are counted apart).
    Fragmented => "fragmented",
    /// Fragments sent.
    FragmentsSent => "fragments_sent",
    /// An ICMP error suppressed by the rate limit.
    RateLimited => "icmp_rate_limited",
    /// No ICMP error allowed about this packet (an ICMP error, a
    /// non-first fragment, a broadcast or multicast, a bad source).
    NotAllowed => "icmp_not_allowed",
    /// No source address configured for this error.
    NoSource => "icmp_no_source",
    /// Not enough free frames for the fragments: the packet is dropped.
    NoFrame => "frag_no_frame",
    /// An IPv4 packet with options, or a session MTU under 28: not
    /// fragmented, dropped.
    Unfragmentable => "frag_unfragmentable",
    /// The session went away between the pipeline and the slow path.
    NoSession => "no_session",
    /// The punted frame did not parse (cannot happen for frames the
    /// pipeline punted; counted rather than trusted).
    Malformed => "malformed",
    /// The pipeline refused a generated packet (encapsulation failed).
    EncapFailed => "encap_failed",
    /// A control-plane frame reached a worker (XDP normally passes it).
    ToControlPlane => "to_control_plane",
    /// An outer fragment reached a worker (XDP normally passes it).
    OuterFragment => "outer_fragment",
}

/// What to do with the punted frame afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowAction {
    /// The frame now holds a generated packet (its `offset`/`len` were
    /// moved): transmit it on this side.
    Tx(Side),
    /// Recycle the frame (any fragments went out through the allocator).
    Recycle,
}

/// Where fragments get their frames: the worker's UMEM free list, or a
/// test's vectors.
pub trait FrameAlloc {
    /// How many frames could be allocated now.
    fn available(&self) -> usize;
    /// A free frame: its whole buffer and the headroom a packet should
    /// start after. The frame stays allocated until `commit` or `release`.
    fn alloc(&mut self) -> Option<(&mut [u8], usize)>;
    /// Transmits the frame last allocated: the packet at `offset`, `len`
    /// bytes, on `side`.
    fn commit(&mut self, side: Side, offset: usize, len: usize);
    /// Returns the frame last allocated, unused.
    fn release(&mut self);
}

/// A token bucket in nanotokens: `rate` tokens a second, at most `burst`.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    rate: u64,
    cap: u64,
    tokens: u64,
    last_ns: u64,
}

const NANO: u64 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        let cap = u64::from(burst.max(1)) * NANO;
        TokenBucket {
            rate: u64::from(rate),
            cap,
            tokens: if rate == 0 { 0 } else { cap },
            last_ns: 0,
        }
    }

    /// Takes a token at `now_ns` (monotonic) if there is one.
    pub fn allow(&mut self, now_ns: u64) -> bool {
        if self.rate == 0 {
            return false;
        }
        let dt = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = self
            .tokens
            .saturating_add(dt.saturating_mul(self.rate))
            .min(self.cap);
        if self.tokens >= NANO {
            self.tokens -= NANO;
            true
        } else {
            false
        }
    }
}

/// A worker's slow path: its settings, rate limit, counters and scratch.
pub struct SlowPath {
    cfg: SlowPathConfig,
    bucket: TokenBucket,
    ident: u16,
    counters: [u64; SlowOutcome::COUNT],
    acc: SessionAccumulator,
    scratch: Box<[u8; SCRATCH_LEN]>,
}

impl core::fmt::Debug for SlowPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlowPath")
            .field("cfg", &self.cfg)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// Where the L2TP-carried inner packet of an upstream frame is.
struct Upstream {
    /// Start and end of the inner IP packet in the frame's packet.
    inner: core::ops::Range<usize>,
    v6: bool,
    /// The session's tunnel address (template outer source).
    tunnel_addr: Ipv4Addr,
}

impl SlowPath {
    /// A slow path with `cfg`.
    pub fn new(cfg: SlowPathConfig) -> SlowPath {
        SlowPath {
            cfg,
            bucket: TokenBucket::new(cfg.rate, cfg.burst),
            ident: 0,
            counters: [0; SlowOutcome::COUNT],
            acc: SessionAccumulator::new(),
            scratch: Box::new([0; SCRATCH_LEN]),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SlowPathConfig {
        &self.cfg
    }

    /// The counters, by [`SlowOutcome`] index.
    pub fn counters(&self) -> &[u64; SlowOutcome::COUNT] {
        &self.counters
    }

    /// One counter.
    pub fn count(&self, o: SlowOutcome) -> u64 {
        self.counters[o.index()]
    }

    #[inline]
    fn bump(&mut self, o: SlowOutcome) {
        self.counters[o.index()] += 1;
    }

    /// Handles one punted frame (as the pipeline left it: untouched).
    /// Packets sent to subscribers are counted per session into `sink`.
    #[allow(clippy::too_many_arguments)]
    pub fn handle<T, A, S>(
        &mut self,
        frame: &mut Frame<'_>,
        reason: PuntReason,
        table: &T,
        pcfg: &PipelineConfig,
        now_ns: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> SlowAction
    where
        T: SessionLookup,
        A: FrameAlloc + ?Sized,
        S: CounterSink + ?Sized,
    {
        let (action, outcome) = match (reason, frame.from) {
            (PuntReason::TtlExpired, Side::Access) => self.ttl_upstream(frame, table, pcfg, now_ns),
            (PuntReason::TtlExpired, Side::Core) => {
                self.error_downstream(frame, table, pcfg, now_ns, false)
            }
            (PuntReason::FragNeeded, Side::Core) => {
                self.error_downstream(frame, table, pcfg, now_ns, true)
            }
            (PuntReason::NeedsFragment, Side::Core) => self.fragment(frame, table, pcfg, alloc),
            (PuntReason::ToControlPlane, _) => (SlowAction::Recycle, SlowOutcome::ToControlPlane),
            (PuntReason::OuterFragment, _) => (SlowAction::Recycle, SlowOutcome::OuterFragment),
            // The pipeline never punts these from the access side.
            (PuntReason::FragNeeded | PuntReason::NeedsFragment, Side::Access) => {
                (SlowAction::Recycle, SlowOutcome::Malformed)
            }
        };
        self.bump(outcome);
        self.acc.flush(sink);
        action
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Upstream TTL (hop limit) expiry: Time Exceeded back down the
    /// session to the subscriber.
    fn ttl_upstream<T: SessionLookup>(
        &mut self,
        frame: &mut Frame<'_>,
        table: &T,
        pcfg: &PipelineConfig,
        now_ns: u64,
    ) -> (SlowAction, SlowOutcome) {
        let recycle = |o| (SlowAction::Recycle, o);
        let up = match parse_upstream(frame.packet(), table, pcfg) {
            Ok(u) => u,
            Err(o) => return recycle(o),
        };
        let inner = frame.packet().get(up.inner.clone()).unwrap_or(&[]);
        let scratch = &mut self.scratch[..];
        let (len, outcome) = if up.v6 {
            let Some(src) = self.cfg.source_v6 else {
                return recycle(SlowOutcome::NoSource);
            };
            if !icmpv6_error_allowed(inner, false) {
                return recycle(SlowOutcome::NotAllowed);
            }
            if !self.bucket.allow(now_ns) {
                return recycle(SlowOutcome::RateLimited);
            }
            let Some(n) = scratch.get_mut(ETH_LEN..).and_then(|b| {
                build_icmpv6_error(
                    ICMPV6_TIME_EXCEEDED,
                    0,
                    0,
                    inner,
                    src,
                    ICMPV6_HOP_LIMIT + 1,
                    b,
                )
            }) else {
                return recycle(SlowOutcome::Malformed);
            };
            (n, SlowOutcome::Icmp6TimeExceeded)
        } else {
            let Ok(p) = ipv4::Packet::new_checked(inner) else {
                return recycle(SlowOutcome::Malformed);
            };
            if !icmpv4::error_allowed(&p) {
                return recycle(SlowOutcome::NotAllowed);
            }
            let src = self.cfg.source_v4.unwrap_or(up.tunnel_addr);
            if !self.bucket.allow(now_ns) {
                return recycle(SlowOutcome::RateLimited);
            }
            self.ident = self.ident.wrapping_add(1);
            let ident = self.ident;
            let Some(n) = scratch.get_mut(ETH_LEN..).and_then(|b| {
                let n = icmpv4::build_error_packet(ErrorKind::TimeExceeded, inner, src, ident, b)
                    .ok()?;
                // The pipeline decrements it on the way out: leave with 64.
                bump_ttl_v4(b);
                Some(n)
            }) else {
                return recycle(SlowOutcome::Malformed);
            };
            (n, SlowOutcome::IcmpTimeExceeded)
        };
        let ethertype = if up.v6 {
            ETHERTYPE_IPV6
        } else {
            ETHERTYPE_IPV4
        };
        // Any MACs: the template replaces the Ethernet header.
        write_eth(
            &mut self.scratch[..],
            &pcfg.core_mac,
            &pcfg.core_gateway_mac,
            ethertype,
        );
        if !self.place(frame, ETH_LEN + len) {
            return recycle(SlowOutcome::Malformed);
        }
        frame.from = Side::Core;
        match process_frame(frame, table, pcfg, &mut self.acc) {
            Verdict::TxAccess => (SlowAction::Tx(Side::Access), outcome),
            _ => recycle(SlowOutcome::EncapFailed),
        }
    }

    /// Copies `len` bytes of scratch over the frame's packet.
    fn place(&self, frame: &mut Frame<'_>, len: usize) -> bool {
        match (
            frame
                .buf
                .get_mut(frame.offset..frame.offset.saturating_add(len)),
            self.scratch.get(..len),
        ) {
            (Some(d), Some(s)) => {
                d.copy_from_slice(s);
                frame.len = len;
                true
            }
            _ => false,
        }
    }

    /// Downstream TTL expiry or packet too big: an ICMP error to the
    /// sender, out of the core side.
    fn error_downstream<T: SessionLookup>(
        &mut self,
        frame: &mut Frame<'_>,
        table: &T,
        pcfg: &PipelineConfig,
        now_ns: u64,
        too_big: bool,
    ) -> (SlowAction, SlowOutcome) {
        let recycle = |o| (SlowAction::Recycle, o);
        let Some((l3, ethertype)) = eth_l3(frame.packet()) else {
            return recycle(SlowOutcome::Malformed);
        };
        let ip = frame.packet().get(l3..).unwrap_or(&[]);
        let (len, outcome) =
            match ethertype {
                ETHERTYPE_IPV4 => {
                    let Ok(p) = ipv4::Packet::new_checked(ip) else {
                        return recycle(SlowOutcome::Malformed);
                    };
                    let kind = if too_big {
                        let Some(s) = table.by_ipv4(p.dst_addr()) else {
                            return recycle(SlowOutcome::NoSession);
                        };
                        ErrorKind::FragNeeded {
                            next_hop_mtu: s.mtu,
                        }
                    } else {
                        ErrorKind::TimeExceeded
                    };
                    if !icmpv4::error_allowed(&p) {
                        return recycle(SlowOutcome::NotAllowed);
                    }
                    let Some(src) = self.cfg.source_v4 else {
                        return recycle(SlowOutcome::NoSource);
                    };
                    if !self.bucket.allow(now_ns) {
                        return recycle(SlowOutcome::RateLimited);
                    }
                    let ident = self.next_ident();
                    let ip = ip.get(..usize::from(p.total_len())).unwrap_or(ip);
                    let Some(n) = self
                        .scratch
                        .get_mut(ETH_LEN..)
                        .and_then(|b| icmpv4::build_error_packet(kind, ip, src, ident, b).ok())
                    else {
                        return recycle(SlowOutcome::Malformed);
                    };
                    let o = if too_big {
                        SlowOutcome::IcmpFragNeeded
                    } else {
                        SlowOutcome::IcmpTimeExceeded
                    };
                    (n, o)
                }
                ETHERTYPE_IPV6 => {
                    let Some(h) = ip.first_chunk::<IPV6_HEADER_LEN>() else {
                        return recycle(SlowOutcome::Malformed);
                    };
                    let total = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([h[4], h[5]]));
                    let Some(ip) = ip.get(..total) else {
                        return recycle(SlowOutcome::Malformed);
                    };
                    let (typ, mtu) = if too_big {
                        let Some(dst) = ip.get(24..40).and_then(|d| <&[u8; 16]>::try_from(d).ok())
                        else {
                            return recycle(SlowOutcome::Malformed);
                        };
                        let Some(s) = table.by_ipv6(dst) else {
                            return recycle(SlowOutcome::NoSession);
                        };
                        (ICMPV6_PACKET_TOO_BIG, u32::from(s.mtu))
                    } else {
                        (ICMPV6_TIME_EXCEEDED, 0)
                    };
                    if !icmpv6_error_allowed(ip, too_big) {
                        return recycle(SlowOutcome::NotAllowed);
                    }
                    let Some(src) = self.cfg.source_v6 else {
                        return recycle(SlowOutcome::NoSource);
                    };
                    if !self.bucket.allow(now_ns) {
                        return recycle(SlowOutcome::RateLimited);
                    }
                    let Some(n) = self.scratch.get_mut(ETH_LEN..).and_then(|b| {
                        build_icmpv6_error(typ, 0, mtu, ip, src, ICMPV6_HOP_LIMIT, b)
                    }) else {
                        return recycle(SlowOutcome::Malformed);
                    };
                    let o = if too_big {
                        SlowOutcome::Icmp6PacketTooBig
                    } else {
                        SlowOutcome::Icmp6TimeExceeded
                    };
                    (n, o)
                }
                _ => return recycle(SlowOutcome::Malformed),
            };
        write_eth(
            &mut self.scratch[..],
            &pcfg.core_gateway_mac,
            &pcfg.core_mac,
            ethertype,
        );
        if !self.place(frame, ETH_LEN + len) {
            return recycle(SlowOutcome::Malformed);
        }
        (SlowAction::Tx(Side::Core), outcome)
    }

    /// Downstream IPv4 without DF, larger than the session MTU: fragments
    /// (RFC 791 §3.2), each encapsulated by the pipeline.
    fn fragment<T: SessionLookup, A: FrameAlloc + ?Sized>(
        &mut self,
        frame: &Frame<'_>,
        table: &T,
        pcfg: &PipelineConfig,
        alloc: &mut A,
    ) -> (SlowAction, SlowOutcome) {
        let recycle = |o| (SlowAction::Recycle, o);
        let pkt = frame.packet();
        let Some((l3, ETHERTYPE_IPV4)) = eth_l3(pkt) else {
            return recycle(SlowOutcome::Malformed);
        };
        let ip = pkt.get(l3..).unwrap_or(&[]);
        let Ok(p) = ipv4::Packet::new_checked(ip) else {
            return recycle(SlowOutcome::Malformed);
        };
        let total = usize::from(p.total_len());
        let Some(ip) = ip.get(..total) else {
            return recycle(SlowOutcome::Malformed);
        };
        let Some(sess) = table.by_ipv4(p.dst_addr()) else {
            return recycle(SlowOutcome::NoSession);
        };
        let hl = p.header_len();
        // Option-less headers only: copying options correctly into later
        // fragments is left out (D20); real traffic carries none.
        let max_data = usize::from(sess.mtu).saturating_sub(ipv4::HEADER_LEN) & !7;
        if hl != ipv4::HEADER_LEN || max_data < 8 || p.dont_frag() {
            return recycle(SlowOutcome::Unfragmentable);
        }
        let data = ip.get(hl..).unwrap_or(&[]);
        let n = data.len().div_ceil(max_data);
        if alloc.available() < n {
            return recycle(SlowOutcome::NoFrame);
        }
        let orig_off = usize::from(p.frag_offset()); // bytes
        let orig_mf = p.more_frags();
        let Some(header) = ip.first_chunk::<{ ipv4::HEADER_LEN }>() else {
            return recycle(SlowOutcome::Malformed);
        };
        let mut sent = 0;
        for (k, chunk) in data.chunks(max_data).enumerate() {
            let Some((buf, head)) = alloc.alloc() else {
                self.counters[SlowOutcome::NoFrame.index()] += 1;
                break;
            };
            let len = ETH_LEN + ipv4::HEADER_LEN + chunk.len();
            let Some(out) = buf.get_mut(head..head + len) else {
                alloc.release();
                self.counters[SlowOutcome::EncapFailed.index()] += 1;
                continue;
            };
            write_eth(out, &pcfg.core_mac, &pcfg.core_gateway_mac, ETHERTYPE_IPV4);
            let (h, d) = out[ETH_LEN..].split_at_mut(ipv4::HEADER_LEN);
            h.copy_from_slice(header);
            d.copy_from_slice(chunk);
            {
                let mut fp = ipv4::Packet::new_unchecked(&mut *h);
                fp.set_total_len((ipv4::HEADER_LEN + chunk.len()) as u16);
                fp.set_dont_frag(false);
                fp.set_more_frags(orig_mf || k + 1 < n);
                fp.set_frag_offset((orig_off + k * max_data) as u16);
                fp.fill_checksum();
            }
            let mut f = Frame::new(buf, head, len, Side::Core);
            match process_frame(&mut f, table, pcfg, &mut self.acc) {
                Verdict::TxAccess => {
                    let (o, l) = (f.offset, f.len);
                    alloc.commit(Side::Access, o, l);
                    sent += 1;
                }
                _ => {
                    alloc.release();
                    self.counters[SlowOutcome::EncapFailed.index()] += 1;
                }
            }
        }
        self.counters[SlowOutcome::FragmentsSent.index()] += sent;
        recycle(SlowOutcome::Fragmented)
    }
}

/// The L3 offset and EtherType of an Ethernet frame (one 802.1Q tag at
/// most).
fn eth_l3(pkt: &[u8]) -> Option<(usize, u16)> {
    match *pkt {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, _, _, t0, t1, ..] => {
            Some((18, u16::from_be_bytes([t0, t1])))
        }
        [_, _, _, _, _, _, _, _, _, _, _, _, t0, t1, ..] => {
            Some((ETH_LEN, u16::from_be_bytes([t0, t1])))
        }
        _ => None,
    }
}

fn write_eth(b: &mut [u8], dst: &[u8; 6], src: &[u8; 6], ethertype: u16) {
    if let Some(h) = b.get_mut(..ETH_LEN) {
        h[..6].copy_from_slice(dst);
        h[6..12].copy_from_slice(src);
        h[12..14].copy_from_slice(&ethertype.to_be_bytes());
    }
}

/// TTL + 1 with the RFC 1624 checksum update (an IPv4 header at `b`).
fn bump_ttl_v4(b: &mut [u8]) {
    if let Some(h) = b.get_mut(8..12) {
        let old = u16::from_be_bytes([h[0], h[1]]);
        let new = u16::from_be_bytes([h[0].saturating_add(1), h[1]]);
        let c = checksum::update_u16(u16::from_be_bytes([h[2], h[3]]), old, new);
        h[0] = h[0].saturating_add(1);
        h[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Finds the session and the inner packet of an upstream L2TP frame the
/// pipeline punted for TTL expiry, re-checking what the pipeline checked
/// (the session may have changed in between).
fn parse_upstream<T: SessionLookup>(
    pkt: &[u8],
    table: &T,
    pcfg: &PipelineConfig,
) -> Result<Upstream, SlowOutcome> {
    use SlowOutcome::Malformed as M;
    let (l3, ETHERTYPE_IPV4) = eth_l3(pkt).ok_or(M)? else {
        return Err(M);
    };
    let ip = ipv4::Packet::new_checked(pkt.get(l3..).ok_or(M)?).map_err(|_| M)?;
    let outer_src = ip.src_addr();
    let ihl = ip.header_len();
    let udp_start = l3 + ihl;
    let udp_end = l3 + usize::from(ip.total_len());
    let udp = pkt.get(udp_start..udp_end).ok_or(M)?;
    let [sp0, sp1, dp0, dp1, ul0, ul1, ..] = *udp else {
        return Err(M);
    };
    if u16::from_be_bytes([dp0, dp1]) != pcfg.l2tp_port {
        return Err(M);
    }
    let ulen = usize::from(u16::from_be_bytes([ul0, ul1]));
    let l2tp = udp.get(8..ulen).ok_or(M)?;
    let hdr = DataHeader::parse(l2tp).map_err(|_| M)?;
    let slot = slot_index(hdr.tunnel_id, hdr.session_id, table.bank_bits());
    let sess = table.by_slot(slot).ok_or(SlowOutcome::NoSession)?;
    if sess.our_session_id != hdr.session_id
        || sess.our_tunnel_id != hdr.tunnel_id
        || sess.peer_addr != outer_src
        || sess.peer_port != u16::from_be_bytes([sp0, sp1])
    {
        return Err(SlowOutcome::NoSession);
    }
    let ppp = l2tp.get(hdr.payload_offset..hdr.payload_end).ok_or(M)?;
    let (proto, plen) = protocol_and_offset(ppp).map_err(|_| M)?;
    let start = udp_start + 8 + hdr.payload_offset + plen;
    let end = udp_start + 8 + hdr.payload_end;
    let inner = pkt.get(start..end).ok_or(M)?;
    let (v6, len) = match proto {
        PPP_IPV4 => {
            let p = ipv4::Packet::new_checked(inner).map_err(|_| M)?;
            (false, usize::from(p.total_len()))
        }
        PPP_IPV6 => {
            let h = inner.first_chunk::<IPV6_HEADER_LEN>().ok_or(M)?;
            (
                true,
                IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([h[4], h[5]])),
            )
        }
        _ => return Err(M),
    };
    if len > inner.len() {
        return Err(M);
    }
    let ip_off = usize::from(sess.l2tp_offset).saturating_sub(28);
    let tunnel_addr = sess
        .template
        .get(ip_off + 12..ip_off + 16)
        .and_then(|a| <[u8; 4]>::try_from(a).ok())
        .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from);
    Ok(Upstream {
        inner: start..start + len,
        v6,
        tunnel_addr,
    })
}

/// Whether RFC 4443 §2.4 (e) allows an ICMPv6 error about `ip` (an IPv6
/// packet): not about an ICMPv6 error message, not to a multicast
/// destination (except Packet Too Big), not from an unspecified,
/// multicast or loopback source.
pub fn icmpv6_error_allowed(ip: &[u8], packet_too_big: bool) -> bool {
    let Some(h) = ip.first_chunk::<IPV6_HEADER_LEN>() else {
        return false;
    };
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&h[8..24]).unwrap_or_default());
    let dst_multicast = h[24] == 0xff;
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    if dst_multicast && !packet_too_big {
        return false;
    }
    if h[6] == IPPROTO_ICMPV6 {
        // Error messages have types 0..=127.
        return matches!(ip.get(IPV6_HEADER_LEN), Some(&t) if t >= 128);
    }
    true
}

/// Writes an IPv6 packet carrying an ICMPv6 error (`typ`, `code`, the
/// 32-bit parameter: the MTU of a Packet Too Big) about `original` into
/// `out`, from `src` to the original's source; it quotes as much of
/// `original` as keeps the error within 1280 bytes (RFC 4443 §2.4 (c)).
/// Returns the length, or `None` if `out` is too small or `original` is
/// shorter than an IPv6 header.
pub fn build_icmpv6_error(
    typ: u8,
    code: u8,
    param: u32,
    original: &[u8],
    src: Ipv6Addr,
    hop_limit: u8,
    out: &mut [u8],
) -> Option<usize> {
    let dst: [u8; 16] = original.get(8..24)?.try_into().ok()?;
    if original.len() < IPV6_HEADER_LEN {
        return None;
    }
    let quote = original
        .len()
        .min(IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMP_HEADER_LEN);
    let icmp_len = ICMP_HEADER_LEN + quote;
    let len = IPV6_HEADER_LEN + icmp_len;
    let b = out.get_mut(..len)?;
    b[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    b[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
    b[6] = IPPROTO_ICMPV6;
    b[7] = hop_limit;
    b[8..24].copy_from_slice(&src.octets());
    b[24..40].copy_from_slice(&dst);
    let icmp = &mut b[IPV6_HEADER_LEN..];
    icmp[0] = typ;
    icmp[1] = code;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&param.to_be_bytes());
    icmp[8..].copy_from_slice(&original[..quote]);
    let ph = checksum::pseudo_header_v6(src, dst, IPPROTO_ICMPV6, icmp_len as u32);
    let c = !checksum::combine(&[ph, checksum::data(icmp)]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Some(len)
}
