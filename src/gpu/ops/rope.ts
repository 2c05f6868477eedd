// Rotary position embedding (Hugging Face rotate_half layout), forward and backward.
//   x is (N, H, D) f32 with N = B*T tokens (i.e. (B, T, H, D), or the (N, H*D) projection output);
//   positions is (N) i32 (restarts per packed document); for i < R/2 the pair (i, i + R/2) is
//   rotated by angle pos * theta^(-2i/R), R = rotaryDim (default D; less for partial rotary,
//   Phi-3's partial_rotary_factor: HF rotates the first R dims with rotate_half within them and
//   passes dims R .. D-1 through). Backward rotates dy by -angle (a rotation's transpose).
// Angles follow Hugging Face in f32: inv_freq = 1 / theta^(2i/D) rounded to f32 on the CPU the
// way torch computes it, angle = f32(pos) * inv_freq as one f32 product on the GPU. Kernel:
// shaders/rope.wgsl.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import ropeCode from '../shaders/rope.wgsl?raw';
import { emptyTensor, numel, releaseTensor, uploadF32, type Tensor } from '../tensor';

export const ROPE_SHADER: WgslSource = { file: 'rope.wgsl', code: ropeCode };
const WG = 256;

export interface RopeOptions {
  /** heads in x */
  H: number;
  /** head dim (even) */
  D: number;
  /** rotated dims per head, even, <= D (default D); dims rotaryDim .. D-1 pass through */
  rotaryDim?: number;
  /** rope_theta (default 10000); ignored when invFreq is given */
  theta?: number;
  /** (rotaryDim/2) f32 inverse frequencies, for scaled RoPE variants (default: ropeInvFreq(theta, rotaryDim)) */
  invFreq?: Tensor;
  /** added to every position (KV-cache decode: the cache position of the first new token) */
  positionOffset?: number;
  /** multiplies the rotated dims, forward and backward (LongRoPE's attention factor, HF's cos/sin scaling); default 1 */
  rotatedScale?: number;
  out?: Tensor;
}

/**
 * Hugging Face's inv_freq in f32: 1 / theta^(f32(2i/D)). torch's f32 pow is not always correctly
 * rounded, so about 1 value in 200 differs from torch's by one ulp (a relative angle difference
 * of 6e-8).
 */
export function ropeInvFreq(theta: number, D: number): Float32Array {
  const inv = new Float32Array(D / 2);
  for (let i = 0; i < D / 2; i++) {
    const exponent = Math.fround((2 * i) / D);
    inv[i] = 1 / Math.fround(Math.pow(theta, exponent));
  }
  return inv;
}

// inv_freq tensors uploaded once per device, theta and D (tiny, kept for the device's lifetime)
const invFreqCache = new WeakMap<GpuContext, Map<string, Tensor>>();

function cachedInvFreq(ctx: GpuContext, theta: number, D: number): Tensor {
  let perCtx = invFreqCache.get(ctx);
  if (!perCtx) {
    perCtx = new Map();
    invFreqCache.set(ctx, perCtx);
  }
  const key = `${theta}/${D}`;
  let t = perCtx.get(key);
  // one whose allocation ran out of memory (reported after a failed run) is made again
  if (t && !ctx.allocator.usable(t.buffer)) {
    releaseTensor(ctx, t);
    t = undefined;
  }
  if (!t) {
    t = uploadF32(ctx, ropeInvFreq(theta, D), [D / 2], `rope inv_freq theta=${theta} D=${D}`);
    perCtx.set(key, t);
  }
  return t;
}

async function rope(op: string, dir: 1 | -1, ctx: GpuContext, x: Tensor, positions: Tensor, o: RopeOptions): Promise<Tensor> {
  const { H, D } = o;
  const xName = dir === 1 ? 'x' : 'dy';
  if (!Number.isInteger(H) || H < 1) throw new Error(`${op}: H must be a positive integer, got ${H}`);
  if (!Number.isInteger(D) || D < 2 || D % 2 !== 0) throw new Error(`${op}: head dim D must be a positive even integer, got ${D}`);
  const R = o.rotaryDim ?? D;
  if (!Number.isInteger(R) || R < 2 || R % 2 !== 0 || R > D) {
    throw new Error(`${op}: rotaryDim must be an even integer in 2..D (${D}), got ${R} (head_dim * partial_rotary_factor)`);
  }
  if (positions.dtype !== 'i32') throw new Error(`${op}: positions must be an i32 tensor (N), got ${positions.dtype} (${positions.label})`);
  const N = numel(positions.shape);
  if (x.dtype !== 'f32' || numel(x.shape) !== N * H * D) {
    throw new Error(
      `${op}: ${xName} must be an f32 tensor of N*H*D = ${N}*${H}*${D} elements (N from positions), ` +
        `got ${x.dtype} [${x.shape.join(',')}] (${x.label})`,
    );
  }
  const offset = o.positionOffset ?? 0;
  if (!Number.isInteger(offset) || Math.abs(offset) > 2 ** 30) throw new Error(`${op}: positionOffset must be an integer, got ${offset}`);
  const theta = o.theta ?? 10000;
  if (!o.invFreq && !(theta > 0)) throw new Error(`${op}: theta must be positive, got ${theta}`);
  if (o.invFreq && (o.invFreq.dtype !== 'f32' || numel(o.invFreq.shape) !== R / 2)) {
    const what = R === D ? `D/2 = ${D / 2}` : `rotaryDim/2 = ${R / 2}`;
    throw new Error(`${op}: invFreq must be an f32 tensor of ${what} elements, got ${o.invFreq.dtype} [${o.invFreq.shape.join(',')}]`);
  }
  if (o.out && (o.out.dtype !== 'f32' || numel(o.out.shape) !== N * H * D)) {
    throw new Error(`${op}: out must be an f32 tensor of ${N * H * D} elements, got ${o.out.dtype} [${o.out.shape.join(',')}]`);
  }
  if (o.out && o.out.buffer === x.buffer) throw new Error(`${op}: out must not be ${xName} itself (no in-place RoPE); pass a separate tensor`);
  const rotScale = o.rotatedScale ?? 1;
  if (!Number.isFinite(rotScale)) throw new Error(`${op}: rotatedScale must be a finite number, got ${o.rotatedScale}`);
  const invFreq = o.invFreq ?? cachedInvFreq(ctx, theta, R);
  const y = o.out ?? emptyTensor(ctx, 'f32', [N, H, D], dir === 1 ? 'rope y' : 'rope dx');
  const pipeline = await ctx.pipelines.get({ shader: ROPE_SHADER, entryPoint: 'rope_apply', constants: { WG } });
  const count = (N * R) / 2; // one thread per (token, pair), looping over heads
  const [gx, gy] = grid1d(ctx, Math.ceil(count / WG));
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([H, R / 2, count, gx * WG]);
  new Int32Array(params)[4] = offset;
  new Float32Array(params)[5] = dir;
  new Uint32Array(params)[6] = D;
  new Float32Array(params)[7] = rotScale;
  dispatch(ctx, {
    pipeline,
    bindings: [x, positions, invFreq, y],
    uniforms: new Uint32Array(params),
    workgroups: [gx, gy],
    label: `${op} N${N} H${H} D${D}${R !== D ? ` R${R}` : ''}`,
  });
  return y;
}

/** y = RoPE(x) at the given positions. Records into ctx.encoder(); the caller flushes. */
export function ropeForward(ctx: GpuContext, x: Tensor, positions: Tensor, opts: RopeOptions): Promise<Tensor> {
  return rope('ropeForward', 1, ctx, x, positions, opts);
}

/** dx for the upstream gradient dy: dy rotated by -angle. Records into ctx.encoder(). */
export function ropeBackward(ctx: GpuContext, dy: Tensor, positions: Tensor, opts: RopeOptions): Promise<Tensor> {
  return rope('ropeBackward', -1, ctx, dy, positions, opts);
}
