#!/usr/bin/env python3
"""Token protocol vectors: a second encoder of docs/token-protocol.md.

Writes tests/vectors/proto/frames.json (frames that must decode and
re-encode to the same bytes), tests/vectors/proto/refused.json (frames that
must be refused, with the error) and the fuzz seeds tests/fuzz/corpus/proto/.
It is written from the document, not from src/p11/proto.c, so the C codec is
checked against an independent reading of the format.

    python3 tests/vectors/proto/gen.py        (from the repository root)

A frame is written as a list of hex segments (spaces allowed) that the test
concatenates: the length prefix, the type, the request id, the field count,
then one segment per field, "LLLLLLLL VALUE".
"""
import hashlib
import json
import os
import struct

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
OUT = os.path.join(ROOT, "tests", "vectors", "proto")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "proto")

LIMIT_FRAME = 2 * 1024 * 1024
LIMIT_URI = 1024
LIMIT_TEXT = 256
LIMIT_KEY_ID = 256
LIMIT_PIN = 128
LIMIT_TOKENS = 64
LIMIT_KEYS = 1024
LIMIT_URIS = 64

T = {"HELLO": 0x01, "LIST_KEYS": 0x02, "KEY_STATUS": 0x03, "SIGN": 0x04,
     "GENERATE": 0x05, "LOGIN": 0x06, "CONFIGURE": 0x07, "HELLO_REPLY": 0x41, "KEY_LIST": 0x42,
     "KEY_STATE": 0x43, "SIGNATURE": 0x44, "GENERATED": 0x45,
     "LOGIN_RESULT": 0x46, "ERROR": 0x7F, "EVENT": 0x80}

# Public keys of the private keys 1 and 2 (G and 2G) and their addresses.
PUB1 = bytes.fromhex("04"
    "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")
ADDR1 = bytes.fromhex("7e5f4552091a69125d5dfcb7b8c2659029395bdf")
PUB2 = bytes.fromhex("04"
    "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
    "1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a")
ADDR2 = bytes.fromhex("2b5ad5c4795c026514f8317c7a215e218dccd6cf")

TOKEN_URI = b"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=8f1a2b3c4d5e6f70;token=vault"
KEY1_URI = TOKEN_URI + b";id=%01;object=eth0;type=private"
KEY2_URI = TOKEN_URI + b";id=%02;object=eth1;type=private"
# A signature with 0 < r, s <= n/2.
SIG = bytes.fromhex("11" * 32 + "22" * 32)
HIGH_S = bytes.fromhex("11" * 32 + "ff" * 31 + "00")
DIGEST = bytes(range(32))

PRESENT, REMOVABLE, LOGGED_IN, LOGIN_REQUIRED, PROTECTED_AUTH = 1, 2, 4, 8, 16
COUNT_LOW, FINAL_TRY, LOCKED, TO_BE_CHANGED, WRITE_PROTECTED = 32, 64, 128, 256, 512
INITIALIZED, USER_PIN_INITIALIZED, PIN_AUTO, PIN_AUTO_REJECTED = 1024, 2048, 4096, 8192


class Leaf:
    """A field: u32 length, then the bytes.  claim overrides the length."""
    def __init__(self, value, claim=None):
        self.value, self.claim = value, claim

    def raw(self):
        n = len(self.value) if self.claim is None else self.claim
        return struct.pack(">I", n) + self.value

    def segments(self):
        n = len(self.value) if self.claim is None else self.claim
        return ["%08x %s" % (n, self.value.hex())] if self.value else ["%08x" % n]


class Group:
    """A field holding a u16 count and fields (a record or a list)."""
    def __init__(self, fields, count=None, extra=b""):
        self.fields, self.count, self.extra = fields, count, extra

    def inner(self):
        n = len(self.fields) if self.count is None else self.count
        return struct.pack(">H", n) + b"".join(f.raw() for f in self.fields) + self.extra

    def raw(self):
        b = self.inner()
        return struct.pack(">I", len(b)) + b

    def segments(self):
        n = len(self.fields) if self.count is None else self.count
        seg = ["%08x" % len(self.inner()), "%04x" % n]
        for f in self.fields:
            seg += f.segments()
        if self.extra:
            seg.append(self.extra.hex())
        return seg


def u8(v): return Leaf(struct.pack(">B", v))
def u32(v): return Leaf(struct.pack(">I", v & 0xFFFFFFFF))
def u64(v): return Leaf(struct.pack(">Q", v))
def b(v): return Leaf(v)


def frame(type_, rid, fields, count=None, extra=b"", prefix=None, after=b""):
    """Frame bytes and segments.  extra goes inside the body, after outside it."""
    n = len(fields) if count is None else count
    body = struct.pack(">BIH", type_, rid, n) + b"".join(f.raw() for f in fields) + extra
    p = len(body) if prefix is None else prefix
    seg = ["%08x" % p, "%02x" % type_, "%08x" % rid, "%04x" % n]
    for f in fields:
        seg += f.segments()
    if extra:
        seg.append(extra.hex())
    if after:
        seg.append(after.hex())
    return struct.pack(">I", p) + body + after, seg


def key(handle, uri, label, id_, pub, addr, count=None, extra=b""):
    return Group([u32(handle), b(uri), b(label), b(id_), b(pub), b(addr)], count, extra)


def token(uri, label, manuf, model, serial, slot, flags, keys, count=None, extra=b""):
    return Group([b(uri), b(label), b(manuf), b(model), b(serial), u64(slot), u32(flags),
                  Group(keys)], count, extra)


def key_list(tokens, manuf=b"SoftHSM", desc=b"Implementation of PKCS11", major=2, minor=6):
    return [b(manuf), b(desc), u8(major), u8(minor), Group(tokens)]


VAULT_FLAGS = PRESENT | LOGIN_REQUIRED | INITIALIZED | USER_PIN_INITIALIZED
K1 = key(1, KEY1_URI, b"eth0", b"\x01", PUB1, ADDR1)
K2 = key(2, KEY2_URI, "clé ☃".encode(), b"\x02", PUB2, ADDR2)
VAULT = token(TOKEN_URI, b"vault", b"SoftHSM project", b"SoftHSM v2", b"8f1a2b3c4d5e6f70",
              0x1d2e3f40, VAULT_FLAGS | LOGGED_IN, [K1, K2])
REMOVED = token(b"pkcs11:slot-id=3", b"", b"", b"", b"", 3, REMOVABLE, [])

# name, from, type name, (fields...) -- frames that decode.
VALID = [
    ("hello", "daemon", "HELLO", 1, [u32(3)]),
    ("hello version 2 (decodes; the peer answers ERR_PROTO_VERSION)", "daemon", "HELLO", 7, [u32(2)]),
    ("list keys", "daemon", "LIST_KEYS", 2, []),
    ("key status by handle", "daemon", "KEY_STATUS", 3, [u32(1), b(b"")]),
    ("key status by uri", "daemon", "KEY_STATUS", 4, [u32(0), b(KEY1_URI)]),
    ("sign by handle", "daemon", "SIGN", 0xFFFFFFFF, [u32(2), b(b""), b(DIGEST)]),
    ("sign by uri", "daemon", "SIGN", 5, [u32(0), b(KEY2_URI), b(bytes(32))]),
    ("generate, helper picks the id", "daemon", "GENERATE", 6, [b(TOKEN_URI), b(b"eth2"), b(b"")]),
    ("generate with id", "daemon", "GENERATE", 7, [b(TOKEN_URI), b("κλειδί".encode()), b(bytes(range(20)))]),
    ("login with pin", "daemon", "LOGIN", 8, [b(TOKEN_URI), u32(0), b(b"123456")]),
    ("login with pin, low tries confirmed", "daemon", "LOGIN", 9, [b(TOKEN_URI), u32(2), b(b"\x00\xff binary")]),
    ("login on pin pad", "daemon", "LOGIN", 10, [b(TOKEN_URI), u32(1), b(b"")]),
    ("configure, every token", "daemon", "CONFIGURE", 2, [Group([]), Group([])]),
    ("configure, uris with a pin-value and a rejected token", "daemon", "CONFIGURE", 2,
     [Group([b(b"pkcs11:token=vault?pin-value=0000"), b(b"pkcs11:token=cold?pin-source=file:/run/pin")]),
      Group([b(TOKEN_URI)])]),
    ("configure, uris at their cap", "daemon", "CONFIGURE", 2,
     [Group([b(b"pkcs11:token=t%02d" % i) for i in range(LIMIT_URIS)]),
      Group([b(TOKEN_URI)] * LIMIT_TOKENS)]),
    ("hello reply", "helper", "HELLO_REPLY", 1, [u32(3)]),
    ("key list, two tokens", "helper", "KEY_LIST", 2, key_list([VAULT, REMOVED])),
    ("key list, empty module", "helper", "KEY_LIST", 2, key_list([], b"", b"", 0, 0)),
    ("key state available", "helper", "KEY_STATE", 3, [u32(1), u8(0), u32(VAULT_FLAGS | LOGGED_IN)]),
    ("key state token absent", "helper", "KEY_STATE", 3, [u32(1), u8(1), u32(REMOVABLE)]),
    ("key state not found", "helper", "KEY_STATE", 4, [u32(0), u8(2), u32(0)]),
    ("signature", "helper", "SIGNATURE", 5, [b(SIG)]),
    ("generated", "helper", "GENERATED", 6, K1.fields),
    ("login ok", "helper", "LOGIN_RESULT", 8, [u8(0), u32(VAULT_FLAGS | LOGGED_IN)]),
    ("login wrong pin, final try next", "helper", "LOGIN_RESULT", 8, [u8(2), u32(VAULT_FLAGS | COUNT_LOW | FINAL_TRY)]),
    ("login pin locked", "helper", "LOGIN_RESULT", 9, [u8(3), u32(VAULT_FLAGS | LOCKED)]),
    ("key state, configured pin rejected", "helper", "KEY_STATE", 9, [u32(1), u8(0), u32(VAULT_FLAGS | PIN_AUTO | PIN_AUTO_REJECTED)]),
    ("error for a request", "helper", "ERROR", 5, [u32(-62), b(b"invalid signature")]),
    ("error not tied to a request", "helper", "ERROR", 0, [u32(-167), b(b"")]),
    ("event token removed", "helper", "EVENT", 0, [u8(2), u64(0x1d2e3f40), b(TOKEN_URI)]),
    ("event keys changed", "helper", "EVENT", 0, [u8(3), u64(0), b(TOKEN_URI)]),
]

H = T["HELLO"]
S = T["SIGN"]
G = T["GENERATE"]
L = T["LOGIN"]
KL = T["KEY_LIST"]
SIGN_OK = [u32(1), b(b""), b(DIGEST)]
LABEL_GEN = [b(TOKEN_URI), None, b(b"")]


def gen_label(label):
    return [b(TOKEN_URI), b(label), b(b"")]


def many_tokens(n):
    return key_list([REMOVED] * n)


# name, from, error, frame(...) -- frames that must be refused.
REFUSED = [
    ("empty input", "daemon", "ERR_PROTO_TRUNCATED", (b"", [])),
    ("three bytes of prefix", "daemon", "ERR_PROTO_TRUNCATED", (b"\x00\x00\x00", ["000000"])),
    ("prefix only", "daemon", "ERR_PROTO_TRUNCATED", (b"\x00\x00\x00\x0b", ["0000000b"])),
    ("frame one byte over the cap", "daemon", "ERR_PROTO_FRAME_SIZE", frame(H, 1, [u32(1)], prefix=LIMIT_FRAME + 1)),
    ("frame length 2^32-1", "helper", "ERR_PROTO_FRAME_SIZE", frame(T["ERROR"], 1, [u32(-1), b(b"")], prefix=0xFFFFFFFF)),
    ("frame length below a header", "daemon", "ERR_PROTO_FRAME_SIZE", frame(H, 1, [], prefix=6)),
    ("frame length zero", "daemon", "ERR_PROTO_FRAME_SIZE", (b"\x00" * 4, ["00000000"])),
    ("body one byte short", "daemon", "ERR_PROTO_TRUNCATED", frame(H, 1, [u32(1)], prefix=16)),
    ("byte after the frame", "daemon", "ERR_PROTO_TRAILING", frame(H, 1, [u32(1)], after=b"\x00")),
    ("byte after the last field", "daemon", "ERR_PROTO_TRAILING", frame(H, 1, [u32(1)], extra=b"\x00")),
    ("a second frame behind", "daemon", "ERR_PROTO_TRAILING", frame(T["LIST_KEYS"], 1, [], after=frame(T["LIST_KEYS"], 2, [])[0])),
    ("unknown type 0x08", "daemon", "ERR_PROTO_UNKNOWN_TYPE", frame(0x08, 1, [])),
    ("configure, one uri over the cap", "daemon", "ERR_TOO_MANY",
     frame(T["CONFIGURE"], 2, [Group([b(b"pkcs11:")] * (LIMIT_URIS + 1)), Group([])])),
    ("configure, one rejected token over the cap", "daemon", "ERR_TOO_MANY",
     frame(T["CONFIGURE"], 2, [Group([]), Group([b(TOKEN_URI)] * (LIMIT_TOKENS + 1))])),
    ("configure, an empty uri", "daemon", "ERR_PROTO_FIELD_SIZE",
     frame(T["CONFIGURE"], 2, [Group([b(b"")]), Group([])])),
    ("configure, not a pkcs11 uri", "daemon", "ERR_PROTO_FIELD_VALUE",
     frame(T["CONFIGURE"], 2, [Group([b(b"file:/etc/pin")]), Group([])])),
    ("configure, a blank in a uri", "daemon", "ERR_PROTO_FIELD_VALUE",
     frame(T["CONFIGURE"], 2, [Group([b(b"pkcs11:token=my vault")]), Group([])])),
    ("configure, one list", "daemon", "ERR_PROTO_FIELD_COUNT", frame(T["CONFIGURE"], 2, [Group([])])),
    ("configure from the helper", "helper", "ERR_PROTO_DIRECTION",
     frame(T["CONFIGURE"], 2, [Group([]), Group([])])),
    ("unknown type 0x00", "daemon", "ERR_PROTO_UNKNOWN_TYPE", frame(0x00, 1, [])),
    ("unknown type 0xff", "helper", "ERR_PROTO_UNKNOWN_TYPE", frame(0xFF, 1, [])),
    ("unknown type 0x40", "helper", "ERR_PROTO_UNKNOWN_TYPE", frame(0x40, 1, [u32(1)])),
    ("key list from the daemon", "daemon", "ERR_PROTO_DIRECTION", frame(KL, 1, key_list([]))),
    ("error from the daemon", "daemon", "ERR_PROTO_DIRECTION", frame(T["ERROR"], 1, [u32(-1), b(b"")])),
    ("hello from the helper", "helper", "ERR_PROTO_DIRECTION", frame(H, 1, [u32(1)])),
    ("login from the helper", "helper", "ERR_PROTO_DIRECTION", frame(L, 1, [b(TOKEN_URI), u32(0), b(b"1234")])),
    ("request id 0", "daemon", "ERR_PROTO_FIELD_VALUE", frame(H, 0, [u32(1)])),
    ("reply id 0", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["SIGNATURE"], 0, [b(SIG)])),
    ("event with an id", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["EVENT"], 1, [u8(1), u64(1), b(TOKEN_URI)])),
    ("hello version 0", "daemon", "ERR_PROTO_FIELD_VALUE", frame(H, 1, [u32(0)])),
    ("hello with two fields", "daemon", "ERR_PROTO_FIELD_COUNT", frame(H, 1, [u32(1), u32(1)])),
    ("hello with no field", "daemon", "ERR_PROTO_FIELD_COUNT", frame(H, 1, [])),
    ("hello claiming 2 fields, holding 1", "daemon", "ERR_PROTO_FIELD_COUNT", frame(H, 1, [u32(1)], count=2)),
    ("list keys with a field", "daemon", "ERR_PROTO_FIELD_COUNT", frame(T["LIST_KEYS"], 1, [u32(1)])),
    ("u32 field of 3 bytes", "daemon", "ERR_PROTO_FIELD_SIZE", frame(H, 1, [b(b"\x00\x00\x01")])),
    ("u32 field of 5 bytes", "daemon", "ERR_PROTO_FIELD_SIZE", frame(H, 1, [b(b"\x00\x00\x00\x00\x01")])),
    ("field length past the frame", "daemon", "ERR_PROTO_TRUNCATED", frame(S, 1, [u32(1), Leaf(b"", claim=100), b(DIGEST)])),
    ("digest of 31 bytes", "daemon", "ERR_PROTO_FIELD_SIZE", frame(S, 1, [u32(1), b(b""), b(DIGEST[:31])])),
    ("digest of 33 bytes", "daemon", "ERR_PROTO_FIELD_SIZE", frame(S, 1, [u32(1), b(b""), b(DIGEST + b"\x00")])),
    ("empty digest", "daemon", "ERR_PROTO_FIELD_SIZE", frame(S, 1, [u32(1), b(b""), b(b"")])),
    ("sign by handle and uri", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(1), b(KEY1_URI), b(DIGEST)])),
    ("sign by neither", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b""), b(DIGEST)])),
    ("key uri over the cap", "daemon", "ERR_TOO_LONG", frame(S, 1, [u32(0), b(b"pkcs11:object=" + b"a" * (LIMIT_URI - 13)), b(DIGEST)])),
    ("key uri length claims 2^32-1", "daemon", "ERR_TOO_LONG", frame(S, 1, [u32(0), Leaf(b"", claim=0xFFFFFFFF), b(DIGEST)])),
    ("uri of another scheme", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b"pkcs12:object=a"), b(DIGEST)])),
    ("uri with a space", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b"pkcs11:object=a b"), b(DIGEST)])),
    ("uri with a bad escape", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b"pkcs11:object=%G0"), b(DIGEST)])),
    ("uri with a cut escape", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b"pkcs11:object=%0"), b(DIGEST)])),
    ("uri with a NUL", "daemon", "ERR_PROTO_FIELD_VALUE", frame(S, 1, [u32(0), b(b"pkcs11:object=a\x00"), b(DIGEST)])),
    ("generate without a label", "daemon", "ERR_PROTO_FIELD_SIZE", frame(G, 1, gen_label(b""))),
    ("generate without a token", "daemon", "ERR_PROTO_FIELD_SIZE", frame(G, 1, [b(b""), b(b"eth"), b(b"")])),
    ("label with a newline", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"eth\n0"))),
    ("label with DEL", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"eth\x7f"))),
    ("label with an overlong NUL", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"eth\xc0\x80"))),
    ("label with a C1 control (CSI)", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"eth\xc2\x9b"))),
    ("label with a bidi override", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label("eth\u202e0".encode()))),
    ("label with a surrogate", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"\xed\xa0\x80"))),
    ("label with a cut sequence", "daemon", "ERR_PROTO_FIELD_VALUE", frame(G, 1, gen_label(b"\xe2\x98"))),
    ("label over the cap", "daemon", "ERR_TOO_LONG", frame(G, 1, gen_label(b"l" * (LIMIT_TEXT + 1)))),
    ("id over the cap", "daemon", "ERR_TOO_LONG", frame(G, 1, [b(TOKEN_URI), b(b"eth"), b(b"\x01" * (LIMIT_KEY_ID + 1))])),
    ("login with an empty pin", "daemon", "ERR_PROTO_FIELD_SIZE", frame(L, 1, [b(TOKEN_URI), u32(0), b(b"")])),
    ("login on pin pad with a pin", "daemon", "ERR_PROTO_FIELD_SIZE", frame(L, 1, [b(TOKEN_URI), u32(1), b(b"1234")])),
    ("login with an unknown flag", "daemon", "ERR_PROTO_FIELD_VALUE", frame(L, 1, [b(TOKEN_URI), u32(4), b(b"1234")])),
    ("pin over the cap", "daemon", "ERR_TOO_LONG", frame(L, 1, [b(TOKEN_URI), u32(0), b(b"1" * (LIMIT_PIN + 1))])),
    ("login without a token", "daemon", "ERR_PROTO_FIELD_SIZE", frame(L, 1, [b(b""), u32(0), b(b"1234")])),
    ("signature with a recovery id (version 2's second field)", "helper", "ERR_PROTO_FIELD_COUNT",
     frame(T["SIGNATURE"], 1, [b(SIG), u8(0)])),
    ("high s", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["SIGNATURE"], 1, [b(HIGH_S)])),
    ("r zero", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["SIGNATURE"], 1, [b(bytes(32) + SIG[32:])])),
    ("signature of 65 bytes", "helper", "ERR_PROTO_FIELD_SIZE", frame(T["SIGNATURE"], 1, [b(SIG + b"\x1b")])),
    ("key state not found with a handle", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["KEY_STATE"], 1, [u32(1), u8(2), u32(0)])),
    ("key state available without a handle", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["KEY_STATE"], 1, [u32(0), u8(0), u32(PRESENT)])),
    ("key state available, token absent", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["KEY_STATE"], 1, [u32(1), u8(0), u32(0)])),
    ("key state 3", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["KEY_STATE"], 1, [u32(1), u8(3), u32(PRESENT)])),
    ("login status 9", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["LOGIN_RESULT"], 1, [u8(9), u32(PRESENT)])),
    ("unknown token flag", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["LOGIN_RESULT"], 1, [u8(0), u32(PRESENT | 0x4000)])),
    ("error code 0", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["ERROR"], 1, [u32(0), b(b"")])),
    ("error code positive", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["ERROR"], 1, [u32(7), b(b"")])),
    ("error message with ESC", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["ERROR"], 1, [u32(-1), b(b"\x1b[2J")])),
    ("event kind 0", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["EVENT"], 0, [u8(0), u64(1), b(TOKEN_URI)])),
    ("event kind 4", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["EVENT"], 0, [u8(4), u64(1), b(TOKEN_URI)])),
    ("event without a token", "helper", "ERR_PROTO_FIELD_SIZE", frame(T["EVENT"], 0, [u8(1), u64(1), b(b"")])),
    ("generated key, handle 0", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["GENERATED"], 1, key(0, KEY1_URI, b"", b"", PUB1, ADDR1).fields)),
    ("generated key, wrong address", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["GENERATED"], 1, key(1, KEY1_URI, b"", b"", PUB1, ADDR2).fields)),
    ("generated key, off the curve", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["GENERATED"], 1, key(1, KEY1_URI, b"", b"", PUB1[:64] + b"\xb9", ADDR1).fields)),
    ("generated key, hybrid prefix 06", "helper", "ERR_PROTO_FIELD_VALUE", frame(T["GENERATED"], 1, key(1, KEY1_URI, b"", b"", b"\x06" + PUB1[1:], ADDR1).fields)),
    ("generated key, compressed", "helper", "ERR_PROTO_FIELD_SIZE", frame(T["GENERATED"], 1, key(1, KEY1_URI, b"", b"", b"\x02" + PUB1[1:33], ADDR1).fields)),
    ("generated key, no uri", "helper", "ERR_PROTO_FIELD_SIZE", frame(T["GENERATED"], 1, key(1, b"", b"", b"", PUB1, ADDR1).fields)),
    ("key list, 65 tokens", "helper", "ERR_TOO_MANY", frame(KL, 1, many_tokens(LIMIT_TOKENS + 1))),
    ("key list, count past the bytes", "helper", "ERR_PROTO_TRUNCATED", frame(KL, 1, key_list([]) [:4] + [Group([], count=3)])),
    ("key list, keys count over the cap", "helper", "ERR_TOO_MANY", frame(KL, 1, key_list([
        Group([b(TOKEN_URI), b(b""), b(b""), b(b""), b(b""), u64(1), u32(PRESENT), Group([], count=LIMIT_KEYS + 1)])]))),
    ("key list, removed token with keys", "helper", "ERR_PROTO_FIELD_VALUE", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, REMOVABLE, [K1])]))),
    ("key list, removed token logged in", "helper", "ERR_PROTO_FIELD_VALUE", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, LOGGED_IN, [])]))),
    ("key list, one handle twice", "helper", "ERR_PROTO_FIELD_VALUE", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, PRESENT, [K1]),
        token(TOKEN_URI, b"", b"", b"", b"", 2, PRESENT, [key(1, KEY2_URI, b"", b"", PUB2, ADDR2)])]))),
    ("key list, token record of 7 fields", "helper", "ERR_PROTO_FIELD_COUNT", frame(KL, 1, key_list([
        Group(VAULT.fields[:7])]))),
    ("key list, token record claims 9 fields", "helper", "ERR_PROTO_FIELD_COUNT", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, PRESENT, [], count=9)]))),
    ("key list, byte after a token record", "helper", "ERR_PROTO_TRAILING", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, PRESENT, [], extra=b"\x00")]))),
    ("key list, byte after a key record", "helper", "ERR_PROTO_TRAILING", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, PRESENT, [key(1, KEY1_URI, b"", b"", PUB1, ADDR1, extra=b"\x00")])]))),
    ("key list, key record of 5 fields", "helper", "ERR_PROTO_FIELD_COUNT", frame(KL, 1, key_list([
        token(TOKEN_URI, b"", b"", b"", b"", 1, PRESENT, [Group(K1.fields[:5])])]))),
    ("key list, slot id of 4 bytes", "helper", "ERR_PROTO_FIELD_SIZE", frame(KL, 1, key_list([
        Group([b(TOKEN_URI), b(b""), b(b""), b(b""), b(b""), u32(1), u32(PRESENT), Group([])])]))),
    ("key list, version of 2 bytes", "helper", "ERR_PROTO_FIELD_SIZE", frame(KL, 1, [b(b""), b(b""), b(b"\x02\x06"), u8(0), Group([])])),
    ("key list, token list missing", "helper", "ERR_PROTO_FIELD_SIZE", frame(KL, 1, [b(b""), b(b""), u8(2), u8(6), b(b"")])),
]


def unhex(seg):
    return bytes.fromhex("".join("".join(seg).split()))


def main():
    frames, refused, seeds = [], [], []
    for name, side, tname, rid, fields in VALID:
        raw, seg = frame(T[tname], rid, fields)
        assert unhex(seg) == raw, name
        frames.append({"name": name, "from": side, "type": tname, "frame": seg})
        seeds.append(raw)
    for name, side, err, (raw, seg) in REFUSED:
        assert unhex(seg) == raw, name
        if len(raw) > 4096:
            # Long cases are kept short in the file: the big field as one segment.
            seg = [raw.hex()]
        refused.append({"name": name, "from": side, "error": err, "frame": seg})
        if len(raw) <= 4096:
            seeds.append(raw)
    note = ("generated by tests/vectors/proto/gen.py from docs/token-protocol.md; "
            "edit the script, then run: python3 tests/vectors/proto/gen.py")
    for fn, cases in (("frames.json", frames), ("refused.json", refused)):
        with open(os.path.join(OUT, fn), "w") as f:
            json.dump({"note": note, "cases": cases}, f, indent=1, ensure_ascii=False)
            f.write("\n")
    # Seeds: each frame alone, and two streams (see tests/fuzz/fuzz_proto.c).
    stream_d = b"".join(frame(T[t], r, fl)[0] for _, s, t, r, fl in VALID if s == "daemon")
    stream_h = b"".join(frame(T[t], r, fl)[0] for _, s, t, r, fl in VALID if s == "helper")
    seeds.append(b"\x00" + b"\x06" + stream_d)	# stream, daemon side, 7-byte chunks
    seeds.append(b"\x01" + b"\x00" + stream_h)	# stream, helper side, 1-byte chunks
    os.makedirs(CORPUS, exist_ok=True)
    for old in os.listdir(CORPUS):
        if old.startswith("seed-"):
            os.unlink(os.path.join(CORPUS, old))
    for s in seeds:
        with open(os.path.join(CORPUS, "seed-" + hashlib.sha1(s).hexdigest()[:12]), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
