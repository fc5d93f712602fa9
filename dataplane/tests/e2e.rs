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
use l2tpx_dataplane::pipeline::{TemplateParams, L2TP_PORT};
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
