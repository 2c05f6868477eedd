// Full fine-tuning through the real loader on the tiny fixtures: the gradient of every kind of
// weight (linear, bias, norm weight, token and position embeddings, untied and tied LM head)
// against central finite differences of the loss, a few training steps lowering the loss with
// the fp16 copies following the f32 masters, activation checkpointing, and exact resume.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../data';
import type { GpuContext } from '../gpu/device';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../util/f16';
import { expectClose } from '../util/check';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { rng } from '../util/random';
import { downloadF32, downloadU32, emptyTensor, readBuffer, releaseTensor, type Tensor } from '../gpu/tensor';
import { expectedTensors } from '../io/hfConfig';
import { CheckpointStore, MemoryKeyValueStore, type RunRecord } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { trainableParams } from '../train/trainable';
import { FixedBatches, Trainer } from '../train/trainer';
import type { CausalLM } from './causalLM';
import { createFullFinetune, downloadFullWeights, fullRun, releaseFullFinetune, type FullFinetune } from './fullFinetune';
import { argmax } from './sampling';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from './testing/loadForTest';

const QWEN2 = join(FIXTURES_DIR, 'tiny-qwen2');
const GPT2 = join(FIXTURES_DIR, 'tiny-gpt2');
const LLAMA = join(FIXTURES_DIR, 'tiny-llama-sharded');

// Central differences of the f32 loss with steps of ~1e-2 (fp16 weights move by the nearest
// representable step, and the difference divides by the step actually taken): the loss's f32
// rounding (~5e-7) stays under 5e-5 of the difference. The elements checked are each tensor's
// largest gradient.
const FD_EPS = 1e-2;
const FD_TOL = { atol: 5e-4, rtol: 2e-2 };

/** B = 2 rows of T = 16: row 0 one document, row 1 two packed documents (positions restart at 9). */
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

function config(steps: number, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    method: 'full',
    learningRate: 3e-3,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: steps,
    batchSize: 2,
    seqLen: 16,
    gradAccumulation: 1,
    weightDecay: 0.01,
    evalEvery: 0,
    checkpointEvery: 0,
    seed: 3,
    ...overrides,
  };
}

function runRecord(id: string): RunRecord {
  return { id, name: id, createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'm', architecture: 'x', fingerprint: '' }, dataset: { name: 'fixed', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

function releaseModel(ctx: GpuContext, model: CausalLM) {
  model.release();
  for (const t of model.weights.values()) releaseTensor(ctx, t);
}

/** Loss of the batch with the model's current weights; with `ft`, every weight's gradient (zeroed first) too. */
async function lossOf(model: CausalLM, b: Batch, lossAcc: Tensor, ft: FullFinetune | null, activationCheckpointing = false): Promise<number> {
  const inp = model.upload({ B: b.B, T: b.T, tokens: b.tokens, positions: b.positions, docIds: b.docIds, labels: b.labels });
  model.zero(lossAcc);
  if (ft) {
    for (const g of ft.grads.values()) model.zero(g);
    await model.trainStep(inp, lossAcc, { run: fullRun(ft, 0, true), countedTokens: b.trainedTokens, labelSmoothing: 0, activationCheckpointing });
  } else {
    await model.evalLoss(inp, lossAcc, { run: null, countedTokens: b.trainedTokens });
  }
  model.ctx.flush();
  return new Float32Array(await readBuffer(model.ctx, lossAcc.buffer, 4))[0];
}

/** Set element k of a model weight (fp16 packed or f32); returns the value actually stored. */
async function setElement(ctx: GpuContext, t: Tensor, k: number, v: number): Promise<number> {
  if (t.dtype === 'f32') {
    ctx.device.queue.writeBuffer(t.buffer, k * 4, Float32Array.of(v));
    return Math.fround(v);
  }
  const word = (await downloadU32(ctx, t))[k >> 1];
  const h = f32ToF16Bits(v);
  const next = k % 2 === 0 ? (word & 0xffff0000) | h : (word & 0xffff) | (h << 16);
  ctx.device.queue.writeBuffer(t.buffer, (k >> 1) * 4, Uint32Array.of(next >>> 0));
  return f16BitsToF32(h);
}

interface Check {
  name: string;
  /** restrict the element to rows of these ids (embedding rows the batch looks up) */
  rows?: number[];
}

async function checkGradients(dir: string, checks: Check[]) {
  const ctx = await getTestGpu();
  const model = await loadModelDir(ctx, dir);
  const ft = await createFullFinetune(ctx, model);
  const b = packedBatch(17, model.config.vocabSize);
  const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
  await lossOf(model, b, lossAcc, ft);
  const analytic: number[] = [];
  const numeric: number[] = [];
  const where: string[] = [];
  for (const c of checks) {
    const grad = await downloadF32(ctx, ft.grads.get(c.name)!);
    const w = model.weights.get(c.name)!;
    const cols = w.shape.length === 2 ? w.shape[1] : 1;
    const mag = grad.map(Math.abs);
    let k = argmax(mag);
    if (c.rows) {
      k = -1;
      for (const r of c.rows) for (let j = r * cols; j < (r + 1) * cols; j++) if (k < 0 || mag[j] > mag[k]) k = j;
    }
    const orig = (await downloadF32(ctx, w))[k];
    const up = await setElement(ctx, w, k, orig + FD_EPS);
    const plus = await lossOf(model, b, lossAcc, null);
    const down = await setElement(ctx, w, k, orig - FD_EPS);
    const minus = await lossOf(model, b, lossAcc, null);
    await setElement(ctx, w, k, orig);
    analytic.push(grad[k]);
    numeric.push((plus - minus) / (up - down));
    where.push(`${c.name}[${k}]`);
  }
  // a check that degenerated to zeros would pass trivially
  for (const [i, g] of analytic.entries()) expect(Math.abs(g), where[i]).toBeGreaterThan(1e-3);
  expectClose(`weight gradients vs central differences (${where.join(', ')})`, analytic, numeric, FD_TOL);
  releaseTensor(ctx, lossAcc);
  releaseFullFinetune(ctx, ft);
  releaseModel(ctx, model);
}

describe('full fine-tuning gradients against central differences', () => {
  it('tiny-qwen2: linears, q/k/v biases, RMSNorm weights, token embeddings, the untied LM head', async () => {
    const inputIds = [...new Set(packedBatch(17, 96).tokens)];
    await checkGradients(QWEN2, [
      { name: 'model.layers.0.self_attn.q_proj.weight' },
      { name: 'model.layers.0.self_attn.k_proj.bias' },
      { name: 'model.layers.1.self_attn.v_proj.bias' },
      { name: 'model.layers.0.self_attn.o_proj.weight' },
      { name: 'model.layers.0.mlp.gate_proj.weight' },
      { name: 'model.layers.1.mlp.down_proj.weight' },
      { name: 'model.layers.0.input_layernorm.weight' },
      { name: 'model.layers.1.post_attention_layernorm.weight' },
      { name: 'model.norm.weight' },
      { name: 'model.embed_tokens.weight', rows: inputIds },
      { name: 'lm_head.weight' },
    ]);
  });

  it('tiny-gpt2: fused c_attn and its bias, MLP, LayerNorm weight and bias, learned positions, the tied wte (lookup and head)', async () => {
    const batch = packedBatch(17, 96);
    const inputIds = [...new Set(batch.tokens)];
    await checkGradients(GPT2, [
      { name: 'transformer.h.0.attn.c_attn.weight' },
      { name: 'transformer.h.0.attn.c_attn.bias' },
      { name: 'transformer.h.1.attn.c_proj.weight' },
      { name: 'transformer.h.1.mlp.c_fc.bias' },
      { name: 'transformer.h.1.mlp.c_proj.weight' },
      { name: 'transformer.h.0.ln_1.weight' },
      { name: 'transformer.h.0.ln_1.bias' },
      { name: 'transformer.ln_f.bias' },
      { name: 'transformer.wpe.weight', rows: [0, 5] },
      // tied: the head's gradient reaches every row, the lookup's only the input tokens'
      { name: 'transformer.wte.weight' },
      { name: 'transformer.wte.weight', rows: inputIds },
    ]);
  });

  it('Gemma 3: (1 + w) norm weights (all four per layer, q/k norms, final), GeGLU MLP, the tied embedding scaled by sqrt(hidden)', async () => {
    const inputIds = [...new Set(packedBatch(17, 96).tokens)];
    await checkGradients(join(FIXTURES_DIR, 'arch-gemma3'), [
      { name: 'model.layers.0.self_attn.q_proj.weight' },
      { name: 'model.layers.0.self_attn.q_norm.weight' },
      { name: 'model.layers.1.self_attn.k_norm.weight' },
      { name: 'model.layers.0.input_layernorm.weight' },
      { name: 'model.layers.0.post_attention_layernorm.weight' },
      { name: 'model.layers.1.pre_feedforward_layernorm.weight' },
      { name: 'model.layers.1.post_feedforward_layernorm.weight' },
      { name: 'model.layers.1.mlp.gate_proj.weight' },
      { name: 'model.norm.weight' },
      { name: 'model.embed_tokens.weight' },
      { name: 'model.embed_tokens.weight', rows: inputIds },
    ]);
  });

  it('Phi-3: the fused qkv_proj and gate_up_proj, partial RoPE, sliding window', async () => {
    await checkGradients(join(FIXTURES_DIR, 'arch-phi3'), [
      { name: 'model.layers.0.self_attn.qkv_proj.weight' },
      { name: 'model.layers.1.self_attn.o_proj.weight' },
      { name: 'model.layers.0.mlp.gate_up_proj.weight' },
      { name: 'model.layers.1.mlp.down_proj.weight' },
      { name: 'model.layers.1.input_layernorm.weight' },
      { name: 'lm_head.weight' },
    ]);
  });

  it('stories260K: the tied Llama embedding (lookup and head) and a deep layer', async () => {
    const inputIds = [...new Set(packedBatch(17, 512).tokens)];
    await checkGradients(DEMO_MODEL_DIR, [
      { name: 'model.embed_tokens.weight', rows: inputIds },
      { name: 'model.layers.4.mlp.up_proj.weight' },
      { name: 'model.layers.2.self_attn.k_proj.weight' },
    ]);
  });
});

describe('full fine-tuning training', () => {
  const batches = (V: number) => [packedBatch(31, V), packedBatch(32, V)];

  it('every weight is a parameter (no weight decay on biases and norms); a few steps lower the loss; the kernels read fp16(master)', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, QWEN2);
    const ft = await createFullFinetune(ctx, model);
    const params = trainableParams(ft);
    expect(params.map((p) => p.name)).toEqual(expectedTensors(model.config).map((t) => t.name));
    expect(params.filter((p) => p.decay === false).map((p) => p.name)).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(params.find((p) => p.name === 'model.layers.0.input_layernorm.weight')!.decay).toBe(false);
    expect(params.find((p) => p.name === 'lm_head.weight')!.decay).toBe(true);
    const before = await downloadFullWeights(ctx, ft);
    const losses: number[] = [];
    const t = new Trainer(ctx, model, ft, new FixedBatches(batches(model.config.vocabSize)), null, config(6), null, runRecord('full'), (x) => losses.push(x.loss));
    expect(await t.runLoop()).toBe('finished');
    t.release();
    expect(losses[4]).toBeLessThan(losses[0] - 0.05);
    expect(losses[5]).toBeLessThan(losses[1] - 0.05);
    const after = await downloadFullWeights(ctx, ft);
    for (const name of ['model.layers.1.mlp.up_proj.weight', 'model.layers.0.self_attn.v_proj.bias', 'model.norm.weight', 'model.embed_tokens.weight']) {
      const a = after.get(name)!.data;
      expect(a.some((v, i) => v !== before.get(name)!.data[i]), `${name} moved`).toBe(true);
      const used = await downloadF32(ctx, model.weights.get(name)!);
      const expected = model.weights.get(name)!.dtype === 'f16' ? a.map(roundToF16) : a;
      expect(Array.from(used), `${name}: the forward reads the master's values`).toEqual(Array.from(expected));
    }
    releaseFullFinetune(ctx, ft);
    releaseModel(ctx, model);
  });

  it('activation checkpointing gives bit-identical weight gradients', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, GPT2);
    const ft = await createFullFinetune(ctx, model);
    const b = packedBatch(5, model.config.vocabSize);
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    const grads: number[][] = [];
    for (const ac of [false, true]) {
      await lossOf(model, b, lossAcc, ft, ac);
      const g: number[] = [];
      for (const t of ft.grads.values()) g.push(...(await downloadF32(ctx, t)));
      grads.push(g);
    }
    expect(grads[1]).toEqual(grads[0]);
    expect(grads[0].some((v) => v !== 0)).toBe(true);
    releaseTensor(ctx, lossAcc);
    releaseFullFinetune(ctx, ft);
    releaseModel(ctx, model);
  });

  it('a run paused at step 2 and resumed from its checkpoint (on freshly loaded base weights) equals an uninterrupted run', async () => {
    const ctx = await getTestGpu();
    const c = config(5, { maxGradNorm: 0.5 });
    const run = async (id: string, store: CheckpointStore | null, rec: RunRecord, pauseAt: number | null, resume?: Awaited<ReturnType<CheckpointStore['loadCheckpoint']>>) => {
      const model = await loadModelDir(ctx, LLAMA);
      const ft = await createFullFinetune(ctx, model);
      const losses: number[] = [];
      const t: Trainer = new Trainer(ctx, model, ft, new FixedBatches(batches(model.config.vocabSize)), null, c, store, rec, (x) => {
        losses.push(x.loss);
        if (x.step === pauseAt) t.requestPause();
      }, resume ?? undefined);
      const status = await t.runLoop();
      t.release();
      const weights = await downloadFullWeights(ctx, ft);
      const used = await downloadF32(ctx, model.weights.get('model.layers.1.self_attn.o_proj.weight')!);
      releaseFullFinetune(ctx, ft);
      releaseModel(ctx, model);
      return { status, losses, weights, used, id };
    };
    const full = await run('full', null, runRecord('full'), null);
    const store = new CheckpointStore(new MemoryKeyValueStore());
    const rec = runRecord('resumed');
    await store.putRun(rec);
    const first = await run('part', store, rec, 2);
    expect(first.status).toBe('paused');
    const saved = (await store.getRun('resumed'))!;
    const ckpt = (await store.loadCheckpoint(saved))!;
    expect(ckpt.step).toBe(2);
    expect(Object.keys(ckpt.params).sort()).toEqual([...full.weights.keys()].sort());
    const second = await run('rest', store, saved, null, ckpt);
    expect(second.status).toBe('finished');
    expect([...first.losses, ...second.losses]).toEqual(full.losses);
    for (const [name, w] of full.weights) expect(Array.from(second.weights.get(name)!.data), name).toEqual(Array.from(w.data));
    expect(Array.from(second.used)).toEqual(Array.from(full.used));
  });
});
