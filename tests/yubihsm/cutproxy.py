#!/usr/bin/env python3
"""tests/yubihsm/cutproxy.py - a TCP relay on 127.0.0.1 that the tests can cut.

Test code.  yubihsm_pkcs11.so talks HTTP to a connector; between it and the
simulated HSM (tests/yubihsm/mockhsm) this relay plays the USB cable: "cut"
closes every relayed connection and stops listening (the module then finds
no device behind its connector: the token is gone), "join" listens again.
The HSM behind it keeps its keys, as a device that was unplugged does.

  cutproxy.py --listen PORT --to PORT --ctl SOCKET [--lifetime S]

Control, one line per connection on the Unix socket: cut | join | status |
quit.  Every loop is bounded: the relay exits after --lifetime seconds.
"""

import argparse
import os
import selectors
import socket
import sys
import time

MAX_CTL_LINE = 64
CHUNK = 65536


class Relay:
    def __init__(self, args):
        self.port, self.to = args.listen, args.to
        self.sel = selectors.DefaultSelector()
        self.listener = None
        self.peer = {}           # socket -> the socket it relays to
        self.deadline = time.monotonic() + args.lifetime
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(args.ctl):
            os.unlink(args.ctl)
        self.ctl.bind(args.ctl)
        os.chmod(args.ctl, 0o600)
        self.ctl.listen(4)
        self.sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        self.join()

    def join(self):
        if self.listener is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, "listen")

    def close_pair(self, s):
        other = self.peer.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            self.peer.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def cut(self):
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
        for s in list(self.peer):
            self.close_pair(s)

    def accept(self):
        c, _ = self.listener.accept()
        u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u.settimeout(5)
        try:
            u.connect(("127.0.0.1", self.to))
        except OSError:
            c.close()
            u.close()
            return
        u.settimeout(None)
        self.peer[c], self.peer[u] = u, c
        self.sel.register(c, selectors.EVENT_READ, "relay")
        self.sel.register(u, selectors.EVENT_READ, "relay")

    def relay(self, s):
        try:
            data = s.recv(CHUNK)
            if data:
                self.peer[s].sendall(data)
                return
        except OSError:
            pass
        self.close_pair(s)

    def on_ctl(self):
        c, _ = self.ctl.accept()
        c.settimeout(5)
        try:
            line = c.recv(MAX_CTL_LINE).decode("ascii", "replace").strip()
            if line == "cut":
                self.cut()
                c.sendall(b"ok\n")
            elif line == "join":
                self.join()
                c.sendall(b"ok\n")
            elif line == "status":
                c.sendall(("%s connections=%d\n" % (
                    "joined" if self.listener else "cut", len(self.peer) // 2)).encode())
            elif line == "quit":
                c.sendall(b"ok\n")
                c.close()
                sys.exit(0)
            else:
                c.sendall(b"unknown command\n")
        except OSError:
            pass
        finally:
            c.close()

    def run(self):
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return 0
            for key, _ in self.sel.select(timeout=min(left, 1.0)):
                if key.data == "listen" and self.listener is not None:
                    self.accept()
                elif key.data == "relay" and key.fileobj in self.peer:
                    self.relay(key.fileobj)
                elif key.data == "ctl":
                    self.on_ctl()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--lifetime", type=float, default=1800)
    return Relay(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
