//! Dynamic Authorization Extensions (RFC 5176): a sans-IO server for
//! Disconnect-Request and CoA-Request.
//!
//! - Only listed clients are served, each with its own secret; anything
//!   else is dropped silently and counted.
//! - The Request Authenticator is verified, and the Message-Authenticator
//!   when present (or always, with `require_message_authenticator`).
//! - The session is found by Acct-Session-Id, User-Name and/or
//!   Framed-IP-Address through the caller's [`SessionLookup`].
//! - Disconnect-Request -> [`DaeEvent::Disconnect`]; CoA-Request with
//!   Session-Timeout / Idle-Timeout / Acct-Interim-Interval ->
//!   [`DaeEvent::Coa`]. The caller acts and calls [`DaeServer::complete`],
//!   which sends the ACK or NAK.
//! - NAKs without asking the caller: unknown session 503, several sessions
//!   508, unsupported attribute 401, no identifying attribute 402, a
//!   NAS-IP-Address / NAS-Identifier that is not ours 403.
//! - Retransmissions (same client, Identifier and Authenticator) get the
//!   cached reply, or nothing while the first copy is still being handled.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use l2tpx_wire::radius::{
    AttrType, Code, ErrorCause, Packet, PacketBuilder, PacketRepr, AUTHENTICATOR_LEN,
    MAX_PACKET_LEN,
};

use super::access::NasIdentity;

/// A client allowed to send dynamic authorization requests.
#[derive(Clone, PartialEq, Eq)]
pub struct DaeClient {
    /// Its source address (any port).
    pub addr: IpAddr,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for DaeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaeClient")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct DaeConfig {
    /// Allowed clients.
    pub clients: Vec<DaeClient>,
    /// Our identity: a request naming another NAS is NAKed with 403.
    /// Fields left `None` are not checked.
    pub nas: NasIdentity,
    /// How long a reply is kept to answer retransmissions (30 s).
    pub duplicate_window: Duration,
    /// Drop requests without a Message-Authenticator.
    pub require_message_authenticator: bool,
}

impl DaeConfig {
    /// Defaults around a client list.
    pub fn new(clients: Vec<DaeClient>) -> Self {
        DaeConfig {
            clients,
            nas: NasIdentity::default(),
            duplicate_window: Duration::from_secs(30),
            require_message_authenticator: false,
        }
    }
}

/// The identifying attributes of a request. Every present one must match
/// the session (RFC 5176 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Acct-Session-Id.
    pub acct_session_id: Option<String>,
    /// User-Name.
    pub user_name: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip_address: Option<Ipv4Addr>,
}

impl SessionQuery {
    fn is_empty(&self) -> bool {
        self.acct_session_id.is_none()
            && self.user_name.is_none()
            && self.framed_ip_address.is_none()
    }
}

/// The caller's session table, as the DAE server sees it.
pub trait SessionLookup {
    /// A handle to a session (its key, slot, ...).
    type Session;

    /// Every session matching all present fields of `query`.
    fn lookup(&self, query: &SessionQuery) -> Vec<Self::Session>;
}

/// Names a request for [`DaeServer::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DaeRequestId(pub u64);

/// What a CoA-Request changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoaChanges {
    /// New Session-Timeout, seconds.
    pub session_timeout: Option<u32>,
    /// New Idle-Timeout, seconds.
    pub idle_timeout: Option<u32>,
    /// New Acct-Interim-Interval, seconds.
    pub acct_interim_interval: Option<u32>,
}

/// A request for the caller to carry out, then [`DaeServer::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaeEvent<S> {
    /// Disconnect this session.
    Disconnect {
        /// For `complete`.
        request: DaeRequestId,
        /// The session.
        session: S,
    },
    /// Apply these changes to this session.
    Coa {
        /// For `complete`.
        request: DaeRequestId,
        /// The session.
        session: S,
        /// The changes.
        changes: CoaChanges,
    },
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaeOutcome {
    /// Done: Disconnect-ACK / CoA-ACK.
    Ack,
    /// Not done: Disconnect-NAK / CoA-NAK with this Error-Cause.
    Nak(ErrorCause),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaeStats {
    /// Requests accepted for processing (not duplicates).
    pub requests: u64,
    /// From a source that is not a client.
    pub unknown_client: u64,
    /// Do not parse, or are not Disconnect/CoA-Requests.
    pub malformed: u64,
    /// Wrong Request Authenticator.
    pub bad_authenticator: u64,
    /// Missing (when required) or wrong Message-Authenticator.
    pub bad_message_authenticator: u64,
    /// Retransmissions answered from the cache or dropped while pending.
    pub duplicates: u64,
    /// ACKs sent.
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
}

type DupKey = (SocketAddr, u8, [u8; AUTHENTICATOR_LEN]);

#[derive(Debug)]
struct InFlight {
    key: DupKey,
    code: Code,
    client: usize,
    proxy_state: Vec<Vec<u8>>,
}

/// The sans-IO DAE server; see the module docs. `S` is the caller's
/// session handle.
#[derive(Debug)]
pub struct DaeServer<S> {
    config: DaeConfig,
    next_id: u64,
    in_flight: HashMap<DaeRequestId, InFlight>,
    /// Reply bytes per request seen; `None` while in flight.
    cache: HashMap<DupKey, Option<Vec<u8>>>,
    expiry: VecDeque<(Instant, DupKey)>,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DaeEvent<S>>,
    stats: DaeStats,
}

impl<S> DaeServer<S> {
    /// A server.
    pub fn new(config: DaeConfig) -> Self {
        DaeServer {
            config,
            next_id: 1,
            in_flight: HashMap::new(),
            cache: HashMap::new(),
            expiry: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            stats: DaeStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> DaeStats {
        self.stats
    }

    /// Requests handed out and not yet completed.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Takes a datagram received from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        sessions: &impl SessionLookup<Session = S>,
    ) {
        let Some(client) = self.config.clients.iter().position(|c| c.addr == from.ip()) else {
            self.stats.unknown_client += 1;
            return;
        };
        let secret = &self.config.clients[client].secret;
        let Ok(packet) = Packet::new_checked(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let Ok(repr) = PacketRepr::parse(&packet) else {
            self.stats.malformed += 1;
            return;
        };
        if !matches!(repr.code, Code::DisconnectRequest | Code::CoaRequest) {
            self.stats.malformed += 1;
            return;
        }
        if packet.verify_request_authenticator(secret).is_err() {
            self.stats.bad_authenticator += 1;
            return;
        }
        if packet.find(AttrType::MessageAuthenticator).is_some() {
            if packet.verify_message_authenticator(secret, None).is_err() {
                self.stats.bad_message_authenticator += 1;
                return;
            }
        } else if self.config.require_message_authenticator {
            self.stats.bad_message_authenticator += 1;
            return;
        }
        let key = (from, repr.identifier, repr.authenticator);
        if let Some(cached) = self.cache.get(&key) {
            self.stats.duplicates += 1;
            if let Some(reply) = cached {
                self.transmit.push_back((from, reply.clone()));
            }
            return;
        }
        self.stats.requests += 1;
        let coa = repr.code == Code::CoaRequest;
        let mut query = SessionQuery::default();
        let mut changes = CoaChanges::default();
        let mut proxy_state = Vec::new();
        let mut error = None;
        for attr in repr.attrs().map_while(Result::ok) {
            let text = || String::from_utf8_lossy(attr.value).into_owned();
            match attr.attr_type {
                AttrType::AcctSessionId => query.acct_session_id = Some(text()),
                AttrType::UserName => query.user_name = Some(text()),
                AttrType::FramedIpAddress => query.framed_ip_address = attr.as_ipv4().ok(),
                AttrType::NasIpAddress => {
                    let ours = self.config.nas.ip;
                    if ours.is_some() && attr.as_ipv4().ok() != ours {
                        error.get_or_insert(ErrorCause::NasIdentificationMismatch);
                    }
                }
                AttrType::NasIdentifier => {
                    let ours = self.config.nas.identifier.as_deref();
                    if ours.is_some_and(|o| o.as_bytes() != attr.value) {
                        error.get_or_insert(ErrorCause::NasIdentificationMismatch);
                    }
                }
                AttrType::ProxyState => proxy_state.push(attr.value.to_vec()),
                AttrType::MessageAuthenticator
                | AttrType::EventTimestamp
                | AttrType::NasPort
                | AttrType::NasPortId
                | AttrType::CallingStationId
                | AttrType::CalledStationId
                | AttrType::AcctMultiSessionId
                | AttrType::ChargeableUserIdentity => {}
                AttrType::SessionTimeout if coa => changes.session_timeout = attr.as_u32().ok(),
                AttrType::IdleTimeout if coa => changes.idle_timeout = attr.as_u32().ok(),
                AttrType::AcctInterimInterval if coa => {
                    changes.acct_interim_interval = attr.as_u32().ok()
                }
                _ => {
                    error.get_or_insert(ErrorCause::UnsupportedAttribute);
                }
            }
        }
        let id = DaeRequestId(self.next_id);
        self.next_id += 1;
        self.in_flight.insert(
            id,
            InFlight {
                key,
                code: repr.code,
                client,
                proxy_state,
            },
        );
        self.cache.insert(key, None);
        if error.is_none() && query.is_empty() {
            error = Some(ErrorCause::MissingAttribute);
        }
        if let Some(cause) = error {
            self.complete(now, id, DaeOutcome::Nak(cause));
            return;
        }
        let mut found = sessions.lookup(&query);
        let session = match found.len() {
            0 => Err(ErrorCause::SessionContextNotFound),
            1 => Ok(found.pop().expect("one")),
            _ => Err(ErrorCause::MultipleSessionSelectionUnsupported),
        };
        let session = match session {
            Ok(s) => s,
            Err(cause) => {
                self.complete(now, id, DaeOutcome::Nak(cause));
                return;
            }
        };
        self.events.push_back(if coa {
            DaeEvent::Coa {
                request: id,
                session,
                changes,
            }
        } else {
            DaeEvent::Disconnect {
                request: id,
                session,
            }
        });
    }

    /// Answers a request handed out in an event (or NAKed internally).
    /// Returns whether `request` was in flight.
    pub fn complete(&mut self, now: Instant, request: DaeRequestId, outcome: DaeOutcome) -> bool {
        let Some(f) = self.in_flight.remove(&request) else {
            return false;
        };
        let code = match (f.code, outcome) {
            (Code::DisconnectRequest, DaeOutcome::Ack) => Code::DisconnectAck,
            (Code::DisconnectRequest, DaeOutcome::Nak(_)) => Code::DisconnectNak,
            (_, DaeOutcome::Ack) => Code::CoaAck,
            (_, DaeOutcome::Nak(_)) => Code::CoaNak,
        };
        let (from, identifier, ra) = f.key;
        let secret = &self.config.clients[f.client].secret;
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        let reply = (|| {
            let mut b = PacketBuilder::new(&mut buf, code, identifier, &ra)?;
            b.push_message_authenticator()?;
            if let DaeOutcome::Nak(cause) = outcome {
                b.push_u32(AttrType::ErrorCause, cause.into())?;
            }
            for ps in &f.proxy_state {
                b.push(AttrType::ProxyState, ps)?;
            }
            let mut p = b.finish();
            p.fill_message_authenticator(secret, Some(&ra))?;
            p.fill_response_authenticator(secret, &ra);
            Ok::<usize, l2tpx_wire::Error>(usize::from(p.length()))
        })();
        // Proxy-States came in a packet of at most 4096 octets, so they fit.
        let len = reply.expect("DAE reply fits");
        buf.truncate(len);
        match outcome {
            DaeOutcome::Ack => self.stats.acks += 1,
            DaeOutcome::Nak(_) => self.stats.naks += 1,
        }
        self.transmit.push_back((from, buf.clone()));
        self.cache.insert(f.key, Some(buf));
        self.expiry
            .push_back((now + self.config.duplicate_window, f.key));
        true
    }

    /// Forgets cached replies older than the duplicate window.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.expiry.front() {
            if t > now {
                break;
            }
            self.expiry.pop_front();
            self.cache.remove(&key);
        }
    }

    /// When [`DaeServer::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.front().map(|(t, _)| *t)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// The next request for the caller.
    pub fn poll_event(&mut self) -> Option<DaeEvent<S>> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const SECRET: &[u8] = b"dae-secret";

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    struct Table(Vec<(u32, &'static str, &'static str, Ipv4Addr)>);

    impl SessionLookup for Table {
        type Session = u32;
        fn lookup(&self, q: &SessionQuery) -> Vec<u32> {
            self.0
                .iter()
                .filter(|(_, sid, user, ip)| {
                    q.acct_session_id.as_deref().is_none_or(|s| s == *sid)
                        && q.user_name.as_deref().is_none_or(|u| u == *user)
                        && q.framed_ip_address.is_none_or(|i| i == *ip)
                })
                .map(|s| s.0)
                .collect()
        }
    }

    fn table() -> Table {
        Table(vec![
            (7, "S7", "alice", Ipv4Addr::new(198, 18, 1, 50)),
            (8, "S8", "bob", Ipv4Addr::new(198, 18, 1, 51)),
            (9, "S9", "bob", Ipv4Addr::new(198, 18, 1, 52)),
        ])
    }

    fn client_addr() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn server() -> DaeServer<u32> {
        DaeServer::new(DaeConfig::new(vec![DaeClient {
            addr: client_addr().ip(),
            secret: SECRET.to_vec(),
        }]))
    }

    fn request(
        code: Code,
        ident: u8,
        secret: &[u8],
        ma: bool,
        attrs: &[(AttrType, &[u8])],
    ) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut b = PacketBuilder::new(&mut buf, code, ident, &[0; 16]).unwrap();
        if ma {
            b.push_message_authenticator().unwrap();
        }
        for (t, v) in attrs {
            b.push(*t, v).unwrap();
        }
        let mut p = b.finish();
        if ma {
            p.fill_message_authenticator(secret, None).unwrap();
        }
        p.fill_request_authenticator(secret);
        let len = usize::from(p.length());
        buf.truncate(len);
        buf
    }

    /// Checks a reply's authenticators and returns (code, Error-Cause).
    fn check_reply(reply: &[u8], req: &[u8]) -> (Code, Option<u32>) {
        let ra = Packet::new_checked(req).unwrap().authenticator();
        let p = Packet::new_checked(reply).unwrap();
        p.verify_response_authenticator(SECRET, &ra).unwrap();
        p.verify_message_authenticator(SECRET, Some(&ra)).unwrap();
        assert_eq!(p.identifier(), req[1]);
        (
            p.code(),
            p.find(AttrType::ErrorCause).map(|a| a.as_u32().unwrap()),
        )
    }

    #[test]
    fn disconnect_known_session_acked() {
        let now = t0();
        let mut s = server();
        let req = request(
            Code::DisconnectRequest,
            1,
            SECRET,
            true,
            &[(AttrType::AcctSessionId, b"S7")],
        );
        s.handle_datagram(now, client_addr(), &req, &table());
        let Some(DaeEvent::Disconnect {
            request,
            session: 7,
        }) = s.poll_event()
        else {
            panic!("no disconnect");
        };
        assert!(s.poll_transmit().is_none());
        assert!(s.complete(now, request, DaeOutcome::Ack));
        assert!(!s.complete(now, request, DaeOutcome::Ack));
        let (to, reply) = s.poll_transmit().unwrap();
        assert_eq!(to, client_addr());
        assert_eq!(check_reply(&reply, &req), (Code::DisconnectAck, None));
    }

    #[test]
    fn naks() {
        let now = t0();
        let mut s = server();
        let ip = [198, 18, 1, 99];
        type Case<'a> = (Code, &'a [(AttrType, &'a [u8])], Code, u32);
        let cases: &[Case<'_>] = &[
            (
                Code::DisconnectRequest,
                &[(AttrType::AcctSessionId, b"nope")],
                Code::DisconnectNak,
                503,
            ),
            (
                Code::DisconnectRequest,
                &[(AttrType::FramedIpAddress, &ip)],
                Code::DisconnectNak,
                503,
            ),
            (
                Code::DisconnectRequest,
                &[(AttrType::UserName, b"bob")],
                Code::DisconnectNak,
                508,
            ),
            (
                Code::DisconnectRequest,
                &[(AttrType::UserName, b"alice"), (AttrType::FilterId, b"x")],
                Code::DisconnectNak,
                401,
            ),
            (
                Code::CoaRequest,
                &[(AttrType::UserName, b"alice"), (AttrType::FramedPool, b"x")],
                Code::CoaNak,
                401,
            ),
            (
                Code::DisconnectRequest,
                &[(AttrType::NasPort, &[0, 0, 0, 1])],
                Code::DisconnectNak,
                402,
            ),
        ];
        for (i, (code, attrs, want, cause)) in cases.iter().enumerate() {
            let req = request(*code, i as u8, SECRET, false, attrs);
            s.handle_datagram(now, client_addr(), &req, &table());
            let (_, reply) = s.poll_transmit().unwrap_or_else(|| panic!("case {i}"));
            assert_eq!(check_reply(&reply, &req), (*want, Some(*cause)), "case {i}");
        }
        assert!(s.poll_event().is_none());
        assert_eq!(s.in_flight_len(), 0);
        // NAS identity mismatch.
        let mut s = server();
        s.config.nas.identifier = Some("lns1".into());
        let req = request(
            Code::DisconnectRequest,
            1,
            SECRET,
            false,
            &[
                (AttrType::NasIdentifier, b"lns2"),
                (AttrType::UserName, b"alice"),
            ],
        );
        s.handle_datagram(now, client_addr(), &req, &table());
        let (_, reply) = s.poll_transmit().unwrap();
        assert_eq!(check_reply(&reply, &req), (Code::DisconnectNak, Some(403)));
    }

    #[test]
    fn coa_changes() {
        let now = t0();
        let mut s = server();
        let req = request(
            Code::CoaRequest,
            3,
            SECRET,
            false,
            &[
                (AttrType::FramedIpAddress, &[198, 18, 1, 51]),
                (AttrType::SessionTimeout, &[0, 0, 0x0e, 0x10]),
                (AttrType::IdleTimeout, &[0, 0, 0, 60]),
                (AttrType::ProxyState, b"ps1"),
            ],
        );
        s.handle_datagram(now, client_addr(), &req, &table());
        let Some(DaeEvent::Coa {
            request,
            session: 8,
            changes,
        }) = s.poll_event()
        else {
            panic!("no coa");
        };
        assert_eq!(
            changes,
            CoaChanges {
                session_timeout: Some(3600),
                idle_timeout: Some(60),
                acct_interim_interval: None
            }
        );
        s.complete(now, request, DaeOutcome::Ack);
        let (_, reply) = s.poll_transmit().unwrap();
        assert_eq!(check_reply(&reply, &req), (Code::CoaAck, None));
        let p = Packet::new_checked(&reply[..]).unwrap();
        assert_eq!(p.find(AttrType::ProxyState).unwrap().value, b"ps1");
    }

    #[test]
    fn bad_requests_are_dropped_and_counted() {
        let now = t0();
        let mut s = server();
        let attrs: &[(AttrType, &[u8])] = &[(AttrType::AcctSessionId, b"S7")];
        let good = request(Code::DisconnectRequest, 1, SECRET, true, attrs);
        s.handle_datagram(now, "127.0.0.2:40000".parse().unwrap(), &good, &table());
        assert_eq!(s.stats().unknown_client, 1);
        let wrong = request(Code::DisconnectRequest, 1, b"other", false, attrs);
        s.handle_datagram(now, client_addr(), &wrong, &table());
        assert_eq!(s.stats().bad_authenticator, 1);
        // Request Authenticator right, Message-Authenticator wrong.
        let mut bad_ma = request(Code::DisconnectRequest, 1, b"other", true, attrs);
        Packet::new_unchecked(&mut bad_ma[..]).fill_request_authenticator(SECRET);
        s.handle_datagram(now, client_addr(), &bad_ma, &table());
        assert_eq!(s.stats().bad_message_authenticator, 1);
        s.handle_datagram(now, client_addr(), &[40, 1, 0], &table());
        let access = request(Code::AccessRequest, 1, SECRET, false, attrs);
        s.handle_datagram(now, client_addr(), &access, &table());
        assert_eq!(s.stats().malformed, 2);
        s.config.require_message_authenticator = true;
        let no_ma = request(Code::DisconnectRequest, 1, SECRET, false, attrs);
        s.handle_datagram(now, client_addr(), &no_ma, &table());
        assert_eq!(s.stats().bad_message_authenticator, 2);
        assert!(s.poll_transmit().is_none());
        assert!(s.poll_event().is_none());
    }

    #[test]
    fn duplicates() {
        let now = t0();
        let mut s = server();
        let req = request(
            Code::DisconnectRequest,
            5,
            SECRET,
            true,
            &[(AttrType::UserName, b"alice")],
        );
        s.handle_datagram(now, client_addr(), &req, &table());
        let Some(DaeEvent::Disconnect { request, .. }) = s.poll_event() else {
            panic!()
        };
        // A retransmission while in flight: no second event, no reply.
        s.handle_datagram(now, client_addr(), &req, &table());
        assert!(s.poll_event().is_none());
        assert!(s.poll_transmit().is_none());
        s.complete(
            now,
            request,
            DaeOutcome::Nak(ErrorCause::SessionContextNotRemovable),
        );
        let (_, first) = s.poll_transmit().unwrap();
        assert_eq!(check_reply(&first, &req), (Code::DisconnectNak, Some(504)));
        // After: the cached reply, byte for byte, and no new event.
        s.handle_datagram(now + Duration::from_secs(29), client_addr(), &req, &table());
        assert_eq!(s.poll_transmit().unwrap().1, first);
        assert!(s.poll_event().is_none());
        assert_eq!(s.stats().duplicates, 2);
        assert_eq!(s.stats().requests, 1);
        // Same identifier from another port is another request.
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        s.handle_datagram(now, other, &req, &table());
        assert!(s.poll_event().is_some());
        // After the window, the cache is gone and it is new again.
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(30)));
        s.handle_timeout(now + Duration::from_secs(30));
        s.handle_datagram(now + Duration::from_secs(30), client_addr(), &req, &table());
        assert!(s.poll_event().is_some());
    }
}
