#!/usr/bin/env bash
# By hand (root): two dmc nodes in two network namespaces joined by a veth pair find each
# other by mDNS (no static peers), then veth1 goes down and up; the log timestamps show how
# fast they reconnect. Never touches real interfaces. Usage: netns_discovery.sh [dmc-binary]
set -euo pipefail
DMC=$(realpath "${1:-target/debug/dmc}")
TMP=$(mktemp -d)
NS1=dmcdisc1-$$; NS2=dmcdisc2-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS1" 2>/dev/null || true
  ip netns del "$NS2" 2>/dev/null || true
  echo "logs kept in $TMP"
}
trap cleanup EXIT
ip netns add "$NS1"; ip netns add "$NS2"
ip link add veth1 netns "$NS1" type veth peer name veth2 netns "$NS2"
ip -n "$NS1" addr add 10.99.0.1/24 dev veth1; ip -n "$NS2" addr add 10.99.0.2/24 dev veth2
for ns in "$NS1" "$NS2"; do ip -n "$ns" link set lo up; done
ip -n "$NS1" link set veth1 up; ip -n "$NS2" link set veth2 up
for n in 1 2; do
  mkdir -p "$TMP/n$n"
  cat > "$TMP/n$n/config.toml" <<CONF
[node]
name = "node$n"
listen = ["/ip4/0.0.0.0/tcp/4747"]
output_dir = "$TMP/n$n/out"
[discovery]
mdns = true
peers = []
CONF
done
export DMC_LOG=info,dmc_node=debug
ip netns exec "$NS1" "$DMC" --data-dir "$TMP/n1" node >"$TMP/n1.log" 2>&1 & PIDS+=($!)
ip netns exec "$NS2" "$DMC" --data-dir "$TMP/n2" node >"$TMP/n2.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do
  grep -q "peer connected" "$TMP/n1.log" && grep -q "peer connected" "$TMP/n2.log" && break; sleep 0.1
done
grep -h "mDNS: \|peer connected" "$TMP/n1.log" "$TMP/n2.log" | sort
ip netns exec "$NS1" "$DMC" --data-dir "$TMP/n1" peers
sleep 2
echo "== $(date -u +%H:%M:%S.%N) veth1 down"; ip -n "$NS1" link set veth1 down
sleep 3
echo "== $(date -u +%H:%M:%S.%N) veth1 up"; ip -n "$NS1" link set veth1 up
for _ in $(seq 1 100); do [ "$(grep -c 'peer connected' "$TMP/n1.log")" -ge 2 ] && break; sleep 0.1; done
sleep 1
echo "== after the link returned:"
grep -h "interfaces changed\|peer connected\|peer disconnected\|replaces\|ping failed\|closing" \
  "$TMP/n1.log" "$TMP/n2.log" | sort
ip netns exec "$NS2" "$DMC" --data-dir "$TMP/n2" peers
