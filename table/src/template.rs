//! The downstream header template of a session: Eth[/802.1Q]/IPv4/UDP/
//! L2TP data/PPP, built once by the control plane with the wire emitters
//! and copied in front of every downstream packet by the worker.

use core::net::Ipv4Addr;

use crate::TEMPLATE_MAX;
use l2tpx_wire::ethernet::{self, EtherType, EthernetAddress, VlanTag};
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::l2tp::{HeaderRepr, Sequence};
use l2tpx_wire::ppp::{FrameRepr, Protocol};
use l2tpx_wire::udp;

/// TTL of the outer IPv4 header.
pub const OUTER_TTL: u8 = 64;

/// What a session's template is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateParams {
    /// The LAC's (or its next hop's) MAC address.
    pub peer_mac: [u8; 6],
    /// Our MAC address on the access interface.
    pub our_mac: [u8; 6],
    /// The 802.1Q tag control information on the access side, if tagged.
    pub vlan_tci: Option<u16>,
    /// Our address (outer source).
    pub local_addr: Ipv4Addr,
    /// The LAC's address (outer destination).
    pub peer_addr: Ipv4Addr,
    /// Our UDP port (1701).
    pub local_port: u16,
    /// The LAC's UDP port.
    pub peer_port: u16,
    /// The LAC's tunnel ID.
    pub peer_tunnel_id: u16,
    /// The LAC's session ID.
    pub peer_session_id: u16,
    /// Send the L2TP Length field.
    pub with_length: bool,
    /// Send Ns/Nr (the peer asked for sequencing).
    pub sequencing: bool,
}

/// Builds the template: returns the bytes, their length, and the offset of
/// the L2TP header in them.
///
/// The outer IPv4 header has DF set, Identification 0, TTL [`OUTER_TTL`]
/// and Total Length 0, and its checksum is computed over that zero length,
/// so the worker patches it with one RFC 1624 step. The UDP length and
/// checksum are 0, the L2TP Length (if any) covers an empty payload, Ns and
/// Nr are 0, and the PPP header is `ff 03 00 21` (IPv4; the worker patches
/// the protocol for IPv6).
pub fn build_template(p: &TemplateParams) -> ([u8; TEMPLATE_MAX], u8, u8) {
    let mut t = [0u8; TEMPLATE_MAX];
    let eth = ethernet::Repr {
        src_addr: EthernetAddress(p.our_mac),
        dst_addr: EthernetAddress(p.peer_mac),
        vlan: p.vlan_tci.map(VlanTag::from_tci),
        ethertype: EtherType::Ipv4,
    };
    let eth_len = eth.buffer_len();
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut t[..]));

    let ppp = FrameRepr {
        address_control: true,
        protocol: Protocol::Ipv4,
        protocol_compressed: false,
    };
    let l2tp = HeaderRepr {
        control: false,
        length_present: p.with_length,
        priority: false,
        reserved_flags: 0,
        tunnel_id: p.peer_tunnel_id,
        session_id: p.peer_session_id,
        sequence: p.sequencing.then_some(Sequence { ns: 0, nr: 0 }),
        offset_pad: None,
        payload_len: 0,
    };
    let l2tp_len = l2tp.header_len();
    let l2tp_offset = eth_len + ipv4::HEADER_LEN + udp::HEADER_LEN;
    let len = l2tp_offset + l2tp_len + ppp.header_len();

    let ip = ipv4::Repr {
        src_addr: p.local_addr,
        dst_addr: p.peer_addr,
        protocol: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: OUTER_TTL,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    let mut ipp = ipv4::Packet::new_unchecked(&mut t[eth_len..]);
    ip.emit(&mut ipp);
    // Total Length 0 and the checksum over it: the worker adds the length.
    ipp.set_total_len(0);
    ipp.fill_checksum();

    let mut u = udp::Packet::new_unchecked(&mut t[eth_len + ipv4::HEADER_LEN..]);
    u.set_src_port(p.local_port);
    u.set_dst_port(p.peer_port);
    u.set_len(0);
    u.set_checksum(0);

    l2tp.emit(&mut t[l2tp_offset..]);
    ppp.emit(&mut t[l2tp_offset + l2tp_len..]);
    // At most 18 + 20 + 8 + 10 + 4 = 60 <= TEMPLATE_MAX.
    (t, len as u8, l2tp_offset as u8)
}
