//! The data plane's side: lock-free readers and per-worker counters.

use crate::abi::{self, DropCounters, SlotCounters, SlotRead, DROP_REASONS};
use crate::index;
use crate::shm::{prefetch, CountersBase, Mapping};
use crate::{DownstreamSession, Session, SessionCounters, SessionLookup, UpstreamSession};
use core::fmt;
use core::net::Ipv4Addr;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const R: Ordering = Ordering::Relaxed;

/// A reader of a session table (a data-plane process; share it between its
/// worker threads). Lookups take no locks and never wait for the writer:
/// a slot that stays mid-update through [`abi::READ_RETRIES`] attempts
/// reads as a miss, counted in [`TableReader::busy_misses`].
pub struct TableReader {
    map: Mapping,
    busy_misses: AtomicU64,
}

impl TableReader {
    /// Maps the table at `path` and validates its header (magic, ABI
    /// version, layout hash, dimensions, offsets, file size); an
    /// [`io::ErrorKind::InvalidData`] error names what did not match.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::options().read(true).write(true).open(path)?;
        Self::from_file(file, &path.display().to_string())
    }

    pub(crate) fn from_file(file: File, what: &str) -> io::Result<Self> {
        Ok(TableReader {
            map: Mapping::open(file, what)?,
            busy_misses: AtomicU64::new(0),
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.map.layout().capacity
    }

    /// Number of worker counter rows.
    pub fn workers(&self) -> u32 {
        self.map.layout().workers
    }

    /// The writer's change counter ([`abi::Header::generation`]).
    pub fn generation(&self) -> u64 {
        self.map.header().generation.load(R)
    }

    /// The change ring's head: the cursor that
    /// [`TableReader::changes_since`] would return now.
    pub fn changes_head(&self) -> u64 {
        self.map.header().changes_head.load(Ordering::Acquire)
    }

    /// Follows the change ring ([`abi::CHANGE_RING`]) from `cursor` (a
    /// value this function returned, or 0 on a fresh start): appends the
    /// slots changed since then to `out` (a slot may repeat; re-read each
    /// one, since only its current state is kept) and returns the cursor
    /// to pass next time, or [`Changes::Rescan`] when the reader fell more
    /// than a ring behind or `cursor` is not from this table.
    pub fn changes_since(&self, cursor: u64, out: &mut Vec<u32>) -> Changes {
        let h = self.map.header();
        let ring = self.map.changes();
        let n = u64::from(abi::CHANGE_RING);
        let head = h.changes_head.load(Ordering::Acquire);
        if cursor > head || head - cursor >= n {
            return Changes::Rescan(head);
        }
        let start = out.len();
        for i in cursor..head {
            // Acquire: an entry already overwritten by change `i + n` makes
            // the head stored before that change (≥ i + n) visible below.
            out.push(ring[(i % n) as usize].load(Ordering::Acquire));
        }
        if h.changes_head.load(Ordering::Acquire) - cursor >= n {
            out.truncate(start);
            return Changes::Rescan(head);
        }
        Changes::Slots(head)
    }

    /// One seqlock read of `slot` that tells a free slot from one the
    /// writer was changing ([`SlotRead::Busy`], after the usual retries);
    /// a slot past the end reads as free.
    #[inline]
    pub fn read(&self, slot: u32) -> SlotRead {
        self.map.slot(slot).map_or(SlotRead::Free, |s| s.read(slot))
    }

    /// How many writers have attached to the table.
    pub fn writer_epoch(&self) -> u64 {
        self.map.header().writer_epoch.load(R)
    }

    /// Process ID of the last writer to attach.
    pub fn writer_pid(&self) -> u32 {
        self.map.header().writer_pid.load(R)
    }

    /// When the table was created (ns since the Unix epoch).
    pub fn created_unix_ns(&self) -> u64 {
        self.map.header().created_unix_ns.load(R)
    }

    /// Slots currently up.
    pub fn published(&self) -> u32 {
        self.map.header().published.load(R)
    }

    /// Lookups that gave up on a slot the writer kept busy.
    pub fn busy_misses(&self) -> u64 {
        self.busy_misses.load(R)
    }

    /// The counters of worker `worker` (`None`: no such row). Each worker
    /// must use only its own row: the additions are unsynchronised
    /// read-modify-writes (a plain add, no lock prefix), so two writers of
    /// one row would lose counts (never memory safety).
    pub fn counters(&self, worker: u32) -> Option<WorkerCounters<'_>> {
        Some(WorkerCounters {
            map: &self.map,
            base: self.map.counters_base(worker)?,
            drops: self.map.drops().get(worker as usize)?,
        })
    }

    /// Prefetch hint for a coming [`SessionLookup::by_slot`]: a batch
    /// loop that prefetches every packet's slot before looking any up
    /// overlaps their cache misses (VPP style).
    #[inline]
    pub fn prefetch_slot(&self, slot: u32) {
        if let Some(s) = self.map.slot(slot) {
            prefetch(&s.seq);
            prefetch(&s.template[0]);
        }
    }

    /// Prefetch hint for a coming [`SessionLookup::by_slot_upstream`]:
    /// the slot's first cache line only.
    #[inline]
    pub fn prefetch_slot_header(&self, slot: u32) {
        if let Some(s) = self.map.slot(slot) {
            prefetch(&s.seq);
        }
    }

    /// Prefetch hint for a coming [`SessionLookup::by_ipv4`]: warms the
    /// index entry at the address's home position.
    #[inline]
    pub fn prefetch_ipv4(&self, dst: Ipv4Addr) {
        let idx = self.map.v4_index(self.map.header().v4_active.load(R));
        prefetch(&idx[abi::v4_home(u32::from(dst), idx.len().trailing_zeros())]);
    }

    /// Prefetch hint for a coming [`SessionLookup::by_ipv6`].
    #[inline]
    pub fn prefetch_ipv6(&self, dst: &[u8; 16]) {
        let idx = self.map.v6_index(self.map.header().v6_active.load(R));
        let k = u64::from_be_bytes(dst[..8].try_into().unwrap_or_default());
        prefetch(&idx[abi::v6_home(k, idx.len().trailing_zeros())]);
    }

    /// The slot the IPv4 index points at for `dst`, unvalidated (the
    /// entry may be stale): for a batch loop to [`TableReader::prefetch_slot`]
    /// it before the real [`SessionLookup::by_ipv4`].
    #[inline]
    pub fn ipv4_hint(&self, dst: Ipv4Addr) -> Option<u32> {
        let idx = self
            .map
            .v4_index(self.map.header().v4_active.load(Ordering::Acquire));
        let key = u32::from(dst);
        let home = abi::v4_home(key, idx.len().trailing_zeros());
        index::lookup(idx, home, key, Some)
    }

    /// [`TableReader::ipv4_hint`] for a coming [`SessionLookup::by_ipv6`]:
    /// the first slot whose fingerprint matches `dst`'s /64, unvalidated.
    #[inline]
    pub fn ipv6_hint(&self, dst: &[u8; 16]) -> Option<u32> {
        let idx = self
            .map
            .v6_index(self.map.header().v6_active.load(Ordering::Acquire));
        let k = u64::from_be_bytes(dst[..8].try_into().unwrap_or_default());
        let home = abi::v6_home(k, idx.len().trailing_zeros());
        index::lookup(idx, home, abi::v6_fingerprint(k), Some)
    }

    #[inline]
    fn read_slot(&self, slot: u32) -> Option<Session> {
        self.count_busy(self.read(slot))
    }

    #[inline]
    fn read_down(&self, slot: u32) -> Option<DownstreamSession> {
        self.count_busy(self.map.slot(slot)?.read_downstream(slot))
    }

    #[inline]
    fn read_down_into(&self, slot: u32, out: &mut DownstreamSession) -> bool {
        match self.map.slot(slot) {
            Some(s) => self.count_busy(s.read_downstream_into(slot, out)).is_some(),
            None => false,
        }
    }

    /// Offers each slot the IPv4 index holds for `dst` to `check` until
    /// one returns `Some` (`check` reads the slot and compares its
    /// subscriber address with `dst`).
    #[inline(always)]
    fn find_v4<S>(&self, dst: Ipv4Addr, check: impl FnMut(u32) -> Option<S>) -> Option<S> {
        // Acquire: the copy the writer switched to is fully built.
        let idx = self
            .map
            .v4_index(self.map.header().v4_active.load(Ordering::Acquire));
        let key = u32::from(dst);
        let home = abi::v4_home(key, idx.len().trailing_zeros());
        index::lookup(idx, home, key, check)
    }

    /// [`TableReader::find_v4`] for the /64 of `dst`, which `check` is
    /// given with each slot.
    #[inline(always)]
    fn find_v6<S>(
        &self,
        dst: &[u8; 16],
        mut check: impl FnMut(u32, [u8; 8]) -> Option<S>,
    ) -> Option<S> {
        let idx = self
            .map
            .v6_index(self.map.header().v6_active.load(Ordering::Acquire));
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&dst[..8]);
        let k = u64::from_be_bytes(prefix);
        let home = abi::v6_home(k, idx.len().trailing_zeros());
        index::lookup(idx, home, abi::v6_fingerprint(k), |slot| {
            check(slot, prefix)
        })
    }

    #[inline]
    fn count_busy<S>(&self, read: SlotRead<S>) -> Option<S> {
        match read {
            SlotRead::Up(s) => Some(s),
            SlotRead::Free => None,
            SlotRead::Busy => {
                self.busy_misses.fetch_add(1, R);
                None
            }
        }
    }
}

impl SessionLookup for TableReader {
    #[inline]
    fn by_slot(&self, slot: u32) -> Option<Session> {
        self.read_slot(slot)
    }

    #[inline(always)]
    fn by_slot_upstream(&self, slot: u32) -> Option<UpstreamSession> {
        self.count_busy(self.map.slot(slot)?.read_upstream(slot))
    }

    #[inline]
    fn by_ipv4(&self, dst: Ipv4Addr) -> Option<Session> {
        self.find_v4(dst, |slot| {
            self.read_slot(slot)
                .filter(|s| s.subscriber_v4 == Some(dst))
        })
    }

    #[inline]
    fn by_ipv6(&self, dst: &[u8; 16]) -> Option<Session> {
        self.find_v6(dst, |slot, p| {
            self.read_slot(slot)
                .filter(|s| s.subscriber_v6_prefix == Some(p))
        })
    }

    #[inline]
    fn by_slot_downstream(&self, slot: u32) -> Option<DownstreamSession> {
        self.read_down(slot)
    }

    #[inline]
    fn by_slot_downstream_into(&self, slot: u32, out: &mut DownstreamSession) -> bool {
        self.read_down_into(slot, out)
    }

    #[inline]
    fn by_ipv4_downstream_into(&self, dst: Ipv4Addr, out: &mut DownstreamSession) -> bool {
        self.find_v4(dst, |slot| {
            (self.read_down_into(slot, out) && out.subscriber_v4 == Some(dst)).then_some(())
        })
        .is_some()
    }

    #[inline]
    fn by_ipv6_downstream_into(&self, dst: &[u8; 16], out: &mut DownstreamSession) -> bool {
        self.find_v6(dst, |slot, p| {
            (self.read_down_into(slot, out) && out.subscriber_v6_prefix == Some(p)).then_some(())
        })
        .is_some()
    }

    #[inline]
    fn by_ipv4_downstream(&self, dst: Ipv4Addr) -> Option<DownstreamSession> {
        self.find_v4(dst, |slot| {
            self.read_down(slot)
                .filter(|s| s.subscriber_v4 == Some(dst))
        })
    }

    #[inline]
    fn by_ipv6_downstream(&self, dst: &[u8; 16]) -> Option<DownstreamSession> {
        self.find_v6(dst, |slot, p| {
            self.read_down(slot)
                .filter(|s| s.subscriber_v6_prefix == Some(p))
        })
    }

    #[inline]
    fn next_ns(&self, slot: u32) -> u16 {
        self.map
            .ns()
            .get(slot as usize)
            .map_or(0, |n| n.fetch_add(1, R) as u16)
    }

    fn bank_bits(&self) -> u32 {
        self.map.bank_bits()
    }
}

impl fmt::Debug for TableReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableReader")
            .field("layout", self.map.layout())
            .field("busy_misses", &self.busy_misses())
            .finish_non_exhaustive()
    }
}

/// What [`TableReader::changes_since`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// The changed slots were appended; continue from this cursor.
    Slots(u64),
    /// Changes were lost: rescan every slot, then continue from this
    /// cursor (taken before the rescan, so nothing in between is missed).
    Rescan(u64),
}

/// One worker's counters: per-session traffic (in the slot blocks, next
/// to each slot) and drops by reason.
#[derive(Clone, Copy)]
pub struct WorkerCounters<'a> {
    map: &'a Mapping,
    base: CountersBase,
    drops: &'a DropCounters,
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    // One writer per row: a plain load and store, no locked instruction.
    c.store(c.load(R).wrapping_add(n), R);
}

impl WorkerCounters<'_> {
    /// Counts upstream traffic (from the subscriber) on `slot`.
    #[inline]
    pub fn add_up(&self, slot: u32, packets: u64, bytes: u64) {
        if let Some(c) = self.map.counter_at(self.base, slot) {
            bump(&c.up_packets, packets);
            bump(&c.up_bytes, bytes);
        }
    }

    /// Counts downstream traffic (to the subscriber) on `slot`.
    #[inline]
    pub fn add_down(&self, slot: u32, packets: u64, bytes: u64) {
        if let Some(c) = self.map.counter_at(self.base, slot) {
            bump(&c.down_packets, packets);
            bump(&c.down_bytes, bytes);
        }
    }

    /// Prefetch hint for a coming [`WorkerCounters::add_up`] or
    /// [`WorkerCounters::add_down`] on `slot`.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        if let Some(c) = self.map.counter_at(self.base, slot) {
            prefetch(c);
        }
    }

    /// Prefetch hint for a coming read of `slot` and this worker's
    /// counters for it, the slot's block found once: the slot's first line
    /// ([`SessionLookup::by_slot_upstream`]), or with `whole` both of its
    /// lines (a downstream read).
    #[inline]
    pub fn prefetch_with_slot(&self, slot: u32, whole: bool) {
        if let Some((s, c)) = self.map.slot_and_counter(self.base, slot) {
            prefetch(&s.seq);
            if whole {
                prefetch(&s.template[0]);
            }
            prefetch(c);
        }
    }

    /// Counts `n` drops for `reason` (< [`DROP_REASONS`]; others ignored).
    #[inline]
    pub fn add_drop(&self, reason: usize, n: u64) {
        if let Some(c) = self.drops.reasons.get(reason) {
            bump(c, n);
        }
    }

    /// This worker's counters for `slot` (raw, since the table was made).
    pub fn get(&self, slot: u32) -> SessionCounters {
        self.map
            .counter_at(self.base, slot)
            .map_or_else(SessionCounters::default, SlotCounters::load)
    }

    /// This worker's drop counters.
    pub fn drops(&self) -> [u64; DROP_REASONS] {
        core::array::from_fn(|i| self.drops.reasons[i].load(R))
    }
}

impl fmt::Debug for WorkerCounters<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerCounters").finish_non_exhaustive()
    }
}
