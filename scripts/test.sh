#!/usr/bin/env bash
# README command (b): set up, then run every check CI runs. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "fuzz targets compile"
(cd fuzz && cargo check --locked --bins --quiet)

# CI explores a fixed proptest seed so a rare case found elsewhere cannot
# turn an unrelated submission red; local runs stay random
# (docs/decisions.md D7). Failing cases persist in proptest-regressions/.
if [ "${CI:-}" = "true" ] && [ -z "${PROPTEST_RNG_SEED:-}" ]; then
  export PROPTEST_RNG_SEED=20261122
fi

# The full-system and bench tests start the controlplane and dataplane
# binaries from target/debug; build every binary first.
step "cargo build (workspace binaries)"
cargo build --workspace --bins --locked

step "cargo test (workspace)"
cargo test --workspace --locked
