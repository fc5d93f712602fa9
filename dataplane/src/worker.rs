//! A data-plane worker: one per RX queue, pinned to a CPU, running the
//! ARCHITECTURE §3 loop over its two AF_XDP sockets (access and core,
//! sharing one UMEM):
//!
//! ```text
//! loop {
//!     rx up to 64 from the access socket ─┐  (no syscall: ring indices)
//!     rx up to 64 from the core socket  ──┤
//!        ▶ Frames ▶ process_batch (TableReader) ▶ verdicts
//!        ▶ TxCore → core TX ring, TxAccess → access TX ring (same chunk,
//!          descriptor moved: no copy)
//!        ▶ Drop → free list; Punt → slow path (ICMP errors written into
//!          the punted chunk and sent; fragments in chunks from the free
//!          list; everything else back to the free list)
//!        ▶ counters once per batch (table rows + WorkerStats)
//!     reap both completion rings → free list; refill both fill rings
//!     kick TX (sendto) only if the ring has work and need_wakeup is set
//!     idle: spin, then poll() for at most 1 ms
//! }
//! ```
//!
//! The slow path for punted frames (ICMP errors, fragmentation) is
//! [`crate::slowpath`] (decision D20), run by [`BatchEngine::punt`].
//!
//! [`BatchEngine`] is the part shared with the AF_PACKET backend: the
//! pipeline call, the gateway MAC refresh and the counters.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use l2tpx_table::TableReader;

use crate::config::WorkerMode;
use crate::ebpf::Meta;
use crate::neigh::MacCell;
use crate::pipeline::{
    process_batch_ahead, BatchResult, CounterSink, Direction, DropReason, Frame, HintOutcome,
    Lookahead, PipelineConfig, PuntReason, Side, Verdict, WorkerCounters, BATCH_MAX,
};
use crate::slowpath::{FrameAlloc, SlowAction, SlowOutcome, SlowPath, SlowPathConfig};
use crate::xsk::{wait_readable, Desc, Umem, XskSocket};

const R: Ordering = Ordering::Relaxed;

/// I/O counters of a worker (besides the pipeline's [`WorkerCounters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Frames received on the access side.
    pub rx_access: u64,
    /// Frames received on the core side.
    pub rx_core: u64,
    /// Frames handed to the access TX (ring or sendmmsg).
    pub tx_access: u64,
    /// Frames handed to the core TX.
    pub tx_core: u64,
    /// Frames dropped because a TX ring (or socket) was full.
    pub tx_full: u64,
    /// Upstream frames dropped because the core gateway's MAC is unknown.
    pub no_gateway: u64,
    /// Frames handed to the slow path (its outcomes are in
    /// [`WorkerSnapshot::slow`]).
    pub slow_path: u64,
    /// `sendto` kicks of a TX ring.
    pub tx_kicks: u64,
    /// Frames seen by AF_PACKET but not for us (broadcast, other hosts).
    pub ignored: u64,
    /// RX descriptors outside the UMEM (a kernel bug if ever nonzero).
    pub bad_desc: u64,
}

/// A worker's counters as the main thread sees them: copied from the
/// worker's private counters once per batch (relaxed stores; one writer).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pipeline: [AtomicU64; PIPE_WORDS],
    io: [AtomicU64; IO_WORDS],
    slow: [AtomicU64; SlowOutcome::COUNT],
}

const PIPE_WORDS: usize = 4 + PuntReason::COUNT + DropReason::COUNT + HintOutcome::COUNT;
const DROPS_AT: usize = 4 + PuntReason::COUNT;
const HINTS_AT: usize = DROPS_AT + DropReason::COUNT;
const IO_WORDS: usize = 10;

/// A copy of a worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The pipeline's counters.
    pub pipeline: WorkerCounters,
    /// The I/O counters.
    pub io: IoCounters,
    /// The slow path's outcomes, by [`SlowOutcome`] index.
    pub slow: [u64; SlowOutcome::COUNT],
}

impl WorkerSnapshot {
    /// The slow-path counter of `o`.
    pub fn slow(&self, o: SlowOutcome) -> u64 {
        self.slow[o.index()]
    }

    /// Adds `o` into `self` (for a total over workers).
    pub fn add(&mut self, o: &WorkerSnapshot) {
        let p = &mut self.pipeline;
        p.batches += o.pipeline.batches;
        p.rx += o.pipeline.rx;
        p.tx_core += o.pipeline.tx_core;
        p.tx_access += o.pipeline.tx_access;
        for (a, b) in p.punts.iter_mut().zip(&o.pipeline.punts) {
            *a += b;
        }
        for (a, b) in p.drops.iter_mut().zip(&o.pipeline.drops) {
            *a += b;
        }
        for (a, b) in p.hints.iter_mut().zip(&o.pipeline.hints) {
            *a += b;
        }
        let (a, b) = (&mut self.io, &o.io);
        a.rx_access += b.rx_access;
        a.rx_core += b.rx_core;
        a.tx_access += b.tx_access;
        a.tx_core += b.tx_core;
        a.tx_full += b.tx_full;
        a.no_gateway += b.no_gateway;
        a.slow_path += b.slow_path;
        a.tx_kicks += b.tx_kicks;
        a.ignored += b.ignored;
        a.bad_desc += b.bad_desc;
        for (a, b) in self.slow.iter_mut().zip(&o.slow) {
            *a += b;
        }
    }

    /// Drops of every pipeline reason, summed.
    pub fn pipeline_drops(&self) -> u64 {
        self.pipeline.drops.iter().sum()
    }

    /// Punts of every reason, summed.
    pub fn punts(&self) -> u64 {
        self.pipeline.punts.iter().sum()
    }
}

impl WorkerStats {
    fn publish(&self, p: &WorkerCounters, io: &IoCounters, slow: &[u64; SlowOutcome::COUNT]) {
        for (a, &v) in self.slow.iter().zip(slow) {
            a.store(v, R);
        }
        let words = [p.batches, p.rx, p.tx_core, p.tx_access]
            .into_iter()
            .chain(p.punts)
            .chain(p.drops)
            .chain(p.hints);
        for (a, v) in self.pipeline.iter().zip(words) {
            a.store(v, R);
        }
        let io = [
            io.rx_access,
            io.rx_core,
            io.tx_access,
            io.tx_core,
            io.tx_full,
            io.no_gateway,
            io.slow_path,
            io.tx_kicks,
            io.ignored,
            io.bad_desc,
        ];
        for (a, v) in self.io.iter().zip(io) {
            a.store(v, R);
        }
    }

    /// A copy of the last published counters.
    pub fn snapshot(&self) -> WorkerSnapshot {
        let w: Vec<u64> = self.pipeline.iter().map(|a| a.load(R)).collect();
        let mut p = WorkerCounters {
            batches: w[0],
            rx: w[1],
            tx_core: w[2],
            tx_access: w[3],
            ..WorkerCounters::default()
        };
        p.punts.copy_from_slice(&w[4..DROPS_AT]);
        p.drops.copy_from_slice(&w[DROPS_AT..HINTS_AT]);
        p.hints.copy_from_slice(&w[HINTS_AT..]);
        let i: Vec<u64> = self.io.iter().map(|a| a.load(R)).collect();
        WorkerSnapshot {
            pipeline: p,
            io: IoCounters {
                rx_access: i[0],
                rx_core: i[1],
                tx_access: i[2],
                tx_core: i[3],
                tx_full: i[4],
                no_gateway: i[5],
                slow_path: i[6],
                tx_kicks: i[7],
                ignored: i[8],
                bad_desc: i[9],
            },
            slow: std::array::from_fn(|k| self.slow[k].load(R)),
        }
    }
}

/// Per-session counts go into this worker's row of the shared table.
struct TableSink<'a>(l2tpx_table::WorkerCounters<'a>);

impl CounterSink for TableSink<'_> {
    #[inline]
    fn add(&mut self, slot: u32, dir: Direction, packets: u64, bytes: u64) {
        match dir {
            Direction::Up => self.0.add_up(slot, packets, bytes),
            Direction::Down => self.0.add_down(slot, packets, bytes),
        }
    }
}

/// What every worker needs, whatever its backend.
#[derive(Debug, Clone)]
pub struct WorkerCtx {
    /// Worker index: its counter row in the table and its RX queue.
    pub index: u32,
    /// The session table.
    pub table: Arc<TableReader>,
    /// The pipeline configuration (the gateway MAC is taken from
    /// `gateway` before each batch).
    pub pipeline: PipelineConfig,
    /// The core gateway's MAC, kept fresh by the main thread.
    pub gateway: Arc<MacCell>,
    /// Counters for the main thread.
    pub stats: Arc<WorkerStats>,
    /// Set to stop the worker.
    pub stop: Arc<AtomicBool>,
    /// Pipeline or bare forwarding.
    pub mode: WorkerMode,
    /// Bare mode: downstream frames' (destination, source) MACs; `None`:
    /// they keep theirs.
    pub bare_access: Option<([u8; 6], [u8; 6])>,
    /// CPU to pin to.
    pub cpu: Option<usize>,
    /// Idle rounds before sleeping in poll() (0: never).
    pub idle_spins: u32,
    /// The slow path's settings (ICMP source addresses and rate limit).
    pub slow: SlowPathConfig,
    /// Counts workers that have filled their rings and entered the loop.
    pub ready: Arc<AtomicUsize>,
}

/// The backend-independent half of a worker: runs a batch through the
/// pipeline (or the bare forwarder) and keeps the counters.
pub struct BatchEngine {
    ctx: WorkerCtx,
    cfg: PipelineConfig,
    gw_raw: u64,
    out: BatchResult,
    slow: SlowPath,
    epoch: Instant,
    /// The pipeline's counters (private; published once per round).
    pub counters: WorkerCounters,
    /// The I/O counters (private; published once per round).
    pub io: IoCounters,
}

impl BatchEngine {
    /// An engine for `ctx`.
    pub fn new(ctx: WorkerCtx) -> BatchEngine {
        let cfg = ctx.pipeline;
        let slow = SlowPath::new(ctx.slow);
        let mut e = BatchEngine {
            ctx,
            cfg,
            gw_raw: 0,
            out: BatchResult::default(),
            slow,
            epoch: monotonic(),
            counters: WorkerCounters::default(),
            io: IoCounters::default(),
        };
        e.refresh_gateway();
        e
    }

    /// The context.
    pub fn ctx(&self) -> &WorkerCtx {
        &self.ctx
    }

    /// Tells the starter this worker can take packets: its fill rings are
    /// stocked and the loop is about to run.
    pub fn mark_ready(&self) {
        self.ctx.ready.fetch_add(1, Ordering::Release);
    }

    /// Whether the worker should stop.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.ctx.stop.load(R)
    }

    #[inline]
    fn refresh_gateway(&mut self) {
        let raw = self.ctx.gateway.raw();
        if raw != self.gw_raw {
            self.gw_raw = raw;
            if let Some(m) = self.ctx.gateway.get() {
                self.cfg.core_gateway_mac = m;
            }
        }
    }

    /// Processes `frames` (at most [`BATCH_MAX`]) and returns their
    /// verdicts. Counts once: the table's per-session and drop counters,
    /// the worker's pipeline counters. Upstream frames while the gateway is
    /// unknown turn into drops (counted in [`IoCounters::no_gateway`]).
    #[inline]
    pub fn process<'v>(&'v mut self, frames: &mut [Frame<'_>]) -> &'v [Verdict] {
        if self.ctx.mode == WorkerMode::Bare {
            self.refresh_gateway();
            let n = frames.len().min(BATCH_MAX);
            let up = (self.cfg.core_gateway_mac, self.cfg.core_mac);
            for (v, f) in self.out.verdicts.iter_mut().zip(frames.iter_mut()) {
                let (verdict, macs) = match f.from {
                    Side::Access => (Verdict::TxCore, Some(up)),
                    Side::Core => (Verdict::TxAccess, self.ctx.bare_access),
                };
                *v = verdict;
                if let (Some((dst, src)), Some(eth)) =
                    (macs, f.buf.get_mut(f.offset..f.offset + 12))
                {
                    eth[..6].copy_from_slice(&dst);
                    eth[6..].copy_from_slice(&src);
                }
            }
            self.out.len = n;
            self.counters.batches += 1;
            self.counters.rx += n as u64;
            return &self.out.verdicts[..n];
        }
        self.refresh_gateway();
        let table = &*self.ctx.table;
        let row = table.counters(self.ctx.index);
        let ahead = TableLookahead::new(table, row);
        match row {
            Some(row) => {
                process_batch_ahead(
                    frames,
                    table,
                    &self.cfg,
                    &mut self.out,
                    &mut TableSink(row),
                    &ahead,
                );
                for (i, &n) in self.out.drops.iter().enumerate() {
                    if n != 0 {
                        row.add_drop(i, u64::from(n));
                    }
                }
            }
            None => {
                process_batch_ahead(frames, table, &self.cfg, &mut self.out, &mut (), &ahead);
            }
        }
        self.counters.add_batch(&self.out);
        let n = self.out.len;
        if self.gw_raw == 0 {
            for v in &mut self.out.verdicts[..n] {
                if *v == Verdict::TxCore {
                    *v = Verdict::Drop(DropReason::Malformed);
                    self.io.no_gateway += 1;
                }
            }
        }
        &self.out.verdicts[..n]
    }

    /// Runs the slow path on a frame the last batch punted for `reason`:
    /// an ICMP error is written into the frame itself
    /// ([`SlowAction::Tx`]; a core-side one becomes a recycle while the
    /// gateway's MAC is unknown, counted in [`IoCounters::no_gateway`]);
    /// fragments are taken from `alloc` and committed to it.
    pub fn punt<A: FrameAlloc + ?Sized>(
        &mut self,
        frame: &mut Frame<'_>,
        reason: PuntReason,
        alloc: &mut A,
    ) -> SlowAction {
        self.io.slow_path += 1;
        let now_ns = self.epoch.elapsed().as_nanos() as u64;
        let table = &*self.ctx.table;
        let a = match table.counters(self.ctx.index) {
            Some(row) => self.slow.handle(
                frame,
                reason,
                table,
                &self.cfg,
                now_ns,
                alloc,
                &mut TableSink(row),
            ),
            None => self
                .slow
                .handle(frame, reason, table, &self.cfg, now_ns, alloc, &mut ()),
        };
        if a == SlowAction::Tx(Side::Core) && self.gw_raw == 0 {
            self.io.no_gateway += 1;
            return SlowAction::Recycle;
        }
        a
    }

    /// The slow path's counters, by [`SlowOutcome`] index.
    pub fn slow_counters(&self) -> &[u64; SlowOutcome::COUNT] {
        self.slow.counters()
    }

    /// Publishes the counters to [`WorkerStats`].
    #[inline]
    pub fn publish(&self) {
        self.ctx
            .stats
            .publish(&self.counters, &self.io, self.slow.counters());
    }

    /// Pins the calling thread to the context's CPU, if any.
    pub fn pin(&self) {
        if let Some(cpu) = self.ctx.cpu {
            let ok = core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            if !ok {
                tracing::warn!(worker = self.ctx.index, cpu, "could not pin the worker");
            }
        }
    }
}

/// The worker's [`Lookahead`]: warms the session slot and this worker's
/// counter line for frames a few places ahead in the batch (D22).
///
/// Only fixed-offset parsing (Ethernet with at most one tag, the IPv4
/// IHL, the L2TP L bit): a frame that does not parse is just not warmed;
/// the pipeline does the real checks.
#[derive(Clone, Copy)]
pub struct TableLookahead<'a> {
    table: &'a TableReader,
    row: Option<l2tpx_table::WorkerCounters<'a>>,
    bank_bits: u32,
}

impl<'a> TableLookahead<'a> {
    /// Warms `table`'s slots and, if given, `row`'s counters. `row` is
    /// `table`'s (`table.counters(w)`): with it, a slot and its counters
    /// are located together through the row's mapping.
    #[inline]
    pub fn new(table: &'a TableReader, row: Option<l2tpx_table::WorkerCounters<'a>>) -> Self {
        TableLookahead {
            table,
            row,
            bank_bits: l2tpx_table::SessionLookup::bank_bits(table),
        }
    }

    /// A downstream slot (both lines) and its counters.
    #[inline(always)]
    fn slot(&self, slot: u32) {
        match &self.row {
            Some(r) => r.prefetch_with_slot(slot, true),
            None => self.table.prefetch_slot(slot),
        }
    }

    /// An upstream slot (its first line) and its counters.
    #[inline(always)]
    fn slot_header(&self, slot: u32) {
        match &self.row {
            Some(r) => r.prefetch_with_slot(slot, false),
            None => self.table.prefetch_slot_header(slot),
        }
    }
}

impl Lookahead for TableLookahead<'_> {
    /// Upstream: the slot's first line (all decapsulation reads) and its
    /// counters. Downstream: with `core_steer`'s slot hint, the whole slot
    /// and its counters; without, the address index entry (and then stage
    /// 2 has the slot to warm).
    #[inline(always)]
    fn early(&self, f: &Frame<'_>, from: Side) -> bool {
        let p = f.packet();
        match (from, eth_l3(p)) {
            (Side::Access, Some((l3, 0x0800))) => {
                if let Some((t, s)) = l2tp_ids(p, l3) {
                    self.slot_header(l2tpx_table::slot_index(t, s, self.bank_bits));
                }
            }
            (Side::Core, Some((l3, 0x0800))) => {
                if let Some(d) = ipv4_dst(p, l3) {
                    match Meta::hint_v4(f.buf, f.offset, d) {
                        Some(slot) => self.slot(slot),
                        None => {
                            self.table.prefetch_ipv4(d.into());
                            return true;
                        }
                    }
                }
            }
            (Side::Core, Some((l3, 0x86dd))) => {
                if let Some(d) = ipv6_dst(p, l3) {
                    match Meta::hint_v6(f.buf, f.offset, d) {
                        Some(slot) => self.slot(slot),
                        None => {
                            self.table.prefetch_ipv6(d);
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
        false
    }

    /// Downstream without a slot hint (stage 1 says which frames): the
    /// whole slot the index entry points at (`ipv4_hint`, `ipv6_hint`;
    /// stage 1 brought its line) and its counters.
    #[inline(always)]
    fn late(&self, f: &Frame<'_>) {
        if f.from != Side::Core {
            return;
        }
        let p = f.packet();
        let slot = match eth_l3(p) {
            Some((l3, 0x0800)) => ipv4_dst(p, l3).and_then(|d| self.table.ipv4_hint(d.into())),
            Some((l3, 0x86dd)) => ipv6_dst(p, l3).and_then(|d| self.table.ipv6_hint(d)),
            _ => None,
        };
        if let Some(slot) = slot {
            self.slot(slot);
        }
    }
}

/// The whole-batch alternative to [`process_batch_ahead`]'s interleaving
/// (D20, kept for the comparison in `examples/table_scale.rs`): stage 1
/// for every frame, then stage 2 for every frame, before any is processed.
#[inline]
pub fn prefetch_batch(frames: &[Frame<'_>], ahead: &TableLookahead<'_>) {
    for chunk in frames.chunks(64) {
        let mut late = 0u64;
        for (i, f) in chunk.iter().enumerate() {
            late |= u64::from(ahead.early(f, f.from)) << i;
        }
        for (i, f) in chunk.iter().enumerate() {
            if late >> i & 1 != 0 {
                ahead.late(f);
            }
        }
    }
}

/// The IPv4 destination of a frame whose IPv4 header starts at `l3`.
#[inline(always)]
fn ipv4_dst(p: &[u8], l3: usize) -> Option<[u8; 4]> {
    p.get(l3 + 16..l3 + 20)?.try_into().ok()
}

/// The IPv6 destination of a frame whose IPv6 header starts at `l3`.
#[inline(always)]
fn ipv6_dst(p: &[u8], l3: usize) -> Option<&[u8; 16]> {
    p.get(l3 + 24..l3 + 40)
        .and_then(|d| <&[u8; 16]>::try_from(d).ok())
}

#[inline(always)]
fn eth_l3(p: &[u8]) -> Option<(usize, u16)> {
    match *p {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, _, _, t0, t1, ..] => {
            Some((18, u16::from_be_bytes([t0, t1])))
        }
        [_, _, _, _, _, _, _, _, _, _, _, _, t0, t1, ..] => {
            Some((14, u16::from_be_bytes([t0, t1])))
        }
        _ => None,
    }
}

/// The L2TP tunnel and session IDs of an Eth/IPv4/UDP/L2TP data frame
/// whose IPv4 header starts at `l3`.
#[inline(always)]
fn l2tp_ids(p: &[u8], l3: usize) -> Option<(u16, u16)> {
    let ihl = usize::from(*p.get(l3)? & 0x0f) * 4;
    let l2tp = l3 + ihl + 8;
    let flags = *p.get(l2tp)?;
    let at = l2tp + if flags & 0x40 != 0 { 4 } else { 2 };
    match *p.get(at..at + 4)? {
        [t0, t1, s0, s1] => Some((u16::from_be_bytes([t0, t1]), u16::from_be_bytes([s0, s1]))),
        _ => None,
    }
}

/// The worker's clock, read once per punted frame (drivers may read the
/// clock; the slow path itself takes `now` as a parameter).
#[allow(clippy::disallowed_methods)]
fn monotonic() -> Instant {
    Instant::now()
}

/// Fragments' frames from the UMEM free list; committed ones become
/// access-side TX descriptors in `out`.
struct UmemAlloc<'a> {
    umem: &'a Umem,
    free: &'a mut Vec<u64>,
    out: &'a mut Vec<Desc>,
    cur: Option<u64>,
}

impl FrameAlloc for UmemAlloc<'_> {
    fn available(&self) -> usize {
        self.free.len()
    }

    fn alloc(&mut self) -> Option<(&mut [u8], usize)> {
        let chunk = self.free.pop()?;
        // SAFETY: a chunk from the free list is in no ring and no other
        // live slice: it is ours until committed or released.
        match unsafe { self.umem.chunk_mut(chunk) } {
            Some(buf) => {
                self.cur = Some(chunk);
                Some((buf, crate::pipeline::HEADROOM))
            }
            None => {
                self.free.push(chunk);
                None
            }
        }
    }

    fn commit(&mut self, _side: Side, offset: usize, len: usize) {
        if let Some(chunk) = self.cur.take() {
            self.out.push(Desc {
                addr: chunk + offset as u64,
                len: len as u32,
                options: 0,
            });
        }
    }

    fn release(&mut self) {
        if let Some(chunk) = self.cur.take() {
            self.free.push(chunk);
        }
    }
}

/// A worker's AF_XDP resources: its two sockets and their shared UMEM.
pub struct XdpPort {
    /// The access-side socket (owns the UMEM registration).
    pub access: XskSocket,
    /// The core-side socket (shares the UMEM).
    pub core: XskSocket,
    /// The UMEM (dropped after the sockets).
    pub umem: Umem,
}

/// Kicks per TX ring per round, at most.
const MAX_KICKS: u32 = 4;

/// One batch's TX descriptors, per side.
struct Pending {
    to_core: [Desc; BATCH_MAX],
    n_core: usize,
    to_access: [Desc; BATCH_MAX],
    n_access: usize,
}

/// Runs the AF_XDP loop until `ctx.stop` is set.
pub fn run_afxdp(ctx: WorkerCtx, port: XdpPort) {
    let mut eng = BatchEngine::new(ctx);
    eng.pin();
    let XdpPort {
        mut access,
        mut core,
        umem,
    } = port;
    let mut free: Vec<u64> = (0..umem.frames()).map(Umem::frame_addr).collect();
    // Most-recently-used first: pop() hands out warm frames.
    free.reverse();
    let mut frames: Vec<Frame<'_>> = Vec::with_capacity(BATCH_MAX);
    let mut chunks = [0u64; BATCH_MAX];
    let mut verdicts = [Verdict::TxCore; BATCH_MAX];
    // Fragments made by the slow path, for the access TX ring.
    let mut frag_tx: Vec<Desc> = Vec::with_capacity(4 * BATCH_MAX);
    let mut pend = Pending {
        to_core: [Desc::default(); BATCH_MAX],
        n_core: 0,
        to_access: [Desc::default(); BATCH_MAX],
        n_access: 0,
    };
    refill(&mut access, &mut core, &mut free, false);
    eng.mark_ready();
    let mut idle: u32 = 0;
    let mut round: u64 = 0;
    while !eng.stopping() {
        round += 1;
        let mut work = 0;
        for side in [Side::Access, Side::Core] {
            let sock = match side {
                Side::Access => &mut access,
                Side::Core => &mut core,
            };
            let n = sock.rx.available(BATCH_MAX as u32);
            if n == 0 {
                continue;
            }
            work += n;
            frames.clear();
            let mut k = 0;
            for i in 0..n {
                let d = sock.rx.read(i);
                let chunk = Umem::chunk_of(d.addr);
                // SAFETY: the kernel handed this chunk to us on the RX ring;
                // each chunk is in at most one ring entry, so no two live
                // slices alias.
                match unsafe { umem.chunk_mut(chunk) } {
                    Some(buf) => {
                        frames.push(Frame::new(
                            buf,
                            (d.addr - chunk) as usize,
                            d.len as usize,
                            side,
                        ));
                        chunks[k] = chunk;
                        k += 1;
                    }
                    None => eng.io.bad_desc += 1,
                }
            }
            sock.rx.release(n);
            match side {
                Side::Access => eng.io.rx_access += u64::from(n),
                Side::Core => eng.io.rx_core += u64::from(n),
            }
            let nv = {
                let v = eng.process(&mut frames);
                verdicts[..v.len()].copy_from_slice(v);
                v.len()
            };
            for ((v, f), &chunk) in verdicts[..nv].iter().zip(frames.iter_mut()).zip(&chunks) {
                let mut d = Desc {
                    addr: chunk + f.offset as u64,
                    len: f.len as u32,
                    options: 0,
                };
                let v = match *v {
                    Verdict::Punt(r) => {
                        let mut alloc = UmemAlloc {
                            umem: &umem,
                            free: &mut free,
                            out: &mut frag_tx,
                            cur: None,
                        };
                        let a = eng.punt(f, r, &mut alloc);
                        d.addr = chunk + f.offset as u64;
                        d.len = f.len as u32;
                        match a {
                            SlowAction::Tx(Side::Core) => Verdict::TxCore,
                            SlowAction::Tx(Side::Access) => Verdict::TxAccess,
                            SlowAction::Recycle => Verdict::Punt(r),
                        }
                    }
                    v => v,
                };
                match v {
                    Verdict::TxCore => {
                        pend.to_core[pend.n_core] = d;
                        pend.n_core += 1;
                    }
                    Verdict::TxAccess => {
                        pend.to_access[pend.n_access] = d;
                        pend.n_access += 1;
                    }
                    Verdict::Punt(_) | Verdict::Drop(_) => free.push(chunk),
                }
            }
            frames.clear();
            // Enqueue this batch's TX at once (a batch has at most 64).
            eng.io.tx_core += enqueue_tx(
                &mut core,
                &pend.to_core[..pend.n_core],
                &mut free,
                &mut eng.io.tx_full,
            );
            eng.io.tx_access += enqueue_tx(
                &mut access,
                &pend.to_access[..pend.n_access],
                &mut free,
                &mut eng.io.tx_full,
            );
            pend.n_core = 0;
            pend.n_access = 0;
            if !frag_tx.is_empty() {
                eng.io.tx_access +=
                    enqueue_tx(&mut access, &frag_tx, &mut free, &mut eng.io.tx_full);
                frag_tx.clear();
            }
        }
        // Completions first, so the frames they return can refill.
        for sock in [&mut access, &mut core] {
            let n = sock.comp.available(u32::MAX);
            for i in 0..n {
                free.push(Umem::chunk_of(sock.comp.read(i)));
            }
            sock.comp.release(n);
            work += n;
        }
        refill(&mut access, &mut core, &mut free, round & 1 == 1);
        // Kick only when the kernel asks for it (copy mode always does for
        // TX; zero-copy drivers rarely do).
        for sock in [&access, &core] {
            if sock.fill.needs_wakeup() {
                sock.kick_rx();
            }
        }
        // One copy-mode sendto sends at most its budget (32 before Linux
        // 6.17): kick again while the kernel leaves work in the ring.
        for sock in [&mut access, &mut core] {
            let mut tries = 0;
            while tries < MAX_KICKS && sock.tx.needs_wakeup() && sock.tx.pending() > 0 {
                sock.kick_tx();
                eng.io.tx_kicks += 1;
                tries += 1;
            }
        }
        if work > 0 {
            idle = 0;
            eng.publish();
        } else {
            idle = idle.saturating_add(1);
            if eng.ctx().idle_spins > 0 && idle >= eng.ctx().idle_spins {
                wait_readable(&[access.as_fd(), core.as_fd()], 1);
            } else {
                std::hint::spin_loop();
            }
        }
    }
    eng.publish();
    drop(access);
    drop(core);
    drop(umem);
}

/// Writes `descs` to `sock`'s TX ring; what does not fit goes back to the
/// free list, counted in `full`. Returns how many were queued.
#[inline]
fn enqueue_tx(sock: &mut XskSocket, descs: &[Desc], free: &mut Vec<u64>, full: &mut u64) -> u64 {
    if descs.is_empty() {
        return 0;
    }
    let room = sock.tx.free(descs.len() as u32) as usize;
    for (i, d) in descs[..room].iter().enumerate() {
        sock.tx.write(i as u32, *d);
    }
    sock.tx.submit(room as u32);
    for d in &descs[room..] {
        free.push(Umem::chunk_of(d.addr));
        *full += 1;
    }
    room as u64
}

/// Refills both fill rings from the free list, each taking at most half
/// of it while the other needs frames too; `core_first` alternates who
/// gets the odd frame.
#[inline]
fn refill(access: &mut XskSocket, core: &mut XskSocket, free: &mut Vec<u64>, core_first: bool) {
    let (a, b) = if core_first {
        (core, access)
    } else {
        (access, core)
    };
    let want_b = b.fill.free(b.fill.size());
    let share_a = (free.len() as u32).saturating_sub(want_b.min(free.len() as u32 / 2));
    fill_from(a, free, share_a);
    let rest = free.len() as u32;
    fill_from(b, free, rest);
}

#[inline]
fn fill_from(sock: &mut XskSocket, free: &mut Vec<u64>, max: u32) {
    let n = sock.fill.free(max.min(free.len() as u32));
    for i in 0..n {
        // n <= free.len(): pop() cannot fail.
        let addr = free.pop().unwrap_or_default();
        sock.fill.write(i, addr);
    }
    sock.fill.submit(n);
}
