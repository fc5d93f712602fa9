//! The three-namespace test topology of the end-to-end tests and the
//! forwarding bench, and the packets they send:
//!
//! ```text
//!  LAC ns                    LNS ns                          CORE ns
//!  lac_if 198.18.0.2 ── lns_acc_if 198.18.0.1
//!                            lns_core_if 198.19.0.1 ── core_if 198.19.0.2
//!                                                       198.18.1.0/24 via 198.19.0.1
//! ```
//!
//! The LNS has forwarding off, so what XDP/AF_XDP does not take is
//! visibly not forwarded. IPv6 is off on every interface (no stray
//! router solicitations in the counters). Included with `#[path]` by the
//! test files that need it.
#![allow(dead_code)]

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use l2tpx_dataplane::neigh;
use l2tpx_dataplane::pipeline::{build_template, TemplateParams, L2TP_PORT};
use l2tpx_table::{slot_index, Session};
pub use l2tpx_tests::netns::in_ns;
use l2tpx_tests::netns::{NetNs, Veth};
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::udp;

pub const LAC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const LNS_ACC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const LNS_CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// Our tunnel ID in every test session (bank bits 0: slot = session ID).
pub const OUR_TUNNEL: u16 = 0x0001;
pub const PEER_TUNNEL: u16 = 0x4001;
/// UDP ports of the inner traffic.
pub const CORE_PORT: u16 = 5000;
pub const SUB_PORT: u16 = 6000;

/// Subscriber `i` (1-based): 198.18.1.i.
pub fn subscriber(i: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, i as u8)
}

/// The three namespaces and their two veth pairs.
pub struct Topo {
    pub lac: NetNs,
    pub lns: NetNs,
    pub core: NetNs,
    pub lac_if: String,
    pub lns_acc_if: String,
    pub lns_core_if: String,
    pub core_if: String,
    pub lac_mac: [u8; 6],
    pub lns_acc_mac: [u8; 6],
    pub lns_core_mac: [u8; 6],
    pub core_mac: [u8; 6],
}

fn sysctl(ns: &NetNs, kv: &str) -> io::Result<()> {
    ns.exec("sysctl", &["-q", "-w", kv]).map(|_| ())
}

impl Topo {
    /// Builds the topology with `queues` queues per veth.
    pub fn new(queues: u32) -> io::Result<Topo> {
        let lac = NetNs::new("lac")?;
        let lns = NetNs::new("lns")?;
        let core = NetNs::new("core")?;
        for ns in [&lac, &lns, &core] {
            sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
            sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")?;
        }
        sysctl(&lns, "net.ipv4.ip_forward=0")?;
        let acc = Veth::with_queues(&lac, "198.18.0.2/24", &lns, "198.18.0.1/24", queues)?;
        let cor = Veth::with_queues(&lns, "198.19.0.1/24", &core, "198.19.0.2/24", queues)?;
        core.ip(&["route", "add", "198.18.1.0/24", "via", "198.19.0.1"])?;
        let mac = |ns: &NetNs, ifname: &str| in_ns(ns, || neigh::interface_mac(ifname));
        Ok(Topo {
            lac_mac: mac(&lac, &acc.a)?,
            lns_acc_mac: mac(&lns, &acc.b)?,
            lns_core_mac: mac(&lns, &cor.a)?,
            core_mac: mac(&core, &cor.b)?,
            lac_if: acc.a,
            lns_acc_if: acc.b,
            lns_core_if: cor.a,
            core_if: cor.b,
            lac,
            lns,
            core,
        })
    }
}

/// A table file in /dev/shm, removed on drop.
pub struct TempTable {
    pub path: std::path::PathBuf,
}

impl TempTable {
    pub fn new(tag: &str) -> TempTable {
        let path = std::path::PathBuf::from(format!(
            "/dev/shm/l2tpx-{tag}-{}",
            l2tpx_tests::netns::unique_name("t")
        ));
        TempTable { path }
    }
}

impl Drop for TempTable {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Session `i` (1-based): our IDs (1, i), the LAC's (0x4001, 0x8000 + i),
/// subscriber 198.18.1.i, template from the LAC's and our access MACs.
pub fn session(i: u16, lac_mac: [u8; 6], lns_acc_mac: [u8; 6]) -> Session {
    let (template, template_len, l2tp_offset) = build_template(&TemplateParams {
        peer_mac: lac_mac,
        our_mac: lns_acc_mac,
        vlan_tci: None,
        local_addr: LNS_ACC_IP,
        peer_addr: LAC_IP,
        local_port: L2TP_PORT,
        peer_port: L2TP_PORT,
        peer_tunnel_id: PEER_TUNNEL,
        peer_session_id: 0x8000 + i,
        with_length: false,
        sequencing: false,
    });
    Session {
        slot: slot_index(OUR_TUNNEL, i, 0),
        our_tunnel_id: OUR_TUNNEL,
        our_session_id: i,
        peer_tunnel_id: PEER_TUNNEL,
        peer_session_id: 0x8000 + i,
        peer_addr: LAC_IP,
        peer_port: L2TP_PORT,
        subscriber_v4: Some(subscriber(i)),
        subscriber_v6_prefix: None,
        sequencing: false,
        mtu: 1460,
        mss_clamp: 0,
        template,
        template_len,
        l2tp_offset,
    }
}

/// An IPv4/UDP packet with a valid UDP checksum; `seq` is the first four
/// payload bytes and the IP Identification, `extra` pattern bytes follow.
pub fn inner_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    extra: usize,
) -> Vec<u8> {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.extend((0..extra).map(|i| (i as u8).wrapping_mul(31) ^ seq as u8));
    let u = udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
        checksum: udp::Checksum::Compute,
    };
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Udp,
        payload_len: u.buffer_len(),
        hop_limit: 64,
        dscp_ecn: 0,
        ident: seq as u16,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    let mut b = vec![0u8; ip.buffer_len()];
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    ip.emit(&mut p);
    u.emit(
        &mut udp::Packet::new_unchecked(p.payload_mut()),
        src,
        dst,
        |d| d.copy_from_slice(&payload),
    );
    b
}

/// What a router makes of `inner`: TTL - 1, header checksum recomputed.
pub fn forwarded(inner: &[u8]) -> Vec<u8> {
    let mut b = inner.to_vec();
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    let ttl = p.ttl();
    p.set_ttl(ttl - 1);
    p.fill_checksum();
    b
}

/// Both checksums of an IPv4/UDP packet are right.
pub fn checksums_ok(pkt: &[u8]) -> bool {
    let Ok(p) = ipv4::Packet::new_checked(pkt) else {
        return false;
    };
    if !p.verify_checksum() {
        return false;
    }
    let Ok(u) = udp::Packet::new_checked(p.payload()) else {
        return false;
    };
    u.verify_checksum(p.src_addr(), p.dst_addr())
}

/// An L2TP data message (no Length, no sequence) with PPP FF03 0021.
pub fn l2tp_data(tunnel: u16, session: u16, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![0x00, 0x02];
    m.extend_from_slice(&tunnel.to_be_bytes());
    m.extend_from_slice(&session.to_be_bytes());
    m.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    m.extend_from_slice(inner);
    m
}

/// An Ethernet frame.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An AF_PACKET socket on one interface (create it inside the namespace).
pub struct RawSock {
    fd: OwnedFd,
}

impl RawSock {
    /// Bound to `ifname`, receiving IPv4 only, never its own frames.
    pub fn open(ifname: &str) -> io::Result<RawSock> {
        let ifindex = l2tpx_dataplane::xsk::ifindex(ifname)?;
        // SAFETY: plain syscalls; results checked.
        unsafe {
            let raw = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(raw);
            let one: libc::c_int = 1;
            libc::setsockopt(
                raw,
                libc::SOL_PACKET,
                23, // PACKET_IGNORE_OUTGOING
                (&one as *const libc::c_int).cast(),
                4,
            );
            let big: libc::c_int = 32 << 20;
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&big as *const libc::c_int).cast(),
                4,
            );
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = (libc::ETH_P_IP as u16).to_be();
            sll.sll_ifindex = ifindex as i32;
            if libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(RawSock { fd })
        }
    }

    /// Sends one frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: a bound packet socket; the buffer is live.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n == frame.len() as isize {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// One received frame, or None after the 100 ms receive timeout.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: buf is live and writable.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        (n > 0).then(|| {
            buf.truncate(n as usize);
            buf
        })
    }
}

/// Waits for `cond` up to `timeout`, polling every 10 ms.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    while waited < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(step);
        waited += step;
    }
    cond()
}
