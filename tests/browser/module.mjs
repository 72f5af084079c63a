// Checks on the built wasm modules (www/pkg, www/pkg-threads), from their name sections:
//   - no export is a linker wrapper that re-runs the static constructors on every call
//     (wasm-ld's "command-style" `.command_export` functions: a quarter of a decoder step in the
//     page's CPU path before src/web.rs called the constructors once itself);
//   - the threaded build imports its memory as shared, the single one does not.
// A module without a name section (wasm-opt'ed without -g) skips the first check, saying so.
//
//   node tests/browser/module.mjs        (after ./build.sh)

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const www = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../www');

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

/** The function names of a module's "name" section (null when it has none). */
function functionNames(module) {
  const [section] = WebAssembly.Module.customSections(module, 'name');
  if (!section) return null;
  const bytes = new Uint8Array(section);
  const names = [];
  let at = 0;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb(bytes, at);
    const end = at + size;
    if (id === 1) {
      let count;
      [count, at] = leb(bytes, at);
      for (let i = 0; i < count; i++) {
        let len;
        [, at] = leb(bytes, at); // the function index
        [len, at] = leb(bytes, at);
        names.push(new TextDecoder().decode(bytes.subarray(at, at + len)));
        at += len;
      }
    }
    at = end;
  }
  return names;
}

let failed = 0;
for (const [dir, shared] of [['pkg', false], ['pkg-threads', true]]) {
  const file = path.join(www, dir, 'glimpse_bg.wasm');
  if (!existsSync(file)) {
    console.log(`FAIL ${dir}: no ${path.relative(process.cwd(), file)} (./build.sh builds it)`);
    failed++;
    continue;
  }
  const module = new WebAssembly.Module(readFileSync(file));
  try {
    const names = functionNames(module);
    if (names === null) console.log(`skip ${dir}: no name section (wasm-opt'ed), constructor wrappers not checked`);
    else {
      const wrapped = names.filter((n) => n.endsWith('.command_export'));
      assert.deepEqual(wrapped.slice(0, 5), [], `${wrapped.length} exports re-run the static constructors on every call`);
    }
    const memory = WebAssembly.Module.imports(module).find((i) => i.kind === 'memory');
    assert.equal(Boolean(memory), shared, shared ? 'the threaded build must import a shared memory' : 'the single build owns its memory');
    console.log(`ok   ${dir}: ${names ? names.length + ' functions, ' : ''}no constructor wrappers, memory ${shared ? 'imported (shared)' : 'its own'}`);
  } catch (e) {
    console.log(`FAIL ${dir}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
