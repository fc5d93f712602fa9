//! Forwarding rate of the l2tpx data plane against a bare AF_XDP forwarder
//! (issue 5 §5 b, c), on the veth topology of the end-to-end tests, with
//! the same generator, in the same run, both directions at once.
//!
//! ```sh
//! cargo run --release -p l2tpx-dataplane --example fwd_bench -- \
//!     [--workers 1,2] [--seconds 2] [--rounds 3] [--packets 50000000] [--sessions 64]
//! ```
//!
//! - Topology: LAC ↔ LNS ↔ CORE namespaces, veths with one queue per
//!   worker. The data plane runs in-process in the LNS namespace (AF_XDP,
//!   copy mode), in `pipeline` mode (l2tpx) or `bare` mode (the same
//!   sockets, XDP programs and worker loop; frames are swapped between the
//!   two sockets without `process_batch`).
//! - Generators: one AF_XDP TX-only thread in the LAC namespace (L2TP data
//!   frames, 64 sessions round robin, 46-byte inner IPv4/UDP packets) and
//!   one in CORE (46-byte IPv4/UDP packets to the subscribers), each over
//!   all queues, batches of 64, bounded by `--packets` and the run time.
//! - Sinks: an `XDP_DROP` program (two instructions, loaded here with raw
//!   `bpf()` calls: this kernel has no tc classifiers) on the LAC and CORE
//!   ends, so both modes cost the receiving side the same and nothing is
//!   answered; the rate is the sink interfaces' `rx_packets` (veth counts
//!   XDP-dropped frames there) over the measured window, after 0.5 s of
//!   warm-up.
//! - Rounds alternate bare and pipeline runs, and the ratio is taken per
//!   round, so that drift in the machine's load hits both alike.
//!
//! Needs root. Absolute rates on a 2-core VM are bound by the generators
//! (veth receive work, XDP included, runs on the sender's CPU): quote the
//! ratio.

#[path = "../tests/common/topo.rs"]
mod topo;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpx_dataplane::backend::Dataplane;
use l2tpx_dataplane::config::{BackendChoice, Config, WorkerMode, XdpBindMode};
use l2tpx_dataplane::pipeline::HintOutcome;
use l2tpx_dataplane::xsk::{BindMode, RingSizes, Umem, XskSocket};
use l2tpx_table::{SessionEntry, TableReader, TableWriter};
use topo::*;

struct Args {
    workers: Vec<u32>,
    seconds: f64,
    rounds: u32,
    packets: u64,
    sessions: u16,
}

fn args() -> Args {
    let mut a = Args {
        workers: vec![1, 2],
        seconds: 2.0,
        rounds: 3,
        packets: 50_000_000,
        sessions: 64,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--workers" => a.workers = val.split(',').map(|s| s.parse().unwrap()).collect(),
            "--seconds" => a.seconds = val.parse().unwrap(),
            "--rounds" => a.rounds = val.parse().unwrap(),
            "--packets" => a.packets = val.parse().unwrap(),
            "--sessions" => a.sessions = val.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

/// Attaches a program that is `r0 = XDP_DROP; exit` to `ifname` (calling
/// thread's namespace) through a BPF link; detached when the fd closes.
fn xdp_drop(ifname: &str) -> std::io::Result<OwnedFd> {
    let insns: [u64; 2] = [
        // BPF_ALU64 | BPF_MOV | BPF_K, dst r0, imm 1 (XDP_DROP).
        u64::from_le_bytes([0xb7, 0, 0, 0, 1, 0, 0, 0]),
        // BPF_JMP | BPF_EXIT.
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = b"GPL\0";
    let bpf = |cmd: i64, attr: &mut [u8; 128]| -> std::io::Result<OwnedFd> {
        // SAFETY: attr is a zero-padded bpf_attr of the size passed.
        let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd from the kernel.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    let put32 =
        |a: &mut [u8; 128], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 128], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    let mut attr = [0u8; 128];
    put32(&mut attr, 0, 6); // prog_type: BPF_PROG_TYPE_XDP
    put32(&mut attr, 4, 2); // insn_cnt
    put64(&mut attr, 8, insns.as_ptr() as u64);
    put64(&mut attr, 16, license.as_ptr() as u64);
    put32(&mut attr, 68, 37); // expected_attach_type: BPF_XDP
    let prog = bpf(5, &mut attr)?; // BPF_PROG_LOAD
    let mut attr = [0u8; 128];
    put32(&mut attr, 0, prog.as_raw_fd() as u32);
    put32(&mut attr, 4, l2tpx_dataplane::xsk::ifindex(ifname)?);
    put32(&mut attr, 8, 37); // attach_type: BPF_XDP
    bpf(28, &mut attr) // BPF_LINK_CREATE
}

/// Reads `rx_packets` of `ifname` from the calling thread's namespace.
fn rx_packets(ifname: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    for line in text.lines() {
        if let Some((name, rest)) = line.split_once(':') {
            if name.trim() == ifname {
                return rest.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
    }
    panic!("no {ifname} in /proc/net/dev")
}

/// One generator: AF_XDP TX on every queue of `ifname` (in the calling
/// thread's namespace), cycling through `frames`, until `stop` or `limit`
/// packets. Returns the packets the kernel completed.
fn generate(ifname: &str, queues: u32, frames: &[Vec<u8>], stop: &AtomicBool, limit: u64) -> u64 {
    const N: u32 = 4096;
    let umem = Umem::new(N * queues, 0).expect("generator UMEM");
    let sizes = RingSizes::uniform(2048);
    let mut socks: Vec<XskSocket> = Vec::new();
    for q in 0..queues {
        let s = XskSocket::bind(&umem, ifname, q, socks.first(), sizes, BindMode::Copy)
            .expect("generator socket");
        socks.push(s);
    }
    // Frame i of queue q holds packet (i % len); its length never changes.
    let mut lens = vec![0u32; (N * queues) as usize];
    for (i, len) in lens.iter_mut().enumerate() {
        let f = &frames[i % frames.len()];
        // SAFETY: nobody else uses the generator's UMEM yet.
        let chunk = unsafe { umem.chunk_mut(Umem::frame_addr(i as u32)) }.unwrap();
        chunk[..f.len()].copy_from_slice(f);
        *len = f.len() as u32;
    }
    let mut free: Vec<Vec<u64>> = (0..queues)
        .map(|q| (q * N..(q + 1) * N).map(Umem::frame_addr).collect())
        .collect();
    let mut done = 0u64;
    let mut queued = 0u64;
    while !stop.load(Ordering::Relaxed) && done < limit {
        for (s, free) in socks.iter_mut().zip(&mut free) {
            let c = s.comp.available(u32::MAX);
            for i in 0..c {
                free.push(s.comp.read(i));
            }
            s.comp.release(c);
            done += u64::from(c);
            let want = (free.len() as u32)
                .min(64)
                .min((limit - queued.min(limit)) as u32);
            let n = s.tx.free(want);
            for i in 0..n {
                let addr = free.pop().unwrap();
                let len = lens[(addr / 4096) as usize];
                s.tx.write(
                    i,
                    l2tpx_dataplane::xsk::Desc {
                        addr,
                        len,
                        options: 0,
                    },
                );
            }
            s.tx.submit(n);
            queued += u64::from(n);
            if s.tx.needs_wakeup() {
                s.kick_tx();
            }
        }
    }
    done
}

struct RunResult {
    up_pps: f64,
    down_pps: f64,
    gen_up_pps: f64,
    gen_down_pps: f64,
}

fn run(a: &Args, workers: u32, mode: WorkerMode) -> RunResult {
    let t = Topo::new(workers).expect("topology (root needed)");
    let _sinks = [(&t.lac, &t.lac_if), (&t.core, &t.core_if)]
        .map(|(ns, ifname)| in_ns(ns, || xdp_drop(ifname)).expect("XDP_DROP on a sink"));
    let table = TempTable::new("bench");
    let mut w = TableWriter::create(&table.path, 1024, 0, workers).unwrap();
    for i in 1..=a.sessions {
        w.publish(&SessionEntry::from(session(i, t.lac_mac, t.lns_acc_mac)))
            .unwrap();
    }
    let reader = Arc::new(TableReader::open(&table.path).unwrap());
    let mut cfg = Config::new(&t.lns_acc_if, &t.lns_core_if, &table.path, CORE_IP);
    cfg.backend = BackendChoice::Afxdp;
    cfg.xdp_mode = XdpBindMode::Copy;
    cfg.queues = workers;
    cfg.mode = mode;
    cfg.core_gateway_mac = Some(l2tpx_dataplane::neigh::format_mac(&t.core_mac));
    cfg.umem_frames = 8192;
    cfg.ring_size = 2048;
    cfg.idle_spins = 0;
    let dp = in_ns(&t.lns, || Dataplane::start(&cfg, reader)).expect("data plane");

    let up: Vec<Vec<u8>> = (1..=a.sessions)
        .map(|s| {
            let inner = inner_udp(subscriber(s), CORE_IP, 4000 + s, CORE_PORT, 0, 14);
            let msg = l2tp_data(OUR_TUNNEL, s, &inner);
            // Outer Eth/IPv4/UDP (header checksum valid, UDP checksum 0).
            l2tpx_dataplane::pipeline::testing::L2tpFrame {
                dst_mac: t.lns_acc_mac,
                src_mac: t.lac_mac,
                vlan_tci: None,
                src: LAC_IP,
                dst: LNS_ACC_IP,
                ttl: 64,
                df: false,
                ident: 0,
                src_port: 1701,
                dst_port: 1701,
                udp_checksum: false,
                tunnel_id: OUR_TUNNEL,
                session_id: s,
                with_length: false,
                ns: None,
                offset_pad: None,
                address_control: true,
                pfc: false,
            }
            .wrap_udp(&msg)
        })
        .collect();
    let down: Vec<Vec<u8>> = (1..=a.sessions)
        .map(|s| {
            let inner = inner_udp(CORE_IP, subscriber(s), CORE_PORT, SUB_PORT, 0, 18);
            eth(t.lns_core_mac, t.core_mac, 0x0800, &inner)
        })
        .collect();

    let stop = AtomicBool::new(false);
    let window = Duration::from_secs_f64(a.seconds);
    #[allow(clippy::disallowed_methods)]
    let r = std::thread::scope(|sc| {
        // Generators pinned from the last CPU down (workers from CPU 0
        // up): with 2 CPUs and 1 worker both share CPU 1; with 2 workers
        // each generator shares a CPU with a worker.
        let ncpu = core_affinity::get_core_ids().map_or(1, |v| v.len());
        let cpu_up = ncpu - 1;
        let cpu_down = if workers >= 2 && ncpu >= 2 {
            ncpu - 2
        } else {
            ncpu - 1
        };
        let pin = |id: usize| core_affinity::set_for_current(core_affinity::CoreId { id });
        let (tr, upr, downr, stopr) = (&t, &up, &down, &stop);
        let g_up = sc.spawn(move || {
            pin(cpu_up);
            l2tpx_tests::netns::enter(tr.lac.name()).unwrap();
            generate(&tr.lac_if, workers, upr, stopr, a.packets)
        });
        let g_down = sc.spawn(move || {
            pin(cpu_down);
            l2tpx_tests::netns::enter(tr.core.name()).unwrap();
            generate(&tr.core_if, workers, downr, stopr, a.packets)
        });
        std::thread::sleep(Duration::from_millis(500));
        let c0 = in_ns(&t.core, || rx_packets(&t.core_if));
        let l0 = in_ns(&t.lac, || rx_packets(&t.lac_if));
        let t0 = Instant::now();
        std::thread::sleep(window);
        let c1 = in_ns(&t.core, || rx_packets(&t.core_if));
        let l1 = in_ns(&t.lac, || rx_packets(&t.lac_if));
        let dt = t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let gu = g_up.join().unwrap();
        let gd = g_down.join().unwrap();
        let total = dt + 0.5;
        RunResult {
            up_pps: (c1 - c0) as f64 / dt,
            down_pps: (l1 - l0) as f64 / dt,
            gen_up_pps: gu as f64 / total,
            gen_down_pps: gd as f64 / total,
        }
    });
    let s = dp.total();
    eprintln!(
        "  {mode:?} x{workers}: up {:.3} Mpps, down {:.3} Mpps (generators {:.3} / {:.3} Mpps); \
         worker rx {} tx_full {} drops {} slot hints hit/stale/absent {}/{}/{}",
        r.up_pps / 1e6,
        r.down_pps / 1e6,
        r.gen_up_pps / 1e6,
        r.gen_down_pps / 1e6,
        s.pipeline.rx,
        s.io.tx_full,
        s.pipeline_drops(),
        s.pipeline.hint_count(HintOutcome::Hit),
        s.pipeline.hint_count(HintOutcome::Stale),
        s.pipeline.hint_count(HintOutcome::Absent),
    );
    in_ns(&t.lns, move || dp.shutdown());
    drop(w);
    r
}

fn main() {
    let a = args();
    println!(
        "| workers | round | bare up | bare down | bare total | l2tpx up | l2tpx down | l2tpx total | l2tpx/bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &workers in &a.workers {
        let mut ratios = Vec::new();
        let mut sums = [0f64; 2];
        for round in 1..=a.rounds {
            let b = run(&a, workers, WorkerMode::Bare);
            let p = run(&a, workers, WorkerMode::Pipeline);
            let (bt, pt) = (b.up_pps + b.down_pps, p.up_pps + p.down_pps);
            ratios.push(pt / bt);
            sums[0] += bt;
            sums[1] += pt;
            println!(
                "| {workers} | {round} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
                b.up_pps / 1e6,
                b.down_pps / 1e6,
                bt / 1e6,
                p.up_pps / 1e6,
                p.down_pps / 1e6,
                pt / 1e6,
                pt / bt
            );
        }
        ratios.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let n = f64::from(a.rounds);
        println!(
            "| {workers} | mean | | | {:.3} | | | {:.3} | {:.2} (median {:.2}) |",
            sums[0] / n / 1e6,
            sums[1] / n / 1e6,
            sums[1] / sums[0],
            ratios[ratios.len() / 2]
        );
    }
}
