//! The one error type every parser in this crate returns.

use core::fmt;

/// Why a buffer did not parse (or a `Repr` could not be built from it).
///
/// Parsers return these instead of panicking: once `check_len` (or
/// `new_checked`) has passed, no accessor of a view may panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a fixed header, or before a field that the
    /// header itself declares, ends.
    Truncated,
    /// A length field disagrees with the buffer or with the format: larger
    /// than the bytes present, or smaller than the header it must cover.
    LengthMismatch,
    /// The L2TP `Ver` field is not 2 (RFC 2661 §3.1). 1 is L2F (RFC 2341),
    /// 3 is L2TPv3 (RFC 3931); the value found is carried.
    WrongVersion(u8),
    /// A field holds a value the format forbids (a reserved bit set where it
    /// must be clear, an option length below its minimum, and so on).
    Malformed,
    /// A checksum was verified and did not match.
    Checksum,
    /// A hidden AVP (RFC 2661 §4.3) could not be revealed: no Random Vector
    /// precedes it, or the recovered original length overruns the value.
    Hidden,
    /// The caller's output buffer is too small for what was asked.
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated"),
            Error::LengthMismatch => f.write_str("length field mismatch"),
            Error::WrongVersion(1) => f.write_str("L2F packet (version 1), not L2TPv2"),
            Error::WrongVersion(3) => f.write_str("L2TPv3 packet (version 3), not L2TPv2"),
            Error::WrongVersion(v) => write!(f, "unknown L2TP version {v}"),
            Error::Malformed => f.write_str("malformed field"),
            Error::Checksum => f.write_str("bad checksum"),
            Error::Hidden => f.write_str("hidden AVP cannot be revealed"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// The result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;
