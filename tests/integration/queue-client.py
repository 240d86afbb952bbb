#!/usr/bin/env python3
"""queue-client.py - concurrent account_signTransaction requests for queue.test.

usage: queue-client.py PORT STAGGER_MS FROM_ADDR... 
Request i (one connection each, loopback) is sent STAGGER_MS x i after the
first, from FROM_ADDR[i], to 127.0.0.1:PORT from 127.0.0.1 for the first
12, 127.0.0.2 for the next 12 and so on: the daemon lets one address hold
only LIMIT_HTTP_PER_ADDR (16) connections.  Prints one line per request, in the order sent:
  i start_ms end_ms ok|busy|error message
with times in ms since the first request went out.  Every socket has a
timeout (20 s): nothing waits for ever.
"""
import json
import sys
import threading
import time
import http.client

port = int(sys.argv[1])
stagger = float(sys.argv[2]) / 1000.0
addrs = sys.argv[3:]
t0 = time.monotonic()
out = [None] * len(addrs)


def one(i, addr):
    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "account_signTransaction",
                       "params": [{"from": addr, "to": "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
                                   "gas": "0x5208", "maxFeePerGas": "0x77359400",
                                   "maxPriorityFeePerGas": "0x3b9aca00",
                                   "value": "0x1", "nonce": hex(i)}]})
    start = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20,
                                       source_address=("127.0.0.%d" % (1 + i // 12), 0))
        c.request("POST", "/", body, {"Content-Type": "application/json"})
        ans = json.loads(c.getresponse().read())
        c.close()
        if "result" in ans and ans["result"].get("raw", "").startswith("0x02"):
            kind, msg = "ok", "-"
        else:
            msg = ans.get("error", {}).get("message", repr(ans))
            kind = "busy" if "busy" in msg else "error"
    except Exception as e:  # reported, and the test fails on it
        kind, msg = "error", repr(e)
    end = time.monotonic()
    out[i] = "%d %.1f %.1f %s %s" % (i, (start - t0) * 1000, (end - t0) * 1000, kind,
                                     msg.replace("\n", " "))


threads = []
for i, a in enumerate(addrs):
    target = t0 + stagger * i
    now = time.monotonic()
    if target > now:
        time.sleep(target - now)  # the stagger itself, not a wait for a condition
    th = threading.Thread(target=one, args=(i, a))
    th.start()
    threads.append(th)
for th in threads:
    th.join(30)
for line in out:
    print(line if line is not None else "? 0 0 error unfinished")
