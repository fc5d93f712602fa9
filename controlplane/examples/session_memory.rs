//! Heap per established subscriber session on the LNS: the L2TP engine, the
//! session manager (PPP, AAA, accounting, RFC 5176 index) and the state
//! journal's live set, through the real `Engine` + `SessionManager`
//! (`session::heap::establish`: CHAP, local users, IPCP up, published, as
//! the bench sets sessions up), with a counting allocator.
//!
//! Each part's heap is what dropping it releases; per session is the
//! difference between S sessions and none (same tunnels) over S. The
//! manager's allocations are also listed by size, per session, largest
//! share first (a size names its type: see docs/benchmarks.md).
//!
//! ```sh
//! cargo run --release -p l2tpx-controlplane --example session_memory [TUNNELS [SESSIONS]]
//! ```

use std::time::Instant;

use l2tpx_controlplane::persist::journal::{Journal, Replayed};
use l2tpx_controlplane::session::heap::{establish, manager_config};

#[path = "common/counting.rs"]
mod counting;
use counting::{release, CountingAlloc, Released, EXACT_MAX};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

struct Parts {
    engine: Released,
    manager: Released,
    journal: Released,
}

fn measure(base: Instant, tunnels: usize, sessions: usize) -> Parts {
    let path = std::env::temp_dir().join(format!("l2tpx-session-memory-{}", std::process::id()));
    let mut journal = Journal::create(&path, &Replayed::default()).expect("journal");
    let w = establish(base, tunnels, sessions, manager_config(), &mut |r| {
        journal.append(&r);
        journal.flush().expect("journal write");
    });
    let (lns, mgr, lacs) = (w.lns, w.mgr, w.lacs);
    let parts = Parts {
        manager: release(mgr),
        engine: release(lns),
        journal: release(journal),
    };
    drop(lacs);
    let _ = std::fs::remove_file(&path);
    parts
}

fn per(a: usize, b: usize, n: usize) -> f64 {
    (a as f64 - b as f64) / n.max(1) as f64
}

fn main() {
    #[allow(clippy::disallowed_methods)] // the example is the driver
    let base = Instant::now();
    let mut args = std::env::args().skip(1);
    let tunnels: usize = args.next().map_or(16, |s| s.parse().expect("TUNNELS"));
    let sessions: usize = args.next().map_or(40_000, |s| s.parse().expect("SESSIONS"));

    let idle = measure(base, tunnels, 0);
    let full = measure(base, tunnels, sessions);
    let rows = [
        ("engine", &full.engine, &idle.engine),
        ("manager", &full.manager, &idle.manager),
        ("journal", &full.journal, &idle.journal),
    ];
    println!("{tunnels} tunnels, {sessions} sessions (CHAP, IPCP up, published)");
    let mut total = 0.0;
    for (name, f, i) in rows {
        let p = per(f.bytes, i.bytes, sessions);
        total += p;
        println!(
            "{name:<8} {:>12} B  (no sessions: {:>9} B)  {p:>8.0} B per session",
            f.bytes, i.bytes
        );
    }
    println!("total    {total:>8.0} B per session");

    println!("\nmanager allocations per session, by size (largest share first):");
    let mut by: Vec<(usize, f64)> = full
        .manager
        .by_size
        .iter()
        .zip(&idle.manager.by_size)
        .enumerate()
        .filter(|&(size, _)| size <= EXACT_MAX)
        .map(|(size, (f, i))| (size, per(*f, *i, sessions)))
        .filter(|&(_, n)| n >= 0.01)
        .collect();
    by.sort_by(|a, b| (b.0 as f64 * b.1).total_cmp(&(a.0 as f64 * a.1)));
    for (size, n) in by.iter().take(25) {
        println!("  {size:>5} B x {n:>6.2}  = {:>7.0} B", *size as f64 * n);
    }
    let big = per(
        full.manager.by_size[EXACT_MAX + 1],
        idle.manager.by_size[EXACT_MAX + 1],
        sessions,
    );
    println!("  (> {EXACT_MAX} B: {big:.4} allocations per session, the maps' tables)");
}
