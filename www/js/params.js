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
 * Fewer logical cores than this run the CPU on one thread by default. On 2 cores the threaded
 * build now embeds 1.2-1.7x faster than the single one and captions as fast (README, "Visitors
 * without WebGPU"); before the encoders' layers were packed it was the slower one there.
 */
export const MIN_CORES_FOR_THREADS = 2;

/**
 * The CPU threads wanted: ?threads=N, else one per logical core (navigator.hardwareConcurrency)
 * up to MAX_THREADS where there are at least MIN_CORES_FOR_THREADS, else 1. More than one takes
 * the threaded build, which needs the page cross-origin isolated (isolation.js).
 */
export function threadsParam() {
  const n = Number.parseInt(params.get('threads') || '', 10);
  if (Number.isFinite(n) && n >= 1) return Math.min(n, 64);
  const cores = navigator.hardwareConcurrency || 1;
  return cores >= MIN_CORES_FOR_THREADS ? Math.min(cores, MAX_THREADS) : 1;
}

/**
 * A folder location ({url}, absolute) for a URL typed or given, or null for an empty one; throws
 * (kind 'invalid-input') for one that is not a URL.
 */
export function folder(u) {
  const s = (u || '').trim();
  if (!s) return null;
  let url;
  try {
    url = new URL(s, location.href);
  } catch {
    throw Object.assign(new Error(`not a folder URL: ${s}`), { kind: 'invalid-input' });
  }
  // The URL of one of a model's files (a common slip when copying from the hub): name its folder.
  const file = /\/([^/]+\.(?:json|safetensors|bin|pt|pth|txt|model|msgpack|h5|onnx))$/i.exec(url.pathname);
  if (file) {
    const dir = new URL('./', url).href;
    throw Object.assign(new Error(`${url.href} is the URL of a file (${decodeURIComponent(file[1])}), not of a model folder: use the folder that holds it, ${dir}`), { kind: 'invalid-input' });
  }
  return { url: url.href };
}
