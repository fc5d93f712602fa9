//! l2tpx-bench: an L2TP LAC + PPP subscriber emulator and load generator.
//!
//! - [`emulator`]: one sans-IO [`Lac`](l2tpx_controlplane::l2tp::Lac) per
//!   tunnel and one [`PppClient`](l2tpx_controlplane::ppp::client::PppClient)
//!   per session, driven over real UDP sockets (one per tunnel); brings
//!   sessions up at a paced rate, then carries upstream traffic and
//!   receives downstream traffic, then tears everything down.
//! - [`traffic`]: the payload format (stream, sequence number, timestamp),
//!   per-direction receivers (loss, reordering, latency histograms) and
//!   the core-side sender/receiver.
//! - [`mmsg`]: `sendmmsg` / `recvmmsg` batches; [`afxdp`]: the AF_XDP
//!   generator (`--generator afxdp`, the default) and its receive filter.
//! - [`topo`]: the namespaces and veths, and the l2tpns target.
//! - [`l2tpx`]: the l2tpx and baseline targets (controlplane + dataplane
//!   binaries; the baseline runs the data plane as a bare forwarder).
//! - [`report`]: the JSON report (schema in docs/bench.md), the table and
//!   the SVG plot.
//! - [`rfc2544`]: the RFC 2544 §26.1 throughput search (a pure function of
//!   a trial closure).
//! - [`svg`]: hand-written SVG charts; [`progress`]: progress on stderr.
//! - [`clock`]: the only place that reads the clock.

pub mod afxdp;
pub mod alloc;
pub mod cli;
pub mod clock;
pub mod emulator;
pub mod l2tpx;
pub mod progress;
pub mod report;
pub mod rfc2544;
pub mod svg;
pub mod topo;
pub mod traffic;

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT / SIGTERM: every loop winds down, the teardown runs and
/// the namespaces are removed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
