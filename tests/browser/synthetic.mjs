// Random-weight checkpoints in exact HF layout (CLIP, GPT-2 with cross-attention), written
// without Python: many-tensor files for the memory test, mid-size models for the benchmark.

import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/// Writes `[[name, shape]]` as an F32 safetensors file of N(0, ~0.02)-like values; returns its
/// size and largest tensor in bytes.
export function writeSafetensors(file, shapes) {
  const header = {};
  let offset = 0;
  let largest = 0;
  for (const [name, shape] of shapes) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
    largest = Math.max(largest, bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const fd = openSync(file, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json));
  let seed = 1;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const ones = /(layer_?norm|ln_)[^.]*\.weight$|ln_f\.weight$/.test(name);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      v[i] = (ones ? 1 : 0) + (seed / 2147483648 - 0.5) * 0.07;
    }
    for (let i = 0; i < v.byteLength; i += 1 << 26) writeSync(fd, Buffer.from(v.buffer, i, Math.min(1 << 26, v.byteLength - i)));
  }
  closeSync(fd);
  return { bytes: 8 + json.length + offset, largest, tensors: shapes.length };
}

function towerShapes(p, t) {
  const out = [];
  for (let i = 0; i < t.layers; i++) {
    const l = `${p}.encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2']) out.push([`${l}.${n}.weight`, [t.hidden]], [`${l}.${n}.bias`, [t.hidden]]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) out.push([`${l}.self_attn.${n}.weight`, [t.hidden, t.hidden]], [`${l}.self_attn.${n}.bias`, [t.hidden]]);
    out.push([`${l}.mlp.fc1.weight`, [t.intermediate, t.hidden]], [`${l}.mlp.fc1.bias`, [t.intermediate]]);
    out.push([`${l}.mlp.fc2.weight`, [t.hidden, t.intermediate]], [`${l}.mlp.fc2.bias`, [t.hidden]]);
  }
  return out;
}

/// A HF CLIPModel folder. `vision`/`text`: {hidden, intermediate, heads, layers}; the text
/// tower is written only when `text` is given.
export function syntheticClip(dir, { vision, text = null, patch = 8, image = 32, projection = 16, vocab = 49408 }) {
  mkdirSync(dir, { recursive: true });
  const g = image / patch;
  const v = vision;
  const shapes = [
    ['vision_model.embeddings.class_embedding', [v.hidden]],
    ['vision_model.embeddings.patch_embedding.weight', [v.hidden, 3, patch, patch]],
    ['vision_model.embeddings.position_embedding.weight', [g * g + 1, v.hidden]],
    ['vision_model.pre_layrnorm.weight', [v.hidden]],
    ['vision_model.pre_layrnorm.bias', [v.hidden]],
    ...towerShapes('vision_model', v),
    ['vision_model.post_layernorm.weight', [v.hidden]],
    ['vision_model.post_layernorm.bias', [v.hidden]],
    ['visual_projection.weight', [projection, v.hidden]],
    ['logit_scale', []],
  ];
  if (text) {
    shapes.push(['text_model.embeddings.token_embedding.weight', [vocab, text.hidden]], ['text_model.embeddings.position_embedding.weight', [77, text.hidden]]);
    shapes.push(...towerShapes('text_model', text));
    shapes.push(['text_model.final_layer_norm.weight', [text.hidden]], ['text_model.final_layer_norm.bias', [text.hidden]]);
    shapes.push(['text_projection.weight', [projection, text.hidden]]);
  }
  const stats = writeSafetensors(path.join(dir, 'model.safetensors'), shapes);
  const tower = (t, extra) => ({
    hidden_size: t.hidden, intermediate_size: t.intermediate, num_attention_heads: t.heads, num_hidden_layers: t.layers,
    hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, ...extra,
  });
  const t = text || { hidden: 16, intermediate: 32, heads: 2, layers: 1 };
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['CLIPModel'], model_type: 'clip', projection_dim: projection, logit_scale_init_value: 2.6592,
      vision_config: tower(v, { image_size: image, patch_size: patch, num_channels: 3 }),
      text_config: tower(t, { vocab_size: vocab, max_position_embeddings: 77 }),
    }, null, 1),
  );
  return stats;
}

/// A HF GPT2LMHeadModel folder with cross-attention (`add_cross_attention`).
export function syntheticGpt2(dir, { n, layers, heads, positions = 1024, vocab = 50257 }) {
  mkdirSync(dir, { recursive: true });
  const shapes = [['transformer.wte.weight', [vocab, n]], ['transformer.wpe.weight', [positions, n]]];
  for (let i = 0; i < layers; i++) {
    const h = `transformer.h.${i}`;
    for (const ln of ['ln_1', 'ln_cross_attn', 'ln_2']) shapes.push([`${h}.${ln}.weight`, [n]], [`${h}.${ln}.bias`, [n]]);
    shapes.push([`${h}.attn.c_attn.weight`, [n, 3 * n]], [`${h}.attn.c_attn.bias`, [3 * n]]);
    shapes.push([`${h}.attn.c_proj.weight`, [n, n]], [`${h}.attn.c_proj.bias`, [n]]);
    shapes.push([`${h}.crossattention.q_attn.weight`, [n, n]], [`${h}.crossattention.q_attn.bias`, [n]]);
    shapes.push([`${h}.crossattention.c_attn.weight`, [n, 2 * n]], [`${h}.crossattention.c_attn.bias`, [2 * n]]);
    shapes.push([`${h}.crossattention.c_proj.weight`, [n, n]], [`${h}.crossattention.c_proj.bias`, [n]]);
    shapes.push([`${h}.mlp.c_fc.weight`, [n, 4 * n]], [`${h}.mlp.c_fc.bias`, [4 * n]]);
    shapes.push([`${h}.mlp.c_proj.weight`, [4 * n, n]], [`${h}.mlp.c_proj.bias`, [n]]);
  }
  shapes.push(['transformer.ln_f.weight', [n]], ['transformer.ln_f.bias', [n]]);
  const stats = writeSafetensors(path.join(dir, 'model.safetensors'), shapes);
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new', add_cross_attention: true,
      n_embd: n, n_head: heads, n_layer: layers, n_positions: positions, vocab_size: vocab, layer_norm_epsilon: 1e-5,
      bos_token_id: 50256, eos_token_id: 50256,
    }, null, 1),
  );
  return stats;
}
