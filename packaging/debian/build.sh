#!/usr/bin/env bash
# Builds the Debian package: the release binary, the files generated from it (completions, man
# page, the user unit pointing at /usr/bin/dmc) under target/release/deb/, then `cargo deb`
# with the metadata in cli/Cargo.toml. Needs cargo-deb (cargo install cargo-deb).
#   packaging/debian/build.sh [extra cargo-deb options]   ->  target/debian/dmc_*.deb
#   PROFILE=dev packaging/debian/build.sh   (a quick unoptimised package, to look at its contents)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-deb >/dev/null || { echo "error: cargo-deb is missing: cargo install cargo-deb" >&2; exit 1; }
profile=${PROFILE:-release}
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
cargo build --profile "$profile" --locked -p dmc
out=target/$dir/deb
mkdir -p "$out"
bin=target/$dir/dmc
"$bin" completions bash > "$out/dmc.bash"
"$bin" completions zsh > "$out/_dmc"
"$bin" completions fish > "$out/dmc.fish"
"$bin" man > "$out/dmc.1"
sed "s#^ExecStart=%h/.local/bin/dmc #ExecStart=/usr/bin/dmc #" packaging/systemd/user/dmc.service > "$out/dmc-user.service"
grep -q "^ExecStart=/usr/bin/dmc " "$out/dmc-user.service"
cargo deb -p dmc --no-build --profile "$profile" "$@"
