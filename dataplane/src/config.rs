//! The `dataplane` configuration file (TOML) and its validation.
//!
//! ```toml
//! access_if = "eth1"            # the LAC-facing interface
//! core_if = "eth2"              # the Internet-facing interface
//! queues = 2                    # one worker per RX queue (0..queues)
//! table = "/dev/shm/l2tpx.table"
//! core_gateway = "198.18.251.1"    # the core next hop (its MAC is resolved)
//! backend = "auto"              # "auto" | "afxdp" | "afpacket"
//! umem_frames = 8192            # per worker, 4096 bytes each
//! icmp_source = "198.18.251.2"     # ICMP errors' source (default: core_if's)
//! icmp_rate = 1000              # ICMP errors per second per worker
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Which packet I/O the workers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// AF_XDP, or AF_PACKET if AF_XDP cannot be set up (one log line says
    /// which was chosen and why).
    #[default]
    Auto,
    /// AF_XDP only: fail if it cannot be set up.
    Afxdp,
    /// AF_PACKET only (no XDP program is attached).
    Afpacket,
}

/// How the AF_XDP sockets bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpBindMode {
    /// Let the kernel choose: zero-copy where the driver has it, else copy.
    #[default]
    Auto,
    /// Force copy mode (`XDP_COPY`).
    Copy,
    /// Require zero-copy (`XDP_ZEROCOPY`); binding fails without it.
    Zerocopy,
}

/// What a worker does with its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerMode {
    /// The l2tpx pipeline (`process_batch`).
    #[default]
    Pipeline,
    /// A bare forwarder for benchmarks: frames received on one interface
    /// are sent on the other with only their MAC addresses rewritten (no
    /// parsing, no lookup): upstream to the core gateway, downstream to
    /// `bare_access_mac` (unchanged when that is unset).
    Bare,
}

/// The configuration of one data-plane process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The access (LAC-facing) interface.
    pub access_if: String,
    /// The core (Internet-facing) interface.
    pub core_if: String,
    /// Number of workers: worker `q` serves RX queue `q` of both interfaces.
    #[serde(default = "defaults::queues")]
    pub queues: u32,
    /// The session table file (the control plane creates it; the data
    /// plane waits for it).
    pub table: PathBuf,
    /// How long to wait for the table file to appear, in seconds (0: do not
    /// wait).
    #[serde(default = "defaults::table_wait_s")]
    pub table_wait_s: u64,
    /// UMEM frames per worker (each [`FRAME_SIZE`] bytes), shared by the
    /// worker's access and core sockets.
    #[serde(default = "defaults::umem_frames")]
    pub umem_frames: u32,
    /// Entries of each AF_XDP ring (fill, completion, RX, TX): a power of 2.
    #[serde(default = "defaults::ring_size")]
    pub ring_size: u32,
    /// Bytes the UMEM reserves in front of each received packet, on top of
    /// the kernel's own `XDP_PACKET_HEADROOM` (256).
    #[serde(default = "defaults::headroom")]
    pub headroom: u32,
    /// The core next hop: upstream packets go to its MAC address.
    pub core_gateway: Ipv4Addr,
    /// The core next hop's MAC, if it must not be resolved ("02:00:...").
    #[serde(default)]
    pub core_gateway_mac: Option<String>,
    /// Which packet I/O to use.
    #[serde(default)]
    pub backend: BackendChoice,
    /// How the AF_XDP sockets bind.
    #[serde(default)]
    pub xdp_mode: XdpBindMode,
    /// What the workers do (the pipeline, or a bare forwarder for benches).
    #[serde(default)]
    pub mode: WorkerMode,
    /// `mode = "bare"` only: the access next hop's MAC, downstream frames'
    /// destination (their source becomes the access interface's MAC).
    #[serde(default)]
    pub bare_access_mac: Option<String>,
    /// CPUs to pin worker `q` to (`cpus[q % len]`); empty: worker `q` on
    /// CPU `q % available CPUs`.
    #[serde(default)]
    pub cpus: Vec<usize>,
    /// Verify a nonzero outer UDP checksum upstream.
    #[serde(default)]
    pub verify_udp_checksum: bool,
    /// Seconds between counter lines in the log (0: never).
    #[serde(default = "defaults::stats_interval_s")]
    pub stats_interval_s: u64,
    /// Seconds between neighbour-table refreshes.
    #[serde(default = "defaults::neigh_refresh_s")]
    pub neigh_refresh_s: u64,
    /// Idle iterations before a worker sleeps in `poll()` (1 ms at most);
    /// 0: never sleep (pure busy polling).
    #[serde(default = "defaults::idle_spins")]
    pub idle_spins: u32,
    /// Source address of the ICMPv4 errors the slow path sends (Time
    /// Exceeded, Fragmentation Needed); default: the core interface's
    /// first IPv4 address (D20).
    #[serde(default)]
    pub icmp_source: Option<Ipv4Addr>,
    /// Source address of the ICMPv6 errors; default: the core interface's
    /// first global IPv6 address, and none are sent without one.
    #[serde(default)]
    pub icmp_source_v6: Option<Ipv6Addr>,
    /// ICMP errors per second per worker (RFC 1812 §4.3.2.8; 0: none).
    #[serde(default = "defaults::icmp_rate")]
    pub icmp_rate: u32,
    /// How many ICMP errors may leave at once after a quiet period.
    #[serde(default = "defaults::icmp_burst")]
    pub icmp_burst: u32,
}

/// The size of a UMEM frame (and an AF_PACKET buffer).
pub const FRAME_SIZE: u32 = 4096;

mod defaults {
    pub fn queues() -> u32 {
        1
    }
    pub fn table_wait_s() -> u64 {
        30
    }
    pub fn umem_frames() -> u32 {
        8192
    }
    pub fn ring_size() -> u32 {
        2048
    }
    pub fn headroom() -> u32 {
        128
    }
    pub fn stats_interval_s() -> u64 {
        10
    }
    pub fn neigh_refresh_s() -> u64 {
        5
    }
    pub fn idle_spins() -> u32 {
        20_000
    }
    pub fn icmp_rate() -> u32 {
        crate::slowpath::DEFAULT_ICMP_RATE
    }
    pub fn icmp_burst() -> u32 {
        crate::slowpath::DEFAULT_ICMP_BURST
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or mistyped keys.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// A configuration with every default, for tests and tools.
    pub fn new(access_if: &str, core_if: &str, table: &Path, core_gateway: Ipv4Addr) -> Config {
        Config {
            access_if: access_if.into(),
            core_if: core_if.into(),
            queues: defaults::queues(),
            table: table.into(),
            table_wait_s: defaults::table_wait_s(),
            umem_frames: defaults::umem_frames(),
            ring_size: defaults::ring_size(),
            headroom: defaults::headroom(),
            core_gateway,
            core_gateway_mac: None,
            backend: BackendChoice::Auto,
            xdp_mode: XdpBindMode::Auto,
            mode: WorkerMode::Pipeline,
            bare_access_mac: None,
            cpus: Vec::new(),
            verify_udp_checksum: false,
            stats_interval_s: defaults::stats_interval_s(),
            neigh_refresh_s: defaults::neigh_refresh_s(),
            idle_spins: defaults::idle_spins(),
            icmp_source: None,
            icmp_source_v6: None,
            icmp_rate: defaults::icmp_rate(),
            icmp_burst: defaults::icmp_burst(),
        }
    }

    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.into(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The core gateway MAC given in the file, parsed.
    pub fn static_gateway_mac(&self) -> Result<Option<[u8; 6]>, ConfigError> {
        mac_key("core_gateway_mac", &self.core_gateway_mac)
    }

    /// `bare_access_mac` parsed.
    pub fn static_bare_access_mac(&self) -> Result<Option<[u8; 6]>, ConfigError> {
        mac_key("bare_access_mac", &self.bare_access_mac)
    }

    /// Checks every value; the message names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for (key, name) in [("access_if", &self.access_if), ("core_if", &self.core_if)] {
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
                return bad(format!("{key} {name:?} is not an interface name"));
            }
        }
        if self.access_if == self.core_if {
            return bad("access_if and core_if must differ".into());
        }
        let max_q = crate::ebpf::MAX_QUEUES;
        if self.queues == 0 || self.queues > max_q {
            return bad(format!("queues {} not in 1..={max_q}", self.queues));
        }
        if !self.ring_size.is_power_of_two() || !(64..=32768).contains(&self.ring_size) {
            return bad(format!(
                "ring_size {} must be a power of 2 in 64..=32768",
                self.ring_size
            ));
        }
        // Both fill rings full, plus a batch in flight on each side.
        let min_frames = 2 * self.ring_size + 2 * crate::pipeline::BATCH_MAX as u32;
        if self.umem_frames < min_frames || self.umem_frames > 1 << 20 {
            return bad(format!(
                "umem_frames {} must be in {min_frames}..={} (2 × ring_size + 128)",
                self.umem_frames,
                1 << 20
            ));
        }
        if self.headroom > 1024 {
            return bad(format!("headroom {} above 1024", self.headroom));
        }
        if self.table.as_os_str().is_empty() {
            return bad("table path is empty".into());
        }
        if self.core_gateway.is_unspecified() || self.core_gateway.is_broadcast() {
            return bad(format!("core_gateway {} is not a host", self.core_gateway));
        }
        self.static_gateway_mac()?;
        self.static_bare_access_mac()?;
        let ncpu = core_affinity::get_core_ids().map_or(0, |v| v.len());
        if let Some(c) = self.cpus.iter().find(|&&c| ncpu > 0 && c >= ncpu) {
            return bad(format!("cpus: CPU {c} does not exist ({ncpu} available)"));
        }
        Ok(())
    }
}

/// An optional MAC address key, parsed; the error names the key.
fn mac_key(key: &str, value: &Option<String>) -> Result<Option<[u8; 6]>, ConfigError> {
    match value {
        None => Ok(None),
        Some(s) => crate::neigh::parse_mac(s)
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid(format!("{key} {s:?} is not a MAC address"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        access_if = "acc0"
        core_if = "core0"
        table = "/dev/shm/t"
        core_gateway = "198.19.0.2"
    "#;

    #[test]
    fn minimal_file_takes_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.queues, 1);
        assert_eq!(c.backend, BackendChoice::Auto);
        assert_eq!(c.umem_frames, 8192);
        assert_eq!(c.mode, WorkerMode::Pipeline);
        assert_eq!(c, {
            let mut d = Config::new(
                "acc0",
                "core0",
                Path::new("/dev/shm/t"),
                Ipv4Addr::new(198, 19, 0, 2),
            );
            d.table = "/dev/shm/t".into();
            d
        });
    }

    #[test]
    fn backend_is_selectable() {
        for (word, want) in [
            ("auto", BackendChoice::Auto),
            ("afxdp", BackendChoice::Afxdp),
            ("afpacket", BackendChoice::Afpacket),
        ] {
            let c = Config::parse(&format!("{MINIMAL}\nbackend = \"{word}\"")).unwrap();
            assert_eq!(c.backend, want);
        }
        let e = Config::parse(&format!("{MINIMAL}\nbackend = \"dpdk\"")).unwrap_err();
        assert!(e.to_string().contains("dpdk"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (extra, word) in [
            ("queues = 0", "queues"),
            ("ring_size = 1000", "ring_size"),
            ("umem_frames = 100", "umem_frames"),
            ("headroom = 4000", "headroom"),
            ("core_gateway_mac = \"zz\"", "core_gateway_mac"),
            ("bare_access_mac = \"zz\"", "bare_access_mac"),
            ("bogus = 1", "bogus"),
        ] {
            let e = Config::parse(&format!("{MINIMAL}\n{extra}")).unwrap_err();
            assert!(e.to_string().contains(word), "{extra}: {e}");
        }
        let same = MINIMAL.replace("core0", "acc0");
        assert!(Config::parse(&same).is_err());
        let long = MINIMAL.replace("core0", "a_very_long_ifname");
        assert!(Config::parse(&long).is_err());
    }
}
