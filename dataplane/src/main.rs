//! The l2tpx data plane: per-core AF_XDP workers over the shared session table.
//! Not built yet: see issue 5.
fn main() -> std::process::ExitCode {
    eprintln!("dataplane: not built yet (issue 5)");
    std::process::ExitCode::from(2)
}
