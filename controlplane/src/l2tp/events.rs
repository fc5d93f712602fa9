//! What the engines report: [`Event`]s, and the [`SessionSink`] that PPP and
//! the session-table writer implement.

use std::net::SocketAddr;

use l2tpx_wire::l2tp::CallErrors;

/// A session, by our IDs: (our tunnel ID, our session ID). The data plane
/// slot is [`super::ids::slot_index`] of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// Our tunnel ID.
    pub tunnel_id: u16,
    /// Our session ID.
    pub session_id: u16,
}

/// Who ended a session or tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We did (a command, a protocol error we detected, a limit).
    Local,
    /// The peer did (CDN / StopCCN received).
    Peer,
    /// The reliable transport gave up: the peer stopped acknowledging (§5.8).
    Transport,
}

/// Q.931 cause (§4.4.4, RFC 3145 style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Q931Cause {
    /// Cause code.
    pub cause_code: u16,
    /// Message code.
    pub cause_msg: u8,
    /// Advisory text.
    pub advisory: String,
}

/// Why a session or tunnel went down: the Result Code AVP sent or received
/// (§4.4.2), plus the Q.931 cause of a CDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectCause {
    /// Who initiated it.
    pub initiator: Initiator,
    /// Result Code (CDN or StopCCN values, by context).
    pub result: u16,
    /// Error Code, if any.
    pub error: Option<u16>,
    /// Error Message (lossy UTF-8).
    pub message: String,
    /// Q.931 Cause Code AVP of a CDN, if any.
    pub q931: Option<Q931Cause>,
}

impl DisconnectCause {
    /// A locally initiated cause.
    pub fn local(result: u16, error: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            initiator: Initiator::Local,
            result,
            error,
            message: message.into(),
            q931: None,
        }
    }

    pub(crate) fn transport() -> Self {
        Self {
            initiator: Initiator::Transport,
            result: 2,
            error: Some(0),
            message: "peer stopped acknowledging".into(),
            q931: None,
        }
    }
}

/// Proxy LCP and proxy authentication AVPs of an ICCN (§4.4.5), copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyAvps {
    /// Initial Received LCP CONFREQ (options only).
    pub initial_received_lcp_confreq: Option<Vec<u8>>,
    /// Last Sent LCP CONFREQ.
    pub last_sent_lcp_confreq: Option<Vec<u8>>,
    /// Last Received LCP CONFREQ.
    pub last_received_lcp_confreq: Option<Vec<u8>>,
    /// Proxy Authen Type (raw value; see `ProxyAuthenType`).
    pub authen_type: Option<u16>,
    /// Proxy Authen Name.
    pub authen_name: Option<Vec<u8>>,
    /// Proxy Authen Challenge.
    pub authen_challenge: Option<Vec<u8>>,
    /// Proxy Authen ID.
    pub authen_id: Option<u8>,
    /// Proxy Authen Response.
    pub authen_response: Option<Vec<u8>>,
}

impl ProxyAvps {
    /// True when no proxy AVP was received.
    pub fn is_empty(&self) -> bool {
        *self == ProxyAvps::default()
    }
}

/// Which side placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    /// ICRQ/ICRP/ICCN: the LAC received a call.
    Incoming,
    /// OCRQ/OCRP/OCCN: the LNS asked the LAC to place one.
    Outgoing,
}

/// Everything known about a session when it comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Our IDs.
    pub key: SessionKey,
    /// The peer's tunnel ID (goes in data messages we send).
    pub peer_tunnel_id: u16,
    /// The peer's session ID (goes in data messages we send).
    pub peer_session_id: u16,
    /// The peer's UDP address.
    pub peer: SocketAddr,
    /// Incoming or outgoing call.
    pub direction: CallDirection,
    /// Call Serial Number.
    pub call_serial: u32,
    /// Sequencing Required AVP present: data messages must carry Ns/Nr.
    pub sequencing_required: bool,
    /// Proxy LCP / authentication AVPs.
    pub proxy: ProxyAvps,
    /// Calling Number.
    pub calling_number: Option<Vec<u8>>,
    /// Called Number.
    pub called_number: Option<Vec<u8>>,
    /// Sub-Address.
    pub sub_address: Option<Vec<u8>>,
    /// (Tx) Connect Speed, bps.
    pub tx_connect_speed: Option<u32>,
    /// Rx Connect Speed, bps.
    pub rx_connect_speed: Option<u32>,
    /// Physical Channel ID.
    pub physical_channel_id: Option<u32>,
    /// Framing Type bits.
    pub framing_type: Option<u32>,
    /// Bearer Type bits.
    pub bearer_type: Option<u32>,
    /// Private Group ID.
    pub private_group_id: Option<Vec<u8>>,
}

impl SessionInfo {
    /// A session's identity, with no sequencing, no proxy AVPs and none
    /// of the optional call details; callers fill in what they learnt.
    pub fn new(
        key: SessionKey,
        peer_tunnel_id: u16,
        peer_session_id: u16,
        peer: SocketAddr,
        direction: CallDirection,
        call_serial: u32,
    ) -> Self {
        SessionInfo {
            key,
            peer_tunnel_id,
            peer_session_id,
            peer,
            direction,
            call_serial,
            sequencing_required: false,
            proxy: ProxyAvps::default(),
            calling_number: None,
            called_number: None,
            sub_address: None,
            tx_connect_speed: None,
            rx_connect_speed: None,
            physical_channel_id: None,
            framing_type: None,
            bearer_type: None,
            private_group_id: None,
        }
    }
}

/// Engine output, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A control connection is established (SCCCN accepted).
    TunnelUp {
        /// Our tunnel ID.
        tunnel_id: u16,
        /// The peer's tunnel ID.
        peer_tunnel_id: u16,
        /// The peer's address.
        peer: SocketAddr,
        /// The peer's Host Name.
        host_name: Vec<u8>,
    },
    /// A control connection is gone (its sessions went down first, each
    /// with its own `SessionDown`).
    TunnelDown {
        /// Our tunnel ID.
        tunnel_id: u16,
        /// The peer's address.
        peer: SocketAddr,
        /// Why.
        cause: DisconnectCause,
        /// Whether it had reached the established state.
        was_up: bool,
    },
    /// A session is established (ICCN / OCCN accepted).
    SessionUp(Box<SessionInfo>),
    /// A session is gone.
    SessionDown {
        /// Our IDs.
        key: SessionKey,
        /// The peer's session ID (0 if never learnt).
        peer_session_id: u16,
        /// Why.
        cause: DisconnectCause,
        /// Whether a `SessionUp` was reported for it.
        was_up: bool,
    },
    /// WAN-Error-Notify received (§6.13).
    WanErrorNotify {
        /// Our IDs.
        key: SessionKey,
        /// The cumulative counters.
        errors: CallErrors,
    },
    /// Set-Link-Info received (§6.14).
    SetLinkInfo {
        /// Our IDs.
        key: SessionKey,
        /// Send ACCM.
        send_accm: u32,
        /// Receive ACCM.
        receive_accm: u32,
    },
}

/// Consumer of session lifecycle: PPP and the session-table writer.
pub trait SessionSink {
    /// A session came up.
    fn on_session_up(&mut self, info: &SessionInfo);
    /// A session went down (only called for sessions that were up).
    fn on_session_down(&mut self, key: SessionKey, cause: &DisconnectCause);
}

/// A sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl SessionSink for NullSink {
    fn on_session_up(&mut self, _info: &SessionInfo) {}
    fn on_session_down(&mut self, _key: SessionKey, _cause: &DisconnectCause) {}
}

impl Event {
    /// Hands a session event to `sink` (other events are ignored).
    pub fn dispatch(&self, sink: &mut dyn SessionSink) {
        match self {
            Event::SessionUp(info) => sink.on_session_up(info),
            Event::SessionDown {
                key,
                cause,
                was_up: true,
                ..
            } => sink.on_session_down(*key, cause),
            _ => {}
        }
    }
}
