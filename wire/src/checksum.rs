//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Every function here works on the folded ones-complement *sum*, not on the
//! inverted value that goes on the wire, except the `update_*` functions,
//! which take and return the field as carried on the wire. A header's
//! checksum field is `!combine(&[pseudo_header, data(bytes)])` with the field
//! itself zeroed while summing; a received header verifies when the same sum,
//! taken with the field in place, is `0xffff`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Folds a wide ones-complement accumulator down to 16 bits.
#[inline]
const fn fold(mut sum: u64) -> u16 {
    // Each step at least halves the magnitude; four steps always suffice.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Ones-complement sum of `data` taken as big-endian 16-bit words, folded
/// but not inverted. An odd final byte is padded with a zero low byte
/// (RFC 1071 §4.1).
///
/// Sums four bytes per step into a 64-bit accumulator: 2^32 steps cannot
/// overflow it, and since 2^16 ≡ 1 (mod 2^16 - 1) adding 32-bit words gives
/// the same folded sum as adding 16-bit ones (RFC 1071 §2(B), parallel
/// summation).
#[inline]
pub fn data(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let a = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let b = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
        sum += u64::from(a) + u64::from(b);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        sum += u64::from(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        sum += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        sum += u64::from(last) << 8;
    }
    fold(sum)
}

/// Ones-complement sum of partial sums.
///
/// Each partial sum must cover bytes that start at an even offset of the
/// whole (only the last may have odd length), as with a pseudo-header
/// followed by a segment.
#[inline]
pub fn combine(checksums: &[u16]) -> u16 {
    let sum: u64 = checksums.iter().map(|&c| u64::from(c)).sum();
    fold(sum)
}

/// Sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1): source,
/// destination, zero, protocol, and the upper-layer length (16 bits on the
/// wire; the value is folded, so lengths up to `u32::MAX` are harmless).
///
/// Takes `core::net::Ipv4Addr` or `[u8; 4]`.
#[inline]
pub fn pseudo_header_v4(
    src: impl Into<Ipv4Addr>,
    dst: impl Into<Ipv4Addr>,
    protocol: u8,
    length: u32,
) -> u16 {
    let s = u32::from(src.into());
    let d = u32::from(dst.into());
    fold(u64::from(s) + u64::from(d) + u64::from(protocol) + u64::from(length))
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination,
/// 32-bit upper-layer length, three zero bytes and the next header.
///
/// Takes `core::net::Ipv6Addr` or `[u8; 16]`.
#[inline]
pub fn pseudo_header_v6(
    src: impl Into<Ipv6Addr>,
    dst: impl Into<Ipv6Addr>,
    next_header: u8,
    length: u32,
) -> u16 {
    let s = u128::from(src.into());
    let d = u128::from(dst.into());
    let mut sum = u64::from(next_header) + u64::from(length);
    for v in [s, d] {
        sum += (v >> 96) as u64 & 0xffff_ffff;
        sum += (v >> 64) as u64 & 0xffff_ffff;
        sum += (v >> 32) as u64 & 0xffff_ffff;
        sum += v as u64 & 0xffff_ffff;
    }
    fold(sum)
}

/// Pseudo-header sum for either family.
///
/// A mixed pair (one IPv4, one IPv6) is a caller bug; rather than panic, the
/// IPv4 address is taken as its IPv4-mapped IPv6 form and the IPv6
/// pseudo-header is used.
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, protocol, length),
        (s, d) => pseudo_header_v6(to_v6(s), to_v6(d), protocol, length),
    }
}

#[inline]
fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the
/// covered data changes from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
///
/// `old_csum` and the result are the field as carried on the wire. A word
/// that sits at an odd offset of the covered data contributes byte-swapped;
/// pass `old.swap_bytes()` and `new.swap_bytes()` then.
///
/// Eqn. 3 never produces the `0x0000`/`0xffff` ambiguity of eqn. 2 (RFC 1624
/// §3): as long as the data covered is not all zeros, the result equals a
/// full recomputation.
#[inline]
pub fn update_u16(old_csum: u16, old: u16, new: u16) -> u16 {
    let sum = u64::from(!old_csum) + u64::from(!old) + u64::from(new);
    !fold(sum)
}

/// RFC 1624 eqn. 3 for a 32-bit field at an even offset (an IPv4 address,
/// a TCP sequence number): both of its 16-bit words are replaced at once.
#[inline]
pub fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    let sum = u64::from(!old_csum)
        + u64::from(!(old >> 16) & 0xffff)
        + u64::from(!old & 0xffff)
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(sum)
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Per-word reference straight from RFC 1071 §4.1.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i + 1 < bytes.len() {
            sum += u32::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
            i += 2;
        }
        if i < bytes.len() {
            sum += u32::from(bytes[i]) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// The IPv4 header of frame 3 of l2tpns-lns_chap_session.pcap.
    const IP_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x28, 0xfa, 0x19, 0x40, 0x00, 0x40, 0x11, 0xb4, 0x83, 0xc6, 0x12, 0x00,
        0x02, 0xc6, 0x12, 0x00, 0x01,
    ];

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn real_header_verifies() {
        assert_eq!(data(&IP_HEADER), 0xffff);
        let mut h = IP_HEADER;
        h[10] = 0;
        h[11] = 0;
        assert_eq!(!data(&h), 0xb483);
    }

    #[test]
    fn empty_and_odd() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x6834);
    }

    #[test]
    fn pseudo_headers() {
        let s = Ipv4Addr::new(198, 18, 0, 2);
        let d = Ipv4Addr::new(198, 18, 0, 1);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s.octets());
        bytes.extend_from_slice(&d.octets());
        bytes.extend_from_slice(&[0, 17, 0, 20]);
        assert_eq!(pseudo_header_v4(s, d, 17, 20), reference(&bytes));
        assert_eq!(
            pseudo_header_v4(s.octets(), d.octets(), 17, 20),
            reference(&bytes)
        );
        assert_eq!(
            pseudo_header(IpAddr::V4(s), IpAddr::V4(d), 17, 20),
            reference(&bytes)
        );

        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s6.octets());
        bytes.extend_from_slice(&d6.octets());
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(s6, d6, 58, 65536), reference(&bytes));
        assert_eq!(
            pseudo_header(IpAddr::V6(s6), IpAddr::V6(d6), 58, 65536),
            reference(&bytes)
        );
        // Mixed families do not panic.
        let _ = pseudo_header(IpAddr::V4(s), IpAddr::V6(d6), 17, 8);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives 0x0000.
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn ttl_decrement_matches_recompute() {
        let mut h = IP_HEADER;
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let inc = update_u16(0xb483, old, new);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(inc, !data(&h));
    }

    proptest! {
        #[test]
        fn data_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert_eq!(data(&bytes), reference(&bytes));
        }

        #[test]
        fn combine_matches_concatenation(
            a in proptest::collection::vec(any::<u8>(), 0..64),
            b in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // The first part must have even length for sums to combine.
            let mut a = a;
            if !a.len().is_multiple_of(2) { a.pop(); }
            let mut all = a.clone();
            all.extend_from_slice(&b);
            prop_assert_eq!(combine(&[data(&a), data(&b)]), data(&all));
        }

        #[test]
        fn update_u16_equals_recompute(
            mut bytes in proptest::collection::vec(any::<u8>(), 4..128),
            word in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            // Bytes 0..2 hold the checksum; byte 2 is nonzero so the covered
            // data is never all zeros (true of every real header).
            if !bytes.len().is_multiple_of(2) { bytes.pop(); }
            bytes[2] |= 1;
            bytes[0] = 0;
            bytes[1] = 0;
            let csum = !data(&bytes);
            bytes[..2].copy_from_slice(&csum.to_be_bytes());

            let words = bytes.len() / 2;
            let at = 2 * (1 + word.index(words - 1));
            let old = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            bytes[at..at + 2].copy_from_slice(&new.to_be_bytes());
            if bytes[2..].iter().all(|&b| b == 0) { bytes[2] = 1; }
            let cur = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            let inc = update_u16(csum, old, cur);

            bytes[0] = 0;
            bytes[1] = 0;
            prop_assert_eq!(inc, !data(&bytes));
        }

        #[test]
        fn update_u16_odd_offset_equals_recompute(
            mut bytes in proptest::collection::vec(any::<u8>(), 6..128),
            at in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            bytes[2] |= 1;
            bytes[0] = 0;
            bytes[1] = 0;
            let csum = !data(&bytes);
            bytes[..2].copy_from_slice(&csum.to_be_bytes());
            // An odd offset at or after 3 with room for two bytes.
            let odd: Vec<usize> = (3..bytes.len() - 1).step_by(2).collect();
            let at = odd[at.index(odd.len())];
            let old = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            bytes[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update_u16(csum, old.swap_bytes(), new.swap_bytes());
            bytes[0] = 0;
            bytes[1] = 0;
            prop_assert_eq!(inc, !data(&bytes));
        }

        #[test]
        fn update_u32_equals_recompute(
            mut bytes in proptest::collection::vec(any::<u8>(), 8..128),
            word in any::<prop::sample::Index>(),
            new in any::<u32>(),
        ) {
            if !bytes.len().is_multiple_of(2) { bytes.pop(); }
            bytes[2] |= 1;
            bytes[0] = 0;
            bytes[1] = 0;
            let csum = !data(&bytes);
            bytes[..2].copy_from_slice(&csum.to_be_bytes());
            // An even offset after byte 2 with room for four bytes.
            let slots = (bytes.len() - 8) / 2 + 1; // offsets 4, 6, ..., len - 4
            let at = 4 + 2 * word.index(slots);
            let old = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            bytes[at..at + 4].copy_from_slice(&new.to_be_bytes());
            let inc = update_u32(csum, old, new);
            bytes[0] = 0;
            bytes[1] = 0;
            prop_assert_eq!(inc, !data(&bytes));
        }
    }
}
