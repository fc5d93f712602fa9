//! Tunnel and session ID allocation, and the slot index the data plane uses.
//!
//! Both IDs in an upstream data message are ours to choose, so they are
//! chosen to index the data plane's slot array directly (ARCHITECTURE §1):
//! the low `bank_bits` bits of our tunnel ID pick a bank of 65,536 slots and
//! our session ID is the slot within the bank. Tunnels whose IDs share those
//! low bits share the bank, so session IDs are allocated per bank. Session
//! ID 0 is never allocated (it means "the tunnel" in control messages), so
//! slot `bank << 16` is never used.

/// Slots per bank: one per 16-bit session ID.
pub const SLOTS_PER_BANK: u32 = 1 << 16;

/// The largest supported `bank_bits` (256 banks, 16,777,216 slots).
pub const MAX_BANK_BITS: u8 = 8;

/// The data plane slot of (our tunnel ID, our session ID):
/// `(tunnel_id & (2^bank_bits - 1)) << 16 | session_id`.
///
/// This is the one formula shared with the data plane; `bank_bits` is
/// clamped to [`MAX_BANK_BITS`]. The slot array needs
/// `2^bank_bits * 65,536` entries.
#[inline]
pub const fn slot_index(bank_bits: u8, tunnel_id: u16, session_id: u16) -> u32 {
    let bits = if bank_bits > MAX_BANK_BITS {
        MAX_BANK_BITS
    } else {
        bank_bits
    };
    // One formula for both processes: the data plane indexes with the same.
    l2tpx_table::slot_index(tunnel_id, session_id, bits as u32)
}

/// Randomness for tunnel IDs, challenges and random vectors. The engine
/// takes it from the caller so tests are deterministic; a driver plugs in
/// the OS generator.
pub trait RandomSource {
    /// Fills `buf` with random bytes.
    fn fill_bytes(&mut self, buf: &mut [u8]);

    /// A random `u64`.
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
}

/// A seeded SplitMix64 generator: deterministic, NOT cryptographic. For
/// tests and the bench; production drivers should pass an OS-backed source.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl RandomSource for SplitMix64 {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64();
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Hasher for maps keyed by our own 16-bit IDs (tunnel and session IDs we
/// allocated, so a peer cannot choose colliding keys): one multiply instead
/// of SipHash. Low bits of the product permute the low bits of the ID, so
/// sequential session IDs spread over buckets; the top bits (hashbrown's tag)
/// are well mixed.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasher(u64);

const ID_HASH_K: u64 = 0x9e37_79b9_7f4a_7c15;

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(ID_HASH_K);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(ID_HASH_K);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by one of our IDs.
pub(crate) type IdMap<V> =
    std::collections::HashMap<u16, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A map keyed by a session's pair of our IDs ([`SessionKey`](super::SessionKey)).
pub(crate) type SessionKeyMap<V> =
    std::collections::HashMap<super::SessionKey, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A set of our IDs (hashed; see [`IdHasher`]).
pub(crate) type IdHashSet = std::collections::HashSet<u16, std::hash::BuildHasherDefault<IdHasher>>;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const WORDS: usize = 65536 / 64;

/// A set of 16-bit IDs (8 KiB), with a quarantine: a freed ID stays taken
/// until its release time, so it cannot be handed out again at once.
#[derive(Clone)]
struct IdSet {
    /// Taken IDs: in use or quarantined.
    bits: Box<[u64; WORDS]>,
    /// Taken IDs (in use or quarantined).
    count: u32,
    cursor: u16,
    /// Quarantined IDs, by release time (oldest first).
    held: VecDeque<(Instant, u16)>,
    /// The IDs in `held` (guards against a double free); allocated on the
    /// first quarantined free.
    held_bits: Option<Box<[u64; WORDS]>>,
}

fn bit(id: u16) -> (usize, u64) {
    (usize::from(id) / 64, 1 << (id % 64))
}

impl IdSet {
    fn new() -> Self {
        let mut bits = Box::new([0u64; WORDS]);
        bits[0] = 1; // ID 0 is never allocated.
        Self {
            bits,
            count: 0,
            cursor: 0,
            held: VecDeque::new(),
            held_bits: None,
        }
    }

    fn contains(&self, id: u16) -> bool {
        let (w, b) = bit(id);
        self.bits[w] & b != 0
    }

    fn is_held(&self, id: u16) -> bool {
        let (w, b) = bit(id);
        self.held_bits.as_ref().is_some_and(|h| h[w] & b != 0)
    }

    fn insert(&mut self, id: u16) {
        let (w, b) = bit(id);
        self.bits[w] |= b;
        self.count += 1;
    }

    fn remove(&mut self, id: u16) -> bool {
        if id == 0 || !self.contains(id) {
            return false;
        }
        let (w, b) = bit(id);
        self.bits[w] &= !b;
        self.count -= 1;
        true
    }

    /// Frees `id`: at once if `until` is `None`, else at `until`.
    fn free(&mut self, id: u16, until: Option<Instant>) {
        if id == 0 || !self.contains(id) || self.is_held(id) {
            return;
        }
        match until {
            None => {
                self.remove(id);
            }
            Some(t) => {
                let (w, b) = bit(id);
                self.held_bits
                    .get_or_insert_with(|| Box::new([0u64; WORDS]))[w] |= b;
                self.held.push_back((t, id));
            }
        }
    }

    /// Returns the quarantined IDs whose time has come.
    fn release(&mut self, now: Instant) {
        while let Some(&(t, id)) = self.held.front() {
            if t > now {
                break;
            }
            self.held.pop_front();
            if let Some(h) = self.held_bits.as_mut() {
                let (w, b) = bit(id);
                h[w] &= !b;
            }
            self.remove(id);
        }
        if self.held.is_empty() && self.held.capacity() > 64 {
            self.held.shrink_to(64);
        }
    }

    /// The first free ID at or after `start` (wrapping), skipping full words.
    fn first_free_from(&self, start: u16) -> Option<u16> {
        if self.count >= 65535 {
            return None;
        }
        let mut id = start;
        for _ in 0..=WORDS {
            let w = usize::from(id) / 64;
            let free = !self.bits[w] & (u64::MAX << (id % 64));
            if free != 0 {
                return Some((w * 64) as u16 + free.trailing_zeros() as u16);
            }
            id = ((w + 1) % WORDS * 64) as u16;
        }
        None
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet")
            .field("count", &self.count)
            .field("quarantined", &self.held.len())
            .finish()
    }
}

/// Allocates random, unique, non-zero tunnel IDs and per-bank session IDs.
///
/// With a quarantine (see [`IdAllocator::with_quarantine`]) a freed ID is
/// not handed out again before the quarantine has passed: late data
/// messages of a dead session (or tunnel) must never land in the slot of a
/// new subscriber. Quarantined IDs count as taken, so a bank whose 65,535
/// IDs are all in use or quarantined refuses new sessions.
#[derive(Debug)]
pub struct IdAllocator {
    bank_bits: u8,
    quarantine: Duration,
    tunnels: IdSet,
    banks: Vec<Option<IdSet>>,
}

impl IdAllocator {
    /// An empty allocator for `2^bank_bits` banks (clamped to
    /// [`MAX_BANK_BITS`]), without quarantine.
    pub fn new(bank_bits: u8) -> Self {
        Self::with_quarantine(bank_bits, Duration::ZERO)
    }

    /// An empty allocator whose freed IDs stay unavailable for `quarantine`.
    pub fn with_quarantine(bank_bits: u8, quarantine: Duration) -> Self {
        let bank_bits = bank_bits.min(MAX_BANK_BITS);
        Self {
            bank_bits,
            quarantine,
            tunnels: IdSet::new(),
            banks: (0..1usize << bank_bits).map(|_| None).collect(),
        }
    }

    /// `bank_bits` in force.
    pub fn bank_bits(&self) -> u8 {
        self.bank_bits
    }

    /// The quarantine of freed IDs.
    pub fn quarantine(&self) -> Duration {
        self.quarantine
    }

    /// Session slots in all: `banks * 65,535` (session 0 excluded).
    pub fn capacity(&self) -> usize {
        self.banks.len() * 65535
    }

    /// [`slot_index`] with this allocator's `bank_bits`.
    pub fn slot_index(&self, tunnel_id: u16, session_id: u16) -> u32 {
        slot_index(self.bank_bits, tunnel_id, session_id)
    }

    fn bank_of(&self, tunnel_id: u16) -> usize {
        usize::from(tunnel_id) & ((1 << self.bank_bits) - 1)
    }

    fn until(&self, now: Instant) -> Option<Instant> {
        (!self.quarantine.is_zero()).then(|| now + self.quarantine)
    }

    /// A fresh random non-zero tunnel ID (not in use, not quarantined), or
    /// `None` if all are taken.
    pub fn alloc_tunnel(&mut self, now: Instant, rng: &mut dyn RandomSource) -> Option<u16> {
        self.tunnels.release(now);
        for _ in 0..32 {
            let id = rng.next_u64() as u16;
            if id != 0 && !self.tunnels.contains(id) {
                self.tunnels.insert(id);
                return Some(id);
            }
        }
        let id = self.tunnels.first_free_from(rng.next_u64() as u16)?;
        self.tunnels.insert(id);
        Some(id)
    }

    /// Releases a tunnel ID (after the quarantine).
    pub fn free_tunnel(&mut self, now: Instant, id: u16) {
        let until = self.until(now);
        self.tunnels.free(id, until);
    }

    /// Marks tunnel ID `id` in use (a tunnel resumed after a restart);
    /// false when 0 or already taken.
    pub fn claim_tunnel(&mut self, id: u16) -> bool {
        if id == 0 || self.tunnels.contains(id) {
            return false;
        }
        self.tunnels.insert(id);
        true
    }

    /// Marks session ID `session_id` of the bank of `tunnel_id` in use (a
    /// session resumed after a restart); false when 0 or already taken.
    pub fn claim_session(&mut self, tunnel_id: u16, session_id: u16) -> bool {
        let b = self.bank_of(tunnel_id);
        let bank = self.banks[b].get_or_insert_with(IdSet::new);
        if session_id == 0 || bank.contains(session_id) {
            return false;
        }
        bank.insert(session_id);
        true
    }

    /// Tunnel IDs in use or quarantined.
    pub fn tunnels_in_use(&self) -> u32 {
        self.tunnels.count
    }

    /// Tunnel IDs quarantined.
    pub fn tunnels_quarantined(&self) -> usize {
        self.tunnels.held.len()
    }

    /// A free non-zero session ID in the bank of `tunnel_id` (not in use,
    /// not quarantined), or `None` if the bank is full.
    pub fn alloc_session(&mut self, now: Instant, tunnel_id: u16) -> Option<u16> {
        let b = self.bank_of(tunnel_id);
        let bank = self.banks[b].get_or_insert_with(IdSet::new);
        bank.release(now);
        let id = bank.first_free_from(bank.cursor.wrapping_add(1))?;
        bank.insert(id);
        bank.cursor = id;
        Some(id)
    }

    /// Releases a session ID of the bank of `tunnel_id` (after the
    /// quarantine).
    pub fn free_session(&mut self, now: Instant, tunnel_id: u16, session_id: u16) {
        let b = self.bank_of(tunnel_id);
        let until = self.until(now);
        if let Some(bank) = self.banks[b].as_mut() {
            bank.free(session_id, until);
        }
    }

    /// Session IDs in use or quarantined in the bank of `tunnel_id`.
    pub fn sessions_in_bank(&self, tunnel_id: u16) -> u32 {
        self.banks[self.bank_of(tunnel_id)]
            .as_ref()
            .map_or(0, |b| b.count)
    }

    /// Session IDs quarantined in the bank of `tunnel_id`.
    pub fn sessions_quarantined(&self, tunnel_id: u16) -> usize {
        self.banks[self.bank_of(tunnel_id)]
            .as_ref()
            .map_or(0, |b| b.held.len())
    }

    /// Returns every quarantined ID whose time has come (also done lazily
    /// by the allocations).
    pub fn release_expired(&mut self, now: Instant) {
        self.tunnels.release(now);
        for b in self.banks.iter_mut().flatten() {
            b.release(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn freed_session_ids_are_quarantined() {
        let now = t0();
        let q = Duration::from_secs(60);
        let mut a = IdAllocator::with_quarantine(0, q);
        let s1 = a.alloc_session(now, 9).unwrap();
        a.free_session(now, 9, s1);
        a.free_session(now, 9, s1); // a double free changes nothing
        assert_eq!(a.sessions_quarantined(9), 1);
        // The cursor wraps all the way round: still never s1 within 60 s.
        let t = now + Duration::from_secs(59);
        for _ in 0..65534 {
            assert_ne!(a.alloc_session(t, 9), Some(s1));
        }
        assert_eq!(a.alloc_session(t, 9), None, "full: 65,534 live + 1 held");
        a.free_session(t, 9, 77);
        assert_eq!(a.alloc_session(t, 9), None, "77 quarantined too");
        assert_eq!(a.alloc_session(now + q, 9), Some(s1), "released");
        assert_eq!(a.sessions_quarantined(9), 1, "77 still held");
        a.release_expired(t + q);
        assert_eq!(a.sessions_quarantined(9), 0);
        assert_eq!(a.alloc_session(t + q, 9), Some(77));
    }

    #[test]
    fn freed_tunnel_ids_are_quarantined() {
        let now = t0();
        let q = Duration::from_secs(60);
        let mut a = IdAllocator::with_quarantine(0, q);
        let mut rng = SplitMix64(5);
        let mut ids = Vec::new();
        for _ in 0..65535 {
            ids.push(a.alloc_tunnel(now, &mut rng).unwrap());
        }
        a.free_tunnel(now, ids[10]);
        assert_eq!(a.tunnels_quarantined(), 1);
        assert_eq!(
            a.alloc_tunnel(now + Duration::from_secs(30), &mut rng),
            None
        );
        assert_eq!(a.alloc_tunnel(now + q, &mut rng), Some(ids[10]));
    }

    #[test]
    fn slot_formula() {
        assert_eq!(slot_index(0, 0xffff, 7), 7);
        assert_eq!(slot_index(4, 0x1235, 9), (5 << 16) | 9);
        assert_eq!(slot_index(8, 0xabcd, 0xffff), (0xcd << 16) | 0xffff);
        assert_eq!(slot_index(20, 0xabcd, 1), (0xcd << 16) | 1);
    }

    #[test]
    fn tunnels_unique_nonzero_until_full() {
        let now = t0();
        let mut a = IdAllocator::new(2);
        let mut rng = SplitMix64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..65535 {
            let id = a.alloc_tunnel(now, &mut rng).unwrap();
            assert_ne!(id, 0);
            assert!(seen.insert(id));
        }
        assert_eq!(a.alloc_tunnel(now, &mut rng), None);
        a.free_tunnel(now, 77);
        assert_eq!(a.alloc_tunnel(now, &mut rng), Some(77));
    }

    #[test]
    fn sessions_per_bank_distinct_slots() {
        let now = t0();
        let mut a = IdAllocator::new(1);
        // Tunnels 2 and 4 share bank 0; 3 is in bank 1.
        let s2 = a.alloc_session(now, 2).unwrap();
        let s4 = a.alloc_session(now, 4).unwrap();
        let s3 = a.alloc_session(now, 3).unwrap();
        assert_ne!(s2, 0);
        assert_ne!(s2, s4);
        assert_ne!(a.slot_index(2, s2), a.slot_index(4, s4));
        assert_eq!(s3, s2, "other bank, own space");
        for _ in 2..65535 {
            a.alloc_session(now, 2).unwrap();
        }
        assert_eq!(a.alloc_session(now, 4), None, "bank 0 full");
        assert!(a.alloc_session(now, 5).is_some(), "bank 1 has room");
        a.free_session(now, 4, 1000);
        assert_eq!(a.alloc_session(now, 2), Some(1000));
        assert_eq!(a.capacity(), 2 * 65535);
    }
}
