// Generates tests/vectors/core/*.json with ethers.js as an independent oracle.
// Run from the repo root: node tests/vectors/gen-core.js  (needs tests/interop/node_modules)
// The outputs are committed; this script documents how they were made.
const path = require('path');
const fs = require('fs');
const { ethers } = require(path.resolve('tests/interop/node_modules/ethers'));
const out = (name, v) => fs.writeFileSync(path.join('tests/vectors/core', name), JSON.stringify(v, null, 1) + '\n');
const pattern = (n) => ethers.hexlify(Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

// Keccak-256 at the block boundaries (rate 136) and beyond.
out('keccak.json', [0, 1, 2, 55, 56, 135, 136, 137, 200, 271, 272, 273, 1000, 4096].map((n) => ({
  name: `keccak-${n}-bytes`, input: pattern(n), hash: ethers.keccak256(pattern(n)),
})).concat([{ name: 'keccak-abc', input: ethers.hexlify(ethers.toUtf8Bytes('abc')), hash: ethers.keccak256(ethers.toUtf8Bytes('abc')) }]));

// RLP: encodings from ethers; items are byte strings or nested lists.
const rlpItems = [
  ['empty-string', '0x'], ['byte-00', '0x00'], ['byte-7f', '0x7f'], ['byte-80', '0x80'],
  ['55-bytes', pattern(55)], ['56-bytes', pattern(56)], ['1024-bytes', pattern(1024)], ['70000-bytes', pattern(70000)],
  ['empty-list', []], ['list-of-empty', ['0x', []]], ['nested', [['0x01', '0x0203'], [[]], pattern(60)]],
  ['long-list', Array.from({ length: 30 }, (_, i) => pattern(i))],
];
out('rlp.json', rlpItems.map(([name, item]) => ({ name, item, encoded: ethers.encodeRlp(item) })));

// EIP-55: the EIP's own examples and random addresses.
const eip55 = ['0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB', '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  '0x52908400098527886E0F7030069857D2E4169EE7', '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77', '0x27b1fdb04752bbc536007a920d24acb045561c26'];
for (let i = 0; i < 8; i++) eip55.push(ethers.getAddress(ethers.keccak256(pattern(i + 1)).slice(0, 42)));
out('eip55.json', eip55.map((a, i) => ({ name: `eip55-${i}`, address: ethers.getAddress(a), lower: a.toLowerCase() })));

// Signatures: throwaway keys k = keccak("p11signer test key i"); digests; low-s from ethers,
// the same signature with s := n - s as a token might return it; DER encodings of both.
const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const der = (r, s) => {
  const int = (x) => { let h = x.toString(16); if (h.length % 2) h = '0' + h; let b = Buffer.from(h, 'hex'); if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]); return Buffer.concat([Buffer.from([2, b.length]), b]); };
  const body = Buffer.concat([int(r), int(s)]);
  return '0x' + Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('hex');
};
const sigs = [];
for (let i = 0; i < 16; i++) {
  const key = new ethers.SigningKey(ethers.keccak256(ethers.toUtf8Bytes(`p11signer test key ${i}`)));
  const digest = ethers.keccak256(ethers.toUtf8Bytes(`digest ${i}`));
  const sig = key.sign(digest);
  const r = BigInt(sig.r), s = BigInt(sig.s), hs = N - s;
  sigs.push({ name: `sig-${i}`, pubkey: key.publicKey, address: ethers.computeAddress(key.publicKey), digest,
    low: ethers.concat([sig.r, sig.s]), recid: sig.yParity,
    high: ethers.concat([sig.r, ethers.toBeHex(hs, 32)]), der_low: der(r, s), der_high: der(r, hs),
    compressed: key.compressedPublicKey });
}
out('sig.json', sigs);
