//! The report: a JSON document with a stable schema (docs/bench.md,
//! `schema: "l2tpx-bench/1"`), a human-readable table, and an SVG plot.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Schema identifier; bump on incompatible changes.
pub const SCHEMA: &str = "l2tpx-bench/1";

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    /// From a histogram recorded in units of `unit_ns` nanoseconds.
    pub fn from_hist(h: &Histogram<u64>, unit_ns: f64) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let us = |v: u64| (v as f64 * unit_ns / 1000.0 * 10.0).round() / 10.0;
        Some(Percentiles {
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// l2tpx-bench's version (the workspace version).
    pub bench_version: &'static str,
    /// "l2tpns", "l2tpx" or "baseline".
    pub target: String,
    /// The target's version, when known.
    pub target_version: Option<String>,
    /// Unix time the run started (seconds).
    pub started_unix: u64,
    /// What was asked for.
    pub config: RunConfig,
    /// Session setup.
    pub setup: SetupReport,
    /// Traffic, if any ran.
    pub traffic: Option<TrafficReport>,
    /// Teardown.
    pub teardown: TeardownReport,
    /// CPU use.
    pub cpu: CpuReport,
}

/// The run's settings.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// Tunnels.
    pub tunnels: usize,
    /// Sessions per tunnel.
    pub sessions_per_tunnel: usize,
    /// Setup rate asked for (0: unpaced).
    pub setup_rate: f64,
    /// Outstanding setups at most.
    pub max_outstanding: usize,
    /// "chap" or "pap" (what the LNS was told to ask for).
    pub auth: String,
    /// Proxy authentication AVPs sent.
    pub proxy_auth: bool,
    /// LAC source addresses.
    pub lac_addrs: usize,
    /// Upstream pps asked for (null: none, 0: max).
    pub pps_up: Option<u64>,
    /// Downstream pps asked for.
    pub pps_down: Option<u64>,
    /// Traffic seconds.
    pub duration_s: f64,
    /// Packet bound per direction.
    pub max_packets: u64,
    /// Frame size ("64", "imix", ...).
    pub size: String,
}

/// Session setup results.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// Sessions asked for.
    pub requested: usize,
    /// Sessions that reached IPCP Opened.
    pub up: usize,
    /// Sessions that failed.
    pub failed: u64,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Tunnels established.
    pub tunnels_up: usize,
    /// First ICRQ to last session up, seconds.
    pub duration_s: f64,
    /// Sessions/s per full 1 s window: minimum.
    pub rate_min: f64,
    /// Average.
    pub rate_avg: f64,
    /// Maximum.
    pub rate_max: f64,
    /// up / duration_s.
    pub rate_overall: f64,
    /// Sessions up in each 1 s window.
    pub per_second: Vec<u64>,
    /// ICRQ → IPCP Opened, microseconds.
    pub latency_us: Option<Percentiles>,
    /// Emulator heap bytes per session (null when not measured).
    pub bytes_per_session: Option<u64>,
}

/// One traffic direction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectionReport {
    /// Packets sent (taken by the kernel).
    pub sent: u64,
    /// Packets the sender's kernel refused (full buffers; not in `lost`).
    pub refused: u64,
    /// Packets received.
    pub received: u64,
    /// sent − received (not below 0).
    pub lost: u64,
    /// lost / sent, percent.
    pub loss_pct: f64,
    /// Packets that arrived after a later one of their stream.
    pub reordered: u64,
    /// Received packets per second, millions (first to last receive).
    pub mpps: f64,
    /// Received frame bits per second, billions.
    pub gbps: f64,
    /// Sender rate achieved, Mpps.
    pub sent_mpps: f64,
    /// One-way latency, microseconds.
    pub latency_us: Option<Percentiles>,
}

/// Traffic results.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficReport {
    /// Sessions carrying traffic.
    pub sessions: usize,
    /// Seconds the senders ran.
    pub duration_s: f64,
    /// LAC → core.
    pub upstream: DirectionReport,
    /// Core → LAC.
    pub downstream: DirectionReport,
}

/// Teardown results.
#[derive(Debug, Clone, Serialize)]
pub struct TeardownReport {
    /// Seconds from the first CDN to the last StopCCN acked.
    pub duration_s: f64,
    /// Whether every StopCCN was acknowledged in time.
    pub clean: bool,
}

/// CPU use, percent of one core, per phase (null when unreadable).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuReport {
    /// The bench process during setup.
    pub bench_setup_pct: Option<f64>,
    /// The target process during setup.
    pub target_setup_pct: Option<f64>,
    /// The bench during traffic.
    pub bench_traffic_pct: Option<f64>,
    /// The target during traffic.
    pub target_traffic_pct: Option<f64>,
}

/// utime + stime of a process (this one when `pid` is `None`), in clock
/// ticks, from /proc/PID/stat.
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Percent of one core used between two tick readings over `secs`.
pub fn cpu_pct(before: Option<u64>, after: Option<u64>, secs: f64) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (b, a) = (before?, after?);
    (secs > 0.0 && hz > 0.0).then(|| ((a - b) as f64 / hz / secs * 1000.0).round() / 10.0)
}

fn fmt_p(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "{:.0}/{:.0}/{:.0}/{:.0}/{:.0}",
            p.p50, p.p90, p.p99, p.p999, p.max
        ),
        None => "-".into(),
    }
}

/// The human-readable table.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let c = &r.config;
    s += &format!(
        "target {} {}  |  {} tunnels x {} sessions, auth {}{}, setup rate {}, outstanding <= {}\n",
        r.target,
        r.target_version.as_deref().unwrap_or(""),
        c.tunnels,
        c.sessions_per_tunnel,
        c.auth,
        if c.proxy_auth { " (+proxy AVPs)" } else { "" },
        if c.setup_rate > 0.0 {
            format!("{}/s", c.setup_rate)
        } else {
            "unpaced".into()
        },
        c.max_outstanding
    );
    let u = &r.setup;
    s += &format!(
        "setup     {}/{} up in {:.2} s  rate/s min {:.0} avg {:.0} max {:.0} overall {:.0}  latency us p50/p90/p99/p99.9/max {}\n",
        u.up, u.requested, u.duration_s, u.rate_min, u.rate_avg, u.rate_max, u.rate_overall,
        fmt_p(&u.latency_us)
    );
    if let Some(b) = u.bytes_per_session {
        s += &format!("memory    {b} bytes/session (emulator heap)\n");
    }
    for (why, n) in &u.failures {
        s += &format!("failed    {n:>6}  {why}\n");
    }
    if let Some(t) = &r.traffic {
        s += &format!(
            "traffic   {} sessions, {:.2} s, size {}\n",
            t.sessions, t.duration_s, c.size
        );
        s += "direction        sent    recv    lost  loss%  reord    Mpps    Gbps   lat us p50/p90/p99/p99.9/max\n";
        for (name, d) in [("upstream", &t.upstream), ("downstream", &t.downstream)] {
            s += &format!(
                "{:<12}{:>9}{:>8}{:>8}{:>7.3}{:>7}{:>8.4}{:>8.4}   {}\n",
                name,
                d.sent,
                d.received,
                d.lost,
                d.loss_pct,
                d.reordered,
                d.mpps,
                d.gbps,
                fmt_p(&d.latency_us)
            );
        }
    }
    s += &format!(
        "teardown  {:.2} s, {}\n",
        r.teardown.duration_s,
        if r.teardown.clean {
            "clean (all StopCCN acked)"
        } else {
            "NOT clean"
        }
    );
    let p = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}%"));
    s += &format!(
        "cpu       setup: bench {} target {}  traffic: bench {} target {}\n",
        p(r.cpu.bench_setup_pct),
        p(r.cpu.target_setup_pct),
        p(r.cpu.bench_traffic_pct),
        p(r.cpu.target_traffic_pct)
    );
    s
}

/// Writes an SVG of sessions up per second during setup (plotters, SVG
/// backend, no text so no font dependency: axes only, values in the JSON).
pub fn plot_setup(r: &Report, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let data = &r.setup.per_second;
    let root = SVGBackend::new(path, (640, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let ymax = data.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let xmax = data.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![
                (0.0, 0.0),
                (xmax, 0.0),
                (xmax, ymax),
                (0.0, ymax),
                (0.0, 0.0),
            ],
            BLACK,
        )))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(data.iter().enumerate().map(|(i, &v)| {
            Rectangle::new(
                [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, v as f64)],
                BLUE.filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
