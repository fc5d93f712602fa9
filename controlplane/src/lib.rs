//! The l2tpx control plane as a library: sans-IO protocol engines that the
//! `controlplane` binary drives (ARCHITECTURE §3: no sockets, no clock),
//! plus the binary's [`config`] file and its I/O [`driver`] (the only module
//! that reads the clock).
#![forbid(unsafe_code)]

pub mod config;
pub mod driver;
pub mod l2tp;
pub mod persist;
pub mod ppp;
pub mod radius;
pub mod session;
