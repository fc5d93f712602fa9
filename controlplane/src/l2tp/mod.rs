//! L2TPv2 (RFC 2661) control connection.
//!
//! - [`reliable`]: §5.8 reliable delivery under one control connection.
//! - [`engine`]: the sans-IO LNS engine ([`engine::Engine`]).
//! - [`lac`]: a sans-IO LAC engine, for tests and the bench.
//! - [`ids`]: tunnel / session ID allocation and [`ids::slot_index`].
//! - [`config`], [`events`]: the engine's configuration and its output.

mod avps;
pub mod config;
mod conn;
pub mod engine;
pub mod events;
pub mod ids;
pub mod lac;
pub mod reliable;

#[cfg(test)]
mod tests;

pub use avps::raw_avp;
pub use config::{Config, Limits, Secrets};
pub use engine::{Engine, EngineError, Stats};
pub use events::{
    CallDirection, DisconnectCause, Event, Initiator, NullSink, ProxyAvps, Q931Cause, SessionInfo,
    SessionKey, SessionSink,
};
pub use ids::{slot_index, IdAllocator, IdHasher, RandomSource, SplitMix64};
pub use lac::{CallParams, Lac, LacConfig};
