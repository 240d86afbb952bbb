// Seeded random requests for the interop test: transactions of every type (as Clef's
// SendTxArgs), personal messages and EIP-712 typed data with random types.
//
// Everything generated is something p11signer must accept and the oracles can
// represent.  What is left out on purpose, and why, is said where it is left out
// ("Excluded:"); refused inputs are the business of the vector tests
// (tests/vectors), not of this one.
'use strict';
const { ethers } = require('ethers');

// xorshift128+ on BigInt: reproducible from the printed seed on any node version.
function rng(seed) {
  let s0 = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 1n), s1 = BigInt.asUintN(64, s0 ^ 0xdeadbeefcafebaben);
  const next = () => {
    let x = s0; const y = s1; s0 = y;
    x = BigInt.asUintN(64, x ^ (x << 23n)); s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return BigInt.asUintN(64, s1 + y);
  };
  const r = {
    u64: next,
    int: (n) => Number(next() % BigInt(n)),                  // 0..n-1
    bool: () => (next() & 1n) === 1n,
    bytes: (n) => Uint8Array.from({ length: n }, () => Number(next() & 0xffn)),
    hex: (n) => ethers.hexlify(r.bytes(n)),
    pick: (a) => a[r.int(a.length)],
    // A value of up to `bits` bits, biased towards edges: 0, 1, the maximum, and
    // the one-byte values around RLP's 0x7f/0x80 boundary.
    big: (bits) => {
      const k = r.int(9);
      if (k === 0) return 0n;
      if (k === 1) return 1n;
      if (k === 2) return (1n << BigInt(bits)) - 1n;
      if (k === 3) return BigInt.asUintN(bits, BigInt(r.pick([0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000])));
      const nb = 1 + r.int(Math.ceil(bits / 8));
      return BigInt.asUintN(bits, BigInt(ethers.hexlify(r.bytes(nb))));
    },
    // Fisher-Yates: unlike sort() with a random comparator, the same on every engine.
    shuffle: (a) => {
      for (let i = a.length - 1; i > 0; i--) { const j = r.int(i + 1); [a[i], a[j]] = [a[j], a[i]]; }
      return a;
    },
  };
  return r;
}

const qty = (v) => '0x' + BigInt(v).toString(16);
const addr = (r) => ethers.getAddress(r.hex(20));
// An address as a client may send it: EIP-55 or all lower case.
// Excluded: mixed case with a wrong EIP-55 checksum.  ethers refuses it ("bad address
// checksum"); Clef and p11signer take it (in a transaction the signer layer warns).
const anyAddr = (r) => (r.int(4) === 0 ? r.hex(20) : addr(r));

function accessList(r) {
  return Array.from({ length: r.int(4) }, () => ({
    address: anyAddr(r), storageKeys: Array.from({ length: r.int(3) }, () => r.hex(32)),
  }));
}

// Data lengths around RLP's boundaries (55/56 bytes: short/long string; 256 and
// 65536: one/two/three length bytes) and around typical calldata.  The 64 KiB case
// is rare: the oracles spend most of a run's time on its hex.
const DATA_LENGTHS = [0, 1, 1, 4, 36, 55, 56, 68, 100, 255, 256, 300, 1024];
const dataLength = (r) => (r.int(40) === 0 ? 65536 : r.pick(DATA_LENGTHS));

// SendTxArgs for the wanted type, using only the fields that select it.
//
// Excluded:
// * nonces above 2^53 - 1: ethers keeps a transaction's nonce in a JS number and
//   refuses larger ones (p11signer takes any 64-bit nonce; tests/vectors/tx has them).
// * legacy chain ids above 2^254: v = 2 * chainId + 35 + recid must fit in 256 bits,
//   so p11signer refuses them (as it must); typed transactions get any 256-bit id.
// * authorization yParity other than 0 and 1 and s at or above 2^255: ethers decodes
//   each authorization into a Signature, which only has yParity 0/1 and refuses
//   "non-canonical s" (top bit set).  p11signer passes any uint8 yParity and any
//   256-bit r and s through, as geth does; the decoder vectors cover those.
// * maxPriorityFeePerGas above maxFeePerGas: ethers refuses to decode such a
//   transaction ("priorityFee cannot be more than maxFee"); p11signer signs it, as
//   Clef does, and leaves it to the node to refuse.
// * blob sidecars (blobs, commitments, proofs): p11signer refuses them by design.
function txArgs(r, type, from) {
  const a = { from, gas: qty(r.big(64)), nonce: qty(r.big(53) % (1n << 53n)), value: qty(r.big(r.bool() ? 256 : 80)) };
  const creation = type <= 2 && r.int(6) === 0;
  if (!creation) a.to = anyAddr(r);
  else if (r.bool()) a.to = null;                           // null is the same as absent
  const data = r.hex(dataLength(r));
  const k = r.int(5);
  if (k < 2) a.input = data;
  else if (k < 4) a.data = data;
  else { a.input = data; a.data = data; }                   // both, equal: accepted
  if (r.int(4) !== 0) {
    const bits = r.pick(type === 0 ? [32, 64, 254] : [32, 64, 256]);
    a.chainId = qty(1n + r.big(bits) % ((1n << BigInt(bits)) - 1n));
  }
  // An absent gasPrice (types 0/1) or tip (type 2) is zero, as in Clef's --advanced mode.
  if (type === 0 || type === 1) { if (r.int(8)) a.gasPrice = qty(r.big(r.bool() ? 64 : 256)); }
  if (type >= 2) {
    a.maxFeePerGas = qty(r.big(r.bool() ? 64 : 256));
    if (type > 2 || r.int(8)) a.maxPriorityFeePerGas = qty(r.big(r.bool() ? 64 : 256) % (BigInt(a.maxFeePerGas) + 1n));
  }
  if (type === 1 || (type >= 2 && r.bool())) a.accessList = accessList(r);
  if (type === 3) {
    a.maxFeePerBlobGas = qty(r.big(r.bool() ? 64 : 256));
    a.blobVersionedHashes = Array.from({ length: 1 + r.int(6) }, () => '0x01' + r.hex(31).slice(2));
  }
  if (type === 4) {
    a.authorizationList = Array.from({ length: 1 + r.int(3) }, () => ({
      chainId: qty(r.big(r.bool() ? 64 : 256)), address: anyAddr(r), nonce: qty(r.big(64)), yParity: qty(r.int(2)),
      r: qty(r.big(256)), s: qty(r.big(255) >> (r.bool() ? 1n : 0n)),
    }));
  }
  // Clef ignores "type"; p11signer accepts it when it is a well-formed quantity.
  if (r.int(4) === 0) a.type = qty(type);
  return a;
}

// A personal_sign payload: random bytes or UTF-8 text, of lengths around the
// decimal length's digit boundaries (9/10, 99/100, 999/1000), now and then a large one.
function personalData(r) {
  const n = r.int(20) === 0 ? 70000 : r.pick([0, 1, 5, 9, 10, 32, 99, 100, 999, 1000, 4096]);
  if (r.int(3) === 0) return ethers.hexlify(ethers.toUtf8Bytes('ünï ✓ '.repeat(Math.ceil(n / 10)).slice(0, n)));
  return r.hex(n);
}

// Random EIP-712 types: a tree of structs reached from the primary type, every
// declared type used (ethers refuses unused types), no cycles.
//
// Excluded:
// * the aliases "int" and "uint" (Clef reads them as 256 bits): ethers knows only
//   intN/uintN with the width written out, and refuses them.
// * EIP712Domain fields in another order than name, version, chainId,
//   verifyingContract, salt: ethers builds the domain type from the domain object
//   itself, in that order, so its digest would differ from the declared type's.
// * domain members other than those five: neither Clef nor ethers has them.
// * strings with U+0000: p11signer's JSON-RPC layer (jansson without
//   JSON_ALLOW_NUL) refuses the whole request before EIP-712 sees it.
// * integers as JSON numbers beyond 2^53: JSON numbers lose precision there, in
//   every implementation alike; they are sent as strings instead.
const PRIMS = ['address', 'bool', 'string', 'bytes', 'uint8', 'uint16', 'uint32', 'uint64', 'uint128', 'uint256',
  'int8', 'int16', 'int64', 'int128', 'int256', 'bytes1', 'bytes4', 'bytes20', 'bytes32', 'uint24', 'int40',
  'uint88', 'int96', 'bytes17', 'bytes31'];

function intText(r, v) {
  const k = r.int(4);
  if (k === 0 && v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n) return Number(v);    // a JSON number
  if (k === 1 && v >= 0n) return qty(v);
  return v.toString();
}

function primValue(r, t) {
  if (t === 'address') return anyAddr(r);
  if (t === 'bool') return r.bool();
  if (t === 'string') return r.pick(['', 'hello', 'ünïcødé ✓', 'x'.repeat(r.int(80)), 'line\nbreak "quoted"', 'tab\there \\ back']);
  if (t === 'bytes') return r.hex(r.int(70));
  if (t.startsWith('bytes')) return r.hex(Number(t.slice(5)));
  const bits = Number(t.replace(/^u?int/, ''));
  if (t.startsWith('uint')) return intText(r, r.big(bits));
  let v = r.big(bits - 1);
  if (r.bool()) v = -v - (r.bool() ? 1n : 0n);
  return intText(r, v);
}

function typedData(r) {
  const types = {}, names = [];
  const nStructs = 1 + r.int(4);
  for (let i = 0; i < nStructs; i++) names.push(`S${i}x${r.int(1000)}`);
  // Struct i may reference only structs j > i: no cycles; each j > 0 gets a parent.
  for (let i = 0; i < nStructs; i++) types[names[i]] = [];
  for (let j = 1; j < nStructs; j++) types[names[r.int(j)]].push({ name: `ref${j}`, type: names[j] + arraySuffix(r, true) });
  for (let i = 0; i < nStructs; i++) {
    for (let k = r.int(5) + (types[names[i]].length ? 0 : 1); k > 0; k--)
      types[names[i]].push({ name: `f${types[names[i]].length}`, type: r.pick(PRIMS) + arraySuffix(r, false) });
    // Shuffle the field order: encoding follows declaration order.
    r.shuffle(types[names[i]]);
  }
  const valueOf = (t, depth) => {
    const m = t.match(/^(.*)\[(\d*)\]$/);
    if (m) { const n = m[2] === '' ? r.int(4) : Number(m[2]); return Array.from({ length: n }, () => valueOf(m[1], depth + 1)); }
    if (types[t]) { const o = {}; for (const f of types[t]) o[f.name] = valueOf(f.type, depth + 1); return o; }
    return primValue(r, t);
  };
  const domain = {};
  const domFields = [];
  if (r.int(5)) { domain.name = r.pick(['Ether Mail', 'p11signer', 'ünï']); domFields.push({ name: 'name', type: 'string' }); }
  if (r.bool()) { domain.version = String(r.int(10)); domFields.push({ name: 'version', type: 'string' }); }
  if (r.int(4)) { domain.chainId = Number(1n + r.big(32) % 4294967295n); domFields.push({ name: 'chainId', type: 'uint256' }); }
  if (r.bool()) { domain.verifyingContract = addr(r); domFields.push({ name: 'verifyingContract', type: 'address' }); }
  if (r.int(4) === 0) { domain.salt = r.hex(32); domFields.push({ name: 'salt', type: 'bytes32' }); }
  if (domFields.length === 0) { domain.name = 'only'; domFields.push({ name: 'name', type: 'string' }); }
  return { types: { EIP712Domain: domFields, ...types }, primaryType: names[0], domain, message: valueOf(names[0], 0) };
}

function arraySuffix(r, struct) {
  const k = r.int(struct ? 4 : 5);
  if (k === 0) return '[]';
  if (k === 1) return `[${1 + r.int(3)}]`;
  if (k === 2 && !struct) return r.bool() ? '[2][]' : '[][3]';
  return '';
}

module.exports = { rng, txArgs, personalData, typedData };
