//! The control-state journal: append-only records of tunnels and sessions
//! coming up and going down, enough to resume them after a restart.
//!
//! File: a 16-byte header (`L2TPXJNL`, format version `u32`, reserved),
//! then frames `[length u32][crc32 u32][payload]` (little-endian; CRC-32
//! IEEE of the payload). The first payload byte is the record kind. A frame
//! that runs past the end of the file or fails its checksum ends the
//! replay: a crash mid-write leaves at most a torn tail, which is counted
//! and dropped (never a panic).
//!
//! Writes: [`Journal::append`] encodes into a buffer; [`Journal::flush`]
//! writes it with one `write(2)` per poll-loop iteration, without fsync. A
//! killed process loses nothing the kernel has accepted; a host crash
//! loses the journal's tail, but it also loses the table (tmpfs), so the
//! two stay consistent. The journal is rewritten from the live set when it
//! holds more than twice the live records (plus [`COMPACT_SLACK`]), and at
//! startup.

use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::l2tp::ids::{IdMap, SessionKeyMap};
use crate::l2tp::SessionKey;

/// The file's magic.
pub const MAGIC: [u8; 8] = *b"L2TPXJNL";
/// The record format's version.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
/// Largest payload accepted when reading (a longer length is corruption).
const MAX_PAYLOAD: usize = 64 * 1024;
/// Dead records tolerated beyond the live ones before a compaction.
pub const COMPACT_SLACK: u64 = 1024;

const KIND_TUNNEL_UP: u8 = 1;
const KIND_TUNNEL_DOWN: u8 = 2;
const KIND_SESSION_UP: u8 = 3;
const KIND_SESSION_DOWN: u8 = 4;

/// An established tunnel, as needed to resume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRecord {
    /// Our tunnel ID.
    pub tunnel_id: u16,
    /// The peer's tunnel ID.
    pub peer_tunnel_id: u16,
    /// The peer's address and port.
    pub peer: SocketAddr,
    /// The peer's Receive Window Size.
    pub peer_rws: u16,
    /// The peer's Host Name.
    pub host_name: Vec<u8>,
}

/// A session at IP up, as needed to resume it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionRecord {
    /// Our tunnel ID.
    pub tunnel_id: u16,
    /// Our session ID.
    pub session_id: u16,
    /// The peer's session ID.
    pub peer_session_id: u16,
    /// Its table slot.
    pub slot: u32,
    /// The table entry's cookie.
    pub cookie: u64,
    /// Call Serial Number.
    pub call_serial: u32,
    /// The LAC asked for sequenced data messages.
    pub sequencing: bool,
    /// The authenticated user.
    pub user: String,
    /// The subscriber's IPv4 address.
    pub address: Option<Ipv4Addr>,
    /// The pool the address came from.
    pub pool: Option<String>,
    /// Our LCP Magic-Number.
    pub our_magic: u32,
    /// Our MRU.
    pub our_mru: u16,
    /// The peer's LCP Magic-Number.
    pub peer_magic: u32,
    /// The peer's MRU.
    pub peer_mru: u16,
    /// Authentication: 0 none, 1 PAP, 2 CHAP-MD5.
    pub auth: u8,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// When accounting started (Unix seconds).
    pub acct_start_unix: u64,
    /// RADIUS Class attributes.
    pub class: Vec<Vec<u8>>,
    /// Session-Timeout (s).
    pub session_timeout: Option<u32>,
    /// Idle-Timeout (s).
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval (s).
    pub interim: Option<u32>,
    /// Calling Number.
    pub calling: Option<Vec<u8>>,
    /// Called Number.
    pub called: Option<Vec<u8>>,
}

impl SessionRecord {
    /// The session's key, from our two IDs.
    pub fn key(&self) -> SessionKey {
        SessionKey {
            tunnel_id: self.tunnel_id,
            session_id: self.session_id,
        }
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A tunnel is established.
    TunnelUp(TunnelRecord),
    /// A tunnel (and every session in it) is gone.
    TunnelDown {
        /// Our tunnel ID.
        tunnel_id: u16,
    },
    /// A session reached IP up (or changed).
    SessionUp(Box<SessionRecord>),
    /// A session is gone.
    SessionDown {
        /// Our tunnel ID.
        tunnel_id: u16,
        /// Our session ID.
        session_id: u16,
    },
}

/// What a journal file says is alive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Tunnels, by our tunnel ID order.
    pub tunnels: Vec<TunnelRecord>,
    /// Sessions, by (tunnel, session) order.
    pub sessions: Vec<SessionRecord>,
}

/// How a replay went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Records read.
    pub records: u64,
    /// Bytes dropped at the end (torn or corrupt tail, or the whole file
    /// when its header is not ours).
    pub dropped_bytes: u64,
    /// Frames whose checksum failed (replay stops at the first).
    pub corrupt: u64,
    /// Well-formed frames of an unknown kind or shape (skipped).
    pub unknown: u64,
    /// The header was missing, foreign or of another version.
    pub bad_header: bool,
}

/// Journal counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JournalStats {
    /// Records appended since start.
    pub appended: u64,
    /// `write(2)` calls.
    pub writes: u64,
    /// Compactions.
    pub compactions: u64,
    /// Write errors (the journal is then behind; logged by the driver).
    pub write_errors: u64,
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3).
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

// ----------------------------------------------------------------------
// Encoding.

struct Enc<'a>(&'a mut Vec<u8>);

impl Enc<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        let n = v.len().min(usize::from(u16::MAX));
        self.u16(n as u16);
        self.0.extend_from_slice(&v[..n]);
    }
    fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
            None => self.u8(0),
        }
    }
    fn list(&mut self, v: &[Vec<u8>]) {
        let n = v.len().min(255);
        self.u8(n as u8);
        for b in &v[..n] {
            self.bytes(b);
        }
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(x) => {
                self.u8(1);
                self.u32(x);
            }
            None => self.u8(0),
        }
    }
    fn addr(&mut self, a: SocketAddr) {
        match a.ip() {
            IpAddr::V4(v) => {
                self.u8(4);
                self.0.extend_from_slice(&v.octets());
            }
            IpAddr::V6(v) => {
                self.u8(6);
                self.0.extend_from_slice(&v.octets());
            }
        }
        self.u16(a.port());
    }
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u16()?;
        Some(self.take(usize::from(n))?.to_vec())
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn opt_bytes(&mut self) -> Option<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.bytes()?)),
            _ => None,
        }
    }
    fn list(&mut self) -> Option<Vec<Vec<u8>>> {
        (0..self.u8()?).map(|_| self.bytes()).collect()
    }
    fn opt_u32(&mut self) -> Option<Option<u32>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u32()?)),
            _ => None,
        }
    }
    fn addr(&mut self) -> Option<SocketAddr> {
        let ip: IpAddr = match self.u8()? {
            4 => Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)?).ok()?).into(),
            6 => Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)?).ok()?).into(),
            _ => return None,
        };
        Some(SocketAddr::new(ip, self.u16()?))
    }
}

impl Record {
    /// The record as a frame (length, checksum, payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(128);
        let mut e = Enc(&mut p);
        match self {
            Record::TunnelUp(t) => {
                e.u8(KIND_TUNNEL_UP);
                e.u16(t.tunnel_id);
                e.u16(t.peer_tunnel_id);
                e.addr(t.peer);
                e.u16(t.peer_rws);
                e.bytes(&t.host_name);
            }
            Record::TunnelDown { tunnel_id } => {
                e.u8(KIND_TUNNEL_DOWN);
                e.u16(*tunnel_id);
            }
            Record::SessionUp(s) => {
                e.u8(KIND_SESSION_UP);
                e.u16(s.tunnel_id);
                e.u16(s.session_id);
                e.u16(s.peer_session_id);
                e.u32(s.slot);
                e.u64(s.cookie);
                e.u32(s.call_serial);
                e.u8(u8::from(s.sequencing));
                e.bytes(s.user.as_bytes());
                e.opt_u32(s.address.map(u32::from));
                e.opt_bytes(s.pool.as_deref().map(str::as_bytes));
                e.u32(s.our_magic);
                e.u16(s.our_mru);
                e.u32(s.peer_magic);
                e.u16(s.peer_mru);
                e.u8(s.auth);
                e.bytes(s.acct_session_id.as_bytes());
                e.u64(s.acct_start_unix);
                e.list(&s.class);
                e.opt_u32(s.session_timeout);
                e.opt_u32(s.idle_timeout);
                e.opt_u32(s.interim);
                e.opt_bytes(s.calling.as_deref());
                e.opt_bytes(s.called.as_deref());
            }
            Record::SessionDown {
                tunnel_id,
                session_id,
            } => {
                e.u8(KIND_SESSION_DOWN);
                e.u16(*tunnel_id);
                e.u16(*session_id);
            }
        }
        let mut f = Vec::with_capacity(8 + p.len());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&crc32(&p).to_le_bytes());
        f.extend_from_slice(&p);
        f
    }

    /// A payload back into a record (`None`: unknown kind or bad shape).
    pub fn decode(p: &[u8]) -> Option<Record> {
        let mut d = Dec(p);
        let r = match d.u8()? {
            KIND_TUNNEL_UP => Record::TunnelUp(TunnelRecord {
                tunnel_id: d.u16()?,
                peer_tunnel_id: d.u16()?,
                peer: d.addr()?,
                peer_rws: d.u16()?,
                host_name: d.bytes()?,
            }),
            KIND_TUNNEL_DOWN => Record::TunnelDown {
                tunnel_id: d.u16()?,
            },
            KIND_SESSION_UP => Record::SessionUp(Box::new(SessionRecord {
                tunnel_id: d.u16()?,
                session_id: d.u16()?,
                peer_session_id: d.u16()?,
                slot: d.u32()?,
                cookie: d.u64()?,
                call_serial: d.u32()?,
                sequencing: d.u8()? != 0,
                user: d.string()?,
                address: d.opt_u32()?.map(Ipv4Addr::from),
                pool: match d.opt_bytes()? {
                    Some(b) => Some(String::from_utf8(b).ok()?),
                    None => None,
                },
                our_magic: d.u32()?,
                our_mru: d.u16()?,
                peer_magic: d.u32()?,
                peer_mru: d.u16()?,
                auth: d.u8()?,
                acct_session_id: d.string()?,
                acct_start_unix: d.u64()?,
                class: d.list()?,
                session_timeout: d.opt_u32()?,
                idle_timeout: d.opt_u32()?,
                interim: d.opt_u32()?,
                calling: d.opt_bytes()?,
                called: d.opt_bytes()?,
            })),
            KIND_SESSION_DOWN => Record::SessionDown {
                tunnel_id: d.u16()?,
                session_id: d.u16()?,
            },
            _ => return None,
        };
        d.0.is_empty().then_some(r)
    }
}

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The live set, as encoded frames.
#[derive(Debug, Default)]
struct Live {
    tunnels: IdMap<Vec<u8>>,
    sessions: SessionKeyMap<Vec<u8>>,
}

impl Live {
    fn apply(&mut self, r: &Record, frame: Vec<u8>) {
        match r {
            Record::TunnelUp(t) => {
                self.tunnels.insert(t.tunnel_id, frame);
            }
            Record::TunnelDown { tunnel_id } => {
                self.tunnels.remove(tunnel_id);
                self.sessions.retain(|k, _| k.tunnel_id != *tunnel_id);
            }
            Record::SessionUp(s) => {
                self.sessions.insert(s.key(), frame);
            }
            Record::SessionDown {
                tunnel_id,
                session_id,
            } => {
                self.sessions.remove(&SessionKey {
                    tunnel_id: *tunnel_id,
                    session_id: *session_id,
                });
            }
        }
    }

    fn len(&self) -> u64 {
        (self.tunnels.len() + self.sessions.len()) as u64
    }
}

/// Reads the journal at `path` (absent: empty) and replays it.
pub fn load(path: &Path) -> io::Result<(Replayed, LoadReport)> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((Replayed::default(), LoadReport::default()))
        }
        Err(e) => return Err(e),
    };
    Ok(replay(&data))
}

/// Replays journal bytes (see the module docs for what is tolerated).
pub fn replay(data: &[u8]) -> (Replayed, LoadReport) {
    let mut rep = LoadReport::default();
    if data.len() < HEADER_LEN || data[..HEADER_LEN] != header() {
        rep.bad_header = !data.is_empty();
        rep.dropped_bytes = data.len() as u64;
        return (Replayed::default(), rep);
    }
    let mut live = Live::default();
    let mut at = HEADER_LEN;
    while at < data.len() {
        let rest = &data[at..];
        let torn = rest.len() < 8;
        let len = if torn {
            0
        } else {
            u32::from_le_bytes(rest[..4].try_into().unwrap_or_default()) as usize
        };
        if torn || len > MAX_PAYLOAD || rest.len() < 8 + len {
            rep.dropped_bytes = rest.len() as u64;
            break;
        }
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap_or_default());
        let payload = &rest[8..8 + len];
        if crc32(payload) != crc {
            rep.corrupt += 1;
            rep.dropped_bytes = rest.len() as u64;
            break;
        }
        match Record::decode(payload) {
            Some(r) => {
                rep.records += 1;
                live.apply(&r, rest[..8 + len].to_vec());
            }
            None => rep.unknown += 1,
        }
        at += 8 + len;
    }
    let decode = |f: &Vec<u8>| Record::decode(&f[8..]);
    let mut tunnels: Vec<TunnelRecord> = live
        .tunnels
        .values()
        .filter_map(|f| match decode(f) {
            Some(Record::TunnelUp(t)) => Some(t),
            _ => None,
        })
        .collect();
    tunnels.sort_by_key(|t| t.tunnel_id);
    let mut sessions: Vec<SessionRecord> = live
        .sessions
        .values()
        .filter_map(|f| match decode(f) {
            Some(Record::SessionUp(s)) => Some(*s),
            _ => None,
        })
        .collect();
    sessions.sort_by_key(|s| (s.tunnel_id, s.session_id));
    (Replayed { tunnels, sessions }, rep)
}

/// The journal being written.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    live: Live,
    /// Records in the file (and pending), live or dead.
    records: u64,
    stats: JournalStats,
}

impl Journal {
    /// Writes a compacted journal of `state` at `path` (through a temporary
    /// file renamed over it) and opens it for appending.
    pub fn create(path: &Path, state: &Replayed) -> io::Result<Journal> {
        let mut live = Live::default();
        for t in &state.tunnels {
            let r = Record::TunnelUp(t.clone());
            live.apply(&r, r.encode());
        }
        for s in &state.sessions {
            let r = Record::SessionUp(Box::new(s.clone()));
            live.apply(&r, r.encode());
        }
        let file = Self::write_compacted(path, &live)?;
        Ok(Journal {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
            records: live.len(),
            live,
            stats: JournalStats::default(),
        })
    }

    fn write_compacted(path: &Path, live: &Live) -> io::Result<File> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut buf = Vec::with_capacity(HEADER_LEN + 128 * live.len() as usize);
        buf.extend_from_slice(&header());
        let mut tids: Vec<_> = live.tunnels.keys().copied().collect();
        tids.sort_unstable();
        for t in tids {
            buf.extend_from_slice(&live.tunnels[&t]);
        }
        let mut sids: Vec<_> = live.sessions.keys().copied().collect();
        sids.sort_unstable();
        for s in sids {
            buf.extend_from_slice(&live.sessions[&s]);
        }
        std::fs::write(&tmp, &buf)?;
        std::fs::rename(&tmp, path)?;
        File::options().append(true).open(path)
    }

    /// Queues `r` (written by the next [`flush`](Self::flush)).
    pub fn append(&mut self, r: &Record) {
        let f = r.encode();
        self.pending.extend_from_slice(&f);
        self.live.apply(r, f);
        self.records += 1;
        self.stats.appended += 1;
    }

    /// Writes what was appended (one `write(2)`), then compacts if the
    /// file holds more than twice the live records plus [`COMPACT_SLACK`].
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.stats.writes += 1;
            let r = self.file.write_all(&self.pending);
            self.pending.clear();
            if let Err(e) = r {
                self.stats.write_errors += 1;
                return Err(e);
            }
        }
        if self.records > 2 * self.live.len() + COMPACT_SLACK {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file from the live set.
    pub fn compact(&mut self) -> io::Result<()> {
        self.file = Self::write_compacted(&self.path, &self.live)?;
        self.records = self.live.len();
        self.stats.compactions += 1;
        Ok(())
    }

    /// Live tunnels and sessions.
    pub fn live(&self) -> (usize, usize) {
        (self.live.tunnels.len(), self.live.sessions.len())
    }

    /// Records in the file, live or dead.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Counters.
    pub fn stats(&self) -> JournalStats {
        self.stats
    }
}
