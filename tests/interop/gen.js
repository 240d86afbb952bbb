// Seeded random requests for the interop test: transactions of every type (as Clef's
// SendTxArgs), personal messages and EIP-712 typed data with random types.
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
    // A value of up to `bits` bits, biased towards edges (0, 1, max).
    big: (bits) => {
      const k = r.int(8);
      if (k === 0) return 0n;
      if (k === 1) return 1n;
      if (k === 2) return (1n << BigInt(bits)) - 1n;
      const nb = 1 + r.int(Math.ceil(bits / 8));
      return BigInt.asUintN(bits, BigInt(ethers.hexlify(r.bytes(nb))));
    },
  };
  return r;
}

const qty = (v) => '0x' + BigInt(v).toString(16);
const addr = (r) => ethers.getAddress(r.hex(20));

function accessList(r) {
  return Array.from({ length: r.int(4) }, () => ({
    address: addr(r), storageKeys: Array.from({ length: r.int(3) }, () => r.hex(32)),
  }));
}

// SendTxArgs for the wanted type, using only the fields that select it.
function txArgs(r, type, from) {
  const a = { from, gas: qty(r.big(64)), nonce: qty(r.big(52)), value: qty(r.big(r.bool() ? 256 : 80)) };
  const creation = type <= 2 && r.int(6) === 0;
  if (!creation) a.to = addr(r);
  const data = r.hex(r.pick([0, 1, 4, 36, 68, 100, 300]));
  if (r.bool()) a.input = data; else a.data = data;
  if (r.int(4) !== 0) a.chainId = qty(1n + r.big(r.bool() ? 32 : 64) % ((1n << 64n) - 2n));
  if (type === 0 || type === 1) a.gasPrice = qty(r.big(r.bool() ? 64 : 256));
  if (type >= 2) { a.maxFeePerGas = qty(r.big(r.bool() ? 64 : 256)); a.maxPriorityFeePerGas = qty(r.big(64)); }
  if (type === 1 || (type >= 2 && r.bool())) a.accessList = accessList(r);
  if (type === 3) {
    a.maxFeePerBlobGas = qty(r.big(r.bool() ? 64 : 256));
    a.blobVersionedHashes = Array.from({ length: 1 + r.int(6) }, () => '0x01' + r.hex(31).slice(2));
  }
  if (type === 4) {
    a.authorizationList = Array.from({ length: 1 + r.int(3) }, () => ({
      chainId: qty(r.big(64)), address: addr(r), nonce: qty(r.big(64)), yParity: qty(r.int(2)),
      r: qty(1n + r.big(255)), s: qty(1n + r.big(254)),
    }));
  }
  return a;
}

// Random EIP-712 types: a tree of structs reached from the primary type, every
// declared type used (ethers refuses unused types), no cycles.
const PRIMS = ['address', 'bool', 'string', 'bytes', 'uint8', 'uint16', 'uint32', 'uint64', 'uint128', 'uint256',
  'int8', 'int16', 'int64', 'int128', 'int256', 'bytes1', 'bytes4', 'bytes20', 'bytes32', 'uint24', 'int40'];

function primValue(r, t) {
  if (t === 'address') return addr(r);
  if (t === 'bool') return r.bool();
  if (t === 'string') return r.pick(['', 'hello', 'ünïcødé ✓', 'x'.repeat(r.int(80)), 'line\nbreak "quoted"']);
  if (t === 'bytes') return r.hex(r.int(70));
  if (t.startsWith('bytes')) return r.hex(Number(t.slice(5)));
  const bits = Number(t.replace(/^u?int/, ''));
  if (t.startsWith('uint')) { const v = r.big(bits); return r.bool() ? v.toString() : qty(v); }
  let v = r.big(bits - 1);
  if (r.bool()) v = -v - (r.bool() ? 1n : 0n);
  return v.toString();
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
    types[names[i]].sort(() => (r.bool() ? 1 : -1));
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

module.exports = { rng, txArgs, typedData };
