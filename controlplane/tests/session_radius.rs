//! Subscriber sessions end to end against real FreeRADIUS 3.2: the whole
//! control plane (`driver::assemble`, the binary's wiring) runs in-process
//! on 127.0.0.1 with the session table in a temporary file; a LAC with a
//! PPP client per call (`session::testing::LacPeer`) dials it over a real
//! UDP socket; `radclient` sends the Disconnect-Request.
//!
//! Skipped, with the reason printed, only where FreeRADIUS is missing.

// A driver reads the clock; the engines it drives do not.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{radius_config, skip, wait_record, Lac, Lns, SECRET};
use l2tpx_controlplane::session::testing::PeerEvent;
use l2tpx_table::{SessionLookup, TableReader};
use l2tpx_tests::freeradius::{self, FreeRadius};
use l2tpx_tests::peers::TempDir;

#[test]
fn radius_sessions_end_to_end() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-radius").unwrap();
    let fr = FreeRadius::start(SECRET).unwrap();
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        "radius_down = \"reject\"",
        "",
    ));
    let mut lac = Lac::new(lns.addr);

    // 1. CHAP accept: IP up with FreeRADIUS's Framed-IP-Address.
    let alice = lac.call("alice", "alicepw");
    assert_eq!(lac.ip_up(alice), Some(Ipv4Addr::new(198, 18, 1, 50)));
    let start = wait_record(&fr, &mut lac, "alice", "Start", 1);
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
    let stop = wait_record(&fr, &mut lac, "alice", "Stop", 1);
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
    let start = wait_record(&fr, &mut lac, "bob", "Start", 1);
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
    let stop = wait_record(&fr, &mut lac, "bob", "Stop", 1);
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

    let done = lns.stop(&mut lac);
    let stats = done.stats;
    assert_eq!(done.sessions, 0, "no session left: {stats:?}");
    assert_eq!(done.pool("default"), Some(16384), "every pool address back");
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
    let lns = Lns::start(&text);
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
    let done = lns.stop(&mut lac);
    assert!(done.clean);
    assert_eq!(
        (done.stats.ip_up, done.sessions, done.pool("default")),
        (2, 0, Some(16384))
    );
    assert_eq!(reader.published(), 0, "withdrawn at shutdown");
}
