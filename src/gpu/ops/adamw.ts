// AdamW on the GPU (shaders/adamw.wgsl) over flat f32 buffers: param, grad, exp_avg (m) and
// exp_avg_sq (v), all with the same number of elements (shapes may differ). Matches
// torch.optim.AdamW (no amsgrad, no maximize). The gradient is first multiplied by gradScale
// (e.g. 1/accumulationSteps) and, when gradState (gradNorm's output) is given, by its clip
// factor; a step with non-finite gradients is then skipped on the GPU (param, m, v untouched).
// Run one call per parameter group (e.g. a group without weight decay). Records only; callers flush.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import adamwCode from '../shaders/adamw.wgsl?raw';
import { numel, type Tensor } from '../tensor';
import { GRAD_STATE_WORDS } from './gradNorm';

export const ADAMW_SHADER: WgslSource = { file: 'adamw.wgsl', code: adamwCode };
const WG = 256;

export interface AdamWHyper {
  lr: number;
  /** default 0.9 */
  beta1?: number;
  /** default 0.999 */
  beta2?: number;
  /** default 1e-8 */
  eps?: number;
  /** decoupled weight decay; default 0.01 as torch.optim.AdamW */
  weightDecay?: number;
  /** 1-based step number t of this update (the bias corrections use it) */
  step: number;
}

export interface AdamWBuffers {
  param: Tensor;
  grad: Tensor;
  /** exp_avg, zero before the first step */
  m: Tensor;
  /** exp_avg_sq, zero before the first step */
  v: Tensor;
}

export interface AdamWOptions {
  /** multiplier applied to the gradient first (default 1) */
  gradScale?: number;
  /** gradNorm's state: its clip factor multiplies the gradient */
  gradState?: Tensor | null;
  /** with gradState: leave everything untouched when the gradients were not finite (default true) */
  skipNonFinite?: boolean;
}

/** The uniform block, exported so tests can check the f64 → f32 bias-correction arithmetic. */
export function adamwParams(n: number, rowElems: number, h: AdamWHyper, opts: AdamWOptions): Uint32Array {
  const beta1 = h.beta1 ?? 0.9;
  const beta2 = h.beta2 ?? 0.999;
  const eps = h.eps ?? 1e-8;
  const wd = h.weightDecay ?? 0.01;
  const raw = new ArrayBuffer(48);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  u[0] = n;
  u[1] = rowElems;
  u[2] = opts.gradState ? 1 : 0;
  u[3] = (opts.skipNonFinite ?? true) ? 1 : 0;
  // as torch: scalars computed in Python floats (f64), rounded to f32 where they meet tensors
  f[4] = 1 - h.lr * wd;
  f[5] = 1 - beta1;
  f[6] = beta2;
  f[7] = 1 - beta2;
  f[8] = eps;
  f[9] = -h.lr / (1 - beta1 ** h.step);
  f[10] = Math.sqrt(1 - beta2 ** h.step);
  f[11] = opts.gradScale ?? 1;
  return u;
}

function checkHyper(h: AdamWHyper) {
  const bad = (what: string, v: number) => {
    throw new Error(`adamwStep: ${what} is ${v}; expected ${what === 'step' ? 'an integer >= 1' : 'a finite value in range'}`);
  };
  if (!Number.isInteger(h.step) || h.step < 1) bad('step', h.step);
  if (!(h.lr >= 0) || !Number.isFinite(h.lr)) bad('lr', h.lr);
  for (const [k, v] of [
    ['beta1', h.beta1 ?? 0.9],
    ['beta2', h.beta2 ?? 0.999],
  ] as const) {
    if (!(v >= 0 && v < 1)) bad(k, v);
  }
  if (!((h.eps ?? 1e-8) >= 0)) bad('eps', h.eps ?? NaN);
  if (!((h.weightDecay ?? 0.01) >= 0)) bad('weightDecay', h.weightDecay ?? NaN);
}

export async function adamwStep(ctx: GpuContext, bufs: AdamWBuffers, hyper: AdamWHyper, opts: AdamWOptions = {}): Promise<void> {
  checkHyper(hyper);
  const n = numel(bufs.param.shape);
  for (const [name, t] of Object.entries(bufs) as [string, Tensor][]) {
    if (t.dtype !== 'f32' || numel(t.shape) !== n) {
      throw new Error(
        `adamwStep: ${name} (${t.label}) is ${t.dtype} [${t.shape.join(',')}]; every buffer must be f32 with ` +
          `the param's ${n} elements`,
      );
    }
  }
  const state = opts.gradState ?? null;
  if (state && (state.dtype !== 'u32' || numel(state.shape) !== GRAD_STATE_WORDS)) {
    throw new Error(`adamwStep: gradState must be gradNorm's u32 [${GRAD_STATE_WORDS}] state, got ${state.dtype} [${state.shape.join(',')}]`);
  }
  const gradScale = opts.gradScale ?? 1;
  if (!Number.isFinite(gradScale)) throw new Error(`adamwStep: gradScale must be finite, got ${gradScale}`);
  const pipeline = await ctx.pipelines.get({ shader: ADAMW_SHADER, entryPoint: 'adamw_v1', constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil(n / WG));
  dispatch(ctx, {
    pipeline,
    bindings: [bufs.param, bufs.grad, bufs.m, bufs.v, state ?? ctx.emptyBuffer],
    uniforms: adamwParams(n, gx * WG, hyper, opts),
    workgroups: [gx, gy],
    label: `adamw ${bufs.param.label} t=${hyper.step}`,
  });
}
