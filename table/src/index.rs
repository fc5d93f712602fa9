//! Probing the open-addressing address indexes (layout in `abi`).
//!
//! Readers run [`lookup`] with no locks. The single writer runs [`insert`]
//! and [`remove`]; each changes one entry with one atomic store, so a
//! reader sees an entry either before or after the change. Invariant kept
//! by the writer: no empty entry lies between a live entry and its home
//! position, so a probe that meets an empty entry may stop.
//!
//! Tombstones: [`remove`] turns an entry into a tombstone, or, when the
//! next entry is empty, into an empty entry, together with the run of
//! tombstones just before it (no live entry can lie beyond an entry whose
//! successor is empty, so no probe, concurrent or later, needed them). The
//! writer rebuilds an index into its idle copy when an insertion would take
//! live entries plus tombstones over 5/8 of the size (`writer.rs`).

use crate::abi::{entry, entry_key, entry_slot_field, ENTRY_EMPTY, ENTRY_TOMBSTONE};
use core::sync::atomic::{AtomicU64, Ordering};

/// An index holds at most this fraction (numerator over 8) of its entries
/// as live entries plus tombstones; inserting beyond it rebuilds first.
pub(crate) const MAX_FILL_EIGHTHS: u64 = 5;

/// Probes `idx` from `home` for entries keyed `key`, calling `check` with
/// each candidate slot until it returns `Some`.
#[inline]
pub(crate) fn lookup<T>(
    idx: &[AtomicU64],
    home: usize,
    key: u32,
    mut check: impl FnMut(u32) -> Option<T>,
) -> Option<T> {
    let mask = idx.len() - 1;
    let mut i = home & mask;
    for _ in 0..idx.len() {
        // Acquire: a slot published before its entry was stored is seen.
        let e = idx[i].load(Ordering::Acquire);
        let f = entry_slot_field(e);
        if f == ENTRY_EMPTY {
            return None;
        }
        if f != ENTRY_TOMBSTONE && entry_key(e) == key {
            if let Some(t) = check(f - 1) {
                return Some(t);
            }
        }
        i = (i + 1) & mask;
    }
    None
}

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The entry was already there.
    Present,
    /// Stored in an empty entry.
    IntoEmpty,
    /// Stored over a tombstone.
    OverTombstone,
    /// No room (the writer keeps this from happening by rebuilding).
    Full,
}

/// Stores `(key, slot)` unless present, in the first tombstone or empty
/// entry on its probe path.
pub(crate) fn insert(idx: &[AtomicU64], home: usize, key: u32, slot: u32) -> Inserted {
    let want = entry(key, slot);
    let mask = idx.len() - 1;
    let mut i = home & mask;
    let mut tomb = None;
    for _ in 0..idx.len() {
        let e = idx[i].load(Ordering::Relaxed);
        match entry_slot_field(e) {
            ENTRY_EMPTY => {
                let (at, how) = match tomb {
                    Some(t) => (t, Inserted::OverTombstone),
                    None => (i, Inserted::IntoEmpty),
                };
                // Release: the slot's (already published) contents are
                // visible to a reader that sees the entry.
                idx[at].store(want, Ordering::Release);
                return how;
            }
            ENTRY_TOMBSTONE => {
                tomb.get_or_insert(i);
            }
            _ if e == want => return Inserted::Present,
            _ => {}
        }
        i = (i + 1) & mask;
    }
    match tomb {
        Some(t) => {
            idx[t].store(want, Ordering::Release);
            Inserted::OverTombstone
        }
        None => Inserted::Full,
    }
}

/// What [`remove`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removed {
    /// No such entry.
    NotFound,
    /// The entry became a tombstone.
    Tombstoned,
    /// The entry became empty, and so did this many tombstones before it.
    Emptied(u32),
}

/// Removes the entry `(key, slot)`.
pub(crate) fn remove(idx: &[AtomicU64], home: usize, key: u32, slot: u32) -> Removed {
    let want = entry(key, slot);
    let mask = idx.len() - 1;
    let mut i = home & mask;
    for _ in 0..idx.len() {
        let e = idx[i].load(Ordering::Relaxed);
        if entry_slot_field(e) == ENTRY_EMPTY {
            return Removed::NotFound;
        }
        if e == want {
            let next = idx[(i + 1) & mask].load(Ordering::Relaxed);
            if entry_slot_field(next) != ENTRY_EMPTY {
                idx[i].store(ENTRY_TOMBSTONE as u64, Ordering::Release);
                return Removed::Tombstoned;
            }
            idx[i].store(0, Ordering::Release);
            let mut cleared = 0;
            let mut j = i.wrapping_sub(1) & mask;
            while j != i && entry_slot_field(idx[j].load(Ordering::Relaxed)) == ENTRY_TOMBSTONE {
                idx[j].store(0, Ordering::Release);
                cleared += 1;
                j = j.wrapping_sub(1) & mask;
            }
            return Removed::Emptied(cleared);
        }
        i = (i + 1) & mask;
    }
    Removed::NotFound
}

/// Counts `(live, tombstones)` entries.
#[cfg(test)]
pub(crate) fn census(idx: &[AtomicU64]) -> (u32, u32) {
    let (mut live, mut tomb) = (0, 0);
    for e in idx {
        match entry_slot_field(e.load(Ordering::Relaxed)) {
            ENTRY_EMPTY => {}
            ENTRY_TOMBSTONE => tomb += 1,
            _ => live += 1,
        }
    }
    (live, tomb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    fn find(idx: &[AtomicU64], home: usize, key: u32) -> Option<u32> {
        lookup(idx, home, key, Some)
    }

    #[test]
    fn collisions_probe_linearly_and_wrap() {
        let idx = index(8);
        // Three keys with the same home at the end, so the run wraps.
        assert_eq!(insert(&idx, 6, 1, 10), Inserted::IntoEmpty);
        assert_eq!(insert(&idx, 6, 2, 20), Inserted::IntoEmpty);
        assert_eq!(insert(&idx, 6, 3, 30), Inserted::IntoEmpty);
        assert_eq!(insert(&idx, 6, 3, 30), Inserted::Present);
        assert_eq!(entry_slot_field(idx[0].load(Ordering::Relaxed)), 31);
        assert_eq!(find(&idx, 6, 1), Some(10));
        assert_eq!(find(&idx, 6, 2), Some(20));
        assert_eq!(find(&idx, 6, 3), Some(30));
        assert_eq!(find(&idx, 6, 4), None);
        // Removing the middle leaves a tombstone the others probe past.
        assert_eq!(remove(&idx, 6, 2, 20), Removed::Tombstoned);
        assert_eq!(find(&idx, 6, 2), None);
        assert_eq!(find(&idx, 6, 3), Some(30));
        assert_eq!(census(&idx), (2, 1));
        // The tombstone is reused.
        assert_eq!(insert(&idx, 6, 4, 40), Inserted::OverTombstone);
        assert_eq!(find(&idx, 6, 4), Some(40));
        assert_eq!(census(&idx), (3, 0));
    }

    #[test]
    fn removing_the_last_of_a_run_clears_its_tombstones() {
        let idx = index(16);
        for k in 0..4 {
            insert(&idx, 3, k, k);
        }
        assert_eq!(remove(&idx, 3, 1, 1), Removed::Tombstoned);
        assert_eq!(remove(&idx, 3, 2, 2), Removed::Tombstoned);
        assert_eq!(census(&idx), (2, 2));
        // Key 3 is last in the run: it and the two tombstones go empty.
        assert_eq!(remove(&idx, 3, 3, 3), Removed::Emptied(2));
        assert_eq!(census(&idx), (1, 0));
        assert_eq!(find(&idx, 3, 0), Some(0));
        assert_eq!(remove(&idx, 3, 9, 9), Removed::NotFound);
        // Same key, other slot: not this entry.
        assert_eq!(remove(&idx, 3, 0, 7), Removed::NotFound);
    }

    #[test]
    fn lookup_tries_every_candidate_with_the_key() {
        let idx = index(8);
        insert(&idx, 0, 5, 1);
        insert(&idx, 0, 5, 2);
        assert_eq!(lookup(&idx, 0, 5, |s| (s == 2).then_some(s)), Some(2));
        assert_eq!(lookup(&idx, 0, 5, |_| None::<u32>), None);
    }

    #[test]
    fn a_full_index_without_tombstones_says_so() {
        let idx = index(4);
        for k in 0..4 {
            assert_eq!(insert(&idx, 0, k, k), Inserted::IntoEmpty);
        }
        assert_eq!(insert(&idx, 0, 9, 9), Inserted::Full);
        assert_eq!(find(&idx, 1, 9), None);
        remove(&idx, 0, 1, 1);
        assert_eq!(insert(&idx, 0, 9, 9), Inserted::OverTombstone);
    }
}
