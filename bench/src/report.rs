//! The report: a JSON document with a stable schema (docs/bench.md,
//! `schema: "l2tpx-bench/1"`), a human-readable table, and an SVG plot
//! (setup rate over time; throughput and latency against offered load).

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
    /// RFC 2544 search and load sweep (null when neither ran).
    pub load: Option<LoadReport>,
}

/// One traffic trial at an offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct LoadPoint {
    /// Rate asked for, packets/s per enabled direction (0: unpaced).
    pub offered_pps: f64,
    /// The worst enabled direction's lost / sent (NaN → null: nothing
    /// sent).
    pub loss_ratio: Option<f64>,
    /// Whether it met the loss threshold.
    pub pass: bool,
    /// What the trial measured.
    pub traffic: TrafficReport,
    /// Percent of one core during the trial: the bench.
    pub bench_cpu_pct: Option<f64>,
    /// The target.
    pub target_cpu_pct: Option<f64>,
}

/// RFC 2544 §26.1 throughput search.
#[derive(Debug, Clone, Serialize)]
pub struct Rfc2544Report {
    /// Stop when the interval is at most this fraction of the ceiling.
    pub resolution: f64,
    /// Loss allowed in a passing trial, percent (0: RFC 2544).
    pub loss_threshold_pct: f64,
    /// Trials at most.
    pub max_trials: usize,
    /// Highest passing rate, packets/s per direction (0: none passed).
    pub throughput_pps: f64,
    /// Final bounds (highest pass, lowest fail).
    pub lower_pps: f64,
    /// See `lower_pps`.
    pub upper_pps: f64,
    /// Why it stopped: ceiling_passed, resolution, min_rate, max_trials,
    /// aborted.
    pub stop: crate::rfc2544::Stop,
    /// Every trial: rate, loss ratio, pass, bounds after it.
    pub steps: Vec<crate::rfc2544::Step>,
    /// Every trial in full, in order.
    pub trials: Vec<LoadPoint>,
    /// A trial at 50% of `throughput_pps` (latency at half load).
    pub half_load: Option<LoadPoint>,
}

/// Load trials: the ceiling, the RFC 2544 search, the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Seconds each trial sends.
    pub trial_s: f64,
    /// Packets per direction per trial at most.
    pub trial_max_packets: u64,
    /// The highest rate tried, packets/s per direction: `--rate-max`, or
    /// what the generator reached unpaced (the slower direction).
    pub ceiling_pps: f64,
    /// The unpaced trial that measured the ceiling (null with
    /// `--rate-max`).
    pub ceiling: Option<LoadPoint>,
    /// The search (null without `--rfc2544`).
    pub rfc2544: Option<Rfc2544Report>,
    /// Trials at k/N of the ceiling, k = 1..N (`--sweep N`).
    pub sweep: Vec<LoadPoint>,
}

impl LoadReport {
    /// Every trial, sorted by the rate the senders achieved (the plot's
    /// x axis).
    pub fn points(&self) -> Vec<&LoadPoint> {
        let mut v: Vec<&LoadPoint> = self.ceiling.iter().chain(&self.sweep).collect();
        if let Some(r) = &self.rfc2544 {
            v.extend(r.trials.iter().chain(&r.half_load));
        }
        v.sort_by(|a, b| a.achieved_mpps().total_cmp(&b.achieved_mpps()));
        v
    }
}

impl LoadPoint {
    /// The offered rate the senders achieved, Mpps per direction (the
    /// higher of the two).
    pub fn achieved_mpps(&self) -> f64 {
        self.traffic
            .upstream
            .sent_mpps
            .max(self.traffic.downstream.sent_mpps)
    }
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
    /// "local" (l2tpx's users file), "radius-auth" (l2tpns's default:
    /// FreeRADIUS authentication only) or "radius" (authentication and
    /// accounting).
    pub aaa: String,
    /// Proxy authentication AVPs sent.
    pub proxy_auth: bool,
    /// Proxy LCP AVPs sent.
    pub proxy_lcp: bool,
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
    /// The traffic generator that ran: "afxdp" or "mmsg" (asked for, or
    /// the fallback when AF_XDP could not bind).
    pub generator: String,
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
    /// Sessions/s per full `window_ms` window: minimum.
    pub rate_min: f64,
    /// Average.
    pub rate_avg: f64,
    /// Maximum.
    pub rate_max: f64,
    /// up / duration_s.
    pub rate_overall: f64,
    /// Sessions up in each 1 s window.
    pub per_second: Vec<u64>,
    /// The rate window, milliseconds (1000, or a twentieth of a setup
    /// shorter than 20 s).
    pub window_ms: u64,
    /// Sessions up in each window.
    pub per_window: Vec<u64>,
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
        match (c.proxy_lcp, c.proxy_auth) {
            (true, true) => " (+proxy LCP and auth AVPs)",
            (true, false) => " (+proxy LCP AVPs)",
            (false, true) => " (+proxy auth AVPs)",
            (false, false) => "",
        },
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
    if let Some(l) = &r.load {
        s += &load_table(l);
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

fn point_line(kind: &str, p: &LoadPoint) -> String {
    let t = &p.traffic;
    let offered = if p.offered_pps > 0.0 {
        format!("{:.0}", p.offered_pps)
    } else {
        "max".into()
    };
    let loss = p
        .loss_ratio
        .map_or("-".into(), |l| format!("{:.3}", l * 100.0));
    let cpu = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    format!(
        "{kind:<8}{offered:>10}{:>5}{loss:>8}  {:>7.4}/{:<7.4} {:>7.4}/{:<7.4}  {:>22}  {:>22}  {}/{}\n",
        if p.pass { "ok" } else { "LOSS" },
        t.upstream.sent_mpps,
        t.upstream.mpps,
        t.downstream.sent_mpps,
        t.downstream.mpps,
        fmt_p(&t.upstream.latency_us),
        fmt_p(&t.downstream.latency_us),
        cpu(p.bench_cpu_pct),
        cpu(p.target_cpu_pct),
    )
}

fn load_table(l: &LoadReport) -> String {
    let mut s = format!(
        "load      trials of {:.2} s (<= {} packets/direction), ceiling {:.0} pps/direction\n",
        l.trial_s, l.trial_max_packets, l.ceiling_pps
    );
    s += "trial    offered  res   loss%  up Mpps sent/recv  down sent/recv   up lat us p50/p90/p99/p99.9/max  down lat us  cpu% bench/target\n";
    if let Some(c) = &l.ceiling {
        s += &point_line("ceiling", c);
    }
    if let Some(r) = &l.rfc2544 {
        for p in &r.trials {
            s += &point_line("search", p);
        }
        if let Some(h) = &r.half_load {
            s += &point_line("50%", h);
        }
    }
    for p in &l.sweep {
        s += &point_line("sweep", p);
    }
    if let Some(r) = &l.rfc2544 {
        s += &format!(
            "rfc2544   throughput {:.0} pps/direction ({:.4} Mpps; bounds {:.0}..{:.0}, {} trials, stop: {:?}, loss <= {}%)\n",
            r.throughput_pps,
            r.throughput_pps / 1e6,
            r.lower_pps,
            r.upper_pps,
            r.steps.len(),
            r.stop,
            r.loss_threshold_pct
        );
    }
    s
}

/// Picks one percentile.
type Pick = fn(&Percentiles) -> f64;

/// The SVG plot: sessions up per second during setup, then (when load
/// trials ran) received against offered rate and latency against offered
/// rate, per direction.
pub fn plot(r: &Report) -> String {
    use crate::svg::{Chart, Series, Style};
    let mut charts = vec![Chart {
        title: format!("{}: sessions up per second during setup", r.target),
        x_label: "seconds since the first ICRQ".into(),
        y_label: "sessions up / s".into(),
        series: vec![Series {
            name: "sessions/s".into(),
            color: "steelblue",
            style: Style::Bars,
            points: {
                let w = r.setup.window_ms.max(1) as f64 / 1000.0;
                r.setup
                    .per_window
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i as f64 + 0.5) * w, v as f64 / w))
                    .collect()
            },
        }],
    }];
    let points: Vec<&LoadPoint> = match &r.load {
        Some(l) => l.points(),
        None => Vec::new(),
    };
    if !points.is_empty() {
        let dirs = [
            ("upstream", "crimson", "salmon", true),
            ("downstream", "navy", "skyblue", false),
        ];
        let d = |p: &LoadPoint, up: bool| -> DirectionReport {
            if up {
                p.traffic.upstream.clone()
            } else {
                p.traffic.downstream.clone()
            }
        };
        let mut tput = Vec::new();
        let mut lat = Vec::new();
        let max_x = points.iter().map(|p| p.achieved_mpps()).fold(0.0, f64::max);
        for (name, c1, c2, up) in dirs {
            let pts: Vec<DirectionReport> = points
                .iter()
                .map(|p| d(p, up))
                .filter(|x| x.sent > 0)
                .collect();
            if pts.is_empty() {
                continue;
            }
            tput.push(Series {
                name: format!("{name} received"),
                color: c1,
                style: Style::Line,
                points: pts.iter().map(|x| (x.sent_mpps, x.mpps)).collect(),
            });
            let quantiles: [(&str, &'static str, Pick); 2] =
                [("p50", c1, |l| l.p50), ("p99", c2, |l| l.p99)];
            for (q, color, pick) in quantiles {
                lat.push(Series {
                    name: format!("{name} {q}"),
                    color,
                    style: Style::Line,
                    points: pts
                        .iter()
                        .filter_map(|x| x.latency_us.as_ref().map(|l| (x.sent_mpps, pick(l))))
                        .collect(),
                });
            }
        }
        tput.push(Series {
            name: "offered".into(),
            color: "gray",
            style: Style::Dashed,
            points: vec![(0.0, 0.0), (max_x, max_x)],
        });
        charts.push(Chart {
            title: format!("{}: throughput against offered load", r.target),
            x_label: "offered, Mpps per direction (achieved by the sender)".into(),
            y_label: "received Mpps".into(),
            series: tput,
        });
        charts.push(Chart {
            title: format!("{}: one-way latency against offered load", r.target),
            x_label: "offered, Mpps per direction".into(),
            y_label: "latency, microseconds".into(),
            series: lat,
        });
    }
    crate::svg::render(&charts)
}

/// Writes [`plot`] to `path`.
pub fn write_plot(r: &Report, path: &Path) -> Result<(), String> {
    std::fs::write(path, plot(r)).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc2544::{search, SearchParams};

    fn dir(sent: u64, received: u64, mpps: f64, p50: f64) -> DirectionReport {
        DirectionReport {
            sent,
            received,
            lost: sent - received,
            loss_pct: (sent - received) as f64 * 100.0 / sent as f64,
            mpps,
            sent_mpps: mpps,
            latency_us: Some(Percentiles {
                p50,
                p90: p50 * 2.0,
                p99: p50 * 3.0,
                p999: p50 * 4.0,
                max: p50 * 5.0,
            }),
            ..DirectionReport::default()
        }
    }

    fn point(rate: f64, lost: u64) -> LoadPoint {
        let sent = (rate * 2.0) as u64;
        LoadPoint {
            offered_pps: rate,
            loss_ratio: Some(lost as f64 / sent as f64),
            pass: lost == 0,
            traffic: TrafficReport {
                sessions: 8,
                duration_s: 2.0,
                upstream: dir(sent, sent - lost, rate / 1e6, 50.0 + rate / 1e3),
                downstream: dir(sent, sent, rate / 1e6, 40.0),
            },
            bench_cpu_pct: Some(90.0),
            target_cpu_pct: Some(50.0),
        }
    }

    /// A report whose load section comes from a real search over a fake
    /// device that forwards 300 kpps.
    fn report() -> Report {
        let params = SearchParams {
            max_rate: 1.0e6,
            min_rate: 1.0,
            resolution: 0.05,
            loss_threshold: 0.0,
            max_trials: 10,
        };
        let mut trials = Vec::new();
        let o = search(&params, |r| {
            let p = point(r, if r > 300e3 { 1000 } else { 0 });
            let l = p.loss_ratio;
            trials.push(p);
            l
        });
        Report {
            schema: SCHEMA,
            bench_version: "0.1.0",
            target: "baseline".into(),
            target_version: None,
            started_unix: 0,
            config: RunConfig {
                tunnels: 2,
                sessions_per_tunnel: 4,
                setup_rate: 0.0,
                max_outstanding: 64,
                auth: "chap".into(),
                aaa: "local".into(),
                proxy_auth: false,
                proxy_lcp: false,
                lac_addrs: 1,
                pps_up: None,
                pps_down: None,
                duration_s: 5.0,
                max_packets: 1000,
                size: "64".into(),
                generator: "afxdp".into(),
            },
            setup: SetupReport {
                requested: 8,
                up: 8,
                failed: 0,
                failures: BTreeMap::new(),
                tunnels_up: 2,
                duration_s: 1.5,
                rate_min: 3.0,
                rate_avg: 4.0,
                rate_max: 5.0,
                rate_overall: 5.3,
                per_second: vec![5, 3],
                window_ms: 1000,
                per_window: vec![5, 3],
                latency_us: None,
                bytes_per_session: None,
            },
            traffic: None,
            teardown: TeardownReport {
                duration_s: 0.1,
                clean: true,
            },
            cpu: CpuReport::default(),
            load: Some(LoadReport {
                trial_s: 2.0,
                trial_max_packets: 1000,
                ceiling_pps: 1.0e6,
                ceiling: Some(LoadPoint {
                    offered_pps: 0.0,
                    ..point(1.0e6, 30)
                }),
                rfc2544: Some(Rfc2544Report {
                    resolution: 0.05,
                    loss_threshold_pct: 0.0,
                    max_trials: 10,
                    throughput_pps: o.throughput_pps,
                    lower_pps: o.lower_pps,
                    upper_pps: o.upper_pps,
                    stop: o.stop,
                    steps: o.steps,
                    trials,
                    half_load: Some(point(o.throughput_pps / 2.0, 0)),
                }),
                sweep: vec![point(500e3, 10), point(1e6, 20)],
            }),
        }
    }

    #[test]
    fn json_has_the_documented_load_fields() {
        let r = report();
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["schema"], "l2tpx-bench/1");
        assert_eq!(j["target"], "baseline");
        assert!(j["traffic"].is_null());
        let l = &j["load"];
        for k in [
            "trial_s",
            "trial_max_packets",
            "ceiling_pps",
            "ceiling",
            "rfc2544",
            "sweep",
        ] {
            assert!(!l[k].is_null(), "load.{k}");
        }
        let s = &l["rfc2544"];
        let t = s["throughput_pps"].as_f64().unwrap();
        assert!((300e3 - 0.05e6..=300e3).contains(&t), "{t}");
        assert_eq!(s["stop"], "resolution");
        let steps = s["steps"].as_array().unwrap();
        assert_eq!(steps.len(), s["trials"].as_array().unwrap().len());
        for k in ["rate_pps", "loss_ratio", "pass", "lower_pps", "upper_pps"] {
            assert!(!steps[0][k].is_null(), "steps[].{k}");
        }
        let half = &s["half_load"];
        assert_eq!(half["offered_pps"].as_f64().unwrap(), t / 2.0);
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(half["traffic"]["upstream"]["latency_us"][k].is_f64(), "{k}");
        }
        for k in ["mpps", "gbps", "sent_mpps", "loss_pct"] {
            assert!(half["traffic"]["downstream"][k].is_f64(), "{k}");
        }
        assert!(half["target_cpu_pct"].is_f64());
        assert_eq!(l["sweep"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn table_shows_every_trial_and_the_result() {
        let r = report();
        let t = table(&r);
        let trials = r
            .load
            .as_ref()
            .unwrap()
            .rfc2544
            .as_ref()
            .unwrap()
            .trials
            .len();
        assert_eq!(t.matches("\nsearch ").count(), trials, "{t}");
        assert_eq!(t.matches("\nsweep ").count(), 2);
        assert!(t.contains("\nceiling "));
        assert!(t.contains("\n50% "));
        assert!(t.contains("rfc2544   throughput "));
        assert!(t.contains("LOSS") && t.contains(" ok "));
    }

    #[test]
    fn plot_has_setup_throughput_and_latency_panels() {
        let r = report();
        let svg = plot(&r);
        assert!(svg.contains("sessions up per second during setup"));
        assert!(svg.contains("throughput against offered load"));
        assert!(svg.contains("latency against offered load"));
        // Two setup bars (plus the background and three frames).
        assert_eq!(svg.matches("fill=\"steelblue\"").count(), 2 + 1);
        // Throughput: up, down, offered; latency: p50 and p99 each way.
        assert_eq!(svg.matches("<polyline").count(), 3 + 4);
        let n = r.load.as_ref().unwrap().points().len();
        assert_eq!(svg.matches("<circle").count(), n * 2 + n * 4);
        // Points are sorted by the rate achieved.
        let pts = r.load.as_ref().unwrap().points();
        assert!(pts
            .windows(2)
            .all(|w| w[0].achieved_mpps() <= w[1].achieved_mpps()));
        // No load: only the setup panel.
        let mut r = r;
        r.load = None;
        let svg = plot(&r);
        assert!(svg.contains(r#"height="300""#));
        assert_eq!(svg.matches("<polyline").count(), 0);
    }
}
