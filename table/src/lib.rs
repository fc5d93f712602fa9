//! The session table shared by the control plane (its single writer) and the
//! data-plane workers (lock-free readers), ARCHITECTURE §2.
//!
//! This file fixes the interface between the table and the packet pipeline:
//! [`slot_index`], the [`Session`] snapshot a reader gets, the
//! [`SessionLookup`] trait the pipeline calls, and the per-worker
//! [`SessionCounters`]. The shared-memory layout behind it is in [`abi`].
//!
//! With the `std` feature (default), [`TableWriter`] (the control plane,
//! single writer) and [`TableReader`] (the data plane, lock-free readers
//! implementing [`SessionLookup`]) map the table from a file in /dev/shm,
//! on hugetlbfs, or anywhere else. All `unsafe` code is in `shm.rs`.
#![cfg_attr(not(feature = "std"), no_std)]

use core::net::Ipv4Addr;

pub mod abi;
#[cfg(feature = "std")]
mod index;
#[cfg(feature = "std")]
mod reader;
#[cfg(feature = "std")]
mod shm;
pub mod template;
#[cfg(feature = "std")]
mod writer;

#[cfg(feature = "std")]
pub use reader::{Changes, TableReader, WorkerCounters};
#[cfg(feature = "std")]
pub use writer::{IndexStats, SessionEntry, TableError, TableWriter};
#[cfg(all(test, feature = "std"))]
mod tests;

/// Bytes reserved for a session's outer header template:
/// Ethernet (14, or 18 with 802.1Q) + IPv4 (20) + UDP (8) + L2TP data header
/// (6 to 12: Length and Ns/Nr optional) + PPP (2 to 4).
pub const TEMPLATE_MAX: usize = 64;

/// Sessions per bank: the session ID is the slot within its bank.
pub const BANK_SLOTS: u32 = 1 << 16;

/// The slot of (our tunnel ID, our session ID): the low `bank_bits` of the
/// tunnel ID pick a bank of 65,536 slots and the session ID is the slot in
/// it (ARCHITECTURE §1). The control plane allocates IDs so that this is
/// unique; the data plane finds an upstream session with it, no hashing.
#[inline]
pub const fn slot_index(tunnel_id: u16, session_id: u16, bank_bits: u32) -> u32 {
    let bank_mask = (1u32 << bank_bits) - 1;
    ((tunnel_id as u32 & bank_mask) << 16) | session_id as u32
}

/// A consistent copy of one published session, as a worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Its slot index.
    pub slot: u32,
    /// Our tunnel ID (what the LAC puts in data messages to us).
    pub our_tunnel_id: u16,
    /// Our session ID.
    pub our_session_id: u16,
    /// The LAC's tunnel ID (what we put in data messages to it).
    pub peer_tunnel_id: u16,
    /// The LAC's session ID.
    pub peer_session_id: u16,
    /// The LAC's address and UDP port (upstream source check).
    pub peer_addr: Ipv4Addr,
    /// The LAC's UDP port.
    pub peer_port: u16,
    /// The subscriber's IPv4 address (upstream anti-spoofing, downstream key).
    pub subscriber_v4: Option<Ipv4Addr>,
    /// The subscriber's IPv6 /64 (upstream anti-spoofing, downstream key).
    pub subscriber_v6_prefix: Option<[u8; 8]>,
    /// The peer requires sequenced data messages (Ns in every message).
    pub sequencing: bool,
    /// The largest inner (PPP payload) packet the session carries.
    pub mtu: u16,
    /// Clamp TCP MSS on SYNs to this value (0: no clamping).
    pub mss_clamp: u16,
    /// The outer header to prepend downstream, ready but for the IPv4 total
    /// length and checksum, the UDP length, the L2TP Length (if present)
    /// and Ns (if sequencing).
    pub template: [u8; TEMPLATE_MAX],
    /// How many bytes of `template` are used.
    pub template_len: u8,
    /// Offset of the L2TP header inside the template.
    pub l2tp_offset: u8,
}

/// The part of a [`Session`] that upstream decapsulation checks, all in the
/// slot's first cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamSession {
    /// Its slot index.
    pub slot: u32,
    /// Our tunnel ID.
    pub our_tunnel_id: u16,
    /// Our session ID.
    pub our_session_id: u16,
    /// The LAC's address (upstream source check).
    pub peer_addr: Ipv4Addr,
    /// The LAC's UDP port.
    pub peer_port: u16,
    /// The subscriber's IPv4 address (anti-spoofing).
    pub subscriber_v4: Option<Ipv4Addr>,
    /// The subscriber's IPv6 /64 (anti-spoofing).
    pub subscriber_v6_prefix: Option<[u8; 8]>,
    /// Clamp TCP MSS on SYNs to this value (0: no clamping).
    pub mss_clamp: u16,
}

impl From<&Session> for UpstreamSession {
    fn from(s: &Session) -> Self {
        UpstreamSession {
            slot: s.slot,
            our_tunnel_id: s.our_tunnel_id,
            our_session_id: s.our_session_id,
            peer_addr: s.peer_addr,
            peer_port: s.peer_port,
            subscriber_v4: s.subscriber_v4,
            subscriber_v6_prefix: s.subscriber_v6_prefix,
            mss_clamp: s.mss_clamp,
        }
    }
}

/// The part of a [`Session`] that downstream encapsulation needs: the
/// keys it verifies, the MTU and MSS clamp, and the template. No peer
/// fields, so the shared table copies less under the seqlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownstreamSession {
    /// Its slot index.
    pub slot: u32,
    /// The subscriber's IPv4 address.
    pub subscriber_v4: Option<Ipv4Addr>,
    /// The subscriber's IPv6 /64.
    pub subscriber_v6_prefix: Option<[u8; 8]>,
    /// The largest inner packet the session carries.
    pub mtu: u16,
    /// Clamp TCP MSS on SYNs to this value (0: no clamping).
    pub mss_clamp: u16,
    /// How many bytes of `template` are used.
    pub template_len: u8,
    /// Offset of the L2TP header inside the template.
    pub l2tp_offset: u8,
    /// The outer header to prepend (see [`Session::template`]).
    pub template: [u8; TEMPLATE_MAX],
}

impl From<&Session> for DownstreamSession {
    fn from(s: &Session) -> Self {
        DownstreamSession {
            slot: s.slot,
            subscriber_v4: s.subscriber_v4,
            subscriber_v6_prefix: s.subscriber_v6_prefix,
            mtu: s.mtu,
            mss_clamp: s.mss_clamp,
            template_len: s.template_len,
            l2tp_offset: s.l2tp_offset,
            template: s.template,
        }
    }
}

/// What the pipeline asks of the table. Lookups return a snapshot, copied
/// under the slot's seqlock, of a session that is up; `None` otherwise.
pub trait SessionLookup {
    /// Upstream: the session at `slot` (see [`slot_index`]).
    fn by_slot(&self, slot: u32) -> Option<Session>;
    /// Upstream's lookup: [`SessionLookup::by_slot`], reduced to what
    /// decapsulation checks; the shared table reads one cache line and
    /// copies only those fields.
    #[inline]
    fn by_slot_upstream(&self, slot: u32) -> Option<UpstreamSession> {
        self.by_slot(slot).map(|s| UpstreamSession::from(&s))
    }
    /// Downstream: the session whose subscriber address is `dst`.
    fn by_ipv4(&self, dst: Ipv4Addr) -> Option<Session>;
    /// Downstream: the session whose subscriber /64 holds `dst`.
    fn by_ipv6(&self, dst: &[u8; 16]) -> Option<Session>;
    /// Downstream's [`SessionLookup::by_slot`] (the XDP slot hint),
    /// reduced to what encapsulation needs.
    #[inline]
    fn by_slot_downstream(&self, slot: u32) -> Option<DownstreamSession> {
        self.by_slot(slot).map(|s| DownstreamSession::from(&s))
    }
    /// [`SessionLookup::by_slot_downstream`] into `out`, a buffer the
    /// caller keeps from packet to packet: whether a session was found
    /// (`out` holds it then, and is unspecified otherwise). The shared
    /// table copies the slot straight into `out` under the seqlock.
    #[inline]
    fn by_slot_downstream_into(&self, slot: u32, out: &mut DownstreamSession) -> bool {
        put(self.by_slot_downstream(slot), out)
    }
    /// [`SessionLookup::by_ipv4_downstream`] into `out`, as
    /// [`SessionLookup::by_slot_downstream_into`].
    #[inline]
    fn by_ipv4_downstream_into(&self, dst: Ipv4Addr, out: &mut DownstreamSession) -> bool {
        put(self.by_ipv4_downstream(dst), out)
    }
    /// [`SessionLookup::by_ipv6_downstream`] into `out`, as
    /// [`SessionLookup::by_slot_downstream_into`].
    #[inline]
    fn by_ipv6_downstream_into(&self, dst: &[u8; 16], out: &mut DownstreamSession) -> bool {
        put(self.by_ipv6_downstream(dst), out)
    }
    /// [`SessionLookup::by_ipv4`], reduced to what encapsulation needs.
    #[inline]
    fn by_ipv4_downstream(&self, dst: Ipv4Addr) -> Option<DownstreamSession> {
        self.by_ipv4(dst).map(|s| DownstreamSession::from(&s))
    }
    /// [`SessionLookup::by_ipv6`], reduced to what encapsulation needs.
    #[inline]
    fn by_ipv6_downstream(&self, dst: &[u8; 16]) -> Option<DownstreamSession> {
        self.by_ipv6(dst).map(|s| DownstreamSession::from(&s))
    }
    /// The next Ns to send on a sequencing session (shared by all workers).
    fn next_ns(&self, slot: u32) -> u16;
    /// The bank bits in use, for [`slot_index`].
    fn bank_bits(&self) -> u32;
}

/// `s` into `out`; whether there was one.
#[inline(always)]
fn put(s: Option<DownstreamSession>, out: &mut DownstreamSession) -> bool {
    match s {
        Some(s) => {
            *out = s;
            true
        }
        None => false,
    }
}

impl DownstreamSession {
    /// A session with every field zero or empty (a buffer to read into).
    pub const EMPTY: DownstreamSession = DownstreamSession {
        slot: 0,
        subscriber_v4: None,
        subscriber_v6_prefix: None,
        mtu: 0,
        mss_clamp: 0,
        template_len: 0,
        l2tp_offset: 0,
        template: [0; TEMPLATE_MAX],
    };
}

/// Per-session traffic counters, each written only by its worker; the
/// control plane sums them across workers for accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SessionCounters {
    /// From the subscriber (upstream), packets.
    pub up_packets: u64,
    /// From the subscriber, bytes of inner IP packets.
    pub up_bytes: u64,
    /// To the subscriber (downstream), packets.
    pub down_packets: u64,
    /// To the subscriber, bytes of inner IP packets.
    pub down_bytes: u64,
}
