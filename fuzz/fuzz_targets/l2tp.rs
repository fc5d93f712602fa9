//! L2TP datagrams (UDP 1701 payloads): the header, the data-plane fast
//! path, control messages with every AVP typed, hidden-AVP reveal, and data
//! messages down through PPP. Parse must not panic; whatever parses must
//! re-emit to the same bytes.
#![no_main]
use l2tpx_tests::dissect::{dissect_l2tp, Fault};
use l2tpx_wire::l2tp::{self, ControlMessageRepr};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let mut layers = Vec::new();
    if let Err(e) = dissect_l2tp(data, &mut layers) {
        assert!(matches!(e.fault, Fault::Parse(_)), "{e}");
    }
    let _ = l2tp::DataHeader::parse(data);
    let _ = l2tp::is_control_message(data);
    if let Ok(msg) = ControlMessageRepr::parse_bytes(data) {
        let mut out = [0u8; 1024];
        for item in msg.body_avps() {
            let Ok((avp, rv)) = item else { break };
            if avp.hidden {
                let _ = avp.reveal(SECRET, rv, &mut out);
            }
        }
    }
});
