//! The l2tpx target: the `controlplane` and `dataplane` binaries, both
//! run inside the LNS namespace as children in their own process groups
//! (killed with their group on drop), with their configuration, the
//! users file and the session table in a temporary folder.
//!
//! - the control plane listens on 198.18.0.1:1701, authenticates every
//!   subscriber against a local users file holding the emulator's user,
//!   hands out addresses from the default pool 198.18.64.1 –
//!   198.18.255.254 and publishes IP-up sessions to the table (a file in
//!   /dev/shm when it exists, as deployed);
//! - the data plane attaches XDP to the LNS's access and core veths and
//!   forwards between them (`ip_forward` is 0 in the LNS namespace: the
//!   kernel forwards nothing), the core host's route to the pool points at
//!   the LNS's core address.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use l2tpx_tests::freeradius::FreeRadius;
use l2tpx_tests::netns::{in_netns, Daemon};
use l2tpx_tests::peers::{wait_until, TempDir};

use crate::topo::{Topology, CORE_ADDR, LNS_ACCESS, LNS_CORE};

/// First and last pool addresses: the topology's 198.18.64.0/18 and
/// [`POOL_EXTRA`], so setup-rate runs can use up to 49,150 sessions.
pub const POOL_FIRST: &str = "198.18.64.1";
/// See [`POOL_FIRST`].
pub const POOL_LAST: &str = "198.18.255.254";
/// Addresses in the pool.
pub const POOL_SIZE: usize = 192 * 256 - 2;
/// The part of the pool beyond the topology's route, routed by the core
/// host to the LNS for l2tpx only.
pub const POOL_EXTRA: &str = "198.18.128.0/17";

/// Where the `controlplane` and `dataplane` binaries are: next to this
/// executable (`target/<profile>/`), or its parent for a test binary in
/// `target/<profile>/deps`; `L2TPX_BIN_DIR` overrides.
pub fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let dir = match std::env::var_os("L2TPX_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
            if dir.file_name().is_some_and(|n| n == "deps") {
                dir.pop();
            }
            dir
        }
    };
    let cp = dir.join("controlplane");
    let dp = dir.join("dataplane");
    for b in [&cp, &dp] {
        if !b.is_file() {
            return Err(format!(
                "{} not found: run `cargo build --workspace --bins` (same profile as l2tpx-bench), \
                 or set L2TPX_BIN_DIR",
                b.display()
            ));
        }
    }
    Ok((cp, dp))
}

/// How to run l2tpx.
#[derive(Debug, Clone)]
pub struct L2tpxConfig {
    /// The subscribers' user name.
    pub username: String,
    /// Its password.
    pub password: String,
    /// `ppp.auth`: "chap-md5" or "pap".
    pub auth: &'static str,
    /// `log.level` ("debug" logs every session; "info" a summary every 10 s).
    pub log_level: &'static str,
    /// Run the data plane as the bare forwarder (`mode = "bare"`), sending
    /// downstream frames to this MAC (the baseline target).
    pub bare_access_mac: Option<String>,
    /// Authenticate (and account) through FreeRADIUS on 127.0.0.1 in the
    /// LNS namespace instead of the local users file.
    pub radius: bool,
}

/// The shared secret between l2tpx and the bench's FreeRADIUS.
const RADIUS_SECRET: &str = "l2tpx-bench-radius";

/// The running control plane and data plane; killed (and their folder
/// removed) on drop.
#[derive(Debug)]
pub struct L2tpx {
    cp: Daemon,
    dp: Option<Daemon>,
    /// With `radius`: stopped after the control plane (field order), so
    /// its Accounting-Stops are still answered while it exits.
    _radius: Option<FreeRadius>,
    version: String,
    // Dropped last.
    dir: TempDir,
    /// The session table's folder (tmpfs when there is one).
    _table_dir: Option<TempDir>,
}

/// The error text when the data plane cannot load XDP here (the test
/// skips on it).
pub const XDP_UNAVAILABLE: &str = "XDP unavailable";

impl L2tpx {
    /// Writes the configs, sets the LNS namespace up (ip_forward 0),
    /// starts the control plane and then the data plane, and waits (10 s
    /// each at most) for "controlplane listening" and "data-plane backend"
    /// in their logs.
    pub fn start(topo: &Topology, cfg: &L2tpxConfig) -> Result<L2tpx, String> {
        let (cp_bin, dp_bin) = binaries()?;
        let io = |e: io::Error| e.to_string();
        let dir = TempDir::new("bench-l2tpx").map_err(io)?;
        let d = dir.path();
        // On tmpfs, as deployed (docs/config.md): a table file on ext4
        // costs a page_mkwrite and writeback per new page it touches.
        let table_dir = TempDir::new_in(Path::new("/dev/shm"), "bench-table").ok();
        let table = table_dir.as_ref().map_or(d, |t| t.path()).join("sessions");
        // Local mode only: with RADIUS there is no users file to fall back on.
        if !cfg.radius {
            fs::write(
                d.join("users"),
                format!("{} {}\n", cfg.username, cfg.password),
            )
            .map_err(io)?;
        }
        let radius = if cfg.radius {
            let users = format!(
                "{}\tCleartext-Password := \"{}\"\n",
                cfg.username, cfg.password
            );
            let r = in_netns(topo.lns.name(), || {
                FreeRadius::start_for_load(RADIUS_SECRET, &users)
            })
            .map_err(io)?
            .map_err(|e| format!("FreeRADIUS: {e}"))?;
            Some(r)
        } else {
            None
        };
        let aaa = match &radius {
            Some(r) => format!(
                "[aaa]\nmode = \"radius\"\n\
                 \n[[aaa.radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"{RADIUS_SECRET}\"\n\
                 auth_port = {}\nacct_port = {}\n",
                r.auth_port, r.acct_port
            ),
            None => "[aaa]\nmode = \"local\"\nusers_file = \"users\"\n".to_owned(),
        };
        let cp_conf = d.join("lns.toml");
        fs::write(
            &cp_conf,
            format!(
                "[l2tp]\nlisten = \"{LNS_ACCESS}:1701\"\nreceive_window = 32\nbank_bits = 0\n\
                 \n[log]\nlevel = \"{}\"\n\
                 \n[ppp]\nauth = [\"{}\"]\ngateway_address = \"{LNS_ACCESS}\"\n\
                 accept_proxy_lcp = true\naccept_proxy_auth = true\n\
                 \n{aaa}\
                 \n[[pool]]\nname = \"default\"\nfirst = \"{POOL_FIRST}\"\nlast = \"{POOL_LAST}\"\n\
                 \n[table]\npath = \"{}\"\nworkers = 1\nbank_bits = 0\n",
                cfg.log_level,
                cfg.auth,
                table.display()
            ),
        )
        .map_err(io)?;
        let dp_conf = d.join("dataplane.toml");
        fs::write(
            &dp_conf,
            format!(
                "access_if = \"{}\"\ncore_if = \"{}\"\ntable = \"{}\"\ncore_gateway = \"{CORE_ADDR}\"\n\
                 backend = \"auto\"\numem_frames = 4096\nring_size = 1024\ntable_wait_s = 10\n\
                 stats_interval_s = 5\n",
                topo.access.b,
                topo.core_link.a,
                table.display()
            ) + &cfg
                .bare_access_mac
                .as_ref()
                .map(|m| format!("mode = \"bare\"\nbare_access_mac = \"{m}\"\n"))
                .unwrap_or_default(),
        )
        .map_err(io)?;
        topo.lns
            .exec("sysctl", &["-q", "-w", "net.ipv4.ip_forward=0"])
            .map_err(io)?;
        topo.core
            .ip(&["route", "add", POOL_EXTRA, "via", &LNS_CORE.to_string()])
            .map_err(io)?;

        let version = std::process::Command::new(&cp_bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();

        let cp_log = d.join("controlplane.log");
        let cp = spawn(topo, &cp_bin, &cp_conf, &cp_log).map_err(io)?;
        let mut me = L2tpx {
            cp,
            dp: None,
            _radius: radius,
            version,
            dir,
            _table_dir: table_dir,
        };
        me.wait_log("controlplane", &cp_log, "controlplane listening")?;
        let dp_log = me.dir.path().join("dataplane.log");
        me.dp = Some(spawn(topo, &dp_bin, &dp_conf, &dp_log).map_err(io)?);
        if let Err(e) = me.wait_log("dataplane", &dp_log, "data-plane backend") {
            if e.contains("EPERM") || e.contains("Operation not permitted") {
                return Err(format!("{XDP_UNAVAILABLE}: {e}"));
            }
            return Err(e);
        }
        Ok(me)
    }

    fn wait_log(&mut self, name: &str, log: &Path, needle: &str) -> Result<(), String> {
        let daemon = match &mut self.dp {
            Some(dp) if name == "dataplane" => dp,
            _ => &mut self.cp,
        };
        let mut exited = false;
        let ready = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(_)) = daemon.child().try_wait() {
                exited = true;
                return true;
            }
            fs::read_to_string(log).is_ok_and(|l| l.contains(needle))
        });
        let text = fs::read_to_string(log).unwrap_or_default();
        if (exited && !text.contains(needle)) || !ready {
            return Err(format!(
                "{name} did not start (exited: {exited}; no {needle:?} in its log):\n{text}"
            ));
        }
        Ok(())
    }

    /// Waits (up to `timeout`) until the data plane steers downstream
    /// traffic for `n` IPv4 subscribers: its XDP subscriber maps follow the
    /// table within about 10 ms, but the log line this reads comes at most
    /// once a second (D18). Returns the last count seen.
    pub fn wait_steered(&self, n: usize, timeout: Duration) -> usize {
        let log = self.dir.path().join("dataplane.log");
        let mut seen = 0;
        wait_until(timeout, || {
            seen = fs::read_to_string(&log)
                .ok()
                .and_then(|t| last_steered(&t))
                .unwrap_or(0);
            seen >= n
        });
        seen
    }

    /// The process IDs (control plane, data plane), for CPU accounting.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(self.cp.id())
            .chain(self.dp.as_ref().map(Daemon::id))
            .collect()
    }

    /// `controlplane --version`.
    pub fn version(&self) -> String {
        self.version.clone()
    }

    /// SIGTERM to both (the control plane first: its StopCCNs still go
    /// out through the kernel), then kills what is left.
    pub fn stop(mut self) {
        self.cp.terminate(Duration::from_secs(5));
        if let Some(dp) = &mut self.dp {
            dp.terminate(Duration::from_secs(5));
        }
        if std::env::var_os("L2TPX_BENCH_LOGS").is_some() {
            for n in ["controlplane.log", "dataplane.log"] {
                let t = fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
                eprintln!("== {n} ==\n{t}");
            }
        }
    }
}

fn spawn(topo: &Topology, bin: &Path, conf: &Path, log: &Path) -> io::Result<Daemon> {
    let out = fs::File::create(log)?;
    let mut cmd = topo.lns.command(&bin.to_string_lossy());
    cmd.arg("--config")
        .arg(conf)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    Daemon::spawn(cmd)
}

/// The `v4=N` of the last "XDP subscriber maps synced" line.
fn last_steered(log: &str) -> Option<usize> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("XDP subscriber maps synced"))?;
    // Without ANSI colour sequences (ESC [ ... m).
    let mut plain = String::with_capacity(line.len());
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => plain.push(c),
        }
    }
    let at = plain.find("v4=")? + 3;
    let digits: String = plain[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod test {
    #[test]
    fn parses_the_steered_count() {
        let log = "x INFO dataplane: XDP subscriber maps synced added=3 removed=0 v4=3 v6=0\n\
                   x INFO dataplane: XDP subscriber maps synced added=117 removed=0 \u{1b}[3mv4\u{1b}[0m=120 v6=0\n";
        assert_eq!(super::last_steered(log), Some(3 + 117));
        assert_eq!(super::last_steered("nothing"), None);
    }
}
