//! The l2tpx data plane library: the XDP steering programs and their
//! loader ([`ebpf`]); the AF_XDP pipeline follows (issue 5).

pub mod ebpf;
