//! The full system end to end: the `controlplane` and `dataplane` binaries
//! run in the LNS namespace of a LAC ↔ LNS ↔ CORE topology
//! (`l2tpx_tests::system`), over one session table, with generated
//! configurations (local AAA, one CHAP user, a pool, the table in a
//! temporary file in /dev/shm). The LAC is the sans-IO [`LacPeer`] (a LAC
//! engine and a PPP client per call) driven here over a real UDP socket in
//! the LAC namespace.
//!
//! It proves that what the control plane negotiates is what the data plane
//! forwards: one tunnel and ten calls come up with pool addresses; every
//! session is in the table with the IDs the LAC saw on the wire; subscriber
//! traffic crosses the LNS (which does not forward in the kernel) in both
//! directions, every packet exactly once and byte for byte; the table's
//! per-session counters match exactly; hanging up withdraws the sessions
//! and their traffic stops; SIGTERM stops both daemons with exit status 0.
//!
//! Binaries: `controlplane` is this package's (`CARGO_BIN_EXE_controlplane`);
//! `dataplane` is its sibling in `target/<profile>/` (another package's
//! binary, which `cargo test --workspace` and `scripts/test.sh` build; or
//! set `L2TPX_DATAPLANE_BIN`). Without root or network namespaces, or
//! where the kernel refuses BPF, it prints `SKIP: reason` and returns.

// A driver reads the clock; the engines it drives do not.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use l2tpx_controlplane::l2tp::{CallParams, LacConfig, SessionKey, SplitMix64};
use l2tpx_controlplane::ppp::client::ClientConfig;
use l2tpx_controlplane::session::testing::{LacPeer, PeerEvent};
use l2tpx_table::{slot_index, SessionCounters, SessionLookup, TableReader};
use l2tpx_tests::netns::{self, in_ns};
use l2tpx_tests::system::{
    self, interface_mac, sibling_binary, Binaries, Lns, LnsSpec, StartError, Topology, CORE_IP,
    LAC_IP, LNS_ACCESS_IP, POOL_FIRST, POOL_LAST,
};
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::l2tp::{AvpValue, ControlMessageRepr, DataHeader, MessageType};
use l2tpx_wire::udp;

/// Calls placed in the one tunnel.
const CALLS: usize = 10;
/// Packets per session and direction.
const PACKETS: u32 = 100;
/// CORE's UDP port (upstream destination, downstream source).
const CORE_PORT: u16 = 9000;
/// Subscriber `i`'s UDP port is this plus `i`.
const SUB_PORT: u16 = 4000;
/// PPP in HDLC-like framing carrying IPv4 (RFC 1661, 1332).
const PPP_IPV4: [u8; 4] = [0xff, 0x03, 0x00, 0x21];
const L2TP_PORT: u16 = 1701;

/// One call as the test knows it.
#[derive(Debug, Clone, Copy)]
struct Call {
    /// The LAC's IDs.
    key: SessionKey,
    /// The LNS's tunnel and session IDs, learnt from its SCCRP and ICRP.
    lns_tunnel: u16,
    lns_session: u16,
    /// The subscriber's address (IPCP).
    address: Ipv4Addr,
}

/// A datagram and where it goes.
type Datagram = (SocketAddr, Vec<u8>);

/// The LAC side: a [`LacPeer`] over a UDP socket bound to 198.18.0.2:1701.
/// Data messages carrying PPP IPv4 are subscriber traffic, kept aside for
/// the test; everything else goes to the peer.
struct Lac {
    sock: UdpSocket,
    peer: LacPeer,
    events: Vec<PeerEvent>,
    /// Our tunnel ID → the LNS's (SCCRP Assigned Tunnel ID).
    lns_tunnels: HashMap<u16, u16>,
    /// Our session → the LNS's session ID (ICRP Assigned Session ID).
    lns_sessions: HashMap<SessionKey, u16>,
    /// Downstream traffic: (our IDs from the header, source, PPP payload).
    traffic: Vec<(SessionKey, SocketAddr, Vec<u8>)>,
    /// The LNS's (tunnel, session) IDs of the calls whose ICCN was sent.
    connected: HashSet<(u16, u16)>,
    /// PPP frames of calls whose ICCN is still queued.
    held: HashMap<(u16, u16), Vec<Datagram>>,
    /// LCP Echo-Replies from the LNS: (our IDs, the LCP packet).
    echo_replies: Vec<(SessionKey, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Lac {
    /// Over `sock`, bound to 198.18.0.2:1701 in the LAC namespace.
    fn new(sock: UdpSocket, config: LacConfig) -> Lac {
        sock.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(4 << 20);
        Lac {
            sock,
            peer: LacPeer::new(
                config,
                ClientConfig::default(),
                Box::new(SplitMix64(u64::from(std::process::id()) << 16)),
            ),
            events: Vec::new(),
            lns_tunnels: HashMap::new(),
            lns_sessions: HashMap::new(),
            traffic: Vec::new(),
            connected: HashSet::new(),
            held: HashMap::new(),
            echo_replies: Vec::new(),
            buf: vec![0; 65_536],
        }
    }

    /// Notes the LNS's IDs from its SCCRP and ICRPs (unhidden: no secret).
    fn learn(&mut self, bytes: &[u8]) {
        let Ok(m) = ControlMessageRepr::parse_bytes(bytes) else {
            return;
        };
        let into_session = match m.message_type() {
            Some(MessageType::Sccrp) => false,
            Some(MessageType::Icrp) => true,
            _ => return,
        };
        for avp in m.avp_iter().flatten() {
            match (avp.typed(), into_session) {
                (Ok(AvpValue::AssignedTunnelId(id)), false) => {
                    self.lns_tunnels.insert(m.tunnel_id, id);
                }
                (Ok(AvpValue::AssignedSessionId(id)), true) => {
                    let key = SessionKey {
                        tunnel_id: m.tunnel_id,
                        session_id: m.session_id,
                    };
                    self.lns_sessions.insert(key, id);
                }
                _ => {}
            }
        }
    }

    fn handle(&mut self, from: SocketAddr, bytes: &[u8]) {
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            self.learn(bytes);
        } else if let Ok(h) = DataHeader::parse(bytes) {
            let payload = h.payload(bytes);
            if payload.starts_with(&PPP_IPV4) {
                let key = SessionKey {
                    tunnel_id: h.tunnel_id,
                    session_id: h.session_id,
                };
                self.traffic.push((key, from, payload[4..].to_vec()));
                return;
            }
            if payload.starts_with(&[0xff, 0x03, 0xc0, 0x21, 10]) {
                let key = SessionKey {
                    tunnel_id: h.tunnel_id,
                    session_id: h.session_id,
                };
                self.echo_replies.push((key, payload[4..].to_vec()));
            }
        }
        self.peer.handle(Instant::now(), from, bytes);
    }

    /// Sends a datagram of the peer's, holding a call's PPP frames until its
    /// ICCN is on the wire. (`Lac` now reports SessionUp only once the ICCN
    /// has left its reliable layer, so nothing should be held; this keeps
    /// the test independent of that ordering: an LCP Configure-Request
    /// ahead of the ICCN would be dropped and cost a 3 s PPP restart.)
    fn transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if let Ok(m) = ControlMessageRepr::parse_bytes(&bytes) {
            if m.message_type() == Some(MessageType::Iccn) {
                let ids = (m.tunnel_id, m.session_id);
                self.sock.send_to(&bytes, to).expect("LAC send");
                self.connected.insert(ids);
                for (to, b) in self.held.remove(&ids).unwrap_or_default() {
                    self.sock.send_to(&b, to).expect("LAC send");
                }
                return;
            }
        } else if let Ok(h) = DataHeader::parse(&bytes) {
            let ids = (h.tunnel_id, h.session_id);
            if !self.connected.contains(&ids) {
                self.held.entry(ids).or_default().push((to, bytes));
                return;
            }
        }
        self.sock.send_to(&bytes, to).expect("LAC send");
    }

    /// Receives at most one datagram (waiting up to 2 ms), runs the timers,
    /// sends what the peer queued; whether a datagram came.
    fn step(&mut self) -> bool {
        let got = match self.sock.recv_from(&mut self.buf) {
            Ok((n, from)) => {
                let b = self.buf[..n].to_vec();
                self.handle(from, &b);
                true
            }
            Err(_) => false,
        };
        let now = Instant::now();
        if self.peer.poll_timeout().is_some_and(|t| t <= now) {
            self.peer.handle_timeout(now);
        }
        while let Some((to, bytes)) = self.peer.poll_transmit(now) {
            self.transmit(to, bytes);
        }
        while let Some(e) = self.peer.poll_event() {
            self.events.push(e);
        }
        got
    }

    /// Steps until the socket is quiet.
    fn drain(&mut self) {
        while self.step() {}
    }

    /// Steps until `pred` holds (true) or `timeout` passes (false).
    fn until(&mut self, timeout: Duration, mut pred: impl FnMut(&Lac) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            self.step();
        }
    }

    /// Steps for `d`.
    fn run_for(&mut self, d: Duration) {
        self.until(d, |_| false);
    }
}

/// The test payload: tag, direction, call, sequence, then pattern bytes
/// (0 to 199 of them, so sizes vary).
fn payload(dir: u8, call: usize, seq: u32) -> Vec<u8> {
    let mut p = vec![b'L', b'2', dir, call as u8];
    p.extend_from_slice(&seq.to_be_bytes());
    let extra = (seq as usize * 7 + call * 13) % 200;
    p.extend((0..extra).map(|i| (i as u8).wrapping_mul(31) ^ seq as u8 ^ call as u8));
    p
}

/// An IPv4/UDP packet (TTL 64, checksums computed).
fn ipv4_udp(src: SocketAddrV4, dst: SocketAddrV4, ident: u16, data: &[u8]) -> Vec<u8> {
    let u = udp::Repr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload_len: data.len(),
        checksum: udp::Checksum::Compute,
    };
    let ip = ipv4::Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        protocol: IpProtocol::Udp,
        payload_len: u.buffer_len(),
        hop_limit: 64,
        dscp_ecn: 0,
        ident,
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
        *src.ip(),
        *dst.ip(),
        |d| d.copy_from_slice(data),
    );
    b
}

/// An L2TP data message (no Length, no sequence) with PPP FF03 0021.
fn l2tp_data(tunnel: u16, session: u16, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![0x00, 0x02];
    m.extend_from_slice(&tunnel.to_be_bytes());
    m.extend_from_slice(&session.to_be_bytes());
    m.extend_from_slice(&PPP_IPV4);
    m.extend_from_slice(inner);
    m
}

/// Receives on `sock` (100 ms read timeout) until `want` datagrams came
/// (then 100 ms more, to catch extras) or nothing came for `quiet`.
fn collect(sock: &UdpSocket, want: usize, quiet: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut last = Instant::now();
    let mut full_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if full_at.is_some_and(|t| now - t >= Duration::from_millis(100))
            || (full_at.is_none() && now - last >= quiet)
        {
            return got;
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            got.push((from, buf[..n].to_vec()));
            last = Instant::now();
            if got.len() >= want && full_at.is_none() {
                full_at = Some(last);
            }
        }
    }
}

/// Checks what CORE received: every datagram one of ours for a call of
/// `calls` and a sequence number below `packets`, from the subscriber's
/// address and port, byte for byte, none twice.
fn check_upstream(got: &[(SocketAddr, Vec<u8>)], calls: &[Call], packets: u32) {
    let sub_ep = |i: usize| SocketAddrV4::new(calls[i].address, SUB_PORT + i as u16);
    let mut seen = HashSet::new();
    for (from, data) in got {
        assert!(
            data.len() >= 8 && &data[..3] == b"L2U",
            "stray at CORE: {data:02x?}"
        );
        let i = data[3] as usize;
        let seq = u32::from_be_bytes(data[4..8].try_into().unwrap());
        assert!(i < calls.len() && seq < packets, "bad tag {i}/{seq}");
        assert_eq!(*from, SocketAddr::from(sub_ep(i)), "source of {i}/{seq}");
        assert_eq!(*data, payload(b'U', i, seq), "payload of {i}/{seq}");
        assert!(seen.insert((i, seq)), "upstream {i}/{seq} twice");
    }
}

/// Checks what the LAC received downstream: every message from the LNS's
/// port 1701 for one of `calls`, carrying a correct inner IPv4/UDP packet
/// from CORE (TTL decremented once, checksums valid) with that call's
/// payload byte for byte, none twice; adds each to `want`'s down counters.
fn check_downstream(
    traffic: &[(SessionKey, SocketAddr, Vec<u8>)],
    calls: &[Call],
    packets: u32,
    want: &mut [SessionCounters],
) {
    let lns_addr = SocketAddr::from(SocketAddrV4::new(LNS_ACCESS_IP, L2TP_PORT));
    let by_key: HashMap<SessionKey, usize> =
        calls.iter().enumerate().map(|(i, c)| (c.key, i)).collect();
    let mut seen = HashSet::new();
    for (key, from, inner) in traffic {
        assert_eq!(*from, lns_addr, "downstream from the LNS's port 1701");
        let i = *by_key
            .get(key)
            .unwrap_or_else(|| panic!("downstream for unknown {key:?}"));
        let ip = ipv4::Packet::new_checked(&inner[..]).expect("inner IPv4");
        assert!(ip.verify_checksum(), "inner IPv4 checksum");
        assert_eq!(ip.protocol(), IpProtocol::Udp);
        assert_eq!((ip.src_addr(), ip.dst_addr()), (CORE_IP, calls[i].address));
        assert_eq!(ip.ttl(), 63, "one router hop: the LNS");
        let u = udp::Packet::new_checked(ip.payload()).expect("inner UDP");
        assert!(
            u.verify_checksum(ip.src_addr(), ip.dst_addr()),
            "UDP checksum"
        );
        assert_eq!(
            (u.src_port(), u.dst_port()),
            (CORE_PORT, SUB_PORT + i as u16)
        );
        let data = u.payload();
        assert!(data.len() >= 8 && &data[..3] == b"L2D", "stray downstream");
        let seq = u32::from_be_bytes(data[4..8].try_into().unwrap());
        assert!(seq < packets, "bad sequence {seq}");
        assert_eq!(data[3] as usize, i, "{key:?} carries another call's packet");
        assert_eq!(data, &payload(b'D', i, seq)[..], "payload of {i}/{seq}");
        assert!(seen.insert((i, seq)), "downstream {i}/{seq} twice");
        want[i].down_packets += 1;
        want[i].down_bytes += inner.len() as u64;
    }
}

/// The session's counters summed over the table's workers (a fresh table:
/// every slot's baseline is zero).
fn counters(reader: &TableReader, slot: u32) -> SessionCounters {
    let mut sum = SessionCounters::default();
    for w in 0..reader.workers() {
        let c = reader.counters(w).expect("worker counters").get(slot);
        sum.up_packets += c.up_packets;
        sum.up_bytes += c.up_bytes;
        sum.down_packets += c.down_packets;
        sum.down_bytes += c.down_bytes;
    }
    sum
}

/// Both daemons in a fresh topology, or `None` (SKIP printed) where the
/// host cannot run them; whether the data plane uses AF_XDP.
fn start(spec: &LnsSpec) -> Option<(Topology, Lns, bool)> {
    if let Some(why) = netns::unavailable() {
        eprintln!("SKIP: {why}");
        return None;
    }
    let controlplane = PathBuf::from(env!("CARGO_BIN_EXE_controlplane"));
    let dataplane = sibling_binary(&controlplane, "dataplane", "L2TPX_DATAPLANE_BIN")
        .unwrap_or_else(|e| panic!("{e}"));
    let bins = Binaries {
        controlplane,
        dataplane,
    };
    let topo = Topology::new().expect("topology");
    let lns = match Lns::start(&topo, &bins, spec) {
        Ok(l) => l,
        Err(StartError::BpfUnavailable(log)) => {
            eprintln!("SKIP: BPF unavailable: {log}");
            return None;
        }
        Err(StartError::Failed(e)) => panic!("{e}"),
    };
    let afxdp = lns.dataplane_log().contains("data-plane backend: AF_XDP");
    Some((topo, lns, afxdp))
}

/// The LAC in `topo`'s LAC namespace opens one tunnel to the LNS and places
/// [`CALLS`] calls, all of which reach IP up with distinct pool addresses;
/// the LAC's tunnel ID and the calls.
fn establish(
    topo: &Topology,
    lns: &Lns,
    spec: &LnsSpec,
    lac_config: LacConfig,
) -> (Lac, u16, Vec<Call>) {
    let lns_addr = SocketAddr::from(SocketAddrV4::new(LNS_ACCESS_IP, L2TP_PORT));
    // The engines are not `Send`: only the socket is made in the namespace.
    let mut lac = Lac::new(
        in_ns(&topo.lac, || {
            UdpSocket::bind(SocketAddrV4::new(LAC_IP, L2TP_PORT)).expect("LAC socket")
        }),
        lac_config,
    );
    let tid = lac
        .peer
        .open_tunnel(Instant::now(), lns_addr)
        .expect("tunnel ID");
    assert!(
        lac.until(Duration::from_secs(5), |l| l
            .events
            .contains(&PeerEvent::TunnelUp(tid))),
        "tunnel up: {:?}\n{}",
        lac.events,
        lns.logs()
    );
    let (user, password) = spec.users[0].clone();
    let client = ClientConfig {
        username: user.into_bytes(),
        password: password.into_bytes(),
        ..ClientConfig::default()
    };
    let keys: Vec<SessionKey> = (0..CALLS)
        .map(|_| {
            lac.peer
                .place_call(
                    Instant::now(),
                    tid,
                    CallParams::default(),
                    Some(client.clone()),
                )
                .expect("placing a call")
        })
        .collect();
    let ip_ups = |l: &Lac| {
        l.events
            .iter()
            .filter(|e| matches!(e, PeerEvent::IpUp { .. }))
            .count()
    };
    assert!(
        lac.until(Duration::from_secs(10), |l| ip_ups(l) == CALLS || failed(l)) && !failed(&lac),
        "{CALLS} IP-up events: {:?}\n{}",
        lac.events,
        lns.logs()
    );
    let lns_tunnel = lac.lns_tunnels[&tid];
    let calls: Vec<Call> = keys
        .iter()
        .map(|&key| {
            let address = lac
                .events
                .iter()
                .find_map(|e| match e {
                    PeerEvent::IpUp { key: k, address } if *k == key => Some(*address),
                    _ => None,
                })
                .expect("IP up");
            Call {
                key,
                lns_tunnel,
                lns_session: lac.lns_sessions[&key],
                address,
            }
        })
        .collect();
    let addresses: HashSet<Ipv4Addr> = calls.iter().map(|c| c.address).collect();
    assert_eq!(addresses.len(), CALLS, "distinct addresses: {calls:?}");
    assert!(
        addresses
            .iter()
            .all(|a| (POOL_FIRST..=POOL_LAST).contains(a)),
        "addresses from the pool: {calls:?}"
    );
    (lac, tid, calls)
}

/// Whether a call failed or went down at the LAC.
fn failed(l: &Lac) -> bool {
    l.events.iter().any(|e| {
        matches!(
            e,
            PeerEvent::AuthFailed(_) | PeerEvent::CallDown { .. } | PeerEvent::PppDown(_)
        )
    })
}

/// Waits until the data plane's XDP maps hold the `n` subscribers (synced
/// from the table within ~10 ms, logged at most once a second); AF_PACKET
/// has no maps.
fn wait_xdp_synced(lns: &Lns, afxdp: bool, n: usize) {
    if afxdp {
        assert!(
            l2tpx_tests::peers::wait_until(Duration::from_secs(4), || lns
                .dataplane_log()
                .contains(&format!("v4={n}"))),
            "XDP subscriber maps synced:\n{}",
            lns.logs()
        );
    }
}

/// CORE's socket, bound to [`CORE_IP`]:[`CORE_PORT`] in its namespace.
fn core_socket(topo: &Topology) -> UdpSocket {
    let core = in_ns(&topo.core, || {
        UdpSocket::bind(SocketAddrV4::new(CORE_IP, CORE_PORT)).expect("CORE socket")
    });
    core.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let _ = socket2::SockRef::from(&core).set_recv_buffer_size(4 << 20);
    core
}

#[test]
fn full_system_lac_through_both_daemons_to_core() {
    let t0 = Instant::now();
    let mut marks: Vec<(&str, Duration)> = Vec::new();
    let spec = LnsSpec::default();
    let Some((topo, mut lns, afxdp)) = start(&spec) else {
        return;
    };
    marks.push(("daemons started", t0.elapsed()));
    let lac_mac = interface_mac(&topo.lac, &topo.lac_if).unwrap();
    let lns_mac = interface_mac(&topo.lns, &topo.lns_access_if).unwrap();
    let lns_addr = SocketAddr::from(SocketAddrV4::new(LNS_ACCESS_IP, L2TP_PORT));
    let (mut lac, tid, calls) = establish(&topo, &lns, &spec, LacConfig::default());
    marks.push(("10 sessions IP up", t0.elapsed()));

    // --- The table holds what the wire said. ---
    let reader = TableReader::open(&lns.table).expect("opening the table");
    assert_eq!(reader.workers(), spec.workers, "table workers = queues");
    assert_eq!(reader.bank_bits(), u32::from(spec.bank_bits));
    assert_eq!(reader.published(), CALLS as u32);
    let mut slots = Vec::new();
    for c in &calls {
        let s = reader
            .by_ipv4(c.address)
            .unwrap_or_else(|| panic!("{} not in the table", c.address));
        let slot = slot_index(c.lns_tunnel, c.lns_session, u32::from(spec.bank_bits));
        assert_eq!(
            (s.slot, s.our_tunnel_id, s.our_session_id),
            (slot, c.lns_tunnel, c.lns_session),
            "{c:?}"
        );
        assert_eq!(
            (s.peer_tunnel_id, s.peer_session_id),
            (c.key.tunnel_id, c.key.session_id),
            "{c:?}"
        );
        assert_eq!((s.peer_addr, s.peer_port), (LAC_IP, L2TP_PORT));
        assert_eq!(&s.template[..6], &lac_mac, "template: to the LAC's MAC");
        assert_eq!(&s.template[6..12], &lns_mac, "template: from ours");
        assert_eq!(reader.by_slot(slot), Some(s));
        slots.push(slot);
    }
    wait_xdp_synced(&lns, afxdp, CALLS);
    marks.push(("table checked, maps synced", t0.elapsed()));

    // --- Upstream: subscriber → CORE, through the data plane. ---
    let core = core_socket(&topo);
    let core_ep = SocketAddrV4::new(CORE_IP, CORE_PORT);
    let sub_ep = |i: usize| SocketAddrV4::new(calls[i].address, SUB_PORT + i as u16);
    let total = CALLS * PACKETS as usize;
    let mut want_counters = vec![SessionCounters::default(); CALLS];
    let got_up = std::thread::scope(|s| {
        let rx = s.spawn(|| collect(&core, total, Duration::from_secs(2)));
        for seq in 0..PACKETS {
            for (i, c) in calls.iter().enumerate() {
                let inner = ipv4_udp(sub_ep(i), core_ep, seq as u16, &payload(b'U', i, seq));
                want_counters[i].up_packets += 1;
                want_counters[i].up_bytes += inner.len() as u64;
                let msg = l2tp_data(c.lns_tunnel, c.lns_session, &inner);
                lac.sock.send_to(&msg, lns_addr).expect("upstream send");
            }
            lac.drain();
        }
        rx.join().expect("CORE receiver")
    });
    check_upstream(&got_up, &calls, PACKETS);
    assert_eq!(
        got_up.len(),
        total,
        "upstream: sent {total}\n{}",
        lns.logs()
    );
    marks.push(("upstream 1000/1000", t0.elapsed()));

    // --- Downstream: CORE → subscriber, encapsulated by the data plane. ---
    lac.traffic.clear();
    for seq in 0..PACKETS {
        for (i, c) in calls.iter().enumerate() {
            let data = payload(b'D', i, seq);
            let dst = SocketAddrV4::new(c.address, SUB_PORT + i as u16);
            core.send_to(&data, dst).expect("downstream send");
        }
        lac.drain();
    }
    lac.until(Duration::from_secs(2), |l| l.traffic.len() >= total);
    lac.run_for(Duration::from_millis(100));
    check_downstream(&lac.traffic, &calls, PACKETS, &mut want_counters);
    assert_eq!(
        lac.traffic.len(),
        total,
        "downstream: sent {total}\n{}",
        lns.logs()
    );
    marks.push(("downstream 1000/1000", t0.elapsed()));

    // --- The data plane's counters, read from the table, match exactly. ---
    l2tpx_tests::peers::wait_until(Duration::from_secs(2), || {
        slots
            .iter()
            .zip(&want_counters)
            .all(|(&s, w)| counters(&reader, s) == *w)
    });
    for ((c, &slot), want) in calls.iter().zip(&slots).zip(&want_counters) {
        assert_eq!(counters(&reader, slot), *want, "counters of {c:?}");
    }
    let drops_before = reader.read_drops_sum();

    // --- Hanging up withdraws the sessions; their traffic stops. ---
    for c in &calls {
        lac.peer.hang_up(Instant::now(), c.key, 3).expect("hang up");
    }
    assert!(
        lac.until(Duration::from_secs(5), |_| reader.published() == 0),
        "sessions withdrawn: {} left\n{}",
        reader.published(),
        lns.logs()
    );
    for c in &calls {
        assert_eq!(reader.by_ipv4(c.address), None, "{} withdrawn", c.address);
    }
    marks.push(("hung up, withdrawn", t0.elapsed()));
    lac.traffic.clear();
    let stray_up = std::thread::scope(|s| {
        let rx = s.spawn(|| collect(&core, 0, Duration::from_millis(500)));
        for (i, c) in calls.iter().enumerate() {
            let inner = ipv4_udp(sub_ep(i), core_ep, 0, &payload(b'U', i, PACKETS));
            let msg = l2tp_data(c.lns_tunnel, c.lns_session, &inner);
            lac.sock.send_to(&msg, lns_addr).unwrap();
            let dst = SocketAddrV4::new(c.address, SUB_PORT + i as u16);
            core.send_to(&payload(b'D', i, PACKETS), dst).unwrap();
        }
        lac.run_for(Duration::from_millis(500));
        rx.join().expect("CORE receiver")
    });
    assert!(stray_up.is_empty(), "upstream after hang-up: {stray_up:?}");
    assert!(
        lac.traffic.is_empty(),
        "downstream after hang-up: {:?}",
        lac.traffic
    );
    for ((c, &slot), want) in calls.iter().zip(&slots).zip(&want_counters) {
        assert_eq!(
            counters(&reader, slot),
            *want,
            "no traffic counted for {c:?}"
        );
    }
    let drops_after = reader.read_drops_sum();

    // --- SIGTERM: both daemons exit 0 (the LAC acknowledges the StopCCN). ---
    sigterm_controlplane(&mut lac, &mut lns, tid);
    system::sigterm(lns.dataplane());
    let dp = system::wait_exit(lns.dataplane(), Duration::from_secs(5), || {});
    let dp = dp.unwrap_or_else(|| panic!("dataplane exits on SIGTERM\n{}", lns.logs()));
    assert!(dp.success(), "dataplane: {dp}\n{}", lns.logs());
    // Its own totals, logged at exit, agree: every frame it sent was one
    // of ours, and none waited for a gateway MAC or a TX slot.
    let log = lns.dataplane_log();
    let totals = log
        .lines()
        .rfind(|l| l.contains(" counters "))
        .unwrap_or_else(|| panic!("no counters line:\n{log}"));
    for field in [
        format!(" tx_core={total} "),
        format!(" tx_access={total} "),
        " tx_full=0 ".to_owned(),
        " no_gateway=0 ".to_owned(),
    ] {
        assert!(totals.contains(&field), "{field:?} in {totals:?}");
    }
    marks.push(("both daemons exited 0", t0.elapsed()));

    eprintln!(
        "full system: backend {}, {CALLS} sessions, {PACKETS} packets per session each way; \
         drops after hang-up: {}",
        if afxdp { "AF_XDP" } else { "AF_PACKET" },
        drops_after - drops_before
    );
    for (what, at) in marks {
        eprintln!("  {:>6.2} s  {what}", at.as_secs_f64());
    }
}

/// Drop counters summed over workers and reasons.
trait DropsSum {
    fn read_drops_sum(&self) -> u64;
}

impl DropsSum for TableReader {
    fn read_drops_sum(&self) -> u64 {
        (0..self.workers())
            .filter_map(|w| self.counters(w))
            .map(|c| c.drops().iter().sum::<u64>())
            .sum()
    }
}

/// Rounds of the restart test's stream: one packet per call and direction.
const STREAM_ROUNDS: u32 = 400;
/// Time between rounds (so the stream lasts `STREAM_ROUNDS` × this).
const STREAM_GAP: Duration = Duration::from_millis(10);
/// The round after which the controlplane is killed.
const KILL_AFTER: u32 = 50;
/// How long it stays dead before it is started again.
const DEAD_FOR: Duration = Duration::from_millis(300);

/// Issue 5: the data plane runs on its own. With sessions up and a steady
/// stream both ways, the controlplane is SIGKILLed and started again
/// mid-stream: not one data packet is lost either way (exact counts, byte
/// for byte), the table (same file, same mapping) keeps counting, and the
/// restarted controlplane has reopened it with every session in place.
/// The sessions then carry on at the control level: the LAC's HELLO is
/// acknowledged, LCP echoes answered with the same magic, a hang-up ends
/// and withdraws its session, and SIGTERM closes the tunnel cleanly.
#[test]
fn controlplane_sigkill_restart_loses_no_data_packet() {
    let spec = LnsSpec::default();
    let Some((topo, mut lns, afxdp)) = start(&spec) else {
        return;
    };
    let (mut lac, tid, calls) = establish(&topo, &lns, &spec, LacConfig::default());
    wait_xdp_synced(&lns, afxdp, CALLS);
    let lns_addr = SocketAddr::from(SocketAddrV4::new(LNS_ACCESS_IP, L2TP_PORT));
    let reader = TableReader::open(&lns.table).expect("opening the table");
    assert_eq!(reader.writer_epoch(), 1);
    let slots: Vec<u32> = calls
        .iter()
        .map(|c| slot_index(c.lns_tunnel, c.lns_session, u32::from(spec.bank_bits)))
        .collect();
    let before: Vec<SessionCounters> = slots.iter().map(|&s| counters(&reader, s)).collect();
    // The LNS's LCP magic of call 0, from an Echo-Reply before the restart.
    let magic_before = echo(&mut lac, &calls[0], 1, &lns);

    let core = core_socket(&topo);
    let core_tx = core.try_clone().unwrap();
    let lac_tx = lac.sock.try_clone().unwrap();
    let core_ep = SocketAddrV4::new(CORE_IP, CORE_PORT);
    let sub_ep = |i: usize| SocketAddrV4::new(calls[i].address, SUB_PORT + i as u16);
    let upstream = |i: usize, r: u32| ipv4_udp(sub_ep(i), core_ep, r as u16, &payload(b'U', i, r));
    let total = CALLS * STREAM_ROUNDS as usize;
    let mut want = before.clone();
    for r in 0..STREAM_ROUNDS {
        for (i, w) in want.iter_mut().enumerate() {
            w.up_packets += 1;
            w.up_bytes += upstream(i, r).len() as u64;
        }
    }
    lac.traffic.clear();
    let rounds_sent = std::sync::atomic::AtomicU32::new(0);
    let (mut killed, mut respawned, mut listening_after) = (None, false, None);
    let got_up = std::thread::scope(|s| {
        let rx = s.spawn(|| collect(&core, total, Duration::from_secs(3)));
        let tx = s.spawn(|| {
            let t0 = Instant::now();
            for r in 0..STREAM_ROUNDS {
                let at = t0 + STREAM_GAP * r;
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                for (i, c) in calls.iter().enumerate() {
                    let msg = l2tp_data(c.lns_tunnel, c.lns_session, &upstream(i, r));
                    lac_tx.send_to(&msg, lns_addr).expect("upstream send");
                    let dst = SocketAddrV4::new(c.address, SUB_PORT + i as u16);
                    core_tx
                        .send_to(&payload(b'D', i, r), dst)
                        .expect("downstream send");
                }
                rounds_sent.store(r + 1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let mut last_look = Instant::now();
        while !tx.is_finished() {
            lac.step();
            let r = rounds_sent.load(std::sync::atomic::Ordering::Relaxed);
            if killed.is_none() && r >= KILL_AFTER {
                let st = lns.kill_controlplane().expect("SIGKILL");
                killed = Some((Instant::now(), r, st));
            }
            if let Some((at, _, _)) = killed {
                if !respawned && at.elapsed() >= DEAD_FOR {
                    lns.respawn_controlplane(&topo).expect("restarting");
                    respawned = true;
                }
            }
            if respawned && listening_after.is_none() && last_look.elapsed() > STREAM_GAP {
                last_look = Instant::now();
                if lns.controlplane_log().contains("controlplane listening") {
                    listening_after = Some(r);
                }
            }
        }
        tx.join().expect("sender");
        lac.until(Duration::from_secs(3), |l| l.traffic.len() >= total);
        lac.run_for(Duration::from_millis(100));
        rx.join().expect("CORE receiver")
    });
    let (_, killed_after, status) = killed.expect("killed mid-stream");
    assert!(!status.success(), "SIGKILLed: {status}");
    let listening_after = listening_after.unwrap_or_else(|| {
        panic!(
            "the controlplane restarted before the stream ended\n{}",
            lns.logs()
        )
    });
    eprintln!(
        "restart: killed after round {killed_after}, listening again after round \
         {listening_after} of {STREAM_ROUNDS} ({} ms per round)",
        STREAM_GAP.as_millis()
    );

    // Not one packet lost or duplicated, either way.
    check_upstream(&got_up, &calls, STREAM_ROUNDS);
    assert_eq!(
        got_up.len(),
        total,
        "upstream: sent {total}\n{}{}",
        lns.logs(),
        topo.link_stats()
    );
    check_downstream(&lac.traffic, &calls, STREAM_ROUNDS, &mut want);
    assert_eq!(
        lac.traffic.len(),
        total,
        "downstream: sent {total}\n{}{}",
        lns.logs(),
        topo.link_stats()
    );

    // The table is the same one: a reader mapped before the kill counted
    // every packet, and the restarted writer reopened it.
    l2tpx_tests::peers::wait_until(Duration::from_secs(2), || {
        slots
            .iter()
            .zip(&want)
            .all(|(&s, w)| counters(&reader, s) == *w)
    });
    for ((c, &slot), w) in calls.iter().zip(&slots).zip(&want) {
        assert_eq!(counters(&reader, slot), *w, "counters of {c:?}");
    }
    assert_eq!(reader.writer_epoch(), 2, "one more writer attached");
    assert_eq!(reader.published(), CALLS as u32);
    let fresh = TableReader::open(&lns.table).expect("reopening the table");
    for (c, &slot) in calls.iter().zip(&slots) {
        assert_eq!(fresh.by_ipv4(c.address).map(|s| s.slot), Some(slot));
    }
    let log = lns.controlplane_log();
    assert!(log.contains("session table reopened"), "{}", lns.logs());
    assert!(
        log.contains(&format!(
            "tunnels=1 sessions={CALLS} ended=0 withdrawn=0 lost=0 failed=0"
        )),
        "control state resumed:\n{}",
        lns.logs()
    );

    // The sessions are alive at the control level. The LAC's HELLO (its
    // Ns/Nr mid-sequence) resynchronises the tunnel and is acknowledged.
    lac.peer.lac.send_hello(Instant::now(), tid).unwrap();
    assert!(
        lac.until(Duration::from_secs(3), |l| l.peer.lac.unacknowledged(tid)
            == Some(0)),
        "HELLO acknowledged after the restart\n{}",
        lns.logs()
    );
    // An LCP Echo-Request gets an Echo-Reply with the same magic as before.
    assert_eq!(echo(&mut lac, &calls[0], 2, &lns), magic_before);
    assert!(!failed(&lac), "no call went down: {:?}", lac.events);
    // A hang-up (CDN from the LAC) ends the session and withdraws it.
    let gone = calls[0];
    lac.peer.hang_up(Instant::now(), gone.key, 3).unwrap();
    assert!(
        lac.until(Duration::from_secs(3), |_| reader.published()
            == CALLS as u32 - 1),
        "hang-up withdrew the session\n{}",
        lns.logs()
    );
    assert_eq!(reader.by_ipv4(gone.address), None);
    assert!(
        lac.until(Duration::from_secs(2), |l| l.peer.lac.unacknowledged(tid)
            == Some(0))
    );
    assert!(
        lns.controlplane_log().contains("subscriber down"),
        "{}",
        lns.logs()
    );
    // SIGTERM: the StopCCN on the resumed tunnel is acknowledged.
    sigterm_controlplane(&mut lac, &mut lns, tid);
}

/// SIGTERMs the controlplane while the LAC keeps answering: it exits 0
/// once the LAC has acknowledged its StopCCN on tunnel `tid`.
fn sigterm_controlplane(lac: &mut Lac, lns: &mut Lns, tid: u16) {
    system::sigterm(lns.controlplane());
    let cp = system::wait_exit(lns.controlplane(), Duration::from_secs(5), || lac.drain());
    let cp = cp.unwrap_or_else(|| panic!("controlplane exits on SIGTERM\n{}", lns.logs()));
    assert!(cp.success(), "controlplane: {cp}\n{}", lns.logs());
    assert!(
        lns.controlplane_log().contains("clean=true"),
        "StopCCN acknowledged:\n{}",
        lns.logs()
    );
    assert!(lac.events.contains(&PeerEvent::TunnelDown(tid)));
}

/// Sends an LCP Echo-Request (Identifier `id`) on `call` and waits for the
/// LNS's Echo-Reply; its Magic-Number.
fn echo(lac: &mut Lac, call: &Call, id: u8, lns: &Lns) -> u32 {
    let lns_addr = SocketAddr::from(SocketAddrV4::new(LNS_ACCESS_IP, L2TP_PORT));
    let mut m = vec![0x00, 0x02];
    m.extend_from_slice(&call.lns_tunnel.to_be_bytes());
    m.extend_from_slice(&call.lns_session.to_be_bytes());
    m.extend_from_slice(&[0xff, 0x03, 0xc0, 0x21, 9, id, 0, 12]);
    m.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    m.extend_from_slice(b"ping");
    lac.echo_replies.clear();
    lac.sock.send_to(&m, lns_addr).unwrap();
    assert!(
        lac.until(Duration::from_secs(3), |l| !l.echo_replies.is_empty()),
        "LCP Echo-Reply\n{}",
        lns.logs()
    );
    let (key, reply) = lac.echo_replies[0].clone();
    assert_eq!(key, call.key);
    assert_eq!(reply[..4], [10, id, 0, 12], "Echo-Reply, same identifier");
    assert_eq!(&reply[8..12], b"ping", "data echoed");
    let magic = u32::from_be_bytes(reply[4..8].try_into().unwrap());
    assert_ne!(magic, 0);
    magic
}
