//! Choosing the packet I/O, starting the workers, and the process-level
//! duties around them (decisions D15, D17):
//!
//! - **AF_XDP** (preferred): the XDP steering programs ([`ebpf::Steering`])
//!   are attached to both interfaces and every worker gets an access and a
//!   core socket on its queue, sharing one UMEM ([`crate::worker`]).
//! - **AF_PACKET** (fallback): when AF_XDP cannot be set up (no XDP or
//!   AF_XDP support, `EOPNOTSUPP`, ...) with `backend = "auto"`, or when
//!   asked for with `backend = "afpacket"`. Each worker reads batches with
//!   `recvmmsg` on a packet socket per interface (a `PACKET_FANOUT_HASH`
//!   group per interface spreads flows over the workers) and writes them
//!   with `sendmmsg`, through the same [`BatchEngine`] and pipeline. No
//!   XDP program is attached, so the kernel also receives every frame:
//!   run it with forwarding off (it then discards what is not addressed to
//!   it) and let the control plane ignore L2TP data messages. 802.1Q tags
//!   are stripped by the kernel before a packet socket sees them, so
//!   tagged access links need AF_XDP.
//!
//! One `tracing::info!` line says which backend was chosen, and why.
//!
//! [`Dataplane`] also keeps the XDP subscriber maps in step with the session
//! table (the control plane writes the table only) and refreshes the core
//! gateway's MAC from the neighbour table.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use l2tpx_table::abi::SlotRead;
use l2tpx_table::{Changes, TableReader};

use crate::config::{BackendChoice, Config, XdpBindMode, FRAME_SIZE};
use crate::ebpf::{self, AttachMode, Steering};
use crate::neigh::{self, MacCell, Neighbours};
use crate::pipeline::{Frame, HintOutcome, PipelineConfig, Side, Verdict, BATCH_MAX};
use crate::slowpath::{FrameAlloc, SlowAction, SlowPathConfig};
use crate::worker::{run_afxdp, BatchEngine, WorkerCtx, WorkerSnapshot, WorkerStats, XdpPort};
use crate::xsk::{self, BindMode, RingSizes, Umem, XskSocket};

/// The backend the workers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// AF_XDP sockets behind the XDP steering programs.
    AfXdp {
        /// Zero-copy (else copy mode).
        zerocopy: bool,
        /// XDP attached in generic (SKB) mode.
        generic: bool,
    },
    /// AF_PACKET sockets, recvmmsg/sendmmsg.
    AfPacket,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendKind::AfXdp { zerocopy, generic } => write!(
                f,
                "AF_XDP ({} mode, XDP {})",
                if *zerocopy { "zero-copy" } else { "copy" },
                if *generic { "generic" } else { "driver" }
            ),
            BackendKind::AfPacket => f.write_str("AF_PACKET (recvmmsg/sendmmsg)"),
        }
    }
}

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A system call or an interface.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Loading or attaching XDP, or an XSKMAP.
    #[error(transparent)]
    Xdp(#[from] ebpf::Error),
    /// The configuration does not fit the table or the machine.
    #[error("{0}")]
    Config(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

// ---------------------------------------------------------------------------
// AF_PACKET.

/// Headroom in front of a packet in an AF_PACKET buffer (the encapsulation
/// needs 50 at most; the same as AF_XDP's kernel headroom).
pub const PACKET_HEADROOM: usize = xsk::XDP_PACKET_HEADROOM as usize;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_FANOUT_HASH: u32 = 0;

/// A raw packet socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

fn sol_packet<T>(fd: i32, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: v is a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            (v as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl PacketSocket {
    /// Opens a packet socket on `ifname` receiving every protocol except
    /// what this host sends, optionally in fanout group `fanout`.
    pub fn open(ifname: &str, fanout: Option<u16>) -> io::Result<PacketSocket> {
        let ifindex = xsk::ifindex(ifname)?;
        // Protocol 0 until bound: nothing is queued from other interfaces.
        // SAFETY: plain syscall; checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        sol_packet(raw, PACKET_IGNORE_OUTGOING, &one)?;
        // Best effort: the qdisc bypass only speeds up TX.
        let _ = sol_packet(raw, PACKET_QDISC_BYPASS, &one);
        let buf: libc::c_int = 8 << 20;
        // SAFETY: an int option.
        unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&buf as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(group) = fanout {
            let arg: u32 = u32::from(group) | (PACKET_FANOUT_HASH << 16);
            sol_packet(raw, PACKET_FANOUT, &arg)?;
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// The bound interface.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// Buffers and message headers for one side's `recvmmsg`.
struct RxBatch {
    bufs: Vec<Box<[u8]>>,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_ll>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RxBatch {
    fn new() -> RxBatch {
        let bufs: Vec<Box<[u8]>> = (0..BATCH_MAX)
            .map(|_| vec![0u8; FRAME_SIZE as usize].into_boxed_slice())
            .collect();
        RxBatch {
            bufs,
            // SAFETY (all three): plain C structs; zero is valid, and the
            // pointers are set before every use.
            iov: vec![unsafe { std::mem::zeroed() }; BATCH_MAX],
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH_MAX],
            hdrs: vec![unsafe { std::mem::zeroed() }; BATCH_MAX],
        }
    }

    /// Receives up to [`BATCH_MAX`] frames; returns how many.
    fn recv(&mut self, sock: &PacketSocket) -> usize {
        for i in 0..BATCH_MAX {
            self.iov[i] = libc::iovec {
                // SAFETY: PACKET_HEADROOM < the buffer's length.
                iov_base: unsafe { self.bufs[i].as_mut_ptr().add(PACKET_HEADROOM) }.cast(),
                iov_len: FRAME_SIZE as usize - PACKET_HEADROOM,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_ll).cast();
            h.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the sizes given.
        let n = unsafe {
            libc::recvmmsg(
                sock.fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                BATCH_MAX as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// Whether message `i` is a whole frame addressed to this host.
    fn accept(&self, i: usize) -> bool {
        self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC == 0
            && self.addrs[i].sll_pkttype == libc::PACKET_HOST
    }
}

/// Sends `items` (buffer, offset, len) with one `sendmmsg`; returns how
/// many were sent.
fn send_batch(sock: &PacketSocket, bufs: &[Box<[u8]>], items: &[(usize, usize, usize)]) -> usize {
    if items.is_empty() {
        return 0;
    }
    let mut iov: [libc::iovec; BATCH_MAX] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH_MAX];
    // SAFETY: plain C structs; zero is valid.
    let mut hdrs: [libc::mmsghdr; BATCH_MAX] = unsafe { std::mem::zeroed() };
    let n = items.len().min(BATCH_MAX);
    for (i, &(b, off, len)) in items.iter().take(n).enumerate() {
        let Some(bytes) = bufs.get(b).and_then(|buf| buf.get(off..off + len)) else {
            continue;
        };
        iov[i] = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: len,
        };
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0;
    while sent < n {
        // SAFETY: headers point at live buffers (read only by the kernel).
        let rc = unsafe {
            libc::sendmmsg(
                sock.fd.as_raw_fd(),
                hdrs[sent..].as_mut_ptr(),
                (n - sent) as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if rc <= 0 {
            break;
        }
        sent += rc as usize;
    }
    sent
}

/// Spare buffers for the slow path's fragments (AF_PACKET): committed
/// ones are listed in `out` as (buffer, offset, len) for `send_batch`.
struct PacketAlloc {
    bufs: Vec<Box<[u8]>>,
    used: usize,
    out: Vec<(usize, usize, usize)>,
}

/// Fragment buffers per AF_PACKET worker.
const PACKET_SPARE: usize = 256;

impl PacketAlloc {
    fn new() -> PacketAlloc {
        PacketAlloc {
            bufs: (0..PACKET_SPARE)
                .map(|_| vec![0u8; FRAME_SIZE as usize].into_boxed_slice())
                .collect(),
            used: 0,
            out: Vec::with_capacity(PACKET_SPARE),
        }
    }

    /// Sends the committed fragments on `sock` and frees every buffer;
    /// returns (sent, not sent).
    fn flush(&mut self, sock: &PacketSocket) -> (u64, u64) {
        let mut sent = 0;
        for items in self.out.chunks(BATCH_MAX) {
            sent += send_batch(sock, &self.bufs, items);
        }
        let total = self.out.len();
        self.out.clear();
        self.used = 0;
        (sent as u64, (total - sent) as u64)
    }
}

impl FrameAlloc for PacketAlloc {
    fn available(&self) -> usize {
        self.bufs.len() - self.used
    }

    fn alloc(&mut self) -> Option<(&mut [u8], usize)> {
        let b = self.bufs.get_mut(self.used)?;
        Some((&mut b[..], PACKET_HEADROOM))
    }

    fn commit(&mut self, _side: Side, offset: usize, len: usize) {
        self.out.push((self.used, offset, len));
        self.used += 1;
    }

    fn release(&mut self) {}
}

/// Runs the AF_PACKET loop until `ctx.stop` is set: the same batches and
/// pipeline as AF_XDP, with a copy in and a copy out.
pub fn run_afpacket(ctx: WorkerCtx, access: PacketSocket, core: PacketSocket) {
    let mut eng = BatchEngine::new(ctx);
    eng.pin();
    let mut spare = PacketAlloc::new();
    let mut rx = [RxBatch::new(), RxBatch::new()];
    let mut to_core: Vec<(usize, usize, usize)> = Vec::with_capacity(BATCH_MAX);
    let mut to_access: Vec<(usize, usize, usize)> = Vec::with_capacity(BATCH_MAX);
    let mut verdicts = [Verdict::TxCore; BATCH_MAX];
    let mut index = [0usize; BATCH_MAX];
    // The packet sockets queue what arrives from bind on.
    eng.mark_ready();
    while !eng.stopping() {
        let mut work = 0;
        for (k, side) in [Side::Access, Side::Core].into_iter().enumerate() {
            let (sock, other) = match side {
                Side::Access => (&access, &core),
                Side::Core => (&core, &access),
            };
            let batch = &mut rx[k];
            let n = batch.recv(sock);
            if n == 0 {
                continue;
            }
            work += n;
            match side {
                Side::Access => eng.io.rx_access += n as u64,
                Side::Core => eng.io.rx_core += n as u64,
            }
            let lens: Vec<(usize, bool)> = (0..n)
                .map(|i| (batch.hdrs[i].msg_len as usize, batch.accept(i)))
                .collect();
            let mut frames: Vec<Frame<'_>> = Vec::with_capacity(n);
            for (i, (buf, &(len, ok))) in batch.bufs.iter_mut().zip(&lens).enumerate() {
                if ok {
                    index[frames.len()] = i;
                    frames.push(Frame::new(buf, PACKET_HEADROOM, len, side));
                } else {
                    eng.io.ignored += 1;
                }
            }
            let nv = {
                let v = eng.process(&mut frames);
                verdicts[..v.len()].copy_from_slice(v);
                v.len()
            };
            to_core.clear();
            to_access.clear();
            for ((v, f), &i) in verdicts[..nv].iter().zip(frames.iter_mut()).zip(&index) {
                match *v {
                    Verdict::TxCore => to_core.push((i, f.offset, f.len)),
                    Verdict::TxAccess => to_access.push((i, f.offset, f.len)),
                    Verdict::Punt(r) => match eng.punt(f, r, &mut spare) {
                        SlowAction::Tx(Side::Core) => to_core.push((i, f.offset, f.len)),
                        SlowAction::Tx(Side::Access) => to_access.push((i, f.offset, f.len)),
                        SlowAction::Recycle => {}
                    },
                    Verdict::Drop(_) => {}
                }
            }
            drop(frames);
            let (core_sock, access_sock) = match side {
                Side::Access => (other, sock),
                Side::Core => (sock, other),
            };
            let c = send_batch(core_sock, &batch.bufs, &to_core);
            let a = send_batch(access_sock, &batch.bufs, &to_access);
            eng.io.tx_core += c as u64;
            eng.io.tx_access += a as u64;
            eng.io.tx_full += (to_core.len() - c + to_access.len() - a) as u64;
            if !spare.out.is_empty() {
                let access_sock = if side == Side::Access { sock } else { other };
                let (sent, lost) = spare.flush(access_sock);
                eng.io.tx_access += sent;
                eng.io.tx_full += lost;
            }
        }
        if work > 0 {
            eng.publish();
        } else {
            xsk::wait_readable(&[access.fd.as_fd(), core.fd.as_fd()], 1);
        }
    }
    eng.publish();
}

// ---------------------------------------------------------------------------
// The subscriber maps.

/// What one [`SubscriberSync::sync`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether every slot was read (the first sync, or the change ring
    /// overran).
    pub scanned: bool,
    /// Slots read (changed ones, or all of them on a scan).
    pub slots_read: u32,
    /// Entries added or changed.
    pub added: u32,
    /// Entries removed.
    pub removed: u32,
    /// IPv4 subscribers steered now.
    pub v4: u32,
    /// IPv6 /64s steered now.
    pub v6: u32,
}

/// A slot's subscriber addresses as last mirrored.
type Addrs = (Option<Ipv4Addr>, Option<[u8; 8]>);

/// Mirrors the table's subscriber addresses into the XDP maps `subs_v4`
/// and `subs_v6`, following the table's change ring: each sync re-reads
/// only the slots changed since the last one, so it can run every few
/// milliseconds at any table size. The first sync, and one after the ring
/// overran, read every slot (O(capacity)). A slot read while the writer
/// was changing it is retried next time, never taken as absent.
#[derive(Debug, Default)]
pub struct SubscriberSync {
    cursor: Option<u64>,
    v4: HashMap<Ipv4Addr, u32>,
    v6: HashMap<[u8; 8], u32>,
    slots: HashMap<u32, Addrs>,
    pending: Vec<u32>,
    changed: Vec<u32>,
}

impl SubscriberSync {
    /// Brings the maps in line with `table`'s changes since last time. On
    /// an error the next call rescans, so nothing is lost.
    pub fn sync(
        &mut self,
        table: &TableReader,
        steering: &mut Steering,
    ) -> Result<SyncReport, ebpf::Error> {
        self.apply(table, |op| match op {
            MapOp::InsertV4(a, slot) => steering.insert_subscriber_v4(a, slot),
            MapOp::RemoveV4(a) => steering.remove_subscriber_v4(a).map(drop),
            MapOp::InsertV6(p, slot) => steering.insert_subscriber_v6(v6_of(p), slot),
            MapOp::RemoveV6(p) => steering.remove_subscriber_v6(v6_of(p)).map(drop),
        })
    }

    /// [`SubscriberSync::sync`] against any map writer (`apply` is given
    /// each map change in turn). After an error the next call rescans.
    pub fn apply<E>(
        &mut self,
        table: &TableReader,
        apply: impl FnMut(MapOp) -> Result<(), E>,
    ) -> Result<SyncReport, E> {
        let r = self.apply_changes(table, apply);
        if r.is_err() {
            self.cursor = None;
        }
        r
    }

    fn apply_changes<E>(
        &mut self,
        table: &TableReader,
        mut apply: impl FnMut(MapOp) -> Result<(), E>,
    ) -> Result<SyncReport, E> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.clear();
        let mut r = SyncReport::default();
        let next = match self.cursor.map(|c| table.changes_since(c, &mut changed)) {
            Some(Changes::Slots(c)) => c,
            Some(Changes::Rescan(c)) => {
                changed.clear();
                r.scanned = true;
                c
            }
            // Taken before the scan: changes during it are read again.
            None => {
                r.scanned = true;
                table.changes_head()
            }
        };
        if r.scanned {
            changed.extend(0..table.capacity());
        }
        changed.append(&mut self.pending);
        changed.sort_unstable();
        changed.dedup();
        r.slots_read = changed.len() as u32;
        for &slot in &changed {
            let new: Addrs = match table.read(slot) {
                SlotRead::Up(s) => (s.subscriber_v4, s.subscriber_v6_prefix),
                SlotRead::Free => (None, None),
                SlotRead::Busy => {
                    self.pending.push(slot);
                    continue;
                }
            };
            let old = self.slots.get(&slot).copied().unwrap_or_default();
            if old == new {
                continue;
            }
            // An address that moved to another slot is already that
            // slot's: only remove what still points here.
            if old.0 != new.0 {
                if let Some(a) = old.0.filter(|a| self.v4.get(a) == Some(&slot)) {
                    apply(MapOp::RemoveV4(a))?;
                    self.v4.remove(&a);
                    r.removed += 1;
                }
                if let Some(a) = new.0 {
                    apply(MapOp::InsertV4(a, slot))?;
                    self.v4.insert(a, slot);
                    r.added += 1;
                }
            }
            if old.1 != new.1 {
                if let Some(p) = old.1.filter(|p| self.v6.get(p) == Some(&slot)) {
                    apply(MapOp::RemoveV6(p))?;
                    self.v6.remove(&p);
                    r.removed += 1;
                }
                if let Some(p) = new.1 {
                    apply(MapOp::InsertV6(p, slot))?;
                    self.v6.insert(p, slot);
                    r.added += 1;
                }
            }
            if new == (None, None) {
                self.slots.remove(&slot);
            } else {
                self.slots.insert(slot, new);
            }
        }
        self.cursor = Some(next);
        self.changed = changed;
        r.v4 = self.v4.len() as u32;
        r.v6 = self.v6.len() as u32;
        Ok(r)
    }

    /// The IPv4 subscribers mirrored now, with their slots.
    pub fn v4(&self) -> &HashMap<Ipv4Addr, u32> {
        &self.v4
    }

    /// The IPv6 /64s mirrored now, with their slots.
    pub fn v6(&self) -> &HashMap<[u8; 8], u32> {
        &self.v6
    }
}

/// One change to the XDP subscriber maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOp {
    /// Steer this IPv4 address (to this slot).
    InsertV4(Ipv4Addr, u32),
    /// Stop steering this IPv4 address.
    RemoveV4(Ipv4Addr),
    /// Steer this /64 (to this slot).
    InsertV6([u8; 8], u32),
    /// Stop steering this /64.
    RemoveV6([u8; 8]),
}

/// The first IPv4 address and the first global (not link-local) IPv6
/// address of interface `ifname`, from `getifaddrs` (the ICMP errors'
/// default source addresses, D20).
pub fn interface_addrs(ifname: &str) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return (None, None);
    }
    let (mut v4, mut v6) = (None, None);
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned, alive until
        // freeifaddrs; its name is a C string, its address (if any) a
        // sockaddr of the family it says.
        unsafe {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() != ifname.as_bytes() {
                continue;
            }
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET if v4.is_none() => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    v4 = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                }
                libc::AF_INET6 if v6.is_none() => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    if a.segments()[0] & 0xffc0 != 0xfe80 && !a.is_loopback() {
                        v6 = Some(a);
                    }
                }
                _ => {}
            }
        }
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(head) };
    (v4, v6)
}

fn v6_of(p: [u8; 8]) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&p);
    Ipv6Addr::from(b)
}

// ---------------------------------------------------------------------------
// The data plane of one process.

struct WorkerHandle {
    thread: Option<JoinHandle<()>>,
    stats: Arc<WorkerStats>,
}

/// The running data plane: the chosen backend, its workers, and (with
/// AF_XDP) the attached XDP programs.
pub struct Dataplane {
    backend: BackendKind,
    steering: Option<Steering>,
    workers: Vec<WorkerHandle>,
    stop: Arc<AtomicBool>,
    table: Arc<TableReader>,
    gateway: Arc<MacCell>,
    gateway_ip: Ipv4Addr,
    static_gateway: bool,
    neighbours: Neighbours,
    subs: SubscriberSync,
}

impl fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataplane")
            .field("backend", &self.backend)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

struct XdpSetup {
    steering: Steering,
    ports: Vec<XdpPort>,
    kind: BackendKind,
}

fn open_afxdp(cfg: &Config) -> Result<XdpSetup, StartError> {
    let mut steering = Steering::load()?;
    let a = steering.attach(ebpf::Side::Access, &cfg.access_if)?;
    let c = steering.attach(ebpf::Side::Core, &cfg.core_if)?;
    let mode = match cfg.xdp_mode {
        XdpBindMode::Auto => BindMode::Auto,
        XdpBindMode::Copy => BindMode::Copy,
        XdpBindMode::Zerocopy => BindMode::ZeroCopy,
    };
    let sizes = RingSizes::uniform(cfg.ring_size);
    let mut ports = Vec::new();
    let mut zerocopy = true;
    for q in 0..cfg.queues {
        let umem = Umem::new(cfg.umem_frames, cfg.headroom)
            .map_err(io_err(format!("UMEM for queue {q}")))?;
        let access = XskSocket::bind(&umem, &cfg.access_if, q, None, sizes, mode).map_err(
            io_err(format!("AF_XDP socket on {} queue {q}", cfg.access_if)),
        )?;
        let core = XskSocket::bind(&umem, &cfg.core_if, q, Some(&access), sizes, mode).map_err(
            io_err(format!("AF_XDP socket on {} queue {q}", cfg.core_if)),
        )?;
        steering.set_xsk(ebpf::Side::Access, q, &access)?;
        steering.set_xsk(ebpf::Side::Core, q, &core)?;
        zerocopy &= access.zerocopy() && core.zerocopy();
        ports.push(XdpPort { access, core, umem });
    }
    Ok(XdpSetup {
        steering,
        ports,
        kind: BackendKind::AfXdp {
            zerocopy,
            generic: a == AttachMode::Generic || c == AttachMode::Generic,
        },
    })
}

fn open_afpacket(cfg: &Config) -> Result<Vec<(PacketSocket, PacketSocket)>, StartError> {
    // One fanout group per interface when several workers share it.
    let base = (std::process::id() as u16).wrapping_mul(2);
    (0..cfg.queues)
        .map(|_| {
            let (fa, fc) = if cfg.queues > 1 {
                (Some(base), Some(base.wrapping_add(1)))
            } else {
                (None, None)
            };
            let a = PacketSocket::open(&cfg.access_if, fa)
                .map_err(io_err(format!("AF_PACKET socket on {}", cfg.access_if)))?;
            let c = PacketSocket::open(&cfg.core_if, fc)
                .map_err(io_err(format!("AF_PACKET socket on {}", cfg.core_if)))?;
            Ok((a, c))
        })
        .collect()
}

enum Ports {
    Xdp(Vec<XdpPort>),
    Packet(Vec<(PacketSocket, PacketSocket)>),
}

impl Dataplane {
    /// Starts the data plane of `cfg` over `table`, in the calling thread's
    /// network namespace: resolves the core gateway's MAC (up to 3 s; the
    /// workers drop upstream frames until it is known), sets up the backend
    /// `cfg.backend` asks for (falling back from AF_XDP to AF_PACKET with
    /// `auto`), syncs the XDP subscriber maps once, and spawns one pinned
    /// worker per queue.
    pub fn start(cfg: &Config, table: Arc<TableReader>) -> Result<Dataplane, StartError> {
        cfg.validate()
            .map_err(|e| StartError::Config(e.to_string()))?;
        if table.workers() < cfg.queues {
            return Err(StartError::Config(format!(
                "the table has counter rows for {} workers, {} queues configured",
                table.workers(),
                cfg.queues
            )));
        }
        let core_mac = neigh::interface_mac(&cfg.core_if)
            .map_err(io_err(format!("core interface {}", cfg.core_if)))?;
        xsk::ifindex(&cfg.access_if).map_err(io_err("access interface"))?;
        let static_mac = cfg
            .static_gateway_mac()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let gateway = Arc::new(MacCell::new(static_mac));
        let mut neighbours = Neighbours::new();
        neighbours.watch(cfg.core_gateway);
        if static_mac.is_none() {
            match neigh::resolve(cfg.core_gateway, Duration::from_secs(3)) {
                Ok(m) => {
                    gateway.set(m);
                    let _ = neighbours.refresh();
                }
                Err(e) => tracing::warn!(
                    gateway = %cfg.core_gateway,
                    error = %e,
                    "core gateway MAC unknown: upstream frames are dropped until it resolves"
                ),
            }
        }

        let (backend, steering, ports) = match cfg.backend {
            BackendChoice::Afpacket => {
                let p = open_afpacket(cfg)?;
                (BackendKind::AfPacket, None, Ports::Packet(p))
            }
            BackendChoice::Afxdp => {
                let s = open_afxdp(cfg)?;
                (s.kind, Some(s.steering), Ports::Xdp(s.ports))
            }
            BackendChoice::Auto => match open_afxdp(cfg) {
                Ok(s) => (s.kind, Some(s.steering), Ports::Xdp(s.ports)),
                Err(e) => {
                    tracing::warn!(error = %e, "AF_XDP unavailable, falling back to AF_PACKET");
                    let p = open_afpacket(cfg)?;
                    (BackendKind::AfPacket, None, Ports::Packet(p))
                }
            },
        };

        let mut dp = Dataplane {
            backend,
            steering,
            workers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            table,
            gateway,
            gateway_ip: cfg.core_gateway,
            static_gateway: static_mac.is_some(),
            neighbours,
            subs: SubscriberSync::default(),
        };
        dp.sync_subscribers()?;

        let (if_v4, if_v6) = interface_addrs(&cfg.core_if);
        let slow = SlowPathConfig {
            source_v4: cfg.icmp_source.or(if_v4),
            source_v6: cfg.icmp_source_v6.or(if_v6),
            rate: cfg.icmp_rate,
            burst: cfg.icmp_burst,
        };
        tracing::info!(
            source_v4 = ?slow.source_v4,
            source_v6 = ?slow.source_v6,
            rate = slow.rate,
            "slow path: ICMP errors"
        );
        let bare_access = match cfg
            .static_bare_access_mac()
            .map_err(|e| StartError::Config(e.to_string()))?
        {
            Some(dst) => Some((
                dst,
                neigh::interface_mac(&cfg.access_if)
                    .map_err(io_err(format!("access interface {}", cfg.access_if)))?,
            )),
            None => None,
        };
        let mut pipeline = PipelineConfig::new(core_mac, [0; 6]);
        pipeline.verify_udp_checksum = cfg.verify_udp_checksum;
        let ncpu = core_affinity::get_core_ids().map_or(1, |v| v.len().max(1));
        let ready = Arc::new(AtomicUsize::new(0));
        let ctx = |q: u32| WorkerCtx {
            index: q,
            table: dp.table.clone(),
            pipeline,
            gateway: dp.gateway.clone(),
            stats: Arc::new(WorkerStats::default()),
            stop: dp.stop.clone(),
            mode: cfg.mode,
            bare_access,
            cpu: Some(if cfg.cpus.is_empty() {
                q as usize % ncpu
            } else {
                cfg.cpus[q as usize % cfg.cpus.len()]
            }),
            idle_spins: cfg.idle_spins,
            slow,
            ready: ready.clone(),
        };
        let mut spawned = Vec::new();
        match ports {
            Ports::Xdp(ports) => {
                for (q, port) in ports.into_iter().enumerate() {
                    let c = ctx(q as u32);
                    let stats = c.stats.clone();
                    let t = std::thread::Builder::new()
                        .name(format!("l2tpx-w{q}"))
                        .spawn(move || run_afxdp(c, port))
                        .map_err(io_err("spawning a worker"))?;
                    spawned.push(WorkerHandle {
                        thread: Some(t),
                        stats,
                    });
                }
            }
            Ports::Packet(socks) => {
                for (q, (a, c2)) in socks.into_iter().enumerate() {
                    let c = ctx(q as u32);
                    let stats = c.stats.clone();
                    let t = std::thread::Builder::new()
                        .name(format!("l2tpx-p{q}"))
                        .spawn(move || run_afpacket(c, a, c2))
                        .map_err(io_err("spawning a worker"))?;
                    spawned.push(WorkerHandle {
                        thread: Some(t),
                        stats,
                    });
                }
            }
        }
        let workers = spawned.len();
        dp.workers = spawned;
        // Return only once every worker can take packets: before its fill
        // ring is stocked, the kernel drops what arrives.
        let deadline = std::time::Duration::from_secs(5);
        let step = std::time::Duration::from_millis(1);
        let mut waited = std::time::Duration::ZERO;
        while ready.load(Ordering::Acquire) < workers && waited < deadline {
            std::thread::sleep(step);
            waited += step;
        }
        if ready.load(Ordering::Acquire) < workers {
            tracing::warn!(workers, "not every worker reported ready within 5 s");
        }
        // Logged once the workers take packets, so "backend" means "forwarding".
        tracing::info!(
            backend = %dp.backend,
            requested = ?cfg.backend,
            queues = cfg.queues,
            mode = ?cfg.mode,
            "data-plane backend: {}",
            dp.backend
        );
        Ok(dp)
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The session table.
    pub fn table(&self) -> &Arc<TableReader> {
        &self.table
    }

    /// The XDP loader (AF_XDP backend only).
    pub fn steering(&mut self) -> Option<&mut Steering> {
        self.steering.as_mut()
    }

    /// Mirrors the table's subscribers into the XDP maps if the table
    /// changed (a no-op with AF_PACKET).
    pub fn sync_subscribers(&mut self) -> Result<SyncReport, ebpf::Error> {
        match self.steering.as_mut() {
            Some(st) => self.subs.sync(&self.table, st),
            None => Ok(SyncReport::default()),
        }
    }

    /// Re-reads the neighbour table; a new core gateway MAC reaches the
    /// workers before their next batch.
    pub fn refresh_neighbours(&mut self) -> io::Result<()> {
        if self.static_gateway {
            return Ok(());
        }
        for c in self.neighbours.refresh()? {
            if c.ip == self.gateway_ip {
                tracing::info!(
                    gateway = %c.ip,
                    mac = %neigh::format_mac(&c.new),
                    "core gateway MAC {}",
                    if c.old.is_some() { "changed" } else { "learnt" }
                );
                self.gateway.set(c.new);
            }
        }
        Ok(())
    }

    /// The core gateway MAC the workers use.
    pub fn gateway_mac(&self) -> Option<[u8; 6]> {
        self.gateway.get()
    }

    /// Each worker's last published counters.
    pub fn worker_stats(&self) -> Vec<WorkerSnapshot> {
        self.workers.iter().map(|w| w.stats.snapshot()).collect()
    }

    /// The counters summed over workers.
    pub fn total(&self) -> WorkerSnapshot {
        let mut t = WorkerSnapshot::default();
        for s in self.worker_stats() {
            t.add(&s);
        }
        t
    }

    /// The XDP programs' counters (AF_XDP backend only).
    pub fn xdp_counters(&self) -> Option<Result<ebpf::Counters, ebpf::Error>> {
        self.steering.as_ref().map(Steering::counters)
    }

    /// Whether every worker thread is still running.
    pub fn workers_alive(&self) -> bool {
        self.workers
            .iter()
            .all(|w| w.thread.as_ref().is_some_and(|t| !t.is_finished()))
    }

    /// One log line of counters.
    pub fn log_counters(&self) {
        let t = self.total();
        tracing::info!(
            rx_access = t.io.rx_access,
            rx_core = t.io.rx_core,
            tx_core = t.io.tx_core,
            tx_access = t.io.tx_access,
            drops = t.pipeline_drops(),
            punts = t.punts(),
            hint_hit = t.pipeline.hint_count(HintOutcome::Hit),
            hint_stale = t.pipeline.hint_count(HintOutcome::Stale),
            hint_absent = t.pipeline.hint_count(HintOutcome::Absent),
            tx_full = t.io.tx_full,
            no_gateway = t.io.no_gateway,
            sessions = self.table.published(),
            "counters"
        );
    }

    /// Stops and joins the workers, then detaches XDP.
    pub fn shutdown(mut self) {
        self.stop_workers();
        if let Some(mut st) = self.steering.take() {
            let _ = st.detach(ebpf::Side::Access);
            let _ = st.detach(ebpf::Side::Core);
        }
    }

    fn stop_workers(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::SessionSpec;
    use l2tpx_table::{SessionEntry, TableWriter};

    /// The XDP maps as a model: `apply` must keep it equal to the table.
    #[derive(Default)]
    struct Maps {
        v4: HashMap<Ipv4Addr, u32>,
        v6: HashMap<[u8; 8], u32>,
        ops: usize,
    }

    impl Maps {
        fn apply(&mut self, op: MapOp) -> Result<(), ()> {
            self.ops += 1;
            match op {
                MapOp::InsertV4(a, s) => self.v4.insert(a, s).map_or((), drop),
                MapOp::RemoveV4(a) => self.v4.remove(&a).map(drop).ok_or(())?,
                MapOp::InsertV6(p, s) => self.v6.insert(p, s).map_or((), drop),
                MapOp::RemoveV6(p) => self.v6.remove(&p).map(drop).ok_or(())?,
            }
            Ok(())
        }
    }

    fn truth(w: &TableWriter) -> (HashMap<Ipv4Addr, u32>, HashMap<[u8; 8], u32>) {
        let mut v4 = HashMap::new();
        let mut v6 = HashMap::new();
        for e in w.iter_published() {
            if let Some(a) = e.session.subscriber_v4 {
                v4.insert(a, e.session.slot);
            }
            if let Some(p) = e.session.subscriber_v6_prefix {
                v6.insert(p, e.session.slot);
            }
        }
        (v4, v6)
    }

    #[test]
    fn subscriber_sync_follows_the_change_ring() {
        const BB: u32 = 0;
        let mut w = TableWriter::create_in_memory(4096, BB, 1).unwrap();
        let r = w.reader().unwrap();
        let pub_n = |w: &mut TableWriter, n: u16| {
            w.publish(&SessionEntry::from(SessionSpec::nth(n).session(BB)))
                .unwrap()
        };
        for n in 1..=20 {
            pub_n(&mut w, n);
        }
        let mut sync = SubscriberSync::default();
        let mut maps = Maps::default();
        let rep = sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert!(rep.scanned);
        assert_eq!(
            (rep.slots_read, rep.added, rep.v4, rep.v6),
            (4096, 40, 20, 20)
        );
        assert_eq!((maps.v4.clone(), maps.v6.clone()), truth(&w));

        // Nothing changed: no slot read.
        let rep = sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert_eq!(
            (rep.scanned, rep.slots_read, rep.added, rep.removed),
            (false, 0, 0, 0)
        );

        // A withdrawal, an address moved to another session, a new one.
        let s3 = SessionSpec::nth(3).session(BB);
        let s5 = SessionSpec::nth(5).session(BB);
        w.withdraw(s3.slot).unwrap();
        w.update(s5.slot, |s| s.subscriber_v4 = s3.subscriber_v4)
            .unwrap();
        pub_n(&mut w, 21);
        let rep = sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert!(!rep.scanned);
        assert_eq!(rep.slots_read, 3, "only the changed slots: {rep:?}");
        assert_eq!((maps.v4.clone(), maps.v6.clone()), truth(&w));
        assert_eq!(maps.v4.get(&s3.subscriber_v4.unwrap()), Some(&s5.slot));
        assert_eq!(sync.v4(), &maps.v4);

        // The same address moving back the other way in one sync.
        w.update(s5.slot, |s| s.subscriber_v4 = None).unwrap();
        pub_n(&mut w, 3);
        sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert_eq!((maps.v4.clone(), maps.v6.clone()), truth(&w));

        // Falling a whole ring behind: a rescan, still exact.
        let s7 = SessionSpec::nth(7).session(BB);
        for i in 0..l2tpx_table::abi::CHANGE_RING {
            let mtu = 1400 + (i % 50) as u16;
            w.update(s7.slot, |s| s.mtu = mtu).unwrap();
        }
        w.withdraw(SessionSpec::nth(8).session(BB).slot).unwrap();
        let ops = maps.ops;
        let rep = sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert!(rep.scanned);
        assert_eq!((rep.removed, rep.added, maps.ops - ops), (2, 0, 2));
        assert_eq!((maps.v4.clone(), maps.v6.clone()), truth(&w));

        // A failing map write: the next sync rescans and repairs.
        w.withdraw(SessionSpec::nth(9).session(BB).slot).unwrap();
        let mut fails = 0;
        assert!(sync
            .apply(&r, |_| {
                fails += 1;
                Err::<(), ()>(())
            })
            .is_err());
        let rep = sync.apply(&r, |op| maps.apply(op)).unwrap();
        assert!(rep.scanned);
        assert_eq!((maps.v4.clone(), maps.v6.clone()), truth(&w));
        assert_eq!(fails, 1);
    }
}
