//! Neighbour (MAC) resolution from the kernel's IPv4 neighbour table.
//!
//! The workers bypass the kernel, so they need the next hops' MAC
//! addresses: the core gateway's (the destination of every upstream frame,
//! in [`PipelineConfig`](crate::pipeline::PipelineConfig)) and each LAC's
//! (in every session's header template, which the control plane builds:
//! [`Neighbours::fill_peer_mac`] is its helper). The kernel still answers
//! and sends ARP on both interfaces (XDP passes ARP), so its table is the
//! source: this module reads `/proc/thread-self/net/arp` (the calling
//! thread's namespace), asks the kernel to resolve a missing address by
//! sending it one empty UDP datagram, and refreshes periodically.
//!
//! Limits: IPv4 only, and on-link peers only (a LAC behind a router needs
//! the router's MAC: a route lookup, not done here).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::pipeline::TemplateParams;

/// `ATF_COM`: the entry is complete (has a MAC).
const ATF_COM: u32 = 0x2;

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// One complete entry of the neighbour table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The neighbour's address.
    pub ip: Ipv4Addr,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// The interface it was learnt on.
    pub device: String,
}

/// Parses the text of `/proc/net/arp`, keeping complete entries only.
pub fn parse_arp(text: &str) -> Vec<Entry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [ip, _hw, flags, mac, _mask, dev] = f.as_slice() else {
                return None;
            };
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            let mac = parse_mac(mac)?;
            let ip = ip.parse().ok()?;
            (flags & ATF_COM != 0 && mac != [0; 6]).then(|| Entry {
                ip,
                mac,
                device: (*dev).to_string(),
            })
        })
        .collect()
}

/// Reads the neighbour table of the calling thread's network namespace.
pub fn read_arp() -> io::Result<Vec<Entry>> {
    let text = std::fs::read_to_string("/proc/thread-self/net/arp")
        .or_else(|_| std::fs::read_to_string("/proc/net/arp"))?;
    Ok(parse_arp(&text))
}

/// Makes the kernel resolve `ip` (an ARP request) by sending it one empty
/// UDP datagram to the discard port.
pub fn solicit(ip: Ipv4Addr) -> io::Result<()> {
    let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
    s.send_to(&[], SocketAddrV4::new(ip, 9)).map(|_| ())
}

/// Waits up to `timeout` for `ip` to be in the neighbour table, soliciting
/// it first and every 200 ms.
#[allow(clippy::disallowed_methods)] // a driver-side wait, not protocol time
pub fn resolve(ip: Ipv4Addr, timeout: Duration) -> io::Result<[u8; 6]> {
    let start = std::time::Instant::now();
    let mut last_solicit: Option<std::time::Instant> = None;
    loop {
        if let Some(e) = read_arp()?.into_iter().find(|e| e.ip == ip) {
            return Ok(e.mac);
        }
        if start.elapsed() >= timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no neighbour entry for {ip} after {timeout:?}"),
            ));
        }
        if last_solicit.is_none_or(|t| t.elapsed() >= Duration::from_millis(200)) {
            // A send error (no route) is the caller's problem to see in the
            // time-out message; keep trying.
            let _ = solicit(ip);
            last_solicit = Some(std::time::Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The MAC address of interface `ifname` (`SIOCGIFHWADDR`) in the calling
/// thread's network namespace.
pub fn interface_mac(ifname: &str) -> io::Result<[u8; 6]> {
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: a plain socket; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills req.ifr_ifru.ifru_hwaddr.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req) };
    let err = io::Error::last_os_error();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return Err(io::Error::new(err.kind(), format!("{ifname}: {err}")));
    }
    // SAFETY: the kernel wrote the hwaddr variant.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// A MAC address that workers read once per batch and a refresher updates:
/// 48 bits plus a "known" bit in one atomic word.
#[derive(Debug, Default)]
pub struct MacCell(AtomicU64);

const KNOWN: u64 = 1 << 63;

impl MacCell {
    /// A cell holding `mac` (or nothing).
    pub fn new(mac: Option<[u8; 6]>) -> MacCell {
        let c = MacCell::default();
        if let Some(m) = mac {
            c.set(m);
        }
        c
    }

    /// Stores `mac`.
    pub fn set(&self, mac: [u8; 6]) {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&mac);
        self.0
            .store(u64::from_be_bytes(b) | KNOWN, Ordering::Relaxed);
    }

    /// The MAC, if known.
    #[inline]
    pub fn get(&self) -> Option<[u8; 6]> {
        let v = self.0.load(Ordering::Relaxed);
        if v & KNOWN == 0 {
            return None;
        }
        let b = (v & !KNOWN).to_be_bytes();
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[2..]);
        Some(m)
    }

    /// The raw word (for a cheap "did it change" check).
    #[inline]
    pub fn raw(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A change seen by [`Neighbours::refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The neighbour.
    pub ip: Ipv4Addr,
    /// What it was (None: newly learnt).
    pub old: Option<[u8; 6]>,
    /// What it is now.
    pub new: [u8; 6],
}

/// The neighbours we care about (the core gateway, the LACs), with the
/// last MAC known for each. A MAC is kept when its entry disappears from
/// the kernel table (it ages out because the kernel itself never sends to
/// these neighbours); a missing entry is solicited again on each refresh.
#[derive(Debug, Default)]
pub struct Neighbours {
    known: HashMap<Ipv4Addr, Option<[u8; 6]>>,
}

impl Neighbours {
    /// An empty set.
    pub fn new() -> Neighbours {
        Neighbours::default()
    }

    /// Starts tracking `ip` (solicits it on the next refresh if unknown).
    pub fn watch(&mut self, ip: Ipv4Addr) {
        self.known.entry(ip).or_insert(None);
    }

    /// The last MAC known for `ip`.
    pub fn get(&self, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.known.get(&ip).copied().flatten()
    }

    /// Re-reads the kernel table; returns what changed. Watched addresses
    /// missing from the table are solicited.
    pub fn refresh(&mut self) -> io::Result<Vec<Change>> {
        let table = read_arp()?;
        Ok(self.apply(&table, true))
    }

    fn apply(&mut self, table: &[Entry], solicit_missing: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        for (ip, mac) in self.known.iter_mut() {
            match table.iter().find(|e| e.ip == *ip) {
                Some(e) if *mac != Some(e.mac) => {
                    changes.push(Change {
                        ip: *ip,
                        old: *mac,
                        new: e.mac,
                    });
                    *mac = Some(e.mac);
                }
                Some(_) => {}
                None if solicit_missing => {
                    let _ = solicit(*ip);
                }
                None => {}
            }
        }
        changes
    }

    /// For the control plane building a session's template: sets
    /// `params.peer_mac` to the LAC's MAC (`params.peer_addr`), watching it
    /// from now on. Returns false, leaving `params` alone, while unknown.
    pub fn fill_peer_mac(&mut self, params: &mut TemplateParams) -> bool {
        self.watch(params.peer_addr);
        match self.get(params.peer_addr) {
            Some(mac) => {
                params.peer_mac = mac;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
198.18.0.2       0x1         0x2         c6:56:30:db:7f:25     *        va1x0
198.19.0.2       0x1         0x2         02:00:00:00:01:02     *        vb1x1
198.19.0.9       0x1         0x0         00:00:00:00:00:00     *        vb1x1
";

    #[test]
    fn macs_parse_and_print() {
        let m = parse_mac("c6:56:30:db:7f:25").unwrap();
        assert_eq!(m, [0xc6, 0x56, 0x30, 0xdb, 0x7f, 0x25]);
        assert_eq!(format_mac(&m), "c6:56:30:db:7f:25");
        for bad in [
            "",
            "c6:56:30:db:7f",
            "c6:56:30:db:7f:25:00",
            "c6:56:30:db:7f:zz",
            "c6::30:db:7f:25",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn proc_net_arp_keeps_complete_entries() {
        let t = parse_arp(ARP);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].ip, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(t[0].device, "va1x0");
        assert_eq!(t[1].mac, [2, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn neighbours_report_changes_and_keep_stale_macs() {
        let mut n = Neighbours::new();
        let gw = Ipv4Addr::new(198, 19, 0, 2);
        n.watch(gw);
        n.watch(Ipv4Addr::new(198, 19, 0, 9));
        let c = n.apply(&parse_arp(ARP), false);
        assert_eq!(
            c,
            vec![Change {
                ip: gw,
                old: None,
                new: [2, 0, 0, 0, 1, 2]
            }]
        );
        assert!(n.apply(&parse_arp(ARP), false).is_empty());
        // Gone from the kernel table: the last MAC stays.
        assert!(n.apply(&[], false).is_empty());
        assert_eq!(n.get(gw), Some([2, 0, 0, 0, 1, 2]));
        let moved = ARP.replace("02:00:00:00:01:02", "02:00:00:00:01:03");
        let c = n.apply(&parse_arp(&moved), false);
        assert_eq!(c[0].old, Some([2, 0, 0, 0, 1, 2]));
        assert_eq!(c[0].new, [2, 0, 0, 0, 1, 3]);
    }

    #[test]
    fn mac_cell_round_trips() {
        let c = MacCell::new(None);
        assert_eq!(c.get(), None);
        c.set([0, 0, 0, 0, 0, 0]);
        assert_eq!(c.get(), Some([0; 6]));
        c.set([0xff; 6]);
        assert_eq!(c.get(), Some([0xff; 6]));
    }
}
