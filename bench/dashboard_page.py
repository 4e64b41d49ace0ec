#!/usr/bin/env python3
"""The browser half of bench/dashboard: a running node's dashboard opened in Debian's headless
chromium through chromedriver (WebDriver's HTTP protocol, spoken with the standard library only).

Prints key=value lines:
  first_page_ms.N        navigation of / to the first page of items painted (run N; run 1 is
                         the cold one: nothing in the browser's cache)
  first_page_dom_ms.N    ... to the rows being in the DOM (before the paint)
  items_api_ms.N         the page's GET /v1/items (its first page) as the browser timed it
  rows / page_info       the rows on the first page and its "1–50 of N" line (the check that
                         the page showed the node's items, not an error)
  offer_shown_ms.N       `dmc offer` started to its row showing `offered` on the open page
  cancel_shown_ms.N      `dmc cancel` started to the same row showing `cancelled`
  offer_cli_ms.N, cancel_cli_ms.N   how long of that the dmc command itself ran
  cpu_none_ms, cpu_page_ms, cpu_none2_ms   the node's CPU (utime + stime from /proc/PID/stat)
                         over IDLE_S seconds with no page open, with the page open and nothing
                         changing, and with no page again
Usage: dashboard_page.py DMC DATA_DIR NODE_PID CLIP OUT_DIR RUNS IDLE_S
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

WAIT_S = 60

# Installed before any of the page's scripts runs (CDP Page.addScriptToEvaluateOnNewDocument):
# records when the first rows are in the DOM and the frame after they were painted (both
# performance.now(): milliseconds since the navigation started), and the wall-clock time
# (Date.now()) each (file, phase) pair first showed in the table.
PROBE = r"""
(() => {
  const b = window.__dmcBench = { rows: {}, dom: null, painted: null, count: 0 };
  const look = () => {
    const rows = document.querySelectorAll('#items tbody tr');
    if (rows.length && b.dom === null) {
      b.dom = performance.now();
      b.count = rows.length;
      requestAnimationFrame(() => requestAnimationFrame(() => { b.painted = performance.now(); }));
    }
    const now = Date.now();
    for (const r of rows) {
      const f = r.querySelector('.file'), p = r.querySelector('.phase');
      if (!f || !p) continue;
      const k = f.textContent + '|' + p.textContent;
      if (!(k in b.rows)) b.rows[k] = now;
    }
  };
  new MutationObserver(look).observe(document, { childList: true, subtree: true, characterData: true });
})();
"""


class WebDriverError(Exception):
    pass


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=WAIT_S) as r:
            return json.load(r)["value"]
    except urllib.error.HTTPError as e:
        raise WebDriverError(f"WebDriver {method} {url} answered {e.code}: {e.read()[:500]!r}")


class Browser:
    def __init__(self, driver, profile):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,800", f"--user-data-dir={profile}"]
        caps = {"browserName": "chrome",
                "goog:chromeOptions": {"binary": shutil.which("chromium") or "/usr/bin/chromium",
                                       "args": args}}
        v = call("POST", f"{driver}/session", {"capabilities": {"alwaysMatch": caps}})
        self.base = f"{driver}/session/{v['sessionId']}"

    def cmd(self, method, path, body=None):
        return call(method, self.base + path, body)

    def goto(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": []})

    def cdp(self, command, params):
        return self.cmd("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def wait_js(self, what, script, timeout=WAIT_S):
        end = time.monotonic() + timeout
        while True:
            v = self.js(script)
            if v is not None:
                return v
            if time.monotonic() > end:
                page = self.js("return document.documentElement.outerHTML")[:2000]
                raise WebDriverError(f"timed out waiting for {what}; the page is:\n{page}")
            time.sleep(0.02)

    def screenshot(self, path):
        import base64
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def close(self):
        self.cmd("DELETE", "")


def start_driver(log):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["chromedriver", f"--port={port}"], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    end = time.monotonic() + WAIT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > end or proc.poll() is not None:
                proc.kill()
                raise WebDriverError("chromedriver did not listen")
            time.sleep(0.05)


def dmc(binary, data_dir, *args):
    """Runs dmc; its parsed JSON output and how long it ran (ms)."""
    t0 = time.monotonic()
    out = subprocess.run([binary, "--data-dir", data_dir, *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out), (time.monotonic() - t0) * 1000


def cpu_ms(pid):
    """utime + stime of process PID (all its threads), in milliseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_over(pid, seconds):
    before = cpu_ms(pid)
    time.sleep(seconds)
    return cpu_ms(pid) - before


def first_page(b, origin, run):
    """Opens / afresh and waits for its first page of items to be painted."""
    b.goto(origin + "/")
    v = b.wait_js("the first page of items",
                  "const b = window.__dmcBench; return b && b.painted !== null ? b : null;")
    api = b.js("const e = performance.getEntriesByType('resource')"
               ".find(e => e.name.includes('/v1/items?') && !/[?&]limit=1(&|$)/.test(e.name));"
               " return e ? e.duration : null;")
    print(f"first_page_ms.{run}={v['painted']:.1f}")
    print(f"first_page_dom_ms.{run}={v['dom']:.1f}")
    print(f"items_api_ms.{run}={api if api is None else round(api, 1)}")
    return v


def shown(b, key):
    return b.wait_js(f"{key} on the page",
                     f"return window.__dmcBench.rows[{json.dumps(key)}] ?? null;")


def updates(b, binary, data_dir, clip, out_dir, runs):
    """Offers a file and cancels it, RUNS times, timing each until the open page shows it."""
    for run in range(1, runs + 1):
        name = f"update-{run}.mp4"
        path = os.path.join(out_dir, name)
        shutil.copyfile(clip, path)
        t0 = time.time() * 1000
        offered, cli = dmc(binary, data_dir, "offer", "--again", "--json", path)
        print(f"offer_shown_ms.{run}={shown(b, name + '|offered') - t0:.1f}")
        print(f"offer_cli_ms.{run}={cli:.1f}")
        first = offered[0] if isinstance(offered, list) else offered
        item = first.get("item_id") or first["item"]["item_id"]
        t0 = time.time() * 1000
        _, cli = dmc(binary, data_dir, "cancel", item, "--json")
        print(f"cancel_shown_ms.{run}={shown(b, name + '|cancelled') - t0:.1f}")
        print(f"cancel_cli_ms.{run}={cli:.1f}")


def main():
    binary, data_dir, pid, clip, out_dir, runs, idle_s = sys.argv[1:8]
    runs, idle_s = int(runs), float(idle_s)
    link = dmc(binary, data_dir, "gui", "--json", "--no-open")[0]
    origin = link["dashboard"].rstrip("/")
    with open(os.path.join(out_dir, "chromedriver.log"), "wb") as log:
        driver, url = start_driver(log)
        try:
            b = Browser(url, os.path.join(out_dir, "chromium-profile"))
            try:
                b.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
                b.goto(link["url"])  # logs in: the session cookie
                b.wait_js("the live stream",
                          "return document.getElementById('live').textContent === 'live' || null;")
                # Run 1 is cold: nothing of the page in the browser's cache.
                b.cdp("Network.clearBrowserCache", {})
                for run in range(1, runs + 1):
                    v = first_page(b, origin, run)
                print(f"rows={v['count']}")
                info = b.js("return document.getElementById('page-info').textContent;")
                print(f"page_info={info}")
                b.wait_js("the live stream",
                          "return document.getElementById('live').textContent === 'live' || null;")
                updates(b, binary, data_dir, clip, out_dir, runs)
                b.screenshot(os.path.join(out_dir, "dashboard.png"))
                # The node's CPU: no page, the page open and nothing changing, no page again.
                b.goto("about:blank")
                time.sleep(2)
                print(f"cpu_none_ms={cpu_over(pid, idle_s):.0f}")
                b.goto(origin + "/")
                b.wait_js("the live stream",
                          "return document.getElementById('live').textContent === 'live' || null;")
                time.sleep(2)
                print(f"cpu_page_ms={cpu_over(pid, idle_s):.0f}")
                b.goto("about:blank")
                time.sleep(2)
                print(f"cpu_none2_ms={cpu_over(pid, idle_s):.0f}")
            finally:
                b.close()
        finally:
            driver.kill()
            driver.wait()


if __name__ == "__main__":
    main()
