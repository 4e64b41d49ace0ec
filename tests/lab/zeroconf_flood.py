#!/usr/bin/env python3
"""Floods the LAN with fake dmc adverts using python-zeroconf: COUNT `_dmc._tcp.local.`
services, each with a new valid node id, the given network fingerprint and protocol version,
half of them at addresses on SUBNET (a /24 prefix such as 10.101.0, hosts that do not exist)
and half at public addresses (TEST-NET-3, 203.0.113.x). Keeps answering for SECONDS, then
unregisters nothing (the process just exits). Used by tests/tests/net_hardening.rs inside a
lab network namespace.

Usage: zeroconf_flood.py FINGERPRINT VERSION SUBNET COUNT SECONDS
"""
import asyncio
import os
import socket
import sys

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = ALPHABET[r] + out
    pad = len(b) - len(b.lstrip(b"\0"))
    return "1" * pad + out


def peer_id():
    """A valid Ed25519 libp2p peer id (identity multihash of the protobuf public key)."""
    return base58(b"\x00\x24\x08\x01\x12\x20" + os.urandom(32))


async def main():
    fingerprint, version, subnet = sys.argv[1], sys.argv[2], sys.argv[3]
    count, seconds = int(sys.argv[4]), float(sys.argv[5])
    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    infos = []
    for i in range(count):
        if i % 2 == 0:
            ip = f"{subnet}.{100 + (i // 2) % 150}"
        else:
            ip = f"203.0.113.{1 + (i // 2) % 250}"
        pid = peer_id()
        infos.append(
            AsyncServiceInfo(
                "_dmc._tcp.local.",
                f"fake{i} {pid[-6:]}._dmc._tcp.local.",
                addresses=[socket.inet_aton(ip)],
                port=4747,
                properties={"id": pid, "net": fingerprint, "ver": version, "role": "converter"},
                server=f"fake{i}-{pid[-8:].lower()}.local.",
            )
        )
    # Registered in batches, without probing (cooperating responders), so the flood is quick.
    for k in range(0, count, 100):
        await asyncio.gather(
            *[
                azc.async_register_service(info, cooperating_responders=True)
                for info in infos[k : k + 100]
            ]
        )
    print(f"registered {count}", flush=True)
    await asyncio.sleep(seconds)
    await azc.async_close()


if __name__ == "__main__":
    asyncio.run(main())
