#!/usr/bin/env python3
"""tests/card/gnuk_emu.py - an emulated Gnuk OpenPGP card for vpcd.

Test code.  It answers what OpenSC 0.23's openpgp driver (card-openpgp.c,
pkcs15-openpgp.c) sends to a card whose ATR it takes for Gnuk, with a
secp256k1 signature key generated on the "card" and never exported: the
private key lives in this process's memory only, and no command returns it.

vpcd (Debian's vsmartcard-vpcd, an IFD handler for pcscd) listens for the
card on a TCP port; this emulator connects to it, as vsmartcard's vicc does.
vpcd's framing: every message is a 2-byte big-endian length and that many
bytes; a 1-byte message is a control code (0 power off, 1 power on, 2 reset,
4 "send the ATR"), anything longer is a command APDU, answered with one
framed response APDU.  vpcd listens on every address, so the tests run it
and this emulator in a network namespace of their own.

Control (for the tests), one line per connection on the Unix socket --ctl:
  pull      close the connection to vpcd and stay away: the card is removed
  insert    connect again (every 50 ms until vpcd accepts)
  status    "connected"/"waiting"/"pulled", PW1/PW3 tries left, signatures,
            VERIFYs of PW1 for signing
  quit      exit
The emulator exits by itself after --lifetime seconds (default 1800) so a
test that dies cannot leave it behind for long.

What it implements (commands of the OpenPGP card specification 3.4; the AID
claims spec 3.4, or 2.0 as Gnuk's own firmware does, with --spec 2.0):
  SELECT by AID, GET DATA for 4F 5E 65 6E 73 7A C4 5F50 5F52
  7F21 0101-0104, VERIFY for 81/82/83 with retry counters that lock
  at 0 (and VERIFY without data for the status, P1=FF to reset it), PUT DATA
  for the DOs the driver writes (algorithm attributes C1-C3, PW1
  status C4, fingerprints C7-C9, generation dates CE-D0, cardholder data),
  GENERATE ASYMMETRIC KEY PAIR (P1=80 generate, 81 read) for
  ECDSA on secp256k1, PSO:COMPUTE DIGITAL SIGNATURE over a digest
  of at most 32 bytes, SELECT DATA for DO 7F21, RESET RETRY COUNTER with PW3.
"""

import argparse
import os
import selectors
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

# The Gnuk ATR of OpenSC's pgp_atrs[] (card-openpgp.c), which is what makes
# the driver treat the card as SC_CARD_TYPE_OPENPGP_GNUK.  Historical bytes:
# 00 31 84 73 80 01 80 00 90 00 (command chaining, no extended APDUs).
ATR = bytes.fromhex("3bda11ff81b1fe551f0300318473800180009000e4")
HIST = bytes.fromhex("00318473800180059000")  # DO 5F52: life cycle 05 = operational
AID_PREFIX = bytes.fromhex("d27600012401")
# Full AID: RID+PIX, version 3.4, manufacturer F517 (FSIJ, Gnuk's), serial.
SPEC_34 = bytes.fromhex("0304")  # the OpenPGP card spec version in the AID
AID_TAIL = bytes.fromhex("f517") + bytes.fromhex("7e570001") + b"\x00\x00"

SECP256K1_OID = bytes.fromhex("2b8104000a")  # 1.3.132.0.10
ALGO_ECDSA = 0x13
ALGO_RSA2048 = bytes.fromhex("010800002000")  # Gnuk's default for DEC and AUT

PW1_DEFAULT = b"123456"
PW3_DEFAULT = b"12345678"
MAX_TRIES = 3
MAX_APDU = 261          # short APDUs only, as Gnuk
MAX_CHAIN = 1024        # command chaining: what any command here can need
MAX_CTL_LINE = 64
RECONNECT_S = 0.05      # how often to try vpcd while "inserted" and not connected

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_BLOCKED = b"\x69\x83"
SW_CONDITIONS = b"\x69\x85"
SW_WRONG_DATA = b"\x6a\x80"
SW_NOT_FOUND = b"\x6a\x88"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"


def tlv(tag, value):
    t = struct.pack(">H", tag) if tag > 0xff else bytes([tag])
    n = len(value)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82]) + struct.pack(">H", n)
    return t + ln + value


class Card:
    """The card's state: what a Gnuk keeps in flash, and what it forgets at reset."""

    def __init__(self, pw1, pw3, pw1_once, spec=SPEC_34, rc_tries=0):
        self.aid = AID_PREFIX + spec + AID_TAIL
        # Tries of the Resetting Code; 0 = none set, as Gnuk leaves it.
        self.rc_tries = rc_tries
        self.pw = {1: pw1, 3: pw3}
        self.tries = {1: MAX_TRIES, 3: MAX_TRIES}
        # C4 byte 0: 01 = PW1 stays valid for several PSO:CDS, 00 = for one.
        self.pw1_status = 0x00 if pw1_once else 0x01
        self.algo = {1: bytes([ALGO_ECDSA]) + SECP256K1_OID, 2: ALGO_RSA2048, 3: ALGO_RSA2048}
        self.key = None          # the signature key: ec private key, never exported
        self.fpr = {1: bytes(20), 2: bytes(20), 3: bytes(20)}
        self.cafpr = bytes(60)
        self.gendate = {1: bytes(4), 2: bytes(4), 3: bytes(4)}
        self.do = {0x5b: b"", 0x5f2d: b"", 0x5f35: b"", 0x5e: b"", 0x5f50: b""}
        self.sigcount = 0
        self.verify81 = 0        # VERIFY of PW1 for signing, with a PIN: for the tests
        self.reset()

    def reset(self):
        self.verified = set()    # 0x81, 0x82, 0x83
        self.selected = False
        self.chain = b""

    # ---- data objects ----

    def pw_status(self):
        return bytes([self.pw1_status, 127, 127, 127, self.tries[1], self.rc_tries, self.tries[3]])

    def discretionary(self):
        ext_caps = bytes([0x34, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0xff, 0x00, 0x00])
        return (tlv(0xc0, ext_caps) + tlv(0xc1, self.algo[1]) + tlv(0xc2, self.algo[2]) +
                tlv(0xc3, self.algo[3]) + tlv(0xc4, self.pw_status()) +
                tlv(0xc5, self.fpr[1] + self.fpr[2] + self.fpr[3]) + tlv(0xc6, self.cafpr) +
                tlv(0xcd, self.gendate[1] + self.gendate[2] + self.gendate[3]))

    def get_data(self, tag):
        if tag == 0x4f:
            return self.aid
        if tag == 0x5f52:
            return HIST
        if tag == 0x6e:
            return tlv(0x4f, self.aid) + tlv(0x5f52, HIST) + tlv(0x73, self.discretionary())
        if tag == 0x73:
            return self.discretionary()
        if tag == 0x65:
            return tlv(0x5b, self.do[0x5b]) + tlv(0x5f2d, self.do[0x5f2d]) + tlv(0x5f35, self.do[0x5f35])
        if tag == 0x7a:
            return tlv(0x93, self.sigcount.to_bytes(3, "big"))
        if tag == 0xc4:
            return self.pw_status()
        if tag in (0x5e, 0x5f50):
            return self.do[tag]
        return None  # 7F21, 0101-0104 and the rest: Gnuk answers 6A88

    def put_data(self, tag, data):
        """PUT DATA after PW3: the DOs the driver writes during key generation."""
        if tag in (0xc1, 0xc2, 0xc3):
            n = tag - 0xc0
            if n == 1 and data != bytes([ALGO_ECDSA]) + SECP256K1_OID:
                return SW_WRONG_DATA  # this card makes secp256k1 signature keys only
            self.algo[n] = bytes(data)
        elif tag == 0xc4:
            if len(data) < 1 or data[0] not in (0, 1):
                return SW_WRONG_DATA
            self.pw1_status = data[0]
        elif tag in (0xc7, 0xc8, 0xc9):
            if len(data) != 20:
                return SW_WRONG_LENGTH
            self.fpr[tag - 0xc6] = bytes(data)
        elif tag in (0xca, 0xcb, 0xcc):
            if len(data) != 20:
                return SW_WRONG_LENGTH
            i = tag - 0xca
            self.cafpr = self.cafpr[:20 * i] + bytes(data) + self.cafpr[20 * (i + 1):]
        elif tag in (0xce, 0xcf, 0xd0):
            if len(data) != 4:
                return SW_WRONG_LENGTH
            self.gendate[tag - 0xcd] = bytes(data)
        elif tag in (0x5b, 0x5f2d, 0x5f35, 0x5e, 0x5f50):
            self.do[tag] = bytes(data)
        else:
            return SW_NOT_FOUND
        return SW_OK

    # ---- commands ----

    def verify(self, p1, p2, data):
        if p2 not in (0x81, 0x82, 0x83):
            return SW_WRONG_P1P2
        n = 3 if p2 == 0x83 else 1
        if p1 == 0xff:              # reset the access status (OpenSC's logout)
            self.verified.discard(p2)
            return SW_OK
        if p1 != 0x00:
            return SW_WRONG_P1P2
        if not data:                # the status: verified, or tries left
            if p2 in self.verified:
                return SW_OK
            if self.tries[n] == 0:
                return SW_BLOCKED
            return bytes([0x63, 0xc0 | self.tries[n]])
        if self.tries[n] == 0:
            return SW_BLOCKED
        if p2 == 0x81:
            self.verify81 += 1
        if data != self.pw[n]:
            self.tries[n] -= 1
            self.verified.discard(p2)
            return SW_BLOCKED if self.tries[n] == 0 else bytes([0x63, 0xc0 | self.tries[n]])
        self.tries[n] = MAX_TRIES
        self.verified.add(p2)
        return SW_OK

    def reset_retry_counter(self, p1, p2, data):
        # P1=02: new PW1 in the data, allowed after PW3.
        if p1 != 0x02 or p2 != 0x81:
            return SW_WRONG_P1P2
        if 0x83 not in self.verified:
            return SW_SECURITY
        if len(data) < 6 or len(data) > 127:
            return SW_WRONG_LENGTH
        self.pw[1] = bytes(data)
        self.tries[1] = MAX_TRIES
        return SW_OK

    def public_key(self):
        pub = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return tlv(0x7f49, tlv(0x86, pub))

    def generate(self, p1, data):
        if data != bytes([0xb6, 0x00]):
            return SW_WRONG_DATA, b""   # only the signature key slot is emulated
        if p1 == 0x81:
            if self.key is None:
                return SW_NOT_FOUND, b""
            return SW_OK, self.public_key()
        if p1 != 0x80:
            return SW_WRONG_P1P2, b""
        if 0x83 not in self.verified:
            return SW_SECURITY, b""
        if self.algo[1] != bytes([ALGO_ECDSA]) + SECP256K1_OID:
            return SW_CONDITIONS, b""
        self.key = ec.generate_private_key(ec.SECP256K1())
        self.fpr[1] = bytes(20)     # the host writes the new fingerprint
        self.sigcount = 0
        return SW_OK, self.public_key()

    def sign(self, data):
        if self.key is None:
            return SW_NOT_FOUND, b""
        if 0x81 not in self.verified:
            return SW_SECURITY, b""
        if not 1 <= len(data) <= 32:
            return SW_WRONG_LENGTH, b""
        digest = data.rjust(32, b"\x00")
        der = self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        # Raw r||s as Gnuk returns it; s is not normalised (a card does not).
        if self.pw1_status == 0x00:
            self.verified.discard(0x81)
        self.sigcount += 1
        return SW_OK, r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def apdu(self, untrusted_apdu):
        """One command APDU in, one response APDU out."""
        if len(untrusted_apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = untrusted_apdu[:4]
        body = untrusted_apdu[4:]
        data = b""
        if len(body) == 1:
            pass                        # case 2: Le only
        elif len(body) > 1:
            lc = body[0]
            if lc == 0 or len(body) < 1 + lc or len(body) > 2 + lc:
                return SW_WRONG_LENGTH  # extended length: not on a Gnuk
            data = body[1:1 + lc]
        if cla & 0x10:                  # command chaining: keep, answer 9000
            if len(self.chain) + len(data) > MAX_CHAIN:
                self.chain = b""
                return SW_WRONG_LENGTH
            self.chain += data
            return SW_OK
        if self.chain:
            data = self.chain + data
            self.chain = b""
        if cla & ~0x10 & 0xff != 0x00:
            return SW_CLA

        if ins == 0xa4:                 # SELECT
            if p1 == 0x04 and data.startswith(AID_PREFIX):
                self.selected = True
                return SW_OK
            return SW_FILE_NOT_FOUND
        if not self.selected:
            return SW_CONDITIONS
        if ins == 0xca:                 # GET DATA
            v = self.get_data((p1 << 8) | p2)
            return SW_NOT_FOUND if v is None else v + SW_OK
        if ins == 0x20:                 # VERIFY
            return self.verify(p1, p2, data)
        if ins == 0xda:                 # PUT DATA
            if 0x83 not in self.verified:
                return SW_SECURITY
            return self.put_data((p1 << 8) | p2, data)
        if ins == 0x47:                 # GENERATE ASYMMETRIC KEY PAIR
            sw, out = self.generate(p1, data)
            return out + sw
        if ins == 0x2a and p1 == 0x9e and p2 == 0x9a:   # PSO:CDS
            sw, out = self.sign(data)
            return out + sw
        if ins == 0xa5:                 # SELECT DATA: only the certificate DO
            return SW_OK if data == bytes.fromhex("60045c027f21") else SW_NOT_FOUND
        if ins == 0x2c:                 # RESET RETRY COUNTER
            return self.reset_retry_counter(p1, p2, data)
        return SW_INS


class Emulator:
    """The card in vpcd's first slot, as vsmartcard's own vicc does it: this
    process connects to vpcd, and closing the connection is pulling the card.

    vpcd runs in server mode (it listens on PORT for slot 0 and PORT+1 for
    slot 1, on every address), so the tests start pcscd and this emulator in
    a network namespace of their own.  Client mode (vpcd connecting here)
    cannot be used with Debian 12's vpcd 0.8: after a disconnect it calls
    waitforclient() on its invalid server socket and pcscd aborts (FD_SET(-1))."""

    def __init__(self, args):
        self.card = Card(args.pw1.encode(), args.pw3.encode(), args.pw1_once,
                         bytes(int(x) for x in args.spec.split(".")), args.rc_tries)
        self.sel = selectors.DefaultSelector()
        self.host, self.port = args.vpcd_host, args.vpcd_port
        self.conn = None
        self.inbuf = b""
        self.present = True
        self.deadline = time.monotonic() + args.lifetime
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(args.ctl):
            os.unlink(args.ctl)
        self.ctl.bind(args.ctl)
        os.chmod(args.ctl, 0o600)
        self.ctl.listen(4)
        self.sel.register(self.ctl, selectors.EVENT_READ, "ctl")

    def log(self, msg):
        print("gnuk_emu: " + msg, file=sys.stderr, flush=True)

    def connect(self):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(1)
        try:
            c.connect((self.host, self.port))
        except OSError:
            c.close()
            return
        c.settimeout(None)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        self.conn = c
        self.sel.register(c, selectors.EVENT_READ, "vpcd")
        self.log("connected to vpcd at %s:%d" % (self.host, self.port))

    def drop(self):
        if self.conn is not None:
            self.sel.unregister(self.conn)
            self.conn.close()
            self.conn = None
            self.inbuf = b""
        self.card.reset()

    def on_vpcd(self):
        chunk = self.conn.recv(4096)
        # vpcd writes a frame's length and its APDU in two sends, without
        # TCP_NODELAY: Nagle holds the APDU until we ACK the length, which
        # delayed ACK puts off by 40 ms.  Quick ACKs (Linux resets the mode
        # now and then, hence after every read) make an APDU ~0.1 ms.
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if not chunk:
            self.log("vpcd closed the connection")
            self.drop()
            return
        self.inbuf += chunk
        if len(self.inbuf) > 2 + 0xffff:
            self.drop()
            return
        while self.conn is not None and len(self.inbuf) >= 2:
            n = struct.unpack(">H", self.inbuf[:2])[0]
            if len(self.inbuf) < 2 + n:
                break
            msg, self.inbuf = self.inbuf[2:2 + n], self.inbuf[2 + n:]
            if n == 1:
                code = msg[0]
                if code == 4:
                    self.conn.sendall(struct.pack(">H", len(ATR)) + ATR)
                elif code in (0, 1, 2):
                    self.card.reset()   # power off/on and reset clear the PIN state
                continue
            rsp = SW_WRONG_LENGTH if n > MAX_APDU else self.card.apdu(msg)
            self.conn.sendall(struct.pack(">H", len(rsp)) + rsp)

    def on_ctl(self):
        c, _ = self.ctl.accept()
        c.settimeout(5)
        try:
            line = c.recv(MAX_CTL_LINE).decode("ascii", "replace").strip()
            if line == "pull":
                self.present = False
                self.drop()
                self.log("pulled")
                c.sendall(b"ok\n")
            elif line == "insert":
                self.present = True
                self.log("inserted")
                c.sendall(b"ok\n")
            elif line == "status":
                st = "pulled" if not self.present else "connected" if self.conn else "waiting"
                c.sendall(("%s pw1=%d pw3=%d sigs=%d verify81=%d key=%s\n" % (
                    st, self.card.tries[1], self.card.tries[3], self.card.sigcount,
                    self.card.verify81, "yes" if self.card.key else "no")).encode())
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
                self.log("lifetime over, exiting")
                return 0
            if self.present and self.conn is None:
                self.connect()
            wait = RECONNECT_S if self.present and self.conn is None else 1.0
            for key, _ in self.sel.select(timeout=min(left, wait)):
                if key.data == "vpcd" and self.conn is not None:
                    try:
                        self.on_vpcd()
                    except OSError:
                        self.drop()
                elif key.data == "ctl":
                    self.on_ctl()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vpcd-host", default="127.0.0.1")
    ap.add_argument("--vpcd-port", type=int, default=35963, help="vpcd's port for slot 0")
    ap.add_argument("--ctl", required=True, help="control socket path")
    # PINs from the environment, not the command line (ps shows that).
    ap.add_argument("--pw1", default=os.environ.get("GNUK_EMU_PW1", PW1_DEFAULT.decode()))
    ap.add_argument("--pw3", default=os.environ.get("GNUK_EMU_PW3", PW3_DEFAULT.decode()))
    ap.add_argument("--pw1-once", action="store_true",
                    help="PW1 valid for one signature only (C4 byte 0 = 00)")
    ap.add_argument("--spec", default="3.4", choices=("2.0", "3.4"),
                    help="OpenPGP card spec version the AID claims (OpenSC's driver depends on it)")
    ap.add_argument("--rc-tries", type=int, default=0, choices=range(0, 4),
                    help="tries of the Resetting Code (0: none set)")
    ap.add_argument("--lifetime", type=float, default=1800)
    args = ap.parse_args()
    return Emulator(args).run()


if __name__ == "__main__":
    sys.exit(main())
