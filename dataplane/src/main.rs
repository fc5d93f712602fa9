//! The l2tpx data plane: `dataplane --config FILE`.
//!
//! Validates the TOML configuration ([`l2tpx_dataplane::config`]), waits
//! for the session table the control plane creates, starts the backend
//! (AF_XDP behind the XDP steering programs, or AF_PACKET) with one pinned
//! worker per queue, then, until SIGTERM or SIGINT: mirrors the table's
//! subscribers into the XDP maps when its generation moves, refreshes the
//! core gateway's MAC, and logs counters. On exit it stops the workers and
//! detaches XDP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use l2tpx_dataplane::backend::{Dataplane, SyncReport};
use l2tpx_dataplane::config::Config;
use l2tpx_table::TableReader;

/// How often the XDP subscriber maps catch up with the table (a change
/// ring read when nothing changed).
const SYNC_EVERY: Duration = Duration::from_millis(10);

const USAGE: &str = "usage: dataplane --config FILE\n\
    \n\
    Runs the l2tpx data plane described by FILE (TOML: access_if, core_if,\n\
    queues, table, umem_frames, core_gateway, backend = auto|afxdp|afpacket).\n\
    Log level: RUST_LOG (default info).";

fn parse_args() -> Result<PathBuf, String> {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "--config" => {
                config = Some(args.next().ok_or("--config needs a file")?);
            }
            s if s.starts_with("--config=") => config = Some(s["--config=".len()..].to_string()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config
        .map(PathBuf::from)
        .ok_or_else(|| "--config is required".into())
}

/// The signals we stop on, blocked in every thread (workers inherit the
/// mask) and taken with `sigtimedwait` by the main loop.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits up to `timeout` for a stop signal; returns it.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: valid set and timespec; no siginfo wanted.
    let s = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (s > 0).then_some(s)
}

/// Opens the table, waiting up to `wait` for the file to appear.
#[allow(clippy::disallowed_methods)] // the driver's clock
fn open_table(cfg: &Config, set: &libc::sigset_t) -> Result<Option<TableReader>, String> {
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        match TableReader::open(&cfg.table) {
            Ok(t) => return Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if start.elapsed() >= Duration::from_secs(cfg.table_wait_s) {
                    return Err(format!(
                        "session table {} did not appear within {} s",
                        cfg.table.display(),
                        cfg.table_wait_s
                    ));
                }
                if !said {
                    tracing::info!(table = %cfg.table.display(), "waiting for the session table");
                    said = true;
                }
                if wait_signal(set, Duration::from_millis(100)).is_some() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(format!("session table {}: {e}", cfg.table.display())),
        }
    }
}

#[allow(clippy::disallowed_methods)] // the driver's clock
fn run(cfg: Config, set: &libc::sigset_t) -> Result<(), String> {
    let Some(table) = open_table(&cfg, set)? else {
        tracing::info!("stopped before the table appeared");
        return Ok(());
    };
    tracing::info!(
        table = %cfg.table.display(),
        capacity = table.capacity(),
        workers = table.workers(),
        sessions = table.published(),
        "session table open"
    );
    let mut dp = Dataplane::start(&cfg, Arc::new(table)).map_err(|e| e.to_string())?;
    let mut last_neigh = std::time::Instant::now();
    let mut last_stats = last_neigh;
    // The XDP maps follow the table within SYNC_EVERY; the log line
    // sums the changes over at most a second.
    let mut last_sync_log = last_neigh - Duration::from_secs(1);
    let mut unlogged = SyncReport::default();
    let stats_every = Duration::from_secs(cfg.stats_interval_s);
    let neigh_every = Duration::from_secs(cfg.neigh_refresh_s.max(1));
    loop {
        if let Some(sig) = wait_signal(set, SYNC_EVERY) {
            tracing::info!(signal = sig, "stopping");
            break;
        }
        if !dp.workers_alive() {
            dp.shutdown();
            return Err("a worker thread died".into());
        }
        let now = std::time::Instant::now();
        match dp.sync_subscribers() {
            Ok(r) => {
                unlogged.added += r.added;
                unlogged.removed += r.removed;
                unlogged.slots_read += r.slots_read;
                unlogged.scanned |= r.scanned;
                (unlogged.v4, unlogged.v6) = (r.v4, r.v6);
            }
            Err(e) => tracing::warn!(error = %e, "syncing the XDP subscriber maps"),
        }
        if unlogged.added + unlogged.removed > 0 && now - last_sync_log >= Duration::from_secs(1) {
            last_sync_log = now;
            tracing::info!(
                added = unlogged.added,
                removed = unlogged.removed,
                v4 = unlogged.v4,
                v6 = unlogged.v6,
                slots_read = unlogged.slots_read,
                rescan = unlogged.scanned,
                "XDP subscriber maps synced"
            );
            unlogged = SyncReport::default();
        }
        if now - last_neigh >= neigh_every {
            last_neigh = now;
            if let Err(e) = dp.refresh_neighbours() {
                tracing::warn!(error = %e, "reading the neighbour table");
            }
        }
        if !stats_every.is_zero() && now - last_stats >= stats_every {
            last_stats = now;
            dp.log_counters();
        }
    }
    dp.log_counters();
    dp.shutdown();
    tracing::info!("workers stopped, XDP detached");
    Ok(())
}

fn main() -> ExitCode {
    let path = match parse_args() {
        Ok(p) => p,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("dataplane: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let set = block_signals();
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(cfg, &set) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
