//! Reliable delivery of control messages (RFC 2661 §5.8, Appendix A), sans-IO.
//!
//! [`Reliable`] is the sliding-window transport under one control connection.
//! It owns the `Ns`/`Nr` header fields and nothing else: the engine above hands
//! it messages to send ([`Reliable::send`]), feeds it every received control
//! message's `Ns`, `Nr` and payload ([`Reliable::on_receive`]), and drains what
//! to put on the wire ([`Reliable::poll_transmit`]). Time only enters through
//! `now` parameters; [`Reliable::poll_timeout`] says when to call
//! [`Reliable::handle_timeout`] next. The shape is quinn-proto's.
//!
//! The payload type `M` is opaque (encoded AVPs, a message struct, ...). A
//! payload of `None` on either side means a ZLB ACK: a control message with no
//! AVPs, which takes no slot in the sequence space and only carries `Nr`.
//!
//! # Behaviour and choices
//!
//! * **Sequence numbers** start at 0 and are compared modulo 2^16 with the
//!   RFC's half-window rule ([`seq_le`], [`seq_lt`]).
//! * **Send window**: at most the peer's Receive Window Size unacknowledged
//!   messages (4 until [`Reliable::set_peer_rws`], §4.4.3 "If absent, the peer
//!   must assume a Window Size of 4"). Further messages wait in a queue and
//!   get their `Ns` when first transmitted, so a ZLB's `Ns` is always the `Ns`
//!   of the next new message, as in Appendix B.
//! * **Slow start / congestion avoidance** (Appendix A) is on by default,
//!   because §5.8 says the procedure "SHOULD be utilized" when retransmitting.
//!   `cwnd` starts at 1 and `ssthresh` at the peer's window; each ACK that
//!   acknowledges something new adds 1 to `cwnd` below `ssthresh` and 1/`cwnd`
//!   at or above it; a retransmission timeout sets `ssthresh = max(cwnd/2, 1)`
//!   and `cwnd = 1`. `cwnd` never exceeds the peer's window.
//! * **Acknowledgements**: an incoming `Nr` acknowledges every in-flight
//!   message with `Ns < Nr`. Following RFC 3931 §4.2 ("Nr SHOULD be
//!   sanity-checked"), an `Nr` beyond the last `Ns` sent + 1 is ignored and
//!   counted ([`Counters::invalid_nr`]); an `Nr` older than what is already
//!   acknowledged (a reordered old packet) is ignored and counted
//!   ([`Counters::stale_nr`]).
//! * **Receiving**: the in-order message is delivered together with any held
//!   messages it unblocks. Messages ahead of the expected `Ns` but inside our
//!   advertised window ([`ReliableConfig::our_rws`]) are held for in-order
//!   delivery; further ahead they are dropped ([`Counters::out_of_window`]).
//!   Duplicates are not delivered but MUST be acknowledged (§5.8). Every
//!   non-ZLB message received, whatever its fate, schedules an
//!   acknowledgement.
//! * **Delayed ACK**: the acknowledgement rides on the next outgoing message
//!   (any transmission carries the current `Nr`); if none goes out within
//!   [`ReliableConfig::ack_delay`], a ZLB is sent. Neither RFC 2661 nor RFC
//!   3931 gives a value. The default, 100 ms, is a tenth of the recommended
//!   1 s retransmission timeout, so the peer never retransmits because of the
//!   delay, and it is long enough for the engine to answer a request with a
//!   piggybacked acknowledgement (Appendix B.1 notes that alternative). It is
//!   not flow control, which §5.8 forbids ("MUST NOT withhold
//!   acknowledgment"). Once half our advertised window
//!   ([`ReliableConfig::our_rws`]) has arrived unacknowledged, the
//!   acknowledgement is due at once, so a peer that sends a burst with
//!   nothing to answer it (CDNs, ICCNs) never waits on the delay with a full
//!   window (TCP acknowledges every second segment for the same reason).
//! * **Retransmission**: one timer covers the oldest unacknowledged message
//!   (TCP style). It starts at [`ReliableConfig::initial_rto`] (1 s, §5.8) and
//!   doubles on each expiry up to [`ReliableConfig::max_rto`] (8 s; §5.8: the
//!   cap "MUST be no less than 8 seconds", so smaller values are raised to
//!   8 s). An ACK that acknowledges something new resets the timer, the
//!   interval and the retry count. On expiry every in-flight message is marked
//!   for retransmission (go-back-N) and re-sent, oldest first, as the window
//!   allows: it keeps its `Ns` and carries the current `Nr` (§5.8). With the
//!   defaults the retransmissions go out 1, 2, 4, 8 and 8 s apart, and when
//!   the timer expires again (8 s later, 31 s after the first send — RFC 3931
//!   §3.3.2's "full retransmission cycle") after
//!   [`ReliableConfig::max_retries`] retransmissions without progress the
//!   channel fails: [`Reliable::is_failed`] turns true and the engine must
//!   clear the tunnel and its sessions (§5.8). A failed channel sends,
//!   delivers and schedules nothing more.
//! * Keepalives (Hello, §5.5/§6.5) and the post-StopCCN linger are the
//!   engine's business: a Hello is an ordinary message here, and
//!   [`Reliable::is_idle`] tells when everything has been acknowledged.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Half the sequence space: the most messages that may be outstanding in one
/// direction before modulo comparisons become ambiguous.
const MAX_WINDOW: u16 = 32767;

/// The peer's Receive Window Size when it sends no RWS AVP (§4.4.3).
pub const DEFAULT_PEER_RWS: u16 = 4;

/// The smallest retransmission cap §5.8 allows.
pub const MIN_MAX_RTO: Duration = Duration::from_secs(8);

/// `a` is less than or equal to `b` in the §5.8 sense: `a` lies in the range
/// of `b` and the 32767 values preceding it, modulo 2^16.
pub fn seq_le(a: u16, b: u16) -> bool {
    b.wrapping_sub(a) <= MAX_WINDOW
}

/// `a` is strictly less than `b` (modulo 2^16, see [`seq_le`]).
pub fn seq_lt(a: u16, b: u16) -> bool {
    a != b && seq_le(a, b)
}

/// `a` is strictly greater than `b` (modulo 2^16): `seq_lt(b, a)`.
pub fn seq_gt(a: u16, b: u16) -> bool {
    seq_lt(b, a)
}

/// Tunables of the reliable transport. `Default` gives the RFC's recommended
/// values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReliableConfig {
    /// First retransmission timeout (§5.8 recommends 1 s).
    pub initial_rto: Duration,
    /// Cap on the doubled timeout; raised to at least 8 s (§5.8) and to at
    /// least `initial_rto`.
    pub max_rto: Duration,
    /// Retransmissions without progress before the channel fails (§5.8
    /// recommends 5).
    pub max_retries: u32,
    /// How long an acknowledgement may wait for a message to ride on before a
    /// ZLB is sent (default 100 ms, see the module docs).
    pub ack_delay: Duration,
    /// The Receive Window Size we advertise: how many messages ahead of the
    /// expected one we hold for in-order delivery. Clamped to 1..=32767.
    pub our_rws: u16,
    /// Appendix A slow start and congestion avoidance (default on: §5.8
    /// "SHOULD be utilized").
    pub slow_start: bool,
}

impl Default for ReliableConfig {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_secs(1),
            max_rto: MIN_MAX_RTO,
            max_retries: 5,
            ack_delay: Duration::from_millis(100),
            our_rws: 16,
            slow_start: true,
        }
    }
}

/// A Receive Window Size of 0, which §5.8 calls invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroWindow;

impl fmt::Display for ZeroWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Receive Window Size of 0 is invalid (RFC 2661 §5.8)")
    }
}

impl std::error::Error for ZeroWindow {}

/// One control message to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a, M> {
    /// Header `Ns`. For a ZLB, the `Ns` the next new message will get.
    pub ns: u16,
    /// Header `Nr`: the next `Ns` we expect from the peer.
    pub nr: u16,
    /// The message; `None` for a ZLB ACK.
    pub payload: Option<&'a M>,
    /// Whether this is a retransmission of a message sent before.
    pub retransmit: bool,
}

impl<M> Transmit<'_, M> {
    /// Whether this is a ZLB ACK.
    pub fn is_zlb(&self) -> bool {
        self.payload.is_none()
    }
}

/// What [`Reliable::on_receive`] made of a message. Its `Nr` has been
/// processed in every case except [`Received::Failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received<M> {
    /// In-order messages for the upper level, oldest first: the one that
    /// arrived plus any held ones it unblocked.
    Delivered(Vec<M>),
    /// Ahead of the expected `Ns` but inside our window: held until the gap
    /// fills.
    Held,
    /// Already received (before the expected `Ns`, or already held): dropped,
    /// and an acknowledgement is scheduled (§5.8).
    Duplicate,
    /// Too far ahead of the expected `Ns` (beyond our window): dropped.
    OutOfWindow,
    /// A ZLB ACK: only its `Nr` mattered.
    AckOnly,
    /// The channel has failed; the message was ignored.
    Failed,
}

/// Event counters, for statistics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages sent for the first time (not ZLBs).
    pub sent: u64,
    /// Retransmissions of messages.
    pub retransmits: u64,
    /// Retransmission timer expiries.
    pub timeouts: u64,
    /// ZLB ACKs sent.
    pub zlb_sent: u64,
    /// Non-ZLB messages received, whatever became of them.
    pub received: u64,
    /// ZLB ACKs received.
    pub zlb_received: u64,
    /// Messages delivered to the upper level.
    pub delivered: u64,
    /// Messages held for in-order delivery.
    pub held: u64,
    /// Duplicate messages dropped (and re-acknowledged).
    pub duplicates: u64,
    /// Messages dropped for lying beyond our receive window.
    pub out_of_window: u64,
    /// `Nr` values older than what was already acknowledged (ignored).
    pub stale_nr: u64,
    /// `Nr` values acknowledging messages never sent (ignored).
    pub invalid_nr: u64,
    /// Resynchronisations of a resumed transport ([`Reliable::resume`]).
    pub resyncs: u64,
}

/// An assigned-`Ns` message awaiting acknowledgement.
#[derive(Debug)]
struct InFlight<M> {
    msg: M,
    /// Marked by a retransmission timeout, not yet re-sent.
    needs_tx: bool,
}

/// The reliable transport of one control connection. See the module docs.
#[derive(Debug)]
pub struct Reliable<M> {
    config: ReliableConfig,
    peer_rws: u16,

    // Send side.
    /// Waiting for the window; no `Ns` yet.
    queue: VecDeque<M>,
    /// Sent, unacknowledged; `inflight[i]` has `Ns = snd_una + i`.
    inflight: VecDeque<InFlight<M>>,
    /// Oldest unacknowledged `Ns`.
    snd_una: u16,
    /// `Ns` of the next new message.
    next_ns: u16,
    rto: Duration,
    rto_deadline: Option<Instant>,
    retries: u32,
    cwnd: u16,
    ssthresh: u16,
    /// ACKs counted towards the next `cwnd` increment in congestion avoidance.
    ca_acks: u16,

    // Receive side.
    /// Next expected `Ns` (our `Nr`).
    rcv_nxt: u16,
    /// `held[i]` holds `Ns = rcv_nxt + i`; `held[0]` is always `None`.
    held: VecDeque<Option<M>>,
    /// An acknowledgement is owed, due by this time.
    ack_deadline: Option<Instant>,
    /// Non-ZLB messages received since our last transmission (which
    /// carried `Nr`).
    unacked: u16,

    failed: bool,
    counters: Counters,
    /// Resumed, not yet resynchronised: nothing is sent before this time.
    resync: Option<Instant>,
}

impl<M> Reliable<M> {
    /// A fresh transport: `Ns` and `Nr` at 0, peer window 4.
    pub fn new(mut config: ReliableConfig) -> Self {
        config.max_rto = config.max_rto.max(MIN_MAX_RTO).max(config.initial_rto);
        config.our_rws = config.our_rws.clamp(1, MAX_WINDOW);
        Self {
            peer_rws: DEFAULT_PEER_RWS,
            queue: VecDeque::new(),
            inflight: VecDeque::new(),
            snd_una: 0,
            next_ns: 0,
            rto: config.initial_rto,
            rto_deadline: None,
            retries: 0,
            cwnd: 1,
            ssthresh: DEFAULT_PEER_RWS,
            ca_acks: 0,
            rcv_nxt: 0,
            held: VecDeque::new(),
            ack_deadline: None,
            unacked: 0,
            failed: false,
            counters: Counters::default(),
            resync: None,
            config,
        }
    }

    /// A transport for a control connection resumed after a control-plane
    /// restart, whose `Ns`/`Nr` were not kept: the first control message
    /// the peer sends (a ZLB too) resynchronises it. Until then, or until
    /// `probe_at`, nothing is sent; after `probe_at` a queued message goes
    /// out with a guessed `Ns` (0) as a probe, which the peer must
    /// acknowledge (§5.8), and that acknowledgement resynchronises.
    pub fn resume(config: ReliableConfig, peer_rws: u16, probe_at: Instant) -> Self {
        let mut r = Self::new(config);
        let _ = r.set_peer_rws(peer_rws);
        r.resync = Some(probe_at);
        r
    }

    /// Whether a resumed transport still waits for the peer's sequence
    /// numbers.
    pub fn is_resyncing(&self) -> bool {
        self.resync.is_some()
    }

    /// Adopts the peer's view of both sequence spaces from its message.
    ///
    /// Safe per RFC 2661 §5.8: the peer's `Nr` is the `Ns` it expects next
    /// from us, i.e. everything we sent before the restart with a lower
    /// `Ns` was delivered; whatever we had in flight beyond it died with
    /// us and is not re-sent, and our next message carries exactly the
    /// `Ns` the peer waits for. The peer's `Ns` is the next in its
    /// sequence (for a ZLB, the `Ns` of its next message, Appendix B), so
    /// expecting it delivers the message in hand and every later one in
    /// order. A message of the peer's that we had processed before the
    /// restart but not acknowledged is processed again: the engine treats
    /// control messages for unknown or closed calls as it always does.
    fn resynchronise(&mut self, ns: u16, nr: u16) {
        self.resync = None;
        self.counters.resyncs += 1;
        self.rcv_nxt = ns;
        self.held.clear();
        // A probe sent blind is renumbered and goes out again.
        while let Some(f) = self.inflight.pop_back() {
            self.queue.push_front(f.msg);
        }
        self.snd_una = nr;
        self.next_ns = nr;
        self.rto = self.config.initial_rto;
        self.rto_deadline = None;
        self.retries = 0;
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &ReliableConfig {
        &self.config
    }

    /// Record the Receive Window Size the peer advertised in its SCCRQ or
    /// SCCRP. Values above 32767 are clamped (modulo comparisons need a window
    /// under half the sequence space). Also resets `ssthresh` to it
    /// (Appendix A). 0 is invalid (§5.8) and leaves the window unchanged.
    pub fn set_peer_rws(&mut self, rws: u16) -> Result<(), ZeroWindow> {
        if rws == 0 {
            return Err(ZeroWindow);
        }
        self.peer_rws = rws.min(MAX_WINDOW);
        self.ssthresh = self.peer_rws;
        self.cwnd = self.cwnd.min(self.peer_rws);
        Ok(())
    }

    /// The peer's window in force.
    pub fn peer_rws(&self) -> u16 {
        self.peer_rws
    }

    /// How many messages may be unacknowledged right now:
    /// `min(cwnd, peer_rws)` with slow start, else `peer_rws`.
    pub fn send_window(&self) -> u16 {
        if self.config.slow_start {
            self.cwnd.min(self.peer_rws)
        } else {
            self.peer_rws
        }
    }

    /// Queue a message for reliable, in-order delivery. It gets its `Ns` when
    /// the window lets it out. Dropped if the channel has failed.
    pub fn send(&mut self, msg: M) {
        if !self.failed {
            self.queue.push_back(msg);
        }
    }

    /// Process a received control message: its `Ns`, its `Nr`, and its
    /// payload (`None` for a ZLB ACK, whose `Ns` is ignored).
    pub fn on_receive(
        &mut self,
        now: Instant,
        ns: u16,
        nr: u16,
        payload: Option<M>,
    ) -> Received<M> {
        if self.failed {
            return Received::Failed;
        }
        if self.resync.is_some() {
            self.resynchronise(ns, nr);
        }
        self.process_nr(now, nr);
        let Some(msg) = payload else {
            self.counters.zlb_received += 1;
            return Received::AckOnly;
        };
        self.counters.received += 1;
        // Whatever happens to it, a message gets acknowledged: in-order ones so
        // the peer can advance, duplicates because §5.8 says MUST, and the rest
        // so the peer learns our Nr.
        self.unacked = self.unacked.saturating_add(1);
        let due = if self.unacked >= self.ack_every() {
            now
        } else {
            now + self.config.ack_delay
        };
        self.ack_deadline = Some(self.ack_deadline.map_or(due, |d| d.min(due)));

        if seq_le(ns, self.rcv_nxt.wrapping_sub(1)) {
            self.counters.duplicates += 1;
            return Received::Duplicate;
        }
        let ahead = usize::from(ns.wrapping_sub(self.rcv_nxt));
        if ahead >= usize::from(self.config.our_rws) {
            self.counters.out_of_window += 1;
            return Received::OutOfWindow;
        }
        if ahead > 0 {
            if self.held.len() <= ahead {
                self.held.resize_with(ahead + 1, || None);
            }
            let slot = &mut self.held[ahead];
            if slot.is_some() {
                self.counters.duplicates += 1;
                return Received::Duplicate;
            }
            *slot = Some(msg);
            self.counters.held += 1;
            return Received::Held;
        }
        let mut out = vec![msg];
        self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        self.held.pop_front();
        while matches!(self.held.front(), Some(Some(_))) {
            if let Some(Some(m)) = self.held.pop_front() {
                out.push(m);
                self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
            }
        }
        self.counters.delivered += out.len() as u64;
        Received::Delivered(out)
    }

    /// Apply an incoming `Nr`: drop every in-flight message with `Ns < Nr`.
    fn process_nr(&mut self, now: Instant, nr: u16) {
        let acked = usize::from(nr.wrapping_sub(self.snd_una));
        if acked == 0 {
            return;
        }
        if acked > self.inflight.len() {
            if seq_lt(nr, self.snd_una) {
                self.counters.stale_nr += 1;
            } else {
                self.counters.invalid_nr += 1;
            }
            return;
        }
        self.inflight.drain(..acked);
        self.snd_una = nr;
        self.retries = 0;
        self.rto = self.config.initial_rto;
        self.rto_deadline = if self.inflight.is_empty() {
            None
        } else {
            Some(now + self.rto)
        };
        // Appendix A: one increment per ACK, however many messages it covers.
        if self.cwnd < self.ssthresh {
            self.cwnd += 1;
        } else {
            self.ca_acks += 1;
            if self.ca_acks >= self.cwnd {
                self.ca_acks = 0;
                self.cwnd = self.cwnd.saturating_add(1);
            }
        }
        self.cwnd = self.cwnd.min(self.peer_rws);
    }

    /// The next control message to send, if any: a retransmission, a new
    /// message the window admits, or a ZLB ACK whose delay has run out. Call
    /// until `None` after every `on_receive`, `send` and `handle_timeout`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_, M>> {
        if self.failed || self.resync.is_some_and(|t| now < t) {
            return None;
        }
        let window = usize::from(self.send_window());
        let nr = self.rcv_nxt;

        // Retransmissions first, oldest first, inside the window.
        if let Some(i) = self
            .inflight
            .iter()
            .take(window)
            .position(|slot| slot.needs_tx)
        {
            self.ack_sent();
            self.rto_deadline.get_or_insert(now + self.rto);
            self.counters.retransmits += 1;
            let slot = &mut self.inflight[i];
            slot.needs_tx = false;
            return Some(Transmit {
                ns: self.snd_una.wrapping_add(i as u16),
                nr,
                payload: Some(&slot.msg),
                retransmit: true,
            });
        }

        if self.inflight.len() < window {
            if let Some(msg) = self.queue.pop_front() {
                let ns = self.next_ns;
                self.next_ns = self.next_ns.wrapping_add(1);
                self.ack_sent();
                self.rto_deadline.get_or_insert(now + self.rto);
                self.counters.sent += 1;
                self.inflight.push_back(InFlight {
                    msg,
                    needs_tx: false,
                });
                let slot = self.inflight.back()?;
                return Some(Transmit {
                    ns,
                    nr,
                    payload: Some(&slot.msg),
                    retransmit: false,
                });
            }
        }

        match self.ack_deadline {
            Some(due) if due <= now => {
                self.ack_sent();
                self.counters.zlb_sent += 1;
                Some(Transmit {
                    ns: self.next_ns,
                    nr,
                    payload: None,
                    retransmit: false,
                })
            }
            _ => None,
        }
    }

    /// Run the retransmission timer. Call when [`Reliable::poll_timeout`]'s
    /// time has come (calling early or often is harmless), then drain
    /// [`Reliable::poll_transmit`]. May fail the channel.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        let Some(deadline) = self.rto_deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.inflight.is_empty() {
            self.rto_deadline = None;
            return;
        }
        self.counters.timeouts += 1;
        if self.retries >= self.config.max_retries {
            self.fail();
            return;
        }
        self.retries += 1;
        for slot in &mut self.inflight {
            slot.needs_tx = true;
        }
        // Appendix A: congestion halves ssthresh and restarts slow start.
        self.ssthresh = (self.cwnd / 2).max(1);
        self.cwnd = 1;
        self.ca_acks = 0;
        self.rto = (self.rto * 2).min(self.config.max_rto);
        self.rto_deadline = Some(now + self.rto);
    }

    /// How many unacknowledged messages make the acknowledgement due at
    /// once: half our window (at least 1).
    fn ack_every(&self) -> u16 {
        (self.config.our_rws / 2).max(1)
    }

    /// Every transmission carries our `Nr`: nothing is owed any more.
    fn ack_sent(&mut self) {
        self.ack_deadline = None;
        self.unacked = 0;
    }

    /// Drops every message not yet acknowledged: the queued (unsent) ones
    /// and the in-flight ones, which are never retransmitted. Receiving and
    /// acknowledging go on (§5.7: the receiver of a StopCCN must still ACK
    /// it and its retransmissions). For a control connection the peer has
    /// closed: nothing we still had to say matters.
    pub fn clear_queue(&mut self) {
        self.queue.clear();
        self.inflight.clear();
        self.snd_una = self.next_ns;
        self.rto_deadline = None;
        self.retries = 0;
        self.rto = self.config.initial_rto;
    }

    /// Makes a pending acknowledgement due at `now` rather than after the
    /// ack delay. For a StopCCN (§5.7): its sender is waiting only for this
    /// ACK, and we may be about to exit.
    pub fn ack_now(&mut self, now: Instant) {
        if let Some(d) = self.ack_deadline {
            self.ack_deadline = Some(d.min(now));
        }
    }

    /// Drops the queued messages that have no `Ns` yet; in-flight ones stay
    /// (a message sent after them must not leave a gap in the sequence).
    /// Used before our own StopCCN: it should not wait behind requests that
    /// no longer matter.
    pub fn drop_unsent(&mut self) {
        self.queue.clear();
    }

    fn fail(&mut self) {
        self.failed = true;
        self.queue.clear();
        self.inflight.clear();
        self.held.clear();
        self.rto_deadline = None;
        self.ack_sent();
    }

    /// When [`Reliable::handle_timeout`] (retransmission) or
    /// [`Reliable::poll_transmit`] (a due ZLB) next needs calling.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if let Some(t) = self.resync.filter(|_| !self.queue.is_empty()) {
            return Some(t);
        }
        match (self.rto_deadline, self.ack_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The peer stopped acknowledging: retries ran out and the tunnel must be
    /// cleared (§5.8).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Nothing queued, nothing unacknowledged and no acknowledgement owed
    /// (false once failed). For graceful shutdown after a StopCCN.
    pub fn is_idle(&self) -> bool {
        !self.failed
            && self.queue.is_empty()
            && self.inflight.is_empty()
            && self.ack_deadline.is_none()
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Messages waiting for the window.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Our current `Nr`: the next `Ns` expected from the peer.
    pub fn nr(&self) -> u16 {
        self.rcv_nxt
    }

    /// The `Ns` the next new message will get.
    pub fn next_ns(&self) -> u16 {
        self.next_ns
    }

    /// The `Ns` the message queued last will get (queued messages take
    /// their `Ns` in order as the window opens); it has been sent once
    /// `seq_lt(ns, next_ns())`.
    pub fn last_queued_ns(&self) -> u16 {
        self.next_ns
            .wrapping_add(self.queue.len() as u16)
            .wrapping_sub(1)
    }

    /// The event counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Start both sequence spaces elsewhere than 0 (wraparound tests).
    #[cfg(test)]
    fn with_seq(mut self, ns: u16, nr: u16) -> Self {
        self.snd_una = ns;
        self.next_ns = ns;
        self.rcv_nxt = nr;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fake clock's origin; tests move time by adding Durations to it.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    type R = Reliable<u32>;

    /// An owned copy of a [`Transmit`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Pkt {
        ns: u16,
        nr: u16,
        payload: Option<u32>,
        retransmit: bool,
    }

    impl From<Transmit<'_, u32>> for Pkt {
        fn from(t: Transmit<'_, u32>) -> Self {
            Pkt {
                ns: t.ns,
                nr: t.nr,
                payload: t.payload.copied(),
                retransmit: t.retransmit,
            }
        }
    }

    fn tx(r: &mut R, now: Instant) -> Option<Pkt> {
        r.poll_transmit(now).map(Pkt::from)
    }

    fn drain(r: &mut R, now: Instant) -> Vec<Pkt> {
        std::iter::from_fn(|| tx(r, now)).collect()
    }

    fn rx(r: &mut R, now: Instant, p: Pkt) -> Received<u32> {
        r.on_receive(now, p.ns, p.nr, p.payload)
    }

    fn zlb(ns: u16, nr: u16) -> Pkt {
        Pkt {
            ns,
            nr,
            payload: None,
            retransmit: false,
        }
    }

    fn no_slow_start() -> ReliableConfig {
        ReliableConfig {
            slow_start: false,
            ..ReliableConfig::default()
        }
    }

    /// A peer mid-conversation (Ns/Nr far from 0) and a resumed transport
    /// that knows neither: silent until the peer speaks, then in step.
    #[test]
    fn resumed_transport_resynchronises_from_the_peer() {
        let t = t0();
        let mut peer = R::new(no_slow_start()).with_seq(700, 300);
        let mut us = R::resume(no_slow_start(), 8, t + Duration::from_secs(60));
        assert!(us.is_resyncing());
        us.send(1); // e.g. a CDN queued while resynchronising
        assert_eq!(drain(&mut us, t), vec![], "nothing before the peer speaks");
        assert_eq!(us.poll_timeout(), Some(t + Duration::from_secs(60)));
        // The peer's HELLO (Ns 700, Nr 300) is delivered and resyncs us.
        peer.send(42);
        let hello = drain(&mut peer, t);
        assert_eq!(hello.len(), 1);
        assert!(matches!(rx(&mut us, t, hello[0]), Received::Delivered(v) if v == vec![42]));
        assert!(!us.is_resyncing());
        assert_eq!((us.nr(), us.next_ns()), (701, 300));
        // Our queued message goes out with the Ns the peer expects, and
        // acknowledges the HELLO.
        let out = drain(&mut us, t);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].ns, out[0].nr, out[0].payload), (300, 701, Some(1)));
        assert!(matches!(rx(&mut peer, t, out[0]), Received::Delivered(v) if v == vec![1]));
        let later = t + Duration::from_secs(1);
        let ack = drain(&mut peer, later);
        assert_eq!(ack, vec![zlb(701, 301)]);
        assert!(matches!(rx(&mut us, later, ack[0]), Received::AckOnly));
        assert_eq!(us.in_flight(), 0);
        assert_eq!(us.counters().resyncs, 1);
        assert_eq!(
            peer.counters().duplicates + peer.counters().out_of_window,
            0
        );
    }

    /// A silent peer: after the bound our probe goes out with a guessed
    /// Ns; the peer acknowledges it (a duplicate to it), which resyncs us,
    /// and the message is re-sent with the right Ns.
    #[test]
    fn resumed_transport_probes_after_the_bound() {
        let t = t0();
        let probe_at = t + Duration::from_secs(60);
        let mut peer = R::new(no_slow_start()).with_seq(9, 400);
        let mut us = R::resume(no_slow_start(), 4, probe_at);
        us.send(5);
        assert_eq!(drain(&mut us, probe_at - Duration::from_millis(1)), vec![]);
        let probe = drain(&mut us, probe_at);
        assert_eq!(probe.len(), 1);
        assert_eq!((probe[0].ns, probe[0].nr), (0, 0));
        assert!(matches!(
            rx(&mut peer, probe_at, probe[0]),
            Received::Duplicate
        ));
        let later = probe_at + Duration::from_secs(1);
        let ack = drain(&mut peer, later);
        assert_eq!(ack, vec![zlb(9, 400)]);
        rx(&mut us, later, ack[0]);
        assert!(!us.is_resyncing());
        let again = drain(&mut us, later);
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].ns, again[0].nr, again[0].payload),
            (400, 9, Some(5))
        );
        assert!(matches!(rx(&mut peer, later, again[0]), Received::Delivered(v) if v == vec![5]));
    }

    // ---- sequence arithmetic -------------------------------------------

    #[test]
    fn clear_queue_stops_retransmissions_but_keeps_acking() {
        let t = t0();
        let mut a = R::new(ReliableConfig::default());
        for i in 0..6 {
            a.send(i);
        }
        // Peer window 4, slow start: one message goes out.
        assert_eq!(drain(&mut a, t).len(), 1);
        a.clear_queue();
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.queued(), 0);
        assert_eq!(a.poll_timeout(), None, "no retransmission timer");
        a.handle_timeout(t + ms(60_000));
        assert!(drain(&mut a, t + ms(60_000)).is_empty(), "nothing re-sent");
        // A message from the peer (its StopCCN, say) is still delivered and
        // acknowledged by a ZLB carrying Ns = the next new Ns.
        let got = a.on_receive(t + ms(60_000), 0, 0, Some(99));
        assert_eq!(got, Received::Delivered(vec![99]));
        let acks = drain(&mut a, t + ms(60_100));
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].ns, acks[0].nr, acks[0].payload), (1, 1, None));
        assert!(a.is_idle());
        // A late ACK for the dropped message is harmless.
        let before = *a.counters();
        a.on_receive(t + ms(60_200), 1, 1, None);
        assert_eq!(a.counters().invalid_nr, before.invalid_nr);
        assert_eq!(a.counters().stale_nr, before.stale_nr);
        assert!(a.is_idle());
    }

    #[test]
    fn seq_le_matches_rfc_example() {
        // §5.8: last received 15 -> 0..=15 and 32784..=65535 are "<=".
        for v in 0..=u16::MAX {
            let expect = v <= 15 || v >= 32784;
            assert_eq!(seq_le(v, 15), expect, "{v}");
        }
    }

    #[test]
    fn seq_compare_wraps() {
        assert!(seq_lt(65535, 0));
        assert!(seq_gt(0, 65535));
        assert!(seq_lt(65000, 10));
        assert!(!seq_lt(10, 65000));
        assert!(!seq_lt(7, 7) && seq_le(7, 7));
        for (a, b) in [(0u16, 1u16), (65535, 0), (40000, 50000), (100, 32866)] {
            assert!(seq_lt(a, b) && !seq_lt(b, a) && seq_gt(b, a), "{a} {b}");
        }
        // Exactly half the space apart: neither is less.
        assert!(!seq_lt(0, 32768) && !seq_lt(32768, 0));
    }

    // ---- Appendix B golden traces ----------------------------------------

    /// B.1 lock-step establishment, with the default 100 ms ack delay.
    /// Returns (LAC, LNS) in the state the exchange leaves them.
    fn appendix_b1(cfg: ReliableConfig, t: Instant) -> (R, R) {
        let mut lac = R::new(cfg.clone());
        let mut lns = R::new(cfg.clone());
        const SCCRQ: u32 = 1;
        const SCCRP: u32 = 2;
        const SCCCN: u32 = 3;

        lac.send(SCCRQ);
        let p = tx(&mut lac, t).unwrap();
        assert_eq!((p.nr, p.ns, p.payload), (0, 0, Some(SCCRQ)));
        assert_eq!(rx(&mut lns, t, p), Received::Delivered(vec![SCCRQ]));
        lns.send(SCCRP);
        let p = tx(&mut lns, t).unwrap();
        assert_eq!((p.nr, p.ns, p.payload), (1, 0, Some(SCCRP)));
        assert_eq!(tx(&mut lns, t), None);
        assert_eq!(rx(&mut lac, t, p), Received::Delivered(vec![SCCRP]));
        lac.send(SCCCN);
        let p = tx(&mut lac, t).unwrap();
        assert_eq!((p.nr, p.ns, p.payload), (1, 1, Some(SCCCN)));
        assert_eq!(rx(&mut lns, t, p), Received::Delivered(vec![SCCCN]));
        // Nothing to piggyback on: the ZLB waits for the ack delay.
        if !cfg.ack_delay.is_zero() {
            assert_eq!(tx(&mut lns, t), None);
        }
        let due = t + cfg.ack_delay;
        assert_eq!(lns.poll_timeout(), Some(due));
        let p = tx(&mut lns, due).unwrap();
        assert_eq!(p, zlb(1, 2));
        assert_eq!(rx(&mut lac, due, p), Received::AckOnly);
        assert!(lac.is_idle() && lns.is_idle());
        assert_eq!(lac.poll_timeout(), None);
        assert_eq!(lns.poll_timeout(), None);
        (lac, lns)
    }

    #[test]
    fn appendix_b1_lockstep_establishment() {
        let t = t0();
        let (lac, lns) = appendix_b1(ReliableConfig::default(), t);
        assert_eq!((lac.next_ns(), lac.nr()), (2, 1));
        assert_eq!((lns.next_ns(), lns.nr()), (1, 2));
        assert_eq!(lns.counters().zlb_sent, 1);
        assert_eq!(lac.counters().zlb_sent, 0);
    }

    /// B.2 lost packet with retransmission. The RFC's trace acknowledges the
    /// duplicate ICRQ with a ZLB before the LNS's own timer fires, which
    /// needs acknowledgements sent at once: ack_delay 0.
    #[test]
    fn appendix_b2_lost_packet_with_retransmission() {
        let cfg = ReliableConfig {
            ack_delay: Duration::ZERO,
            ..ReliableConfig::default()
        };
        let t = t0();
        let (mut lac, mut lns) = appendix_b1(cfg, t);
        const ICRQ: u32 = 10;
        const ICRP: u32 = 11;
        const ICCN: u32 = 12;

        let t1 = t + ms(10_000);
        lac.send(ICRQ);
        let p = tx(&mut lac, t1).unwrap();
        assert_eq!((p.nr, p.ns, p.payload), (1, 2, Some(ICRQ)));
        let t2 = t1 + ms(10);
        assert_eq!(rx(&mut lns, t2, p), Received::Delivered(vec![ICRQ]));
        lns.send(ICRP);
        let lost = tx(&mut lns, t2).unwrap();
        assert_eq!((lost.nr, lost.ns, lost.payload), (3, 1, Some(ICRP)));
        assert_eq!(tx(&mut lns, t2), None);

        // The LAC's timer started first, so fires first.
        let fire = lac.poll_timeout().unwrap();
        assert_eq!(fire, t1 + ms(1000));
        assert!(fire < lns.poll_timeout().unwrap());
        lac.handle_timeout(fire);
        let p = tx(&mut lac, fire).unwrap();
        assert_eq!(
            (p.nr, p.ns, p.payload, p.retransmit),
            (1, 2, Some(ICRQ), true)
        );
        // The LNS has seen it: discards it and sends a ZLB.
        let t3 = fire + ms(1);
        assert_eq!(rx(&mut lns, t3, p), Received::Duplicate);
        let p = tx(&mut lns, t3).unwrap();
        assert_eq!(p, zlb(2, 3));
        assert_eq!(rx(&mut lac, t3, p), Received::AckOnly);
        assert_eq!(lac.in_flight(), 0);

        // The LNS's retransmit timer fires.
        let fire = lns.poll_timeout().unwrap();
        assert_eq!(fire, t2 + ms(1000));
        lns.handle_timeout(fire);
        let p = tx(&mut lns, fire).unwrap();
        assert_eq!(
            (p.nr, p.ns, p.payload, p.retransmit),
            (3, 1, Some(ICRP), true)
        );
        assert_eq!(rx(&mut lac, fire, p), Received::Delivered(vec![ICRP]));
        lac.send(ICCN);
        let p = tx(&mut lac, fire).unwrap();
        assert_eq!((p.nr, p.ns, p.payload), (2, 3, Some(ICCN)));
        assert_eq!(rx(&mut lns, fire, p), Received::Delivered(vec![ICCN]));
        let p = tx(&mut lns, fire).unwrap();
        assert_eq!(p, zlb(2, 4));
        assert_eq!(rx(&mut lac, fire, p), Received::AckOnly);
        assert!(lac.is_idle() && lns.is_idle());
        assert_eq!(lns.counters().duplicates, 1);
        assert_eq!(lac.counters().retransmits, 1);
        assert_eq!(lns.counters().retransmits, 1);
    }

    // ---- acknowledgements ------------------------------------------------

    #[test]
    fn zlb_only_after_ack_delay() {
        let t = t0();
        let mut a = R::new(ReliableConfig::default());
        let mut b = R::new(ReliableConfig::default());
        a.send(7);
        let p = tx(&mut a, t).unwrap();
        assert_eq!(rx(&mut b, t, p), Received::Delivered(vec![7]));
        assert!(!b.is_idle());
        assert_eq!(b.poll_timeout(), Some(t + ms(100)));
        assert_eq!(tx(&mut b, t + ms(99)), None);
        assert_eq!(tx(&mut b, t + ms(100)), Some(zlb(0, 1)));
        assert_eq!(tx(&mut b, t + ms(100)), None);
        assert_eq!(b.poll_timeout(), None);
        assert!(b.is_idle());
        // The ZLB takes no sequence slot.
        assert_eq!(b.next_ns(), 0);
        assert_eq!(b.counters().zlb_sent, 1);
    }

    /// A receiver advertising `our_rws`, and `n` messages a sender put on
    /// the wire at `t` in one burst (its window opened to `n`).
    fn receiver_and_burst(our_rws: u16, n: u32, t: Instant) -> (R, Vec<Pkt>) {
        let mut a = R::new(no_slow_start());
        let _ = a.set_peer_rws(n as u16);
        for m in 0..n {
            a.send(m);
        }
        let b = R::new(ReliableConfig {
            our_rws,
            ..no_slow_start()
        });
        (b, drain(&mut a, t))
    }

    /// A burst with nothing to answer it: the fourth message of an 8-wide
    /// window makes the ZLB due at once, and the count starts over.
    #[test]
    fn half_our_window_unacknowledged_acks_at_once() {
        let t = t0();
        let (mut b, burst) = receiver_and_burst(8, 8, t);
        assert_eq!(burst.len(), 8);
        for p in &burst[..3] {
            rx(&mut b, t, *p);
        }
        assert_eq!(b.poll_timeout(), Some(t + ms(100)));
        assert_eq!(tx(&mut b, t), None);
        rx(&mut b, t, burst[3]);
        assert_eq!(b.poll_timeout(), Some(t));
        assert_eq!(tx(&mut b, t), Some(zlb(0, 4)));
        // Three more wait for the delay again; the fourth is due at once.
        for p in &burst[4..7] {
            rx(&mut b, t + ms(1), *p);
        }
        assert_eq!(b.poll_timeout(), Some(t + ms(101)));
        rx(&mut b, t + ms(2), burst[7]);
        assert_eq!(tx(&mut b, t + ms(2)), Some(zlb(0, 8)));
        assert_eq!(b.counters().zlb_sent, 2);
    }

    /// A message of ours carries the acknowledgement and restarts the
    /// count, so replies keep the ZLBs away.
    #[test]
    fn a_reply_restarts_the_half_window_count() {
        let t = t0();
        let (mut b, burst) = receiver_and_burst(4, 3, t);
        rx(&mut b, t, burst[0]);
        b.send(100);
        assert_eq!(
            tx(&mut b, t).map(|p| (p.nr, p.payload)),
            Some((1, Some(100)))
        );
        rx(&mut b, t, burst[1]);
        assert_eq!(b.poll_timeout(), Some(t + ms(100)), "one since the reply");
        rx(&mut b, t, burst[2]);
        assert_eq!(tx(&mut b, t), Some(zlb(1, 3)));
    }

    #[test]
    fn reply_piggybacks_ack_and_cancels_zlb() {
        let t = t0();
        let mut a = R::new(ReliableConfig::default());
        let mut b = R::new(ReliableConfig::default());
        a.send(1);
        let p = tx(&mut a, t).unwrap();
        rx(&mut b, t, p);
        b.send(100);
        let reply = tx(&mut b, t + ms(20)).unwrap();
        assert_eq!((reply.ns, reply.nr, reply.payload), (0, 1, Some(100)));
        // Only the retransmission timer is left; no ZLB ever goes out.
        assert_eq!(b.poll_timeout(), Some(t + ms(1020)));
        assert_eq!(tx(&mut b, t + ms(500)), None);
        assert_eq!(b.counters().zlb_sent, 0);
        assert_eq!(
            rx(&mut a, t + ms(30), reply),
            Received::Delivered(vec![100])
        );
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn duplicates_are_reacknowledged() {
        let t = t0();
        let mut a = R::new(ReliableConfig::default());
        let mut b = R::new(ReliableConfig::default());
        a.send(5);
        let p = tx(&mut a, t).unwrap();
        rx(&mut b, t, p);
        let lost_ack = tx(&mut b, t + ms(100)).unwrap();
        assert!(lost_ack.payload.is_none());
        // The ZLB is lost; A retransmits after 1 s.
        let fire = t + ms(1000);
        assert_eq!(a.poll_timeout(), Some(fire));
        a.handle_timeout(fire);
        let again = tx(&mut a, fire).unwrap();
        assert_eq!((again.ns, again.retransmit), (0, true));
        assert_eq!(rx(&mut b, fire, again), Received::Duplicate);
        let ack = tx(&mut b, fire + ms(100)).unwrap();
        assert_eq!(ack, zlb(0, 1));
        rx(&mut a, fire + ms(100), ack);
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(b.counters().duplicates, 1);
        assert_eq!(b.counters().delivered, 1);
    }

    #[test]
    fn nr_sanity_checks() {
        let t = t0();
        let mut a = R::new(no_slow_start());
        a.send(1);
        a.send(2);
        assert_eq!(drain(&mut a, t).len(), 2);
        // Beyond what was sent: ignored.
        assert_eq!(a.on_receive(t, 0, 3, None), Received::AckOnly);
        assert_eq!((a.in_flight(), a.counters().invalid_nr), (2, 1));
        a.on_receive(t, 0, 1, None);
        assert_eq!(a.in_flight(), 1);
        // Older than what is acknowledged (a reordered ack): ignored.
        a.on_receive(t, 0, 0, None);
        assert_eq!((a.in_flight(), a.counters().stale_nr), (1, 1));
        // Acknowledging nothing new is the normal case, not counted.
        a.on_receive(t, 0, 1, None);
        assert_eq!(a.counters().stale_nr + a.counters().invalid_nr, 2);
        a.on_receive(t, 0, 2, None);
        assert!(a.is_idle());
        // A ZLB's Ns is ignored and moves nothing.
        assert_eq!(a.on_receive(t, 999, 2, None), Received::AckOnly);
        assert_eq!(a.nr(), 0);
    }

    // ---- receive window and ordering --------------------------------------

    #[test]
    fn holds_reordered_messages_inside_our_window() {
        let t = t0();
        let mut b = R::new(ReliableConfig {
            our_rws: 4,
            ..ReliableConfig::default()
        });
        let m = |ns: u16| Some(u32::from(ns));
        assert_eq!(b.on_receive(t, 5, 0, m(5)), Received::OutOfWindow);
        assert_eq!(b.on_receive(t, 4, 0, m(4)), Received::OutOfWindow);
        assert_eq!(b.on_receive(t, 3, 0, m(3)), Received::Held);
        assert_eq!(b.on_receive(t, 3, 0, m(3)), Received::Duplicate);
        assert_eq!(b.on_receive(t, 1, 0, m(1)), Received::Held);
        assert_eq!(b.nr(), 0);
        assert_eq!(b.on_receive(t, 0, 0, m(0)), Received::Delivered(vec![0, 1]));
        assert_eq!(b.nr(), 2);
        assert_eq!(b.on_receive(t, 2, 0, m(2)), Received::Delivered(vec![2, 3]));
        assert_eq!(b.nr(), 4);
        assert_eq!(b.on_receive(t, 0, 0, m(0)), Received::Duplicate);
        // The window slid: 4..=7 are now acceptable.
        assert_eq!(b.on_receive(t, 7, 0, m(7)), Received::Held);
        assert_eq!(b.on_receive(t, 8, 0, m(8)), Received::OutOfWindow);
        let c = b.counters();
        assert_eq!(
            (c.out_of_window, c.duplicates, c.held, c.delivered),
            (3, 2, 3, 4)
        );
        // Every one of them is acknowledged (one coalesced ZLB).
        assert_eq!(drain(&mut b, t + ms(100)), vec![zlb(0, 4)]);
    }

    // ---- send window and congestion control --------------------------------

    #[test]
    fn peer_window_defaults_to_four() {
        let t = t0();
        let mut a = R::new(no_slow_start());
        assert_eq!(a.peer_rws(), DEFAULT_PEER_RWS);
        for i in 0..10 {
            a.send(i);
        }
        let sent = drain(&mut a, t);
        assert_eq!(
            sent.iter().map(|p| p.ns).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!((a.in_flight(), a.queued()), (4, 6));
        a.on_receive(t, 0, 2, None);
        let sent = drain(&mut a, t);
        assert_eq!(sent.iter().map(|p| p.ns).collect::<Vec<_>>(), vec![4, 5]);
        // A smaller window from the peer holds new messages back until the
        // in-flight count drops under it.
        assert_eq!(a.set_peer_rws(0), Err(ZeroWindow));
        a.set_peer_rws(2).unwrap();
        assert!(drain(&mut a, t).is_empty());
        a.on_receive(t, 0, 5, None);
        assert_eq!(a.in_flight(), 1);
        assert_eq!(drain(&mut a, t).len(), 1);
        assert_eq!(a.in_flight(), 2);
    }

    #[test]
    fn slow_start_and_congestion_avoidance() {
        let t = t0();
        let mut a = R::new(ReliableConfig::default());
        a.set_peer_rws(6).unwrap();
        for i in 0..100 {
            a.send(i);
        }
        let mut acked: u16 = 0;
        /// Send what the window allows, then acknowledge it with one ACK or
        /// one ACK per message; returns (sent, new send window).
        fn round(a: &mut R, acked: &mut u16, t: Instant, per_msg_acks: bool) -> (usize, u16) {
            let n = drain(a, t).len();
            if per_msg_acks {
                for _ in 0..n {
                    *acked += 1;
                    a.on_receive(t, 0, *acked, None);
                }
            } else {
                *acked += n as u16;
                a.on_receive(t, 0, *acked, None);
            }
            (n, a.send_window())
        }
        // Slow start: one ACK per round, cwnd +1 per ACK.
        assert_eq!(a.send_window(), 1);
        assert_eq!(round(&mut a, &mut acked, t, false), (1, 2));
        assert_eq!(round(&mut a, &mut acked, t, false), (2, 3));
        // One ACK per message doubles per round, up to ssthresh = 6.
        assert_eq!(round(&mut a, &mut acked, t, true), (3, 6));
        // Capped by the peer's window.
        assert_eq!(round(&mut a, &mut acked, t, true), (6, 6));
        // Timeout: ssthresh = 3, cwnd = 1.
        drain(&mut a, t);
        assert_eq!(a.in_flight(), 6);
        a.handle_timeout(t + ms(1000));
        assert_eq!(a.send_window(), 1);
        let p = drain(&mut a, t + ms(1000));
        assert_eq!(p.len(), 1);
        assert!(p[0].retransmit);
        assert_eq!(p[0].ns, acked);
        // The peer held the rest: one ACK covers everything; slow start
        // grows to ssthresh = 3, then congestion avoidance adds one per cwnd
        // ACKs.
        acked += 6;
        a.on_receive(t, 0, acked, None);
        assert_eq!(a.send_window(), 2);
        assert_eq!(round(&mut a, &mut acked, t, true), (2, 3));
        // cwnd = 3 = ssthresh: the third ACK since then adds one.
        assert_eq!(round(&mut a, &mut acked, t, false), (3, 3));
        assert_eq!(round(&mut a, &mut acked, t, false), (3, 4));
        // Four ACKs at cwnd 4: one more.
        assert_eq!(round(&mut a, &mut acked, t, true), (4, 5));
        assert_eq!(round(&mut a, &mut acked, t, false), (5, 5));
    }

    #[test]
    fn timeout_goes_back_n_within_window() {
        let t = t0();
        let mut a = R::new(no_slow_start());
        for i in 0..3 {
            a.send(i);
        }
        assert_eq!(drain(&mut a, t).len(), 3);
        a.on_receive(t + ms(10), 0, 0, Some(42));
        a.handle_timeout(t + ms(1000));
        let again = drain(&mut a, t + ms(1000));
        assert_eq!(
            again
                .iter()
                .map(|p| (p.ns, p.nr, p.retransmit))
                .collect::<Vec<_>>(),
            vec![(0, 1, true), (1, 1, true), (2, 1, true)]
        );
        assert_eq!(
            again.iter().map(|p| p.payload).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(2)]
        );
    }

    // ---- retransmission timer ----------------------------------------------

    /// Send one message into a void; return the retransmission times (as
    /// offsets from the first send) and when the channel failed.
    fn into_the_void(cfg: ReliableConfig) -> (Vec<Duration>, Duration) {
        let t = t0();
        let mut a = R::new(cfg);
        a.send(1);
        let first = tx(&mut a, t).unwrap();
        let mut times = Vec::new();
        while let Some(at) = a.poll_timeout() {
            a.handle_timeout(at);
            if a.is_failed() {
                assert_eq!(a.poll_timeout(), None);
                assert_eq!(tx(&mut a, at), None);
                assert_eq!(a.on_receive(at, 0, 1, Some(3)), Received::Failed);
                assert!(!a.is_idle());
                return (times, at - t);
            }
            let p = drain(&mut a, at);
            assert_eq!(p.len(), 1);
            assert_eq!(
                (p[0].ns, p[0].payload, p[0].retransmit),
                (first.ns, Some(1), true)
            );
            times.push(at - t);
        }
        unreachable!("never failed");
    }

    #[test]
    fn backoff_doubles_to_cap_then_fails() {
        let (times, failed) = into_the_void(ReliableConfig::default());
        let s = Duration::from_secs;
        assert_eq!(times, vec![s(1), s(3), s(7), s(15), s(23)]);
        let gaps: Vec<_> = std::iter::once(times[0])
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .collect();
        assert_eq!(gaps, vec![s(1), s(2), s(4), s(8), s(8)]);
        // One more full cap after the fifth retransmission: 31 s in all.
        assert_eq!(failed, s(31));
    }

    #[test]
    fn retry_budget_and_cap_are_configurable() {
        let s = Duration::from_secs;
        let (times, failed) = into_the_void(ReliableConfig {
            max_retries: 2,
            ..ReliableConfig::default()
        });
        assert_eq!((times, failed), (vec![s(1), s(3)], s(7)));
        let (times, failed) = into_the_void(ReliableConfig {
            max_retries: 7,
            max_rto: s(16),
            ..ReliableConfig::default()
        });
        assert_eq!(times, vec![s(1), s(3), s(7), s(15), s(31), s(47), s(63)]);
        assert_eq!(failed, s(79));
        // A cap under 8 s is raised to 8 s (§5.8 MUST).
        let r = R::new(ReliableConfig {
            max_rto: s(2),
            our_rws: 0,
            ..ReliableConfig::default()
        });
        assert_eq!((r.config().max_rto, r.config().our_rws), (s(8), 1));
    }

    #[test]
    fn retransmission_carries_current_nr_and_progress_resets_backoff() {
        let t = t0();
        let mut a = R::new(no_slow_start());
        a.send(1);
        a.send(2);
        drain(&mut a, t);
        let s = Duration::from_secs;
        a.handle_timeout(t + s(1));
        drain(&mut a, t + s(1));
        // The peer sends something (acking nothing): our Nr moves to 1.
        a.on_receive(t + s(2), 0, 0, Some(9));
        a.handle_timeout(t + s(3));
        let p = drain(&mut a, t + s(3));
        assert_eq!(
            p.iter().map(|p| (p.ns, p.nr)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 1)]
        );
        // Progress: the timer restarts at the initial 1 s.
        a.on_receive(t + s(4), 1, 1, Some(10));
        assert_eq!(a.poll_timeout(), Some(t + s(4) + ms(100)));
        assert_eq!(drain(&mut a, t + s(4) + ms(100)), vec![zlb(2, 2)]);
        assert_eq!(a.poll_timeout(), Some(t + s(5)));
        a.handle_timeout(t + s(5));
        let p = drain(&mut a, t + s(5));
        assert_eq!(
            p.iter().map(|p| (p.ns, p.nr)).collect::<Vec<_>>(),
            vec![(1, 2)]
        );
        assert_eq!(a.poll_timeout(), Some(t + s(7)));
    }

    // ---- wraparound ----------------------------------------------------------

    #[test]
    fn sequence_numbers_wrap() {
        let t = t0();
        let mut a = R::new(no_slow_start()).with_seq(65534, 65533);
        let mut b = R::new(no_slow_start()).with_seq(65533, 65534);
        for i in 0..6 {
            a.send(i);
            b.send(100 + i);
        }
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        let mut ns_a = Vec::new();
        for _ in 0..4 {
            for p in drain(&mut a, t) {
                ns_a.push(p.ns);
                if let Received::Delivered(m) = rx(&mut b, t, p) {
                    got_b.extend(m);
                }
            }
            for p in drain(&mut b, t) {
                if let Received::Delivered(m) = rx(&mut a, t, p) {
                    got_a.extend(m);
                }
            }
        }
        // The last acknowledgements go out as ZLBs.
        let later = t + ms(100);
        for p in drain(&mut a, later) {
            assert_eq!(rx(&mut b, later, p), Received::AckOnly);
        }
        for p in drain(&mut b, later) {
            assert_eq!(rx(&mut a, later, p), Received::AckOnly);
        }
        assert_eq!(ns_a, vec![65534, 65535, 0, 1, 2, 3]);
        assert_eq!(got_b, (0..6).collect::<Vec<_>>());
        assert_eq!(got_a, (100..106).collect::<Vec<_>>());
        assert_eq!((a.next_ns(), a.nr(), b.next_ns(), b.nr()), (4, 3, 3, 4));
        assert_eq!(a.in_flight() + b.in_flight(), 0);
    }

    #[test]
    fn full_sequence_cycle_lossless() {
        let out = simulate(&Params {
            seed: 1,
            loss: 0,
            dup: 0,
            reorder: 0,
            reply: 0,
            n: [70_000, 0],
            span_ms: 60_000,
            cfg: [ReliableConfig::default(), ReliableConfig::default()],
            start_ns: [0, 0],
            blackout: None,
        });
        assert_eq!(out.delivered, [0, 70_000]);
        assert_eq!(out.failed, [None, None]);
        assert_eq!(out.counters[0].retransmits, 0);
    }

    // ---- two endpoints over a lossy network ----------------------------------

    /// SplitMix64: a tiny seeded generator for the network model.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pct(&mut self, p: u32) -> bool {
            self.below(100) < u64::from(p)
        }
    }

    #[derive(Debug, Clone)]
    struct Params {
        seed: u64,
        /// Per-packet loss, percent.
        loss: u32,
        /// Per-packet duplication, percent.
        dup: u32,
        /// Per-packet extra delay of up to 1.5 s (reordering, spurious
        /// retransmissions), percent.
        reorder: u32,
        /// Chance that delivering a message makes the receiver send one.
        reply: u32,
        /// Messages each side's application sends on its own schedule.
        n: [u32; 2],
        /// The schedule spreads them over this many milliseconds.
        span_ms: u64,
        cfg: [ReliableConfig; 2],
        /// Each side's first Ns.
        start_ns: [u16; 2],
        /// From this many milliseconds on, every packet to the sides marked
        /// `true` is lost (a dead link or a dead peer).
        blackout: Option<(u64, [bool; 2])>,
    }

    struct Outcome {
        /// Messages each side delivered (always exactly 0, 1, 2, ... in order).
        delivered: [u32; 2],
        /// Messages each side's application sent.
        sent: [u32; 2],
        failed: [Option<Duration>; 2],
        counters: [Counters; 2],
        idle: [bool; 2],
    }

    /// The network: packets in the air, with their arrival time.
    struct Net {
        rng: Rng,
        air: Vec<(Instant, u64, usize, Pkt)>,
        seq: u64,
        loss: u32,
        dup: u32,
        reorder: u32,
        blackout: Option<(Instant, [bool; 2])>,
    }

    impl Net {
        fn carry(&mut self, now: Instant, dst: usize, p: Pkt) {
            let copies = if self.rng.pct(self.dup) { 2 } else { 1 };
            if self
                .blackout
                .is_some_and(|(at, dead)| now >= at && dead[dst])
            {
                return;
            }
            for _ in 0..copies {
                if self.rng.pct(self.loss) {
                    continue;
                }
                let mut delay = 5 + self.rng.below(50);
                if self.rng.pct(self.reorder) {
                    delay += self.rng.below(1500);
                }
                self.seq += 1;
                self.air.push((now + ms(delay), self.seq, dst, p));
            }
        }

        /// The earliest packet due by `now`, in arrival order.
        fn due(&mut self, now: Instant) -> Option<(usize, Pkt)> {
            let (i, _) = self
                .air
                .iter()
                .enumerate()
                .filter(|(_, e)| e.0 <= now)
                .min_by_key(|(_, e)| (e.0, e.1))?;
            let (_, _, dst, p) = self.air.swap_remove(i);
            Some((dst, p))
        }
    }

    /// Sum of the retransmission intervals before a channel gives up.
    fn retry_cycle(cfg: &ReliableConfig) -> Duration {
        let mut rto = cfg.initial_rto;
        let mut total = Duration::ZERO;
        for _ in 0..=cfg.max_retries {
            total += rto;
            rto = (rto * 2).min(cfg.max_rto);
        }
        total
    }

    struct Side {
        r: R,
        start_ns: u16,
        next_id: u32,
        delivered: u32,
        /// When the retransmission timer last (re)started from outside view.
        timer_start: Option<Instant>,
        failed: Option<Instant>,
    }

    impl Side {
        /// Drain transmissions into the network, checking the sender's
        /// invariants on each.
        fn flush(&mut self, now: Instant, me: usize, net: &mut Net) {
            loop {
                let was_in_flight = self.r.in_flight();
                let Some(p) = tx(&mut self.r, now) else { break };
                assert!(!self.r.is_failed());
                assert_eq!(
                    p.nr,
                    self.r.nr(),
                    "every transmission carries the current Nr"
                );
                let window = usize::from(self.r.send_window());
                assert!(window <= usize::from(self.r.peer_rws()));
                match p.payload {
                    None => assert_eq!(p.ns, self.r.next_ns(), "ZLB Ns is the next Ns"),
                    Some(id) => {
                        // Each message keeps the Ns it was first sent with.
                        assert_eq!(p.ns.wrapping_sub(self.start_ns), id as u16);
                        let snd_una = self.r.next_ns().wrapping_sub(self.r.in_flight() as u16);
                        let index = usize::from(p.ns.wrapping_sub(snd_una));
                        assert!(index < window, "sent outside the window");
                        if !p.retransmit {
                            assert!(self.r.in_flight() <= window);
                        }
                        if was_in_flight == 0 {
                            self.timer_start = Some(now);
                        }
                    }
                }
                net.carry(now, 1 - me, p);
            }
        }
    }

    fn simulate(p: &Params) -> Outcome {
        let t = t0();
        let mut net = Net {
            rng: Rng(p.seed),
            air: Vec::new(),
            seq: 0,
            loss: p.loss,
            dup: p.dup,
            reorder: p.reorder,
            blackout: p.blackout.map(|(after, dead)| (t + ms(after), dead)),
        };
        let mut sides = [0, 1].map(|i| {
            let r = R::new(p.cfg[i].clone()).with_seq(p.start_ns[i], p.start_ns[1 - i]);
            Side {
                r,
                start_ns: p.start_ns[i],
                next_id: 0,
                delivered: 0,
                timer_start: None,
                failed: None,
            }
        });
        for i in 0..2 {
            let rws = sides[1 - i].r.config().our_rws;
            sides[i].r.set_peer_rws(rws).unwrap();
        }
        let mut schedule = [0, 1].map(|i| {
            let mut v: Vec<Instant> = (0..p.n[i])
                .map(|_| t + ms(net.rng.below(p.span_ms.max(1))))
                .collect();
            v.sort();
            std::collections::VecDeque::from(v)
        });

        let mut now = t;
        for step in 0.. {
            assert!(step < 5_000_000, "simulation does not terminate");
            let next = [
                schedule[0].front().copied(),
                schedule[1].front().copied(),
                sides[0].r.poll_timeout(),
                sides[1].r.poll_timeout(),
                net.air.iter().map(|e| e.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            now = now.max(next);

            for (i, side) in sides.iter_mut().enumerate() {
                while schedule[i].front().is_some_and(|&at| at <= now) {
                    schedule[i].pop_front();
                    side.r.send(side.next_id);
                    side.next_id += 1;
                }
            }
            while let Some((dst, pkt)) = net.due(now) {
                let side = &mut sides[dst];
                let before = side.r.in_flight();
                let res = rx(&mut side.r, now, pkt);
                if side.failed.is_some() {
                    assert_eq!(res, Received::Failed);
                }
                if side.r.in_flight() < before {
                    side.timer_start = Some(now);
                }
                if let Received::Delivered(msgs) = res {
                    for m in msgs {
                        assert_eq!(m, side.delivered, "in order, exactly once");
                        side.delivered += 1;
                        if net.rng.pct(p.reply) {
                            side.r.send(side.next_id);
                            side.next_id += 1;
                        }
                    }
                }
                side.flush(now, dst, &mut net);
            }
            for (i, side) in sides.iter_mut().enumerate() {
                if side.r.poll_timeout().is_some_and(|at| at <= now) {
                    side.r.handle_timeout(now);
                    if side.r.is_failed() && side.failed.is_none() {
                        // Failure only after a full retry cycle without
                        // progress, to the instant.
                        let start = side.timer_start.expect("timer was running");
                        assert_eq!(now - start, retry_cycle(side.r.config()));
                        side.failed = Some(now);
                    }
                }
                side.flush(now, i, &mut net);
            }
        }
        Outcome {
            delivered: [sides[0].delivered, sides[1].delivered],
            sent: [sides[0].next_id, sides[1].next_id],
            failed: [0, 1].map(|i| sides[i].failed.map(|f| f - t)),
            counters: [0, 1].map(|i| *sides[i].r.counters()),
            idle: [0, 1].map(|i| sides[i].r.is_idle()),
        }
    }

    fn check(p: &Params, out: &Outcome) {
        for i in 0..2 {
            // The sender respected the receiver's window.
            assert_eq!(out.counters[i].out_of_window, 0);
            assert!(out.delivered[1 - i] <= out.sent[i]);
        }
        if out.failed == [None, None] {
            for i in 0..2 {
                assert_eq!(out.delivered[1 - i], out.sent[i], "all delivered");
                assert!(out.idle[i]);
            }
        } else {
            // With a large retry budget, 30% loss never exhausts it: a side
            // fails only on a small budget of its own, or once its peer
            // has failed (then nobody acknowledges it).
            for i in 0..2 {
                if let Some(at) = out.failed[i] {
                    let peer_failed_first = out.failed[1 - i].is_some_and(|p| p <= at);
                    assert!(
                        p.cfg[i].max_retries < 20 || peer_failed_first,
                        "side {i} failed despite a large retry budget: {:?}",
                        out.failed
                    );
                }
            }
        }
    }

    fn lossy(seed: u64, slow_start: bool, max_retries: u32) -> Params {
        let cfg = |our_rws| ReliableConfig {
            our_rws,
            slow_start,
            max_retries,
            ..ReliableConfig::default()
        };
        Params {
            seed,
            loss: 30,
            dup: 30,
            reorder: 30,
            reply: 30,
            n: [60, 40],
            span_ms: 3_000,
            cfg: [cfg(4), cfg(8)],
            start_ns: [65_500, 65_530],
            blackout: None,
        }
    }

    #[test]
    fn lossy_network_delivers_everything() {
        for seed in 0..8 {
            for slow_start in [true, false] {
                let p = lossy(seed, slow_start, 30);
                let out = simulate(&p);
                check(&p, &out);
                assert_eq!(out.failed, [None, None]);
                assert!(out.counters[0].retransmits > 0 && out.counters[1].duplicates > 0);
            }
        }
    }

    #[test]
    fn dead_peer_fails_cleanly() {
        let mut p = lossy(3, true, 5);
        p.blackout = Some((0, [true, true]));
        let out = simulate(&p);
        assert_eq!(out.delivered, [0, 0]);
        assert!(out.failed[0].is_some() && out.failed[1].is_some());
    }

    fn config_strategy() -> impl Strategy<Value = ReliableConfig> {
        (1u16..=16, any::<bool>(), 5u32..=30, 0u64..=300).prop_map(
            |(our_rws, slow_start, max_retries, ack_delay)| ReliableConfig {
                our_rws,
                slow_start,
                max_retries,
                ack_delay: ms(ack_delay),
                ..ReliableConfig::default()
            },
        )
    }

    fn start_strategy() -> impl Strategy<Value = u16> {
        prop_oneof![Just(0u16), 65_500u16..=65_535, any::<u16>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The link dies (one way or both) part-way through: whatever was
        /// delivered is an in-order prefix, and each side whose messages go
        /// unacknowledged fails exactly one full retry cycle after its last
        /// progress (checked inside `simulate`), then goes quiet.
        #[test]
        fn blackout_fails_cleanly(
            seed in any::<u64>(),
            loss in 0u32..=30,
            n in [1u32..40, 1u32..40],
            cfg in [config_strategy(), config_strategy()],
            start_ns in [start_strategy(), start_strategy()],
            after in 0u64..4_000,
            dead in prop_oneof![Just([true, true]), Just([true, false]), Just([false, true])],
        ) {
            let p = Params {
                seed, loss, dup: loss, reorder: loss, reply: 20, n, span_ms: 5_000, cfg, start_ns,
                blackout: Some((after, dead)),
            };
            let out = simulate(&p);
            for i in 0..2 {
                prop_assert_eq!(out.counters[i].out_of_window, 0);
                prop_assert!(out.delivered[1 - i] <= out.sent[i]);
                // Messages sent towards a dead side after the blackout can
                // never all be acknowledged: that side's peer must fail.
                if dead[1 - i] && out.delivered[1 - i] < out.sent[i] {
                    prop_assert!(out.failed[i].is_some());
                }
                if out.failed[i].is_none() {
                    prop_assert!(out.idle[i]);
                }
            }
        }

        /// Up to 30% loss, duplication and reordering: every message arrives
        /// exactly once and in order, or the channel fails cleanly after the
        /// full retry budget (and never with a budget of 20 or more).
        #[test]
        fn exactly_once_in_order_or_clean_failure(
            seed in any::<u64>(),
            loss in 0u32..=30,
            dup in 0u32..=30,
            reorder in 0u32..=30,
            reply in 0u32..=50,
            n in [0u32..40, 0u32..40],
            span_ms in 0u64..5_000,
            cfg in [config_strategy(), config_strategy()],
            start_ns in [start_strategy(), start_strategy()],
        ) {
            let p = Params { seed, loss, dup, reorder, reply, n, span_ms, cfg, start_ns, blackout: None };
            let out = simulate(&p);
            check(&p, &out);
        }
    }
}
