// RMSNorm (Llama): y = x / sqrt(mean(x²) + eps) * w, kernels in shaders/rmsnorm.wgsl; with
// weightOffset 1, Gemma's y = x / sqrt(mean(x²) + eps) * (1 + w) (1 + w formed in f32; dw unchanged).
//   x (N, C) f32 tokens, w (C) fp16 packed (frozen base norm) or f32 (trainable copy),
//   y (N, C) f32, rstd (N) f32 = 1/sqrt(mean(x²) + eps) saved for the backward.
//   Backward: dy (N, C) f32 -> dx (N, C) f32 always; dw (C) f32 when asked (full fine-tuning).
// One workgroup per row reduces the row (WG threads); dw is a second, column-parallel pass that sums
// rows in a fixed order, so results are bit-for-bit repeatable. Row kernel versions (rowKernels.ts):
//   v1  rmsnorm.wgsl     tree in workgroup memory, WG a power of two, any adapter
//   v2  rmsnorm_sg.wgsl  subgroupAdd within subgroups + workgroup memory across, any WG; used
//                        when the device has subgroups and v2 passed its check on it
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { RMSNORM_IO, SG_SUM, WG_SUM } from '../fragments';
import type { WgslSource } from '../shader';
import rmsnormCode from '../shaders/rmsnorm.wgsl?raw';
import rmsnormSgCode from '../shaders/rmsnorm_sg.wgsl?raw';
import { downloadF32, emptyTensor, uploadF32, type Tensor } from '../tensor';
import { randn } from '../../util/random';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ref';
import { chooseRowVersion, type RowCheck, type RowVersion } from './rowKernels';
import { rowThreads } from './rowThreads';

export const RMSNORM_SHADER: WgslSource = { file: 'rmsnorm.wgsl', code: rmsnormCode, fragments: [WG_SUM, RMSNORM_IO] };
export const RMSNORM_SG_SHADER: WgslSource = { file: 'rmsnorm_sg.wgsl', code: rmsnormSgCode, fragments: [SG_SUM, RMSNORM_IO] };
const ROW_SHADERS: Record<RowVersion, WgslSource> = { 1: RMSNORM_SHADER, 2: RMSNORM_SG_SHADER };

/** Default threads per row workgroup, and the column pass's WG_X x WG_Y. */
export const RMSNORM_WG = 64;
const DW_WG_X = 32;
const DW_WG_Y = 8;

function expectRows(op: string, t: Tensor, what: string, N: number, C: number) {
  if (t.dtype !== 'f32' || t.shape.length !== 2 || t.shape[0] !== N || t.shape[1] !== C) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${N},${C}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

function expectVector(op: string, t: Tensor, what: string, n: number, dtypes: Tensor['dtype'][]) {
  if (!dtypes.includes(t.dtype) || t.shape.length !== 1 || t.shape[0] !== n) {
    throw new Error(`${op}: ${what} (${t.label}) must be ${dtypes.join(' or ')} [${n}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

/** Added to the stored weight before scaling: 0 (Llama), 1 (Gemma's (1 + w)). */
function weightOffset(op: string, v: number | undefined): number {
  const off = v ?? 0;
  if (!Number.isFinite(off)) throw new Error(`${op}: weightOffset must be a finite number (0, or 1 for Gemma's (1 + w)), got ${v}`);
  return off;
}

export interface RmsNormForwardOptions {
  eps: number;
  /** y = x·rstd·(w + weightOffset); 1 for Gemma (default 0) */
  weightOffset?: number;
  /** (N, C) f32 buffer to write y into */
  out?: Tensor;
  /** (N) f32 buffer to write rstd into */
  rstdOut?: Tensor;
  /** threads per row (v1: a power of two); default: RMSNORM_WG on GPUs, SOFTWARE_ROW_THREADS on CPU rasterisers (rowThreads.ts) */
  wg?: number;
  /** kernel version (rowKernels.ts); default: 2 where subgroups are present and checked, else 1 */
  version?: RowVersion;
}

export async function rmsnormForward(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  opts: RmsNormForwardOptions,
): Promise<{ y: Tensor; rstd: Tensor }> {
  const op = 'rmsnormForward';
  if (x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`${op}: x (${x.label}) must be a rank-2 f32 tensor (N, C), got ${x.dtype} [${x.shape.join(',')}]`);
  const [N, C] = x.shape;
  expectVector(op, w, 'w', C, ['f16', 'f32']);
  if (!(opts.eps >= 0)) throw new Error(`${op}: eps must be a number >= 0 (the model config's rms_norm_eps), got ${opts.eps}`);
  const wg = rowThreads(ctx, RMSNORM_WG, opts.wg);
  const version = await chooseRowVersion(op, ctx, 'rmsnorm', wg, opts.version, checkRmsnormV2);
  const y = opts.out ?? emptyTensor(ctx, 'f32', [N, C], 'rmsnorm y');
  const rstd = opts.rstdOut ?? emptyTensor(ctx, 'f32', [N], 'rmsnorm rstd');
  expectRows(op, y, 'out', N, C);
  expectVector(op, rstd, 'rstdOut', N, ['f32']);
  const pipeline = await ctx.pipelines.get({ shader: ROW_SHADERS[version], entryPoint: 'rmsnorm_forward', constants: { WG: wg } });
  const raw = new ArrayBuffer(32);
  const u = new Uint32Array(raw);
  u[0] = N;
  u[1] = C;
  new Float32Array(raw)[2] = opts.eps;
  u[3] = w.dtype === 'f16' ? 1 : 0;
  new Float32Array(raw)[4] = weightOffset(op, opts.weightOffset);
  dispatch(ctx, { pipeline, bindings: [x, w, y, rstd], uniforms: u, workgroups: grid1d(ctx, N), label: `rmsnorm_forward v${version} ${N}x${C}` });
  return { y, rstd };
}

export interface RmsNormBackwardOptions {
  /** as the forward's (the weight used is w + weightOffset; dw is the gradient of the stored w) */
  weightOffset?: number;
  /** (N, C) f32 buffer for dx */
  dx?: Tensor;
  /** dx += result instead of dx = result (dx must then be given) */
  accumulateDx?: boolean;
  /** true: compute dw into a new (C) f32 tensor; a tensor: into it; absent/false: no dw */
  dw?: Tensor | boolean;
  /** dw += result instead of dw = result (dw must then be a tensor) */
  accumulateDw?: boolean;
  wg?: number;
  version?: RowVersion;
}

export async function rmsnormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  rstd: Tensor,
  opts: RmsNormBackwardOptions = {},
): Promise<{ dx: Tensor; dw: Tensor | null }> {
  const op = 'rmsnormBackward';
  if (x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`${op}: x (${x.label}) must be a rank-2 f32 tensor (N, C), got ${x.dtype} [${x.shape.join(',')}]`);
  const [N, C] = x.shape;
  expectRows(op, dy, 'dy', N, C);
  expectVector(op, w, 'w', C, ['f16', 'f32']);
  expectVector(op, rstd, 'rstd', N, ['f32']);
  if (opts.accumulateDx && !opts.dx) throw new Error(`${op}: accumulateDx needs the dx tensor to accumulate into`);
  if (opts.accumulateDw && !(typeof opts.dw === 'object')) throw new Error(`${op}: accumulateDw needs the dw tensor to accumulate into`);
  const wg = rowThreads(ctx, RMSNORM_WG, opts.wg);
  const version = await chooseRowVersion(op, ctx, 'rmsnorm', wg, opts.version, checkRmsnormV2);
  const dx = opts.dx ?? emptyTensor(ctx, 'f32', [N, C], 'rmsnorm dx');
  expectRows(op, dx, 'dx', N, C);
  if (dx.buffer === dy.buffer || dx.buffer === x.buffer) throw new Error(`${op}: dx (${dx.label}) must not share a buffer with dy or x`);
  const pipeDx = await ctx.pipelines.get({ shader: ROW_SHADERS[version], entryPoint: 'rmsnorm_backward_dx', constants: { WG: wg } });
  const dxParams = new Uint32Array(8);
  dxParams.set([N, C, w.dtype === 'f16' ? 1 : 0, opts.accumulateDx ? 1 : 0]);
  new Float32Array(dxParams.buffer)[4] = weightOffset(op, opts.weightOffset);
  dispatch(ctx, {
    pipeline: pipeDx,
    bindings: [x, w, dy, rstd, dx],
    uniforms: dxParams,
    workgroups: grid1d(ctx, N),
    label: `rmsnorm_backward_dx v${version} ${N}x${C}`,
  });
  let dw: Tensor | null = null;
  if (opts.dw) {
    dw = typeof opts.dw === 'object' ? opts.dw : emptyTensor(ctx, 'f32', [C], 'rmsnorm dw');
    expectVector(op, dw, 'dw', C, ['f32']);
    const pipeDw = await ctx.pipelines.get({
      shader: RMSNORM_SHADER,
      entryPoint: 'rmsnorm_backward_dw',
      constants: { WG_X: DW_WG_X, WG_Y: DW_WG_Y },
    });
    dispatch(ctx, {
      pipeline: pipeDw,
      bindings: [x, dy, rstd, dw],
      uniforms: new Uint32Array([N, C, opts.accumulateDw ? 1 : 0, 0]),
      workgroups: [Math.ceil(C / DW_WG_X)],
      label: `rmsnorm_backward_dw ${N}x${C}`,
    });
  }
  return { dx, dw };
}

/**
 * Version 2's check (rowKernels.ts): forward (Gemma's 1 + w) and backward dx on 3 rows of 3·wg + 5
 * columns (every thread busy, the length no multiple of any subgroup), against the f64 reference.
 */
export const checkRmsnormV2: RowCheck = async (ctx, wg) => {
  const [N, C, eps, offset] = [3, 3 * wg + 5, 1e-5, 1];
  const x = randn(N * C, 101);
  const w = randn(C, 102, 0.5);
  const dy = randn(N * C, 103);
  const tx = uploadF32(ctx, x, [N, C], 'rmsnorm check x');
  const tw = uploadF32(ctx, w, [C], 'rmsnorm check w');
  const tdy = uploadF32(ctx, dy, [N, C], 'rmsnorm check dy');
  const { y, rstd } = await rmsnormForward(ctx, tx, tw, { eps, weightOffset: offset, wg, version: 2 });
  const { dx } = await rmsnormBackward(ctx, tdy, tx, tw, rstd, { weightOffset: offset, wg, version: 2 });
  const ref = rmsnormForwardRef(x, w, N, C, eps, offset);
  const bref = rmsnormBackwardRef(dy, x, w, N, C, eps, offset);
  return {
    shape: `${N}x${C}`,
    outputs: [
      { what: 'y', got: await downloadF32(ctx, y), ref: ref.y },
      { what: 'rstd', got: await downloadF32(ctx, rstd), ref: ref.rstd },
      { what: 'dx', got: await downloadF32(ctx, dx), ref: bref.dx },
    ],
    tensors: [tx, tw, tdy, y, rstd, dx],
  };
};
