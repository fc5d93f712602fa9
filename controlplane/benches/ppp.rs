//! Full PPP bring-ups in memory: LCP, CHAP-MD5 with local authentication,
//! IPCP with an address from a local pool, then teardown. The LNS side is
//! `PppSession`; the peer is the test and bench client `PppClient`. Frames
//! are handed across directly, so this is the control plane's PPP cost
//! alone (no L2TP, no sockets). Target (issue 4): ≥ 100,000 bring-ups/s.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2tpx_controlplane::ppp::auth::LocalVerifier;
use l2tpx_controlplane::ppp::client::{ClientConfig, PppClient};
use l2tpx_controlplane::ppp::ipcp::{IpcpConfig, Ipv4Pool};
use l2tpx_controlplane::ppp::lcp::{AuthMethod, LcpConfig};
use l2tpx_controlplane::ppp::session::{DownCause, PppConfig, PppEvent, PppSession};

const BRING_UPS: u64 = 1_000;

fn seed(n: u64) -> [u8; 16] {
    let mut s = [0; 16];
    s[..8].copy_from_slice(&n.to_be_bytes());
    s
}

struct World {
    cfg: Arc<PppConfig>,
    client: ClientConfig,
    verifier: LocalVerifier,
    pool: Ipv4Pool,
}

/// Brings `BRING_UPS` sessions to IPCP Opened and closes them again;
/// returns the frames exchanged.
fn bring_ups(w: &mut World, base: Instant, round: u64) -> usize {
    let mut frames = 0;
    let mut up = Vec::with_capacity(BRING_UPS as usize);
    for i in 0..BRING_UPS {
        let n = round * BRING_UPS + i;
        let now = base + Duration::from_micros(n);
        let mut lns = PppSession::new(w.cfg.clone(), seed(n), now);
        let mut cl = PppClient::new(w.client.clone(), seed(!n), now);
        let mut ipcp_up = false;
        loop {
            let mut any = false;
            while let Some(f) = lns.poll_transmit() {
                cl.handle_frame(now, &f);
                frames += 1;
                any = true;
            }
            while let Some(f) = cl.poll_transmit() {
                lns.handle_frame(now, &f);
                frames += 1;
                any = true;
            }
            while let Some(e) = lns.poll_event() {
                any = true;
                match e {
                    PppEvent::AuthRequest(r) => {
                        let ok = w.verifier.verify(&r);
                        assert!(lns.assign_from(&mut w.pool));
                        lns.auth_result(now, r.id, ok, b"");
                    }
                    PppEvent::Ipv4Up { .. } => ipcp_up = true,
                    _ => {}
                }
            }
            if !any {
                break;
            }
        }
        assert!(ipcp_up, "bring-up {n} did not reach IPCP Opened");
        up.push(lns);
    }
    let end = base + Duration::from_secs(3600);
    for mut s in up {
        s.close(end, DownCause::AdminClose);
        s.release_to(&mut w.pool);
    }
    frames
}

fn bench(c: &mut Criterion) {
    let cfg = PppConfig {
        lcp: LcpConfig {
            auth: vec![AuthMethod::ChapMd5],
            echo_interval: None,
            ..LcpConfig::default()
        },
        ipcp: IpcpConfig {
            local_address: Ipv4Addr::new(198, 18, 0, 1),
            dns: [Some(Ipv4Addr::new(198, 18, 1, 53)), None],
            nbns: [None, None],
        },
        ..PppConfig::default()
    };
    let mut verifier = LocalVerifier::new();
    verifier.add(b"bench", b"bench-secret");
    let mut w = World {
        cfg: Arc::new(cfg),
        client: ClientConfig {
            username: b"bench".to_vec(),
            password: b"bench-secret".to_vec(),
            ..ClientConfig::default()
        },
        verifier,
        pool: Ipv4Pool::new(
            Ipv4Addr::new(198, 18, 64, 0),
            Ipv4Addr::new(198, 18, 127, 255),
        ),
    };
    // The fake clock's origin: the engines never read the clock themselves.
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let mut g = c.benchmark_group("ppp");
    g.throughput(Throughput::Elements(BRING_UPS));
    let mut round = 0;
    g.bench_function("bring_up_lcp_chap_ipcp", |b| {
        b.iter(|| {
            round += 1;
            black_box(bring_ups(&mut w, base, round))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
