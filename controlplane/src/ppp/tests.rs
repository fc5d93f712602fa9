//! PPP engine tests: the automaton cell by cell where it matters, the
//! LNS session against the test client (normal, lossy, terminate, echo,
//! proxy LCP), golden traces from the l2tpns captures, and 10,000
//! bring-ups.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_wire::ppp::cp::Code;
use l2tpx_wire::ppp::{chap_md5_response, ControlProtocol, Ipcp, IpcpOption, Ipv6cpOption};
use l2tpx_wire::ppp::{EmitOption, LcpOption, OptionIter, Protocol, RawOption};

use super::auth::{Credentials, LocalVerifier};
use super::client::{ClientConfig, ClientEvent, PppClient};
use super::fsm::{Event, Fsm, FsmConfig, LayerEvent, Negotiator, State};
use super::ipcp::{AddressSource, IpcpConfig, IpcpNegotiator, Ipv4Pool};
use super::ipv6cp::Ipv6cpNegotiator;
use super::lcp::{AuthMethod, LcpConfig, LcpNegotiator};
use super::session::{DownCause, Phase, PppConfig, PppEvent, PppSession, ProxyAuth, ProxyLcp};
use super::Drbg;

/// The fake clock's origin; tests move time by adding Durations to it.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn seed(n: u64) -> [u8; 16] {
    let mut s = [0; 16];
    s[..8].copy_from_slice(&n.to_be_bytes());
    s
}

const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DNS: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 53);

fn lns_config(auth: &[AuthMethod]) -> PppConfig {
    PppConfig {
        lcp: LcpConfig {
            auth: auth.to_vec(),
            ..LcpConfig::default()
        },
        ipcp: IpcpConfig {
            local_address: GATEWAY,
            dns: [Some(DNS), None],
            nbns: [None, None],
        },
        ..PppConfig::default()
    }
}

fn client_config(user: &str, pass: &str) -> ClientConfig {
    ClientConfig {
        username: user.as_bytes().to_vec(),
        password: pass.as_bytes().to_vec(),
        ..ClientConfig::default()
    }
}

type Filter = Box<dyn FnMut(usize, &[u8]) -> bool>;

/// The LNS session and the client over a perfect or lossy link, with a
/// local verifier and a pool answering the session's requests at once.
struct Pair {
    now: Instant,
    start: Instant,
    lns: PppSession,
    client: PppClient,
    verifier: LocalVerifier,
    pool: Ipv4Pool,
    /// Return true to drop the n-th frame LNS -> client.
    drop_down: Filter,
    /// Return true to drop the n-th frame client -> LNS.
    drop_up: Filter,
    sent_down: usize,
    sent_up: usize,
    lns_events: Vec<PppEvent>,
    client_events: Vec<ClientEvent>,
    /// Every frame, in order: (from LNS, bytes).
    trace: Vec<(bool, Vec<u8>)>,
}

impl Pair {
    fn new(config: PppConfig, client: ClientConfig, n: u64) -> Pair {
        let now = t0();
        Pair::with(Arc::new(config), client, n, now)
    }

    fn with(config: Arc<PppConfig>, client: ClientConfig, n: u64, now: Instant) -> Pair {
        let mut verifier = LocalVerifier::new();
        verifier
            .add(b"pooluser", b"poolpass")
            .add(b"testuser", b"testpass");
        Pair {
            now,
            start: now,
            lns: PppSession::new(config, seed(n), now),
            client: PppClient::new(client, seed(n ^ 0x5555), now),
            verifier,
            pool: Ipv4Pool::new(Ipv4Addr::new(198, 18, 1, 1), Ipv4Addr::new(198, 18, 1, 254)),
            drop_down: Box::new(|_, _| false),
            drop_up: Box::new(|_, _| false),
            sent_down: 0,
            sent_up: 0,
            lns_events: Vec::new(),
            client_events: Vec::new(),
            trace: Vec::new(),
        }
    }

    /// Delivers everything queued; true if anything happened.
    fn step(&mut self) -> bool {
        let mut any = false;
        while let Some(f) = self.lns.poll_transmit() {
            any = true;
            self.sent_down += 1;
            self.trace.push((true, f.clone()));
            if !(self.drop_down)(self.sent_down, &f) {
                self.client.handle_frame(self.now, &f);
            }
        }
        while let Some(f) = self.client.poll_transmit() {
            any = true;
            self.sent_up += 1;
            self.trace.push((false, f.clone()));
            if !(self.drop_up)(self.sent_up, &f) {
                self.lns.handle_frame(self.now, &f);
            }
        }
        while let Some(e) = self.lns.poll_event() {
            any = true;
            if let PppEvent::AuthRequest(r) = &e {
                let ok = self.verifier.verify(r);
                if ok {
                    assert!(self.lns.assign_from(&mut self.pool));
                }
                self.lns.auth_result(self.now, r.id, ok, b"");
            }
            self.lns_events.push(e);
        }
        while let Some(e) = self.client.poll_event() {
            any = true;
            self.client_events.push(e);
        }
        any
    }

    /// Runs until `d` after the start, firing timers on the way.
    fn drive_until(&mut self, d: Duration) {
        let end = self.start + d;
        let mut guard = 0;
        loop {
            while self.step() {
                guard += 1;
                assert!(guard < 100_000, "livelock");
            }
            let next = [self.lns.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.lns.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn ipv4_up(&self) -> Option<Ipv4Addr> {
        self.lns_events.iter().find_map(|e| match e {
            PppEvent::Ipv4Up { address, .. } => Some(*address),
            _ => None,
        })
    }

    fn down(&self) -> Option<DownCause> {
        self.lns_events.iter().find_map(|e| match e {
            PppEvent::Down { cause } => Some(*cause),
            _ => None,
        })
    }
}

fn assert_up(p: &Pair) {
    let addr = p.ipv4_up().expect("IPCP up on the LNS");
    assert_eq!(p.lns.phase(), Phase::Network);
    assert_eq!(p.lns.lcp_state(), State::Opened);
    assert_eq!(p.lns.ipcp_state(), State::Opened);
    assert_eq!(p.client.lcp_state(), State::Opened);
    assert_eq!(p.client.ipcp_state(), State::Opened);
    assert_eq!(p.client.address(), addr);
    assert!(p.client_events.contains(&ClientEvent::Ipv4Up {
        address: addr,
        dns: Some(DNS)
    }));
}

// ---------------------------------------------------------------------
// Two-sided bring-ups.

/// The LNS opens LCP and challenges before its Configure-Ack to the
/// client's Configure-Request arrives (reordered): the client keeps the
/// early Challenge and answers it the moment its own LCP opens, rather
/// than wait for the Challenge to be retransmitted.
#[test]
fn chap_challenge_before_client_lcp_opens_is_answered() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        2,
    );
    let is = |f: &[u8], proto: [u8; 2], code: u8| f.len() > 4 && f[2..4] == proto && f[4] == code;
    let mut held_ack: Option<Vec<u8>> = None;
    let mut reordered = false;
    for _ in 0..1000 {
        let mut any = false;
        while let Some(f) = p.lns.poll_transmit() {
            any = true;
            p.trace.push((true, f.clone()));
            if is(&f, [0xc0, 0x21], 2) && !reordered {
                held_ack = Some(f);
                continue;
            }
            p.client.handle_frame(p.now, &f);
            if is(&f, [0xc2, 0x23], 1) {
                assert_ne!(p.client.lcp_state(), State::Opened);
                if let Some(ack) = held_ack.take() {
                    reordered = true;
                    p.client.handle_frame(p.now, &ack);
                }
            }
        }
        while let Some(f) = p.client.poll_transmit() {
            any = true;
            p.trace.push((false, f.clone()));
            p.lns.handle_frame(p.now, &f);
        }
        while let Some(e) = p.lns.poll_event() {
            any = true;
            if let PppEvent::AuthRequest(r) = &e {
                let ok = p.verifier.verify(r);
                assert!(ok && p.lns.assign_from(&mut p.pool));
                p.lns.auth_result(p.now, r.id, ok, b"");
            }
            p.lns_events.push(e);
        }
        while let Some(e) = p.client.poll_event() {
            any = true;
            p.client_events.push(e);
        }
        if !any {
            break;
        }
    }
    assert!(reordered, "the Challenge overtook the Configure-Ack");
    // Up without any timer firing: no retransmission was needed.
    assert_eq!(p.now, p.start);
    assert_up(&p);
}

#[test]
fn chap_bring_up() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5, AuthMethod::Pap]),
        client_config("pooluser", "poolpass"),
        1,
    );
    p.drive_until(secs(1));
    assert_up(&p);
    assert_eq!(p.lns.username(), Some(&b"pooluser"[..]));
    assert!(matches!(
        p.lns_events[0],
        PppEvent::AuthRequest(super::auth::AuthRequest {
            method: Credentials::Chap { .. },
            ..
        })
    ));
    assert_eq!(p.ipv4_up(), Some(Ipv4Addr::new(198, 18, 1, 1)));
    assert_eq!(p.down(), None);
    // Crossed Configure-Requests: both sides sent theirs first.
    assert_eq!(&p.trace[0].1[..5], &[0xff, 0x03, 0xc0, 0x21, 0x01]);
    assert!(!p.trace[1].0 && p.trace[1].1[4] == 1);
}

#[test]
fn pap_bring_up() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::Pap]),
        client_config("testuser", "testpass"),
        2,
    );
    p.drive_until(secs(1));
    assert_up(&p);
    assert_eq!(p.lns.username(), Some(&b"testuser"[..]));
}

#[test]
fn auth_nak_to_second_choice() {
    // The LNS prefers CHAP; a peer that only does PAP Naks it; the LNS
    // takes PAP from its list. Built with a raw LCP exchange.
    let now = t0();
    let mut s = PppSession::new(
        Arc::new(lns_config(&[AuthMethod::ChapMd5, AuthMethod::Pap])),
        seed(3),
        now,
    );
    let cr = s.poll_transmit().unwrap();
    assert!(cr.windows(5).any(|w| w == [3, 5, 0xc2, 0x23, 5]));
    let id = cr[5];
    s.handle_frame(now, &lcp_frame(Code::ConfigureNak, id, &hex("0304c023")));
    let cr2 = s.poll_transmit().unwrap();
    assert_ne!(cr2[5], id);
    assert!(cr2.windows(4).any(|w| w == [3, 4, 0xc0, 0x23]));
}

#[test]
fn auth_failure_terminates() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "wrong"),
        4,
    );
    p.drive_until(secs(30));
    assert_eq!(p.down(), Some(DownCause::AuthFailed));
    assert!(p.client_events.contains(&ClientEvent::AuthFailed));
    // CHAP Failure, then LCP Terminate-Request.
    let down: Vec<&Vec<u8>> = p.trace.iter().filter(|t| t.0).map(|t| &t.1).collect();
    let fail = down
        .iter()
        .position(|f| f[2..5] == [0xc2, 0x23, 4])
        .unwrap();
    let term = down
        .iter()
        .position(|f| f[2..5] == [0xc0, 0x21, 5])
        .unwrap();
    assert!(fail < term);
    assert_eq!(p.ipv4_up(), None);
    assert_eq!(p.client.lcp_state(), State::Stopped);
}

#[test]
fn loss_every_third_frame_recovers() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        5,
    );
    p.drop_down = Box::new(|n, _| n % 3 == 0);
    p.drop_up = Box::new(|n, _| n % 3 == 1);
    p.drive_until(secs(60));
    assert!(p.ipv4_up().is_some(), "{:?}", p.lns_events);
    assert_eq!(p.down(), None);
}

#[test]
fn lost_first_configure_request_and_challenge() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        6,
    );
    // Drop the LNS's first LCP Configure-Request and first CHAP Challenge.
    let mut seen_cr = false;
    let mut seen_chal = false;
    p.drop_down = Box::new(move |_, f| {
        if f[2..5] == [0xc0, 0x21, 1] && !seen_cr {
            seen_cr = true;
            return true;
        }
        if f[2..5] == [0xc2, 0x23, 1] && !seen_chal {
            seen_chal = true;
            return true;
        }
        false
    });
    p.drive_until(secs(2));
    assert!(p.ipv4_up().is_none());
    p.drive_until(secs(10));
    assert_up(&p);
    // The Challenge was retransmitted with the same Identifier and Value.
    let chals: Vec<&Vec<u8>> = p
        .trace
        .iter()
        .filter(|t| t.0 && t.1[2..5] == [0xc2, 0x23, 1])
        .map(|t| &t.1)
        .collect();
    assert_eq!(chals.len(), 2);
    assert_eq!(chals[0], chals[1]);
}

#[test]
fn peer_terminates() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        7,
    );
    p.drive_until(secs(1));
    assert_up(&p);
    p.client.close(p.now);
    p.drive_until(secs(10));
    assert_eq!(p.down(), Some(DownCause::PeerTerminated));
    assert!(p.lns_events.contains(&PppEvent::Ipv4Down));
    assert_eq!(p.client.lcp_state(), State::Closed);
    // Stopping, then after one restart period Stopped.
    assert_eq!(p.lns.lcp_state(), State::Stopped);
    assert_eq!(p.lns.phase(), Phase::Dead);
    p.lns.release_to(&mut p.pool);
    assert_eq!(p.pool.available(), 254);
}

#[test]
fn lns_terminates() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        8,
    );
    p.drive_until(secs(1));
    p.lns.close(p.now, DownCause::AdminClose);
    assert_eq!(p.lns.poll_event(), Some(PppEvent::Ipv4Down));
    assert_eq!(
        p.lns.poll_event(),
        Some(PppEvent::Down {
            cause: DownCause::AdminClose
        })
    );
    p.drive_until(secs(10));
    assert_eq!(p.lns.lcp_state(), State::Closed);
    assert_eq!(p.client.lcp_state(), State::Stopped);
}

#[test]
fn echo_keeps_session_and_timeout_takes_it_down() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        9,
    );
    p.drive_until(secs(120));
    assert_up(&p);
    assert_eq!(p.down(), None);
    let echoes = p
        .trace
        .iter()
        .filter(|t| t.0 && t.1[2..5] == [0xc0, 0x21, 9])
        .count();
    assert!((11..=12).contains(&echoes), "{echoes}");
    assert_eq!(
        p.trace
            .iter()
            .filter(|t| !t.0 && t.1[2..5] == [0xc0, 0x21, 10])
            .count(),
        echoes
    );
    // The client goes silent.
    let dead_from = p.sent_up;
    p.drop_up = Box::new(move |n, _| n > dead_from);
    let before = p.now;
    p.drive_until(secs(200));
    assert_eq!(p.down(), Some(DownCause::EchoTimeout));
    // 3 unanswered Echo-Requests, 10 s apart, then down at the 4th tick.
    let last = p
        .trace
        .iter()
        .rev()
        .find(|t| t.0 && t.1[2..5] == [0xc0, 0x21, 5])
        .is_some();
    assert!(last, "Terminate-Request sent");
    assert!(p.now > before);
}

#[test]
fn unknown_protocol_gets_protocol_reject_and_unknown_code_code_reject() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        10,
    );
    p.drive_until(secs(1));
    // CCP Configure-Request (0x80fd).
    p.lns.handle_frame(p.now, &hex("ff0380fd0101000401"));
    let f = p.lns.poll_transmit().unwrap();
    assert_eq!(f[2..5], [0xc0, 0x21, 8]);
    assert_eq!(f[8..10], [0x80, 0xfd]);
    assert_eq!(f[10..], hex("0101000401")[..]);
    // LCP code 14 (Reset-Request is CCP's) is unknown to LCP.
    p.lns.handle_frame(p.now, &hex("ff03c0210e070004"));
    let f = p.lns.poll_transmit().unwrap();
    assert_eq!(f[2..5], [0xc0, 0x21, 7]);
    assert_eq!(f[8..], hex("0e070004")[..]);
    // IPCP code 9 is unknown to IPCP (Echo is LCP's only).
    p.lns.handle_frame(p.now, &hex("ff0380210907000800000000"));
    let f = p.lns.poll_transmit().unwrap();
    assert_eq!(f[2..5], [0x80, 0x21, 7]);
    assert_eq!(p.lns.lcp_state(), State::Opened);
    assert_eq!(p.lns.ipcp_state(), State::Opened);
}

#[test]
fn ipcp_nak_loop_bounded_by_max_failure() {
    let mut c = client_config("pooluser", "poolpass");
    c.requested_address = Ipv4Addr::new(198, 19, 9, 9);
    c.insist_on_address = true;
    let mut p = Pair::new(lns_config(&[AuthMethod::ChapMd5]), c, 11);
    p.drive_until(secs(30));
    let ipcp_down: Vec<u8> = p
        .trace
        .iter()
        .filter(|t| t.0 && t.1[2..4] == [0x80, 0x21] && matches!(t.1[4], 3 | 4))
        .map(|t| t.1[4])
        .collect();
    // Five Naks (Max-Failure), then the Nak'd option is Rejected.
    assert_eq!(ipcp_down[..6], [3, 3, 3, 3, 3, 4]);
    assert_eq!(p.ipv4_up(), None);
    assert_eq!(p.down(), Some(DownCause::NegotiationFailed(Protocol::Ipcp)));
}

#[test]
fn ipv6cp_protocol_rejected_by_peer_keeps_ipv4() {
    let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
    cfg.ipv6cp = true;
    let mut p = Pair::new(cfg, client_config("pooluser", "poolpass"), 12);
    p.drive_until(secs(20));
    assert_up(&p);
    // The client Protocol-Rejected IPv6CP: RXJ- took it to Stopped, and
    // no retransmissions followed.
    assert_eq!(p.lns.ipv6cp_state(), Some(State::Stopped));
    let v6: Vec<&Vec<u8>> = p
        .trace
        .iter()
        .filter(|t| t.0 && t.1[2..4] == [0x80, 0x57])
        .map(|t| &t.1)
        .collect();
    assert_eq!(v6.len(), 1);
    assert!(p
        .trace
        .iter()
        .any(|t| !t.0 && t.1[2..5] == [0xc0, 0x21, 8] && t.1[8..10] == [0x80, 0x57]));
    assert_eq!(p.down(), None);
}

#[test]
fn chap_rechallenge() {
    let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
    cfg.auth.rechallenge_interval = Some(secs(30));
    let mut p = Pair::new(cfg, client_config("pooluser", "poolpass"), 13);
    p.drive_until(secs(100));
    assert_up(&p);
    let challenges = p
        .trace
        .iter()
        .filter(|t| t.0 && t.1[2..5] == [0xc2, 0x23, 1])
        .count();
    assert_eq!(challenges, 4);
    let requests = p
        .lns_events
        .iter()
        .filter(|e| matches!(e, PppEvent::AuthRequest(_)))
        .count();
    assert_eq!(requests, 4);
    assert_eq!(p.down(), None);
    // A re-challenge answered wrongly takes the session down.
    p.verifier = LocalVerifier::new();
    p.drive_until(secs(130));
    assert_eq!(p.down(), Some(DownCause::AuthFailed));
}

#[test]
fn pool_allocates_and_releases() {
    let mut pool = Ipv4Pool::new(Ipv4Addr::new(198, 18, 7, 1), Ipv4Addr::new(198, 18, 7, 3));
    let a = pool.allocate().unwrap();
    let b = pool.allocate().unwrap();
    let c = pool.allocate().unwrap();
    assert_eq!(pool.allocate(), None);
    assert_eq!([a, b, c].map(|x| x.octets()[3]), [1, 2, 3]);
    pool.release(b);
    pool.release(b); // double release ignored
    pool.release(Ipv4Addr::new(198, 18, 7, 9)); // foreign ignored
    assert_eq!(pool.available(), 1);
    assert_eq!(pool.allocate(), Some(b));
    assert_eq!(Ipv4Pool::new(c, a).available(), 0);
}

// ---------------------------------------------------------------------
// The automaton on its own.

fn lcp_frame(code: Code, id: u8, options: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03, 0xc0, 0x21, code.into(), id];
    f.extend_from_slice(&((4 + options.len()) as u16).to_be_bytes());
    f.extend_from_slice(options);
    f
}

fn cp(code: Code, id: u8, options: &[u8]) -> Vec<u8> {
    lcp_frame(code, id, options)[4..].to_vec()
}

fn lcp_fsm(n: u64) -> Fsm<LcpNegotiator> {
    // Symmetric tests: neither side demands authentication (each would
    // Reject the other's demand).
    let config = LcpConfig {
        auth: vec![],
        ..LcpConfig::default()
    };
    Fsm::new(
        FsmConfig::default(),
        LcpNegotiator::new(&config, Drbg::new(seed(n))),
    )
}

fn layer<N: Negotiator>(f: &mut Fsm<N>) -> Vec<LayerEvent> {
    std::iter::from_fn(|| f.poll_layer_event()).collect()
}

fn sent<N: Negotiator>(f: &mut Fsm<N>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| f.poll_transmit()).collect()
}

#[test]
fn fsm_max_configure_then_passive_stopped() {
    let now = t0();
    let mut f = lcp_fsm(20);
    f.open(now);
    f.up(now);
    assert_eq!(layer(&mut f), [LayerEvent::Started]);
    let first = sent(&mut f);
    assert_eq!(first.len(), 1);
    for i in 1..10 {
        let t = f.poll_timeout().unwrap();
        f.handle_timeout(t);
        let again = sent(&mut f);
        assert_eq!(again, first, "retransmission {i} identical");
        assert_eq!(f.state(), State::ReqSent);
    }
    let t = f.poll_timeout().unwrap();
    assert_eq!(t - now, secs(30));
    f.handle_timeout(t);
    assert_eq!(f.state(), State::Stopped);
    assert_eq!(layer(&mut f), [LayerEvent::Finished]);
    assert_eq!(f.poll_timeout(), None);
    // Stopped: a Configure-Request restarts negotiation (irc, scr, sca).
    f.handle_packet(t, &cp(Code::ConfigureRequest, 9, &hex("0506deadbeef")));
    let out = sent(&mut f);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0][0], 1);
    assert_eq!(out[1], cp(Code::ConfigureAck, 9, &hex("0506deadbeef")));
    assert_eq!(f.state(), State::AckSent);
}

#[test]
fn fsm_identifier_mismatch_and_duplicate_replies_discarded() {
    let now = t0();
    let mut f = lcp_fsm(21);
    f.open(now);
    f.up(now);
    let cr = sent(&mut f).remove(0);
    let (id, opts) = (cr[1], cr[4..].to_vec());
    f.handle_packet(now, &cp(Code::ConfigureAck, id.wrapping_add(1), &opts));
    assert_eq!(f.state(), State::ReqSent);
    // An Ack whose options differ is invalid too.
    f.handle_packet(now, &cp(Code::ConfigureAck, id, &opts[..opts.len() - 6]));
    assert_eq!(f.state(), State::ReqSent);
    f.handle_packet(now, &cp(Code::ConfigureAck, id, &opts));
    assert_eq!(f.state(), State::AckRcvd);
    // The same Ack again (duplicate): discarded, no crossed-connection scr.
    f.handle_packet(now, &cp(Code::ConfigureAck, id, &opts));
    assert_eq!(f.state(), State::AckRcvd);
    assert!(sent(&mut f).is_empty());
    f.handle_packet(now, &cp(Code::ConfigureRequest, 1, &hex("010405dc")));
    assert_eq!(f.state(), State::Opened);
    assert_eq!(layer(&mut f), [LayerEvent::Started, LayerEvent::Up]);
}

#[test]
fn fsm_opened_terminate_request_then_timeout() {
    let now = t0();
    let (mut a, mut b) = (lcp_fsm(22), lcp_fsm(23));
    for f in [&mut a, &mut b] {
        f.open(now);
        f.up(now);
    }
    // Exchange until quiet: crossed requests.
    for _ in 0..20 {
        let (x, y) = (sent(&mut a), sent(&mut b));
        if x.is_empty() && y.is_empty() {
            break;
        }
        x.iter().for_each(|p| {
            b.handle_packet(now, p);
        });
        y.iter().for_each(|p| {
            a.handle_packet(now, p);
        });
    }
    assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
    layer(&mut a);
    a.handle_packet(now, &cp(Code::TerminateRequest, 77, &[]));
    assert_eq!(a.state(), State::Stopping);
    assert_eq!(layer(&mut a), [LayerEvent::Down]);
    assert_eq!(sent(&mut a), [cp(Code::TerminateAck, 77, &[])]);
    // zrc: one restart period, then TO- and tlf.
    let t = a.poll_timeout().unwrap();
    assert_eq!(t - now, secs(3));
    a.handle_timeout(t);
    assert_eq!(a.state(), State::Stopped);
    assert_eq!(layer(&mut a), [LayerEvent::Finished]);
    // Close from Opened: Max-Terminate (2) Terminate-Requests.
    b.close(now);
    assert_eq!(b.state(), State::Closing);
    let mut trs = sent(&mut b).len();
    while let Some(t) = b.poll_timeout() {
        b.handle_timeout(t);
        trs += sent(&mut b).len();
    }
    assert_eq!(trs, 2);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        layer(&mut b),
        [
            LayerEvent::Started,
            LayerEvent::Up,
            LayerEvent::Down,
            LayerEvent::Finished
        ]
    );
}

#[test]
fn fsm_code_reject_and_illegal_events() {
    let now = t0();
    let mut f = lcp_fsm(24);
    // Receive events before Up are illegal ('-').
    f.event(now, Event::Rca);
    f.event(now, Event::TimeoutPlus);
    assert_eq!(f.illegal_events(), 2);
    assert_eq!(f.state(), State::Initial);
    f.open(now);
    f.up(now);
    sent(&mut f);
    // Code-Reject of Echo-Request: RXJ+, nothing changes.
    f.handle_packet(now, &cp(Code::CodeReject, 3, &hex("09010008")));
    assert_eq!(f.state(), State::ReqSent);
    // Code-Reject of Configure-Request: RXJ-, tlf/Stopped.
    f.handle_packet(now, &cp(Code::CodeReject, 4, &hex("01010004")));
    assert_eq!(f.state(), State::Stopped);
    assert_eq!(layer(&mut f), [LayerEvent::Started, LayerEvent::Finished]);
}

#[test]
fn lcp_magic_loopback_is_naked_and_options_judged() {
    let now = t0();
    let mut f = lcp_fsm(25);
    f.open(now);
    f.up(now);
    sent(&mut f);
    let ours = f.negotiator().our_magic();
    let mut opts = vec![5, 6];
    opts.extend_from_slice(&ours.to_be_bytes());
    f.handle_packet(now, &cp(Code::ConfigureRequest, 1, &opts));
    let nak = sent(&mut f).remove(0);
    assert_eq!(nak[0], 3);
    let suggested = u32::from_be_bytes(nak[6..10].try_into().unwrap());
    assert!(suggested != 0 && suggested != ours);
    assert_eq!(f.negotiator().magic_collisions(), 1);
    // ACCM, PFC, ACFC and MRU acked; auth, quality, MRRU rejected; a too
    // small MRU Nak'd up to 576 (Reject wins over Nak).
    let req = hex("0206000a0000070208020104064e");
    f.handle_packet(now, &cp(Code::ConfigureRequest, 2, &req));
    assert_eq!(sent(&mut f), [cp(Code::ConfigureAck, 2, &req)]);
    let peer = f.negotiator().peer();
    assert_eq!(
        (peer.accm, peer.pfc, peer.acfc, peer.mru),
        (Some(0xa0000), true, true, 1614)
    );
    let req = hex("0305c22305010400401104064e");
    f.handle_packet(now, &cp(Code::ConfigureRequest, 3, &req));
    assert_eq!(
        sent(&mut f),
        [cp(Code::ConfigureReject, 3, &hex("0305c223051104064e"))]
    );
    f.handle_packet(now, &cp(Code::ConfigureRequest, 4, &hex("01040040")));
    assert_eq!(sent(&mut f), [cp(Code::ConfigureNak, 4, &hex("01040240"))]);
}

#[test]
fn ipcp_options() {
    let now = t0();
    let mut n = IpcpNegotiator::new(IpcpConfig {
        local_address: GATEWAY,
        dns: [Some(DNS), None],
        nbns: [None, None],
    });
    n.set_assigned(Some(Ipv4Addr::new(198, 18, 1, 1)));
    let mut f = Fsm::new(FsmConfig::default(), n);
    f.open(now);
    f.up(now);
    assert_eq!(
        sent(&mut f),
        [cp(Code::ConfigureRequest, 1, &hex("0306c6120001"))]
    );
    // Secondary DNS not configured, NBNS, VJ compression: Rejected.
    let req = hex("030600000000830600000000820600000000020600020f01");
    f.handle_packet(now, &ipcp_cp(Code::ConfigureRequest, 1, &req));
    assert_eq!(
        sent(&mut f),
        [ipcp_cp(
            Code::ConfigureReject,
            1,
            &hex("830600000000820600000000020600020f01")
        )]
    );
    // No IP-Address at all: Nak appends the assigned one.
    f.handle_packet(
        now,
        &ipcp_cp(Code::ConfigureRequest, 2, &hex("8106c6120135")),
    );
    assert_eq!(
        sent(&mut f),
        [ipcp_cp(Code::ConfigureNak, 2, &hex("0306c6120101"))]
    );
    let mut buf = Vec::new();
    for o in [
        IpcpOption::IpAddress(Ipv4Addr::new(198, 18, 1, 1)),
        IpcpOption::PrimaryDns(DNS),
    ] {
        let s = buf.len();
        buf.resize(s + o.buffer_len(), 0);
        o.emit(&mut buf[s..]);
    }
    f.handle_packet(now, &ipcp_cp(Code::ConfigureRequest, 3, &buf));
    assert_eq!(sent(&mut f), [ipcp_cp(Code::ConfigureAck, 3, &buf)]);
    assert_eq!(f.negotiator().peer_dns(), [Some(DNS), None]);
    assert_eq!(Ipcp::PROTOCOL, Protocol::Ipcp);
}

fn ipcp_cp(code: Code, id: u8, options: &[u8]) -> Vec<u8> {
    cp(code, id, options)
}

#[test]
fn ipv6cp_interface_identifiers() {
    let now = t0();
    let mut f = Fsm::new(
        FsmConfig::default(),
        Ipv6cpNegotiator::new(Drbg::new(seed(30))),
    );
    f.open(now);
    f.up(now);
    let cr = sent(&mut f).remove(0);
    let ours: [u8; 8] = cr[6..14].try_into().unwrap();
    assert_ne!(ours, [0; 8]);
    for (id, iid) in [(1u8, [0u8; 8]), (2, ours)] {
        let mut o = vec![1, 10];
        o.extend_from_slice(&iid);
        f.handle_packet(now, &cp(Code::ConfigureRequest, id, &o));
        let nak = sent(&mut f).remove(0);
        assert_eq!(nak[..6], [3, id, 0, 14, 1, 10]);
        let s: [u8; 8] = nak[6..14].try_into().unwrap();
        assert!(s != [0; 8] && s != ours);
    }
    // Compression rejected.
    f.handle_packet(now, &cp(Code::ConfigureRequest, 3, &hex("0204002d")));
    assert_eq!(
        sent(&mut f),
        [cp(Code::ConfigureReject, 3, &hex("0204002d"))]
    );
    // Two IPv6CP automata reach Opened with distinct identifiers (f's
    // request went nowhere above: its restart timer resends it).
    f.handle_timeout(f.poll_timeout().unwrap());
    let mut g = Fsm::new(
        FsmConfig::default(),
        Ipv6cpNegotiator::new(Drbg::new(seed(31))),
    );
    g.open(now);
    g.up(now);
    for _ in 0..10 {
        let (x, y) = (sent(&mut f), sent(&mut g));
        x.iter().for_each(|p| {
            g.handle_packet(now, p);
        });
        y.iter().for_each(|p| {
            f.handle_packet(now, p);
        });
    }
    assert_eq!((f.state(), g.state()), (State::Opened, State::Opened));
    assert_eq!(f.negotiator().peer_iid(), Some(g.negotiator().our_iid()));
    assert_eq!(g.negotiator().peer_iid(), Some(f.negotiator().our_iid()));
    let _ = Ipv6cpOption::InterfaceIdentifier([0; 8]);
}

// ---------------------------------------------------------------------
// Proxy LCP.

fn proxy_sent(magic: u32) -> Vec<u8> {
    let mut v = hex("010405b00305c22305");
    v.extend_from_slice(&[5, 6]);
    v.extend_from_slice(&magic.to_be_bytes());
    v
}

#[test]
fn proxy_lcp_and_chap_accepted() {
    let now = t0();
    let mut cfg = lns_config(&[AuthMethod::ChapMd5, AuthMethod::Pap]);
    cfg.accept_proxy_lcp = true;
    cfg.accept_proxy_auth = true;
    let challenge = hex("19db25783821efa0e2cea758e0bef0d3");
    let response = chap_md5_response(7, b"poolpass", &challenge);
    let sent_opts = proxy_sent(0x11223344);
    let recv_opts = hex("010405780506ddec333b");
    let proxy = ProxyLcp {
        last_sent_confreq: &sent_opts,
        last_received_confreq: &recv_opts,
        auth: Some(ProxyAuth {
            authen_type: 2,
            name: b"pooluser",
            challenge: &challenge,
            id: 7,
            response: &response,
        }),
    };
    let mut s = PppSession::with_proxy(Arc::new(cfg), seed(40), now, &proxy);
    assert!(s.proxy_lcp_used());
    assert_eq!(s.lcp_state(), State::Opened);
    assert_eq!(s.our_magic(), 0x11223344);
    assert_eq!(s.peer_lcp().mru, 1400);
    assert_eq!(
        s.poll_transmit(),
        None,
        "no LCP renegotiation, no Challenge"
    );
    let Some(PppEvent::AuthRequest(r)) = s.poll_event() else {
        panic!()
    };
    let mut v = LocalVerifier::new();
    v.add(b"pooluser", b"poolpass");
    assert!(v.verify(&r));
    s.set_peer_ipv4(Ipv4Addr::new(198, 18, 1, 9));
    s.auth_result(now, r.id, true, b"");
    assert_eq!(s.poll_transmit(), Some(hex("ff03c22303070004")));
    assert_eq!(s.poll_transmit().unwrap()[2..5], [0x80, 0x21, 1]);
    assert_eq!(s.phase(), Phase::Network);
}

#[test]
fn proxy_lcp_without_proxy_auth_challenges() {
    let now = t0();
    let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
    cfg.accept_proxy_lcp = true;
    let sent_opts = proxy_sent(0x01020304);
    let recv_opts = hex("010405780506ddec333b");
    let proxy = ProxyLcp {
        last_sent_confreq: &sent_opts,
        last_received_confreq: &recv_opts,
        auth: None,
    };
    let mut s = PppSession::with_proxy(Arc::new(cfg), seed(41), now, &proxy);
    assert!(s.proxy_lcp_used());
    assert_eq!(s.poll_transmit().unwrap()[2..5], [0xc2, 0x23, 1]);
}

/// The test client's proxied start against the LNS's proxy LCP: with the
/// LAC's CHAP proxied, no LCP or authentication frame crosses before IPCP;
/// without it, the LNS challenges and the client answers. Either way both
/// ends agree on the Magic-Numbers the LAC reported.
#[test]
fn proxied_client_comes_up_against_proxy_lcp() {
    for proxied_auth in [true, false] {
        let now = t0();
        let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
        cfg.accept_proxy_lcp = true;
        cfg.accept_proxy_auth = true;
        let (client, avps) = PppClient::proxied(
            client_config("pooluser", "poolpass"),
            seed(77),
            now,
            Some(AuthMethod::ChapMd5),
            proxied_auth,
        );
        assert_eq!(avps.initial_received, avps.last_received);
        let challenge = hex("00112233445566778899aabbccddeeff");
        let response = chap_md5_response(9, b"poolpass", &challenge);
        let proxy = ProxyLcp {
            last_sent_confreq: &avps.last_sent,
            last_received_confreq: &avps.last_received,
            auth: proxied_auth.then_some(ProxyAuth {
                authen_type: 2,
                name: b"pooluser",
                challenge: &challenge,
                id: 9,
                response: &response,
            }),
        };
        let lns = PppSession::with_proxy(Arc::new(cfg), seed(78), now, &proxy);
        assert!(lns.proxy_lcp_used(), "the LNS adopts the client's LCP");
        let mut p = Pair::with(Arc::new(lns_config(&[])), client_config("x", "y"), 79, now);
        p.lns = lns;
        p.client = client;
        p.drive_until(secs(5));
        assert_up(&p);
        let lcp_frames = p
            .trace
            .iter()
            .filter(|(_, f)| f[2..4] == [0xc0, 0x21])
            .count();
        assert_eq!(lcp_frames, 0, "LCP was not negotiated again");
        let chap_up = p
            .trace
            .iter()
            .filter(|(down, f)| !down && f[2..4] == [0xc2, 0x23])
            .count();
        assert_eq!(chap_up, usize::from(!proxied_auth), "CHAP Responses sent");
        let lac_magic = OptionIter::<LcpOption>::new(&avps.last_sent)
            .flatten()
            .find_map(|o| match o {
                LcpOption::MagicNumber(m) => Some(m),
                _ => None,
            });
        assert_eq!(Some(p.lns.our_magic()), lac_magic);
        assert_ne!(p.client.magic(), p.lns.our_magic());
    }
}

/// An LNS that ignores proxy LCP (l2tpns does) renegotiates LCP with the
/// proxied client: the client goes down and up again, forgets the LAC's
/// authentication and answers the LNS's own Challenge.
#[test]
fn proxied_client_renegotiates_with_an_lns_that_ignores_proxy_lcp() {
    let now = t0();
    let (client, _) = PppClient::proxied(
        client_config("pooluser", "poolpass"),
        seed(80),
        now,
        Some(AuthMethod::ChapMd5),
        true,
    );
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("x", "y"),
        81,
    );
    p.client = client;
    // Within a second: no IPCP request was sent early (and discarded)
    // to wait out a 3 s restart timer.
    p.drive_until(secs(1));
    assert_up(&p);
    assert!(p.client_events.contains(&ClientEvent::Down));
    let responses = p
        .trace
        .iter()
        .filter(|(down, f)| !down && f[2..5] == [0xc2, 0x23, 2])
        .count();
    assert_eq!(responses, 1, "one CHAP Response to the LNS's Challenge");
}

#[test]
fn proxy_lcp_fallbacks() {
    let now = t0();
    let recv_ok = hex("010405780506ddec333b");
    let cases: [(bool, Vec<u8>, Vec<u8>); 5] = [
        // Not allowed by config.
        (false, proxy_sent(5), recv_ok.clone()),
        // The LAC asked for MRRU (unknown to our policy).
        (
            true,
            [proxy_sent(5), hex("1104064e")].concat(),
            recv_ok.clone(),
        ),
        // The LAC demanded an auth protocol we do not offer (EAP).
        (true, hex("0304c227050600000005"), recv_ok.clone()),
        // The peer asked us to authenticate (we would Reject).
        (true, proxy_sent(5), hex("0305c223050506ddec333b")),
        // Peer's magic equals the LAC's (loop-back: we would Nak).
        (true, proxy_sent(0xddec333b), recv_ok.clone()),
    ];
    for (i, (allow, sent_opts, recv_opts)) in cases.iter().enumerate() {
        let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
        cfg.accept_proxy_lcp = *allow;
        let proxy = ProxyLcp {
            last_sent_confreq: sent_opts,
            last_received_confreq: recv_opts,
            auth: None,
        };
        let mut s = PppSession::with_proxy(Arc::new(cfg), seed(42), now, &proxy);
        assert!(!s.proxy_lcp_used(), "case {i}");
        assert_eq!(s.lcp_state(), State::ReqSent, "case {i}");
        assert_eq!(
            s.poll_transmit().unwrap()[2..5],
            [0xc0, 0x21, 1],
            "case {i}"
        );
    }
}

// ---------------------------------------------------------------------
// Golden traces: the client frames of the l2tpns captures replayed into
// our session. Frames that depend on what the LNS said (the Ack of its
// Configure-Request, the CHAP Response) are rebuilt from our output; the
// rest go in verbatim, and our answers to them must equal l2tpns's bytes
// where l2tpns's depend only on them.

/// Every PPP frame of l2tpns-lns_chap_session.pcap and
/// l2tpns-lns_pap_session.pcap (from wire/src/ppp/mod.rs tests), with its
/// pcap frame number.
const FRAMES: &[(&str, u32, &str)] = &[
    ("chap", 11, "ff03c0210101001e010405b60305c2230505066b0251651104064e130702c6120001"),
    ("chap", 12, "ff03c0210101000e010405780506ddec333b"),
    ("chap", 13, "ff03c0210201000e010405780506ddec333b"),
    ("chap", 14, "ff03c0210201001e010405b60305c2230505066b0251651104064e130702c6120001"),
    ("chap", 15, "ff03c2230101001a1019db25783821efa0e2cea758e0bef0d370656c6e73"),
    ("chap", 16, "ff03c2230201001d10835c2b3acbffed188a9ea9b655001b3e706f6f6c75736572"),
    ("chap", 17, "ff03c22303010004"),
    ("chap", 18, "ff0380210102000a0306c6120001"),
    ("chap", 19, "ff03802101010010030600000000810600000000"),
    ("chap", 20, "ff038021030100100306c61201018106c6120135"),
    ("chap", 21, "ff0380210202000a0306c6120001"),
    ("chap", 22, "ff038021010200100306c61201018106c6120135"),
    ("chap", 23, "ff038021020200100306c61201018106c6120135"),
    ("chap", 24, "ff0300214500002c000100004001eda9c6120101c61200010800cbc50077000170652d70696e672d7061796c6f616421"),
    ("pap", 11, "ff03c0210101000e010405780506591b3daf"),
    ("pap", 12, "ff03c0210101001d010405b60304c02305066b02515f1104064e130702c6120001"),
    ("pap", 13, "ff03c0210201000e010405780506591b3daf"),
    ("pap", 14, "ff03c0210201001d010405b60304c02305066b02515f1104064e130702c6120001"),
    ("pap", 15, "ff03c02301010016087465737475736572087465737470617373"),
    ("pap", 16, "ff03c0230201000500"),
    ("pap", 17, "ff0380210101000a0306c6120001"),
    ("pap", 18, "ff03802101010010030600000000810600000000"),
    ("pap", 19, "ff038021030100100306c612010a8106c6120135"),
    ("pap", 20, "ff0380210201000a0306c6120001"),
    ("pap", 21, "ff038021010200100306c612010a8106c6120135"),
    ("pap", 22, "ff038021020200100306c612010a8106c6120135"),
    ("pap", 23, "ff0300214500002c000100004001eda0c612010ac61200010800cbc50077000170652d70696e672d7061796c6f616421"),
];

fn frame(file: &str, number: u32) -> Vec<u8> {
    let (_, _, h) = FRAMES
        .iter()
        .find(|(f, n, _)| *f == file && *n == number)
        .unwrap();
    hex(h)
}

/// The peer's Configure-Ack of the Configure-Request frame `cr`.
fn ack_of(cr: &[u8]) -> Vec<u8> {
    let mut a = cr.to_vec();
    a[4] = 2;
    a
}

fn option_types(cp_options: &[u8]) -> Vec<u8> {
    OptionIter::<RawOption>::new(cp_options)
        .map(|o| o.unwrap().option_type)
        .collect()
}

fn golden_config(auth: AuthMethod) -> Arc<PppConfig> {
    let mut c = lns_config(&[auth]);
    c.auth.name = b"pelns".to_vec();
    Arc::new(c)
}

#[test]
fn golden_chap_session() {
    let now = t0();
    let mut s = PppSession::new(golden_config(AuthMethod::ChapMd5), seed(50), now);
    // Our LCP Configure-Request: like l2tpns's (frame 11) without its
    // multilink options; same Authentication-Protocol option.
    let cr = s.poll_transmit().unwrap();
    let theirs = frame("chap", 11);
    assert_eq!(cr[..5], theirs[..5]);
    assert_eq!(option_types(&cr[8..]), [1, 3, 5]);
    assert!(cr.windows(5).any(|w| w == hex("0305c22305")));
    let mru = u16::from_be_bytes([cr[10], cr[11]]);
    assert_eq!(mru, 1456);
    assert_eq!(
        OptionIter::<LcpOption>::new(&theirs[8..]).next(),
        Some(Ok(LcpOption::MaximumReceiveUnit(1462)))
    );
    // Client's Configure-Request (12) -> our Ack is byte-identical to 13.
    s.handle_frame(now, &frame("chap", 12));
    assert_eq!(s.poll_transmit(), Some(frame("chap", 13)));
    // Client acks ours (14, rebuilt) -> Challenge like 15.
    s.handle_frame(now, &ack_of(&cr));
    assert_eq!(s.lcp_state(), State::Opened);
    let chal = s.poll_transmit().unwrap();
    let theirs = frame("chap", 15);
    assert_eq!(chal[..5], theirs[..5]);
    assert_eq!(chal[6..9], theirs[6..9]); // length 26, value size 16
    assert_eq!(chal[25..], theirs[25..]); // name "pelns"
                                          // Client's Response (16, rebuilt for our challenge with poolpass).
    let ident = chal[5];
    let value = chap_md5_response(ident, b"poolpass", &chal[9..25]);
    let mut resp = frame("chap", 16);
    resp[5] = ident;
    resp[9..25].copy_from_slice(&value);
    s.handle_frame(now, &resp);
    let Some(PppEvent::AuthRequest(r)) = s.poll_event() else {
        panic!()
    };
    assert_eq!(r.username, b"pooluser");
    let mut v = LocalVerifier::new();
    v.add(b"pooluser", b"poolpass");
    assert!(v.verify(&r));
    s.set_peer_ipv4(Ipv4Addr::new(198, 18, 1, 1));
    s.auth_result(now, r.id, true, b"");
    // Success (17) and our IPCP Configure-Request (18), Identifiers aside.
    let mut success = frame("chap", 17);
    success[5] = ident;
    assert_eq!(s.poll_transmit(), Some(success));
    let ipcp_cr = s.poll_transmit().unwrap();
    let mut theirs = frame("chap", 18);
    theirs[5] = ipcp_cr[5];
    assert_eq!(ipcp_cr, theirs);
    assert_eq!(
        s.poll_event(),
        Some(PppEvent::Authenticated {
            username: b"pooluser".to_vec()
        })
    );
    // Client's IPCP request for 0.0.0.0 + DNS (19) -> Nak identical to 20.
    s.handle_frame(now, &frame("chap", 19));
    assert_eq!(s.poll_transmit(), Some(frame("chap", 20)));
    // Client acks ours (21, rebuilt), requests again (22) -> Ack = 23.
    s.handle_frame(now, &ack_of(&ipcp_cr));
    s.handle_frame(now, &frame("chap", 22));
    assert_eq!(s.poll_transmit(), Some(frame("chap", 23)));
    assert_eq!(
        s.poll_event(),
        Some(PppEvent::Ipv4Up {
            address: Ipv4Addr::new(198, 18, 1, 1),
            local: GATEWAY,
            dns: [Some(DNS), None],
        })
    );
    // The ICMP echo (24) is the data plane's.
    s.handle_frame(now, &frame("chap", 24));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn golden_pap_session() {
    let now = t0();
    let mut s = PppSession::new(golden_config(AuthMethod::Pap), seed(51), now);
    let cr = s.poll_transmit().unwrap();
    assert!(cr.windows(4).any(|w| w == hex("0304c023")));
    s.handle_frame(now, &frame("pap", 11));
    assert_eq!(s.poll_transmit(), Some(frame("pap", 13)));
    s.handle_frame(now, &ack_of(&cr));
    assert_eq!(s.poll_transmit(), None, "PAP: the peer speaks first");
    s.handle_frame(now, &frame("pap", 15));
    let Some(PppEvent::AuthRequest(r)) = s.poll_event() else {
        panic!()
    };
    assert_eq!(
        r.method,
        Credentials::Pap {
            password: b"testpass".to_vec()
        }
    );
    let mut v = LocalVerifier::new();
    v.add(b"testuser", b"testpass");
    assert!(v.verify(&r));
    s.set_peer_ipv4(Ipv4Addr::new(198, 18, 1, 10));
    s.auth_result(now, r.id, true, b"");
    assert_eq!(s.poll_transmit(), Some(frame("pap", 16)));
    let ipcp_cr = s.poll_transmit().unwrap();
    let mut theirs = frame("pap", 17);
    theirs[5] = ipcp_cr[5];
    assert_eq!(ipcp_cr, theirs);
    s.handle_frame(now, &frame("pap", 18));
    assert_eq!(s.poll_transmit(), Some(frame("pap", 19)));
    s.handle_frame(now, &ack_of(&ipcp_cr));
    s.handle_frame(now, &frame("pap", 21));
    assert_eq!(s.poll_transmit(), Some(frame("pap", 22)));
    // A retransmitted Authenticate-Request after the Ack gets the Ack.
    s.handle_frame(now, &frame("pap", 15));
    assert_eq!(s.poll_transmit(), Some(frame("pap", 16)));
    assert!(matches!(
        s.poll_event(),
        Some(PppEvent::Authenticated { .. })
    ));
    assert!(matches!(s.poll_event(), Some(PppEvent::Ipv4Up { .. })));
}

// ---------------------------------------------------------------------
// Scale.

#[test]
fn ten_thousand_bring_ups() {
    let start = t0();
    let mut cfg = lns_config(&[AuthMethod::ChapMd5]);
    cfg.lcp.echo_interval = None;
    let cfg = Arc::new(cfg);
    let client = client_config("pooluser", "poolpass");
    let mut verifier = LocalVerifier::new();
    verifier.add(b"pooluser", b"poolpass");
    let mut pool = Ipv4Pool::new(
        Ipv4Addr::new(198, 18, 0, 0),
        Ipv4Addr::new(198, 18, 255, 255),
    );
    let mut sessions = Vec::with_capacity(10_000);
    let mut frames = 0usize;
    for i in 0..10_000u64 {
        let now = start + Duration::from_millis(i);
        let mut lns = PppSession::new(cfg.clone(), seed(i), now);
        let mut cl = PppClient::new(client.clone(), seed(!i), now);
        let mut up = false;
        for _ in 0..50 {
            let mut any = false;
            while let Some(f) = lns.poll_transmit() {
                cl.handle_frame(now, &f);
                frames += 1;
                any = true;
            }
            while let Some(f) = cl.poll_transmit() {
                lns.handle_frame(now, &f);
                frames += 1;
                any = true;
            }
            while let Some(e) = lns.poll_event() {
                any = true;
                match e {
                    PppEvent::AuthRequest(r) => {
                        let ok = verifier.verify(&r);
                        assert!(lns.assign_from(&mut pool));
                        lns.auth_result(now, r.id, ok, b"");
                    }
                    PppEvent::Ipv4Up { .. } => up = true,
                    _ => {}
                }
            }
            if !any {
                break;
            }
        }
        assert!(up, "session {i}");
        sessions.push(lns);
    }
    assert_eq!(pool.available(), 65_536 - 10_000);
    assert!(frames >= 10_000 * 13, "{frames}");
    let end = start + secs(20);
    for s in &mut sessions {
        s.close(end, DownCause::AdminClose);
        assert!(s.is_down());
        s.release_to(&mut pool);
    }
    assert_eq!(pool.available(), 65_536);
}

/// A control-plane restart: the LNS session is rebuilt from what it had
/// agreed (nothing sent on resumption), answers the client's Echo-Request
/// with the same Magic-Number, keeps its own keepalives going without the
/// client noticing, and ends normally on the client's Terminate-Request.
#[test]
fn resumed_session_carries_on_where_it_was() {
    let mut p = Pair::new(
        lns_config(&[AuthMethod::ChapMd5]),
        client_config("pooluser", "poolpass"),
        21,
    );
    p.drive_until(secs(5));
    assert_up(&p);
    let address = p.ipv4_up().unwrap();
    let r = super::session::ResumedPpp {
        our_magic: p.lns.our_magic(),
        our_mru: 1500,
        peer: p.lns.peer_lcp(),
        auth: Some(AuthMethod::ChapMd5),
        username: p.lns.username().unwrap().to_vec(),
        address,
    };
    let config = Arc::new(lns_config(&[AuthMethod::ChapMd5]));
    p.lns = PppSession::resume(config, seed(99), p.now, &r);
    let resumed_at = p.now;
    assert_eq!(p.lns.poll_transmit(), None, "nothing sent on resumption");
    assert_eq!(p.lns.poll_event(), None);
    assert_eq!(
        (p.lns.phase(), p.lns.lcp_state(), p.lns.ipcp_state()),
        (Phase::Network, State::Opened, State::Opened)
    );
    assert_eq!(p.lns.peer_ipv4(), Some(address));
    assert_eq!(p.lns.username(), Some(&b"pooluser"[..]));
    // The client's Echo-Request: the reply carries the persisted magic.
    let mut req = lcp_frame(Code::EchoRequest, 77, &[]);
    req.extend_from_slice(&p.lns.peer_lcp().magic.to_be_bytes());
    req[6..8].copy_from_slice(&8u16.to_be_bytes());
    p.lns.handle_frame(p.now, &req);
    let reply = p.lns.poll_transmit().expect("Echo-Reply");
    assert_eq!(reply[..6], [0xff, 0x03, 0xc0, 0x21, 10, 77]);
    assert_eq!(reply[8..12], r.our_magic.to_be_bytes());
    // Two minutes more with the real client: our Echo-Requests carry the
    // same magic and are answered; no renegotiation, no Down.
    let trace_from = p.trace.len();
    p.drive_until(secs(125));
    assert_eq!(p.down(), None);
    let ours: Vec<_> = p.trace[trace_from..]
        .iter()
        .filter(|t| t.0 && t.1[2..5] == [0xc0, 0x21, 9])
        .collect();
    assert!((11..=12).contains(&ours.len()), "{}", ours.len());
    assert!(ours.iter().all(|t| t.1[8..12] == r.our_magic.to_be_bytes()));
    assert!(
        !p.trace[trace_from..]
            .iter()
            .any(|t| t.1[2..5] == [0xc0, 0x21, 1]),
        "no LCP Configure-Request either way"
    );
    assert!(p.now > resumed_at);
    assert_eq!(p.client.lcp_state(), State::Opened);
    // The client hangs up: the session ends as any other.
    p.client.close(p.now);
    p.drive_until(secs(130));
    assert_eq!(p.down(), Some(DownCause::PeerTerminated));
}
