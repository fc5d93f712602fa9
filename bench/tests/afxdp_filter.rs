//! The AF_XDP generator's socket and receive filter on a veth of their own
//! (needs root, network namespaces and XDP; prints `SKIP: reason`
//! otherwise): frames injected at the peer end with an `AF_PACKET` socket
//! reach `XdpIo::recv` only when they are test traffic (L2TP data carrying
//! PPP IPv4, UDP to the plain port); L2TP control, PPP LCP, other UDP and
//! ARP pass to the kernel. A datagram sent through `XdpIo` arrives at the
//! peer as a complete, checksummed frame.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use l2tpx_bench::afxdp::{write_eth_ipv4_udp, XdpIo, HEADERS};
use l2tpx_bench::traffic::{
    read_payload, write_ipv4_udp, write_l2tp_ppp_header, write_payload, TestIo, DOWN_PORT,
};
use l2tpx_tests::netns::{in_ns, NetNs, Veth};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 2);
const SUB: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 9);

/// A raw `AF_PACKET` socket bound to one interface (calling thread's
/// namespace).
fn packet_socket(ifname: &str) -> std::io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain syscall, checked.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto;
    sa.sll_ifindex = l2tpx_dataplane::xsk::ifindex(ifname)? as i32;
    // SAFETY: sa is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            raw,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn send(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: a live buffer of the length passed.
    let rc = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(
        rc,
        frame.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

/// An Ethernet/IPv4/UDP frame from B to A carrying `payload`.
fn udp_frame(macs: ([u8; 6], [u8; 6]), sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADERS + payload.len()];
    b[HEADERS..].copy_from_slice(payload);
    let (src, dst) = (SocketAddrV4::new(B, sport), SocketAddrV4::new(A, dport));
    let n = write_eth_ipv4_udp(&mut b, macs.1, macs.0, src, dst, payload.len(), 7);
    b.truncate(n);
    b
}

/// An L2TP data message carrying PPP IPv4 (a downstream test packet).
fn l2tp_ipv4(stream: u32) -> Vec<u8> {
    let mut m = vec![0u8; 12 + 46];
    let n = write_l2tp_ppp_header(&mut m, 1, 2, 46);
    let src = SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 2), 9000);
    write_ipv4_udp(
        &mut m[12..],
        src,
        SocketAddrV4::new(SUB, DOWN_PORT),
        46,
        stream,
        0,
        5,
    );
    m.truncate(n);
    m
}

#[test]
fn filter_steers_only_test_traffic_and_frames_go_out_whole() {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let na = NetNs::new("bxa").unwrap();
    let nb = NetNs::new("bxb").unwrap();
    let v = Veth::new(&na, "198.18.200.1/24", &nb, "198.18.200.2/24").unwrap();
    let mac_a = in_ns(&na, || l2tpx_dataplane::neigh::interface_mac(&v.a)).unwrap();
    let mac_b = in_ns(&nb, || l2tpx_dataplane::neigh::interface_mac(&v.b)).unwrap();
    let src = SocketAddrV4::new(A, 40000);
    let mut io = match in_ns(&na, || {
        XdpIo::open(&v.a, 9000, mac_b, vec![src], SocketAddrV4::new(B, 1701))
    }) {
        Ok(io) => io,
        Err(e) => {
            eprintln!("SKIP: AF_XDP unavailable: {e}");
            return;
        }
    };
    let pkt = in_ns(&nb, || packet_socket(&v.b)).unwrap();
    let macs = (mac_a, mac_b);

    let mut control = vec![0xc8, 0x02, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0];
    control[3] = control.len() as u8;
    let mut lcp = vec![
        0x40, 0x02, 0, 0, 0, 1, 0, 2, 0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 4,
    ];
    lcp[3] = lcp.len() as u8;
    let mut plain = vec![0u8; 18];
    write_payload(&mut plain, 3, 0, 5);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&mac_b);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.resize(60, 0);
    let frames: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "L2TP data, PPP IPv4, from 1701",
            udp_frame(macs, 1701, 40000, &l2tp_ipv4(1)),
            true,
        ),
        (
            "L2TP data, PPP IPv4, to 1701",
            udp_frame(macs, 40001, 1701, &l2tp_ipv4(2)),
            true,
        ),
        (
            "UDP to the plain port",
            udp_frame(macs, 9000, 9000, &plain),
            true,
        ),
        (
            "L2TP control",
            udp_frame(macs, 1701, 40000, &control),
            false,
        ),
        ("PPP LCP", udp_frame(macs, 1701, 40000, &lcp), false),
        (
            "UDP to another port",
            udp_frame(macs, 9000, 9002, &plain),
            false,
        ),
        ("ARP", arp, false),
    ];
    for (_, f, _) in &frames {
        send(&pkt, f);
    }
    let want: Vec<(u16, Vec<u8>)> = frames
        .iter()
        .filter(|(_, _, steer)| *steer)
        .map(|(_, f, _)| {
            let (port, p) = l2tpx_bench::afxdp::frame_udp(f).unwrap();
            (port, p.to_vec())
        })
        .collect();
    let mut got = Vec::new();
    for _ in 0..50 {
        io.recv(&mut |port, p, _, _| got.push((port, p.to_vec())));
        if got.len() > want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let names: Vec<_> = frames.iter().map(|(n, _, s)| (n, s)).collect();
    assert_eq!(got, want, "steered frames (expected {names:?})");

    // Out: one datagram, as the core host sends downstream.
    let slot = io.slot(0).expect("a TX frame");
    slot[..18].fill(0);
    write_payload(slot, 4, 1, 6);
    io.commit(0, 18, Some(SocketAddrV4::new(SUB, DOWN_PORT)));
    assert_eq!(io.flush(), (1, 0));
    let mut buf = [0u8; 2048];
    let mut seen = None;
    for _ in 0..100 {
        // SAFETY: a non-blocking receive into a live buffer.
        let n = unsafe {
            libc::recv(
                pkt.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            let f = &buf[..n as usize];
            if let Some((DOWN_PORT, p)) = l2tpx_bench::afxdp::frame_udp(f) {
                seen = Some((f.to_vec(), p.to_vec()));
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let (f, p) = seen.expect("the frame reached the peer");
    assert_eq!(&f[..6], &mac_b);
    assert_eq!(&f[6..12], &mac_a);
    assert_eq!(f.len(), 60);
    assert_eq!(l2tpx_wire::checksum::data(&f[14..34]), 0xffff);
    assert_eq!(read_payload(&p), Some((4, 1, 6)));
    assert_eq!(io.unsent(), 0);
}
