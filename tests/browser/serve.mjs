// A static file server for the page (./build.sh serve) and the browser tests: byte ranges
// (as the HF hub serves them), the right MIME types for wasm and modules, and a log of the
// requests ({path, range, status}) so tests can tell downloads from cache hits.
//
//   node tests/browser/serve.mjs [DIR] [PORT]      serves DIR (default www/) on localhost, cross-origin
//                                                  isolated (ISOLATION below) unless ISOLATION=0
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] || path.join(path.dirname(fileURLToPath(import.meta.url)), '../../www'));
  const port = Number(process.argv[3] || 8080);
  const isolated = process.env.ISOLATION !== '0';
  const { url } = await serve({ mounts: [{ prefix: '/', dir: root }], port, headers: isolated ? ISOLATION : {} });
  console.log(`serving ${root} at ${url}${isolated ? ' (cross-origin isolated)' : ''} (Ctrl-C stops)`);
}
