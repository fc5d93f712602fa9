//! Control-plane setup rate: an LNS [`Engine`] and a [`Lac`] exchange
//! datagrams through an in-memory pipe (no sockets) under a fake clock that
//! only moves when both sides are waiting for a timer.
//!
//! One iteration: fresh engines, open `T` tunnels with `M` incoming calls
//! each, drive until the LNS has reported every `SessionUp`, then clear each
//! tunnel with a StopCCN from the LAC and drive until both sides have
//! forgotten everything (linger included). Throughput is in sessions, so
//! criterion reports session setups (and teardowns) per second; only
//! control messages are counted, no data.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use l2tpx_controlplane::l2tp::{CallParams, Config, Engine, Event, Lac, LacConfig, SplitMix64};

fn lac_addr() -> SocketAddr {
    SocketAddr::from(([198, 18, 0, 2], 1701))
}

fn lns_addr() -> SocketAddr {
    SocketAddr::from(([198, 18, 0, 1], 1701))
}

struct Rig {
    lns: Engine,
    lac: Lac,
    now: Instant,
    buf: Vec<u8>,
    lns_ups: usize,
    lns_tunnel_downs: usize,
    messages: u64,
}

impl Rig {
    fn new(now: Instant) -> Self {
        Self {
            lns: Engine::new(Config::default(), Box::new(SplitMix64(11))),
            lac: Lac::new(LacConfig::default(), Box::new(SplitMix64(7))),
            now,
            buf: vec![0u8; 4096],
            lns_ups: 0,
            lns_tunnel_downs: 0,
            messages: 0,
        }
    }

    /// Delivers everything both sides have to send, until both are quiet.
    fn pump(&mut self) {
        let (lac, lns) = (lac_addr(), lns_addr());
        loop {
            let mut moved = false;
            while let Some((_, n)) = self.lac.poll_transmit(self.now, &mut self.buf) {
                self.lns.handle(self.now, lac, &self.buf[..n]);
                self.messages += 1;
                moved = true;
            }
            while let Some((_, n)) = self.lns.poll_transmit(self.now, &mut self.buf) {
                self.lac.handle(self.now, lns, &self.buf[..n]);
                self.messages += 1;
                moved = true;
            }
            if !moved {
                break;
            }
        }
        while let Some(e) = self.lns.poll_event() {
            match e {
                Event::SessionUp(_) => self.lns_ups += 1,
                Event::TunnelDown { .. } => self.lns_tunnel_downs += 1,
                _ => {}
            }
        }
        while self.lac.poll_event().is_some() {}
    }

    /// Jumps the clock to the next timer of either side and runs it.
    fn tick(&mut self) -> bool {
        let next = match (self.lac.poll_timeout(), self.lns.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        self.now = self.now.max(next);
        self.lac.handle_timeout(self.now);
        self.lns.handle_timeout(self.now);
        true
    }
}

/// One full cycle; returns the control messages exchanged.
#[inline(never)]
fn cycle(base: Instant, tunnels: usize, sessions: usize) -> u64 {
    let mut r = Rig::new(base);
    let mut tids = Vec::with_capacity(tunnels);
    for _ in 0..tunnels {
        let tid = r.lac.open_tunnel(r.now, lns_addr()).expect("tunnel ID");
        for _ in 0..sessions {
            r.lac
                .place_call(r.now, tid, CallParams::default())
                .expect("call");
        }
        tids.push(tid);
    }
    let want = tunnels * sessions;
    let deadline = base + Duration::from_secs(60);
    loop {
        r.pump();
        if r.lns_ups == want {
            break;
        }
        assert!(
            r.tick() && r.now < deadline,
            "setup stalled at {}",
            r.lns_ups
        );
    }
    for tid in tids {
        r.lac.close_tunnel(r.now, tid, 1).expect("close");
    }
    loop {
        r.pump();
        if r.lac.tunnel_count() == 0 && r.lns.tunnel_count() == 0 {
            break;
        }
        assert!(r.tick(), "teardown stalled");
    }
    assert_eq!(r.lns_tunnel_downs, tunnels);
    r.messages
}

fn setups(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)] // the bench is the driver: it owns the clock
    let base = Instant::now();
    let mut g = c.benchmark_group("controlplane");
    for (t, m) in [(10usize, 100usize), (100, 10)] {
        g.throughput(Throughput::Elements((t * m) as u64));
        g.bench_with_input(
            BenchmarkId::new("setup_teardown", format!("{t}x{m}")),
            &(t, m),
            |b, &(t, m)| b.iter(|| black_box(cycle(base, t, m))),
        );
    }
    g.finish();
}

criterion_group!(benches, setups);
criterion_main!(benches);
