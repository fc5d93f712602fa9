//! A client-side PPP peer (the subscriber behind the LAC), sans-IO, built
//! on the same [`Fsm`]: LCP, the PAP or CHAP-MD5 *peer* side, and IPCP
//! asking for 0.0.0.0 (and a DNS server) and taking the LNS's Nak. For
//! tests and the bench; not a full PPP client.
//!
//! Drive it like [`PppSession`](super::session::PppSession):
//! [`PppClient::handle_frame`], [`PppClient::handle_timeout`] at
//! [`PppClient::poll_timeout`], [`PppClient::poll_transmit`] for frames to
//! put in L2TP data messages, [`PppClient::poll_event`] for progress.
//!
//! LCP: asks for its MRU (default 1400) and a Magic-Number, optionally
//! ACCM, PFC and ACFC; accepts CHAP-MD5 or PAP from the LNS (Naks other
//! authentication protocols towards CHAP-MD5), accepts MRU, ACCM, PFC,
//! ACFC and Magic-Number (Naks a colliding one), Rejects the rest. Frames
//! of protocols it does not run (IPv6CP, CCP, ...) get a Protocol-Reject.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2tpx_wire::ppp::chap::Algorithm;
use l2tpx_wire::ppp::{
    chap, chap_md5_response, pap, protocol_and_offset, AuthenticationProtocol, ConfigOption,
    EmitOption, Ipcp, IpcpOption, Lcp, LcpOption, OptionIter, Protocol, RawOption,
};

use super::fsm::{Fsm, FsmConfig, LayerEvent, PeerResponse, State};
use super::lcp::AuthMethod;
use super::Drbg;

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Timers and counters.
    pub fsm: FsmConfig,
    /// PAP Peer-ID / CHAP Name.
    pub username: Vec<u8>,
    /// PAP password / CHAP secret.
    pub password: Vec<u8>,
    /// The MRU to ask for (not sent when 1500).
    pub mru: u16,
    /// Ask for an ACCM.
    pub accm: Option<u32>,
    /// Ask for PFC and ACFC.
    pub compression: bool,
    /// Ask for a Primary-DNS address.
    pub request_dns: bool,
    /// The IPv4 address to ask for first (0.0.0.0: "give me one").
    pub requested_address: Ipv4Addr,
    /// Keep asking for `requested_address` whatever the LNS Naks (a
    /// misbehaving peer, for tests); drop the option once Rejected.
    pub insist_on_address: bool,
    /// PAP Authenticate-Request / CHAP Response retransmission interval.
    pub auth_restart: Duration,
    /// PAP Authenticate-Requests (CHAP Responses) before giving up.
    pub max_auth_requests: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            fsm: FsmConfig::default(),
            username: b"user".to_vec(),
            password: b"pass".to_vec(),
            mru: 1400,
            accm: None,
            compression: false,
            request_dns: true,
            requested_address: Ipv4Addr::UNSPECIFIED,
            insist_on_address: false,
            auth_restart: Duration::from_secs(3),
            max_auth_requests: 10,
        }
    }
}

/// Client progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// LCP Opened.
    LinkUp,
    /// The LNS accepted our credentials (or asked for none).
    Authenticated,
    /// The LNS refused them.
    AuthFailed,
    /// IPCP Opened with this address.
    Ipv4Up {
        address: Ipv4Addr,
        dns: Option<Ipv4Addr>,
    },
    /// LCP finished or went down.
    Down,
}

fn push<O: EmitOption>(buf: &mut Vec<u8>, o: O) {
    let start = buf.len();
    buf.resize(start + o.buffer_len(), 0);
    o.emit(&mut buf[start..]);
}

/// The client's LCP policy.
#[derive(Debug, Clone)]
pub struct ClientLcp {
    mru: Option<u16>,
    accm: Option<u32>,
    compression: bool,
    magic: u32,
    auth: Option<AuthMethod>,
    rng: Drbg,
}

impl super::fsm::Negotiator for ClientLcp {
    type Proto = Lcp;

    fn our_request(&mut self, buf: &mut Vec<u8>) {
        if let Some(m) = self.mru {
            push(buf, LcpOption::MaximumReceiveUnit(m));
        }
        if let Some(a) = self.accm {
            push(buf, LcpOption::AsyncControlCharacterMap(a));
        }
        if self.magic != 0 {
            push(buf, LcpOption::MagicNumber(self.magic));
        }
        if self.compression {
            push(buf, LcpOption::ProtocolFieldCompression);
            push(buf, LcpOption::AddressControlFieldCompression);
        }
    }

    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match LcpOption::parse(raw) {
                Ok(LcpOption::AuthenticationProtocol(
                    AuthenticationProtocol::Chap(Algorithm::Md5) | AuthenticationProtocol::Pap,
                )) => {}
                Ok(LcpOption::AuthenticationProtocol(_)) => response.nak(
                    raw,
                    LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(Algorithm::Md5)),
                ),
                Ok(LcpOption::MagicNumber(m)) => {
                    if m == 0 || m == self.magic {
                        let s = self.rng.nonzero_u32_except(self.magic);
                        response.nak(raw, LcpOption::MagicNumber(s));
                    }
                }
                Ok(
                    LcpOption::MaximumReceiveUnit(_)
                    | LcpOption::AsyncControlCharacterMap(_)
                    | LcpOption::ProtocolFieldCompression
                    | LcpOption::AddressControlFieldCompression,
                ) => {}
                _ => response.reject(raw),
            }
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.auth = None;
        for o in OptionIter::<LcpOption>::new(options).flatten() {
            match o {
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap) => {
                    self.auth = Some(AuthMethod::Pap)
                }
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(_)) => {
                    self.auth = Some(AuthMethod::ChapMd5)
                }
                _ => {}
            }
        }
    }

    fn nak_received(&mut self, options: &[u8]) {
        for o in OptionIter::<LcpOption>::new(options).flatten() {
            match o {
                LcpOption::MaximumReceiveUnit(m) => self.mru = (m != 1500).then_some(m),
                LcpOption::MagicNumber(_) => self.magic = self.rng.nonzero_u32_except(self.magic),
                LcpOption::AsyncControlCharacterMap(a) => self.accm = Some(a),
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match raw.option_type {
                1 => self.mru = None,
                2 => self.accm = None,
                5 => self.magic = 0,
                7 | 8 => self.compression = false,
                _ => {}
            }
        }
    }

    fn magic_number(&self) -> u32 {
        self.magic
    }
}

/// The client's IPCP policy.
#[derive(Debug, Clone)]
pub struct ClientIpcp {
    address: Ipv4Addr,
    insist: bool,
    address_rejected: bool,
    dns: Option<Ipv4Addr>,
    peer: Option<Ipv4Addr>,
}

impl super::fsm::Negotiator for ClientIpcp {
    type Proto = Ipcp;

    fn our_request(&mut self, buf: &mut Vec<u8>) {
        if !self.address_rejected {
            push(buf, IpcpOption::IpAddress(self.address));
        }
        if let Some(d) = self.dns {
            push(buf, IpcpOption::PrimaryDns(d));
        }
    }

    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match IpcpOption::parse(raw) {
                Ok(IpcpOption::IpAddress(_)) => {}
                _ => response.reject(raw),
            }
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        for o in OptionIter::<IpcpOption>::new(options).flatten() {
            if let IpcpOption::IpAddress(a) = o {
                self.peer = Some(a);
            }
        }
    }

    fn nak_received(&mut self, options: &[u8]) {
        for o in OptionIter::<IpcpOption>::new(options).flatten() {
            match o {
                IpcpOption::IpAddress(a) if !self.insist => self.address = a,
                IpcpOption::PrimaryDns(a) => self.dns = Some(a),
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match raw.option_type {
                3 => self.address_rejected = true,
                129 => self.dns = None,
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Idle,
    PapSent {
        ident: u8,
        remaining: u32,
        deadline: Instant,
    },
    ChapWait,
    /// Response sent; resent until Success or Failure (RFC 1994 §4.2
    /// has the authenticator answer a duplicate with the same verdict).
    ChapResponded {
        remaining: u32,
        deadline: Instant,
    },
    Done,
    Failed,
}

/// The LCP a LAC negotiated with the client on the LNS's behalf, for the
/// ICCN's proxy LCP AVPs (RFC 2661 §4.4.5): option bytes, no headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedLcp {
    /// Initial Received LCP CONFREQ: the client's first request.
    pub initial_received: Vec<u8>,
    /// Last Sent LCP CONFREQ: the LAC's request, which the LNS adopts
    /// (its Magic-Number becomes the LNS's).
    pub last_sent: Vec<u8>,
    /// Last Received LCP CONFREQ: the client's request the LAC acked.
    pub last_received: Vec<u8>,
}

/// A client-side PPP peer.
#[derive(Debug)]
pub struct PppClient {
    config: ClientConfig,
    lcp: Fsm<ClientLcp>,
    ipcp: Fsm<ClientIpcp>,
    auth: ClientAuth,
    next_pap_ident: u8,
    ipcp_start: bool,
    last_response: Option<Vec<u8>>,
    /// A CHAP Challenge that came before our LCP reached Opened: the
    /// authenticator may open first (its Configure-Ack to us still on the
    /// way) and challenge at once. Answered when LCP opens.
    early_challenge: Option<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    /// The LAC authenticated us (proxy authentication): nothing to send
    /// when LCP opens.
    auth_proxied: bool,
}

impl PppClient {
    /// A client that starts LCP at once (its Configure-Request is queued).
    pub fn new(config: ClientConfig, seed: [u8; 16], now: Instant) -> Self {
        let mut c = Self::new_closed(config, seed);
        c.lcp.open(now);
        c.lcp.up(now);
        c.pump(now);
        c
    }

    /// A client whose LCP a LAC negotiated for the LNS (proxy LCP): LCP
    /// starts Opened, the LAC having asked for `auth` and a Magic-Number
    /// of its own, and the client's usual request acked. With
    /// `auth_proxied` the LAC also authenticated the client, so IPCP starts
    /// at once; otherwise the client waits for the LNS's CHAP Challenge or
    /// sends its PAP request. Returns the AVPs' contents for the ICCN.
    pub fn proxied(
        config: ClientConfig,
        seed: [u8; 16],
        now: Instant,
        auth: Option<AuthMethod>,
        auth_proxied: bool,
    ) -> (Self, ProxiedLcp) {
        let mut c = Self::new_closed(config, seed);
        let mut client_req = Vec::new();
        super::fsm::Negotiator::our_request(c.lcp.negotiator_mut(), &mut client_req);
        let magic = c.lcp.negotiator().magic;
        let lac_magic = c.lcp.negotiator_mut().rng.nonzero_u32_except(magic);
        let mut lac_req = Vec::new();
        match auth {
            Some(AuthMethod::ChapMd5) => push(
                &mut lac_req,
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(Algorithm::Md5)),
            ),
            Some(AuthMethod::Pap) => push(
                &mut lac_req,
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
            ),
            None => {}
        }
        push(&mut lac_req, LcpOption::MagicNumber(lac_magic));
        super::fsm::Negotiator::peer_acked(c.lcp.negotiator_mut(), &lac_req);
        c.auth_proxied = auth_proxied;
        c.lcp.force_opened(&client_req);
        c.pump(now);
        let avps = ProxiedLcp {
            initial_received: client_req.clone(),
            last_sent: lac_req,
            last_received: client_req,
        };
        (c, avps)
    }

    fn new_closed(config: ClientConfig, seed: [u8; 16]) -> Self {
        let mut rng = Drbg::new(seed);
        let magic = rng.nonzero_u32_except(0);
        let lcp = ClientLcp {
            mru: (config.mru != 1500).then_some(config.mru),
            accm: config.accm,
            compression: config.compression,
            magic,
            auth: None,
            rng,
        };
        let ipcp = ClientIpcp {
            address: config.requested_address,
            insist: config.insist_on_address,
            address_rejected: false,
            dns: config.request_dns.then_some(Ipv4Addr::UNSPECIFIED),
            peer: None,
        };
        PppClient {
            lcp: Fsm::new(config.fsm, lcp),
            ipcp: Fsm::new(config.fsm, ipcp),
            config,
            auth: ClientAuth::Idle,
            next_pap_ident: 1,
            ipcp_start: false,
            last_response: None,
            early_challenge: None,
            tx: VecDeque::new(),
            events: VecDeque::new(),
            auth_proxied: false,
        }
    }

    /// LCP's state.
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// IPCP's state.
    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// The address IPCP settled on.
    pub fn address(&self) -> Ipv4Addr {
        self.ipcp.negotiator().address
    }

    /// Our LCP Magic-Number.
    pub fn magic(&self) -> u32 {
        self.lcp.negotiator().magic
    }

    /// The next frame to send (`ff 03` + protocol + packet).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let auth = match self.auth {
            ClientAuth::PapSent { deadline, .. } | ClientAuth::ChapResponded { deadline, .. } => {
                Some(deadline)
            }
            _ => None,
        };
        [self.lcp.poll_timeout(), self.ipcp.poll_timeout(), auth]
            .into_iter()
            .flatten()
            .min()
    }

    /// Closes the link (LCP Terminate-Request).
    pub fn close(&mut self, now: Instant) {
        self.lcp.close(now);
        self.pump(now);
    }

    /// Timer expiries up to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        if let ClientAuth::PapSent {
            remaining,
            deadline,
            ..
        } = self.auth
        {
            if deadline <= now {
                if remaining == 0 {
                    self.auth = ClientAuth::Failed;
                    self.events.push_back(ClientEvent::AuthFailed);
                } else {
                    self.send_pap(now, remaining - 1);
                }
            }
        }
        if let ClientAuth::ChapResponded {
            remaining,
            deadline,
        } = self.auth
        {
            if deadline <= now {
                if remaining == 0 {
                    self.auth = ClientAuth::Failed;
                    self.events.push_back(ClientEvent::AuthFailed);
                } else if let Some(r) = self.last_response.clone() {
                    self.tx.push_back(r);
                    self.auth = ClientAuth::ChapResponded {
                        remaining: remaining - 1,
                        deadline: now + self.config.auth_restart,
                    };
                }
            }
        }
        self.pump(now);
    }

    /// A frame from the LNS.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let Ok((protocol, offset)) = protocol_and_offset(frame) else {
            return;
        };
        let payload = &frame[offset..];
        match Protocol::from(protocol) {
            Protocol::Lcp => {
                self.lcp.handle_packet(now, payload);
            }
            Protocol::Pap => self.handle_pap(now, payload),
            Protocol::Chap => self.handle_chap(now, payload),
            Protocol::Ipcp if self.auth == ClientAuth::Done => {
                self.ipcp.handle_packet(now, payload);
            }
            // NCP packets before authentication completes are discarded.
            Protocol::Ipcp | Protocol::Ipv4 => {}
            // Anything else (IPv6CP included): LCP Protocol-Reject while
            // Opened (RFC 1661 §5.7).
            _ if self.lcp.state() == State::Opened => {
                let identifier = self.lcp.take_identifier();
                let repr = l2tpx_wire::ppp::cp::Repr::ProtocolReject {
                    identifier,
                    rejected_protocol: Protocol::from(protocol),
                    rejected_information: payload,
                };
                let mut buf = vec![0; repr.buffer_len()];
                if repr.emit_into(&mut buf).is_ok() {
                    self.lcp.queue(buf);
                }
            }
            _ => {}
        }
        self.pump(now);
    }

    fn handle_pap(&mut self, now: Instant, payload: &[u8]) {
        let ClientAuth::PapSent { ident, .. } = self.auth else {
            return;
        };
        match pap::Repr::parse_bytes(payload) {
            Ok(pap::Repr::AuthenticateAck { identifier, .. }) if identifier == ident => {
                self.authenticated(now)
            }
            Ok(pap::Repr::AuthenticateNak { identifier, .. }) if identifier == ident => {
                self.auth = ClientAuth::Failed;
                self.events.push_back(ClientEvent::AuthFailed);
            }
            _ => {}
        }
    }

    fn handle_chap(&mut self, now: Instant, payload: &[u8]) {
        if self.auth == ClientAuth::Idle && self.lcp.state() != State::Opened {
            if let Ok(chap::Repr::Challenge { .. }) = chap::Repr::parse_bytes(payload) {
                self.early_challenge = Some(payload.to_vec());
            }
            return;
        }
        match chap::Repr::parse_bytes(payload) {
            Ok(chap::Repr::Challenge {
                identifier, value, ..
            }) if matches!(
                self.auth,
                ClientAuth::ChapWait | ClientAuth::ChapResponded { .. } | ClientAuth::Done
            ) =>
            {
                // Answer every Challenge (retransmissions, re-challenges).
                let response = chap_md5_response(identifier, &self.config.password, value);
                let name = self.config.username.clone();
                let repr = chap::Repr::Response {
                    identifier,
                    value: &response,
                    name: &name,
                };
                self.push_repr(Protocol::Chap, repr.buffer_len(), |b| repr.emit_into(b));
                self.last_response = self.tx.back().cloned();
                if self.auth != ClientAuth::Done {
                    self.auth = ClientAuth::ChapResponded {
                        remaining: self.config.max_auth_requests.saturating_sub(1),
                        deadline: now + self.config.auth_restart,
                    };
                }
            }
            Ok(chap::Repr::Success { .. })
                if matches!(self.auth, ClientAuth::ChapResponded { .. }) =>
            {
                self.auth = ClientAuth::Done;
                self.events.push_back(ClientEvent::Authenticated);
                self.ipcp_start = true;
            }
            Ok(chap::Repr::Failure { .. })
                if matches!(self.auth, ClientAuth::ChapResponded { .. }) =>
            {
                self.auth = ClientAuth::Failed;
                self.events.push_back(ClientEvent::AuthFailed);
            }
            _ => {}
        }
    }

    fn push_repr(
        &mut self,
        protocol: Protocol,
        len: usize,
        emit: impl FnOnce(&mut [u8]) -> l2tpx_wire::Result<usize>,
    ) {
        let mut frame = vec![0; 4 + len];
        frame[..2].copy_from_slice(&[0xff, 0x03]);
        frame[2..4].copy_from_slice(&u16::from(protocol).to_be_bytes());
        if emit(&mut frame[4..]).is_ok() {
            self.tx.push_back(frame);
        }
    }

    fn send_pap(&mut self, now: Instant, remaining: u32) {
        let ident = self.next_pap_ident;
        self.next_pap_ident = self.next_pap_ident.wrapping_add(1);
        let username = std::mem::take(&mut self.config.username);
        let password = std::mem::take(&mut self.config.password);
        let repr = pap::Repr::AuthenticateRequest {
            identifier: ident,
            peer_id: &username,
            password: &password,
        };
        self.push_repr(Protocol::Pap, repr.buffer_len(), |b| repr.emit_into(b));
        self.config.username = username;
        self.config.password = password;
        self.auth = ClientAuth::PapSent {
            ident,
            remaining,
            deadline: now + self.config.auth_restart,
        };
    }

    fn authenticated(&mut self, now: Instant) {
        self.auth = ClientAuth::Done;
        self.events.push_back(ClientEvent::Authenticated);
        self.ipcp.up(now);
        self.ipcp.open(now);
    }

    fn flush(&mut self) {
        while let Some(p) = self.lcp.poll_transmit() {
            self.push_repr(Protocol::Lcp, p.len(), |b| {
                b.copy_from_slice(&p);
                Ok(p.len())
            });
        }
        while let Some(p) = self.ipcp.poll_transmit() {
            self.push_repr(Protocol::Ipcp, p.len(), |b| {
                b.copy_from_slice(&p);
                Ok(p.len())
            });
        }
    }

    fn pump(&mut self, now: Instant) {
        loop {
            self.flush();
            if std::mem::take(&mut self.ipcp_start) {
                self.ipcp.up(now);
                self.ipcp.open(now);
                continue;
            }
            if let Some(ev) = self.lcp.poll_layer_event() {
                match ev {
                    LayerEvent::Up => {
                        self.events.push_back(ClientEvent::LinkUp);
                        if self.auth_proxied {
                            self.authenticated(now);
                            continue;
                        }
                        match self.lcp.negotiator().auth {
                            Some(AuthMethod::Pap) => {
                                let n = self.config.max_auth_requests.saturating_sub(1);
                                self.send_pap(now, n)
                            }
                            Some(AuthMethod::ChapMd5) => {
                                self.auth = ClientAuth::ChapWait;
                                if let Some(c) = self.early_challenge.take() {
                                    self.handle_chap(now, &c);
                                }
                            }
                            None => self.authenticated(now),
                        }
                    }
                    LayerEvent::Down => {
                        // A renegotiated link authenticates afresh: the
                        // LAC's proxied authentication covered the old one.
                        self.auth_proxied = false;
                        self.auth = ClientAuth::Idle;
                        self.early_challenge = None;
                        self.ipcp.down(now);
                        self.events.push_back(ClientEvent::Down);
                    }
                    LayerEvent::Finished => self.events.push_back(ClientEvent::Down),
                    LayerEvent::Started => {}
                }
                continue;
            }
            if let Some(ev) = self.ipcp.poll_layer_event() {
                if ev == LayerEvent::Up {
                    let n = self.ipcp.negotiator();
                    self.events.push_back(ClientEvent::Ipv4Up {
                        address: n.address,
                        dns: n.dns,
                    });
                }
                continue;
            }
            break;
        }
    }
}
