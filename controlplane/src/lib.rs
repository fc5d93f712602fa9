//! The l2tpx control plane as a library: sans-IO protocol engines that the
//! `controlplane` binary drives (ARCHITECTURE §3: no sockets, no clock).
#![forbid(unsafe_code)]

pub mod l2tp;
pub mod radius;
