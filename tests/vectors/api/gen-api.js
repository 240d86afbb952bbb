// Generates tests/vectors/api/oracle.json: what ethers.js (v6) and
// @metamask/eth-sig-util, as independent oracles, say the signer must answer
// to each signing case of tests/vectors/api/cases.json and to Clef's signtx
// requests that test_api sends.
//
//   node tests/vectors/api/gen-api.js      (from the repo root; needs tests/interop/node_modules,
//                                           which scripts/deps installs)
//
// Run it again after changing a signing case in cases.json: test_api fails a
// case whose copy in oracle.json differs from the case (a stale oracle).
//
// The key is test_api's throwaway software key, keccak256("p11signer api test
// key").  Both libsecp256k1 (which signs in test_api) and ethers sign with
// RFC 6979 nonces and low s, so for the same key and digest the signatures
// are the same bytes: test_api compares the raw transaction and each
// signature byte for byte.  What the oracles compute: signing hashes,
// signatures, raw encodings and hashes of transactions (ethers Transaction),
// geth's JSON of them (tests/vectors/tx/ethers-tx.js), EIP-191 hashes
// (hashMessage), EIP-712 digests (eth-sig-util TypedDataUtils.eip712Hash,
// checked against ethers TypedDataEncoder), validator hashes
// (solidityPackedKeccak256), the Safe's SafeTx hash (ethers TypedDataEncoder)
// and the Clique seal hash (keccak of the header's RLP, as Clef signs it).
// What comes from the case (spec): the transaction type Clef picks, and what
// the scripted approver changes (signed_to, signed_gas).
'use strict';
const path = require('path');
const fs = require('fs');
const nm = path.resolve('tests/interop/node_modules');
const { ethers } = require(path.join(nm, 'ethers'));
const sigUtil = require(path.join(nm, '@metamask/eth-sig-util'));
const { toEthers, gethJSON } = require('../tx/ethers-tx.js');

const casesPath = 'tests/vectors/api/cases.json';
const outPath = 'tests/vectors/api/oracle.json';
const clefDir = 'tests/vectors/clef-eip712/signtx-requests';
const privateKey = ethers.keccak256(ethers.toUtf8Bytes('p11signer api test key'));
const key = new ethers.SigningKey(privateKey);
const address = ethers.computeAddress(key.publicKey);
const put = (v) => JSON.parse(JSON.stringify(v).replaceAll('"$KEY"', JSON.stringify(address)));
const must = (ok, what) => { if (!ok) throw new Error(what); };

// A 65-byte signature r || s || v with v = yParity + vOffset (27 for Clef's
// personal and typed signatures, 0 for Clique headers).
function sign(digest, vOffset) {
  const sig = key.sign(digest);
  return ethers.concat([sig.r, sig.s, ethers.toBeHex(sig.yParity + vOffset, 1)]);
}

function signedTx(args, type) {
  const tx = ethers.Transaction.from(toEthers(args, type, 1n));
  tx.signature = key.sign(tx.unsignedHash);
  must(tx.from === address, `ethers recovers ${tx.from}`);
  return { signingHash: tx.unsignedHash, raw: tx.serialized, hash: tx.hash, json: gethJSON(tx) };
}

function typedDigest(td) {
  const d = ethers.hexlify(sigUtil.TypedDataUtils.eip712Hash(td, sigUtil.SignTypedDataVersion.V4));
  const types = { ...td.types };
  delete types.EIP712Domain;
  must(ethers.TypedDataEncoder.hash(td.domain, types, td.message) === d, 'ethers and eth-sig-util disagree');
  return d;
}

function txCase(c) {
  const args = put(c.request.params[0]);
  if (c.signed_to !== undefined) args.to = c.signed_to;
  if (c.signed_gas !== undefined) args.gas = c.signed_gas;
  return signedTx(args, c.type);
}

function digestCase(c) {
  const [kind, , data] = c.request.params;
  let d;
  if (kind === 'data/validator')
    d = ethers.solidityPackedKeccak256(['bytes1', 'bytes1', 'address', 'bytes'], ['0x19', '0x00', data.address, data.message]);
  else if (kind === 'application/x-clique-header')
    d = ethers.keccak256(ethers.encodeRlp(ethers.decodeRlp(data)));
  else if (kind === 'data/typed')
    d = typedDigest(JSON.parse(ethers.toUtf8String(data)));
  else
    throw new Error(`${c.name}: no oracle for ${kind}`);
  must(d === c.digest, `${c.name}: the oracle's digest ${d} is not the case's ${c.digest}`);
  return { digest: d, signature: sign(d, c.v_offset) };
}

function gnosisCase(c) {
  const s = c.request.params[1];
  const types = { SafeTx: [['address', 'to'], ['uint256', 'value'], ['bytes', 'data'], ['uint8', 'operation'],
    ['uint256', 'safeTxGas'], ['uint256', 'baseGas'], ['uint256', 'gasPrice'], ['address', 'gasToken'],
    ['address', 'refundReceiver'], ['uint256', 'nonce']].map(([type, name]) => ({ name, type })) };
  const d = ethers.TypedDataEncoder.hash({ chainId: 1, verifyingContract: s.safe }, types, s);
  must(d === c.digest && d === s.safeTxHash, `${c.name}: SafeTx hash ${d}`);
  return { digest: d, signature: sign(d, 27) };
}

const oracle = {
  personal: (c) => {
    const d = ethers.hashMessage(ethers.getBytes(c.request.params[2]));
    return { digest: d, signature: sign(d, 27) };
  },
  typed: (c) => {
    const p = c.request.params;
    const d = typedDigest(c.request.method === 'account_signData' ? p[2] : p[1]);
    return { digest: d, signature: sign(d, 27) };
  },
  tx: txCase, digest: digestCase, gnosis: gnosisCase,
};

const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const out = { address, cases: [], clef_signtx: [] };
for (const c of cases) {
  if (c.error !== undefined || oracle[c.check] === undefined) continue;
  out.cases.push({ case: c, expect: oracle[c.check](c) });
}
// Clef's signtx requests that test_api signs, with the type EXPECTED.md section
// 5 gives each (tests/vectors/tx/clef-signtx.json) and the test key as sender.
for (const [file, type, advanced] of [['sign_normal_exp_ok.json', 0, false], ['sign_1559_tx.json', 2, false],
  ['sign_1559_missing_field_exp_fail.json', 2, true], ['sign_1559_missing_maxfeepergas_exp_fail.json', 0, true]]) {
  const req = JSON.parse(fs.readFileSync(path.join(clefDir, file), 'utf8'));
  out.clef_signtx.push({ file, advanced, type, expect: signedTx({ ...req.params[0], from: address }, type) });
}
fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${outPath}: ${out.cases.length} cases, ${out.clef_signtx.length} Clef requests; signer ${address}`);
