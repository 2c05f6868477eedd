// y = x · Wᵀ (+ bias): x (M, K) f32, W (N, K) fp16 packed, bias (N) f32 or none -> y (M, N) f32.
// Kernel versions live in shaders/matmul.wgsl; `variant` picks one (the autotuner chooses per adapter).
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import type { WgslSource } from '../shader';
import matmulCode from '../shaders/matmul.wgsl?raw';
import { emptyTensor, numel, type Tensor } from '../tensor';

export const MATMUL_SHADER: WgslSource = { file: 'matmul.wgsl', code: matmulCode };

export interface MatmulVariant {
  version: 1 | 2;
  wgX: number;
  wgY: number;
}

export const MATMUL_VARIANTS: Record<string, MatmulVariant> = {
  v1_16x16: { version: 1, wgX: 16, wgY: 16 },
  v2_8x8: { version: 2, wgX: 8, wgY: 8 },
  v2_16x8: { version: 2, wgX: 16, wgY: 8 },
  v2_16x16: { version: 2, wgX: 16, wgY: 16 },
};

export const DEFAULT_MATMUL_VARIANT = 'v2_8x8';

/** Outputs computed by one thread along (n, m) for each kernel version. */
const OUTPUTS_PER_THREAD: Record<MatmulVariant['version'], [number, number]> = { 1: [1, 1], 2: [4, 4] };

function expectShape(t: Tensor, dtype: Tensor['dtype'], rank: number, what: string) {
  if (t.dtype !== dtype || t.shape.length !== rank) {
    throw new Error(`matmul: ${what} must be a rank-${rank} ${dtype} tensor, got ${t.dtype} [${t.shape.join(',')}] (${t.label})`);
  }
}

export async function matmulXWt(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null = null,
  opts: { variant?: string; out?: Tensor } = {},
): Promise<Tensor> {
  expectShape(x, 'f32', 2, 'x');
  expectShape(w, 'f16', 2, 'W');
  const [M, K] = x.shape;
  const [N, Kw] = w.shape;
  if (K !== Kw) throw new Error(`matmul: x is [${M},${K}] but W is [${N},${Kw}]: inner dimensions differ`);
  if (bias && numel(bias.shape) !== N) throw new Error(`matmul: bias has ${numel(bias.shape)} values, W has ${N} rows`);
  const name = opts.variant ?? DEFAULT_MATMUL_VARIANT;
  const v = MATMUL_VARIANTS[name];
  if (!v) throw new Error(`matmul: unknown variant '${name}' (have ${Object.keys(MATMUL_VARIANTS).join(', ')})`);
  const y = opts.out ?? emptyTensor(ctx, 'f32', [M, N], 'matmul y');
  const pipeline = await ctx.pipelines.get({
    shader: MATMUL_SHADER,
    entryPoint: `matmul_v${v.version}`,
    constants: { WG_X: v.wgX, WG_Y: v.wgY },
  });
  const [tn, tm] = OUTPUTS_PER_THREAD[v.version];
  dispatch(ctx, {
    pipeline,
    bindings: [x, w, bias ?? ctx.emptyBuffer, y],
    uniforms: new Uint32Array([M, N, K, bias ? 1 : 0]),
    workgroups: [Math.ceil(N / (tn * v.wgX)), Math.ceil(M / (tm * v.wgY))],
    label: `matmul ${name} ${M}x${N}x${K}`,
  });
  return y;
}
