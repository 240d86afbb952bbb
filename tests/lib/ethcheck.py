#!/usr/bin/env python3
"""tests/lib/ethcheck.py - an independent oracle for token tests.

Plain-integer secp256k1 ECDSA verification, low-s/high-s, DER and raw
signature forms, CKA_EC_POINT forms, and Ethereum addresses (Keccak-256).
It shares no code with p11signer (src/eth) nor with libsecp256k1, so a test
that checks our signer against it checks two implementations against each
other.  Slow (pure Python), fine for a few thousand signatures.  TEST TOOL.

  ethcheck.py address POINT            0x-address of a CKA_EC_POINT (DER or raw)
  ethcheck.py point-form POINT         "der" or "raw"
  ethcheck.py sig-form SIG             "raw" or "der" (exit 1 if neither)
  ethcheck.py verify POINT DIGEST SIG  "valid high-s", "valid low-s" or
                                       "invalid" (exit 1)
  ethcheck.py verify-lines POINT       stdin lines "DIGEST SIG" (a leading
                                       "tsig" word is skipped); prints
                                       "valid=N invalid=N high=N low=N der=N raw=N"

All values are hex without 0x.
"""
import sys

P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)

# ---- Keccak-256 (the original padding, 0x01, as Ethereum uses) ----

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61],
        [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M = 2**64 - 1


def _rol(v, n):
    return ((v << n) | (v >> (64 - n))) & _M if n else v


def _keccak_f(a):
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
              for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data):
    rate = 136
    msg = bytearray(data) + b"\x01"
    while len(msg) % rate:
        msg.append(0)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        a = _keccak_f(a)
    out = b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out


# ---- secp256k1 in affine coordinates, plain integers ----

def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0]:
        if (p1[1] + p2[1]) % P == 0:
            return None
        lam = 3 * p1[0] * p1[0] * pow(2 * p1[1], -1, P) % P
    else:
        lam = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, P) % P
    x = (lam * lam - p1[0] - p2[0]) % P
    return (x, (lam * (p1[0] - x) - p1[1]) % P)


def _mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def point_raw(point):
    """04 X Y from either CKA_EC_POINT form; raises ValueError otherwise."""
    if len(point) == 67 and point[0] == 0x04 and point[1] == 0x41 and point[2] == 0x04:
        return point[2:]
    if len(point) == 65 and point[0] == 0x04:
        return point
    raise ValueError("not an uncompressed secp256k1 EC point")


def point_form(point):
    return "raw" if len(point) == 65 else "der"


def pubkey(point):
    raw = point_raw(point)
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    if (y * y - x * x * x - 7) % P:
        raise ValueError("point not on secp256k1")
    return (x, y)


def address(point):
    return "0x" + keccak256(point_raw(point)[1:])[12:].hex()


def _der_int(b, i):
    if b[i] != 0x02 or b[i + 1] > 33:
        raise ValueError("bad INTEGER")
    n = b[i + 1]
    v = b[i + 2:i + 2 + n]
    if len(v) != n or n == 0 or v[0] & 0x80 or (n > 1 and v[0] == 0 and not v[1] & 0x80):
        raise ValueError("non-canonical INTEGER")
    return int.from_bytes(v, "big"), i + 2 + n


def parse_sig(sig):
    """(r, s, form) from raw r||s (64 bytes) or strict DER."""
    if len(sig) == 64:
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"), "raw"
    if len(sig) >= 8 and sig[0] == 0x30 and sig[1] == len(sig) - 2:
        r, i = _der_int(sig, 2)
        s, i = _der_int(sig, i)
        if i == len(sig):
            return r, s, "der"
    raise ValueError("signature is neither raw r||s nor DER (%d bytes)" % len(sig))


def verify(point, digest, sig):
    """'valid high-s' / 'valid low-s' / 'invalid'."""
    try:
        q = pubkey(point)
        r, s, _ = parse_sig(sig)
    except ValueError:
        return "invalid"
    if not (1 <= r < N and 1 <= s < N) or len(digest) != 32:
        return "invalid"
    z = int.from_bytes(digest, "big")
    w = pow(s, -1, N)
    pt = _add(_mul(z * w % N, G), _mul(r * w % N, q))
    if pt is None or pt[0] % N != r:
        return "invalid"
    return "valid high-s" if s > N // 2 else "valid low-s"


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[1], [bytes.fromhex(a) for a in argv[2:]]
    if cmd == "address":
        print(address(args[0]))
    elif cmd == "point-form":
        point_raw(args[0])
        print(point_form(args[0]))
    elif cmd == "sig-form":
        try:
            print(parse_sig(args[0])[2])
        except ValueError as e:
            print(e)
            return 1
    elif cmd == "verify":
        res = verify(args[0], args[1], args[2])
        print(res)
        return 0 if res.startswith("valid") else 1
    elif cmd == "verify-lines":
        c = dict(valid=0, invalid=0, high=0, low=0, der=0, raw=0)
        for line in sys.stdin:
            words = line.split()
            if words and words[0] == "tsig":
                words = words[1:]
            if len(words) != 2:
                continue
            digest, sig = bytes.fromhex(words[0]), bytes.fromhex(words[1])
            res = verify(args[0], digest, sig)
            if res == "invalid":
                c["invalid"] += 1
                continue
            c["valid"] += 1
            c["high" if "high" in res else "low"] += 1
            c[parse_sig(sig)[2]] += 1
        print(" ".join("%s=%d" % (k, v) for k, v in c.items()))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
