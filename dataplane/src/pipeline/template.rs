//! The downstream header template of a session. Built by the control plane
//! (the table's single writer); the code lives in the table crate
//! ([`l2tpx_table::template`]) so the control plane needs no dataplane
//! dependency. Re-exported here unchanged.

pub use l2tpx_table::template::*;
