//! L2TPv2 (RFC 2661): the message header (§3.1), control message AVPs
//! (§4.1, §4.4), AVP hiding (§4.3) and control messages (§3.2).
//!
//! - [`Packet`] / [`HeaderRepr`]: the header of any message; [`DataHeader`]
//!   is the data plane's fast parse.
//! - [`Avp`] / [`AvpRepr`] / [`AvpIter`]: raw AVPs, round-tripping exactly;
//!   [`AvpValue`] decodes them by [`AvpType`].
//! - [`hide`] / [`reveal`]: hidden AVP values; [`AvpIter::with_random_vector`]
//!   pairs each AVP with the Random Vector in force.
//! - [`ControlMessageRepr`] parses a control message;
//!   [`ControlMessageBuilder`] and [`emit_control_message`] build one.
//!
//! Errors on the malformed reference samples: an AVP overrunning its
//! message is `LengthMismatch` (as is an AVP Length below 6); an L2TP Length
//! larger than the datagram is `LengthMismatch`; Ver other than 2 is
//! `WrongVersion`; a first AVP other than Message Type is `Malformed`.

mod avp;
mod header;
mod hidden;
mod message;

pub use avp::{
    Avp, AvpIter, AvpRepr, AvpType, AvpValue, Bearer, CallErrors, CdnResult, ErrorCode, Framing,
    MessageType, ProxyAuthenType, StopCcnResult, WithRandomVector, AVP_HEADER_LEN, AVP_MAX_LEN,
    AVP_MAX_VALUE_LEN, VENDOR_IETF,
};
pub use header::{
    is_control_message, DataHeader, HeaderRepr, Packet, Sequence, CONTROL_HEADER_LEN,
    RESERVED_FLAGS, VERSION,
};
pub use hidden::{hidden_len, hide, reveal};
pub use message::{emit_control_message, ControlMessageBuilder, ControlMessageRepr};
