// The frozen base's linear layers with a quantized W (QLoRA-style): W is dequantized inside the
// kernels' tile loads, accumulation is f32.
//   matmulXWtQuant: y = alpha · x · Wᵀ (+ bias) (+ y if accumulate)
//     x (M, K) f32 (a leading batch dimension is folded into M), W (N, K) quantized, bias (N) f32
//     or none, y (M, N) f32
//   matmulDyWQuant: dx = alpha · dy · W (+ dx if accumulate), the input gradient the LoRA backward
//     needs through the frozen W: dy (M, N) f32, dx (M, K) f32
// The kernels are the matmul family's own (matmul.ts, matmulDyW.ts): every version and parameter
// set of matmulVariants.ts, composed with fragments/quant_weights.wgsl in place of the fp16 reads
// (matmulShaders.ts), validated on the running adapter against the TS reference before first use
// per quantized class (q8 per row, q8 per 32 or 16, q4: quantWeights.ts) and tuned like the fp16
// ones (the tuner's shape classes carry the class as W's dtype). `variant` names one explicitly.
import type { GpuContext } from '../device';
import { emptyTensor, numel, type Tensor } from '../tensor';
import { dequantizeMatrix } from '../../util/quant';
import { matmulXWt } from './matmul';
import { matmulDyW } from './matmulDyW';
import type { MatmulOptions } from './matmulVariants';
import { downloadQuant, type QuantTensor } from './quantWeights';

export { downloadQuant, isQuantized, uploadQuant, type QuantLayout, type QuantTensor } from './quantWeights';

/** The f32 values of a quantized weight, (N, K) row-major. */
export async function dequantizeOnCpu(ctx: GpuContext, t: QuantTensor): Promise<Float32Array> {
  return dequantizeMatrix(await downloadQuant(ctx, t));
}

export type QuantMatmulOptions = Pick<MatmulOptions, 'out' | 'accumulate' | 'alpha' | 'variant'>;

function rowsOf(op: string, t: Tensor, name: string, cols: number): number {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${name} must be f32, got ${t.dtype} (${t.label})`);
  if (t.shape[t.shape.length - 1] !== cols) {
    throw new Error(`${op}: ${name} is [${t.shape.join(',')}] (${t.label}) but W needs ${cols} columns`);
  }
  return numel(t.shape) / cols;
}

function checkOut(op: string, out: Tensor, rows: number, cols: number) {
  if (out.dtype !== 'f32' || numel(out.shape) !== rows * cols) {
    throw new Error(`${op}: out must be ${rows} x ${cols} f32, got ${out.dtype} [${out.shape.join(',')}] (${out.label})`);
  }
}

/** `t` seen as a (rows, cols) matrix (same buffer). */
function as2d(t: Tensor, rows: number, cols: number): Tensor {
  return { ...t, shape: [rows, cols] };
}

export async function matmulXWtQuant(ctx: GpuContext, x: Tensor, w: QuantTensor, bias: Tensor | null = null, opts: QuantMatmulOptions = {}): Promise<Tensor> {
  const OP = 'matmulXWtQuant';
  const [N, K] = w.shape;
  const M = rowsOf(OP, x, 'x', K);
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  if (opts.out) checkOut(OP, opts.out, M, N);
  const y = opts.out ?? emptyTensor(ctx, 'f32', x.shape.length === 3 ? [x.shape[0], x.shape[1], N] : [M, N], 'matmulQuant y');
  await matmulXWt(ctx, as2d(x, M, K), w, bias, { ...opts, out: as2d(y, M, N) });
  return y;
}

export async function matmulDyWQuant(ctx: GpuContext, dy: Tensor, w: QuantTensor, opts: QuantMatmulOptions = {}): Promise<Tensor> {
  const OP = 'matmulDyWQuant';
  const [N, K] = w.shape;
  const M = rowsOf(OP, dy, 'dy', N);
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  if (opts.out) checkOut(OP, opts.out, M, K);
  const dx = opts.out ?? emptyTensor(ctx, 'f32', dy.shape.length === 3 ? [dy.shape[0], dy.shape[1], K] : [M, K], 'matmulQuant dx');
  await matmulDyW(ctx, as2d(dy, M, N), w, { ...opts, out: as2d(dx, M, K) });
  return dx;
}
