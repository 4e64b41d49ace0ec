#!/usr/bin/env python3
"""Syncthing side of bench/vs-syncthing: configures two instances and times one transfer.

  syncthing.py config BASE        edit BASE/stA and BASE/stB config.xml (made by `syncthing
                                  generate`, before the first start): one loopback listener
                                  each, no discovery, relays, NAT, usage reports or upgrades,
                                  folder `bench` shared A (send-only, BASE/fa) -> B (receive-
                                  only, BASE/fb), no periodic rescans, no watcher, API keys
  syncthing.py ready BASE SECS    wait until A and B are connected and both folders idle
  syncthing.py run BASE FILE      move FILE into A's folder, POST /rest/db/scan on A, and wait
                                  until B has the whole file under its name (Syncthing fsyncs
                                  and renames its temporary file only when it is complete);
                                  prints syncthing_secs= (move to complete on B) and
                                  scan_secs= (the scan call alone), checks B's copy byte for
                                  byte, then deletes the file on A and waits until B did too
Only the Python standard library; talks to the instances on 127.0.0.1 (inside the bench's
network namespace).
"""
import filecmp
import json
import os
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

INSTANCES = {
    "A": dict(gui="127.0.0.1:8384", key="dmc-bench-key-A", listen="tcp://127.0.0.1:22001",
              folder="fa", ftype="sendonly"),
    "B": dict(gui="127.0.0.1:8385", key="dmc-bench-key-B", listen="tcp://127.0.0.1:22002",
              folder="fb", ftype="receiveonly"),
}
OPTIONS = dict(globalAnnounceEnabled="false", localAnnounceEnabled="false", relaysEnabled="false",
               natEnabled="false", urAccepted="-1", urSeen="3", crashReportingEnabled="false",
               startBrowser="false", autoUpgradeIntervalH="0", stunKeepaliveStartS="0",
               stunKeepaliveMinS="0")
POLL_S = 0.005
RUN_TIMEOUT_S = 3600


def api(name, path, method="GET", timeout=RUN_TIMEOUT_S):
    inst = INSTANCES[name]
    req = urllib.request.Request(f"http://{inst['gui']}{path}", method=method,
                                 headers={"X-API-Key": inst["key"]})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body.strip() else None


def set_option(opts, name, value):
    e = opts.find(name)
    if e is None:
        e = ET.SubElement(opts, name)
    e.text = value


def configure(base, me, other, ids):
    path = f"{base}/st{me}/config.xml"
    tree = ET.parse(path)
    root = tree.getroot()
    c, o = INSTANCES[me], INSTANCES[other]
    gui = root.find("gui")
    gui.find("address").text = c["gui"]
    gui.find("apikey").text = c["key"]
    opts = root.find("options")
    for tag in ("listenAddress", "stunServer", "globalAnnounceServer"):
        for e in opts.findall(tag):
            opts.remove(e)
    la = ET.Element("listenAddress")
    la.text = c["listen"]
    opts.insert(0, la)
    for k, v in OPTIONS.items():
        set_option(opts, k, v)
    dev = ET.Element("device", id=ids[other], name=f"bench{other}", compression="metadata",
                     introducer="false", skipIntroductionRemovals="false", introducedBy="")
    ET.SubElement(dev, "address").text = o["listen"]
    ET.SubElement(dev, "paused").text = "false"
    ET.SubElement(dev, "autoAcceptFolders").text = "false"
    folder = ET.Element("folder", id="bench", label="bench", path=f"{base}/{c['folder']}",
                        type=c["ftype"], rescanIntervalS="0", fsWatcherEnabled="false",
                        fsWatcherDelayS="10", ignorePerms="false", autoNormalize="true")
    ET.SubElement(folder, "filesystemType").text = "basic"
    for d in (ids[me], ids[other]):
        ET.SubElement(ET.SubElement(folder, "device", id=d, introducedBy=""),
                      "encryptionPassword")
    ET.SubElement(folder, "minDiskFree", unit="%").text = "1"
    at = list(root).index(gui)
    root.insert(at, dev)
    root.insert(at, folder)
    tree.write(path)


def config(base):
    ids = {n: ET.parse(f"{base}/st{n}/config.xml").getroot().find("device").get("id")
           for n in INSTANCES}
    configure(base, "A", "B", ids)
    configure(base, "B", "A", ids)


def idle(name):
    s = api(name, "/rest/db/status?folder=bench")
    return s["state"] == "idle" and s["needTotalItems"] == 0


def wait_until(what, timeout_s, check):
    end = time.time() + timeout_s
    while True:
        try:
            if check():
                return
        except (OSError, ValueError, KeyError):
            pass  # not up yet
        if time.time() > end:
            sys.exit(f"syncthing.py: timed out waiting for {what}")
        time.sleep(0.1)


def ready(timeout_s):
    def connected():
        conns = api("A", "/rest/system/connections", timeout=5)["connections"]
        return any(c["connected"] for c in conns.values())
    wait_until("A and B to connect", timeout_s, connected)
    wait_until("both folders to be idle", timeout_s, lambda: idle("A") and idle("B"))


def run(base, src):
    name = os.path.basename(src)
    size = os.stat(src).st_size
    on_a, on_b = f"{base}/fa/{name}", f"{base}/fb/{name}"
    t0 = time.time()
    os.rename(src, on_a)
    api("A", "/rest/db/scan?folder=bench", "POST")  # returns when A's scan is done
    t_scan = time.time()
    while True:
        try:
            if os.stat(on_b).st_size == size:
                break
        except FileNotFoundError:
            pass
        if time.time() - t0 > RUN_TIMEOUT_S:
            sys.exit(f"syncthing.py: {name} not complete on B after {RUN_TIMEOUT_S} s")
        time.sleep(POLL_S)
    t_done = time.time()
    wait_until("B to be idle", RUN_TIMEOUT_S, lambda: idle("B"))
    if not filecmp.cmp(on_a, on_b, shallow=False):
        sys.exit(f"syncthing.py: B's copy of {name} differs from A's")
    print(f"syncthing_secs={t_done - t0:.3f}")
    print(f"scan_secs={t_scan - t0:.3f}")
    os.remove(on_a)
    api("A", "/rest/db/scan?folder=bench", "POST")
    wait_until("B to delete its copy", RUN_TIMEOUT_S, lambda: not os.path.exists(on_b))
    wait_until("both folders to be idle", RUN_TIMEOUT_S, lambda: idle("A") and idle("B"))


def main():
    cmd, base = sys.argv[1], sys.argv[2]
    if cmd == "config":
        config(base)
    elif cmd == "ready":
        ready(float(sys.argv[3]))
    elif cmd == "run":
        run(base, sys.argv[3])
    else:
        sys.exit(f"syncthing.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
