//! The AAA paths of the session manager end to end against real
//! FreeRADIUS 3.2, through the assembled control plane on 127.0.0.1
//! (`tests/common`): `aaa.radius_down = "local-fallback"`, Framed-Pool,
//! Interim-Updates with the table's counters, Session-Timeout and
//! Idle-Timeout from the Access-Accept, and a CoA-Request from
//! `radclient` changing Session-Timeout.
//!
//! Timers are short (1–3 s; `aaa.acct_interim_min_s = 1` lowers the
//! Interim-Update floor), so each scenario takes a few seconds. Skipped,
//! with the reason printed, only where FreeRADIUS or radclient is missing.

// A driver reads the clock; the engines it drives do not.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{radclient_bg, radius_config, skip, wait_record, Lac, Lns, SECRET};
use l2tpx_controlplane::l2tp::SessionKey;
use l2tpx_controlplane::session::testing::PeerEvent;
use l2tpx_table::{SessionLookup, TableReader};
use l2tpx_tests::freeradius::{free_udp_ports, DetailRecord, FreeRadius};
use l2tpx_tests::peers::TempDir;

/// FreeRADIUS's users: one per path under test.
const USERS: &str = "\
bob\tCleartext-Password := \"bobpw\"

alice\tCleartext-Password := \"alicepw\"

gold\tCleartext-Password := \"goldpw\"
\tFramed-Pool = \"gold\"

fixed\tCleartext-Password := \"fixedpw\"
\tFramed-IP-Address = 198.18.1.60

lead\tCleartext-Password := \"leadpw\"
\tFramed-Pool = \"lead\"

interim\tCleartext-Password := \"interimpw\"
\tAcct-Interim-Interval = 3

short\tCleartext-Password := \"shortpw\"
\tSession-Timeout = 2

idle\tCleartext-Password := \"idlepw\"
\tIdle-Timeout = 2

busy\tCleartext-Password := \"busypw\"
\tIdle-Timeout = 2
";

fn start_radius() -> FreeRadius {
    FreeRadius::start_with_users(SECRET, USERS).unwrap()
}

/// Counters as the detail file shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    in_packets: u64,
    in_octets: u64,
    out_packets: u64,
    out_octets: u64,
}

impl Counts {
    fn of(r: &DetailRecord) -> Counts {
        Counts {
            in_packets: r.get_u64("Acct-Input-Packets").unwrap(),
            in_octets: r.get_u64("Acct-Input-Octets").unwrap(),
            out_packets: r.get_u64("Acct-Output-Packets").unwrap(),
            out_octets: r.get_u64("Acct-Output-Octets").unwrap(),
        }
    }
}

/// The session's table slot, found by its address.
fn slot_of(reader: &TableReader, ip: Ipv4Addr) -> u32 {
    reader.by_ipv4(ip).expect("published").slot
}

/// Waits (10 s at most) for an Interim-Update of `user` carrying exactly
/// `want`; the record.
fn wait_interim(fr: &FreeRadius, lac: &mut Lac, user: &str, want: Counts) -> DetailRecord {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let recs = common::records_for(&fr.detail_records(), user, "Interim-Update")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        if let Some(r) = recs.iter().find(|r| Counts::of(r) == want) {
            return r.clone();
        }
        assert!(
            Instant::now() < end,
            "no Interim-Update for {user} with {want:?}: {recs:#?}"
        );
        lac.run_for(Duration::from_millis(20));
    }
}

fn secs_between(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64()
}

/// `aaa.radius_down = "local-fallback"`: while FreeRADIUS answers, it
/// decides (an Access-Reject is final, the users file is not asked); once
/// it is gone, the users file authenticates, with the default pool or the
/// user's static address, and still refuses a wrong password.
#[test]
fn radius_down_local_fallback() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-fallback").unwrap();
    std::fs::write(
        dir.path().join("users"),
        "carol carolpw\nstatic staticpw 198.18.200.9\nalice localalice\n",
    )
    .unwrap();
    let fr = start_radius();
    let aaa = format!(
        "radius_down = \"local-fallback\"\nusers_file = \"{}\"",
        dir.path().join("users").display()
    );
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        &aaa,
        "",
    ));
    let mut lac = Lac::new(lns.addr);

    // FreeRADIUS up: it accepts bob (not in the users file) ...
    let bob = lac.call("bob", "bobpw");
    let bob_ip = lac.ip_up(bob).expect("bob up through RADIUS");
    assert_eq!(bob_ip, Ipv4Addr::new(198, 18, 64, 0));
    // ... and its Access-Reject of alice stands, though the users file
    // would take her password.
    let alice = lac.call("alice", "localalice");
    assert_eq!(lac.ip_up(alice), None);
    assert!(lac.events.contains(&PeerEvent::AuthFailed(alice)));
    assert_eq!(lac.call_down(alice, Duration::from_secs(5)), Some(3));
    assert_eq!(wait_record(&fr, &mut lac, "bob", "Start", 1).len(), 1);

    // FreeRADIUS gone: the users file decides.
    drop(fr);
    let t0 = Instant::now();
    let carol = lac.call("carol", "carolpw");
    let stat = lac.call("static", "staticpw");
    let wrong = lac.call("carol", "nope");
    let bob2 = lac.call("bob", "bobpw");
    assert_eq!(lac.ip_up(carol), Some(Ipv4Addr::new(198, 18, 64, 1)));
    assert_eq!(lac.ip_up(stat), Some(Ipv4Addr::new(198, 18, 200, 9)));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "after the RADIUS timeout (2 x 300 ms), not PPP's"
    );
    assert_eq!(lac.ip_up(wrong), None);
    assert!(lac.events.contains(&PeerEvent::AuthFailed(wrong)));
    assert_eq!(lac.call_down(wrong, Duration::from_secs(5)), Some(3));
    // A RADIUS-only user is unknown to the users file.
    assert_eq!(lac.ip_up(bob2), None);
    assert_eq!(lac.call_down(bob2, Duration::from_secs(5)), Some(3));

    let reader = TableReader::open(dir.path().join("table")).unwrap();
    assert_eq!(reader.published(), 3, "bob, carol, static");
    assert!(reader.by_ipv4(Ipv4Addr::new(198, 18, 200, 9)).is_some());

    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
    assert_eq!(done.pool("default"), Some(16384), "every address back");
    assert_eq!(done.stats.ip_up, 3, "{:?}", done.stats);
    assert_eq!(
        done.stats.auth_rejects, 3,
        "alice (RADIUS), carol/nope and bob (local): {:?}",
        done.stats
    );
    assert!(done.stats.radius_timeouts >= 4, "{:?}", done.stats);
}

/// Framed-Pool names a `[[pool]]`: the address comes from it; an exhausted
/// pool refuses the user (CDN result 4) rather than borrowing from another,
/// and gets the address back when its holder leaves; an unknown pool name
/// falls back to the default pool. A Framed-IP-Address already in use is
/// refused.
#[test]
fn framed_pool() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-pool").unwrap();
    let fr = start_radius();
    let gold = "[[pool]]\nname = \"gold\"\nfirst = \"198.18.192.0\"\nlast = \"198.18.192.1\"\n";
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        "",
        gold,
    ));
    let mut lac = Lac::new(lns.addr);

    let g1 = lac.call("gold", "goldpw");
    assert_eq!(lac.ip_up(g1), Some(Ipv4Addr::new(198, 18, 192, 0)));
    let g2 = lac.call("gold", "goldpw");
    assert_eq!(lac.ip_up(g2), Some(Ipv4Addr::new(198, 18, 192, 1)));
    // Exhausted: refused with "no resources".
    let g3 = lac.call("gold", "goldpw");
    assert_eq!(lac.ip_up(g3), None);
    assert!(lac.events.contains(&PeerEvent::AuthFailed(g3)));
    assert_eq!(lac.call_down(g3, Duration::from_secs(5)), Some(4));
    // An unknown pool: the default one.
    let lead = lac.call("lead", "leadpw");
    assert_eq!(lac.ip_up(lead), Some(Ipv4Addr::new(198, 18, 64, 0)));
    // No Framed-Pool: the default one.
    let bob = lac.call("bob", "bobpw");
    assert_eq!(lac.ip_up(bob), Some(Ipv4Addr::new(198, 18, 64, 1)));

    let start = wait_record(&fr, &mut lac, "gold", "Start", 2);
    let mut ips: Vec<&str> = start
        .iter()
        .map(|r| r.get("Framed-IP-Address").unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips, ["198.18.192.0", "198.18.192.1"]);

    // g1 leaves: its address goes back to gold, for the next gold user.
    lac.peer.hang_up(Instant::now(), g1, 1).unwrap();
    lac.step();
    assert_eq!(wait_record(&fr, &mut lac, "gold", "Stop", 1).len(), 1);
    let g4 = lac.call("gold", "goldpw");
    assert_eq!(lac.ip_up(g4), Some(Ipv4Addr::new(198, 18, 192, 0)));

    // Framed-IP-Address already held by another session (a second login):
    // the table refuses it, so the newcomer is cleared (result 4) and the
    // holder stays.
    let f1 = lac.call("fixed", "fixedpw");
    assert_eq!(lac.ip_up(f1), Some(Ipv4Addr::new(198, 18, 1, 60)));
    let f2 = lac.call("fixed", "fixedpw");
    assert_eq!(lac.call_down(f2, Duration::from_secs(5)), Some(4));
    lac.run_for(Duration::from_millis(200));
    assert!(!lac.is_down(f1));
    let reader = TableReader::open(dir.path().join("table")).unwrap();
    let s = reader.by_ipv4(Ipv4Addr::new(198, 18, 1, 60)).unwrap();
    assert_eq!(s.peer_session_id, f1.session_id);

    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
    assert_eq!(done.pool("gold"), Some(2), "every gold address back");
    assert_eq!(done.pool("default"), Some(16384));
    assert_eq!(done.stats.ip_up, 6, "{:?}", done.stats);
    assert_eq!(done.stats.publish_errors, 1, "{:?}", done.stats);
}

/// Interim-Updates: from the Access-Accept's Acct-Interim-Interval (3 s
/// here) or, without one, `aaa.acct_interim_interval_s` (1 s), each with
/// the table's counters summed over workers at that moment; then Stop.
#[test]
fn interim_updates_carry_the_table_counters() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-interim").unwrap();
    let fr = start_radius();
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        "acct_interim_interval_s = 1\nacct_interim_min_s = 1",
        "",
    ));
    let mut lac = Lac::new(lns.addr);
    let reader = TableReader::open(dir.path().join("table")).unwrap();

    let int = lac.call("interim", "interimpw");
    let bob = lac.call("bob", "bobpw");
    let int_ip = lac.ip_up(int).expect("interim up");
    let bob_ip = lac.ip_up(bob).expect("bob up");
    let (int_slot, bob_slot) = (slot_of(&reader, int_ip), slot_of(&reader, bob_ip));
    // Traffic before the first interim, on both workers.
    reader.counters(0).unwrap().add_up(int_slot, 5, 500);
    reader.counters(1).unwrap().add_up(int_slot, 2, 250);
    reader.counters(1).unwrap().add_down(int_slot, 9, 9_000);
    reader.counters(0).unwrap().add_up(bob_slot, 1, 100);
    reader.counters(1).unwrap().add_down(bob_slot, 3, 3_000);

    // bob: the configured 1 s interval.
    let a = Counts {
        in_packets: 1,
        in_octets: 100,
        out_packets: 3,
        out_octets: 3_000,
    };
    let bob_start = wait_record(&fr, &mut lac, "bob", "Start", 1);
    let bob_id = bob_start[0].get("Acct-Session-Id").unwrap().to_owned();
    let i1 = wait_interim(&fr, &mut lac, "bob", a);
    assert_eq!(i1.get("Acct-Session-Id"), Some(bob_id.as_str()));
    assert_eq!(
        i1.get("Framed-IP-Address"),
        Some(bob_ip.to_string().as_str())
    );
    // More traffic: the next interim has the new totals.
    reader.counters(1).unwrap().add_up(bob_slot, 4, 400);
    reader.counters(0).unwrap().add_down(bob_slot, 6, 600);
    let b = Counts {
        in_packets: 5,
        in_octets: 500,
        out_packets: 9,
        out_octets: 3_600,
    };
    let i2 = wait_interim(&fr, &mut lac, "bob", b);
    assert!(
        i2.get_u64("Acct-Session-Time") >= i1.get_u64("Acct-Session-Time"),
        "{i1:?} {i2:?}"
    );

    // interim: the Accept's 3 s, not the configured 1 s.
    let want = Counts {
        in_packets: 7,
        in_octets: 750,
        out_packets: 9,
        out_octets: 9_000,
    };
    let r = wait_interim(&fr, &mut lac, "interim", want);
    let first = wait_record(&fr, &mut lac, "interim", "Interim-Update", 1);
    assert_eq!(first[0], r, "the first interim already has the traffic");
    let t = r.get_u64("Acct-Session-Time").unwrap();
    assert!((2..=3).contains(&t), "3 s +-10 %: {t}");

    // Hang up: Stop after the interims, with the final counters.
    lac.peer.hang_up(Instant::now(), bob, 1).unwrap();
    lac.peer.hang_up(Instant::now(), int, 1).unwrap();
    lac.step();
    let stop = wait_record(&fr, &mut lac, "bob", "Stop", 1);
    assert_eq!(Counts::of(&stop[0]), b);
    assert_eq!(stop[0].get("Acct-Session-Id"), Some(bob_id.as_str()));
    let stop = wait_record(&fr, &mut lac, "interim", "Stop", 1);
    assert_eq!(Counts::of(&stop[0]), want);
    let recs = fr.detail_records();
    let pos = |user: &str, status: &str| {
        recs.iter()
            .rposition(|r| {
                r.get("User-Name") == Some(user) && r.get("Acct-Status-Type") == Some(status)
            })
            .unwrap()
    };
    assert!(pos("bob", "Interim-Update") < pos("bob", "Stop"));
    assert!(pos("interim", "Interim-Update") < pos("interim", "Stop"));
    // No interim after the Stop.
    let n = common::records_for(&recs, "bob", "Interim-Update").len();
    lac.run_for(Duration::from_millis(1_500));
    let recs = fr.detail_records();
    assert_eq!(
        common::records_for(&recs, "bob", "Interim-Update").len(),
        n,
        "interims stop with the session"
    );

    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
}

/// Session-Timeout and Idle-Timeout from the Access-Accept end the
/// session by themselves (LCP Terminate, CDN result 3, Stop with the
/// cause); traffic in the table keeps an idle-limited session up.
#[test]
fn timeouts_from_the_access_accept() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-timeouts").unwrap();
    let fr = start_radius();
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        "",
        "",
    ));
    let mut lac = Lac::new(lns.addr);
    let reader = TableReader::open(dir.path().join("table")).unwrap();

    // One call at a time: LacPeer starts PPP as it queues the ICCN, and
    // frames that overtake it are dropped (a 3 s LCP restart).
    let mut up = |user: &str, pw: &str| {
        let k = lac.call(user, pw);
        let ip = lac.ip_up(k);
        assert!(ip.is_some(), "{user} up");
        (k, ip.unwrap())
    };
    let (bob, _) = up("bob", "bobpw");
    let (short, _) = up("short", "shortpw");
    let (idle, _) = up("idle", "idlepw");
    let (busy, busy_ip) = up("busy", "busypw");
    let busy_slot = slot_of(&reader, busy_ip);

    // 4 s of upstream traffic for busy, a packet every 250 ms.
    let t0 = Instant::now();
    let mut next_bump = t0;
    let mut bumps = 0u64;
    while t0.elapsed() < Duration::from_secs(4) {
        if Instant::now() >= next_bump {
            reader
                .counters((bumps % 2) as u32)
                .unwrap()
                .add_up(busy_slot, 1, 64);
            bumps += 1;
            next_bump += Duration::from_millis(250);
        }
        lac.step();
    }
    let down = |lac: &Lac, k: SessionKey| {
        lac.events.iter().find_map(|e| match e {
            PeerEvent::CallDown { key, cause } if *key == k => Some(cause.result),
            _ => None,
        })
    };
    assert_eq!(down(&lac, short), Some(3), "Session-Timeout: CDN");
    assert_eq!(down(&lac, idle), Some(3), "Idle-Timeout: CDN");
    assert!(!lac.is_down(busy), "traffic keeps busy up");
    assert!(!lac.is_down(bob), "bob has no timeout");
    let up_for = |k| secs_between(lac.ip_up_at(k).unwrap(), lac.call_down_at(k).unwrap());
    let s = up_for(short);
    assert!((1.5..3.5).contains(&s), "short ended after {s:.2} s");
    let i = up_for(idle);
    assert!((1.5..3.5).contains(&i), "idle ended after {i:.2} s");

    // busy goes quiet: it ends within two idle periods.
    let quiet = Instant::now();
    assert_eq!(lac.call_down(busy, Duration::from_secs(6)), Some(3));
    let q = secs_between(quiet, lac.call_down_at(busy).unwrap());
    assert!(
        (1.0..4.5).contains(&q),
        "busy ended {q:.2} s after its traffic"
    );
    assert!(!lac.is_down(bob));

    let r = wait_record(&fr, &mut lac, "short", "Stop", 1);
    assert_eq!(r[0].get("Acct-Terminate-Cause"), Some("Session-Timeout"));
    assert_eq!(r[0].get_u64("Acct-Session-Time"), Some(2));
    let r = wait_record(&fr, &mut lac, "idle", "Stop", 1);
    assert_eq!(r[0].get("Acct-Terminate-Cause"), Some("Idle-Timeout"));
    let r = wait_record(&fr, &mut lac, "busy", "Stop", 1);
    assert_eq!(r[0].get("Acct-Terminate-Cause"), Some("Idle-Timeout"));
    assert_eq!(r[0].get_u64("Acct-Input-Packets"), Some(bumps));
    assert_eq!(r[0].get_u64("Acct-Input-Octets"), Some(64 * bumps));

    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
    assert_eq!(done.stats.ended, 4, "{:?}", done.stats);
}

/// A CoA-Request from radclient by Acct-Session-Id with Session-Timeout:
/// ACK, and the session ends when its new limit, counted from when it
/// came up, is reached (at once when already past); cause
/// Session-Timeout. An unknown session gets a NAK.
#[test]
fn coa_session_timeout_over_the_wire() {
    if skip() {
        return;
    }
    let dir = TempDir::new("session-coa").unwrap();
    let fr = start_radius();
    let lns = Lns::start(&radius_config(
        fr.auth_port,
        fr.acct_port,
        dir.path(),
        "",
        "",
    ));
    let mut lac = Lac::new(lns.addr);

    let bob = lac.call("bob", "bobpw");
    assert!(lac.ip_up(bob).is_some());
    let alice = lac.call("alice", "alicepw");
    assert!(lac.ip_up(alice).is_some());
    let bob_id = wait_record(&fr, &mut lac, "bob", "Start", 1)[0]
        .get("Acct-Session-Id")
        .unwrap()
        .to_owned();
    let alice_id = wait_record(&fr, &mut lac, "alice", "Start", 1)[0]
        .get("Acct-Session-Id")
        .unwrap()
        .to_owned();

    // bob: Session-Timeout 2 while up for less than that.
    let sent = Instant::now();
    let up_before = secs_between(lac.ip_up_at(bob).unwrap(), sent);
    assert!(up_before < 1.5, "CoA sent {up_before:.2} s after up");
    let rc = radclient_bg(
        &fr,
        lns.dae,
        "coa",
        format!("Acct-Session-Id = \"{bob_id}\"\nSession-Timeout = 2\n"),
    );
    assert_eq!(lac.call_down(bob, Duration::from_secs(5)), Some(3), "CDN");
    let out = rc.join().unwrap();
    assert!(out.contains("Received CoA-ACK"), "{out}");
    let up = secs_between(lac.ip_up_at(bob).unwrap(), lac.call_down_at(bob).unwrap());
    assert!((1.5..3.5).contains(&up), "bob ended {up:.2} s after up");
    assert!(!lac.is_down(alice));
    let stop = wait_record(&fr, &mut lac, "bob", "Stop", 1);
    assert_eq!(stop[0].get("Acct-Terminate-Cause"), Some("Session-Timeout"));
    assert_eq!(stop[0].get("Acct-Session-Id"), Some(bob_id.as_str()));

    // alice, up for more than 2 s by now: Session-Timeout 1 ends her at once.
    assert!(secs_between(lac.ip_up_at(alice).unwrap(), Instant::now()) > 1.5);
    let sent = Instant::now();
    let rc = radclient_bg(
        &fr,
        lns.dae,
        "coa",
        format!("Acct-Session-Id = \"{alice_id}\"\nSession-Timeout = 1\n"),
    );
    assert_eq!(lac.call_down(alice, Duration::from_secs(5)), Some(3));
    let out = rc.join().unwrap();
    assert!(out.contains("Received CoA-ACK"), "{out}");
    let after = secs_between(sent, lac.call_down_at(alice).unwrap());
    assert!(after < 1.5, "alice ended {after:.2} s after the CoA");
    let stop = wait_record(&fr, &mut lac, "alice", "Stop", 1);
    assert_eq!(stop[0].get("Acct-Terminate-Cause"), Some("Session-Timeout"));

    // Unknown session: NAK.
    let out = radclient_bg(
        &fr,
        lns.dae,
        "coa",
        "Acct-Session-Id = \"no-such-session\"\nSession-Timeout = 1\n".into(),
    )
    .join()
    .unwrap();
    assert!(out.contains("Received CoA-NAK"), "{out}");

    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
    assert_eq!(
        done.stats.dae_coas, 2,
        "the unknown one never reaches the manager: {:?}",
        done.stats
    );
}

/// With no RADIUS server reachable at all (a dead port) and
/// local-fallback, the users file serves from the first call (no
/// FreeRADIUS needed).
#[test]
fn local_fallback_with_no_server() {
    let dir = TempDir::new("session-deadport").unwrap();
    std::fs::write(dir.path().join("users"), "carol carolpw\n").unwrap();
    let port = free_udp_ports(2).unwrap();
    let aaa = format!(
        "radius_down = \"local-fallback\"\nusers_file = \"{}\"",
        dir.path().join("users").display()
    );
    let lns = Lns::start(&radius_config(port, port + 1, dir.path(), &aaa, ""));
    let mut lac = Lac::new(lns.addr);
    let carol = lac.call("carol", "carolpw");
    assert_eq!(lac.ip_up(carol), Some(Ipv4Addr::new(198, 18, 64, 0)));
    let done = lns.stop(&mut lac);
    assert_eq!(done.sessions, 0);
    assert_eq!(done.stats.ip_up, 1);
}
