// SwiGLU (Llama MLP): h = silu(gate)·up; kernels in shaders/swiglu.wgsl.
//   swigluForward(gate, up)           gate (N, F) f32, up (N, F) f32 -> h (N, F) f32
//   swigluBackward(dh, gate, up)      dh (N, F) f32 -> dgate (N, F) f32, dup (N, F) f32
//   swigluFusedForward(gu)            gu (N, 2F) f32 = [gate | up] per row -> h (N, F) f32
//   swigluFusedBackward(dh, gu)       dh (N, F) f32 -> dgu (N, 2F) f32 = [dgate | dup] per row
// The fused pair reads the output of one matmul against the stacked [W_gate; W_up] weight.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import swigluCode from '../shaders/swiglu.wgsl?raw';
import { emptyTensor, type Tensor } from '../tensor';

export const SWIGLU_SHADER: WgslSource = { file: 'swiglu.wgsl', code: swigluCode };
const WG = 256;

function expectShape(op: string, t: Tensor, what: string, shape: readonly number[]) {
  if (t.dtype !== 'f32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${shape.join(',')}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

function expectMatrix(op: string, t: Tensor, what: string): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) {
    throw new Error(`${op}: ${what} (${t.label}) must be a rank-2 f32 tensor, got ${t.dtype} [${t.shape.join(',')}]`);
  }
  return [t.shape[0], t.shape[1]];
}

/** Every output must have its own buffer, distinct from the inputs' and the other outputs' (out === an input included). */
function expectDistinct(op: string, outs: Tensor[], ins: Tensor[]) {
  outs.forEach((o, oi) => {
    for (const t of [...outs.filter((_, i) => i !== oi), ...ins]) {
      if (t.buffer === o.buffer) throw new Error(`${op}: output ${o.label} shares a buffer with ${t.label}`);
    }
  });
}

async function run(ctx: GpuContext, entryPoint: string, bindings: Tensor[], N: number, F: number) {
  const pipeline = await ctx.pipelines.get({ shader: SWIGLU_SHADER, entryPoint, constants: { WG } });
  const n = N * F;
  const [gx, gy] = grid1d(ctx, Math.ceil(n / WG));
  dispatch(ctx, {
    pipeline,
    bindings,
    uniforms: new Uint32Array([n, gx * WG, F, 0]),
    workgroups: [gx, gy],
    label: `${entryPoint} ${N}x${F}`,
  });
}

export async function swigluForward(ctx: GpuContext, gate: Tensor, up: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  const op = 'swigluForward';
  const [N, F] = expectMatrix(op, gate, 'gate');
  expectShape(op, up, 'up', [N, F]);
  const h = opts.out ?? emptyTensor(ctx, 'f32', [N, F], 'swiglu h');
  expectShape(op, h, 'out', [N, F]);
  expectDistinct(op, [h], [gate, up]);
  await run(ctx, 'swiglu_forward', [gate, up, h], N, F);
  return h;
}

export async function swigluBackward(
  ctx: GpuContext,
  dh: Tensor,
  gate: Tensor,
  up: Tensor,
  opts: { dgate?: Tensor; dup?: Tensor } = {},
): Promise<{ dgate: Tensor; dup: Tensor }> {
  const op = 'swigluBackward';
  const [N, F] = expectMatrix(op, gate, 'gate');
  expectShape(op, up, 'up', [N, F]);
  expectShape(op, dh, 'dh', [N, F]);
  const dgate = opts.dgate ?? emptyTensor(ctx, 'f32', [N, F], 'swiglu dgate');
  const dup = opts.dup ?? emptyTensor(ctx, 'f32', [N, F], 'swiglu dup');
  expectShape(op, dgate, 'dgate', [N, F]);
  expectShape(op, dup, 'dup', [N, F]);
  expectDistinct(op, [dgate, dup], [gate, up, dh]);
  await run(ctx, 'swiglu_backward', [gate, up, dh, dgate, dup], N, F);
  return { dgate, dup };
}

export async function swigluFusedForward(ctx: GpuContext, gu: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  const op = 'swigluFusedForward';
  const [N, F2] = expectMatrix(op, gu, 'gu');
  if (F2 % 2 !== 0) throw new Error(`${op}: gu (${gu.label}) has ${F2} columns; it must be [gate | up], an even number`);
  const F = F2 / 2;
  const h = opts.out ?? emptyTensor(ctx, 'f32', [N, F], 'swiglu h');
  expectShape(op, h, 'out', [N, F]);
  expectDistinct(op, [h], [gu]);
  await run(ctx, 'swiglu_fused_forward', [gu, h], N, F);
  return h;
}

export async function swigluFusedBackward(ctx: GpuContext, dh: Tensor, gu: Tensor, opts: { out?: Tensor } = {}): Promise<Tensor> {
  const op = 'swigluFusedBackward';
  const [N, F2] = expectMatrix(op, gu, 'gu');
  if (F2 % 2 !== 0) throw new Error(`${op}: gu (${gu.label}) has ${F2} columns; it must be [gate | up], an even number`);
  const F = F2 / 2;
  expectShape(op, dh, 'dh', [N, F]);
  const dgu = opts.out ?? emptyTensor(ctx, 'f32', [N, F2], 'swiglu dgu');
  expectShape(op, dgu, 'out', [N, F2]);
  expectDistinct(op, [dgu], [gu, dh]);
  await run(ctx, 'swiglu_fused_backward', [gu, dh, dgu], N, F);
  return dgu;
}
