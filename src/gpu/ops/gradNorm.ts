// Global gradient norm, clip factor and non-finite flag on the GPU (shaders/gradnorm.wgsl).
//   grads: any number of f32 tensors of any shapes (all trainable gradients)
//   state: (4) words, GRAD_STATE_* below: norm f32, clip f32, nonfinite u32, sumsq f32
// norm = gradScale·sqrt(Σ g²) is the norm of the gradients as AdamW will apply them (gradScale is
// the same multiplier AdamW gets, e.g. 1/accumulationSteps), and clip = min(1, maxNorm/(norm +
// 1e-6)) as torch.nn.utils.clip_grad_norm_. AdamW reads clip and nonfinite straight from state,
// so a training step needs no readback; training reads state (16 bytes) with its loss when it
// wants to show the norm. Two deterministic stages: per-chunk partial sums, then one fixed-order
// sum, so the same gradients always give the same bits. Kernel versions (rowKernels.ts), same chunks:
//   v1  gradnorm.wgsl     trees in workgroup memory, any adapter
//   v2  gradnorm_sg.wgsl  subgroupAdd within subgroups + workgroup memory across; used when the
//                         device has subgroups and v2 passed its check on it
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { GRADNORM_IO, SG_SUM } from '../fragments';
import type { WgslSource } from '../shader';
import gradnormCode from '../shaders/gradnorm.wgsl?raw';
import gradnormSgCode from '../shaders/gradnorm_sg.wgsl?raw';
import { emptyTensor, numel, readBuffer, uploadF32, type Tensor } from '../tensor';
import { randn } from '../../util/random';
import { gradNormRef } from './gradNorm.ref';
import { chooseRowVersion, type RowCheck, type RowVersion } from './rowKernels';

export const GRADNORM_SHADER: WgslSource = { file: 'gradnorm.wgsl', code: gradnormCode, fragments: [GRADNORM_IO] };
export const GRADNORM_SG_SHADER: WgslSource = { file: 'gradnorm_sg.wgsl', code: gradnormSgCode, fragments: [SG_SUM, GRADNORM_IO] };
const SHADERS: Record<RowVersion, WgslSource> = { 1: GRADNORM_SHADER, 2: GRADNORM_SG_SHADER };

/** Word offsets in the state tensor. */
export const GRAD_STATE_NORM = 0;
export const GRAD_STATE_CLIP = 1;
export const GRAD_STATE_NONFINITE = 2;
export const GRAD_STATE_SUMSQ = 3;
export const GRAD_STATE_WORDS = 4;

/** threads per workgroup of both stages */
export const GRADNORM_WG = 256;
const WG = GRADNORM_WG;
const PER_THREAD = 8;
const CHUNK = WG * PER_THREAD;

export interface GradNormOptions {
  /** clip to this norm (torch max_norm); null/undefined/Infinity: no clipping (clip = 1) */
  maxNorm?: number | null;
  /** multiplier applied to every gradient before its norm is taken (default 1) */
  gradScale?: number;
  /** reuse a state tensor (u32, [4]) */
  state?: Tensor;
  /** reuse a scratch tensor (f32, at least gradNormScratchSize(grads) values) */
  partials?: Tensor;
  /** reuse a scratch tensor (u32, at least gradNormScratchSize(grads) values) */
  flags?: Tensor;
  /** kernel version (rowKernels.ts); default: 2 where subgroups are present and checked, else 1 */
  version?: RowVersion;
}

export interface GradNormResult {
  /** [norm f32, clip f32, nonfinite u32, sumsq f32]; bind it to adamwStep */
  state: Tensor;
  partials: Tensor;
  flags: Tensor;
}

/** Number of partial sums (one per chunk of each tensor) the first stage writes. */
export function gradNormScratchSize(grads: readonly Tensor[]): number {
  return grads.reduce((acc, t) => acc + Math.ceil(numel(t.shape) / CHUNK), 0);
}

function scratch(ctx: GpuContext, given: Tensor | undefined, dtype: 'f32' | 'u32', count: number, what: string): Tensor {
  if (!given) return emptyTensor(ctx, dtype, [Math.max(1, count)], `gradNorm ${what}`);
  if (given.dtype !== dtype || numel(given.shape) < count) {
    throw new Error(
      `gradNorm: ${what} must be a ${dtype} tensor of at least ${count} values (gradNormScratchSize), got ` +
        `${given.dtype} [${given.shape.join(',')}] (${given.label})`,
    );
  }
  return given;
}

export async function gradNorm(ctx: GpuContext, grads: readonly Tensor[], opts: GradNormOptions = {}): Promise<GradNormResult> {
  if (grads.length === 0) throw new Error('gradNorm: no gradient tensors given (pass every trainable gradient)');
  grads.forEach((t, i) => {
    if (t.dtype !== 'f32') throw new Error(`gradNorm: grads[${i}] (${t.label}) is ${t.dtype}, expected f32`);
  });
  const maxNorm = opts.maxNorm ?? Infinity;
  if (!(maxNorm > 0)) throw new Error(`gradNorm: maxNorm must be positive (or null for no clipping), got ${maxNorm}`);
  const gradScale = opts.gradScale ?? 1;
  if (!Number.isFinite(gradScale)) throw new Error(`gradNorm: gradScale must be finite, got ${gradScale}`);
  const count = gradNormScratchSize(grads);
  const partials = scratch(ctx, opts.partials, 'f32', count, 'partials');
  const flags = scratch(ctx, opts.flags, 'u32', count, 'flags');
  const state = opts.state ?? emptyTensor(ctx, 'u32', [GRAD_STATE_WORDS], 'gradNorm state');
  if (state.dtype !== 'u32' || numel(state.shape) !== GRAD_STATE_WORDS) {
    throw new Error(`gradNorm: state must be a u32 tensor of ${GRAD_STATE_WORDS} words, got ${state.dtype} [${state.shape.join(',')}]`);
  }
  const constants = { WG, PER_THREAD };
  const version = await chooseRowVersion('gradNorm', ctx, 'gradNorm', WG, opts.version, checkGradNormV2);
  const partial = await ctx.pipelines.get({ shader: SHADERS[version], entryPoint: 'gradnorm_partial', constants });
  const final = await ctx.pipelines.get({ shader: SHADERS[version], entryPoint: 'gradnorm_final', constants });
  let offset = 0;
  for (const t of grads) {
    const n = numel(t.shape);
    const groups = Math.ceil(n / CHUNK);
    dispatch(ctx, {
      pipeline: partial,
      bindings: [t, partials, flags],
      uniforms: new Uint32Array([n, offset, 0, 0]),
      workgroups: grid1d(ctx, groups),
      label: `gradnorm partial v${version} ${t.label}`,
    });
    offset += groups;
  }
  const raw = new ArrayBuffer(16);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  u[0] = count;
  u[1] = Number.isFinite(maxNorm) ? 1 : 0;
  f[2] = Number.isFinite(maxNorm) ? maxNorm : 0;
  f[3] = gradScale;
  dispatch(ctx, {
    pipeline: final,
    bindings: [partials, flags, state],
    uniforms: u,
    workgroups: [1],
    label: `gradnorm final v${version}`,
  });
  return { state, partials, flags };
}

export interface GradNormReport {
  norm: number;
  clip: number;
  /** 0 finite; 1 a gradient element is NaN/Inf; 2 only the sum of squares overflowed */
  nonFinite: 0 | 1 | 2;
  sumSq: number;
}

/** Decode the 4 state words (e.g. from a combined loss + norm readback). */
export function decodeGradState(words: ArrayBuffer, byteOffset = 0): GradNormReport {
  const f = new Float32Array(words, byteOffset, GRAD_STATE_WORDS);
  const u = new Uint32Array(words, byteOffset, GRAD_STATE_WORDS);
  return {
    norm: f[GRAD_STATE_NORM],
    clip: f[GRAD_STATE_CLIP],
    nonFinite: u[GRAD_STATE_NONFINITE] as 0 | 1 | 2,
    sumSq: f[GRAD_STATE_SUMSQ],
  };
}

/** Read the state back (submits pending work). For tests and occasional logging. */
export async function readGradState(ctx: GpuContext, state: Tensor): Promise<GradNormReport> {
  return decodeGradState(await readBuffer(ctx, state.buffer, GRAD_STATE_WORDS * 4));
}

/**
 * Version 2's check (rowKernels.ts): three tensors (1, CHUNK + 3 and 2·CHUNK - 1 elements: a partial
 * chunk, a full one, a workgroup with idle threads) with a grad scale and clipping, against the
 * f64 reference; then the same with one NaN, which must set the non-finite flag.
 */
export const checkGradNormV2: RowCheck = async (ctx) => {
  const sizes = [1, CHUNK + 3, 2 * CHUNK - 1];
  const values = sizes.map((n, i) => randn(n, 401 + i, 0.1));
  const grads = values.map((v, i) => uploadF32(ctx, v, [v.length], `gradNorm check g${i}`));
  const { state, partials, flags } = await gradNorm(ctx, grads, { maxNorm: 1, gradScale: 0.5, version: 2 });
  const got = await readGradState(ctx, state);
  const ref = gradNormRef(values, 0.5, 1);
  const bad = values.map((v) => v.slice());
  bad[1][CHUNK + 1] = NaN;
  const badGrads = bad.map((v, i) => uploadF32(ctx, v, [v.length], `gradNorm check bad g${i}`));
  const second = await gradNorm(ctx, badGrads, { maxNorm: 1, gradScale: 0.5, version: 2, state, partials, flags });
  const gotBad = await readGradState(ctx, second.state);
  return {
    shape: sizes.join('+'),
    outputs: [
      { what: 'norm, clip, sumsq', got: [got.norm, got.clip, got.sumSq], ref: [ref.norm, ref.clip, ref.sumSq] },
      { what: 'non-finite flags (finite, then a NaN)', got: [got.nonFinite, gotBad.nonFinite], ref: [0, 1] },
    ],
    tensors: [...grads, ...badGrads, state, partials, flags],
  };
};
