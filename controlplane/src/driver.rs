//! The I/O driver around the sans-IO [`Engine`]: one UDP socket, the
//! clock, OS randomness, and the shutdown sequence.
//!
//! The loop (one thread, no async runtime):
//!
//! 1. wait for a datagram, at most until [`Engine::poll_timeout`] (a
//!    `poll(2)` on the sockets; capped at [`MAX_WAIT`] so a signal is noticed promptly even if it did not interrupt the call);
//! 2. from each readable socket, read up to `batch` datagrams with
//!    `recvmmsg(2)` (l2tpx-netio, D26) and hand each to [`Engine::handle`]
//!    (or the session manager);
//! 3. [`Engine::handle_timeout`], drain [`Engine::poll_transmit`] (and the
//!    manager's PPP frames) into one ordered batch sent with `sendmmsg`
//!    ([`TX_BATCH`] datagrams per call; RADIUS requests likewise on their
//!    socket), drain [`Engine::poll_event`] into the log and the session
//!    manager.
//!
//! **Shutdown**: when the stop flag is raised (SIGTERM/SIGINT in the
//! binary), [`Engine::shutdown`] queues a StopCCN (result 6) to every peer
//! and refuses new tunnels. The loop goes on until every tunnel we sent a
//! StopCCN on is acknowledged (the engine then drops it) or
//! `shutdown_timeout` passes. Tunnels the *peer* closed only linger to
//! re-acknowledge its StopCCN; they do not hold the exit up.
//!
//! **The clock**: [`now`] is the only function of the control plane that
//! reads it (ARCHITECTURE §3; clippy's `disallowed-methods` rule).
//!
//! **Randomness**: [`OsRandom`] reads the kernel's CSPRNG (`/dev/urandom`,
//! through a 4 KiB buffer), so tunnel IDs, challenges and random vectors
//! are unpredictable. No seed is kept in the process beyond the buffer.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::l2tp::{Engine, Event, Initiator, RandomSource, SessionInfo, SessionKey, SessionSink};
use crate::persist;
use crate::persist::journal::{self, Journal, Record, TunnelRecord};
use crate::radius::{DaeConfig, DaeServer, RadiusClient};
use crate::session::{Command, NeighbourSource, ProcNeighbours, SessionManager, TableSink};
use l2tpx_netio::{RecvBatch, SendBatch};
use l2tpx_table::TableWriter;

/// Logs a failed send (the reliable layer and RADIUS retransmit; a
/// one-shot reply is lost).
fn send_failed(to: SocketAddr, e: &io::Error) {
    match e.kind() {
        ErrorKind::WouldBlock
        | ErrorKind::Interrupted
        | ErrorKind::ConnectionRefused
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable => debug!(%to, error = %e, "send_to failed"),
        _ => warn!(%to, error = %e, "send_to failed"),
    }
}

/// `send_to`, logging failures.
fn send(sock: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = sock.send_to(bytes, to) {
        send_failed(to, &e);
    }
}

/// Datagrams sent per `sendmmsg(2)` at most.
pub const TX_BATCH: usize = 64;

/// Queues `bytes` for `to` on `out` (one socket's batch), sending the
/// batch first if it is full. A batch goes out with one `sendmmsg(2)` (a
/// control message or PPP frame is one datagram; per-datagram `sendto` was
/// the largest cost of a setup).
fn queue(out: &mut SendBatch, sock: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if out.is_full() {
        send_all(out, sock);
    }
    out.push(bytes, Some(to));
}

/// Sends everything queued on `out`, in order; a datagram the kernel
/// refuses is logged and skipped, as with `send_to`.
fn send_all(out: &mut SendBatch, sock: &UdpSocket) {
    out.flush_each(sock, |to, e| {
        if let Some(to) = to {
            send_failed(to, &e);
        }
    });
}

/// How often the driver logs a summary at info (only when sessions came
/// or went); single sessions are logged at debug (docs/decisions.md).
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Longest single wait, so a raised stop flag is seen within this.
pub const MAX_WAIT: Duration = Duration::from_millis(250);

/// Transmit buffer (receiving uses [`RecvBatch`] slots): the engine asks
/// for 4096 bytes; a control message is at most 65,535 (the Length
/// field), UDP at most 65,507.
const BUF_LEN: usize = 65_536;
/// Receive slots per `recvmmsg(2)` at most.
const RX_SLOTS: usize = 64;
/// Bytes per receive slot: a jumbo frame's payload. A LAC's control
/// messages and PPP frames fit in one Ethernet frame; a longer datagram
/// (only through IP fragmentation) is dropped, logged and counted.
const RX_SLOT: usize = 9216;

/// The one place the control plane reads the clock.
// Drivers own the clock; the engines take `now` (ARCHITECTURE §3).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// The kernel's CSPRNG (`/dev/urandom`) as the engine's [`RandomSource`].
#[derive(Debug)]
pub struct OsRandom {
    src: BufReader<File>,
}

impl OsRandom {
    /// Opens `/dev/urandom`.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            src: BufReader::with_capacity(4096, File::open("/dev/urandom")?),
        })
    }
}

impl RandomSource for OsRandom {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        // /dev/urandom does not fail once open; if it ever does, carrying on
        // with predictable IDs and challenges would be worse than stopping.
        if let Err(e) = self.src.read_exact(buf) {
            panic!("reading /dev/urandom: {e}");
        }
    }
}

/// A [`SessionSink`] that logs (at debug, as the driver logs every
/// session) and does nothing else: the PPP and session-table sinks
/// come later.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoggingSink;

impl SessionSink for LoggingSink {
    fn on_session_up(&mut self, info: &SessionInfo) {
        debug!(
            tunnel_id = info.key.tunnel_id,
            session_id = info.key.session_id,
            "sink: session up"
        );
    }

    fn on_session_down(&mut self, key: SessionKey, cause: &crate::l2tp::DisconnectCause) {
        debug!(
            tunnel_id = key.tunnel_id,
            session_id = key.session_id,
            result = cause.result,
            "sink: session down"
        );
    }
}

/// Binds the control socket: `listen`, with `SO_RCVBUF` raised to
/// `recv_buffer_bytes` (the kernel caps it at `net.core.rmem_max`; the
/// value obtained is logged).
pub fn bind(listen: SocketAddr, recv_buffer_bytes: usize) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(listen)?;
    let r = socket2::SockRef::from(&sock);
    if let Err(e) = r.set_recv_buffer_size(recv_buffer_bytes) {
        warn!(error = %e, "cannot set SO_RCVBUF");
    }
    Ok(sock)
}

/// Seconds since the Unix epoch (Acct-Session-Id prefix of this run).
#[allow(clippy::disallowed_methods)]
pub fn unix_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Builds the whole control plane on a bound L2TP `socket`: the engine,
/// the session table (`table.path`, reopened with its sessions when it
/// exists and fits, else created; or in memory), the
/// RADIUS client and its socket (when servers are configured), the DAE
/// listener (when `[dae]` is), and the session manager. Errors say what
/// failed.
pub fn assemble(
    settings: &Settings,
    socket: UdpSocket,
) -> Result<Driver<TableWriter, ProcNeighbours>, String> {
    let rng = || OsRandom::new().map_err(|e| format!("cannot open /dev/urandom: {e}"));
    let mut engine = Engine::new(settings.engine.clone(), Box::new(rng()?));
    let t = &settings.table;
    let bank_bits = u32::from(settings.engine.bank_bits);
    let table = match &t.path {
        Some(p) => persist::open_table(p, t, bank_bits, &settings.origin)?.0,
        None => TableWriter::create_in_memory(t.capacity, bank_bits, t.workers)
            .map_err(|e| format!("cannot create the in-memory session table: {e}"))?,
    };
    let plan = match &t.state_path {
        Some(p) => Some((load_plan(p, &table)?, p)),
        None => None,
    };
    let mut manager = SessionManager::new(
        settings.manager_config(unix_secs()),
        table,
        ProcNeighbours::default(),
        Box::new(rng()?),
    );
    let mut radius_socket = None;
    if let Some(rc) = &settings.aaa.radius {
        let src = settings.aaa.radius_source;
        let s = UdpSocket::bind(src)
            .map_err(|e| format!("cannot bind the RADIUS client socket {src}: {e}"))?;
        info!(local = %s.local_addr().map_err(|e| e.to_string())?, servers = rc.servers.len(), "RADIUS client");
        manager = manager.with_radius(RadiusClient::new(rc.clone(), Box::new(rng()?)));
        radius_socket = Some(s);
    }
    let mut dae_socket = None;
    if let Some(d) = &settings.dae {
        let s = UdpSocket::bind(d.listen)
            .map_err(|e| format!("cannot bind the DAE listener {}: {e}", d.listen))?;
        let mut cfg = DaeConfig::new(d.clients.clone());
        if let Some(rc) = &settings.aaa.radius {
            cfg.nas = rc.nas.clone();
        }
        info!(listen = %d.listen, clients = d.clients.len(), "DAE listener");
        manager = manager.with_dae(DaeServer::new(cfg));
        dae_socket = Some(s);
    }
    let journal = match plan {
        Some((plan, path)) => {
            let t = now();
            let r = persist::resume(plan, t, u64::from(unix_secs()), &mut engine, &mut manager);
            info!(
                tunnels = r.tunnels,
                sessions = r.sessions,
                ended = r.ended,
                withdrawn = r.withdrawn,
                lost = r.lost,
                failed = r.failed,
                "control state resumed"
            );
            let j = Journal::create(path, &r.state)
                .map_err(|e| format!("cannot write the state journal {}: {e}", path.display()))?;
            Some(j)
        }
        None => None,
    };
    let io = |e: io::Error| format!("socket setup: {e}");
    let mut d = Driver::new(socket, engine, manager, settings).map_err(io)?;
    d.journal = journal;
    if let Some(s) = radius_socket {
        d = d.with_radius_socket(s).map_err(io)?;
    }
    if let Some(s) = dae_socket {
        d = d.with_dae_socket(s).map_err(io)?;
    }
    Ok(d)
}

/// Reads the state journal at `path` and matches it against the table.
fn load_plan(path: &std::path::Path, table: &TableWriter) -> Result<persist::Plan, String> {
    let (state, rep) = journal::load(path)
        .map_err(|e| format!("cannot read the state journal {}: {e}", path.display()))?;
    if rep.bad_header || rep.corrupt > 0 || rep.dropped_bytes > 0 || rep.unknown > 0 {
        warn!(journal = %path.display(), ?rep, "state journal: a damaged tail or foreign records were dropped");
    }
    Ok(persist::reconcile(&state, table.iter_published()))
}

/// Which socket a datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sock {
    L2tp,
    Radius,
    Dae,
}

/// The engine, the session manager, their sockets, and the loop.
pub struct Driver<T: TableSink, N: NeighbourSource> {
    socket: UdpSocket,
    radius_socket: Option<UdpSocket>,
    dae_socket: Option<UdpSocket>,
    engine: Engine,
    manager: SessionManager<T, N>,
    batch: usize,
    shutdown_timeout: Duration,
    stop_linger: Duration,
    /// `None` only while [`Driver::recv_batch`] holds it.
    rx: Option<RecvBatch>,
    /// Datagrams dropped for being longer than [`RX_SLOT`].
    truncated: u64,
    tx: Vec<u8>,
    out: SendBatch,
    radius_out: SendBatch,
    /// Tunnels the peer closed, lingering only to re-acknowledge its
    /// StopCCN, with when the engine drops them.
    peer_closed: HashMap<u16, Instant>,
    /// The control-state journal (`table.state_path`).
    journal: Option<Journal>,
    summary: Summary,
}

/// What the last info summary reported, and when the next one is due.
#[derive(Debug, Default)]
struct Summary {
    next: Option<Instant>,
    ip_up: u64,
    ended: u64,
    auth_rejects: u64,
}

impl<T: TableSink, N: NeighbourSource> std::fmt::Debug for Driver<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("socket", &self.socket)
            .field("engine", &self.engine)
            .field("manager", &self.manager)
            .finish()
    }
}

impl<T: TableSink, N: NeighbourSource> Driver<T, N> {
    /// A driver for `engine` and `manager` on a bound L2TP `socket`.
    pub fn new(
        socket: UdpSocket,
        engine: Engine,
        manager: SessionManager<T, N>,
        settings: &Settings,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            radius_socket: None,
            dae_socket: None,
            stop_linger: engine.config().stop_linger,
            engine,
            manager,
            batch: settings.batch.max(1),
            shutdown_timeout: settings.shutdown_timeout,
            rx: Some(RecvBatch::new(settings.batch.clamp(1, RX_SLOTS), RX_SLOT)),
            truncated: 0,
            tx: vec![0; BUF_LEN],
            out: SendBatch::new(TX_BATCH, 0),
            radius_out: SendBatch::new(TX_BATCH, 0),
            peer_closed: HashMap::new(),
            journal: None,
            summary: Summary::default(),
        })
    }

    /// Adds the RADIUS client socket (the manager must have a client).
    pub fn with_radius_socket(mut self, socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        self.radius_socket = Some(socket);
        Ok(self)
    }

    /// Adds the DAE listener socket (the manager must have a server).
    pub fn with_dae_socket(mut self, socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        self.dae_socket = Some(socket);
        Ok(self)
    }

    /// The engine (counters, tunnel counts).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The session manager.
    pub fn manager(&self) -> &SessionManager<T, N> {
        &self.manager
    }

    /// The L2TP socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The DAE socket's local address, if any.
    pub fn dae_addr(&self) -> Option<SocketAddr> {
        self.dae_socket.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Runs until `stop` is raised and the shutdown completes (every StopCCN
    /// acknowledged and every accounting record answered, or
    /// `shutdown_timeout`). Returns whether the shutdown was clean
    /// (`false`: the timeout cut it short).
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<bool> {
        let mut deadline: Option<Instant> = None;
        loop {
            let t = now();
            if deadline.is_none() && stop.load(Ordering::Relaxed) {
                let tunnels = self.engine.active_tunnel_count();
                info!(
                    tunnels,
                    sessions = self.engine.session_count(),
                    timeout_ms = self.shutdown_timeout.as_millis() as u64,
                    "shutting down: StopCCN to every peer"
                );
                self.engine.shutdown(t);
                deadline = Some(t + self.shutdown_timeout);
                self.flush(t)?;
            }
            if let Some(d) = deadline {
                self.flush_journal();
                if self.shutdown_complete(t) {
                    info!(stats = ?self.engine.stats(), sessions = ?self.manager.stats(), "shutdown complete");
                    return Ok(true);
                }
                if t >= d {
                    warn!(
                        unacknowledged = self
                            .engine
                            .tunnel_count()
                            .saturating_sub(self.peer_closed.len()),
                        radius_pending = self.manager.radius().map_or(0, |r| r.pending_len()),
                        stats = ?self.engine.stats(),
                        "shutdown timeout: exiting with StopCCNs or accounting unacknowledged"
                    );
                    return Ok(false);
                }
            }
            let next = [self.engine.poll_timeout(), self.manager.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let mut wait = next
                .map_or(MAX_WAIT, |at| at.saturating_duration_since(t))
                .min(MAX_WAIT);
            if let Some(d) = deadline {
                wait = wait.min(d.saturating_duration_since(t));
            }
            self.manager.set_wall_clock(t, u64::from(unix_secs()));
            self.receive(wait)?;
            let t = now();
            self.engine.handle_timeout(t);
            self.manager.handle_timeout(t);
            self.flush(t)?;
            self.flush_journal();
            self.log_summary(t);
        }
    }

    /// Appends the manager's journal records and writes the batch (one
    /// write per loop iteration).
    fn flush_journal(&mut self) {
        while let Some(r) = self.manager.poll_journal() {
            if let Some(j) = self.journal.as_mut() {
                j.append(&r);
            }
        }
        if let Some(j) = self.journal.as_mut() {
            if let Err(e) = j.flush() {
                warn!(error = %e, stats = ?j.stats(), "writing the state journal");
            }
        }
    }

    /// Every [`SUMMARY_INTERVAL`], if sessions came or went: one info line
    /// with the counts (per-session lines are at debug).
    fn log_summary(&mut self, t: Instant) {
        let next = *self.summary.next.get_or_insert(t + SUMMARY_INTERVAL);
        if t < next {
            return;
        }
        self.summary.next = Some(t + SUMMARY_INTERVAL);
        let m = self.manager.stats();
        let s = &mut self.summary;
        if (m.ip_up, m.ended, m.auth_rejects) == (s.ip_up, s.ended, s.auth_rejects) {
            return;
        }
        info!(
            sessions = self.manager.session_count(),
            tunnels = self.engine.active_tunnel_count(),
            up = m.ip_up - s.ip_up,
            ended = m.ended - s.ended,
            auth_rejects = m.auth_rejects - s.auth_rejects,
            interval_s = SUMMARY_INTERVAL.as_secs(),
            "sessions"
        );
        (s.ip_up, s.ended, s.auth_rejects) = (m.ip_up, m.ended, m.auth_rejects);
    }

    /// Waits up to `wait` for any socket to be readable (poll(2)), then
    /// reads up to `batch` datagrams from each readable one.
    fn receive(&mut self, wait: Duration) -> io::Result<()> {
        // At most three sockets: arrays, not a Vec per loop turn.
        let mut ready = [None; 3];
        {
            let socks = [
                Some((&self.socket, Sock::L2tp)),
                self.radius_socket.as_ref().map(|s| (s, Sock::Radius)),
                self.dae_socket.as_ref().map(|s| (s, Sock::Dae)),
            ];
            let mut which = [Sock::L2tp; 3];
            let mut fds = [
                PollFd::new(&self.socket, PollFlags::IN),
                PollFd::new(&self.socket, PollFlags::IN),
                PollFd::new(&self.socket, PollFlags::IN),
            ];
            let mut n = 0;
            for (s, w) in socks.into_iter().flatten() {
                fds[n] = PollFd::new(s, PollFlags::IN);
                which[n] = w;
                n += 1;
            }
            let ts = Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: wait.subsec_nanos().into(),
            };
            match rustix::event::poll(&mut fds[..n], Some(&ts)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            for ((f, w), r) in fds[..n].iter().zip(which).zip(&mut ready) {
                if !f.revents().is_empty() {
                    *r = Some(w);
                }
            }
        }
        for w in ready.into_iter().flatten() {
            self.recv_batch(w)?;
        }
        Ok(())
    }

    /// Reads up to `batch` datagrams from one socket with `recvmmsg`
    /// (several calls when the batch is smaller than the slots) and
    /// handles each.
    fn recv_batch(&mut self, which: Sock) -> io::Result<()> {
        let mut rb = self.rx.take().expect("receive batch");
        let r = self.recv_into(&mut rb, which);
        self.rx = Some(rb);
        r
    }

    fn recv_into(&mut self, rb: &mut RecvBatch, which: Sock) -> io::Result<()> {
        let mut left = self.batch;
        while left > 0 {
            let sock = match which {
                Sock::L2tp => &self.socket,
                Sock::Radius => self.radius_socket.as_ref().expect("polled"),
                Sock::Dae => self.dae_socket.as_ref().expect("polled"),
            };
            let n = match rb.recv(sock, left) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    return Ok(())
                }
                // ICMP errors reported on the socket: not fatal; the
                // datagrams behind it are read on the next call.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::ConnectionReset
                            | ErrorKind::HostUnreachable
                            | ErrorKind::NetworkUnreachable
                    ) =>
                {
                    debug!(error = %e, "recvmmsg");
                    left -= 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            left -= n;
            let t = now();
            for i in 0..n {
                let Some(peer) = rb.source(i) else {
                    continue;
                };
                if rb.truncated(i) {
                    self.truncated += 1;
                    warn!(%peer, slot = RX_SLOT, truncated = self.truncated, "datagram longer than a receive slot: dropped");
                    continue;
                }
                self.handle_datagram(which, t, peer, rb.packet(i));
            }
            if n < rb.capacity().min(left + n) {
                // The socket is drained.
                return Ok(());
            }
        }
        Ok(())
    }

    fn handle_datagram(&mut self, which: Sock, t: Instant, peer: SocketAddr, d: &[u8]) {
        match which {
            Sock::L2tp if d.first().is_some_and(|b| b & 0x80 == 0) => {
                self.manager.handle_data(t, peer, d)
            }
            Sock::L2tp => {
                self.engine.handle(t, peer, d);
                // SessionUp reaches the manager before the next
                // datagram, which may be the session's first LCP
                // frame.
                while let Some(ev) = self.engine.poll_event() {
                    self.log_event(t, &ev);
                    self.manager.handle_event(t, &ev);
                }
            }
            Sock::Radius => self.manager.handle_radius(t, peer, d),
            Sock::Dae => self.manager.handle_dae(t, peer, d),
        }
    }

    /// Sends everything the engine and the manager have queued, hands the
    /// engine's events to the manager and the manager's commands to the
    /// engine, until neither has more. PPP frames go out before a CDN
    /// queued with them (LCP Terminate-Request, then CDN).
    fn flush(&mut self, t: Instant) -> io::Result<()> {
        loop {
            let mut progress = false;
            while let Some(ev) = self.engine.poll_event() {
                self.log_event(t, &ev);
                self.manager.handle_event(t, &ev);
                progress = true;
            }
            while let Some((peer, msg)) = self.manager.poll_transmit() {
                queue(&mut self.out, &self.socket, &msg, peer);
            }
            while let Some(Command::CloseSession {
                key,
                result,
                error,
                message,
            }) = self.manager.poll_command()
            {
                if let Err(e) = self.engine.close_session(t, key, result, error, &message) {
                    debug!(?key, error = ?e, "close_session");
                }
                progress = true;
            }
            while let Some((peer, len)) = self.engine.poll_transmit(t, &mut self.tx) {
                queue(&mut self.out, &self.socket, &self.tx[..len], peer);
            }
            while let Some((to, msg)) = self.manager.poll_radius_transmit() {
                if let Some(s) = &self.radius_socket {
                    queue(&mut self.radius_out, s, &msg, to);
                }
            }
            while let Some((to, msg)) = self.manager.poll_dae_transmit() {
                if let Some(s) = &self.dae_socket {
                    send(s, &msg, to);
                }
            }
            while self.manager.poll_event().is_some() {}
            if !progress {
                send_all(&mut self.out, &self.socket);
                if let Some(s) = &self.radius_socket {
                    send_all(&mut self.radius_out, s);
                }
                return Ok(());
            }
        }
    }

    fn shutdown_complete(&mut self, t: Instant) -> bool {
        self.peer_closed.retain(|_, until| *until > t);
        self.engine.tunnel_count() <= self.peer_closed.len()
            && self.manager.radius().is_none_or(|r| r.pending_len() == 0)
    }

    fn log_event(&mut self, t: Instant, ev: &Event) {
        match ev {
            Event::TunnelUp {
                tunnel_id,
                peer_tunnel_id,
                peer,
                host_name,
            } => {
                self.peer_closed.remove(tunnel_id);
                if let Some(j) = self.journal.as_mut() {
                    j.append(&Record::TunnelUp(TunnelRecord {
                        tunnel_id: *tunnel_id,
                        peer_tunnel_id: *peer_tunnel_id,
                        peer: *peer,
                        peer_rws: self.engine.peer_rws(*tunnel_id).unwrap_or(4),
                        host_name: host_name.clone(),
                    }));
                }
                info!(
                    tunnel_id,
                    peer_tunnel_id,
                    %peer,
                    host_name = %String::from_utf8_lossy(host_name),
                    "tunnel up"
                );
            }
            Event::TunnelDown {
                tunnel_id,
                peer,
                cause,
                was_up,
            } => {
                if cause.initiator == Initiator::Peer {
                    self.peer_closed.insert(*tunnel_id, t + self.stop_linger);
                }
                if let Some(j) = self.journal.as_mut() {
                    j.append(&Record::TunnelDown {
                        tunnel_id: *tunnel_id,
                    });
                }
                info!(
                    tunnel_id,
                    %peer,
                    was_up,
                    initiator = ?cause.initiator,
                    result = cause.result,
                    error = cause.error,
                    reason = ?cause.message,
                    "tunnel down"
                );
            }
            Event::SessionUp(s) => debug!(
                tunnel_id = s.key.tunnel_id,
                session_id = s.key.session_id,
                peer_tunnel_id = s.peer_tunnel_id,
                peer_session_id = s.peer_session_id,
                peer = %s.peer,
                slot = self.engine.slot_index(s.key),
                call_serial = s.call_serial,
                direction = ?s.direction,
                sequencing = s.sequencing_required,
                "session up"
            ),
            Event::SessionDown {
                key,
                peer_session_id,
                cause,
                was_up,
            } => debug!(
                tunnel_id = key.tunnel_id,
                session_id = key.session_id,
                peer_session_id,
                was_up,
                initiator = ?cause.initiator,
                result = cause.result,
                error = cause.error,
                reason = ?cause.message,
                q931 = cause.q931.as_ref().map(|q| q.cause_code),
                "session down"
            ),
            Event::WanErrorNotify { key, errors } => debug!(
                tunnel_id = key.tunnel_id,
                session_id = key.session_id,
                errors = ?errors,
                "WAN-Error-Notify"
            ),
            Event::SetLinkInfo {
                key,
                send_accm,
                receive_accm,
            } => debug!(
                tunnel_id = key.tunnel_id,
                session_id = key.session_id,
                send_accm,
                receive_accm,
                "Set-Link-Info"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::{CallParams, Lac, LacConfig, SplitMix64};
    use std::sync::Arc;

    #[test]
    fn os_random_differs() {
        let mut r = OsRandom::new().unwrap();
        let (a, b) = (r.next_u64(), r.next_u64());
        assert_ne!(a, b);
        let mut big = [0u8; 10_000];
        r.fill_bytes(&mut big);
        assert!(big.iter().any(|&b| b != 0));
    }

    /// More than a batch, in order, to two receivers; a datagram the kernel
    /// refuses (an IPv6 destination on an IPv4 socket) is skipped and the
    /// rest still go out.
    #[test]
    fn queue_keeps_order_and_skips_refused_datagrams() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for r in &rx {
            r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        let bad: SocketAddr = "[2001:db8::1]:1701".parse().unwrap();
        let mut b = SendBatch::new(TX_BATCH, 0);
        let n = 2 * TX_BATCH + 3;
        for i in 0..n {
            if i == 5 {
                queue(&mut b, &tx, b"refused", bad);
            }
            let to = rx[i % 2].local_addr().unwrap();
            queue(&mut b, &tx, &(i as u32).to_be_bytes(), to);
        }
        send_all(&mut b, &tx);
        assert!(b.is_empty());
        let mut buf = [0u8; 16];
        for (k, r) in rx.iter().enumerate() {
            for i in (k..n).step_by(2) {
                let len = r.recv(&mut buf).unwrap();
                assert_eq!(&buf[..len], &(i as u32).to_be_bytes());
            }
        }
    }

    /// What a loopback run saw.
    struct Loopback {
        session_up: bool,
        stopccn_seen: bool,
        clean: bool,
        tunnels_left: usize,
        took: Duration,
    }

    /// The driver on loopback against the sans-IO LAC: a tunnel and a
    /// session come up, then the stop flag is raised. A `silent` LAC stops
    /// reading once its session is up, so our StopCCN is never acknowledged.
    fn loopback(silent: bool, shutdown_timeout: Duration) -> Loopback {
        let mut settings = crate::config::parse(&crate::config::test_aaa(), "t").unwrap();
        settings.shutdown_timeout = shutdown_timeout;
        let sock = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        let lns_addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        // The engine is not `Send` (its `Box<dyn RandomSource>`): build it
        // on the thread that runs it.
        let lns = std::thread::spawn(move || {
            let mut driver = assemble(&settings, sock).unwrap();
            let clean = driver.run(&stop2).unwrap();
            (clean, driver.engine().tunnel_count(), now())
        });

        let lac_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        lac_sock
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut lac = Lac::new(LacConfig::default(), Box::new(SplitMix64(7)));
        let start = now();
        let mut stopped_at = start;
        let tid = lac.open_tunnel(start, lns_addr).unwrap();
        let mut buf = vec![0u8; BUF_LEN];
        let (mut called, mut session_up, mut stopccn_seen) = (false, false, false);
        while now() - start < Duration::from_secs(10) {
            if lns.is_finished() {
                break;
            }
            if let Ok((n, from)) = lac_sock.recv_from(&mut buf) {
                if silent && session_up {
                    stopccn_seen |= buf[..n].len() > 12;
                    continue;
                }
                lac.handle(now(), from, &buf[..n]);
            }
            lac.handle_timeout(now());
            while let Some((to, n)) = lac.poll_transmit(now(), &mut buf) {
                lac_sock.send_to(&buf[..n], to).unwrap();
            }
            while let Some(ev) = lac.poll_event() {
                match ev {
                    Event::TunnelUp { .. } if !called => {
                        lac.place_call(now(), tid, CallParams::default()).unwrap();
                        called = true;
                    }
                    Event::SessionUp(_) => {
                        session_up = true;
                        stopped_at = now();
                        stop.store(true, Ordering::Relaxed);
                    }
                    Event::TunnelDown { cause, .. } => {
                        assert_eq!(cause.initiator, Initiator::Peer);
                        assert_eq!(cause.result, 6);
                        stopccn_seen = true;
                    }
                    _ => {}
                }
            }
        }
        let (clean, tunnels_left, ended) = lns.join().unwrap();
        Loopback {
            session_up,
            stopccn_seen,
            clean,
            tunnels_left,
            took: ended - stopped_at,
        }
    }

    /// The LAC acknowledges our StopCCN: `run` returns `Ok(true)` with no
    /// tunnel left, long before the timeout.
    #[test]
    fn loopback_session_then_clean_shutdown() {
        let r = loopback(false, Duration::from_secs(5));
        assert!(r.session_up && r.stopccn_seen);
        assert!(r.clean);
        assert_eq!(r.tunnels_left, 0);
        assert!(r.took < Duration::from_secs(2), "{:?}", r.took);
    }

    /// The LAC goes silent: `run` gives up after `shutdown_timeout`.
    #[test]
    fn loopback_shutdown_times_out_on_a_silent_peer() {
        let r = loopback(true, Duration::from_millis(400));
        assert!(r.session_up && r.stopccn_seen);
        assert!(!r.clean);
        assert_eq!(r.tunnels_left, 1);
        assert!(
            r.took >= Duration::from_millis(400) && r.took < Duration::from_secs(2),
            "{:?}",
            r.took
        );
    }
}
