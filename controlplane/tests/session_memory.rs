//! The heap an established session costs the LNS (engine + session
//! manager), measured with a counting allocator over 2,000 sessions set up
//! through the real engine and manager (`session::heap::establish`). The
//! bound is what it measured (1,709 B) plus about 15 %: a session
//! that keeps its negotiation buffers, or its whole `SessionInfo`, fails it.

use std::time::Instant;

use l2tpx_controlplane::session::heap::{establish, manager_config};

#[path = "../examples/common/counting.rs"]
mod counting;
use counting::{release, CountingAlloc};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const TUNNELS: usize = 4;
const SESSIONS: usize = 2_000;
/// Bytes per session, engine and manager together.
const BOUND: usize = 2_000;

fn held(base: Instant, sessions: usize) -> usize {
    let w = establish(base, TUNNELS, sessions, manager_config(), &mut drop);
    let (lns, mgr, lacs) = (w.lns, w.mgr, w.lacs);
    let bytes = release(mgr).bytes + release(lns).bytes;
    drop(lacs);
    bytes
}

#[test]
fn established_session_heap_is_bounded() {
    #[allow(clippy::disallowed_methods)] // the fake clock's origin
    let base = Instant::now();
    let idle = held(base, 0);
    let full = held(base, SESSIONS);
    let per = (full - idle) / SESSIONS;
    eprintln!("{per} B per session (engine + manager)");
    assert!(per > 500, "{per} B per session: is the allocator counting?");
    assert!(per <= BOUND, "{per} B per session, bound {BOUND}");
}
