// Answers the Rust loader's requests ({kind: 'file'|'range'|'tail', at, name, ...}, see
// src/load/request.rs): where a location's files are, and how to read them. Which files to ask
// for is the loader's business, not this file's.
//
// Locations: {url} (a folder URL), {hub: 'org/name'} (the hub's resolve/main/), {bundled:
// 'clip'|'gpt2'} (the tokenizers shipped in ./pkg/vocab/), all read over HTTP through the cache;
// {dropped: label} (files the user dropped, read with File.slice, never cached).

import { CachedFile, openStore } from './cache.js';
import { DownloadError, RemoteFile, getWhole } from './remote.js';

/** The folder URL (ending in '/') of a location read over HTTP. */
export function folderUrl(at, bundledBase) {
  if (typeof at.url === 'string') return at.url.endsWith('/') ? at.url : `${at.url}/`;
  if (typeof at.hub === 'string') return `https://huggingface.co/${at.hub.split('/').map(encodeURIComponent).join('/')}/resolve/main/`;
  if (typeof at.bundled === 'string' && /^[a-z0-9_-]+$/.test(at.bundled)) return new URL(`${at.bundled}/`, bundledBase).href;
  if (typeof at.path === 'string') {
    throw new DownloadError(
      `${at.path} is a local folder, which the page cannot read: give its location as a URL (?model=, ?encoder=, ?decoder=), or drop its files`,
      'invalid-input',
    );
  }
  throw new DownloadError(`the page cannot read files at ${JSON.stringify(at)}`, 'internal');
}

/**
 * The transport of one load: remembers open streams and cache indices between its requests.
 * `answer(request)` resolves to `{bytes, len}` (bytes null when the file does not exist);
 * `network` and `cached` count the bytes that came from each.
 */
export class Transport {
  /**
   * @param {Map<string, Object<string, File>>} dropped dropped files by label, then by name
   * @param {string} bundledBase URL of the folder holding the bundled tokenizers' folders
   */
  constructor(dropped, bundledBase) {
    this.dropped = dropped;
    this.bundledBase = bundledBase;
    this.store = undefined; // opened on the first request over HTTP
    this.files = new Map(); // url -> {remote: RemoteFile, cached: CachedFile}
    this.memo = { last: null };
    this.window = null; // {url, start, bytes, len}: a chunk read ahead, answered piece by piece
    this.network = 0;
    this.cached = 0;
  }

  /** @returns {Promise<{bytes: Uint8Array|null, len: number|undefined}>} */
  async answer(request) {
    const r = 'dropped' in request.at ? await this.local(request) : await this.remote(request);
    if (!r) return { bytes: null, len: undefined };
    this.network += r.network || 0;
    this.cached += r.cached || 0;
    return { bytes: r.bytes, len: r.len ?? undefined };
  }

  /** Ends the streams left open. */
  close() {
    for (const { remote } of this.files.values()) remote.close();
    this.files.clear();
    this.window = null;
  }

  // A range; when the loader says its next requests run on to `ahead` (a chunk of neighbouring
  // tensors), the whole chunk is read at once and kept here, and the following requests are
  // answered from it: one download per chunk, one tensor at a time into wasm memory.
  async ranged(url, request, cached, range, len) {
    const { start, end } = request;
    const ahead = Math.max(end, request.ahead || end);
    const w = this.window;
    if (!w || w.url !== url || start < w.start || end > w.start + w.bytes.length) {
      const r = await cached.read(start, ahead, range, len);
      if (!r) return null;
      this.window = { url, start, bytes: r.bytes, len: r.len };
      const piece = r.bytes.subarray(0, Math.min(end - start, r.bytes.length));
      return { bytes: piece, len: r.len, network: r.network, cached: r.cached };
    }
    return { bytes: w.bytes.subarray(start - w.start, end - w.start), len: w.len, network: 0, cached: 0 };
  }

  async local(request) {
    const files = this.dropped.get(request.at.dropped);
    if (!files) throw new DownloadError(`no dropped files are labelled ${JSON.stringify(request.at.dropped)} (drop them again)`, 'internal');
    const file = Object.hasOwn(files, request.name) ? files[request.name] : null;
    if (!file) return null;
    const size = file.size;
    let start = 0;
    let end = size;
    if (request.kind === 'range') [start, end] = [Math.min(request.start, size), Math.min(request.end, size)];
    if (request.kind === 'tail') start = Math.max(0, size - request.len);
    return { bytes: new Uint8Array(await file.slice(start, end).arrayBuffer()), len: size };
  }

  async remote(request) {
    if (this.store === undefined) this.store = await openStore();
    const url = new URL(request.name, folderUrl(request.at, this.bundledBase)).href;
    let f = this.files.get(url);
    if (!f) {
      f = { remote: new RemoteFile(url), cached: new CachedFile(this.store, url, this.memo) };
      this.files.set(url, f);
    }
    const { remote, cached } = f;
    const range = (start, end) => remote.read(start, end);
    const len = () => remote.total;
    switch (request.kind) {
      case 'file':
        return cached.whole(() => getWhole(url), range, len);
      case 'range':
        return this.ranged(url, request, cached, range, len);
      case 'tail':
        return cached.tail(request.len, (n) => remote.tail(n), range, len);
      default:
        throw new DownloadError(`unknown request ${JSON.stringify(request.kind)}`, 'internal');
    }
  }
}
