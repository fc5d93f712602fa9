//! Attribute Value Pairs (RFC 2661 §4.1) and their typed values (§4.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! |         Attribute Type        |        Attribute Value...
//! ```

use crate::{Error, Result};

mod field {
    pub const FLAGS_LENGTH: core::ops::Range<usize> = 0..2;
    pub const VENDOR_ID: core::ops::Range<usize> = 2..4;
    pub const ATTR_TYPE: core::ops::Range<usize> = 4..6;
    pub const VALUE: usize = 6;

    pub const M: u16 = 0x8000;
    pub const H: u16 = 0x4000;
    pub const RSVD: u16 = 0x3c00;
    pub const LENGTH: u16 = 0x03ff;
}

/// AVP header length; also the smallest legal Length.
pub const AVP_HEADER_LEN: usize = 6;
/// The largest Length the 10-bit field can carry.
pub const AVP_MAX_LEN: usize = field::LENGTH as usize;
/// The longest Attribute Value an AVP can carry.
pub const AVP_MAX_VALUE_LEN: usize = AVP_MAX_LEN - AVP_HEADER_LEN;
/// Vendor ID of the IETF AVPs defined by RFC 2661.
pub const VENDOR_IETF: u16 = 0;

#[inline(always)]
fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// A read/write view of one AVP at the start of a buffer (which may hold more
/// after it: the view ends at the AVP's Length).
#[derive(Debug, Clone)]
pub struct Avp<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Avp<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Avp<T> {
        Avp { buffer }
    }

    /// Wraps a buffer and checks it with [`Avp::check_len`].
    pub fn new_checked(buffer: T) -> Result<Avp<T>> {
        let avp = Self::new_unchecked(buffer);
        avp.check_len()?;
        Ok(avp)
    }

    /// Fewer than 6 bytes: `Truncated`. A Length below 6, or past the end of
    /// the buffer (the AVP overruns its message): `LengthMismatch`.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < AVP_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = self.length() as usize;
        if len < AVP_HEADER_LEN || len > buf.len() {
            return Err(Error::LengthMismatch);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn word(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_LENGTH.start)
    }

    /// M bit.
    #[inline]
    pub fn mandatory(&self) -> bool {
        self.word() & field::M != 0
    }

    /// H bit: the value is hidden (§4.3).
    #[inline]
    pub fn hidden(&self) -> bool {
        self.word() & field::H != 0
    }

    /// The four reserved bits, right-aligned. Nonzero means the AVP must be
    /// treated as unrecognized (§4.1).
    #[inline]
    pub fn reserved(&self) -> u8 {
        ((self.word() & field::RSVD) >> 10) as u8
    }

    /// Length, header included.
    #[inline]
    pub fn length(&self) -> u16 {
        self.word() & field::LENGTH
    }

    /// Vendor ID (0 for the IETF AVPs).
    #[inline]
    pub fn vendor_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VENDOR_ID.start)
    }

    /// Attribute Type.
    #[inline]
    pub fn attr_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ATTR_TYPE.start)
    }

    /// Attribute Value (hidden form if H is set).
    #[inline]
    pub fn value(&self) -> &[u8] {
        let end = self.length() as usize;
        self.buffer.as_ref().get(field::VALUE..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Avp<T> {
    /// Sets M, H, the reserved bits and Length at once.
    #[inline]
    pub fn set_header(&mut self, mandatory: bool, hidden: bool, reserved: u8, length: u16) {
        let mut word = length & field::LENGTH;
        word |= (u16::from(reserved) << 10) & field::RSVD;
        if mandatory {
            word |= field::M;
        }
        if hidden {
            word |= field::H;
        }
        self.buffer.as_mut()[field::FLAGS_LENGTH].copy_from_slice(&word.to_be_bytes());
    }

    /// Sets Vendor ID.
    #[inline]
    pub fn set_vendor_id(&mut self, value: u16) {
        self.buffer.as_mut()[field::VENDOR_ID].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Attribute Type.
    #[inline]
    pub fn set_attr_type(&mut self, value: u16) {
        self.buffer.as_mut()[field::ATTR_TYPE].copy_from_slice(&value.to_be_bytes());
    }

    /// The value, mutable (as long as Length says).
    #[inline]
    pub fn value_mut(&mut self) -> &mut [u8] {
        let end = self.length() as usize;
        self.buffer
            .as_mut()
            .get_mut(field::VALUE..end)
            .unwrap_or(&mut [])
    }
}

/// One AVP as it is on the wire: round-trips any AVP byte-exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvpRepr<'a> {
    /// M bit.
    pub mandatory: bool,
    /// H bit: `value` is in hidden form (§4.3).
    pub hidden: bool,
    /// The four reserved bits (0 when building; nonzero = unrecognized AVP).
    pub reserved: u8,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Attribute Type.
    pub attr_type: u16,
    /// Attribute Value as on the wire.
    pub value: &'a [u8],
}

impl<'a> AvpRepr<'a> {
    /// An IETF AVP with the M bit the RFC prescribes for its type.
    pub fn new(attr_type: AvpType, value: &'a [u8]) -> AvpRepr<'a> {
        AvpRepr {
            mandatory: attr_type.default_mandatory(),
            hidden: false,
            reserved: 0,
            vendor_id: VENDOR_IETF,
            attr_type: attr_type.into(),
            value,
        }
    }

    /// A vendor-specific (or otherwise raw) AVP.
    pub fn vendor(vendor_id: u16, attr_type: u16, mandatory: bool, value: &'a [u8]) -> AvpRepr<'a> {
        AvpRepr {
            mandatory,
            hidden: false,
            reserved: 0,
            vendor_id,
            attr_type,
            value,
        }
    }

    /// Parses a checked AVP view.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(avp: &Avp<&'a T>) -> Result<AvpRepr<'a>> {
        Self::parse_bytes(avp.buffer.as_ref()).map(|(repr, _)| repr)
    }

    /// Parses the AVP at the start of `buf`, returning it and its length.
    pub fn parse_bytes(buf: &'a [u8]) -> Result<(AvpRepr<'a>, usize)> {
        let avp = Avp::new_checked(buf)?;
        let len = avp.length() as usize;
        Ok((
            AvpRepr {
                mandatory: avp.mandatory(),
                hidden: avp.hidden(),
                reserved: avp.reserved(),
                vendor_id: avp.vendor_id(),
                attr_type: avp.attr_type(),
                value: buf.get(field::VALUE..len).ok_or(Error::LengthMismatch)?,
            },
            len,
        ))
    }

    /// True for an RFC 2661 AVP (Vendor ID 0).
    pub fn is_ietf(&self) -> bool {
        self.vendor_id == VENDOR_IETF
    }

    /// True for the given IETF attribute.
    pub fn is(&self, attr_type: AvpType) -> bool {
        self.is_ietf() && self.attr_type == u16::from(attr_type)
    }

    /// The AVP's whole length (header plus value).
    pub fn buffer_len(&self) -> usize {
        AVP_HEADER_LEN + self.value.len()
    }

    /// Writes the AVP into `buf[..buffer_len()]`.
    ///
    /// Panics if `buf` is too short. A value longer than
    /// [`AVP_MAX_VALUE_LEN`] is a caller bug (Length would wrap); use
    /// [`AvpRepr::emit_checked`] where that can happen.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let mut avp = Avp::new_unchecked(&mut buf[..len]);
        avp.set_header(self.mandatory, self.hidden, self.reserved, len as u16);
        avp.set_vendor_id(self.vendor_id);
        avp.set_attr_type(self.attr_type);
        buf[field::VALUE..len].copy_from_slice(self.value);
    }

    /// [`AvpRepr::emit`] that checks first: `BufferTooSmall` if `buf` is too
    /// short, `LengthMismatch` if the value does not fit a 10-bit Length.
    pub fn emit_checked(&self, buf: &mut [u8]) -> Result<usize> {
        if self.value.len() > AVP_MAX_VALUE_LEN {
            return Err(Error::LengthMismatch);
        }
        if buf.len() < self.buffer_len() {
            return Err(Error::BufferTooSmall);
        }
        self.emit(buf);
        Ok(self.buffer_len())
    }

    /// Decodes the value by type (§4.4). A hidden AVP gives `Error::Hidden`
    /// (reveal it first, see [`AvpRepr::reveal`](super::AvpRepr::reveal));
    /// one with reserved bits set decodes as [`AvpValue::Unknown`] (§4.1).
    pub fn typed(&self) -> Result<AvpValue<'a>> {
        if self.hidden {
            return Err(Error::Hidden);
        }
        if self.reserved != 0 {
            return Ok(AvpValue::Unknown {
                vendor_id: self.vendor_id,
                attr_type: self.attr_type,
                value: self.value,
            });
        }
        AvpValue::parse(self.vendor_id, self.attr_type, self.value)
    }
}

/// Zero-copy iterator over the AVPs of a control message payload.
///
/// Yields `Err` once (then stops) at the first AVP that does not parse. It also
/// remembers the most recent Random Vector AVP, which applies to the hidden
/// AVPs that follow it (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvpIter<'a> {
    rest: &'a [u8],
    random_vector: Option<&'a [u8]>,
}

impl<'a> AvpIter<'a> {
    /// Iterates over the AVPs in `payload`.
    pub const fn new(payload: &'a [u8]) -> AvpIter<'a> {
        AvpIter {
            rest: payload,
            random_vector: None,
        }
    }

    /// The bytes not yet iterated over.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The value of the last Random Vector AVP yielded so far, if any.
    pub fn random_vector(&self) -> Option<&'a [u8]> {
        self.random_vector
    }

    /// Adapts the iterator to yield each AVP together with the Random Vector
    /// in force for it (§4.3), ready for [`AvpRepr::reveal`](super::AvpRepr::reveal).
    pub fn with_random_vector(self) -> WithRandomVector<'a> {
        WithRandomVector { inner: self }
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<AvpRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match AvpRepr::parse_bytes(self.rest) {
            Ok((repr, len)) => {
                self.rest = self.rest.get(len..).unwrap_or(&[]);
                if repr.is(AvpType::RandomVector) && !repr.hidden {
                    self.random_vector = Some(repr.value);
                }
                Some(Ok(repr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// [`AvpIter`] yielding `(avp, random vector in force)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithRandomVector<'a> {
    inner: AvpIter<'a>,
}

impl<'a> Iterator for WithRandomVector<'a> {
    type Item = Result<(AvpRepr<'a>, Option<&'a [u8]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(item.map(|avp| (avp, self.inner.random_vector)))
    }
}

enum_with_unknown! {
    /// IETF Attribute Types (§4.4, Vendor ID 0). 20 is unassigned.
    pub enum AvpType(u16) {
        /// §4.4.1, all messages; must be first.
        MessageType = 0,
        /// §4.4.2, CDN and StopCCN.
        ResultCode = 1,
        /// §4.4.3.
        ProtocolVersion = 2,
        /// §4.4.3.
        FramingCapabilities = 3,
        /// §4.4.3.
        BearerCapabilities = 4,
        /// §4.4.3.
        TieBreaker = 5,
        /// §4.4.3.
        FirmwareRevision = 6,
        /// §4.4.3.
        HostName = 7,
        /// §4.4.3.
        VendorName = 8,
        /// §4.4.3.
        AssignedTunnelId = 9,
        /// §4.4.3.
        ReceiveWindowSize = 10,
        /// §4.4.3.
        Challenge = 11,
        /// §4.4.4.
        Q931CauseCode = 12,
        /// §4.4.3.
        ChallengeResponse = 13,
        /// §4.4.4.
        AssignedSessionId = 14,
        /// §4.4.4.
        CallSerialNumber = 15,
        /// §4.4.4.
        MinimumBps = 16,
        /// §4.4.4.
        MaximumBps = 17,
        /// §4.4.4.
        BearerType = 18,
        /// §4.4.4.
        FramingType = 19,
        /// §4.4.4.
        CalledNumber = 21,
        /// §4.4.4.
        CallingNumber = 22,
        /// §4.4.4.
        SubAddress = 23,
        /// §4.4.4, (Tx) Connect Speed.
        TxConnectSpeed = 24,
        /// §4.4.4.
        PhysicalChannelId = 25,
        /// §4.4.5.
        InitialReceivedLcpConfreq = 26,
        /// §4.4.5.
        LastSentLcpConfreq = 27,
        /// §4.4.5.
        LastReceivedLcpConfreq = 28,
        /// §4.4.5.
        ProxyAuthenType = 29,
        /// §4.4.5.
        ProxyAuthenName = 30,
        /// §4.4.5.
        ProxyAuthenChallenge = 31,
        /// §4.4.5.
        ProxyAuthenId = 32,
        /// §4.4.5.
        ProxyAuthenResponse = 33,
        /// §4.4.6.
        CallErrors = 34,
        /// §4.4.6.
        Accm = 35,
        /// §4.4.1.
        RandomVector = 36,
        /// §4.4.4.
        PrivateGroupId = 37,
        /// §4.4.4.
        RxConnectSpeed = 38,
        /// §4.4.4.
        SequencingRequired = 39,
    }
}

impl AvpType {
    /// The M bit §4.4 requires for this AVP (false for unknown types).
    pub fn default_mandatory(self) -> bool {
        use AvpType::*;
        !matches!(
            self,
            TieBreaker
                | FirmwareRevision
                | VendorName
                | PhysicalChannelId
                | InitialReceivedLcpConfreq
                | LastSentLcpConfreq
                | LastReceivedLcpConfreq
                | ProxyAuthenType
                | ProxyAuthenName
                | ProxyAuthenChallenge
                | ProxyAuthenId
                | ProxyAuthenResponse
                | PrivateGroupId
                | RxConnectSpeed
                | Unknown(_)
        )
    }

    /// Whether §4.4 allows the H bit on this AVP.
    pub fn may_be_hidden(self) -> bool {
        use AvpType::*;
        !matches!(
            self,
            MessageType
                | ResultCode
                | ProtocolVersion
                | TieBreaker
                | HostName
                | ReceiveWindowSize
                | Q931CauseCode
                | RandomVector
                | SequencingRequired
        )
    }
}

enum_with_unknown! {
    /// Control message types, the value of the Message Type AVP (§3.2).
    pub enum MessageType(u16) {
        /// Start-Control-Connection-Request.
        Sccrq = 1,
        /// Start-Control-Connection-Reply.
        Sccrp = 2,
        /// Start-Control-Connection-Connected.
        Scccn = 3,
        /// Stop-Control-Connection-Notification.
        StopCcn = 4,
        /// Hello (keepalive).
        Hello = 6,
        /// Outgoing-Call-Request.
        Ocrq = 7,
        /// Outgoing-Call-Reply.
        Ocrp = 8,
        /// Outgoing-Call-Connected.
        Occn = 9,
        /// Incoming-Call-Request.
        Icrq = 10,
        /// Incoming-Call-Reply.
        Icrp = 11,
        /// Incoming-Call-Connected.
        Iccn = 12,
        /// Call-Disconnect-Notify.
        Cdn = 14,
        /// WAN-Error-Notify.
        Wen = 15,
        /// Set-Link-Info.
        Sli = 16,
    }
}

impl MessageType {
    /// True for the messages that belong to a session (Session ID
    /// significant) rather than to the tunnel as a whole.
    pub fn is_session_message(self) -> bool {
        use MessageType::*;
        matches!(
            self,
            Ocrq | Ocrp | Occn | Icrq | Icrp | Iccn | Cdn | Wen | Sli
        )
    }
}

enum_with_unknown! {
    /// Result Code values of a StopCCN (§4.4.2).
    pub enum StopCcnResult(u16) {
        /// General request to clear control connection.
        GeneralRequest = 1,
        /// General error; Error Code indicates the problem.
        GeneralError = 2,
        /// Control channel already exists.
        AlreadyExists = 3,
        /// Requester is not authorized to establish a control channel.
        NotAuthorized = 4,
        /// Protocol version not supported; Error Code gives the highest supported.
        UnsupportedVersion = 5,
        /// Requester is being shut down.
        ShuttingDown = 6,
        /// Finite State Machine error.
        FsmError = 7,
    }
}

enum_with_unknown! {
    /// Result Code values of a CDN (§4.4.2).
    pub enum CdnResult(u16) {
        /// Call disconnected due to loss of carrier.
        LostCarrier = 1,
        /// Call disconnected for the reason indicated in Error Code.
        GeneralError = 2,
        /// Call disconnected for administrative reasons.
        Administrative = 3,
        /// Lack of appropriate facilities (temporary condition).
        TemporaryNoFacilities = 4,
        /// Lack of appropriate facilities (permanent condition).
        PermanentNoFacilities = 5,
        /// Invalid destination.
        InvalidDestination = 6,
        /// No carrier detected.
        NoCarrier = 7,
        /// Busy signal detected.
        Busy = 8,
        /// No dial tone.
        NoDialTone = 9,
        /// Not established within time allotted by LAC.
        Timeout = 10,
        /// Connected but no appropriate framing detected.
        NoFraming = 11,
    }
}

enum_with_unknown! {
    /// General Error Codes of the Result Code AVP (§4.4.2).
    pub enum ErrorCode(u16) {
        /// No general error.
        NoError = 0,
        /// No control connection exists yet for this LAC-LNS pair.
        NoControlConnection = 1,
        /// Length is wrong.
        BadLength = 2,
        /// A field value was out of range or a reserved field was nonzero.
        BadValue = 3,
        /// Insufficient resources to handle this operation now.
        NoResources = 4,
        /// The Session ID is invalid in this context.
        InvalidSessionId = 5,
        /// A generic vendor-specific error occurred in the LAC.
        VendorSpecific = 6,
        /// Try another LNS.
        TryAnother = 7,
        /// Shut down on receipt of an unknown AVP with the M bit set.
        UnknownMandatoryAvp = 8,
    }
}

enum_with_unknown! {
    /// Proxy Authen Type values (§4.4.5).
    pub enum ProxyAuthenType(u16) {
        /// Textual username/password exchange.
        Textual = 1,
        /// PPP CHAP.
        Chap = 2,
        /// PPP PAP.
        Pap = 3,
        /// No authentication.
        NoAuthentication = 4,
        /// Microsoft CHAP version 1.
        MsChapV1 = 5,
    }
}

/// A Framing Capabilities / Framing Type bit mask (§4.4.3, §4.4.4). The raw
/// word is kept so reserved bits round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Framing(pub u32);

impl Framing {
    /// S bit: synchronous framing.
    pub const SYNC: u32 = 0x1;
    /// A bit: asynchronous framing.
    pub const ASYNC: u32 = 0x2;

    /// S bit.
    pub fn synchronous(self) -> bool {
        self.0 & Self::SYNC != 0
    }

    /// A bit.
    pub fn asynchronous(self) -> bool {
        self.0 & Self::ASYNC != 0
    }
}

/// A Bearer Capabilities / Bearer Type bit mask (§4.4.3, §4.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bearer(pub u32);

impl Bearer {
    /// D bit: digital.
    pub const DIGITAL: u32 = 0x1;
    /// A bit: analog.
    pub const ANALOG: u32 = 0x2;

    /// D bit.
    pub fn digital(self) -> bool {
        self.0 & Self::DIGITAL != 0
    }

    /// A bit.
    pub fn analog(self) -> bool {
        self.0 & Self::ANALOG != 0
    }
}

/// The Call Errors AVP value (§4.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CallErrors {
    /// Reserved, sent as 0 but kept as received.
    pub reserved: u16,
    /// PPP frames received with CRC errors.
    pub crc_errors: u32,
    /// Improperly framed PPP packets received.
    pub framing_errors: u32,
    /// Receive buffer overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns detected.
    pub buffer_overruns: u32,
    /// Time-outs.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

/// A decoded AVP value (§4.4). Fixed-size values of the wrong length are
/// `Error::Malformed`; vendor AVPs and unknown types are [`AvpValue::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AvpValue<'a> {
    /// 0: Message Type.
    MessageType(MessageType),
    /// 1: Result Code. `message` is only emitted when `error` is present;
    /// both presences round-trip.
    ResultCode {
        /// Result Code (see [`StopCcnResult`], [`CdnResult`]).
        result: u16,
        /// Optional Error Code (see [`ErrorCode`]).
        error: Option<u16>,
        /// Optional Error Message (UTF-8 text); empty if absent.
        message: &'a [u8],
    },
    /// 2: Protocol Version (1.0 for RFC 2661).
    ProtocolVersion {
        /// Ver.
        version: u8,
        /// Rev.
        revision: u8,
    },
    /// 3: Framing Capabilities.
    FramingCapabilities(Framing),
    /// 4: Bearer Capabilities.
    BearerCapabilities(Bearer),
    /// 5: Tie Breaker.
    TieBreaker(u64),
    /// 6: Firmware Revision.
    FirmwareRevision(u16),
    /// 7: Host Name.
    HostName(&'a [u8]),
    /// 8: Vendor Name.
    VendorName(&'a [u8]),
    /// 9: Assigned Tunnel ID.
    AssignedTunnelId(u16),
    /// 10: Receive Window Size.
    ReceiveWindowSize(u16),
    /// 11: Challenge.
    Challenge(&'a [u8]),
    /// 12: Q.931 Cause Code.
    Q931CauseCode {
        /// Q.931 cause code.
        cause_code: u16,
        /// Q.931 message code.
        cause_msg: u8,
        /// Optional advisory text; empty if absent.
        advisory: &'a [u8],
    },
    /// 13: Challenge Response.
    ChallengeResponse(&'a [u8; 16]),
    /// 14: Assigned Session ID.
    AssignedSessionId(u16),
    /// 15: Call Serial Number.
    CallSerialNumber(u32),
    /// 16: Minimum BPS.
    MinimumBps(u32),
    /// 17: Maximum BPS.
    MaximumBps(u32),
    /// 18: Bearer Type.
    BearerType(Bearer),
    /// 19: Framing Type.
    FramingType(Framing),
    /// 21: Called Number.
    CalledNumber(&'a [u8]),
    /// 22: Calling Number.
    CallingNumber(&'a [u8]),
    /// 23: Sub-Address.
    SubAddress(&'a [u8]),
    /// 24: (Tx) Connect Speed.
    TxConnectSpeed(u32),
    /// 25: Physical Channel ID.
    PhysicalChannelId(u32),
    /// 26: Initial Received LCP CONFREQ (options only).
    InitialReceivedLcpConfreq(&'a [u8]),
    /// 27: Last Sent LCP CONFREQ (options only).
    LastSentLcpConfreq(&'a [u8]),
    /// 28: Last Received LCP CONFREQ (options only).
    LastReceivedLcpConfreq(&'a [u8]),
    /// 29: Proxy Authen Type.
    ProxyAuthenType(ProxyAuthenType),
    /// 30: Proxy Authen Name.
    ProxyAuthenName(&'a [u8]),
    /// 31: Proxy Authen Challenge.
    ProxyAuthenChallenge(&'a [u8]),
    /// 32: Proxy Authen ID.
    ProxyAuthenId {
        /// Most significant octet, which must be 0 but is kept as received.
        reserved: u8,
        /// The PPP authentication Identifier.
        id: u8,
    },
    /// 33: Proxy Authen Response.
    ProxyAuthenResponse(&'a [u8]),
    /// 34: Call Errors.
    CallErrors(CallErrors),
    /// 35: ACCM.
    Accm {
        /// Reserved, kept as received.
        reserved: u16,
        /// Send ACCM.
        send_accm: u32,
        /// Receive ACCM.
        receive_accm: u32,
    },
    /// 36: Random Vector.
    RandomVector(&'a [u8]),
    /// 37: Private Group ID.
    PrivateGroupId(&'a [u8]),
    /// 38: Rx Connect Speed.
    RxConnectSpeed(u32),
    /// 39: Sequencing Required (no value).
    SequencingRequired,
    /// A vendor AVP, an unassigned type, or one with reserved bits set: raw.
    Unknown {
        /// Vendor ID.
        vendor_id: u16,
        /// Attribute Type.
        attr_type: u16,
        /// Value as received.
        value: &'a [u8],
    },
}

fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N]> {
    value.try_into().map_err(|_| Error::Malformed)
}

fn u16_of(value: &[u8]) -> Result<u16> {
    fixed::<2>(value).map(u16::from_be_bytes)
}

fn u32_of(value: &[u8]) -> Result<u32> {
    fixed::<4>(value).map(u32::from_be_bytes)
}

fn u32_at(value: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([value[at], value[at + 1], value[at + 2], value[at + 3]])
}

impl<'a> AvpValue<'a> {
    /// Decodes a cleartext value of the given attribute.
    pub fn parse(vendor_id: u16, attr_type: u16, value: &'a [u8]) -> Result<AvpValue<'a>> {
        use AvpValue as V;
        if vendor_id != VENDOR_IETF {
            return Ok(V::Unknown {
                vendor_id,
                attr_type,
                value,
            });
        }
        Ok(match AvpType::from(attr_type) {
            AvpType::MessageType => V::MessageType(u16_of(value)?.into()),
            AvpType::ResultCode => {
                let result = match value.get(..2) {
                    Some(r) => be16(r, 0),
                    None => return Err(Error::Malformed),
                };
                let error = match value.len() {
                    2 => None,
                    3 => return Err(Error::Malformed),
                    _ => Some(be16(value, 2)),
                };
                V::ResultCode {
                    result,
                    error,
                    message: value.get(4..).unwrap_or(&[]),
                }
            }
            AvpType::ProtocolVersion => {
                let [version, revision] = fixed(value)?;
                V::ProtocolVersion { version, revision }
            }
            AvpType::FramingCapabilities => V::FramingCapabilities(Framing(u32_of(value)?)),
            AvpType::BearerCapabilities => V::BearerCapabilities(Bearer(u32_of(value)?)),
            AvpType::TieBreaker => V::TieBreaker(u64::from_be_bytes(fixed(value)?)),
            AvpType::FirmwareRevision => V::FirmwareRevision(u16_of(value)?),
            AvpType::HostName => V::HostName(value),
            AvpType::VendorName => V::VendorName(value),
            AvpType::AssignedTunnelId => V::AssignedTunnelId(u16_of(value)?),
            AvpType::ReceiveWindowSize => V::ReceiveWindowSize(u16_of(value)?),
            AvpType::Challenge => V::Challenge(value),
            AvpType::Q931CauseCode => {
                if value.len() < 3 {
                    return Err(Error::Malformed);
                }
                V::Q931CauseCode {
                    cause_code: be16(value, 0),
                    cause_msg: value[2],
                    advisory: &value[3..],
                }
            }
            AvpType::ChallengeResponse => {
                V::ChallengeResponse(value.try_into().map_err(|_| Error::Malformed)?)
            }
            AvpType::AssignedSessionId => V::AssignedSessionId(u16_of(value)?),
            AvpType::CallSerialNumber => V::CallSerialNumber(u32_of(value)?),
            AvpType::MinimumBps => V::MinimumBps(u32_of(value)?),
            AvpType::MaximumBps => V::MaximumBps(u32_of(value)?),
            AvpType::BearerType => V::BearerType(Bearer(u32_of(value)?)),
            AvpType::FramingType => V::FramingType(Framing(u32_of(value)?)),
            AvpType::CalledNumber => V::CalledNumber(value),
            AvpType::CallingNumber => V::CallingNumber(value),
            AvpType::SubAddress => V::SubAddress(value),
            AvpType::TxConnectSpeed => V::TxConnectSpeed(u32_of(value)?),
            AvpType::PhysicalChannelId => V::PhysicalChannelId(u32_of(value)?),
            AvpType::InitialReceivedLcpConfreq => V::InitialReceivedLcpConfreq(value),
            AvpType::LastSentLcpConfreq => V::LastSentLcpConfreq(value),
            AvpType::LastReceivedLcpConfreq => V::LastReceivedLcpConfreq(value),
            AvpType::ProxyAuthenType => V::ProxyAuthenType(u16_of(value)?.into()),
            AvpType::ProxyAuthenName => V::ProxyAuthenName(value),
            AvpType::ProxyAuthenChallenge => V::ProxyAuthenChallenge(value),
            AvpType::ProxyAuthenId => {
                let [reserved, id] = fixed(value)?;
                V::ProxyAuthenId { reserved, id }
            }
            AvpType::ProxyAuthenResponse => V::ProxyAuthenResponse(value),
            AvpType::CallErrors => {
                let v: [u8; 26] = fixed(value)?;
                V::CallErrors(CallErrors {
                    reserved: be16(&v, 0),
                    crc_errors: u32_at(&v, 2),
                    framing_errors: u32_at(&v, 6),
                    hardware_overruns: u32_at(&v, 10),
                    buffer_overruns: u32_at(&v, 14),
                    timeout_errors: u32_at(&v, 18),
                    alignment_errors: u32_at(&v, 22),
                })
            }
            AvpType::Accm => {
                let v: [u8; 10] = fixed(value)?;
                V::Accm {
                    reserved: be16(&v, 0),
                    send_accm: u32_at(&v, 2),
                    receive_accm: u32_at(&v, 6),
                }
            }
            AvpType::RandomVector => V::RandomVector(value),
            AvpType::PrivateGroupId => V::PrivateGroupId(value),
            AvpType::RxConnectSpeed => V::RxConnectSpeed(u32_of(value)?),
            AvpType::SequencingRequired => {
                if !value.is_empty() {
                    return Err(Error::Malformed);
                }
                V::SequencingRequired
            }
            AvpType::Unknown(_) => V::Unknown {
                vendor_id,
                attr_type,
                value,
            },
        })
    }

    /// Vendor ID (0 except for [`AvpValue::Unknown`]).
    pub fn vendor_id(&self) -> u16 {
        match self {
            AvpValue::Unknown { vendor_id, .. } => *vendor_id,
            _ => VENDOR_IETF,
        }
    }

    /// Attribute Type.
    pub fn attr_type(&self) -> u16 {
        use AvpType as T;
        use AvpValue as V;
        let t = match self {
            V::MessageType(_) => T::MessageType,
            V::ResultCode { .. } => T::ResultCode,
            V::ProtocolVersion { .. } => T::ProtocolVersion,
            V::FramingCapabilities(_) => T::FramingCapabilities,
            V::BearerCapabilities(_) => T::BearerCapabilities,
            V::TieBreaker(_) => T::TieBreaker,
            V::FirmwareRevision(_) => T::FirmwareRevision,
            V::HostName(_) => T::HostName,
            V::VendorName(_) => T::VendorName,
            V::AssignedTunnelId(_) => T::AssignedTunnelId,
            V::ReceiveWindowSize(_) => T::ReceiveWindowSize,
            V::Challenge(_) => T::Challenge,
            V::Q931CauseCode { .. } => T::Q931CauseCode,
            V::ChallengeResponse(_) => T::ChallengeResponse,
            V::AssignedSessionId(_) => T::AssignedSessionId,
            V::CallSerialNumber(_) => T::CallSerialNumber,
            V::MinimumBps(_) => T::MinimumBps,
            V::MaximumBps(_) => T::MaximumBps,
            V::BearerType(_) => T::BearerType,
            V::FramingType(_) => T::FramingType,
            V::CalledNumber(_) => T::CalledNumber,
            V::CallingNumber(_) => T::CallingNumber,
            V::SubAddress(_) => T::SubAddress,
            V::TxConnectSpeed(_) => T::TxConnectSpeed,
            V::PhysicalChannelId(_) => T::PhysicalChannelId,
            V::InitialReceivedLcpConfreq(_) => T::InitialReceivedLcpConfreq,
            V::LastSentLcpConfreq(_) => T::LastSentLcpConfreq,
            V::LastReceivedLcpConfreq(_) => T::LastReceivedLcpConfreq,
            V::ProxyAuthenType(_) => T::ProxyAuthenType,
            V::ProxyAuthenName(_) => T::ProxyAuthenName,
            V::ProxyAuthenChallenge(_) => T::ProxyAuthenChallenge,
            V::ProxyAuthenId { .. } => T::ProxyAuthenId,
            V::ProxyAuthenResponse(_) => T::ProxyAuthenResponse,
            V::CallErrors(_) => T::CallErrors,
            V::Accm { .. } => T::Accm,
            V::RandomVector(_) => T::RandomVector,
            V::PrivateGroupId(_) => T::PrivateGroupId,
            V::RxConnectSpeed(_) => T::RxConnectSpeed,
            V::SequencingRequired => T::SequencingRequired,
            V::Unknown { attr_type, .. } => return *attr_type,
        };
        t.into()
    }

    /// The IETF type (`AvpType::Unknown` for vendor AVPs too).
    pub fn avp_type(&self) -> AvpType {
        match self {
            AvpValue::Unknown { .. } => AvpType::Unknown(self.attr_type()),
            _ => AvpType::from(self.attr_type()),
        }
    }

    /// The M bit §4.4 prescribes (false for [`AvpValue::Unknown`]).
    pub fn default_mandatory(&self) -> bool {
        self.avp_type().default_mandatory()
    }

    /// Length of the encoded Attribute Value.
    pub fn value_len(&self) -> usize {
        use AvpValue as V;
        match self {
            V::SequencingRequired => 0,
            V::MessageType(_)
            | V::ProtocolVersion { .. }
            | V::FirmwareRevision(_)
            | V::AssignedTunnelId(_)
            | V::ReceiveWindowSize(_)
            | V::AssignedSessionId(_)
            | V::ProxyAuthenType(_)
            | V::ProxyAuthenId { .. } => 2,
            V::FramingCapabilities(_)
            | V::BearerCapabilities(_)
            | V::CallSerialNumber(_)
            | V::MinimumBps(_)
            | V::MaximumBps(_)
            | V::BearerType(_)
            | V::FramingType(_)
            | V::TxConnectSpeed(_)
            | V::PhysicalChannelId(_)
            | V::RxConnectSpeed(_) => 4,
            V::TieBreaker(_) => 8,
            V::Accm { .. } => 10,
            V::ChallengeResponse(_) => 16,
            V::CallErrors(_) => 26,
            V::ResultCode { error, message, .. } => match error {
                None => 2,
                Some(_) => 4 + message.len(),
            },
            V::Q931CauseCode { advisory, .. } => 3 + advisory.len(),
            V::HostName(s)
            | V::VendorName(s)
            | V::Challenge(s)
            | V::CalledNumber(s)
            | V::CallingNumber(s)
            | V::SubAddress(s)
            | V::InitialReceivedLcpConfreq(s)
            | V::LastSentLcpConfreq(s)
            | V::LastReceivedLcpConfreq(s)
            | V::ProxyAuthenName(s)
            | V::ProxyAuthenChallenge(s)
            | V::ProxyAuthenResponse(s)
            | V::RandomVector(s)
            | V::PrivateGroupId(s)
            | V::Unknown { value: s, .. } => s.len(),
        }
    }

    /// Writes the Attribute Value into `buf[..value_len()]`. Panics if short.
    pub fn emit_value(&self, buf: &mut [u8]) {
        use AvpValue as V;
        let buf = &mut buf[..self.value_len()];
        let put16 =
            |buf: &mut [u8], at: usize, v: u16| buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
        let put32 =
            |buf: &mut [u8], at: usize, v: u32| buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
        match *self {
            V::SequencingRequired => {}
            V::MessageType(t) => put16(buf, 0, t.into()),
            V::ProtocolVersion { version, revision } => {
                buf[0] = version;
                buf[1] = revision;
            }
            V::FirmwareRevision(v)
            | V::AssignedTunnelId(v)
            | V::ReceiveWindowSize(v)
            | V::AssignedSessionId(v) => put16(buf, 0, v),
            V::ProxyAuthenType(t) => put16(buf, 0, t.into()),
            V::ProxyAuthenId { reserved, id } => {
                buf[0] = reserved;
                buf[1] = id;
            }
            V::FramingCapabilities(Framing(v))
            | V::BearerCapabilities(Bearer(v))
            | V::BearerType(Bearer(v))
            | V::FramingType(Framing(v))
            | V::CallSerialNumber(v)
            | V::MinimumBps(v)
            | V::MaximumBps(v)
            | V::TxConnectSpeed(v)
            | V::PhysicalChannelId(v)
            | V::RxConnectSpeed(v) => put32(buf, 0, v),
            V::TieBreaker(v) => buf.copy_from_slice(&v.to_be_bytes()),
            V::Accm {
                reserved,
                send_accm,
                receive_accm,
            } => {
                put16(buf, 0, reserved);
                put32(buf, 2, send_accm);
                put32(buf, 6, receive_accm);
            }
            V::ChallengeResponse(r) => buf.copy_from_slice(r),
            V::CallErrors(e) => {
                put16(buf, 0, e.reserved);
                put32(buf, 2, e.crc_errors);
                put32(buf, 6, e.framing_errors);
                put32(buf, 10, e.hardware_overruns);
                put32(buf, 14, e.buffer_overruns);
                put32(buf, 18, e.timeout_errors);
                put32(buf, 22, e.alignment_errors);
            }
            V::ResultCode {
                result,
                error,
                message,
            } => {
                put16(buf, 0, result);
                if let Some(error) = error {
                    put16(buf, 2, error);
                    buf[4..].copy_from_slice(message);
                }
            }
            V::Q931CauseCode {
                cause_code,
                cause_msg,
                advisory,
            } => {
                put16(buf, 0, cause_code);
                buf[2] = cause_msg;
                buf[3..].copy_from_slice(advisory);
            }
            V::HostName(s)
            | V::VendorName(s)
            | V::Challenge(s)
            | V::CalledNumber(s)
            | V::CallingNumber(s)
            | V::SubAddress(s)
            | V::InitialReceivedLcpConfreq(s)
            | V::LastSentLcpConfreq(s)
            | V::LastReceivedLcpConfreq(s)
            | V::ProxyAuthenName(s)
            | V::ProxyAuthenChallenge(s)
            | V::ProxyAuthenResponse(s)
            | V::RandomVector(s)
            | V::PrivateGroupId(s)
            | V::Unknown { value: s, .. } => buf.copy_from_slice(s),
        }
    }

    /// Length of the whole AVP (header plus value, unhidden).
    pub fn buffer_len(&self) -> usize {
        AVP_HEADER_LEN + self.value_len()
    }

    /// Writes the whole AVP (H clear, reserved bits 0, M as given) into
    /// `buf`, returning its length: `BufferTooSmall` if `buf` is too short,
    /// `LengthMismatch` if the value does not fit a 10-bit Length.
    pub fn emit(&self, mandatory: bool, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if len > AVP_MAX_LEN {
            return Err(Error::LengthMismatch);
        }
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut avp = Avp::new_unchecked(&mut *buf);
        avp.set_header(mandatory, false, 0, len as u16);
        avp.set_vendor_id(self.vendor_id());
        avp.set_attr_type(self.attr_type());
        self.emit_value(&mut buf[field::VALUE..]);
        Ok(len)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // The AVPs of the SCCRQ in xl2tpd-lac_l2tpns-lns_control.pcap frame 1.
    const SCCRQ_AVPS: [u8; 87] = [
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // Message Type SCCRQ
        0x80, 0x08, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, // Protocol Version 1.0
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, // Framing Caps A|S
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, // Bearer Caps none
        0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x06, 0x90, // Firmware Revision 0x0690
        0x80, 0x08, 0x00, 0x00, 0x00, 0x07, b'v', b'm', // Host Name "vm"
        0x00, 0x13, 0x00, 0x00, 0x00, 0x08, b'x', b'e', b'l', b'e', b'r', b'a', b'n', b'c', b'e',
        b'.', b'c', b'o', b'm', // Vendor Name
        0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0xd8, 0x9c, // Assigned Tunnel ID 55452
        0x80, 0x08, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x04, // Receive Window Size 4
    ];

    #[test]
    fn deconstruct_view() {
        let avp = Avp::new_checked(&SCCRQ_AVPS[44..]).unwrap();
        assert!(avp.mandatory());
        assert!(!avp.hidden());
        assert_eq!(avp.reserved(), 0);
        assert_eq!(avp.length(), 8);
        assert_eq!(avp.vendor_id(), 0);
        assert_eq!(avp.attr_type(), 7);
        assert_eq!(avp.value(), b"vm");
    }

    #[test]
    fn deconstruct_sccrq_avps() {
        let values: Vec<(bool, AvpValue)> = AvpIter::new(&SCCRQ_AVPS)
            .map(|a| {
                let a = a.unwrap();
                (a.mandatory, a.typed().unwrap())
            })
            .collect();
        assert_eq!(
            values,
            [
                (true, AvpValue::MessageType(MessageType::Sccrq)),
                (
                    true,
                    AvpValue::ProtocolVersion {
                        version: 1,
                        revision: 0
                    }
                ),
                (true, AvpValue::FramingCapabilities(Framing(3))),
                (true, AvpValue::BearerCapabilities(Bearer(0))),
                (false, AvpValue::FirmwareRevision(0x0690)),
                (true, AvpValue::HostName(b"vm")),
                (false, AvpValue::VendorName(b"xelerance.com")),
                (true, AvpValue::AssignedTunnelId(55452)),
                (true, AvpValue::ReceiveWindowSize(4)),
            ]
        );
        // The capture's M bits are the RFC's defaults.
        for (m, v) in &values {
            assert_eq!(*m, v.default_mandatory(), "{v:?}");
        }
        let AvpValue::FramingCapabilities(f) = values[2].1 else {
            unreachable!()
        };
        assert!(f.synchronous() && f.asynchronous());
        let AvpValue::BearerCapabilities(b) = values[3].1 else {
            unreachable!()
        };
        assert!(!b.analog() && !b.digital());
    }

    #[test]
    fn construct_sccrq_avps() {
        let values = [
            AvpValue::MessageType(MessageType::Sccrq),
            AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            AvpValue::FramingCapabilities(Framing(Framing::SYNC | Framing::ASYNC)),
            AvpValue::BearerCapabilities(Bearer(0)),
            AvpValue::FirmwareRevision(0x0690),
            AvpValue::HostName(b"vm"),
            AvpValue::VendorName(b"xelerance.com"),
            AvpValue::AssignedTunnelId(55452),
            AvpValue::ReceiveWindowSize(4),
        ];
        let mut buf = [0xa5u8; 87];
        let mut at = 0;
        for v in &values {
            at += v.emit(v.default_mandatory(), &mut buf[at..]).unwrap();
        }
        assert_eq!(at, 87);
        assert_eq!(buf, SCCRQ_AVPS);
        // And through raw reprs.
        let mut buf = [0xa5u8; 87];
        let mut at = 0;
        for a in AvpIter::new(&SCCRQ_AVPS) {
            let a = a.unwrap();
            a.emit(&mut buf[at..]);
            at += a.buffer_len();
        }
        assert_eq!(buf, SCCRQ_AVPS);
    }

    #[test]
    fn result_code_forms() {
        // l2tpns CDN: result only (Length 8).
        let (a, _) = AvpRepr::parse_bytes(&[0x80, 0x08, 0, 0, 0, 1, 0, 3]).unwrap();
        assert_eq!(
            a.typed().unwrap(),
            AvpValue::ResultCode {
                result: 3,
                error: None,
                message: b""
            }
        );
        // xl2tpd CDN: result and error code (Length 10).
        let bytes = [0x80, 0x0a, 0, 0, 0, 1, 0, 1, 0, 0];
        let (a, _) = AvpRepr::parse_bytes(&bytes).unwrap();
        let v = a.typed().unwrap();
        assert_eq!(
            v,
            AvpValue::ResultCode {
                result: 1,
                error: Some(0),
                message: b""
            }
        );
        let mut out = [0xa5; 10];
        assert_eq!(v.emit(true, &mut out), Ok(10));
        assert_eq!(out, bytes);
        // xl2tpd StopCCN: with "Goodbye!".
        let bytes = [
            0x80, 0x12, 0, 0, 0, 1, 0, 1, 0, 0, b'G', b'o', b'o', b'd', b'b', b'y', b'e', b'!',
        ];
        let (a, _) = AvpRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(
            a.typed().unwrap(),
            AvpValue::ResultCode {
                result: 1,
                error: Some(0),
                message: b"Goodbye!"
            }
        );
        // Length 9 (a lone error-code byte) and 7 are malformed.
        assert_eq!(AvpValue::parse(0, 1, &[0, 1, 0]), Err(Error::Malformed));
        assert_eq!(AvpValue::parse(0, 1, &[0]), Err(Error::Malformed));
    }

    #[test]
    fn wrong_lengths_are_malformed() {
        let fixed: [(u16, usize); 25] = [
            (0, 2),
            (2, 2),
            (3, 4),
            (4, 4),
            (5, 8),
            (6, 2),
            (9, 2),
            (10, 2),
            (13, 16),
            (14, 2),
            (15, 4),
            (16, 4),
            (17, 4),
            (18, 4),
            (19, 4),
            (24, 4),
            (25, 4),
            (29, 2),
            (32, 2),
            (34, 26),
            (35, 10),
            (38, 4),
            (39, 0),
            (12, 3),
            (1, 2),
        ];
        let zeros = [0u8; 40];
        for (t, n) in fixed {
            assert!(AvpValue::parse(0, t, &zeros[..n]).is_ok(), "{t}");
            assert_eq!(
                AvpValue::parse(0, t, &zeros[..n + 1]).is_err(),
                t != 12,
                "{t} long"
            );
            if n > 0 {
                assert_eq!(
                    AvpValue::parse(0, t, &zeros[..n - 1]),
                    Err(Error::Malformed),
                    "{t} short"
                );
            }
        }
    }

    #[test]
    fn every_ietf_type_round_trips() {
        let mut bytes = [0u8; 26];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        for t in 0u16..=40 {
            for n in 0..=26 {
                let Ok(v) = AvpValue::parse(0, t, &bytes[..n]) else {
                    continue;
                };
                assert_eq!(v.attr_type(), t);
                assert_eq!(v.value_len(), n, "{t}/{n}");
                let mut out = [0xa5u8; 32];
                v.emit_value(&mut out);
                assert_eq!(&out[..n], &bytes[..n], "{t}/{n}");
            }
        }
        assert!(matches!(
            AvpValue::parse(0, 20, b"x"),
            Ok(AvpValue::Unknown { attr_type: 20, .. })
        ));
    }

    #[test]
    fn typed_details() {
        let ce = [
            0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6,
        ];
        assert_eq!(
            AvpValue::parse(0, 34, &ce),
            Ok(AvpValue::CallErrors(CallErrors {
                reserved: 0,
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                timeout_errors: 5,
                alignment_errors: 6,
            }))
        );
        assert_eq!(
            AvpValue::parse(0, 35, &[0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x0a]),
            Ok(AvpValue::Accm {
                reserved: 0,
                send_accm: 0xffff_ffff,
                receive_accm: 10
            })
        );
        assert_eq!(
            AvpValue::parse(0, 32, &[0, 7]),
            Ok(AvpValue::ProxyAuthenId { reserved: 0, id: 7 })
        );
        assert_eq!(
            AvpValue::parse(0, 12, &[0, 16, 0x45, b'h', b'i']),
            Ok(AvpValue::Q931CauseCode {
                cause_code: 16,
                cause_msg: 0x45,
                advisory: b"hi"
            })
        );
        assert_eq!(
            AvpValue::parse(0, 29, &[0, 2]),
            Ok(AvpValue::ProxyAuthenType(ProxyAuthenType::Chap))
        );
        assert_eq!(
            AvpValue::parse(0, 5, &[1, 2, 3, 4, 5, 6, 7, 8]),
            Ok(AvpValue::TieBreaker(0x0102030405060708))
        );
        assert_eq!(
            AvpValue::parse(9, 1, b"raw"),
            Ok(AvpValue::Unknown {
                vendor_id: 9,
                attr_type: 1,
                value: b"raw"
            })
        );
    }

    #[test]
    fn mandatory_table() {
        let optional = [
            5u16, 6, 8, 25, 26, 27, 28, 29, 30, 31, 32, 33, 37, 38, 20, 40,
        ];
        for t in 0u16..=40 {
            assert_eq!(
                AvpType::from(t).default_mandatory(),
                !optional.contains(&t),
                "{t}"
            );
        }
        let clear = [0u16, 1, 2, 5, 7, 10, 12, 36, 39];
        for t in 0u16..=39 {
            assert_eq!(AvpType::from(t).may_be_hidden(), !clear.contains(&t));
        }
        assert!(AvpRepr::new(AvpType::HostName, b"x").mandatory);
        assert!(!AvpRepr::new(AvpType::VendorName, b"x").mandatory);
    }

    #[test]
    fn reserved_bits_mean_unrecognized() {
        let bytes = [0x84, 0x08, 0, 0, 0, 9, 0, 1];
        let (a, _) = AvpRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(a.reserved, 1);
        assert_eq!(
            a.typed(),
            Ok(AvpValue::Unknown {
                vendor_id: 0,
                attr_type: 9,
                value: &[0, 1]
            })
        );
        let mut out = [0xa5; 8];
        a.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn hidden_typed_is_an_error() {
        let (a, _) = AvpRepr::parse_bytes(&[0xc0, 0x08, 0, 0, 0, 9, 0, 1]).unwrap();
        assert!(a.hidden);
        assert_eq!(a.typed(), Err(Error::Hidden));
    }

    #[test]
    fn malformed_and_truncated() {
        for n in 0..6 {
            assert_eq!(
                Avp::new_checked(&SCCRQ_AVPS[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        for n in 6..8 {
            assert_eq!(
                Avp::new_checked(&SCCRQ_AVPS[..n]).unwrap_err(),
                Error::LengthMismatch
            );
        }
        // Length below 6.
        assert_eq!(
            Avp::new_checked(&[0x80u8, 0x05, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Error::LengthMismatch
        );
        // malformed_samples.pcap frame 1: Length 50 with 8 bytes left.
        let overrun = [0x80, 0x32, 0, 0, 0, 0, 0, 1];
        let mut it = AvpIter::new(&overrun);
        assert_eq!(it.next(), Some(Err(Error::LengthMismatch)));
        assert_eq!(it.next(), None);
        // A cut anywhere inside the SCCRQ's AVPs ends the iteration in error.
        let boundaries = [0usize, 8, 16, 26, 36, 44, 52, 71, 79, 87];
        for n in 0..=SCCRQ_AVPS.len() {
            let items: Vec<_> = AvpIter::new(&SCCRQ_AVPS[..n]).collect();
            let errors = items.iter().filter(|i| i.is_err()).count();
            assert_eq!(errors, usize::from(!boundaries.contains(&n)), "{n}");
        }
        // Too long a value for the 10-bit Length.
        let big = [0u8; AVP_MAX_VALUE_LEN + 1];
        let mut out = vec![0u8; 2000];
        assert_eq!(
            AvpRepr::new(AvpType::HostName, &big).emit_checked(&mut out),
            Err(Error::LengthMismatch)
        );
        assert_eq!(
            AvpValue::HostName(&big).emit(true, &mut out),
            Err(Error::LengthMismatch)
        );
        assert_eq!(
            AvpValue::HostName(b"abc").emit(true, &mut out[..8]),
            Err(Error::BufferTooSmall)
        );
    }

    fn avp_strategy() -> impl Strategy<Value = (bool, bool, u8, u16, u16, Vec<u8>)> {
        (
            any::<bool>(),
            any::<bool>(),
            0u8..16,
            prop_oneof![Just(0u16), any::<u16>()],
            prop_oneof![0u16..41, any::<u16>()],
            proptest::collection::vec(any::<u8>(), 0..64),
        )
    }

    proptest! {
        #[test]
        fn roundtrip((mandatory, hidden, reserved, vendor_id, attr_type, value) in avp_strategy()) {
            let repr = AvpRepr { mandatory, hidden, reserved, vendor_id, attr_type, value: &value };
            let mut buf = vec![0xa5u8; repr.buffer_len() + 3];
            assert_eq!(repr.emit_checked(&mut buf), Ok(repr.buffer_len()));
            let (parsed, len) = AvpRepr::parse_bytes(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(len, repr.buffer_len());
        }

        #[test]
        fn typed_roundtrip((mandatory, _h, _r, vendor_id, attr_type, value) in avp_strategy()) {
            // Whatever decodes must re-encode to the same bytes.
            if let Ok(v) = AvpValue::parse(vendor_id, attr_type, &value) {
                let repr = AvpRepr { mandatory, hidden: false, reserved: 0, vendor_id, attr_type, value: &value };
                let mut a = vec![0xa5u8; repr.buffer_len()];
                repr.emit(&mut a);
                let mut b = vec![0x5au8; v.buffer_len()];
                prop_assert_eq!(v.emit(mandatory, &mut b), Ok(a.len()));
                prop_assert_eq!(a, b);
                prop_assert_eq!(repr.typed(), Ok(v));
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(avp) = Avp::new_checked(&bytes[..]) {
                let _ = (avp.mandatory(), avp.hidden(), avp.reserved(), avp.vendor_id());
                let _ = (avp.attr_type(), avp.value());
            }
            for a in AvpIter::new(&bytes).flatten() {
                if let Ok(v) = a.typed() {
                    let mut out = vec![0u8; v.buffer_len()];
                    v.emit(a.mandatory, &mut out).unwrap();
                }
            }
        }
    }
}
