//! The whole system in three network namespaces: the `controlplane` and
//! `dataplane` binaries run side by side in the LNS namespace over one
//! session table, between a LAC namespace and a CORE namespace.
//!
//! ```text
//!  LAC ns                  LNS ns (ip_forward = 0)                 CORE ns
//!  lac_if 198.18.0.2 ── lns_access_if 198.18.0.1
//!                          controlplane  (UDP 1701, PPP, AAA, pool, table writer)
//!                          dataplane     (XDP + workers, table reader)
//!                          lns_core_if 198.19.0.1 ── core_if 198.19.0.2
//!                                                    198.18.64.0/18 via 198.19.0.1
//! ```
//!
//! The LNS does not forward in the kernel, so every packet that crosses it
//! was carried by the data plane. Names are unique per test run and every
//! namespace, process and file goes away on drop, also when a test panics.
//! The LAC itself (the L2TP and PPP client engines) belongs to the test:
//! this module only builds the topology and starts and stops the daemons.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::netns::{Daemon, NetNs, Veth};
use crate::peers::{wait_until, TempDir};

/// The LAC's access address.
pub const LAC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The LNS's access address (the control plane listens here, port 1701).
pub const LNS_ACCESS_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The LNS's core address (CORE's route to the pool points here).
pub const LNS_CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// CORE's address (the data plane's core gateway).
pub const CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// The subscriber pool's network, routed by CORE towards the LNS.
pub const POOL_NET: &str = "198.18.64.0/18";
/// The first address the pool hands out.
pub const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 1);
/// The last address the pool hands out.
pub const POOL_LAST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 254);

fn sysctl(ns: &NetNs, kv: &str) -> io::Result<()> {
    ns.exec("sysctl", &["-q", "-w", kv]).map(|_| ())
}

/// The interface's MAC address, read with `ip` inside `ns`.
pub fn interface_mac(ns: &NetNs, ifname: &str) -> io::Result<[u8; 6]> {
    let out = ns.ip(&["-o", "link", "show", "dev", ifname])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(|| io::Error::other(format!("no link/ether in {text:?}")))?;
    let mut m = [0u8; 6];
    let mut parts = mac.split(':');
    for b in &mut m {
        *b = parts
            .next()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| io::Error::other(format!("bad MAC {mac:?}")))?;
    }
    Ok(m)
}

/// The three namespaces and their two veth pairs (one queue each).
#[derive(Debug)]
pub struct Topology {
    /// The LAC.
    pub lac: NetNs,
    /// The LNS: both daemons run here.
    pub lns: NetNs,
    /// The Internet side.
    pub core: NetNs,
    /// The LAC's interface (198.18.0.2/24).
    pub lac_if: String,
    /// The LNS's access interface (198.18.0.1/24).
    pub lns_access_if: String,
    /// The LNS's core interface (198.19.0.1/24).
    pub lns_core_if: String,
    /// CORE's interface (198.19.0.2/24).
    pub core_if: String,
}

impl Topology {
    /// Builds it: IPv6 off everywhere (no stray router solicitations),
    /// forwarding off in the LNS, CORE's route to [`POOL_NET`] via the LNS,
    /// transmit checksum offload off on CORE's interface (needs `ethtool`).
    pub fn new() -> io::Result<Topology> {
        let lac = NetNs::new("slac")?;
        let lns = NetNs::new("slns")?;
        let core = NetNs::new("scor")?;
        for ns in [&lac, &lns, &core] {
            sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
            sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")?;
        }
        sysctl(&lns, "net.ipv4.ip_forward=0")?;
        let access = Veth::new(&lac, "198.18.0.2/24", &lns, "198.18.0.1/24")?;
        let core_link = Veth::new(&lns, "198.19.0.1/24", &core, "198.19.0.2/24")?;
        core.ip(&["route", "add", POOL_NET, "via", "198.19.0.1"])?;
        // A sender in a peer namespace hands veth CHECKSUM_PARTIAL frames:
        // the UDP checksum field holds only the pseudo-header sum, and XDP
        // and AF_XDP see it so. A router on a real link sends complete
        // checksums; make CORE do the same, so that the subscriber checks
        // the checksums of what the data plane forwards.
        core.exec("ethtool", &["-K", &core_link.b, "tx", "off"])?;
        Ok(Topology {
            lac,
            lns,
            core,
            lac_if: access.a,
            lns_access_if: access.b,
            lns_core_if: core_link.a,
            core_if: core_link.b,
        })
    }

    /// Every interface's counters (`ip -s -s link`) in each namespace,
    /// and the veth driver's own (`ethtool -S`: XDP and ring drops) on
    /// the LNS's two interfaces: where a lost packet went, for a failing
    /// test's message.
    pub fn link_stats(&self) -> String {
        let mut out = String::new();
        let mut show = |what: String, r: io::Result<std::process::Output>| {
            let text = match r {
                Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
                Err(e) => format!("({e})\n"),
            };
            out.push_str(&format!("--- {what} ---\n{text}"));
        };
        for ns in [&self.lac, &self.lns, &self.core] {
            show(
                format!("ip -s -s link in {}", ns.name()),
                ns.ip(&["-s", "-s", "link"]),
            );
        }
        for i in [&self.lns_access_if, &self.lns_core_if] {
            show(
                format!("ethtool -S {i}"),
                self.lns.exec("ethtool", &["-S", i]),
            );
        }
        out
    }
}

/// Where the daemons' executables are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The `controlplane` executable.
    pub controlplane: PathBuf,
    /// The `dataplane` executable.
    pub dataplane: PathBuf,
}

/// The executable `name` in the same folder as `beside` (Cargo puts every
/// binary of a workspace in `target/<profile>/`), or where the environment
/// variable `var` points. An error says how to build it.
pub fn sibling_binary(beside: &Path, name: &str, var: &str) -> Result<PathBuf, String> {
    let p = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => beside.with_file_name(name),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: build it first (`cargo build --workspace --bins`; \
             `cargo test --workspace` builds it too) or set {var}",
            p.display()
        ))
    }
}

/// The LNS's settings that the test chooses.
#[derive(Debug, Clone)]
pub struct LnsSpec {
    /// Local users: (name, password); CHAP only.
    pub users: Vec<(String, String)>,
    /// The "default" pool's first and last address.
    pub pool: (Ipv4Addr, Ipv4Addr),
    /// Data-plane workers (= queues), also the table's counter rows.
    pub workers: u32,
    /// `l2tp.bank_bits` (= `table.bank_bits`).
    pub bank_bits: u8,
    /// Table slots (must cover `65536 << bank_bits` for any tunnel ID).
    pub capacity: u32,
}

impl Default for LnsSpec {
    fn default() -> Self {
        LnsSpec {
            users: vec![("subscriber".into(), "chap-secret".into())],
            pool: (POOL_FIRST, POOL_LAST),
            workers: 1,
            bank_bits: 1,
            capacity: 65_536 << 1,
        }
    }
}

/// The controlplane's TOML for `spec` (users file `users`, table `table`).
pub fn controlplane_config(spec: &LnsSpec, users: &Path, table: &Path) -> String {
    format!(
        r#"# Generated by l2tpx_tests::system.
[l2tp]
listen = "{LNS_ACCESS_IP}:1701"
host_name = "l2tpx-system"
bank_bits = {bank_bits}

[l2tp.retransmit]
initial_ms = 250
max_ms = 8000
retries = 5

[log]
# debug: per-session lines ("subscriber up/down") are at debug.
level = "debug"

[driver]
shutdown_timeout_ms = 3000

[ppp]
auth = ["chap-md5"]
gateway_address = "{LNS_ACCESS_IP}"
echo_interval_s = 10

[aaa]
mode = "local"
users_file = "{users}"

[[pool]]
name = "default"
first = "{first}"
last = "{last}"

[table]
path = "{table}"
capacity = {capacity}
bank_bits = {bank_bits}
workers = {workers}
"#,
        bank_bits = spec.bank_bits,
        users = users.display(),
        first = spec.pool.0,
        last = spec.pool.1,
        table = table.display(),
        capacity = spec.capacity,
        workers = spec.workers,
    )
}

/// The dataplane's TOML: the topology's interfaces, CORE as the gateway.
pub fn dataplane_config(topo: &Topology, spec: &LnsSpec, table: &Path) -> String {
    format!(
        "# Generated by l2tpx_tests::system.\n\
         access_if = \"{}\"\ncore_if = \"{}\"\nqueues = {}\ntable = \"{}\"\n\
         core_gateway = \"{CORE_IP}\"\nbackend = \"auto\"\numem_frames = 4096\n\
         ring_size = 1024\ntable_wait_s = 10\nstats_interval_s = 0\nidle_spins = 2000\n",
        topo.lns_access_if,
        topo.lns_core_if,
        spec.workers,
        table.display()
    )
}

/// Why the LNS did not start.
#[derive(Debug)]
pub enum StartError {
    /// The kernel refuses BPF here (not a failure of l2tpx: skip).
    BpfUnavailable(String),
    /// Anything else (a failure).
    Failed(String),
}

/// Both daemons running in the LNS namespace, with their files.
#[derive(Debug)]
pub struct Lns {
    /// The session table file.
    pub table: PathBuf,
    controlplane: Daemon,
    dataplane: Daemon,
    cp_log: PathBuf,
    dp_log: PathBuf,
    cp_exe: PathBuf,
    cp_conf: PathBuf,
    /// Logs of controlplanes killed by [`Lns::kill_controlplane`].
    old_cp_logs: Vec<PathBuf>,
    // Last: removed after the daemons are killed.
    _table: RemoveOnDrop,
    _dir: TempDir,
}

/// The table file, removed on drop with the control plane's journal beside
/// it (`<table>.state`, and `<table>.state.tmp` from a compaction cut short).
#[derive(Debug)]
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for ext in [".state", ".state.tmp"] {
            let mut p = self.0.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn spawn_logged(ns: &NetNs, exe: &Path, conf: &Path, log: &Path) -> io::Result<Daemon> {
    let mut cmd = ns.command(&exe.to_string_lossy());
    // The daemons log at their configured level unless the test run asks
    // for more (e.g. L2TPX_SYSTEM_RUST_LOG=debug).
    match std::env::var_os("L2TPX_SYSTEM_RUST_LOG") {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.arg("--config")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(File::create(log.with_extension("out"))?)
        .stderr(File::create(log)?);
    Daemon::spawn(cmd)
}

impl Lns {
    /// Writes the configurations and the users file into a fresh temporary
    /// folder, starts `controlplane` (waiting until it listens and has
    /// created the table), then `dataplane` (waiting until it has chosen
    /// its backend).
    pub fn start(topo: &Topology, bins: &Binaries, spec: &LnsSpec) -> Result<Lns, StartError> {
        let fail =
            |what: &str, e: &dyn std::fmt::Display| StartError::Failed(format!("{what}: {e}"));
        let dir = TempDir::new("system").map_err(|e| fail("temp dir", &e))?;
        let users = dir.path().join("users");
        // The table is a shared mapping: on tmpfs, as deployed, so that a
        // full disk cannot fault the daemons' page writes.
        let shm = Path::new("/dev/shm");
        let table = if shm.is_dir() {
            shm.join(format!(
                "l2tpx-system-{}.table",
                crate::netns::unique_name("t")
            ))
        } else {
            dir.path().join("sessions.table")
        };
        let table_guard = RemoveOnDrop(table.clone());
        let users_text: String = spec
            .users
            .iter()
            .map(|(u, p)| format!("{u} {p}\n"))
            .collect();
        std::fs::write(&users, users_text).map_err(|e| fail("users file", &e))?;
        let cp_conf = dir.path().join("controlplane.toml");
        let dp_conf = dir.path().join("dataplane.toml");
        std::fs::write(&cp_conf, controlplane_config(spec, &users, &table))
            .map_err(|e| fail("controlplane.toml", &e))?;
        std::fs::write(&dp_conf, dataplane_config(topo, spec, &table))
            .map_err(|e| fail("dataplane.toml", &e))?;
        let cp_log = dir.path().join("controlplane.log");
        let dp_log = dir.path().join("dataplane.log");

        let controlplane = spawn_logged(&topo.lns, &bins.controlplane, &cp_conf, &cp_log)
            .map_err(|e| fail("spawning controlplane", &e))?;
        let listening = wait_until(Duration::from_secs(5), || {
            read(&cp_log).contains("controlplane listening") && table.exists()
        });
        if !listening {
            return Err(StartError::Failed(format!(
                "controlplane did not start:\n{}",
                read(&cp_log)
            )));
        }
        let dataplane = spawn_logged(&topo.lns, &bins.dataplane, &dp_conf, &dp_log)
            .map_err(|e| fail("spawning dataplane", &e))?;
        let mut lns = Lns {
            table,
            controlplane,
            dataplane,
            cp_log,
            dp_log,
            cp_exe: bins.controlplane.clone(),
            cp_conf,
            old_cp_logs: Vec::new(),
            _table: table_guard,
            _dir: dir,
        };
        let started = wait_until(Duration::from_secs(10), || {
            let l = lns.dataplane_log();
            l.contains("data-plane backend") || lns.dataplane_exited()
        });
        let log = lns.dataplane_log();
        if !started || !log.contains("data-plane backend") {
            if log.contains("EPERM") || log.contains("Operation not permitted") {
                return Err(StartError::BpfUnavailable(log));
            }
            let status = lns.dataplane.child().try_wait().ok().flatten();
            return Err(StartError::Failed(format!(
                "dataplane did not start (exit status {status:?}):\n{log}"
            )));
        }
        Ok(lns)
    }

    fn dataplane_exited(&mut self) -> bool {
        matches!(self.dataplane.child().try_wait(), Ok(Some(_)))
    }

    /// What the controlplane logged so far.
    pub fn controlplane_log(&self) -> String {
        read(&self.cp_log)
    }

    /// What the dataplane logged so far.
    pub fn dataplane_log(&self) -> String {
        read(&self.dp_log)
    }

    /// Both logs (and those of killed controlplanes), for failure messages.
    pub fn logs(&self) -> String {
        let old: String = self
            .old_cp_logs
            .iter()
            .enumerate()
            .map(|(i, p)| format!("--- controlplane log (run {}) ---\n{}", i + 1, read(p)))
            .collect();
        format!(
            "{old}--- controlplane log ---\n{}--- dataplane log ---\n{}",
            self.controlplane_log(),
            self.dataplane_log()
        )
    }

    /// SIGKILLs the controlplane (no StopCCN, no cleanup of any kind) and
    /// waits for it to be gone; the dataplane runs on.
    pub fn kill_controlplane(&mut self) -> io::Result<ExitStatus> {
        let pgid = format!("-{}", self.controlplane.id());
        Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status()?;
        self.controlplane.child().wait()
    }

    /// Starts the controlplane again with the same configuration (after
    /// [`Lns::kill_controlplane`]), logging to a new file, without
    /// waiting: [`Lns::controlplane_log`] says when it listens.
    pub fn respawn_controlplane(&mut self, topo: &Topology) -> io::Result<()> {
        let n = self.old_cp_logs.len() + 2;
        let log = self.cp_log.with_file_name(format!("controlplane-{n}.log"));
        let d = spawn_logged(&topo.lns, &self.cp_exe, &self.cp_conf, &log)?;
        // The killed one is reaped: its drop would signal a process group
        // ID the system may have reused.
        std::mem::forget(std::mem::replace(&mut self.controlplane, d));
        self.old_cp_logs
            .push(std::mem::replace(&mut self.cp_log, log));
        Ok(())
    }

    /// The controlplane process.
    pub fn controlplane(&mut self) -> &mut Daemon {
        &mut self.controlplane
    }

    /// The dataplane process.
    pub fn dataplane(&mut self) -> &mut Daemon {
        &mut self.dataplane
    }
}

/// Sends SIGTERM to the daemon (its process group) without waiting.
pub fn sigterm(d: &Daemon) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", d.id())])
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `timeout` for the daemon to exit, calling `between` between
/// checks (every 25 ms or so) (e.g. to keep a peer answering); its exit status.
pub fn wait_exit(
    d: &mut Daemon,
    timeout: Duration,
    mut between: impl FnMut(),
) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(timeout, || {
        between();
        status = d.child().try_wait().ok().flatten();
        status.is_some()
    });
    status
}

#[cfg(test)]
mod test {
    use super::*;

    /// The failure diagnostics name every interface, with counters.
    #[test]
    fn link_stats_show_every_interface() {
        if let Some(why) = crate::netns::unavailable() {
            eprintln!("SKIP link_stats_show_every_interface: {why}");
            return;
        }
        let topo = Topology::new().unwrap();
        let s = topo.link_stats();
        for i in [
            &topo.lac_if,
            &topo.lns_access_if,
            &topo.lns_core_if,
            &topo.core_if,
        ] {
            assert!(s.contains(i.as_str()), "{i} in\n{s}");
        }
        assert!(s.contains("RX:") && s.contains("TX:"), "{s}");
        // veth's own counters: its peer, and per-queue XDP drops.
        assert!(s.contains("peer_ifindex"), "{s}");
    }
}
