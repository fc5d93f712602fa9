//! The I/O driver around the sans-IO [`Engine`]: one UDP socket, the
//! clock, OS randomness, and the shutdown sequence.
//!
//! The loop (one thread, no async runtime):
//!
//! 1. wait for a datagram, at most until [`Engine::poll_timeout`] (a
//!    blocking `recv_from` with `SO_RCVTIMEO`; capped at [`MAX_WAIT`] so
//!    a signal is noticed promptly even if it did not interrupt the call);
//! 2. after the first datagram, read up to `batch` more without blocking and
//!    hand each to [`Engine::handle`];
//! 3. [`Engine::handle_timeout`], drain [`Engine::poll_transmit`] into
//!    `send_to`, drain [`Engine::poll_event`] into the log and the
//!    [`SessionSink`].
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

use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::l2tp::{Engine, Event, Initiator, RandomSource, SessionInfo, SessionKey, SessionSink};

/// Longest single wait, so a raised stop flag is seen within this.
pub const MAX_WAIT: Duration = Duration::from_millis(250);

/// Receive/transmit buffer: the engine asks for 4096 bytes; a control
/// message is at most 65,535 (the Length field), UDP at most 65,507.
const BUF_LEN: usize = 65_536;

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

/// A [`SessionSink`] that logs (at debug; the driver already logs every
/// session at info) and does nothing else: the PPP and session-table sinks
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

/// The engine, its socket, and the loop.
pub struct Driver<S: SessionSink> {
    socket: UdpSocket,
    engine: Engine,
    sink: S,
    batch: usize,
    shutdown_timeout: Duration,
    stop_linger: Duration,
    rx: Vec<u8>,
    tx: Vec<u8>,
    read_timeout: Option<Duration>,
    nonblocking: bool,
    /// Tunnels the peer closed, lingering only to re-acknowledge its
    /// StopCCN, with when the engine drops them.
    peer_closed: HashMap<u16, Instant>,
}

impl<S: SessionSink> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("socket", &self.socket)
            .field("engine", &self.engine)
            .finish()
    }
}

impl<S: SessionSink> Driver<S> {
    /// A driver for `engine` on a bound `socket`.
    pub fn new(socket: UdpSocket, engine: Engine, sink: S, settings: &Settings) -> Self {
        Self {
            socket,
            stop_linger: engine.config().stop_linger,
            engine,
            sink,
            batch: settings.batch.max(1),
            shutdown_timeout: settings.shutdown_timeout,
            rx: vec![0; BUF_LEN],
            tx: vec![0; BUF_LEN],
            read_timeout: None,
            nonblocking: false,
            peer_closed: HashMap::new(),
        }
    }

    /// The engine (counters, tunnel counts).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Runs until `stop` is raised and the shutdown completes (every StopCCN
    /// acknowledged, or `shutdown_timeout`). Returns whether the shutdown
    /// was clean (`false`: the timeout cut it short).
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
                if self.shutdown_complete(t) {
                    info!(stats = ?self.engine.stats(), "shutdown complete");
                    return Ok(true);
                }
                if t >= d {
                    warn!(
                        unacknowledged = self
                            .engine
                            .tunnel_count()
                            .saturating_sub(self.peer_closed.len()),
                        stats = ?self.engine.stats(),
                        "shutdown timeout: exiting with StopCCNs unacknowledged"
                    );
                    return Ok(false);
                }
            }
            let mut wait = self
                .engine
                .poll_timeout()
                .map_or(MAX_WAIT, |at| at.saturating_duration_since(t))
                .min(MAX_WAIT);
            if let Some(d) = deadline {
                wait = wait.min(d.saturating_duration_since(t));
            }
            self.receive(wait)?;
            let t = now();
            self.engine.handle_timeout(t);
            self.flush(t)?;
        }
    }

    /// Waits up to `wait` for a datagram, then reads what else is queued,
    /// `batch` in all, feeding the engine.
    fn receive(&mut self, wait: Duration) -> io::Result<()> {
        let mut n = 0;
        // SO_RCVTIMEO has microsecond resolution; below 1 ms, don't sleep.
        if wait >= Duration::from_millis(1) {
            self.set_nonblocking(false)?;
            if self.read_timeout != Some(wait) {
                self.socket.set_read_timeout(Some(wait))?;
                self.read_timeout = Some(wait);
            }
            match self.recv_one() {
                Ok(true) => n += 1,
                Ok(false) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.set_nonblocking(true)?;
        while n < self.batch {
            match self.recv_one() {
                Ok(true) => n += 1,
                Ok(false) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        if self.nonblocking != on {
            self.socket.set_nonblocking(on)?;
            self.nonblocking = on;
        }
        Ok(())
    }

    /// One `recv_from`: `Ok(true)` if a datagram went to the engine,
    /// `Ok(false)` if none was there (timeout, would block, interrupted).
    fn recv_one(&mut self) -> io::Result<bool> {
        match self.socket.recv_from(&mut self.rx) {
            Ok((len, peer)) => {
                let t = now();
                self.engine.handle(t, peer, &self.rx[..len]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(false)
            }
            // ICMP errors reported on the socket: not fatal.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::HostUnreachable
                        | ErrorKind::NetworkUnreachable
                ) =>
            {
                debug!(error = %e, "recv_from");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends everything the engine has queued and handles its events.
    fn flush(&mut self, t: Instant) -> io::Result<()> {
        while let Some((peer, len)) = self.engine.poll_transmit(t, &mut self.tx) {
            if let Err(e) = self.socket.send_to(&self.tx[..len], peer) {
                // The reliable layer retransmits; a one-shot reply is lost.
                match e.kind() {
                    ErrorKind::WouldBlock
                    | ErrorKind::Interrupted
                    | ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable => {
                        debug!(%peer, error = %e, "send_to failed")
                    }
                    _ => warn!(%peer, error = %e, "send_to failed"),
                }
            }
        }
        while let Some(ev) = self.engine.poll_event() {
            self.log_event(t, &ev);
            ev.dispatch(&mut self.sink);
        }
        Ok(())
    }

    fn shutdown_complete(&mut self, t: Instant) -> bool {
        self.peer_closed.retain(|_, until| *until > t);
        self.engine.tunnel_count() <= self.peer_closed.len()
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
            Event::SessionUp(s) => info!(
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
            } => info!(
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
            let rng = Box::new(OsRandom::new().unwrap());
            let engine = Engine::new(settings.engine.clone(), rng);
            let mut driver = Driver::new(sock, engine, LoggingSink, &settings);
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
