//! One control connection's transport: the peer, the IDs, the §5.8 reliable
//! layer and the header framing. The LNS and LAC engines put their FSMs on
//! top.

use std::net::SocketAddr;
use std::time::Instant;

use l2tpx_wire::l2tp::{AvpValue, ControlMessageRepr, HeaderRepr, MessageType, CONTROL_HEADER_LEN};

use super::avps::{encode, Hide};
use super::ids::{IdHashSet, IdMap, RandomSource};
use super::reliable::{Received, Reliable, ReliableConfig};

/// A control message body with the header IDs it goes under (both
/// directions: what we queue, and what we receive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg {
    pub tunnel_id: u16,
    pub session_id: u16,
    pub avps: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub peer: SocketAddr,
    /// 0 until learnt.
    pub peer_tid: u16,
    pub rel: Reliable<Msg>,
    pub secret: Option<Vec<u8>>,
    pub hide: bool,
    /// Random padding of hidden AVPs: 0..=this many bytes.
    pub pad_max: u8,
    /// Last time anything arrived from the peer (HELLO timer).
    pub last_rx: Instant,
    /// Messages too large for the caller's buffer, dropped.
    pub oversize: u64,
}

impl Conn {
    pub fn new(
        now: Instant,
        peer: SocketAddr,
        cfg: ReliableConfig,
        secret: Option<Vec<u8>>,
        hide: bool,
        pad_max: u8,
    ) -> Self {
        Self {
            peer,
            peer_tid: 0,
            rel: Reliable::new(cfg),
            secret,
            hide,
            pad_max,
            last_rx: now,
            oversize: 0,
        }
    }

    /// Queues a message to the peer for reliable delivery.
    pub fn send(
        &mut self,
        rng: &mut dyn RandomSource,
        session_id: u16,
        t: MessageType,
        avps: &[AvpValue<'_>],
        extra: &[u8],
    ) {
        let hide = match (&self.secret, self.hide) {
            (Some(secret), true) => Some(Hide {
                secret,
                pad_max: self.pad_max,
            }),
            _ => None,
        };
        let body = encode(t, avps, hide, rng, extra);
        self.rel.send(Msg {
            tunnel_id: self.peer_tid,
            session_id,
            avps: body,
        });
    }

    /// Feeds a received message (already parsed) to the reliable layer and
    /// returns the in-order messages it delivers.
    pub fn receive(&mut self, now: Instant, m: &ControlMessageRepr<'_>) -> Vec<Msg> {
        self.last_rx = now;
        let payload = (!m.is_zlb()).then(|| Msg {
            tunnel_id: m.tunnel_id,
            session_id: m.session_id,
            avps: m.avps.to_vec(),
        });
        match self.rel.on_receive(now, m.ns, m.nr, payload) {
            Received::Delivered(v) => v,
            _ => Vec::new(),
        }
    }

    /// The next datagram for the peer, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            let peer_tid = self.peer_tid;
            let t = self.rel.poll_transmit(now)?;
            let (tid, sid, body): (u16, u16, &[u8]) = match t.payload {
                Some(m) => (m.tunnel_id, m.session_id, &m.avps),
                None => (peer_tid, 0, &[]),
            };
            let len = CONTROL_HEADER_LEN + body.len();
            if buf.len() < len {
                self.oversize += 1;
                continue;
            }
            HeaderRepr::control(tid, sid, t.ns, t.nr, body.len()).emit(buf);
            buf[CONTROL_HEADER_LEN..len].copy_from_slice(body);
            return Some(len);
        }
    }
}

/// A one-shot (unreliable, stateless) control message: used to refuse an
/// SCCRQ without keeping state, as a flood must not make us hold any.
pub(crate) fn one_shot(
    tunnel_id: u16,
    session_id: u16,
    ns: u16,
    nr: u16,
    t: MessageType,
    avps: &[AvpValue<'_>],
    rng: &mut dyn RandomSource,
) -> Vec<u8> {
    let body = encode(t, avps, None, rng, &[]);
    let mut buf = vec![0u8; CONTROL_HEADER_LEN + body.len()];
    HeaderRepr::control(tunnel_id, session_id, ns, nr, body.len()).emit(&mut buf);
    buf[CONTROL_HEADER_LEN..].copy_from_slice(&body);
    buf
}

/// Timers and transmit readiness for a set of tunnels, by tunnel ID: a
/// min-heap with lazy deletion, so `handle_timeout` costs O(expired log n),
/// and a FIFO of tunnels that may have something to send.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u16)>>,
    scheduled: IdMap<Instant>,
    ready: std::collections::VecDeque<u16>,
    in_ready: IdHashSet,
}

impl Scheduler {
    /// Makes sure `tid` is woken by `deadline`. An entry for a later time
    /// stays in the heap and is skipped when it comes up (lazy deletion);
    /// an earlier one wakes the tunnel early, which is harmless.
    pub fn schedule(&mut self, tid: u16, deadline: Option<Instant>) {
        let Some(d) = deadline else { return };
        if self.scheduled.get(&tid).is_none_or(|&s| d < s) {
            self.scheduled.insert(tid, d);
            self.heap.push(std::cmp::Reverse((d, tid)));
        }
    }

    /// The next tunnel whose scheduled time has come.
    pub fn pop_expired(&mut self, now: Instant) -> Option<u16> {
        while let Some(&std::cmp::Reverse((d, tid))) = self.heap.peek() {
            if d > now {
                return None;
            }
            self.heap.pop();
            if self.scheduled.get(&tid) == Some(&d) {
                self.scheduled.remove(&tid);
                return Some(tid);
            }
        }
        None
    }

    /// The earliest wake-up (may be a stale, earlier one).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0 .0)
    }

    pub fn mark_ready(&mut self, tid: u16) {
        if self.in_ready.insert(tid) {
            self.ready.push_back(tid);
        }
    }

    pub fn front_ready(&self) -> Option<u16> {
        self.ready.front().copied()
    }

    pub fn pop_ready(&mut self) {
        if let Some(tid) = self.ready.pop_front() {
            self.in_ready.remove(&tid);
        }
    }

    /// Drains the ready tunnels in order until one has a datagram for
    /// `buf`; returns its ID, peer and length. Tunnels that are gone or
    /// have nothing left leave the ready queue. The caller reschedules the
    /// tunnel it got.
    pub fn poll_ready<T>(
        &mut self,
        tunnels: &mut IdMap<T>,
        conn: fn(&mut T) -> &mut Conn,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(u16, SocketAddr, usize)> {
        while let Some(tid) = self.front_ready() {
            let Some(t) = tunnels.get_mut(&tid) else {
                self.pop_ready();
                continue;
            };
            let c = conn(t);
            match c.poll_transmit(now, buf) {
                Some(n) => return Some((tid, c.peer, n)),
                None => self.pop_ready(),
            }
        }
        None
    }

    /// Forgets a removed tunnel (its heap and ready entries die lazily).
    pub fn forget(&mut self, tid: u16) {
        self.scheduled.remove(&tid);
    }
}
