//! Per-packet cost of the pipeline: upstream decapsulation and downstream
//! encapsulation (with the MSS check), in batches of 64, in memory.
//!
//! The table is the test `MockTable` (hash maps with an Fx hasher): its
//! lookups stand in for the real shared table, whose lookup cost (seqlock
//! snapshot, open-addressing probe) is measured separately by the table
//! crate's own benchmark. Each frame's headroom and packet are restored
//! from a pristine copy before every batch, outside the timed section
//! (`iter_custom` times only `process_batch`), so the packets are hot in
//! cache as they are after an AF_XDP copy-mode receive, which writes
//! only the packet into its frame.
//!
//! `cargo bench -p l2tpx-dataplane --bench pipeline -- --warm-up-time 1 --measurement-time 3`
//!
//! On the shared 2-core VM (load average 6–8 from other jobs) criterion's
//! means swing by 2× between runs; `examples/pipeline_callgrind.rs` gives
//! repeatable instruction counts and, with `--time`, the minimum/median
//! per batch, which interference cannot lower.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2tpx_dataplane::pipeline::testing::{
    eth_frame, ipv4_packet, ipv6_packet, net, L2tpFrame, MockTable, SessionSpec, Transport,
};
use l2tpx_dataplane::pipeline::{
    process_batch, BatchResult, Frame, OuterChecksum, PipelineConfig, Side, BATCH_MAX, HEADROOM,
};

const BANK_BITS: u32 = 4;
/// Sessions the batch's packets are spread over.
const SESSIONS: u16 = 8;
/// A UMEM chunk in the bench (room for headroom and a 1500-byte packet
/// would be 2048; the small packets here need less, which keeps the batch
/// in L1).
const CHUNK: usize = 512;

fn specs() -> Vec<SessionSpec> {
    (1..=SESSIONS).map(SessionSpec::nth).collect()
}

fn table(specs: &[SessionSpec]) -> MockTable {
    let mut t = MockTable::new(BANK_BITS);
    for s in specs {
        t.insert(s.session(BANK_BITS));
    }
    t
}

/// One batch worth of UMEM: BATCH_MAX chunks, each packet after HEADROOM.
#[derive(Clone)]
struct Umem {
    mem: Vec<u8>,
    lens: Vec<usize>,
    side: Side,
}

impl Umem {
    fn new(packets: &[Vec<u8>], side: Side) -> Umem {
        let mut mem = vec![0u8; CHUNK * BATCH_MAX];
        let mut lens = Vec::new();
        for (i, chunk) in mem.chunks_exact_mut(CHUNK).enumerate() {
            let p = &packets[i % packets.len()];
            chunk[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
            lens.push(p.len());
        }
        Umem { mem, lens, side }
    }
}

/// Puts back what a batch changed: each frame's headroom and packet, as
/// an AF_XDP receive writes only the packet into a frame (a copy of
/// the whole UMEM would also pull the untouched rest of every chunk
/// through the cache before each batch).
fn restore(work: &mut Umem, pristine: &Umem) {
    for ((w, p), &len) in work
        .mem
        .chunks_exact_mut(CHUNK)
        .zip(pristine.mem.chunks_exact(CHUNK))
        .zip(&pristine.lens)
    {
        let end = (HEADROOM + len).min(CHUNK);
        w[..end].copy_from_slice(&p[..end]);
    }
}

/// The batch's frames over `u` (as a worker builds them from its RX
/// descriptors; not part of the pipeline's cost, so not timed).
fn frames(u: &mut Umem) -> [Frame<'_>; BATCH_MAX] {
    let side = u.side;
    let mut it = u.mem.chunks_exact_mut(CHUNK).zip(&u.lens);
    core::array::from_fn(|_| {
        let (chunk, &len) = it.next().expect("BATCH_MAX chunks");
        Frame::new(chunk, HEADROOM, len, side)
    })
}

fn run(u: &mut Umem, t: &MockTable, cfg: &PipelineConfig, out: &mut BatchResult) -> usize {
    let mut f = frames(u);
    let n = process_batch(&mut f, t, cfg, out, &mut ());
    std::hint::black_box(&f);
    n
}

fn upstream_packets(specs: &[SessionSpec], t: Transport, v6: bool) -> Vec<Vec<u8>> {
    specs
        .iter()
        .map(|s| {
            if v6 {
                let inner = ipv6_packet(s.v6_addr(), net::REMOTE_V6, 64, t);
                L2tpFrame::upstream(s).build(0x57, &inner)
            } else {
                let inner = ipv4_packet(s.v4.unwrap(), net::REMOTE_V4, 64, true, t);
                L2tpFrame::upstream(s).build(0x21, &inner)
            }
        })
        .collect()
}

fn downstream_packets(specs: &[SessionSpec], t: Transport, v6: bool) -> Vec<Vec<u8>> {
    specs
        .iter()
        .map(|s| {
            if v6 {
                let inner = ipv6_packet(net::REMOTE_V6, s.v6_addr(), 64, t);
                eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x86dd, &inner)
            } else {
                let inner = ipv4_packet(net::REMOTE_V4, s.v4.unwrap(), 64, true, t);
                eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner)
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let specs = specs();
    let t = table(&specs);
    let cfg = PipelineConfig::new(net::LNS_CORE_MAC, net::CORE_GW_MAC);
    let full = PipelineConfig {
        outer_checksum: OuterChecksum::Full,
        ..cfg
    };
    // 64-byte inner packets: IPv4 (20) + UDP (8) + 36, or IPv4 + TCP (20)
    // + 24.
    let udp = Transport::Udp(36);
    let ack = Transport::TcpAck(24);
    let syn = Transport::TcpSyn(1460, 0);
    let cases: Vec<(&str, Umem, PipelineConfig)> = vec![
        (
            "upstream_decap/v4_udp",
            Umem::new(&upstream_packets(&specs, udp, false), Side::Access),
            cfg,
        ),
        (
            "upstream_decap/v4_tcp_ack",
            Umem::new(&upstream_packets(&specs, ack, false), Side::Access),
            cfg,
        ),
        (
            "upstream_decap/v4_tcp_syn_clamp",
            Umem::new(&upstream_packets(&specs, syn, false), Side::Access),
            cfg,
        ),
        (
            "upstream_decap/v6_udp",
            Umem::new(&upstream_packets(&specs, udp, true), Side::Access),
            cfg,
        ),
        (
            "downstream_encap/v4_tcp_ack_mss_check",
            Umem::new(&downstream_packets(&specs, ack, false), Side::Core),
            cfg,
        ),
        (
            "downstream_encap/v4_tcp_ack_mss_check_full_csum",
            Umem::new(&downstream_packets(&specs, ack, false), Side::Core),
            full,
        ),
        (
            "downstream_encap/v4_tcp_syn_clamp",
            Umem::new(&downstream_packets(&specs, syn, false), Side::Core),
            cfg,
        ),
        (
            "downstream_encap/v4_udp",
            Umem::new(&downstream_packets(&specs, udp, false), Side::Core),
            cfg,
        ),
        (
            "downstream_encap/v6_udp",
            Umem::new(&downstream_packets(&specs, udp, true), Side::Core),
            cfg,
        ),
    ];
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(BATCH_MAX as u64));
    for (name, umem, cfg) in &cases {
        let mut out = BatchResult::default();
        // Sanity: everything in the batch is forwarded.
        let mut check = umem.clone();
        run(&mut check, &t, cfg, &mut out);
        assert_eq!(out.tx_core + out.tx_access, BATCH_MAX as u32, "{name}");
        let mut work = umem.clone();
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    restore(&mut work, umem);
                    let mut f = frames(&mut work);
                    #[allow(clippy::disallowed_methods)] // a driver: it may read the clock
                    let t0 = Instant::now();
                    process_batch(&mut f, &t, cfg, &mut out, &mut ());
                    total += t0.elapsed();
                    std::hint::black_box(&f);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
