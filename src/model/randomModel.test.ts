// The random-weight model: the config a checkpoint of the shape would have, exactly the tensors
// the loader would upload, seeded values with the stated scale, and a model that runs: near-uniform
// logits at init, so the first training loss is close to ln(V), and a LoRA step lowers it.
import { describe, expect, it } from 'vitest';
import { downloadF32, readBuffer } from '../gpu/tensor';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { expectedTensors } from '../io/hfConfig';
import { DEFAULT_CONFIG, LLAMA_ALL_LINEAR, type TrainConfig } from '../train/config';
import { FixedBatches, Trainer } from '../train/trainer';
import { createAdapter, releaseAdapter } from './adapter';
import { createRandomModel, initStd, randomHalves, randomModelConfigJson, SMOLLM2_135M_SHAPE, type ModelShape } from './randomModel';
import { f16BitsToF32 } from '../util/f16';

const TINY: ModelShape = { hiddenSize: 32, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 50 };

function stdOf(xs: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    s2 += xs[i] * xs[i];
  }
  const m = s / xs.length;
  return Math.sqrt(s2 / xs.length - m * m);
}

describe('random model config', () => {
  it("SmolLM2-135M's shape parses to the expected config and 134.5M parameters", async () => {
    const json = randomModelConfigJson(SMOLLM2_135M_SHAPE);
    const { parseHfConfig } = await import('../arch/config');
    const c = parseHfConfig(json);
    expect([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.vocabSize]).toEqual([576, 1536, 30, 9, 3, 64, 49152]);
    expect(c.tieWordEmbeddings).toBe(true);
    const params = expectedTensors(c).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    // SmolLM2-135M: 134,515,008 parameters with tied embeddings
    expect(params).toBe(134_515_008);
  });

  it('random halves have the requested spread, depend on the seed and the name, and repeat', () => {
    const a = randomHalves(20000, 0.02, 1, 'w');
    expect(stdOf(Array.from(a, f16BitsToF32))).toBeCloseTo(0.02, 3);
    expect(Math.max(...Array.from(a, (h) => Math.abs(f16BitsToF32(h))))).toBeLessThanOrEqual(0.02 * Math.sqrt(3) * 1.001);
    expect(randomHalves(100, 0.02, 1, 'w')).toEqual(a.slice(0, 100));
    expect(randomHalves(100, 0.02, 2, 'w')).not.toEqual(a.slice(0, 100));
    expect(randomHalves(100, 0.02, 1, 'v')).not.toEqual(a.slice(0, 100));
  });

  it('init std: 0.02 for embeddings, 1/sqrt(in) for projections', () => {
    expect(initStd('model.embed_tokens.weight', [50, 32])).toBe(0.02);
    expect(initStd('model.layers.0.mlp.down_proj.weight', [32, 64])).toBe(1 / 8);
  });
});

describe('random model on the GPU', () => {
  it('uploads exactly the tensors a loaded checkpoint has, fp16 matrices and f32 norm weights', async () => {
    const ctx = await getTestGpu();
    const before = ctx.allocator.liveBytes;
    const model = createRandomModel(ctx, TINY, { seed: 3 });
    const want = expectedTensors(model.config);
    expect([...model.weights.keys()].sort()).toEqual(want.map((t) => t.name).sort());
    let bytes = 0;
    for (const t of want) {
      const w = model.weights.get(t.name)!;
      expect(w.shape).toEqual(t.shape);
      expect(w.dtype).toBe(t.shape.length === 2 ? 'f16' : 'f32');
      bytes += w.buffer.size;
    }
    expect(ctx.allocator.liveBytes - before).toBe(bytes);
    const q = await downloadF32(ctx, model.weights.get('model.layers.1.self_attn.q_proj.weight')!);
    expect(stdOf(q)).toBeGreaterThan(0.8 / Math.sqrt(32));
    expect(stdOf(q)).toBeLessThan(1.2 / Math.sqrt(32));
    const norm = await downloadF32(ctx, model.weights.get('model.norm.weight')!);
    expect(Array.from(norm)).toEqual(new Array(32).fill(1));
    // the same seed gives the same weights; another seed other weights
    const again = createRandomModel(ctx, TINY, { seed: 3 });
    const other = createRandomModel(ctx, TINY, { seed: 4 });
    expect(await downloadF32(ctx, again.weights.get('model.layers.1.self_attn.q_proj.weight')!)).toEqual(q);
    expect(await downloadF32(ctx, other.weights.get('model.layers.1.self_attn.q_proj.weight')!)).not.toEqual(q);
    expect(again.assets.fingerprint).toBe(model.assets.fingerprint);
    expect(other.assets.fingerprint).not.toBe(model.assets.fingerprint);
    for (const m of [model, again, other]) {
      m.release();
      for (const w of m.weights.values()) ctx.allocator.release(w.buffer);
    }
    expect(ctx.allocator.liveBytes).toBe(before);
  });

  it('trains: the first loss is about ln(V) and LoRA steps on one batch lower it', async () => {
    const ctx = await getTestGpu();
    const model = createRandomModel(ctx, TINY, { seed: 1 });
    const V = TINY.vocabSize;
    const [B, T] = [2, 8];
    const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
    const batch = {
      B,
      T,
      tokens,
      labels: Int32Array.from({ length: B * T }, (_, i) => tokens[(i + 1) % (B * T)]),
      positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
      docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
      trainedTokens: B * T,
    };
    const config: TrainConfig = {
      ...DEFAULT_CONFIG,
      lora: { rank: 4, alpha: 8, dropout: 0, targetModules: LLAMA_ALL_LINEAR, useRslora: false },
      learningRate: 2e-2,
      schedule: 'constant',
      warmupSteps: 0,
      maxSteps: 8,
      batchSize: B,
      seqLen: T,
      evalEvery: 0,
      checkpointEvery: 0,
    };
    const adapter = createAdapter(ctx, model.config, { ...config.lora }, 5);
    const run = { id: 'r', name: 'r', createdAt: 0, updatedAt: 0, status: 'running' as const, model: { name: 'random', architecture: 'llama', fingerprint: model.assets.fingerprint }, dataset: { name: 'fixed', fingerprint: '' }, config: {}, totalSteps: 8, history: [], checkpoint: null, checkpointStep: 0 };
    const trainer = new Trainer(ctx, model, adapter, new FixedBatches([batch]), null, config, null, run, () => {});
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await trainer.trainOneStep();
      expect(r.nonFinite).toBe(false);
      losses.push(r.loss);
      trainer.step++;
    }
    expect(Math.abs(losses[0] - Math.log(V))).toBeLessThan(0.05);
    expect(losses[7]).toBeLessThan(losses[0] - 0.1);
    // logits of an inference forward are finite and small (near-uniform softmax)
    const inp = model.upload({ B: 1, T: 4, tokens: Int32Array.from([1, 2, 3, 4]), positions: Int32Array.from([0, 1, 2, 3]), docIds: null }, 'test');
    const logits = new Float32Array(await readBuffer(ctx, (await model.lastLogits(inp, null)).buffer, V * 4));
    expect(logits.every((x) => Number.isFinite(x) && Math.abs(x) < 1)).toBe(true);
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
    for (const w of model.weights.values()) ctx.allocator.release(w.buffer);
  });
});
