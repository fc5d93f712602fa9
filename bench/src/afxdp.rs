//! AF_XDP test-traffic I/O (`--generator afxdp`, docs/decisions.md): one
//! AF_XDP socket on queue 0 of a bench veth end (the LAC's, the core
//! host's), over the data plane's own [`l2tpx_dataplane::xsk`] layer, and
//! the receive filter `ebpf/bench_xdp.c` on that end, which steers only
//! test traffic to the socket and passes the rest (ARP, L2TP control, PPP
//! control) to the kernel, where the emulator's sockets keep running.
//!
//! Frames go out complete: Ethernet (our MAC, the peer's), IPv4 with a
//! valid header checksum, UDP with checksum 0, then the datagram the
//! sendmmsg path would have sent. The UMEM is split once: the first half
//! cycles through the fill and RX rings, the second through a free list,
//! the TX ring and the completion ring.

use std::io;
use std::net::SocketAddrV4;

use aya::maps::{Array, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use l2tpx_dataplane::ebpf::bench_object;
use l2tpx_dataplane::xsk::{BindMode, Desc, RingSizes, Umem, XskSocket};

use crate::clock;
use crate::traffic::{write_ipv4_udp_headers, OnDatagram, TestIo};

/// Ethernet + IPv4 (no options) + UDP.
pub const HEADERS: usize = 14 + 20 + 8;
/// Frames in the UMEM (half RX, half TX).
const FRAMES: u32 = 8192;
/// Every ring's size.
const RING: u32 = 4096;
/// Descriptors per RX turn.
const RX_BATCH: u32 = 256;

/// The program and map names in `ebpf/bench_xdp.c`.
const PROG: &str = "bench_steer";
const MAP_CONFIG: &str = "bench_config";
const MAP_XSKS: &str = "bench_xsks";

/// Writes Ethernet, IPv4 and UDP headers into `buf[..HEADERS]` for the
/// `payload_len` bytes of UDP payload at `buf[HEADERS..]`: EtherType IPv4,
/// TTL 64, no fragmentation flags, a valid header checksum, UDP checksum
/// 0 (RFC 768: none). Returns the frame length.
#[allow(clippy::too_many_arguments)]
pub fn write_eth_ipv4_udp(
    buf: &mut [u8],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload_len: usize,
    ident: u16,
) -> usize {
    let ip_len = 20 + 8 + payload_len;
    let h = &mut buf[..HEADERS];
    h[0..6].copy_from_slice(&dst_mac);
    h[6..12].copy_from_slice(&src_mac);
    h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    write_ipv4_udp_headers(&mut h[14..], src, dst, ip_len, ident);
    14 + ip_len
}

/// The UDP destination port and payload of an Ethernet/IPv4/UDP frame
/// (untagged, unfragmented), bounded by the IP and UDP lengths so that
/// Ethernet padding is never read as payload; `None` for anything else.
pub fn frame_udp(frame: &[u8]) -> Option<(u16, &[u8])> {
    if frame.len() < HEADERS || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
    if ip[0] >> 4 != 4 || ihl < 20 || ip[9] != 17 || frag != 0 || total > ip.len() {
        return None;
    }
    let udp = ip.get(ihl..total)?;
    if udp.len() < 8 {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 || ulen > udp.len() {
        return None;
    }
    Some((u16::from_be_bytes([udp[2], udp[3]]), &udp[8..ulen]))
}

/// The receive filter loaded and attached to one interface; detached when
/// dropped (aya closes the link), and gone with the interface anyway.
pub struct Filter {
    ebpf: Ebpf,
}

impl Filter {
    /// Loads `bench_xdp.o` with `plain_port` (the plain UDP destination
    /// port to steer besides L2TP data) and attaches it to `ifname` in the
    /// calling thread's namespace: driver mode, else generic.
    pub fn attach(ifname: &str, plain_port: u16) -> io::Result<Filter> {
        let err = |what: &str, e: &dyn std::fmt::Display| io::Error::other(format!("{what}: {e}"));
        let mut ebpf = EbpfLoader::new()
            .load(bench_object())
            .map_err(|e| err("loading bench_xdp.o", &e))?;
        {
            let map = ebpf
                .map_mut(MAP_CONFIG)
                .ok_or_else(|| io::Error::other("bench_xdp.o: no bench_config"))?;
            let mut cfg: Array<_, u32> = Array::try_from(map).map_err(|e| err(MAP_CONFIG, &e))?;
            cfg.set(0, u32::from(plain_port), 0)
                .map_err(|e| err(MAP_CONFIG, &e))?;
        }
        let prog: &mut Xdp = ebpf
            .program_mut(PROG)
            .ok_or_else(|| io::Error::other("bench_xdp.o: no bench_steer"))?
            .try_into()
            .map_err(|e| err(PROG, &e))?;
        prog.load().map_err(|e| err(PROG, &e))?;
        if prog.attach(ifname, XdpMode::Driver).is_err() {
            prog.attach(ifname, XdpMode::Skb)
                .map_err(|e| err(&format!("attaching {PROG} to {ifname}"), &e))?;
        }
        Ok(Filter { ebpf })
    }

    fn set_xsk(&mut self, queue: u32, sock: &XskSocket) -> io::Result<()> {
        use std::os::fd::{AsFd, AsRawFd};
        let map = self
            .ebpf
            .map_mut(MAP_XSKS)
            .ok_or_else(|| io::Error::other("bench_xdp.o: no bench_xsks"))?;
        let mut xsks = XskMap::try_from(map).map_err(|e| io::Error::other(e.to_string()))?;
        xsks.set(queue, sock.as_fd().as_raw_fd(), 0)
            .map_err(|e| io::Error::other(format!("{MAP_XSKS}: {e}")))
    }
}

/// One AF_XDP socket with its UMEM and filter, as a [`TestIo`]: flow `i`
/// sends from `flows[i]`, to the datagram's destination or `peer`. It
/// serves queue 0, the only one of the bench's veths (`Veth::new`).
pub struct XdpIo {
    // Field order is drop order: the socket goes before its UMEM.
    sock: XskSocket,
    umem: Umem,
    _filter: Filter,
    free: Vec<u64>,
    /// Received frames waiting for room in the fill ring: the kernel
    /// publishes the fill ring's consumer index lazily, so it may show
    /// less room than frames it has already handed over.
    refill: Vec<u64>,
    /// The frame [`TestIo::slot`] handed out, until committed.
    cur: Option<u64>,
    /// Descriptors written to the TX ring and not yet submitted.
    queued: u32,
    /// Submitted, not yet completed.
    in_flight: u64,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    flows: Vec<SocketAddrV4>,
    peer: SocketAddrV4,
    ident: u16,
}

impl std::fmt::Debug for XdpIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpIo")
            .field("sock", &self.sock)
            .field("flows", &self.flows.len())
            .finish_non_exhaustive()
    }
}

impl XdpIo {
    /// Attaches the filter to `ifname` (steering `plain_port` and L2TP
    /// data), binds a socket to its queue 0 and fills the fill ring. Call
    /// from a thread in the interface's namespace; `dst_mac` is the peer
    /// veth end's address.
    pub fn open(
        ifname: &str,
        plain_port: u16,
        dst_mac: [u8; 6],
        flows: Vec<SocketAddrV4>,
        peer: SocketAddrV4,
    ) -> io::Result<XdpIo> {
        let src_mac = l2tpx_dataplane::neigh::interface_mac(ifname)?;
        let mut filter = Filter::attach(ifname, plain_port)?;
        let umem = Umem::new(FRAMES, 0)?;
        let mut sock = XskSocket::bind(
            &umem,
            ifname,
            0,
            None,
            RingSizes::uniform(RING),
            BindMode::Auto,
        )?;
        let half = FRAMES / 2;
        let n = sock.fill.free(half);
        for i in 0..n {
            sock.fill.write(i, Umem::frame_addr(i));
        }
        sock.fill.submit(n);
        filter.set_xsk(0, &sock)?;
        Ok(XdpIo {
            sock,
            umem,
            _filter: filter,
            free: (half..FRAMES).map(Umem::frame_addr).collect(),
            refill: Vec::with_capacity(half as usize),
            cur: None,
            queued: 0,
            in_flight: 0,
            src_mac,
            dst_mac,
            flows,
            peer,
            ident: 0,
        })
    }

    /// Returns as many received frames to the fill ring as it has room
    /// for; the rest wait in `refill` for the next turn.
    fn refill_fill_ring(&mut self) {
        let room = self.sock.fill.free(self.refill.len() as u32);
        for (i, addr) in self.refill.drain(..room as usize).enumerate() {
            self.sock.fill.write(i as u32, addr);
        }
        self.sock.fill.submit(room);
    }

    fn reclaim(&mut self) {
        let c = self.sock.comp.available(RING);
        for i in 0..c {
            self.free.push(Umem::chunk_of(self.sock.comp.read(i)));
        }
        self.sock.comp.release(c);
        self.in_flight -= u64::from(c).min(self.in_flight);
    }
}

impl TestIo for XdpIo {
    fn slot(&mut self, _flow: usize) -> Option<&mut [u8]> {
        if self.cur.is_none() {
            if self.free.is_empty() {
                self.reclaim();
            }
            if self.sock.tx.free(self.queued + 1) <= self.queued {
                return None;
            }
            self.cur = Some(self.free.pop()?);
        }
        let addr = self.cur?;
        // SAFETY: the frame came off our free list: the kernel is done
        // with it and no other slice of it is live.
        let chunk = unsafe { self.umem.chunk_mut(addr) }?;
        Some(&mut chunk[HEADERS..])
    }

    fn commit(&mut self, flow: usize, len: usize, dst: Option<SocketAddrV4>) {
        let Some(addr) = self.cur.take() else {
            return;
        };
        let src = self.flows[flow];
        let dst = dst.unwrap_or(self.peer);
        self.ident = self.ident.wrapping_add(1);
        // SAFETY: as in slot(): ours until submitted below.
        let Some(chunk) = (unsafe { self.umem.chunk_mut(addr) }) else {
            return;
        };
        let n = write_eth_ipv4_udp(chunk, self.src_mac, self.dst_mac, src, dst, len, self.ident);
        self.sock.tx.write(
            self.queued,
            Desc {
                addr,
                len: n as u32,
                options: 0,
            },
        );
        self.queued += 1;
    }

    fn flush(&mut self) -> (u64, u64) {
        let n = self.queued;
        self.sock.tx.submit(n);
        self.queued = 0;
        self.in_flight += u64::from(n);
        if self.in_flight > 0 && self.sock.tx.needs_wakeup() {
            self.sock.kick_tx();
        }
        self.reclaim();
        (u64::from(n), 0)
    }

    fn recv(&mut self, f: &mut OnDatagram<'_>) -> usize {
        let mut total = 0;
        self.refill_fill_ring();
        loop {
            let n = self.sock.rx.available(RX_BATCH);
            if n == 0 {
                break;
            }
            let (t, tn) = (clock::now(), clock::nanos());
            for i in 0..n {
                let d = self.sock.rx.read(i);
                // SAFETY: the kernel handed us this frame on the RX ring
                // and writes it again only after the fill ring returns it.
                if let Some(frame) = unsafe { self.umem.bytes(d.addr, d.len as usize) } {
                    if let Some((port, payload)) = frame_udp(frame) {
                        f(port, payload, t, tn);
                    }
                }
            }
            for i in 0..n {
                self.refill.push(Umem::chunk_of(self.sock.rx.read(i).addr));
            }
            self.sock.rx.release(n);
            self.refill_fill_ring();
            total += n as usize;
            if n < RX_BATCH {
                break;
            }
        }
        if self.sock.fill.needs_wakeup() {
            self.sock.kick_rx();
        }
        total
    }

    fn unsent(&mut self) -> u64 {
        self.flush();
        self.in_flight
    }

    fn poll_mode(&self) -> bool {
        true
    }

    /// RX ring full, fill ring empty, other kernel drops.
    fn rx_drops(&self) -> u64 {
        self.sock.stats().map_or(0, |s| {
            s.rx_dropped + s.rx_ring_full + s.rx_fill_ring_empty_descs
        })
    }

    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::{AsFd, AsRawFd};
        Some(self.sock.as_fd().as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{
        read_payload, record_down, record_up, write_ipv4_udp, write_l2tp_ppp_header, write_payload,
        RxStats, DOWN_PORT, UP_PORT,
    };
    use l2tpx_wire::ethernet::{EtherType, Frame};
    use l2tpx_wire::{ipv4, udp};
    use std::net::Ipv4Addr;

    const LAC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const LNS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const SUB: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 1);
    const CORE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);

    /// Ethernet, IPv4 (checksum valid), UDP (checksum 0) of a frame:
    /// (source, destination, UDP payload).
    fn parse(frame: &[u8]) -> (SocketAddrV4, SocketAddrV4, Vec<u8>) {
        let eth = Frame::new_checked(frame).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Ipv4);
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()), frame.len() - 14);
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(u.checksum(), 0);
        assert!(u.verify_checksum(ip.src_addr(), ip.dst_addr()));
        (
            SocketAddrV4::new(ip.src_addr(), u.src_port()),
            SocketAddrV4::new(ip.dst_addr(), u.dst_port()),
            u.payload().to_vec(),
        )
    }

    #[test]
    fn downstream_frame_is_byte_exact() {
        // What run_core writes into a slot: 18 bytes of payload (64-byte frame).
        let mut b = [0xeeu8; 128];
        b[HEADERS..HEADERS + 18].fill(0);
        write_payload(&mut b[HEADERS..], 5, 6, 7);
        let src = SocketAddrV4::new(CORE, UP_PORT);
        let dst = SocketAddrV4::new(SUB, DOWN_PORT);
        let n = write_eth_ipv4_udp(&mut b, LNS_MAC, LAC_MAC, src, dst, 18, 1);
        assert_eq!(n, 60);
        #[rustfmt::skip]
        let want: [u8; 60] = [
            2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00,
            0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0xae, 0x95, 198, 19, 0, 2, 198, 18, 64, 1,
            0x23, 0x28, 0x23, 0x29, 0, 26, 0, 0,
            0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0,
        ];
        assert_eq!(b[..n], want);
        let (s, d, p) = parse(&b[..n]);
        assert_eq!((s, d), (src, dst));
        assert_eq!(read_payload(&p), Some((5, 6, 7)));
        // frame_udp and the shared receive path see the same datagram.
        let (port, payload) = frame_udp(&b[..n]).unwrap();
        assert_eq!((port, payload), (DOWN_PORT, &p[..]));
        let mut rx = RxStats::new(8);
        record_down(&mut rx, port, payload, clock::now(), 10);
        assert_eq!((rx.received, rx.bytes, rx.unknown), (1, 64, 0));
    }

    #[test]
    fn upstream_frame_parses_back() {
        // What Emulator::traffic writes: L2TP + PPP + inner IPv4/UDP.
        let ip_len = 46;
        let mut b = [0u8; 256];
        let m = &mut b[HEADERS..];
        let total = write_l2tp_ppp_header(m, 0x1234, 0x5678, ip_len);
        let inner_src = SocketAddrV4::new(SUB, UP_PORT);
        let inner_dst = SocketAddrV4::new(CORE, UP_PORT);
        write_ipv4_udp(&mut m[12..], inner_src, inner_dst, ip_len, 3, 9, 1000);
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 40000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 1701);
        let n = write_eth_ipv4_udp(&mut b, LAC_MAC, LNS_MAC, src, dst, total, 0xbeef);
        assert_eq!(n, HEADERS + 8 + 4 + ip_len);
        assert_eq!(&b[..12], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        let (s, d, msg) = parse(&b[..n]);
        assert_eq!((s, d), (src, dst));
        let h = l2tpx_wire::l2tp::DataHeader::parse(&msg).unwrap();
        assert_eq!((h.tunnel_id, h.session_id), (0x1234, 0x5678));
        assert_eq!(h.payload_end, msg.len());
        let ppp = &msg[h.payload_offset..h.payload_end];
        let (proto, off) = l2tpx_wire::ppp::protocol_and_offset(ppp).unwrap();
        assert_eq!(proto, 0x0021);
        let inner = ipv4::Packet::new_checked(&ppp[off..]).unwrap();
        assert!(inner.verify_checksum());
        assert_eq!((inner.src_addr(), inner.dst_addr()), (SUB, CORE));
        let u = udp::Packet::new_checked(inner.payload()).unwrap();
        assert_eq!((u.src_port(), u.dst_port()), (UP_PORT, UP_PORT));
        assert_eq!(read_payload(u.payload()), Some((3, 9, 1000)));
        // The bare forwarder hands the core host this frame as it is.
        let (port, payload) = frame_udp(&b[..n]).unwrap();
        assert_eq!(port, 1701);
        let mut rx = RxStats::new(8);
        record_up(&mut rx, port, payload, clock::now(), 2000);
        assert_eq!((rx.received, rx.bytes, rx.unknown), (1, 64, 0));
        assert_eq!(rx.latency_ns.max(), 1000);
    }

    #[test]
    fn frame_udp_takes_only_whole_unfragmented_ipv4_udp() {
        let mut b = [0u8; 128];
        let src = SocketAddrV4::new(CORE, UP_PORT);
        let dst = SocketAddrV4::new(SUB, DOWN_PORT);
        let n = write_eth_ipv4_udp(&mut b, LNS_MAC, LAC_MAC, src, dst, 18, 1);
        // Ethernet padding after the datagram is not payload.
        assert_eq!(frame_udp(&b[..n + 4]).unwrap().1.len(), 18);
        // Cut inside the datagram.
        assert_eq!(frame_udp(&b[..n - 1]), None);
        let bad = |f: &dyn Fn(&mut [u8])| {
            let mut c = b;
            f(&mut c);
            frame_udp(&c[..n]).map(|(p, d)| (p, d.len()))
        };
        assert_eq!(bad(&|c| c[12] = 0x86), None, "not IPv4");
        assert_eq!(bad(&|c| c[14 + 9] = 6), None, "TCP");
        assert_eq!(bad(&|c| c[14 + 6] = 0x20), None, "MF");
        assert_eq!(bad(&|c| c[14 + 7] = 1), None, "offset");
        assert_eq!(bad(&|c| c[14] = 0x44), None, "IHL 4");
        assert_eq!(bad(&|c| c[34 + 5] = 7), None, "UDP length < 8");
        assert_eq!(bad(&|c| c[34 + 5] = 27), None, "UDP length past IP");
        assert!(bad(&|_| ()).is_some());
    }
}
