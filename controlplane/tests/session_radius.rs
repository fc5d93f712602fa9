//! Subscriber sessions end to end against real FreeRADIUS 3.2: the whole
//! control plane (`driver::assemble`, the binary's wiring) runs in-process
//! on 127.0.0.1 with the session table in a temporary file; a LAC with a
//! PPP client per call (`session::testing::LacPeer`) dials it over a real
//! UDP socket; `radclient` sends the Disconnect-Request.
//!
//! Skipped, with the reason printed, only where FreeRADIUS is missing.

// A driver reads the clock; the engines it drives do not.
#![allow(clippy::disallowed_methods)]

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
use l2tpx_table::{SessionLookup, TableReader};
use l2tpx_tests::freeradius::{self, DetailRecord, FreeRadius};
use l2tpx_tests::peers::TempDir;

const SECRET: &str = "l2tpx-test-secret";

fn skip() -> bool {
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

struct Lns {
    addr: SocketAddr,
    dae: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(bool, ManagerStats, usize, Option<usize>)>,
}

fn start_lns(fr: &FreeRadius, dir: &Path) -> Lns {
    start_lns_with(&radius_config(fr, dir))
}

fn radius_config(fr: &FreeRadius, dir: &Path) -> String {
    format!(
        r#"
[l2tp]
listen = "127.0.0.1:1701"
[ppp]
auth = ["chap-md5"]
[aaa]
mode = "radius"
radius_down = "reject"
[aaa.radius]
nas_identifier = "l2tpx-test"
timeout_ms = 300
retries = 2
dead_time_s = 0
[[aaa.radius.server]]
address = "127.0.0.1"
secret = "{SECRET}"
auth_port = {}
acct_port = {}
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
"#,
        fr.auth_port,
        fr.acct_port,
        dir.join("table").display()
    )
}

fn start_lns_with(text: &str) -> Lns {
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
        (
            clean,
            m.stats(),
            m.session_count(),
            m.pool_available("default"),
        )
    });
    let dae = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    Lns {
        addr,
        dae,
        stop,
        thread,
    }
}

/// The LAC side on the real clock.
struct Lac {
    sock: UdpSocket,
    peer: LacPeer,
    lns: SocketAddr,
    events: Vec<PeerEvent>,
    buf: Vec<u8>,
}

impl Lac {
    fn new(lns: SocketAddr) -> Lac {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let seed = u64::from(std::process::id()) << 20;
        Lac {
            sock,
            peer: LacPeer::new(
                LacConfig::default(),
                ClientConfig::default(),
                Box::new(SplitMix64(seed)),
            ),
            lns,
            events: Vec::new(),
            buf: vec![0; 65_536],
        }
    }

    fn step(&mut self) {
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
        }
    }

    /// Runs until `pred` holds on the events (true) or `timeout` (false).
    fn until(&mut self, timeout: Duration, pred: impl Fn(&[PeerEvent]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            self.step();
            if pred(&self.events) {
                return true;
            }
        }
        false
    }

    fn call(&mut self, user: &str, password: &str) -> SessionKey {
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

    fn tunnel(&mut self) -> u16 {
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

    fn ip_up(&mut self, key: SessionKey) -> Option<Ipv4Addr> {
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

    fn call_down(&mut self, key: SessionKey, timeout: Duration) -> Option<u16> {
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

fn records_for<'a>(recs: &'a [DetailRecord], user: &str, status: &str) -> Vec<&'a DetailRecord> {
    recs.iter()
        .filter(|r| r.get("User-Name") == Some(user) && r.get("Acct-Status-Type") == Some(status))
        .collect()
}

fn wait_record(fr: &FreeRadius, user: &str, status: &str, n: usize) -> Vec<DetailRecord> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let recs = fr.detail_records();
        let found: Vec<DetailRecord> = records_for(&recs, user, status)
            .into_iter()
            .cloned()
            .collect();
        if found.len() >= n || Instant::now() > end {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn radius_sessions_end_to_end() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-radius").unwrap();
    let fr = FreeRadius::start(SECRET).unwrap();
    let lns = start_lns(&fr, dir.path());
    let mut lac = Lac::new(lns.addr);

    // 1. CHAP accept: IP up with FreeRADIUS's Framed-IP-Address.
    let alice = lac.call("alice", "alicepw");
    assert_eq!(lac.ip_up(alice), Some(Ipv4Addr::new(198, 18, 1, 50)));
    let start = wait_record(&fr, "alice", "Start", 1);
    assert_eq!(start.len(), 1, "Accounting-Start in the detail file");
    let s = &start[0];
    assert_eq!(s.get("Framed-IP-Address"), Some("198.18.1.50"));
    assert_eq!(s.get("Calling-Station-Id"), Some("5551234"));
    assert_eq!(s.get("Class"), Some("0x6c327470782d636c6173732d616c696365"));
    let acct_id = s.get("Acct-Session-Id").unwrap().to_owned();

    // 2. Traffic in the real table (two workers), then the LAC hangs up:
    //    Stop carries exactly those counters.
    let reader = TableReader::open(dir.path().join("table")).unwrap();
    let sess = reader
        .by_ipv4(Ipv4Addr::new(198, 18, 1, 50))
        .expect("published");
    assert_eq!(sess.peer_tunnel_id, alice.tunnel_id);
    assert_eq!(sess.peer_session_id, alice.session_id);
    reader.counters(0).unwrap().add_up(sess.slot, 7, 700);
    reader.counters(1).unwrap().add_up(sess.slot, 3, 300);
    reader.counters(1).unwrap().add_down(sess.slot, 20, 30_000);
    lac.peer.hang_up(Instant::now(), alice, 1).unwrap();
    lac.step();
    let stop = wait_record(&fr, "alice", "Stop", 1);
    assert_eq!(stop.len(), 1, "Accounting-Stop in the detail file");
    let s = &stop[0];
    assert_eq!(s.get("Acct-Session-Id"), Some(acct_id.as_str()));
    assert_eq!(s.get_u64("Acct-Input-Octets"), Some(1000));
    assert_eq!(s.get_u64("Acct-Input-Packets"), Some(10));
    assert_eq!(s.get_u64("Acct-Output-Octets"), Some(30_000));
    assert_eq!(s.get_u64("Acct-Output-Packets"), Some(20));
    assert_eq!(s.get("Acct-Terminate-Cause"), Some("Lost-Carrier"));
    assert!(
        reader.by_ipv4(Ipv4Addr::new(198, 18, 1, 50)).is_none(),
        "withdrawn"
    );

    // 3. Disconnect-Request by Acct-Session-Id: the LAC gets a CDN,
    //    accounting a Stop, radclient an ACK.
    let bob = lac.call("bob", "bobpw");
    let bob_ip = lac.ip_up(bob).expect("bob up");
    assert_eq!(bob_ip, Ipv4Addr::new(198, 18, 64, 0), "the default pool");
    let start = wait_record(&fr, "bob", "Start", 1);
    let bob_id = start[0].get("Acct-Session-Id").unwrap().to_owned();
    let raddb = fr.raddb();
    let dae = lns.dae;
    let input = format!("Acct-Session-Id = \"{bob_id}\"\n");
    let rc = std::thread::spawn(move || {
        let out = freeradius::radclient(&raddb, dae, "disconnect", SECRET, &input).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    });
    assert_eq!(lac.call_down(bob, Duration::from_secs(5)), Some(3), "CDN");
    let out = rc.join().unwrap();
    assert!(out.contains("Received Disconnect-ACK"), "{out}");
    let stop = wait_record(&fr, "bob", "Stop", 1);
    assert_eq!(stop.len(), 1);
    assert_eq!(stop[0].get("Acct-Terminate-Cause"), Some("Admin-Reset"));
    // An unknown session: NAK 503.
    let raddb = fr.raddb();
    let out = freeradius::radclient(
        &raddb,
        dae,
        "disconnect",
        SECRET,
        "Acct-Session-Id = \"no-such-session\"\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Received Disconnect-NAK"), "{text}");

    // 4. CHAP reject: CDN, nothing accounted.
    let bad = lac.call("alice", "wrong");
    assert_eq!(lac.ip_up(bad), None);
    assert!(lac.events.contains(&PeerEvent::AuthFailed(bad)));
    assert_eq!(lac.call_down(bad, Duration::from_secs(5)), Some(3));

    // 5. RADIUS down, policy reject: refused cleanly with a CDN.
    drop(fr);
    let down = lac.call("bob", "bobpw");
    assert_eq!(lac.ip_up(down), None);
    assert_eq!(lac.call_down(down, Duration::from_secs(10)), Some(3));

    lns.stop.store(true, Ordering::Relaxed);
    while !lns.thread.is_finished() {
        lac.step();
    }
    let (_clean, stats, sessions, pool) = lns.thread.join().expect("no panic");
    assert_eq!(sessions, 0, "no session left: {stats:?}");
    assert_eq!(pool, Some(16384), "every pool address back");
    assert_eq!(stats.ip_up, 2, "{stats:?}");
    assert_eq!(stats.auth_rejects, 2, "{stats:?}");
    assert_eq!(
        stats.radius_timeouts, 1,
        "the last Access-Request: {stats:?}"
    );
    assert_eq!(stats.dae_disconnects, 1);
}

/// Local mode, no RADIUS: the users file authenticates, the default pool
/// and a static address are handed out, the table holds the sessions, and
/// SIGTERM-style shutdown ends them all.
#[test]
fn local_mode_end_to_end() {
    let dir = TempDir::new("session-local").unwrap();
    std::fs::write(
        dir.path().join("users"),
        "user pass\nstatic pw 198.18.200.7\n",
    )
    .unwrap();
    let text = format!(
        r#"
[l2tp]
listen = "127.0.0.1:1701"
[aaa]
users_file = "{}"
[[pool]]
name = "default"
first = "198.18.64.0"
last = "198.18.127.255"
[table]
path = "{}"
"#,
        dir.path().join("users").display(),
        dir.path().join("table").display()
    );
    let lns = start_lns_with(&text);
    let mut lac = Lac::new(lns.addr);
    let a = lac.call("user", "pass");
    let b = lac.call("static", "pw");
    let c = lac.call("user", "nope");
    assert_eq!(lac.ip_up(a), Some(Ipv4Addr::new(198, 18, 64, 0)));
    assert_eq!(lac.ip_up(b), Some(Ipv4Addr::new(198, 18, 200, 7)));
    assert_eq!(lac.ip_up(c), None);
    assert_eq!(lac.call_down(c, Duration::from_secs(5)), Some(3));
    let reader = TableReader::open(dir.path().join("table")).unwrap();
    assert_eq!(reader.published(), 2);
    let s = reader.by_ipv4(Ipv4Addr::new(198, 18, 200, 7)).unwrap();
    assert_eq!(
        (s.peer_tunnel_id, s.peer_session_id),
        (b.tunnel_id, b.session_id)
    );
    lns.stop.store(true, Ordering::Relaxed);
    while !lns.thread.is_finished() {
        lac.step();
    }
    let (clean, stats, sessions, pool) = lns.thread.join().expect("no panic");
    assert!(clean);
    assert_eq!((stats.ip_up, sessions, pool), (2, 0, Some(16384)));
    assert_eq!(reader.published(), 0, "withdrawn at shutdown");
}
