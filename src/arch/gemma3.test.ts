// Gemma 3 (Gemma3ForCausalLM) beyond what src/model/archFixtures.test.ts checks for every
// architecture (last-position logits at 600 and 640, loss, LoRA gradients, 20 greedy tokens):
// the config parsing and refusals, the logits of EVERY position at T = 640 (the 512-token window
// of the sliding layer matters from row 512 on), the LoRA step with activation checkpointing, and
// KV-cache decode logits row by row across the window. Reference: reference/gemma3_fixtures.py
// (written from HF's modeling_gemma3), fixture src/model/fixtures/arch-gemma3/. Both sides use
// the same fp16-rounded weights; the reference is f64, ours f32.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/device';
import { matmulXWt } from '../gpu/ops/matmul';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, releaseTensor, type Tensor } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { expectedTensors } from '../io/hfConfig';
import { parseHfConfig } from './config';
import { EXPORT_LORA, llamaCppMerge } from './testing/llamaCppMerge';
import { linearModules } from '../io/loraTargets';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { createAdapter, releaseAdapter } from '../model/adapter';
import type { CausalLM } from '../model/causalLM';
import { generateIds } from '../model/generate';
import { createPromptTuning, promptRun, releasePromptTuning } from '../model/promptTuning';
import { scaleInPlace } from '../gpu/ops/elementwise';
import type { ForwardRun, StepInputs } from '../model/blocks';
import { FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { expectClose } from '../util/check';
import { roundToDtype } from './gemma3';

interface Fixture {
  ids: number[];
  loss: number;
  lora: { r: number; alpha: number; modules: string[] };
  greedy: { promptLength: number; ids: number[]; margins: number[] };
  checks: { maxAbsDiffFullAttention: number; maxAbsDiffUnroundedEmbedScale: number };
}

const DIR = join(FIXTURES_DIR, 'arch-gemma3');
const FX = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Fixture;
const key = (m: string, w: 'A' | 'B') => `base_model.model.${m}.lora_${w}.weight`;

// f32 over 2 layers and 640 positions vs f64 (the reference's own f32 rerun differs by 3e-5);
// the effects under test are far larger: the window moves rows >= 512 by up to 1.57, the
// unrounded sqrt(hidden) by 1.8e-3.
const LOGITS_TOL = { atol: 2e-4, rtol: 1e-4 };
const GRAD_TOL = { atol: 2e-6, rtol: 2e-3 };

async function fixtureTensor(file: 'lora' | 'logits', name: string): Promise<Float32Array> {
  const src = await fileSource(join(DIR, `${file}.safetensors`));
  return readTensorF32(src, await readSafetensorsHeader(src), name);
}

/** Logits (T, V) of every position of one sequence (inference forward, no adapter). */
async function allLogits(model: CausalLM, ids: number[], run: ForwardRun | null): Promise<Float32Array> {
  const T = ids.length;
  const inp = model.upload({ B: 1, T, tokens: Int32Array.from(ids), positions: Int32Array.from({ length: T }, (_, i) => i), docIds: null }, 'test');
  // CausalLM exposes only the last position's logits; its hidden states are what they are made from
  const h = await (model as unknown as { hidden(inp: StepInputs, run: ForwardRun | null): Promise<Tensor> }).hidden(inp, run);
  const logits = await matmulXWt(model.ctx, h, model.weights.get('model.embed_tokens.weight')!, null);
  const out = await downloadF32(model.ctx, logits);
  releaseTensor(model.ctx, logits);
  return out;
}

describe('Gemma 3 config', () => {
  const base = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;

  it('reads the sliding/global layers, the scales and the local RoPE base', () => {
    const c = parseHfConfig(base);
    expect(c.architecture).toBe('gemma3');
    expect(c.layerWindows).toEqual([512, null]);
    expect(c.attentionScale).toBeCloseTo(8 ** -0.5, 15);
    expect(c.localRopeTheta).toBe(10000);
    expect(c.ropeTheta).toBe(1e6);
    expect(c.rope).toEqual({ type: 'linear', factor: 8 });
    // HF: embed_scale.to(bfloat16)
    expect(c.embeddingScale).toBe(5.65625);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.qkNorm).toBe(true);
  });

  it("reads Gemma 3 270M's config (abridged): 18 layers, every sixth global, head_dim 256 with 640 hidden", () => {
    const types = Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention'));
    const c = parseHfConfig({
      architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18,
      num_attention_heads: 4, num_key_value_heads: 1, head_dim: 256, vocab_size: 262144, max_position_embeddings: 32768,
      query_pre_attn_scalar: 256, sliding_window: 512, layer_types: types, rope_theta: 1000000.0, rope_local_base_freq: 10000.0,
      rope_scaling: null, rms_norm_eps: 1e-6, hidden_activation: 'gelu_pytorch_tanh', attn_logit_softcapping: null,
      final_logit_softcapping: null, attention_bias: false, use_bidirectional_attention: false, torch_dtype: 'bfloat16',
      bos_token_id: 2, eos_token_id: 1, pad_token_id: 0,
    });
    expect(c.layerWindows!.map((w) => (w === null ? 'G' : 'L')).join('')).toBe('LLLLLGLLLLLGLLLLLG');
    expect(c.attentionScale).toBe(1 / 16);
    expect(c.embeddingScale).toBe(25.25);
    expect(c.tieWordEmbeddings).toBe(true);
    const shapes = new Map(expectedTensors(c).map((t) => [t.name, t.shape]));
    expect(shapes.get('model.layers.0.self_attn.q_proj.weight')).toEqual([1024, 640]);
    expect(shapes.get('model.layers.0.self_attn.k_proj.weight')).toEqual([256, 640]);
    expect(shapes.get('model.layers.17.self_attn.q_norm.weight')).toEqual([256]);
    expect(shapes.get('model.embed_tokens.weight')).toEqual([262144, 640]);
    expect(shapes.has('lm_head.weight')).toBe(false);
    expect(expectedTensors(c).length).toBe(1 + 18 * 13 + 1);
  });

  it('derives the layer kinds from sliding_window_pattern when layer_types is absent (HF: (i + 1) % pattern)', () => {
    const { layer_types: _drop, ...rest } = base;
    const c = parseHfConfig({ ...rest, num_hidden_layers: 8, sliding_window_pattern: 6 });
    expect(c.layerWindows).toEqual([512, 512, 512, 512, 512, null, 512, 512]);
    expect(parseHfConfig({ ...rest, num_hidden_layers: 3 }).layerWindows).toEqual([512, 512, 512]);
  });

  it('rounds sqrt(hidden) to the checkpoint dtype', () => {
    expect(roundToDtype(Math.sqrt(640), 'bfloat16')).toBe(25.25);
    expect(roundToDtype(Math.sqrt(640), 'float16')).toBe(25.296875);
    expect(roundToDtype(Math.sqrt(640), 'float32')).toBe(Math.fround(Math.sqrt(640)));
  });

  it('refuses what it does not implement, naming it', () => {
    expect(() => parseHfConfig({ ...base, final_logit_softcapping: 30 })).toThrow(/"final_logit_softcapping" is 30; Whetstone implements Gemma 3 without logit soft-capping/);
    expect(() => parseHfConfig({ ...base, attn_logit_softcapping: 50 })).toThrow(/"attn_logit_softcapping"/);
    expect(() => parseHfConfig({ ...base, use_bidirectional_attention: true })).toThrow(/use_bidirectional_attention/);
    expect(() => parseHfConfig({ ...base, hidden_activation: 'gelu' })).toThrow(/"hidden_activation" is "gelu"/);
    expect(() => parseHfConfig({ ...base, layer_types: ['sliding_attention'] })).toThrow(/"layer_types" must list one of/);
    expect(() => parseHfConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 2 } })).toThrow(/rope_type "yarn"/);
    expect(() => parseHfConfig({ ...base, architectures: ['Gemma3ForConditionalGeneration'] })).toThrow(/architecture "Gemma3ForConditionalGeneration" is not supported/);
  });
});

describe('tiny Gemma 3 against PyTorch', () => {
  let ctxP: Promise<{ ctx: GpuContext; model: CausalLM }> | null = null;
  const load = () => (ctxP ??= getTestGpu().then(async (ctx) => ({ ctx, model: await loadModelDir(ctx, DIR) })));

  it('logits at T = 640 (rows >= 512 need the sliding window)', async () => {
    const { model } = await load();
    expect(FX.ids.length).toBe(640);
    const got = await allLogits(model, FX.ids, null);
    const want = await fixtureTensor('logits', 'logits');
    const r = expectClose('gemma3 logits', got, want, LOGITS_TOL);
    expect(r.maxAbsErr).toBeLessThan(FX.checks.maxAbsDiffUnroundedEmbedScale / 4);
    expect(FX.checks.maxAbsDiffFullAttention).toBeGreaterThan(0.5);
  });

  // (without checkpointing: archFixtures.test.ts)
  it('loss and every LoRA gradient with activation checkpointing (layer 0 recomputed with its embedding scale)', async () => {
    const activationCheckpointing = true;
    const { ctx, model } = await load();
    const initial = new Map<string, { A: Float32Array; B: Float32Array }>();
    for (const m of FX.lora.modules) initial.set(m, { A: await fixtureTensor('lora', key(m, 'A')), B: await fixtureTensor('lora', key(m, 'B')) });
    const targetModules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    const adapter = createAdapter(ctx, model.config, { rank: FX.lora.r, alpha: FX.lora.alpha, dropout: 0, useRslora: false, targetModules }, 0, initial);
    expect([...adapter.modules.keys()]).toEqual(FX.lora.modules);
    const T = FX.ids.length;
    const labels = Int32Array.from({ length: T }, (_, i) => (i + 1 < T ? FX.ids[i + 1] : -100));
    const inp = model.upload({ B: 1, T, tokens: Int32Array.from(FX.ids), positions: Int32Array.from({ length: T }, (_, i) => i), docIds: null, labels });
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const m of adapter.modules.values()) {
      model.zero(m.dA);
      model.zero(m.dB);
    }
    const run: ForwardRun = { adapter, seed: 1, training: true };
    await model.trainStep(inp, lossAcc, { run, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing });
    const loss = (await downloadF32(ctx, lossAcc))[0];
    expect(Math.abs(loss - FX.loss)).toBeLessThan(1e-5 * FX.loss);
    for (const m of FX.lora.modules) {
      const mod = adapter.modules.get(m)!;
      for (const [w, got] of [['A', mod.dA], ['B', mod.dB]] as const) {
        expectClose(`${m} d${w}`, await downloadF32(ctx, got), await fixtureTensor('lora', `grad/${key(m, w)}`), GRAD_TOL);
      }
    }
    releaseAdapter(ctx, adapter);
    releaseTensor(ctx, lossAcc);
  });

  it('KV-cache decode logits, prefill 500 then one token at a time to 640 (crossing the window)', async () => {
    const { model } = await load();
    const want = await fixtureTensor('logits', 'logits');
    const V = model.config.vocabSize;
    const cache = model.kvCache(FX.ids.length);
    const P = 500;
    const rowOf = (t: number) => want.subarray(t * V, (t + 1) * V);
    expectClose('prefill row 499', await downloadF32(model.ctx, await model.decode(FX.ids.slice(0, P), 0, cache, null)), rowOf(P - 1), LOGITS_TOL);
    for (let t = P; t < FX.ids.length; t++) {
      const l = await model.decode([FX.ids[t]], t, cache, null);
      expectClose(`decode row ${t}`, (await downloadF32(model.ctx, l)).subarray(0, V), rowOf(t), LOGITS_TOL);
    }
  });

  it('20 greedy tokens from a 600-token prompt with the KV cache', async () => {
    const { model } = await load();
    const prompt = FX.ids.slice(0, FX.greedy.promptLength);
    const ids = await generateIds(model, prompt, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: 20, seed: 0, eosIds: [], run: null });
    expect(ids).toEqual(FX.greedy.ids);
  });
});

describe('Gemma 3 prompt tuning as PEFT does it', () => {
  it('text init takes the scaled embedding rows, and the virtual tokens are not scaled again: prompt-tuned Y equals plain X + Y', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DIR);
    const X = [7, 30, 12];
    const Y = [1, 44, 9, 60, 5];
    const p = await createPromptTuning(ctx, model, { n: X.length, init: 'text', textIds: X, seed: 0 });
    const V = model.config.vocabSize;
    const last = async (tokens: number[], run: ForwardRun | null) => {
      const inp = model.upload({ B: 1, T: tokens.length, tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => i), docIds: null }, 'test');
      return (await downloadF32(ctx, await model.lastLogits(inp, run))).subarray(0, V);
    };
    const tuned = await last([0, 0, 0, ...Y], promptRun(p, false));
    const plain = await last([...X, ...Y], null);
    expectClose('prompt-tuned vs plain', tuned, plain, { atol: 1e-5, rtol: 1e-5 });
    // the scale is really there: unscaled virtual tokens give other logits
    await scaleInPlace(ctx, p.embeddings, 1 / model.config.embeddingScale!);
    const unscaled = await last([0, 0, 0, ...Y], promptRun(p, false));
    expect(Math.max(...Array.from(unscaled, (v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(1e-2);
    releasePromptTuning(ctx, p);
    model.release();
  });
});

describe('Gemma 3 adapter formats', () => {
  it("llama.cpp's gemma3 tensor names, including the four norms", async () => {
    const { hfToGgufName } = await import('../io/gguf');
    const c = parseHfConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
    expect(c.format.gguf.architecture).toBe('gemma3');
    const names = ['self_attn.q_proj', 'self_attn.q_norm', 'input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm', 'mlp.down_proj'];
    expect(names.map((n) => hfToGgufName(`model.layers.1.${n}.weight`, c))).toEqual([
      'blk.1.attn_q.weight', 'blk.1.attn_q_norm.weight', 'blk.1.attn_norm.weight', 'blk.1.post_attention_norm.weight', 'blk.1.ffn_norm.weight', 'blk.1.post_ffw_norm.weight', 'blk.1.ffn_down.weight',
    ]);
    expect(c.format.gguf.permutedHeads(c, 'model.layers.0.self_attn.q_proj')).toBeNull();
  });
});

describe('Gemma 3 GGUF adapter in llama.cpp', () => {
  it.skipIf(!existsSync(EXPORT_LORA))('llama-export-lora merges it into exactly W + s·B·A (gemma3 names, no q/k permutation)', () => {
    const c = parseHfConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
    const r = 2;
    const ads = linearModules(c)
      .filter((m) => m.module !== 'lm_head')
      .map((m, i) => ({ module: m.module, a: Float32Array.from({ length: r * m.in }, (_, j) => Math.sin(i + j)), b: Float32Array.from({ length: m.out * r }, (_, j) => Math.cos(i * 3 + j)) }));
    expect(ads.length).toBe(14);
    const rep = llamaCppMerge(c, ads, r, 4)!;
    expect(rep.stdout).toMatch(/merged 14 tensors with lora adapters/);
    for (const [m, w] of rep.worst) expect(w, `${m}: llama.cpp's merge differs by ${w}`).toBeLessThan(1e-5);
    // the four norms per layer, q/k norms and the embedding are copied as they are
    expect(rep.untouchedEqual).toBe(true);
  });
});
