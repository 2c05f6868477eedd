import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../util/f16';
import {
  GgmlType,
  GgufError,
  ggufTensorF32,
  GgufType,
  hfToGgufName,
  readGguf,
  writeGguf,
  writeGgufLora,
  type GgufKv,
  type GgufTensorIn,
  type GgufValue,
} from './gguf';
import { type ModelConfig } from './hfConfig';
import { parseHfConfig } from '../arch/config';
import { halvesToInterleaved } from './llama2c.js';
import { loraTargetShape } from './loraTargets';
import { archOf } from '../arch/registry';

/** What hfToGgufName needs of a config: the architecture's format. */
const arch = (id: string) => ({ architecture: id, format: archOf(id) });

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const randoms = (n: number, seed: number) => Float32Array.from({ length: n }, rng(seed));

const allKv: GgufKv[] = [
  { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
  { key: 't.u8', type: GgufType.UINT8, value: 255 },
  { key: 't.i8', type: GgufType.INT8, value: -128 },
  { key: 't.u16', type: GgufType.UINT16, value: 65535 },
  { key: 't.i16', type: GgufType.INT16, value: -32768 },
  { key: 't.u32', type: GgufType.UINT32, value: 4294967295 },
  { key: 't.i32', type: GgufType.INT32, value: -2147483648 },
  { key: 't.f32', type: GgufType.FLOAT32, value: 0.5 },
  { key: 't.bool', type: GgufType.BOOL, value: true },
  { key: 't.u64', type: GgufType.UINT64, value: 2n ** 64n - 1n },
  { key: 't.i64', type: GgufType.INT64, value: -(2n ** 63n) },
  { key: 't.f64', type: GgufType.FLOAT64, value: Math.PI },
  { key: 't.str', type: GgufType.STRING, value: 'héllo ✓' },
  { key: 't.arr', type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: [1, -2, 3] } },
  { key: 't.strs', type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: ['a', '', 'ccc'] } },
  { key: 't.empty', type: GgufType.ARRAY, value: { itemType: GgufType.FLOAT32, items: [] } },
  { key: 't.nested', type: GgufType.ARRAY, value: { itemType: GgufType.ARRAY, items: [{ itemType: GgufType.UINT8, items: [1, 2] }, { itemType: GgufType.UINT8, items: [] }] } },
];
const tensors: GgufTensorIn[] = [
  { name: 'a', dims: [3, 2], type: GgmlType.F32, data: randoms(6, 1) },
  { name: 'b.half', dims: [5], type: GgmlType.F16, data: new Uint16Array([1, 2, 3, 4, 5].map(f32ToF16Bits)) },
  { name: 'c', dims: [2, 2, 2, 2], type: GgmlType.F32, data: randoms(16, 2) },
];

describe('GGUF writer and reader', () => {
  it('round-trips every metadata type and F32/F16 tensors with 32-byte alignment', () => {
    const bytes = writeGguf(allKv, tensors);
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('GGUF');
    expect(view.getUint32(4, true)).toBe(3);
    expect(view.getBigUint64(8, true)).toBe(3n);
    expect(view.getBigUint64(16, true)).toBe(BigInt(allKv.length));
    const g = readGguf(bytes);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect(g.dataOffset % 32).toBe(0);
    for (const kv of allKv) expect(g.kv.get(kv.key), kv.key).toEqual({ type: kv.type, value: kv.value });
    expect([...g.kv.keys()]).toEqual(allKv.map((k) => k.key));
    expect(g.tensors.map((t) => [t.name, t.dims, t.type, t.offset])).toEqual([
      ['a', [3, 2], 0, 0],
      ['b.half', [5], 1, 32],
      ['c', [2, 2, 2, 2], 0, 64],
    ]);
    expect(ggufTensorF32(g.tensors[0])).toEqual(tensors[0].data);
    expect(new Uint16Array(new Uint8Array(g.tensors[1].bytes).buffer)).toEqual(tensors[1].data);
    expect(ggufTensorF32(g.tensors[2])).toEqual(tensors[2].data);
    // the last tensor is padded too: llama.cpp reads the padded data size
    expect(bytes.length).toBe(g.dataOffset + 64 + 64);
    expect(() => ggufTensorF32(g.tensors[1])).toThrow(/"b.half" is F16, not F32/);
  });

  it('honours general.alignment', () => {
    const bytes = writeGguf([{ key: 'general.alignment', type: GgufType.UINT32, value: 64 }], tensors);
    const g = readGguf(bytes);
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors.map((t) => t.offset)).toEqual([0, 64, 128]);
    expect(ggufTensorF32(g.tensors[2])).toEqual(tensors[2].data);
  });

  it('validates what it writes', () => {
    const t0 = tensors[0];
    const cases: [GgufKv[], GgufTensorIn[], RegExp][] = [
      [[{ key: 'x', type: GgufType.UINT8, value: 256 }], [], /"x" must be an integer in \[0, 255\] \(UINT8\), got 256/],
      [[{ key: 'x', type: GgufType.INT32, value: 1.5 }], [], /"x" must be an integer/],
      [[{ key: 'x', type: GgufType.STRING, value: 3 }], [], /"x" must be a string/],
      [[{ key: 'x', type: GgufType.BOOL, value: 1 }], [], /"x" must be a boolean/],
      [[{ key: 'x', type: GgufType.UINT64, value: -1n }], [], /"x" must be in range for UINT64/],
      [[{ key: 'x', type: GgufType.ARRAY, value: { itemType: GgufType.UINT8, items: [1, 300] } }], [], /"x"\[1\] must be an integer/],
      [[{ key: 'x', type: 99 as GgufType, value: 1 }], [], /unknown value type 99/],
      [[{ key: 'x', type: GgufType.UINT8, value: 1 }, { key: 'x', type: GgufType.UINT8, value: 1 }], [], /"x" appears twice/],
      [[{ key: 'general.alignment', type: GgufType.UINT32, value: 24 }], [], /power of two/],
      [[], [t0, t0], /"a" appears twice/],
      [[], [{ ...t0, name: 'x'.repeat(64) }], /1 to 63 bytes/],
      [[], [{ ...t0, dims: [6, 1, 1, 1, 1] }], /1 to 4 positive integers/],
      [[], [{ ...t0, dims: [4, 2] }], /need 8 elements, data has 6/],
      [[], [{ ...t0, type: GgmlType.F16 }], /F16 data must be a Uint16Array/],
      [[], [{ ...t0, type: 10 as typeof GgmlType.F32 }], /type 10 cannot be written/], // Q2_K
    ];
    for (const [kv, ts, re] of cases) {
      expect(() => writeGguf(kv, ts), String(re)).toThrow(GgufError);
      expect(() => writeGguf(kv, ts), String(re)).toThrow(re);
    }
  });

  it('rejects malformed files with GgufError, naming the file', () => {
    const good = writeGguf(allKv, tensors);
    const mutate = (f: (v: DataView, b: Uint8Array) => void) => {
      const b = good.slice();
      f(new DataView(b.buffer), b);
      return b;
    };
    expect(() => readGguf(new Uint8Array(3), 'x.gguf')).toThrow(/^x.gguf: does not start with the GGUF magic/);
    expect(() => readGguf(mutate((v) => v.setUint32(4, 1, true)))).toThrow(/GGUF version 1/);
    expect(() => readGguf(mutate((v) => v.setBigUint64(16, 2n ** 40n, true)))).toThrow(/more than the file can hold/);
    expect(() => readGguf(mutate((v) => v.setBigUint64(16, 2n ** 60n, true)))).toThrow(/metadata count is 1152921504606846976, beyond any real file/);
    // first KV: key "general.architecture" (8 + 20 bytes) at 24, its type at 52
    expect(() => readGguf(mutate((v) => v.setUint32(52, 13, true)))).toThrow(/"general.architecture" has unknown value type 13/);
    const second = writeGguf([{ key: 'k', type: GgufType.BOOL, value: true }, { key: 'k2', type: GgufType.UINT8, value: 0 }], []);
    second[24 + 9 + 4] = 2;
    expect(() => readGguf(second)).toThrow(/"k" is a BOOL with value 2/);
    const dup = writeGguf([{ key: 'k', type: GgufType.UINT8, value: 1 }, { key: 'j', type: GgufType.UINT8, value: 1 }], []);
    dup[24 + 9 + 4 + 1 + 8] = 'k'.charCodeAt(0); // second key's only byte
    expect(() => readGguf(dup)).toThrow(/metadata key "k" appears twice/);
    const arr = writeGguf([{ key: 'k', type: GgufType.ARRAY, value: { itemType: GgufType.UINT8, items: [1] } }], []);
    new DataView(arr.buffer).setBigUint64(24 + 9 + 4 + 4, 1000n, true);
    expect(() => readGguf(arr)).toThrow(/claims 1000 items but only/);
    const one = (dims: number[]) => writeGguf([], [{ name: 't', dims, type: GgmlType.F32, data: new Float32Array(dims.reduce((a, b) => a * b)) }]).slice();
    const q = one([4]);
    new DataView(q.buffer).setUint32(24 + 9 + 4 + 8, 10, true); // type Q2_K
    expect(() => readGguf(q)).toThrow(/GGML type 10, which this reader cannot size/);
    const off = one([4]);
    new DataView(off.buffer).setBigUint64(24 + 9 + 4 + 8 + 4, 4n, true);
    expect(() => readGguf(off)).toThrow(/offset 4, not a multiple of the alignment 32/);
    const far = one([4]);
    new DataView(far.buffer).setBigUint64(24 + 9 + 4 + 8 + 4, 64n, true);
    expect(() => readGguf(far)).toThrow(/runs past the end of the file/);
    const dims5 = one([4]);
    new DataView(dims5.buffer).setUint32(24 + 9, 5, true);
    expect(() => readGguf(dims5)).toThrow(/has 5 dimensions/);
    const two = writeGguf([], [{ name: 'a', dims: [8], type: GgmlType.F32, data: new Float32Array(8) }, { name: 'b', dims: [8], type: GgmlType.F32, data: new Float32Array(8) }]);
    new DataView(two.buffer).setBigUint64(24 + (9 + 4 + 8 + 4 + 8) + 9 + 4 + 8 + 4, 0n, true);
    expect(() => readGguf(two)).toThrow(/"a" and "b" overlap/);
  });

  it('throws only GgufError on truncated or randomly corrupted input', () => {
    const good = writeGguf(allKv, tensors);
    const g = readGguf(good);
    // the last tensor "c" (16 floats) starts at data offset 64; its padding is optional for us
    const realEnd = g.dataOffset + 64 + 16 * 4;
    for (let n = 0; n < realEnd; n++) expect(() => readGguf(good.subarray(0, n)), `prefix ${n}`).toThrow(GgufError);
    expect(ggufTensorF32(readGguf(good.subarray(0, realEnd)).tensors[2])).toEqual(tensors[2].data);
    const r = rng(5);
    let parsed = 0;
    for (let i = 0; i < 400; i++) {
      const b = good.slice();
      for (let k = 0; k < 3; k++) b[Math.floor(r() * g.dataOffset)] = Math.floor(r() * 256);
      try {
        readGguf(b);
        parsed++;
      } catch (e) {
        expect(e, `mutation ${i}`).toBeInstanceOf(GgufError);
      }
    }
    expect(parsed).toBeLessThan(400);
  });
});

describe('hfToGgufName', () => {
  it('maps Llama-family names', () => {
    const cases: [string, string][] = [
      ['model.embed_tokens.weight', 'token_embd.weight'],
      ['model.layers.0.self_attn.q_proj.weight', 'blk.0.attn_q.weight'],
      ['model.layers.11.self_attn.k_proj.bias', 'blk.11.attn_k.bias'],
      ['model.layers.2.self_attn.v_proj', 'blk.2.attn_v'],
      ['model.layers.2.self_attn.o_proj.weight', 'blk.2.attn_output.weight'],
      ['model.layers.3.mlp.gate_proj.weight', 'blk.3.ffn_gate.weight'],
      ['model.layers.3.mlp.up_proj.weight', 'blk.3.ffn_up.weight'],
      ['model.layers.3.mlp.down_proj.weight', 'blk.3.ffn_down.weight'],
      ['model.layers.4.input_layernorm.weight', 'blk.4.attn_norm.weight'],
      ['model.layers.4.post_attention_layernorm.weight', 'blk.4.ffn_norm.weight'],
      ['model.norm.weight', 'output_norm.weight'],
      ['lm_head.weight', 'output.weight'],
      ['base_model.model.model.layers.1.self_attn.q_proj', 'blk.1.attn_q'],
    ];
    for (const [hf, gg] of cases) {
      expect(hfToGgufName(hf, arch('llama'))).toBe(gg);
      expect(hfToGgufName(hf, arch('qwen2'))).toBe(gg);
    }
  });

  it('maps GPT-2 names with or without the transformer. prefix', () => {
    const cases: [string, string][] = [
      ['transformer.wte.weight', 'token_embd.weight'],
      ['wpe.weight', 'position_embd.weight'],
      ['transformer.h.0.ln_1.bias', 'blk.0.attn_norm.bias'],
      ['h.5.ln_2.weight', 'blk.5.ffn_norm.weight'],
      ['transformer.h.1.attn.c_attn.weight', 'blk.1.attn_qkv.weight'],
      ['transformer.h.1.attn.c_proj.bias', 'blk.1.attn_output.bias'],
      ['h.1.mlp.c_fc', 'blk.1.ffn_up'],
      ['transformer.h.1.mlp.c_proj.weight', 'blk.1.ffn_down.weight'],
      ['transformer.ln_f.weight', 'output_norm.weight'],
      ['base_model.model.transformer.h.2.attn.c_attn', 'blk.2.attn_qkv'],
    ];
    for (const [hf, gg] of cases) expect(hfToGgufName(hf, arch('gpt2'))).toBe(gg);
  });

  it('rejects unknown names, listing the known ones', () => {
    expect(() => hfToGgufName('model.layers.0.self_attn.rotary_emb.inv_freq', arch('llama'))).toThrow(/no llama.cpp name for llama\. Known: model/);
    expect(() => hfToGgufName('model.layers.0.self_attn.q_proj.weight', arch('gpt2'))).toThrow(GgufError);
    expect(() => hfToGgufName('h.0.attn.bias', arch('gpt2'))).toThrow(/Known: transformer/);
  });
});

const small = {
  architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, bos_token_id: 1, eos_token_id: 2,
};

function lora(config: ModelConfig, module: string, r: number, seed: number) {
  const s = loraTargetShape(config, module);
  return { module, a: randoms(r * s.in, seed), b: randoms(s.out * r, seed + 1), ...s };
}

/** (B·A)[out, in] */
function delta(b: Float32Array, a: Float32Array, out: number, r: number, nIn: number): Float32Array {
  const d = new Float32Array(out * nIn);
  for (let o = 0; o < out; o++) for (let i = 0; i < nIn; i++) for (let k = 0; k < r; k++) d[o * nIn + i] += b[o * r + k] * a[k * nIn + i];
  return d;
}

describe('writeGgufLora', () => {
  it('writes a llama adapter as llama.cpp loads it, with q/k rows in interleaved RoPE order', () => {
    const config = parseHfConfig(small);
    const r = 3;
    const ads = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj', 'model.layers.1.self_attn.v_proj', 'model.layers.1.mlp.down_proj'].map((m, i) => lora(config, m, r, 10 * i));
    const g = readGguf(writeGgufLora({ config, alpha: 16, rank: r, adapters: ads, name: 'demo' }));
    expect(g.kv.get('general.architecture')).toEqual({ type: GgufType.STRING, value: 'llama' });
    expect(g.kv.get('general.type')!.value).toBe('adapter');
    expect(g.kv.get('adapter.type')!.value).toBe('lora');
    expect(g.kv.get('adapter.lora.alpha')).toEqual({ type: GgufType.FLOAT32, value: 16 });
    expect(g.kv.get('general.name')!.value).toBe('demo');
    expect(g.kv.get('general.alignment')).toEqual({ type: GgufType.UINT32, value: 32 });
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect([...byName.keys()]).toEqual([
      'blk.0.attn_q.weight.lora_a', 'blk.0.attn_q.weight.lora_b', 'blk.0.attn_k.weight.lora_a', 'blk.0.attn_k.weight.lora_b',
      'blk.1.attn_v.weight.lora_a', 'blk.1.attn_v.weight.lora_b', 'blk.1.ffn_down.weight.lora_a', 'blk.1.ffn_down.weight.lora_b',
    ]);
    for (const ad of ads) {
      const base = hfToGgufName(`${ad.module}.weight`, arch('llama'));
      const a = byName.get(`${base}.lora_a`)!, b = byName.get(`${base}.lora_b`)!;
      // llama.cpp's checks: a.ne[0] == base ne[0] (in), b.ne[1] == base ne[1] (out), a.ne[1] == b.ne[0] (r)
      expect(a.dims).toEqual([ad.in, r]);
      expect(b.dims).toEqual([r, ad.out]);
      expect(a.type).toBe(GgmlType.F32);
      expect(ggufTensorF32(a)).toEqual(ad.a);
      const heads = ad.module.endsWith('q_proj') ? 4 : ad.module.endsWith('k_proj') ? 2 : 0;
      if (heads) {
        // the update ΔW = B·A gets exactly the row permutation convert_hf_to_gguf applies to W
        const got = delta(ggufTensorF32(b), ad.a, ad.out, r, ad.in);
        expect(got).toEqual(halvesToInterleaved(delta(ad.b, ad.a, ad.out, r, ad.in), heads, 4, ad.in));
        expect(ggufTensorF32(b)).not.toEqual(ad.b);
      } else {
        expect(ggufTensorF32(b)).toEqual(ad.b);
      }
    }
  });

  it('names Mistral adapters "llama" (permuted) and leaves Qwen2 q/k alone', () => {
    const mistral = parseHfConfig({ ...small, architectures: ['MistralForCausalLM'] });
    const q = lora(mistral, 'model.layers.0.self_attn.q_proj', 2, 1);
    const gm = readGguf(writeGgufLora({ config: mistral, alpha: 4, rank: 2, adapters: [q] }));
    expect(gm.kv.get('general.architecture')!.value).toBe('llama');
    expect(ggufTensorF32(gm.tensors[1])).toEqual(halvesToInterleaved(q.b, 4, 4, 2));
    const qwen = parseHfConfig({ ...small, architectures: ['Qwen2ForCausalLM'] });
    const gq = readGguf(writeGgufLora({ config: qwen, alpha: 4, rank: 2, adapters: [q] }));
    expect(gq.kv.get('general.architecture')!.value).toBe('qwen2');
    expect(ggufTensorF32(gq.tensors[1])).toEqual(q.b);
  });

  it('writes GPT-2 (Conv1D) adapters with llama.cpp names and [in, r] / [r, out] dims', () => {
    const config = parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 8, n_head: 2, n_layer: 1, vocab_size: 11, n_positions: 6, bos_token_id: 10, eos_token_id: 10 });
    const ads = ['transformer.h.0.attn.c_attn', 'h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc', 'transformer.h.0.mlp.c_proj'].map((m, i) => lora(config, m, 2, i));
    expect(ads.map((a) => [a.in, a.out])).toEqual([[8, 24], [8, 8], [8, 32], [32, 8]]);
    const g = readGguf(writeGgufLora({ config, alpha: 8, rank: 2, adapters: ads }));
    expect(g.kv.get('general.architecture')!.value).toBe('gpt2');
    expect(g.tensors.map((t) => [t.name, t.dims])).toEqual([
      ['blk.0.attn_qkv.weight.lora_a', [8, 2]], ['blk.0.attn_qkv.weight.lora_b', [2, 24]],
      ['blk.0.attn_output.weight.lora_a', [8, 2]], ['blk.0.attn_output.weight.lora_b', [2, 8]],
      ['blk.0.ffn_up.weight.lora_a', [8, 2]], ['blk.0.ffn_up.weight.lora_b', [2, 32]],
      ['blk.0.ffn_down.weight.lora_a', [32, 2]], ['blk.0.ffn_down.weight.lora_b', [2, 8]],
    ]);
    expect(ggufTensorF32(g.tensors[1])).toEqual(ads[0].b);
  });

  it('validates its inputs', () => {
    const config = parseHfConfig(small);
    const q = lora(config, 'model.layers.0.self_attn.q_proj', 2, 1);
    const w = (o: Partial<Parameters<typeof writeGgufLora>[0]>) => () => writeGgufLora({ config, alpha: 4, rank: 2, adapters: [q], ...o });
    expect(w({ rank: 0 })).toThrow(/rank must be a positive integer/);
    expect(w({ alpha: NaN })).toThrow(/alpha must be a positive number/);
    expect(w({ adapters: [] })).toThrow(/no adapters/);
    expect(w({ adapters: [q, q] })).toThrow(/appears twice/);
    expect(w({ adapters: [q, { ...q, module: `base_model.model.${q.module}` }] })).toThrow(/appears twice/);
    expect(w({ rank: 3 })).toThrow(/"model.layers.0.self_attn.q_proj".a must be a Float32Array \[3, 16\]/);
    expect(w({ adapters: [{ ...q, b: new Float32Array(5) }] })).toThrow(/\.b must be a Float32Array \[16, 2\]/);
    expect(w({ adapters: [{ ...q, module: 'model.layers.9.self_attn.q_proj' }] })).toThrow(/is not a linear layer/);
    expect(w({ adapters: [{ ...q, module: 'model.embed_tokens' }] })).toThrow(/"model.embed_tokens" is not a linear layer of this LlamaForCausalLM model \(2 layers; embeddings and norms/);
    const tied = parseHfConfig({ ...small, tie_word_embeddings: true });
    expect(() => writeGgufLora({ config: tied, alpha: 4, rank: 2, adapters: [{ module: 'lm_head', a: new Float32Array(32), b: new Float32Array(20) }] })).toThrow(/lm_head is not supported when the embeddings are tied/);
    const lm = lora(config, 'lm_head', 2, 3);
    expect(readGguf(writeGgufLora({ config, alpha: 4, rank: 2, adapters: [lm] })).tensors.map((t) => [t.name, t.dims])).toEqual([
      ['output.weight.lora_a', [16, 2]], ['output.weight.lora_b', [2, 10]],
    ]);
  });
});

describe('GGUF edge cases found by the fuzzers', () => {
  it('refuses strings with lone surrogates instead of writing something else', () => {
    expect(() => writeGguf([{ key: 'a\uD800', type: GgufType.STRING, value: 'x' }], [])).toThrow(GgufError);
    expect(() => writeGguf([{ key: 'k', type: GgufType.STRING, value: 'x\uDC00' }], [])).toThrow(/lone surrogate/);
  });
  it('keeps a leading U+FEFF in names and values', () => {
    const file = writeGguf([{ key: '\uFEFFa', type: GgufType.STRING, value: '\uFEFFx' }, { key: 'a', type: GgufType.STRING, value: 'y' }], []);
    const back = readGguf(file);
    expect(back.kv.get('\uFEFFa')?.value).toBe('\uFEFFx');
    expect(back.kv.get('a')?.value).toBe('y');
  });
  it('does not write arrays nested deeper than readers accept, and caps the alignment', () => {
    let v: GgufValue = { itemType: GgufType.UINT8, items: [1] };
    for (let i = 0; i < 12; i++) v = { itemType: GgufType.ARRAY, items: [v] };
    expect(() => writeGguf([{ key: 'deep', type: GgufType.ARRAY, value: v }], [])).toThrow(/nests arrays more than 8 deep/);
    expect(() => writeGguf([{ key: 'general.alignment', type: GgufType.UINT32, value: 2 ** 31 }], [])).toThrow(/power of two up to/);
  });
  it('a bigint in a rejected value gives a GgufError, not a TypeError', () => {
    expect(() => writeGguf([{ key: 'k', type: GgufType.UINT8, value: { itemType: GgufType.UINT64, items: [5n] } as never }], [])).toThrow(GgufError);
  });
});
