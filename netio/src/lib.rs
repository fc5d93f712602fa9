//! Batched datagram receive: `recvmmsg(2)` behind a safe API.
//!
//! The control plane forbids unsafe code and rustix has no `recvmmsg`
//! wrapper, so the one system call it needs lives here (D26). One call
//! fills up to a batch of slots; per datagram it costs a copy, not a
//! system call.

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
    /// `n` slots (at least one) of `slot` bytes each. A datagram longer
    /// than `slot` is cut short and reported by [`RecvBatch::truncated`].
    pub fn new(n: usize, slot: usize) -> Self {
        let n = n.max(1);
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
        let cap = max.clamp(1, self.iov.len());
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
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                    u16::from_be(s.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6 (family AF_INET6).
                let s =
                    unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(s.sin6_addr.s6_addr),
                    u16::from_be(s.sin6_port),
                    u32::from_be(s.sin6_flowinfo),
                    s.sin6_scope_id,
                )))
            }
            _ => None,
        }
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
    fn a_socket_error_is_returned() {
        let mut rx = RecvBatch::new(2, 16);
        // A listening TCP socket has no datagrams: ENOTCONN, not Ok(0).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(rx.recv(&l, 2).is_err());
        assert!(rx.is_empty());
    }
}
