//! Engine tests: a LAC and the LNS joined by a simulated network with a fake
//! clock (no sleeps), golden message traces, loss, limits, and replay of a
//! real capture.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tpx_wire::l2tp::{AvpIter, ControlMessageRepr, MessageType};

use super::avps::Avps;
use super::*;

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

pub(crate) fn lac_addr() -> SocketAddr {
    "198.18.0.2:1701".parse().unwrap()
}

pub(crate) fn lns_addr() -> SocketAddr {
    "198.18.0.1:1701".parse().unwrap()
}

/// One packet on the simulated wire.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub from_lac: bool,
    pub bytes: Vec<u8>,
}

impl Wire {
    pub fn msg_type(&self) -> Option<MessageType> {
        ControlMessageRepr::parse_bytes(&self.bytes)
            .ok()
            .and_then(|m| m.message_type())
    }

    pub fn label(&self) -> String {
        let who = if self.from_lac { "LAC" } else { "LNS" };
        match self.msg_type() {
            Some(t) => format!("{who} {}", name(t)),
            None => format!("{who} ZLB"),
        }
    }

    pub fn avps(&self) -> Avps {
        let m = ControlMessageRepr::parse_bytes(&self.bytes).unwrap();
        Avps::decode(m.avps, None)
    }
}

pub(crate) fn name(t: MessageType) -> &'static str {
    use MessageType as M;
    match t {
        M::Sccrq => "SCCRQ",
        M::Sccrp => "SCCRP",
        M::Scccn => "SCCCN",
        M::StopCcn => "StopCCN",
        M::Hello => "HELLO",
        M::Ocrq => "OCRQ",
        M::Ocrp => "OCRP",
        M::Occn => "OCCN",
        M::Icrq => "ICRQ",
        M::Icrp => "ICRP",
        M::Iccn => "ICCN",
        M::Cdn => "CDN",
        M::Wen => "WEN",
        M::Sli => "SLI",
        M::Unknown(_) => "?",
    }
}

/// LAC + LNS over a lossy, delaying, duplicating, reordering network.
pub(crate) struct Pair {
    pub lac: Lac,
    pub lns: Engine,
    pub now: Instant,
    pub latency: Duration,
    /// Probability of dropping a packet.
    pub loss: f64,
    /// Probability of duplicating a packet.
    pub dup: f64,
    /// Extra random delay up to this (reordering).
    pub jitter: Duration,
    rng: SplitMix64,
    in_flight: BTreeMap<(Instant, u64), Wire>,
    seq: u64,
    pub trace: Vec<Wire>,
    pub lac_events: Vec<Event>,
    pub lns_events: Vec<Event>,
}

impl Pair {
    pub fn new(lns: Config, lac: LacConfig) -> Self {
        Self {
            lac: Lac::new(lac, Box::new(SplitMix64(7))),
            lns: Engine::new(lns, Box::new(SplitMix64(11))),
            now: base(),
            latency: Duration::from_millis(5),
            loss: 0.0,
            dup: 0.0,
            jitter: Duration::ZERO,
            rng: SplitMix64(3),
            in_flight: BTreeMap::new(),
            seq: 0,
            trace: Vec::new(),
            lac_events: Vec::new(),
            lns_events: Vec::new(),
        }
    }

    pub fn default_pair() -> Self {
        Self::new(Config::default(), LacConfig::default())
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn send(&mut self, w: Wire) {
        self.trace.push(w.clone());
        if self.chance(self.loss) {
            return;
        }
        let copies = if self.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let extra = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.rng.next_u64() % self.jitter.as_nanos() as u64)
            };
            self.seq += 1;
            self.in_flight
                .insert((self.now + self.latency + extra, self.seq), w.clone());
        }
    }

    fn flush(&mut self) {
        let mut buf = [0u8; 4096];
        while let Some((to, n)) = self.lac.poll_transmit(self.now, &mut buf) {
            assert_eq!(to, lns_addr());
            self.send(Wire {
                from_lac: true,
                bytes: buf[..n].to_vec(),
            });
        }
        while let Some((to, n)) = self.lns.poll_transmit(self.now, &mut buf) {
            assert_eq!(to, lac_addr());
            self.send(Wire {
                from_lac: false,
                bytes: buf[..n].to_vec(),
            });
        }
        while let Some(e) = self.lac.poll_event() {
            self.lac_events.push(e);
        }
        while let Some(e) = self.lns.poll_event() {
            self.lns_events.push(e);
        }
    }

    /// One step: send what is ready, jump the clock to the next delivery or
    /// timer, deliver and run timers. False when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next = [
            self.in_flight.keys().next().map(|k| k.0),
            self.lac.poll_timeout(),
            self.lns.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let w = entry.remove();
            if w.from_lac {
                self.lns.handle(self.now, lac_addr(), &w.bytes);
            } else {
                self.lac.handle(self.now, lns_addr(), &w.bytes);
            }
        }
        self.lac.handle_timeout(self.now);
        self.lns.handle_timeout(self.now);
        self.flush();
        true
    }

    /// Steps until `d` of simulated time has passed.
    pub fn drive(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..20_000 {
            self.flush();
            let next = [
                self.in_flight.keys().next().map(|k| k.0),
                self.lac.poll_timeout(),
                self.lns.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            if next.is_none_or(|n| n > end) {
                self.flush();
                self.now = end;
                return;
            }
            self.step();
        }
        panic!("drive did not settle");
    }

    /// Labels of the non-ZLB messages on the wire, in send order.
    pub fn labels(&self) -> Vec<String> {
        self.trace
            .iter()
            .filter(|w| w.msg_type().is_some())
            .map(Wire::label)
            .collect()
    }

    pub fn lns_session_ups(&self) -> Vec<&SessionInfo> {
        self.lns_events
            .iter()
            .filter_map(|e| match e {
                Event::SessionUp(i) => Some(&**i),
                _ => None,
            })
            .collect()
    }

    pub fn lns_tunnel_id(&self) -> u16 {
        self.lns_events
            .iter()
            .find_map(|e| match e {
                Event::TunnelUp { tunnel_id, .. } => Some(*tunnel_id),
                _ => None,
            })
            .expect("tunnel up")
    }

    /// Opens a tunnel, waits for it.
    pub fn open(&mut self) -> u16 {
        let t = self.lac.open_tunnel(self.now, lns_addr()).unwrap();
        self.drive(Duration::from_secs(2));
        t
    }
}

fn lbl(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn down_cause(events: &[Event]) -> Vec<(bool, u16, Option<u16>, Initiator)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionDown { cause, .. } => {
                Some((true, cause.result, cause.error, cause.initiator))
            }
            Event::TunnelDown { cause, .. } => {
                Some((false, cause.result, cause.error, cause.initiator))
            }
            _ => None,
        })
        .collect()
}

fn proxy() -> ProxyAvps {
    ProxyAvps {
        initial_received_lcp_confreq: Some(vec![1, 4, 5, 0xdc]),
        last_sent_lcp_confreq: Some(vec![1, 4, 5, 0xd4, 3, 4, 0xc0, 0x23]),
        last_received_lcp_confreq: Some(vec![1, 4, 5, 0xdc]),
        authen_type: Some(3),
        authen_name: Some(b"user@isp".to_vec()),
        authen_challenge: None,
        authen_id: Some(1),
        authen_response: Some(b"secret".to_vec()),
    }
}

#[test]
fn happy_path_tunnel_and_session() {
    let mut p = Pair::default_pair();
    let lac_tid = p.open();
    assert!(p.lac.is_established(lac_tid));
    let key = p
        .lac
        .place_call(
            p.now,
            lac_tid,
            CallParams {
                calling_number: Some(b"0123".to_vec()),
                called_number: Some(b"999".to_vec()),
                proxy: proxy(),
                sequencing_required: true,
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(
        p.labels(),
        lbl(&[
            "LAC SCCRQ",
            "LNS SCCRP",
            "LAC SCCCN",
            "LAC ICRQ",
            "LNS ICRP",
            "LAC ICCN"
        ])
    );
    let ups = p.lns_session_ups();
    assert_eq!(ups.len(), 1);
    let up = ups[0];
    assert_eq!(up.peer_session_id, key.session_id);
    assert_eq!(up.peer_tunnel_id, lac_tid);
    assert_eq!(up.peer, lac_addr());
    assert_eq!(up.proxy, proxy());
    assert!(up.sequencing_required);
    assert_eq!(up.calling_number.as_deref(), Some(&b"0123"[..]));
    assert_eq!(up.called_number.as_deref(), Some(&b"999"[..]));
    assert_eq!(up.tx_connect_speed, Some(10_000_000));
    assert_eq!(up.direction, CallDirection::Incoming);
    assert_eq!(up.key.tunnel_id, p.lns_tunnel_id());
    assert_ne!(up.key.session_id, 0);
    // The LAC learnt our IDs.
    let lac_up = p
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::SessionUp(i) => Some(i.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(lac_up.peer_session_id, up.key.session_id);
    assert_eq!(lac_up.peer_tunnel_id, up.key.tunnel_id);
    assert_eq!(p.lns.session_count(), 1);
    // Everything acknowledged: the last packet is a ZLB.
    assert!(p.trace.last().unwrap().msg_type().is_none());
    // The sink sees the session.
    struct Count(usize);
    impl SessionSink for Count {
        fn on_session_up(&mut self, _: &SessionInfo) {
            self.0 += 1;
        }
        fn on_session_down(&mut self, _: SessionKey, _: &DisconnectCause) {}
    }
    let mut c = Count(0);
    for e in &p.lns_events {
        e.dispatch(&mut c);
        e.dispatch(&mut NullSink);
    }
    assert_eq!(c.0, 1);
}

fn up_session(p: &mut Pair) -> (u16, SessionKey, SessionKey) {
    let t = p.open();
    let lac_key = p.lac.place_call(p.now, t, CallParams::default()).unwrap();
    p.drive(Duration::from_secs(2));
    let lns_key = p.lns_session_ups().last().expect("session up").key;
    (t, lac_key, lns_key)
}

#[test]
fn lac_cdn_clears_session() {
    let mut p = Pair::default_pair();
    let (_, lac_key, lns_key) = up_session(&mut p);
    p.lac.close_call(p.now, lac_key, 3, None).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 0);
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, cause, was_up: true, .. }
            if *key == lns_key && cause.result == 3 && cause.initiator == Initiator::Peer)));
    assert_eq!(p.labels().last().unwrap(), "LAC CDN");
}

#[test]
fn lns_cdn_clears_session() {
    let mut p = Pair::default_pair();
    let (_, lac_key, lns_key) = up_session(&mut p);
    p.lns
        .close_session(p.now, lns_key, 3, None, "admin")
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 0);
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, cause, .. } if *key == lac_key && cause.result == 3)));
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::SessionDown { cause, .. } if cause.initiator == Initiator::Local)));
    assert_eq!(p.labels().last().unwrap(), "LNS CDN");
    assert_eq!(
        p.lns.close_session(p.now, lns_key, 3, None, ""),
        Err(EngineError::NoSuchSession)
    );
}

#[test]
fn lac_stopccn_clears_tunnel_and_lingers() {
    let mut p = Pair::default_pair();
    let (t, _, _) = up_session(&mut p);
    p.lac.close_tunnel(p.now, t, 1).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(
        down_cause(&p.lns_events),
        vec![
            (true, 1, None, Initiator::Peer),
            (false, 1, None, Initiator::Peer)
        ]
    );
    assert_eq!(p.lns.session_count(), 0);
    assert_eq!(p.lns.active_tunnel_count(), 0);
    assert_eq!(p.lns.tunnel_count(), 1, "lingers to ack retransmissions");
    // The ZLB for the StopCCN went out.
    assert!(p.trace.last().unwrap().msg_type().is_none());
    assert!(!p.trace.last().unwrap().from_lac);
    p.drive(Duration::from_secs(40));
    assert_eq!(p.lns.tunnel_count(), 0);
    assert_eq!(p.lac.tunnel_count(), 0, "LAC freed after the ack");
}

#[test]
fn lns_stopccn_clears_tunnel() {
    let mut p = Pair::default_pair();
    let (t, lac_key, _) = up_session(&mut p);
    let lns_tid = p.lns_tunnel_id();
    p.lns.close_tunnel(p.now, lns_tid, 1, None, "bye").unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.tunnel_count(), 0, "freed once the StopCCN is acked");
    assert!(!p.lac.is_established(t));
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, .. } if *key == lac_key)));
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, .. } if cause.result == 1 && cause.message == "bye")));
}

#[test]
fn shutdown_stops_every_tunnel() {
    let mut p = Pair::default_pair();
    up_session(&mut p);
    p.lac.open_tunnel(p.now, lns_addr()).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.active_tunnel_count(), 2);
    p.lns.shutdown(p.now);
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.tunnel_count(), 0);
    let stops = p.labels().iter().filter(|l| *l == "LNS StopCCN").count();
    assert_eq!(stops, 2);
    // New tunnels are refused.
    p.lac.open_tunnel(p.now, lns_addr()).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.tunnel_count(), 0);
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, was_up: false, .. } if cause.result == 6)));
}

/// A control-plane restart: a new engine resumes the tunnel and session
/// from what was journalled, with no Ns/Nr. It stays silent; the LAC's
/// HELLO (its Ns/Nr far from 0 by now) resynchronises it and is
/// acknowledged; our own HELLOs follow in sequence; the LAC's CDN then
/// clears the session.
#[test]
fn resumed_engine_resyncs_from_the_peer_and_carries_on() {
    let mut p = Pair::default_pair();
    let (t, lac_key, lns_key) = up_session(&mut p);
    // Some traffic so that both sequence spaces have moved.
    for _ in 0..5 {
        p.lac.send_hello(p.now, t).unwrap();
        p.drive(Duration::from_secs(1));
    }
    let info = p.lns_session_ups()[0].clone();
    let (peer_tid, peer) = (info.peer_tunnel_id, info.peer);
    let rws = p.lns.peer_rws(lns_key.tunnel_id).unwrap();
    // Restart: a fresh engine (new RNG), resumed.
    p.lns = Engine::new(Config::default(), Box::new(SplitMix64(99)));
    p.lns_events.clear();
    let n = p.now;
    p.lns
        .resume_tunnel(n, lns_key.tunnel_id, peer_tid, peer, rws, b"lac".to_vec())
        .unwrap();
    p.lns
        .resume_session(n, lns_key, info.peer_session_id)
        .unwrap();
    assert_eq!(
        p.lns.resume_session(n, lns_key, info.peer_session_id),
        Err(EngineError::NoResources),
        "an ID cannot be resumed twice"
    );
    assert_eq!((p.lns.active_tunnel_count(), p.lns.session_count()), (1, 1));
    let before = p.trace.len();
    p.drive(Duration::from_secs(5));
    assert!(
        p.trace[before..].iter().all(|w| w.from_lac),
        "nothing sent before the peer speaks"
    );
    p.lac.send_hello(p.now, t).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(
        p.lac.unacknowledged(t),
        Some(0),
        "the LAC's HELLO is acknowledged"
    );
    assert!(p.lac.is_established(t));
    // Our own HELLO after the interval, in sequence: the LAC delivers it
    // (no duplicate or out-of-window drop would be acknowledged silently).
    let before = p.trace.len();
    p.drive(Duration::from_secs(65));
    assert!(p.trace[before..]
        .iter()
        .any(|w| !w.from_lac && w.label() == "LNS HELLO"));
    assert!(p.lns.stats().hellos_sent >= 1);
    assert!(p.lac.is_established(t) && p.lns.active_tunnel_count() == 1);
    assert!(p
        .lac_events
        .iter()
        .all(|e| !matches!(e, Event::TunnelDown { .. })));
    // The LAC hangs up: the resumed session is cleared like any other.
    p.lac.close_call(p.now, lac_key, 3, None).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 0);
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, cause, was_up: true, .. }
            if *key == lns_key && cause.result == 3 && cause.initiator == Initiator::Peer)));
    assert_eq!(p.lac.unacknowledged(t), Some(0), "the CDN is acknowledged");
}

#[test]
fn hello_after_idle_interval() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            hello_interval: Duration::from_secs(1000),
            ..LacConfig::default()
        },
    );
    up_session(&mut p);
    p.drive(Duration::from_secs(125));
    assert_eq!(p.lns.stats().hellos_sent, 2);
    assert_eq!(p.labels().iter().filter(|l| *l == "LNS HELLO").count(), 2);
    assert_eq!(p.lns.session_count(), 1, "still up");
    assert_eq!(p.lns.active_tunnel_count(), 1);
}

#[test]
fn dead_peer_detected_and_cleaned_up() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            hello_interval: Duration::from_secs(1000),
            ..LacConfig::default()
        },
    );
    up_session(&mut p);
    p.loss = 1.0;
    // 60 s to the HELLO, then 1+2+4+8+8+8 s of retransmissions.
    p.drive(Duration::from_secs(60 + 32));
    assert_eq!(p.lns.tunnel_count(), 0);
    assert_eq!(p.lns.session_count(), 0);
    assert_eq!(p.lns.stats().dead_peers, 1);
    assert_eq!(
        down_cause(&p.lns_events),
        vec![
            (true, 2, Some(0), Initiator::Transport),
            (false, 2, Some(0), Initiator::Transport)
        ]
    );
    assert!(p.lns.poll_timeout().is_none_or(|t| t >= p.now));
}

fn secret_cfg(secret: &[u8], hide: bool) -> Config {
    let mut c = Config::default();
    c.secrets.default = Some(secret.to_vec());
    c.hide_avps = hide;
    c
}

fn lac_secret(secret: &[u8], hide: bool) -> LacConfig {
    LacConfig {
        secret: Some(secret.to_vec()),
        hide_avps: hide,
        ..LacConfig::default()
    }
}

fn has_hidden_avp(w: &Wire) -> bool {
    let m = ControlMessageRepr::parse_bytes(&w.bytes).unwrap();
    AvpIter::new(m.avps).flatten().any(|a| a.hidden)
}

#[test]
fn tunnel_auth_ok() {
    let mut p = Pair::new(secret_cfg(b"s3cret", false), lac_secret(b"s3cret", false));
    let (_, _, _) = up_session(&mut p);
    let sccrp = p.trace.iter().find(|w| w.label() == "LNS SCCRP").unwrap();
    let a = sccrp.avps();
    assert!(a.challenge.is_some() && a.challenge_response.is_some());
    assert!(p
        .trace
        .iter()
        .find(|w| w.label() == "LAC SCCCN")
        .unwrap()
        .avps()
        .challenge_response
        .is_some());
    assert_eq!(p.lns.stats().auth_failures, 0);
}

#[test]
fn tunnel_auth_fail_detected_by_lns() {
    let mut p = Pair::new(
        secret_cfg(b"right", false),
        LacConfig {
            challenge_peer: false,
            ..lac_secret(b"wrong", false)
        },
    );
    p.open();
    assert_eq!(
        p.labels(),
        lbl(&["LAC SCCRQ", "LNS SCCRP", "LAC SCCCN", "LNS StopCCN"])
    );
    assert_eq!(p.lns.stats().auth_failures, 1);
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, was_up: true, .. } if cause.result == 4)));
    assert!(!p
        .lns_events
        .iter()
        .any(|e| matches!(e, Event::TunnelUp { .. })));
    assert_eq!(p.lns.half_open_count(), 0);
}

#[test]
fn tunnel_auth_fail_detected_by_lac() {
    let mut p = Pair::new(secret_cfg(b"right", false), lac_secret(b"wrong", false));
    p.open();
    assert_eq!(p.labels(), lbl(&["LAC SCCRQ", "LNS SCCRP", "LAC StopCCN"]));
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, was_up: false, .. } if cause.result == 4)));
    p.drive(Duration::from_secs(40));
    assert_eq!(p.lns.tunnel_count(), 0);
}

#[test]
fn challenge_without_secret_refused() {
    let mut p = Pair::new(Config::default(), lac_secret(b"x", false));
    p.open();
    assert_eq!(p.labels(), lbl(&["LAC SCCRQ", "LNS StopCCN"]));
    assert_eq!(p.lns.tunnel_count(), 0, "no state kept");
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, .. } if cause.result == 4)));
}

#[test]
fn per_peer_secret_wins_over_default() {
    let mut c = secret_cfg(b"default", false);
    c.secrets.per_peer.insert(lac_addr().ip(), b"peer".to_vec());
    let mut p = Pair::new(c, lac_secret(b"peer", false));
    up_session(&mut p);
    assert_eq!(p.lns.session_count(), 1);
}

#[test]
fn hidden_avps_both_ways() {
    let mut p = Pair::new(secret_cfg(b"hide-me", true), lac_secret(b"hide-me", true));
    let t = p.open();
    p.lac
        .place_call(
            p.now,
            t,
            CallParams {
                proxy: proxy(),
                calling_number: Some(b"555".to_vec()),
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    for l in ["LAC SCCRQ", "LNS SCCRP", "LAC ICRQ", "LNS ICRP", "LAC ICCN"] {
        let w = p.trace.iter().find(|w| w.label() == l).unwrap();
        assert!(has_hidden_avp(w), "{l} hides something");
    }
    let up = p.lns_session_ups()[0].clone();
    assert_eq!(up.proxy, proxy(), "revealed");
    assert_eq!(up.calling_number.as_deref(), Some(&b"555"[..]));
}

#[test]
fn hidden_mandatory_avp_without_secret_fails_cleanly() {
    // The LAC hides AVPs (its Assigned Tunnel ID among them); the LNS has no
    // secret so it cannot reveal the mandatory ones.
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            challenge_peer: false,
            ..lac_secret(b"k", true)
        },
    );
    p.open();
    // The LNS cannot read the hidden Assigned Tunnel ID, so its StopCCN goes
    // to tunnel 0 and the LAC retransmits; each copy gets the same StopCCN
    // from the refused-SCCRQ record.
    let labels = p.labels();
    assert_eq!(labels[..2], lbl(&["LAC SCCRQ", "LNS StopCCN"]));
    assert!(labels
        .iter()
        .all(|l| l == "LAC SCCRQ" || l == "LNS StopCCN"));
    assert_eq!(p.lns.tunnel_count(), 0);
    assert!(p.trace.iter().filter(|w| !w.from_lac).all(|w| {
        let a = w.avps();
        a.result
            .as_ref()
            .is_some_and(|r| r.result == 2 && r.error == Some(3))
    }));
}

#[test]
fn retransmitted_sccrq_is_idempotent() {
    let now = base();
    let mut lac = Lac::new(LacConfig::default(), Box::new(SplitMix64(1)));
    let mut lns = Engine::new(Config::default(), Box::new(SplitMix64(2)));
    lac.open_tunnel(now, lns_addr()).unwrap();
    let mut buf = [0u8; 4096];
    let (_, n) = lac.poll_transmit(now, &mut buf).unwrap();
    let sccrq = buf[..n].to_vec();
    lns.handle(now, lac_addr(), &sccrq);
    let (_, n) = lns.poll_transmit(now, &mut buf).unwrap();
    let sccrp1 = buf[..n].to_vec();
    // The SCCRP is "lost"; the LAC retransmits its SCCRQ.
    let later = now + Duration::from_secs(1);
    lns.handle(later, lac_addr(), &sccrq);
    assert_eq!(lns.tunnel_count(), 1);
    assert_eq!(lns.half_open_count(), 1);
    // No second SCCRP now: a duplicate is only acknowledged (the SCCRP's
    // own timer retransmits it, same Ns and tunnel).
    let mut out = Vec::new();
    let mut t = later;
    for _ in 0..4 {
        lns.handle_timeout(t);
        while let Some((_, n)) = lns.poll_transmit(t, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        t += Duration::from_millis(500);
    }
    let sccrps: Vec<_> = out
        .iter()
        .filter(|d| {
            ControlMessageRepr::parse_bytes(d).unwrap().message_type() == Some(MessageType::Sccrp)
        })
        .collect();
    assert!(!sccrps.is_empty());
    for d in sccrps {
        assert_eq!(&d[12..], &sccrp1[12..], "same SCCRP body");
        assert_eq!(d[8..10], sccrp1[8..10], "same Ns");
    }
    assert_eq!(lns.tunnel_count(), 1);
    // A second SCCRQ with another Assigned Tunnel ID is another tunnel.
    let mut lac2 = Lac::new(LacConfig::default(), Box::new(SplitMix64(99)));
    lac2.open_tunnel(now, lns_addr()).unwrap();
    let (_, n) = lac2.poll_transmit(now, &mut buf).unwrap();
    lns.handle(now, lac_addr(), &buf[..n]);
    assert_eq!(lns.tunnel_count(), 2);
}

#[test]
fn retransmission_under_loss_of_first_sccrp() {
    let mut p = Pair::default_pair();
    p.loss = 1.0;
    p.lac.open_tunnel(p.now, lns_addr()).unwrap();
    p.drive(Duration::from_millis(1)); // SCCRQ lost
    p.loss = 0.0;
    p.drive(Duration::from_secs(5));
    assert_eq!(p.lns.active_tunnel_count(), 1);
    assert!(p
        .lns_events
        .iter()
        .any(|e| matches!(e, Event::TunnelUp { .. })));
}

#[test]
fn session_ids_follow_banks() {
    // One bank: every tunnel shares the session space.
    let c = Config {
        bank_bits: 0,
        ..Config::default()
    };
    let mut p = Pair::new(c, LacConfig::default());
    let t1 = p.open();
    let t2 = p.open();
    for t in [t1, t2, t1, t2] {
        p.lac.place_call(p.now, t, CallParams::default()).unwrap();
    }
    p.drive(Duration::from_secs(3));
    let ups = p.lns_session_ups();
    assert_eq!(ups.len(), 4);
    let mut slots: Vec<u32> = ups.iter().map(|u| p.lns.slot_index(u.key)).collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), 4, "distinct slots across tunnels of one bank");
    for u in &ups {
        assert_ne!(u.key.session_id, 0);
        assert_eq!(p.lns.slot_index(u.key), u32::from(u.key.session_id));
    }
}

#[test]
fn tunnel_limit_refused_with_stopccn() {
    let mut c = Config::default();
    c.limits.max_tunnels = 1;
    let mut p = Pair::new(c, LacConfig::default());
    p.open();
    p.open();
    assert_eq!(p.lns.active_tunnel_count(), 1);
    assert_eq!(p.lns.stats().tunnels_refused, 1);
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::TunnelDown { cause, was_up: false, .. } if cause.result == 2 && cause.error == Some(4))));
}

#[test]
fn session_limits_refused_with_cdn_4() {
    let mut c = Config::default();
    c.limits.max_sessions_per_tunnel = 2;
    c.limits.max_sessions = 3;
    let mut p = Pair::new(c, LacConfig::default());
    let t1 = p.open();
    for _ in 0..3 {
        p.lac.place_call(p.now, t1, CallParams::default()).unwrap();
    }
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 2);
    let t2 = p.open();
    for _ in 0..2 {
        p.lac.place_call(p.now, t2, CallParams::default()).unwrap();
    }
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 3);
    assert_eq!(p.lns.stats().sessions_refused, 2);
    let refusals = p
        .trace
        .iter()
        .filter(|w| w.label() == "LNS CDN")
        .map(|w| w.avps().result.unwrap().result)
        .collect::<Vec<_>>();
    assert_eq!(refusals, vec![4, 4]);
    assert_eq!(
        p.lac_events
            .iter()
            .filter(|e| matches!(e, Event::SessionDown { was_up: false, .. }))
            .count(),
        2
    );
}

#[test]
fn half_open_flood_is_bounded_and_expires() {
    let mut c = Config::default();
    c.limits.max_half_open = 10;
    c.limits.max_half_open_per_peer = 4;
    let mut lns = Engine::new(c, Box::new(SplitMix64(5)));
    let now = base();
    let mut buf = [0u8; 4096];
    for i in 0..50u16 {
        let peer: SocketAddr = format!("198.18.1.{}:1701", i % 5).parse().unwrap();
        let mut lac = Lac::new(
            LacConfig::default(),
            Box::new(SplitMix64(u64::from(i) + 100)),
        );
        lac.open_tunnel(now, lns_addr()).unwrap();
        let (_, n) = lac.poll_transmit(now, &mut buf).unwrap();
        lns.handle(now, peer, &buf[..n]);
    }
    assert_eq!(lns.half_open_count(), 10);
    assert_eq!(lns.stats().half_open_dropped, 40);
    while lns.poll_transmit(now, &mut buf).is_some() {}
    // Nobody answers: they expire (or the reliable layer gives up first).
    let mut t = now;
    for _ in 0..60 {
        t += Duration::from_secs(1);
        lns.handle_timeout(t);
        while lns.poll_transmit(t, &mut buf).is_some() {}
    }
    assert_eq!(lns.half_open_count(), 0);
    assert_eq!(lns.tunnel_count(), 0);
    assert_eq!(lns.stats().half_open_expired, 10);
}

#[test]
fn unknown_mandatory_avp_in_icrq_clears_the_session_only() {
    let mut p = Pair::default_pair();
    let t = p.open();
    p.lac
        .place_call(
            p.now,
            t,
            CallParams {
                icrq_extra: raw_avp(0, 99, true, b"x"),
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.labels()[3..], lbl(&["LAC ICRQ", "LNS CDN"]));
    let cdn = p
        .trace
        .iter()
        .find(|w| w.label() == "LNS CDN")
        .unwrap()
        .avps();
    let r = cdn.result.unwrap();
    assert_eq!((r.result, r.error), (2, Some(8)));
    assert_eq!(p.lns.active_tunnel_count(), 1, "tunnel survives");
    assert!(p.lac.is_established(t));
}

#[test]
fn unknown_mandatory_avp_in_iccn_clears_the_session() {
    let mut p = Pair::default_pair();
    let t = p.open();
    p.lac
        .place_call(
            p.now,
            t,
            CallParams {
                iccn_extra: raw_avp(9, 1, true, b"vendor"),
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.labels().last().unwrap(), "LNS CDN");
    assert!(p.lns_session_ups().is_empty());
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::SessionDown { cause, was_up: false, .. } if cause.error == Some(8))));
    assert_eq!(p.lns.session_count(), 0);
}

#[test]
fn unknown_optional_and_vendor_avps_are_ignored() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            sccrq_extra: [raw_avp(0, 77, false, b"?"), raw_avp(311, 5, false, b"ms")].concat(),
            ..LacConfig::default()
        },
    );
    let t = p.open();
    p.lac
        .place_call(
            p.now,
            t,
            CallParams {
                iccn_extra: raw_avp(4491, 3, false, b"cisco"),
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns_session_ups().len(), 1);
}

#[test]
fn unknown_mandatory_avp_in_sccrq_refuses_the_tunnel() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            sccrq_extra: raw_avp(0, 200, true, b""),
            ..LacConfig::default()
        },
    );
    p.open();
    assert_eq!(p.labels(), lbl(&["LAC SCCRQ", "LNS StopCCN"]));
    let r = p.trace[1].avps().result.unwrap();
    assert_eq!((r.result, r.error), (2, Some(8)));
    assert_eq!(p.lns.tunnel_count(), 0);
}

#[test]
fn missing_required_avp_in_iccn_gives_cdn_2_2() {
    let mut p = Pair::default_pair();
    let t = p.open();
    p.lac
        .place_call(
            p.now,
            t,
            CallParams {
                omit_connect_speed: true,
                ..CallParams::default()
            },
        )
        .unwrap();
    p.drive(Duration::from_secs(2));
    let cdn = p
        .trace
        .iter()
        .find(|w| w.label() == "LNS CDN")
        .unwrap()
        .avps();
    let r = cdn.result.unwrap();
    assert_eq!((r.result, r.error), (2, Some(2)));
    assert!(String::from_utf8_lossy(&r.message).contains("Connect Speed"));
}

#[test]
fn bad_protocol_version_refused_with_result_5() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            protocol_version: (2, 0),
            ..LacConfig::default()
        },
    );
    p.open();
    let r = p.trace[1].avps().result.unwrap();
    assert_eq!((r.result, r.error), (5, Some(0x0100)));
}

#[test]
fn tie_breaker_is_recorded() {
    let mut p = Pair::new(
        Config::default(),
        LacConfig {
            tie_breaker: Some(0x1122_3344_5566_7788),
            ..LacConfig::default()
        },
    );
    p.open();
    let tid = p.lns_tunnel_id();
    assert_eq!(p.lns.peer_tie_breaker(tid), Some(0x1122_3344_5566_7788));
}

#[test]
fn outgoing_call_wen_and_sli() {
    let mut p = Pair::default_pair();
    let t = p.open();
    let lns_tid = p.lns_tunnel_id();
    let key = p
        .lns
        .place_outgoing_call(p.now, lns_tid, b"5551234")
        .unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.labels()[3..], lbl(&["LNS OCRQ", "LAC OCRP", "LAC OCCN"]));
    let up = p.lns_session_ups()[0].clone();
    assert_eq!(up.key, key);
    assert_eq!(up.direction, CallDirection::Outgoing);
    assert_eq!(up.physical_channel_id, Some(7));
    assert_eq!(up.tx_connect_speed, Some(64_000));
    let lac_key = SessionKey {
        tunnel_id: t,
        session_id: up.peer_session_id,
    };
    let errors = l2tpx_wire::l2tp::CallErrors {
        crc_errors: 3,
        ..Default::default()
    };
    p.lac.send_wen(lac_key, errors).unwrap();
    p.lns.set_link_info(key, 0, 0xffff_ffff).unwrap();
    p.drive(Duration::from_secs(2));
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::WanErrorNotify { key: k, errors: e } if *k == key && e.crc_errors == 3)));
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SetLinkInfo { key: k, receive_accm: 0xffff_ffff, .. } if *k == lac_key)));
    // A LAC that advertised no Bearer Capabilities gets no OCRQ (§6.9).
    let mut q = Pair::new(
        Config::default(),
        LacConfig {
            bearer_caps: None,
            ..LacConfig::default()
        },
    );
    q.open();
    let tid = q.lns_tunnel_id();
    assert_eq!(
        q.lns.place_outgoing_call(q.now, tid, b"1"),
        Err(EngineError::NoBearerCapabilities)
    );
}

/// Golden traces, ZLBs included, for the normal path and teardown.
#[test]
fn golden_trace_with_zlbs() {
    let mut p = Pair::default_pair();
    let (_, lac_key, _) = up_session(&mut p);
    p.lac.close_call(p.now, lac_key, 1, None).unwrap();
    p.drive(Duration::from_secs(2));
    let t = lac_key.tunnel_id;
    p.lac.close_tunnel(p.now, t, 1).unwrap();
    p.drive(Duration::from_secs(40));
    let all: Vec<String> = p.trace.iter().map(Wire::label).collect();
    assert_eq!(
        all,
        lbl(&[
            "LAC SCCRQ",
            "LNS SCCRP",
            "LAC SCCCN",
            "LNS ZLB",
            "LAC ICRQ",
            "LNS ICRP",
            "LAC ICCN",
            "LNS ZLB",
            "LAC CDN",
            "LNS ZLB",
            "LAC StopCCN",
            "LNS ZLB",
        ])
    );
    assert_eq!(p.lns.tunnel_count(), 0);
    assert_eq!(p.lac.tunnel_count(), 0);
}

mod lossy {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Under loss, duplication and reordering every call ends up either
        /// established on both sides with matching IDs, or cleanly failed.
        #[test]
        fn sessions_establish_or_fail_cleanly(
            seed in any::<u64>(),
            loss in 0.0f64..0.3,
            dup in 0.0f64..0.3,
            jitter_ms in 0u64..400,
            calls in 1usize..6,
        ) {
            let mut p = Pair::default_pair();
            p.rng = SplitMix64(seed);
            p.loss = loss;
            p.dup = dup;
            p.jitter = Duration::from_millis(jitter_ms);
            let t = p.lac.open_tunnel(p.now, lns_addr()).unwrap();
            for _ in 0..calls {
                p.lac.place_call(p.now, t, CallParams::default()).unwrap();
            }
            p.drive(Duration::from_secs(120));
            p.loss = 0.0;
            p.dup = 0.0;
            p.drive(Duration::from_secs(200));

            // LNS: sessions up and not down, by key.
            let mut lns_up = std::collections::HashMap::new();
            for e in &p.lns_events {
                match e {
                    Event::SessionUp(i) => { lns_up.insert(i.key, i.peer_session_id); }
                    Event::SessionDown { key, .. } => { lns_up.remove(key); }
                    _ => {}
                }
            }
            let mut lac_up = std::collections::HashMap::new();
            let mut lac_outcome = 0;
            for e in &p.lac_events {
                match e {
                    Event::SessionUp(i) => { lac_up.insert(i.key.session_id, i.peer_session_id); lac_outcome += 1; }
                    Event::SessionDown { key, was_up, .. } => {
                        lac_up.remove(&key.session_id);
                        if !was_up { lac_outcome += 1; }
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(lac_outcome, calls, "every call has an outcome");
            prop_assert_eq!(lns_up.len(), p.lns.session_count());
            prop_assert_eq!(lns_up.len(), lac_up.len());
            for (k, peer_sid) in &lns_up {
                prop_assert_eq!(lac_up.get(peer_sid), Some(&k.session_id));
            }
            // Tunnel state agrees.
            prop_assert_eq!(p.lns.active_tunnel_count() == 1, p.lac.is_established(t));
        }
    }
}

/// Replays the LAC half of a real xl2tpd → l2tpns exchange and checks that
/// our answers carry the same message types and mandatory AVPs as
/// l2tpns's did.
#[test]
fn replay_xl2tpd_capture() {
    use pcap_file::pcap::PcapReader;
    let path = "/work/shared/captures/xl2tpd-lac_l2tpns-lns_control.pcap";
    let Ok(file) = std::fs::File::open(path) else {
        eprintln!("capture not found, skipping");
        return;
    };
    let mut reader = PcapReader::new(file).unwrap();
    let lac_ip = [198, 18, 0, 2];
    let mut frames = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let d = pkt.data.to_vec();
        if d.len() < 42 || d[12..14] != [0x08, 0x00] || d[23] != 17 {
            continue;
        }
        let from_lac = d[26..30] == lac_ip;
        frames.push((pkt.timestamp, from_lac, d[42..].to_vec()));
    }
    // What l2tpns answered: non-ZLB control messages.
    let theirs: Vec<(MessageType, Avps)> = frames
        .iter()
        .filter(|f| !f.1)
        .filter_map(|f| {
            let m = ControlMessageRepr::parse_bytes(&f.2).ok()?;
            let t = m.message_type()?;
            Some((t, Avps::decode(m.avps, None)))
        })
        .collect();
    let their_tid = theirs[0].1.assigned_tunnel_id.unwrap();
    let their_sid = theirs
        .iter()
        .find(|m| m.0 == MessageType::Icrp)
        .unwrap()
        .1
        .assigned_session_id
        .unwrap();

    let mut lns = Engine::new(Config::default(), Box::new(SplitMix64(1)));
    let t0 = base();
    let first = frames[0].0;
    let mut ours: Vec<(MessageType, Avps)> = Vec::new();
    let (mut our_tid, mut our_sid) = (0u16, 0u16);
    let mut buf = [0u8; 4096];
    for (ts, from_lac, mut data) in frames {
        let now = t0 + (ts - first);
        lns.handle_timeout(now);
        if from_lac {
            if data[0] & 0x80 != 0 && data.len() >= 8 {
                let tid = u16::from_be_bytes([data[4], data[5]]);
                let sid = u16::from_be_bytes([data[6], data[7]]);
                if tid == their_tid {
                    data[4..6].copy_from_slice(&our_tid.to_be_bytes());
                }
                if sid == their_sid && sid != 0 {
                    data[6..8].copy_from_slice(&our_sid.to_be_bytes());
                }
            }
            lns.handle(now, lac_addr(), &data);
        }
        let later = now + Duration::from_millis(200);
        lns.handle_timeout(later);
        for at in [now, later] {
            while let Some((to, n)) = lns.poll_transmit(at, &mut buf) {
                assert_eq!(to, lac_addr());
                let m = ControlMessageRepr::parse_bytes(&buf[..n]).unwrap();
                if let Some(t) = m.message_type() {
                    let a = Avps::decode(m.avps, None);
                    if t == MessageType::Sccrp {
                        our_tid = a.assigned_tunnel_id.unwrap();
                    }
                    if t == MessageType::Icrp {
                        our_sid = a.assigned_session_id.unwrap();
                    }
                    ours.push((t, a));
                }
            }
        }
    }
    let types = |v: &[(MessageType, Avps)]| v.iter().map(|m| m.0).collect::<Vec<_>>();
    assert_eq!(types(&ours), types(&theirs));
    for ((_, o), (_, t)) in ours.iter().zip(&theirs) {
        assert_eq!(o.protocol_version.is_some(), t.protocol_version.is_some());
        assert_eq!(o.framing_caps.is_some(), t.framing_caps.is_some());
        assert_eq!(o.host_name.is_some(), t.host_name.is_some());
        assert_eq!(
            o.assigned_tunnel_id.is_some(),
            t.assigned_tunnel_id.is_some()
        );
        assert_eq!(
            o.assigned_session_id.is_some(),
            t.assigned_session_id.is_some()
        );
    }
    let mut evs = Vec::new();
    while let Some(e) = lns.poll_event() {
        evs.push(e);
    }
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e {
            Event::TunnelUp { .. } => "TunnelUp",
            Event::TunnelDown { .. } => "TunnelDown",
            Event::SessionUp(_) => "SessionUp",
            Event::SessionDown { .. } => "SessionDown",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["TunnelUp", "SessionUp", "SessionDown", "TunnelDown"]
    );
}

#[test]
fn freed_ids_are_quarantined() {
    let mut p = Pair::default_pair();
    let (t, lac_key, lns_key) = up_session(&mut p);
    let lns_tid = lns_key.tunnel_id;
    p.lac.close_call(p.now, lac_key, 3, None).unwrap();
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.session_count(), 0);
    assert_eq!(p.lns.ids().sessions_quarantined(lns_tid), 1);
    // A new call within the quarantine never gets the dead session's ID.
    p.lac.place_call(p.now, t, CallParams::default()).unwrap();
    p.drive(Duration::from_secs(2));
    let again = p.lns_session_ups().last().unwrap().key;
    assert_ne!(again.session_id, lns_key.session_id);
    // The tunnel ID is quarantined too once the tunnel is forgotten.
    p.lac.close_tunnel(p.now, t, 1).unwrap();
    p.drive(Duration::from_secs(40));
    assert_eq!(p.lns.tunnel_count(), 0);
    assert_eq!(p.lns.ids().tunnels_quarantined(), 1);
    assert_eq!(p.lns.ids().tunnels_in_use(), 1, "held, not reusable");
    // After the quarantine (60 s) the IDs come back.
    p.drive(Duration::from_secs(61));
    p.lns.handle_timeout(p.now);
    let mut buf = [0u8; 64];
    let _ = p.lns.poll_transmit(p.now, &mut buf);
    let lac2 = p.lac.open_tunnel(p.now, lns_addr()).unwrap();
    p.drive(Duration::from_secs(2));
    assert!(p.lac.is_established(lac2));
    assert_eq!(p.lns.ids().tunnels_quarantined(), 0);
    assert_eq!(p.lns.ids().sessions_quarantined(lns_tid), 0);
}

#[test]
fn stopccn_received_drops_queued_messages() {
    let mut p = Pair::default_pair();
    let t = p.open();
    let lns_tid = p.lns_tunnel_id();
    // The LNS queues ten OCRQs (slow start lets one or two out at once) and
    // the LAC clears the tunnel at the same moment.
    for i in 0..10u8 {
        p.lns
            .place_outgoing_call(p.now, lns_tid, &[b'0' + i])
            .unwrap();
    }
    p.lac.close_tunnel(p.now, t, 1).unwrap();
    let mut cut = None;
    for _ in 0..10_000 {
        if cut.is_none()
            && p.lns_events
                .iter()
                .any(|e| matches!(e, Event::TunnelDown { .. }))
        {
            cut = Some(p.trace.len());
        }
        if !p.step() {
            break;
        }
    }
    let cut = cut.expect("LNS saw the StopCCN");
    // From the StopCCN on, the LNS only acknowledges: no OCRQ is sent or
    // retransmitted.
    let after: Vec<String> = p.trace[cut..]
        .iter()
        .filter(|w| !w.from_lac)
        .map(Wire::label)
        .collect();
    assert!(after.iter().all(|l| l == "LNS ZLB"), "{after:?}");
    let ocrqs = p.labels().iter().filter(|l| *l == "LNS OCRQ").count();
    assert!(ocrqs < 10, "{ocrqs} OCRQs went out");
    assert_eq!(p.lns.tunnel_count(), 0);
}

#[test]
fn refused_sccrq_retransmissions_get_the_same_stopccn() {
    let now = base();
    let mut lac = Lac::new(
        LacConfig {
            protocol_version: (2, 0),
            ..LacConfig::default()
        },
        Box::new(SplitMix64(1)),
    );
    let mut lns = Engine::new(Config::default(), Box::new(SplitMix64(2)));
    lac.open_tunnel(now, lns_addr()).unwrap();
    let mut buf = [0u8; 4096];
    let (_, n) = lac.poll_transmit(now, &mut buf).unwrap();
    let sccrq = buf[..n].to_vec();
    let mut answers = Vec::new();
    for i in 0..4u64 {
        let t = now + Duration::from_secs(i);
        lns.handle(t, lac_addr(), &sccrq);
        let (_, n) = lns.poll_transmit(t, &mut buf).expect("answered");
        answers.push(buf[..n].to_vec());
        assert!(lns.poll_transmit(t, &mut buf).is_none());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "idempotent");
    let m = ControlMessageRepr::parse_bytes(&answers[0]).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::StopCcn));
    assert_eq!((m.ns, m.nr), (0, 1));
    assert_eq!(lns.stats().tunnels_refused, 1);
    assert_eq!(lns.stats().refusals_repeated, 3);
    assert_eq!(lns.tunnel_count(), 0);
    assert_eq!(lns.refused_count(), 1);
    // The record expires with the linger; the LNS asks to be woken for it.
    let end = lns.poll_timeout().expect("refusal expiry");
    assert_eq!(end, now + Config::default().refusal_linger);
    lns.handle_timeout(end);
    assert_eq!(lns.refused_count(), 0);
    assert_eq!(lns.poll_timeout(), None);
}

#[test]
fn refusal_records_are_bounded_by_the_half_open_limits() {
    let mut c = Config::default();
    c.limits.max_half_open = 10;
    c.limits.max_half_open_per_peer = 3;
    let mut lns = Engine::new(c, Box::new(SplitMix64(5)));
    let now = base();
    let mut buf = [0u8; 4096];
    let lac_cfg = LacConfig {
        protocol_version: (9, 9),
        ..LacConfig::default()
    };
    let mut answered = 0;
    for i in 0..1000u64 {
        let peer: SocketAddr = format!("198.18.1.{}:1701", i % 5).parse().unwrap();
        let mut lac = Lac::new(lac_cfg.clone(), Box::new(SplitMix64(i + 100)));
        lac.open_tunnel(now, lns_addr()).unwrap();
        let (_, n) = lac.poll_transmit(now, &mut buf).unwrap();
        lns.handle(now, peer, &buf[..n]);
        while lns.poll_transmit(now, &mut buf).is_some() {
            answered += 1;
        }
    }
    assert_eq!(answered, 1000, "every SCCRQ is still refused");
    assert_eq!(
        lns.refused_count(),
        10,
        "max_half_open caps the total (5 IPs x 3 would be 15)"
    );
    assert_eq!(lns.stats().refusals_unrecorded, 990);
    assert_eq!(lns.tunnel_count(), 0);
}

#[test]
fn duplicate_icrq_clears_the_session_instead_of_opening_a_second() {
    use l2tpx_wire::l2tp::{AvpValue, HeaderRepr, CONTROL_HEADER_LEN};
    let mut p = Pair::default_pair();
    let (_, lac_key, lns_key) = up_session(&mut p);
    let peer_sid = p.lns_session_ups()[0].peer_session_id;
    // A second ICRQ with the same Assigned Session ID, in sequence.
    let sent = |lac: bool| {
        p.trace
            .iter()
            .filter(|w| w.from_lac == lac && w.msg_type().is_some())
            .count() as u16
    };
    let (ns, nr) = (sent(true), sent(false));
    let body = super::avps::encode(
        MessageType::Icrq,
        &[
            AvpValue::AssignedSessionId(peer_sid),
            AvpValue::CallSerialNumber(99),
        ],
        None,
        &mut SplitMix64(1),
        &[],
    );
    let mut d = vec![0u8; CONTROL_HEADER_LEN + body.len()];
    HeaderRepr::control(lns_key.tunnel_id, 0, ns, nr, body.len()).emit(&mut d);
    d[CONTROL_HEADER_LEN..].copy_from_slice(&body);
    p.lns.handle(p.now, lac_addr(), &d);
    p.drive(Duration::from_secs(2));
    assert_eq!(p.lns.stats().duplicate_icrqs, 1);
    assert_eq!(p.lns.session_count(), 0, "no second session, old one gone");
    assert_eq!(p.lns_session_ups().len(), 1);
    assert!(p.lns_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, cause, was_up: true, .. }
            if *key == lns_key && cause.result == 2 && cause.error == Some(3))));
    assert_eq!(p.labels().last().unwrap(), "LNS CDN");
    // The CDN reached the LAC's session of that ID.
    assert!(p.lac_events.iter().any(|e| matches!(e,
        Event::SessionDown { key, .. } if *key == lac_key)));
}

/// A received StopCCN is acknowledged at once, not after the ack delay:
/// its sender waits only for this ACK, and a driver shutting down may exit
/// right after (found by the demo: xl2tpd retransmitted its StopCCN).
#[test]
fn stopccn_is_acked_without_delay() {
    let mut p = Pair::default_pair();
    let (t, _, _) = up_session(&mut p);
    p.drive(Duration::from_secs(1));
    p.lac.close_tunnel(p.now, t, 1).unwrap();
    let mut buf = [0u8; 4096];
    let (_, n) = p.lac.poll_transmit(p.now, &mut buf).expect("StopCCN");
    let stop = buf[..n].to_vec();
    let msg = l2tpx_wire::l2tp::ControlMessageRepr::parse_bytes(&stop).unwrap();
    assert_eq!(msg.message_type(), Some(MessageType::StopCcn));
    p.lns.handle(p.now, lac_addr(), &stop);
    let (_, n) = p
        .lns
        .poll_transmit(p.now, &mut buf)
        .expect("ZLB at the same instant");
    let ack = l2tpx_wire::l2tp::ControlMessageRepr::parse_bytes(&buf[..n]).unwrap();
    assert!(ack.is_zlb());
    assert_eq!(ack.nr, msg.ns.wrapping_add(1));
}

/// The LAC reports a call up only once its ICCN has left the reliable
/// layer: PPP sent on an earlier SessionUp would reach the LNS before the
/// ICCN (slow start queues ICCNs behind other calls' ICRQs) and be dropped.
#[test]
fn lac_session_up_waits_for_its_iccn_on_the_wire() {
    let mut p = Pair::default_pair();
    let t = p.open();
    for _ in 0..30 {
        p.lac.place_call(p.now, t, CallParams::default()).unwrap();
    }
    let mut seen = 0;
    let mut ups = 0;
    for _ in 0..2_000 {
        if !p.step() {
            break;
        }
        for e in &p.lac_events[seen..] {
            if let Event::SessionUp(info) = e {
                ups += 1;
                let iccns = p
                    .trace
                    .iter()
                    .filter(|w| w.from_lac && w.msg_type() == Some(MessageType::Iccn))
                    .filter(|w| {
                        ControlMessageRepr::parse_bytes(&w.bytes)
                            .is_ok_and(|m| m.session_id == info.peer_session_id)
                    })
                    .count();
                assert_eq!(
                    iccns, 1,
                    "SessionUp for {:?} before its ICCN was sent",
                    info.key
                );
            }
        }
        seen = p.lac_events.len();
        if ups == 30 {
            break;
        }
    }
    assert_eq!(ups, 30);
    p.drive(Duration::from_secs(1));
    assert_eq!(p.lns_session_ups().len(), 30);
}
