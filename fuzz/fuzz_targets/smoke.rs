#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let _ = l2tpx_wire::Error::Truncated;
    let _ = data;
});
