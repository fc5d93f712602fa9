//! RADIUS AAA for the LNS (issue 4 §2), sans-IO like the rest of the
//! control plane: no sockets and no clock inside, every entry point takes
//! `now`, and the caller moves datagrams in and out.
//!
//! - [`client`]: [`RadiusClient`], authentication and accounting requests
//!   with identifier allocation, retransmission, failover between servers
//!   and strict reply checking (Response Authenticator and, against
//!   BlastRADIUS, Message-Authenticator).
//! - [`access`]: what goes into an Access-Request ([`AccessRequest`]) and
//!   what comes out of an Access-Accept ([`Authorization`]).
//! - [`accounting`]: Accounting-Request records ([`AcctRequest`]), the
//!   session-end cause mapping and the jittered [`AccountingScheduler`].
//! - [`dae`]: the RFC 5176 Dynamic Authorization server ([`DaeServer`]).

pub mod access;
pub mod accounting;
pub mod client;
pub mod dae;

pub use access::{AccessRequest, Authorization, Credentials, NasIdentity, TunnelInfo};
pub use accounting::{
    split_octets, AccountingScheduler, AcctRequest, AcctSession, AcctSessionIdGen, SessionCounters,
    SessionEndCause,
};
pub use client::{
    ClientConfig, ClientStats, RadiusClient, RadiusEvent, RadiusServer, RequestId, SendError,
};
pub use dae::{
    CoaChanges, DaeClient, DaeConfig, DaeEvent, DaeOutcome, DaeRequestId, DaeServer, DaeStats,
    SessionLookup, SessionQuery,
};
