use std::net::Ipv4Addr;

use l2tpx_table::{slot_index, Session, SessionEntry, TableWriter, TEMPLATE_MAX};
use l2tpx_tests::peers::TempDir;

use super::*;

fn settings(path: &Path, capacity: u32, workers: u32) -> TableSettings {
    TableSettings {
        path: Some(path.to_owned()),
        capacity,
        workers,
        on_mismatch: OnMismatch::Error,
        state_path: None,
    }
}

fn session(tid: u16, sid: u16, bank_bits: u32, addr: Ipv4Addr) -> SessionEntry {
    SessionEntry {
        session: Session {
            slot: slot_index(tid, sid, bank_bits),
            our_tunnel_id: tid,
            our_session_id: sid,
            peer_tunnel_id: 7,
            peer_session_id: 9,
            peer_addr: Ipv4Addr::new(198, 18, 0, 2),
            peer_port: 1701,
            subscriber_v4: Some(addr),
            subscriber_v6_prefix: None,
            sequencing: false,
            mtu: 1500,
            mss_clamp: 1460,
            template: [0; TEMPLATE_MAX],
            template_len: 42,
            l2tp_offset: 34,
        },
        cookie: 5,
    }
}

#[test]
fn reopening_keeps_published_sessions() {
    let dir = TempDir::new("persist").unwrap();
    let path = dir.path().join("t");
    let t = settings(&path, 65_536 << 1, 2);
    let (mut w, how) = open_table(&path, &t, 1, "lns.toml").unwrap();
    assert_eq!(how, Opened::Created);
    let e = session(3, 4, 1, Ipv4Addr::new(198, 18, 64, 1));
    w.publish(&e).unwrap();
    // Its own open (a dup of the writer's fd would share its flock).
    let reader = l2tpx_table::TableReader::open(&path).unwrap();
    drop(w); // the writer dies; the reader keeps its mapping
    let (w, how) = open_table(&path, &t, 1, "lns.toml").unwrap();
    assert_eq!(how, Opened::Reopened);
    assert_eq!(w.published(), 1);
    assert_eq!(w.get(e.session.slot), Some(e));
    assert_eq!(
        w.find_ipv4(Ipv4Addr::new(198, 18, 64, 1)),
        Some(e.session.slot)
    );
    // The old reader sees the same table (same file, not a new one).
    assert_eq!(reader.writer_epoch(), 2);
}

/// A table at `path` (capacity 131,072, 2 workers, 1 bank bit) holding
/// one published session, closed again.
fn table_with_one_session(path: &Path) {
    let (mut w, _) = open_table(path, &settings(path, 65_536 << 1, 2), 1, "lns.toml").unwrap();
    w.publish(&session(3, 4, 1, Ipv4Addr::new(198, 18, 64, 1)))
        .unwrap();
}

#[test]
fn a_geometry_mismatch_is_an_error_naming_keys_and_files() {
    let dir = TempDir::new("persist").unwrap();
    let path = dir.path().join("t");
    table_with_one_session(&path);
    let e = open_table(&path, &settings(&path, 65_536, 1), 1, "lns.toml").unwrap_err();
    assert!(e.starts_with("lns.toml: "), "{e}");
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("table.capacity = 65536 (table: 131072)"), "{e}");
    assert!(e.contains("table.workers = 1 (table: 2)"), "{e}");
    assert!(!e.contains("table.bank_bits"), "{e}");
    let e = open_table(&path, &settings(&path, 65_536 << 1, 2), 0, "lns.toml").unwrap_err();
    assert!(e.contains("table.bank_bits = 0 (table: 1)"), "{e}");
    // Nothing was wiped.
    let (w, how) = open_table(&path, &settings(&path, 65_536 << 1, 2), 1, "x").unwrap();
    assert_eq!((how, w.published()), (Opened::Reopened, 1));
}

#[test]
fn recreate_on_mismatch_replaces_the_table() {
    let dir = TempDir::new("persist").unwrap();
    let path = dir.path().join("t");
    table_with_one_session(&path);
    let mut t = settings(&path, 65_536, 1);
    t.on_mismatch = OnMismatch::Recreate;
    let (w, how) = open_table(&path, &t, 1, "lns.toml").unwrap();
    assert_eq!(how, Opened::Recreated);
    assert_eq!((w.published(), w.capacity(), w.workers()), (0, 65_536, 1));
}

#[test]
fn a_file_that_is_no_table_is_an_error_unless_recreate() {
    let dir = TempDir::new("persist").unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, b"not a table").unwrap();
    let mut t = settings(&path, 65_536, 1);
    let e = open_table(&path, &t, 0, "lns.toml").unwrap_err();
    assert!(e.contains("cannot be opened"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a table");
    t.on_mismatch = OnMismatch::Recreate;
    let (w, how) = open_table(&path, &t, 0, "lns.toml").unwrap();
    assert_eq!((how, w.published()), (Opened::Recreated, 0));
    drop(w);
    assert_eq!(
        TableWriter::open_existing(&path).unwrap().capacity(),
        65_536
    );
}

mod journal {
    use super::*;
    use crate::persist::journal::*;

    fn tunnel(tid: u16) -> TunnelRecord {
        TunnelRecord {
            tunnel_id: tid,
            peer_tunnel_id: tid ^ 0x5555,
            peer: "198.18.0.2:1701".parse().unwrap(),
            peer_rws: 8,
            host_name: b"lac-1".to_vec(),
        }
    }

    fn session(tid: u16, sid: u16) -> SessionRecord {
        SessionRecord {
            tunnel_id: tid,
            session_id: sid,
            peer_session_id: sid + 100,
            slot: slot_index(tid, sid, 1),
            cookie: u64::from(sid) << 20,
            call_serial: 7,
            sequencing: sid.is_multiple_of(2),
            user: format!("user{sid}"),
            address: Some(Ipv4Addr::new(198, 18, 64, sid as u8)),
            pool: Some("default".into()),
            our_magic: 0xdead_beef,
            our_mru: 1500,
            peer_magic: 0x1234_5678,
            peer_mru: 1460,
            auth: 2,
            acct_session_id: format!("65f0a1b2-{sid:08x}"),
            acct_start_unix: 1_700_000_000 + u64::from(sid),
            class: if sid.is_multiple_of(3) {
                vec![vec![1, 2, 3], vec![4]]
            } else {
                Vec::new()
            },
            session_timeout: Some(3600),
            idle_timeout: None,
            interim: Some(300),
            calling: Some(b"0123".to_vec()),
            called: None,
        }
    }

    fn bytes_of(j: &Path) -> Vec<u8> {
        std::fs::read(j).unwrap()
    }

    #[test]
    fn every_record_round_trips() {
        for r in [
            Record::TunnelUp(tunnel(9)),
            Record::TunnelUp(TunnelRecord {
                peer: "[2001:db8::2]:1701".parse().unwrap(),
                ..tunnel(10)
            }),
            Record::TunnelDown { tunnel_id: 9 },
            Record::SessionUp(Box::new(session(9, 3))),
            Record::SessionUp(Box::default()),
            Record::SessionDown {
                tunnel_id: 9,
                session_id: 3,
            },
        ] {
            let f = r.encode();
            let len = u32::from_le_bytes(f[..4].try_into().unwrap()) as usize;
            assert_eq!(f.len(), 8 + len);
            assert_eq!(Record::decode(&f[8..]), Some(r));
        }
        // Trailing garbage or a short payload is no record.
        let mut f = Record::TunnelDown { tunnel_id: 1 }.encode();
        f.push(0);
        assert_eq!(Record::decode(&f[8..]), None);
        assert_eq!(Record::decode(&f[8..f.len() - 2]), None);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_journal_replays_to_the_live_set() {
        let dir = TempDir::new("journal").unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::create(&path, &Replayed::default()).unwrap();
        j.append(&Record::TunnelUp(tunnel(1)));
        j.append(&Record::TunnelUp(tunnel(2)));
        for sid in 1..=4 {
            j.append(&Record::SessionUp(Box::new(session(1, sid))));
        }
        j.append(&Record::SessionUp(Box::new(session(2, 9))));
        j.append(&Record::SessionDown {
            tunnel_id: 1,
            session_id: 2,
        });
        j.append(&Record::TunnelDown { tunnel_id: 2 });
        j.flush().unwrap();
        assert_eq!(j.stats().writes, 1, "one write per flush");
        let (state, rep) = load(&path).unwrap();
        assert_eq!(rep.records, 9);
        assert_eq!(
            (rep.dropped_bytes, rep.corrupt, rep.bad_header),
            (0, 0, false)
        );
        assert_eq!(state.tunnels, vec![tunnel(1)]);
        assert_eq!(
            state.sessions,
            vec![session(1, 1), session(1, 3), session(1, 4)]
        );
        // Absent file: nothing, no error.
        assert_eq!(
            load(&dir.path().join("none")).unwrap().0,
            Replayed::default()
        );
    }

    #[test]
    fn a_torn_tail_is_dropped_and_counted() {
        let dir = TempDir::new("journal").unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::create(&path, &Replayed::default()).unwrap();
        j.append(&Record::TunnelUp(tunnel(1)));
        j.append(&Record::SessionUp(Box::new(session(1, 1))));
        j.flush().unwrap();
        let whole = bytes_of(&path);
        let last = Record::SessionUp(Box::new(session(1, 1))).encode().len();
        // Every cut inside the last frame keeps the tunnel and drops the
        // session; no cut panics.
        for cut in whole.len() - last..whole.len() {
            let (state, rep) = replay(&whole[..cut]);
            assert_eq!(state.tunnels, vec![tunnel(1)], "cut {cut}");
            assert!(state.sessions.is_empty(), "cut {cut}");
            assert_eq!(rep.dropped_bytes as usize, cut - (whole.len() - last));
            assert_eq!(rep.records, 1);
        }
        for cut in 0..whole.len() {
            let _ = replay(&whole[..cut]);
        }
    }

    #[test]
    fn a_corrupt_record_ends_the_replay() {
        let dir = TempDir::new("journal").unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::create(&path, &Replayed::default()).unwrap();
        j.append(&Record::TunnelUp(tunnel(1)));
        j.append(&Record::SessionUp(Box::new(session(1, 1))));
        j.append(&Record::SessionUp(Box::new(session(1, 2))));
        j.flush().unwrap();
        let mut b = bytes_of(&path);
        let first = 16 + Record::TunnelUp(tunnel(1)).encode().len();
        b[first + 20] ^= 0x40; // inside the first session's payload
        let (state, rep) = replay(&b);
        assert_eq!(rep.corrupt, 1);
        assert_eq!(rep.records, 1);
        assert_eq!(rep.dropped_bytes as usize, b.len() - first);
        assert_eq!(state.tunnels.len(), 1);
        assert!(state.sessions.is_empty());
        // A length that claims more than any record may hold.
        let mut b = bytes_of(&path);
        b[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(replay(&b).1.records, 1);
        // Not a journal of ours (or another version): nothing is trusted.
        let mut b = bytes_of(&path);
        b[8] = 99;
        let (state, rep) = replay(&b);
        assert!(rep.bad_header && state == Replayed::default());
        assert!(replay(b"garbage").1.bad_header);
    }

    #[test]
    fn compaction_keeps_the_live_set_and_bounds_the_file() {
        let dir = TempDir::new("journal").unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::create(&path, &Replayed::default()).unwrap();
        j.append(&Record::TunnelUp(tunnel(1)));
        j.flush().unwrap();
        // Churn: sessions come and go; ten stay.
        for round in 0..300u16 {
            for sid in 1..=10 {
                j.append(&Record::SessionUp(Box::new(session(1, sid + round % 2))));
                if round % 2 == 0 {
                    j.append(&Record::SessionDown {
                        tunnel_id: 1,
                        session_id: sid + 1,
                    });
                }
            }
            j.flush().unwrap();
            assert!(
                j.records() <= 2 * 11 + COMPACT_SLACK + 20,
                "{}",
                j.records()
            );
        }
        assert!(j.stats().compactions >= 1);
        let (state, rep) = load(&path).unwrap();
        assert_eq!(rep.dropped_bytes, 0);
        assert_eq!(state.tunnels, vec![tunnel(1)]);
        let want: Vec<_> = (1..=10).map(|sid| session(1, sid + 1)).collect();
        let mut have = state.sessions.clone();
        have.retain(|s| s.session_id >= 2);
        assert_eq!(have.len(), 10, "{:?}", state.sessions.len());
        assert_eq!(have, want);
        // Creating from a state writes exactly it.
        let j2 = Journal::create(&path, &state).unwrap();
        assert_eq!(j2.live(), (1, state.sessions.len()));
        assert_eq!(load(&path).unwrap().0, state);
    }
}

mod reconcile {
    use super::*;
    use crate::persist::journal::{Replayed, SessionRecord, TunnelRecord};
    use crate::persist::{reconcile, Plan};

    fn tunnel(tid: u16) -> TunnelRecord {
        TunnelRecord {
            tunnel_id: tid,
            peer_tunnel_id: 7,
            peer: "198.18.0.2:1701".parse().unwrap(),
            peer_rws: 4,
            host_name: b"lac".to_vec(),
        }
    }

    fn rec(tid: u16, sid: u16, addr: Ipv4Addr) -> SessionRecord {
        SessionRecord {
            tunnel_id: tid,
            session_id: sid,
            peer_session_id: 9,
            slot: slot_index(tid, sid, 1),
            address: Some(addr),
            ..SessionRecord::default()
        }
    }

    fn a(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 64, n)
    }

    /// Both: adopted. Journal only: ended (tunnel known) or lost (not).
    /// Table only, or a table entry that differs: withdrawn.
    #[test]
    fn journal_and_table_are_matched() {
        let journal = Replayed {
            tunnels: vec![tunnel(3)],
            sessions: vec![
                rec(3, 4, a(1)), // in the table: adopt
                rec(3, 5, a(2)), // not in the table: end
                rec(3, 6, a(3)), // table has another address: end + withdraw
                rec(8, 1, a(4)), // tunnel not journalled: lost + withdraw
            ],
        };
        let table = vec![
            session(3, 4, 1, a(1)),
            session(3, 6, 1, a(9)),
            session(8, 1, 1, a(4)),
            session(3, 7, 1, a(5)), // no record: withdraw
        ];
        let p = reconcile(&journal, table.clone());
        assert_eq!(p.tunnels, vec![tunnel(3)]);
        assert_eq!(p.adopt, vec![rec(3, 4, a(1))]);
        assert_eq!(p.end, vec![rec(3, 5, a(2)), rec(3, 6, a(3))]);
        assert_eq!(p.lost, vec![rec(8, 1, a(4))]);
        let slots: Vec<u32> = p.withdraw.iter().map(|e| e.session.slot).collect();
        let mut want = [table[1], table[2], table[3]];
        want.sort_by_key(|e| e.session.slot);
        assert_eq!(
            slots,
            want.iter().map(|e| e.session.slot).collect::<Vec<_>>()
        );
        // Nothing journalled: every entry is withdrawn.
        let p = reconcile(&Replayed::default(), table.clone());
        assert_eq!(p.withdraw.len(), 4);
        assert_eq!(reconcile(&Replayed::default(), vec![]), Plan::default());
    }
}
