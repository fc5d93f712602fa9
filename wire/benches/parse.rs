//! Parse costs the data and control planes pay per packet.
//!
//! - `upstream_data_frame`: Eth/IPv4/UDP/L2TP/PPP/IPv4 down to the inner
//!   packet with `wire::fastpath::upstream` (target < 10 ns);
//!   `upstream_data_frame_layered_views` does the same layer by layer.
//! - `sccrq_10_avps`: an SCCRQ with 10 AVPs, header plus every AVP decoded
//!   to its typed value.

use core::net::Ipv4Addr;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2tpx_wire::l2tp::{
    self, AvpValue, Bearer, ControlMessageBuilder, ControlMessageRepr, DataHeader, Framing,
    MessageType,
};
use l2tpx_wire::{ethernet, ipv4, ppp, udp, Error, Result};

/// What the data plane needs from an upstream frame.
#[derive(Debug, PartialEq, Eq)]
struct Upstream {
    tunnel_id: u16,
    session_id: u16,
    inner_offset: usize,
    inner_src: Ipv4Addr,
}

/// `wire::fastpath::upstream`, not inlined so callgrind can count it.
#[inline(never)]
fn fast_upstream(frame: &[u8]) -> Result<Option<l2tpx_wire::fastpath::Upstream>> {
    l2tpx_wire::fastpath::upstream(frame, 1701)
}

/// The same classification composed layer by layer from the wire views,
/// for comparison with the one-pass fast path.
// Not inlined, so callgrind can count its instructions per call.
#[inline(never)]
fn classify_upstream(frame: &[u8]) -> Result<Upstream> {
    let eth = ethernet::Frame::new_checked(frame)?;
    if eth.ethertype() != ethernet::EtherType::Ipv4 {
        return Err(Error::Malformed);
    }
    let l3 = eth.header_len();
    let ip = ipv4::Packet::new_checked(eth.payload())?;
    if ip.protocol() != ipv4::IpProtocol::Udp || ip.is_fragment() {
        return Err(Error::Malformed);
    }
    let l4 = l3 + ip.header_len();
    let udp = udp::Packet::new_checked(ip.payload())?;
    if udp.dst_port() != 1701 {
        return Err(Error::Malformed);
    }
    let l2tp_off = l4 + udp::HEADER_LEN;
    let l2tp_bytes = udp.payload();
    let hdr = DataHeader::parse(l2tp_bytes)?;
    let ppp_bytes = hdr.payload(l2tp_bytes);
    let (protocol, off) = ppp::protocol_and_offset(ppp_bytes)?;
    if protocol != u16::from(ppp::Protocol::Ipv4) {
        return Err(Error::Malformed);
    }
    let inner = ipv4::Packet::new_checked(ppp_bytes.get(off..).ok_or(Error::Truncated)?)?;
    Ok(Upstream {
        tunnel_id: hdr.tunnel_id,
        session_id: hdr.session_id,
        inner_offset: l2tp_off + hdr.payload_offset + off,
        inner_src: inner.src_addr(),
    })
}

/// A 64-byte inner IPv4/UDP packet, in a real upstream frame.
fn upstream_frame() -> Vec<u8> {
    let mut inner = vec![0u8; 64];
    let inner_repr = ipv4::Repr {
        src_addr: Ipv4Addr::new(198, 18, 1, 10),
        dst_addr: Ipv4Addr::new(198, 19, 0, 1),
        protocol: ipv4::IpProtocol::Udp,
        payload_len: 44,
        hop_limit: 64,
        dscp_ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    inner_repr.emit(&mut ipv4::Packet::new_unchecked(&mut inner[..]));
    // L2TP data header without Length or sequence (xl2tpd/l2tpns style), then FF03 0021.
    let mut l2tp_msg = vec![0x00, 0x02, 0x12, 0x34, 0x00, 0x42, 0xff, 0x03, 0x00, 0x21];
    l2tp_msg.extend_from_slice(&inner);
    let mut frame = vec![0u8; 14 + 20 + 8 + l2tp_msg.len()];
    let eth = ethernet::Repr {
        src_addr: ethernet::EthernetAddress([0x02, 0, 0, 0, 0, 2]),
        dst_addr: ethernet::EthernetAddress([0x02, 0, 0, 0, 0, 1]),
        vlan: None,
        ethertype: ethernet::EtherType::Ipv4,
    };
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]));
    let outer = ipv4::Repr {
        src_addr: Ipv4Addr::new(198, 18, 0, 2),
        dst_addr: Ipv4Addr::new(198, 18, 0, 1),
        protocol: ipv4::IpProtocol::Udp,
        payload_len: 8 + l2tp_msg.len(),
        ..inner_repr
    };
    outer.emit(&mut ipv4::Packet::new_unchecked(&mut frame[14..]));
    let u = udp::Repr {
        src_port: 1701,
        dst_port: 1701,
        payload_len: l2tp_msg.len(),
        checksum: udp::Checksum::None,
    };
    u.emit(
        &mut udp::Packet::new_unchecked(&mut frame[34..]),
        outer.src_addr,
        outer.dst_addr,
        |p| p.copy_from_slice(&l2tp_msg),
    );
    frame
}

/// An SCCRQ with 10 AVPs (Message Type included).
fn sccrq() -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = ControlMessageBuilder::new(&mut buf, 0, 0, 0, 0, Some(MessageType::Sccrq)).unwrap();
    b.push_value(&AvpValue::ProtocolVersion {
        version: 1,
        revision: 0,
    })
    .unwrap()
    .push_value(&AvpValue::HostName(b"lac-198-18-0-2.example"))
    .unwrap()
    .push_value(&AvpValue::FramingCapabilities(Framing(3)))
    .unwrap()
    .push_value(&AvpValue::BearerCapabilities(Bearer(3)))
    .unwrap()
    .push_value(&AvpValue::FirmwareRevision(0x0690))
    .unwrap()
    .push_value(&AvpValue::VendorName(b"l2tpx bench"))
    .unwrap()
    .push_value(&AvpValue::AssignedTunnelId(0x2a))
    .unwrap()
    .push_value(&AvpValue::ReceiveWindowSize(16))
    .unwrap()
    .push_value(&AvpValue::TieBreaker(0x0102_0304_0506_0708))
    .unwrap();
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// Parses a control message and decodes every AVP; returns a checksum of
/// the values so nothing is optimised away.
#[inline(never)]
fn parse_control(bytes: &[u8]) -> Result<u32> {
    let msg = ControlMessageRepr::parse_bytes(bytes)?;
    let mut acc = 0u32;
    for avp in msg.avp_iter() {
        let avp = avp?;
        acc = acc.wrapping_add(match avp.typed()? {
            AvpValue::AssignedTunnelId(id) | AvpValue::ReceiveWindowSize(id) => u32::from(id),
            AvpValue::HostName(h) | AvpValue::VendorName(h) => h.len() as u32,
            _ => 1,
        });
    }
    Ok(acc)
}

fn benches(c: &mut Criterion) {
    let frame = upstream_frame();
    let up = classify_upstream(&frame).expect("bench frame must classify");
    assert_eq!(
        (up.tunnel_id, up.session_id, up.inner_offset),
        (0x1234, 0x42, 52)
    );
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    let fast = l2tpx_wire::fastpath::upstream(&frame, 1701)
        .unwrap()
        .unwrap();
    assert_eq!(
        (fast.tunnel_id, fast.session_id, fast.inner_offset),
        (0x1234, 0x42, 52)
    );
    g.bench_function("upstream_data_frame", |b| {
        b.iter(|| fast_upstream(black_box(&frame)))
    });
    g.bench_function("upstream_data_frame_layered_views", |b| {
        b.iter(|| classify_upstream(black_box(&frame)))
    });
    let msg = sccrq();
    assert_eq!(l2tp::AvpIter::new(&msg[12..]).count(), 10);
    assert!(parse_control(&msg).is_ok());
    g.bench_function("sccrq_10_avps", |b| {
        b.iter(|| parse_control(black_box(&msg)))
    });
    g.finish();
}

criterion_group!(wire, benches);
criterion_main!(wire);
