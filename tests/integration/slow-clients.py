#!/usr/bin/env python3
"""Hold N HTTP connections from a local source address to 127.0.0.1:PORT,
sending their request headers one line every INTERVAL seconds, for at most
SECONDS seconds; print how many the server had closed by then.  Used to
check that slow senders from one address do not lock out another.

    slow-clients.py PORT SOURCE N INTERVAL SECONDS
"""
import select
import socket
import sys
import time

port, src, n, interval, seconds = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                   float(sys.argv[4]), float(sys.argv[5]))
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
    s.setblocking(False)
    socks.append(s)
print("# %d slow connections from %s open" % (n, src), flush=True)
closed = set()
end = time.monotonic() + seconds
while time.monotonic() < end:
    time.sleep(min(interval, max(0.0, end - time.monotonic())))
    for i, s in enumerate(socks):
        if i in closed:
            continue
        r, _, _ = select.select([s], [], [], 0)
        try:
            if r and not s.recv(4096):
                closed.add(i)
                continue
            s.send(b"X-Slow: 1\r\n")
        except OSError:
            closed.add(i)
print("# %d of %d slow connections closed by the server" % (len(closed), n), flush=True)
for s in socks:
    s.close()
