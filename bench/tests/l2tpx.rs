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
