//! Hiding of AVP values (RFC 2661 §4.3).
//!
//! The hidden value is the subformat `original length (2) | value | padding`
//! XORed with an MD5 key stream, 16 octets at a time:
//!
//! ```text
//! b1 = MD5(Attribute Type (2, network order) + secret + RV)   c1 = p1 xor b1
//! bi = MD5(secret + c(i-1))                                    ci = pi xor bi
//! ```
//!
//! The Vendor ID is not part of the hash in RFC 2661. (§4.3's "MD5(AV + S +
//! RV)" writes AV, but its prose says "the 2 octet Attribute number".) The
//! last chunk may be short; only its octets are XORed.

use md5::{Digest, Md5};

use super::avp::{Avp, AvpRepr, AvpValue, AVP_HEADER_LEN, AVP_MAX_LEN};
use crate::{Error, Result};

const CHUNK: usize = 16;

fn first_key(attr_type: u16, secret: &[u8], random_vector: &[u8]) -> [u8; CHUNK] {
    Md5::new()
        .chain_update(attr_type.to_be_bytes())
        .chain_update(secret)
        .chain_update(random_vector)
        .finalize()
        .into()
}

fn next_key(secret: &[u8], previous_cipher: &[u8]) -> [u8; CHUNK] {
    Md5::new()
        .chain_update(secret)
        .chain_update(previous_cipher)
        .finalize()
        .into()
}

fn xor(data: &mut [u8], key: &[u8; CHUNK]) {
    for (d, k) in data.iter_mut().zip(key) {
        *d ^= k;
    }
}

/// Obscures a subformat in place, front to back (each key needs the
/// previous chunk's ciphertext, just written).
fn hide_in_place(attr_type: u16, secret: &[u8], random_vector: &[u8], data: &mut [u8]) {
    let mut start = 0;
    while start < data.len() {
        let key = if start == 0 {
            first_key(attr_type, secret, random_vector)
        } else {
            next_key(secret, &data[start - CHUNK..start])
        };
        let end = data.len().min(start + CHUNK);
        xor(&mut data[start..end], &key);
        start = end;
    }
}

/// Recovers a subformat in place, back to front (each key needs the
/// previous chunk's ciphertext, not yet overwritten).
fn reveal_in_place(attr_type: u16, secret: &[u8], random_vector: &[u8], data: &mut [u8]) {
    if data.is_empty() {
        return;
    }
    let mut start = (data.len() - 1) / CHUNK * CHUNK;
    loop {
        let key = if start == 0 {
            first_key(attr_type, secret, random_vector)
        } else {
            next_key(secret, &data[start - CHUNK..start])
        };
        let end = data.len().min(start + CHUNK);
        xor(&mut data[start..end], &key);
        if start == 0 {
            break;
        }
        start -= CHUNK;
    }
}

/// Length of the hidden form of a value: 2 + value + padding.
pub const fn hidden_len(value_len: usize, padding_len: usize) -> usize {
    2 + value_len + padding_len
}

/// Hides `value` (with `padding` appended to mask its length) into `out`,
/// returning the hidden length. `BufferTooSmall` if `out` is shorter than
/// [`hidden_len`]; `LengthMismatch` if the value is longer than 65535.
pub fn hide(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &[u8],
    padding: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let original_len = u16::try_from(value.len()).map_err(|_| Error::LengthMismatch)?;
    let len = hidden_len(value.len(), padding.len());
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    out[..2].copy_from_slice(&original_len.to_be_bytes());
    out[2..2 + value.len()].copy_from_slice(value);
    out[2 + value.len()..].copy_from_slice(padding);
    hide_in_place(attr_type, secret, random_vector, out);
    Ok(len)
}

/// Reveals a hidden value into `out` (which needs `hidden.len()` bytes, else
/// `BufferTooSmall`) and returns the original value inside it. `Hidden` if
/// the value is too short for the length field or the recovered length
/// overruns it (the usual sign of a wrong secret or random vector).
pub fn reveal<'o>(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    hidden: &[u8],
    out: &'o mut [u8],
) -> Result<&'o [u8]> {
    if hidden.len() < 2 {
        return Err(Error::Hidden);
    }
    let out = out.get_mut(..hidden.len()).ok_or(Error::BufferTooSmall)?;
    out.copy_from_slice(hidden);
    reveal_in_place(attr_type, secret, random_vector, out);
    let original_len = usize::from(u16::from_be_bytes([out[0], out[1]]));
    out.get(2..2 + original_len).ok_or(Error::Hidden)
}

/// Writes an AVP header with H set and returns the subformat area after it.
fn hidden_avp(
    buf: &mut [u8],
    mandatory: bool,
    vendor_id: u16,
    attr_type: u16,
    value_len: usize,
    padding_len: usize,
) -> Result<&mut [u8]> {
    let len = AVP_HEADER_LEN + hidden_len(value_len, padding_len);
    if len > AVP_MAX_LEN {
        return Err(Error::LengthMismatch);
    }
    let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let mut avp = Avp::new_unchecked(&mut *buf);
    avp.set_header(mandatory, true, 0, len as u16);
    avp.set_vendor_id(vendor_id);
    avp.set_attr_type(attr_type);
    let sub = &mut buf[AVP_HEADER_LEN..];
    sub[..2].copy_from_slice(&(value_len as u16).to_be_bytes());
    Ok(sub)
}

impl<'a> AvpRepr<'a> {
    /// The cleartext value: `value` itself when H is clear, else revealed
    /// into `out` with the Random Vector in force (see
    /// [`AvpIter::with_random_vector`](super::AvpIter::with_random_vector)).
    /// A hidden AVP with no Random Vector before it gives `Error::Hidden`.
    pub fn reveal<'o>(
        &self,
        secret: &[u8],
        random_vector: Option<&[u8]>,
        out: &'o mut [u8],
    ) -> Result<&'o [u8]>
    where
        'a: 'o,
    {
        if !self.hidden {
            return Ok(self.value);
        }
        let rv = random_vector.ok_or(Error::Hidden)?;
        reveal(self.attr_type, secret, rv, self.value, out)
    }

    /// [`AvpRepr::typed`] for an AVP that may be hidden: reveals, then decodes.
    pub fn typed_revealed<'o>(
        &self,
        secret: &[u8],
        random_vector: Option<&[u8]>,
        out: &'o mut [u8],
    ) -> Result<AvpValue<'o>>
    where
        'a: 'o,
    {
        let value = self.reveal(secret, random_vector, out)?;
        AvpRepr {
            hidden: false,
            value,
            ..*self
        }
        .typed()
    }

    /// Emits this AVP, taking `value` as cleartext, in hidden form (H set,
    /// reserved bits 0) with `padding` after the value. Returns the length
    /// written; `BufferTooSmall` or `LengthMismatch` as for [`hide`].
    pub fn emit_hidden(
        &self,
        secret: &[u8],
        random_vector: &[u8],
        padding: &[u8],
        buf: &mut [u8],
    ) -> Result<usize> {
        let sub = hidden_avp(
            buf,
            self.mandatory,
            self.vendor_id,
            self.attr_type,
            self.value.len(),
            padding.len(),
        )?;
        let (value, pad) = sub[2..].split_at_mut(self.value.len());
        value.copy_from_slice(self.value);
        pad.copy_from_slice(padding);
        hide_in_place(self.attr_type, secret, random_vector, sub);
        Ok(AVP_HEADER_LEN + sub.len())
    }
}

impl AvpValue<'_> {
    /// Emits this value as a hidden AVP (H set) with the given M bit and
    /// `padding` after the value. Returns the length written.
    pub fn emit_hidden(
        &self,
        mandatory: bool,
        secret: &[u8],
        random_vector: &[u8],
        padding: &[u8],
        buf: &mut [u8],
    ) -> Result<usize> {
        let value_len = self.value_len();
        let attr_type = self.attr_type();
        let sub = hidden_avp(
            buf,
            mandatory,
            self.vendor_id(),
            attr_type,
            value_len,
            padding.len(),
        )?;
        self.emit_value(&mut sub[2..2 + value_len]);
        sub[2 + value_len..].copy_from_slice(padding);
        hide_in_place(attr_type, secret, random_vector, sub);
        Ok(AVP_HEADER_LEN + sub.len())
    }
}

#[cfg(test)]
mod test {
    use super::super::avp::{AvpIter, AvpType};
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// A straightforward forward implementation of §4.3, for comparison.
    fn reference_hide(attr: u16, secret: &[u8], rv: &[u8], value: &[u8], pad: &[u8]) -> Vec<u8> {
        let mut sub = (value.len() as u16).to_be_bytes().to_vec();
        sub.extend_from_slice(value);
        sub.extend_from_slice(pad);
        let mut out: Vec<u8> = Vec::new();
        for (i, chunk) in sub.chunks(16).enumerate() {
            let mut h = Md5::new();
            if i == 0 {
                h.update(attr.to_be_bytes());
                h.update(secret);
                h.update(rv);
            } else {
                h.update(secret);
                h.update(&out[(i - 1) * 16..i * 16]);
            }
            let b = h.finalize();
            out.extend(chunk.iter().zip(b.iter()).map(|(p, k)| p ^ k));
        }
        out
    }

    // Proxy Authen Name "user@example.com", secret "secret", RV 00..0f,
    // padding 01 02 03; computed independently with Python's hashlib.
    const KNOWN: [u8; 21] = [
        0xb0, 0x37, 0xd2, 0x69, 0x60, 0xc3, 0xaf, 0x85, 0x61, 0x37, 0xaa, 0x81, 0x19, 0x23, 0x83,
        0x9a, 0x34, 0x4e, 0xe3, 0xea, 0x4c,
    ];
    const RV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    #[test]
    fn known_vector() {
        let mut out = [0xa5u8; 32];
        let n = hide(
            30,
            b"secret",
            &RV,
            b"user@example.com",
            &[1, 2, 3],
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 21);
        assert_eq!(out[..21], KNOWN);
        assert_eq!(out[21], 0xa5);
        assert_eq!(
            reference_hide(30, b"secret", &RV, b"user@example.com", &[1, 2, 3]),
            KNOWN
        );
        // First chunk by hand: MD5(type || secret || RV) xor subformat.
        let b1 = Md5::new()
            .chain_update([0u8, 30])
            .chain_update(b"secret")
            .chain_update(RV)
            .finalize();
        assert_eq!(KNOWN[0] ^ b1[0], 0);
        assert_eq!(KNOWN[1] ^ b1[1], 16);
        assert_eq!(KNOWN[2] ^ b1[2], b'u');
        let mut plain = [0u8; 21];
        assert_eq!(
            reveal(30, b"secret", &RV, &KNOWN, &mut plain).unwrap(),
            b"user@example.com"
        );
    }

    #[test]
    fn reveal_errors() {
        let mut out = [0u8; 64];
        assert_eq!(reveal(30, b"s", &RV, &[1], &mut out), Err(Error::Hidden));
        assert_eq!(
            reveal(30, b"secret", &RV, &KNOWN, &mut out[..20]),
            Err(Error::BufferTooSmall)
        );
        // Original length 200 in a 4-byte value.
        let mut hidden = [0u8; 8];
        hide(7, b"k", &RV, &[9, 9], &[], &mut hidden).unwrap();
        let mut forged = [0u8; 4];
        forged[..2].copy_from_slice(&200u16.to_be_bytes());
        hide_in_place(7, b"k", &RV, &mut forged);
        assert_eq!(reveal(7, b"k", &RV, &forged, &mut out), Err(Error::Hidden));
        // Wrong secret: garbage length, almost surely overrunning.
        assert_eq!(
            reveal(30, b"wrong", &RV, &KNOWN, &mut out),
            Err(Error::Hidden)
        );
        assert_eq!(
            hide(30, b"s", &RV, b"abc", &[], &mut out[..4]),
            Err(Error::BufferTooSmall)
        );
        // No Random Vector before a hidden AVP.
        let avp = AvpRepr {
            hidden: true,
            ..AvpRepr::new(AvpType::ProxyAuthenName, &KNOWN)
        };
        assert_eq!(avp.reveal(b"secret", None, &mut out), Err(Error::Hidden));
        assert_eq!(
            avp.typed_revealed(b"secret", Some(&RV), &mut out),
            Ok(AvpValue::ProxyAuthenName(b"user@example.com"))
        );
    }

    #[test]
    fn hidden_avps_through_the_iterator() {
        let mut buf = [0xa5u8; 128];
        let mut at = 0;
        at += AvpValue::RandomVector(&RV)
            .emit(true, &mut buf[at..])
            .unwrap();
        at += AvpValue::AssignedSessionId(0x1234)
            .emit_hidden(true, b"secret", &RV, &[7; 5], &mut buf[at..])
            .unwrap();
        at += AvpRepr::new(AvpType::ProxyAuthenName, b"user@example.com")
            .emit_hidden(b"secret", &RV, &[1, 2, 3], &mut buf[at..])
            .unwrap();
        // The hidden Proxy Authen Name matches the known vector.
        assert_eq!(buf[at - 21..at], KNOWN);
        assert_eq!(buf[at - 27..at - 21], [0x40, 27, 0, 0, 0, 30]);
        let items: Vec<_> = AvpIter::new(&buf[..at])
            .with_random_vector()
            .map(Result::unwrap)
            .collect();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|(_, rv)| *rv == Some(&RV[..])));
        let mut scratch = [0u8; 64];
        let (avp, rv) = items[1];
        assert!(avp.hidden && avp.mandatory);
        assert_eq!(avp.value.len(), 2 + 2 + 5);
        assert_eq!(
            avp.typed_revealed(b"secret", rv, &mut scratch),
            Ok(AvpValue::AssignedSessionId(0x1234))
        );
        let (avp, rv) = items[2];
        assert!(!avp.mandatory);
        assert_eq!(
            avp.reveal(b"secret", rv, &mut scratch),
            Ok(&b"user@example.com"[..])
        );
        // Unhidden AVPs come back as they are.
        let (avp, _) = items[0];
        assert_eq!(avp.reveal(b"secret", None, &mut scratch), Ok(&RV[..]));
    }

    #[test]
    fn latest_random_vector_applies() {
        let mut buf = [0u8; 128];
        let mut at = 0;
        at += AvpValue::RandomVector(b"first")
            .emit(true, &mut buf[at..])
            .unwrap();
        at += AvpValue::RandomVector(b"second")
            .emit(true, &mut buf[at..])
            .unwrap();
        at += AvpValue::CallingNumber(b"5551234")
            .emit_hidden(true, b"k", b"second", &[], &mut buf[at..])
            .unwrap();
        let mut it = AvpIter::new(&buf[..at]);
        assert_eq!(it.random_vector(), None);
        it.next();
        assert_eq!(it.random_vector(), Some(&b"first"[..]));
        it.next();
        let avp = it.next().unwrap().unwrap();
        let mut scratch = [0u8; 32];
        assert_eq!(
            avp.typed_revealed(b"k", it.random_vector(), &mut scratch),
            Ok(AvpValue::CallingNumber(b"5551234"))
        );
    }

    proptest! {
        #[test]
        fn roundtrip(
            attr in any::<u16>(),
            secret in proptest::collection::vec(any::<u8>(), 0..64),
            rv in proptest::collection::vec(any::<u8>(), 1..32),
            value in proptest::collection::vec(any::<u8>(), 0..200),
            padding in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let mut hidden = vec![0xa5u8; hidden_len(value.len(), padding.len()) + 1];
            let n = hide(attr, &secret, &rv, &value, &padding, &mut hidden).unwrap();
            prop_assert_eq!(n, hidden.len() - 1);
            prop_assert_eq!(&hidden[..n], &reference_hide(attr, &secret, &rv, &value, &padding)[..]);
            let mut out = vec![0u8; n];
            prop_assert_eq!(reveal(attr, &secret, &rv, &hidden[..n], &mut out), Ok(&value[..]));

            // Whole AVPs, raw and typed paths agree.
            let avp = AvpRepr::vendor(0, attr, true, &value);
            let mut a = vec![0u8; 6 + n];
            let mut b = vec![0u8; 6 + n];
            if 6 + n <= AVP_MAX_LEN {
                prop_assert_eq!(avp.emit_hidden(&secret, &rv, &padding, &mut a), Ok(6 + n));
                let raw = AvpValue::Unknown { vendor_id: 0, attr_type: attr, value: &value };
                prop_assert_eq!(raw.emit_hidden(true, &secret, &rv, &padding, &mut b), Ok(6 + n));
                prop_assert_eq!(&a, &b);
                let (parsed, _) = AvpRepr::parse_bytes(&a).unwrap();
                let mut scratch = vec![0u8; n];
                prop_assert_eq!(parsed.reveal(&secret, Some(&rv), &mut scratch), Ok(&value[..]));
            } else {
                prop_assert_eq!(avp.emit_hidden(&secret, &rv, &padding, &mut a), Err(Error::LengthMismatch));
            }
        }

        #[test]
        fn reveal_never_panics(
            hidden in proptest::collection::vec(any::<u8>(), 0..100),
            out_len in 0usize..120,
        ) {
            let mut out = vec![0u8; out_len];
            let _ = reveal(1, b"s", b"rv", &hidden, &mut out);
        }
    }
}
