//! A sans-IO emulated LAC with a PPP client per call ([`LacPeer`]): the
//! [`Lac`] engine for L2TP control plus one [`PppClient`] per session,
//! exchanging PPP frames in L2TP data messages. For tests (in memory or
//! over a real UDP socket) and the bench.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use l2tpx_wire::l2tp::DataHeader;

use super::encode_data;
use crate::l2tp::{
    CallParams, DisconnectCause, EngineError, Event, Lac, LacConfig, RandomSource, SessionKey,
};
use crate::ppp::client::{ClientConfig, ClientEvent, PppClient};

/// What happened at the LAC (keys are the LAC's own IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A tunnel is established.
    TunnelUp(u16),
    /// A tunnel is gone.
    TunnelDown(u16),
    /// A call is established; its PPP client started.
    CallUp(SessionKey),
    /// The client's IPCP opened with this address.
    IpUp {
        /// The call.
        key: SessionKey,
        /// The address the LNS gave.
        address: Ipv4Addr,
    },
    /// The LNS refused the client's credentials.
    AuthFailed(SessionKey),
    /// The client's LCP went down.
    PppDown(SessionKey),
    /// The call was cleared (a CDN either way).
    CallDown {
        /// The call.
        key: SessionKey,
        /// Why (initiator Peer: the LNS sent the CDN).
        cause: DisconnectCause,
    },
}

struct Client {
    ppp: PppClient,
    lns: SocketAddr,
    lns_tunnel_id: u16,
    lns_session_id: u16,
}

/// The LAC and its subscribers.
pub struct LacPeer {
    /// The L2TP engine.
    pub lac: Lac,
    default_client: ClientConfig,
    configs: HashMap<SessionKey, ClientConfig>,
    clients: HashMap<SessionKey, Client>,
    muted: HashSet<SessionKey>,
    rng: Box<dyn RandomSource>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<PeerEvent>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for LacPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LacPeer")
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl LacPeer {
    /// A LAC whose clients use `client` unless a call says otherwise.
    pub fn new(config: LacConfig, client: ClientConfig, mut rng: Box<dyn RandomSource>) -> Self {
        let mut seed = [0u8; 8];
        rng.fill_bytes(&mut seed);
        let lac_rng = Box::new(crate::l2tp::SplitMix64(u64::from_le_bytes(seed)));
        LacPeer {
            lac: Lac::new(config, lac_rng),
            default_client: client,
            configs: HashMap::new(),
            clients: HashMap::new(),
            muted: HashSet::new(),
            rng,
            out: VecDeque::new(),
            events: VecDeque::new(),
            buf: vec![0; 65_536],
        }
    }

    /// Opens a tunnel to the LNS at `lns`.
    pub fn open_tunnel(&mut self, now: Instant, lns: SocketAddr) -> Option<u16> {
        self.lac.open_tunnel(now, lns)
    }

    /// Places a call whose PPP client uses `client` (`None`: the default).
    pub fn place_call(
        &mut self,
        now: Instant,
        tunnel_id: u16,
        params: CallParams,
        client: Option<ClientConfig>,
    ) -> Result<SessionKey, EngineError> {
        let key = self.lac.place_call(now, tunnel_id, params)?;
        if let Some(c) = client {
            self.configs.insert(key, c);
        }
        Ok(key)
    }

    /// Hangs a call up (CDN).
    pub fn hang_up(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
    ) -> Result<(), EngineError> {
        self.clients.remove(&key);
        self.lac.close_call(now, key, result, None)?;
        self.pump(now);
        Ok(())
    }

    /// Stops delivering the LNS's frames to this call's client (it stops
    /// answering LCP echoes).
    pub fn mute(&mut self, key: SessionKey) {
        self.muted.insert(key);
    }

    /// A call's PPP client.
    pub fn client(&self, key: SessionKey) -> Option<&PppClient> {
        self.clients.get(&key).map(|c| &c.ppp)
    }

    /// Calls with a PPP client.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A datagram from the LNS at `from`.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            self.lac.handle(now, from, bytes);
        } else if let Ok(h) = DataHeader::parse(bytes) {
            let key = SessionKey {
                tunnel_id: h.tunnel_id,
                session_id: h.session_id,
            };
            if !self.muted.contains(&key) {
                if let Some(c) = self.clients.get_mut(&key) {
                    if c.lns == from {
                        c.ppp.handle_frame(now, h.payload(bytes));
                    }
                }
            }
        }
        self.pump(now);
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lac.handle_timeout(now);
        for c in self.clients.values_mut() {
            if c.ppp.poll_timeout().is_some_and(|t| t <= now) {
                c.ppp.handle_timeout(now);
            }
        }
        self.pump(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clients
            .values()
            .filter_map(|c| c.ppp.poll_timeout())
            .chain(self.lac.poll_timeout())
            .min()
    }

    /// The next datagram to send: (LNS, bytes).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some((to, n)) = self.lac.poll_transmit(now, &mut self.buf) {
            let bytes = self.buf[..n].to_vec();
            // The LAC reports a call up as its ICCN goes out: start PPP
            // now (its frames queue behind this message).
            self.pump(now);
            return Some((to, bytes));
        }
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.lac.poll_event() {
            match ev {
                Event::TunnelUp { tunnel_id, .. } => {
                    self.events.push_back(PeerEvent::TunnelUp(tunnel_id))
                }
                Event::TunnelDown { tunnel_id, .. } => {
                    self.events.push_back(PeerEvent::TunnelDown(tunnel_id))
                }
                Event::SessionUp(info) => {
                    let cfg = self
                        .configs
                        .remove(&info.key)
                        .unwrap_or_else(|| self.default_client.clone());
                    let mut seed = [0u8; 16];
                    self.rng.fill_bytes(&mut seed);
                    self.clients.insert(
                        info.key,
                        Client {
                            ppp: PppClient::new(cfg, seed, now),
                            lns: info.peer,
                            lns_tunnel_id: info.peer_tunnel_id,
                            lns_session_id: info.peer_session_id,
                        },
                    );
                    self.events.push_back(PeerEvent::CallUp(info.key));
                }
                Event::SessionDown { key, cause, .. } => {
                    self.clients.remove(&key);
                    self.configs.remove(&key);
                    self.events.push_back(PeerEvent::CallDown { key, cause });
                }
                _ => {}
            }
        }
        for (key, c) in &mut self.clients {
            while let Some(ev) = c.ppp.poll_event() {
                match ev {
                    ClientEvent::Ipv4Up { address, .. } => self
                        .events
                        .push_back(PeerEvent::IpUp { key: *key, address }),
                    ClientEvent::AuthFailed => self.events.push_back(PeerEvent::AuthFailed(*key)),
                    ClientEvent::Down => self.events.push_back(PeerEvent::PppDown(*key)),
                    _ => {}
                }
            }
            while let Some(frame) = c.ppp.poll_transmit() {
                self.out.push_back((
                    c.lns,
                    encode_data(c.lns_tunnel_id, c.lns_session_id, None, &frame),
                ));
            }
        }
    }
}

/// Hands one datagram from the LAC at `from` to the LNS as the driver
/// does: a control message to the engine, whose events (SessionUp) reach
/// the manager before the next datagram, which may be the client's first
/// LCP frame; a data message to the manager.
pub fn lns_receive<T: super::TableSink, N: super::NeighbourSource>(
    lns: &mut crate::l2tp::Engine,
    mgr: &mut super::SessionManager<T, N>,
    now: Instant,
    from: SocketAddr,
    bytes: &[u8],
) {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        lns.handle(now, from, bytes);
        while let Some(ev) = lns.poll_event() {
            mgr.handle_event(now, &ev);
        }
    } else {
        mgr.handle_data(now, from, bytes);
    }
}

/// Moves everything the LNS side has ready, as the driver's flush does,
/// until nothing moves: the engine's events to the manager, the manager's
/// commands to the engine, and every datagram either sends to `deliver`
/// (destination, bytes). `buf` is the engine's transmit buffer. True if
/// anything moved.
pub fn lns_flush<T: super::TableSink, N: super::NeighbourSource>(
    lns: &mut crate::l2tp::Engine,
    mgr: &mut super::SessionManager<T, N>,
    now: Instant,
    buf: &mut [u8],
    mut deliver: impl FnMut(SocketAddr, &[u8]),
) -> bool {
    let mut moved = false;
    loop {
        let mut again = false;
        while let Some(ev) = lns.poll_event() {
            mgr.handle_event(now, &ev);
            again = true;
        }
        while let Some((to, bytes)) = mgr.poll_transmit() {
            deliver(to, &bytes);
            again = true;
        }
        while let Some(super::Command::CloseSession {
            key,
            result,
            error,
            message,
        }) = mgr.poll_command()
        {
            let _ = lns.close_session(now, key, result, error, &message);
            again = true;
        }
        while let Some((to, n)) = lns.poll_transmit(now, buf) {
            deliver(to, &buf[..n]);
            again = true;
        }
        if !again {
            return moved;
        }
        moved = true;
    }
}
