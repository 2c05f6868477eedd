// Qwen3 (Qwen3ForCausalLM) beyond the numeric fixture (src/model/archFixtures.test.ts, arch-qwen3):
// its config (explicit head_dim, q/k norms, attention_bias), the tensors it expects, and the names
// its adapters are written under: PEFT keys and shapes as HF PEFT writes them, llama.cpp's qwen3
// GGUF names (blk.N.attn_q ... and attn_q_norm / attn_k_norm, from llama-arch.cpp) with no q/k
// row permutation (convert_hf_to_gguf.py's Qwen3Model does not permute; LlamaModel does), and the
// merged export.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferSource } from '../io/byteSource';
import { GgmlType, GgufType, readGguf, ggufTensorF32, hfToGgufName, writeGguf } from '../io/gguf';
import { expectedTensors } from '../io/hfConfig';
import { linearModules } from '../io/loraTargets';
import { parsePeftConfig, readPeftAdapter } from '../io/peft';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { exportGgufFile, exportPeftFiles, mergeAdapter } from '../train/export';
import { f32ToF16Bits, f16BitsToF32 } from '../util/f16';
import { parseHfConfig } from './config';

const FIXTURE = join(import.meta.dirname, '../model/fixtures/arch-qwen3/config.json');
const qwen3 = parseHfConfig(readFileSync(FIXTURE, 'utf8'));
// Qwen3-0.6B's config.json (abridged)
const qwen3_06b = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28,
  num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960,
  rms_norm_eps: 1e-6, rope_theta: 1000000, rope_scaling: null, tie_word_embeddings: true, attention_bias: false,
  use_sliding_window: false, sliding_window: null, max_window_layers: 28, bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16',
};

function adapters(r: number) {
  return linearModules(qwen3)
    .filter((m) => m.module !== 'lm_head')
    .map((m, i) => ({ module: m.module, a: Float32Array.from({ length: r * m.in }, (_, j) => Math.sin(i + j)), b: Float32Array.from({ length: m.out * r }, (_, j) => Math.cos(i * 3 + j)) }));
}

describe('Qwen3 config and tensors', () => {
  it('reads Qwen3-0.6B: head_dim 128 with hidden 1024 / 16 heads, q/k norms, no biases, tied', () => {
    const c = parseHfConfig(qwen3_06b);
    expect(c).toMatchObject({ architecture: 'qwen3', headDim: 128, numHeads: 16, numKvHeads: 8, qkNorm: true, qkvBias: false, oBias: false, tieWordEmbeddings: true, rope: { type: 'default' }, eosTokenIds: [151645] });
    const names = expectedTensors(c).map((t) => t.name);
    expect(names).toContain('model.layers.27.self_attn.q_norm.weight');
    expect(expectedTensors(c).find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([16 * 128, 1024]);
    expect(expectedTensors(c).find((t) => t.name === 'model.layers.0.self_attn.k_norm.weight')!.shape).toEqual([128]);
    expect(names).not.toContain('lm_head.weight');
    // Qwen3Config's default head_dim is 128, whatever hidden/heads is
    const { head_dim: _h, ...noHeadDim } = qwen3_06b;
    expect(parseHfConfig({ ...noHeadDim, hidden_size: 512 }).headDim).toBe(128);
    expect(parseHfConfig({ ...qwen3_06b, attention_bias: true })).toMatchObject({ qkvBias: true, oBias: true, mlpBias: false });
    // YaRN (how Qwen3 extends context) is refused by name rather than ignored
    expect(() => parseHfConfig({ ...qwen3_06b, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } })).toThrow(/rope_type "yarn", which Whetstone does not implement/);
  });
});

describe('Qwen3 adapter formats', () => {
  const r = 2;
  const ads = adapters(r);
  const input = { config: qwen3, modelName: 'tiny-qwen3', rank: r, alpha: 4, dropout: 0, useRslora: false, adapters: ads };

  it('PEFT: base_model.model.<module>.lora_A/B keys with [r, in] / [out, r], suffix target_modules, read back', async () => {
    const files = exportPeftFiles(input);
    const st = files.find((f) => f.name === 'adapter_model.safetensors')!;
    const cfg = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.bytes));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r, lora_alpha: 4, fan_in_fan_out: false, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    const src = bufferSource(st.bytes, 'adapter_model.safetensors');
    const header = await readSafetensorsHeader(src);
    // q_proj's out is heads * head_dim = 64, not hidden (32)
    expect(header.byName.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!.shape).toEqual([64, r]);
    expect(header.byName.get('base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight')!.shape).toEqual([r, 64]);
    expect(header.tensors.length).toBe(2 * 14);
    const back = await readPeftAdapter(parsePeftConfig(cfg), src, qwen3);
    expect(back.adapters.map((a) => a.module)).toEqual(ads.map((a) => a.module));
    expect(back.adapters[3].b).toEqual(ads[3].b);
    expect(await readTensorF32(src, header, 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')).toEqual(ads[6].a);
  });

  it('GGUF: general.architecture qwen3, llama.cpp names, q/k lora_b NOT permuted', () => {
    const gguf = readGguf(exportGgufFile(input).bytes);
    expect(gguf.kv.get('general.architecture')!.value).toBe('qwen3');
    const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
    expect([...byName.keys()].slice(0, 4)).toEqual(['blk.0.attn_q.weight.lora_a', 'blk.0.attn_q.weight.lora_b', 'blk.0.attn_k.weight.lora_a', 'blk.0.attn_k.weight.lora_b']);
    expect(byName.get('blk.0.attn_q.weight.lora_a')!.dims).toEqual([32, r]);
    expect(byName.get('blk.0.attn_q.weight.lora_b')!.dims).toEqual([r, 64]);
    expect(ggufTensorF32(byName.get('blk.0.attn_q.weight.lora_b')!)).toEqual(ads[0].b);
    expect(ggufTensorF32(byName.get('blk.1.attn_k.weight.lora_b')!)).toEqual(ads[8].b);
    expect(byName.has('blk.1.ffn_down.weight.lora_a')).toBe(true);
    expect(hfToGgufName('model.layers.3.self_attn.q_norm.weight', qwen3)).toBe('blk.3.attn_q_norm.weight');
    expect(hfToGgufName('model.layers.3.self_attn.k_norm.weight', qwen3)).toBe('blk.3.attn_k_norm.weight');
  });

  it('merged export: W + s·B·A on the [64, 32] q_proj, q/k norm weights carried over', () => {
    const base = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
    for (const t of expectedTensors(qwen3)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.shape.length === 2) base.set(t.name, { shape: t.shape, halves: Uint16Array.from({ length: n }, (_, i) => f32ToF16Bits(((i % 7) - 3) / 8)) });
      else base.set(t.name, { shape: t.shape, f32: Float32Array.from({ length: n }, () => 1) });
    }
    const merged = mergeAdapter(input, base);
    const src = bufferSource(merged, 'model.safetensors');
    return readSafetensorsHeader(src).then(async (h) => {
      expect(h.byName.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([64, 32]);
      expect(h.byName.get('model.layers.0.self_attn.q_norm.weight')!.shape).toEqual([16]);
      const w = await readTensorF32(src, h, 'model.layers.0.self_attn.q_proj.weight');
      const q = ads[0];
      const [o, i] = [5, 7];
      let d = 0;
      for (let k = 0; k < r; k++) d += q.b[o * r + k] * q.a[k * 32 + i];
      const want = f16BitsToF32(f32ToF16Bits(f16BitsToF32(base.get('model.layers.0.self_attn.q_proj.weight')!.halves![o * 32 + i]) + 2 * d));
      expect(w[o * 32 + i]).toBe(want);
    });
  });
});

// llama.cpp's own merge (llama-export-lora, GGUF level: names, dims, alpha / r) of our qwen3 adapter
// into a base GGUF written the way convert_hf_to_gguf.py writes Qwen3 (HF row order, no q/k
// permutation): the merged weights must equal W + s·B·A computed in the HF layout.
const EXPORT_LORA = '/work/shared/tools/llama.cpp/llama-export-lora';
describe('Qwen3 GGUF adapter in llama.cpp', () => {
  it.skipIf(!existsSync(EXPORT_LORA))('llama-export-lora merges it into exactly W + s·B·A', () => {
    const r = 2;
    const ads = adapters(r);
    const dir = mkdtempSync(join(tmpdir(), 'whetstone-qwen3-gguf-'));
    const baseValues = new Map<string, Float32Array>();
    const tensors = expectedTensors(qwen3).map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37 + t.name.length)));
      baseValues.set(t.name, data);
      return { name: hfToGgufName(t.name, qwen3), dims: [...t.shape].reverse(), type: GgmlType.F32, data };
    });
    const kv = [
      { key: 'general.architecture', type: GgufType.STRING, value: 'qwen3' },
      { key: 'general.alignment', type: GgufType.UINT32, value: 32 },
    ] as const;
    writeFileSync(join(dir, 'base.gguf'), writeGguf([...kv], tensors));
    writeFileSync(join(dir, 'lora.gguf'), exportGgufFile({ config: qwen3, modelName: 'tiny-qwen3', rank: r, alpha: 4, dropout: 0, useRslora: false, adapters: ads }).bytes);
    const run = spawnSync(EXPORT_LORA, ['-m', join(dir, 'base.gguf'), '--lora', join(dir, 'lora.gguf'), '-o', join(dir, 'merged.gguf'), '-t', '1'], { encoding: 'utf8' });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/merged 14 tensors with lora adapters/);
    const merged = new Map(readGguf(readFileSync(join(dir, 'merged.gguf'))).tensors.map((t) => [t.name, t]));
    const s = 4 / r;
    for (const ad of ads) {
      const name = `${ad.module}.weight`;
      const w = baseValues.get(name)!;
      const [out, inF] = expectedTensors(qwen3).find((t) => t.name === name)!.shape;
      const want = new Float32Array(w.length);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += ad.b[o * r + k] * ad.a[k * inF + i];
          want[o * inF + i] = w[o * inF + i] + s * d;
        }
      }
      const got = ggufTensorF32(merged.get(hfToGgufName(name, qwen3))!);
      let worst = 0;
      for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
      expect(worst, `${name}: llama.cpp's merge differs by ${worst}`).toBeLessThan(1e-5);
    }
    // the q/k norm weights are copied as they are
    expect(ggufTensorF32(merged.get('blk.1.attn_k_norm.weight')!)).toEqual(baseValues.get('model.layers.1.self_attn.k_norm.weight'));
  });
});
