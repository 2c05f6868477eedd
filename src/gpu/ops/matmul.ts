// y = alpha · x · Wᵀ (+ bias) (+ y if accumulate)
//   x    (M, K) f32, or (B, M, K) batched
//   W    (N, K) fp16 packed (base weights) or f32 (LoRA A/B, attention), Hugging Face nn.Linear
//        layout; or (B, N, K) with one matrix per batch entry (a rank-2 W is shared by all)
//   bias (N) f32 or none
//   y    (M, N) f32, or (B, M, N) when either input is batched
// Kernel versions live in shaders/matmul.wgsl, matmul_sg.wgsl and matmul_v7*.wgsl (modules:
// matmulShaders.ts; versions: matmulVariants.ts); `variant` picks one, else the autotuner's winner
// for this shape class (tune/), else a per-adapter default; an unrequested choice is validated on
// the device before its first use (matmulTrust.ts). With 'shader-f16' the *_f16 variants read an
// fp16 W as native f16 (accumulating in f32); the packed-u32 reads serve every other adapter.
// The family: matmulXWt (this file), matmulDyW (dx = dy·W) and matmulDyTX (dW = dyᵀ·x), all with
// `alpha` and `accumulate`, fp16 or f32 weights, and a batch dimension (contiguous slabs; a rank-2
// operand is shared by every batch entry).
//
// How other ops compose from it:
//   LoRA (see matmulLora.test.ts, checked against the PyTorch fixture):
//     y = matmulXWt(x, W, b); u = matmulXWt(x, A); matmulXWt(u, B, null, {out: y, accumulate, alpha: s})
//     du = matmulDyW(dy, B, {alpha: s}); dB = matmulDyTX(dy, u, {alpha: s}); dA = matmulDyTX(du, x)
//     dx = matmulDyW(dy, W); matmulDyW(du, A, {out: dx, accumulate: true})
//   Attention without the fused kernel: with q, k, v permuted to (B·H, T, D) slabs,
//     scores = matmulXWt(q, k, null, {alpha: 1/sqrt(D)}) -> (B·H, T, T)   (per-batch "W" = k)
//     out    = matmulDyW(p, v)                          -> (B·H, T, D)   (p = softmax(scores))
//     dv = matmulDyTX(p, dout), dp = matmulXWt(dout, v), dq = matmulDyW(ds, k), dk = matmulDyTX(ds, q)
//   (grouped-query heads need k, v repeated per q head: batch strides are whole slabs). The real
//   attention op (attention.ts) is fused and never materialises the T x T scores.
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import { weightRead } from './matmulShaders';
import { isQuantized, type QuantWDtype } from './quantWeights';
import { emptyTensor, numel, type Tensor } from '../tensor';
import { problemOf, type MatmulShapeClass } from './matmulRegistry';
import { trustedVariant, validateVariant, type TrustRunner } from './matmulTrust';
import { trustRunDyW } from './matmulDyW';
import { trustRunDyTX } from './matmulDyTX';
import {
  checkOut,
  commonBatch,
  MATMUL_FAMILY_VARIANTS,
  matDims,
  matmulParams,
  pipelineSpecFor,
  variantOf,
  workgroupsFor,
  type MatmulOptions,
  type MatmulVariant,
  type WDtype,
} from './matmulVariants';

export type { MatmulOptions, MatmulVariant } from './matmulVariants';
export { matmulDyW } from './matmulDyW';
export { matmulDyTX } from './matmulDyTX';


/**
 * Every variant (the same names serve matmulDyW and matmulDyTX). Some need vec4-aligned shapes or
 * the 'subgroups' feature: see legalVariants / illegalReason in matmulVariants.ts.
 */
export const MATMUL_ALL_VARIANTS = MATMUL_FAMILY_VARIANTS;

/** The variants that run every shape on every adapter (v1-v3, packed fp16 reads). */
export const MATMUL_VARIANTS: Record<string, MatmulVariant> = Object.fromEntries(
  Object.entries(MATMUL_FAMILY_VARIANTS).filter(([, v]) => v.version <= 3 && !v.f16),
);

const OP = 'matmulXWt';

const trustRunXWt: TrustRunner = (ctx, variant, t) => matmulXWt(ctx, t.a, t.b, t.bias, { variant, out: t.out, accumulate: true, alpha: t.alpha });
const TRUST_RUNNERS = { xwt: trustRunXWt, dyw: trustRunDyW, dytx: trustRunDyTX };

/**
 * null when `variant` computes the right results for problems like `s` on this device (validated
 * once per device and class, matmulTrust.ts), else why not; a failed variant is illegal there.
 */
export function validateMatmulVariant(ctx: GpuContext, s: MatmulShapeClass, variant: string): Promise<string | null> {
  return validateVariant(ctx, s, variant, TRUST_RUNNERS[s.op]);
}

/** What prepareMatmulKernels chose for one validation class on this device. */
export interface MatmulPrepared {
  op: MatmulShapeClass['op'];
  wDtype: WDtype;
  vec4: boolean;
  variant: string;
}

/**
 * Validates the untuned choice of every validation class (op x W dtype x vec4 alignment) on this
 * device ahead of use, so that the checks' submits and readbacks are not counted in a first
 * training step (for tests and benches that count commands per step; the ops themselves validate
 * at first use, and an op reached while this runs waits for the same check). `quant`: the
 * quantized weight classes the model has (its frozen base), validated for x·Wᵀ and dy·W too.
 */
export async function prepareMatmulKernels(ctx: GpuContext, quant: readonly QuantWDtype[] = []): Promise<MatmulPrepared[]> {
  const out: MatmulPrepared[] = [];
  for (const op of ['xwt', 'dyw', 'dytx'] as const) {
    const wDtypes: WDtype[] = op === 'dytx' ? ['f32'] : ['f16', 'f32', ...quant];
    for (const wDtype of wDtypes) {
      for (const vec4 of [true, false]) {
        const d = vec4 ? 64 : 63;
        const s: MatmulShapeClass = { op, m: 64, n: d, k: d, wDtype };
        out.push({ op, wDtype, vec4, variant: await trustedVariant(ctx, s, TRUST_RUNNERS[op]) });
      }
    }
  }
  return out;
}

export async function matmulXWt(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null = null,
  opts: MatmulOptions = {},
): Promise<Tensor> {
  const xd = matDims(OP, x, 'x', ['f32']);
  const quant = isQuantized(w);
  const wd = matDims(OP, w, 'W', quant ? ['u32'] : ['f16', 'f32']);
  const [M, K, N] = [xd.rows, xd.cols, wd.rows];
  if (quant && wd.rank !== 2) throw new Error(`${OP}: a quantized W is one (N, K) matrix, got [${w.shape.join(',')}] (${w.label})`);
  if (wd.cols !== K) throw new Error(`${OP}: x is [${x.shape.join(',')}] but W is [${w.shape.join(',')}]: inner dimensions differ`);
  const batch = commonBatch(OP, xd, 'x', wd, 'W');
  if (bias && (bias.dtype !== 'f32' || numel(bias.shape) !== N)) {
    throw new Error(`${OP}: bias must be ${N} f32 values (one per W row), got ${bias.dtype} [${bias.shape.join(',')}] (${bias.label})`);
  }
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  const outShape = xd.rank === 3 || wd.rank === 3 ? [batch, M, N] : [M, N];
  if (opts.out) checkOut(OP, opts.out, outShape, [['x', x], ['W', w], ['bias', bias]]);

  const read = weightRead('xwt', w);
  const shape: MatmulShapeClass = { op: 'xwt', m: M, n: N, k: K, wDtype: read.wDtype, batch };
  const name = await trustedVariant(ctx, shape, trustRunXWt, opts.variant, OP);
  const v = variantOf(name);
  const y = opts.out ?? emptyTensor(ctx, 'f32', outShape, 'matmul y');
  const pipeline = await ctx.pipelines.get(
    pipelineSpecFor(v, 'matmul', read.shaders, read.constants),
  );
  const flags = (bias ? 1 : 0) | (opts.accumulate ? 2 : 0);
  dispatch(ctx, {
    pipeline,
    bindings: [x, w, bias ?? ctx.emptyBuffer, y],
    uniforms: matmulParams([M, N, K], flags, opts.alpha ?? 1, [
      xd.rank === 3 ? M * K : 0,
      wd.rank === 3 ? N * K : 0,
      M * N,
    ]),
    workgroups: workgroupsFor(v, problemOf(shape)),
    label: `${OP} ${name} ${batch > 1 ? `${batch}x` : ''}${M}x${N}x${K}`,
  });
  return y;
}
