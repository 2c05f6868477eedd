import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { bottleneckActBackward, bottleneckActForward } from './bottleneckAct';
import { bottleneckActBackwardRef, bottleneckActForwardRef, type BottleneckActivation } from './bottleneckAct.ref';

// f32 kernels (GPU exp) against the f64 reference on identical inputs.
const TOL = { atol: 1e-6, rtol: 1e-5 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward (away from relu's kink).
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };

describe.each<BottleneckActivation>(['relu', 'swish', 'tanh'])('bottleneck activation %s', (act) => {
  it.each([
    [1, 1],
    [3, 7],
    [5, 67],
    [2, 300],
    [257, 3],
  ])('forward and backward N=%i r=%i', async (N, r) => {
    const ctx = await getTestGpu();
    const z = randn(N * r, N * 5 + r, 3);
    const da = randn(N * r, N * 6 + r);
    const tz = uploadF32(ctx, z, [N, r], 'z');
    const tda = uploadF32(ctx, da, [N, r], 'da');
    const a = await bottleneckActForward(ctx, tz, act);
    expectClose('a', await downloadF32(ctx, a), bottleneckActForwardRef(z, act), TOL);
    const dz = await bottleneckActBackward(ctx, tda, tz, act);
    expectClose('dz', await downloadF32(ctx, dz), bottleneckActBackwardRef(da, z, act), TOL);
    for (const t of [tz, tda, a, dz]) releaseTensor(ctx, t);
  });

  it('stays finite in the tails, and exact at 0', async () => {
    const ctx = await getTestGpu();
    const z = [-1e30, -1e4, -90, -50, -9, 0, 4, 9, 50, 90, 1e4, 1e30];
    const da = z.map(() => 1);
    const tz = uploadF32(ctx, z, [z.length], 'z');
    const a = await downloadF32(ctx, await bottleneckActForward(ctx, tz, act));
    const dz = await downloadF32(ctx, await bottleneckActBackward(ctx, uploadF32(ctx, da, [z.length], 'da'), tz, act));
    expect([...a, ...dz].every(Number.isFinite)).toBe(true);
    expectClose('a tails', a, bottleneckActForwardRef(z, act), TOL);
    expectClose('dz tails', dz, bottleneckActBackwardRef(da, z, act), TOL);
    // relu'(0) = 0 as torch's; swish'(0) = 1/2; tanh'(0) = 1
    expect(dz[5]).toBe(act === 'relu' ? 0 : act === 'tanh' ? 1 : 0.5);
  });

  it('backward matches a central finite difference of the forward', async () => {
    const ctx = await getTestGpu();
    // keep relu's inputs away from the kink at 0, where a difference quotient is not its derivative
    const z = Array.from(randn(40, 8, 2), (v) => (Math.abs(v) < 0.01 ? v + 0.05 : v));
    const da = randn(40, 9);
    const dz = await bottleneckActBackward(ctx, uploadF32(ctx, da, [40], 'da'), uploadF32(ctx, z, [40], 'z'), act);
    const fd = centralDiffVjp((x) => bottleneckActForwardRef(x, act), z, da, 1e-4);
    expectClose('dz vs finite difference', await downloadF32(ctx, dz), fd, FD_TOL);
  });
});

describe('bottleneck activation refusals', () => {
  it('names bad shapes, aliasing and unknown activations', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, new Float32Array(6), [2, 3], 'a');
    const b = uploadF32(ctx, new Float32Array(6), [3, 2], 'b');
    await expect(bottleneckActBackward(ctx, b, a, 'relu')).rejects.toThrow(/bottleneckActBackward: da \(b\) must be f32 \[2,3\]/);
    await expect(bottleneckActForward(ctx, a, 'swish', { out: a })).rejects.toThrow(/out is z/);
    await expect(bottleneckActForward(ctx, a, 'gelu' as BottleneckActivation)).rejects.toThrow(/'relu', 'swish' or 'tanh'/);
  });
});
