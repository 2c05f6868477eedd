// LoRA fine-tuning of stories260K against PyTorch (reference/train_fixtures.py): same initial A
// and B, same 20 batches, AdamW with clipping; our per-step losses must match within 1% and the
// final adapter within the stated tolerance. Then exact resume: a run paused at step k and
// resumed from its checkpoint gives the same losses and weights as an uninterrupted run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { createAdapter, downloadAdapter, releaseAdapter } from '../model/adapter';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from './config';
import { FixedBatches, Trainer } from './trainer';

interface TrainFixture {
  config: { rank: number; alpha: number; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number; batchSize: number; seqLen: number; numSteps: number; targetModules: string[] };
  modules: { module: string; keyA: string; keyB: string }[];
  batches: { tokens: number[]; labels: number[] }[];
  losses: number[];
  gradNorms: number[];
}

const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_lora_train.json'), 'utf8')) as TrainFixture;

async function readAdapterFile(file: string) {
  const src = await fileSource(join(FIXTURES_DIR, file));
  const header = await readSafetensorsHeader(src);
  const out = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (const m of fx.modules) out.set(m.module, { A: await readTensorF32(src, header, m.keyA), B: await readTensorF32(src, header, m.keyB) });
  return out;
}

function fixtureBatches(): Batch[] {
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

function fixtureConfig(steps: number): TrainConfig {
  const c = fx.config;
  return {
    ...DEFAULT_CONFIG,
    lora: { rank: c.rank, alpha: c.alpha, dropout: 0, targetModules: c.targetModules, useRslora: false },
    learningRate: c.lr,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: c.batchSize,
    seqLen: c.seqLen,
    gradAccumulation: 1,
    weightDecay: c.weightDecay,
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    maxGradNorm: c.maxGradNorm,
    evalEvery: 0,
    checkpointEvery: 0,
    seed: 7,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'stories260K', architecture: 'llama', fingerprint: '' }, dataset: { name: 'fixture', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

describe('LoRA training on stories260K against PyTorch', () => {
  it('matches the per-step losses within 1% and the final adapter', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const config = fixtureConfig(fx.config.numSteps);
    const adapter = createAdapter(ctx, model.config, { ...config.lora }, 0, await readAdapterFile('stories260k_lora_init.safetensors'));
    const losses: number[] = [];
    const norms: number[] = [];
    const trainer = new Trainer(ctx, model, adapter, new FixedBatches(fixtureBatches()), null, config, null, runRecord('fx'), (p) => {
      losses.push(p.loss);
      norms.push(p.gradNorm);
    });
    expect(await trainer.runLoop()).toBe('finished');
    // 1% per step, as the issue asks; the norms are a finer check of the backward pass
    expectClose('per-step loss', losses, fx.losses, { atol: 0, rtol: 0.01 });
    expectClose('per-step gradient norm (before clipping)', norms, fx.gradNorms, { atol: 1e-4, rtol: 2e-3 });
    const final = await readAdapterFile('stories260k_lora_final.safetensors');
    const ours = await downloadAdapter(ctx, adapter);
    for (const [path, ref] of final) {
      // f32 GPU vs the f64 oracle after 20 Adam steps (the oracle's own f32 rerun differs by 3.4e-5)
      expectClose(`${path} A`, ours.get(path)!.A, ref.A, { atol: 3e-4, rtol: 3e-3 });
      expectClose(`${path} B`, ours.get(path)!.B, ref.B, { atol: 3e-4, rtol: 3e-3 });
    }
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
  });

  it('a run paused at step 3 and resumed from its checkpoint equals an uninterrupted run', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const config = { ...fixtureConfig(6), lora: { ...fixtureConfig(6).lora, dropout: 0.1 } };
    const init = await readAdapterFile('stories260k_lora_init.safetensors');
    const batches = fixtureBatches();

    const a1 = createAdapter(ctx, model.config, config.lora, 0, init);
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, a1, new FixedBatches(batches), null, config, null, runRecord('full'), (p) => full.push(p.loss));
    await t1.runLoop();
    const fullWeights = await downloadAdapter(ctx, a1);
    t1.release();
    releaseAdapter(ctx, a1);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('resumed');
    await store.putRun(run);
    const a2 = createAdapter(ctx, model.config, config.lora, 0, init);
    const part: number[] = [];
    const t2 = new Trainer(ctx, model, a2, new FixedBatches(batches), null, config, store, run, (p) => {
      part.push(p.loss);
      if (p.step === 3) t2.requestPause();
    });
    expect(await t2.runLoop()).toBe('paused');
    t2.release();
    releaseAdapter(ctx, a2);
    expect(part.length).toBe(3);

    // a fresh adapter with other initial weights: everything must come from the checkpoint
    const saved = await store.getRun('resumed');
    const ckpt = await store.loadCheckpoint(saved!);
    expect(ckpt?.step).toBe(3);
    const a3 = createAdapter(ctx, model.config, config.lora, 99);
    const t3 = new Trainer(ctx, model, a3, new FixedBatches(batches), null, config, store, saved!, (p) => part.push(p.loss), ckpt!);
    expect(await t3.runLoop()).toBe('finished');
    const resumedWeights = await downloadAdapter(ctx, a3);
    t3.release();
    releaseAdapter(ctx, a3);
    model.release();

    expect(part).toEqual(full);
    for (const [path, w] of fullWeights) {
      expect(Array.from(resumedWeights.get(path)!.A)).toEqual(Array.from(w.A));
      expect(Array.from(resumedWeights.get(path)!.B)).toEqual(Array.from(w.B));
    }
  });
});

describe('activation checkpointing', () => {
  it('recomputing each layer in backward gives the same losses and weights as keeping activations', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const init = await readAdapterFile('stories260k_lora_init.safetensors');
    const results: { losses: number[]; weights: Map<string, { A: Float32Array; B: Float32Array }> }[] = [];
    for (const activationCheckpointing of [false, true]) {
      const config = { ...fixtureConfig(3), activationCheckpointing, lora: { ...fixtureConfig(3).lora, dropout: 0.1 } };
      const adapter = createAdapter(ctx, model.config, config.lora, 0, init);
      const losses: number[] = [];
      const t = new Trainer(ctx, model, adapter, new FixedBatches(fixtureBatches()), null, config, null, runRecord(`ckpt-${activationCheckpointing}`), (p) => losses.push(p.loss));
      await t.runLoop();
      results.push({ losses, weights: await downloadAdapter(ctx, adapter) });
      t.release();
      releaseAdapter(ctx, adapter);
    }
    model.release();
    expect(results[1].losses).toEqual(results[0].losses);
    for (const [path, w] of results[0].weights) {
      expect(Array.from(results[1].weights.get(path)!.A)).toEqual(Array.from(w.A));
      expect(Array.from(results[1].weights.get(path)!.B)).toEqual(Array.from(w.B));
    }
  });
});
