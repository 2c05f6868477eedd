// The frozen base's linear layers with a quantized W (QLoRA-style): W is dequantized inside the
// kernels' tile loads, accumulation is f32.
//   matmulXWtQuant: y = alpha · x · Wᵀ (+ bias) (+ y if accumulate)
//     x (M, K) f32 (a leading batch dimension is folded into M), W (N, K) quantized, bias (N) f32
//     or none, y (M, N) f32
//   matmulDyWQuant: dx = alpha · dy · W (+ dx if accumulate), the input gradient the LoRA backward
//     needs through the frozen W: dy (M, N) f32, dx (M, K) f32
// A quantized weight is a Tensor (so it lives in the model's weight map and is released like any
// other) of dtype 'u32' and logical shape [N, K] whose one buffer holds the codes then the meta of
// util/quant.ts; `quant` says how to read it. Kernels: shaders/matmul_quant.wgsl and
// matmul_quant_dyw.wgsl with fragments/quant_weights.wgsl; versions v1 (one output per thread)
// and v2 (4 x 4 per thread, workgroup-memory tiles, the default).
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import type { WgslFragment, WgslSource } from '../shader';
import quantWeightsCode from '../shaders/fragments/quant_weights.wgsl?raw';
import quantCode from '../shaders/matmul_quant.wgsl?raw';
import quantDywCode from '../shaders/matmul_quant_dyw.wgsl?raw';
import { emptyTensor, numel, readBuffer, STORAGE_USAGE, type Tensor } from '../tensor';
import { dequantizeMatrix, groupsPerRow, packQuantWords, rowWords, type QuantFormat, type QuantMatrix } from '../../util/quant';

/** Q4 and wq_at, the quantized weight reads (the shader binds Wq and declares params). */
const QUANT_WEIGHTS: WgslFragment = { file: 'fragments/quant_weights.wgsl', code: quantWeightsCode };
const XWT_SHADER: WgslSource = { file: 'matmul_quant.wgsl', code: quantCode, fragments: [QUANT_WEIGHTS] };
const DYW_SHADER: WgslSource = { file: 'matmul_quant_dyw.wgsl', code: quantDywCode, fragments: [QUANT_WEIGHTS] };

export interface QuantLayout {
  format: QuantFormat;
  group: number;
  groups: number;
  rowWords: number;
  /** word index of the meta in the buffer */
  metaOffset: number;
}

export interface QuantTensor extends Tensor {
  dtype: 'u32';
  quant: QuantLayout;
}

export function isQuantized(t: Tensor): t is QuantTensor {
  return (t as Partial<QuantTensor>).quant !== undefined;
}

export function uploadQuant(ctx: GpuContext, m: QuantMatrix, label: string): QuantTensor {
  const words = packQuantWords(m);
  const buffer = ctx.allocator.create(words.byteLength, STORAGE_USAGE, label);
  ctx.device.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, words.byteLength);
  return {
    buffer,
    shape: [m.rows, m.cols],
    dtype: 'u32',
    label,
    quant: { format: m.format, group: m.group, groups: groupsPerRow(m), rowWords: rowWords(m.format, m.cols), metaOffset: m.codes.length },
  };
}

/** The matrix back on the CPU (exports dequantize it; tests compare). */
export async function downloadQuant(ctx: GpuContext, t: QuantTensor): Promise<QuantMatrix> {
  const [rows, cols] = t.shape;
  const q = t.quant;
  const metaWords = rows * q.groups * (q.format === 'q8' ? 1 : 2);
  const raw = new Uint32Array(await readBuffer(ctx, t.buffer, (q.metaOffset + metaWords) * 4));
  return {
    format: q.format,
    rows,
    cols,
    group: q.group,
    codes: raw.slice(0, q.metaOffset),
    meta: new Float32Array(raw.slice(q.metaOffset).buffer),
  };
}

/** The f32 values of a quantized weight, (N, K) row-major. */
export async function dequantizeOnCpu(ctx: GpuContext, t: QuantTensor): Promise<Float32Array> {
  return dequantizeMatrix(await downloadQuant(ctx, t));
}

export type QuantVariant = 'v1' | 'v2';

export interface QuantMatmulOptions {
  out?: Tensor;
  accumulate?: boolean;
  alpha?: number;
  variant?: QuantVariant;
}

const WG = 8;
const TILE = 4 * WG;

function params(M: number, N: number, K: number, flags: number, alpha: number, q: QuantLayout): Uint32Array {
  const u = new Uint32Array(12);
  new Float32Array(u.buffer)[4] = alpha;
  u.set([M, N, K, flags], 0);
  u.set([q.group, q.groups, q.rowWords, q.metaOffset], 5);
  return u;
}

function rowsOf(op: string, t: Tensor, name: string, cols: number): number {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${name} must be f32, got ${t.dtype} (${t.label})`);
  const n = numel(t.shape);
  if (t.shape[t.shape.length - 1] !== cols) {
    throw new Error(`${op}: ${name} is [${t.shape.join(',')}] (${t.label}) but W needs ${cols} columns`);
  }
  return n / cols;
}

function checkOut(op: string, out: Tensor, rows: number, cols: number) {
  if (out.dtype !== 'f32' || numel(out.shape) !== rows * cols) {
    throw new Error(`${op}: out must be ${rows} x ${cols} f32, got ${out.dtype} [${out.shape.join(',')}] (${out.label})`);
  }
}

export async function matmulXWtQuant(ctx: GpuContext, x: Tensor, w: QuantTensor, bias: Tensor | null = null, opts: QuantMatmulOptions = {}): Promise<Tensor> {
  const OP = 'matmulXWtQuant';
  const [N, K] = w.shape;
  const M = rowsOf(OP, x, 'x', K);
  if (bias && (bias.dtype !== 'f32' || numel(bias.shape) !== N)) {
    throw new Error(`${OP}: bias must be ${N} f32 values (one per W row), got ${bias.dtype} [${bias.shape.join(',')}] (${bias.label})`);
  }
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  if (opts.out) checkOut(OP, opts.out, M, N);
  const v = opts.variant ?? 'v2';
  const y = opts.out ?? emptyTensor(ctx, 'f32', x.shape.length === 3 ? [x.shape[0], x.shape[1], N] : [M, N], 'matmulQuant y');
  const pipeline = await ctx.pipelines.get({
    shader: XWT_SHADER,
    entryPoint: `matmul_quant_${v}`,
    constants: { Q4: w.quant.format === 'q4' ? 1 : 0 },
  });
  const flags = (bias ? 1 : 0) | (opts.accumulate ? 2 : 0);
  const per = v === 'v1' ? WG : TILE;
  dispatch(ctx, {
    pipeline,
    bindings: [x, w.buffer, bias ?? ctx.emptyBuffer, y],
    uniforms: params(M, N, K, flags, opts.alpha ?? 1, w.quant),
    workgroups: [Math.ceil(N / per), Math.ceil(M / per)],
    label: `${OP} ${w.quant.format} ${v} ${M}x${N}x${K}`,
  });
  return y;
}

export async function matmulDyWQuant(ctx: GpuContext, dy: Tensor, w: QuantTensor, opts: QuantMatmulOptions = {}): Promise<Tensor> {
  const OP = 'matmulDyWQuant';
  const [N, K] = w.shape;
  const M = rowsOf(OP, dy, 'dy', N);
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  if (opts.out) checkOut(OP, opts.out, M, K);
  const v = opts.variant ?? 'v2';
  const dx = opts.out ?? emptyTensor(ctx, 'f32', dy.shape.length === 3 ? [dy.shape[0], dy.shape[1], K] : [M, K], 'matmulQuant dx');
  const pipeline = await ctx.pipelines.get({
    shader: DYW_SHADER,
    entryPoint: `matmul_quant_dyw_${v}`,
    constants: { Q4: w.quant.format === 'q4' ? 1 : 0 },
  });
  const per = v === 'v1' ? WG : TILE;
  dispatch(ctx, {
    pipeline,
    bindings: [dy, w.buffer, dx],
    uniforms: params(M, N, K, opts.accumulate ? 2 : 0, opts.alpha ?? 1, w.quant),
    workgroups: [Math.ceil(K / per), Math.ceil(M / per)],
    label: `${OP} ${w.quant.format} ${v} ${M}x${N}x${K}`,
  });
  return dx;
}
