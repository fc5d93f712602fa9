//! Proof against a real LNS (needs root, network namespaces, l2tpns and
//! FreeRADIUS; prints `SKIP: reason` otherwise): ≥ 100 CHAP sessions come
//! up, 100 pps each way for 2 s with zero loss, a clean teardown, and
//! tshark finds nothing malformed or suspicious on the access veth; then
//! the same with proxy LCP and proxy authentication AVPs.

mod common;

use l2tpx_bench::cli::{run, Target};
use l2tpx_tests::peers::TempDir;

#[test]
fn chap_sessions_and_traffic_against_l2tpns() {
    if let Some(why) = l2tpx_tests::l2tpns::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tshark = l2tpx_tests::tshark_available();
    let dir = TempDir::new("bench-l2tpns").unwrap();
    let pcap = dir.path().join("access.pcap");
    let opts = common::proof_options(Target::L2tpns, tshark.then(|| pcap.clone()));
    let r = run(&opts).expect("bench run");
    common::check_proof(&r, &pcap, tshark);

    // The same with proxy LCP and CHAP proxy authentication in every ICCN
    // (run after the first: one l2tpns at a time). l2tpns renegotiates LCP
    // and challenges again; the proxied clients follow, so every session
    // still comes up and tshark accepts our proxy AVPs.
    let pcap = dir.path().join("access-proxy.pcap");
    let mut opts = common::proof_options(Target::L2tpns, tshark.then(|| pcap.clone()));
    opts.proxy_lcp = true;
    opts.proxy_auth = true;
    let r = run(&opts).expect("bench run with proxy AVPs");
    common::check_proof(&r, &pcap, tshark);
    if tshark {
        common::check_proxy_avps(&pcap);
    }
}
