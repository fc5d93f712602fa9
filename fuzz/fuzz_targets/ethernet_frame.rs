//! Whole Ethernet frames, as XDP hands them up: every layer down to the
//! innermost must parse without panicking, and whatever parses must
//! re-emit to the same bytes (a re-emit mismatch is a crash).
#![no_main]
use l2tpx_tests::dissect::{dissect_ethernet, Fault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = dissect_ethernet(data) {
        assert!(matches!(e.fault, Fault::Parse(_)), "{e}");
    }
});
