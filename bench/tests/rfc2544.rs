//! A tiny RFC 2544 search (a handful of 0.3 s trials) against the bare
//! AF_XDP forwarder (`--target baseline`) and against l2tpx, one after the
//! other (needs root, network namespaces, XDP and the `controlplane` and
//! `dataplane` binaries; prints `SKIP: reason` otherwise). Checks the
//! structure of the result, not timings: a non-zero zero-loss rate that a
//! trial measured, bounds that only ever narrow, a 50% trial with
//! latencies, a 2-point sweep, and a plot with every panel.

use l2tpx_bench::cli::{run, Options, Target};
use l2tpx_bench::report::Report;
use l2tpx_bench::traffic::Size;

fn options(target: Target) -> Options {
    Options {
        target,
        tunnels: 2,
        sessions: 8,
        size: Size::Fixed(64),
        rfc2544: true,
        trial_secs: 0.3,
        trial_gap: 0.1,
        resolution: 0.1,
        max_trials: 6,
        sweep: 2,
        max_packets: 500_000,
        setup_deadline: 30.0,
        ..Options::defaults()
    }
}

fn check(r: &Report, target: &str) {
    println!("{}", l2tpx_bench::report::table(r));
    assert_eq!(r.target, target);
    assert_eq!(r.setup.up, 8, "failures: {:?}", r.setup.failures);
    assert!(
        r.traffic.is_none(),
        "the search replaces the fixed-rate run"
    );
    let l = r.load.as_ref().expect("load trials ran");
    let c = l.ceiling.as_ref().expect("an unpaced ceiling trial");
    assert!(c.traffic.upstream.sent > 0 && c.traffic.downstream.sent > 0);
    assert!(l.ceiling_pps > 0.0);
    let s = l.rfc2544.as_ref().expect("the search ran");
    assert!(!s.steps.is_empty() && s.steps.len() <= 6, "{:?}", s.steps);
    assert_eq!(s.steps.len(), s.trials.len());
    assert!(s.throughput_pps > 0.0, "no zero-loss rate: {:?}", s.steps);
    assert!(s.throughput_pps <= l.ceiling_pps);
    assert!(s
        .steps
        .iter()
        .zip(&s.trials)
        .any(|(st, t)| st.pass && t.pass && st.rate_pps == s.throughput_pps));
    let mut prev = (0.0, l.ceiling_pps);
    for st in &s.steps {
        assert!(
            st.lower_pps >= prev.0 && st.upper_pps <= prev.1,
            "{:?}",
            s.steps
        );
        assert!(st.lower_pps <= st.upper_pps);
        prev = (st.lower_pps, st.upper_pps);
    }
    for t in &s.trials {
        for d in [&t.traffic.upstream, &t.traffic.downstream] {
            assert!(d.sent > 0 && d.sent <= 500_000, "{d:?}");
        }
        if t.pass {
            assert_eq!(t.traffic.upstream.lost + t.traffic.downstream.lost, 0);
        }
    }
    let half = s.half_load.as_ref().expect("a trial at 50%");
    assert_eq!(half.offered_pps, s.throughput_pps / 2.0);
    assert!(half.traffic.upstream.latency_us.is_some());
    assert!(half.traffic.downstream.latency_us.is_some());
    assert_eq!(l.sweep.len(), 2);
    for (k, p) in l.sweep.iter().enumerate() {
        assert_eq!(p.offered_pps, l.ceiling_pps * (k + 1) as f64 / 2.0);
        assert!(p.traffic.upstream.sent > 0 && p.traffic.downstream.sent > 0);
    }
    assert!(r.teardown.clean);
    let svg = l2tpx_bench::report::plot(r);
    assert!(svg.contains("throughput against offered load"));
    assert!(svg.contains("latency against offered load"));
    let json = serde_json::to_value(r).unwrap();
    assert!(json["load"]["rfc2544"]["throughput_pps"].as_f64().unwrap() > 0.0);
}

#[test]
fn tiny_rfc2544_search_against_baseline_and_l2tpx() {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    for (target, name) in [(Target::Baseline, "baseline"), (Target::L2tpx, "l2tpx")] {
        let r = match run(&options(target)) {
            Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
                eprintln!("SKIP: {e}");
                return;
            }
            r => r.expect("bench run"),
        };
        check(&r, name);
    }
}
