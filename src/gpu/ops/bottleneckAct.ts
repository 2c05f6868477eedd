// The small MLPs' non-linearity f (bottleneck adapters: relu for seq_bn, swish = SiLU for
// double_seq_bn; prefix tuning's reparameterisation MLP: tanh);
// kernels in shaders/bottleneck_act.wgsl, reference bottleneckAct.ref.ts.
//   bottleneckActForward(z)       z (any shape, e.g. (N, r)) f32 -> a = f(z) (same shape) f32
//   bottleneckActBackward(da, z)  da, z (same shape) f32 -> dz = da ⊙ f'(z) (same shape) f32
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import actCode from '../shaders/bottleneck_act.wgsl?raw';
import { emptyTensor, numel, type Tensor } from '../tensor';
import type { BottleneckActivation } from './bottleneckAct.ref';

export type { BottleneckActivation } from './bottleneckAct.ref';
export const BOTTLENECK_ACT_SHADER: WgslSource = { file: 'bottleneck_act.wgsl', code: actCode };
const WG = 256;
const ACT_CODE: Record<BottleneckActivation, number> = { relu: 0, swish: 1, tanh: 2 };

function expectLike(op: string, t: Tensor, what: string, like: Tensor) {
  if (t.dtype !== 'f32' || t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${like.shape.join(',')}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

async function run(ctx: GpuContext, entryPoint: string, act: BottleneckActivation, bindings: Tensor[], n: number) {
  const code = ACT_CODE[act];
  if (code === undefined) throw new Error(`the activation must be 'relu', 'swish' or 'tanh', got ${JSON.stringify(act)}`);
  const pipeline = await ctx.pipelines.get({ shader: BOTTLENECK_ACT_SHADER, entryPoint, constants: { WG, ACT: code } });
  const [gx, gy] = grid1d(ctx, Math.ceil(n / WG));
  dispatch(ctx, { pipeline, bindings, uniforms: new Uint32Array([n, gx * WG]), workgroups: [gx, gy], label: `${entryPoint} ${act} n=${n}` });
}

export async function bottleneckActForward(ctx: GpuContext, z: Tensor, act: BottleneckActivation, opts: { out?: Tensor } = {}): Promise<Tensor> {
  if (z.dtype !== 'f32') throw new Error(`bottleneckActForward: z (${z.label}) must be f32, got ${z.dtype}`);
  const a = opts.out ?? emptyTensor(ctx, 'f32', z.shape, 'bottleneck act a');
  expectLike('bottleneckActForward', a, 'out', z);
  if (a.buffer === z.buffer) throw new Error(`bottleneckActForward: out is z (${z.label}); the backward needs z, so write a elsewhere`);
  await run(ctx, 'bn_act_forward', act, [z, a], numel(z.shape));
  return a;
}

export async function bottleneckActBackward(ctx: GpuContext, da: Tensor, z: Tensor, act: BottleneckActivation, opts: { out?: Tensor } = {}): Promise<Tensor> {
  if (z.dtype !== 'f32') throw new Error(`bottleneckActBackward: z (${z.label}) must be f32, got ${z.dtype}`);
  expectLike('bottleneckActBackward', da, 'da', z);
  const dz = opts.out ?? emptyTensor(ctx, 'f32', z.shape, 'bottleneck act dz');
  expectLike('bottleneckActBackward', dz, 'out', z);
  if (dz.buffer === z.buffer || dz.buffer === da.buffer) throw new Error(`bottleneckActBackward: out (${dz.label}) must not share a buffer with z or da`);
  await run(ctx, 'bn_act_backward', act, [z, da, dz], numel(z.shape));
  return dz;
}
