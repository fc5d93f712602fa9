//! Helpers shared by the cross-crate tests: finding `../shared`, reading and
//! writing pcaps, and running tshark as an independent format oracle.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

/// The `shared/` folder beside the checkout (`L2TPX_SHARED` overrides).
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("L2TPX_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// All `*.pcap` files under `shared/captures`, sorted by name.
pub fn capture_files() -> Vec<PathBuf> {
    let dir = shared_dir().join("captures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

/// Reads every frame of an Ethernet pcap.
pub fn read_ethernet_pcap(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut reader = PcapReader::new(File::open(path)?).map_err(io::Error::other)?;
    if reader.header().datalink != DataLink::ETHERNET {
        return Err(io::Error::other(format!(
            "{}: link type {:?}, expected Ethernet",
            path.display(),
            reader.header().datalink
        )));
    }
    let mut frames = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        frames.push(pkt.map_err(io::Error::other)?.data.into_owned());
    }
    Ok(frames)
}

/// Writes Ethernet frames to a pcap, 1 ms apart.
pub fn write_ethernet_pcap(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    let mut w = PcapWriter::new(File::create(path)?).map_err(io::Error::other)?;
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_millis(i as u64);
        let pkt = PcapPacket::new(ts, f.len() as u32, f);
        w.write_packet(&pkt).map_err(io::Error::other)?;
    }
    Ok(())
}

/// Whether `tshark` can be run.
pub fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs tshark on a capture (UDP 1701 decoded as L2TP) with a display filter,
/// printing the given fields, one line per matching frame, tab-separated.
pub fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> io::Result<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(pcap)
        .args(["-d", "udp.port==1701,l2tp", "-T", "fields"]);
    cmd.args([
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    if !filter.is_empty() {
        cmd.args(["-Y", filter]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

pub mod dissect;
pub mod freeradius;
pub mod l2tpns;
pub mod netns;
pub mod peers;
pub mod system;
