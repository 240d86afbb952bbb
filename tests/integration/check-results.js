#!/usr/bin/env node
// tests/integration/check-results.js - verify p11signer's answers with ethers.js,
// an implementation that shares no code with ours.  TEST TOOL.
//
//   check-results.js KIND ADDRESS REQUEST_JSON RESPONSE_JSON
//
// KIND: tx (the raw transaction decodes to the request's fields, signed by
// ADDRESS, low s), personal (text/plain: verifyMessage), typed (EIP-712:
// verifyTypedData).  Prints "ok" or the reason, exit 0 / 1.
'use strict';
const path = require('path');
const { ethers } = require(path.join(__dirname, '../interop/node_modules/ethers'));

const [kind, address, reqText, respText] = process.argv.slice(2);
const req = JSON.parse(reqText), resp = JSON.parse(respText);
const fail = (why) => { console.log(why); process.exit(1); };
if (resp.error) fail(`error: ${JSON.stringify(resp.error)}`);
const want = ethers.getAddress(address);
const N = ethers.N;

if (kind === 'tx') {
  const args = req.params[0];
  const tx = ethers.Transaction.from(resp.result.raw);
  if (tx.from !== want) fail(`signed by ${tx.from}, not ${want}`);
  if (BigInt(tx.signature.s) > N / 2n) fail('high s');
  const q = (v) => (v === undefined ? undefined : BigInt(v));
  if (q(args.nonce) !== BigInt(tx.nonce)) fail('nonce differs');
  if (q(args.value) !== tx.value) fail('value differs');
  if (q(args.gas) !== tx.gasLimit) fail('gas differs');
  if ((args.to ?? null) !== (tx.to ?? null) && ethers.getAddress(args.to) !== tx.to) fail('to differs');
  if (resp.result.tx.hash !== tx.hash) fail(`tx.hash ${resp.result.tx.hash} is not ${tx.hash}`);
  console.log(`ok type ${tx.type} chain ${tx.chainId} to ${tx.to ?? '(creation)'} value ${ethers.formatEther(tx.value)} ETH nonce ${tx.nonce}, signed by ${tx.from}`);
} else if (kind === 'personal') {
  const who = ethers.verifyMessage(ethers.getBytes(req.params[2]), resp.result);
  if (who !== want) fail(`recovers ${who}`);
  console.log(`ok, signed by ${who}`);
} else if (kind === 'typed') {
  const td = req.params[1];
  const { EIP712Domain, ...types } = td.types;
  const who = ethers.verifyTypedData(td.domain, types, td.message, resp.result);
  if (who !== want) fail(`recovers ${who}`);
  console.log(`ok, signed by ${who}`);
} else fail(`unknown kind ${kind}`);
