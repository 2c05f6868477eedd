// DoRA in the training loop: on the demo model a short run lowers the loss of the batches it
// trains on; a DoRA run paused and resumed from its checkpoint is bit-identical to an
// uninterrupted one (A, B and the magnitude), as is one with activation checkpointing; and the
// memory estimate knows DoRA's extra buffers (within 5% of the allocator's peak, as for LoRA in
// memoryPeak.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOf } from '../arch/registry';
import type { Batch } from '../data';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { createAdapter, downloadAdapter, releaseAdapter, type LoraAdapter } from '../model/adapter';
import type { CausalLM } from '../model/causalLM';
import { initDoraMagnitudes } from '../model/doraLinear';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from './config';
import { estimateMemory } from './memory';
import { FixedBatches, Trainer } from './trainer';

interface TrainFixture {
  config: { rank: number; alpha: number; batchSize: number; seqLen: number; targetModules: string[] };
  batches: { tokens: number[]; labels: number[] }[];
}
const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_lora_train.json'), 'utf8')) as TrainFixture;

function toBatch(b: { tokens: number[]; labels: number[] }, B: number, T: number): Batch {
  return {
    B,
    T,
    tokens: Int32Array.from(b.tokens),
    labels: Int32Array.from(b.labels),
    positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
    docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
    trainedTokens: b.labels.filter((l) => l !== -100).length,
  };
}
const BATCHES = fx.batches.map((b) => toBatch(b, fx.config.batchSize, fx.config.seqLen));
const TRAIN = BATCHES.slice(0, 16);

function config(steps: number, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    lora: { rank: 4, alpha: 8, dropout: 0, targetModules: fx.config.targetModules, useRslora: false, useDora: true },
    learningRate: 5e-3,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: fx.config.batchSize,
    seqLen: fx.config.seqLen,
    gradAccumulation: 1,
    weightDecay: 0.01,
    maxGradNorm: 1,
    evalEvery: 0,
    checkpointEvery: 0,
    seed: 11,
    ...over,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'stories260K', architecture: 'llama', fingerprint: '' }, dataset: { name: 'fixture', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

async function doraAdapter(model: CausalLM, c: TrainConfig, seed: number): Promise<LoraAdapter> {
  const a = createAdapter(model.ctx, model.config, c.lora, seed);
  await initDoraMagnitudes(model.ctx, a, (n) => model.weights.get(n));
  return a;
}

async function meanLoss(model: CausalLM, adapter: LoraAdapter, batches: Batch[]): Promise<number> {
  const acc = emptyTensor(model.ctx, 'f32', [1], 'held-out loss');
  model.zero(acc);
  const counted = batches.reduce((s, b) => s + b.trainedTokens, 0);
  for (const b of batches) {
    const inp = model.upload({ B: b.B, T: b.T, tokens: b.tokens, positions: b.positions, docIds: b.docIds, labels: b.labels });
    await model.evalLoss(inp, acc, { run: { adapter, seed: 0, training: false }, countedTokens: counted });
    model.ctx.flush();
  }
  const loss = new Float32Array(await readBuffer(model.ctx, acc.buffer, 4))[0];
  releaseTensor(model.ctx, acc);
  return loss;
}

describe('DoRA training', () => {
  it('refuses LoRA dropout with DoRA, with a message saying what to change', () => {
    expect(validateConfig(config(1))).toEqual([]);
    const issues = validateConfig(config(1, { lora: { ...config(1).lora, dropout: 0.05 } }));
    expect(issues).toEqual([{ field: 'dropout', message: expect.stringMatching(/DoRA trains without LoRA dropout here: set dropout to 0, or turn DoRA off/) }]);
  });

  it('a 12-step run cycling 4 batches of the demo model lowers their loss, and trains the magnitudes', async () => {
    // (the fixture's batches are sampled from the demo model itself, so batches it has not seen
    // cannot get better than the base; the CLI test checks a validation split of real text)
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(12);
    const data = TRAIN.slice(0, 4);
    const adapter = await doraAdapter(model, c, 5);
    const m0 = [...(await downloadAdapter(ctx, adapter)).values()].map((m) => m.magnitude!);
    const before = await meanLoss(model, adapter, data);
    const t = new Trainer(ctx, model, adapter, new FixedBatches(data), null, c, null, runRecord('dora'), () => {});
    expect(await t.runLoop()).toBe('finished');
    const after = await meanLoss(model, adapter, data);
    const m1 = [...(await downloadAdapter(ctx, adapter)).values()].map((m) => m.magnitude!);
    t.release();
    releaseAdapter(ctx, adapter);
    model.release();
    console.log(`DoRA loss on its 4 batches ${before.toFixed(4)} -> ${after.toFixed(4)}`);
    expect(after).toBeLessThan(before - 0.05);
    const moved = m1.reduce((mx, m, k) => Math.max(mx, ...m.map((v, j) => Math.abs(v - m0[k][j]))), 0);
    expect(moved).toBeGreaterThan(1e-3);
  }, 300_000);

  it('a DoRA run paused at step 3 and resumed from its checkpoint equals an uninterrupted run bit for bit', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(6);
    const data = TRAIN.slice(0, 6);
    const a1 = await doraAdapter(model, c, 5);
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, a1, new FixedBatches(data), null, c, null, runRecord('full'), (p) => full.push(p.loss));
    expect(await t1.runLoop()).toBe('finished');
    const fullWeights = await downloadAdapter(ctx, a1);
    t1.release();
    releaseAdapter(ctx, a1);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('resumed');
    await store.putRun(run);
    const a2 = await doraAdapter(model, c, 5);
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
    expect(Object.keys(ckpt!.params).filter((k) => k.endsWith('.lora_magnitude_vector'))).toHaveLength(fx.config.targetModules.length * model.config.numLayers);
    // other initial weights (seed 99) and magnitudes: everything must come from the checkpoint
    const a3 = await doraAdapter(model, c, 99);
    const t3 = new Trainer(ctx, model, a3, new FixedBatches(data), null, c, store, saved!, (p) => part.push(p.loss), ckpt!);
    expect(await t3.runLoop()).toBe('finished');
    const resumed = await downloadAdapter(ctx, a3);
    t3.release();
    releaseAdapter(ctx, a3);
    model.release();
    expect(part).toEqual(full);
    for (const [path, w] of fullWeights) {
      const r = resumed.get(path)!;
      expect(Array.from(r.A)).toEqual(Array.from(w.A));
      expect(Array.from(r.B)).toEqual(Array.from(w.B));
      expect(Array.from(r.magnitude!)).toEqual(Array.from(w.magnitude!));
    }
  }, 300_000);

  it('activation checkpointing (each layer recomputed, z with it) gives a bit-identical DoRA run (with gradient accumulation 2)', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const results: { losses: number[]; weights: Map<string, { A: Float32Array; B: Float32Array; magnitude?: Float32Array }> }[] = [];
    for (const activationCheckpointing of [false, true]) {
      const c = config(3, { activationCheckpointing, gradAccumulation: 2 });
      const a = await doraAdapter(model, c, 5);
      const losses: number[] = [];
      const t = new Trainer(ctx, model, a, new FixedBatches(TRAIN.slice(0, 6)), null, c, null, runRecord(`ckpt-${activationCheckpointing}`), (p) => losses.push(p.loss));
      expect(await t.runLoop()).toBe('finished');
      results.push({ losses, weights: await downloadAdapter(ctx, a) });
      t.release();
      releaseAdapter(ctx, a);
    }
    model.release();
    expect(results[1].losses).toEqual(results[0].losses);
    for (const [path, w] of results[0].weights) {
      const r = results[1].weights.get(path)!;
      expect(Array.from(r.A)).toEqual(Array.from(w.A));
      expect(Array.from(r.B)).toEqual(Array.from(w.B));
      expect(Array.from(r.magnitude!)).toEqual(Array.from(w.magnitude!));
    }
  }, 300_000);

  it.each([
    ['arch-qwen3', false],
    ['arch-gpt2', true],
  ] as const)('memory estimate of a DoRA step on %s (checkpointing %s) within 5% of the allocator peak', async (folder, activationCheckpointing) => {
    const ctx = await getTestGpu();
    const before = ctx.allocator.liveBytes;
    ctx.allocator.resetPeak();
    const model = await loadModelDir(ctx, join(FIXTURES_DIR, folder));
    const B = 4;
    const T = 256;
    const V = model.config.vocabSize;
    const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V);
    const batch: Batch = {
      B,
      T,
      tokens,
      labels: Int32Array.from({ length: B * T }, (_, i) => (i % T === T - 1 ? -100 : tokens[i + 1])),
      positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
      docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
      trainedTokens: B * (T - 1),
    };
    const c: TrainConfig = {
      ...config(1),
      lora: { rank: 8, alpha: 16, dropout: 0, targetModules: [...archOf(model.config).loraTargets.allLinear], useRslora: false, useDora: true },
      batchSize: B,
      seqLen: T,
      activationCheckpointing,
    };
    const adapter = await doraAdapter(model, c, 1);
    const trainer = new Trainer(ctx, model, adapter, new FixedBatches([batch]), null, c, null, runRecord(folder), () => {});
    expect(await trainer.runLoop()).toBe('finished');
    const peak = ctx.allocator.peakBytes - before;
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
    const est = estimateMemory(model.config, c);
    const plain = estimateMemory(model.config, { ...c, lora: { ...c.lora, useDora: false } });
    const ratio = est.totalBytes / peak;
    console.log(`${folder} DoRA ckpt=${activationCheckpointing}: estimate ${est.totalBytes} B (LoRA ${plain.totalBytes} B), allocator peak ${peak} B, ratio ${ratio.toFixed(4)}`);
    expect(est.totalBytes).toBeGreaterThan(plain.totalBytes);
    expect(Math.abs(ratio - 1), `estimate ${est.totalBytes} vs peak ${peak}`).toBeLessThan(0.05);
  }, 300_000);
});
