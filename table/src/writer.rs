//! The control plane's side: the single writer.

use crate::abi::{self, state, Layout, Slot, DROP_REASONS};
use crate::index::{self, Inserted, Removed, MAX_FILL_EIGHTHS};
use crate::reader::TableReader;
use crate::shm::{self, Mapping};
use crate::{slot_index, Session, SessionCounters, TEMPLATE_MAX};
use core::fmt;
use core::net::Ipv4Addr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const R: Ordering = Ordering::Relaxed;

/// What the control plane publishes: the session and an opaque value of
/// its own kept in the slot ([`abi::Slot::cookie`]), e.g. the handle that
/// ties the slot to its state file for reconciliation after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEntry {
    /// The session; `session.slot` says where it goes.
    pub session: Session,
    /// The control plane's own value.
    pub cookie: u64,
}

impl From<Session> for SessionEntry {
    fn from(session: Session) -> Self {
        SessionEntry { session, cookie: 0 }
    }
}

/// Why the writer refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The slot is beyond the table's capacity.
    SlotOutOfRange {
        /// The slot asked for.
        slot: u32,
        /// The table's capacity.
        capacity: u32,
    },
    /// `session.slot` is not [`slot_index`] of its own tunnel and session IDs.
    SlotMismatch {
        /// The slot given.
        slot: u32,
        /// The slot its IDs index.
        expected: u32,
    },
    /// `template_len` is over [`TEMPLATE_MAX`] or `l2tp_offset` over
    /// `template_len`.
    BadTemplate,
    /// Another published session has this IPv4 address.
    Ipv4InUse {
        /// The address.
        addr: Ipv4Addr,
        /// The slot that has it.
        slot: u32,
    },
    /// Another published session has this IPv6 /64.
    Ipv6InUse {
        /// The prefix.
        prefix: [u8; 8],
        /// The slot that has it.
        slot: u32,
    },
    /// The slot holds no published session.
    NotPublished(u32),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::SlotOutOfRange { slot, capacity } => {
                write!(
                    f,
                    "slot {slot} is beyond the table's capacity of {capacity}"
                )
            }
            TableError::SlotMismatch { slot, expected } => {
                write!(
                    f,
                    "session in slot {slot} has IDs that index slot {expected}"
                )
            }
            TableError::BadTemplate => {
                write!(
                    f,
                    "template longer than {TEMPLATE_MAX} or L2TP offset past its end"
                )
            }
            TableError::Ipv4InUse { addr, slot } => {
                write!(f, "IPv4 address {addr} is in use by slot {slot}")
            }
            TableError::Ipv6InUse { prefix, slot } => {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(prefix);
                let p = std::net::Ipv6Addr::from(b);
                write!(f, "IPv6 prefix {p}/64 is in use by slot {slot}")
            }
            TableError::NotPublished(slot) => write!(f, "slot {slot} holds no session"),
        }
    }
}

impl std::error::Error for TableError {}

/// Occupancy of the address indexes (their active copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Entries per IPv4 index copy.
    pub v4_size: u32,
    /// Live IPv4 entries.
    pub v4_live: u32,
    /// IPv4 tombstones.
    pub v4_tombstones: u32,
    /// Entries per IPv6 index copy.
    pub v6_size: u32,
    /// Live IPv6 entries.
    pub v6_live: u32,
    /// IPv6 tombstones.
    pub v6_tombstones: u32,
    /// Rebuilds of either index since the table was created.
    pub rebuilds: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Occupancy {
    live: u32,
    tombstones: u32,
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

#[allow(clippy::disallowed_methods)] // a wall-clock stamp for operators, not protocol time
fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn v6_key(prefix: &[u8; 8]) -> u64 {
    u64::from_be_bytes(*prefix)
}

/// The single writer of a session table (the control plane).
///
/// It holds an exclusive `flock` on the table file for as long as it
/// lives, so a second writer fails to attach; readers take no lock.
pub struct TableWriter {
    map: Mapping,
    path: Option<PathBuf>,
    v4: Occupancy,
    v6: Occupancy,
    recovered: Vec<u32>,
}

impl TableWriter {
    /// Creates a table at `path` (in /dev/shm, on hugetlbfs, or anywhere),
    /// zero-filled, with `capacity` slots, `bank_bits` bank bits for
    /// [`slot_index`] and counter rows for `workers` workers.
    ///
    /// The table is built in a temporary file beside `path` and renamed
    /// over it, so readers still mapping an older table at `path` keep a
    /// valid (if stale) mapping; they see the new one when they re-open.
    /// Fails if a live writer holds the table now at `path`.
    pub fn create(
        path: impl AsRef<Path>,
        capacity: u32,
        bank_bits: u32,
        workers: u32,
    ) -> io::Result<Self> {
        let path = path.as_ref();
        let layout = Self::checked_layout(capacity, bank_bits, workers)?;
        if let Ok(old) = File::options().read(true).write(true).open(path) {
            shm::lock_exclusive(&old).map_err(|e| locked(path, e))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let made = (|| {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            shm::lock_exclusive(&file)?;
            let g = shm::size_granule(&file)?;
            file.set_len(layout.total_size.div_ceil(g) * g)?;
            let w = Self::init(file, layout, bank_bits, Some(path.to_owned()))?;
            std::fs::rename(&tmp, path)?;
            Ok(w)
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        made
    }

    /// Creates a table in an anonymous memory file (memfd), for tests and
    /// single-process use; [`TableWriter::reader`] maps it again.
    pub fn create_in_memory(capacity: u32, bank_bits: u32, workers: u32) -> io::Result<Self> {
        let layout = Self::checked_layout(capacity, bank_bits, workers)?;
        let file = shm::memfd(layout.total_size)?;
        Self::init(file, layout, bank_bits, None)
    }

    fn checked_layout(capacity: u32, bank_bits: u32, workers: u32) -> io::Result<Layout> {
        let cap_ok = (capacity as u64) <= (u64::from(crate::BANK_SLOTS) << bank_bits.min(16));
        Layout::new(capacity, workers)
            .filter(|_| bank_bits <= 16 && cap_ok)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "table dimensions out of range: capacity {capacity} (1..={}, at most \
                     65536 << bank_bits), bank bits {bank_bits} (0..=16), workers {workers} \
                     (1..={})",
                        abi::MAX_CAPACITY,
                        abi::MAX_WORKERS
                    ),
                )
            })
    }

    fn init(file: File, layout: Layout, bank_bits: u32, path: Option<PathBuf>) -> io::Result<Self> {
        let now = now_unix_ns();
        let map = Mapping::initialise(file, layout, bank_bits, now)?;
        let h = map.header();
        h.writer_epoch.store(1, R);
        h.attached_unix_ns.store(now, R);
        h.writer_pid.store(std::process::id(), R);
        Ok(TableWriter {
            map,
            path,
            v4: Occupancy::default(),
            v6: Occupancy::default(),
            recovered: Vec::new(),
        })
    }

    /// Re-attaches to the table at `path` after a control-plane restart.
    /// Never clears state: published sessions stay up and readers keep
    /// forwarding throughout.
    ///
    /// Validates the header like [`TableReader::open`]. A slot that a
    /// crashed writer left half-written (odd sequence word) is withdrawn
    /// and listed in [`TableWriter::recovered_slots`]; both address indexes
    /// are then rebuilt from the slots (into their idle copies, so readers
    /// are not disturbed), which also drops any entry a crash left behind.
    pub fn open_existing(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::options().read(true).write(true).open(path)?;
        shm::lock_exclusive(&file).map_err(|e| locked(path, e))?;
        let map = Mapping::open(file, &path.display().to_string())?;
        let mut w = TableWriter {
            map,
            path: Some(path.to_owned()),
            v4: Occupancy::default(),
            v6: Occupancy::default(),
            recovered: Vec::new(),
        };
        let mut published = 0;
        for (i, slot) in w.map.slots() {
            if slot.seq.load(R) & 1 != 0 {
                slot.write(|s| s.state.store(state::FREE, R));
                w.recovered.push(i);
            } else if slot.state.load(R) == state::UP {
                published += 1;
            }
        }
        for &slot in &w.recovered {
            w.note_change(slot);
        }
        let h = w.map.header();
        h.published.store(published, R);
        h.writer_epoch.fetch_add(1, R);
        h.attached_unix_ns.store(now_unix_ns(), R);
        h.writer_pid.store(std::process::id(), R);
        w.rebuild_indexes();
        Ok(w)
    }

    /// A reader of this table, mapping it again (works for in-memory
    /// tables too).
    pub fn reader(&self) -> io::Result<TableReader> {
        let what = self
            .path
            .as_deref()
            .map_or("(memfd)".into(), |p| p.display().to_string());
        TableReader::from_file(self.map.file().try_clone()?, &what)
    }

    /// The table's path (`None` for an in-memory table).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.map.layout().capacity
    }

    /// Bank bits for [`slot_index`].
    pub fn bank_bits(&self) -> u32 {
        self.map.bank_bits()
    }

    /// Number of worker counter rows.
    pub fn workers(&self) -> u32 {
        self.map.layout().workers
    }

    /// The table's layout (region offsets and sizes).
    pub fn layout(&self) -> &Layout {
        self.map.layout()
    }

    /// The change counter ([`abi::Header::generation`]).
    pub fn generation(&self) -> u64 {
        self.map.header().generation.load(R)
    }

    /// How many writers have attached, this one included.
    pub fn writer_epoch(&self) -> u64 {
        self.map.header().writer_epoch.load(R)
    }

    /// Slots currently up.
    pub fn published(&self) -> u32 {
        self.map.header().published.load(R)
    }

    /// Slots [`TableWriter::open_existing`] found half-written and withdrew.
    pub fn recovered_slots(&self) -> &[u32] {
        &self.recovered
    }

    /// Occupancy of the address indexes.
    pub fn index_stats(&self) -> IndexStats {
        let l = self.map.layout();
        IndexStats {
            v4_size: l.v4_index_size,
            v4_live: self.v4.live,
            v4_tombstones: self.v4.tombstones,
            v6_size: l.v6_index_size,
            v6_live: self.v6.live,
            v6_tombstones: self.v6.tombstones,
            rebuilds: self.map.header().index_rebuilds.load(R),
        }
    }

    fn slot(&self, slot: u32) -> Result<&Slot, TableError> {
        self.map.slot(slot).ok_or(TableError::SlotOutOfRange {
            slot,
            capacity: self.capacity(),
        })
    }

    /// The session published at `slot`, if any.
    pub fn get(&self, slot: u32) -> Option<SessionEntry> {
        let s = self.map.slot(slot)?;
        let session = s.read_own(slot)?;
        Some(SessionEntry {
            session,
            cookie: s.cookie.load(R),
        })
    }

    /// Every published session, in slot order (for reconciliation).
    pub fn iter_published(&self) -> impl Iterator<Item = SessionEntry> + '_ {
        self.map.slots().filter_map(|(i, s)| {
            let session = s.read_own(i)?;
            Some(SessionEntry {
                session,
                cookie: s.cookie.load(R),
            })
        })
    }

    /// The published slot whose subscriber address is `addr`.
    pub fn find_ipv4(&self, addr: Ipv4Addr) -> Option<u32> {
        let idx = self.index(Family::V4, self.active(Family::V4));
        let key = u32::from(addr);
        let home = abi::v4_home(key, idx.len().trailing_zeros());
        index::lookup(idx, home, key, |slot| {
            let s = self.map.slot(slot)?;
            (s.own_v4() == Some(key)).then_some(slot)
        })
    }

    /// The published slot whose subscriber /64 is `prefix`.
    pub fn find_ipv6(&self, prefix: [u8; 8]) -> Option<u32> {
        let idx = self.index(Family::V6, self.active(Family::V6));
        let k = v6_key(&prefix);
        let home = abi::v6_home(k, idx.len().trailing_zeros());
        index::lookup(idx, home, abi::v6_fingerprint(k), |slot| {
            let s = self.map.slot(slot)?;
            (s.own_v6() == Some(k)).then_some(slot)
        })
    }

    /// Publishes `e` at `e.session.slot`: a new session, or a change to the
    /// one there (its address index entries follow its addresses).
    ///
    /// The slot is written under its seqlock, then indexed; a reader sees
    /// the old session, then the new. When the slot was free or held
    /// another session (other IDs), its Ns counter restarts at 0 and its
    /// accounting restarts (see [`TableWriter::read_counters`]).
    pub fn publish(&mut self, e: &SessionEntry) -> Result<(), TableError> {
        let s = &e.session;
        let slot = s.slot;
        let cell = self.slot(slot)?;
        let expected = slot_index(s.our_tunnel_id, s.our_session_id, self.bank_bits());
        if expected != slot {
            return Err(TableError::SlotMismatch { slot, expected });
        }
        if s.template_len as usize > TEMPLATE_MAX || s.l2tp_offset > s.template_len {
            return Err(TableError::BadTemplate);
        }
        if let Some(addr) = s.subscriber_v4 {
            match self.find_ipv4(addr) {
                Some(other) if other != slot => {
                    return Err(TableError::Ipv4InUse { addr, slot: other })
                }
                _ => {}
            }
        }
        if let Some(prefix) = s.subscriber_v6_prefix {
            match self.find_ipv6(prefix) {
                Some(other) if other != slot => {
                    return Err(TableError::Ipv6InUse {
                        prefix,
                        slot: other,
                    })
                }
                _ => {}
            }
        }
        let old = cell.read_own(slot);
        let ids = |s: &Session| {
            (
                s.our_tunnel_id,
                s.our_session_id,
                s.peer_tunnel_id,
                s.peer_session_id,
            )
        };
        if old.as_ref().is_none_or(|o| ids(o) != ids(s)) {
            self.map.ns()[slot as usize].store(0, R);
            self.map.baselines()[slot as usize].store(&self.read_counters_raw(slot));
        }
        cell.write(|w| w.store_session(s, e.cookie));
        let h = self.map.header();
        if old.is_none() {
            h.published.fetch_add(1, R);
        }
        let (old_v4, old_v6) =
            old.map_or((None, None), |o| (o.subscriber_v4, o.subscriber_v6_prefix));
        if old_v4 != s.subscriber_v4 {
            if let Some(a) = s.subscriber_v4 {
                self.index_insert(Family::V4, u32::from(a) as u64, slot);
            }
            if let Some(a) = old_v4 {
                self.index_remove(Family::V4, u32::from(a) as u64, slot);
            }
        }
        if old_v6 != s.subscriber_v6_prefix {
            if let Some(p) = s.subscriber_v6_prefix {
                self.index_insert(Family::V6, v6_key(&p), slot);
            }
            if let Some(p) = old_v6 {
                self.index_remove(Family::V6, v6_key(&p), slot);
            }
        }
        self.map.header().generation.fetch_add(1, R);
        self.note_change(slot);
        Ok(())
    }

    /// Appends `slot` to the change ring (after the slot's own stores).
    fn note_change(&self, slot: u32) {
        let h = self.map.header();
        let head = h.changes_head.load(R);
        let n = u64::from(abi::CHANGE_RING);
        // Release, entry then head: see `TableReader::changes_since`.
        self.map.changes()[(head % n) as usize].store(slot, Ordering::Release);
        h.changes_head.store(head + 1, Ordering::Release);
    }

    /// Changes the session at `slot` with `f` and publishes the result.
    pub fn update(
        &mut self,
        slot: u32,
        f: impl FnOnce(&mut Session),
    ) -> Result<Session, TableError> {
        let mut e = self.get(slot).ok_or(TableError::NotPublished(slot))?;
        f(&mut e.session);
        e.session.slot = slot;
        self.publish(&e)?;
        Ok(e.session)
    }

    /// Withdraws the session at `slot` (lookups miss from now on) and
    /// returns it. Its counters stay readable until the slot is reused.
    pub fn withdraw(&mut self, slot: u32) -> Result<SessionEntry, TableError> {
        let cell = self.slot(slot)?;
        let old = self.get(slot).ok_or(TableError::NotPublished(slot))?;
        cell.write(|w| w.state.store(state::FREE, R));
        if let Some(a) = old.session.subscriber_v4 {
            self.index_remove(Family::V4, u32::from(a) as u64, slot);
        }
        if let Some(p) = old.session.subscriber_v6_prefix {
            self.index_remove(Family::V6, v6_key(&p), slot);
        }
        let h = self.map.header();
        h.published.fetch_sub(1, R);
        h.generation.fetch_add(1, R);
        self.note_change(slot);
        Ok(old)
    }

    /// The traffic of the session at `slot` since it was published: the
    /// sum over workers, less the baseline taken at publication (kept in
    /// the table, so it survives a writer restart). Packets a worker was
    /// still counting for the slot's previous session when it was
    /// republished may land here.
    pub fn read_counters(&self, slot: u32) -> SessionCounters {
        let raw = self.read_counters_raw(slot);
        let Some(b) = self.map.baselines().get(slot as usize) else {
            return raw;
        };
        let b = b.load();
        SessionCounters {
            up_packets: raw.up_packets.wrapping_sub(b.up_packets),
            up_bytes: raw.up_bytes.wrapping_sub(b.up_bytes),
            down_packets: raw.down_packets.wrapping_sub(b.down_packets),
            down_bytes: raw.down_bytes.wrapping_sub(b.down_bytes),
        }
    }

    /// The sum over workers of the counters of `slot`, since the table was
    /// created (monotonic across sessions).
    pub fn read_counters_raw(&self, slot: u32) -> SessionCounters {
        let mut sum = SessionCounters::default();
        for w in 0..self.workers() {
            if let Some(c) = self.map.counter(w, slot) {
                let c = c.load();
                sum.up_packets = sum.up_packets.wrapping_add(c.up_packets);
                sum.up_bytes = sum.up_bytes.wrapping_add(c.up_bytes);
                sum.down_packets = sum.down_packets.wrapping_add(c.down_packets);
                sum.down_bytes = sum.down_bytes.wrapping_add(c.down_bytes);
            }
        }
        sum
    }

    /// Worker `worker`'s drop counters by reason (`None`: no such worker).
    pub fn read_worker_drops(&self, worker: u32) -> Option<[u64; DROP_REASONS]> {
        let d = self.map.drops().get(worker as usize)?;
        Some(core::array::from_fn(|i| d.reasons[i].load(R)))
    }

    /// Drop counters by reason, summed over workers.
    pub fn read_drops(&self) -> [u64; DROP_REASONS] {
        let mut sum = [0u64; DROP_REASONS];
        for d in self.map.drops() {
            for (s, c) in sum.iter_mut().zip(&d.reasons) {
                *s = s.wrapping_add(c.load(R));
            }
        }
        sum
    }

    /// Rebuilds both address indexes from the published slots, each into
    /// its idle copy, then switches readers over. Readers that were
    /// probing the old copy finish there; the entries they find are
    /// validated against the slots like any other.
    pub fn rebuild_indexes(&mut self) {
        self.rebuild(Family::V4);
        self.rebuild(Family::V6);
    }

    fn active(&self, fam: Family) -> u32 {
        let h = self.map.header();
        match fam {
            Family::V4 => h.v4_active.load(R),
            Family::V6 => h.v6_active.load(R),
        }
    }

    fn index(&self, fam: Family, which: u32) -> &[AtomicU64] {
        match fam {
            Family::V4 => self.map.v4_index(which),
            Family::V6 => self.map.v6_index(which),
        }
    }

    fn occupancy(&mut self, fam: Family) -> &mut Occupancy {
        match fam {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// Home and key of `k` (an IPv4 address as `u32`, or a /64 as `u64`).
    fn place(fam: Family, k: u64, bits: u32) -> (usize, u32) {
        match fam {
            Family::V4 => (abi::v4_home(k as u32, bits), k as u32),
            Family::V6 => (abi::v6_home(k, bits), abi::v6_fingerprint(k)),
        }
    }

    fn index_insert(&mut self, fam: Family, k: u64, slot: u32) {
        let size = self.index(fam, 0).len() as u64;
        let occ = *self.occupancy(fam);
        if (occ.live as u64 + occ.tombstones as u64 + 1) * 8 > size * MAX_FILL_EIGHTHS {
            // Rebuilding picks up this slot too: it is already published.
            self.rebuild(fam);
            return;
        }
        let idx = self.index(fam, self.active(fam));
        let (home, key) = Self::place(fam, k, idx.len().trailing_zeros());
        let done = index::insert(idx, home, key, slot);
        let occ = self.occupancy(fam);
        match done {
            Inserted::Present => {}
            Inserted::IntoEmpty => occ.live += 1,
            Inserted::OverTombstone => {
                occ.live += 1;
                occ.tombstones -= 1;
            }
            Inserted::Full => self.rebuild(fam),
        }
    }

    fn index_remove(&mut self, fam: Family, k: u64, slot: u32) {
        let idx = self.index(fam, self.active(fam));
        let (home, key) = Self::place(fam, k, idx.len().trailing_zeros());
        let done = index::remove(idx, home, key, slot);
        let occ = self.occupancy(fam);
        match done {
            Removed::NotFound => {}
            Removed::Tombstoned => {
                occ.live -= 1;
                occ.tombstones += 1;
            }
            Removed::Emptied(n) => {
                occ.live -= 1;
                occ.tombstones -= n;
            }
        }
    }

    fn rebuild(&mut self, fam: Family) {
        let next = self.active(fam) ^ 1;
        let idx = self.index(fam, next);
        for e in idx {
            e.store(0, R);
        }
        let bits = idx.len().trailing_zeros();
        let mut live = 0;
        for (i, s) in self.map.slots() {
            let Some(s) = s.read_own(i) else {
                continue;
            };
            let k = match fam {
                Family::V4 => s.subscriber_v4.map(|a| u32::from(a) as u64),
                Family::V6 => s.subscriber_v6_prefix.as_ref().map(v6_key),
            };
            if let Some(k) = k {
                let (home, key) = Self::place(fam, k, bits);
                if index::insert(idx, home, key, i) != Inserted::Present {
                    live += 1;
                }
            }
        }
        let h = self.map.header();
        // Release: readers that load the new selector see the entries.
        match fam {
            Family::V4 => h.v4_active.store(next, Ordering::Release),
            Family::V6 => h.v6_active.store(next, Ordering::Release),
        }
        h.index_rebuilds.fetch_add(1, R);
        h.generation.fetch_add(1, R);
        *self.occupancy(fam) = Occupancy {
            live,
            tombstones: 0,
        };
    }
}

fn locked(path: &Path, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("session table {}: another writer holds it", path.display()),
        )
    } else {
        e
    }
}

impl fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("layout", self.map.layout())
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl TableWriter {
    /// Test hook: leaves `slot` as a crashed writer would, mid-update.
    pub(crate) fn simulate_crash_mid_write(&mut self, slot: u32) {
        if let Some(s) = self.map.slot(slot) {
            s.seq.fetch_or(1, R);
        }
    }

    /// Test hook: `(live, tombstones)` of the active IPv4 and IPv6 copies,
    /// counted, and as the writer tracks them.
    pub(crate) fn census(&self) -> [((u32, u32), (u32, u32)); 2] {
        let v4 = index::census(self.index(Family::V4, self.active(Family::V4)));
        let v6 = index::census(self.index(Family::V6, self.active(Family::V6)));
        [
            (v4, (self.v4.live, self.v4.tombstones)),
            (v6, (self.v6.live, self.v6.tombstones)),
        ]
    }
}
