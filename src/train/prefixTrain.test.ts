// Prefix tuning in the training loop: on the demo model a short run lowers the loss of the batches
// it trains on and moves the prefix; a run paused and resumed from its checkpoint is bit-identical
// to an uninterrupted one (losses and every prefix value), as is one with activation checkpointing
// and gradient accumulation; and the memory estimate knows the prefix's buffers (within 5% of the
// allocator's peak, as for LoRA in memoryPeak.test.ts). Rows hold one example each (no packing).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import type { CausalLM } from '../model/causalLM';
import { createPrefixTuning, downloadPrefixTable, PREFIX_PROJECTION_NAMES, prefixParamName, prefixRun, prefixTableFromText, projectPrefix, prefixTableSize, randomPrefixTable, releasePrefixTuning, withPrefixPositions, type PrefixTuning } from '../model/prefixTuning';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from './checkpointStore';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from './config';
import { estimateMemory } from './memory';
import { expectClose } from '../util/check';
import { FixedBatches, Trainer } from './trainer';

interface TrainFixture {
  config: { batchSize: number; seqLen: number };
  batches: { tokens: number[]; labels: number[] }[];
}
const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'stories260k_lora_train.json'), 'utf8')) as TrainFixture;

/** One example per row (docIds = the row), as an unpacked batch. */
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
const TRAIN = fx.batches.map((b) => toBatch(b, fx.config.batchSize, fx.config.seqLen)).slice(0, 16);
const P = 8;

function config(steps: number, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    method: 'prefix',
    prefixTuning: { numVirtualTokens: P },
    pack: false,
    learningRate: 1e-2,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: fx.config.batchSize,
    seqLen: fx.config.seqLen,
    gradAccumulation: 1,
    weightDecay: 0,
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

async function meanLoss(model: CausalLM, p: PrefixTuning, batches: Batch[]): Promise<number> {
  const acc = emptyTensor(model.ctx, 'f32', [1], 'held-out loss');
  model.zero(acc);
  const counted = batches.reduce((s, b) => s + b.trainedTokens, 0);
  for (const b of batches) {
    const inp = model.upload(withPrefixPositions(b, p.n));
    await model.evalLoss(inp, acc, { run: prefixRun(p, false), countedTokens: counted });
    model.ctx.flush();
  }
  const loss = new Float32Array(await readBuffer(model.ctx, acc.buffer, 4))[0];
  releaseTensor(model.ctx, acc);
  return loss;
}

describe('prefix tuning training', () => {
  it('is a valid method with packing off, and packing on is refused by name', () => {
    expect(validateConfig(config(1))).toEqual([]);
    expect(validateConfig(config(1, { pack: true }))).toEqual([{ field: 'pack', message: expect.stringMatching(/Prefix tuning needs packing off/) }]);
  });

  it("text init: the prefix is the model's own keys/values of the text, so the prefixed model is the base model reading that text first", async () => {
    const ctx = await getTestGpu();
    for (const dir of [DEMO_MODEL_DIR, join(FIXTURES_DIR, 'arch-qwen2')]) {
      const model = await loadModelDir(ctx, dir);
      const V = model.config.vocabSize;
      const text = [1, 45, 201, 7, 99];
      const n = 7; // the text repeated: 1 45 201 7 99 1 45
      const p = createPrefixTuning(ctx, model.config, { n, seed: 0, initialTable: await prefixTableFromText(model, text, n) });
      const ids = Array.from({ length: 11 }, (_, i) => (i * 37 + 3) % V);
      const last = async (tokens: number[], from: number, run: Parameters<CausalLM['lastLogits']>[1]) => {
        const inp = model.upload({ B: 1, T: tokens.length, tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => from + i), docIds: null }, 'test');
        const l = await model.lastLogits(inp, run);
        return new Float32Array(await readBuffer(ctx, l.buffer, V * 4));
      };
      const withPrefix = await last(ids, n, prefixRun(p, false));
      const baseReadingText = await last([1, 45, 201, 7, 99, 1, 45, ...ids], 0, null);
      const base = await last(ids, 0, null);
      const r = expectClose(`${model.config.hfArchitecture}: prefix from text vs the base model reading the text first`, withPrefix, baseReadingText, { atol: 1e-4, rtol: 1e-4 });
      const moved = base.reduce((m, v, i) => Math.max(m, Math.abs(v - baseReadingText[i])), 0);
      console.log(`${model.config.hfArchitecture} prefix text init: max |diff| ${r.maxAbsErr.toExponential(2)} vs the text read first (the text moves the logits by ${moved.toFixed(3)})`);
      expect(moved).toBeGreaterThan(50 * r.maxAbsErr + 0.05);
      releasePrefixTuning(ctx, p);
      model.release();
    }
  }, 300_000);

  it('a 12-step run cycling 4 batches of the demo model lowers their loss and moves the prefix', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(12);
    const data = TRAIN.slice(0, 4);
    const p = createPrefixTuning(ctx, model.config, { n: P, seed: c.seed });
    const start = await downloadPrefixTable(ctx, p);
    const before = await meanLoss(model, p, data);
    const t = new Trainer(ctx, model, p, new FixedBatches(data), null, c, null, runRecord('prefix'), () => {});
    expect(await t.runLoop()).toBe('finished');
    const after = await meanLoss(model, p, data);
    const end = await downloadPrefixTable(ctx, p);
    const moved = end.reduce((mx, v, i) => Math.max(mx, Math.abs(v - start[i])), 0);
    t.release();
    releasePrefixTuning(ctx, p);
    model.release();
    console.log(`prefix tuning loss on its 4 batches ${before.toFixed(4)} -> ${after.toFixed(4)}, largest change of the prefix ${moved.toFixed(4)}`);
    expect(after).toBeLessThan(before - 0.05);
    expect(moved).toBeGreaterThan(1e-2);
  }, 300_000);

  it('a run paused at step 3 and resumed from its checkpoint equals an uninterrupted run bit for bit', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(6);
    const data = TRAIN.slice(0, 6);
    const p1 = createPrefixTuning(ctx, model.config, { n: P, seed: c.seed });
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, p1, new FixedBatches(data), null, c, null, runRecord('full'), (s) => full.push(s.loss));
    expect(await t1.runLoop()).toBe('finished');
    const fullTable = await downloadPrefixTable(ctx, p1);
    t1.release();
    releasePrefixTuning(ctx, p1);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('resumed');
    await store.putRun(run);
    const p2 = createPrefixTuning(ctx, model.config, { n: P, seed: c.seed });
    const part: number[] = [];
    const t2 = new Trainer(ctx, model, p2, new FixedBatches(data), null, c, store, run, (s) => {
      part.push(s.loss);
      if (s.step === 3) t2.requestPause();
    });
    expect(await t2.runLoop()).toBe('paused');
    t2.release();
    releasePrefixTuning(ctx, p2);
    const saved = await store.getRun('resumed');
    const ckpt = await store.loadCheckpoint(saved!);
    expect(Object.keys(ckpt!.params).sort()).toEqual(Array.from({ length: model.config.numLayers }, (_, l) => prefixParamName(l)).sort());
    // another start than the run's, so that the resume must take every value from the checkpoint
    const p3 = createPrefixTuning(ctx, model.config, { n: P, seed: 0, initialTable: randomPrefixTable(prefixTableSize(model.config, P), 999) });
    const t3 = new Trainer(ctx, model, p3, new FixedBatches(data), null, c, store, saved!, (s) => part.push(s.loss), ckpt!);
    expect(await t3.runLoop()).toBe('finished');
    const resumed = await downloadPrefixTable(ctx, p3);
    t3.release();
    releasePrefixTuning(ctx, p3);
    model.release();
    expect(part).toEqual(full);
    expect(Array.from(resumed)).toEqual(Array.from(fullTable));
  }, 300_000);

  it('activation checkpointing gives a bit-identical run (with gradient accumulation 2)', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const results: { losses: number[]; table: Float32Array }[] = [];
    for (const activationCheckpointing of [false, true]) {
      const c = config(3, { activationCheckpointing, gradAccumulation: 2 });
      const p = createPrefixTuning(ctx, model.config, { n: P, seed: c.seed });
      const losses: number[] = [];
      const t = new Trainer(ctx, model, p, new FixedBatches(TRAIN.slice(0, 6)), null, c, null, runRecord(`ckpt-${activationCheckpointing}`), (s) => losses.push(s.loss));
      expect(await t.runLoop()).toBe('finished');
      results.push({ losses, table: await downloadPrefixTable(ctx, p) });
      t.release();
      releasePrefixTuning(ctx, p);
    }
    model.release();
    expect(results[1].losses).toEqual(results[0].losses);
    expect(Array.from(results[1].table)).toEqual(Array.from(results[0].table));
  }, 300_000);

  it.each([
    ['arch-qwen2', false],
    ['arch-qwen2', true],
  ] as const)('memory estimate of a prefix-tuning step on %s (checkpointing %s) within 5% of the allocator peak', async (folder, activationCheckpointing) => {
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
    const c: TrainConfig = { ...config(1), batchSize: B, seqLen: T, activationCheckpointing, prefixTuning: { numVirtualTokens: 20 } };
    const p = createPrefixTuning(ctx, model.config, { n: 20, seed: 1 });
    const trainer = new Trainer(ctx, model, p, new FixedBatches([batch]), null, c, null, runRecord(folder), () => {});
    expect(await trainer.runLoop()).toBe('finished');
    const peak = ctx.allocator.peakBytes - before;
    trainer.release();
    releasePrefixTuning(ctx, p);
    model.release();
    const est = estimateMemory(model.config, c);
    const ratio = est.totalBytes / peak;
    console.log(`${folder} prefix ckpt=${activationCheckpointing}: estimate ${est.totalBytes} B, allocator peak ${peak} B, ratio ${ratio.toFixed(4)} (trained ${est.loraBytes + est.optimizerBytes} B)`);
    expect(est.loraBytes).toBe(prefixTableSize(model.config, 20) * 4 * 2);
    expect(Math.abs(ratio - 1), `estimate ${est.totalBytes} vs peak ${peak}`).toBeLessThan(0.05);
  }, 300_000);
});

describe('prefix tuning with the reparameterisation MLP (prefix_projection)', () => {
  const H = 16;
  const pconfig = (steps: number, over: Partial<TrainConfig> = {}) => config(steps, { prefixTuning: { numVirtualTokens: P, init: 'random', projection: true, encoderHiddenSize: H }, learningRate: 5e-3, ...over });
  async function made(model: CausalLM, seed = 11) {
    const p = createPrefixTuning(model.ctx, model.config, { n: P, seed, projection: { hidden: H } });
    await projectPrefix(model.ctx, p);
    return p;
  }

  it('is a valid job; text init with the MLP is refused by name', () => {
    expect(validateConfig(pconfig(1))).toEqual([]);
    expect(validateConfig(config(1, { prefixTuning: { numVirtualTokens: P, init: 'text', initText: 'x', projection: true } }))).toEqual([{ field: 'prefixInit', message: expect.stringMatching(/starts from PEFT’s random init/) }]);
  });

  it('a 12-step run lowers the loss of its batches; the checkpoint holds the MLP; paused and resumed it is bit-identical', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const data = TRAIN.slice(0, 4);
    const c = pconfig(12);
    const p1 = await made(model);
    const before = await meanLoss(model, p1, data);
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, p1, new FixedBatches(data), null, c, null, runRecord('mlp-full'), (s) => full.push(s.loss));
    expect(await t1.runLoop()).toBe('finished');
    const after = await meanLoss(model, p1, data);
    const fullTable = await downloadPrefixTable(ctx, p1);
    t1.release();
    releasePrefixTuning(ctx, p1);
    console.log(`prefix MLP: loss on its 4 batches ${before.toFixed(4)} -> ${after.toFixed(4)}`);
    expect(after).toBeLessThan(before - 0.05);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('mlp-resumed');
    await store.putRun(run);
    const p2 = await made(model);
    const part: number[] = [];
    const t2 = new Trainer(ctx, model, p2, new FixedBatches(data), null, c, store, run, (s) => {
      part.push(s.loss);
      if (s.step === 5) t2.requestPause();
    });
    expect(await t2.runLoop()).toBe('paused');
    t2.release();
    releasePrefixTuning(ctx, p2);
    const saved = await store.getRun('mlp-resumed');
    const ckpt = await store.loadCheckpoint(saved!);
    expect(Object.keys(ckpt!.params).sort()).toEqual(Object.values(PREFIX_PROJECTION_NAMES).sort());
    const p3 = await made(model, 999);
    const t3 = new Trainer(ctx, model, p3, new FixedBatches(data), null, c, store, saved!, (s) => part.push(s.loss), ckpt!);
    expect(await t3.runLoop()).toBe('finished');
    const resumed = await downloadPrefixTable(ctx, p3);
    t3.release();
    releasePrefixTuning(ctx, p3);
    model.release();
    expect(part).toEqual(full);
    expect(Array.from(resumed)).toEqual(Array.from(fullTable));
  }, 300_000);

  it('memory estimate of a step on arch-qwen2 within 5% of the allocator peak', async () => {
    const ctx = await getTestGpu();
    const before = ctx.allocator.liveBytes;
    ctx.allocator.resetPeak();
    const model = await loadModelDir(ctx, join(FIXTURES_DIR, 'arch-qwen2'));
    const B = 4;
    const T = 256;
    const V = model.config.vocabSize;
    const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V);
    const batch: Batch = { B, T, tokens, labels: Int32Array.from({ length: B * T }, (_, i) => (i % T === T - 1 ? -100 : tokens[i + 1])), positions: Int32Array.from({ length: B * T }, (_, i) => i % T), docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)), trainedTokens: B * (T - 1) };
    const c: TrainConfig = { ...pconfig(1), batchSize: B, seqLen: T, prefixTuning: { numVirtualTokens: 20, init: 'random', projection: true, encoderHiddenSize: 64 } };
    const p = createPrefixTuning(ctx, model.config, { n: 20, seed: 1, projection: { hidden: 64 } });
    await projectPrefix(ctx, p);
    const trainer = new Trainer(ctx, model, p, new FixedBatches([batch]), null, c, null, runRecord('mlp-mem'), () => {});
    expect(await trainer.runLoop()).toBe('finished');
    const peak = ctx.allocator.peakBytes - before;
    trainer.release();
    releasePrefixTuning(ctx, p);
    model.release();
    const est = estimateMemory(model.config, c);
    const ratio = est.totalBytes / peak;
    console.log(`arch-qwen2 prefix MLP: estimate ${est.totalBytes} B, allocator peak ${peak} B, ratio ${ratio.toFixed(4)}`);
    expect(Math.abs(ratio - 1), `estimate ${est.totalBytes} vs peak ${peak}`).toBeLessThan(0.05);
  }, 300_000);
});
