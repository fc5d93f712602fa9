//! Batched datagrams: `recvmmsg(2)` and `sendmmsg(2)` behind a safe API.
//!
//! The control plane forbids unsafe code and rustix has no `recvmmsg`
//! wrapper, so the system calls live here (D26), shared with the bench's
//! generator. One call moves up to a batch; per datagram it costs a copy,
//! not a system call.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

/// A batch of receive slots for `recvmmsg`.
pub struct RecvBatch {
    slot: usize,
    buf: Vec<u8>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    addrs: Vec<libc::sockaddr_storage>,
    n: usize,
}

// SAFETY: the raw pointers in `iov` and `hdrs` point only into this
// struct's own heap buffers (`buf`, `iov`, `addrs`), are rewritten before
// every system call, and are never dereferenced outside `recv`.
unsafe impl Send for RecvBatch {}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("slots", &self.iov.len())
            .field("slot", &self.slot)
            .field("n", &self.n)
            .finish()
    }
}

impl RecvBatch {
    /// `n` slots of `slot` bytes each. A datagram longer than `slot` is
    /// cut short and reported by [`RecvBatch::truncated`]. With no slots
    /// every receive gets nothing.
    pub fn new(n: usize, slot: usize) -> Self {
        RecvBatch {
            slot,
            buf: vec![0; n * slot],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                n
            ],
            // SAFETY: mmsghdr and sockaddr_storage are plain data; all-zero
            // is a valid value of each.
            hdrs: vec![unsafe { std::mem::zeroed() }; n],
            addrs: vec![unsafe { std::mem::zeroed() }; n],
            n: 0,
        }
    }

    /// Slots in the batch.
    pub fn capacity(&self) -> usize {
        self.iov.len()
    }

    /// Receives up to `max` datagrams (at most the capacity) without
    /// blocking: `Ok(0)` when none is waiting.
    pub fn recv(&mut self, sock: impl AsFd, max: usize) -> io::Result<usize> {
        self.n = 0;
        let cap = max.min(self.iov.len());
        if cap == 0 {
            return Ok(0);
        }
        let base = self.buf.as_mut_ptr();
        for i in 0..cap {
            // SAFETY: slot i lies inside `buf` (capacity * slot bytes).
            self.iov[i].iov_base = unsafe { base.add(i * self.slot) }.cast();
            self.iov[i].iov_len = self.slot;
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: headers 0..cap point at live buffers of the stated sizes,
        // all owned by `self`, which is borrowed mutably for the call.
        let rc = unsafe {
            libc::recvmmsg(
                sock.as_fd().as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                cap as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        self.n = rc as usize;
        Ok(self.n)
    }

    /// Datagrams from the last [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the last receive got nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Datagram `i` of the last receive (empty past [`RecvBatch::len`]).
    pub fn packet(&self, i: usize) -> &[u8] {
        if i >= self.n {
            return &[];
        }
        let len = (self.hdrs[i].msg_len as usize).min(self.slot);
        &self.buf[i * self.slot..i * self.slot + len]
    }

    /// Whether datagram `i` was longer than a slot (its tail is lost).
    pub fn truncated(&self, i: usize) -> bool {
        i < self.n && self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0
    }

    /// Datagram `i`'s source address (`None` for a family other than
    /// IPv4 or IPv6, or past [`RecvBatch::len`]).
    pub fn source(&self, i: usize) -> Option<SocketAddr> {
        if i >= self.n {
            return None;
        }
        let a = &self.addrs[i];
        match i32::from(a.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in (family AF_INET),
                // which fits in and is aligned like sockaddr_storage.
                let s =
                    unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                Some(from_sockaddr_in(s))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6 (family AF_INET6).
                let s =
                    unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                Some(from_sockaddr_in6(s))
            }
            _ => None,
        }
    }
}

impl Default for RecvBatch {
    /// No slots (nothing allocated): a placeholder while a batch is lent.
    fn default() -> Self {
        RecvBatch::new(0, 0)
    }
}

fn from_sockaddr_in(s: &libc::sockaddr_in) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
        u16::from_be(s.sin_port),
    ))
}

fn from_sockaddr_in6(s: &libc::sockaddr_in6) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::from(s.sin6_addr.s6_addr),
        u16::from_be(s.sin6_port),
        u32::from_be(s.sin6_flowinfo),
        s.sin6_scope_id,
    ))
}

/// Where one queued datagram goes.
#[derive(Clone, Copy)]
enum Dst {
    /// The connected socket's peer.
    Connected,
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl Dst {
    fn new(a: Option<SocketAddr>) -> Self {
        match a {
            None => Dst::Connected,
            Some(SocketAddr::V4(a)) => Dst::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            }),
            Some(SocketAddr::V6(a)) => Dst::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }

    fn addr(&self) -> Option<SocketAddr> {
        match self {
            Dst::Connected => None,
            Dst::V4(s) => Some(from_sockaddr_in(s)),
            Dst::V6(s) => Some(from_sockaddr_in6(s)),
        }
    }

    /// `msg_name` and `msg_namelen` for this destination.
    fn name(&mut self) -> (*mut libc::c_void, u32) {
        match self {
            Dst::Connected => (std::ptr::null_mut(), 0),
            Dst::V4(s) => (
                (s as *mut libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            ),
            Dst::V6(s) => (
                (s as *mut libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as u32,
            ),
        }
    }
}

/// A batch of datagrams for `sendmmsg`, to IPv4 or IPv6 destinations or
/// to a connected socket's peer. The datagrams lie back to back in one
/// buffer, filled in place ([`SendBatch::slot`], [`SendBatch::commit`]) or
/// copied in ([`SendBatch::push`]); nothing is allocated per datagram or
/// per flush once the buffer has grown to the batch's size.
pub struct SendBatch {
    slot: usize,
    buf: Vec<u8>,
    used: usize,
    /// Start and length in `buf` of each queued datagram.
    spans: Vec<(usize, usize)>,
    dsts: Vec<Dst>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: as for RecvBatch: the pointers in `iov` and `hdrs` point only
// into this struct's own heap buffers and are rewritten before every call.
unsafe impl Send for SendBatch {}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("slots", &self.iov.len())
            .field("slot", &self.slot)
            .field("n", &self.spans.len())
            .field("bytes", &self.used)
            .finish()
    }
}

impl SendBatch {
    /// Room for `n` datagrams; [`SendBatch::slot`] offers `slot` bytes.
    pub fn new(n: usize, slot: usize) -> Self {
        SendBatch {
            slot,
            buf: vec![0; n * slot],
            used: 0,
            spans: Vec::with_capacity(n),
            dsts: Vec::with_capacity(n),
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                n
            ],
            // SAFETY: mmsghdr is plain data; all-zero is a valid value.
            hdrs: vec![unsafe { std::mem::zeroed() }; n],
        }
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether the batch is full (then [`SendBatch::slot`] is empty and
    /// [`SendBatch::push`] refuses until a flush).
    pub fn is_full(&self) -> bool {
        self.spans.len() == self.iov.len()
    }

    /// Makes `buf` hold at least `len` bytes after what is queued.
    fn room(&mut self, len: usize) -> &mut [u8] {
        let end = self.used + len;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.used..end]
    }

    /// The next slot to fill (call [`SendBatch::commit`] after); empty
    /// when the batch is full.
    pub fn slot(&mut self) -> &mut [u8] {
        if self.is_full() {
            return &mut [];
        }
        self.room(self.slot)
    }

    /// Queues the slot filled through [`SendBatch::slot`]: `len` bytes
    /// (at most a slot), to `dst` (or the connected peer). Ignored when the
    /// batch is full.
    pub fn commit(&mut self, len: usize, dst: Option<SocketAddr>) {
        if self.is_full() {
            return;
        }
        let len = len.min(self.slot);
        self.room(len);
        self.queue(len, dst);
    }

    /// Copies `bytes` (any length) into the batch for `dst` (or the
    /// connected peer); `false`, queueing nothing, when the batch is full.
    pub fn push(&mut self, bytes: &[u8], dst: Option<SocketAddr>) -> bool {
        if self.is_full() {
            return false;
        }
        self.room(bytes.len()).copy_from_slice(bytes);
        self.queue(bytes.len(), dst);
        true
    }

    fn queue(&mut self, len: usize, dst: Option<SocketAddr>) {
        self.spans.push((self.used, len));
        self.dsts.push(Dst::new(dst));
        self.used += len;
    }

    /// Points the message headers at the queued datagrams.
    fn prepare(&mut self) {
        let base = self.buf.as_mut_ptr();
        for (i, &(at, len)) in self.spans.iter().enumerate() {
            // SAFETY: the span lies inside `buf` (`queue` recorded it after
            // `room` grew `buf` to cover it).
            self.iov[i].iov_base = unsafe { base.add(at) }.cast();
            self.iov[i].iov_len = len;
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            (h.msg_hdr.msg_name, h.msg_hdr.msg_namelen) = self.dsts[i].name();
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
        }
    }

    /// One `sendmmsg` of headers `from..`: how many the kernel took.
    fn send_from(&mut self, fd: i32, from: usize) -> io::Result<usize> {
        let n = self.spans.len();
        // SAFETY: headers from..n point at live buffers owned by `self`,
        // which is borrowed mutably for the call.
        let rc = unsafe {
            libc::sendmmsg(
                fd,
                self.hdrs[from..n].as_mut_ptr(),
                (n - from) as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    fn clear(&mut self) {
        self.used = 0;
        self.spans.clear();
        self.dsts.clear();
    }

    /// Sends what is queued; returns how many the kernel took. What it did
    /// not take (a full socket buffer, an unreachable destination after
    /// the first) is dropped: the caller counts only what was sent. The
    /// batch is empty afterwards.
    pub fn flush(&mut self, sock: impl AsFd) -> io::Result<usize> {
        let n = self.spans.len();
        self.prepare();
        let fd = sock.as_fd().as_raw_fd();
        let mut sent = 0;
        let r = loop {
            if sent == n {
                break Ok(sent);
            }
            match self.send_from(fd, sent) {
                Ok(0) => break Ok(sent),
                Ok(k) => sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || sent > 0 => break Ok(sent),
                Err(e) => break Err(e),
            }
        };
        self.clear();
        r
    }

    /// Sends everything queued, in order. A datagram the kernel refuses is
    /// handed to `refused` with its destination and the error, and the
    /// rest still go out (as a `send_to` per datagram would). Returns how
    /// many were sent; the batch is empty afterwards.
    pub fn flush_each(
        &mut self,
        sock: impl AsFd,
        mut refused: impl FnMut(Option<SocketAddr>, io::Error),
    ) -> usize {
        let n = self.spans.len();
        self.prepare();
        let fd = sock.as_fd().as_raw_fd();
        let (mut next, mut sent) = (0, 0);
        while next < n {
            match self.send_from(fd, next) {
                Ok(k) if k > 0 => {
                    next += k;
                    sent += k;
                }
                // sendmmsg reports an error only for the first datagram.
                Ok(_) => {
                    refused(self.dsts[next].addr(), io::ErrorKind::WriteZero.into());
                    next += 1;
                }
                Err(e) => {
                    refused(self.dsts[next].addr(), e);
                    next += 1;
                }
            }
        }
        self.clear();
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn drain(
        rx: &mut RecvBatch,
        sock: &UdpSocket,
        want: usize,
    ) -> Vec<(Vec<u8>, SocketAddr, bool)> {
        let mut got = Vec::new();
        for _ in 0..200 {
            let n = rx.recv(sock, usize::MAX).unwrap();
            for i in 0..n {
                got.push((
                    rx.packet(i).to_vec(),
                    rx.source(i).unwrap(),
                    rx.truncated(i),
                ));
            }
            if got.len() >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn batch_receives_in_order_with_sources_v4() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = b.local_addr().unwrap();
        for i in 0..10u8 {
            a.send_to(&[i; 5], dst).unwrap();
        }
        // Batches of 4: 10 datagrams need at least three calls.
        let mut rx = RecvBatch::new(4, 64);
        let got = drain(&mut rx, &b, 10);
        assert_eq!(got.len(), 10);
        for (i, (p, from, trunc)) in got.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; 5]);
            assert_eq!(*from, a.local_addr().unwrap());
            assert!(!trunc);
        }
        assert_eq!(rx.recv(&b, 4).unwrap(), 0);
        assert!(rx.is_empty());
        assert_eq!(rx.packet(0), &[] as &[u8]);
        assert_eq!(rx.source(0), None);
    }

    #[test]
    fn long_datagram_is_cut_and_flagged() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.send_to(&[7; 100], b.local_addr().unwrap()).unwrap();
        a.send_to(&[8; 10], b.local_addr().unwrap()).unwrap();
        let mut rx = RecvBatch::new(8, 32);
        let got = drain(&mut rx, &b, 2);
        assert_eq!(got[0].0, vec![7; 32]);
        assert!(got[0].2);
        assert_eq!(got[1].0, vec![8; 10]);
        assert!(!got[1].2);
    }

    #[test]
    fn ipv6_sources() {
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        let b = UdpSocket::bind("[::1]:0").unwrap();
        a.send_to(b"v6", b.local_addr().unwrap()).unwrap();
        let mut rx = RecvBatch::new(2, 16);
        let got = drain(&mut rx, &b, 1);
        assert_eq!(got[0].0, b"v6".to_vec());
        assert_eq!(got[0].1, a.local_addr().unwrap());
    }

    #[test]
    fn send_batch_round_trip_and_bounds() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = b.local_addr().unwrap();
        let mut tx = SendBatch::new(4, 8);
        assert!(tx.is_empty());
        for i in 0..6u8 {
            // Two past the capacity: empty slots, ignored commits.
            let s = tx.slot();
            if let Some(s) = s.get_mut(..3) {
                s.copy_from_slice(&[i; 3]);
            }
            tx.commit(3, Some(dst));
        }
        assert!(tx.is_full());
        assert!(!tx.push(b"no room", Some(dst)));
        assert_eq!(tx.len(), 4);
        assert_eq!(tx.flush(&a).unwrap(), 4);
        assert!(tx.is_empty());
        assert_eq!(tx.flush(&a).unwrap(), 0);
        let mut rx = RecvBatch::new(8, 16);
        let got = drain(&mut rx, &b, 4);
        let bodies: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
        assert_eq!(bodies, (0..4u8).map(|i| vec![i; 3]).collect::<Vec<_>>());
    }

    /// `push` takes datagrams of any length, longer than a slot included,
    /// and slots and pushes mix in order.
    #[test]
    fn pushed_datagrams_of_any_length_keep_their_order() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = b.local_addr().unwrap();
        let mut tx = SendBatch::new(8, 4);
        let lens = [1usize, 300, 0, 4, 2000, 7];
        for (i, &len) in lens.iter().enumerate() {
            if i == 3 {
                tx.slot().copy_from_slice(&[i as u8; 4]);
                tx.commit(4, Some(dst));
            } else {
                assert!(tx.push(&vec![i as u8; len], Some(dst)));
            }
        }
        assert_eq!(tx.flush(&a).unwrap(), lens.len());
        let mut rx = RecvBatch::new(8, 4096);
        let got = drain(&mut rx, &b, lens.len());
        let bodies: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
        let want: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &len)| vec![i as u8; len])
            .collect();
        assert_eq!(bodies, want);
    }

    /// A datagram the kernel refuses (an IPv6 destination on an IPv4
    /// socket) is reported and skipped by `flush_each`; the rest go out
    /// in order. `flush` stops at it instead.
    #[test]
    fn flush_each_skips_a_refused_datagram_and_flush_stops_at_it() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = b.local_addr().unwrap();
        let bad: SocketAddr = "[2001:db8::1]:1701".parse().unwrap();
        let mut tx = SendBatch::new(8, 16);
        for i in 0..6u8 {
            if i == 2 || i == 4 {
                tx.push(b"refused", Some(bad));
            }
            tx.push(&[i], Some(dst));
        }
        let mut seen = Vec::new();
        let sent = tx.flush_each(&a, |to, e| seen.push((to, e.kind())));
        assert_eq!(sent, 6);
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|(to, _)| *to == Some(bad)));
        assert!(tx.is_empty());
        let mut rx = RecvBatch::new(8, 16);
        let got = drain(&mut rx, &b, 6);
        let bodies: Vec<Vec<u8>> = got.into_iter().map(|g| g.0).collect();
        assert_eq!(bodies, (0..6u8).map(|i| vec![i]).collect::<Vec<_>>());

        tx.push(b"a", Some(dst));
        tx.push(b"refused", Some(bad));
        tx.push(b"b", Some(dst));
        assert_eq!(tx.flush(&a).unwrap(), 1);
        assert!(tx.is_empty());
        tx.push(b"refused", Some(bad));
        assert!(tx.flush(&a).is_err());
        assert_eq!(drain(&mut rx, &b, 1)[0].0, b"a".to_vec());
    }

    #[test]
    fn send_batch_to_ipv6_destinations() {
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        let b = UdpSocket::bind("[::1]:0").unwrap();
        let mut tx = SendBatch::new(2, 16);
        tx.push(b"six", Some(b.local_addr().unwrap()));
        assert_eq!(tx.flush(&a).unwrap(), 1);
        let mut rx = RecvBatch::new(2, 16);
        let got = drain(&mut rx, &b, 1);
        assert_eq!(got[0].0, b"six".to_vec());
        assert_eq!(got[0].1, a.local_addr().unwrap());
    }

    /// A connected socket's batch names no destination.
    #[test]
    fn send_batch_to_the_connected_peer() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        let mut tx = SendBatch::new(2, 16);
        tx.push(b"c", None);
        assert_eq!(tx.flush(&a).unwrap(), 1);
        let mut rx = RecvBatch::new(2, 16);
        assert_eq!(drain(&mut rx, &b, 1)[0].0, b"c".to_vec());
    }

    #[test]
    fn an_empty_batch_receives_nothing() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        let mut empty = RecvBatch::default();
        assert_eq!(empty.recv(&b, 64).unwrap(), 0);
        // The datagram is still there for a real batch.
        let mut rx = RecvBatch::new(1, 4);
        assert_eq!(drain(&mut rx, &b, 1)[0].0, b"x".to_vec());
    }

    #[test]
    fn a_socket_error_is_returned() {
        let mut rx = RecvBatch::new(2, 16);
        // A listening TCP socket has no datagrams: ENOTCONN, not Ok(0).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(rx.recv(&l, 2).is_err());
        assert!(rx.is_empty());
    }
}
