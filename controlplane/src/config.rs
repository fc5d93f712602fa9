//! The controlplane's TOML configuration file (docs/config.md): parsed,
//! checked and mapped onto the engine's [`crate::l2tp::Config`] plus the
//! driver's own settings.
//!
//! Every error names the file and the dotted key, e.g.
//! `lns.toml: l2tp.retransmit.retries: must be between 1 and 32 (got 0)`.
//! Unknown keys are errors (a typo must not silently fall back to a
//! default). Integers are read as `i64` and range-checked here, so a
//! negative or oversized value gets the same message as any other value out
//! of range.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::l2tp::{Config, Limits, Secrets};
use crate::ppp::ipcp::IpcpConfig;
use crate::ppp::lcp::{AuthMethod, LcpConfig};
use crate::ppp::session::PppConfig;
use crate::radius::{ClientConfig as RadiusClientConfig, DaeClient, NasIdentity, RadiusServer};
use crate::session::{AaaMode, LocalUsers, ManagerConfig, PoolConfig, RadiusDownPolicy};

/// Log verbosity, `[log] level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Lifecycle lines (tunnels and sessions up/down): the default.
    Info,
    /// Per-message detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The name as written in the file (and in `RUST_LOG` syntax).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Everything the `controlplane` binary needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// UDP address of the L2TP control socket (`l2tp.listen`).
    pub listen: SocketAddr,
    /// The engine configuration.
    pub engine: Config,
    /// `log.level`.
    pub log_level: LogLevel,
    /// `driver.shutdown_timeout_ms`: how long SIGTERM/SIGINT waits for the
    /// peers to acknowledge our StopCCNs.
    pub shutdown_timeout: Duration,
    /// `driver.recv_buffer_bytes`: SO_RCVBUF asked for the socket.
    pub recv_buffer_bytes: usize,
    /// `driver.batch`: datagrams read per wakeup at most.
    pub batch: usize,
    /// `[ppp]`.
    pub ppp: PppConfig,
    /// `[aaa]`.
    pub aaa: AaaSettings,
    /// `[[pool]]`.
    pub pools: Vec<PoolConfig>,
    /// `[table]`.
    pub table: TableSettings,
    /// `[dae]`; `None` when no listener is configured.
    pub dae: Option<DaeSettings>,
    /// The file these settings came from (for error messages).
    pub origin: String,
}

impl Settings {
    /// The session manager's configuration; `acct_boot` distinguishes this
    /// run's Acct-Session-Ids (e.g. the start time in seconds).
    pub fn manager_config(&self, acct_boot: u32) -> ManagerConfig {
        let mut ppp = self.ppp.clone();
        ppp.auth.name = self.engine.host_name.as_bytes().to_vec();
        ManagerConfig {
            ppp: Arc::new(ppp),
            aaa: self.aaa.mode,
            radius_down: self.aaa.radius_down,
            users: self.aaa.users.clone(),
            pools: self.pools.clone(),
            local: self.listen,
            host_name: self.engine.host_name.clone(),
            bank_bits: self.engine.bank_bits,
            acct_interim: self.aaa.acct_interim,
            acct_interim_min: self.aaa.acct_interim_min,
            acct_boot,
            ..ManagerConfig::default()
        }
    }
}

/// `[aaa]`, checked.
#[derive(Debug, Clone)]
pub struct AaaSettings {
    /// `aaa.mode`.
    pub mode: AaaMode,
    /// `aaa.users_file`, as resolved (relative to the config file's folder).
    pub users_file: Option<PathBuf>,
    /// The users file, read.
    pub users: LocalUsers,
    /// `aaa.radius_down`.
    pub radius_down: RadiusDownPolicy,
    /// `aaa.acct_interim_interval_s` (`None`: 0, only when RADIUS asks).
    pub acct_interim: Option<Duration>,
    /// `aaa.acct_interim_min_s`: the smallest Interim-Update interval
    /// honoured (whether from RADIUS or from `acct_interim_interval_s`).
    pub acct_interim_min: Duration,
    /// `[aaa.radius]`: the client's configuration (`None`: no server).
    pub radius: Option<RadiusClientConfig>,
    /// `aaa.radius.source`: the client socket's local address.
    pub radius_source: SocketAddr,
}

/// `[table]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    /// `table.path`; `None`: an in-memory table (no data plane attached).
    pub path: Option<PathBuf>,
    /// `table.capacity`.
    pub capacity: u32,
    /// `table.workers`.
    pub workers: u32,
    /// `table.on_mismatch`: what to do with an existing table whose
    /// geometry differs from this configuration.
    pub on_mismatch: OnMismatch,
    /// `table.state_path` (default `<table.path>.state`): the control
    /// state journal; `None` with an in-memory table.
    pub state_path: Option<PathBuf>,
}

/// `table.on_mismatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMismatch {
    /// Refuse to start (the default: never wipe a live table silently).
    Error,
    /// Replace the table (every published session is lost).
    Recreate,
}

/// `[dae]`, checked.
#[derive(Debug, Clone)]
pub struct DaeSettings {
    /// `dae.listen`.
    pub listen: SocketAddr,
    /// `[[dae.client]]`.
    pub clients: Vec<DaeClient>,
}

/// A configuration error: the file, the key (if one is to blame) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given on the command line.
    pub file: String,
    /// Dotted key path (`l2tp.retransmit.retries`, `l2tp.secret[1].peer`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: {}: {}", self.file, k, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: origin.clone(),
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_in(&text, &origin, path.parent())
}

/// Parses and checks configuration text; `origin` names it in errors.
/// Relative paths in it (the users file) are relative to the current
/// directory.
pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    parse_in(text, origin, None)
}

/// As [`parse`], with relative paths resolved against `base` (the config
/// file's folder).
pub fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Settings, ConfigError> {
    let err = |key: Option<String>, message: String| ConfigError {
        file: origin.to_owned(),
        key,
        message,
    };
    // Syntax first (toml's message carries line and column), then the shape
    // with the key path of whatever does not fit.
    let value: toml::Value = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_owned();
        let at = e.span().map(|s| line_col(text, s.start));
        match at {
            Some((l, c)) => err(None, format!("line {l}, column {c}: {msg}")),
            None => err(None, msg),
        }
    })?;
    let raw: RawFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (key, message) = split_serde_error(&path, &inner);
        err(key, message)
    })?;
    let mut s = raw.check(base).map_err(|(k, m)| err(Some(k), m))?;
    s.origin = origin.to_owned();
    Ok(s)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Turns serde's "unknown field `x`, expected ..." / "missing field `x`"
/// at `path` into key `path.x` and a shorter message.
fn split_serde_error(path: &str, msg: &str) -> (Option<String>, String) {
    // toml's value deserializer appends "\nin `table`\n": the path says it.
    let msg = msg.split("\nin `").next().unwrap_or(msg).trim();
    let join = |field: &str| {
        if path.is_empty() || path == "." {
            field.to_owned()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    for (prefix, what) in [
        ("unknown field `", "unknown key"),
        ("missing field `", "required key is missing"),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                let field = &rest[..end];
                let tail = rest[end + 1..].trim_start_matches(", ");
                let message = if tail.is_empty() {
                    what.to_owned()
                } else {
                    format!("{what} ({tail})")
                };
                return (Some(join(field)), message);
            }
        }
    }
    let key = (!path.is_empty() && path != ".").then(|| path.to_owned());
    (key, msg.to_owned())
}

// ----------------------------------------------------------------------
// The file's shape. Defaults are the engine's (`Config::default()`).

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    l2tp: RawL2tp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    driver: RawDriver,
    #[serde(default)]
    ppp: RawPpp,
    #[serde(default)]
    aaa: RawAaa,
    #[serde(default)]
    pool: Vec<RawPool>,
    #[serde(default)]
    table: RawTable,
    dae: Option<RawDae>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPpp {
    auth: Vec<String>,
    mru: i64,
    echo_interval_s: i64,
    echo_failures: i64,
    accept_proxy_lcp: bool,
    accept_proxy_auth: bool,
    gateway_address: String,
    dns: Vec<String>,
    auth_timeout_s: i64,
}

impl Default for RawPpp {
    fn default() -> Self {
        let l = LcpConfig::default();
        Self {
            auth: vec!["chap-md5".into(), "pap".into()],
            mru: l.mru.into(),
            echo_interval_s: l.echo_interval.map_or(0, secs),
            echo_failures: l.echo_max_failures.into(),
            accept_proxy_lcp: false,
            accept_proxy_auth: false,
            gateway_address: IpcpConfig::default().local_address.to_string(),
            dns: Vec::new(),
            auth_timeout_s: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAaa {
    mode: String,
    users_file: Option<String>,
    radius_down: String,
    acct_interim_interval_s: i64,
    acct_interim_min_s: i64,
    radius: RawRadius,
}

impl Default for RawAaa {
    fn default() -> Self {
        Self {
            mode: "local".into(),
            users_file: None,
            radius_down: "reject".into(),
            acct_interim_interval_s: 0,
            acct_interim_min_s: 60,
            radius: RawRadius::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRadius {
    server: Vec<RawRadiusServer>,
    nas_identifier: Option<String>,
    nas_ip_address: Option<String>,
    source: String,
    timeout_ms: i64,
    retries: i64,
    dead_time_s: i64,
}

impl Default for RawRadius {
    fn default() -> Self {
        Self {
            server: Vec::new(),
            nas_identifier: None,
            nas_ip_address: None,
            source: "0.0.0.0:0".into(),
            timeout_ms: 3000,
            retries: 3,
            dead_time_s: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadiusServer {
    address: String,
    secret: String,
    #[serde(default = "default_auth_port")]
    auth_port: i64,
    #[serde(default = "default_acct_port")]
    acct_port: i64,
    #[serde(default)]
    priority: i64,
}

fn default_auth_port() -> i64 {
    1812
}

fn default_acct_port() -> i64 {
    1813
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: String,
    first: String,
    last: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTable {
    path: Option<String>,
    capacity: Option<i64>,
    bank_bits: Option<i64>,
    workers: i64,
    on_mismatch: String,
    state_path: Option<String>,
}

impl Default for RawTable {
    fn default() -> Self {
        Self {
            path: None,
            capacity: None,
            bank_bits: None,
            workers: 1,
            on_mismatch: "error".into(),
            state_path: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDae {
    #[serde(default = "default_dae_listen")]
    listen: String,
    #[serde(default)]
    client: Vec<RawDaeClient>,
}

fn default_dae_listen() -> String {
    "127.0.0.1:3799".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaeClient {
    address: String,
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawL2tp {
    listen: String,
    host_name: String,
    vendor_name: String,
    firmware_revision: i64,
    receive_window: i64,
    hello_interval_s: i64,
    hide_avps: bool,
    stop_linger_s: i64,
    id_quarantine_s: i64,
    refusal_linger_s: i64,
    hidden_padding_max: i64,
    bank_bits: i64,
    default_secret: Option<String>,
    retransmit: RawRetransmit,
    limits: RawLimits,
    secret: Vec<RawSecret>,
}

impl Default for RawL2tp {
    fn default() -> Self {
        let c = Config::default();
        Self {
            listen: DEFAULT_LISTEN.into(),
            host_name: c.host_name,
            vendor_name: c.vendor_name,
            firmware_revision: c.firmware_revision.into(),
            receive_window: c.receive_window.into(),
            hello_interval_s: secs(c.hello_interval),
            hide_avps: c.hide_avps,
            stop_linger_s: secs(c.stop_linger),
            id_quarantine_s: secs(c.id_quarantine),
            refusal_linger_s: secs(c.refusal_linger),
            hidden_padding_max: c.hidden_padding_max.into(),
            bank_bits: c.bank_bits.into(),
            default_secret: None,
            retransmit: RawRetransmit::default(),
            limits: RawLimits::default(),
            secret: Vec::new(),
        }
    }
}

/// `l2tp.listen` when absent.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:1701";

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetransmit {
    initial_ms: i64,
    max_ms: i64,
    retries: i64,
    ack_delay_ms: i64,
    slow_start: bool,
}

impl Default for RawRetransmit {
    fn default() -> Self {
        let r = Config::default().reliable;
        Self {
            initial_ms: millis(r.initial_rto),
            max_ms: millis(r.max_rto),
            retries: r.max_retries.into(),
            ack_delay_ms: millis(r.ack_delay),
            slow_start: r.slow_start,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_tunnels: i64,
    max_sessions: i64,
    max_sessions_per_tunnel: i64,
    max_half_open: i64,
    max_half_open_per_peer: i64,
    half_open_timeout_s: i64,
}

impl Default for RawLimits {
    fn default() -> Self {
        let l = Limits::default();
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            max_tunnels: n(l.max_tunnels),
            max_sessions: n(l.max_sessions),
            max_sessions_per_tunnel: n(l.max_sessions_per_tunnel),
            max_half_open: n(l.max_half_open),
            max_half_open_per_peer: n(l.max_half_open_per_peer),
            half_open_timeout_s: secs(l.half_open_timeout),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    peer: String,
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDriver {
    shutdown_timeout_ms: i64,
    recv_buffer_bytes: i64,
    batch: i64,
}

impl Default for RawDriver {
    fn default() -> Self {
        Self {
            shutdown_timeout_ms: 3000,
            recv_buffer_bytes: 4 << 20,
            batch: 64,
        }
    }
}

type Checked<T> = Result<T, (String, String)>;

/// `key` as an integer in `lo..=hi`.
fn range<T: TryFrom<i64>>(key: &str, v: i64, lo: i64, hi: i64) -> Checked<T> {
    if v < lo || v > hi {
        return Err((
            key.into(),
            format!("must be between {lo} and {hi} (got {v})"),
        ));
    }
    T::try_from(v).map_err(|_| (key.into(), format!("out of range (got {v})")))
}

/// The longest Host Name / Vendor Name we send (an AVP holds 1017 bytes of
/// value; 255 keeps the SCCRP small).
const MAX_NAME: usize = 255;
/// The longest secret (§4.3 sets no limit; MD5 takes any length).
const MAX_SECRET: usize = 1024;

fn name(key: &str, v: String) -> Checked<String> {
    if v.is_empty() || v.len() > MAX_NAME {
        return Err((
            key.into(),
            format!("must be 1 to {MAX_NAME} bytes long (got {})", v.len()),
        ));
    }
    Ok(v)
}

fn secret(key: &str, v: String) -> Checked<Vec<u8>> {
    if v.is_empty() || v.len() > MAX_SECRET {
        return Err((
            key.into(),
            format!(
                "must be 1 to {MAX_SECRET} bytes long (got {}); leave the key out for no secret",
                v.len()
            ),
        ));
    }
    Ok(v.into_bytes())
}

fn ipv4(key: &str, v: &str) -> Checked<Ipv4Addr> {
    v.parse()
        .map_err(|_| (key.into(), format!("not an IPv4 address (got {v:?})")))
}

fn ip(key: &str, v: &str) -> Checked<IpAddr> {
    v.parse()
        .map_err(|_| (key.into(), format!("not an IP address (got {v:?})")))
}

fn sockaddr(key: &str, v: &str) -> Checked<SocketAddr> {
    v.parse().map_err(|_| {
        (
            key.into(),
            format!("not an IP address and port like \"127.0.0.1:3799\" (got {v:?})"),
        )
    })
}

fn one_of<T: Copy>(key: &str, v: &str, choices: &[(&str, T)]) -> Checked<T> {
    choices
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            (
                key.into(),
                format!("must be one of {} (got {v:?})", names.join(", ")),
            )
        })
}

impl RawPpp {
    fn check(self) -> Checked<PppConfig> {
        let mut auth = Vec::new();
        for (i, a) in self.auth.iter().enumerate() {
            let m = one_of(
                &format!("ppp.auth[{i}]"),
                a,
                &[("chap-md5", AuthMethod::ChapMd5), ("pap", AuthMethod::Pap)],
            )?;
            if auth.contains(&m) {
                return Err((format!("ppp.auth[{i}]"), format!("{a:?} is listed twice")));
            }
            auth.push(m);
        }
        if auth.is_empty() {
            return Err((
                "ppp.auth".into(),
                "must name at least one of \"chap-md5\", \"pap\" (subscribers are always authenticated)".into(),
            ));
        }
        if self.dns.len() > 2 {
            return Err((
                "ppp.dns".into(),
                format!("at most 2 servers (got {})", self.dns.len()),
            ));
        }
        let mut dns = [None, None];
        for (i, d) in self.dns.iter().enumerate() {
            dns[i] = Some(ipv4(&format!("ppp.dns[{i}]"), d)?);
        }
        let echo: u64 = range("ppp.echo_interval_s", self.echo_interval_s, 0, 3600)?;
        let mut c = PppConfig {
            lcp: LcpConfig {
                mru: range("ppp.mru", self.mru, 576, 9000)?,
                auth,
                echo_interval: (echo > 0).then(|| Duration::from_secs(echo)),
                echo_max_failures: range("ppp.echo_failures", self.echo_failures, 1, 100)?,
                ..LcpConfig::default()
            },
            ipcp: IpcpConfig {
                local_address: ipv4("ppp.gateway_address", &self.gateway_address)?,
                dns,
                nbns: [None, None],
            },
            accept_proxy_lcp: self.accept_proxy_lcp,
            accept_proxy_auth: self.accept_proxy_auth,
            ..PppConfig::default()
        };
        c.auth.timeout =
            Duration::from_secs(range("ppp.auth_timeout_s", self.auth_timeout_s, 1, 600)?);
        Ok(c)
    }
}

impl RawFile {
    fn check(self, base: Option<&Path>) -> Checked<Settings> {
        let l = self.l2tp;
        let listen: SocketAddr = l.listen.parse().map_err(|_| {
            (
                "l2tp.listen".to_owned(),
                format!(
                    "not an IP address and port like \"198.18.0.1:1701\" (got {:?})",
                    l.listen
                ),
            )
        })?;
        if listen.port() == 0 {
            return Err((
                "l2tp.listen".into(),
                "the port must not be 0 (L2TP uses 1701)".into(),
            ));
        }

        let r = l.retransmit;
        let initial_ms: u64 = range("l2tp.retransmit.initial_ms", r.initial_ms, 10, 60_000)?;
        let max_ms: u64 = range("l2tp.retransmit.max_ms", r.max_ms, 1_000, 600_000)?;
        if max_ms < initial_ms {
            return Err((
                "l2tp.retransmit.max_ms".into(),
                format!("must not be less than l2tp.retransmit.initial_ms ({initial_ms}) (got {max_ms})"),
            ));
        }
        let retries: u32 = range("l2tp.retransmit.retries", r.retries, 1, 32)?;
        let ack_delay_ms: u64 = range("l2tp.retransmit.ack_delay_ms", r.ack_delay_ms, 0, 1_000)?;
        if ack_delay_ms >= initial_ms {
            return Err((
                "l2tp.retransmit.ack_delay_ms".into(),
                format!(
                    "must be less than l2tp.retransmit.initial_ms ({initial_ms}), or the peer retransmits before we acknowledge (got {ack_delay_ms})"
                ),
            ));
        }

        let m = l.limits;
        let max_tunnels: usize = range("l2tp.limits.max_tunnels", m.max_tunnels, 1, 65_535)?;
        let max_sessions: usize = range("l2tp.limits.max_sessions", m.max_sessions, 1, 1 << 24)?;
        let max_sessions_per_tunnel: usize = range(
            "l2tp.limits.max_sessions_per_tunnel",
            m.max_sessions_per_tunnel,
            1,
            65_535,
        )?;
        let max_half_open: usize = range("l2tp.limits.max_half_open", m.max_half_open, 1, 65_535)?;
        let max_half_open_per_peer: usize = range(
            "l2tp.limits.max_half_open_per_peer",
            m.max_half_open_per_peer,
            1,
            65_535,
        )?;
        let half_open_timeout_s: u64 = range(
            "l2tp.limits.half_open_timeout_s",
            m.half_open_timeout_s,
            1,
            3_600,
        )?;

        let mut per_peer = HashMap::new();
        for (i, s) in l.secret.into_iter().enumerate() {
            let key = format!("l2tp.secret[{i}].peer");
            let ip: IpAddr = s
                .peer
                .parse()
                .map_err(|_| (key.clone(), format!("not an IP address (got {:?})", s.peer)))?;
            let v = secret(&format!("l2tp.secret[{i}].secret"), s.secret)?;
            if per_peer.insert(ip, v).is_some() {
                return Err((key, format!("{ip} has a secret already")));
            }
        }
        let default = l
            .default_secret
            .map(|s| secret("l2tp.default_secret", s))
            .transpose()?;

        let engine = Config {
            host_name: name("l2tp.host_name", l.host_name)?,
            vendor_name: name("l2tp.vendor_name", l.vendor_name)?,
            firmware_revision: range("l2tp.firmware_revision", l.firmware_revision, 0, 65_535)?,
            receive_window: range("l2tp.receive_window", l.receive_window, 1, 32_767)?,
            secrets: Secrets { per_peer, default },
            hide_avps: l.hide_avps,
            hello_interval: Duration::from_secs(range(
                "l2tp.hello_interval_s",
                l.hello_interval_s,
                1,
                3_600,
            )?),
            reliable: crate::l2tp::reliable::ReliableConfig {
                initial_rto: Duration::from_millis(initial_ms),
                max_rto: Duration::from_millis(max_ms),
                max_retries: retries,
                ack_delay: Duration::from_millis(ack_delay_ms),
                slow_start: r.slow_start,
                ..Config::default().reliable
            },
            stop_linger: Duration::from_secs(range("l2tp.stop_linger_s", l.stop_linger_s, 1, 300)?),
            id_quarantine: Duration::from_secs(range(
                "l2tp.id_quarantine_s",
                l.id_quarantine_s,
                0,
                3_600,
            )?),
            refusal_linger: Duration::from_secs(range(
                "l2tp.refusal_linger_s",
                l.refusal_linger_s,
                1,
                300,
            )?),
            hidden_padding_max: range("l2tp.hidden_padding_max", l.hidden_padding_max, 0, 64)?,
            limits: Limits {
                max_tunnels,
                max_sessions,
                max_sessions_per_tunnel,
                max_half_open,
                max_half_open_per_peer,
                half_open_timeout: Duration::from_secs(half_open_timeout_s),
            },
            bank_bits: range(
                "l2tp.bank_bits",
                l.bank_bits,
                0,
                crate::l2tp::ids::MAX_BANK_BITS.into(),
            )?,
        };

        let log_level = match self.log.level.as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            other => {
                return Err((
                    "log.level".into(),
                    format!(
                        "must be one of \"error\", \"warn\", \"info\", \"debug\", \"trace\" (got {other:?})"
                    ),
                ))
            }
        };

        let ppp = self.ppp.check()?;
        let a = self.aaa;
        let mode = one_of(
            "aaa.mode",
            &a.mode,
            &[("local", AaaMode::Local), ("radius", AaaMode::Radius)],
        )?;
        let radius_down = one_of(
            "aaa.radius_down",
            &a.radius_down,
            &[
                ("reject", RadiusDownPolicy::Reject),
                ("local-fallback", RadiusDownPolicy::LocalFallback),
            ],
        )?;
        let users_file = a.users_file.map(|f| {
            let p = PathBuf::from(f);
            match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p,
            }
        });
        let users = match &users_file {
            Some(p) => {
                LocalUsers::load(p).map_err(|e| ("aaa.users_file".to_owned(), e.to_string()))?
            }
            None => LocalUsers::new(),
        };
        if users_file.is_none()
            && (mode == AaaMode::Local || radius_down == RadiusDownPolicy::LocalFallback)
        {
            return Err((
                "aaa.users_file".into(),
                "required key is missing (aaa.mode = \"local\" or aaa.radius_down = \"local-fallback\" checks it)".into(),
            ));
        }
        let interim: u64 = range(
            "aaa.acct_interim_interval_s",
            a.acct_interim_interval_s,
            0,
            86_400,
        )?;
        let interim_min: u64 = range("aaa.acct_interim_min_s", a.acct_interim_min_s, 1, 86_400)?;
        let r = a.radius;
        let mut servers = Vec::new();
        for (i, sv) in r.server.into_iter().enumerate() {
            let k = |f: &str| format!("aaa.radius.server[{i}].{f}");
            let mut s = RadiusServer::new(
                ip(&k("address"), &sv.address)?,
                &secret(&k("secret"), sv.secret)?,
            );
            s.auth_port = range(&k("auth_port"), sv.auth_port, 1, 65_535)?;
            s.acct_port = range(&k("acct_port"), sv.acct_port, 1, 65_535)?;
            s.priority = range(&k("priority"), sv.priority, 0, 1_000_000)?;
            servers.push(s);
        }
        if mode == AaaMode::Radius && servers.is_empty() {
            return Err((
                "aaa.radius.server".into(),
                "aaa.mode = \"radius\" needs at least one [[aaa.radius.server]]".into(),
            ));
        }
        let nas = NasIdentity {
            ip: r
                .nas_ip_address
                .as_deref()
                .map(|v| ipv4("aaa.radius.nas_ip_address", v))
                .transpose()?,
            identifier: r
                .nas_identifier
                .map(|v| name("aaa.radius.nas_identifier", v))
                .transpose()?,
        };
        let radius_source = sockaddr("aaa.radius.source", &r.source)?;
        let radius = (!servers.is_empty())
            .then(|| -> Checked<RadiusClientConfig> {
                let mut c = RadiusClientConfig::new(servers);
                c.nas = nas.clone();
                c.timeout = Duration::from_millis(range(
                    "aaa.radius.timeout_ms",
                    r.timeout_ms,
                    100,
                    60_000,
                )?);
                c.max_tries = range("aaa.radius.retries", r.retries, 1, 10)?;
                c.dead_time =
                    Duration::from_secs(range("aaa.radius.dead_time_s", r.dead_time_s, 0, 3600)?);
                Ok(c)
            })
            .transpose()?;

        let mut pools: Vec<PoolConfig> = Vec::new();
        for (i, p) in self.pool.into_iter().enumerate() {
            let k = |f: &str| format!("pool[{i}].{f}");
            if p.name.is_empty() || p.name.len() > 64 {
                return Err((k("name"), "must be 1 to 64 bytes long".into()));
            }
            let first = ipv4(&k("first"), &p.first)?;
            let last = ipv4(&k("last"), &p.last)?;
            if last < first {
                return Err((
                    k("last"),
                    format!("must not be below pool[{i}].first ({first}) (got {last})"),
                ));
            }
            if u32::from(last) - u32::from(first) >= 1 << 24 {
                return Err((
                    k("last"),
                    "a pool holds at most 16,777,216 addresses".into(),
                ));
            }
            if pools.iter().any(|q| q.name == p.name) {
                return Err((k("name"), format!("pool {:?} is defined twice", p.name)));
            }
            if let Some(q) = pools.iter().find(|q| first <= q.last && q.first <= last) {
                return Err((
                    k("first"),
                    format!("overlaps pool {:?} ({}-{})", q.name, q.first, q.last),
                ));
            }
            pools.push(PoolConfig {
                name: p.name,
                first,
                last,
            });
        }
        if mode == AaaMode::Local && !pools.iter().any(|p| p.name == crate::session::DEFAULT_POOL) {
            return Err((
                "pool".into(),
                "aaa.mode = \"local\" needs a [[pool]] named \"default\"".into(),
            ));
        }
        for (user, addr) in users.static_addresses() {
            if let Some(q) = pools.iter().find(|q| q.first <= addr && addr <= q.last) {
                return Err((
                    "aaa.users_file".into(),
                    format!(
                        "user {:?}: static address {addr} lies in pool {:?}; static addresses must be outside the pools",
                        String::from_utf8_lossy(user),
                        q.name
                    ),
                ));
            }
        }
        let aaa = AaaSettings {
            mode,
            users_file,
            users,
            radius_down,
            acct_interim: (interim > 0).then(|| Duration::from_secs(interim)),
            acct_interim_min: Duration::from_secs(interim_min),
            radius,
            radius_source,
        };

        let dae = self
            .dae
            .map(|d| -> Checked<DaeSettings> {
                let listen = sockaddr("dae.listen", &d.listen)?;
                let mut clients = Vec::new();
                for (i, c) in d.client.into_iter().enumerate() {
                    clients.push(DaeClient {
                        addr: ip(&format!("dae.client[{i}].address"), &c.address)?,
                        secret: secret(&format!("dae.client[{i}].secret"), c.secret)?,
                    });
                }
                if clients.is_empty() {
                    return Err((
                        "dae.client".into(),
                        "[dae] needs at least one [[dae.client]]".into(),
                    ));
                }
                Ok(DaeSettings { listen, clients })
            })
            .transpose()?;
        let raw_table = self.table;
        let bank_bits = u32::from(engine.bank_bits);
        if let Some(b) = raw_table.bank_bits {
            if b != i64::from(bank_bits) {
                return Err((
                    "table.bank_bits".into(),
                    format!("must equal l2tp.bank_bits ({bank_bits}) (got {b})"),
                ));
            }
        }
        let max_cap = 65_536i64 << bank_bits;
        let path = raw_table.path.map(PathBuf::from);
        let state_path = match (raw_table.state_path, &path) {
            (Some(_), None) => {
                return Err((
                    "table.state_path".into(),
                    "needs table.path (an in-memory table does not survive a restart)".into(),
                ))
            }
            (Some(s), Some(_)) => Some(PathBuf::from(s)),
            (None, Some(p)) => {
                let mut s = p.as_os_str().to_owned();
                s.push(".state");
                Some(PathBuf::from(s))
            }
            (None, None) => None,
        };
        let table = TableSettings {
            on_mismatch: one_of(
                "table.on_mismatch",
                &raw_table.on_mismatch,
                &[
                    ("error", OnMismatch::Error),
                    ("recreate", OnMismatch::Recreate),
                ],
            )?,
            state_path,
            path,
            capacity: range(
                "table.capacity",
                raw_table.capacity.unwrap_or(max_cap),
                1,
                max_cap.min(l2tpx_table::abi::MAX_CAPACITY.into()),
            )?,
            workers: range(
                "table.workers",
                raw_table.workers,
                1,
                l2tpx_table::abi::MAX_WORKERS.into(),
            )?,
        };

        let d = self.driver;
        Ok(Settings {
            ppp,
            aaa,
            pools,
            table,
            dae,
            origin: String::new(),
            listen,
            engine,
            log_level,
            shutdown_timeout: Duration::from_millis(range(
                "driver.shutdown_timeout_ms",
                d.shutdown_timeout_ms,
                0,
                60_000,
            )?),
            recv_buffer_bytes: range(
                "driver.recv_buffer_bytes",
                d.recv_buffer_bytes,
                65_536,
                1 << 30,
            )?,
            batch: range("driver.batch", d.batch, 1, 1024)?,
        })
    }
}

/// The `[aaa]` and `[[pool]]` sections local mode needs, with the example
/// users file (tests).
#[cfg(test)]
pub(crate) fn test_aaa() -> String {
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/users");
    format!(
        "[aaa]\nusers_file = {:?}\n[[pool]]\nname = \"default\"\nfirst = \"198.18.64.0\"\nlast = \"198.18.127.255\"\n",
        users.display().to_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` plus the sections local mode needs.
    fn parse_min(text: &str, origin: &str) -> Result<Settings, ConfigError> {
        parse(&format!("{text}\n{}", test_aaa()), origin)
    }

    fn msg(text: &str) -> String {
        parse_min(text, "lns.toml").unwrap_err().to_string()
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let s = parse_min("", "x.toml").unwrap();
        assert_eq!(s.engine, Config::default());
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.log_level, LogLevel::Info);
        assert_eq!(s.shutdown_timeout, Duration::from_millis(3000));
        assert_eq!(s.recv_buffer_bytes, 4 << 20);
        assert_eq!(s.batch, 64);
    }

    #[test]
    fn session_sections_map_and_check() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lns.toml");
        let s = load(&path).unwrap();
        assert_eq!(s.aaa.mode, AaaMode::Local);
        assert_eq!(s.aaa.users.len(), 4);
        assert_eq!(s.pools.len(), 1);
        assert_eq!(s.pools[0].last, Ipv4Addr::new(198, 18, 127, 255));
        assert_eq!(s.table.workers, 2);
        assert_eq!(s.table.capacity, 65_536 << 4);
        assert_eq!(s.ppp.lcp.auth, vec![AuthMethod::ChapMd5, AuthMethod::Pap]);
        assert_eq!(s.ppp.ipcp.dns[1], Some(Ipv4Addr::new(198, 18, 251, 54)));
        assert!(s.dae.is_none());
        let m = |t: &str| parse(t, "lns.toml").unwrap_err().to_string();
        let aaa = test_aaa();
        assert!(m("").starts_with("lns.toml: aaa.users_file: required key is missing"));
        assert!(m(&format!("{aaa}[table]\nbank_bits = 3\n"))
            .starts_with("lns.toml: table.bank_bits: must equal l2tp.bank_bits (4) (got 3)"));
        assert!(m(&format!("[ppp]\nauth = [\"eap\"]\n{aaa}"))
            .starts_with("lns.toml: ppp.auth[0]: must be one of \"chap-md5\", \"pap\""));
        let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/users");
        let nopool = format!("[aaa]\nusers_file = {:?}\n", users.display().to_string());
        assert!(m(&nopool).starts_with(
            "lns.toml: pool: aaa.mode = \"local\" needs a [[pool]] named \"default\""
        ));
        assert!(m(&format!(
            "{aaa}[[pool]]\nname = \"b\"\nfirst = \"198.18.100.0\"\nlast = \"198.18.100.9\"\n"
        ))
        .starts_with("lns.toml: pool[1].first: overlaps pool \"default\""));
        assert!(m("[aaa]\nmode = \"radius\"\n")
            .starts_with("lns.toml: aaa.radius.server: aaa.mode = \"radius\" needs at least one"));
        assert!(m(&format!("{aaa}[dae]\nlisten = \"127.0.0.1\"\n"))
            .starts_with("lns.toml: dae.listen: not an IP address and port"));
        // A bad users file: the config key, then file:line.
        let dir = std::env::temp_dir().join(format!("l2tpx-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users"), "ok pw\nbroken\n").unwrap();
        let e = parse_in("[aaa]\nusers_file = \"users\"\n", "lns.toml", Some(&dir))
            .unwrap_err()
            .to_string();
        let want = format!(
            "lns.toml: aaa.users_file: {}:2: expected",
            dir.join("users").display()
        );
        assert!(e.starts_with(&want), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        // RADIUS mode maps the servers and DAE clients.
        let s = parse(
            "[aaa]\nmode = \"radius\"\nacct_interim_min_s = 5\n[aaa.radius]\nnas_identifier = \"lns1\"\ntimeout_ms = 500\n[[aaa.radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"s\"\nauth_port = 18120\n[dae]\nlisten = \"127.0.0.1:3799\"\n[[dae.client]]\naddress = \"127.0.0.1\"\nsecret = \"d\"\n",
            "lns.toml",
        )
        .unwrap();
        assert_eq!(s.aaa.acct_interim_min, Duration::from_secs(5));
        assert_eq!(s.manager_config(0).acct_interim_min, Duration::from_secs(5));
        let r = s.aaa.radius.unwrap();
        assert_eq!(r.servers[0].auth_port, 18120);
        assert_eq!(r.servers[0].acct_port, 1813);
        assert_eq!(r.timeout, Duration::from_millis(500));
        assert_eq!(r.nas.identifier.as_deref(), Some("lns1"));
        assert_eq!(s.dae.unwrap().clients[0].secret, b"d");
        let s = parse(&aaa, "lns.toml").unwrap();
        assert_eq!(s.aaa.acct_interim_min, Duration::from_secs(60), "RFC 2869");
        assert!(m("[aaa]\nmode = \"radius\"\nacct_interim_min_s = 0\n")
            .starts_with("lns.toml: aaa.acct_interim_min_s: must be between 1 and 86400"));
    }

    #[test]
    fn the_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lns.toml");
        let s = load(&path).unwrap();
        assert_eq!(s.listen, "198.18.0.1:1701".parse().unwrap());
        assert!(s
            .engine
            .secrets
            .lookup("198.18.0.2".parse().unwrap())
            .is_none());
    }

    #[test]
    fn every_key_maps() {
        let s = parse_min(
            r#"
[l2tp]
listen = "198.18.0.1:1701"
host_name = "lns1"
vendor_name = "acme"
firmware_revision = 0x0203
receive_window = 8
hello_interval_s = 30
hide_avps = true
stop_linger_s = 10
id_quarantine_s = 90
refusal_linger_s = 20
hidden_padding_max = 7
bank_bits = 2
default_secret = "dflt"

[l2tp.retransmit]
initial_ms = 500
max_ms = 16000
retries = 7
ack_delay_ms = 50
slow_start = false

[l2tp.limits]
max_tunnels = 100
max_sessions = 1000
max_sessions_per_tunnel = 10
max_half_open = 20
max_half_open_per_peer = 5
half_open_timeout_s = 9

[[l2tp.secret]]
peer = "198.18.0.2"
secret = "s3cret"

[[l2tp.secret]]
peer = "2001:db8::2"
secret = "v6"

[log]
level = "debug"

[driver]
shutdown_timeout_ms = 500
recv_buffer_bytes = 1048576
batch = 32
"#,
            "t.toml",
        )
        .unwrap();
        let e = &s.engine;
        assert_eq!(s.listen, "198.18.0.1:1701".parse().unwrap());
        assert_eq!(e.host_name, "lns1");
        assert_eq!(e.vendor_name, "acme");
        assert_eq!(e.firmware_revision, 0x0203);
        assert_eq!(e.receive_window, 8);
        assert_eq!(e.hello_interval, Duration::from_secs(30));
        assert!(e.hide_avps);
        assert_eq!(e.stop_linger, Duration::from_secs(10));
        assert_eq!(e.id_quarantine, Duration::from_secs(90));
        assert_eq!(e.refusal_linger, Duration::from_secs(20));
        assert_eq!(e.hidden_padding_max, 7);
        assert_eq!(e.bank_bits, 2);
        assert_eq!(e.reliable.initial_rto, Duration::from_millis(500));
        assert_eq!(e.reliable.max_rto, Duration::from_millis(16000));
        assert_eq!(e.reliable.max_retries, 7);
        assert_eq!(e.reliable.ack_delay, Duration::from_millis(50));
        assert!(!e.reliable.slow_start);
        assert_eq!(
            e.limits,
            Limits {
                max_tunnels: 100,
                max_sessions: 1000,
                max_sessions_per_tunnel: 10,
                max_half_open: 20,
                max_half_open_per_peer: 5,
                half_open_timeout: Duration::from_secs(9),
            }
        );
        let sec = &e.secrets;
        assert_eq!(
            sec.lookup("198.18.0.2".parse().unwrap()),
            Some(&b"s3cret"[..])
        );
        assert_eq!(sec.lookup("2001:db8::2".parse().unwrap()), Some(&b"v6"[..]));
        assert_eq!(
            sec.lookup("198.18.0.9".parse().unwrap()),
            Some(&b"dflt"[..])
        );
        assert_eq!(s.log_level, LogLevel::Debug);
        assert_eq!(s.shutdown_timeout, Duration::from_millis(500));
        assert_eq!(s.recv_buffer_bytes, 1 << 20);
        assert_eq!(s.batch, 32);
    }

    #[test]
    fn range_errors_name_file_and_key() {
        assert_eq!(
            msg("[l2tp.retransmit]\nretries = 0\n"),
            "lns.toml: l2tp.retransmit.retries: must be between 1 and 32 (got 0)"
        );
        assert_eq!(
            msg("[l2tp]\nreceive_window = -1\n"),
            "lns.toml: l2tp.receive_window: must be between 1 and 32767 (got -1)"
        );
        assert_eq!(
            msg("[l2tp]\nbank_bits = 9\n"),
            "lns.toml: l2tp.bank_bits: must be between 0 and 8 (got 9)"
        );
        assert_eq!(
            msg("[l2tp.limits]\nmax_tunnels = 70000\n"),
            "lns.toml: l2tp.limits.max_tunnels: must be between 1 and 65535 (got 70000)"
        );
        assert!(msg("[l2tp.retransmit]\ninitial_ms = 9000\nmax_ms = 8000\n")
            .starts_with("lns.toml: l2tp.retransmit.max_ms: must not be less than"));
        assert!(msg("[l2tp.retransmit]\nack_delay_ms = 1000\n")
            .starts_with("lns.toml: l2tp.retransmit.ack_delay_ms: must be less than"));
        assert!(msg("[driver]\nshutdown_timeout_ms = 60001\n")
            .starts_with("lns.toml: driver.shutdown_timeout_ms: must be between 0 and 60000"));
    }

    #[test]
    fn value_errors_name_the_key() {
        assert!(msg("[l2tp]\nlisten = \"198.18.0.1\"\n")
            .starts_with("lns.toml: l2tp.listen: not an IP address and port"));
        assert!(msg("[l2tp]\nlisten = \"198.18.0.1:0\"\n")
            .starts_with("lns.toml: l2tp.listen: the port must not be 0"));
        assert!(msg("[l2tp]\nhost_name = \"\"\n")
            .starts_with("lns.toml: l2tp.host_name: must be 1 to 255 bytes long (got 0)"));
        assert!(msg("[log]\nlevel = \"loud\"\n").starts_with("lns.toml: log.level: must be one of"));
        assert!(msg("[[l2tp.secret]]\npeer = \"lac1\"\nsecret = \"x\"\n")
            .starts_with("lns.toml: l2tp.secret[0].peer: not an IP address (got \"lac1\")"));
        assert!(
            msg("[[l2tp.secret]]\npeer = \"198.18.0.2\"\nsecret = \"\"\n")
                .starts_with("lns.toml: l2tp.secret[0].secret: must be 1 to 1024 bytes")
        );
        assert!(
            msg("[[l2tp.secret]]\npeer = \"198.18.0.2\"\nsecret = \"a\"\n\
             [[l2tp.secret]]\npeer = \"198.18.0.2\"\nsecret = \"b\"\n")
            .starts_with("lns.toml: l2tp.secret[1].peer: 198.18.0.2 has a secret already")
        );
        assert!(msg("[l2tp]\ndefault_secret = \"\"\n")
            .starts_with("lns.toml: l2tp.default_secret: must be 1 to 1024"));
    }

    #[test]
    fn type_errors_name_the_key() {
        let m = msg("[l2tp.retransmit]\nretries = \"five\"\n");
        assert!(
            m.starts_with("lns.toml: l2tp.retransmit.retries: invalid type: string \"five\""),
            "{m}"
        );
        let m = msg("[l2tp]\nhide_avps = 1\n");
        assert!(
            m.starts_with("lns.toml: l2tp.hide_avps: invalid type: integer"),
            "{m}"
        );
        let m = msg("[[l2tp.secret]]\npeer = 5\nsecret = \"x\"\n");
        assert!(
            m.starts_with("lns.toml: l2tp.secret[0].peer: invalid type"),
            "{m}"
        );
        let m = msg("l2tp = 3\n");
        assert!(
            m.starts_with("lns.toml: l2tp: invalid type: integer"),
            "{m}"
        );
    }

    #[test]
    fn unknown_and_missing_keys() {
        let m = msg("[l2tp.retransmit]\nretires = 3\n");
        assert!(
            m.starts_with("lns.toml: l2tp.retransmit.retires: unknown key (expected one of"),
            "{m}"
        );
        let m = msg("[l2pt]\nlisten = \"198.18.0.1:1701\"\n");
        assert!(m.starts_with("lns.toml: l2pt: unknown key"), "{m}");
        let m = msg("[[l2tp.secret]]\npeer = \"198.18.0.2\"\n");
        assert_eq!(
            m,
            "lns.toml: l2tp.secret[0].secret: required key is missing"
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let m = msg("[l2tp]\nlisten = \"198.18.0.1:1701\n");
        assert!(m.starts_with("lns.toml: line 2, column "), "{m}");
        let m = msg("[l2tp]\nhide_avps = true\nhide_avps = false\n");
        assert!(m.starts_with("lns.toml: line 3, column 1: "), "{m}");
    }

    #[test]
    fn missing_file() {
        let e = load(Path::new("/nonexistent/l2tpx.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/l2tpx.toml: cannot read: No such file"),
            "{e}"
        );
    }
}
