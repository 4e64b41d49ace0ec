#!/usr/bin/env bash
# Boots this machine's /usr in a throwaway systemd container (systemd-nspawn --volatile=yes,
# own network namespace: loopback only, no mDNS) and, inside it, runs install.sh for real:
# the hardened dmc.service must be enabled and started, run as user dmc and convert a clip with
# ffmpeg end to end; a second install.sh changes nothing and leaves the node running;
# uninstall.sh stops it and keeps config and data; uninstall.sh --purge removes them and the user.
#   packaging/check-system-unit.sh BINARY
# Exit 0: all of that holds; 1: something does not (the log says what); 77: the container
# could not be booted here (needs root and systemd-nspawn from systemd-container). The test
# that runs it (tests/tests/packaging.rs) fails on anything but 0.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BINARY=$(realpath "${1:?usage: $0 BINARY}")
[ "$(id -u)" -eq 0 ] || { echo "cannot run: needs root"; exit 77; }
command -v systemd-nspawn >/dev/null || { echo "cannot run: systemd-nspawn is missing (apt-get install systemd-container)"; exit 77; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/out" "$W/check"
cp -a /etc "$W/etc"
E="$W/etc"
mkdir -p "$E/systemd/system/multi-user.target.wants"
cat > "$E/systemd/system/dmc-check.service" <<'UNIT'
[Unit]
Description=dmc end-to-end check of install.sh and the hardened system unit
[Service]
Type=oneshot
ExecStart=/bin/bash /check/run.sh
ExecStopPost=/usr/bin/systemctl poweroff
StandardOutput=file:/out/check.log
StandardError=file:/out/check.log
UNIT
ln -sf /etc/systemd/system/dmc-check.service "$E/systemd/system/multi-user.target.wants/dmc-check.service"
cat > "$W/check/run.sh" <<'SH'
set -x
# The shipped configuration (socket for group dmc) but on loopback, without mDNS, converting;
# install.sh keeps it.
mkdir -p /etc/dmc
cat > /etc/dmc/config.toml <<'TOML'
[node]
output_dir = "/var/lib/dmc/converted"
listen = ["/ip4/127.0.0.1/tcp/4747"]
[discovery]
mdns = false
[converter]
enabled = true
[control]
group = "dmc"
TOML
cp /etc/dmc/config.toml /tmp/config.before
bash /src/packaging/install.sh --prefix /opt/dmc --binary /dmc-bin && echo "install-1=ok"
for _ in $(seq 1 60); do [ -S /var/lib/dmc/control.sock ] && break; sleep 1; done
cmp -s /etc/dmc/config.toml /tmp/config.before && echo "config=kept"
mkdir -p /srv/in && chmod 755 /srv/in
ffmpeg -v error -y -f lavfi -i testsrc=duration=2:size=160x120:rate=25 -f lavfi -i sine=duration=2 \
  -c:v libx264 -c:a aac -shortest /srv/in/clip.mp4
chmod 644 /srv/in/clip.mp4
timeout 300 /opt/dmc/bin/dmc --data-dir /var/lib/dmc offer /srv/in/clip.mp4 --profile mkv-x265 --wait
echo "offer-rc=$?"
echo "codecs=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 /var/lib/dmc/converted/clip.mkv | tr '\n' ,)"
echo "owner=$(stat -c %U:%G /var/lib/dmc/converted/clip.mkv)"
# Group dmc reaches the socket and reads results, nothing else of the data dir.
echo "modes=$(stat -c %a:%G /var/lib/dmc /var/lib/dmc/control.sock /var/lib/dmc/dmc.sqlite \
  /var/lib/dmc/dmc.sqlite-wal /var/lib/dmc/work /var/lib/dmc/converted/clip.mkv | tr '\n' ' ')"
useradd --no-create-home --groups dmc alice
echo "member=$(runuser -u alice -- ls /var/lib/dmc >/dev/null 2>&1 && echo lists) \
$(runuser -u alice -- head -c1 /var/lib/dmc/dmc.sqlite >/dev/null 2>&1 && echo reads-db) \
$(runuser -u alice -- /opt/dmc/bin/dmc --data-dir /var/lib/dmc list >/dev/null && echo uses-cli) \
$(runuser -u alice -- head -c1 /var/lib/dmc/converted/clip.mkv >/dev/null && echo reads-result)"
userdel alice
systemctl show dmc -p User -p ActiveState -p UnitFileState
pid1=$(systemctl show dmc -p MainPID --value)
bash /src/packaging/install.sh --prefix /opt/dmc --binary /dmc-bin | tee /tmp/install-2.log
grep -q "nothing changed" /tmp/install-2.log && ! grep -q "installed " /tmp/install-2.log \
  && [ "$(systemctl show dmc -p MainPID --value)" = "$pid1" ] && echo "install-2=unchanged"
journalctl -u dmc --no-pager | tail -30
bash /src/packaging/uninstall.sh --prefix /opt/dmc
echo "after-uninstall=$(systemctl is-active dmc) $(test -f /etc/dmc/config.toml && echo config) $(test -f /var/lib/dmc/identity.key && echo data) $(test -e /opt/dmc/bin/dmc && echo binary)"
bash /src/packaging/uninstall.sh --prefix /opt/dmc --purge
echo "after-purge=$(getent passwd dmc || echo no-user) $(test -e /etc/dmc && echo config) $(test -e /var/lib/dmc && echo data)"
SH

timeout 600 systemd-nspawn --quiet --register=no --keep-unit --volatile=yes -D / --private-network \
  --bind="$E:/etc" --bind="$W/out:/out" --bind-ro="$W/check:/check" \
  --bind-ro="$HERE/..:/src" --bind-ro="$BINARY:/dmc-bin" \
  -b systemd.firstboot=off >"$W/boot.log" 2>&1 || true
if [ ! -s "$W/out/check.log" ]; then
  echo "cannot run: the container did not boot here; its console said:"
  tail -20 "$W/boot.log"
  exit 77
fi
cat "$W/out/check.log"
for want in "install-1=ok" "config=kept" "offer-rc=0" "codecs=hevc,aac," "owner=dmc:dmc" \
  "modes=710:dmc 660:dmc 600:dmc 600:dmc 700:dmc 640:dmc " "member=  uses-cli reads-result" \
  "User=dmc" "ActiveState=active" "UnitFileState=enabled" "install-2=unchanged" \
  "after-uninstall=inactive config data " "after-purge=no-user  "; do
  grep -qxF -- "$want" "$W/out/check.log" || { echo "FAILED: no line '$want' in the log above"; exit 1; }
done
echo "OK: install.sh set up dmc.service, which converted a clip under its hardening as user dmc; uninstall.sh cleaned up"
