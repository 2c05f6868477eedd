// Tuned kernel choices, looked up synchronously by the matmul ops on every call, so it lives with
// the ops; the autotuner (gpu/tune/matmulTuner.ts, a layer above) fills it. Ops fall back to a
// per-adapter default when a shape class has not been tuned. Choices are per device (a new device,
// e.g. after a loss, starts untuned but the persisted store makes re-tuning cheap).
import type { GpuContext } from '../device';
import { chooseVariant, type MatmulOp, type MatmulProblem, type WDtype } from './matmulVariants';

/**
 * A family of problems expected to share a best kernel. m, n, k are the op's own dimensions:
 *   xwt:  x (m, k) · W (n, k)ᵀ -> (m, n)
 *   dyw:  dy (m, n) · W (n, k) -> (m, k)
 *   dytx: dy (m, n)ᵀ · x (m, k) -> (n, k)
 */
export interface MatmulShapeClass {
  op: MatmulOp;
  m: number;
  n: number;
  k: number;
  /** dtype of W (xwt, dyw): fp16, f32 or a quantized class (quantWeights.ts); default 'f16'. Ignored by dytx. */
  wDtype?: WDtype;
  batch?: number;
}

export function problemOf(s: MatmulShapeClass): MatmulProblem {
  const { op, m, n, k } = s;
  const batch = s.batch ?? 1;
  const wDtype = op === 'dytx' ? 'f32' : (s.wDtype ?? 'f16');
  if (op === 'xwt') return { op, rows: m, cols: n, depth: k, vec4Ok: k % 4 === 0, batch, wDtype };
  if (op === 'dyw') return { op, rows: m, cols: k, depth: n, vec4Ok: n % 4 === 0 && k % 4 === 0, batch, wDtype };
  return { op, rows: n, cols: k, depth: m, vec4Ok: n % 4 === 0 && k % 4 === 0, batch, wDtype };
}

function bucket(d: number): number {
  return d <= 1 ? 1 : 2 ** Math.ceil(Math.log2(d));
}

/** Dimensions rounded up to powers of two, plus everything that changes which variants are legal. */
export function shapeClassKey(s: MatmulShapeClass): string {
  const p = problemOf(s);
  const w = s.op === 'dytx' ? 'f32' : (s.wDtype ?? 'f16');
  return `${s.op}/w${w}/${p.vec4Ok ? 'v4' : 's'}/r${bucket(p.rows)}/c${bucket(p.cols)}/d${bucket(p.depth)}`;
}

const tuned = new WeakMap<GPUDevice, Map<string, string>>();

export function rememberTuned(ctx: GpuContext, key: string, variant: string): void {
  let m = tuned.get(ctx.device);
  if (!m) tuned.set(ctx.device, (m = new Map()));
  m.set(key, variant);
}

export function tunedVariant(ctx: GpuContext, key: string): string | undefined {
  return tuned.get(ctx.device)?.get(key);
}

export function forgetTuned(ctx: GpuContext): void {
  tuned.delete(ctx.device);
}

/**
 * The variant an op runs for this problem: `requested` if given (it must be legal), else the tuned
 * winner of its shape class on this device, else the adapter's default.
 */
export function variantFor(ctx: GpuContext, s: MatmulShapeClass, requested?: string, opName: string = s.op): string {
  return chooseVariant(ctx, opName, problemOf(s), tunedVariant(ctx, shapeClassKey(s)), requested);
}
