//! PPP over L2TP, LNS side (RFC 1661, 1332, 1877, 5072, 1334, 1994): sans-IO
//! engines in the shape of ARCHITECTURE §3 (no sockets, no clock reads;
//! `now` is a parameter).
//!
//! - [`fsm`]: the one RFC 1661 §4 option-negotiation automaton, generic over
//!   a per-protocol [`fsm::Negotiator`] (Ack/Nak/Reject hooks), one match arm
//!   per cell of the §4.1 state transition table.
//! - [`lcp`], [`ipcp`], [`ipv6cp`]: the LNS policies for LCP, IPCP (with
//!   the [`ipcp::AddressSource`] pool trait) and IPv6CP.
//! - [`auth`]: the authenticator side of PAP and CHAP-MD5, with the
//!   credential check made asynchronous ([`auth::AuthRequest`] out,
//!   [`session::PppSession::auth_result`] in) and a local verifier.
//! - [`session`]: one subscriber's PPP engine tying LCP, authentication and
//!   the NCPs together, taking and producing whole PPP frames.
//! - [`client`]: a client-side PPP peer (the subscriber), for tests and the
//!   bench.

pub mod auth;
pub mod client;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod session;

#[cfg(test)]
mod tests;

use md5::{Digest, Md5};

/// A deterministic random stream: MD5 in counter mode over a 16-octet
/// seed. The engines are sans-IO, so they read no OS entropy: the driver
/// seeds each session from the OS RNG (getrandom) and tests seed it with
/// constants. What it feeds (Magic-Numbers, CHAP challenges, IPv6
/// Interface-Identifiers) must be unpredictable to an outsider who does not
/// know the seed, which MD5's preimage resistance still gives; it is not a
/// general-purpose CSPRNG.
#[derive(Debug, Clone)]
pub struct Drbg {
    seed: [u8; 16],
    counter: u64,
    block: [u8; 16],
    used: usize,
}

impl Drbg {
    /// A stream from `seed`.
    pub fn new(seed: [u8; 16]) -> Self {
        Drbg {
            seed,
            counter: 0,
            block: [0; 16],
            used: 16,
        }
    }

    /// An independent stream derived from this one's seed and `label`.
    pub fn fork(&self, label: u8) -> Self {
        let mut md5 = Md5::new();
        md5.update(b"fork");
        md5.update(self.seed);
        md5.update([label]);
        Drbg::new(md5.finalize().into())
    }

    /// Fills `buf` with the next octets of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == 16 {
                let mut md5 = Md5::new();
                md5.update(self.seed);
                md5.update(self.counter.to_be_bytes());
                self.block = md5.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }

    /// The next 32 bits.
    pub fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill(&mut b);
        u32::from_be_bytes(b)
    }

    /// A non-zero 32-bit value different from `avoid` (Magic-Numbers,
    /// RFC 1661 §6.4).
    pub fn nonzero_u32_except(&mut self, avoid: u32) -> u32 {
        loop {
            let v = self.next_u32();
            if v != 0 && v != avoid {
                return v;
            }
        }
    }
}
