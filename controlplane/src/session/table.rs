//! Where published sessions go ([`TableSink`]) and where the Ethernet
//! addresses of their templates come from ([`NeighbourSource`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use l2tpx_table::{SessionCounters, SessionEntry, TableWriter};
use tracing::warn;

/// The session table as the manager uses it.
pub trait TableSink {
    /// Publishes (or replaces) the session in `entry.session.slot`.
    fn publish(&mut self, entry: SessionEntry) -> Result<(), String>;
    /// Withdraws the session at `slot` (absent: nothing happens).
    fn withdraw(&mut self, slot: u32);
    /// The session's traffic since publication, summed over workers.
    fn counters(&self, slot: u32) -> SessionCounters;
}

impl TableSink for TableWriter {
    fn publish(&mut self, entry: SessionEntry) -> Result<(), String> {
        TableWriter::publish(self, &entry).map_err(|e| format!("{e:?}"))
    }

    fn withdraw(&mut self, slot: u32) {
        let _ = TableWriter::withdraw(self, slot);
    }

    fn counters(&self, slot: u32) -> SessionCounters {
        self.read_counters(slot)
    }
}

/// An in-memory table, for tests: what is published, and counters the
/// test sets.
#[derive(Debug, Default, Clone)]
pub struct MemoryTable {
    /// Published sessions by slot.
    pub entries: HashMap<u32, SessionEntry>,
    /// Counters by slot (set by tests; kept after a withdrawal).
    pub counters: HashMap<u32, SessionCounters>,
    /// Publications so far.
    pub publishes: u64,
    /// Withdrawals so far.
    pub withdrawals: u64,
}

impl TableSink for MemoryTable {
    fn publish(&mut self, entry: SessionEntry) -> Result<(), String> {
        let s = &entry.session;
        if let Some(a) = s.subscriber_v4 {
            if let Some(o) = self
                .entries
                .values()
                .find(|e| e.session.slot != s.slot && e.session.subscriber_v4 == Some(a))
            {
                return Err(format!("{a} in use by slot {}", o.session.slot));
            }
        }
        self.publishes += 1;
        self.entries.insert(s.slot, entry);
        Ok(())
    }

    fn withdraw(&mut self, slot: u32) {
        if self.entries.remove(&slot).is_some() {
            self.withdrawals += 1;
        }
    }

    fn counters(&self, slot: u32) -> SessionCounters {
        self.counters.get(&slot).copied().unwrap_or_default()
    }
}

/// The Ethernet addresses of a template, and our outer source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// The LAC's (or its next hop's) MAC.
    pub peer_mac: [u8; 6],
    /// Ours on the access interface.
    pub our_mac: [u8; 6],
    /// Our address towards the LAC (the template's outer source).
    pub local_addr: Ipv4Addr,
}

/// Resolves the [`Neighbour`] of a LAC.
pub trait NeighbourSource {
    /// For the LAC at `peer`; `local` is the address the L2TP socket is
    /// bound to (unspecified when it listens on all).
    fn resolve(&mut self, peer: Ipv4Addr, local: Ipv4Addr) -> Neighbour;
}

/// A fixed answer per peer (tests), with a default.
#[derive(Debug, Clone)]
pub struct FixedNeighbours {
    /// Per peer.
    pub map: HashMap<Ipv4Addr, Neighbour>,
    /// For peers not in `map`.
    pub default: Neighbour,
    /// How many times [`NeighbourSource::resolve`] was called.
    pub resolved: usize,
}

impl NeighbourSource for FixedNeighbours {
    fn resolve(&mut self, peer: Ipv4Addr, _local: Ipv4Addr) -> Neighbour {
        self.resolved += 1;
        self.map.get(&peer).copied().unwrap_or(self.default)
    }
}

/// The broadcast MAC, used when a neighbour is not resolved.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Production: the LAC's MAC from `/proc/net/arp` (IPv4) and ours from
/// `/sys/class/net/IF/address` of the interface the ARP entry names; the
/// outer source is the bound address or, when unspecified, the one the
/// kernel picks for a UDP "connect" to the peer. Unresolved: broadcast MAC
/// (peer) / zero MAC (ours), with a warning.
#[derive(Debug, Default, Clone)]
pub struct ProcNeighbours {
    /// Where to read the ARP table (tests point it elsewhere).
    pub arp_path: Option<String>,
}

impl ProcNeighbours {
    fn arp(&self, peer: Ipv4Addr) -> Option<([u8; 6], String)> {
        let path = self.arp_path.as_deref().unwrap_or("/proc/net/arp");
        let text = std::fs::read_to_string(path).ok()?;
        parse_arp(&text, peer)
    }
}

/// Finds `peer` in `/proc/net/arp` text: (MAC, interface).
pub fn parse_arp(text: &str, peer: Ipv4Addr) -> Option<([u8; 6], String)> {
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0].parse::<Ipv4Addr>().ok() != Some(peer) {
            continue;
        }
        // Flags 0x0: incomplete.
        if f[2] == "0x0" {
            continue;
        }
        if let Some(mac) = parse_mac(f[3]) {
            if mac != [0; 6] {
                return Some((mac, f[5].to_owned()));
            }
        }
    }
    None
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut it = s.trim().split(':');
    for b in &mut m {
        *b = u8::from_str_radix(it.next()?, 16).ok()?;
    }
    it.next().is_none().then_some(m)
}

impl NeighbourSource for ProcNeighbours {
    fn resolve(&mut self, peer: Ipv4Addr, local: Ipv4Addr) -> Neighbour {
        let local_addr = if local.is_unspecified() {
            UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| {
                    s.connect(SocketAddr::new(peer.into(), 1701))?;
                    s.local_addr()
                })
                .ok()
                .and_then(|a| match a.ip() {
                    std::net::IpAddr::V4(v) => Some(v),
                    _ => None,
                })
                .unwrap_or(local)
        } else {
            local
        };
        match self.arp(peer) {
            Some((peer_mac, ifname)) => {
                let our_mac = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))
                    .ok()
                    .and_then(|s| parse_mac(&s))
                    .unwrap_or([0; 6]);
                Neighbour {
                    peer_mac,
                    our_mac,
                    local_addr,
                }
            }
            None => {
                warn!(%peer, "no ARP entry for the LAC: its template uses the broadcast MAC");
                Neighbour {
                    peer_mac: BROADCAST_MAC,
                    our_mac: [0; 6],
                    local_addr,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_lines() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    198.18.0.2       0x1         0x2         02:00:00:00:00:02     *        veth0\n\
                    198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        veth0\n";
        assert_eq!(
            parse_arp(text, Ipv4Addr::new(198, 18, 0, 2)),
            Some(([2, 0, 0, 0, 0, 2], "veth0".into()))
        );
        assert_eq!(parse_arp(text, Ipv4Addr::new(198, 18, 0, 3)), None);
        assert_eq!(parse_mac("zz:00:00:00:00:00"), None);
    }
}
