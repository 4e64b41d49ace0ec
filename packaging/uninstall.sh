#!/usr/bin/env bash
# Stops and removes what install.sh installed: the service, binary, unit, completions and man
# page. Keeps the configuration and the node's data (its identity, database and results)
# unless --purge is given.
#
#   packaging/uninstall.sh [--user] [--prefix DIR] [--purge]
#
#   --user        remove the current user's install (install.sh --user).
#   --prefix DIR  the prefix given to install.sh (default /usr/local, or ~/.local with --user).
#   --purge       also remove the configuration, the data dir and (system) the user dmc.
#   DESTDIR=DIR   remove a staged install under DIR; no service is stopped and no user removed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=packaging/lib.sh
. "$HERE/lib.sh"

MODE=system
PURGE=0
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user ;;
    --purge) PURGE=1 ;;
    --prefix) [ $# -ge 2 ] || dmc_die "--prefix needs a DIR"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dmc_die "unknown option $1; see $0 --help" ;;
  esac
  shift
done
dmc_paths
DESTDIR=${DESTDIR%/}

if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  dmc_die "removing the system install needs root: run it with sudo, or pass --user"
fi

dmc_say "uninstalling dmc ($MODE) ${DESTDIR:+from $DESTDIR }with prefix $PREFIX"
if why=$(dmc_can_manage); then
  if dmc_systemctl cat dmc.service >/dev/null 2>&1; then
    dmc_systemctl disable --now --quiet dmc.service || true
    echo "    stopped    dmc.service (and disabled it)"
  fi
else
  echo "    skipped    stopping the service: $why"
fi

gone() {
  local p="$DESTDIR$1"
  if [ -e "$p" ] || [ -L "$p" ]; then
    rm -f "$p"
    echo "    removed    $1"
  fi
}
gone "$UNIT_FILE"
gone "$BIN_DIR/dmc"
[ -z "$SYSUSERS_FILE" ] || gone "$SYSUSERS_FILE"
gone "$BASH_COMP"
gone "$ZSH_COMP"
gone "$FISH_COMP"
gone "$MAN_FILE"
if [ -z "$DESTDIR" ] && dmc_can_manage >/dev/null; then
  dmc_systemctl daemon-reload
fi

if [ "$PURGE" = 1 ]; then
  gone "$CONFIG_FILE"
  rmdir "$DESTDIR$(dirname "$CONFIG_FILE")" 2>/dev/null || true
  case "$DATA_DIR" in /*/*) ;; *) dmc_die "refusing to remove data dir '$DATA_DIR'" ;; esac
  if [ -d "$DESTDIR$DATA_DIR" ]; then
    rm -rf -- "$DESTDIR$DATA_DIR"
    echo "    removed    $DATA_DIR (everything the node kept there)"
  fi
  if [ "$MODE" = system ] && [ -z "$DESTDIR" ] && getent passwd dmc >/dev/null; then
    userdel dmc
    getent group dmc >/dev/null && groupdel dmc
    echo "    removed    user and group dmc"
  fi
  dmc_say "done; nothing of dmc is left"
else
  dmc_say "done; kept $CONFIG_FILE and $DATA_DIR (the node's identity, data and results): --purge removes them"
fi
