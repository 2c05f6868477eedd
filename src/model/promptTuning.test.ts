// Prompt tuning (PEFT PROMPT_TUNING, causal LM) on stories260K and tiny-gpt2 through the real
// loader: the batch layout the model sees, the virtual tokens' gradient against central finite
// differences of the loss, a few training steps lowering the loss, exact resume from a
// checkpoint, and generation with the virtual tokens (KV-cache decode vs the full forward).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import type { GpuContext } from '../gpu/device';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { rng } from '../util/random';
import { downloadF32, emptyTensor, readBuffer, releaseTensor, type Tensor } from '../gpu/tensor';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { FixedBatches, Trainer } from '../train/trainer';
import type { CausalLM } from './causalLM';
import { argmax } from './sampling';
import { createPromptTuning, generateWithPrompt, promptRun, randomPromptInit, releasePromptTuning, textInitIds, withVirtualTokens, type PromptTuning } from './promptTuning';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

// Central differences of the f32 loss (~6 at stories260K): eps 1e-2 on N(0, 1) embeddings keeps
// the loss's rounding (~5e-7) under 3e-5 of the difference; the elements checked are each
// virtual token's largest gradient.
const FD_EPS = 1e-2;
const FD_TOL = { atol: 5e-4, rtol: 2e-2 };

/**
 * One example per row, padded (what the batch iterator gives with packing off): row 0 is 10
 * tokens + 2 padding, row 1 fills all 12. labels = next token inside the example, -100 else.
 */
function unpackedBatch(seed: number, V: number): Batch {
  const B = 2;
  const T = 12;
  const lens = [10, 12];
  const next = rng(seed);
  const tokens = new Int32Array(B * T);
  const labels = new Int32Array(B * T).fill(-100);
  const positions = new Int32Array(B * T);
  const docIds = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < lens[b]; t++) {
      tokens[b * T + t] = 1 + (Math.floor(next() * (V - 1)) % (V - 1));
      positions[b * T + t] = t;
      docIds[b * T + t] = 0;
    }
    for (let t = 0; t + 1 < lens[b]; t++) labels[b * T + t] = tokens[b * T + t + 1];
  }
  return { B, T, tokens, labels, positions, docIds, trainedTokens: labels.filter((l) => l !== -100).length };
}

function config(steps: number): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    method: 'prompt',
    promptTuning: { numVirtualTokens: 4, init: 'random' },
    pack: false,
    learningRate: 5e-2,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: 2,
    seqLen: 12,
    gradAccumulation: 1,
    weightDecay: 0,
    evalEvery: 0,
    checkpointEvery: 0,
    seed: 5,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'm', architecture: 'llama', fingerprint: '' }, dataset: { name: 'fixed', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

/** Loss of the batch with the virtual tokens; with grads, their gradient (zeroed first) too. */
async function lossOf(model: CausalLM, p: PromptTuning, b: Batch, lossAcc: Tensor, withGrad: boolean): Promise<number> {
  const inp = model.upload(withVirtualTokens(b, p.n));
  model.zero(lossAcc);
  if (withGrad) {
    model.zero(p.grad);
    await model.trainStep(inp, lossAcc, { run: promptRun(p, true), countedTokens: b.trainedTokens, labelSmoothing: 0, activationCheckpointing: false });
  } else {
    await model.evalLoss(inp, lossAcc, { run: promptRun(p, false), countedTokens: b.trainedTokens });
  }
  model.ctx.flush();
  return new Float32Array(await readBuffer(model.ctx, lossAcc.buffer, 4))[0];
}

function releaseModel(ctx: GpuContext, model: CausalLM) {
  model.release();
  for (const t of model.weights.values()) releaseTensor(ctx, t);
}

describe('withVirtualTokens', () => {
  it('prepends n virtual positions to every row: positions 0..n+T-1, labels -100, the row’s document', () => {
    const b = unpackedBatch(1, 50);
    const v = withVirtualTokens(b, 3);
    expect(v.T).toBe(15);
    expect(Array.from(v.positions.subarray(0, 15))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 3, 3]);
    expect(Array.from(v.labels!.subarray(0, 3))).toEqual([-100, -100, -100]);
    expect(Array.from(v.labels!.subarray(3, 15))).toEqual(Array.from(b.labels.subarray(0, 12)));
    expect(Array.from(v.tokens.subarray(18, 30))).toEqual(Array.from(b.tokens.subarray(12, 24)));
    expect(Array.from(v.docIds!.subarray(15, 18))).toEqual([0, 0, 0]);
    expect(Array.from(v.docIds!.subarray(13, 15))).toEqual([-1, -1]);
    expect(v.trainedTokens).toBe(b.trainedTokens);
  });

  it('refuses packed rows', () => {
    const b = unpackedBatch(1, 50);
    b.docIds[5] = 1;
    expect(() => withVirtualTokens(b, 2)).toThrow(/one example per sequence: turn packing off/);
  });

  it('inits as PEFT: N(0, 1) for random, the text’s ids cut or repeated for text', () => {
    const r = randomPromptInit(64, 64, 3);
    const mean = r.reduce((s, x) => s + x, 0) / r.length;
    const sd = Math.sqrt(r.reduce((s, x) => s + (x - mean) ** 2, 0) / r.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(sd - 1)).toBeLessThan(0.05);
    expect(Array.from(randomPromptInit(4, 3, 3))).toEqual(Array.from(randomPromptInit(4, 3, 3)));
    expect(textInitIds([5, 6, 7], 7)).toEqual([5, 6, 7, 5, 6, 7, 5]);
    expect(textInitIds([5, 6, 7], 2)).toEqual([5, 6]);
    expect(() => textInitIds([], 2)).toThrow(/no tokens/);
  });
});

describe.each([
  ['stories260K', DEMO_MODEL_DIR],
  ['tiny-gpt2 (learned positions added to the virtual tokens)', join(FIXTURES_DIR, 'tiny-gpt2')],
  ['arch-gemma3 (token embeddings scaled by sqrt(hidden), the virtual tokens not)', join(FIXTURES_DIR, 'arch-gemma3')],
])('prompt tuning on %s', (_name, dir) => {
  it('the virtual tokens’ gradient matches central differences of the loss', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, dir);
    const p = await createPromptTuning(ctx, model, { n: 4, init: 'random', seed: 9 });
    const b = unpackedBatch(7, model.config.vocabSize);
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    const loss = await lossOf(model, p, b, lossAcc, true);
    expect(Number.isFinite(loss)).toBe(true);
    const grad = await downloadF32(ctx, p.grad);
    const emb = await downloadF32(ctx, p.embeddings);
    const C = model.config.hiddenSize;
    const analytic: number[] = [];
    const numeric: number[] = [];
    const where: string[] = [];
    for (let j = 0; j < p.n; j++) {
      const row = grad.subarray(j * C, (j + 1) * C);
      const k = j * C + argmax(row.map(Math.abs));
      const at = async (v: number) => {
        ctx.device.queue.writeBuffer(p.embeddings.buffer, k * 4, Float32Array.of(v));
        return lossOf(model, p, b, lossAcc, false);
      };
      const plus = await at(emb[k] + FD_EPS);
      const minus = await at(emb[k] - FD_EPS);
      await at(emb[k]);
      analytic.push(grad[k]);
      numeric.push((plus - minus) / (2 * FD_EPS));
      where.push(`virtual token ${j}, element ${k - j * C}`);
    }
    // a check that degenerated to zeros would pass trivially
    for (const [i, g] of analytic.entries()) expect(Math.abs(g), where[i]).toBeGreaterThan(1e-3);
    expectClose(`prompt gradient vs central differences (${where.join('; ')})`, analytic, numeric, FD_TOL);
    // the eval loss without gradients is the training loss
    expect(await lossOf(model, p, b, lossAcc, false)).toBe(loss);
    releaseTensor(ctx, lossAcc);
    releasePromptTuning(ctx, p);
    releaseModel(ctx, model);
  });

  it('greedy generation with the virtual tokens equals the full forward, and they change the output', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, dir);
    const p = await createPromptTuning(ctx, model, { n: 3, init: 'random', seed: 4 });
    const V = model.config.vocabSize;
    const prompt = [1, 5, 9, 14];
    const ids = await generateWithPrompt(model, p, prompt, { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: 8, seed: 0, eosIds: [], run: null });
    expect(ids.length).toBe(8);
    const seq = [...prompt];
    const full = async (tokens: number[]) => {
      const T = p.n + tokens.length;
      const inp = model.upload({ B: 1, T, tokens: Int32Array.from([0, 0, 0, ...tokens]), positions: Int32Array.from({ length: T }, (_, i) => i), docIds: null }, 'test');
      const l = await model.lastLogits(inp, promptRun(p, false));
      return new Float32Array(await readBuffer(ctx, l.buffer, V * 4));
    };
    for (const id of ids) {
      expect(id).toBe(argmax(await full(seq)));
      seq.push(id);
    }
    // without the virtual tokens the first prediction differs (they really are applied)
    const plain = model.upload({ B: 1, T: prompt.length, tokens: Int32Array.from(prompt), positions: Int32Array.from(prompt, (_, i) => i), docIds: null }, 'test');
    const base = new Float32Array(await readBuffer(ctx, (await model.lastLogits(plain, null)).buffer, V * 4));
    const withPrompt = await full(prompt);
    expect(Math.max(...base.map((v, i) => Math.abs(v - withPrompt[i])))).toBeGreaterThan(1e-2);
    releasePromptTuning(ctx, p);
    releaseModel(ctx, model);
  });
});

describe('text init', () => {
  it('takes the word-embedding rows of the text’s ids, cut or repeated to n', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const p = await createPromptTuning(ctx, model, { n: 5, init: 'text', seed: 0, textIds: [1, 7, 300] });
    const C = model.config.hiddenSize;
    const table = await downloadF32(ctx, model.weights.get('model.embed_tokens.weight')!);
    const expected = [1, 7, 300, 1, 7].flatMap((id) => Array.from(table.subarray(id * C, (id + 1) * C)));
    expect(Array.from(await downloadF32(ctx, p.embeddings))).toEqual(expected);
    await expect(createPromptTuning(ctx, model, { n: 2, init: 'text', seed: 0, textIds: [600] })).rejects.toThrow(/token id 600 is outside this model's vocabulary/);
    releasePromptTuning(ctx, p);
    releaseModel(ctx, model);
  });
});

describe('prompt-tuning training on stories260K', () => {
  const batches = () => [unpackedBatch(21, 512), unpackedBatch(22, 512)];

  it('10 steps on fixed batches lower the loss', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const p = await createPromptTuning(ctx, model, { n: 4, init: 'random', seed: 2 });
    const losses: number[] = [];
    const t = new Trainer(ctx, model, p, new FixedBatches(batches()), null, config(10), null, runRecord('pt'), (x) => losses.push(x.loss));
    expect(await t.runLoop()).toBe('finished');
    t.release();
    expect(losses.length).toBe(10);
    // steps alternate between the two batches: compare like with like
    expect(losses[8]).toBeLessThan(losses[0] - 0.1);
    expect(losses[9]).toBeLessThan(losses[1] - 0.1);
    releasePromptTuning(ctx, p);
    releaseModel(ctx, model);
  });

  it('a run paused at step 3 and resumed from its checkpoint equals an uninterrupted run', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const c = config(6);
    const p1 = await createPromptTuning(ctx, model, { n: 4, init: 'random', seed: 2 });
    const full: number[] = [];
    const t1 = new Trainer(ctx, model, p1, new FixedBatches(batches()), null, c, null, runRecord('full'), (x) => full.push(x.loss));
    await t1.runLoop();
    t1.release();
    const fullWeights = await downloadF32(ctx, p1.embeddings);
    releasePromptTuning(ctx, p1);

    const store = new CheckpointStore(new MemoryKeyValueStore());
    const run = runRecord('resumed');
    await store.putRun(run);
    const p2 = await createPromptTuning(ctx, model, { n: 4, init: 'random', seed: 2 });
    const part: number[] = [];
    const t2 = new Trainer(ctx, model, p2, new FixedBatches(batches()), null, c, store, run, (x) => {
      part.push(x.loss);
      if (x.step === 3) t2.requestPause();
    });
    expect(await t2.runLoop()).toBe('paused');
    t2.release();
    releasePromptTuning(ctx, p2);
    const saved = (await store.getRun('resumed'))!;
    const ckpt = (await store.loadCheckpoint(saved))!;
    expect(ckpt.step).toBe(3);
    expect(Object.keys(ckpt.params)).toEqual(['prompt_embeddings']);
    // other initial values: everything must come from the checkpoint
    const p3 = await createPromptTuning(ctx, model, { n: 4, init: 'random', seed: 77 });
    const t3 = new Trainer(ctx, model, p3, new FixedBatches(batches()), null, c, store, saved, (x) => part.push(x.loss), ckpt);
    expect(await t3.runLoop()).toBe('finished');
    t3.release();
    expect(part).toEqual(full);
    expect(Array.from(await downloadF32(ctx, p3.embeddings))).toEqual(Array.from(fullWeights));
    releasePromptTuning(ctx, p3);
    releaseModel(ctx, model);
  });
});
