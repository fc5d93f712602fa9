//! The one module with `unsafe`: mapping a table file and handing out typed
//! references into it.
//!
//! Soundness rests on three facts, checked where each reference is made:
//! 1. every type placed in the mapping ([`Header`], [`Slot`], `AtomicU32`,
//!    `AtomicU64`, [`SlotCounters`], [`DropCounters`]) is made only of atomic
//!    integers, so every bit pattern is a valid value and concurrent access
//!    from other threads or processes (all through atomics) is not a data
//!    race;
//! 2. every region is in bounds and aligned: offsets are recomputed from the
//!    header's dimensions by [`Layout`] and must equal the header's, the
//!    layout must fit in the mapping, and the base is page-aligned;
//! 3. the references borrow the [`Mapping`], which unmaps only on drop.
//!
//! What no code can rule out: another process truncating the file (the
//! next access would fault with SIGBUS) or writing it without atomics. The
//! writer holds an exclusive `flock` on the file, and nothing in l2tpx
//! truncates a table in use (re-creating one makes a new file and renames
//! it over the old).

use crate::abi::{DropCounters, Header, Layout, Slot, SlotCounters, LAYOUT_HASH, MAGIC};
use crate::abi::{ABI_VERSION, DROP_REASONS};
use std::fs::File;
use std::io;
use std::mem::{align_of, size_of};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A shared read-write mapping of a whole table file.
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    layout: Layout,
    bank_bits: u32,
    /// Keeps the descriptor (and the writer's `flock`) alive.
    file: File,
}

// SAFETY: the mapping is plain shared memory reached only through atomics
// (see the module comment); `Mapping` owns no thread-local state.
unsafe impl Send for Mapping {}
// SAFETY: as above: all access through `&Mapping` is by atomic operations.
unsafe impl Sync for Mapping {}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Maps `len` bytes of `file` shared, read-write.
fn map_file(file: &File, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing: no
    // existing memory is affected. The result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // Random lookups over a large table miss the TLB on 4 KiB pages: ask
    // for transparent huge pages (honoured on tmpfs mounted `huge=advise`
    // or with shmem_enabled=advise; hugetlbfs is huge anyway). Advisory, so
    // a refusal is ignored.
    // SAFETY: advice on the range just mapped; it changes no contents.
    unsafe {
        libc::madvise(p, len, libc::MADV_HUGEPAGE);
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Takes an exclusive, non-blocking advisory lock on `file`: one writer.
pub(crate) fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The size granule of the file system holding `file`: the huge page size
/// on hugetlbfs (whose files must be sized in whole huge pages), else 4096.
pub(crate) fn size_granule(file: &File) -> io::Result<u64> {
    // SAFETY: `statfs` is plain old data; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `statfs` for the call's duration.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's type differs between libcs
    let hugetlbfs = st.f_type as i64 == 0x9584_58f6;
    Ok(if hugetlbfs {
        (st.f_bsize as u64).max(4096)
    } else {
        4096
    })
}

/// An anonymous in-memory file (memfd) of `len` bytes.
pub(crate) fn memfd(len: u64) -> io::Result<File> {
    // SAFETY: the name is a NUL-terminated static string.
    let fd = unsafe { libc::memfd_create(c"l2tpx-table".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    file.set_len(len)?;
    Ok(file)
}

/// Asks the CPU to bring the cache line holding `p` closer (a hint:
/// nothing is read, and no address faults).
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only warms a cache; it neither reads into the
    // program nor faults, whatever the address (here a valid reference),
    // and SSE is part of the x86-64 baseline.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Mapping {
    /// Maps a table that `Layout` describes in a file already sized to at
    /// least `layout.total_size` and zero-filled, and writes its header,
    /// `magic` last with Release.
    pub(crate) fn initialise(
        file: File,
        layout: Layout,
        bank_bits: u32,
        created_unix_ns: u64,
    ) -> io::Result<Mapping> {
        let len = file.metadata()?.len();
        if len < layout.total_size {
            return Err(invalid(format!(
                "file is {len} bytes, the layout needs {}",
                layout.total_size
            )));
        }
        let len = usize::try_from(len).map_err(|_| invalid("table too large".into()))?;
        let base = map_file(&file, len)?;
        let m = Mapping {
            base,
            len,
            layout,
            bank_bits,
            file,
        };
        let h = m.header();
        layout.write_header(h, bank_bits, created_unix_ns);
        h.magic.store(MAGIC, Ordering::Release);
        Ok(m)
    }

    /// Maps an existing table and validates its header. `what` names it in
    /// errors (its path).
    pub(crate) fn open(file: File, what: &str) -> io::Result<Mapping> {
        let len = file.metadata()?.len();
        if len < size_of::<Header>() as u64 {
            return Err(invalid(format!(
                "session table {what}: file is {len} bytes, shorter than the header"
            )));
        }
        let len = usize::try_from(len).map_err(|_| invalid("table too large".into()))?;
        let base = map_file(&file, len)?;
        // A provisional layout until the header is validated; drop unmaps.
        let mut m = Mapping {
            base,
            len,
            layout: Layout::new(1, 1).expect("valid"),
            bank_bits: 0,
            file,
        };
        let h = m.header();
        let r = Ordering::Relaxed;
        let magic = h.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(invalid(format!(
                "session table {what}: magic mismatch: found {magic:#018x}, expected \
                 {MAGIC:#018x} (not an l2tpx table, or its writer has not finished creating it)"
            )));
        }
        let v = h.abi_version.load(r);
        if v != ABI_VERSION {
            return Err(invalid(format!(
                "session table {what}: ABI version mismatch: table is v{v}, this build \
                 reads v{ABI_VERSION}"
            )));
        }
        let lh = h.layout_hash.load(r);
        if lh != LAYOUT_HASH {
            return Err(invalid(format!(
                "session table {what}: layout hash mismatch: table has {lh:#018x}, this \
                 build has {LAYOUT_HASH:#018x} (built from a different table ABI)"
            )));
        }
        let hs = h.header_size.load(r);
        let dr = h.drop_reasons.load(r);
        if hs as usize != size_of::<Header>() || dr as usize != DROP_REASONS {
            return Err(invalid(format!(
                "session table {what}: header size {hs} / drop reasons {dr} differ from this \
                 build's {} / {DROP_REASONS}",
                size_of::<Header>()
            )));
        }
        let (cap, workers) = (h.capacity.load(r), h.workers.load(r));
        let (v4, v6) = (h.v4_index_size.load(r), h.v6_index_size.load(r));
        let bank_bits = h.bank_bits.load(r);
        let layout = Layout::with_index_sizes(cap, workers, v4, v6)
            .filter(|_| bank_bits <= 16)
            .ok_or_else(|| {
                invalid(format!(
                    "session table {what}: dimensions out of range: capacity {cap}, workers \
                     {workers}, index sizes {v4}/{v6}, bank bits {bank_bits}"
                ))
            })?;
        if !layout.matches_header(h) {
            return Err(invalid(format!(
                "session table {what}: region offsets in the header differ from the layout \
                 for capacity {cap}, {workers} workers"
            )));
        }
        if layout.total_size > len as u64 {
            return Err(invalid(format!(
                "session table {what}: file is {len} bytes, the layout needs {}",
                layout.total_size
            )));
        }
        for a in [h.v4_active.load(r), h.v6_active.load(r)] {
            if a > 1 {
                return Err(invalid(format!(
                    "session table {what}: index selector {a} is not 0 or 1"
                )));
            }
        }
        m.layout = layout;
        m.bank_bits = bank_bits;
        Ok(m)
    }

    /// The file behind the mapping.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The validated layout.
    #[inline]
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The validated bank bits.
    #[inline]
    pub(crate) fn bank_bits(&self) -> u32 {
        self.bank_bits
    }

    /// `count` values of `T` at `offset`.
    #[inline]
    fn region<T>(&self, offset: u64, count: u64) -> &[T] {
        // These hold by construction (the layout was validated against the
        // mapping's length and alignment); checking them is cheap and keeps
        // a broken invariant from becoming out-of-bounds access.
        let end = offset + count * size_of::<T>() as u64;
        assert!(end <= self.len as u64, "table region out of bounds");
        assert!(
            (offset as usize).is_multiple_of(align_of::<T>()),
            "table region misaligned"
        );
        // SAFETY: in bounds and aligned (asserted above; the base is page
        // aligned); every `T` used here is made of atomics, valid for any
        // bits and for shared mutation (module comment); the slice borrows
        // `self`, which keeps the mapping alive.
        unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(offset as usize).cast::<T>(),
                count as usize,
            )
        }
    }

    /// The header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        &self.region::<Header>(0, 1)[0]
    }

    /// The `T` at `offset` bytes into the slot blocks, which hold a `T`
    /// there by construction ([`crate::abi::Blocks`]).
    #[inline(always)]
    fn in_blocks<T>(&self, offset: u64) -> &T {
        let at = self.layout.slots_offset + offset;
        debug_assert!(at + size_of::<T>() as u64 <= self.layout.total_size);
        debug_assert!((at as usize).is_multiple_of(align_of::<T>()));
        // SAFETY: callers pass the offset of a slot or counter of a slot
        // below the capacity, which `Blocks` places inside the slot region,
        // aligned; the region lies inside the mapping (the layout was
        // validated against its length); `T` is made of atomics (module
        // comment), and the reference borrows `self`.
        unsafe { &*self.base.as_ptr().add(at as usize).cast::<T>() }
    }

    /// Slot `i`, if below the capacity.
    #[inline(always)]
    pub(crate) fn slot(&self, i: u32) -> Option<&Slot> {
        (i < self.layout.capacity).then(|| self.in_blocks(self.layout.blocks.slot_offset(i)))
    }

    /// Every slot with its index.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (u32, &Slot)> {
        (0..self.layout.capacity).map(|i| (i, self.in_blocks(self.layout.blocks.slot_offset(i))))
    }

    /// The Ns counters, one per slot.
    #[inline]
    pub(crate) fn ns(&self) -> &[AtomicU32] {
        self.region(self.layout.ns_offset, self.layout.capacity as u64)
    }

    /// Copy `which` (0 or 1) of the IPv4 index.
    #[inline]
    pub(crate) fn v4_index(&self, which: u32) -> &[AtomicU64] {
        let l = &self.layout;
        self.region(
            l.v4_index_offset[which as usize & 1],
            l.v4_index_size as u64,
        )
    }

    /// Copy `which` (0 or 1) of the IPv6 index.
    #[inline]
    pub(crate) fn v6_index(&self, which: u32) -> &[AtomicU64] {
        let l = &self.layout;
        self.region(
            l.v6_index_offset[which as usize & 1],
            l.v6_index_size as u64,
        )
    }

    /// The accounting baselines, one per slot.
    #[inline]
    pub(crate) fn baselines(&self) -> &[SlotCounters] {
        self.region(self.layout.baselines_offset, self.layout.capacity as u64)
    }

    /// Worker `w`'s counters for slot `i`, if both are in range.
    #[inline(always)]
    pub(crate) fn counter(&self, w: u32, i: u32) -> Option<&SlotCounters> {
        let l = &self.layout;
        (i < l.capacity && w < l.workers).then(|| self.in_blocks(l.blocks.counter_offset(w, i)))
    }

    /// [`Mapping::counter`] with `base` = `Blocks::counters_base(w)` from
    /// [`Mapping::counters_base`], for a worker that looks up many.
    #[inline(always)]
    pub(crate) fn counter_at(&self, base: CountersBase, i: u32) -> Option<&SlotCounters> {
        let l = &self.layout;
        (i < l.capacity).then(|| self.in_blocks(l.blocks.counter_from(base.0, i)))
    }

    /// [`Mapping::slot`] and [`Mapping::counter_at`] of slot `i` at once.
    #[inline]
    pub(crate) fn slot_and_counter(
        &self,
        base: CountersBase,
        i: u32,
    ) -> Option<(&Slot, &SlotCounters)> {
        let l = &self.layout;
        (i < l.capacity).then(|| {
            let (s, c) = l.blocks.slot_and_counter_from(base.0, i);
            (self.in_blocks(s), self.in_blocks(c))
        })
    }

    /// Worker `w`'s [`CountersBase`], if in range.
    pub(crate) fn counters_base(&self, w: u32) -> Option<CountersBase> {
        (w < self.layout.workers).then(|| CountersBase(self.layout.blocks.counters_base(w)))
    }

    /// Every worker's drop counters.
    #[inline]
    pub(crate) fn drops(&self) -> &[DropCounters] {
        self.region(self.layout.drops_offset, self.layout.workers as u64)
    }

    /// The change ring.
    #[inline]
    pub(crate) fn changes(&self) -> &[AtomicU32] {
        self.region(self.layout.changes_offset, crate::abi::CHANGE_RING as u64)
    }
}

/// Where one worker's counter run starts in each block (checked in range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountersBase(u64);

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned, and no
        // reference into the mapping outlives `self` (they all borrow it).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}
