// The page's query parameters: ?clip=URL&model=URL&peft=URL&encoder=URL&decoder=URL (folder
// URLs), ?backend=webgpu|cpu and ?threads=N (the CPU threads; 1 keeps the single-thread build).

export const params = new URLSearchParams(location.search);

/** The backend asked for: 'webgpu', 'cpu', or 'auto' (WebGPU on a hardware adapter, else the CPU). */
export function backendParam() {
  return ['webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';
}

/** The most CPU threads used by default: more rarely helps models this size, and each is a worker. */
const MAX_THREADS = 8;

/**
 * The CPU threads wanted: ?threads=N, else one per logical core (navigator.hardwareConcurrency),
 * at most MAX_THREADS. Used on the CPU path, where the page is cross-origin isolated.
 */
export function threadsParam() {
  const n = Number.parseInt(params.get('threads') || '', 10);
  if (Number.isFinite(n) && n >= 1) return Math.min(n, 64);
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
}

/**
 * A folder location ({url}, absolute) for a URL typed or given, or null for an empty one; throws
 * (kind 'invalid-input') for one that is not a URL.
 */
export function folder(u) {
  const s = (u || '').trim();
  if (!s) return null;
  try {
    return { url: new URL(s, location.href).href };
  } catch {
    throw Object.assign(new Error(`not a folder URL: ${s}`), { kind: 'invalid-input' });
  }
}
