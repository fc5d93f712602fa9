//! Lookup cost: `by_slot` (upstream), `by_ipv4`/`by_ipv6` (downstream) and
//! an IPv4 miss, at 1,000 and 1,048,576 published sessions, with keys in a
//! random order (every lookup a different session).
//!
//! `cargo bench -p l2tpx-table --bench lookup`; the tables go in /dev/shm
//! (else the temporary directory), or in `$L2TPX_TABLE_DIR` (e.g. a
//! hugetlbfs mount) when set.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use l2tpx_table::{slot_index, Session, SessionLookup, TableReader, TableWriter, TEMPLATE_MAX};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

struct Table {
    path: PathBuf,
    reader: TableReader,
    _writer: TableWriter,
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6400_0000 | i)
}

fn dst6(i: u32) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    d[4..8].copy_from_slice(&i.to_be_bytes());
    d[15] = 1;
    d
}

fn table(n: u32) -> Table {
    let bank_bits = if n > 65_536 { 5 } else { 0 };
    let shm = std::path::Path::new("/dev/shm");
    let dir = match std::env::var_os("L2TPX_TABLE_DIR") {
        Some(d) => PathBuf::from(d),
        None if shm.is_dir() => shm.to_owned(),
        None => std::env::temp_dir(),
    };
    let path = dir.join(format!("l2tpx-bench-lookup-{}-{n}", std::process::id()));
    let mut w = TableWriter::create(&path, n, bank_bits, 1).expect("create table");
    for slot in 0..n {
        let (tid, sid) = ((slot >> 16) as u16, slot as u16);
        assert_eq!(slot_index(tid, sid, bank_bits), slot);
        let mut template = [0u8; TEMPLATE_MAX];
        template[..4].copy_from_slice(&slot.to_be_bytes());
        let s = Session {
            slot,
            our_tunnel_id: tid,
            our_session_id: sid,
            peer_tunnel_id: 1,
            peer_session_id: sid,
            peer_addr: Ipv4Addr::new(198, 18, 251, 1),
            peer_port: 1701,
            subscriber_v4: Some(addr(slot)),
            subscriber_v6_prefix: Some(dst6(slot)[..8].try_into().unwrap()),
            sequencing: false,
            mtu: 1460,
            mss_clamp: 1420,
            template,
            template_len: 50,
            l2tp_offset: 42,
        };
        w.publish(&s.into()).expect("publish");
    }
    let reader = TableReader::open(&path).expect("open table");
    Table {
        path,
        reader,
        _writer: w,
    }
}

/// `n` distinct pseudo-random values below `n`, in a random order
/// (an affine permutation; `n` need not be a power of two).
fn order(n: u32) -> Vec<u32> {
    let m = n as u64;
    let mut a = 0x9E37_79B9u64 % m;
    while gcd(a, m) != 1 {
        a += 1;
    }
    (0..m).map(|i| ((i * a + 12_345) % m) as u32).collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [1_000u32, 1 << 20] {
        let t = table(n);
        let r = &t.reader;
        let keys = order(n);
        let mut i = 0usize;
        let mut next = move || {
            i = if i + 1 == keys.len() { 0 } else { i + 1 };
            keys[i]
        };
        g.bench_function(BenchmarkId::new("by_slot", n), |b| {
            b.iter(|| black_box(r.by_slot(black_box(next()))).is_some())
        });
        g.bench_function(BenchmarkId::new("by_ipv4", n), |b| {
            b.iter(|| black_box(r.by_ipv4(black_box(addr(next())))).is_some())
        });
        g.bench_function(BenchmarkId::new("by_ipv6", n), |b| {
            b.iter(|| black_box(r.by_ipv6(&black_box(dst6(next())))).is_some())
        });
        g.bench_function(BenchmarkId::new("by_ipv4_miss", n), |b| {
            b.iter(|| black_box(r.by_ipv4(black_box(addr(next() + n)))).is_none())
        });
        // A batch of 32 as a worker would run it: prefetch every index
        // entry, then every slot, then look up (per-lookup time reported).
        let keys32 = order(n);
        let mut j = 0usize;
        g.throughput(criterion::Throughput::Elements(32));
        g.bench_function(BenchmarkId::new("by_ipv4_batch32_prefetch", n), |b| {
            b.iter(|| {
                if j + 32 > keys32.len() {
                    j = 0;
                }
                let batch = &keys32[j..j + 32];
                j += 32;
                for &k in batch {
                    r.prefetch_ipv4(addr(k));
                }
                let mut hint = [0u32; 32];
                for (h, &k) in hint.iter_mut().zip(batch) {
                    *h = r.ipv4_hint(addr(k)).unwrap_or(u32::MAX);
                    r.prefetch_slot(*h);
                }
                let mut found = 0;
                for &k in batch {
                    found += r.by_ipv4(addr(k)).is_some() as u32;
                }
                black_box(found)
            })
        });
        g.bench_function(BenchmarkId::new("by_slot_batch32_prefetch", n), |b| {
            b.iter(|| {
                if j + 32 > keys32.len() {
                    j = 0;
                }
                let batch = &keys32[j..j + 32];
                j += 32;
                for &k in batch {
                    r.prefetch_slot(k);
                }
                let mut found = 0;
                for &k in batch {
                    found += r.by_slot(k).is_some() as u32;
                }
                black_box(found)
            })
        });
        g.throughput(criterion::Throughput::Elements(1));
        assert!(r.by_ipv4(addr(n - 1)).is_some() && r.by_ipv4(addr(n)).is_none());
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
