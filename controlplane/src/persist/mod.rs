//! What lets the control plane restart without the data plane or the
//! subscribers noticing (ARCHITECTURE §2, docs/decisions.md "Control-plane
//! restart"): the session table is reopened, not recreated
//! ([`open_table`]), and the control state needed to resume tunnels and
//! sessions is journalled ([`journal`]).

pub mod journal;

use std::path::Path;

use l2tpx_table::{SessionLookup, TableReader, TableWriter};
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

#[cfg(test)]
mod tests;
