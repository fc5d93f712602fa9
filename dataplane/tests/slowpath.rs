//! The slow path as fixture tables: a frame the pipeline punts goes
//! through `SlowPath::handle`, and the frames that come out are checked
//! byte for byte (against the wire crate's own emitters) and their
//! checksums verified with the wire crate.

use core::net::{Ipv4Addr, Ipv6Addr};

use l2tpx_dataplane::pipeline::testing::{
    eth_frame, ipv4_packet, ipv6_packet, net, L2tpFrame, MockTable, OwnedFrame, SessionSpec,
    Transport,
};
use l2tpx_dataplane::pipeline::{PipelineConfig, PuntReason, Side, Verdict};
use l2tpx_dataplane::slowpath::{
    build_icmpv6_error, FrameAlloc, SlowAction, SlowOutcome, SlowPath, SlowPathConfig,
};
use l2tpx_wire::icmpv4::{self, ErrorKind};
use l2tpx_wire::{checksum, ipv4};

const BANK_BITS: u32 = 1;
/// The LNS's core address: the source of ICMP errors in these tests.
const CORE_SRC: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const CORE_SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);

fn spec() -> SessionSpec {
    SessionSpec::nth(1)
}

fn table() -> MockTable {
    let mut t = MockTable::new(BANK_BITS);
    t.insert(spec().session(BANK_BITS));
    t
}

fn pcfg() -> PipelineConfig {
    PipelineConfig::new(net::LNS_CORE_MAC, net::CORE_GW_MAC)
}

fn slow_cfg() -> SlowPathConfig {
    SlowPathConfig {
        source_v4: Some(CORE_SRC),
        source_v6: Some(CORE_SRC6),
        rate: 1000,
        burst: 100,
    }
}

fn sub() -> Ipv4Addr {
    spec().v4.unwrap()
}

/// Frames for fragments, from vectors; committed ones are kept.
#[derive(Default)]
struct VecAlloc {
    left: usize,
    cur: Vec<u8>,
    out: Vec<(Side, Vec<u8>)>,
}

impl VecAlloc {
    fn with(n: usize) -> VecAlloc {
        VecAlloc {
            left: n,
            ..VecAlloc::default()
        }
    }
}

impl FrameAlloc for VecAlloc {
    fn available(&self) -> usize {
        self.left
    }
    fn alloc(&mut self) -> Option<(&mut [u8], usize)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.cur = vec![0x5a; 4096];
        Some((&mut self.cur[..], 64))
    }
    fn commit(&mut self, side: Side, offset: usize, len: usize) {
        self.out
            .push((side, self.cur[offset..offset + len].to_vec()));
    }
    fn release(&mut self) {
        self.left += 1;
    }
}

/// Runs `input` through the pipeline (expecting a punt for `want`), then
/// the slow path at `now_ns`. Returns the action and the frame's packet.
fn punt_and_handle(
    slow: &mut SlowPath,
    t: &MockTable,
    input: &[u8],
    from: Side,
    want: PuntReason,
    now_ns: u64,
    alloc: &mut VecAlloc,
) -> (SlowAction, Vec<u8>) {
    let cfg = pcfg();
    let mut o = OwnedFrame::new(input, from);
    assert_eq!(o.process(t, &cfg), Verdict::Punt(want), "pipeline verdict");
    assert_eq!(o.packet(), input, "a punted frame is untouched");
    let mut f = o.frame();
    let a = slow.handle(&mut f, want, t, &cfg, now_ns, alloc, &mut ());
    let pkt = f.packet().to_vec();
    (a, pkt)
}

fn icmp_ok_v4(ip: &[u8]) -> icmpv4::Repr<'_> {
    let p = ipv4::Packet::new_checked(ip).unwrap();
    assert!(p.verify_checksum(), "IPv4 header checksum");
    assert_eq!(p.protocol(), ipv4::IpProtocol::Icmp);
    let payload = &ip[p.header_len()..usize::from(p.total_len())];
    icmpv4::Repr::parse(&icmpv4::Packet::new_checked(payload).unwrap(), true)
        .expect("ICMP checksum")
}

fn icmpv6_ok(ip: &[u8]) -> (u8, u8, u32, &[u8]) {
    assert_eq!(ip[0] >> 4, 6);
    assert_eq!(ip[6], 58);
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    assert_eq!(ip.len(), 40 + plen);
    let src: [u8; 16] = ip[8..24].try_into().unwrap();
    let dst: [u8; 16] = ip[24..40].try_into().unwrap();
    let icmp = &ip[40..];
    let ph = checksum::pseudo_header_v6(src, dst, 58, plen as u32);
    assert_eq!(
        checksum::combine(&[ph, checksum::data(icmp)]),
        0xffff,
        "ICMPv6 checksum"
    );
    let param = u32::from_be_bytes(icmp[4..8].try_into().unwrap());
    (icmp[0], icmp[1], param, &icmp[8..])
}

/// The downstream L2TP frame the template makes around `inner`.
fn down_l2tp(proto: u16, inner: &[u8]) -> Vec<u8> {
    L2tpFrame::downstream(&spec(), None).build(proto, inner)
}

/// The template's length for spec() (Eth 14 + IP 20 + UDP 8 + L2TP 6 +
/// PPP 4).
const TEMPLATE_LEN: usize = 52;

#[test]
fn upstream_ttl_expired_v4_goes_back_down_the_session() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv4_packet(sub(), net::REMOTE_V4, 1, true, Transport::Udp(40));
    let input = L2tpFrame::upstream(&spec()).build(0x21, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Access,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Access));
    // Exactly the wire crate's error (ident 1, TTL 64) inside the template.
    let mut icmp = vec![0u8; 128];
    let n = icmpv4::build_error_packet(ErrorKind::TimeExceeded, &inner, CORE_SRC, 1, &mut icmp)
        .unwrap();
    assert_eq!(out, down_l2tp(0x21, &icmp[..n]));
    let r = icmp_ok_v4(&out[TEMPLATE_LEN..]);
    assert_eq!(r, icmpv4::Repr::TimeExceeded { data: &inner[..28] });
    let ip = ipv4::Packet::new_checked(&out[TEMPLATE_LEN..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.ttl()),
        (CORE_SRC, sub(), 64)
    );
    assert_eq!(slow.count(SlowOutcome::IcmpTimeExceeded), 1);
}

#[test]
fn upstream_ttl_expired_without_a_source_uses_the_tunnel_address() {
    let t = table();
    let mut slow = SlowPath::new(SlowPathConfig {
        source_v4: None,
        ..slow_cfg()
    });
    let inner = ipv4_packet(sub(), net::REMOTE_V4, 0, false, Transport::TcpAck(10));
    let input = L2tpFrame::upstream(&spec()).build(0x21, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Access,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Access));
    let ip = ipv4::Packet::new_checked(&out[TEMPLATE_LEN..]).unwrap();
    assert_eq!(ip.src_addr(), net::LNS);
    icmp_ok_v4(&out[TEMPLATE_LEN..]);
}

#[test]
fn upstream_hop_limit_expired_v6_gets_icmpv6_time_exceeded() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv6_packet(spec().v6_addr(), net::REMOTE_V6, 1, Transport::Udp(64));
    let input = L2tpFrame::upstream(&spec()).build(0x57, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Access,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Access));
    let mut want = vec![0u8; 1400];
    let n = build_icmpv6_error(3, 0, 0, &inner, CORE_SRC6, 64, &mut want).unwrap();
    assert_eq!(out, down_l2tp(0x57, &want[..n]));
    let (typ, code, param, quoted) = icmpv6_ok(&out[TEMPLATE_LEN..]);
    assert_eq!((typ, code, param), (3, 0, 0));
    assert_eq!(quoted, &inner[..]);
    assert_eq!(slow.count(SlowOutcome::Icmp6TimeExceeded), 1);
}

#[test]
fn downstream_ttl_expired_goes_to_the_sender_via_the_core() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(100));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Core));
    let mut icmp = vec![0u8; 128];
    let n = icmpv4::build_error_packet(ErrorKind::TimeExceeded, &inner, CORE_SRC, 1, &mut icmp)
        .unwrap();
    assert_eq!(
        out,
        eth_frame(
            net::CORE_GW_MAC,
            net::LNS_CORE_MAC,
            None,
            0x0800,
            &icmp[..n]
        )
    );
    let r = icmp_ok_v4(&out[14..]);
    assert_eq!(r, icmpv4::Repr::TimeExceeded { data: &inner[..28] });
    let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (CORE_SRC, net::REMOTE_V4));
}

#[test]
fn downstream_df_too_big_gets_frag_needed_with_the_session_mtu() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 64, true, Transport::TcpAck(1460));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::FragNeeded,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Core));
    assert_eq!(
        &out[..12],
        &[net::CORE_GW_MAC, net::LNS_CORE_MAC].concat()[..]
    );
    let r = icmp_ok_v4(&out[14..]);
    assert_eq!(
        r,
        icmpv4::Repr::FragNeeded {
            next_hop_mtu: spec().mtu,
            data: &inner[..28]
        }
    );
    assert_eq!(spec().mtu, 1460);
    assert_eq!(slow.count(SlowOutcome::IcmpFragNeeded), 1);
}

#[test]
fn downstream_v6_too_big_gets_packet_too_big() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv6_packet(net::REMOTE_V6, spec().v6_addr(), 64, Transport::Udp(1600));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x86dd, &inner);
    let (a, out) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::FragNeeded,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Tx(Side::Core));
    assert_eq!(&out[12..14], &[0x86, 0xdd]);
    assert_eq!(out.len(), 14 + 1280, "quoted up to the minimum MTU");
    let (typ, code, mtu, quoted) = icmpv6_ok(&out[14..]);
    assert_eq!((typ, code, mtu), (2, 0, 1460));
    assert_eq!(quoted, &inner[..1280 - 48]);
    assert_eq!(&out[14 + 24..14 + 40], &net::REMOTE_V6, "to the sender");
    assert_eq!(slow.count(SlowOutcome::Icmp6PacketTooBig), 1);
}

#[test]
fn downstream_errors_need_a_source_address() {
    let t = table();
    let mut slow = SlowPath::new(SlowPathConfig {
        source_v4: None,
        source_v6: None,
        ..slow_cfg()
    });
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(10));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let (a, _) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Recycle);
    assert_eq!(slow.count(SlowOutcome::NoSource), 1);
}

/// Reassembles IPv4 fragments (inner packets) into the datagram.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = frags
        .iter()
        .map(|f| {
            let p = ipv4::Packet::new_checked(&f[..]).unwrap();
            (
                usize::from(p.frag_offset()),
                p.more_frags(),
                p.payload().to_vec(),
            )
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut data = Vec::new();
    for (k, (off, mf, d)) in parts.iter().enumerate() {
        assert_eq!(*off, data.len(), "fragments are contiguous");
        assert_eq!(*mf, k + 1 < parts.len(), "MF on all but the last");
        data.extend_from_slice(d);
    }
    data
}

#[test]
fn downstream_without_df_is_fragmented_and_reassembles() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    for (payload, n) in [(1441usize, 2usize), (4000, 3), (1432 + 1440, 2), (9000, 7)] {
        let inner = ipv4_packet(net::REMOTE_V4, sub(), 64, false, Transport::Udp(payload));
        let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
        let mut alloc = VecAlloc::with(64);
        let (a, _) = punt_and_handle(
            &mut slow,
            &t,
            &input,
            Side::Core,
            PuntReason::NeedsFragment,
            0,
            &mut alloc,
        );
        assert_eq!(a, SlowAction::Recycle, "the original frame is recycled");
        assert_eq!(alloc.out.len(), n, "{payload}-byte payload: {n} fragments");
        assert_eq!(alloc.left, 64 - n);
        let mut frags = Vec::new();
        for (side, f) in &alloc.out {
            assert_eq!(*side, Side::Access);
            let ip = &f[TEMPLATE_LEN..];
            // The template around it, patched like any downstream packet.
            assert_eq!(f, &down_l2tp(0x21, ip));
            let p = ipv4::Packet::new_checked(ip).unwrap();
            assert!(p.verify_checksum());
            assert!(usize::from(p.total_len()) <= usize::from(spec().mtu));
            assert_eq!(p.ttl(), 63, "the hop is counted");
            assert_eq!(p.ident(), 0x1234, "the original's Identification");
            assert!(!p.dont_frag());
            assert_eq!(p.frag_offset() % 8, 0);
            frags.push(ip.to_vec());
        }
        assert_eq!(
            reassemble(&frags),
            inner[20..],
            "reassembly equals the original"
        );
    }
    assert_eq!(slow.count(SlowOutcome::Fragmented), 4);
    assert_eq!(slow.count(SlowOutcome::FragmentsSent), 2 + 3 + 2 + 7);
}

#[test]
fn fragmentation_without_enough_frames_drops_the_packet() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 64, false, Transport::Udp(4000));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let mut alloc = VecAlloc::with(2);
    let (a, _) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::NeedsFragment,
        0,
        &mut alloc,
    );
    assert_eq!(a, SlowAction::Recycle);
    assert!(alloc.out.is_empty());
    assert_eq!(alloc.left, 2, "no frame taken");
    assert_eq!(slow.count(SlowOutcome::NoFrame), 1);
}

#[test]
fn rate_limit_suppresses_and_refills() {
    let t = table();
    let mut slow = SlowPath::new(SlowPathConfig {
        rate: 10,
        burst: 3,
        ..slow_cfg()
    });
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(10));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let mut run = |now: u64| {
        punt_and_handle(
            &mut slow,
            &t,
            &input,
            Side::Core,
            PuntReason::TtlExpired,
            now,
            &mut VecAlloc::default(),
        )
        .0
    };
    let first: Vec<_> = (0..5).map(|_| run(1_000)).collect();
    assert_eq!(
        first,
        [
            SlowAction::Tx(Side::Core),
            SlowAction::Tx(Side::Core),
            SlowAction::Tx(Side::Core),
            SlowAction::Recycle,
            SlowAction::Recycle
        ]
    );
    // 10/s: one token every 100 ms.
    assert_eq!(run(50_000_000), SlowAction::Recycle);
    assert_eq!(run(101_001_000), SlowAction::Tx(Side::Core));
    assert_eq!(run(101_001_000), SlowAction::Recycle);
    assert_eq!(slow.count(SlowOutcome::IcmpTimeExceeded), 4);
    assert_eq!(slow.count(SlowOutcome::RateLimited), 4);
}

#[test]
fn rate_zero_sends_nothing() {
    let t = table();
    let mut slow = SlowPath::new(SlowPathConfig {
        rate: 0,
        ..slow_cfg()
    });
    let inner = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(10));
    let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner);
    let (a, _) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Core,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Recycle);
    assert_eq!(slow.count(SlowOutcome::RateLimited), 1);
}

/// `ip` with its header checksum recomputed.
fn refill(mut ip: Vec<u8>) -> Vec<u8> {
    ipv4::Packet::new_unchecked(&mut ip[..]).fill_checksum();
    ip
}

#[test]
fn no_errors_where_rfc_1812_forbids_them() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    // An ICMP Time Exceeded (an error) with TTL 1, towards the subscriber.
    let mut icmp_err = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(28));
    icmp_err[9] = 1;
    icmp_err[20] = 11;
    // A non-first fragment with TTL 1.
    let mut later_frag = ipv4_packet(net::REMOTE_V4, sub(), 1, false, Transport::Udp(28));
    later_frag[6..8].copy_from_slice(&(0x2000u16 | 185).to_be_bytes());
    // From a multicast source.
    let mut mcast_src = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(8));
    mcast_src[12..16].copy_from_slice(&[224, 0, 0, 5]);
    // An echo request (not an error) is answered.
    let mut echo = ipv4_packet(net::REMOTE_V4, sub(), 1, true, Transport::Udp(28));
    echo[9] = 1;
    echo[20] = 8;
    for (name, ip, want) in [
        ("icmp error", icmp_err, SlowOutcome::NotAllowed),
        ("non-first fragment", later_frag, SlowOutcome::NotAllowed),
        ("multicast source", mcast_src, SlowOutcome::NotAllowed),
        ("echo request", echo, SlowOutcome::IcmpTimeExceeded),
    ] {
        let ip = refill(ip);
        let input = eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &ip);
        let before = slow.count(want);
        let (a, _) = punt_and_handle(
            &mut slow,
            &t,
            &input,
            Side::Core,
            PuntReason::TtlExpired,
            0,
            &mut VecAlloc::default(),
        );
        assert_eq!(slow.count(want), before + 1, "{name}");
        assert_eq!(
            a,
            if want == SlowOutcome::NotAllowed {
                SlowAction::Recycle
            } else {
                SlowAction::Tx(Side::Core)
            },
            "{name}"
        );
    }
    // Upstream: a subscriber's TTL-1 packet to the limited broadcast.
    let bcast = ipv4_packet(sub(), Ipv4Addr::BROADCAST, 1, true, Transport::Udp(8));
    let input = L2tpFrame::upstream(&spec()).build(0x21, &bcast);
    let (a, _) = punt_and_handle(
        &mut slow,
        &t,
        &input,
        Side::Access,
        PuntReason::TtlExpired,
        0,
        &mut VecAlloc::default(),
    );
    assert_eq!(a, SlowAction::Recycle);
    assert_eq!(slow.count(SlowOutcome::NotAllowed), 4);
}

#[test]
fn control_plane_and_outer_fragment_punts_are_counted_and_recycled() {
    let t = table();
    let mut slow = SlowPath::new(slow_cfg());
    let cfg = pcfg();
    // LCP inside a data message.
    let lcp = L2tpFrame::upstream(&spec()).build(0xc021, &[1, 1, 0, 4]);
    let mut outer_frag = L2tpFrame::upstream(&spec());
    outer_frag.df = false;
    let mut of = outer_frag.build(
        0x21,
        &ipv4_packet(sub(), net::REMOTE_V4, 64, true, Transport::Udp(8)),
    );
    of[14 + 6] = 0x20; // MF
    let of = {
        let mut ip = of[14..].to_vec();
        ip = refill(ip);
        [&of[..14], &ip[..]].concat()
    };
    for (input, reason, outcome) in [
        (lcp, PuntReason::ToControlPlane, SlowOutcome::ToControlPlane),
        (of, PuntReason::OuterFragment, SlowOutcome::OuterFragment),
    ] {
        let mut o = OwnedFrame::new(&input, Side::Access);
        assert_eq!(o.process(&t, &cfg), Verdict::Punt(reason));
        let mut f = o.frame();
        let a = slow.handle(
            &mut f,
            reason,
            &t,
            &cfg,
            0,
            &mut VecAlloc::default(),
            &mut (),
        );
        assert_eq!(a, SlowAction::Recycle);
        assert_eq!(slow.count(outcome), 1);
    }
}
