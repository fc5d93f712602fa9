//! A counting global allocator for the memory examples and tests: live
//! bytes (requested sizes, not the allocator's rounding) and live
//! allocations by size. The binary installs it:
//! `#[global_allocator] static A: counting::CountingAlloc = counting::CountingAlloc;`
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations up to this size are counted by exact size.
pub const EXACT_MAX: usize = 4096;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static BY_SIZE: [AtomicUsize; EXACT_MAX + 2] = [const { AtomicUsize::new(0) }; EXACT_MAX + 2];

fn bucket(size: usize) -> usize {
    size.min(EXACT_MAX + 1)
}

fn add(size: usize) {
    LIVE.fetch_add(size, Ordering::Relaxed);
    BY_SIZE[bucket(size)].fetch_add(1, Ordering::Relaxed);
}

fn sub(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
    BY_SIZE[bucket(size)].fetch_sub(1, Ordering::Relaxed);
}

/// The system allocator, counting live bytes (requested sizes) and live
/// allocations by size.
#[derive(Debug)]
pub struct CountingAlloc;

// SAFETY: defers every operation to `System` unchanged; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

/// Live heap bytes.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Live allocations by size into `out` (index = size; the last entry
/// counts every allocation larger than [`EXACT_MAX`]).
pub fn live_by_size(out: &mut [usize; EXACT_MAX + 2]) {
    for (o, c) in out.iter_mut().zip(&BY_SIZE) {
        *o = c.load(Ordering::Relaxed);
    }
}

/// What dropping something released: bytes, and allocations by size.
#[derive(Debug, Clone, Default)]
pub struct Released {
    /// Live bytes released.
    pub bytes: usize,
    /// Allocations released, by size (as [`live_by_size`]).
    pub by_size: Vec<usize>,
}

/// Drops `v` and says what that released.
pub fn release<V>(v: V) -> Released {
    // Both snapshots exist before the first reading, so neither counts.
    let mut h = Box::new([0usize; EXACT_MAX + 2]);
    let mut h2 = Box::new([0usize; EXACT_MAX + 2]);
    live_by_size(&mut h);
    let b = live_bytes();
    drop(v);
    let b2 = live_bytes();
    live_by_size(&mut h2);
    Released {
        bytes: b.saturating_sub(b2),
        by_size: h
            .iter()
            .zip(h2.iter())
            .map(|(a, b)| a.saturating_sub(*b))
            .collect(),
    }
}
