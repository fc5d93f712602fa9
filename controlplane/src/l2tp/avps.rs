//! Decoding a control message's AVPs into an owned summary (hidden ones
//! revealed), and encoding ours (hidden ones hidden).

use l2tpx_wire::l2tp::{
    AvpIter, AvpType, AvpValue, CallErrors, MessageType, AVP_HEADER_LEN, AVP_MAX_LEN,
};
use md5::{Digest, Md5};

use super::events::{ProxyAvps, Q931Cause};
use super::ids::RandomSource;

/// A Result Code AVP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResultAvp {
    pub result: u16,
    pub error: Option<u16>,
    pub message: Vec<u8>,
}

/// The AVPs of one received control message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Avps {
    /// `None`: ZLB, or a Message Type we do not know.
    pub msg_type: Option<MessageType>,
    /// The raw Message Type value and its M bit.
    pub raw_type: u16,
    pub type_mandatory: bool,
    pub result: Option<ResultAvp>,
    pub protocol_version: Option<(u8, u8)>,
    pub framing_caps: Option<u32>,
    pub bearer_caps: Option<u32>,
    pub tie_breaker: Option<u64>,
    pub host_name: Option<Vec<u8>>,
    pub vendor_name: Option<Vec<u8>>,
    pub assigned_tunnel_id: Option<u16>,
    pub rws: Option<u16>,
    pub challenge: Option<Vec<u8>>,
    pub challenge_response: Option<[u8; 16]>,
    pub q931: Option<Q931Cause>,
    pub assigned_session_id: Option<u16>,
    pub call_serial: Option<u32>,
    pub min_bps: Option<u32>,
    pub max_bps: Option<u32>,
    pub bearer_type: Option<u32>,
    pub framing_type: Option<u32>,
    pub called_number: Option<Vec<u8>>,
    pub calling_number: Option<Vec<u8>>,
    pub sub_address: Option<Vec<u8>>,
    pub tx_speed: Option<u32>,
    pub rx_speed: Option<u32>,
    pub physical_channel: Option<u32>,
    pub private_group_id: Option<Vec<u8>>,
    pub sequencing_required: bool,
    pub call_errors: Option<CallErrors>,
    pub accm: Option<(u32, u32)>,
    pub proxy: ProxyAvps,
    /// First unknown (or reserved-bit) AVP with M set: (vendor, type).
    pub unknown_mandatory: Option<(u16, u16)>,
    /// First known AVP with M set that is malformed or cannot be revealed.
    pub bad_mandatory: Option<u16>,
}

impl Avps {
    /// Decodes `avps` (a checked message body, Message Type first), revealing
    /// hidden values with `secret`. Unknown non-mandatory and malformed
    /// non-mandatory AVPs are ignored (§4.1, §7.1).
    pub fn decode(avps: &[u8], secret: Option<&[u8]>) -> Avps {
        let mut out = Avps::default();
        let mut iter = AvpIter::new(avps);
        match iter.next() {
            Some(Ok(first)) => {
                out.type_mandatory = first.mandatory;
                if let Ok(AvpValue::MessageType(t)) = first.typed() {
                    out.raw_type = t.into();
                    if !matches!(t, MessageType::Unknown(_)) {
                        out.msg_type = Some(t);
                    }
                }
            }
            _ => return out,
        }
        let mut scratch = [0u8; AVP_MAX_LEN];
        for item in iter.with_random_vector() {
            let Ok((avp, rv)) = item else { break };
            let known = avp.is_ietf()
                && avp.reserved == 0
                && !matches!(AvpType::from(avp.attr_type), AvpType::Unknown(_));
            if !known {
                if avp.mandatory && out.unknown_mandatory.is_none() {
                    out.unknown_mandatory = Some((avp.vendor_id, avp.attr_type));
                }
                continue;
            }
            let value = if avp.hidden {
                match secret.map(|s| avp.reveal(s, rv, &mut scratch)) {
                    Some(Ok(v)) => AvpValue::parse(0, avp.attr_type, v),
                    _ => Err(l2tpx_wire::Error::Hidden),
                }
            } else {
                AvpValue::parse(0, avp.attr_type, avp.value)
            };
            match value {
                Ok(v) => out.store(v),
                Err(_) => {
                    if avp.mandatory && out.bad_mandatory.is_none() {
                        out.bad_mandatory = Some(avp.attr_type);
                    }
                }
            }
        }
        out
    }

    fn store(&mut self, v: AvpValue<'_>) {
        use AvpValue as V;
        match v {
            V::MessageType(_) | V::RandomVector(_) | V::FirmwareRevision(_) => {}
            V::ResultCode {
                result,
                error,
                message,
            } => {
                self.result = Some(ResultAvp {
                    result,
                    error,
                    message: message.to_vec(),
                })
            }
            V::ProtocolVersion { version, revision } => {
                self.protocol_version = Some((version, revision))
            }
            V::FramingCapabilities(f) => self.framing_caps = Some(f.0),
            V::BearerCapabilities(b) => self.bearer_caps = Some(b.0),
            V::TieBreaker(t) => self.tie_breaker = Some(t),
            V::HostName(h) => self.host_name = Some(h.to_vec()),
            V::VendorName(h) => self.vendor_name = Some(h.to_vec()),
            V::AssignedTunnelId(t) => self.assigned_tunnel_id = Some(t),
            V::ReceiveWindowSize(w) => self.rws = Some(w),
            V::Challenge(c) => self.challenge = Some(c.to_vec()),
            V::Q931CauseCode {
                cause_code,
                cause_msg,
                advisory,
            } => {
                self.q931 = Some(Q931Cause {
                    cause_code,
                    cause_msg,
                    advisory: String::from_utf8_lossy(advisory).into_owned(),
                })
            }
            V::ChallengeResponse(r) => self.challenge_response = Some(*r),
            V::AssignedSessionId(s) => self.assigned_session_id = Some(s),
            V::CallSerialNumber(n) => self.call_serial = Some(n),
            V::MinimumBps(n) => self.min_bps = Some(n),
            V::MaximumBps(n) => self.max_bps = Some(n),
            V::BearerType(b) => self.bearer_type = Some(b.0),
            V::FramingType(f) => self.framing_type = Some(f.0),
            V::CalledNumber(n) => self.called_number = Some(n.to_vec()),
            V::CallingNumber(n) => self.calling_number = Some(n.to_vec()),
            V::SubAddress(n) => self.sub_address = Some(n.to_vec()),
            V::TxConnectSpeed(n) => self.tx_speed = Some(n),
            V::PhysicalChannelId(n) => self.physical_channel = Some(n),
            V::InitialReceivedLcpConfreq(b) => {
                self.proxy.initial_received_lcp_confreq = Some(b.to_vec())
            }
            V::LastSentLcpConfreq(b) => self.proxy.last_sent_lcp_confreq = Some(b.to_vec()),
            V::LastReceivedLcpConfreq(b) => self.proxy.last_received_lcp_confreq = Some(b.to_vec()),
            V::ProxyAuthenType(t) => self.proxy.authen_type = Some(t.into()),
            V::ProxyAuthenName(b) => self.proxy.authen_name = Some(b.to_vec()),
            V::ProxyAuthenChallenge(b) => self.proxy.authen_challenge = Some(b.to_vec()),
            V::ProxyAuthenId { id, .. } => self.proxy.authen_id = Some(id),
            V::ProxyAuthenResponse(b) => self.proxy.authen_response = Some(b.to_vec()),
            V::CallErrors(e) => self.call_errors = Some(e),
            V::Accm {
                send_accm,
                receive_accm,
                ..
            } => self.accm = Some((send_accm, receive_accm)),
            V::PrivateGroupId(b) => self.private_group_id = Some(b.to_vec()),
            V::RxConnectSpeed(n) => self.rx_speed = Some(n),
            V::SequencingRequired => self.sequencing_required = true,
            V::Unknown { .. } => {}
        }
    }

    /// Name of the first required AVP (§6) missing from this message.
    pub fn missing_required(&self) -> Option<&'static str> {
        use MessageType as M;
        let t = self.msg_type?;
        let checks: &[(bool, &'static str)] = match t {
            M::Sccrq | M::Sccrp => &[
                (self.protocol_version.is_some(), "Protocol Version"),
                (self.host_name.is_some(), "Host Name"),
                (self.framing_caps.is_some(), "Framing Capabilities"),
                (self.assigned_tunnel_id.is_some(), "Assigned Tunnel ID"),
            ],
            M::StopCcn => &[
                (self.assigned_tunnel_id.is_some(), "Assigned Tunnel ID"),
                (self.result.is_some(), "Result Code"),
            ],
            M::Icrq => &[
                (self.assigned_session_id.is_some(), "Assigned Session ID"),
                (self.call_serial.is_some(), "Call Serial Number"),
            ],
            M::Icrp | M::Ocrp => &[(self.assigned_session_id.is_some(), "Assigned Session ID")],
            M::Iccn | M::Occn => &[
                (self.tx_speed.is_some(), "(Tx) Connect Speed"),
                (self.framing_type.is_some(), "Framing Type"),
            ],
            M::Ocrq => &[
                (self.assigned_session_id.is_some(), "Assigned Session ID"),
                (self.call_serial.is_some(), "Call Serial Number"),
                (self.min_bps.is_some(), "Minimum BPS"),
                (self.max_bps.is_some(), "Maximum BPS"),
                (self.bearer_type.is_some(), "Bearer Type"),
                (self.framing_type.is_some(), "Framing Type"),
                (self.called_number.is_some(), "Called Number"),
            ],
            M::Cdn => &[
                (self.result.is_some(), "Result Code"),
                (self.assigned_session_id.is_some(), "Assigned Session ID"),
            ],
            M::Wen => &[(self.call_errors.is_some(), "Call Errors")],
            M::Sli => &[(self.accm.is_some(), "ACCM")],
            _ => &[],
        };
        checks.iter().find(|(ok, _)| !ok).map(|(_, name)| *name)
    }
}

/// §4.4.3 / §5.1.1: `MD5(message type octet + secret + challenge)`, the
/// message type being that of the message carrying the response (2 in an
/// SCCRP, 3 in an SCCCN).
pub(crate) fn challenge_response(msg_type: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update([msg_type])
        .chain_update(secret)
        .chain_update(challenge)
        .finalize()
        .into()
}

/// How to hide AVPs (§4.3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hide<'a> {
    /// The tunnel secret.
    pub secret: &'a [u8],
    /// Each hidden AVP gets 0..=`pad_max` random padding bytes after its
    /// value (§4.3: padding hides the length of the value).
    pub pad_max: u8,
}

/// Encodes a message body: Message Type, then `avps`. With `hide`, every
/// AVP §4.4 allows to be hidden is hidden, after one Random Vector AVP, with
/// random padding. `extra` is appended raw (tests use it to inject AVPs).
pub(crate) fn encode(
    msg_type: MessageType,
    avps: &[AvpValue<'_>],
    hide: Option<Hide<'_>>,
    rng: &mut dyn RandomSource,
    extra: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut tmp = [0u8; AVP_MAX_LEN];
    let mut push = |out: &mut Vec<u8>, v: &AvpValue<'_>| {
        if let Ok(n) = v.emit(v.default_mandatory(), &mut tmp) {
            out.extend_from_slice(&tmp[..n]);
        }
    };
    push(&mut out, &AvpValue::MessageType(msg_type));
    let mut rv: Option<[u8; 16]> = None;
    for v in avps {
        match hide {
            Some(h) if v.avp_type().may_be_hidden() && v.vendor_id() == 0 => {
                let rv = match rv {
                    Some(rv) => rv,
                    None => {
                        let mut r = [0u8; 16];
                        rng.fill_bytes(&mut r);
                        push(&mut out, &AvpValue::RandomVector(&r));
                        rv = Some(r);
                        r
                    }
                };
                let mut pad = [0u8; 255];
                let pad_len = if h.pad_max == 0 {
                    0
                } else {
                    (rng.next_u64() % (u64::from(h.pad_max) + 1)) as usize
                };
                let pad = &mut pad[..pad_len];
                rng.fill_bytes(pad);
                let mut buf = [0u8; AVP_MAX_LEN];
                let m = v.default_mandatory();
                // A value too long for the padding goes without it.
                if let Ok(n) = v
                    .emit_hidden(m, h.secret, &rv, pad, &mut buf)
                    .or_else(|_| v.emit_hidden(m, h.secret, &rv, &[], &mut buf))
                {
                    out.extend_from_slice(&buf[..n]);
                }
            }
            _ => push(&mut out, v),
        }
    }
    out.extend_from_slice(extra);
    out
}

/// A raw AVP, for injecting unknown / vendor AVPs (tests, the LAC's
/// `*_extra` fields).
pub fn raw_avp(vendor_id: u16, attr_type: u16, mandatory: bool, value: &[u8]) -> Vec<u8> {
    let len = AVP_HEADER_LEN + value.len();
    let mut v = Vec::with_capacity(len);
    let flags = if mandatory { 0x8000 } else { 0 } | len as u16;
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&vendor_id.to_be_bytes());
    v.extend_from_slice(&attr_type.to_be_bytes());
    v.extend_from_slice(value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::ids::SplitMix64;

    #[test]
    fn hidden_avps_get_random_padding_and_still_reveal() {
        let secret = b"s3cret";
        let mut rng = SplitMix64(9);
        let avps = [AvpValue::CalledNumber(b"5551234")];
        let mut lens = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let h = Hide {
                secret,
                pad_max: 15,
            };
            let body = encode(MessageType::Icrq, &avps, Some(h), &mut rng, &[]);
            lens.insert(body.len());
            let a = Avps::decode(&body, Some(secret));
            assert_eq!(a.called_number.as_deref(), Some(&b"5551234"[..]));
            assert!(a.bad_mandatory.is_none());
        }
        // Message Type (8) + Random Vector (22) + hidden AVP: header 6,
        // length subfield 2, value 7, padding 0..=15.
        let base = 8 + 22 + 6 + 2 + 7;
        assert_eq!(lens, (base..=base + 15).collect(), "every padding length");
        let h = Hide { secret, pad_max: 0 };
        let a = encode(MessageType::Icrq, &avps, Some(h), &mut rng, &[]);
        assert_eq!(a.len(), base, "no padding when pad_max is 0");
    }
}
