// Loading a model: the Rust loader (engine.beginLoad / next / answer / finishLoad, src/web/mod.rs)
// decides every file and byte range it needs; this loop only carries its requests to the
// transport and the answers back.

import { Transport } from './transport.js';

/**
 * Loads `spec` into `engine`. Resolves to finishLoad's result (`{kind, bytes, imageSize?,
 * defaults?}`) plus `fromNetwork` and `fromCache` (bytes each source gave).
 * @param {object} engine the wasm Engine
 * @param {object} spec {kind: 'clip', model, towers} or {kind: 'captioner', model?, encoder?, decoder?, peft?}
 * @param {Map<string, Object<string, File>>} dropped dropped files by label
 * @param {string} bundledBase URL of the bundled tokenizers' folder
 * @param {(p: {done: number, total: number, file: string, seconds: number}) => void} onProgress
 */
export async function loadModel(engine, spec, dropped, bundledBase, onProgress) {
  const transport = new Transport(dropped, bundledBase);
  const started = performance.now();
  try {
    engine.beginLoad(spec);
    for (let request; (request = engine.next()); ) {
      const { bytes, len } = await transport.answer(request);
      engine.answer(bytes, len);
      if (request.kind !== 'file') onProgress({ ...engine.progress(), seconds: (performance.now() - started) / 1000 });
    }
    return { ...engine.finishLoad(), fromNetwork: transport.network, fromCache: transport.cached };
  } catch (e) {
    try {
      engine.abort();
    } catch {
      // a dead engine: the first error says why
    }
    throw e;
  } finally {
    transport.close();
  }
}
