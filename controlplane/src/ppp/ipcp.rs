//! The LNS's IPCP policy (RFC 1332, DNS and NBNS from RFC 1877) and an
//! in-memory IPv4 address pool.
//!
//! We Configure-Request our own IP-Address (the gateway address). For the
//! peer's request:
//! - IP-Address 0.0.0.0 or anything but the assigned address: Nak with the
//!   assigned address; Max-Failure Naks later the automaton turns that into
//!   a Reject (RFC 1661 §4.6) and the session gives up IPv4 when IPCP opens
//!   without an agreed address. The assigned address: Ack. No IP-Address
//!   in the request: Nak appending the assigned address (RFC 1661 §5.3
//!   allows appending options the peer should ask for).
//! - Primary/Secondary-DNS (and -NBNS): Nak'd with the configured value
//!   unless already equal; Rejected when none is configured.
//! - IP-Compression-Protocol, the obsolete IP-Addresses option and unknown
//!   options: Rejected.
//!
//! The address comes from an [`AddressSource`] (RADIUS Framed-IP-Address
//! or a pool); [`Ipv4Pool`] is a simple range pool.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use l2tpx_wire::ppp::{ConfigOption, EmitOption, Ipcp, IpcpOption, OptionIter, RawOption};

use super::fsm::{Negotiator, PeerResponse};

/// IPCP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcpConfig {
    /// Our (gateway) address, sent in our IP-Address option.
    pub local_address: Ipv4Addr,
    /// Primary and Secondary DNS server to give out (RFC 1877).
    pub dns: [Option<Ipv4Addr>; 2],
    /// Primary and Secondary NBNS server to give out (RFC 1877).
    pub nbns: [Option<Ipv4Addr>; 2],
}

impl Default for IpcpConfig {
    fn default() -> Self {
        IpcpConfig {
            local_address: Ipv4Addr::new(198, 18, 0, 1),
            dns: [None, None],
            nbns: [None, None],
        }
    }
}

/// Where subscriber addresses come from.
pub trait AddressSource {
    /// A free address, or `None` when exhausted.
    fn allocate(&mut self) -> Option<Ipv4Addr>;
    /// Gives an address back.
    fn release(&mut self, address: Ipv4Addr);
}

/// A pool over an inclusive address range. Released addresses go to the
/// back of the free list, so an address is reused as late as possible.
#[derive(Debug, Clone)]
pub struct Ipv4Pool {
    first: u32,
    free: VecDeque<u32>,
    in_use: Vec<bool>,
    /// Addresses [`Ipv4Pool::claim`]ed but still in `free` (removed in one
    /// pass by the next allocation or release).
    claimed: usize,
}

impl Ipv4Pool {
    /// A pool of `first..=last` (empty if `last < first`).
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Self {
        let (a, b) = (u32::from(first), u32::from(last));
        let free: VecDeque<u32> = if b >= a {
            (a..=b).collect()
        } else {
            VecDeque::new()
        };
        Ipv4Pool {
            first: a,
            in_use: vec![false; free.len()],
            free,
            claimed: 0,
        }
    }

    /// Addresses not allocated.
    pub fn available(&self) -> usize {
        self.free.len() - self.claimed
    }

    /// Marks `address` allocated (a session resumed after a restart holds
    /// it); false when it is not in the pool or already allocated. O(1):
    /// the free list is cleaned once, at the next allocation or release.
    pub fn claim(&mut self, address: Ipv4Addr) -> bool {
        match self.index(address) {
            Some(i) if !self.in_use[i] => {
                self.in_use[i] = true;
                self.claimed += 1;
                true
            }
            _ => false,
        }
    }

    fn settle_claims(&mut self) {
        if self.claimed > 0 {
            let (first, in_use) = (self.first, &self.in_use);
            self.free.retain(|&a| !in_use[(a - first) as usize]);
            self.claimed = 0;
        }
    }

    fn index(&self, address: Ipv4Addr) -> Option<usize> {
        let i = u32::from(address).checked_sub(self.first)? as usize;
        (i < self.in_use.len()).then_some(i)
    }
}

impl AddressSource for Ipv4Pool {
    fn allocate(&mut self) -> Option<Ipv4Addr> {
        self.settle_claims();
        let a = self.free.pop_front()?;
        self.in_use[(a - self.first) as usize] = true;
        Some(Ipv4Addr::from(a))
    }

    fn release(&mut self, address: Ipv4Addr) {
        // Foreign or double releases are ignored.
        self.settle_claims();
        if let Some(i) = self.index(address) {
            if std::mem::replace(&mut self.in_use[i], false) {
                self.free.push_back(u32::from(address));
            }
        }
    }
}

/// The LNS's IPCP policy.
#[derive(Debug, Clone)]
pub struct IpcpNegotiator {
    config: IpcpConfig,
    local_rejected: bool,
    assigned: Option<Ipv4Addr>,
    peer_address: Option<Ipv4Addr>,
    peer_dns: [Option<Ipv4Addr>; 2],
}

impl IpcpNegotiator {
    /// A negotiator for `config`; the peer's address is set later with
    /// [`set_assigned`](Self::set_assigned).
    pub fn new(config: IpcpConfig) -> Self {
        IpcpNegotiator {
            config,
            local_rejected: false,
            assigned: None,
            peer_address: None,
            peer_dns: [None, None],
        }
    }

    /// The address to give the peer.
    pub fn set_assigned(&mut self, address: Option<Ipv4Addr>) {
        self.assigned = address;
    }

    /// The address to give the peer.
    pub fn assigned(&self) -> Option<Ipv4Addr> {
        self.assigned
    }

    /// Overrides the DNS servers given to this peer (per-user settings).
    pub fn set_dns(&mut self, dns: [Option<Ipv4Addr>; 2]) {
        self.config.dns = dns;
    }

    /// Restores the address the peer had Ack'd before a control-plane
    /// restart.
    pub fn resume_peer(&mut self, address: Ipv4Addr) {
        self.assigned = Some(address);
        self.peer_address = Some(address);
    }

    /// The peer's address as Ack'd (None when it asked for none).
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        self.peer_address
    }

    /// The DNS servers the peer Ack'd with.
    pub fn peer_dns(&self) -> [Option<Ipv4Addr>; 2] {
        self.peer_dns
    }

    /// Our address.
    pub fn local_address(&self) -> Ipv4Addr {
        self.config.local_address
    }

    fn check(
        response: &mut PeerResponse,
        raw: RawOption<'_>,
        asked: Ipv4Addr,
        ours: Option<Ipv4Addr>,
        make: fn(Ipv4Addr) -> IpcpOption<'static>,
    ) {
        match ours {
            Some(v) if v == asked => {}
            Some(v) => response.nak(raw, make(v)),
            None => response.reject(raw),
        }
    }
}

impl Negotiator for IpcpNegotiator {
    type Proto = Ipcp;

    fn our_request(&mut self, buf: &mut Vec<u8>) {
        if !self.local_rejected {
            let o = IpcpOption::IpAddress(self.config.local_address);
            let start = buf.len();
            buf.resize(start + o.buffer_len(), 0);
            o.emit(&mut buf[start..]);
        }
    }

    fn peer_request(&mut self, options: &[u8], response: &mut PeerResponse) {
        let mut saw_address = false;
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            let Ok(option) = IpcpOption::parse(raw) else {
                response.reject(raw);
                continue;
            };
            let c = &self.config;
            match option {
                IpcpOption::IpAddress(a) => {
                    saw_address = true;
                    Self::check(response, raw, a, self.assigned, IpcpOption::IpAddress);
                }
                IpcpOption::PrimaryDns(a) => {
                    Self::check(response, raw, a, c.dns[0], IpcpOption::PrimaryDns)
                }
                IpcpOption::SecondaryDns(a) => {
                    Self::check(response, raw, a, c.dns[1], IpcpOption::SecondaryDns)
                }
                IpcpOption::PrimaryNbns(a) => {
                    Self::check(response, raw, a, c.nbns[0], IpcpOption::PrimaryNbns)
                }
                IpcpOption::SecondaryNbns(a) => {
                    Self::check(response, raw, a, c.nbns[1], IpcpOption::SecondaryNbns)
                }
                IpcpOption::IpAddresses { .. }
                | IpcpOption::IpCompressionProtocol(_)
                | IpcpOption::Unknown { .. } => response.reject(raw),
            }
        }
        if !saw_address {
            if let Some(a) = self.assigned {
                response.nak_extra(IpcpOption::IpAddress(a));
            }
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_address = None;
        self.peer_dns = [None, None];
        for option in OptionIter::<IpcpOption>::new(options).flatten() {
            match option {
                IpcpOption::IpAddress(a) => self.peer_address = Some(a),
                IpcpOption::PrimaryDns(a) => self.peer_dns[0] = Some(a),
                IpcpOption::SecondaryDns(a) => self.peer_dns[1] = Some(a),
                _ => {}
            }
        }
    }

    fn nak_received(&mut self, options: &[u8]) {
        // The peer wants another gateway address: we have only ours, so
        // we stop asking for one (as if Rejected) instead of looping.
        for option in OptionIter::<IpcpOption>::new(options).flatten() {
            if let IpcpOption::IpAddress(_) = option {
                self.local_rejected = true;
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for raw in OptionIter::<RawOption>::new(options).flatten() {
            if raw.option_type == 3 {
                self.local_rejected = true;
            }
        }
    }
}
