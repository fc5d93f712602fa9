//! The l2tpx data plane: the XDP steering programs and their loader
//! ([`ebpf`]), the pure per-batch packet pipeline ([`pipeline`]), and the
//! per-core workers that run it over the shared session table: AF_XDP
//! sockets ([`xsk`]), the worker loop ([`worker`]), the AF_PACKET fallback
//! and the process-level orchestration ([`backend`]), neighbour resolution
//! ([`neigh`]), the configuration file ([`config`]) and the slow path for
//! punted frames ([`slowpath`]).

pub mod backend;
pub mod config;
pub mod ebpf;
pub mod neigh;
pub mod pipeline;
pub mod slowpath;
pub mod worker;
pub mod xsk;
