//! Proof against l2tpx itself (the `controlplane` and `dataplane`
//! binaries, built by `cargo build --workspace --bins`; needs root,
//! network namespaces and XDP, prints `SKIP: reason` otherwise): ≥ 100
//! CHAP sessions come up, 100 pps each way for 2 s through the XDP data
//! plane with zero loss, a clean teardown, and tshark finds nothing
//! malformed or suspicious on the access veth.

mod common;

use l2tpx_bench::cli::{run, Aaa, Target};
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
    let opts = common::proof_options(Target::L2tpx, tshark.then(|| pcap.clone()));
    let r = match run(&opts) {
        Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
            eprintln!("SKIP: {e}");
            return;
        }
        r => r.expect("bench run"),
    };
    assert_eq!(r.target, "l2tpx");
    common::check_proof(&r, &pcap, tshark);
}

/// `--aaa radius`: the same sessions authenticate through FreeRADIUS
/// (started by the bench in the LNS namespace) instead of the users file.
#[test]
fn chap_sessions_through_freeradius_against_l2tpx() {
    if let Some(why) =
        l2tpx_tests::netns::unavailable().or_else(l2tpx_tests::freeradius::unavailable)
    {
        eprintln!("SKIP: {why}");
        return;
    }
    let mut opts = common::proof_options(Target::L2tpx, None);
    opts.aaa = Some(Aaa::Radius);
    opts.no_traffic = true;
    let r = match run(&opts) {
        Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
            eprintln!("SKIP: {e}");
            return;
        }
        r => r.expect("bench run"),
    };
    assert_eq!(r.config.aaa, "radius");
    assert_eq!(r.setup.up, 120, "failures: {:?}", r.setup.failures);
    assert!(r.teardown.clean, "StopCCNs not all acked");
}

/// `--proxy-lcp --proxy-auth`: the emulated LAC reports the LCP it
/// negotiated and the CHAP exchange it ran, and l2tpx takes both over
/// (RFC 2661 §4.4.5): the same proof, tshark-clean with the proxy AVPs,
/// and not one LCP Configure-Request or CHAP Response on the wire.
#[test]
fn proxy_lcp_and_chap_sessions_against_l2tpx() {
    if let Some(why) = l2tpx_tests::netns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tshark = l2tpx_tests::tshark_available();
    let dir = TempDir::new("bench-l2tpx-proxy-test").unwrap();
    let pcap = dir.path().join("access.pcap");
    let mut opts = common::proof_options(Target::L2tpx, tshark.then(|| pcap.clone()));
    opts.proxy_lcp = true;
    opts.proxy_auth = true;
    let r = match run(&opts) {
        Err(e) if e.contains(l2tpx_bench::l2tpx::XDP_UNAVAILABLE) => {
            eprintln!("SKIP: {e}");
            return;
        }
        r => r.expect("bench run"),
    };
    assert!(r.config.proxy_lcp && r.config.proxy_auth);
    common::check_proof(&r, &pcap, tshark);
    if tshark {
        common::check_proxy_avps(&pcap);
        let negotiated = l2tpx_tests::tshark_fields(
            &pcap,
            "(lcp && ppp.code == 1) || chap.code == 2",
            &["frame.number"],
        )
        .unwrap();
        assert!(
            negotiated.is_empty(),
            "LCP or CHAP negotiated again: {negotiated:?}"
        );
    }
}
