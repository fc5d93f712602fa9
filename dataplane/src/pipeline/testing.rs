//! Test and benchmark support: a [`MockTable`] implementing
//! [`SessionLookup`] over hash maps, and packet builders made of the wire
//! crate's emitters. Not for the packet path (these allocate).

use core::cell::Cell;
use core::hash::{BuildHasherDefault, Hasher};
use core::net::{Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

use l2tpx_table::{slot_index, DownstreamSession, Session, SessionLookup, UpstreamSession};
use l2tpx_wire::ethernet::{self, EtherType, EthernetAddress, VlanTag};
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::l2tp::{HeaderRepr, Sequence};
use l2tpx_wire::ppp::frame::ADDRESS_CONTROL;
use l2tpx_wire::{ipv6, tcp, udp};

use super::{build_template, Frame, Side, TemplateParams, HEADROOM, L2TP_PORT};

/// A multiplicative hasher (FxHash's), so that the mock's lookups cost about
/// what the real table's open addressing does rather than SipHash.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Fx = BuildHasherDefault<FxHasher>;

/// A session table in hash maps: by slot, by IPv4 address, by IPv6 /64.
/// Each map gives an index into one array of sessions (one hash probe and
/// one copy per lookup, like the real table's open addressing).
#[derive(Debug, Default)]
pub struct MockTable {
    bank_bits: u32,
    /// Each session and whether it is up.
    sessions: Vec<(Session, bool)>,
    slots: HashMap<u32, usize, Fx>,
    v4: HashMap<Ipv4Addr, usize, Fx>,
    v6: HashMap<[u8; 8], usize, Fx>,
    ns: HashMap<u32, Cell<u16>, Fx>,
}

impl MockTable {
    /// An empty table with `bank_bits` bank bits.
    pub fn new(bank_bits: u32) -> MockTable {
        MockTable {
            bank_bits,
            ..MockTable::default()
        }
    }

    /// Adds (or replaces) a session that is up, at `session.slot`.
    pub fn insert(&mut self, session: Session) {
        let slot = session.slot;
        let i = match self.slots.get(&slot) {
            Some(&i) => {
                self.sessions[i] = (session, true);
                i
            }
            None => {
                self.sessions.push((session, true));
                self.sessions.len() - 1
            }
        };
        self.slots.insert(slot, i);
        if let Some(a) = session.subscriber_v4 {
            self.v4.insert(a, i);
        }
        if let Some(p) = session.subscriber_v6_prefix {
            self.v6.insert(p, i);
        }
        self.ns.insert(slot, Cell::new(0));
    }

    /// Marks a session down (lookups no longer return it) or up again.
    pub fn set_up(&mut self, slot: u32, up: bool) {
        if let Some(&i) = self.slots.get(&slot) {
            self.sessions[i].1 = up;
        }
    }

    /// The Ns the next sequenced packet of `slot` will carry.
    pub fn peek_ns(&self, slot: u32) -> u16 {
        self.ns.get(&slot).map_or(0, Cell::get)
    }

    #[inline]
    fn up(&self, i: Option<&usize>) -> Option<Session> {
        match self.sessions.get(*i?) {
            Some((s, true)) => Some(*s),
            _ => None,
        }
    }

    #[inline]
    fn up_downstream_into(&self, i: Option<&usize>, out: &mut DownstreamSession) -> bool {
        match i.and_then(|&i| self.sessions.get(i)) {
            Some((s, true)) => {
                *out = DownstreamSession::from(s);
                true
            }
            _ => false,
        }
    }

    #[inline]
    fn up_downstream(&self, i: Option<&usize>) -> Option<DownstreamSession> {
        match self.sessions.get(*i?) {
            Some((s, true)) => Some(DownstreamSession::from(s)),
            _ => None,
        }
    }
}

/// The lookups are kept out of line so that a profile (callgrind) shows
/// the mock table's share apart from the pipeline's.
impl SessionLookup for MockTable {
    #[inline(never)]
    fn by_slot(&self, slot: u32) -> Option<Session> {
        self.up(self.slots.get(&slot))
    }
    #[inline(never)]
    fn by_slot_upstream(&self, slot: u32) -> Option<UpstreamSession> {
        match self.sessions.get(*self.slots.get(&slot)?) {
            Some((s, true)) => Some(UpstreamSession::from(s)),
            _ => None,
        }
    }
    #[inline(never)]
    fn by_ipv4(&self, dst: Ipv4Addr) -> Option<Session> {
        self.up(self.v4.get(&dst))
    }
    #[inline(never)]
    fn by_ipv6(&self, dst: &[u8; 16]) -> Option<Session> {
        let p: [u8; 8] = dst[..8].try_into().ok()?;
        self.up(self.v6.get(&p))
    }
    #[inline(never)]
    fn by_slot_downstream(&self, slot: u32) -> Option<DownstreamSession> {
        self.up_downstream(self.slots.get(&slot))
    }
    #[inline(never)]
    fn by_ipv4_downstream(&self, dst: Ipv4Addr) -> Option<DownstreamSession> {
        self.up_downstream(self.v4.get(&dst))
    }
    #[inline(never)]
    fn by_ipv6_downstream(&self, dst: &[u8; 16]) -> Option<DownstreamSession> {
        let p: [u8; 8] = dst[..8].try_into().ok()?;
        self.up_downstream(self.v6.get(&p))
    }
    #[inline(never)]
    fn by_slot_downstream_into(&self, slot: u32, out: &mut DownstreamSession) -> bool {
        self.up_downstream_into(self.slots.get(&slot), out)
    }
    #[inline(never)]
    fn by_ipv4_downstream_into(&self, dst: Ipv4Addr, out: &mut DownstreamSession) -> bool {
        self.up_downstream_into(self.v4.get(&dst), out)
    }
    #[inline(never)]
    fn by_ipv6_downstream_into(&self, dst: &[u8; 16], out: &mut DownstreamSession) -> bool {
        let Some(p) = dst.first_chunk::<8>() else {
            return false;
        };
        self.up_downstream_into(self.v6.get(p), out)
    }
    #[inline(never)]
    fn next_ns(&self, slot: u32) -> u16 {
        match self.ns.get(&slot) {
            Some(c) => {
                let v = c.get();
                c.set(v.wrapping_add(1));
                v
            }
            None => 0,
        }
    }
    #[inline]
    fn bank_bits(&self) -> u32 {
        self.bank_bits
    }
}

/// Addresses of the test network.
pub mod net {
    use core::net::Ipv4Addr;

    /// The LNS's access-side address.
    pub const LNS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    /// The LAC.
    pub const LAC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// Another LAC (wrong peer).
    pub const OTHER_LAC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
    /// The LAC's UDP port.
    pub const LAC_PORT: u16 = 1701;
    /// MACs.
    pub const LNS_ACCESS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    /// The LAC's MAC.
    pub const LAC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    /// Our core MAC.
    pub const LNS_CORE_MAC: [u8; 6] = [0x02, 0, 0, 0, 1, 0x01];
    /// The core gateway's MAC.
    pub const CORE_GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 1, 0x02];
    /// A host beyond the core (RFC 2544 range, like every test address).
    pub const REMOTE_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 113, 7);
    /// A host on the Internet (IPv6).
    pub const REMOTE_V6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
    ];
}

/// What a fixture session looks like.
#[derive(Debug, Clone, Copy)]
pub struct SessionSpec {
    /// Our tunnel ID.
    pub our_tunnel_id: u16,
    /// Our session ID.
    pub our_session_id: u16,
    /// The LAC's tunnel ID.
    pub peer_tunnel_id: u16,
    /// The LAC's session ID.
    pub peer_session_id: u16,
    /// The subscriber's IPv4 address.
    pub v4: Option<Ipv4Addr>,
    /// The subscriber's /64.
    pub v6: Option<[u8; 8]>,
    /// L2TP Length in downstream packets.
    pub with_length: bool,
    /// Ns in downstream packets.
    pub sequencing: bool,
    /// Access-side VLAN TCI.
    pub vlan_tci: Option<u16>,
    /// Inner MTU.
    pub mtu: u16,
    /// MSS clamp (0: none).
    pub mss_clamp: u16,
}

impl SessionSpec {
    /// Session `n` (1-based) of tunnel 1: subscriber 198.18.64.n and
    /// 2001:db8:0:n::/64, MTU 1460, MSS clamp 1420.
    pub fn nth(n: u16) -> SessionSpec {
        let [hi, lo] = n.to_be_bytes();
        SessionSpec {
            our_tunnel_id: 1,
            our_session_id: n,
            peer_tunnel_id: 0x4000 + 1,
            peer_session_id: 0x8000 + n,
            v4: Some(Ipv4Addr::new(198, 18, 64 + (hi & 63), lo)),
            v6: Some([0x20, 0x01, 0x0d, 0xb8, 0, 0, hi, lo]),
            with_length: false,
            sequencing: false,
            vlan_tci: None,
            mtu: 1460,
            mss_clamp: 1420,
        }
    }

    /// The session snapshot, template included.
    pub fn session(&self, bank_bits: u32) -> Session {
        let (template, template_len, l2tp_offset) = build_template(&TemplateParams {
            peer_mac: net::LAC_MAC,
            our_mac: net::LNS_ACCESS_MAC,
            vlan_tci: self.vlan_tci,
            local_addr: net::LNS,
            peer_addr: net::LAC,
            local_port: L2TP_PORT,
            peer_port: net::LAC_PORT,
            peer_tunnel_id: self.peer_tunnel_id,
            peer_session_id: self.peer_session_id,
            with_length: self.with_length,
            sequencing: self.sequencing,
        });
        Session {
            slot: slot_index(self.our_tunnel_id, self.our_session_id, bank_bits),
            our_tunnel_id: self.our_tunnel_id,
            our_session_id: self.our_session_id,
            peer_tunnel_id: self.peer_tunnel_id,
            peer_session_id: self.peer_session_id,
            peer_addr: net::LAC,
            peer_port: net::LAC_PORT,
            subscriber_v4: self.v4,
            subscriber_v6_prefix: self.v6,
            sequencing: self.sequencing,
            mtu: self.mtu,
            mss_clamp: self.mss_clamp,
            template,
            template_len,
            l2tp_offset,
        }
    }

    /// The subscriber's IPv6 address `prefix::1`.
    pub fn v6_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.v6.unwrap_or_default());
        a[15] = 1;
        a
    }
}

/// The transport payload of a built inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP with `n` payload bytes (pattern), checksum computed.
    Udp(usize),
    /// A TCP SYN with this MSS option (and a NOP, window scale, SACK
    /// permitted, so the MSS sits at an even offset) and `n` payload bytes.
    TcpSyn(u16, usize),
    /// A TCP SYN whose MSS option sits at an odd offset (after one NOP).
    TcpSynOddMss(u16),
    /// A TCP ACK without options, `n` payload bytes.
    TcpAck(usize),
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(1))
        .collect()
}

fn transport_bytes(t: Transport, src: core::net::IpAddr, dst: core::net::IpAddr) -> (u8, Vec<u8>) {
    match t {
        Transport::Udp(n) => {
            let repr = udp::Repr {
                src_port: 5353,
                dst_port: 53,
                payload_len: n,
                checksum: udp::Checksum::Compute,
            };
            let mut b = vec![0u8; repr.buffer_len()];
            let p = pattern(n);
            repr.emit(&mut udp::Packet::new_unchecked(&mut b[..]), src, dst, |d| {
                d.copy_from_slice(&p)
            });
            (17, b)
        }
        Transport::TcpSyn(mss, n) => {
            // MSS (4) + NOP + WS (3) + SACK-permitted (2) + NOP NOP = 12.
            let mut opts = vec![2, 4];
            opts.extend_from_slice(&mss.to_be_bytes());
            opts.extend_from_slice(&[1, 3, 3, 7, 4, 2, 1, 1]);
            (6, tcp_bytes(&opts, tcp::FLAG_SYN, n, src, dst))
        }
        Transport::TcpSynOddMss(mss) => {
            let mut opts = vec![1, 2, 4];
            opts.extend_from_slice(&mss.to_be_bytes());
            opts.extend_from_slice(&[1, 1, 0]);
            (6, tcp_bytes(&opts, tcp::FLAG_SYN, 0, src, dst))
        }
        Transport::TcpAck(n) => (6, tcp_bytes(&[], tcp::FLAG_ACK, n, src, dst)),
    }
}

fn tcp_bytes(
    opts: &[u8],
    flags: u16,
    n: usize,
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
) -> Vec<u8> {
    let hl = tcp::HEADER_LEN + opts.len();
    let mut b = vec![0u8; hl + n];
    let mut p = tcp::Packet::new_unchecked(&mut b[..]);
    p.set_src_port(40000);
    p.set_dst_port(443);
    p.set_seq_number(0x0102_0304);
    p.set_ack_number(0);
    p.set_header_len(hl);
    p.set_flags(flags);
    p.set_window_len(64240);
    p.set_urgent_at(0);
    p.options_mut().copy_from_slice(opts);
    p.payload_mut().copy_from_slice(&pattern(n));
    p.fill_checksum(src, dst);
    b
}

/// An IPv4 packet `src` → `dst` with TTL `ttl`, DF as given, and `t`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, df: bool, t: Transport) -> Vec<u8> {
    let (proto, payload) = transport_bytes(t, src.into(), dst.into());
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::from(proto),
        payload_len: payload.len(),
        hop_limit: ttl,
        dscp_ecn: 0,
        ident: 0x1234,
        dont_frag: df,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    let mut b = vec![0u8; repr.buffer_len()];
    let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p);
    p.payload_mut().copy_from_slice(&payload);
    b
}

/// An IPv6 packet `src` → `dst` with hop limit `hop` and `t`.
pub fn ipv6_packet(src: [u8; 16], dst: [u8; 16], hop: u8, t: Transport) -> Vec<u8> {
    let (s, d) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
    let (proto, payload) = transport_bytes(t, s.into(), d.into());
    let repr = ipv6::Repr {
        src_addr: s,
        dst_addr: d,
        next_header: IpProtocol::from(proto),
        payload_len: payload.len(),
        hop_limit: hop,
        traffic_class: 0,
        flow_label: 0x12345,
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
    b[ipv6::HEADER_LEN..].copy_from_slice(&payload);
    b
}

/// An Ethernet frame (optionally tagged) around `payload`.
pub fn eth_frame(
    dst: [u8; 6],
    src: [u8; 6],
    vlan_tci: Option<u16>,
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let repr = ethernet::Repr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        vlan: vlan_tci.map(VlanTag::from_tci),
        ethertype: EtherType::from(ethertype),
    };
    let mut b = vec![0u8; repr.buffer_len() + payload.len()];
    repr.emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
    b[repr.buffer_len()..].copy_from_slice(payload);
    b
}

/// The outer layers of an L2TP data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2tpFrame {
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// 802.1Q TCI.
    pub vlan_tci: Option<u16>,
    /// Outer source address.
    pub src: Ipv4Addr,
    /// Outer destination address.
    pub dst: Ipv4Addr,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer DF.
    pub df: bool,
    /// Outer Identification.
    pub ident: u16,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Compute the UDP checksum (else 0).
    pub udp_checksum: bool,
    /// L2TP Tunnel ID.
    pub tunnel_id: u16,
    /// L2TP Session ID.
    pub session_id: u16,
    /// L2TP Length present.
    pub with_length: bool,
    /// Ns (Nr 0) present.
    pub ns: Option<u16>,
    /// Offset pad length (O bit), if any.
    pub offset_pad: Option<usize>,
    /// PPP Address/Control present.
    pub address_control: bool,
    /// PPP Protocol compressed to one byte.
    pub pfc: bool,
}

impl L2tpFrame {
    /// An upstream frame from the LAC to us for `spec`'s session.
    pub fn upstream(spec: &SessionSpec) -> L2tpFrame {
        L2tpFrame {
            dst_mac: net::LNS_ACCESS_MAC,
            src_mac: net::LAC_MAC,
            vlan_tci: spec.vlan_tci,
            src: net::LAC,
            dst: net::LNS,
            ttl: 64,
            df: false,
            ident: 0x4242,
            src_port: net::LAC_PORT,
            dst_port: L2TP_PORT,
            udp_checksum: false,
            tunnel_id: spec.our_tunnel_id,
            session_id: spec.our_session_id,
            with_length: false,
            ns: None,
            offset_pad: None,
            address_control: true,
            pfc: false,
        }
    }

    /// What the pipeline sends downstream to the LAC for `spec`'s session
    /// (Ns as given when sequencing).
    pub fn downstream(spec: &SessionSpec, ns: Option<u16>) -> L2tpFrame {
        L2tpFrame {
            dst_mac: net::LAC_MAC,
            src_mac: net::LNS_ACCESS_MAC,
            vlan_tci: spec.vlan_tci,
            src: net::LNS,
            dst: net::LAC,
            ttl: super::OUTER_TTL,
            df: true,
            ident: 0,
            src_port: L2TP_PORT,
            dst_port: net::LAC_PORT,
            udp_checksum: false,
            tunnel_id: spec.peer_tunnel_id,
            session_id: spec.peer_session_id,
            with_length: spec.with_length,
            ns,
            offset_pad: None,
            address_control: true,
            pfc: false,
        }
    }

    /// The whole frame around PPP protocol `protocol` and `inner`.
    pub fn build(&self, protocol: u16, inner: &[u8]) -> Vec<u8> {
        let mut ppp = Vec::new();
        if self.address_control {
            ppp.extend_from_slice(&ADDRESS_CONTROL);
        }
        if self.pfc && protocol < 0x100 {
            ppp.push(protocol as u8);
        } else {
            ppp.extend_from_slice(&protocol.to_be_bytes());
        }
        ppp.extend_from_slice(inner);
        let pad = self.offset_pad.map(|n| vec![0u8; n]);
        let l2tp = HeaderRepr {
            control: false,
            length_present: self.with_length,
            priority: false,
            reserved_flags: 0,
            tunnel_id: self.tunnel_id,
            session_id: self.session_id,
            sequence: self.ns.map(|ns| Sequence { ns, nr: 0 }),
            offset_pad: pad.as_deref(),
            payload_len: ppp.len(),
        };
        let mut l2 = vec![0u8; l2tp.message_len()];
        l2tp.emit(&mut l2);
        l2[l2tp.header_len()..].copy_from_slice(&ppp);
        self.wrap_udp(&l2)
    }

    /// The frame around an arbitrary UDP payload.
    pub fn wrap_udp(&self, payload: &[u8]) -> Vec<u8> {
        let u = udp::Repr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            payload_len: payload.len(),
            checksum: if self.udp_checksum {
                udp::Checksum::Compute
            } else {
                udp::Checksum::None
            },
        };
        let ip = ipv4::Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            protocol: IpProtocol::Udp,
            payload_len: u.buffer_len(),
            hop_limit: self.ttl,
            dscp_ecn: 0,
            ident: self.ident,
            dont_frag: self.df,
            more_frags: false,
            frag_offset: 0,
            options: &[],
        };
        let mut b = vec![0u8; ip.buffer_len()];
        let mut p = ipv4::Packet::new_unchecked(&mut b[..]);
        ip.emit(&mut p);
        u.emit(
            &mut udp::Packet::new_unchecked(p.payload_mut()),
            self.src,
            self.dst,
            |d| d.copy_from_slice(payload),
        );
        eth_frame(self.dst_mac, self.src_mac, self.vlan_tci, 0x0800, &b)
    }
}

/// A UMEM-like chunk holding one received packet after `headroom` bytes.
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    /// The chunk.
    pub buf: Vec<u8>,
    /// Packet start.
    pub offset: usize,
    /// Packet length.
    pub len: usize,
    /// Receiving side.
    pub from: Side,
}

impl OwnedFrame {
    /// `packet` after [`HEADROOM`] bytes of 0xa5, with 64 spare bytes after.
    pub fn new(packet: &[u8], from: Side) -> OwnedFrame {
        OwnedFrame::with_headroom(packet, from, HEADROOM)
    }

    /// `packet` after `headroom` bytes of 0xa5.
    pub fn with_headroom(packet: &[u8], from: Side, headroom: usize) -> OwnedFrame {
        let mut buf = vec![0xa5u8; headroom + packet.len() + 64];
        buf[headroom..headroom + packet.len()].copy_from_slice(packet);
        OwnedFrame {
            buf,
            offset: headroom,
            len: packet.len(),
            from,
        }
    }

    /// A [`Frame`] view; write its `offset`/`len` back with [`Self::update`].
    pub fn frame(&mut self) -> Frame<'_> {
        Frame::new(&mut self.buf, self.offset, self.len, self.from)
    }

    /// The packet bytes.
    pub fn packet(&self) -> &[u8] {
        &self.buf[self.offset..self.offset + self.len]
    }

    /// Writes XDP metadata right in front of the packet, as `core_steer`
    /// does (see [`crate::ebpf::Meta`]).
    pub fn set_meta(&mut self, meta: crate::ebpf::Meta) {
        let n = crate::ebpf::META_LEN;
        self.buf[self.offset - n..self.offset].copy_from_slice(&meta.to_bytes());
    }
}

/// Runs [`process_batch`](super::process_batch) over owned frames and
/// writes their new `offset`/`len` back.
pub fn run_batch<T: SessionLookup, S: super::CounterSink + ?Sized>(
    owned: &mut [OwnedFrame],
    table: &T,
    cfg: &super::PipelineConfig,
    out: &mut super::BatchResult,
    sink: &mut S,
) -> usize {
    let mut frames: Vec<Frame<'_>> = owned.iter_mut().map(|o| o.frame()).collect();
    let n = super::process_batch(&mut frames, table, cfg, out, sink);
    let moved: Vec<(usize, usize)> = frames.iter().map(|f| (f.offset, f.len)).collect();
    drop(frames);
    for (o, (off, len)) in owned.iter_mut().zip(moved) {
        o.offset = off;
        o.len = len;
    }
    n
}

impl OwnedFrame {
    /// Processes this frame alone; returns its verdict.
    pub fn process<T: SessionLookup>(
        &mut self,
        table: &T,
        cfg: &super::PipelineConfig,
    ) -> super::Verdict {
        let mut out = super::BatchResult::default();
        run_batch(core::slice::from_mut(self), table, cfg, &mut out, &mut ());
        out.verdicts[0]
    }
}
