// A static file server for the page (./build.sh serve) and the browser tests: byte ranges
// (as the HF hub serves them), the right MIME types for wasm and modules, and a log of the
// requests ({path, range, status}) so tests can tell downloads from cache hits.
//
//   node tests/browser/serve.mjs [DIR] [PORT] [--models MODELS]
//        serves DIR (default www/) on localhost, cross-origin isolated (ISOLATION below) unless
//        ISOLATION=0; with --models, the model folders under MODELS at /models/ too, and prints
//        the page's address for each (?clip=/models/NAME/, ?model=, ?peft=, ?decoder=)
//
// Mounts map URL prefixes to folders; a mount with `ranges: false` ignores Range headers (a
// server without range support: the page must then stream the file).

import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
};

/** The headers that make a page cross-origin isolated (its threaded CPU build needs them). */
export const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

// `headers`: more response headers for every file (the benchmark's cross-origin isolation).
export function serve({ mounts, port = 0, host = '127.0.0.1', headers: extra = {} }) {
  const log = [];
  const sorted = mounts.map((m) => ({ ...m, dir: path.resolve(m.dir) })).sort((a, b) => b.prefix.length - a.prefix.length);
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let pathname = decodeURIComponent(url.pathname);
    const mount = sorted.find((m) => pathname.startsWith(m.prefix));
    const entry = { path: pathname, range: req.headers.range || null, status: 0 };
    log.push(entry);
    const end = (code, text) => {
      entry.status = code;
      res.writeHead(code, { 'Content-Type': 'text/plain' });
      res.end(text);
    };
    if (!mount) return end(404, 'not found');
    let file = path.join(mount.dir, pathname.slice(mount.prefix.length));
    if (!file.startsWith(mount.dir)) return end(403, 'forbidden');
    let stat;
    try {
      stat = await fs.stat(file);
      if (stat.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = await fs.stat(file);
      }
    } catch {
      return end(404, 'not found');
    }
    const headers = {
      'Content-Type': TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream',
      'Cache-Control': 'no-cache',
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'Content-Range, Content-Length',
      ...extra,
    };
    const range = mount.ranges !== false && /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (range) {
      const start = Number(range[1]);
      const last = Math.min(range[2] ? Number(range[2]) : stat.size - 1, stat.size - 1);
      if (start >= stat.size) {
        entry.status = 416;
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${stat.size}` });
        return res.end();
      }
      entry.status = 206;
      res.writeHead(206, { ...headers, 'Accept-Ranges': 'bytes', 'Content-Range': `bytes ${start}-${last}/${stat.size}`, 'Content-Length': last - start + 1 });
      return createReadStream(file, { start, end: last }).pipe(res);
    }
    entry.status = 200;
    res.writeHead(200, { ...headers, 'Content-Length': stat.size, ...(mount.ranges === false ? {} : { 'Accept-Ranges': 'bytes' }) });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) =>
    server.listen(port, host, () => resolve({ server, log, url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${server.address().port}/` })),
  );
}

/**
 * The query parameter that loads a model folder in the page, from its files: `clip` for a CLIP
 * model, `model` for a published encoder-decoder, `peft` for a PEFT checkpoint, `decoder` for a
 * GPT-2 and `encoder` for a vision encoder; null for a folder that is none of these.
 */
export async function pageParam(folder) {
  const has = (f) => fs.stat(path.join(folder, f)).then(() => true, () => false);
  if (await has('adapter_config.json')) return 'peft';
  let config;
  try {
    config = JSON.parse(await fs.readFile(path.join(folder, 'config.json'), 'utf8'));
  } catch {
    return null;
  }
  const type = String(config.model_type || '');
  if (type === 'clip') return 'clip';
  if (type === 'vision-encoder-decoder') return 'model';
  if (type === 'gpt2') return 'decoder';
  if (type === 'vit' || type === 'clip_vision_model') return 'encoder';
  return null;
}

// Model folders under `dir` (itself, or one level down), with the parameter that loads each.
async function modelFolders(dir) {
  const out = [];
  const here = await pageParam(dir);
  if (here) out.push({ name: '', param: here });
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const param = await pageParam(path.join(dir, e.name));
    if (param) out.push({ name: `${e.name}/`, param });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--models');
  const models = at >= 0 ? path.resolve(args.splice(at, 2)[1] || '') : null;
  const root = path.resolve(args[0] || path.join(path.dirname(fileURLToPath(import.meta.url)), '../../www'));
  const port = Number(args[1] || 8080);
  const isolated = process.env.ISOLATION !== '0';
  const mounts = [{ prefix: '/', dir: root }];
  if (models) {
    if (!(await fs.stat(models).then((st) => st.isDirectory(), () => false))) {
      console.error(`serve: --models ${models}: no such folder`);
      process.exit(2);
    }
    mounts.push({ prefix: '/models/', dir: models });
  }
  const { url } = await serve({ mounts, port, headers: isolated ? ISOLATION : {} });
  console.log(`serving ${root} at ${url}${isolated ? ' (cross-origin isolated)' : ''} (Ctrl-C stops)`);
  if (models) {
    const found = await modelFolders(models);
    console.log(`model folders of ${models} at ${url}models/:`);
    if (!found.length) console.log('  (none: a folder needs config.json, or adapter_config.json for PEFT)');
    for (const f of found) console.log(`  ${url}?${f.param}=/models/${f.name}`);
  }
}
