#!/usr/bin/env bash
# Sets up and runs a dmc node on a fresh Debian machine: installs ffmpeg and build tools,
# a Rust toolchain when cargo is missing or too old, then builds and installs dmc with
# install.sh and starts the node: as the system service (root, systemd running), as a user
# service (systemctl --user), or, where no systemd manager is reachable, in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_pkgs=()
for cmd in ffmpeg ffprobe cc curl; do
  command -v "$cmd" >/dev/null || need_pkgs+=("$cmd")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "==> installing ffmpeg and build tools"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg build-essential curl ca-certificates
fi

rust_ok() {
  command -v cargo >/dev/null || return 1
  local v; v=$(rustc --version | awk '{print $2}')
  [ "$(printf '%s\n1.88.0\n' "$v" | sort -V | head -n1)" = "1.88.0" ]
}
if ! rust_ok; then
  echo "==> installing a Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

# shellcheck source=packaging/lib.sh
. packaging/lib.sh
DESTDIR=""
PREFIX=""
MODE=system
if [ "$(id -u)" -eq 0 ] && dmc_can_manage >/dev/null; then
  bash packaging/install.sh
  echo "==> the node runs as the system service: systemctl status dmc, journalctl -u dmc -f"
  echo "    in a shell: dmc peers, dmc offer FILE (members of group dmc, or root)"
  exit 0
fi
MODE=user
dmc_paths
bash packaging/install.sh --user
if dmc_can_manage >/dev/null; then
  echo "==> the node runs as your user service: systemctl --user status dmc, journalctl --user -u dmc -f"
  echo "    in a shell: dmc peers, dmc offer FILE"
  exit 0
fi
echo "==> starting the node in the foreground (Ctrl-C stops it); in another terminal: dmc peers, dmc offer FILE"
exec "$BIN_DIR/dmc" node --config "$CONFIG_FILE"
