//! The bench topology and its targets. Addresses come from 198.18.0.0/15
//! only:
//!
//! ```text
//!  LAC ns                 LNS ns                          CORE ns
//!  198.18.0.2/24 ──veth── 198.18.0.1/24 (access)
//!  (+198.18.0.10.. with --lac-addrs)
//!                         198.19.0.1/24 (core) ──veth──  198.19.0.2/24
//!                         pool 198.18.64.0/18 (TUN)      route pool via 198.19.0.1
//! ```
//!
//! Every name is unique to the run; the namespaces (and everything in
//! them, daemons included) go when [`Topology`] drops, on success, error
//! or panic. `main` turns SIGINT/SIGTERM into an orderly exit so the drops
//! run on Ctrl-C too.

use std::io;
use std::net::Ipv4Addr;

use l2tpx_tests::l2tpns::{L2tpns, L2tpnsConfig};
use l2tpx_tests::netns::{NetNs, Veth};

/// LAC side of the access link.
pub const LAC_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// LNS side of the access link.
pub const LNS_ACCESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// LNS side of the core link.
pub const LNS_CORE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The core host.
pub const CORE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// The subscriber pool.
pub const POOL: &str = "198.18.64.0/18";

/// Three namespaces and two veths.
#[derive(Debug)]
pub struct Topology {
    /// The LAC (emulator) side.
    pub lac: NetNs,
    /// The LNS under test.
    pub lns: NetNs,
    /// The core-side host.
    pub core: NetNs,
    /// LAC ↔ LNS: `a` in `lac`, `b` in `lns`.
    pub access: Veth,
    /// LNS ↔ CORE: `a` in `lns`, `b` in `core`.
    pub core_link: Veth,
    /// The LAC's local addresses (tunnel i uses `lac_addrs[i % len]`).
    pub lac_addrs: Vec<Ipv4Addr>,
}

impl Topology {
    /// Builds it; `extra_lac_addrs` more LAC addresses (198.18.0.10 + i).
    pub fn new(extra_lac_addrs: u8) -> io::Result<Topology> {
        let lac = NetNs::new("blac")?;
        let lns = NetNs::new("blns")?;
        let core = NetNs::new("bcor")?;
        let access = Veth::new(&lac, "198.18.0.2/24", &lns, "198.18.0.1/24")?;
        let core_link = Veth::new(&lns, "198.19.0.1/24", &core, "198.19.0.2/24")?;
        let mut lac_addrs = vec![LAC_ADDR];
        for i in 0..extra_lac_addrs.min(200) {
            let a = Ipv4Addr::new(198, 18, 0, 10 + i);
            lac.ip(&["addr", "add", &format!("{a}/24"), "dev", &access.a])?;
            lac_addrs.push(a);
        }
        core.ip(&["route", "add", POOL, "via", &LNS_CORE.to_string()])?;
        lns.exec("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])?;
        Ok(Topology {
            lac,
            lns,
            core,
            access,
            core_link,
            lac_addrs,
        })
    }

    /// What the baseline target needs so that the bare forwarder's frames
    /// (which keep their IP headers) reach the receivers: the core host
    /// also owns the LNS's access address (upstream L2TP lands on its UDP
    /// 1701 socket), the LAC owns the whole pool (`local` route; downstream
    /// lands on its UDP 9001 socket), each has a route back to the other's
    /// link, and reverse-path filtering is off.
    pub fn baseline_routes(&self) -> io::Result<()> {
        self.core
            .ip(&["addr", "add", &format!("{LNS_ACCESS}/32"), "dev", "lo"])?;
        self.core.ip(&[
            "route",
            "add",
            "198.18.0.0/24",
            "via",
            &LNS_CORE.to_string(),
        ])?;
        self.lac.ip(&["route", "add", "local", POOL, "dev", "lo"])?;
        self.lac.ip(&[
            "route",
            "add",
            "198.19.0.0/24",
            "via",
            &LNS_ACCESS.to_string(),
        ])?;
        for ns in [&self.lac, &self.core] {
            for k in ["all", "default", "lo"] {
                ns.exec(
                    "sysctl",
                    &["-q", "-w", &format!("net.ipv4.conf.{k}.rp_filter=0")],
                )?;
            }
        }
        Ok(())
    }

    /// The MAC address of the LAC's end of the access veth.
    pub fn lac_mac(&self) -> io::Result<String> {
        let out = self
            .lac
            .ip(&["-br", "link", "show", "dev", &self.access.a])?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .nth(2)
            .filter(|m| m.len() == 17 && m.matches(':').count() == 5)
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("no MAC in {text:?}")))
    }

    /// Starts l2tpns (and FreeRADIUS) in the LNS namespace. `authtypes`:
    /// "chap", "pap" or "chap,pap"; `accounting`: RADIUS accounting too.
    pub fn start_l2tpns(&self, authtypes: &str, debug: u8, accounting: bool) -> io::Result<L2tpns> {
        let cfg = L2tpnsConfig {
            radius_accounting: accounting,
            bind_address: LNS_ACCESS,
            cluster_interface: self.access.b.clone(),
            pool: vec![POOL.into()],
            radius_authtypes: authtypes.into(),
            debug,
            ..L2tpnsConfig::default()
        };
        L2tpns::start(&self.lns, &cfg)
    }
}
