# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, never run): the smoke switch, which binaries a bench
# uses, waiting, medians, the network key its nodes share, and local nodes on 127.0.0.1.
# Expects `set -euo pipefail` and the repository root as the current directory.

# SMOKE=1: tiny sizes, one run, the debug build, a few seconds; bench/smoke runs every bench so.
# It checks that a bench still works (any error exits non-zero), not how fast it is.
smoke() { [ -n "${SMOKE:-}" ]; }

# The folder of the builds a bench uses: release normally, debug in smoke mode (no fat-LTO
# release build needed to check that a bench works).
build_dir() { if smoke; then echo target/debug; else echo target/release; fi; }

# cargo build ARGS... in the bench's profile.
cargo_build() {
  if smoke; then cargo build -q --locked "$@"; else cargo build --release -q --locked "$@"; fi
}

# Sets DMC to the dmc binary: $DMC_BIN if set, else the bench's profile build (built here).
resolve_dmc() {
  [ -n "${DMC_BIN:-}" ] || cargo_build -p dmc --bin dmc
  DMC=$(realpath "${DMC_BIN:-$(build_dir)/dmc}")
  [ -x "$DMC" ] || { echo "no dmc binary at $DMC" >&2; exit 1; }
}

# Builds the LAN lab harness (tests/examples/netlab_run.rs) and prints its path. Always the
# debug build: it only runs `ip` around the bench, and a release build of it would cost a
# fat-LTO link for nothing.
netlab_run() {
  cargo build -q --locked -p dmc-tests --example netlab_run
  echo target/debug/examples/netlab_run
}

wait_cmd() { # what timeout_s command...: fails (return 1) after timeout_s of wall time
  local what=$1 end=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || { echo "timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# figure NAME VALUE: prints VALUE, or fails when it is not a number (a bench whose output
# changed shape must not report empty figures).
figure() {
  [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: $1 is not a number: '$2'" >&2; return 1; }
  echo "$2"
}

# get KEY FILE: the value of the line KEY=value that transfer_bench printed into FILE.
get() { figure "$1 in $2" "$(grep "^$1=" "$2" | cut -d= -f2)"; }

# Nodes only talk to nodes holding the same network key. new_network DIR makes one (in DIR);
# join_network DATA_DIR gives it to a node before its first start.
new_network() {
  "$DMC" --data-dir "$1" network new > /dev/null
  NETWORK_KEY="$1/network.key"
}
join_network() {
  mkdir -p "$1"
  install -m 600 "$NETWORK_KEY" "$1/network.key"
}

# --- local nodes on 127.0.0.1 (bench/farm, bench/e2e) ---------------------------------------
# They use DIR (the bench's run folder), THREADS and THREADS_SHIM (see those scripts).

PIDS=()
stop_nodes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# A wrapper that gives ffmpeg `-threads N` as an output option (just before the output file)
# when it converts; other calls (probing encoders) pass through unchanged. Made in $SHIM_DIR
# when THREADS_SHIM is set.
make_threads_shim() {
  SHIM_DIR="$DIR/shim"
  [ -n "$THREADS_SHIM" ] || return 0
  [ -n "$THREADS" ] || { echo "THREADS_SHIM needs THREADS" >&2; exit 1; }
  mkdir -p "$SHIM_DIR"
  cat > "$SHIM_DIR/ffmpeg" <<SH
#!/usr/bin/env bash
case " \$* " in
  *" -progress "*) exec $(command -v ffmpeg) "\${@:1:\$#-1}" -threads $THREADS "\${@: -1}" ;;
  *) exec $(command -v ffmpeg) "\$@" ;;
esac
SH
  chmod +x "$SHIM_DIR/ffmpeg"
}

# start_node RUN_DIR NAME CONVERTER(true|false) PEERS: a node of the bench's network listening
# on 127.0.0.1 (port picked by the kernel), mDNS off, static PEERS, no dashboard (several bench
# nodes, or a user's own node, would contend for its default port), workers = $WORKERS (default
# 1), and for a converter the `[converter]` lines in $EXTRA_CONVERTER; returns once its control
# socket answers.
start_node() {
  local d="$1/$2" extra=""
  mkdir -p "$d"
  join_network "$d/data"
  if [ "$3" = true ] && [ -n "$THREADS" ] && [ -z "$THREADS_SHIM" ]; then
    extra="threads = $THREADS"
  fi
  [ "$3" = true ] && extra+=$'\n'"${EXTRA_CONVERTER:-}"
  cat > "$d/config.toml" <<TOML
[node]
name = "$2"
listen = ["/ip4/127.0.0.1/tcp/0"]
output_dir = "$d/out"

[discovery]
mdns = false
peers = [$4]

[gui]
listen = ""

[converter]
enabled = $3
workers = ${WORKERS:-1}
work_dir = "$d/work"
$extra
TOML
  local path=$PATH
  [ "$3" = true ] && [ -n "$THREADS_SHIM" ] && path="$SHIM_DIR:$PATH"
  PATH=$path DMC_LOG=info "$DMC" --data-dir "$d/data" node --config "$d/config.toml" \
    > "$d/node.log" 2>&1 &
  PIDS+=($!)
  wait_cmd "node $2 to answer" 60 "$DMC" --data-dir "$d/data" info --json
}

# The EXIT trap of a bench with nodes: stops them; on failure shows the end of every node log
# under DIR; removes DIR unless KEEP is set.
finish_nodes() {
  local rc=$?
  stop_nodes
  if [ "$rc" != 0 ] && [ -d "$DIR" ]; then
    find "$DIR" -name node.log | while read -r log; do
      echo "--- end of $log" >&2
      tail -15 "$log" >&2
    done
  fi
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}

addr_of() { # data_dir: the node's 127.0.0.1 TCP address
  "$DMC" --data-dir "$1" info --json | python3 -c '
import json,sys
print(next(a for a in json.load(sys.stdin)["listen_addrs"] if a.startswith("/ip4/127.0.0.1/tcp/")))'
}
converters_online() { # laptop_data_dir count
  "$DMC" --data-dir "$1" peers --json | python3 -c '
import json,sys
n=sum(1 for p in json.load(sys.stdin) if p["online"] and p.get("workers"))
sys.exit(0 if n >= int(sys.argv[1]) else 1)' "$2"
}
