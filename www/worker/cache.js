// The downloaded bytes kept in the browser (Cache API), by file URL and absolute byte range, so
// that any later request for bytes already fetched, by whichever model asked for them first, is
// answered without the network, and a partial overlap fetches only the missing gaps.
//
// Per file URL the cache holds:
//   <url>?glimpse-cache=index        JSON {len, missing, segments: [[start, end], ...]}
//   <url>?glimpse-cache=<start>-<end> the file's bytes start..end (one entry per segment)
// `len` is the file's length once known, `missing` remembers a file that does not exist (404).

import { join } from './remote.js';

export const CACHE_NAME = 'glimpse-models-v2';
const OLD_CACHES = ['glimpse-models-v1'];

/** The Cache API store, or null where there is none (not a secure context): then every read goes to the network. */
export async function openStore() {
  try {
    const store = await caches.open(CACHE_NAME);
    for (const old of OLD_CACHES) caches.delete(old).catch(() => {});
    return store;
  } catch {
    return null;
  }
}

/** Empties the store. */
export async function clearStore() {
  return caches.delete(CACHE_NAME);
}

/** Bytes held in the store. */
export async function storeSize() {
  const store = await openStore();
  if (!store) return 0;
  let n = 0;
  for (const req of await store.keys()) {
    const r = await store.match(req);
    n += Number(r.headers.get('x-glimpse-bytes') || r.headers.get('Content-Length')) || (await r.arrayBuffer()).byteLength;
  }
  return n;
}

function key(url, what) {
  const u = new URL(url);
  u.searchParams.set('glimpse-cache', what);
  return u.href;
}

/**
 * How `[start, end)` splits into pieces held by `segments` (`{start, end, segment}`) and gaps
 * (`{start, end}`), in order. Segments may overlap; each piece comes from the one reaching furthest.
 * @param {number[][]} segments
 * @param {number} start
 * @param {number} end
 */
export function cover(segments, start, end) {
  const pieces = [];
  let pos = start;
  while (pos < end) {
    let best = null;
    let next = end;
    for (const s of segments) {
      if (s[0] <= pos && s[1] > pos && (!best || s[1] > best[1])) best = s;
      else if (s[0] > pos) next = Math.min(next, s[0]);
    }
    const stop = best ? Math.min(best[1], end) : next;
    pieces.push(best ? { start: pos, end: stop, segment: best } : { start: pos, end: stop });
    pos = stop;
  }
  return pieces;
}

/**
 * The cached part of one file, in front of a fetcher of the rest.
 * Every read resolves to `{bytes, len, network, cached}` (bytes, the file's length when known,
 * bytes that came from the network and from the cache), or `null` when the file does not exist.
 */
export class CachedFile {
  /**
   * @param {Cache|null} store
   * @param {string} url
   * @param {{last: {name: string, bytes: Uint8Array}|null}} memo shared by the files of a load: the segment read last
   */
  constructor(store, url, memo) {
    this.store = store;
    this.url = url;
    this.memo = memo;
    this.meta = null;
  }

  async index() {
    if (!this.meta) {
      let meta = null;
      try {
        const hit = this.store && (await this.store.match(key(this.url, 'index')));
        meta = hit ? await hit.json() : null;
      } catch {
        meta = null; // unreadable: start again
      }
      const ok = meta && Array.isArray(meta.segments) && (meta.len === null || Number.isFinite(meta.len));
      this.meta = ok ? meta : { len: null, missing: false, segments: [] };
    }
    return this.meta;
  }

  async saveIndex() {
    if (!this.store) return;
    const body = JSON.stringify(this.meta);
    await this.store.put(key(this.url, 'index'), new Response(body, { headers: { 'Content-Type': 'application/json' } }));
  }

  /**
   * Bytes `start..end` (fewer when the file ends first); gaps come from `fetchRange(start, end)`,
   * which resolves to bytes or null (no such file).
   * @param {number} start
   * @param {number} end
   * @param {(start: number, end: number) => Promise<Uint8Array|null>} fetchRange
   * @param {() => number|null} fileLen the fetcher's knowledge of the file's length
   */
  async read(start, end, fetchRange, fileLen) {
    const meta = await this.index();
    if (meta.missing) return null;
    for (;;) {
      const stop = meta.len === null ? end : Math.max(start, Math.min(end, meta.len));
      const parts = [];
      let network = 0;
      let cached = 0;
      let vanished = false;
      for (const piece of cover(meta.segments, start, stop)) {
        if (piece.segment) {
          const seg = await this.segment(piece.segment);
          if (!seg) {
            vanished = true; // evicted or deleted: forget it and plan again
            meta.segments = meta.segments.filter((s) => s !== piece.segment);
            break;
          }
          parts.push(seg.subarray(piece.start - piece.segment[0], piece.end - piece.segment[0]));
          cached += piece.end - piece.start;
          continue;
        }
        const got = await fetchRange(piece.start, piece.end);
        if (got === null) {
          await this.markMissing();
          return null;
        }
        parts.push(got);
        network += got.length;
        const short = got.length < piece.end - piece.start;
        await this.add(piece.start, got, fileLen() ?? (short ? piece.start + got.length : null));
        if (short) break; // the file ends here
      }
      if (vanished) continue;
      return { bytes: parts.length ? join(parts) : new Uint8Array(0), len: meta.len, network, cached };
    }
  }

  /**
   * The whole file (a config, a tokenizer): from the cache when all of it is there, else one
   * download, `fetchWhole()` resolving to `{bytes, total}` or null.
   */
  async whole(fetchWhole, fetchRange, fileLen) {
    const meta = await this.index();
    if (meta.missing) return null;
    if (meta.len !== null && cover(meta.segments, 0, meta.len).every((p) => p.segment)) {
      return this.read(0, meta.len, fetchRange, fileLen);
    }
    const got = await fetchWhole();
    if (got === null) {
      await this.markMissing();
      return null;
    }
    await this.add(0, got.bytes, got.bytes.length);
    return { bytes: got.bytes, len: got.bytes.length, network: got.bytes.length, cached: 0 };
  }

  /**
   * The last `n` bytes and the file's length; when the length is not known yet,
   * `fetchTail(n)` resolves to `{bytes, total, head}` (head: the first bytes, when it read
   * them to learn the length) or null.
   */
  async tail(n, fetchTail, fetchRange, fileLen) {
    const meta = await this.index();
    if (meta.missing) return null;
    if (meta.len !== null) {
      const r = await this.read(Math.max(0, meta.len - n), meta.len, fetchRange, fileLen);
      return r && { ...r, len: meta.len };
    }
    const got = await fetchTail(n);
    if (got === null) {
      await this.markMissing();
      return null;
    }
    const head = got.head || new Uint8Array(0);
    await this.add(0, head, got.total);
    await this.add(got.total - got.bytes.length, got.bytes, got.total);
    return { bytes: got.bytes, len: got.total, network: head.length + got.bytes.length, cached: 0 };
  }

  // Stores bytes at `start` as a segment (dropping the segments it contains) and the file's length.
  async add(start, bytes, len) {
    const meta = await this.index();
    if (len !== null && len !== undefined) meta.len = len;
    if (this.store && bytes.length) {
      const seg = [start, start + bytes.length];
      await this.store.put(key(this.url, `${seg[0]}-${seg[1]}`), new Response(bytes, { headers: { 'x-glimpse-bytes': String(bytes.length) } }));
      const inside = meta.segments.filter((s) => s[0] >= seg[0] && s[1] <= seg[1]);
      meta.segments = meta.segments.filter((s) => !inside.includes(s)).concat([seg]).sort((a, b) => a[0] - b[0]);
      for (const s of inside) if (s[0] !== seg[0] || s[1] !== seg[1]) await this.store.delete(key(this.url, `${s[0]}-${s[1]}`));
    }
    await this.saveIndex();
  }

  async markMissing() {
    const meta = await this.index();
    if (this.store) for (const s of meta.segments) await this.store.delete(key(this.url, `${s[0]}-${s[1]}`));
    this.meta = { len: null, missing: true, segments: [] };
    await this.saveIndex();
  }

  // A segment's bytes, or null when its entry is gone.
  async segment(seg) {
    const name = `${this.url} ${seg[0]}-${seg[1]}`;
    if (this.memo.last?.name === name) return this.memo.last.bytes;
    const hit = this.store && (await this.store.match(key(this.url, `${seg[0]}-${seg[1]}`)));
    if (!hit) return null;
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if (bytes.length !== seg[1] - seg[0]) return null;
    this.memo.last = { name, bytes };
    return bytes;
  }
}
