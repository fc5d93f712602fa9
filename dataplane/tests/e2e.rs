//! End to end through real interfaces (issue 5 §4): three namespaces
//! LAC ↔ LNS ↔ CORE (see `common/topo.rs`), the data plane running
//! in-process inside the LNS namespace over a session table published
//! directly (no control plane), L2TP data sent from the LAC over a UDP
//! socket and plain IP sent from CORE over a packet socket, both checked
//! byte for byte on the far side, then every counter checked exactly.
//!
//! Needs root, network namespaces and (for AF_XDP) BPF; without them each
//! test prints `SKIP <test>: <reason>` and returns.

#[path = "common/topo.rs"]
mod topo;

use std::collections::HashMap;
use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use l2tpx_dataplane::backend::{BackendKind, Dataplane, StartError};
use l2tpx_dataplane::config::{BackendChoice, Config};
use l2tpx_dataplane::ebpf::Counter;
use l2tpx_dataplane::neigh::{self, Neighbours};
use l2tpx_dataplane::pipeline::{HintOutcome, TemplateParams, L2TP_PORT};
use l2tpx_table::{SessionEntry, TableReader, TableWriter};
use topo::*;

const SESSIONS: u16 = 16;

fn skip_unavailable(test: &str) -> bool {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP {test}: {why}");
        return true;
    }
    false
}

/// Starts the data plane inside the LNS namespace; None (after printing
/// why) where BPF is not available at all.
fn start(test: &str, t: &Topo, cfg: &Config, table: Arc<TableReader>) -> Option<Dataplane> {
    match in_ns(&t.lns, || Dataplane::start(cfg, table)) {
        Ok(dp) => Some(dp),
        Err(StartError::Xdp(e)) if matches!(e.os_error(), Some(libc::EPERM | libc::ENOSYS)) => {
            eprintln!("SKIP {test}: BPF unavailable: {e}");
            None
        }
        Err(e) => panic!("{test}: starting the data plane: {e}"),
    }
}

fn config(t: &Topo, table: &TempTable, backend: BackendChoice) -> Config {
    let mut cfg = Config::new(&t.lns_acc_if, &t.lns_core_if, &table.path, CORE_IP);
    cfg.backend = backend;
    cfg.umem_frames = 4096;
    cfg.ring_size = 1024;
    cfg.idle_spins = 2000;
    cfg
}

/// Resolves the LAC's MAC from the LNS namespace the way the control plane
/// would (the neighbour helper), and publishes the sessions.
fn publish_sessions(t: &Topo, table: &TempTable) -> TableWriter {
    let lac_mac = in_ns(&t.lns, || {
        neigh::resolve(LAC_IP, Duration::from_secs(3)).expect("resolving the LAC");
        let mut n = Neighbours::new();
        n.watch(LAC_IP);
        n.refresh().unwrap();
        let mut p = TemplateParams {
            peer_mac: [0; 6],
            our_mac: t.lns_acc_mac,
            vlan_tci: None,
            local_addr: LNS_ACC_IP,
            peer_addr: LAC_IP,
            local_port: L2TP_PORT,
            peer_port: L2TP_PORT,
            peer_tunnel_id: PEER_TUNNEL,
            peer_session_id: 0x8001,
            with_length: false,
            sequencing: false,
        };
        assert!(n.fill_peer_mac(&mut p));
        p.peer_mac
    });
    assert_eq!(lac_mac, t.lac_mac, "neighbour table gives the LAC's MAC");
    let mut w = TableWriter::create(&table.path, 1024, 0, 2).expect("creating the table");
    for i in 1..=SESSIONS {
        w.publish(&SessionEntry::from(session(i, lac_mac, t.lns_acc_mac)))
            .expect("publishing");
    }
    w
}

/// What the test sent per session: (up packets, up bytes, down packets,
/// down bytes), bytes being inner IP bytes.
type Tally = HashMap<u16, [u64; 4]>;

struct Endpoints {
    /// The LAC's L2TP socket, 198.18.0.2:1701.
    lac: UdpSocket,
    /// A packet socket on the CORE side of the core link.
    core_raw: RawSock,
    /// A UDP socket on CORE's port so that the kernel sends no ICMP.
    _core_sink: UdpSocket,
}

fn endpoints(t: &Topo) -> Endpoints {
    let lac = in_ns(&t.lac, || {
        UdpSocket::bind(SocketAddrV4::new(LAC_IP, L2TP_PORT)).expect("LAC socket")
    });
    lac.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    set_rcvbuf(&lac);
    let core_if = t.core_if.clone();
    let core_raw = in_ns(&t.core, || {
        RawSock::open(&core_if).expect("CORE packet socket")
    });
    let sink = in_ns(&t.core, || {
        UdpSocket::bind(SocketAddrV4::new(CORE_IP, CORE_PORT)).expect("CORE sink")
    });
    Endpoints {
        lac,
        core_raw,
        _core_sink: sink,
    }
}

fn set_rcvbuf(s: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let big: libc::c_int = 32 << 20;
    // SAFETY: an int option on our socket.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&big as *const libc::c_int).cast(),
            4,
        )
    };
}

/// Sends `n` packets each way (sequence numbers from `first`), spread
/// over the sessions, and checks that each arrives once, byte for byte.
/// Returns how many were lost in each direction (mismatches panic).
fn exchange(t: &Topo, ep: &Endpoints, first: u32, n: u32, tally: &mut Tally) -> (u32, u32) {
    let mut want_up: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut want_down: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut up_msgs = Vec::new();
    let mut down_frames = Vec::new();
    for k in first..first + n {
        let s = (k % u32::from(SESSIONS)) as u16 + 1;
        let extra = (k as usize * 7) % 300;
        let t_ = tally.entry(s).or_default();
        // Upstream: subscriber → CORE inside L2TP.
        let inner = inner_udp(subscriber(s), CORE_IP, 4000 + s, CORE_PORT, k, extra);
        t_[0] += 1;
        t_[1] += inner.len() as u64;
        want_up.insert(
            k,
            eth(t.core_mac, t.lns_core_mac, 0x0800, &forwarded(&inner)),
        );
        up_msgs.push(l2tp_data(OUR_TUNNEL, s, &inner));
        // Downstream: CORE → subscriber, plain IP on the core link.
        let inner = inner_udp(CORE_IP, subscriber(s), CORE_PORT, SUB_PORT, k, extra);
        t_[2] += 1;
        t_[3] += inner.len() as u64;
        let mut msg = vec![0x00, 0x02];
        msg.extend_from_slice(&PEER_TUNNEL.to_be_bytes());
        msg.extend_from_slice(&(0x8000 + s).to_be_bytes());
        msg.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
        msg.extend_from_slice(&forwarded(&inner));
        want_down.insert(k, msg);
        down_frames.push(eth(t.lns_core_mac, t.core_mac, 0x0800, &inner));
    }
    let lns_addr = SocketAddrV4::new(LNS_ACC_IP, L2TP_PORT);
    let (got_up, got_down) = std::thread::scope(|sc| {
        let up_rx = sc.spawn(|| {
            let mut got: HashMap<u32, Vec<u8>> = HashMap::new();
            let mut quiet = 0;
            while got.len() < n as usize && quiet < 20 {
                match ep.core_raw.recv() {
                    Some(f) => {
                        quiet = 0;
                        // IPv4 from a subscriber to CORE's port: ours.
                        if f.len() >= 46 && f[12..14] == [8, 0] && f[26..29] == [198, 18, 1] {
                            let k = u32::from_be_bytes(f[42..46].try_into().unwrap());
                            assert!(got.insert(k, f).is_none(), "upstream {k} twice");
                        }
                    }
                    None => quiet += 1,
                }
            }
            got
        });
        let down_rx = sc.spawn(|| {
            let mut got: HashMap<u32, Vec<u8>> = HashMap::new();
            let mut buf = [0u8; 4096];
            let mut quiet = 0;
            while got.len() < n as usize && quiet < 20 {
                match ep.lac.recv_from(&mut buf) {
                    Ok((len, from)) => {
                        quiet = 0;
                        assert_eq!(from, lns_addr.into(), "downstream from the LNS, port 1701");
                        let m = buf[..len].to_vec();
                        assert!(len >= 42, "short downstream message {m:02x?}");
                        let k = u32::from_be_bytes(m[38..42].try_into().unwrap());
                        assert!(got.insert(k, m).is_none(), "downstream {k} twice");
                    }
                    Err(_) => quiet += 1,
                }
            }
            got
        });
        for (i, (up, down)) in up_msgs.iter().zip(&down_frames).enumerate() {
            ep.lac.send_to(up, lns_addr).expect("LAC send");
            ep.core_raw.send(down).expect("CORE send");
            if i % 32 == 31 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        (up_rx.join().unwrap(), down_rx.join().unwrap())
    });
    for (k, f) in &got_up {
        let want = want_up
            .get(k)
            .unwrap_or_else(|| panic!("unexpected upstream {k}"));
        assert_eq!(f, want, "upstream {k}: frame at CORE");
        assert!(checksums_ok(&f[14..]), "upstream {k}: checksums");
    }
    for (k, m) in &got_down {
        let want = want_down
            .get(k)
            .unwrap_or_else(|| panic!("unexpected downstream {k}"));
        assert_eq!(m, want, "downstream {k}: L2TP message at the LAC");
        assert!(checksums_ok(&m[10..]), "downstream {k}: inner checksums");
    }
    (n - got_up.len() as u32, n - got_down.len() as u32)
}

/// Waits until the workers have published counters for `up`/`down`
/// frames, then checks the pipeline's and the table's counters exactly.
fn check_counters(dp: &Dataplane, w: &TableWriter, tally: &Tally, strict_drops: bool) {
    let up: u64 = tally.values().map(|t| t[0]).sum();
    let down: u64 = tally.values().map(|t| t[2]).sum();
    wait_for(Duration::from_secs(2), || {
        let s = dp.total();
        s.pipeline.tx_core >= up && s.pipeline.tx_access >= down
    });
    let s = dp.total();
    assert_eq!(s.pipeline.tx_core, up, "pipeline tx_core: {s:?}");
    assert_eq!(s.pipeline.tx_access, down, "pipeline tx_access: {s:?}");
    assert_eq!(s.io.tx_core, up, "frames queued on the core side");
    assert_eq!(s.io.tx_access, down, "frames queued on the access side");
    assert_eq!(s.io.tx_full, 0);
    assert_eq!(s.io.no_gateway, 0);
    if strict_drops {
        assert_eq!(s.pipeline_drops(), 0, "drops: {s:?}");
        assert_eq!(s.punts(), 0, "punts: {s:?}");
        assert_eq!(s.pipeline.rx, up + down);
    }
    for (&i, t) in tally {
        let c = w.read_counters(u32::from(i));
        assert_eq!(
            [c.up_packets, c.up_bytes, c.down_packets, c.down_bytes],
            *t,
            "table counters of session {i}"
        );
    }
}

#[test]
fn e2e_afxdp_upstream_and_downstream_byte_for_byte() {
    let test = "e2e_afxdp_upstream_and_downstream_byte_for_byte";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("e2e");
    let w = publish_sessions(&t, &table);
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    let cfg = config(&t, &table, BackendChoice::Afxdp);
    let Some(dp) = start(test, &t, &cfg, reader) else {
        return;
    };
    assert!(
        matches!(dp.backend(), BackendKind::AfXdp { .. }),
        "{}",
        dp.backend()
    );
    assert_eq!(dp.gateway_mac(), Some(t.core_mac), "gateway MAC resolved");
    let ep = endpoints(&t);
    let mut tally = Tally::new();
    let (lost_up, lost_down) = exchange(&t, &ep, 0, 1000, &mut tally);
    assert_eq!(
        (lost_up, lost_down),
        (0, 0),
        "lost packets: {:?}",
        dp.total()
    );
    check_counters(&dp, &w, &tally, true);

    // XDP steered exactly these packets to the sockets.
    let x = dp.xdp_counters().unwrap().unwrap();
    assert_eq!(x.get(Counter::L2tpRedirectV4), 1000, "{:?}", x.delta(&x));
    assert_eq!(x.get(Counter::CoreRedirectV4), 1000);
    assert_eq!(
        x.get(Counter::L2tpPassNoXsk) + x.get(Counter::CorePassNoXsk),
        0
    );
    // Every downstream session came from core_steer's slot hint.
    let p = dp.total().pipeline;
    assert_eq!(
        [
            p.hint_count(HintOutcome::Hit),
            p.hint_count(HintOutcome::Stale),
            p.hint_count(HintOutcome::Absent)
        ],
        [1000, 0, 0],
        "{p:?}"
    );

    // A packet to a pool address with no session: XDP passes it, and the
    // LNS kernel does not forward it (ip_forward is off).
    let miss_before = x.get(Counter::CorePassV4Miss);
    let stray = inner_udp(CORE_IP, subscriber(250), CORE_PORT, SUB_PORT, 7, 0);
    ep.core_raw
        .send(&eth(t.lns_core_mac, t.core_mac, 0x0800, &stray))
        .unwrap();
    assert!(wait_for(Duration::from_secs(1), || {
        dp.xdp_counters()
            .unwrap()
            .unwrap()
            .get(Counter::CorePassV4Miss)
            > miss_before
    }));
    let mut buf = [0u8; 2048];
    assert!(
        ep.lac.recv_from(&mut buf).is_err(),
        "nothing forwarded by the kernel"
    );
    assert_eq!(dp.total().pipeline.rx, 2000);
    eprintln!("{test}: {}: {:?}", dp.backend(), dp.total());
    in_ns(&t.lns, move || dp.shutdown());
}

#[test]
fn e2e_afpacket_fallback_runs_the_same_pipeline() {
    let test = "e2e_afpacket_fallback_runs_the_same_pipeline";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("afp");
    let w = publish_sessions(&t, &table);
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    let cfg = config(&t, &table, BackendChoice::Afpacket);
    let Some(dp) = start(test, &t, &cfg, reader) else {
        return;
    };
    assert_eq!(dp.backend(), BackendKind::AfPacket);
    assert!(dp.xdp_counters().is_none(), "no XDP with AF_PACKET");
    let ep = endpoints(&t);
    let mut tally = Tally::new();
    let (lost_up, lost_down) = exchange(&t, &ep, 0, 500, &mut tally);
    assert_eq!(
        (lost_up, lost_down),
        (0, 0),
        "lost packets: {:?}",
        dp.total()
    );
    // The packet socket also sees ARP and the like: drops are not zero.
    check_counters(&dp, &w, &tally, false);
    // No XDP, no slot hints: every downstream lookup used the index.
    let p = dp.total().pipeline;
    assert_eq!(p.hint_count(HintOutcome::Hit), 0, "{p:?}");
    assert_eq!(p.hint_count(HintOutcome::Absent), 500, "{p:?}");
    eprintln!("{test}: {}: {:?}", dp.backend(), dp.total());
    in_ns(&t.lns, move || dp.shutdown());
}

/// The control plane (the table's writer) goes away mid-stream and comes
/// back with `open_existing`: the established sessions keep forwarding
/// with no loss throughout, and their counters survive.
#[test]
fn e2e_forwarding_survives_a_control_plane_restart() {
    let test = "e2e_forwarding_survives_a_control_plane_restart";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("rst");
    let w = publish_sessions(&t, &table);
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    // `auto` picks AF_XDP on veth.
    let cfg = config(&t, &table, BackendChoice::Auto);
    let Some(mut dp) = start(test, &t, &cfg, reader) else {
        return;
    };
    assert!(matches!(dp.backend(), BackendKind::AfXdp { .. }));
    let ep = endpoints(&t);
    let mut tally = Tally::new();
    assert_eq!(exchange(&t, &ep, 0, 300, &mut tally), (0, 0));
    let epoch = w.writer_epoch();
    drop(w); // the control plane exits; the file stays
    assert_eq!(exchange(&t, &ep, 300, 300, &mut tally), (0, 0));
    let w = TableWriter::open_existing(&table.path).expect("re-attaching the writer");
    assert_eq!(w.writer_epoch(), epoch + 1);
    assert!(w.recovered_slots().is_empty());
    assert_eq!(w.published(), u32::from(SESSIONS));
    // The re-attach moved the generation: the subscriber maps resync
    // (unchanged) while traffic flows.
    let r = dp.sync_subscribers().unwrap();
    assert_eq!(
        (r.added, r.removed, r.v4),
        (0, 0, u32::from(SESSIONS)),
        "{r:?}"
    );
    assert_eq!(exchange(&t, &ep, 600, 300, &mut tally), (0, 0));
    check_counters(&dp, &w, &tally, true);
    in_ns(&t.lns, move || dp.shutdown());
}

/// The `dataplane` binary in the LNS namespace: it waits for the table the
/// control plane creates, chooses AF_XDP (one log line), forwards, picks
/// up a session published while it runs (XDP subscriber maps synced from
/// the table), and on SIGTERM exits 0 with XDP detached.
#[test]
fn e2e_binary_waits_for_the_table_syncs_and_stops_on_sigterm() {
    let test = "e2e_binary_waits_for_the_table_syncs_and_stops_on_sigterm";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("bin");
    let conf = table.path.with_extension("toml");
    let log = table.path.with_extension("log");
    std::fs::write(
        &conf,
        format!(
            "access_if = \"{}\"\ncore_if = \"{}\"\ntable = \"{}\"\ncore_gateway = \"{CORE_IP}\"\n\
             backend = \"auto\"\numem_frames = 4096\nring_size = 1024\ntable_wait_s = 10\n\
             stats_interval_s = 1\n",
            t.lns_acc_if,
            t.lns_core_if,
            table.path.display()
        ),
    )
    .unwrap();
    let _cleanup = Cleanup(vec![conf.clone(), log.clone()]);
    let mut cmd = t.lns.command(env!("CARGO_BIN_EXE_dataplane"));
    cmd.args(["--config", conf.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut daemon = l2tpx_tests::netns::Daemon::spawn(cmd).expect("spawning dataplane");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(5), || log_text()
        .contains("waiting for the session table")));
    let mut w = publish_sessions(&t, &table);
    if !wait_for(Duration::from_secs(10), || {
        log_text().contains("data-plane backend")
    }) {
        let l = log_text();
        if l.contains("EPERM") || l.contains("Operation not permitted") {
            eprintln!("SKIP {test}: BPF unavailable: {l}");
            return;
        }
        panic!("dataplane did not start: {l}");
    }
    assert!(
        log_text().contains("data-plane backend: AF_XDP"),
        "{}",
        log_text()
    );
    let xdp_on = |ifname: &str| {
        let out = t.lns.ip(&["-d", "link", "show", "dev", ifname]).unwrap();
        String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
    };
    assert!(xdp_on(&t.lns_acc_if) && xdp_on(&t.lns_core_if));

    let ep = endpoints(&t);
    let mut tally = Tally::new();
    assert_eq!(
        exchange(&t, &ep, 0, 300, &mut tally),
        (0, 0),
        "{}",
        log_text()
    );
    for (&i, v) in &tally {
        let c = w.read_counters(u32::from(i));
        assert_eq!([c.up_packets, c.up_bytes, c.down_packets, c.down_bytes], *v);
    }

    // A session published while the data plane runs: its downstream
    // traffic is steered once the maps catch up (within about a second).
    let new = SESSIONS + 1;
    w.publish(&SessionEntry::from(session(new, t.lac_mac, t.lns_acc_mac)))
        .unwrap();
    let inner = inner_udp(CORE_IP, subscriber(new), CORE_PORT, SUB_PORT, 99, 10);
    let frame = eth(t.lns_core_mac, t.core_mac, 0x0800, &inner);
    let mut buf = [0u8; 2048];
    let got = wait_for(Duration::from_secs(4), || {
        ep.core_raw.send(&frame).unwrap();
        matches!(ep.lac.recv_from(&mut buf), Ok((n, _)) if n == 10 + inner.len()
            && buf[4..6] == (0x8000 + new).to_be_bytes())
    });
    assert!(
        got,
        "the new session is forwarded downstream: {}",
        log_text()
    );
    assert!(log_text().contains("XDP subscriber maps synced"));

    let status = daemon
        .terminate(Duration::from_secs(5))
        .expect("dataplane exits on SIGTERM");
    assert!(status.success(), "exit status {status}: {}", log_text());
    assert!(log_text().contains("XDP detached"));
    assert!(!xdp_on(&t.lns_acc_if) && !xdp_on(&t.lns_core_if));
    eprintln!("{test}: dataplane log:\n{}", log_text());
}

struct Cleanup(Vec<std::path::PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `backend = "auto"` where AF_XDP cannot bind (zero-copy demanded on
/// veth: EOPNOTSUPP) falls back to AF_PACKET by itself, detaches the XDP
/// programs it had attached, and forwards through the same pipeline.
#[test]
fn e2e_auto_falls_back_to_afpacket_when_afxdp_cannot_bind() {
    let test = "e2e_auto_falls_back_to_afpacket_when_afxdp_cannot_bind";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("fb");
    let w = publish_sessions(&t, &table);
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    let mut cfg = config(&t, &table, BackendChoice::Auto);
    cfg.xdp_mode = l2tpx_dataplane::config::XdpBindMode::Zerocopy;
    let Some(dp) = start(test, &t, &cfg, reader) else {
        return;
    };
    assert_eq!(dp.backend(), BackendKind::AfPacket);
    let out = t
        .lns
        .ip(&["-d", "link", "show", "dev", &t.lns_acc_if])
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("prog/xdp"),
        "XDP left attached after the fallback"
    );
    let ep = endpoints(&t);
    let mut tally = Tally::new();
    assert_eq!(exchange(&t, &ep, 0, 200, &mut tally), (0, 0));
    check_counters(&dp, &w, &tally, false);
    in_ns(&t.lns, move || dp.shutdown());
}

/// A raw ICMP socket (it receives a copy of every ICMP datagram the
/// namespace's kernel gets, IP header included).
struct IcmpSock(std::os::fd::OwnedFd);

impl IcmpSock {
    fn open() -> IcmpSock {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscalls; the fd is checked and then owned.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
            assert!(
                fd >= 0,
                "raw ICMP socket: {}",
                std::io::Error::last_os_error()
            );
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            IcmpSock(std::os::fd::OwnedFd::from_raw_fd(fd))
        }
    }

    fn recv(&self) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 2048];
        // SAFETY: a buffer of the length passed.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        (n > 0).then(|| buf[..n as usize].to_vec())
    }
}

/// `ip` with DF and TTL as given and its header checksum recomputed.
fn with_df_ttl(mut ip: Vec<u8>, df: bool, ttl: u8) -> Vec<u8> {
    let mut p = l2tpx_wire::ipv4::Packet::new_unchecked(&mut ip[..]);
    p.set_dont_frag(df);
    p.set_ttl(ttl);
    p.fill_checksum();
    ip
}

fn icmp_checksum_ok(icmp: &[u8]) -> bool {
    l2tpx_wire::checksum::data(icmp) == 0xffff
}

/// The slow path on real interfaces (AF_XDP): a downstream packet with DF
/// larger than the session MTU gets an ICMP Fragmentation Needed (MTU
/// 1460) back at the CORE sender; one without DF arrives at the LAC in two
/// fragments that reassemble to it; a TTL-1 upstream packet gets a Time
/// Exceeded back at the LAC inside L2TP. The ICMP source is the LNS's core
/// address, found on the core interface (no `icmp_source` configured).
#[test]
fn e2e_afxdp_slow_path_icmp_and_fragments() {
    use l2tpx_dataplane::slowpath::SlowOutcome;
    let test = "e2e_afxdp_slow_path_icmp_and_fragments";
    if skip_unavailable(test) {
        return;
    }
    let t = Topo::new(1).expect("topology");
    let table = TempTable::new("slow");
    let _w = publish_sessions(&t, &table);
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    let cfg = config(&t, &table, BackendChoice::Afxdp);
    let Some(dp) = start(test, &t, &cfg, reader) else {
        return;
    };
    let ep = endpoints(&t);
    let icmp = in_ns(&t.core, IcmpSock::open);
    let lns_addr = SocketAddrV4::new(LNS_ACC_IP, L2TP_PORT);

    // 0. Wait until the workers forward: each check below sends a single
    //    packet, which is lost if it arrives before the sockets are live.
    let mut buf = [0u8; 4096];
    let probe = inner_udp(CORE_IP, subscriber(1), CORE_PORT, SUB_PORT, 76, 20);
    let mut live = false;
    for _ in 0..50 {
        ep.core_raw
            .send(&eth(t.lns_core_mac, t.core_mac, 0x0800, &probe))
            .unwrap();
        if ep.lac.recv_from(&mut buf).is_ok() {
            live = true;
            break;
        }
    }
    assert!(live, "data plane never forwarded: {:?}", dp.total());
    while ep.lac.recv_from(&mut buf).is_ok() {}

    // 1. DF, 1480 bytes > MTU 1460: Fragmentation Needed at CORE.
    let big = inner_udp(CORE_IP, subscriber(1), CORE_PORT, SUB_PORT, 77, 1448);
    assert_eq!(big.len(), 1480);
    let big_df = with_df_ttl(big.clone(), true, 64);
    ep.core_raw
        .send(&eth(t.lns_core_mac, t.core_mac, 0x0800, &big_df))
        .unwrap();
    let mut got = None;
    for _ in 0..30 {
        match icmp.recv() {
            Some(p) if p.len() >= 56 && p[20] == 3 => {
                got = Some(p);
                break;
            }
            _ => {}
        }
    }
    let p = got.unwrap_or_else(|| panic!("no ICMP frag needed at CORE: {:?}", dp.total()));
    assert_eq!(
        &p[12..16],
        &LNS_CORE_IP.octets(),
        "from the LNS core address"
    );
    assert_eq!(&p[16..20], &CORE_IP.octets());
    assert_eq!(
        (p[20], p[21]),
        (3, 4),
        "Destination Unreachable, frag needed"
    );
    assert_eq!(u16::from_be_bytes([p[26], p[27]]), 1460, "next-hop MTU");
    assert!(icmp_checksum_ok(&p[20..]));
    assert_eq!(&p[28..56], &big_df[..28], "quotes header + 8 bytes");

    // 2. No DF: two fragments at the LAC, reassembling to the original
    //    (TTL 63).
    let big_nodf = with_df_ttl(big, false, 64);
    ep.core_raw
        .send(&eth(t.lns_core_mac, t.core_mac, 0x0800, &big_nodf))
        .unwrap();
    let mut frags: Vec<Vec<u8>> = Vec::new();
    for _ in 0..20 {
        if frags.len() == 2 {
            break;
        }
        if let Ok((n, _)) = ep.lac.recv_from(&mut buf) {
            assert_eq!(
                &buf[..10],
                &[0, 2, 0x40, 0x01, 0x80, 0x01, 0xff, 0x03, 0x00, 0x21]
            );
            frags.push(buf[10..n].to_vec());
        }
    }
    assert_eq!(frags.len(), 2, "two fragments: {:?}", dp.total());
    frags.sort_by_key(|f| u16::from_be_bytes([f[6], f[7]]) & 0x1fff);
    let mut data = Vec::new();
    for (k, f) in frags.iter().enumerate() {
        let p = l2tpx_wire::ipv4::Packet::new_checked(&f[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(f.len() <= 1460);
        assert_eq!(p.more_frags(), k == 0);
        assert_eq!(usize::from(p.frag_offset()), data.len());
        assert_eq!(p.ttl(), 63);
        data.extend_from_slice(p.payload());
    }
    assert_eq!(data, big_nodf[20..], "reassembled payload");

    // 3. TTL 1 upstream: Time Exceeded back to the subscriber in L2TP.
    let up = with_df_ttl(
        inner_udp(subscriber(1), CORE_IP, 4001, CORE_PORT, 78, 20),
        false,
        1,
    );
    ep.lac
        .send_to(&l2tp_data(OUR_TUNNEL, 1, &up), lns_addr)
        .unwrap();
    let mut te = None;
    for _ in 0..20 {
        if let Ok((n, _)) = ep.lac.recv_from(&mut buf) {
            te = Some(buf[..n].to_vec());
            break;
        }
    }
    let m = te.unwrap_or_else(|| panic!("no Time Exceeded at the LAC: {:?}", dp.total()));
    assert_eq!(
        &m[..10],
        &[0, 2, 0x40, 0x01, 0x80, 0x01, 0xff, 0x03, 0x00, 0x21]
    );
    let ip = &m[10..];
    let p = l2tpx_wire::ipv4::Packet::new_checked(ip).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(p.src_addr(), LNS_CORE_IP);
    assert_eq!(p.dst_addr(), subscriber(1));
    assert_eq!(p.ttl(), 64);
    assert_eq!((ip[20], ip[21]), (11, 0), "Time Exceeded in transit");
    assert!(icmp_checksum_ok(&ip[20..usize::from(p.total_len())]));
    assert_eq!(&ip[28..56], &up[..28]);

    assert!(wait_for(Duration::from_secs(2), || {
        dp.total().slow(SlowOutcome::IcmpTimeExceeded) == 1
    }));
    let s = dp.total();
    assert_eq!(s.slow(SlowOutcome::IcmpFragNeeded), 1, "{s:?}");
    assert_eq!(s.slow(SlowOutcome::Fragmented), 1);
    assert_eq!(s.slow(SlowOutcome::FragmentsSent), 2);
    assert_eq!(s.slow(SlowOutcome::IcmpTimeExceeded), 1);
    assert_eq!(s.io.slow_path, 3);
    eprintln!("{test}: {}: {s:?}", dp.backend());
    in_ns(&t.lns, move || dp.shutdown());
}
