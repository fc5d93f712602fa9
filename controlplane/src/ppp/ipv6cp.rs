//! The LNS's IPv6CP policy (RFC 5072): Interface-Identifiers only.
//!
//! Ours is random and non-zero. The peer's is Ack'd unless it is zero or
//! equal to ours, in which case it is Nak'd with a fresh random suggestion
//! (RFC 5072 §4.1). IPv6-Compression-Protocol and unknown options are
//! Rejected. A Nak of ours is taken when it suggests a usable value,
//! otherwise we pick a new random one.

use l2tpx_wire::ppp::ipv6cp::INTERFACE_IDENTIFIER_LEN;
use l2tpx_wire::ppp::{ConfigOption, EmitOption, Ipv6cp, Ipv6cpOption, OptionIter, RawOption};

use super::fsm::{Negotiator, PeerResponse};
use super::Drbg;

/// An Interface-Identifier.
pub type Iid = [u8; INTERFACE_IDENTIFIER_LEN];

/// The LNS's IPv6CP policy.
#[derive(Debug, Clone)]
pub struct Ipv6cpNegotiator {
    our_iid: Iid,
    our_rejected: bool,
    peer_iid: Option<Iid>,
    rng: Drbg,
}

impl Ipv6cpNegotiator {
    /// A negotiator with a random Interface-Identifier.
    pub fn new(mut rng: Drbg) -> Self {
        let our_iid = random_iid(&mut rng, &[0; 8]);
        Ipv6cpNegotiator {
            our_iid,
            our_rejected: false,
            peer_iid: None,
            rng,
        }
    }

    /// Our Interface-Identifier.
    pub fn our_iid(&self) -> Iid {
        self.our_iid
    }

    /// The peer's, as Ack'd.
    pub fn peer_iid(&self) -> Option<Iid> {
        self.peer_iid
    }
}

fn random_iid(rng: &mut Drbg, avoid: &Iid) -> Iid {
    loop {
        let mut iid = [0; 8];
        rng.fill(&mut iid);
        if iid != [0; 8] && iid != *avoid {
            return iid;
        }
    }
}

impl Negotiator for Ipv6cpNegotiator {
    type Proto = Ipv6cp;

    fn our_request(&mut self, buf: &mut Vec<u8>) {
        if !self.our_rejected {
            let o = Ipv6cpOption::InterfaceIdentifier(self.our_iid);
            let start = buf.len();
            buf.resize(start + o.buffer_len(), 0);
            o.emit(&mut buf[start..]);
        }
    }

    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            match Ipv6cpOption::parse(raw) {
                Ok(Ipv6cpOption::InterfaceIdentifier(iid)) => {
                    if iid == [0; 8] || iid == self.our_iid {
                        let suggestion = random_iid(&mut self.rng, &self.our_iid);
                        response.nak(raw, Ipv6cpOption::InterfaceIdentifier(suggestion));
                    }
                }
                _ => response.reject(raw),
            }
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_iid = None;
        for option in OptionIter::<Ipv6cpOption>::new(options).flatten() {
            if let Ipv6cpOption::InterfaceIdentifier(iid) = option {
                self.peer_iid = Some(iid);
            }
        }
    }

    fn nak_received(&mut self, options: &[u8]) {
        for option in OptionIter::<Ipv6cpOption>::new(options).flatten() {
            if let Ipv6cpOption::InterfaceIdentifier(iid) = option {
                let peer = self.peer_iid.unwrap_or([0; 8]);
                self.our_iid = if iid != [0; 8] && iid != peer {
                    iid
                } else {
                    random_iid(&mut self.rng, &peer)
                };
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            if raw.option_type == 1 {
                self.our_rejected = true;
            }
        }
    }
}
