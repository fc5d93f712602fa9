//! The authenticator side of PAP (RFC 1334) and CHAP-MD5 (RFC 1994): the
//! LNS authenticates the subscriber.
//!
//! The credential check is asynchronous (RADIUS later): the engine emits an
//! [`AuthRequest`] and waits for [`Authenticator::result`] with the same
//! `id`. [`LocalVerifier`] answers such requests from a user/password table.
//!
//! PAP: the peer sends Authenticate-Request; we wait for it up to
//! [`AuthConfig::timeout`]. While a check is pending, retransmissions are
//! ignored; after an Ack, a retransmitted request is answered with the Ack
//! again (the peer missed it).
//!
//! CHAP: we send a Challenge with a fresh random Value and a new Identifier,
//! retransmit it on the restart timer up to [`AuthConfig::max_challenges`]
//! times, and accept only a Response carrying that Identifier (§4.1).
//! After a Success, a Response with the same Identifier gets the Success
//! again (§4.2). Optional periodic re-challenges
//! ([`AuthConfig::rechallenge_interval`]).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_wire::ppp::{chap, chap_md5_response, pap, Protocol};

use super::lcp::AuthMethod;
use super::session::PppConfig;
use super::Drbg;

/// Authenticator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Our name in CHAP Challenges.
    pub name: Vec<u8>,
    /// Length of the CHAP Challenge Value (16 is usual).
    pub challenge_len: usize,
    /// CHAP Challenge retransmission interval.
    pub restart_timer: Duration,
    /// CHAP Challenges sent before giving up.
    pub max_challenges: u32,
    /// How long we wait for the peer's PAP Authenticate-Request, and for
    /// the verdict of a pending check.
    pub timeout: Duration,
    /// Re-challenge a CHAP peer this often once authenticated.
    pub rechallenge_interval: Option<Duration>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            name: b"l2tpx".to_vec(),
            challenge_len: 16,
            restart_timer: Duration::from_secs(3),
            max_challenges: 10,
            timeout: Duration::from_secs(30),
            rechallenge_interval: None,
        }
    }
}

/// The credentials to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// PAP: the cleartext password.
    Pap { password: Vec<u8> },
    /// CHAP-MD5: the Identifier, our Challenge Value and the peer's
    /// Response Value (RFC 1994 §4.1).
    Chap {
        ident: u8,
        challenge: Vec<u8>,
        response: Vec<u8>,
    },
}

/// A credential check for the driver (RADIUS Access-Request, or
/// [`LocalVerifier`]); answer with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// Matches the answer to the request.
    pub id: u64,
    /// The peer's name (PAP Peer-ID, CHAP Name).
    pub username: Vec<u8>,
    /// What to check.
    pub method: Credentials,
}

/// Why authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The verifier said no.
    Rejected,
    /// No Authenticate-Request / Response in time, or no verdict in time.
    Timeout,
}

/// What the authenticator tells the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// Check these credentials.
    Request(AuthRequest),
    /// The peer is authenticated (the first time, or again after a
    /// re-challenge).
    Success,
    /// The peer failed; the link must go down (Failure / Nak already
    /// queued).
    Failure(AuthFailure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthState {
    Idle,
    /// PAP: waiting for Authenticate-Request.
    PapWait {
        deadline: Instant,
    },
    /// CHAP: Challenge sent.
    ChapChallenged {
        ident: u8,
        value: Vec<u8>,
        remaining: u32,
        deadline: Instant,
    },
    /// A check is with the verifier.
    Pending {
        id: u64,
        method: AuthMethod,
        ident: u8,
        deadline: Instant,
        username: Vec<u8>,
        /// Proxy PAP: the peer's Identifier is unknown, send no Ack/Nak.
        silent: bool,
    },
    /// Authenticated; `ident` answers retransmissions.
    Done {
        method: AuthMethod,
        ident: u8,
        message: Vec<u8>,
        rechallenge: Option<Instant>,
    },
    Failed,
}

/// The authenticator.
#[derive(Debug)]
pub struct Authenticator {
    /// Shared by every session (its `auth` part is ours).
    config: Arc<PppConfig>,
    state: AuthState,
    method: Option<AuthMethod>,
    next_request_id: u64,
    next_ident: u8,
    rng: Drbg,
    /// Set while this authentication phase is the first one (not a
    /// re-challenge).
    username: Option<Vec<u8>>,
    tx: VecDeque<(Protocol, Vec<u8>)>,
    events: VecDeque<AuthEvent>,
}

impl Authenticator {
    /// An idle authenticator for `config.auth`.
    pub fn new(config: Arc<PppConfig>, mut rng: Drbg) -> Self {
        let next_ident = rng.next_u32() as u8;
        Authenticator {
            config,
            state: AuthState::Idle,
            method: None,
            next_request_id: 1,
            next_ident,
            rng,
            username: None,
            tx: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The authenticated peer name, once known.
    pub fn username(&self) -> Option<&[u8]> {
        self.username.as_deref()
    }

    /// Whether the peer is authenticated now.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, AuthState::Done { .. })
    }

    /// Starts authenticating with `method` (LCP just opened).
    pub fn start(&mut self, now: Instant, method: AuthMethod) {
        self.method = Some(method);
        match method {
            AuthMethod::Pap => {
                self.state = AuthState::PapWait {
                    deadline: now + self.config.auth.timeout,
                }
            }
            AuthMethod::ChapMd5 => self.challenge(now),
        }
    }

    /// Checks credentials the LAC collected (proxy authentication, RFC
    /// 2661 §4.4.5) instead of asking the peer. `ident` is the CHAP
    /// Identifier used (answered with Success/Failure). For PAP the peer's
    /// Identifier is not proxied, so nothing is sent; a retransmitted
    /// Authenticate-Request after acceptance gets its Ack.
    pub fn start_proxy(
        &mut self,
        now: Instant,
        method: AuthMethod,
        username: &[u8],
        ident: u8,
        credentials: Credentials,
    ) {
        self.method = Some(method);
        self.request(now, method, ident, username, credentials);
        if let AuthState::Pending { silent, .. } = &mut self.state {
            *silent = method == AuthMethod::Pap;
        }
    }

    /// Restores an authentication completed before a control-plane
    /// restart (`method` `None`: none was required).
    pub fn resume(&mut self, method: Option<AuthMethod>, username: &[u8]) {
        self.method = method;
        self.username = Some(username.to_vec());
        if let Some(method) = method {
            self.state = AuthState::Done {
                method,
                ident: 0,
                message: Vec::new(),
                rechallenge: None,
            };
        }
    }

    /// Stops (LCP went down).
    pub fn reset(&mut self) {
        self.state = AuthState::Idle;
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            AuthState::PapWait { deadline }
            | AuthState::ChapChallenged { deadline, .. }
            | AuthState::Pending { deadline, .. } => Some(*deadline),
            AuthState::Done { rechallenge, .. } => *rechallenge,
            AuthState::Idle | AuthState::Failed => None,
        }
    }

    /// The next packet to send: (PAP or CHAP, packet without PPP header).
    pub fn poll_transmit(&mut self) -> Option<(Protocol, Vec<u8>)> {
        self.tx.pop_front()
    }

    /// The next event for the session.
    pub fn poll_event(&mut self) -> Option<AuthEvent> {
        self.events.pop_front()
    }

    /// Frees the capacity left in empty queues.
    pub fn release_buffers(&mut self) {
        super::fsm::release_queue(&mut self.tx);
        super::fsm::release_queue(&mut self.events);
    }

    fn challenge(&mut self, now: Instant) {
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        let mut value = vec![0; self.config.auth.challenge_len.clamp(1, 255)];
        self.rng.fill(&mut value);
        self.state = AuthState::ChapChallenged {
            ident,
            value,
            remaining: self.config.auth.max_challenges.max(1),
            deadline: now,
        };
        self.send_challenge(now);
    }

    fn send_challenge(&mut self, now: Instant) {
        let AuthState::ChapChallenged {
            ident,
            value,
            remaining,
            deadline,
        } = &mut self.state
        else {
            return;
        };
        *remaining -= 1;
        *deadline = now + self.config.auth.restart_timer;
        let repr = chap::Repr::Challenge {
            identifier: *ident,
            value,
            name: &self.config.auth.name,
        };
        let mut buf = vec![0; repr.buffer_len()];
        if repr.emit_into(&mut buf).is_ok() {
            self.tx.push_back((Protocol::Chap, buf));
        }
    }

    fn request(
        &mut self,
        now: Instant,
        method: AuthMethod,
        ident: u8,
        username: &[u8],
        credentials: Credentials,
    ) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        self.state = AuthState::Pending {
            id,
            method,
            ident,
            deadline: now + self.config.auth.timeout,
            username: username.to_vec(),
            silent: false,
        };
        self.events.push_back(AuthEvent::Request(AuthRequest {
            id,
            username: username.to_vec(),
            method: credentials,
        }));
    }

    /// A PAP packet from the peer.
    pub fn handle_pap(&mut self, now: Instant, packet: &[u8]) {
        let Ok(pap::Repr::AuthenticateRequest {
            identifier,
            peer_id,
            password,
        }) = pap::Repr::parse_bytes(packet)
        else {
            return;
        };
        match &self.state {
            AuthState::PapWait { .. } => self.request(
                now,
                AuthMethod::Pap,
                identifier,
                peer_id,
                Credentials::Pap {
                    password: password.to_vec(),
                },
            ),
            AuthState::Done {
                method: AuthMethod::Pap,
                message,
                ..
            } => {
                // The peer missed our Ack: send it again.
                let message = message.clone();
                self.send_pap(true, identifier, &message);
            }
            _ => {}
        }
    }

    /// A CHAP packet from the peer.
    pub fn handle_chap(&mut self, now: Instant, packet: &[u8]) {
        let Ok(chap::Repr::Response {
            identifier,
            value,
            name,
        }) = chap::Repr::parse_bytes(packet)
        else {
            return;
        };
        match &self.state {
            AuthState::ChapChallenged {
                ident,
                value: challenge,
                ..
            } if *ident == identifier => {
                let challenge = challenge.clone();
                self.request(
                    now,
                    AuthMethod::ChapMd5,
                    identifier,
                    name,
                    Credentials::Chap {
                        ident: identifier,
                        challenge,
                        response: value.to_vec(),
                    },
                );
            }
            AuthState::Done {
                method: AuthMethod::ChapMd5,
                ident,
                message,
                ..
            } if *ident == identifier => {
                let message = message.clone();
                self.send_chap(true, identifier, &message);
            }
            _ => {}
        }
    }

    /// The verdict for request `id`; stale ids are ignored.
    pub fn result(&mut self, now: Instant, id: u64, accepted: bool, message: &[u8]) {
        let AuthState::Pending {
            id: pending,
            method,
            ident,
            username,
            silent,
            ..
        } = &self.state
        else {
            return;
        };
        if *pending != id {
            return;
        }
        let (method, ident, silent) = (*method, *ident, *silent);
        let username = username.clone();
        match method {
            _ if silent => {}
            AuthMethod::Pap => self.send_pap(accepted, ident, message),
            AuthMethod::ChapMd5 => self.send_chap(accepted, ident, message),
        }
        if accepted {
            let rechallenge = match method {
                AuthMethod::ChapMd5 => self.config.auth.rechallenge_interval.map(|i| now + i),
                AuthMethod::Pap => None,
            };
            self.state = AuthState::Done {
                method,
                ident,
                message: message.to_vec(),
                rechallenge,
            };
            self.username = Some(username);
            self.events.push_back(AuthEvent::Success);
        } else {
            self.state = AuthState::Failed;
            self.events
                .push_back(AuthEvent::Failure(AuthFailure::Rejected));
        }
    }

    fn send_pap(&mut self, ack: bool, identifier: u8, message: &[u8]) {
        let repr = if ack {
            pap::Repr::AuthenticateAck {
                identifier,
                message,
            }
        } else {
            pap::Repr::AuthenticateNak {
                identifier,
                message,
            }
        };
        let mut buf = vec![0; repr.buffer_len()];
        if repr.emit_into(&mut buf).is_ok() {
            self.tx.push_back((Protocol::Pap, buf));
        }
    }

    fn send_chap(&mut self, success: bool, identifier: u8, message: &[u8]) {
        let repr = if success {
            chap::Repr::Success {
                identifier,
                message,
            }
        } else {
            chap::Repr::Failure {
                identifier,
                message,
            }
        };
        let mut buf = vec![0; repr.buffer_len()];
        if repr.emit_into(&mut buf).is_ok() {
            self.tx.push_back((Protocol::Chap, buf));
        }
    }

    /// Timer expiry: Challenge retransmission, timeouts, re-challenge.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_none_or(|d| d > now) {
            return;
        }
        match &self.state {
            AuthState::ChapChallenged { remaining, .. } if *remaining > 0 => {
                self.send_challenge(now)
            }
            AuthState::Done { .. } => self.challenge(now),
            AuthState::PapWait { .. }
            | AuthState::ChapChallenged { .. }
            | AuthState::Pending { .. } => {
                self.state = AuthState::Failed;
                self.events
                    .push_back(AuthEvent::Failure(AuthFailure::Timeout));
            }
            AuthState::Idle | AuthState::Failed => {}
        }
    }
}

/// Checks [`AuthRequest`]s against a local user → password table (PAP by
/// comparison, CHAP-MD5 by recomputing the Response, RFC 1994 §4.1).
#[derive(Debug, Clone, Default)]
pub struct LocalVerifier {
    users: HashMap<Vec<u8>, Vec<u8>>,
}

impl LocalVerifier {
    /// An empty table.
    pub fn new() -> Self {
        LocalVerifier::default()
    }

    /// Adds or replaces a user.
    pub fn add(&mut self, username: &[u8], password: &[u8]) -> &mut Self {
        self.users.insert(username.to_vec(), password.to_vec());
        self
    }

    /// Whether the request's credentials are right.
    pub fn verify(&self, request: &AuthRequest) -> bool {
        let Some(secret) = self.users.get(&request.username) else {
            return false;
        };
        match &request.method {
            Credentials::Pap { password } => ct_eq(password, secret),
            Credentials::Chap {
                ident,
                challenge,
                response,
            } => ct_eq(response, &chap_md5_response(*ident, secret, challenge)),
        }
    }
}

/// Comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
