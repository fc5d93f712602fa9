//! Every frame of the real captures in `../shared/captures` (xl2tpd and
//! l2tpns traffic) parses down to its innermost layer, and re-emitting each
//! layer's `Repr` yields the original bytes. The malformed samples are
//! rejected with the right error. tshark's decode of the same frames is the
//! cross-check for what we decoded.

use l2tpx_tests::dissect::{dissect_ethernet, DissectError, Fault, Layer};
use l2tpx_tests::{capture_files, read_ethernet_pcap, tshark_available, tshark_fields};
use l2tpx_wire::Error;

const MALFORMED: &str = "malformed_samples.pcap";

fn innermost_is_decoded(layers: &[Layer]) -> bool {
    matches!(
        layers.last(),
        Some(Layer::L2tpControl { .. } | Layer::PppControl { .. } | Layer::Icmpv4 { .. })
    )
}

#[test]
fn every_captured_frame_parses_and_reemits_byte_for_byte() {
    let mut frames_seen = 0;
    for path in capture_files() {
        if path.file_name().is_some_and(|n| n == MALFORMED) {
            continue;
        }
        let frames = read_ethernet_pcap(&path).unwrap();
        assert!(!frames.is_empty(), "{} has no frames", path.display());
        for (i, frame) in frames.iter().enumerate() {
            let layers = dissect_ethernet(frame)
                .unwrap_or_else(|e| panic!("{} frame {}: {e}", path.display(), i + 1));
            assert!(
                innermost_is_decoded(&layers),
                "{} frame {}: stopped at {:?}",
                path.display(),
                i + 1,
                layers.last()
            );
            frames_seen += 1;
        }
    }
    // 13 + 29 + 28 frames in the three session/control captures.
    assert!(frames_seen >= 70, "only {frames_seen} frames found");
}

#[test]
fn malformed_samples_are_rejected_with_the_right_error() {
    let path = l2tpx_tests::shared_dir().join("captures").join(MALFORMED);
    let frames = read_ethernet_pcap(&path).unwrap();
    assert_eq!(frames.len(), 3);
    let expect = [
        // An AVP whose Length overruns its message.
        ("l2tp", Error::LengthMismatch),
        // An L2TP Length larger than the datagram.
        ("l2tp", Error::LengthMismatch),
        // An LCP Length overrunning the frame.
        ("lcp", Error::LengthMismatch),
    ];
    for (i, (frame, (layer, error))) in frames.iter().zip(expect).enumerate() {
        let got = dissect_ethernet(frame).expect_err("malformed frame accepted");
        assert_eq!(
            got,
            DissectError {
                layer,
                fault: Fault::Parse(error)
            },
            "malformed sample frame {}",
            i + 1
        );
    }
}

/// What we decode from each real frame equals what tshark decodes.
#[test]
fn our_decode_agrees_with_tshark_on_the_captures() {
    if !tshark_available() {
        eprintln!("SKIP: tshark not installed (scripts/setup.sh installs it)");
        return;
    }
    for path in capture_files() {
        if path.file_name().is_some_and(|n| n == MALFORMED) {
            continue;
        }
        let frames = read_ethernet_pcap(&path).unwrap();
        let fields = [
            "l2tp.tunnel",
            "l2tp.session",
            "l2tp.avp.message_type",
            "ppp.protocol",
        ];
        let lines = tshark_fields(&path, "", &fields).unwrap();
        assert_eq!(lines.len(), frames.len(), "{}", path.display());
        for (i, (frame, line)) in frames.iter().zip(&lines).enumerate() {
            let layers = dissect_ethernet(frame).unwrap();
            let mut ours = [String::new(), String::new(), String::new(), String::new()];
            for layer in &layers {
                match *layer {
                    Layer::L2tpControl {
                        tunnel_id,
                        session_id,
                        message_type,
                        ..
                    } => {
                        ours[0] = tunnel_id.to_string();
                        ours[1] = session_id.to_string();
                        ours[2] = message_type.map(|t| t.to_string()).unwrap_or_default();
                    }
                    Layer::L2tpData {
                        tunnel_id,
                        session_id,
                    } => {
                        ours[0] = tunnel_id.to_string();
                        ours[1] = session_id.to_string();
                    }
                    Layer::Ppp { protocol } => ours[3] = format!("0x{protocol:04x}"),
                    _ => {}
                }
            }
            let theirs: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                theirs.len(),
                4,
                "{} frame {}: {line:?}",
                path.display(),
                i + 1
            );
            for (k, name) in fields.iter().enumerate() {
                assert_eq!(
                    ours[k].as_str(),
                    theirs[k],
                    "{} frame {}: {name}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
}

/// Found by the `ethernet_frame` fuzzer: an ICMP message whose checksum
/// field is 0xffff, the other one's-complement zero. It verifies, and the
/// emitter's 0x0000 is the same checksum.
#[test]
fn icmp_checksum_negative_zero_is_accepted() {
    let mut frame = vec![0xffu8; 60];
    // Ethernet: IPv4. IPv4: IHL 5, total 46, protocol ICMP, checksum filled in.
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 46, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
    ]);
    let mut p = l2tpx_wire::ipv4::Packet::new_unchecked(&mut frame[14..60]);
    p.fill_checksum();
    let layers = dissect_ethernet(&frame).unwrap();
    assert_eq!(
        layers.last(),
        Some(&Layer::Icmpv4 {
            msg_type: 255,
            code: 255
        })
    );
}

/// Found by the `ethernet_frame` fuzzer: the same for an IPv4 header
/// checksum of 0xffff (crafted so its other words sum to 0xffff).
#[test]
fn ipv4_checksum_negative_zero_is_accepted() {
    // The fuzzer's frame, as found: the IPv4 layer must pass (checksum
    // 0xffff), and dissection goes on to the UDP layer.
    let frame = l2tpx_tests::dissect::unhex(
        "c65630db7f25125f3b8b615c080045000036138440004011ffff9b0bc6120003c612\
         000206a5b6ae001e8c5b000212340042ff038021030100100306c612010a8106c6120135",
    );
    let mut layers = Vec::new();
    let result = l2tpx_tests::dissect::dissect_ipv4(&frame[14..], &mut layers);
    assert_eq!(
        layers.first(),
        Some(&Layer::Ipv4 { protocol: 17 }),
        "{result:?}"
    );
}
