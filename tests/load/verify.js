#!/usr/bin/env node
// tests/load/verify.js - check, with ethers.js, every answer that
// tests/tools/loadclient (mixed) recorded: an implementation that shares no
// code with p11signer.  TEST TOOL for tests/load/load.test.
//
//   verify.js --records FILE --addr ADDR --chainid N [--kinds K,K...]
//             [--allow-error REGEX] [--min-allowed N] [--list-may-lack-key]
//             [--events FILE --settle-ms MS --disrupt NAME,... --recover NAME,...]
//
// Every record must have an answer (no transport problem).  A request of
// kind invalid must get an error whose message matches its "expect".  Any
// other request must get a result that is right for its method: a
// transaction that decodes to the request's fields, signed by ADDR for
// chain N, low s, with the hash the answer claims; a text/plain or EIP-712
// signature that recovers to ADDR, low s; an account list that holds ADDR
// (unless --list-may-lack-key).  With --allow-error, such a request may
// instead get an error whose message matches REGEX (counted; --min-allowed
// says how many must have); any other error fails.  --kinds: only records
// of these kinds.
//
// --events: lines "MS NAME" (CLOCK_REALTIME ms, as loadclient's t0/t1).
// After each --recover event at T, every request that started at or after
// T + settle and ended before the next --disrupt event must have succeeded,
// and there must be at least one (unless that next event comes first).
//
// Prints a summary line (its "signatures" counts the results of the signing
// methods, for a comparison with the audit log), the allowed errors, then
// "ok" or the failures, each reason once with its count and an example, as
// "FAIL[answer]", "FAIL[window]" (the --events check) or "FAIL[count]"
// (--min-allowed); exit 0 / 1.
'use strict';
const fs = require('fs');
const path = require('path');
const { ethers } = require(path.join(__dirname, '../interop/node_modules/ethers'));

function parseArgs(argv) {
  const o = { kinds: null, allowError: null, minAllowed: 0, listMayLackKey: false,
    settleMs: 2000, disrupt: [], recover: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--records': o.records = v(); break;
      case '--addr': o.addr = v(); break;
      case '--chainid': o.chainId = BigInt(v()); break;
      case '--kinds': o.kinds = new Set(v().split(',')); break;
      case '--allow-error': o.allowError = new RegExp(v()); break;
      case '--min-allowed': o.minAllowed = Number(v()); break;
      case '--list-may-lack-key': o.listMayLackKey = true; break;
      case '--events': o.events = v(); break;
      case '--settle-ms': o.settleMs = Number(v()); break;
      case '--disrupt': o.disrupt = v().split(','); break;
      case '--recover': o.recover = v().split(','); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.records || !o.addr || o.chainId === undefined) usage('--records, --addr and --chainid are needed');
  return o;
}

function usage(why) {
  console.error(`verify.js: ${why}`);
  process.exit(2);
}

const o = parseArgs(process.argv.slice(2));
const want = ethers.getAddress(o.addr);
const HALF_N = ethers.N / 2n;
const failures = new Map();	// reason -> { n, example }
const counts = { tx: 0, personal: 0, personal_bytes: 0, typed: 0, list: 0, invalid: 0 };
const txTypes = [0, 0, 0, 0, 0];
const allowed = new Map();	// message -> n
let records = 0;
let signatures = 0;	// results of the signing methods, right or wrong

// class: answer (a wrong or refused answer), window (the --events check), count
function fail(reason, rec, detail, cls = 'answer') {
  const f = failures.get(reason) || { n: 0, example: null, cls };
  f.n++;
  if (!f.example) {
    f.example = `client ${rec.client} seq ${rec.seq}: ${detail || ''} request ${JSON.stringify(rec.req).slice(0, 300)} answer ${JSON.stringify(rec.resp).slice(0, 300)}`;
  }
  failures.set(reason, f);
  return false;
}

function lowS(sig) {
  return BigInt(ethers.Signature.from(sig).s) <= HALF_N;
}

const q = (v) => (v === undefined || v === null ? undefined : BigInt(v));

function checkTx(rec) {
  const args = rec.req.params[0], res = rec.resp.result;
  if (typeof res !== 'object' || typeof res.raw !== 'string' || typeof res.tx !== 'object') {
    return fail('signTransaction: the result is not {raw, tx}', rec);
  }
  let tx;
  try {
    tx = ethers.Transaction.from(res.raw);
  } catch (e) {
    return fail('signTransaction: ethers cannot decode the raw transaction', rec, e.message);
  }
  if (tx.type !== rec.txtype) return fail('signTransaction: another transaction type', rec, `type ${tx.type}`);
  if (tx.from !== want) return fail('signTransaction: not signed by the key', rec, `from ${tx.from}`);
  if (tx.chainId !== o.chainId) return fail('signTransaction: another chain id', rec, `chain ${tx.chainId}`);
  if (!lowS(tx.signature)) return fail('signTransaction: high s', rec);
  if (q(args.nonce) !== BigInt(tx.nonce)) return fail('signTransaction: nonce differs (a crossed answer?)', rec);
  if (q(args.value) !== tx.value) return fail('signTransaction: value differs (a crossed answer?)', rec);
  if (q(args.gas) !== tx.gasLimit) return fail('signTransaction: gas differs', rec);
  if (ethers.getAddress(args.to) !== tx.to) return fail('signTransaction: recipient differs', rec);
  if ((args.data || '0x') !== tx.data) return fail('signTransaction: data differs', rec);
  if (args.gasPrice !== undefined && q(args.gasPrice) !== tx.gasPrice) return fail('signTransaction: gasPrice differs', rec);
  if (args.maxFeePerGas !== undefined && q(args.maxFeePerGas) !== tx.maxFeePerGas) return fail('signTransaction: maxFeePerGas differs', rec);
  if (args.maxPriorityFeePerGas !== undefined && q(args.maxPriorityFeePerGas) !== tx.maxPriorityFeePerGas) return fail('signTransaction: maxPriorityFeePerGas differs', rec);
  if (args.accessList && JSON.stringify(args.accessList.map((e) => [e.address.toLowerCase(), e.storageKeys])) !==
      JSON.stringify(tx.accessList.map((e) => [e.address.toLowerCase(), e.storageKeys]))) {
    return fail('signTransaction: accessList differs', rec);
  }
  if (args.blobVersionedHashes && JSON.stringify(args.blobVersionedHashes) !== JSON.stringify(tx.blobVersionedHashes)) {
    return fail('signTransaction: blobVersionedHashes differ', rec);
  }
  if (args.authorizationList) {
    const a = tx.authorizationList || [];
    if (a.length !== 1 || a[0].address !== ethers.getAddress(args.authorizationList[0].address) ||
        BigInt(a[0].nonce) !== q(args.authorizationList[0].nonce)) {
      return fail('signTransaction: authorizationList differs', rec);
    }
  }
  if (res.tx.hash !== tx.hash) return fail('signTransaction: the answer\'s tx.hash is not the hash of its raw transaction', rec);
  txTypes[tx.type]++;
  return true;
}

function checkPersonal(rec) {
  const sig = rec.resp.result;
  if (typeof sig !== 'string' || !/^0x[0-9a-f]{130}$/.test(sig)) return fail('signData: the result is not 65 bytes of hex', rec);
  const v = parseInt(sig.slice(130), 16);
  if (v !== 27 && v !== 28) return fail('signData: V is not 27 or 28', rec);
  if (!lowS(sig)) return fail('signData: high s', rec);
  const who = ethers.verifyMessage(ethers.getBytes(rec.req.params[2]), sig);
  if (who !== want) return fail('signData: the signature does not recover to the key (a crossed answer?)', rec, `recovers ${who}`);
  return true;
}

function checkTyped(rec) {
  const sig = rec.resp.result, td = rec.req.params[1];
  if (typeof sig !== 'string' || !/^0x[0-9a-f]{130}$/.test(sig)) return fail('signTypedData: the result is not 65 bytes of hex', rec);
  if (!lowS(sig)) return fail('signTypedData: high s', rec);
  const { EIP712Domain, ...types } = td.types;	// eslint-disable-line no-unused-vars
  const who = ethers.verifyTypedData(td.domain, types, td.message, sig);
  if (who !== want) return fail('signTypedData: the signature does not recover to the key (a crossed answer?)', rec, `recovers ${who}`);
  return true;
}

function checkList(rec) {
  const l = rec.resp.result;
  if (!Array.isArray(l) || !l.every((a) => typeof a === 'string' && ethers.isAddress(a))) {
    return fail('account_list: the result is not a list of addresses', rec);
  }
  if (!o.listMayLackKey && !l.some((a) => ethers.getAddress(a) === want)) {
    return fail(`account_list: the key is not listed (a success with ${l.length} accounts)`, rec);
  }
  return true;
}

const checkers = { tx: checkTx, personal: checkPersonal, personal_bytes: checkPersonal, typed: checkTyped, list: checkList };

// Returns true when the record is a success (a verified result).
function checkRecord(rec) {
  if (rec.problem) return fail(`transport: ${rec.problem.replace(/[0-9]+/g, 'N')}`, rec, rec.problem);
  const r = rec.resp;
  if (rec.kind === 'invalid') {
    if (!r.error) return fail('an invalid request was answered with a result', rec);
    // While the token or its helper is out, a request from an unknown account cannot be
    // told from one for a key on that token: the module's reason is the right answer.
    if (!new RegExp(rec.expect).test(r.error.message) &&
        !(o.allowError && o.allowError.test(r.error.message)))
      return fail(`an invalid request got another error than /${rec.expect}/`, rec);
    return false;
  }
  if (r.error) {
    if (o.allowError && o.allowError.test(r.error.message)) {
      const m = r.error.message.replace(/0x[0-9a-fA-F]{40}/g, 'ADDR').replace(/[0-9]+ ms/g, 'N ms');
      allowed.set(m, (allowed.get(m) || 0) + 1);
      return false;
    }
    return fail(`${rec.kind}: refused: ${r.error.message.replace(/0x[0-9a-fA-F]{40}/g, 'ADDR').slice(0, 160)}`, rec);
  }
  const check = checkers[rec.kind];
  if (!check) return fail(`unknown kind ${rec.kind}`, rec);
  return check(rec);
}

const all = [];
for (const line of fs.readFileSync(o.records, 'utf8').split('\n')) {
  if (line === '') continue;
  const rec = JSON.parse(line);
  if (o.kinds && !o.kinds.has(rec.kind)) continue;
  records++;
  counts[rec.kind] = (counts[rec.kind] || 0) + 1;
  rec.ok = checkRecord(rec);
  if (['tx', 'personal', 'personal_bytes', 'typed'].includes(rec.kind) && rec.resp && rec.resp.result !== undefined) signatures++;
  all.push(rec);
}

let windows = '';
if (o.events) {
  const ev = fs.readFileSync(o.events, 'utf8').split('\n').filter((l) => l.trim() !== '')
    .map((l) => { const [t, name] = l.trim().split(/\s+/); return { t: Number(t), name }; })
    .sort((a, b) => a.t - b.t);
  const parts = [];
  ev.forEach((e, i) => {
    if (!o.recover.includes(e.name)) return;
    const start = e.t + o.settleMs;
    const next = ev.slice(i + 1).find((x) => o.disrupt.includes(x.name));
    const end = next ? next.t : Infinity;
    if (end <= start) return;	// disrupted again before it could settle
    const inside = all.filter((r) => r.kind !== 'invalid' && r.t0 >= start && r.t1 <= end);
    const bad = inside.filter((r) => !r.ok);
    const first = all.filter((r) => r.kind !== 'invalid' && r.ok && r.t0 >= e.t).reduce((m, r) => Math.min(m, r.t0), Infinity);
    parts.push(`${e.name}: first success started ${first === Infinity ? 'never' : `${first - e.t} ms after`}, ` +
      `${inside.length - bad.length}/${inside.length} ok from ${o.settleMs} ms on`);
    if (inside.length === 0) {
      fail(`no request started ${o.settleMs} ms after a ${e.name} (and ended before the next disruption): the window says nothing`,
        { client: '-', seq: '-', req: e, resp: null }, '', 'window');
    }
    for (const r of bad) {
      fail(`a request started ${o.settleMs} ms or more after a ${e.name} did not succeed`, r,
        `started ${r.t0 - e.t} ms after the ${e.name}`, 'window');
    }
  });
  windows = ` windows=[${parts.join('; ')}]`;
}

const nAllowed = [...allowed.values()].reduce((a, b) => a + b, 0);
if (nAllowed < o.minAllowed) {
  fail(`want at least ${o.minAllowed} requests refused with /${o.allowError}/, got ${nAllowed}`,
    { client: '-', seq: '-', req: null, resp: null }, '', 'count');
}
const verified = all.filter((r) => r.ok).length;
console.log(`records=${records} verified=${verified} ` +
  Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ') +
  ` tx_types=${txTypes.join('/')} signatures=${signatures} allowed_errors=${nAllowed}${windows}`);
for (const [m, n] of allowed) console.log(`  allowed error x${n}: ${m}`);
if (failures.size === 0) {
  console.log('ok');
  process.exit(0);
}
for (const [reason, f] of failures) {
  console.log(`FAIL[${f.cls}] x${f.n}: ${reason}`);
  console.log(`  e.g. ${f.example}`);
}
process.exit(1);
