//! The LNS's LCP policy (RFC 1661 §6) as a [`Negotiator`].
//!
//! What we ask for: Maximum-Receive-Unit (when not the default 1500), the
//! Authentication-Protocol from a preference list (CHAP-MD5, then PAP), and
//! a random Magic-Number.
//!
//! What we accept from the peer:
//! - MRU: any value >= [`LcpConfig::min_peer_mru`] (Nak'd up to it below).
//! - Magic-Number: Ack'd unless zero or equal to ours (possible loop-back,
//!   §6.4): then Nak'd with a fresh random value.
//! - ACCM: Ack'd whatever its value. Over L2TP the async map means nothing
//!   to the LNS: the LAC does the HDLC framing and is told the map with the
//!   ACCM AVP of Set-Link-Info (RFC 2661 §6.14); l2tpns Acks a zero map and
//!   Naks others to zero, which gains nothing over L2TP.
//! - PFC and ACFC: Ack'd by default ([`LcpConfig::accept_compression`]), as
//!   l2tpns does (ppp.c processlcp: options 7 and 8 fall through to the
//!   Ack). They say the peer can *receive* compressed headers; we keep
//!   sending full `ff 03` + two-octet protocol headers (RFC 1661 §6.5/6.6
//!   make compression on send optional), and the receive side
//!   (`protocol_and_offset`) accepts both forms. The capture
//!   l2tpns-lns_chap_session.pcap shows no ACCM/PFC/ACFC at all: its client
//!   asked for MRU and Magic-Number only.
//! - Authentication-Protocol (the peer asking *us* to authenticate):
//!   Rejected; the LNS authenticates the subscriber, not the reverse.
//! - Quality-Protocol and anything unknown (MRRU, Endpoint-Discriminator,
//!   Callback, ...): Rejected.
//!
//! Default MRU: the LAC-to-LNS path MTU less the worst-case encapsulation
//! of a PPP frame in an L2TP data message, [`L2TP_PPP_OVERHEAD`] = 44
//! octets: IPv4 header 20, UDP 8, L2TP data header 12 (flags and version
//! 2, Length 2, Tunnel ID 2, Session ID 2, Ns and Nr 4; RFC 2661 §3.1;
//! no Offset padding), PPP Address/Control and Protocol 4. For a 1500-octet
//! path that is 1456 (l2tpns uses 1462: it counts a 6-octet L2TP header).

use std::time::Duration;

use l2tpx_wire::ppp::chap::Algorithm;
use l2tpx_wire::ppp::{AuthenticationProtocol, Lcp, LcpOption, OptionIter, RawOption};

use super::fsm::{Negotiator, PeerResponse};
use super::Drbg;

/// Octets an L2TP/UDP/IPv4 path adds around a PPP Information field, worst
/// case (see the module documentation).
pub const L2TP_PPP_OVERHEAD: u16 = 20 + 8 + 12 + 4;

/// The PPP default MRU (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;

/// An authentication protocol the LNS can demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// CHAP with MD5 (RFC 1994), 0xc223 algorithm 5.
    ChapMd5,
    /// PAP (RFC 1334), 0xc023.
    Pap,
}

impl AuthMethod {
    fn option(self) -> LcpOption<'static> {
        LcpOption::AuthenticationProtocol(match self {
            AuthMethod::ChapMd5 => AuthenticationProtocol::Chap(Algorithm::Md5),
            AuthMethod::Pap => AuthenticationProtocol::Pap,
        })
    }

    fn from_option(auth: AuthenticationProtocol<'_>) -> Option<AuthMethod> {
        match auth {
            AuthenticationProtocol::Chap(Algorithm::Md5) => Some(AuthMethod::ChapMd5),
            AuthenticationProtocol::Pap => Some(AuthMethod::Pap),
            _ => None,
        }
    }
}

/// LCP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpConfig {
    /// The MRU we ask for (not sent when it is 1500).
    pub mru: u16,
    /// Smallest MRU of the peer we Ack; lower values are Nak'd up to it.
    pub min_peer_mru: u16,
    /// Authentication protocols in order of preference; empty means none.
    pub auth: Vec<AuthMethod>,
    /// Ack the peer's PFC and ACFC (else Reject them).
    pub accept_compression: bool,
    /// Interval between LCP Echo-Requests once Opened; `None` disables.
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests after which the session goes down.
    pub echo_max_failures: u32,
}

impl LcpConfig {
    /// Defaults with the MRU derived from the LAC-LNS path MTU.
    pub fn for_path_mtu(path_mtu: u16) -> Self {
        LcpConfig {
            mru: path_mtu.saturating_sub(L2TP_PPP_OVERHEAD).max(576),
            ..LcpConfig::default()
        }
    }
}

impl Default for LcpConfig {
    fn default() -> Self {
        LcpConfig {
            mru: 1500 - L2TP_PPP_OVERHEAD,
            min_peer_mru: 576,
            auth: vec![AuthMethod::ChapMd5, AuthMethod::Pap],
            accept_compression: true,
            echo_interval: Some(Duration::from_secs(10)),
            echo_max_failures: 3,
        }
    }
}

/// Why LCP cannot come up, as the negotiator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpFailure {
    /// The peer Rejected Authentication-Protocol, or Nak'd every method we
    /// offer.
    NoCommonAuth,
}

/// What was agreed with the peer (valid once LCP is Opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLcp {
    /// The peer's MRU (what we may send).
    pub mru: u16,
    /// The peer's Magic-Number (0: none).
    pub magic: u32,
    /// The peer's ACCM, if it asked for one (for the LAC, via SLI).
    pub accm: Option<u32>,
    /// The peer accepts Protocol-Field-Compression.
    pub pfc: bool,
    /// The peer accepts Address-and-Control-Field-Compression.
    pub acfc: bool,
}

impl Default for PeerLcp {
    fn default() -> Self {
        PeerLcp {
            mru: DEFAULT_MRU,
            magic: 0,
            accm: None,
            pfc: false,
            acfc: false,
        }
    }
}

/// The LNS's LCP policy.
#[derive(Debug, Clone)]
pub struct LcpNegotiator {
    auth_list: Vec<AuthMethod>,
    min_peer_mru: u16,
    accept_compression: bool,
    our_mru: Option<u16>,
    our_magic: u32,
    auth: Option<usize>,
    peer: PeerLcp,
    failure: Option<LcpFailure>,
    magic_collisions: u32,
    rng: Drbg,
}

impl LcpNegotiator {
    /// A negotiator for `config`, drawing Magic-Numbers from `rng`.
    pub fn new(config: &LcpConfig, mut rng: Drbg) -> Self {
        let our_magic = rng.nonzero_u32_except(0);
        LcpNegotiator {
            auth_list: config.auth.clone(),
            min_peer_mru: config.min_peer_mru,
            accept_compression: config.accept_compression,
            our_mru: (config.mru != DEFAULT_MRU).then_some(config.mru),
            our_magic,
            auth: (!config.auth.is_empty()).then_some(0),
            peer: PeerLcp::default(),
            failure: None,
            magic_collisions: 0,
            rng,
        }
    }

    /// Our Magic-Number (0 when the peer rejected the option).
    pub fn our_magic(&self) -> u32 {
        self.our_magic
    }

    /// The MRU we receive with.
    pub fn our_mru(&self) -> u16 {
        self.our_mru.unwrap_or(DEFAULT_MRU)
    }

    /// The authentication protocol in our current (or agreed) request.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.auth.and_then(|i| self.auth_list.get(i).copied())
    }

    /// What the peer asked for, as last Ack'd.
    pub fn peer(&self) -> PeerLcp {
        self.peer
    }

    /// Set when negotiation cannot succeed.
    pub fn failure(&self) -> Option<LcpFailure> {
        self.failure
    }

    /// Times the peer's Magic-Number equalled ours (§6.4 loop-back hint).
    pub fn magic_collisions(&self) -> u32 {
        self.magic_collisions
    }

    /// Restores what was agreed before a control-plane restart: our
    /// Magic-Number and MRU, the authentication method (ignored when this
    /// policy no longer lists it) and the peer's options.
    pub fn resume(
        &mut self,
        our_magic: u32,
        our_mru: u16,
        auth: Option<AuthMethod>,
        peer: PeerLcp,
    ) {
        self.our_magic = our_magic;
        self.our_mru = (our_mru != DEFAULT_MRU).then_some(our_mru);
        self.auth = auth.and_then(|m| self.auth_list.iter().position(|&x| x == m));
        self.peer = peer;
    }

    /// The peer Rejected Authentication-Protocol: we require one, so LCP
    /// cannot come up (the session closes on [`failure`](Self::failure)).
    fn auth_rejected(&mut self) {
        if self.auth.take().is_some() {
            self.failure = Some(LcpFailure::NoCommonAuth);
        }
    }

    /// Takes over the LAC's negotiation (proxy LCP, RFC 2661 §4.4.5):
    /// `sent` is the LAC's last Configure-Request to the peer (it speaks
    /// for us), `received` the peer's last one, which the LAC acked. Returns
    /// false, changing nothing, unless both are acceptable to this policy.
    pub fn adopt_proxy(&mut self, sent: &[u8], received: &[u8]) -> bool {
        if l2tpx_wire::ppp::check_options(sent).is_err()
            || l2tpx_wire::ppp::check_options(received).is_err()
        {
            return false;
        }
        let mut mru = None;
        let mut magic = 0;
        let mut auth = None;
        for option in OptionIter::<LcpOption>::new(sent) {
            match option {
                Ok(LcpOption::MaximumReceiveUnit(v)) if v >= 576 => mru = Some(v),
                Ok(LcpOption::MagicNumber(m)) if m != 0 => magic = m,
                Ok(LcpOption::AuthenticationProtocol(a)) => {
                    let Some(m) = AuthMethod::from_option(a) else {
                        return false;
                    };
                    let Some(i) = self.auth_list.iter().position(|&x| x == m) else {
                        return false;
                    };
                    auth = Some(i);
                }
                Ok(
                    LcpOption::AsyncControlCharacterMap(_)
                    | LcpOption::ProtocolFieldCompression
                    | LcpOption::AddressControlFieldCompression,
                ) => {}
                _ => return false,
            }
        }
        if auth.is_none() && !self.auth_list.is_empty() {
            return false;
        }
        let mut probe = self.clone();
        probe.our_magic = magic;
        let mut response = PeerResponse::default();
        probe.peer_request(received, &mut response);
        if !response.is_empty() {
            return false;
        }
        self.our_magic = magic;
        self.our_mru = mru;
        self.auth = auth;
        self.peer_acked(received);
        true
    }
}

impl Negotiator for LcpNegotiator {
    type Proto = Lcp;

    fn our_request(&mut self, buf: &mut Vec<u8>) {
        let mut push = |o: LcpOption<'_>| {
            let start = buf.len();
            buf.resize(start + l2tpx_wire::ppp::EmitOption::buffer_len(&o), 0);
            l2tpx_wire::ppp::EmitOption::emit(&o, &mut buf[start..]);
        };
        if let Some(mru) = self.our_mru {
            push(LcpOption::MaximumReceiveUnit(mru));
        }
        if let Some(m) = self.auth_method() {
            push(m.option());
        }
        if self.our_magic != 0 {
            push(LcpOption::MagicNumber(self.our_magic));
        }
    }

    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            let Ok(option) = <LcpOption as l2tpx_wire::ppp::ConfigOption>::parse(raw) else {
                response.reject(raw);
                continue;
            };
            match option {
                LcpOption::MaximumReceiveUnit(mru) => {
                    if mru < self.min_peer_mru {
                        response.nak(raw, LcpOption::MaximumReceiveUnit(self.min_peer_mru));
                    }
                }
                LcpOption::AsyncControlCharacterMap(_) => {}
                LcpOption::MagicNumber(m) => {
                    if m == 0 || (m == self.our_magic && self.our_magic != 0) {
                        if m != 0 {
                            self.magic_collisions += 1;
                        }
                        let suggestion = self.rng.nonzero_u32_except(self.our_magic);
                        response.nak(raw, LcpOption::MagicNumber(suggestion));
                    }
                }
                LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => {
                    if !self.accept_compression {
                        response.reject(raw);
                    }
                }
                LcpOption::AuthenticationProtocol(_)
                | LcpOption::QualityProtocol(_)
                | LcpOption::Unknown { .. } => response.reject(raw),
            }
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        let mut peer = PeerLcp::default();
        for option in OptionIter::<LcpOption>::new(options).flatten() {
            match option {
                LcpOption::MaximumReceiveUnit(m) => peer.mru = m,
                LcpOption::AsyncControlCharacterMap(a) => peer.accm = Some(a),
                LcpOption::MagicNumber(m) => peer.magic = m,
                LcpOption::ProtocolFieldCompression => peer.pfc = true,
                LcpOption::AddressControlFieldCompression => peer.acfc = true,
                _ => {}
            }
        }
        self.peer = peer;
    }

    fn nak_received(&mut self, options: &[u8]) {
        for option in OptionIter::<LcpOption>::new(options).flatten() {
            match option {
                LcpOption::MaximumReceiveUnit(m) => {
                    let m = m.clamp(576, DEFAULT_MRU);
                    self.our_mru = (m != DEFAULT_MRU).then_some(m);
                }
                LcpOption::AuthenticationProtocol(a) => {
                    let Some(current) = self.auth else {
                        continue;
                    };
                    let suggested = AuthMethod::from_option(a)
                        .and_then(|m| self.auth_list.iter().position(|&x| x == m));
                    match suggested {
                        Some(i) if i != current => self.auth = Some(i),
                        _ if current + 1 < self.auth_list.len() => self.auth = Some(current + 1),
                        _ => self.failure = Some(LcpFailure::NoCommonAuth),
                    }
                }
                LcpOption::MagicNumber(_) => {
                    // §6.4: a Nak'd Magic-Number means pick another one.
                    self.our_magic = self.rng.nonzero_u32_except(self.our_magic);
                }
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match raw.option_type {
                1 => self.our_mru = None,
                3 => self.auth_rejected(),
                5 => self.our_magic = 0,
                _ => {}
            }
        }
    }

    fn magic_number(&self) -> u32 {
        self.our_magic
    }
}
