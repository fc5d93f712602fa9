//! The LAC + subscriber emulator: one [`Lac`] engine and one UDP socket per
//! tunnel, one [`PppClient`] per session, PPP frames carried in L2TP data
//! messages (T=0, L=1, the LNS's tunnel and session IDs).
//!
//! Sessions are placed round-robin over the tunnels at a paced rate with a
//! cap on outstanding setups (l2tpns's UDP receive buffer overflows past
//! about 64). The control channel acks quickly (`ack_delay` 2 ms) and
//! retransmits after 250 ms: l2tpns sends no ZLB while it has unacked
//! messages of its own, so a LAC waiting the RFC's 1 s stalls at about 60
//! sessions/s.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use l2tpx_controlplane::l2tp::reliable::ReliableConfig;
use l2tpx_controlplane::l2tp::{
    CallParams, Event, IdHasher, Lac, LacConfig, SessionKey, SplitMix64,
};
use l2tpx_controlplane::ppp::client::{ClientConfig, ClientEvent, PppClient};
use l2tpx_controlplane::ppp::fsm::State as PppState;
use l2tpx_controlplane::ppp::lcp::AuthMethod;
use l2tpx_wire::l2tp::{is_control_message, DataHeader};
use l2tpx_wire::ppp::chap_md5_response;
use l2tpx_wire::ppp::protocol_and_offset;

use crate::clock;
use crate::traffic::SLOT;
use crate::traffic::{
    fine_timer_slack, record_down, turn_wait, write_ipv4_udp, write_l2tp_ppp_header, MmsgIo, Pacer,
    RxStats, TestIo, TrafficParams, TxStats, BATCH, DOWN_PORT, UP_PORT,
};
use l2tpx_netio::{RecvBatch, SendBatch};

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmuConfig {
    /// The LNS's L2TP address.
    pub lns: SocketAddrV4,
    /// Local addresses; tunnel `i` binds `local_addrs[i % len]` on a port
    /// of its own (distinct 5-tuples, so RSS can spread tunnels).
    pub local_addrs: Vec<Ipv4Addr>,
    /// Tunnels.
    pub tunnels: usize,
    /// Sessions per tunnel.
    pub sessions_per_tunnel: usize,
    /// Session setups started per second (0: unpaced).
    pub setup_rate: f64,
    /// Setups in progress at most.
    pub max_outstanding: usize,
    /// PAP Peer-ID / CHAP name.
    pub username: String,
    /// Password / CHAP secret.
    pub password: String,
    /// Send proxy authentication AVPs in the ICCN (the LAC authenticated
    /// the client: Proxy Authen Type/Name/ID/Response, and the Challenge
    /// for CHAP). Without `proxy_lcp`, PPP is still negotiated end to end.
    pub proxy_auth: bool,
    /// Send proxy LCP AVPs in the ICCN (the LAC negotiated LCP with the
    /// client, asking for `auth`): the client starts with LCP Opened, and
    /// with `proxy_auth` authenticated too.
    pub proxy_lcp: bool,
    /// The authentication the LAC asks for under `proxy_lcp`, and the
    /// proxy authentication type.
    pub auth: AuthMethod,
    /// Tunnel secret (we challenge the LNS and answer its challenge).
    pub secret: Option<Vec<u8>>,
    /// A session not up this long after its ICRQ fails ("timeout").
    pub setup_timeout: Duration,
    /// The whole setup phase ends after this long.
    pub setup_deadline: Duration,
    /// Control-channel first retransmission timeout.
    pub rto: Duration,
    /// Control-channel ack delay.
    pub ack_delay: Duration,
    /// Receive window we advertise.
    pub receive_window: u16,
    /// Send UDP checksum 0 (`SO_NO_CHECK`; the baseline target, see
    /// [`no_udp_checksum`]).
    pub no_udp_checksum: bool,
    /// Report setup progress on stderr once a second (a redrawn bar on a
    /// terminal, a line otherwise).
    pub progress: bool,
}

impl Default for EmuConfig {
    fn default() -> Self {
        EmuConfig {
            lns: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 1701),
            local_addrs: vec![Ipv4Addr::new(198, 18, 0, 2)],
            tunnels: 1,
            sessions_per_tunnel: 1,
            setup_rate: 0.0,
            max_outstanding: 64,
            username: "bench".into(),
            password: "benchpw".into(),
            proxy_auth: false,
            proxy_lcp: false,
            auth: AuthMethod::ChapMd5,
            secret: None,
            setup_timeout: Duration::from_secs(20),
            setup_deadline: Duration::from_secs(120),
            rto: Duration::from_millis(250),
            ack_delay: Duration::from_millis(2),
            receive_window: 64,
            no_udp_checksum: false,
            progress: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Idle,
    Calling,
    Ppp,
    Up,
    Failed,
    Closed,
}

#[derive(Debug)]
struct Sess {
    tunnel: u32,
    sid: u16,
    peer_sid: u16,
    state: St,
    started: Option<Instant>,
    ppp: Option<Box<PppClient>>,
    /// The LNS has sent a PPP frame on this session: it has processed our
    /// ICCN (which may sit behind a full control window), so our PPP
    /// frames are no longer dropped. Until then the client's frames wait.
    lns_spoke: bool,
    addr: Ipv4Addr,
}

struct Tun {
    lac: Lac,
    sock: UdpSocket,
    tid: u16,
    peer_tid: u16,
    up: bool,
    /// By our (the LAC's) session ID.
    sessions: HashMap<u16, u32, BuildHasherDefault<IdHasher>>,
}

/// What the setup phase measured.
#[derive(Debug, Clone, Default)]
pub struct SetupResult {
    /// Sessions asked for.
    pub requested: usize,
    /// Sessions that reached IPCP Opened.
    pub up: usize,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// From the first ICRQ to the last session up (or the end).
    pub duration: Duration,
    /// Sessions up per second, per full [`SetupResult::window`]: min,
    /// avg, max.
    pub rate_min: f64,
    /// Average over the full windows (all windows if none is full).
    pub rate_avg: f64,
    /// Maximum.
    pub rate_max: f64,
    /// up / duration.
    pub rate_overall: f64,
    /// Sessions up in each 1 s window.
    pub per_second: Vec<u64>,
    /// The rate windows: 1 s, or a twentieth of a setup shorter than 20 s
    /// (at least 10 ms), so that a short setup still shows its rate.
    pub window: Duration,
    /// Sessions up in each `window`.
    pub per_window: Vec<u64>,
    /// ICRQ to IPCP Opened, per session.
    pub latency_us: Option<hdrhistogram::Histogram<u64>>,
    /// Tunnels established.
    pub tunnels_up: usize,
    /// Sessions that went down after coming up, during setup.
    pub sessions_dropped_after_up: u64,
}

/// The emulator.
pub struct Emulator {
    cfg: EmuConfig,
    tuns: Vec<Tun>,
    sess: Vec<Sess>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    rx: RecvBatch,
    tx: TxQueue,
    buf: Vec<u8>,
    outstanding: usize,
    up_times: Vec<Instant>,
    setup_lat_us: Vec<u64>,
    failures: BTreeMap<String, u64>,
    dropped_after_up: u64,
    seed: u64,
    /// Downstream receiver, during traffic.
    down_rx: Option<RxStats>,
    /// Plain (not encapsulated) downstream packets, from the bare forwarder.
    plain_down: Option<UdpSocket>,
    /// The traffic I/O's own descriptor, polled with the sockets during
    /// traffic so that a wait ends when test datagrams arrive.
    io_fd: Option<RawFd>,
    tearing_down: bool,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("tunnels", &self.tuns.len())
            .field("sessions", &self.sess.len())
            .finish()
    }
}

/// Control messages and PPP frames for one tunnel's socket, in order, sent
/// with one `sendmmsg` when full, when another tunnel sends, and before the
/// emulator waits (a `send` per datagram was a third of its CPU).
struct TxQueue {
    batch: SendBatch,
    tunnel: usize,
}

impl TxQueue {
    fn queue(&mut self, tuns: &[Tun], t: usize, bytes: &[u8]) {
        if t != self.tunnel || self.batch.is_full() {
            self.flush(tuns);
        }
        self.tunnel = t;
        self.batch.push(bytes, None);
    }

    fn flush(&mut self, tuns: &[Tun]) {
        if !self.batch.is_empty() {
            // As with `send`: a refused datagram is retransmitted by the
            // reliable layer or the PPP restart timer.
            let _ = self.batch.flush(&tuns[self.tunnel].sock);
        }
    }
}

fn fail(failures: &mut BTreeMap<String, u64>, reason: impl Into<String>) {
    *failures.entry(reason.into()).or_default() += 1;
}

impl Emulator {
    /// Creates one connected, non-blocking UDP socket per tunnel (call
    /// from a thread inside the LAC namespace: see `in_netns`).
    pub fn bind_sockets(cfg: &EmuConfig) -> io::Result<Vec<UdpSocket>> {
        (0..cfg.tunnels)
            .map(|i| {
                let local = cfg.local_addrs[i % cfg.local_addrs.len().max(1)];
                let sock = UdpSocket::bind(SocketAddrV4::new(local, 0))?;
                sock.connect(cfg.lns)?;
                sock.set_nonblocking(true)?;
                let _ = set_buffers(&sock, 4 << 20);
                if cfg.no_udp_checksum {
                    no_udp_checksum(&sock)?;
                }
                Ok(sock)
            })
            .collect()
    }

    /// Opens every tunnel (SCCRQ) over `socks` (from
    /// [`Emulator::bind_sockets`]).
    pub fn new(cfg: EmuConfig, socks: Vec<UdpSocket>) -> io::Result<Emulator> {
        let now = clock::now();
        let seed = clock::nanos() ^ u64::from(std::process::id()) << 32;
        let mut tuns = Vec::with_capacity(cfg.tunnels);
        let sessions = cfg.tunnels * cfg.sessions_per_tunnel;
        if socks.len() != cfg.tunnels {
            return Err(io::Error::other("one socket per tunnel"));
        }
        for (i, sock) in socks.into_iter().enumerate() {
            let lac_cfg = LacConfig {
                host_name: format!("l2tpx-bench-{i}"),
                secret: cfg.secret.clone(),
                reliable: ReliableConfig {
                    initial_rto: cfg.rto,
                    ack_delay: cfg.ack_delay,
                    ..ReliableConfig::default()
                },
                receive_window: cfg.receive_window,
                stop_linger: Duration::from_secs(2),
                hello_interval: Duration::from_secs(60),
                ..LacConfig::default()
            };
            let mut lac = Lac::new(
                lac_cfg,
                Box::new(SplitMix64(seed.wrapping_add(i as u64 * 7919))),
            );
            let tid = lac
                .open_tunnel(now, SocketAddr::V4(cfg.lns))
                .ok_or_else(|| io::Error::other("no tunnel ID"))?;
            tuns.push(Tun {
                lac,
                sock,
                tid,
                peer_tid: 0,
                up: false,
                sessions: HashMap::with_capacity_and_hasher(
                    cfg.sessions_per_tunnel,
                    BuildHasherDefault::default(),
                ),
            });
        }
        let sess = (0..sessions)
            .map(|i| Sess {
                tunnel: (i % cfg.tunnels.max(1)) as u32,
                sid: 0,
                peer_sid: 0,
                state: St::Idle,
                started: None,
                ppp: None,
                lns_spoke: false,
                addr: Ipv4Addr::UNSPECIFIED,
            })
            .collect();
        let mut e = Emulator {
            cfg,
            tuns,
            sess,
            timers: BinaryHeap::new(),
            rx: RecvBatch::new(BATCH, SLOT),
            tx: TxQueue {
                batch: SendBatch::new(BATCH, SLOT),
                tunnel: 0,
            },
            buf: vec![0; SLOT],
            outstanding: 0,
            up_times: Vec::new(),
            setup_lat_us: Vec::new(),
            failures: BTreeMap::new(),
            dropped_after_up: 0,
            seed,
            down_rx: None,
            plain_down: None,
            io_fd: None,
            tearing_down: false,
        };
        for t in 0..e.tuns.len() {
            e.pump_tunnel(t, now);
        }
        e.tx.flush(&e.tuns);
        Ok(e)
    }

    /// Sessions that are up, with their index and address.
    pub fn up_sessions(&self) -> Vec<(u32, Ipv4Addr)> {
        self.sess
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == St::Up)
            .map(|(i, s)| (i as u32, s.addr))
            .collect()
    }

    /// The tunnels' sockets as test-traffic I/O (flow `t`: tunnel `t`).
    pub fn mmsg_io(&self) -> MmsgIo {
        let fds: Vec<_> = self.tuns.iter().map(|t| t.sock.as_raw_fd()).collect();
        MmsgIo::new(&fds, Vec::new())
    }

    /// Each tunnel's local address and port (its 5-tuple towards the LNS).
    pub fn tunnel_sources(&self) -> io::Result<Vec<SocketAddrV4>> {
        self.tuns
            .iter()
            .map(|t| match t.sock.local_addr()? {
                SocketAddr::V4(a) => Ok(a),
                SocketAddr::V6(a) => Err(io::Error::other(format!("IPv6 tunnel socket {a}"))),
            })
            .collect()
    }

    /// Also receives downstream traffic as plain IPv4/UDP on `sock` (bound
    /// to [`DOWN_PORT`] in the LAC namespace; the baseline target).
    pub fn set_plain_downstream(&mut self, sock: UdpSocket) {
        self.plain_down = Some(sock);
    }

    /// Total sessions.
    pub fn session_count(&self) -> usize {
        self.sess.len()
    }

    /// Brings the sessions up; returns what it measured.
    pub fn setup(&mut self) -> SetupResult {
        let start = clock::now();
        let deadline = start + self.cfg.setup_deadline;
        let total = self.sess.len();
        let mut next = 0usize;
        let mut last_scan = start;
        let mut bar = self
            .cfg
            .progress
            .then(|| crate::progress::Progress::new("setup", total));
        let (mut last_report, mut up_then) = (start, 0usize);
        loop {
            let now = clock::now();
            if let Some(b) = bar
                .as_mut()
                .filter(|_| now - last_report >= Duration::from_secs(1))
            {
                let up = self.up_times.len();
                let rate = (up - up_then) as f64 / (now - last_report).as_secs_f64();
                let failed: u64 = self.failures.values().sum();
                b.update(
                    up,
                    &format!(
                        "up, {rate:.0}/s, {} outstanding, {failed} failed",
                        self.outstanding
                    ),
                );
                (last_report, up_then) = (now, up);
            }
            // Place calls: paced, bounded outstanding, round-robin over
            // tunnels (session i is on tunnel i % T).
            let allowed = if self.cfg.setup_rate > 0.0 {
                ((now - start).as_secs_f64() * self.cfg.setup_rate) as usize + 1
            } else {
                usize::MAX
            };
            while next < total && next < allowed && self.outstanding < self.cfg.max_outstanding {
                self.place(next, now);
                next += 1;
            }
            if next >= total && self.outstanding == 0 {
                break;
            }
            if now >= deadline || crate::interrupted() {
                let why = if now >= deadline {
                    "setup deadline"
                } else {
                    "interrupted"
                };
                for i in 0..self.sess.len() {
                    if matches!(self.sess[i].state, St::Calling | St::Ppp) {
                        self.fail_session(i, now, why);
                    }
                }
                break;
            }
            let wait = if next < total && self.outstanding < self.cfg.max_outstanding {
                Duration::from_micros(200)
            } else {
                Duration::from_millis(5)
            };
            self.step(now, wait);
            if now - last_scan >= Duration::from_millis(100) {
                last_scan = now;
                self.expire(now);
            }
        }
        if let Some(b) = bar.as_mut() {
            b.finish();
        }
        self.setup_result(start)
    }

    fn setup_result(&mut self, start: Instant) -> SetupResult {
        let total = self.sess.len();
        let first = self
            .sess
            .iter()
            .filter_map(|s| s.started)
            .min()
            .unwrap_or(start);
        let end = self.up_times.iter().copied().max().unwrap_or(first);
        let duration = end.saturating_duration_since(first);
        let secs = (duration.as_secs_f64().ceil() as usize).max(1);
        let mut per_second = vec![0u64; secs];
        for t in &self.up_times {
            let w = (t.saturating_duration_since(first).as_secs_f64() as usize).min(secs - 1);
            per_second[w] += 1;
        }
        let (window, per_window) = rate_windows(&self.up_times, first, duration);
        let w = window.as_secs_f64();
        let full = (duration.as_secs_f64() / w).floor() as usize;
        let windows: &[u64] = if full >= 1 {
            &per_window[..full.min(per_window.len())]
        } else {
            &per_window
        };
        let rate = |n: u64| (n as f64 / w).round();
        let mut lat = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
            .expect("valid bounds");
        for &us in &self.setup_lat_us {
            let _ = lat.record(us.max(1));
        }
        let up = self.up_times.len();
        SetupResult {
            requested: total,
            up,
            failures: self.failures.clone(),
            duration,
            rate_min: rate(windows.iter().copied().min().unwrap_or(0)),
            rate_avg: (windows.iter().sum::<u64>() as f64 / windows.len().max(1) as f64 / w)
                .round(),
            rate_max: rate(windows.iter().copied().max().unwrap_or(0)),
            rate_overall: if duration.is_zero() {
                up as f64
            } else {
                up as f64 / duration.as_secs_f64()
            },
            per_second,
            window,
            per_window,
            latency_us: Some(lat),
            tunnels_up: self.tuns.iter().filter(|t| t.up).count(),
            sessions_dropped_after_up: self.dropped_after_up,
        }
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            username: self.cfg.username.clone().into_bytes(),
            password: self.cfg.password.clone().into_bytes(),
            request_dns: false,
            ..ClientConfig::default()
        }
    }

    /// Session `i`'s client seed (its LCP Magic-Number, and under proxy
    /// CHAP the LAC's challenge).
    fn client_seed(&self, i: usize) -> [u8; 16] {
        let mut seed = [0u8; 16];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..12].copy_from_slice(&(i as u32).to_le_bytes());
        seed
    }

    fn place(&mut self, i: usize, now: Instant) {
        let t = self.sess[i].tunnel as usize;
        let mut params = CallParams {
            calling_number: Some(format!("bench-{i}").into_bytes()),
            called_number: Some(b"l2tpx".to_vec()),
            ..CallParams::default()
        };
        if self.cfg.proxy_lcp {
            let (client, lcp) = PppClient::proxied(
                self.client_config(),
                self.client_seed(i),
                now,
                Some(self.cfg.auth),
                self.cfg.proxy_auth,
            );
            self.sess[i].ppp = Some(Box::new(client));
            params.proxy.initial_received_lcp_confreq = Some(lcp.initial_received);
            params.proxy.last_sent_lcp_confreq = Some(lcp.last_sent);
            params.proxy.last_received_lcp_confreq = Some(lcp.last_received);
        }
        if self.cfg.proxy_auth {
            let name = Some(self.cfg.username.clone().into_bytes());
            let password = self.cfg.password.as_bytes();
            let p = &mut params.proxy;
            match self.cfg.auth {
                AuthMethod::ChapMd5 => {
                    // The LAC's own challenge to the client (RFC 2661 §4.4.5).
                    let challenge = self.client_seed(i).to_vec();
                    let id = (i as u8) | 1;
                    p.authen_type = Some(2);
                    p.authen_name = name;
                    p.authen_response = Some(chap_md5_response(id, password, &challenge).to_vec());
                    p.authen_challenge = Some(challenge);
                    p.authen_id = Some(id);
                }
                AuthMethod::Pap => {
                    p.authen_type = Some(3);
                    p.authen_name = name;
                    p.authen_response = Some(password.to_vec());
                    p.authen_id = Some(1);
                }
            }
        }
        self.sess[i].started = Some(now);
        self.outstanding += 1;
        let tid = self.tuns[t].tid;
        match self.tuns[t].lac.place_call(now, tid, params) {
            Ok(key) => {
                self.sess[i].sid = key.session_id;
                self.sess[i].state = St::Calling;
                self.tuns[t].sessions.insert(key.session_id, i as u32);
                self.pump_tunnel(t, now);
            }
            Err(e) => {
                self.sess[i].state = St::Calling;
                self.fail_session(i, now, format!("place_call: {e:?}"));
            }
        }
    }

    /// Marks a session failed (closing its call if it has one).
    fn fail_session(&mut self, i: usize, now: Instant, reason: impl Into<String>) {
        let s = &mut self.sess[i];
        if !matches!(s.state, St::Calling | St::Ppp) {
            return;
        }
        s.state = St::Failed;
        s.ppp = None;
        self.outstanding -= 1;
        fail(&mut self.failures, reason);
        let t = s.tunnel as usize;
        let key = SessionKey {
            tunnel_id: self.tuns[t].tid,
            session_id: s.sid,
        };
        if self.tuns[t].sessions.remove(&s.sid).is_some() {
            let _ = self.tuns[t].lac.close_call(now, key, 2, None);
            self.pump_tunnel(t, now);
        }
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.setup_timeout;
        for i in 0..self.sess.len() {
            let s = &self.sess[i];
            if matches!(s.state, St::Calling | St::Ppp)
                && s.started.is_some_and(|t| now >= t + timeout)
            {
                let why = if s.state == St::Calling {
                    "timeout: no ICRP"
                } else {
                    match s.ppp.as_deref().map(|p| (p.lcp_state(), p.ipcp_state())) {
                        Some((l, _)) if l != PppState::Opened => "timeout: LCP not opened",
                        _ => "timeout: IPCP not opened",
                    }
                };
                self.fail_session(i, now, why);
            }
        }
    }

    /// One turn of the event loop: wait up to `wait` for input (less if a
    /// timer is due sooner), read the readable sockets, run due timers, send.
    fn step(&mut self, now: Instant, wait: Duration) {
        let mut until = now + wait;
        for t in &self.tuns {
            if let Some(d) = t.lac.poll_timeout() {
                until = until.min(d);
            }
        }
        if let Some(Reverse((d, _))) = self.timers.peek() {
            until = until.min(*d);
        }
        let ms = until.saturating_duration_since(now);
        self.tx.flush(&self.tuns);
        // Only the sockets poll found readable (an empty recvmmsg per idle
        // tunnel per turn was a good part of the emulator's receive cost).
        let readable = (!ms.is_zero()).then(|| self.poll_sockets(ms));
        let now = clock::now();
        for t in 0..self.tuns.len() {
            if readable.as_ref().is_none_or(|r| r[t]) {
                self.read_tunnel(t, now);
            }
        }
        self.read_plain();
        self.run_timers(now);
        self.tx.flush(&self.tuns);
    }

    fn read_plain(&mut self) {
        let Some(sock) = &self.plain_down else {
            return;
        };
        loop {
            let n = match self.rx.recv(sock, BATCH) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (t, tn) = (clock::now(), clock::nanos());
            if let Some(rx) = self.down_rx.as_mut() {
                for k in 0..n {
                    record_down(rx, DOWN_PORT, self.rx.packet(k), t, tn);
                }
            }
            if n < BATCH {
                break;
            }
        }
    }

    /// Waits up to `d`; which tunnels' sockets are readable.
    fn poll_sockets(&self, d: Duration) -> Vec<bool> {
        let mut fds: Vec<libc::pollfd> = self
            .tuns
            .iter()
            .map(|t| t.sock.as_raw_fd())
            .chain(self.plain_down.as_ref().map(AsRawFd::as_raw_fd))
            .chain(self.io_fd)
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = d.as_millis().clamp(0, 1000) as i32;
        let ms = if ms == 0 && !d.is_zero() { 1 } else { ms };
        // SAFETY: `fds` is a live array of pollfd.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            // EINTR and the like: look at every socket.
            return vec![true; fds.len()];
        }
        fds.iter().map(|f| f.revents != 0).collect()
    }

    fn run_timers(&mut self, now: Instant) {
        for t in 0..self.tuns.len() {
            if self.tuns[t].lac.poll_timeout().is_some_and(|d| d <= now) {
                self.tuns[t].lac.handle_timeout(now);
                self.pump_tunnel(t, now);
            }
        }
        while let Some(&Reverse((d, i))) = self.timers.peek() {
            if d > now {
                break;
            }
            self.timers.pop();
            let i = i as usize;
            let due = self.sess[i]
                .ppp
                .as_deref()
                .and_then(PppClient::poll_timeout)
                .is_some_and(|d| d <= now);
            if due {
                if let Some(p) = self.sess[i].ppp.as_deref_mut() {
                    p.handle_timeout(now);
                }
                self.service_session(i, now);
            }
        }
    }

    fn read_tunnel(&mut self, t: usize, now: Instant) {
        loop {
            let n = match self.rx.recv(&self.tuns[t].sock, BATCH) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut rx = std::mem::take(&mut self.rx);
            let mut control = false;
            for k in 0..n {
                let pkt = rx.packet(k);
                if is_control_message(pkt) {
                    let Some(peer) = rx.source(k) else {
                        continue;
                    };
                    self.tuns[t].lac.handle(now, peer, pkt);
                    control = true;
                } else {
                    self.data_message(t, pkt, now);
                }
            }
            std::mem::swap(&mut self.rx, &mut rx);
            if control {
                self.pump_tunnel(t, now);
            }
            if n < BATCH {
                break;
            }
        }
    }

    fn data_message(&mut self, t: usize, pkt: &[u8], now: Instant) {
        let Ok(h) = DataHeader::parse(pkt) else {
            return;
        };
        let Some(&i) = self.tuns[t].sessions.get(&h.session_id) else {
            return;
        };
        let frame = &pkt[h.payload_offset..h.payload_end];
        if let Ok((0x0021, _)) = protocol_and_offset(frame) {
            if let Some(rx) = self.down_rx.as_mut() {
                record_down(rx, 0, pkt, now, clock::nanos());
            }
            return;
        }
        let i = i as usize;
        let s = &mut self.sess[i];
        s.lns_spoke = true;
        if let Some(p) = s.ppp.as_deref_mut() {
            // A Challenge ahead of l2tpns's Configure-Ack is kept by the
            // client itself until its LCP opens.
            p.handle_frame(now, frame);
            self.service_session(i, now);
        }
    }

    /// Sends what a session's PPP client queued and acts on its events.
    fn service_session(&mut self, i: usize, now: Instant) {
        let t = self.sess[i].tunnel as usize;
        let (ptid, psid) = (self.tuns[t].peer_tid, self.sess[i].peer_sid);
        let spoke = self.sess[i].lns_spoke;
        let Some(p) = self.sess[i].ppp.as_deref_mut() else {
            return;
        };
        while let Some(frame) = spoke.then(|| p.poll_transmit()).flatten() {
            let n = data_message(&mut self.buf, ptid, psid, &frame);
            self.tx.queue(&self.tuns, t, &self.buf[..n]);
        }
        let mut events = Vec::new();
        while let Some(ev) = p.poll_event() {
            events.push(ev);
        }
        // LCP going down on the way to Opened again: the LNS renegotiates
        // (it did not take the proxied LCP), not a failure.
        let renegotiating = matches!(
            p.lcp_state(),
            PppState::ReqSent | PppState::AckRcvd | PppState::AckSent | PppState::Opened
        );
        if let Some(d) = p.poll_timeout() {
            self.timers.push(Reverse((d, i as u32)));
        }
        for ev in events {
            match ev {
                ClientEvent::Ipv4Up { address, .. } => {
                    let s = &mut self.sess[i];
                    if s.state == St::Ppp {
                        s.state = St::Up;
                        s.addr = address;
                        self.outstanding -= 1;
                        self.up_times.push(now);
                        if let Some(st) = s.started {
                            self.setup_lat_us.push((now - st).as_micros() as u64);
                        }
                    }
                }
                ClientEvent::AuthFailed => self.fail_session(i, now, "PPP authentication failed"),
                ClientEvent::Down if renegotiating && self.sess[i].state == St::Ppp => {}
                ClientEvent::Down => {
                    if self.sess[i].state == St::Up && !self.tearing_down {
                        self.dropped_after_up += 1;
                    }
                    self.fail_session(i, now, "PPP LCP down");
                }
                ClientEvent::LinkUp | ClientEvent::Authenticated => {}
            }
        }
    }

    /// Queues tunnel `t`'s ready control messages for sending, in order.
    fn queue_control(&mut self, t: usize, now: Instant) {
        while let Some((_, n)) = self.tuns[t].lac.poll_transmit(now, &mut self.buf) {
            self.tx.queue(&self.tuns, t, &self.buf[..n]);
        }
    }

    /// Acts on a tunnel's events and sends its control messages.
    fn pump_tunnel(&mut self, t: usize, now: Instant) {
        // The LAC reports SessionUp as a call's ICCN leaves: send first.
        self.queue_control(t, now);
        let mut calls_up = Vec::new();
        while let Some(ev) = self.tuns[t].lac.poll_event() {
            match ev {
                Event::TunnelUp { peer_tunnel_id, .. } => {
                    self.tuns[t].up = true;
                    self.tuns[t].peer_tid = peer_tunnel_id;
                }
                Event::SessionUp(info) => {
                    calls_up.push((info.key.session_id, info.peer_session_id));
                }
                Event::SessionDown { key, cause, .. } => {
                    if let Some(i) = self.tuns[t].sessions.remove(&key.session_id) {
                        let i = i as usize;
                        match self.sess[i].state {
                            St::Calling | St::Ppp => {
                                let why = format!(
                                    "CDN from LNS: result {} error {:?} {}",
                                    cause.result, cause.error, cause.message
                                );
                                // Already removed from the map: no CDN back.
                                let s = &mut self.sess[i];
                                s.state = St::Failed;
                                s.ppp = None;
                                self.outstanding -= 1;
                                fail(&mut self.failures, why.trim_end());
                            }
                            St::Up if !self.tearing_down => {
                                self.sess[i].state = St::Closed;
                                self.sess[i].ppp = None;
                                self.dropped_after_up += 1;
                                fail(&mut self.failures, "CDN from LNS after up");
                            }
                            _ => {}
                        }
                    }
                }
                Event::TunnelDown { .. } => self.tuns[t].up = false,
                _ => {}
            }
        }
        // Anything the events queued goes out before the first LCP frame:
        // l2tpns ignores PPP on a session it has not seen connected.
        self.queue_control(t, now);
        for (sid, peer_sid) in calls_up {
            let Some(&i) = self.tuns[t].sessions.get(&sid) else {
                continue;
            };
            let i = i as usize;
            if self.sess[i].state != St::Calling {
                continue;
            }
            self.sess[i].peer_sid = peer_sid;
            self.sess[i].state = St::Ppp;
            // A proxied client exists since the call was placed.
            if self.sess[i].ppp.is_none() {
                let client = PppClient::new(self.client_config(), self.client_seed(i), now);
                self.sess[i].ppp = Some(Box::new(client));
            }
            self.service_session(i, now);
        }
    }

    /// Carries traffic: upstream from every up session (paced) over `io`
    /// (flow `t`: tunnel `t`), and receives downstream (from `io` and the
    /// tunnels' sockets), while still answering the control channels.
    /// Returns (upstream sender, downstream receiver).
    pub fn traffic(
        &mut self,
        params: &TrafficParams,
        core_port: u16,
        io: &mut dyn TestIo,
    ) -> (TxStats, RxStats) {
        let up: Vec<(u32, Ipv4Addr)> = self.up_sessions();
        let mut down_rx = RxStats::new(self.sess.len());
        down_rx.since_ns = params.since_ns;
        self.down_rx = Some(down_rx);
        let start = clock::now();
        let end = start + params.duration;
        let limit = if params.pps_up.is_some() && !up.is_empty() {
            params.max_packets
        } else {
            0
        };
        let mut pacer = Pacer::new(start, params.pps_up.unwrap_or(0), limit);
        let mut tx = TxStats::default();
        let mut seqs = vec![0u32; up.len()];
        let dst = SocketAddrV4::new(params.core_addr, core_port);
        let mut next = 0usize;
        let stop_at = end + params.drain;
        let poll = io.poll_mode();
        let mut control_at = start;
        self.io_fd = io.poll_fd();
        if poll {
            fine_timer_slack();
        }
        loop {
            let now = clock::now();
            if let Some(rx) = self.down_rx.as_mut() {
                io.recv(&mut |port, p, t, tn| record_down(rx, port, p, t, tn));
            }
            let sending = now < end && !pacer.done() && !crate::interrupted();
            if sending {
                let due = pacer.due(now).min(BATCH as u64);
                let mut queued = 0u64;
                for _ in 0..due {
                    let k = next;
                    next = (next + 1) % up.len();
                    let (i, addr) = up[k];
                    let s = &self.sess[i as usize];
                    let t = s.tunnel as usize;
                    let Some(slot) = io.slot(t) else {
                        break;
                    };
                    let seq = seqs[k];
                    seqs[k] += 1;
                    let ip_len = params.size.ip_len(seq);
                    let total =
                        write_l2tp_ppp_header(slot, self.tuns[t].peer_tid, s.peer_sid, ip_len);
                    write_ipv4_udp(
                        &mut slot[12..],
                        SocketAddrV4::new(addr, UP_PORT),
                        dst,
                        ip_len,
                        i,
                        seq,
                        clock::nanos(),
                    );
                    io.commit(t, total, None);
                    tx.bytes += (ip_len + 18) as u64;
                    queued += 1;
                }
                let (sent, refused) = io.flush();
                if queued > 0 {
                    tx.first.get_or_insert(now);
                    tx.last = Some(clock::now());
                }
                tx.sent += sent;
                tx.refused += refused;
                pacer.sent += queued;
            } else {
                io.flush();
                if now >= stop_at {
                    break;
                }
            }
            let now = clock::now();
            if poll {
                // The RX ring every turn; the control channels every millisecond.
                if !sending {
                    self.step(now, Duration::from_millis(1));
                } else {
                    if now >= control_at {
                        self.step(now, Duration::ZERO);
                        control_at = now + Duration::from_millis(1);
                    }
                    let wait = turn_wait(true, &pacer, true, Duration::ZERO);
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                }
                continue;
            }
            let wait = turn_wait(sending, &pacer, false, Duration::from_millis(2));
            if wait.is_zero() {
                for t in 0..self.tuns.len() {
                    self.read_tunnel(t, now);
                }
                self.read_plain();
                self.run_timers(now);
            } else {
                self.step(now, wait.min(Duration::from_millis(2)));
            }
        }
        self.io_fd = None;
        let unsent = io.unsent();
        tx.sent -= unsent.min(tx.sent);
        tx.refused += unsent;
        if let Some(b) = (tx.bytes * tx.sent).checked_div(tx.sent + tx.refused) {
            tx.bytes = b;
        }
        let rx = self.down_rx.take().unwrap_or_else(|| RxStats::new(0));
        (tx, rx)
    }

    /// Services the control channels (acks, hellos, PPP timers) for `d`.
    pub fn idle(&mut self, d: Duration) {
        let end = clock::now() + d;
        loop {
            let now = clock::now();
            if now >= end || crate::interrupted() {
                return;
            }
            self.step(now, (end - now).min(Duration::from_millis(50)));
        }
    }

    /// Clears every call (CDN, result 3: administrative) then every tunnel
    /// (StopCCN, result 1), and waits until the LNS has acknowledged the
    /// StopCCNs or `timeout` passes. Returns whether all were acked.
    pub fn teardown(&mut self, timeout: Duration) -> bool {
        self.tearing_down = true;
        let now = clock::now();
        for i in 0..self.sess.len() {
            let s = &mut self.sess[i];
            let t = s.tunnel as usize;
            if self.tuns[t].sessions.remove(&s.sid).is_some() {
                if matches!(s.state, St::Calling | St::Ppp) {
                    self.outstanding -= 1;
                }
                s.state = St::Closed;
                s.ppp = None;
                let key = SessionKey {
                    tunnel_id: self.tuns[t].tid,
                    session_id: s.sid,
                };
                let _ = self.tuns[t].lac.close_call(now, key, 3, None);
            }
        }
        for t in 0..self.tuns.len() {
            let tid = self.tuns[t].tid;
            let _ = self.tuns[t].lac.close_tunnel(now, tid, 1);
            self.pump_tunnel(t, now);
        }
        let deadline = now + timeout;
        loop {
            let now = clock::now();
            if self.tuns.iter().all(|t| t.lac.tunnel_count() == 0) {
                self.tx.flush(&self.tuns);
                return true;
            }
            if now >= deadline {
                return false;
            }
            self.step(now, Duration::from_millis(5));
        }
    }
}

/// Per-session bytes the heap delta of a setup does not show: the session
/// slot and its ID-map entry (allocated up front).
pub fn fixed_bytes_per_session() -> usize {
    std::mem::size_of::<Sess>() + std::mem::size_of::<(u16, u32)>() + 1
}

/// Writes an L2TP data message (T=0, L=1, version 2) carrying `frame`.
pub fn data_message(buf: &mut [u8], tunnel: u16, session: u16, frame: &[u8]) -> usize {
    let n = 8 + frame.len();
    buf[0..2].copy_from_slice(&0x4002u16.to_be_bytes());
    buf[2..4].copy_from_slice(&(n as u16).to_be_bytes());
    buf[4..6].copy_from_slice(&tunnel.to_be_bytes());
    buf[6..8].copy_from_slice(&session.to_be_bytes());
    buf[8..n].copy_from_slice(frame);
    n
}

/// Sets SO_RCVBUF and SO_SNDBUF (best effort; FORCE variants as root).
fn set_buffers(sock: &UdpSocket, bytes: i32) -> io::Result<()> {
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: a valid fd and a c_int option value.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `sock` send UDP checksum 0 (legal over IPv4, RFC 768). For the
/// bare forwarder: a veth's checksum offload (a partial checksum the peer
/// trusts) does not survive the trip through XDP and AF_XDP, so the
/// receiving kernel would drop every datagram as corrupt.
pub fn no_udp_checksum(sock: &UdpSocket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a socket's buffers (used for the core-side socket too).
pub fn grow_buffers(sock: &UdpSocket) {
    let _ = set_buffers(sock, 4 << 20);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_message_parses_back() {
        let mut b = [0u8; 64];
        let n = data_message(&mut b, 7, 9, &[0xff, 0x03, 0xc0, 0x21, 1, 2]);
        let h = DataHeader::parse(&b[..n]).unwrap();
        assert_eq!((h.tunnel_id, h.session_id), (7, 9));
        assert_eq!(
            &b[h.payload_offset..h.payload_end],
            &[0xff, 0x03, 0xc0, 0x21, 1, 2]
        );
        assert!(!is_control_message(&b[..n]));
    }
}

/// Counts `ups` into windows from `first`: 1 s windows for a setup of
/// 20 s or more, else a twentieth of `duration` rounded up to 10 ms.
fn rate_windows(ups: &[Instant], first: Instant, duration: Duration) -> (Duration, Vec<u64>) {
    let window = if duration >= Duration::from_secs(20) {
        Duration::from_secs(1)
    } else {
        let ms = (duration.as_millis() as u64)
            .div_ceil(20)
            .div_ceil(10)
            .max(1)
            * 10;
        Duration::from_millis(ms)
    };
    let w = window.as_secs_f64();
    let n = ((duration.as_secs_f64() / w).ceil() as usize).max(1);
    let mut counts = vec![0u64; n];
    for t in ups {
        let i = (t.saturating_duration_since(first).as_secs_f64() / w) as usize;
        counts[i.min(n - 1)] += 1;
    }
    (window, counts)
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // any instant will do as the origin
    fn rate_windows_follow_the_setup_length() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 190 ms: 10 ms windows, 19 of them.
        let ups: Vec<Instant> = (0..190).map(at).collect();
        let (w, c) = rate_windows(&ups, t0, Duration::from_millis(190));
        assert_eq!((w, c.len()), (Duration::from_millis(10), 19));
        assert!(c.iter().all(|&n| n == 10), "{c:?}");
        // 5 s: 250 ms windows; the last instant lands in the last window.
        let (w, c) = rate_windows(&[at(0), at(4_999), at(5_000)], t0, Duration::from_secs(5));
        assert_eq!((w, c.len()), (Duration::from_millis(250), 20));
        assert_eq!((c[0], c[19]), (1, 2));
        // 30 s: 1 s windows.
        let (w, c) = rate_windows(&[at(29_500)], t0, Duration::from_secs(30));
        assert_eq!((w, c.len(), c[29]), (Duration::from_secs(1), 30, 1));
        // Nothing up: one empty window.
        let (_, c) = rate_windows(&[], t0, Duration::ZERO);
        assert_eq!(c, vec![0]);
    }
}
