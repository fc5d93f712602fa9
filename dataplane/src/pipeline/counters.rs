//! Counting once per batch: per-session traffic is gathered in a small
//! direct-mapped accumulator while the batch runs and flushed into a
//! [`CounterSink`] at its end; the batch's verdict counts go into the
//! worker's [`WorkerCounters`] with one [`WorkerCounters::add_batch`].

use l2tpx_table::{DownstreamSession, SessionCounters};

use super::{BatchResult, DropReason, HintOutcome, PuntReason};

/// The direction of a session's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the subscriber.
    Up,
    /// To the subscriber.
    Down,
}

/// Where per-session traffic counts go (the worker's own counter array in
/// the shared table; a test's map).
pub trait CounterSink {
    /// Adds `packets` packets of `bytes` inner IP bytes to session `slot`.
    fn add(&mut self, slot: u32, dir: Direction, packets: u64, bytes: u64);
}

/// A worker's per-session counters indexed by slot; slots out of range are
/// ignored.
impl CounterSink for [SessionCounters] {
    #[inline]
    fn add(&mut self, slot: u32, dir: Direction, packets: u64, bytes: u64) {
        if let Some(c) = self.get_mut(slot as usize) {
            match dir {
                Direction::Up => {
                    c.up_packets += packets;
                    c.up_bytes += bytes;
                }
                Direction::Down => {
                    c.down_packets += packets;
                    c.down_bytes += bytes;
                }
            }
        }
    }
}

/// A sink that forgets everything (benchmarks).
impl CounterSink for () {
    #[inline]
    fn add(&mut self, _: u32, _: Direction, _: u64, _: u64) {}
}

const ACC_WAYS: usize = 16;
/// A key no slot has: slots are below 2^32 - 1 in any table that fits.
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct AccEntry {
    /// Slot, or `EMPTY`.
    slot: u32,
    up_packets: u32,
    up_bytes: u32,
    down_packets: u32,
    down_bytes: u32,
}

const EMPTY_ENTRY: AccEntry = AccEntry {
    slot: EMPTY,
    up_packets: 0,
    up_bytes: 0,
    down_packets: 0,
    down_bytes: 0,
};

/// Per-session counts of one batch: 16 direct-mapped entries keyed by slot.
/// A collision flushes the older entry into the sink early, so the cost per
/// packet is constant; a batch from one session ends in one `add` per
/// direction.
#[derive(Debug, Clone)]
pub struct SessionAccumulator {
    entries: [AccEntry; ACC_WAYS],
    /// Entries evicted by a collision, waiting for the flush.
    spilled: [(u32, Direction, u32, u32); SPILL_MAX],
    spilled_len: usize,
    /// Downstream lookups by [`HintOutcome`], until the batch takes them.
    hints: [u32; HintOutcome::COUNT],
    /// Downstream's lookup buffer, reused from packet to packet: the
    /// table reads the session straight into it.
    down: DownstreamSession,
}

/// Counts one downstream session lookup in `hints`.
#[inline(always)]
pub(super) fn count_hint(hints: &mut [u32; HintOutcome::COUNT], o: HintOutcome) {
    if let Some(c) = hints.get_mut(o.index()) {
        *c += 1;
    }
}

/// At most one spill per packet of a batch.
const SPILL_MAX: usize = super::BATCH_MAX * 2;

impl Default for SessionAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionAccumulator {
    /// An empty accumulator.
    #[inline]
    pub const fn new() -> SessionAccumulator {
        SessionAccumulator {
            entries: [EMPTY_ENTRY; ACC_WAYS],
            spilled: [(0, Direction::Up, 0, 0); SPILL_MAX],
            spilled_len: 0,
            hints: [0; HintOutcome::COUNT],
            down: DownstreamSession::EMPTY,
        }
    }

    /// Counts one downstream session lookup.
    #[inline(always)]
    pub fn hint(&mut self, o: HintOutcome) {
        count_hint(&mut self.hints, o);
    }

    /// Downstream's lookup buffer and the lookup counts, borrowed apart.
    #[inline(always)]
    pub(super) fn lookup_parts(
        &mut self,
    ) -> (&mut DownstreamSession, &mut [u32; HintOutcome::COUNT]) {
        (&mut self.down, &mut self.hints)
    }

    /// The lookups counted since the last call, and zero.
    #[inline]
    pub fn take_hints(&mut self) -> [u32; HintOutcome::COUNT] {
        core::mem::replace(&mut self.hints, [0; HintOutcome::COUNT])
    }

    /// Counts one packet of `bytes` inner bytes for `slot`.
    #[inline(always)]
    pub fn count(&mut self, slot: u32, dir: Direction, bytes: usize) {
        let i = (slot as usize ^ (slot as usize >> 16)) % ACC_WAYS;
        let e = &mut self.entries[i];
        if e.slot != slot {
            if e.slot != EMPTY {
                let old = *e;
                self.spill(old);
            }
            self.entries[i] = AccEntry {
                slot,
                ..EMPTY_ENTRY
            };
        }
        let e = &mut self.entries[i];
        // Inner packets are at most 65,535 bytes and a batch holds at most
        // BATCH_MAX of them: u32 cannot overflow.
        let bytes = bytes as u32;
        match dir {
            Direction::Up => {
                e.up_packets += 1;
                e.up_bytes = e.up_bytes.wrapping_add(bytes);
            }
            Direction::Down => {
                e.down_packets += 1;
                e.down_bytes = e.down_bytes.wrapping_add(bytes);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn spill(&mut self, e: AccEntry) {
        for (dir, p, b) in [
            (Direction::Up, e.up_packets, e.up_bytes),
            (Direction::Down, e.down_packets, e.down_bytes),
        ] {
            if p != 0 {
                if let Some(s) = self.spilled.get_mut(self.spilled_len) {
                    *s = (e.slot, dir, p, b);
                    self.spilled_len += 1;
                }
            }
        }
    }

    /// Adds everything counted to `sink` and empties the accumulator.
    pub fn flush<S: CounterSink + ?Sized>(&mut self, sink: &mut S) {
        for &(slot, dir, p, b) in &self.spilled[..self.spilled_len.min(SPILL_MAX)] {
            sink.add(slot, dir, u64::from(p), u64::from(b));
        }
        self.spilled_len = 0;
        for e in &mut self.entries {
            if e.slot == EMPTY {
                continue;
            }
            if e.up_packets != 0 {
                sink.add(
                    e.slot,
                    Direction::Up,
                    u64::from(e.up_packets),
                    u64::from(e.up_bytes),
                );
            }
            if e.down_packets != 0 {
                sink.add(
                    e.slot,
                    Direction::Down,
                    u64::from(e.down_packets),
                    u64::from(e.down_bytes),
                );
            }
            *e = EMPTY_ENTRY;
        }
    }
}

/// A worker's global counters, written only by that worker; the control
/// plane reads them for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct WorkerCounters {
    /// Batches processed.
    pub batches: u64,
    /// Frames processed.
    pub rx: u64,
    /// Frames sent to the core side.
    pub tx_core: u64,
    /// Frames sent to the access side.
    pub tx_access: u64,
    /// Punts by [`PuntReason`].
    pub punts: [u64; PuntReason::COUNT],
    /// Drops by [`DropReason`].
    pub drops: [u64; DropReason::COUNT],
    /// Downstream session lookups by [`HintOutcome`].
    pub hints: [u64; HintOutcome::COUNT],
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            batches: 0,
            rx: 0,
            tx_core: 0,
            tx_access: 0,
            punts: [0; PuntReason::COUNT],
            drops: [0; DropReason::COUNT],
            hints: [0; HintOutcome::COUNT],
        }
    }
}

impl WorkerCounters {
    /// Adds one batch's counts.
    #[inline]
    pub fn add_batch(&mut self, b: &BatchResult) {
        self.batches += 1;
        self.rx += b.len as u64;
        self.tx_core += u64::from(b.tx_core);
        self.tx_access += u64::from(b.tx_access);
        for (c, &n) in self.punts.iter_mut().zip(&b.punts) {
            *c += u64::from(n);
        }
        for (c, &n) in self.drops.iter_mut().zip(&b.drops) {
            *c += u64::from(n);
        }
        for (c, &n) in self.hints.iter_mut().zip(&b.hints) {
            *c += u64::from(n);
        }
    }

    /// The downstream lookups that went `o`'s way.
    #[inline]
    pub fn hint_count(&self, o: HintOutcome) -> u64 {
        self.hints.get(o.index()).copied().unwrap_or(0)
    }

    /// The drop counter of `r`.
    #[inline]
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops.get(r.index()).copied().unwrap_or(0)
    }

    /// The punt counter of `r`.
    #[inline]
    pub fn punt_count(&self, r: PuntReason) -> u64 {
        self.punts.get(r.index()).copied().unwrap_or(0)
    }
}
