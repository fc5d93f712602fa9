//! Traffic: the payload every test packet carries, packet builders for
//! both directions, per-direction receivers and the core-side host.
//!
//! Payload (UDP, 16 bytes, big-endian, then zero padding): stream (the
//! session index, u32), sequence number within the stream (u32), send time
//! in nanoseconds since the process's [`clock::epoch`] (u64). Sender and
//! receiver are in one process, so one monotonic clock times both ends.
//!
//! Sizes are Ethernet frame sizes on the core side, FCS included (the
//! RFC 2544 convention): the subscriber's IPv4 packet is `size - 18`
//! bytes, capped at [`MAX_IP_LEN`] (the PPP MRU the client asks for).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::clock;
use l2tpx_netio::{RecvBatch, SendBatch};

/// Payload bytes that carry data (the rest is padding).
pub const PAYLOAD_LEN: usize = 16;
/// Largest subscriber IPv4 packet (the client's MRU, 1400).
pub const MAX_IP_LEN: usize = 1400;
/// Smallest (IPv4 + UDP + payload).
pub const MIN_IP_LEN: usize = 20 + 8 + PAYLOAD_LEN;
/// UDP port upstream packets go to on the core host.
pub const UP_PORT: u16 = 9000;
/// UDP port downstream packets go to on the subscriber.
pub const DOWN_PORT: u16 = 9001;
/// Batch size for sendmmsg / recvmmsg.
pub const BATCH: usize = 64;
/// Largest datagram a sendmmsg / recvmmsg slot holds.
pub const SLOT: usize = 2048;

/// Packet sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// One Ethernet frame size (64, 512, 1500, ...).
    Fixed(u16),
    /// Simple IMIX: 7 × 64, 4 × 576, 1 × 1500, repeating.
    Imix,
}

impl Size {
    /// The frame size of packet `seq`.
    pub fn frame(self, seq: u32) -> usize {
        match self {
            Size::Fixed(s) => usize::from(s),
            Size::Imix => match seq % 12 {
                0..=6 => 64,
                7..=10 => 576,
                _ => 1500,
            },
        }
    }

    /// The subscriber IPv4 packet length of packet `seq`.
    pub fn ip_len(self, seq: u32) -> usize {
        self.frame(seq)
            .saturating_sub(18)
            .clamp(MIN_IP_LEN, MAX_IP_LEN)
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("imix") {
            return Ok(Size::Imix);
        }
        s.parse::<u16>()
            .ok()
            .filter(|&n| n >= 64)
            .map(Size::Fixed)
            .ok_or_else(|| format!("bad size {s:?}: a frame size >= 64 or imix"))
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Fixed(s) => write!(f, "{s}"),
            Size::Imix => f.write_str("imix"),
        }
    }
}

/// What a traffic run does.
#[derive(Debug, Clone)]
pub struct TrafficParams {
    /// Upstream packets per second over all sessions (0: as fast as
    /// possible; `None`: no upstream).
    pub pps_up: Option<u64>,
    /// Downstream packets per second (0: max; `None`: none).
    pub pps_down: Option<u64>,
    /// How long to send.
    pub duration: Duration,
    /// At most this many packets per direction.
    pub max_packets: u64,
    /// Packet sizes.
    pub size: Size,
    /// The core-side host (upstream destination, downstream source).
    pub core_addr: Ipv4Addr,
    /// How long receivers wait for stragglers after the senders stop.
    pub drain: Duration,
    /// Payloads stamped before this ([`clock::nanos`]) belong to an
    /// earlier trial: receivers count them as stale, not received.
    pub since_ns: u64,
}

/// Writes the 16-byte payload.
pub fn write_payload(buf: &mut [u8], stream: u32, seq: u32, ts: u64) {
    buf[0..4].copy_from_slice(&stream.to_be_bytes());
    buf[4..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..16].copy_from_slice(&ts.to_be_bytes());
}

/// Reads it back: (stream, seq, ts).
pub fn read_payload(buf: &[u8]) -> Option<(u32, u32, u64)> {
    let b = buf.get(..PAYLOAD_LEN)?;
    Some((
        u32::from_be_bytes(b[0..4].try_into().ok()?),
        u32::from_be_bytes(b[4..8].try_into().ok()?),
        u64::from_be_bytes(b[8..16].try_into().ok()?),
    ))
}

/// Writes an IPv4/UDP packet of `ip_len` bytes into `buf` (payload and
/// zero padding included; UDP checksum 0). Returns `ip_len`.
pub fn write_ipv4_udp(
    buf: &mut [u8],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_len: usize,
    stream: u32,
    seq: u32,
    ts: u64,
) -> usize {
    let b = &mut buf[..ip_len];
    b.fill(0);
    write_ipv4_udp_headers(b, src, dst, ip_len, seq as u16);
    write_payload(&mut b[28..], stream, seq, ts);
    ip_len
}

/// Writes the 28 bytes of IPv4 (no options, TTL 64, Identification
/// `ident`, no fragmentation flags, a valid header checksum) and UDP
/// (checksum 0, RFC 768: none) headers of an `ip_len`-byte packet into
/// `h[..28]`.
pub fn write_ipv4_udp_headers(
    h: &mut [u8],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_len: usize,
    ident: u16,
) {
    let h = &mut h[..28];
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6..8].fill(0);
    h[8] = 64;
    h[9] = 17;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src.ip().octets());
    h[16..20].copy_from_slice(&dst.ip().octets());
    let csum = l2tpx_wire::checksum::data(&h[..20]);
    h[10..12].copy_from_slice(&(!csum).to_be_bytes());
    h[20..22].copy_from_slice(&src.port().to_be_bytes());
    h[22..24].copy_from_slice(&dst.port().to_be_bytes());
    h[24..26].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
    h[26..28].fill(0);
}

/// Writes the 12 bytes in front of an upstream test packet: the L2TP data
/// header (version 2, L=1, Length covering `ip_len` more bytes) to the
/// LNS's `tunnel` and `session`, and PPP `FF 03 00 21` (IPv4). Returns the
/// message length, header included.
pub fn write_l2tp_ppp_header(buf: &mut [u8], tunnel: u16, session: u16, ip_len: usize) -> usize {
    let total = 8 + 4 + ip_len;
    buf[0..2].copy_from_slice(&0x4002u16.to_be_bytes());
    buf[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    buf[4..6].copy_from_slice(&tunnel.to_be_bytes());
    buf[6..8].copy_from_slice(&session.to_be_bytes());
    buf[8..12].copy_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    total
}

/// The IPv4 packet inside an L2TP data message carrying PPP (protocol
/// 0x0021), or `None` for anything else.
pub fn l2tp_inner_ipv4(msg: &[u8]) -> Option<&[u8]> {
    let h = l2tpx_wire::l2tp::DataHeader::parse(msg).ok()?;
    let frame = msg.get(h.payload_offset..h.payload_end)?;
    match l2tpx_wire::ppp::protocol_and_offset(frame) {
        Ok((0x0021, off)) => frame.get(off..),
        _ => None,
    }
}

/// Parses an IPv4/UDP packet to `port`: its payload.
pub fn udp_payload(ip: &[u8], port: u16) -> Option<&[u8]> {
    if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = ip.get(ihl..)?;
    if udp.len() < 8 || u16::from_be_bytes([udp[2], udp[3]]) != port {
        return None;
    }
    Some(&udp[8..])
}

/// Paces a sender at `pps` (0: unpaced), bounded in packets.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    pps: u64,
    limit: u64,
    /// Packets sent so far.
    pub sent: u64,
}

impl Pacer {
    /// Starts pacing now.
    pub fn new(start: Instant, pps: u64, limit: u64) -> Self {
        Pacer {
            start,
            pps,
            limit,
            sent: 0,
        }
    }

    /// How many packets may go now.
    pub fn due(&self, now: Instant) -> u64 {
        let allowed = if self.pps == 0 {
            u64::MAX
        } else {
            (now.saturating_duration_since(self.start).as_secs_f64() * self.pps as f64) as u64 + 1
        };
        allowed.min(self.limit).saturating_sub(self.sent)
    }

    /// When the next packet is due (`None`: now, or never again).
    pub fn next_due(&self) -> Option<Instant> {
        if self.pps == 0 || self.sent >= self.limit {
            return None;
        }
        Some(self.start + Duration::from_secs_f64(self.sent as f64 / self.pps as f64))
    }

    /// Whether the packet bound is reached.
    pub fn done(&self) -> bool {
        self.sent >= self.limit
    }
}

/// A direction's sender counters.
#[derive(Debug, Clone, Default)]
pub struct TxStats {
    /// Packets the kernel took.
    pub sent: u64,
    /// Their frame bytes (see the module docs).
    pub bytes: u64,
    /// Packets the kernel refused (full buffers): not counted as lost.
    pub refused: u64,
    /// First and last send.
    pub first: Option<Instant>,
    /// Last send.
    pub last: Option<Instant>,
}

/// A direction's receiver: loss, reordering and latency per stream.
#[derive(Debug, Clone)]
pub struct RxStats {
    /// Packets received.
    pub received: u64,
    /// Their frame bytes.
    pub bytes: u64,
    /// Packets that arrived after a later one of their stream.
    pub reordered: u64,
    /// Packets with an unknown stream.
    pub unknown: u64,
    /// Packets stamped before `since_ns` (an earlier trial's stragglers).
    pub stale: u64,
    /// See [`TrafficParams::since_ns`].
    pub since_ns: u64,
    /// One-way latency in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// Per stream: the highest sequence number seen + 1.
    next: Vec<u32>,
    /// First and last receive.
    pub first: Option<Instant>,
    /// Last receive.
    pub last: Option<Instant>,
}

impl RxStats {
    /// A receiver for `streams` streams.
    pub fn new(streams: usize) -> Self {
        RxStats {
            received: 0,
            bytes: 0,
            reordered: 0,
            unknown: 0,
            stale: 0,
            since_ns: 0,
            latency_ns: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            next: vec![0; streams],
            first: None,
            last: None,
        }
    }

    /// Records one packet's payload received at `now` (`now_ns` on the
    /// payload clock); `frame` is its frame size.
    pub fn record(&mut self, payload: &[u8], frame: usize, now: Instant, now_ns: u64) {
        let Some((stream, seq, ts)) = read_payload(payload) else {
            self.unknown += 1;
            return;
        };
        if ts < self.since_ns {
            self.stale += 1;
            return;
        }
        let Some(next) = self.next.get_mut(stream as usize) else {
            self.unknown += 1;
            return;
        };
        if seq < *next {
            self.reordered += 1;
        } else {
            *next = seq + 1;
        }
        self.received += 1;
        self.bytes += frame as u64;
        let _ = self.latency_ns.record(now_ns.saturating_sub(ts).max(1));
        self.first.get_or_insert(now);
        self.last = Some(now);
    }
}

/// What [`TestIo::recv`] calls per test datagram: destination port, UDP
/// payload, when it was received, and that on the payload clock.
pub type OnDatagram<'a> = dyn FnMut(u16, &[u8], Instant, u64) + 'a;

/// The LAC's and the core host's I/O, in that order.
pub type IoPair = (Box<dyn TestIo>, Box<dyn TestIo>);

/// A side's test-traffic I/O: UDP datagrams out from one of its flows
/// (the LAC's tunnels; the core host has one), and the test datagrams
/// that came in. The generators differ only here ([`MmsgIo`],
/// [`crate::afxdp::XdpIo`]); the loops, the pacing and the statistics
/// are the same code.
pub trait TestIo: Send {
    /// Room for the next datagram's payload from `flow`; `None` while the
    /// batch or ring is full (the packet waits for a later turn).
    fn slot(&mut self, flow: usize) -> Option<&mut [u8]>;
    /// Queues the `len` bytes written into the last slot, to `dst` (`None`:
    /// the flow's peer).
    fn commit(&mut self, flow: usize, len: usize, dst: Option<SocketAddrV4>);
    /// Hands what is queued to the kernel: (taken, refused).
    fn flush(&mut self) -> (u64, u64);
    /// Calls `f(destination port, UDP payload, when, when on the payload
    /// clock)` for every test datagram waiting; returns how many.
    fn recv(&mut self, f: &mut OnDatagram<'_>) -> usize;
    /// Datagrams [`TestIo::flush`] counted as taken that have not left
    /// (and will not now): asked once, after the drain.
    fn unsent(&mut self) -> u64 {
        0
    }
    /// Receives from rings, not sockets (AF_XDP): the loops drain them
    /// every turn and, while sending, sleep [`MIN_TURN`]..[`MAX_TURN`]
    /// between turns; while draining they wait in `ppoll` on
    /// [`TestIo::poll_fd`].
    fn poll_mode(&self) -> bool {
        false
    }
    /// Test datagrams the receive side itself dropped so far (a full
    /// AF_XDP RX ring): the generator's loss, not the target's.
    fn rx_drops(&self) -> u64 {
        0
    }
    /// A descriptor that polls readable when test datagrams wait, if
    /// [`TestIo::recv`] has one.
    fn poll_fd(&self) -> Option<RawFd> {
        None
    }
}

/// `sendmmsg` / `recvmmsg` over UDP sockets: flow `i` sends on
/// `tx_fds[i]`; `rx` lists the sockets that receive only test traffic,
/// with their port. The sockets must outlive it.
pub struct MmsgIo {
    tx: Vec<(RawFd, SendBatch)>,
    rx: Vec<(RawFd, u16)>,
    inb: RecvBatch,
}

impl MmsgIo {
    /// See the type.
    pub fn new(tx_fds: &[RawFd], rx: Vec<(RawFd, u16)>) -> MmsgIo {
        MmsgIo {
            tx: tx_fds
                .iter()
                .map(|&fd| (fd, SendBatch::new(BATCH, SLOT)))
                .collect(),
            inb: RecvBatch::new(if rx.is_empty() { 0 } else { BATCH }, SLOT),
            rx,
        }
    }
}

/// A descriptor of a socket that outlives the [`MmsgIo`] (its contract).
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: MmsgIo's sockets outlive it (see the type), and the
    // borrow does not escape the call it is made for.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl TestIo for MmsgIo {
    fn slot(&mut self, flow: usize) -> Option<&mut [u8]> {
        let b = &mut self.tx[flow].1;
        (!b.is_full()).then(|| b.slot())
    }

    fn commit(&mut self, flow: usize, len: usize, dst: Option<SocketAddrV4>) {
        self.tx[flow].1.commit(len, dst.map(SocketAddr::V4));
    }

    fn flush(&mut self) -> (u64, u64) {
        let (mut taken, mut refused) = (0, 0);
        for (fd, b) in &mut self.tx {
            let n = b.len() as u64;
            if n > 0 {
                let sent = b.flush(borrow(*fd)).unwrap_or(0) as u64;
                taken += sent;
                refused += n - sent;
            }
        }
        (taken, refused)
    }

    fn recv(&mut self, f: &mut OnDatagram<'_>) -> usize {
        let mut total = 0;
        for &(fd, port) in &self.rx {
            while let Ok(n) = self.inb.recv(borrow(fd), BATCH) {
                if n == 0 {
                    break;
                }
                let (t, tn) = (clock::now(), clock::nanos());
                for i in 0..n {
                    f(port, self.inb.packet(i), t, tn);
                }
                total += n;
            }
        }
        total
    }
}

/// Records an upstream datagram that reached the core host on `port`:
/// plain to [`UP_PORT`], or (from the bare forwarder) still an L2TP data
/// message on 1701. Frame sizes follow the module docs.
pub fn record_up(rx: &mut RxStats, port: u16, p: &[u8], t: Instant, tn: u64) {
    if port == UP_PORT {
        // UDP payload + 8 + 20 + 18.
        rx.record(p, p.len() + 46, t, tn);
        return;
    }
    match l2tp_inner_ipv4(p).and_then(|ip| Some((ip.len(), udp_payload(ip, UP_PORT)?))) {
        Some((ip_len, p)) => rx.record(p, ip_len + 18, t, tn),
        None => rx.unknown += 1,
    }
}

/// Records a downstream datagram that reached the LAC on `port`: plain to
/// [`DOWN_PORT`] (from the bare forwarder), else an L2TP data message.
pub fn record_down(rx: &mut RxStats, port: u16, p: &[u8], t: Instant, tn: u64) {
    if port == DOWN_PORT {
        rx.record(p, p.len() + 46, t, tn);
        return;
    }
    match l2tp_inner_ipv4(p).and_then(|ip| Some((ip.len(), udp_payload(ip, DOWN_PORT)?))) {
        Some((ip_len, p)) => rx.record(p, ip_len + 18, t, tn),
        None => rx.unknown += 1,
    }
}

/// How long a traffic loop may wait before its next turn: until the next
/// packet is due; with AF_XDP (`poll`), between [`MIN_TURN`] and
/// [`MAX_TURN`] once nothing is due.
pub fn turn_wait(sending: bool, pacer: &Pacer, poll: bool, idle: Duration) -> Duration {
    if !sending {
        return idle;
    }
    let wait = pacer.next_due().map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(clock::now())
    });
    if !poll || wait.is_zero() {
        return wait;
    }
    wait.clamp(MIN_TURN, MAX_TURN)
}

/// The shortest wait between a poll-mode sender's turns: packets due
/// within it leave together, with one TX kick. Spinning instead takes the
/// CPU the target needs when both share a small machine (D29).
pub const MIN_TURN: Duration = Duration::from_micros(20);

/// The longest: the RX ring is drained every turn, and a sending loop is
/// not woken by arrivals (a wakeup per arriving batch costs the target's
/// CPU, D29), so this bounds how late an arrival is stamped.
pub const MAX_TURN: Duration = Duration::from_micros(50);

/// Makes the calling thread's sleeps end within about 5 µs of their time
/// (`PR_SET_TIMERSLACK`; the default slack is 50 µs).
pub fn fine_timer_slack() {
    // SAFETY: a per-thread setting; no pointers.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 5_000 as libc::c_ulong, 0, 0, 0) };
}

/// Sleeps `d`, or less if `fd` polls readable first (`ppoll`: finer than
/// poll's milliseconds), so that a draining receiver stamps arrivals when
/// they happen.
pub fn wait_readable(fd: Option<RawFd>, d: Duration) {
    let Some(fd) = fd else {
        std::thread::sleep(d);
        return;
    };
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    };
    // SAFETY: one live pollfd, a valid timespec, no signal mask.
    unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
}

/// The core-side host: sends downstream to every subscriber (stream ID,
/// address) over `io` (flow 0) and receives upstream from it. Runs until
/// its sender is done and `stop` is set (or the deadline passes), then
/// drains for `params.drain`.
pub fn run_core(
    io: &mut dyn TestIo,
    subscribers: &[(u32, Ipv4Addr)],
    params: &TrafficParams,
    streams: usize,
    stop: &AtomicBool,
) -> (TxStats, RxStats) {
    let mut tx = TxStats::default();
    let mut rx = RxStats::new(streams);
    rx.since_ns = params.since_ns;
    let start = clock::now();
    let end = start + params.duration;
    let limit = if params.pps_down.is_some() && !subscribers.is_empty() {
        params.max_packets
    } else {
        0
    };
    let mut pacer = Pacer::new(start, params.pps_down.unwrap_or(0), limit);
    let mut seqs = vec![0u32; subscribers.len()];
    let mut next_sub = 0usize;
    let mut drain_until: Option<Instant> = None;
    let poll = io.poll_mode();
    if poll {
        fine_timer_slack();
    }
    loop {
        let now = clock::now();
        io.recv(&mut |port, p, t, tn| record_up(&mut rx, port, p, t, tn));
        let sending = now < end && !pacer.done() && !crate::interrupted();
        if sending {
            let due = pacer.due(now).min(BATCH as u64);
            let mut queued = 0u64;
            for _ in 0..due {
                let s = next_sub;
                let Some(slot) = io.slot(0) else {
                    break;
                };
                next_sub = (next_sub + 1) % subscribers.len();
                let seq = seqs[s];
                seqs[s] += 1;
                let ip_len = params.size.ip_len(seq);
                let len = ip_len - 28;
                slot[..len].fill(0);
                let (stream, addr) = subscribers[s];
                write_payload(slot, stream, seq, clock::nanos());
                io.commit(0, len, Some(SocketAddrV4::new(addr, DOWN_PORT)));
                tx.bytes += (ip_len + 18) as u64;
                queued += 1;
            }
            if queued > 0 {
                let (sent, refused) = io.flush();
                tx.first.get_or_insert(now);
                tx.last = Some(clock::now());
                tx.sent += sent;
                tx.refused += refused;
                pacer.sent += queued;
            }
        } else {
            io.flush();
            let d = *drain_until.get_or_insert(now + params.drain);
            if stop.load(Ordering::Acquire) && now >= d {
                break;
            }
            if now >= end + params.drain + Duration::from_secs(5) {
                break;
            }
        }
        let wait = if poll {
            turn_wait(sending, &pacer, true, Duration::from_micros(200))
        } else if !sending || pacer.due(clock::now()) == 0 {
            Duration::from_micros(if sending { 50 } else { 200 })
        } else {
            Duration::ZERO
        };
        if !wait.is_zero() {
            wait_readable(io.poll_fd().filter(|_| !sending), wait);
        }
    }
    let unsent = io.unsent();
    tx.sent -= unsent.min(tx.sent);
    tx.refused += unsent;
    // Bytes of refused packets are not bytes sent.
    if let Some(b) = (tx.bytes * tx.sent).checked_div(tx.sent + tx.refused) {
        tx.bytes = b;
    }
    (tx, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Size::Fixed(64).ip_len(0), 46);
        assert_eq!(Size::Fixed(512).ip_len(0), 494);
        assert_eq!(Size::Fixed(1500).ip_len(0), MAX_IP_LEN);
        assert_eq!(Size::Imix.frame(0), 64);
        assert_eq!(Size::Imix.frame(7), 576);
        assert_eq!(Size::Imix.frame(11), 1500);
        assert_eq!("imix".parse::<Size>(), Ok(Size::Imix));
        assert!("12".parse::<Size>().is_err());
    }

    #[test]
    fn payload_round_trip_and_reordering() {
        let mut b = [0u8; 64];
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 18, 64, 1), UP_PORT);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 2), UP_PORT);
        let n = write_ipv4_udp(&mut b, src, dst, 46, 3, 7, 1000);
        assert_eq!(n, 46);
        assert_eq!(l2tpx_wire::checksum::data(&b[..20]), 0xffff);
        let p = udp_payload(&b[..n], UP_PORT).unwrap();
        assert_eq!(read_payload(p), Some((3, 7, 1000)));
        let mut rx = RxStats::new(4);
        let t = clock::now();
        rx.record(p, 64, t, 2000);
        write_payload(&mut b[28..], 3, 5, 1500);
        rx.record(&b[28..46], 64, t, 2000);
        assert_eq!((rx.received, rx.reordered), (2, 1));
        assert_eq!(rx.latency_ns.max(), 1000);
    }

    #[test]
    fn poll_mode_turns_are_min_turn_to_max_turn_apart() {
        let idle = Duration::from_millis(2);
        let t = clock::now();
        let unpaced = Pacer::new(t, 0, 10);
        assert_eq!(turn_wait(false, &unpaced, true, idle), idle);
        assert_eq!(turn_wait(true, &unpaced, true, idle), Duration::ZERO);
        // 1 pps, one sent: the next is due in about a second.
        let mut slow = Pacer::new(t, 1, 10);
        slow.sent = 1;
        assert_eq!(turn_wait(true, &slow, true, idle), MAX_TURN);
        assert!(turn_wait(true, &slow, false, idle) > Duration::from_millis(900));
        // 10 Mpps, one sent: due in 100 ns, so a poll-mode turn waits MIN_TURN.
        let mut fast = Pacer::new(clock::now(), 10_000_000, 10);
        fast.sent = 1;
        let w = turn_wait(true, &fast, true, idle);
        assert!(w == MIN_TURN || w.is_zero(), "{w:?}");
        assert!(turn_wait(true, &fast, false, idle) <= Duration::from_nanos(100));
    }

    #[test]
    fn pacer_bounds() {
        let t = clock::now();
        let mut p = Pacer::new(t, 1000, 10);
        assert_eq!(p.due(t), 1);
        assert_eq!(p.due(t + Duration::from_secs(1)), 10);
        p.sent = 10;
        assert!(p.done());
        let p = Pacer::new(t, 0, 5);
        assert_eq!(p.due(t), 5);
    }
}
