//! `recvmmsg(2)` / `sendmmsg(2)` batches over raw UDP socket descriptors.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

/// Largest datagram a slot holds.
pub const SLOT: usize = 2048;

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A batch of receive slots for `recvmmsg`.
pub struct RecvBatch {
    buf: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<libc::sockaddr_in>,
    n: usize,
}

impl RecvBatch {
    /// `n` slots of [`SLOT`] bytes.
    pub fn new(n: usize) -> Self {
        RecvBatch {
            buf: vec![0; n * SLOT],
            lens: vec![0; n],
            addrs: vec![sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); n],
            n: 0,
        }
    }

    /// Receives up to the batch size without blocking; `Ok(0)` when
    /// nothing is waiting.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let cap = self.lens.len();
        let base = self.buf.as_mut_ptr();
        let mut iov: Vec<libc::iovec> = (0..cap)
            .map(|i| libc::iovec {
                // SAFETY: slot i lies inside `buf` (cap * SLOT bytes).
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: SLOT,
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; cap];
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_iov = &mut iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                cap as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            self.n = 0;
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        self.n = rc as usize;
        for (i, h) in hdrs.iter().enumerate().take(self.n) {
            self.lens[i] = h.msg_len as usize;
        }
        Ok(self.n)
    }

    /// Datagram `i` of the last receive.
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.buf[i * SLOT..i * SLOT + self.lens[i].min(SLOT)]
    }

    /// Its source address.
    pub fn source(&self, i: usize) -> SocketAddrV4 {
        let a = &self.addrs[i];
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
            u16::from_be(a.sin_port),
        )
    }
}

/// A batch of datagrams for `sendmmsg`.
pub struct SendBatch {
    buf: Vec<u8>,
    lens: Vec<usize>,
    dsts: Vec<Option<libc::sockaddr_in>>,
    n: usize,
}

impl SendBatch {
    /// Room for `n` datagrams.
    pub fn new(n: usize) -> Self {
        SendBatch {
            buf: vec![0; n * SLOT],
            lens: vec![0; n],
            dsts: vec![None; n],
            n: 0,
        }
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.n == self.lens.len()
    }

    /// The next slot to fill (call [`SendBatch::commit`] after).
    pub fn slot(&mut self) -> &mut [u8] {
        let i = self.n;
        &mut self.buf[i * SLOT..(i + 1) * SLOT]
    }

    /// Queues the slot filled through [`SendBatch::slot`]: `len` bytes, to
    /// `dst` (or the connected peer).
    pub fn commit(&mut self, len: usize, dst: Option<SocketAddrV4>) {
        self.lens[self.n] = len.min(SLOT);
        self.dsts[self.n] = dst.map(sockaddr);
        self.n += 1;
    }

    /// Sends what is queued; returns how many the kernel took. What it did
    /// not take (a full socket buffer) is dropped: the caller counts only
    /// what was sent. The batch is empty afterwards.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.n;
        self.n = 0;
        if n == 0 {
            return Ok(0);
        }
        let base = self.buf.as_mut_ptr();
        let mut iov: Vec<libc::iovec> = (0..n)
            .map(|i| libc::iovec {
                // SAFETY: slot i lies inside `buf`.
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: self.lens[i],
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; n];
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_iov = &mut iov[i];
            h.msg_hdr.msg_iovlen = 1;
            if let Some(d) = self.dsts[i].as_mut() {
                h.msg_hdr.msg_name = (d as *mut libc::sockaddr_in).cast();
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            }
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: headers sent..n point at live buffers.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs[sent..].as_mut_ptr(),
                    (n - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(sent),
                    // veth/TUN back-pressure or an unreachable subscriber:
                    // count as not sent.
                    _ if sent > 0 => Ok(sent),
                    _ => Err(e),
                };
            }
            sent += rc as usize;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn batch_round_trip_over_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let SocketAddr4(dst) = SocketAddr4::from(b.local_addr().unwrap());
        let mut tx = SendBatch::new(8);
        for i in 0..5u8 {
            let s = tx.slot();
            s[..3].copy_from_slice(&[i, i, i]);
            tx.commit(3, Some(dst));
        }
        assert_eq!(tx.flush(a.as_raw_fd()).unwrap(), 5);
        let mut rx = RecvBatch::new(8);
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = rx.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                got.push(rx.packet(i).to_vec());
                assert_eq!(rx.source(i), SocketAddr4::from(a.local_addr().unwrap()).0);
            }
            if got.len() == 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got.len(), 5);
        assert_eq!(got[4], vec![4, 4, 4]);
    }

    struct SocketAddr4(SocketAddrV4);
    impl From<std::net::SocketAddr> for SocketAddr4 {
        fn from(a: std::net::SocketAddr) -> Self {
            match a {
                std::net::SocketAddr::V4(a) => SocketAddr4(a),
                std::net::SocketAddr::V6(_) => panic!("v6"),
            }
        }
    }
}
