// Validation of matmul kernel variants on the running adapter, before their first use.
//
// A variant that is right on SwiftShader can be wrong on some driver (a quad laid out differently
// than assumed, a compiler bug, workgroup memory raced). So the first time a device is about to
// use a variant for a class of problems (the op, W's dtype, the vec4 alignment: trustKey), it runs
// that variant on a small problem of the class against the f64 TS reference (matmul.ref.ts), with
// every feature of the epilogue on (batch 2 with per-batch operands, alpha, bias, accumulate) and
// partial tiles in every dimension. A variant that fails is recorded as illegal on that device
// (illegalReason says why) and the choice moves on to the next one: a failing variant is never
// used, whether it was the tuned winner, a winner stored by an earlier session, or the default.
// The autotuner validates its candidates through the same cache.
//
// Explicitly requested variants (opts.variant: op tests, the tuner's timing runs, the self-test)
// are not validated here: the caller is testing that very kernel. Those that already failed on the
// device are refused (illegal).
//
// Validation runs on a context of its own (rowKernels.ts's isolatedContext: its own encoder and
// uniforms), so it neither submits nor reorders work the caller has recorded, and a PassTimer
// wrapped around the caller's encoder does not see it. Its few submits and readbacks are a
// one-time cost per device, at first use; prepareMatmulKernels (matmul.ts) runs the default
// choice's validation for every class up front, for tests and benches that count a step's commands.
import type { GpuContext } from '../device';
import { ShaderError } from '../shader';
import { roundToF16 } from '../../util/f16';
import { compareArrays } from '../../util/check';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { matmulDyTXRef, matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { isolatedContext, type IsolatedContext } from './rowKernels';
import { problemOf, variantFor, type MatmulShapeClass } from './matmulRegistry';
import { isQuantWDtype, quantizeForClass, uploadQuant } from './quantWeights';
import { dequantizeMatrix } from '../../util/quant';
import { FALLBACK_VARIANT, illegalReason, recordValidationFailure, trustKey, type MatmulOp } from './matmulVariants';

/** The validation problem's tensors; a is x (xwt) or dy, b is W (xwt, dyw) or x (dytx). */
export interface TrustInputs {
  a: Tensor;
  b: Tensor;
  bias: Tensor | null;
  out: Tensor;
  alpha: number;
}

/** Runs `variant` (explicitly) on the inputs: out = alpha · op(a, b) (+ bias) + out. */
export type TrustRunner = (ctx: GpuContext, variant: string, t: TrustInputs) => Promise<unknown>;

const TOL = { atol: 1e-4, rtol: 1e-4 };
const BATCH = 2;
const ALPHA = 0.75;

// Passed (null) or failed (why) per device and trustKey; a promise so concurrent callers share one run.
const verdicts = new WeakMap<GPUDevice, Map<string, Promise<string | null>>>();

/**
 * (m, n, k) of the op's validation problem: odd or 4-aligned as the class needs, above 128 in
 * every output dimension (two workgroups even for the biggest tiles, the second one partial), and
 * a reduction that is no multiple of 8 (a partial last tile of depth 8, 16 or 32).
 */
function validationDims(op: MatmulOp, vec4: boolean): [number, number, number] {
  if (op === 'xwt') return vec4 ? [133, 131, 68] : [133, 131, 67];
  if (op === 'dyw') return vec4 ? [133, 68, 132] : [133, 67, 131];
  return vec4 ? [67, 132, 132] : [67, 131, 131];
}

/** The validation class of `s` as a shape class of its own (batch 2). */
function validationShape(s: MatmulShapeClass): MatmulShapeClass {
  const p = problemOf(s);
  const [m, n, k] = validationDims(s.op, p.vec4Ok);
  return { op: s.op, m, n, k, wDtype: s.op === 'dytx' ? 'f32' : (s.wDtype ?? 'f16'), batch: BATCH };
}

function refOf(op: MatmulOp, a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array {
  if (op === 'xwt') return matmulXWtRef(a, b, null, m, n, k);
  if (op === 'dyw') return matmulDyWRef(a, b, m, n, k);
  return matmulDyTXRef(a, b, m, n, k);
}

/**
 * The validation itself could not run (its buffers ran out of memory, a submit failed): no verdict
 * on the variant, nothing recorded, checked again at the next use.
 */
export class ValidationNotRun extends Error {}

async function runValidation(device: GpuContext, s: MatmulShapeClass, variant: string, run: TrustRunner): Promise<string | null> {
  const ctx = isolatedContext(device);
  try {
    return await validateOn(ctx, s, variant, run);
  } finally {
    ctx.close();
  }
}

async function validateOn(ctx: IsolatedContext, s: MatmulShapeClass, variant: string, run: TrustRunner): Promise<string | null> {
  const vs = validationShape(s);
  const { op, m, n, k } = vs;
  const [aShape, bShape, oShape] =
    op === 'xwt' ? [[m, k], [n, k], [m, n]] : op === 'dyw' ? [[m, n], [n, k], [m, k]] : [[m, n], [m, k], [n, k]];
  const size = (d: number[]) => d[0] * d[1];
  const av = randn(BATCH * size(aShape), 101);
  const bv = randn(BATCH * size(bShape), 102, 0.5);
  const o0 = randn(BATCH * size(oShape), 103);
  const bias = op === 'xwt' ? randn(n, 104) : null;
  const f16 = vs.wDtype === 'f16';
  // a quantized W is one matrix shared by the batch (never batched): its dequantized values, twice
  const q = isQuantWDtype(vs.wDtype) ? quantizeForClass(vs.wDtype, bv.subarray(0, size(bShape)), bShape[0], bShape[1]) : null;
  const tensors: TrustInputs = {
    a: uploadF32(ctx, av, [BATCH, ...aShape], 'validation a'),
    b: q
      ? uploadQuant(ctx, q, 'validation W')
      : f16
        ? uploadF16(ctx, bv, [BATCH, ...bShape], 'validation W')
        : uploadF32(ctx, bv, [BATCH, ...bShape], 'validation b'),
    bias: bias ? uploadF32(ctx, bias, [n], 'validation bias') : null,
    out: uploadF32(ctx, o0, [BATCH, ...oShape], 'validation out'),
    alpha: ALPHA,
  };
  try {
    await run(ctx, variant, tensors);
    const got = await downloadF32(ctx, tensors.out);
    const all = [tensors.a, tensors.b, tensors.bias, tensors.out].filter((t): t is Tensor => t !== null);
    const notRun = [...(await ctx.submitErrors()), ...all.filter((t) => !ctx.allocator.usable(t.buffer)).map((t) => `${t.label} ran out of memory`)];
    if (notRun.length > 0) throw new ValidationNotRun(`the validation of ${variant} could not run: ${notRun.slice(0, 2).join('; ')}`);
    let bRef = f16 ? Float32Array.from(bv, roundToF16) : bv;
    if (q) {
      const wq = dequantizeMatrix(q);
      bRef = new Float32Array(BATCH * wq.length);
      for (let i = 0; i < BATCH; i++) bRef.set(wq, i * wq.length);
    }
    const want = new Float32Array(got.length);
    const per = size(oShape);
    for (let i = 0; i < BATCH; i++) {
      const r = refOf(op, av.subarray(i * size(aShape), (i + 1) * size(aShape)), bRef.subarray(i * size(bShape), (i + 1) * size(bShape)), m, n, k);
      for (let j = 0; j < per; j++) want[i * per + j] = ALPHA * r[j] + (bias ? bias[j % n] : 0) + o0[i * per + j];
    }
    const c = compareArrays(got, want, TOL);
    if (c.mismatches === 0) return null;
    return (
      `wrong result on ${BATCH}x ${m}x${n}x${k} (alpha, ${bias ? 'bias, ' : ''}accumulate): ${c.mismatches} of ${got.length} values outside ` +
      `atol ${TOL.atol} + rtol ${TOL.rtol}·|ref| (max abs err ${c.maxAbsErr.toExponential(2)}); first:${c.first.slice(0, 3).join(';')}`
    );
  } catch (e) {
    // a kernel this device cannot compile is a failed variant; anything else (out of memory, a
    // lost device) says nothing about the variant and reaches the caller, with no verdict kept
    if (e instanceof ShaderError) return `could not run: ${e.message}`;
    throw e;
  } finally {
    for (const t of [tensors.a, tensors.b, tensors.bias, tensors.out]) if (t) releaseTensor(ctx, t);
  }
}

/**
 * null when `variant` computes the right results for the class of `s` on this device (validated
 * once per device and class), else why not; a failure also makes the variant illegal there.
 */
export function validateVariant(ctx: GpuContext, s: MatmulShapeClass, variant: string, run: TrustRunner): Promise<string | null> {
  const key = trustKey(problemOf(s), variant);
  let m = verdicts.get(ctx.device);
  if (!m) verdicts.set(ctx.device, (m = new Map()));
  let v = m.get(key);
  if (!v) {
    const cache = m;
    v = runValidation(ctx, s, variant, run).then(
      (why) => {
        if (why !== null) recordValidationFailure(ctx, problemOf(s), variant, why);
        return why;
      },
      (e: unknown) => {
        cache.delete(key); // not a verdict: a later use checks again
        throw e;
      },
    );
    m.set(key, v);
  }
  return v;
}

/** The verdicts reached on this device so far: trustKey -> null (passed) or why it failed. */
export async function validationVerdicts(ctx: GpuContext): Promise<Map<string, string | null>> {
  const m = verdicts.get(ctx.device);
  const out = new Map<string, string | null>();
  if (m) for (const [k, v] of m) out.set(k, await v);
  return out;
}

/**
 * The variant an op runs for `s`: `requested` if given (it must be legal; not validated), else the
 * first of the tuned winner and the default order that passes validation on this device.
 */
export async function trustedVariant(ctx: GpuContext, s: MatmulShapeClass, run: TrustRunner, requested?: string, opName: string = s.op): Promise<string> {
  if (requested !== undefined) return variantFor(ctx, s, requested, opName);
  for (;;) {
    // a variant that fails becomes illegal, so the next round picks another; defaultVariant
    // throws, with every reason, once none is left
    const name = variantFor(ctx, s, undefined, opName);
    try {
      if ((await validateVariant(ctx, s, name, run)) === null) return name;
    } catch (e) {
      // no verdict (e.g. out of memory, which fails the step that needed it anyway): this call
      // runs the always-legal fallback unless it is known to fail; the next one checks again
      if (!(e instanceof ValidationNotRun) || illegalReason(ctx, FALLBACK_VARIANT, problemOf(s)) !== null) throw e;
      return FALLBACK_VARIANT;
    }
  }
}
