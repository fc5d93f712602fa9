//! l2tpx-bench: the LAC and PPP-client emulator and load generator.
//! Not built yet: see issue 6.
fn main() -> std::process::ExitCode {
    eprintln!("l2tpx-bench: not built yet (issue 6)");
    std::process::ExitCode::from(2)
}
