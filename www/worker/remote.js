// Files at a URL, read by HTTP range requests, or through one streamed response where the server
// ignores Range. Only simple ranges (`bytes=a-b`) are sent: they need no CORS preflight, which a
// redirecting host (the Hugging Face hub answers with a redirect to its CDN) may not pass.

/**
 * A failure of the transport itself: 'network' where no answer came (offline, CORS, a cut
 * connection), 'http' for an error status (403, 5xx: `status` says which).
 */
export class DownloadError extends Error {
  /**
   * @param {string} message
   * @param {string} [kind] the error kind the page receives ('network' unless said otherwise)
   * @param {number} [status] the HTTP status, for kind 'http'
   */
  constructor(message, kind = 'network', status = undefined) {
    super(message);
    this.name = 'DownloadError';
    this.kind = kind;
    if (status !== undefined) this.status = status;
  }
}

/**
 * `fetch`, with failures as DownloadError. Resolves to `null` for HTTP 404 (an absent file is an
 * answer, not an error); other refusals throw, except 416 (a range past the end), returned.
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<Response|null>}
 */
export async function get(url, init) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new DownloadError(`download failed: ${url} (${e.message || e}; offline, or the server does not allow this page to read it)`);
  }
  if (r.status === 404) return null;
  if (!r.ok && r.status !== 416) throw new DownloadError(`download failed: ${url} (HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''})`, 'http', r.status);
  return r;
}

/** The whole length of the file from a Content-Range header (its `/N` at the end), or null. */
function rangeTotal(response) {
  const m = /\/(\d+)\s*$/.exec(response.headers.get('Content-Range') || '');
  return m ? Number(m[1]) : null;
}

/** A body's bytes; a connection cut mid-body is a DownloadError. */
async function bodyBytes(response, url) {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new DownloadError(`download failed: ${url} (${e.message || e}; the connection was cut)`);
  }
}

/**
 * The whole of a small file: `{bytes, total}`, or `null` when it does not exist.
 * @param {string} url
 */
export async function getWhole(url) {
  const r = await get(url);
  if (!r) return null;
  const bytes = await bodyBytes(r, url);
  return { bytes, total: bytes.length };
}

/**
 * One file at a URL. `total` is its length once known (Content-Range, the Content-Length of a
 * full unencoded response, or the end of a stream).
 */
export class RemoteFile {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    /** 'unknown' until the first answer, then 'range' or 'stream' */
    this.mode = 'unknown';
    /** @type {number|null} */
    this.total = null;
    this.reader = null;
    this.pos = 0; // stream position of the next unread byte
    this.pending = []; // bytes read from the stream but not used yet
  }

  /**
   * Bytes `start..end`, fewer when the file ends first; `null` when the file does not exist.
   * @param {number} start
   * @param {number} end
   * @returns {Promise<Uint8Array|null>}
   */
  async read(start, end) {
    if (end <= start) return new Uint8Array(0);
    if (this.mode !== 'stream') {
      const r = await get(this.url, { headers: { Range: `bytes=${start}-${end - 1}` } });
      if (!r) return null;
      if (r.status === 206 || r.status === 416) {
        this.mode = 'range';
        this.total = rangeTotal(r) ?? this.total;
        return r.status === 416 ? new Uint8Array(0) : bodyBytes(r, this.url);
      }
      this.startStream(r); // a 200: the server ignores Range and sends the whole file
    } else if (start < this.pos) {
      const r = await get(this.url);
      if (!r) return null;
      this.startStream(r);
    }
    return this.readStream(start, end);
  }

  /**
   * The last `len` bytes (all of the file when shorter) and the file's length: `{bytes, total,
   * head}`, or `null` when the file does not exist. When the length is unknown it comes from a
   * probe of the first 2 bytes, returned as `head` (else null).
   * @param {number} len
   */
  async tail(len) {
    let head = null;
    if (this.total === null) {
      head = await this.read(0, 2);
      if (head === null) return null;
      if (this.total === null && this.mode === 'stream') return { ...(await this.drainTail(len, head)), head };
    }
    if (this.total === null) throw new DownloadError(`${this.url}: the server does not say the file's size (no Content-Range)`);
    const start = Math.max(0, this.total - len);
    const bytes = await this.read(start, this.total);
    return bytes && { bytes, total: this.total, head };
  }

  /** Ends a stream in progress. */
  close() {
    if (this.reader) this.reader.cancel().catch(() => {});
    this.reader = null;
  }

  startStream(response) {
    this.close();
    this.mode = 'stream';
    const len = response.headers.get('Content-Length');
    if (len !== null && !response.headers.get('Content-Encoding')) this.total = Number(len);
    this.reader = response.body.getReader();
    this.pos = 0;
    this.pending = [];
  }

  /** The next piece of the stream, or null at its end (where the file's length is learnt). */
  async piece() {
    if (this.pending.length) return this.pending.shift();
    let next;
    try {
      next = await this.reader.read();
    } catch (e) {
      throw new DownloadError(`download failed: ${this.url} (${e.message || e}; the connection was cut)`);
    }
    if (next.done) {
      this.total = this.pos;
      return null;
    }
    return next.value;
  }

  // Front to back: bytes before `start` are dropped as they pass.
  async readStream(start, end) {
    const out = new Uint8Array(end - start);
    let filled = 0;
    while (filled < out.length) {
      const piece = await this.piece();
      if (!piece) return out.subarray(0, filled);
      const pieceStart = this.pos;
      this.pos += piece.length;
      if (this.pos <= start) continue;
      const from = Math.max(0, start - pieceStart);
      const take = Math.min(piece.length - from, out.length - filled);
      out.set(piece.subarray(from, from + take), filled);
      filled += take;
      if (from + take < piece.length) {
        this.pending.unshift(piece.subarray(from + take));
        this.pos -= piece.length - from - take;
      }
    }
    return out;
  }

  // A stream of unknown length, past its first bytes `head`: read to its end, keeping the last
  // `len` bytes.
  async drainTail(len, head) {
    const kept = [head];
    let keptLen = head.length;
    for (let piece; (piece = await this.piece()); ) {
      this.pos += piece.length;
      kept.push(piece);
      keptLen += piece.length;
      while (kept.length > 1 && keptLen - kept[0].length >= len) keptLen -= kept.shift().length;
    }
    const all = join(kept);
    return { bytes: all.subarray(Math.max(0, all.length - len)), total: this.total };
  }
}

/**
 * Concatenates byte arrays (a single one is returned as it is).
 * @param {Uint8Array[]} parts
 */
export function join(parts) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
