#!/usr/bin/env python3
"""tests/integration/clefui.py - a scripted Clef UI for p11signer.  TEST TOOL.

Clef's UI protocol (7.0.1) is spoken by a UI that starts the signer and holds
its stdin/stdout.  This program is such a UI: it starts
`p11signer serve --stdio-ui ...` as its child with pipes, answers the
signer's UI requests (ui_approveTx, ui_approveSignData, ui_approveListing,
ui_approveNewAccount, ui_onInputRequired) by a script, records every request
and notification it gets, and meanwhile sends Clef API requests (account_*)
to the daemon over HTTP or IPC, each from its own thread.  One run is one
daemon's life; what happened is written to a JSON record that the test reads
back with `query`.

    clefui.py run --script SCRIPT --record OUT.json [--timeout S] -- CMD...
    clefui.py query OUT.json EXPR

SCRIPT is JSON text, or the name of a file holding it:

    {
      "ui": [ RULE, ... ],      how to answer the daemon's UI requests
      "calls": [ CALL, ... ],   the API requests to send
      "linger_ms": 500,         after the last call and answer, before SIGTERM
      "sigterm": {"ui": M, "n": K}   SIGTERM once the UI got its K-th M, without
                                waiting for the calls (the daemon stopping under
                                a pending request)
    }

A RULE answers the next requests of its method, in order; a rule is used up
after "times" requests (default 1, "*" for any number).  A request no rule is
left for is answered with an error and counted as a problem.

    {"method": "ui_approveTx", "answer": ANSWER, "times": N,
     "when": {"calls_done": ["name", ...]}, "delay_ms": N}

  ANSWER is
    "approve"   the UI lets the request through: the transaction as sent
                (ui_approveTx), {"approved": true} (sign data, new account),
                every account offered (ui_approveListing)
    "deny"      {"approved": false} (ui_approveListing: no account)
    "empty"     ui_approveListing: {"accounts": []}
    "null"      ui_approveListing: {"accounts": null} (Clef: a refusal)
    "never"     no answer at all
    {"modify": {MEMBER: VALUE}}   ui_approveTx approved, the transaction changed
    {"text_env": "VAR"}           ui_onInputRequired: {"text": $VAR}; the text
                                  is never written to the record
    {"result": VALUE} | {"error": "message"}   that, as it stands

  "when" holds the answer until the named calls have their answers (the
  caller was told), and/or {"ui": M, "n": K} until the UI got its K-th
  request or notification M; "delay_ms" waits that much more.

A CALL is sent when its start condition holds; without one, after the call
before it got its answer (so calls without "start" run one after another).

    {"name": "sign1", "method": "account_signTransaction", "params": [...],
     "via": "http" | "ipc", "headers": {"Origin": "..."},
     "start": {"after": "name"} | {"ui": "ui_approveTx", "n": 1} | {"now": true}}

  {"ui": M, "n": K}: once the UI got its K-th request (or notification) M.

The record:

    {"ui": [{"t", "kind": "request"|"notification", "id", "method", "params",
             "answer", "answer_t"}, ...],
     "calls": {NAME: {"method", "via", "request", "t0", "t1", "ms",
                      "response", "transport_error"}},
     "startup_ms", "exit", "sigterm_t", "exit_t", "killed", "http_port",
     "problems": [...]}

Times are milliseconds since the daemon was started.  Answers to
ui_onInputRequired are recorded as {"text": "(not recorded)"}.

query evaluates a Python expression over the record and prints it (strings
as they are, anything else as JSON).  Names: rec, ui(method) -> entries,
count(method), req(method, i=0) -> params[0] of its i-th entry, call(name),
result(name), error(name) -> the error message or None; the modules json, base64.

Every wait is bounded: --timeout (default 60 s) bounds the whole run, each
API request has its own socket timeout ("timeout" in the call, default 60 s),
and a daemon that does not exit within 10 s of SIGTERM is killed (and that
is a problem).  The exit status is 0 when the
run went through (whatever the daemon answered), 2 when it could not (the
daemon did not start, the run timed out); the record is written either way.
"""
import base64
import builtins
import copy
import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HIDDEN = "(not recorded)"


class Run:
    def __init__(self, script, cmd, timeout, record_path):
        self.script = script
        self.cmd = cmd
        self.record_path = record_path
        self.t_start = time.monotonic()
        self.deadline = self.t_start + timeout
        self.cv = threading.Condition()
        self.write_lock = threading.Lock()
        self.ui = []            # entries, in arrival order
        self.calls = {}         # name -> entry
        self.done = set()       # names of calls that have their answer
        self.problems = []
        self.rules = [dict(r, used=0) for r in script.get("ui", [])]
        self.answerers = []
        self.http_port = None
        self.ipc_path = None
        self.ready = False
        self.daemon_gone = False
        self.proc = None
        self.sigterm_t = None   # when SIGTERM was sent
        self.exit_t = None      # when the daemon exited
        self.killed = False

    # ---- helpers ----

    def now_ms(self):
        return round((time.monotonic() - self.t_start) * 1000)

    def left(self):
        return self.deadline - time.monotonic()

    def wait_for(self, pred):
        """Wait under self.cv until pred() or the deadline; returns pred()."""
        with self.cv:
            while not pred():
                left = self.left()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True

    def seen(self, method):
        """How many requests and notifications of method the UI got (under self.cv)."""
        return sum(1 for e in self.ui if e["method"] == method)

    def problem(self, text):
        with self.cv:
            self.problems.append(text)
            self.cv.notify_all()

    # ---- the daemon's side: stdout carries the UI protocol, stderr its log ----

    def read_ui(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self.problem("the daemon wrote a line that is not JSON: %.200r" % line)
                continue
            entry = {"t": self.now_ms(), "method": msg.get("method"),
                     "params": msg.get("params")}
            if "id" in msg:
                entry["kind"] = "request"
                entry["id"] = msg["id"]
                entry["answer"] = None
                entry["answer_t"] = None
            else:
                entry["kind"] = "notification"
            with self.cv:
                self.ui.append(entry)
                self.cv.notify_all()
            if entry["kind"] == "request":
                self.dispatch(entry)
        with self.cv:
            self.daemon_gone = True
            self.cv.notify_all()

    def read_log(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            with self.cv:
                m = re.search(r"HTTP listening on [^ ]*:(\d+)", line)
                if m:
                    self.http_port = int(m.group(1))
                m = re.search(r"IPC listening on (.*)$", line.rstrip("\n"))
                if m:
                    self.ipc_path = m.group(1)
                if "p11signer: ready" in line:
                    self.ready = True
                self.cv.notify_all()

    def watch_exit(self):
        self.proc.wait()
        with self.cv:
            self.exit_t = self.now_ms()
            self.cv.notify_all()

    def stop(self):
        """SIGTERM, once."""
        with self.cv:
            if self.sigterm_t is not None or self.exit_t is not None:
                return
            self.sigterm_t = self.now_ms()
        self.proc.send_signal(signal.SIGTERM)

    def stop_when(self, cond):
        if self.wait_for(cond):
            self.stop()

    def send(self, obj):
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        with self.write_lock:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as e:
                self.problem("cannot write to the daemon: %s" % e)

    # ---- answering UI requests ----

    def dispatch(self, entry):
        rule = None
        with self.cv:
            for r in self.rules:
                times = r.get("times", 1)
                if r.get("method") == entry["method"] and (times == "*" or r["used"] < times):
                    r["used"] += 1
                    rule = r
                    break
        if rule is None:
            self.problem("no rule left for UI request %s (id %s)" % (entry["method"], entry["id"]))
            self.answer(entry, None, {"code": -32000, "message": "clefui: no rule for this request"})
            return
        th = threading.Thread(target=self.answer_by_rule, args=(entry, rule), daemon=True)
        with self.cv:
            self.answerers.append(th)
        th.start()

    def answer_by_rule(self, entry, rule):
        how = rule.get("answer", "approve")
        if how == "never":
            return
        when = rule.get("when", {})
        names = when.get("calls_done", [])
        if isinstance(names, str):
            names = [names]
        if names and not self.wait_for(lambda: all(n in self.done for n in names)):
            self.problem("UI answer to %s (id %s) waited for calls %s past the deadline"
                         % (entry["method"], entry["id"], names))
            return
        if "ui" in when and not self.wait_for(lambda: self.seen(when["ui"]) >= when.get("n", 1)):
            self.problem("UI answer to %s (id %s) waited for %s past the deadline"
                         % (entry["method"], entry["id"], when["ui"]))
            return
        delay = rule.get("delay_ms", 0) / 1000.0
        if delay > 0:
            time.sleep(min(delay, max(self.left(), 0)))
        try:
            result, error = self.make_answer(entry, how)
        except (KeyError, TypeError, IndexError) as e:
            self.problem("cannot make answer %r to %s: %r" % (how, entry["method"], e))
            result, error = None, {"code": -32000, "message": "clefui: bad answer"}
        self.answer(entry, result, error)

    @staticmethod
    def make_answer(entry, how):
        method = entry["method"]
        request = (entry.get("params") or [{}])[0]
        if isinstance(how, dict):
            if "result" in how:
                return how["result"], None
            if "error" in how:
                return None, {"code": -32000, "message": how["error"]}
            if "text_env" in how:
                return {"text": os.environ[how["text_env"]]}, None
            if "modify" in how:
                tx = copy.deepcopy(request["transaction"])
                tx.update(how["modify"])
                return {"approved": True, "transaction": tx}, None
            raise KeyError("unknown answer %r" % how)
        if method == "ui_approveListing":
            if how == "approve":
                return {"accounts": request.get("accounts", [])}, None
            if how in ("deny", "empty"):
                return {"accounts": []}, None
            if how == "null":
                return {"accounts": None}, None
        elif method == "ui_approveTx":
            if how in ("approve", "deny"):
                return {"approved": how == "approve",
                        "transaction": request.get("transaction")}, None
        elif how in ("approve", "deny"):
            return {"approved": how == "approve"}, None
        raise KeyError("answer %r does not fit %s" % (how, method))

    def answer(self, entry, result, error):
        msg = {"jsonrpc": "2.0", "id": entry["id"]}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result
        self.send(msg)
        shown = msg.get("error", result)
        if entry["method"] == "ui_onInputRequired" and error is None:
            shown = {"text": HIDDEN}
        with self.cv:
            entry["answer"] = shown
            entry["answer_t"] = self.now_ms()
            self.cv.notify_all()

    # ---- API requests ----

    def api_http(self, body, headers, timeout):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            h = {"Content-Type": "application/json"}
            h.update(headers)
            conn.request("POST", "/", body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise OSError("HTTP %d: %.200r" % (resp.status, data))
            return json.loads(data)
        finally:
            conn.close()

    def api_ipc(self, body, timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.ipc_path)
            s.sendall(body + b"\n")
            buf = b""
            dec = json.JSONDecoder()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("the daemon closed the IPC connection without an answer")
                buf += chunk
                try:
                    obj, _ = dec.raw_decode(buf.decode().strip())
                    return obj
                except ValueError:
                    continue
        finally:
            s.close()

    def start_condition(self, call, prev):
        start = call.get("start")
        if start is None:
            return (lambda: prev in self.done) if prev is not None else (lambda: True)
        if "after" in start:
            names = start["after"] if isinstance(start["after"], list) else [start["after"]]
            return lambda: all(n in self.done for n in names)
        if "ui" in start:
            n = start.get("n", 1)
            return lambda: self.seen(start["ui"]) >= n
        return lambda: True

    def run_call(self, call, cond):
        name = call["name"]
        entry = self.calls[name]
        if not self.wait_for(cond):
            self.problem("call %s never started (its start condition did not hold)" % name)
            with self.cv:
                self.done.add(name)
                self.cv.notify_all()
            return
        req = {"jsonrpc": "2.0", "id": call.get("id", 1), "method": call["method"],
               "params": call.get("params", [])}
        body = json.dumps(req).encode()
        timeout = max(min(call.get("timeout", 60), self.left()), 0.1)
        response = transport_error = None
        with self.cv:
            entry["request"] = req
            entry["t0"] = self.now_ms()
        try:
            if entry["via"] == "ipc":
                response = self.api_ipc(body, timeout)
            else:
                response = self.api_http(body, call.get("headers", {}), timeout)
        except (OSError, ValueError, http.client.HTTPException) as e:
            transport_error = "%s: %s" % (type(e).__name__, e)
        with self.cv:
            entry["response"] = response
            if transport_error is not None:
                entry["transport_error"] = transport_error
            entry["t1"] = self.now_ms()
            entry["ms"] = entry["t1"] - entry["t0"]
            self.done.add(name)
            self.cv.notify_all()

    # ---- the whole run ----

    def go(self):
        # The daemon dies with us, even when we are killed (timeout(1) in a test).
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        signal.signal(signal.SIGTERM, lambda *_: self.abort())
        signal.signal(signal.SIGINT, lambda *_: self.abort())
        readers = [threading.Thread(target=self.read_ui, daemon=True),
                   threading.Thread(target=self.read_log, daemon=True),
                   threading.Thread(target=self.watch_exit, daemon=True)]
        for th in readers:
            th.start()
        ok = self.wait_for(lambda: self.daemon_gone or (
            self.ready and any(e["method"] == "ui_onSignerStartup" for e in self.ui)))
        startup_ms = self.now_ms()
        if not ok or self.daemon_gone:
            self.problem("the daemon did not start (no \"ready\" and ui_onSignerStartup)")
            return self.finish(startup_ms, failed=True)
        calls = self.script.get("calls", [])
        threads, prev = [], None
        for c in calls:
            via = c.get("via", "http" if self.http_port is not None else "ipc")
            if (via == "http" and self.http_port is None) or (via == "ipc" and self.ipc_path is None):
                self.problem("call %s wants %s, which the daemon does not serve" % (c["name"], via))
            self.calls[c["name"]] = {"method": c["method"], "via": via, "request": None,
                                     "t0": None, "t1": None, "ms": None, "response": None}
            th = threading.Thread(target=self.run_call, args=(c, self.start_condition(c, prev)),
                                  daemon=True)
            threads.append(th)
            prev = c["name"]
        if "sigterm" in self.script:
            cond = self.script["sigterm"]
            threading.Thread(target=self.stop_when, daemon=True, args=(
                lambda: self.seen(cond["ui"]) >= cond.get("n", 1),)).start()
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(self.left(), 0))
        failed = any(th.is_alive() for th in threads)
        # Answers held for calls: all of them are sent by now, or never will be.
        while not failed:
            with self.cv:
                pending = [a for a in self.answerers if a.is_alive()]
            if not pending:
                break
            for a in pending:
                a.join(max(self.left(), 0))
            failed = self.left() <= 0
        if failed:
            self.problem("the run did not finish within the timeout")
        else:
            time.sleep(min(self.script.get("linger_ms", 500) / 1000.0, max(self.left(), 0)))
        return self.finish(startup_ms, failed)

    def abort(self):
        self.proc.kill()
        sys.exit(2)

    def finish(self, startup_ms, failed):
        self.stop()
        with self.cv:
            bound = time.monotonic() + 10
            while self.exit_t is None and time.monotonic() < bound:
                self.cv.wait(0.2)
            stopped = self.exit_t is not None
        if not stopped:
            self.problem("the daemon did not exit within 10 s of SIGTERM (sent at %s ms); killed"
                         % self.sigterm_t)
            self.killed = True
            self.proc.kill()
            self.proc.wait(10)
            self.wait_for(lambda: self.exit_t is not None)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        with self.cv:
            rec = {"startup_ms": startup_ms, "exit": self.proc.returncode,
                   "sigterm_t": self.sigterm_t, "exit_t": self.exit_t, "killed": self.killed,
                   "ui": self.ui, "http_port": self.http_port,
                   "calls": self.calls, "problems": self.problems,
                   "unused_rules": [{k: v for k, v in r.items() if k != "used"}
                                    for r in self.rules
                                    if r.get("times", 1) != "*" and r["used"] < r.get("times", 1)]}
            text = json.dumps(rec, indent=1)
        with open(self.record_path, "w") as f:
            f.write(text + "\n")
        for p in self.problems:
            print("clefui: %s" % p, file=sys.stderr)
        return 2 if failed else 0


def die_with_parent():
    """In the child before exec: SIGKILL when this program goes (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def load_script(arg):
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg) as f:
        return json.load(f)


def cmd_run(argv):
    script = record = None
    timeout = 60.0
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--script" and i + 1 < len(argv):
            script = load_script(argv[i + 1])
        elif argv[i] == "--record" and i + 1 < len(argv):
            record = argv[i + 1]
        elif argv[i] == "--timeout" and i + 1 < len(argv):
            timeout = float(argv[i + 1])
        else:
            return usage()
        i += 2
    cmd = argv[i + 1:]
    if script is None or record is None or not cmd:
        return usage()
    return Run(script, cmd, timeout, record).go()


def cmd_query(argv):
    if len(argv) != 2:
        return usage()
    with open(argv[0]) as f:
        rec = json.load(f)

    def ui(method):
        return [e for e in rec["ui"] if e["method"] == method]

    def count(method):
        return len(ui(method))

    def req(method, i=0):
        e = ui(method)
        return e[i]["params"][0] if len(e) > i and e[i]["params"] else None

    def call(name):
        return rec["calls"].get(name)

    def response(name):
        c = call(name)
        return c.get("response") if c else None

    def result(name):
        r = response(name)
        return r.get("result") if isinstance(r, dict) else None

    def error(name):
        r = response(name)
        if isinstance(r, dict) and isinstance(r.get("error"), dict):
            return r["error"].get("message")
        return None

    names = {"rec": rec, "ui": ui, "count": count, "req": req, "call": call,
             "response": response, "result": result, "error": error, "json": json,
             "base64": base64}
    for b in ("len", "any", "all", "sorted", "sum", "min", "max", "set", "type", "str",
              "int", "isinstance", "list", "dict"):
        names[b] = getattr(builtins, b)
    names["__builtins__"] = {}
    try:
        # The test's own expression; globals, so that comprehensions see the names.
        v = eval(argv[1], names)
    except Exception as e:  # a broken query prints why, for the TAP diagnostics
        print("query error: %s: %s" % (type(e).__name__, e))
        return 1
    print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
    return 0


def usage():
    print("usage: clefui.py run --script SCRIPT --record OUT.json [--timeout S] -- CMD...\n"
          "       clefui.py query OUT.json EXPR", file=sys.stderr)
    return 2


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        return cmd_run(sys.argv[2:])
    if len(sys.argv) >= 2 and sys.argv[1] == "query":
        return cmd_query(sys.argv[2:])
    return usage()


if __name__ == "__main__":
    sys.exit(main())
