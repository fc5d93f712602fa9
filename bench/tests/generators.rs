//! Both traffic generators (`--generator afxdp` and `mmsg`) against l2tpx
//! and the bare forwarder (needs root, network namespaces, XDP and the
//! `controlplane` and `dataplane` binaries; prints `SKIP: reason`
//! otherwise): a short run bounded by packets at a low rate, where every
//! packet sent each way arrives, once, in order, and the report names the
//! generator that ran. With afxdp the control channels keep running on
//! the same veths (the XDP filter passes them), so the teardown is clean.

use l2tpx_bench::cli::{run, Generator, Options, Target};
use l2tpx_bench::traffic::Size;

const PACKETS: u64 = 1500;

fn options(target: Target, generator: Generator) -> Options {
    Options {
        target,
        generator,
        tunnels: 2,
        sessions: 16,
        pps_up: 2000,
        pps_down: 2000,
        duration: 2.0,
        max_packets: PACKETS,
        size: Size::Fixed(64),
        setup_deadline: 30.0,
        ..Options::defaults()
    }
}

#[test]
fn both_generators_count_every_packet_against_l2tpx_and_baseline() {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    for target in [Target::L2tpx, Target::Baseline] {
        for generator in [Generator::Afxdp, Generator::Mmsg] {
            let r = match run(&options(target, generator)) {
                Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
                    eprintln!("SKIP: {e}");
                    return;
                }
                r => r.expect("bench run"),
            };
            println!(
                "{target:?} {generator:?}\n{}",
                l2tpx_bench::report::table(&r)
            );
            assert_eq!(r.config.generator, generator.name(), "{target:?}");
            assert_eq!(r.setup.up, 16, "failures: {:?}", r.setup.failures);
            let t = r.traffic.as_ref().expect("traffic ran");
            for (name, d) in [("upstream", &t.upstream), ("downstream", &t.downstream)] {
                let what = format!("{target:?} {generator:?} {name}: {d:?}");
                assert_eq!(d.sent, PACKETS, "{what}");
                assert_eq!(d.received, PACKETS, "{what}");
                assert_eq!((d.lost, d.refused, d.reordered), (0, 0, 0), "{what}");
                assert!(d.latency_us.is_some(), "{what}");
            }
            assert!(
                r.teardown.clean,
                "{target:?} {generator:?}: StopCCNs not all acked"
            );
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["config"]["generator"], generator.name());
        }
    }
}
