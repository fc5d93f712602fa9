//! Pipeline throughput against the real session table (issue 5 §5 d):
//! `SESSIONS` sessions published into a table file in a temp dir, a real
//! `TableReader`, batches of 64 frames for uniformly random sessions, the
//! per-session counters going into the table's counter row as the worker
//! does. Compare 1,000 with 1,048,576 sessions.
//!
//! ```text
//! cargo build --release -p l2tpx-dataplane --example table_scale
//! target/release/examples/table_scale SESSIONS up|down BATCHES [--prefetch=ahead|batch|none] [--no-counters] [--active=K [--span=S] [--pick=random]] [--hint]
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='table_scale::run' \
//!     target/release/examples/table_scale 1048576 up 2000
//! ```
//!
//! Per batch the frames are restored (the pristine packet copied back and
//! the session's IDs or address patched in: not timed), then the cache
//! warming (the worker's `TableLookahead` unless `--prefetch=` says
//! otherwise) and the pipeline are timed together. `--hint` (downstream):
//! each frame carries the session's slot in front of it, as `core_steer`
//! puts it in the XDP metadata; without it the metadata area is zeroed
//! (no hint), so the pipeline uses the address index. Prints the median and mean ns per packet over the batches and
//! the packet rate the mean gives.

use std::net::Ipv4Addr;

use l2tpx_dataplane::ebpf::{Meta, META_LEN};
use l2tpx_dataplane::pipeline::testing::{ipv4_packet, net, L2tpFrame, SessionSpec, Transport};
use l2tpx_dataplane::pipeline::{
    process_batch, process_batch_ahead, BatchResult, CounterSink, Direction, Frame, HintOutcome,
    PipelineConfig, Side, Verdict, BATCH_MAX, HEADROOM,
};
use l2tpx_dataplane::worker::{prefetch_batch, TableLookahead};
use l2tpx_table::{slot_index, SessionEntry, TableReader, TableWriter};

const BANK_BITS: u32 = 5;
const PER_BANK: u32 = 65_535;
const CHUNK: usize = 2048;

/// Session `i` (0-based): tunnel 32 + bank (its low 5 bits are the bank),
/// session ID 1..=65535 in the bank, subscriber 240.0.0.0 + i. These are
/// in-memory table keys that never reach a network: 198.18.0.0/15 holds only
/// 131,072 addresses, too few for 1M distinct subscribers, so the reserved,
/// unroutable 240.0.0.0/4 stands in.
fn spec(i: u32) -> SessionSpec {
    let bank = i / PER_BANK;
    let sid = (i % PER_BANK + 1) as u16;
    SessionSpec {
        our_tunnel_id: 32 + bank as u16,
        our_session_id: sid,
        peer_tunnel_id: 0x4001,
        peer_session_id: sid,
        v4: Some(sub(i)),
        v6: None,
        with_length: false,
        sequencing: false,
        vlan_tci: None,
        mtu: 1460,
        mss_clamp: 1420,
    }
}

fn sub(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xf000_0000 + i)
}

struct Row<'a>(l2tpx_table::WorkerCounters<'a>);

impl CounterSink for Row<'_> {
    #[inline]
    fn add(&mut self, slot: u32, dir: Direction, packets: u64, bytes: u64) {
        match dir {
            Direction::Up => self.0.add_up(slot, packets, bytes),
            Direction::Down => self.0.add_down(slot, packets, bytes),
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = args.next().unwrap_or_else(|| "up".into());
    let batches: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let flags: Vec<String> = args.collect();
    // Cache warming: `ahead` (the worker's, D22), `batch` (one prefetch
    // pass over the whole batch first, D20) or `none`.
    let prefetch = if flags
        .iter()
        .any(|f| f == "--no-prefetch" || f == "--prefetch=none")
    {
        Prefetch::None
    } else if flags.iter().any(|f| f == "--prefetch=batch") {
        Prefetch::Batch
    } else {
        Prefetch::Ahead
    };
    // `--no-counters`: per-session counters to a sink that forgets them
    // (shows what the counter row's cache misses cost).
    let counters = !flags.iter().any(|f| f == "--no-counters");
    let up = dir == "up";
    // `--active=K`: traffic for K sessions spread evenly over the N
    // installed (the hot set of the moment), instead of all N.
    let active: u32 = flags
        .iter()
        .find_map(|f| f.strip_prefix("--active="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
        .clamp(1, n);
    // `--span=S`: the active sessions lie among the first S installed
    // (default all N). `--pick=random`: K distinct sessions drawn at random
    // from those S, instead of every (S / K)-th one. An even stride can
    // map the hot lines onto few cache sets; a random pick cannot.
    let span: u32 = flags
        .iter()
        .find_map(|f| f.strip_prefix("--span="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
        .clamp(active, n);
    let random_pick = flags.iter().any(|f| f == "--pick=random");
    let hint = flags.iter().any(|f| f == "--hint");
    let hot = hot_set(span, active, random_pick);

    let banks = n.div_ceil(PER_BANK);
    let capacity = (banks << 16).max(65_536);
    let path = std::env::temp_dir().join(format!("l2tpx-scale-{}.table", std::process::id()));
    let t0 = now();
    let mut w = TableWriter::create(&path, capacity, BANK_BITS, 1).expect("creating the table");
    for i in 0..n {
        w.publish(&SessionEntry::from(spec(i).session(BANK_BITS)))
            .expect("publishing");
    }
    let reader = TableReader::open(&path).expect("opening the table");
    eprintln!(
        "{n} sessions published in {:.1} s (capacity {capacity})",
        t0.elapsed().as_secs_f64()
    );

    // The pristine packet and where the per-session fields go.
    let ack = Transport::TcpAck(24);
    let s0 = spec(0);
    let pristine = if up {
        let inner = ipv4_packet(sub(0), net::REMOTE_V4, 64, true, ack);
        L2tpFrame::upstream(&s0).build(0x21, &inner)
    } else {
        let inner = ipv4_packet(net::REMOTE_V4, sub(0), 64, true, ack);
        l2tpx_dataplane::pipeline::testing::eth_frame(
            net::LNS_CORE_MAC,
            net::CORE_GW_MAC,
            None,
            0x0800,
            &inner,
        )
    };
    // Upstream: L2TP tunnel/session IDs at 14+20+8+2, inner source at
    // 14+20+8+6+4+12. Downstream: destination at 14+16.
    let cfg = PipelineConfig::new(net::LNS_CORE_MAC, net::CORE_GW_MAC);
    let side = if up { Side::Access } else { Side::Core };
    let mut bufs: Vec<Vec<u8>> = (0..BATCH_MAX).map(|_| vec![0u8; CHUNK]).collect();
    let mut out = BatchResult::default();
    let row = reader.counters(0).expect("counter row");
    let mut sink = Row(row);
    let mut forget = ();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut times: Vec<u64> = Vec::with_capacity(batches);
    let mut forwarded = 0u64;
    let mut hints = [0u64; HintOutcome::COUNT];
    let want = if up {
        Verdict::TxCore
    } else {
        Verdict::TxAccess
    };
    for _ in 0..batches {
        for b in bufs.iter_mut() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = hot[((rng >> 11) % u64::from(active)) as usize];
            let p = &mut b[HEADROOM..HEADROOM + pristine.len()];
            p.copy_from_slice(&pristine);
            if up {
                let s = spec(i);
                p[44..46].copy_from_slice(&s.our_tunnel_id.to_be_bytes());
                p[46..48].copy_from_slice(&s.our_session_id.to_be_bytes());
                p[64..68].copy_from_slice(&sub(i).octets());
            } else {
                p[30..34].copy_from_slice(&sub(i).octets());
                let s = spec(i);
                let meta = match hint {
                    true => Meta::v4(
                        slot_index(s.our_tunnel_id, s.our_session_id, BANK_BITS),
                        sub(i).octets(),
                    )
                    .to_bytes(),
                    false => [0; META_LEN],
                };
                b[HEADROOM - META_LEN..HEADROOM].copy_from_slice(&meta);
            }
            debug_assert_eq!(
                slot_index(spec(i).our_tunnel_id, spec(i).our_session_id, BANK_BITS),
                spec(i).session(BANK_BITS).slot
            );
        }
        let mut frames: Vec<Frame<'_>> = bufs
            .iter_mut()
            .map(|b| Frame::new(&mut b[..], HEADROOM, pristine.len(), side))
            .collect();
        let sink: &mut dyn CounterSink = if counters { &mut sink } else { &mut forget };
        let (dt, fwd) = run(
            &mut frames,
            &reader,
            &cfg,
            &mut out,
            sink,
            prefetch,
            counters.then_some(row),
            want,
        );
        times.push(dt);
        forwarded += fwd;
        for (a, &h) in hints.iter_mut().zip(&out.hints) {
            *a += u64::from(h);
        }
    }
    assert_eq!(
        forwarded,
        (batches * BATCH_MAX) as u64,
        "every packet forwarded (inner checksums are not verified, so the patching is fine)"
    );
    times.sort_unstable();
    let per = |ns: u64| ns as f64 / BATCH_MAX as f64;
    let mean = times.iter().sum::<u64>() as f64 / times.len() as f64 / BATCH_MAX as f64;
    println!(
        "sessions={n} active={active} span={span} pick={} dir={dir} prefetch={prefetch:?} counters={counters} hint={hint} batches={batches}: median {:.1} ns/pkt, \
         p10 {:.1}, p90 {:.1}, mean {:.1} ns/pkt = {:.2} Mpps",
        if random_pick { "random" } else { "even" },
        per(times[times.len() / 2]),
        per(times[times.len() / 10]),
        per(times[times.len() * 9 / 10]),
        mean,
        1e3 / mean
    );
    if !up {
        println!(
            "  downstream lookups: {} {}, {} {}, {} {}",
            HintOutcome::Hit.name(),
            hints[HintOutcome::Hit.index()],
            HintOutcome::Stale.name(),
            hints[HintOutcome::Stale.index()],
            HintOutcome::Absent.name(),
            hints[HintOutcome::Absent.index()],
        );
    }
    drop(reader);
    drop(w);
    let _ = std::fs::remove_file(&path);
}

/// The `active` sessions traffic goes to, among the first `span`: evenly
/// spaced, or `random` distinct ones (a partial Fisher-Yates shuffle).
fn hot_set(span: u32, active: u32, random: bool) -> Vec<u32> {
    if !random {
        let stride = span / active;
        return (0..active).map(|k| k * stride).collect();
    }
    let mut all: Vec<u32> = (0..span).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for k in 0..active as usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = k + (x % (all.len() - k) as u64) as usize;
        all.swap(k, j);
    }
    all.truncate(active as usize);
    all
}

/// One timed batch: the cache warming and the pipeline. Returns its
/// nanoseconds and how many frames got the expected verdict.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run(
    frames: &mut [Frame<'_>],
    reader: &TableReader,
    cfg: &PipelineConfig,
    out: &mut BatchResult,
    sink: &mut dyn CounterSink,
    prefetch: Prefetch,
    row: Option<l2tpx_table::WorkerCounters<'_>>,
    want: Verdict,
) -> (u64, u64) {
    let t = now();
    match prefetch {
        Prefetch::None => {
            process_batch(frames, reader, cfg, out, sink);
        }
        Prefetch::Batch => {
            prefetch_batch(frames, &TableLookahead::new(reader, None));
            process_batch(frames, reader, cfg, out, sink);
        }
        Prefetch::Ahead => {
            let ahead = TableLookahead::new(reader, row);
            process_batch_ahead(frames, reader, cfg, out, sink, &ahead);
        }
    }
    let dt = t.elapsed().as_nanos() as u64;
    let ok = out.verdicts().iter().filter(|&&v| v == want).count() as u64;
    (dt, ok)
}

#[derive(Debug, Clone, Copy)]
enum Prefetch {
    None,
    Batch,
    Ahead,
}
