// GELU, tanh approximation (GPT-2 gelu_new); kernels in shaders/gelu.wgsl.
//   geluForward(x)       x (any shape, e.g. (N, F)) f32 -> y (same shape) f32
//   geluBackward(dy, x)  dy, x (same shape) f32 -> dx (same shape) f32
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import geluCode from '../shaders/gelu.wgsl?raw';
import { emptyTensor, numel, type Tensor } from '../tensor';

export const GELU_SHADER: WgslSource = { file: 'gelu.wgsl', code: geluCode };
const WG = 256;

function expectLike(op: string, t: Tensor, what: string, like: Tensor) {
  if (t.dtype !== 'f32' || t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${like.shape.join(',')}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

async function run(ctx: GpuContext, entryPoint: string, bindings: Tensor[], n: number) {
  const pipeline = await ctx.pipelines.get({ shader: GELU_SHADER, entryPoint, constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.ceil(n / WG));
  dispatch(ctx, { pipeline, bindings, uniforms: new Uint32Array([n, gx * WG]), workgroups: [gx, gy], label: `${entryPoint} n=${n}` });
}

export async function geluForward(ctx: GpuContext, x: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  if (x.dtype !== 'f32') throw new Error(`geluForward: x (${x.label}) must be f32, got ${x.dtype}`);
  const y = opts.out ?? emptyTensor(ctx, 'f32', x.shape, 'gelu y');
  expectLike('geluForward', y, 'out', x);
  if (y.buffer === x.buffer) throw new Error(`geluForward: out is x (${x.label}); the backward needs x, so write y elsewhere`);
  await run(ctx, 'gelu_forward', [x, y], numel(x.shape));
  return y;
}

export async function geluBackward(ctx: GpuContext, dy: Tensor, x: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  if (x.dtype !== 'f32') throw new Error(`geluBackward: x (${x.label}) must be f32, got ${x.dtype}`);
  expectLike('geluBackward', dy, 'dy', x);
  const dx = opts.out ?? emptyTensor(ctx, 'f32', x.shape, 'gelu dx');
  expectLike('geluBackward', dx, 'out', x);
  if (dx.buffer === x.buffer || dx.buffer === dy.buffer) throw new Error(`geluBackward: out (${dx.label}) must not share a buffer with x or dy`);
  await run(ctx, 'gelu_backward', [x, dy, dx], numel(x.shape));
  return dx;
}
