// What a training step costs in GPU commands, and that the cheap way gives the same numbers: one
// submit and one compute pass per step without gradient accumulation (a micro-batch more costs a
// submit more), no buffer created in a steady-state step, and bit-identical losses and LoRA
// weights whether dispatches share a pass or each has its own.
import { describe, expect, it } from 'vitest';
import type { GpuCounts } from '../gpu/counters';
import { prepareMatmulKernels } from '../gpu/ops/matmul';
import { prepareRowKernels } from '../gpu/ops/rowKernelChecks';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { createAdapter, downloadAdapter, releaseAdapter } from '../model/adapter';
import { createRandomModel } from '../model/randomModel';
import { mulberry32 } from '../util/prng';
import type { Batch } from '../data';
import type { RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, LLAMA_ALL_LINEAR, type TrainConfig } from './config';
import { FixedBatches, Trainer } from './trainer';

const SHAPE = { hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 96 };

function batches(count: number, B: number, T: number): Batch[] {
  const next = mulberry32(7);
  return Array.from({ length: count }, () => {
    const tokens = Int32Array.from({ length: B * T }, () => next() % SHAPE.vocabSize);
    const labels = Int32Array.from({ length: B * T }, () => next() % SHAPE.vocabSize);
    return { B, T, tokens, labels, positions: Int32Array.from({ length: B * T }, (_, i) => i % T), docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)), trainedTokens: B * T };
  });
}

const run = (id: string): RunRecord => ({ id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'tiny', architecture: 'llama', fingerprint: '' }, dataset: { name: 'random', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 });

async function train(merge: boolean, gradAccumulation: number, steps: number) {
  const ctx = await getTestGpu();
  // the row kernels' one-time checks on this device (otherwise run inside the first step)
  await prepareRowKernels(ctx);
  // and the matmul variants' (matmulTrust.ts), likewise run once per device at first use
  await prepareMatmulKernels(ctx);
  ctx.mergePasses = merge;
  const model = createRandomModel(ctx, SHAPE, { seed: 3 });
  const lora = { rank: 4, alpha: 8, dropout: 0.1, targetModules: LLAMA_ALL_LINEAR, useRslora: false };
  const config: TrainConfig = { ...DEFAULT_CONFIG, lora, maxSteps: steps, batchSize: 2, seqLen: 12, gradAccumulation, evalEvery: 0, checkpointEvery: 0, seed: 5 };
  const adapter = createAdapter(ctx, model.config, lora, 11);
  const trainer = new Trainer(ctx, model, adapter, new FixedBatches(batches(3, 2, 12)), null, config, null, run(`m${merge}`), () => {});
  const losses: number[] = [];
  const counts: GpuCounts[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const before = ctx.counters.snapshot();
      const r = await trainer.trainOneStep();
      trainer.step++;
      counts.push(ctx.counters.since(before));
      losses.push(r.loss);
    }
    return { losses, counts, weights: await downloadAdapter(ctx, adapter) };
  } finally {
    ctx.mergePasses = true;
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
  }
}

describe('GPU commands of a training step', () => {
  it('one submit and one pass per step, nothing created after the first, same numbers as one pass per dispatch', async () => {
    const merged = await train(true, 1, 3);
    const separate = await train(false, 1, 3);
    for (const c of merged.counts) {
      expect(c.submits).toBe(1);
      expect(c.passes).toBe(1);
      expect(c.dispatches).toBeGreaterThan(50);
    }
    // steady state: the workspace, the readback and the uniform arena already exist
    expect(merged.counts[1].buffers).toBe(0);
    expect(merged.counts[2].buffers).toBe(0);
    expect(separate.counts[2].passes).toBe(separate.counts[2].dispatches);
    expect(separate.counts[2].dispatches).toBe(merged.counts[2].dispatches);
    expect(merged.losses).toEqual(separate.losses);
    for (const [path, w] of merged.weights) {
      const s = separate.weights.get(path)!;
      expect(w.A).toEqual(s.A);
      expect(w.B).toEqual(s.B);
    }
  });

  it('with gradient accumulation each micro-batch but the last is submitted before the next upload', async () => {
    const r = await train(true, 2, 2);
    expect(r.counts[1].submits).toBe(2);
    expect(r.losses.every(Number.isFinite)).toBe(true);
  });
});
