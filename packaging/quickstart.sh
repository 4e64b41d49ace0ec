#!/usr/bin/env bash
# Sets up and runs a dmc node on a fresh Debian machine: installs ffmpeg and build tools,
# a Rust toolchain when cargo is missing or too old, builds dmc and starts `dmc node`.
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

echo "==> building dmc (release)"
cargo build --release --locked -p dmc
mkdir -p "$HOME/.local/bin"
install -m 0755 target/release/dmc "$HOME/.local/bin/dmc"
echo "==> installed $HOME/.local/bin/dmc"

echo "==> starting the node (Ctrl-C stops it); in another terminal: dmc peers, dmc offer FILE"
exec "$HOME/.local/bin/dmc" node
