//! `controlplane`: the l2tpx LNS control plane (L2TP control on UDP 1701).
//!
//! ```text
//! controlplane --config FILE            run
//! controlplane --config FILE --check-config   check the file and exit
//! ```
//!
//! Exit status: 0 after a shutdown (SIGTERM/SIGINT) or a good check; 1 for a
//! bad configuration or a runtime error (bind failure); 2 for bad usage.
//! A second SIGTERM/SIGINT during the shutdown exits 1 at once. See
//! docs/config.md.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use l2tpx_controlplane::config::{self, Settings};
use l2tpx_controlplane::driver;
use tracing::{error, info};

const USAGE: &str = "\
usage: controlplane --config FILE [--check-config]

  -c, --config FILE   the TOML configuration (see docs/config.md)
      --check-config  check the configuration and exit (0: good, 1: bad)
  -h, --help          this text
  -V, --version       the version

Signals: SIGTERM / SIGINT send a StopCCN to every peer and exit once they are
acknowledged or driver.shutdown_timeout_ms has passed; a second one exits at
once. RUST_LOG, when set, overrides log.level (tracing EnvFilter syntax).";

struct Args {
    config: PathBuf,
    check_only: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut config = None;
    let mut check_only = false;
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-c" | "--config") => {
                let v = it.next().ok_or("--config needs a FILE")?;
                config = Some(PathBuf::from(v));
            }
            Some(s) if s.starts_with("--config=") => {
                config = Some(PathBuf::from(&s["--config=".len()..]));
            }
            Some("--check-config") => check_only = true,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Some("-V" | "--version") => {
                println!("controlplane {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    let config = config.ok_or("--config FILE is required")?;
    Ok(Some(Args { config, check_only }))
}

fn init_logging(settings: &Settings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(settings.log_level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("controlplane: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let settings = match config::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("controlplane: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_only {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    init_logging(&settings);
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: &Settings) -> Result<(), String> {
    // First signal: raise the flag (the loop starts the shutdown). Second:
    // exit(1) at once. Registered before the socket so no signal is lost.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let socket = driver::bind(settings.listen, settings.recv_buffer_bytes)
        .map_err(|e| format!("cannot bind {}: {e}", settings.listen))?;
    let rcvbuf = socket2::SockRef::from(&socket)
        .recv_buffer_size()
        .unwrap_or(0);
    let mut d = driver::assemble(settings, socket)?;
    let c = &settings.engine;
    let l = &c.limits;
    info!(
        listen = %settings.listen,
        host_name = %c.host_name,
        max_tunnels = l.max_tunnels,
        max_sessions = l.max_sessions,
        max_sessions_per_tunnel = l.max_sessions_per_tunnel,
        max_half_open = l.max_half_open,
        max_half_open_per_peer = l.max_half_open_per_peer,
        bank_bits = c.bank_bits,
        slots = d.engine().ids().capacity(),
        receive_window = c.receive_window,
        secrets = c.secrets.per_peer.len(),
        default_secret = c.secrets.default.is_some(),
        rcvbuf,
        aaa = ?settings.aaa.mode,
        users = settings.aaa.users.len(),
        pools = settings.pools.len(),
        table = ?settings.table.path,
        "controlplane listening"
    );
    let clean = d.run(&stop).map_err(|e| format!("socket error: {e}"))?;
    info!(clean, "controlplane exiting");
    Ok(())
}
