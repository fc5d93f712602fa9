//! Heap per session, measured: a sans-IO setup of N sessions through the
//! real [`Engine`] + [`SessionManager`], driven by one [`LacPeer`] per
//! tunnel on a fake clock, with a table sink that keeps nothing. Used by
//! `examples/session_memory.rs` and the bound in `tests/session_memory.rs`,
//! which count the heap with `examples/common/counting.rs` (the library
//! has no unsafe code, so the allocator lives there).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::testing::{lns_flush, lns_receive, LacPeer, PeerEvent};
use super::{FixedNeighbours, ManagerConfig, Neighbour, SessionManager, TableSink, DEFAULT_POOL};
use crate::l2tp::{CallParams, Config, Engine, LacConfig, Limits, SplitMix64};
use crate::persist::journal::Record;
use crate::ppp::client::ClientConfig;
use l2tpx_table::SessionCounters;

/// A table that keeps nothing (the real one is shared memory, not heap).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullTable {
    /// Sessions published and not withdrawn.
    pub published: usize,
}

impl TableSink for NullTable {
    fn publish(&mut self, _entry: l2tpx_table::SessionEntry) -> Result<(), String> {
        self.published += 1;
        Ok(())
    }

    fn withdraw(&mut self, _slot: u32) {
        self.published = self.published.saturating_sub(1);
    }

    fn counters(&self, _slot: u32) -> SessionCounters {
        SessionCounters::default()
    }
}

/// The manager under measurement.
pub type Manager = SessionManager<NullTable, FixedNeighbours>;

/// The LNS's address in the setup.
pub const LNS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 1701);

/// The address of the LAC of tunnel `i`.
pub fn lac_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 18, 1 + (i / 250) as u8, 1 + (i % 250) as u8], 1701))
}

/// The LNS side after setup, and the LACs.
pub struct Established {
    /// The fake clock's now.
    pub now: Instant,
    /// The LNS's L2TP engine.
    pub lns: Engine,
    /// The LNS's session manager.
    pub mgr: Manager,
    /// One LAC per tunnel.
    pub lacs: Vec<LacPeer>,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("sessions", &self.mgr.session_count())
            .finish_non_exhaustive()
    }
}

/// The LNS engine's settings for many tunnels at once.
pub fn engine_config(bank_bits: u8) -> Config {
    Config {
        bank_bits,
        limits: Limits {
            max_half_open: 1 << 20,
            max_half_open_per_peer: 1 << 20,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// Manager settings as the bench's: local users ("user"/"pass"), CHAP
/// then PAP, one pool of 2^18 addresses, table bank bits 0.
pub fn manager_config() -> ManagerConfig {
    let users = super::LocalUsers::parse("user pass\n", "users").expect("users");
    let mut ppp = crate::ppp::session::PppConfig::default();
    ppp.lcp.auth = vec![
        crate::ppp::lcp::AuthMethod::ChapMd5,
        crate::ppp::lcp::AuthMethod::Pap,
    ];
    ppp.ipcp.local_address = Ipv4Addr::new(198, 18, 0, 1);
    ManagerConfig {
        ppp: std::sync::Arc::new(ppp),
        users,
        pools: vec![super::PoolConfig {
            name: DEFAULT_POOL.into(),
            first: Ipv4Addr::new(198, 19, 0, 0),
            last: Ipv4Addr::new(198, 19, 255, 255),
        }],
        local: LNS,
        bank_bits: 0,
        ..ManagerConfig::default()
    }
}

fn neighbours() -> FixedNeighbours {
    FixedNeighbours {
        map: HashMap::new(),
        default: Neighbour {
            peer_mac: [2, 0, 0, 0, 0, 0xac],
            our_mac: [2, 0, 0, 0, 0, 0x15],
            local_addr: Ipv4Addr::new(198, 18, 0, 1),
        },
        resolved: 0,
    }
}

/// Brings up `sessions` subscribers (CHAP, IPCP up, published) over
/// `tunnels` tunnels, as the bench's LACs do (Calling/Called Number set),
/// then lets the delayed acknowledgements go out. Journal records go to
/// `journal` as the driver's would. Panics if setup stalls.
pub fn establish(
    base: Instant,
    tunnels: usize,
    sessions: usize,
    cfg: ManagerConfig,
    journal: &mut dyn FnMut(Record),
) -> Established {
    assert!(tunnels > 0 && sessions.div_ceil(tunnels) < 65_535);
    let lns = Engine::new(engine_config(cfg.bank_bits), Box::new(SplitMix64(11)));
    let mgr = SessionManager::new(cfg, NullTable::default(), neighbours(), {
        Box::new(SplitMix64(12))
    });
    let client = ClientConfig {
        username: b"user".to_vec(),
        password: b"pass".to_vec(),
        ..ClientConfig::default()
    };
    let lacs = (0..tunnels)
        .map(|i| {
            LacPeer::new(
                LacConfig::default(),
                client.clone(),
                Box::new(SplitMix64(100 + i as u64)),
            )
        })
        .collect();
    let mut w = Established {
        now: base,
        lns,
        mgr,
        lacs,
    };
    let mut tids = Vec::with_capacity(tunnels);
    for l in &mut w.lacs {
        tids.push(l.open_tunnel(base, LNS).expect("tunnel ID"));
    }
    for i in 0..sessions {
        let t = i % tunnels;
        let params = CallParams {
            calling_number: Some(format!("bench-{i}").into_bytes()),
            called_number: Some(b"l2tpx".to_vec()),
            ..CallParams::default()
        };
        w.lacs[t]
            .place_call(base, tids[t], params, None)
            .expect("call");
    }
    let mut ups = 0usize;
    let mut quiet_since: Option<Instant> = None;
    loop {
        while w.step(journal, &mut ups) {}
        if ups == sessions {
            // Let the delayed ACKs (100 ms) go out, well before any HELLO.
            match quiet_since {
                Some(q) if w.now >= q + Duration::from_secs(1) => break,
                Some(_) => {}
                None => quiet_since = Some(w.now),
            }
        }
        let next = w
            .lacs
            .iter()
            .filter_map(LacPeer::poll_timeout)
            .chain(w.lns.poll_timeout())
            .chain(w.mgr.poll_timeout())
            .min();
        w.now = match next {
            Some(t) if t <= w.now + Duration::from_millis(200) => w.now.max(t),
            _ => w.now + Duration::from_millis(200),
        };
        assert!(
            w.now < base + Duration::from_secs(60),
            "setup stalled: {ups} of {sessions} sessions up"
        );
        let now = w.now;
        for l in &mut w.lacs {
            l.handle_timeout(now);
        }
        w.lns.handle_timeout(now);
        w.mgr.handle_timeout(now);
    }
    assert_eq!(w.mgr.session_count(), sessions);
    assert_eq!(w.mgr.table().published, sessions);
    w
}

impl Established {
    /// Moves everything that is ready; true if anything moved.
    fn step(&mut self, journal: &mut dyn FnMut(Record), ups: &mut usize) -> bool {
        let now = self.now;
        let mut moved = false;
        for (i, lac) in self.lacs.iter_mut().enumerate() {
            while let Some((_, bytes)) = lac.poll_transmit(now) {
                moved = true;
                lns_receive(&mut self.lns, &mut self.mgr, now, lac_addr(i), &bytes);
            }
            while let Some(e) = lac.poll_event() {
                if let PeerEvent::IpUp { .. } = e {
                    *ups += 1;
                }
            }
        }
        let mut buf = [0u8; 4096];
        let lacs = &mut self.lacs;
        moved |= lns_flush(&mut self.lns, &mut self.mgr, now, &mut buf, |to, b| {
            let i = (0..lacs.len())
                .find(|&i| lac_addr(i) == to)
                .expect("known LAC");
            lacs[i].handle(now, LNS, b);
        });
        while let Some(r) = self.mgr.poll_journal() {
            journal(r);
        }
        while self.mgr.poll_event().is_some() {}
        moved
    }
}
