//! What the end-to-end session tests share: the whole control plane
//! (`driver::assemble`, the binary's wiring) in-process on 127.0.0.1 with
//! the session table in a temporary file ([`Lns`]), and a LAC with a PPP
//! client per call on the real clock ([`Lac`]).

// Each test binary uses part of this.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use l2tpx_controlplane::config;
use l2tpx_controlplane::driver;
use l2tpx_controlplane::l2tp::{CallParams, LacConfig, SessionKey, SplitMix64};
use l2tpx_controlplane::ppp::client::ClientConfig;
use l2tpx_controlplane::session::testing::{LacPeer, PeerEvent};
use l2tpx_controlplane::session::ManagerStats;
use l2tpx_tests::freeradius::{self, DetailRecord, FreeRadius};

pub const SECRET: &str = "l2tpx-test-secret";

/// Whether to skip (FreeRADIUS or radclient missing), saying why.
pub fn skip() -> bool {
    if let Some(why) = freeradius::unavailable() {
        eprintln!("SKIPPED: {why}");
        return true;
    }
    if !freeradius::radclient_available() {
        eprintln!("SKIPPED: radclient is not installed (freeradius-utils)");
        return true;
    }
    false
}

/// What the driver thread hands back when it stops.
#[derive(Debug)]
pub struct Done {
    /// `Driver::run`'s verdict (every session ended in time).
    pub clean: bool,
    /// The manager's counters.
    pub stats: ManagerStats,
    /// Sessions left.
    pub sessions: usize,
    /// Addresses left in each configured pool, by name.
    pub pools: Vec<(String, Option<usize>)>,
}

impl Done {
    /// Addresses left in pool `name`.
    pub fn pool(&self, name: &str) -> Option<usize> {
        self.pools
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, a)| *a)
    }
}

/// The control plane on its own thread.
pub struct Lns {
    /// The L2TP socket.
    pub addr: SocketAddr,
    /// The DAE listener (the L2TP socket when none).
    pub dae: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Done>,
}

impl Lns {
    /// Starts the control plane configured by `text`, on a fresh
    /// 127.0.0.1 port.
    pub fn start(text: &str) -> Lns {
        let mut settings = config::parse(text, "test.toml").unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        settings.listen = addr;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (tx, rx) = mpsc::channel();
        // The engines are not `Send`: build them on the thread that runs them.
        let thread = std::thread::spawn(move || {
            let mut d = driver::assemble(&settings, sock).unwrap();
            tx.send(d.dae_addr().unwrap_or(d.local_addr().unwrap()))
                .unwrap();
            let clean = d.run(&stop2).unwrap();
            let m = d.manager();
            Done {
                clean,
                stats: m.stats(),
                sessions: m.session_count(),
                pools: settings
                    .pools
                    .iter()
                    .map(|p| (p.name.clone(), m.pool_available(&p.name)))
                    .collect(),
            }
        });
        let dae = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Lns {
            addr,
            dae,
            stop,
            thread,
        }
    }

    /// Stops the driver (the LAC keeps answering meanwhile).
    pub fn stop(self, lac: &mut Lac) -> Done {
        self.stop.store(true, Ordering::Relaxed);
        while !self.thread.is_finished() {
            lac.step();
        }
        self.thread.join().expect("no panic")
    }
}

/// `[aaa]` in RADIUS mode against `fr`'s ports (or `ports` when given),
/// a default pool 198.18.64.0/18, the table in `dir`, a DAE listener on
/// an ephemeral port. `aaa_extra` goes into `[aaa]`, `extra` at the end.
pub fn radius_config(
    auth_port: u16,
    acct_port: u16,
    dir: &Path,
    aaa_extra: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[l2tp]
listen = "127.0.0.1:1701"
[ppp]
auth = ["chap-md5"]
[aaa]
mode = "radius"
{aaa_extra}
[aaa.radius]
nas_identifier = "l2tpx-test"
timeout_ms = 300
retries = 2
dead_time_s = 0
[[aaa.radius.server]]
address = "127.0.0.1"
secret = "{SECRET}"
auth_port = {auth_port}
acct_port = {acct_port}
[[pool]]
name = "default"
first = "198.18.64.0"
last = "198.18.127.255"
[table]
path = "{}"
workers = 2
[dae]
listen = "127.0.0.1:0"
[[dae.client]]
address = "127.0.0.1"
secret = "{SECRET}"
[driver]
shutdown_timeout_ms = 3000
{extra}
"#,
        dir.join("table").display()
    )
}

/// The LAC side on the real clock.
pub struct Lac {
    sock: UdpSocket,
    pub peer: LacPeer,
    lns: SocketAddr,
    /// What happened, in order.
    pub events: Vec<PeerEvent>,
    /// When each of `events` happened.
    pub times: Vec<Instant>,
    buf: Vec<u8>,
}

impl Lac {
    pub fn new(lns: SocketAddr) -> Lac {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let seed =
            u64::from(std::process::id()) << 20 ^ u64::from(sock.local_addr().unwrap().port());
        Lac {
            sock,
            peer: LacPeer::new(
                LacConfig::default(),
                ClientConfig::default(),
                Box::new(SplitMix64(seed)),
            ),
            lns,
            events: Vec::new(),
            times: Vec::new(),
            buf: vec![0; 65_536],
        }
    }

    /// One round: a datagram (5 ms at most), timers, sends, events.
    pub fn step(&mut self) {
        if let Ok((n, from)) = self.sock.recv_from(&mut self.buf) {
            let b = self.buf[..n].to_vec();
            self.peer.handle(Instant::now(), from, &b);
        }
        let now = Instant::now();
        if self.peer.poll_timeout().is_some_and(|t| t <= now) {
            self.peer.handle_timeout(now);
        }
        while let Some((to, bytes)) = self.peer.poll_transmit(now) {
            self.sock.send_to(&bytes, to).unwrap();
        }
        while let Some(e) = self.peer.poll_event() {
            eprintln!("LAC: {e:?}");
            self.events.push(e);
            self.times.push(Instant::now());
        }
    }

    /// Steps for `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.step();
        }
    }

    /// Runs until `pred` holds on the events (true) or `timeout` (false).
    pub fn until(&mut self, timeout: Duration, pred: impl Fn(&[PeerEvent]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            self.step();
            if pred(&self.events) {
                return true;
            }
        }
        false
    }

    /// When the first event matching `pred` happened.
    pub fn when(&self, pred: impl Fn(&PeerEvent) -> bool) -> Option<Instant> {
        self.events
            .iter()
            .zip(&self.times)
            .find(|(e, _)| pred(e))
            .map(|(_, t)| *t)
    }

    /// Places a call for `user` (CHAP with `password`) on the tunnel,
    /// opening it first if needed.
    pub fn call(&mut self, user: &str, password: &str) -> SessionKey {
        let tid = self.tunnel();
        let client = ClientConfig {
            username: user.as_bytes().to_vec(),
            password: password.as_bytes().to_vec(),
            ..ClientConfig::default()
        };
        let params = CallParams {
            calling_number: Some(b"5551234".to_vec()),
            called_number: Some(b"l2tpx".to_vec()),
            ..CallParams::default()
        };
        self.peer
            .place_call(Instant::now(), tid, params, Some(client))
            .unwrap()
    }

    pub fn tunnel(&mut self) -> u16 {
        if let Some(t) = self.events.iter().find_map(|e| match e {
            PeerEvent::TunnelUp(t) => Some(*t),
            _ => None,
        }) {
            return t;
        }
        let tid = self.peer.open_tunnel(Instant::now(), self.lns).unwrap();
        assert!(self.until(Duration::from_secs(5), |e| e
            .contains(&PeerEvent::TunnelUp(tid))));
        tid
    }

    /// Waits (10 s at most) for the call's IP up or its end; the address.
    pub fn ip_up(&mut self, key: SessionKey) -> Option<Ipv4Addr> {
        self.until(Duration::from_secs(10), |e| {
            e.iter().any(|e| {
                matches!(e, PeerEvent::IpUp { key: k, .. } | PeerEvent::CallDown { key: k, .. } if *k == key)
            })
        });
        self.events.iter().find_map(|e| match e {
            PeerEvent::IpUp { key: k, address } if *k == key => Some(*address),
            _ => None,
        })
    }

    /// When the call's IP came up.
    pub fn ip_up_at(&self, key: SessionKey) -> Option<Instant> {
        self.when(|e| matches!(e, PeerEvent::IpUp { key: k, .. } if *k == key))
    }

    /// Whether the call was cleared.
    pub fn is_down(&self, key: SessionKey) -> bool {
        self.call_down_at(key).is_some()
    }

    /// When the call was cleared.
    pub fn call_down_at(&self, key: SessionKey) -> Option<Instant> {
        self.when(|e| matches!(e, PeerEvent::CallDown { key: k, .. } if *k == key))
    }

    /// Waits up to `timeout` for the call to be cleared; the CDN's Result
    /// Code.
    pub fn call_down(&mut self, key: SessionKey, timeout: Duration) -> Option<u16> {
        self.until(timeout, |e| {
            e.iter()
                .any(|e| matches!(e, PeerEvent::CallDown { key: k, .. } if *k == key))
        });
        self.events.iter().find_map(|e| match e {
            PeerEvent::CallDown { key: k, cause } if *k == key => Some(cause.result),
            _ => None,
        })
    }
}

/// `user`'s records of Acct-Status-Type `status`.
pub fn records_for<'a>(
    recs: &'a [DetailRecord],
    user: &str,
    status: &str,
) -> Vec<&'a DetailRecord> {
    recs.iter()
        .filter(|r| r.get("User-Name") == Some(user) && r.get("Acct-Status-Type") == Some(status))
        .collect()
}

/// Waits (5 s at most, the LAC running) until `user` has `n` records of
/// `status`; those found.
pub fn wait_record(
    fr: &FreeRadius,
    lac: &mut Lac,
    user: &str,
    status: &str,
    n: usize,
) -> Vec<DetailRecord> {
    wait_record_for(fr, lac, user, status, n, Duration::from_secs(5))
}

/// [`wait_record`] with a timeout.
pub fn wait_record_for(
    fr: &FreeRadius,
    lac: &mut Lac,
    user: &str,
    status: &str,
    n: usize,
    timeout: Duration,
) -> Vec<DetailRecord> {
    let end = Instant::now() + timeout;
    loop {
        let recs = fr.detail_records();
        let found: Vec<DetailRecord> = records_for(&recs, user, status)
            .into_iter()
            .cloned()
            .collect();
        if found.len() >= n || Instant::now() > end {
            return found;
        }
        lac.run_for(Duration::from_millis(20));
    }
}

/// Runs radclient on its own thread (the LAC keeps running meanwhile);
/// join for its stdout and stderr.
pub fn radclient_bg(
    fr: &FreeRadius,
    target: SocketAddr,
    command: &str,
    input: String,
) -> JoinHandle<String> {
    let raddb = fr.raddb();
    let command = command.to_owned();
    std::thread::spawn(move || {
        let out = freeradius::radclient(&raddb, target, &command, SECRET, &input).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    })
}
