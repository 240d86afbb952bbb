#!/usr/bin/env python3
"""
The old Clef guide's client-side dispatcher (go-ethereum cmd/clef/docs/qubes/
qubes-client.py), rebuilt for bench/run to measure against: it listens for
HTTP POSTs and proxies each body through qrexec to the service
qubes.Clefsign on a target domain, writing the service's output straight
back to the socket.

Kept as the guide had it: one request at a time (socketserver.TCPServer),
a new qrexec-client-vm process per request, the request's headers dropped,
no status line or headers in the answer, http.server's log line per request.
Changed for the benchmark only: it binds 127.0.0.1 rather than every
interface, and the port (0: any free one, printed), the target and the
qrexec-client-vm to run come from the command line.

    qubes-client.py [--port N] [--target QUBE] [--qrexec-client PATH]
"""

import argparse
import http.server
import socketserver
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument('--port', type=int, default=8550)
parser.add_argument('--target', default='debian-work')
parser.add_argument('--qrexec-client', default='/usr/bin/qrexec-client-vm')
args = parser.parse_args()

PORT = args.port
TARGET_DOMAIN = args.target
QREXEC_CLIENT = args.qrexec_client


class Dispatcher(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        post_data = self.rfile.read(int(self.headers['Content-Length']))
        p = subprocess.Popen([QREXEC_CLIENT, TARGET_DOMAIN, 'qubes.Clefsign'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        output = p.communicate(post_data)[0]
        self.wfile.write(output)


with socketserver.TCPServer(('127.0.0.1', PORT), Dispatcher) as httpd:
    print('Serving at port', httpd.server_address[1], flush=True)
    httpd.serve_forever()
