//! The l2tpx data plane: the XDP steering programs and their loader
//! ([`ebpf`]) and the pure per-batch packet pipeline ([`pipeline`]) that the
//! per-core AF_XDP workers run over the shared session table.

pub mod ebpf;
pub mod pipeline;
