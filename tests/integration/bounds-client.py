#!/usr/bin/env python3
"""Send the same JSON-RPC body to the daemon's HTTP port from several threads
at once and print one line per answer: "HTTP-STATUS JSON-RPC-ERROR-CODE
MESSAGE" (or "HTTP-STATUS result").

    bounds-client.py PORT CONCURRENCY KIND ADDRESS

KIND is one of
    big-typed     account_signTypedData with a uint8[][] of 15 x 65,536
                  zeros (about 2 MB), as in issue 12 point 4
    wide-typed    account_signTypedData with a uint8[] of 20,000 zeros:
                  within the JSON limit, over the EIP-712 one
    max-typed     account_signTypedData at the EIP-712 limit: a string[] of
                  16,000 strings of 60 characters (about 1 MB to show)
    small-typed   a small, valid typed-data request
Every request has a 60 s timeout.
"""
import http.client
import json
import sys
import threading

port, conc, kind, addr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def typed(field_type, value):
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "M": [{"name": "v", "type": field_type}],
        },
        "primaryType": "M",
        "domain": {"name": "bounds"},
        "message": {"v": value},
    }


if kind == "big-typed":
    # Written out by hand so that the body stays under 2 MiB: "0,0,...".
    row = "[" + ",".join(["0"] * 65536) + "]"
    value = "[" + ",".join([row] * 15) + "]"
    data = json.dumps(typed("uint8[][]", "@V@"), separators=(",", ":")).replace('"@V@"', value)
elif kind == "wide-typed":
    data = json.dumps(typed("uint8[]", [0] * 20000), separators=(",", ":"))
elif kind == "max-typed":
    data = json.dumps(typed("string[]", ["%060d" % i for i in range(16000)]), separators=(",", ":"))
elif kind == "small-typed":
    data = json.dumps(typed("uint8[]", [1, 2, 3]), separators=(",", ":"))
else:
    sys.exit("unknown kind " + kind)
body = ('{"jsonrpc":"2.0","id":1,"method":"account_signTypedData","params":["%s",%s]}'
        % (addr, data)).encode()
print("# body %d bytes" % len(body), flush=True)

answers = []
lock = threading.Lock()


def call():
    line = "no answer"
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read()
        try:
            j = json.loads(text)
            if "error" in j:
                line = "%d %d %s" % (r.status, j["error"]["code"], j["error"]["message"])
            else:
                line = "%d result" % r.status
        except ValueError:
            line = "%d %s" % (r.status, text[:200])
    except Exception as e:  # the answer line says what went wrong
        line = "no answer: %s" % e
    with lock:
        answers.append(line)


threads = [threading.Thread(target=call) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join(90)
for a in answers:
    print(a)
