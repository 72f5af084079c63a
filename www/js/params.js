// The page's query parameters: ?clip=URL&model=URL&peft=URL&encoder=URL&decoder=URL (folder
// URLs) and ?backend=webgpu|cpu.

export const params = new URLSearchParams(location.search);

/** The backend asked for: 'webgpu', 'cpu', or 'auto' (WebGPU on a hardware adapter, else the CPU). */
export function backendParam() {
  return ['webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';
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
