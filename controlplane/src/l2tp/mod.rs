//! L2TPv2 (RFC 2661) control connection.

pub mod reliable;
