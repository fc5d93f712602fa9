//! The RFC 1661 §4 option-negotiation automaton, once, generic over a
//! per-protocol [`Negotiator`] (the ppproto shape of ARCHITECTURE §3): LCP,
//! IPCP and IPv6CP differ only in which options they ask for and how they
//! judge the peer's.
//!
//! [`Fsm::event`] is the §4.1 state transition table as one `match (state,
//! event)`, one arm per table cell (holo-routing's shape), with the actions
//! of §4.4 (tlu, tld, tls, tlf, irc, zrc, scr, sca, scn, str, sta, scj, ser).
//! The packet side ([`Fsm::handle_packet`]) turns a received packet into the
//! §4.3 event: RCR+/RCR- after asking the negotiator, RCA/RCN only when the
//! Identifier matches the last Configure-Request sent and no reply to it was
//! seen yet (§5.2–5.4; others are silently discarded), RXJ+/RXJ- from
//! Code-Reject and Protocol-Reject, RUC for codes the protocol does not know.
//!
//! Counters and timer (§4.6): one Restart timer (default 3 s), Max-Terminate
//! (2), Max-Configure (10) and Max-Failure (5). Once Max-Failure
//! Configure-Naks were sent without an Ack in between, the Naks of the
//! peer's options become Rejects and options we would have appended are
//! dropped.
//!
//! Outputs are queued: control-protocol packets (without the PPP header;
//! the caller knows the protocol) via [`Fsm::poll_transmit`], and the
//! This-Layer-Up/Down/Started/Finished signals via
//! [`Fsm::poll_layer_event`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use l2tpx_wire::ppp::cp::{Code, Repr, HEADER_LEN};
use l2tpx_wire::ppp::{ControlProtocol, EmitOption, Protocol, RawOption};

/// The automaton's states (RFC 1661 §4.2), numbered as in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open seen, lower layer down.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: finished (passive), waiting for the peer.
    Stopped,
    /// 4: Terminate-Request sent after Close.
    Closing,
    /// 5: Terminate-Request sent (or acked) without Close.
    Stopping,
    /// 6: Configure-Request sent.
    ReqSent,
    /// 7: Configure-Request sent and acked.
    AckRcvd,
    /// 8: Configure-Request sent, peer's acked.
    AckSent,
    /// 9: both acked.
    Opened,
}

/// The automaton's events (RFC 1661 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Lower layer is Up.
    Up,
    /// Lower layer is Down.
    Down,
    /// Administrative Open.
    Open,
    /// Administrative Close.
    Close,
    /// TO+: Restart timer expired, counter > 0.
    TimeoutPlus,
    /// TO-: Restart timer expired, counter exhausted.
    TimeoutMinus,
    /// RCR+: good Configure-Request.
    RcrPlus,
    /// RCR-: bad Configure-Request.
    RcrMinus,
    /// RCA: Configure-Ack.
    Rca,
    /// RCN: Configure-Nak or Configure-Reject.
    Rcn,
    /// RTR: Terminate-Request.
    Rtr,
    /// RTA: Terminate-Ack.
    Rta,
    /// RUC: unknown code.
    Ruc,
    /// RXJ+: permitted Code-Reject or Protocol-Reject.
    RxjPlus,
    /// RXJ-: catastrophic Code-Reject or Protocol-Reject.
    RxjMinus,
    /// RXR: Echo-Request, Echo-Reply or Discard-Request.
    Rxr,
}

/// Signals to the layer above (RFC 1661 §4.4 tlu/tld/tls/tlf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerEvent {
    /// This-Layer-Up: entering Opened.
    Up,
    /// This-Layer-Down: leaving Opened.
    Down,
    /// This-Layer-Started: the lower layer is needed.
    Started,
    /// This-Layer-Finished: the lower layer is no longer needed.
    Finished,
}

/// Counters and timer of RFC 1661 §4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmConfig {
    /// The Restart timer (SHOULD default to 3 s).
    pub restart_timer: Duration,
    /// Terminate-Requests sent without a Terminate-Ack (default 2).
    pub max_terminate: u32,
    /// Configure-Requests sent without an Ack/Nak/Reject (default 10).
    pub max_configure: u32,
    /// Configure-Naks sent without a Configure-Ack before Naks turn into
    /// Rejects (default 5).
    pub max_failure: u32,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart_timer: Duration::from_secs(3),
            max_terminate: 2,
            max_configure: 10,
            max_failure: 5,
        }
    }
}

/// What a [`Negotiator`] says about the peer's Configure-Request, option by
/// option: options it does not mention are acceptable. The automaton turns
/// the collection into one Configure-Ack, -Nak or -Reject (Rejects win,
/// RFC 1661 §5.4), in the request's order.
#[derive(Debug, Default, Clone)]
pub struct PeerResponse {
    nak: Vec<u8>,
    nak_original: Vec<u8>,
    nak_extra: Vec<u8>,
    reject: Vec<u8>,
}

fn push_option<O: EmitOption>(buf: &mut Vec<u8>, option: O) {
    let start = buf.len();
    buf.resize(start + option.buffer_len(), 0);
    option.emit(&mut buf[start..]);
}

impl PeerResponse {
    /// The option is acceptable with another value: Nak with `suggestion`.
    pub fn nak<O: EmitOption>(&mut self, original: RawOption<'_>, suggestion: O) {
        push_option(&mut self.nak, suggestion);
        push_option(&mut self.nak_original, original);
    }

    /// An option the peer did not include that we want it to (appended to
    /// the Nak; dropped once Max-Failure is reached, §4.6).
    pub fn nak_extra<O: EmitOption>(&mut self, suggestion: O) {
        push_option(&mut self.nak_extra, suggestion);
    }

    /// The option is not acceptable at all (or not recognised): Reject.
    pub fn reject(&mut self, original: RawOption<'_>) {
        push_option(&mut self.reject, original);
    }

    /// Nothing Nak'd or Rejected: the request would be Acked.
    pub fn is_empty(&self) -> bool {
        self.nak.is_empty() && self.nak_extra.is_empty() && self.reject.is_empty()
    }

    fn clear(&mut self) {
        self.nak.clear();
        self.nak_original.clear();
        self.nak_extra.clear();
        self.reject.clear();
    }
}

/// The per-protocol policy: which options we ask for and how we judge the
/// peer's. Option lists are raw option bytes (checked by the wire parser:
/// every option's Length is sane); decode them with
/// `OptionIter::<P::OptionRepr>`.
pub trait Negotiator {
    /// The control protocol (LCP, IPCP, IPv6CP): packet codes and options.
    type Proto: ControlProtocol;

    /// Appends the options of our next Configure-Request to `buf`.
    fn our_request(&mut self, buf: &mut Vec<u8>);

    /// Judges the peer's Configure-Request: call [`PeerResponse::nak`] /
    /// [`PeerResponse::reject`] for the options that are not acceptable.
    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse);

    /// We Configure-Ack these options of the peer: commit them.
    fn peer_acked(&mut self, options: &[u8]);

    /// The peer acked our request (the options are the ones we sent).
    fn ack_received(&mut self, _options: &[u8]) {}

    /// The peer Nak'd some of our options with these suggestions.
    fn nak_received(&mut self, options: &[u8]);

    /// The peer Rejected these of our options.
    fn reject_received(&mut self, options: &[u8]);

    /// The Magic-Number to put in an Echo-Reply (LCP only; 0 otherwise).
    fn magic_number(&self) -> u32 {
        0
    }
}

/// What a received packet carried that the caller (the session) acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// An LCP Echo-Reply (keepalive answer).
    EchoReply { identifier: u8, magic_number: u32 },
    /// An LCP Echo-Request (already answered if Opened).
    EchoRequest { magic_number: u32 },
    /// An LCP Protocol-Reject of another protocol (the session gives that
    /// protocol's automaton RXJ-).
    ProtocolReject { protocol: Protocol },
}

/// Largest rejected packet echoed back in a Code-Reject (it must fit the
/// peer's MRU, RFC 1661 §5.6; the smallest MRU we Ack is 576).
const MAX_CODE_REJECT_COPY: usize = 512;

/// Buffers an automaton needs while negotiating.
#[derive(Debug, Default)]
struct Work {
    /// The answer (sca/scn) prepared while classifying RCR.
    response: Vec<u8>,
    scratch: PeerResponse,
    /// The last packet with an unknown code (for scj).
    rx_unknown: Vec<u8>,
}

/// Replaces an empty queue by one without capacity.
pub(crate) fn release_queue<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 0 {
        *q = VecDeque::new();
    }
}

/// The automaton with its negotiator.
#[derive(Debug)]
pub struct Fsm<N: Negotiator> {
    state: State,
    negotiator: N,
    config: FsmConfig,
    restart_count: u32,
    failure_count: u32,
    deadline: Option<Instant>,
    next_identifier: u8,
    /// Identifier and options of the last Configure-Request sent.
    request_id: u8,
    request_options: Vec<u8>,
    /// A valid Ack/Nak/Reject for `request_id` was already seen.
    request_answered: bool,
    /// Buffers of negotiation, made on first use and dropped by
    /// [`release_buffers`](Self::release_buffers).
    work: Option<Box<Work>>,
    /// Identifier of the last Terminate-Request received (for sta).
    rx_identifier: u8,
    /// The last Echo-Request: identifier and data (for ser).
    rx_echo: Option<(u8, Vec<u8>)>,
    tx: VecDeque<Vec<u8>>,
    layer: VecDeque<LayerEvent>,
    illegal_events: u32,
}

impl<N: Negotiator> Fsm<N> {
    /// A new automaton in the Initial state.
    pub fn new(config: FsmConfig, negotiator: N) -> Self {
        Fsm {
            state: State::Initial,
            negotiator,
            config,
            restart_count: 0,
            failure_count: 0,
            deadline: None,
            next_identifier: 1,
            request_id: 0,
            request_options: Vec::new(),
            request_answered: true,
            work: None,
            rx_identifier: 0,
            rx_echo: None,
            tx: VecDeque::new(),
            layer: VecDeque::new(),
            illegal_events: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    fn work(&mut self) -> &mut Work {
        self.work.get_or_insert_with(Box::default)
    }

    /// The policy.
    pub fn negotiator(&self) -> &N {
        &self.negotiator
    }

    /// The policy, mutably.
    pub fn negotiator_mut(&mut self) -> &mut N {
        &mut self.negotiator
    }

    /// How many events arrived in a state where the table says '-'.
    pub fn illegal_events(&self) -> u32 {
        self.illegal_events
    }

    /// The options of the last Configure-Request we sent.
    pub fn last_request(&self) -> &[u8] {
        &self.request_options
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next control-protocol packet to send (no PPP header).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next This-Layer-* signal.
    pub fn poll_layer_event(&mut self) -> Option<LayerEvent> {
        self.layer.pop_front()
    }

    /// Frees the capacity that negotiation left in empty queues and
    /// scratch buffers (they grow again if needed).
    pub fn release_buffers(&mut self) {
        release_queue(&mut self.tx);
        release_queue(&mut self.layer);
        self.work = None;
    }

    /// Lower layer Up.
    pub fn up(&mut self, now: Instant) {
        self.event(now, Event::Up)
    }

    /// Lower layer Down.
    pub fn down(&mut self, now: Instant) {
        self.event(now, Event::Down)
    }

    /// Administrative Open.
    pub fn open(&mut self, now: Instant) {
        self.event(now, Event::Open)
    }

    /// Administrative Close.
    pub fn close(&mut self, now: Instant) {
        self.event(now, Event::Close)
    }

    /// An identifier for a packet outside the automaton (Echo-Request,
    /// Protocol-Reject), from the same sequence.
    pub fn take_identifier(&mut self) -> u8 {
        let id = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        id
    }

    /// Queues a packet built outside the automaton.
    pub fn queue(&mut self, packet: Vec<u8>) {
        self.tx.push_back(packet)
    }

    /// Enters Opened directly with `our_options` as the (acked) request,
    /// signalling This-Layer-Up: proxy LCP (RFC 2661 §4.4.5), where the LAC
    /// negotiated for us. The caller has already put the negotiated values
    /// in the negotiator.
    pub fn force_opened(&mut self, our_options: &[u8]) {
        self.request_options.clear();
        self.request_options.extend_from_slice(our_options);
        self.request_answered = true;
        self.deadline = None;
        self.state = State::Opened;
        self.layer.push_back(LayerEvent::Up);
    }

    /// Restart timer expiry: TO+ or TO-.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if d <= now => {
                self.deadline = None;
                let ev = if self.restart_count > 0 {
                    Event::TimeoutPlus
                } else {
                    Event::TimeoutMinus
                };
                self.event(now, ev);
            }
            _ => {}
        }
    }

    /// A received packet of this protocol (the PPP Information field).
    /// Invalid packets are silently discarded (RFC 1661 §5).
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Option<Received> {
        let Ok(repr) = N::Proto::parse(packet) else {
            return None;
        };
        let mut received = None;
        let event = match repr {
            Repr::ConfigureRequest {
                identifier,
                options,
            } => {
                self.rx_identifier = identifier;
                match self.state {
                    State::Stopped
                    | State::ReqSent
                    | State::AckRcvd
                    | State::AckSent
                    | State::Opened => self.classify_request(identifier, options),
                    // sta, nothing or illegal: the verdict does not matter.
                    _ => Event::RcrPlus,
                }
            }
            Repr::ConfigureAck {
                identifier,
                options,
            } => {
                if !self.reply_matches(identifier) || *options != self.request_options[..] {
                    return None;
                }
                self.request_answered = true;
                self.negotiator.ack_received(options);
                Event::Rca
            }
            Repr::ConfigureNak {
                identifier,
                options,
            } => {
                if !self.reply_matches(identifier) {
                    return None;
                }
                self.request_answered = true;
                self.negotiator.nak_received(options);
                Event::Rcn
            }
            Repr::ConfigureReject {
                identifier,
                options,
            } => {
                if !self.reply_matches(identifier) {
                    return None;
                }
                self.request_answered = true;
                self.negotiator.reject_received(options);
                Event::Rcn
            }
            Repr::TerminateRequest { identifier, .. } => {
                self.rx_identifier = identifier;
                Event::Rtr
            }
            Repr::TerminateAck { .. } => Event::Rta,
            Repr::CodeReject {
                rejected_packet, ..
            } => {
                // Rejecting a code the automaton needs (Configure-* or
                // Terminate-*, or Code-Reject itself) is catastrophic
                // (§5.6); Echo, Discard and the rest are not.
                match rejected_packet.first() {
                    Some(1..=7) => Event::RxjMinus,
                    _ => Event::RxjPlus,
                }
            }
            Repr::ProtocolReject {
                rejected_protocol, ..
            } => {
                if rejected_protocol == N::Proto::PROTOCOL {
                    Event::RxjMinus
                } else {
                    received = Some(Received::ProtocolReject {
                        protocol: rejected_protocol,
                    });
                    Event::RxjPlus
                }
            }
            Repr::EchoRequest {
                identifier,
                magic_number,
                data,
            } => {
                let mut buf = self.rx_echo.take().map(|(_, b)| b).unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(data);
                self.rx_echo = Some((identifier, buf));
                received = Some(Received::EchoRequest { magic_number });
                Event::Rxr
            }
            Repr::EchoReply {
                identifier,
                magic_number,
                ..
            } => {
                received = Some(Received::EchoReply {
                    identifier,
                    magic_number,
                });
                Event::Rxr
            }
            Repr::DiscardRequest { .. }
            | Repr::Identification { .. }
            | Repr::TimeRemaining { .. } => Event::Rxr,
            Repr::Unknown { .. } => {
                let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
                let w = self.work();
                w.rx_unknown.clear();
                w.rx_unknown
                    .extend_from_slice(&packet[..len.min(MAX_CODE_REJECT_COPY)]);
                Event::Ruc
            }
        };
        self.event(now, event);
        received
    }

    /// §5.2–5.4: a reply must carry the Identifier of the last
    /// Configure-Request sent, and only the first valid reply counts.
    fn reply_matches(&self, identifier: u8) -> bool {
        identifier == self.request_id && !self.request_answered
    }

    /// Asks the negotiator and prepares the Ack, Nak or Reject: RCR+ or
    /// RCR-.
    fn classify_request(&mut self, identifier: u8, options: &[u8]) -> Event {
        let mut r = std::mem::take(&mut self.work().scratch);
        r.clear();
        self.negotiator.peer_request(options, &mut r);
        let ev = if !r.reject.is_empty() {
            self.build_response(Code::ConfigureReject, identifier, &[&r.reject]);
            Event::RcrMinus
        } else if !r.nak.is_empty() || !r.nak_extra.is_empty() {
            if self.failure_count >= self.config.max_failure {
                // §4.6: Naks of the peer's options become Rejects, locally
                // desired options are no longer appended.
                if r.nak_original.is_empty() {
                    self.build_response(Code::ConfigureAck, identifier, &[options]);
                    self.negotiator.peer_acked(options);
                    Event::RcrPlus
                } else {
                    self.build_response(Code::ConfigureReject, identifier, &[&r.nak_original]);
                    Event::RcrMinus
                }
            } else {
                self.failure_count += 1;
                self.build_response(Code::ConfigureNak, identifier, &[&r.nak, &r.nak_extra]);
                Event::RcrMinus
            }
        } else {
            self.build_response(Code::ConfigureAck, identifier, &[options]);
            self.negotiator.peer_acked(options);
            Event::RcrPlus
        };
        self.work().scratch = r;
        ev
    }

    fn build_response(&mut self, code: Code, identifier: u8, parts: &[&[u8]]) {
        let body: usize = parts.iter().map(|p| p.len()).sum();
        let response = &mut self.work().response;
        response.clear();
        response.reserve(HEADER_LEN + body);
        let len = (HEADER_LEN + body) as u16;
        response.push(code.into());
        response.push(identifier);
        response.extend_from_slice(&len.to_be_bytes());
        for p in parts {
            response.extend_from_slice(p);
        }
    }

    fn emit(&mut self, repr: Repr<'_>) {
        let mut buf = vec![0; repr.buffer_len()];
        // The length fits: every part is bounded by a received packet.
        if repr.emit_into(&mut buf).is_ok() {
            self.tx.push_back(buf);
        }
    }

    fn is_timer_state(state: State) -> bool {
        matches!(
            state,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }

    fn to(&mut self, state: State) {
        self.state = state;
    }

    // The actions of §4.4.

    fn tlu(&mut self) {
        self.layer.push_back(LayerEvent::Up);
    }

    fn tld(&mut self) {
        self.layer.push_back(LayerEvent::Down);
    }

    fn tls(&mut self) {
        self.layer.push_back(LayerEvent::Started);
    }

    fn tlf(&mut self) {
        self.layer.push_back(LayerEvent::Finished);
    }

    /// Initialize-Restart-Count: Max-Configure, or Max-Terminate before
    /// Terminate-Requests.
    fn irc(&mut self, terminate: bool) {
        self.restart_count = if terminate {
            self.config.max_terminate
        } else {
            self.config.max_configure
        };
    }

    /// Zero-Restart-Count (starts the timer: one period in Stopping).
    fn zrc(&mut self, now: Instant) {
        self.restart_count = 0;
        self.deadline = Some(now + self.config.restart_timer);
    }

    /// Send-Configure-Request: a fresh request (new Identifier, options
    /// from the negotiator).
    fn scr(&mut self, now: Instant) {
        self.request_options.clear();
        self.negotiator.our_request(&mut self.request_options);
        self.request_id = self.take_identifier();
        self.send_request(now);
    }

    /// Send-Configure-Request on TO+: the same Identifier and options
    /// (§5.1: retransmissions MAY keep the Identifier).
    fn scr_retransmit(&mut self, now: Instant) {
        self.send_request(now);
    }

    fn send_request(&mut self, now: Instant) {
        self.request_answered = false;
        let options = std::mem::take(&mut self.request_options);
        self.emit(Repr::ConfigureRequest {
            identifier: self.request_id,
            options: &options,
        });
        self.request_options = options;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.config.restart_timer);
    }

    /// Send-Configure-Ack (prepared by the classification).
    fn sca(&mut self) {
        self.failure_count = 0;
        let r = self.work().response.clone();
        self.tx.push_back(r);
    }

    /// Send-Configure-Nak or -Reject (prepared by the classification).
    fn scn(&mut self) {
        let r = self.work().response.clone();
        self.tx.push_back(r);
    }

    /// Send-Terminate-Request.
    fn str(&mut self, now: Instant) {
        let identifier = self.take_identifier();
        self.emit(Repr::TerminateRequest {
            identifier,
            data: &[],
        });
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.config.restart_timer);
    }

    /// Send-Terminate-Ack.
    fn sta(&mut self) {
        self.emit(Repr::TerminateAck {
            identifier: self.rx_identifier,
            data: &[],
        });
    }

    /// Send-Code-Reject.
    fn scj(&mut self) {
        let identifier = self.take_identifier();
        let rejected = std::mem::take(&mut self.work().rx_unknown);
        self.emit(Repr::CodeReject {
            identifier,
            rejected_packet: &rejected,
        });
        self.work().rx_unknown = rejected;
    }

    /// Send-Echo-Reply (LCP): the Echo-Request's Identifier and data, our
    /// Magic-Number.
    fn ser(&mut self) {
        if let Some((identifier, data)) = self.rx_echo.take() {
            self.emit(Repr::EchoReply {
                identifier,
                magic_number: self.negotiator.magic_number(),
                data: &data,
            });
            self.rx_echo = Some((identifier, data));
        }
    }

    fn illegal(&mut self) {
        self.illegal_events += 1;
    }

    /// Runs one event through the §4.1 table.
    pub fn event(&mut self, now: Instant, event: Event) {
        use Event as E;
        use State::*;
        match (self.state, event) {
            // Up
            (Initial, E::Up) => self.to(Closed),
            (Starting, E::Up) => {
                self.irc(false);
                self.failure_count = 0;
                self.scr(now);
                self.to(ReqSent)
            }
            (
                Closed | Stopped | Closing | Stopping | ReqSent | AckRcvd | AckSent | Opened,
                E::Up,
            ) => self.illegal(),

            // Down
            (Initial | Starting, E::Down) => self.illegal(),
            (Closed, E::Down) => self.to(Initial),
            (Stopped, E::Down) => {
                self.tls();
                self.to(Starting)
            }
            (Closing, E::Down) => self.to(Initial),
            (Stopping, E::Down) => self.to(Starting),
            (ReqSent, E::Down) => self.to(Starting),
            (AckRcvd, E::Down) => self.to(Starting),
            (AckSent, E::Down) => self.to(Starting),
            (Opened, E::Down) => {
                self.tld();
                self.to(Starting)
            }

            // Open ([r] restart option not taken: the link stays as it is)
            (Initial, E::Open) => {
                self.tls();
                self.to(Starting)
            }
            (Starting, E::Open) => {}
            (Closed, E::Open) => {
                self.irc(false);
                self.failure_count = 0;
                self.scr(now);
                self.to(ReqSent)
            }
            (Stopped, E::Open) => {}
            (Closing, E::Open) => self.to(Stopping),
            (Stopping, E::Open) => {}
            (ReqSent | AckRcvd | AckSent | Opened, E::Open) => {}

            // Close
            (Initial, E::Close) => {}
            (Starting, E::Close) => {
                self.tlf();
                self.to(Initial)
            }
            (Closed, E::Close) => {}
            (Stopped, E::Close) => self.to(Closed),
            (Closing, E::Close) => {}
            (Stopping, E::Close) => self.to(Closing),
            (ReqSent | AckRcvd | AckSent, E::Close) => {
                self.irc(true);
                self.str(now);
                self.to(Closing)
            }
            (Opened, E::Close) => {
                self.tld();
                self.irc(true);
                self.str(now);
                self.to(Closing)
            }

            // TO+
            (Closing, E::TimeoutPlus) => self.str(now),
            (Stopping, E::TimeoutPlus) => self.str(now),
            (ReqSent, E::TimeoutPlus) => self.scr_retransmit(now),
            (AckRcvd, E::TimeoutPlus) => {
                self.scr_retransmit(now);
                self.to(ReqSent)
            }
            (AckSent, E::TimeoutPlus) => self.scr_retransmit(now),
            (Initial | Starting | Closed | Stopped | Opened, E::TimeoutPlus) => self.illegal(),

            // TO- ([p] passive option: Stopped waits for the peer)
            (Closing, E::TimeoutMinus) => {
                self.tlf();
                self.to(Closed)
            }
            (Stopping | ReqSent | AckRcvd | AckSent, E::TimeoutMinus) => {
                self.tlf();
                self.to(Stopped)
            }
            (Initial | Starting | Closed | Stopped | Opened, E::TimeoutMinus) => self.illegal(),

            // Receive events are illegal before the lower layer is up.
            (
                Initial | Starting,
                E::RcrPlus
                | E::RcrMinus
                | E::Rca
                | E::Rcn
                | E::Rtr
                | E::Rta
                | E::Ruc
                | E::RxjPlus
                | E::RxjMinus
                | E::Rxr,
            ) => self.illegal(),

            // RCR+
            (Closed, E::RcrPlus) => self.sta(),
            (Stopped, E::RcrPlus) => {
                self.irc(false);
                self.scr(now);
                self.sca();
                self.to(AckSent)
            }
            (Closing | Stopping, E::RcrPlus) => {}
            (ReqSent, E::RcrPlus) => {
                self.sca();
                self.to(AckSent)
            }
            (AckRcvd, E::RcrPlus) => {
                self.sca();
                self.tlu();
                self.to(Opened)
            }
            (AckSent, E::RcrPlus) => self.sca(),
            (Opened, E::RcrPlus) => {
                self.tld();
                self.scr(now);
                self.sca();
                self.to(AckSent)
            }

            // RCR-
            (Closed, E::RcrMinus) => self.sta(),
            (Stopped, E::RcrMinus) => {
                self.irc(false);
                self.scr(now);
                self.scn();
                self.to(ReqSent)
            }
            (Closing | Stopping, E::RcrMinus) => {}
            (ReqSent, E::RcrMinus) => self.scn(),
            (AckRcvd, E::RcrMinus) => self.scn(),
            (AckSent, E::RcrMinus) => {
                self.scn();
                self.to(ReqSent)
            }
            (Opened, E::RcrMinus) => {
                self.tld();
                self.scr(now);
                self.scn();
                self.to(ReqSent)
            }

            // RCA
            (Closed, E::Rca) => self.sta(),
            (Stopped, E::Rca) => self.sta(),
            (Closing | Stopping, E::Rca) => {}
            (ReqSent, E::Rca) => {
                self.irc(false);
                self.to(AckRcvd)
            }
            (AckRcvd, E::Rca) => {
                // [x] crossed connection
                self.scr(now);
                self.to(ReqSent)
            }
            (AckSent, E::Rca) => {
                self.irc(false);
                self.tlu();
                self.to(Opened)
            }
            (Opened, E::Rca) => {
                self.tld();
                self.scr(now);
                self.to(ReqSent)
            }

            // RCN
            (Closed, E::Rcn) => self.sta(),
            (Stopped, E::Rcn) => self.sta(),
            (Closing | Stopping, E::Rcn) => {}
            (ReqSent, E::Rcn) => {
                self.irc(false);
                self.scr(now)
            }
            (AckRcvd, E::Rcn) => {
                self.scr(now);
                self.to(ReqSent)
            }
            (AckSent, E::Rcn) => {
                self.irc(false);
                self.scr(now)
            }
            (Opened, E::Rcn) => {
                self.tld();
                self.scr(now);
                self.to(ReqSent)
            }

            // RTR
            (Closed | Stopped | Closing | Stopping, E::Rtr) => self.sta(),
            (ReqSent | AckRcvd | AckSent, E::Rtr) => {
                self.sta();
                self.to(ReqSent)
            }
            (Opened, E::Rtr) => {
                self.tld();
                self.zrc(now);
                self.sta();
                self.to(Stopping)
            }

            // RTA
            (Closed | Stopped, E::Rta) => {}
            (Closing, E::Rta) => {
                self.tlf();
                self.to(Closed)
            }
            (Stopping, E::Rta) => {
                self.tlf();
                self.to(Stopped)
            }
            (ReqSent | AckRcvd, E::Rta) => self.to(ReqSent),
            (AckSent, E::Rta) => {}
            (Opened, E::Rta) => {
                self.tld();
                self.scr(now);
                self.to(ReqSent)
            }

            // RUC
            (
                Closed | Stopped | Closing | Stopping | ReqSent | AckRcvd | AckSent | Opened,
                E::Ruc,
            ) => self.scj(),

            // RXJ+
            (
                Closed | Stopped | Closing | Stopping | ReqSent | AckRcvd | AckSent | Opened,
                E::RxjPlus,
            ) => {}

            // RXJ-
            (Closed | Closing, E::RxjMinus) => {
                self.tlf();
                self.to(Closed)
            }
            (Stopped | Stopping | ReqSent | AckRcvd | AckSent, E::RxjMinus) => {
                self.tlf();
                self.to(Stopped)
            }
            (Opened, E::RxjMinus) => {
                self.tld();
                self.irc(true);
                self.str(now);
                self.to(Stopping)
            }

            // RXR
            (Closed | Stopped | Closing | Stopping | ReqSent | AckRcvd | AckSent, E::Rxr) => {}
            (Opened, E::Rxr) => self.ser(),
        }
        if !Self::is_timer_state(self.state) {
            self.deadline = None;
        }
        self.rx_echo = None;
    }
}
