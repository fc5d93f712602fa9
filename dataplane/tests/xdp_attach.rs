//! Attaching the programs to real interfaces, each test in a private network
//! namespace (unshared by its own thread, so the host's interfaces are never
//! touched and everything vanishes with the thread): driver mode on veth,
//! the generic-mode fallback on a dummy device, and a live path where a
//! frame sent into a veth lands in an AF_XDP socket bound to its peer
//! (a core-side one with its slot in the XDP metadata in front of it).
//!
//! Needs root, BPF, `ip` (iproute2) and AF_XDP; without them each test
//! prints `SKIP ...: reason` and returns.

mod common;

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use common::*;
use l2tpx_dataplane::ebpf::{AttachMode, Counter as C, Error, Meta, Side, Steering, META_LEN};

/// Runs `f` on a thread of its own in a fresh network namespace, or prints
/// why it cannot and returns None.
fn in_netns<R: Send>(test: &str, f: impl FnOnce() -> R + Send) -> Option<R> {
    load_or_skip(test)?; // root and BPF
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIP {test}: `ip` (iproute2) not found");
        return None;
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: affects only this thread, which ends with the test.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    let e = io::Error::last_os_error();
                    eprintln!("SKIP {test}: unshare(CLONE_NEWNET): {e}");
                    return None;
                }
                Some(f())
            })
            .join()
            .expect("test thread panicked")
    })
}

fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_out(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("running ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ifindex(name: &str) -> u32 {
    let c = CString::new(name).unwrap();
    // SAFETY: valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name}");
    i
}

fn veth_pair(a: &str, b: &str) {
    ip(&format!("link add {a} type veth peer name {b}"));
    ip(&format!("link set {a} up"));
    ip(&format!("link set {b} up"));
}

/// Sends `frame` out of `ifname` through an AF_PACKET socket.
fn send_raw(ifname: &str, frame: &[u8]) {
    // SAFETY: plain syscalls on a socket we own; results checked.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "AF_PACKET: {}", io::Error::last_os_error());
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex(ifname) as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        let n = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        let err = io::Error::last_os_error();
        libc::close(fd);
        assert_eq!(n, frame.len() as isize, "sendto: {err}");
    }
}

#[test]
fn attach_in_driver_mode_on_veth_then_detach() {
    in_netns("attach_in_driver_mode_on_veth_then_detach", || {
        veth_pair("acc0", "acc1");
        veth_pair("core0", "core1");
        let mut s = Steering::load().unwrap();
        assert_eq!(s.attach(Side::Access, "acc0").unwrap(), AttachMode::Driver);
        assert_eq!(s.attach(Side::Core, "core0").unwrap(), AttachMode::Driver);
        assert_eq!(s.attached(Side::Access), Some("acc0"));
        assert_eq!(s.attached(Side::Core), Some("core0"));
        let link = ip_out("-d link show acc0");
        assert!(link.contains("prog/xdp"), "{link}");
        assert!(!link.contains("xdpgeneric"), "{link}");

        assert!(matches!(
            s.attach(Side::Access, "acc1"),
            Err(Error::AlreadyAttached(Side::Access))
        ));
        assert!(s.detach(Side::Access).unwrap());
        assert!(!s.detach(Side::Access).unwrap());
        assert!(!ip_out("-d link show acc0").contains("prog/xdp"));
        // Re-attachable after a detach.
        assert_eq!(s.attach(Side::Access, "acc0").unwrap(), AttachMode::Driver);
        drop(s);
        // Dropping the loader detaches everything.
        assert!(!ip_out("-d link show acc0").contains("prog/xdp"));
        assert!(!ip_out("-d link show core0").contains("prog/xdp"));
    });
}

#[test]
fn attach_falls_back_to_generic_mode() {
    in_netns("attach_falls_back_to_generic_mode", || {
        // Loopback has no native XDP (and, unlike dummy, needs no module).
        ip("link set lo up");
        let mut s = Steering::load().unwrap();
        assert_eq!(s.attach(Side::Core, "lo").unwrap(), AttachMode::Generic);
        let link = ip_out("-d link show lo");
        assert!(link.contains("xdpgeneric"), "{link}");
        assert!(s.detach(Side::Core).unwrap());
    });
}

#[test]
fn attach_to_a_missing_interface_fails_without_fallback() {
    in_netns(
        "attach_to_a_missing_interface_fails_without_fallback",
        || {
            let mut s = Steering::load().unwrap();
            let e = s.attach(Side::Access, "nosuch0").unwrap_err();
            assert!(e.to_string().contains("nosuch0"), "{e}");
            assert_eq!(s.attached(Side::Access), None);
        },
    );
}

/// The whole chain on live interfaces: a frame sent into one veth end runs
/// through the program attached to the other end and lands, unchanged, in
/// the AF_XDP socket bound to that end's queue 0; what must pass, passes.
#[test]
fn live_frames_reach_the_bound_xsk() {
    in_netns("live_frames_reach_the_bound_xsk", || {
        veth_pair("acc0", "acc1");
        veth_pair("core0", "core1");
        let mut s = Steering::load().unwrap();
        assert_eq!(s.attach(Side::Access, "acc0").unwrap(), AttachMode::Driver);
        assert_eq!(s.attach(Side::Core, "core0").unwrap(), AttachMode::Driver);
        let acc = match BoundXsk::bind(ifindex("acc0"), 0) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("SKIP live_frames_reach_the_bound_xsk: AF_XDP bind: {e}");
                return;
            }
        };
        let core = BoundXsk::bind(ifindex("core0"), 0).expect("AF_XDP bind core0");
        s.set_xsk(Side::Access, 0, &acc).unwrap();
        s.set_xsk(Side::Core, 0, &core).unwrap();
        s.insert_subscriber_v4(SUB_IP, 3).unwrap();
        let wait = Duration::from_secs(2);
        let before = s.counters().unwrap();

        // Upstream: L2TP data + PPP IPv4 → the access XSK, byte for byte.
        let up = Access::default().frame();
        send_raw("acc1", &up);
        assert_eq!(acc.recv(wait).as_deref(), Some(&up[..]));
        // LCP passes to the kernel: nothing more in the XSK.
        send_raw(
            "acc1",
            &Access::ppp(0xc021, vec![9, 1, 0, 8, 0, 0, 0, 0]).frame(),
        );
        assert_eq!(acc.recv(Duration::from_millis(200)), None);

        // Downstream: IPv4 to the subscriber → the core XSK.
        let spec = Ipv4Spec {
            src: SERVER_IP,
            dst: SUB_IP,
            ..Ipv4Spec::default()
        };
        let down = core_v4(None, &spec);
        send_raw("core1", &down);
        // With the slot in the XDP metadata right in front of the data:
        // copy mode delivers it into the UMEM chunk.
        let (meta, data) = core.recv_with_headroom(wait, META_LEN).unwrap();
        assert_eq!(data, down);
        assert_eq!(meta, Meta::v4(3, SUB_IP.octets()).to_bytes());
        // IPv6 likewise, with the /64's slot.
        let sub6: std::net::Ipv6Addr = "2001:db8:100:1::1".parse().unwrap();
        s.insert_subscriber_v6(sub6, 0x1_0005).unwrap();
        let down6 = core_v6(None, sub6);
        send_raw("core1", &down6);
        let (meta, data) = core.recv_with_headroom(wait, META_LEN).unwrap();
        assert_eq!(data, down6);
        assert_eq!(meta, Meta::v6(0x1_0005, &sub6.octets()).to_bytes());
        let other = core_v4(
            None,
            &Ipv4Spec {
                dst: Ipv4Addr::new(198, 18, 250, 9),
                ..spec
            },
        );
        send_raw("core1", &other);
        assert_eq!(core.recv(Duration::from_millis(200)), None);

        let c = s.counters().unwrap();
        let d = |k: C| c.get(k) - before.get(k);
        assert_eq!(d(C::L2tpRedirectV4), 1);
        assert_eq!(d(C::L2tpPassPppControl), 1);
        assert_eq!(d(C::CoreRedirectV4), 1);
        assert_eq!(d(C::CoreRedirectV6), 1);
        assert_eq!(d(C::CorePassV4Miss), 1);
        assert_eq!(d(C::L2tpPassNoXsk) + d(C::CorePassNoXsk), 0);
    });
}
