// Cross-entropy fused with softmax over the vocabulary, chunked over rows; shaders/cross_entropy.wgsl.
//   logits (N, V) f32 for one chunk of rows; labels (L) i32 for the whole sequence or batch
//   (L >= rowOffset + N; -100 = ignored); label smoothing ε with PyTorch semantics; reduction =
//   mean over `countedTokens`, the counted (non-ignored) labels of ALL chunks together, so the
//   chunks' losses and gradients add up to exactly the unchunked ones.
//   crossEntropyForwardBackward: loss and dlogits (N, V) = (softmax - target)·dloss/countedTokens
//     in one kernel (optionally in place over logits), so no full [tokens, vocab] buffer is needed
//     beyond one chunk's logits.
//   crossEntropyLossOnly: the same loss without the gradient (evaluation).
//   sumRows: (R) f32 -> one f32 (deterministic), e.g. per-row losses -> the step's mean loss.
// Losses go to `lossOut`, either
//   'accumulate': a (1) f32 tensor, lossOut[0] += Σ_chunk rowLoss / countedTokens (zero it at the
//                 step's start; the chunk's row losses go through an internal scratch buffer), or
//   'rows':       an (R) f32 tensor, lossOut[rowOffset + i] = raw loss of row i (0 if ignored).
// A label outside [0, V) other than -100 yields loss NaN and a zero gradient row; pass labelsHost
// to have such labels rejected on the CPU with their positions instead.
// Kernel versions (rowKernels.ts), for the rows and for sumRows alike:
//   v1  cross_entropy.wgsl     trees in workgroup memory, WG a power of two, any adapter
//   v2  cross_entropy_sg.wgsl  subgroupMax/subgroupAdd within subgroups + workgroup memory across,
//                              any WG; used when the device has subgroups and v2 passed its check
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { CROSS_ENTROPY_IO, SG_SUM, WG_SUM } from '../fragments';
import type { WgslSource } from '../shader';
import crossEntropyCode from '../shaders/cross_entropy.wgsl?raw';
import crossEntropySgCode from '../shaders/cross_entropy_sg.wgsl?raw';
import { downloadF32, emptyTensor, numel, uploadF32, uploadI32, type Tensor } from '../tensor';
import { randn } from '../../util/random';
import { crossEntropyRef } from './crossEntropy.ref';
import { chooseRowVersion, type RowCheck, type RowVersion } from './rowKernels';
import { rowThreads } from './rowThreads';

export const CROSS_ENTROPY_SHADER: WgslSource = { file: 'cross_entropy.wgsl', code: crossEntropyCode, fragments: [WG_SUM, CROSS_ENTROPY_IO] };
export const CROSS_ENTROPY_SG_SHADER: WgslSource = {
  file: 'cross_entropy_sg.wgsl',
  code: crossEntropySgCode,
  fragments: [SG_SUM, CROSS_ENTROPY_IO],
};
const SHADERS: Record<RowVersion, WgslSource> = { 1: CROSS_ENTROPY_SHADER, 2: CROSS_ENTROPY_SG_SHADER };

export const IGNORE_INDEX = -100;
export const CROSS_ENTROPY_WG = 256;
/** sumRows's threads (one workgroup) */
export const SUM_WG = 256;
const QUIET_NAN_BITS = 0x7fc00000;

/** Labels that count towards the mean (not IGNORE_INDEX): the countedTokens of a step. */
export function countCountedLabels(labels: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) n++;
  return n;
}

export type LossMode = 'accumulate' | 'rows';

export interface CrossEntropyLossOptions {
  /** (1) f32 accumulator or (R) f32 per-row losses; see lossMode */
  lossOut: Tensor;
  /** default: 'accumulate' when lossOut has one element, else 'rows' */
  lossMode?: LossMode;
  /** counted labels across all chunks (the mean's denominator); needed for gradients and 'accumulate' */
  countedTokens?: number;
  /** label smoothing ε in [0, 1) */
  smoothing?: number;
  /** index of this chunk's first row in labels (and in a 'rows' lossOut); default 0 */
  rowOffset?: number;
  /** the labels on the CPU (same indexing as the tensor): checked before recording */
  labelsHost?: ArrayLike<number>;
  /** threads per row (v1: a power of two); default: CROSS_ENTROPY_WG on GPUs, SOFTWARE_ROW_THREADS on CPU rasterisers (rowThreads.ts) */
  wg?: number;
  /** kernel version (rowKernels.ts); default: 2 where subgroups are present and checked, else 1 */
  version?: RowVersion;
}

export interface CrossEntropyOptions extends CrossEntropyLossOptions {
  countedTokens: number;
  /** a (N, V) f32 tensor for the gradient, or 'inPlace' to overwrite logits with it; default: a new tensor */
  dlogits?: Tensor | 'inPlace';
  /** upstream gradient of the mean loss, default 1 */
  dloss?: number;
}

interface Prepared {
  op: string;
  N: number;
  V: number;
  rowOffset: number;
  mode: LossMode;
}

function prepare(op: string, logits: Tensor, labels: Tensor, o: CrossEntropyLossOptions, needCount: boolean): Prepared {
  if (logits.dtype !== 'f32' || logits.shape.length !== 2 || logits.shape[1] < 1) {
    throw new Error(`${op}: logits (${logits.label}) must be f32 (N, V) with V >= 1, got ${logits.dtype} [${logits.shape.join(',')}]`);
  }
  const [N, V] = logits.shape;
  const rowOffset = o.rowOffset ?? 0;
  if (!Number.isInteger(rowOffset) || rowOffset < 0) throw new Error(`${op}: rowOffset must be an integer >= 0, got ${rowOffset}`);
  if (labels.dtype !== 'i32' || numel(labels.shape) < rowOffset + N) {
    throw new Error(
      `${op}: labels (${labels.label}) must be i32 with at least rowOffset + N = ${rowOffset + N} entries, got ${labels.dtype} [${labels.shape.join(',')}]`,
    );
  }
  const smoothing = o.smoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`${op}: smoothing must be in [0, 1), got ${smoothing}`);
  const mode = o.lossMode ?? (numel(o.lossOut.shape) === 1 ? 'accumulate' : 'rows');
  if (o.lossOut.dtype !== 'f32') throw new Error(`${op}: lossOut (${o.lossOut.label}) must be f32, got ${o.lossOut.dtype}`);
  if (mode === 'accumulate' && numel(o.lossOut.shape) !== 1) {
    throw new Error(`${op}: lossMode 'accumulate' needs a (1) lossOut, got [${o.lossOut.shape.join(',')}] (${o.lossOut.label})`);
  }
  if (mode === 'rows' && numel(o.lossOut.shape) < rowOffset + N) {
    throw new Error(`${op}: lossMode 'rows' needs lossOut (${o.lossOut.label}) with at least rowOffset + N = ${rowOffset + N} entries, got [${o.lossOut.shape.join(',')}]`);
  }
  if (needCount || mode === 'accumulate') {
    const c = o.countedTokens;
    if (c === undefined || !Number.isInteger(c) || c < 1) {
      throw new Error(
        `${op}: countedTokens must be the number of non-ignored labels in the whole step (an integer >= 1), got ${c}; ` +
          `use countCountedLabels(labels), and skip steps where every label is -100`,
      );
    }
  }
  if (o.labelsHost) checkLabels(op, o.labelsHost, rowOffset, N, V);
  return { op, N, V, rowOffset, mode };
}

function checkLabels(op: string, labels: ArrayLike<number>, rowOffset: number, N: number, V: number) {
  if (labels.length < rowOffset + N) throw new Error(`${op}: labelsHost has ${labels.length} labels, fewer than rowOffset + N = ${rowOffset + N}`);
  const bad: string[] = [];
  for (let i = rowOffset; i < rowOffset + N; i++) {
    const y = labels[i];
    if (y !== IGNORE_INDEX && !(Number.isInteger(y) && y >= 0 && y < V)) bad.push(`labels[${i}] = ${y}`);
  }
  if (bad.length > 0) {
    throw new Error(`${op}: ${bad.length} labels outside [0, ${V}) and not ${IGNORE_INDEX}: ${bad.slice(0, 5).join(', ')}; the labels do not match the model's vocabulary`);
  }
}

// Per-row losses of one chunk in 'accumulate' mode, summed right after. One per context, grown by
// doubling; a replaced one may still be referenced by recorded (unsubmitted) work, so it is kept
// until the context is destroyed (at most as many bytes as the live one).
const scratch = new WeakMap<GpuContext, Tensor>();

function scratchRows(ctx: GpuContext, n: number): Tensor {
  const have = scratch.get(ctx);
  // one whose allocation ran out of memory (reported after a failed run) is not reused
  if (have && numel(have.shape) >= n && ctx.allocator.usable(have.buffer)) return have;
  let size = 256;
  while (size < n) size *= 2;
  const t = emptyTensor(ctx, 'f32', [size], 'cross-entropy row losses (scratch)');
  scratch.set(ctx, t);
  return t;
}

async function record(
  ctx: GpuContext,
  logits: Tensor,
  labels: Tensor,
  o: CrossEntropyLossOptions,
  pr: Prepared,
  grad: { dlogits: Tensor | 'inPlace'; scale: number } | null,
): Promise<void> {
  const { N, V, rowOffset, mode } = pr;
  const rows = mode === 'rows' ? o.lossOut : scratchRows(ctx, N);
  const lossOffset = mode === 'rows' ? rowOffset : 0;
  const wg = rowThreads(ctx, CROSS_ENTROPY_WG, o.wg);
  const version = await chooseRowVersion(pr.op, ctx, 'crossEntropy', wg, o.version, checkCrossEntropyV2);
  const inPlace = grad?.dlogits === 'inPlace';
  const entryPoint = inPlace ? 'ce_forward_backward_inplace' : 'ce_forward_backward';
  const pipeline = await ctx.pipelines.get({ shader: SHADERS[version], entryPoint, constants: { WG: wg } });
  const raw = new ArrayBuffer(32);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  u[0] = N;
  u[1] = V;
  u[2] = rowOffset;
  u[3] = lossOffset;
  f[4] = o.smoothing ?? 0;
  f[5] = grad?.scale ?? 0;
  u[6] = grad ? 1 : 0;
  u[7] = QUIET_NAN_BITS;
  const bindings = inPlace
    ? [logits, labels, rows]
    : [logits, labels, rows, grad ? (grad.dlogits as Tensor) : ctx.emptyBuffer];
  dispatch(ctx, { pipeline, bindings, uniforms: u, workgroups: grid1d(ctx, N), label: `${entryPoint} v${version} ${N}x${V}` });
  if (mode === 'accumulate') {
    await sumRows(ctx, rows, { out: o.lossOut, count: N, scale: 1 / o.countedTokens!, accumulate: true, version: o.version });
  }
}

export async function crossEntropyForwardBackward(
  ctx: GpuContext,
  logits: Tensor,
  labels: Tensor,
  opts: CrossEntropyOptions,
): Promise<{ dlogits: Tensor; lossOut: Tensor }> {
  const op = 'crossEntropyForwardBackward';
  const pr = prepare(op, logits, labels, opts, true);
  let dlogits: Tensor | 'inPlace' = opts.dlogits ?? emptyTensor(ctx, 'f32', [pr.N, pr.V], 'cross-entropy dlogits');
  if (dlogits !== 'inPlace') {
    if (dlogits.dtype !== 'f32' || dlogits.shape.length !== 2 || dlogits.shape[0] !== pr.N || dlogits.shape[1] !== pr.V) {
      throw new Error(`${op}: dlogits (${dlogits.label}) must be f32 [${pr.N},${pr.V}], got ${dlogits.dtype} [${dlogits.shape.join(',')}]`);
    }
    if (dlogits.buffer === logits.buffer) dlogits = 'inPlace';
  }
  for (const [t, what] of [
    [labels, 'labels'],
    [opts.lossOut, 'lossOut'],
  ] as const) {
    if (t.buffer === logits.buffer || (dlogits !== 'inPlace' && t.buffer === dlogits.buffer)) {
      throw new Error(`${op}: ${what} (${t.label}) shares a buffer with the logits or dlogits`);
    }
  }
  const scale = (opts.dloss ?? 1) / opts.countedTokens;
  await record(ctx, logits, labels, opts, pr, { dlogits, scale });
  return { dlogits: dlogits === 'inPlace' ? logits : dlogits, lossOut: opts.lossOut };
}

export async function crossEntropyLossOnly(
  ctx: GpuContext,
  logits: Tensor,
  labels: Tensor,
  opts: CrossEntropyLossOptions,
): Promise<Tensor> {
  const op = 'crossEntropyLossOnly';
  const pr = prepare(op, logits, labels, opts, false);
  if (opts.lossOut.buffer === logits.buffer || opts.lossOut.buffer === labels.buffer) {
    throw new Error(`${op}: lossOut (${opts.lossOut.label}) shares a buffer with the logits or labels`);
  }
  await record(ctx, logits, labels, opts, pr, null);
  return opts.lossOut;
}

export interface SumRowsOptions {
  /** (1) f32 result; default a new tensor */
  out?: Tensor;
  /** out[0] += ... instead of = ... */
  accumulate?: boolean;
  /** multiplies the sum (e.g. 1 / countedTokens), default 1 */
  scale?: number;
  /** first element summed (default 0) */
  offset?: number;
  /** elements summed (default all after offset) */
  count?: number;
  /** kernel version (rowKernels.ts); default: 2 where subgroups are present and checked, else 1 */
  version?: RowVersion;
}

/** out[0] (+)= scale · Σ src[offset .. offset+count), in a fixed order on the GPU. */
export async function sumRows(ctx: GpuContext, src: Tensor, opts: SumRowsOptions = {}): Promise<Tensor> {
  const op = 'sumRows';
  if (src.dtype !== 'f32') throw new Error(`${op}: src (${src.label}) must be f32, got ${src.dtype}`);
  const n = numel(src.shape);
  const offset = opts.offset ?? 0;
  const count = opts.count ?? n - offset;
  if (![offset, count].every((v) => Number.isInteger(v) && v >= 0) || offset + count > n) {
    throw new Error(`${op}: range [${offset}, ${offset + count}) does not fit src (${src.label}, ${n} elements)`);
  }
  if (opts.accumulate && !opts.out) throw new Error(`${op}: accumulate needs the out tensor to add into`);
  const out = opts.out ?? emptyTensor(ctx, 'f32', [1], 'sum');
  if (out.dtype !== 'f32' || numel(out.shape) !== 1) throw new Error(`${op}: out (${out.label}) must be a (1) f32 tensor, got ${out.dtype} [${out.shape.join(',')}]`);
  if (out.buffer === src.buffer) throw new Error(`${op}: out and src are the same buffer (${src.label})`);
  const version = await chooseRowVersion(op, ctx, 'sumRows', SUM_WG, opts.version, checkSumRowsV2);
  const pipeline = await ctx.pipelines.get({ shader: SHADERS[version], entryPoint: 'ce_sum_rows', constants: { WG: SUM_WG } });
  const raw = new ArrayBuffer(16);
  const u = new Uint32Array(raw);
  u[0] = count;
  u[1] = offset;
  u[2] = opts.accumulate ? 1 : 0;
  new Float32Array(raw)[3] = opts.scale ?? 1;
  dispatch(ctx, { pipeline, bindings: [src, out], uniforms: u, workgroups: [1], label: `ce_sum_rows v${version} n=${count}` });
  return out;
}

/**
 * Version 2's check (rowKernels.ts): 4 rows of V = 3·wg + 5 classes (every thread busy, V no
 * multiple of any subgroup; one row ignored, labels at both ends), label smoothing 0.1, per-row
 * losses and the gradient, separately and in place, against the f64 reference.
 */
export const checkCrossEntropyV2: RowCheck = async (ctx, wg) => {
  const [N, V, smoothing] = [4, 3 * wg + 5, 0.1];
  const logits = randn(N * V, 301, 3);
  const labels = Int32Array.from([V - 1, IGNORE_INDEX, 0, Math.floor(V / 2)]);
  const counted = countCountedLabels(labels);
  const tl = uploadF32(ctx, logits, [N, V], 'cross-entropy check logits');
  const tz = uploadF32(ctx, logits, [N, V], 'cross-entropy check logits (in place)');
  const ty = uploadI32(ctx, labels, [N], 'cross-entropy check labels');
  const rows = emptyTensor(ctx, 'f32', [N], 'cross-entropy check rows');
  const rowsInPlace = emptyTensor(ctx, 'f32', [N], 'cross-entropy check rows (in place)');
  const common = { smoothing, countedTokens: counted, wg, version: 2 as const };
  const { dlogits } = await crossEntropyForwardBackward(ctx, tl, ty, { ...common, lossOut: rows });
  await crossEntropyForwardBackward(ctx, tz, ty, { ...common, lossOut: rowsInPlace, dlogits: 'inPlace' });
  const ref = crossEntropyRef(logits, labels, N, V, smoothing, counted);
  // gradients are O(1/(counted·V)): atol scaled to them
  const gradScale = 0.1;
  return {
    shape: `${N}x${V}`,
    outputs: [
      { what: 'row losses', got: await downloadF32(ctx, rows), ref: ref.rowLoss },
      { what: 'dlogits', got: await downloadF32(ctx, dlogits), ref: ref.dlogits, atolScale: gradScale },
      { what: 'row losses (in place)', got: await downloadF32(ctx, rowsInPlace), ref: ref.rowLoss },
      { what: 'dlogits (in place)', got: await downloadF32(ctx, tz), ref: ref.dlogits, atolScale: gradScale },
    ],
    tensors: [tl, tz, ty, rows, rowsInPlace, dlogits],
  };
};

/** sumRows's version 2 check: a sum of 3·wg + 5 values with an offset, accumulated, against f64. */
export const checkSumRowsV2: RowCheck = async (ctx, wg) => {
  const n = 3 * wg + 5;
  const v = randn(n + 2, 302);
  const src = uploadF32(ctx, v, [n + 2], 'sumRows check src');
  const out = uploadF32(ctx, [0.5], [1], 'sumRows check out');
  await sumRows(ctx, src, { out, offset: 2, count: n, scale: 0.25, accumulate: true, version: 2 });
  let ref = 0;
  for (let i = 2; i < n + 2; i++) ref += v[i];
  return { shape: `${n}`, outputs: [{ what: 'sum', got: await downloadF32(ctx, out), ref: [0.5 + 0.25 * ref] }], tensors: [src, out] };
};
