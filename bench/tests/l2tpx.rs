//! Proof against l2tpx itself (the `controlplane` and `dataplane`
//! binaries, built by `cargo build --workspace --bins`; needs root,
//! network namespaces and XDP, prints `SKIP: reason` otherwise): ≥ 100
//! CHAP sessions come up, 100 pps each way for 2 s through the XDP data
//! plane with zero loss, a clean teardown, and tshark finds nothing
//! malformed or suspicious on the access veth.

mod common;

use l2tpx_bench::cli::{run, Target};
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
