//! The packet format shared by LCP and the NCPs (RFC 1661 §5; PAP and CHAP
//! use the same header), and the Configuration Option format (RFC 1661 §6).
//!
//! One [`Packet`] view and one [`Repr`] serve LCP, IPCP and IPv6CP; only the
//! option type differs ([`ConfigOption`], chosen through [`ControlProtocol`]),
//! so a negotiation automaton can be generic over the protocol.
//!
//! Length rules: a buffer shorter than the 4-octet header is
//! [`Error::Truncated`]; a Length field below 4, above the buffer, or too
//! small for a code's fixed fields (Magic-Number, Rejected-Protocol, ...) is
//! [`Error::LengthMismatch`]. Octets after Length are padding and ignored
//! (RFC 1661 §5).

use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;

use super::frame::Protocol;
use crate::{Error, Result};

enum_with_unknown! {
    /// Control-protocol packet codes (RFC 1661 §5, RFC 1570 §1, RFC 1962 §2).
    pub enum Code(u8) {
        /// Configure-Request (RFC 1661 §5.1).
        ConfigureRequest = 1,
        /// Configure-Ack (RFC 1661 §5.2).
        ConfigureAck = 2,
        /// Configure-Nak (RFC 1661 §5.3).
        ConfigureNak = 3,
        /// Configure-Reject (RFC 1661 §5.4).
        ConfigureReject = 4,
        /// Terminate-Request (RFC 1661 §5.5).
        TerminateRequest = 5,
        /// Terminate-Ack (RFC 1661 §5.5).
        TerminateAck = 6,
        /// Code-Reject (RFC 1661 §5.6).
        CodeReject = 7,
        /// Protocol-Reject, LCP only (RFC 1661 §5.7).
        ProtocolReject = 8,
        /// Echo-Request, LCP only (RFC 1661 §5.8).
        EchoRequest = 9,
        /// Echo-Reply, LCP only (RFC 1661 §5.8).
        EchoReply = 10,
        /// Discard-Request, LCP only (RFC 1661 §5.9).
        DiscardRequest = 11,
        /// Identification, LCP only (RFC 1570 §1.1).
        Identification = 12,
        /// Time-Remaining, LCP only (RFC 1570 §1.2).
        TimeRemaining = 13,
        /// Reset-Request, CCP/ECP only (RFC 1962 §2.1); parsed as unknown here.
        ResetRequest = 14,
        /// Reset-Ack, CCP/ECP only (RFC 1962 §2.1); parsed as unknown here.
        ResetAck = 15,
    }
}

/// Which codes a control protocol defines; the rest parse as
/// [`Repr::Unknown`] (to be answered with a Code-Reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeSet {
    /// LCP: codes 1–11 (RFC 1661 §5) and 12–13 (RFC 1570 §1).
    Lcp,
    /// An NCP such as IPCP or IPv6CP: codes 1–7 (RFC 1332 §2, RFC 5072 §2).
    Ncp,
}

mod field {
    use core::ops::Range;

    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const DATA: usize = 4;
}

/// Length of the Code, Identifier and Length fields.
pub const HEADER_LEN: usize = field::DATA;

/// Length of the Type and Length fields of a Configuration Option.
pub const OPTION_HEADER_LEN: usize = 2;

/// Largest Configuration Option data (its Length field is one octet).
pub const MAX_OPTION_DATA_LEN: usize = 255 - OPTION_HEADER_LEN;

/// A read/write view of a control-protocol packet (RFC 1661 §5). Setters
/// panic on a buffer shorter than the 4-octet header.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks its length fields.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the header is incomplete;
    /// [`Error::LengthMismatch`] if Length is below 4 or overruns the buffer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = usize::from(self.length());
        if length < HEADER_LEN || length > len {
            return Err(Error::LengthMismatch);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref().get(field::CODE).copied().unwrap_or(0))
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::IDENTIFIER)
            .copied()
            .unwrap_or(0)
    }

    /// The Length field: the whole packet, header included.
    pub fn length(&self) -> u16 {
        match self.buffer.as_ref().get(field::LENGTH) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The Data field, up to Length (padding beyond it excluded); empty if
    /// the packet does not check.
    pub fn data(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(field::DATA..usize::from(self.length()))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field.
    pub fn set_code(&mut self, value: Code) {
        self.buffer.as_mut()[field::CODE] = value.into();
    }

    /// Sets the Identifier field.
    pub fn set_identifier(&mut self, value: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = value;
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// The Data field up to Length, mutably (empty if Length is invalid).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length());
        self.buffer
            .as_mut()
            .get_mut(field::DATA..end)
            .unwrap_or(&mut [])
    }
}

/// Splits `n` leading octets off `data`, or [`Error::LengthMismatch`]
/// (the Length field is too small for the code's fixed fields).
fn split<const N: usize>(data: &[u8]) -> Result<([u8; N], &[u8])> {
    let (head, rest) = data.split_first_chunk::<N>().ok_or(Error::LengthMismatch)?;
    Ok((*head, rest))
}

/// A parsed control-protocol packet of LCP, IPCP or IPv6CP.
///
/// Variable parts borrow the packet. `Unknown` must not carry a code that
/// the parsing [`CodeSet`] names, or it will not parse back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Configure-Request with its raw options (see [`Repr::options`]).
    ConfigureRequest { identifier: u8, options: &'a [u8] },
    /// Configure-Ack: the options acknowledged, verbatim.
    ConfigureAck { identifier: u8, options: &'a [u8] },
    /// Configure-Nak: the options with acceptable values.
    ConfigureNak { identifier: u8, options: &'a [u8] },
    /// Configure-Reject: the options rejected, verbatim.
    ConfigureReject { identifier: u8, options: &'a [u8] },
    /// Terminate-Request with uninterpreted data.
    TerminateRequest { identifier: u8, data: &'a [u8] },
    /// Terminate-Ack with uninterpreted data.
    TerminateAck { identifier: u8, data: &'a [u8] },
    /// Code-Reject carrying (part of) the rejected packet, from its Code field on.
    CodeReject {
        identifier: u8,
        rejected_packet: &'a [u8],
    },
    /// Protocol-Reject: the rejected protocol and (part of) its information field.
    ProtocolReject {
        identifier: u8,
        rejected_protocol: Protocol,
        rejected_information: &'a [u8],
    },
    /// Echo-Request.
    EchoRequest {
        identifier: u8,
        magic_number: u32,
        data: &'a [u8],
    },
    /// Echo-Reply.
    EchoReply {
        identifier: u8,
        magic_number: u32,
        data: &'a [u8],
    },
    /// Discard-Request.
    DiscardRequest {
        identifier: u8,
        magic_number: u32,
        data: &'a [u8],
    },
    /// Identification (RFC 1570 §1.1).
    Identification {
        identifier: u8,
        magic_number: u32,
        message: &'a [u8],
    },
    /// Time-Remaining (RFC 1570 §1.2).
    TimeRemaining {
        identifier: u8,
        magic_number: u32,
        seconds_remaining: u32,
        message: &'a [u8],
    },
    /// A code this protocol does not define, kept raw.
    Unknown {
        code: u8,
        identifier: u8,
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Parses a packet of a protocol using `codes`. Configure-* options are
    /// checked for framing (not content) with [`check_options`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        codes: CodeSet,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let data = packet.data();
        let lcp = codes == CodeSet::Lcp;
        let repr = match packet.code() {
            Code::ConfigureRequest => {
                check_options(data)?;
                Repr::ConfigureRequest {
                    identifier,
                    options: data,
                }
            }
            Code::ConfigureAck => {
                check_options(data)?;
                Repr::ConfigureAck {
                    identifier,
                    options: data,
                }
            }
            Code::ConfigureNak => {
                check_options(data)?;
                Repr::ConfigureNak {
                    identifier,
                    options: data,
                }
            }
            Code::ConfigureReject => {
                check_options(data)?;
                Repr::ConfigureReject {
                    identifier,
                    options: data,
                }
            }
            Code::TerminateRequest => Repr::TerminateRequest { identifier, data },
            Code::TerminateAck => Repr::TerminateAck { identifier, data },
            Code::CodeReject => Repr::CodeReject {
                identifier,
                rejected_packet: data,
            },
            Code::ProtocolReject if lcp => {
                let (p, rest) = split::<2>(data)?;
                Repr::ProtocolReject {
                    identifier,
                    rejected_protocol: Protocol::from(u16::from_be_bytes(p)),
                    rejected_information: rest,
                }
            }
            Code::EchoRequest if lcp => {
                let (m, data) = split::<4>(data)?;
                Repr::EchoRequest {
                    identifier,
                    magic_number: u32::from_be_bytes(m),
                    data,
                }
            }
            Code::EchoReply if lcp => {
                let (m, data) = split::<4>(data)?;
                Repr::EchoReply {
                    identifier,
                    magic_number: u32::from_be_bytes(m),
                    data,
                }
            }
            Code::DiscardRequest if lcp => {
                let (m, data) = split::<4>(data)?;
                Repr::DiscardRequest {
                    identifier,
                    magic_number: u32::from_be_bytes(m),
                    data,
                }
            }
            Code::Identification if lcp => {
                let (m, message) = split::<4>(data)?;
                Repr::Identification {
                    identifier,
                    magic_number: u32::from_be_bytes(m),
                    message,
                }
            }
            Code::TimeRemaining if lcp => {
                let (m, rest) = split::<4>(data)?;
                let (s, message) = split::<4>(rest)?;
                Repr::TimeRemaining {
                    identifier,
                    magic_number: u32::from_be_bytes(m),
                    seconds_remaining: u32::from_be_bytes(s),
                    message,
                }
            }
            code => Repr::Unknown {
                code: code.into(),
                identifier,
                data,
            },
        };
        Ok(repr)
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        match self {
            Repr::ConfigureRequest { .. } => Code::ConfigureRequest,
            Repr::ConfigureAck { .. } => Code::ConfigureAck,
            Repr::ConfigureNak { .. } => Code::ConfigureNak,
            Repr::ConfigureReject { .. } => Code::ConfigureReject,
            Repr::TerminateRequest { .. } => Code::TerminateRequest,
            Repr::TerminateAck { .. } => Code::TerminateAck,
            Repr::CodeReject { .. } => Code::CodeReject,
            Repr::ProtocolReject { .. } => Code::ProtocolReject,
            Repr::EchoRequest { .. } => Code::EchoRequest,
            Repr::EchoReply { .. } => Code::EchoReply,
            Repr::DiscardRequest { .. } => Code::DiscardRequest,
            Repr::Identification { .. } => Code::Identification,
            Repr::TimeRemaining { .. } => Code::TimeRemaining,
            Repr::Unknown { code, .. } => Code::from(*code),
        }
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::ConfigureRequest { identifier, .. }
            | Repr::ConfigureAck { identifier, .. }
            | Repr::ConfigureNak { identifier, .. }
            | Repr::ConfigureReject { identifier, .. }
            | Repr::TerminateRequest { identifier, .. }
            | Repr::TerminateAck { identifier, .. }
            | Repr::CodeReject { identifier, .. }
            | Repr::ProtocolReject { identifier, .. }
            | Repr::EchoRequest { identifier, .. }
            | Repr::EchoReply { identifier, .. }
            | Repr::DiscardRequest { identifier, .. }
            | Repr::Identification { identifier, .. }
            | Repr::TimeRemaining { identifier, .. }
            | Repr::Unknown { identifier, .. } => identifier,
        }
    }

    /// The raw options of a Configure-*; empty for other codes.
    pub fn options_bytes(&self) -> &'a [u8] {
        match *self {
            Repr::ConfigureRequest { options, .. }
            | Repr::ConfigureAck { options, .. }
            | Repr::ConfigureNak { options, .. }
            | Repr::ConfigureReject { options, .. } => options,
            _ => &[],
        }
    }

    /// Iterates the options of a Configure-* as `O` (e.g. `LcpOption`, or
    /// [`RawOption`] to handle each one's content error separately).
    pub fn options<O: ConfigOption<'a>>(&self) -> OptionIter<'a, O> {
        OptionIter::new(self.options_bytes())
    }

    /// Fixed fields after the header, and how many of the 8 octets they use.
    fn fixed(&self) -> ([u8; 8], usize) {
        let mut f = [0u8; 8];
        match *self {
            Repr::ProtocolReject {
                rejected_protocol, ..
            } => {
                f[..2].copy_from_slice(&u16::from(rejected_protocol).to_be_bytes());
                (f, 2)
            }
            Repr::EchoRequest { magic_number, .. }
            | Repr::EchoReply { magic_number, .. }
            | Repr::DiscardRequest { magic_number, .. }
            | Repr::Identification { magic_number, .. } => {
                f[..4].copy_from_slice(&magic_number.to_be_bytes());
                (f, 4)
            }
            Repr::TimeRemaining {
                magic_number,
                seconds_remaining,
                ..
            } => {
                f[..4].copy_from_slice(&magic_number.to_be_bytes());
                f[4..].copy_from_slice(&seconds_remaining.to_be_bytes());
                (f, 8)
            }
            _ => (f, 0),
        }
    }

    /// The variable part after the fixed fields.
    fn tail(&self) -> &'a [u8] {
        match *self {
            Repr::ConfigureRequest { options, .. }
            | Repr::ConfigureAck { options, .. }
            | Repr::ConfigureNak { options, .. }
            | Repr::ConfigureReject { options, .. } => options,
            Repr::TerminateRequest { data, .. }
            | Repr::TerminateAck { data, .. }
            | Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DiscardRequest { data, .. }
            | Repr::Unknown { data, .. } => data,
            Repr::CodeReject {
                rejected_packet, ..
            } => rejected_packet,
            Repr::ProtocolReject {
                rejected_information,
                ..
            } => rejected_information,
            Repr::Identification { message, .. } | Repr::TimeRemaining { message, .. } => message,
        }
    }

    /// Length of the emitted packet (the Length field).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.fixed().1 + self.tail().len()
    }

    /// Writes the packet. Panics if the buffer is shorter than
    /// [`buffer_len`](Self::buffer_len); a `buffer_len` above 65535 is a
    /// caller bug (see [`emit_into`](Self::emit_into) for a checked form).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let len = self.buffer_len();
        debug_assert!(len <= usize::from(u16::MAX));
        let (fixed, n) = self.fixed();
        let tail = self.tail();
        let buf = packet.buffer.as_mut();
        buf[field::CODE] = self.code().into();
        buf[field::IDENTIFIER] = self.identifier();
        buf[field::LENGTH].copy_from_slice(&(len as u16).to_be_bytes());
        buf[field::DATA..field::DATA + n].copy_from_slice(&fixed[..n]);
        buf[field::DATA + n..len].copy_from_slice(tail);
    }

    /// Writes the packet into `buf`, returning its length:
    /// [`Error::BufferTooSmall`] if it does not fit, [`Error::Malformed`]
    /// if it exceeds 65535 octets.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > usize::from(u16::MAX) {
            return Err(Error::Malformed);
        }
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        self.emit(&mut Packet::new_unchecked(buf));
        Ok(len)
    }
}

/// One Configuration Option, undecoded: Type and the octets after Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawOption<'a> {
    /// The Type field.
    pub option_type: u8,
    /// The Data field (Length minus 2 octets).
    pub data: &'a [u8],
}

/// Splits the first option off `buf` (non-empty): [`Error::Truncated`] for
/// a lone Type octet, [`Error::Malformed`] for Length < 2,
/// [`Error::LengthMismatch`] for Length past the end.
fn next_option(buf: &[u8]) -> Result<(RawOption<'_>, &[u8])> {
    let Some((&[option_type, length], _)) = buf.split_first_chunk::<2>() else {
        return Err(Error::Truncated);
    };
    let length = usize::from(length);
    if length < OPTION_HEADER_LEN {
        return Err(Error::Malformed);
    }
    let (option, rest) = buf.split_at_checked(length).ok_or(Error::LengthMismatch)?;
    let data = option.get(OPTION_HEADER_LEN..).unwrap_or(&[]);
    Ok((RawOption { option_type, data }, rest))
}

/// Checks the framing of an options list (every Length >= 2, none overrunning).
pub fn check_options(options: &[u8]) -> Result<()> {
    OptionIter::<RawOption>::new(options).try_for_each(|o| o.map(|_| ()))
}

/// Zero-copy iterator over a list of Configuration Options, yielding `O`.
///
/// A framing error (see [`check_options`]) or an `O::parse` error is
/// yielded once and ends the iteration. To go on past an option whose
/// content is bad, iterate [`RawOption`]s and call `O::parse` on each.
pub struct OptionIter<'a, O = RawOption<'a>> {
    rest: &'a [u8],
    _option: PhantomData<fn() -> O>,
}

impl<'a, O> OptionIter<'a, O> {
    /// Iterates the options in `options` (a Configure-* Data field).
    pub const fn new(options: &'a [u8]) -> Self {
        OptionIter {
            rest: options,
            _option: PhantomData,
        }
    }

    /// The octets not yet consumed (empty after an error).
    pub const fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<O> Clone for OptionIter<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for OptionIter<'_, O> {}

impl<O> fmt::Debug for OptionIter<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionIter")
            .field("rest", &self.rest)
            .finish()
    }
}

impl<'a, O: ConfigOption<'a>> Iterator for OptionIter<'a, O> {
    type Item = Result<O>;

    fn next(&mut self) -> Option<Result<O>> {
        if self.rest.is_empty() {
            return None;
        }
        let item = next_option(self.rest).and_then(|(raw, rest)| {
            self.rest = rest;
            O::parse(raw)
        });
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

impl<'a, O: ConfigOption<'a>> FusedIterator for OptionIter<'a, O> {}

/// The emitting half of a Configuration Option representation.
pub trait EmitOption {
    /// The Type field.
    fn option_type(&self) -> u8;

    /// Length of the Data field (at most [`MAX_OPTION_DATA_LEN`]).
    fn data_len(&self) -> usize;

    /// Writes the Data field into `data`, which is exactly `data_len()` long.
    fn emit_data(&self, data: &mut [u8]);

    /// Length of the whole option (the Length field).
    fn buffer_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data_len()
    }

    /// Writes Type, Length and Data into `buf[..buffer_len()]`. Panics if
    /// `buf` is shorter; data longer than [`MAX_OPTION_DATA_LEN`] is a
    /// caller bug ([`emit_options`] checks it).
    fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        debug_assert!(len <= 255);
        buf[0] = self.option_type();
        buf[1] = len as u8;
        self.emit_data(&mut buf[OPTION_HEADER_LEN..len]);
    }
}

impl<E: EmitOption + ?Sized> EmitOption for &E {
    fn option_type(&self) -> u8 {
        (**self).option_type()
    }
    fn data_len(&self) -> usize {
        (**self).data_len()
    }
    fn emit_data(&self, data: &mut [u8]) {
        (**self).emit_data(data)
    }
}

/// A Configuration Option representation of one protocol
/// (`LcpOption`, `IpcpOption`, `Ipv6cpOption`, or [`RawOption`]).
///
/// For every option `o` that `parse` returns, emitting `o` reproduces the
/// option's bytes exactly.
pub trait ConfigOption<'a>: EmitOption + Copy + fmt::Debug + PartialEq {
    /// Decodes one option; [`Error::Malformed`] if its Length is wrong for
    /// its Type.
    fn parse(option: RawOption<'a>) -> Result<Self>;
}

impl EmitOption for RawOption<'_> {
    fn option_type(&self) -> u8 {
        self.option_type
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
    fn emit_data(&self, data: &mut [u8]) {
        data.copy_from_slice(self.data)
    }
}

impl<'a> ConfigOption<'a> for RawOption<'a> {
    fn parse(option: RawOption<'a>) -> Result<Self> {
        Ok(option)
    }
}

/// Writes a list of options into `buf`, returning the octets written:
/// [`Error::BufferTooSmall`] if they do not fit, [`Error::Malformed`] if an
/// option's data exceeds [`MAX_OPTION_DATA_LEN`].
pub fn emit_options<I>(options: I, buf: &mut [u8]) -> Result<usize>
where
    I: IntoIterator,
    I::Item: EmitOption,
{
    let mut off = 0usize;
    for option in options {
        if option.data_len() > MAX_OPTION_DATA_LEN {
            return Err(Error::Malformed);
        }
        let len = option.buffer_len();
        let end = off.checked_add(len).ok_or(Error::BufferTooSmall)?;
        option.emit(buf.get_mut(off..end).ok_or(Error::BufferTooSmall)?);
        off = end;
    }
    Ok(off)
}

/// Builds a Configure-Request, -Ack, -Nak or -Reject from option reprs,
/// returning its length. [`Error::Malformed`] for another `code`, an
/// oversized option or a packet over 65535 octets;
/// [`Error::BufferTooSmall`] if `buf` is too short.
pub fn emit_configure<I>(code: Code, identifier: u8, options: I, buf: &mut [u8]) -> Result<usize>
where
    I: IntoIterator,
    I::Item: EmitOption,
{
    if !matches!(
        code,
        Code::ConfigureRequest | Code::ConfigureAck | Code::ConfigureNak | Code::ConfigureReject
    ) {
        return Err(Error::Malformed);
    }
    let body = buf.get_mut(HEADER_LEN..).ok_or(Error::BufferTooSmall)?;
    let len = HEADER_LEN + emit_options(options, body)?;
    let length = u16::try_from(len).map_err(|_| Error::Malformed)?;
    let mut packet = Packet::new_unchecked(buf);
    packet.set_code(code);
    packet.set_identifier(identifier);
    packet.set_length(length);
    Ok(len)
}

/// A PPP control protocol with Configure-* negotiation: LCP, IPCP or
/// IPv6CP. Lets one negotiation automaton be generic over all three.
pub trait ControlProtocol {
    /// The PPP Protocol field value of its packets.
    const PROTOCOL: Protocol;
    /// The codes it defines.
    const CODES: CodeSet;
    /// Its Configuration Option representation.
    type OptionRepr<'a>: ConfigOption<'a>;

    /// Checks and parses one of its packets (the PPP information field).
    fn parse(packet: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(packet)?, Self::CODES)
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // chap capture frame 12: the LAC's LCP Configure-Request (PPP payload).
    static CONF_REQ: [u8; 14] = [
        0x01, 0x01, 0x00, 0x0e, 0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0xdd, 0xec, 0x33, 0x3b,
    ];

    // malformed_samples.pcap frame 3: Configure-Request, Length 0x20, 6 octets.
    static MALFORMED_CONF_REQ: [u8; 6] = [0x01, 0x01, 0x00, 0x20, 0x01, 0x04];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&CONF_REQ[..]).unwrap();
        assert_eq!(p.code(), Code::ConfigureRequest);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 14);
        assert_eq!(p.data(), &CONF_REQ[4..]);
        let repr = Repr::parse(&p, CodeSet::Lcp).unwrap();
        assert_eq!(
            repr,
            Repr::ConfigureRequest {
                identifier: 1,
                options: &CONF_REQ[4..]
            }
        );
        assert_eq!(repr.code(), Code::ConfigureRequest);
        assert_eq!(repr.identifier(), 1);
        let raw: Vec<_> = repr.options::<RawOption>().collect();
        assert_eq!(
            raw,
            [
                Ok(RawOption {
                    option_type: 1,
                    data: &[0x05, 0x78]
                }),
                Ok(RawOption {
                    option_type: 5,
                    data: &[0xdd, 0xec, 0x33, 0x3b]
                }),
            ]
        );
    }

    #[test]
    fn malformed_sample() {
        assert_eq!(
            Packet::new_checked(&MALFORMED_CONF_REQ[..]),
            Err(Error::LengthMismatch)
        );
        let p = Packet::new_unchecked(&MALFORMED_CONF_REQ[..]);
        assert_eq!(Repr::parse(&p, CodeSet::Lcp), Err(Error::LengthMismatch));
        assert_eq!(p.data(), &[] as &[u8]);
    }

    #[test]
    fn header_truncated_and_lengths() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&CONF_REQ[..n]), Err(Error::Truncated));
        }
        for n in HEADER_LEN..CONF_REQ.len() {
            assert_eq!(
                Packet::new_checked(&CONF_REQ[..n]),
                Err(Error::LengthMismatch)
            );
        }
        for length in 0..4u8 {
            let b = [5, 1, 0, length];
            assert_eq!(Packet::new_checked(&b[..]), Err(Error::LengthMismatch));
        }
        // Padding after Length is ignored (RFC 1661 §5).
        let b = [6, 7, 0, 5, 0xaa, 0, 0, 0];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, CodeSet::Ncp),
            Ok(Repr::TerminateAck {
                identifier: 7,
                data: &[0xaa]
            })
        );
    }

    #[test]
    fn fixed_fields_too_short() {
        // Length covers the header but not the code's fixed fields.
        for (code, fixed) in [(8u8, 2usize), (9, 4), (10, 4), (11, 4), (12, 4), (13, 8)] {
            for n in 0..fixed {
                let mut b = vec![code, 1, 0, (4 + n) as u8];
                b.resize(4 + n, 0);
                let p = Packet::new_checked(&b[..]).unwrap();
                assert_eq!(Repr::parse(&p, CodeSet::Lcp), Err(Error::LengthMismatch));
                // The same codes are unknown to an NCP.
                assert_eq!(
                    Repr::parse(&p, CodeSet::Ncp),
                    Ok(Repr::Unknown {
                        code,
                        identifier: 1,
                        data: &b[4..]
                    })
                );
            }
        }
    }

    #[test]
    fn option_framing() {
        let it = |b: &'static [u8]| OptionIter::<RawOption>::new(b).collect::<Vec<_>>();
        // Length 0 and 1: one error, then the end (no infinite loop).
        assert_eq!(it(&[1, 0, 1, 4, 0, 0]), [Err(Error::Malformed)]);
        assert_eq!(it(&[1, 1]), [Err(Error::Malformed)]);
        assert_eq!(it(&[7]), [Err(Error::Truncated)]);
        assert_eq!(it(&[1, 5, 0, 0]), [Err(Error::LengthMismatch)]);
        assert_eq!(
            it(&[7, 2, 1, 4, 0]),
            [
                Ok(RawOption {
                    option_type: 7,
                    data: &[]
                }),
                Err(Error::LengthMismatch)
            ]
        );
        assert_eq!(it(&[]), []);
        assert_eq!(check_options(&[8, 2, 7, 2]), Ok(()));
        assert_eq!(check_options(&[8, 2, 7, 0]), Err(Error::Malformed));
        // Configure-* parse checks option framing.
        let b = [1, 1, 0, 6, 8, 1];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, CodeSet::Ncp), Err(Error::Malformed));
        let b = [4, 1, 0, 5, 8];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, CodeSet::Ncp), Err(Error::Truncated));
        let mut iter = OptionIter::<RawOption>::new(&b[..]);
        iter.next();
        assert_eq!(iter.remaining(), &[] as &[u8]);
        assert_eq!(iter.next(), None);
    }

    fn emitted(repr: &Repr) -> Vec<u8> {
        let mut buf = vec![0xa5u8; repr.buffer_len() + 3];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert!(buf[repr.buffer_len()..].iter().all(|&b| b == 0xa5));
        buf.truncate(repr.buffer_len());
        buf
    }

    #[test]
    fn construct() {
        let cases: [(Repr, &[u8]); 14] = [
            (
                Repr::ConfigureRequest {
                    identifier: 1,
                    options: &CONF_REQ[4..],
                },
                &CONF_REQ,
            ),
            (
                Repr::ConfigureAck {
                    identifier: 2,
                    options: &[7, 2],
                },
                &[2, 2, 0, 6, 7, 2],
            ),
            (
                Repr::ConfigureNak {
                    identifier: 3,
                    options: &[],
                },
                &[3, 3, 0, 4],
            ),
            (
                Repr::ConfigureReject {
                    identifier: 4,
                    options: &[8, 2],
                },
                &[4, 4, 0, 6, 8, 2],
            ),
            (
                Repr::TerminateRequest {
                    identifier: 5,
                    data: b"bye",
                },
                &[5, 5, 0, 7, b'b', b'y', b'e'],
            ),
            (
                Repr::TerminateAck {
                    identifier: 6,
                    data: &[],
                },
                &[6, 6, 0, 4],
            ),
            (
                Repr::CodeReject {
                    identifier: 7,
                    rejected_packet: &[0x20, 1, 0, 4],
                },
                &[7, 7, 0, 8, 0x20, 1, 0, 4],
            ),
            (
                Repr::ProtocolReject {
                    identifier: 8,
                    rejected_protocol: Protocol::Ipv6cp,
                    rejected_information: &[1, 1, 0, 4],
                },
                &[8, 8, 0, 10, 0x80, 0x57, 1, 1, 0, 4],
            ),
            (
                Repr::EchoRequest {
                    identifier: 9,
                    magic_number: 0x6b025165,
                    data: &[],
                },
                &[9, 9, 0, 8, 0x6b, 0x02, 0x51, 0x65],
            ),
            (
                Repr::EchoReply {
                    identifier: 9,
                    magic_number: 0xddec333b,
                    data: &[0xee],
                },
                &[10, 9, 0, 9, 0xdd, 0xec, 0x33, 0x3b, 0xee],
            ),
            (
                Repr::DiscardRequest {
                    identifier: 11,
                    magic_number: 0,
                    data: &[1, 2],
                },
                &[11, 11, 0, 10, 0, 0, 0, 0, 1, 2],
            ),
            (
                Repr::Identification {
                    identifier: 12,
                    magic_number: 1,
                    message: b"l2tpx",
                },
                &[12, 12, 0, 13, 0, 0, 0, 1, b'l', b'2', b't', b'p', b'x'],
            ),
            (
                Repr::TimeRemaining {
                    identifier: 13,
                    magic_number: 2,
                    seconds_remaining: 3600,
                    message: b"1h",
                },
                &[13, 13, 0, 14, 0, 0, 0, 2, 0, 0, 0x0e, 0x10, b'1', b'h'],
            ),
            (
                Repr::Unknown {
                    code: 14,
                    identifier: 14,
                    data: &[0xab],
                },
                &[14, 14, 0, 5, 0xab],
            ),
        ];
        for (repr, bytes) in cases {
            assert_eq!(emitted(&repr), bytes, "{repr:?}");
            let p = Packet::new_checked(bytes).unwrap();
            assert_eq!(Repr::parse(&p, CodeSet::Lcp), Ok(repr));
            let mut small = vec![0u8; bytes.len() - 1];
            assert_eq!(repr.emit_into(&mut small), Err(Error::BufferTooSmall));
            let mut exact = vec![0u8; bytes.len()];
            assert_eq!(repr.emit_into(&mut exact), Ok(bytes.len()));
            assert_eq!(exact, bytes);
        }
    }

    #[test]
    fn builder() {
        let opts = [
            RawOption {
                option_type: 1,
                data: &[0x05, 0x78],
            },
            RawOption {
                option_type: 5,
                data: &[0xdd, 0xec, 0x33, 0x3b],
            },
        ];
        let mut buf = [0xa5u8; 20];
        assert_eq!(
            emit_configure(Code::ConfigureRequest, 1, &opts, &mut buf),
            Ok(14)
        );
        assert_eq!(&buf[..14], &CONF_REQ);
        assert!(buf[14..].iter().all(|&b| b == 0xa5));
        // Also from an iterator of owned options.
        let mut buf2 = [0xa5u8; 14];
        assert_eq!(
            emit_configure(Code::ConfigureRequest, 1, opts.iter().copied(), &mut buf2),
            Ok(14)
        );
        assert_eq!(buf2, CONF_REQ);
        for n in 0..14 {
            let mut small = vec![0u8; n];
            assert_eq!(
                emit_configure(Code::ConfigureRequest, 1, &opts, &mut small),
                Err(Error::BufferTooSmall)
            );
        }
        assert_eq!(
            emit_configure(Code::TerminateAck, 1, &opts, &mut buf),
            Err(Error::Malformed)
        );
        let big = [0u8; 254];
        let mut out = [0u8; 300];
        assert_eq!(
            emit_options(
                [RawOption {
                    option_type: 9,
                    data: &big
                }],
                &mut out
            ),
            Err(Error::Malformed)
        );
        assert_eq!(
            emit_options(
                [RawOption {
                    option_type: 9,
                    data: &big[..253]
                }],
                &mut out
            ),
            Ok(255)
        );
        assert_eq!(out[1], 255);
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 6];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_code(Code::EchoRequest);
        p.set_identifier(3);
        p.set_length(6);
        p.data_mut().copy_from_slice(&[1, 2]);
        assert_eq!(buf, [9, 3, 0, 6, 1, 2]);
    }

    pub(crate) fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    /// `bytes` with its Length field pulled within the buffer, so that
    /// random input reaches the per-code parsers.
    pub(crate) fn plausible(bytes: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        if b.len() >= HEADER_LEN {
            let length = u16::from_be_bytes([b[2], b[3]]) % (b.len() as u16 + 1);
            b[2..4].copy_from_slice(&length.to_be_bytes());
        }
        b
    }

    /// A well-framed raw options list.
    pub(crate) fn raw_options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((any::<u8>(), bytes(12)), 0..5).prop_map(|opts| {
            let mut out = Vec::new();
            for (t, d) in opts {
                out.push(t);
                out.push((d.len() + 2) as u8);
                out.extend_from_slice(&d);
            }
            out
        })
    }

    /// Owned material for a `Repr`: (code, identifier, a, b, tail).
    pub(crate) fn repr_parts() -> impl Strategy<Value = (u8, u8, u32, u32, Vec<u8>)> {
        (1u8..=20, any::<u8>(), any::<u32>(), any::<u32>()).prop_flat_map(|(code, id, a, b)| {
            let tail = if (1..=4).contains(&code) {
                raw_options().boxed()
            } else {
                bytes(24).boxed()
            };
            (Just(code), Just(id), Just(a), Just(b), tail)
        })
    }

    pub(crate) fn make_repr(parts: &(u8, u8, u32, u32, Vec<u8>), codes: CodeSet) -> Repr<'_> {
        let (code, identifier, a, b, ref tail) = *parts;
        let tail = &tail[..];
        let lcp = codes == CodeSet::Lcp;
        match code {
            1 => Repr::ConfigureRequest {
                identifier,
                options: tail,
            },
            2 => Repr::ConfigureAck {
                identifier,
                options: tail,
            },
            3 => Repr::ConfigureNak {
                identifier,
                options: tail,
            },
            4 => Repr::ConfigureReject {
                identifier,
                options: tail,
            },
            5 => Repr::TerminateRequest {
                identifier,
                data: tail,
            },
            6 => Repr::TerminateAck {
                identifier,
                data: tail,
            },
            7 => Repr::CodeReject {
                identifier,
                rejected_packet: tail,
            },
            8 if lcp => Repr::ProtocolReject {
                identifier,
                rejected_protocol: Protocol::from(a as u16),
                rejected_information: tail,
            },
            9 if lcp => Repr::EchoRequest {
                identifier,
                magic_number: a,
                data: tail,
            },
            10 if lcp => Repr::EchoReply {
                identifier,
                magic_number: a,
                data: tail,
            },
            11 if lcp => Repr::DiscardRequest {
                identifier,
                magic_number: a,
                data: tail,
            },
            12 if lcp => Repr::Identification {
                identifier,
                magic_number: a,
                message: tail,
            },
            13 if lcp => Repr::TimeRemaining {
                identifier,
                magic_number: a,
                seconds_remaining: b,
                message: tail,
            },
            code => Repr::Unknown {
                code,
                identifier,
                data: tail,
            },
        }
    }

    proptest! {
        #[test]
        fn roundtrip(parts in repr_parts(), lcp in any::<bool>()) {
            let codes = if lcp { CodeSet::Lcp } else { CodeSet::Ncp };
            let repr = make_repr(&parts, codes);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p, codes), Ok(repr));
        }

        #[test]
        fn parse_never_panics(input in bytes(256), lcp in any::<bool>()) {
            for bytes in [input.clone(), plausible(&input)] {
                let codes = if lcp { CodeSet::Lcp } else { CodeSet::Ncp };
                let p = Packet::new_unchecked(&bytes[..]);
                let _ = (p.code(), p.identifier(), p.length(), p.data());
                for o in OptionIter::<RawOption>::new(&bytes) {
                    let _ = o;
                }
                if let Ok(repr) = Repr::parse(&p, codes) {
                    // Parse then emit reproduces the packet up to Length.
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out[..]));
                    prop_assert_eq!(&out[..], &bytes[..usize::from(p.length())]);
                    for o in repr.options::<RawOption>() {
                        prop_assert!(o.is_ok());
                    }
                }
            }
        }
    }
}
