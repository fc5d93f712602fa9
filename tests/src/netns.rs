//! Network namespaces and veth pairs for end-to-end tests.
//!
//! Every name is unique to the test run (process ID plus a counter), every
//! object is removed on drop, even when the test panics, and addresses come
//! from 198.18.0.0/15 and 2001:db8::/32 only (DEVELOPERS.md, test networks).

use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call: `{tag}{pid % 10^5}x{n}`.
/// Interface names are limited to 15 bytes, so keep `tag` to 4 or fewer.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}{}x{n}", std::process::id() % 100_000)
}

/// Why privileged network tests cannot run here, or `None` if they can.
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok();
    if uid.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("iproute2 `ip` not installed".into()),
    }
    let probe = unique_name("prb");
    match run(Command::new("ip").args(["netns", "add", &probe])) {
        Ok(_) => {
            let _ = run(Command::new("ip").args(["netns", "del", &probe]));
            None
        }
        Err(e) => Some(format!("kernel refuses network namespaces: {e}")),
    }
}

/// Runs a command, turning a non-zero exit into an error with its stderr.
pub fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Moves the calling thread into the network namespace `name`.
pub fn enter(name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(std::path::Path::new("/run/netns").join(name))?;
    // SAFETY: setns(2) on a namespace fd we own; it changes only this
    // thread's network namespace, and the result is checked.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a fresh thread that has entered the namespace `name`.
/// Sockets it creates and processes it spawns live there (and the sockets
/// can be used from any thread afterwards); the calling thread is untouched.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            enter(name)?;
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other("in_netns: the closure panicked"))?
    })
}

/// [`in_netns`] for a namespace the test owns; panics if it fails.
pub fn in_ns<R: Send>(ns: &NetNs, f: impl FnOnce() -> R + Send) -> R {
    in_netns(ns.name(), f).expect("running inside the test namespace")
}

/// A network namespace, deleted on drop (with everything inside it).
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace named `unique_name(tag)` with loopback up.
    pub fn new(tag: &str) -> io::Result<NetNs> {
        let name = unique_name(tag);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> io::Result<Output> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs a command inside the namespace and waits for it.
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        run(self.command(program).args(args))
    }

    /// Starts a long-running command inside the namespace, in its own
    /// process group, killed when the returned guard drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> io::Result<Daemon> {
        let mut cmd = self.command(program);
        cmd.args(args).stdin(Stdio::null());
        Daemon::spawn(cmd)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Killing what still runs inside lets the namespace go at once.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair between two namespaces, with an IPv4 address on each end.
#[derive(Debug)]
pub struct Veth {
    /// Interface name in the first namespace.
    pub a: String,
    /// Interface name in the second namespace.
    pub b: String,
}

impl Veth {
    /// Creates `a` in `ns_a` and `b` in `ns_b`, assigns the CIDR addresses
    /// and brings both up. Deleted with their namespaces.
    pub fn new(ns_a: &NetNs, addr_a: &str, ns_b: &NetNs, addr_b: &str) -> io::Result<Veth> {
        Self::with_queues(ns_a, addr_a, ns_b, addr_b, 1)
    }

    /// The same with `queues` RX and TX queues per end (fixed at creation).
    pub fn with_queues(
        ns_a: &NetNs,
        addr_a: &str,
        ns_b: &NetNs,
        addr_b: &str,
        queues: u32,
    ) -> io::Result<Veth> {
        let a = unique_name("va");
        let b = unique_name("vb");
        let q = queues.to_string();
        run(Command::new("ip").args([
            "link",
            "add",
            &a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            ns_a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            ns_b.name(),
        ]))?;
        for (ns, ifname, addr) in [(ns_a, &a, addr_a), (ns_b, &b, addr_b)] {
            ns.ip(&["addr", "add", addr, "dev", ifname])?;
            ns.ip(&["link", "set", ifname, "up"])?;
        }
        Ok(Veth { a, b })
    }
}

/// A child process killed (with its process group) on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Spawns `cmd` in a new process group.
    pub fn spawn(mut cmd: Command) -> io::Result<Daemon> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        Ok(Daemon {
            child: cmd.spawn()?,
        })
    }

    /// The child, e.g. to take its output pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its process ID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the group and waits up to `timeout` for exit.
    pub fn terminate(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let step = std::time::Duration::from_millis(20);
        let mut waited = std::time::Duration::ZERO;
        while waited < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(step);
            waited += step;
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let a = unique_name("va");
        let b = unique_name("va");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a}");
    }

    /// Two namespaces, one veth, a ping across; everything gone afterwards.
    #[test]
    fn veth_between_namespaces() {
        if let Some(why) = unavailable() {
            eprintln!("SKIP veth_between_namespaces: {why}");
            return;
        }
        let name;
        {
            let lac = NetNs::new("lac").unwrap();
            let lns = NetNs::new("lns").unwrap();
            name = lac.name().to_owned();
            let _veth = Veth::new(&lac, "198.18.0.2/24", &lns, "198.18.0.1/24").unwrap();
            lac.exec("ping", &["-c", "1", "-W", "2", "198.18.0.1"])
                .unwrap();
        }
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    }
}
