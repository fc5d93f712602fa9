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
pub(crate) struct IdHasher(u64);

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

/// A set of our IDs (hashed; see [`IdHasher`]).
pub(crate) type IdHashSet = std::collections::HashSet<u16, std::hash::BuildHasherDefault<IdHasher>>;

const WORDS: usize = 65536 / 64;

/// A set of 16-bit IDs (8 KiB).
#[derive(Clone)]
struct IdSet {
    bits: Box<[u64; WORDS]>,
    count: u32,
    cursor: u16,
}

impl IdSet {
    fn new() -> Self {
        let mut bits = Box::new([0u64; WORDS]);
        bits[0] = 1; // ID 0 is never allocated.
        Self {
            bits,
            count: 0,
            cursor: 0,
        }
    }

    fn contains(&self, id: u16) -> bool {
        self.bits[usize::from(id) / 64] & (1 << (id % 64)) != 0
    }

    fn insert(&mut self, id: u16) {
        self.bits[usize::from(id) / 64] |= 1 << (id % 64);
        self.count += 1;
    }

    fn remove(&mut self, id: u16) -> bool {
        if id == 0 || !self.contains(id) {
            return false;
        }
        self.bits[usize::from(id) / 64] &= !(1 << (id % 64));
        self.count -= 1;
        true
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
        f.debug_struct("IdSet").field("count", &self.count).finish()
    }
}

/// Allocates random, unique, non-zero tunnel IDs and per-bank session IDs.
#[derive(Debug)]
pub struct IdAllocator {
    bank_bits: u8,
    tunnels: IdSet,
    banks: Vec<Option<IdSet>>,
}

impl IdAllocator {
    /// An empty allocator for `2^bank_bits` banks (clamped to
    /// [`MAX_BANK_BITS`]).
    pub fn new(bank_bits: u8) -> Self {
        let bank_bits = bank_bits.min(MAX_BANK_BITS);
        Self {
            bank_bits,
            tunnels: IdSet::new(),
            banks: (0..1usize << bank_bits).map(|_| None).collect(),
        }
    }

    /// `bank_bits` in force.
    pub fn bank_bits(&self) -> u8 {
        self.bank_bits
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

    /// A fresh random non-zero tunnel ID, or `None` if all are taken.
    pub fn alloc_tunnel(&mut self, rng: &mut dyn RandomSource) -> Option<u16> {
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

    /// Releases a tunnel ID.
    pub fn free_tunnel(&mut self, id: u16) {
        self.tunnels.remove(id);
    }

    /// Tunnel IDs in use.
    pub fn tunnels_in_use(&self) -> u32 {
        self.tunnels.count
    }

    /// A free non-zero session ID in the bank of `tunnel_id`, or `None` if
    /// the bank is full.
    pub fn alloc_session(&mut self, tunnel_id: u16) -> Option<u16> {
        let b = self.bank_of(tunnel_id);
        let bank = self.banks[b].get_or_insert_with(IdSet::new);
        let id = bank.first_free_from(bank.cursor.wrapping_add(1))?;
        bank.insert(id);
        bank.cursor = id;
        Some(id)
    }

    /// Releases a session ID of the bank of `tunnel_id`.
    pub fn free_session(&mut self, tunnel_id: u16, session_id: u16) {
        let b = self.bank_of(tunnel_id);
        if let Some(bank) = self.banks[b].as_mut() {
            bank.remove(session_id);
        }
    }

    /// Session IDs in use in the bank of `tunnel_id`.
    pub fn sessions_in_bank(&self, tunnel_id: u16) -> u32 {
        self.banks[self.bank_of(tunnel_id)]
            .as_ref()
            .map_or(0, |b| b.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_formula() {
        assert_eq!(slot_index(0, 0xffff, 7), 7);
        assert_eq!(slot_index(4, 0x1235, 9), (5 << 16) | 9);
        assert_eq!(slot_index(8, 0xabcd, 0xffff), (0xcd << 16) | 0xffff);
        assert_eq!(slot_index(20, 0xabcd, 1), (0xcd << 16) | 1);
    }

    #[test]
    fn tunnels_unique_nonzero_until_full() {
        let mut a = IdAllocator::new(2);
        let mut rng = SplitMix64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..65535 {
            let id = a.alloc_tunnel(&mut rng).unwrap();
            assert_ne!(id, 0);
            assert!(seen.insert(id));
        }
        assert_eq!(a.alloc_tunnel(&mut rng), None);
        a.free_tunnel(77);
        assert_eq!(a.alloc_tunnel(&mut rng), Some(77));
    }

    #[test]
    fn sessions_per_bank_distinct_slots() {
        let mut a = IdAllocator::new(1);
        // Tunnels 2 and 4 share bank 0; 3 is in bank 1.
        let s2 = a.alloc_session(2).unwrap();
        let s4 = a.alloc_session(4).unwrap();
        let s3 = a.alloc_session(3).unwrap();
        assert_ne!(s2, 0);
        assert_ne!(s2, s4);
        assert_ne!(a.slot_index(2, s2), a.slot_index(4, s4));
        assert_eq!(s3, s2, "other bank, own space");
        for _ in 2..65535 {
            a.alloc_session(2).unwrap();
        }
        assert_eq!(a.alloc_session(4), None, "bank 0 full");
        assert!(a.alloc_session(5).is_some(), "bank 1 has room");
        a.free_session(4, 1000);
        assert_eq!(a.alloc_session(2), Some(1000));
        assert_eq!(a.capacity(), 2 * 65535);
    }
}
