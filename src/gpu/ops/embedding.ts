// Embedding lookup (token ids, or GPT-2 learned position ids) and its deterministic backward;
// kernels in shaders/embedding.wgsl.
//   embeddingForward(table, ids)    table (V, C) fp16 packed or f32, ids (N) i32 -> out (N, C) f32
//   buildEmbeddingGradPlan(ids, V)  CPU: sorts token indices by id and uploads the groups
//   embeddingBackward(dout, plan, dTable)   dout (N, C) f32: dTable (V, C) f32 += scatter of dout
// Out-of-range ids never read out of bounds (the kernel clamps them); they are reported by
// validateIds on the CPU (forward with idsHost, and every plan), and on the GPU into an optional
// counter (badIdsOut).
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import embeddingCode from '../shaders/embedding.wgsl?raw';
import { emptyTensor, numel, releaseTensor, uploadI32, type Tensor } from '../tensor';
import { zeroTensor } from './elementwise';

export const EMBEDDING_SHADER: WgslSource = { file: 'embedding.wgsl', code: embeddingCode };
const WG = 256;

function expectTable(op: string, table: Tensor, dtypes: Tensor['dtype'][]): [number, number] {
  if (!dtypes.includes(table.dtype) || table.shape.length !== 2 || table.shape[0] < 1) {
    throw new Error(`${op}: table (${table.label}) must be a ${dtypes.join(' or ')} (V, C) tensor with V >= 1, got ${table.dtype} [${table.shape.join(',')}]`);
  }
  return [table.shape[0], table.shape[1]];
}

/** Throws, naming the first offending positions, when an id lies outside [0, V). */
export function validateIds(ids: ArrayLike<number>, V: number, what = 'ids'): void {
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      count++;
      if (bad.length < 5) bad.push(`${what}[${i}] = ${id}`);
    }
  }
  if (count > 0) {
    throw new Error(
      `embedding: ${count} of ${ids.length} ${what} outside [0, ${V}): ${bad.join(', ')}. ` +
        `The tokenizer and the model disagree on the vocabulary (check vocab_size / added tokens), ` +
        `or positions exceed the model's max_position_embeddings.`,
    );
  }
}

export interface EmbeddingForwardOptions {
  /** (N, C) f32 output buffer */
  out?: Tensor;
  /** out += table[ids] instead of out = (adds position embeddings onto token embeddings) */
  accumulate?: boolean;
  /** the same ids on the CPU: validated (throws on an out-of-range id) before recording */
  idsHost?: ArrayLike<number>;
  /** a (1) u32 tensor the kernel adds the number of out-of-range ids to (zero it first) */
  badIdsOut?: Tensor;
}

export async function embeddingForward(
  ctx: GpuContext,
  table: Tensor,
  ids: Tensor,
  opts: EmbeddingForwardOptions = {},
): Promise<Tensor> {
  const op = 'embeddingForward';
  const [V, C] = expectTable(op, table, ['f16', 'f32']);
  if (ids.dtype !== 'i32') throw new Error(`${op}: ids (${ids.label}) must be i32, got ${ids.dtype}`);
  const N = numel(ids.shape);
  if (opts.idsHost) {
    if (opts.idsHost.length !== N) throw new Error(`${op}: idsHost has ${opts.idsHost.length} ids, the ids tensor ${N}`);
    validateIds(opts.idsHost, V);
  }
  if (opts.accumulate && !opts.out) throw new Error(`${op}: accumulate needs the out tensor to add into`);
  const out = opts.out ?? emptyTensor(ctx, 'f32', [N, C], 'embedding out');
  if (out.dtype !== 'f32' || numel(out.shape) !== N * C || out.shape[out.shape.length - 1] !== C) {
    throw new Error(`${op}: out (${out.label}) must be f32 with ${N}x${C} elements, got ${out.dtype} [${out.shape.join(',')}]`);
  }
  const bad = opts.badIdsOut;
  if (bad && (bad.dtype !== 'u32' || numel(bad.shape) !== 1)) {
    throw new Error(`${op}: badIdsOut (${bad.label}) must be a (1) u32 tensor, got ${bad.dtype} [${bad.shape.join(',')}]`);
  }
  const pipeline = await ctx.pipelines.get({ shader: EMBEDDING_SHADER, entryPoint: 'embedding_forward', constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil((N * C) / WG));
  dispatch(ctx, {
    pipeline,
    bindings: [table, ids, out, bad ?? ctx.emptyBuffer],
    uniforms: new Uint32Array([N, C, V, table.dtype === 'f16' ? 1 : 0, opts.accumulate ? 1 : 0, bad ? 1 : 0, gx * WG, 0]),
    workgroups: [gx, gy],
    label: `embedding_forward ${N}x${C} from ${V}`,
  });
  return out;
}

/** Token indices grouped by id, on the GPU, for embeddingBackward. Reusable while the ids stay the same. */
export interface EmbeddingGradPlan {
  N: number;
  V: number;
  /** distinct ids */
  U: number;
  /** (N) i32 token indices sorted by id, stable */
  order: Tensor;
  /** (U+1) i32 group boundaries in order */
  segStart: Tensor;
  /** (U) i32 id of each group */
  uniqueIds: Tensor;
}

/** The CPU half of the backward: group token indices by id (counting sort, stable) and upload. */
export function embeddingGradGroups(ids: ArrayLike<number>, V: number): { order: Int32Array; segStart: Int32Array; uniqueIds: Int32Array } {
  validateIds(ids, V);
  const N = ids.length;
  const counts = new Map<number, number>();
  for (let i = 0; i < N; i++) counts.set(ids[i], (counts.get(ids[i]) ?? 0) + 1);
  const uniqueIds = Int32Array.from(counts.keys()).sort();
  const segStart = new Int32Array(uniqueIds.length + 1);
  const next = new Map<number, number>();
  for (let u = 0; u < uniqueIds.length; u++) {
    next.set(uniqueIds[u], segStart[u]);
    segStart[u + 1] = segStart[u] + counts.get(uniqueIds[u])!;
  }
  const order = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const k = next.get(ids[i])!;
    order[k] = i;
    next.set(ids[i], k + 1);
  }
  return { order, segStart, uniqueIds };
}

export function buildEmbeddingGradPlan(ctx: GpuContext, ids: ArrayLike<number>, V: number): EmbeddingGradPlan {
  const g = embeddingGradGroups(ids, V);
  const U = g.uniqueIds.length;
  return {
    N: ids.length,
    V,
    U,
    order: uploadI32(ctx, g.order, [ids.length], 'embedding grad order'),
    segStart: uploadI32(ctx, g.segStart, [U + 1], 'embedding grad segments'),
    uniqueIds: uploadI32(ctx, g.uniqueIds, [U], 'embedding grad ids'),
  };
}

/** Free a plan's buffers once the work that uses it has been submitted (flush()). */
export function releaseEmbeddingGradPlan(ctx: GpuContext, plan: EmbeddingGradPlan): void {
  for (const t of [plan.order, plan.segStart, plan.uniqueIds]) releaseTensor(ctx, t);
}

/**
 * dTable[ids[n]] += dout[n] for every token n, deterministically. Without `dTable` a zeroed
 * (V, C) f32 tensor is allocated; a given one is accumulated into (zero it at the step's start).
 */
export async function embeddingBackward(
  ctx: GpuContext,
  dout: Tensor,
  plan: EmbeddingGradPlan,
  dTable?: Tensor,
): Promise<Tensor> {
  const op = 'embeddingBackward';
  const C = dout.shape[dout.shape.length - 1] ?? 0;
  if (dout.dtype !== 'f32' || dout.shape.length < 2 || numel(dout.shape) !== plan.N * C) {
    throw new Error(`${op}: dout (${dout.label}) must be f32 (N, C) with N = ${plan.N} tokens (the plan's), got ${dout.dtype} [${dout.shape.join(',')}]`);
  }
  let dt = dTable;
  if (!dt) dt = zeroTensor(ctx, emptyTensor(ctx, 'f32', [plan.V, C], 'embedding dTable'));
  const [V, Ct] = expectTable(op, dt, ['f32']);
  if (V !== plan.V || Ct !== C) throw new Error(`${op}: dTable (${dt.label}) is [${V},${Ct}], expected [${plan.V},${C}]`);
  const pipeline = await ctx.pipelines.get({ shader: EMBEDDING_SHADER, entryPoint: 'embedding_backward', constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil((plan.U * C) / WG));
  dispatch(ctx, {
    pipeline,
    bindings: [dout, plan.order, plan.segStart, plan.uniqueIds, dt],
    uniforms: new Uint32Array([plan.U, C, gx * WG, 0]),
    workgroups: [gx, gy],
    label: `embedding_backward ${plan.U} ids x ${C}`,
  });
  return dt;
}
