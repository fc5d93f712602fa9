//! FreeRADIUS 3.2 as a real RADIUS server for tests (ARCHITECTURE §4):
//! a copy of `/etc/freeradius/3.0` in a [`TempDir`], rewritten to listen
//! on 127.0.0.1 only, on ports unique to this test run, with our users
//! file, one client (127.0.0.1, `require_message_authenticator = yes`),
//! Message-Authenticator added to every Access-Accept and -Reject, no
//! reject delay, and accounting written to a detail file in the folder.
//! Started in the foreground (`freeradius -X -f -d DIR`) as a [`Daemon`],
//! never through init scripts.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crate::netns::Daemon;
use crate::peers::{wait_until, TempDir};

/// The packaged configuration the harness copies.
pub const SYSTEM_RADDB: &str = "/etc/freeradius/3.0";

/// A users file for most tests: `alice` (PAP/CHAP, with a fixed address,
/// timeouts and a Class) and `bob` (no reply attributes). Passwords are
/// `alicepw` and `bobpw`.
pub const DEFAULT_USERS: &str = "\
alice\tCleartext-Password := \"alicepw\"
\tFramed-IP-Address = 198.18.1.50,
\tSession-Timeout = 3600,
\tIdle-Timeout = 600,
\tAcct-Interim-Interval = 300,
\tFramed-MTU = 1460,
\tClass = \"l2tpx-class-alice\",
\tReply-Message = \"welcome alice\"

bob\tCleartext-Password := \"bobpw\"
";

/// Why FreeRADIUS cannot be used here, or `None` when it can.
pub fn unavailable() -> Option<String> {
    let ok = Command::new("freeradius")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Some("freeradius is not installed (apt-get install freeradius)".into());
    }
    if fs::read(Path::new(SYSTEM_RADDB).join("radiusd.conf")).is_err() {
        return Some(format!("{SYSTEM_RADDB}/radiusd.conf is not readable"));
    }
    None
}

/// Whether `radclient` (freeradius-utils) can be run.
pub fn radclient_available() -> bool {
    Command::new("radclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `n` consecutive free UDP ports on 127.0.0.1, starting from one derived
/// from the process ID (and a per-process counter), checked by binding.
pub fn free_udp_ports(n: u16) -> io::Result<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let pid = std::process::id();
    for _ in 0..200 {
        let k = u32::from(NEXT.fetch_add(n, Ordering::Relaxed));
        let base = 20_000 + (pid % 4000) * 10 + k % 5000;
        // 20000..=64990: never past the end of the port range.
        let base = (20_000 + (base - 20_000) % 44_990) as u16;
        let socks: io::Result<Vec<UdpSocket>> = (0..n)
            .map(|i| UdpSocket::bind((Ipv4Addr::LOCALHOST, base + i)))
            .collect();
        if socks.is_ok() {
            return Ok(base);
        }
    }
    Err(io::Error::other("no free UDP ports"))
}

/// One record of a detail file: the timestamp header line and the
/// attributes in order, values as FreeRADIUS prints them (strings
/// unquoted, octets as `0x...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailRecord {
    /// The header line (the time it was written).
    pub header: String,
    /// Attribute name and value, in order.
    pub attrs: Vec<(String, String)>,
}

impl DetailRecord {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.attrs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `name` as a number.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }
}

/// Parses a detail file: records separated by blank lines, a header line
/// then tab-indented `Name = value` lines.
pub fn parse_detail(text: &str) -> Vec<DetailRecord> {
    let mut out = Vec::new();
    let mut cur: Option<DetailRecord> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            out.extend(cur.take());
        } else if line.starts_with(['\t', ' ']) {
            if let (Some(rec), Some((n, v))) = (cur.as_mut(), line.trim().split_once(" = ")) {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                rec.attrs.push((n.trim().to_owned(), v.to_owned()));
            }
        } else {
            out.extend(cur.take());
            cur = Some(DetailRecord {
                header: line.to_owned(),
                attrs: Vec::new(),
            });
        }
    }
    out.extend(cur);
    out
}

/// A running FreeRADIUS, killed on drop.
#[derive(Debug)]
pub struct FreeRadius {
    daemon: Daemon,
    // Dropped after the daemon (field order), so it never sees its
    // folder vanish.
    dir: TempDir,
    /// Authentication port on 127.0.0.1.
    pub auth_port: u16,
    /// Accounting port on 127.0.0.1.
    pub acct_port: u16,
    /// The shared secret of the 127.0.0.1 client.
    pub secret: String,
}

impl FreeRadius {
    /// Starts FreeRADIUS with [`DEFAULT_USERS`].
    pub fn start(secret: &str) -> io::Result<FreeRadius> {
        Self::start_with_users(secret, DEFAULT_USERS)
    }

    /// Starts FreeRADIUS with a users file (`mods-config/files/authorize`
    /// syntax) and waits until it is ready (10 s at most).
    pub fn start_with_users(secret: &str, users: &str) -> io::Result<FreeRadius> {
        Self::start_inner(secret, users, true, true)
    }

    /// As [`start_with_users`](Self::start_with_users), but not in debug
    /// mode (`-f` without `-X`): multi-threaded and without per-packet
    /// logging, for load (debug mode caps it at about 2,400 requests/s).
    /// [`log`](Self::log) then holds startup and errors only.
    pub fn start_for_load(secret: &str, users: &str) -> io::Result<FreeRadius> {
        Self::start_inner(secret, users, true, false)
    }

    /// Starts FreeRADIUS as packaged replies go out: FreeRADIUS before
    /// 3.2.5 puts no Message-Authenticator in Access-Accept/Reject unless
    /// told to, so a BlastRADIUS-hardened client must discard them.
    pub fn start_unsigned(secret: &str) -> io::Result<FreeRadius> {
        Self::start_inner(secret, DEFAULT_USERS, false, true)
    }

    fn start_inner(
        secret: &str,
        users: &str,
        sign_replies: bool,
        debug: bool,
    ) -> io::Result<FreeRadius> {
        let dir = TempDir::new("freeradius")?;
        let raddb = dir.path().join("raddb");
        let status = Command::new("cp")
            .arg("-a")
            .arg(SYSTEM_RADDB)
            .arg(&raddb)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("cp -a {SYSTEM_RADDB} failed")));
        }
        let base = free_udp_ports(2)?;
        let (auth_port, acct_port) = (base, base + 1);
        let ports = (auth_port, acct_port);
        configure(&raddb, dir.path(), secret, users, ports, sign_replies)?;

        let log = fs::File::create(dir.path().join("radiusd.log"))?;
        let mut cmd = Command::new("freeradius");
        if debug {
            cmd.arg("-X");
        }
        cmd.args(["-f", "-l", "stdout", "-d"])
            .arg(&raddb)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut daemon = Daemon::spawn(cmd)?;
        let log_path = dir.path().join("radiusd.log");
        let mut exited = false;
        let ready = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(_)) = daemon.child().try_wait() {
                exited = true;
                return true;
            }
            fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Ready to process requests"))
        });
        if exited || !ready {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(io::Error::other(format!(
                "freeradius did not start (exited: {exited}):\n{tail}"
            )));
        }
        Ok(FreeRadius {
            daemon,
            dir,
            auth_port,
            acct_port,
            secret: secret.to_owned(),
        })
    }

    /// The authentication address.
    pub fn auth_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.auth_port))
    }

    /// The accounting address.
    pub fn acct_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.acct_port))
    }

    /// The configuration folder (`raddb`).
    pub fn raddb(&self) -> PathBuf {
        self.dir.path().join("raddb")
    }

    /// The detail file accounting writes to.
    pub fn detail_path(&self) -> PathBuf {
        self.dir.path().join("detail")
    }

    /// The server's debug output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("radiusd.log")).unwrap_or_default()
    }

    /// The accounting records written so far (none if no file yet).
    pub fn detail_records(&self) -> Vec<DetailRecord> {
        fs::read_to_string(self.detail_path())
            .map(|t| parse_detail(&t))
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for at least `n` records, and returns them.
    pub fn wait_detail_records(&self, n: usize, timeout: Duration) -> Vec<DetailRecord> {
        let mut recs = Vec::new();
        wait_until(timeout, || {
            recs = self.detail_records();
            recs.len() >= n
        });
        recs
    }

    /// Runs `radclient -x -r 1 -t 2 -d RADDB TARGET COMMAND SECRET` with
    /// `input` (one attribute per line) on stdin.
    pub fn radclient(
        &self,
        target: SocketAddr,
        command: &str,
        secret: &str,
        input: &str,
    ) -> io::Result<Output> {
        radclient(&self.raddb(), target, command, secret, input)
    }

    /// The PID of the server.
    pub fn pid(&self) -> u32 {
        self.daemon.id()
    }
}

/// Runs radclient against `target`, with a raddb folder for dictionaries.
pub fn radclient(
    raddb: &Path,
    target: SocketAddr,
    command: &str,
    secret: &str,
    input: &str,
) -> io::Result<Output> {
    use std::io::Write;
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "2", "-d"])
        .arg(raddb)
        .arg(target.to_string())
        .arg(command)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    child.wait_with_output()
}

/// Rewrites a copied raddb for one test server.
fn configure(
    raddb: &Path,
    dir: &Path,
    secret: &str,
    users: &str,
    (auth_port, acct_port): (u16, u16),
    sign_replies: bool,
) -> io::Result<()> {
    // radiusd.conf: stay root-or-current-user (the copy belongs to us),
    // keep logs and run files in the folder, no proxy socket on *, no
    // reject delay.
    let conf_path = raddb.join("radiusd.conf");
    let conf = fs::read_to_string(&conf_path)?;
    let run = dir.join("run");
    let logdir = dir.join("log");
    fs::create_dir_all(&run)?;
    fs::create_dir_all(&logdir)?;
    let conf: String = conf
        .lines()
        .map(|line| {
            let t = line.trim_start();
            let key = t.split([' ', '\t', '=']).next().unwrap_or("");
            match key {
                "user" | "group" if t.contains('=') => format!("#{line}"),
                "reject_delay" => "\treject_delay = 0".to_owned(),
                "proxy_requests" => "proxy_requests = no".to_owned(),
                "logdir" => format!("logdir = {}", logdir.display()),
                "run_dir" => format!("run_dir = {}", run.display()),
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&conf_path, conf)?;

    // Only the modules the site uses.
    let keep = ["always", "pap", "chap", "files", "expr", "attr_filter"];
    for e in fs::read_dir(raddb.join("mods-enabled"))? {
        let e = e?;
        if !keep.iter().any(|k| e.file_name() == *k) {
            fs::remove_file(e.path())?;
        }
    }
    fs::write(
        raddb.join("mods-enabled/l2tpx_detail"),
        format!(
            "detail l2tpx_detail {{\n\tfilename = {}\n\tescape_filenames = no\n\
             \tpermissions = 0600\n\theader = \"%t\"\n\tlocking = no\n}}\n",
            dir.join("detail").display()
        ),
    )?;

    // FreeRADIUS 3.2.1 signs a reply whose list holds a
    // Message-Authenticator (any value): the HMAC is computed on encoding.
    let sign = if sign_replies {
        "update reply {\n\t\t\tMessage-Authenticator := 0x00\n\t\t}"
    } else {
        "ok"
    };
    for e in fs::read_dir(raddb.join("sites-enabled"))? {
        fs::remove_file(e?.path())?;
    }
    fs::write(
        raddb.join("sites-enabled/l2tpx"),
        format!(
            r#"server l2tpx {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth_port}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct_port}
	}}
	authorize {{
		files
		chap
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
	}}
	preacct {{
	}}
	accounting {{
		l2tpx_detail
	}}
	post-auth {{
		{sign}
		Post-Auth-Type REJECT {{
			{sign}
		}}
	}}
}}
"#
        ),
    )?;

    fs::write(
        raddb.join("clients.conf"),
        format!(
            "client localhost {{\n\tipaddr = 127.0.0.1\n\tsecret = {secret}\n\
             \trequire_message_authenticator = yes\n\tnas_type = other\n}}\n"
        ),
    )?;
    fs::write(raddb.join("mods-config/files/authorize"), users)?;
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_detail_records() {
        let text = "Sun Nov 22 04:03:06 2026\n\tUser-Name = \"bob\"\n\tAcct-Status-Type = Start\n\
                    \tClass = 0x41\n\tClass = 0x42\n\tTimestamp = 1795320186\n\n\
                    Sun Nov 22 04:03:07 2026\n\tAcct-Status-Type = Stop\n\n";
        let recs = parse_detail(text);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].get("User-Name"), Some("bob"));
        assert_eq!(recs[0].get("Acct-Status-Type"), Some("Start"));
        assert_eq!(recs[0].get_all("Class"), vec!["0x41", "0x42"]);
        assert_eq!(recs[0].get_u64("Timestamp"), Some(1_795_320_186));
        assert_eq!(recs[1].get("Acct-Status-Type"), Some("Stop"));
        assert_eq!(recs[1].header, "Sun Nov 22 04:03:07 2026");
    }

    #[test]
    fn ports_are_free_and_distinct() {
        let a = free_udp_ports(2).unwrap();
        let b = free_udp_ports(2).unwrap();
        assert_ne!(a, b);
    }
}
