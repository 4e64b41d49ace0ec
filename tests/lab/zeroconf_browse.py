#!/usr/bin/env python3
"""Browses a DNS-SD service type with python-zeroconf (an mDNS implementation that is not
dmc's) for a few seconds and prints, as JSON, each service found: name, IPv4 addresses, port
and TXT properties. Used by tests/tests/lan_lab.rs inside a lab network namespace.

Usage: zeroconf_browse.py [SERVICE_TYPE] [SECONDS]   (default _dmc._tcp.local. 4)
"""
import json
import sys
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf


def text(b):
    if b is None:
        return None
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def main():
    stype = sys.argv[1] if len(sys.argv) > 1 else "_dmc._tcp.local."
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    names = set()

    def on_change(zeroconf, service_type, name, state_change):
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            names.add(name)

    browser = ServiceBrowser(zc, stype, handlers=[on_change])
    time.sleep(secs)
    services = []
    for name in sorted(names):
        info = zc.get_service_info(stype, name, timeout=3000)
        if info is None:
            services.append({"name": name, "resolved": False})
            continue
        services.append(
            {
                "name": name,
                "resolved": True,
                "server": info.server,
                "addresses": info.parsed_addresses(),
                "port": info.port,
                "properties": {text(k): text(v) for k, v in info.properties.items()},
            }
        )
    browser.cancel()
    zc.close()
    json.dump(services, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
