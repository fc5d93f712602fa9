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

#[test]
fn a_geometry_mismatch_is_an_error_naming_keys_and_files() {
    let dir = TempDir::new("persist").unwrap();
    let path = dir.path().join("t");
    let (mut w, _) = open_table(&path, &settings(&path, 65_536 << 1, 2), 1, "lns.toml").unwrap();
    w.publish(&session(3, 4, 1, Ipv4Addr::new(198, 18, 64, 1)))
        .unwrap();
    drop(w);
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
    let (mut w, _) = open_table(&path, &settings(&path, 65_536 << 1, 2), 1, "lns.toml").unwrap();
    w.publish(&session(3, 4, 1, Ipv4Addr::new(198, 18, 64, 1)))
        .unwrap();
    drop(w);
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
