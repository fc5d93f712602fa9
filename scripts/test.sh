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

step "cargo test (workspace)"
cargo test --workspace --locked
