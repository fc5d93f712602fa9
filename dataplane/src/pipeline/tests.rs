//! Fixture tables (description, input bytes, expected verdict, expected
//! output bytes) in the style of Katran's and Cilium's BPF_PROG_TEST_RUN
//! tables, plus property tests.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

use l2tpx_table::{Session, SessionCounters};
use l2tpx_wire::l2tp::HeaderRepr;
use l2tpx_wire::{ethernet, ipv4, ipv6, ppp, tcp, udp};
use proptest::prelude::*;

use super::testing::{
    eth_frame, ipv4_packet, ipv6_packet, net, run_batch, L2tpFrame, MockTable, OwnedFrame,
    SessionSpec, Transport,
};
use super::*;

const BANK_BITS: u32 = 1;

/// Session specs of the fixture table, by name.
struct Fx {
    plain: SessionSpec,
    length: SessionSpec,
    seq: SessionSpec,
    vlan: SessionSpec,
    no_clamp: SessionSpec,
    down: SessionSpec,
    tunnel2: SessionSpec,
    v4_only: SessionSpec,
}

fn fixtures() -> (Fx, MockTable) {
    let plain = SessionSpec::nth(1);
    let length = SessionSpec {
        with_length: true,
        ..SessionSpec::nth(2)
    };
    let seq = SessionSpec {
        with_length: true,
        sequencing: true,
        ..SessionSpec::nth(3)
    };
    let vlan = SessionSpec {
        vlan_tci: Some(0x2064),
        ..SessionSpec::nth(4)
    };
    let no_clamp = SessionSpec {
        mss_clamp: 0,
        mtu: 1500,
        ..SessionSpec::nth(5)
    };
    let down = SessionSpec::nth(6);
    // Tunnel 2 lands in bank 0; tunnel 4 points at the same slots.
    let tunnel2 = SessionSpec {
        our_tunnel_id: 2,
        ..SessionSpec::nth(7)
    };
    let v4_only = SessionSpec {
        v6: None,
        ..SessionSpec::nth(8)
    };
    let mut t = MockTable::new(BANK_BITS);
    for s in [
        &plain, &length, &seq, &vlan, &no_clamp, &down, &tunnel2, &v4_only,
    ] {
        t.insert(s.session(BANK_BITS));
    }
    t.set_up(down.session(BANK_BITS).slot, false);
    let fx = Fx {
        plain,
        length,
        seq,
        vlan,
        no_clamp,
        down,
        tunnel2,
        v4_only,
    };
    (fx, t)
}

fn cfg() -> PipelineConfig {
    PipelineConfig::new(net::LNS_CORE_MAC, net::CORE_GW_MAC)
}

/// What a fixture expects.
#[derive(Debug)]
enum Expect {
    /// Forwarded, with exactly these bytes.
    Tx(Verdict, Vec<u8>),
    /// Punted: the frame must be untouched.
    Punt(PuntReason),
    /// Dropped.
    Drop(DropReason),
}

struct Case {
    name: &'static str,
    from: Side,
    headroom: usize,
    input: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, from: Side, input: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        from,
        headroom: HEADROOM,
        input,
        expect,
    }
}

fn sub_v4(s: &SessionSpec) -> Ipv4Addr {
    s.v4.unwrap()
}

/// An upstream IPv4 frame of `s` with inner TTL `ttl` and transport `t`.
fn up_v4(s: &SessionSpec, ttl: u8, t: Transport) -> (Vec<u8>, Vec<u8>) {
    let inner = ipv4_packet(sub_v4(s), net::REMOTE_V4, ttl, true, t);
    (L2tpFrame::upstream(s).build(0x21, &inner), inner)
}

fn up_v6(s: &SessionSpec, hop: u8, t: Transport) -> (Vec<u8>, Vec<u8>) {
    let inner = ipv6_packet(s.v6_addr(), net::REMOTE_V6, hop, t);
    (L2tpFrame::upstream(s).build(0x57, &inner), inner)
}

fn core_out_v4(inner: &[u8]) -> Vec<u8> {
    eth_frame(net::CORE_GW_MAC, net::LNS_CORE_MAC, None, 0x0800, inner)
}

fn core_out_v6(inner: &[u8]) -> Vec<u8> {
    eth_frame(net::CORE_GW_MAC, net::LNS_CORE_MAC, None, 0x86dd, inner)
}

fn core_in(ethertype: u16, inner: &[u8]) -> Vec<u8> {
    eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, ethertype, inner)
}

fn down_v4(s: &SessionSpec, ttl: u8, df: bool, t: Transport) -> Vec<u8> {
    ipv4_packet(net::REMOTE_V4, sub_v4(s), ttl, df, t)
}

fn down_v6(s: &SessionSpec, hop: u8, t: Transport) -> Vec<u8> {
    ipv6_packet(net::REMOTE_V6, s.v6_addr(), hop, t)
}

fn upstream_cases(fx: &Fx) -> Vec<Case> {
    use Expect::{Drop as D, Punt as P, Tx};
    use Side::Access as A;
    let p = &fx.plain;
    let udp = Transport::Udp(32);
    let fwd4 = |s: &SessionSpec, t: Transport| {
        core_out_v4(&ipv4_packet(sub_v4(s), net::REMOTE_V4, 63, true, t))
    };
    let fwd6 = |s: &SessionSpec, t: Transport| {
        core_out_v6(&ipv6_packet(s.v6_addr(), net::REMOTE_V6, 63, t))
    };
    let inner4 = ipv4_packet(sub_v4(p), net::REMOTE_V4, 64, true, udp);
    let inner6 = ipv6_packet(p.v6_addr(), net::REMOTE_V6, 64, udp);
    let with = |f: &dyn Fn(&mut L2tpFrame), proto: u16, inner: &[u8]| {
        let mut l = L2tpFrame::upstream(p);
        f(&mut l);
        l.build(proto, inner)
    };
    let mut cases = vec![
        case(
            "v4 udp",
            A,
            up_v4(p, 64, udp).0,
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v6 udp",
            A,
            up_v6(p, 64, udp).0,
            Tx(Verdict::TxCore, fwd6(p, udp)),
        ),
        case(
            "v4 without ff03",
            A,
            with(&|l| l.address_control = false, 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v4 pfc",
            A,
            with(&|l| l.pfc = true, 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v6 acfc+pfc",
            A,
            with(
                &|l| {
                    l.pfc = true;
                    l.address_control = false
                },
                0x57,
                &inner6,
            ),
            Tx(Verdict::TxCore, fwd6(p, udp)),
        ),
        case(
            "v4 l2tp length",
            A,
            with(&|l| l.with_length = true, 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v4 l2tp ns",
            A,
            with(&|l| l.ns = Some(77), 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v4 l2tp offset 0",
            A,
            with(&|l| l.offset_pad = Some(0), 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v6 l2tp length+ns+offset 5",
            A,
            with(
                &|l| {
                    l.with_length = true;
                    l.ns = Some(1);
                    l.offset_pad = Some(5)
                },
                0x57,
                &inner6,
            ),
            Tx(Verdict::TxCore, fwd6(p, udp)),
        ),
        case(
            "v4 outer udp checksum (not verified)",
            A,
            with(&|l| l.udp_checksum = true, 0x21, &inner4),
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        case(
            "v4 access vlan",
            A,
            up_v4(&fx.vlan, 64, udp).0,
            Tx(Verdict::TxCore, fwd4(&fx.vlan, udp)),
        ),
        case(
            "v4 tiny, ethernet padding",
            A,
            {
                let mut f = up_v4(p, 64, Transport::Udp(0)).0;
                f.resize(f.len().max(60) + 8, 0);
                f
            },
            Tx(Verdict::TxCore, fwd4(p, Transport::Udp(0))),
        ),
        case(
            "v4 l2tp length shorter than udp (trailer ignored)",
            A,
            {
                let mut l = L2tpFrame::upstream(p);
                l.with_length = true;
                let mut body = {
                    let mut pppf = vec![0xff, 0x03, 0x00, 0x21];
                    pppf.extend_from_slice(&inner4);
                    pppf
                };
                let hdr = HeaderRepr {
                    payload_len: body.len(),
                    ..HeaderRepr::data(1, 1, 0)
                };
                let hdr = HeaderRepr {
                    length_present: true,
                    ..hdr
                };
                let mut m = vec![0u8; hdr.message_len()];
                hdr.emit(&mut m);
                m.truncate(hdr.header_len());
                m.append(&mut body);
                m.extend_from_slice(&[9, 9, 9]);
                l.wrap_udp(&m)
            },
            Tx(Verdict::TxCore, fwd4(p, udp)),
        ),
        // MSS clamping.
        case(
            "v4 syn mss 1460 clamped to 1420",
            A,
            up_v4(p, 64, Transport::TcpSyn(1460, 0)).0,
            Tx(Verdict::TxCore, fwd4(p, Transport::TcpSyn(1420, 0))),
        ),
        case(
            "v4 syn odd-offset mss clamped",
            A,
            up_v4(p, 64, Transport::TcpSynOddMss(1460)).0,
            Tx(Verdict::TxCore, fwd4(p, Transport::TcpSynOddMss(1420))),
        ),
        case(
            "v4 syn mss 1300 kept",
            A,
            up_v4(p, 64, Transport::TcpSyn(1300, 10)).0,
            Tx(Verdict::TxCore, fwd4(p, Transport::TcpSyn(1300, 10))),
        ),
        case(
            "v4 ack untouched",
            A,
            up_v4(p, 64, Transport::TcpAck(100)).0,
            Tx(Verdict::TxCore, fwd4(p, Transport::TcpAck(100))),
        ),
        case(
            "v4 syn, session without clamp",
            A,
            up_v4(&fx.no_clamp, 64, Transport::TcpSyn(1460, 0)).0,
            Tx(
                Verdict::TxCore,
                fwd4(&fx.no_clamp, Transport::TcpSyn(1460, 0)),
            ),
        ),
        case(
            "v6 syn mss 1440 clamped to 1400",
            A,
            up_v6(p, 64, Transport::TcpSyn(1440, 0)).0,
            Tx(Verdict::TxCore, fwd6(p, Transport::TcpSyn(1400, 0))),
        ),
        // TTL.
        case("v4 ttl 1", A, up_v4(p, 1, udp).0, P(PuntReason::TtlExpired)),
        case("v4 ttl 0", A, up_v4(p, 0, udp).0, P(PuntReason::TtlExpired)),
        case(
            "v4 ttl 2 forwarded",
            A,
            up_v4(p, 2, udp).0,
            Tx(
                Verdict::TxCore,
                core_out_v4(&ipv4_packet(sub_v4(p), net::REMOTE_V4, 1, true, udp)),
            ),
        ),
        case(
            "v6 hop limit 1",
            A,
            up_v6(p, 1, udp).0,
            P(PuntReason::TtlExpired),
        ),
        // Anti-spoofing.
        case(
            "v4 spoofed source",
            A,
            L2tpFrame::upstream(p).build(
                0x21,
                &ipv4_packet(
                    Ipv4Addr::new(198, 18, 251, 2),
                    net::REMOTE_V4,
                    64,
                    false,
                    udp,
                ),
            ),
            D(DropReason::SpoofedSource),
        ),
        case(
            "v4 spoofed source, ttl 1 (no icmp for spoofers)",
            A,
            L2tpFrame::upstream(p).build(
                0x21,
                &ipv4_packet(
                    Ipv4Addr::new(198, 18, 250, 1),
                    net::REMOTE_V4,
                    1,
                    false,
                    udp,
                ),
            ),
            D(DropReason::SpoofedSource),
        ),
        case(
            "v6 spoofed prefix",
            A,
            L2tpFrame::upstream(p).build(
                0x57,
                &ipv6_packet(fx.length.v6_addr(), net::REMOTE_V6, 64, udp),
            ),
            D(DropReason::SpoofedSource),
        ),
        case(
            "v6 on a v4-only session",
            A,
            L2tpFrame::upstream(&fx.v4_only)
                .build(0x57, &ipv6_packet(p.v6_addr(), net::REMOTE_V6, 64, udp)),
            D(DropReason::SpoofedSource),
        ),
        case(
            "v6 link-local source (router solicitation)",
            A,
            L2tpFrame::upstream(p).build(
                0x57,
                &ipv6_packet(
                    [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    255,
                    udp,
                ),
            ),
            P(PuntReason::ToControlPlane),
        ),
        case(
            "v6 multicast destination",
            A,
            L2tpFrame::upstream(p).build(
                0x57,
                &ipv6_packet(
                    p.v6_addr(),
                    [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2],
                    1,
                    udp,
                ),
            ),
            P(PuntReason::ToControlPlane),
        ),
        // Session checks.
        case(
            "unknown session",
            A,
            with(&|l| l.session_id = 99, 0x21, &inner4),
            D(DropReason::UnknownSession),
        ),
        case(
            "session down",
            A,
            up_v4(&fx.down, 64, udp).0,
            D(DropReason::UnknownSession),
        ),
        case(
            "tunnel mismatch (same slot, other tunnel)",
            A,
            {
                let mut l = L2tpFrame::upstream(&fx.tunnel2);
                l.tunnel_id = 4;
                l.build(
                    0x21,
                    &ipv4_packet(sub_v4(&fx.tunnel2), net::REMOTE_V4, 64, false, udp),
                )
            },
            D(DropReason::TunnelMismatch),
        ),
        case(
            "tunnel 2 itself",
            A,
            up_v4(&fx.tunnel2, 64, udp).0,
            Tx(Verdict::TxCore, fwd4(&fx.tunnel2, udp)),
        ),
        case(
            "wrong peer address",
            A,
            with(&|l| l.src = net::OTHER_LAC, 0x21, &inner4),
            D(DropReason::WrongPeer),
        ),
        case(
            "wrong peer port",
            A,
            with(&|l| l.src_port = 1702, 0x21, &inner4),
            D(DropReason::WrongPeerPort),
        ),
        // Not for the fast path.
        case(
            "l2tp control message (hello)",
            A,
            L2tpFrame::upstream(p).wrap_udp(&[
                0xc8, 0x02, 0x00, 0x14, 0, 1, 0, 0, 0, 1, 0, 1, 0x80, 8, 0, 0, 0, 0, 0, 6,
            ]),
            P(PuntReason::ToControlPlane),
        ),
        case(
            "lcp echo request",
            A,
            with(&|_| {}, 0xc021, &[9, 1, 0, 8, 0, 0, 0, 0]),
            P(PuntReason::ToControlPlane),
        ),
        case(
            "ipcp",
            A,
            with(&|_| {}, 0x8021, &[1, 1, 0, 4]),
            P(PuntReason::ToControlPlane),
        ),
        case(
            "outer fragment",
            A,
            {
                let mut f = up_v4(p, 64, udp).0;
                f[14 + 6] = 0x20;
                let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
                ip.fill_checksum();
                f
            },
            P(PuntReason::OuterFragment),
        ),
        case(
            "not udp 1701",
            A,
            with(&|l| l.dst_port = 53, 0x21, &inner4),
            D(DropReason::NotL2tp),
        ),
        case(
            "not udp",
            A,
            eth_frame(
                net::LNS_ACCESS_MAC,
                net::LAC_MAC,
                None,
                0x0800,
                &ipv4_packet(net::LAC, net::LNS, 64, false, Transport::TcpAck(0)),
            ),
            D(DropReason::NotL2tp),
        ),
        case(
            "l2tpv3 on 1701",
            A,
            L2tpFrame::upstream(p).wrap_udp(&[0x00, 0x03, 0, 0, 0, 1, 0, 0]),
            D(DropReason::NotL2tp),
        ),
        case(
            "arp",
            A,
            eth_frame(net::LNS_ACCESS_MAC, net::LAC_MAC, None, 0x0806, &[0; 28]),
            D(DropReason::NotIp),
        ),
        case(
            "ipv6 outer",
            A,
            eth_frame(net::LNS_ACCESS_MAC, net::LAC_MAC, None, 0x86dd, &inner6),
            D(DropReason::NotIp),
        ),
        case(
            "bad outer checksum",
            A,
            {
                let mut f = up_v4(p, 64, udp).0;
                f[14 + 10] ^= 1;
                f
            },
            D(DropReason::BadChecksum),
        ),
        case(
            "truncated ethernet",
            A,
            vec![0; 13],
            D(DropReason::Malformed),
        ),
        case(
            "truncated outer ip",
            A,
            up_v4(p, 64, udp).0[..30].to_vec(),
            D(DropReason::Malformed),
        ),
        case(
            "truncated l2tp",
            A,
            L2tpFrame::upstream(p).wrap_udp(&[0x40, 0x02, 0x00]),
            D(DropReason::Malformed),
        ),
        case(
            "l2tp length beyond udp",
            A,
            L2tpFrame::upstream(p)
                .wrap_udp(&[0x40, 0x02, 0x00, 0x40, 0, 1, 0, 1, 0xff, 0x03, 0, 0x21]),
            D(DropReason::Malformed),
        ),
        case(
            "inner ipv4 truncated",
            A,
            with(&|_| {}, 0x21, &inner4[..19]),
            D(DropReason::Malformed),
        ),
        case(
            "inner ipv4 total length too long",
            A,
            {
                let mut i = inner4.clone();
                i[3] += 1;
                with(&|_| {}, 0x21, &i)
            },
            D(DropReason::Malformed),
        ),
        case(
            "inner version 6 under ppp ipv4",
            A,
            with(&|_| {}, 0x21, &inner6),
            D(DropReason::Malformed),
        ),
        case(
            "empty ppp",
            A,
            with(&|_| {}, 0x21, &[]),
            D(DropReason::Malformed),
        ),
    ];
    // VLAN tag with a truncated inner ethertype.
    cases.push(case(
        "vlan tag truncated",
        A,
        vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1],
        D(DropReason::Malformed),
    ));
    cases
}

fn downstream_cases(fx: &Fx) -> Vec<Case> {
    use Expect::{Drop as D, Punt as P, Tx};
    use Side::Core as C;
    let p = &fx.plain;
    let udp = Transport::Udp(32);
    let out4 = |s: &SessionSpec, ns: Option<u16>, t: Transport, df: bool| {
        L2tpFrame::downstream(s, ns).build(0x21, &down_v4(s, 63, df, t))
    };
    let out6 = |s: &SessionSpec, ns: Option<u16>, t: Transport| {
        L2tpFrame::downstream(s, ns).build(0x57, &down_v6(s, 63, t))
    };
    let tx = Verdict::TxAccess;
    let big = |s: &SessionSpec| Transport::Udp(usize::from(s.mtu) - 28 + 1);
    let fits = |s: &SessionSpec| Transport::Udp(usize::from(s.mtu) - 28);
    vec![
        case(
            "v4 udp",
            C,
            core_in(0x0800, &down_v4(p, 64, true, udp)),
            Tx(tx, out4(p, None, udp, true)),
        ),
        case(
            "v4 udp, no df",
            C,
            core_in(0x0800, &down_v4(p, 64, false, udp)),
            Tx(tx, out4(p, None, udp, false)),
        ),
        case(
            "v6 udp",
            C,
            core_in(0x86dd, &down_v6(p, 64, udp)),
            Tx(tx, out6(p, None, udp)),
        ),
        case(
            "v4 with l2tp length",
            C,
            core_in(0x0800, &down_v4(&fx.length, 64, true, udp)),
            Tx(tx, out4(&fx.length, None, udp, true)),
        ),
        case(
            "v6 with l2tp length",
            C,
            core_in(0x86dd, &down_v6(&fx.length, 64, udp)),
            Tx(tx, out6(&fx.length, None, udp)),
        ),
        case(
            "v4 access vlan",
            C,
            core_in(0x0800, &down_v4(&fx.vlan, 64, true, udp)),
            Tx(tx, out4(&fx.vlan, None, udp, true)),
        ),
        case(
            "v4 from a tagged core",
            C,
            eth_frame(
                net::LNS_CORE_MAC,
                net::CORE_GW_MAC,
                Some(7),
                0x0800,
                &down_v4(p, 64, true, udp),
            ),
            Tx(tx, out4(p, None, udp, true)),
        ),
        case(
            "v4 tiny, ethernet padding",
            C,
            {
                let mut f = core_in(0x0800, &down_v4(p, 64, true, Transport::Udp(0)));
                f.resize(60, 0);
                f
            },
            Tx(tx, out4(p, None, Transport::Udp(0), true)),
        ),
        case(
            "v4 syn clamped",
            C,
            core_in(0x0800, &down_v4(p, 64, true, Transport::TcpSyn(1460, 0))),
            Tx(tx, out4(p, None, Transport::TcpSyn(1420, 0), true)),
        ),
        case(
            "v4 syn odd-offset clamped",
            C,
            core_in(0x0800, &down_v4(p, 64, true, Transport::TcpSynOddMss(9000))),
            Tx(tx, out4(p, None, Transport::TcpSynOddMss(1420), true)),
        ),
        case(
            "v4 syn kept",
            C,
            core_in(0x0800, &down_v4(p, 64, true, Transport::TcpSyn(536, 0))),
            Tx(tx, out4(p, None, Transport::TcpSyn(536, 0), true)),
        ),
        case(
            "v4 syn, no clamp session",
            C,
            core_in(
                0x0800,
                &down_v4(&fx.no_clamp, 64, true, Transport::TcpSyn(1460, 0)),
            ),
            Tx(
                tx,
                out4(&fx.no_clamp, None, Transport::TcpSyn(1460, 0), true),
            ),
        ),
        case(
            "v6 syn clamped",
            C,
            core_in(0x86dd, &down_v6(p, 64, Transport::TcpSyn(1440, 20))),
            Tx(tx, out6(p, None, Transport::TcpSyn(1400, 20))),
        ),
        case(
            "v4 ttl 1",
            C,
            core_in(0x0800, &down_v4(p, 1, true, udp)),
            P(PuntReason::TtlExpired),
        ),
        case(
            "v6 hop limit 1",
            C,
            core_in(0x86dd, &down_v6(p, 1, udp)),
            P(PuntReason::TtlExpired),
        ),
        case(
            "v4 exactly mtu",
            C,
            core_in(0x0800, &down_v4(p, 64, true, fits(p))),
            Tx(tx, out4(p, None, fits(p), true)),
        ),
        case(
            "v4 too big, df",
            C,
            core_in(0x0800, &down_v4(p, 64, true, big(p))),
            P(PuntReason::FragNeeded),
        ),
        case(
            "v4 too big, no df",
            C,
            core_in(0x0800, &down_v4(p, 64, false, big(p))),
            P(PuntReason::NeedsFragment),
        ),
        case(
            "v6 too big",
            C,
            core_in(
                0x86dd,
                &down_v6(p, 64, Transport::Udp(usize::from(p.mtu) - 48 + 1)),
            ),
            P(PuntReason::FragNeeded),
        ),
        case(
            "v6 exactly mtu",
            C,
            core_in(
                0x86dd,
                &down_v6(p, 64, Transport::Udp(usize::from(p.mtu) - 48)),
            ),
            Tx(tx, out6(p, None, Transport::Udp(usize::from(p.mtu) - 48))),
        ),
        case(
            "unknown subscriber v4",
            C,
            core_in(
                0x0800,
                &ipv4_packet(
                    net::REMOTE_V4,
                    Ipv4Addr::new(198, 18, 250, 9),
                    64,
                    true,
                    udp,
                ),
            ),
            D(DropReason::UnknownSubscriber),
        ),
        case(
            "unknown subscriber v6",
            C,
            core_in(
                0x86dd,
                &ipv6_packet(
                    net::REMOTE_V6,
                    [0x20, 1, 0xd, 0xb8, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 1],
                    64,
                    udp,
                ),
            ),
            D(DropReason::UnknownSubscriber),
        ),
        case(
            "v6 to a v4-only session's /64 (none)",
            C,
            core_in(
                0x86dd,
                &ipv6_packet(
                    net::REMOTE_V6,
                    {
                        let mut a = [0u8; 16];
                        a[..8].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 8]);
                        a
                    },
                    64,
                    udp,
                ),
            ),
            D(DropReason::UnknownSubscriber),
        ),
        case(
            "session down",
            C,
            core_in(0x0800, &down_v4(&fx.down, 64, true, udp)),
            D(DropReason::UnknownSubscriber),
        ),
        case(
            "unknown subscriber, ttl 1",
            C,
            core_in(
                0x0800,
                &ipv4_packet(net::REMOTE_V4, Ipv4Addr::new(198, 18, 250, 9), 1, true, udp),
            ),
            D(DropReason::UnknownSubscriber),
        ),
        case("arp", C, core_in(0x0806, &[0; 28]), D(DropReason::NotIp)),
        case(
            "truncated ipv4",
            C,
            core_in(0x0800, &down_v4(p, 64, true, udp)[..19]),
            D(DropReason::Malformed),
        ),
        case(
            "ipv4 total length beyond frame",
            C,
            core_in(0x0800, &{
                let mut i = down_v4(p, 64, true, udp);
                i[3] += 1;
                i
            }),
            D(DropReason::Malformed),
        ),
        case(
            "ipv6 payload length beyond frame",
            C,
            core_in(0x86dd, &{
                let mut i = down_v6(p, 64, udp);
                i[5] += 1;
                i
            }),
            D(DropReason::Malformed),
        ),
        case(
            "ipv4 ihl 4",
            C,
            core_in(0x0800, &{
                let mut i = down_v4(p, 64, true, udp);
                i[0] = 0x44;
                i
            }),
            D(DropReason::Malformed),
        ),
        case(
            "truncated ethernet",
            C,
            vec![1; 10],
            D(DropReason::Malformed),
        ),
    ]
}

/// Checks what the wire crate says about a forwarded packet: every checksum
/// verifies, every length agrees.
fn verify_output(v: Verdict, out: &[u8]) {
    let eth = ethernet::Frame::new_checked(out).expect("ethernet");
    let repr = ethernet::Repr::parse(&eth).unwrap();
    let l3 = eth.payload();
    let inner: &[u8] = match v {
        Verdict::TxCore => {
            assert_eq!(repr.dst_addr.0, net::CORE_GW_MAC);
            l3
        }
        Verdict::TxAccess => {
            let ip = ipv4::Packet::new_checked(l3).expect("outer ipv4");
            assert!(ip.verify_checksum(), "outer ipv4 checksum");
            assert_eq!(usize::from(ip.total_len()), l3.len(), "outer total length");
            assert!(ip.dont_frag());
            let udp_bytes = &l3[ip.header_len()..];
            let u = udp::Packet::new_checked(udp_bytes).expect("udp");
            assert_eq!(usize::from(u.len()), udp_bytes.len(), "udp length");
            assert_eq!(u.checksum(), 0);
            let l2 = &udp_bytes[8..];
            let h = HeaderRepr::parse_bytes(l2).expect("l2tp");
            assert!(!h.control);
            let ppp = &l2[h.header_len()..];
            let (_, off) = ppp::protocol_and_offset(ppp).unwrap();
            &ppp[off..]
        }
        other => panic!("not forwarded: {other:?}"),
    };
    match inner.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = ipv4::Packet::new_checked(inner).expect("inner ipv4");
            assert!(ip.verify_checksum(), "inner ipv4 checksum");
            assert_eq!(usize::from(ip.total_len()), inner.len());
            let (s, d) = (ip.src_addr(), ip.dst_addr());
            verify_transport(ip.protocol().into(), ip.payload(), s.into(), d.into());
        }
        Some(6) => {
            let ip = ipv6::Packet::new_checked(inner).expect("inner ipv6");
            assert_eq!(usize::from(ip.payload_len()) + 40, inner.len());
            let (s, d) = (ip.src_addr(), ip.dst_addr());
            verify_transport(ip.next_header().into(), ip.payload(), s.into(), d.into());
        }
        other => panic!("inner version {other:?}"),
    }
}

fn verify_transport(proto: u8, seg: &[u8], s: IpAddr, d: IpAddr) {
    match proto {
        6 => assert!(
            tcp::Packet::new_checked(seg).unwrap().verify_checksum(s, d),
            "tcp checksum"
        ),
        17 => assert!(
            udp::Packet::new_checked(seg).unwrap().verify_checksum(s, d),
            "udp checksum"
        ),
        _ => {}
    }
}

fn run_cases(cases: Vec<Case>, cfg: &PipelineConfig, table: &MockTable) -> usize {
    let mut n = 0;
    for c in cases {
        let mut f = OwnedFrame::with_headroom(&c.input, c.from, c.headroom);
        let before = f.buf.clone();
        let v = f.process(table, cfg);
        match &c.expect {
            Expect::Tx(want, bytes) => {
                assert_eq!(v, *want, "{}: verdict", c.name);
                assert_eq!(f.packet(), &bytes[..], "{}: output bytes", c.name);
                verify_output(v, f.packet());
                // Nothing after the packet was written.
                let end = c.headroom + c.input.len();
                assert_eq!(
                    f.buf[end..],
                    before[end..],
                    "{}: wrote past the packet",
                    c.name
                );
            }
            Expect::Punt(r) => {
                assert_eq!(v, Verdict::Punt(*r), "{}: verdict", c.name);
                assert_eq!((f.offset, f.len), (c.headroom, c.input.len()), "{}", c.name);
                assert_eq!(
                    f.buf, before,
                    "{}: a punted frame must be untouched",
                    c.name
                );
            }
            Expect::Drop(r) => assert_eq!(v, Verdict::Drop(*r), "{}: verdict", c.name),
        }
        n += 1;
    }
    n
}

#[test]
fn upstream_fixtures() {
    let (fx, t) = fixtures();
    let n = run_cases(upstream_cases(&fx), &cfg(), &t);
    assert!(n >= 50, "{n}");
}

#[test]
fn downstream_fixtures() {
    let (fx, t) = fixtures();
    for csum in [OuterChecksum::Incremental, OuterChecksum::Full] {
        let cfg = PipelineConfig {
            outer_checksum: csum,
            ..cfg()
        };
        let n = run_cases(downstream_cases(&fx), &cfg, &t);
        assert!(n >= 30, "{n}");
    }
}

#[test]
fn upstream_udp_checksum_verification() {
    let (fx, t) = fixtures();
    let cfg = PipelineConfig {
        verify_udp_checksum: true,
        ..cfg()
    };
    let inner = ipv4_packet(
        sub_v4(&fx.plain),
        net::REMOTE_V4,
        64,
        true,
        Transport::Udp(40),
    );
    let mut l = L2tpFrame::upstream(&fx.plain);
    l.udp_checksum = true;
    let good = l.build(0x21, &inner);
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x55;
    let mut f = OwnedFrame::new(&good, Side::Access);
    assert_eq!(f.process(&t, &cfg), Verdict::TxCore);
    let mut f = OwnedFrame::new(&bad, Side::Access);
    assert_eq!(f.process(&t, &cfg), Verdict::Drop(DropReason::BadChecksum));
    // A zero checksum is not verified.
    let mut f = OwnedFrame::new(&up_v4(&fx.plain, 64, Transport::Udp(40)).0, Side::Access);
    assert_eq!(f.process(&t, &cfg), Verdict::TxCore);
}

#[test]
fn sequencing_ns_increments_across_a_batch() {
    let (fx, t) = fixtures();
    let s = &fx.seq;
    let udp = Transport::Udp(10);
    let input = core_in(0x0800, &down_v4(s, 64, true, udp));
    let input6 = core_in(0x86dd, &down_v6(s, 64, udp));
    let mut frames = vec![
        OwnedFrame::new(&input, Side::Core),
        OwnedFrame::new(&input6, Side::Core),
        OwnedFrame::new(&input, Side::Core),
    ];
    let mut out = BatchResult::default();
    run_batch(&mut frames, &t, &cfg(), &mut out, &mut ());
    assert_eq!(out.verdicts(), &[Verdict::TxAccess; 3]);
    assert_eq!(
        frames[0].packet(),
        &L2tpFrame::downstream(s, Some(0)).build(0x21, &down_v4(s, 63, true, udp))[..]
    );
    assert_eq!(
        frames[1].packet(),
        &L2tpFrame::downstream(s, Some(1)).build(0x57, &down_v6(s, 63, udp))[..]
    );
    assert_eq!(
        frames[2].packet(),
        &L2tpFrame::downstream(s, Some(2)).build(0x21, &down_v4(s, 63, true, udp))[..]
    );
    for f in &frames {
        verify_output(Verdict::TxAccess, f.packet());
    }
    assert_eq!(t.peek_ns(s.session(BANK_BITS).slot), 3);
    // A session without sequencing does not consume Ns.
    let mut f = OwnedFrame::new(
        &core_in(0x0800, &down_v4(&fx.plain, 64, true, udp)),
        Side::Core,
    );
    assert_eq!(f.process(&t, &cfg()), Verdict::TxAccess);
    assert_eq!(t.peek_ns(fx.plain.session(BANK_BITS).slot), 0);
}

#[test]
fn headroom() {
    let (fx, t) = fixtures();
    let input = core_in(0x0800, &down_v4(&fx.plain, 64, true, Transport::Udp(8)));
    let tl = usize::from(fx.plain.session(BANK_BITS).template_len);
    assert_eq!(tl, 14 + 20 + 8 + 6 + 4);
    let need = tl - 14;
    for (headroom, want) in [
        (0, Verdict::Drop(DropReason::NoHeadroom)),
        (need - 1, Verdict::Drop(DropReason::NoHeadroom)),
        (need, Verdict::TxAccess),
    ] {
        let mut f = OwnedFrame::with_headroom(&input, Side::Core, headroom);
        let before = f.buf.clone();
        assert_eq!(f.process(&t, &cfg()), want, "headroom {headroom}");
        if want == Verdict::TxAccess {
            assert_eq!(f.offset, 0);
            verify_output(want, f.packet());
        } else {
            assert_eq!(f.buf, before, "a frame without headroom is not touched");
        }
    }
    // The largest template (VLAN, Length, Ns) fits HEADROOM.
    let big = SessionSpec {
        vlan_tci: Some(1),
        with_length: true,
        sequencing: true,
        ..SessionSpec::nth(1)
    };
    assert!(usize::from(big.session(BANK_BITS).template_len) - 14 <= HEADROOM);
}

#[test]
fn bad_offsets_and_templates() {
    let (fx, mut t) = fixtures();
    let input = up_v4(&fx.plain, 64, Transport::Udp(8)).0;
    let mut buf = vec![0u8; 200];
    buf[..input.len()].copy_from_slice(&input);
    for (offset, len) in [(0, 201), (usize::MAX, 2), (190, 20), (5, usize::MAX)] {
        for side in [Side::Access, Side::Core] {
            let mut f = Frame::new(&mut buf, offset, len, side);
            let mut acc = SessionAccumulator::new();
            assert_eq!(
                process_frame(&mut f, &t, &cfg(), &mut acc),
                Verdict::Drop(DropReason::Malformed)
            );
        }
    }
    // A template whose lengths make no sense is refused, not trusted.
    for (len, l2tp) in [(65u8, 42u8), (40, 20), (49, 42), (0, 0)] {
        let mut s = fx.plain.session(BANK_BITS);
        s.template_len = len;
        s.l2tp_offset = l2tp;
        t.insert(s);
        let mut f = OwnedFrame::new(
            &core_in(0x0800, &down_v4(&fx.plain, 64, true, Transport::Udp(8))),
            Side::Core,
        );
        assert_eq!(
            f.process(&t, &cfg()),
            Verdict::Drop(DropReason::BadTemplate)
        );
    }
}

#[test]
fn template_layout() {
    for (vlan, len, seq, want_len, want_off) in [
        (None, false, false, 52, 42),
        (None, true, false, 54, 42),
        (None, true, true, 58, 42),
        (Some(5), true, true, 62, 46),
    ] {
        let p = TemplateParams {
            peer_mac: net::LAC_MAC,
            our_mac: net::LNS_ACCESS_MAC,
            vlan_tci: vlan,
            local_addr: net::LNS,
            peer_addr: net::LAC,
            local_port: 1701,
            peer_port: 1701,
            peer_tunnel_id: 7,
            peer_session_id: 9,
            with_length: len,
            sequencing: seq,
        };
        let (t, l, off) = build_template(&p);
        assert_eq!((usize::from(l), usize::from(off)), (want_len, want_off));
        let l = usize::from(l);
        let off = usize::from(off);
        assert!(t[l..].iter().all(|&b| b == 0));
        // The IPv4 checksum is over Total Length 0.
        let ip = ipv4::Packet::new_unchecked(&t[off - 28..off - 8]);
        assert_eq!(ip.total_len(), 0);
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag());
        let h = HeaderRepr::parse_bytes(&t[off..l]).unwrap();
        assert_eq!(
            (
                h.tunnel_id,
                h.session_id,
                h.length_present,
                h.sequence.is_some()
            ),
            (7, 9, len, seq)
        );
        assert_eq!(&t[l - 4..l], &[0xff, 0x03, 0x00, 0x21]);
    }
}

/// A sink that sums in a map (keyed by slot and direction).
#[derive(Default)]
struct MapSink(HashMap<(u32, bool), (u64, u64)>, usize);

impl CounterSink for MapSink {
    fn add(&mut self, slot: u32, dir: Direction, packets: u64, bytes: u64) {
        let e = self.0.entry((slot, dir == Direction::Up)).or_default();
        e.0 += packets;
        e.1 += bytes;
        self.1 += 1;
    }
}

#[test]
fn counters_once_per_batch() {
    let (fx, t) = fixtures();
    let udp = Transport::Udp(32);
    let (up1, inner1) = up_v4(&fx.plain, 64, udp);
    let down1 = down_v4(&fx.plain, 64, true, udp);
    let mut frames = Vec::new();
    for _ in 0..10 {
        frames.push(OwnedFrame::new(&up1, Side::Access));
        frames.push(OwnedFrame::new(&core_in(0x0800, &down1), Side::Core));
    }
    frames.push(OwnedFrame::new(&up_v4(&fx.plain, 1, udp).0, Side::Access));
    frames.push(OwnedFrame::new(&up_v4(&fx.down, 64, udp).0, Side::Access));
    frames.push(OwnedFrame::new(&[0u8; 3], Side::Core));
    let mut out = BatchResult::default();
    let mut sink = MapSink::default();
    assert_eq!(run_batch(&mut frames, &t, &cfg(), &mut out, &mut sink), 23);
    let slot = fx.plain.session(BANK_BITS).slot;
    assert_eq!(sink.0[&(slot, true)], (10, 10 * inner1.len() as u64));
    assert_eq!(sink.0[&(slot, false)], (10, 10 * down1.len() as u64));
    assert_eq!(sink.1, 2, "one add per session and direction");
    let mut w = WorkerCounters::default();
    w.add_batch(&out);
    w.add_batch(&out);
    assert_eq!((w.batches, w.rx, w.tx_core, w.tx_access), (2, 46, 20, 20));
    assert_eq!(w.punt_count(PuntReason::TtlExpired), 2);
    assert_eq!(w.drop_count(DropReason::UnknownSession), 2);
    assert_eq!(w.drop_count(DropReason::Malformed), 2);
    assert_eq!(w.drops.iter().sum::<u64>() + w.punts.iter().sum::<u64>(), 6);

    // The slice sink of the shared table.
    let mut arr = vec![SessionCounters::default(); (slot + 1) as usize];
    let mut frames = vec![OwnedFrame::new(&up1, Side::Access); 3];
    run_batch(&mut frames, &t, &cfg(), &mut out, arr.as_mut_slice());
    assert_eq!(arr[slot as usize].up_packets, 3);
    assert_eq!(arr[slot as usize].up_bytes, 3 * inner1.len() as u64);
}

#[test]
fn counters_many_sessions_collide() {
    // 64 frames over 40 sessions: the accumulator's entries collide and
    // spill, and the totals still add up.
    let mut t = MockTable::new(BANK_BITS);
    let specs: Vec<SessionSpec> = (1..=40).map(SessionSpec::nth).collect();
    for s in &specs {
        t.insert(s.session(BANK_BITS));
    }
    let mut frames = Vec::new();
    let mut want: HashMap<(u32, bool), (u64, u64)> = HashMap::new();
    for i in 0..64 {
        let s = &specs[(i * 7) % 40];
        let slot = s.session(BANK_BITS).slot;
        if i % 3 == 0 {
            let inner = down_v4(s, 64, true, Transport::Udp(i));
            let e = want.entry((slot, false)).or_default();
            e.0 += 1;
            e.1 += inner.len() as u64;
            frames.push(OwnedFrame::new(&core_in(0x0800, &inner), Side::Core));
        } else {
            let (f, inner) = up_v4(s, 64, Transport::Udp(i));
            let e = want.entry((slot, true)).or_default();
            e.0 += 1;
            e.1 += inner.len() as u64;
            frames.push(OwnedFrame::new(&f, Side::Access));
        }
    }
    // And more than BATCH_MAX: the rest is left alone.
    frames.push(OwnedFrame::new(&[0u8; 3], Side::Core));
    let mut out = BatchResult::default();
    let mut sink = MapSink::default();
    assert_eq!(
        run_batch(&mut frames, &t, &cfg(), &mut out, &mut sink),
        BATCH_MAX
    );
    assert_eq!(out.tx_core + out.tx_access, 64);
    assert_eq!(sink.0, want);
}

#[test]
fn reasons_are_dense() {
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        assert!(!r.name().is_empty());
    }
    for (i, r) in PuntReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
    assert_eq!(DropReason::COUNT, 12);
    assert_eq!(PuntReason::COUNT, 5);
    assert_eq!(core::mem::size_of::<Verdict>(), 2);
}

// ---- property tests ----

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        (0usize..1200).prop_map(Transport::Udp),
        (1usize..=0xffff, 0usize..200).prop_map(|(m, n)| Transport::TcpSyn(m as u16, n)),
        (1usize..=0xffff).prop_map(|m| Transport::TcpSynOddMss(m as u16)),
        (0usize..1200).prop_map(Transport::TcpAck),
    ]
}

fn clamped(t: Transport, clamp: u16) -> Transport {
    match t {
        Transport::TcpSyn(m, n) if clamp != 0 => Transport::TcpSyn(m.min(clamp), n),
        Transport::TcpSynOddMss(m) if clamp != 0 => Transport::TcpSynOddMss(m.min(clamp)),
        t => t,
    }
}

/// The LAC's view of session `s`: what arrives at it from us, seen as an
/// upstream session (our IDs are its peer IDs, the "subscriber" is the
/// remote host that sent the packet).
fn mirror(s: &Session, remote_v4: Ipv4Addr, remote_v6: [u8; 16]) -> Session {
    Session {
        slot: l2tpx_table::slot_index(s.peer_tunnel_id, s.peer_session_id, BANK_BITS),
        our_tunnel_id: s.peer_tunnel_id,
        our_session_id: s.peer_session_id,
        peer_addr: net::LNS,
        peer_port: L2TP_PORT,
        subscriber_v4: Some(remote_v4),
        subscriber_v6_prefix: Some(remote_v6[..8].try_into().unwrap()),
        ..*s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Encapsulate downstream, feed the result back in as if the LAC had
    /// sent it: the original inner packet comes out with TTL − 2, clamped
    /// once, every checksum valid.
    #[test]
    fn encap_decap_round_trip(
        v6 in any::<bool>(),
        t in transport(),
        ttl in 3u8..=255,
        df in any::<bool>(),
        with_length in any::<bool>(),
        sequencing in any::<bool>(),
        vlan in proptest::option::of(0u16..4096),
        mss_clamp in prop_oneof![Just(0u16), 500u16..1460],
        full in any::<bool>(),
    ) {
        let spec = SessionSpec { with_length, sequencing, vlan_tci: vlan, mss_clamp, mtu: 1500, ..SessionSpec::nth(3) };
        let sess = spec.session(BANK_BITS);
        let mut lns = MockTable::new(BANK_BITS);
        lns.insert(sess);
        let mut lac = MockTable::new(BANK_BITS);
        lac.insert(mirror(&sess, net::REMOTE_V4, net::REMOTE_V6));
        let cfg = PipelineConfig { outer_checksum: if full { OuterChecksum::Full } else { OuterChecksum::Incremental }, ..cfg() };
        let v6_clamp = mss_clamp.saturating_sub(20);
        let (input, ethertype, want) = if v6 {
            (down_v6(&spec, ttl, t), 0x86dd, down_v6(&spec, ttl - 2, clamped(t, if mss_clamp == 0 { 0 } else { v6_clamp })))
        } else {
            (down_v4(&spec, ttl, df, t), 0x0800, down_v4(&spec, ttl - 2, df, clamped(t, mss_clamp)))
        };
        let mut f = OwnedFrame::new(&core_in(ethertype, &input), Side::Core);
        let v = f.process(&lns, &cfg);
        prop_assert_eq!(v, Verdict::TxAccess);
        verify_output(v, f.packet());
        let mut back = OwnedFrame::new(f.packet(), Side::Access);
        let v = back.process(&lac, &cfg);
        prop_assert_eq!(v, Verdict::TxCore);
        verify_output(v, back.packet());
        prop_assert_eq!(&back.packet()[14..], &want[..]);
    }

    /// Random bytes on either side, at any offset and length: a verdict,
    /// never a panic, and nothing written outside the buffer.
    #[test]
    fn garbage_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        offset in 0usize..80,
        len in 0usize..300,
        core in any::<bool>(),
    ) {
        let (_, t) = fixtures();
        let mut buf = bytes.clone();
        let n = buf.len();
        let mut f = Frame::new(&mut buf, offset, len, if core { Side::Core } else { Side::Access });
        let mut acc = SessionAccumulator::new();
        let _ = process_frame(&mut f, &t, &cfg(), &mut acc);
        prop_assert!(f.offset.checked_add(f.len).is_some_and(|e| e <= n) || f.offset == offset);
    }

    /// Valid frames with bytes flipped: still no panic, and anything that
    /// is forwarded has valid outer checksums.
    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..6,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..6),
        cut in 0usize..40,
    ) {
        let (fx, t) = fixtures();
        let p = &fx.plain;
        let (mut input, side) = match which {
            0 => (up_v4(p, 64, Transport::TcpSyn(1460, 8)).0, Side::Access),
            1 => (up_v6(p, 64, Transport::Udp(20)).0, Side::Access),
            2 => ({ let mut l = L2tpFrame::upstream(p); l.with_length = true; l.ns = Some(3); l.offset_pad = Some(2); l.build(0x21, &ipv4_packet(sub_v4(p), net::REMOTE_V4, 9, false, Transport::Udp(5))) }, Side::Access),
            3 => (core_in(0x0800, &down_v4(p, 64, true, Transport::TcpSyn(1460, 0))), Side::Core),
            4 => (core_in(0x86dd, &down_v6(p, 64, Transport::TcpSyn(1460, 0))), Side::Core),
            _ => (core_in(0x0800, &down_v4(&fx.seq, 64, false, Transport::Udp(9))), Side::Core),
        };
        for (at, x) in flips {
            let n = input.len();
            input[at % n] ^= x;
        }
        input.truncate(input.len().saturating_sub(cut));
        let mut f = OwnedFrame::new(&input, side);
        let v = f.process(&t, &cfg());
        if v == Verdict::TxAccess {
            let out = f.packet();
            let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
            prop_assert!(ip.verify_checksum());
        }
        if let Verdict::Punt(_) = v {
            prop_assert_eq!(f.packet(), &input[..]);
        }
    }
}

/// `process_batch_ahead` warms every frame once per stage, stage 1 before
/// stage 2 before its lookup, and `2 * LOOKAHEAD` / `LOOKAHEAD` frames
/// ahead of the frame being processed.
#[test]
fn lookahead_warms_each_frame_once_and_ahead() {
    use core::cell::RefCell;

    struct Spy<'a, T>(&'a T, &'a RefCell<Vec<(char, u8)>>);
    impl<T: SessionLookup> SessionLookup for Spy<'_, T> {
        fn by_slot(&self, slot: u32) -> Option<Session> {
            self.0.by_slot(slot)
        }
        fn by_ipv4(&self, dst: Ipv4Addr) -> Option<Session> {
            self.1.borrow_mut().push(('p', dst.octets()[3]));
            self.0.by_ipv4(dst)
        }
        fn by_ipv6(&self, dst: &[u8; 16]) -> Option<Session> {
            self.0.by_ipv6(dst)
        }
        fn next_ns(&self, slot: u32) -> u16 {
            self.0.next_ns(slot)
        }
        fn bank_bits(&self) -> u32 {
            self.0.bank_bits()
        }
    }
    struct Warm<'a>(&'a RefCell<Vec<(char, u8)>>);
    impl Lookahead for Warm<'_> {
        fn early(&self, f: &Frame<'_>, _: Side) -> bool {
            self.0.borrow_mut().push(('e', f.packet()[14 + 19]));
            true
        }
        fn late(&self, f: &Frame<'_>) {
            self.0.borrow_mut().push(('l', f.packet()[14 + 19]));
        }
    }

    let (_, t) = fixtures();
    for n in [
        0usize,
        1,
        LOOKAHEAD,
        2 * LOOKAHEAD + 1,
        BATCH_MAX,
        BATCH_MAX + 3,
    ] {
        let log = RefCell::new(Vec::new());
        let mut owned: Vec<OwnedFrame> = (0..n)
            .map(|i| {
                let dst = Ipv4Addr::new(198, 19, 200, i as u8);
                let inner = ipv4_packet(net::REMOTE_V4, dst, 64, true, Transport::Udp(4));
                OwnedFrame::new(&core_in(0x0800, &inner), Side::Core)
            })
            .collect();
        let mut frames: Vec<Frame<'_>> = owned.iter_mut().map(|o| o.frame()).collect();
        let mut out = BatchResult::default();
        let done = process_batch_ahead(
            &mut frames,
            &Spy(&t, &log),
            &cfg(),
            &mut out,
            &mut (),
            &Warm(&log),
        );
        let m = n.min(BATCH_MAX);
        assert_eq!(done, m);
        let log = log.into_inner();
        let at = |k: char, i: usize| {
            let hits: Vec<usize> = (0..log.len()).filter(|&j| log[j] == (k, i as u8)).collect();
            assert_eq!(hits.len(), 1, "n={n}: {k} for frame {i}: {hits:?}");
            hits[0]
        };
        assert_eq!(log.len(), 3 * m, "n={n}: frames past BATCH_MAX untouched");
        for i in 0..m {
            assert!(
                at('e', i) < at('l', i) && at('l', i) < at('p', i),
                "n={n} i={i}"
            );
            if i + 2 * LOOKAHEAD < m {
                assert!(at('e', i + 2 * LOOKAHEAD) < at('p', i), "n={n} i={i}");
                assert!(at('l', i + LOOKAHEAD) < at('p', i), "n={n} i={i}");
            }
        }
    }
}

/// A table that counts address-index lookups (the work a slot hint saves).
struct IndexSpy<'a> {
    table: &'a MockTable,
    index: core::cell::Cell<u32>,
}

impl<'a> IndexSpy<'a> {
    fn new(table: &'a MockTable) -> Self {
        IndexSpy {
            table,
            index: core::cell::Cell::new(0),
        }
    }
}

impl SessionLookup for IndexSpy<'_> {
    fn by_slot(&self, slot: u32) -> Option<Session> {
        self.table.by_slot(slot)
    }
    fn by_ipv4(&self, dst: Ipv4Addr) -> Option<Session> {
        self.index.set(self.index.get() + 1);
        self.table.by_ipv4(dst)
    }
    fn by_ipv6(&self, dst: &[u8; 16]) -> Option<Session> {
        self.index.set(self.index.get() + 1);
        self.table.by_ipv6(dst)
    }
    fn next_ns(&self, slot: u32) -> u16 {
        self.table.next_ns(slot)
    }
    fn bank_bits(&self) -> u32 {
        self.table.bank_bits()
    }
}

/// Runs `frames` as one batch against `t`: the output packets, the
/// per-session sink, the hint counters and how many index lookups ran.
#[allow(clippy::type_complexity)]
fn run_hinted(
    frames: &mut [OwnedFrame],
    t: &MockTable,
) -> (
    Vec<(Verdict, Vec<u8>)>,
    MapSink,
    [u32; HintOutcome::COUNT],
    u32,
) {
    let spy = IndexSpy::new(t);
    let mut out = BatchResult::default();
    let mut sink = MapSink::default();
    run_batch(frames, &spy, &cfg(), &mut out, &mut sink);
    let got = frames
        .iter()
        .zip(out.verdicts())
        .map(|(f, &v)| (v, f.packet().to_vec()))
        .collect();
    (got, sink, out.hints, spy.index.get())
}

fn hints(hit: u32, stale: u32, absent: u32) -> [u32; HintOutcome::COUNT] {
    let mut h = [0; HintOutcome::COUNT];
    h[HintOutcome::Hit.index()] = hit;
    h[HintOutcome::Stale.index()] = stale;
    h[HintOutcome::Absent.index()] = absent;
    h
}

/// A downstream frame carrying `core_steer`'s slot hint is encapsulated
/// exactly as without it, without touching the address index.
#[test]
fn slot_hint_hit_skips_the_index() {
    use crate::ebpf::Meta;
    let (fx, t) = fixtures();
    let udp = Transport::Udp(20);
    for s in [&fx.plain, &fx.length, &fx.vlan] {
        let slot = s.session(BANK_BITS).slot;
        let v4 = core_in(0x0800, &down_v4(s, 64, true, udp));
        let v6 = core_in(0x86dd, &down_v6(s, 64, udp));
        // Reference: the same frames without metadata.
        let mut plain = vec![
            OwnedFrame::new(&v4, Side::Core),
            OwnedFrame::new(&v6, Side::Core),
        ];
        let (want, want_sink, h, index) = run_hinted(&mut plain, &t);
        assert_eq!((h, index), (hints(0, 0, 2), 2));
        assert!(want.iter().all(|(v, _)| *v == Verdict::TxAccess));

        let mut hinted = plain_frames(&v4, &v6);
        hinted[0].set_meta(Meta::v4(slot, sub_v4(s).octets()));
        hinted[1].set_meta(Meta::v6(slot, &s.v6_addr()));
        let (got, sink, h, index) = run_hinted(&mut hinted, &t);
        assert_eq!(got, want);
        assert_eq!(sink.0, want_sink.0);
        assert_eq!((h, index), (hints(2, 0, 0), 0), "no index lookup");
    }
}

fn plain_frames(v4: &[u8], v6: &[u8]) -> Vec<OwnedFrame> {
    vec![
        OwnedFrame::new(v4, Side::Core),
        OwnedFrame::new(v6, Side::Core),
    ]
}

/// The XDP map lags the table by up to a sync: a hint may name a slot
/// that was withdrawn, or reused for another subscriber. The packet must
/// still reach its own session (through the index), never the slot's.
#[test]
fn stale_slot_hint_falls_back_to_the_index() {
    use crate::ebpf::Meta;
    let (fx, t) = fixtures();
    let udp = Transport::Udp(20);
    let s = &fx.plain;
    let v4 = core_in(0x0800, &down_v4(s, 64, true, udp));
    let v6 = core_in(0x86dd, &down_v6(s, 64, udp));
    let (want, want_sink, _, _) = run_hinted(&mut plain_frames(&v4, &v6), &t);
    let own = s.session(BANK_BITS).slot;
    // Another subscriber's slot (as if `plain`'s old slot had been reused),
    // a slot that is down, and a slot that does not exist.
    for other in [
        fx.length.session(BANK_BITS).slot,
        fx.down.session(BANK_BITS).slot,
        0xfff_fff0,
    ] {
        assert_ne!(other, own);
        let mut f = plain_frames(&v4, &v6);
        f[0].set_meta(Meta::v4(other, sub_v4(s).octets()));
        f[1].set_meta(Meta::v6(other, &s.v6_addr()));
        let (got, sink, h, index) = run_hinted(&mut f, &t);
        assert_eq!(got, want, "slot {other}");
        assert_eq!(sink.0, want_sink.0, "counted on {own}, not {other}");
        assert_eq!((h, index), (hints(0, 2, 0), 2), "slot {other}");
    }

    // The subscriber itself is gone (its session down) but the map still
    // steers it with its old slot: dropped as unknown, like without a hint.
    let d = &fx.down;
    let mut f = vec![OwnedFrame::new(
        &core_in(0x0800, &down_v4(d, 64, true, udp)),
        Side::Core,
    )];
    f[0].set_meta(Meta::v4(d.session(BANK_BITS).slot, sub_v4(d).octets()));
    let (got, _, h, index) = run_hinted(&mut f, &t);
    assert_eq!(got[0].0, Verdict::Drop(DropReason::UnknownSubscriber));
    assert_eq!((h, index), (hints(0, 1, 0), 1));
}

/// No metadata, metadata for another destination (stale bytes in the
/// headroom), or no room for it in front of the packet: the index is used.
#[test]
fn no_slot_hint_uses_the_index() {
    use crate::ebpf::{Meta, META_LEN};
    let (fx, t) = fixtures();
    let udp = Transport::Udp(20);
    let s = &fx.plain;
    let slot = s.session(BANK_BITS).slot;
    let v4 = core_in(0x0800, &down_v4(s, 64, true, udp));
    let v6 = core_in(0x86dd, &down_v6(s, 64, udp));
    let (want, _, _, _) = run_hinted(&mut plain_frames(&v4, &v6), &t);

    let mut f = plain_frames(&v4, &v6);
    // Left over from a packet to another subscriber in this chunk.
    f[0].set_meta(Meta::v4(slot, sub_v4(&fx.length).octets()));
    f[1].set_meta(Meta::v6(slot, &fx.length.v6_addr()));
    let (got, _, h, index) = run_hinted(&mut f, &t);
    assert_eq!(got, want);
    assert_eq!((h, index), (hints(0, 0, 2), 2));
    // An IPv4 check word in front of an IPv6 packet, and the other way.
    let mut f = plain_frames(&v4, &v6);
    f[0].set_meta(Meta {
        slot,
        check: Meta::check_v6(&s.v6_addr()),
    });
    f[1].set_meta(Meta {
        slot,
        check: Meta::check_v4(sub_v4(s).octets()),
    });
    let (got, _, h, _) = run_hinted(&mut f, &t);
    assert_eq!(got, want);
    assert_eq!(h, hints(0, 0, 2));
    // Packets that start fewer than META_LEN bytes into the chunk (with
    // enough headroom for the template there is no such frame, but the
    // pipeline must not trip on one).
    for headroom in 0..META_LEN {
        let mut f = vec![OwnedFrame::with_headroom(&v4, Side::Core, headroom)];
        let (got, _, h, _) = run_hinted(&mut f, &t);
        assert_eq!(got[0].0, Verdict::Drop(DropReason::NoHeadroom));
        assert_eq!(h, hints(0, 0, 1));
    }
}

/// A batch from one side runs that side's code inline, a mixed batch
/// dispatches per frame: every fixture gives the same verdict and bytes
/// alone, in mixed batches and in one-side batches.
#[test]
fn one_side_and_mixed_batches_agree() {
    let (fx, _) = fixtures();
    let mut cases = upstream_cases(&fx);
    // Interleave downstream cases between the upstream ones.
    for (i, c) in downstream_cases(&fx).into_iter().enumerate() {
        let at = (2 * i + 1).min(cases.len());
        cases.insert(at, c);
    }
    let owned = |c: &Case| OwnedFrame::with_headroom(&c.input, c.from, c.headroom);
    let result = |o: &OwnedFrame| (o.offset, o.len, o.buf.clone());

    let (_, t) = fixtures();
    let alone: Vec<_> = cases
        .iter()
        .map(|c| {
            let mut f = owned(c);
            let v = f.process(&t, &cfg());
            (v, result(&f))
        })
        .collect();

    let (_, t) = fixtures();
    let mut mixed = Vec::new();
    assert!(cases[..BATCH_MAX].iter().any(|c| c.from != cases[0].from));
    for chunk in cases.chunks(BATCH_MAX) {
        let mut fs: Vec<OwnedFrame> = chunk.iter().map(owned).collect();
        let mut out = BatchResult::default();
        run_batch(&mut fs, &t, &cfg(), &mut out, &mut ());
        mixed.extend(out.verdicts().iter().zip(&fs).map(|(&v, f)| (v, result(f))));
    }
    assert_eq!(mixed, alone);

    let (_, t) = fixtures();
    for side in [Side::Access, Side::Core] {
        let idx: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].from == side)
            .collect();
        for chunk in idx.chunks(BATCH_MAX) {
            let mut fs: Vec<OwnedFrame> = chunk.iter().map(|&i| owned(&cases[i])).collect();
            let mut out = BatchResult::default();
            run_batch(&mut fs, &t, &cfg(), &mut out, &mut ());
            for ((&i, &v), f) in chunk.iter().zip(out.verdicts()).zip(&fs) {
                assert_eq!((v, result(f)), alone[i], "{}", cases[i].name);
            }
        }
    }
}

#[test]
fn ttl_checksum_is_rfc_1624_eqn_3() {
    // Every checksum, and TTLs at both ends and in between: the shortcut
    // must give eqn. 3's bytes, 0xffff → 0x0000 included.
    for hc in 0..=u16::MAX {
        for ttl in [2u8, 3, 64, 0x80, 0x81, 0xff] {
            for proto in [0u8, 6, 17, 0xff] {
                let m = u16::from_be_bytes([ttl, proto]);
                let want = l2tpx_wire::checksum::update_u16(hc, m, m - 0x0100);
                assert_eq!(upstream::ttl_checksum(hc), want, "hc {hc:#06x} ttl {ttl}");
            }
        }
    }
}

proptest! {
    #[test]
    fn header_check_agrees_with_the_folded_sum(
        mut h in proptest::array::uniform20(any::<u8>()),
        fix in any::<bool>(),
    ) {
        if fix {
            // Make it valid, so both outcomes are covered.
            h[10] = 0;
            h[11] = 0;
            let c = !ipv4_header_sum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        prop_assert_eq!(ipv4_header_sums_to_ffff(&h), ipv4_header_sum(&h) == 0xffff);
    }
}

#[test]
fn header_check_edges() {
    let zero = [0u8; 20];
    assert!(!ipv4_header_sums_to_ffff(&zero));
    let ones = [0xffu8; 20];
    assert_eq!(
        ipv4_header_sums_to_ffff(&ones),
        ipv4_header_sum(&ones) == 0xffff
    );
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[10..12].copy_from_slice(&(!0x4500u16).to_be_bytes());
    assert!(ipv4_header_sums_to_ffff(&h));
    h[19] ^= 1;
    assert!(!ipv4_header_sums_to_ffff(&h));
}

#[test]
fn length_checksum_is_rfc_1624_eqn_3() {
    // Every template checksum against lengths at the edges and across the
    // range (an outer Total Length is at least 56 here, never 0).
    let totals = (0..16)
        .map(|i| 1u16 << i)
        .chain([3, 56, 0xfffe, 0xffff, 1500, 0x1234]);
    for total in totals {
        for hc in 0..=u16::MAX {
            let want = l2tpx_wire::checksum::update_u16(hc, 0, total);
            assert_eq!(
                downstream::length_checksum(hc, total),
                want,
                "hc {hc:#06x} total {total}"
            );
        }
    }
}

#[test]
fn mock_downstream_into_agrees_with_the_snapshots() {
    use l2tpx_table::DownstreamSession;
    let (fx, mut t) = fixtures();
    let into = |f: &dyn Fn(&mut DownstreamSession) -> bool| {
        let mut d = DownstreamSession::EMPTY;
        f(&mut d).then_some(d)
    };
    let s = fx.plain.session(BANK_BITS);
    t.set_up(fx.down.session(BANK_BITS).slot, false);
    for spec in [&fx.plain, &fx.v4_only, &fx.down, &fx.vlan] {
        let slot = spec.session(BANK_BITS).slot;
        let v4 = sub_v4(spec);
        let v6 = spec.v6_addr();
        assert_eq!(
            into(&|d| t.by_slot_downstream_into(slot, d)),
            t.by_slot_downstream(slot)
        );
        assert_eq!(
            into(&|d| t.by_ipv4_downstream_into(v4, d)),
            t.by_ipv4_downstream(v4)
        );
        assert_eq!(
            into(&|d| t.by_ipv6_downstream_into(&v6, d)),
            t.by_ipv6_downstream(&v6)
        );
    }
    assert!(into(&|d| t.by_slot_downstream_into(s.slot, d)).is_some());
    assert!(into(&|d| t.by_slot_downstream_into(u32::MAX, d)).is_none());
    let down = fx.down.session(BANK_BITS).slot;
    assert!(into(&|d| t.by_slot_downstream_into(down, d)).is_none());
}
