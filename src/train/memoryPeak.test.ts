// The memory estimate (train/memory.ts, from each architecture module's activation and scratch
// lists) against what the allocator really holds at its peak during a LoRA training step, for
// every architecture fixture of src/arch: within 5%.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOf } from '../arch/registry';
import type { Batch } from '../data';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { createAdapter, releaseAdapter } from '../model/adapter';
import { FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import type { RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from './config';
import { estimateMemory } from './memory';
import { FixedBatches, Trainer } from './trainer';

const B = 4;
const T = 256;

function batch(V: number): Batch {
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V);
  const labels = Int32Array.from({ length: B * T }, (_, i) => (i % T === T - 1 ? -100 : tokens[i + 1]));
  const positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
  const docIds = Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T));
  return { B, T, tokens, labels, positions, docIds, trainedTokens: B * (T - 1) };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: id, architecture: id, fingerprint: '' }, dataset: { name: 'b', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

describe('memory estimate vs the allocator peak of a LoRA step', () => {
  it.each([
    ['arch-llama3', false],
    ['arch-llama3', true],
    ['arch-qwen2', false],
    ['arch-qwen3', false],
    ['arch-qwen3', true],
    ['arch-mistral', false],
    ['arch-gpt2', false],
    ['arch-gpt2', true],
    ['arch-gemma3', false],
    ['arch-gemma3', true],
    ['arch-phi3', false],
    ['arch-phi3', true],
  ] as const)('%s (activation checkpointing %s): within 5%', async (folder, activationCheckpointing) => {
    const ctx = await getTestGpu();
    const before = ctx.allocator.liveBytes;
    ctx.allocator.resetPeak();
    const model = await loadModelDir(ctx, join(FIXTURES_DIR, folder));
    const config: TrainConfig = {
      ...DEFAULT_CONFIG,
      lora: { rank: 8, alpha: 16, dropout: 0, targetModules: [...archOf(model.config).loraTargets.allLinear], useRslora: false },
      maxSteps: 1, batchSize: B, seqLen: T, gradAccumulation: 1, evalEvery: 0, checkpointEvery: 0, activationCheckpointing, schedule: 'constant', warmupSteps: 0,
    };
    const adapter = createAdapter(ctx, model.config, config.lora, 1);
    const trainer = new Trainer(ctx, model, adapter, new FixedBatches([batch(model.config.vocabSize)]), null, config, null, runRecord(folder), () => {});
    expect(await trainer.runLoop()).toBe('finished');
    const peak = ctx.allocator.peakBytes - before;
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
    const est = estimateMemory(model.config, config);
    const ratio = est.totalBytes / peak;
    console.log(`${folder} ckpt=${activationCheckpointing}: estimate ${est.totalBytes} B, allocator peak ${peak} B, ratio ${ratio.toFixed(4)}`);
    expect(Math.abs(ratio - 1), `estimate ${est.totalBytes} vs peak ${peak}`).toBeLessThan(0.05);
  });
});
