#!/usr/bin/env python3
"""Plain TCP copy of one file over loopback, the baseline of bench/e2e.

    tcp_copy.py SRC DEST

A receiver thread listens on 127.0.0.1 (port picked by the kernel), reads 1 MiB at a time,
writes DEST and fsyncs it; the sender sends SRC with sendfile. Like transfer_bench's tcp-send /
tcp-recv, without building it. No encryption, no hashing: what a bare copy costs.
"""

import os
import socket
import sys
import threading


def receive(listener: socket.socket, dest: str, errors: list) -> None:
    try:
        conn, _ = listener.accept()
        with conn, open(dest, "wb") as out:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except OSError as e:
        errors.append(e)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: tcp_copy.py SRC DEST", file=sys.stderr)
        return 2
    src, dest = sys.argv[1], sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    errors: list = []
    t = threading.Thread(target=receive, args=(listener, dest, errors))
    t.start()
    with socket.create_connection(listener.getsockname()) as sock, open(src, "rb") as f:
        sock.sendfile(f)
        sock.shutdown(socket.SHUT_WR)
        t.join()
    listener.close()
    if errors:
        print(f"tcp_copy: {errors[0]}", file=sys.stderr)
        return 1
    if os.path.getsize(src) != os.path.getsize(dest):
        print(f"tcp_copy: {dest} has a different size from {src}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
