// Phi-3 (Phi3ForCausalLM) beyond src/model/archFixtures.test.ts (which runs arch-phi3 against its
// PyTorch reference, reference/phi3_fixtures.py: logits, loss, LoRA gradients on the fused
// modules, greedy tokens; arch-phi3-longrope the same with LongRoPE, short and long factors):
// config parsing and refusals, and the adapter formats for the fused qkv_proj / gate_up_proj as
// PEFT and llama.cpp name them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferSource } from '../io/byteSource';
import { hfToGgufName, readGguf, writeGgufLora } from '../io/gguf';
import { expectedTensors } from '../io/hfConfig';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { exportPeftFiles, mergeAdapter } from '../train/export';
import { f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { linearModules } from '../io/loraTargets';
import { parsePeftConfig, readPeftAdapter, writePeftAdapter } from '../io/peft';
import { FIXTURES_DIR } from '../model/testing/loadForTest';
import { parseHfConfig } from './config';
import { EXPORT_LORA, llamaCppMerge } from './testing/llamaCppMerge';

const base = JSON.parse(readFileSync(join(FIXTURES_DIR, 'arch-phi3', 'config.json'), 'utf8')) as Record<string, unknown>;

describe('Phi-3 config', () => {
  it('reads partial rotary and the sliding window', () => {
    const c = parseHfConfig(base);
    expect(c.architecture).toBe('phi3');
    expect(c.headDim).toBe(8);
    expect(c.rotaryDim).toBe(4);
    expect(c.slidingWindow).toBe(300);
    expect(c.tieWordEmbeddings).toBe(false);
    // Phi-4-mini: 128-dim heads, factor 0.75 -> 96 rotated dims; factor 1 -> plain RoPE
    expect(parseHfConfig({ ...base, hidden_size: 1024, num_attention_heads: 8, num_key_value_heads: 2, partial_rotary_factor: 0.75 }).rotaryDim).toBe(96);
    expect(parseHfConfig({ ...base, partial_rotary_factor: 1.0 }).rotaryDim).toBeUndefined();
    expect(parseHfConfig({ ...base, sliding_window: null }).slidingWindow).toBeNull();
  });

  it('reads LongRoPE (Phi-3-mini-128k, Phi-3.5, Phi-4-mini) with HF\'s attention factor, and refuses what it cannot run', () => {
    const lr = JSON.parse(readFileSync(join(FIXTURES_DIR, 'arch-phi3-longrope', 'config.json'), 'utf8')) as Record<string, unknown>;
    const c = parseHfConfig(lr);
    expect(c.rotaryDim).toBe(6);
    expect(c.rope).toEqual({ type: 'default' });
    // max 1024 / original 256 = 4: sqrt(1 + ln 4 / ln 256) = sqrt(1.25)
    expect(c.longRope).toEqual({ shortFactor: [1, 1.25, 1.5], longFactor: [2, 3.5, 6], originalMaxPositions: 256, attentionFactor: Math.sqrt(1.25) });
    const rs = lr.rope_scaling as Record<string, unknown>;
    expect(parseHfConfig({ ...lr, rope_scaling: { ...rs, type: 'su' } }).longRope?.attentionFactor).toBe(Math.sqrt(1.25));
    expect(parseHfConfig({ ...lr, rope_scaling: { ...rs, attention_factor: 1.5 } }).longRope?.attentionFactor).toBe(1.5);
    expect(parseHfConfig({ ...lr, max_position_embeddings: 256 }).longRope?.attentionFactor).toBe(1);
    expect(() => parseHfConfig({ ...lr, rope_scaling: { ...rs, short_factor: [1, 1] } })).toThrow(/rope_scaling "short_factor" must be a list of 3 positive numbers \(rotary dims \/ 2\) for longrope/);
    expect(() => parseHfConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope_type "yarn", which Whetstone does not implement/);
    expect(() => parseHfConfig({ ...base, hidden_act: 'gelu' })).toThrow(/"hidden_act" is "gelu"; Whetstone implements Phi-3's MLP with "silu"/);
    expect(() => parseHfConfig({ ...base, partial_rotary_factor: 0.1 })).toThrow(/"partial_rotary_factor" 0.1 gives 0 rotary dims/);
  });
});

describe('Phi-4-mini config (abridged)', () => {
  it('24 heads of 128 dims, 96 rotated, LongRoPE with 48 factors and attention factor sqrt(1 + ln 32 / ln 4096), tied, fused shapes', () => {
    const factors = Array.from({ length: 48 }, (_, i) => 1 + i / 10);
    const c = parseHfConfig({
      architectures: ['Phi3ForCausalLM'], model_type: 'phi3', hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32,
      num_attention_heads: 24, num_key_value_heads: 8, vocab_size: 200064, max_position_embeddings: 131072,
      original_max_position_embeddings: 4096, partial_rotary_factor: 0.75, rope_theta: 10000.0,
      rope_scaling: { type: 'longrope', short_factor: factors, long_factor: factors.map((f) => 2 * f) },
      sliding_window: 262144, tie_word_embeddings: true, hidden_act: 'silu', rms_norm_eps: 1e-5,
      bos_token_id: 199999, eos_token_id: 199999, pad_token_id: 199999, torch_dtype: 'bfloat16',
    });
    expect(c.headDim).toBe(128);
    expect(c.rotaryDim).toBe(96);
    expect(c.longRope!.originalMaxPositions).toBe(4096);
    expect(c.longRope!.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 12);
    expect(c.tieWordEmbeddings).toBe(true);
    const shapes = new Map(expectedTensors(c).map((t) => [t.name, t.shape]));
    expect(shapes.get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([24 * 128 + 2 * 8 * 128, 3072]);
    expect(shapes.get('model.layers.31.mlp.gate_up_proj.weight')).toEqual([2 * 8192, 3072]);
    expect(shapes.has('lm_head.weight')).toBe(false);
  });
});

describe('Phi-3 adapters on the fused modules', () => {
  const c = parseHfConfig(base);
  const r = 2;
  // qkv_proj: 32 -> 64 (Q 32 + 2 x KV 16); gate_up_proj: 32 -> 96 (2 x 48)
  const adapters = [0, 1].flatMap((i) => [
    { module: `model.layers.${i}.self_attn.qkv_proj`, a: new Float32Array(r * 32).fill(0.5), b: new Float32Array(64 * r).fill(0.25) },
    { module: `model.layers.${i}.mlp.gate_up_proj`, a: new Float32Array(r * 32).fill(0.5), b: new Float32Array(96 * r).fill(0.25) },
  ]);

  it('PEFT: target_modules and keys as HF PEFT writes them (qkv_proj, gate_up_proj)', () => {
    const out = writePeftAdapter({ config: c, r, alpha: 4, adapters });
    const cfg = JSON.parse(out['adapter_config.json']) as { target_modules: string[] | string };
    expect(cfg.target_modules).toEqual(['qkv_proj', 'gate_up_proj']);
    const bytes = out['adapter_model.safetensors'];
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { shape: number[] }>;
    expect(header['base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight'].shape).toEqual([r, 32]);
    expect(header['base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight'].shape).toEqual([64, r]);
    expect(header['base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight'].shape).toEqual([96, r]);
  });

  it("llama.cpp: phi3's attn_qkv and ffn_up (gate and up in one tensor), no q/k permutation", () => {
    expect(hfToGgufName('model.layers.3.self_attn.qkv_proj.weight', c)).toBe('blk.3.attn_qkv.weight');
    expect(hfToGgufName('model.layers.3.mlp.gate_up_proj.weight', c)).toBe('blk.3.ffn_up.weight');
    expect(hfToGgufName('model.layers.3.post_attention_layernorm.weight', c)).toBe('blk.3.ffn_norm.weight');
    const g = readGguf(writeGgufLora({ config: c, alpha: 4, rank: r, adapters }));
    expect(g.kv.get('general.architecture')?.value).toBe('phi3');
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_qkv.weight.lora_b')?.dims).toEqual([r, 64]);
    expect(byName.get('blk.1.ffn_up.weight.lora_a')?.dims).toEqual([32, r]);
    // unpermuted: lora_b rows as given
    expect(Array.from(new Float32Array(byName.get('blk.0.attn_qkv.weight.lora_b')!.bytes.slice().buffer)).every((x) => x === 0.25)).toBe(true);
  });
});

describe('Phi-3 GGUF adapter in llama.cpp', () => {
  it.skipIf(!existsSync(EXPORT_LORA))("llama-export-lora merges the fused attn_qkv / ffn_up adapters into exactly W + s·B·A", () => {
    const c = parseHfConfig(base);
    const r = 2;
    const ads = linearModules(c)
      .filter((m) => m.module !== 'lm_head')
      .map((m, i) => ({ module: m.module, a: Float32Array.from({ length: r * m.in }, (_, j) => Math.sin(i + j)), b: Float32Array.from({ length: m.out * r }, (_, j) => Math.cos(i * 3 + j)) }));
    expect(ads.map((a) => a.module.split('.').at(-1))).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj', 'qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    const rep = llamaCppMerge(c, ads, r, 4)!;
    expect(rep.stdout).toMatch(/merged 8 tensors with lora adapters/);
    for (const [m, w] of rep.worst) expect(w, `${m}: llama.cpp's merge differs by ${w}`).toBeLessThan(1e-5);
    expect(rep.untouchedEqual).toBe(true);
  });
});

describe('Phi-3 merged export and PEFT read-back', () => {
  const c = parseHfConfig(base);
  const r = 2;
  const ads = linearModules(c)
    .filter((m) => m.module !== 'lm_head')
    .map((m, i) => ({ module: m.module, a: Float32Array.from({ length: r * m.in }, (_, j) => Math.sin(i + j)), b: Float32Array.from({ length: m.out * r }, (_, j) => Math.cos(i * 3 + j)) }));
  const input = { config: c, modelName: 'tiny-phi3', rank: r, alpha: 4, dropout: 0, useRslora: false, adapters: ads };

  it('reads back the PEFT files it writes (fused modules included)', async () => {
    const files = exportPeftFiles(input);
    const cfg = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.bytes));
    expect(cfg.target_modules).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    const src = bufferSource(files.find((f) => f.name === 'adapter_model.safetensors')!.bytes, 'adapter_model.safetensors');
    const back = await readPeftAdapter(parsePeftConfig(cfg), src, c);
    expect(back.adapters.map((a) => a.module)).toEqual(ads.map((a) => a.module));
    expect(back.adapters[2].b).toEqual(ads[2].b);
  });

  it('merged export: W + s·B·A on the fused [64, 32] qkv_proj and [96, 32] gate_up_proj', async () => {
    const weights = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
    for (const t of expectedTensors(c)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.shape.length === 2) weights.set(t.name, { shape: t.shape, halves: Uint16Array.from({ length: n }, (_, i) => f32ToF16Bits(((i % 7) - 3) / 8)) });
      else weights.set(t.name, { shape: t.shape, f32: Float32Array.from({ length: n }, () => 1) });
    }
    const src = bufferSource(mergeAdapter(input, weights), 'model.safetensors');
    const h = await readSafetensorsHeader(src);
    for (const [k, name, inF] of [[0, 'model.layers.0.self_attn.qkv_proj.weight', 32], [2, 'model.layers.0.mlp.gate_up_proj.weight', 32]] as const) {
      const w = await readTensorF32(src, h, name);
      const ad = ads[k];
      for (const [o, i] of [[5, 7], [63, 31], [40, 2]]) {
        let d = 0;
        for (let j = 0; j < r; j++) d += ad.b[o * r + j] * ad.a[j * inF + i];
        const want = f16BitsToF32(f32ToF16Bits(f16BitsToF32(weights.get(name)!.halves![o * inF + i]) + 2 * d));
        expect(w[o * inF + i], `${name}[${o}, ${i}]`).toBe(want);
      }
    }
  });
});
