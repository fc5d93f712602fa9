//! Control messages: the control header plus AVPs (RFC 2661 §3.2, §4.1).
//!
//! The first AVP MUST be Message Type (§4.4.1); a control message with no
//! AVPs at all is a ZLB (Zero-Length Body) acknowledgement (§5.8).

use super::avp::{AvpIter, AvpRepr, AvpType, AvpValue, MessageType, WithRandomVector};
use super::header::{HeaderRepr, Packet, CONTROL_HEADER_LEN, RESERVED_FLAGS};
use crate::{Error, Result};

/// Checks that `avp` is a well-formed Message Type AVP and decodes it.
fn message_type_of(avp: &AvpRepr<'_>) -> Result<MessageType> {
    if !avp.is(AvpType::MessageType) || avp.hidden || avp.reserved != 0 {
        return Err(Error::Malformed);
    }
    match avp.typed()? {
        AvpValue::MessageType(t) => Ok(t),
        _ => Err(Error::Malformed),
    }
}

/// A parsed control message. Parse then emit reproduces the input exactly
/// (up to Length: bytes after it are not part of the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlMessageRepr<'a> {
    /// Tunnel ID (of the recipient).
    pub tunnel_id: u16,
    /// Session ID (of the recipient; 0 for tunnel messages).
    pub session_id: u16,
    /// Ns.
    pub ns: u16,
    /// Nr.
    pub nr: u16,
    /// P bit: must be 0 on control messages, but kept as received.
    pub priority: bool,
    /// Reserved `x` bits as received (0 when building).
    pub reserved_flags: u16,
    /// The AVPs, raw; every one was checked at parse, and the first is a
    /// Message Type AVP unless this is a ZLB (empty).
    pub avps: &'a [u8],
}

impl<'a> ControlMessageRepr<'a> {
    /// Parses a checked packet. Errors: `Malformed` for a data message, a
    /// first AVP that is not an unhidden Message Type of length 8, or a bad
    /// fixed-size Message Type; the AVP errors of [`AvpIter`] (`Truncated`,
    /// `LengthMismatch` for an AVP overrunning the message).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
    ) -> Result<ControlMessageRepr<'a>> {
        Self::parse_bytes(packet.clone().into_inner().as_ref())
    }

    /// Parses a control message from raw bytes (a UDP payload). Header
    /// errors are those of [`Packet::check_len`].
    pub fn parse_bytes(buf: &'a [u8]) -> Result<ControlMessageRepr<'a>> {
        let header = HeaderRepr::parse_bytes(buf)?;
        if !header.control {
            return Err(Error::Malformed);
        }
        let sequence = header.sequence.ok_or(Error::Malformed)?;
        let start = header.header_len();
        let avps = buf
            .get(start..start + header.payload_len)
            .ok_or(Error::LengthMismatch)?;
        let mut iter = AvpIter::new(avps);
        if let Some(first) = iter.next() {
            message_type_of(&first?)?;
        }
        for avp in iter {
            avp?;
        }
        Ok(ControlMessageRepr {
            tunnel_id: header.tunnel_id,
            session_id: header.session_id,
            ns: sequence.ns,
            nr: sequence.nr,
            priority: header.priority,
            reserved_flags: header.reserved_flags,
            avps,
        })
    }

    /// The message type, or `None` for a ZLB acknowledgement.
    pub fn message_type(&self) -> Option<MessageType> {
        match AvpIter::new(self.avps).next() {
            Some(Ok(avp)) => message_type_of(&avp).ok(),
            _ => None,
        }
    }

    /// True for a ZLB acknowledgement (no AVPs).
    pub fn is_zlb(&self) -> bool {
        self.avps.is_empty()
    }

    /// Iterates over the AVPs, Message Type first.
    pub fn avp_iter(&self) -> AvpIter<'a> {
        AvpIter::new(self.avps)
    }

    /// Iterates over the AVPs after Message Type, each with the Random
    /// Vector in force for it (for revealing hidden ones).
    pub fn body_avps(&self) -> WithRandomVector<'a> {
        let mut iter = AvpIter::new(self.avps);
        iter.next();
        iter.with_random_vector()
    }

    /// The header this message emits.
    pub fn header(&self) -> HeaderRepr<'static> {
        HeaderRepr {
            priority: self.priority,
            reserved_flags: self.reserved_flags & RESERVED_FLAGS,
            ..HeaderRepr::control(
                self.tunnel_id,
                self.session_id,
                self.ns,
                self.nr,
                self.avps.len(),
            )
        }
    }

    /// Length of the whole message (and of its Length field).
    pub fn buffer_len(&self) -> usize {
        CONTROL_HEADER_LEN + self.avps.len()
    }

    /// Writes the message into `buf[..buffer_len()]`. Panics if `buf` is
    /// too short; a message over 65535 bytes is a caller bug.
    pub fn emit(&self, buf: &mut [u8]) {
        self.header().emit(buf);
        buf[CONTROL_HEADER_LEN..self.buffer_len()].copy_from_slice(self.avps);
    }
}

/// Builds a control message AVP by AVP into a caller buffer, without
/// allocating. [`ControlMessageBuilder::finish`] writes Length. A push that
/// would overflow the buffer (or 65535 bytes) fails with `BufferTooSmall`
/// and leaves the message as it was.
///
/// ```
/// # use l2tpx_wire::l2tp::*;
/// let mut buf = [0u8; 64];
/// let mut b = ControlMessageBuilder::new(&mut buf, 2, 0, 0, 1, Some(MessageType::Scccn))?;
/// b.push_value(&AvpValue::ReceiveWindowSize(8))?;
/// let len = b.finish();
/// assert_eq!(len, 12 + 8 + 8);
/// # Ok::<(), l2tpx_wire::Error>(())
/// ```
#[derive(Debug)]
pub struct ControlMessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> ControlMessageBuilder<'b> {
    /// Starts a message: writes the control header and, unless
    /// `message_type` is `None` (a ZLB), the Message Type AVP (M set).
    /// `BufferTooSmall` if `buf` cannot hold them.
    pub fn new(
        buf: &'b mut [u8],
        tunnel_id: u16,
        session_id: u16,
        ns: u16,
        nr: u16,
        message_type: Option<MessageType>,
    ) -> Result<ControlMessageBuilder<'b>> {
        if buf.len() < CONTROL_HEADER_LEN {
            return Err(Error::BufferTooSmall);
        }
        HeaderRepr::control(tunnel_id, session_id, ns, nr, 0).emit(buf);
        let mut builder = ControlMessageBuilder {
            buf,
            len: CONTROL_HEADER_LEN,
        };
        if let Some(t) = message_type {
            builder.push_value(&AvpValue::MessageType(t))?;
        }
        Ok(builder)
    }

    /// Room left for AVPs, bounded by the buffer and by the 16-bit Length.
    fn room(&mut self) -> &mut [u8] {
        let end = self.buf.len().min(usize::from(u16::MAX));
        self.buf.get_mut(self.len..end).unwrap_or(&mut [])
    }

    /// Appends a raw AVP as it is (M, H and reserved bits included).
    /// `BufferTooSmall` if it does not fit; `LengthMismatch` if its value is
    /// too long for an AVP.
    pub fn push(&mut self, avp: &AvpRepr<'_>) -> Result<&mut Self> {
        self.len += avp.emit_checked(self.room())?;
        Ok(self)
    }

    /// Appends a typed AVP with the M bit §4.4 prescribes.
    pub fn push_value(&mut self, value: &AvpValue<'_>) -> Result<&mut Self> {
        self.push_value_with(value.default_mandatory(), value)
    }

    /// Appends a typed AVP with the given M bit.
    pub fn push_value_with(&mut self, mandatory: bool, value: &AvpValue<'_>) -> Result<&mut Self> {
        self.len += value.emit(mandatory, self.room())?;
        Ok(self)
    }

    /// Appends a typed AVP hidden with `secret` and `random_vector` (§4.3),
    /// `padding` after the value, M as §4.4 prescribes. A Random Vector AVP
    /// carrying `random_vector` must precede it: push one first.
    pub fn push_hidden(
        &mut self,
        value: &AvpValue<'_>,
        secret: &[u8],
        random_vector: &[u8],
        padding: &[u8],
    ) -> Result<&mut Self> {
        let m = value.default_mandatory();
        self.len += value.emit_hidden(m, secret, random_vector, padding, self.room())?;
        Ok(self)
    }

    /// Bytes written so far (header included).
    pub fn message_len(&self) -> usize {
        self.len
    }

    /// Writes Length and returns the message length.
    pub fn finish(self) -> usize {
        self.buf[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
        self.len
    }
}

/// Emits a control message from raw AVPs (the first, if any, must be Message
/// Type, else `Malformed`), returning its length, or `BufferTooSmall`.
pub fn emit_control_message(
    buf: &mut [u8],
    tunnel_id: u16,
    session_id: u16,
    ns: u16,
    nr: u16,
    avps: &[AvpRepr<'_>],
) -> Result<usize> {
    if let Some(first) = avps.first() {
        message_type_of(first)?;
    }
    let mut builder = ControlMessageBuilder::new(buf, tunnel_id, session_id, ns, nr, None)?;
    for avp in avps {
        builder.push(avp)?;
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod test {
    use super::super::avp::{Bearer, Framing, ProxyAuthenType};
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // UDP payloads of xl2tpd-lac_l2tpns-lns_control.pcap, frame by frame
    // (frame 9 is a data message).
    const XL2TPD: [&str; 13] = [
        "c8020063000000000000000080080000000000018008000000020100800a0000000300000003800a00000004000000000008000000060690800800000007766d00130000000878656c6572616e63652e636f6d800800000009d89c80080000000a0004",
        "c8020039d89c00000000000180080000000000028008000000020100800a0000000300000003800b0000000770656c6e738008000000090002",
        "c802001400020000000100018008000000000003",
        "c80200300002000000020001800800000000000a80080000000e936f800a0000000f00000001800a0000001200000000",
        "c802000cd89c000000010002",
        "c802001cd89c936f00010003800800000000000b80080000000e0001",
        "c80200320002000100030002800800000000000c800a0000001800000000800a0000001300000001000a0000002600000000",
        "c802000cd89c000000020004",
        "0002d89c936fff03c0210101001d010405b60304c02305066b0251551104064e130702c6120001",
        "c80200260002000100040002800800000000000e800a000000010001000080080000000e936f",
        "c802000cd89c000000020005",
        "c802002e00020000000500028008000000000004800800000009d89c80120000000100010000476f6f6462796521",
        "c802000cd89c000000020006",
    ];

    // l2tpns-lns_chap_session.pcap frames 1 (SCCRQ from l2tpns's peer), 26 (CDN), 28 (StopCCN).
    const CHAP_SCCRQ: &str = "c802004e000000000000000080080000000000018008000000020100800a0000000300000003800a0000000400000003800e0000000770652d70796c6163800800000009123400080000000a0004";
    const CHAP_CDN: &str =
        "c80200240004000100040002800800000000000e800800000001000380080000000e0042";

    // malformed_samples.pcap frames 1 and 2.
    const AVP_OVERRUN: &str = "c8020014000000000000000080320000000000010000";
    const LENGTH_OVERRUN: &str = "c80200400000000000000000800800000000";

    fn values(m: &ControlMessageRepr<'_>) -> Vec<(bool, AvpValue<'static>)> {
        // Test-only: leak to keep the borrowed values simple.
        let avps: &'static [u8] = Vec::leak(m.avps.to_vec());
        AvpIter::new(avps)
            .map(|a| {
                let a = a.unwrap();
                (a.mandatory, a.typed().unwrap())
            })
            .collect()
    }

    #[test]
    fn deconstruct_sccrq() {
        let bytes = hex(XL2TPD[0]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let m = ControlMessageRepr::parse(&packet).unwrap();
        assert_eq!((m.tunnel_id, m.session_id, m.ns, m.nr), (0, 0, 0, 0));
        assert!(!m.priority);
        assert_eq!(m.reserved_flags, 0);
        assert_eq!(m.message_type(), Some(MessageType::Sccrq));
        assert!(!m.is_zlb());
        assert_eq!(m.buffer_len(), 99);
        assert_eq!(
            values(&m),
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
        // body_avps skips Message Type.
        let body: Vec<_> = m.body_avps().map(|r| r.unwrap().0.attr_type).collect();
        assert_eq!(body, [2, 3, 4, 6, 7, 8, 9, 10]);
        let mut out = vec![0xa5; m.buffer_len()];
        m.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn construct_sccrq() {
        let expected = hex(XL2TPD[0]);
        let mut buf = [0xa5u8; 128];
        let mut b =
            ControlMessageBuilder::new(&mut buf, 0, 0, 0, 0, Some(MessageType::Sccrq)).unwrap();
        b.push_value(&AvpValue::ProtocolVersion {
            version: 1,
            revision: 0,
        })
        .unwrap()
        .push_value(&AvpValue::FramingCapabilities(Framing(
            Framing::ASYNC | Framing::SYNC,
        )))
        .unwrap()
        .push_value(&AvpValue::BearerCapabilities(Bearer(0)))
        .unwrap()
        .push_value(&AvpValue::FirmwareRevision(0x0690))
        .unwrap()
        .push_value(&AvpValue::HostName(b"vm"))
        .unwrap()
        .push_value(&AvpValue::VendorName(b"xelerance.com"))
        .unwrap()
        .push_value(&AvpValue::AssignedTunnelId(55452))
        .unwrap()
        .push_value(&AvpValue::ReceiveWindowSize(4))
        .unwrap();
        assert_eq!(b.message_len(), 99);
        let len = b.finish();
        assert_eq!(&buf[..len], &expected[..]);
        assert_eq!(buf[len], 0xa5);
    }

    #[test]
    fn zlb() {
        let bytes = hex(XL2TPD[4]);
        let m = ControlMessageRepr::parse_bytes(&bytes).unwrap();
        assert!(m.is_zlb());
        assert_eq!(m.message_type(), None);
        assert_eq!((m.tunnel_id, m.session_id, m.ns, m.nr), (55452, 0, 1, 2));
        assert_eq!(m.avp_iter().next(), None);
        let mut buf = [0xa5u8; 16];
        let b = ControlMessageBuilder::new(&mut buf, 55452, 0, 1, 2, None).unwrap();
        assert_eq!(b.finish(), 12);
        assert_eq!(&buf[..12], &bytes[..]);
        assert_eq!(buf[12..], [0xa5; 4]);
        let mut buf = [0xa5u8; 12];
        assert_eq!(emit_control_message(&mut buf, 55452, 0, 1, 2, &[]), Ok(12));
        assert_eq!(&buf[..], &bytes[..]);
    }

    #[test]
    fn iccn() {
        let bytes = hex(XL2TPD[6]);
        let m = ControlMessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!((m.tunnel_id, m.session_id, m.ns, m.nr), (2, 1, 3, 2));
        assert_eq!(m.message_type(), Some(MessageType::Iccn));
        assert_eq!(
            values(&m),
            [
                (true, AvpValue::MessageType(MessageType::Iccn)),
                (true, AvpValue::TxConnectSpeed(0)),
                (true, AvpValue::FramingType(Framing(Framing::SYNC))),
                (false, AvpValue::RxConnectSpeed(0)),
            ]
        );
        let mut buf = [0xa5u8; 50];
        let mut b =
            ControlMessageBuilder::new(&mut buf, 2, 1, 3, 2, Some(MessageType::Iccn)).unwrap();
        b.push_value(&AvpValue::TxConnectSpeed(0)).unwrap();
        b.push_value(&AvpValue::FramingType(Framing(Framing::SYNC)))
            .unwrap();
        b.push_value(&AvpValue::RxConnectSpeed(0)).unwrap();
        assert_eq!(b.finish(), 50);
        assert_eq!(&buf[..], &bytes[..]);
    }

    #[test]
    fn cdn_and_stopccn() {
        let bytes = hex(XL2TPD[9]);
        let m = ControlMessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Cdn));
        assert_eq!(
            values(&m)[1..],
            [
                (
                    true,
                    AvpValue::ResultCode {
                        result: 1,
                        error: Some(0),
                        message: b""
                    }
                ),
                (true, AvpValue::AssignedSessionId(37743)),
            ]
        );
        let bytes = hex(CHAP_CDN);
        let m = ControlMessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(
            values(&m)[1],
            (
                true,
                AvpValue::ResultCode {
                    result: 3,
                    error: None,
                    message: b""
                }
            )
        );
        // Build the l2tpns CDN from raw AVPs.
        let mut buf = [0xa5u8; 36];
        let n = emit_control_message(
            &mut buf,
            4,
            1,
            4,
            2,
            &[
                AvpRepr::new(AvpType::MessageType, &[0, 14]),
                AvpRepr::new(AvpType::ResultCode, &[0, 3]),
                AvpRepr::new(AvpType::AssignedSessionId, &[0, 0x42]),
            ],
        )
        .unwrap();
        assert_eq!(&buf[..n], &bytes[..]);

        let bytes = hex(XL2TPD[11]);
        let m = ControlMessageRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::StopCcn));
        assert_eq!(
            values(&m)[1..],
            [
                (true, AvpValue::AssignedTunnelId(55452)),
                (
                    true,
                    AvpValue::ResultCode {
                        result: 1,
                        error: Some(0),
                        message: b"Goodbye!"
                    }
                ),
            ]
        );
    }

    #[test]
    fn every_capture_message_round_trips() {
        for (i, h) in XL2TPD
            .iter()
            .chain([CHAP_SCCRQ, CHAP_CDN].iter())
            .enumerate()
        {
            let bytes = hex(h);
            let parsed = ControlMessageRepr::parse_bytes(&bytes);
            if i == 8 {
                assert_eq!(parsed, Err(Error::Malformed), "data message");
                continue;
            }
            let m = parsed.unwrap();
            for avp in m.avp_iter() {
                avp.unwrap().typed().unwrap();
            }
            let mut out = vec![0xa5; m.buffer_len()];
            m.emit(&mut out);
            assert_eq!(out, bytes, "message {i}");
        }
    }

    #[test]
    fn malformed_samples() {
        // Frame 1: an AVP with Length 50 in an 8-byte body.
        assert_eq!(
            ControlMessageRepr::parse_bytes(&hex(AVP_OVERRUN)),
            Err(Error::LengthMismatch)
        );
        // Frame 2: L2TP Length 64 in an 18-byte datagram.
        assert_eq!(
            ControlMessageRepr::parse_bytes(&hex(LENGTH_OVERRUN)),
            Err(Error::LengthMismatch)
        );
    }

    #[test]
    fn first_avp_must_be_message_type() {
        let mut buf = [0u8; 64];
        let n = {
            let mut b = ControlMessageBuilder::new(&mut buf, 1, 0, 0, 0, None).unwrap();
            b.push_value(&AvpValue::HostName(b"x")).unwrap();
            b.finish()
        };
        assert_eq!(
            ControlMessageRepr::parse_bytes(&buf[..n]),
            Err(Error::Malformed)
        );
        assert_eq!(
            emit_control_message(
                &mut buf,
                1,
                0,
                0,
                0,
                &[AvpRepr::new(AvpType::HostName, b"x")]
            ),
            Err(Error::Malformed)
        );
        // Hidden, vendor, reserved-bit or wrong-length Message Type AVPs.
        let bad: [AvpRepr; 4] = [
            AvpRepr {
                hidden: true,
                ..AvpRepr::new(AvpType::MessageType, &[0, 1])
            },
            AvpRepr::vendor(9, 0, true, &[0, 1]),
            AvpRepr {
                reserved: 2,
                ..AvpRepr::new(AvpType::MessageType, &[0, 1])
            },
            AvpRepr::new(AvpType::MessageType, &[0, 1, 0]),
        ];
        for avp in bad {
            let mut b = ControlMessageBuilder::new(&mut buf, 1, 0, 0, 0, None).unwrap();
            b.push(&avp).unwrap();
            let n = b.finish();
            assert_eq!(
                ControlMessageRepr::parse_bytes(&buf[..n]),
                Err(Error::Malformed),
                "{avp:?}"
            );
        }
        // An unknown message type is still a message (M decides its fate).
        let mut b =
            ControlMessageBuilder::new(&mut buf, 1, 0, 0, 0, Some(MessageType::from(99))).unwrap();
        b.push(&AvpRepr::vendor(311, 1, false, b"ms")).unwrap();
        let n = b.finish();
        let m = ControlMessageRepr::parse_bytes(&buf[..n]).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Unknown(99)));
    }

    #[test]
    fn every_truncation_point() {
        let bytes = hex(XL2TPD[0]);
        // Cutting the datagram: inside the header Truncated, after it the
        // Length field disagrees.
        for n in 0..bytes.len() {
            assert_eq!(
                ControlMessageRepr::parse_bytes(&bytes[..n]),
                Err(if n < 12 {
                    Error::Truncated
                } else {
                    Error::LengthMismatch
                }),
                "{n}"
            );
        }
        // Cutting the message consistently (Length follows): only AVP
        // boundaries parse; inside an AVP header is Truncated, inside a
        // value LengthMismatch.
        let boundaries = [12usize, 20, 28, 38, 48, 56, 64, 83, 91, 99];
        for n in 12..=bytes.len() {
            let mut cut = bytes[..n].to_vec();
            cut[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            let r = ControlMessageRepr::parse_bytes(&cut);
            let last = boundaries.iter().rev().find(|&&b| b <= n).unwrap();
            let expected = if boundaries.contains(&n) {
                Ok(())
            } else if n - last < 6 {
                Err(Error::Truncated)
            } else {
                Err(Error::LengthMismatch)
            };
            assert_eq!(r.map(|_| ()), expected, "{n}");
        }
    }

    #[test]
    fn builder_limits() {
        let mut small = [0u8; 11];
        assert_eq!(
            ControlMessageBuilder::new(&mut small, 0, 0, 0, 0, None).unwrap_err(),
            Error::BufferTooSmall
        );
        let mut buf = [0u8; 19];
        assert_eq!(
            ControlMessageBuilder::new(&mut buf, 0, 0, 0, 0, Some(MessageType::Hello)).unwrap_err(),
            Error::BufferTooSmall
        );
        let mut buf = [0u8; 24];
        let mut b =
            ControlMessageBuilder::new(&mut buf, 0, 0, 0, 0, Some(MessageType::Hello)).unwrap();
        assert_eq!(
            b.push_value(&AvpValue::HostName(b"abcd")).unwrap_err(),
            Error::BufferTooSmall
        );
        assert_eq!(b.finish(), 20);
    }

    #[test]
    fn hidden_in_a_message() {
        let rv = [0x11u8; 16];
        let mut buf = [0u8; 128];
        let mut b =
            ControlMessageBuilder::new(&mut buf, 7, 9, 3, 4, Some(MessageType::Iccn)).unwrap();
        b.push_value(&AvpValue::RandomVector(&rv))
            .unwrap()
            .push_hidden(
                &AvpValue::ProxyAuthenName(b"alice"),
                b"tunnel-secret",
                &rv,
                &[0; 9],
            )
            .unwrap()
            .push_hidden(
                &AvpValue::ProxyAuthenType(ProxyAuthenType::Pap),
                b"tunnel-secret",
                &rv,
                &[],
            )
            .unwrap();
        let n = b.finish();
        let m = ControlMessageRepr::parse_bytes(&buf[..n]).unwrap();
        let mut scratch = [0u8; 64];
        let mut got = Vec::new();
        for item in m.body_avps() {
            let (avp, rv) = item.unwrap();
            let v = avp
                .typed_revealed(b"tunnel-secret", rv, &mut scratch)
                .unwrap();
            got.push(std::format!("{v:?}"));
        }
        assert_eq!(
            got,
            [
                std::format!("{:?}", AvpValue::RandomVector(&rv)),
                std::format!("{:?}", AvpValue::ProxyAuthenName(b"alice")),
                std::format!("{:?}", AvpValue::ProxyAuthenType(ProxyAuthenType::Pap)),
            ]
        );
    }

    /// (M, H, Vendor ID, Attribute Type, value).
    type AvpParts = (bool, bool, u16, u16, Vec<u8>);
    /// (Tunnel ID, Session ID, Ns, Nr, message type, AVPs).
    type MessageParts = (u16, u16, u16, u16, Option<u16>, Vec<AvpParts>);

    fn message_strategy() -> impl Strategy<Value = MessageParts> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            proptest::collection::vec(
                (
                    any::<bool>(),
                    any::<bool>(),
                    prop_oneof![Just(0u16), any::<u16>()],
                    1u16..45,
                    proptest::collection::vec(any::<u8>(), 0..40),
                ),
                0..8,
            ),
        )
    }

    proptest! {
        #[test]
        fn roundtrip((tunnel_id, session_id, ns, nr, mt, avps) in message_strategy()) {
            let reprs: Vec<AvpRepr> = avps
                .iter()
                .map(|(m, h, v, t, val)| AvpRepr { mandatory: *m, hidden: *h, reserved: 0, vendor_id: *v, attr_type: *t, value: val })
                .collect();
            let mut buf = vec![0xa5u8; 12 + 8 + reprs.iter().map(AvpRepr::buffer_len).sum::<usize>()];
            let n = {
                let mut b = ControlMessageBuilder::new(&mut buf, tunnel_id, session_id, ns, nr, mt.map(MessageType::from)).unwrap();
                for r in &reprs {
                    b.push(r).unwrap();
                }
                b.finish()
            };
            let parsed = ControlMessageRepr::parse_bytes(&buf[..n]);
            if mt.is_none() && !reprs.is_empty() {
                // The first AVP is not Message Type (attr_type >= 1).
                prop_assert_eq!(parsed, Err(Error::Malformed));
                return Ok(());
            }
            let m = parsed.unwrap();
            prop_assert_eq!((m.tunnel_id, m.session_id, m.ns, m.nr), (tunnel_id, session_id, ns, nr));
            prop_assert_eq!(m.message_type(), mt.map(MessageType::from));
            let got: Vec<AvpRepr> = m.avp_iter().skip(usize::from(mt.is_some())).map(Result::unwrap).collect();
            prop_assert_eq!(&got, &reprs);
            let mut out = vec![0u8; m.buffer_len()];
            m.emit(&mut out);
            prop_assert_eq!(&out[..], &buf[..n]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(m) = ControlMessageRepr::parse_bytes(&bytes) {
                let _ = m.message_type();
                for avp in m.avp_iter() {
                    let _ = avp.unwrap().typed();
                }
                let mut out = vec![0u8; m.buffer_len()];
                m.emit(&mut out);
                prop_assert_eq!(&out[..], &bytes[..m.buffer_len()]);
            }
        }
    }
}
