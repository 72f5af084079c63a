// Broken and hostile checkpoints for the browser suite, written into a temporary folder: a
// truncated copy of the CLIP fixture and, as tests/it/hostile.rs crafts them, a CLIP folder whose
// safetensors header declares a 12 GB tensor (a sparse file of that size) and a captioner whose
// pytorch_model.bin holds a pickle nested a million deep.

import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// A folder `dir` with copies of `names` from `from`.
function folderWith(dir, from, names) {
  mkdirSync(dir, { recursive: true });
  for (const f of names) copyFileSync(path.join(from, f), path.join(dir, f));
}

/**
 * Writes clip_trunc/, clip_huge/ and ved_deep/ under `root`, from the fixtures in `fixtures`.
 * @param {string} root
 * @param {string} fixtures
 */
export function writeBroken(root, fixtures) {
  const clip = path.join(fixtures, 'clip_a');
  const trunc = path.join(root, 'clip_trunc');
  folderWith(trunc, clip, ['config.json', 'preprocessor_config.json']);
  const whole = readFileSync(path.join(clip, 'model.safetensors'));
  writeFileSync(path.join(trunc, 'model.safetensors'), whole.subarray(0, Math.floor(whole.length * 0.6)));

  const huge = path.join(root, 'clip_huge');
  folderWith(huge, clip, ['config.json', 'preprocessor_config.json']);
  const hugeHeader = Buffer.from(JSON.stringify({ 'vision_model.embeddings.class_embedding': { dtype: 'F32', shape: [3 * 2 ** 30], data_offsets: [0, 12 * 2 ** 30] } }));
  const hugeLen = Buffer.alloc(8);
  hugeLen.writeBigUInt64LE(BigInt(hugeHeader.length));
  writeFileSync(path.join(huge, 'model.safetensors'), Buffer.concat([hugeLen, hugeHeader]));
  truncateSync(path.join(huge, 'model.safetensors'), 8 + hugeHeader.length + 12 * 2 ** 30);

  const deep = path.join(root, 'ved_deep');
  folderWith(deep, path.join(fixtures, 'ved_vit_bin'), ['config.json', 'generation_config.json', 'preprocessor_config.json']);
  const deepPickle = Buffer.concat([Buffer.from([0x80, 2, 0x4e]), Buffer.alloc(1_000_000, 0x85), Buffer.from('.')]);
  writeFileSync(path.join(deep, 'pytorch_model.bin'), storedZip([['archive/data.pkl', deepPickle], ['archive/data/0', Buffer.alloc(0)]]));
}

// A zip archive of `members` ([[name, bytes]]), stored (not compressed), as torch.save writes one.
function storedZip(members) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (b) => (b.reduce((c, x) => crcTable[(c ^ x) & 0xff] ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of members) {
    const n = Buffer.from(name);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc32(data), 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(n.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt32LE(crc32(data), 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    locals.push(h, n, data);
    central.push(c, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
