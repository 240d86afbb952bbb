#!/usr/bin/env python3
"""tests/vectors/eip191/gen-clique.py - expected Clique seal hashes, computed
independently of src/eth (its own RLP, tests/lib/ethcheck.py's Keccak).

What Clef v1.17 does with application/x-clique-header data: decode the header,
append 65 zero bytes to its extra data (the seal geth cut off), then take
clique.SealHash, which hashes the header with the last 65 bytes of extra cut
off again.  So the seal hash is keccak256 of the header exactly as sent, for
every length of extra, and the header hash Clef shows is keccak256 of the
header with the 65 zero bytes in place.

  gen-clique.py check     recompute clique.json's expected values from its
                          headers; print the cases that differ (exit 1)
  gen-clique.py update    rewrite clique.json's expected values
  gen-clique.py checkpoint > clique-checkpoint.json
                          checkpoint headers: 32 bytes of vanity and N = 0..3
                          signers (20 bytes each), seal removed

TEST TOOL: the committed JSON is what the unit test reads.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))
from ethcheck import keccak256  # noqa: E402

EXTRA = 12
SEAL = 65


def rlp_len(n, offset):
    if n < 56:
        return bytes([offset + n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(b)]) + b


def rlp_bytes(b):
    if len(b) == 1 and b[0] < 0x80:
        return b
    return rlp_len(len(b), 0x80) + b


def rlp_list(items):
    body = b"".join(items)
    return rlp_len(len(body), 0xC0) + body


def rlp_int(v):
    return rlp_bytes(b"" if v == 0 else v.to_bytes((v.bit_length() + 7) // 8, "big"))


def rlp_items(data):
    """The items of the top-level list, as (raw item, payload) pairs."""
    def head(p):
        t = data[p]
        if t < 0x80:
            return p, p, 1
        if t < 0xB8:
            return p, p + 1, t - 0x80
        if t < 0xC0:
            ll = t - 0xB7
            return p, p + 1 + ll, int.from_bytes(data[p + 1:p + 1 + ll], "big")
        if t < 0xF8:
            return p, p + 1, t - 0xC0
        ll = t - 0xF7
        return p, p + 1 + ll, int.from_bytes(data[p + 1:p + 1 + ll], "big")
    _, start, n = head(0)
    assert start + n == len(data)
    out, p = [], start
    while p < start + n:
        s, body, ln = head(p)
        out.append((data[s:body + ln], data[body:body + ln] if data[s] >= 0x80 else data[s:s + 1]))
        p = body + ln
    return out


def expected(header):
    items = rlp_items(header)
    extra = items[EXTRA][1]
    number = int.from_bytes(items[8][1], "big")
    padded = [raw if i != EXTRA else rlp_bytes(extra + bytes(SEAL)) for i, (raw, _) in enumerate(items)]
    header_hash = keccak256(rlp_list(padded))
    return {
        "sealHash": "0x" + keccak256(header).hex(),
        "sealRlp": "0x" + header.hex(),
        "summary": "clique header %d [0x%s]" % (number, header_hash.hex()),
    }


def checkpoint(n):
    """A checkpoint block (number 30000 * n, epoch 30000) with n signers."""
    vanity = bytes([0xD8, 0x83]) + b"geth-checkpoint".ljust(30, b"\0")
    signers = b"".join(keccak256(bytes([n, i]))[12:] for i in range(n))
    fields = [
        keccak256(b"parent %d" % n), keccak256(b""),                  # parentHash, uncleHash
        bytes(20),                                                    # coinbase: zero at a checkpoint
        keccak256(b"root %d" % n), keccak256(b"tx"), keccak256(b"rc"),
        bytes(256),                                                   # bloom
    ]
    items = [rlp_bytes(f) for f in fields]
    items += [rlp_int(2), rlp_int(30000 * n), rlp_int(30000000), rlp_int(0), rlp_int(1700000000 + n)]
    items += [rlp_bytes(vanity + signers), rlp_bytes(bytes(32)), rlp_bytes(bytes(8))]
    header = rlp_list(items)
    case = {"name": "checkpoint-%d-signers" % n,
            "source": "tests/vectors/eip191/gen-clique.py (extra: 32 bytes of vanity + %d x 20)" % n,
            "header": "0x" + header.hex()}
    case.update(expected(header))
    return case


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "clique.json")
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "checkpoint":
        json.dump([checkpoint(n) for n in range(4)], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    cases = json.load(open(path))
    differ = 0
    for c in cases:
        want = expected(bytes.fromhex(c["header"][2:]))
        for k, v in want.items():
            if c[k] != v:
                print("%s: %s differs" % (c["name"], k))
                differ += 1
                c[k] = v
    if cmd == "update":
        with open(path, "w") as f:
            json.dump(cases, f, indent=1)
            f.write("\n")
        return 0
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
