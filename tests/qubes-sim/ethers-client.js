#!/usr/bin/env node
// tests/qubes-sim/ethers-client.js - a dapp in the work qube, for the Qubes
// simulation (tests/qubes-sim/e2e.test, scripts/demo-qubes).  TEST TOOL.
//
//   ethers-client.js URL ADDRESS [CHAIN_ID [TO [STEPS]]]
//
// Talks to p11signer-relay at URL the way docs/qubes.md section 10 shows:
// plain JSON-RPC POSTs with fetch (ethers' JsonRpcProvider cannot sign
// through Clef's API), then checks every answer with ethers.js, which shares
// no code with p11signer:
//   account_list             the token's key ADDRESS is listed
//   account_signTransaction  an EIP-1559 transaction to TO on CHAIN_ID (default
//                            1); ethers.Transaction.from(raw) must give the
//                            same fields, the signer ADDRESS, a low s, and the
//                            hash the signer reported
//   account_signData         a text/plain message; ethers.verifyMessage must
//                            recover ADDRESS
// STEPS (comma-separated, default all three) picks some of them, in that
// order: scripts/demo-qubes runs one at a time to show each one's hops.
// Prints one line per step, "ok STEP ..." or "not ok STEP: why" (the vault's
// JSON-RPC error as it arrived), and exits 0 when every step is ok, 1 if not.
// Every request is bounded (P11S_CLIENT_TIMEOUT_MS, default 60000).
'use strict';
const path = require('path');
const { ethers } = require(path.join(__dirname, '../interop/node_modules/ethers'));

const [url, address, chainArg, toArg, stepsArg] = process.argv.slice(2);
const ALL = ['account_list', 'signTransaction', 'signData'];
const steps = stepsArg ? stepsArg.split(',') : ALL;
if (!url || !address || steps.some((s) => !ALL.includes(s))) {
  console.error(`usage: ethers-client.js URL ADDRESS [CHAIN_ID [TO [STEPS]]]; STEPS from ${ALL.join(',')}`);
  process.exit(2);
}
const want = ethers.getAddress(address);
const chainId = BigInt(chainArg || '1');
const to = ethers.getAddress(toArg || '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045');
const timeoutMs = Number(process.env.P11S_CLIENT_TIMEOUT_MS || 60000);
let nextId = 1;
let failed = 0;

async function clef(method, params) {
  const id = nextId++;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let j;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (j.id !== id) throw new Error(`answer for id ${JSON.stringify(j.id)}, not ${id}`);
  if (j.error) throw new Error(`JSON-RPC error ${j.error.code}: ${j.error.message}`);
  return j.result;
}

async function step(name, fn) {
  if (!steps.includes(name)) return;
  try {
    console.log(`ok ${name} ${await fn()}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${name}: ${e.message}`);
  }
}

(async () => {
  await step('account_list', async () => {
    const accounts = await clef('account_list', []);
    if (!Array.isArray(accounts) || !accounts.map((a) => ethers.getAddress(a)).includes(want))
      throw new Error(`${JSON.stringify(accounts)} does not list ${want}`);
    return accounts.join(',');
  });

  await step('signTransaction', async () => {
    const args = {
      from: want, to, value: '0x38d7ea4c68000', gas: '0x5208', nonce: '0x3',
      maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00',
      chainId: ethers.toQuantity(chainId),
    };
    const result = await clef('account_signTransaction', [args]);
    const tx = ethers.Transaction.from(result.raw);
    const bad = [];
    if (tx.from !== want) bad.push(`signed by ${tx.from}`);
    if (tx.type !== 2) bad.push(`type ${tx.type}`);
    if (tx.chainId !== chainId) bad.push(`chain ${tx.chainId}`);
    if (tx.to !== to) bad.push(`to ${tx.to}`);
    if (tx.value !== BigInt(args.value)) bad.push(`value ${tx.value}`);
    if (tx.nonce !== Number(args.nonce)) bad.push(`nonce ${tx.nonce}`);
    if (tx.gasLimit !== BigInt(args.gas)) bad.push(`gas ${tx.gasLimit}`);
    if (tx.maxFeePerGas !== BigInt(args.maxFeePerGas)) bad.push('maxFeePerGas');
    if (BigInt(tx.signature.s) > ethers.N / 2n) bad.push('high s');
    if (!result.tx || result.tx.hash !== tx.hash) bad.push(`reported hash ${result.tx && result.tx.hash}`);
    if (bad.length) throw new Error(`ethers decodes another transaction: ${bad.join(', ')}`);
    return `type ${tx.type} chain ${tx.chainId} from ${tx.from} to ${tx.to} value ${tx.value} ` +
      `hash ${tx.hash} raw ${result.raw}`;
  });

  await step('signData', async () => {
    const text = 'Hello from the work qube';
    const sig = await clef('account_signData', ['text/plain', want, ethers.hexlify(ethers.toUtf8Bytes(text))]);
    const who = ethers.verifyMessage(text, sig);
    if (who !== want) throw new Error(`verifyMessage recovers ${who}, not ${want}`);
    return `recovers ${who} for "${text}" signature ${sig}`;
  });
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok client: ${e.message}`);
  process.exit(1);
});
