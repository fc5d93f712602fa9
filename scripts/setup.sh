#!/usr/bin/env bash
# Installs everything l2tpx needs on Debian 12 (run as root). Idempotent:
# packages already present are skipped, and re-running changes nothing.
set -euo pipefail

APT_PACKAGES=(
  # eBPF toolchain (ARCHITECTURE §4): Debian clang-19 builds the XDP C.
  clang-19 llvm-19 libbpf-dev libelf-dev zlib1g-dev pkg-config m4 gcc make
  # Test topology and real peers.
  iproute2 iputils-ping ethtool tshark tcpdump xl2tpd l2tpns freeradius freeradius-utils
  # Tools the scripts use.
  ca-certificates curl git python3 procps
)
RUST_MIN="1.95"

log() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages and the tests create network namespaces)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Service daemons must not start from their init scripts (ARCHITECTURE §4);
  # the tests start them in their own namespaces with their own configs.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Nothing here may run as a system service: keep them off at boot too.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now xl2tpd l2tpns freeradius >/dev/null 2>&1 || true
  fi
else
  log "apt packages present"
fi

# Rust: the workspace needs rustc >= $RUST_MIN. Debian's rustc is too old, so
# use rustup where no recent toolchain is installed.
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
have_rust() {
  command -v cargo >/dev/null 2>&1 || return 1
  local v; v=$(rustc --version | awk '{print $2}')
  [ "$(printf '%s\n%s\n' "$RUST_MIN" "$v" | sort -V | head -1)" = "$RUST_MIN" ]
}
if ! have_rust; then
  log "installing Rust $RUST_MIN with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --profile minimal --component clippy,rustfmt --default-toolchain "$RUST_MIN"
  . "$HOME/.cargo/env"
fi
for c in clippy rustfmt; do
  if ! cargo "$c" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done
log "$(rustc --version)"
log "done"
