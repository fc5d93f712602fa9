//! Resident memory of the LNS engine per idle tunnel and per session.
//!
//! A counting global allocator tracks live heap bytes. The example builds
//! `T` established tunnels (from several in-memory LACs, no sockets, fake
//! clock), lets every acknowledgement go out, then drops the LNS [`Engine`]
//! and takes the drop in live bytes as what the engine held. It does so with
//! no sessions, then with `S` sessions, and reports bytes per tunnel and per
//! session (what the engine holds; the data plane's slot table is apart).
//!
//! ```sh
//! cargo run --release -p l2tpx-controlplane --example memory [TUNNELS [SESSIONS]]
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tpx_controlplane::l2tp::{
    CallParams, Config, Engine, Event, Lac, LacConfig, Limits, SplitMix64,
};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::CountingAlloc = counting::CountingAlloc;

fn live() -> usize {
    counting::live_bytes()
}

const LNS: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 1)),
    1701,
);

fn lac_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 18, 1 + (i / 250) as u8, 1 + (i % 250) as u8], 1701))
}

fn lns_config() -> Config {
    Config {
        limits: Limits {
            max_half_open: 1 << 20,
            max_half_open_per_peer: 1 << 20,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// `tunnels` established tunnels with `sessions` sessions over them, spread
/// over enough LACs that none needs more than 65,535 session IDs. Returns
/// the engine and the LACs, all acknowledgements sent.
fn build(base: Instant, tunnels: usize, sessions: usize) -> (Engine, Vec<Lac>) {
    let per_lac_sessions = 50_000usize;
    let n_lacs = sessions
        .div_ceil(per_lac_sessions)
        .max(1)
        .max(tunnels.div_ceil(5_000));
    let mut lns = Engine::new(lns_config(), Box::new(SplitMix64(11)));
    let mut lacs: Vec<Lac> = (0..n_lacs)
        .map(|i| Lac::new(LacConfig::default(), Box::new(SplitMix64(100 + i as u64))))
        .collect();
    let mut now = base;
    for t in 0..tunnels {
        let l = t % n_lacs;
        let tid = lacs[l].open_tunnel(now, LNS).expect("tunnel ID");
        let calls = sessions / tunnels + usize::from(t < sessions % tunnels);
        for _ in 0..calls {
            lacs[l]
                .place_call(now, tid, CallParams::default())
                .expect("call");
        }
    }
    let mut buf = vec![0u8; 4096];
    let (mut ups, mut tups) = (0usize, 0usize);
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut moved = true;
        while moved {
            moved = false;
            for (i, lac) in lacs.iter_mut().enumerate() {
                while let Some((_, n)) = lac.poll_transmit(now, &mut buf) {
                    lns.handle(now, lac_addr(i), &buf[..n]);
                    moved = true;
                    while let Some(e) = lns.poll_event() {
                        match e {
                            Event::SessionUp(_) => ups += 1,
                            Event::TunnelUp { .. } => tups += 1,
                            _ => {}
                        }
                    }
                }
                while lac.poll_event().is_some() {}
            }
            while let Some((to, n)) = lns.poll_transmit(now, &mut buf) {
                let i = lacs.len();
                let i = (0..i).find(|&i| lac_addr(i) == to).expect("known LAC");
                lacs[i].handle(now, LNS, &buf[..n]);
                moved = true;
            }
        }
        if ups == sessions && tups == tunnels {
            // Let the delayed ACKs (100 ms) go out, well before any HELLO.
            match quiet_since {
                Some(q) if now >= q + Duration::from_secs(1) => break,
                Some(_) => {}
                None => quiet_since = Some(now),
            }
        }
        let next = lacs
            .iter()
            .filter_map(|l| l.poll_timeout())
            .chain(lns.poll_timeout())
            .min();
        now = match next {
            Some(t) if t <= now + Duration::from_secs(1) => now.max(t),
            _ => now + Duration::from_millis(200),
        };
        assert!(
            now < base + Duration::from_secs(50),
            "setup stalled: {tups} tunnels, {ups} sessions"
        );
        for l in &mut lacs {
            l.handle_timeout(now);
        }
        lns.handle_timeout(now);
    }
    assert_eq!(lns.session_count(), sessions);
    assert_eq!(lns.active_tunnel_count(), tunnels);
    (lns, lacs)
}

/// Live bytes the engine holds: the drop in live bytes when it is dropped.
fn engine_bytes(base: Instant, tunnels: usize, sessions: usize) -> usize {
    let (lns, lacs) = build(base, tunnels, sessions);
    let before = live();
    drop(lns);
    let held = before - live();
    drop(lacs);
    held
}

fn main() {
    #[allow(clippy::disallowed_methods)] // the example is the driver
    let base = Instant::now();
    let mut args = std::env::args().skip(1);
    let tunnels: usize = args.next().map_or(10_000, |s| s.parse().expect("TUNNELS"));
    let sessions: usize = args
        .next()
        .map_or(100_000, |s| s.parse().expect("SESSIONS"));

    let before = live();
    let empty = Engine::new(lns_config(), Box::new(SplitMix64(11)));
    let empty_bytes = live() - before;
    drop(empty);

    let idle = engine_bytes(base, tunnels, 0);
    let full = engine_bytes(base, tunnels, sessions);
    let per_tunnel = (idle - empty_bytes) as f64 / tunnels as f64;
    let per_session = (full - idle) as f64 / sessions.max(1) as f64;
    println!("empty engine:            {empty_bytes} B");
    println!("{tunnels} idle tunnels:      {idle} B  -> {per_tunnel:.0} B per tunnel");
    println!("+ {sessions} sessions:     {full} B  -> {per_session:.0} B per session");
}
