//! BPF_PROG_TEST_RUN fixture tables for `l2tp_steer` and `core_steer`
//! (issue 5 §1). Each row: description, frame (built with the `l2tpx_wire`
//! emitters, sometimes patched), expected action, and the one counter that
//! must move. Every frame is then cut at every length and checked against
//! the documented truncation verdict.
//!
//! Needs root and BPF: without them each test prints `SKIP ...: reason` and
//! returns (CI runs as root, so they run there).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use l2tpx_dataplane::ebpf::{Config, Counter as C, Meta, Side, Steering, XdpAction as A, META_LEN};
use l2tpx_wire::ipv4::IpProtocol;

/// The access-side table, as it reads with an XSK in queue 0's entry.
fn access_cases() -> Vec<Case> {
    let d = Access::default;
    let v6 = inner_ipv6;
    let mut t = vec![
        // The fast path and its PPP header variants.
        case(
            "data + IPv4, FF03, 2-byte protocol",
            d().frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "data + IPv6",
            Access::ppp(0x0057, v6()).frame(),
            A::Redirect,
            C::L2tpRedirectV6,
        ),
        case(
            "ACFC: no FF03, 00 21",
            Access {
                ppp: Some((false, false, 0x21)),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "PFC: FF03 21",
            Access {
                ppp: Some((true, true, 0x21)),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "ACFC + PFC: 21",
            Access {
                ppp: Some((false, true, 0x21)),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "ACFC + PFC: 57 (IPv6)",
            Access {
                ppp: Some((false, true, 0x57)),
                payload: v6(),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV6,
        ),
        // L2TP optional fields.
        case(
            "Length present",
            Access {
                length: true,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Ns/Nr present",
            Access {
                sequence: true,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Offset Size 0",
            Access {
                offset_pad: Some(0),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Offset Size 3 (odd pad)",
            Access {
                offset_pad: Some(3),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Offset Size 64 (the limit)",
            Access {
                offset_pad: Some(64),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Offset Size 65 (over the limit)",
            Access {
                offset_pad: Some(65),
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassOffsetLimit,
        ),
        case(
            "L + S + O + P, pad 5, ACFC + PFC",
            Access {
                length: true,
                sequence: true,
                offset_pad: Some(5),
                priority: true,
                ppp: Some((false, true, 0x21)),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "reserved flag bits set (ignored)",
            Access {
                reserved_flags: 0x3000 | 0x0400 | 0x00f0,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        // Outer layers.
        case(
            "802.1Q tag",
            Access {
                vlan: Some(100),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "802.1Q tag + IPv6 inside",
            Access {
                vlan: Some(4094),
                ..Access::ppp(0x57, v6())
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV6,
        ),
        case(
            "IPv4 options (IHL 6, Router Alert)",
            Access {
                ip_options: vec![0x94, 0x04, 0, 0],
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "IPv4 options (IHL 15, 40 bytes of NOP/EOL)",
            Access {
                ip_options: [vec![1u8; 39], vec![0]].concat(),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "VLAN + options + L + S + O",
            Access {
                vlan: Some(7),
                ip_options: vec![1, 1, 1, 0],
                length: true,
                sequence: true,
                offset_pad: Some(2),
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "DF clear (not a fragment)",
            Access {
                dont_frag: false,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "UDP source port not 1701 (LAC's ephemeral port)",
            Access {
                src_port: 50123,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        case(
            "Ethernet padding after a short datagram",
            Access {
                ppp: Some((false, true, 0x21)),
                payload: vec![0x45],
                min_len: 60,
                ..d()
            }
            .frame(),
            A::Redirect,
            C::L2tpRedirectV4,
        ),
        // PPP control and other protocols.
        case(
            "data + LCP",
            Access::ppp(0xc021, vec![1, 1, 0, 4]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + PAP",
            Access::ppp(0xc023, vec![1, 1, 0, 6, 0, 0]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + CHAP",
            Access::ppp(0xc223, vec![1, 1, 0, 4]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + IPCP",
            Access::ppp(0x8021, vec![1, 1, 0, 4]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + IPv6CP",
            Access::ppp(0x8057, vec![1, 1, 0, 4]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + CCP",
            Access::ppp(0x80fd, vec![1, 1, 0, 4]).frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + LCP, ACFC",
            Access {
                ppp: Some((false, false, 0xc021)),
                payload: vec![9, 1, 0, 8, 0, 0, 0, 0],
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassPppControl,
        ),
        case(
            "data + VJ compressed TCP (PFC 2d)",
            Access {
                ppp: Some((true, true, 0x2d)),
                payload: vec![0; 8],
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassPppOther,
        ),
        case(
            "data + compressed datagram 00fd",
            Access::ppp(0x00fd, vec![0; 8]).frame(),
            A::Pass,
            C::L2tpPassPppOther,
        ),
        // L2TP control.
        case(
            "control message (SCCRQ)",
            Access::control(false).frame(),
            A::Pass,
            C::L2tpPassControl,
        ),
        case(
            "control ZLB",
            Access::control(true).frame(),
            A::Pass,
            C::L2tpPassControl,
        ),
        case(
            "control over a VLAN with IP options",
            Access {
                vlan: Some(5),
                ip_options: vec![1, 1, 1, 1],
                ..Access::control(false)
            }
            .frame(),
            A::Pass,
            C::L2tpPassControl,
        ),
        case(
            "Ver 3 (L2TPv3 over UDP)",
            Access { version: 3, ..d() }.frame(),
            A::Pass,
            C::L2tpPassBadVersion,
        ),
        case(
            "Ver 1 (L2F)",
            Access { version: 1, ..d() }.frame(),
            A::Pass,
            C::L2tpPassBadVersion,
        ),
        case(
            "control with Ver 3",
            Access {
                version: 3,
                ..Access::control(false)
            }
            .frame(),
            A::Pass,
            C::L2tpPassBadVersion,
        ),
        // Not L2TP at all.
        case(
            "UDP to port 1702",
            Access {
                dst_port: 1702,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassNotL2tpPort,
        ),
        case(
            "UDP to port 53",
            Access {
                dst_port: 53,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassNotL2tpPort,
        ),
        case(
            "UDP from 1701 to 50000 (our own traffic echoed)",
            Access {
                src_port: 1701,
                dst_port: 50000,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassNotL2tpPort,
        ),
        case(
            "TCP to 1701",
            Access {
                ip_protocol: IpProtocol::Tcp,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassNotUdp,
        ),
        case(
            "ICMP",
            Access {
                ip_protocol: IpProtocol::Icmp,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassNotUdp,
        ),
        case(
            "outer fragment, MF set",
            Access {
                dont_frag: false,
                more_frags: true,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassFragment,
        ),
        case(
            "outer fragment, offset 1480",
            Access {
                dont_frag: false,
                frag_offset: 1480,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassFragment,
        ),
        case(
            "outer fragment with a VLAN tag",
            Access {
                vlan: Some(9),
                more_frags: true,
                dont_frag: false,
                ..d()
            }
            .frame(),
            A::Pass,
            C::L2tpPassFragment,
        ),
        case("ARP", arp_frame(None), A::Pass, C::L2tpPassNotIpv4),
        case(
            "ARP behind a VLAN tag",
            arp_frame(Some(10)),
            A::Pass,
            C::L2tpPassNotIpv4,
        ),
        case(
            "L2TP over IPv6 outer",
            ipv6_outer_l2tp(),
            A::Pass,
            C::L2tpPassNotIpv4,
        ),
    ];

    // Rows built by patching a good frame (malformed and length-field cases).
    let patched = |name: &str, base: Access, patch: &dyn Fn(&mut Built), counter: C| {
        let mut b = base.build();
        patch(&mut b);
        case(name, b.frame, A::Pass, counter)
    };
    let set16 =
        |f: &mut Vec<u8>, at: usize, v: u16| f[at..at + 2].copy_from_slice(&v.to_be_bytes());
    t.extend([
        patched(
            "IPv4 IHL 4",
            d(),
            &|b| b.frame[b.l3] = 0x44,
            C::L2tpPassMalformed,
        ),
        patched(
            "IPv4 version 6 under EtherType 0800",
            d(),
            &|b| b.frame[b.l3] = 0x65,
            C::L2tpPassMalformed,
        ),
        patched(
            "IPv4 Total Length < IHL",
            d(),
            &|b| set16(&mut b.frame, b.l3 + 2, 16),
            C::L2tpPassMalformed,
        ),
        patched(
            "IPv4 Total Length past the frame",
            d(),
            &|b| {
                let n = b.frame.len() - b.l3 + 1;
                set16(&mut b.frame, b.l3 + 2, n as u16)
            },
            C::L2tpPassTruncated,
        ),
        patched(
            "IPv4 Total Length ends inside the UDP header",
            d(),
            &|b| set16(&mut b.frame, b.l3 + 2, 24),
            C::L2tpPassTruncated,
        ),
        patched(
            "UDP Length 7",
            d(),
            &|b| set16(&mut b.frame, b.l4 + 4, 7),
            C::L2tpPassMalformed,
        ),
        patched(
            "UDP Length past the IP datagram",
            d(),
            &|b| {
                let n = b.frame.len() - b.l4 + 1;
                set16(&mut b.frame, b.l4 + 4, n as u16)
            },
            C::L2tpPassMalformed,
        ),
        patched(
            "UDP Length 9: one byte of L2TP",
            d(),
            &|b| set16(&mut b.frame, b.l4 + 4, 9),
            C::L2tpPassTruncated,
        ),
        patched(
            "UDP Length 12: L2TP header cut after Session ID's first byte",
            d(),
            &|b| set16(&mut b.frame, b.l4 + 4, 13),
            C::L2tpPassTruncated,
        ),
        patched(
            "UDP Length 10 with T set: a 2-byte control message still passes as control",
            Access::control(false),
            &|b| set16(&mut b.frame, b.l4 + 4, 10),
            C::L2tpPassControl,
        ),
        patched(
            "Ns/Nr cut by UDP Length",
            Access {
                sequence: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l4 + 4, 8 + 8),
            C::L2tpPassTruncated,
        ),
        patched(
            "offset pad past UDP Length",
            Access {
                offset_pad: Some(8),
                ..d()
            },
            &|b| set16(&mut b.frame, b.l4 + 4, 8 + 8 + 4),
            C::L2tpPassTruncated,
        ),
        patched(
            "L2TP Length < header",
            Access {
                length: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 2, 6),
            C::L2tpPassMalformed,
        ),
        patched(
            "L2TP Length past the UDP datagram",
            Access {
                length: true,
                ..d()
            },
            &|b| {
                let n = b.frame.len() - b.l2tp + 1;
                set16(&mut b.frame, b.l2tp + 2, n as u16)
            },
            C::L2tpPassMalformed,
        ),
        patched(
            "L2TP Length = header: no PPP byte",
            Access {
                length: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 2, 8),
            C::L2tpPassTruncated,
        ),
        patched(
            "L2TP Length = header + 1: FF alone",
            Access {
                length: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 2, 9),
            C::L2tpPassTruncated,
        ),
        patched(
            "L2TP Length = header + 2: FF 03 alone",
            Access {
                length: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 2, 10),
            C::L2tpPassTruncated,
        ),
        patched(
            "L2TP Length = header + 3: FF 03 00, protocol cut",
            Access {
                length: true,
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 2, 11),
            C::L2tpPassTruncated,
        ),
        patched(
            "L2TP Offset Size over the limit wins over Length",
            Access {
                length: true,
                offset_pad: Some(2),
                ..d()
            },
            &|b| set16(&mut b.frame, b.l2tp + 8, 0xffff),
            C::L2tpPassOffsetLimit,
        ),
        patched(
            "PPP FF 04",
            d(),
            &|b| b.frame[b.l2tp + 7] = 0x04,
            C::L2tpPassMalformed,
        ),
        patched(
            "PPP protocol with an even second octet (00 20)",
            d(),
            &|b| b.frame[b.l2tp + 9] = 0x20,
            C::L2tpPassMalformed,
        ),
    ]);
    // A data message whose PPP frame is empty, padded to 60 bytes: the
    // padding must not be read as a PPP protocol.
    t.push(case(
        "empty PPP frame followed by Ethernet padding of 0x21s",
        {
            let mut f = Access {
                ppp: None,
                payload: Vec::new(),
                ..d()
            }
            .frame();
            f.resize(60, 0x21);
            f
        },
        A::Pass,
        C::L2tpPassTruncated,
    ));
    t
}

fn core_cases() -> Vec<Case> {
    let sub6: Ipv6Addr = "2001:db8:100:1::1".parse().unwrap();
    let v4 = |dst: Ipv4Addr| Ipv4Spec {
        src: SERVER_IP,
        dst,
        ..Ipv4Spec::default()
    };
    let mut t = vec![
        case(
            "IPv4 to a subscriber",
            core_v4(None, &v4(SUB_IP)),
            A::Redirect,
            C::CoreRedirectV4,
        ),
        case(
            "IPv4 to another address",
            core_v4(None, &v4(Ipv4Addr::new(198, 18, 251, 2))),
            A::Pass,
            C::CorePassV4Miss,
        ),
        case(
            "IPv4 from a subscriber (not to one)",
            core_v4(
                None,
                &Ipv4Spec {
                    src: SUB_IP,
                    dst: SERVER_IP,
                    ..Ipv4Spec::default()
                },
            ),
            A::Pass,
            C::CorePassV4Miss,
        ),
        case(
            "IPv4 to a subscriber behind a VLAN tag",
            core_v4(Some(200), &v4(SUB_IP)),
            A::Redirect,
            C::CoreRedirectV4,
        ),
        case(
            "IPv4 miss behind a VLAN tag",
            core_v4(Some(200), &v4(SERVER_IP)),
            A::Pass,
            C::CorePassV4Miss,
        ),
        case(
            "IPv4 with options to a subscriber",
            core_v4(
                None,
                &Ipv4Spec {
                    options: &[0x94, 4, 0, 0],
                    ..v4(SUB_IP)
                },
            ),
            A::Redirect,
            C::CoreRedirectV4,
        ),
        case(
            "IPv4 fragment to a subscriber (forwarded as is)",
            core_v4(
                None,
                &Ipv4Spec {
                    dont_frag: false,
                    more_frags: true,
                    ..v4(SUB_IP)
                },
            ),
            A::Redirect,
            C::CoreRedirectV4,
        ),
        case(
            "IPv6 to the subscriber's /64",
            core_v6(None, sub6),
            A::Redirect,
            C::CoreRedirectV6,
        ),
        case(
            "IPv6 to another address in the /64",
            core_v6(None, "2001:db8:100:1:ffff:ffff:ffff:ffff".parse().unwrap()),
            A::Redirect,
            C::CoreRedirectV6,
        ),
        case(
            "IPv6 to the next /64",
            core_v6(None, "2001:db8:100:2::1".parse().unwrap()),
            A::Pass,
            C::CorePassV6Miss,
        ),
        case(
            "IPv6 behind a VLAN tag",
            core_v6(Some(300), sub6),
            A::Redirect,
            C::CoreRedirectV6,
        ),
        case("ARP", arp_frame(None), A::Pass, C::CorePassNotIp),
        case(
            "ARP behind a VLAN tag",
            arp_frame(Some(1)),
            A::Pass,
            C::CorePassNotIp,
        ),
    ];
    let mut bad_ihl = core_v4(None, &v4(SUB_IP));
    bad_ihl[14] = 0x43;
    t.push(case("IPv4 IHL 3", bad_ihl, A::Pass, C::CorePassMalformed));
    let mut bad_v6 = core_v6(None, sub6);
    bad_v6[14] = 0x40;
    t.push(case(
        "IPv6 EtherType, version 4",
        bad_v6,
        A::Pass,
        C::CorePassMalformed,
    ));
    let mut long_v6 = core_v6(None, sub6);
    let n = (long_v6.len() - 14 - 40 + 1) as u16;
    long_v6[18..20].copy_from_slice(&n.to_be_bytes());
    t.push(case(
        "IPv6 Payload Length past the frame",
        long_v6,
        A::Pass,
        C::CorePassTruncated,
    ));
    t
}

/// The redirect rows as they read with an empty XSKMAP entry.
fn without_xsk(cases: &[Case], no_xsk: C) -> Vec<Case> {
    cases
        .iter()
        .filter(|c| c.action == A::Redirect)
        .map(|c| {
            case(
                &format!("{} (no XSK)", c.name),
                c.frame.clone(),
                A::Pass,
                no_xsk,
            )
        })
        .collect()
}

fn with_subscribers(s: &mut Steering) {
    s.insert_subscriber_v4(SUB_IP, 7).unwrap();
    s.insert_subscriber_v6("2001:db8:100:1::".parse().unwrap(), 9)
        .unwrap();
}

#[test]
fn l2tp_steer_fixture_table() {
    let Some(mut s) = load_or_skip("l2tp_steer_fixture_table") else {
        return;
    };
    let xsk = Xsk::new().expect("AF_XDP socket (CONFIG_XDP_SOCKETS)");
    s.set_xsk(Side::Access, 0, &xsk).expect("XSKMAP insert");
    let cases = access_cases();
    run_table(&s, Side::Access, &cases);

    // The same redirect rows without a socket on the queue: PASS, counted.
    s.clear_xsk(Side::Access, 0).unwrap();
    let fallback = without_xsk(&cases, C::L2tpPassNoXsk);
    assert!(fallback.len() >= 20);
    run_table(&s, Side::Access, &fallback);
    // A core socket does not serve the access side.
    s.set_xsk(Side::Core, 0, &xsk).unwrap();
    run_table(&s, Side::Access, &fallback[..1]);
}

#[test]
fn l2tp_steer_every_truncation() {
    let Some(mut s) = load_or_skip("l2tp_steer_every_truncation") else {
        return;
    };
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Access, 0, &xsk).unwrap();
    let runs = run_cuts(&s, Side::Access, &access_cases());
    assert!(runs > 5000, "{runs}");
}

#[test]
fn core_steer_fixture_table() {
    let Some(mut s) = load_or_skip("core_steer_fixture_table") else {
        return;
    };
    with_subscribers(&mut s);
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Core, 0, &xsk).unwrap();
    let cases = core_cases();
    run_table(&s, Side::Core, &cases);

    s.clear_xsk(Side::Core, 0).unwrap();
    run_table(&s, Side::Core, &without_xsk(&cases, C::CorePassNoXsk));
}

/// The destination of a core-side frame (after an optional tag): IPv4 as
/// its 4 bytes, IPv6 as 16.
fn frame_dst(f: &[u8]) -> Option<Vec<u8>> {
    let l3 = if f.get(12..14)? == [0x81, 0x00] {
        18
    } else {
        14
    };
    match f.get(l3 - 2..l3)? {
        [0x08, 0x00] => f.get(l3 + 16..l3 + 20).map(<[u8]>::to_vec),
        [0x86, 0xdd] => f.get(l3 + 24..l3 + 40).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// Every core row again, now reading what the program leaves in front of
/// the packet: a redirect carries `struct l2tpx_meta` with the subscriber's
/// slot (7 for IPv4, 9 for the /64) and the check word of its destination;
/// a pass carries no metadata. The packet itself is never changed.
#[test]
fn core_steer_puts_the_slot_in_the_metadata() {
    let Some(mut s) = load_or_skip("core_steer_puts_the_slot_in_the_metadata") else {
        return;
    };
    with_subscribers(&mut s);
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Core, 0, &xsk).unwrap();
    let mut redirects = 0;
    for c in core_cases() {
        let (action, out) = s.test_run_output(Side::Core, &c.frame).unwrap();
        assert_eq!(action, c.action, "{}", c.name);
        assert!(out.len() >= c.frame.len(), "{}", c.name);
        let (meta, pkt) = out.split_at(out.len() - c.frame.len());
        assert_eq!(pkt, &c.frame[..], "{}: packet changed", c.name);
        if action != A::Redirect {
            assert!(meta.is_empty(), "{}: metadata {meta:02x?}", c.name);
            continue;
        }
        redirects += 1;
        let dst = frame_dst(&c.frame).unwrap();
        let want = match dst.len() {
            4 => Meta::v4(7, dst[..].try_into().unwrap()),
            _ => Meta::v6(9, dst[..].try_into().unwrap()),
        };
        assert_eq!(meta.len(), META_LEN, "{}", c.name);
        assert_eq!(meta, &want.to_bytes()[..], "{}", c.name);
        // What the worker reads back from a UMEM chunk laid out this way.
        let hint = match dst.len() {
            4 => Meta::hint_v4(&out, META_LEN, dst[..].try_into().unwrap()),
            _ => Meta::hint_v6(&out, META_LEN, dst[..].try_into().unwrap()),
        };
        assert_eq!(hint, Some(want.slot), "{}", c.name);
    }
    assert_eq!(redirects, 7);

    // A moved subscriber: the next packet carries the new slot.
    s.insert_subscriber_v4(SUB_IP, 0xfffe).unwrap();
    let to_sub = core_v4(
        None,
        &Ipv4Spec {
            src: SERVER_IP,
            dst: SUB_IP,
            ..Ipv4Spec::default()
        },
    );
    let (_, out) = s.test_run_output(Side::Core, &to_sub).unwrap();
    assert_eq!(Meta::hint_v4(&out, META_LEN, SUB_IP.octets()), Some(0xfffe));
    // Another destination's check word does not match.
    assert_eq!(Meta::hint_v4(&out, META_LEN, [198, 18, 1, 2]), None);

    // Without a socket the frame passes; the metadata it got is harmless.
    s.clear_xsk(Side::Core, 0).unwrap();
    let (action, _) = s.test_run_output(Side::Core, &to_sub).unwrap();
    assert_eq!(action, A::Pass);
}

#[test]
fn core_steer_every_truncation() {
    let Some(mut s) = load_or_skip("core_steer_every_truncation") else {
        return;
    };
    with_subscribers(&mut s);
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Core, 0, &xsk).unwrap();
    run_cuts(&s, Side::Core, &core_cases());
}

#[test]
fn subscriber_maps_follow_inserts_and_removes() {
    let Some(mut s) = load_or_skip("subscriber_maps_follow_inserts_and_removes") else {
        return;
    };
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Core, 0, &xsk).unwrap();
    let sub6: Ipv6Addr = "2001:db8:100:1::1".parse().unwrap();
    let to_sub4 = core_v4(
        None,
        &Ipv4Spec {
            src: SERVER_IP,
            dst: SUB_IP,
            ..Ipv4Spec::default()
        },
    );
    let to_sub6 = core_v6(None, sub6);
    let run = |s: &Steering, f: &[u8]| run_one(s, Side::Core, f).unwrap();

    assert_eq!(run(&s, &to_sub4), (A::Pass, vec![(C::CorePassV4Miss, 1)]));
    assert_eq!(s.subscriber_v4(SUB_IP).unwrap(), None);
    s.insert_subscriber_v4(SUB_IP, 41).unwrap();
    assert_eq!(s.subscriber_v4(SUB_IP).unwrap(), Some(41));
    assert_eq!(
        run(&s, &to_sub4),
        (A::Redirect, vec![(C::CoreRedirectV4, 1)])
    );
    s.insert_subscriber_v4(SUB_IP, 42).unwrap();
    assert_eq!(s.subscriber_v4(SUB_IP).unwrap(), Some(42));
    assert!(s.remove_subscriber_v4(SUB_IP).unwrap());
    assert!(!s.remove_subscriber_v4(SUB_IP).unwrap());
    assert_eq!(run(&s, &to_sub4), (A::Pass, vec![(C::CorePassV4Miss, 1)]));

    assert_eq!(run(&s, &to_sub6), (A::Pass, vec![(C::CorePassV6Miss, 1)]));
    // Any address of the /64 names it.
    s.insert_subscriber_v6("2001:db8:100:1:1:2:3:4".parse().unwrap(), 5)
        .unwrap();
    assert_eq!(s.subscriber_v6(sub6).unwrap(), Some(5));
    assert_eq!(
        run(&s, &to_sub6),
        (A::Redirect, vec![(C::CoreRedirectV6, 1)])
    );
    assert!(s.remove_subscriber_v6(sub6).unwrap());
    assert!(!s.remove_subscriber_v6(sub6).unwrap());
    assert_eq!(s.subscriber_v6(sub6).unwrap(), None);
    assert_eq!(run(&s, &to_sub6), (A::Pass, vec![(C::CorePassV6Miss, 1)]));

    // Totals: every run counted once, on the core side only.
    let c = s.counters().unwrap();
    assert_eq!(c.total(Side::Core), 6);
    assert_eq!(c.total(Side::Access), 1, "the load probe's run");
}

#[test]
fn l2tp_port_comes_from_the_config_map() {
    let Some(mut s) = load_or_skip("l2tp_port_comes_from_the_config_map") else {
        return;
    };
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Access, 0, &xsk).unwrap();
    assert_eq!(s.config().unwrap(), Config::with_l2tp_port(1701));
    let on = |port| {
        Access {
            dst_port: port,
            ..Access::default()
        }
        .frame()
    };
    let run = |s: &Steering, f: &[u8]| run_one(s, Side::Access, f).unwrap();

    s.set_config(Config::with_l2tp_port(1702)).unwrap();
    assert_eq!(
        run(&s, &on(1702)),
        (A::Redirect, vec![(C::L2tpRedirectV4, 1)])
    );
    assert_eq!(
        run(&s, &on(1701)),
        (A::Pass, vec![(C::L2tpPassNotL2tpPort, 1)])
    );
    // 0 means the default port.
    s.set_config(Config::default()).unwrap();
    assert_eq!(Config::default().effective_l2tp_port(), 1701);
    assert_eq!(
        run(&s, &on(1701)),
        (A::Redirect, vec![(C::L2tpRedirectV4, 1)])
    );
    assert_eq!(
        run(&s, &on(1702)),
        (A::Pass, vec![(C::L2tpPassNotL2tpPort, 1)])
    );
}

#[test]
fn load_options_resize_the_maps() {
    use l2tpx_dataplane::ebpf::LoadOptions;
    if load_or_skip("load_options_resize_the_maps").is_none() {
        return;
    }
    let mut s = Steering::load_with(&LoadOptions {
        max_queues: Some(2),
        max_subs_v4: Some(2),
        max_subs_v6: Some(1),
    })
    .unwrap();
    let xsk = Xsk::new().expect("AF_XDP socket");
    s.set_xsk(Side::Access, 1, &xsk).unwrap();
    assert!(s.set_xsk(Side::Access, 2, &xsk).is_err(), "queue 2 of 2");
    s.insert_subscriber_v4(Ipv4Addr::new(198, 18, 9, 1), 1)
        .unwrap();
    s.insert_subscriber_v4(Ipv4Addr::new(198, 18, 9, 2), 2)
        .unwrap();
    let e = s
        .insert_subscriber_v4(Ipv4Addr::new(198, 18, 9, 3), 3)
        .unwrap_err();
    assert_eq!(e.os_error(), Some(libc::E2BIG), "{e}");
    s.insert_subscriber_v6("2001:db8::".parse().unwrap(), 1)
        .unwrap();
    assert!(s
        .insert_subscriber_v6("2001:db8:0:1::".parse().unwrap(), 2)
        .is_err());
}
