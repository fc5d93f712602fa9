//! The l2tpx control plane: L2TP control (UDP 1701), PPP, RADIUS.
//! Not built yet: see issue 3 (L2TP) and issue 4 (PPP/RADIUS).
fn main() -> std::process::ExitCode {
    eprintln!("controlplane: not built yet (the L2TP engine is issue 3)");
    std::process::ExitCode::from(2)
}
