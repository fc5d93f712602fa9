//! The shared-memory layout of the session table (ARCHITECTURE §2).
//!
//! One mapping, in this order, every region starting on a
//! [`REGION_ALIGN`] boundary:
//!
//! | region            | type                               | count                  |
//! |-------------------|------------------------------------|------------------------|
//! | header            | [`Header`]                         | 1 (256 bytes)          |
//! | slot blocks       | [`Slot`]s and worker counters      | see [`Blocks`]         |
//! | Ns counters       | `AtomicU32`                        | `capacity`             |
//! | IPv4 index ×2     | `AtomicU64` entries                | `v4_index_size` each   |
//! | IPv6 index ×2     | `AtomicU64` entries                | `v6_index_size` each   |
//! | counter baselines | [`SlotCounters`]                   | `capacity`             |
//! | drop counters     | [`DropCounters`]                   | `workers`              |
//! | change ring       | `AtomicU32` slot numbers           | [`CHANGE_RING`]        |
//!
//! **Slot blocks** keep each session's per-worker traffic counters in the
//! same 4 KiB page as its slot, so a packet touches one page for both
//! ([`Blocks`]; the reason is in docs/decisions.md, "Slot blocks").
//!
//! Everything in the mapping is an atomic integer, so any bit pattern is a
//! valid value and two processes may touch it at once without undefined
//! behaviour; on x86-64 a relaxed atomic load or store is a plain `mov`.
//! Multi-byte values are native-endian except where a field says otherwise
//! (addresses are kept in network byte order, template bytes in wire order).
//!
//! **Slots** are guarded by a seqlock: the single writer makes
//! [`Slot::seq`] odd, stores the fields, then makes it even with Release; a
//! reader loads `seq` (Acquire), copies, fences (Acquire), re-loads `seq`
//! and retries if it was odd or changed ([`Slot::read`]).
//!
//! **Indexes** map a subscriber address to a slot: open addressing, linear
//! probing, power-of-two size ≥ 2 × capacity, each entry one `AtomicU64`
//! `key << 32 | (slot + 1)` ([`entry`]); a slot field of [`ENTRY_EMPTY`]
//! (0, so a fresh zero-filled file is an empty index) ends a probe and
//! [`ENTRY_TOMBSTONE`] is skipped. The IPv4 key is the address itself; the
//! IPv6 key is a 32-bit fingerprint of the /64 ([`v6_hash`]). Either way a
//! reader trusts an entry only after re-checking, inside the seqlock read
//! of the slot, that the slot is up and holds exactly that address, so a
//! concurrent move or withdrawal yields a miss, never the wrong session.
//! Each index has two copies; the writer rebuilds into the idle copy and
//! flips [`Header::v4_active`]/[`Header::v6_active`] (see `writer.rs`).
//!
//! **The change ring** lists the slots the writer changed, newest last:
//! entry `i % CHANGE_RING` holds the slot of change `i`, and
//! [`Header::changes_head`] counts the changes so far (stored with Release
//! after the entry). A reader that mirrors the table elsewhere (the XDP
//! subscriber maps) follows it instead of rescanning every slot; one that
//! falls more than [`CHANGE_RING`] behind rescans ([`crate::Changes`]).
//!
//! The [`LAYOUT_HASH`] folds every size, offset, encoding constant and the
//! index hash functions' outputs: a reader built from a different ABI fails
//! to open the table instead of misreading it.

use crate::{SessionCounters, TEMPLATE_MAX};
use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::{fence, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// `b"L2TPXTBL"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"L2TPXTBL");
/// Bumped on any incompatible change (the layout hash catches the rest).
pub const ABI_VERSION: u32 = 3;
/// The cache line the slots are aligned to.
pub const CACHE_LINE: usize = 64;
/// Every region starts on a page boundary.
pub const REGION_ALIGN: u64 = 4096;
/// The size (and alignment) of a slot block, unless one session's slot and
/// counter lines need more ([`Blocks`]).
pub const BLOCK_BYTES: u32 = 4096;
/// Drop-reason counters per worker.
pub const DROP_REASONS: usize = 32;
/// The largest capacity a table may have (2 GiB of slots).
pub const MAX_CAPACITY: u32 = 1 << 24;
/// The most workers a table has counters for.
pub const MAX_WORKERS: u32 = 1024;
/// The smallest index (entries).
pub const MIN_INDEX_SIZE: u32 = 64;
/// The largest index (entries).
pub const MAX_INDEX_SIZE: u32 = 1 << 30;
/// Entries in the change ring (a power of two).
pub const CHANGE_RING: u32 = 1 << 16;
/// Seqlock read attempts before a lookup gives up and counts a miss.
pub const READ_RETRIES: u32 = 64;

/// [`Slot::state`] values.
pub mod state {
    /// Never published, or withdrawn.
    pub const FREE: u8 = 0;
    /// Published: lookups return it.
    pub const UP: u8 = 1;
}

/// [`Slot::flags`] bits.
pub mod flags {
    /// The peer requires sequenced data messages.
    pub const SEQUENCING: u8 = 1 << 0;
    /// [`super::Slot::subscriber_v4`] is set.
    pub const HAS_V4: u8 = 1 << 1;
    /// [`super::Slot::subscriber_v6`] is set.
    pub const HAS_V6: u8 = 1 << 2;
}

/// The table header, at offset 0 of the mapping. Lines 0–2 are written
/// once (line 2's index selectors on a rebuild), line 3 on every change, so
/// readers, who only load the selectors per lookup, never share a line with
/// the busy counters.
#[repr(C, align(64))]
pub struct Header {
    // Line 0: identity. `magic` is stored last, with Release, when a table
    // is created, so a reader that sees it sees the rest.
    /// [`MAGIC`].
    pub magic: AtomicU64,
    /// [`ABI_VERSION`].
    pub abi_version: AtomicU32,
    /// `size_of::<Header>()`.
    pub header_size: AtomicU32,
    /// [`LAYOUT_HASH`].
    pub layout_hash: AtomicU64,
    /// Number of slots.
    pub capacity: AtomicU32,
    /// Bank bits for [`crate::slot_index`].
    pub bank_bits: AtomicU32,
    /// Number of per-worker counter rows.
    pub workers: AtomicU32,
    /// [`DROP_REASONS`].
    pub drop_reasons: AtomicU32,
    /// Entries in each copy of the IPv4 index.
    pub v4_index_size: AtomicU32,
    /// Entries in each copy of the IPv6 index.
    pub v6_index_size: AtomicU32,
    /// When the writer created the table (ns since the Unix epoch).
    pub created_unix_ns: AtomicU64,
    /// Bytes of the whole layout (the file may be larger, never smaller).
    pub total_size: AtomicU64,
    // Line 1: region offsets from the start of the mapping.
    /// Offset of the slot blocks ([`Blocks`]).
    pub slots_offset: AtomicU64,
    /// Offset of `[AtomicU32; capacity]`, the Ns counters.
    pub ns_offset: AtomicU64,
    /// Offsets of the two copies of the IPv4 index.
    pub v4_index_offset: [AtomicU64; 2],
    /// Offsets of the two copies of the IPv6 index.
    pub v6_index_offset: [AtomicU64; 2],
    /// Offset of `[SlotCounters; capacity]`, the accounting baselines.
    pub baselines_offset: AtomicU64,
    /// Slots per slot block ([`Blocks::slots`]).
    pub block_slots: AtomicU32,
    /// Bytes per slot block ([`Blocks::bytes`]).
    pub block_bytes: AtomicU32,
    // Line 2: read-mostly.
    /// Offset of `[DropCounters; workers]`.
    pub drops_offset: AtomicU64,
    /// Which IPv4 index copy (0 or 1) lookups use.
    pub v4_active: AtomicU32,
    /// Which IPv6 index copy (0 or 1) lookups use.
    pub v6_active: AtomicU32,
    /// Offset of `[AtomicU32; CHANGE_RING]`, the change ring.
    pub changes_offset: AtomicU64,
    /// Reserved (zero).
    pub _reserved2: [AtomicU64; 5],
    // Line 3: written by the writer on every change.
    /// Incremented by every publish, withdrawal and index rebuild.
    pub generation: AtomicU64,
    /// Incremented each time a writer attaches (create: 1).
    pub writer_epoch: AtomicU64,
    /// When the current writer attached (ns since the Unix epoch).
    pub attached_unix_ns: AtomicU64,
    /// Index rebuilds so far (both indexes).
    pub index_rebuilds: AtomicU64,
    /// Process ID of the current writer.
    pub writer_pid: AtomicU32,
    /// Slots currently up.
    pub published: AtomicU32,
    /// Changes written to the change ring so far (the next one's number).
    pub changes_head: AtomicU64,
    /// Reserved (zero).
    pub _reserved3: [AtomicU64; 2],
}

/// One session, two cache lines. Line 0 holds the seqlock word and every
/// field but the template; line 1 is the header template.
///
/// The Ns counter is *not* here: workers `fetch_add` it per packet on a
/// sequencing session, and a line that workers write would be stolen from
/// every other worker's cache on each packet, turning the read-mostly slot
/// into a ping-pong. It lives in a packed array of its own (4 bytes per
/// session: 4 MiB at 1M sessions); neighbouring counters may share a line,
/// which costs only when two sequencing sessions on one line are busy on
/// different workers at once.
#[repr(C, align(64))]
pub struct Slot {
    /// Seqlock word: odd while the writer is changing the slot.
    pub seq: AtomicU32,
    /// [`state`].
    pub state: AtomicU8,
    /// [`flags`].
    pub flags: AtomicU8,
    /// Bytes of `template` in use.
    pub template_len: AtomicU8,
    /// Offset of the L2TP header in `template`.
    pub l2tp_offset: AtomicU8,
    /// Our tunnel ID.
    pub our_tunnel_id: AtomicU16,
    /// Our session ID.
    pub our_session_id: AtomicU16,
    /// The LAC's tunnel ID.
    pub peer_tunnel_id: AtomicU16,
    /// The LAC's session ID.
    pub peer_session_id: AtomicU16,
    /// The LAC's IPv4 address, network byte order in memory.
    pub peer_addr: AtomicU32,
    /// The LAC's UDP port (native endian).
    pub peer_port: AtomicU16,
    /// Largest inner packet.
    pub mtu: AtomicU16,
    /// TCP MSS clamp (0: none).
    pub mss_clamp: AtomicU16,
    /// Reserved (zero).
    pub _reserved0: AtomicU16,
    /// The subscriber's IPv4 address, network byte order in memory.
    pub subscriber_v4: AtomicU32,
    /// The subscriber's IPv6 /64, the 8 prefix bytes in wire order in memory.
    pub subscriber_v6: AtomicU64,
    /// An opaque value of the control plane's (e.g. its session handle),
    /// kept for reconciliation after a restart.
    pub cookie: AtomicU64,
    /// Reserved (zero).
    pub _reserved1: [AtomicU64; 2],
    /// The outer header template, wire order in memory.
    pub template: [AtomicU64; TEMPLATE_MAX / 8],
}

/// [`SessionCounters`] as it sits in shared memory: same layout, atomics.
#[repr(C)]
#[derive(Default)]
pub struct SlotCounters {
    /// Upstream packets.
    pub up_packets: AtomicU64,
    /// Upstream bytes.
    pub up_bytes: AtomicU64,
    /// Downstream packets.
    pub down_packets: AtomicU64,
    /// Downstream bytes.
    pub down_bytes: AtomicU64,
}

impl SlotCounters {
    /// A relaxed copy.
    #[inline]
    pub fn load(&self) -> SessionCounters {
        SessionCounters {
            up_packets: self.up_packets.load(Ordering::Relaxed),
            up_bytes: self.up_bytes.load(Ordering::Relaxed),
            down_packets: self.down_packets.load(Ordering::Relaxed),
            down_bytes: self.down_bytes.load(Ordering::Relaxed),
        }
    }

    /// Relaxed stores of `c`.
    #[inline]
    pub fn store(&self, c: &SessionCounters) {
        self.up_packets.store(c.up_packets, Ordering::Relaxed);
        self.up_bytes.store(c.up_bytes, Ordering::Relaxed);
        self.down_packets.store(c.down_packets, Ordering::Relaxed);
        self.down_bytes.store(c.down_bytes, Ordering::Relaxed);
    }
}

/// One worker's drop-reason counters (the reasons are the data plane's).
#[repr(C, align(64))]
pub struct DropCounters {
    /// Indexed by drop reason.
    pub reasons: [AtomicU64; DROP_REASONS],
}

const _: () = {
    assert!(size_of::<Header>() == 256);
    assert!(align_of::<Header>() == CACHE_LINE);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, total_size) == 56);
    assert!(offset_of!(Header, slots_offset) == 64);
    assert!(offset_of!(Header, block_slots) == 120);
    assert!(offset_of!(Header, block_bytes) == 124);
    assert!(offset_of!(Header, drops_offset) == 128);
    assert!(offset_of!(Header, v4_active) == 136);
    assert!(offset_of!(Header, generation) == 192);
    assert!(offset_of!(Header, changes_offset) == 144);
    assert!(offset_of!(Header, changes_head) == 232);

    assert!(size_of::<Slot>() == 2 * CACHE_LINE);
    assert!(align_of::<Slot>() == CACHE_LINE);
    assert!(offset_of!(Slot, seq) == 0);
    assert!(offset_of!(Slot, state) == 4);
    assert!(offset_of!(Slot, flags) == 5);
    assert!(offset_of!(Slot, template_len) == 6);
    assert!(offset_of!(Slot, l2tp_offset) == 7);
    assert!(offset_of!(Slot, our_tunnel_id) == 8);
    assert!(offset_of!(Slot, our_session_id) == 10);
    assert!(offset_of!(Slot, peer_tunnel_id) == 12);
    assert!(offset_of!(Slot, peer_session_id) == 14);
    assert!(offset_of!(Slot, peer_addr) == 16);
    assert!(offset_of!(Slot, peer_port) == 20);
    assert!(offset_of!(Slot, mtu) == 22);
    assert!(offset_of!(Slot, mss_clamp) == 24);
    assert!(offset_of!(Slot, subscriber_v4) == 28);
    assert!(offset_of!(Slot, subscriber_v6) == 32);
    assert!(offset_of!(Slot, cookie) == 40);
    assert!(offset_of!(Slot, template) == CACHE_LINE);
    assert!(TEMPLATE_MAX.is_multiple_of(8) && TEMPLATE_MAX <= CACHE_LINE);

    assert!(size_of::<SlotCounters>() == size_of::<SessionCounters>());
    assert!(size_of::<SlotCounters>() == 32);
    assert!(offset_of!(SlotCounters, up_bytes) == offset_of!(SessionCounters, up_bytes));
    assert!(offset_of!(SlotCounters, down_packets) == offset_of!(SessionCounters, down_packets));
    assert!(offset_of!(SlotCounters, down_bytes) == offset_of!(SessionCounters, down_bytes));
    assert!(size_of::<DropCounters>() == DROP_REASONS * 8);
    assert!(size_of::<DropCounters>().is_multiple_of(CACHE_LINE));
    assert!((REGION_ALIGN as usize).is_multiple_of(CACHE_LINE));
    assert!((MAX_CAPACITY as u64) < ENTRY_TOMBSTONE as u64);
    // `Blocks::recip` is exact below 2^27; blocks start page-aligned.
    assert!(MAX_CAPACITY <= 1 << 27);
    assert!(REGION_ALIGN.is_multiple_of(BLOCK_BYTES as u64));
    assert!(BLOCK_BYTES.is_multiple_of(CACHE_LINE as u32));
};

// ---------------------------------------------------------------- indexes

/// The slot field of an empty index entry (the whole entry is 0).
pub const ENTRY_EMPTY: u32 = 0;
/// The slot field of a deleted index entry.
pub const ENTRY_TOMBSTONE: u32 = u32::MAX;

/// An index entry for `key` at `slot`.
#[inline]
pub const fn entry(key: u32, slot: u32) -> u64 {
    ((key as u64) << 32) | (slot as u64 + 1)
}

/// The key of an entry.
#[inline]
pub const fn entry_key(e: u64) -> u32 {
    (e >> 32) as u32
}

/// The slot field of an entry: [`ENTRY_EMPTY`], [`ENTRY_TOMBSTONE`], or
/// the slot plus one.
#[inline]
pub const fn entry_slot_field(e: u64) -> u32 {
    e as u32
}

/// Fibonacci hashing: sequential pool addresses spread over the index.
const V4_HASH_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Home position of an IPv4 key (`u32::from(addr)`) in an index of
/// `1 << bits` entries.
#[inline]
pub const fn v4_home(key: u32, bits: u32) -> usize {
    ((key as u64).wrapping_mul(V4_HASH_MUL) >> (64 - bits)) as usize
}

/// The splitmix64 finalizer over an IPv6 /64 (`u64::from_be_bytes`).
#[inline]
pub const fn v6_hash(prefix: u64) -> u64 {
    let mut z = prefix.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Home position of an IPv6 /64 in an index of `1 << bits` entries.
#[inline]
pub const fn v6_home(prefix: u64, bits: u32) -> usize {
    (v6_hash(prefix) >> (64 - bits)) as usize
}

/// The 32-bit fingerprint of an IPv6 /64 kept as its entry's key.
#[inline]
pub const fn v6_fingerprint(prefix: u64) -> u32 {
    v6_hash(prefix) as u32
}

// ----------------------------------------------------------- layout hash

const fn fnv(mut h: u64, v: u64) -> u64 {
    let mut i = 0;
    while i < 8 {
        h ^= (v >> (i * 8)) & 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! fold {
    ($h:ident; $($v:expr),* $(,)?) => { $( $h = fnv($h, $v as u64); )* };
}

const fn layout_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fold!(h; MAGIC, ABI_VERSION, TEMPLATE_MAX, DROP_REASONS, REGION_ALIGN);
    fold!(h; size_of::<Header>(), align_of::<Header>());
    fold!(h;
        offset_of!(Header, magic), offset_of!(Header, abi_version),
        offset_of!(Header, header_size), offset_of!(Header, layout_hash),
        offset_of!(Header, capacity), offset_of!(Header, bank_bits),
        offset_of!(Header, workers), offset_of!(Header, drop_reasons),
        offset_of!(Header, v4_index_size), offset_of!(Header, v6_index_size),
        offset_of!(Header, created_unix_ns), offset_of!(Header, total_size),
        offset_of!(Header, slots_offset), offset_of!(Header, ns_offset),
        offset_of!(Header, v4_index_offset), offset_of!(Header, v6_index_offset),
        offset_of!(Header, baselines_offset), offset_of!(Header, block_slots),
        offset_of!(Header, block_bytes),
        offset_of!(Header, drops_offset), offset_of!(Header, v4_active),
        offset_of!(Header, v6_active), offset_of!(Header, generation),
        offset_of!(Header, writer_epoch), offset_of!(Header, attached_unix_ns),
        offset_of!(Header, index_rebuilds), offset_of!(Header, writer_pid),
        offset_of!(Header, published), offset_of!(Header, changes_offset),
        offset_of!(Header, changes_head), CHANGE_RING,
    );
    fold!(h; size_of::<Slot>(), align_of::<Slot>());
    fold!(h;
        offset_of!(Slot, seq), offset_of!(Slot, state), offset_of!(Slot, flags),
        offset_of!(Slot, template_len), offset_of!(Slot, l2tp_offset),
        offset_of!(Slot, our_tunnel_id), offset_of!(Slot, our_session_id),
        offset_of!(Slot, peer_tunnel_id), offset_of!(Slot, peer_session_id),
        offset_of!(Slot, peer_addr), offset_of!(Slot, peer_port), offset_of!(Slot, mtu),
        offset_of!(Slot, mss_clamp), offset_of!(Slot, subscriber_v4),
        offset_of!(Slot, subscriber_v6), offset_of!(Slot, cookie), offset_of!(Slot, template),
    );
    fold!(h; state::FREE, state::UP, flags::SEQUENCING, flags::HAS_V4, flags::HAS_V6);
    fold!(h; size_of::<SlotCounters>(), size_of::<DropCounters>(), align_of::<DropCounters>());
    // The block geometry, by its outputs for a few worker counts.
    fold!(h; BLOCK_BYTES, Blocks::new(1).slot_offset(26), Blocks::new(1).counter_offset(0, 26));
    fold!(h; Blocks::new(4).counter_offset(3, 17), Blocks::new(63).counter_offset(62, 3));
    // The index encoding and hash functions, by their outputs.
    fold!(h; ENTRY_EMPTY, ENTRY_TOMBSTONE, entry(0xc612_0001, 7));
    fold!(h; v4_home(0xc612_0001, 20), v4_home(0xc613_0101, 11));
    fold!(h; v6_hash(0x2001_0db8_0000_0001), v6_home(0x2001_0db8_0000_0002, 21));
    fold!(h; v6_fingerprint(0x2001_0db8_0000_0003));
    h
}

/// A hash of the whole layout; a reader refuses a table whose header holds
/// another value.
pub const LAYOUT_HASH: u64 = layout_hash();

// ----------------------------------------------------------- slot blocks

/// How slots and per-worker counters share pages: the slot region is an
/// array of blocks of [`Blocks::bytes`] (4 KiB unless a single session
/// needs more), each holding [`Blocks::slots`] consecutive slots and then,
/// per worker, a run of their [`SlotCounters`] starting on its own cache
/// line, so a worker writes only lines no other worker writes. A packet's
/// slot and its worker's counter line then lie in one page: one TLB entry
/// instead of two (docs/decisions.md, "Slot blocks").
///
/// Block `b`, with `G` = [`Blocks::slots`] and `R` = [`Blocks::run`]:
///
/// | bytes from the block start | what                                 |
/// |----------------------------|--------------------------------------|
/// | `k × 128`                  | slot `b × G + k` ([`Slot`])          |
/// | `G × 128 + w × R + k × 32` | worker `w`'s counters for that slot  |
/// | up to [`Blocks::bytes`]    | unused (zero)                        |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    /// Slots per block (1 to 32): as many as fit with their counters.
    pub slots: u32,
    /// Bytes per block: [`BLOCK_BYTES`], or a multiple of it when even one
    /// slot and one counter line per worker do not fit in one.
    pub bytes: u32,
    /// Bytes of one worker's counter run in a block (whole cache lines).
    pub run: u32,
    /// `ceil(2^32 / slots)`: slot / `slots` is `slot × recip >> 32` for
    /// every slot below 2^27 (Granlund–Montgomery; the error
    /// `recip × slots − 2^32 < slots ≤ 32`, times the slot, stays under
    /// 2^32), so a lookup multiplies instead of dividing.
    pub recip: u64,
    /// `bytes − slots × 128`: slot `s` of block `b` is at
    /// `b × slot_gap + s × 128`.
    pub slot_gap: u64,
    /// `bytes − slots × 32`: worker `w`'s counters for slot `s` of block
    /// `b` are at `b × counter_gap + s × 32 +` [`Blocks::counters_base`]`(w)`.
    pub counter_gap: u64,
}

const SLOT_BYTES: u32 = size_of::<Slot>() as u32;
const COUNTER_BYTES: u32 = size_of::<SlotCounters>() as u32;

const fn block_used(slots: u32, workers: u32) -> u32 {
    let line = CACHE_LINE as u32;
    slots * SLOT_BYTES + workers * (slots * COUNTER_BYTES).div_ceil(line) * line
}

impl Blocks {
    /// The geometry for `workers` counter rows (1 to [`MAX_WORKERS`]): the
    /// fewest [`BLOCK_BYTES`] pages that hold one slot with its counters,
    /// filled with as many slots as fit.
    pub const fn new(workers: u32) -> Blocks {
        let bytes = block_used(1, workers).div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
        let mut slots = 32;
        while slots > 1 && block_used(slots, workers) > bytes {
            slots -= 1;
        }
        let line = CACHE_LINE as u32;
        Blocks {
            slots,
            bytes,
            run: (slots * COUNTER_BYTES).div_ceil(line) * line,
            recip: (1u64 << 32).div_ceil(slots as u64),
            slot_gap: (bytes - slots * SLOT_BYTES) as u64,
            counter_gap: (bytes - slots * COUNTER_BYTES) as u64,
        }
    }

    /// The block `slot` is in.
    #[inline(always)]
    pub const fn block(&self, slot: u32) -> u64 {
        (slot as u64 * self.recip) >> 32
    }

    /// `(block, slot within the block)`.
    pub const fn locate(&self, slot: u32) -> (u64, u32) {
        let b = self.block(slot);
        (b, slot - b as u32 * self.slots)
    }

    /// Bytes from the region start to `slot`'s [`Slot`].
    #[inline(always)]
    pub const fn slot_offset(&self, slot: u32) -> u64 {
        self.block(slot) * self.slot_gap + slot as u64 * SLOT_BYTES as u64
    }

    /// [`Blocks::slot_offset`] and [`Blocks::counter_from`] of `slot` at
    /// once: its block is found once.
    #[inline(always)]
    pub const fn slot_and_counter_from(&self, base: u64, slot: u32) -> (u64, u64) {
        let b = self.block(slot);
        (
            b * self.slot_gap + slot as u64 * SLOT_BYTES as u64,
            b * self.counter_gap + slot as u64 * COUNTER_BYTES as u64 + base,
        )
    }

    /// Bytes from a block's start to worker `worker`'s counter run.
    #[inline(always)]
    pub const fn counters_base(&self, worker: u32) -> u64 {
        (self.slots * SLOT_BYTES) as u64 + worker as u64 * self.run as u64
    }

    /// Bytes from the region start to worker `worker`'s [`SlotCounters`]
    /// for `slot`.
    #[inline(always)]
    pub const fn counter_offset(&self, worker: u32, slot: u32) -> u64 {
        self.counter_from(self.counters_base(worker), slot)
    }

    /// [`Blocks::counter_offset`] from a worker's
    /// [`Blocks::counters_base`].
    #[inline(always)]
    pub const fn counter_from(&self, base: u64, slot: u32) -> u64 {
        self.block(slot) * self.counter_gap + slot as u64 * COUNTER_BYTES as u64 + base
    }

    /// Bytes of the region for `capacity` slots.
    pub const fn region_bytes(&self, capacity: u32) -> u64 {
        capacity.div_ceil(self.slots) as u64 * self.bytes as u64
    }
}

// ----------------------------------------------------------------- layout

/// Where each region of a table lies, derived from its dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of slots.
    pub capacity: u32,
    /// Number of workers with counter rows.
    pub workers: u32,
    /// Entries per IPv4 index copy.
    pub v4_index_size: u32,
    /// Entries per IPv6 index copy.
    pub v6_index_size: u32,
    /// See [`Header::slots_offset`].
    pub slots_offset: u64,
    /// See [`Header::ns_offset`].
    pub ns_offset: u64,
    /// See [`Header::v4_index_offset`].
    pub v4_index_offset: [u64; 2],
    /// See [`Header::v6_index_offset`].
    pub v6_index_offset: [u64; 2],
    /// See [`Header::baselines_offset`].
    pub baselines_offset: u64,
    /// The slot blocks' geometry.
    pub blocks: Blocks,
    /// See [`Header::drops_offset`].
    pub drops_offset: u64,
    /// See [`Header::changes_offset`].
    pub changes_offset: u64,
    /// Bytes in all.
    pub total_size: u64,
}

/// The default index size for `capacity` slots: the least power of two
/// ≥ 2 × capacity (and ≥ [`MIN_INDEX_SIZE`]).
pub const fn default_index_size(capacity: u32) -> u32 {
    let want = 2 * capacity as u64;
    let p = want.next_power_of_two();
    if p < MIN_INDEX_SIZE as u64 {
        MIN_INDEX_SIZE
    } else {
        p as u32
    }
}

const fn align_up(v: u64) -> u64 {
    (v + REGION_ALIGN - 1) & !(REGION_ALIGN - 1)
}

impl Layout {
    /// The layout for `capacity` slots and `workers` counter rows with the
    /// default index sizes; `None` if out of range.
    pub const fn new(capacity: u32, workers: u32) -> Option<Layout> {
        Self::with_index_sizes(
            capacity,
            workers,
            default_index_size(capacity),
            default_index_size(capacity),
        )
    }

    /// The layout with explicit index sizes (powers of two,
    /// ≥ 2 × capacity); `None` if any dimension is out of range.
    pub const fn with_index_sizes(
        capacity: u32,
        workers: u32,
        v4_index_size: u32,
        v6_index_size: u32,
    ) -> Option<Layout> {
        if capacity == 0 || capacity > MAX_CAPACITY || workers == 0 || workers > MAX_WORKERS {
            return None;
        }
        let min = 2 * capacity as u64;
        let sizes = [v4_index_size, v6_index_size];
        let mut i = 0;
        while i < 2 {
            let s = sizes[i];
            if !s.is_power_of_two() || s < MIN_INDEX_SIZE || s > MAX_INDEX_SIZE || (s as u64) < min
            {
                return None;
            }
            i += 1;
        }
        let cap = capacity as u64;
        let blocks = Blocks::new(workers);
        let mut at = align_up(size_of::<Header>() as u64);
        let slots_offset = at;
        at = align_up(at + blocks.region_bytes(capacity));
        let ns_offset = at;
        at = align_up(at + cap * 4);
        let v4a = at;
        at = align_up(at + v4_index_size as u64 * 8);
        let v4b = at;
        at = align_up(at + v4_index_size as u64 * 8);
        let v6a = at;
        at = align_up(at + v6_index_size as u64 * 8);
        let v6b = at;
        at = align_up(at + v6_index_size as u64 * 8);
        let baselines_offset = at;
        at = align_up(at + cap * size_of::<SlotCounters>() as u64);
        let drops_offset = at;
        at = align_up(at + workers as u64 * size_of::<DropCounters>() as u64);
        let changes_offset = at;
        at = align_up(at + CHANGE_RING as u64 * 4);
        Some(Layout {
            capacity,
            workers,
            v4_index_size,
            v6_index_size,
            slots_offset,
            ns_offset,
            v4_index_offset: [v4a, v4b],
            v6_index_offset: [v6a, v6b],
            baselines_offset,
            blocks,
            drops_offset,
            changes_offset,
            total_size: at,
        })
    }

    /// Writes this layout's dimensions and offsets into `h` (all but
    /// `magic`, which the caller stores last).
    pub fn write_header(&self, h: &Header, bank_bits: u32, created_unix_ns: u64) {
        let r = Ordering::Relaxed;
        h.abi_version.store(ABI_VERSION, r);
        h.header_size.store(size_of::<Header>() as u32, r);
        h.layout_hash.store(LAYOUT_HASH, r);
        h.capacity.store(self.capacity, r);
        h.bank_bits.store(bank_bits, r);
        h.workers.store(self.workers, r);
        h.drop_reasons.store(DROP_REASONS as u32, r);
        h.v4_index_size.store(self.v4_index_size, r);
        h.v6_index_size.store(self.v6_index_size, r);
        h.created_unix_ns.store(created_unix_ns, r);
        h.total_size.store(self.total_size, r);
        h.slots_offset.store(self.slots_offset, r);
        h.ns_offset.store(self.ns_offset, r);
        h.v4_index_offset[0].store(self.v4_index_offset[0], r);
        h.v4_index_offset[1].store(self.v4_index_offset[1], r);
        h.v6_index_offset[0].store(self.v6_index_offset[0], r);
        h.v6_index_offset[1].store(self.v6_index_offset[1], r);
        h.baselines_offset.store(self.baselines_offset, r);
        h.block_slots.store(self.blocks.slots, r);
        h.block_bytes.store(self.blocks.bytes, r);
        h.drops_offset.store(self.drops_offset, r);
        h.changes_offset.store(self.changes_offset, r);
    }

    /// Whether the offsets in `h` are exactly this layout's.
    pub fn matches_header(&self, h: &Header) -> bool {
        let r = Ordering::Relaxed;
        h.total_size.load(r) == self.total_size
            && h.slots_offset.load(r) == self.slots_offset
            && h.ns_offset.load(r) == self.ns_offset
            && h.v4_index_offset[0].load(r) == self.v4_index_offset[0]
            && h.v4_index_offset[1].load(r) == self.v4_index_offset[1]
            && h.v6_index_offset[0].load(r) == self.v6_index_offset[0]
            && h.v6_index_offset[1].load(r) == self.v6_index_offset[1]
            && h.baselines_offset.load(r) == self.baselines_offset
            && h.block_slots.load(r) == self.blocks.slots
            && h.block_bytes.load(r) == self.blocks.bytes
            && h.drops_offset.load(r) == self.drops_offset
            && h.changes_offset.load(r) == self.changes_offset
    }
}

// ---------------------------------------------------------------- seqlock

/// The outcome of one seqlock read of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRead<S = crate::Session> {
    /// A consistent copy of an up session.
    Up(S),
    /// The slot is free.
    Free,
    /// The writer was changing the slot; try again.
    Busy,
}

/// `read` up to [`READ_RETRIES`] times while the writer is busy.
#[inline(always)]
fn retry<S>(mut read: impl FnMut() -> SlotRead<S>) -> SlotRead<S> {
    for _ in 0..READ_RETRIES {
        match read() {
            SlotRead::Busy => core::hint::spin_loop(),
            done => return done,
        }
    }
    SlotRead::Busy
}

/// The attempts after a busy first one ([`READ_RETRIES`] in all), out of
/// line: a slot is rarely mid-update, and a packet loop with only the first
/// attempt inline keeps the fields in registers instead of passing the
/// snapshot through memory.
#[cold]
#[inline(never)]
fn retry_busy<S>(mut read: impl FnMut() -> SlotRead<S>) -> SlotRead<S> {
    for _ in 1..READ_RETRIES {
        core::hint::spin_loop();
        match read() {
            SlotRead::Busy => {}
            done => return done,
        }
    }
    SlotRead::Busy
}

#[inline]
fn v4_from_wire(v: u32) -> core::net::Ipv4Addr {
    core::net::Ipv4Addr::from(v.to_ne_bytes())
}

#[inline]
fn v4_to_wire(a: core::net::Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.octets())
}

impl Slot {
    /// One seqlock read attempt. `index` is this slot's index (for
    /// [`crate::Session::slot`]).
    #[inline]
    pub fn try_read(&self, index: u32) -> SlotRead {
        self.try_read_with::<true>(index)
    }

    /// [`Slot::try_read`], copying the template only if `TEMPLATE`: without
    /// it the read touches the slot's first cache line alone.
    #[inline(always)]
    fn try_read_with<const TEMPLATE: bool>(&self, index: u32) -> SlotRead {
        self.try_read_as(|fl| {
            let r = Ordering::Relaxed;
            let mut template = [0u8; TEMPLATE_MAX];
            if TEMPLATE {
                for (chunk, word) in template.chunks_exact_mut(8).zip(&self.template) {
                    chunk.copy_from_slice(&word.load(r).to_ne_bytes());
                }
            }
            crate::Session {
                slot: index,
                our_tunnel_id: self.our_tunnel_id.load(r),
                our_session_id: self.our_session_id.load(r),
                peer_tunnel_id: self.peer_tunnel_id.load(r),
                peer_session_id: self.peer_session_id.load(r),
                peer_addr: v4_from_wire(self.peer_addr.load(r)),
                peer_port: self.peer_port.load(r),
                subscriber_v4: (fl & flags::HAS_V4 != 0)
                    .then(|| v4_from_wire(self.subscriber_v4.load(r))),
                subscriber_v6_prefix: (fl & flags::HAS_V6 != 0)
                    .then(|| self.subscriber_v6.load(r).to_ne_bytes()),
                sequencing: fl & flags::SEQUENCING != 0,
                mtu: self.mtu.load(r),
                mss_clamp: self.mss_clamp.load(r),
                template,
                template_len: if TEMPLATE {
                    self.template_len.load(r)
                } else {
                    0
                },
                l2tp_offset: self.l2tp_offset.load(r),
            }
        })
    }

    /// One seqlock read attempt of what decapsulation needs: the slot's
    /// first cache line, and only the fields upstream checks.
    #[inline(always)]
    pub fn try_read_upstream(&self, index: u32) -> SlotRead<crate::UpstreamSession> {
        self.try_read_as(|fl| {
            let r = Ordering::Relaxed;
            // Both addresses are loaded whatever the flags say: the same
            // line, and a select instead of a branch per field.
            let (v4, v6) = (self.subscriber_v4.load(r), self.subscriber_v6.load(r));
            crate::UpstreamSession {
                slot: index,
                our_tunnel_id: self.our_tunnel_id.load(r),
                our_session_id: self.our_session_id.load(r),
                peer_addr: v4_from_wire(self.peer_addr.load(r)),
                peer_port: self.peer_port.load(r),
                subscriber_v4: (fl & flags::HAS_V4 != 0).then_some(v4_from_wire(v4)),
                subscriber_v6_prefix: (fl & flags::HAS_V6 != 0).then_some(v6.to_ne_bytes()),
                mss_clamp: self.mss_clamp.load(r),
            }
        })
    }

    /// One seqlock read attempt of what encapsulation needs (no peer
    /// fields), as a snapshot: [`Slot::try_read_downstream_into`] into a
    /// fresh one.
    #[inline(always)]
    pub fn try_read_downstream(&self, index: u32) -> SlotRead<crate::DownstreamSession> {
        let mut out = crate::DownstreamSession::EMPTY;
        match self.try_read_downstream_into(index, &mut out) {
            SlotRead::Up(()) => SlotRead::Up(out),
            SlotRead::Free => SlotRead::Free,
            SlotRead::Busy => SlotRead::Busy,
        }
    }

    /// [`Slot::try_read_downstream`] straight into `out` (unspecified
    /// unless [`SlotRead::Up`]).
    #[inline(always)]
    pub fn try_read_downstream_into(
        &self,
        index: u32,
        out: &mut crate::DownstreamSession,
    ) -> SlotRead<()> {
        self.try_read_as(|fl| {
            let r = Ordering::Relaxed;
            let (v4, v6) = (self.subscriber_v4.load(r), self.subscriber_v6.load(r));
            for (chunk, word) in out.template.chunks_exact_mut(8).zip(&self.template) {
                chunk.copy_from_slice(&word.load(r).to_ne_bytes());
            }
            out.slot = index;
            out.subscriber_v4 = (fl & flags::HAS_V4 != 0).then_some(v4_from_wire(v4));
            out.subscriber_v6_prefix = (fl & flags::HAS_V6 != 0).then_some(v6.to_ne_bytes());
            out.mtu = self.mtu.load(r);
            out.mss_clamp = self.mss_clamp.load(r);
            out.template_len = self.template_len.load(r);
            out.l2tp_offset = self.l2tp_offset.load(r);
        })
    }

    /// [`Slot::try_read_downstream_into`], retried like [`Slot::read`].
    #[inline]
    pub fn read_downstream_into(
        &self,
        index: u32,
        out: &mut crate::DownstreamSession,
    ) -> SlotRead<()> {
        retry(|| self.try_read_downstream_into(index, out))
    }

    /// [`Slot::try_read_downstream`], retried like [`Slot::read`].
    #[inline]
    pub fn read_downstream(&self, index: u32) -> SlotRead<crate::DownstreamSession> {
        retry(|| self.try_read_downstream(index))
    }

    /// The seqlock protocol around `copy` (given the flags word): `seq`
    /// even before, the relaxed copies, an Acquire fence, `seq` unchanged
    /// after.
    #[inline(always)]
    fn try_read_as<S>(&self, copy: impl FnOnce(u8) -> S) -> SlotRead<S> {
        let r = Ordering::Relaxed;
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            return SlotRead::Busy;
        }
        let st = self.state.load(r);
        let fl = self.flags.load(r);
        let s = copy(fl);
        // Order the relaxed copies above before the re-check below.
        fence(Ordering::Acquire);
        if self.seq.load(r) != s1 {
            return SlotRead::Busy;
        }
        if st == state::UP {
            SlotRead::Up(s)
        } else {
            SlotRead::Free
        }
    }

    /// A seqlock read, retried up to [`READ_RETRIES`] times while the
    /// writer is busy (then [`SlotRead::Busy`]).
    #[inline]
    pub fn read(&self, index: u32) -> SlotRead {
        self.read_with::<true>(index)
    }

    /// [`Slot::try_read_upstream`], retried like [`Slot::read`] (the
    /// first attempt inline).
    #[inline(always)]
    pub fn read_upstream(&self, index: u32) -> SlotRead<crate::UpstreamSession> {
        match self.try_read_upstream(index) {
            SlotRead::Busy => retry_busy(|| self.try_read_upstream(index)),
            done => done,
        }
    }

    #[inline(always)]
    fn read_with<const TEMPLATE: bool>(&self, index: u32) -> SlotRead {
        retry(|| self.try_read_with::<TEMPLATE>(index))
    }

    /// The writer's own copy (no seqlock: only the single writer stores).
    pub fn read_own(&self, index: u32) -> Option<crate::Session> {
        match self.try_read(index) {
            SlotRead::Up(s) => Some(s),
            _ => None,
        }
    }

    /// The writer's view of the subscriber IPv4 address of an up slot (no
    /// seqlock: only the single writer stores), as `u32::from(addr)`.
    #[inline]
    pub fn own_v4(&self) -> Option<u32> {
        let r = Ordering::Relaxed;
        let up = self.state.load(r) == state::UP && self.flags.load(r) & flags::HAS_V4 != 0;
        up.then(|| u32::from(v4_from_wire(self.subscriber_v4.load(r))))
    }

    /// The writer's view of the subscriber /64 of an up slot, as
    /// `u64::from_be_bytes(prefix)`.
    #[inline]
    pub fn own_v6(&self) -> Option<u64> {
        let r = Ordering::Relaxed;
        let up = self.state.load(r) == state::UP && self.flags.load(r) & flags::HAS_V6 != 0;
        up.then(|| u64::from_be_bytes(self.subscriber_v6.load(r).to_ne_bytes()))
    }

    /// The writer's update: `seq` odd, the stores in `f`, `seq` even with
    /// Release. Only the single writer may call this.
    #[inline]
    pub fn write(&self, f: impl FnOnce(&Slot)) {
        let s = self.seq.load(Ordering::Relaxed);
        // Odd and ahead of `s`, even if a crashed writer left `s` odd.
        let odd = if s & 1 == 0 {
            s.wrapping_add(1)
        } else {
            s.wrapping_add(2)
        };
        self.seq.store(odd, Ordering::Relaxed);
        // Readers that see any store of `f` see `seq` odd.
        fence(Ordering::Release);
        f(self);
        self.seq.store(odd.wrapping_add(1), Ordering::Release);
    }

    /// Stores every field of `s` and marks the slot up (inside
    /// [`Slot::write`]).
    pub fn store_session(&self, s: &crate::Session, cookie: u64) {
        let r = Ordering::Relaxed;
        let mut fl = 0;
        if s.sequencing {
            fl |= flags::SEQUENCING;
        }
        if s.subscriber_v4.is_some() {
            fl |= flags::HAS_V4;
        }
        if s.subscriber_v6_prefix.is_some() {
            fl |= flags::HAS_V6;
        }
        self.flags.store(fl, r);
        self.template_len.store(s.template_len, r);
        self.l2tp_offset.store(s.l2tp_offset, r);
        self.our_tunnel_id.store(s.our_tunnel_id, r);
        self.our_session_id.store(s.our_session_id, r);
        self.peer_tunnel_id.store(s.peer_tunnel_id, r);
        self.peer_session_id.store(s.peer_session_id, r);
        self.peer_addr.store(v4_to_wire(s.peer_addr), r);
        self.peer_port.store(s.peer_port, r);
        self.mtu.store(s.mtu, r);
        self.mss_clamp.store(s.mss_clamp, r);
        self.subscriber_v4
            .store(s.subscriber_v4.map_or(0, v4_to_wire), r);
        self.subscriber_v6
            .store(s.subscriber_v6_prefix.map_or(0, u64::from_ne_bytes), r);
        self.cookie.store(cookie, r);
        for (word, chunk) in self.template.iter().zip(s.template.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(b), r);
        }
        self.state.store(state::UP, r);
    }
}
