// DoRA's own kernels (shaders/dora.wgsl); the LoRA product itself is lora.ts and the base x·Wᵀ is
// matmul. For one DoRA linear (PEFT's DoraLinearLayer without dropout):
//   z = x·Wᵀ + s·(x·Aᵀ)·Bᵀ,  y = g ⊙ z + b,  g = m / ‖W + s·B·A‖ per output row (norm detached)
//   doraRowNorm(W, A, B)              W (OUT, IN) fp16/f32, A (r, IN), B (OUT, r) -> norm (OUT)
//   doraScaleForward(y, m, norm, b)   y (N, OUT) holds x·Wᵀ + b + s·LoRA on entry; -> y = g ⊙ z + b, z (N, OUT)
//   doraScaleBackward(dy, m, norm)    dy (N, OUT) -> dz = g ⊙ dy (N, OUT): the upstream of the base and LoRA backward
//   doraMagnitudeGrad(dy, z, norm)    dm (OUT) += Σ_n dy ⊙ z / norm
// Ops only record into ctx.encoder(); callers flush.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { FP16_WEIGHTS } from '../fragments';
import type { WgslSource } from '../shader';
import doraCode from '../shaders/dora.wgsl?raw';
import { emptyTensor, type Tensor } from '../tensor';

export const DORA_SHADER: WgslSource = { file: 'dora.wgsl', code: doraCode, fragments: [FP16_WEIGHTS] };
const WG = 64;
/** the kernel keeps a row of B in workgroup memory */
export const DORA_MAX_RANK = 256;

function expect2d(op: string, t: Tensor, what: string, rows: number | null, cols: number | null, dtypes: readonly string[] = ['f32']): [number, number] {
  if (!dtypes.includes(t.dtype) || t.shape.length !== 2) {
    throw new Error(`${op}: ${what} (${t.label}) must be a rank-2 ${dtypes.join(' or ')} tensor, got ${t.dtype} [${t.shape.join(',')}]`);
  }
  const [r, c] = t.shape;
  if ((rows !== null && r !== rows) || (cols !== null && c !== cols)) {
    throw new Error(`${op}: ${what} (${t.label}) is [${r},${c}] but [${rows ?? '*'},${cols ?? '*'}] is expected from the other tensors`);
  }
  return [r, c];
}

function expectVector(op: string, t: Tensor, what: string, n: number) {
  if (t.dtype !== 'f32' || t.shape.length !== 1 || t.shape[0] !== n) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${n}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

function params(p: { out: number; inF: number; r: number; n: number; scale: number; hasBias: boolean; rowThreads: number; groupsX: number }): Uint32Array {
  const raw = new ArrayBuffer(32);
  const u = new Uint32Array(raw);
  u.set([p.out, p.inF, p.r, p.n]);
  new Float32Array(raw)[4] = p.scale;
  u[5] = p.hasBias ? 1 : 0;
  u[6] = p.rowThreads;
  u[7] = p.groupsX;
  return u;
}

async function elementwise(ctx: GpuContext, entryPoint: string, bindings: Tensor[], count: number, p: Omit<Parameters<typeof params>[0], 'rowThreads' | 'groupsX'>, label: string) {
  const pipeline = await ctx.pipelines.get({ shader: DORA_SHADER, entryPoint, constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil(count / WG));
  dispatch(ctx, { pipeline, bindings, uniforms: params({ ...p, rowThreads: gx * WG, groupsX: gx }), workgroups: [gx, gy], label });
}

/** norm_j = ‖W_j + s·(B·A)_j‖ for every output row j, without forming W + s·B·A. */
export async function doraRowNorm(ctx: GpuContext, W: Tensor, A: Tensor, B: Tensor, opts: { scale: number; out?: Tensor }): Promise<Tensor> {
  const op = 'doraRowNorm';
  const [OUT, IN] = expect2d(op, W, 'W', null, null, ['f16', 'f32']);
  const [r] = expect2d(op, A, 'A', null, IN);
  expect2d(op, B, 'B', OUT, r);
  if (r > DORA_MAX_RANK) throw new Error(`${op}: rank ${r} is above the kernel's ${DORA_MAX_RANK}`);
  if (!Number.isFinite(opts.scale)) throw new Error(`${op}: scale must be finite, got ${opts.scale}`);
  const norm = opts.out ?? emptyTensor(ctx, 'f32', [OUT], 'dora norm');
  expectVector(op, norm, 'out', OUT);
  const pipeline = await ctx.pipelines.get({ shader: DORA_SHADER, entryPoint: 'dora_row_norm', constants: { WG, W_F16: W.dtype === 'f16' ? 1 : 0 } });
  const [gx, gy] = grid1d(ctx, OUT);
  dispatch(ctx, {
    pipeline,
    bindings: [W, A, B, norm],
    uniforms: params({ out: OUT, inF: IN, r, n: 0, scale: opts.scale, hasBias: false, rowThreads: 0, groupsX: gx }),
    workgroups: [gx, gy],
    label: `dora_row_norm ${OUT}x${IN} r${r}`,
  });
  return norm;
}

/** y (N, OUT) = x·Wᵀ + b + s·LoRA on entry; on return y = g ⊙ z + b with z = y_in - b saved in `z`. */
export async function doraScaleForward(ctx: GpuContext, y: Tensor, m: Tensor, norm: Tensor, bias: Tensor | null, opts: { z?: Tensor } = {}): Promise<{ z: Tensor }> {
  const op = 'doraScaleForward';
  const [N, OUT] = expect2d(op, y, 'y', null, null);
  expectVector(op, m, 'm', OUT);
  expectVector(op, norm, 'norm', OUT);
  if (bias) expectVector(op, bias, 'bias', OUT);
  const z = opts.z ?? emptyTensor(ctx, 'f32', [N, OUT], 'dora z');
  expect2d(op, z, 'z', N, OUT);
  if (z.buffer === y.buffer) throw new Error(`${op}: z must not share y's buffer`);
  // without a bias the kernel never reads it: m stands in for the binding
  await elementwise(ctx, 'dora_scale_forward', [y, z, m, norm, bias ?? m], N * OUT, { out: OUT, inF: 0, r: 0, n: N * OUT, scale: 0, hasBias: !!bias }, `dora_scale_forward ${N}x${OUT}`);
  return { z };
}

/** dz = g ⊙ dy (N, OUT), g = m / norm per column. */
export async function doraScaleBackward(ctx: GpuContext, dy: Tensor, m: Tensor, norm: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  const op = 'doraScaleBackward';
  const [N, OUT] = expect2d(op, dy, 'dy', null, null);
  expectVector(op, m, 'm', OUT);
  expectVector(op, norm, 'norm', OUT);
  const dz = opts.out ?? emptyTensor(ctx, 'f32', [N, OUT], 'dora dz');
  expect2d(op, dz, 'out', N, OUT);
  if (dz.buffer === dy.buffer) throw new Error(`${op}: out must not share dy's buffer`);
  await elementwise(ctx, 'dora_scale_backward', [dy, m, norm, dz], N * OUT, { out: OUT, inF: 0, r: 0, n: N * OUT, scale: 0, hasBias: false }, `dora_scale_backward ${N}x${OUT}`);
  return dz;
}

/** dm (OUT) += Σ_n dy_nj · z_nj / norm_j (the magnitude's gradient; accumulates). */
export async function doraMagnitudeGrad(ctx: GpuContext, dy: Tensor, z: Tensor, norm: Tensor, dm: Tensor): Promise<void> {
  const op = 'doraMagnitudeGrad';
  const [N, OUT] = expect2d(op, dy, 'dy', null, null);
  expect2d(op, z, 'z', N, OUT);
  expectVector(op, norm, 'norm', OUT);
  expectVector(op, dm, 'dm', OUT);
  await elementwise(ctx, 'dora_magnitude_grad', [dy, z, norm, dm], OUT, { out: OUT, inF: 0, r: 0, n: N, scale: 0, hasBias: false }, `dora_magnitude_grad ${N}x${OUT}`);
}
