#!/usr/bin/env node
// tests/interop/eth-client.js - ethers.js's JsonRpcSigner against the relay's
// eth_* endpoint (p11signer-relay --upstream-node), as a dapp uses it.  TEST TOOL.
//
//   eth-client.js RELAY_URL NODE_URL ADDRESS
//
// Prints one TAP-like line per check, "ok - NAME" or "not ok - NAME: why",
// and the last line "done N". Every wait is bounded (ethers' own timeouts,
// and a watchdog for the whole run).
'use strict';
const path = require('path');
const { ethers } = require(path.join(__dirname, 'node_modules/ethers'));

const [relayUrl, nodeUrl, address] = process.argv.slice(2);
let n = 0;
const ok = (name) => { n++; console.log(`ok - ${name}`); };
const notOk = (name, why) => { n++; console.log(`not ok - ${name}: ${why}`); };
const check = (name, cond, why) => (cond ? ok(name) : notOk(name, why));
setTimeout(() => { console.log('not ok - watchdog: the run took over 240 s'); process.exit(1); }, 240000).unref();

// The node directly: what the chain says, not what the relay says.
const node = new ethers.JsonRpcProvider(nodeUrl, undefined, { staticNetwork: true });
const TO = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045';
const TO2 = '0x2222222222222222222222222222222222222222';

// A contract written in EVM bytecode here (no compiler needed): a call with
// 4 + 32 bytes of data stores the 32 bytes in slot 0; a call without data
// returns slot 0.  Runtime (24 bytes):
//   CALLDATASIZE ISZERO PUSH1 0x0c JUMPI PUSH1 4 CALLDATALOAD PUSH1 0 SSTORE STOP
//   JUMPDEST PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN
// Init: six JUMPDESTs (padding: p11signer warns about creation code under 40
// bytes), then CODECOPY the runtime to memory and RETURN it.
const RUNTIME = '3615600c57600435600055005b60005460005260206000f3';
const INIT = '5b5b5b5b5b5b' + '6018' + '80' + '6011' + '6000' + '39' + '6000' + 'f3';
const BYTECODE = '0x' + INIT + RUNTIME;

// The node's count, asked afresh (a provider may answer a repeated call from its cache).
const countOf = async (tag) => Number(await node.send('eth_getTransactionCount', [address, tag]));

async function receiptOf(hash) {
  // Polled (at most 300 times, 100 ms apart): no block subscription to trust.
  let r = null;
  for (let i = 0; i < 300 && r === null; i++) {
    r = await node.getTransactionReceipt(hash);
    if (r === null) await new Promise((res) => setTimeout(res, 100));
  }
  if (r === null) {
    const t = await node.getTransaction(hash);
    throw new Error(`no receipt for ${hash} in 30 s: the node has it ${t === null ? 'not' :
      `with nonce ${t.nonce}`}; the node's count for ${address}: latest ` +
      `${await countOf('latest')}, pending ` +
      `${await countOf('pending')}`);
  }
  return r;
}

async function main() {
  const relay = new ethers.JsonRpcProvider(relayUrl, undefined, { staticNetwork: true });
  const accounts = await relay.send('eth_accounts', []);
  check('eth_accounts lists the token key (through the vault)',
    accounts.length === 1 && ethers.getAddress(accounts[0]) === ethers.getAddress(address),
    JSON.stringify(accounts));
  const signer = await relay.getSigner(address);

  // Legacy and EIP-1559 transfers, balances checked on the node.
  for (const [name, extra] of [['legacy (type 0)', { type: 0 }], ['EIP-1559 (type 2)', {}]]) {
    const value = ethers.parseEther('1.25');
    const sent = await signer.sendTransaction({ to: TO, value, ...extra });
    const rc = await receiptOf(sent.hash);
    const tx = await node.getTransaction(sent.hash);
    // Balances at the blocks around it: "latest" may be cached by a provider.
    const before = await node.getBalance(TO, rc.blockNumber - 1);
    const after = await node.getBalance(TO, rc.blockNumber);
    check(`${name} transfer mined, sent by the token key, balance up by 1.25 ETH`,
      rc.status === 1 && tx.from === ethers.getAddress(address) &&
      tx.type === (extra.type ?? 2) && after - before === value,
      `status ${rc.status} from ${tx.from} type ${tx.type} delta ${after - before}`);
  }

  // A contract deployed and called through the relay; read back with eth_call.
  const deploy = await signer.sendTransaction({ data: BYTECODE });
  const drc = await receiptOf(deploy.hash);
  check('a contract deployed through the relay', drc.status === 1 && drc.contractAddress !== null,
    `status ${drc.status}`);
  const word = ethers.zeroPadValue('0x2a', 32);
  const call = await signer.sendTransaction({ to: drc.contractAddress, data: '0x12345678' + word.slice(2) });
  const crc = await receiptOf(call.hash);
  const stored = await relay.call({ to: drc.contractAddress, data: '0x' });
  check('the contract called through the relay; eth_call (passed through) reads 42',
    crc.status === 1 && BigInt(stored) === 42n, `status ${crc.status} stored ${stored}`);

  // EIP-712 and personal signatures, verified by ethers.
  const domain = { name: 'Ether Mail', version: '1', chainId: (await node.getNetwork()).chainId };
  const types = { Mail: [{ name: 'to', type: 'address' }, { name: 'contents', type: 'string' }] };
  const value = { to: TO, contents: 'Hello from the relay' };
  const tsig = await signer.signTypedData(domain, types, value);
  check('eth_signTypedData_v4 verifies with ethers',
    ethers.verifyTypedData(domain, types, value, tsig) === ethers.getAddress(address), tsig);
  const psig = await signer.signMessage('hello through the relay');
  check('personal_sign verifies with ethers',
    ethers.verifyMessage('hello through the relay', psig) === ethers.getAddress(address), psig);
  const esig = await relay.send('eth_sign', [address, ethers.hexlify(ethers.toUtf8Bytes('eth_sign text'))]);
  check('eth_sign (text with the EIP-191 prefix) verifies with ethers',
    ethers.verifyMessage('eth_sign text', esig) === ethers.getAddress(address), esig);

  // eth_signTransaction: signed with every field filled, not sent.
  const start = await countOf('pending');
  const st = await relay.send('eth_signTransaction', [{ from: address, to: TO2, value: '0x1' }]);
  const parsed = ethers.Transaction.from(st.raw);
  check('eth_signTransaction fills nonce, gas, fees and chain id from the node, and sends nothing',
    parsed.from === ethers.getAddress(address) && parsed.nonce === start && parsed.gasLimit > 21000n &&
    parsed.maxFeePerGas > 0n && parsed.chainId === domain.chainId &&
    (await countOf('pending')) === start,
    `nonce ${parsed.nonce} (want ${start}) gas ${parsed.gasLimit} chain ${parsed.chainId}`);

  // A denied request: the client sees the refusal, nothing reaches the node,
  // and the nonce it had is given back (the next transfer is mined).
  const pendingBefore = await countOf('pending');
  let refusal = '';
  try {
    await signer.sendTransaction({ to: TO, value: ethers.parseEther('60') });
  } catch (e) {
    refusal = e.error ? e.error.message : e.message;
  }
  check('a transfer over the vault\'s rule is refused, and the client sees why',
    /request denied|over/.test(refusal) && (await countOf('pending')) === pendingBefore,
    `refusal "${refusal}"`);
  const after = await signer.sendTransaction({ to: TO, value: 1n });
  const arc = await receiptOf(after.hash);
  check('after the refusal the next transfer takes the nonce that was given back, and is mined',
    arc.status === 1 && after.nonce === pendingBefore, `nonce ${after.nonce} want ${pendingBefore}`);

  // 4 concurrent senders x 25 transactions from one address: distinct, gap-free nonces.
  const first = await countOf('pending');
  const senders = [0, 1, 2, 3].map(async () => {
    const p = new ethers.JsonRpcProvider(relayUrl, undefined, { staticNetwork: true });
    const s = await p.getSigner(address);
    const hashes = [];
    for (let i = 0; i < 25; i++)
      hashes.push((await s.sendTransaction({ to: TO2, value: 1n })).hash);
    return hashes;
  });
  const hashes = (await Promise.all(senders)).flat();
  const nonces = [];
  let mined = 0;
  for (const h of hashes) {
    const rc = await receiptOf(h);
    if (rc.status === 1) mined++;
    nonces.push((await node.getTransaction(h)).nonce);
  }
  nonces.sort((a, b) => a - b);
  const gapFree = nonces.every((v, i) => v === first + i);
  check(`4 concurrent senders x 25 transactions: all 100 mined, nonces ${first}..${first + 99} with no gap`,
    hashes.length === 100 && mined === 100 && gapFree,
    `mined ${mined}/${hashes.length}, nonces ${nonces[0]}..${nonces[nonces.length - 1]}, gap-free ${gapFree}`);
  console.log(`done ${n}`);
}

main().catch((e) => { notOk('eth-client', e.stack || e); console.log(`done ${n}`); process.exit(1); });
