// LoRA+ (Hayou et al. 2024): every B trains with ratio × lr, every A with lr. A 20-step run matches
// PyTorch's (torch.optim.AdamW with two parameter groups, reference/loraplus_fixtures.py). Checked
// also against the TS AdamW reference (f64) with the step's own gradients: the GPU step must equal the reference
// at ratio·lr for B and lr for A (and differ clearly from plain lr for B). Then a short run lowers
// the loss and a LoRA+ run paused and resumed is bit-identical to an uninterrupted one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import { adamwStepRef } from '../gpu/ops/adamw.ref';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32 } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { createAdapter, downloadAdapter, releaseAdapter } from '../model/adapter';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { expectClose } from '../util/check';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from './config';
import { FixedBatches, lrScaleOf, Trainer } from './trainer';

interface TrainFixture {
  config: { rank: number; alpha: number; batchSize: number; seqLen: number; targetModules: string[] };
  modules: { module: string; keyA: string; keyB: string }[];
  batches: { tokens: number[]; labels: number[] }[];
}

const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_lora_train.json'), 'utf8')) as TrainFixture;

async function readAdapterFile(file: string) {
  const src = await fileSource(join(FIXTURES_DIR, file));
  const header = await readSafetensorsHeader(src);
  const out = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (const m of fx.modules) out.set(m.module, { A: await readTensorF32(src, header, m.keyA), B: await readTensorF32(src, header, m.keyB) });
  return out;
}

function batches(): Batch[] {
  const { batchSize: B, seqLen: T } = fx.config;
  return fx.batches.map((b) => ({
    B,
    T,
    tokens: Int32Array.from(b.tokens),
    labels: Int32Array.from(b.labels),
    positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
    docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
    trainedTokens: b.labels.filter((l) => l !== -100).length,
  }));
}

function config(steps: number, ratio: number, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    lora: { rank: fx.config.rank, alpha: fx.config.alpha, dropout: 0, targetModules: fx.config.targetModules, useRslora: false, useLoraPlus: true, loraPlusRatio: ratio },
    learningRate: 1e-3,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: fx.config.batchSize,
    seqLen: fx.config.seqLen,
    gradAccumulation: 1,
    weightDecay: 0.01,
    maxGradNorm: 0,
    evalEvery: 0,
    checkpointEvery: 0,
    seed: 7,
    ...over,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'stories260K', architecture: 'llama', fingerprint: '' }, dataset: { name: 'fixture', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

describe('LoRA+ settings', () => {
  it('B gets the ratio, A and other methods 1; off means 1; bad ratios are refused', () => {
    const c = config(1, 16);
    expect(lrScaleOf('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', c)).toBe(16);
    expect(lrScaleOf('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', c)).toBe(1);
    expect(lrScaleOf('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', { ...c, lora: { ...c.lora, useLoraPlus: false } })).toBe(1);
    expect(lrScaleOf('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', { ...c, lora: { ...c.lora, loraPlusRatio: undefined } })).toBe(16);
    expect(lrScaleOf('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', { ...c, method: 'full' })).toBe(1);
    expect(validateConfig(c)).toEqual([]);
    for (const bad of [0.5, 0, Number.NaN, 2000]) {
      expect(validateConfig(config(1, bad)).map((i) => i.field)).toEqual(['loraPlusRatio']);
    }
    // a bad ratio with LoRA+ off is not an issue (the field is unused)
    expect(validateConfig({ ...c, lora: { ...c.lora, useLoraPlus: false, loraPlusRatio: 0 } })).toEqual([]);
  });
});

describe('LoRA+ training on stories260K', () => {
  it('20 steps match PyTorch’s LoRA+ (AdamW with B’s parameter group at 16 × lr; reference/loraplus_fixtures.py)', async () => {
    const ref = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_loraplus.json'), 'utf8')) as { ratio: number; lr: number; losses: number[]; gradNorms: number[] };
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(20, ref.ratio, { learningRate: ref.lr, maxGradNorm: 1 });
    const adapter = createAdapter(ctx, model.config, { ...c.lora }, 0, await readAdapterFile('stories260k_lora_init.safetensors'));
    const losses: number[] = [];
    const norms: number[] = [];
    const t = new Trainer(ctx, model, adapter, new FixedBatches(batches()), null, c, null, runRecord('loraplus-torch'), (p) => {
      losses.push(p.loss);
      norms.push(p.gradNorm);
    });
    expect(await t.runLoop()).toBe('finished');
    // the same tolerances as plain LoRA against train_fixtures.py (src/train/trainer.test.ts)
    expectClose('LoRA+ per-step loss', losses, ref.losses, { atol: 0, rtol: 0.01 });
    expectClose('LoRA+ per-step gradient norm (before clipping)', norms, ref.gradNorms, { atol: 1e-4, rtol: 2e-3 });
    const final = await readAdapterFile('stories260k_loraplus_final.safetensors');
    const ours = await downloadAdapter(ctx, adapter);
    let worst = 0;
    for (const [path, w] of final) {
      const r1 = expectClose(`${path} A`, ours.get(path)!.A, w.A, { atol: 3e-4, rtol: 3e-3 });
      const r2 = expectClose(`${path} B`, ours.get(path)!.B, w.B, { atol: 3e-4, rtol: 3e-3 });
      worst = Math.max(worst, r1.maxAbsErr, r2.maxAbsErr);
    }
    console.log(`LoRA+ vs PyTorch: losses ${losses[0].toFixed(4)} -> ${losses[19].toFixed(4)} (PyTorch ${ref.losses[0].toFixed(4)} -> ${ref.losses[19].toFixed(4)}), final A/B max |diff| ${worst.toExponential(2)}`);
    t.release();
    releaseAdapter(ctx, adapter);
    model.release();
  }, 300_000);

  it('each AdamW step moves B at ratio·lr and A at lr (TS AdamW reference on the step’s own gradients)', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const ratio = 16;
    const c = config(3, ratio);
    // a trained adapter: A and B both have gradients from the first step
    const adapter = createAdapter(ctx, model.config, c.lora, 0, await readAdapterFile('stories260k_lora_final.safetensors'));
    const trainer = new Trainer(ctx, model, adapter, new FixedBatches(batches()), null, c, null, runRecord('plus'), () => {});
    const ref = new Map<string, { p: Float64Array; m: Float64Array; v: Float64Array; lr: number }>();
    for (const mod of adapter.modules.values()) {
      for (const [f, t] of [['A', mod.A] as const, ['B', mod.B] as const]) {
        const p = Float64Array.from(await downloadF32(ctx, t));
        ref.set(`${mod.path} ${f}`, { p, m: new Float64Array(p.length), v: new Float64Array(p.length), lr: f === 'B' ? ratio * c.learningRate : c.learningRate });
      }
    }
    let movedB = 0;
    let plainB = 0;
    for (let step = 1; step <= 3; step++) {
      const before = new Map<string, Float32Array>();
      for (const mod of adapter.modules.values()) before.set(mod.path, await downloadF32(ctx, mod.B));
      const r = await trainer.trainOneStep();
      expect(r.nonFinite).toBe(false);
      trainer.step++;
      for (const mod of adapter.modules.values()) {
        for (const [f, t, g] of [['A', mod.A, mod.dA] as const, ['B', mod.B, mod.dB] as const]) {
          const s = ref.get(`${mod.path} ${f}`)!;
          const grad = await downloadF32(ctx, g);
          adamwStepRef(s.p, grad, s.m, s.v, { lr: s.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, step });
          const ours = await downloadF32(ctx, t);
          // f32 kernel vs f64 reference, the same gradients: a few ulps of the update
          expectClose(`step ${step} ${mod.path} ${f}`, ours, s.p, { atol: 2e-6, rtol: 1e-5 });
          if (f === 'B') {
            const b0 = before.get(mod.path)!;
            for (let i = 0; i < ours.length; i++) {
              movedB = Math.max(movedB, Math.abs(ours[i] - b0[i]));
            }
            if (step === 1) {
              // what plain LoRA would have done to B on this first step (bias-corrected Adam: about lr per element)
              const p = Float64Array.from(b0);
              adamwStepRef(p, grad, new Float64Array(p.length), new Float64Array(p.length), { lr: c.learningRate, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, step: 1 });
              for (let i = 0; i < p.length; i++) plainB = Math.max(plainB, Math.abs(p[i] - b0[i]));
            }
          }
        }
      }
    }
    // the largest B move is ~ratio·lr, far beyond what lr alone allows
    expect(movedB).toBeGreaterThan(8 * c.learningRate);
    expect(plainB).toBeLessThan(1.5 * c.learningRate);
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
  }, 240_000);

  it('a short run lowers the loss, and a run paused at step 3 and resumed equals an uninterrupted one bit for bit', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(8, 16, { learningRate: 2e-3, maxGradNorm: 1, lora: { ...config(8, 16).lora, dropout: 0.1 } });
    const init = await readAdapterFile('stories260k_lora_init.safetensors');
    // the same four batches again and again: the loss on them must fall
    const data = batches().slice(0, 4);

    const a1 = createAdapter(ctx, model.config, c.lora, 0, init);
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, a1, new FixedBatches(data), null, c, null, runRecord('full'), (p) => full.push(p.loss));
    expect(await t1.runLoop()).toBe('finished');
    const fullWeights = await downloadAdapter(ctx, a1);
    t1.release();
    releaseAdapter(ctx, a1);
    const first = full.slice(0, 4).reduce((a, b) => a + b, 0);
    const last = full.slice(4, 8).reduce((a, b) => a + b, 0);
    expect(last).toBeLessThan(first * 0.98);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('resumed');
    await store.putRun(run);
    const a2 = createAdapter(ctx, model.config, c.lora, 0, init);
    const part: number[] = [];
    const t2 = new Trainer(ctx, model, a2, new FixedBatches(data), null, c, store, run, (p) => {
      part.push(p.loss);
      if (p.step === 3) t2.requestPause();
    });
    expect(await t2.runLoop()).toBe('paused');
    t2.release();
    releaseAdapter(ctx, a2);
    const saved = await store.getRun('resumed');
    const ckpt = await store.loadCheckpoint(saved!);
    const a3 = createAdapter(ctx, model.config, c.lora, 99);
    const t3 = new Trainer(ctx, model, a3, new FixedBatches(data), null, c, store, saved!, (p) => part.push(p.loss), ckpt!);
    expect(await t3.runLoop()).toBe('finished');
    const resumed = await downloadAdapter(ctx, a3);
    t3.release();
    releaseAdapter(ctx, a3);
    model.release();
    expect(part).toEqual(full);
    for (const [path, w] of fullWeights) {
      expect(Array.from(resumed.get(path)!.A)).toEqual(Array.from(w.A));
      expect(Array.from(resumed.get(path)!.B)).toEqual(Array.from(w.B));
    }
  }, 240_000);
});
