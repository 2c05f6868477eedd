// GeGLU with the tanh GELU (Gemma's MLP: gelu_pytorch_tanh(gate) * up); kernels in shaders/geglu.wgsl.
//   gegluForward(gate, up)        gate (N, F) f32, up (N, F) f32 -> h (N, F) f32
//   gegluBackward(dh, gate, up)   dh (N, F) f32 -> dgate (N, F) f32, dup (N, F) f32
// The same interface as swigluForward/swigluBackward, so an MLP can take either activation.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import gegluCode from '../shaders/geglu.wgsl?raw';
import { emptyTensor, type Tensor } from '../tensor';

export const GEGLU_SHADER: WgslSource = { file: 'geglu.wgsl', code: gegluCode };
const WG = 256;

function expectShape(op: string, t: Tensor, what: string, shape: readonly number[]) {
  if (t.dtype !== 'f32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${shape.join(',')}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

function expectMatrix(op: string, t: Tensor, what: string): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) {
    throw new Error(`${op}: ${what} (${t.label}) must be a rank-2 f32 tensor (N, F), got ${t.dtype} [${t.shape.join(',')}]`);
  }
  return [t.shape[0], t.shape[1]];
}

/** Every output must have its own buffer, distinct from the inputs' and the other outputs'. */
function expectDistinct(op: string, outs: Tensor[], ins: Tensor[]) {
  outs.forEach((o, oi) => {
    for (const t of [...outs.filter((_, i) => i !== oi), ...ins]) {
      if (t.buffer === o.buffer) throw new Error(`${op}: output ${o.label} shares a buffer with ${t.label}`);
    }
  });
}

async function run(ctx: GpuContext, entryPoint: string, bindings: Tensor[], N: number, F: number) {
  const pipeline = await ctx.pipelines.get({ shader: GEGLU_SHADER, entryPoint, constants: { WG } });
  const n = N * F;
  const [gx, gy] = grid1d(ctx, Math.ceil(n / WG));
  dispatch(ctx, { pipeline, bindings, uniforms: new Uint32Array([n, gx * WG]), workgroups: [gx, gy], label: `${entryPoint} ${N}x${F}` });
}

/** h = gelu_tanh(gate)·up. Records into ctx.encoder(); the caller flushes. */
export async function gegluForward(ctx: GpuContext, gate: Tensor, up: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  const op = 'gegluForward';
  const [N, F] = expectMatrix(op, gate, 'gate');
  expectShape(op, up, 'up', [N, F]);
  const h = opts.out ?? emptyTensor(ctx, 'f32', [N, F], 'geglu h');
  expectShape(op, h, 'out', [N, F]);
  expectDistinct(op, [h], [gate, up]);
  await run(ctx, 'geglu_forward', [gate, up, h], N, F);
  return h;
}

/** dgate, dup for the upstream dh. Records into ctx.encoder(); the caller flushes. */
export async function gegluBackward(
  ctx: GpuContext,
  dh: Tensor,
  gate: Tensor,
  up: Tensor,
  opts: { dgate?: Tensor; dup?: Tensor } = {},
): Promise<{ dgate: Tensor; dup: Tensor }> {
  const op = 'gegluBackward';
  const [N, F] = expectMatrix(op, gate, 'gate');
  expectShape(op, up, 'up', [N, F]);
  expectShape(op, dh, 'dh', [N, F]);
  const dgate = opts.dgate ?? emptyTensor(ctx, 'f32', [N, F], 'geglu dgate');
  const dup = opts.dup ?? emptyTensor(ctx, 'f32', [N, F], 'geglu dup');
  expectShape(op, dgate, 'dgate', [N, F]);
  expectShape(op, dup, 'dup', [N, F]);
  expectDistinct(op, [dgate, dup], [gate, up, dh]);
  await run(ctx, 'geglu_backward', [gate, up, dh, dgate, dup], N, F);
  return { dgate, dup };
}
