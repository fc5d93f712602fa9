//! Real interop: Debian's xl2tpd as the LAC against the `controlplane`
//! binary, in two network namespaces joined by a veth (LAC 198.18.0.2,
//! LNS 198.18.0.1). tcpdump captures the LNS end; the assertions are on the
//! messages tshark decodes from that capture, not on log text.
//!
//! xl2tpd completes SCCRQ..ICCN; pppd cannot run without /dev/ppp, so
//! xl2tpd clears the call with a CDN on its own; `d NAME` on its control
//! pipe then closes the tunnel with a StopCCN (ARCHITECTURE §4).
//!
//! Lives in the controlplane package so that `CARGO_BIN_EXE_controlplane`
//! names the binary under test. Skips (prints `SKIP: ...`) when not root,
//! without network namespaces, or without xl2tpd, tcpdump or tshark.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use l2tpx_tests::netns::{self, Daemon, NetNs, Veth};
use l2tpx_tests::peers::{wait_until, Capture, TempDir, Xl2tpd};
use l2tpx_tests::tshark_fields;

const LAC_IP: &str = "198.18.0.2";
const LNS_IP: &str = "198.18.0.1";

// Message types (RFC 2661 §3.2).
const SCCRQ: u16 = 1;
const SCCRP: u16 = 2;
const SCCCN: u16 = 3;
const STOPCCN: u16 = 4;
const ICRQ: u16 = 10;
const ICRP: u16 = 11;
const ICCN: u16 = 12;
const CDN: u16 = 14;

/// The test's stopwatch (a test driver may read the clock).
#[allow(clippy::disallowed_methods)]
fn clock() -> Instant {
    Instant::now()
}

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Why this test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if let Some(why) = netns::unavailable() {
        return Some(why);
    }
    for (tool, arg) in [("xl2tpd", "-v"), ("tcpdump", "--version")] {
        if !have(tool, arg) {
            return Some(format!("{tool} not installed"));
        }
    }
    if !l2tpx_tests::tshark_available() {
        return Some("tshark not installed".into());
    }
    None
}

macro_rules! skip_unless_available {
    () => {
        if let Some(why) = skip_reason() {
            println!("SKIP: {why}");
            return;
        }
    };
}

/// One L2TP control message as tshark decoded it.
#[derive(Debug, Clone)]
struct Msg {
    frame: u32,
    from_lac: bool,
    tunnel: u16,
    session: u16,
    ns: u16,
    nr: u16,
    /// `None`: a ZLB acknowledgement.
    mtype: Option<u16>,
    assigned_tunnel: Option<u16>,
    assigned_session: Option<u16>,
    result: Option<u16>,
    /// Carries a Challenge AVP.
    challenge: bool,
    /// Carries a Challenge Response AVP.
    response: bool,
}

impl Msg {
    fn is(&self, from_lac: bool, mtype: u16) -> bool {
        self.from_lac == from_lac && self.mtype == Some(mtype)
    }
}

fn num(s: &str) -> Option<u16> {
    let s = s.split(',').next()?.trim();
    if s.is_empty() {
        return None;
    }
    match s.strip_prefix("0x") {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The control messages of a capture, in order.
fn control_messages(pcap: &Path) -> Vec<Msg> {
    let fields = [
        "frame.number",
        "ip.src",
        "l2tp.type",
        "l2tp.tunnel",
        "l2tp.session",
        "l2tp.Ns",
        "l2tp.Nr",
        "l2tp.avp.message_type",
        "l2tp.avp.assigned_tunnel_id",
        "l2tp.avp.assigned_session_id",
        "l2tp.result_code",
        "l2tp.avp.chap_challenge",
        "l2tp.avp.chap_challenge_response",
    ];
    tshark_fields(pcap, "l2tp", &fields)
        .expect("tshark")
        .iter()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            // l2tp.type: 1 = control (tshark prints the T bit's value).
            if f.len() < fields.len() || num(f[2]) != Some(1) {
                return None;
            }
            Some(Msg {
                frame: f[0].parse().ok()?,
                from_lac: f[1] == LAC_IP,
                tunnel: num(f[3])?,
                session: num(f[4]).unwrap_or(0),
                ns: num(f[5])?,
                nr: num(f[6])?,
                mtype: num(f[7]),
                assigned_tunnel: num(f[8]),
                assigned_session: num(f[9]),
                result: num(f[10]),
                challenge: !f[11].is_empty(),
                response: !f[12].is_empty(),
            })
        })
        .collect()
}

fn bad_frames(pcap: &Path) -> Vec<String> {
    tshark_fields(
        pcap,
        "_ws.malformed || _ws.expert.severity >= \"Warning\"",
        &["frame.number", "_ws.expert.message", "_ws.col.info"],
    )
    .expect("tshark")
}

fn dump(msgs: &[Msg]) -> String {
    msgs.iter()
        .map(|m| format!("{m:?}\n"))
        .collect::<Vec<_>>()
        .concat()
}

/// The first message matching `pred`, with a readable failure.
fn find<'a>(msgs: &'a [Msg], what: &str, pred: impl Fn(&Msg) -> bool) -> &'a Msg {
    msgs.iter()
        .find(|m| pred(m))
        .unwrap_or_else(|| panic!("no {what} in the capture:\n{}", dump(msgs)))
}

/// Whether a message from the other side, after `m`, acknowledges it
/// (a ZLB or any message whose Nr has passed `m`'s Ns).
fn acknowledged(msgs: &[Msg], m: &Msg) -> bool {
    msgs.iter().any(|a| {
        a.frame > m.frame
            && a.from_lac != m.from_lac
            && a.nr.wrapping_sub(m.ns) as i16 > 0
            && a.nr.wrapping_sub(m.ns) < 0x8000
    })
}

/// Namespaces, veth, scratch dir, and the controlplane with its log.
struct Topo {
    // Drop order: the daemons first (declared in the tests after this),
    // then the dir, the veth and the namespaces.
    dir: TempDir,
    _veth: Veth,
    lac: NetNs,
    lns: NetNs,
}

impl Topo {
    fn new(tag: &str) -> Topo {
        let lac = NetNs::new("lac").expect("netns lac");
        let lns = NetNs::new("lns").expect("netns lns");
        let veth =
            Veth::new(&lac, &format!("{LAC_IP}/24"), &lns, &format!("{LNS_IP}/24")).expect("veth");
        Topo {
            dir: TempDir::new(tag).expect("tempdir"),
            _veth: veth,
            lac,
            lns,
        }
    }

    fn lns_iface(&self) -> String {
        self._veth.b.clone()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("controlplane.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Writes the config and starts `controlplane` in the LNS namespace;
    /// waits until it logs that it listens.
    fn start_lns(&self, secret: Option<&str>) -> Daemon {
        let conf = self.dir.path().join("lns.toml");
        let mut text = format!(
            "[l2tp]\nlisten = \"{LNS_IP}:1701\"\nhost_name = \"l2tpx-test\"\n\n\
             [log]\nlevel = \"debug\"\n\n[driver]\nshutdown_timeout_ms = 3000\n\n\
             [aaa]\nmode = \"local\"\nusers_file = \"users\"\n\n\
             [[pool]]\nname = \"default\"\nfirst = \"198.18.64.1\"\nlast = \"198.18.64.254\"\n"
        );
        // xl2tpd's pppd cannot run here, so no user ever authenticates.
        fs::write(self.dir.path().join("users"), "# none\n").unwrap();
        if let Some(s) = secret {
            text += &format!("\n[[l2tp.secret]]\npeer = \"{LAC_IP}\"\nsecret = \"{s}\"\n");
        }
        fs::write(&conf, text).unwrap();
        let log = fs::File::create(self.log_path()).unwrap();
        let mut cmd = self.lns.command(env!("CARGO_BIN_EXE_controlplane"));
        cmd.arg("--config")
            .arg(&conf)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let d = Daemon::spawn(cmd).expect("spawn controlplane");
        assert!(
            wait_until(Duration::from_secs(5), || self
                .log()
                .contains("controlplane listening")),
            "controlplane did not start:\n{}",
            self.log()
        );
        d
    }

    fn wait_log(&self, what: &str, needle: &str, timeout: Duration) {
        if wait_until(timeout, || self.log().contains(needle)) {
            return;
        }
        // tcpdump writes each packet at once (-U --immediate-mode), so the
        // pcap so far tells what crossed the wire.
        let pcap = self.dir.path().join("lns.pcap");
        panic!(
            "timed out waiting for {what} ({needle:?}); on the wire so far:\n{}\ncontrolplane log:\n{}",
            dump(&control_messages(&pcap)),
            self.log()
        );
    }
}

/// Checks the full call: SCCRQ..ICCN acknowledged, xl2tpd's CDN and
/// StopCCN acknowledged, IDs consistent, no malformed frames.
fn check_call_and_teardown(msgs: &[Msg], authenticated: bool) {
    let sccrq = find(msgs, "SCCRQ from the LAC", |m| m.is(true, SCCRQ));
    let sccrp = find(msgs, "SCCRP from us", |m| m.is(false, SCCRP));
    let scccn = find(msgs, "SCCCN from the LAC", |m| m.is(true, SCCCN));
    let icrq = find(msgs, "ICRQ from the LAC", |m| m.is(true, ICRQ));
    let icrp = find(msgs, "ICRP from us", |m| m.is(false, ICRP));
    let iccn = find(msgs, "ICCN from the LAC", |m| m.is(true, ICCN));
    let cdn = find(msgs, "CDN from the LAC", |m| m.is(true, CDN));
    let stop = find(msgs, "StopCCN from the LAC", |m| m.is(true, STOPCCN));
    let order = [sccrq, sccrp, scccn, icrq, icrp, iccn, cdn, stop];
    assert!(
        order.windows(2).all(|w| w[0].frame < w[1].frame),
        "messages out of order:\n{}",
        dump(msgs)
    );
    let d = dump(msgs);

    // Tunnel IDs: each side uses the ID the other assigned.
    let ours = sccrp
        .assigned_tunnel
        .expect("SCCRP without Assigned Tunnel ID");
    let theirs = sccrq
        .assigned_tunnel
        .expect("SCCRQ without Assigned Tunnel ID");
    assert_ne!(ours, 0);
    assert_eq!(sccrq.tunnel, 0, "SCCRQ to tunnel 0");
    for m in msgs.iter().filter(|m| m.frame > sccrq.frame) {
        let want = if m.from_lac { ours } else { theirs };
        assert_eq!(m.tunnel, want, "tunnel ID mismatch in {m:?}\n{d}");
    }
    // Session IDs: ICRP assigns ours; the LAC's ICCN and CDN use it, and
    // ours go to the LAC's (from its ICRQ).
    let our_sid = icrp
        .assigned_session
        .expect("ICRP without Assigned Session ID");
    let their_sid = icrq
        .assigned_session
        .expect("ICRQ without Assigned Session ID");
    assert_ne!(our_sid, 0);
    assert_eq!(icrp.session, their_sid, "ICRP session ID\n{d}");
    assert_eq!(iccn.session, our_sid, "ICCN session ID\n{d}");
    assert_eq!(cdn.session, our_sid, "CDN session ID\n{d}");
    assert!(cdn.result.is_some(), "CDN without Result Code");
    assert!(stop.result.is_some(), "StopCCN without Result Code");

    // Reliable delivery: what the LAC sent is acknowledged by us.
    for m in [sccrq, scccn, icrq, iccn, cdn, stop] {
        assert!(acknowledged(msgs, m), "not acknowledged by us: {m:?}\n{d}");
    }
    // ...and ours by the LAC (its SCCCN acks the SCCRP, its ICCN the ICRP).
    for m in [sccrp, icrp] {
        assert!(
            acknowledged(msgs, m),
            "not acknowledged by the LAC: {m:?}\n{d}"
        );
    }
    // We never closed anything ourselves.
    assert!(
        !msgs
            .iter()
            .any(|m| !m.from_lac && matches!(m.mtype, Some(STOPCCN | CDN))),
        "we sent a StopCCN/CDN:\n{d}"
    );

    // Tunnel authentication (§5.1.1): both sides challenge, both answer.
    if authenticated {
        assert!(sccrq.challenge, "xl2tpd sent no Challenge\n{d}");
        assert!(sccrp.challenge && sccrp.response, "SCCRP: {sccrp:?}\n{d}");
        assert!(scccn.response, "SCCCN without Challenge Response\n{d}");
    } else {
        assert!(
            msgs.iter().all(|m| !m.challenge && !m.response),
            "challenge AVPs without a secret\n{d}"
        );
    }
}

/// The whole scenario; `secret` on both sides enables tunnel
/// authentication.
fn call_and_hangup(tag: &str, secret: Option<&str>) {
    let start = clock();
    let topo = Topo::new(tag);
    let pcap = topo.dir.path().join("lns.pcap");
    let mut lns = topo.start_lns(secret);
    let cap =
        Capture::start(&topo.lns, &topo.lns_iface(), "udp port 1701", &pcap).expect("tcpdump");
    // tcpdump writes its pcap header before it is bound to the interface;
    // the scenario's first packet must not race it.
    std::thread::sleep(Duration::from_millis(100));
    let lac_dir = topo.dir.path().join("lac");
    fs::create_dir_all(&lac_dir).unwrap();
    let xl2tpd = Xl2tpd::start(&topo.lac, &lac_dir, LNS_IP, secret).expect("xl2tpd");
    xl2tpd.dial().expect("xl2tpd dial");

    let t = Duration::from_secs(10);
    topo.wait_log("the tunnel", "tunnel up", t);
    topo.wait_log("the session (ICCN)", "session up", t);
    // pppd fails without /dev/ppp: xl2tpd clears the call by itself.
    topo.wait_log("xl2tpd's CDN", "session down", t);
    // The tunnel stays up without its call until `d NAME`: StopCCN.
    xl2tpd.hangup().expect("xl2tpd hangup");
    topo.wait_log("xl2tpd's StopCCN", "tunnel down", t);
    // Our ZLB for the StopCCN leaves after the ACK delay (100 ms).
    std::thread::sleep(Duration::from_millis(300));
    let pcap = cap.stop();

    let msgs = control_messages(&pcap);
    check_call_and_teardown(&msgs, secret.is_some());
    let bad = bad_frames(&pcap);
    assert!(bad.is_empty(), "tshark flags frames: {bad:#?}");
    let log = topo.log();
    assert!(
        log.contains("initiator=Peer"),
        "the log has no peer-initiated teardown:\n{log}"
    );

    // A clean exit with nothing left to close.
    let status = lns.terminate(Duration::from_secs(5)).expect("exit");
    assert!(
        status.success(),
        "controlplane exited {status}\n{}",
        topo.log()
    );
    eprintln!(
        "{tag}: {} control messages, {:.1} s",
        msgs.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn xl2tpd_call_and_hangup() {
    skip_unless_available!();
    call_and_hangup("x2p", None);
}

#[test]
fn xl2tpd_call_with_tunnel_authentication() {
    skip_unless_available!();
    call_and_hangup("x2a", Some("interop-s3cret"));
}

/// SIGTERM with a tunnel up: a StopCCN (result 6) from us, acknowledged by
/// xl2tpd, and a clean exit well inside `shutdown_timeout_ms`.
#[test]
fn sigterm_sends_stopccn_and_exits_zero() {
    skip_unless_available!();
    let topo = Topo::new("x2s");
    let pcap = topo.dir.path().join("lns.pcap");
    let mut lns = topo.start_lns(None);
    let cap =
        Capture::start(&topo.lns, &topo.lns_iface(), "udp port 1701", &pcap).expect("tcpdump");
    // tcpdump writes its pcap header before it is bound to the interface;
    // the scenario's first packet must not race it.
    std::thread::sleep(Duration::from_millis(100));
    let lac_dir = topo.dir.path().join("lac");
    fs::create_dir_all(&lac_dir).unwrap();
    let xl2tpd = Xl2tpd::start(&topo.lac, &lac_dir, LNS_IP, None).expect("xl2tpd");
    // `t HOST` opens a tunnel with no call: with a call, pppd's failure
    // makes xl2tpd close the tunnel itself within ~30 ms, racing the signal.
    xl2tpd
        .command(&format!("t {LNS_IP}"))
        .expect("xl2tpd tunnel");
    topo.wait_log("the tunnel", "tunnel up", Duration::from_secs(10));
    // Still up a moment later (nothing closes it on its own).
    std::thread::sleep(Duration::from_millis(300));
    assert!(!topo.log().contains("tunnel down"), "{}", topo.log());

    let t0 = clock();
    let status = lns
        .terminate(Duration::from_secs(6))
        .expect("controlplane did not exit within 6 s of SIGTERM");
    let took = t0.elapsed();
    assert!(status.success(), "exit status {status}\n{}", topo.log());
    // shutdown_timeout_ms is 3000; an acknowledged StopCCN ends it sooner.
    assert!(took < Duration::from_millis(3500), "took {took:?}");
    std::thread::sleep(Duration::from_millis(200));
    let pcap = cap.stop();

    let msgs = control_messages(&pcap);
    let d = dump(&msgs);
    let sccrp = find(&msgs, "SCCRP from us", |m| m.is(false, SCCRP));
    let stop = find(&msgs, "StopCCN from us", |m| m.is(false, STOPCCN));
    assert_eq!(stop.result, Some(6), "StopCCN result (shutting down)\n{d}");
    assert_eq!(
        stop.assigned_tunnel, sccrp.assigned_tunnel,
        "StopCCN names our tunnel\n{d}"
    );
    assert!(
        acknowledged(&msgs, stop),
        "xl2tpd did not acknowledge our StopCCN:\n{d}"
    );
    let log = topo.log();
    assert!(log.contains("shutdown complete"), "{log}");
    let bad = bad_frames(&pcap);
    assert!(bad.is_empty(), "tshark flags frames: {bad:#?}");
    eprintln!("sigterm: exited in {took:?}");
}
