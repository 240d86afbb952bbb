#!/usr/bin/env python3
"""Rewrite an audit log as an attacker who can write it would: change one
field of an event, or delete a line, then renumber seq and recompute every
prev so that the chain holds again.  The chain is taken from the format in
src/signer/audit.h (prev = SHA-256 of the previous line without its newline;
for line 1, of "p11signer audit log v1"), not from our code.

    audit-rewrite.py edit LINE FIELD VALUE  <log >log'
    audit-rewrite.py delete LINE            <log >log'
"""
import hashlib
import json
import sys

GENESIS = b"p11signer audit log v1"


def main():
    lines = [l.rstrip("\n") for l in sys.stdin if l.strip()]
    op, n = sys.argv[1], int(sys.argv[2])
    recs = [json.loads(l) for l in lines]
    if op == "edit":
        recs[n - 1]["event"][sys.argv[3]] = sys.argv[4]
    elif op == "delete":
        del recs[n - 1]
    else:
        sys.exit("unknown operation " + op)
    prev = hashlib.sha256(GENESIS).hexdigest()
    for i, r in enumerate(recs):
        r["seq"] = i + 1
        r["prev"] = prev
        out = json.dumps(r, separators=(",", ":"), ensure_ascii=True)
        prev = hashlib.sha256(out.encode()).hexdigest()
        sys.stdout.write(out + "\n")


main()
