#!/usr/bin/env bash
# Boots this machine's /usr in a throwaway systemd container (systemd-nspawn --volatile=yes,
# own network namespace: loopback only, no mDNS) with dmc installed by install.sh, and checks
# that the hardened dmc.service runs as user dmc and converts a clip with ffmpeg end to end.
#   packaging/check-system-unit.sh BINARY
# Exit 0: it works; 1: it does not (the log says why); 77: the container could not be booted
# here (needs root and systemd-nspawn from systemd-container).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BINARY=${1:?usage: $0 BINARY}
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root"; exit 77; }
command -v systemd-nspawn >/dev/null || { echo "SKIPPED: systemd-nspawn is missing (apt-get install systemd-container)"; exit 77; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/out" "$W/script"
DESTDIR="$W/stage" bash "$HERE/install.sh" --prefix /opt/dmc --binary "$BINARY" >/dev/null
cp -a /etc "$W/etc"
E="$W/etc"
mkdir -p "$E/sysusers.d" "$E/dmc" "$E/systemd/system/multi-user.target.wants"
cp "$W/stage/etc/systemd/system/dmc.service" "$E/systemd/system/dmc.service"
cp "$W/stage/opt/dmc/lib/sysusers.d/dmc.conf" "$E/sysusers.d/dmc.conf"
# The shipped configuration but on loopback, without mDNS, converting.
cat > "$E/dmc/config.toml" <<'TOML'
[node]
output_dir = "/var/lib/dmc/converted"
listen = ["/ip4/127.0.0.1/tcp/4747"]
[discovery]
mdns = false
[converter]
enabled = true
TOML
cat > "$E/systemd/system/dmc-check.service" <<'UNIT'
[Unit]
Description=dmc end-to-end check of the hardened system unit
After=dmc.service
[Service]
Type=oneshot
ExecStart=/bin/sh /check/run.sh
ExecStopPost=/usr/bin/systemctl poweroff
StandardOutput=file:/out/check.log
StandardError=file:/out/check.log
UNIT
ln -sf /etc/systemd/system/dmc.service "$E/systemd/system/multi-user.target.wants/dmc.service"
ln -sf /etc/systemd/system/dmc-check.service "$E/systemd/system/multi-user.target.wants/dmc-check.service"
cat > "$W/script/run.sh" <<'SH'
set -x
for _ in $(seq 1 60); do [ -S /var/lib/dmc/control.sock ] && break; sleep 1; done
mkdir -p /srv/in && chmod 755 /srv/in
ffmpeg -v error -y -f lavfi -i testsrc=duration=2:size=160x120:rate=25 -f lavfi -i sine=duration=2 \
  -c:v libx264 -c:a aac -shortest /srv/in/clip.mp4
chmod 644 /srv/in/clip.mp4
timeout 300 /opt/dmc/bin/dmc --data-dir /var/lib/dmc offer /srv/in/clip.mp4 --profile mkv-x265 --wait
echo "offer-rc=$?"
echo "codecs=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 /var/lib/dmc/converted/clip.mkv | tr '\n' ,)"
echo "owner=$(stat -c %U:%G /var/lib/dmc/converted/clip.mkv)"
systemctl show dmc -p User -p ActiveState -p NRestarts
journalctl -u dmc --no-pager | tail -30
SH

timeout 600 systemd-nspawn --quiet --register=no --keep-unit --volatile=yes -D / --private-network \
  --bind="$E:/etc" --bind="$W/out:/out" --bind-ro="$W/script:/check" \
  --bind-ro="$W/stage/opt/dmc:/opt/dmc" -b systemd.firstboot=off >"$W/boot.log" 2>&1 || true
if [ ! -s "$W/out/check.log" ]; then
  echo "SKIPPED: the container did not boot here; its console said:"
  tail -20 "$W/boot.log"
  exit 77
fi
cat "$W/out/check.log"
for want in "offer-rc=0" "owner=dmc:dmc" "User=dmc" "ActiveState=active" "codecs=hevc,aac,"; do
  grep -qx "$want" "$W/out/check.log" \
    || { echo "FAILED: no line '$want': dmc.service did not convert the clip as user dmc"; exit 1; }
done
echo "OK: dmc.service converted a clip under its hardening, as user dmc"
