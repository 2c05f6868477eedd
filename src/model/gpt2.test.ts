// GPT-2 (tiny random-weight GPT2LMHeadModel, src/model/fixtures/tiny-gpt2) through the real
// loader: logits against PyTorch (reference/model_fixtures.py), KV-cache generation against the
// full forward, LoRA on c_attn / attn.c_proj / mlp.c_fc / mlp.c_proj trained for a few steps with
// its gradients checked against central finite differences of the loss, activation
// checkpointing, and the PEFT export (fan_in_fan_out, fused c_attn B of shape [3C, r]).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import type { GpuContext } from '../gpu/device';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { randUniform, rng } from '../util/random';
import { downloadF32, emptyTensor, readBuffer, releaseTensor, type Tensor } from '../gpu/tensor';
import { bufferSource } from '../io/byteSource';
import { parsePeftConfig, readPeftAdapter } from '../io/peft';
import { readSafetensorsHeader } from '../io/safetensors';
import { DEFAULT_CONFIG, GPT2_ALL_LINEAR, type TrainConfig } from '../train/config';
import { exportPeftFiles } from '../train/export';
import { FixedBatches, Trainer } from '../train/trainer';
import type { RunRecord } from '../train/checkpointStore';
import { createAdapter, downloadAdapter, releaseAdapter, targetedModules, type LoraAdapter } from './adapter';
import type { CausalLM, HostBatch } from './causalLM';
import { generateIds } from './generate';
import { Gpt2Blocks } from './gpt2';
import { FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

const GPT2_DIR = join(FIXTURES_DIR, 'tiny-gpt2');
// as causalLM.test.ts: f32 accumulation on the GPU vs the fixture's f64 math (its own f32 rerun
// differs by 2.6e-6)
const LOGITS_TOL = { atol: 2e-4, rtol: 1e-4 };
// KV-cache decode vs the full forward: the same f32 math summed in another order
const DECODE_TOL = { atol: 2e-5, rtol: 1e-5 };
// Analytic LoRA gradient vs a central difference of the f32 loss: eps 1e-3, so the loss's f32
// rounding (~5e-7 at 4.5) alone moves the difference by ~5e-4 absolute; the elements checked are
// each tensor's largest gradient.
const FD_EPS = 1e-3;
const FD_TOL = { atol: 1e-3, rtol: 2e-2 };

interface PromptFixture {
  name: string;
  folder: string;
  architecture: string;
  ids: number[];
  logits: number[];
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

async function lastLogits(model: CausalLM, ids: number[], adapter: LoraAdapter | null): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, adapter && { adapter, seed: 0, training: false });
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

/** An adapter on all four GPT-2 linears with a non-zero B, so every module changes the logits. */
function randomAdapter(ctx: GpuContext, model: CausalLM, seed: number): LoraAdapter {
  const spec = { rank: 4, alpha: 8, dropout: 0, useRslora: false, targetModules: GPT2_ALL_LINEAR };
  const init = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (const [i, m] of targetedModules(model.config, spec.targetModules).entries()) {
    init.set(m.path, { A: randUniform(spec.rank * m.inFeatures, seed + 2 * i, -0.3, 0.3), B: randUniform(m.outFeatures * spec.rank, seed + 2 * i + 1, -0.3, 0.3) });
  }
  return createAdapter(ctx, model.config, spec, seed, init);
}

/**
 * B = 2 rows of T = 16: row 0 one document, row 1 two packed documents (positions restart at 9),
 * so learned positions and document masking are both exercised. labels = next token, -100 at
 * each document's end.
 */
function packedBatch(seed: number, V: number): Batch {
  const B = 2;
  const T = 16;
  const next = rng(seed);
  const tokens = Int32Array.from({ length: B * T }, () => Math.floor(next() * V) % V);
  const docIds = Int32Array.from({ length: B * T }, (_, i) => (i < T ? 0 : i - T < 9 ? 1 : 2));
  const positions = Int32Array.from({ length: B * T }, (_, i) => (i < T ? i : i - T < 9 ? i - T : i - T - 9));
  const labels = Int32Array.from({ length: B * T }, (_, i) => (i + 1 < B * T && docIds[i + 1] === docIds[i] ? tokens[i + 1] : -100));
  return { B, T, tokens, labels, positions, docIds, trainedTokens: labels.filter((l) => l !== -100).length };
}

function trainConfig(steps: number, activationCheckpointing = false): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    lora: { rank: 4, alpha: 8, dropout: 0, targetModules: GPT2_ALL_LINEAR, useRslora: false },
    learningRate: 1e-2,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: 2,
    seqLen: 16,
    gradAccumulation: 1,
    evalEvery: 0,
    checkpointEvery: 0,
    activationCheckpointing,
    seed: 3,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'tiny-gpt2', architecture: 'gpt2', fingerprint: '' }, dataset: { name: 'packed', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

function hostBatch(b: Batch): HostBatch {
  return { B: b.B, T: b.T, tokens: b.tokens, positions: b.positions, docIds: b.docIds, labels: b.labels };
}

/** Loss of one batch, and (with grads) the adapter's gradients of it, freshly zeroed first. */
async function lossOf(model: CausalLM, adapter: LoraAdapter, b: Batch, lossAcc: Tensor, grads: { activationCheckpointing: boolean } | null): Promise<number> {
  const inp = model.upload(hostBatch(b));
  const run = { adapter, seed: 0, training: false };
  model.zero(lossAcc);
  if (grads) {
    for (const m of adapter.modules.values()) {
      model.zero(m.dA);
      model.zero(m.dB);
    }
    await model.trainStep(inp, lossAcc, { run, countedTokens: b.trainedTokens, labelSmoothing: 0, activationCheckpointing: grads.activationCheckpointing });
  } else {
    await model.evalLoss(inp, lossAcc, { run, countedTokens: b.trainedTokens });
  }
  model.ctx.flush();
  return new Float32Array(await readBuffer(model.ctx, lossAcc.buffer, 4))[0];
}

/** Trains `steps` steps on the packed batch from PEFT's init (B = 0); returns the losses. */
async function train(ctx: GpuContext, model: CausalLM, steps: number, activationCheckpointing = false): Promise<{ adapter: LoraAdapter; losses: number[] }> {
  const config = trainConfig(steps, activationCheckpointing);
  const adapter = createAdapter(ctx, model.config, config.lora, 11);
  const losses: number[] = [];
  const t = new Trainer(ctx, model, adapter, new FixedBatches([packedBatch(5, model.config.vocabSize)]), null, config, null, runRecord('gpt2'), (p) => losses.push(p.loss));
  expect(await t.runLoop()).toBe('finished');
  t.release();
  return { adapter, losses };
}

describe('GPT-2 against PyTorch', () => {
  const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'tiny_models_logits.json'), 'utf8')) as { models: PromptFixture[] };
  const m = fx.models.find((x) => x.architecture === 'GPT2LMHeadModel')!;

  it('picks Gpt2Blocks with learned positions and a tied head', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    expect(model.blocks).toBeInstanceOf(Gpt2Blocks);
    expect(model.config.positions).toBe('learned');
    expect(model.blocks.lmHeadName()).toBe('transformer.wte.weight');
    model.release();
  });

  it('tiny-gpt2 logits at every position', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    const V = model.config.vocabSize;
    const got = new Float32Array(m.ids.length * V);
    for (let t = 1; t <= m.ids.length; t++) got.set(await lastLogits(model, m.ids.slice(0, t), null), (t - 1) * V);
    expectClose('tiny-gpt2 logits', got, Float32Array.from(m.logits), LOGITS_TOL);
    model.release();
  });

  it('rejects positions past n_positions instead of clamping them', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    expect(() => model.upload({ B: 1, T: 2, tokens: Int32Array.from([1, 2]), positions: Int32Array.from([63, 64]), docIds: null })).toThrow(/position 64 at token 1 is outside this model's 64 learned positions/);
    model.release();
  });
});

describe('GPT-2 generation with the KV cache', () => {
  it.each([
    ['base model', false],
    ['with a LoRA adapter on all four linears', true],
  ] as const)('%s: greedy tokens and decode logits equal the full forward', async (_name, withAdapter) => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    const adapter = withAdapter ? randomAdapter(ctx, model, 21) : null;
    const run = adapter && { adapter, seed: 0, training: false };
    const prompt = [2, 20, 33, 47, 11];
    const ids = await generateIds(model, prompt, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: 12, seed: 0, eosIds: [], run });
    expect(ids.length).toBe(12);
    // each generated token is the argmax of a full (no cache) forward over everything before it
    const seq = [...prompt];
    for (const id of ids) {
      expect(id).toBe(argmax(await lastLogits(model, seq, adapter)));
      seq.push(id);
    }
    // and the cached logits themselves match, step by step
    const V = model.config.vocabSize;
    const cache = model.kvCache(seq.length);
    for (let t = prompt.length; t < seq.length; t++) {
      // read each result before the next forward: both paths share the 'inf' buffers
      const l = t === prompt.length ? await model.decode(prompt, 0, cache, run) : await model.decode([seq[t - 1]], t - 1, cache, run);
      const cached = new Float32Array(await readBuffer(ctx, l.buffer, V * 4));
      expectClose(`decode logits before token ${t}`, cached, await lastLogits(model, seq.slice(0, t), adapter), DECODE_TOL);
    }
    if (adapter) {
      // the adapter really is applied on this path
      const base = await lastLogits(model, prompt, null);
      expect(Math.max(...(await lastLogits(model, prompt, adapter)).map((v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-2);
      releaseAdapter(ctx, adapter);
    }
    model.release();
  });
});

describe('GPT-2 LoRA training', () => {
  it('a few steps lower the loss, and every module’s A and B gradients match central differences', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    const { adapter, losses } = await train(ctx, model, 4);
    expect(losses.length).toBe(4);
    expect(losses[3]).toBeLessThan(losses[0] - 0.02);
    expect(adapter.modules.size).toBe(4 * model.config.numLayers);

    const batch = packedBatch(9, model.config.vocabSize);
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    await lossOf(model, adapter, batch, lossAcc, { activationCheckpointing: false });
    const grads = new Map<string, { dA: Float32Array; dB: Float32Array }>();
    for (const m of adapter.modules.values()) grads.set(m.path, { dA: await downloadF32(ctx, m.dA), dB: await downloadF32(ctx, m.dB) });

    const analytic: number[] = [];
    const numeric: number[] = [];
    const where: string[] = [];
    // layer 1's four modules and layer 0's c_attn (whose gradient flows back through layer 1)
    const checked = ['transformer.h.1.attn.c_attn', 'transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_fc', 'transformer.h.1.mlp.c_proj', 'transformer.h.0.attn.c_attn'];
    for (const path of checked) {
      const m = adapter.modules.get(path)!;
      const C = model.config.hiddenSize;
      const r = adapter.spec.rank;
      // c_attn's B: one element in each of its q, k and v row blocks (checks the split's order)
      const blocks = path.endsWith('c_attn') ? [0, 1, 2].map((j) => ({ which: 'B' as const, from: j * C * r, to: (j + 1) * C * r })) : [{ which: 'B' as const, from: 0, to: m.B.shape[0] * r }];
      for (const { which, from, to } of [{ which: 'A' as const, from: 0, to: r * m.inFeatures }, ...blocks]) {
        const g = grads.get(path)![which === 'A' ? 'dA' : 'dB'];
        const k = from + argmax(g.subarray(from, to).map(Math.abs));
        const param = m[which];
        const orig = (await downloadF32(ctx, param))[k];
        const at = async (v: number) => {
          ctx.device.queue.writeBuffer(param.buffer, k * 4, Float32Array.of(v));
          return lossOf(model, adapter, batch, lossAcc, null);
        };
        const plus = await at(orig + FD_EPS);
        const minus = await at(orig - FD_EPS);
        await at(orig);
        analytic.push(g[k]);
        numeric.push((plus - minus) / (2 * FD_EPS));
        where.push(`${path}.${which}[${k}]`);
      }
    }
    // fail loudly if the check degenerated (gradients too small to distinguish from noise)
    for (const [i, g] of analytic.entries()) expect(Math.abs(g), where[i]).toBeGreaterThan(2e-2);
    expectClose(`LoRA gradients vs central differences (${where.join(', ')})`, analytic, numeric, FD_TOL);
    releaseTensor(ctx, lossAcc);
    releaseAdapter(ctx, adapter);
    model.release();
  });

  it('activation checkpointing gives bit-identical gradients and training', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    const adapter = randomAdapter(ctx, model, 31);
    const batch = packedBatch(13, model.config.vocabSize);
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    const results: { loss: number; grads: number[] }[] = [];
    for (const activationCheckpointing of [false, true]) {
      const loss = await lossOf(model, adapter, batch, lossAcc, { activationCheckpointing });
      const g: number[] = [];
      for (const m of adapter.modules.values()) g.push(...(await downloadF32(ctx, m.dA)), ...(await downloadF32(ctx, m.dB)));
      results.push({ loss, grads: g });
    }
    expect(results[1].loss).toBe(results[0].loss);
    expect(results[1].grads).toEqual(results[0].grads);
    expect(results[0].grads.some((v) => v !== 0)).toBe(true);
    releaseTensor(ctx, lossAcc);
    releaseAdapter(ctx, adapter);

    const plain = await train(ctx, model, 2, false);
    const ckpt = await train(ctx, model, 2, true);
    expect(ckpt.losses).toEqual(plain.losses);
    const a = await downloadAdapter(ctx, plain.adapter);
    const b = await downloadAdapter(ctx, ckpt.adapter);
    for (const [path, w] of a) expect(Array.from(b.get(path)!.B), path).toEqual(Array.from(w.B));
    releaseAdapter(ctx, plain.adapter);
    releaseAdapter(ctx, ckpt.adapter);
    model.release();
  });

  it('exports a PEFT adapter with fan_in_fan_out and the fused c_attn B of shape [3C, r]', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2_DIR);
    const { adapter } = await train(ctx, model, 2);
    const weights = await downloadAdapter(ctx, adapter);
    const files = exportPeftFiles({
      config: model.config,
      modelName: 'tiny-gpt2',
      rank: 4,
      alpha: 8,
      dropout: 0,
      useRslora: false,
      adapters: [...weights].map(([module, w]) => ({ module, a: w.A, b: w.B })),
    });
    const cfgText = new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.bytes);
    const cfg = JSON.parse(cfgText) as Record<string, unknown>;
    expect(cfg.fan_in_fan_out).toBe(true);
    expect(cfg.r).toBe(4);
    const bytes = files.find((f) => f.name === 'adapter_model.safetensors')!.bytes;
    const header = await readSafetensorsHeader(bufferSource(bytes, 'adapter_model.safetensors'));
    const C = model.config.hiddenSize;
    const F = model.config.intermediateSize;
    const shape = (name: string) => header.byName.get(`base_model.model.transformer.h.0.${name}.weight`)?.shape;
    expect(shape('attn.c_attn.lora_A')).toEqual([4, C]);
    expect(shape('attn.c_attn.lora_B')).toEqual([3 * C, 4]);
    expect(shape('attn.c_proj.lora_B')).toEqual([C, 4]);
    expect(shape('mlp.c_fc.lora_B')).toEqual([F, 4]);
    expect(shape('mlp.c_proj.lora_A')).toEqual([4, F]);
    expect(header.tensors.length).toBe(2 * 4 * model.config.numLayers);
    // and it reads back, against the base model, to exactly the trained weights
    const back = await readPeftAdapter(parsePeftConfig(cfgText), bufferSource(bytes, 'adapter_model.safetensors'), model.config);
    for (const ad of back.adapters) {
      expect(Array.from(ad.b), ad.module).toEqual(Array.from(weights.get(ad.module)!.B));
      expect(Array.from(ad.a), ad.module).toEqual(Array.from(weights.get(ad.module)!.A));
    }
    expect(weights.get('transformer.h.0.attn.c_attn')!.B.some((v) => v !== 0)).toBe(true);
    releaseAdapter(ctx, adapter);
    model.release();
  });
});
