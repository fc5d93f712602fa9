#!/usr/bin/env bash
# README command (a): install everything, then run the demo. Run as root.
#
# l2tpx-bench builds three namespaces (LAC 198.18.0.2 | LNS 198.18.0.1 and
# 198.19.0.1 | CORE 198.19.0.2), starts the l2tpx controlplane and dataplane
# (XDP on both LNS veths) inside the LNS namespace, brings 1,000 L2TP/PPP
# sessions up over 8 tunnels (CHAP against a local users file, addresses
# from the pool 198.18.64.0/18), sends UDP both ways through the data plane
# for about 10 s, tears everything down and prints the results.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
echo "[demo] building (release)"
cargo build --release --workspace --locked

work=$(mktemp -d /tmp/l2tpx-demo.XXXXXX)
out="${L2TPX_DEMO_OUT:-$PWD/target/demo}"
mkdir -p "$out"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

echo "[demo] l2tpx-bench --target l2tpx: 1,000 sessions, 10 s of traffic each way"
# The bench removes its namespaces and stops both daemons itself, on
# success, error or Ctrl-C.
TMPDIR="$work" ./target/release/l2tpx-bench --target l2tpx \
  --tunnels 8 --sessions 1000 --auth chap \
  --pps-up 10000 --pps-down 10000 --duration 10 --size 512 \
  --json "$out/l2tpx-demo.json" --svg "$out/l2tpx-demo.svg"

cat <<MSG

Results: $out/l2tpx-demo.json (schema in docs/bench.md)
Plot (SVG; setup rate over time): $out/l2tpx-demo.svg
(--rfc2544 / --sweep add throughput and latency against offered load.)

l2tpx demo: 1,000 L2TP sessions over 8 tunnels came up against the l2tpx
control plane with PPP (LCP, CHAP, IPCP), and UDP crossed the XDP data plane
both ways at 10,000 packets/s each (the table above shows what arrived).
NOT covered by this demo: RADIUS (it authenticates against a local users
file; RADIUS is exercised by the test suite only), IPv6 (no IPv6 traffic
or IPV6CP is exercised), and peak throughput (see docs/benchmarks.md).
MSG
