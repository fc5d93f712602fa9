//! Proof against l2tpx itself (the `controlplane` and `dataplane`
//! binaries, built by `cargo build --workspace --bins`; needs root,
//! network namespaces and XDP, prints `SKIP: reason` otherwise): ≥ 100
//! CHAP sessions come up, 100 pps each way for 2 s through the XDP data
//! plane with zero loss, a clean teardown, and tshark finds nothing
//! malformed or suspicious on the access veth.

use l2tpx_bench::cli::{run, Auth, Options, Target};
use l2tpx_bench::traffic::Size;
use l2tpx_tests::peers::TempDir;

#[test]
fn chap_sessions_and_traffic_against_l2tpx() {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tshark = l2tpx_tests::tshark_available();
    let dir = TempDir::new("bench-l2tpx-test").unwrap();
    let pcap = dir.path().join("access.pcap");
    let opts = Options {
        target: Target::L2tpx,
        tunnels: 4,
        sessions: 120,
        auth: Auth::Chap,
        pps_up: 100,
        pps_down: 100,
        duration: 2.0,
        size: Size::Fixed(64),
        pcap: tshark.then(|| pcap.clone()),
        setup_deadline: 30.0,
        ..Options::defaults()
    };
    let r = match run(&opts) {
        Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
            eprintln!("SKIP: {e}");
            return;
        }
        r => r.expect("bench run"),
    };
    assert_eq!(r.target, "l2tpx");
    println!("{}", l2tpx_bench::report::table(&r));
    assert_eq!(r.setup.up, 120, "failures: {:?}", r.setup.failures);
    assert_eq!(r.setup.tunnels_up, 4);
    let t = r.traffic.as_ref().expect("traffic ran");
    for (name, d) in [("upstream", &t.upstream), ("downstream", &t.downstream)] {
        assert!(d.sent >= 150, "{name}: only {} sent", d.sent);
        assert_eq!(d.lost, 0, "{name}: {d:?}");
        assert_eq!(d.refused, 0, "{name}: {d:?}");
        assert!(d.latency_us.is_some(), "{name}");
    }
    assert!(r.teardown.clean, "StopCCNs not all acked");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema"], "l2tpx-bench/1");

    if !tshark {
        eprintln!("SKIP (tshark part): tshark not installed");
        return;
    }
    let bad = l2tpx_tests::tshark_fields(
        &pcap,
        "_ws.malformed || _ws.expert.severity >= \"Warning\"",
        &["frame.number", "_ws.col.Info"],
    )
    .unwrap();
    assert!(
        bad.is_empty(),
        "tshark flags {} frames: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    // The capture holds the whole life cycle.
    let types =
        l2tpx_tests::tshark_fields(&pcap, "l2tp.avp.message_type", &["l2tp.avp.message_type"])
            .unwrap()
            .join(",");
    for (code, name) in [
        ("1", "SCCRQ"),
        ("10", "ICRQ"),
        ("12", "ICCN"),
        ("14", "CDN"),
        ("4", "StopCCN"),
    ] {
        assert!(
            types.split(',').any(|t| t == code),
            "no {name} in the capture"
        );
    }
    let chap = l2tpx_tests::tshark_fields(&pcap, "chap.code == 3", &["frame.number"]).unwrap();
    // tcpdump may drop a few frames of the setup burst: the emulator's
    // count above is the authority, the capture only has to show CHAP.
    assert!(!chap.is_empty(), "no CHAP Success in the capture");
}
