//! Instructions per packet, for `valgrind --tool=callgrind` (repeatable on a
//! noisy shared machine, unlike wall-clock time).
//!
//! ```text
//! cargo build --release -p l2tpx-dataplane --example pipeline_callgrind
//! valgrind --tool=callgrind --callgrind-out-file=cg.N target/release/examples/pipeline_callgrind up N
//! ```
//!
//! `MODE` is `up` (upstream decap, IPv4 TCP ACK, 64 bytes), `down`
//! (downstream encap with the MSS check, IPv4 TCP ACK, 64 bytes),
//! `down-full` (the same with the full outer checksum), `up-v6`, `down-v6`,
//! or `none` (only the per-batch restore of the frames, the baseline).
//! Instructions per packet = (Ir(MODE, N) − Ir(none, N)) / N; compare with
//! (Ir(MODE, N) − Ir(MODE, 0)) / N, which also counts the restore.
//! The table is the test `MockTable` (hash maps, Fx hasher); the real
//! table's lookup is measured separately.

use l2tpx_dataplane::pipeline::testing::{
    eth_frame, ipv4_packet, ipv6_packet, net, L2tpFrame, MockTable, SessionSpec, Transport,
};
use l2tpx_dataplane::pipeline::{
    process_batch, BatchResult, Frame, OuterChecksum, PipelineConfig, Side, WorkerCounters,
    BATCH_MAX, HEADROOM,
};
use l2tpx_table::SessionCounters;

const BANK_BITS: u32 = 4;
const CHUNK: usize = 256;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "up".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    // `--time`: also time each batch (restore excluded) and print the
    // minimum and median ns per packet: robust on a loaded machine, where
    // criterion's mean is not.
    let timed = args.next().as_deref() == Some("--time");
    let mut times: Vec<u64> = Vec::new();

    let specs: Vec<SessionSpec> = (1..=8).map(SessionSpec::nth).collect();
    let mut t = MockTable::new(BANK_BITS);
    for s in &specs {
        t.insert(s.session(BANK_BITS));
    }
    let mut cfg = PipelineConfig::new(net::LNS_CORE_MAC, net::CORE_GW_MAC);
    let ack = Transport::TcpAck(24);
    let udp = Transport::Udp(36);
    let (packets, side): (Vec<Vec<u8>>, Side) = match mode.as_str() {
        "up" | "none" => (
            specs
                .iter()
                .map(|s| {
                    let inner = ipv4_packet(s.v4.unwrap(), net::REMOTE_V4, 64, true, ack);
                    L2tpFrame::upstream(s).build(0x21, &inner)
                })
                .collect(),
            Side::Access,
        ),
        "up-v6" => (
            specs
                .iter()
                .map(|s| {
                    let inner = ipv6_packet(s.v6_addr(), net::REMOTE_V6, 64, udp);
                    L2tpFrame::upstream(s).build(0x57, &inner)
                })
                .collect(),
            Side::Access,
        ),
        "down" | "down-full" => {
            if mode == "down-full" {
                cfg.outer_checksum = OuterChecksum::Full;
            }
            (
                specs
                    .iter()
                    .map(|s| {
                        let inner = ipv4_packet(net::REMOTE_V4, s.v4.unwrap(), 64, true, ack);
                        eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x0800, &inner)
                    })
                    .collect(),
                Side::Core,
            )
        }
        "down-v6" => (
            specs
                .iter()
                .map(|s| {
                    let inner = ipv6_packet(net::REMOTE_V6, s.v6_addr(), 64, udp);
                    eth_frame(net::LNS_CORE_MAC, net::CORE_GW_MAC, None, 0x86dd, &inner)
                })
                .collect(),
            Side::Core,
        ),
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    };

    // The pristine batch and the working UMEM.
    let mut pristine = vec![0u8; CHUNK * BATCH_MAX];
    let mut lens = [0usize; BATCH_MAX];
    for (i, chunk) in pristine.chunks_exact_mut(CHUNK).enumerate() {
        let p = &packets[i % packets.len()];
        chunk[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
        lens[i] = p.len();
    }
    let mut umem = pristine.clone();
    let mut out = BatchResult::default();
    let mut counters = WorkerCounters::default();
    let mut sessions = vec![SessionCounters::default(); 1 << (16 + BANK_BITS)];

    let batches = n / BATCH_MAX;
    for _ in 0..batches {
        umem.copy_from_slice(&pristine);
        if mode == "none" {
            std::hint::black_box(&mut umem);
            continue;
        }
        let mut it = umem.chunks_exact_mut(CHUNK).zip(lens);
        let mut frames: [Frame<'_>; BATCH_MAX] = core::array::from_fn(|_| {
            let (chunk, len) = it.next().expect("BATCH_MAX chunks");
            Frame::new(chunk, HEADROOM, len, side)
        });
        if timed {
            #[allow(clippy::disallowed_methods)] // a driver: it may read the clock
            let t0 = std::time::Instant::now();
            process_batch(&mut frames, &t, &cfg, &mut out, sessions.as_mut_slice());
            times.push(t0.elapsed().as_nanos() as u64);
        } else {
            process_batch(&mut frames, &t, &cfg, &mut out, sessions.as_mut_slice());
        }
        counters.add_batch(&out);
        std::hint::black_box(&frames);
    }
    let fwd = counters.tx_core + counters.tx_access;
    println!(
        "mode {mode}: {} packets in {} batches, {} forwarded",
        batches * BATCH_MAX,
        batches,
        fwd
    );
    assert_eq!(fwd, counters.rx, "every packet forwarded");
    if !times.is_empty() {
        times.sort_unstable();
        let per = |t: u64| t as f64 / BATCH_MAX as f64;
        println!(
            "ns/packet: min {:.1} p10 {:.1} median {:.1} (batches of {BATCH_MAX}, {} batches)",
            per(times[0]),
            per(times[times.len() / 10]),
            per(times[times.len() / 2]),
            times.len()
        );
    }
}
