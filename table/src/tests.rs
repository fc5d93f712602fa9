//! Tests of the table through its public API (plus two test hooks).

use crate::abi::{self, Layout, SlotRead, LAYOUT_HASH};
use crate::Changes;
use crate::{slot_index, Session, SessionEntry, SessionLookup, TableError, TableReader};
use crate::{DownstreamSession, UpstreamSession};
use crate::{TableWriter, TEMPLATE_MAX};
use core::mem::{align_of, size_of};
use core::net::Ipv4Addr;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

// ------------------------------------------------------------------ helpers

/// A table file that is removed when the test ends: in /dev/shm when there
/// is one, else in the temporary directory.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static N: AtomicU32 = AtomicU32::new(0);
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(dir.join(format!("l2tpx-table-test-{}-{tag}-{n}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn v4_of(a: u32) -> Ipv4Addr {
    // 198.18.0.0/15 (RFC 2544), the test range, holds 2^17 addresses; the
    // million-session test's in-memory keys go on in reserved 240.0.0.0/4.
    if a < 1 << 17 {
        Ipv4Addr::from(0xc612_0000 | a)
    } else {
        Ipv4Addr::from(0xf000_0000 | a)
    }
}

fn v6_of(a: u32) -> [u8; 8] {
    let mut p = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0];
    p[4..].copy_from_slice(&a.to_be_bytes());
    p
}

fn v6_dst(a: u32) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&v6_of(a));
    d[15] = 1;
    d
}

/// A session whose every field derives from `(slot, v, addr)`; `v` and
/// `addr` are also written into the template, so a snapshot that mixes two
/// versions is detectable ([`consistent`]).
fn derive(slot: u32, bank_bits: u32, v: u64, addr: Option<u32>) -> Session {
    let tid = ((slot >> 16) as u16) | ((v as u16) << bank_bits);
    let mut template = [0u8; TEMPLATE_MAX];
    template[..8].copy_from_slice(&v.to_le_bytes());
    template[8..12].copy_from_slice(&addr.unwrap_or(u32::MAX).to_le_bytes());
    for (i, b) in template.iter_mut().enumerate().skip(12) {
        *b = (v.rotate_left(i as u32) ^ slot as u64) as u8;
    }
    let mtu = 1000 + ((v >> 5) % 500) as u16;
    Session {
        slot,
        our_tunnel_id: tid,
        our_session_id: slot as u16,
        peer_tunnel_id: (v >> 16) as u16,
        peer_session_id: (v >> 32) as u16,
        peer_addr: Ipv4Addr::from((v >> 24) as u32),
        peer_port: (v >> 48) as u16,
        subscriber_v4: addr.map(v4_of),
        subscriber_v6_prefix: addr.map(v6_of),
        sequencing: v & 1 == 1,
        mtu,
        mss_clamp: mtu - 40,
        template,
        template_len: 20 + (v % 40) as u8,
        l2tp_offset: 10 + (v % 10) as u8,
    }
}

fn consistent(s: &Session, bank_bits: u32) -> bool {
    let v = u64::from_le_bytes(s.template[..8].try_into().unwrap());
    let a = u32::from_le_bytes(s.template[8..12].try_into().unwrap());
    let addr = (a != u32::MAX).then_some(a);
    *s == derive(s.slot, bank_bits, v, addr)
}

/// [`consistent`] for a header-only snapshot: `derive`'s fields that
/// overlap in `v` must agree (a mix of two versions would not).
/// What of [`derive`]'s relations an [`UpstreamSession`] still shows: the
/// IDs against the slot, the byte `peer_addr` and `peer_port` share, and
/// the two subscriber addresses against each other.
fn consistent_upstream(s: &UpstreamSession, bank_bits: u32) -> bool {
    let low_tid = s.our_tunnel_id & ((1 << bank_bits) - 1);
    u32::from(s.our_session_id) == s.slot & 0xffff
        && u32::from(low_tid) == s.slot >> 16
        && (u32::from(s.peer_addr) >> 24) as u8 == s.peer_port as u8
        && s.subscriber_v4.map(u32::from).map(|a| a & 0xffff)
            == s.subscriber_v6_prefix
                .map(|p| u32::from(u16::from_be_bytes([p[6], p[7]])))
}

/// [`consistent`] for a downstream snapshot: the template still says which
/// version and address the rest must derive from.
fn consistent_downstream(s: &DownstreamSession, bank_bits: u32) -> bool {
    let v = u64::from_le_bytes(s.template[..8].try_into().unwrap());
    let a = u32::from_le_bytes(s.template[8..12].try_into().unwrap());
    let addr = (a != u32::MAX).then_some(a);
    *s == DownstreamSession::from(&derive(s.slot, bank_bits, v, addr))
}

/// A `*_downstream_into` lookup as an `Option`, to compare with the others.
fn into(f: impl FnOnce(&mut DownstreamSession) -> bool) -> Option<DownstreamSession> {
    let mut d = DownstreamSession::EMPTY;
    f(&mut d).then_some(d)
}

/// Every downstream lookup of `r` for `slot` and address `a`: the `_into`
/// forms must find what the snapshot forms find.
fn assert_downstream_agree(r: &TableReader, slot: u32, a: u32) {
    let by_slot = r.by_slot_downstream(slot);
    assert_eq!(into(|d| r.by_slot_downstream_into(slot, d)), by_slot);
    let v4 = r.by_ipv4_downstream(v4_of(a));
    assert_eq!(into(|d| r.by_ipv4_downstream_into(v4_of(a), d)), v4);
    let v6 = r.by_ipv6_downstream(&v6_dst(a));
    assert_eq!(into(|d| r.by_ipv6_downstream_into(&v6_dst(a), d)), v6);
}

fn entry(slot: u32, bank_bits: u32, v: u64, addr: Option<u32>) -> SessionEntry {
    SessionEntry {
        session: derive(slot, bank_bits, v, addr),
        cookie: v ^ 0x5a5a,
    }
}

// ------------------------------------------------------------------ layout

#[test]
fn layout_sizes_and_alignment() {
    assert_eq!(size_of::<abi::Slot>(), 128);
    assert_eq!(align_of::<abi::Slot>(), 64);
    assert_eq!(size_of::<abi::Header>(), 256);
    assert_eq!(size_of::<abi::SlotCounters>(), 32);
    assert_eq!(size_of::<abi::DropCounters>(), 256);
    assert_eq!(abi::default_index_size(1), 64);
    assert_eq!(abi::default_index_size(1000), 2048);
    assert_eq!(abi::default_index_size(1 << 20), 1 << 21);
    assert_eq!(abi::default_index_size(1 << 20 | 1), 1 << 22);

    let l = Layout::new(1 << 20, 4).unwrap();
    let offs = [
        l.slots_offset,
        l.ns_offset,
        l.v4_index_offset[0],
        l.v4_index_offset[1],
        l.v6_index_offset[0],
        l.v6_index_offset[1],
        l.baselines_offset,
        l.drops_offset,
        l.total_size,
    ];
    assert!(offs.windows(2).all(|w| w[0] < w[1]));
    assert!(offs.iter().all(|o| o % abi::REGION_ALIGN == 0));
    assert_eq!(l.slots_offset, 4096);
    // 4 workers: 16 slots (2 KiB) and 4 runs of 8 counter lines fill a page.
    assert_eq!(
        l.blocks,
        abi::Blocks {
            slots: 16,
            bytes: 4096,
            run: 512,
            recip: 1 << 28,
            slot_gap: 2048,
            counter_gap: 4096 - 512,
        }
    );
    assert_eq!(l.ns_offset - l.slots_offset, (1 << 20) / 16 * 4096);
    assert_eq!(l.v4_index_offset[1] - l.v4_index_offset[0], 16 << 20);
    assert_eq!(l.drops_offset - l.baselines_offset, 32 << 20);
}

/// Every slot and every worker's counter line for it lie in one block
/// page, apart from all others, and only that worker's counters share the
/// line.
#[test]
fn slot_blocks_keep_slot_and_counters_in_one_page() {
    for workers in [1, 2, 3, 4, 7, 16, 62, 63, 100, abi::MAX_WORKERS] {
        let b = abi::Blocks::new(workers);
        assert!((1..=32).contains(&b.slots), "{workers}: {b:?}");
        assert_eq!(b.bytes % abi::BLOCK_BYTES, 0);
        if workers <= 62 {
            assert_eq!(b.bytes, abi::BLOCK_BYTES, "{workers} workers fit a page");
        }
        // The largest block count: no more slots fit.
        let used = |g: u32| g * 128 + workers * (g * 32).div_ceil(64) * 64;
        assert!(used(b.slots) <= b.bytes);
        assert!(b.slots == 32 || used(b.slots + 1) > b.bytes);
        let cap = 3 * b.slots + 1;
        let mut owner = std::collections::HashMap::new();
        for slot in 0..cap {
            let so = b.slot_offset(slot);
            let (blk, k) = b.locate(slot);
            assert_eq!(so, blk * u64::from(b.bytes) + u64::from(k) * 128);
            assert_eq!(so % 64, 0);
            let page = so / u64::from(b.bytes);
            assert_eq!(page, u64::from(slot / b.slots));
            for line in [so / 64, so / 64 + 1] {
                assert_eq!(owner.insert(line, (u32::MAX, slot)), None, "{workers}");
            }
            let mut ws = vec![0, workers / 2, workers - 1];
            ws.dedup();
            for w in ws {
                let co = b.counter_offset(w, slot);
                let both = b.slot_and_counter_from(b.counters_base(w), slot);
                assert_eq!(both, (so, co), "{workers} {w} {slot}");
                let run = u64::from(b.slots) * 128 + u64::from(w * b.run);
                assert_eq!(co, blk * u64::from(b.bytes) + run + u64::from(k) * 32);
                assert_eq!(co % 32, 0);
                assert_eq!(co / u64::from(b.bytes), page, "{workers} {w} {slot}");
                let prev = owner.insert(co / 64, (w, slot));
                assert!(prev.is_none_or(|(pw, ps)| pw == w && ps != slot));
            }
            assert!(b.counter_offset(workers - 1, slot) + 32 <= (page + 1) * u64::from(b.bytes));
        }
        assert!(b.region_bytes(cap) >= b.slot_offset(cap - 1) + 128);
    }
}

/// `Blocks::locate` multiplies by a reciprocal; it must divide exactly
/// over the whole slot range.
#[test]
fn slot_block_division_is_exact() {
    for g in 1..=32u32 {
        let b = abi::Blocks {
            recip: (1u64 << 32).div_ceil(u64::from(g)),
            ..abi::Blocks::new(1)
        };
        let top = abi::MAX_CAPACITY;
        let near = |m: u32| [m.saturating_sub(1), m, m + 1];
        let samples = (0..top / g)
            .step_by(997)
            .chain(top / g - 64..=top / g)
            .flat_map(|q| near(q * g));
        for slot in samples.filter(|&s| s < top) {
            assert_eq!(b.block(slot), u64::from(slot / g), "{g} {slot}");
        }
    }
}

#[test]
fn layout_rejects_bad_dimensions() {
    assert!(Layout::new(0, 1).is_none());
    assert!(Layout::new(1, 0).is_none());
    assert!(Layout::new(abi::MAX_CAPACITY + 1, 1).is_none());
    assert!(Layout::new(1, abi::MAX_WORKERS + 1).is_none());
    assert!(Layout::with_index_sizes(100, 1, 256, 256).is_some());
    assert!(
        Layout::with_index_sizes(100, 1, 128, 256).is_none(),
        "< 2 x capacity"
    );
    assert!(
        Layout::with_index_sizes(100, 1, 256, 300).is_none(),
        "not a power of two"
    );
    assert!(
        Layout::with_index_sizes(10, 1, 32, 64).is_none(),
        "below the minimum"
    );
    assert!(
        TableWriter::create_in_memory(1 << 17, 0, 1).is_err(),
        "over 65536 << bank_bits"
    );
    assert!(
        TableWriter::create_in_memory(1 << 17, 17, 1).is_err(),
        "bank bits over 16"
    );
    assert!(TableWriter::create_in_memory(1 << 17, 1, 1).is_ok());
}

/// Pinned: a change here means the shared layout (or index hashing)
/// changed. Bump `ABI_VERSION` if it was not on purpose already, and
/// update the value.
#[test]
fn layout_hash_is_stable() {
    assert_eq!(
        LAYOUT_HASH, 0x7ff1_c012_155e_4d20,
        "layout hash {LAYOUT_HASH:#018x}"
    );
}

// -------------------------------------------------------------- functional

#[test]
fn publish_lookup_withdraw() {
    let mut w = TableWriter::create_in_memory(1 << 17, 1, 2).unwrap();
    let r = w.reader().unwrap();
    assert_eq!(r.bank_bits(), 1);
    assert_eq!(r.capacity(), 1 << 17);
    let slot = slot_index(0x0003, 0x1234, 1);
    assert_eq!(slot, 0x11234);
    let e = entry(slot, 1, 0xdead_beef_0042, Some(7));
    assert_eq!(r.by_slot(slot), None);
    w.publish(&e).unwrap();
    assert_eq!(w.published(), 1);
    assert_eq!(r.published(), 1);
    assert_eq!(r.by_slot(slot), Some(e.session));
    assert_eq!(
        r.by_slot_upstream(slot),
        Some(UpstreamSession::from(&e.session))
    );
    assert_eq!(r.by_slot_upstream(slot + 1), None);
    assert_eq!(r.ipv4_hint(v4_of(7)), Some(slot));
    assert_eq!(r.ipv6_hint(&v6_dst(7)), Some(slot));
    assert_eq!(r.ipv4_hint(v4_of(8)), None);
    assert_eq!(r.ipv6_hint(&v6_dst(8)), None);
    assert_eq!(r.by_slot_upstream(u32::MAX), None);
    assert_eq!(r.by_ipv4(v4_of(7)), Some(e.session));
    assert_eq!(r.by_ipv6(&v6_dst(7)), Some(e.session));
    assert_eq!(r.by_ipv4(v4_of(8)), None);
    assert_eq!(r.by_ipv6(&v6_dst(8)), None);
    let down = Some(DownstreamSession::from(&e.session));
    assert_eq!(into(|d| r.by_slot_downstream_into(slot, d)), down);
    assert_eq!(into(|d| r.by_ipv4_downstream_into(v4_of(7), d)), down);
    assert_eq!(into(|d| r.by_ipv6_downstream_into(&v6_dst(7), d)), down);
    assert_downstream_agree(&r, slot, 7);
    assert_downstream_agree(&r, slot + 1, 8);
    assert_downstream_agree(&r, u32::MAX, 8);
    assert_eq!(r.by_slot(slot + 1), None);
    assert_eq!(r.by_slot(u32::MAX), None);
    assert_eq!(w.get(slot), Some(e));
    assert_eq!(w.find_ipv4(v4_of(7)), Some(slot));
    assert_eq!(w.find_ipv6(v6_of(7)), Some(slot));
    assert_eq!(w.iter_published().collect::<Vec<_>>(), vec![e]);

    // Ns is shared by all readers and restarts with a new session.
    assert_eq!(
        (r.next_ns(slot), r.next_ns(slot), r.next_ns(slot)),
        (0, 1, 2)
    );
    assert_eq!(r.next_ns(u32::MAX), 0);
    w.update(slot, |s| s.mtu = 1400).unwrap();
    assert_eq!(r.next_ns(slot), 3, "same session: Ns carries on");
    assert_eq!(r.by_slot(slot).unwrap().mtu, 1400);

    let g = w.generation();
    let now = r.by_slot(slot).unwrap();
    assert_eq!(w.withdraw(slot), Ok(SessionEntry { session: now, ..e }));
    assert!(w.generation() > g);
    assert_eq!(r.by_slot(slot), None);
    assert_eq!(r.by_slot_upstream(slot), None);
    assert_eq!(r.by_ipv4(v4_of(7)), None);
    assert_eq!(r.by_ipv6(&v6_dst(7)), None);
    assert_eq!(into(|d| r.by_slot_downstream_into(slot, d)), None);
    assert_downstream_agree(&r, slot, 7);
    assert_eq!(w.withdraw(slot), Err(TableError::NotPublished(slot)));
    assert_eq!(w.published(), 0);
    w.publish(&e).unwrap();
    assert_eq!(r.next_ns(slot), 0, "a new session restarts Ns");
    assert_eq!(r.busy_misses(), 0);
}

#[test]
fn publish_refuses_bad_entries() {
    let mut w = TableWriter::create_in_memory(1000, 0, 1).unwrap();
    let e = entry(5, 0, 1, Some(1));
    w.publish(&e).unwrap();
    let mut bad = entry(1000, 0, 2, Some(2));
    assert_eq!(
        w.publish(&bad),
        Err(TableError::SlotOutOfRange {
            slot: 1000,
            capacity: 1000
        })
    );
    bad = entry(6, 0, 2, Some(2));
    bad.session.our_session_id = 7;
    assert_eq!(
        w.publish(&bad),
        Err(TableError::SlotMismatch {
            slot: 6,
            expected: 7
        })
    );
    bad = entry(6, 0, 2, Some(2));
    bad.session.template_len = TEMPLATE_MAX as u8 + 1;
    assert_eq!(w.publish(&bad), Err(TableError::BadTemplate));
    bad = entry(6, 0, 2, Some(2));
    bad.session.l2tp_offset = bad.session.template_len + 1;
    assert_eq!(w.publish(&bad), Err(TableError::BadTemplate));
    bad = entry(6, 0, 2, Some(1));
    assert_eq!(
        w.publish(&bad),
        Err(TableError::Ipv4InUse {
            addr: v4_of(1),
            slot: 5
        })
    );
    bad.session.subscriber_v4 = Some(v4_of(2));
    assert_eq!(
        w.publish(&bad),
        Err(TableError::Ipv6InUse {
            prefix: v6_of(1),
            slot: 5
        })
    );
    assert!(w
        .publish(&bad)
        .unwrap_err()
        .to_string()
        .contains("2001:db8:0:1::/64"));
    assert_eq!(w.update(9, |_| {}), Err(TableError::NotPublished(9)));
    // Nothing of the refused entries leaked in.
    assert_eq!(w.iter_published().count(), 1);
    assert_eq!(w.get(6), None);
    // Re-publishing a session with its own addresses is fine.
    w.publish(&e).unwrap();
}

#[test]
fn slot_reuse_and_address_moves() {
    let mut w = TableWriter::create_in_memory(1000, 0, 1).unwrap();
    let r = w.reader().unwrap();
    w.publish(&entry(1, 0, 10, Some(100))).unwrap();
    // The same session gets another address: the old one stops matching.
    let s = w.update(1, |s| s.subscriber_v4 = Some(v4_of(101))).unwrap();
    assert_eq!(r.by_ipv4(v4_of(100)), None);
    assert_eq!(r.by_ipv4(v4_of(101)), Some(s));
    assert_eq!(r.by_ipv6(&v6_dst(100)), Some(s), "the /64 stayed");
    // And loses both.
    let s = w
        .update(1, |s| {
            s.subscriber_v4 = None;
            s.subscriber_v6_prefix = None;
        })
        .unwrap();
    assert_eq!(r.by_slot(1), Some(s));
    assert_eq!(r.by_ipv4(v4_of(101)), None);
    assert_eq!(r.by_ipv6(&v6_dst(100)), None);
    let [v4, v6] = w.census();
    assert_eq!(v4, ((0, v4.0 .1), (0, v4.0 .1)));
    assert_eq!(v6.0, v6.1);

    // The slot is reused by another session with another address; the
    // address moves to a session in another slot.
    w.publish(&entry(2, 0, 20, Some(100))).unwrap();
    w.withdraw(1).unwrap();
    let e = entry(1, 0, 30, Some(102));
    w.publish(&e).unwrap();
    assert_eq!(r.by_slot(1), Some(e.session));
    assert_eq!(r.by_ipv4(v4_of(102)), Some(e.session));
    assert_eq!(r.by_ipv4(v4_of(100)).map(|s| s.slot), Some(2));
    assert_eq!(w.withdraw(2).unwrap().cookie, 20 ^ 0x5a5a);
    let e3 = entry(3, 0, 40, Some(100));
    w.publish(&e3).unwrap();
    assert_eq!(r.by_ipv4(v4_of(100)), Some(e3.session));
    assert_eq!(r.by_ipv6(&v6_dst(100)), Some(e3.session));
}

#[test]
fn index_collisions_tombstones_and_rebuilds() {
    // 64 slots, 128-entry indexes: the table full is 50% load; churn makes
    // tombstones until a rebuild.
    let mut w = TableWriter::create_in_memory(64, 0, 1).unwrap();
    let r = w.reader().unwrap();
    assert_eq!(w.index_stats().v4_size, 128);
    let mut rng = Rng(42);
    let mut model: Vec<Option<u32>> = vec![None; 64];
    let mut next_addr = 0;
    for round in 0..5000 {
        let slot = rng.below(64) as u32;
        match model[slot as usize] {
            Some(_) if rng.below(2) == 0 => {
                w.withdraw(slot).unwrap();
                model[slot as usize] = None;
            }
            _ => {
                next_addr += 1;
                w.publish(&entry(slot, 0, round, Some(next_addr))).unwrap();
                model[slot as usize] = Some(next_addr);
            }
        }
        let [v4, v6] = w.census();
        assert_eq!(
            v4.0, v4.1,
            "tracked IPv4 occupancy drifted at round {round}"
        );
        assert_eq!(
            v6.0, v6.1,
            "tracked IPv6 occupancy drifted at round {round}"
        );
        assert!((v4.0 .0 + v4.0 .1) * 8 <= 128 * 5);
    }
    let st = w.index_stats();
    assert!(st.rebuilds > 10, "{st:?}");
    for (slot, a) in model.iter().enumerate() {
        if let Some(a) = *a {
            assert_eq!(r.by_ipv4(v4_of(a)).unwrap().slot, slot as u32);
            assert_eq!(r.by_ipv6(&v6_dst(a)).unwrap().slot, slot as u32);
        }
    }
    for a in 0..=next_addr {
        let live = model.contains(&Some(a));
        assert_eq!(r.by_ipv4(v4_of(a)).is_some(), live, "address {a}");
        assert_eq!(r.by_ipv6(&v6_dst(a)).is_some(), live, "address {a}");
    }
    // An explicit rebuild changes nothing visible.
    w.rebuild_indexes();
    assert_eq!(w.index_stats().v4_tombstones, 0);
    for (slot, a) in model.iter().enumerate() {
        if let Some(a) = *a {
            assert_eq!(r.by_ipv4(v4_of(a)).unwrap().slot, slot as u32);
        }
    }
}

#[test]
fn ipv6_fingerprint_collisions_are_told_apart() {
    // Two /64s with the same 32-bit fingerprint (birthday search).
    let mut seen = std::collections::HashMap::new();
    let (p, q) = (0u64..)
        .map(|i| 0x2001_0db8_0000_0000 | i)
        .find_map(|p| seen.insert(abi::v6_fingerprint(p), p).map(|q| (p, q)))
        .unwrap();
    assert_ne!(p, q);
    let mut w = TableWriter::create_in_memory(100, 0, 1).unwrap();
    let r = w.reader().unwrap();
    let mut a = derive(1, 0, 1, None);
    a.subscriber_v6_prefix = Some(p.to_be_bytes());
    let mut b = derive(2, 0, 2, None);
    b.subscriber_v6_prefix = Some(q.to_be_bytes());
    w.publish(&a.into()).unwrap();
    w.publish(&b.into()).unwrap();
    let dst = |x: u64| {
        let mut d = [0xffu8; 16];
        d[..8].copy_from_slice(&x.to_be_bytes());
        d
    };
    assert_eq!(r.by_ipv6(&dst(p)), Some(a));
    assert_eq!(r.by_ipv6(&dst(q)), Some(b));
    w.withdraw(1).unwrap();
    assert_eq!(r.by_ipv6(&dst(p)), None);
    assert_eq!(r.by_ipv6(&dst(q)), Some(b));
}

#[test]
fn counters_and_drops() {
    let mut w = TableWriter::create_in_memory(100, 0, 3).unwrap();
    let r = w.reader().unwrap();
    w.publish(&entry(4, 0, 1, Some(1))).unwrap();
    let c0 = r.counters(0).unwrap();
    let c2 = r.counters(2).unwrap();
    assert!(r.counters(3).is_none());
    c0.add_up(4, 1, 100);
    c0.add_up(4, 2, 300);
    c2.add_down(4, 5, 1000);
    c2.add_up(4, 1, 60);
    c0.add_up(99_999, 1, 1); // ignored
    c0.add_drop(3, 2);
    c2.add_drop(3, 1);
    c2.add_drop(31, 1);
    c2.add_drop(32, 1); // ignored
    let want = crate::SessionCounters {
        up_packets: 4,
        up_bytes: 460,
        down_packets: 5,
        down_bytes: 1000,
    };
    assert_eq!(w.read_counters(4), want);
    assert_eq!(c0.get(4).up_bytes, 400);
    assert_eq!(w.read_drops()[3], 3);
    assert_eq!(w.read_drops()[31], 1);
    assert_eq!(w.read_worker_drops(2).unwrap()[3], 1);
    assert_eq!(c0.drops()[3], 2);
    assert!(w.read_worker_drops(3).is_none());
    // An update keeps the count; a new session in the slot starts from 0.
    w.update(4, |s| s.mtu = 1300).unwrap();
    assert_eq!(w.read_counters(4), want);
    w.withdraw(4).unwrap();
    assert_eq!(w.read_counters(4), want, "readable after withdrawal");
    w.publish(&entry(4, 0, 2, Some(1))).unwrap();
    assert_eq!(w.read_counters(4), Default::default());
    assert_eq!(w.read_counters_raw(4), want);
    c0.add_down(4, 1, 10);
    assert_eq!(w.read_counters(4).down_bytes, 10);
}

// ----------------------------------------------------------------- restart

#[test]
fn restarts_keep_state() {
    let path = TempPath::new("restart");
    let mut w = TableWriter::create(&path.0, 1000, 0, 2).unwrap();
    let r = TableReader::open(&path.0).unwrap();
    for i in 0..100 {
        w.publish(&entry(i, 0, i as u64 * 7, Some(i))).unwrap();
    }
    for i in 0..20 {
        w.withdraw(i * 5).unwrap();
    }
    r.counters(1).unwrap().add_down(1, 3, 300);
    assert_eq!(r.writer_epoch(), 1);
    assert_eq!(r.writer_pid(), std::process::id());
    assert!(r.created_unix_ns() > 0);
    let before: Vec<_> = w.iter_published().collect();
    assert_eq!(before.len(), 80);

    // A second writer is refused while the first lives.
    let e = TableWriter::open_existing(&path.0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
    assert!(e.to_string().contains("another writer"), "{e}");
    let e = TableWriter::create(&path.0, 10, 0, 1).unwrap_err();
    assert!(e.to_string().contains("another writer"), "{e}");

    // The control plane goes away: the reader still sees everything.
    drop(w);
    let check = |r: &TableReader| {
        for e in &before {
            let a = e.session.subscriber_v4.unwrap();
            assert_eq!(r.by_slot(e.session.slot), Some(e.session));
            assert_eq!(r.by_ipv4(a), Some(e.session));
        }
        assert_eq!(r.by_slot(0), None);
        assert_eq!(r.by_ipv4(v4_of(5)), None);
    };
    check(&r);

    // It comes back: nothing is cleared.
    let mut w = TableWriter::open_existing(&path.0).unwrap();
    assert_eq!(w.iter_published().collect::<Vec<_>>(), before);
    assert_eq!(w.published(), 80);
    assert_eq!(w.writer_epoch(), 2);
    assert_eq!(r.writer_epoch(), 2);
    assert!(w.recovered_slots().is_empty());
    assert_eq!(w.read_counters(1).down_bytes, 300);
    assert_eq!(w.index_stats().v4_live, 80);
    check(&r);
    // It carries on, and a reader that restarts sees the same.
    w.withdraw(1).unwrap();
    w.publish(&entry(0, 0, 1234, Some(0))).unwrap();
    let r2 = TableReader::open(&path.0).unwrap();
    for r in [&r, &r2] {
        assert_eq!(r.by_slot(1), None);
        assert_eq!(r.by_ipv4(v4_of(0)).unwrap().slot, 0);
    }
    // Re-creating the table replaces the file; the old mapping stays valid.
    drop(w);
    let w = TableWriter::create(&path.0, 10, 0, 1).unwrap();
    let r3 = TableReader::open(&path.0).unwrap();
    assert_eq!(r3.capacity(), 10);
    assert_eq!(r3.published(), 0);
    assert_eq!(
        r.by_ipv4(v4_of(0)).unwrap().slot,
        0,
        "old table, old mapping"
    );
    drop(w);
}

#[test]
fn a_crash_mid_write_is_recovered() {
    let path = TempPath::new("crash");
    let mut w = TableWriter::create(&path.0, 100, 0, 1).unwrap();
    let r = TableReader::open(&path.0).unwrap();
    for i in 0..10 {
        w.publish(&entry(i, 0, i as u64, Some(i))).unwrap();
    }
    w.simulate_crash_mid_write(3);
    drop(w);
    // Readers give up on the slot rather than wait, and count it.
    assert_eq!(r.by_slot(3), None);
    assert_eq!(r.by_ipv4(v4_of(3)), None);
    // Upstream's read: the first attempt inline, the rest out of line.
    assert_eq!(r.by_slot_upstream(3), None);
    assert_eq!(into(|d| r.by_slot_downstream_into(3, d)), None);
    assert_eq!(r.busy_misses(), 4);
    assert!(r.by_slot(4).is_some());
    assert!(r.by_slot_upstream(4).is_some());
    let w = TableWriter::open_existing(&path.0).unwrap();
    assert_eq!(w.recovered_slots(), &[3]);
    assert_eq!(w.published(), 9);
    assert_eq!(w.index_stats().v4_live, 9);
    assert_eq!(r.by_slot(3), None);
    assert_eq!(r.by_slot_upstream(3), None);
    assert_eq!(into(|d| r.by_slot_downstream_into(3, d)), None);
    assert_eq!(r.busy_misses(), 4, "the slot is free now, not busy");
    assert_eq!(r.by_ipv4(v4_of(4)).unwrap().slot, 4);
}

#[test]
fn header_mismatches_are_named() {
    let path = TempPath::new("hdr");
    drop(TableWriter::create(&path.0, 100, 2, 1).unwrap());
    let poke = |off: u64, bytes: &[u8]| {
        let f = std::fs::File::options().write(true).open(&path.0).unwrap();
        f.write_at(bytes, off).unwrap();
    };
    let err = || TableReader::open(&path.0).unwrap_err().to_string();
    let hdr = |name: &str| match name {
        "magic" => core::mem::offset_of!(abi::Header, magic),
        "version" => core::mem::offset_of!(abi::Header, abi_version),
        "hash" => core::mem::offset_of!(abi::Header, layout_hash),
        "capacity" => core::mem::offset_of!(abi::Header, capacity),
        "workers" => core::mem::offset_of!(abi::Header, workers),
        "ns" => core::mem::offset_of!(abi::Header, ns_offset),
        _ => unreachable!(),
    } as u64;
    let good = std::fs::read(&path.0).unwrap();
    let restore = || std::fs::write(&path.0, &good).unwrap();

    poke(hdr("magic"), b"NOTATABL");
    assert!(err().contains("magic mismatch"), "{}", err());
    assert!(TableWriter::open_existing(&path.0)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    restore();
    poke(hdr("version"), &7u32.to_ne_bytes());
    assert!(
        err().contains("ABI version mismatch: table is v7"),
        "{}",
        err()
    );
    restore();
    poke(hdr("hash"), &1u64.to_ne_bytes());
    assert!(err().contains("layout hash mismatch"), "{}", err());
    restore();
    poke(hdr("capacity"), &0u32.to_ne_bytes());
    assert!(err().contains("dimensions out of range"), "{}", err());
    restore();
    poke(hdr("workers"), &2u32.to_ne_bytes());
    assert!(err().contains("region offsets"), "{}", err());
    restore();
    poke(hdr("ns"), &8u64.to_ne_bytes());
    assert!(err().contains("region offsets"), "{}", err());
    restore();
    let f = std::fs::File::options().write(true).open(&path.0).unwrap();
    f.set_len(8192).unwrap();
    assert!(err().contains("the layout needs"), "{}", err());
    f.set_len(100).unwrap();
    assert!(err().contains("shorter than the header"), "{}", err());
    restore();
    let r = TableReader::open(&path.0).unwrap();
    assert_eq!(r.bank_bits(), 2);
    let e = TableReader::open(path.0.with_extension("missing")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

/// The data plane as another process: it maps the table on its own, sees
/// what the control plane publishes, and its counters reach the control
/// plane. The child is this test binary, run as `cross_process_child`.
#[test]
#[allow(clippy::disallowed_methods)] // a test's own time bound
fn cross_process_reader() {
    let path = TempPath::new("xproc");
    let mut w = TableWriter::create(&path.0, 100, 0, 1).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::cross_process_child", "--nocapture"])
        .env("L2TPX_TABLE_CHILD", &path.0)
        .spawn()
        .unwrap();
    w.publish(&entry(7, 0, 77, Some(7))).unwrap();
    let t = std::time::Instant::now();
    while w.read_counters(7).up_packets != 5 {
        assert!(t.elapsed().as_secs() < 20, "the child never counted");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(w.read_counters(7).up_bytes, 500);
    w.withdraw(7).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
#[allow(clippy::disallowed_methods)] // a test's own time bound
fn cross_process_child() {
    let Some(path) = std::env::var_os("L2TPX_TABLE_CHILD") else {
        return;
    };
    let r = TableReader::open(path).unwrap();
    let t = std::time::Instant::now();
    let s = loop {
        if let Some(s) = r.by_ipv4(v4_of(7)) {
            break s;
        }
        assert!(t.elapsed().as_secs() < 20, "never published");
    };
    assert_eq!(s, derive(7, 0, 77, Some(7)));
    r.counters(0).unwrap().add_up(7, 5, 500);
    while r.by_slot(7).is_some() {
        assert!(t.elapsed().as_secs() < 20, "never withdrawn");
    }
}

// ---------------------------------------------------------- concurrency

/// One writer churns publish/update/withdraw over a small table (so the
/// indexes rebuild often) while readers look up by slot, IPv4 and IPv6 and
/// check every snapshot: it must be one whole version of one session,
/// and the session asked for.
#[test]
fn stress_readers_never_see_torn_or_wrong_sessions() {
    const CAP: u32 = 256;
    const ADDRS: u32 = 320;
    const READERS: usize = 2;
    const BB: u32 = 0;
    #[allow(clippy::disallowed_methods)] // a test's own time bound
    let start = std::time::Instant::now();
    let budget = std::time::Duration::from_millis(2000);

    let mut w = TableWriter::create_in_memory(CAP, BB, READERS as u32).unwrap();
    let stop = AtomicBool::new(false);
    let hits = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let readers: Vec<TableReader> = (0..READERS).map(|_| w.reader().unwrap()).collect();

    std::thread::scope(|sc| {
        for (n, r) in readers.iter().enumerate() {
            let (stop, hits) = (&stop, &hits);
            sc.spawn(move || {
                let mut rng = Rng(0x1234_5678 + n as u64);
                let c = r.counters(n as u32).unwrap();
                let mut local = [0u64; 3];
                let mut down = DownstreamSession::EMPTY;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) || i < 1000 {
                    i += 1;
                    let slot = rng.below(CAP as u64) as u32;
                    if let Some(s) = r.by_slot(slot) {
                        assert_eq!(s.slot, slot);
                        assert!(consistent(&s, BB), "torn by_slot snapshot {s:?}");
                        c.add_up(slot, 1, 100);
                        local[0] += 1;
                    }
                    let slot = rng.below(CAP as u64) as u32;
                    if let Some(s) = r.by_slot_upstream(slot) {
                        assert_eq!(s.slot, slot);
                        assert!(consistent_upstream(&s, BB), "torn by_slot_upstream {s:?}");
                    }
                    let slot = rng.below(CAP as u64) as u32;
                    if r.by_slot_downstream_into(slot, &mut down) {
                        assert_eq!(down.slot, slot);
                        assert!(consistent_downstream(&down, BB), "torn {down:?}");
                    }
                    let a = rng.below(ADDRS as u64) as u32;
                    if r.by_ipv4_downstream_into(v4_of(a), &mut down) {
                        assert_eq!(down.subscriber_v4, Some(v4_of(a)), "wrong {down:?}");
                        assert!(consistent_downstream(&down, BB), "torn {down:?}");
                    }
                    if let Some(s) = r.by_ipv4(v4_of(a)) {
                        assert_eq!(s.subscriber_v4, Some(v4_of(a)), "wrong session {s:?}");
                        assert!(consistent(&s, BB), "torn by_ipv4 snapshot {s:?}");
                        r.next_ns(s.slot);
                        local[1] += 1;
                    }
                    if let Some(s) = r.by_ipv6(&v6_dst(a)) {
                        assert_eq!(s.subscriber_v6_prefix, Some(v6_of(a)), "wrong {s:?}");
                        assert!(consistent(&s, BB), "torn by_ipv6 snapshot {s:?}");
                        local[2] += 1;
                    }
                }
                for (h, l) in hits.iter().zip(local) {
                    h.fetch_add(l, Ordering::Relaxed);
                }
            });
        }

        // The writer, with a model of what it published.
        let mut rng = Rng(99);
        let mut model: Vec<Option<(u64, Option<u32>)>> = vec![None; CAP as usize];
        let mut owner: Vec<Option<u32>> = vec![None; ADDRS as usize];
        let free_addr = |rng: &mut Rng, owner: &[Option<u32>]| loop {
            let a = rng.below(ADDRS as u64) as u32;
            if owner[a as usize].is_none() {
                return a;
            }
        };
        let mut ops = 0u64;
        while ops < 2_000_000 && (!ops.is_multiple_of(256) || start.elapsed() < budget) {
            ops += 1;
            if ops.is_multiple_of(500) {
                // Readers switch index copies under load.
                w.rebuild_indexes();
            }
            let slot = rng.below(CAP as u64) as u32;
            let v = rng.next();
            match model[slot as usize] {
                None => {
                    let a = (rng.below(8) != 0).then(|| free_addr(&mut rng, &owner));
                    w.publish(&entry(slot, BB, v, a)).unwrap();
                    model[slot as usize] = Some((v, a));
                    if let Some(a) = a {
                        owner[a as usize] = Some(slot);
                    }
                }
                Some((_, a)) if rng.below(3) == 0 => {
                    w.withdraw(slot).unwrap();
                    model[slot as usize] = None;
                    if let Some(a) = a {
                        owner[a as usize] = None;
                    }
                }
                Some((_, a)) => {
                    // Update: new values, sometimes a new address.
                    let na = match rng.below(4) {
                        0 => Some(free_addr(&mut rng, &owner)),
                        1 => None,
                        _ => a,
                    };
                    w.publish(&entry(slot, BB, v, na)).unwrap();
                    if let Some(a) = a {
                        owner[a as usize] = None;
                    }
                    if let Some(na) = na {
                        owner[na as usize] = Some(slot);
                    }
                    model[slot as usize] = Some((v, na));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);

        // Quiescent (readers may still run, the writer is done): exact.
        let r = &readers[0];
        for slot in 0..CAP {
            let want = model[slot as usize].map(|(v, a)| derive(slot, BB, v, a));
            assert_eq!(r.by_slot(slot), want);
        }
        for a in 0..ADDRS {
            let got = r.by_ipv4(v4_of(a)).map(|s| s.slot);
            assert_eq!(got, owner[a as usize], "address {a}");
            assert_eq!(r.by_ipv6(&v6_dst(a)).map(|s| s.slot), owner[a as usize]);
        }
        let [v4, v6] = w.census();
        assert_eq!((v4.0, v6.0), (v4.1, v6.1));
        eprintln!(
            "stress: {ops} writer ops, {} index rebuilds, in {:?}",
            w.index_stats().rebuilds,
            start.elapsed()
        );
    });
    let h: Vec<u64> = hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
    eprintln!(
        "stress: reader hits by slot/v4/v6 {h:?}, busy misses {:?}",
        readers.iter().map(|r| r.busy_misses()).collect::<Vec<_>>()
    );
    assert!(h.iter().all(|&n| n > 100), "readers hardly hit: {h:?}");
    let total: u64 = (0..CAP).map(|s| w.read_counters_raw(s).up_packets).sum();
    assert_eq!(total, h[0], "every counted packet is in the counters");
}

// ------------------------------------------------------------- 1M sessions

#[test]
#[allow(clippy::disallowed_methods)] // timings for the report
fn a_million_sessions() {
    use std::time::Instant;
    const CAP: u32 = 1 << 20;
    const BB: u32 = 4;
    let path = TempPath::new("1m");
    let t = Instant::now();
    let mut w = TableWriter::create(&path.0, CAP, BB, 1).unwrap();
    let size = std::fs::metadata(&path.0).unwrap().len();
    eprintln!(
        "1M sessions, 1 worker: {size} bytes ({} MiB), created in {:?}",
        size >> 20,
        t.elapsed()
    );
    eprintln!("{:?}", w.layout());
    assert_eq!(size, w.layout().total_size);
    let r = TableReader::open(&path.0).unwrap();
    let t = Instant::now();
    for slot in 0..CAP {
        let s = derive(slot, BB, slot as u64, Some(slot));
        w.publish(&SessionEntry {
            session: s,
            cookie: 0,
        })
        .unwrap();
    }
    eprintln!("published 1M in {:?}", t.elapsed());
    assert_eq!(r.published(), CAP);
    let st = w.index_stats();
    assert_eq!((st.v4_live, st.v6_live, st.rebuilds), (CAP, CAP, 0));
    let mut rng = Rng(7);
    let t = Instant::now();
    for _ in 0..100_000 {
        let slot = rng.below(CAP as u64) as u32;
        let s = r.by_slot(slot).unwrap();
        assert_eq!(s.slot, slot);
        assert_eq!(r.by_ipv4(v4_of(slot)).unwrap().slot, slot);
        assert_eq!(r.by_ipv6(&v6_dst(slot)).unwrap().slot, slot);
    }
    eprintln!("100k x 3 random lookups in {:?}", t.elapsed());
    assert_eq!(r.by_ipv4(v4_of(CAP)), None);
    // The control plane restarts at full scale.
    drop(w);
    let t = Instant::now();
    let w = TableWriter::open_existing(&path.0).unwrap();
    eprintln!("re-attached (scan + index rebuilds) in {:?}", t.elapsed());
    assert_eq!(w.published(), CAP);
    for _ in 0..1000 {
        let slot = rng.below(CAP as u64) as u32;
        assert_eq!(r.by_ipv4(v4_of(slot)).unwrap().slot, slot);
    }
}

// ------------------------------------------------------------ change ring

#[test]
fn change_ring_lists_changed_slots() {
    let mut w = TableWriter::create_in_memory(1000, 0, 1).unwrap();
    let r = w.reader().unwrap();
    let mut out = Vec::new();
    assert_eq!(r.changes_since(0, &mut out), Changes::Slots(0));
    assert!(out.is_empty());

    w.publish(&entry(5, 0, 1, Some(5))).unwrap();
    w.publish(&entry(9, 0, 2, Some(9))).unwrap();
    w.update(5, |s| s.subscriber_v4 = Some(v4_of(6))).unwrap();
    w.withdraw(9).unwrap();
    assert_eq!(w.withdraw(9), Err(TableError::NotPublished(9)));
    assert!(
        w.publish(&entry(7, 0, 3, Some(6))).is_err(),
        "address in use"
    );
    assert_eq!(r.changes_since(0, &mut out), Changes::Slots(4));
    assert_eq!(out, [5, 9, 5, 9], "failed operations are not changes");
    out.clear();
    assert_eq!(r.changes_since(4, &mut out), Changes::Slots(4));
    assert!(out.is_empty());
    w.publish(&entry(3, 0, 4, None)).unwrap();
    assert_eq!(r.changes_since(4, &mut out), Changes::Slots(5));
    assert_eq!(out, [3]);

    // A cursor from the future (another table) means: rescan.
    out.clear();
    assert_eq!(r.changes_since(6, &mut out), Changes::Rescan(5));
    assert!(out.is_empty());
}

#[test]
fn change_ring_overrun_asks_for_a_rescan() {
    let mut w = TableWriter::create_in_memory(1000, 0, 1).unwrap();
    let r = w.reader().unwrap();
    let n = u64::from(abi::CHANGE_RING);
    for i in 0..n {
        w.publish(&entry((i % 100) as u32, 0, i, None)).unwrap();
    }
    let mut out = Vec::new();
    // Exactly a ring behind is already too far (the oldest entry is gone).
    assert_eq!(r.changes_since(0, &mut out), Changes::Rescan(n));
    assert!(out.is_empty());
    assert_eq!(r.changes_since(1, &mut out), Changes::Slots(n));
    assert_eq!(out.len() as u64, n - 1);
    assert_eq!(out[0], 1);
    assert_eq!(*out.last().unwrap(), ((n - 1) % 100) as u32);
}

#[test]
fn change_ring_survives_a_writer_restart() {
    let path = TempPath::new("ring");
    let mut w = TableWriter::create(&path.0, 100, 0, 1).unwrap();
    let r = TableReader::open(&path.0).unwrap();
    w.publish(&entry(1, 0, 1, Some(1))).unwrap();
    let mut out = Vec::new();
    let Changes::Slots(cursor) = r.changes_since(0, &mut out) else {
        panic!("rescan")
    };
    drop(w);
    let mut w = TableWriter::open_existing(&path.0).unwrap();
    w.withdraw(1).unwrap();
    out.clear();
    assert_eq!(
        r.changes_since(cursor, &mut out),
        Changes::Slots(cursor + 1)
    );
    assert_eq!(out, [1]);
}

/// A reader mirrors the subscriber addresses through the change ring (as
/// the dataplane's XDP map sync does), rescanning when it falls behind,
/// while the writer churns; once the writer stops, one more catch-up must
/// leave the mirror exactly equal to the table.
#[test]
fn change_ring_mirror_converges_under_churn() {
    const CAP: u32 = 256;
    const ADDRS: u32 = 300;
    #[allow(clippy::disallowed_methods)] // a test's own time bound
    let start = std::time::Instant::now();
    let budget = std::time::Duration::from_millis(1500);
    let mut w = TableWriter::create_in_memory(CAP, 0, 1).unwrap();
    let r = w.reader().unwrap();
    let done = AtomicBool::new(false);
    let rescans = AtomicU64::new(0);

    let mirror = std::thread::scope(|sc| {
        let reader = sc.spawn(|| {
            let mut mirror: HashMap<u32, Option<Ipv4Addr>> = HashMap::new();
            let mut cursor = 0u64;
            let mut out = Vec::new();
            let mut pending: Vec<u32> = Vec::new();
            for round in 0u64.. {
                if round % 8 == 7 {
                    // Fall a ring behind now and then (the writer counts
                    // one generation per change), to take the rescan path.
                    let g = r.generation() + u64::from(abi::CHANGE_RING) + 8;
                    while r.generation() < g && !done.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                }
                let last = done.load(Ordering::Acquire);
                out.clear();
                match r.changes_since(cursor, &mut out) {
                    Changes::Slots(c) => cursor = c,
                    Changes::Rescan(c) => {
                        rescans.fetch_add(1, Ordering::Relaxed);
                        cursor = c;
                        out.extend(0..CAP);
                    }
                }
                out.append(&mut pending);
                out.sort_unstable();
                out.dedup();
                for &slot in &out {
                    match r.read(slot) {
                        SlotRead::Up(s) => {
                            mirror.insert(slot, s.subscriber_v4);
                        }
                        SlotRead::Free => {
                            mirror.remove(&slot);
                        }
                        SlotRead::Busy => pending.push(slot),
                    }
                }
                if last && pending.is_empty() {
                    break;
                }
            }
            mirror
        });
        let mut rng = Rng(7);
        let mut ops = 0u64;
        while ops < 1_000_000 && (!ops.is_multiple_of(256) || start.elapsed() < budget) {
            ops += 1;
            let slot = rng.below(u64::from(CAP)) as u32;
            if w.get(slot).is_some() && rng.below(3) == 0 {
                w.withdraw(slot).unwrap();
            } else {
                let a = rng.below(u64::from(ADDRS)) as u32;
                let a = w.find_ipv4(v4_of(a)).is_none().then_some(a);
                w.publish(&entry(slot, 0, rng.next(), a)).unwrap();
            }
        }
        done.store(true, Ordering::Release);
        reader.join().unwrap()
    });
    let truth: HashMap<u32, Option<Ipv4Addr>> = w
        .iter_published()
        .map(|e| (e.session.slot, e.session.subscriber_v4))
        .collect();
    assert_eq!(mirror, truth);
    assert!(!truth.is_empty());
    assert!(rescans.load(Ordering::Relaxed) > 0, "the rescan path ran");
}
