//! RADIUS shared-secret cryptography: User-Password hiding (RFC 2865
//! §5.2), Tunnel-Password salt encryption (RFC 2868 §3.5), the Response
//! Authenticator (RFC 2865 §3), the computed Request Authenticator of
//! Accounting-Request (RFC 2866 §3) and CoA/Disconnect-Request (RFC 5176
//! §2.3), Message-Authenticator (RFC 2869 §5.14, RFC 5176 §3.4) and the
//! CHAP-Password layout (RFC 2865 §5.3).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::attr::{AttrRepr, AttrType, ATTR_HEADER_LEN, MAX_TAG};
use super::{field, Packet, AUTHENTICATOR_LEN, HEADER_LEN};
use crate::{Error, Result};

type HmacMd5 = Hmac<Md5>;

const BLOCK: usize = 16;

/// Longest User-Password before hiding (RFC 2865 §5.2: 128 octets).
pub const MAX_USER_PASSWORD_LEN: usize = 128;

/// Longest Tunnel-Password: Tag, Salt and the padded Data-Length+Password
/// must fit one 253-octet value, so 240 - 1.
pub const MAX_TUNNEL_PASSWORD_LEN: usize = 239;

const SALT_LEN: usize = 2;

fn md5_block(parts: &[&[u8]]) -> [u8; BLOCK] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Constant-time equality, so a forger learns nothing from timing.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hidden User-Password length for a password of `password_len` octets:
/// padded with NULs to a multiple of 16, at least 16.
pub fn hidden_user_password_len(password_len: usize) -> usize {
    password_len.div_ceil(BLOCK).max(1) * BLOCK
}

/// Hides a User-Password (RFC 2865 §5.2) into `out`, returning the hidden
/// length: b1 = MD5(S + RA), c(i) = p(i) xor b(i), b(i) = MD5(S + c(i-1)).
///
/// Password over 128 octets -> `Malformed`; `out` shorter than
/// [`hidden_user_password_len`] -> `BufferTooSmall`.
pub fn hide_user_password(
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    out: &mut [u8],
) -> Result<usize> {
    if password.len() > MAX_USER_PASSWORD_LEN {
        return Err(Error::Malformed);
    }
    let len = hidden_user_password_len(password.len());
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    out[..password.len()].copy_from_slice(password);
    out[password.len()..].fill(0);
    let mut prev = *request_authenticator;
    for chunk in out.chunks_exact_mut(BLOCK) {
        let b = md5_block(&[secret, &prev]);
        chunk.iter_mut().zip(b).for_each(|(c, k)| *c ^= k);
        prev.copy_from_slice(chunk);
    }
    Ok(len)
}

/// Recovers a User-Password hidden by [`hide_user_password`], with the
/// NUL padding stripped (so a password cannot end in NUL, as in every
/// RADIUS implementation).
///
/// `hidden` not a multiple of 16 in 16..=128 -> `Malformed`; `out` shorter
/// than `hidden` (it is used whole as scratch) -> `BufferTooSmall`.
pub fn unhide_user_password<'o>(
    hidden: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    out: &'o mut [u8],
) -> Result<&'o [u8]> {
    if hidden.is_empty()
        || !hidden.len().is_multiple_of(BLOCK)
        || hidden.len() > MAX_USER_PASSWORD_LEN
    {
        return Err(Error::Malformed);
    }
    let out = out.get_mut(..hidden.len()).ok_or(Error::BufferTooSmall)?;
    let mut prev: &[u8] = request_authenticator;
    for (c, p) in hidden.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
        let b = md5_block(&[secret, prev]);
        p.iter_mut()
            .zip(c.iter().zip(b))
            .for_each(|(p, (c, k))| *p = c ^ k);
        prev = c;
    }
    let n = out.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Ok(&out[..n])
}

/// Tunnel-Password value length (Tag, Salt, encrypted String) for a
/// password of `password_len` octets.
pub fn tunnel_password_len(password_len: usize) -> usize {
    1 + SALT_LEN + (1 + password_len).div_ceil(BLOCK) * BLOCK
}

/// Writes a whole Tunnel-Password value (RFC 2868 §3.5) into `out`: Tag,
/// Salt (its MSB is forced to 1 as the RFC requires) and the String,
/// Data-Length + password + NUL padding encrypted with b(1) = MD5(S + R +
/// A), b(i) = MD5(S + c(i-1)). `request_authenticator` is R, the
/// Authenticator of the Access-Request being answered. Returns the length.
///
/// Tag over 0x1F or password over 239 octets -> `Malformed`; `out` shorter
/// than [`tunnel_password_len`] -> `BufferTooSmall`.
pub fn hide_tunnel_password(
    tag: u8,
    salt: [u8; 2],
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    out: &mut [u8],
) -> Result<usize> {
    if tag > MAX_TAG || password.len() > MAX_TUNNEL_PASSWORD_LEN {
        return Err(Error::Malformed);
    }
    let len = tunnel_password_len(password.len());
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let salt = [salt[0] | 0x80, salt[1]];
    let (head, string) = out.split_at_mut(1 + SALT_LEN);
    head[0] = tag;
    head[1..].copy_from_slice(&salt);
    string[0] = password.len() as u8;
    string[1..=password.len()].copy_from_slice(password);
    string[1 + password.len()..].fill(0);
    let mut prev = [0u8; BLOCK];
    for (i, chunk) in string.chunks_exact_mut(BLOCK).enumerate() {
        let b = if i == 0 {
            md5_block(&[secret, request_authenticator, &salt])
        } else {
            md5_block(&[secret, &prev])
        };
        chunk.iter_mut().zip(b).for_each(|(c, k)| *c ^= k);
        prev.copy_from_slice(chunk);
    }
    Ok(len)
}

/// Decrypts a whole Tunnel-Password value, returning its Tag and the
/// password (Data-Length octets of the decrypted String).
///
/// Under 19 octets, a String not a multiple of 16, or a Data-Length past
/// the String -> `Malformed`; `out` shorter than the String ->
/// `BufferTooSmall`. The Salt's MSB is not checked.
pub fn unhide_tunnel_password<'o>(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    out: &'o mut [u8],
) -> Result<(u8, &'o [u8])> {
    let (tag, salt, string) = match value {
        [tag, s0, s1, string @ ..] => (*tag, [*s0, *s1], string),
        _ => return Err(Error::Malformed),
    };
    if string.is_empty() || !string.len().is_multiple_of(BLOCK) {
        return Err(Error::Malformed);
    }
    let out = out.get_mut(..string.len()).ok_or(Error::BufferTooSmall)?;
    let mut prev: &[u8] = &[];
    for (i, (c, p)) in string
        .chunks_exact(BLOCK)
        .zip(out.chunks_exact_mut(BLOCK))
        .enumerate()
    {
        let b = if i == 0 {
            md5_block(&[secret, request_authenticator, &salt])
        } else {
            md5_block(&[secret, prev])
        };
        p.iter_mut()
            .zip(c.iter().zip(b))
            .for_each(|(p, (c, k))| *p = c ^ k);
        prev = c;
    }
    let n = usize::from(out[0]);
    let password = out.get(1..1 + n).ok_or(Error::Malformed)?;
    Ok((tag, password))
}

/// CHAP-Password value (RFC 2865 §5.3): CHAP Ident and 16-octet response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChapPassword {
    /// The CHAP Identifier from the user's CHAP Response.
    pub ident: u8,
    /// The CHAP Response value (MD5 for CHAP-MD5).
    pub response: [u8; 16],
}

impl ChapPassword {
    /// Octets of a CHAP-Password value.
    pub const LEN: usize = 17;

    /// Parses a CHAP-Password value; not 17 octets -> `Malformed`.
    pub fn parse(value: &[u8]) -> Result<Self> {
        match value {
            [ident, response @ ..] if value.len() == Self::LEN => {
                let mut r = [0u8; 16];
                r.copy_from_slice(response);
                Ok(ChapPassword {
                    ident: *ident,
                    response: r,
                })
            }
            _ => Err(Error::Malformed),
        }
    }

    /// The value octets.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = self.ident;
        b[1..].copy_from_slice(&self.response);
        b
    }

    /// The CHAP-MD5 response a peer knowing `password` sends (RFC 1994
    /// §4.1): MD5(Ident + password + challenge). The challenge travels in
    /// CHAP-Challenge, or in the Request Authenticator if 16 octets.
    pub fn compute(ident: u8, password: &[u8], challenge: &[u8]) -> Self {
        ChapPassword {
            ident,
            response: md5_block(&[&[ident], password, challenge]),
        }
    }
}

/// Where the Message-Authenticator value sits in a packet.
fn message_authenticator_offset(pkt: &[u8]) -> Result<usize> {
    let attrs = pkt.get(HEADER_LEN..).ok_or(Error::Truncated)?;
    let mut rest = attrs;
    let mut found = None;
    while !rest.is_empty() {
        let offset = HEADER_LEN + (attrs.len() - rest.len()) + ATTR_HEADER_LEN;
        let (attr, next) = AttrRepr::parse(rest)?;
        if attr.attr_type == AttrType::MessageAuthenticator {
            // RFC 2869 §5.19 allows 0-1; a second copy cannot be verified.
            if found.is_some() || attr.value.len() != AUTHENTICATOR_LEN {
                return Err(Error::Malformed);
            }
            found = Some(offset);
        }
        rest = next;
    }
    found.ok_or(Error::Malformed)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// MD5 over the packet with `authenticator` in the Authenticator field.
    fn digest_with(&self, authenticator: &[u8; AUTHENTICATOR_LEN], secret: &[u8]) -> [u8; 16] {
        let pkt = self.packet_bytes();
        md5_block(&[
            pkt.get(..field::AUTHENTICATOR.start).unwrap_or(&[]),
            authenticator,
            pkt.get(field::ATTRIBUTES..).unwrap_or(&[]),
            secret,
        ])
    }

    /// The Response Authenticator of this reply (RFC 2865 §3, RFC 2866 §3,
    /// RFC 5176 §2.3): MD5(Code + Identifier + Length + Request
    /// Authenticator + Attributes + secret).
    pub fn compute_response_authenticator(
        &self,
        secret: &[u8],
        request_authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> [u8; AUTHENTICATOR_LEN] {
        self.digest_with(request_authenticator, secret)
    }

    /// Checks this reply's Response Authenticator against the request it
    /// answers; mismatch -> `Checksum`.
    pub fn verify_response_authenticator(
        &self,
        secret: &[u8],
        request_authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Result<()> {
        let want = self.compute_response_authenticator(secret, request_authenticator);
        let got = self.packet_bytes().get(field::AUTHENTICATOR);
        match got {
            Some(got) if ct_eq(got, &want) => Ok(()),
            Some(_) => Err(Error::Checksum),
            None => Err(Error::Truncated),
        }
    }

    /// The Request Authenticator of an Accounting-Request (RFC 2866 §3),
    /// Disconnect-Request or CoA-Request (RFC 5176 §2.3): MD5 over the
    /// packet with the field zeroed, then the secret. (An Access-Request's
    /// is random, not computed.)
    pub fn compute_request_authenticator(&self, secret: &[u8]) -> [u8; AUTHENTICATOR_LEN] {
        self.digest_with(&[0; AUTHENTICATOR_LEN], secret)
    }

    /// Checks an Accounting/Disconnect/CoA-Request's Request
    /// Authenticator; mismatch -> `Checksum`.
    pub fn verify_request_authenticator(&self, secret: &[u8]) -> Result<()> {
        let want = self.compute_request_authenticator(secret);
        match self.packet_bytes().get(field::AUTHENTICATOR) {
            Some(got) if ct_eq(got, &want) => Ok(()),
            Some(_) => Err(Error::Checksum),
            None => Err(Error::Truncated),
        }
    }

    /// The Message-Authenticator (RFC 2869 §5.14) this packet should carry:
    /// HMAC-MD5 keyed by `secret` over the packet with the attribute's
    /// value zeroed and the Authenticator field holding
    /// - 16 zeros for Accounting-, Disconnect- and CoA-Request (RFC 5176
    ///   §3.4; the computed Request Authenticator comes after);
    /// - otherwise `request_authenticator` if given: pass the request's
    ///   Authenticator for replies (Access-Accept/Reject/Challenge,
    ///   CoA/Disconnect-ACK/NAK, Accounting-Response);
    /// - otherwise the field as it is (Access-Request, Status-Server).
    ///
    /// No Message-Authenticator, two of them, or one not 16 octets ->
    /// `Malformed`; a malformed attribute list -> its parse error.
    pub fn compute_message_authenticator(
        &self,
        secret: &[u8],
        request_authenticator: Option<&[u8; AUTHENTICATOR_LEN]>,
    ) -> Result<[u8; AUTHENTICATOR_LEN]> {
        let pkt = self.packet_bytes();
        if pkt.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let at = message_authenticator_offset(pkt)?;
        let zeros = [0u8; AUTHENTICATOR_LEN];
        let authenticator: &[u8] = if self.code().has_computed_request_authenticator() {
            &zeros
        } else if let Some(ra) = request_authenticator {
            ra
        } else {
            &pkt[field::AUTHENTICATOR]
        };
        let mut mac = HmacMd5::new_from_slice(secret).map_err(|_| Error::Malformed)?;
        mac.update(&pkt[..field::AUTHENTICATOR.start]);
        mac.update(authenticator);
        mac.update(&pkt[field::ATTRIBUTES..at]);
        mac.update(&zeros);
        mac.update(&pkt[at + AUTHENTICATOR_LEN..]);
        Ok(mac.finalize().into_bytes().into())
    }

    /// Checks the Message-Authenticator (see
    /// [`Packet::compute_message_authenticator`] for `request_authenticator`).
    ///
    /// Absent (or duplicated, or not 16 octets) -> `Malformed`, so a
    /// client can insist on it in every reply (BlastRADIUS); present but
    /// wrong -> `Checksum`.
    pub fn verify_message_authenticator(
        &self,
        secret: &[u8],
        request_authenticator: Option<&[u8; AUTHENTICATOR_LEN]>,
    ) -> Result<()> {
        let want = self.compute_message_authenticator(secret, request_authenticator)?;
        let pkt = self.packet_bytes();
        let at = message_authenticator_offset(pkt)?;
        if ct_eq(&pkt[at..at + AUTHENTICATOR_LEN], &want) {
            Ok(())
        } else {
            Err(Error::Checksum)
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the Response Authenticator into the Authenticator field.
    /// Call it last, after [`Packet::fill_message_authenticator`].
    pub fn fill_response_authenticator(
        &mut self,
        secret: &[u8],
        request_authenticator: &[u8; AUTHENTICATOR_LEN],
    ) {
        let a = self.compute_response_authenticator(secret, request_authenticator);
        self.set_authenticator(&a);
    }

    /// Writes the computed Request Authenticator of an Accounting-,
    /// Disconnect- or CoA-Request. Call it last, after
    /// [`Packet::fill_message_authenticator`].
    pub fn fill_request_authenticator(&mut self, secret: &[u8]) {
        let a = self.compute_request_authenticator(secret);
        self.set_authenticator(&a);
    }

    /// Finds the Message-Authenticator attribute (e.g. the placeholder
    /// from [`super::PacketBuilder::push_message_authenticator`]) and
    /// fills in its value; errors as
    /// [`Packet::compute_message_authenticator`].
    pub fn fill_message_authenticator(
        &mut self,
        secret: &[u8],
        request_authenticator: Option<&[u8; AUTHENTICATOR_LEN]>,
    ) -> Result<()> {
        let mac = self.compute_message_authenticator(secret, request_authenticator)?;
        let at = message_authenticator_offset(self.packet_bytes())?;
        self.buffer.as_mut()[at..at + AUTHENTICATOR_LEN].copy_from_slice(&mac);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test::*;
    use super::super::{Code, PacketBuilder};
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn hex(s: &str) -> std::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_md5_rfc2202() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (&[0xaa; 16], &[0xdd; 50], "56be34521d144c88dbb8c733f0e8b3f6"),
        ];
        for (key, data, want) in cases {
            let mut mac = HmacMd5::new_from_slice(key).unwrap();
            mac.update(data);
            assert_eq!(mac.finalize().into_bytes()[..], hex(want)[..]);
        }
        // RFC 2202 case 6: an 80-octet key is hashed first.
        let mut mac = HmacMd5::new_from_slice(&[0xaa; 80]).unwrap();
        mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            mac.finalize().into_bytes()[..],
            hex("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd")[..]
        );
    }

    #[test]
    fn user_password_rfc2865_7_1() {
        let ra = auth_of(&REQUEST_7_1);
        let mut out = [0xa5u8; 20];
        let n = hide_user_password(b"arctangent", SECRET, &ra, &mut out).unwrap();
        assert_eq!(n, 16);
        assert_eq!(&out[..16], &REQUEST_7_1[28..44]);
        assert_eq!(&out[16..], &[0xa5; 4]);
        let mut plain = [0u8; 16];
        assert_eq!(
            unhide_user_password(&REQUEST_7_1[28..44], SECRET, &ra, &mut plain),
            Ok(&b"arctangent"[..])
        );
    }

    #[test]
    fn user_password_rfc2865_7_3() {
        let mut out = [0u8; 16];
        hide_user_password(b"challenge", SECRET, &auth_of(&REQUEST_7_3), &mut out).unwrap();
        assert_eq!(&out[..], &REQUEST_7_3[29..45]);
        hide_user_password(b"99101462", SECRET, &auth_of(&REQUEST_7_3_B), &mut out).unwrap();
        assert_eq!(&out[..], &REQUEST_7_3_B[29..45]);
        let mut plain = [0u8; 16];
        assert_eq!(
            unhide_user_password(
                &REQUEST_7_3_B[29..45],
                SECRET,
                &auth_of(&REQUEST_7_3_B),
                &mut plain
            ),
            Ok(&b"99101462"[..])
        );
    }

    #[test]
    fn user_password_limits() {
        let ra = [3u8; 16];
        let mut out = [0u8; 144];
        assert_eq!(hide_user_password(b"", SECRET, &ra, &mut out), Ok(16));
        assert_eq!(hidden_user_password_len(0), 16);
        assert_eq!(hidden_user_password_len(16), 16);
        assert_eq!(hidden_user_password_len(17), 32);
        assert_eq!(
            hide_user_password(&[b'x'; 128], SECRET, &ra, &mut out),
            Ok(128)
        );
        assert_eq!(
            hide_user_password(&[b'x'; 129], SECRET, &ra, &mut out),
            Err(Error::Malformed)
        );
        assert_eq!(
            hide_user_password(&[b'x'; 17], SECRET, &ra, &mut [0u8; 31]),
            Err(Error::BufferTooSmall)
        );
        let mut plain = [0u8; 160];
        for bad in [0usize, 15, 17, 144] {
            assert_eq!(
                unhide_user_password(&out[..bad.min(144)], SECRET, &ra, &mut plain),
                Err(Error::Malformed)
            );
        }
        assert_eq!(
            unhide_user_password(&out[..32], SECRET, &ra, &mut [0u8; 16]),
            Err(Error::BufferTooSmall)
        );
        // Chaining: a 33-octet password spans three blocks; each block's
        // key depends on the previous ciphertext.
        let pw = [0x41u8; 33];
        let n = hide_user_password(&pw, SECRET, &ra, &mut out).unwrap();
        assert_eq!(n, 48);
        let b2 = md5_block(&[SECRET, &out[..16]]);
        assert_eq!(out[16] ^ b2[0], 0x41);
        assert_eq!(
            unhide_user_password(&out[..48], SECRET, &ra, &mut plain),
            Ok(&pw[..])
        );
    }

    #[test]
    fn tunnel_password() {
        let ra = auth_of(&REQUEST_7_1);
        let mut out = [0xa5u8; 40];
        let n =
            hide_tunnel_password(1, [0x12, 0x34], b"l2tp-secret", SECRET, &ra, &mut out).unwrap();
        assert_eq!(n, 19);
        assert_eq!(tunnel_password_len(11), 19);
        assert_eq!(&out[..3], &[0x01, 0x92, 0x34]); // MSB forced on.
        assert_eq!(out[19], 0xa5);
        // Independent computation of the single block.
        let b1 = md5_block(&[SECRET, &ra, &[0x92, 0x34]]);
        let mut p = [0u8; 16];
        p[0] = 11;
        p[1..12].copy_from_slice(b"l2tp-secret");
        for i in 0..16 {
            assert_eq!(out[3 + i], p[i] ^ b1[i]);
        }
        let mut plain = [0u8; 16];
        assert_eq!(
            unhide_tunnel_password(&out[..n], SECRET, &ra, &mut plain),
            Ok((1, &b"l2tp-secret"[..]))
        );
        // Wrong secret: either garbage or a Data-Length that overruns.
        let mut plain = [0u8; 16];
        let r = unhide_tunnel_password(&out[..n], b"other", &ra, &mut plain);
        assert_ne!(r, Ok((1, &b"l2tp-secret"[..])));

        assert_eq!(tunnel_password_len(15), 19);
        assert_eq!(tunnel_password_len(16), 35);
        assert_eq!(tunnel_password_len(MAX_TUNNEL_PASSWORD_LEN), 243);
        let mut big = [0u8; 260];
        assert_eq!(
            hide_tunnel_password(0, [0, 0], &[1; 240], SECRET, &ra, &mut big),
            Err(Error::Malformed)
        );
        assert_eq!(
            hide_tunnel_password(0x20, [0, 0], b"x", SECRET, &ra, &mut big),
            Err(Error::Malformed)
        );
        assert_eq!(
            hide_tunnel_password(0, [0, 0], b"x", SECRET, &ra, &mut big[..18]),
            Err(Error::BufferTooSmall)
        );
        for bad in [0usize, 3, 18, 20, 34] {
            assert_eq!(
                unhide_tunnel_password(&big[..bad], SECRET, &ra, &mut [0u8; 64]),
                Err(Error::Malformed)
            );
        }
        assert_eq!(
            unhide_tunnel_password(&out[..19], SECRET, &ra, &mut [0u8; 15]),
            Err(Error::BufferTooSmall)
        );
        // Data-Length beyond the String.
        let mut v = [0u8; 19];
        v[1] = 0x80;
        let b1 = md5_block(&[SECRET, &ra, &[0x80, 0]]);
        v[3..].copy_from_slice(&b1);
        v[3] ^= 16; // decrypts to Data-Length 16 with 15 octets left
        assert_eq!(
            unhide_tunnel_password(&v, SECRET, &ra, &mut [0u8; 16]),
            Err(Error::Malformed)
        );
        v[3] ^= 16 ^ 15;
        assert_eq!(
            unhide_tunnel_password(&v, SECRET, &ra, &mut [0u8; 16]).map(|(_, p)| p.len()),
            Ok(15)
        );
    }

    #[test]
    fn response_authenticators_rfc2865() {
        for (req, resp) in [
            (&REQUEST_7_1[..], &ACCEPT_7_1[..]),
            (&REQUEST_7_2[..], &ACCEPT_7_2[..]),
            (&REQUEST_7_3[..], &CHALLENGE_7_3[..]),
            (&REQUEST_7_3_B[..], &REJECT_7_3[..]),
        ] {
            let ra = auth_of(req);
            let p = Packet::new_checked(resp).unwrap();
            assert_eq!(p.compute_response_authenticator(SECRET, &ra), auth_of(resp));
            assert_eq!(p.verify_response_authenticator(SECRET, &ra), Ok(()));
            assert_eq!(
                p.verify_response_authenticator(b"xyzzy5462", &ra),
                Err(Error::Checksum)
            );
            let mut other = ra;
            other[0] ^= 1;
            assert_eq!(
                p.verify_response_authenticator(SECRET, &other),
                Err(Error::Checksum)
            );
            // Rebuild the field from zeros.
            let mut copy = resp.to_vec();
            copy[4..20].fill(0);
            let mut p = Packet::new_checked(&mut copy[..]).unwrap();
            p.fill_response_authenticator(SECRET, &ra);
            assert_eq!(&copy[..], resp);
        }
        // Tampering with an attribute breaks it.
        let mut bad = ACCEPT_7_1;
        bad[37] ^= 1;
        assert_eq!(
            Packet::new_checked(&bad[..])
                .unwrap()
                .verify_response_authenticator(SECRET, &auth_of(&REQUEST_7_1)),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn accounting_request_authenticator() {
        let mut buf = [0xa5u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccountingRequest, 7, &[0; 16]).unwrap();
        b.push_u32(AttrType::AcctStatusType, 1).unwrap();
        b.push(AttrType::AcctSessionId, b"0001").unwrap();
        let mut p = b.finish();
        p.fill_request_authenticator(SECRET);
        let len = usize::from(p.length());
        // Independent: MD5(packet with zero authenticator + secret).
        let mut zeroed = buf[..len].to_vec();
        zeroed[4..20].fill(0);
        zeroed.extend_from_slice(SECRET);
        let want = md5_block(&[&zeroed]);
        assert_eq!(auth_of(&buf), want);
        let p = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(p.verify_request_authenticator(SECRET), Ok(()));
        assert_eq!(
            p.verify_request_authenticator(b"nope"),
            Err(Error::Checksum)
        );
        let mut bad = buf[..len].to_vec();
        bad[len - 1] ^= 0x40;
        assert_eq!(
            Packet::new_checked(&bad[..])
                .unwrap()
                .verify_request_authenticator(SECRET),
            Err(Error::Checksum)
        );
    }

    /// Builds an Access-Request with a Message-Authenticator and checks it
    /// against an HMAC computed over the plain bytes.
    #[test]
    fn message_authenticator_access_request() {
        let ra = [0x5au8; 16];
        let mut buf = [0u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &ra).unwrap();
        b.push_message_authenticator().unwrap();
        b.push(AttrType::UserName, b"nemo").unwrap();
        let mut p = b.finish();
        assert_eq!(
            p.verify_message_authenticator(SECRET, None),
            Err(Error::Checksum)
        );
        p.fill_message_authenticator(SECRET, None).unwrap();
        let len = usize::from(p.length());
        let mut zeroed = buf[..len].to_vec();
        zeroed[22..38].fill(0);
        let mut mac = HmacMd5::new_from_slice(SECRET).unwrap();
        mac.update(&zeroed);
        assert_eq!(buf[22..38], mac.finalize().into_bytes()[..]);
        let p = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(p.verify_message_authenticator(SECRET, None), Ok(()));
        assert_eq!(
            p.verify_message_authenticator(b"wrong", None),
            Err(Error::Checksum)
        );
        let mut bad = buf[..len].to_vec();
        bad[len - 1] ^= 1;
        assert_eq!(
            Packet::new_checked(&bad[..])
                .unwrap()
                .verify_message_authenticator(SECRET, None),
            Err(Error::Checksum)
        );
    }

    /// A reply: MA over the request's authenticator, then the Response
    /// Authenticator over the packet including the MA.
    #[test]
    fn message_authenticator_reply() {
        let ra = auth_of(&REQUEST_7_1);
        let mut buf = [0u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]).unwrap();
        b.push_message_authenticator().unwrap();
        b.push_u32(AttrType::ServiceType, 2).unwrap();
        let mut p = b.finish();
        p.fill_message_authenticator(SECRET, Some(&ra)).unwrap();
        p.fill_response_authenticator(SECRET, &ra);
        let len = usize::from(p.length());
        // Independent: HMAC with RA in the field and MA zeroed.
        let mut basis = buf[..len].to_vec();
        basis[4..20].copy_from_slice(&ra);
        basis[22..38].fill(0);
        let mut mac = HmacMd5::new_from_slice(SECRET).unwrap();
        mac.update(&basis);
        assert_eq!(buf[22..38], mac.finalize().into_bytes()[..]);

        let p = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(p.verify_response_authenticator(SECRET, &ra), Ok(()));
        assert_eq!(p.verify_message_authenticator(SECRET, Some(&ra)), Ok(()));
        // Without the request authenticator the field (the Response
        // Authenticator) is used, which is wrong for a reply.
        assert_eq!(
            p.verify_message_authenticator(SECRET, None),
            Err(Error::Checksum)
        );
        // RFC 2865 §7.1's accept has none: absent is Malformed, not Checksum.
        let p = Packet::new_checked(&ACCEPT_7_1[..]).unwrap();
        assert_eq!(
            p.verify_message_authenticator(SECRET, Some(&ra)),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn message_authenticator_coa_request() {
        let mut buf = [0u8; 128];
        let mut b = PacketBuilder::new(&mut buf, Code::CoaRequest, 9, &[0; 16]).unwrap();
        b.push(AttrType::AcctSessionId, b"abc").unwrap();
        b.push_message_authenticator().unwrap();
        let mut p = b.finish();
        p.fill_message_authenticator(SECRET, None).unwrap();
        p.fill_request_authenticator(SECRET);
        let len = usize::from(p.length());
        let mut basis = buf[..len].to_vec();
        basis[4..20].fill(0);
        basis[27..43].fill(0);
        let mut mac = HmacMd5::new_from_slice(SECRET).unwrap();
        mac.update(&basis);
        assert_eq!(buf[27..43], mac.finalize().into_bytes()[..]);
        let p = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(p.verify_request_authenticator(SECRET), Ok(()));
        // The field is ignored for CoA-Request, with or without `Some`.
        assert_eq!(p.verify_message_authenticator(SECRET, None), Ok(()));
        assert_eq!(
            p.verify_message_authenticator(SECRET, Some(&[1; 16])),
            Ok(())
        );
    }

    #[test]
    fn message_authenticator_malformed() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[2; 16]).unwrap();
        b.push_message_authenticator().unwrap();
        b.push_message_authenticator().unwrap();
        let mut p = b.finish();
        assert_eq!(
            p.fill_message_authenticator(SECRET, None),
            Err(Error::Malformed)
        );
        assert_eq!(
            p.verify_message_authenticator(SECRET, None),
            Err(Error::Malformed)
        );

        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[2; 16]).unwrap();
        b.push(AttrType::MessageAuthenticator, &[0; 15]).unwrap();
        let mut p = b.finish();
        assert_eq!(
            p.fill_message_authenticator(SECRET, None),
            Err(Error::Malformed)
        );

        // A broken attribute list ahead of it.
        let mut bytes = REQUEST_7_3_B.to_vec();
        assert_eq!(
            Packet::new_checked(&mut bytes[..])
                .unwrap()
                .fill_message_authenticator(SECRET, None),
            Err(Error::LengthMismatch)
        );
        assert_eq!(bytes[..], REQUEST_7_3_B[..]);
    }

    #[test]
    fn chap_password() {
        let c = ChapPassword::parse(&REQUEST_7_2[30..47]).unwrap();
        assert_eq!(c.ident, 0x16);
        assert_eq!(c.to_bytes()[..], REQUEST_7_2[30..47]);
        assert_eq!(
            ChapPassword::parse(&REQUEST_7_2[30..46]),
            Err(Error::Malformed)
        );
        assert_eq!(ChapPassword::parse(&[]), Err(Error::Malformed));
        assert_eq!(ChapPassword::parse(&[0; 18]), Err(Error::Malformed));
        let c = ChapPassword::compute(7, b"pw", b"challenge");
        let mut m = vec![7u8];
        m.extend_from_slice(b"pwchallenge");
        assert_eq!(c.response, md5_block(&[&m]));
        assert_eq!(c.ident, 7);
    }

    proptest! {
        #[test]
        fn user_password_roundtrip(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            ra in any::<[u8; 16]>(),
            // No trailing NUL: padding is stripped on unhide.
            password in proptest::collection::vec(any::<u8>(), 0..=MAX_USER_PASSWORD_LEN)
                .prop_map(|mut p| { if p.last() == Some(&0) { p.pop(); } p }),
        ) {
            let mut hidden = [0u8; 128];
            let n = hide_user_password(&password, &secret, &ra, &mut hidden).unwrap();
            prop_assert_eq!(n, hidden_user_password_len(password.len()));
            let mut plain = [0u8; 128];
            let got = unhide_user_password(&hidden[..n], &secret, &ra, &mut plain).unwrap();
            prop_assert_eq!(got.len(), password.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1));
            prop_assert_eq!(got, &password[..got.len()]);
        }

        #[test]
        fn tunnel_password_roundtrip(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            ra in any::<[u8; 16]>(),
            salt in any::<[u8; 2]>(),
            tag in 0u8..=MAX_TAG,
            password in proptest::collection::vec(any::<u8>(), 0..=MAX_TUNNEL_PASSWORD_LEN),
        ) {
            let mut value = [0u8; 253];
            let n = hide_tunnel_password(tag, salt, &password, &secret, &ra, &mut value).unwrap();
            prop_assert!(n <= 253);
            prop_assert!(value[1] & 0x80 != 0);
            let mut plain = [0u8; 256];
            let (t, got) = unhide_tunnel_password(&value[..n], &secret, &ra, &mut plain).unwrap();
            prop_assert_eq!(t, tag);
            prop_assert_eq!(got, &password[..]);
        }

        #[test]
        fn reply_authenticators_roundtrip(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            ra in any::<[u8; 16]>(),
            id in any::<u8>(),
            name in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut buf = [0u8; 256];
            let mut b = PacketBuilder::new(&mut buf, Code::CoaAck, id, &ra).unwrap();
            b.push(AttrType::UserName, &name).unwrap();
            b.push_message_authenticator().unwrap();
            let mut p = b.finish();
            p.fill_message_authenticator(&secret, Some(&ra)).unwrap();
            p.fill_response_authenticator(&secret, &ra);
            let len = usize::from(p.length());
            let p = Packet::new_checked(&buf[..len]).unwrap();
            prop_assert_eq!(p.verify_message_authenticator(&secret, Some(&ra)), Ok(()));
            prop_assert_eq!(p.verify_response_authenticator(&secret, &ra), Ok(()));
        }

        #[test]
        fn unhide_never_panics(value in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut out = [0u8; 256];
            let _ = unhide_user_password(&value, SECRET, &[0; 16], &mut out);
            let _ = unhide_tunnel_password(&value, SECRET, &[0; 16], &mut out);
            let _ = unhide_tunnel_password(&value, SECRET, &[0; 16], &mut out[..16]);
            let _ = ChapPassword::parse(&value);
        }
    }
}
