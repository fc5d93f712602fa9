//! Shared by the privileged XDP tests: loading (or skipping when BPF is not
//! available), a minimal unbound AF_XDP socket for the XSKMAPs, frame
//! builders over the `l2tpx_wire` emitters, and the fixture-table runner.
#![allow(dead_code)]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use l2tpx_dataplane::ebpf::{Counter, Counters, Error, Side, Steering, XdpAction};
use l2tpx_wire::ethernet::{self, EtherType, EthernetAddress, VlanTag};
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::l2tp::{HeaderRepr, Sequence};
use l2tpx_wire::ppp::{FrameRepr, Protocol};
use l2tpx_wire::{arp, ipv6, udp};

pub const LAC_MAC: EthernetAddress = EthernetAddress([0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25]);
pub const LNS_MAC: EthernetAddress = EthernetAddress([0x12, 0x5f, 0x3b, 0x8b, 0x61, 0x5c]);
pub const LAC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const LNS_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const SUB_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

// ---------------------------------------------------------------------------
// Loading, or skipping.

/// Why BPF cannot be used here (not root, no BPF syscall), or None.
fn skip_reason(e: &Error) -> Option<String> {
    match e.os_error() {
        Some(libc::EPERM) => Some(format!(
            "EPERM: BPF needs root (CAP_BPF + CAP_NET_ADMIN): {e}"
        )),
        Some(libc::ENOSYS) => Some(format!("ENOSYS: no bpf() syscall in this kernel: {e}")),
        Some(524) => Some(format!(
            "ENOTSUPP: BPF_PROG_TEST_RUN unsupported for XDP here: {e}"
        )),
        _ => None,
    }
}

/// Loads the object, or prints why it cannot and returns None (the test
/// then returns early: a skip, not a failure). Any other error fails.
pub fn load_or_skip(test: &str) -> Option<Steering> {
    match Steering::load() {
        Ok(s) => {
            // One run proves BPF_PROG_TEST_RUN works before the tables rely on it.
            match s.test_run(Side::Access, &[0u8; 64]) {
                Ok(_) => Some(s),
                Err(e) => match skip_reason(&e) {
                    Some(why) => {
                        eprintln!("SKIP {test}: {why}");
                        None
                    }
                    None => panic!("BPF_PROG_TEST_RUN failed: {e}"),
                },
            }
        }
        Err(e) => match skip_reason(&e) {
            Some(why) => {
                eprintln!("SKIP {test}: {why}");
                None
            }
            None => panic!("loading the XDP object failed: {e}"),
        },
    }
}

// ---------------------------------------------------------------------------
// A minimal AF_XDP socket: UMEM and rings set up, not bound. Enough for the
// kernel to accept it into an XSKMAP, so that bpf_redirect_map finds an
// entry and the program returns XDP_REDIRECT under BPF_PROG_TEST_RUN
// (which runs the program only: nothing reaches the socket).

pub struct Xsk {
    fd: OwnedFd,
    umem: *mut libc::c_void,
    umem_len: usize,
}

impl AsFd for Xsk {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // SAFETY: umem/umem_len come from our own successful mmap.
        unsafe { libc::munmap(self.umem, self.umem_len) };
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub const XSK_FRAMES: usize = 16;
pub const XSK_FRAME_SIZE: usize = 4096;

impl Xsk {
    pub fn new() -> io::Result<Xsk> {
        // SAFETY: plain syscalls; results checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem_len = XSK_FRAMES * XSK_FRAME_SIZE;
        // SAFETY: anonymous private mapping, checked below.
        let umem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let xsk = Xsk { fd, umem, umem_len };
        let reg = libc::xdp_umem_reg_v1 {
            addr: umem as u64,
            len: umem_len as u64,
            chunk_size: XSK_FRAME_SIZE as u32,
            headroom: 0,
        };
        let raw = xsk.fd.as_raw_fd();
        setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        let n = XSK_FRAMES as u32;
        setsockopt(raw, libc::XDP_UMEM_FILL_RING, &n)?;
        setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &n)?;
        setsockopt(raw, libc::XDP_RX_RING, &n)?;
        Ok(xsk)
    }
}

// ---------------------------------------------------------------------------
// Frame builders.

fn ethernet(vlan: Option<u16>, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let repr = ethernet::Repr {
        src_addr: LAC_MAC,
        dst_addr: LNS_MAC,
        vlan: vlan.map(|vid| VlanTag {
            pcp: 0,
            dei: false,
            vid,
        }),
        ethertype,
    };
    let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
    repr.emit(&mut ethernet::Frame::new_unchecked(&mut buf[..]));
    buf[repr.buffer_len()..].copy_from_slice(payload);
    buf
}

pub struct Ipv4Spec<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub options: &'a [u8],
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
}

impl Default for Ipv4Spec<'_> {
    fn default() -> Self {
        Ipv4Spec {
            src: LAC_IP,
            dst: LNS_IP,
            protocol: IpProtocol::Udp,
            options: &[],
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }
}

pub fn ipv4_packet(spec: &Ipv4Spec<'_>, payload: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: spec.src,
        dst_addr: spec.dst,
        protocol: spec.protocol,
        payload_len: payload.len(),
        hop_limit: 64,
        dscp_ecn: 0,
        ident: 0x1234,
        dont_frag: spec.dont_frag,
        more_frags: spec.more_frags,
        frag_offset: spec.frag_offset,
        options: spec.options,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf[repr.header_len()..].copy_from_slice(payload);
    buf
}

pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut buf = vec![0u8; ipv6::HEADER_LEN + payload.len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
    buf[ipv6::HEADER_LEN..].copy_from_slice(payload);
    buf
}

fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let repr = udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
        checksum: udp::Checksum::None,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut udp::Packet::new_unchecked(&mut buf[..]),
        LAC_IP,
        LNS_IP,
        |p| p.copy_from_slice(payload),
    );
    buf
}

/// A small inner IPv4 datagram (UDP, subscriber to a server).
pub fn inner_ipv4() -> Vec<u8> {
    let spec = Ipv4Spec {
        src: SUB_IP,
        dst: SERVER_IP,
        ..Ipv4Spec::default()
    };
    ipv4_packet(&spec, &udp_datagram(40000, 53, b"inner-payload"))
}

/// A small inner IPv6 datagram.
pub fn inner_ipv6() -> Vec<u8> {
    ipv6_packet(
        "2001:db8:100:1::1".parse().unwrap(),
        "2001:db8::53".parse().unwrap(),
        &udp_datagram(40000, 53, b"inner-payload"),
    )
}

/// Everything variable in an access-side frame. `Default` is a plain data
/// message (no Length, Ns/Nr or offset) carrying FF 03 00 21 + IPv4.
#[derive(Clone)]
pub struct Access {
    pub vlan: Option<u16>,
    pub ip_options: Vec<u8>,
    pub ip_protocol: IpProtocol,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub src_port: u16,
    pub dst_port: u16,
    pub control: bool,
    pub length: bool,
    pub sequence: bool,
    pub offset_pad: Option<usize>,
    pub priority: bool,
    pub reserved_flags: u16,
    /// Patched into the Ver field after emitting, when not 2.
    pub version: u8,
    /// PPP header: (Address/Control present, Protocol compressed, protocol).
    /// None: the L2TP payload is `payload` alone.
    pub ppp: Option<(bool, bool, u16)>,
    pub payload: Vec<u8>,
    /// Ethernet padding: the frame is zero-filled up to this length.
    pub min_len: usize,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            vlan: None,
            ip_options: Vec::new(),
            ip_protocol: IpProtocol::Udp,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            src_port: 1701,
            dst_port: 1701,
            control: false,
            length: false,
            sequence: false,
            offset_pad: None,
            priority: false,
            reserved_flags: 0,
            version: 2,
            ppp: Some((true, false, 0x0021)),
            payload: inner_ipv4(),
            min_len: 0,
        }
    }
}

/// A built access frame and where its layers start.
pub struct Built {
    pub frame: Vec<u8>,
    pub l3: usize,
    pub l4: usize,
    pub l2tp: usize,
}

impl Access {
    /// A PPP data message with this protocol (ACF present, uncompressed).
    pub fn ppp(proto: u16, payload: Vec<u8>) -> Access {
        Access {
            ppp: Some((true, false, proto)),
            payload,
            ..Access::default()
        }
    }

    /// A control message (SCCRQ's Message Type AVP, or a ZLB if `zlb`).
    pub fn control(zlb: bool) -> Access {
        Access {
            control: true,
            length: true,
            sequence: true,
            ppp: None,
            // M bit, Length 8, Vendor 0, Type 0 (Message Type), SCCRQ (1).
            payload: if zlb {
                Vec::new()
            } else {
                vec![0x80, 0x08, 0, 0, 0, 0, 0, 1]
            },
            ..Access::default()
        }
    }

    pub fn build(&self) -> Built {
        let mut l2tp_payload = Vec::new();
        if let Some((acf, pfc, proto)) = self.ppp {
            let repr = FrameRepr {
                address_control: acf,
                protocol: Protocol::from(proto),
                protocol_compressed: pfc,
            };
            let mut h = vec![0u8; repr.buffer_len()];
            repr.emit(&mut h);
            l2tp_payload.extend_from_slice(&h);
        }
        l2tp_payload.extend_from_slice(&self.payload);

        let pad: Vec<u8> = self
            .offset_pad
            .map(|n| (0..n).map(|i| 0xa0 ^ i as u8).collect())
            .unwrap_or_default();
        let header = HeaderRepr {
            control: self.control,
            length_present: self.length,
            priority: self.priority,
            reserved_flags: self.reserved_flags,
            tunnel_id: 0x0105,
            session_id: 0x0203,
            sequence: self.sequence.then_some(Sequence { ns: 7, nr: 9 }),
            offset_pad: self.offset_pad.map(|_| &pad[..]),
            payload_len: l2tp_payload.len(),
        };
        let mut msg = vec![0u8; header.buffer_len()];
        header.emit(&mut msg);
        msg.extend_from_slice(&l2tp_payload);
        if self.version != 2 {
            msg[1] = (msg[1] & 0xf0) | (self.version & 0x0f);
        }

        // With another ip_protocol the same bytes ride as that protocol.
        let l4_bytes = udp_datagram(self.src_port, self.dst_port, &msg);
        let spec = Ipv4Spec {
            protocol: self.ip_protocol,
            options: &self.ip_options,
            dont_frag: self.dont_frag,
            more_frags: self.more_frags,
            frag_offset: self.frag_offset,
            ..Ipv4Spec::default()
        };
        let ip = ipv4_packet(&spec, &l4_bytes);
        let mut frame = ethernet(self.vlan, EtherType::Ipv4, &ip);
        let l3 = if self.vlan.is_some() { 18 } else { 14 };
        let l4 = l3 + 20 + self.ip_options.len();
        if frame.len() < self.min_len {
            frame.resize(self.min_len, 0);
        }
        Built {
            frame,
            l3,
            l4,
            l2tp: l4 + 8,
        }
    }

    pub fn frame(&self) -> Vec<u8> {
        self.build().frame
    }
}

/// Who-has, from the LAC.
pub fn arp_frame(vlan: Option<u16>) -> Vec<u8> {
    let repr = arp::Repr {
        operation: arp::Operation::Request,
        source_hardware_addr: LAC_MAC,
        source_protocol_addr: LAC_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: LNS_IP,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    repr.emit(&mut arp::Packet::new_unchecked(&mut p[..]));
    let mut f = ethernet(vlan, EtherType::Arp, &p);
    f.resize(60, 0);
    f
}

/// L2TP over IPv6 (UDP 1701): not served by l2tp_steer.
pub fn ipv6_outer_l2tp() -> Vec<u8> {
    let msg = Access::default().build();
    let l2tp = &msg.frame[msg.l2tp..];
    let ip = ipv6_packet(
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        &udp_datagram(1701, 1701, l2tp),
    );
    ethernet(None, EtherType::Ipv6, &ip)
}

/// A core-side IPv4 frame to `dst`.
pub fn core_v4(vlan: Option<u16>, spec: &Ipv4Spec<'_>) -> Vec<u8> {
    let ip = ipv4_packet(spec, &udp_datagram(53, 40000, b"downstream"));
    let mut f = ethernet(vlan, EtherType::Ipv4, &ip);
    f.resize(f.len().max(60), 0);
    f
}

/// A core-side IPv6 frame to `dst`.
pub fn core_v6(vlan: Option<u16>, dst: Ipv6Addr) -> Vec<u8> {
    let ip = ipv6_packet(
        "2001:db8::53".parse().unwrap(),
        dst,
        &udp_datagram(53, 40000, b"downstream"),
    );
    ethernet(vlan, EtherType::Ipv6, &ip)
}

// ---------------------------------------------------------------------------
// The fixture runner.

pub struct Case {
    pub name: String,
    pub frame: Vec<u8>,
    pub action: XdpAction,
    pub counter: Counter,
}

pub fn case(name: &str, frame: Vec<u8>, action: XdpAction, counter: Counter) -> Case {
    Case {
        name: name.to_string(),
        frame,
        action,
        counter,
    }
}

/// Runs one frame and returns (action, the one counter that moved).
pub fn run_one(
    s: &Steering,
    side: Side,
    frame: &[u8],
) -> Result<(XdpAction, Vec<(Counter, u64)>), Error> {
    let before: Counters = s.counters()?;
    let action = s.test_run(side, frame)?;
    let after = s.counters()?;
    Ok((action, after.delta(&before)))
}

/// Checks one case; Err(description) on a mismatch.
pub fn check(s: &Steering, side: Side, c: &Case) -> Result<(), String> {
    let (action, delta) =
        run_one(s, side, &c.frame).map_err(|e| format!("{}: test run failed: {e}", c.name))?;
    if action != c.action || delta != vec![(c.counter, 1)] {
        return Err(format!(
            "{}: got {action:?} {delta:?}, want {:?} [({:?}, 1)]\n  frame {}",
            c.name,
            c.action,
            c.counter,
            hex(&c.frame)
        ));
    }
    Ok(())
}

/// Runs a table; panics listing every failing row.
pub fn run_table(s: &Steering, side: Side, cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(s, side, c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{side:?}: {} fixture cases passed", cases.len());
}

fn be16(f: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([f[at], f[at + 1]]))
}

/// The documented verdict for `full` cut to `cut` bytes: a cut inside the
/// Ethernet header or inside the IP datagram (as its length fields say)
/// is TRUNCATED; a cut in Ethernet padding, or of a frame that is not IP
/// (or whose IP header is malformed), changes nothing. None: under 14
/// bytes, which BPF_PROG_TEST_RUN itself refuses.
pub fn expected_for_cut(side: Side, full: &Case, cut: usize) -> Option<(XdpAction, Counter)> {
    if cut < 14 {
        return None;
    }
    let trunc = match side {
        Side::Access => Counter::L2tpPassTruncated,
        Side::Core => Counter::CorePassTruncated,
    };
    let t = Some((XdpAction::Pass, trunc));
    let same = Some((full.action, full.counter));
    let f = &full.frame;
    let (l3, ethertype) = if be16(f, 12) == 0x8100 {
        if cut < 18 {
            return t;
        }
        (18, be16(f, 16))
    } else {
        (14, be16(f, 12))
    };
    match ethertype {
        0x0800 => {
            if cut < l3 + 20 {
                return t;
            }
            let (ver, ihl) = (f[l3] >> 4, usize::from(f[l3] & 15));
            let tot = be16(f, l3 + 2);
            if ver != 4 || ihl < 5 || tot < ihl * 4 {
                return same;
            }
            if cut < l3 + tot {
                return t;
            }
            same
        }
        0x86dd if side == Side::Core => {
            if cut < l3 + 40 {
                return t;
            }
            if f[l3] >> 4 != 6 {
                return same;
            }
            if cut < l3 + 40 + be16(f, l3 + 4) {
                return t;
            }
            same
        }
        _ => same,
    }
}

/// Cuts every frame of the table at every length from 0 to its full length
/// and checks the documented verdict; returns the number of runs.
pub fn run_cuts(s: &Steering, side: Side, cases: &[Case]) -> usize {
    let mut runs = 0;
    let mut failures = Vec::new();
    for c in cases {
        for cut in 0..=c.frame.len() {
            runs += 1;
            let got = run_one(s, side, &c.frame[..cut]);
            match (expected_for_cut(side, c, cut), got) {
                (None, Err(e)) if e.os_error() == Some(libc::EINVAL) => {}
                (None, Ok((XdpAction::Pass, d)))
                    if d == vec![(
                        match side {
                            Side::Access => Counter::L2tpPassTruncated,
                            Side::Core => Counter::CorePassTruncated,
                        },
                        1,
                    )] => {}
                (Some((a, k)), Ok((ga, gd))) if ga == a && gd == vec![(k, 1)] => {}
                (want, got) => failures.push(format!(
                    "{} cut to {cut}/{}: want {want:?}, got {:?}",
                    c.name,
                    c.frame.len(),
                    got.map_err(|e| e.to_string())
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cut runs failed:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    eprintln!("{side:?}: {runs} truncated runs passed");
    runs
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------
// A bound AF_XDP socket (copy mode) with mapped fill and RX rings: enough to
// see what XDP redirected to it on a live interface.

struct Ring {
    base: *mut u8,
    len: usize,
    producer: *const std::sync::atomic::AtomicU32,
    consumer: *const std::sync::atomic::AtomicU32,
    desc: *mut u8,
}

impl Ring {
    fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        entries: usize,
        entry_size: usize,
        pgoff: i64,
    ) -> io::Result<Ring> {
        let len = off.desc as usize + entries * entry_size;
        // SAFETY: maps the kernel's ring for this socket; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = base.cast::<u8>();
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS, inside the mapping.
        unsafe {
            Ok(Ring {
                base,
                len,
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                desc: base.add(off.desc as usize),
            })
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// An AF_XDP socket bound to one queue of one interface (copy mode).
pub struct BoundXsk {
    rx: Ring,
    _fill: Ring,
    // Dropped last: the rings map the socket.
    xsk: Xsk,
}

impl AsFd for BoundXsk {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.xsk.as_fd()
    }
}

impl BoundXsk {
    pub fn bind(ifindex: u32, queue: u32) -> io::Result<BoundXsk> {
        use std::sync::atomic::Ordering;
        let xsk = Xsk::new()?;
        let fd = xsk.as_fd().as_raw_fd();
        // SAFETY: zeroed plain-data struct, filled by the kernel.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut optlen = std::mem::size_of_val(&off) as libc::socklen_t;
        // SAFETY: off is writable for optlen bytes.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                &mut optlen,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let fill = Ring::map(
            fd,
            &off.fr,
            XSK_FRAMES,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING as i64,
        )?;
        let rx = Ring::map(fd, &off.rx, XSK_FRAMES, 16, libc::XDP_PGOFF_RX_RING)?;
        // Give the kernel every frame to receive into.
        for i in 0..XSK_FRAMES {
            // SAFETY: slot i of the fill ring's descriptor array.
            unsafe {
                fill.desc
                    .cast::<u64>()
                    .add(i)
                    .write((i * XSK_FRAME_SIZE) as u64)
            };
        }
        // SAFETY: producer points into the mapped ring.
        unsafe { &*fill.producer }.store(XSK_FRAMES as u32, Ordering::Release);

        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: sa is a valid sockaddr_xdp of the size passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of_val(&sa) as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(BoundXsk {
            rx,
            _fill: fill,
            xsk,
        })
    }

    /// Waits up to `timeout` for one received frame and returns its bytes.
    pub fn recv(&self, timeout: std::time::Duration) -> Option<Vec<u8>> {
        self.recv_with_headroom(timeout, 0).map(|(_, data)| data)
    }

    /// [`BoundXsk::recv`], plus the `before` bytes of the UMEM chunk in
    /// front of the data (where XDP metadata lands).
    pub fn recv_with_headroom(
        &self,
        timeout: std::time::Duration,
        before: usize,
    ) -> Option<(Vec<u8>, Vec<u8>)> {
        use std::sync::atomic::Ordering;
        let mut pfd = libc::pollfd {
            fd: self.xsk.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        // SAFETY: the ring's indices and descriptors lie in our mapping.
        unsafe {
            let prod = (*self.rx.producer).load(Ordering::Acquire);
            let cons = (*self.rx.consumer).load(Ordering::Relaxed);
            if prod == cons {
                return None;
            }
            let slot = cons as usize % XSK_FRAMES;
            let desc = self.rx.desc.add(slot * 16).cast::<libc::xdp_desc>().read();
            let data = std::slice::from_raw_parts(
                self.xsk.umem.cast::<u8>().add(desc.addr as usize),
                desc.len as usize,
            )
            .to_vec();
            // Copy mode puts data at chunk + 256 (XDP_PACKET_HEADROOM) at least.
            let before = before.min(desc.addr as usize % XSK_FRAME_SIZE);
            let head = std::slice::from_raw_parts(
                self.xsk.umem.cast::<u8>().add(desc.addr as usize - before),
                before,
            )
            .to_vec();
            (*self.rx.consumer).store(cons + 1, Ordering::Release);
            Some((head, data))
        }
    }
}
