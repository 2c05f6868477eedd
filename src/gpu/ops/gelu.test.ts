import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { loadFixture, type GeluNewFixture } from './fixtures';
import { geluBackward, geluForward } from './gelu';
import { geluBackwardRef, geluForwardRef } from './gelu.ref';

// f32 kernels (GPU tanh) against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// f32 backward against a central finite difference (h = 1e-4) of the f64 forward.
const FD_TOL = { atol: 1e-4, rtol: 1e-3 };
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

describe('gelu_new', () => {
  it.each([
    [1, 1],
    [3, 7],
    [5, 67],
    [2, 300],
  ])('forward and backward N=%i F=%i', async (N, F) => {
    const ctx = await getTestGpu();
    const x = randn(N * F, N * 5 + F, 2);
    const dy = randn(N * F, N * 6 + F);
    const tx = uploadF32(ctx, x, [N, F], 'x');
    const tdy = uploadF32(ctx, dy, [N, F], 'dy');
    const y = await geluForward(ctx, tx);
    expectClose('y', await downloadF32(ctx, y), geluForwardRef(x), TOL);
    const dx = await geluBackward(ctx, tdy, tx);
    expectClose('dx', await downloadF32(ctx, dx), geluBackwardRef(dy, x), TOL);
    for (const t of [tx, tdy, y, dx]) releaseTensor(ctx, t);
  });

  it('stays finite and exact in the tails', async () => {
    const ctx = await getTestGpu();
    const x = [-1e30, -1e4, -50, -9, -4, 4, 9, 50, 1e4, 1e30];
    const dy = x.map(() => 1);
    const tx = uploadF32(ctx, x, [x.length], 'x');
    const y = await downloadF32(ctx, await geluForward(ctx, tx));
    const dx = await downloadF32(ctx, await geluBackward(ctx, uploadF32(ctx, dy, [x.length], 'dy'), tx));
    expect([...y, ...dx].every(Number.isFinite)).toBe(true);
    expectClose('y tails', y, geluForwardRef(x), TOL);
    expectClose('dx tails', dx, geluBackwardRef(dy, x), TOL);
  });

  it('backward matches a central finite difference of the forward', async () => {
    const ctx = await getTestGpu();
    const x = randn(12, 8, 2);
    const dy = randn(12, 9);
    const dx = await geluBackward(ctx, uploadF32(ctx, dy, [12], 'dy'), uploadF32(ctx, x, [12], 'x'));
    const h = 1e-4;
    const fd = centralDiffVjp(geluForwardRef, x, dy, h);
    expectClose('dx vs finite difference', await downloadF32(ctx, dx), fd, FD_TOL);
  });

  it('names bad shapes', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, new Float32Array(6), [2, 3], 'a');
    const b = uploadF32(ctx, new Float32Array(6), [3, 2], 'b');
    await expect(geluBackward(ctx, b, a)).rejects.toThrow(/geluBackward: dy \(b\) must be f32 \[2,3\]/);
    await expect(geluForward(ctx, a, { out: a })).rejects.toThrow(/out is x/);
  });
});

describe('gelu_new vs PyTorch fixture', () => {
  const fx = loadFixture<GeluNewFixture>('gelu_new');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ctx = await getTestGpu();
    const { N, F } = c.config;
    const tx = uploadF32(ctx, c.x, [N, F], 'x');
    const tdy = uploadF32(ctx, c.dy, [N, F], 'dy');
    expectClose('y', await downloadF32(ctx, await geluForward(ctx, tx)), c.y, FIXTURE_TOL);
    expectClose('dx', await downloadF32(ctx, await geluBackward(ctx, tdy, tx)), c.dx, FIXTURE_TOL);
  });
});
