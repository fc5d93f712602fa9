//! The sans-IO RADIUS client: authentication (RFC 2865) and accounting
//! (RFC 2866) requests to a prioritised list of servers.
//!
//! - Identifiers: 256 per destination (server address and port, since the
//!   driver sends from one socket). When all are in flight, new requests
//!   wait in a FIFO for that destination.
//! - Retransmission: every `timeout`, up to `max_tries` transmissions per
//!   server. An Access-Request is resent byte for byte; an
//!   Accounting-Request gets an updated Acct-Delay-Time, so a new
//!   authenticator and (when the delay changed) a new identifier (RFC 2866
//!   §5.2, RFC 5080 §2.2.1).
//! - Failover: a server that used up its tries is marked dead for
//!   `dead_time` and the request moves to the next server (lowest
//!   priority value first, alive ones before dead ones). Each request tries
//!   every server once; when all are dead the least recently failed is
//!   tried anyway. After the last, [`RadiusEvent::Timeout`].
//! - Replies are matched by (source, identifier), must carry a valid
//!   Response Authenticator, and Access-Accept/Reject/Challenge must carry
//!   a valid Message-Authenticator (BlastRADIUS, CVE-2024-3596); others are
//!   discarded and counted in [`ClientStats`], leaving the request pending.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use l2tpx_wire::radius::{AttrType, Code, Packet, PacketRepr, AUTHENTICATOR_LEN};
use l2tpx_wire::Error as WireError;

use super::access::{reply_message, AccessRequest, Authorization, NasIdentity};
use super::accounting::AcctRequest;
use crate::l2tp::RandomSource;

/// One RADIUS server.
#[derive(Clone, PartialEq, Eq)]
pub struct RadiusServer {
    /// Its address.
    pub addr: IpAddr,
    /// The shared secret.
    pub secret: Vec<u8>,
    /// Authentication port (1812).
    pub auth_port: u16,
    /// Accounting port (1813).
    pub acct_port: u16,
    /// Lower is preferred; equal priorities keep list order.
    pub priority: u32,
}

impl fmt::Debug for RadiusServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusServer")
            .field("addr", &self.addr)
            .field("auth_port", &self.auth_port)
            .field("acct_port", &self.acct_port)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl RadiusServer {
    /// A server on the standard ports with priority 0.
    pub fn new(addr: IpAddr, secret: &[u8]) -> Self {
        RadiusServer {
            addr,
            secret: secret.to_vec(),
            auth_port: 1812,
            acct_port: 1813,
            priority: 0,
        }
    }

    fn endpoint(&self, acct: bool) -> SocketAddr {
        let port = if acct { self.acct_port } else { self.auth_port };
        SocketAddr::new(self.addr, port)
    }
}

/// The client's configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Servers, tried by priority.
    pub servers: Vec<RadiusServer>,
    /// NAS-IP-Address / NAS-Identifier put in every request.
    pub nas: NasIdentity,
    /// Wait per transmission (3 s).
    pub timeout: Duration,
    /// Transmissions per server before failing over (3).
    pub max_tries: u32,
    /// How long a server that timed out is avoided (30 s).
    pub dead_time: Duration,
    /// Also insist on Message-Authenticator in Accounting-Response (off:
    /// RFC 2866 servers do not send it; when present it is always checked).
    pub require_acct_message_authenticator: bool,
}

impl ClientConfig {
    /// Defaults around a server list.
    pub fn new(servers: Vec<RadiusServer>) -> Self {
        ClientConfig {
            servers,
            nas: NasIdentity::default(),
            timeout: Duration::from_secs(3),
            max_tries: 3,
            dead_time: Duration::from_secs(30),
            require_acct_message_authenticator: false,
        }
    }
}

/// Names a request for its outcome event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What the caller learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadiusEvent {
    /// Access-Accept.
    AccessAccept {
        /// The request.
        id: RequestId,
        /// What it grants.
        authorization: Authorization,
    },
    /// Access-Reject (or an Access-Challenge, which PPP cannot answer).
    AccessReject {
        /// The request.
        id: RequestId,
        /// Reply-Message, for the PAP/CHAP failure message.
        reply_message: Option<String>,
    },
    /// Accounting-Response.
    AccountingAck {
        /// The request.
        id: RequestId,
    },
    /// No server answered.
    Timeout {
        /// The request.
        id: RequestId,
    },
}

/// Why a request was refused at submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No server is configured.
    NoServers,
    /// The request does not encode (e.g. a password over 128 octets, a
    /// string over 253).
    Encode(WireError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoServers => write!(f, "no RADIUS server configured"),
            SendError::Encode(e) => write!(f, "RADIUS request does not encode: {e:?}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests submitted.
    pub requests: u64,
    /// Datagrams queued for sending, first tries and retries.
    pub transmits: u64,
    /// Of which retransmissions.
    pub retransmits: u64,
    /// Requests moved to another server.
    pub failovers: u64,
    /// Times a server was marked dead.
    pub servers_marked_dead: u64,
    /// Requests that timed out on every server.
    pub timeouts: u64,
    /// Requests that waited for a free identifier.
    pub queued_for_identifier: u64,
    /// Access-Accepts.
    pub accepts: u64,
    /// Access-Rejects (and Challenges).
    pub rejects: u64,
    /// Accounting-Responses.
    pub acct_acks: u64,
    /// Datagrams from an address that is no server's.
    pub unknown_source: u64,
    /// Datagrams that do not parse.
    pub malformed: u64,
    /// Replies with a code that does not answer the port's requests.
    pub unexpected_code: u64,
    /// Replies matching no pending request.
    pub unmatched: u64,
    /// Replies with a wrong Response Authenticator.
    pub bad_authenticator: u64,
    /// Replies without the required Message-Authenticator (BlastRADIUS).
    pub missing_message_authenticator: u64,
    /// Replies with a wrong Message-Authenticator.
    pub bad_message_authenticator: u64,
}

#[derive(Debug)]
enum Body {
    Access(AccessRequest),
    Acct(AcctRequest),
}

impl Body {
    fn is_acct(&self) -> bool {
        matches!(self, Body::Acct(_))
    }
}

#[derive(Debug)]
struct Pending {
    body: Body,
    created: Instant,
    /// Servers this request has been sent to (or is waiting for).
    tried: Vec<bool>,
    server: usize,
    /// Transmissions to `server`.
    tries: u32,
    /// The identifier held at `server`; `None` while waiting for one.
    ident: Option<u8>,
    authenticator: [u8; AUTHENTICATOR_LEN],
    packet: Vec<u8>,
    deadline: Option<Instant>,
    /// The Acct-Delay-Time in `packet`.
    delay_sent: u32,
}

/// The identifier space of one destination.
#[derive(Debug)]
struct IdSpace {
    slots: Vec<Option<RequestId>>,
    next: u8,
    used: usize,
    waiting: VecDeque<RequestId>,
}

impl IdSpace {
    fn new() -> Self {
        IdSpace {
            slots: vec![None; 256],
            next: 0,
            used: 0,
            waiting: VecDeque::new(),
        }
    }

    /// The next free identifier after the last one handed out, so a
    /// released identifier is not reused at once.
    fn alloc(&mut self, id: RequestId) -> Option<u8> {
        if self.used == 256 {
            return None;
        }
        for _ in 0..256 {
            let i = self.next;
            self.next = self.next.wrapping_add(1);
            if self.slots[usize::from(i)].is_none() {
                self.slots[usize::from(i)] = Some(id);
                self.used += 1;
                return Some(i);
            }
        }
        None
    }

    fn free(&mut self, ident: u8) {
        if self.slots[usize::from(ident)].take().is_some() {
            self.used -= 1;
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ServerState {
    dead_until: Option<Instant>,
}

/// The sans-IO RADIUS client; see the module docs.
pub struct RadiusClient {
    config: ClientConfig,
    rng: Box<dyn RandomSource>,
    servers: Vec<ServerState>,
    /// Two per server: authentication then accounting.
    ids: Vec<IdSpace>,
    pending: HashMap<RequestId, Pending>,
    timers: BTreeSet<(Instant, RequestId)>,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<RadiusEvent>,
    next_id: u64,
    stats: ClientStats,
}

impl fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusClient")
            .field("servers", &self.config.servers)
            .field("pending", &self.pending.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn dest(server: usize, acct: bool) -> usize {
    server * 2 + usize::from(acct)
}

impl RadiusClient {
    /// A client. `rng` draws Access-Request authenticators: production
    /// drivers must pass an unpredictable source.
    pub fn new(config: ClientConfig, rng: Box<dyn RandomSource>) -> Self {
        let n = config.servers.len();
        RadiusClient {
            servers: vec![ServerState::default(); n],
            ids: (0..2 * n).map(|_| IdSpace::new()).collect(),
            config,
            rng,
            pending: HashMap::new(),
            timers: BTreeSet::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            stats: ClientStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Requests not yet answered or timed out (in flight or waiting).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether server `index` is currently considered dead.
    pub fn is_server_dead(&self, now: Instant, index: usize) -> bool {
        self.servers
            .get(index)
            .is_some_and(|s| s.dead_until.is_some_and(|t| t > now))
    }

    /// Submits an Access-Request.
    pub fn send_access(
        &mut self,
        now: Instant,
        req: AccessRequest,
    ) -> Result<RequestId, SendError> {
        self.check_servers()?;
        req.encode(&self.config.nas, 0, &[0; AUTHENTICATOR_LEN], b"-")
            .map_err(SendError::Encode)?;
        Ok(self.submit(now, Body::Access(req)))
    }

    /// Submits an Accounting-Request.
    pub fn send_accounting(
        &mut self,
        now: Instant,
        req: AcctRequest,
    ) -> Result<RequestId, SendError> {
        self.check_servers()?;
        req.encode(&self.config.nas, 0, 0, b"-")
            .map_err(SendError::Encode)?;
        Ok(self.submit(now, Body::Acct(req)))
    }

    /// Forgets a request (its session went away); no event follows.
    /// Returns whether it was pending.
    pub fn cancel(&mut self, now: Instant, id: RequestId) -> bool {
        let Some(p) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(t) = p.deadline {
            self.timers.remove(&(t, id));
        }
        let d = dest(p.server, p.body.is_acct());
        match p.ident {
            Some(ident) => self.release(now, d, ident),
            None => self.ids[d].waiting.retain(|w| *w != id),
        }
        true
    }

    fn check_servers(&self) -> Result<(), SendError> {
        if self.config.servers.is_empty() {
            Err(SendError::NoServers)
        } else {
            Ok(())
        }
    }

    fn submit(&mut self, now: Instant, body: Body) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.stats.requests += 1;
        self.pending.insert(
            id,
            Pending {
                body,
                created: now,
                tried: vec![false; self.config.servers.len()],
                server: 0,
                tries: 0,
                ident: None,
                authenticator: [0; AUTHENTICATOR_LEN],
                packet: Vec::new(),
                deadline: None,
                delay_sent: 0,
            },
        );
        self.dispatch(now, id);
        id
    }

    /// The server for a request that has tried `tried`: alive before
    /// dead, then by priority and list order; among dead ones, the one
    /// whose holdoff ends first.
    fn pick_server(&self, now: Instant, tried: &[bool]) -> Option<usize> {
        let untried = || (0..self.servers.len()).filter(|&i| !tried[i]);
        let prio = |i: usize| (self.config.servers[i].priority, i);
        untried()
            .filter(|&i| !self.is_server_dead(now, i))
            .min_by_key(|&i| prio(i))
            .or_else(|| untried().min_by_key(|&i| (self.servers[i].dead_until, prio(i))))
    }

    /// Sends a request to its next server, or ends it with Timeout.
    fn dispatch(&mut self, now: Instant, id: RequestId) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let Some(server) = self.pick_server(now, &p.tried) else {
            self.pending.remove(&id);
            self.stats.timeouts += 1;
            self.events.push_back(RadiusEvent::Timeout { id });
            return;
        };
        let acct = p.body.is_acct();
        let d = dest(server, acct);
        let ident = self.ids[d].alloc(id);
        let p = self.pending.get_mut(&id).expect("checked above");
        p.server = server;
        p.tried[server] = true;
        p.tries = 0;
        p.ident = ident;
        if ident.is_none() {
            self.stats.queued_for_identifier += 1;
            self.ids[d].waiting.push_back(id);
            return;
        }
        self.transmit_first(now, id);
    }

    /// Encodes and sends the first transmission to the current server.
    fn transmit_first(&mut self, now: Instant, id: RequestId) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let server = &self.config.servers[p.server];
        let ident = p.ident.expect("holds an identifier");
        let acct = p.body.is_acct();
        let encoded = match &p.body {
            Body::Access(req) => {
                self.rng.fill_bytes(&mut p.authenticator);
                req.encode(&self.config.nas, ident, &p.authenticator, &server.secret)
            }
            Body::Acct(req) => {
                p.delay_sent = acct_delay(req, p.created, now);
                req.encode(&self.config.nas, ident, p.delay_sent, &server.secret)
            }
        };
        // Checked at submission; the secret does not change lengths.
        p.packet = encoded.expect("request encoded at submission");
        p.authenticator = Packet::new_unchecked(&p.packet[..]).authenticator();
        p.tries = 1;
        let deadline = now + self.config.timeout;
        p.deadline = Some(deadline);
        self.timers.insert((deadline, id));
        self.transmit
            .push_back((server.endpoint(acct), p.packet.clone()));
        self.stats.transmits += 1;
    }

    /// Frees an identifier and hands it to the first waiting request.
    fn release(&mut self, now: Instant, d: usize, ident: u8) {
        self.ids[d].free(ident);
        while let Some(w) = self.ids[d].waiting.pop_front() {
            if !self.pending.contains_key(&w) {
                continue;
            }
            let ident = self.ids[d].alloc(w);
            if let Some(p) = self.pending.get_mut(&w) {
                p.ident = ident;
            }
            self.transmit_first(now, w);
            break;
        }
    }

    /// Runs the retransmission and failover timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let max_tries = self.config.max_tries.max(1);
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            p.deadline = None;
            let acct = p.body.is_acct();
            let d = dest(p.server, acct);
            if p.tries < max_tries {
                self.retransmit(now, id);
                continue;
            }
            // This server is done for: mark it dead and move on.
            let server = p.server;
            let ident = p.ident.take();
            self.servers[server].dead_until = Some(now + self.config.dead_time);
            self.stats.servers_marked_dead += 1;
            if let Some(ident) = ident {
                self.release(now, d, ident);
            }
            if self
                .pending
                .get(&id)
                .is_some_and(|p| p.tried.contains(&false))
            {
                self.stats.failovers += 1;
            }
            self.dispatch(now, id);
        }
    }

    fn retransmit(&mut self, now: Instant, id: RequestId) {
        let p = self.pending.get_mut(&id).expect("caller checked");
        let server = &self.config.servers[p.server];
        let acct = p.body.is_acct();
        let d = dest(p.server, acct);
        let mut to_release = None;
        if let Body::Acct(req) = &p.body {
            let delay = acct_delay(req, p.created, now);
            if delay != p.delay_sent {
                // New content: new identifier where one is free (else
                // keep the old), new authenticator.
                let old = p.ident.expect("in flight");
                let ident = self.ids[d].alloc(id).unwrap_or(old);
                p.ident = Some(ident);
                p.delay_sent = delay;
                p.packet = req
                    .encode(&self.config.nas, ident, delay, &server.secret)
                    .expect("request encoded at submission");
                p.authenticator = Packet::new_unchecked(&p.packet[..]).authenticator();
                if ident != old {
                    to_release = Some(old);
                }
            }
        }
        if let Some(old) = to_release {
            self.release(now, d, old);
        }
        let p = self.pending.get_mut(&id).expect("still pending");
        p.tries += 1;
        let deadline = now + self.config.timeout;
        p.deadline = Some(deadline);
        self.timers.insert((deadline, id));
        let endpoint = self.config.servers[p.server].endpoint(acct);
        self.transmit.push_back((endpoint, p.packet.clone()));
        self.stats.transmits += 1;
        self.stats.retransmits += 1;
    }

    /// Takes a datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Some((server, acct)) = self.config.servers.iter().enumerate().find_map(|(i, s)| {
            if s.addr != from.ip() {
                None
            } else if s.auth_port == from.port() {
                Some((i, false))
            } else if s.acct_port == from.port() {
                Some((i, true))
            } else {
                None
            }
        }) else {
            self.stats.unknown_source += 1;
            return;
        };
        let Ok(packet) = Packet::new_checked(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let Ok(repr) = PacketRepr::parse(&packet) else {
            self.stats.malformed += 1;
            return;
        };
        let code_ok = match repr.code {
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge => !acct,
            Code::AccountingResponse => acct,
            _ => false,
        };
        if !code_ok {
            self.stats.unexpected_code += 1;
            return;
        }
        let d = dest(server, acct);
        let Some(id) = self.ids[d].slots[usize::from(repr.identifier)] else {
            self.stats.unmatched += 1;
            return;
        };
        let Some(p) = self.pending.get(&id) else {
            self.stats.unmatched += 1;
            return;
        };
        if p.server != server || p.ident != Some(repr.identifier) {
            self.stats.unmatched += 1;
            return;
        }
        let secret = &self.config.servers[server].secret;
        if packet
            .verify_response_authenticator(secret, &p.authenticator)
            .is_err()
        {
            self.stats.bad_authenticator += 1;
            return;
        }
        let has_ma = packet.find(AttrType::MessageAuthenticator).is_some();
        let need_ma = !acct || self.config.require_acct_message_authenticator;
        if !has_ma && need_ma {
            self.stats.missing_message_authenticator += 1;
            return;
        }
        if has_ma {
            match packet.verify_message_authenticator(secret, Some(&p.authenticator)) {
                Ok(()) => {}
                Err(_) => {
                    self.stats.bad_message_authenticator += 1;
                    return;
                }
            }
        }
        // A genuine answer: the server is alive and the request is done.
        self.servers[server].dead_until = None;
        let p = self.pending.remove(&id).expect("found above");
        if let Some(t) = p.deadline {
            self.timers.remove(&(t, id));
        }
        let event = match repr.code {
            Code::AccessAccept => {
                self.stats.accepts += 1;
                RadiusEvent::AccessAccept {
                    id,
                    authorization: Authorization::from_attrs(repr.attrs()),
                }
            }
            Code::AccountingResponse => {
                self.stats.acct_acks += 1;
                RadiusEvent::AccountingAck { id }
            }
            _ => {
                self.stats.rejects += 1;
                RadiusEvent::AccessReject {
                    id,
                    reply_message: reply_message(repr.attrs()),
                }
            }
        };
        self.events.push_back(event);
        self.release(now, d, repr.identifier);
    }

    /// The next datagram to send: destination and bytes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// When [`RadiusClient::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The next outcome.
    pub fn poll_event(&mut self) -> Option<RadiusEvent> {
        self.events.pop_front()
    }
}

/// Acct-Delay-Time at `now`: what the record waited before submission
/// plus whole seconds since.
fn acct_delay(req: &AcctRequest, created: Instant, now: Instant) -> u32 {
    let waited = now.saturating_duration_since(created).as_secs();
    req.delay
        .saturating_add(u32::try_from(waited).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::l2tp::SplitMix64;
    use crate::radius::accounting::{AcctSession, SessionCounters};
    use l2tpx_wire::radius::PacketBuilder;
    use std::net::Ipv4Addr;

    const S1: &[u8] = b"secret-one";
    const S2: &[u8] = b"secret-two";

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 251, last))
    }

    fn client(servers: &[(u8, &[u8], u32)]) -> RadiusClient {
        let servers = servers
            .iter()
            .map(|&(last, secret, priority)| RadiusServer {
                priority,
                ..RadiusServer::new(ip(last), secret)
            })
            .collect();
        let mut c = ClientConfig::new(servers);
        c.timeout = Duration::from_secs(2);
        c.max_tries = 3;
        c.dead_time = Duration::from_secs(60);
        RadiusClient::new(c, Box::new(SplitMix64(99)))
    }

    fn drain(c: &mut RadiusClient) -> Vec<(SocketAddr, Vec<u8>)> {
        std::iter::from_fn(|| c.poll_transmit()).collect()
    }

    /// A server's reply to `request`: code, attributes, and whether to add
    /// a (valid) Message-Authenticator.
    fn reply(
        request: &[u8],
        code: Code,
        secret: &[u8],
        with_ma: bool,
        extra: &[(AttrType, &[u8])],
    ) -> Vec<u8> {
        let req = Packet::new_checked(request).unwrap();
        let ra = req.authenticator();
        let mut buf = vec![0u8; 4096];
        let mut b = PacketBuilder::new(&mut buf, code, req.identifier(), &ra).unwrap();
        if with_ma {
            b.push_message_authenticator().unwrap();
        }
        for (t, v) in extra {
            b.push(*t, v).unwrap();
        }
        let mut p = b.finish();
        if with_ma {
            p.fill_message_authenticator(secret, Some(&ra)).unwrap();
        }
        p.fill_response_authenticator(secret, &ra);
        let len = usize::from(p.length());
        buf.truncate(len);
        buf
    }

    fn pap() -> AccessRequest {
        AccessRequest::pap("alice", b"alicepw", 1)
    }

    fn acct() -> AcctRequest {
        AcctSession {
            session_id: "S1".into(),
            user_name: "alice".into(),
            ..Default::default()
        }
        .interim(SessionCounters::default(), 10, None)
    }

    #[test]
    fn accept_roundtrip() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let id = c.send_access(now, pap()).unwrap();
        let out = drain(&mut c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, SocketAddr::new(ip(1), 1812));
        Packet::new_checked(&out[0].1[..])
            .unwrap()
            .verify_message_authenticator(S1, None)
            .unwrap();
        let accept = reply(
            &out[0].1,
            Code::AccessAccept,
            S1,
            true,
            &[
                (AttrType::FramedIpAddress, &[198, 18, 1, 50]),
                (AttrType::Class, b"k"),
            ],
        );
        c.handle_datagram(now, out[0].0, &accept);
        match c.poll_event() {
            Some(RadiusEvent::AccessAccept {
                id: got,
                authorization,
            }) => {
                assert_eq!(got, id);
                assert_eq!(
                    authorization.framed_ip_address,
                    Some(Ipv4Addr::new(198, 18, 1, 50))
                );
                assert_eq!(authorization.class, vec![b"k".to_vec()]);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(c.pending_len(), 0);
        assert_eq!(c.poll_timeout(), None);
        // A duplicate of the reply now matches nothing.
        c.handle_datagram(now, out[0].0, &accept);
        assert_eq!(c.stats().unmatched, 1);
        assert_eq!(c.poll_event(), None);
    }

    #[test]
    fn reject_carries_reply_message() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let id = c.send_access(now, pap()).unwrap();
        let out = drain(&mut c);
        let rej = reply(
            &out[0].1,
            Code::AccessReject,
            S1,
            true,
            &[(AttrType::ReplyMessage, b"no")],
        );
        c.handle_datagram(now, out[0].0, &rej);
        assert_eq!(
            c.poll_event(),
            Some(RadiusEvent::AccessReject {
                id,
                reply_message: Some("no".into())
            })
        );
    }

    #[test]
    fn blastradius_replies_are_discarded() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let id = c.send_access(now, pap()).unwrap();
        let out = drain(&mut c);
        let (to, req) = &out[0];
        // No Message-Authenticator, valid Response Authenticator.
        c.handle_datagram(now, *to, &reply(req, Code::AccessAccept, S1, false, &[]));
        assert_eq!(c.stats().missing_message_authenticator, 1);
        // Message-Authenticator keyed with the wrong secret, but the
        // Response Authenticator right.
        let mut forged = reply(req, Code::AccessAccept, S2, true, &[]);
        let ra = Packet::new_checked(&req[..]).unwrap().authenticator();
        {
            let mut p = Packet::new_unchecked(&mut forged[..]);
            p.fill_response_authenticator(S1, &ra);
        }
        c.handle_datagram(now, *to, &forged);
        assert_eq!(c.stats().bad_message_authenticator, 1);
        // Wrong secret altogether.
        c.handle_datagram(now, *to, &reply(req, Code::AccessAccept, S2, true, &[]));
        assert_eq!(c.stats().bad_authenticator, 1);
        // From the wrong port, from a stranger, and garbage.
        c.handle_datagram(
            now,
            SocketAddr::new(ip(1), 1813),
            &reply(req, Code::AccessAccept, S1, true, &[]),
        );
        assert_eq!(c.stats().unexpected_code, 1);
        c.handle_datagram(
            now,
            SocketAddr::new(ip(9), 1812),
            &reply(req, Code::AccessAccept, S1, true, &[]),
        );
        assert_eq!(c.stats().unknown_source, 1);
        c.handle_datagram(now, *to, &[1, 2, 3]);
        assert_eq!(c.stats().malformed, 1);
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.pending_len(), 1);
        // The genuine reply still gets through.
        c.handle_datagram(now, *to, &reply(req, Code::AccessReject, S1, true, &[]));
        assert_eq!(
            c.poll_event(),
            Some(RadiusEvent::AccessReject {
                id,
                reply_message: None
            })
        );
    }

    #[test]
    fn retransmits_then_times_out() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let id = c.send_access(now, pap()).unwrap();
        let first = drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(2)));
        c.handle_timeout(now + Duration::from_millis(1999));
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(now + Duration::from_secs(2));
        let second = drain(&mut c);
        // Access-Request retransmissions are identical.
        assert_eq!(second, first);
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(4)));
        c.handle_timeout(now + Duration::from_secs(4));
        assert_eq!(drain(&mut c), first);
        assert_eq!(c.poll_event(), None);
        c.handle_timeout(now + Duration::from_secs(6));
        assert!(drain(&mut c).is_empty());
        assert_eq!(c.poll_event(), Some(RadiusEvent::Timeout { id }));
        assert_eq!(c.pending_len(), 0);
        assert_eq!(c.poll_timeout(), None);
        assert!(c.is_server_dead(now + Duration::from_secs(6), 0));
        let s = c.stats();
        assert_eq!((s.transmits, s.retransmits, s.timeouts), (3, 2, 1));
        // All servers dead: the next request still tries the dead one.
        c.send_access(now + Duration::from_secs(7), pap()).unwrap();
        assert_eq!(drain(&mut c).len(), 1);
    }

    #[test]
    fn failover_by_priority_and_holdoff() {
        let now = t0();
        // Listed out of order: index 1 (priority 0) is preferred.
        let mut c = client(&[(2, S2, 5), (1, S1, 0)]);
        let id = c.send_access(now, pap()).unwrap();
        assert_eq!(drain(&mut c)[0].0.ip(), ip(1));
        for s in 1..=3 {
            c.handle_timeout(now + Duration::from_secs(2 * s));
        }
        let t = now + Duration::from_secs(6);
        let out = drain(&mut c);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].0, SocketAddr::new(ip(2), 1812));
        assert!(c.is_server_dead(t, 1));
        assert_eq!(c.stats().failovers, 1);
        // The second server's secret is used for it.
        Packet::new_checked(&out[2].1[..])
            .unwrap()
            .verify_message_authenticator(S2, None)
            .unwrap();
        c.handle_datagram(
            t,
            out[2].0,
            &reply(&out[2].1, Code::AccessAccept, S2, true, &[]),
        );
        assert!(
            matches!(c.poll_event(), Some(RadiusEvent::AccessAccept { id: got, .. }) if got == id)
        );
        // While server 1 is held off, new requests go to server 2 ...
        c.send_access(t + Duration::from_secs(59), pap()).unwrap();
        assert_eq!(drain(&mut c)[0].0.ip(), ip(2));
        // ... and after the holdoff back to the preferred one.
        c.send_access(t + Duration::from_secs(60), pap()).unwrap();
        assert_eq!(drain(&mut c)[0].0.ip(), ip(1));
    }

    #[test]
    fn identifier_exhaustion_queues() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let ids: Vec<_> = (0..300)
            .map(|_| c.send_access(now, pap()).unwrap())
            .collect();
        let out = drain(&mut c);
        assert_eq!(out.len(), 256);
        assert_eq!(c.stats().queued_for_identifier, 44);
        let mut seen: Vec<u8> = out.iter().map(|(_, b)| b[1]).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        // Accounting has its own identifier space.
        c.send_accounting(now, acct()).unwrap();
        assert_eq!(drain(&mut c).len(), 1);
        // Each answer lets one waiting request go, with the freed identifier.
        for (to, req) in &out[..44] {
            c.handle_datagram(now, *to, &reply(req, Code::AccessReject, S1, true, &[]));
            let next = drain(&mut c);
            assert_eq!(next.len(), 1);
            assert_eq!(next[0].1[1], req[1]);
        }
        assert_eq!(c.pending_len(), 300 - 44 + 1);
        // Cancelling frees identifiers too, and timers go away with them.
        for id in &ids {
            c.cancel(now, *id);
        }
        assert_eq!(c.pending_len(), 1);
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn waiting_requests_time_out_when_released_late() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        for _ in 0..257 {
            c.send_access(now, pap()).unwrap();
        }
        assert_eq!(drain(&mut c).len(), 256);
        // All 256 die at 6 s; the waiting one is then sent (to the dead
        // server, the only one) and times out 6 s later.
        c.handle_timeout(now + Duration::from_secs(2));
        c.handle_timeout(now + Duration::from_secs(4));
        c.handle_timeout(now + Duration::from_secs(6));
        assert_eq!(c.pending_len(), 1);
        let mut t = now + Duration::from_secs(6);
        while let Some(next) = c.poll_timeout() {
            t = next;
            c.handle_timeout(t);
        }
        assert_eq!(t, now + Duration::from_secs(12));
        assert_eq!(c.pending_len(), 0);
        assert_eq!(c.stats().timeouts, 257);
    }

    #[test]
    fn acct_delay_time_grows_on_retransmission() {
        let now = t0();
        let mut c = client(&[(1, S1, 0)]);
        let mut req = acct();
        req.delay = 5;
        let id = c.send_accounting(now, req).unwrap();
        let first = drain(&mut c);
        assert_eq!(first[0].0, SocketAddr::new(ip(1), 1813));
        let delay = |b: &[u8]| {
            Packet::new_checked(b)
                .unwrap()
                .find(AttrType::AcctDelayTime)
                .unwrap()
                .as_u32()
                .unwrap()
        };
        assert_eq!(delay(&first[0].1), 5);
        c.handle_timeout(now + Duration::from_secs(2));
        let second = drain(&mut c);
        assert_eq!(delay(&second[0].1), 7);
        let p = Packet::new_checked(&second[0].1[..]).unwrap();
        p.verify_request_authenticator(S1).unwrap();
        assert_ne!(
            p.authenticator(),
            Packet::new_checked(&first[0].1[..])
                .unwrap()
                .authenticator()
        );
        assert_ne!(second[0].1[1], first[0].1[1], "new content, new identifier");
        // A reply to the first transmission no longer matches ...
        c.handle_datagram(
            now,
            first[0].0,
            &reply(&first[0].1, Code::AccountingResponse, S1, false, &[]),
        );
        assert_eq!(c.poll_event(), None);
        // ... the reply to the current one does (no Message-Authenticator
        // needed for accounting).
        c.handle_datagram(
            now,
            second[0].0,
            &reply(&second[0].1, Code::AccountingResponse, S1, false, &[]),
        );
        assert_eq!(c.poll_event(), Some(RadiusEvent::AccountingAck { id }));
        assert_eq!(c.pending_len(), 0);
    }

    #[test]
    fn submission_errors() {
        let now = t0();
        let mut c = client(&[]);
        assert_eq!(c.send_access(now, pap()), Err(SendError::NoServers));
        let mut c = client(&[(1, S1, 0)]);
        let bad = AccessRequest::pap("x", &[0; 200], 1);
        assert!(matches!(c.send_access(now, bad), Err(SendError::Encode(_))));
        assert_eq!(c.pending_len(), 0);
    }
}
