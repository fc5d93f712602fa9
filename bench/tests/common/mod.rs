//! The CI proof shared by every bench target: the scenario's options, and
//! the checks on its report and capture.

use std::path::{Path, PathBuf};

use l2tpx_bench::cli::{Auth, Options, Target};
use l2tpx_bench::report::Report;
use l2tpx_bench::traffic::Size;

/// ≥ 100 CHAP sessions over 4 tunnels, 100 pps each way for 2 s, and a
/// capture of the access veth when tshark can read it.
pub fn proof_options(target: Target, pcap: Option<PathBuf>) -> Options {
    Options {
        target,
        tunnels: 4,
        sessions: 120,
        auth: Auth::Chap,
        pps_up: 100,
        pps_down: 100,
        duration: 2.0,
        size: Size::Fixed(64),
        pcap,
        setup_deadline: 30.0,
        ..Options::defaults()
    }
}

/// Every session up, zero loss both ways, a clean teardown, and (with
/// tshark) a capture with nothing malformed that holds the whole life cycle.
pub fn check_proof(r: &Report, pcap: &Path, tshark: bool) {
    println!("{}", l2tpx_bench::report::table(r));
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
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["schema"], "l2tpx-bench/1");
    assert!(json["load"].is_null());

    if !tshark {
        eprintln!("SKIP (tshark part): tshark not installed");
        return;
    }
    let bad = l2tpx_tests::tshark_fields(
        pcap,
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
        l2tpx_tests::tshark_fields(pcap, "l2tp.avp.message_type", &["l2tp.avp.message_type"])
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
    let chap = l2tpx_tests::tshark_fields(pcap, "chap.code == 3", &["frame.number"]).unwrap();
    // tcpdump may drop a few frames of the setup burst: the emulator's
    // count above is the authority, the capture only has to show CHAP.
    assert!(!chap.is_empty(), "no CHAP Success in the capture");
}

/// With `--proxy-lcp --proxy-auth` (CHAP): every ICCN in the capture
/// carries the proxy LCP and the Proxy Authen Challenge AVPs (compared
/// with the ICCNs the capture holds: tcpdump may miss a few frames).
pub fn check_proxy_avps(pcap: &Path) {
    let fields =
        |filter: &str| l2tpx_tests::tshark_fields(pcap, filter, &["frame.number"]).unwrap();
    let iccns = fields("l2tp.avp.message_type == 12");
    let proxied = fields(
        "l2tp.avp.message_type == 12 && l2tp.avp.last_sent_lcp_confreq \
         && l2tp.avp.proxy_authen_challenge",
    );
    assert!(!iccns.is_empty(), "no ICCN in the capture");
    assert_eq!(proxied, iccns, "ICCNs without proxy LCP and CHAP AVPs");
}
