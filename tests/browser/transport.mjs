// Tests of the page worker's transport and cache (www/worker/) in Node, without a browser or
// the wasm build: the requests the Rust loader makes, answered from the fixtures served by
// serve.mjs, with an in-memory stand-in for the Cache API. Checks what reaches the server.
//
//   node tests/browser/transport.mjs      (www/worker/package.json marks its files as ES modules)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { serve } from './serve.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(repo, 'tests/fixtures');

// The Cache API, in memory (what the worker uses of it).
class MemoryCache {
  constructor() {
    this.entries = new Map();
  }
  async match(key) {
    return this.entries.get(String(key))?.clone();
  }
  async put(key, response) {
    this.entries.set(String(key), new Response(await response.arrayBuffer(), { headers: response.headers }));
  }
  async delete(key) {
    return this.entries.delete(String(key));
  }
  async keys() {
    return [...this.entries.keys()].map((k) => new Request(k));
  }
}
const stores = new Map();
globalThis.caches = {
  async open(name) {
    if (!stores.has(name)) stores.set(name, new MemoryCache());
    return stores.get(name);
  },
  async delete(name) {
    return stores.delete(name);
  },
};

const { Transport } = await import('../../www/worker/transport.js');
const { CACHE_NAME, clearStore } = await import('../../www/worker/cache.js');

const { server, log, url } = await serve({
  mounts: [
    { prefix: '/fixtures/', dir: fixtures },
    { prefix: '/norange/', dir: fixtures, ranges: false },
  ],
});
const bundled = new URL('/fixtures/', url).href;
const at = (folder) => ({ url: new URL(folder, url).href });
const file = (p) => readFileSync(path.join(fixtures, p));
const MiB = 1 << 20;

// Answers `requests` with a fresh transport (one load); the answers and the requests the server saw.
async function load(requests, dropped = new Map()) {
  const t = new Transport(dropped, bundled);
  const since = log.length;
  const answers = [];
  try {
    for (const r of requests) answers.push(await t.answer({ optional: false, ...r }));
  } finally {
    t.close();
  }
  return { answers, seen: log.slice(since), network: t.network, cached: t.cached };
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('a whole file is downloaded once, then read from the cache', async () => {
  const want = file('clip_a/config.json');
  const a = await load([{ kind: 'file', at: at('/fixtures/clip_a/'), name: 'config.json' }]);
  assert.deepEqual(Buffer.from(a.answers[0].bytes), want);
  assert.equal(a.answers[0].len, want.length);
  assert.equal(a.seen.length, 1);
  const b = await load([{ kind: 'file', at: at('/fixtures/clip_a'), name: 'config.json' }]); // no trailing slash
  assert.deepEqual(Buffer.from(b.answers[0].bytes), want);
  assert.deepEqual(b.seen, []);
  assert.equal(b.cached, want.length);
});

test('ranges already fetched, by any load, are not fetched again; a partial overlap fetches only the gap', async () => {
  const want = file('clip_a/model.safetensors');
  const st = { at: at('/fixtures/clip_a/'), name: 'model.safetensors' };
  const head = await load([{ kind: 'range', ...st, start: 0, end: MiB, short: true }]);
  assert.equal(head.answers[0].len, want.length);
  assert.deepEqual(Buffer.from(head.answers[0].bytes), want.subarray(0, MiB));
  const more = await load([{ kind: 'range', ...st, start: MiB / 2, end: 2 * MiB, short: false }]);
  assert.deepEqual(Buffer.from(more.answers[0].bytes), want.subarray(MiB / 2, 2 * MiB));
  assert.deepEqual(more.seen.map((r) => r.range), [`bytes=${MiB}-${2 * MiB - 1}`]);
  assert.equal(more.network, MiB);
  const again = await load([{ kind: 'range', ...st, start: 100, end: 2 * MiB - 100, short: false }]);
  assert.deepEqual(again.seen, []);
  assert.deepEqual(Buffer.from(again.answers[0].bytes), want.subarray(100, 2 * MiB - 100));
});

test('a short range ends with the file; a range past the end is empty', async () => {
  const want = file('clip_b/model.safetensors');
  const st = { at: at('/fixtures/clip_b/'), name: 'model.safetensors', short: true };
  const a = await load([{ kind: 'range', ...st, start: want.length - 10, end: want.length + 100 }, { kind: 'range', ...st, start: want.length + 5, end: want.length + 9 }]);
  assert.deepEqual(Buffer.from(a.answers[0].bytes), want.subarray(want.length - 10));
  assert.equal(a.answers[1].bytes.length, 0);
  assert.equal(a.answers[1].len, want.length);
});

test('a tail learns the length with a 2-byte probe, then comes from the cache', async () => {
  const want = file('ved_vit_bin/pytorch_model.bin');
  const r = { kind: 'tail', at: at('/fixtures/ved_vit_bin/'), name: 'pytorch_model.bin', len: 1000 };
  const a = await load([r]);
  assert.equal(a.answers[0].len, want.length);
  assert.deepEqual(Buffer.from(a.answers[0].bytes), want.subarray(want.length - 1000));
  assert.ok(a.seen.every((s) => s.range), 'only range requests');
  const b = await load([r, { kind: 'range', at: r.at, name: r.name, start: 0, end: 2, short: false }]);
  assert.deepEqual(b.seen, []);
  assert.deepEqual(Buffer.from(b.answers[1].bytes), want.subarray(0, 2));
});

test('an absent file is answered null and remembered', async () => {
  const r = { kind: 'range', at: at('/fixtures/clip_a/'), name: 'absent.safetensors', start: 0, end: MiB, short: true, optional: true };
  const a = await load([r, { kind: 'file', at: r.at, name: 'absent.json', optional: true }, { kind: 'tail', at: r.at, name: 'absent.bin', len: 10 }]);
  assert.deepEqual(a.answers.map((x) => x.bytes), [null, null, null]);
  const b = await load([r]);
  assert.equal(b.answers[0].bytes, null);
  assert.deepEqual(b.seen, []);
});

test('a server without ranges: one streamed response serves consecutive ranges and a tail', async () => {
  await clearStore();
  const want = file('clip_a/model.safetensors');
  const st = { at: at('/norange/clip_a/'), name: 'model.safetensors', short: false };
  const a = await load([{ kind: 'range', ...st, start: 0, end: MiB, short: true }, { kind: 'range', ...st, start: 2 * MiB, end: 3 * MiB }]);
  assert.deepEqual(Buffer.from(a.answers[1].bytes), want.subarray(2 * MiB, 3 * MiB));
  assert.equal(a.seen.length, 1, 'one response, streamed');
  const bin = file('ved_vit_bin/pytorch_model.bin');
  const t = await load([{ kind: 'tail', at: at('/norange/ved_vit_bin/'), name: 'pytorch_model.bin', len: bin.length + 10 }]);
  assert.deepEqual(Buffer.from(t.answers[0].bytes), bin);
  assert.equal(t.answers[0].len, bin.length);
});

test('a stream of unknown length (no Content-Length, no ranges): a tail reads it to the end', async () => {
  const bin = file('ved_vit_bin/pytorch_model.bin');
  const chunked = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' }); // chunked: no length
    for (let i = 0; i < bin.length; i += 65536) res.write(bin.subarray(i, i + 65536));
    res.end();
  });
  await new Promise((done) => chunked.listen(0, '127.0.0.1', done));
  try {
    const where = { url: `http://127.0.0.1:${chunked.address().port}/m/` };
    const a = await load([{ kind: 'tail', at: where, name: 'pytorch_model.bin', len: 100000 }, { kind: 'range', at: where, name: 'pytorch_model.bin', start: 0, end: 2, short: false }]);
    assert.equal(a.answers[0].len, bin.length);
    assert.deepEqual(Buffer.from(a.answers[0].bytes), bin.subarray(bin.length - 100000));
    assert.deepEqual(Buffer.from(a.answers[1].bytes), bin.subarray(0, 2));
  } finally {
    chunked.close();
  }
});

test('a file read whole after its ranges were all cached comes from the cache', async () => {
  const want = file('clip_a/preprocessor_config.json');
  const r = { at: at('/fixtures/clip_a/'), name: 'preprocessor_config.json' };
  await load([{ kind: 'range', ...r, start: 0, end: MiB, short: true }]);
  const b = await load([{ kind: 'file', ...r }]);
  assert.deepEqual(b.seen, []);
  assert.deepEqual(Buffer.from(b.answers[0].bytes), want);
});

test('a segment gone from the cache is fetched again', async () => {
  const store = await caches.open(CACHE_NAME);
  const st = { at: at('/fixtures/gpt2_plain/'), name: 'model.safetensors', short: false };
  await load([{ kind: 'range', ...st, start: 0, end: 1000 }]);
  for (const k of [...store.entries.keys()]) if (k.includes('gpt2_plain') && k.endsWith('=0-1000')) await store.delete(k);
  const b = await load([{ kind: 'range', ...st, start: 10, end: 20 }]);
  assert.deepEqual(Buffer.from(b.answers[0].bytes), file('gpt2_plain/model.safetensors').subarray(10, 20));
  assert.equal(b.seen.length, 1);
});

test('dropped files are read with File.slice, and never cached', async () => {
  const bytes = file('peft_b/adapter_config.json');
  const dropped = new Map([['PEFT files', { 'adapter_config.json': new File([bytes], 'adapter_config.json') }]]);
  const d = { dropped: 'PEFT files' };
  const a = await load([
    { kind: 'file', at: d, name: 'adapter_config.json' },
    { kind: 'range', at: d, name: 'adapter_config.json', start: 2, end: 6, short: false },
    { kind: 'tail', at: d, name: 'adapter_config.json', len: 5 },
    { kind: 'file', at: d, name: 'adapter_model.safetensors' },
  ], dropped);
  assert.deepEqual(Buffer.from(a.answers[0].bytes), bytes);
  assert.deepEqual(Buffer.from(a.answers[1].bytes), bytes.subarray(2, 6));
  assert.deepEqual([Buffer.from(a.answers[2].bytes), a.answers[2].len], [bytes.subarray(bytes.length - 5), bytes.length]);
  assert.equal(a.answers[3].bytes, null);
  assert.equal(a.network + a.cached, 0);
});

test('a network failure is a DownloadError of kind network; a local path is refused', async () => {
  await assert.rejects(load([{ kind: 'file', at: { url: 'http://127.0.0.1:9/x/' }, name: 'config.json' }]), (e) => e.kind === 'network');
  await assert.rejects(load([{ kind: 'file', at: { path: '/tmp/model' }, name: 'config.json' }]), (e) => e.kind === 'invalid-input');
});

let failed = 0;
for (const [name, fn] of tests) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}
server.close();
console.log(`${tests.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
