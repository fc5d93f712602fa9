//! Wire formats for l2tpx, in the style of smoltcp's `wire` module.
//!
//! Every format is a zero-copy view `Packet<T: AsRef<[u8]>>` (getters; setters
//! under `AsMut`) plus a `Repr` with `parse`, `emit` and `buffer_len`.
//! Parsing is panic-free on arbitrary bytes: once `check_len` passes, no
//! accessor panics. Emitting into a buffer shorter than `buffer_len()` is a
//! caller bug and may panic. Nothing here allocates, so the data plane and
//! eBPF-adjacent code can use it (`#![no_std]`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

#[cfg(test)]
extern crate std;

/// Declares a code enum with an `Unknown(n)` variant, plus lossless
/// conversions to and from the raw integer (smoltcp's pattern).
///
/// `Unknown(n)` must only be built through `From<raw>`: `Unknown(1)` where 1
/// has a name would not round-trip.
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
                $( #[$variant_attr:meta] )*
                $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        $( #[$enum_attr] )*
        pub enum $name {
            $(
                $( #[$variant_attr] )*
                $variant
            ),*,
            /// A value without a name here, kept as it was received.
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

mod error;
pub use error::{Error, Result};

pub mod checksum;

// Link and network layers.
pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

// The data plane's one-pass upstream classification.
pub mod fastpath;

// L2TPv2 (RFC 2661).
pub mod l2tp;

// PPP (RFC 1661, 1332, 1334, 1877, 1994, 5072).
pub mod ppp;

// RADIUS (RFC 2865, 2866, 2868, 2869, 5176).
pub mod radius;
