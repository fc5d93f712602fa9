//! AF_XDP sockets through raw `libc` calls (decision D15): a UMEM, its
//! four rings per socket, and sockets on two interfaces sharing one UMEM.
//!
//! ```text
//!  Umem (frames × 4096 B, one per worker)
//!   ├─ XskSocket access (registers the UMEM; binds first, XDP_USE_NEED_WAKEUP)
//!   │    fill ─▶ kernel ─▶ rx        tx ─▶ kernel ─▶ completion
//!   └─ XskSocket core (XDP_SHARED_UMEM with the access socket's fd; its own
//!        fill and completion rings, since it is another device/queue)
//! ```
//!
//! A descriptor is a plain `{addr, len}` into the UMEM. A frame received on
//! one socket is transmitted on the other by writing its (possibly moved)
//! descriptor into that socket's TX ring: no copy. The kernel returns it on
//! the TX socket's completion ring; the worker keeps one free list for the
//! whole UMEM and refills both fill rings from it.
//!
//! The AF_XDP `unsafe` code is in this file; callers make one unsafe call,
//! [`Umem::chunk_mut`], on chunks an RX ring handed them.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::FRAME_SIZE;

/// The kernel reserves this much in front of every received packet
/// (`XDP_PACKET_HEADROOM`), in addition to the UMEM headroom.
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// `XDP_OPTIONS` getsockopt and its zero-copy flag (not in libc).
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
/// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+): descriptors one copy-mode
/// `sendto` may send (default 32, at most the TX ring size).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// The budget asked for (best effort; older kernels keep 32).
pub const TX_BUDGET: u32 = 256;

/// One RX/TX descriptor (`struct xdp_desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Desc {
    /// Offset of the packet in the UMEM.
    pub addr: u64,
    /// Packet length.
    pub len: u32,
    /// Options (0).
    pub options: u32,
}

const _: () = assert!(size_of::<Desc>() == size_of::<libc::xdp_desc>());

/// An anonymous, page-aligned memory area registered as a UMEM.
pub struct Umem {
    area: NonNull<u8>,
    len: usize,
    frames: u32,
    headroom: u32,
}

// SAFETY: the area is plain memory owned by this value; the worker that
// owns the Umem is the only one touching it (the kernel aside).
unsafe impl Send for Umem {}

impl std::fmt::Debug for Umem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("frames", &self.frames)
            .field("headroom", &self.headroom)
            .finish()
    }
}

impl Umem {
    /// Maps `frames` frames of [`FRAME_SIZE`] bytes, touched up front
    /// (`MAP_POPULATE`), with `headroom` bytes reserved in front of each
    /// received packet.
    pub fn new(frames: u32, headroom: u32) -> io::Result<Umem> {
        if frames == 0 || headroom + XDP_PACKET_HEADROOM + 64 > FRAME_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "UMEM: no frames, or headroom leaves no room for a packet",
            ));
        }
        let len = frames as usize * FRAME_SIZE as usize;
        // SAFETY: anonymous private mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let area = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Umem {
            area,
            len,
            frames,
            headroom,
        })
    }

    /// Number of frames.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The UMEM address of frame `i`.
    pub fn frame_addr(i: u32) -> u64 {
        u64::from(i) * u64::from(FRAME_SIZE)
    }

    /// The start of the frame (chunk) holding UMEM address `addr`.
    #[inline(always)]
    pub fn chunk_of(addr: u64) -> u64 {
        addr & !(u64::from(FRAME_SIZE) - 1)
    }

    /// The whole chunk at `chunk` as a mutable slice, or `None` if it is
    /// outside the UMEM.
    ///
    /// # Safety
    ///
    /// The caller must own the chunk (it came off an RX ring and has not
    /// been handed back to the kernel) and must not create a second live
    /// slice of it.
    #[inline(always)]
    pub unsafe fn chunk_mut<'a>(&self, chunk: u64) -> Option<&'a mut [u8]> {
        let start = usize::try_from(chunk).ok()?;
        if start.checked_add(FRAME_SIZE as usize)? > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above); exclusivity is the caller's
        // promise; the mapping outlives every worker batch.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.area.as_ptr().add(start), FRAME_SIZE as usize)
        })
    }

    /// The bytes at `addr..addr + len` (for tests and tools), if inside.
    ///
    /// # Safety
    ///
    /// Nothing may be writing that range (the kernel included).
    pub unsafe fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr).ok()?;
        if start.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds; the caller promises no concurrent writer.
        Some(unsafe { std::slice::from_raw_parts(self.area.as_ptr().add(start), len) })
    }

    fn reg(&self) -> libc::xdp_umem_reg_v1 {
        libc::xdp_umem_reg_v1 {
            addr: self.area.as_ptr() as u64,
            len: self.len as u64,
            chunk_size: FRAME_SIZE,
            headroom: self.headroom,
        }
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: our own mapping; sockets using it are dropped first (the
        // worker owns both and drops the sockets before the UMEM).
        unsafe { libc::munmap(self.area.as_ptr().cast(), self.len) };
    }
}

/// A mapped ring: producer, consumer and flags words, then the entries.
struct RingMap {
    base: NonNull<u8>,
    len: usize,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    desc: NonNull<u8>,
}

impl RingMap {
    fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        pgoff: u64,
        entries: u32,
        entry_size: usize,
    ) -> io::Result<RingMap> {
        let len = off.desc as usize + entries as usize * entry_size;
        // SAFETY: maps the ring the kernel set up for this socket; checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p.cast::<u8>();
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS and lie inside.
        let at = |o: u64| unsafe { NonNull::new_unchecked(base.add(o as usize)) };
        Ok(RingMap {
            // SAFETY: mmap succeeded, so the pointer is not null.
            base: unsafe { NonNull::new_unchecked(base) },
            len,
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            desc: at(off.desc),
        })
    }

    #[inline(always)]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: a u32 the kernel shares with us, valid while mapped.
        unsafe { self.producer.as_ref() }
    }

    #[inline(always)]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.consumer.as_ref() }
    }

    #[inline(always)]
    fn flags(&self) -> u32 {
        // SAFETY: as above.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed)
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Entry types of the rings: `u64` addresses (fill, completion) and
/// descriptors (RX, TX).
pub trait RingEntry: Copy + Default {}
impl RingEntry for u64 {}
impl RingEntry for Desc {}

/// A ring we produce into (fill, TX).
pub struct ProdRing<T: RingEntry> {
    map: RingMap,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    _t: std::marker::PhantomData<T>,
}

impl<T: RingEntry> ProdRing<T> {
    fn new(map: RingMap, size: u32) -> Self {
        let cached_prod = map.producer().load(Ordering::Relaxed);
        let cached_cons = map.consumer().load(Ordering::Acquire);
        ProdRing {
            map,
            mask: size - 1,
            size,
            cached_prod,
            cached_cons,
            _t: std::marker::PhantomData,
        }
    }

    /// Free entries (at most `want`), re-reading the kernel's consumer
    /// index only when the cached one does not show enough.
    #[inline]
    pub fn free(&mut self, want: u32) -> u32 {
        let mut free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free < want {
            self.cached_cons = self.map.consumer().load(Ordering::Acquire);
            free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        }
        free.min(want)
    }

    /// Writes entry `i` past the producer (`i < free(..)`).
    #[inline(always)]
    pub fn write(&mut self, i: u32, v: T) {
        let idx = (self.cached_prod.wrapping_add(i) & self.mask) as usize;
        // SAFETY: idx <= mask, inside the mapped entries; the entry is ours
        // until submitted (the caller checked free()).
        unsafe { self.map.desc.cast::<T>().as_ptr().add(idx).write(v) };
    }

    /// Publishes `n` written entries to the kernel.
    #[inline]
    pub fn submit(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.cached_prod = self.cached_prod.wrapping_add(n);
        // Release: the entries are written before the kernel sees them.
        self.map
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Entries submitted that the kernel has not consumed yet.
    #[inline]
    pub fn pending(&mut self) -> u32 {
        self.cached_cons = self.map.consumer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Whether the kernel asks for a syscall to process this ring.
    #[inline(always)]
    pub fn needs_wakeup(&self) -> bool {
        self.map.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Ring size.
    pub fn size(&self) -> u32 {
        self.size
    }
}

/// A ring we consume from (RX, completion).
pub struct ConsRing<T: RingEntry> {
    map: RingMap,
    mask: u32,
    cached_prod: u32,
    cached_cons: u32,
    _t: std::marker::PhantomData<T>,
}

impl<T: RingEntry> ConsRing<T> {
    fn new(map: RingMap, size: u32) -> Self {
        let cached_cons = map.consumer().load(Ordering::Relaxed);
        let cached_prod = map.producer().load(Ordering::Acquire);
        ConsRing {
            map,
            mask: size - 1,
            cached_prod,
            cached_cons,
            _t: std::marker::PhantomData,
        }
    }

    /// Entries ready (at most `max`); reads the kernel's producer index only
    /// when the cached one shows none.
    #[inline]
    pub fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            // Acquire: the entries are written before we read them.
            self.cached_prod = self.map.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// Entry `i` past the consumer (`i < available(..)`).
    #[inline(always)]
    pub fn read(&self, i: u32) -> T {
        let idx = (self.cached_cons.wrapping_add(i) & self.mask) as usize;
        // SAFETY: idx <= mask, inside the mapped entries, published by the
        // kernel (available() said so).
        unsafe { self.map.desc.cast::<T>().as_ptr().add(idx).read() }
    }

    /// Hands `n` read entries back to the kernel.
    #[inline]
    pub fn release(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.cached_cons = self.cached_cons.wrapping_add(n);
        // Release: we are done reading them.
        self.map
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }
}

/// Ring sizes of one socket (each a power of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizes {
    /// Fill ring entries.
    pub fill: u32,
    /// Completion ring entries.
    pub comp: u32,
    /// RX ring entries.
    pub rx: u32,
    /// TX ring entries.
    pub tx: u32,
}

impl RingSizes {
    /// The same size for all four rings.
    pub const fn uniform(n: u32) -> RingSizes {
        RingSizes {
            fill: n,
            comp: n,
            rx: n,
            tx: n,
        }
    }
}

/// How [`XskSocket::bind`] binds the first socket of a UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Let the kernel pick (zero-copy if the driver can, else copy).
    Auto,
    /// `XDP_COPY`.
    Copy,
    /// `XDP_ZEROCOPY` (fails where the driver cannot).
    ZeroCopy,
}

/// Kernel statistics of a socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XskStats {
    /// Dropped for reasons other than ring space (e.g. too large).
    pub rx_dropped: u64,
    /// Invalid RX descriptors.
    pub rx_invalid_descs: u64,
    /// Invalid TX descriptors.
    pub tx_invalid_descs: u64,
    /// Received but the RX ring was full.
    pub rx_ring_full: u64,
    /// Received but the fill ring was empty.
    pub rx_fill_ring_empty_descs: u64,
    /// TX ring empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

/// One AF_XDP socket bound to (interface, queue), with its four rings.
pub struct XskSocket {
    /// RX ring.
    pub rx: ConsRing<Desc>,
    /// TX ring.
    pub tx: ProdRing<Desc>,
    /// Fill ring (this socket's: each device/queue has its own).
    pub fill: ProdRing<u64>,
    /// Completion ring.
    pub comp: ConsRing<u64>,
    fd: OwnedFd,
    ifindex: u32,
    queue: u32,
    zerocopy: bool,
}

// SAFETY: the rings are plain shared memory with the kernel; a socket is
// used by one thread at a time (its worker), which `&mut` enforces.
unsafe impl Send for XskSocket {}

impl std::fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskSocket")
            .field("fd", &self.fd)
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("zerocopy", &self.zerocopy)
            .finish_non_exhaustive()
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt<T: Default>(fd: RawFd, opt: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: v is a live T of `len` bytes.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, (&mut v as *mut T).cast(), &mut len) };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn zeroed_offsets() -> libc::xdp_mmap_offsets {
    let z = libc::xdp_ring_offset {
        producer: 0,
        consumer: 0,
        desc: 0,
        flags: 0,
    };
    libc::xdp_mmap_offsets {
        rx: z,
        tx: z,
        fr: z,
        cr: z,
    }
}

/// The interface index of `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}: {}", io::Error::last_os_error()),
        ))
    } else {
        Ok(i)
    }
}

impl XskSocket {
    /// Creates a socket and binds it to `queue` of `ifname`.
    ///
    /// With `shared_with: None` it registers `umem` and binds with
    /// `XDP_USE_NEED_WAKEUP` (and `mode`); otherwise it shares the UMEM of
    /// `shared_with` (already bound, on another interface or queue) with
    /// `XDP_SHARED_UMEM` and flags 0 besides (the kernel inherits the
    /// owner's copy/zero-copy and need-wakeup settings). `EBUSY` on bind
    /// (a queue released a moment ago) is retried for about a second.
    pub fn bind(
        umem: &Umem,
        ifname: &str,
        queue: u32,
        shared_with: Option<&XskSocket>,
        sizes: RingSizes,
        mode: BindMode,
    ) -> io::Result<XskSocket> {
        for n in [sizes.fill, sizes.comp, sizes.rx, sizes.tx] {
            if !n.is_power_of_two() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "ring sizes must be powers of 2",
                ));
            }
        }
        let ifindex = ifindex(ifname)?;
        // SAFETY: plain syscall; checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if shared_with.is_none() {
            setsockopt(raw, libc::XDP_UMEM_REG, &umem.reg())?;
        }
        setsockopt(raw, libc::XDP_UMEM_FILL_RING, &sizes.fill)?;
        setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &sizes.comp)?;
        setsockopt(raw, libc::XDP_RX_RING, &sizes.rx)?;
        setsockopt(raw, libc::XDP_TX_RING, &sizes.tx)?;
        let off = {
            let mut o = zeroed_offsets();
            let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
            // SAFETY: o is a live xdp_mmap_offsets of `len` bytes.
            let rc = unsafe {
                libc::getsockopt(
                    raw,
                    libc::SOL_XDP,
                    libc::XDP_MMAP_OFFSETS,
                    (&mut o as *mut libc::xdp_mmap_offsets).cast(),
                    &mut len,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            if (len as usize) < size_of::<libc::xdp_mmap_offsets>() {
                return Err(io::Error::other(
                    "kernel too old: XDP_MMAP_OFFSETS without ring flags",
                ));
            }
            o
        };
        let off = &off;
        let d = size_of::<Desc>();
        let a = size_of::<u64>();
        let rx = RingMap::map(raw, &off.rx, libc::XDP_PGOFF_RX_RING as u64, sizes.rx, d)?;
        let tx = RingMap::map(raw, &off.tx, libc::XDP_PGOFF_TX_RING as u64, sizes.tx, d)?;
        let fill = RingMap::map(raw, &off.fr, libc::XDP_UMEM_PGOFF_FILL_RING, sizes.fill, a)?;
        let comp = RingMap::map(
            raw,
            &off.cr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            sizes.comp,
            a,
        )?;

        // SAFETY: sockaddr_xdp is plain data; zero is a valid start.
        let mut sa: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        sa.sxdp_family = libc::AF_XDP as u16;
        sa.sxdp_ifindex = ifindex;
        sa.sxdp_queue_id = queue;
        match shared_with {
            Some(owner) => {
                sa.sxdp_flags = libc::XDP_SHARED_UMEM;
                sa.sxdp_shared_umem_fd = owner.fd.as_raw_fd() as u32;
            }
            None => {
                sa.sxdp_flags = libc::XDP_USE_NEED_WAKEUP
                    | match mode {
                        BindMode::Auto => 0,
                        BindMode::Copy => libc::XDP_COPY,
                        BindMode::ZeroCopy => libc::XDP_ZEROCOPY,
                    };
            }
        }
        let mut tries = 0;
        loop {
            // SAFETY: sa is a valid sockaddr_xdp of the size passed.
            let rc = unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            return Err(io::Error::new(
                e.kind(),
                format!("AF_XDP bind to {ifname} queue {queue}: {e}"),
            ));
        }
        // Best effort: fewer sendto calls per batch in copy mode.
        let _ = setsockopt(raw, XDP_MAX_TX_SKB_BUDGET, &TX_BUDGET.min(sizes.tx));
        let zerocopy = getsockopt::<u32>(raw, XDP_OPTIONS)
            .map(|o| o & XDP_OPTIONS_ZEROCOPY != 0)
            .unwrap_or(false);
        Ok(XskSocket {
            rx: ConsRing::new(rx, sizes.rx),
            tx: ProdRing::new(tx, sizes.tx),
            fill: ProdRing::new(fill, sizes.fill),
            comp: ConsRing::new(comp, sizes.comp),
            fd,
            ifindex,
            queue,
            zerocopy,
        })
    }

    /// The bound interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The bound queue.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Whether the kernel runs this socket in zero-copy mode.
    pub fn zerocopy(&self) -> bool {
        self.zerocopy
    }

    /// Asks the kernel to process the TX ring (`sendto`, non-blocking).
    /// Returns false when the kernel stopped early (`EAGAIN`: its batch
    /// limit or a full completion ring) and a further kick may help.
    #[inline]
    pub fn kick_tx(&self) -> bool {
        // SAFETY: a zero-length send on our socket, no buffers.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc >= 0 {
            return true;
        }
        // EAGAIN/EBUSY/ENOBUFS: try again next round; ENETDOWN: the link is
        // down, nothing to do here.
        false
    }

    /// Asks the kernel to process the fill ring (zero-copy drivers that set
    /// need_wakeup on it); copy mode never needs it.
    #[inline]
    pub fn kick_rx(&self) {
        // SAFETY: a zero-length non-blocking receive, no buffers.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// The kernel's counters for this socket.
    pub fn stats(&self) -> io::Result<XskStats> {
        let mut s = libc::xdp_statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: 0,
            rx_fill_ring_empty_descs: 0,
            tx_ring_empty_descs: 0,
        };
        let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: s is a live xdp_statistics of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut s as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

/// Waits up to `timeout_ms` for any of `fds` to be readable (`poll`).
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) {
    let mut p: [libc::pollfd; 4] = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(4);
    for (slot, fd) in p.iter_mut().zip(fds) {
        slot.fd = fd.as_raw_fd();
        slot.events = libc::POLLIN;
    }
    // SAFETY: p holds n valid pollfd entries.
    unsafe { libc::poll(p.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
}
