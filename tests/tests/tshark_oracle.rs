//! tshark as an independent oracle (issue 2 §4).
//!
//! A whole L2TPv2 life cycle is built with the `l2tpx_wire` emitters only
//! (Ethernet / IPv4 / UDP 1701 / L2TP, and PPP inside the data messages):
//! every control message type of RFC 2661 §3.2 with the AVPs §6 requires and
//! realistic optional ones, hidden AVPs after a Random Vector, ZLBs, and data
//! messages carrying LCP, PAP, CHAP, IPCP, IPv6CP, CCP, IPv4 and IPv6, with
//! every L2TP data header variant (Length, Ns/Nr, Offset, Priority) and every
//! PPP header variant (Address/Control present or not, Protocol compressed).
//!
//! Wireshark's dissectors then judge the bytes:
//! 1. no frame is malformed or carries an expert info of severity Warning or
//!    above, with IP and UDP checksum verification on;
//! 2. per frame, every field listed in the frame's expectations (Ethernet,
//!    IP, UDP headers and checksum status; the L2TP header; every AVP's
//!    flags, length, type and value; the PPP header; every control-protocol,
//!    PAP and CHAP field and option; the inner IP, UDP and ICMP headers) is
//!    what was emitted. The expected values are written down here from the
//!    RFCs (option types and lengths, header sizes), not read back from the
//!    wire crate.
//!
//! Without tshark the test says so and passes (CI installs it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use l2tpx_tests::{tshark_available, write_ethernet_pcap};
use l2tpx_wire::ethernet::{self, EtherType, EthernetAddress};
use l2tpx_wire::icmpv4;
use l2tpx_wire::ipv4::{self, IpProtocol};
use l2tpx_wire::ipv6;
use l2tpx_wire::l2tp::{
    AvpType, AvpValue, Bearer, CallErrors, CdnResult, ControlMessageBuilder, ErrorCode, Framing,
    HeaderRepr, MessageType, ProxyAuthenType, Sequence, StopCcnResult,
};
use l2tpx_wire::ppp::{
    self, chap, cp, pap, AuthenticationProtocol, FrameRepr, IpcpOption, Ipv6cpOption, LcpOption,
    Protocol, RawOption,
};
use l2tpx_wire::udp;

const LAC_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]);
const LNS_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);
const LAC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const LNS_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const L2TP_PORT: u16 = 1701;
const TTL: u8 = 64;

/// The tunnel secret (tunnel authentication and AVP hiding).
const SECRET: &[u8] = b"l2tpx-oracle-secret";

/// Tunnel IDs each end assigned (a header carries the recipient's).
const LAC_TUNNEL: u16 = 17;
const LNS_TUNNEL: u16 = 42;
/// Session IDs of the incoming call (ICRQ/ICRP/ICCN).
const LAC_SESSION: u16 = 5;
const LNS_SESSION: u16 = 9;
/// Session IDs of the outgoing call (OCRQ/OCRP/OCCN).
const LAC_OC_SESSION: u16 = 13;
const LNS_OC_SESSION: u16 = 11;

/// The PPP peer behind the LAC, and the LNS's end of the PPP link.
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
const LNS_PPP_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const DNS1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 53);
const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
const LNS_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);

const LNS_MAGIC: u32 = 0x1f2e_3d4c;
const PEER_MAGIC: u32 = 0x5a6b_7c8d;
const LAC_PROXY_MAGIC: u32 = 0x7711_2233;

// ---------------------------------------------------------------------------
// Expected fields

/// How tshark prints a field, so that both sides compare in one form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Kept as printed.
    Text,
    /// An integer or boolean in any base tshark uses (`17`, `0x0011`,
    /// `True`); compared in decimal.
    Num,
    /// Bytes, with or without `:` separators; compared as bare lowercase hex.
    Bytes,
}

/// One occurrence of a field that a frame must show.
#[derive(Debug, Clone)]
struct Field {
    name: &'static str,
    kind: Kind,
    value: String,
}

fn text(name: &'static str, value: impl AsRef<[u8]>) -> Field {
    let value = String::from_utf8(value.as_ref().to_vec()).expect("text fields are UTF-8");
    assert!(!value.contains(','), "{name}: ',' is tshark's aggregator");
    Field {
        name,
        kind: Kind::Text,
        value,
    }
}

fn num(name: &'static str, value: impl Into<u64>) -> Field {
    Field {
        name,
        kind: Kind::Num,
        value: value.into().to_string(),
    }
}

fn flag(name: &'static str, value: bool) -> Field {
    num(name, u8::from(value))
}

fn octets(name: &'static str, value: &[u8]) -> Field {
    Field {
        name,
        kind: Kind::Bytes,
        value: value.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// tshark's rendering of one occurrence, put in the form [`Field`] uses.
fn normalise(kind: Kind, field: &str, raw: &str) -> String {
    match kind {
        Kind::Text => raw.to_owned(),
        Kind::Bytes => raw.replace(':', "").to_ascii_lowercase(),
        Kind::Num => match raw {
            "True" => "1".to_owned(),
            "False" => "0".to_owned(),
            _ => match raw.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => raw.parse(),
            }
            .unwrap_or_else(|e| panic!("{field}: {raw:?} is not a number: {e}"))
            .to_string(),
        },
    }
}

// ---------------------------------------------------------------------------
// The trace

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    LacToLns,
    LnsToLac,
}

/// Which call a data message belongs to.
#[derive(Debug, Clone, Copy)]
enum Call {
    Incoming,
    Outgoing,
}

impl Call {
    /// Tunnel and Session ID a data message in `dir` carries (the recipient's).
    fn ids(self, dir: Dir) -> (u16, u16) {
        match (self, dir) {
            (Call::Incoming, Dir::LacToLns) => (LNS_TUNNEL, LNS_SESSION),
            (Call::Incoming, Dir::LnsToLac) => (LAC_TUNNEL, LAC_SESSION),
            (Call::Outgoing, Dir::LacToLns) => (LNS_TUNNEL, LNS_OC_SESSION),
            (Call::Outgoing, Dir::LnsToLac) => (LAC_TUNNEL, LAC_OC_SESSION),
        }
    }
}

/// One AVP of a control message being built.
enum Avp<'a> {
    Plain(AvpValue<'a>),
    /// Hidden with [`SECRET`] and the last Random Vector pushed, with this
    /// padding after the value.
    Hidden(AvpValue<'a>, &'a [u8]),
    /// One of the proxy LCP AVPs (§4.4.5), whose value is LCP options:
    /// tshark dissects them as such.
    LcpConfreq(AvpType, &'a [LcpOption<'a>]),
}

/// L2TP data header options.
#[derive(Debug, Clone, Copy, Default)]
struct DataOpts {
    length: bool,
    /// Ns/Nr present (Ns counted per call and direction; Nr is reserved, 0).
    sequenced: bool,
    offset_pad: Option<&'static [u8]>,
    priority: bool,
}

/// Address/Control and Protocol field compression of a PPP frame.
#[derive(Debug, Clone, Copy)]
struct PppHeader {
    address_control: bool,
    protocol_compressed: bool,
}

const PPP_FULL: PppHeader = PppHeader {
    address_control: true,
    protocol_compressed: false,
};
/// Address/Control omitted (ACFC, RFC 1661 §6.6).
const PPP_ACFC: PppHeader = PppHeader {
    address_control: false,
    protocol_compressed: false,
};
/// Address/Control omitted and a one-octet Protocol (ACFC and PFC).
const PPP_ACFC_PFC: PppHeader = PppHeader {
    address_control: false,
    protocol_compressed: true,
};
/// Address/Control present, one-octet Protocol (PFC, RFC 1661 §6.5).
const PPP_PFC: PppHeader = PppHeader {
    address_control: true,
    protocol_compressed: true,
};

/// A PPP information field and what tshark must decode from it.
struct PppPacket {
    protocol: Protocol,
    bytes: Vec<u8>,
    fields: Vec<Field>,
}

/// What one frame must decode to.
#[derive(Debug)]
struct Expected {
    what: String,
    fields: Vec<Field>,
}

/// The capture under construction.
#[derive(Default)]
struct Trace {
    frames: Vec<Vec<u8>>,
    expected: Vec<Expected>,
    ip_ident: u16,
    /// Next control Ns of each end (= the peer's Nr: every message arrives).
    lac_ns: u16,
    lns_ns: u16,
    /// Next data Ns per call and direction.
    data_ns: [u16; 4],
    /// Message types sent, for the coverage check.
    message_types: Vec<MessageType>,
    /// PPP protocols sent, for the coverage check.
    protocols: Vec<Protocol>,
}

impl Trace {
    /// Wraps an L2TP message in UDP/IPv4/Ethernet between LAC and LNS.
    fn push(&mut self, dir: Dir, l2tp: &[u8], what: String, l2tp_fields: Vec<Field>) {
        let (src_mac, dst_mac, src, dst) = match dir {
            Dir::LacToLns => (LAC_MAC, LNS_MAC, LAC_IP, LNS_IP),
            Dir::LnsToLac => (LNS_MAC, LAC_MAC, LNS_IP, LAC_IP),
        };
        self.ip_ident = self.ip_ident.wrapping_add(0x0101);
        let ip = ipv4_udp(src, dst, self.ip_ident, L2TP_PORT, L2TP_PORT, l2tp);
        let eth = ethernet::Repr {
            src_addr: src_mac,
            dst_addr: dst_mac,
            vlan: None,
            ethertype: EtherType::Ipv4,
        };
        let mut frame = vec![0u8; eth.buffer_len() + ip.bytes.len()];
        eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]));
        frame[eth.buffer_len()..].copy_from_slice(&ip.bytes);
        self.frames.push(frame);

        let mac = |m: EthernetAddress| {
            let b = m.0;
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            )
        };
        let mut fields = vec![
            text("eth.src", mac(src_mac)),
            text("eth.dst", mac(dst_mac)),
            num("eth.type", 0x0800u16),
        ];
        fields.extend(ip.fields);
        fields.extend(l2tp_fields);
        self.expected.push(Expected { what, fields });
    }

    /// (Ns, Nr) for the next control message from `dir`'s sender; a ZLB
    /// does not consume an Ns (§5.8).
    fn next_sequence(&mut self, dir: Dir, zlb: bool) -> Sequence {
        let (own, peer) = match dir {
            Dir::LacToLns => (&mut self.lac_ns, self.lns_ns),
            Dir::LnsToLac => (&mut self.lns_ns, self.lac_ns),
        };
        let seq = Sequence { ns: *own, nr: peer };
        if !zlb {
            *own += 1;
        }
        seq
    }

    /// A control message: Message Type then `avps`.
    fn control(&mut self, dir: Dir, tunnel: u16, session: u16, mt: MessageType, avps: &[Avp]) {
        self.message_types.push(mt);
        let seq = self.next_sequence(dir, false);
        let mut buf = vec![0u8; 1024];
        let mut b = ControlMessageBuilder::new(&mut buf, tunnel, session, seq.ns, seq.nr, Some(mt))
            .unwrap();
        let mut avp_fields = Vec::new();
        plain_avp_fields(&AvpValue::MessageType(mt), 2, &mut avp_fields);
        let mut random_vector: Option<&[u8]> = None;
        for avp in avps {
            match *avp {
                Avp::Plain(ref v) => {
                    if let AvpValue::RandomVector(rv) = *v {
                        random_vector = Some(rv);
                    }
                    b.push_value(v).unwrap();
                    plain_avp_fields(v, avp_value_len(v), &mut avp_fields);
                }
                Avp::Hidden(ref v, padding) => {
                    let rv = random_vector.expect("a Random Vector AVP precedes hidden AVPs");
                    b.push_hidden(v, SECRET, rv, padding).unwrap();
                    // §4.3: the hidden value is original length (2), value,
                    // padding. tshark shows only the AVP header of it.
                    avp_fields.push(flag("l2tp.avp.mandatory", mandatory(v)));
                    avp_fields.push(flag("l2tp.avp.hidden", true));
                    let len = 6 + 2 + avp_value_len(v) + padding.len();
                    avp_fields.push(num("l2tp.avp.length", len as u64));
                }
                Avp::LcpConfreq(attr, options) => {
                    let encoded = lcp_options(options);
                    let v = match attr {
                        AvpType::InitialReceivedLcpConfreq => {
                            AvpValue::InitialReceivedLcpConfreq(&encoded)
                        }
                        AvpType::LastSentLcpConfreq => AvpValue::LastSentLcpConfreq(&encoded),
                        AvpType::LastReceivedLcpConfreq => {
                            AvpValue::LastReceivedLcpConfreq(&encoded)
                        }
                        other => panic!("{other:?} does not carry LCP options"),
                    };
                    b.push_value(&v).unwrap();
                    plain_avp_fields(&v, encoded.len(), &mut avp_fields);
                    lcp_option_fields(options, &mut avp_fields);
                }
            }
        }
        let len = b.finish();
        buf.truncate(len);
        let mut fields = control_header_fields(len, tunnel, session, seq);
        fields.extend(avp_fields);
        self.push(dir, &buf, format!("{mt:?} {dir:?}"), fields);
    }

    /// A ZLB acknowledgement (§5.8).
    fn zlb(&mut self, dir: Dir, tunnel: u16) {
        let seq = self.next_sequence(dir, true);
        let mut buf = vec![0u8; 64];
        let len = ControlMessageBuilder::new(&mut buf, tunnel, 0, seq.ns, seq.nr, None)
            .unwrap()
            .finish();
        buf.truncate(len);
        assert_eq!(len, 12, "a ZLB is the control header alone");
        let fields = control_header_fields(len, tunnel, 0, seq);
        self.push(dir, &buf, format!("ZLB {dir:?}"), fields);
    }

    /// A data message carrying one PPP frame.
    fn data(
        &mut self,
        dir: Dir,
        call: Call,
        opts: DataOpts,
        header: PppHeader,
        packet: &PppPacket,
        what: &str,
    ) {
        self.protocols.push(packet.protocol);
        let (tunnel, session) = call.ids(dir);
        let sequence = opts.sequenced.then(|| {
            let ns = &mut self.data_ns[call as usize * 2 + dir as usize];
            *ns += 1;
            Sequence { ns: *ns - 1, nr: 0 }
        });
        let ppp = FrameRepr {
            address_control: header.address_control,
            protocol: packet.protocol,
            protocol_compressed: header.protocol_compressed,
        };
        let l2tp = HeaderRepr {
            length_present: opts.length,
            priority: opts.priority,
            sequence,
            offset_pad: opts.offset_pad,
            ..HeaderRepr::data(tunnel, session, ppp.header_len() + packet.bytes.len())
        };
        let mut msg = vec![0u8; l2tp.message_len()];
        l2tp.emit(&mut msg);
        let hl = l2tp.header_len();
        ppp.emit(&mut msg[hl..]);
        msg[hl + ppp.header_len()..].copy_from_slice(&packet.bytes);

        // RFC 2661 §3.1: flags/version (2), Length (2, with L), Tunnel and
        // Session IDs (4), Ns/Nr (4, with S), Offset Size (2, with O) + pad.
        let ppp_len = usize::from(header.address_control) * 2
            + if header.protocol_compressed { 1 } else { 2 }
            + packet.bytes.len();
        let header_len = 6
            + usize::from(opts.length) * 2
            + usize::from(opts.sequenced) * 4
            + opts.offset_pad.map_or(0, |p| 2 + p.len());
        let mut fields = vec![
            num("l2tp.type", 0u8),
            flag("l2tp.length_bit", opts.length),
            flag("l2tp.seq_bit", opts.sequenced),
            flag("l2tp.offset_bit", opts.offset_pad.is_some()),
            flag("l2tp.priority", opts.priority),
            num("l2tp.version", 2u8),
        ];
        if opts.length {
            fields.push(num("l2tp.length", (header_len + ppp_len) as u64));
        }
        fields.push(num("l2tp.tunnel", tunnel));
        fields.push(num("l2tp.session", session));
        if let Some(seq) = sequence {
            fields.push(num("l2tp.Ns", seq.ns));
            fields.push(num("l2tp.Nr", seq.nr));
        }
        if let Some(pad) = opts.offset_pad {
            fields.push(num("l2tp.offset", pad.len() as u64));
        }
        if header.address_control {
            fields.push(num("ppp.address", 0xffu8));
            fields.push(num("ppp.control", 0x03u8));
        }
        fields.push(num("ppp.protocol", u16::from(packet.protocol)));
        fields.extend(packet.fields.iter().cloned());
        assert_eq!(msg.len(), header_len + ppp_len, "{what}: message length");
        self.push(dir, &msg, format!("{what} {dir:?} {call:?}"), fields);
    }
}

/// The control header fields (T, L, S set; §3.1).
fn control_header_fields(len: usize, tunnel: u16, session: u16, seq: Sequence) -> Vec<Field> {
    vec![
        num("l2tp.type", 1u8),
        flag("l2tp.length_bit", true),
        flag("l2tp.seq_bit", true),
        flag("l2tp.offset_bit", false),
        flag("l2tp.priority", false),
        num("l2tp.version", 2u8),
        num("l2tp.length", len as u64),
        num("l2tp.tunnel", tunnel),
        num("l2tp.session", session),
        num("l2tp.Ns", seq.ns),
        num("l2tp.Nr", seq.nr),
    ]
}

/// The M bit of each AVP used here, from the §4.4 AVP definitions.
fn mandatory(v: &AvpValue<'_>) -> bool {
    use AvpValue as V;
    !matches!(
        v,
        V::TieBreaker(_)
            | V::FirmwareRevision(_)
            | V::VendorName(_)
            | V::PhysicalChannelId(_)
            | V::InitialReceivedLcpConfreq(_)
            | V::LastSentLcpConfreq(_)
            | V::LastReceivedLcpConfreq(_)
            | V::ProxyAuthenType(_)
            | V::ProxyAuthenName(_)
            | V::ProxyAuthenChallenge(_)
            | V::ProxyAuthenId { .. }
            | V::ProxyAuthenResponse(_)
            | V::PrivateGroupId(_)
            | V::RxConnectSpeed(_)
    )
}

/// Attribute Value length of each AVP used here, from §4.4.
fn avp_value_len(v: &AvpValue<'_>) -> usize {
    use AvpValue as V;
    match *v {
        V::SequencingRequired => 0,
        V::MessageType(_)
        | V::ProtocolVersion { .. }
        | V::FirmwareRevision(_)
        | V::AssignedTunnelId(_)
        | V::ReceiveWindowSize(_)
        | V::AssignedSessionId(_)
        | V::ProxyAuthenType(_)
        | V::ProxyAuthenId { .. } => 2,
        V::FramingCapabilities(_)
        | V::BearerCapabilities(_)
        | V::CallSerialNumber(_)
        | V::MinimumBps(_)
        | V::MaximumBps(_)
        | V::BearerType(_)
        | V::FramingType(_)
        | V::TxConnectSpeed(_)
        | V::PhysicalChannelId(_)
        | V::RxConnectSpeed(_) => 4,
        V::TieBreaker(_) => 8,
        V::Accm { .. } => 10,
        V::ChallengeResponse(_) => 16,
        V::CallErrors(_) => 26,
        V::ResultCode { error, message, .. } => {
            if error.is_some() {
                4 + message.len()
            } else {
                2
            }
        }
        V::Q931CauseCode { advisory, .. } => 3 + advisory.len(),
        V::HostName(s)
        | V::VendorName(s)
        | V::Challenge(s)
        | V::CalledNumber(s)
        | V::CallingNumber(s)
        | V::SubAddress(s)
        | V::ProxyAuthenName(s)
        | V::ProxyAuthenChallenge(s)
        | V::ProxyAuthenResponse(s)
        | V::RandomVector(s)
        | V::PrivateGroupId(s) => s.len(),
        ref other => panic!("{other:?}: length not written down here"),
    }
}

/// What tshark shows of a cleartext IETF AVP: its header and its value.
fn plain_avp_fields(v: &AvpValue<'_>, value_len: usize, f: &mut Vec<Field>) {
    use AvpValue as V;
    f.push(flag("l2tp.avp.mandatory", mandatory(v)));
    f.push(flag("l2tp.avp.hidden", false));
    f.push(num("l2tp.avp.length", (6 + value_len) as u64));
    f.push(num("l2tp.avp.type", v.attr_type()));
    match *v {
        V::MessageType(t) => f.push(num("l2tp.avp.message_type", u16::from(t))),
        V::ResultCode {
            result,
            error,
            message,
        } => {
            f.push(num("l2tp.result_code", result));
            if let Some(error) = error {
                f.push(num("l2tp.avp.error_code", error));
            }
            if !message.is_empty() {
                f.push(text("l2tp.avp.error_message", message));
            }
        }
        V::ProtocolVersion { version, revision } => {
            f.push(num("l2tp.avp.protocol_version", version));
            f.push(num("l2tp.avp.protocol_revision", revision));
        }
        V::FramingCapabilities(Framing(bits)) => {
            f.push(flag("l2tp.avp.async_framing_supported", bits & 2 != 0));
            f.push(flag("l2tp.avp.sync_framing_supported", bits & 1 != 0));
        }
        V::BearerCapabilities(Bearer(bits)) => {
            f.push(flag("l2tp.avp.analog_access_supported", bits & 2 != 0));
            f.push(flag("l2tp.avp.digital_access_supported", bits & 1 != 0));
        }
        V::TieBreaker(t) => f.push(num("l2tp.tie_breaker", t)),
        V::FirmwareRevision(r) => f.push(num("l2tp.avp.firmware_revision", r)),
        V::HostName(s) => f.push(text("l2tp.avp.host_name", s)),
        V::VendorName(s) => f.push(text("l2tp.avp.vendor_name", s)),
        V::AssignedTunnelId(id) => f.push(num("l2tp.avp.assigned_tunnel_id", id)),
        V::ReceiveWindowSize(w) => f.push(num("l2tp.avp.receive_window_size", w)),
        V::Challenge(c) => f.push(octets("l2tp.avp.chap_challenge", c)),
        V::Q931CauseCode {
            cause_code,
            cause_msg,
            advisory,
        } => {
            f.push(num("l2tp.avp.cause_code", cause_code));
            f.push(num("l2tp.avp.cause_msg", cause_msg));
            if !advisory.is_empty() {
                f.push(text("l2tp.avp.advisory_msg", advisory));
            }
        }
        V::ChallengeResponse(r) => f.push(octets("l2tp.avp.chap_challenge_response", r)),
        V::AssignedSessionId(id) => f.push(num("l2tp.avp.assigned_session_id", id)),
        V::CallSerialNumber(n) => f.push(num("l2tp.avp.call_serial_number", n)),
        V::MinimumBps(n) => f.push(num("l2tp.avp.minimum_bps", n)),
        V::MaximumBps(n) => f.push(num("l2tp.avp.maximum_bps", n)),
        V::BearerType(Bearer(bits)) => {
            f.push(flag("l2tp.avp.analog_bearer_type", bits & 2 != 0));
            f.push(flag("l2tp.avp.digital_bearer_type", bits & 1 != 0));
        }
        V::FramingType(Framing(bits)) => {
            f.push(flag("l2tp.avp.async_framing_type", bits & 2 != 0));
            f.push(flag("l2tp.avp.sync_framing_type", bits & 1 != 0));
        }
        V::CalledNumber(s) => f.push(text("l2tp.avp.called_number", s)),
        V::CallingNumber(s) => f.push(text("l2tp.avp.calling_number", s)),
        V::SubAddress(s) => f.push(text("l2tp.avp.sub_address", s)),
        V::TxConnectSpeed(n) => f.push(num("l2tp.avp.connect_speed", n)),
        V::PhysicalChannelId(n) => f.push(num("l2tp.avp.physical_channel", n)),
        V::InitialReceivedLcpConfreq(b) => {
            f.push(octets("l2tp.avp.initial_received_lcp_confreq", b))
        }
        V::LastSentLcpConfreq(b) => f.push(octets("l2tp.avp.last_sent_lcp_confreq", b)),
        V::LastReceivedLcpConfreq(b) => f.push(octets("l2tp.avp.last_received_lcp_confreq", b)),
        V::ProxyAuthenType(t) => f.push(num("l2tp.avp.proxy_authen_type", u16::from(t))),
        V::ProxyAuthenName(s) => f.push(text("l2tp.avp.proxy_authen_name", s)),
        V::ProxyAuthenChallenge(c) => f.push(octets("l2tp.avp.proxy_authen_challenge", c)),
        V::ProxyAuthenId { id, .. } => f.push(num("l2tp.avp.proxy_authen_id", id)),
        V::ProxyAuthenResponse(r) => f.push(octets("l2tp.avp.proxy_authen_response", r)),
        V::CallErrors(e) => {
            f.push(num("l2tp.avp.crc_errors", e.crc_errors));
            f.push(num("l2tp.avp.framing_errors", e.framing_errors));
            f.push(num("l2tp.avp.hardware_overruns", e.hardware_overruns));
            f.push(num("l2tp.avp.buffer_overruns", e.buffer_overruns));
            f.push(num("l2tp.avp.time_out_errors", e.timeout_errors));
            f.push(num("l2tp.avp.alignment_errors", e.alignment_errors));
        }
        V::Accm {
            send_accm,
            receive_accm,
            ..
        } => {
            f.push(num("l2tp.avp.send_accm", send_accm));
            f.push(num("l2tp.avp.receive_accm", receive_accm));
        }
        V::RandomVector(r) => f.push(octets("l2tp.avp.random_vector", r)),
        V::PrivateGroupId(p) => f.push(octets("l2tp.avp.private_group_id", p)),
        V::RxConnectSpeed(n) => f.push(num("l2tp.avp.rx_connect_speed", n)),
        V::SequencingRequired => {}
        V::Unknown { .. } => panic!("no vendor AVPs here"),
    }
}

// ---------------------------------------------------------------------------
// PPP packets

fn lcp_options(options: &[LcpOption<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let len = ppp::emit_options(options, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// LCP option fields, with Type and Length from RFC 1661 §6 and RFC 1994 §3;
/// returns the options' total length.
fn lcp_option_fields(options: &[LcpOption<'_>], f: &mut Vec<Field>) -> usize {
    let mut total = 0;
    for o in options {
        let (option_type, len) = match *o {
            LcpOption::MaximumReceiveUnit(mru) => {
                f.push(num("lcp.opt.mru", mru));
                (1u8, 4u8)
            }
            LcpOption::AsyncControlCharacterMap(map) => {
                f.push(num("lcp.opt.asyncmap", map));
                (2, 6)
            }
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(algorithm)) => {
                f.push(num("lcp.opt.auth_protocol", 0xc223u16));
                f.push(num("lcp.opt.algorithm", u8::from(algorithm)));
                (3, 5)
            }
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap) => {
                f.push(num("lcp.opt.auth_protocol", 0xc023u16));
                (3, 4)
            }
            LcpOption::MagicNumber(magic) => {
                f.push(num("lcp.opt.magic_number", magic));
                (5, 6)
            }
            LcpOption::ProtocolFieldCompression => (7, 2),
            LcpOption::AddressControlFieldCompression => (8, 2),
            ref other => panic!("{other:?} not written down here"),
        };
        f.push(num("lcp.opt.type", option_type));
        f.push(num("lcp.opt.length", len));
        total += usize::from(len);
    }
    total
}

/// IPCP option fields (RFC 1332 §3.3, RFC 1877 §1); returns their length.
fn ipcp_option_fields(options: &[IpcpOption<'_>], f: &mut Vec<Field>) -> usize {
    for o in options {
        let (option_type, name, addr) = match *o {
            IpcpOption::IpAddress(a) => (3u8, "ipcp.opt.ip_address", a),
            IpcpOption::PrimaryDns(a) => (129, "ipcp.opt.pri_dns_address", a),
            IpcpOption::SecondaryDns(a) => (131, "ipcp.opt.sec_dns_address", a),
            ref other => panic!("{other:?} not written down here"),
        };
        f.push(num("ipcp.opt.type", option_type));
        f.push(num("ipcp.opt.length", 6u8));
        f.push(text(name, addr.to_string()));
    }
    6 * options.len()
}

/// IPv6CP option fields (RFC 5072 §4.1); returns their length.
fn ipv6cp_option_fields(options: &[Ipv6cpOption<'_>], f: &mut Vec<Field>) -> usize {
    for o in options {
        let Ipv6cpOption::InterfaceIdentifier(iid) = *o else {
            panic!("{o:?} not written down here");
        };
        f.push(num("ipv6cp.opt.type", 1u8));
        f.push(num("ipv6cp.opt.length", 10u8));
        f.push(octets("ipv6cp.interface_identifier", &iid));
    }
    10 * options.len()
}

/// The Code, Identifier and Length of an LCP/NCP packet (RFC 1661 §5).
fn cp_header_fields(code: cp::Code, identifier: u8, len: usize) -> Vec<Field> {
    vec![
        num("ppp.code", u8::from(code)),
        num("ppp.identifier", identifier),
        num("ppp.length", len as u64),
    ]
}

fn configure_bytes<O: ppp::EmitOption>(code: cp::Code, identifier: u8, options: &[O]) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let len = ppp::emit_configure(code, identifier, options, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn lcp_configure(code: cp::Code, identifier: u8, options: &[LcpOption<'_>]) -> PppPacket {
    let bytes = configure_bytes(code, identifier, options);
    let mut opts = Vec::new();
    let len = 4 + lcp_option_fields(options, &mut opts);
    let mut fields = cp_header_fields(code, identifier, len);
    fields.extend(opts);
    PppPacket {
        protocol: Protocol::Lcp,
        bytes,
        fields,
    }
}

fn ipcp_configure(code: cp::Code, identifier: u8, options: &[IpcpOption<'_>]) -> PppPacket {
    let bytes = configure_bytes(code, identifier, options);
    let mut opts = Vec::new();
    let len = 4 + ipcp_option_fields(options, &mut opts);
    let mut fields = cp_header_fields(code, identifier, len);
    fields.extend(opts);
    PppPacket {
        protocol: Protocol::Ipcp,
        bytes,
        fields,
    }
}

fn ipv6cp_configure(code: cp::Code, identifier: u8, options: &[Ipv6cpOption<'_>]) -> PppPacket {
    let bytes = configure_bytes(code, identifier, options);
    let mut opts = Vec::new();
    let len = 4 + ipv6cp_option_fields(options, &mut opts);
    let mut fields = cp_header_fields(code, identifier, len);
    fields.extend(opts);
    PppPacket {
        protocol: Protocol::Ipv6cp,
        bytes,
        fields,
    }
}

/// A CCP Configure-Request offering Deflate (RFC 1979 §2.1: Type 26,
/// Length 4, window 15 / method 8, check method 0).
fn ccp_deflate_request(identifier: u8) -> PppPacket {
    let deflate = RawOption {
        option_type: 26,
        data: &[0x78, 0x00],
    };
    let bytes = configure_bytes(cp::Code::ConfigureRequest, identifier, &[deflate]);
    let mut fields = cp_header_fields(cp::Code::ConfigureRequest, identifier, 8);
    fields.push(num("ccp.opt.type", 26u8));
    fields.push(num("ccp.opt.length", 4u8));
    PppPacket {
        protocol: Protocol::Ccp,
        bytes,
        fields,
    }
}

/// An LCP packet other than Configure-* (RFC 1661 §5.5–5.9).
fn lcp(repr: cp::Repr<'_>, rejected: Option<&PppPacket>) -> PppPacket {
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit_into(&mut bytes).unwrap();
    let id = repr.identifier();
    let fields = match repr {
        cp::Repr::EchoRequest {
            magic_number, data, ..
        }
        | cp::Repr::EchoReply {
            magic_number, data, ..
        }
        | cp::Repr::DiscardRequest {
            magic_number, data, ..
        } => {
            let mut f = cp_header_fields(repr.code(), id, 8 + data.len());
            f.push(num("lcp.magic_number", magic_number));
            if !data.is_empty() {
                f.push(octets("lcp.data", data));
            }
            f
        }
        cp::Repr::TerminateRequest { data, .. } | cp::Repr::TerminateAck { data, .. } => {
            cp_header_fields(repr.code(), id, 4 + data.len())
        }
        cp::Repr::CodeReject {
            rejected_packet, ..
        } => cp_header_fields(cp::Code::CodeReject, id, 4 + rejected_packet.len()),
        cp::Repr::ProtocolReject {
            rejected_protocol,
            rejected_information,
            ..
        } => {
            let mut f =
                cp_header_fields(cp::Code::ProtocolReject, id, 6 + rejected_information.len());
            f.push(num("lcp.rej_proto", u16::from(rejected_protocol)));
            // tshark dissects the rejected packet with its protocol's dissector.
            let rejected = rejected.expect("the rejected packet's fields");
            assert_eq!(rejected.bytes, rejected_information);
            f.extend(rejected.fields.iter().cloned());
            f
        }
        ref other => panic!("{other:?} not written down here"),
    };
    PppPacket {
        protocol: Protocol::Lcp,
        bytes,
        fields,
    }
}

/// A PAP packet (RFC 1334 §2.2).
fn pap(repr: pap::Repr<'_>) -> PppPacket {
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit_into(&mut bytes).unwrap();
    let (code, identifier, len, mut rest) = match repr {
        pap::Repr::AuthenticateRequest {
            identifier,
            peer_id,
            password,
        } => (
            1u8,
            identifier,
            6 + peer_id.len() + password.len(),
            vec![
                num("pap.peer_id.length", peer_id.len() as u64),
                text("pap.peer_id", peer_id),
                num("pap.password.length", password.len() as u64),
                text("pap.password", password),
            ],
        ),
        pap::Repr::AuthenticateAck {
            identifier,
            message,
        } => (2, identifier, 5 + message.len(), pap_message(message)),
        pap::Repr::AuthenticateNak {
            identifier,
            message,
        } => (3, identifier, 5 + message.len(), pap_message(message)),
    };
    let mut fields = vec![
        num("pap.code", code),
        num("pap.identifier", identifier),
        num("pap.length", len as u64),
    ];
    fields.append(&mut rest);
    PppPacket {
        protocol: Protocol::Pap,
        bytes,
        fields,
    }
}

fn pap_message(message: &[u8]) -> Vec<Field> {
    vec![
        num("pap.message.length", message.len() as u64),
        text("pap.message", message),
    ]
}

/// A CHAP packet (RFC 1994 §4).
fn chap(repr: chap::Repr<'_>) -> PppPacket {
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit_into(&mut bytes).unwrap();
    let (code, identifier, len, rest) = match repr {
        chap::Repr::Challenge {
            identifier,
            value,
            name,
        }
        | chap::Repr::Response {
            identifier,
            value,
            name,
        } => (
            if matches!(repr, chap::Repr::Challenge { .. }) {
                1u8
            } else {
                2
            },
            identifier,
            5 + value.len() + name.len(),
            vec![
                num("chap.value_size", value.len() as u64),
                octets("chap.value", value),
                text("chap.name", name),
            ],
        ),
        chap::Repr::Success {
            identifier,
            message,
        } => (
            3,
            identifier,
            4 + message.len(),
            vec![text("chap.message", message)],
        ),
        chap::Repr::Failure {
            identifier,
            message,
        } => (
            4,
            identifier,
            4 + message.len(),
            vec![text("chap.message", message)],
        ),
    };
    let mut fields = vec![
        num("chap.code", code),
        num("chap.identifier", identifier),
        num("chap.length", len as u64),
    ];
    fields.extend(rest);
    PppPacket {
        protocol: Protocol::Chap,
        bytes,
        fields,
    }
}

// ---------------------------------------------------------------------------
// IP packets

/// An IP packet and what tshark must decode from it.
struct IpPacket {
    bytes: Vec<u8>,
    fields: Vec<Field>,
}

impl IpPacket {
    fn into_ppp(self, protocol: Protocol) -> PppPacket {
        PppPacket {
            protocol,
            bytes: self.bytes,
            fields: self.fields,
        }
    }
}

fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    protocol: IpProtocol,
    payload_len: usize,
) -> (ipv4::Repr<'static>, Vec<Field>) {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len,
        hop_limit: TTL,
        dscp_ecn: 0,
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: &[],
    };
    let fields = vec![
        text("ip.src", src.to_string()),
        text("ip.dst", dst.to_string()),
        num("ip.len", (20 + payload_len) as u64),
        num("ip.id", ident),
        flag("ip.flags.df", true),
        num("ip.ttl", TTL),
        num("ip.proto", u8::from(protocol)),
        num("ip.checksum.status", 1u8),
    ];
    (repr, fields)
}

fn udp_fields(src_port: u16, dst_port: u16, payload_len: usize) -> Vec<Field> {
    vec![
        num("udp.srcport", src_port),
        num("udp.dstport", dst_port),
        num("udp.length", (8 + payload_len) as u64),
        num("udp.checksum.status", 1u8),
    ]
}

/// An IPv4/UDP datagram with both checksums computed.
fn ipv4_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> IpPacket {
    let udp = udp::Repr {
        src_port,
        dst_port,
        payload_len: payload.len(),
        checksum: udp::Checksum::Compute,
    };
    let (ip, mut fields) = ipv4_header(src, dst, ident, IpProtocol::Udp, udp.buffer_len());
    let mut buf = vec![0u8; ip.buffer_len()];
    let mut packet = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut packet);
    udp.emit(
        &mut udp::Packet::new_unchecked(packet.payload_mut()),
        IpAddr::V4(src),
        IpAddr::V4(dst),
        |p| p.copy_from_slice(payload),
    );
    fields.extend(udp_fields(src_port, dst_port, payload.len()));
    IpPacket { bytes: buf, fields }
}

/// An IPv4 ICMP echo request or reply with both checksums computed.
fn ipv4_icmp(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, icmp: icmpv4::Repr<'_>) -> IpPacket {
    let (ip, mut fields) = ipv4_header(src, dst, ident, IpProtocol::Icmp, icmp.buffer_len());
    let mut buf = vec![0u8; ip.buffer_len()];
    let mut packet = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut packet);
    icmp.emit(&mut icmpv4::Packet::new_unchecked(packet.payload_mut()));
    let (icmp_type, echo_ident, seq_no) = match icmp {
        icmpv4::Repr::EchoRequest { ident, seq_no, .. } => (8u8, ident, seq_no),
        icmpv4::Repr::EchoReply { ident, seq_no, .. } => (0, ident, seq_no),
        other => panic!("{other:?} not written down here"),
    };
    fields.extend([
        num("icmp.type", icmp_type),
        num("icmp.code", 0u8),
        num("icmp.ident", echo_ident),
        num("icmp.seq", seq_no),
        num("icmp.checksum.status", 1u8),
    ]);
    IpPacket { bytes: buf, fields }
}

/// An IPv6/UDP packet with the UDP checksum computed.
fn ipv6_udp(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> IpPacket {
    const FLOW: u32 = 0x2_3456;
    let udp = udp::Repr {
        src_port,
        dst_port,
        payload_len: payload.len(),
        checksum: udp::Checksum::Compute,
    };
    let ip = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.buffer_len(),
        hop_limit: TTL,
        traffic_class: 0,
        flow_label: FLOW,
    };
    let mut buf = vec![0u8; ip.buffer_len()];
    let mut packet = ipv6::Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut packet);
    udp.emit(
        &mut udp::Packet::new_unchecked(packet.payload_mut()),
        IpAddr::V6(src),
        IpAddr::V6(dst),
        |p| p.copy_from_slice(payload),
    );
    let mut fields = vec![
        text("ipv6.src", src.to_string()),
        text("ipv6.dst", dst.to_string()),
        num("ipv6.plen", (8 + payload.len()) as u64),
        num("ipv6.nxt", 17u8),
        num("ipv6.hlim", TTL),
        num("ipv6.flow", FLOW),
    ];
    fields.extend(udp_fields(src_port, dst_port, payload.len()));
    IpPacket { bytes: buf, fields }
}

// ---------------------------------------------------------------------------
// The life cycle

/// The response of §5.1.1: MD5 over the Message Type (as CHAP's one-octet
/// Identifier), the secret and the challenge.
fn tunnel_response(mt: MessageType, challenge: &[u8]) -> [u8; 16] {
    ppp::chap_md5_response(u16::from(mt) as u8, SECRET, challenge)
}

/// Builds the whole capture.
fn build_trace() -> Trace {
    use Dir::{LacToLns, LnsToLac};
    use MessageType as M;
    let mut t = Trace::default();

    // Tunnel establishment (§5.1), both ends authenticating (§5.1.1).
    let lac_challenge = *b"\x8c\x19\x04\xe3\x5a\x7d\x22\x90\x41\xbe\x0f\x66\xd1\x38\xa2\x7c";
    let lns_challenge = *b"\x13\xf2\x6e\x09\xcb\x55\x80\x3a\x97\x21\xed\x4c\x06\xb8\x71\x2f";
    let sccrp_response = tunnel_response(M::Sccrp, &lac_challenge);
    let scccn_response = tunnel_response(M::Scccn, &lns_challenge);
    t.control(
        LacToLns,
        0,
        0,
        M::Sccrq,
        &[
            Avp::Plain(AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            }),
            Avp::Plain(AvpValue::HostName(b"lac.example.net")),
            Avp::Plain(AvpValue::FramingCapabilities(Framing(
                Framing::SYNC | Framing::ASYNC,
            ))),
            Avp::Plain(AvpValue::BearerCapabilities(Bearer(
                Bearer::DIGITAL | Bearer::ANALOG,
            ))),
            Avp::Plain(AvpValue::TieBreaker(0x0123_4567_89ab_cdef)),
            Avp::Plain(AvpValue::FirmwareRevision(0x0102)),
            Avp::Plain(AvpValue::VendorName(b"l2tpx oracle LAC")),
            Avp::Plain(AvpValue::AssignedTunnelId(LAC_TUNNEL)),
            Avp::Plain(AvpValue::ReceiveWindowSize(4)),
            Avp::Plain(AvpValue::Challenge(&lac_challenge)),
        ],
    );
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        0,
        M::Sccrp,
        &[
            Avp::Plain(AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            }),
            Avp::Plain(AvpValue::FramingCapabilities(Framing(
                Framing::SYNC | Framing::ASYNC,
            ))),
            Avp::Plain(AvpValue::BearerCapabilities(Bearer(0))),
            Avp::Plain(AvpValue::FirmwareRevision(0x0001)),
            Avp::Plain(AvpValue::HostName(b"lns.example.net")),
            Avp::Plain(AvpValue::VendorName(b"l2tpx")),
            Avp::Plain(AvpValue::AssignedTunnelId(LNS_TUNNEL)),
            Avp::Plain(AvpValue::ReceiveWindowSize(16)),
            Avp::Plain(AvpValue::Challenge(&lns_challenge)),
            Avp::Plain(AvpValue::ChallengeResponse(&sccrp_response)),
        ],
    );
    t.control(
        LacToLns,
        LNS_TUNNEL,
        0,
        M::Scccn,
        &[Avp::Plain(AvpValue::ChallengeResponse(&scccn_response))],
    );
    t.zlb(LnsToLac, LAC_TUNNEL);
    t.control(LnsToLac, LAC_TUNNEL, 0, M::Hello, &[]);
    t.zlb(LacToLns, LNS_TUNNEL);

    // Incoming call (§5.4.2), hiding the numbers (§4.3).
    t.control(
        LacToLns,
        LNS_TUNNEL,
        0,
        M::Icrq,
        &[
            Avp::Plain(AvpValue::RandomVector(
                b"\x6a\x1e\x93\x02\xfb\x47\xc0\x58\x2d\x91\x7e\x34\xa5\x0b\xd6\x19",
            )),
            Avp::Plain(AvpValue::AssignedSessionId(LAC_SESSION)),
            Avp::Plain(AvpValue::CallSerialNumber(0x0000_1001)),
            Avp::Plain(AvpValue::BearerType(Bearer(Bearer::ANALOG))),
            Avp::Plain(AvpValue::PhysicalChannelId(3)),
            Avp::Hidden(AvpValue::CallingNumber(b"5551234"), b"\x3c\x9a\x51"),
            Avp::Hidden(AvpValue::CalledNumber(b"5550100"), b""),
            Avp::Plain(AvpValue::SubAddress(b"12")),
        ],
    );
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        LAC_SESSION,
        M::Icrp,
        &[Avp::Plain(AvpValue::AssignedSessionId(LNS_SESSION))],
    );
    // The LAC's proxy LCP and proxy CHAP with the PPP peer (§4.4.5), the
    // name and response hidden.
    let peer_confreq = [
        LcpOption::MaximumReceiveUnit(1492),
        LcpOption::MagicNumber(PEER_MAGIC),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ];
    let lac_confreq = [
        LcpOption::MaximumReceiveUnit(1460),
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(chap::Algorithm::Md5)),
        LcpOption::MagicNumber(LAC_PROXY_MAGIC),
    ];
    let proxy_challenge = *b"\x51\x0e\xa7\x3b\x92\x64\xc8\x1d\xf0\x2a\x85\x4e\x37\xbb\x69\x03";
    let proxy_response = ppp::chap_md5_response(1, b"user-password", &proxy_challenge);
    t.control(
        LacToLns,
        LNS_TUNNEL,
        LNS_SESSION,
        M::Iccn,
        &[
            Avp::Plain(AvpValue::TxConnectSpeed(1_000_000)),
            Avp::Plain(AvpValue::FramingType(Framing(Framing::SYNC))),
            Avp::Plain(AvpValue::RxConnectSpeed(2_000_000)),
            Avp::LcpConfreq(AvpType::InitialReceivedLcpConfreq, &peer_confreq),
            Avp::LcpConfreq(AvpType::LastSentLcpConfreq, &lac_confreq),
            Avp::LcpConfreq(AvpType::LastReceivedLcpConfreq, &peer_confreq),
            Avp::Plain(AvpValue::ProxyAuthenType(ProxyAuthenType::Chap)),
            Avp::Plain(AvpValue::RandomVector(
                b"\xe2\x05\x7c\x4f\x18\xab\x63\xd0\x9e\x21\x46\xf8\x0c\x75\xba\x33\x8d\x12",
            )),
            Avp::Hidden(AvpValue::ProxyAuthenName(b"user@example.net"), b"\x00\x00"),
            Avp::Plain(AvpValue::ProxyAuthenChallenge(&proxy_challenge)),
            Avp::Plain(AvpValue::ProxyAuthenId { reserved: 0, id: 1 }),
            Avp::Hidden(AvpValue::ProxyAuthenResponse(&proxy_response), b""),
            Avp::Plain(AvpValue::PrivateGroupId(b"corp-vpn")),
        ],
    );
    t.zlb(LnsToLac, LAC_TUNNEL);

    incoming_call_link_setup(&mut t);
    // The LNS tells the LAC the ACCMs (§6.14): the peer rejected the ACCM
    // option, so both stay at the default.
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        LAC_SESSION,
        M::Sli,
        &[Avp::Plain(AvpValue::Accm {
            reserved: 0,
            send_accm: 0xffff_ffff,
            receive_accm: 0xffff_ffff,
        })],
    );
    t.zlb(LacToLns, LNS_TUNNEL);
    incoming_call_network(&mut t);
    // The LAC reports the errors it counted on the call (§6.13).
    t.control(
        LacToLns,
        LNS_TUNNEL,
        LNS_SESSION,
        M::Wen,
        &[Avp::Plain(AvpValue::CallErrors(CallErrors {
            reserved: 0,
            crc_errors: 3,
            framing_errors: 1,
            hardware_overruns: 0,
            buffer_overruns: 2,
            timeout_errors: 0,
            alignment_errors: 5,
        }))],
    );
    t.zlb(LnsToLac, LAC_TUNNEL);
    incoming_call_terminate(&mut t);

    // Outgoing call (§5.4.1), with data sequencing required.
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        0,
        M::Ocrq,
        &[
            Avp::Plain(AvpValue::AssignedSessionId(LNS_OC_SESSION)),
            Avp::Plain(AvpValue::CallSerialNumber(0x0000_2001)),
            Avp::Plain(AvpValue::MinimumBps(9_600)),
            Avp::Plain(AvpValue::MaximumBps(2_048_000)),
            Avp::Plain(AvpValue::BearerType(Bearer(Bearer::DIGITAL))),
            Avp::Plain(AvpValue::FramingType(Framing(Framing::SYNC))),
            Avp::Plain(AvpValue::CalledNumber(b"5550199")),
            Avp::Plain(AvpValue::SubAddress(b"7")),
        ],
    );
    t.control(
        LacToLns,
        LNS_TUNNEL,
        LNS_OC_SESSION,
        M::Ocrp,
        &[
            Avp::Plain(AvpValue::AssignedSessionId(LAC_OC_SESSION)),
            Avp::Plain(AvpValue::PhysicalChannelId(7)),
        ],
    );
    t.control(
        LacToLns,
        LNS_TUNNEL,
        LNS_OC_SESSION,
        M::Occn,
        &[
            Avp::Plain(AvpValue::TxConnectSpeed(64_000)),
            Avp::Plain(AvpValue::FramingType(Framing(Framing::SYNC))),
            Avp::Plain(AvpValue::RxConnectSpeed(64_000)),
            Avp::Plain(AvpValue::SequencingRequired),
        ],
    );
    t.zlb(LnsToLac, LAC_TUNNEL);
    outgoing_call_ppp(&mut t);

    // Teardown (§5.7, §5.5).
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        LAC_OC_SESSION,
        M::Cdn,
        &[
            Avp::Plain(AvpValue::ResultCode {
                result: CdnResult::Administrative.into(),
                error: Some(ErrorCode::NoError.into()),
                message: b"administrative disconnect",
            }),
            Avp::Plain(AvpValue::AssignedSessionId(LNS_OC_SESSION)),
        ],
    );
    t.zlb(LacToLns, LNS_TUNNEL);
    t.control(
        LacToLns,
        LNS_TUNNEL,
        LNS_SESSION,
        M::Cdn,
        &[
            Avp::Plain(AvpValue::ResultCode {
                result: CdnResult::LostCarrier.into(),
                error: Some(ErrorCode::NoError.into()),
                message: b"peer hung up",
            }),
            Avp::Plain(AvpValue::AssignedSessionId(LAC_SESSION)),
            // Q.931 cause 16, normal call clearing, in a DISCONNECT (0x45).
            Avp::Plain(AvpValue::Q931CauseCode {
                cause_code: 16,
                cause_msg: 0x45,
                advisory: b"normal clearing",
            }),
        ],
    );
    t.zlb(LnsToLac, LAC_TUNNEL);
    t.control(
        LnsToLac,
        LAC_TUNNEL,
        0,
        M::StopCcn,
        &[
            Avp::Plain(AvpValue::AssignedTunnelId(LNS_TUNNEL)),
            Avp::Plain(AvpValue::ResultCode {
                result: StopCcnResult::ShuttingDown.into(),
                error: Some(ErrorCode::NoError.into()),
                message: b"LNS shutting down",
            }),
        ],
    );
    t.zlb(LacToLns, LNS_TUNNEL);
    t
}

/// The incoming call's PPP link set-up (no L2TP sequencing): LCP
/// negotiation through a Reject and a Nak, then CHAP, failing once.
fn incoming_call_link_setup(t: &mut Trace) {
    use cp::Code as C;
    use Dir::{LacToLns, LnsToLac};
    let call = Call::Incoming;
    let plain = DataOpts::default();
    let with_length = DataOpts {
        length: true,
        ..plain
    };
    let chap_md5 =
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(chap::Algorithm::Md5));

    // LCP (RFC 1661 §5.1–5.4): the peer rejects the ACCM, naks the MRU.
    let lns_req1 = [
        LcpOption::MaximumReceiveUnit(1460),
        LcpOption::AsyncControlCharacterMap(0),
        chap_md5,
        LcpOption::MagicNumber(LNS_MAGIC),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ];
    let peer_req = [
        LcpOption::MaximumReceiveUnit(1492),
        LcpOption::MagicNumber(PEER_MAGIC),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ];
    let lns_req2 = [
        LcpOption::MaximumReceiveUnit(1460),
        chap_md5,
        LcpOption::MagicNumber(LNS_MAGIC),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ];
    let lns_req3 = [
        LcpOption::MaximumReceiveUnit(1400),
        chap_md5,
        LcpOption::MagicNumber(LNS_MAGIC),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ];
    let steps: [(Dir, DataOpts, PppPacket, &str); 8] = [
        (
            LnsToLac,
            with_length,
            lcp_configure(C::ConfigureRequest, 1, &lns_req1),
            "LCP Configure-Request",
        ),
        (
            LacToLns,
            plain,
            lcp_configure(C::ConfigureRequest, 1, &peer_req),
            "LCP Configure-Request",
        ),
        (
            LacToLns,
            plain,
            lcp_configure(
                C::ConfigureReject,
                1,
                &[LcpOption::AsyncControlCharacterMap(0)],
            ),
            "LCP Configure-Reject",
        ),
        (
            LnsToLac,
            with_length,
            lcp_configure(C::ConfigureRequest, 2, &lns_req2),
            "LCP Configure-Request",
        ),
        (
            LacToLns,
            plain,
            lcp_configure(C::ConfigureNak, 2, &[LcpOption::MaximumReceiveUnit(1400)]),
            "LCP Configure-Nak",
        ),
        (
            LnsToLac,
            with_length,
            lcp_configure(C::ConfigureRequest, 3, &lns_req3),
            "LCP Configure-Request",
        ),
        (
            LacToLns,
            plain,
            lcp_configure(C::ConfigureAck, 3, &lns_req3),
            "LCP Configure-Ack",
        ),
        (
            LnsToLac,
            with_length,
            lcp_configure(C::ConfigureAck, 1, &peer_req),
            "LCP Configure-Ack",
        ),
    ];
    for (dir, opts, packet, what) in &steps {
        t.data(*dir, call, *opts, PPP_FULL, packet, what);
    }

    // CHAP (RFC 1994): a wrong secret, then the right one.
    let challenges = [
        *b"\x2b\x8e\x41\xd7\x06\xf3\x9a\x55\xc1\x7d\x30\xe8\x14\xb6\x6f\x92",
        *b"\xa0\x3f\x7b\x19\xe4\x52\x0d\xc6\x88\x2e\x97\x41\xfd\x63\x1a\xb5",
    ];
    for (i, challenge) in challenges.iter().enumerate() {
        let id = i as u8 + 1;
        let ok = i == 1;
        let challenge = chap(chap::Repr::Challenge {
            identifier: id,
            value: challenge,
            name: b"lns.example.net",
        });
        t.data(
            LnsToLac,
            call,
            plain,
            PPP_FULL,
            &challenge,
            "CHAP Challenge",
        );
        let secret: &[u8] = if ok {
            b"user-password"
        } else {
            b"wrong-password"
        };
        let value = ppp::chap_md5_response(id, secret, &challenges[i]);
        let response = chap(chap::Repr::Response {
            identifier: id,
            value: &value,
            name: b"user@example.net",
        });
        t.data(LacToLns, call, plain, PPP_FULL, &response, "CHAP Response");
        let result = if ok {
            chap(chap::Repr::Success {
                identifier: id,
                message: b"Welcome",
            })
        } else {
            chap(chap::Repr::Failure {
                identifier: id,
                message: b"E=691 R=1 bad secret",
            })
        };
        t.data(LnsToLac, call, plain, PPP_FULL, &result, "CHAP result");
    }
}

/// The incoming call's network phase: IPCP, IPv6CP, IPv4 and IPv6 both
/// ways, LCP maintenance. The peer negotiated ACFC and PFC.
fn incoming_call_network(t: &mut Trace) {
    use cp::Code as C;
    use Dir::{LacToLns, LnsToLac};
    let call = Call::Incoming;
    let plain = DataOpts::default();

    // IPCP (RFC 1332, RFC 1877).
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let peer_ask = [
        IpcpOption::IpAddress(unspecified),
        IpcpOption::PrimaryDns(unspecified),
        IpcpOption::SecondaryDns(unspecified),
    ];
    let peer_given = [
        IpcpOption::IpAddress(PEER_IP),
        IpcpOption::PrimaryDns(DNS1),
        IpcpOption::SecondaryDns(DNS2),
    ];
    let lns_own = [IpcpOption::IpAddress(LNS_PPP_IP)];
    let ipcp = [
        (LacToLns, ipcp_configure(C::ConfigureRequest, 1, &peer_ask)),
        (LnsToLac, ipcp_configure(C::ConfigureRequest, 1, &lns_own)),
        (LnsToLac, ipcp_configure(C::ConfigureNak, 1, &peer_given)),
        (LacToLns, ipcp_configure(C::ConfigureAck, 1, &lns_own)),
        (
            LacToLns,
            ipcp_configure(C::ConfigureRequest, 2, &peer_given),
        ),
        (LnsToLac, ipcp_configure(C::ConfigureAck, 2, &peer_given)),
    ];
    for (dir, packet) in &ipcp {
        t.data(*dir, call, plain, PPP_ACFC, packet, "IPCP");
    }

    // IPv6CP (RFC 5072).
    let peer_iid = [Ipv6cpOption::InterfaceIdentifier([
        0x02, 0x1a, 0x2b, 0xff, 0xfe, 0x3c, 0x4d, 0x5e,
    ])];
    let lns_iid = [Ipv6cpOption::InterfaceIdentifier([
        0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x00, 0x01,
    ])];
    let ipv6cp = [
        (
            LacToLns,
            ipv6cp_configure(C::ConfigureRequest, 1, &peer_iid),
        ),
        (LnsToLac, ipv6cp_configure(C::ConfigureRequest, 1, &lns_iid)),
        (LnsToLac, ipv6cp_configure(C::ConfigureAck, 1, &peer_iid)),
        (LacToLns, ipv6cp_configure(C::ConfigureAck, 1, &lns_iid)),
    ];
    for (dir, packet) in &ipv6cp {
        t.data(*dir, call, plain, PPP_FULL, packet, "IPv6CP");
    }

    // IPv4: an ICMP echo both ways, then UDP, over every L2TP and PPP
    // header variant.
    let ping = b"l2tpx tshark oracle ping payload";
    let request = icmpv4::Repr::EchoRequest {
        ident: 0x4c32,
        seq_no: 1,
        data: ping,
    };
    let reply = icmpv4::Repr::EchoReply {
        ident: 0x4c32,
        seq_no: 1,
        data: ping,
    };
    t.data(
        LacToLns,
        call,
        DataOpts {
            length: true,
            ..plain
        },
        PPP_FULL,
        &ipv4_icmp(PEER_IP, LNS_PPP_IP, 0x1c46, request).into_ppp(Protocol::Ipv4),
        "IPv4 ICMP Echo Request",
    );
    t.data(
        LnsToLac,
        call,
        plain,
        PPP_ACFC_PFC,
        &ipv4_icmp(LNS_PPP_IP, PEER_IP, 0x8a01, reply).into_ppp(Protocol::Ipv4),
        "IPv4 ICMP Echo Reply",
    );
    t.data(
        LacToLns,
        call,
        DataOpts {
            offset_pad: Some(&[0, 0, 0, 0]),
            ..plain
        },
        PPP_ACFC_PFC,
        &ipv4_udp(PEER_IP, LNS_PPP_IP, 0x1c47, 50_000, 9, b"discard me please")
            .into_ppp(Protocol::Ipv4),
        "IPv4 UDP, Offset",
    );
    t.data(
        LacToLns,
        call,
        DataOpts {
            length: true,
            offset_pad: Some(&[]),
            ..plain
        },
        PPP_PFC,
        &ipv4_udp(PEER_IP, LNS_PPP_IP, 0x1c48, 50_000, 9, b"and me too").into_ppp(Protocol::Ipv4),
        "IPv4 UDP, Length and empty Offset",
    );

    // IPv6 UDP both ways.
    t.data(
        LacToLns,
        call,
        DataOpts {
            length: true,
            ..plain
        },
        PPP_FULL,
        &ipv6_udp(PEER_IP6, LNS_IP6, 50_001, 9, b"ipv6 over l2tp").into_ppp(Protocol::Ipv6),
        "IPv6 UDP",
    );
    t.data(
        LnsToLac,
        call,
        plain,
        PPP_ACFC_PFC,
        &ipv6_udp(LNS_IP6, PEER_IP6, 9, 50_001, b"ipv6 reply").into_ppp(Protocol::Ipv6),
        "IPv6 UDP",
    );

    // LCP maintenance: echo with the Priority bit (RFC 2661 §3.1 names LCP
    // echoes as its use), discard, and rejections of an unknown code and of
    // CCP, which the LNS does not run.
    let priority = DataOpts {
        priority: true,
        ..plain
    };
    let echo_request = lcp(
        cp::Repr::EchoRequest {
            identifier: 0x20,
            magic_number: LNS_MAGIC,
            data: b"",
        },
        None,
    );
    t.data(
        LnsToLac,
        call,
        priority,
        PPP_FULL,
        &echo_request,
        "LCP Echo-Request",
    );
    let echo_reply = lcp(
        cp::Repr::EchoReply {
            identifier: 0x20,
            magic_number: PEER_MAGIC,
            data: b"",
        },
        None,
    );
    t.data(
        LacToLns,
        call,
        priority,
        PPP_FULL,
        &echo_reply,
        "LCP Echo-Reply",
    );
    let discard = lcp(
        cp::Repr::DiscardRequest {
            identifier: 0x21,
            magic_number: PEER_MAGIC,
            data: b"line test",
        },
        None,
    );
    t.data(
        LacToLns,
        call,
        plain,
        PPP_FULL,
        &discard,
        "LCP Discard-Request",
    );
    let mut unknown_code = vec![0u8; 8];
    cp::Repr::Unknown {
        code: 0x30,
        identifier: 0x22,
        data: b"\x01\x02\x03\x04",
    }
    .emit_into(&mut unknown_code)
    .unwrap();
    let code_reject = lcp(
        cp::Repr::CodeReject {
            identifier: 0x23,
            rejected_packet: &unknown_code,
        },
        None,
    );
    t.data(
        LnsToLac,
        call,
        plain,
        PPP_FULL,
        &code_reject,
        "LCP Code-Reject",
    );
    let ccp_request = ccp_deflate_request(1);
    t.data(
        LacToLns,
        call,
        plain,
        PPP_FULL,
        &ccp_request,
        "CCP Configure-Request",
    );
    let protocol_reject = lcp(
        cp::Repr::ProtocolReject {
            identifier: 0x24,
            rejected_protocol: Protocol::Ccp,
            rejected_information: &ccp_request.bytes,
        },
        Some(&ccp_request),
    );
    t.data(
        LnsToLac,
        call,
        plain,
        PPP_FULL,
        &protocol_reject,
        "LCP Protocol-Reject",
    );
}

/// The incoming call's LCP termination (RFC 1661 §5.5).
fn incoming_call_terminate(t: &mut Trace) {
    let plain = DataOpts::default();
    let request = lcp(
        cp::Repr::TerminateRequest {
            identifier: 0x25,
            data: b"User request",
        },
        None,
    );
    let ack = lcp(
        cp::Repr::TerminateAck {
            identifier: 0x25,
            data: b"",
        },
        None,
    );
    t.data(
        Dir::LnsToLac,
        Call::Incoming,
        plain,
        PPP_FULL,
        &request,
        "LCP Terminate-Request",
    );
    t.data(
        Dir::LacToLns,
        Call::Incoming,
        plain,
        PPP_FULL,
        &ack,
        "LCP Terminate-Ack",
    );
}

/// The outgoing call's PAP (RFC 1334), refused then accepted. Sequencing
/// Required was in the OCCN: every data message has Ns/Nr (§5.4).
fn outgoing_call_ppp(t: &mut Trace) {
    use Dir::{LacToLns, LnsToLac};
    let call = Call::Outgoing;
    let with_length = DataOpts {
        length: true,
        sequenced: true,
        ..DataOpts::default()
    };
    let without_length = DataOpts {
        length: false,
        ..with_length
    };
    for (id, password, ok) in [(1u8, &b"wrong"[..], false), (2, b"user-password", true)] {
        let request = pap(pap::Repr::AuthenticateRequest {
            identifier: id,
            peer_id: b"user@example.net",
            password,
        });
        t.data(
            LacToLns,
            call,
            with_length,
            PPP_FULL,
            &request,
            "PAP Authenticate-Request",
        );
        let result = if ok {
            pap(pap::Repr::AuthenticateAck {
                identifier: id,
                message: b"Login ok",
            })
        } else {
            pap(pap::Repr::AuthenticateNak {
                identifier: id,
                message: b"Login incorrect",
            })
        };
        t.data(
            LnsToLac,
            call,
            without_length,
            PPP_FULL,
            &result,
            "PAP result",
        );
    }
}

// ---------------------------------------------------------------------------
// Running tshark

/// The pcap, removed when dropped (kept if `L2TPX_KEEP_PCAP` is set).
struct TempPcap(PathBuf);

impl Drop for TempPcap {
    fn drop(&mut self) {
        if std::env::var_os("L2TPX_KEEP_PCAP").is_some() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Runs tshark on the capture: numeric output, UDP 1701 as L2TP, IP and UDP
/// checksums verified (a wrong one is then an expert error, and
/// `*.checksum.status` is 1 for a good one).
fn tshark(pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-d", "udp.port==1701,l2tp"])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

#[test]
fn tshark_decodes_what_the_wire_crate_emits() {
    if !tshark_available() {
        eprintln!("SKIPPED: tshark is not installed, so the tshark oracle did not run");
        return;
    }
    let trace = build_trace();

    // The trace covers what it should.
    use MessageType as M;
    for mt in [
        M::Sccrq,
        M::Sccrp,
        M::Scccn,
        M::StopCcn,
        M::Hello,
        M::Ocrq,
        M::Ocrp,
        M::Occn,
        M::Icrq,
        M::Icrp,
        M::Iccn,
        M::Cdn,
        M::Wen,
        M::Sli,
    ] {
        assert!(trace.message_types.contains(&mt), "no {mt:?} in the trace");
    }
    for p in [
        Protocol::Lcp,
        Protocol::Pap,
        Protocol::Chap,
        Protocol::Ipcp,
        Protocol::Ipv6cp,
        Protocol::Ipv4,
        Protocol::Ipv6,
    ] {
        assert!(trace.protocols.contains(&p), "no {p:?} in the trace");
    }

    let pcap = TempPcap(
        std::env::temp_dir().join(format!("l2tpx-tshark-oracle-{}.pcap", std::process::id())),
    );
    write_ethernet_pcap(&pcap.0, &trace.frames).expect("write pcap");

    // 1. Nothing malformed, no expert info of severity Warning or above.
    let bad_filter = r#"_ws.malformed || _ws.expert.severity >= "Warning""#;
    let bad = tshark(
        &pcap.0,
        &["-Y", bad_filter, "-T", "fields", "-e", "frame.number"],
    );
    if !bad.trim().is_empty() {
        let verbose = tshark(&pcap.0, &["-Y", bad_filter, "-V"]);
        panic!(
            "tshark flags frames {:?}:\n{verbose}",
            bad.split_whitespace().collect::<Vec<_>>()
        );
    }

    // 2. Every field, on every frame, as emitted.
    let mut columns: BTreeMap<&str, Kind> = BTreeMap::new();
    for f in trace.expected.iter().flat_map(|e| &e.fields) {
        let kind = *columns.entry(f.name).or_insert(f.kind);
        assert_eq!(kind, f.kind, "{} has one kind", f.name);
    }
    let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"];
    for name in columns.keys() {
        args.extend(["-e", name]);
    }
    let out = tshark(&pcap.0, &args);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), trace.frames.len(), "one line per frame");
    let mut disagreements = Vec::new();
    for (i, (row, exp)) in rows.iter().zip(&trace.expected).enumerate() {
        let got: Vec<&str> = row.split('\t').collect();
        assert_eq!(got.len(), columns.len(), "frame {}: {row:?}", i + 1);
        for ((&name, &kind), got) in columns.iter().zip(got) {
            let got = if got.is_empty() {
                String::new()
            } else if kind == Kind::Text {
                got.to_owned()
            } else {
                let parts: Vec<String> = got.split(',').map(|g| normalise(kind, name, g)).collect();
                parts.join(",")
            };
            let want: Vec<&str> = exp
                .fields
                .iter()
                .filter(|f| f.name == name)
                .map(|f| f.value.as_str())
                .collect();
            let want = want.join(",");
            if got != want {
                disagreements.push(format!(
                    "frame {} ({}): {name} is {got:?}, emitted {want:?}",
                    i + 1,
                    exp.what
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "tshark decodes {} field(s) otherwise than emitted:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
