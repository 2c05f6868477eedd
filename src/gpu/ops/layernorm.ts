// LayerNorm (GPT-2): y = (x - mean)/sqrt(var + eps)·w + b, biased variance; shaders/layernorm.wgsl.
//   x (N, C) f32 tokens; w (C) and b (C) each fp16 packed (frozen base norm) or f32 (trainable);
//   y (N, C) f32; mean (N) f32 and rstd (N) f32 = 1/sqrt(var + eps) saved for the backward.
//   Backward: dy (N, C) f32 -> dx (N, C) f32 always; dw (C), db (C) f32 when asked.
// One workgroup per row reduces the row (WG threads); dw/db is a second, column-parallel pass
// summing rows in a fixed order: bit-for-bit repeatable, no atomics. Row kernel versions
// (rowKernels.ts):
//   v1  layernorm.wgsl     tree in workgroup memory, WG a power of two, any adapter
//   v2  layernorm_sg.wgsl  subgroupAdd within subgroups + workgroup memory across, any WG; used
//                          when the device has subgroups and v2 passed its check on it
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { LAYERNORM_IO, SG_SUM, WG_SUM } from '../fragments';
import type { WgslSource } from '../shader';
import layernormCode from '../shaders/layernorm.wgsl?raw';
import layernormSgCode from '../shaders/layernorm_sg.wgsl?raw';
import { downloadF32, emptyTensor, uploadF32, type Tensor } from '../tensor';
import { randn } from '../../util/random';
import { layernormBackwardRef, layernormForwardRef } from './layernorm.ref';
import { chooseRowVersion, type RowCheck, type RowVersion } from './rowKernels';
import { rowThreads } from './rowThreads';

export const LAYERNORM_SHADER: WgslSource = { file: 'layernorm.wgsl', code: layernormCode, fragments: [WG_SUM, LAYERNORM_IO] };
export const LAYERNORM_SG_SHADER: WgslSource = { file: 'layernorm_sg.wgsl', code: layernormSgCode, fragments: [SG_SUM, LAYERNORM_IO] };
const ROW_SHADERS: Record<RowVersion, WgslSource> = { 1: LAYERNORM_SHADER, 2: LAYERNORM_SG_SHADER };

export const LAYERNORM_WG = 64;
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

function expectInput(op: string, x: Tensor): [number, number] {
  if (x.dtype !== 'f32' || x.shape.length !== 2) {
    throw new Error(`${op}: x (${x.label}) must be a rank-2 f32 tensor (N, C), got ${x.dtype} [${x.shape.join(',')}]`);
  }
  return [x.shape[0], x.shape[1]];
}

export interface LayerNormForwardOptions {
  eps: number;
  out?: Tensor;
  meanOut?: Tensor;
  rstdOut?: Tensor;
  /** threads per row (v1: a power of two); default: LAYERNORM_WG on GPUs, SOFTWARE_ROW_THREADS on CPU rasterisers (rowThreads.ts) */
  wg?: number;
  /** kernel version (rowKernels.ts); default: 2 where subgroups are present and checked, else 1 */
  version?: RowVersion;
}

export async function layernormForward(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  opts: LayerNormForwardOptions,
): Promise<{ y: Tensor; mean: Tensor; rstd: Tensor }> {
  const op = 'layernormForward';
  const [N, C] = expectInput(op, x);
  expectVector(op, w, 'w', C, ['f16', 'f32']);
  expectVector(op, b, 'b', C, ['f16', 'f32']);
  if (!(opts.eps >= 0)) throw new Error(`${op}: eps must be a number >= 0 (the model config's layer_norm_epsilon), got ${opts.eps}`);
  const wg = rowThreads(ctx, LAYERNORM_WG, opts.wg);
  const version = await chooseRowVersion(op, ctx, 'layernorm', wg, opts.version, checkLayernormV2);
  const y = opts.out ?? emptyTensor(ctx, 'f32', [N, C], 'layernorm y');
  const mean = opts.meanOut ?? emptyTensor(ctx, 'f32', [N], 'layernorm mean');
  const rstd = opts.rstdOut ?? emptyTensor(ctx, 'f32', [N], 'layernorm rstd');
  expectRows(op, y, 'out', N, C);
  expectVector(op, mean, 'meanOut', N, ['f32']);
  expectVector(op, rstd, 'rstdOut', N, ['f32']);
  const pipeline = await ctx.pipelines.get({ shader: ROW_SHADERS[version], entryPoint: 'layernorm_forward', constants: { WG: wg } });
  const raw = new ArrayBuffer(32);
  const u = new Uint32Array(raw);
  u[0] = N;
  u[1] = C;
  new Float32Array(raw)[2] = opts.eps;
  u[3] = w.dtype === 'f16' ? 1 : 0;
  u[4] = b.dtype === 'f16' ? 1 : 0;
  dispatch(ctx, {
    pipeline,
    bindings: [x, w, b, y, mean, rstd],
    uniforms: u,
    workgroups: grid1d(ctx, N),
    label: `layernorm_forward v${version} ${N}x${C}`,
  });
  return { y, mean, rstd };
}

export interface LayerNormBackwardOptions {
  dx?: Tensor;
  /** dx += result instead of dx = result (dx must then be given) */
  accumulateDx?: boolean;
  /** true: compute dw and db into new (C) f32 tensors; tensors: into them; absent/false: neither */
  weightGrads?: boolean | { dw: Tensor; db: Tensor };
  /** dw += ..., db += ... instead of = (weightGrads must then be tensors) */
  accumulateWeightGrads?: boolean;
  wg?: number;
  version?: RowVersion;
}

export async function layernormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  mean: Tensor,
  rstd: Tensor,
  opts: LayerNormBackwardOptions = {},
): Promise<{ dx: Tensor; dw: Tensor | null; db: Tensor | null }> {
  const op = 'layernormBackward';
  const [N, C] = expectInput(op, x);
  expectRows(op, dy, 'dy', N, C);
  expectVector(op, w, 'w', C, ['f16', 'f32']);
  expectVector(op, mean, 'mean', N, ['f32']);
  expectVector(op, rstd, 'rstd', N, ['f32']);
  if (opts.accumulateDx && !opts.dx) throw new Error(`${op}: accumulateDx needs the dx tensor to accumulate into`);
  if (opts.accumulateWeightGrads && typeof opts.weightGrads !== 'object') {
    throw new Error(`${op}: accumulateWeightGrads needs weightGrads: { dw, db } tensors to accumulate into`);
  }
  const wg = rowThreads(ctx, LAYERNORM_WG, opts.wg);
  const version = await chooseRowVersion(op, ctx, 'layernorm', wg, opts.version, checkLayernormV2);
  const dx = opts.dx ?? emptyTensor(ctx, 'f32', [N, C], 'layernorm dx');
  expectRows(op, dx, 'dx', N, C);
  if (dx.buffer === dy.buffer || dx.buffer === x.buffer) throw new Error(`${op}: dx (${dx.label}) must not share a buffer with dy or x`);
  const pipeDx = await ctx.pipelines.get({ shader: ROW_SHADERS[version], entryPoint: 'layernorm_backward_dx', constants: { WG: wg } });
  dispatch(ctx, {
    pipeline: pipeDx,
    bindings: [x, w, dy, mean, rstd, dx],
    uniforms: new Uint32Array([N, C, w.dtype === 'f16' ? 1 : 0, opts.accumulateDx ? 1 : 0]),
    workgroups: grid1d(ctx, N),
    label: `layernorm_backward_dx v${version} ${N}x${C}`,
  });
  if (!opts.weightGrads) return { dx, dw: null, db: null };
  const given = typeof opts.weightGrads === 'object' ? opts.weightGrads : null;
  const dw = given?.dw ?? emptyTensor(ctx, 'f32', [C], 'layernorm dw');
  const db = given?.db ?? emptyTensor(ctx, 'f32', [C], 'layernorm db');
  expectVector(op, dw, 'dw', C, ['f32']);
  expectVector(op, db, 'db', C, ['f32']);
  if (dw.buffer === db.buffer) throw new Error(`${op}: dw and db must be different buffers`);
  const pipeW = await ctx.pipelines.get({
    shader: LAYERNORM_SHADER,
    entryPoint: 'layernorm_backward_dwdb',
    constants: { WG_X: DW_WG_X, WG_Y: DW_WG_Y },
  });
  dispatch(ctx, {
    pipeline: pipeW,
    bindings: [x, dy, mean, rstd, dw, db],
    uniforms: new Uint32Array([N, C, opts.accumulateWeightGrads ? 1 : 0, 0]),
    workgroups: [Math.ceil(C / DW_WG_X)],
    label: `layernorm_backward_dwdb ${N}x${C}`,
  });
  return { dx, dw, db };
}

/**
 * Version 2's check (rowKernels.ts): forward and backward dx on 3 rows of 3·wg + 5 columns (every
 * thread busy, the length no multiple of any subgroup, a mean far from 0), against the f64 reference.
 */
export const checkLayernormV2: RowCheck = async (ctx, wg) => {
  const [N, C, eps] = [3, 3 * wg + 5, 1e-5];
  const x = randn(N * C, 201).map((v) => v + 3);
  const w = randn(C, 202, 0.5).map((v) => 1 + v);
  const b = randn(C, 203, 0.5);
  const dy = randn(N * C, 204);
  const tx = uploadF32(ctx, x, [N, C], 'layernorm check x');
  const tw = uploadF32(ctx, w, [C], 'layernorm check w');
  const tb = uploadF32(ctx, b, [C], 'layernorm check b');
  const tdy = uploadF32(ctx, dy, [N, C], 'layernorm check dy');
  const { y, mean, rstd } = await layernormForward(ctx, tx, tw, tb, { eps, wg, version: 2 });
  const { dx } = await layernormBackward(ctx, tdy, tx, tw, mean, rstd, { wg, version: 2 });
  const ref = layernormForwardRef(x, w, b, N, C, eps);
  const bref = layernormBackwardRef(dy, x, w, N, C, eps);
  return {
    shape: `${N}x${C}`,
    outputs: [
      { what: 'y', got: await downloadF32(ctx, y), ref: ref.y },
      { what: 'mean', got: await downloadF32(ctx, mean), ref: ref.mean },
      { what: 'rstd', got: await downloadF32(ctx, rstd), ref: ref.rstd },
      { what: 'dx', got: await downloadF32(ctx, dx), ref: bref.dx },
    ],
    tensors: [tx, tw, tb, tdy, y, mean, rstd, dx],
  };
};
