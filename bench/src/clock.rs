//! The driver's clock: the one place the bench reads the time (the engines
//! are sans-IO and take `now` as a parameter).

use std::sync::OnceLock;
use std::time::Instant;

/// The current instant.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The process-wide epoch the traffic timestamps count from.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(now)
}

/// Nanoseconds since [`epoch`] (payload timestamps: both directions run in
/// this process, so one monotonic clock serves senders and receivers).
pub fn nanos() -> u64 {
    now().saturating_duration_since(epoch()).as_nanos() as u64
}

/// Seconds since the Unix epoch (report timestamps).
#[allow(clippy::disallowed_methods)]
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
