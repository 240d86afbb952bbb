#!/usr/bin/env python3
"""Open N IPC connections that never send a byte, then make M requests
(account_version) on new connections; print the time of each and
"answered K of M" for those answered within 3 s.

    silent-ipc.py SOCKET N M
"""
import socket
import sys
import time

path, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
silent = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    silent.append(s)
ok = 0
for i in range(m):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(5)
    s.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"account_version","params":[]}\n' % i)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            buf += b
    except OSError:
        pass
    took = time.monotonic() - t0
    print("# IPC request %d beside %d silent connections: %.3f s" % (i + 1, n, took))
    if b'"result"' in buf and took < 3:
        ok += 1
    s.close()
print("answered %d of %d" % (ok, m))
for s in silent:
    s.close()
