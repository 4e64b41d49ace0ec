#!/usr/bin/env bash
# Installs dmc as a service: the binary, a systemd unit, shell completions (bash, zsh, fish),
# the man page and a default configuration (never overwriting one), then enables and starts
# the service. Running it again changes nothing that is already in place.
#
#   packaging/install.sh [--user] [--binary PATH] [--prefix DIR] [--no-start]
#
#   (default)      system service: run as root; user and group `dmc`, /usr/local/bin/dmc,
#                  /etc/systemd/system/dmc.service, /etc/dmc/config.toml, data in /var/lib/dmc.
#   --user         for the current user only: ~/.local/bin/dmc,
#                  ~/.config/systemd/user/dmc.service, ~/.config/dmc/config.toml,
#                  data in ~/.local/share/dmc (the dmc CLI's default).
#   --binary PATH  install this dmc binary instead of building one (cargo build --release).
#   --prefix DIR   where bin/ and share/ go (default /usr/local, or ~/.local with --user).
#   --no-start     do not enable or start the service.
#   DESTDIR=DIR    stage everything under DIR (for packaging and tests): no user is created and
#                  no service enabled or started.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=packaging/lib.sh
. "$HERE/lib.sh"

MODE=system
BINARY=""
START=1
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user ;;
    --binary) [ $# -ge 2 ] || dmc_die "--binary needs a PATH"; BINARY=$2; shift ;;
    --binary=*) BINARY=${1#--binary=} ;;
    --prefix) [ $# -ge 2 ] || dmc_die "--prefix needs a DIR"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    --no-start) START=0 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dmc_die "unknown option $1; see $0 --help" ;;
  esac
  shift
done
dmc_paths
DESTDIR=${DESTDIR%/}

if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  dmc_die "a system install needs root: run it with sudo, or pass --user to install for yourself"
fi

# The binary: given, or built from this checkout.
if [ -n "$BINARY" ]; then
  if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
    dmc_die "--binary $BINARY is not an executable file; build one with cargo build --release -p dmc"
  fi
else
  command -v cargo >/dev/null \
    || dmc_die "cargo is not on PATH (under sudo it often is not): build first with
  cargo build --release --locked -p dmc
then pass --binary target/release/dmc (or install Rust: https://rustup.rs)"
  dmc_say "building dmc (release)"
  (cd "$HERE/.." && cargo build --release --locked -p dmc)
  BINARY="$HERE/../target/release/dmc"
fi
"$BINARY" --version >/dev/null 2>&1 \
  || dmc_die "$BINARY does not run here (built for another machine?)"

CHANGED=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# put SRC DEST MODE: installs SRC at DESTDIR/DEST with MODE unless it is already identical.
put() {
  local src=$1 dest="$DESTDIR$2" mode=$3
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$src" "$dest" \
    && [ "$(stat -c %a "$dest")" = "$(printf '%o' "$((8#$mode))")" ]; then
    echo "    unchanged  $2"
    return
  fi
  install -m "$mode" "$src" "$dest.dmc-new"
  mv -f "$dest.dmc-new" "$dest"
  echo "    installed  $2"
  CHANGED=1
}

# keep SRC DEST MODE: installs SRC at DESTDIR/DEST only when nothing is there (configuration).
keep() {
  local src=$1 dest="$DESTDIR$2" mode=$3
  if [ -e "$dest" ]; then
    echo "    kept       $2 (exists; never overwritten)"
    return
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" "$src" "$dest.dmc-new"
  mv -f "$dest.dmc-new" "$dest"
  echo "    created    $2"
  CHANGED=1
}

dmc_say "installing dmc ($MODE) ${DESTDIR:+into $DESTDIR }with prefix $PREFIX"
put "$BINARY" "$BIN_DIR/dmc" 0755

# The unit, with ExecStart pointing at the installed binary.
if [ "$MODE" = system ]; then
  sed "s#^ExecStart=/usr/bin/dmc #ExecStart=$BIN_DIR/dmc #" "$HERE/systemd/dmc.service" > "$WORK/dmc.service"
else
  sed "s#^ExecStart=%h/.local/bin/dmc #ExecStart=$BIN_DIR/dmc #" "$HERE/systemd/user/dmc.service" > "$WORK/dmc.service"
fi
grep -q "^ExecStart=$BIN_DIR/dmc " "$WORK/dmc.service" || dmc_die "could not set ExecStart in the unit"
put "$WORK/dmc.service" "$UNIT_FILE" 0644
[ -z "$SYSUSERS_FILE" ] || put "$HERE/sysusers.d/dmc.conf" "$SYSUSERS_FILE" 0644

# Completions and the man page, from the binary itself.
"$BINARY" completions bash > "$WORK/dmc.bash"
"$BINARY" completions zsh > "$WORK/_dmc"
"$BINARY" completions fish > "$WORK/dmc.fish"
"$BINARY" man > "$WORK/dmc.1"
put "$WORK/dmc.bash" "$BASH_COMP" 0644
put "$WORK/_dmc" "$ZSH_COMP" 0644
put "$WORK/dmc.fish" "$FISH_COMP" 0644
put "$WORK/dmc.1" "$MAN_FILE" 0644

# The configuration: written once, never overwritten.
keep "$HERE/config/$MODE.toml" "$CONFIG_FILE" 0644

# The user (system mode) and the data folder.
can_manage_why=$(dmc_can_manage) && can_manage=1 || can_manage=0
if [ "$MODE" = system ]; then
  if [ -n "$DESTDIR" ]; then
    echo "    skipped    creating user dmc (DESTDIR is set)"
    mkdir -p "$DESTDIR$DATA_DIR"
    chmod 0710 "$DESTDIR$DATA_DIR"
  else
    if ! getent passwd dmc >/dev/null; then
      if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$SYSUSERS_FILE"
      else
        useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
          --shell /usr/sbin/nologin --comment "dmc media conversion node" dmc
      fi
      echo "    created    user and group dmc"
      CHANGED=1
    fi
    install -d -m 0710 -o dmc -g dmc "$DATA_DIR"
  fi
else
  mkdir -p "$DESTDIR$DATA_DIR"
  chmod 0700 "$DESTDIR$DATA_DIR"
fi

# Enable and start.
if [ "$START" = 0 ]; then
  dmc_say "not enabling or starting the service (--no-start)"
elif [ "$can_manage" = 0 ]; then
  dmc_say "not enabling or starting the service: $can_manage_why"
  if [ -z "$DESTDIR" ]; then
    if [ "$MODE" = system ]; then
      echo "    run it in the foreground: sudo -u dmc $BIN_DIR/dmc --data-dir $DATA_DIR node --config $CONFIG_FILE"
    else
      echo "    run it in the foreground: $BIN_DIR/dmc node --config $CONFIG_FILE"
    fi
  fi
else
  dmc_systemctl daemon-reload
  dmc_systemctl enable --quiet dmc.service
  if [ "$CHANGED" = 1 ]; then
    dmc_systemctl restart dmc.service
    dmc_say "dmc.service enabled and (re)started"
  else
    dmc_systemctl start dmc.service
    dmc_say "dmc.service enabled and running (nothing changed)"
  fi
fi

if [ "$MODE" = system ]; then
  dmc_say "done. Use the node: sudo usermod -aG dmc \$USER (log in again), then dmc status"
else
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "    note: $BIN_DIR is not on PATH; add it (e.g. in ~/.profile)" ;;
  esac
  if command -v zsh >/dev/null 2>&1; then
    echo "    zsh: completions need fpath+=($(dirname "$ZSH_COMP")) in ~/.zshrc"
  fi
  dmc_say "done. Configuration: $CONFIG_FILE; try: dmc info"
fi
