#!/usr/bin/env python3
"""tests/integration/uisocket.py - a scripted approver on p11signer's UI socket,
and a Clef API caller over IPC.  TEST TOOL.

    uisocket.py approver SOCK LOG [--answers A,B,...] [--first garbage|huge|unsolicited]
                [--timeout S]
    uisocket.py call IPC METHOD PARAMS_JSON OUT_PREFIX [--timeout S]

approver connects to the daemon's UI socket (Clef UI protocol 7.0.1,
newline-delimited JSON-RPC) and appends one JSON line to LOG ("-": standard
output) for every
message it gets ({"t": ms, "msg": ...}), then {"eof": true} when the daemon
closes the connection, or {"connect_error": "..."} when it cannot connect.
Each question (a message with an id) takes the next answer of --answers:

    approve   the request as asked: the transaction as sent (ui_approveTx),
              {"approved": true} (sign data, new account), every account
              (ui_approveListing), {"text": $P11_USER_PIN} (ui_onInputRequired;
              never logged)
    deny      {"approved": false}
    wrongid   first an approval under another id, then a denial under the
              right one (a UI must not approve by a wrong id)
    hangup    close the connection instead of answering
    never     no answer

No answer left: hang up.  --first sends one thing before reading anything:
"garbage" (a line that is not JSON), "huge" (3 MiB of an unfinished JSON
array), or "unsolicited" (an approval for id 1, before any question).

call sends one request over the IPC socket and writes OUT_PREFIX.req (the
request) and OUT_PREFIX.resp (the response, or {"transport_error": ...}) and
prints the error message, or "ok", and the time it took: "ok 12" or
"request denied 3002".

Every wait is bounded by --timeout (default 60 s).
"""
import json
import os
import socket
import sys
import time


def log_line(path, obj):
    if path == "-":
        print(json.dumps(obj), flush=True)
        return
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def answer_for(kind, msg):
    method = msg.get("method", "")
    p = (msg.get("params") or [{}])[0]
    if kind == "deny":
        return {"approved": False}
    if method == "ui_approveTx":
        return {"approved": True, "transaction": p.get("transaction")}
    if method == "ui_approveListing":
        return {"accounts": p.get("accounts", [])}
    if method == "ui_onInputRequired":
        return {"text": os.environ.get("P11_USER_PIN", "")}
    return {"approved": True}


def approver(argv):
    sock_path, log = argv[0], argv[1]
    answers, first, timeout = [], None, 60.0
    i = 2
    while i < len(argv):
        if argv[i] == "--answers":
            answers = [a for a in argv[i + 1].split(",") if a]
        elif argv[i] == "--first":
            first = argv[i + 1]
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
        i += 2
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
    except OSError as e:
        log_line(log, {"connect_error": e.strerror or str(e)})
        return 1
    s.settimeout(timeout)
    if first == "garbage":
        s.sendall(b"hello, this is not JSON\n")
    elif first == "huge":
        try:
            s.sendall(b"[" + b"1," * (3 * 1024 * 1024 // 2))
        except OSError:
            pass
    elif first == "unsolicited":
        s.sendall(b'{"jsonrpc":"2.0","id":1,"result":{"approved":true,"transaction":{}}}\n')
    s.settimeout(0.2)
    buf = b""
    while time.monotonic() - t0 < timeout:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            log_line(log, {"eof": True})
            return 0
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            msg = json.loads(line)
            log_line(log, {"t": int((time.monotonic() - t0) * 1000), "msg": msg})
            if "id" not in msg or msg["id"] is None or "method" not in msg:
                continue
            kind = answers.pop(0) if answers else "hangup"
            if kind == "hangup":
                s.close()
                log_line(log, {"hung_up": True})
                return 0
            if kind == "never":
                continue
            out = []
            if kind == "wrongid":
                out.append({"jsonrpc": "2.0", "id": msg["id"] + 1000,
                            "result": answer_for("approve", msg)})
                kind = "deny"
            out.append({"jsonrpc": "2.0", "id": msg["id"], "result": answer_for(kind, msg)})
            for o in out:
                s.sendall(json.dumps(o).encode() + b"\n")
    log_line(log, {"timeout": True})
    return 2


def call(argv):
    ipc, method, params, prefix = argv[0], argv[1], json.loads(argv[2]), argv[3]
    timeout = float(argv[5]) if len(argv) > 5 and argv[4] == "--timeout" else 60.0
    req = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    with open(prefix + ".req", "w") as f:
        json.dump(req, f)
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""
    try:
        s.connect(ipc)
        s.sendall(json.dumps(req).encode() + b"\n")
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        resp = json.loads(buf.split(b"\n", 1)[0])
    except (OSError, ValueError) as e:
        resp = {"transport_error": str(e)}
    ms = int((time.monotonic() - t0) * 1000)
    with open(prefix + ".resp", "w") as f:
        json.dump(resp, f)
    if "result" in resp:
        print("ok %d" % ms)
    elif "error" in resp:
        print("%s %d" % (resp["error"].get("message"), ms))
    else:
        print("transport error %d" % ms)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("approver", "call"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(approver(sys.argv[2:]) if sys.argv[1] == "approver" else call(sys.argv[2:]))
