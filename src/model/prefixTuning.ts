// Prefix tuning (PEFT's PREFIX_TUNING for CAUSAL_LM, Li & Liang 2021): per layer a trained key
// and value prefix of P = num_virtual_tokens positions, given to the base model as
// past_key_values. What that means in Hugging Face (and here):
//   - the prefix keys are past keys: no RoPE is applied to them (the cache holds them as given);
//   - the real tokens' positions start after the prefix: HF computes cache_position =
//     arange(P, P + T) and position_ids from it (PEFT drops any position_ids it is given), so a
//     row's token t is at position P + t (for RoPE and GPT-2's learned positions alike);
//   - every query sees all prefix positions (PEFT prepends ones to the attention mask), causal
//     over the row's tokens; a sliding window counts the prefix positions (ops/attentionPrefix.ts).
// Rows hold one example each (packing off, as for prompt tuning): PEFT gives each sequence the
// prefix once, at its start.
// Layout: per layer one (2, P, Hkv, D) f32 tensor, its keys then its values, trained directly
// (PEFT's prefix_projection = false, the default). PEFT keeps all layers in one table,
// prompt_embeddings (P, L·2·token_dim) with token_dim = Hkv·D (PEFT takes token_dim and the heads
// from num_key_value_heads for grouped-query models: the prefix is per kv head), element
// [p, (2l + s)·token_dim + h·D + d] for layer l, s = 0 keys / 1 values (get_prompt's view
// (B, P, 2L, H, D) and permute to (2L, B, H, P, D)); toPeftTable / fromPeftTable convert.
// Init as PEFT's PrefixEncoder: torch.nn.Embedding's default N(0, 1).
import type { Batch } from '../data';
import type { GpuContext } from '../gpu/device';
import { copyTensor, fillTensor } from '../gpu/ops/elementwise';
import { bottleneckActBackward, bottleneckActForward } from '../gpu/ops/bottleneckAct';
import { matmulXWt } from '../gpu/ops/matmul';
import { matmulDyTX } from '../gpu/ops/matmulDyTX';
import { matmulDyW } from '../gpu/ops/matmulDyW';
import { prefixBlockToTable, prefixTableToBlock } from '../gpu/ops/prefixTableRows';
import { attentionPrefixBackward, attentionPrefixForward, prefixAttentionSizes, type PrefixAttentionShape } from '../gpu/ops/attentionPrefix';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, type Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import { mixSeed, mulberry32 } from '../util/prng';
import type { HostBatch } from './causalLM';
import type { CausalLM } from './causalLM';
import type { ForwardRun } from './blocks';
import { generateIds, type GenerateOptions } from './generate';
import type { Workspace } from './workspace';

/** The checkpoint's parameter name of layer i's (2, P, Hkv, D) prefix. */
export const prefixParamName = (i: number) => `prefix_kv.${i}`;

export interface PrefixLayer {
  /** (2, P, Hkv·D) f32: keys, then values */
  kv: Tensor;
  /** same shape; the training backward ACCUMULATES into it */
  grad: Tensor;
}

/**
 * PEFT's reparameterisation (prefix_projection true, PrefixEncoder): the table is the output of an
 * MLP over a small embedding, table = W2·tanh(W1·E + b1) + b2, E (n, TD), W1 (H, TD), b1 (H),
 * W2 (L·2·TD, H), b2 (L·2·TD); the MLP is trained, the per-layer blocks are its output (written by
 * projectPrefix after every update) and their gradients flow back through it
 * (projectPrefixBackward). PEFT saves only the resulting table, and so does the export.
 */
export interface PrefixProjection {
  hidden: number;
  emb: Tensor;
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
  dEmb: Tensor;
  dW1: Tensor;
  dB1: Tensor;
  dW2: Tensor;
  dB2: Tensor;
  /** (n, H) pre-activation and tanh, (n, L·2·TD) output table and its gradient, (n, H) scratch, ones (n, 1) */
  pre: Tensor;
  h: Tensor;
  table: Tensor;
  dTable: Tensor;
  dh: Tensor;
  dPre: Tensor;
  ones: Tensor;
}

/** The checkpoint's names of the MLP's tensors (PEFT's prompt_encoder module names). */
export const PREFIX_PROJECTION_NAMES = {
  emb: 'prompt_encoder.embedding.weight',
  w1: 'prompt_encoder.transform.0.weight',
  b1: 'prompt_encoder.transform.0.bias',
  w2: 'prompt_encoder.transform.2.weight',
  b2: 'prompt_encoder.transform.2.bias',
} as const;

export interface PrefixTuning {
  kind: 'prefix';
  /** num_virtual_tokens */
  n: number;
  /** PEFT's token_dim: Hkv·D */
  tokenDim: number;
  /** PEFT's num_attention_heads for the prefix: the kv heads */
  heads: number;
  layers: PrefixLayer[];
  /** present with prefix_projection: the MLP that produces the layers' blocks */
  projection?: PrefixProjection;
}

/** What the forward/backward of one layer reads: the prefix length and each layer's tensors (grad null: no backward). */
export interface PrefixRun {
  P: number;
  layers: readonly { kv: Tensor; grad: Tensor | null }[];
}

export interface PrefixTuningOptions {
  n: number;
  seed: number;
  /** PEFT's prompt_embeddings table (n, L·2·Hkv·D) to start from (a checkpoint in PEFT layout or an imported adapter) */
  initialTable?: Float32Array;
  /** train PEFT's reparameterisation MLP (prefix_projection) of this hidden width; initial: its tensors by PREFIX_PROJECTION_NAMES key */
  projection?: { hidden: number; initial?: Partial<Record<keyof typeof PREFIX_PROJECTION_NAMES, Float32Array>> };
}

/** U(-1/√fanIn, 1/√fanIn) as torch.nn.Linear initialises its weight and bias (kaiming_uniform with a = √5). */
function linearInit(n: number, fanIn: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const bound = 1 / Math.sqrt(fanIn);
  return Float32Array.from({ length: n }, () => ((next() + 0.5) / 4294967296) * 2 * bound - bound);
}

function createProjection(ctx: GpuContext, c: ModelConfig, n: number, o: NonNullable<PrefixTuningOptions['projection']>, seed: number): PrefixProjection {
  const H = o.hidden;
  if (!Number.isInteger(H) || H < 1) throw new Error(`The prefix MLP needs a hidden width of at least 1, got ${H}.`);
  const TD = c.numKvHeads * c.headDim;
  const W = c.numLayers * 2 * TD;
  const shapes = { emb: [n, TD], w1: [H, TD], b1: [H], w2: [W, H], b2: [W] } as const;
  const init = (k: keyof typeof shapes): Float32Array => {
    const given = o.initial?.[k];
    const size = shapes[k].reduce((a, b) => a * b, 1);
    if (given) {
      if (given.length !== size) throw new Error(`The prefix MLP's ${PREFIX_PROJECTION_NAMES[k]} has ${given.length} values, but [${shapes[k].join(', ')}] needs ${size}.`);
      return given;
    }
    // PEFT's PrefixEncoder: nn.Embedding N(0, 1), nn.Linear's own init
    if (k === 'emb') return randomPrefixTable(size, seed);
    return linearInit(size, k === 'w1' || k === 'b1' ? TD : H, mixSeed(seed, k.charCodeAt(0) * 31 + k.charCodeAt(1)));
  };
  const param = (k: keyof typeof shapes) => uploadF32(ctx, init(k), [...shapes[k]], PREFIX_PROJECTION_NAMES[k]);
  const grad = (k: keyof typeof shapes) => emptyTensor(ctx, 'f32', [...shapes[k]], `${PREFIX_PROJECTION_NAMES[k]}.grad`);
  const ones = emptyTensor(ctx, 'f32', [n, 1], 'prefix mlp ones');
  return {
    hidden: H,
    emb: param('emb'),
    w1: param('w1'),
    b1: param('b1'),
    w2: param('w2'),
    b2: param('b2'),
    dEmb: grad('emb'),
    dW1: grad('w1'),
    dB1: grad('b1'),
    dW2: grad('w2'),
    dB2: grad('b2'),
    pre: emptyTensor(ctx, 'f32', [n, H], 'prefix mlp pre'),
    h: emptyTensor(ctx, 'f32', [n, H], 'prefix mlp h'),
    table: emptyTensor(ctx, 'f32', [n, W], 'prefix mlp table'),
    dTable: emptyTensor(ctx, 'f32', [n, W], 'prefix mlp d table'),
    dh: emptyTensor(ctx, 'f32', [n, H], 'prefix mlp dh'),
    dPre: emptyTensor(ctx, 'f32', [n, H], 'prefix mlp d pre'),
    ones,
  };
}

/** The MLP's output into every layer's (2, n, TD) block: table row p, columns (2l + s)·TD.. → block l, row s·n + p (one dispatch per layer). */
export async function projectPrefix(ctx: GpuContext, p: PrefixTuning): Promise<void> {
  const m = p.projection;
  if (!m) return;
  await matmulXWt(ctx, m.emb, m.w1, m.b1, { out: m.pre });
  await bottleneckActForward(ctx, m.pre, 'tanh', { out: m.h });
  await matmulXWt(ctx, m.h, m.w2, m.b2, { out: m.table });
  for (const [l, layer] of p.layers.entries()) await prefixTableToBlock(ctx, m.table, layer.kv, l);
}

/**
 * The MLP's gradients from the layers' block gradients (accumulated over the step's micro-batches):
 * dTable gathered from the blocks, then dW2 = dTableᵀ·h, db2 = Σ dTable, dh = dTable·W2,
 * dPre = dh ⊙ (1 - h²), dW1 = dPreᵀ·E, db1 = Σ dPre, dE = dPre·W1 (written, not accumulated).
 */
export async function projectPrefixBackward(ctx: GpuContext, p: PrefixTuning): Promise<void> {
  const m = p.projection;
  if (!m) return;
  for (const [l, layer] of p.layers.entries()) await prefixBlockToTable(ctx, layer.grad, m.dTable, l);
  await fillTensor(ctx, m.ones, 1);
  await matmulDyTX(ctx, m.dTable, m.h, { out: m.dW2 });
  await matmulDyTX(ctx, m.dTable, m.ones, { out: { ...m.dB2, shape: [m.dB2.shape[0], 1] } });
  await matmulDyW(ctx, m.dTable, m.w2, { out: m.dh });
  await bottleneckActBackward(ctx, m.dh, m.pre, 'tanh', { out: m.dPre });
  await matmulDyTX(ctx, m.dPre, m.emb, { out: m.dW1 });
  await matmulDyTX(ctx, m.dPre, m.ones, { out: { ...m.dB1, shape: [m.hidden, 1] } });
  await matmulDyW(ctx, m.dPre, m.w1, { out: m.dEmb });
}

/** The MLP's trained tensors with their checkpoint names (biases without weight decay). */
export function prefixProjectionParams(m: PrefixProjection): { name: string; param: Tensor; grad: Tensor; decay: boolean }[] {
  const N = PREFIX_PROJECTION_NAMES;
  return [
    { name: N.emb, param: m.emb, grad: m.dEmb, decay: true },
    { name: N.w1, param: m.w1, grad: m.dW1, decay: true },
    { name: N.b1, param: m.b1, grad: m.dB1, decay: false },
    { name: N.w2, param: m.w2, grad: m.dW2, decay: true },
    { name: N.b2, param: m.b2, grad: m.dB2, decay: false },
  ];
}

/**
 * f32 values prefix tuning adds to a training step of B rows of T tokens (train/memory.ts): the
 * trained table; per layer the forward's extended q, k, v, out over P + T positions and its lse
 * (kept for the backward, prefixLayerForward); shared scratch the backward's extended dout, dq,
 * dk, dv, its (attn, rows) reductions and the prefix rows (prefixLayerBackward).
 */
export function prefixFootprint(
  c: Pick<ModelConfig, 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim'>,
  P: number,
  B: number,
  T: number,
  projection?: { hidden: number },
): { trainedFloats: number; perLayerFloats: number; scratchFloats: number } {
  const X = B * (P + T);
  const q = X * c.numHeads * c.headDim;
  const kv = X * c.numKvHeads * c.headDim;
  const lse = B * c.numHeads * (P + T);
  const table = prefixTableSize(c, P);
  const base = 2 * q + 2 * kv + 2 * lse + 2 * P * c.numKvHeads * c.headDim;
  if (!projection) return { trainedFloats: table, perLayerFloats: 2 * q + 2 * kv + lse, scratchFloats: base };
  // with the MLP it is what trains; the blocks and their gradients, its table, dTable, pre, h, dh, dPre and ones are its working set
  const TD = c.numKvHeads * c.headDim;
  const H = projection.hidden;
  const W = table / P;
  return {
    trainedFloats: P * TD + H * TD + H + W * H + W,
    perLayerFloats: 2 * q + 2 * kv + lse,
    scratchFloats: base + 4 * table + 4 * P * H + P,
  };
}

/** Number of values of PEFT's prompt_embeddings for this model: n · L · 2 · Hkv · D. */
export function prefixTableSize(c: Pick<ModelConfig, 'numLayers' | 'numKvHeads' | 'headDim'>, n: number): number {
  return n * c.numLayers * 2 * c.numKvHeads * c.headDim;
}

/** N(0, 1) values in PEFT's table layout (Box-Muller over a seeded mulberry32): PrefixEncoder's embedding init. */
export function randomPrefixTable(size: number, seed: number): Float32Array {
  const next = mulberry32(mixSeed(seed, 0x70726678));
  const u = () => (next() + 0.5) / 4294967296;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < size) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/**
 * PEFT's table (n, L·2·TD) holding the base model's own keys and values of `ids` (cut or repeated
 * to n tokens) at positions 0..n-1: the KV cache a prefill of those tokens leaves, so that the
 * prefix starts as if that text preceded every example (Li & Liang 2021: initialising with real
 * activations trains far better than random values).
 */
export async function prefixTableFromText(model: CausalLM, ids: readonly number[], n: number): Promise<Float32Array> {
  if (ids.length === 0) throw new Error('Prefix tuning from a text needs a text with at least one token: enter one, or start the prefix from random values.');
  const c = model.config;
  const TD = c.numKvHeads * c.headDim;
  const tokens = Array.from({ length: n }, (_, i) => ids[i % ids.length]);
  const cache = model.kvCache(n);
  await model.decode(tokens, 0, cache, null);
  model.ctx.flush();
  const blocks: Float32Array[] = [];
  for (const kv of cache) {
    const block = new Float32Array(2 * n * TD);
    block.set((await downloadF32(model.ctx, kv.k)).subarray(0, n * TD), 0);
    block.set((await downloadF32(model.ctx, kv.v)).subarray(0, n * TD), n * TD);
    blocks.push(block);
  }
  return toPeftTable(blocks, n, TD);
}

/** Layer l's (2, n, TD) block (keys then values) out of PEFT's (n, L·2·TD) table. */
export function layerFromPeftTable(table: ArrayLike<number>, n: number, L: number, TD: number, l: number): Float32Array {
  const out = new Float32Array(2 * n * TD);
  for (let s = 0; s < 2; s++) {
    for (let p = 0; p < n; p++) {
      const src = p * L * 2 * TD + (2 * l + s) * TD;
      for (let c = 0; c < TD; c++) out[(s * n + p) * TD + c] = table[src + c];
    }
  }
  return out;
}

/** PEFT's (n, L·2·TD) table from the per-layer (2, n, TD) blocks. */
export function toPeftTable(layers: readonly ArrayLike<number>[], n: number, TD: number): Float32Array {
  const L = layers.length;
  const out = new Float32Array(n * L * 2 * TD);
  layers.forEach((block, l) => {
    for (let s = 0; s < 2; s++) {
      for (let p = 0; p < n; p++) {
        const dst = p * L * 2 * TD + (2 * l + s) * TD;
        for (let c = 0; c < TD; c++) out[dst + c] = block[(s * n + p) * TD + c];
      }
    }
  });
  return out;
}

export function createPrefixTuning(ctx: GpuContext, c: ModelConfig, o: PrefixTuningOptions): PrefixTuning {
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`Prefix tuning needs at least one virtual token, got ${o.n}.`);
  const TD = c.numKvHeads * c.headDim;
  const size = prefixTableSize(c, o.n);
  if (o.initialTable && o.initialTable.length !== size) {
    throw new Error(
      `The prefix (prompt_embeddings) has ${o.initialTable.length} values, but ${o.n} virtual tokens of this model ` +
        `(${c.numLayers} layers × 2 × ${c.numKvHeads} kv heads × ${c.headDim}) need ${size}.`,
    );
  }
  if (o.projection && o.initialTable) throw new Error('Prefix tuning with the reparameterisation MLP starts from the MLP, not from a table: give one or the other.');
  // with the MLP the blocks are its output (projectPrefix fills them)
  const table = o.projection ? new Float32Array(size) : (o.initialTable ?? randomPrefixTable(size, o.seed));
  const layers = Array.from({ length: c.numLayers }, (_, l) => ({
    kv: uploadF32(ctx, layerFromPeftTable(table, o.n, c.numLayers, TD, l), [2, o.n, TD], prefixParamName(l)),
    grad: emptyTensor(ctx, 'f32', [2, o.n, TD], `${prefixParamName(l)}.grad`),
  }));
  const p: PrefixTuning = { kind: 'prefix', n: o.n, tokenDim: TD, heads: c.numKvHeads, layers };
  if (o.projection) p.projection = createProjection(ctx, c, o.n, o.projection, o.seed);
  return p;
}

export function releasePrefixTuning(ctx: GpuContext, p: PrefixTuning): void {
  for (const l of p.layers) {
    releaseTensor(ctx, l.kv);
    releaseTensor(ctx, l.grad);
  }
  const m = p.projection;
  if (m) for (const t of [m.emb, m.w1, m.b1, m.w2, m.b2, m.dEmb, m.dW1, m.dB1, m.dW2, m.dB2, m.pre, m.h, m.table, m.dTable, m.dh, m.dPre, m.ones]) releaseTensor(ctx, t);
}

/** PEFT's prompt_embeddings (n, L·2·token_dim) of the current prefix. */
export async function downloadPrefixTable(ctx: GpuContext, p: PrefixTuning): Promise<Float32Array> {
  const blocks: Float32Array[] = [];
  for (const l of p.layers) blocks.push(await downloadF32(ctx, l.kv));
  return toPeftTable(blocks, p.n, p.tokenDim);
}

/** The run that applies (and, training, differentiates) the prefix. */
export function prefixRun(p: PrefixTuning, training: boolean): ForwardRun {
  return { prefix: { P: p.n, layers: p.layers.map((l) => ({ kv: l.kv, grad: training ? l.grad : null })) }, seed: 0, training };
}

/**
 * The batch the model sees: the row's tokens at positions n + position (HF's cache_position after
 * n past positions), no document ids (one example per row, padding after it: a causal row).
 */
export function withPrefixPositions(b: Batch, n: number): HostBatch & { trainedTokens: number } {
  for (let r = 0; r < b.B; r++) {
    const src = r * b.T;
    let ended = false;
    for (let t = 0; t < b.T; t++) {
      const d = b.docIds[src + t];
      if (d < 0) ended = true;
      else if (ended || d !== b.docIds[src]) throw new Error('Prefix tuning needs one example per sequence: turn packing off.');
    }
  }
  const positions = Int32Array.from(b.positions, (p) => p + n);
  return { B: b.B, T: b.T, tokens: b.tokens, positions, docIds: null, labels: b.labels, trainedTokens: b.trainedTokens };
}

/** Layer i's prefix tensors for the attention op, checked against the model's shapes. */
function layerPrefix(pre: PrefixRun, i: number, s: PrefixAttentionShape) {
  const l = pre.layers[i];
  if (!l) throw new Error(`prefix tuning: no prefix for layer ${i} (the run has ${pre.layers.length} layers)`);
  return { P: pre.P, kv: l.kv, grad: l.grad, s };
}

/**
 * Training/eval attention of layer i with the prefix: out = attention over [prefix | k]; the
 * extended activations are kept in the workspace under `${key}.px.*` for the backward.
 */
export async function prefixLayerForward(
  ctx: GpuContext,
  ws: Workspace,
  pre: PrefixRun,
  i: number,
  key: string,
  t: { q: Tensor; k: Tensor; v: Tensor; out: Tensor; docIds: Tensor | null },
  s: PrefixAttentionShape,
): Promise<void> {
  // packed documents would each need the prefix: refused rather than silently attended across
  if (t.docIds) throw new Error('prefix tuning needs one example per sequence (no document ids): build the batch with withPrefixPositions, packing off');
  const l = layerPrefix(pre, i, s);
  await attentionPrefixForward(ctx, t.q, t.k, t.v, { P: l.P, kv: l.kv }, t.out, savedOf(ws, key, s, l.P), s);
}

/** Backward of prefixLayerForward: dq, dk, dv of the sequence, the prefix's gradient accumulated (when the run trains it). */
export async function prefixLayerBackward(ctx: GpuContext, ws: Workspace, pre: PrefixRun, i: number, key: string, dout: Tensor, g: { dq: Tensor; dk: Tensor; dv: Tensor }, s: PrefixAttentionShape): Promise<void> {
  const l = layerPrefix(pre, i, s);
  const z = prefixAttentionSizes(s, l.P);
  const scratch = {
    doutx: ws.get('grad.px.dout', 'f32', z.q),
    dqx: ws.get('grad.px.dq', 'f32', z.q),
    dkx: ws.get('grad.px.dk', 'f32', z.kv),
    dvx: ws.get('grad.px.dv', 'f32', z.kv),
    attn: ws.get('scratch.px.attn', 'f32', z.attn),
    rows: ws.get('scratch.px.rows', 'f32', z.rows),
  };
  await attentionPrefixBackward(ctx, { P: l.P, kv: l.kv }, savedOf(ws, key, s, l.P), dout, { ...g, prefixGrad: l.grad }, scratch, s);
}

function savedOf(ws: Workspace, key: string, s: PrefixAttentionShape, P: number) {
  const z = prefixAttentionSizes(s, P);
  return {
    qx: ws.get(`${key}.px.q`, 'f32', z.q),
    kx: ws.get(`${key}.px.k`, 'f32', z.kv),
    vx: ws.get(`${key}.px.v`, 'f32', z.kv),
    outx: ws.get(`${key}.px.out`, 'f32', z.q),
    lse: ws.get(`${key}.px.lse`, 'f32', z.lse),
  };
}

/**
 * Generation with the prefix: every layer's KV cache holds the prefix keys/values at positions
 * 0..n-1 (as HF's DynamicCache built from PEFT's past_key_values), the prompt is prefilled at
 * positions n.., then one token per step.
 */
export async function generateWithPrefix(model: CausalLM, p: PrefixTuning, promptIds: number[], o: GenerateOptions): Promise<number[]> {
  const n = p.n;
  const KV = p.tokenDim;
  return generateIds(model, promptIds, {
    ...o,
    run: null,
    past: {
      length: n,
      fill: (cache) => {
        cache.forEach((c, l) => {
          copyTensor(model.ctx, p.layers[l].kv, c.k, { srcOffset: 0, dstOffset: 0, count: n * KV });
          copyTensor(model.ctx, p.layers[l].kv, c.v, { srcOffset: n * KV, dstOffset: 0, count: n * KV });
        });
      },
    },
  });
}
