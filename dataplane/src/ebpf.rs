//! The XDP side of the data plane: the embedded object built from `ebpf/`,
//! the Rust mirror of its ABI (`ebpf/include/l2tpx_abi.h`), and a loader.
//!
//! - [`Steering`] loads the object (both programs, all maps), attaches
//!   `l2tp_steer` to the access interface and `core_steer` to the core
//!   interface ([`Side`]), puts AF_XDP sockets in the XSKMAPs, keeps the
//!   subscriber maps (the XDP-side steering filter; the session table proper
//!   lives in shared memory) and reads the per-CPU [`Counters`].
//! - [`Config`], [`V6Key`], [`Meta`] and [`Counter`] mirror the C header. They are
//!   checked at compile time against constants that `build.rs` obtains by
//!   compiling `ebpf/abi_probe.c` with the host compiler: sizes, alignments,
//!   field offsets, counter names and indices. A mismatch fails the build.
//!
//! Everything here needs `CAP_BPF` and `CAP_NET_ADMIN` (root) at run time.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray, XskMap};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::{Ebpf, EbpfError, EbpfLoader, Pod, TestRun, TestRunOptions};

/// What `ebpf/abi_probe.c` printed: the C side of the ABI, as constants.
#[allow(dead_code)]
mod c {
    include!(concat!(env!("OUT_DIR"), "/l2tpx_abi.rs"));
}

/// The XDP object, built by `build.rs` with clang-19 from `ebpf/l2tpx_xdp.c`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/l2tpx_xdp.o"));

/// The embedded BPF ELF object (both programs and their maps).
pub fn object() -> &'static [u8] {
    OBJECT
}

/// l2tpx-bench's receive filter, built from `ebpf/bench_xdp.c`: program
/// `bench_steer`, maps `bench_config` (ARRAY[1] of u32: the plain UDP port
/// to steer) and `bench_xsks` (XSKMAP of [`MAX_QUEUES`] entries).
static BENCH_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench_xdp.o"));

/// The embedded bench filter object (see `ebpf/bench_xdp.c`).
pub fn bench_object() -> &'static [u8] {
    BENCH_OBJECT
}

/// `L2TPX_ABI_VERSION`: bumped on any change user space must know about.
pub const ABI_VERSION: u32 = c::ABI_VERSION;
/// Entries of each XSKMAP: the highest RX queue served, plus one.
pub const MAX_QUEUES: u32 = c::MAX_QUEUES;
/// Default capacity of the IPv4 subscriber map (see [`LoadOptions`]).
pub const MAX_SUBS_V4: u32 = c::MAX_SUBS_V4;
/// Default capacity of the IPv6 /64 subscriber map (see [`LoadOptions`]).
pub const MAX_SUBS_V6: u32 = c::MAX_SUBS_V6;
/// Largest L2TP Offset Size the fast path skips; larger ones pass.
pub const MAX_OFFSET_PAD: u32 = c::MAX_OFFSET_PAD;
/// The UDP port of L2TP when [`Config::l2tp_port`] is 0.
pub const DEFAULT_L2TP_PORT: u16 = c::DEFAULT_L2TP_PORT as u16;

// ---------------------------------------------------------------------------
// The ABI mirror.

/// `struct l2tpx_config`, the single entry of the `l2tpx_config` array map.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// UDP destination port of L2TP, host byte order; 0 means 1701.
    pub l2tp_port: u16,
    /// No flags are defined yet: 0.
    pub flags: u16,
    /// Written as 0.
    pub reserved: u32,
}

// SAFETY: repr(C), integers only, no padding (size and offsets asserted below).
unsafe impl Pod for Config {}

impl Config {
    /// A config that steers L2TP on `port`.
    pub const fn with_l2tp_port(port: u16) -> Config {
        Config {
            l2tp_port: port,
            flags: 0,
            reserved: 0,
        }
    }

    /// The port `l2tp_steer` matches: [`Config::l2tp_port`], or 1701 for 0.
    pub const fn effective_l2tp_port(&self) -> u16 {
        if self.l2tp_port == 0 {
            DEFAULT_L2TP_PORT
        } else {
            self.l2tp_port
        }
    }
}

/// `struct l2tpx_v6_key`: the /64 of an IPv6 subscriber, key of `subs_v6`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct V6Key {
    /// The first 8 octets of the address.
    pub prefix: [u8; 8],
}

// SAFETY: repr(C) byte array, no padding.
unsafe impl Pod for V6Key {}

impl From<Ipv6Addr> for V6Key {
    /// Keeps the /64 of the address; the interface identifier is dropped.
    fn from(addr: Ipv6Addr) -> V6Key {
        let o = addr.octets();
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&o[..8]);
        V6Key { prefix }
    }
}

/// `struct l2tpx_meta`: what `core_steer` writes into a steered frame's
/// XDP metadata, right in front of the packet. `slot` is the subscriber
/// map's value (a hint the worker verifies against the table); `check`
/// ties the struct to the packet's destination, so that stale bytes in the
/// headroom, or a driver that gives no metadata, read as "no hint".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// The session slot of the destination subscriber.
    pub slot: u32,
    /// `L2TPX_META_MAGIC_V4 ^ dst` or `L2TPX_META_MAGIC_V6 ^ both halves
    /// of the /64`, words in host byte order.
    pub check: u32,
}

/// Bytes of [`Meta`] in front of a steered packet.
pub const META_LEN: usize = c::META_SIZE;

impl Meta {
    /// The check word for an IPv4 destination (header bytes).
    #[inline(always)]
    pub const fn check_v4(dst: [u8; 4]) -> u32 {
        c::META_MAGIC_V4 ^ u32::from_ne_bytes(dst)
    }

    /// The check word for an IPv6 destination (its first 8 bytes count).
    #[inline(always)]
    pub const fn check_v6(dst: &[u8; 16]) -> u32 {
        let [a, b, c0, d, e, f, g, h, ..] = *dst;
        c::META_MAGIC_V6 ^ u32::from_ne_bytes([a, b, c0, d]) ^ u32::from_ne_bytes([e, f, g, h])
    }

    /// The metadata `core_steer` writes for a packet to IPv4 `dst`.
    pub const fn v4(slot: u32, dst: [u8; 4]) -> Meta {
        Meta {
            slot,
            check: Meta::check_v4(dst),
        }
    }

    /// The metadata `core_steer` writes for a packet to IPv6 `dst`.
    pub const fn v6(slot: u32, dst: &[u8; 16]) -> Meta {
        Meta {
            slot,
            check: Meta::check_v6(dst),
        }
    }

    /// The struct as it lies in memory.
    pub fn to_bytes(self) -> [u8; META_LEN] {
        let mut b = [0; META_LEN];
        b[c::META_OFF_SLOT..c::META_OFF_SLOT + 4].copy_from_slice(&self.slot.to_ne_bytes());
        b[c::META_OFF_CHECK..c::META_OFF_CHECK + 4].copy_from_slice(&self.check.to_ne_bytes());
        b
    }

    /// The [`META_LEN`] bytes in front of `offset` in `buf`, if there are
    /// that many (whatever they hold: compare `check` before trusting).
    #[inline(always)]
    pub fn before(buf: &[u8], offset: usize) -> Option<Meta> {
        let b: &[u8; META_LEN] = buf
            .get(offset.checked_sub(META_LEN)?..offset)?
            .try_into()
            .ok()?;
        let w = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(Meta {
            slot: w(c::META_OFF_SLOT),
            check: w(c::META_OFF_CHECK),
        })
    }

    /// The slot hint for a packet to IPv4 `dst` starting at `offset`.
    #[inline(always)]
    pub fn hint_v4(buf: &[u8], offset: usize, dst: [u8; 4]) -> Option<u32> {
        Meta::before(buf, offset)
            .filter(|m| m.check == Meta::check_v4(dst))
            .map(|m| m.slot)
    }

    /// The slot hint for a packet to IPv6 `dst` starting at `offset`.
    #[inline(always)]
    pub fn hint_v6(buf: &[u8], offset: usize, dst: &[u8; 16]) -> Option<u32> {
        Meta::before(buf, offset)
            .filter(|m| m.check == Meta::check_v6(dst))
            .map(|m| m.slot)
    }
}

/// The `subs_v4` key: the address as it sits in the header (a `__be32`).
fn v4_key(addr: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

macro_rules! counters {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal => $cname:literal, )+) => {
        /// `enum l2tpx_counter`: one per-CPU counter per verdict and reason
        /// (the table in `ebpf/l2tpx_xdp.c` says which packets each counts).
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Counter {
            $( $(#[$doc])* $variant = $value, )+
        }

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: [Counter; [$($value),+].len()] = [$(Counter::$variant),+];
            /// Number of counters (`L2TPX_CNT_MAX`).
            pub const COUNT: usize = Counter::ALL.len();

            /// The C name, without the `L2TPX_CNT_` prefix.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Counter::$variant => $cname, )+
                }
            }
        }
    };
}

counters! {
    /// Access: PPP IPv4 data sent to the queue's XSK.
    L2tpRedirectV4 = 0 => "L2TP_REDIRECT_V4",
    /// Access: PPP IPv6 data sent to the queue's XSK.
    L2tpRedirectV6 = 1 => "L2TP_REDIRECT_V6",
    /// Access: would redirect, but the queue has no XSK.
    L2tpPassNoXsk = 2 => "L2TP_PASS_NO_XSK",
    /// Access: EtherType not IPv4 (ARP, IPv6, ...).
    L2tpPassNotIpv4 = 3 => "L2TP_PASS_NOT_IPV4",
    /// Access: outer IPv4 fragment.
    L2tpPassFragment = 4 => "L2TP_PASS_FRAGMENT",
    /// Access: IPv4 but not UDP.
    L2tpPassNotUdp = 5 => "L2TP_PASS_NOT_UDP",
    /// Access: UDP to another port than the configured one.
    L2tpPassNotL2tpPort = 6 => "L2TP_PASS_NOT_L2TP_PORT",
    /// Access: L2TP Ver is not 2.
    L2tpPassBadVersion = 7 => "L2TP_PASS_BAD_VERSION",
    /// Access: L2TP control message.
    L2tpPassControl = 8 => "L2TP_PASS_CONTROL",
    /// Access: Offset Size above [`MAX_OFFSET_PAD`].
    L2tpPassOffsetLimit = 9 => "L2TP_PASS_OFFSET_LIMIT",
    /// Access: PPP protocol >= 0x8000 (LCP, PAP, CHAP, IPCP, IPv6CP, ...).
    L2tpPassPppControl = 10 => "L2TP_PASS_PPP_CONTROL",
    /// Access: another PPP network protocol (VJ, MP, ...).
    L2tpPassPppOther = 11 => "L2TP_PASS_PPP_OTHER",
    /// Access: a header or a length field reaches past the frame.
    L2tpPassTruncated = 12 => "L2TP_PASS_TRUNCATED",
    /// Access: an impossible field (IPv4 version/IHL, UDP or L2TP Length, PPP header).
    L2tpPassMalformed = 13 => "L2TP_PASS_MALFORMED",
    /// Core: IPv4 subscriber destination sent to the queue's XSK.
    CoreRedirectV4 = 14 => "CORE_REDIRECT_V4",
    /// Core: IPv6 subscriber /64 sent to the queue's XSK.
    CoreRedirectV6 = 15 => "CORE_REDIRECT_V6",
    /// Core: would redirect, but the queue has no XSK.
    CorePassNoXsk = 16 => "CORE_PASS_NO_XSK",
    /// Core: neither IPv4 nor IPv6.
    CorePassNotIp = 17 => "CORE_PASS_NOT_IP",
    /// Core: IPv4 destination not a subscriber.
    CorePassV4Miss = 18 => "CORE_PASS_V4_MISS",
    /// Core: IPv6 destination /64 not a subscriber.
    CorePassV6Miss = 19 => "CORE_PASS_V6_MISS",
    /// Core: a header or a length field reaches past the frame.
    CorePassTruncated = 20 => "CORE_PASS_TRUNCATED",
    /// Core: IP version or IHL wrong.
    CorePassMalformed = 21 => "CORE_PASS_MALFORMED",
}

impl Counter {
    /// The side whose program bumps this counter.
    pub const fn side(self) -> Side {
        match self {
            Counter::CoreRedirectV4
            | Counter::CoreRedirectV6
            | Counter::CorePassNoXsk
            | Counter::CorePassNotIp
            | Counter::CorePassV4Miss
            | Counter::CorePassV6Miss
            | Counter::CorePassTruncated
            | Counter::CorePassMalformed => Side::Core,
            _ => Side::Access,
        }
    }

    /// The action the program returns with this counter (given a socket in
    /// the XSKMAP for the redirect counters, and the default
    /// `L2TPX_BAD_ACTION`).
    pub const fn action(self) -> XdpAction {
        match self {
            Counter::L2tpRedirectV4
            | Counter::L2tpRedirectV6
            | Counter::CoreRedirectV4
            | Counter::CoreRedirectV6 => XdpAction::Redirect,
            _ => XdpAction::Pass,
        }
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// --- The layout check: the mirror against what the C compiler says. ---

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Config>() == c::CONFIG_SIZE, "Config size");
    assert!(align_of::<Config>() == c::CONFIG_ALIGN, "Config alignment");
    assert!(offset_of!(Config, l2tp_port) == c::CONFIG_OFF_L2TP_PORT);
    assert!(offset_of!(Config, flags) == c::CONFIG_OFF_FLAGS);
    assert!(offset_of!(Config, reserved) == c::CONFIG_OFF_RESERVED);
    assert!(size_of::<V6Key>() == c::V6_KEY_SIZE, "V6Key size");
    assert!(align_of::<V6Key>() == c::V6_KEY_ALIGN, "V6Key alignment");
    assert!(offset_of!(V6Key, prefix) == c::V6_KEY_OFF_PREFIX);
    assert!(size_of::<Meta>() == c::META_SIZE, "Meta size");
    assert!(align_of::<Meta>() == c::META_ALIGN, "Meta alignment");
    assert!(offset_of!(Meta, slot) == c::META_OFF_SLOT);
    assert!(offset_of!(Meta, check) == c::META_OFF_CHECK);
    assert!(size_of::<u32>() == c::V4_KEY_SIZE, "subs_v4 key");
    assert!(size_of::<u32>() == c::SLOT_SIZE, "subscriber value");
    assert!(size_of::<u64>() == c::COUNTER_VALUE_SIZE, "counter value");
    assert!(
        Counter::COUNT == c::CNT_MAX as usize,
        "Counter has a different number of variants than enum l2tpx_counter"
    );
    assert!(c::COUNTERS.len() == Counter::COUNT);
    let mut i = 0;
    while i < Counter::COUNT {
        assert!(
            c::COUNTERS[i].1 == i as u32,
            "C counter indices must be dense"
        );
        assert!(
            Counter::ALL[i] as u32 == c::COUNTERS[i].1,
            "Counter value differs from the C enum"
        );
        assert!(
            str_eq(Counter::ALL[i].name(), c::COUNTERS[i].0),
            "Counter name differs from the C enum"
        );
        i += 1;
    }
};

// ---------------------------------------------------------------------------
// The loader.

/// Which interface, and so which program and XSKMAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The access interface (LACs): `l2tp_steer`, XSKMAP `xsks_access`.
    Access,
    /// The core interface: `core_steer`, XSKMAP `xsks_core`.
    Core,
}

impl Side {
    /// The XDP program serving this side.
    pub const fn program_name(self) -> &'static str {
        match self {
            Side::Access => c::PROG_L2TP_STEER,
            Side::Core => c::PROG_CORE_STEER,
        }
    }

    /// The XSKMAP of this side.
    pub const fn xsk_map_name(self) -> &'static str {
        match self {
            Side::Access => c::MAP_XSKS_ACCESS,
            Side::Core => c::MAP_XSKS_CORE,
        }
    }

    const fn index(self) -> usize {
        match self {
            Side::Access => 0,
            Side::Core => 1,
        }
    }
}

/// The return value of an XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpAction {
    /// `XDP_ABORTED` (0).
    Aborted,
    /// `XDP_DROP` (1).
    Drop,
    /// `XDP_PASS` (2).
    Pass,
    /// `XDP_TX` (3).
    Tx,
    /// `XDP_REDIRECT` (4).
    Redirect,
    /// Anything else.
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(v: u32) -> XdpAction {
        match v {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            other => XdpAction::Other(other),
        }
    }
}

/// How a program ended up attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// Native XDP, in the driver.
    Driver,
    /// Generic (SKB) XDP: the driver has no XDP support. Slower, and AF_XDP
    /// works in copy mode only.
    Generic,
}

/// Capacities chosen at load time; `None` keeps the object's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Entries of each XSKMAP (default [`MAX_QUEUES`]).
    pub max_queues: Option<u32>,
    /// Entries of `subs_v4` (default [`MAX_SUBS_V4`]).
    pub max_subs_v4: Option<u32>,
    /// Entries of `subs_v6` (default [`MAX_SUBS_V6`]).
    pub max_subs_v6: Option<u32>,
}

/// The counters, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    values: [u64; Counter::COUNT],
}

impl Counters {
    /// One counter.
    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize]
    }

    /// Every counter with its value, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c, self.values[c as usize]))
    }

    /// Packets seen by one side's program (each bumps exactly one counter).
    pub fn total(&self, side: Side) -> u64 {
        self.iter()
            .filter(|(c, _)| c.side() == side)
            .map(|(_, v)| v)
            .sum()
    }

    /// The counters that grew from `earlier` to `self`, with the increase.
    pub fn delta(&self, earlier: &Counters) -> Vec<(Counter, u64)> {
        self.iter()
            .filter_map(|(c, v)| {
                let d = v.wrapping_sub(earlier.get(c));
                (d != 0).then_some((c, d))
            })
            .collect()
    }
}

/// What went wrong in the loader.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parsing or loading the object (map creation included).
    #[error("loading the XDP object: {0}")]
    Load(#[from] EbpfError),
    /// A program operation (verifier, attach, test run).
    #[error("XDP program `{name}`: {source}")]
    Program {
        /// The program.
        name: &'static str,
        /// What aya said.
        #[source]
        source: ProgramError,
    },
    /// A map operation.
    #[error("BPF map `{name}`: {source}")]
    Map {
        /// The map.
        name: &'static str,
        /// What aya said.
        #[source]
        source: MapError,
    },
    /// The object lacks a program or map the ABI header names.
    #[error("`{0}` is missing from the XDP object")]
    Missing(&'static str),
    /// [`Steering::attach`] on a side that is already attached.
    #[error("the {0:?} program is already attached; detach it first")]
    AlreadyAttached(Side),
}

impl Error {
    /// The OS error number at the root of this error, if there is one
    /// (EPERM when not privileged, ENOENT for an unknown key, ...).
    pub fn os_error(&self) -> Option<i32> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if let Some(n) = io.raw_os_error() {
                    return Some(n);
                }
            }
            cur = e.source();
        }
        None
    }
}

fn map_err(name: &'static str) -> impl FnOnce(MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn prog_err(name: &'static str) -> impl FnOnce(ProgramError) -> Error {
    move |source| Error::Program { name, source }
}

/// The loaded XDP object: both programs, loaded into the kernel, and typed
/// handles on its maps. Dropping it detaches the programs and frees
/// everything (maps included, unless something else holds them).
///
/// One `Steering` serves one access and one core interface: the XSKMAPs are
/// indexed by RX queue only. Load one per interface pair.
pub struct Steering {
    ebpf: Ebpf,
    config: Array<MapData, Config>,
    counters: PerCpuArray<MapData, u64>,
    xsks: [XskMap<MapData>; 2],
    subs_v4: HashMap<MapData, u32, u32>,
    subs_v6: HashMap<MapData, V6Key, u32>,
    links: [Option<(aya::programs::xdp::XdpLinkId, String)>; 2],
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steering")
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl Steering {
    /// Loads the embedded object with default capacities and the default
    /// config (L2TP on UDP 1701).
    pub fn load() -> Result<Steering, Error> {
        Steering::load_with(&LoadOptions::default())
    }

    /// Loads the embedded object, both programs (through the verifier) and
    /// every map, then writes the default config.
    pub fn load_with(opts: &LoadOptions) -> Result<Steering, Error> {
        let mut loader = EbpfLoader::new();
        if let Some(n) = opts.max_queues {
            loader.map_max_entries(c::MAP_XSKS_ACCESS, n);
            loader.map_max_entries(c::MAP_XSKS_CORE, n);
        }
        if let Some(n) = opts.max_subs_v4 {
            loader.map_max_entries(c::MAP_SUBS_V4, n);
        }
        if let Some(n) = opts.max_subs_v6 {
            loader.map_max_entries(c::MAP_SUBS_V6, n);
        }
        let mut ebpf = loader.load(OBJECT)?;

        for side in [Side::Access, Side::Core] {
            let name = side.program_name();
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(prog_err(name))?;
            prog.load().map_err(prog_err(name))?;
        }

        fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, Error> {
            ebpf.take_map(name).ok_or(Error::Missing(name))
        }
        let config =
            Array::try_from(take(&mut ebpf, c::MAP_CONFIG)?).map_err(map_err(c::MAP_CONFIG))?;
        let counters = PerCpuArray::try_from(take(&mut ebpf, c::MAP_COUNTERS)?)
            .map_err(map_err(c::MAP_COUNTERS))?;
        let xsks_access = XskMap::try_from(take(&mut ebpf, c::MAP_XSKS_ACCESS)?)
            .map_err(map_err(c::MAP_XSKS_ACCESS))?;
        let xsks_core = XskMap::try_from(take(&mut ebpf, c::MAP_XSKS_CORE)?)
            .map_err(map_err(c::MAP_XSKS_CORE))?;
        let subs_v4 =
            HashMap::try_from(take(&mut ebpf, c::MAP_SUBS_V4)?).map_err(map_err(c::MAP_SUBS_V4))?;
        let subs_v6 =
            HashMap::try_from(take(&mut ebpf, c::MAP_SUBS_V6)?).map_err(map_err(c::MAP_SUBS_V6))?;

        let mut steering = Steering {
            ebpf,
            config,
            counters,
            xsks: [xsks_access, xsks_core],
            subs_v4,
            subs_v6,
            links: [None, None],
        };
        steering.set_config(Config::with_l2tp_port(DEFAULT_L2TP_PORT))?;
        Ok(steering)
    }

    /// The config in force.
    pub fn config(&self) -> Result<Config, Error> {
        self.config.get(&0, 0).map_err(map_err(c::MAP_CONFIG))
    }

    /// Replaces the config; the programs see it on their next packet.
    pub fn set_config(&mut self, config: Config) -> Result<(), Error> {
        self.config
            .set(0, config, 0)
            .map_err(map_err(c::MAP_CONFIG))
    }

    /// Attaches `side`'s program to `interface` in driver (native) mode, or,
    /// if the driver cannot, in generic (SKB) mode after one warning.
    pub fn attach(&mut self, side: Side, interface: &str) -> Result<AttachMode, Error> {
        if self.links[side.index()].is_some() {
            return Err(Error::AlreadyAttached(side));
        }
        let name = side.program_name();
        let prog = self.xdp_mut(side)?;
        let (link, mode) = match prog.attach(interface, XdpMode::Driver) {
            Ok(link) => (link, AttachMode::Driver),
            Err(e @ ProgramError::UnknownInterface { .. }) => return Err(prog_err(name)(e)),
            Err(e) => {
                tracing::warn!(
                    program = name,
                    interface,
                    error = %e,
                    "XDP driver mode unavailable, falling back to generic (SKB) mode: slower, AF_XDP copy mode only"
                );
                let link = prog
                    .attach(interface, XdpMode::Skb)
                    .map_err(prog_err(name))?;
                (link, AttachMode::Generic)
            }
        };
        self.links[side.index()] = Some((link, interface.to_string()));
        Ok(mode)
    }

    /// The interface `side`'s program is attached to, if any.
    pub fn attached(&self, side: Side) -> Option<&str> {
        self.links[side.index()].as_ref().map(|(_, i)| i.as_str())
    }

    /// Detaches `side`'s program; Ok(false) if it was not attached.
    pub fn detach(&mut self, side: Side) -> Result<bool, Error> {
        let Some((link, _)) = self.links[side.index()].take() else {
            return Ok(false);
        };
        let name = side.program_name();
        self.xdp_mut(side)?.detach(link).map_err(prog_err(name))?;
        Ok(true)
    }

    /// Puts the AF_XDP socket serving RX queue `queue` of `side`'s
    /// interface into the XSKMAP. The socket must be bound to that queue of
    /// that interface, or the kernel drops what is redirected to it.
    pub fn set_xsk(&mut self, side: Side, queue: u32, socket: impl AsFd) -> Result<(), Error> {
        self.xsks[side.index()]
            .set(queue, socket.as_fd().as_raw_fd(), 0)
            .map_err(map_err(side.xsk_map_name()))
    }

    /// Empties the XSKMAP entry of `queue`: its packets then pass to the
    /// kernel (counter `*_PASS_NO_XSK`). Closing the socket does the same.
    pub fn clear_xsk(&mut self, side: Side, queue: u32) -> Result<(), Error> {
        match self.xsks[side.index()].unset(queue) {
            Ok(()) => Ok(()),
            Err(e) if is_enoent(&e) => Ok(()),
            Err(e) => Err(map_err(side.xsk_map_name())(e)),
        }
    }

    /// Steers `addr` to the core-side XSK, recording its session `slot`.
    /// Replaces any previous slot.
    pub fn insert_subscriber_v4(&mut self, addr: Ipv4Addr, slot: u32) -> Result<(), Error> {
        self.subs_v4
            .insert(v4_key(addr), slot, 0)
            .map_err(map_err(c::MAP_SUBS_V4))
    }

    /// Stops steering `addr`; Ok(false) if it was not there.
    pub fn remove_subscriber_v4(&mut self, addr: Ipv4Addr) -> Result<bool, Error> {
        match self.subs_v4.remove(&v4_key(addr)) {
            Ok(()) => Ok(true),
            Err(e) if is_enoent(&e) => Ok(false),
            Err(e) => Err(map_err(c::MAP_SUBS_V4)(e)),
        }
    }

    /// The slot recorded for `addr`, if it is steered.
    pub fn subscriber_v4(&self, addr: Ipv4Addr) -> Result<Option<u32>, Error> {
        match self.subs_v4.get(&v4_key(addr), 0) {
            Ok(slot) => Ok(Some(slot)),
            Err(e) if is_enoent(&e) => Ok(None),
            Err(e) => Err(map_err(c::MAP_SUBS_V4)(e)),
        }
    }

    /// Steers the /64 of `prefix` (its last 64 bits are ignored) to the
    /// core-side XSK, recording its session `slot`.
    pub fn insert_subscriber_v6(&mut self, prefix: Ipv6Addr, slot: u32) -> Result<(), Error> {
        self.subs_v6
            .insert(V6Key::from(prefix), slot, 0)
            .map_err(map_err(c::MAP_SUBS_V6))
    }

    /// Stops steering the /64 of `prefix`; Ok(false) if it was not there.
    pub fn remove_subscriber_v6(&mut self, prefix: Ipv6Addr) -> Result<bool, Error> {
        match self.subs_v6.remove(&V6Key::from(prefix)) {
            Ok(()) => Ok(true),
            Err(e) if is_enoent(&e) => Ok(false),
            Err(e) => Err(map_err(c::MAP_SUBS_V6)(e)),
        }
    }

    /// The slot recorded for the /64 of `prefix`, if it is steered.
    pub fn subscriber_v6(&self, prefix: Ipv6Addr) -> Result<Option<u32>, Error> {
        match self.subs_v6.get(&V6Key::from(prefix), 0) {
            Ok(slot) => Ok(Some(slot)),
            Err(e) if is_enoent(&e) => Ok(None),
            Err(e) => Err(map_err(c::MAP_SUBS_V6)(e)),
        }
    }

    /// Reads every counter, summed over the possible CPUs.
    pub fn counters(&self) -> Result<Counters, Error> {
        let mut values = [0u64; Counter::COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .get(&(i as u32), 0)
                .map_err(map_err(c::MAP_COUNTERS))?;
            *v = per_cpu.iter().copied().fold(0u64, u64::wrapping_add);
        }
        Ok(Counters { values })
    }

    /// Runs `side`'s program once on `frame` with `BPF_PROG_TEST_RUN`
    /// (RX queue 0, no interface) and returns its action. The counters
    /// count it like any packet.
    pub fn test_run(&self, side: Side, frame: &[u8]) -> Result<XdpAction, Error> {
        let name = side.program_name();
        let prog = self.xdp(side)?;
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat: 1,
            ..TestRunOptions::default()
        };
        let result = prog.test_run(opts).map_err(prog_err(name))?;
        Ok(XdpAction::from(result.return_value))
    }

    /// [`Steering::test_run`] that also returns the frame as the program
    /// left it, its XDP metadata in front: the output is longer than
    /// `frame` by the metadata's length.
    pub fn test_run_output(&self, side: Side, frame: &[u8]) -> Result<(XdpAction, Vec<u8>), Error> {
        let name = side.program_name();
        let prog = self.xdp(side)?;
        // The kernel returns metadata and packet together.
        let mut out = vec![0u8; frame.len() + 64];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: 1,
            ..TestRunOptions::default()
        };
        let result = prog.test_run(opts).map_err(prog_err(name))?;
        out.truncate(result.data_size_out as usize);
        Ok((XdpAction::from(result.return_value), out))
    }

    fn xdp(&self, side: Side) -> Result<&Xdp, Error> {
        let name = side.program_name();
        self.ebpf
            .program(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(prog_err(name))
    }

    fn xdp_mut(&mut self, side: Side) -> Result<&mut Xdp, Error> {
        let name = side.program_name();
        self.ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(prog_err(name))
    }
}

fn is_enoent(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound | MapError::ElementNotFound => true,
        MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(2),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_header() {
        assert_eq!(Side::Access.program_name(), "l2tp_steer");
        assert_eq!(Side::Core.program_name(), "core_steer");
        assert_eq!(DEFAULT_L2TP_PORT, 1701);
        for c in Counter::ALL {
            assert_eq!(Counter::ALL[c as usize], c);
        }
    }

    #[test]
    fn every_counter_names_its_side_and_action() {
        for c in Counter::ALL {
            let prefix = match c.side() {
                Side::Access => "L2TP_",
                Side::Core => "CORE_",
            };
            assert!(c.name().starts_with(prefix), "{c}");
            assert_eq!(
                c.action() == XdpAction::Redirect,
                c.name().contains("_REDIRECT_"),
                "{c}"
            );
        }
    }

    #[test]
    fn v6_key_keeps_the_64() {
        let k = V6Key::from(
            "2001:db8:1:2:aaaa:bbbb:cccc:dddd"
                .parse::<Ipv6Addr>()
                .unwrap(),
        );
        assert_eq!(k.prefix, [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
        assert_eq!(
            v4_key(Ipv4Addr::new(198, 18, 0, 1)).to_ne_bytes(),
            [198, 18, 0, 1]
        );
    }

    #[test]
    fn object_is_an_elf_for_bpf() {
        let o = object();
        assert_eq!(&o[..4], b"\x7fELF");
        // e_machine EM_BPF (247), little endian.
        assert_eq!(u16::from_le_bytes([o[18], o[19]]), 247);
        assert_eq!(o.as_ptr() as usize % 8, 0, "aligned for aya");
    }
}
