//! Builds the XDP object and the ABI constants from `ebpf/` (issue 5 §1).
//!
//! 1. `clang-19 -target bpf` compiles `ebpf/l2tpx_xdp.c` into
//!    `$OUT_DIR/l2tpx_xdp.o`, which `src/ebpf.rs` embeds, and
//!    `ebpf/bench_xdp.c` (l2tpx-bench's receive filter) into
//!    `$OUT_DIR/bench_xdp.o`.
//! 2. The host compiler builds `ebpf/abi_probe.c` against the same ABI
//!    header with the same `-D` flags; its output, Rust constants, goes to
//!    `$OUT_DIR/l2tpx_abi.rs`, which `src/ebpf.rs` checks its mirror against.
//!
//! Environment:
//! - `L2TPX_BPF_CLANG`: the clang to use (default `clang-19`).
//! - `L2TPX_BPF_DEFINES`: extra `-D` definitions for both compiles, separated
//!   by spaces, e.g. `L2TPX_MAX_QUEUES=128 L2TPX_MAX_OFFSET_PAD=32`.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_CLANG: &str = "clang-19";
const INSTALL_HINT: &str = "install the Debian packages `clang-19` and `libbpf-dev` \
     (scripts/setup.sh does), or point L2TPX_BPF_CLANG at a clang that targets BPF";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let ebpf = manifest.join("../ebpf");
    let include = ebpf.join("include");

    for f in [
        "l2tpx_xdp.c",
        "bench_xdp.c",
        "abi_probe.c",
        "include/l2tpx_abi.h",
        "include/maps.h",
        "include/parse.h",
    ] {
        println!("cargo:rerun-if-changed={}", ebpf.join(f).display());
    }
    println!("cargo:rerun-if-changed={}", include.display());
    println!("cargo:rerun-if-env-changed=L2TPX_BPF_CLANG");
    println!("cargo:rerun-if-env-changed=L2TPX_BPF_DEFINES");

    let clang = env::var("L2TPX_BPF_CLANG").unwrap_or_else(|_| DEFAULT_CLANG.to_string());
    let defines: Vec<String> = env::var("L2TPX_BPF_DEFINES")
        .unwrap_or_default()
        .split_whitespace()
        .map(|d| format!("-D{d}"))
        .collect();

    check_clang(&clang);

    // 1. The XDP objects.
    for name in ["l2tpx_xdp", "bench_xdp"] {
        let mut cmd = Command::new(&clang);
        cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            // Debian puts asm/types.h under the multiarch directory (ARCHITECTURE §4).
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg(format!("-I{}", include.display()))
            .args(&defines)
            .arg("-c")
            .arg(ebpf.join(format!("{name}.c")))
            .arg("-o")
            .arg(out.join(format!("{name}.o")));
        run(&mut cmd, &format!("compiling ebpf/{name}.c for BPF"));
    }

    // 2. The ABI probe, for the host, then its output.
    let probe = out.join("l2tpx_abi_probe");
    let mut cmd = Command::new(&clang);
    cmd.args(["-O0", "-Wall", "-Werror", "-std=c11"])
        .arg(format!("-I{}", include.display()))
        .args(&defines)
        .arg(ebpf.join("abi_probe.c"))
        .arg("-o")
        .arg(&probe);
    run(&mut cmd, "compiling ebpf/abi_probe.c for the host");
    let output = Command::new(&probe)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", probe.display()));
    if !output.status.success() {
        panic!(
            "{} failed: {}",
            probe.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    write_if_changed(&out.join("l2tpx_abi.rs"), &output.stdout);
}

fn check_clang(clang: &str) {
    match Command::new(clang).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{clang} --version` failed ({}): {}\n{INSTALL_HINT}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run `{clang}` ({e}): the XDP programs need it.\n{INSTALL_HINT}"),
    }
}

fn run(cmd: &mut Command, what: &str) {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}\n{INSTALL_HINT}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("bpf/bpf_helpers.h") || stderr.contains("asm/types.h") {
            format!("\n{INSTALL_HINT}")
        } else {
            String::new()
        };
        panic!(
            "{what} failed ({}):\n{cmd:?}\n{stderr}{hint}",
            output.status
        );
    }
}

/// Keeps the file's mtime when nothing changed, so dependents do not rebuild.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
