// From Clef's SendTxArgs to an ethers.js (v6) transaction, and from a signed
// ethers transaction to geth's JSON of it: shared by the vector generators
// (tests/vectors/tx/gen-tx.js, tests/vectors/api/gen-api.js).  The rules are
// written from reading go-ethereum (see gen-tx.js), ethers does the encoding.
'use strict';
const path = require('path');
let ethers;
try { ({ ethers } = require(path.resolve('tests/interop/node_modules/ethers'))); } catch (e) { ({ ethers } = require('ethers')); }
const qty = (v) => '0x' + BigInt(v).toString(16);

// geth's txJSON for a signed transaction (transaction_marshalling.go), member by member.
function gethJSON(t) {
  const j = {};
  const typed = t.type !== 0;
  j.type = qty(t.type);
  if (typed || t.chainId !== 0n) j.chainId = qty(t.chainId);
  j.nonce = qty(t.nonce);
  j.to = t.to ? t.to.toLowerCase() : null;
  j.gas = qty(t.gasLimit);
  j.gasPrice = t.type <= 1 ? qty(t.gasPrice) : null;
  j.maxPriorityFeePerGas = t.type >= 2 ? qty(t.maxPriorityFeePerGas) : null;
  j.maxFeePerGas = t.type >= 2 ? qty(t.maxFeePerGas) : null;
  if (t.type === 3) j.maxFeePerBlobGas = qty(t.maxFeePerBlobGas);
  j.value = qty(t.value);
  j.input = t.data;
  if (typed) j.accessList = t.accessList.map((e) => ({ address: e.address.toLowerCase(), storageKeys: e.storageKeys }));
  if (t.type === 3 && t.blobVersionedHashes.length) j.blobVersionedHashes = t.blobVersionedHashes;
  if (t.type === 4 && t.authorizationList.length) {
    j.authorizationList = t.authorizationList.map((a) => ({
      chainId: qty(a.chainId), address: a.address.toLowerCase(), nonce: qty(a.nonce),
      yParity: qty(a.signature.yParity), r: qty(a.signature.r), s: qty(a.signature.s),
    }));
  }
  const sig = t.signature;
  j.v = t.type === 0 ? qty(t.chainId !== 0n ? t.chainId * 2n + 35n + BigInt(sig.yParity) : BigInt(sig.v)) : qty(sig.yParity);
  j.r = qty(sig.r);
  j.s = qty(sig.s);
  if (typed) j.yParity = qty(sig.yParity);
  j.hash = t.hash;
  return j;
}

// From SendTxArgs and the expected type (spec: Clef's choice) to the ethers transaction.
function toEthers(args, type, defaultChain) {
  const t = {
    type, nonce: Number(BigInt(args.nonce)), gasLimit: BigInt(args.gas), value: BigInt(args.value),
    data: args.input ?? args.data ?? '0x', to: args.to ?? null,
    chainId: args.chainId !== undefined ? BigInt(args.chainId) : BigInt(defaultChain),
  };
  if (type <= 1) t.gasPrice = BigInt(args.gasPrice ?? 0);
  if (type >= 2) { t.maxFeePerGas = BigInt(args.maxFeePerGas ?? 0); t.maxPriorityFeePerGas = BigInt(args.maxPriorityFeePerGas ?? 0); }
  if (type >= 1) t.accessList = args.accessList ?? [];
  if (type === 3) { t.maxFeePerBlobGas = BigInt(args.maxFeePerBlobGas); t.blobVersionedHashes = args.blobVersionedHashes; }
  if (type === 4) t.authorizationList = args.authorizationList.map((a) => ({
    address: a.address, nonce: BigInt(a.nonce), chainId: BigInt(a.chainId),
    signature: { r: ethers.toBeHex(BigInt(a.r), 32), s: ethers.toBeHex(BigInt(a.s), 32), yParity: Number(BigInt(a.yParity)) },
  }));
  return t;
}

module.exports = { toEthers, gethJSON };
