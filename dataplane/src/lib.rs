//! The l2tpx data plane: per-core AF_XDP workers over the shared session table.
pub mod pipeline;
