// Generates tests/vectors/calldata/*.json with ethers.js (6.15) as an independent oracle
// for src/eth/abi.c and src/eth/calldata.c.
// Run from the repo root: node tests/vectors/calldata/gen-calldata.js
// (needs tests/interop/node_modules: scripts/deps).  The outputs are committed;
// this script documents how they were made.
//
//   abi.json          signature + call data (ethers' Interface encodes it) and the
//                     arguments ethers decodes, in the JSON form of src/eth/abi.h
//   abi-refused.json  call data that ethers refuses to decode, or that does not
//                     re-encode to itself (Clef's test for stuffed data)
//   calls.json        whole calls: the status, signature, summary and inner calls
//                     the decoder must report (amounts through ethers.formatUnits)
const path = require('path');
const fs = require('fs');
const { ethers } = require(path.resolve('tests/interop/node_modules/ethers'));

const dir = 'tests/vectors/calldata';
const out = (name, v) => fs.writeFileSync(path.join(dir, name), JSON.stringify(v, null, 1) + '\n');
const addr = (i) => ethers.getAddress(ethers.keccak256(ethers.toUtf8Bytes('address ' + i)).slice(0, 42));
const bytes = (n, seed = 1) => ethers.hexlify(Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff));

// One decoded value in the form of src/eth/abi.h.
function shape(param, value, withName) {
  const o = { type: param.format('sighash') };
  if (withName && param.name) o.name = param.name;
  if (param.baseType === 'array') {
    o.value = Array.from(value, (v) => shape(param.arrayChildren, v, false));
  } else if (param.baseType === 'tuple') {
    o.value = param.components.map((c, i) => shape(c, value[i], true));
  } else if (param.baseType === 'address') {
    o.value = ethers.getAddress(value);
  } else if (param.baseType === 'bool') {
    o.value = value;
  } else if (/^u?int/.test(param.baseType)) {
    o.value = value.toString();
  } else if (param.baseType === 'string') {
    o.value = value;
  } else {
    o.value = ethers.hexlify(value);
  }
  return o;
}

function abiCase(name, sig, values) {
  const iface = new ethers.Interface(['function ' + sig]);
  const frag = iface.fragments[0];
  const data = iface.encodeFunctionData(frag, values);
  const decoded = iface.decodeFunctionData(frag, data);
  return {
    name, signature: sig, canonical: frag.format('sighash'), selector: iface.getFunction(frag.name).selector,
    data, args: frag.inputs.map((p, i) => shape(p, decoded[i], true)),
  };
}

const abi = [
  abiCase('no-args', 'deposit()', []),
  abiCase('erc20-transfer', 'transfer(address to, uint256 amount)', [addr(1), 250000000n]),
  abiCase('unnamed', 'transfer(address,uint256)', [addr(2), 1n]),
  abiCase('uint-widths', 'f(uint8 a, uint16 b, uint160 c, uint256 d)',
    [255, 65535, (1n << 160n) - 1n, (1n << 256n) - 1n]),
  abiCase('int-extremes', 'g(int8 a, int8 b, int256 c, int256 d, int24 e)',
    [-128, 127, -(1n << 255n), (1n << 255n) - 1n, -1]),
  abiCase('bool-bytesN', 'h(bool a, bool b, bytes1 c, bytes20 d, bytes32 e)',
    [true, false, '0xab', bytes(20), bytes(32)]),
  abiCase('bytes-and-string', 'k(bytes a, string b, bytes c, string d)',
    ['0x', 'héllo \u2603 "quoted"\n', bytes(33), '']),
  abiCase('long-bytes', 'l(bytes data)', [bytes(1000, 7)]),
  abiCase('dynamic-arrays', 'm(uint256[] a, address[] b, string[] c)',
    [[1n, 2n, 3n], [addr(3), addr(4)], ['a', 'bc', '']]),
  abiCase('empty-array', 'n(uint256[] a, bytes[] b)', [[], []]),
  abiCase('fixed-arrays', 'o(uint8[3] a, string[2] b, uint256[2][2] c)',
    [[1, 2, 3], ['x', 'yz'], [[1n, 2n], [3n, 4n]]]),
  abiCase('nested-dynamic', 'p(uint256[][] a, bytes[][] b)', [[[1n], [], [2n, 3n]], [['0x01'], []]]),
  abiCase('tuple', 'q((address token, uint160 amount, uint48 expiration, uint48 nonce) d, bytes s)',
    [[addr(5), 1000n, 1700000000n, 7n], '0x1234']),
  abiCase('tuple-array', 'r((uint256 id, string label)[] items)', [[[1n, 'one'], [2n, 'two']]]),
  abiCase('permit2-permit',
    'permit(address owner, ((address token, uint160 amount, uint48 expiration, uint48 nonce) details, address spender, uint256 sigDeadline) permitSingle, bytes signature)',
    [addr(6), [[addr(7), 5n, 100n, 0n], addr(8), 200n], bytes(65)]),
  abiCase('safe-exec',
    'execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures)',
    [addr(9), 10n ** 18n, '0x', 0, 0n, 0n, 0n, ethers.ZeroAddress, ethers.ZeroAddress, bytes(65)]),
];
out('abi.json', abi);

// Refused: each is a valid encoding with one thing broken.
function refused(name, sig, values, mutate, error) {
  const iface = new ethers.Interface(['function ' + sig]);
  const frag = iface.fragments[0];
  const good = ethers.getBytes(iface.encodeFunctionData(frag, values));
  const bad = mutate(Uint8Array.from(good));
  const hex = ethers.hexlify(bad);
  // The oracle: ethers refuses it, or it does not re-encode to itself.
  let reencoded = null;
  try { reencoded = iface.encodeFunctionData(frag, iface.decodeFunctionData(frag, hex)); } catch (e) { /* refused */ }
  if (reencoded === hex) throw new Error(name + ': ethers accepts and re-encodes it: not a refusal case');
  return { name, signature: sig, data: hex, error };
}
const at = (i) => 4 + 32 * i;
const set = (b, i, v) => { b[i] = v; return b; };
const cat = (b, extra) => { const r = new Uint8Array(b.length + extra.length); r.set(b); r.set(extra, b.length); return r; };
out('abi-refused.json', [
  refused('address-padding', 'transfer(address,uint256)', [addr(1), 1n], (b) => set(b, at(0), 1), 'ERR_ABI_DECODE'),
  refused('bool-2', 'h(bool)', [true], (b) => set(b, at(0) + 31, 2), 'ERR_ABI_DECODE'),
  refused('uint8-range', 'f(uint8)', [1], (b) => set(b, at(0) + 30, 1), 'ERR_ABI_DECODE'),
  refused('int8-not-sign-extended', 'g(int8)', [-1], (b) => set(b, at(0), 0x7f), 'ERR_ABI_DECODE'),
  refused('bytes4-padding', 'k(bytes4)', ['0x01020304'], (b) => set(b, at(0) + 31, 1), 'ERR_ABI_DECODE'),
  refused('truncated', 'transfer(address,uint256)', [addr(1), 1n], (b) => b.slice(0, b.length - 1), 'ERR_ABI_DECODE'),
  refused('missing-word', 'transfer(address,uint256)', [addr(1), 1n], (b) => b.slice(0, b.length - 32), 'ERR_ABI_DECODE'),
  refused('trailing-word', 'transfer(address,uint256)', [addr(1), 1n], (b) => cat(b, new Uint8Array(32)), 'ERR_ABI_NONCANONICAL'),
  refused('trailing-byte', 'deposit()', [], (b) => cat(b, new Uint8Array(1)), 'ERR_ABI_NONCANONICAL'),
  refused('bytes-padding', 'l(bytes)', ['0x01'], (b) => set(b, b.length - 1, 9), 'ERR_ABI_NONCANONICAL'),
  refused('bytes-length-past-end', 'l(bytes)', ['0x01'], (b) => set(b, at(1) + 31, 0x40), 'ERR_ABI_DECODE'),
  refused('offset-huge', 'l(bytes)', ['0x01'], (b) => set(b, at(0), 0xff), 'ERR_ABI_DECODE'),
  // a second copy of the bytes after the first, the offset pointing at it:
  // ethers decodes it, but it does not re-encode to itself
  refused('offset-skips-stuffing', 'l(bytes)', ['0x01'],
    (b) => { const r = cat(b, b.slice(at(1))); r[at(0) + 31] = 0x60; return r; }, 'ERR_ABI_NONCANONICAL'),
  refused('array-length-huge', 'm(uint256[])', [[1n]], (b) => set(b, at(1) + 20, 1), 'ERR_ABI_DECODE'),
  refused('string-length-huge', 'k(string)', ['abc'], (b) => set(b, at(1), 0x80), 'ERR_ABI_DECODE'),
]);

// Whole calls through src/eth/calldata.c.
const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const WETH = '0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2';
const VITALIK = '0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045';
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const short = (a) => { const s = ethers.getAddress(a); return s.slice(0, 6) + '\u2026' + s.slice(38); };
const enc = (sig, values) => new ethers.Interface(['function ' + sig]).encodeFunctionData(
  new ethers.Interface(['function ' + sig]).fragments[0], values);
const canon = (sig) => new ethers.Interface(['function ' + sig]).fragments[0].format('sighash');
const MAX = (1n << 256n) - 1n;
const MAX160 = (1n << 160n) - 1n;
const T = 'transfer(address,uint256)';
const token = addr(20);   // a token the table does not know

const multiSendPacked = (calls) => ethers.concat(calls.map(([op, to, value, data]) => ethers.solidityPacked(
  ['uint8', 'address', 'uint256', 'uint256', 'bytes'], [op, to, value, ethers.dataLength(data), data])));
const inner1 = enc(T, [VITALIK, 5n * 10n ** 6n]);
const inner2 = enc('approve(address,uint256)', [addr(21), MAX]);

const calls = [
  { name: 'usdc-transfer', chainId: 1, to: USDC, data: enc(T, [VITALIK, 250n * 10n ** 6n]),
    expect: { status: 'decoded', signature: T, source: 'builtin', name: 'transfer',
      summary: `transfer ${ethers.formatUnits(250n * 10n ** 6n, 6)} of token ${short(USDC)} to ${short(VITALIK)}` } },
  { name: 'usdc-on-another-chain-is-raw', chainId: 5, to: USDC, data: enc(T, [VITALIK, 250n * 10n ** 6n]),
    expect: { status: 'decoded', signature: T,
      summary: `transfer 250000000 units of token ${short(USDC)} to ${short(VITALIK)}` } },
  { name: 'unknown-token-transfer', chainId: 1, to: token, data: enc(T, [VITALIK, 7n]),
    expect: { status: 'decoded', summary: `transfer 7 units of token ${short(token)} to ${short(VITALIK)}` } },
  { name: 'approve-unlimited', chainId: 1, to: USDC, data: enc('approve(address,uint256)', [addr(21), MAX]),
    expect: { status: 'decoded', name: 'approve', unlimited: true,
      summary: `approve ${short(addr(21))} to spend an UNLIMITED amount of token ${short(USDC)}` } },
  { name: 'approve-limited', chainId: 1, to: USDC, data: enc('approve(address,uint256)', [addr(21), 1500000n]),
    expect: { status: 'decoded', unlimited: false,
      summary: `approve ${short(addr(21))} to spend ${ethers.formatUnits(1500000n, 6)} of token ${short(USDC)}` } },
  { name: 'approve-almost-max-is-not-unlimited', chainId: 1, to: token, data: enc('approve(address,uint256)', [addr(21), MAX - 1n]),
    expect: { status: 'decoded', unlimited: false } },
  { name: 'approve-zero-revokes', chainId: 1, to: token, data: enc('approve(address,uint256)', [addr(21), 0n]),
    expect: { status: 'decoded', summary: `revoke the approval of ${short(addr(21))} for token ${short(token)}` } },
  { name: 'transfer-from', chainId: 1, to: WETH, data: enc('transferFrom(address,address,uint256)', [addr(1), addr(2), 15n * 10n ** 17n]),
    expect: { status: 'decoded', summary: `move ${ethers.formatUnits(15n * 10n ** 17n, 18)} of token ${short(WETH)} from ${short(addr(1))} to ${short(addr(2))}` } },
  { name: 'erc20-permit-unlimited', chainId: 1, to: token,
    data: enc('permit(address,address,uint256,uint256,uint8,bytes32,bytes32)', [addr(1), addr(2), MAX, 99n, 27, bytes(32), bytes(32, 5)]),
    expect: { status: 'decoded', name: 'permit', unlimited: true, summary: `permit ${short(addr(2))} to spend an UNLIMITED amount` } },
  { name: 'erc721-safe-transfer', chainId: 1, to: token, data: enc('safeTransferFrom(address,address,uint256)', [addr(1), addr(2), 42n]),
    expect: { status: 'decoded', summary: `transfer the NFT with id 42 of collection ${short(token)} from ${short(addr(1))} to ${short(addr(2))}` } },
  { name: 'erc721-safe-transfer-data', chainId: 1, to: token, data: enc('safeTransferFrom(address,address,uint256,bytes)', [addr(1), addr(2), 42n, '0xbeef']),
    expect: { status: 'decoded', signature: 'safeTransferFrom(address,address,uint256,bytes)' } },
  { name: 'set-approval-for-all', chainId: 1, to: token, data: enc('setApprovalForAll(address,bool)', [addr(3), true]),
    expect: { status: 'decoded', unlimited: true, summary: `allow ${short(addr(3))} to move ALL tokens of ${short(token)}, now and later` } },
  { name: 'set-approval-for-all-revoke', chainId: 1, to: token, data: enc('setApprovalForAll(address,bool)', [addr(3), false]),
    expect: { status: 'decoded', unlimited: false } },
  { name: 'erc1155-transfer', chainId: 1, to: token, data: enc('safeTransferFrom(address,address,uint256,uint256,bytes)', [addr(1), addr(2), 3n, 10n, '0x']),
    expect: { status: 'decoded', summary: `transfer 10 of id 3 of token ${short(token)} from ${short(addr(1))} to ${short(addr(2))}` } },
  { name: 'erc1155-batch', chainId: 1, to: token, data: enc('safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)', [addr(1), addr(2), [1n, 2n], [5n, 6n], '0x']),
    expect: { status: 'decoded', summary: `transfer 2 ids of token ${short(token)} from ${short(addr(1))} to ${short(addr(2))}` } },
  { name: 'weth-deposit', chainId: 1, to: WETH, data: enc('deposit()', []),
    expect: { status: 'decoded', summary: `deposit the transaction's value into ${short(WETH)}` } },
  { name: 'weth-withdraw', chainId: 1, to: WETH, data: enc('withdraw(uint256)', [10n ** 18n]),
    expect: { status: 'decoded', summary: `withdraw ${ethers.formatUnits(10n ** 18n, 18)} of token ${short(WETH)}` } },
  { name: 'permit2-approve-unlimited', chainId: 1, to: PERMIT2, data: enc('approve(address,address,uint160,uint48)', [USDC, addr(4), MAX160, 1700000000n]),
    expect: { status: 'decoded', unlimited: true, summary: `Permit2: approve ${short(addr(4))} to spend an UNLIMITED amount until 1700000000` } },
  { name: 'permit2-permit', chainId: 1, to: PERMIT2,
    data: enc('permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)', [addr(1), [[USDC, 10n ** 6n, 5n, 0n], addr(4), 9n], bytes(65)]),
    expect: { status: 'decoded', unlimited: false, summary: `Permit2: let ${short(addr(4))} spend ${ethers.formatUnits(10n ** 6n, 6)} of token ${short(USDC)}` } },
  { name: 'permit2-permit-batch', chainId: 1, to: PERMIT2,
    data: enc('permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)', [addr(1), [[[USDC, 1n, 5n, 0n], [WETH, MAX160, 5n, 0n]], addr(4), 9n], bytes(65)]),
    expect: { status: 'decoded', unlimited: true, summary: `Permit2: let ${short(addr(4))} spend 2 tokens` } },
  { name: 'permit2-transfer-from', chainId: 1, to: PERMIT2, data: enc('transferFrom(address,address,uint160,address)', [addr(1), addr(2), 3n * 10n ** 6n, USDC]),
    expect: { status: 'decoded', summary: `Permit2: move ${ethers.formatUnits(3n * 10n ** 6n, 6)} of token ${short(USDC)} from ${short(addr(1))} to ${short(addr(2))}` } },
  { name: 'safe-exec-transfer', chainId: 1, to: addr(30),
    data: enc('execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)',
      [USDC, 0n, inner1, 0, 0n, 0n, 0n, ethers.ZeroAddress, ethers.ZeroAddress, bytes(65)]),
    expect: { status: 'decoded', summary: `Safe: call ${short(USDC)} with 0 wei`,
      calls: [{ operation: 0, to: USDC, value_wei: '0', data_bytes: ethers.dataLength(inner1),
        summary: `transfer ${ethers.formatUnits(5n * 10n ** 6n, 6)} of token ${short(USDC)} to ${short(VITALIK)}` }] } },
  { name: 'safe-exec-delegatecall', chainId: 1, to: addr(30),
    data: enc('execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)',
      [addr(31), 0n, '0x', 1, 0n, 0n, 0n, ethers.ZeroAddress, ethers.ZeroAddress, bytes(65)]),
    expect: { status: 'decoded', summary: `Safe: DELEGATECALL ${short(addr(31))} with 0 wei`,
      calls: [{ operation: 1, to: addr(31), value_wei: '0', data_bytes: 0 }] } },
  { name: 'safe-multisend', chainId: 1, to: addr(32),
    data: enc('multiSend(bytes)', [multiSendPacked([[0, USDC, 0n, inner1], [1, token, 7n, inner2], [0, VITALIK, 10n ** 18n, '0x']])]),
    expect: { status: 'decoded', summary: 'Safe multiSend of 3 calls', unlimited: true, calls: [
      { operation: 0, to: USDC, value_wei: '0', data_bytes: 68, summary: `transfer 5.0 of token ${short(USDC)} to ${short(VITALIK)}` },
      { operation: 1, to: token, value_wei: '7', data_bytes: 68, unlimited: true },
      { operation: 0, to: VITALIK, value_wei: (10n ** 18n).toString(), data_bytes: 0 }] } },
  { name: 'safe-multisend-cut-short', chainId: 1, to: addr(32),
    data: enc('multiSend(bytes)', [ethers.dataSlice(multiSendPacked([[0, USDC, 0n, inner1]]), 0, 100)]),
    expect: { status: 'undecodable' } },
  { name: 'multicall', chainId: 1, to: USDC, data: enc('multicall(bytes[])', [[inner1, inner2]]),
    expect: { status: 'decoded', summary: `multicall of 2 calls to ${short(USDC)}`, unlimited: true, calls: [
      { operation: 0, to: USDC, value_wei: '0', data_bytes: 68, summary: `transfer 5.0 of token ${short(USDC)} to ${short(VITALIK)}` },
      { operation: 0, to: USDC, value_wei: '0', data_bytes: 68, unlimited: true }] } },
  { name: 'multicall-deadline', chainId: 1, to: USDC, data: enc('multicall(uint256,bytes[])', [5n, [inner1]]),
    expect: { status: 'decoded', summary: `multicall of 1 calls to ${short(USDC)}`, unlimited: false } },
  { name: 'unknown-selector', chainId: 1, to: token, data: '0xdeadbeef' + '00'.repeat(32),
    expect: { status: 'unknown' } },
  { name: 'caller-signature', chainId: 1, to: token, data: enc('frobnicate(uint256,string)', [1n, 'x']),
    caller_sig: 'frobnicate(uint256,string)',
    expect: { status: 'decoded', source: 'caller', signature: 'frobnicate(uint256,string)', name: 'frobnicate' } },
  { name: 'caller-signature-other-selector-ignored', chainId: 1, to: token, data: enc('frobnicate(uint256,string)', [1n, 'x']),
    caller_sig: 'other(uint256)', expect: { status: 'unknown' } },
  { name: 'caller-collision-is-ambiguous', chainId: 1, to: USDC, data: enc(T, [VITALIK, 1n]),
    caller_sig: 'many_msg_babbage(bytes1)',
    expect: { status: 'ambiguous', candidates: [T, 'many_msg_babbage(bytes1)'] } },
  { name: '4bytedb-signature', chainId: 1, to: token, data: enc('frobnicate(uint256,string)', [1n, 'x']),
    fourbyte: { [ethers.id('frobnicate(uint256,string)').slice(2, 10)]: 'frobnicate(uint256,string)' },
    expect: { status: 'decoded', source: '4bytedb', name: 'frobnicate' } },
  { name: '4bytedb-collision-is-ambiguous', chainId: 1, to: USDC, data: enc(T, [VITALIK, 1n]),
    fourbyte: { a9059cbb: ['func_2093253501(bytes)', 'transfer(address,uint256)'] },
    expect: { status: 'ambiguous', candidates: ['func_2093253501(bytes)', T] } },
  { name: '4bytedb-same-signature-is-not-ambiguous', chainId: 1, to: USDC, data: enc(T, [VITALIK, 1n]),
    fourbyte: { a9059cbb: 'transfer(address,uint256)' },
    expect: { status: 'decoded', source: 'builtin' } },
  { name: 'stuffed-transfer', chainId: 1, to: USDC, data: enc(T, [VITALIK, 1n]) + '00'.repeat(32),
    expect: { status: 'undecodable', signature: T } },
  { name: 'short-data', chainId: 1, to: USDC, data: '0xa9059c', expect: null },
];
for (const c of calls) {
  // the collisions the cases rely on are real
  for (const s of (c.expect && c.expect.candidates) || [])
    if (ethers.id(canon(s)).slice(0, 10) !== c.data.slice(0, 10)) throw new Error(c.name + ': ' + s + ' does not collide');
}
out('calls.json', calls);
