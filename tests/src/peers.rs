//! Real peers and tools, run inside test namespaces: xl2tpd as a LAC, and
//! tcpdump capturing what crosses an interface.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::netns::{Daemon, NetNs};

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/l2tpx-{tag}-{unique}`.
    pub fn new(tag: &str) -> io::Result<TempDir> {
        Self::new_in(&std::env::temp_dir(), tag)
    }

    /// Creates `{base}/l2tpx-{tag}-{unique}` (e.g. in `/dev/shm`).
    pub fn new_in(base: &Path, tag: &str) -> io::Result<TempDir> {
        let p = base.join(format!("l2tpx-{tag}-{}", crate::netns::unique_name("")));
        fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("L2TPX_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Waits until `cond` holds or `timeout` passes; returns whether it held.
// Test drivers may read the clock (the sans-IO rule is for engines).
#[allow(clippy::disallowed_methods)]
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Debian's xl2tpd, as a LAC dialling one LNS, in a namespace.
#[derive(Debug)]
pub struct Xl2tpd {
    daemon: Daemon,
    control: PathBuf,
    /// The `[lac NAME]` section to dial.
    pub lac_name: String,
}

impl Xl2tpd {
    /// Writes a config under `dir` and starts `xl2tpd -D` in `ns`, dialling
    /// nothing yet. `secret` enables tunnel authentication (challenge).
    pub fn start(ns: &NetNs, dir: &Path, lns: &str, secret: Option<&str>) -> io::Result<Xl2tpd> {
        let lac_name = "l2tpx".to_owned();
        let control = dir.join("l2tp-control");
        let options = dir.join("options.l2tpd.client");
        fs::write(&options, "noauth\nnodefaultroute\n")?;
        let (auth, secrets) = match secret {
            Some(s) => (
                "require authentication = no\nchallenge = yes\n",
                format!("* * {s}\n"),
            ),
            None => (
                "require authentication = no\nchallenge = no\n",
                String::new(),
            ),
        };
        let secrets_file = dir.join("l2tp-secrets");
        fs::write(&secrets_file, secrets)?;
        let conf = dir.join("xl2tpd.conf");
        let mut f = fs::File::create(&conf)?;
        write!(
            f,
            "[global]\nport = 1701\naccess control = no\nauth file = {}\n\n\
             [lac {lac_name}]\nlns = {lns}\nppp debug = no\npppoptfile = {}\n\
             length bit = yes\nredial = no\ntunnel rws = 8\n{auth}",
            secrets_file.display(),
            options.display(),
        )?;
        let daemon = ns.spawn(
            "xl2tpd",
            &[
                "-D",
                "-c",
                &conf.to_string_lossy(),
                "-s",
                &secrets_file.to_string_lossy(),
                "-p",
                &dir.join("xl2tpd.pid").to_string_lossy(),
                "-C",
                &control.to_string_lossy(),
            ],
        )?;
        if !wait_until(Duration::from_secs(5), || control.exists()) {
            return Err(io::Error::other(
                "xl2tpd did not create its control pipe in 5 s",
            ));
        }
        Ok(Xl2tpd {
            daemon,
            control,
            lac_name,
        })
    }

    /// Sends one control-pipe command (`c NAME`, `d NAME`, `t HOST`, ...).
    pub fn command(&self, line: &str) -> io::Result<()> {
        let mut pipe = fs::OpenOptions::new().write(true).open(&self.control)?;
        // One write(2): xl2tpd acts on whatever a single read returns, so a
        // command split across writes arrives truncated.
        pipe.write_all(format!("{line}\n").as_bytes())
    }

    /// `c NAME`: open the tunnel and place a call.
    pub fn dial(&self) -> io::Result<()> {
        self.command(&format!("c {}", self.lac_name))
    }

    /// `d NAME`: hang up and close the tunnel (StopCCN).
    pub fn hangup(&self) -> io::Result<()> {
        self.command(&format!("d {}", self.lac_name))
    }

    /// The daemon, e.g. to stop it.
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// tcpdump writing a pcap of UDP 1701 on one interface of a namespace.
#[derive(Debug)]
pub struct Capture {
    daemon: Daemon,
    path: PathBuf,
}

impl Capture {
    /// Starts capturing `filter` on `iface` inside `ns` into `path`.
    pub fn start(ns: &NetNs, iface: &str, filter: &str, path: &Path) -> io::Result<Capture> {
        let daemon = ns.spawn(
            "tcpdump",
            &[
                "-i",
                iface,
                "-n",
                "-U",
                // No 1 s libpcap buffering: short scenarios are captured whole.
                "--immediate-mode",
                // A 32 MiB kernel buffer (KiB): tcpdump writes a packet at a
                // time and fell behind setup bursts, dropping frames.
                "-B",
                "32768",
                "-s",
                "0",
                "-w",
                &path.to_string_lossy(),
                filter,
            ],
        )?;
        // tcpdump writes the pcap header once it is listening.
        if !wait_until(Duration::from_secs(5), || {
            fs::metadata(path).is_ok_and(|m| m.len() >= 24)
        }) {
            return Err(io::Error::other("tcpdump did not start in 5 s"));
        }
        Ok(Capture {
            daemon,
            path: path.to_owned(),
        })
    }

    /// Stops the capture (flushing it) and returns the pcap's path.
    pub fn stop(mut self) -> PathBuf {
        // tcpdump writes one packet at a time and can trail the wire by
        // seconds after a burst; SIGTERM drops what is still queued in the
        // kernel. Wait until the pcap has stopped growing for 200 ms
        // (bounded at 5 s), then stop it.
        let size = || fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut last = size();
        let mut still = 0;
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = size();
            if now == last {
                still += 1;
                if still >= 2 {
                    break;
                }
            } else {
                still = 0;
                last = now;
            }
        }
        let _ = self.daemon.terminate(Duration::from_secs(3));
        self.path.clone()
    }
}
