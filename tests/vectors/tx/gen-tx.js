// Generates the known-answer vectors in tests/vectors/tx/ and tests/vectors/eip191/
// with ethers.js (v6) as an independent oracle.
//
//   node tests/vectors/tx/gen-tx.js        (from the repo root; needs tests/interop/node_modules,
//                                          which `make deps` installs; or NODE_PATH pointing at any
//                                          ethers@6, e.g. `npm install --prefix /tmp/oracle ethers@6`)
//
// The outputs are committed; this script documents how they were made.  What ethers computes:
// signing hashes (unsignedHash), signatures (RFC 6979 with a throwaway key), raw encodings
// (serialized), transaction hashes, senders, EIP-191 hashes (hashMessage), validator hashes
// (solidityPackedKeccak256), RLP (encodeRlp).  What is written from reading go-ethereum
// (commit eb429a062a404283f826ccf5a7c8ae1f2da6b8e9) rather than computed by an oracle, and so is
// marked "spec" in the files: which transaction type Clef picks for a request, geth's JSON of a
// signed transaction (core/types/transaction_marshalling.go: member order, null vs omitted), and
// the Clique padding rule (signer/core/signed_data.go) - the Clique vectors from geth's own
// documentation (clique-signing.md) check that rule against Clef's real output.
'use strict';
const path = require('path');
const fs = require('fs');
let ethers;
try { ({ ethers } = require(path.resolve('tests/interop/node_modules/ethers'))); } catch (e) { ({ ethers } = require('ethers')); }

const { toEthers, gethJSON } = require('./ethers-tx.js');

const txdir = 'tests/vectors/tx', sigdir = 'tests/vectors/eip191';
const out = (dir, name, v) => fs.writeFileSync(path.join(dir, name), JSON.stringify(v, null, 1) + '\n');
const pattern = (n, seed = 3) => ethers.hexlify(Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
const qty = (v) => '0x' + BigInt(v).toString(16);
const MAX256 = (1n << 256n) - 1n, MAX64 = (1n << 64n) - 1n;
const key = new ethers.SigningKey(ethers.keccak256(ethers.toUtf8Bytes('p11signer tx vector key')));
const from = ethers.computeAddress(key.publicKey);
const authority = new ethers.Wallet(ethers.keccak256(ethers.toUtf8Bytes('p11signer 7702 authority')));
const addrA = ethers.getAddress('0x8a8eafb1cf62bfbeb1741769dae1a9dd47996192');
const addrB = ethers.getAddress('0xd8da6bf26964af9d7eed9e03e53415d37aa96045');
const addrC = ethers.getAddress(ethers.keccak256(ethers.toUtf8Bytes('c')).slice(0, 42));
const h32 = (s) => ethers.keccak256(ethers.toUtf8Bytes(s));

// An EIP-7702 authorization signed by `authority`, with the yParity wanted (tries nonces).
function auth(chainId, address, wantParity, nonce0) {
  for (let nonce = BigInt(nonce0); ; nonce++) {
    const a = authority.authorizeSync({ address, nonce, chainId });
    if (a.signature.yParity === wantParity) return a;
  }
}

// ethers 6 keeps nonce as a JS number; the u64 extremes go through BigInt-free paths only.
function katCase(name, args, type, defaultChain = 1n, note) {
  const tx = ethers.Transaction.from(toEthers(args, type, defaultChain));
  const signingHash = tx.unsignedHash;
  tx.signature = key.sign(signingHash);
  const c = {
    name, args, defaultChainId: qty(defaultChain), type, signingHash,
    sig: ethers.concat([tx.signature.r, tx.signature.s]), recid: tx.signature.yParity,
    raw: tx.serialized, hash: tx.hash, from: tx.from, json: gethJSON(tx),
  };
  if (note) c.note = note;
  if (c.from !== from) throw new Error(`${name}: ethers recovers ${c.from}`);
  return c;
}

// ---- known answers, one or more per type ----------------------------------------------
const al = [
  { address: addrA, storageKeys: [h32('k0'), h32('k1')] },
  { address: addrB, storageKeys: [] },
  { address: addrC, storageKeys: [ethers.ZeroHash] },
];
const alLower = al.map((e) => ({ address: e.address.toLowerCase(), storageKeys: e.storageKeys }));
const auths = [auth(1n, addrB, 0, 0), auth(0n, addrC, 1, 5)];
const authArgs = auths.map((a) => ({
  chainId: qty(a.chainId), address: a.address, nonce: qty(a.nonce), yParity: qty(a.signature.yParity),
  r: qty(a.signature.r), s: qty(a.signature.s),
}));
const blobs = [ '0x01' + h32('blob0').slice(4), '0x01' + h32('blob1').slice(4) ];
const kat = [
  katCase('legacy-transfer', { from, to: addrA, gas: '0x5208', gasPrice: '0x3b9aca00', value: '0xde0b6b3a7640000', nonce: '0x7' }, 0),
  katCase('legacy-call-data-input', { from, to: addrB.toLowerCase(), gas: '0x333', gasPrice: '0x123', value: '0x10', nonce: '0x0', data: pattern(36), input: pattern(36) }, 0, 1n, 'data and input equal'),
  katCase('legacy-contract-creation', { from, gas: '0x186a0', gasPrice: '0x1', value: '0x0', nonce: '0x1', input: pattern(300) }, 0, 5n),
  katCase('legacy-all-zero', { from, to: addrC, gas: '0x0', value: '0x0', nonce: '0x0' }, 0, 1n, 'no gasPrice: zero, as in Clef --advanced'),
  katCase('legacy-chainid-given', { from, to: addrA, gas: '0x5208', gasPrice: '0x1', value: '0x1', nonce: '0x2', chainId: '0x539' }, 0, 1n),
  katCase('legacy-big-chainid', { from, to: addrA, gas: '0x5208', gasPrice: '0x1', value: '0x1', nonce: '0x3', chainId: qty((1n << 200n) + 12345n) }, 0, 1n, 'v needs more than 64 bits'),
  katCase('legacy-max-values', { from, to: addrA, gas: qty(MAX64), gasPrice: qty(MAX256), value: qty(MAX256), nonce: qty((1n << 53n) - 1n), data: pattern(56) }, 0, 1n),
  katCase('legacy-ignored-tip', { from, to: addrA, gas: '0x333', maxPriorityFeePerGas: '0x123', value: '0x10', nonce: '0x0' }, 0, 1n, 'like sign_1559_missing_maxfeepergas: tip ignored, gasPrice 0'),
  katCase('type1-access-list', { from, to: addrA, gas: '0x7530', gasPrice: '0x2540be400', value: '0x0', nonce: '0x9', accessList: alLower, input: '0xabcdef' }, 1, 1n),
  katCase('type1-empty-access-list', { from, to: addrB, gas: '0x5208', gasPrice: '0x1', value: '0x1', nonce: '0x0', accessList: [] }, 1, 11155111n),
  katCase('type1-contract-creation', { from, gas: '0x30d40', gasPrice: '0x1', value: '0x5', nonce: '0x4', data: pattern(60), accessList: [{ address: addrC, storageKeys: [h32('x')] }] }, 1, 1n),
  katCase('type2-basic', { from, to: addrA, gas: '0x5208', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', value: '0x1', nonce: '0x0' }, 2, 1n),
  katCase('type2-access-list-chainid', { from, to: addrB, gas: '0x186a0', maxFeePerGas: qty(MAX256), maxPriorityFeePerGas: '0x0', value: qty(MAX256), nonce: '0x5', chainId: '0x2105', accessList: al, data: pattern(1000, 9) }, 2, 1n),
  katCase('type2-no-tip', { from, to: addrA, gas: '0x333', maxFeePerGas: '0x123', value: '0x10', nonce: '0x0', data: '0x4401a6e40000000000000000000000000000000000000000000000000000000000000012' }, 2, 1n, 'like sign_1559_missing_field: tip 0 (Clef --advanced)'),
  katCase('type2-gasprice-ignored', { from, to: addrA, gas: '0x333', gasPrice: '0x999', maxFeePerGas: '0x123', maxPriorityFeePerGas: '0x12', value: '0x10', nonce: '0x0' }, 2, 1n, 'gasPrice ignored for type 2, as in Clef'),
  katCase('type2-contract-creation', { from, gas: '0x186a0', maxFeePerGas: '0x2', maxPriorityFeePerGas: '0x1', value: '0x0', nonce: '0x0', input: '0x6000' }, 2, 1n),
  katCase('type3-blob', { from, to: addrA, gas: '0x5208', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', maxFeePerBlobGas: '0x3b9aca00', value: '0x0', nonce: '0x1', blobVersionedHashes: blobs, accessList: [{ address: addrB, storageKeys: [h32('b')] }] }, 3, 1n),
  katCase('type3-max', { from, to: addrC, gas: qty(MAX64), maxFeePerGas: qty(MAX256), maxPriorityFeePerGas: qty(MAX256), maxFeePerBlobGas: qty(MAX256), value: qty(MAX256), nonce: '0x0', chainId: qty(MAX256), blobVersionedHashes: [blobs[0]], gasPrice: '0x1' }, 3, 1n, 'gasPrice ignored; chainId 2^256-1'),
  katCase('type4-set-code', { from, to: addrA, gas: '0x186a0', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', value: '0x0', nonce: '0x2', authorizationList: authArgs }, 4, 1n),
  katCase('type4-with-access-list', { from, to: addrB, gas: '0x186a0', maxFeePerGas: '0x2', maxPriorityFeePerGas: '0x1', value: '0x3', nonce: '0x3', authorizationList: [authArgs[1]], accessList: alLower, input: '0x01', chainId: '0x7' }, 4, 1n),
];
out(txdir, 'kat.json', kat);

// ---- decode-only: forms that no SendTxArgs produces ------------------------------------
{
  const t = ethers.Transaction.from({ type: 0, chainId: 0n, nonce: 9, gasLimit: 21000n, gasPrice: 1n, to: addrA, value: 1n, data: '0x' });
  const signingHash = t.unsignedHash;
  t.signature = key.sign(signingHash);
  if (t.signature.networkV !== null && t.signature.v !== 27 && t.signature.v !== 28) throw new Error('not pre-155');
  out(txdir, 'decode.json', [{
    name: 'legacy-pre-eip155', raw: t.serialized, type: 0, eip155: false, chainId: '0x0', signingHash,
    sig: ethers.concat([t.signature.r, t.signature.s]), recid: t.signature.yParity, hash: t.hash, from: t.from, json: gethJSON(t),
  }]);
}

// ---- decode refusals: built with ethers.encodeRlp ---------------------------------------
{
  const sigFields = (k) => [k, '0x' + '11'.repeat(32), '0x' + '22'.repeat(32)];
  const legacy = (fields) => ethers.encodeRlp(fields);
  const typed = (type, fields) => ethers.concat([ethers.toBeHex(type, 1), ethers.encodeRlp(fields)]);
  const leg = ['0x01', '0x01', '0x5208', addrA, '0x01', '0x'];
  const t2 = ['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', []];
  const valid = legacy([...leg, ...sigFields('0x25')]);
  const listOf = (items) => {
    const p = ethers.concat(items), n = ethers.getBytes(p).length;
    const len = ethers.toBeHex(n);
    return ethers.concat([n < 56 ? ethers.toBeHex(0xc0 + n, 1) : ethers.concat([ethers.toBeHex(0xf7 + ethers.getBytes(len).length, 1), len]), p]);
  };
  const bad = [
    ['empty', '0x', 'ERR_TX_INVALID'],
    ['type-0x00', ethers.concat(['0x00', ethers.encodeRlp(t2)]), 'ERR_TX_TYPE'],
    ['type-0x05', typed(5, [...t2, ...sigFields('0x')]), 'ERR_TX_TYPE'],
    ['type-0x7f', typed(0x7f, [...t2, ...sigFields('0x')]), 'ERR_TX_TYPE'],
    ['rlp-string-not-list', ethers.encodeRlp('0x1234'), 'ERR_RLP_EXPECTED_LIST'],
    ['typed-payload-string', ethers.concat(['0x02', ethers.encodeRlp('0x1234')]), 'ERR_RLP_EXPECTED_LIST'],
    ['trailing-byte', ethers.concat([valid, '0x00']), 'ERR_RLP_TRAILING'],
    ['truncated', valid.slice(0, -2), 'ERR_RLP_TRUNCATED'],
    ['nonce-leading-zero', legacy(['0x0001', ...leg.slice(1), ...sigFields('0x25')]), 'ERR_RLP_NONCANONICAL'],
    ['value-leading-zero', legacy([...leg.slice(0, 4), '0x0001', '0x', ...sigFields('0x25')]), 'ERR_RLP_NONCANONICAL'],
    ['r-leading-zero', legacy([...leg, '0x25', '0x00' + '11'.repeat(31), '0x' + '22'.repeat(32)]), 'ERR_RLP_NONCANONICAL'],
    ['zero-as-00', legacy(['0x00', ...leg.slice(1), ...sigFields('0x25')]), 'ERR_RLP_NONCANONICAL'],
    // One byte below 0x80 wrapped as a string; a long form for a short list.
    // nonce 0x01 written as the string 0x8101, and a long form for a short list.
    ['single-byte-wrapped', listOf(['0x8101', ...[...leg.slice(1), ...sigFields('0x25')].map((x) => ethers.encodeRlp(x))]), 'ERR_RLP_NONCANONICAL'],
    ['long-form-short-list', ethers.concat(['0xf8', '0x03', '0x010203']), 'ERR_RLP_NONCANONICAL'],
    ['legacy-too-few-fields', legacy([...leg, '0x25', '0x' + '11'.repeat(32)]), 'ERR_TX_INVALID'],
    ['legacy-too-many-fields', legacy([...leg, ...sigFields('0x25'), '0x']), 'ERR_TX_INVALID'],
    ['legacy-v-0', legacy([...leg, ...sigFields('0x')]), 'ERR_SIG_INVALID'],
    ['legacy-v-29', legacy([...leg, ...sigFields('0x1d')]), 'ERR_SIG_INVALID'],
    ['legacy-v-34', legacy([...leg, ...sigFields('0x22')]), 'ERR_SIG_INVALID'],
    ['legacy-to-19-bytes', legacy(['0x01', '0x01', '0x5208', '0x' + '11'.repeat(19), '0x01', '0x', ...sigFields('0x25')]), 'ERR_RLP_SIZE'],
    ['legacy-to-list', legacy(['0x01', '0x01', '0x5208', [], '0x01', '0x', ...sigFields('0x25')]), 'ERR_RLP_EXPECTED_STRING'],
    ['legacy-data-list', legacy([...leg.slice(0, 5), [], ...sigFields('0x25')]), 'ERR_RLP_EXPECTED_STRING'],
    ['legacy-gas-9-bytes', legacy(['0x01', '0x01', '0x010000000000000000', addrA, '0x01', '0x', ...sigFields('0x25')]), 'ERR_RLP_SIZE'],
    ['legacy-value-33-bytes', legacy([...leg.slice(0, 4), '0x01' + '00'.repeat(32), '0x', ...sigFields('0x25')]), 'ERR_RLP_SIZE'],
    ['type2-yparity-2', typed(2, [...t2, ...sigFields('0x02')]), 'ERR_SIG_INVALID'],
    ['type2-yparity-27', typed(2, [...t2, ...sigFields('0x1b')]), 'ERR_SIG_INVALID'],
    ['type2-too-few-fields', typed(2, [...t2, '0x', '0x' + '11'.repeat(32)]), 'ERR_TX_INVALID'],
    ['type2-access-list-not-list', typed(2, [...t2.slice(0, 8), '0x', ...sigFields('0x')]), 'ERR_RLP_EXPECTED_LIST'],
    ['type2-access-entry-3-items', typed(2, [...t2.slice(0, 8), [[addrA, [], '0x']], ...sigFields('0x')]), 'ERR_TX_INVALID'],
    ['type2-storage-key-31-bytes', typed(2, [...t2.slice(0, 8), [[addrA, ['0x' + '11'.repeat(31)]]], ...sigFields('0x')]), 'ERR_RLP_SIZE'],
    ['type1-leading-zero-chainid', typed(1, ['0x0001', '0x', '0x01', '0x5208', addrA, '0x', '0x', [], ...sigFields('0x')]), 'ERR_RLP_NONCANONICAL'],
    ['type3-no-to', typed(3, ['0x01', '0x', '0x01', '0x02', '0x5208', '0x', '0x', '0x', [], '0x01', [blobs[0]], ...sigFields('0x')]), 'ERR_RLP_SIZE'],
    ['type3-network-form', typed(3, [['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', [], '0x01', [blobs[0]], ...sigFields('0x')], [], [], []]), 'ERR_TX_BLOB_SIDECAR'],
    ['type3-hash-33-bytes', typed(3, ['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', [], '0x01', ['0x' + '01'.repeat(33)], ...sigFields('0x')]), 'ERR_RLP_SIZE'],
    ['type4-no-to', typed(4, ['0x01', '0x', '0x01', '0x02', '0x5208', '0x', '0x', '0x', [], [], ...sigFields('0x')]), 'ERR_RLP_SIZE'],
    ['type4-auth-yparity-256', typed(4, ['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', [], [['0x01', addrB, '0x', '0x0100', '0x01', '0x01']], ...sigFields('0x')]), 'ERR_RLP_SIZE'],
    ['type4-auth-5-items', typed(4, ['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', [], [['0x01', addrB, '0x', '0x', '0x01']], ...sigFields('0x')]), 'ERR_TX_INVALID'],
    ['type4-auth-7-items', typed(4, ['0x01', '0x', '0x01', '0x02', '0x5208', addrA, '0x', '0x', [], [['0x01', addrB, '0x', '0x', '0x01', '0x01', '0x']], ...sigFields('0x')]), 'ERR_TX_INVALID'],
  ];
  out(txdir, 'decode-refused.json', bad.map(([name, raw, error]) => ({ name, raw, error })));
}

// ---- Clef's signtx-requests: what each must parse into (spec: EXPECTED.md section 5) ----
{
  const file = (f, type, fields) => {
    const a = fields.args;
    const t = ethers.Transaction.from(toEthers(a, type, 1n));
    return { name: f.replace('.json', ''), file: `signtx-requests/${f}`, defaultChainId: '0x1', type,
      fromChecksummed: fields.fromChecksummed, toChecksummed: fields.toChecksummed, present: fields.present,
      gasPrice: qty(t.gasPrice ?? 0n), maxFeePerGas: qty(t.maxFeePerGas ?? 0n), maxPriorityFeePerGas: qty(t.maxPriorityFeePerGas ?? 0n),
      signingHash: t.unsignedHash };
  };
  const base = { from: addrA, to: addrA, gas: '0x333', nonce: '0x0', value: '0x10',
    data: '0x4401a6e40000000000000000000000000000000000000000000000000000000000000012' };
  out(txdir, 'clef-signtx.json', [
    file('sign_normal_exp_ok.json', 0, { args: { ...base, gasPrice: '0x123' }, fromChecksummed: true, toChecksummed: true, present: ['to', 'gasPrice', 'data'] }),
    file('sign_bad_checksum_exp_fail.json', 0, { args: { ...base, gasPrice: '0x123' }, fromChecksummed: false, toChecksummed: false, present: ['to', 'gasPrice', 'data'] }),
    file('sign_1559_tx.json', 2, { args: { ...base, maxFeePerGas: '0x123', maxPriorityFeePerGas: '0x123' }, fromChecksummed: true, toChecksummed: true, present: ['to', 'maxFeePerGas', 'maxPriorityFeePerGas', 'data'] }),
    file('sign_1559_missing_field_exp_fail.json', 2, { args: { ...base, maxFeePerGas: '0x123' }, fromChecksummed: true, toChecksummed: true, present: ['to', 'maxFeePerGas', 'data'] }),
    file('sign_1559_missing_maxfeepergas_exp_fail.json', 0, { args: { ...base, maxPriorityFeePerGas: '0x123' }, fromChecksummed: true, toChecksummed: true, present: ['to', 'maxPriorityFeePerGas', 'data'] }),
  ]);
}

// ---- SendTxArgs accepted and refused (spec: the rules in src/eth/tx.h) --------------------
{
  const base = { from: addrA, to: addrB, gas: '0x5208', gasPrice: '0x1', value: '0x0', nonce: '0x0' };
  const b1559 = { from: addrA, to: addrB, gas: '0x5208', maxFeePerGas: '0x2', maxPriorityFeePerGas: '0x1', value: '0x0', nonce: '0x0' };
  const blob = { ...b1559, maxFeePerBlobGas: '0x1', blobVersionedHashes: [blobs[0]] };
  const sc = { ...b1559, authorizationList: [authArgs[0]] };
  const without = (o, k) => { const c = { ...o }; delete c[k]; return c; };
  const withAuth = (o) => ({ ...sc, authorizationList: [{ ...authArgs[0], ...o }] });
  const authWithout = (k) => ({ ...sc, authorizationList: [without(authArgs[0], k)] });
  const cases = [
    // accepted edge cases: [name, args, type]
    ['ok-nulls-are-absent', { ...base, to: null, gasPrice: null, data: null, input: null, accessList: null, chainId: null, maxFeePerGas: null,
      maxPriorityFeePerGas: null, maxFeePerBlobGas: null, blobVersionedHashes: null, authorizationList: null, type: null, blobs: null, commitments: null, proofs: null }, 0],
    ['ok-type-ignored', { ...base, type: '0x12' }, 0],
    ['ok-type-2-ignored-for-legacy', { ...base, type: '0x2' }, 0],
    ['ok-upper-case-0X', { ...base, value: '0X10', data: '0XABCD' }, 0],

    ['ok-access-list-empty-keys', { ...base, accessList: [{ address: addrA, storageKeys: [] }] }, 1],
    ['ok-type3', blob, 3],
    ['ok-type4', sc, 4],
    ['ok-huge-chainid-type2', { ...b1559, chainId: qty(MAX256) }, 2],
    ['ok-auth-yparity-255', withAuth({ yParity: '0xff' }), 4],
    // refused: [name, args, error, message substring]
    ['not-an-object', [base], 'ERR_JSON_TYPE', 'want an object'],
    ['unknown-field', { ...base, foo: '0x1' }, 'ERR_TX_UNKNOWN_FIELD', 'unknown field "foo"'],
    ['unknown-field-other-case', { ...without(base, 'gas'), Gas: '0x5208' }, 'ERR_TX_UNKNOWN_FIELD', 'unknown field "Gas"'],
    ['unknown-field-r', { ...base, r: '0x1' }, 'ERR_TX_UNKNOWN_FIELD', 'unknown field "r"'],
    ['unknown-field-hostile-name', { ...base, ['a"b\\c\n\u00e9' + 'x'.repeat(60)]: 1 }, 'ERR_TX_UNKNOWN_FIELD', 'unknown field "a?b?c???xxxx'],
    ['sidecar-blobs', { ...blob, blobs: ['0x00'] }, 'ERR_TX_BLOB_SIDECAR', '"blobs": blob sidecars are not supported'],
    ['sidecar-commitments', { ...blob, commitments: [] }, 'ERR_TX_BLOB_SIDECAR', '"commitments"'],
    ['sidecar-proofs', { ...blob, proofs: ['0x00'] }, 'ERR_TX_BLOB_SIDECAR', '"proofs"'],
    ['missing-from', without(base, 'from'), 'ERR_TX_MISSING_FIELD', 'missing required field "from"'],
    ['missing-gas', without(base, 'gas'), 'ERR_TX_MISSING_FIELD', 'missing required field "gas"'],
    ['missing-nonce', without(base, 'nonce'), 'ERR_TX_MISSING_FIELD', 'missing required field "nonce"'],
    ['missing-value', without(base, 'value'), 'ERR_TX_MISSING_FIELD', 'missing required field "value"'],
    ['null-gas', { ...base, gas: null }, 'ERR_TX_MISSING_FIELD', 'missing required field "gas"'],
    ['from-short', { ...base, from: '0x1234' }, 'ERR_ADDR_INVALID', 'from: hex string has length 4, want 40 for common.Address'],
    ['from-odd', { ...base, from: '0x123' }, 'ERR_ADDR_INVALID', 'from: hex string of odd length'],
    ['from-no-prefix', { ...base, from: addrA.slice(2) + '00' }, 'ERR_ADDR_INVALID', 'from: hex string without 0x prefix'],
    ['to-41-digits', { ...base, to: addrB + '0' }, 'ERR_ADDR_INVALID', 'to: hex string of odd length'],
    ['to-bad-digit', { ...base, to: '0x' + 'g'.repeat(40) }, 'ERR_ADDR_INVALID', 'to: invalid hex string'],
    ['to-number', { ...base, to: 5 }, 'ERR_JSON_TYPE', 'to: want a hex string, not a JSON number'],
    ['gas-leading-zero', { ...base, gas: '0x05208' }, 'ERR_QUANTITY_LEADING_ZERO', 'gas: hex number with leading zero digits'],
    ['gas-empty-number', { ...base, gas: '0x' }, 'ERR_QUANTITY_EMPTY', 'gas: hex string "0x"'],
    ['gas-decimal', { ...base, gas: '21000' }, 'ERR_HEX_NO_PREFIX', 'gas: hex string without 0x prefix'],
    ['gas-json-number', { ...base, gas: 21000 }, 'ERR_JSON_TYPE', 'gas: want a hex string, not a JSON number'],
    ['gas-65-bits', { ...base, gas: '0x10000000000000000' }, 'ERR_NUMBER_RANGE', 'gas: hex number > 64 bits'],
    ['nonce-257-bits', { ...base, nonce: '0x1' + '0'.repeat(64) }, 'ERR_NUMBER_RANGE', 'nonce: hex number > 64 bits'],
    ['value-257-bits', { ...base, value: '0x1' + '0'.repeat(64) }, 'ERR_UINT256_OVERFLOW', 'value: hex number > 256 bits'],
    ['value-bad-digit', { ...base, value: '0x1g' }, 'ERR_HEX_INVALID_CHAR', 'value: invalid hex string'],
    ['value-empty-string', { ...base, value: '' }, 'ERR_HEX_NO_PREFIX', 'value: hex string without 0x prefix'],
    ['value-negative', { ...base, value: '-0x1' }, 'ERR_HEX_NO_PREFIX', 'value'],
    ['value-space', { ...base, value: ' 0x1' }, 'ERR_HEX_NO_PREFIX', 'value'],
    ['value-bool', { ...base, value: true }, 'ERR_JSON_TYPE', 'value: want a hex string, not a JSON boolean'],
    ['gasprice-leading-zero', { ...base, gasPrice: '0x00' }, 'ERR_QUANTITY_LEADING_ZERO', 'gasPrice'],
    ['maxfee-leading-zero', { ...b1559, maxFeePerGas: '0x02' }, 'ERR_QUANTITY_LEADING_ZERO', 'maxFeePerGas'],
    ['tip-bad', { ...b1559, maxPriorityFeePerGas: '0xz' }, 'ERR_HEX_INVALID_CHAR', 'maxPriorityFeePerGas'],
    ['data-odd', { ...base, data: '0x123' }, 'ERR_HEX_ODD_LENGTH', 'data: hex string of odd length'],
    ['data-no-prefix', { ...base, data: '1234' }, 'ERR_HEX_NO_PREFIX', 'data: hex string without 0x prefix'],
    ['data-empty-string', { ...base, data: '' }, 'ERR_HEX_NO_PREFIX', 'data'],
    ['input-bad-digit', { ...base, input: '0xzz' }, 'ERR_HEX_INVALID_CHAR', 'input: invalid hex string'],
    ['data-input-differ', { ...base, data: '0x01', input: '0x02' }, 'ERR_TX_FIELD_CONFLICT', 'both "data" and "input" are set and not equal'],
    ['data-input-differ-length', { ...base, data: '0x0102', input: '0x01' }, 'ERR_TX_FIELD_CONFLICT', 'both "data" and "input"'],
    ['chainid-leading-zero', { ...base, chainId: '0x01' }, 'ERR_QUANTITY_LEADING_ZERO', 'chainId'],
    ['chainid-too-big-for-eip155', { ...base, chainId: qty(1n << 255n) }, 'ERR_NUMBER_RANGE', 'chainId: too large for an EIP-155 signature'],
    ['access-list-object', { ...base, accessList: {} }, 'ERR_JSON_TYPE', 'accessList: want an array'],
    ['access-entry-not-object', { ...base, accessList: [addrA] }, 'ERR_JSON_TYPE', 'accessList[0]: want an object'],
    ['access-entry-no-keys', { ...base, accessList: [{ address: addrA }] }, 'ERR_TX_MISSING_FIELD', 'accessList[0]: missing required field "storageKeys"'],
    ['access-entry-null-keys', { ...base, accessList: [{ address: addrA, storageKeys: null }] }, 'ERR_TX_MISSING_FIELD', 'storageKeys'],
    ['access-entry-no-address', { ...base, accessList: [{ storageKeys: [] }] }, 'ERR_TX_MISSING_FIELD', 'accessList[0]: missing required field "address"'],
    ['access-entry-unknown', { ...base, accessList: [{ address: addrA, storageKeys: [], extra: 1 }] }, 'ERR_TX_UNKNOWN_FIELD', 'accessList[0]: unknown field "extra"'],
    ['access-key-short', { ...base, accessList: [{ address: addrA, storageKeys: [h32('a'), h32('b').slice(0, 64)] }] }, 'ERR_HEX_WRONG_LENGTH', 'accessList[0].storageKeys[1]: hex string has length 62, want 64 for common.Hash'],
    ['access-keys-string', { ...base, accessList: [{ address: addrA, storageKeys: h32('a') }] }, 'ERR_JSON_TYPE', 'accessList[0].storageKeys: want an array'],
    ['blob-no-to', without(blob, 'to'), 'ERR_TX_MISSING_FIELD', 'transaction recipient must be set for blob transactions'],
    ['blob-null-to', { ...blob, to: null }, 'ERR_TX_MISSING_FIELD', 'transaction recipient must be set for blob transactions'],
    ['blob-no-hashes', { ...blob, blobVersionedHashes: [] }, 'ERR_TX_INVALID', 'need at least 1 blob for a blob transaction'],
    ['blob-no-blob-fee', without(blob, 'maxFeePerBlobGas'), 'ERR_TX_MISSING_FIELD', 'missing required field "maxFeePerBlobGas"'],
    // Clef drops it silently; we never drop a field
    ['blob-fee-without-hashes', { ...b1559, maxFeePerBlobGas: '0x5' }, 'ERR_TX_FIELD_CONFLICT', '"maxFeePerBlobGas" is set but "blobVersionedHashes" is not'],
    ['blob-fee-without-hashes-legacy', { ...without(without(b1559, 'maxFeePerGas'), 'maxPriorityFeePerGas'), gasPrice: '0x1', maxFeePerBlobGas: '0x5' }, 'ERR_TX_FIELD_CONFLICT', '"maxFeePerBlobGas" is set but "blobVersionedHashes" is not'],
    ['blob-no-max-fee', without(blob, 'maxFeePerGas'), 'ERR_TX_MISSING_FIELD', 'missing required field "maxFeePerGas"'],
    ['blob-no-tip', without(blob, 'maxPriorityFeePerGas'), 'ERR_TX_MISSING_FIELD', 'missing required field "maxPriorityFeePerGas"'],
    ['blob-hash-short', { ...blob, blobVersionedHashes: ['0x01'] }, 'ERR_HEX_WRONG_LENGTH', 'blobVersionedHashes[0]'],
    ['blob-hashes-string', { ...blob, blobVersionedHashes: blobs[0] }, 'ERR_JSON_TYPE', 'blobVersionedHashes: want an array'],
    ['blob-and-auth', { ...blob, authorizationList: [authArgs[0]] }, 'ERR_TX_FIELD_CONFLICT', 'cannot be used in one transaction'],
    ['auth-no-to', without(sc, 'to'), 'ERR_TX_MISSING_FIELD', 'transaction recipient must be set for set-code transactions'],
    ['auth-empty', { ...sc, authorizationList: [] }, 'ERR_TX_INVALID', 'need at least 1 authorization'],
    ['auth-no-max-fee', without(sc, 'maxFeePerGas'), 'ERR_TX_MISSING_FIELD', 'missing required field "maxFeePerGas"'],
    ['auth-missing-r', authWithout('r'), 'ERR_TX_MISSING_FIELD', 'authorizationList[0]: missing required field "r"'],
    ['auth-missing-chainid', authWithout('chainId'), 'ERR_TX_MISSING_FIELD', 'authorizationList[0]: missing required field "chainId"'],
    ['auth-yparity-256', withAuth({ yParity: '0x100' }), 'ERR_NUMBER_RANGE', 'authorizationList[0].yParity: more than 255'],
    ['auth-unknown-v', withAuth({ v: '0x1' }), 'ERR_TX_UNKNOWN_FIELD', 'authorizationList[0]: unknown field "v"'],
    ['auth-nonce-65-bits', withAuth({ nonce: '0x10000000000000000' }), 'ERR_NUMBER_RANGE', 'authorizationList[0].nonce: hex number > 64 bits'],
    ['auth-r-leading-zero', withAuth({ r: '0x01' }), 'ERR_QUANTITY_LEADING_ZERO', 'authorizationList[0].r'],
    ['auth-address-short', withAuth({ address: '0x01' }), 'ERR_ADDR_INVALID', 'authorizationList[0].address'],
    ['auth-entry-array', { ...sc, authorizationList: [[]] }, 'ERR_JSON_TYPE', 'authorizationList[0]: want an object'],
    ['type-leading-zero', { ...base, type: '0x02' }, 'ERR_QUANTITY_LEADING_ZERO', 'type'],
    ['type-number', { ...base, type: 2 }, 'ERR_JSON_TYPE', 'type: want a hex string'],
  ];
  out(txdir, 'send-args.json', cases.map(([name, args, x, message]) => (typeof x === 'number' ?
    { name, args, error: 'ERR_OK', type: x } : { name, args, error: x, message })));
}

// ---- EIP-191 personal messages, validator data --------------------------------------------
{
  const msgs = [['empty', '0x'], ['one-byte', '0x00'], ['nine-bytes', pattern(9)], ['ten-bytes', pattern(10)],
    ['99-bytes', pattern(99)], ['100-bytes', pattern(100)], ['utf8', ethers.hexlify(ethers.toUtf8Bytes('ünïcødé ✓'))],
    ['1000-bytes', pattern(1000)], ['136-bytes', pattern(136 - 28)], ['10000-bytes', pattern(10000)]];
  out(sigdir, 'personal.json', msgs.map(([name, m]) => ({
    name, message: m, hash: ethers.hashMessage(ethers.getBytes(m)),
    prefixed: ethers.concat([ethers.toUtf8Bytes(`\x19Ethereum Signed Message:\n${ethers.getBytes(m).length}`), m]),
  })));
  const vals = [['empty', addrA, '0x'], ['short', addrB, '0x01020304'], ['long', addrC, pattern(500)]];
  out(sigdir, 'validator.json', vals.map(([name, a, d]) => ({
    name, validator: a, data: d, hash: ethers.solidityPackedKeccak256(['bytes1', 'bytes1', 'address', 'bytes'], ['0x19', '0x00', a, d]),
    message: ethers.solidityPacked(['bytes1', 'bytes1', 'address', 'bytes'], ['0x19', '0x00', a, d]),
  })));
}

// ---- Clique headers ---------------------------------------------------------------------
{
  const hdr = (number, extra, baseFee) => {
    const f = [h32('parent'), h32('uncles'), addrA, h32('root'), h32('txs'), h32('receipts'), '0x' + '00'.repeat(256),
      '0x02', number === 0n ? '0x' : ethers.toBeHex(number), '0x7a4f0e', '0x', '0x62ab18d6', extra, ethers.ZeroHash, '0x0000000000000000'];
    if (baseFee !== undefined) f.push(baseFee === 0n ? '0x' : ethers.toBeHex(baseFee));
    return f;
  };
  const sealOf = (f) => {
    const extra = ethers.getBytes(f[12]);
    // Clef v1.17 appends the 65-byte seal whatever the length of extra (checkpoint
    // headers carry 32 + 20 x N bytes without it); see also eip191/gen-clique.py.
    const padded = ethers.concat([extra, new Uint8Array(65)]);
    const full = [...f]; full[12] = padded;
    const seal = [...f]; seal[12] = ethers.dataSlice(padded, 0, ethers.getBytes(padded).length - 65);
    return { headerHash: ethers.keccak256(ethers.encodeRlp(full)), sealRlp: ethers.encodeRlp(seal), sealHash: ethers.keccak256(ethers.encodeRlp(seal)) };
  };
  const mk = (name, number, extra, baseFee) => {
    const f = hdr(number, extra, baseFee), s = sealOf(f);
    return { name, header: ethers.encodeRlp(f), sealHash: s.sealHash, sealRlp: s.sealRlp,
      summary: `clique header ${number} [${s.headerHash}]` };
  };
  // From go-ethereum docs/tools/clef/clique-signing.md: Clef's own raw_data, message and hash.
  // The header is the page's rlpdump of raw_data; its keccak must be the page's "hash".
  const docRaw = ethers.encodeRlp(['0xbd20b98fbaea3669cd9875c035f84a2ff2717e330fc150a85ff5029cbfaf8b87',
    '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347', '0x0000000000000000000000000000000000000000',
    '0x5d31250afcee27d065cec774cc5c3f0934768f06cbf8a05035fe4eea0f66fe9c',
    '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421',
    '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421', '0x' + '00'.repeat(256),
    '0x02', '0x02', '0x7a4f0e', '0x', '0x62ab18d6', '0xd883010a14846765746888676f312e31382e31856c696e757800000000000000',
    '0x' + '00'.repeat(32), '0x0000000000000000']);
  if (!Buffer.from(ethers.getBytes(docRaw)).toString('base64').startsWith('+QIUoL0guY+66jZpzZh1wDX4Si/ycX4zD8FQqF/1Apy/r4uHoB3MTejex116q4W1Z7bM1BrTEkUblIp0E/ChQv1A1JNHlAAAAAAAAAAAAAAAAAAAAAAAAAAAoF0xJQr87ifQZc7HdMxcPwk0do8Gy/igUDX+TuoPZv6coFboHxcbzFWm'))
    throw new Error('clique doc header does not match raw_data');
  const doc = { name: 'clef-doc-block-2', source: 'go-ethereum docs/tools/clef/clique-signing.md (Clef output)', header: docRaw,
    sealHash: '0x8ca6c78af7d5ae67ceb4a1e465a8b639b9fbdec4b78e4d19cd9b1232046fbbf4', sealRlp: docRaw,
    summary: 'clique header 2 [0xae525b65bc7f711bc136f502650039cd6959c3abc28fdf0ebfe2a5f85c92f3b6]' };
  const docCheck = sealOf(ethers.decodeRlp(docRaw));
  if (docCheck.sealHash !== doc.sealHash || !doc.summary.endsWith(`[${docCheck.headerHash}]`)) throw new Error('clique rule does not reproduce Clef');
  const ok = [doc,
    mk('vanity-only', 5n, '0x' + 'ab'.repeat(32)),
    mk('empty-extra', 1n, '0x'),
    mk('extra-64', 7n, pattern(64)),
    mk('extra-65-is-all-seal', 8n, pattern(65)),
    mk('extra-with-seal', 9n, pattern(32 + 20 + 65)),
    mk('basefee', 12345678901234567890n, '0x' + '00'.repeat(32), 875000000n),
    mk('basefee-zero', 3n, '0x' + '00'.repeat(32), 0n),
    mk('number-zero', 0n, '0x' + '01'.repeat(32)),
  ];
  const docHdr = ethers.decodeRlp(docRaw);
  const enc = (f) => ethers.encodeRlp(f);
  const bad = [
    ['withdrawals-hash', enc([...hdr(1n, '0x', 1n), ethers.ZeroHash]), 'ERR_CLIQUE_INVALID', 'unexpected withdrawal hash value in clique'],
    ['cancun-fields', enc([...hdr(1n, '0x', 1n), ethers.ZeroHash, '0x', '0x', ethers.ZeroHash]), 'ERR_CLIQUE_INVALID', 'unexpected withdrawal hash value in clique'],
    ['too-few-fields', enc(docHdr.slice(0, 14)), 'ERR_CLIQUE_INVALID', 'rlp: too few elements for types.Header'],
    ['not-a-list', enc('0x1234'), 'ERR_RLP_EXPECTED_LIST', 'rlp: expected input list for types.Header'],
    ['empty', '0x', 'ERR_RLP_TRUNCATED', 'rlp: value size exceeds available input length'],
    ['trailing', ethers.concat([docRaw, '0x00']), 'ERR_RLP_TRAILING', 'rlp: input contains more than one value'],
    ['parent-31-bytes', enc([ethers.dataSlice(docHdr[0], 1), ...docHdr.slice(1)]), 'ERR_RLP_SIZE', '(types.Header).ParentHash'],
    ['coinbase-list', enc([docHdr[0], docHdr[1], [], ...docHdr.slice(3)]), 'ERR_RLP_EXPECTED_STRING', '(types.Header).Coinbase'],
    ['bloom-255-bytes', enc([...docHdr.slice(0, 6), '0x' + '00'.repeat(255), ...docHdr.slice(7)]), 'ERR_RLP_SIZE', '(types.Header).Bloom'],
    ['number-leading-zero', enc([...docHdr.slice(0, 8), '0x0002', ...docHdr.slice(9)]), 'ERR_RLP_NONCANONICAL', 'non-canonical integer (leading zero bytes) for *big.Int, decoding into (types.Header).Number'],
    ['gaslimit-9-bytes', enc([...docHdr.slice(0, 9), '0x010000000000000000', ...docHdr.slice(10)]), 'ERR_RLP_SIZE', '(types.Header).GasLimit'],
    ['extra-list', enc([...docHdr.slice(0, 12), [], ...docHdr.slice(13)]), 'ERR_RLP_EXPECTED_STRING', '(types.Header).Extra'],
    ['nonce-7-bytes', enc([...docHdr.slice(0, 14), '0x' + '00'.repeat(7)]), 'ERR_RLP_SIZE', '(types.Header).Nonce'],
    ['basefee-list', enc([...docHdr, []]), 'ERR_RLP_EXPECTED_STRING', '(types.Header).BaseFee'],
    ['difficulty-33-bytes', enc([...docHdr.slice(0, 7), '0x01' + '00'.repeat(32), ...docHdr.slice(8)]), 'ERR_RLP_SIZE', '(types.Header).Difficulty'],
  ];
  out(sigdir, 'clique.json', ok);
  out(sigdir, 'clique-refused.json', bad.map(([name, header, error, message]) => ({ name, header, error, message })));
}
console.log(`wrote ${txdir}/{kat,decode,decode-refused,clef-signtx,send-args}.json and ${sigdir}/{personal,validator,clique,clique-refused}.json; signer ${from}`);
