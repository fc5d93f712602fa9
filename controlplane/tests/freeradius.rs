//! The RADIUS client and DAE server against real FreeRADIUS 3.2 tools:
//! `freeradius` as the AAA server (tests/src/freeradius.rs) and
//! `radclient` as a Dynamic Authorization client. A tiny blocking UDP
//! driver runs the sans-IO engines on the real clock.
//!
//! Skipped, with the reason printed, only where FreeRADIUS is missing.

// A driver reads the clock; the engines it drives do not.
#![allow(clippy::disallowed_methods)]

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_controlplane::l2tp::SplitMix64;
use l2tpx_controlplane::radius::{
    AccessRequest, AcctSession, ClientConfig, DaeClient, DaeConfig, DaeEvent, DaeOutcome,
    DaeServer, RadiusClient, RadiusEvent, RadiusServer, SessionCounters, SessionEndCause,
    SessionLookup, SessionQuery, TunnelInfo,
};
use l2tpx_tests::freeradius::{self, FreeRadius};
use l2tpx_wire::radius::ChapPassword;

const SECRET: &str = "l2tpx-test-secret";

fn skip() -> bool {
    if let Some(why) = freeradius::unavailable() {
        eprintln!("SKIPPED: {why}");
        return true;
    }
    false
}

/// A blocking driver around [`RadiusClient`].
struct Driver {
    sock: UdpSocket,
    client: RadiusClient,
}

impl Driver {
    fn new(config: ClientConfig) -> Driver {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let seed = (u64::from(std::process::id()) << 32) ^ nanos;
        Driver {
            sock,
            client: RadiusClient::new(config, Box::new(SplitMix64(seed ^ 0x5eed))),
        }
    }

    fn flush(&mut self) {
        while let Some((to, bytes)) = self.client.poll_transmit() {
            self.sock.send_to(&bytes, to).unwrap();
        }
    }

    /// Runs until an event or `limit` of real time.
    fn next_event(&mut self, limit: Duration) -> Option<RadiusEvent> {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            self.flush();
            if let Some(e) = self.client.poll_event() {
                return Some(e);
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            let mut wait = end - now;
            if let Some(t) = self.client.poll_timeout() {
                wait = wait.min(t.saturating_duration_since(now));
            }
            self.sock
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.client.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // ICMP errors surfacing on the socket: the timers handle it.
                Err(_) => {}
            }
            self.client.handle_timeout(Instant::now());
        }
    }
}

fn server(fr: &FreeRadius, priority: u32) -> RadiusServer {
    RadiusServer {
        auth_port: fr.auth_port,
        acct_port: fr.acct_port,
        priority,
        ..RadiusServer::new(Ipv4Addr::LOCALHOST.into(), SECRET.as_bytes())
    }
}

fn config(servers: Vec<RadiusServer>) -> ClientConfig {
    let mut c = ClientConfig::new(servers);
    c.timeout = Duration::from_millis(300);
    c.max_tries = 2;
    c.nas.identifier = Some("l2tpx-test".into());
    c
}

fn start() -> FreeRadius {
    FreeRadius::start(SECRET).expect("start freeradius")
}

fn tunnel() -> TunnelInfo {
    TunnelInfo {
        client_endpoint: Ipv4Addr::new(198, 18, 251, 1).into(),
        server_endpoint: Ipv4Addr::new(198, 18, 251, 2).into(),
        assignment_id: Some("17".into()),
        client_auth_id: Some("lac-one".into()),
        server_auth_id: Some("l2tpx".into()),
    }
}

fn chap(user: &str, password: &[u8]) -> AccessRequest {
    let challenge = *b"0123456789abcdef";
    let c = ChapPassword::compute(9, password, &challenge);
    let mut req = AccessRequest::chap(user, 9, c.response, &challenge, 4);
    req.calling_station_id = Some("5550100".into());
    req.called_station_id = Some("5550199".into());
    req.tunnel = Some(tunnel());
    req
}

#[test]
fn pap_accept_with_authorization() {
    if skip() {
        return;
    }
    let fr = start();
    let mut d = Driver::new(config(vec![server(&fr, 0)]));
    let mut req = AccessRequest::pap("alice", b"alicepw", 3);
    req.tunnel = Some(tunnel());
    req.calling_station_id = Some("5550100".into());
    let id = d.client.send_access(Instant::now(), req).unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessAccept {
            id: got,
            authorization: a,
        }) => {
            assert_eq!(got, id);
            assert_eq!(a.framed_ip_address, Some(Ipv4Addr::new(198, 18, 1, 50)));
            assert_eq!(a.session_timeout, Some(3600));
            assert_eq!(a.idle_timeout, Some(600));
            assert_eq!(a.acct_interim_interval, Some(300));
            assert_eq!(a.framed_mtu, Some(1460));
            assert_eq!(a.class, vec![b"l2tpx-class-alice".to_vec()]);
            assert_eq!(a.reply_message.as_deref(), Some("welcome alice"));
        }
        other => panic!("{other:?}\n{}", fr.log()),
    }
    let s = d.client.stats();
    assert_eq!(s.missing_message_authenticator, 0);
    assert_eq!(s.bad_message_authenticator, 0);
    assert_eq!(d.client.pending_len(), 0);
    // The server saw our NAS and tunnel attributes.
    let log = fr.log();
    for needle in [
        "NAS-Identifier = \"l2tpx-test\"",
        "NAS-Port-Type = Virtual",
        "Tunnel-Type:1 = L2TP",
        "Tunnel-Client-Auth-Id:1 = \"lac-one\"",
        "Calling-Station-Id = \"5550100\"",
    ] {
        assert!(log.contains(needle), "{needle} not in server log:\n{log}");
    }
}

#[test]
fn pap_reject_unknown_user_and_wrong_password() {
    if skip() {
        return;
    }
    let fr = start();
    let mut d = Driver::new(config(vec![server(&fr, 0)]));
    for (user, pw) in [("alice", &b"wrong"[..]), ("mallory", b"x")] {
        let id = d
            .client
            .send_access(Instant::now(), AccessRequest::pap(user, pw, 1))
            .unwrap();
        match d.next_event(Duration::from_secs(5)) {
            Some(RadiusEvent::AccessReject { id: got, .. }) => assert_eq!(got, id),
            other => panic!("{user}: {other:?}"),
        }
    }
}

#[test]
fn chap_accept_and_reject() {
    if skip() {
        return;
    }
    let fr = start();
    let mut d = Driver::new(config(vec![server(&fr, 0)]));
    let ok = d
        .client
        .send_access(Instant::now(), chap("bob", b"bobpw"))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessAccept { id, authorization }) => {
            assert_eq!(id, ok);
            assert_eq!(authorization.framed_ip_address, None);
        }
        other => panic!("{other:?}\n{}", fr.log()),
    }
    let alice = d
        .client
        .send_access(Instant::now(), chap("alice", b"alicepw"))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessAccept { id, authorization }) => {
            assert_eq!(id, alice);
            assert_eq!(
                authorization.framed_ip_address,
                Some(Ipv4Addr::new(198, 18, 1, 50))
            );
        }
        other => panic!("{other:?}"),
    }
    let bad = d
        .client
        .send_access(Instant::now(), chap("bob", b"nope"))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessReject { id, .. }) => assert_eq!(id, bad),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.client.pending_len(), 0);
}

#[test]
fn accounting_records_in_detail_file() {
    if skip() {
        return;
    }
    let fr = start();
    let mut d = Driver::new(config(vec![server(&fr, 0)]));
    let session = AcctSession {
        session_id: "0000ABCD-00000001".into(),
        user_name: "alice".into(),
        nas_port: 3,
        framed_ip_address: Some(Ipv4Addr::new(198, 18, 1, 50)),
        calling_station_id: Some("5550100".into()),
        called_station_id: None,
        class: vec![b"l2tpx-class-alice".to_vec()],
    };
    let ts = 1_700_000_000;
    let interim = SessionCounters {
        input_octets: 1_000,
        output_octets: 2_000,
        input_packets: 10,
        output_packets: 20,
    };
    let stop = SessionCounters {
        input_octets: 5_000_000_000,
        output_octets: 12_000_000_000,
        input_packets: 4_000_000,
        output_packets: 9_000_000,
    };
    let reqs = [
        session.start(Some(ts)),
        session.interim(interim, 300, Some(ts + 300)),
        session.stop(stop, 421, SessionEndCause::IdleTimeout, Some(ts + 421)),
    ];
    for req in reqs {
        let id = d.client.send_accounting(Instant::now(), req).unwrap();
        match d.next_event(Duration::from_secs(5)) {
            Some(RadiusEvent::AccountingAck { id: got }) => assert_eq!(got, id),
            other => panic!("{other:?}\n{}", fr.log()),
        }
    }
    let recs = fr.wait_detail_records(3, Duration::from_secs(5));
    assert_eq!(recs.len(), 3, "{recs:?}");
    let class_hex = format!("0x{}", hex(b"l2tpx-class-alice"));
    for (rec, status) in recs.iter().zip(["Start", "Interim-Update", "Stop"]) {
        assert_eq!(rec.get("Acct-Status-Type"), Some(status));
        assert_eq!(rec.get("Acct-Session-Id"), Some("0000ABCD-00000001"));
        assert_eq!(rec.get("User-Name"), Some("alice"));
        assert_eq!(rec.get("Framed-IP-Address"), Some("198.18.1.50"));
        assert_eq!(rec.get_all("Class"), vec![class_hex.as_str()]);
        assert_eq!(rec.get_u64("Acct-Delay-Time"), Some(0));
        assert_eq!(rec.get("NAS-Port-Type"), Some("Virtual"));
        assert!(rec.get("Event-Timestamp").is_some());
    }
    assert_eq!(recs[0].get("Acct-Input-Octets"), None);
    assert_eq!(recs[1].get_u64("Acct-Input-Octets"), Some(1_000));
    assert_eq!(recs[1].get_u64("Acct-Output-Octets"), Some(2_000));
    assert_eq!(recs[1].get_u64("Acct-Input-Gigawords"), Some(0));
    assert_eq!(recs[1].get_u64("Acct-Session-Time"), Some(300));
    let s = &recs[2];
    assert_eq!(s.get_u64("Acct-Input-Gigawords"), Some(1));
    assert_eq!(s.get_u64("Acct-Input-Octets"), Some(705_032_704));
    assert_eq!(s.get_u64("Acct-Output-Gigawords"), Some(2));
    assert_eq!(
        s.get_u64("Acct-Output-Octets"),
        Some(12_000_000_000 - (2 << 32))
    );
    assert_eq!(s.get_u64("Acct-Input-Packets"), Some(4_000_000));
    assert_eq!(s.get_u64("Acct-Output-Packets"), Some(9_000_000));
    assert_eq!(s.get_u64("Acct-Session-Time"), Some(421));
    assert_eq!(s.get("Acct-Terminate-Cause"), Some("Idle-Timeout"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A server entry on ports where nothing listens.
fn dead_server(priority: u32) -> RadiusServer {
    let base = freeradius::free_udp_ports(2).unwrap();
    RadiusServer {
        auth_port: base,
        acct_port: base + 1,
        priority,
        ..RadiusServer::new(Ipv4Addr::LOCALHOST.into(), SECRET.as_bytes())
    }
}

#[test]
fn server_down_times_out_cleanly() {
    // Needs no FreeRADIUS, but runs beside the others.
    let mut d = Driver::new(config(vec![dead_server(0)]));
    let t = Instant::now();
    let a = d
        .client
        .send_access(Instant::now(), AccessRequest::pap("alice", b"alicepw", 1))
        .unwrap();
    let b = d
        .client
        .send_accounting(Instant::now(), AcctSession::default().start(None))
        .unwrap();
    let mut got = vec![];
    while got.len() < 2 {
        match d.next_event(Duration::from_secs(5)) {
            Some(RadiusEvent::Timeout { id }) => got.push(id),
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    assert_eq!(got, vec![a, b]);
    // 2 tries x 300 ms.
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(550), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(d.client.pending_len(), 0);
    assert_eq!(d.client.poll_timeout(), None);
    assert!(d.client.poll_transmit().is_none());
    let s = d.client.stats();
    assert_eq!((s.timeouts, s.transmits, s.retransmits), (2, 4, 2));
}

#[test]
fn failover_to_second_server() {
    if skip() {
        return;
    }
    let fr = start();
    let mut d = Driver::new(config(vec![dead_server(0), server(&fr, 1)]));
    let id = d
        .client
        .send_access(Instant::now(), AccessRequest::pap("alice", b"alicepw", 1))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessAccept { id: got, .. }) => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.client.stats().failovers, 1);
    assert!(d.client.is_server_dead(Instant::now(), 0));
    // While the first is held off, requests go straight to the second:
    // one transmission, no retries, no new failover.
    let before = d.client.stats();
    let id = d
        .client
        .send_access(Instant::now(), chap("bob", b"bobpw"))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::AccessAccept { id: got, .. }) => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    let after = d.client.stats();
    assert_eq!(after.transmits - before.transmits, 1);
    assert_eq!(after.retransmits, before.retransmits);
    assert_eq!(after.failovers, 1);
}

struct Sessions;

impl SessionLookup for Sessions {
    type Session = u32;

    fn lookup(&self, q: &SessionQuery) -> Vec<u32> {
        let known = ("0000ABCD-00000001", "alice", Ipv4Addr::new(198, 18, 1, 50));
        let hit = q.acct_session_id.as_deref().is_none_or(|s| s == known.0)
            && q.user_name.as_deref().is_none_or(|u| u == known.1)
            && q.framed_ip_address.is_none_or(|i| i == known.2);
        if hit {
            vec![7]
        } else {
            vec![]
        }
    }
}

#[test]
fn radclient_disconnect_and_coa() {
    if skip() {
        return;
    }
    if !freeradius::radclient_available() {
        eprintln!("SKIPPED: radclient is not installed (freeradius-utils)");
        return;
    }
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr: SocketAddr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let driver = std::thread::spawn(move || {
        let mut dae: DaeServer<u32> = DaeServer::new(DaeConfig::new(vec![DaeClient {
            addr: Ipv4Addr::LOCALHOST.into(),
            secret: SECRET.as_bytes().to_vec(),
        }]));
        let mut seen = vec![];
        let mut buf = [0u8; 4096];
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                dae.handle_datagram(Instant::now(), from, &buf[..n], &Sessions);
            }
            while let Some(ev) = dae.poll_event() {
                let request = match &ev {
                    DaeEvent::Disconnect { request, .. } | DaeEvent::Coa { request, .. } => {
                        *request
                    }
                };
                seen.push(ev);
                dae.complete(Instant::now(), request, DaeOutcome::Ack);
            }
            while let Some((to, bytes)) = dae.poll_transmit() {
                sock.send_to(&bytes, to).unwrap();
            }
            dae.handle_timeout(Instant::now());
        }
        (seen, dae.stats())
    });
    let raddb = std::path::Path::new(freeradius::SYSTEM_RADDB);
    let run = |cmd: &str, input: &str| {
        let out = freeradius::radclient(raddb, addr, cmd, SECRET, input).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = run("disconnect", "Acct-Session-Id = \"no-such-session\"\n");
    assert!(out.contains("Received Disconnect-NAK"), "{out}");
    assert!(out.contains("Session-Context-Not-Found"), "{out}");
    let out = run(
        "disconnect",
        "Acct-Session-Id = \"0000ABCD-00000001\"\nUser-Name = \"alice\"\n",
    );
    assert!(out.contains("Received Disconnect-ACK"), "{out}");
    let out = run(
        "coa",
        "Framed-IP-Address = 198.18.1.50\nSession-Timeout = 120\n",
    );
    assert!(out.contains("Received CoA-ACK"), "{out}");
    let out = run("coa", "User-Name = \"alice\"\nFilter-Id = \"gold\"\n");
    assert!(out.contains("Received CoA-NAK"), "{out}");
    assert!(out.contains("Unsupported-Attribute"), "{out}");
    // A wrong secret is dropped silently: radclient gets no answer.
    let out = freeradius::radclient(
        raddb,
        addr,
        "disconnect",
        "wrong",
        "User-Name = \"alice\"\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("Received"), "{text}");

    stop.store(true, Ordering::Relaxed);
    let (seen, stats) = driver.join().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(matches!(seen[0], DaeEvent::Disconnect { session: 7, .. }));
    match &seen[1] {
        DaeEvent::Coa {
            session: 7,
            changes,
            ..
        } => {
            assert_eq!(changes.session_timeout, Some(120))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.acks, 2);
    assert_eq!(stats.naks, 2);
    assert!(stats.bad_authenticator >= 1, "{stats:?}");
}

#[test]
fn unsigned_replies_are_discarded() {
    if skip() {
        return;
    }
    // BlastRADIUS: a server that answers without Message-Authenticator
    // (FreeRADIUS before 3.2.5 by default) is never believed.
    let fr = FreeRadius::start_unsigned(SECRET).expect("start freeradius");
    let mut d = Driver::new(config(vec![server(&fr, 0)]));
    let id = d
        .client
        .send_access(Instant::now(), AccessRequest::pap("alice", b"alicepw", 1))
        .unwrap();
    match d.next_event(Duration::from_secs(5)) {
        Some(RadiusEvent::Timeout { id: got }) => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    let s = d.client.stats();
    assert_eq!(s.missing_message_authenticator, 2, "{s:?}");
    assert_eq!(s.accepts, 0);
    assert_eq!(d.client.pending_len(), 0);
    // Accounting replies need no Message-Authenticator.
    let id = d
        .client
        .send_accounting(Instant::now(), AcctSession::default().start(None))
        .unwrap();
    assert_eq!(
        d.next_event(Duration::from_secs(5)),
        Some(RadiusEvent::AccountingAck { id })
    );
}
