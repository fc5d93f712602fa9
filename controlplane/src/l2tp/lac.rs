//! A sans-IO LAC engine, for tests and the bench: opens tunnels (SCCRQ,
//! answers the challenge, SCCCN), places incoming calls (ICRQ, ICCN with
//! optional proxy AVPs), answers outgoing calls (OCRQ → OCRP + OCCN),
//! clears with CDN / StopCCN, sends HELLOs. Same API shape as
//! [`super::Engine`]; events are [`Event`]s with the LAC's own IDs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tpx_wire::l2tp::{
    AvpValue, Bearer, CallErrors, ControlMessageRepr, Framing, MessageType, ProxyAuthenType,
};

use super::avps::{challenge_response, Avps};
use super::conn::{Conn, Msg, Scheduler};
use super::engine::EngineError;
use super::events::{
    CallDirection, DisconnectCause, Event, Initiator, ProxyAvps, SessionInfo, SessionKey,
};
use super::ids::{IdAllocator, IdMap, RandomSource};
use super::reliable::{seq_lt, ReliableConfig};

/// LAC configuration.
#[derive(Debug, Clone)]
pub struct LacConfig {
    /// Host Name AVP.
    pub host_name: String,
    /// Tunnel secret: we challenge the LNS and answer its challenge.
    pub secret: Option<Vec<u8>>,
    /// Hide what may be hidden (needs `secret`).
    pub hide_avps: bool,
    /// Random padding of hidden AVPs: 0..=this many bytes (default 15).
    pub hidden_padding_max: u8,
    /// HELLO after this long without hearing from the LNS.
    pub hello_interval: Duration,
    /// Reliable delivery.
    pub reliable: ReliableConfig,
    /// Receive Window Size we advertise.
    pub receive_window: u16,
    /// Bearer Capabilities to advertise (`None`: no AVP, no outgoing calls).
    pub bearer_caps: Option<u32>,
    /// Tie Breaker AVP to send.
    pub tie_breaker: Option<u64>,
    /// Linger after StopCCN.
    pub stop_linger: Duration,
    /// Raw AVPs appended to every SCCRQ (tests: unknown AVPs).
    pub sccrq_extra: Vec<u8>,
    /// Protocol version to claim (tests).
    pub protocol_version: (u8, u8),
    /// Challenge the LNS when we have a secret (default true).
    pub challenge_peer: bool,
}

impl Default for LacConfig {
    fn default() -> Self {
        Self {
            host_name: "lac".into(),
            secret: None,
            hide_avps: false,
            hidden_padding_max: 15,
            hello_interval: Duration::from_secs(60),
            reliable: ReliableConfig::default(),
            receive_window: 16,
            bearer_caps: Some(Bearer::DIGITAL | Bearer::ANALOG),
            tie_breaker: None,
            stop_linger: Duration::from_secs(31),
            sccrq_extra: Vec::new(),
            protocol_version: (1, 0),
            challenge_peer: true,
        }
    }
}

/// An incoming call to place.
#[derive(Debug, Clone, Default)]
pub struct CallParams {
    /// Calling Number.
    pub calling_number: Option<Vec<u8>>,
    /// Called Number.
    pub called_number: Option<Vec<u8>>,
    /// Proxy AVPs to put in the ICCN.
    pub proxy: ProxyAvps,
    /// Send Sequencing Required in the ICCN.
    pub sequencing_required: bool,
    /// (Tx) Connect Speed (default 10 Mb/s when 0).
    pub tx_connect_speed: u32,
    /// Raw AVPs appended to the ICRQ (tests).
    pub icrq_extra: Vec<u8>,
    /// Raw AVPs appended to the ICCN (tests).
    pub iccn_extra: Vec<u8>,
    /// Leave (Tx) Connect Speed out of the ICCN (tests: missing AVP).
    pub omit_connect_speed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    WaitCtlReply,
    Established,
    Closing { until: Instant, sent_stop: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    WaitTunnel,
    WaitReply,
    Established,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    peer_sid: u16,
    serial: u32,
    params: CallParams,
    direction: CallDirection,
}

#[derive(Debug)]
struct Tunnel {
    conn: Conn,
    state: State,
    challenge: Option<[u8; 16]>,
    calls: IdMap<Call>,
    last_hello: Instant,
    /// SessionUp events held until their ICCN or OCCN (whose Ns is given) has left
    /// the reliable layer: PPP sent before the ICCN reaches the LNS is
    /// dropped there (l2tpns ignores data on an unconnected session), and
    /// slow start can keep an ICCN queued behind other calls' messages.
    pending_up: VecDeque<(u16, Box<SessionInfo>)>,
}

/// The LAC engine.
pub struct Lac {
    config: LacConfig,
    rng: Box<dyn RandomSource>,
    ids: IdAllocator,
    /// The latest `now` seen (ID frees).
    last_now: Option<Instant>,
    tunnels: IdMap<Tunnel>,
    sched: Scheduler,
    events: VecDeque<Event>,
    serial: u32,
}

impl std::fmt::Debug for Lac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lac")
            .field("tunnels", &self.tunnels.len())
            .finish()
    }
}

impl Lac {
    /// A new LAC.
    pub fn new(config: LacConfig, rng: Box<dyn RandomSource>) -> Self {
        Self {
            config,
            rng,
            ids: IdAllocator::new(0),
            last_now: None,
            tunnels: IdMap::default(),
            sched: Scheduler::default(),
            events: VecDeque::new(),
            serial: 0,
        }
    }

    /// Tunnels held (lingering ones included).
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Whether a tunnel is established.
    pub fn is_established(&self, tid: u16) -> bool {
        self.tunnels
            .get(&tid)
            .is_some_and(|t| t.state == State::Established)
    }

    /// Opens a tunnel to `peer` (SCCRQ); returns our tunnel ID.
    pub fn open_tunnel(&mut self, now: Instant, peer: SocketAddr) -> Option<u16> {
        self.last_now = Some(self.last_now.map_or(now, |l| l.max(now)));
        let tid = self.ids.alloc_tunnel(now, &mut *self.rng)?;
        let cfg = ReliableConfig {
            our_rws: self.config.receive_window,
            ..self.config.reliable.clone()
        };
        let mut conn = Conn::new(
            now,
            peer,
            cfg,
            self.config.secret.clone(),
            self.config.hide_avps,
            self.config.hidden_padding_max,
        );
        let challenge = self
            .config
            .secret
            .as_ref()
            .filter(|_| self.config.challenge_peer)
            .map(|_| {
                let mut c = [0u8; 16];
                self.rng.fill_bytes(&mut c);
                c
            });
        let (version, revision) = self.config.protocol_version;
        let mut avps = vec![
            AvpValue::ProtocolVersion { version, revision },
            AvpValue::HostName(self.config.host_name.as_bytes()),
            AvpValue::FramingCapabilities(Framing(Framing::SYNC | Framing::ASYNC)),
            AvpValue::AssignedTunnelId(tid),
            AvpValue::ReceiveWindowSize(self.config.receive_window),
            AvpValue::FirmwareRevision(0x0100),
            AvpValue::VendorName(b"l2tpx-lac"),
        ];
        if let Some(b) = self.config.bearer_caps {
            avps.push(AvpValue::BearerCapabilities(Bearer(b)));
        }
        if let Some(tb) = self.config.tie_breaker {
            avps.push(AvpValue::TieBreaker(tb));
        }
        if let Some(c) = &challenge {
            avps.push(AvpValue::Challenge(c));
        }
        conn.send(
            &mut *self.rng,
            0,
            MessageType::Sccrq,
            &avps,
            &self.config.sccrq_extra,
        );
        self.tunnels.insert(
            tid,
            Tunnel {
                conn,
                state: State::WaitCtlReply,
                challenge,
                calls: IdMap::default(),
                last_hello: now,
                pending_up: VecDeque::new(),
            },
        );
        self.touch(tid);
        Some(tid)
    }

    /// Places an incoming call on a tunnel (ICRQ now if the tunnel is up,
    /// else when it comes up).
    pub fn place_call(
        &mut self,
        now: Instant,
        tid: u16,
        params: CallParams,
    ) -> Result<SessionKey, EngineError> {
        let _ = now;
        let t = self.tunnels.get(&tid).ok_or(EngineError::NoSuchTunnel)?;
        if matches!(t.state, State::Closing { .. }) {
            return Err(EngineError::NoSuchTunnel);
        }
        let sid = self
            .ids
            .alloc_session(now, tid)
            .ok_or(EngineError::NoResources)?;
        self.serial = self.serial.wrapping_add(1);
        let t = self.tunnels.get_mut(&tid).expect("checked");
        t.calls.insert(
            sid,
            Call {
                state: CallState::WaitTunnel,
                peer_sid: 0,
                serial: self.serial,
                params,
                direction: CallDirection::Incoming,
            },
        );
        if t.state == State::Established {
            Self::send_icrq(&mut *self.rng, t, sid);
        }
        self.touch(tid);
        Ok(SessionKey {
            tunnel_id: tid,
            session_id: sid,
        })
    }

    fn send_icrq(rng: &mut dyn RandomSource, t: &mut Tunnel, sid: u16) {
        let Some(c) = t.calls.get_mut(&sid) else {
            return;
        };
        c.state = CallState::WaitReply;
        let mut avps = vec![
            AvpValue::AssignedSessionId(sid),
            AvpValue::CallSerialNumber(c.serial),
            AvpValue::BearerType(Bearer(Bearer::DIGITAL)),
        ];
        if let Some(n) = &c.params.calling_number {
            avps.push(AvpValue::CallingNumber(n));
        }
        if let Some(n) = &c.params.called_number {
            avps.push(AvpValue::CalledNumber(n));
        }
        t.conn
            .send(rng, 0, MessageType::Icrq, &avps, &c.params.icrq_extra);
    }

    /// Clears a call with a CDN.
    pub fn close_call(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
        error: Option<u16>,
    ) -> Result<(), EngineError> {
        let _ = now;
        let t = self
            .tunnels
            .get_mut(&key.tunnel_id)
            .ok_or(EngineError::NoSuchTunnel)?;
        let c = t
            .calls
            .remove(&key.session_id)
            .ok_or(EngineError::NoSuchSession)?;
        self.ids.free_session(now, key.tunnel_id, key.session_id);
        t.conn.send(
            &mut *self.rng,
            c.peer_sid,
            MessageType::Cdn,
            &[
                AvpValue::ResultCode {
                    result,
                    error,
                    message: &[],
                },
                AvpValue::AssignedSessionId(key.session_id),
            ],
            &[],
        );
        self.events.push_back(Event::SessionDown {
            key,
            peer_session_id: c.peer_sid,
            cause: DisconnectCause::local(result, error, ""),
            was_up: c.state == CallState::Established,
        });
        self.touch(key.tunnel_id);
        Ok(())
    }

    /// Sends a WAN-Error-Notify for a call.
    pub fn send_wen(&mut self, key: SessionKey, errors: CallErrors) -> Result<(), EngineError> {
        let t = self
            .tunnels
            .get_mut(&key.tunnel_id)
            .ok_or(EngineError::NoSuchTunnel)?;
        let c = t
            .calls
            .get(&key.session_id)
            .ok_or(EngineError::NoSuchSession)?;
        let peer_sid = c.peer_sid;
        t.conn.send(
            &mut *self.rng,
            peer_sid,
            MessageType::Wen,
            &[AvpValue::CallErrors(errors)],
            &[],
        );
        self.touch(key.tunnel_id);
        Ok(())
    }

    /// Sends a HELLO now (tests and the bench: probe the LNS's control
    /// channel without waiting for the hello interval).
    pub fn send_hello(&mut self, now: Instant, tid: u16) -> Result<(), EngineError> {
        let t = self
            .tunnels
            .get_mut(&tid)
            .ok_or(EngineError::NoSuchTunnel)?;
        if t.state != State::Established {
            return Err(EngineError::NotEstablished);
        }
        t.last_hello = now;
        t.conn.send(&mut *self.rng, 0, MessageType::Hello, &[], &[]);
        self.touch(tid);
        Ok(())
    }

    /// Control messages of tunnel `tid` sent or queued and not yet
    /// acknowledged by the LNS.
    pub fn unacknowledged(&self, tid: u16) -> Option<usize> {
        self.tunnels
            .get(&tid)
            .map(|t| t.conn.rel.in_flight() + t.conn.rel.queued())
    }

    /// Clears a tunnel with a StopCCN.
    pub fn close_tunnel(&mut self, now: Instant, tid: u16, result: u16) -> Result<(), EngineError> {
        if !self.tunnels.contains_key(&tid) {
            return Err(EngineError::NoSuchTunnel);
        }
        self.stop(now, tid, result, None, "");
        self.touch(tid);
        Ok(())
    }

    /// Processes one datagram from `peer`.
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        self.last_now = Some(self.last_now.map_or(now, |l| l.max(now)));
        let Ok(m) = ControlMessageRepr::parse_bytes(datagram) else {
            return;
        };
        let tid = m.tunnel_id;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if t.conn.peer != peer {
            return;
        }
        for msg in t.conn.receive(now, &m) {
            self.process(now, tid, msg);
        }
        self.touch(tid);
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |l| l.max(now)));
        // Collect first: a tunnel may reschedule itself at or before `now`
        // (an ACK owed right away), which must wait for `poll_transmit`.
        let mut due = Vec::new();
        while let Some(tid) = self.sched.pop_expired(now) {
            due.push(tid);
        }
        for tid in due {
            self.timeout(now, tid);
            self.touch(tid);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        self.last_now = Some(self.last_now.map_or(now, |l| l.max(now)));
        let (tid, peer, n) = self
            .sched
            .poll_ready(&mut self.tunnels, |t| &mut t.conn, now, buf)?;
        if let Some(t) = self.tunnels.get_mut(&tid) {
            let sent = t.conn.rel.next_ns();
            while let Some((ns, _)) = t.pending_up.front() {
                if !seq_lt(*ns, sent) {
                    break;
                }
                if let Some((_, info)) = t.pending_up.pop_front() {
                    // A call cleared meanwhile (CDN) is not reported.
                    let live = t.calls.get(&info.key.session_id).is_some_and(|c| {
                        c.state == CallState::Established && c.peer_sid == info.peer_session_id
                    });
                    if live {
                        self.events.push_back(Event::SessionUp(info));
                    }
                }
            }
        }
        self.reschedule(tid);
        Some((peer, n))
    }

    /// When to call [`Lac::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sched.next()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn process(&mut self, now: Instant, tid: u16, m: Msg) {
        use MessageType as M;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if matches!(t.state, State::Closing { .. }) {
            return;
        }
        let a = Avps::decode(&m.avps, t.conn.secret.as_deref());
        let Some(mt) = a.msg_type else { return };
        match (t.state, mt) {
            (_, M::StopCcn) => {
                t.conn.rel.clear_queue();
                let cause = peer_cause(&a);
                self.down(now, tid, cause, false);
            }
            (_, M::Hello) => {}
            (State::WaitCtlReply, M::Sccrp) => {
                t.conn.peer_tid = a.assigned_tunnel_id.unwrap_or(0);
                if let Some(ch) = t.challenge {
                    let want = challenge_response(2, t.conn.secret.as_deref().unwrap_or(&[]), &ch);
                    if a.challenge_response != Some(want) {
                        return self.stop(now, tid, 4, None, "bad challenge response");
                    }
                }
                let response = match (&a.challenge, t.conn.secret.as_deref()) {
                    (None, _) => None,
                    (Some(ch), Some(s)) => Some(challenge_response(3, s, ch)),
                    (Some(_), None) => return self.stop(now, tid, 4, None, "no secret"),
                };
                if let Some(w) = a.rws {
                    let _ = t.conn.rel.set_peer_rws(w);
                }
                let avps: Vec<AvpValue<'_>> =
                    response.iter().map(AvpValue::ChallengeResponse).collect();
                t.conn.send(&mut *self.rng, 0, M::Scccn, &avps, &[]);
                t.state = State::Established;
                self.events.push_back(Event::TunnelUp {
                    tunnel_id: tid,
                    peer_tunnel_id: t.conn.peer_tid,
                    peer: t.conn.peer,
                    host_name: a.host_name.unwrap_or_default(),
                });
                let mut waiting: Vec<u16> = t
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state == CallState::WaitTunnel)
                    .map(|(&s, _)| s)
                    .collect();
                waiting.sort_unstable();
                for sid in waiting {
                    Self::send_icrq(&mut *self.rng, t, sid);
                }
            }
            (State::Established, M::Icrp) => {
                let Some(c) = t.calls.get_mut(&m.session_id) else {
                    return;
                };
                if c.state != CallState::WaitReply {
                    return;
                }
                c.peer_sid = a.assigned_session_id.unwrap_or(0);
                c.state = CallState::Established;
                let p = &c.params;
                let speed = if p.tx_connect_speed == 0 {
                    10_000_000
                } else {
                    p.tx_connect_speed
                };
                let mut avps = Vec::new();
                if !p.omit_connect_speed {
                    avps.push(AvpValue::TxConnectSpeed(speed));
                }
                avps.push(AvpValue::FramingType(Framing(Framing::SYNC)));
                push_proxy(&mut avps, &p.proxy);
                if p.sequencing_required {
                    avps.push(AvpValue::SequencingRequired);
                }
                t.conn
                    .send(&mut *self.rng, c.peer_sid, M::Iccn, &avps, &p.iccn_extra);
                let info = call_info(&t.conn, tid, m.session_id, c);
                t.pending_up
                    .push_back((t.conn.rel.last_queued_ns(), Box::new(info)));
            }
            (State::Established, M::Ocrq) => {
                let peer_sid = a.assigned_session_id.unwrap_or(0);
                let Some(sid) = self.ids.alloc_session(now, tid) else {
                    return;
                };
                let c = Call {
                    state: CallState::Established,
                    peer_sid,
                    serial: a.call_serial.unwrap_or(0),
                    params: CallParams {
                        called_number: a.called_number.clone(),
                        ..CallParams::default()
                    },
                    direction: CallDirection::Outgoing,
                };
                t.conn.send(
                    &mut *self.rng,
                    peer_sid,
                    M::Ocrp,
                    &[
                        AvpValue::AssignedSessionId(sid),
                        AvpValue::PhysicalChannelId(7),
                    ],
                    &[],
                );
                t.conn.send(
                    &mut *self.rng,
                    peer_sid,
                    M::Occn,
                    &[
                        AvpValue::TxConnectSpeed(64_000),
                        AvpValue::FramingType(Framing(Framing::SYNC)),
                    ],
                    &[],
                );
                let info = call_info(&t.conn, tid, sid, &c);
                t.calls.insert(sid, c);
                t.pending_up
                    .push_back((t.conn.rel.last_queued_ns(), Box::new(info)));
            }
            (State::Established, M::Cdn) => {
                if let Some(c) = t.calls.remove(&m.session_id) {
                    self.ids.free_session(now, tid, m.session_id);
                    self.events.push_back(Event::SessionDown {
                        key: SessionKey {
                            tunnel_id: tid,
                            session_id: m.session_id,
                        },
                        peer_session_id: c.peer_sid,
                        cause: peer_cause(&a),
                        was_up: c.state == CallState::Established,
                    });
                }
            }
            (State::Established, M::Sli) => {
                if let Some((send_accm, receive_accm)) = a.accm {
                    self.events.push_back(Event::SetLinkInfo {
                        key: SessionKey {
                            tunnel_id: tid,
                            session_id: m.session_id,
                        },
                        send_accm,
                        receive_accm,
                    });
                }
            }
            _ => {}
        }
    }

    fn stop(&mut self, now: Instant, tid: u16, result: u16, error: Option<u16>, message: &str) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.conn.send(
            &mut *self.rng,
            0,
            MessageType::StopCcn,
            &[
                AvpValue::AssignedTunnelId(tid),
                AvpValue::ResultCode {
                    result,
                    error,
                    message: message.as_bytes(),
                },
            ],
            &[],
        );
        self.down(
            now,
            tid,
            DisconnectCause::local(result, error, message),
            true,
        );
    }

    fn down(&mut self, now: Instant, tid: u16, cause: DisconnectCause, sent_stop: bool) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if matches!(t.state, State::Closing { .. }) {
            return;
        }
        let was_up = t.state == State::Established;
        let mut calls: Vec<(u16, u16, CallState)> = t
            .calls
            .drain()
            .map(|(s, c)| (s, c.peer_sid, c.state))
            .collect();
        calls.sort_unstable_by_key(|c| c.0);
        for (sid, peer_sid, state) in calls {
            self.ids.free_session(now, tid, sid);
            self.events.push_back(Event::SessionDown {
                key: SessionKey {
                    tunnel_id: tid,
                    session_id: sid,
                },
                peer_session_id: peer_sid,
                cause: cause.clone(),
                was_up: state == CallState::Established,
            });
        }
        t.state = State::Closing {
            until: now + self.config.stop_linger,
            sent_stop,
        };
        self.events.push_back(Event::TunnelDown {
            tunnel_id: tid,
            peer: t.conn.peer,
            cause,
            was_up,
        });
    }

    fn finalize(&mut self, tid: u16) {
        if self.tunnels.remove(&tid).is_some() {
            if let Some(now) = self.last_now {
                self.ids.free_tunnel(now, tid);
            }
            self.sched.forget(tid);
        }
    }

    fn timeout(&mut self, now: Instant, tid: u16) {
        let hello = self.config.hello_interval;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.conn.rel.handle_timeout(now);
        if t.conn.rel.is_failed() {
            self.down(now, tid, DisconnectCause::transport(), false);
            return self.finalize(tid);
        }
        match t.state {
            State::Established if now >= t.conn.last_rx.max(t.last_hello) + hello => {
                t.last_hello = now;
                if t.conn.rel.in_flight() == 0 && t.conn.rel.queued() == 0 {
                    t.conn.send(&mut *self.rng, 0, MessageType::Hello, &[], &[]);
                }
            }
            State::Closing { until, sent_stop }
                if now >= until || (sent_stop && t.conn.rel.is_idle()) =>
            {
                self.finalize(tid);
            }
            _ => {}
        }
    }

    fn reschedule(&mut self, tid: u16) {
        let Some(t) = self.tunnels.get(&tid) else {
            return;
        };
        let state = match t.state {
            State::WaitCtlReply => None,
            State::Established => {
                Some(t.conn.last_rx.max(t.last_hello) + self.config.hello_interval)
            }
            State::Closing { until, sent_stop } => {
                if sent_stop && t.conn.rel.is_idle() {
                    return self.finalize(tid);
                }
                Some(until)
            }
        };
        let d = match (t.conn.rel.poll_timeout(), state) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.sched.schedule(tid, d);
    }

    fn touch(&mut self, tid: u16) {
        if self.tunnels.contains_key(&tid) {
            self.sched.mark_ready(tid);
            self.reschedule(tid);
        }
    }
}

fn push_proxy<'a>(avps: &mut Vec<AvpValue<'a>>, p: &'a ProxyAvps) {
    if let Some(v) = &p.initial_received_lcp_confreq {
        avps.push(AvpValue::InitialReceivedLcpConfreq(v));
    }
    if let Some(v) = &p.last_sent_lcp_confreq {
        avps.push(AvpValue::LastSentLcpConfreq(v));
    }
    if let Some(v) = &p.last_received_lcp_confreq {
        avps.push(AvpValue::LastReceivedLcpConfreq(v));
    }
    if let Some(v) = p.authen_type {
        avps.push(AvpValue::ProxyAuthenType(ProxyAuthenType::from(v)));
    }
    if let Some(v) = &p.authen_name {
        avps.push(AvpValue::ProxyAuthenName(v));
    }
    if let Some(v) = &p.authen_challenge {
        avps.push(AvpValue::ProxyAuthenChallenge(v));
    }
    if let Some(id) = p.authen_id {
        avps.push(AvpValue::ProxyAuthenId { reserved: 0, id });
    }
    if let Some(v) = &p.authen_response {
        avps.push(AvpValue::ProxyAuthenResponse(v));
    }
}

fn call_info(conn: &Conn, tid: u16, sid: u16, c: &Call) -> SessionInfo {
    let key = SessionKey {
        tunnel_id: tid,
        session_id: sid,
    };
    SessionInfo {
        sequencing_required: c.params.sequencing_required,
        proxy: c.params.proxy.clone(),
        calling_number: c.params.calling_number.clone(),
        called_number: c.params.called_number.clone(),
        ..SessionInfo::new(
            key,
            conn.peer_tid,
            c.peer_sid,
            conn.peer,
            c.direction,
            c.serial,
        )
    }
}

fn peer_cause(a: &Avps) -> DisconnectCause {
    let (result, error, message) = a.result.as_ref().map_or((0, None, String::new()), |r| {
        (
            r.result,
            r.error,
            String::from_utf8_lossy(&r.message).into_owned(),
        )
    });
    DisconnectCause {
        initiator: Initiator::Peer,
        result,
        error,
        message,
        q931: a.q931.clone(),
    }
}
