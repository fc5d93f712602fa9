//! Subscriber sessions end to end (issue 4 §1–§3), sans-IO: the
//! [`SessionManager`] owns one [`PppSession`] per L2TP session and wires it
//! to authentication (local users or RADIUS), address pools, accounting,
//! the session table and RADIUS dynamic authorization.
//!
//! Inputs (every call takes `now`):
//! - L2TP engine events ([`SessionManager::handle_event`]): `SessionUp`
//!   creates the PPP session (from the LAC's proxy LCP/authentication when
//!   `accept_proxy_lcp`/`accept_proxy_auth` allow), `SessionDown` ends it
//!   (PPP lower layer down), `TunnelUp` records the LAC's Host Name.
//! - L2TP data messages (T=0) from the L2TP socket
//!   ([`SessionManager::handle_data`]): the PPP control frames the XDP
//!   program passed up, routed by *our* tunnel/session IDs to the session
//!   (the source address must be the session's LAC).
//! - RADIUS replies ([`SessionManager::handle_radius`]), DAE requests
//!   ([`SessionManager::handle_dae`]) and timers
//!   ([`SessionManager::handle_timeout`] when
//!   [`SessionManager::poll_timeout`] says).
//!
//! Outputs:
//! - [`SessionManager::poll_transmit`]: L2TP data messages carrying PPP
//!   frames to a LAC. Header: T=0, no Length field, tunnel/session = the
//!   LAC's IDs, and Ns (Nr 0) only when the LAC sent Sequencing Required.
//!   The Ns counter of these control-plane frames is the manager's own: it
//!   is not yet shared with the data plane's per-slot counter (see
//!   `docs/decisions.md`; sequencing LACs are rare).
//! - [`SessionManager::poll_command`]: [`Command::CloseSession`] for the
//!   L2TP engine (a CDN) when PPP ends a session the LAC did not.
//! - [`SessionManager::poll_radius_transmit`] / [`poll_dae_transmit`]:
//!   datagrams for the RADIUS client socket and the DAE listener.
//! - [`SessionManager::poll_event`]: [`ManagerEvent`]s for logs and tests.
//!
//! A session is published to the table ([`TableSink`]) when IPCP opens,
//! with the downstream template built from [`NeighbourSource`], and
//! Accounting-Start is sent (when RADIUS is configured). When it ends, it
//! is withdrawn, its address goes back to its pool, and Accounting-Stop
//! carries the table's counters (summed over workers) and the
//! Acct-Terminate-Cause of [`SessionEndCause`].
//!
//! CDN result codes sent when we end a session (RFC 2661 §4.4.2):
//!
//! | why                                             | result | error |
//! |-------------------------------------------------|--------|-------|
//! | LCP echo timeout (lost carrier)                 | 1      | –     |
//! | negotiation failed, internal error              | 2      | 0     |
//! | auth failed, LCP terminate, admin, DAE, timeouts| 3      | –     |
//! | no address / table slot                         | 4      | –     |
//!
//! [`poll_dae_transmit`]: SessionManager::poll_dae_transmit

pub mod heap;
mod table;
pub mod testing;
mod users;

#[cfg(test)]
mod tests;

pub use table::{
    parse_arp, parse_mac, FixedNeighbours, MemoryTable, Neighbour, NeighbourSource, ProcNeighbours,
    TableSink, BROADCAST_MAC,
};
pub use users::{LocalUser, LocalUsers, UsersError};

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_table::template::{build_template, TemplateParams};
use l2tpx_table::{Session, SessionEntry};
use l2tpx_wire::l2tp::{DataHeader, HeaderRepr, Sequence};
use tracing::{debug, info, warn};

use crate::l2tp::ids::SessionKeyMap;
use crate::l2tp::{
    CallDirection, DisconnectCause, Event, Initiator, RandomSource, SessionInfo, SessionKey,
};
use crate::persist::journal::{Record, SessionRecord};
use crate::ppp::auth::{AuthRequest, Credentials as PppCredentials};
use crate::ppp::ipcp::Ipv4Pool;
use crate::ppp::lcp::{AuthMethod, PeerLcp};
use crate::ppp::session::ResumedPpp;
use crate::ppp::session::{DownCause, PppConfig, PppEvent, PppSession, ProxyAuth, ProxyLcp};
use crate::radius::{
    AccessRequest, AccountingScheduler, AcctSession, AcctSessionIdGen, Authorization, CoaChanges,
    Credentials as RadiusCredentials, DaeEvent, DaeOutcome, DaeServer, RadiusClient, RadiusEvent,
    RequestId, SessionCounters, SessionEndCause, SessionLookup, SessionQuery, TunnelInfo,
};

/// Where credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AaaMode {
    /// The users file.
    Local,
    /// RADIUS (Access-Request per authentication).
    Radius,
}

/// What to do when no RADIUS server answers an Access-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusDownPolicy {
    /// Refuse the user (PPP auth failure, then CDN).
    Reject,
    /// Check the users file instead.
    LocalFallback,
}

/// A named address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Its name (`Framed-Pool` picks it; "default" is the fallback).
    pub name: String,
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (inclusive).
    pub last: Ipv4Addr,
}

/// The pool used when nothing else names one.
pub const DEFAULT_POOL: &str = "default";

/// How long a LAC's resolved MACs serve new sessions before the
/// [`NeighbourSource`] is asked again (reading `/proc/net/arp` per session
/// was a quarter of the control plane's time at 5,000 setups/s).
pub const NEIGHBOUR_TTL: Duration = Duration::from_secs(1);

/// Cached LACs at most (expired ones are dropped first).
const NEIGHBOUR_CACHE_MAX: usize = 4096;

/// The manager's settings.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// PPP settings shared by every session.
    pub ppp: Arc<PppConfig>,
    /// Local users or RADIUS.
    pub aaa: AaaMode,
    /// RADIUS unavailable: reject or use the users file.
    pub radius_down: RadiusDownPolicy,
    /// The users file (local mode, and RADIUS fallback).
    pub users: LocalUsers,
    /// Address pools.
    pub pools: Vec<PoolConfig>,
    /// The L2TP socket's address (the template's outer source and UDP
    /// port; an unspecified IP asks the [`NeighbourSource`]).
    pub local: SocketAddr,
    /// Our Host Name (Tunnel-Server-Auth-Id).
    pub host_name: String,
    /// Bank bits of the slot index (must be the table's).
    pub bank_bits: u8,
    /// Interim-Update interval when RADIUS gives none (`None`: no
    /// interims unless RADIUS asks).
    pub acct_interim: Option<Duration>,
    /// Smallest Interim-Update interval honoured.
    pub acct_interim_min: Duration,
    /// Jitter of Interim-Updates, per mille of the interval.
    pub acct_jitter_permille: u32,
    /// Distinguishes this run's Acct-Session-Ids (e.g. the start time).
    pub acct_boot: u32,
    /// How often Idle-Timeout looks at the counters, at most.
    pub idle_check: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            ppp: Arc::new(PppConfig::default()),
            aaa: AaaMode::Local,
            radius_down: RadiusDownPolicy::Reject,
            users: LocalUsers::new(),
            pools: Vec::new(),
            local: SocketAddr::from(([0, 0, 0, 0], 1701)),
            host_name: "l2tpx".into(),
            bank_bits: 4,
            acct_interim: None,
            acct_interim_min: Duration::from_secs(60),
            acct_jitter_permille: 100,
            acct_boot: 0,
            idle_check: Duration::from_secs(10),
        }
    }
}

/// A command for the L2TP engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send a CDN (`Engine::close_session`).
    CloseSession {
        /// The session.
        key: SessionKey,
        /// Result Code.
        result: u16,
        /// Error Code.
        error: Option<u16>,
        /// Error Message.
        message: String,
    },
}

/// What happened, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerEvent {
    /// IPCP opened and the session was published.
    IpUp {
        /// The session.
        key: SessionKey,
        /// Its table slot.
        slot: u32,
        /// The user.
        user: String,
        /// The subscriber's address.
        address: Ipv4Addr,
        /// Acct-Session-Id.
        acct_session_id: String,
    },
    /// The session ended.
    Down {
        /// The session.
        key: SessionKey,
        /// The user, if authenticated.
        user: Option<String>,
        /// Why.
        cause: SessionEndCause,
        /// Traffic (from the table) when it had been published.
        counters: SessionCounters,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// PPP sessions created.
    pub sessions_created: u64,
    /// Sessions that reached IP up.
    pub ip_up: u64,
    /// Sessions ended.
    pub ended: u64,
    /// Authentications accepted.
    pub auth_accepts: u64,
    /// Authentications refused.
    pub auth_rejects: u64,
    /// Access-Requests nobody answered.
    pub radius_timeouts: u64,
    /// Data messages for no known session (or from the wrong peer).
    pub data_unknown: u64,
    /// Data messages that did not parse.
    pub data_malformed: u64,
    /// Table publications that failed.
    pub publish_errors: u64,
    /// Accounting requests submitted.
    pub acct_requests: u64,
    /// Disconnect-Requests carried out.
    pub dae_disconnects: u64,
    /// CoA-Requests carried out.
    pub dae_coas: u64,
    /// Sessions resumed after a control-plane restart.
    pub resumed: u64,
}

#[derive(Debug)]
struct Idle {
    timeout: Duration,
    last_packets: u64,
    last_activity: Instant,
    next_check: Instant,
}

/// What a session keeps of its [`SessionInfo`] once PPP has started
/// (the proxy AVPs and the bearer details are used then, or never).
#[derive(Debug)]
struct Call {
    key: SessionKey,
    peer: SocketAddr,
    peer_tunnel_id: u16,
    peer_session_id: u16,
    call_serial: u32,
    sequencing_required: bool,
    calling_number: Option<Box<[u8]>>,
    called_number: Option<Box<[u8]>>,
}

impl Call {
    fn new(i: &SessionInfo) -> Self {
        Call {
            key: i.key,
            peer: i.peer,
            peer_tunnel_id: i.peer_tunnel_id,
            peer_session_id: i.peer_session_id,
            call_serial: i.call_serial,
            sequencing_required: i.sequencing_required,
            calling_number: i.calling_number.as_deref().map(Box::from),
            called_number: i.called_number.as_deref().map(Box::from),
        }
    }
}

/// What a session keeps of its RADIUS [`Authorization`] (the address and
/// pool are used when it arrives).
#[derive(Debug, Default)]
struct Authz {
    session_timeout: Option<u32>,
    idle_timeout: Option<u32>,
    acct_interim_interval: Option<u32>,
    class: Vec<Vec<u8>>,
}

impl From<Authorization> for Authz {
    fn from(a: Authorization) -> Self {
        Authz {
            session_timeout: a.session_timeout,
            idle_timeout: a.idle_timeout,
            acct_interim_interval: a.acct_interim_interval,
            class: a.class,
        }
    }
}

/// Accounting as of IP up; the records' other facts (NAS-Port, Calling-
/// and Called-Station-Id) are the session's and never change.
#[derive(Debug)]
struct Acct {
    /// Acct-Session-Id, shared with the RFC 5176 index.
    id: Arc<str>,
    user: Arc<str>,
    address: Ipv4Addr,
    class: Vec<Vec<u8>>,
}

fn lossy(v: &Option<Box<[u8]>>) -> Option<String> {
    v.as_ref().map(|b| String::from_utf8_lossy(b).into())
}

#[derive(Debug)]
struct Sess {
    info: Call,
    slot: u32,
    ppp: PppSession,
    /// Shared with the RFC 5176 index.
    user: Option<Arc<str>>,
    /// Pending RADIUS check: (request, what PPP asked); boxed, as it
    /// lives only while the server is asked.
    radius_auth: Option<Box<(RequestId, AuthRequest)>>,
    /// The pool the address came from (None: static or none).
    pool: Option<String>,
    authz: Authz,
    acct: Option<Acct>,
    up_at: Option<Instant>,
    published: bool,
    session_deadline: Option<Instant>,
    idle: Option<Idle>,
    /// Why we are closing it, when PPP's own cause is not precise enough.
    end_override: Option<SessionEndCause>,
    timer: Option<Instant>,
    ns: u16,
    /// A SessionUp record was journalled (a SessionDown is owed).
    journalled: bool,
}

impl Sess {
    /// The facts of its accounting records.
    fn acct_session(&self, a: &Acct) -> AcctSession {
        AcctSession {
            session_id: a.id.to_string(),
            user_name: a.user.to_string(),
            nas_port: self.slot,
            framed_ip_address: Some(a.address),
            calling_station_id: lossy(&self.info.calling_number),
            called_station_id: lossy(&self.info.called_number),
            class: a.class.clone(),
        }
    }
}

/// The sessions indexed for RFC 5176 lookups.
#[derive(Debug, Default)]
pub struct SessionIndex {
    recs: SessionKeyMap<IndexRec>,
    by_acct_id: HashMap<Arc<str>, SessionKey>,
}

#[derive(Debug, Clone)]
struct IndexRec {
    /// Shared with `by_acct_id`'s key.
    acct_id: Arc<str>,
    /// Shared with the session's.
    user: Arc<str>,
    ip: Option<Ipv4Addr>,
}

impl SessionIndex {
    fn insert(&mut self, key: SessionKey, rec: IndexRec) {
        self.by_acct_id.insert(rec.acct_id.clone(), key);
        self.recs.insert(key, rec);
    }

    fn remove(&mut self, key: SessionKey) {
        if let Some(r) = self.recs.remove(&key) {
            self.by_acct_id.remove(&r.acct_id);
        }
    }

    fn matches(r: &IndexRec, q: &SessionQuery) -> bool {
        q.acct_session_id
            .as_ref()
            .is_none_or(|a| a.as_str() == &*r.acct_id)
            && q.user_name.as_ref().is_none_or(|u| u.as_str() == &*r.user)
            && q.framed_ip_address.is_none_or(|ip| Some(ip) == r.ip)
    }
}

impl SessionLookup for SessionIndex {
    type Session = SessionKey;

    fn lookup(&self, q: &SessionQuery) -> Vec<SessionKey> {
        if let Some(id) = &q.acct_session_id {
            return self
                .by_acct_id
                .get(id.as_str())
                .filter(|k| self.recs.get(k).is_some_and(|r| Self::matches(r, q)))
                .map(|k| vec![*k])
                .unwrap_or_default();
        }
        let mut v: Vec<SessionKey> = self
            .recs
            .iter()
            .filter(|(_, r)| Self::matches(r, q))
            .map(|(k, _)| *k)
            .collect();
        v.sort();
        v
    }
}

/// Builds an L2TP data message (T=0, no Length) carrying `frame`.
pub fn encode_data(tunnel_id: u16, session_id: u16, ns: Option<u16>, frame: &[u8]) -> Vec<u8> {
    let h = HeaderRepr {
        control: false,
        length_present: false,
        priority: false,
        reserved_flags: 0,
        tunnel_id,
        session_id,
        sequence: ns.map(|ns| Sequence { ns, nr: 0 }),
        offset_pad: None,
        payload_len: frame.len(),
    };
    let hl = h.header_len();
    let mut v = vec![0u8; hl + frame.len()];
    h.emit(&mut v);
    v[hl..].copy_from_slice(frame);
    v
}

/// The sessions' PPP, AAA, accounting and table publication.
pub struct SessionManager<T: TableSink, N: NeighbourSource> {
    cfg: ManagerConfig,
    table: T,
    neighbours: N,
    /// Resolved neighbours by (LAC, local address), until when they are
    /// used without asking `neighbours` again.
    neighbour_cache: HashMap<(Ipv4Addr, Ipv4Addr), (Neighbour, Instant)>,
    rng: Box<dyn RandomSource>,
    pools: HashMap<String, Ipv4Pool>,
    /// Boxed: a `Sess` is about 2.3 KB, and growing a map of them inline
    /// moved every session and faulted in twice the memory.
    sessions: SessionKeyMap<Box<Sess>>,
    tunnel_names: HashMap<u16, Vec<u8>>,
    timers: BTreeSet<(Instant, SessionKey)>,
    radius: Option<RadiusClient>,
    auth_pending: HashMap<RequestId, SessionKey>,
    dae: Option<DaeServer<SessionKey>>,
    index: SessionIndex,
    interims: AccountingScheduler<SessionKey>,
    acct_ids: AcctSessionIdGen,
    tx: VecDeque<(SocketAddr, Vec<u8>)>,
    commands: VecDeque<Command>,
    events: VecDeque<ManagerEvent>,
    next_cookie: u64,
    stats: ManagerStats,
    /// Records for the control-state journal (`persist::journal`).
    journal: VecDeque<Record>,
    /// A point of the monotonic clock and the Unix time then (seconds).
    wall: Option<(Instant, u64)>,
}

impl<T: TableSink, N: NeighbourSource> std::fmt::Debug for SessionManager<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<T: TableSink, N: NeighbourSource> SessionManager<T, N> {
    /// A manager; add RADIUS and DAE with [`with_radius`](Self::with_radius)
    /// and [`with_dae`](Self::with_dae).
    pub fn new(cfg: ManagerConfig, table: T, neighbours: N, rng: Box<dyn RandomSource>) -> Self {
        let pools = cfg
            .pools
            .iter()
            .map(|p| (p.name.clone(), Ipv4Pool::new(p.first, p.last)))
            .collect();
        SessionManager {
            interims: AccountingScheduler::new(cfg.acct_interim_min, cfg.acct_jitter_permille),
            acct_ids: AcctSessionIdGen::new(cfg.acct_boot),
            cfg,
            table,
            neighbours,
            neighbour_cache: HashMap::new(),
            rng,
            pools,
            sessions: SessionKeyMap::default(),
            tunnel_names: HashMap::new(),
            timers: BTreeSet::new(),
            radius: None,
            auth_pending: HashMap::new(),
            dae: None,
            index: SessionIndex::default(),
            tx: VecDeque::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            next_cookie: 1,
            stats: ManagerStats::default(),
            journal: VecDeque::new(),
            wall: None,
        }
    }

    /// Uses `client` for authentication (RADIUS mode) and accounting.
    pub fn with_radius(mut self, client: RadiusClient) -> Self {
        self.radius = Some(client);
        self
    }

    /// Serves RFC 5176 Disconnect/CoA requests with `server`.
    pub fn with_dae(mut self, server: DaeServer<SessionKey>) -> Self {
        self.dae = Some(server);
        self
    }

    /// Counters.
    pub fn stats(&self) -> ManagerStats {
        self.stats
    }

    /// The table sink.
    pub fn table(&self) -> &T {
        &self.table
    }

    /// The neighbour source, mutably (tests change their answers).
    pub fn neighbours_mut(&mut self) -> &mut N {
        &mut self.neighbours
    }

    /// The table sink, mutably (tests bump counters).
    pub fn table_mut(&mut self) -> &mut T {
        &mut self.table
    }

    /// The RADIUS client, if any.
    pub fn radius(&self) -> Option<&RadiusClient> {
        self.radius.as_ref()
    }

    /// PPP sessions alive.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Addresses left in pool `name`.
    pub fn pool_available(&self, name: &str) -> Option<usize> {
        self.pools.get(name).map(Ipv4Pool::available)
    }

    /// A session's PPP engine (tests, diagnostics).
    pub fn ppp(&self, key: SessionKey) -> Option<&PppSession> {
        self.sessions.get(&key).map(|s| &s.ppp)
    }

    /// A session's Acct-Session-Id, once accounted.
    pub fn acct_session_id(&self, key: SessionKey) -> Option<&str> {
        self.sessions
            .get(&key)
            .and_then(|s| s.acct.as_ref())
            .map(|a| &*a.id)
    }

    // ------------------------------------------------------------------
    // Inputs.

    /// An event of the L2TP engine.
    pub fn handle_event(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::TunnelUp {
                tunnel_id,
                host_name,
                ..
            } => {
                self.tunnel_names.insert(*tunnel_id, host_name.clone());
            }
            Event::TunnelDown { tunnel_id, .. } => {
                self.tunnel_names.remove(tunnel_id);
            }
            Event::SessionUp(info) => self.session_up(now, info),
            Event::SessionDown { key, cause, .. } => {
                if let Some(s) = self.sessions.get_mut(key) {
                    s.ppp.lower_layer_down(now);
                    // Drop what PPP queued: the session is gone.
                    while s.ppp.poll_transmit().is_some() {}
                    while s.ppp.poll_event().is_some() {}
                    let c = s.end_override.unwrap_or(l2tp_end_cause(cause));
                    self.end(now, *key, c, false);
                }
            }
            _ => {}
        }
    }

    /// An L2TP data message (T=0) received from `peer` on the L2TP socket.
    pub fn handle_data(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        let Ok(h) = DataHeader::parse(datagram) else {
            self.stats.data_malformed += 1;
            return;
        };
        let key = SessionKey {
            tunnel_id: h.tunnel_id,
            session_id: h.session_id,
        };
        match self.sessions.get_mut(&key) {
            Some(s) if s.info.peer == peer => {
                s.ppp.handle_frame(now, h.payload(datagram));
                self.pump(now, key);
            }
            _ => self.stats.data_unknown += 1,
        }
    }

    /// A datagram on the RADIUS client socket.
    pub fn handle_radius(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(r) = self.radius.as_mut() {
            r.handle_datagram(now, from, bytes);
        }
        self.radius_events(now);
    }

    /// A datagram on the DAE listener.
    pub fn handle_dae(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(d) = self.dae.as_mut() {
            d.handle_datagram(now, from, bytes, &self.index);
        }
        self.dae_events(now);
    }

    /// Runs what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(r) = self.radius.as_mut() {
            r.handle_timeout(now);
        }
        if let Some(d) = self.dae.as_mut() {
            d.handle_timeout(now);
        }
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(s) = self.sessions.get_mut(&key) {
                s.timer = None;
            }
            self.session_timer(now, key);
        }
        while let Some(key) = self.interims.poll_due(now, &mut *self.rng) {
            self.send_interim(now, key);
        }
        self.radius_events(now);
    }

    // ------------------------------------------------------------------
    // Outputs.

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.first().map(|(t, _)| *t),
            self.interims.poll_timeout(),
            self.radius.as_ref().and_then(|r| r.poll_timeout()),
            self.dae.as_ref().and_then(|d| d.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next L2TP data message to send: (LAC, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.tx.pop_front()
    }

    /// The next command for the L2TP engine.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next datagram for the RADIUS client socket.
    pub fn poll_radius_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.radius.as_mut().and_then(|r| r.poll_transmit())
    }

    /// The next datagram for the DAE socket.
    pub fn poll_dae_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.dae.as_mut().and_then(|d| d.poll_transmit())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ManagerEvent> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------------
    // Commands.

    /// Ends a session administratively (PPP Terminate, CDN, Stop):
    /// `cause` is what accounting reports. Returns whether it existed.
    pub fn disconnect(&mut self, now: Instant, key: SessionKey, cause: SessionEndCause) -> bool {
        let Some(s) = self.sessions.get_mut(&key) else {
            return false;
        };
        s.end_override = Some(cause);
        s.ppp.close(now, DownCause::AdminClose);
        self.pump(now, key);
        if self.sessions.contains_key(&key) {
            // PPP had not reported Down (LCP was not open): end it now.
            self.flush_ppp_tx(key);
            self.end(now, key, cause, true);
        }
        true
    }

    // ------------------------------------------------------------------
    // Internals.

    fn session_up(&mut self, now: Instant, info: &SessionInfo) {
        let key = info.key;
        if self.sessions.contains_key(&key) {
            return;
        }
        let mut seed = [0u8; 16];
        self.rng.fill_bytes(&mut seed);
        let p = &info.proxy;
        let ppp = match (&p.last_sent_lcp_confreq, &p.last_received_lcp_confreq) {
            (Some(sent), Some(received)) if self.cfg.ppp.accept_proxy_lcp => {
                let auth = p.authen_type.map(|t| ProxyAuth {
                    authen_type: t,
                    name: p.authen_name.as_deref().unwrap_or(&[]),
                    challenge: p.authen_challenge.as_deref().unwrap_or(&[]),
                    id: p.authen_id.unwrap_or(0),
                    response: p.authen_response.as_deref().unwrap_or(&[]),
                });
                let proxy = ProxyLcp {
                    last_sent_confreq: sent,
                    last_received_confreq: received,
                    auth,
                };
                PppSession::with_proxy(self.cfg.ppp.clone(), seed, now, &proxy)
            }
            _ => PppSession::new(self.cfg.ppp.clone(), seed, now),
        };
        let slot =
            l2tpx_table::slot_index(key.tunnel_id, key.session_id, u32::from(self.cfg.bank_bits));
        self.sessions.insert(
            key,
            Box::new(Sess {
                info: Call::new(info),
                slot,
                ppp,
                user: None,
                radius_auth: None,
                pool: None,
                authz: Authz::default(),
                acct: None,
                up_at: None,
                published: false,
                session_deadline: None,
                idle: None,
                end_override: None,
                timer: None,
                ns: 0,
                journalled: false,
            }),
        );
        self.stats.sessions_created += 1;
        self.pump(now, key);
    }

    /// Moves PPP's frames to the transmit queue.
    fn flush_ppp_tx(&mut self, key: SessionKey) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        while let Some(frame) = s.ppp.poll_transmit() {
            let ns = s.info.sequencing_required.then(|| {
                let n = s.ns;
                s.ns = s.ns.wrapping_add(1);
                n
            });
            let msg = encode_data(s.info.peer_tunnel_id, s.info.peer_session_id, ns, &frame);
            self.tx.push_back((s.info.peer, msg));
        }
    }

    /// Drains PPP's frames and events, then re-arms the session's timer.
    fn pump(&mut self, now: Instant, key: SessionKey) {
        loop {
            self.flush_ppp_tx(key);
            let Some(s) = self.sessions.get_mut(&key) else {
                return;
            };
            let Some(ev) = s.ppp.poll_event() else {
                break;
            };
            self.ppp_event(now, key, ev);
        }
        self.rearm(key);
    }

    fn rearm(&mut self, key: SessionKey) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let next = [
            s.ppp.poll_timeout(),
            s.session_deadline,
            s.idle.as_ref().map(|i| i.next_check),
        ]
        .into_iter()
        .flatten()
        .min();
        if next != s.timer {
            if let Some(t) = s.timer {
                self.timers.remove(&(t, key));
            }
            if let Some(t) = next {
                self.timers.insert((t, key));
            }
            s.timer = next;
        }
    }

    fn session_timer(&mut self, now: Instant, key: SessionKey) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        s.ppp.handle_timeout(now);
        if s.session_deadline.is_some_and(|d| d <= now) {
            s.session_deadline = None;
            s.end_override = Some(SessionEndCause::SessionTimeout);
            info!(
                tunnel_id = key.tunnel_id,
                session_id = key.session_id,
                "Session-Timeout"
            );
            s.ppp.close(now, DownCause::SessionTimeout);
        }
        let mut idle_out = false;
        if let Some(i) = s.idle.as_mut() {
            if i.next_check <= now {
                let c = self.table.counters(s.slot);
                if c.up_packets != i.last_packets {
                    i.last_packets = c.up_packets;
                    i.last_activity = now;
                }
                if now.saturating_duration_since(i.last_activity) >= i.timeout {
                    idle_out = true;
                } else {
                    let step = self
                        .cfg
                        .idle_check
                        .min(i.timeout)
                        .max(Duration::from_secs(1));
                    i.next_check = (now + step).min(i.last_activity + i.timeout);
                }
            }
        }
        if idle_out {
            s.idle = None;
            s.end_override = Some(SessionEndCause::IdleTimeout);
            info!(
                tunnel_id = key.tunnel_id,
                session_id = key.session_id,
                "Idle-Timeout"
            );
            s.ppp.close(now, DownCause::AdminClose);
        }
        self.pump(now, key);
        if let Some(s) = self.sessions.get(&key) {
            if s.ppp.is_down() {
                // Down already reported and handled; nothing else to do.
                let _ = s;
            }
        }
    }

    fn ppp_event(&mut self, now: Instant, key: SessionKey, ev: PppEvent) {
        match ev {
            PppEvent::AuthRequest(req) => self.authenticate(now, key, req),
            PppEvent::Authenticated { username } => {
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.user = Some(Arc::from(&*String::from_utf8_lossy(&username)));
                }
            }
            PppEvent::Ipv4Up { address, .. } => self.ip_up(now, key, address),
            PppEvent::Ipv4Down => {
                if let Some(s) = self.sessions.get_mut(&key) {
                    if s.published {
                        self.table.withdraw(s.slot);
                        s.published = false;
                    }
                }
            }
            PppEvent::Ipv6Up { .. } | PppEvent::Ipv6Down => {
                debug!(?key, "IPv6CP state change (not published: no prefixes yet)");
            }
            PppEvent::Down { cause } => {
                let c = self
                    .sessions
                    .get(&key)
                    .and_then(|s| s.end_override)
                    .unwrap_or(ppp_end_cause(cause));
                self.end(now, key, c, true);
            }
        }
    }

    fn authenticate(&mut self, now: Instant, key: SessionKey, req: AuthRequest) {
        match self.cfg.aaa {
            AaaMode::Local => self.local_auth(now, key, &req),
            AaaMode::Radius => {
                let Some(s) = self.sessions.get(&key) else {
                    return;
                };
                let access = self.access_request(s, &req);
                let sent = match (self.radius.as_mut(), access) {
                    (Some(r), Some(a)) => r.send_access(now, a).map_err(|e| e.to_string()),
                    (None, _) => Err("no RADIUS client".into()),
                    (_, None) => Err("credentials do not fit RADIUS".into()),
                };
                match sent {
                    Ok(id) => {
                        self.auth_pending.insert(id, key);
                        if let Some(s) = self.sessions.get_mut(&key) {
                            s.radius_auth = Some(Box::new((id, req)));
                        }
                    }
                    Err(e) => {
                        warn!(?key, error = %e, "cannot send Access-Request");
                        self.radius_unavailable(now, key, req);
                    }
                }
            }
        }
    }

    fn access_request(&self, s: &Sess, req: &AuthRequest) -> Option<AccessRequest> {
        let user = String::from_utf8_lossy(&req.username).into_owned();
        let mut a = match &req.method {
            PppCredentials::Pap { password } => AccessRequest::pap(&user, password, s.slot),
            PppCredentials::Chap {
                ident,
                challenge,
                response,
            } => {
                let r: [u8; 16] = response.as_slice().try_into().ok()?;
                AccessRequest::chap(&user, *ident, r, challenge, s.slot)
            }
        };
        a.calling_station_id = lossy(&s.info.calling_number);
        a.called_station_id = lossy(&s.info.called_number);
        let server = self.local_ip_for(s.info.peer);
        a.tunnel = Some(TunnelInfo {
            client_endpoint: s.info.peer.ip(),
            server_endpoint: server,
            assignment_id: Some(s.info.key.tunnel_id.to_string()),
            client_auth_id: self
                .tunnel_names
                .get(&s.info.key.tunnel_id)
                .map(|n| String::from_utf8_lossy(n).into_owned()),
            server_auth_id: Some(self.cfg.host_name.clone()),
        });
        if let RadiusCredentials::Pap { password } = &a.credentials {
            if password.len() > 128 {
                return None;
            }
        }
        Some(a)
    }

    fn local_ip_for(&self, _peer: SocketAddr) -> IpAddr {
        self.cfg.local.ip()
    }

    fn radius_unavailable(&mut self, now: Instant, key: SessionKey, req: AuthRequest) {
        match self.cfg.radius_down {
            RadiusDownPolicy::Reject => {
                self.stats.auth_rejects += 1;
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.end_override = Some(SessionEndCause::AuthenticationFailed);
                    s.ppp.auth_result(now, req.id, false, b"RADIUS unavailable");
                }
                self.pump(now, key);
            }
            RadiusDownPolicy::LocalFallback => {
                info!(?key, "RADIUS unavailable: checking the users file");
                self.local_auth(now, key, &req);
            }
        }
    }

    fn local_auth(&mut self, now: Instant, key: SessionKey, req: &AuthRequest) {
        if !self.cfg.users.verify(req) {
            self.stats.auth_rejects += 1;
            if let Some(s) = self.sessions.get_mut(&key) {
                s.ppp
                    .auth_result(now, req.id, false, b"authentication failed");
            }
            self.pump(now, key);
            return;
        }
        let (ip, dns) = self
            .cfg
            .users
            .get(&req.username)
            .map_or((None, None), |u| (u.static_ip, u.dns));
        if let (Some(dns), Some(s)) = (dns, self.sessions.get_mut(&key)) {
            s.ppp.set_dns(dns);
        }
        self.accept(now, key, req.id, ip, None);
    }

    /// Gives the session an address and accepts its credentials.
    fn accept(
        &mut self,
        now: Instant,
        key: SessionKey,
        ppp_id: u64,
        framed_ip: Option<Ipv4Addr>,
        pool: Option<&str>,
    ) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let assigned = if let Some(ip) = framed_ip {
            s.ppp.set_peer_ipv4(ip);
            true
        } else {
            let mut name = pool.unwrap_or(DEFAULT_POOL);
            if !self.pools.contains_key(name) {
                warn!(?key, pool = name, "no such pool: using the default pool");
                name = DEFAULT_POOL;
            }
            let ok = self
                .pools
                .get_mut(name)
                .is_some_and(|p| s.ppp.assign_from(p));
            if ok {
                s.pool = Some(name.to_owned());
            }
            ok
        };
        if assigned {
            self.stats.auth_accepts += 1;
            s.ppp.auth_result(now, ppp_id, true, b"welcome");
        } else {
            warn!(?key, "no address for the subscriber");
            self.stats.auth_rejects += 1;
            s.end_override = Some(SessionEndCause::ResourcesExhausted);
            s.ppp
                .auth_result(now, ppp_id, false, b"no address available");
        }
        self.pump(now, key);
    }

    fn radius_events(&mut self, now: Instant) {
        while let Some(ev) = self.radius.as_mut().and_then(|r| r.poll_event()) {
            match ev {
                RadiusEvent::AccessAccept { id, authorization } => {
                    let Some(key) = self.auth_pending.remove(&id) else {
                        continue;
                    };
                    let Some(s) = self.sessions.get_mut(&key) else {
                        continue;
                    };
                    let Some((_, req)) = s.radius_auth.take().map(|b| *b) else {
                        continue;
                    };
                    let framed = authorization.framed_ip_address.filter(|a| {
                        // 255.255.255.254: "NAS assigns"; ...255: "user picks".
                        !matches!(u32::from(*a), 0xffff_fffe | 0xffff_ffff)
                    });
                    let pool = authorization.framed_pool.clone();
                    s.authz = authorization.into();
                    self.accept(now, key, req.id, framed, pool.as_deref());
                }
                RadiusEvent::AccessReject { id, reply_message } => {
                    let Some(key) = self.auth_pending.remove(&id) else {
                        continue;
                    };
                    self.stats.auth_rejects += 1;
                    if let Some(s) = self.sessions.get_mut(&key) {
                        if let Some((_, req)) = s.radius_auth.take().map(|b| *b) {
                            let msg = reply_message.unwrap_or_else(|| "rejected".into());
                            s.ppp.auth_result(now, req.id, false, msg.as_bytes());
                        }
                    }
                    self.pump(now, key);
                }
                RadiusEvent::Timeout { id } => {
                    self.stats.radius_timeouts += 1;
                    if let Some(key) = self.auth_pending.remove(&id) {
                        warn!(?key, "no RADIUS server answered the Access-Request");
                        let req = self
                            .sessions
                            .get_mut(&key)
                            .and_then(|s| s.radius_auth.take())
                            .map(|b| *b);
                        if let Some((_, req)) = req {
                            self.radius_unavailable(now, key, req);
                        }
                    } else {
                        warn!(
                            request = id.0,
                            "no RADIUS server answered an Accounting-Request"
                        );
                    }
                }
                RadiusEvent::AccountingAck { .. } => {}
            }
        }
    }

    fn ip_up(&mut self, now: Instant, key: SessionKey, address: Ipv4Addr) {
        let local = self.cfg.local;
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let peer_v4 = match s.info.peer.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => {
                warn!(?key, "IPv6 LAC: the table holds IPv4 outer headers only");
                s.end_override = Some(SessionEndCause::NasError);
                s.ppp.close(now, DownCause::AdminClose);
                self.pump(now, key);
                return;
            }
        };
        let local_v4 = match local.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let n = match self.neighbour_cache.get(&(peer_v4, local_v4)) {
            Some(&(n, until)) if now < until => n,
            _ => {
                let n = self.neighbours.resolve(peer_v4, local_v4);
                if self.neighbour_cache.len() >= NEIGHBOUR_CACHE_MAX {
                    self.neighbour_cache.retain(|_, (_, until)| now < *until);
                }
                // An unresolved LAC is asked again for the next session.
                if n.peer_mac != BROADCAST_MAC && self.neighbour_cache.len() < NEIGHBOUR_CACHE_MAX {
                    self.neighbour_cache
                        .insert((peer_v4, local_v4), (n, now + NEIGHBOUR_TTL));
                }
                n
            }
        };
        let (template, template_len, l2tp_offset) = build_template(&TemplateParams {
            peer_mac: n.peer_mac,
            our_mac: n.our_mac,
            vlan_tci: None,
            local_addr: n.local_addr,
            peer_addr: peer_v4,
            local_port: local.port(),
            peer_port: s.info.peer.port(),
            peer_tunnel_id: s.info.peer_tunnel_id,
            peer_session_id: s.info.peer_session_id,
            with_length: false,
            sequencing: s.info.sequencing_required,
        });
        let mtu = s.ppp.peer_lcp().mru;
        let entry = SessionEntry {
            session: Session {
                slot: s.slot,
                our_tunnel_id: key.tunnel_id,
                our_session_id: key.session_id,
                peer_tunnel_id: s.info.peer_tunnel_id,
                peer_session_id: s.info.peer_session_id,
                peer_addr: peer_v4,
                peer_port: s.info.peer.port(),
                subscriber_v4: Some(address),
                subscriber_v6_prefix: None,
                sequencing: s.info.sequencing_required,
                mtu,
                mss_clamp: mtu.saturating_sub(40),
                template,
                template_len,
                l2tp_offset,
            },
            cookie: self.next_cookie,
        };
        let cookie = entry.cookie;
        self.next_cookie += 1;
        if let Err(e) = self.table.publish(entry) {
            warn!(?key, %address, error = %e, "cannot publish the session");
            self.stats.publish_errors += 1;
            s.end_override = Some(SessionEndCause::ResourcesExhausted);
            s.ppp.close(now, DownCause::AdminClose);
            self.pump(now, key);
            return;
        }
        s.published = true;
        if s.acct.is_some() {
            // IPCP renegotiated: republished, accounting goes on.
            self.journal_up(key, cookie);
            return;
        }
        let user = s.user.clone().unwrap_or_else(|| Arc::from(""));
        let acct = Acct {
            id: Arc::from(self.acct_ids.next_id()),
            user: user.clone(),
            address,
            class: s.authz.class.clone(),
        };
        s.up_at = Some(now);
        s.session_deadline = s
            .authz
            .session_timeout
            .filter(|&t| t > 0)
            .map(|t| now + Duration::from_secs(t.into()));
        if let Some(t) = s.authz.idle_timeout.filter(|&t| t > 0) {
            let timeout = Duration::from_secs(t.into());
            s.idle = Some(Idle {
                timeout,
                last_packets: self.table.counters(s.slot).up_packets,
                last_activity: now,
                next_check: now + self.cfg.idle_check.min(timeout),
            });
        }
        let interim = s
            .authz
            .acct_interim_interval
            .filter(|&t| t > 0)
            .map(|t| Duration::from_secs(t.into()))
            .or(self.cfg.acct_interim);
        self.index.insert(
            key,
            IndexRec {
                acct_id: acct.id.clone(),
                user: user.clone(),
                ip: Some(address),
            },
        );
        let start = s.acct_session(&acct).start(None);
        let acct_id = acct.id.to_string();
        let slot = s.slot;
        s.acct = Some(acct);
        if let Some(r) = self.radius.as_mut() {
            self.stats.acct_requests += 1;
            if let Err(e) = r.send_accounting(now, start) {
                warn!(?key, error = %e, "cannot send Accounting-Start");
            }
            if let Some(i) = interim {
                self.interims.add(now, key, i, &mut *self.rng);
            }
        }
        self.stats.ip_up += 1;
        debug!(
            tunnel_id = key.tunnel_id,
            session_id = key.session_id,
            slot,
            user = %user,
            %address,
            acct_session_id = %acct_id,
            "subscriber up"
        );
        self.events.push_back(ManagerEvent::IpUp {
            key,
            slot,
            user: user.to_string(),
            address,
            acct_session_id: acct_id,
        });
        self.journal_up(key, cookie);
        self.rearm(key);
    }

    /// Queues the session's journal record (its state as of now; `cookie`
    /// is its table entry's).
    fn journal_up(&mut self, key: SessionKey, cookie: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let (Some(acct), Some(up)) = (&s.acct, s.up_at) else {
            return;
        };
        let acct_start_unix = match self.wall {
            Some((at, unix)) if at >= up => unix.saturating_sub((at - up).as_secs()),
            Some((at, unix)) => unix + (up - at).as_secs(),
            None => 0,
        };
        let peer = s.ppp.peer_lcp();
        let rec = SessionRecord {
            tunnel_id: key.tunnel_id,
            session_id: key.session_id,
            peer_session_id: s.info.peer_session_id,
            slot: s.slot,
            cookie,
            call_serial: s.info.call_serial,
            sequencing: s.info.sequencing_required,
            user: s.user.as_deref().unwrap_or_default().to_owned(),
            address: s.ppp.peer_ipv4(),
            pool: s.pool.clone(),
            our_magic: s.ppp.our_magic(),
            our_mru: s.ppp.our_mru(),
            peer_magic: peer.magic,
            peer_mru: peer.mru,
            auth: match s.ppp.auth_method() {
                None => 0,
                Some(AuthMethod::Pap) => 1,
                Some(AuthMethod::ChapMd5) => 2,
            },
            acct_session_id: acct.id.to_string(),
            acct_start_unix,
            class: s.authz.class.clone(),
            session_timeout: s.authz.session_timeout,
            idle_timeout: s.authz.idle_timeout,
            interim: s.authz.acct_interim_interval,
            calling: s.info.calling_number.as_deref().map(<[u8]>::to_vec),
            called: s.info.called_number.as_deref().map(<[u8]>::to_vec),
        };
        s.journalled = true;
        self.journal.push_back(Record::SessionUp(Box::new(rec)));
    }

    /// The next record for the control-state journal.
    pub fn poll_journal(&mut self) -> Option<Record> {
        self.journal.pop_front()
    }

    /// Tells the manager the Unix time (seconds) at `now`, for the
    /// journal's accounting start times (the driver calls it once per
    /// loop iteration; sans-IO code reads no clock).
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: u64) {
        self.wall = Some((now, unix_secs));
    }

    /// Records tunnel `tunnel_id`'s LAC Host Name for a tunnel resumed
    /// after a restart (no TunnelUp event comes for it).
    pub fn resume_tunnel(&mut self, tunnel_id: u16, host_name: Vec<u8>) {
        self.tunnel_names.insert(tunnel_id, host_name);
    }

    /// Resumes a session after a control-plane restart from its journal
    /// record: PPP as it was (nothing sent), its pool address marked used,
    /// accounting going on under the same Acct-Session-Id with the session
    /// time counted from the journalled start (no new Accounting-Start),
    /// Session-/Idle-Timeout and interims as authorised. `published`: its
    /// table entry is in place (else it is ended at once by the caller).
    /// `unix_now` is the Unix time at `now`. The L2TP engine must have
    /// resumed the session.
    pub fn resume_session(
        &mut self,
        now: Instant,
        unix_now: u64,
        r: &SessionRecord,
        peer: SocketAddr,
        peer_tunnel_id: u16,
        published: bool,
    ) -> Result<SessionKey, String> {
        let key = r.key();
        if self.sessions.contains_key(&key) {
            return Err(format!("{key:?} resumed twice"));
        }
        let address = r.address.ok_or("no address")?;
        if let Some(name) = &r.pool {
            let pool = self
                .pools
                .get_mut(name)
                .ok_or_else(|| format!("pool {name:?} is no longer configured"))?;
            if !pool.claim(address) {
                return Err(format!("{address} is not free in pool {name:?}"));
            }
        }
        let auth = match r.auth {
            1 => Some(AuthMethod::Pap),
            2 => Some(AuthMethod::ChapMd5),
            _ => None,
        };
        let mut seed = [0u8; 16];
        self.rng.fill_bytes(&mut seed);
        let ppp = PppSession::resume(
            self.cfg.ppp.clone(),
            seed,
            now,
            &ResumedPpp {
                our_magic: r.our_magic,
                our_mru: r.our_mru,
                peer: PeerLcp {
                    mru: r.peer_mru,
                    magic: r.peer_magic,
                    ..PeerLcp::default()
                },
                auth,
                username: r.user.as_bytes().to_vec(),
                address,
            },
        );
        let info = SessionInfo {
            sequencing_required: r.sequencing,
            calling_number: r.calling.clone(),
            called_number: r.called.clone(),
            ..SessionInfo::new(
                key,
                peer_tunnel_id,
                r.peer_session_id,
                peer,
                CallDirection::Incoming,
                r.call_serial,
            )
        };
        let authz = Authz {
            session_timeout: r.session_timeout,
            idle_timeout: r.idle_timeout,
            acct_interim_interval: r.interim,
            class: r.class.clone(),
        };
        let user: Arc<str> = Arc::from(r.user.as_str());
        let acct = Acct {
            id: Arc::from(r.acct_session_id.as_str()),
            user: user.clone(),
            address,
            class: r.class.clone(),
        };
        let acct_id = acct.id.clone();
        let age = Duration::from_secs(unix_now.saturating_sub(r.acct_start_unix));
        let up = now.checked_sub(age).unwrap_or(now);
        let idle = r.idle_timeout.filter(|&t| t > 0).map(|t| {
            let timeout = Duration::from_secs(t.into());
            Idle {
                timeout,
                last_packets: self.table.counters(r.slot).up_packets,
                last_activity: now,
                next_check: now + self.cfg.idle_check.min(timeout),
            }
        });
        self.sessions.insert(
            key,
            Box::new(Sess {
                info: Call::new(&info),
                slot: r.slot,
                ppp,
                user: Some(user.clone()),
                radius_auth: None,
                pool: r.pool.clone(),
                authz,
                acct: Some(acct),
                up_at: Some(up),
                published,
                session_deadline: r
                    .session_timeout
                    .filter(|&t| t > 0)
                    .map(|t| up + Duration::from_secs(t.into())),
                idle,
                end_override: None,
                timer: None,
                ns: 0,
                journalled: true,
            }),
        );
        self.next_cookie = self.next_cookie.max(r.cookie + 1);
        self.index.insert(
            key,
            IndexRec {
                acct_id,
                user,
                ip: Some(address),
            },
        );
        let interim = r
            .interim
            .filter(|&t| t > 0)
            .map(|t| Duration::from_secs(t.into()))
            .or(self.cfg.acct_interim);
        if let (Some(i), true) = (interim, self.radius.is_some()) {
            self.interims.add(now, key, i, &mut *self.rng);
        }
        self.stats.resumed += 1;
        self.rearm(key);
        Ok(key)
    }

    fn counters(&self, slot: u32) -> SessionCounters {
        let c = self.table.counters(slot);
        SessionCounters {
            input_octets: c.up_bytes,
            output_octets: c.down_bytes,
            input_packets: c.up_packets,
            output_packets: c.down_packets,
        }
    }

    fn send_interim(&mut self, now: Instant, key: SessionKey) {
        let Some(s) = self.sessions.get(&key) else {
            self.interims.remove(key);
            return;
        };
        let (Some(acct), Some(up)) = (&s.acct, s.up_at) else {
            return;
        };
        let req = s
            .acct_session(acct)
            .interim(self.counters(s.slot), secs(now - up), None);
        if let Some(r) = self.radius.as_mut() {
            self.stats.acct_requests += 1;
            if let Err(e) = r.send_accounting(now, req) {
                warn!(?key, error = %e, "cannot send Interim-Update");
            }
        }
    }

    /// The session is over: withdraw, release, account, and (when we ended
    /// it) CDN.
    fn end(&mut self, now: Instant, key: SessionKey, cause: SessionEndCause, cdn: bool) {
        let Some(mut s) = self.sessions.remove(&key) else {
            return;
        };
        if let Some(t) = s.timer.take() {
            self.timers.remove(&(t, key));
        }
        if let Some((id, _)) = s.radius_auth.take().map(|b| *b) {
            self.auth_pending.remove(&id);
            if let Some(r) = self.radius.as_mut() {
                r.cancel(now, id);
            }
        }
        let counters = if s.acct.is_some() || s.published {
            self.counters(s.slot)
        } else {
            SessionCounters::default()
        };
        if s.published {
            self.table.withdraw(s.slot);
        }
        if let Some(p) = s.pool.as_ref().and_then(|n| self.pools.get_mut(n)) {
            s.ppp.release_to(p);
        }
        self.interims.remove(key);
        self.index.remove(key);
        if s.journalled {
            self.journal.push_back(Record::SessionDown {
                tunnel_id: key.tunnel_id,
                session_id: key.session_id,
            });
        }
        if let (Some(acct), Some(up)) = (&s.acct, s.up_at) {
            let stop = s
                .acct_session(acct)
                .stop(counters, secs(now - up), cause, None);
            if let Some(r) = self.radius.as_mut() {
                self.stats.acct_requests += 1;
                if let Err(e) = r.send_accounting(now, stop) {
                    warn!(?key, error = %e, "cannot send Accounting-Stop");
                }
            }
        }
        if cdn {
            let (result, error) = cdn_result(cause);
            self.commands.push_back(Command::CloseSession {
                key,
                result,
                error,
                message: format!("{cause:?}"),
            });
        }
        self.stats.ended += 1;
        debug!(
            tunnel_id = key.tunnel_id,
            session_id = key.session_id,
            user = s.user.as_deref().unwrap_or(""),
            ?cause,
            input_octets = counters.input_octets,
            output_octets = counters.output_octets,
            "subscriber down"
        );
        self.events.push_back(ManagerEvent::Down {
            key,
            user: s.user.map(|u| u.to_string()),
            cause,
            counters,
        });
    }

    fn dae_events(&mut self, now: Instant) {
        while let Some(ev) = self.dae.as_mut().and_then(|d| d.poll_event()) {
            match ev {
                DaeEvent::Disconnect { request, session } => {
                    info!(?session, "Disconnect-Request");
                    self.stats.dae_disconnects += 1;
                    let done =
                        self.disconnect(now, session, SessionEndCause::DynamicAuthDisconnect);
                    let outcome = if done {
                        DaeOutcome::Ack
                    } else {
                        DaeOutcome::Nak(l2tpx_wire::radius::ErrorCause::SessionContextNotFound)
                    };
                    if let Some(d) = self.dae.as_mut() {
                        d.complete(now, request, outcome);
                    }
                }
                DaeEvent::Coa {
                    request,
                    session,
                    changes,
                } => {
                    info!(?session, ?changes, "CoA-Request");
                    self.stats.dae_coas += 1;
                    let done = self.apply_coa(now, session, changes);
                    let outcome = if done {
                        DaeOutcome::Ack
                    } else {
                        DaeOutcome::Nak(l2tpx_wire::radius::ErrorCause::SessionContextNotFound)
                    };
                    if let Some(d) = self.dae.as_mut() {
                        d.complete(now, request, outcome);
                    }
                }
            }
        }
    }

    /// Session-Timeout counts from when the session came up (a value
    /// already exceeded ends it at once); Idle-Timeout restarts from now;
    /// 0 removes either.
    fn apply_coa(&mut self, now: Instant, key: SessionKey, c: CoaChanges) -> bool {
        let Some(s) = self.sessions.get_mut(&key) else {
            return false;
        };
        let up = s.up_at.unwrap_or(now);
        if let Some(t) = c.session_timeout {
            s.authz.session_timeout = Some(t);
            s.session_deadline = (t > 0).then(|| up + Duration::from_secs(t.into()));
        }
        if let Some(t) = c.idle_timeout {
            s.authz.idle_timeout = Some(t);
            s.idle = (t > 0).then(|| {
                let timeout = Duration::from_secs(t.into());
                Idle {
                    timeout,
                    last_packets: self.table.counters(s.slot).up_packets,
                    last_activity: now,
                    next_check: now + self.cfg.idle_check.min(timeout),
                }
            });
        }
        if let Some(t) = c.acct_interim_interval {
            s.authz.acct_interim_interval = Some(t);
            if self.radius.is_some() {
                self.interims
                    .add(now, key, Duration::from_secs(t.into()), &mut *self.rng);
            }
        }
        self.rearm(key);
        true
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// PPP's reason, for accounting.
pub fn ppp_end_cause(c: DownCause) -> SessionEndCause {
    match c {
        DownCause::PeerTerminated => SessionEndCause::LcpTerminate,
        DownCause::EchoTimeout => SessionEndCause::LcpEchoTimeout,
        DownCause::AuthFailed | DownCause::AuthTimeout => SessionEndCause::AuthenticationFailed,
        DownCause::NoCommonAuth | DownCause::NegotiationFailed(_) => {
            SessionEndCause::NegotiationFailed
        }
        DownCause::NoAddress => SessionEndCause::ResourcesExhausted,
        DownCause::AdminClose => SessionEndCause::AdminReset,
        DownCause::SessionTimeout => SessionEndCause::SessionTimeout,
        DownCause::LowerLayerDown => SessionEndCause::PeerCallDisconnect,
    }
}

/// The L2TP reason a session went away under PPP, for accounting.
pub fn l2tp_end_cause(c: &DisconnectCause) -> SessionEndCause {
    match c.initiator {
        Initiator::Peer => SessionEndCause::PeerCallDisconnect,
        Initiator::Transport => SessionEndCause::TunnelTimeout,
        Initiator::Local => SessionEndCause::NasRequest,
    }
}

/// The CDN Result/Error Code for a session we end (module docs table).
pub fn cdn_result(c: SessionEndCause) -> (u16, Option<u16>) {
    use SessionEndCause as C;
    match c {
        C::LcpEchoTimeout | C::PeerCallDisconnect | C::TunnelTimeout => (1, None),
        C::NegotiationFailed | C::NasError | C::PortError => (2, Some(0)),
        C::ResourcesExhausted => (4, None),
        _ => (3, None),
    }
}
