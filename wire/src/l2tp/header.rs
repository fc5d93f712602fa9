//! The L2TP message header shared by control and data messages (RFC 2661 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```

use crate::{Error, Result};

mod field {
    /// Flags and version word.
    pub const FLAGS: core::ops::Range<usize> = 0..2;
    /// Length, when the L bit is set.
    pub const LENGTH: core::ops::Range<usize> = 2..4;

    pub const T: u16 = 0x8000;
    pub const L: u16 = 0x4000;
    pub const S: u16 = 0x0800;
    pub const O: u16 = 0x0200;
    pub const P: u16 = 0x0100;
    pub const VER: u16 = 0x000f;
    /// The `x` bits: zero on send, ignored on receipt (§3.1).
    pub const RESERVED: u16 = 0x3000 | 0x0400 | 0x00f0;

    /// Flags word, Tunnel ID and Session ID.
    pub const MIN_HEADER_LEN: usize = 6;
    /// Flags, Length, IDs, Ns, Nr: every control message header.
    pub const CONTROL_HEADER_LEN: usize = 12;
}

/// The only `Ver` value this crate parses (§3.1).
pub const VERSION: u8 = 2;
/// Header length of every control message (T, L and S set, O clear).
pub const CONTROL_HEADER_LEN: usize = field::CONTROL_HEADER_LEN;
/// Bits of the flags word that §3.1 reserves (`x`): sent as 0, ignored on receipt.
pub const RESERVED_FLAGS: u16 = field::RESERVED;

#[inline(always)]
fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Where the parts of a header lie, given its flags word.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Offset of Tunnel ID.
    ids: usize,
    /// Offset just after Offset Size (or after Ns/Nr or the IDs), before any pad.
    fixed_len: usize,
    /// Header length including the offset pad.
    header_len: usize,
    /// Message length: the Length field if present, else the buffer length.
    message_len: usize,
}

/// Works out the layout of a header whose version was already checked.
/// Branch-light: the optional fields shift offsets arithmetically.
#[inline(always)]
fn layout(buf: &[u8], flags: u16) -> Result<Layout> {
    let l = ((flags >> 14) & 1) as usize;
    let s = ((flags >> 11) & 1) as usize;
    let o = ((flags >> 9) & 1) as usize;
    let ids = 2 + 2 * l;
    let fixed_len = ids + 4 + 4 * s + 2 * o;
    if buf.len() < fixed_len {
        return Err(Error::Truncated);
    }
    let message_len = if l != 0 {
        let length = be16(buf, 2) as usize;
        if length > buf.len() {
            return Err(Error::LengthMismatch);
        }
        length
    } else {
        buf.len()
    };
    let header_len = if o != 0 {
        fixed_len + be16(buf, fixed_len - 2) as usize
    } else {
        fixed_len
    };
    if header_len > message_len {
        // With a Length field, the field disagrees with the header it must
        // cover; without one, the datagram simply ends too early.
        return Err(if l != 0 {
            Error::LengthMismatch
        } else {
            Error::Truncated
        });
    }
    Ok(Layout {
        ids,
        fixed_len,
        header_len,
        message_len,
    })
}

/// Reads the flags word and rejects anything but `Ver` = 2 first, so that
/// L2F (1) and L2TPv3 (3) packets are told apart before any other check.
#[inline(always)]
fn flags_checked(buf: &[u8]) -> Result<u16> {
    let flags = match buf.get(field::FLAGS) {
        Some(f) => u16::from_be_bytes([f[0], f[1]]),
        None => return Err(Error::Truncated),
    };
    let ver = (flags & field::VER) as u8;
    if ver != VERSION {
        return Err(Error::WrongVersion(ver));
    }
    Ok(flags)
}

/// True if the buffer starts with a control message (T bit set); false for
/// data messages and for an empty buffer. No other check is made.
#[inline]
pub fn is_control_message(buf: &[u8]) -> bool {
    matches!(buf.first(), Some(b) if b & 0x80 != 0)
}

/// A read/write view of an L2TP message: header plus payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks it with [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header, in this order:
    ///
    /// 1. fewer than 2 bytes: `Truncated`;
    /// 2. `Ver` other than 2: `WrongVersion(ver)` (1 = L2F, 3 = L2TPv3);
    /// 3. a control message (T = 1) without L and S, or with O: `Malformed` (§3.1);
    /// 4. the buffer ends inside the fixed fields: `Truncated`;
    /// 5. a Length field larger than the buffer, or smaller than the header
    ///    (offset pad included): `LengthMismatch`;
    /// 6. without a Length field, an offset pad running past the buffer: `Truncated`.
    ///
    /// A buffer longer than Length is accepted; the payload stops at Length.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let flags = flags_checked(buf)?;
        if flags & field::T != 0 && flags & (field::L | field::S | field::O) != field::L | field::S
        {
            return Err(Error::Malformed);
        }
        layout(buf, flags).map(|_| ())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn layout(&self) -> Layout {
        let buf = self.buffer.as_ref();
        // check_len has passed, so this cannot fail; fall back to an empty
        // payload rather than panic if it was skipped.
        layout(buf, self.flags()).unwrap_or(Layout {
            ids: 2,
            fixed_len: buf.len(),
            header_len: buf.len(),
            message_len: buf.len(),
        })
    }

    /// The raw flags and version word.
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS.start)
    }

    /// T bit: a control message rather than a data message.
    #[inline]
    pub fn is_control(&self) -> bool {
        self.flags() & field::T != 0
    }

    /// L bit: the Length field is present.
    #[inline]
    pub fn has_length(&self) -> bool {
        self.flags() & field::L != 0
    }

    /// S bit: the Ns and Nr fields are present.
    #[inline]
    pub fn has_sequence(&self) -> bool {
        self.flags() & field::S != 0
    }

    /// O bit: the Offset Size field (and its pad) is present.
    #[inline]
    pub fn has_offset(&self) -> bool {
        self.flags() & field::O != 0
    }

    /// P bit: the data message asks for priority queuing.
    #[inline]
    pub fn priority(&self) -> bool {
        self.flags() & field::P != 0
    }

    /// The reserved `x` bits of the flags word, in place (mask [`RESERVED_FLAGS`]).
    #[inline]
    pub fn reserved_flags(&self) -> u16 {
        self.flags() & field::RESERVED
    }

    /// The `Ver` field.
    #[inline]
    pub fn version(&self) -> u8 {
        (self.flags() & field::VER) as u8
    }

    /// The Length field, if present.
    #[inline]
    pub fn length(&self) -> Option<u16> {
        if self.has_length() {
            Some(be16(self.buffer.as_ref(), field::LENGTH.start))
        } else {
            None
        }
    }

    /// Tunnel ID (of the recipient).
    #[inline]
    pub fn tunnel_id(&self) -> u16 {
        be16(self.buffer.as_ref(), self.layout().ids)
    }

    /// Session ID (of the recipient).
    #[inline]
    pub fn session_id(&self) -> u16 {
        be16(self.buffer.as_ref(), self.layout().ids + 2)
    }

    /// Ns, if the S bit is set.
    #[inline]
    pub fn ns(&self) -> Option<u16> {
        if self.has_sequence() {
            Some(be16(self.buffer.as_ref(), self.layout().ids + 4))
        } else {
            None
        }
    }

    /// Nr, if the S bit is set (reserved and to be ignored on data messages).
    #[inline]
    pub fn nr(&self) -> Option<u16> {
        if self.has_sequence() {
            Some(be16(self.buffer.as_ref(), self.layout().ids + 6))
        } else {
            None
        }
    }

    /// Offset Size, if the O bit is set.
    #[inline]
    pub fn offset_size(&self) -> Option<u16> {
        if self.has_offset() {
            Some(be16(self.buffer.as_ref(), self.layout().fixed_len - 2))
        } else {
            None
        }
    }

    /// The offset pad (empty without the O bit).
    #[inline]
    pub fn offset_pad(&self) -> &[u8] {
        let l = self.layout();
        self.buffer
            .as_ref()
            .get(l.fixed_len..l.header_len)
            .unwrap_or(&[])
    }

    /// Header length, offset pad included.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.layout().header_len
    }

    /// Message length: the Length field if present, else the buffer length.
    #[inline]
    pub fn message_len(&self) -> usize {
        self.layout().message_len
    }

    /// The payload: AVPs of a control message, or the PPP frame of a data
    /// message. Bounded by Length when present.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let l = self.layout();
        self.buffer
            .as_ref()
            .get(l.header_len..l.message_len)
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set16(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the raw flags and version word. Changing L, S or O moves the
    /// fields after it; set it first.
    #[inline]
    pub fn set_flags(&mut self, value: u16) {
        self.set16(field::FLAGS.start, value)
    }

    /// Sets the Length field. The L bit must be set.
    #[inline]
    pub fn set_length(&mut self, value: u16) {
        self.set16(field::LENGTH.start, value)
    }

    /// Sets Tunnel ID.
    #[inline]
    pub fn set_tunnel_id(&mut self, value: u16) {
        let at = self.layout().ids;
        self.set16(at, value)
    }

    /// Sets Session ID.
    #[inline]
    pub fn set_session_id(&mut self, value: u16) {
        let at = self.layout().ids + 2;
        self.set16(at, value)
    }

    /// Sets Ns. The S bit must be set.
    #[inline]
    pub fn set_ns(&mut self, value: u16) {
        let at = self.layout().ids + 4;
        self.set16(at, value)
    }

    /// Sets Nr. The S bit must be set.
    #[inline]
    pub fn set_nr(&mut self, value: u16) {
        let at = self.layout().ids + 6;
        self.set16(at, value)
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.layout();
        self.buffer
            .as_mut()
            .get_mut(l.header_len..l.message_len)
            .unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Ns and Nr, present together under the S bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sequence {
    /// Sequence number of this message.
    pub ns: u16,
    /// Next expected control sequence number (reserved in data messages).
    pub nr: u16,
}

/// A parsed L2TP header, keeping every varying bit for exact re-emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr<'a> {
    /// T bit: control (true) or data message.
    pub control: bool,
    /// L bit: emit a Length field (always true for control messages).
    pub length_present: bool,
    /// P bit (data messages only, §3.1).
    pub priority: bool,
    /// The reserved `x` bits as received (mask [`RESERVED_FLAGS`]); 0 when building.
    pub reserved_flags: u16,
    /// Tunnel ID.
    pub tunnel_id: u16,
    /// Session ID.
    pub session_id: u16,
    /// Ns/Nr, when the S bit is set.
    pub sequence: Option<Sequence>,
    /// Offset pad when the O bit is set (Offset Size = its length).
    pub offset_pad: Option<&'a [u8]>,
    /// Payload bytes that follow the header; sets the Length field.
    pub payload_len: usize,
}

impl<'a> HeaderRepr<'a> {
    /// A control message header (T, L, S set) for `payload_len` AVP bytes.
    pub const fn control(
        tunnel_id: u16,
        session_id: u16,
        ns: u16,
        nr: u16,
        payload_len: usize,
    ) -> HeaderRepr<'static> {
        HeaderRepr {
            control: true,
            length_present: true,
            priority: false,
            reserved_flags: 0,
            tunnel_id,
            session_id,
            sequence: Some(Sequence { ns, nr }),
            offset_pad: None,
            payload_len,
        }
    }

    /// A minimal data message header: no Length, sequence or offset.
    pub const fn data(tunnel_id: u16, session_id: u16, payload_len: usize) -> HeaderRepr<'static> {
        HeaderRepr {
            control: false,
            length_present: false,
            priority: false,
            reserved_flags: 0,
            tunnel_id,
            session_id,
            sequence: None,
            offset_pad: None,
            payload_len,
        }
    }

    /// Parses a checked packet's header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<HeaderRepr<'a>> {
        Self::parse_bytes(packet.buffer.as_ref())
    }

    /// Parses a header from raw bytes (the checks of [`Packet::check_len`]).
    pub fn parse_bytes(buf: &'a [u8]) -> Result<HeaderRepr<'a>> {
        let packet = Packet::new_checked(buf)?;
        let flags = packet.flags();
        let l = packet.layout();
        let sequence = if flags & field::S != 0 {
            Some(Sequence {
                ns: be16(buf, l.ids + 4),
                nr: be16(buf, l.ids + 6),
            })
        } else {
            None
        };
        let offset_pad = if flags & field::O != 0 {
            Some(buf.get(l.fixed_len..l.header_len).ok_or(Error::Truncated)?)
        } else {
            None
        };
        Ok(HeaderRepr {
            control: flags & field::T != 0,
            length_present: flags & field::L != 0,
            priority: flags & field::P != 0,
            reserved_flags: flags & field::RESERVED,
            tunnel_id: be16(buf, l.ids),
            session_id: be16(buf, l.ids + 2),
            sequence,
            offset_pad,
            payload_len: l.message_len - l.header_len,
        })
    }

    /// The flags and version word this header emits.
    pub fn flags(&self) -> u16 {
        let mut flags = u16::from(VERSION) | (self.reserved_flags & field::RESERVED);
        if self.control {
            flags |= field::T;
        }
        if self.length_present {
            flags |= field::L;
        }
        if self.sequence.is_some() {
            flags |= field::S;
        }
        if self.offset_pad.is_some() {
            flags |= field::O;
        }
        if self.priority {
            flags |= field::P;
        }
        flags
    }

    /// Header length, offset pad included.
    pub fn header_len(&self) -> usize {
        field::MIN_HEADER_LEN
            + if self.length_present { 2 } else { 0 }
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset_pad.map_or(0, |pad| 2 + pad.len())
    }

    /// Bytes [`HeaderRepr::emit`] writes (the header only).
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Header plus payload: the value of the Length field.
    pub fn message_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into `buf[..header_len()]`; the payload goes after it.
    ///
    /// Panics if `buf` is shorter than `header_len()`. A message longer than
    /// 65535 bytes, or a pad longer than 65535, is a caller bug (the fields wrap).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut at = 0;
        let mut put = |buf: &mut [u8], v: u16| {
            buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
            at += 2;
        };
        put(buf, self.flags());
        if self.length_present {
            put(buf, self.message_len() as u16);
        }
        put(buf, self.tunnel_id);
        put(buf, self.session_id);
        if let Some(seq) = self.sequence {
            put(buf, seq.ns);
            put(buf, seq.nr);
        }
        if let Some(pad) = self.offset_pad {
            put(buf, pad.len() as u16);
            buf[at..at + pad.len()].copy_from_slice(pad);
        }
    }
}

/// What the data plane needs from a data message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataHeader {
    /// Tunnel ID (of the recipient).
    pub tunnel_id: u16,
    /// Session ID (of the recipient).
    pub session_id: u16,
    /// Ns, when the S bit is set (Nr is ignored on data messages, §3.1).
    pub ns: Option<u16>,
    /// P bit.
    pub priority: bool,
    /// Where the PPP frame starts (after any offset pad).
    pub payload_offset: usize,
    /// Where it ends: Length if present, else the buffer's end.
    pub payload_end: usize,
}

impl DataHeader {
    /// Fast parse of a data message header, with the checks of
    /// [`Packet::check_len`]. A control message (T = 1) gives `Malformed`;
    /// use [`is_control_message`] first to route those to the control plane.
    #[inline(always)]
    pub fn parse(buf: &[u8]) -> Result<DataHeader> {
        let flags = match buf.get(field::FLAGS) {
            Some(f) => u16::from_be_bytes([f[0], f[1]]),
            None => return Err(Error::Truncated),
        };
        // One compare covers the common case: version 2, T clear.
        if flags & (field::T | field::VER) != u16::from(VERSION) {
            let ver = (flags & field::VER) as u8;
            return Err(if ver != VERSION {
                Error::WrongVersion(ver)
            } else {
                Error::Malformed
            });
        }
        let l = layout(buf, flags)?;
        Ok(DataHeader {
            tunnel_id: be16(buf, l.ids),
            session_id: be16(buf, l.ids + 2),
            ns: if flags & field::S != 0 {
                Some(be16(buf, l.ids + 4))
            } else {
                None
            },
            priority: flags & field::P != 0,
            payload_offset: l.header_len,
            payload_end: l.message_len,
        })
    }

    /// The PPP frame inside the buffer this header was parsed from.
    #[inline]
    pub fn payload<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.payload_offset..self.payload_end)
            .unwrap_or(&[])
    }

    /// Payload length.
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.payload_end - self.payload_offset
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    // xl2tpd-lac_l2tpns-lns_control.pcap frame 5: a ZLB ack.
    const ZLB: [u8; 12] = [
        0xc8, 0x02, 0x00, 0x0c, 0xd8, 0x9c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02,
    ];

    // Same capture, frame 9: data message (no L, S, O) carrying an LCP ConfReq.
    const DATA: [u8; 39] = [
        0x00, 0x02, 0xd8, 0x9c, 0x93, 0x6f, 0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x1d, 0x01,
        0x04, 0x05, 0xb6, 0x03, 0x04, 0xc0, 0x23, 0x05, 0x06, 0x6b, 0x02, 0x51, 0x55, 0x11, 0x04,
        0x06, 0x4e, 0x13, 0x07, 0x02, 0xc6, 0x12, 0x00, 0x01,
    ];

    // malformed_samples.pcap frame 2: Length 64 in an 18-byte datagram.
    const LONG_LENGTH: [u8; 18] = [
        0xc8, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x08, 0x00,
        0x00, 0x00, 0x00,
    ];

    #[test]
    fn deconstruct_zlb() {
        let p = Packet::new_checked(&ZLB[..]).unwrap();
        assert!(p.is_control());
        assert!(p.has_length());
        assert!(p.has_sequence());
        assert!(!p.has_offset());
        assert!(!p.priority());
        assert_eq!(p.reserved_flags(), 0);
        assert_eq!(p.version(), 2);
        assert_eq!(p.length(), Some(12));
        assert_eq!(p.tunnel_id(), 55452);
        assert_eq!(p.session_id(), 0);
        assert_eq!(p.ns(), Some(1));
        assert_eq!(p.nr(), Some(2));
        assert_eq!(p.offset_size(), None);
        assert_eq!(p.offset_pad(), &[] as &[u8]);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.message_len(), 12);
        assert_eq!(p.payload(), &[] as &[u8]);
        assert!(is_control_message(&ZLB));
        assert_eq!(DataHeader::parse(&ZLB), Err(Error::Malformed));
    }

    #[test]
    fn deconstruct_data_without_length() {
        let p = Packet::new_checked(&DATA[..]).unwrap();
        assert!(!p.is_control());
        assert_eq!(p.length(), None);
        assert_eq!(p.tunnel_id(), 55452);
        assert_eq!(p.session_id(), 37743);
        assert_eq!(p.ns(), None);
        assert_eq!(p.nr(), None);
        assert_eq!(p.header_len(), 6);
        assert_eq!(p.payload(), &DATA[6..]);
        assert_eq!(p.payload()[..4], [0xff, 0x03, 0xc0, 0x21]);
        let h = DataHeader::parse(&DATA).unwrap();
        assert_eq!(
            h,
            DataHeader {
                tunnel_id: 55452,
                session_id: 37743,
                ns: None,
                priority: false,
                payload_offset: 6,
                payload_end: DATA.len(),
            }
        );
        assert_eq!(h.payload(&DATA), &DATA[6..]);
        assert!(!is_control_message(&DATA));
        let repr = HeaderRepr::parse_bytes(&DATA).unwrap();
        assert_eq!(repr, HeaderRepr::data(55452, 37743, 33));
    }

    #[test]
    fn data_with_length_sequence_offset_priority() {
        // L, S, O and P set; 3 pad bytes; 4 payload bytes; 2 trailing bytes
        // beyond Length (Ethernet padding) that must not reach the payload.
        let bytes = [
            0x4b, 0x02, 0x00, 0x17, 0x00, 0x07, 0x00, 0x09, 0x00, 0x05, 0xab, 0xcd, 0x00, 0x03, 1,
            2, 3, 0xff, 0x03, 0x00, 0x21, 0xee, 0xee, 0, 0,
        ];
        let bytes = &bytes[..bytes.len() - 2]; // Length = 23
        let mut padded = bytes.to_vec();
        padded.extend_from_slice(&[0xee, 0xee]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.length(), Some(23));
        assert!(p.priority());
        assert_eq!(p.tunnel_id(), 7);
        assert_eq!(p.session_id(), 9);
        assert_eq!(p.ns(), Some(5));
        assert_eq!(p.nr(), Some(0xabcd));
        assert_eq!(p.offset_size(), Some(3));
        assert_eq!(p.offset_pad(), &[1, 2, 3]);
        assert_eq!(p.header_len(), 17);
        assert_eq!(p.payload(), &[0xff, 0x03, 0x00, 0x21, 0xee, 0xee]);
        let h = DataHeader::parse(&padded).unwrap();
        assert_eq!(h.ns, Some(5));
        assert!(h.priority);
        assert_eq!(h.payload(&padded), p.payload());
        let repr = HeaderRepr::parse_bytes(&padded).unwrap();
        assert_eq!(repr.payload_len, 6);
        let mut out = vec![0xa5; repr.header_len()];
        repr.emit(&mut out);
        assert_eq!(out, &bytes[..17]);
    }

    #[test]
    fn construct_zlb() {
        let repr = HeaderRepr::control(55452, 0, 1, 2, 0);
        let mut buf = [0xa5u8; 12];
        repr.emit(&mut buf);
        assert_eq!(buf, ZLB);
        assert_eq!(HeaderRepr::parse_bytes(&ZLB).unwrap(), repr);
    }

    #[test]
    fn construct_data() {
        let repr = HeaderRepr::data(55452, 37743, DATA.len() - 6);
        let mut buf = [0xa5u8; 6];
        repr.emit(&mut buf);
        assert_eq!(buf, DATA[..6]);
        // The same with a Length field: 0x4002, Length 39 + 2.
        let repr = HeaderRepr {
            length_present: true,
            ..repr
        };
        let mut buf = vec![0xa5u8; repr.header_len()];
        repr.emit(&mut buf);
        assert_eq!(buf, [0x40, 0x02, 0x00, 41, 0xd8, 0x9c, 0x93, 0x6f]);
        buf.extend_from_slice(&DATA[6..]);
        let h = DataHeader::parse(&buf).unwrap();
        assert_eq!(
            (h.tunnel_id, h.session_id, h.payload_offset),
            (55452, 37743, 8)
        );
        assert_eq!(h.payload(&buf), &DATA[6..]);
        assert_eq!(HeaderRepr::parse_bytes(&buf).unwrap(), repr);
    }

    #[test]
    fn setters() {
        let mut buf = ZLB;
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_tunnel_id(1);
        p.set_session_id(2);
        p.set_ns(3);
        p.set_nr(4);
        p.set_length(12);
        assert_eq!(p.tunnel_id(), 1);
        assert_eq!(p.session_id(), 2);
        assert_eq!(p.ns(), Some(3));
        assert_eq!(p.nr(), Some(4));
        p.set_flags(0xc802);
        assert_eq!(p.into_inner(), &[0xc8, 2, 0, 12, 0, 1, 0, 2, 0, 3, 0, 4]);
    }

    #[test]
    fn wrong_version_first() {
        // L2TPv3 over UDP: flags 0xc803; L2F: version 1. Both truncated too,
        // but the version is reported.
        assert_eq!(
            Packet::new_checked(&[0xc8u8, 0x03][..]).unwrap_err(),
            Error::WrongVersion(3)
        );
        assert_eq!(
            Packet::new_checked(&[0x00u8, 0x01, 0, 0][..]).unwrap_err(),
            Error::WrongVersion(1)
        );
        assert_eq!(
            DataHeader::parse(&[0x00, 0x03]),
            Err(Error::WrongVersion(3))
        );
        assert_eq!(
            DataHeader::parse(&[0x80, 0x01]),
            Err(Error::WrongVersion(1))
        );
        // Control with a bad version: version wins over the flag rule.
        assert_eq!(
            Packet::new_checked(&[0x80u8, 0x00][..]).unwrap_err(),
            Error::WrongVersion(0)
        );
    }

    #[test]
    fn control_flag_rules() {
        for flags in [0x8002u16, 0xc002, 0x8802, 0xca02] {
            let mut bytes = ZLB;
            bytes[..2].copy_from_slice(&flags.to_be_bytes());
            assert_eq!(
                Packet::new_checked(&bytes[..]).unwrap_err(),
                Error::Malformed,
                "{flags:#x}"
            );
        }
        // P and reserved bits on a control message are tolerated and kept.
        let mut bytes = ZLB;
        bytes[0] = 0xf9;
        bytes[1] = 0xf2;
        let repr = HeaderRepr::parse_bytes(&bytes).unwrap();
        assert!(repr.priority);
        assert_eq!(repr.reserved_flags, 0x3000 | 0x00f0);
        let mut out = [0u8; 12];
        repr.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn truncated_and_length() {
        // A cut inside the fixed fields is Truncated, whatever Length says.
        for n in 0..12 {
            assert_eq!(
                Packet::new_checked(&ZLB[..n]).unwrap_err(),
                Error::Truncated,
                "{n}"
            );
        }
        // Past them, Length larger than the datagram is LengthMismatch.
        let mut long = ZLB.to_vec();
        long.extend_from_slice(&[0x80, 0x08, 0, 0, 0, 0, 0, 6]);
        long[3] = 20;
        for n in 12..20 {
            assert_eq!(
                Packet::new_checked(&long[..n]).unwrap_err(),
                Error::LengthMismatch,
                "{n}"
            );
        }
        assert!(Packet::new_checked(&long[..]).is_ok());
        // Data, no Length: every cut inside the 6-byte header is Truncated.
        for n in 0..6 {
            assert_eq!(
                Packet::new_checked(&DATA[..n]).unwrap_err(),
                Error::Truncated
            );
            assert_eq!(DataHeader::parse(&DATA[..n]), Err(Error::Truncated));
        }
        assert_eq!(
            Packet::new_checked(&LONG_LENGTH[..]).unwrap_err(),
            Error::LengthMismatch
        );
        // Length smaller than the header.
        let mut short = ZLB;
        short[3] = 11;
        assert_eq!(
            Packet::new_checked(&short[..]).unwrap_err(),
            Error::LengthMismatch
        );
        // Offset pad beyond the message: Truncated without Length...
        let pad = [0x02u8, 0x02, 0, 1, 0, 2, 0, 5, 1, 2, 3];
        assert_eq!(Packet::new_checked(&pad[..]).unwrap_err(), Error::Truncated);
        assert_eq!(DataHeader::parse(&pad), Err(Error::Truncated));
        // ...and LengthMismatch with one.
        let pad = [0x42u8, 0x02, 0, 12, 0, 1, 0, 2, 0, 5, 1, 2, 3, 4, 5, 6];
        assert_eq!(
            Packet::new_checked(&pad[..]).unwrap_err(),
            Error::LengthMismatch
        );
        assert_eq!(DataHeader::parse(&pad), Err(Error::LengthMismatch));
        // A pad that ends exactly at the end of the message is fine.
        let pad = [0x02u8, 0x02, 0, 1, 0, 2, 0, 2, 9, 9];
        let p = Packet::new_checked(&pad[..]).unwrap();
        assert_eq!(p.payload(), &[] as &[u8]);
        assert_eq!(p.offset_pad(), &[9, 9]);
    }

    /// (flag bits, tunnel, session, Ns/Nr, offset pad, payload length).
    type HeaderParts = (u16, u16, u16, Option<(u16, u16)>, Option<Vec<u8>>, usize);

    fn header_strategy() -> impl Strategy<Value = HeaderParts> {
        // (flag bits T/L/P/reserved, tunnel, session, seq, pad, payload_len)
        (
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            proptest::option::of(any::<(u16, u16)>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            0usize..64,
        )
    }

    proptest! {
        #[test]
        fn roundtrip((bits, tunnel_id, session_id, seq, pad, payload_len) in header_strategy()) {
            let control = bits & 1 != 0;
            let repr = HeaderRepr {
                control,
                length_present: control || bits & 2 != 0,
                priority: bits & 4 != 0,
                reserved_flags: bits & RESERVED_FLAGS,
                tunnel_id,
                session_id,
                sequence: if control {
                    Some(seq.map_or(Sequence { ns: 0, nr: 0 }, |(ns, nr)| Sequence { ns, nr }))
                } else {
                    seq.map(|(ns, nr)| Sequence { ns, nr })
                },
                offset_pad: if control { None } else { pad.as_deref() },
                payload_len,
            };
            let mut buf = vec![0xa5u8; repr.header_len() + payload_len];
            repr.emit(&mut buf);
            let parsed = HeaderRepr::parse_bytes(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.header_len(), repr.header_len());
            prop_assert_eq!(p.payload().len(), payload_len);
            if !control {
                let h = DataHeader::parse(&buf).unwrap();
                prop_assert_eq!(h.tunnel_id, tunnel_id);
                prop_assert_eq!(h.session_id, session_id);
                prop_assert_eq!(h.ns, repr.sequence.map(|s| s.ns));
                prop_assert_eq!(h.payload_offset, repr.header_len());
                prop_assert_eq!(h.payload_end, buf.len());
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.tunnel_id(), p.session_id(), p.ns(), p.nr(), p.length());
                let _ = (p.offset_size(), p.offset_pad(), p.payload(), p.header_len());
                let repr = HeaderRepr::parse_bytes(&bytes).unwrap();
                let mut out = vec![0u8; repr.header_len()];
                repr.emit(&mut out);
                prop_assert_eq!(&out[..], &bytes[..repr.header_len()]);
            }
            let fast = DataHeader::parse(&bytes);
            let slow = Packet::new_checked(&bytes[..]);
            match (fast, slow) {
                (Ok(h), Ok(p)) => {
                    prop_assert!(!p.is_control());
                    prop_assert_eq!(h.payload(&bytes), p.payload());
                }
                (Err(Error::Malformed), _) => prop_assert!(is_control_message(&bytes)),
                (Err(e), Err(f)) => prop_assert_eq!(e, f),
                (Ok(_), Err(_)) => prop_assert!(false, "fast path accepted what check_len rejected"),
                (Err(e), Ok(_)) => prop_assert!(false, "fast path rejected a good data header: {:?}", e),
            }
        }
    }
}
