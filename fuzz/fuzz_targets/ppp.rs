//! PPP frames (the payload of an L2TP data message): framing, LCP, IPCP,
//! IPv6CP with every option typed, PAP, CHAP, and inner IP. Parse must not
//! panic; whatever parses must re-emit to the same bytes.
#![no_main]
use l2tpx_tests::dissect::{dissect_ppp, Fault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut layers = Vec::new();
    if let Err(e) = dissect_ppp(data, &mut layers) {
        assert!(matches!(e.fault, Fault::Parse(_)), "{e}");
    }
    let _ = l2tpx_wire::ppp::protocol_and_offset(data);
});
