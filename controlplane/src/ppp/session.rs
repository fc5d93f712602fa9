//! One subscriber's PPP engine on the LNS: LCP, then authentication, then
//! IPCP (and IPv6CP), sans-IO.
//!
//! Input: whole PPP frames as carried in L2TP data messages
//! ([`PppSession::handle_frame`]; Address/Control and Protocol compressed
//! or not), timer expiries ([`PppSession::handle_timeout`] when
//! [`PppSession::poll_timeout`] says), credential verdicts
//! ([`PppSession::auth_result`]) and administrative closes. Output: frames
//! ready for an L2TP data message (`ff 03` + two-octet protocol +
//! packet; we never compress on send) from [`PppSession::poll_transmit`],
//! and [`PppEvent`]s from [`PppSession::poll_event`].
//!
//! Phases (RFC 1661 §3): LCP Establish; on This-Layer-Up, Authenticate
//! with the method LCP agreed (or skip when none); then Network: IPCP is
//! opened when an address for the peer is known
//! ([`PppSession::set_peer_ipv4`], before the positive
//! [`PppSession::auth_result`]), IPv6CP when enabled. NCP packets before
//! Network are silently discarded (§3.5 of RFC 1661 calls for it during
//! Authenticate). Frames of unknown protocols get an LCP Protocol-Reject
//! while LCP is Opened (§5.7); IPv4/IPv6 data frames are the data plane's
//! and ignored here.
//!
//! Keepalive: LCP Echo-Request every [`LcpConfig::echo_interval`]; after
//! [`LcpConfig::echo_max_failures`] unanswered ones the session closes
//! with [`DownCause::EchoTimeout`].
//!
//! [`PppEvent::Down`] is reported once, when the session is over: on
//! This-Layer-Down with a cause (we closed, the peer sent
//! Terminate-Request), or on This-Layer-Finished (negotiation gave up). An
//! LCP renegotiation started by the peer in Opened (a new
//! Configure-Request) is not the end: NCPs go down, and LCP, authentication
//! and NCPs run again.
//!
//! [`LcpConfig::echo_interval`]: super::lcp::LcpConfig::echo_interval
//! [`LcpConfig::echo_max_failures`]: super::lcp::LcpConfig::echo_max_failures

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use l2tpx_wire::ppp::cp::Repr;
use l2tpx_wire::ppp::{protocol_and_offset, Protocol};

use super::auth::{AuthConfig, AuthEvent, AuthFailure, AuthRequest, Authenticator, Credentials};
use super::fsm::{release_queue, Event, Fsm, FsmConfig, LayerEvent, Received, State};
use super::ipcp::{AddressSource, IpcpConfig, IpcpNegotiator};
use super::ipv6cp::{Iid, Ipv6cpNegotiator};
use super::lcp::{AuthMethod, LcpConfig, LcpFailure, LcpNegotiator, PeerLcp};
use super::Drbg;

/// Everything a session needs to know; shared by all sessions.
#[derive(Debug, Clone, Default)]
pub struct PppConfig {
    /// Restart timer and counters, for every automaton.
    pub fsm: FsmConfig,
    /// LCP policy and keepalive.
    pub lcp: LcpConfig,
    /// PAP/CHAP authenticator.
    pub auth: AuthConfig,
    /// IPCP policy.
    pub ipcp: IpcpConfig,
    /// Run IPv6CP (else its packets are Protocol-Rejected).
    pub ipv6cp: bool,
    /// Take over the LAC's LCP negotiation when its proxy AVPs are
    /// acceptable.
    pub accept_proxy_lcp: bool,
    /// Check the credentials the LAC collected instead of asking again.
    pub accept_proxy_auth: bool,
}

/// PPP link phases (RFC 1661 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// LCP negotiating.
    Establish,
    /// LCP Opened, authenticating the peer.
    Authenticate,
    /// NCPs running.
    Network,
    /// The link is being closed.
    Terminate,
    /// Over.
    Dead,
}

/// Why a session went down (for accounting, RFC 2866 Acct-Terminate-Cause,
/// and the L2TP CDN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownCause {
    /// The peer sent an LCP Terminate-Request.
    PeerTerminated,
    /// LCP Echo-Requests went unanswered.
    EchoTimeout,
    /// The credentials were refused.
    AuthFailed,
    /// The peer did not authenticate in time.
    AuthTimeout,
    /// LCP could not agree on an authentication protocol.
    NoCommonAuth,
    /// The protocol's negotiation did not converge or the peer stopped
    /// answering.
    NegotiationFailed(Protocol),
    /// No NCP could run (no address for the peer).
    NoAddress,
    /// Closed by us ([`PppSession::close`]): administrative.
    AdminClose,
    /// Closed by us because the service ended (session timeout, ...).
    SessionTimeout,
    /// The L2TP session or tunnel went away under PPP.
    LowerLayerDown,
}

impl DownCause {
    /// The RADIUS Acct-Terminate-Cause (RFC 2866 §5.10).
    pub fn acct_terminate_cause(self) -> u32 {
        match self {
            DownCause::PeerTerminated => 1,                       // User Request
            DownCause::EchoTimeout => 2,                          // Lost Carrier
            DownCause::LowerLayerDown => 2,                       // Lost Carrier
            DownCause::SessionTimeout => 5,                       // Session Timeout
            DownCause::AdminClose => 6,                           // Admin Reset
            DownCause::NoAddress => 15,                           // Service Unavailable
            DownCause::AuthFailed | DownCause::AuthTimeout => 17, // User Error
            DownCause::NoCommonAuth | DownCause::NegotiationFailed(_) => 17, // User Error
        }
    }
}

/// What the session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PppEvent {
    /// Check these credentials; answer with [`PppSession::auth_result`].
    AuthRequest(AuthRequest),
    /// The peer is authenticated.
    Authenticated { username: Vec<u8> },
    /// IPCP Opened: the peer uses `address`.
    Ipv4Up {
        address: Ipv4Addr,
        local: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
    },
    /// IPCP left Opened.
    Ipv4Down,
    /// IPv6CP Opened.
    Ipv6Up { peer_iid: Iid, our_iid: Iid },
    /// IPv6CP left Opened.
    Ipv6Down,
    /// The session is over.
    Down { cause: DownCause },
}

/// Proxy authentication AVPs of an ICCN (RFC 2661 §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAuth<'a> {
    /// Proxy Authen Type: 2 CHAP, 3 PAP, 4 none (1 and 5 unsupported).
    pub authen_type: u16,
    /// Proxy Authen Name.
    pub name: &'a [u8],
    /// Proxy Authen Challenge (CHAP).
    pub challenge: &'a [u8],
    /// Proxy Authen ID (CHAP Identifier).
    pub id: u8,
    /// Proxy Authen Response (CHAP Response Value, or PAP password).
    pub response: &'a [u8],
}

/// Proxy LCP AVPs of an ICCN (RFC 2661 §4.4.5): raw LCP option bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyLcp<'a> {
    /// Last Sent LCP CONFREQ (the LAC's, which spoke for us).
    pub last_sent_confreq: &'a [u8],
    /// Last Received LCP CONFREQ (the peer's).
    pub last_received_confreq: &'a [u8],
    /// Proxy authentication, if the LAC did it.
    pub auth: Option<ProxyAuth<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingProxyAuth {
    method: AuthMethod,
    username: Vec<u8>,
    ident: u8,
    credentials: Credentials,
}

const PROTOCOL_REJECT_MAX_INFO: usize = 512;

/// What a session had agreed, to resume it after a control-plane restart
/// ([`PppSession::resume`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumedPpp {
    /// Our LCP Magic-Number.
    pub our_magic: u32,
    /// Our MRU.
    pub our_mru: u16,
    /// The peer's LCP options (its MRU and Magic-Number).
    pub peer: PeerLcp,
    /// The authentication done (`None`: none).
    pub auth: Option<AuthMethod>,
    /// The authenticated name.
    pub username: Vec<u8>,
    /// The peer's IPv4 address (IPCP Opened with it).
    pub address: Ipv4Addr,
}

/// One subscriber's PPP engine.
#[derive(Debug)]
pub struct PppSession {
    config: Arc<PppConfig>,
    phase: Phase,
    lcp: Fsm<LcpNegotiator>,
    auth: Authenticator,
    ipcp: Fsm<IpcpNegotiator>,
    /// Boxed: most deployments run IPv4 only.
    ipv6cp: Option<Box<Fsm<Ipv6cpNegotiator>>>,
    peer_ipv4: Option<Ipv4Addr>,
    /// Boxed: only until authentication starts, with proxy AVPs.
    proxy_auth: Option<Box<PendingProxyAuth>>,
    proxy_lcp_used: bool,
    echo_next: Option<Instant>,
    echo_outstanding: u32,
    ipv4_up: bool,
    ipv6_up: bool,
    cause: Option<DownCause>,
    down_reported: bool,
    /// IPCP opened: free what negotiation left once the queues drain.
    release_pending: bool,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<PppEvent>,
}

impl PppSession {
    /// A session whose L2TP session just came up: LCP starts at once (our
    /// Configure-Request is queued). `seed` must come from the OS RNG.
    pub fn new(config: Arc<PppConfig>, seed: [u8; 16], now: Instant) -> Self {
        let mut s = Self::build(config, seed);
        s.lcp.open(now);
        s.lcp.up(now);
        s.pump(now);
        s
    }

    /// A session started from the LAC's proxy LCP: when allowed and
    /// acceptable, LCP starts Opened with the LAC's options and goes
    /// straight to authentication (with the proxied credentials when
    /// allowed and usable); otherwise as [`new`](Self::new).
    pub fn with_proxy(
        config: Arc<PppConfig>,
        seed: [u8; 16],
        now: Instant,
        proxy: &ProxyLcp<'_>,
    ) -> Self {
        let mut s = Self::build(config, seed);
        let accepted = s.config.accept_proxy_lcp
            && s.lcp
                .negotiator_mut()
                .adopt_proxy(proxy.last_sent_confreq, proxy.last_received_confreq);
        if !accepted {
            s.lcp.open(now);
            s.lcp.up(now);
            s.pump(now);
            return s;
        }
        s.proxy_lcp_used = true;
        let method = s.lcp.negotiator().auth_method();
        if let (true, Some(a), Some(m)) = (s.config.accept_proxy_auth, proxy.auth, method) {
            s.proxy_auth = match (a.authen_type, m) {
                (2, AuthMethod::ChapMd5) if !a.challenge.is_empty() => Some(PendingProxyAuth {
                    method: m,
                    username: a.name.to_vec(),
                    ident: a.id,
                    credentials: Credentials::Chap {
                        ident: a.id,
                        challenge: a.challenge.to_vec(),
                        response: a.response.to_vec(),
                    },
                }),
                (3, AuthMethod::Pap) => Some(PendingProxyAuth {
                    method: m,
                    username: a.name.to_vec(),
                    ident: 0,
                    credentials: Credentials::Pap {
                        password: a.response.to_vec(),
                    },
                }),
                _ => None,
            }
            .map(Box::new);
        }
        let sent = proxy.last_sent_confreq.to_vec();
        s.lcp.force_opened(&sent);
        s.pump(now);
        s
    }

    /// A session resumed after a control-plane restart, as it was: LCP
    /// and IPCP Opened with what `r` says was agreed, authenticated, in the
    /// Network phase. Nothing is sent: Echo-Requests from the peer are
    /// answered with the same Magic-Number, and our own keepalives start
    /// one echo interval from `now`. IPv6CP, when enabled, starts in
    /// Initial (its state is not resumed).
    pub fn resume(config: Arc<PppConfig>, seed: [u8; 16], now: Instant, r: &ResumedPpp) -> Self {
        let mut s = Self::build(config, seed);
        s.lcp
            .negotiator_mut()
            .resume(r.our_magic, r.our_mru, r.auth, r.peer);
        s.lcp.force_opened(&[]);
        while s.lcp.poll_layer_event().is_some() {}
        s.auth.resume(r.auth, &r.username);
        s.peer_ipv4 = Some(r.address);
        s.ipcp.negotiator_mut().resume_peer(r.address);
        s.ipcp.force_opened(&[]);
        while s.ipcp.poll_layer_event().is_some() {}
        s.phase = Phase::Network;
        s.ipv4_up = true;
        s.echo_next = s.config.lcp.echo_interval.map(|i| now + i);
        s
    }

    fn build(config: Arc<PppConfig>, seed: [u8; 16]) -> Self {
        let root = Drbg::new(seed);
        let lcp = Fsm::new(config.fsm, LcpNegotiator::new(&config.lcp, root.fork(1)));
        let auth = Authenticator::new(config.clone(), root.fork(2));
        let ipcp = Fsm::new(config.fsm, IpcpNegotiator::new(config.ipcp));
        let ipv6cp = config
            .ipv6cp
            .then(|| Box::new(Fsm::new(config.fsm, Ipv6cpNegotiator::new(root.fork(3)))));
        PppSession {
            config,
            phase: Phase::Establish,
            lcp,
            auth,
            ipcp,
            ipv6cp,
            peer_ipv4: None,
            proxy_auth: None,
            proxy_lcp_used: false,
            echo_next: None,
            echo_outstanding: 0,
            ipv4_up: false,
            ipv6_up: false,
            cause: None,
            down_reported: false,
            release_pending: false,
            tx: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// LCP's state.
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// IPCP's state.
    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// IPv6CP's state, when enabled.
    pub fn ipv6cp_state(&self) -> Option<State> {
        self.ipv6cp.as_ref().map(|f| f.state())
    }

    /// What LCP agreed with the peer (its MRU bounds what we send).
    pub fn peer_lcp(&self) -> PeerLcp {
        self.lcp.negotiator().peer()
    }

    /// Our LCP Magic-Number.
    pub fn our_magic(&self) -> u32 {
        self.lcp.negotiator().our_magic()
    }

    /// Our MRU.
    pub fn our_mru(&self) -> u16 {
        self.lcp.negotiator().our_mru()
    }

    /// The authentication method LCP agreed (`None`: none).
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.lcp.negotiator().auth_method()
    }

    /// Whether LCP was taken over from the LAC's proxy AVPs.
    pub fn proxy_lcp_used(&self) -> bool {
        self.proxy_lcp_used
    }

    /// The authenticated user name.
    pub fn username(&self) -> Option<&[u8]> {
        self.auth.username()
    }

    /// The peer's IPv4 address (assigned; agreed once IPCP is up).
    pub fn peer_ipv4(&self) -> Option<Ipv4Addr> {
        self.peer_ipv4
    }

    /// Whether the session reported [`PppEvent::Down`].
    pub fn is_down(&self) -> bool {
        self.down_reported
    }

    /// Sets the address to give the peer (RADIUS Framed-IP-Address or a
    /// pool); call before the positive [`auth_result`](Self::auth_result).
    pub fn set_peer_ipv4(&mut self, address: Ipv4Addr) {
        self.peer_ipv4 = Some(address);
        self.ipcp.negotiator_mut().set_assigned(Some(address));
    }

    /// Overrides the DNS servers offered to this peer (RFC 1877), e.g. from
    /// the user's entry; call before IPCP opens.
    pub fn set_dns(&mut self, dns: [Option<Ipv4Addr>; 2]) {
        self.ipcp.negotiator_mut().set_dns(dns);
    }

    /// Takes an address from `pool` unless one is set; false when the pool
    /// is exhausted.
    pub fn assign_from(&mut self, pool: &mut impl AddressSource) -> bool {
        if self.peer_ipv4.is_some() {
            return true;
        }
        match pool.allocate() {
            Some(a) => {
                self.set_peer_ipv4(a);
                true
            }
            None => false,
        }
    }

    /// Gives the peer's address back to `pool` (after Down).
    pub fn release_to(&mut self, pool: &mut impl AddressSource) {
        if let Some(a) = self.peer_ipv4.take() {
            self.ipcp.negotiator_mut().set_assigned(None);
            pool.release(a);
        }
    }

    /// The verdict on [`PppEvent::AuthRequest`] `id`.
    pub fn auth_result(&mut self, now: Instant, id: u64, accepted: bool, message: &[u8]) {
        self.auth.result(now, id, accepted, message);
        self.pump(now);
    }

    /// Closes the session (LCP Terminate-Request); `cause` is reported.
    pub fn close(&mut self, now: Instant, cause: DownCause) {
        self.cause.get_or_insert(cause);
        self.phase = Phase::Terminate;
        self.lcp.close(now);
        self.pump(now);
        if matches!(self.lcp.state(), State::Initial | State::Closed) {
            self.report_down();
        }
    }

    /// The L2TP session went away: everything stops, nothing is sent.
    pub fn lower_layer_down(&mut self, now: Instant) {
        self.cause.get_or_insert(DownCause::LowerLayerDown);
        self.lcp.down(now);
        self.pump(now);
        self.tx.clear();
        self.report_down();
        self.phase = Phase::Dead;
    }

    /// The next frame to send (PPP frame with `ff 03` and protocol).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event. Once IPCP has opened and everything is drained,
    /// the buffers negotiation grew are freed (a session spends most of
    /// its life idle, and there may be a million of them).
    pub fn poll_event(&mut self) -> Option<PppEvent> {
        let ev = self.events.pop_front();
        if ev.is_none() && self.release_pending && self.tx.is_empty() {
            self.release_pending = false;
            self.release_buffers();
        }
        ev
    }

    fn release_buffers(&mut self) {
        self.lcp.release_buffers();
        self.ipcp.release_buffers();
        if let Some(f) = self.ipv6cp.as_mut() {
            f.release_buffers();
        }
        self.auth.release_buffers();
        release_queue(&mut self.tx);
        release_queue(&mut self.events);
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.lcp.poll_timeout(),
            self.auth.poll_timeout(),
            self.ipcp.poll_timeout(),
            self.ipv6cp.as_ref().and_then(|f| f.poll_timeout()),
            self.echo_next,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Timer expiries up to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lcp.handle_timeout(now);
        self.pump(now);
        self.auth.handle_timeout(now);
        self.pump(now);
        self.ipcp.handle_timeout(now);
        if let Some(f) = self.ipv6cp.as_mut() {
            f.handle_timeout(now);
        }
        self.pump(now);
        if self.echo_next.is_some_and(|d| d <= now) {
            self.echo_tick(now);
            self.pump(now);
        }
    }

    fn echo_tick(&mut self, now: Instant) {
        let Some(interval) = self.config.lcp.echo_interval else {
            self.echo_next = None;
            return;
        };
        if self.lcp.state() != State::Opened {
            self.echo_next = None;
            return;
        }
        if self.echo_outstanding >= self.config.lcp.echo_max_failures {
            self.echo_next = None;
            self.close(now, DownCause::EchoTimeout);
            return;
        }
        let identifier = self.lcp.take_identifier();
        let repr = Repr::EchoRequest {
            identifier,
            magic_number: self.our_magic(),
            data: &[],
        };
        let mut buf = vec![0; repr.buffer_len()];
        if repr.emit_into(&mut buf).is_ok() {
            self.lcp.queue(buf);
        }
        self.echo_outstanding += 1;
        self.echo_next = Some(now + interval);
    }

    /// A PPP frame from the peer (the payload of an L2TP data message).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let Ok((protocol, offset)) = protocol_and_offset(frame) else {
            return;
        };
        let payload = &frame[offset..];
        match Protocol::from(protocol) {
            Protocol::Lcp => self.handle_lcp(now, payload),
            Protocol::Pap => {
                if matches!(self.phase, Phase::Authenticate | Phase::Network) {
                    self.auth.handle_pap(now, payload);
                }
            }
            Protocol::Chap => {
                if matches!(self.phase, Phase::Authenticate | Phase::Network) {
                    self.auth.handle_chap(now, payload);
                }
            }
            Protocol::Ipcp => {
                if self.phase == Phase::Network {
                    self.ipcp.handle_packet(now, payload);
                }
            }
            Protocol::Ipv6cp if self.ipv6cp.is_some() => {
                if self.phase == Phase::Network {
                    if let Some(f) = self.ipv6cp.as_mut() {
                        f.handle_packet(now, payload);
                    }
                }
            }
            // Network-layer data belongs to the data plane.
            Protocol::Ipv4 | Protocol::Ipv6 => {}
            _ => self.protocol_reject(protocol, payload),
        }
        self.pump(now);
    }

    fn handle_lcp(&mut self, now: Instant, payload: &[u8]) {
        // A Terminate-Request in Opened ends the session at tld.
        if payload.first() == Some(&5) && self.lcp.state() == State::Opened {
            self.cause.get_or_insert(DownCause::PeerTerminated);
        }
        match self.lcp.handle_packet(now, payload) {
            Some(Received::EchoReply { magic_number, .. }) => {
                let ours = self.our_magic();
                if ours == 0 || magic_number != ours {
                    self.echo_outstanding = 0;
                }
            }
            Some(Received::ProtocolReject { protocol }) => match protocol {
                Protocol::Ipcp => self.ipcp.event(now, Event::RxjMinus),
                Protocol::Ipv6cp => {
                    if let Some(f) = self.ipv6cp.as_mut() {
                        f.event(now, Event::RxjMinus)
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// LCP Protocol-Reject (RFC 1661 §5.7), only while LCP is Opened.
    fn protocol_reject(&mut self, protocol: u16, information: &[u8]) {
        if self.lcp.state() != State::Opened {
            return;
        }
        let identifier = self.lcp.take_identifier();
        let repr = Repr::ProtocolReject {
            identifier,
            rejected_protocol: Protocol::from(protocol),
            rejected_information: &information[..information.len().min(PROTOCOL_REJECT_MAX_INFO)],
        };
        let mut buf = vec![0; repr.buffer_len()];
        if repr.emit_into(&mut buf).is_ok() {
            self.lcp.queue(buf);
        }
    }

    fn push_frame(&mut self, protocol: Protocol, packet: &[u8]) {
        let mut frame = Vec::with_capacity(4 + packet.len());
        frame.extend_from_slice(&[0xff, 0x03]);
        frame.extend_from_slice(&u16::from(protocol).to_be_bytes());
        frame.extend_from_slice(packet);
        self.tx.push_back(frame);
    }

    fn flush(&mut self) {
        while let Some(p) = self.lcp.poll_transmit() {
            self.push_frame(Protocol::Lcp, &p);
        }
        while let Some((proto, p)) = self.auth.poll_transmit() {
            self.push_frame(proto, &p);
        }
        while let Some(p) = self.ipcp.poll_transmit() {
            self.push_frame(Protocol::Ipcp, &p);
        }
        while let Some(p) = self.ipv6cp.as_mut().and_then(|f| f.poll_transmit()) {
            self.push_frame(Protocol::Ipv6cp, &p);
        }
    }

    /// Moves queued packets out and reacts to the components' signals
    /// until nothing is left.
    fn pump(&mut self, now: Instant) {
        loop {
            self.flush();
            if let Some(ev) = self.lcp.poll_layer_event() {
                self.on_lcp(now, ev);
                continue;
            }
            if let Some(LcpFailure::NoCommonAuth) = self.lcp.negotiator().failure() {
                if self.cause.is_none() {
                    self.close(now, DownCause::NoCommonAuth);
                    continue;
                }
            }
            if let Some(ev) = self.auth.poll_event() {
                self.on_auth(now, ev);
                continue;
            }
            if let Some(ev) = self.ipcp.poll_layer_event() {
                self.on_ipcp(now, ev);
                continue;
            }
            if let Some(ev) = self.ipv6cp.as_mut().and_then(|f| f.poll_layer_event()) {
                self.on_ipv6cp(now, ev);
                continue;
            }
            break;
        }
    }

    fn report_down(&mut self) {
        if !self.down_reported {
            self.down_reported = true;
            let cause = self
                .cause
                .unwrap_or(DownCause::NegotiationFailed(Protocol::Lcp));
            self.events.push_back(PppEvent::Down { cause });
        }
    }

    fn on_lcp(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                if self.cause.is_some() {
                    return;
                }
                self.phase = Phase::Authenticate;
                self.echo_outstanding = 0;
                self.echo_next = self.config.lcp.echo_interval.map(|i| now + i);
                if let Some(p) = self.proxy_auth.take().map(|b| *b) {
                    self.auth
                        .start_proxy(now, p.method, &p.username, p.ident, p.credentials);
                } else {
                    match self.lcp.negotiator().auth_method() {
                        Some(m) => self.auth.start(now, m),
                        None => self.enter_network(now),
                    }
                }
            }
            LayerEvent::Down => {
                self.echo_next = None;
                self.auth.reset();
                self.phase = if self.cause.is_some() {
                    Phase::Terminate
                } else {
                    Phase::Establish
                };
                // NCPs go down first, so their Down events come before
                // the session's.
                self.ipcp.down(now);
                while let Some(ev) = self.ipcp.poll_layer_event() {
                    self.on_ipcp(now, ev);
                }
                if let Some(f) = self.ipv6cp.as_mut() {
                    f.down(now);
                }
                while let Some(ev) = self.ipv6cp.as_mut().and_then(|f| f.poll_layer_event()) {
                    self.on_ipv6cp(now, ev);
                }
                if self.cause.is_some() {
                    self.report_down();
                }
            }
            LayerEvent::Started => {}
            LayerEvent::Finished => {
                self.phase = Phase::Dead;
                self.report_down();
            }
        }
    }

    fn on_auth(&mut self, now: Instant, ev: AuthEvent) {
        match ev {
            AuthEvent::Request(r) => self.events.push_back(PppEvent::AuthRequest(r)),
            AuthEvent::Success => {
                if self.phase == Phase::Authenticate {
                    let username = self.auth.username().unwrap_or_default().to_vec();
                    self.events.push_back(PppEvent::Authenticated { username });
                    self.enter_network(now);
                }
            }
            AuthEvent::Failure(f) => {
                let cause = match f {
                    AuthFailure::Rejected => DownCause::AuthFailed,
                    AuthFailure::Timeout => DownCause::AuthTimeout,
                };
                self.close(now, cause);
            }
        }
    }

    fn enter_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        let mut any = false;
        if self.peer_ipv4.is_some() {
            self.ipcp.up(now);
            self.ipcp.open(now);
            any = true;
        }
        if let Some(f) = self.ipv6cp.as_mut() {
            f.up(now);
            f.open(now);
            any = true;
        }
        if !any {
            self.close(now, DownCause::NoAddress);
        }
    }

    fn ncp_finished(state: Option<State>) -> bool {
        matches!(
            state,
            None | Some(State::Initial | State::Starting | State::Closed | State::Stopped)
        )
    }

    /// Called when an NCP finishes: with no NCP left, the link is useless.
    fn check_ncps(&mut self, now: Instant, failed: Protocol) {
        if self.phase == Phase::Network
            && Self::ncp_finished(Some(self.ipcp.state()))
            && Self::ncp_finished(self.ipv6cp.as_ref().map(|f| f.state()))
        {
            self.close(now, DownCause::NegotiationFailed(failed));
        }
    }

    fn on_ipcp(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                let n = self.ipcp.negotiator();
                match (n.peer_address(), n.assigned()) {
                    (Some(a), Some(b)) if a == b => {
                        self.ipv4_up = true;
                        self.release_pending = true;
                        let (local, dns) = (n.local_address(), n.peer_dns());
                        self.events.push_back(PppEvent::Ipv4Up {
                            address: a,
                            local,
                            dns,
                        });
                    }
                    _ => {
                        // Opened without the assigned address (after
                        // Max-Failure turned our Naks into Rejects).
                        self.ipcp.close(now);
                        self.check_ncps(now, Protocol::Ipcp);
                    }
                }
            }
            LayerEvent::Down => {
                if std::mem::take(&mut self.ipv4_up) {
                    self.events.push_back(PppEvent::Ipv4Down);
                }
            }
            LayerEvent::Started => {}
            LayerEvent::Finished => self.check_ncps(now, Protocol::Ipcp),
        }
    }

    fn on_ipv6cp(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                if let Some(f) = self.ipv6cp.as_ref() {
                    let n = f.negotiator();
                    self.ipv6_up = true;
                    self.events.push_back(PppEvent::Ipv6Up {
                        peer_iid: n.peer_iid().unwrap_or([0; 8]),
                        our_iid: n.our_iid(),
                    });
                }
            }
            LayerEvent::Down => {
                if std::mem::take(&mut self.ipv6_up) {
                    self.events.push_back(PppEvent::Ipv6Down);
                }
            }
            LayerEvent::Started => {}
            LayerEvent::Finished => self.check_ncps(now, Protocol::Ipv6cp),
        }
    }
}
