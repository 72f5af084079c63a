// Scratch folders for the browser suite and the web benchmarks: browser profiles (each one keeps
// the models its page downloaded in the Cache API, up to a few GB for the benchmark models),
// written fixtures, CLI outputs. They go when the process ends, however it ends (normally, on an
// uncaught error, on Ctrl-C or SIGTERM), and a profile as soon as its browser is closed: left
// behind, a day of benchmark runs filled this machine's disk (52 GB of profiles on 2026-12-07)
// and the next build failed with "No space left on device".
//
// GLIMPSE_KEEP_SCRATCH=1 keeps them (to look inside after a failure); their paths are printed.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const keep = !!process.env.GLIMPSE_KEEP_SCRATCH;
const live = new Set();
let exiting = false;

/**
 * Removes `dir` and all it holds (nothing if it is gone already). Best effort: a folder that a
 * still-running browser writes into as it goes may refuse (ENOTEMPTY); it is tried again at exit,
 * and a failure there is a warning, never a failed run.
 */
export function drop(dir) {
  if (keep) return;
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    live.delete(dir);
  } catch (e) {
    if (exiting) console.warn(`scratch: could not remove ${dir}: ${e.message}`);
  }
}

/** A new empty folder `PREFIXxxxxxx` under the system's temp folder, removed at exit. */
export function scratch(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  live.add(dir);
  if (keep) console.log(`scratch kept: ${dir}`);
  return dir;
}

/**
 * A browser context on a fresh profile in a scratch folder: `open(dir)` launches it (playwright's
 * launchPersistentContext, say); `close()` removes the profile once the browser has exited.
 */
export async function withProfile(prefix, open) {
  const dir = scratch(prefix);
  const context = await open(dir);
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    drop(dir);
  };
  return context;
}

process.on('exit', () => {
  exiting = true;
  for (const dir of [...live]) drop(dir);
});
// Node's default for these signals exits without the 'exit' event; exit through it instead.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.once(signal, () => process.exit(code));
}
