//! The manager over an in-memory L2TP pair: [`LacPeer`] (Lac + a PppClient
//! per call) ↔ Engine + SessionManager, on a fake clock.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_table::template::{build_template, TemplateParams};
use l2tpx_wire::ppp::chap_md5_response;

use super::testing::{lns_flush, lns_receive, LacPeer, PeerEvent};
use super::*;
use crate::l2tp::{CallParams, Config, Engine, LacConfig, ProxyAvps, SplitMix64};
use crate::ppp::client::ClientConfig;
use crate::ppp::ipcp::IpcpConfig;
use crate::ppp::lcp::{AuthMethod, LcpConfig};

const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 0);
const POOL_LAST: Ipv4Addr = Ipv4Addr::new(198, 18, 127, 255);
const LAC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xac];
const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x15];

fn lac_addr() -> SocketAddr {
    "198.18.251.10:1701".parse().unwrap()
}

fn lns_addr() -> SocketAddr {
    "198.18.251.1:1701".parse().unwrap()
}

fn ppp_config(auth: &[AuthMethod]) -> PppConfig {
    PppConfig {
        lcp: LcpConfig {
            auth: auth.to_vec(),
            ..LcpConfig::default()
        },
        ipcp: IpcpConfig {
            local_address: GATEWAY,
            dns: [Some(Ipv4Addr::new(198, 18, 251, 53)), None],
            nbns: [None, None],
        },
        ..PppConfig::default()
    }
}

fn manager_config(ppp: PppConfig) -> ManagerConfig {
    let users = LocalUsers::parse(
        "user pass\nstatic pw 198.18.200.7 198.18.251.99\npooluser poolpass\n",
        "users",
    )
    .unwrap();
    ManagerConfig {
        ppp: Arc::new(ppp),
        users,
        pools: vec![PoolConfig {
            name: DEFAULT_POOL.into(),
            first: POOL_FIRST,
            last: POOL_LAST,
        }],
        local: lns_addr(),
        ..ManagerConfig::default()
    }
}

fn neighbours() -> FixedNeighbours {
    let n = Neighbour {
        peer_mac: LAC_MAC,
        our_mac: OUR_MAC,
        local_addr: Ipv4Addr::new(198, 18, 251, 1),
    };
    FixedNeighbours {
        map: HashMap::new(),
        default: n,
        resolved: 0,
    }
}

type Mgr = SessionManager<MemoryTable, FixedNeighbours>;

struct World {
    now: Instant,
    peer: LacPeer,
    lns: Engine,
    mgr: Mgr,
    buf: Vec<u8>,
    peer_events: Vec<PeerEvent>,
    mgr_events: Vec<ManagerEvent>,
}

impl World {
    fn new(cfg: ManagerConfig) -> Self {
        let now = t0();
        let lns = Engine::new(
            Config {
                bank_bits: cfg.bank_bits,
                ..Config::default()
            },
            Box::new(SplitMix64(1)),
        );
        let mgr = SessionManager::new(
            cfg,
            MemoryTable::default(),
            neighbours(),
            Box::new(SplitMix64(2)),
        );
        let client = ClientConfig {
            username: b"user".to_vec(),
            password: b"pass".to_vec(),
            ..ClientConfig::default()
        };
        World {
            now,
            peer: LacPeer::new(LacConfig::default(), client, Box::new(SplitMix64(3))),
            lns,
            mgr,
            buf: vec![0; 65_536],
            peer_events: Vec::new(),
            mgr_events: Vec::new(),
        }
    }

    /// Moves everything that is ready; true if anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        while let Some((to, bytes)) = self.peer.poll_transmit(now) {
            assert_eq!(to, lns_addr());
            moved = true;
            lns_receive(&mut self.lns, &mut self.mgr, now, lac_addr(), &bytes);
        }
        let peer = &mut self.peer;
        moved |= lns_flush(&mut self.lns, &mut self.mgr, now, &mut self.buf, |to, b| {
            assert_eq!(to, lac_addr());
            peer.handle(now, lns_addr(), b);
        });
        while let Some(e) = self.peer.poll_event() {
            self.peer_events.push(e);
            moved = true;
        }
        while let Some(e) = self.mgr.poll_event() {
            self.mgr_events.push(e);
        }
        moved
    }

    /// Runs for `d` of fake time.
    fn drive(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            while self.step() {}
            let next = [
                self.peer.poll_timeout(),
                self.lns.poll_timeout(),
                self.mgr.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.peer.handle_timeout(now);
                    self.lns.handle_timeout(now);
                    self.mgr.handle_timeout(now);
                }
                _ => {
                    self.now = end;
                    while self.step() {}
                    return;
                }
            }
        }
    }

    fn tunnel(&mut self) -> u16 {
        let tid = self.peer.open_tunnel(self.now, lns_addr()).unwrap();
        self.drive(Duration::from_millis(10));
        assert!(self.peer_events.contains(&PeerEvent::TunnelUp(tid)));
        tid
    }

    fn ip_ups(&self) -> Vec<(SessionKey, Ipv4Addr)> {
        self.peer_events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::IpUp { key, address } => Some((*key, *address)),
                _ => None,
            })
            .collect()
    }

    fn call_downs(&self) -> Vec<(SessionKey, u16)> {
        self.peer_events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::CallDown { key, cause } => Some((*key, cause.result)),
                _ => None,
            })
            .collect()
    }

    fn mgr_downs(&self) -> Vec<SessionEndCause> {
        self.mgr_events
            .iter()
            .filter_map(|e| match e {
                ManagerEvent::Down { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect()
    }
}

/// Some base instant (the clock is for drivers; the fake clock starts here).
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

#[test]
fn hundred_sessions_chap_local_reach_ip_up_and_are_published() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let mut keys = Vec::new();
    for i in 0..100u32 {
        let params = CallParams {
            calling_number: Some(format!("555{i:04}").into_bytes()),
            ..CallParams::default()
        };
        keys.push(w.peer.place_call(w.now, tid, params, None).unwrap());
    }
    w.drive(Duration::from_secs(5));
    // (Clients whose first LCP frame overtook their ICCN, still queued in
    // the LAC's send window, retransmit it: data messages are not windowed.)
    let ups = w.ip_ups();
    assert_eq!(ups.len(), 100, "events: {:?}", &w.peer_events[..5]);
    assert_eq!(w.mgr.stats().ip_up, 100);
    assert_eq!(w.mgr.stats().auth_accepts, 100);
    let table = w.mgr.table();
    assert_eq!(table.entries.len(), 100);
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384 - 100));
    for (lac_key, address) in ups {
        assert!(address >= POOL_FIRST && address <= POOL_LAST);
        assert_eq!(w.peer.client(lac_key).unwrap().address(), address);
        let e = table
            .entries
            .values()
            .find(|e| e.session.subscriber_v4 == Some(address))
            .expect("published with the client's address");
        let s = &e.session;
        // The LAC's IDs are the peer IDs in the table; ours index the slot.
        assert_eq!(s.peer_tunnel_id, lac_key.tunnel_id);
        assert_eq!(s.peer_session_id, lac_key.session_id);
        assert_eq!(
            s.slot,
            l2tpx_table::slot_index(s.our_tunnel_id, s.our_session_id, 4)
        );
        assert_eq!(s.peer_addr, Ipv4Addr::new(198, 18, 251, 10));
        assert_eq!(s.peer_port, 1701);
        assert!(!s.sequencing);
        assert_eq!(s.mtu, 1400, "the client's MRU");
        let (t, len, off) = build_template(&TemplateParams {
            peer_mac: LAC_MAC,
            our_mac: OUR_MAC,
            vlan_tci: None,
            local_addr: Ipv4Addr::new(198, 18, 251, 1),
            peer_addr: Ipv4Addr::new(198, 18, 251, 10),
            local_port: 1701,
            peer_port: 1701,
            peer_tunnel_id: lac_key.tunnel_id,
            peer_session_id: lac_key.session_id,
            with_length: false,
            sequencing: false,
        });
        assert_eq!((s.template, s.template_len, s.l2tp_offset), (t, len, off));
    }
    // Every one has an Acct-Session-Id and a distinct address.
    let mut addrs: Vec<_> = table
        .entries
        .values()
        .map(|e| e.session.subscriber_v4)
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 100);
    // They stay up through LCP echoes.
    w.drive(Duration::from_secs(60));
    assert_eq!(w.mgr.table().entries.len(), 100);
    assert!(w.call_downs().is_empty());
}

/// The LAC's MACs are resolved once per `NEIGHBOUR_TTL`, not per session;
/// a changed answer reaches sessions that come up after the TTL.
#[test]
fn neighbours_are_resolved_once_per_ttl() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    // One at a time (a call's LCP can overtake its queued ICCN otherwise,
    // and then waits for a retransmission), all within one TTL.
    for _ in 0..10 {
        w.peer
            .place_call(w.now, tid, CallParams::default(), None)
            .unwrap();
        w.drive(Duration::from_millis(50));
    }
    assert_eq!(w.ip_ups().len(), 10);
    assert_eq!(w.mgr.neighbours_mut().resolved, 1);

    let new_mac = [2, 0, 0, 0, 0, 0x99];
    w.mgr.neighbours_mut().default.peer_mac = new_mac;
    w.drive(NEIGHBOUR_TTL);
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_millis(200));
    assert_eq!(w.mgr.neighbours_mut().resolved, 2);
    let addr = w.peer.client(key).unwrap().address();
    let e = w
        .mgr
        .table()
        .entries
        .values()
        .find(|e| e.session.subscriber_v4 == Some(addr))
        .expect("published");
    assert_eq!(&e.session.template[..6], &new_mac, "destination MAC");
}

#[test]
fn pap_and_static_address_with_user_dns() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::Pap])));
    let tid = w.tunnel();
    let client = ClientConfig {
        username: b"static".to_vec(),
        password: b"pw".to_vec(),
        ..ClientConfig::default()
    };
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), Some(client))
        .unwrap();
    w.drive(Duration::from_secs(5));
    assert_eq!(w.ip_ups(), vec![(key, Ipv4Addr::new(198, 18, 200, 7))]);
    // The static address does not come from the pool.
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384));
    assert_eq!(w.mgr.table().entries.len(), 1);
    // And a plain PAP user from the pool.
    let k2 = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    assert_eq!(w.ip_ups()[1], (k2, POOL_FIRST));
}

#[test]
fn auth_failure_sends_a_cdn_and_publishes_nothing() {
    for auth in [AuthMethod::ChapMd5, AuthMethod::Pap] {
        let mut w = World::new(manager_config(ppp_config(&[auth])));
        let tid = w.tunnel();
        let bad = ClientConfig {
            username: b"user".to_vec(),
            password: b"wrong".to_vec(),
            ..ClientConfig::default()
        };
        let key = w
            .peer
            .place_call(w.now, tid, CallParams::default(), Some(bad))
            .unwrap();
        w.drive(Duration::from_secs(5));
        assert!(
            w.peer_events.contains(&PeerEvent::AuthFailed(key)),
            "{auth:?}"
        );
        assert_eq!(w.call_downs(), vec![(key, 3)], "{auth:?}: CDN result 3");
        assert!(w.mgr.table().entries.is_empty());
        assert_eq!(w.mgr.table().publishes, 0);
        assert_eq!(w.mgr.session_count(), 0);
        assert_eq!(w.lns.session_count(), 0);
        assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384));
        assert_eq!(w.mgr_downs(), vec![SessionEndCause::AuthenticationFailed]);
    }
}

#[test]
fn echo_timeout_ends_withdraws_and_releases() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    let other = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    assert_eq!(w.ip_ups().len(), 2);
    w.peer.mute(key);
    w.drive(Duration::from_secs(60));
    assert_eq!(w.call_downs(), vec![(key, 1)], "CDN result 1: lost carrier");
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::LcpEchoTimeout]);
    assert_eq!(w.mgr.table().entries.len(), 1, "the other stays");
    assert_eq!(w.mgr.table().withdrawals, 1);
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384 - 1));
    assert!(w.peer.client(other).is_some());
}

#[test]
fn lac_cdn_withdraws_and_reports_counters() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    assert_eq!(w.ip_ups().len(), 1);
    let slot = *w.mgr.table().entries.keys().next().unwrap();
    let c = l2tpx_table::SessionCounters {
        up_packets: 10,
        up_bytes: 1000,
        down_packets: 20,
        down_bytes: 30_000,
    };
    w.mgr.table_mut().counters.insert(slot, c);
    w.peer.hang_up(w.now, key, 1).unwrap();
    w.drive(Duration::from_secs(2));
    assert!(w.mgr.table().entries.is_empty());
    assert_eq!(w.mgr.session_count(), 0);
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384));
    let down = w.mgr_events.iter().find_map(|e| match e {
        ManagerEvent::Down {
            cause, counters, ..
        } => Some((*cause, *counters)),
        _ => None,
    });
    assert_eq!(
        down,
        Some((
            SessionEndCause::PeerCallDisconnect,
            SessionCounters {
                input_octets: 1000,
                output_octets: 30_000,
                input_packets: 10,
                output_packets: 20,
            }
        ))
    );
}

#[test]
fn lac_stopccn_ends_every_session() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    for _ in 0..5 {
        w.peer
            .place_call(w.now, tid, CallParams::default(), None)
            .unwrap();
    }
    w.drive(Duration::from_secs(5));
    assert_eq!(w.mgr.table().entries.len(), 5);
    w.peer.lac.close_tunnel(w.now, tid, 1).unwrap();
    w.drive(Duration::from_secs(5));
    assert!(w.mgr.table().entries.is_empty());
    assert_eq!(w.mgr.session_count(), 0);
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(16384));
}

#[test]
fn pool_exhaustion_refuses_with_cdn_4() {
    let mut cfg = manager_config(ppp_config(&[AuthMethod::ChapMd5]));
    cfg.pools[0].last = POOL_FIRST;
    let mut w = World::new(cfg);
    let tid = w.tunnel();
    let a = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    let b = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    assert_eq!(w.ip_ups(), vec![(a, POOL_FIRST)]);
    assert_eq!(w.call_downs(), vec![(b, 4)]);
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::ResourcesExhausted]);
}

#[test]
fn admin_disconnect_terminates_ppp_then_cdn() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    let our = match &w.mgr_events[0] {
        ManagerEvent::IpUp { key, .. } => *key,
        e => panic!("{e:?}"),
    };
    assert!(w
        .mgr
        .disconnect(w.now, our, SessionEndCause::DynamicAuthDisconnect));
    w.drive(Duration::from_secs(2));
    assert!(
        w.peer_events.contains(&PeerEvent::PppDown(key)),
        "LCP Terminate reached the client"
    );
    assert_eq!(w.call_downs(), vec![(key, 3)]);
    assert!(w.mgr.table().entries.is_empty());
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::DynamicAuthDisconnect]);
    assert!(!w.mgr.disconnect(w.now, our, SessionEndCause::AdminReset));
}

#[test]
fn session_timeout_from_coa_ends_the_session() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    let our = match &w.mgr_events[0] {
        ManagerEvent::IpUp { key, .. } => *key,
        e => panic!("{e:?}"),
    };
    assert!(w.mgr.apply_coa(
        w.now,
        our,
        CoaChanges {
            session_timeout: Some(30),
            ..CoaChanges::default()
        }
    ));
    w.drive(Duration::from_secs(20));
    assert!(w.call_downs().is_empty());
    w.drive(Duration::from_secs(20));
    assert_eq!(w.call_downs(), vec![(key, 3)]);
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::SessionTimeout]);
}

#[test]
fn idle_timeout_watches_the_upstream_counters() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    let key = w
        .peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    let (our, slot) = match &w.mgr_events[0] {
        ManagerEvent::IpUp { key, slot, .. } => (*key, *slot),
        e => panic!("{e:?}"),
    };
    assert!(w.mgr.apply_coa(
        w.now,
        our,
        CoaChanges {
            idle_timeout: Some(30),
            ..CoaChanges::default()
        }
    ));
    // Traffic every 10 s keeps it up.
    for i in 1..=6u64 {
        w.mgr.table_mut().counters.insert(
            slot,
            l2tpx_table::SessionCounters {
                up_packets: i,
                ..Default::default()
            },
        );
        w.drive(Duration::from_secs(10));
    }
    assert!(w.call_downs().is_empty());
    w.drive(Duration::from_secs(45));
    assert_eq!(w.call_downs(), vec![(key, 3)]);
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::IdleTimeout]);
}

#[test]
fn proxy_lcp_and_proxy_chap_skip_negotiation() {
    let mut ppp = ppp_config(&[AuthMethod::ChapMd5]);
    ppp.accept_proxy_lcp = true;
    ppp.accept_proxy_auth = true;
    let mut w = World::new(manager_config(ppp));
    let tid = w.tunnel();
    let challenge = vec![0x5a; 16];
    let response = chap_md5_response(7, b"poolpass", &challenge);
    // LAC's sent CONFREQ: MRU 1456, auth CHAP-MD5, magic; peer's: MRU
    // 1400, magic.
    let mut sent = vec![0x01, 0x04, 0x05, 0xb0, 0x03, 0x05, 0xc2, 0x23, 0x05];
    sent.extend_from_slice(&[5, 6, 0x11, 0x22, 0x33, 0x44]);
    let received = vec![0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0xdd, 0xec, 0x33, 0x3b];
    let params = CallParams {
        proxy: ProxyAvps {
            initial_received_lcp_confreq: Some(received.clone()),
            last_sent_lcp_confreq: Some(sent),
            last_received_lcp_confreq: Some(received),
            authen_type: Some(2),
            authen_name: Some(b"pooluser".to_vec()),
            authen_challenge: Some(challenge),
            authen_id: Some(7),
            authen_response: Some(response.to_vec()),
        },
        ..CallParams::default()
    };
    w.peer.place_call(w.now, tid, params, None).unwrap();
    // Only up to ICCN: look at the manager's session before the client
    // (which starts its own LCP) says anything.
    for _ in 0..20 {
        let now = w.now;
        while let Some((_, bytes)) = w.peer.poll_transmit(now) {
            if bytes[0] & 0x80 != 0 {
                w.lns.handle(now, lac_addr(), &bytes);
            }
        }
        while let Some((_, n)) = w.lns.poll_transmit(now, &mut w.buf) {
            let b = w.buf[..n].to_vec();
            w.peer.lac.handle(now, lns_addr(), &b);
        }
        while let Some(ev) = w.lns.poll_event() {
            w.mgr.handle_event(now, &ev);
        }
    }
    assert_eq!(w.mgr.session_count(), 1);
    let mut frames = Vec::new();
    while let Some((_, m)) = w.mgr.poll_transmit() {
        frames.push(m);
    }
    let key = *w.mgr.sessions.keys().next().unwrap();
    let ppp = w.mgr.ppp(key).unwrap();
    assert!(ppp.proxy_lcp_used());
    assert_eq!(ppp.username(), Some(&b"pooluser"[..]));
    assert_eq!(ppp.peer_ipv4(), Some(POOL_FIRST));
    // No LCP Configure-Request, no Challenge: CHAP Success, then IPCP.
    let protos: Vec<[u8; 3]> = frames
        .iter()
        .map(|m| {
            let h = l2tpx_wire::l2tp::DataHeader::parse(m).unwrap();
            let p = h.payload(m);
            [p[2], p[3], p[4]]
        })
        .collect();
    assert_eq!(protos, vec![[0xc2, 0x23, 3], [0x80, 0x21, 1]]);
}

#[test]
fn data_for_unknown_sessions_or_from_other_peers_is_counted() {
    let mut w = World::new(manager_config(ppp_config(&[AuthMethod::ChapMd5])));
    let tid = w.tunnel();
    w.peer
        .place_call(w.now, tid, CallParams::default(), None)
        .unwrap();
    w.drive(Duration::from_secs(5));
    let s = w.mgr.table().entries.values().next().unwrap().session;
    let msg = encode_data(
        s.our_tunnel_id,
        s.our_session_id,
        None,
        &[0xff, 3, 0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0],
    );
    w.mgr
        .handle_data(w.now, "198.18.251.99:1701".parse().unwrap(), &msg);
    w.mgr
        .handle_data(w.now, lac_addr(), &encode_data(999, 1, None, &[0xff, 3]));
    w.mgr.handle_data(w.now, lac_addr(), &[0xc8]);
    let st = w.mgr.stats();
    assert_eq!((st.data_unknown, st.data_malformed), (2, 1));
    assert_eq!(w.mgr.stats().sessions_created, 1);
}

#[test]
fn dae_lookup_matches_every_present_field() {
    let mut idx = SessionIndex::default();
    let k = |s| SessionKey {
        tunnel_id: 1,
        session_id: s,
    };
    idx.insert(
        k(1),
        IndexRec {
            acct_id: "A-1".into(),
            user: "alice".into(),
            ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
        },
    );
    idx.insert(
        k(2),
        IndexRec {
            acct_id: "A-2".into(),
            user: "alice".into(),
            ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
        },
    );
    let q = |a: Option<&str>, u: Option<&str>, ip: Option<Ipv4Addr>| SessionQuery {
        acct_session_id: a.map(Into::into),
        user_name: u.map(Into::into),
        framed_ip_address: ip,
    };
    assert_eq!(idx.lookup(&q(Some("A-2"), None, None)), vec![k(2)]);
    assert_eq!(idx.lookup(&q(Some("A-2"), Some("bob"), None)), vec![]);
    assert_eq!(idx.lookup(&q(None, Some("alice"), None)), vec![k(1), k(2)]);
    assert_eq!(
        idx.lookup(&q(None, Some("alice"), Some(Ipv4Addr::new(10, 0, 0, 1)))),
        vec![k(1)]
    );
    idx.remove(k(1));
    assert_eq!(idx.lookup(&q(Some("A-1"), None, None)), vec![]);
}

/// A control-plane restart, sans-IO: the journal records the manager and
/// the engine produce are replayed into a fresh engine and manager over the
/// same table. Of three sessions, two are in the table and resume (the
/// LAC notices nothing for two minutes of keepalives, its HELLO is
/// acknowledged, a hang-up ends one normally); one lost its table entry
/// and is ended cleanly (CDN once the tunnel resynchronised, its address
/// back in the pool); an entry nobody journalled is withdrawn.
#[test]
fn sessions_resume_after_a_control_plane_restart() {
    use crate::persist::journal::{self, Journal, Record, Replayed, TunnelRecord};
    let cfg = manager_config(ppp_config(&[AuthMethod::ChapMd5]));
    let mut w = World::new(cfg.clone());
    let unix0 = 1_700_000_000;
    let start = w.now;
    w.mgr.set_wall_clock(start, unix0);
    let tid = w.tunnel();
    for _ in 0..3 {
        w.peer
            .place_call(w.now, tid, CallParams::default(), None)
            .unwrap();
    }
    w.drive(Duration::from_secs(10));
    assert_eq!(w.ip_ups().len(), 3);
    let lns_keys: Vec<SessionKey> = w
        .mgr_events
        .iter()
        .filter_map(|e| match e {
            ManagerEvent::IpUp { key, .. } => Some(*key),
            _ => None,
        })
        .collect();
    let lns_tid = lns_keys[0].tunnel_id;
    // The journal, as the driver writes it.
    let dir = l2tpx_tests::peers::TempDir::new("resume").unwrap();
    let path = dir.path().join("state");
    let mut j = Journal::create(&path, &Replayed::default()).unwrap();
    j.append(&Record::TunnelUp(TunnelRecord {
        tunnel_id: lns_tid,
        peer_tunnel_id: tid,
        peer: lac_addr(),
        peer_rws: w.lns.peer_rws(lns_tid).unwrap(),
        host_name: b"lac".to_vec(),
    }));
    while let Some(r) = w.mgr.poll_journal() {
        j.append(&r);
    }
    j.flush().unwrap();
    let (state, rep) = journal::load(&path).unwrap();
    assert_eq!(
        (state.tunnels.len(), state.sessions.len(), rep.records),
        (1, 3, 4)
    );
    let elapsed = (w.now - start).as_secs();
    assert!(state
        .sessions
        .iter()
        .all(|s| (unix0..=unix0 + elapsed).contains(&s.acct_start_unix)));
    // The restart. The table keeps two of the sessions, and an entry no
    // journal knows of.
    w.drive(Duration::from_secs(30));
    let mut table = w.mgr.table().clone();
    let lost = state.sessions[2].clone();
    table.entries.remove(&lost.slot);
    let mut stray = table.entries[&state.sessions[0].slot];
    stray.session.our_session_id = 999;
    stray.session.slot = l2tpx_table::slot_index(lns_tid, 999, u32::from(cfg.bank_bits));
    stray.session.subscriber_v4 = Some(Ipv4Addr::new(198, 18, 100, 1));
    table.entries.insert(stray.session.slot, stray);
    let plan = crate::persist::reconcile(&state, table.entries.values().copied());
    w.lns = Engine::new(
        Config {
            bank_bits: cfg.bank_bits,
            ..Config::default()
        },
        Box::new(SplitMix64(21)),
    );
    w.mgr = SessionManager::new(cfg, table, neighbours(), Box::new(SplitMix64(22)));
    w.mgr_events.clear();
    let unix_now = unix0 + (w.now - start).as_secs();
    let r = crate::persist::resume(plan, w.now, unix_now, &mut w.lns, &mut w.mgr);
    assert_eq!(
        (
            r.tunnels,
            r.sessions,
            r.ended,
            r.withdrawn,
            r.lost,
            r.failed
        ),
        (1, 2, 1, 1, 0, 0)
    );
    assert_eq!(r.state.sessions, state.sessions[..2].to_vec());
    assert!(!w.mgr.table().entries.contains_key(&stray.session.slot));
    assert_eq!(w.mgr.table().entries.len(), 2);
    let pool_size = (u32::from(POOL_LAST) - u32::from(POOL_FIRST) + 1) as usize;
    // The lost session is ended at once (its address back in the pool).
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(pool_size - 2));
    // Two minutes: keepalives both ways, the lost session's CDN goes out
    // once the tunnel has resynchronised (the probe after the hello
    // interval), nothing else goes down.
    w.drive(Duration::from_secs(120));
    let lost_lac_key = SessionKey {
        tunnel_id: tid,
        session_id: lost.peer_session_id,
    };
    assert_eq!(
        w.call_downs(),
        vec![(lost_lac_key, 3)],
        "{:?}",
        w.peer_events
    );
    assert_eq!(w.mgr_downs(), vec![SessionEndCause::NasReboot]);
    assert_eq!(w.mgr.session_count(), 2);
    assert_eq!(w.mgr.pool_available(DEFAULT_POOL), Some(pool_size - 2));
    let kept: Vec<SessionKey> = w
        .ip_ups()
        .iter()
        .map(|u| u.0)
        .filter(|k| *k != lost_lac_key)
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(!w
        .peer_events
        .iter()
        .any(|e| matches!(e, PeerEvent::PppDown(k) if kept.contains(k))));
    w.peer.lac.send_hello(w.now, tid).unwrap();
    w.drive(Duration::from_secs(2));
    assert_eq!(w.peer.lac.unacknowledged(tid), Some(0));
    // A hang-up ends a resumed session normally and journals it.
    while w.mgr.poll_journal().is_some() {}
    w.peer.hang_up(w.now, kept[0], 3).unwrap();
    w.drive(Duration::from_secs(2));
    assert_eq!(
        w.mgr_downs(),
        vec![
            SessionEndCause::NasReboot,
            SessionEndCause::PeerCallDisconnect
        ]
    );
    assert_eq!(w.mgr.table().entries.len(), 1);
    assert!(matches!(
        w.mgr.poll_journal(),
        Some(Record::SessionDown { .. })
    ));
    assert_eq!(w.mgr.stats().resumed, 3);
}
