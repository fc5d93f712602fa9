//! Debian's l2tpns as a real LNS, with FreeRADIUS beside it, inside a test
//! namespace (ARCHITECTURE §4 recipe):
//!
//! - l2tpns runs on a TUN device in the namespace, its `cluster_interface`
//!   is the namespace's veth (heartbeats stay inside), with
//!   `cluster_hb_interval 1` / `cluster_hb_timeout 15` so it declares
//!   itself master (and answers) after about 1.5 s;
//! - it reads its pool from `/etc/l2tpns/ip_pool`, so it is started in a
//!   private mount namespace (`unshare -m`) with our pool file bind-mounted
//!   there;
//! - it kills its own process group on exit, so it runs as the leader of
//!   its own group ([`Daemon`]), never in the test's;
//! - it always authenticates PPP through RADIUS: FreeRADIUS runs in the
//!   *same* namespace on its 127.0.0.1 ([`crate::netns::in_netns`] starts it from a
//!   thread that entered the namespace);
//! - `allow_duplicate_users yes`: every emulated subscriber logs in as the
//!   same user.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::freeradius::FreeRadius;
use crate::netns::{in_netns, Daemon, NetNs};
use crate::peers::{wait_until, TempDir};

/// Why l2tpns cannot be run here, or `None` when it can (root, network
/// namespaces, `/dev/net/tun`, l2tpns, FreeRADIUS, `unshare`).
pub fn unavailable() -> Option<String> {
    if let Some(why) = crate::netns::unavailable() {
        return Some(why);
    }
    if !Path::new("/usr/sbin/l2tpns").exists() && which("l2tpns").is_none() {
        return Some("l2tpns is not installed (apt-get install l2tpns)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (l2tpns needs a TUN device)".into());
    }
    if !Path::new("/etc/l2tpns/ip_pool").exists() {
        return Some("/etc/l2tpns/ip_pool is missing (the bind-mount target)".into());
    }
    if which("unshare").is_none() {
        return Some("unshare (util-linux) is not installed".into());
    }
    crate::freeradius::unavailable()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// How to run l2tpns.
#[derive(Debug, Clone)]
pub struct L2tpnsConfig {
    /// `bind_address`: the LNS's access address (UDP 1701), also put on
    /// the TUN device.
    pub bind_address: Ipv4Addr,
    /// `cluster_interface`: the namespace's access veth.
    pub cluster_interface: String,
    /// Pool lines for `/etc/l2tpns/ip_pool` (CIDRs or ranges).
    pub pool: Vec<String>,
    /// PAP/CHAP user name every subscriber logs in with.
    pub username: String,
    /// Its password.
    pub password: String,
    /// `l2tp_secret` (tunnel authentication, used if the LAC challenges).
    pub l2tp_secret: Option<String>,
    /// `debug` level 0..=5 (3 logs every session; 1 for benches).
    pub debug: u8,
    /// `radius_accounting`.
    pub radius_accounting: bool,
    /// `radius_authtypes` ("chap,pap").
    pub radius_authtypes: String,
    /// `primary_dns`.
    pub primary_dns: Ipv4Addr,
    /// Extra `set ...` lines.
    pub extra: Vec<String>,
}

impl Default for L2tpnsConfig {
    fn default() -> Self {
        L2tpnsConfig {
            bind_address: Ipv4Addr::new(198, 18, 0, 1),
            cluster_interface: "eth0".into(),
            pool: vec!["198.18.64.0/18".into()],
            username: "bench".into(),
            password: "benchpw".into(),
            l2tp_secret: None,
            debug: 1,
            radius_accounting: false,
            radius_authtypes: "chap,pap".into(),
            primary_dns: Ipv4Addr::new(198, 19, 0, 53),
            extra: Vec::new(),
        }
    }
}

/// A running l2tpns and its FreeRADIUS, both inside one namespace; killed
/// (and their files removed) on drop.
#[derive(Debug)]
pub struct L2tpns {
    daemon: Daemon,
    radius_daemon: Daemon,
    radius: FreeRadius,
    // Dropped last: the daemons never see their folder vanish.
    dir: TempDir,
    tun: String,
}

impl L2tpns {
    /// Starts FreeRADIUS then l2tpns inside `ns`, and waits (10 s at most)
    /// until l2tpns has declared itself cluster master and listens.
    pub fn start(ns: &NetNs, cfg: &L2tpnsConfig) -> io::Result<L2tpns> {
        let users = format!(
            "{}\tCleartext-Password := \"{}\"\n",
            cfg.username, cfg.password
        );
        let secret = "l2tpx-bench-radius";
        let radius = in_netns(ns.name(), || FreeRadius::start_with_users(secret, &users))??;
        let dir = TempDir::new("l2tpns")?;
        let radius_daemon = restart_without_message_authenticator(ns, &radius, dir.path())?;
        let tun = crate::netns::unique_name("tun");
        let pool = dir.path().join("ip_pool");
        fs::write(&pool, cfg.pool.join("\n") + "\n")?;
        let log = dir.path().join("l2tpns.log");
        let conf = dir.path().join("startup-config");
        let mut text = format!(
            "set debug {}\n\
             set log_file \"{}\"\n\
             set pid_file \"{}\"\n\
             set bind_address {}\n\
             set cluster_interface {}\n\
             set cluster_hb_interval 1\n\
             set cluster_hb_timeout 15\n\
             set primary_radius 127.0.0.1\n\
             set primary_radius_port {}\n\
             set radius_secret \"{}\"\n\
             set radius_accounting {}\n\
             set radius_authtypes \"{}\"\n\
             set allow_duplicate_users yes\n\
             set primary_dns {}\n\
             set cli_bind_address 127.0.0.1\n\
             set tundevicename {}\n",
            cfg.debug,
            log.display(),
            dir.path().join("l2tpns.pid").display(),
            cfg.bind_address,
            cfg.cluster_interface,
            radius.auth_port,
            secret,
            if cfg.radius_accounting { "yes" } else { "no" },
            cfg.radius_authtypes,
            cfg.primary_dns,
            tun,
        );
        if let Some(s) = &cfg.l2tp_secret {
            text.push_str(&format!("set l2tp_secret \"{s}\"\n"));
        }
        for l in &cfg.extra {
            text.push_str(&format!("set {l}\n"));
        }
        fs::write(&conf, text)?;

        // ip netns exec → unshare -m → sh → exec l2tpns: one process all
        // along (sh forks only for mount), the leader of its own group.
        let script = format!(
            "mount --bind '{}' /etc/l2tpns/ip_pool && exec l2tpns -c '{}'",
            pool.display(),
            conf.display()
        );
        let out = fs::File::create(dir.path().join("l2tpns.out"))?;
        let mut cmd = ns.command("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut daemon = Daemon::spawn(cmd)?;
        let mut exited = false;
        let ready = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(_)) = daemon.child().try_wait() {
                exited = true;
                return true;
            }
            fs::read_to_string(&log).is_ok_and(|l| l.contains("declaring myself the master"))
        });
        if exited || !ready {
            let mut text = fs::read_to_string(dir.path().join("l2tpns.out")).unwrap_or_default();
            text.push_str(&fs::read_to_string(&log).unwrap_or_default());
            return Err(io::Error::other(format!(
                "l2tpns did not start (exited: {exited}):\n{text}"
            )));
        }
        Ok(L2tpns {
            daemon,
            radius_daemon,
            radius,
            dir,
            tun,
        })
    }

    /// The l2tpns process ID (for CPU accounting from /proc).
    pub fn pid(&self) -> u32 {
        self.daemon.id()
    }

    /// FreeRADIUS beside it (its configuration; the running server is
    /// [`L2tpns::radius_pid`]).
    pub fn radius(&self) -> &FreeRadius {
        &self.radius
    }

    /// The running FreeRADIUS's process ID.
    pub fn radius_pid(&self) -> u32 {
        self.radius_daemon.id()
    }

    /// Its TUN device's name.
    pub fn tun(&self) -> &str {
        &self.tun
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("l2tpns.log")).unwrap_or_default()
    }

    /// Its working folder (config, pool, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `l2tpns -v` style version line (`L2TPNS version X`), from its log.
    pub fn version(&self) -> Option<String> {
        self.log().lines().find_map(|l| {
            l.split_once("L2TPNS version ")
                .map(|(_, v)| v.trim().to_owned())
        })
    }

    /// Stops it (SIGTERM to its group, 3 s grace; then SIGKILL on drop).
    pub fn stop(mut self) {
        let _ = self.daemon.terminate(Duration::from_secs(3));
    }
}

/// Turns on IPv4 forwarding in `ns` (l2tpns routes subscriber traffic
/// between its TUN device and the core veth).
pub fn enable_forwarding(ns: &NetNs) -> io::Result<()> {
    ns.exec("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])
        .map(|_| ())
}

/// l2tpns 2.4 sends Access-Requests without Message-Authenticator, which
/// the harness's FreeRADIUS (`require_message_authenticator = yes`)
/// drops. The harness has no switch for it, so: stop the server it
/// started, turn the requirement off in its copied `clients.conf`, and run
/// FreeRADIUS again from that folder, in the namespace, as our own daemon.
fn restart_without_message_authenticator(
    ns: &NetNs,
    radius: &FreeRadius,
    dir: &Path,
) -> io::Result<Daemon> {
    let clients = radius.raddb().join("clients.conf");
    let text = fs::read_to_string(&clients)?;
    fs::write(
        &clients,
        text.replace(
            "require_message_authenticator = yes",
            "require_message_authenticator = no",
        ),
    )?;
    let pid = radius.pid();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let gone = wait_until(Duration::from_secs(5), || {
        // A zombie (state Z) until the harness's guard reaps it: gone.
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
    if !gone {
        return Err(io::Error::other("FreeRADIUS did not stop"));
    }
    let log_path = dir.join("radiusd.log");
    let log = fs::File::create(&log_path)?;
    // Not -X: debug mode is single-threaded and logs every packet, which
    // caps l2tpns's setup rate at FreeRADIUS's (about 2,400 CHAP/s here).
    let mut cmd = ns.command("freeradius");
    cmd.args(["-f", "-l", "stdout", "-d"])
        .arg(radius.raddb())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let mut daemon = Daemon::spawn(cmd)?;
    let mut exited = false;
    let ready = wait_until(Duration::from_secs(10), || {
        if let Ok(Some(_)) = daemon.child().try_wait() {
            exited = true;
            return true;
        }
        fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Ready to process requests"))
    });
    if exited || !ready {
        return Err(io::Error::other(format!(
            "FreeRADIUS did not restart (exited: {exited}):\n{}",
            fs::read_to_string(&log_path).unwrap_or_default()
        )));
    }
    Ok(daemon)
}
