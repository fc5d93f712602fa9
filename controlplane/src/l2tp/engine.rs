//! The sans-IO LNS engine (RFC 2661 §7.2 receiver side, §7.4.2 incoming
//! calls, §7.5.2 outgoing calls), quinn-proto style: no socket, no clock.
//!
//! The driver feeds datagrams with [`Engine::handle`], calls
//! [`Engine::handle_timeout`] when [`Engine::poll_timeout`] says, drains
//! [`Engine::poll_transmit`] after every call, and [`Engine::poll_event`]s.
//!
//! # Decisions
//!
//! * **Refusing an SCCRQ** (limits, malformed, bad version, no secret)
//!   creates no tunnel: a one-shot StopCCN (Ns 0, Nr 1) goes back
//!   unreliably (§7.2 "send StopCCN, clean up"). The datagram is remembered
//!   for `refusal_linger` (31 s) under (peer, SCCRQ fingerprint), so every
//!   retransmission of that SCCRQ gets the same bytes without being decoded
//!   again; the records are capped by the half-open limits (overall and per
//!   IP), past which refusals go out without a record. When the peer's
//!   Assigned Tunnel ID cannot be read (hidden, no secret) the StopCCN can
//!   only address tunnel 0: the LAC cannot match it and retransmits until
//!   its own retry budget runs out, each copy answered from the record.
//!   Floods past the half-open caps are dropped silently (no
//!   amplification).
//! * **Freed IDs** are quarantined for `id_quarantine` (60 s) before reuse,
//!   so late data of a dead session never reaches a new subscriber's slot.
//! * **Duplicate ICRQ** (an Assigned Session ID the tunnel already has a
//!   session for, from a confused or hostile LAC): the existing session is
//!   cleared with a CDN to that peer session ID (result 2, error 3), which
//!   also clears whatever the LAC now holds under it; no second session is
//!   created (§7.4.2 "Recv ICRQ, not acceptable: send CDN").
//! * **Missing required AVPs** (§6) are answered with Result Code 2
//!   (general error) and Error Code 2 ("length is wrong": the message is too
//!   short to hold what it must), the Error Message naming the AVP. A
//!   malformed or unrevealable mandatory AVP gets Error Code 3 ("field value
//!   out of range"); an unknown mandatory AVP Error Code 8 (§4.1: a session
//!   message clears the session with a CDN, a tunnel message the tunnel with
//!   a StopCCN).
//! * **Tunnel authentication**: if we hold a secret for the peer we send a
//!   Challenge in the SCCRP and require `MD5(3 + secret + challenge)` in the
//!   SCCCN (StopCCN result 4 otherwise). A Challenge in the SCCRQ is
//!   answered with `MD5(2 + secret + challenge)`; without a secret the
//!   SCCRQ is refused (result 4).
//! * **Retransmitted SCCRQ** from a known (address, Assigned Tunnel ID) goes
//!   to the existing tunnel, whose reliable layer re-acknowledges it: no
//!   second tunnel.
//! * **Tie breaker** (§4.4.3): the LNS never sends an SCCRQ, so it never has
//!   one outstanding and never loses a tie; the value is recorded only.
//! * **HELLO** after `hello_interval` without hearing from the peer (or
//!   [`Engine::note_activity`], for data seen by the data plane); a peer
//!   that stops acknowledging fails the reliable layer and the tunnel and
//!   its sessions are cleared at once (`Initiator::Transport`).
//! * **StopCCN**: sessions and tunnel are reported down at once; the tunnel
//!   ID lingers (`stop_linger`, 31 s) to acknowledge retransmissions of a
//!   received StopCCN, or until our own StopCCN is acknowledged.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use l2tpx_wire::l2tp::{AvpValue, Bearer, ControlMessageRepr, Framing, MessageType};

use super::avps::{challenge_response, Avps};
use super::config::Config;
use super::conn::{one_shot, Conn, Msg, Scheduler};
use super::events::{CallDirection, DisconnectCause, Event, Initiator, SessionInfo, SessionKey};
use super::ids::{IdAllocator, IdMap, RandomSource};
use super::reliable::{Reliable, ReliableConfig};

/// StopCCN / CDN Result Code: general error, see Error Code.
const RESULT_GENERAL_ERROR: u16 = 2;
/// StopCCN Result Code: not authorized.
const STOP_NOT_AUTHORIZED: u16 = 4;
/// StopCCN Result Code: protocol version not supported.
const STOP_BAD_VERSION: u16 = 5;
/// StopCCN Result Code: requester (sender) is being shut down.
const STOP_SHUTTING_DOWN: u16 = 6;
/// StopCCN Result Code: FSM error.
const STOP_FSM_ERROR: u16 = 7;
/// CDN Result Code: temporary lack of facilities.
const CDN_NO_FACILITIES: u16 = 4;
/// Error Code: length is wrong (used for missing required AVPs).
const ERR_MISSING: u16 = 2;
/// Error Code: a field value out of range.
const ERR_BAD_VALUE: u16 = 3;
/// Error Code: insufficient resources.
const ERR_NO_RESOURCES: u16 = 4;
/// Error Code: unknown mandatory AVP.
const ERR_UNKNOWN_AVP: u16 = 8;
/// Protocol version 1.0 (the Error Code of result 5: highest supported).
const VERSION_1_0: u16 = 0x0100;

/// Errors of the engine's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineError {
    /// No such tunnel (or it is closing).
    NoSuchTunnel,
    /// No such session.
    NoSuchSession,
    /// The tunnel is not established yet.
    NotEstablished,
    /// The LAC sent no Bearer Capabilities (§6.9: no outgoing calls).
    NoBearerCapabilities,
    /// A session limit or the session ID bank is full.
    NoResources,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for EngineError {}

/// Engine counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not parse as control messages.
    pub malformed: u64,
    /// Data messages handed to the engine (ignored).
    pub data_ignored: u64,
    /// Messages for a tunnel ID we do not have.
    pub unknown_tunnel: u64,
    /// Messages for a tunnel from another address than its peer's.
    pub wrong_peer: u64,
    /// Messages for a session ID we do not have.
    pub unknown_session: u64,
    /// SCCRQs dropped by the half-open caps.
    pub half_open_dropped: u64,
    /// Half-open tunnels expired.
    pub half_open_expired: u64,
    /// SCCRQs refused with a StopCCN.
    pub tunnels_refused: u64,
    /// Retransmitted SCCRQs answered with the StopCCN already sent.
    pub refusals_repeated: u64,
    /// Refusals sent without a record (refused-SCCRQ table full).
    pub refusals_unrecorded: u64,
    /// ICRQs / calls refused for resources.
    pub sessions_refused: u64,
    /// ICRQs reusing a peer session ID still in use on the tunnel.
    pub duplicate_icrqs: u64,
    /// Challenge responses that did not match.
    pub auth_failures: u64,
    /// HELLOs sent.
    pub hellos_sent: u64,
    /// Tunnels cleared because the peer stopped acknowledging.
    pub dead_peers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelState {
    /// SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    Established,
    /// StopCCN sent or received; lingering.
    Closing {
        until: Instant,
        sent_stop: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// Incoming: ICRP sent, waiting for ICCN.
    WaitConnect,
    /// Outgoing: OCRQ sent, waiting for OCRP.
    WaitReply,
    /// Outgoing: OCRP received, waiting for OCCN.
    WaitConnectOut,
    Established,
}

/// A session. Kept small: what `SessionUp` reports is held only until the
/// session comes up, then moved into the event.
#[derive(Debug)]
struct Session {
    state: SessionState,
    /// The peer's session ID (0 until an OCRP gives it).
    peer_sid: u16,
    /// Call details gathered for `SessionUp`; `None` once reported.
    info: Option<Box<SessionInfo>>,
}

#[derive(Debug)]
struct Tunnel {
    conn: Conn,
    state: TunnelState,
    created: Instant,
    /// Still counted in `active_tunnels` (and `half_open` while
    /// WaitCtlConn).
    active: bool,
    challenge: Option<[u8; 16]>,
    host_name: Vec<u8>,
    bearer_caps: Option<u32>,
    tie_breaker: Option<u64>,
    sessions: IdMap<Session>,
    /// Peer session ID to ours, for the sessions whose peer ID is known.
    /// Keyed by the peer's choice, so SipHash (no chosen collisions).
    by_peer_sid: HashMap<u16, u16>,
    last_hello: Instant,
}

impl Tunnel {
    fn forget_peer_sid(&mut self, peer_sid: u16, sid: u16) {
        if peer_sid != 0 && self.by_peer_sid.get(&peer_sid) == Some(&sid) {
            self.by_peer_sid.remove(&peer_sid);
        }
    }
}

/// The LNS engine. See the module docs.
pub struct Engine {
    config: Config,
    rng: Box<dyn RandomSource>,
    ids: IdAllocator,
    /// The latest `now` the driver passed (quarantine of freed IDs).
    last_now: Option<Instant>,
    tunnels: IdMap<Box<Tunnel>>,
    by_peer: HashMap<(SocketAddr, u16), u16>,
    active_tunnels: usize,
    half_open: usize,
    half_open_by_ip: HashMap<IpAddr, usize>,
    /// Refused SCCRQs: (peer, fingerprint) to the StopCCN datagram sent.
    refused: HashMap<(SocketAddr, u64), Vec<u8>>,
    /// Their expiry, oldest first.
    refused_fifo: VecDeque<(Instant, (SocketAddr, u64))>,
    refused_by_ip: HashMap<IpAddr, usize>,
    sessions: usize,
    sched: Scheduler,
    direct: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    stats: Stats,
    call_serial: u32,
    shutting_down: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tunnels", &self.tunnels.len())
            .field("sessions", &self.sessions)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Engine {
    /// A new engine. `rng` draws tunnel IDs, challenges and random vectors.
    pub fn new(config: Config, rng: Box<dyn RandomSource>) -> Self {
        Self {
            ids: IdAllocator::with_quarantine(config.bank_bits, config.id_quarantine),
            last_now: None,
            config,
            rng,
            tunnels: IdMap::default(),
            by_peer: HashMap::new(),
            active_tunnels: 0,
            half_open: 0,
            half_open_by_ip: HashMap::new(),
            refused: HashMap::new(),
            refused_fifo: VecDeque::new(),
            refused_by_ip: HashMap::new(),
            sessions: 0,
            sched: Scheduler::default(),
            direct: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            call_serial: 0,
            shutting_down: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Tunnels held (lingering ones included).
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Established or half-open tunnels.
    pub fn active_tunnel_count(&self) -> usize {
        self.active_tunnels
    }

    /// Half-open tunnels.
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Sessions in any state.
    pub fn session_count(&self) -> usize {
        self.sessions
    }

    /// The data plane slot of a session ([`super::ids::slot_index`]).
    pub fn slot_index(&self, key: SessionKey) -> u32 {
        self.ids.slot_index(key.tunnel_id, key.session_id)
    }

    /// The Tie Breaker value the peer of `tunnel_id` sent, if any.
    pub fn peer_tie_breaker(&self, tunnel_id: u16) -> Option<u64> {
        self.tunnels.get(&tunnel_id).and_then(|t| t.tie_breaker)
    }

    /// The ID allocator (bank layout, capacity).
    pub fn ids(&self) -> &IdAllocator {
        &self.ids
    }

    fn reliable_config(&self) -> ReliableConfig {
        ReliableConfig {
            our_rws: self.config.receive_window,
            ..self.config.reliable.clone()
        }
    }

    /// A control connection to `peer` with our reliable-delivery and
    /// hiding settings.
    fn new_conn(&self, now: Instant, peer: SocketAddr, secret: Option<Vec<u8>>) -> Conn {
        Conn::new(
            now,
            peer,
            self.reliable_config(),
            secret,
            self.config.hide_avps,
            self.config.hidden_padding_max,
        )
    }

    // ------------------------------------------------------------------
    // Driver API.

    /// Processes one UDP datagram from `peer`.
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        self.stamp(now);
        let m = match ControlMessageRepr::parse_bytes(datagram) {
            Ok(m) => m,
            Err(_) => {
                if datagram.first().is_some_and(|b| b & 0x80 == 0) {
                    self.stats.data_ignored += 1;
                } else {
                    self.stats.malformed += 1;
                }
                return;
            }
        };
        if m.tunnel_id == 0 {
            if m.message_type() == Some(MessageType::Sccrq) {
                self.on_sccrq(now, peer, &m);
            } else {
                self.stats.unknown_tunnel += 1;
            }
            return;
        }
        match self.tunnels.get(&m.tunnel_id) {
            Some(t) if t.conn.peer == peer => self.deliver(now, m.tunnel_id, &m),
            Some(_) => self.stats.wrong_peer += 1,
            None => self.stats.unknown_tunnel += 1,
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stamp(now);
        // Collect first: a tunnel may reschedule itself at or before `now`
        // (an ACK owed right away), which must wait for `poll_transmit`.
        let mut due = Vec::new();
        while let Some(tid) = self.sched.pop_expired(now) {
            due.push(tid);
        }
        for tid in due {
            self.tunnel_timeout(now, tid);
            self.touch(tid);
        }
        self.expire_refusals(now);
        // Give back the memory of IDs whose quarantine is over (allocation
        // also does it lazily, bank by bank).
        self.ids.release_expired(now);
    }

    /// The next datagram to send: its destination and length in `buf`.
    /// `buf` should hold 4096 bytes; longer messages are dropped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        self.stamp(now);
        while let Some((peer, d)) = self.direct.pop_front() {
            if let Some(b) = buf.get_mut(..d.len()) {
                b.copy_from_slice(&d);
                return Some((peer, d.len()));
            }
        }
        let (tid, peer, n) = self
            .sched
            .poll_ready(&mut self.tunnels, |t| &mut t.conn, now, buf)?;
        self.reschedule(tid);
        Some((peer, n))
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let refusal = self.refused_fifo.front().map(|r| r.0);
        match (self.sched.next(), refusal) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The peer's Receive Window Size on tunnel `tunnel_id`.
    pub fn peer_rws(&self, tunnel_id: u16) -> Option<u16> {
        self.tunnels.get(&tunnel_id).map(|t| t.conn.rel.peer_rws())
    }

    /// Resumes an established tunnel after a control-plane restart
    /// (docs/decisions.md, "Control-plane restart"). Its `Ns`/`Nr` were not
    /// kept: the transport resynchronises from the peer's first control
    /// message and sends nothing before that; the first HELLO (which then
    /// serves as the probe) is due one hello interval from `now`. No
    /// TunnelUp event is reported.
    pub fn resume_tunnel(
        &mut self,
        now: Instant,
        tunnel_id: u16,
        peer_tunnel_id: u16,
        peer: SocketAddr,
        peer_rws: u16,
        host_name: Vec<u8>,
    ) -> Result<(), EngineError> {
        self.stamp(now);
        if self.active_tunnels >= self.config.limits.max_tunnels
            || !self.ids.claim_tunnel(tunnel_id)
        {
            return Err(EngineError::NoResources);
        }
        let secret = self.config.secrets.lookup(peer.ip()).map(<[u8]>::to_vec);
        let mut conn = self.new_conn(now, peer, secret);
        conn.peer_tid = peer_tunnel_id;
        let probe_at = now + self.config.hello_interval;
        conn.rel = Reliable::resume(self.reliable_config(), peer_rws.max(1), probe_at);
        self.tunnels.insert(
            tunnel_id,
            Box::new(Tunnel {
                conn,
                state: TunnelState::Established,
                created: now,
                active: true,
                challenge: None,
                host_name,
                bearer_caps: None,
                tie_breaker: None,
                sessions: IdMap::default(),
                by_peer_sid: HashMap::new(),
                last_hello: now,
            }),
        );
        self.by_peer.insert((peer, peer_tunnel_id), tunnel_id);
        self.active_tunnels += 1;
        self.touch(tunnel_id);
        Ok(())
    }

    /// Resumes an established session of a resumed tunnel. No SessionUp
    /// event is reported.
    pub fn resume_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        peer_session_id: u16,
    ) -> Result<(), EngineError> {
        self.stamp(now);
        let Some(t) = self.tunnels.get_mut(&key.tunnel_id) else {
            return Err(EngineError::NoSuchTunnel);
        };
        if peer_session_id == 0
            || t.by_peer_sid.contains_key(&peer_session_id)
            || self.sessions >= self.config.limits.max_sessions
            || !self.ids.claim_session(key.tunnel_id, key.session_id)
        {
            return Err(EngineError::NoResources);
        }
        t.sessions.insert(
            key.session_id,
            Session {
                state: SessionState::Established,
                peer_sid: peer_session_id,
                info: None,
            },
        );
        t.by_peer_sid.insert(peer_session_id, key.session_id);
        self.sessions += 1;
        Ok(())
    }

    /// Keeps session ID `session_id` of `tunnel_id`'s bank unallocatable
    /// for the ID quarantine: a table entry withdrawn after a restart, so
    /// late data messages for it never reach a new subscriber.
    pub fn quarantine_session_id(&mut self, now: Instant, tunnel_id: u16, session_id: u16) {
        self.stamp(now);
        if self.ids.claim_session(tunnel_id, session_id) {
            self.ids.free_session(now, tunnel_id, session_id);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------------
    // Commands.

    /// Clears a session with a CDN carrying `result` / `error` / `message`.
    pub fn close_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
        error: Option<u16>,
        message: &str,
    ) -> Result<(), EngineError> {
        self.stamp(now);
        let t = self
            .tunnels
            .get(&key.tunnel_id)
            .ok_or(EngineError::NoSuchTunnel)?;
        if !t.sessions.contains_key(&key.session_id) {
            return Err(EngineError::NoSuchSession);
        }
        self.local_cdn(key.tunnel_id, key.session_id, result, error, message);
        self.touch(key.tunnel_id);
        let _ = now;
        Ok(())
    }

    /// Clears a tunnel (and its sessions) with a StopCCN.
    pub fn close_tunnel(
        &mut self,
        now: Instant,
        tunnel_id: u16,
        result: u16,
        error: Option<u16>,
        message: &str,
    ) -> Result<(), EngineError> {
        self.stamp(now);
        match self.tunnels.get(&tunnel_id) {
            Some(t) if !matches!(t.state, TunnelState::Closing { .. }) => {}
            _ => return Err(EngineError::NoSuchTunnel),
        }
        self.stop(now, tunnel_id, result, error, message);
        self.touch(tunnel_id);
        Ok(())
    }

    /// Sends a StopCCN (result 6, shutting down) to every peer and refuses
    /// new tunnels.
    pub fn shutdown(&mut self, now: Instant) {
        self.stamp(now);
        self.shutting_down = true;
        let tids: Vec<u16> = self
            .tunnels
            .iter()
            .filter(|(_, t)| !matches!(t.state, TunnelState::Closing { .. }))
            .map(|(&tid, _)| tid)
            .collect();
        for tid in tids {
            self.stop(now, tid, STOP_SHUTTING_DOWN, None, "shutting down");
            self.touch(tid);
        }
    }

    /// Asks the LAC of `tunnel_id` to place a call to `called_number`
    /// (OCRQ, §6.9). The session comes up with `SessionUp` on OCCN.
    pub fn place_outgoing_call(
        &mut self,
        now: Instant,
        tunnel_id: u16,
        called_number: &[u8],
    ) -> Result<SessionKey, EngineError> {
        self.stamp(now);
        let t = self
            .tunnels
            .get(&tunnel_id)
            .ok_or(EngineError::NoSuchTunnel)?;
        if t.state != TunnelState::Established {
            return Err(EngineError::NotEstablished);
        }
        let bearer = t.bearer_caps.ok_or(EngineError::NoBearerCapabilities)?;
        if self.sessions >= self.config.limits.max_sessions
            || t.sessions.len() >= self.config.limits.max_sessions_per_tunnel
        {
            self.stats.sessions_refused += 1;
            return Err(EngineError::NoResources);
        }
        let sid = self
            .ids
            .alloc_session(now, tunnel_id)
            .ok_or(EngineError::NoResources)?;
        self.call_serial = self.call_serial.wrapping_add(1);
        let serial = self.call_serial;
        let bearer_type = if bearer & Bearer::DIGITAL != 0 {
            Bearer::DIGITAL
        } else {
            bearer & Bearer::ANALOG
        };
        let t = self.tunnels.get_mut(&tunnel_id).expect("checked");
        let key = SessionKey {
            tunnel_id,
            session_id: sid,
        };
        let info = SessionInfo {
            called_number: Some(called_number.to_vec()),
            bearer_type: Some(bearer_type),
            ..SessionInfo::new(
                key,
                t.conn.peer_tid,
                0,
                t.conn.peer,
                CallDirection::Outgoing,
                serial,
            )
        };
        t.sessions.insert(
            sid,
            Session {
                state: SessionState::WaitReply,
                peer_sid: 0,
                info: Some(Box::new(info)),
            },
        );
        self.sessions += 1;
        t.conn.send(
            &mut *self.rng,
            0,
            MessageType::Ocrq,
            &[
                AvpValue::AssignedSessionId(sid),
                AvpValue::CallSerialNumber(serial),
                AvpValue::MinimumBps(0),
                AvpValue::MaximumBps(u32::MAX),
                AvpValue::BearerType(Bearer(bearer_type)),
                AvpValue::FramingType(Framing(Framing::SYNC | Framing::ASYNC)),
                AvpValue::CalledNumber(called_number),
            ],
            &[],
        );
        self.touch(tunnel_id);
        Ok(SessionKey {
            tunnel_id,
            session_id: sid,
        })
    }

    /// Sends a Set-Link-Info (§6.14) with the PPP-negotiated ACCM.
    pub fn set_link_info(
        &mut self,
        key: SessionKey,
        send_accm: u32,
        receive_accm: u32,
    ) -> Result<(), EngineError> {
        let t = self
            .tunnels
            .get_mut(&key.tunnel_id)
            .ok_or(EngineError::NoSuchTunnel)?;
        let s = t
            .sessions
            .get(&key.session_id)
            .ok_or(EngineError::NoSuchSession)?;
        let peer_sid = s.peer_sid;
        t.conn.send(
            &mut *self.rng,
            peer_sid,
            MessageType::Sli,
            &[AvpValue::Accm {
                reserved: 0,
                send_accm,
                receive_accm,
            }],
            &[],
        );
        self.touch(key.tunnel_id);
        Ok(())
    }

    /// Records activity on a tunnel seen elsewhere (data messages), which
    /// defers its HELLO (§6.5: "without receiving any message (data or
    /// control)").
    pub fn note_activity(&mut self, now: Instant, tunnel_id: u16) {
        self.stamp(now);
        if let Some(t) = self.tunnels.get_mut(&tunnel_id) {
            t.conn.last_rx = t.conn.last_rx.max(now);
        }
    }

    // ------------------------------------------------------------------
    // Internals.

    /// Forgets the refused SCCRQs whose linger is over.
    fn expire_refusals(&mut self, now: Instant) {
        while let Some(&(until, key)) = self.refused_fifo.front() {
            if until > now {
                break;
            }
            self.refused_fifo.pop_front();
            if self.refused.remove(&key).is_some() {
                let ip = key.0.ip();
                if let Some(n) = self.refused_by_ip.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        self.refused_by_ip.remove(&ip);
                    }
                }
            }
        }
    }

    /// Refused SCCRQs remembered (to answer their retransmissions).
    pub fn refused_count(&self) -> usize {
        self.refused.len()
    }

    /// Refuses an SCCRQ with a StopCCN (§7.2: "Recv SCCRQ, unacceptable:
    /// send StopCCN, clean up"). The answer is remembered for
    /// `Config::refusal_linger` under (peer, SCCRQ fingerprint), so a
    /// retransmission of the same SCCRQ gets the very same StopCCN without
    /// being looked at again. The records are bounded by the half-open
    /// limits (overall and per peer IP); past them the refusal is sent
    /// without a record.
    fn refuse_sccrq(
        &mut self,
        now: Instant,
        fp: u64,
        peer: SocketAddr,
        peer_tid: u16,
        result: u16,
        error: Option<u16>,
        message: &str,
    ) {
        self.stats.tunnels_refused += 1;
        let d = one_shot(
            peer_tid,
            0,
            0,
            1,
            MessageType::StopCcn,
            &[
                AvpValue::AssignedTunnelId(0),
                AvpValue::ResultCode {
                    result,
                    // The Error Message needs an Error Code before it.
                    error: error.or((!message.is_empty()).then_some(0)),
                    message: message.as_bytes(),
                },
            ],
            &mut *self.rng,
        );
        let limits = &self.config.limits;
        let per_ip = self.refused_by_ip.get(&peer.ip()).copied().unwrap_or(0);
        if !self.config.refusal_linger.is_zero()
            && self.refused.len() < limits.max_half_open
            && per_ip < limits.max_half_open_per_peer
        {
            let key = (peer, fp);
            if self.refused.insert(key, d.clone()).is_none() {
                *self.refused_by_ip.entry(peer.ip()).or_default() += 1;
                self.refused_fifo
                    .push_back((now + self.config.refusal_linger, key));
            }
        } else {
            self.stats.refusals_unrecorded += 1;
        }
        if self.direct.len() < 1024 {
            self.direct.push_back((peer, d));
        }
    }

    fn on_sccrq(&mut self, now: Instant, peer: SocketAddr, m: &ControlMessageRepr<'_>) {
        // A retransmission of an SCCRQ we refused gets the same StopCCN.
        self.expire_refusals(now);
        let fp = fingerprint(m.ns, m.avps);
        if let Some(d) = self.refused.get(&(peer, fp)) {
            self.stats.refusals_repeated += 1;
            if self.direct.len() < 1024 {
                self.direct.push_back((peer, d.clone()));
            }
            return;
        }
        let secret = self.config.secrets.lookup(peer.ip()).map(<[u8]>::to_vec);
        let a = Avps::decode(m.avps, secret.as_deref());
        let peer_tid = a.assigned_tunnel_id.unwrap_or(0);
        if let Some(&tid) = self.by_peer.get(&(peer, peer_tid)) {
            // A retransmission: the tunnel's reliable layer re-acks it.
            self.deliver(now, tid, m);
            return;
        }
        if m.ns != 0 {
            self.stats.malformed += 1;
            return;
        }
        if let Some((err, text)) = mandatory_avp_error(&a) {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                RESULT_GENERAL_ERROR,
                Some(err),
                &text,
            );
        }
        if let Some(name) = a.missing_required() {
            let text = format!("missing {name} AVP");
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                RESULT_GENERAL_ERROR,
                Some(ERR_MISSING),
                &text,
            );
        }
        if a.protocol_version != Some((1, 0)) {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                STOP_BAD_VERSION,
                Some(VERSION_1_0),
                "",
            );
        }
        if a.rws == Some(0) {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                RESULT_GENERAL_ERROR,
                Some(ERR_BAD_VALUE),
                "receive window 0",
            );
        }
        if self.shutting_down {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                STOP_SHUTTING_DOWN,
                None,
                "shutting down",
            );
        }
        let limits = &self.config.limits;
        let per_ip = self.half_open_by_ip.get(&peer.ip()).copied().unwrap_or(0);
        if self.half_open >= limits.max_half_open || per_ip >= limits.max_half_open_per_peer {
            self.stats.half_open_dropped += 1;
            return;
        }
        if self.active_tunnels >= limits.max_tunnels {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                RESULT_GENERAL_ERROR,
                Some(ERR_NO_RESOURCES),
                "tunnel limit",
            );
        }
        let response = match (&a.challenge, &secret) {
            (None, _) => None,
            (Some(ch), Some(s)) => Some(challenge_response(2, s, ch)),
            (Some(_), None) => {
                return self.refuse_sccrq(
                    now,
                    fp,
                    peer,
                    peer_tid,
                    STOP_NOT_AUTHORIZED,
                    None,
                    "no secret",
                );
            }
        };
        let Some(tid) = self.ids.alloc_tunnel(now, &mut *self.rng) else {
            return self.refuse_sccrq(
                now,
                fp,
                peer,
                peer_tid,
                RESULT_GENERAL_ERROR,
                Some(ERR_NO_RESOURCES),
                "no tunnel ID",
            );
        };
        let challenge = secret.as_ref().map(|_| {
            let mut c = [0u8; 16];
            self.rng.fill_bytes(&mut c);
            c
        });
        let mut conn = self.new_conn(now, peer, secret);
        conn.peer_tid = peer_tid;
        if let Some(w) = a.rws {
            let _ = conn.rel.set_peer_rws(w);
        }
        conn.receive(now, m);
        let mut avps = vec![
            AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            AvpValue::HostName(self.config.host_name.as_bytes()),
            AvpValue::FramingCapabilities(Framing(Framing::SYNC | Framing::ASYNC)),
            AvpValue::BearerCapabilities(Bearer(0)),
            AvpValue::FirmwareRevision(self.config.firmware_revision),
            AvpValue::VendorName(self.config.vendor_name.as_bytes()),
            AvpValue::AssignedTunnelId(tid),
            AvpValue::ReceiveWindowSize(self.config.receive_window),
        ];
        if let Some(c) = &challenge {
            avps.push(AvpValue::Challenge(c));
        }
        if let Some(r) = &response {
            avps.push(AvpValue::ChallengeResponse(r));
        }
        conn.send(&mut *self.rng, 0, MessageType::Sccrp, &avps, &[]);
        self.tunnels.insert(
            tid,
            Box::new(Tunnel {
                conn,
                state: TunnelState::WaitCtlConn,
                created: now,
                active: true,
                challenge,
                host_name: a.host_name.unwrap_or_default(),
                bearer_caps: a.bearer_caps,
                tie_breaker: a.tie_breaker,
                sessions: IdMap::default(),
                by_peer_sid: HashMap::new(),
                last_hello: now,
            }),
        );
        self.by_peer.insert((peer, peer_tid), tid);
        self.active_tunnels += 1;
        self.half_open += 1;
        *self.half_open_by_ip.entry(peer.ip()).or_default() += 1;
        self.touch(tid);
    }

    fn deliver(&mut self, now: Instant, tid: u16, m: &ControlMessageRepr<'_>) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        for msg in t.conn.receive(now, m) {
            self.process(now, tid, msg);
        }
        self.touch(tid);
    }

    fn process(&mut self, now: Instant, tid: u16, m: Msg) {
        let Some(t) = self.tunnels.get(&tid) else {
            return;
        };
        if matches!(t.state, TunnelState::Closing { .. }) {
            return;
        }
        let a = Avps::decode(&m.avps, t.conn.secret.as_deref());
        let Some(mt) = a.msg_type else {
            if a.type_mandatory {
                let text = format!("unknown message type {}", a.raw_type);
                self.stop(now, tid, RESULT_GENERAL_ERROR, Some(ERR_BAD_VALUE), &text);
            }
            return;
        };
        if mt.is_session_message() {
            self.session_message(now, tid, m.session_id, mt, a);
        } else {
            self.tunnel_message(now, tid, mt, a);
        }
    }

    fn tunnel_message(&mut self, now: Instant, tid: u16, mt: MessageType, a: Avps) {
        use MessageType as M;
        if mt == M::StopCcn {
            let cause = peer_cause(&a);
            // Whatever we still had queued or in flight (ICRPs, HELLOs, ...)
            // is moot: only ACKs go out from here (§5.7).
            if let Some(t) = self.tunnels.get_mut(&tid) {
                t.conn.rel.clear_queue();
                t.conn.rel.ack_now(now);
            }
            self.enter_closing(now, tid, cause, false);
            return;
        }
        if let Some((err, text)) = mandatory_avp_error(&a) {
            return self.stop(now, tid, RESULT_GENERAL_ERROR, Some(err), &text);
        }
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        match (t.state, mt) {
            (_, M::Hello) => {}
            (TunnelState::WaitCtlConn, M::Scccn) => {
                if let Some(ch) = t.challenge {
                    let secret = t.conn.secret.as_deref().unwrap_or(&[]);
                    let want = challenge_response(3, secret, &ch);
                    if a.challenge_response != Some(want) {
                        self.stats.auth_failures += 1;
                        return self.stop(
                            now,
                            tid,
                            STOP_NOT_AUTHORIZED,
                            None,
                            "challenge response mismatch",
                        );
                    }
                }
                t.state = TunnelState::Established;
                t.conn.last_rx = now;
                let ip = t.conn.peer.ip();
                self.events.push_back(Event::TunnelUp {
                    tunnel_id: tid,
                    peer_tunnel_id: t.conn.peer_tid,
                    peer: t.conn.peer,
                    host_name: t.host_name.clone(),
                });
                self.leave_half_open(ip);
            }
            (_, M::Sccrq | M::Sccrp | M::Scccn) => {
                self.stop(now, tid, STOP_FSM_ERROR, None, "unexpected message")
            }
            _ => {}
        }
    }

    fn leave_half_open(&mut self, ip: IpAddr) {
        self.half_open -= 1;
        if let Some(n) = self.half_open_by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.half_open_by_ip.remove(&ip);
            }
        }
    }

    fn session_message(&mut self, now: Instant, tid: u16, sid: u16, mt: MessageType, a: Avps) {
        use MessageType as M;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if t.state != TunnelState::Established {
            return self.stop(now, tid, STOP_FSM_ERROR, None, "call before SCCCN");
        }
        if mt == M::Icrq {
            return self.on_icrq(now, tid, a);
        }
        let Some(s) = t.sessions.get_mut(&sid) else {
            if matches!(mt, M::Icrp | M::Ocrq) {
                // §7.4.2 idle / receive ICRP: send CDN. We never place calls as a LAC.
                if let Some(peer_sid) = a.assigned_session_id {
                    self.send_cdn(
                        tid,
                        peer_sid,
                        0,
                        RESULT_GENERAL_ERROR,
                        Some(0),
                        "unexpected",
                    );
                }
            }
            self.stats.unknown_session += 1;
            return;
        };
        if mt == M::Cdn {
            let cause = peer_cause(&a);
            let peer_session_id = s.peer_sid;
            let was_up = s.state == SessionState::Established;
            t.sessions.remove(&sid);
            t.forget_peer_sid(peer_session_id, sid);
            self.sessions -= 1;
            self.free_session_id(tid, sid);
            self.events.push_back(Event::SessionDown {
                key: SessionKey {
                    tunnel_id: tid,
                    session_id: sid,
                },
                peer_session_id,
                cause,
                was_up,
            });
            return;
        }
        if let Some((err, text)) = mandatory_avp_error(&a) {
            return self.local_cdn(tid, sid, RESULT_GENERAL_ERROR, Some(err), &text);
        }
        if let Some(name) = a.missing_required() {
            let text = format!("missing {name} AVP");
            return self.local_cdn(tid, sid, RESULT_GENERAL_ERROR, Some(ERR_MISSING), &text);
        }
        let key = SessionKey {
            tunnel_id: tid,
            session_id: sid,
        };
        match (s.state, mt) {
            (SessionState::WaitConnect, M::Iccn) | (SessionState::WaitConnectOut, M::Occn) => {
                let Some(mut i) = s.info.take() else {
                    return;
                };
                i.peer_session_id = s.peer_sid;
                i.tx_connect_speed = a.tx_speed;
                i.rx_connect_speed = a.rx_speed;
                i.framing_type = a.framing_type;
                i.sequencing_required = a.sequencing_required;
                i.proxy = a.proxy;
                if a.private_group_id.is_some() {
                    i.private_group_id = a.private_group_id;
                }
                s.state = SessionState::Established;
                self.events.push_back(Event::SessionUp(i));
            }
            (SessionState::WaitReply, M::Ocrp) => {
                s.peer_sid = a.assigned_session_id.unwrap_or(0);
                if let Some(i) = s.info.as_mut() {
                    i.physical_channel_id = a.physical_channel;
                }
                s.state = SessionState::WaitConnectOut;
                if s.peer_sid != 0 {
                    t.by_peer_sid.entry(s.peer_sid).or_insert(sid);
                }
            }
            (_, M::Wen) => {
                if let Some(errors) = a.call_errors {
                    self.events.push_back(Event::WanErrorNotify { key, errors });
                }
            }
            (_, M::Sli) => {
                if let Some((send_accm, receive_accm)) = a.accm {
                    self.events.push_back(Event::SetLinkInfo {
                        key,
                        send_accm,
                        receive_accm,
                    });
                }
            }
            _ => {
                let text = format!("unexpected message type {}", u16::from(mt));
                self.local_cdn(tid, sid, RESULT_GENERAL_ERROR, Some(0), &text);
            }
        }
    }

    fn on_icrq(&mut self, now: Instant, tid: u16, a: Avps) {
        let peer_sid = a.assigned_session_id.unwrap_or(0);
        if let Some((err, text)) = mandatory_avp_error(&a) {
            return self.send_cdn(tid, peer_sid, 0, RESULT_GENERAL_ERROR, Some(err), &text);
        }
        if let Some(name) = a.missing_required() {
            let text = format!("missing {name} AVP");
            return self.send_cdn(
                tid,
                peer_sid,
                0,
                RESULT_GENERAL_ERROR,
                Some(ERR_MISSING),
                &text,
            );
        }
        if peer_sid == 0 {
            return self.send_cdn(
                tid,
                0,
                0,
                RESULT_GENERAL_ERROR,
                Some(ERR_BAD_VALUE),
                "session ID 0",
            );
        }
        let Some(t) = self.tunnels.get(&tid) else {
            return;
        };
        if let Some(&old) = t.by_peer_sid.get(&peer_sid) {
            // The LAC reuses a session ID it still has a session under: it
            // lost track (or lies). Not acceptable (§7.4.2): one CDN to
            // that ID with our old session's ID clears both ends of it,
            // and the new request with it. No second session.
            self.stats.duplicate_icrqs += 1;
            return self.local_cdn(
                tid,
                old,
                RESULT_GENERAL_ERROR,
                Some(ERR_BAD_VALUE),
                "duplicate Assigned Session ID",
            );
        }
        let limits = &self.config.limits;
        let sid = if self.sessions >= limits.max_sessions
            || t.sessions.len() >= limits.max_sessions_per_tunnel
        {
            None
        } else {
            self.ids.alloc_session(now, tid)
        };
        let Some(sid) = sid else {
            self.stats.sessions_refused += 1;
            return self.send_cdn(tid, peer_sid, 0, CDN_NO_FACILITIES, None, "no resources");
        };
        let t = self.tunnels.get_mut(&tid).expect("checked");
        let key = SessionKey {
            tunnel_id: tid,
            session_id: sid,
        };
        let info = SessionInfo {
            calling_number: a.calling_number,
            called_number: a.called_number,
            sub_address: a.sub_address,
            physical_channel_id: a.physical_channel,
            bearer_type: a.bearer_type,
            ..SessionInfo::new(
                key,
                t.conn.peer_tid,
                peer_sid,
                t.conn.peer,
                CallDirection::Incoming,
                a.call_serial.unwrap_or(0),
            )
        };
        t.sessions.insert(
            sid,
            Session {
                state: SessionState::WaitConnect,
                peer_sid,
                info: Some(Box::new(info)),
            },
        );
        t.by_peer_sid.insert(peer_sid, sid);
        self.sessions += 1;
        t.conn.send(
            &mut *self.rng,
            peer_sid,
            MessageType::Icrp,
            &[AvpValue::AssignedSessionId(sid)],
            &[],
        );
    }

    fn send_cdn(
        &mut self,
        tid: u16,
        peer_sid: u16,
        our_sid: u16,
        result: u16,
        error: Option<u16>,
        message: &str,
    ) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.conn.send(
            &mut *self.rng,
            peer_sid,
            MessageType::Cdn,
            &[
                AvpValue::ResultCode {
                    result,
                    // The Error Message needs an Error Code before it.
                    error: error.or((!message.is_empty()).then_some(0)),
                    message: message.as_bytes(),
                },
                AvpValue::AssignedSessionId(our_sid),
            ],
            &[],
        );
    }

    /// Sends a CDN for one of our sessions and clears it.
    fn local_cdn(&mut self, tid: u16, sid: u16, result: u16, error: Option<u16>, message: &str) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let Some(s) = t.sessions.remove(&sid) else {
            return;
        };
        t.forget_peer_sid(s.peer_sid, sid);
        self.sessions -= 1;
        self.free_session_id(tid, sid);
        self.send_cdn(tid, s.peer_sid, sid, result, error, message);
        self.events.push_back(Event::SessionDown {
            key: SessionKey {
                tunnel_id: tid,
                session_id: sid,
            },
            peer_session_id: s.peer_sid,
            cause: DisconnectCause::local(result, error, message),
            was_up: s.state == SessionState::Established,
        });
    }

    /// Sends a StopCCN and clears the tunnel's sessions; the tunnel lingers.
    fn stop(&mut self, now: Instant, tid: u16, result: u16, error: Option<u16>, message: &str) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        // Requests not yet sent would only delay the StopCCN.
        t.conn.rel.drop_unsent();
        t.conn.send(
            &mut *self.rng,
            0,
            MessageType::StopCcn,
            &[
                AvpValue::AssignedTunnelId(tid),
                AvpValue::ResultCode {
                    result,
                    // The Error Message needs an Error Code before it.
                    error: error.or((!message.is_empty()).then_some(0)),
                    message: message.as_bytes(),
                },
            ],
            &[],
        );
        self.enter_closing(
            now,
            tid,
            DisconnectCause::local(result, error, message),
            true,
        );
    }

    /// Reports the sessions and the tunnel down and starts the linger.
    fn enter_closing(&mut self, now: Instant, tid: u16, cause: DisconnectCause, sent_stop: bool) {
        self.tunnel_down(tid, cause);
        if let Some(t) = self.tunnels.get_mut(&tid) {
            t.state = TunnelState::Closing {
                until: now + self.config.stop_linger,
                sent_stop,
            };
        }
    }

    /// Clears the sessions, reports them and the tunnel down, and takes the
    /// tunnel out of the active counts.
    fn tunnel_down(&mut self, tid: u16, cause: DisconnectCause) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if !t.active {
            return;
        }
        t.active = false;
        let was_up = t.state == TunnelState::Established;
        let half_open = t.state == TunnelState::WaitCtlConn;
        let peer = t.conn.peer;
        // Reported in session ID order (deterministic); sorting the small
        // (ID, peer ID, state) triples, not the sessions, keeps it cheap.
        t.by_peer_sid = HashMap::new();
        let mut gone: Vec<(u16, u16, SessionState)> = t
            .sessions
            .drain()
            .map(|(sid, s)| (sid, s.peer_sid, s.state))
            .collect();
        gone.sort_unstable_by_key(|g| g.0);
        self.events.reserve(gone.len() + 1);
        for (sid, peer_session_id, state) in gone {
            self.free_session_id(tid, sid);
            self.sessions -= 1;
            self.events.push_back(Event::SessionDown {
                key: SessionKey {
                    tunnel_id: tid,
                    session_id: sid,
                },
                peer_session_id,
                cause: cause.clone(),
                was_up: state == SessionState::Established,
            });
        }
        self.active_tunnels -= 1;
        if half_open {
            self.leave_half_open(peer.ip());
        }
        self.events.push_back(Event::TunnelDown {
            tunnel_id: tid,
            peer,
            cause,
            was_up,
        });
    }

    /// Frees a session ID (into quarantine, see `Config::id_quarantine`).
    fn free_session_id(&mut self, tid: u16, sid: u16) {
        // Sessions only exist after a call that set `last_now`.
        if let Some(now) = self.last_now {
            self.ids.free_session(now, tid, sid);
        }
    }

    /// Records the driver's clock.
    fn stamp(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |l| l.max(now)));
    }

    /// Forgets a tunnel entirely.
    fn finalize(&mut self, tid: u16) {
        if let Some(t) = self.tunnels.remove(&tid) {
            self.by_peer.remove(&(t.conn.peer, t.conn.peer_tid));
            if let Some(now) = self.last_now {
                self.ids.free_tunnel(now, tid);
            }
            self.sched.forget(tid);
        }
    }

    fn tunnel_timeout(&mut self, now: Instant, tid: u16) {
        let hello = self.config.hello_interval;
        let half_open_timeout = self.config.limits.half_open_timeout;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.conn.rel.handle_timeout(now);
        if t.conn.rel.is_failed() {
            if t.active {
                self.stats.dead_peers += 1;
                self.tunnel_down(tid, DisconnectCause::transport());
            }
            return self.finalize(tid);
        }
        match t.state {
            TunnelState::WaitCtlConn if now >= t.created + half_open_timeout => {
                self.stats.half_open_expired += 1;
                let (peer, peer_tid, ns, nr) = (
                    t.conn.peer,
                    t.conn.peer_tid,
                    t.conn.rel.next_ns(),
                    t.conn.rel.nr(),
                );
                let d = one_shot(
                    peer_tid,
                    0,
                    ns,
                    nr,
                    MessageType::StopCcn,
                    &[
                        AvpValue::AssignedTunnelId(tid),
                        AvpValue::ResultCode {
                            result: RESULT_GENERAL_ERROR,
                            error: Some(0),
                            message: b"timeout waiting for SCCCN",
                        },
                    ],
                    &mut *self.rng,
                );
                self.direct.push_back((peer, d));
                self.tunnel_down(
                    tid,
                    DisconnectCause::local(RESULT_GENERAL_ERROR, Some(0), "half-open timeout"),
                );
                self.finalize(tid);
            }
            TunnelState::Established if now >= t.conn.last_rx.max(t.last_hello) + hello => {
                t.last_hello = now;
                if t.conn.rel.in_flight() == 0 && t.conn.rel.queued() == 0 {
                    t.conn.send(&mut *self.rng, 0, MessageType::Hello, &[], &[]);
                    self.stats.hellos_sent += 1;
                }
            }
            TunnelState::Closing { until, sent_stop }
                if now >= until || (sent_stop && t.conn.rel.is_idle()) =>
            {
                self.finalize(tid);
            }
            _ => {}
        }
    }

    fn next_deadline(&self, t: &Tunnel) -> Option<Instant> {
        let state = match t.state {
            TunnelState::WaitCtlConn => t.created + self.config.limits.half_open_timeout,
            TunnelState::Established => {
                t.conn.last_rx.max(t.last_hello) + self.config.hello_interval
            }
            TunnelState::Closing { until, .. } => until,
        };
        Some(t.conn.rel.poll_timeout().map_or(state, |r| r.min(state)))
    }

    fn reschedule(&mut self, tid: u16) {
        if let Some(t) = self.tunnels.get(&tid) {
            if let TunnelState::Closing {
                sent_stop: true, ..
            } = t.state
            {
                if t.conn.rel.is_idle() {
                    return self.finalize(tid);
                }
            }
            let d = self.next_deadline(t);
            self.sched.schedule(tid, d);
        }
    }

    /// After anything that may have queued output or moved a timer.
    fn touch(&mut self, tid: u16) {
        if self.tunnels.contains_key(&tid) {
            self.sched.mark_ready(tid);
            self.reschedule(tid);
        }
    }
}

/// FNV-1a over an SCCRQ's `Ns` and AVPs: retransmissions are identical.
fn fingerprint(ns: u16, avps: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in ns.to_be_bytes().iter().chain(avps) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn peer_cause(a: &Avps) -> DisconnectCause {
    let r = a.result.clone().unwrap_or(super::avps::ResultAvp {
        result: 0,
        error: None,
        message: Vec::new(),
    });
    DisconnectCause {
        initiator: Initiator::Peer,
        result: r.result,
        error: r.error,
        message: String::from_utf8_lossy(&r.message).into_owned(),
        q931: a.q931.clone(),
    }
}

/// §4.1: the error code and text for an unrecognized mandatory AVP, or a
/// mandatory one whose value is malformed; `None` when there is neither.
fn mandatory_avp_error(a: &Avps) -> Option<(u16, String)> {
    if let Some((v, ty)) = a.unknown_mandatory {
        return Some((
            ERR_UNKNOWN_AVP,
            format!("unknown mandatory AVP vendor {v} type {ty}"),
        ));
    }
    a.bad_mandatory
        .map(|ty| (ERR_BAD_VALUE, format!("malformed mandatory AVP type {ty}")))
}
