# shellcheck shell=bash disable=SC2034
# Shared by install.sh, uninstall.sh and quickstart.sh: where each file of a dmc install goes.
# Sourced, not run. Inputs: MODE (system|user), DESTDIR (staging root, may be empty), PREFIX
# (may be empty: /usr/local for system, ~/.local for user). Sets the path variables below.

dmc_die() { echo "error: $*" >&2; exit 1; }
dmc_say() { echo "==> $*"; }

# dmc_paths: sets BIN_DIR, UNIT_FILE, CONFIG_FILE, DATA_DIR, BASH_COMP, ZSH_COMP, FISH_COMP,
# MAN_FILE, SYSUSERS_FILE (system only) as final paths (without DESTDIR).
dmc_paths() {
  case "$MODE" in
    system)
      PREFIX=${PREFIX:-/usr/local}
      BIN_DIR="$PREFIX/bin"
      UNIT_FILE=/etc/systemd/system/dmc.service
      CONFIG_FILE=/etc/dmc/config.toml
      DATA_DIR=/var/lib/dmc
      SHARE="$PREFIX/share"
      FISH_COMP="$SHARE/fish/vendor_completions.d/dmc.fish"
      SYSUSERS_FILE="$PREFIX/lib/sysusers.d/dmc.conf"
      ;;
    user)
      [ -n "${HOME:-}" ] || dmc_die "HOME is not set; set it to install for the current user"
      PREFIX=${PREFIX:-$HOME/.local}
      BIN_DIR="$PREFIX/bin"
      local config_home=${XDG_CONFIG_HOME:-$HOME/.config}
      UNIT_FILE="$config_home/systemd/user/dmc.service"
      CONFIG_FILE="$config_home/dmc/config.toml"
      DATA_DIR="$HOME/.local/share/dmc" # the dmc CLI's default data dir
      SHARE="$PREFIX/share"
      FISH_COMP="$SHARE/fish/vendor_completions.d/dmc.fish"
      SYSUSERS_FILE=""
      ;;
    *) dmc_die "unknown mode $MODE" ;;
  esac
  BASH_COMP="$SHARE/bash-completion/completions/dmc"
  ZSH_COMP="$SHARE/zsh/site-functions/_dmc"
  MAN_FILE="$SHARE/man/man1/dmc.1"
}

# dmc_systemctl ARGS...: systemctl for the mode (`--user` for user installs).
dmc_systemctl() {
  if [ "$MODE" = user ]; then systemctl --user "$@"; else systemctl "$@"; fi
}

# dmc_can_manage: whether services can be enabled and started here (no staging, and a systemd
# manager of the mode's kind is running). Prints why not on stdout when it cannot.
dmc_can_manage() {
  if [ -n "${DESTDIR:-}" ]; then
    echo "DESTDIR is set (staging into $DESTDIR)"
    return 1
  fi
  if ! command -v systemctl >/dev/null 2>&1; then
    echo "systemctl is not installed"
    return 1
  fi
  if [ "$MODE" = system ]; then
    [ -d /run/systemd/system ] || { echo "systemd is not running on this machine"; return 1; }
  else
    systemctl --user show-environment >/dev/null 2>&1 \
      || { echo "no systemd user manager is reachable (no login session?)"; return 1; }
  fi
}
