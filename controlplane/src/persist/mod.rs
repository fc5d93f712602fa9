//! What lets the control plane restart without the data plane or the
//! subscribers noticing (ARCHITECTURE §2, docs/decisions.md "Control-plane
//! restart"): the session table is reopened, not recreated
//! ([`open_table`]), and the control state needed to resume tunnels and
//! sessions is journalled ([`journal`]).

pub mod journal;

use std::path::Path;
use std::time::Instant;

use std::collections::{HashMap, HashSet};

use l2tpx_table::{SessionEntry, SessionLookup, TableReader, TableWriter};

use journal::{Replayed, SessionRecord, TunnelRecord};

use crate::l2tp::Engine;
use crate::radius::SessionEndCause;
use crate::session::{NeighbourSource, SessionManager, TableSink};
use tracing::{info, warn};

use crate::config::{OnMismatch, TableSettings};

/// How the table was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// There was none: a fresh, empty table.
    Created,
    /// The existing table, every published session kept.
    Reopened,
    /// An existing table did not fit and `table.on_mismatch = "recreate"`
    /// replaced it.
    Recreated,
}

/// The keys of `t` (with `bank_bits`) that the table at `path` disagrees
/// with, as "key = ours (table: theirs)".
fn geometry_mismatch(r: &TableReader, t: &TableSettings, bank_bits: u32) -> Vec<String> {
    let mut v = Vec::new();
    let mut check = |key: &str, ours: u32, theirs: u32| {
        if ours != theirs {
            v.push(format!("{key} = {ours} (table: {theirs})"));
        }
    };
    check("table.capacity", t.capacity, r.capacity());
    check("table.bank_bits", bank_bits, r.bank_bits());
    check("table.workers", t.workers, r.workers());
    v
}

/// Opens the session table at `path` for writing: an existing table whose
/// geometry (capacity, bank bits, workers; the ABI version is checked by
/// the open) matches the configuration is reopened with every published
/// session in place, so the data plane forwards throughout. One that does
/// not match is an error naming the keys, the table and `origin` (the
/// configuration file), unless `table.on_mismatch = "recreate"`.
pub fn open_table(
    path: &Path,
    t: &TableSettings,
    bank_bits: u32,
    origin: &str,
) -> Result<(TableWriter, Opened), String> {
    let create = || {
        TableWriter::create(path, t.capacity, bank_bits, t.workers)
            .map_err(|e| format!("cannot create the session table {}: {e}", path.display()))
    };
    if !path.exists() {
        return Ok((create()?, Opened::Created));
    }
    let problem = match TableReader::open(path) {
        Ok(r) => {
            let bad = geometry_mismatch(&r, t, bank_bits);
            if bad.is_empty() {
                let w = TableWriter::open_existing(path).map_err(|e| {
                    format!("cannot reopen the session table {}: {e}", path.display())
                })?;
                info!(
                    table = %path.display(),
                    published = w.published(),
                    writer_epoch = w.writer_epoch(),
                    half_written = w.recovered_slots().len(),
                    "session table reopened: published sessions kept"
                );
                return Ok((w, Opened::Reopened));
            }
            format!("its geometry differs: {}", bad.join(", "))
        }
        Err(e) => format!("it cannot be opened: {e}"),
    };
    match t.on_mismatch {
        OnMismatch::Error => Err(format!(
            "{origin}: the existing session table {} does not fit the configuration: \
             {problem}; fix the configuration, remove the file (dropping every session), \
             or set table.on_mismatch = \"recreate\"",
            path.display()
        )),
        OnMismatch::Recreate => {
            warn!(table = %path.display(), %problem,
                "table.on_mismatch = \"recreate\": replacing the session table, every published session is dropped");
            Ok((create()?, Opened::Recreated))
        }
    }
}

/// What to do with the journal's sessions and the table's entries after a
/// restart ([`reconcile`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Tunnels to resume (every journalled one).
    pub tunnels: Vec<TunnelRecord>,
    /// Sessions in both, to resume as they were.
    pub adopt: Vec<SessionRecord>,
    /// Journalled sessions of a journalled tunnel whose table entry is gone
    /// (or differs): resumed only to be ended cleanly (LCP
    /// Terminate-Request, CDN, Accounting-Stop).
    pub end: Vec<SessionRecord>,
    /// Table slots with no (matching) journal record, or whose tunnel is
    /// not journalled: withdrawn.
    pub withdraw: Vec<SessionEntry>,
    /// Journalled sessions that can be neither resumed nor ended on the
    /// wire (their tunnel is not journalled): forgotten.
    pub lost: Vec<SessionRecord>,
}

/// Matches the journal against the table: a session is adopted when its
/// slot holds an entry with the same tunnel and session IDs (ours and the
/// peer's) and the same subscriber address, and its tunnel is journalled.
pub fn reconcile(journal: &Replayed, table: impl IntoIterator<Item = SessionEntry>) -> Plan {
    let tunnels: HashSet<u16> = journal.tunnels.iter().map(|t| t.tunnel_id).collect();
    let peer_tids: HashMap<u16, u16> = journal
        .tunnels
        .iter()
        .map(|t| (t.tunnel_id, t.peer_tunnel_id))
        .collect();
    let mut entries: HashMap<u32, SessionEntry> =
        table.into_iter().map(|e| (e.session.slot, e)).collect();
    let mut plan = Plan {
        tunnels: journal.tunnels.clone(),
        ..Plan::default()
    };
    for r in &journal.sessions {
        if !tunnels.contains(&r.tunnel_id) {
            plan.lost.push(r.clone());
            continue;
        }
        let matches = entries.get(&r.slot).is_some_and(|e| {
            let s = &e.session;
            (s.our_tunnel_id, s.our_session_id, s.peer_session_id)
                == (r.tunnel_id, r.session_id, r.peer_session_id)
                && Some(s.peer_tunnel_id) == peer_tids.get(&r.tunnel_id).copied()
                && s.subscriber_v4 == r.address
        });
        if matches {
            entries.remove(&r.slot);
            plan.adopt.push(r.clone());
        } else {
            plan.end.push(r.clone());
        }
    }
    plan.withdraw = entries.into_values().collect();
    plan.withdraw.sort_by_key(|e| e.session.slot);
    plan
}

/// What [`resume`] did.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Tunnels resumed.
    pub tunnels: usize,
    /// Sessions resumed as they were.
    pub sessions: usize,
    /// Sessions resumed only to be ended (no table entry).
    pub ended: usize,
    /// Table entries withdrawn (no journal record).
    pub withdrawn: usize,
    /// Journal records dropped (tunnel unknown).
    pub lost: usize,
    /// Tunnels or sessions that could not be resumed (withdrawn, CDN).
    pub failed: usize,
    /// The live state, to start the new journal with.
    pub state: Replayed,
}

/// Carries out `plan` at startup (`unix_now`: the Unix time at `now`):
/// withdraws orphaned table entries (quarantining their session IDs),
/// resumes the journalled tunnels in `engine` and the adopted sessions in
/// both `engine` and `manager`, and ends the sessions that lost their table
/// entry (resumed, then disconnected: LCP Terminate-Request, CDN,
/// Accounting-Stop with Acct-Terminate-Cause NAS-Reboot).
pub fn resume<T: TableSink, N: NeighbourSource>(
    plan: Plan,
    now: Instant,
    unix_now: u64,
    engine: &mut Engine,
    manager: &mut SessionManager<T, N>,
) -> Resumed {
    let mut out = Resumed {
        lost: plan.lost.len(),
        ..Resumed::default()
    };
    for e in &plan.withdraw {
        let s = &e.session;
        manager.table_mut().withdraw(s.slot);
        engine.quarantine_session_id(now, s.our_tunnel_id, s.our_session_id);
        out.withdrawn += 1;
    }
    let mut tunnels = HashMap::new();
    for t in plan.tunnels {
        match engine.resume_tunnel(
            now,
            t.tunnel_id,
            t.peer_tunnel_id,
            t.peer,
            t.peer_rws,
            t.host_name.clone(),
        ) {
            Ok(()) => {
                manager.resume_tunnel(t.tunnel_id, t.host_name.clone());
                tunnels.insert(t.tunnel_id, (t.peer, t.peer_tunnel_id));
                out.tunnels += 1;
                out.state.tunnels.push(t);
            }
            Err(e) => {
                warn!(tunnel_id = t.tunnel_id, error = %e, "cannot resume the tunnel");
                out.failed += 1;
            }
        }
    }
    let adopt = plan.adopt.into_iter().map(|r| (r, true));
    let end = plan.end.into_iter().map(|r| (r, false));
    for (r, published) in adopt.chain(end) {
        let key = r.key();
        let resumed = match tunnels.get(&r.tunnel_id) {
            None => Err("its tunnel was not resumed".to_owned()),
            Some(&(peer, peer_tid)) => engine
                .resume_session(now, key, r.peer_session_id)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    manager
                        .resume_session(now, unix_now, &r, peer, peer_tid, published)
                        .inspect_err(|_| {
                            let _ = engine.close_session(now, key, 2, Some(0), "restart");
                        })
                }),
        };
        match resumed {
            Ok(_) if published => {
                out.sessions += 1;
                out.state.sessions.push(r);
            }
            Ok(key) => {
                manager.disconnect(now, key, SessionEndCause::NasReboot);
                out.ended += 1;
            }
            Err(e) => {
                warn!(?key, error = %e, "cannot resume the session");
                if published {
                    manager.table_mut().withdraw(r.slot);
                }
                out.failed += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
