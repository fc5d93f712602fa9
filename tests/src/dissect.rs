//! A strict dissector built only from the wire crate: it parses a frame down
//! to its innermost layer and, at every layer, re-emits the parsed `Repr`
//! and demands the original bytes back. The capture tests and the fuzz
//! targets share it, so "parses" always also means "round-trips".

use core::fmt;

use l2tpx_wire::ppp::{self, cp, ConfigOption, ControlProtocol, Protocol, RawOption};
use l2tpx_wire::{arp, ethernet, icmpv4, ipv4, ipv6, l2tp, tcp, udp, Error};

/// The UDP port of L2TP (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

/// One decoded layer, with the fields tests compare against tshark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// Ethernet II; `vlan` is the 802.1Q VID.
    Ethernet { vlan: Option<u16>, ethertype: u16 },
    /// ARP for Ethernet/IPv4.
    Arp { operation: u16 },
    /// IPv4 header.
    Ipv4 { protocol: u8 },
    /// IPv6 fixed header.
    Ipv6 { next_header: u8 },
    /// UDP header.
    Udp { src_port: u16, dst_port: u16 },
    /// TCP header, with its MSS option if any.
    Tcp { syn: bool, mss: Option<u16> },
    /// ICMPv4 message.
    Icmpv4 { msg_type: u8, code: u8 },
    /// L2TP control message; `message_type` is `None` for a ZLB.
    L2tpControl {
        tunnel_id: u16,
        session_id: u16,
        message_type: Option<u16>,
        avps: usize,
    },
    /// L2TP data message header.
    L2tpData { tunnel_id: u16, session_id: u16 },
    /// PPP frame header.
    Ppp { protocol: u16 },
    /// A PPP control protocol packet (LCP, IPCP, IPv6CP, PAP, CHAP).
    PppControl {
        protocol: u16,
        code: u8,
        options: usize,
    },
    /// Bytes no layer here decodes (an unknown protocol, a UDP payload
    /// that is not L2TP).
    Opaque { len: usize },
}

/// Where and why dissection stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DissectError {
    /// The layer that failed, e.g. `"l2tp"`, `"lcp option"`.
    pub layer: &'static str,
    /// What went wrong.
    pub fault: Fault,
}

/// A parse error, or a re-emit that did not reproduce the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The wire crate rejected the bytes.
    Parse(Error),
    /// Parse succeeded but emitting the `Repr` gave other bytes.
    Reemit { original: Vec<u8>, emitted: Vec<u8> },
}

impl fmt::Display for DissectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fault {
            Fault::Parse(e) => write!(f, "{}: {e}", self.layer),
            Fault::Reemit { original, emitted } => write!(
                f,
                "{}: re-emit differs\n original {}\n emitted  {}",
                self.layer,
                hex(original),
                hex(emitted)
            ),
        }
    }
}

impl std::error::Error for DissectError {}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Res<T = ()> = Result<T, DissectError>;

fn parse_err(layer: &'static str) -> impl Fn(Error) -> DissectError {
    move |e| DissectError {
        layer,
        fault: Fault::Parse(e),
    }
}

fn same(layer: &'static str, original: &[u8], emitted: &[u8]) -> Res {
    if original == emitted {
        Ok(())
    } else {
        Err(DissectError {
            layer,
            fault: Fault::Reemit {
                original: original.to_vec(),
                emitted: emitted.to_vec(),
            },
        })
    }
}

/// Like [`same`], for a layer whose checksum (at `at`) the emitter computes:
/// 0x0000 and 0xffff are the two one's-complement zeros (RFC 1624 §3) and
/// both verify, but an emitter only ever writes 0x0000.
fn same_but_checksum_zero(layer: &'static str, original: &[u8], emitted: &[u8], at: usize) -> Res {
    let field = |b: &[u8]| b.get(at..at + 2).map(|f| u16::from_be_bytes([f[0], f[1]]));
    let equivalent = original.len() == emitted.len()
        && field(original) == Some(0xffff)
        && field(emitted) == Some(0)
        && original[..at] == emitted[..at]
        && original[at + 2..] == emitted[at + 2..];
    if equivalent {
        Ok(())
    } else {
        same(layer, original, emitted)
    }
}

/// Dissects an Ethernet frame down to its innermost layer.
pub fn dissect_ethernet(bytes: &[u8]) -> Res<Vec<Layer>> {
    let mut out = Vec::new();
    let frame = ethernet::Frame::new_checked(bytes).map_err(parse_err("ethernet"))?;
    let repr = ethernet::Repr::parse(&frame).map_err(parse_err("ethernet"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ethernet::Frame::new_unchecked(&mut buf[..]));
    same("ethernet", &bytes[..repr.buffer_len()], &buf)?;
    out.push(Layer::Ethernet {
        vlan: repr.vlan.map(|t| t.vid),
        ethertype: repr.ethertype.into(),
    });
    let payload = frame.payload();
    match repr.ethertype {
        ethernet::EtherType::Ipv4 => dissect_ipv4(payload, &mut out)?,
        ethernet::EtherType::Ipv6 => dissect_ipv6(payload, &mut out)?,
        ethernet::EtherType::Arp => dissect_arp(payload, &mut out)?,
        _ => out.push(Layer::Opaque { len: payload.len() }),
    }
    Ok(out)
}

fn dissect_arp(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = arp::Packet::new_checked(bytes).map_err(parse_err("arp"))?;
    let repr = arp::Repr::parse(&packet).map_err(parse_err("arp"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
    same("arp", &bytes[..buf.len()], &buf)?;
    out.push(Layer::Arp {
        operation: repr.operation.into(),
    });
    Ok(())
}

/// Dissects an IPv4 packet (checksum verified) and what it carries.
pub fn dissect_ipv4(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = ipv4::Packet::new_checked(bytes).map_err(parse_err("ipv4"))?;
    let repr = ipv4::Repr::parse(&packet, true).map_err(parse_err("ipv4"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    let hl = repr.header_len();
    same_but_checksum_zero("ipv4", &bytes[..hl], &buf[..hl], 10)?;
    out.push(Layer::Ipv4 {
        protocol: repr.protocol.into(),
    });
    if repr.frag_offset != 0 || repr.more_frags {
        out.push(Layer::Opaque {
            len: repr.payload_len,
        });
        return Ok(());
    }
    let src = core::net::IpAddr::V4(repr.src_addr);
    let dst = core::net::IpAddr::V4(repr.dst_addr);
    dissect_ip_payload(repr.protocol, src, dst, packet.payload(), out)
}

/// Dissects an IPv6 packet and what it carries.
pub fn dissect_ipv6(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = ipv6::Packet::new_checked(bytes).map_err(parse_err("ipv6"))?;
    let repr = ipv6::Repr::parse(&packet).map_err(parse_err("ipv6"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
    same("ipv6", &bytes[..ipv6::HEADER_LEN], &buf[..ipv6::HEADER_LEN])?;
    out.push(Layer::Ipv6 {
        next_header: repr.next_header.into(),
    });
    let src = core::net::IpAddr::V6(repr.src_addr);
    let dst = core::net::IpAddr::V6(repr.dst_addr);
    dissect_ip_payload(repr.next_header, src, dst, packet.payload(), out)
}

fn dissect_ip_payload(
    protocol: ipv4::IpProtocol,
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
    payload: &[u8],
    out: &mut Vec<Layer>,
) -> Res {
    match protocol {
        ipv4::IpProtocol::Udp => dissect_udp(payload, src, dst, out),
        ipv4::IpProtocol::Tcp => dissect_tcp(payload, out),
        ipv4::IpProtocol::Icmp if src.is_ipv4() => dissect_icmpv4(payload, out),
        _ => {
            out.push(Layer::Opaque { len: payload.len() });
            Ok(())
        }
    }
}

fn dissect_udp(
    bytes: &[u8],
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
    out: &mut Vec<Layer>,
) -> Res {
    let packet = udp::Packet::new_checked(bytes).map_err(parse_err("udp"))?;
    let repr = udp::Repr::parse(&packet).map_err(parse_err("udp"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    let payload = packet.payload();
    repr.emit(
        &mut udp::Packet::new_unchecked(&mut buf[..]),
        src,
        dst,
        |p| p.copy_from_slice(payload),
    );
    same("udp", &bytes[..repr.buffer_len()], &buf)?;
    out.push(Layer::Udp {
        src_port: repr.src_port,
        dst_port: repr.dst_port,
    });
    if repr.src_port == L2TP_PORT || repr.dst_port == L2TP_PORT {
        dissect_l2tp(payload, out)
    } else {
        out.push(Layer::Opaque { len: payload.len() });
        Ok(())
    }
}

fn dissect_tcp(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = tcp::Packet::new_checked(bytes).map_err(parse_err("tcp"))?;
    for option in packet.options_iter() {
        option.map_err(parse_err("tcp option"))?;
    }
    out.push(Layer::Tcp {
        syn: packet.syn(),
        mss: packet.mss(),
    });
    Ok(())
}

fn dissect_icmpv4(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = icmpv4::Packet::new_checked(bytes).map_err(parse_err("icmpv4"))?;
    let repr = icmpv4::Repr::parse(&packet, true).map_err(parse_err("icmpv4"))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmpv4::Packet::new_unchecked(&mut buf[..]));
    same_but_checksum_zero("icmpv4", bytes, &buf, 2)?;
    out.push(Layer::Icmpv4 {
        msg_type: packet.msg_type().into(),
        code: packet.msg_code(),
    });
    Ok(())
}

/// Dissects an L2TP datagram (the UDP payload): control messages down to
/// every AVP's typed value, data messages down through PPP.
pub fn dissect_l2tp(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let packet = l2tp::Packet::new_checked(bytes).map_err(parse_err("l2tp"))?;
    if packet.is_control() {
        let msg = l2tp::ControlMessageRepr::parse_bytes(bytes).map_err(parse_err("l2tp"))?;
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        same("l2tp", &bytes[..msg.buffer_len()], &buf)?;
        let mut avps = 0;
        for avp in msg.avp_iter() {
            let avp = avp.map_err(parse_err("l2tp avp"))?;
            avps += 1;
            check_avp(&avp)?;
        }
        out.push(Layer::L2tpControl {
            tunnel_id: msg.tunnel_id,
            session_id: msg.session_id,
            message_type: msg.message_type().map(u16::from),
            avps,
        });
        return Ok(());
    }
    let header = l2tp::HeaderRepr::parse_bytes(bytes).map_err(parse_err("l2tp"))?;
    let mut buf = vec![0u8; header.header_len()];
    header.emit(&mut buf);
    same("l2tp", &bytes[..header.header_len()], &buf)?;
    // The fast path the data plane uses must agree with the full parse.
    let fast = l2tp::DataHeader::parse(bytes).map_err(parse_err("l2tp fast path"))?;
    if (fast.tunnel_id, fast.session_id, fast.payload_offset)
        != (header.tunnel_id, header.session_id, header.header_len())
    {
        return Err(DissectError {
            layer: "l2tp fast path",
            fault: Fault::Parse(Error::Malformed),
        });
    }
    out.push(Layer::L2tpData {
        tunnel_id: header.tunnel_id,
        session_id: header.session_id,
    });
    dissect_ppp(packet.payload(), out)
}

/// Re-encodes one AVP from its typed value and checks the bytes.
fn check_avp(avp: &l2tp::AvpRepr<'_>) -> Res {
    let mut raw = vec![0u8; avp.buffer_len()];
    avp.emit(&mut raw);
    if avp.hidden || avp.reserved != 0 {
        // Hidden values need the tunnel secret; reserved bits make the AVP
        // "unrecognized" (§4.1). Both round-trip raw, checked above.
        return Ok(());
    }
    let value = avp.typed().map_err(parse_err("l2tp avp value"))?;
    let mut typed = vec![0u8; value.buffer_len()];
    let n = value
        .emit(avp.mandatory, &mut typed)
        .map_err(parse_err("l2tp avp value"))?;
    same("l2tp avp value", &raw, &typed[..n])
}

/// Dissects a PPP frame (an L2TP data payload).
pub fn dissect_ppp(bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let frame = ppp::Frame::new_checked(bytes).map_err(parse_err("ppp"))?;
    let repr = ppp::FrameRepr::parse(&frame).map_err(parse_err("ppp"))?;
    let mut buf = vec![0u8; repr.header_len()];
    repr.emit(&mut buf);
    same("ppp", &bytes[..repr.header_len()], &buf)?;
    let (fast_protocol, fast_offset) =
        ppp::protocol_and_offset(bytes).map_err(parse_err("ppp fast path"))?;
    if (fast_protocol, fast_offset) != (u16::from(repr.protocol), repr.header_len()) {
        return Err(DissectError {
            layer: "ppp fast path",
            fault: Fault::Parse(Error::Malformed),
        });
    }
    out.push(Layer::Ppp {
        protocol: repr.protocol.into(),
    });
    let payload = frame.payload();
    match repr.protocol {
        Protocol::Lcp => dissect_cp::<ppp::Lcp>("lcp", payload, out),
        Protocol::Ipcp => dissect_cp::<ppp::Ipcp>("ipcp", payload, out),
        Protocol::Ipv6cp => dissect_cp::<ppp::Ipv6cp>("ipv6cp", payload, out),
        Protocol::Pap => {
            let repr = ppp::pap::Repr::parse_bytes(payload).map_err(parse_err("pap"))?;
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit_into(&mut buf).map_err(parse_err("pap"))?;
            same("pap", &payload[..buf.len()], &buf)?;
            out.push(Layer::PppControl {
                protocol: Protocol::Pap.into(),
                code: repr.code().into(),
                options: 0,
            });
            Ok(())
        }
        Protocol::Chap => {
            let repr = ppp::chap::Repr::parse_bytes(payload).map_err(parse_err("chap"))?;
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit_into(&mut buf).map_err(parse_err("chap"))?;
            same("chap", &payload[..buf.len()], &buf)?;
            out.push(Layer::PppControl {
                protocol: Protocol::Chap.into(),
                code: repr.code().into(),
                options: 0,
            });
            Ok(())
        }
        Protocol::Ipv4 => dissect_ipv4(payload, out),
        Protocol::Ipv6 => dissect_ipv6(payload, out),
        _ => {
            out.push(Layer::Opaque { len: payload.len() });
            Ok(())
        }
    }
}

/// LCP, IPCP or IPv6CP: the packet, then every option typed and rebuilt.
fn dissect_cp<P: ControlProtocol>(layer: &'static str, bytes: &[u8], out: &mut Vec<Layer>) -> Res {
    let repr = P::parse(bytes).map_err(parse_err(layer))?;
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit_into(&mut buf).map_err(parse_err(layer))?;
    same(layer, &bytes[..buf.len()], &buf)?;
    let mut options = 0;
    let is_configure = matches!(
        repr,
        cp::Repr::ConfigureRequest { .. }
            | cp::Repr::ConfigureAck { .. }
            | cp::Repr::ConfigureNak { .. }
            | cp::Repr::ConfigureReject { .. }
    );
    if is_configure {
        let mut typed = Vec::new();
        for raw in repr.options::<RawOption>() {
            let raw = raw.map_err(parse_err("ppp option"))?;
            typed.push(P::OptionRepr::parse(raw).map_err(parse_err("ppp option"))?);
        }
        options = typed.len();
        let mut rebuilt = vec![0u8; repr.buffer_len()];
        let n = ppp::emit_configure(repr.code(), repr.identifier(), typed.iter(), &mut rebuilt)
            .map_err(parse_err("ppp option"))?;
        same("ppp option", &bytes[..buf.len()], &rebuilt[..n])?;
    }
    out.push(Layer::PppControl {
        protocol: P::PROTOCOL.into(),
        code: repr.code().into(),
        options,
    });
    Ok(())
}

/// Bytes from hex, ignoring whitespace. Panics on bad hex (test helper).
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}
