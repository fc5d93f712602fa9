//! Command line and the run: topology, target, setup, traffic, teardown,
//! report.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use l2tpx_controlplane::ppp::lcp::AuthMethod;
use l2tpx_tests::netns::in_netns;
use l2tpx_tests::peers::Capture;

use crate::afxdp::XdpIo;
use crate::emulator::{grow_buffers, EmuConfig, Emulator};
use crate::progress::Progress;
use crate::report::{
    cpu_pct, cpu_ticks, table, write_plot, CpuReport, DirectionReport, LoadPoint, LoadReport,
    Percentiles, Report, Rfc2544Report, RunConfig, SetupReport, TeardownReport, TrafficReport,
};
use crate::rfc2544::SearchParams;
use crate::topo::{Topology, CORE_ADDR, LNS_ACCESS};
use crate::traffic::{
    run_core, IoPair, MmsgIo, RxStats, Size, TestIo, TrafficParams, TxStats, DOWN_PORT, UP_PORT,
};
use crate::{alloc, clock};

/// What to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Debian's l2tpns with FreeRADIUS, in the LNS namespace.
    L2tpns,
    /// l2tpx (control plane + data plane).
    L2tpx,
    /// The upper limit: l2tpx's control plane sets the sessions up, and
    /// its data plane runs as a bare AF_XDP forwarder (`mode = "bare"`:
    /// the same XDP steering, sockets and loop; MAC rewrite only).
    Baseline,
}

/// How the bench sends and receives test traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generator {
    /// AF_XDP sockets on the bench's veth ends, with an XDP filter that
    /// steers only test traffic to them (falls back to mmsg when they
    /// cannot bind).
    Afxdp,
    /// UDP sockets with sendmmsg / recvmmsg.
    Mmsg,
}

impl Generator {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Generator::Afxdp => "afxdp",
            Generator::Mmsg => "mmsg",
        }
    }
}

/// PPP authentication the LNS is told to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    /// CHAP-MD5.
    Chap,
    /// PAP.
    Pap,
}

/// Where the target checks credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Aaa {
    /// l2tpx: its local users file (l2tpns has none).
    Local,
    /// FreeRADIUS on 127.0.0.1 in the LNS namespace, authentication and
    /// accounting (Start/Stop) for either target.
    Radius,
}

/// l2tpx-bench: brings up L2TP/PPP sessions against an LNS, measures the
/// setup rate, passes traffic both ways and reports (docs/bench.md).
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Options {
    /// The LNS under test.
    #[arg(long, value_enum, default_value = "l2tpns")]
    pub target: Target,
    /// Tunnels (one UDP socket and source port each).
    #[arg(long, default_value_t = 8)]
    pub tunnels: usize,
    /// Sessions in all (split evenly over the tunnels, rounded up).
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Session setups started per second (0: as fast as the outstanding
    /// limit allows).
    #[arg(long, default_value_t = 0.0)]
    pub setup_rate: f64,
    /// Setups in progress at most (l2tpns drops above ~64).
    #[arg(long, default_value_t = 64)]
    pub max_outstanding: usize,
    /// PPP authentication.
    #[arg(long, value_enum, default_value = "chap")]
    pub auth: Auth,
    /// Send proxy authentication AVPs in the ICCN (CHAP or PAP, as
    /// `--auth`).
    #[arg(long)]
    pub proxy_auth: bool,
    /// Send proxy LCP AVPs in the ICCN: the emulated LAC negotiated LCP
    /// with the client, so the LNS may skip LCP (and, with `--proxy-auth`,
    /// authentication).
    #[arg(long)]
    pub proxy_lcp: bool,
    /// Authentication: l2tpx defaults to local, l2tpns to RADIUS
    /// authentication without accounting; `radius` gives both FreeRADIUS
    /// authentication and accounting.
    #[arg(long, value_enum)]
    pub aaa: Option<Aaa>,
    /// Extra LAC source addresses (tunnels spread over them).
    #[arg(long, default_value_t = 0)]
    pub lac_addrs: u8,
    /// Upstream packets/s over all sessions (0: max).
    #[arg(long, default_value_t = 1000)]
    pub pps_up: u64,
    /// Downstream packets/s (0: max).
    #[arg(long, default_value_t = 1000)]
    pub pps_down: u64,
    /// No upstream traffic.
    #[arg(long)]
    pub no_up: bool,
    /// No downstream traffic.
    #[arg(long)]
    pub no_down: bool,
    /// No traffic at all (setup and teardown only).
    #[arg(long)]
    pub no_traffic: bool,
    /// Traffic seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Packets per direction at most.
    #[arg(long, default_value_t = 50_000_000)]
    pub max_packets: u64,
    /// Frame size: 64, 512, 1500, ... or imix.
    #[arg(long, default_value = "64")]
    pub size: Size,
    /// Traffic generator: AF_XDP on the bench's veth ends (falls back to
    /// mmsg if AF_XDP cannot bind), or sendmmsg/recvmmsg on UDP sockets.
    #[arg(long, value_enum, default_value = "afxdp")]
    pub generator: Generator,
    /// RFC 2544 §26.1 throughput: binary search for the highest rate (per
    /// direction) with at most --loss-threshold loss, then a trial at 50%
    /// of it for latency. Replaces the fixed-rate run.
    #[arg(long)]
    pub rfc2544: bool,
    /// Load sweep: trials at k/N of the ceiling, k = 1..N (0: none).
    /// Replaces the fixed-rate run.
    #[arg(long, default_value_t = 0)]
    pub sweep: usize,
    /// Seconds each load trial sends (RFC 2544 §24 asks for 60).
    #[arg(long, default_value_t = 2.0)]
    pub trial_secs: f64,
    /// Seconds between trials, while the control channels stay serviced.
    #[arg(long, default_value_t = 0.5)]
    pub trial_gap: f64,
    /// Search resolution: stop when the bounds are this fraction of the
    /// ceiling apart.
    #[arg(long, default_value_t = 0.02)]
    pub resolution: f64,
    /// Loss a passing trial may have, percent (0: RFC 2544 zero loss).
    #[arg(long, default_value_t = 0.0)]
    pub loss_threshold: f64,
    /// Search trials at most.
    #[arg(long, default_value_t = 12)]
    pub max_trials: usize,
    /// Ceiling of the search and sweep, packets/s per direction (0: what
    /// the generator reaches in an unpaced trial).
    #[arg(long, default_value_t = 0)]
    pub rate_max: u64,
    /// Write the JSON report here ("-": stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG plot here: setup rate over time, and with load trials
    /// throughput and latency against offered load.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Capture the LNS access veth (UDP 1701) into this pcap.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// l2tpns log level (0..=5).
    #[arg(long, default_value_t = 1)]
    pub target_debug: u8,
    /// Give up on the setup phase after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    pub setup_deadline: f64,
}

impl Options {
    /// Defaults, as if run without arguments.
    pub fn defaults() -> Options {
        Options::parse_from(["l2tpx-bench"])
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let opts = Options::parse();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, interrupt_flag());
    }
    match run(&opts) {
        Ok(r) => {
            print!("{}", table(&r));
            let json = serde_json::to_string_pretty(&r).expect("serialisable");
            match &opts.json {
                Some(p) if p.as_os_str() == "-" => println!("{json}"),
                Some(p) => {
                    if let Err(e) = std::fs::write(p, json + "\n") {
                        eprintln!("l2tpx-bench: {}: {e}", p.display());
                        return ExitCode::FAILURE;
                    }
                }
                None => {}
            }
            if let Some(p) = &opts.svg {
                match write_plot(&r, p) {
                    Ok(()) => eprintln!("l2tpx-bench: plot written to {}", p.display()),
                    Err(e) => eprintln!("l2tpx-bench: plot: {e}"),
                }
            }
            if crate::interrupted() {
                eprintln!("l2tpx-bench: interrupted; partial results");
                return ExitCode::from(130);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("l2tpx-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn interrupt_flag() -> std::sync::Arc<AtomicBool> {
    // signal-hook sets an Arc<AtomicBool>; mirror it into INTERRUPTED
    // from a watcher thread.
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || loop {
        if f.load(Ordering::Relaxed) {
            crate::INTERRUPTED.store(true, Ordering::Relaxed);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    flag
}

/// Runs one benchmark: builds the topology, starts the target, brings the
/// sessions up, passes traffic, tears down, removes everything.
pub fn run(opts: &Options) -> Result<Report, String> {
    let lns_name = match opts.target {
        Target::L2tpns => {
            if let Some(why) = l2tpx_tests::l2tpns::unavailable() {
                return Err(format!("l2tpns target unavailable: {why}"));
            }
            if opts.aaa == Some(Aaa::Local) {
                return Err("--aaa local: l2tpns authenticates through RADIUS only".into());
            }
            "l2tpns"
        }
        Target::L2tpx | Target::Baseline => {
            if let Some(why) = l2tpx_tests::netns::unavailable() {
                return Err(format!("l2tpx target unavailable: {why}"));
            }
            crate::l2tpx::binaries()?;
            if opts.aaa == Some(Aaa::Radius) {
                if let Some(why) = l2tpx_tests::freeradius::unavailable() {
                    return Err(format!("--aaa radius unavailable: {why}"));
                }
            }
            if opts.sessions > crate::l2tpx::POOL_SIZE {
                return Err(format!(
                    "--sessions {}: the l2tpx pool holds {} addresses",
                    opts.sessions,
                    crate::l2tpx::POOL_SIZE
                ));
            }
            if opts.target == Target::Baseline {
                "baseline"
            } else {
                "l2tpx"
            }
        }
    };
    if opts.rfc2544 || opts.sweep > 0 {
        check_load_options(opts)?;
    }
    let tunnels = opts.tunnels.max(1);
    let per_tunnel = opts.sessions.div_ceil(tunnels).max(1);
    let started_unix = clock::unix_secs();
    let _ = clock::epoch();

    let topo = Topology::new(opts.lac_addrs).map_err(|e| format!("topology: {e}"))?;
    let authtypes = match opts.auth {
        Auth::Chap => "chap",
        Auth::Pap => "pap",
    };
    let emu_defaults = EmuConfig::default();
    let bare_access_mac = if opts.target == Target::Baseline {
        topo.baseline_routes()
            .map_err(|e| format!("baseline routes: {e}"))?;
        // The l2tpx pool's part beyond the topology's /18.
        topo.lac
            .ip(&[
                "route",
                "add",
                "local",
                crate::l2tpx::POOL_EXTRA,
                "dev",
                "lo",
            ])
            .map_err(|e| format!("baseline routes: {e}"))?;
        Some(topo.lac_mac().map_err(|e| format!("LAC MAC: {e}"))?)
    } else {
        None
    };
    let lns = match opts.target {
        Target::L2tpns => Lns::L2tpns(
            topo.start_l2tpns(authtypes, opts.target_debug, opts.aaa == Some(Aaa::Radius))
                .map_err(|e| format!("l2tpns: {e}"))?,
        ),
        _ => Lns::L2tpx(crate::l2tpx::L2tpx::start(
            &topo,
            &crate::l2tpx::L2tpxConfig {
                username: emu_defaults.username.clone(),
                password: emu_defaults.password.clone(),
                auth: match opts.auth {
                    Auth::Chap => "chap-md5",
                    Auth::Pap => "pap",
                },
                log_level: if opts.target_debug >= 3 {
                    "debug"
                } else {
                    "info"
                },
                bare_access_mac,
                radius: opts.aaa == Some(Aaa::Radius),
            },
        )?),
    };
    let capture = match &opts.pcap {
        Some(p) => Some(
            Capture::start(&topo.lns, &topo.access.b, "udp port 1701", p)
                .map_err(|e| format!("capture: {e}"))?,
        ),
        None => None,
    };
    let emu_cfg = EmuConfig {
        lns: SocketAddrV4::new(LNS_ACCESS, 1701),
        local_addrs: topo.lac_addrs.clone(),
        tunnels,
        sessions_per_tunnel: per_tunnel,
        setup_rate: opts.setup_rate,
        max_outstanding: opts.max_outstanding.max(1),
        proxy_auth: opts.proxy_auth,
        proxy_lcp: opts.proxy_lcp,
        auth: match opts.auth {
            Auth::Chap => AuthMethod::ChapMd5,
            Auth::Pap => AuthMethod::Pap,
        },
        setup_deadline: Duration::from_secs_f64(opts.setup_deadline),
        no_udp_checksum: opts.target == Target::Baseline,
        progress: true,
        ..emu_defaults
    };
    let mem0 = alloc::live_bytes();
    let socks = in_netns(topo.lac.name(), || Emulator::bind_sockets(&emu_cfg))
        .map_err(|e| format!("LAC namespace: {e}"))?
        .map_err(|e| format!("LAC sockets: {e}"))?;
    let mut emu = Emulator::new(emu_cfg, socks).map_err(|e| format!("emulator: {e}"))?;
    let mem1 = alloc::live_bytes();

    // Setup.
    let (b0, t0, w0) = (cpu_ticks(None), lns.ticks(), clock::now());
    let setup = emu.setup();
    let secs = w0.elapsed_secs();
    let mut cpu = CpuReport {
        bench_setup_pct: cpu_pct(b0, cpu_ticks(None), secs),
        target_setup_pct: cpu_pct(t0, lns.ticks(), secs),
        ..CpuReport::default()
    };
    let mem2 = alloc::live_bytes();
    let bytes_per_session = match (mem0, mem1, mem2) {
        (Some(_), Some(a), Some(b)) if setup.up > 0 => Some(
            ((b.saturating_sub(a)) / emu.session_count()
                + crate::emulator::fixed_bytes_per_session()) as u64,
        ),
        _ => None,
    };

    // Traffic.
    let up = emu.up_sessions();
    if let Lns::L2tpx(l) = &lns {
        if !opts.no_traffic && !opts.no_down {
            let n = l.wait_steered(up.len(), Duration::from_secs(5));
            if n < up.len() {
                eprintln!(
                    "l2tpx-bench: the data plane steers {n} of {} sessions after 5 s",
                    up.len()
                );
            }
        }
    }
    let load_wanted = opts.rfc2544 || opts.sweep > 0;
    let mut load = None;
    let mut generator = opts.generator;
    let traffic = if !opts.no_traffic && !up.is_empty() && !crate::interrupted() {
        let baseline = opts.target == Target::Baseline;
        let core_sock = udp_in(&topo.core, UP_PORT)?;
        if baseline {
            crate::emulator::no_udp_checksum(&core_sock)
                .map_err(|e| format!("core socket: {e}"))?;
        }
        // The bare forwarder's frames keep their headers: upstream L2TP
        // lands on the core's 1701, downstream plain IPv4 on the LAC's 9001.
        let core_l2tp = baseline.then(|| udp_in(&topo.core, 1701)).transpose()?;
        if baseline {
            emu.set_plain_downstream(udp_in(&topo.lac, DOWN_PORT)?);
        }
        let core_rx: Vec<_> = std::iter::once((core_sock.as_raw_fd(), UP_PORT))
            .chain(core_l2tp.as_ref().map(|s| (s.as_raw_fd(), 1701)))
            .collect();
        let mmsg = |emu: &Emulator| -> IoPair {
            (
                Box::new(emu.mmsg_io()),
                Box::new(MmsgIo::new(&[core_sock.as_raw_fd()], core_rx.clone())),
            )
        };
        let (lac_io, core_io) = match opts.generator {
            Generator::Mmsg => mmsg(&emu),
            Generator::Afxdp => {
                match afxdp_io(&topo, &emu) {
                    Ok(io) => io,
                    Err(e) => {
                        eprintln!("l2tpx-bench: AF_XDP generator unavailable ({e}); using sendmmsg/recvmmsg");
                        generator = Generator::Mmsg;
                        mmsg(&emu)
                    }
                }
            }
        };
        let mut trials = Trials {
            emu: &mut emu,
            lns: &lns,
            lac_io,
            core_io,
            _sockets: (core_sock, core_l2tp),
            up: up.clone(),
            opts,
        };
        if load_wanted {
            load = Some(load_phase(&mut trials, opts));
            None
        } else {
            let (t, bench, target) = trials.run(
                (!opts.no_up).then_some(opts.pps_up),
                (!opts.no_down).then_some(opts.pps_down),
                Duration::from_secs_f64(opts.duration),
            );
            cpu.bench_traffic_pct = bench;
            cpu.target_traffic_pct = target;
            Some(t)
        }
    } else {
        None
    };

    // Teardown.
    let w = clock::now();
    let clean = emu.teardown(Duration::from_secs(if crate::interrupted() {
        2
    } else {
        10
    }));
    let teardown = TeardownReport {
        duration_s: w.elapsed_secs(),
        clean,
    };
    if let Some(c) = capture {
        c.stop();
    }
    let target_version = lns.version();
    lns.stop();
    drop(topo);

    let failed = setup.failures.values().sum();
    Ok(Report {
        schema: crate::report::SCHEMA,
        bench_version: env!("CARGO_PKG_VERSION"),
        target: lns_name.into(),
        target_version,
        started_unix,
        config: RunConfig {
            tunnels,
            sessions_per_tunnel: per_tunnel,
            setup_rate: opts.setup_rate,
            max_outstanding: opts.max_outstanding,
            auth: authtypes.into(),
            aaa: match (opts.aaa, opts.target) {
                (Some(Aaa::Radius), _) => "radius",
                (None, Target::L2tpns) => "radius-auth",
                _ => "local",
            }
            .into(),
            proxy_auth: opts.proxy_auth,
            proxy_lcp: opts.proxy_lcp,
            lac_addrs: 1 + usize::from(opts.lac_addrs),
            pps_up: (!opts.no_traffic && !opts.no_up).then_some(opts.pps_up),
            pps_down: (!opts.no_traffic && !opts.no_down).then_some(opts.pps_down),
            duration_s: opts.duration,
            max_packets: opts.max_packets,
            size: opts.size.to_string(),
            generator: generator.name().into(),
        },
        setup: SetupReport {
            requested: setup.requested,
            up: setup.up,
            failed,
            failures: setup.failures,
            tunnels_up: setup.tunnels_up,
            duration_s: setup.duration.as_secs_f64(),
            rate_min: setup.rate_min,
            rate_avg: setup.rate_avg,
            rate_max: setup.rate_max,
            rate_overall: (setup.rate_overall * 10.0).round() / 10.0,
            per_second: setup.per_second,
            window_ms: setup.window.as_millis() as u64,
            per_window: setup.per_window,
            latency_us: setup
                .latency_us
                .as_ref()
                .and_then(|h| Percentiles::from_hist(h, 1000.0)),
            bytes_per_session,
        },
        traffic,
        teardown,
        cpu,
        load,
    })
}

fn check_load_options(o: &Options) -> Result<(), String> {
    if o.no_traffic || (o.no_up && o.no_down) {
        return Err("--rfc2544/--sweep need traffic in at least one direction".into());
    }
    if !(o.trial_secs > 0.0 && o.trial_secs <= 3600.0) {
        return Err(format!("--trial-secs {}: not in (0, 3600]", o.trial_secs));
    }
    if !(o.resolution > 0.0 && o.resolution < 1.0) {
        return Err(format!("--resolution {}: not in (0, 1)", o.resolution));
    }
    if !(0.0..100.0).contains(&o.loss_threshold) {
        return Err(format!(
            "--loss-threshold {}: not in [0, 100)",
            o.loss_threshold
        ));
    }
    if o.max_trials == 0 || o.sweep > 1000 {
        return Err("--max-trials must be >= 1 and --sweep <= 1000".into());
    }
    if !(0.0..=600.0).contains(&o.trial_gap) {
        return Err(format!("--trial-gap {}: not in [0, 600]", o.trial_gap));
    }
    Ok(())
}

/// A non-blocking UDP socket on 0.0.0.0:`port` inside `ns`, with large
/// buffers.
fn udp_in(ns: &l2tpx_tests::netns::NetNs, port: u16) -> Result<UdpSocket, String> {
    let sock = in_netns(ns.name(), || {
        UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
    })
    .map_err(|e| format!("{} namespace: {e}", ns.name()))?
    .map_err(|e| format!("UDP {port} in {}: {e}", ns.name()))?;
    sock.set_nonblocking(true)
        .map_err(|e| format!("UDP {port}: {e}"))?;
    grow_buffers(&sock);
    Ok(sock)
}

/// AF_XDP I/O on the LAC's and the core host's veth ends (LAC, core),
/// addressed to the LNS's ends.
fn afxdp_io(topo: &Topology, emu: &Emulator) -> Result<IoPair, String> {
    use l2tpx_dataplane::neigh::interface_mac;
    let ns_err = |e: std::io::Error| format!("namespace: {e}");
    let (lns_access, lns_core) = in_netns(topo.lns.name(), || {
        Ok::<_, std::io::Error>((
            interface_mac(&topo.access.b)?,
            interface_mac(&topo.core_link.a)?,
        ))
    })
    .map_err(ns_err)?
    .map_err(|e| format!("LNS MACs: {e}"))?;
    let flows = emu
        .tunnel_sources()
        .map_err(|e| format!("tunnel sockets: {e}"))?;
    let lac = in_netns(topo.lac.name(), || {
        XdpIo::open(
            &topo.access.a,
            DOWN_PORT,
            lns_access,
            flows,
            SocketAddrV4::new(LNS_ACCESS, 1701),
        )
    })
    .map_err(ns_err)?
    .map_err(|e| format!("LAC {}: {e}", topo.access.a))?;
    let core_src = SocketAddrV4::new(CORE_ADDR, UP_PORT);
    let core = in_netns(topo.core.name(), || {
        XdpIo::open(
            &topo.core_link.b,
            UP_PORT,
            lns_core,
            vec![core_src],
            core_src,
        )
    })
    .map_err(ns_err)?
    .map_err(|e| format!("core {}: {e}", topo.core_link.b))?;
    Ok((Box::new(lac), Box::new(core)))
}

/// What a traffic trial needs once the sessions are up.
struct Trials<'a> {
    emu: &'a mut Emulator,
    lns: &'a Lns,
    /// Dropped first: the AF_XDP sockets and filters go before the UDP
    /// sockets the mmsg I/O names by descriptor.
    lac_io: Box<dyn TestIo>,
    core_io: Box<dyn TestIo>,
    _sockets: (UdpSocket, Option<UdpSocket>),
    up: Vec<(u32, Ipv4Addr)>,
    opts: &'a Options,
}

impl Trials<'_> {
    /// One traffic run at these rates (`None`: direction off; 0: max),
    /// bounded by `duration` and `--max-packets`: the report and the CPU
    /// percentages (bench, target).
    fn run(
        &mut self,
        pps_up: Option<u64>,
        pps_down: Option<u64>,
        duration: Duration,
    ) -> (TrafficReport, Option<f64>, Option<f64>) {
        let params = TrafficParams {
            pps_up,
            pps_down,
            duration,
            max_packets: self.opts.max_packets,
            size: self.opts.size,
            core_addr: CORE_ADDR,
            drain: Duration::from_millis(300),
            since_ns: clock::nanos(),
        };
        let sessions = self.emu.session_count();
        let stop = AtomicBool::new(false);
        let (b0, t0, w0) = (cpu_ticks(None), self.lns.ticks(), clock::now());
        let drops0 = self.lac_io.rx_drops() + self.core_io.rx_drops();
        let (core_io, lac_io, up) = (&mut *self.core_io, &mut *self.lac_io, &self.up);
        let emu = &mut *self.emu;
        let ((up_tx, down_rx), (down_tx, up_rx)) = std::thread::scope(|s| {
            let core = s.spawn(|| run_core(core_io, up, &params, sessions, &stop));
            let lac = emu.traffic(&params, UP_PORT, lac_io);
            stop.store(true, Ordering::Release);
            (lac, core.join().expect("core thread"))
        });
        let drops = (self.lac_io.rx_drops() + self.core_io.rx_drops()).saturating_sub(drops0);
        if drops > 0 {
            eprintln!("l2tpx-bench: the generator's own receive rings dropped {drops} packets (counted as lost)");
        }
        let secs = w0.elapsed_secs();
        let report = TrafficReport {
            sessions: self.up.len(),
            duration_s: params.duration.as_secs_f64(),
            upstream: direction(&up_tx, &up_rx),
            downstream: direction(&down_tx, &down_rx),
        };
        (
            report,
            cpu_pct(b0, cpu_ticks(None), secs),
            cpu_pct(t0, self.lns.ticks(), secs),
        )
    }

    /// A load trial at `rate` packets/s in each enabled direction (0:
    /// unpaced), judged against `--loss-threshold`.
    fn point(&mut self, rate: f64) -> LoadPoint {
        let o = self.opts;
        let pps = if rate > 0.0 {
            (rate.round() as u64).max(1)
        } else {
            0
        };
        let (traffic, bench, target) = self.run(
            (!o.no_up).then_some(pps),
            (!o.no_down).then_some(pps),
            Duration::from_secs_f64(o.trial_secs),
        );
        let loss = loss_ratio(&traffic, !o.no_up, !o.no_down);
        LoadPoint {
            offered_pps: rate,
            loss_ratio: (!loss.is_nan()).then_some(loss),
            pass: loss <= o.loss_threshold / 100.0,
            traffic,
            bench_cpu_pct: bench,
            target_cpu_pct: target,
        }
    }

    /// The pause between trials, servicing the control channels.
    fn gap(&mut self) {
        self.emu.idle(Duration::from_secs_f64(self.opts.trial_gap));
    }
}

/// The worst enabled direction's lost / sent; NaN when one sent nothing.
pub fn loss_ratio(t: &TrafficReport, up: bool, down: bool) -> f64 {
    let mut worst = 0.0f64;
    for (on, d) in [(up, &t.upstream), (down, &t.downstream)] {
        if !on {
            continue;
        }
        let r = if d.sent == 0 {
            f64::NAN
        } else {
            d.lost as f64 / d.sent as f64
        };
        if r.is_nan() || r > worst {
            worst = r;
        }
        if worst.is_nan() {
            break;
        }
    }
    worst
}

fn point_msg(p: &LoadPoint) -> String {
    format!(
        "offered {} pps: up {:.4}/{:.4} Mpps, down {:.4}/{:.4} Mpps sent/received, loss {} -> {}",
        if p.offered_pps > 0.0 {
            format!("{:.0}", p.offered_pps)
        } else {
            "max".into()
        },
        p.traffic.upstream.sent_mpps,
        p.traffic.upstream.mpps,
        p.traffic.downstream.sent_mpps,
        p.traffic.downstream.mpps,
        p.loss_ratio
            .map_or("n/a".into(), |l| format!("{:.4}%", l * 100.0)),
        if p.pass { "pass" } else { "fail" }
    )
}

/// The ceiling (an unpaced trial unless `--rate-max`), the RFC 2544
/// search with a trial at half its result, and the sweep.
fn load_phase(tr: &mut Trials<'_>, o: &Options) -> LoadReport {
    let params = SearchParams {
        max_rate: 0.0,
        min_rate: 1.0,
        resolution: o.resolution,
        loss_threshold: o.loss_threshold / 100.0,
        max_trials: o.max_trials,
    };
    let total = usize::from(o.rate_max == 0)
        + if o.rfc2544 {
            params.trial_bound() + 1
        } else {
            0
        }
        + o.sweep;
    let mut prog = Progress::new("load", total);
    let ceiling = (o.rate_max == 0).then(|| {
        let p = tr.point(0.0);
        prog.step(&format!("ceiling: {}", point_msg(&p)));
        p
    });
    let ceiling_pps = match &ceiling {
        None => o.rate_max as f64,
        Some(p) => {
            let t = &p.traffic;
            let rates = [(!o.no_up, &t.upstream), (!o.no_down, &t.downstream)];
            rates
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, d)| d.sent_mpps * 1e6)
                .fold(f64::INFINITY, f64::min)
                .floor()
        }
    };
    let ceiling_pps = if ceiling_pps.is_finite() {
        ceiling_pps
    } else {
        0.0
    };
    let rfc2544 = o.rfc2544.then(|| {
        let params = SearchParams {
            max_rate: ceiling_pps,
            ..params
        };
        let mut trials = Vec::new();
        let outcome = crate::rfc2544::search(&params, |rate| {
            if crate::interrupted() {
                return None;
            }
            tr.gap();
            let p = tr.point(rate);
            prog.step(&format!("rfc2544: {}", point_msg(&p)));
            let loss = p.loss_ratio.unwrap_or(f64::NAN);
            trials.push(p);
            Some(loss)
        });
        let half_load = (outcome.throughput_pps > 0.0 && !crate::interrupted()).then(|| {
            tr.gap();
            let p = tr.point(outcome.throughput_pps / 2.0);
            prog.step(&format!("50% load: {}", point_msg(&p)));
            p
        });
        Rfc2544Report {
            resolution: o.resolution,
            loss_threshold_pct: o.loss_threshold,
            max_trials: o.max_trials,
            throughput_pps: outcome.throughput_pps,
            lower_pps: outcome.lower_pps,
            upper_pps: outcome.upper_pps,
            stop: outcome.stop,
            steps: outcome.steps,
            trials,
            half_load,
        }
    });
    let mut sweep = Vec::new();
    for k in 1..=o.sweep {
        if crate::interrupted() || ceiling_pps <= 0.0 {
            break;
        }
        tr.gap();
        let p = tr.point(ceiling_pps * k as f64 / o.sweep as f64);
        prog.step(&format!("sweep: {}", point_msg(&p)));
        sweep.push(p);
    }
    prog.finish();
    LoadReport {
        trial_s: o.trial_secs,
        trial_max_packets: o.max_packets,
        ceiling_pps,
        ceiling,
        rfc2544,
        sweep,
    }
}

/// The LNS under test.
enum Lns {
    L2tpns(l2tpx_tests::l2tpns::L2tpns),
    L2tpx(crate::l2tpx::L2tpx),
}

impl Lns {
    /// CPU ticks of its processes together.
    fn ticks(&self) -> Option<u64> {
        match self {
            Lns::L2tpns(l) => cpu_ticks(Some(l.pid())),
            Lns::L2tpx(l) => l.pids().into_iter().map(|p| cpu_ticks(Some(p))).sum(),
        }
    }

    fn version(&self) -> Option<String> {
        match self {
            Lns::L2tpns(l) => l.version(),
            Lns::L2tpx(l) => Some(l.version()),
        }
    }

    fn stop(self) {
        match self {
            Lns::L2tpns(l) => l.stop(),
            Lns::L2tpx(l) => l.stop(),
        }
    }
}

fn direction(tx: &TxStats, rx: &RxStats) -> DirectionReport {
    let lost = tx.sent.saturating_sub(rx.received);
    let span = match (rx.first, rx.last) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let tx_span = match (tx.first, tx.last) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let r = |x: f64| (x * 1e4).round() / 1e4;
    DirectionReport {
        sent: tx.sent,
        refused: tx.refused,
        received: rx.received,
        lost,
        loss_pct: if tx.sent == 0 {
            0.0
        } else {
            r(lost as f64 * 100.0 / tx.sent as f64)
        },
        reordered: rx.reordered,
        mpps: if span > 0.0 {
            r(rx.received as f64 / span / 1e6)
        } else {
            0.0
        },
        gbps: if span > 0.0 {
            r(rx.bytes as f64 * 8.0 / span / 1e9)
        } else {
            0.0
        },
        sent_mpps: if tx_span > 0.0 {
            r(tx.sent as f64 / tx_span / 1e6)
        } else {
            0.0
        },
        latency_us: Percentiles::from_hist(&rx.latency_ns, 1.0),
    }
}

trait ElapsedSecs {
    fn elapsed_secs(&self) -> f64;
}

impl ElapsedSecs for std::time::Instant {
    fn elapsed_secs(&self) -> f64 {
        clock::now().saturating_duration_since(*self).as_secs_f64()
    }
}
