//! RADIUS packets as they arrive on the client and CoA sockets: parse, walk
//! every attribute and VSA, try every typed reader and the crypto checks.
#![no_main]
use l2tpx_wire::radius::{self, AttrIter, Packet, PacketRepr};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let request_auth = [0x5au8; 16];
    let _ = packet.verify_response_authenticator(SECRET, &request_auth);
    let _ = packet.verify_request_authenticator(SECRET);
    let _ = packet.verify_message_authenticator(SECRET, Some(&request_auth));
    for attr in AttrIter::new(packet.attributes()) {
        let Ok(attr) = attr else { break };
        let _ = (
            attr.as_u32(),
            attr.as_ipv4(),
            attr.as_ipv6(),
            attr.as_interface_id(),
        );
        let _ = (
            attr.as_ipv6_prefix(),
            attr.as_tagged_u32(),
            attr.as_tagged_bytes(),
        );
        if let Ok(vsa) = attr.as_vendor_specific() {
            for sub in vsa.sub_attributes() {
                if sub.is_err() {
                    break;
                }
            }
        }
        let mut out = [0u8; 256];
        let _ = radius::unhide_user_password(attr.value, SECRET, &request_auth, &mut out);
        let _ = radius::unhide_tunnel_password(attr.value, SECRET, &request_auth, &mut out);
    }
    if let Ok(repr) = PacketRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(
            &buf[..],
            &data[..repr.buffer_len()],
            "RADIUS re-emit differs"
        );
    }
});
