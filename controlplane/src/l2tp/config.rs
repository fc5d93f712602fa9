//! Configuration of the LNS engine (plain Rust; the TOML driver maps onto it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::reliable::ReliableConfig;

/// Tunnel secrets (§4.3, §5.1.1): one per peer address, plus an optional
/// default. A peer with a secret is challenged in our SCCRP and must answer
/// in its SCCCN; the same secret reveals its hidden AVPs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Secrets by peer IP address (any port).
    pub per_peer: HashMap<IpAddr, Vec<u8>>,
    /// Secret for peers not listed in `per_peer`; `None`: no authentication.
    pub default: Option<Vec<u8>>,
}

impl Secrets {
    /// The secret shared with `peer`, if any (an empty one counts as none).
    pub fn lookup(&self, peer: IpAddr) -> Option<&[u8]> {
        self.per_peer
            .get(&peer)
            .or(self.default.as_ref())
            .map(Vec::as_slice)
            .filter(|s| !s.is_empty())
    }
}

/// Resource limits. Refusals answer with the RFC's result codes: StopCCN
/// result 2 / error 4 for tunnels, CDN result 4 for sessions. Half-open
/// floods are dropped silently (no amplification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Tunnels (established or half-open, not lingering after StopCCN).
    pub max_tunnels: usize,
    /// Sessions over all tunnels.
    pub max_sessions: usize,
    /// Sessions in one tunnel.
    pub max_sessions_per_tunnel: usize,
    /// Tunnels in wait-ctl-conn (SCCRP sent, no SCCCN yet) over all peers.
    pub max_half_open: usize,
    /// Half-open tunnels from one peer IP address.
    pub max_half_open_per_peer: usize,
    /// How long a tunnel may stay half-open before it is dropped.
    pub half_open_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tunnels: 60_000,
            max_sessions: 1 << 20,
            max_sessions_per_tunnel: 65_535,
            max_half_open: 4096,
            max_half_open_per_peer: 256,
            half_open_timeout: Duration::from_secs(20),
        }
    }
}

/// Engine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Host Name AVP we send (§4.4.3).
    pub host_name: String,
    /// Vendor Name AVP we send.
    pub vendor_name: String,
    /// Firmware Revision AVP we send.
    pub firmware_revision: u16,
    /// Receive Window Size we advertise (and hold for, §5.8).
    pub receive_window: u16,
    /// Tunnel secrets.
    pub secrets: Secrets,
    /// Hide (§4.3) the AVPs we send that may be hidden, when the tunnel has
    /// a secret.
    pub hide_avps: bool,
    /// Send a HELLO after this long without hearing from the peer (§6.5,
    /// default 60 s).
    pub hello_interval: Duration,
    /// Retransmission timers (initial 1 s, cap 8 s, 5 retries) and ACK
    /// delay. `our_rws` is overridden by `receive_window`.
    pub reliable: ReliableConfig,
    /// How long a closed tunnel keeps its state to acknowledge StopCCN
    /// retransmissions (§5.7: a full retransmission cycle, 31 s).
    pub stop_linger: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// Low bits of the tunnel ID that pick a bank of 65,536 session slots
    /// (see [`super::ids::slot_index`]). 0..=8.
    pub bank_bits: u8,
    /// How long a freed session or tunnel ID stays unallocatable (default
    /// 60 s), so late data messages of a dead session never reach a new
    /// subscriber's slot. Quarantined IDs count against the bank's 65,535.
    pub id_quarantine: Duration,
    /// How long a refused SCCRQ is remembered, to answer its
    /// retransmissions with the same StopCCN (default 31 s, a full
    /// retransmission cycle, §5.7/§5.8). Bounded by the half-open limits.
    pub refusal_linger: Duration,
    /// Hidden AVPs (§4.3) get 0..=this many random padding bytes (default
    /// 15), so their length does not give away the length of the value.
    pub hidden_padding_max: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host_name: "l2tpx".into(),
            vendor_name: "l2tpx".into(),
            firmware_revision: 0x0100,
            receive_window: 16,
            secrets: Secrets::default(),
            hide_avps: false,
            hello_interval: Duration::from_secs(60),
            // Short: nothing answers an ICCN or a HELLO, so the ack rides
            // on the tunnel's next ICRP only while calls keep coming (about
            // one per millisecond per tunnel in a setup storm), and a LAC
            // whose slow-start window is full waits for it. 2 ms cut the
            // ZLBs of a 40,000-session storm by 88%; 10 ms by all, but
            // added 5-7 ms to the p99 setup latency of a 1,000-session
            // burst; 100 ms halved its rate (docs/benchmarks.md).
            reliable: ReliableConfig {
                ack_delay: Duration::from_millis(2),
                ..ReliableConfig::default()
            },
            stop_linger: Duration::from_secs(31),
            limits: Limits::default(),
            bank_bits: 4,
            id_quarantine: Duration::from_secs(60),
            refusal_linger: Duration::from_secs(31),
            hidden_padding_max: 15,
        }
    }
}
